package check

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/renewd/renewd/internal/chain"
)

// maxPath bounds the walk up the sent certificates; it only matters for
// hostile input.
const maxPath = 10

var serverAuth = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}

// judgeChain judges whether certs lead from the leaf to a trusted root using
// only what was sent, and how they were sent (order, extras, a root). It
// returns the path for the other checks: leaf first, ending at the trust
// anchor when the chain is complete, else as far as the sent certificates
// reach.
func judgeChain(r *Report, certs []*x509.Certificate, opts Options) []*x509.Certificate {
	if leaf := certs[0]; leaf.IsCA && len(leaf.DNSNames) == 0 && len(leaf.IPAddresses) == 0 {
		r.add(Chain, Fail, "the first certificate %q is a CA certificate, not the server's own: the server certificate must come first", chain.Describe(leaf))
	}
	path, err := verifiedPath(certs, opts)
	trusted := err == nil
	if trusted {
		r.Path = pathEntries(path, true)
		r.add(Chain, Pass, "complete: %s", pathString(r.Path))
	} else {
		path = walk(certs)
		r.Path = pathEntries(path, false)
		diagnose(r, path, err, opts)
	}
	judgeOrder(r, certs, path)
	judgeExtras(r, certs, path, trusted)
	return path
}

// verifiedPath verifies the leaf to opts.Roots with only the sent
// certificates as intermediates, the way a client that never fetches
// does. Completeness is judged apart from dates: when verification fails at
// opts.Now and a sent certificate is outside its validity then, it is tried
// again at a time when they all are valid. The expiry is the validity check's
// finding (x509 reports an expired intermediate only as an unknown
// authority, which would send people looking for a missing certificate).
func verifiedPath(certs []*x509.Certificate, opts Options) ([]*x509.Certificate, error) {
	now := opts.now()
	path, err := verifyAt(certs, opts.Roots, now)
	if err == nil {
		return path, nil
	}
	walked := walk(certs)
	if t, ok := commonTime(walked); ok && !allValid(walked, now) {
		if path, err2 := verifyAt(certs, opts.Roots, t); err2 == nil {
			return path, nil
		}
	}
	return nil, err
}

// verifyAt returns the best verified chain at t, trust anchor included.
func verifyAt(certs []*x509.Certificate, roots *x509.CertPool, t time.Time) ([]*x509.Certificate, error) {
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	chains, err := certs[0].Verify(x509.VerifyOptions{
		Intermediates: inter, Roots: roots, CurrentTime: t, KeyUsages: serverAuth,
	})
	if err != nil {
		return nil, err
	}
	best := chains[0]
	for _, ch := range chains[1:] {
		if len(ch) < len(best) {
			best = ch
		}
	}
	return best, nil
}

// walk follows issuers from the leaf through the sent certificates, by name
// and signature, as far as they go. A signature with an insecure algorithm
// (SHA-1) still links, so that the crypto check can name it.
func walk(certs []*x509.Certificate) []*x509.Certificate {
	path := []*x509.Certificate{certs[0]}
	used := map[*x509.Certificate]bool{certs[0]: true}
	for cur := certs[0]; !isSelfSigned(cur) && len(path) < maxPath; {
		next := sentIssuer(cur, certs[1:], used)
		if next == nil {
			break
		}
		used[next] = true
		path = append(path, next)
		cur = next
	}
	return path
}

func sentIssuer(child *x509.Certificate, certs []*x509.Certificate, used map[*x509.Certificate]bool) *x509.Certificate {
	for _, c := range certs {
		if !used[c] && issuedBy(child, c) {
			return c
		}
	}
	return nil
}

// issuedBy reports whether parent's name and key issued child.
func issuedBy(child, parent *x509.Certificate) bool {
	if !bytes.Equal(child.RawIssuer, parent.RawSubject) {
		return false
	}
	return signatureOK(parent.CheckSignature(child.SignatureAlgorithm, child.RawTBSCertificate, child.Signature))
}

// isSelfSigned reports whether c names and signs itself: a root, or a
// self-signed leaf.
func isSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) &&
		signatureOK(c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature))
}

// signatureOK accepts a valid signature, and one x509 refuses to check
// only because its algorithm is insecure: that is the crypto check's finding.
func signatureOK(err error) bool {
	var insecure x509.InsecureAlgorithmError
	return err == nil || errors.As(err, &insecure)
}

