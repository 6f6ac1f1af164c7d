package readfile

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestBounded: a regular file within the bound is read; a directory, a
// FIFO without a writer (which must not hang), a device and a file over
// the bound are refused with the path named.
func TestBounded(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok.pem")
	if err := os.WriteFile(ok, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.pem")
	if err := os.WriteFile(big, []byte(strings.Repeat("x", 11)), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.pem")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if data, err := Bounded(ok, 10); err != nil || string(data) != "0123456789" {
		t.Fatalf("within the bound: %q, %v", data, err)
	}
	for _, tc := range []struct{ path, want string }{
		{dir, "is not a regular file"},
		{fifo, "is not a regular file"},
		{"/dev/zero", "is not a regular file"},
		{big, "is larger than 10 bytes"},
	} {
		_, err := Bounded(tc.path, 10)
		if err == nil || !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Bounded(%s): %v; want an error naming it, %q", tc.path, err, tc.want)
		}
	}
}
