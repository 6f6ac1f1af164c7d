package memtrim

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestDroppable(t *testing.T) {
	const exe = "/usr/local/bin/renewd"
	smaps := `00400000-01400000 r-xp 00000000 08:01 1234                               /usr/local/bin/renewd
Size:              16384 kB
Rss:               15600 kB
Anonymous:             0 kB
01400000-02c00000 r--p 01000000 08:01 1234                               /usr/local/bin/renewd
Size:              24576 kB
Rss:               21568 kB
Anonymous:             0 kB
02c00000-02d00000 r--p 02800000 08:01 1234                               /usr/local/bin/renewd
Size:               1024 kB
Anonymous:           512 kB
02d00000-02e00000 rw-p 02900000 08:01 1234                               /usr/local/bin/renewd
Size:               1024 kB
Anonymous:             0 kB
02e00000-02f00000 rw-p 00000000 00:00 0
Anonymous:          1024 kB
7f0000000000-7f0000100000 r-xp 00000000 08:01 99                         /usr/lib/other.so
Anonymous:             0 kB
7f0000100000-7f0000200000 r-xp 00000000 08:01 1234                       /usr/local/bin/renewd (deleted)
Anonymous:             0 kB
7f0000200000-7f0000300000 r--s 00000000 08:01 1234                       /usr/local/bin/renewd
Anonymous:             0 kB
`
	got := droppable([]byte(smaps), exe)
	want := []mapping{{0x400000, 0x1400000}, {0x1400000, 0x2c00000}}
	if len(got) != len(want) {
		t.Fatalf("droppable = %x, want %x (code and read-only data; not RELRO with anonymous pages, writable data, other files, a deleted executable or a shared mapping)", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("mapping %d = %x, want %x", i, got[i], want[i])
		}
	}
}

// codeRSS is the resident KiB of this test binary's code and read-only
// data.
func codeRSS(t *testing.T) int64 {
	t.Helper()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-") && len(f[1]) == 4:
			in = len(f) == 6 && f[5] == exe && f[1][1] == '-'
		case in && len(f) >= 2 && f[0] == "Rss:":
			n, _ := strconv.ParseInt(f[1], 10, 64)
			total += n
		}
	}
	return total
}

// TestTrimDropsCodePages runs Trim in this process: the binary's pages
// leave the resident set, and the code keeps running (it faults back in).
func TestTrimDropsCodePages(t *testing.T) {
	before := codeRSS(t)
	if before == 0 {
		t.Fatal("no resident code pages of the test binary before Trim")
	}
	rssBefore, rssAfter := Trim()
	after := codeRSS(t) // runs code, so some pages are back already
	if after >= before {
		t.Errorf("resident code and read-only data %d KiB after Trim, %d KiB before", after, before)
	}
	if rssBefore == 0 || rssAfter == 0 || rssAfter >= rssBefore {
		t.Errorf("Trim reported RSS %d KiB -> %d KiB, want a drop", rssBefore, rssAfter)
	}
	t.Logf("code and read-only data: %d KiB -> %d KiB; RSS %d KiB -> %d KiB", before, after, rssBefore, rssAfter)
}
