package systemd

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestSameStream(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stream"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	dev, ino := uint64(st.Dev), uint64(st.Ino) //nolint:unconvert // Stat_t.Dev is uint32 on mips

	for _, tc := range []struct {
		desc, env string
		want      bool
	}{
		{"the journal stream is our stderr", fmt.Sprintf("%d:%d", dev, ino), true},
		{"unset", "", false},
		{"stderr redirected elsewhere: other inode", fmt.Sprintf("%d:%d", dev, ino+1), false},
		{"other device", fmt.Sprintf("%d:%d", dev+1, ino), false},
		{"no colon", fmt.Sprint(ino), false},
		{"not numbers", "dev:ino", false},
		{"empty inode", fmt.Sprintf("%d:", dev), false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if got := sameStream(tc.env, f); got != tc.want {
				t.Errorf("sameStream(%q) = %v, want %v", tc.env, got, tc.want)
			}
		})
	}
}

func TestUnderJournaldWithoutJournalStream(t *testing.T) {
	t.Setenv("JOURNAL_STREAM", "")
	if UnderJournald() {
		t.Error("UnderJournald() = true with JOURNAL_STREAM empty")
	}
}
