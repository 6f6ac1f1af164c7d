package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/renewd/renewd/internal/parallel"
)

// One record per certificate: state/<name>.json. One update writes one
// small file atomically, so a pass in which thousands of certificates
// change writes each of them once, and a reader never parses the others.
// docs/storage.md describes the layout and the fields.

const (
	// recordSchema is the schema version of state/<name>.json this code
	// writes and reads, in the file's "schema" field.
	recordSchema = 1
	// maxRecordSize bounds one record file. A bigger file is treated as
	// corrupt, and SaveRecord refuses to write one: renewd never writes
	// what it would refuse to read.
	maxRecordSize = 1 << 20
	// MaxErrorLen bounds last_error in a record, and the other texts that
	// may quote an error (see cutTexts); a longer one is cut, so that one
	// verbose CA or hook cannot push a record past maxRecordSize.
	MaxErrorLen = 8 << 10
	recordPerm  = 0o600
	recordExt   = ".json"
)

// ErrReadOnly is returned (wrapped) by every method that would change the
// disk on a Store opened with OpenReadOnly.
var ErrReadOnly = errors.New("storage opened read-only")

// recordFile is the JSON form of a record file: the record's fields with
// the schema version beside them.
type recordFile struct {
	Schema int `json:"schema"`
	*Record
}

// Repair says that a certificate's record could not be used as it was on
// disk, and what was done instead. It is never an error of the run: a bad
// record costs that certificate's history, not a renewal of everything.
type Repair struct {
	Name string
	// Reason says what was wrong: "missing", "not JSON: unexpected end of
	// JSON input (truncated?)", "schema 2 is newer than this renewd
	// knows (1)", "not a regular file (a named pipe)", ...
	Reason string
	// MovedTo is where the unusable file was moved, "" when there was
	// none or the store is read-only (the file is then left in place).
	MovedTo string
	// Rebuilt says a record was rebuilt from live/<name>; when false the
	// certificate has no record (no usable live version either: RebuildErr
	// says why) and is treated as never issued.
	Rebuilt    bool
	RebuildErr error
}

// String describes the repair for a person, in one line.
func (r Repair) String() string {
	s := fmt.Sprintf("state/%s.json: %s", r.Name, r.Reason)
	if r.MovedTo != "" {
		s += "; moved to " + r.MovedTo
	}
	if r.Rebuilt {
		return s + "; rebuilt from live/" + r.Name
	}
	if r.RebuildErr != nil {
		return s + "; not rebuilt: " + r.RebuildErr.Error()
	}
	return s
}

func (s *Store) stateRoot() string             { return filepath.Join(s.dir, "state") }
func (s *Store) recordPath(name string) string { return filepath.Join(s.stateRoot(), name+recordExt) }

// Records returns every certificate's record by name. It reads state/ and
// live/: a live certificate without a usable record (missing, unparsable,
// of another schema, not a regular file, too big) gets one rebuilt from
// live/<name>, that certificate alone, and a Repair saying so. On a
// writable store an unusable file is moved aside to
// state/<name>.json.corrupt-<UTC time> first (the caller holds the Lock);
// Records never writes the rebuilt record: the caller saves it. On a
// read-only store nothing moves.
//
// Before the first writable Open migrates it, a state.json of the first
// release is read instead of state/ (see migrate.go). The error is for
// I/O failures only: a directory that cannot be listed.
func (s *Store) Records() (map[string]*Record, []Repair, error) {
	recs, bad, err := s.readRecords()
	if err != nil {
		return nil, nil, err
	}
	live, err := s.liveNames()
	if err != nil {
		return nil, nil, err
	}
	for _, name := range live {
		if _, ok := recs[name]; !ok {
			if _, isBad := bad[name]; !isBad {
				bad[name] = "missing"
			}
		}
	}
	var repairs []Repair
	for _, name := range sortedKeys(bad) {
		rep := Repair{Name: name, Reason: bad[name]}
		if rep.Reason != "missing" && !s.readOnly {
			moved, err := s.moveAside(s.recordPath(name))
			if err != nil {
				return nil, nil, err
			}
			rep.MovedTo = moved
		}
		r, err := s.recordFromLive(name)
		if err == nil {
			recs[name], rep.Rebuilt = r, true
		} else if !errors.Is(err, ErrNotFound) {
			rep.RebuildErr = err
		}
		if rep.Rebuilt || rep.Reason != "missing" || rep.RebuildErr != nil {
			repairs = append(repairs, rep)
		}
	}
	return recs, repairs, nil
}

