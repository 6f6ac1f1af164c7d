package chain

import (
	"crypto/x509"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// matchNames checks that the leaf names exactly the requested names. A
// missing name breaks a site; an extra one means the CA (or something in
// between) issued more than was asked for, which renewd must not deploy
// silently. Names compare case-insensitively and without a trailing dot;
// requested IP addresses compare with the leaf's IP SANs. IDNs must be
// requested in their A-label (xn--) form, as they appear in certificates.
func matchNames(leaf *x509.Certificate, domains []string) error {
	if len(domains) == 0 {
		return fmt.Errorf("%w: no names were requested", ErrNameMismatch)
	}
	want := map[string]bool{}
	for _, d := range domains {
		want[normalizeName(d)] = true
	}
	have := map[string]bool{}
	for _, d := range leaf.DNSNames {
		have[normalizeName(d)] = true
	}
	for _, ip := range leaf.IPAddresses {
		if a, ok := netip.AddrFromSlice(ip); ok {
			have[a.Unmap().String()] = true
		}
	}
	missing, extra := difference(want, have), difference(have, want)
	if len(missing) == 0 && len(extra) == 0 {
		return nil
	}
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, "missing "+strings.Join(missing, ", "))
	}
	if len(extra) > 0 {
		parts = append(parts, "not requested "+strings.Join(extra, ", "))
	}
	return fmt.Errorf("%w: leaf %q: %s", ErrNameMismatch, Describe(leaf), strings.Join(parts, "; "))
}

func normalizeName(name string) string {
	name = strings.TrimSpace(name)
	if a, err := netip.ParseAddr(name); err == nil {
		return a.Unmap().String()
	}
	return strings.ToLower(strings.TrimSuffix(name, "."))
}

// difference returns the sorted members of a that are not in b.
func difference(a, b map[string]bool) []string {
	var out []string
	for k := range a {
		if !b[k] {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
