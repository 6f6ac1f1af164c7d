package memtrim

import (
	"bufio"
	"bytes"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Trim returns the heap's free memory to the kernel and drops the
// executable's read-only pages from the resident set. It reports the
// resident set size in KiB before and after (0 when /proc is not
// readable). It is safe to call at any time: a dropped page of code or
// read-only data is read again from the executable when next used.
func Trim() (beforeKiB, afterKiB int64) {
	beforeKiB = rssKiB()
	debug.FreeOSMemory()
	for _, m := range readOnlyExecutableMappings() {
		// MADV_DONTNEED on a private file mapping drops the pages; the
		// next access maps the file's page again. Only for mappings
		// never written (see readOnlyExecutableMappings). Errors (a
		// seccomp filter) leave the pages where they are.
		// The addresses come from /proc, not from Go pointers: the raw
		// system call takes them as they are.
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, unix.MADV_DONTNEED)
	}
	return beforeKiB, rssKiB()
}

type mapping struct{ start, end uintptr }

// readOnlyExecutableMappings lists the droppable mappings of the
// process's own executable (see droppable).
func readOnlyExecutableMappings() []mapping {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return nil
	}
	data, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return nil
	}
	return droppable(data, exe)
}

// droppable picks from smaps (the text of /proc/PID/smaps) the private
// mappings of exe that are not writable and hold no anonymous
// (copy-on-write) page: code and read-only data exactly as in the file.
// A position-independent build's relocated read-only data (RELRO) was
// written before it was made read-only; its pages are anonymous, and
// dropping them would lose the relocations, so such a mapping is left
// alone. So is anything of an executable replaced since it started
// (smaps then says "(deleted)").
func droppable(smaps []byte, exe string) []mapping {
	var out []mapping
	cur := -1
	sc := bufio.NewScanner(bytes.NewReader(smaps))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-") && len(f[1]) == 4:
			cur = -1
			if len(f) == 6 && f[5] == exe && f[1][1] == '-' && f[1][3] == 'p' {
				if m, ok := parseRange(f[0]); ok {
					out = append(out, m)
					cur = len(out) - 1
				}
			}
		case cur >= 0 && f[0] == "Anonymous:" && len(f) >= 2 && f[1] != "0":
			out[cur].end = out[cur].start // written pages: leave it alone
		}
	}
	kept := out[:0]
	for _, m := range out {
		if m.end > m.start {
			kept = append(kept, m)
		}
	}
	return kept
}

func parseRange(s string) (mapping, bool) {
	a, b, ok := strings.Cut(s, "-")
	start, err1 := strconv.ParseUint(a, 16, 64)
	end, err2 := strconv.ParseUint(b, 16, 64)
	if !ok || err1 != nil || err2 != nil || end <= start {
		return mapping{}, false
	}
	return mapping{start: uintptr(start), end: uintptr(end)}, true
}

// rssKiB is VmRSS from /proc/self/status, 0 when unknown.
func rssKiB() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}
