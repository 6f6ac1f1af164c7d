package chain

import (
	"crypto/x509"
	"encoding/pem"
)

// Bundle is a leaf and its intermediates in issuing order (leaf's issuer
// first). It never contains a root: clients must hold the root already, and
// sending it only costs bytes in every handshake. A Bundle returned by Build
// or Verify is complete; one built by hand is not checked.
type Bundle struct {
	Leaf          *x509.Certificate
	Intermediates []*x509.Certificate
	// Repairs says, one sentence each, what Build (or Verify) changed in
	// what it was given to make the chain complete: issuers fetched
	// through AIA, intermediates reordered, a root or an unrelated
	// certificate dropped. Empty for a chain that was right as sent. A CA
	// (or a server) that needs repairs is misconfigured; renewd reports
	// them so an operator knows.
	Repairs []string
}

// CertPEM is the leaf alone, for cert.pem, which some tools (OCSP, monitoring)
// want without the chain. Never deploy it as the served certificate.
func (b *Bundle) CertPEM() []byte {
	if b == nil || b.Leaf == nil {
		return nil
	}
	return encodeCerts([]*x509.Certificate{b.Leaf})
}

// ChainPEM is the intermediates in order, for chain.pem, which servers such
// as Apache 2.2 and OCSP stapling configurations load separately.
func (b *Bundle) ChainPEM() []byte {
	if b == nil {
		return nil
	}
	return encodeCerts(b.Intermediates)
}

// FullchainPEM is the leaf followed by the intermediates: the file nginx's
// ssl_certificate must point at so strict clients get the whole chain.
func (b *Bundle) FullchainPEM() []byte {
	if b == nil {
		return nil
	}
	return append(b.CertPEM(), b.ChainPEM()...)
}

func encodeCerts(certs []*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}
