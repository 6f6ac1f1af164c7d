package chain

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Options for Build and Verify. They are the seams tests control: the trust
// store, the clock and the network.
type Options struct {
	Roots   *x509.CertPool // trusted roots; nil = system pool
	Now     time.Time      // verification time; zero = time.Now()
	Fetcher Fetcher        // for AIA completion in Build; nil = never fetch (Verify never fetches)
}

func (o Options) now() time.Time {
	if o.Now.IsZero() {
		return time.Now()
	}
	return o.Now
}

func (o Options) verifyOptions(inter *x509.CertPool) x509.VerifyOptions {
	return x509.VerifyOptions{
		Intermediates: inter,
		Roots:         o.Roots,
		CurrentTime:   o.now(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
}

// Verify checks a stored or served chain the way a strict client does, so a
// chain that only works in desktop browsers (which fetch missing
// intermediates) fails here: certs[0] is the leaf, each certificate must be
// issued by the next one (clients do not reorder), and the leaf must verify
// to opts.Roots for server authentication at opts.Now using only the given
// certificates as intermediates. A self-signed root at the end is tolerated
// and dropped from the returned Bundle. Verify never fetches anything and,
// like x509.Verify, does no revocation checking and no host name check
// (Build compares the names). With a nil opts.Roots on Windows and macOS the
// platform verifier is used, which may fetch intermediates itself.
//
// Errors: ErrOrder (wrapped, naming positions and subjects) for a wrong
// order; *IncompleteError when the path stops before a trusted root; x509's
// own error, wrapped with the certificate's subject and dates, for expiry and
// every other failure.
func Verify(certs []*x509.Certificate, opts Options) (*Bundle, error) {
	if len(certs) == 0 {
		return nil, errors.New("verify chain: no certificates")
	}
	if err := checkNonNil(certs); err != nil {
		return nil, fmt.Errorf("verify chain: %w", err)
	}
	if err := checkOrder(certs); err != nil {
		return nil, err
	}
	chain, root := certs, (*x509.Certificate)(nil)
	if n := len(certs); n > 1 && isSelfSigned(certs[n-1]) {
		chain, root = certs[:n-1], certs[n-1]
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(opts.verifyOptions(inter)); err != nil {
		return nil, explain(chain, root, opts.now(), err)
	}
	return &Bundle{Leaf: chain[0], Intermediates: slices.Clone(chain[1:])}, nil
}

// checkOrder requires each certificate to be issued by the next one.
func checkOrder(certs []*x509.Certificate) error {
	for i := 0; i+1 < len(certs); i++ {
		child, parent := certs[i], certs[i+1]
		err := issuedBy(child, parent)
		if err == nil {
			continue
		}
		detail := err.Error()
		if !bytes.Equal(child.RawIssuer, parent.RawSubject) {
			if j := findIssuer(certs, child); j >= 0 {
				detail += fmt.Sprintf(", which is certificate %d", j+1)
			} else {
				detail += ", which is not in the chain"
			}
		}
		return fmt.Errorf("%w: certificate %d %q is not issued by certificate %d %q (%s)",
			ErrOrder, i+1, Describe(child), i+2, Describe(parent), detail)
	}
	return nil
}

// findIssuer returns the position of child's issuer in certs, or -1.
func findIssuer(certs []*x509.Certificate, child *x509.Certificate) int {
	for j, c := range certs {
		if c != child && issuedBy(child, c) == nil {
			return j
		}
	}
	return -1
}

// explain turns an x509.Verify failure into an error a person can act on:
// which certificate is out of its validity window, or where the path stops.
// x509 reports an expired intermediate only as "unknown authority", so the
// dates are checked here first.
func explain(chain []*x509.Certificate, root *x509.Certificate, now time.Time, err error) error {
	for i, c := range chain {
		switch {
		case now.Before(c.NotBefore):
			return fmt.Errorf("certificate %d %q is not valid before %s (verification time %s): %w",
				i+1, Describe(c), rfc3339(c.NotBefore), rfc3339(now), err)
		case now.After(c.NotAfter):
			return fmt.Errorf("certificate %d %q expired at %s (verification time %s): %w",
				i+1, Describe(c), rfc3339(c.NotAfter), rfc3339(now), err)
		}
	}
	var unknown x509.UnknownAuthorityError
	if errors.As(err, &unknown) {
		return incomplete(chain[len(chain)-1], root, err)
	}
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) && invalid.Cert != nil {
		return fmt.Errorf("verify chain: certificate %q: %w", Describe(invalid.Cert), err)
	}
	return fmt.Errorf("verify chain: %w", err)
}

// incomplete describes the gap above last. root is the self-signed
// certificate that followed last in the input, if any.
func incomplete(last, root *x509.Certificate, err error) *IncompleteError {
	e := &IncompleteError{Subject: Describe(last), Issuer: last.Issuer.String(), Err: err}
	switch {
	case root != nil || bytes.Equal(last.RawIssuer, last.RawSubject):
		e.untrusted = true
	case len(last.IssuingCertificateURL) > 0:
		e.note = "the certificate names AIA caIssuers " + strings.Join(last.IssuingCertificateURL, ", ") +
			", but strict clients do not fetch it"
	}
	return e
}
