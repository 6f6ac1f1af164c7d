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
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/testpki"
)

func TestVerifyName(t *testing.T) {
	tests := []struct{ desc, in, want string }{
		{desc: "wildcard", in: "*.example.com", want: "renewd-verify.example.com"},
		{desc: "deep wildcard", in: "*.shop.example.com", want: "renewd-verify.shop.example.com"},
		{desc: "plain name", in: "example.com", want: "example.com"},
		{desc: "punycode name", in: "xn--fiqs8s.example.com", want: "xn--fiqs8s.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := verifyName(tt.in); got != tt.want {
				t.Errorf("verifyName(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestVerifyServed(t *testing.T) {
	pki := newPKI(t)
	cur := pki.leaf(t, 0xa1, "a.example.com", "www.a.example.com")
	old := pki.leaf(t, 0xa0, "a.example.com", "www.a.example.com")
	wild := pki.leaf(t, 0xc1, "*.example.com")
	other := newPKI(t)
	weak := pki.issue(t, 0xa1, []string{"a.example.com"}, testpki.Key(testpki.RSA1024)).Cert
	wrongAKI := pki.issue(t, 0xa1, []string{"a.example.com"}, testpki.AuthorityKeyID([]byte{1, 2, 3, 4}))
	tests := []struct {
		desc    string
		served  []*x509.Certificate
		sni     string
		serial  *big.Int
		roots   *x509.CertPool
		now     time.Time
		wantErr []string
		check   func(t *testing.T, err error)
	}{
		{desc: "right serial and complete chain", served: pki.served(cur), sni: "a.example.com"},
		{desc: "second name", served: pki.served(cur), sni: "www.a.example.com"},
		{desc: "root sent too", served: append(pki.served(cur), pki.root.Cert), sni: "a.example.com"},
		{desc: "wildcard checked with renewd-verify", served: pki.served(wild), sni: verifyName("*.example.com"), serial: wild.cert.SerialNumber},
		{
			desc:    "old serial",
			served:  pki.served(old),
			sni:     "a.example.com",
			wantErr: []string{"nginx serves serial a0, not the new a1"},
			check: func(t *testing.T, err error) {
				var se *staleError
				if !errors.As(err, &se) {
					t.Errorf("error %v is not a *staleError", err)
				}
			},
		},
		{
			desc:    "leaf only",
			served:  []*x509.Certificate{cur.cert},
			sni:     "a.example.com",
			wantErr: []string{"served chain", "incomplete", "renewd test intermediate"},
			check: func(t *testing.T, err error) {
				var ie *chain.IncompleteError
				if !errors.As(err, &ie) {
					t.Errorf("error %v is not a *chain.IncompleteError", err)
				}
			},
		},
		{
			desc:    "name mismatch",
			served:  pki.served(cur),
			sni:     "b.example.com",
			wantErr: []string{"names: b.example.com is not covered by the certificate's names (a.example.com, www.a.example.com)"},
		},
		{
			desc:    "wildcard does not cover the apex",
			served:  pki.served(wild),
			sni:     "example.com",
			serial:  wild.cert.SerialNumber,
			wantErr: []string{"names: example.com is not covered", "*.example.com does not cover example.com itself"},
		},
		{desc: "nothing sent", served: nil, sni: "a.example.com", wantErr: []string{"sent no certificate"}},
		{
			desc:    "chain to a root renewd does not trust",
			served:  pki.served(cur),
			sni:     "a.example.com",
			roots:   other.roots,
			wantErr: []string{"served chain", "not trusted", `"CN=renewd test root"`},
		},
		// Every client tested accepts this: a warning of renewd check, no
		// reason to roll a deploy back.
		{desc: "root before the intermediate", served: []*x509.Certificate{cur.cert, pki.root.Cert, pki.inter.Cert}, sni: "a.example.com"},
		{
			desc:    "intermediate whose key identifier is not the one the leaf names",
			served:  []*x509.Certificate{wrongAKI.Cert, pki.inter.Cert},
			sni:     "a.example.com",
			wantErr: []string{"served chain", "authority key identifier", "not the one that issued it"},
			check: func(t *testing.T, err error) {
				var ie *chain.IncompleteError
				if !errors.As(err, &ie) {
					t.Errorf("error %v is not a *chain.IncompleteError", err)
				}
			},
		},
		{
			desc:    "RSA 1024 leaf, as strict clients refuse it",
			served:  []*x509.Certificate{weak, pki.inter.Cert},
			sni:     "a.example.com",
			wantErr: []string{"served chain", "RSA 1024-bit key"},
		},
		{
			desc:    "expired at verification time",
			served:  pki.served(cur),
			sni:     "a.example.com",
			now:     leafNotAfter.Add(time.Hour),
			wantErr: []string{"served chain", "expired"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			serial, roots, now := tt.serial, tt.roots, tt.now
			if serial == nil {
				serial = cur.cert.SerialNumber
			}
			if roots == nil {
				roots = pki.roots
			}
			if now.IsZero() {
				now = testNow
			}
			err := verifyServed(tt.served, tt.sni, serial, roots, now)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("verifyServed: %v", err)
				}
				return
			}
			wantErrContains(t, err, tt.wantErr...)
			if tt.check != nil {
				tt.check(t, err)
			}
		})
	}
}

func TestWaitServed(t *testing.T) {
	pki := newPKI(t)
	cur := pki.leaf(t, 0xa1, "a.example.com", "*.a.example.com")
	old := pki.leaf(t, 0xa0, "a.example.com", "*.a.example.com")
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	tests := []struct {
		desc      string
		timeout   time.Duration
		chains    map[string][][]*x509.Certificate
		probeErr  error // every probe fails with it
		wantErr   []string
		wantWaits int // After calls; -1: any
	}{
		{
			desc:    "served at once",
			timeout: time.Minute,
			chains: map[string][][]*x509.Certificate{
				"a.example.com":               {pki.served(cur)},
				"renewd-verify.a.example.com": {pki.served(cur)},
			},
			wantWaits: confirmations - 1, // each name must pass on fresh connections in a row
		},
		{
			desc:    "workers switch over: old serial, then the new one",
			timeout: time.Minute,
			chains: map[string][][]*x509.Certificate{
				"a.example.com":               {pki.served(old), pki.served(old), pki.served(cur)},
				"renewd-verify.a.example.com": {pki.served(old), pki.served(cur)},
			},
			wantWaits: 2 + confirmations - 1,
		},
		{
			desc:    "never switches",
			timeout: time.Millisecond,
			chains: map[string][][]*x509.Certificate{
				"a.example.com":               {pki.served(old)},
				"renewd-verify.a.example.com": {pki.served(cur)},
			},
			wantErr:   []string{"a.example.com at 127.0.0.1:8443", "serial a0, not the new a1"},
			wantWaits: -1,
		},
		{
			desc:      "nginx down",
			timeout:   time.Millisecond,
			probeErr:  refused,
			wantErr:   []string{"connect:", "connection refused", "is nginx running and listening there?", "renewd-verify.a.example.com at 127.0.0.1:8443"},
			wantWaits: -1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			prober := serveChains(tt.chains)
			if tt.probeErr != nil {
				prober = &fakeProber{probe: func(context.Context, string, string, int) ([]*x509.Certificate, error) {
					return nil, tt.probeErr
				}}
			}
			after := &fakeAfter{}
			d := &Deployer{
				Nginx:  config.Nginx{Verify: config.Verify{Address: "127.0.0.1:8443", Timeout: tt.timeout}},
				Roots:  pki.roots,
				Prober: prober,
				Now:    fixedNow,
				After:  after.after,
			}
			it := &Item{Name: "a", Domains: []string{"a.example.com", "*.a.example.com"}, Leaf: cur.cert}
			err := d.waitServed(context.Background(), it)
			if tt.wantErr == nil && err != nil {
				t.Fatalf("waitServed: %v", err)
			}
			if tt.wantErr != nil {
				wantErrContains(t, err, tt.wantErr...)
			}
			if tt.wantWaits >= 0 && after.count() != tt.wantWaits {
				t.Errorf("waited %d times, want %d", after.count(), tt.wantWaits)
			}
			for _, w := range after.waits {
				if w != 200*time.Millisecond {
					t.Errorf("waited %v between probes, want 200ms", w)
				}
			}
			for _, sni := range prober.asked() {
				if strings.HasPrefix(sni, "*") {
					t.Errorf("probed with SNI %q", sni)
				}
			}
			for _, key := range prober.keys {
				if key != x509.ECDSA {
					t.Errorf("probed asking for a %v certificate, want the deployed leaf's ECDSA", key)
				}
			}
		})
	}
}