// Record returns one certificate's record, or an error matching
// ErrNotFound when it has none. It neither repairs nor rebuilds: Records
// does, for a pass.
func (s *Store) Record(name string) (*Record, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	if s.readOnly {
		recs, _, err := s.readLegacy()
		switch {
		case err == nil && recs[name] != nil:
			return recs[name], nil
		case err == nil:
			return nil, fmt.Errorf("record %s: %w", name, ErrNotFound)
		case !errors.Is(err, fs.ErrNotExist):
			return nil, err
		}
	}
	r, bad, err := s.readRecord(name)
	switch {
	case err != nil:
		return nil, err
	case bad == "missing": // as documented, and as Memory and the legacy path say it
		return nil, fmt.Errorf("record %s: %w", name, ErrNotFound)
	case bad != "":
		return nil, fmt.Errorf("state/%s.json: %s", name, bad)
	}
	return r, nil
}

// readRecords reads every record file in state/; bad maps the names whose
// file is unusable to why.
func (s *Store) readRecords() (recs map[string]*Record, bad map[string]string, err error) {
	if s.readOnly {
		recs, bad, err := s.readLegacy()
		if !errors.Is(err, fs.ErrNotExist) {
			return recs, bad, err
		}
	}
	recs, bad = map[string]*Record{}, map[string]string{}
	entries, err := os.ReadDir(s.stateRoot())
	if errors.Is(err, fs.ErrNotExist) {
		return recs, bad, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("list records: %w", err)
	}
	var names []string
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), recordExt)
		if ok && !isTempName(e.Name()) && ValidName(name) == nil {
			names = append(names, name) // not moved-aside files, temporary files, strays
		}
	}
	type read struct {
		r   *Record
		why string
		err error
	}
	out := make([]read, len(names))
	parallel.ForEach(len(names), recordReaders, func(i int) {
		out[i].r, out[i].why, out[i].err = s.readRecord(names[i])
	})
	for i, name := range names {
		switch {
		case out[i].err != nil:
			return nil, nil, out[i].err
		case out[i].why != "":
			bad[name] = out[i].why
		default:
			recs[name] = out[i].r
		}
	}
	return recs, bad, nil
}

// recordReaders bounds the record files read at once: a pass or `status`
// with thousands of certificates spends its time in open and read calls,
// which overlap well.
const recordReaders = 8

// readRecord reads state/<name>.json: the record, or why it is unusable,
// or err for an I/O failure that says nothing about the file.
func (s *Store) readRecord(name string) (r *Record, bad string, err error) {
	path := s.recordPath(name)
	if r := s.memo.record(name, path); r != nil {
		return r, "", nil
	}
	data, fi, err := readBoundedInfo(path, maxRecordSize)
	var unusable *unusableError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, "missing", nil
	case errors.As(err, &unusable):
		return nil, unusable.why, nil
	case err != nil:
		return nil, "", fmt.Errorf("read record %s: %w", name, err)
	}
	r, why := parseRecord(name, data)
	if why != "" {
		s.memo.forget(name)
		return nil, why, nil
	}
	if s.memo != nil {
		s.memo.keep(name, fi, r.Clone())
	}
	return r, "", nil
}

// parseRecord decodes and checks one record file; bad says why it is
// unusable.
func parseRecord(name string, data []byte) (*Record, string) {
	f := recordFile{Record: new(Record)}
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, "not JSON: " + jsonProblem(err)
	}
	switch {
	case f.Schema > recordSchema:
		return nil, fmt.Sprintf("schema %d is newer than this renewd knows (%d); a newer renewd wrote it", f.Schema, recordSchema)
	case f.Schema != recordSchema:
		return nil, fmt.Sprintf("no valid schema version (got %d, want %d)", f.Schema, recordSchema)
	case f.Name != "" && f.Name != name:
		return nil, fmt.Sprintf("it names certificate %q, not %q", f.Name, name)
	}
	r := f.Record.Clone()
	r.Name = name
	return r, ""
}

// jsonProblem says what is wrong with a JSON document for a person.
func jsonProblem(err error) string {
	if strings.Contains(err.Error(), "unexpected end of JSON input") {
		return err.Error() + " (truncated?)"
	}
	return err.Error()
}

// SaveRecord writes one record atomically (temporary file, fsync, rename,
// directory fsync) with mode 0600. See SaveRecords.
func (s *Store) SaveRecord(r *Record) error {
	return s.SaveRecords([]*Record{r})
}

