package chain

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"
)

// judgeCrypto checks the signature algorithms and keys on the path. SHA-1
// and MD5 signatures fail (browsers, Android, iOS and Go reject them); RSA
// keys under 2048 bits and EC keys under 256 bits fail as Apple ATS fails
// them. The trust anchor's self-signature is not checked by clients, and
// the trust store's root is the user's choice, so neither is judged.
func (a *Analysis) judgeCrypto() {
	for i, l := range a.Path {
		c := l.Cert
		if c == nil || l.From == FromTrustStore {
			continue
		}
		anchor := a.Trusted && i == len(a.Path)-1 && i > 0
		if weakSignature(c.SignatureAlgorithm) && !(anchor && isSelfSigned(c)) {
			a.add(AspectCrypto, KindWeakSignature, true, c,
				"%q is signed with %s: SHA-1 and MD5 signatures are rejected by current browsers, Android, iOS, WeChat and Go", Describe(c), c.SignatureAlgorithm)
		}
		if !anchor {
			a.judgeKey(c)
		}
	}
}

// judgeKey judges the strength and type of c's public key.
func (a *Analysis) judgeKey(c *x509.Certificate) {
	which := fmt.Sprintf("intermediate %q", Describe(c))
	if c == a.Leaf {
		which = fmt.Sprintf("leaf %q", Describe(c))
	}
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			a.add(AspectCrypto, KindWeakKey, true, c, "%s has an %s key: Apple ATS and current clients require RSA of at least 2048 bits or ECDSA of at least 256 bits", which, KeyKind(k))
		}
	case *ecdsa.PublicKey:
		if k.Curve.Params().BitSize < 256 {
			a.add(AspectCrypto, KindWeakKey, true, c, "%s has an %s key: Apple ATS and current clients require ECDSA of at least 256 bits or RSA of at least 2048 bits", which, KeyKind(k))
		}
	case ed25519.PublicKey:
		a.add(AspectCrypto, KindKeyType, false, c, "%s has an Ed25519 key, which browsers, Android and WeChat do not accept in certificates", which)
	default:
		a.add(AspectCrypto, KindKeyType, true, c, "%s has a %s key, which TLS clients do not accept", which, KeyKind(k))
	}
}

// weakSignature reports the algorithms clients no longer accept on
// certificates they check.
func weakSignature(alg x509.SignatureAlgorithm) bool {
	switch alg {
	case x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1:
		return true
	}
	return false
}

// signatureOK accepts a valid signature, and one x509 refuses to check
// only because its algorithm is insecure: that is judgeCrypto's finding.
func signatureOK(err error) bool {
	var insecure x509.InsecureAlgorithmError
	return err == nil || errors.As(err, &insecure)
}

// crossCheck makes sure a path judged complete is one Go's own verifier
// accepts too, with the certificates given as intermediates, so the
// analysis is never more lenient than crypto/x509. When prior already
// asked x509 exactly this (see verification), its answer stands.
func (a *Analysis) crossCheck(opts Options, prior *verification) {
	if !a.Trusted || len(a.Fatal()) > 0 {
		return
	}
	inter := x509.NewCertPool()
	var given poolOrder
	for _, c := range a.Certs {
		if c != a.Leaf {
			inter.AddCert(c)
			if prior != nil {
				given.add(c)
			}
		}
	}
	if prior.answers(a.Leaf, given, opts) {
		return
	}
	if _, err := a.Leaf.Verify(opts.verifyOptions(inter)); err != nil {
		a.add(AspectChain, KindRejected, true, a.Leaf, "not trusted: Go's verifier rejects the chain: %v", err)
	}
}

// verification is a successful x509.Verify of leaf for server
// authentication with the intermediates inter against roots at now.
// Build's path finder makes one to find the path; when it then verifies
// that path, crossCheck would ask x509 the very same question (the path's
// intermediates are the whole pool in the usual case), so it takes this
// answer instead. An x509 verification is a function of its
// inputs, so the answer is the one x509 would give again; with any input
// different, even the order the intermediates went into the pool (x509
// stops after 100 signature checks, so the order could matter for hostile
// input), crossCheck asks x509.
type verification struct {
	leaf  *x509.Certificate
	inter poolOrder
	roots *x509.CertPool
	now   time.Time
}

// answers reports whether v was made with exactly these inputs: the same
// leaf, the same intermediates, the same trust store and the same time.
func (v *verification) answers(leaf *x509.Certificate, inter poolOrder, opts Options) bool {
	return v != nil && v.leaf == leaf && v.roots == opts.Roots &&
		!opts.Now.IsZero() && v.now.Equal(opts.Now) && slices.Equal(v.inter, inter)
}

// poolOrder is the DER of the certificates put into an x509.CertPool, in
// the order they went in, without the repeats AddCert ignores.
type poolOrder []string

func (p *poolOrder) add(c *x509.Certificate) {
	if !slices.Contains(*p, string(c.Raw)) {
		*p = append(*p, string(c.Raw))
	}
}
