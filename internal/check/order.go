package check

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/renewd/renewd/internal/chain"
)

// judgeOrder fails a chain whose certificates on the path were not sent in
// path order. TLS 1.2 (RFC 5246 section 7.4.2) requires each certificate to
// be followed by its issuer, and some clients do not reorder.
func judgeOrder(r *Report, certs, path []*x509.Certificate) {
	prev, inOrder := 0, true
	var steps []string
	for _, c := range path {
		i := position(certs, c)
		if i < 0 {
			continue // the trust anchor from the store
		}
		if i < prev {
			inOrder = false
		}
		prev = i
		steps = append(steps, fmt.Sprintf("%s (sent as %d)", chain.Describe(c), i+1))
	}
	if !inOrder {
		r.add(Chain, Fail, "wrong order: the path is %s; send them in that order, each certificate followed by its issuer (TLS 1.2 requires it and some clients do not reorder)",
			strings.Join(steps, " -> "))
	}
}

// judgeExtras warns about what was sent but is not on the path: a root
// (clients have it already), duplicates, cross-signed alternatives and
// unrelated certificates.
func judgeExtras(r *Report, certs, path []*x509.Certificate, trusted bool) {
	for i := 1; i < len(certs); i++ {
		c := certs[i]
		if j := position(certs, c); j < i {
			r.add(Chain, Warn, "certificate %d %q is sent twice (also as %d): remove the copy", i+1, chain.Describe(c), j+1)
			continue
		}
		onPath := position(path, c) >= 0
		switch {
		case onPath && trusted && isSelfSigned(c):
			r.add(Chain, Warn, "root sent needlessly: certificate %d %q is a trust anchor clients must already have; sending it only makes every handshake bigger",
				i+1, chain.Describe(c))
		case onPath:
		case isSelfSigned(c):
			r.add(Chain, Warn, "certificate %d %q is a root that is not on the path to a trusted root: remove it", i+1, chain.Describe(c))
		case related(c, path):
			r.add(Chain, Warn, "certificate %d %q is not on the path to a trusted root (an alternative, cross-signed issuer?): remove it unless old clients need it", i+1, chain.Describe(c))
		default:
			r.add(Chain, Warn, "certificate %d %q is unrelated to this chain: remove it", i+1, chain.Describe(c))
		}
	}
}

// position returns the index of the first certificate in certs with c's
// DER, or -1.
func position(certs []*x509.Certificate, c *x509.Certificate) int {
	for i, o := range certs {
		if bytes.Equal(o.Raw, c.Raw) {
			return i
		}
	}
	return -1
}

// related reports whether c shares a name with the path: it has the subject
// or issuer of a certificate on it, as a cross-signed twin does.
func related(c *x509.Certificate, path []*x509.Certificate) bool {
	for _, p := range path {
		if bytes.Equal(c.RawSubject, p.RawSubject) || bytes.Equal(c.RawSubject, p.RawIssuer) {
			return true
		}
	}
	return false
}
