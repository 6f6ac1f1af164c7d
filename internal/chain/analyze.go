package chain

import (
	"crypto/x509"
	"fmt"
	"slices"
	"time"
)

// From says where a certificate on a path comes from.
type From string

// Where a Link's certificate comes from. The values are the ones
// `renewd check --json` prints.
const (
	FromSent       From = "chain"       // sent by the server, or in the file
	FromTrustStore From = "trust_store" // the trusted root the path ends at
	FromMissing    From = "missing"     // an issuer nobody supplied
)

// Link is one step of the path from the leaf toward a trust anchor.
type Link struct {
	Cert *x509.Certificate // nil when missing
	Pos  int               // position among the certificates given, from 1; 0 when not given
	From From
	Name string // Describe(Cert), or the name of the missing issuer
}

// Aspect is what a Problem is about; `renewd check` reports each aspect on
// lines of its own.
type Aspect string

// The aspects.
const (
	AspectChain    Aspect = "chain"    // the path to a trusted root, and how it is sent
	AspectValidity Aspect = "validity" // dates
	AspectCrypto   Aspect = "crypto"   // signature algorithms and keys
	AspectUsage    Aspect = "usage"    // what the leaf may be used for
)

// Kind classifies a Problem for callers that act on one kind.
type Kind string

// The kinds of problem.
const (
	KindIncomplete    Kind = "incomplete"     // an issuer is neither given nor trusted
	KindUntrustedRoot Kind = "untrusted_root" // the path ends at a root that is not trusted
	KindWrongIssuer   Kind = "wrong_issuer"   // a certificate named like the issuer did not issue it
	KindShadowed      Kind = "shadowed"       // an unusable copy of an issuer comes before the good one
	KindRejected      Kind = "rejected"       // the trusted root, or Go's verifier, rejects the path
	KindNoLeaf        Kind = "no_leaf"        // the first certificate is a CA and no leaf was given
	KindLeafNotFirst  Kind = "leaf_not_first" // the leaf is given, but not first
	KindOrder         Kind = "order"          // intermediates out of path order
	KindDuplicate     Kind = "duplicate"      // a certificate given twice
	KindRootSent      Kind = "root_sent"      // a trusted root sent along
	KindExtra         Kind = "extra"          // a certificate not on the path
	KindUnfitCA       Kind = "unfit_ca"       // a CA certificate on the path may not issue the one below
	KindLeafUsage     Kind = "leaf_usage"     // the leaf's key usage or extended key usage forbid a TLS server
	KindMustStaple    Kind = "must_staple"    // the leaf requires a stapled OCSP response
	KindExpired       Kind = "expired"        // a certificate on the path expired
	KindNotYetValid   Kind = "not_yet_valid"  // a certificate on the path is not valid yet
	KindExpiresFirst  Kind = "expires_first"  // an issuer expires before the leaf
	KindWeakSignature Kind = "weak_signature" // SHA-1 or MD5
	KindWeakKey       Kind = "weak_key"       // RSA under 2048 bits, EC under 256 bits
	KindKeyType       Kind = "key_type"       // a key type clients do not accept
)

// Problem is one reason strict clients reject a chain (Fatal), or one thing
// that should change although they accept it (a warning).
type Problem struct {
	Aspect  Aspect
	Kind    Kind
	Fatal   bool
	Cert    *x509.Certificate // the certificate it is about, if one
	Message string            // what is wrong and what to change
}

// Analysis is the judgement of a set of certificates as a TLS server sends
// them or a chain file holds them. It is what Verify, Build (through
// Verify), the check after a deploy and `renewd check` all decide by.
type Analysis struct {
	Certs []*x509.Certificate // as given
	Leaf  *x509.Certificate
	// Path runs from the leaf toward a trust anchor: the certificates given,
	// then the trusted root, or the issuer that is missing.
	Path []Link
	// Trusted reports that Path ends at a trusted root (a given root that is
	// in the trust store counts).
	Trusted  bool
	Problems []Problem

	now time.Time
}

