package config

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrUnknownDNSProvider is what Options.CheckDNSProvider wraps when it does not
// know a provider name; Load then reports the error on challenge.dns01.provider.
var ErrUnknownDNSProvider = errors.New("unknown DNS provider")

// FieldError is one problem a person must fix, located by file, line and
// field. Line is 0 when the problem has no line (a missing file, a default
// that does not work); Field is empty when it concerns the whole file.
type FieldError struct {
	// File is the absolute path of the YAML file.
	File string
	// Line is 1-based; 0 when there is none.
	Line int
	// Field is the path of the value, such as acme.eab.kid, domains[2] or
	// challenge.dns01.env.CF_DNS_API_TOKEN; empty for the whole file.
	Field string
	// Msg says what is wrong and what would be valid. It never holds the
	// value of a secret.
	Msg string

	// err is what Unwrap returns: a sentinel or an fs error, never anything
	// that could carry a secret.
	err error
}

// Error renders the problem as `<file>:<line>: <field>: <msg>`, leaving out
// the parts that are empty.
//
// A file name or field that holds a newline or another control character
// is Go-quoted, so a hostile name cannot split the line or forge another.
func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(QuotePath(e.File))
	if e.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(e.Line))
	}
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(QuotePath(e.Field))
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap lets errors.Is find ErrUnknownDNSProvider or fs.ErrNotExist behind
// a FieldError.
func (e *FieldError) Unwrap() error { return e.err }

// errList collects the FieldErrors of one file, so that Load reports every
// problem at once instead of the first.
type errList struct {
	errs []*FieldError
}

func (l *errList) add(e *FieldError) { l.errs = append(l.errs, e) }

// has reports whether any error was recorded on path or below it.
func (l *errList) has(path string) bool {
	for _, e := range l.errs {
		if e.Field == path || strings.HasPrefix(e.Field, path+".") || strings.HasPrefix(e.Field, path+"[") {
			return true
		}
	}
	return false
}

// sorted returns the errors ordered by line, keeping the order of equal lines.
func (l *errList) sorted() []error {
	es := slices.Clone(l.errs)
	slices.SortStableFunc(es, func(a, b *FieldError) int { return cmp.Compare(a.Line, b.Line) })
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// source is one YAML file: its path and where each field was written.
type source struct {
	file string
	// lines maps a field path (acme.eab.kid, domains[2], challenge.dns01.env.X)
	// to the line of its key, or of the item for sequence elements.
	lines map[string]int
	// set holds the paths written with a non-null value; defaults apply to
	// the others.
	set map[string]bool
	// bad holds the paths whose value could not be decoded; validation
	// skips them and what is below them, so each mistake is reported once.
	bad  map[string]bool
	root int // line of the document's first node
	// broken is set when the file could not be read or parsed as YAML.
	broken bool
	errs   errList
}

func newSource(file string) *source {
	return &source{file: file, lines: map[string]int{}, set: map[string]bool{}, bad: map[string]bool{}, root: 1}
}

// line returns the line of path, or of its nearest recorded ancestor, so an
// error about a missing field points at the mapping it is missing from.
func (s *source) line(path string) int {
	for p := path; p != ""; p = parentPath(p) {
		if l, ok := s.lines[p]; ok {
			return l
		}
	}
	return s.root
}

// isSet reports whether path was written with a non-null value.
func (s *source) isSet(path string) bool { return s.set[path] }

// errorf records a FieldError on path at the line where path was written,
// unless the value at path or above it was already reported as undecodable.
func (s *source) errorf(path, format string, args ...any) {
	for p := path; ; p = parentPath(p) {
		if s.bad[p] {
			return
		}
		if p == "" {
			break
		}
	}
	s.errs.add(&FieldError{File: s.file, Line: s.line(path), Field: path, Msg: fmt.Sprintf(format, args...)})
}

// badf records a FieldError on a value that could not be decoded.
func (s *source) badf(path, format string, args ...any) {
	s.errs.add(&FieldError{File: s.file, Line: s.line(path), Field: path, Msg: fmt.Sprintf(format, args...)})
	s.bad[path] = true
}

// parentPath strips the last element of a field path: a.b[2] -> a.b -> a -> "".
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndexByte(p, '['); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}

// QuotePath renders a file name (or a field path) for a message: as is
// when it is printable, Go-quoted when it holds a newline, another control
// character or invalid UTF-8, so a hostile name cannot split a line of
// output or forge another.
func QuotePath(p string) string {
	if !utf8.ValidString(p) || strings.ContainsFunc(p, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return strconv.Quote(p)
	}
	return p
}
