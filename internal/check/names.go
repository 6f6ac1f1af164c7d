package check

import (
	"crypto/x509"
	"fmt"
	"net/netip"
	"strings"
)

// judgeHost checks that the leaf covers host the way the strictest clients
// match names (RFC 6125, and OpenSSL's and gnutls's rules): SANs only,
// never the subject CN (Go refuses a name found only there), a wildcard
// stands for exactly one leftmost label, and a wildcard directly under a
// one-label suffix (*.test, *.lan) covers nothing.
func judgeHost(r *Report, leaf *x509.Certificate, host string) {
	h := normalizeName(host)
	if ip, err := netip.ParseAddr(h); err == nil {
		judgeIP(r, leaf, ip)
		return
	}
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		r.add(Names, Warn, "%s is localhost: WeChat mini-programs refuse localhost and IP addresses as request domains", h)
	}
	san, ok := coveringSAN(leaf, h)
	switch {
	case ok && tooBroad(san):
		r.add(Names, Fail, "%s", tooBroadText(h, san))
	case ok:
		r.add(Names, Pass, "%s is covered by the SAN %s", h, san)
	default:
		r.add(Names, Fail, "%s is not covered by the certificate's names (%s)%s", h, sanList(leaf), missHint(leaf, h))
	}
}

func judgeIP(r *Report, leaf *x509.Certificate, ip netip.Addr) {
	r.add(Names, Warn, "%s is an IP address: WeChat mini-programs refuse IP addresses and localhost as request domains; use a domain name", ip)
	for _, a := range leaf.IPAddresses {
		if b, ok := netip.AddrFromSlice(a); ok && b.Unmap() == ip.Unmap() {
			r.add(Names, Pass, "%s is covered by an IP address SAN", ip)
			return
		}
	}
	r.add(Names, Fail, "%s is not covered by the certificate's names (%s): an IP address needs an IP address SAN", ip, sanList(leaf))
}

// judgeDomains checks that a stored leaf covers every configured domain. A
// wildcard domain needs the same wildcard SAN, and must be one strict
// clients accept.
func judgeDomains(r *Report, leaf *x509.Certificate, domains []string) {
	var missing []string
	failed := false
	for _, d := range domains {
		d = normalizeName(d)
		san, ok := coveringSAN(leaf, d)
		switch {
		case !ok && !hasIPSAN(leaf, d):
			missing = append(missing, d)
		case ok && tooBroad(san):
			r.add(Names, Fail, "the configured domain %s is a wildcard directly under a one-label suffix: OpenSSL-based clients (curl, Python, Android) and gnutls refuse it for every name it should cover; configure the names themselves", d)
			failed = true
		}
	}
	if len(missing) > 0 {
		r.add(Names, Fail, "the certificate does not cover %s (it names %s): the configured domains changed since it was issued; renew it",
			strings.Join(missing, ", "), sanList(leaf))
		return
	}
	if !failed {
		r.add(Names, Pass, "covers the configured names %s", strings.Join(domains, ", "))
	}
}

// judgeSANs lists the leaf's names for a file judged without a host, and
// warns about a wildcard strict clients refuse.
func judgeSANs(r *Report, leaf *x509.Certificate) {
	if len(leaf.DNSNames) == 0 && len(leaf.IPAddresses) == 0 {
		r.add(Names, Fail, "the certificate has no SANs%s: clients require the names there", missHint(leaf, normalizeName(leaf.Subject.CommonName)))
		return
	}
	for _, san := range leaf.DNSNames {
		if tooBroad(normalizeName(san)) {
			r.add(Names, Warn, "the SAN %s is a wildcard directly under a one-label suffix: OpenSSL-based clients (curl, Python, Android) and gnutls refuse it for every name it should cover", san)
		}
	}
	r.add(Names, Pass, "names %s", sanList(leaf))
}

// coveringSAN returns the DNS SAN that covers name, preferring an exact
// SAN and a wildcard strict clients accept. A wildcard SAN covers one
// label: *.example.com covers a.example.com, not example.com nor
// a.b.example.com. A wildcard name is covered only by itself.
func coveringSAN(leaf *x509.Certificate, name string) (string, bool) {
	broad := ""
	for _, san := range leaf.DNSNames {
		n := normalizeName(san)
		switch {
		case !matchName(n, name):
		case !tooBroad(n):
			return san, true
		default:
			broad = san
		}
	}
	return broad, broad != ""
}

func matchName(pattern, name string) bool {
	if pattern == name {
		return true
	}
	suffix, ok := strings.CutPrefix(pattern, "*")
	if !ok || !strings.HasPrefix(suffix, ".") || strings.HasPrefix(name, "*") {
		return false
	}
	label, ok := strings.CutSuffix(name, suffix)
	return ok && label != "" && !strings.Contains(label, ".")
}

// tooBroad reports a wildcard directly under a one-label suffix, such as
// *.test or *.lan: OpenSSL (so curl, Python and Android) and gnutls match
// nothing with it, although Go and Java do.
func tooBroad(pattern string) bool {
	suffix, ok := strings.CutPrefix(pattern, "*.")
	return ok && !strings.Contains(suffix, ".")
}

func tooBroadText(host, san string) string {
	return fmt.Sprintf("%s is covered only by the wildcard %s, directly under a one-label suffix: Go and Java accept it, but OpenSSL-based clients (curl, Python, Android) and gnutls refuse it; list %s itself in the certificate",
		host, san, host)
}

func hasIPSAN(leaf *x509.Certificate, name string) bool {
	ip, err := netip.ParseAddr(name)
	if err != nil {
		return false
	}
	for _, a := range leaf.IPAddresses {
		if b, ok := netip.AddrFromSlice(a); ok && b.Unmap() == ip.Unmap() {
			return true
		}
	}
	return false
}

// missHint explains the near misses people trip over: a wildcard that does
// not reach two labels down or the bare domain, and a name only in the CN.
func missHint(leaf *x509.Certificate, name string) string {
	for _, san := range leaf.DNSNames {
		suffix, ok := strings.CutPrefix(normalizeName(san), "*.")
		switch {
		case !ok:
		case strings.HasSuffix(name, "."+suffix):
			return fmt.Sprintf("; a wildcard covers one label only: %s covers x.%s, not %s", san, suffix, name)
		case name == suffix:
			return fmt.Sprintf("; %s does not cover %s itself", san, suffix)
		}
	}
	if len(leaf.DNSNames) == 0 && name != "" && normalizeName(leaf.Subject.CommonName) == name {
		return "; the name is only in the subject CN, which Go ignores and clients following RFC 6125 do not use: they require a SAN"
	}
	return ""
}

func sanList(leaf *x509.Certificate) string {
	var names []string
	names = append(names, leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		return "no SANs"
	}
	return strings.Join(names, ", ")
}

func normalizeName(name string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), "."))
}
