package check

import (
	"crypto/x509"
	"time"

	"github.com/renewd/renewd/internal/chain"
)

// DefaultWarnDays is the most days before the leaf expires that `renewd
// check` warns by default (chain.DefaultWarn): for shorter-lived
// certificates the threshold is a third of their lifetime.
const DefaultWarnDays = 14

// AutoWarn as Options.WarnDays warns when less than a third of the leaf's
// lifetime is left, and at most DefaultWarnDays before it expires
// (chain.WarnBefore): `renewd check`'s default.
const AutoWarn = -1

// Options are what judging depends on besides the certificates. They are
// the seams tests control: the trust store and the clock.
type Options struct {
	// Roots are the trust anchors: the system pool plus trust.extra_roots,
	// as chain.LoadRoots returns them. nil means the system pool.
	Roots *x509.CertPool
	// Now is the time validity is judged at; zero means time.Now().
	Now time.Time
	// WarnDays warns when the leaf has fewer days left; 0 never warns;
	// AutoWarn scales the threshold to the leaf's lifetime.
	WarnDays int
}

func (o Options) now() time.Time {
	if o.Now.IsZero() {
		return time.Now()
	}
	return o.Now
}

func (o Options) chainOptions() chain.Options {
	return chain.Options{Roots: o.Roots, Now: o.now()}
}

// warnBefore is how long before expiry a leaf with this lifetime is
// "expiring soon".
func (o Options) warnBefore(lifetime time.Duration) time.Duration {
	switch {
	case o.WarnDays == AutoWarn:
		return chain.WarnBefore(lifetime)
	case o.WarnDays <= 0:
		return 0
	default:
		return time.Duration(o.WarnDays) * 24 * time.Hour
	}
}

// Judge judges certs as a TLS server sent them (certs[0] is the leaf, the
// rest in the order sent) for a client that asked for host, with the chain
// judge every part of renewd shares (chain.Analyze): the path, key usage,
// names, validity and crypto. An empty host skips the names check. It
// never fetches anything (no AIA, no revocation), so it answers as
// WeChat, Android and curl do, not as a desktop browser. No OCSP response
// was stapled: a must-staple leaf fails. The Report's Address and
// Protocols are left for the caller; Source is Served and SNI is host.
func Judge(certs []*x509.Certificate, host string, opts Options) *Report {
	r := judgeServed(served{certs: certs}, host, opts)
	r.SNI = host
	r.sortFindings()
	return r
}

// served is one certificate chain a server sent, and whether a stapled
// OCSP response came with it.
type served struct {
	certs []*x509.Certificate
	ocsp  []byte
}

func judgeServed(s served, host string, opts Options) *Report {
	r := &Report{Source: Served}
	a := chain.Analyze(s.certs, opts.chainOptions())
	if a.Leaf == nil {
		r.add(Chain, Fail, "no certificate was sent")
		return r
	}
	judgeAnalysis(r, a, opts)
	if host != "" {
		judgeHost(r, a.Leaf, host)
	}
	judgeOCSP(r, a, len(s.ocsp) > 0)
	return r
}

// JudgeStored judges a stored fullchain.pem and privkey.pem for a
// certificate configured with domains: like Judge, but every domain must be
// covered (a wildcard domain by the same wildcard SAN) and the key must match
// the leaf. Source is Stored; the caller sets Target and File.
func JudgeStored(fullchain, key []byte, domains []string, opts Options) *Report {
	r := &Report{Source: Stored}
	a, ok := judgeFileChain(r, "fullchain.pem", fullchain, opts)
	if ok {
		judgeDomains(r, a.Leaf, domains)
		judgeKey(r, a.Leaf, "privkey.pem", key)
	}
	r.sortFindings()
	return r
}

// JudgeFile judges a PEM chain file as nginx would serve it
// (`renewd check FILE.pem`): the leaf first, then its intermediates. The
// names are listed, not matched (no host was asked for); with keyPEM (not
// nil) the key must match the leaf. Source is File; the caller sets
// Target and File.
func JudgeFile(fullchain, keyPEM []byte, opts Options) *Report {
	r := &Report{Source: File}
	a, ok := judgeFileChain(r, "the file", fullchain, opts)
	if ok {
		judgeSANs(r, a.Leaf)
		if keyPEM != nil {
			judgeKey(r, a.Leaf, "the key file", keyPEM)
		}
	}
	r.sortFindings()
	return r
}

// judgeFileChain parses and judges a chain read from disk. A must-staple
// leaf is a warning: whether nginx will staple is not known here.
func judgeFileChain(r *Report, what string, data []byte, opts Options) (*chain.Analysis, bool) {
	certs, err := chain.ParsePEM(data)
	if err != nil {
		r.add(Files, Fail, "%s: %v", what, err)
		return nil, false
	}
	a := chain.Analyze(certs, opts.chainOptions())
	judgeAnalysis(r, a, opts)
	judgeOCSP(r, a, false)
	return a, true
}

// aspectCheck is the Check each of the chain judge's aspects is reported
// under.
var aspectCheck = map[chain.Aspect]Check{
	chain.AspectChain:    Chain,
	chain.AspectValidity: Validity,
	chain.AspectCrypto:   Crypto,
	chain.AspectUsage:    Usage,
}

// judgeAnalysis turns the chain judge's problems into findings, and adds
// a passing finding for each aspect without a failure.
func judgeAnalysis(r *Report, a *chain.Analysis, opts Options) {
	r.Certificates = summarize(a.Certs)
	r.Path = pathEntries(a.Path)
	r.chainErr = a.Err()
	for _, p := range a.Problems {
		if p.Kind == chain.KindMustStaple {
			continue // judgeOCSP's
		}
		sev := Warn
		if p.Fatal {
			sev = Fail
		}
		r.add(aspectCheck[p.Aspect], sev, "%s", p.Message)
	}
	if !r.has(Chain, Fail) {
		r.add(Chain, Pass, "complete: %s", pathString(r.Path))
	}
	judgeLeafDates(r, a, opts)
	if !r.has(Usage, Fail) {
		r.add(Usage, Pass, "%s", usageSummary(a.Leaf))
	}
	if !r.has(Crypto, Fail) {
		r.add(Crypto, Pass, "%s", cryptoSummary(a))
	}
}

// has reports whether r has a finding of check c with severity s.
func (r *Report) has(c Check, s Severity) bool {
	for _, f := range r.Findings {
		if f.Check == c && f.Severity == s {
			return true
		}
	}
	return false
}

// judgeOCSP judges a must-staple leaf: served, it needs a stapled
// response (gnutls refuses it otherwise); on disk it is a warning.
func judgeOCSP(r *Report, a *chain.Analysis, stapled bool) {
	if !chain.MustStaple(a.Leaf) {
		return
	}
	var msg string
	for _, p := range a.Problems {
		if p.Kind == chain.KindMustStaple {
			msg = p.Message
		}
	}
	switch {
	case r.Source != Served:
		r.add(OCSP, Warn, "%s", msg)
	case stapled:
		r.add(OCSP, Pass, "the leaf requires a stapled OCSP response (must-staple), and the server staples one")
	default:
		r.add(OCSP, Fail, "the server staples no OCSP response, and %s", msg)
	}
}

func pathEntries(path []chain.Link) []PathEntry {
	out := make([]PathEntry, len(path))
	for i, l := range path {
		out[i] = PathEntry{Subject: l.Name, From: string(l.From)}
	}
	return out
}
