package chain

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"time"
)

// issuedBy reports why parent did not issue child, or nil if it did. It
// checks the names as well as the signature because x509.Verify only tries
// parents whose subject is the child's issuer; a signature alone is not
// enough for a client to use a certificate.
func issuedBy(child, parent *x509.Certificate) error {
	if !bytes.Equal(child.RawIssuer, parent.RawSubject) {
		return fmt.Errorf("its issuer is %q", child.Issuer.String())
	}
	if err := checkSignatureFrom(child, parent); err != nil {
		return fmt.Errorf("signature check: %w", err)
	}
	return nil
}

// isSelfSigned reports whether c names itself as its issuer and its own
// key signed it: a root, or a self-signed leaf. It is the one definition
// Analyze, Build and Verify share; a signature x509 refuses only for its
// algorithm (SHA-1) counts, since clients never check a root's
// self-signature.
func isSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && signs(c, c)
}

// Describe names a certificate for people, in errors and reports. Leaves
// issued for IP addresses or by some CAs have an empty subject, so it falls
// back to a SAN, then the serial.
func Describe(c *x509.Certificate) string {
	if s := c.Subject.String(); s != "" {
		return s
	}
	if len(c.DNSNames) > 0 {
		return "DNS:" + c.DNSNames[0]
	}
	if len(c.IPAddresses) > 0 {
		return "IP:" + c.IPAddresses[0].String()
	}
	return "serial " + c.SerialNumber.Text(16)
}

// rfc3339 formats t the way the records and every --json output do.
func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// checkNonNil rejects nil entries up front so later code can index freely.
func checkNonNil(certs []*x509.Certificate) error {
	for i, c := range certs {
		if c == nil {
			return fmt.Errorf("certificate %d is nil", i+1)
		}
	}
	return nil
}