// Bug: when the verify deadline passes while a probe is in flight, the
// probe's context error replaces the stale-serial error that every earlier
// probe returned, so the operator reads "context deadline exceeded" (with
// TLSProber: "connect: ... i/o timeout (is nginx running ...?)") instead of
// "nginx serves serial a0, not the new a1". The Prober contract requires
// honouring ctx, so a real prober does exactly this.
func TestWaitServedKeepsStaleErrorAtDeadline(t *testing.T) {
	pki := newPKI(t)
	cur := pki.leaf(t, 0xa1, "a.example.com")
	old := pki.leaf(t, 0xa0, "a.example.com")
	prober := &fakeProber{probe: func(ctx context.Context, _, _ string, n int) ([]*x509.Certificate, error) {
		if n == 1 {
			return pki.served(old), nil
		}
		// The handshake hangs until the verify deadline.
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	after := &fakeAfter{}
	d := &Deployer{
		Nginx:  config.Nginx{Verify: config.Verify{Address: "127.0.0.1:8443", Timeout: 20 * time.Millisecond}},
		Roots:  pki.roots,
		Prober: prober,
		Now:    fixedNow,
		After:  after.after,
	}
	it := &Item{Name: "a", Domains: []string{"a.example.com"}, Leaf: cur.cert}
	err := d.waitServed(context.Background(), it)
	wantErrContains(t, err, "serial a0, not the new a1")
}

// TestTLSProber checks that the real prober returns the chain exactly as the
// server sends it, for the SNI asked, without verifying it.
func TestTLSProber(t *testing.T) {
	pki := newPKI(t)
	a := pki.leaf(t, 0xa1, "a.example.com")
	b := pki.leaf(t, 0xb1, "b.example.com")
	pair := func(l testLeaf, withChain bool) tls.Certificate {
		data := l.files.Cert
		if withChain {
			data = l.files.Fullchain
		}
		c, err := tls.X509KeyPair(data, l.files.Key)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	certs := map[string]tls.Certificate{"a.example.com": pair(a, true), "b.example.com": pair(b, false)}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			c, ok := certs[hello.ServerName]
			if !ok {
				return nil, errors.New("unknown name")
			}
			return &c, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_ = conn.(*tls.Conn).Handshake()
			conn.Close()
		}
	}()

	tests := []struct {
		desc    string
		sni     string
		want    []*big.Int
		wantErr bool
	}{
		{desc: "complete chain", sni: "a.example.com", want: []*big.Int{a.cert.SerialNumber, pki.inter.Cert.SerialNumber}},
		{desc: "leaf only, returned as sent", sni: "b.example.com", want: []*big.Int{b.cert.SerialNumber}},
		{desc: "handshake refused", sni: "c.example.com", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			got, err := TLSProber{}.Probe(ctx, ln.Addr().String(), tt.sni, x509.ECDSA)
			if tt.wantErr {
				if err == nil {
					t.Fatal("Probe: no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d certificates, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if got[i].SerialNumber.Cmp(tt.want[i]) != 0 {
					t.Errorf("certificate %d serial %x, want %x", i, got[i].SerialNumber, tt.want[i])
				}
			}
		})
	}
}

// TestWaitAllServedChecksTogether: the certificates of one reload are
// checked at the same time, up to verifyParallel, and the errors come
// back in the items' order. The prober holds every handshake until
// verifyParallel of them are in flight at once: one by one, the first
// would wait for ever (and the test would stop at its deadline).
func TestWaitAllServedChecksTogether(t *testing.T) {
	pki := newPKI(t)
	const n = verifyParallel + 4
	var items []*Item
	leaves := map[string]testLeaf{}
	for i := range n {
		name := fmt.Sprintf("c%02d.example.com", i)
		l := pki.leaf(t, int64(0x100+i), name)
		leaves[name] = l
		items = append(items, &Item{Name: fmt.Sprintf("c%02d", i), Domains: []string{name}, Leaf: l.cert})
	}
	broken := "c03.example.com" // serves an old serial
	stale := pki.leaf(t, 0xdead, broken)

	var mu sync.Mutex
	inFlight, peak := 0, 0
	full := make(chan struct{})
	prober := &fakeProber{probe: func(ctx context.Context, _, sni string, _ int) ([]*x509.Certificate, error) {
		mu.Lock()
		inFlight++
		if inFlight > peak {
			peak = inFlight
		}
		if peak == verifyParallel {
			select {
			case <-full:
			default:
				close(full)
			}
		}
		mu.Unlock()
		defer func() { mu.Lock(); inFlight--; mu.Unlock() }()
		select {
		case <-full:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		name := strings.TrimPrefix(sni, "renewd-verify.")
		if name == broken {
			return pki.served(stale), nil
		}
		return pki.served(leaves[name]), nil
	}}
	d := &Deployer{
		Nginx:  config.Nginx{Verify: config.Verify{Address: "127.0.0.1:8443", Timeout: 10 * time.Second}},
		Roots:  pki.roots,
		Prober: prober,
		Now:    fixedNow,
		After:  (&fakeAfter{}).after,
	}
	errs := d.waitAllServed(context.Background(), items)
	if len(errs) != n {
		t.Fatalf("%d results for %d items", len(errs), n)
	}
	for i, err := range errs {
		if i == 3 {
			wantErrContains(t, err, broken, "serial dead, not the new 103")
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", items[i].Name, err)
		}
	}
	if peak > verifyParallel {
		t.Errorf("%d handshakes at once; want at most %d", peak, verifyParallel)
	}
}
