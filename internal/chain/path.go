package chain

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// walk builds a.Path from the leaf up, the way OpenSSL does by default: at
// each step a trusted root that issued the certificate wins (so a
// cross-signed copy sent along does not lead astray), else the first
// certificate given whose subject is the issuer's name. It reports a gap,
// an untrusted root and an issuer that is there by name only.
func (a *Analysis) walk(opts Options) {
	cur := a.Leaf
	a.Path = []Link{a.link(cur)}
	used := map[*x509.Certificate]bool{cur: true}
	for len(a.Path) <= maxPathLen {
		anchor, hint := a.trustedIssuer(cur, opts)
		switch {
		case anchor != nil:
			a.reachAnchor(cur, anchor)
			return
		case isSelfSigned(cur):
			a.untrustedRoot(cur)
			return
		}
		next, found := a.givenIssuer(cur, used)
		if next == nil {
			if !found {
				a.missing(cur, hint)
			}
			return
		}
		used[next] = true
		a.Path = append(a.Path, a.link(next))
		cur = next
	}
	a.add(AspectChain, KindIncomplete, true, cur, "the path is longer than %d certificates: send only the leaf and its intermediates", maxPathLen)
}

// link is the Link of a given certificate.
func (a *Analysis) link(c *x509.Certificate) Link {
	return Link{Cert: c, Pos: a.pos(c), From: FromSent, Name: Describe(c)}
}

// trustedIssuer returns the trusted root that issued c (c itself when c is
// in the trust store), or nil and, when x509 found a root by the issuer's
// name but rejected it, x509's reason. Trust is judged apart from c's own
// dates, which judgeDates reports: at the moment of c's validity nearest
// to the analysis time.
func (a *Analysis) trustedIssuer(c *x509.Certificate, opts Options) (*x509.Certificate, string) {
	t := a.now
	switch {
	case t.Before(c.NotBefore):
		t = c.NotBefore
	case t.After(c.NotAfter):
		t = c.NotAfter
	}
	root, err := verifiedRoot(c, opts.Roots, t)
	switch {
	case err == nil:
		return root, ""
	case strings.Contains(err.Error(), "possibly because of"):
		return nil, err.Error()
	}
	// x509 does not say when the root it found by name is out of its
	// dates; a root that verifies c at the start of c's life was there.
	if root, err := verifiedRoot(c, opts.Roots, c.NotBefore); err == nil && !validAt(root, a.now) {
		return nil, fmt.Sprintf("%q is valid from %s to %s, not at %s: update the trust store, or get a chain to a current root from your CA",
			Describe(root), rfc3339(root.NotBefore), rfc3339(root.NotAfter), rfc3339(a.now))
	}
	return nil, ""
}

// verifiedRoot returns the trusted root c verifies to at t, or c itself
// when it is in the trust store.
func verifiedRoot(c *x509.Certificate, roots *x509.CertPool, t time.Time) (*x509.Certificate, error) {
	chains, err := c.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: t, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return nil, err
	}
	best := chains[0]
	for _, ch := range chains[1:] {
		if len(ch) < len(best) {
			best = ch
		}
	}
	return best[len(best)-1], nil
}

// reachAnchor ends the path at anchor, the trusted root that issued cur,
// or at cur itself when cur is trusted.
func (a *Analysis) reachAnchor(cur, anchor *x509.Certificate) {
	if anchor.Equal(cur) {
		a.Trusted = true
		return
	}
	if !keyIDsMatch(cur, anchor) {
		a.Path = append(a.Path, Link{From: FromMissing, Name: cur.Issuer.String()})
		a.add(AspectChain, KindWrongIssuer, true, cur,
			"%s names the authority key identifier %s, but the trusted root %q with its issuer's name has the subject key identifier %s: OpenSSL-based clients (curl, Python, Android) and gnutls do not take that root as its issuer (\"unable to get local issuer certificate\"); get the intermediate issued by the root your clients trust",
			a.subject(cur), hexID(cur.AuthorityKeyId), Describe(anchor), hexID(anchor.SubjectKeyId))
		return
	}
	a.Path = append(a.Path, Link{Cert: anchor, From: FromTrustStore, Name: Describe(anchor)})
	a.Trusted = true
}

