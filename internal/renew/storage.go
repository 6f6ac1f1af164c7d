package renew

import (
	"context"
	"time"

	"github.com/renewd/renewd/internal/store"
)

// Storage is where the renewal pipeline keeps what it knows: one record per
// certificate, the versions of each certificate, which version is live, and
// the lock that lets one pass at a time change them. *store.Store keeps them
// in a directory (docs/storage.md), *store.Memory in memory for tests, and a
// cluster backend in etcd. A pass holds the lock from its first read to its
// last write, and is then the only writer: it reads every record once, at
// the start, and writes back only the records it changed.
//
// Implementations are safe for concurrent use by the goroutines of one pass.
type Storage interface {
	RecordStore
	VersionStore
	// LockWait takes the lock that serialises passes across processes: at
	// once when free; otherwise it calls waiting (when not nil) once and
	// waits up to wait or until ctx ends, then fails with an error
	// matching store.ErrLocked. waited says whether it had to wait.
	LockWait(ctx context.Context, wait time.Duration, waiting func()) (release func() error, waited bool, err error)
	// Notes says what opening the storage did that a person should know
	// (a migration of an old layout); usually empty.
	Notes() []string
}

// RecordStore holds one record per certificate.
type RecordStore interface {
	// Records returns every record by name, as copies the caller owns. A
	// record that is missing or unusable is rebuilt from the live version
	// of that certificate alone and reported as a store.Repair (the
	// unusable one is moved aside, where the store can); the rebuilt
	// record is not written: the caller saves it. The error is for I/O
	// failures that make the whole answer unreliable.
	Records() (map[string]*store.Record, []store.Repair, error)
	// SaveRecords writes each record atomically; on error none changed.
	SaveRecords(recs []*store.Record) error
	// DeleteRecord forgets a certificate that is no longer configured,
	// keeping its versions. A missing record is not an error.
	DeleteRecord(name string) error
}

// VersionStore holds the versions of each certificate and the live one.
type VersionStore interface {
	// Probe proves that storing a version of name can be written, before
	// an order is placed whose certificate could otherwise be lost.
	Probe(name string) error
	// SaveVersion stores a complete version of name and makes it live.
	SaveVersion(name string, f store.Files) (version string, err error)
	// Live returns the live version's files and name; an error matching
	// store.ErrNotFound when there is none.
	Live(name string) (store.Files, string, error)
	// LiveVersion names the live version without reading its files.
	LiveVersion(name string) (string, error)
	// Version returns one version's files.
	Version(name, version string) (store.Files, error)
	// Unfinished names the newest version that was stored completely but
	// never made live (a kill between the two), "" when there is none.
	Unfinished(name string) (string, error)
	// DropUnfinished stops offering an unfinished version that will not
	// be made live; its files stay.
	DropUnfinished(name, version string) error
	// MakeLive makes an existing version live.
	MakeLive(name, version string) error
	// LiveDir is the directory holding the live files, for hooks.
	LiveDir(name string) string
}

var (
	_ Storage = (*store.Store)(nil)
	_ Storage = (*store.Memory)(nil)
)
