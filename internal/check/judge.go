package check

import (
	"crypto/x509"
	"slices"
	"time"
)

// DefaultWarnDays is how many days before the leaf expires `renewd check`
// starts warning, unless --warn-days says otherwise.
const DefaultWarnDays = 14

// Options are what judging depends on besides the certificates. They are
// the seams tests control: the trust store and the clock.
type Options struct {
	// Roots are the trust anchors: the system pool plus trust.extra_roots,
	// as chain.LoadRoots returns them. nil means the system pool.
	Roots *x509.CertPool
	// Now is the time validity is judged at; zero means time.Now().
	Now time.Time
	// WarnDays warns when the leaf has fewer days left; 0 never warns.
	// Callers that want the usual threshold pass DefaultWarnDays.
	WarnDays int
}

func (o Options) now() time.Time {
	if o.Now.IsZero() {
		return time.Now()
	}
	return o.Now
}

// Judge judges certs as a TLS server sent them (certs[0] is the leaf, the
// rest in the order sent) for a client that asked for host: chain, names,
// validity and crypto. An empty host skips the names check. It never fetches
// anything (no AIA, no revocation), so it answers as WeChat, Android and curl
// do, not as a desktop browser. The Report's Address and Protocols are left
// for the caller; Source is Served and SNI is host.
func Judge(certs []*x509.Certificate, host string, opts Options) *Report {
	r := &Report{Source: Served, SNI: host}
	if len(certs) == 0 || slices.Contains(certs, nil) {
		r.add(Chain, Fail, "no certificate was sent")
		return r
	}
	r.Certificates = summarize(certs)
	path := judgeChain(r, certs, opts)
	if host != "" {
		judgeHost(r, certs[0], host)
	}
	judgeValidity(r, path, opts)
	judgeCrypto(r, path)
	r.sortFindings()
	return r
}

// JudgeStored judges a stored fullchain.pem and privkey.pem for a
// certificate configured with domains: like Judge, but every domain must be
// covered (a wildcard domain by the same wildcard SAN) and the key must match
// the leaf. Source is Stored; the caller sets Target and File.
func JudgeStored(fullchain, key []byte, domains []string, opts Options) *Report {
	r := &Report{Source: Stored}
	certs, err := parseChain(fullchain)
	if err != nil {
		r.add(Files, Fail, "fullchain.pem: %v", err)
		return r
	}
	r.Certificates = summarize(certs)
	path := judgeChain(r, certs, opts)
	judgeDomains(r, certs[0], domains)
	judgeValidity(r, path, opts)
	judgeCrypto(r, path)
	judgeKey(r, certs[0], key)
	r.sortFindings()
	return r
}