// givenIssuer returns cur's issuer among the certificates given, and
// whether any certificate has the issuer's name. A certificate that has
// the name but did not issue cur is reported here; then it returns nil and
// true. An unusable copy before the issuer is reported as shadowing it.
func (a *Analysis) givenIssuer(cur *x509.Certificate, used map[*x509.Certificate]bool) (*x509.Certificate, bool) {
	var named []*x509.Certificate
	for _, c := range a.Certs {
		if !used[c] && bytes.Equal(c.RawSubject, cur.RawIssuer) {
			named = append(named, c)
		}
	}
	if len(named) == 0 {
		return nil, false
	}
	var signer, usable *x509.Certificate
	for _, c := range named {
		if !signs(c, cur) || !keyIDsMatch(cur, c) {
			continue
		}
		if signer == nil {
			signer = c
		}
		if usable == nil && validAt(c, a.now) {
			usable = c
		}
	}
	if signer == nil {
		a.wrongIssuer(cur, named)
		return nil, true
	}
	if usable == nil {
		usable = signer // out of its dates: judgeDates says so
	}
	if first := named[0]; first != usable {
		a.shadowed(cur, first, usable)
	}
	return usable, true
}

// signs reports whether parent's key signed child. A signature x509 refuses
// to check only because its algorithm is insecure (SHA-1) still links, so
// that judgeCrypto can name it.
func signs(parent, child *x509.Certificate) bool {
	return signatureOK(checkSignature(parent, child))
}

// keyIDsMatch reports whether child's authority key identifier, when it
// has one, is parent's subject key identifier: OpenSSL and gnutls do not
// take a certificate whose key identifier differs as the issuer, even if
// its signature is valid.
func keyIDsMatch(child, parent *x509.Certificate) bool {
	return len(child.AuthorityKeyId) == 0 || len(parent.SubjectKeyId) == 0 ||
		bytes.Equal(child.AuthorityKeyId, parent.SubjectKeyId)
}

func validAt(c *x509.Certificate, t time.Time) bool {
	return !t.Before(c.NotBefore) && !t.After(c.NotAfter)
}

// wrongIssuer reports that the certificates named like cur's issuer did
// not issue it.
func (a *Analysis) wrongIssuer(cur *x509.Certificate, named []*x509.Certificate) {
	a.Path = append(a.Path, Link{From: FromMissing, Name: cur.Issuer.String()})
	c := named[0]
	if signs(c, cur) {
		a.add(AspectChain, KindWrongIssuer, true, c,
			"%s has the name and key of the issuer of %s but is not the one that issued it: %s names the authority key identifier %s, %s has the subject key identifier %s, so OpenSSL-based clients (curl, Python, Android) and gnutls do not use it (\"unable to get local issuer certificate\"); send the intermediate with subject key identifier %s from your CA",
			a.name(c), a.subject(cur), a.subject(cur), hexID(cur.AuthorityKeyId), a.name(c), hexID(c.SubjectKeyId), hexID(cur.AuthorityKeyId))
		return
	}
	a.add(AspectChain, KindWrongIssuer, true, c,
		"%s has the name of the issuer of %s but is not the one that issued it (same name, other key: a re-keyed or another CA's intermediate); send the intermediate that issued %s%s",
		a.name(c), a.subject(cur), a.subject(cur), whereToGet(cur))
}

// shadowed reports an unusable certificate with the issuer's name given
// before the one that issued cur. gnutls takes the first one with a valid
// signature and refuses the chain when that one is out of its dates;
// every client skips one with another key.
func (a *Analysis) shadowed(cur, first, good *x509.Certificate) {
	switch {
	case !signs(first, cur) || !keyIDsMatch(cur, first):
		a.add(AspectChain, KindShadowed, false, first,
			"%s has the name of the issuer of %s but did not issue it (another key), and comes before %s, which did: clients skip it, but it is of no use; remove it",
			a.name(first), a.subject(cur), a.name(good))
	case !validAt(first, a.now) && validAt(good, a.now):
		a.add(AspectValidity, KindShadowed, true, first,
			"%s is an expired or not yet valid copy (valid %s to %s) of the issuer of %s, sent before the current one, %s: gnutls takes the first and refuses the chain; remove it",
			a.name(first), rfc3339(first.NotBefore), rfc3339(first.NotAfter), a.subject(cur), a.name(good))
	}
}

