package check

import (
	"crypto/x509"
	"fmt"
	"net/netip"
	"strings"
)

// judgeHost checks that the leaf covers host the way clients match names
// (RFC 6125): SANs only, never the subject CN, and a wildcard stands for
// exactly one leftmost label.
func judgeHost(r *Report, leaf *x509.Certificate, host string) {
	h := normalizeName(host)
	if ip, err := netip.ParseAddr(h); err == nil {
		judgeIP(r, leaf, ip)
		return
	}
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		r.add(Names, Warn, "%s is localhost: WeChat mini-programs refuse localhost and IP addresses as request domains", h)
	}
	if san, ok := coveringSAN(leaf, h); ok {
		r.add(Names, Pass, "%s is covered by the SAN %s", h, san)
		return
	}
	r.add(Names, Fail, "%s is not covered by the certificate's names (%s)%s", h, sanList(leaf), missHint(leaf, h))
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
// wildcard domain needs the same wildcard SAN.
func judgeDomains(r *Report, leaf *x509.Certificate, domains []string) {
	var missing []string
	for _, d := range domains {
		d = normalizeName(d)
		if _, ok := coveringSAN(leaf, d); !ok && !hasIPSAN(leaf, d) {
			missing = append(missing, d)
		}
	}
	if len(missing) > 0 {
		r.add(Names, Fail, "the certificate does not cover %s (it names %s): the configured domains changed since it was issued; renew it",
			strings.Join(missing, ", "), sanList(leaf))
		return
	}
	r.add(Names, Pass, "covers the configured names %s", strings.Join(domains, ", "))
}

// coveringSAN returns the DNS SAN that covers name. A wildcard SAN covers
// one label: *.example.com covers a.example.com, not example.com nor
// a.b.example.com. A wildcard name is covered only by itself.
func coveringSAN(leaf *x509.Certificate, name string) (string, bool) {
	for _, san := range leaf.DNSNames {
		if matchName(normalizeName(san), name) {
			return san, true
		}
	}
	return "", false
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
	if len(leaf.DNSNames) == 0 && normalizeName(leaf.Subject.CommonName) == name {
		return "; the name is only in the subject CN, which clients ignore: they require a SAN"
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
