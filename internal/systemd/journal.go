package systemd

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// UnderJournald reports whether stderr is connected to the journal: systemd
// sets $JOURNAL_STREAM to "DEVICE:INODE" of the stream it gave the service,
// and it only counts if stderr is still that very stream (not redirected by
// a shell or a `2>file` in between), as systemd.exec(5) says to check.
// journald stamps every line with time, unit and pid itself, so a logger
// can leave those out, and keep one event per line.
func UnderJournald() bool {
	return sameStream(os.Getenv("JOURNAL_STREAM"), os.Stderr)
}

// sameStream reports whether f is the file that a JOURNAL_STREAM value
// names.
func sameStream(env string, f *os.File) bool {
	devStr, inoStr, ok := strings.Cut(env, ":")
	if !ok {
		return false
	}
	dev, err := strconv.ParseUint(devStr, 10, 64)
	if err != nil {
		return false
	}
	ino, err := strconv.ParseUint(inoStr, 10, 64)
	if err != nil {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && uint64(st.Dev) == dev && uint64(st.Ino) == ino //nolint:unconvert // Stat_t.Dev is uint32 on mips
}
