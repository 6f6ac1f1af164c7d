package store

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"syscall"
	"time"
)

const (
	// stateVersion is the schema version of state.json this code writes and
	// reads.
	stateVersion = 1
	// maxStateSize bounds state.json; a bigger file is treated as corrupt.
	maxStateSize = 64 << 20
	statePerm    = 0o600
)

// State is the content of state.json: one Record per certificate name.
type State struct {
	Version      int                `json:"version"` // schema version, 1
	Certificates map[string]*Record `json:"certificates"`
}

// Record is what renewd knows about one certificate. Times are written as RFC
// 3339 UTC with second precision ("2026-11-21T16:00:00Z"), and as null when
// nil.
type Record struct {
	Name    string   `json:"name"`
	Domains []string `json:"domains"`
	Version string   `json:"version,omitempty"` // archive version live/<name> points at
	// DeployedVersion is the archive version last installed for nginx
	// (and hooks run for). Behind Version means a deploy is pending: the
	// next run deploys without a new ACME order.
	DeployedVersion string     `json:"deployed_version,omitempty"`
	Serial          string     `json:"serial,omitempty"` // lowercase hex, no colons
	NotBefore       *time.Time `json:"not_before"`
	NotAfter        *time.Time `json:"not_after"`
	Issuer          string     `json:"issuer,omitempty"` // issuer CN, or the full DN if it has none
	RenewTime       *time.Time `json:"renew_time"`       // last successful renewal
	LastAttempt     *time.Time `json:"last_attempt"`
	RetryCount      int        `json:"retry_count"`
	NextRetryTime   *time.Time `json:"next_retry_time"`
	LastError       string     `json:"last_error,omitempty"`
	// LastFailure is when the last failed attempt was; kept after a
	// success, so a dashboard can tell a certificate that recovered.
	LastFailure *time.Time `json:"last_failure,omitempty"`
	// ServedChain is what the last served-chain check after a deploy to
	// nginx found: "complete", "incomplete", or empty when none ran yet.
	// ServedCheckedAt is when that check ran.
	ServedChain     string     `json:"served_chain,omitempty"`
	ServedCheckedAt *time.Time `json:"served_checked_at,omitempty"`
	// HeldBy says why the last run did not attempt this certificate: a
	// canary failed. Cleared when the certificate is next attempted.
	HeldBy string `json:"held_by,omitempty"`
	ARI    *ARI   `json:"ari,omitempty"`
}

// ARI is the CA's last renewal information (RFC 9773) for a certificate.
type ARI struct {
	WindowStart    *time.Time `json:"window_start"`
	WindowEnd      *time.Time `json:"window_end"`
	SelectedTime   *time.Time `json:"selected_time"`
	ExplanationURL string     `json:"explanation_url,omitempty"`
	NextPoll       *time.Time `json:"next_poll"`
}

// LoadState reads state.json and returns a State the caller owns.
//
// If the file is missing, unparsable, not a JSON object, of another schema
// version (a newer renewd wrote it), not a regular file, larger than 64 MiB,
// or holds a name ValidName rejects, the file (if any) is moved aside to
// state.json.corrupt-<UTC time> and the state is rebuilt from live/ and
// archive/ (see RebuildState), and rebuilt is true: the caller logs it. A
// bad file is never an error, and never a reason to renew everything; the
// error is for I/O failures only, including being unable to list live/.
// LoadState does not write the rebuilt state: SaveState it under the Lock.
// Because it may move the file, callers that can find it corrupt hold the
// Lock.
func (s *Store) LoadState() (st *State, rebuilt bool, err error) {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	st, bad, err := s.readState()
	if err != nil {
		return nil, false, err
	}
	if bad == nil {
		return st, false, nil
	}
	if !errors.Is(bad, fs.ErrNotExist) {
		if err := s.moveStateAside(); err != nil {
			return nil, false, err
		}
	}
	st, _, err = s.rebuild()
	if err != nil {
		return nil, false, fmt.Errorf("rebuild state: %w", err)
	}
	return st, true, nil
}

// PeekState reads state.json without changing anything on disk, for
// readers that do not hold the Lock (`renewd status`). A bad or missing file
// is rebuilt in memory only; the next locked LoadState moves it aside.
func (s *Store) PeekState() (*State, error) {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	st, bad, err := s.readState()
	if err != nil {
		return nil, err
	}
	if bad == nil {
		return st, nil
	}
	st, _, err = s.rebuild()
	if err != nil {
		return nil, fmt.Errorf("rebuild state: %w", err)
	}
	return st, nil
}

