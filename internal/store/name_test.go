package store

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidName(t *testing.T) {
	tests := []struct {
		desc string
		name string
		ok   bool
	}{
		{desc: "plain", name: "shop", ok: true},
		{desc: "domain-like", name: "shop.example.com", ok: true},
		{desc: "digits, underscore, dash", name: "a_b-c.1", ok: true},
		{desc: "leading digit", name: "1shop", ok: true},
		{desc: "punycode IDN", name: "xn--bcher-kva.example", ok: true},
		{desc: "64 bytes", name: strings.Repeat("a", 64), ok: true},
		{desc: "empty", name: ""},
		{desc: "parent escape", name: "../x"},
		{desc: "dot dot alone", name: ".."},
		{desc: "dot dot inside", name: "a..b"},
		{desc: "slash", name: "a/b"},
		{desc: "absolute path", name: "/etc"},
		{desc: "backslash", name: `a\b`},
		{desc: "newline", name: "a\nb"},
		{desc: "carriage return", name: "a\rb"},
		{desc: "NUL", name: "a\x00b"},
		{desc: "tab", name: "a\tb"},
		{desc: "space", name: "a b"},
		{desc: "shell substitution", name: "$(id)"},
		{desc: "backticks", name: "`id`"},
		{desc: "semicolon", name: "a;rm"},
		{desc: "glob", name: "a*"},
		{desc: "300 characters", name: strings.Repeat("a", 300)},
		{desc: "65 bytes", name: strings.Repeat("a", 65)},
		{desc: "IDN in Unicode", name: "bücher"},
		{desc: "IDN in CJK", name: "例子"},
		{desc: "leading dot", name: ".hidden"},
		{desc: "single dot", name: "."},
		{desc: "leading dash (looks like a flag)", name: "-rf"},
		{desc: "leading underscore", name: "_x"},
		{desc: "invalid UTF-8", name: "a\xffb"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			err := ValidName(tt.name)
			if tt.ok {
				if err != nil {
					t.Fatalf("ValidName(%q) = %v, want nil", tt.name, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidName(%q) = nil, want an error", tt.name)
			}
			// The message ends up in logs: it must quote control characters,
			// not print them, and must say what is allowed.
			msg := err.Error()
			if strings.ContainsAny(msg, "\n\r\x00\t") {
				t.Errorf("error %q contains a raw control character", msg)
			}
			if len(tt.name) <= MaxNameLen && !strings.Contains(msg, "letters, digits") {
				t.Errorf("error %q does not say what is allowed", msg)
			}
		})
	}
}

// TestNamesNeverTouchPaths checks that every method taking a name rejects
// the names ValidName rejects before touching the disk.
func TestNamesNeverTouchPaths(t *testing.T) {
	s := openTest(t)
	ca := newTestCA(t)
	files, _ := ca.issue(t, 7, t0, "shop.example.com")
	for _, name := range []string{"../x", "a/b", "a\nb", "$(id)", ".hidden", strings.Repeat("a", 300)} {
		t.Run(name, func(t *testing.T) {
			if _, err := s.SaveVersion(name, files); err == nil {
				t.Error("SaveVersion accepted it")
			}
			if _, _, err := s.Live(name); err == nil {
				t.Error("Live accepted it")
			}
			if _, err := s.Versions(name); err == nil {
				t.Error("Versions accepted it")
			}
			if got := s.LiveDir(name); got != "" {
				t.Errorf("LiveDir = %q, want \"\"", got)
			}
			if err := s.SaveRecord(&Record{Name: name}); err == nil {
				t.Error("SaveRecord accepted it")
			}
			if _, err := s.Record(name); err == nil {
				t.Error("Record accepted it")
			}
			if err := s.DeleteRecord(name); err == nil {
				t.Error("DeleteRecord accepted it")
			}
		})
	}
	if left := leftovers(t, s.Dir()); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
	for _, dir := range []string{s.archiveRoot(), s.liveRoot(), s.stateRoot()} {
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("%s is not empty: %v", dir, entries)
		}
	}
	if entries, _ := os.ReadDir(filepath.Dir(s.Dir())); len(entries) != 1 {
		t.Errorf("something was created next to the storage directory: %v", entries)
	}
}
