package chain

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"strings"
)

// judgeOrder warns when the given certificates on the path are not in path
// order. Every client renewd is tested with reorders, and TLS 1.3 (RFC
// 8446 section 4.4.2) lets them; TLS 1.2 (RFC 5246 section 7.4.2) requires
// the order, and TLS stacks that take an issuer only from the certificates
// after it (mbedTLS, on many embedded devices) fail without it. The leaf
// not coming first is findLeaf's fatal problem.
func (a *Analysis) judgeOrder() {
	prev, inOrder := 0, true
	var steps []string
	for _, l := range a.Path {
		if l.Pos == 0 {
			continue
		}
		if l.Pos < prev {
			inOrder = false
		}
		prev = l.Pos
		steps = append(steps, fmt.Sprintf("%s (sent as %d)", l.Name, l.Pos))
	}
	if !inOrder && !a.Has(KindLeafNotFirst) {
		a.add(AspectChain, KindOrder, false, nil,
			"wrong order: the path is %s; put them in that order, each certificate followed by its issuer: the clients renewd is tested with reorder, but TLS 1.2 requires the order and some embedded TLS stacks (mbedTLS) fail without it",
			strings.Join(steps, " -> "))
	}
}

// judgeExtras warns about what was given but is not on the path: a root
// (clients have it already), duplicates, expired copies, cross-signed
// alternatives and unrelated certificates. A copy that shadows its issuer
// is givenIssuer's fatal problem.
func (a *Analysis) judgeExtras() {
	for i, c := range a.Certs {
		switch {
		case c == a.Leaf && i == a.pos(c)-1:
		case a.onPathAt(i):
			if a.Trusted && isSelfSigned(c) && len(a.Path) > 1 {
				a.add(AspectChain, KindRootSent, false, c,
					"root sent needlessly: certificate %d %q is a trust anchor clients must already have; sending it only makes every handshake bigger",
					i+1, Describe(c))
			}
		case a.reported(c) && i == a.pos(c)-1:
		default:
			a.judgeExtra(i, c)
		}
	}
}

func (a *Analysis) judgeExtra(i int, c *x509.Certificate) {
	if j := a.firstCopy(c); j < i {
		a.add(AspectChain, KindDuplicate, false, c, "certificate %d %q is sent twice (also as %d): remove the copy", i+1, Describe(c), j+1)
		return
	}
	twin := a.pathTwin(c)
	switch {
	case a.isAnchor(c):
		a.add(AspectChain, KindRootSent, false, c,
			"root sent needlessly: certificate %d %q is a trust anchor clients must already have; sending it only makes every handshake bigger",
			i+1, Describe(c))
	case twin != nil && !validAt(c, a.now):
		a.add(AspectChain, KindExtra, false, c,
			"certificate %d %q is an expired or not yet valid copy (valid %s to %s) of %s: remove it; gnutls refuses the chain when such a copy comes before the current one",
			i+1, Describe(c), rfc3339(c.NotBefore), rfc3339(c.NotAfter), a.name(twin))
	case isSelfSigned(c):
		a.add(AspectChain, KindExtra, false, c, "certificate %d %q is a root that is not on the path to a trusted root: remove it", i+1, Describe(c))
	case twin != nil || a.related(c):
		a.add(AspectChain, KindExtra, false, c,
			"certificate %d %q is not on the path to a trusted root (an alternative, cross-signed issuer?): remove it unless old clients need it", i+1, Describe(c))
	default:
		a.add(AspectChain, KindExtra, false, c, "certificate %d %q is unrelated to this chain: remove it", i+1, Describe(c))
	}
}

// isAnchor reports whether c is the trusted root the path ends at.
func (a *Analysis) isAnchor(c *x509.Certificate) bool {
	last := a.Path[len(a.Path)-1]
	return a.Trusted && last.From == FromTrustStore && bytes.Equal(last.Cert.Raw, c.Raw)
}

// onPathAt reports whether the certificate given at index i is on the path.
func (a *Analysis) onPathAt(i int) bool {
	for _, l := range a.Path {
		if l.Pos == i+1 {
			return true
		}
	}
	return false
}

// reported reports whether a fatal problem is about c already.
func (a *Analysis) reported(c *x509.Certificate) bool {
	for _, p := range a.Problems {
		if p.Cert == c && (p.Kind == KindShadowed || p.Kind == KindWrongIssuer) {
			return true
		}
	}
	return false
}

// firstCopy returns the index of the first certificate given with c's DER.
func (a *Analysis) firstCopy(c *x509.Certificate) int {
	for i, o := range a.Certs {
		if bytes.Equal(o.Raw, c.Raw) {
			return i
		}
	}
	return -1
}

// pathTwin returns the certificate on the path with c's subject and key:
// the current version of an old copy, or the other half of a cross-sign.
func (a *Analysis) pathTwin(c *x509.Certificate) *x509.Certificate {
	for _, l := range a.Path {
		if l.Cert != nil && bytes.Equal(l.Cert.RawSubject, c.RawSubject) &&
			bytes.Equal(l.Cert.RawSubjectPublicKeyInfo, c.RawSubjectPublicKeyInfo) {
			return l.Cert
		}
	}
	return nil
}

// related reports whether c shares a name with the path: it has the subject
// or the issuer of a certificate on it, as a cross-signed twin does.
func (a *Analysis) related(c *x509.Certificate) bool {
	for _, l := range a.Path {
		if l.Cert != nil && (bytes.Equal(c.RawSubject, l.Cert.RawSubject) || bytes.Equal(c.RawSubject, l.Cert.RawIssuer)) {
			return true
		}
	}
	return false
}
