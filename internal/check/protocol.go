package check

import (
	"crypto/tls"
	"strings"
	"time"
)

// tlsVersions are the versions Server probes, oldest first.
var tlsVersions = []uint16{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13}

// versionResult is what the probes learned about one TLS version.
type versionResult struct {
	version  uint16
	accepted *bool  // nil: not probed
	reason   string // why it was refused or not probed
	// legacy is the cipher suite a TLS 1.2 server agreed to when it
	// accepted none of the suites current default clients offer.
	legacy string
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

var yes, no = true, false

// versionResults sums the probes up per version: accepted when a probe
// got the server's certificate (a TLS 1.2 server that did so only for the
// legacy probe accepted legacy suites only), refused when the server
// turned every probe down, else not probed.
func versionResults(hs []handshakeResult, timeout time.Duration) []versionResult {
	var out []versionResult
	for _, v := range tlsVersions {
		var mine []handshakeResult
		for _, h := range hs {
			if h.spec.version == v {
				mine = append(mine, h)
			}
		}
		if len(mine) > 0 {
			out = append(out, versionOf(v, mine, timeout))
		}
	}
	return out
}

func versionOf(v uint16, hs []handshakeResult, timeout time.Duration) versionResult {
	res := versionResult{version: v}
	var legacy *handshakeResult
	for i, h := range hs {
		switch {
		case len(h.certs) == 0:
		case h.spec.legacy:
			legacy = &hs[i]
		default:
			res.accepted = &yes
			return res
		}
	}
	if legacy != nil {
		res.accepted, res.legacy = &yes, tls.CipherSuiteName(legacy.suite)
		return res
	}
	var reasons []string
	for _, h := range hs {
		c := h.classify(timeout)
		if c.accepted != nil && res.accepted == nil {
			res.accepted = c.accepted
		}
		if !strings.Contains(strings.Join(reasons, "; "), c.reason) {
			reasons = append(reasons, c.reason)
		}
	}
	res.reason = strings.Join(reasons, "; ")
	return res
}

// judgeProtocols judges the versions and cipher suites: current default
// clients (Go's, above all, which offers the fewest suites) must be able
// to complete a handshake, in TLS 1.2 as well as TLS 1.3 (the
// compatibility rule in docs/check.md: WeChat mini-programs, Android
// before 10 and Java 8 before 8u261 speak no TLS 1.3); TLS 1.0 and 1.1
// should be refused (RFC 8996). A version that could not be probed is a
// warning, never a guess.
func judgeProtocols(r *Report, results []versionResult) {
	r.Protocols = protocolsOf(results)
	accepted, refused, old := sortVersions(results)
	var v12, v13 versionResult
	problems := false
	for _, v := range results {
		switch v.version {
		case tls.VersionTLS12:
			v12 = v
		case tls.VersionTLS13:
			v13 = v
		}
		if v.accepted == nil {
			r.add(Protocol, Warn, "%s not probed: %s", tls.VersionName(v.version), v.reason)
			problems = true
		}
	}
	if judgeTLS12(r, v12, isTrue(v13.accepted), orNone(accepted)) {
		problems = true
	}
	if len(old) > 0 {
		r.add(Protocol, Warn, "%s accepted: deprecated (RFC 8996) and refused by current clients; in nginx: ssl_protocols TLSv1.2 TLSv1.3;", strings.Join(old, " and "))
		problems = true
	}
	if !problems {
		r.add(Protocol, Pass, "accepted: %s; refused: %s", orNone(accepted), orNone(refused))
	}
}

// judgeTLS12 judges TLS 1.2 and reports whether it found a problem.
func judgeTLS12(r *Report, v12 versionResult, tls13 bool, accepted string) bool {
	switch {
	case v12.accepted == nil:
		return false // reported as not probed
	case v12.legacy != "" && !tls13:
		r.add(Protocol, Fail, "TLS 1.2 is accepted only with the legacy cipher suite %s, which Go's default client and gnutls do not offer, and TLS 1.3 is not accepted: current default clients cannot connect; in nginx: ssl_ciphers %s; ssl_protocols TLSv1.2 TLSv1.3;",
			v12.legacy, modernSuiteNames)
	case v12.legacy != "":
		r.add(Protocol, Warn, "TLS 1.2 is accepted only with the legacy cipher suite %s: clients without TLS 1.3 whose defaults are current (Go, gnutls) cannot connect; in nginx: ssl_ciphers %s;",
			v12.legacy, modernSuiteNames)
	case *v12.accepted:
		return false
	case strings.Contains(v12.reason, "handshake failure") && tls13:
		r.add(Protocol, Fail, "TLS 1.2 handshakes fail (%s; accepted: %s): the server speaks TLS 1.2 but agrees on no cipher suite and certificate with TLS 1.2 clients; check ssl_ciphers, and that the certificate may be used with TLS 1.2 (see the usage finding); compatibility rule \"TLS 1.2 required\": WeChat mini-programs, Android before 10 and Java 8 before 8u261 speak no TLS 1.3",
			v12.reason, accepted)
	case !tls13:
		r.add(Protocol, Fail, "TLS 1.2 and TLS 1.3 refused (%s; accepted: %s): current clients cannot connect; in nginx: ssl_protocols TLSv1.2 TLSv1.3;",
			v12.reason, accepted)
	default:
		r.add(Protocol, Fail, "TLS 1.2 refused (%s; accepted: %s): compatibility rule \"TLS 1.2 required\": WeChat mini-programs, Android before 10 and Java 8 before 8u261 speak no TLS 1.3 and cannot connect; in nginx: ssl_protocols TLSv1.2 TLSv1.3;",
			v12.reason, accepted)
	}
	return true
}

func isTrue(b *bool) bool { return b != nil && *b }

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
