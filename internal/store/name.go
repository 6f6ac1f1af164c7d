package store

import (
	"fmt"
	"strings"
)

// MaxNameLen bounds a certificate name. Names become directory names under
// archive/ and live/, so they are kept short and boring on purpose.
const MaxNameLen = 64

// ValidName reports whether name is safe to use as a certificate name: it
// becomes a path element under the storage directory, so it must not be able
// to escape it or surprise a shell or a log reader. Allowed: ASCII letters,
// digits, '.', '_' and '-', starting with a letter or digit, at most
// MaxNameLen bytes, and never "..". This is the one rule for names; the
// config loader and the store both call it.
func ValidName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("certificate name is empty; use letters, digits, '.', '_' or '-'")
	case len(name) > MaxNameLen:
		return fmt.Errorf("certificate name is %d bytes long; at most %d are allowed", len(name), MaxNameLen)
	case strings.Contains(name, ".."):
		return fmt.Errorf("certificate name %q contains \"..\"; use letters, digits, '.', '_' or '-'", name)
	}
	for i, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if i > 0 {
			ok = ok || r == '.' || r == '_' || r == '-'
		}
		if !ok {
			return fmt.Errorf("certificate name %q has %q at byte %d; use letters, digits, '.', '_' or '-' (not first)", name, r, i)
		}
	}
	return nil
}
