// Package secret decides which values are secrets and masks them in every
// text that leaves renewd: errors and what is recorded from them
// (last_error, status, notifications), logs at every level, the output and
// command lines of nginx and hooks, and `renewd config check`. It is the
// one place that does so; see docs/configuration.md, "Secrets".
//
// Secrets are registered once, where they become known (config.Load for the
// configuration's, the DNS-01 setup for a provider's process variables),
// and the process environment's credentials are registered on first use.
// Nothing is ever removed: a secret of a certificate dropped by a reload
// stays masked.
package secret

import (
	"bytes"
	"cmp"
	"encoding/json"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Placeholder is what a secret is replaced with.
const Placeholder = "********"

// MinLen is the length of the shortest value masked: shorter ones are not
// real credentials, and masking them would garble messages ("exit status
// 1" with a polling interval of 1).
const MinLen = 6

// Set is a set of secret values and masks them in text. The zero value is
// an empty set; a Set is safe for concurrent use.
type Set struct {
	mu   sync.Mutex
	vals map[string]bool
	r    *strings.Replacer // built from vals on demand; nil after an Add
}

// Add registers values as secrets. Values shorter than MinLen are ignored.
func (s *Set) Add(vals ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range vals {
		if len(v) < MinLen || s.vals[v] {
			continue
		}
		if s.vals == nil {
			s.vals = map[string]bool{}
		}
		s.vals[v] = true
		s.r = nil
	}
}

// Mask returns text with every secret of s replaced by Placeholder, in the
// forms a message may quote it: as is, escaped by Go's %q or by JSON, and
// URL-escaped. The longest secret wins where two overlap, so a value that
// contains another is masked whole.
func (s *Set) Mask(text string) string {
	if text == "" {
		return text
	}
	s.mu.Lock()
	if s.r == nil {
		s.r = replacer(s.vals)
	}
	r := s.r
	s.mu.Unlock()
	return r.Replace(text)
}

// replacer builds the strings.Replacer for vals: every form of every
// value, longest first (strings.Replacer tries its pairs in order).
func replacer(vals map[string]bool) *strings.Replacer {
	var forms []string
	for v := range vals {
		forms = append(forms, quotedForms(v)...)
	}
	slices.SortFunc(forms, func(a, b string) int { return cmp.Or(len(b)-len(a), strings.Compare(a, b)) })
	forms = slices.Compact(forms)
	pairs := make([]string, 0, 2*len(forms))
	for _, f := range forms {
		pairs = append(pairs, f, Placeholder)
	}
	return strings.NewReplacer(pairs...)
}

// quotedForms are the ways v may appear in a message.
func quotedForms(v string) []string {
	q := strconv.Quote(v)
	var j bytes.Buffer
	enc := json.NewEncoder(&j)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // a string always encodes
	js := strings.TrimSuffix(j.String(), "\n")
	return []string{v, q[1 : len(q)-1], js[1 : len(js)-1], url.QueryEscape(v), url.PathEscape(v)}
}

// process is the set Add and Mask use: every secret renewd knows of.
var (
	process     Set
	environOnce sync.Once
)

// Add registers values as secrets of this process, for Mask and Error.
func Add(vals ...string) { process.Add(vals...) }

// Mask returns text with every secret of this process masked: those
// registered with Add and the credentials of the process environment
// (see EnvironSecrets), registered on the first call.
func Mask(text string) string {
	environOnce.Do(func() { process.Add(EnvironSecrets(os.Environ(), nil)...) })
	return process.Mask(text)
}

// Error returns err with its text masked by Mask, nil for nil. The result
// unwraps to err, so errors.Is and errors.As still work; the text of what
// errors.As finds is not masked, so show the outer error, never the inner
// one.
func Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	masked := Mask(msg)
	if masked == msg {
		return err
	}
	if m, ok := err.(*maskedError); ok {
		err = m.err
	}
	return &maskedError{msg: masked, err: err}
}

// maskedError is an error whose text has secrets replaced.
type maskedError struct {
	msg string
	err error
}

func (e *maskedError) Error() string { return e.msg }
func (e *maskedError) Unwrap() error { return e.err }
