package chain

import (
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"slices"
	"strings"
)

// judgeLeafUsage checks what the leaf may be used for, as the strict
// clients do: with a key usage extension it must allow digital signature
// (TLS 1.3 and ECDHE handshakes sign with the key; Java and gnutls refuse
// it otherwise, OpenSSL too for certificate signing alone or for ECDSA in
// TLS 1.2), with an extended key usage extension it must name server
// authentication (OpenSSL-based clients refuse anyExtendedKeyUsage alone).
// A must-staple leaf is a warning here: whether a response is stapled is
// known only to the served-chain check, which fails it without one.
func (a *Analysis) judgeLeafUsage() {
	leaf := a.Leaf
	if leaf.KeyUsage != 0 && leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		a.add(AspectUsage, KindLeafUsage, true, leaf,
			"the leaf's key usage allows only %s, not digital signature: TLS 1.3 and ECDHE handshakes sign with the key, so Java and gnutls refuse it (OpenSSL-based clients too, with an ECDSA key in TLS 1.2 or certificate signing alone); reissue it with digitalSignature",
			keyUsageNames(leaf.KeyUsage))
	}
	if hasEKU(leaf) && !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
		who := "every strict client refuses it for a TLS server"
		if slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageAny) {
			who = "OpenSSL-based clients (curl, Python, Android) refuse it, anyExtendedKeyUsage is not enough"
		}
		a.add(AspectUsage, KindLeafUsage, true, leaf,
			"the leaf's extended key usage is %s, without server authentication (serverAuth): %s; reissue it with serverAuth",
			extKeyUsageNames(leaf), who)
	}
	if MustStaple(leaf) {
		a.add(AspectUsage, KindMustStaple, false, leaf,
			"the leaf requires a stapled OCSP response (must-staple, RFC 7633): gnutls refuses it from a server that staples none; Let's Encrypt has ended OCSP, so such a certificate cannot be served correctly any more: reissue it without must-staple (or, where your CA still runs OCSP, turn on nginx's ssl_stapling)")
	}
}

// judgeCAs checks that every CA certificate given on the path may issue
// the certificate below it: the CA bit, certificate signing in its key
// usage, server authentication in its extended key usage (OpenSSL and
// gnutls do not take anyExtendedKeyUsage for it), its path length.
// The trust store's root is the user's decision and is not judged.
func (a *Analysis) judgeCAs() {
	for i, l := range a.Path {
		c := l.Cert
		if i == 0 || c == nil || l.From != FromSent {
			continue
		}
		below := a.Path[i-1].Cert
		switch {
		case !c.BasicConstraintsValid || !c.IsCA:
			a.add(AspectChain, KindUnfitCA, true, c,
				"%s is not a CA certificate (its basic constraints lack CA:TRUE), so it cannot issue %s: strict clients refuse the chain (\"invalid CA certificate\"); the CA's certificate is unfit, get the right intermediate from your CA",
				a.name(c), a.subject(below))
		case c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageCertSign == 0:
			a.add(AspectChain, KindUnfitCA, true, c,
				"%s is a CA certificate whose key usage (%s) does not allow certificate signing (keyCertSign): strict clients refuse the chain; the CA's certificate is unfit, get the right intermediate from your CA",
				a.name(c), keyUsageNames(c.KeyUsage))
		case hasEKU(c) && !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageServerAuth):
			a.add(AspectChain, KindUnfitCA, true, c,
				"%s restricts what it issues to %s, without server authentication (serverAuth): OpenSSL-based clients (curl, Python, Android) and gnutls refuse its certificates for a TLS server%s; the CA's certificate is unfit for web servers",
				a.name(c), extKeyUsageNames(c), goToo(c))
		case (c.MaxPathLen > 0 || c.MaxPathLenZero) && i-1 > c.MaxPathLen:
			a.add(AspectChain, KindUnfitCA, true, c,
				"%s allows %d intermediate(s) below it (its path length constraint), but the path has %d: strict clients refuse the chain; the CA's certificates do not fit together, get the right chain from your CA",
				a.name(c), c.MaxPathLen, i-1)
		}
	}
}

// goToo adds Go to the clients refusing a CA whose extended key usage
// lacks serverAuth: Go accepts anyExtendedKeyUsage there.
func goToo(c *x509.Certificate) string {
	if slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny) {
		return ""
	}
	return ", and so does Go"
}

func hasEKU(c *x509.Certificate) bool {
	return len(c.ExtKeyUsage) > 0 || len(c.UnknownExtKeyUsage) > 0
}

// oidTLSFeature is the TLS feature extension (RFC 7633).
var oidTLSFeature = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 24}

// MustStaple reports whether c carries the TLS feature extension with
// status_request (RFC 7633): clients that honour it (gnutls) refuse the
// certificate without a stapled OCSP response.
func MustStaple(c *x509.Certificate) bool {
	for _, e := range c.Extensions {
		if !e.Id.Equal(oidTLSFeature) {
			continue
		}
		var features []int
		if _, err := asn1.Unmarshal(e.Value, &features); err == nil && slices.Contains(features, 5) {
			return true
		}
	}
	return false
}

var keyUsageBits = []struct {
	bit  x509.KeyUsage
	name string
}{
	{x509.KeyUsageDigitalSignature, "digital signature"},
	{x509.KeyUsageContentCommitment, "content commitment"},
	{x509.KeyUsageKeyEncipherment, "key encipherment"},
	{x509.KeyUsageDataEncipherment, "data encipherment"},
	{x509.KeyUsageKeyAgreement, "key agreement"},
	{x509.KeyUsageCertSign, "certificate signing"},
	{x509.KeyUsageCRLSign, "CRL signing"},
	{x509.KeyUsageEncipherOnly, "encipher only"},
	{x509.KeyUsageDecipherOnly, "decipher only"},
}

func keyUsageNames(ku x509.KeyUsage) string {
	var names []string
	for _, b := range keyUsageBits {
		if ku&b.bit != 0 {
			names = append(names, b.name)
		}
	}
	return strings.Join(names, ", ")
}

var extKeyUsageNamesByID = map[x509.ExtKeyUsage]string{
	x509.ExtKeyUsageAny:             "anyExtendedKeyUsage",
	x509.ExtKeyUsageServerAuth:      "serverAuth",
	x509.ExtKeyUsageClientAuth:      "clientAuth",
	x509.ExtKeyUsageCodeSigning:     "codeSigning",
	x509.ExtKeyUsageEmailProtection: "emailProtection",
	x509.ExtKeyUsageTimeStamping:    "timeStamping",
	x509.ExtKeyUsageOCSPSigning:     "OCSPSigning",
}

func extKeyUsageNames(c *x509.Certificate) string {
	var names []string
	for _, u := range c.ExtKeyUsage {
		if n, ok := extKeyUsageNamesByID[u]; ok {
			names = append(names, n)
		} else {
			names = append(names, fmt.Sprintf("usage %d", u))
		}
	}
	for _, oid := range c.UnknownExtKeyUsage {
		names = append(names, oid.String())
	}
	return strings.Join(names, ", ")
}