// Analyze judges certs the way strict TLS clients do: OpenSSL (curl and
// Python alike), gnutls, Java and Go, each using only
// the certificates given, never fetching a missing one. certs[0] should be
// the leaf; the rest may come in any order.
//
// It finds the path from the leaf to a root in opts.Roots as OpenSSL does
// (a trusted issuer first, else the first certificate given whose subject
// is the issuer's name) and judges: the path (a missing or wrong issuer, a
// root not trusted, a CA certificate unfit to issue), how the certificates
// are given (leaf first, path order, duplicates, extras, a root), dates at
// opts.Now, what the leaf may be used for (key usage, extended key usage,
// must-staple), and signature algorithms and keys. A path it calls
// complete also passes Go's x509.Verify. Like the clients it models it
// does no revocation checking and no host name check.
func Analyze(certs []*x509.Certificate, opts Options) *Analysis {
	return analyze(certs, opts, nil)
}

// analyze is Analyze; prior, if not nil, is an x509 verification already
// made in this call, which crossCheck takes instead of asking x509 the same
// question again.
func analyze(certs []*x509.Certificate, opts Options, prior *verification) *Analysis {
	a := &Analysis{Certs: certs, now: opts.now()}
	if len(certs) == 0 || slices.Contains(certs, nil) {
		a.add(AspectChain, KindNoLeaf, true, nil, "no certificate was given")
		return a
	}
	a.findLeaf()
	a.walk(opts)
	a.judgeOrder()
	a.judgeExtras()
	a.judgeDates()
	a.judgeLeafUsage()
	a.judgeCAs()
	a.judgeCrypto()
	a.crossCheck(opts, prior)
	return a
}

// Fatal returns the problems strict clients reject the chain for.
func (a *Analysis) Fatal() []Problem {
	var out []Problem
	for _, p := range a.Problems {
		if p.Fatal {
			out = append(out, p)
		}
	}
	return out
}

// Has reports whether a has a problem of kind k.
func (a *Analysis) Has(k Kind) bool {
	return slices.ContainsFunc(a.Problems, func(p Problem) bool { return p.Kind == k })
}

func (a *Analysis) add(aspect Aspect, k Kind, fatal bool, c *x509.Certificate, format string, args ...any) {
	a.Problems = append(a.Problems, Problem{Aspect: aspect, Kind: k, Fatal: fatal, Cert: c, Message: fmt.Sprintf(format, args...)})
}

// pos returns c's position among the certificates given, from 1, or 0.
func (a *Analysis) pos(c *x509.Certificate) int {
	for i, o := range a.Certs {
		if o == c {
			return i + 1
		}
	}
	return 0
}

// name names c for people: its position when it was given.
func (a *Analysis) name(c *x509.Certificate) string {
	if p := a.pos(c); p > 0 {
		return fmt.Sprintf("certificate %d %q", p, Describe(c))
	}
	return fmt.Sprintf("%q", Describe(c))
}

// findLeaf picks the leaf: the first certificate unless it is a CA and
// another one is not. nginx sends the first certificate of the file as
// the server's own, so a leaf further down is a fatal mistake.
func (a *Analysis) findLeaf() {
	first := a.Certs[0]
	a.Leaf = first
	if !first.IsCA {
		return
	}
	for i, c := range a.Certs[1:] {
		if !c.IsCA {
			a.Leaf = c
			a.add(AspectChain, KindLeafNotFirst, true, c,
				"the leaf %q is certificate %d, after the CA certificate %q: put the leaf first (nginx sends the first certificate of ssl_certificate as the server's own)",
				Describe(c), i+2, Describe(first))
			return
		}
	}
	if len(first.DNSNames) > 0 || len(first.IPAddresses) > 0 {
		return // a CA certificate with names: a self-made server certificate
	}
	a.add(AspectChain, KindNoLeaf, true, first,
		"the first certificate %q is a CA certificate, not a server's own: put the server certificate first", Describe(first))
}
