package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/renewd/renewd/internal/crashpoint"
)

// The first release kept every record in one state.json, rewritten whole
// on every change. A writable Open moves its records into state/, one file
// each, and renames it to state.json.migrated. A kill in the middle leaves
// state.json in place, so the next Open does it all again: writing a
// record from state.json twice gives the same file.

const (
	legacyStateFile = "state.json"
	legacySchema    = 1
	maxLegacySize   = 64 << 20
)

// legacyState is the content of the first release's state.json.
type legacyState struct {
	Version      int                `json:"version"`
	Certificates map[string]*Record `json:"certificates"`
}

func (s *Store) legacyPath() string { return filepath.Join(s.dir, legacyStateFile) }

// migrate moves the records of a state.json into state/ and renames it.
// An unusable state.json is moved aside instead, and every certificate's
// record is then rebuilt from live/ by Records.
func (s *Store) migrate() error {
	recs, why, err := readLegacyFile(s.legacyPath())
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("migrate %s: %w", legacyStateFile, err)
	case why != "":
		moved, err := s.moveAside(s.legacyPath())
		if err != nil {
			return err
		}
		s.notes = append(s.notes, fmt.Sprintf("%s of an earlier renewd is unusable (%s); moved to %s; records are rebuilt from live/", legacyStateFile, why, moved))
		return nil
	}
	list := make([]*Record, 0, len(recs))
	for _, name := range sortedKeys(recs) {
		list = append(list, recs[name])
	}
	if err := s.SaveRecords(list); err != nil {
		return fmt.Errorf("migrate %s: %w", legacyStateFile, err)
	}
	crashpoint.Hit("store-migrated-records")
	dst := s.legacyPath() + ".migrated"
	for n := 2; ; n++ {
		if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
			break
		}
		dst = fmt.Sprintf("%s.migrated-%d", s.legacyPath(), n)
	}
	if err := s.fs.Rename(s.legacyPath(), dst); err != nil {
		return fmt.Errorf("migrate %s: %w", legacyStateFile, err)
	}
	if err := syncDir(s.fs, s.dir); err != nil {
		return fmt.Errorf("migrate %s: %w", legacyStateFile, err)
	}
	s.notes = append(s.notes, fmt.Sprintf("moved %d record(s) from %s into state/, one file per certificate; the old file is %s", len(list), legacyStateFile, filepath.Base(dst)))
	return nil
}

// readLegacy reads an unmigrated state.json for a read-only store (a
// writable Open migrates it). When the file is unusable, every live
// certificate is marked bad with why. An error matching fs.ErrNotExist
// says there is no state.json: the records are in state/. Callers look at
// each read, not once at OpenReadOnly: another process's writable Open
// may migrate it while this store is open.
func (s *Store) readLegacy() (recs map[string]*Record, bad map[string]string, err error) {
	recs, why, err := readLegacyFile(s.legacyPath())
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", legacyStateFile, err)
	}
	bad = map[string]string{}
	if why != "" {
		live, err := s.liveNames()
		if err != nil {
			return nil, nil, err
		}
		for _, n := range live {
			bad[n] = legacyStateFile + " is unusable: " + why
		}
		return map[string]*Record{}, bad, nil
	}
	return recs, bad, nil
}

// readLegacyFile reads and parses a first-release state.json: the
// records, or why the file is unusable, or an I/O error (fs.ErrNotExist
// when there is none).
func readLegacyFile(path string) (map[string]*Record, string, error) {
	data, err := readBounded(path, maxLegacySize)
	var unusable *unusableError
	switch {
	case errors.As(err, &unusable):
		return nil, unusable.why, nil
	case err != nil:
		return nil, "", err
	}
	var st legacyState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, "not JSON: " + jsonProblem(err), nil
	}
	if st.Version != legacySchema {
		return nil, fmt.Sprintf("schema version %d, not %d", st.Version, legacySchema), nil
	}
	recs := make(map[string]*Record, len(st.Certificates))
	for name, r := range st.Certificates {
		if err := ValidName(name); err != nil {
			return nil, err.Error(), nil
		}
		if r == nil {
			return nil, fmt.Sprintf("record %s is null", name), nil
		}
		c := r.Clone()
		c.Name = name
		legacyHold(c, st.Certificates)
		recs[name] = c
	}
	return recs, "", nil
}

// legacyHold turns the first release's held_by, a sentence ("canary NAME
// failed: ..." or "canary NAME is waiting for retry ..."), into this
// release's pair: held_by names the canary, held_reason is the sentence.
// A sentence that names no certificate of the file is kept as the reason
// alone.
func legacyHold(r *Record, all map[string]*Record) {
	if r.HeldBy == "" || r.HeldReason != "" {
		return
	}
	sentence := r.HeldBy
	r.HeldBy, r.HeldReason = "", sentence
	rest, ok := strings.CutPrefix(sentence, "canary ")
	if !ok {
		return
	}
	name, _, _ := strings.Cut(rest, " ")
	if _, known := all[name]; known && ValidName(name) == nil {
		r.HeldBy = name
	}
}
