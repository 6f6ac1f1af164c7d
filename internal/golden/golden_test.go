package golden

import (
	"os"
	"path/filepath"
	"testing"
)

// recorder is a testing.TB that keeps what Compare reports.
type recorder struct {
	testing.TB
	errors, fatals int
}

func (r *recorder) Helper()               {}
func (r *recorder) Name() string          { return "TestX" }
func (r *recorder) Errorf(string, ...any) { r.errors++ }
func (r *recorder) Fatalf(string, ...any) { r.fatals++ }
func (r *recorder) Fatal(...any)          { r.fatals++ }

func TestCompare(t *testing.T) {
	t.Chdir(t.TempDir())
	r := &recorder{TB: t}
	Compare(r, "missing", "x")
	if r.fatals != 1 {
		t.Errorf("a missing golden file: %d fatals, want 1", r.fatals)
	}

	*Update = true
	Compare(r, "out", "hello\n")
	*Update = false
	if data, err := os.ReadFile(filepath.Join("testdata", "out.golden")); err != nil || string(data) != "hello\n" {
		t.Fatalf("-update wrote %q, %v", data, err)
	}

	r = &recorder{TB: t}
	Compare(r, "out", "hello\n")
	if r.errors+r.fatals != 0 {
		t.Errorf("the same output: %d errors", r.errors+r.fatals)
	}
	Compare(r, "out", "bye\n")
	if r.errors != 1 {
		t.Errorf("other output: %d errors, want 1", r.errors)
	}
}
