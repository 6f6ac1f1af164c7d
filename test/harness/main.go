package harness

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Main is a package's TestMain: `go test -short` skips the package,
// saying so; otherwise setup prepares what every test needs, runs m and
// returns its code, and Main exits with it (with 1, the error printed
// after name, when setup fails).
func Main(m *testing.M, name string, setup func(m *testing.M) (int, error)) {
	flag.Parse()
	if testing.Short() {
		fmt.Printf("%s: skipped by -short\n", name)
		os.Exit(0)
	}
	code, err := setup(m)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s setup: %v\n", name, err)
		os.Exit(1)
	}
	os.Exit(code)
}

// MainTB is the TB for what a TestMain starts once for every test of its
// package (Pebble, an etcd cluster), before m.Run: its temporary
// directories are under one directory of its own, its cleanups run at
// Close, last registered first, and Fatalf prints the failure, cleans up
// and exits 1.
type MainTB struct {
	// Dir is the directory of its own, removed at Close.
	Dir string

	mu       sync.Mutex
	cleanups []func()
	temps    int
	failed   bool
}

// NewMainTB makes a new directory named after pattern (os.MkdirTemp's)
// for a MainTB.
func NewMainTB(pattern string) (*MainTB, error) {
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		return nil, err
	}
	return &MainTB{Dir: dir}, nil
}

func (*MainTB) Helper() {}

// Fatalf prints the failure, runs the cleanups and exits 1.
func (m *MainTB) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	m.Fail()
	m.Close()
	os.Exit(1)
}

func (*MainTB) Logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

func (m *MainTB) Cleanup(f func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cleanups = append(m.cleanups, f)
}

// TempDir is a new directory under Dir.
func (m *MainTB) TempDir() string {
	m.mu.Lock()
	m.temps++
	n := m.temps
	m.mu.Unlock()
	dir := filepath.Join(m.Dir, fmt.Sprintf("tmp%03d", n))
	if err := os.Mkdir(dir, 0o700); err != nil {
		m.Fatalf("%v", err)
	}
	return dir
}

// Fail marks the run failed, as when m.Run returned non-zero: cleanups
// that show a log on failure (Pebble's) then do.
func (m *MainTB) Fail() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failed = true
}

func (m *MainTB) Failed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.failed
}

// Close runs the cleanups, last registered first, and removes Dir.
func (m *MainTB) Close() {
	for {
		m.mu.Lock()
		if len(m.cleanups) == 0 {
			m.mu.Unlock()
			break
		}
		f := m.cleanups[len(m.cleanups)-1]
		m.cleanups = m.cleanups[:len(m.cleanups)-1]
		m.mu.Unlock()
		f()
	}
	_ = os.RemoveAll(m.Dir)
}
