package config

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Limits from RFC 1035 section 2.3.4 and Let's Encrypt's per-order limit.
const (
	maxDomainLen = 253
	maxLabelLen  = 63
	maxDomains   = 100
)

// SameDomains reports whether a and b name the same set of names, in any
// order and case, with repeats and surrounding blanks ignored: how a
// certificate's names are compared with a configured list, a BaoTa order
// or another tool's record.
func SameDomains(a, b []string) bool {
	norm := func(s []string) []string {
		out := make([]string, len(s))
		for i, x := range s {
			out[i] = strings.ToLower(strings.TrimSpace(x))
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	return slices.Equal(norm(a), norm(b))
}

// normalizeDomain returns the form renewd requests and compares: lower-case,
// IDN labels as A-labels (punycode), no trailing dot, and a wildcard only as
// a whole leftmost "*" label. The error says what is wrong and what would be
// valid; it does not repeat the name, which the caller quotes.
func normalizeDomain(raw string) (name string, wildcard bool, err error) {
	s := strings.TrimSuffix(raw, ".")
	if s == "" {
		return "", false, errors.New("is empty; write a name such as shop.example.com")
	}
	if ipLike(s) {
		return "", false, errors.New("is an IP address; renewd requests certificates for DNS names only")
	}
	if strings.Contains(s, "*") {
		rest, ok := strings.CutPrefix(s, "*.")
		if !ok || strings.Contains(rest, "*") {
			return "", false, errors.New("has a \"*\" that is not the whole leftmost label; a wildcard is written *.example.com")
		}
		s, wildcard = rest, true
	}
	base, err := toASCII(s)
	if err != nil {
		return "", false, err
	}
	if wildcard && !strings.Contains(base, ".") {
		return "", false, errors.New("is a wildcard over a top-level domain; a wildcard is written *.example.com")
	}
	if err := checkHostname(base); err != nil {
		return "", false, err
	}
	if wildcard {
		base = "*." + base
	}
	if len(base) > maxDomainLen {
		return "", false, fmt.Errorf("is %d bytes long; at most %d are allowed", len(base), maxDomainLen)
	}
	return base, wildcard, nil
}

// ipLike catches IPv4 and IPv6 literals, bracketed or not.
func ipLike(s string) bool {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	return false
}

// toASCII lower-cases s and converts IDN labels to A-labels. ASCII names
// skip IDNA unless a label is already punycode, so that a plain typo gets a
// plain message from checkHostname rather than one about UTS #46.
func toASCII(s string) (string, error) {
	lower := strings.ToLower(s)
	if isASCII(lower) && !strings.HasPrefix(lower, "xn--") && !strings.Contains(lower, ".xn--") {
		return lower, nil
	}
	a, err := idna.Lookup.ToASCII(s)
	if err != nil {
		return "", fmt.Errorf("is not a valid internationalised domain name (%v)", err)
	}
	return a, nil
}

// checkHostname applies the LDH rule (letters, digits, hyphen) to an ASCII
// name without wildcard: the rule that every public CA enforces.
func checkHostname(s string) error {
	if len(s) > maxDomainLen {
		return fmt.Errorf("is %d bytes long; at most %d are allowed", len(s), maxDomainLen)
	}
	labels := strings.Split(s, ".")
	if labels[len(labels)-1] == "localhost" {
		return errors.New("is localhost or under it, which no public CA issues for")
	}
	if len(labels) < 2 {
		return errors.New("has no dot; use a fully qualified name such as shop.example.com")
	}
	for i, l := range labels {
		if err := checkLabel(l); err != nil {
			return fmt.Errorf("label %d %w", i+1, err)
		}
	}
	if tld := labels[len(labels)-1]; strings.Trim(tld, "0123456789") == "" {
		return errors.New("ends in an all-digit label, which looks like an IP address; use a DNS name")
	}
	return nil
}

func checkLabel(l string) error {
	switch {
	case l == "":
		return errors.New("is empty (two dots in a row, or a leading dot)")
	case len(l) > maxLabelLen:
		return fmt.Errorf("is %d bytes long; at most %d are allowed", len(l), maxLabelLen)
	case l[0] == '-' || l[len(l)-1] == '-':
		return fmt.Errorf("%q starts or ends with '-'", l)
	}
	for _, r := range l {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("%q has %q; use letters, digits and '-'", l, r)
		}
	}
	return nil
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// validateDomains normalises cert.Domains in place and returns the indexes
// of the names that are valid, for the checks across files.
func validateDomains(cert *Certificate, src *source) []int {
	switch n := len(cert.Domains); {
	case n == 0:
		src.errorf("domains", "missing; list 1 to %d names, such as [shop.example.com, www.shop.example.com]", maxDomains)
	case n > maxDomains:
		src.errorf("domains", "has %d names; at most %d fit in one certificate, so split them over several files", n, maxDomains)
	}
	var valid []int
	seen := map[string]int{}
	for i, raw := range cert.Domains {
		p := fmt.Sprintf("domains[%d]", i)
		name, wildcard, err := normalizeDomain(raw)
		if err != nil {
			src.errorf(p, "%q %v", raw, err)
			continue
		}
		if j, dup := seen[name]; dup {
			src.errorf(p, "%q is listed twice (also domains[%d] on line %d); list each name once",
				raw, j, src.line(fmt.Sprintf("domains[%d]", j)))
			continue
		}
		seen[name] = i
		if wildcard && cert.Challenge.Type == challengeHTTP01 {
			src.errorf(p, "%q is a wildcard, which http-01 cannot validate; use challenge.type dns-01", raw)
		}
		cert.Domains[i] = name
		valid = append(valid, i)
	}
	return valid
}