// missing reports that cur's issuer is neither given nor trusted. hint is
// x509's reason for rejecting a trusted root with the issuer's name.
func (a *Analysis) missing(cur *x509.Certificate, hint string) {
	a.Path = append(a.Path, Link{From: FromMissing, Name: cur.Issuer.String()})
	switch {
	case hint != "":
		a.add(AspectChain, KindRejected, true, cur, "not trusted: the trust store has a root named like the issuer %q of %s, but it does not verify it: %s",
			cur.Issuer.String(), a.subject(cur), hintReason(hint))
	case cur == a.Leaf:
		a.add(AspectChain, KindIncomplete, true, cur, "incomplete: no certificate for issuer %q of the leaf %q: send it after the leaf%s",
			cur.Issuer.String(), Describe(cur), fetchNote(cur))
	case len(cur.IssuingCertificateURL) > 0:
		a.add(AspectChain, KindIncomplete, true, cur, "incomplete: no certificate for issuer %q of %s: send it after %s%s",
			cur.Issuer.String(), a.name(cur), a.name(cur), fetchNote(cur))
	default:
		a.add(AspectChain, KindIncomplete, true, cur,
			"incomplete or untrusted: the chain ends at %s, whose issuer %q is neither sent nor in the trust store; if that is your private or staging CA's root, trust it (trust.extra_roots, or --ca-file for renewd check); if it is another intermediate, send it after %s",
			a.name(cur), cur.Issuer.String(), a.name(cur))
	}
}

var x509Hint = regexp.MustCompile(`possibly because of "(?:x509: )?(.*)" while trying`)

// hintReason is the reason inside x509's "possibly because of" note, or
// the whole text.
func hintReason(hint string) string {
	if m := x509Hint.FindStringSubmatch(hint); m != nil {
		return m[1]
	}
	return hint
}

// untrustedRoot reports a path that ends at a self-signed certificate
// nobody trusts.
func (a *Analysis) untrustedRoot(c *x509.Certificate) {
	if c == a.Leaf {
		a.add(AspectChain, KindUntrustedRoot, true, c,
			"self-signed: %q is its own issuer and not in the trust store, so every client that was not told to trust it refuses it; get a certificate from a CA", Describe(c))
		return
	}
	a.add(AspectChain, KindUntrustedRoot, true, c,
		"untrusted root: the chain ends at the self-signed %s, which is not in the trust store; if it is your private or staging CA's root, trust it (trust.extra_roots, or --ca-file for renewd check), else get a certificate from a CA clients trust",
		a.name(c))
}

// subject names c as the subject of a sentence: "the leaf" or its
// position and name.
func (a *Analysis) subject(c *x509.Certificate) string {
	if c == a.Leaf {
		return fmt.Sprintf("the leaf %q", Describe(c))
	}
	return a.name(c)
}

// fetchNote says where a missing issuer could be fetched from, and that
// strict clients do not.
func fetchNote(c *x509.Certificate) string {
	if len(c.IssuingCertificateURL) == 0 {
		return " (it names no URL to fetch it from: get it from your CA); strict clients like WeChat, Android and curl never fetch a missing intermediate"
	}
	return "; it names " + strings.Join(c.IssuingCertificateURL, ", ") +
		" as where to fetch it, but strict clients like WeChat, Android and curl do not fetch it"
}

// whereToGet points at c's AIA URL, if it has one.
func whereToGet(c *x509.Certificate) string {
	if len(c.IssuingCertificateURL) == 0 {
		return ""
	}
	return " (" + strings.Join(c.IssuingCertificateURL, ", ") + " serves it)"
}

// hexID writes a key identifier as people compare them: colon-separated
// hex.
func hexID(id []byte) string {
	if len(id) == 0 {
		return "(none)"
	}
	parts := make([]string, len(id))
	for i, b := range id {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}