// commonTime returns a time at which every certificate of path is valid.
func commonTime(path []*x509.Certificate) (time.Time, bool) {
	from, until := path[0].NotBefore, path[0].NotAfter
	for _, c := range path[1:] {
		if c.NotBefore.After(from) {
			from = c.NotBefore
		}
		if c.NotAfter.Before(until) {
			until = c.NotAfter
		}
	}
	return from, !from.After(until)
}

func allValid(path []*x509.Certificate, t time.Time) bool {
	for _, c := range path {
		if t.Before(c.NotBefore) || t.After(c.NotAfter) {
			return false
		}
	}
	return true
}

// diagnose says why the sent certificates do not verify, given the path
// walked through them.
func diagnose(r *Report, path []*x509.Certificate, err error, opts Options) {
	last := path[len(path)-1]
	if c := insecureLink(path); c != nil {
		r.add(Chain, Fail, "not trusted: %q is signed with %s, which current clients reject", chain.Describe(c), c.SignatureAlgorithm)
		return
	}
	switch {
	case isSelfSigned(last) && len(path) == 1:
		r.add(Chain, Fail, "self-signed: %q is its own issuer and not in the trust store, so every client that was not told to trust it refuses it", chain.Describe(last))
	case isSelfSigned(last):
		r.add(Chain, Fail, "untrusted root: the chain ends at the self-signed %q, which is not in the trust store", chain.Describe(last))
	case issuerMissing(last, opts):
		r.Path = append(r.Path, PathEntry{Subject: last.Issuer.String(), From: FromMissing})
		r.add(Chain, Fail, "incomplete: no certificate for issuer %q of %q (%s)", last.Issuer.String(), chain.Describe(last), fetchNote(last, last == path[0]))
	default:
		r.add(Chain, Fail, "not trusted: %s", verifyError(err))
	}
}

// verifyError names the certificate x509 rejected, which its message
// leaves out.
func verifyError(err error) string {
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) && invalid.Cert != nil {
		return fmt.Sprintf("%q: %v", chain.Describe(invalid.Cert), err)
	}
	return err.Error()
}

// insecureLink returns the first certificate on path whose signature a
// client checks and rejects for its algorithm, or nil. A trust anchor's
// self-signature is never checked.
func insecureLink(path []*x509.Certificate) *x509.Certificate {
	for _, c := range path {
		if weakSignature(c.SignatureAlgorithm) && !(isSelfSigned(c) && len(path) > 1) {
			return c
		}
	}
	return nil
}

// issuerMissing reports whether last's issuer is missing from the trust
// store too, judged at a time last is valid so that an expiry is not taken
// for a gap. x509 says "possibly because of" when it found a root by the
// issuer's name and rejected it (expired, wrong key): then nothing is
// missing, and the default diagnosis quotes x509.
func issuerMissing(last *x509.Certificate, opts Options) bool {
	t := opts.now()
	if t.Before(last.NotBefore) || t.After(last.NotAfter) {
		t = last.NotBefore
	}
	_, err := last.Verify(x509.VerifyOptions{
		Roots: opts.Roots, CurrentTime: t, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	var unknown x509.UnknownAuthorityError
	return errors.As(err, &unknown) && !strings.Contains(err.Error(), "possibly because of")
}

// fetchNote says where the missing issuer could be fetched from, and that
// strict clients do not.
func fetchNote(last *x509.Certificate, isLeaf bool) string {
	who := fmt.Sprintf("%q", chain.Describe(last))
	if isLeaf {
		who = "the leaf"
	}
	if len(last.IssuingCertificateURL) == 0 {
		return who + " names no URL to fetch it from: get it from your CA and send it after " + who +
			"; strict clients like WeChat, Android and curl never fetch a missing intermediate"
	}
	return who + " names " + strings.Join(last.IssuingCertificateURL, ", ") +
		" as where to fetch it; strict clients like WeChat, Android and curl do not fetch it"
}

// pathEntries lists path for the report. A trusted path ends at the trust
// anchor.
func pathEntries(path []*x509.Certificate, trusted bool) []PathEntry {
	out := make([]PathEntry, len(path))
	for i, c := range path {
		out[i] = PathEntry{Subject: chain.Describe(c), From: FromChain}
		if trusted && i > 0 && i == len(path)-1 {
			out[i].From = FromTrustStore
		}
	}
	return out
}

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
