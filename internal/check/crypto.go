package check

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"

	"github.com/renewd/renewd/internal/chain"
)

// judgeCrypto checks the signature algorithms and keys on the path. SHA-1
// and MD5 signatures fail (browsers, Android, iOS and Go reject them); RSA
// keys under 2048 bits and EC keys under 256 bits fail as Apple ATS fails
// them. A trust anchor's self-signature is not checked by clients, so it is
// not judged.
func judgeCrypto(r *Report, path []*x509.Certificate) {
	judged := path
	if n := len(path); n > 1 && isSelfSigned(path[n-1]) {
		judged = path[:n-1]
	}
	failed := false
	var algs []string
	for _, c := range judged {
		if weakSignature(c.SignatureAlgorithm) {
			r.add(Crypto, Fail, "%q is signed with %s: SHA-1 and MD5 signatures are rejected by current browsers, Android, iOS, WeChat and Go", chain.Describe(c), c.SignatureAlgorithm)
			failed = true
		}
		if alg := c.SignatureAlgorithm.String(); !slices.Contains(algs, alg) {
			algs = append(algs, alg)
		}
		failed = judgeKeyStrength(r, c, c == path[0]) || failed
	}
	if !failed {
		r.add(Crypto, Pass, "leaf key %s; signatures %s", chain.KeyKind(path[0].PublicKey), strings.Join(algs, ", "))
	}
}

// judgeKeyStrength adds a finding for a weak or unusual key and reports
// whether it failed.
func judgeKeyStrength(r *Report, c *x509.Certificate, isLeaf bool) bool {
	which := fmt.Sprintf("intermediate %q", chain.Describe(c))
	if isLeaf {
		which = fmt.Sprintf("leaf %q", chain.Describe(c))
	}
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			r.add(Crypto, Fail, "%s has an %s key: Apple ATS and current clients require RSA of at least 2048 bits or ECDSA of at least 256 bits", which, chain.KeyKind(k))
			return true
		}
	case *ecdsa.PublicKey:
		if k.Curve.Params().BitSize < 256 {
			r.add(Crypto, Fail, "%s has an %s key: Apple ATS and current clients require ECDSA of at least 256 bits or RSA of at least 2048 bits", which, chain.KeyKind(k))
			return true
		}
	case ed25519.PublicKey:
		r.add(Crypto, Warn, "%s has an Ed25519 key, which browsers, Android and WeChat do not accept in certificates", which)
	default:
		r.add(Crypto, Fail, "%s has a %s key, which TLS clients do not accept", which, chain.KeyKind(k))
		return true
	}
	return false
}

// weakSignature reports the algorithms clients no longer accept on
// certificates they check.
func weakSignature(a x509.SignatureAlgorithm) bool {
	switch a {
	case x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1:
		return true
	}
	return false
}
