package deploy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"

	"github.com/renewd/renewd/internal/chain"
)

// Prober returns the certificates a TLS server sends for sni at addr,
// exactly as sent (no verification, no AIA). It must honour ctx.
type Prober interface {
	Probe(ctx context.Context, addr, sni string) ([]*x509.Certificate, error)
}

// TLSProber is the real Prober.
type TLSProber struct{}

var _ Prober = TLSProber{}

// Probe implements Prober.
func (TLSProber) Probe(ctx context.Context, addr, sni string) ([]*x509.Certificate, error) {
	d := tls.Dialer{Config: &tls.Config{
		ServerName: sni,
		// Verification is done by verifyServed against renewd's trust roots
		// with nothing but what the server sent, as a strict client would.
		InsecureSkipVerify: true, //nolint:gosec
		MinVersion:         tls.VersionTLS12,
	}}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState().PeerCertificates, nil
}

// verifyName is the SNI renewd sends for a domain: a wildcard is checked
// with a name it covers.
func verifyName(domain string) string {
	if rest, ok := strings.CutPrefix(domain, "*."); ok {
		return "renewd-verify." + rest
	}
	return domain
}

// verifyServed checks one name: nginx serves the leaf with serial, the name
// matches, and the chain it sends verifies to roots on its own.
func verifyServed(served []*x509.Certificate, sni string, serial *big.Int, roots *x509.CertPool, now time.Time) error {
	if len(served) == 0 {
		return errors.New("the server sent no certificate")
	}
	leaf := served[0]
	if leaf.SerialNumber.Cmp(serial) != 0 {
		return &staleError{served: leaf.SerialNumber, want: serial}
	}
	if err := leaf.VerifyHostname(sni); err != nil {
		return fmt.Errorf("name: %w", err)
	}
	if _, err := chain.Verify(served, chain.Options{Roots: roots, Now: now}); err != nil {
		return fmt.Errorf("served chain: %w", err)
	}
	return nil
}

// staleError: nginx still serves another certificate. After a reload that is
// expected for a moment (workers switch over asynchronously), so it is
// retried until the verify timeout.
type staleError struct{ served, want *big.Int }

func (e *staleError) Error() string {
	return fmt.Sprintf("nginx serves serial %x, not the new %x (is nginx using these files for this name?)", e.served, e.want)
}

// waitServed retries verifyServed for every name of it until all pass or
// the timeout runs out; it returns the last error per name.
func (d *Deployer) waitServed(ctx context.Context, it *Item) error {
	ctx, cancel := context.WithTimeout(ctx, d.Nginx.Verify.Timeout)
	defer cancel()
	pending := map[string]error{}
	for _, dom := range it.Domains {
		pending[verifyName(dom)] = errUnchecked
	}
	for ctx.Err() == nil {
		for sni := range pending {
			err := d.probeOnce(ctx, sni, it)
			switch {
			case err == nil:
				delete(pending, sni)
			case ctx.Err() == nil || isUnchecked(pending[sni]):
				pending[sni] = err
				// else: the deadline cut this probe short; the error from
				// the previous round says more than "deadline exceeded".
			}
		}
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
		case <-d.after(200 * time.Millisecond):
		}
	}
	var errs []error
	for sni, err := range pending {
		errs = append(errs, fmt.Errorf("%s at %s: %w", sni, d.Nginx.Verify.Address, err))
	}
	return errors.Join(errs...)
}

var errUnchecked = errors.New("not checked")

func isUnchecked(err error) bool { return errors.Is(err, errUnchecked) }

func (d *Deployer) probeOnce(ctx context.Context, sni string, it *Item) error {
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	served, err := d.prober().Probe(pctx, d.Nginx.Verify.Address, sni)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) {
			return fmt.Errorf("connect: %w (is nginx running and listening there?)", err)
		}
		return err
	}
	return verifyServed(served, sni, it.Leaf.SerialNumber, d.Roots, d.now())
}
