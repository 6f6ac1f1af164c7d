// Package readfile reads files whose paths come from outside renewd: a
// configuration file, an nginx include, another tool's directory, a path
// on the command line. Such a path may name a FIFO, a device or a huge
// file; reading it must neither hang nor exhaust memory (docs/design.md,
// "The rules").
package readfile

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// Bounded reads a regular file of at most limit bytes. It opens without
// blocking, so a FIFO cannot make it wait for a writer, refuses anything
// but a regular file before reading, and never quotes the content in an
// error.
func Bounded(path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s)", path, fi.Mode().Type())
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return data, nil
}
