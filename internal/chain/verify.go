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

// Options for Analyze, Build and Verify. They are the seams tests control:
// the trust store, the clock and the network.
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

// Verify checks a chain renewd stores or deploys: Analyze must find no
// problem strict clients reject it for (so a chain that only works in
// desktop browsers, which fetch missing intermediates, fails), and the file
// must be exactly what renewd writes: the leaf first, each certificate
// followed by its issuer, nothing off the path. A trusted root at the end
// is tolerated and dropped from the returned Bundle. Verify never fetches
// anything and does no revocation checking and no host name check (Build
// compares the names). With a nil opts.Roots on Windows and macOS the
// platform verifier is used, which may fetch intermediates itself.
//
// Errors (see Analysis.Err): *IncompleteError when the path does not reach
// a trusted root, ErrOrder (wrapped) for the order and for certificates off
// the path, x509.CertificateInvalidError (wrapped) for dates, ErrRejected
// (wrapped) for the rest; each message names the certificates by position
// and says what to change.
func Verify(certs []*x509.Certificate, opts Options) (*Bundle, error) {
	return verify(certs, opts, nil)
}

// verify is Verify; prior, if not nil, is an x509 verification already
// made in this call (see verification).
func verify(certs []*x509.Certificate, opts Options, prior *verification) (*Bundle, error) {
	if len(certs) == 0 {
		return nil, errors.New("verify chain: no certificates")
	}
	if err := checkNonNil(certs); err != nil {
		return nil, fmt.Errorf("verify chain: %w", err)
	}
	a := analyze(certs, opts, prior)
	if err := a.Err(); err != nil {
		return nil, err
	}
	if err := checkOrder(certs); err != nil {
		return nil, err
	}
	b := &Bundle{Leaf: certs[0], Intermediates: slices.Clone(certs[1:])}
	if n := len(certs); n > 1 && isSelfSigned(certs[n-1]) {
		b.Intermediates = b.Intermediates[:len(b.Intermediates)-1]
		b.Repairs = []string{fmt.Sprintf("dropped the root %q at the end (clients have it already)", Describe(certs[n-1]))}
	}
	return b, nil
}

// ErrRejected: strict clients reject the chain for a reason other than a
// gap, the order or dates (key usage, an unfit CA, weak crypto).
var ErrRejected = errors.New("strict clients reject the chain")

// Err returns nil when strict clients accept the chain, else an error
// naming every fatal problem on one line, for a log record and state's
// last_error. Its type follows the first problem that decides how renewd
// reacts: *IncompleteError for a path that does not reach a trusted root
// (the served-chain verdict "incomplete"), ErrOrder for a leaf that is not
// first, x509.CertificateInvalidError for dates, else ErrRejected.
func (a *Analysis) Err() error {
	fatal := a.Fatal()
	if len(fatal) == 0 {
		return nil
	}
	msgs := make([]string, len(fatal))
	for i, p := range fatal {
		msgs[i] = p.Message
	}
	msg := strings.Join(msgs, "; ")
	for _, p := range fatal {
		switch p.Kind {
		case KindIncomplete, KindUntrustedRoot, KindWrongIssuer, KindRejected:
			return a.incompleteError(p, msg)
		case KindShadowed:
			if p.Aspect == AspectChain {
				return a.incompleteError(p, msg)
			}
		}
	}
	switch p := fatal[0]; p.Kind {
	case KindLeafNotFirst, KindNoLeaf:
		return fmt.Errorf("%w: %s", ErrOrder, msg)
	case KindExpired, KindNotYetValid, KindShadowed:
		reason := x509.Expired
		return fmt.Errorf("verify chain: %s: %w", msg, x509.CertificateInvalidError{Cert: p.Cert, Reason: reason})
	}
	return fmt.Errorf("%w: %s", ErrRejected, msg)
}

// incompleteError describes the gap on the path for callers that act on
// it (a staging CA's untrusted root in a dry run).
func (a *Analysis) incompleteError(p Problem, msg string) *IncompleteError {
	last := a.Leaf
	for _, l := range a.Path {
		if l.Cert != nil && !(isSelfSigned(l.Cert) && l.Cert != a.Leaf) {
			last = l.Cert
		}
	}
	e := &IncompleteError{Subject: Describe(last), Issuer: last.Issuer.String(), msg: msg}
	if p.Kind == KindUntrustedRoot {
		e.untrusted = true
	}
	return e
}

// checkOrder requires the file layout renewd writes: each certificate
// issued by the next one (a trusted root may end it). Strict clients
// reorder, but renewd's own files are always in order, so a file out of
// order was changed by something else.
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
