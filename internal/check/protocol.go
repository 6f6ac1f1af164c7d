package check

import (
	"crypto/tls"
	"strings"
)

// tlsVersions are the versions Server probes, oldest first.
var tlsVersions = []uint16{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13}

// versionResult is what one probe learned about one TLS version.
type versionResult struct {
	version  uint16
	accepted *bool  // nil: not probed
	reason   string // why it was refused or not probed
}

// set records accepted for version v.
func (p *Protocols) set(v uint16, accepted *bool) {
	switch v {
	case tls.VersionTLS10:
		p.TLS10 = accepted
	case tls.VersionTLS11:
		p.TLS11 = accepted
	case tls.VersionTLS12:
		p.TLS12 = accepted
	case tls.VersionTLS13:
		p.TLS13 = accepted
	}
}

func protocolsOf(results []versionResult) *Protocols {
	p := &Protocols{}
	for _, v := range results {
		p.set(v.version, v.accepted)
	}
	return p
}

// judgeProtocols records the probe results and judges them: TLS 1.2 must
// be accepted (WeChat and iOS require it); TLS 1.0 and 1.1 should not be
// (RFC 8996). A version that could not be probed is a warning, never a
// guess.
func judgeProtocols(r *Report, results []versionResult) {
	r.Protocols = protocolsOf(results)
	accepted, refused, old := sortVersions(results)
	problems := false
	for _, v := range results {
		switch {
		case v.accepted == nil:
			r.add(Protocol, Warn, "%s not probed: %s", tls.VersionName(v.version), v.reason)
			problems = true
		case v.version == tls.VersionTLS12 && !*v.accepted:
			r.add(Protocol, Fail, "TLS 1.2 refused (%s; accepted: %s): WeChat and iOS require TLS 1.2; in nginx: ssl_protocols TLSv1.2 TLSv1.3;",
				v.reason, orNone(accepted))
			problems = true
		}
	}
	if len(old) > 0 {
		r.add(Protocol, Warn, "%s accepted: deprecated (RFC 8996) and refused by current clients; in nginx: ssl_protocols TLSv1.2 TLSv1.3;", strings.Join(old, " and "))
		problems = true
	}
	if !problems {
		r.add(Protocol, Pass, "accepted: %s; refused: %s", orNone(accepted), orNone(refused))
	}
}

// sortVersions names the accepted and refused versions, and the accepted
// ones older than TLS 1.2.
func sortVersions(results []versionResult) (accepted, refused, old []string) {
	for _, v := range results {
		name := tls.VersionName(v.version)
		switch {
		case v.accepted == nil:
		case *v.accepted:
			accepted = append(accepted, name)
			if v.version < tls.VersionTLS12 {
				old = append(old, name)
			}
		default:
			refused = append(refused, name)
		}
	}
	return accepted, refused, old
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