// readState returns the parsed state, or bad saying why the file cannot be
// used (fs.ErrNotExist when there is none), or err for an I/O failure.
func (s *Store) readState() (st *State, bad, err error) {
	f, err := os.OpenFile(s.statePath(), os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, err, nil
	case errors.Is(err, syscall.ELOOP):
		return nil, errors.New("state.json is a symlink"), nil
	case err != nil:
		return nil, nil, fmt.Errorf("read state: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	switch {
	case err != nil:
		return nil, nil, fmt.Errorf("read state: %w", err)
	case !fi.Mode().IsRegular():
		return nil, errors.New("state.json is not a regular file"), nil
	case fi.Size() > maxStateSize:
		return nil, fmt.Errorf("state.json is larger than %d bytes", maxStateSize), nil
	}
	data, err := io.ReadAll(io.LimitReader(f, maxStateSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read state: %w", err)
	}
	if len(data) > maxStateSize {
		return nil, fmt.Errorf("state.json is larger than %d bytes", maxStateSize), nil
	}
	st, bad = parseState(data)
	return st, bad, nil
}

// parseState decodes and checks state.json; bad says why it is unusable.
func parseState(data []byte) (st *State, bad error) {
	st = new(State)
	if err := json.Unmarshal(data, st); err != nil {
		return nil, err
	}
	switch {
	case st.Version > stateVersion:
		return nil, fmt.Errorf("schema version %d is newer than this renewd knows (%d)", st.Version, stateVersion)
	case st.Version != stateVersion:
		return nil, fmt.Errorf("no valid schema version (got %d)", st.Version)
	}
	if st.Certificates == nil {
		st.Certificates = map[string]*Record{}
	}
	for name, r := range st.Certificates {
		if err := ValidName(name); err != nil {
			return nil, err
		}
		if r == nil {
			return nil, fmt.Errorf("record %s is null", name)
		}
		*r = normalRecord(r)
		r.Name = name
	}
	return st, nil
}

// moveStateAside renames state.json to state.json.corrupt-<UTC time>, adding
// "-2", "-3", ... if that name is taken, and fsyncs the directory.
func (s *Store) moveStateAside() error {
	base := s.statePath() + ".corrupt-" + s.now().UTC().Format(versionTimeFormat)
	dst := base
	for n := 2; ; n++ {
		if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
			break
		}
		dst = fmt.Sprintf("%s-%d", base, n)
	}
	if err := s.fs.Rename(s.statePath(), dst); err != nil {
		return fmt.Errorf("move bad state aside: %w", err)
	}
	if err := syncDir(s.fs, s.dir); err != nil {
		return fmt.Errorf("move bad state aside: %w", err)
	}
	return nil
}

// SaveState writes st to state.json atomically with mode 0600. Times are
// stored in UTC truncated to the second; st itself is not changed, but must
// not be changed by others while SaveState runs. A Version of 0 is written
// as 1; another version, a nil record or a name ValidName rejects is an
// error and nothing is written. Callers hold the Lock.
func (s *Store) SaveState(st *State) error {
	data, err := marshalState(st)
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	if err := writeFile(s.fs, s.statePath(), data, statePerm, noOwner); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}

func marshalState(st *State) ([]byte, error) {
	if st == nil {
		return nil, errors.New("state is nil")
	}
	if st.Version != 0 && st.Version != stateVersion {
		return nil, fmt.Errorf("schema version %d; this renewd writes %d", st.Version, stateVersion)
	}
	out := State{Version: stateVersion, Certificates: make(map[string]*Record, len(st.Certificates))}
	for name, r := range st.Certificates {
		if err := ValidName(name); err != nil {
			return nil, err
		}
		if r == nil {
			return nil, fmt.Errorf("record %s is nil", name)
		}
		c := normalRecord(r)
		c.Name = name
		out.Certificates[name] = &c
	}
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// normalRecord returns a copy of r sharing nothing with it, with every time
// in UTC truncated to the second and Domains never nil.
func normalRecord(r *Record) Record {
	c := *r
	c.Domains = slices.Clone(r.Domains)
	if c.Domains == nil {
		c.Domains = []string{}
	}
	for _, t := range []**time.Time{&c.NotBefore, &c.NotAfter, &c.RenewTime, &c.LastAttempt, &c.NextRetryTime} {
		*t = normalTime(*t)
	}
	if r.ARI != nil {
		a := *r.ARI
		for _, t := range []**time.Time{&a.WindowStart, &a.WindowEnd, &a.SelectedTime, &a.NextPoll} {
			*t = normalTime(*t)
		}
		c.ARI = &a
	}
	return c
}

// normalTime returns a new pointer to t in UTC truncated to the second, or
// nil for nil.
func normalTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC().Truncate(time.Second)
	return &u
}

// RecordFromCert fills the certificate fields of r from leaf: Domains (the
// DNS SANs), Serial, NotBefore, NotAfter and Issuer. It leaves the name, the
// version and the renewal and retry fields alone. A nil leaf changes nothing.
func RecordFromCert(r *Record, leaf *x509.Certificate) {
	if r == nil || leaf == nil {
		return
	}
	r.Domains = slices.Clone(leaf.DNSNames)
	if r.Domains == nil {
		r.Domains = []string{}
	}
	serial := ""
	if leaf.SerialNumber != nil {
		serial = leaf.SerialNumber.Text(16)
	}
	if serial != r.Serial {
		// The CA's renewal window was about the previous certificate.
		r.ARI = nil
	}
	r.Serial = serial
	r.NotBefore = normalTime(&leaf.NotBefore)
	r.NotAfter = normalTime(&leaf.NotAfter)
	r.Issuer = leaf.Issuer.CommonName
	if r.Issuer == "" {
		r.Issuer = leaf.Issuer.String()
	}
}
