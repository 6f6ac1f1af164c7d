package check

import (
	"crypto/x509"
	"slices"
	"strings"

	"github.com/renewd/renewd/internal/chain"
)

// pathString writes a path for people: subjects joined by arrows, the
// trust anchor and a missing issuer marked.
func pathString(path []PathEntry) string {
	parts := make([]string, len(path))
	for i, p := range path {
		switch p.From {
		case FromTrustStore:
			parts[i] = p.Subject + " (trust store)"
		case FromMissing:
			parts[i] = p.Subject + " (missing)"
		default:
			parts[i] = p.Subject
		}
	}
	return strings.Join(parts, " -> ")
}

// usageSummary says what the leaf may be used for, when that suits a TLS
// server.
func usageSummary(leaf *x509.Certificate) string {
	ku := "any (no key usage extension)"
	if leaf.KeyUsage&x509.KeyUsageDigitalSignature != 0 {
		ku = "digital signature"
	}
	eku := "any (no extended key usage extension)"
	if slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
		eku = "server authentication"
	}
	return "fit for a TLS server: key usage " + ku + "; extended key usage " + eku
}

// cryptoSummary names the leaf's key and the signature algorithms clients
// check on the path (not the trust anchor's self-signature).
func cryptoSummary(a *chain.Analysis) string {
	var algs []string
	for i, l := range a.Path {
		c := l.Cert
		anchor := a.Trusted && i == len(a.Path)-1 && i > 0
		if c == nil || l.From == chain.FromTrustStore || anchor && string(c.RawIssuer) == string(c.RawSubject) {
			continue
		}
		if alg := c.SignatureAlgorithm.String(); !slices.Contains(algs, alg) {
			algs = append(algs, alg)
		}
	}
	return "leaf key " + chain.KeyKind(a.Leaf.PublicKey) + "; signatures " + strings.Join(algs, ", ")
}
