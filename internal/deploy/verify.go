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

	"github.com/renewd/renewd/internal/check"
)

// Prober returns the certificates a TLS server sends for sni at addr,
// exactly as sent (no verification, no AIA), asking for a certificate
// whose key is of the kind key (x509.ECDSA or x509.RSA; any other value
// asks for none in particular). A server block may hold an ECDSA and an
// RSA certificate and send the one that suits what the client offers, so
// the check after a deploy asks for the kind it deployed. When the server
// has no certificate of that kind, Probe returns what a client that
// offers everything gets, so the caller can say what is served instead.
// It must honour ctx.
type Prober interface {
	Probe(ctx context.Context, addr, sni string, key x509.PublicKeyAlgorithm) ([]*x509.Certificate, error)
}

// TLSProber is the real Prober. For an ECDSA or RSA key it makes the
// handshakes of `renewd check` for that kind (check.FetchServed): TLS 1.3
// offering only that kind's signature algorithms, and, if that gets no
// certificate (the server refuses TLS 1.3 or has none of that kind), TLS 1.2 offering only that kind's ECDHE cipher suites. It
// asks for the highest version first, as a default client would.
type TLSProber struct{}

var _ Prober = TLSProber{}

// keyKinds are the kinds of key TLSProber can ask for, in check's names.
var keyKinds = map[x509.PublicKeyAlgorithm]string{x509.ECDSA: "ECDSA", x509.RSA: "RSA"}

// Probe implements Prober.
func (TLSProber) Probe(ctx context.Context, addr, sni string, key x509.PublicKeyAlgorithm) ([]*x509.Certificate, error) {
	kind, ok := keyKinds[key]
	if !ok {
		return probeAny(ctx, addr, sni)
	}
	var reasons []string
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		conn, err := new(net.Dialer).DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		certs, err := check.FetchServed(ctx, conn, sni, v, kind)
		conn.Close()
		if len(certs) > 0 {
			return certs, nil
		}
		reasons = append(reasons, fmt.Sprintf("%s asking for %s: %v", tls.VersionName(v), kind, err))
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w (%s)", ctx.Err(), strings.Join(reasons, "; "))
		}
	}
	// No certificate of that kind: what does nginx send instead?
	certs, err := probeAny(ctx, addr, sni)
	if len(certs) > 0 {
		return certs, nil
	}
	reasons = append(reasons, fmt.Sprintf("asking for any: %v", err))
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%w (%s)", ctx.Err(), strings.Join(reasons, "; "))
	}
	return nil, fmt.Errorf("no certificate sent (%s)", strings.Join(reasons, "; "))
}

// probeAny returns the certificates sent to a client that offers what Go's
// default client offers, whatever the kind of key.
func probeAny(ctx context.Context, addr, sni string) ([]*x509.Certificate, error) {
	d := tls.Dialer{Config: &tls.Config{
		ServerName: sni,
		// Verification is done by verifyServed, through the chain judge,
		// against renewd's trust roots with nothing but what the server
		// sent, as a strict client would.
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

// verifyServed checks one name: nginx serves the leaf with serial, and
// what it sends passes the one judge renewd uses before storing and in
// `renewd check` (chain.Analyze, through check.Judge): the chain verifies
// to roots with nothing but what nginx sent, the name asked for is
// covered as strict clients match names, and usage, dates and crypto are
// what those clients accept. Warnings (a root sent along, the order) do
// not fail a deploy. An incomplete chain unwraps to *chain.IncompleteError.
func verifyServed(served []*x509.Certificate, sni string, serial *big.Int, roots *x509.CertPool, now time.Time) error {
	if len(served) == 0 {
		return errors.New("the server sent no certificate")
	}
	if leaf := served[0]; leaf.SerialNumber.Cmp(serial) != 0 {
		return &staleError{served: leaf.SerialNumber, want: serial}
	}
	if err := check.Judge(served, sni, check.Options{Roots: roots, Now: now}).Err(false); err != nil {
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

// waitServed retries verifyServed for every name of it until each has
// passed `confirmations` times in a row, or the verify timeout has run out
// and every name had at least that many probes; it returns the last error
// per name. Each probe has its own bound, so a tiny timeout still gives
// every name a fair chance.
func (d *Deployer) waitServed(ctx context.Context, it *Item) error {
	vctx, cancel := context.WithTimeout(ctx, d.Nginx.Verify.Timeout)
	defer cancel()
	pending := map[string]error{}
	for _, dom := range it.Domains {
		pending[verifyName(dom)] = errUnchecked
	}
	passes := map[string]int{}
	for round := 0; len(pending) > 0 && ctx.Err() == nil && (vctx.Err() == nil || round < confirmations); round++ {
		if round > 0 {
			select {
			case <-vctx.Done():
			case <-d.after(200 * time.Millisecond):
			}
		}
		for sni := range pending {
			bound := 5 * time.Second
			if vctx.Err() != nil {
				bound = time.Second // past the deadline: only the minimum rounds, quickly
			}
			err := d.probeOnce(ctx, sni, it, bound)
			if err != nil {
				passes[sni] = 0
				// A probe cut short by its deadline says less than the
				// error of the round before ("serves serial a0, not a1").
				if !errors.Is(err, context.DeadlineExceeded) || isUnchecked(pending[sni]) {
					pending[sni] = err
				}
				continue
			}
			// After a reload nginx's old worker can still accept for a
			// moment: one good handshake proves little, several fresh
			// connections in a row do.
			if passes[sni]++; passes[sni] >= confirmations {
				delete(pending, sni)
			}
		}
	}
	var errs []error
	for sni, err := range pending {
		if ctx.Err() != nil && isUnchecked(err) {
			err = ctx.Err()
		}
		errs = append(errs, fmt.Errorf("%s at %s: %w", sni, d.Nginx.Verify.Address, err))
	}
	return errors.Join(errs...)
}

var errUnchecked = errors.New("not checked")

// confirmations is how many consecutive good handshakes prove a name served.
const confirmations = 3

func isUnchecked(err error) bool { return errors.Is(err, errUnchecked) }

func (d *Deployer) probeOnce(ctx context.Context, sni string, it *Item, bound time.Duration) error {
	pctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	served, err := d.prober().Probe(pctx, d.Nginx.Verify.Address, sni, it.Leaf.PublicKeyAlgorithm)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) {
			return fmt.Errorf("connect: %w (is nginx running and listening there?)", err)
		}
		return err
	}
	return verifyServed(served, sni, it.Leaf.SerialNumber, d.Roots, d.now())
}
