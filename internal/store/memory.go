package store

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Memory is an in-memory store with the file store's contract (records,
// versions, the live pointer, unfinished versions, a lock with a wait),
// for unit tests of the code above the store. Nothing touches the disk;
// LiveDir names a path that does not exist. Errs, when set, makes the
// named method fail (keys "SaveRecords", "SaveVersion", "MakeLive").
type Memory struct {
	mu         sync.Mutex
	records    map[string]*Record
	versions   map[string]map[string]Files // name -> version -> files
	live       map[string]string
	unfinished map[string]map[string]bool
	seq        int
	lock       chan struct{}

	// Errs fails the named method with the error; test seam.
	Errs map[string]error
	// Saves counts the records written, for tests of write volume.
	Saves int
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{records: map[string]*Record{}, versions: map[string]map[string]Files{}, live: map[string]string{},
		unfinished: map[string]map[string]bool{}, lock: make(chan struct{}, 1)}
}

func (m *Memory) fail(method string) error {
	if err := m.Errs[method]; err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	return nil
}

// Records returns copies of every record. A live version without a record
// gets one rebuilt from its files, as the file store does, or, when its
// files cannot be used, a Repair saying why.
func (m *Memory) Records() (map[string]*Record, []Repair, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := CloneRecords(m.records)
	var repairs []Repair
	for _, name := range sortedKeys(m.live) {
		if _, ok := out[name]; ok {
			continue
		}
		r, err := recordFromFiles(name, m.live[name], m.versions[name][m.live[name]])
		if err != nil {
			repairs = append(repairs, Repair{Name: name, Reason: "missing", RebuildErr: err})
			continue
		}
		out[name] = r
		repairs = append(repairs, Repair{Name: name, Reason: "missing", Rebuilt: true})
	}
	return out, repairs, nil
}

// Record returns a copy of one record, or ErrNotFound.
func (m *Memory) Record(name string) (*Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.records[name]
	if !ok {
		return nil, fmt.Errorf("record %s: %w", name, ErrNotFound)
	}
	return r.Clone(), nil
}

// SaveRecords stores copies of recs.
func (m *Memory) SaveRecords(recs []*Record) error {
	if err := m.fail("SaveRecords"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range recs {
		if _, err := marshalRecord(r); err != nil {
			return err
		}
	}
	for _, r := range recs {
		c := r.Clone()
		cutTexts(c)
		m.records[r.Name] = c
		m.Saves++
	}
	return nil
}

// DeleteRecord drops one record.
func (m *Memory) DeleteRecord(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.records, name)
	return nil
}

// Probe always succeeds for a valid name.
func (m *Memory) Probe(name string) error { return ValidName(name) }

// SaveVersion stores f as a new version and makes it live. It refuses
// what the file store refuses.
func (m *Memory) SaveVersion(name string, f Files) (string, error) {
	if err := checkNewVersion(name, f); err != nil {
		return "", err
	}
	if err := m.fail("SaveVersion"); err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	v := fmt.Sprintf("%s-%03d", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Format(versionTimeFormat), m.seq)
	if m.versions[name] == nil {
		m.versions[name] = map[string]Files{}
	}
	m.versions[name][v] = f
	m.live[name] = v
	return v, nil
}

// PutUnfinished stores f as a version that was never made live, as a kill
// between storing and the live switch leaves it; test helper.
func (m *Memory) PutUnfinished(name string, f Files) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	v := fmt.Sprintf("%s-%03d", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Format(versionTimeFormat), m.seq)
	if m.versions[name] == nil {
		m.versions[name] = map[string]Files{}
	}
	m.versions[name][v] = f
	if m.unfinished[name] == nil {
		m.unfinished[name] = map[string]bool{}
	}
	m.unfinished[name][v] = true
	return v
}

// Live returns the live version's files.
func (m *Memory) Live(name string) (Files, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.live[name]
	if !ok {
		return Files{}, "", fmt.Errorf("live/%s: %w", name, ErrNotFound)
	}
	return m.versions[name][v], v, nil
}

// LiveVersion returns the live version's name.
func (m *Memory) LiveVersion(name string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.live[name]
	if !ok {
		return "", fmt.Errorf("live/%s: %w", name, ErrNotFound)
	}
	return v, nil
}

// Version returns one version's files.
func (m *Memory) Version(name, version string) (Files, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.versions[name][version]
	if !ok {
		return Files{}, fmt.Errorf("archive/%s/%s: %w", name, version, ErrNotFound)
	}
	return f, nil
}

// Unfinished returns the newest unfinished version of name, or "".
func (m *Memory) Unfinished(name string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var vs []string
	for v := range m.unfinished[name] {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	if len(vs) == 0 {
		return "", nil
	}
	return vs[len(vs)-1], nil
}

// DropUnfinished clears a version's unfinished mark.
func (m *Memory) DropUnfinished(name, version string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.unfinished[name], version)
	return nil
}

// MakeLive points live at version and clears its mark.
func (m *Memory) MakeLive(name, version string) error {
	if err := m.fail("MakeLive"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.versions[name][version]; !ok {
		return fmt.Errorf("archive/%s/%s: %w", name, version, ErrNotFound)
	}
	m.live[name] = version
	delete(m.unfinished[name], version)
	return nil
}

// SetLive points live at an existing version without clearing anything,
// as an operator rolling back by hand does; test helper.
func (m *Memory) SetLive(name, version string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.live[name] = version
}

// LiveDir names where live files would be.
func (m *Memory) LiveDir(name string) string { return "/nonexistent/renewd/live/" + name }

// Dir names the store.
func (m *Memory) Dir() string { return "memory" }

// Notes is always empty.
func (m *Memory) Notes() []string { return nil }

// LockWait takes the in-memory lock, waiting as the file store does; the
// error when the wait runs out matches the context's cause too.
func (m *Memory) LockWait(ctx context.Context, wait time.Duration, waiting func()) (func() error, bool, error) {
	var once sync.Once
	release := func() error {
		// Once: a second call must not free a lock another holder has
		// taken since, as the file store's Unlock does not.
		once.Do(func() {
			select {
			case <-m.lock:
			default:
			}
		})
		return nil
	}
	select {
	case m.lock <- struct{}{}:
		return release, false, nil
	default:
	}
	if waiting != nil {
		waiting()
	}
	wctx, cancel := ctx, context.CancelFunc(func() {})
	if wait >= 0 {
		wctx, cancel = context.WithTimeout(ctx, wait)
	}
	defer cancel()
	select {
	case m.lock <- struct{}{}:
		return release, true, nil
	case <-wctx.Done():
		return nil, true, fmt.Errorf("memory lock: %w (stopped waiting: %w)", ErrLocked, context.Cause(wctx))
	}
}