// SaveRecords writes records, each atomically, and makes all of them
// durable with one directory fsync: a pass that changed a thousand
// certificates pays for a thousand small files, not a thousand directory
// syncs. Times are stored in UTC whole seconds and last_error (with the
// other texts that may quote an error) is cut to MaxErrorLen; the records themselves are not changed. A name given twice
// is written once, with the last of its records. A nil record, a
// name ValidName rejects or a record that would exceed the size renewd
// reads is an error, and then nothing is written. On an I/O error every
// record is as it was before the call.
func (s *Store) SaveRecords(recs []*Record) error {
	if s.readOnly {
		return fmt.Errorf("save records: %w", ErrReadOnly)
	}
	if len(recs) == 0 {
		return nil
	}
	files := make([]pendingFile, 0, len(recs))
	index := make(map[string]int, len(recs))
	for _, r := range recs {
		data, err := marshalRecord(r)
		if err != nil {
			return fmt.Errorf("save records: %w", err)
		}
		// A batch is a list of updates in order: a name given twice is
		// written once, with its last record. writeFiles needs distinct
		// paths, and a second temporary file and rename would buy nothing.
		if i, ok := index[r.Name]; ok {
			files[i].data = data
			continue
		}
		index[r.Name] = len(files)
		files = append(files, pendingFile{path: s.recordPath(r.Name), data: data})
	}
	s.recordMu.Lock()
	defer s.recordMu.Unlock()
	if _, err := ensureDir(s.fs, s.stateRoot()); err != nil {
		return fmt.Errorf("save records: %w", err)
	}
	if err := writeFiles(s.fs, s.stateRoot(), files, recordPerm); err != nil {
		return fmt.Errorf("save records: %w", err)
	}
	return nil
}

func marshalRecord(r *Record) ([]byte, error) {
	if r == nil {
		return nil, errors.New("record is nil")
	}
	if err := ValidName(r.Name); err != nil {
		return nil, err
	}
	c := r.Clone()
	cutTexts(c)
	data, err := json.MarshalIndent(recordFile{Schema: recordSchema, Record: c}, "", "  ")
	if err != nil {
		return nil, err
	}
	if len(data) >= maxRecordSize {
		return nil, fmt.Errorf("record %s would be %d bytes, more than the %d renewd reads", r.Name, len(data), maxRecordSize)
	}
	return append(data, '\n'), nil
}

// cutTexts cuts to MaxErrorLen the fields that may quote an error:
// last_error, last_error_detail, held_reason and went_ahead_reason (a canary's error), and
// held_by, where the first release kept the canary's whole error. Were
// one of them to push a record past maxRecordSize, SaveRecords would
// refuse the whole batch, and the migration of such a state.json would
// fail every Open.
func cutTexts(r *Record) {
	for _, s := range []*string{&r.LastError, &r.LastErrorDetail, &r.HeldBy, &r.HeldReason, &r.WentAheadReason} {
		*s = cutText(*s, MaxErrorLen)
	}
}

// cutText cuts s to at most n bytes on a rune boundary, saying so.
func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = " …(cut)"
	i := n - len(mark)
	for i > 0 && (s[i]&0xC0) == 0x80 {
		i--
	}
	return s[:i] + mark
}

// DeleteRecord removes a certificate's record: renewd no longer manages
// it (its domains file is gone). Its archive/ and live/ files stay. A
// missing record is not an error.
func (s *Store) DeleteRecord(name string) error {
	if s.readOnly {
		return fmt.Errorf("delete record: %w", ErrReadOnly)
	}
	if err := ValidName(name); err != nil {
		return err
	}
	s.recordMu.Lock()
	defer s.recordMu.Unlock()
	s.memo.forget(name)
	err := s.fs.Remove(s.recordPath(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete record %s: %w", name, err)
	}
	if err := syncDir(s.fs, s.stateRoot()); err != nil {
		return fmt.Errorf("delete record %s: %w", name, err)
	}
	return nil
}

// moveAside renames path to path.corrupt-<UTC time>, adding "-2", "-3",
// ... if that name is taken, fsyncs its directory and returns the new
// name relative to the storage directory.
func (s *Store) moveAside(path string) (string, error) {
	base := path + ".corrupt-" + s.now().UTC().Format(versionTimeFormat)
	dst := base
	for n := 2; ; n++ {
		if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
			break
		}
		dst = fmt.Sprintf("%s-%d", base, n)
	}
	if err := s.fs.Rename(path, dst); err != nil {
		return "", fmt.Errorf("move %s aside: %w", path, err)
	}
	if err := syncDir(s.fs, filepath.Dir(path)); err != nil {
		return "", fmt.Errorf("move %s aside: %w", path, err)
	}
	rel, err := filepath.Rel(s.dir, dst)
	if err != nil {
		return dst, nil
	}
	return rel, nil
}

// liveNames lists the certificate names under live/, skipping temporary
// and invalid names.
func (s *Store) liveNames() ([]string, error) {
	entries, err := os.ReadDir(s.liveRoot())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list live certificates: %w", err)
	}
	var names []string
	for _, e := range entries {
		if !isTempName(e.Name()) && ValidName(e.Name()) == nil {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// MarshalRecord is a record's JSON as a record file holds it (schema,
// times in whole seconds, texts cut): for storage backends other than the
// directory, such as a cluster's etcd, so both hold the same documents.
func MarshalRecord(r *Record) ([]byte, error) { return marshalRecord(r) }

// ParseRecord decodes a record document of certificate name; bad says why
// it is unusable (as a Repair's Reason) and is empty for a good one.
func ParseRecord(name string, data []byte) (r *Record, bad string) { return parseRecord(name, data) }
