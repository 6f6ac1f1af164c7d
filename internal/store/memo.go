package store

import (
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// A writable Store remembers the records it parsed, each with the identity
// of the file it came from (device, inode, size, modification and change
// times), so the daemon's next pass reads and parses only the record files
// that changed since: a tick with nothing due costs one lstat per
// certificate, not a read and a JSON parse. docs/storage.md ("What the
// store remembers between passes") gives the reasoning; in short:
//
//   - renewd replaces a record by renaming a new file over it, which gives
//     it a new inode; any other change to the file moves its change time,
//     which no program can set back.
//   - A file changed within racyWindow of being read is not remembered:
//     a second change within the same timestamp tick would otherwise look
//     like no change (the "racy" case git's index has too).
//   - Only usable records are remembered; a missing, corrupt or foreign
//     file takes the full path every time, with its repair.
//   - archive/<name> is remembered the same way, by the directory's own
//     identity, when it holds no unfinished version: every version enters
//     it by a rename, which moves the directory's times.
//   - live/ is remembered whole, by its identity: a link's target cannot
//     change in place, so one lstat of the directory answers for every
//     certificate's live version.
//   - The memory lives as long as the Store: a reload (SIGHUP) or a
//     restart starts from the disk again. A read-only Store (status,
//     check) reads once and remembers nothing.
type memo struct {
	mu      sync.Mutex
	records map[string]memoRecord
	// settled maps a certificate name to the identity archive/<name> had
	// when it held no unfinished version. A version can only arrive there
	// by a rename into that directory, which changes its identity.
	settled map[string]fileID
	// live is what every link in live/ named when live/ had identity
	// liveID (valid when live != nil). A link enters, changes or leaves
	// live/ only by a rename, a symlink or an unlink in it, each of which
	// changes the directory's identity.
	live   map[string]string
	liveID fileID

	now  func() time.Time // the wall clock file times are compared with; a test seam
	hits atomic.Int64     // answers given from memory, for tests
}

func newMemo() *memo {
	return &memo{records: map[string]memoRecord{}, settled: map[string]fileID{}, now: time.Now}
}

type memoRecord struct {
	id  fileID
	rec *Record // never handed out: callers get a Clone
}

// racyWindow is how long after its last change a file is trusted to stay
// as read. File times advance in ticks of a few milliseconds at most.
const racyWindow = 2 * time.Second

// fileID identifies one state of one file.
type fileID struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64 // nanoseconds since the epoch
}

// settled reports whether the file last changed more than racyWindow
// before now.
func (id fileID) settled(now time.Time) bool {
	limit := now.Add(-racyWindow).UnixNano()
	return id.mtime < limit && id.ctime < limit
}

// record returns a copy of the remembered record of name when the file at
// path is still the one it was parsed from; nil otherwise.
func (m *memo) record(name, path string) *Record {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	e, ok := m.records[name]
	m.mu.Unlock()
	if !ok {
		return nil
	}
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	if id, ok := idOf(fi); !ok || id != e.id {
		return nil
	}
	m.hits.Add(1)
	return e.rec.Clone()
}

// keep remembers rec as the content of the file fi describes, unless that
// file changed too recently to be trusted. rec must not be changed after.
func (m *memo) keep(name string, fi fs.FileInfo, rec *Record) {
	if m == nil || fi == nil {
		return
	}
	id, ok := idOf(fi)
	if !ok || !id.settled(m.now()) {
		m.forget(name)
		return
	}
	m.mu.Lock()
	m.records[name] = memoRecord{id: id, rec: rec}
	m.mu.Unlock()
}

// forget drops what is remembered of name.
func (m *memo) forget(name string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	delete(m.records, name)
	m.mu.Unlock()
}

// noUnfinished reports whether archive/<name> at dir is as it was when it
// was last seen without an unfinished version.
func (m *memo) noUnfinished(name, dir string) bool {
	if m == nil {
		return false
	}
	m.mu.Lock()
	id, ok := m.settled[name]
	m.mu.Unlock()
	if !ok {
		return false
	}
	fi, err := os.Lstat(dir)
	if err != nil || !fi.IsDir() {
		return false
	}
	cur, ok := idOf(fi)
	if ok && cur == id {
		m.hits.Add(1)
		return true
	}
	return false
}

// keepNoUnfinished remembers that archive/<name>, as fi (taken before it
// was listed) describes it, holds no unfinished version.
func (m *memo) keepNoUnfinished(name string, fi fs.FileInfo) {
	if m == nil || fi == nil {
		return
	}
	id, ok := idOf(fi)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !ok || !id.settled(m.now()) {
		delete(m.settled, name)
		return
	}
	m.settled[name] = id
}

// liveVersions returns the remembered live versions when live/, as fi
// describes it now, is as it was when they were read; nil otherwise. The
// map is shared: callers must not change it.
func (m *memo) liveVersions(fi fs.FileInfo) map[string]string {
	if m == nil {
		return nil
	}
	id, ok := idOf(fi)
	if !ok {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.live == nil || m.liveID != id {
		return nil
	}
	m.hits.Add(1)
	return m.live
}

// keepLive remembers versions as what live/ held when it looked as fi
// (taken before it was listed) says, unless it changed too recently.
func (m *memo) keepLive(fi fs.FileInfo, versions map[string]string) {
	if m == nil {
		return
	}
	id, ok := idOf(fi)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !ok || !id.settled(m.now()) {
		m.live = nil
		return
	}
	m.live, m.liveID = versions, id
}
