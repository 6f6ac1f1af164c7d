package check

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/renewd/renewd/internal/chain"
)

// DefaultTimeout bounds each connection Server makes when
// ServerOptions.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// ServerOptions configure Server.
type ServerOptions struct {
	Options
	// Timeout bounds each connection, dial and TLS handshake together;
	// zero means DefaultTimeout. The probes run in parallel, so Server
	// returns within about Timeout.
	Timeout time.Duration
	// ExpectSerial, when set, is the serial the leaf must have: hex, any
	// case, colons allowed, as state records it. A deploy verification
	// passes the serial it just installed.
	ExpectSerial string
	// SkipProtocols probes only what finds the server's certificates (TLS
	// 1.2 and 1.3, ECDSA and RSA) and judges no protocols: Protocols then
	// only says which versions were seen.
	SkipProtocols bool
}

func (o ServerOptions) timeout() time.Duration {
	if o.Timeout <= 0 {
		return DefaultTimeout
	}
	return o.Timeout
}

// Server connects to address (host:port) asking for sni, and judges every
// certificate the server can send, as Judge does, plus the TLS versions and
// cipher suites it accepts. A server may hold an ECDSA and an RSA
// certificate and pick one by what the client offers, so each TLS version
// is probed with handshakes of its own: TLS 1.2 offering only ECDSA, then
// only RSA cipher suites among those Go's default client offers (and, to
// tell a server that accepts only legacy suites from one that refuses TLS
// 1.2, every suite Go knows); TLS 1.3 offering only ECDSA, then only RSA
// signature algorithms; TLS 1.0 and 1.1 once each. Every distinct chain
// sent is judged; with more than one, each finding names the certificate
// it is about. An empty sni sends none and judges the names against
// address's host.
//
// Server never returns an error: a server that cannot be reached, closes
// the connection or does not speak TLS is a Connect finding that fails the
// Report. It stops when ctx is done. Nothing read from the connections is
// trusted: the handshakes do not verify the certificates, the judge does.
func Server(ctx context.Context, address, sni string, opts ServerOptions) *Report {
	host := sni
	if host == "" {
		host = hostOf(address)
	}
	hs := probeAll(ctx, address, sni, opts)
	chains := servedChains(hs)
	var r *Report
	if len(chains) == 0 {
		r = &Report{Source: Served, Protocols: &Protocols{}}
		r.add(Connect, Fail, "%s", mainFailure(hs).describe(address, opts.timeout()))
	} else {
		r = judgeChains(chains, host, opts.Options)
		results := versionResults(hs, opts.timeout())
		r.Protocols = protocolsOf(results)
		if !opts.SkipProtocols {
			judgeProtocols(r, results)
		}
		if opts.ExpectSerial != "" {
			judgeSerial(r, chains, opts.ExpectSerial, host)
		}
	}
	r.SNI, r.Target, r.Address = sni, host, address
	r.sortFindings()
	return r
}

// probeSpec is one handshake Server makes.
type probeSpec struct {
	version uint16
	key     string // "ECDSA" or "RSA": only that kind of certificate is asked for; "" any
	legacy  bool   // TLS 1.2 with every suite Go knows, not only its defaults
}

var (
	probesAll = []probeSpec{
		{version: tls.VersionTLS10}, {version: tls.VersionTLS11},
		{version: tls.VersionTLS12, key: "ECDSA"}, {version: tls.VersionTLS12, key: "RSA"}, {version: tls.VersionTLS12, legacy: true},
		{version: tls.VersionTLS13, key: "ECDSA"}, {version: tls.VersionTLS13, key: "RSA"},
	}
	probesCertificates = []probeSpec{
		{version: tls.VersionTLS12, key: "ECDSA"}, {version: tls.VersionTLS12, key: "RSA"},
		{version: tls.VersionTLS13, key: "ECDSA"}, {version: tls.VersionTLS13, key: "RSA"},
	}
)

// probeAll runs the probes in parallel.
func probeAll(ctx context.Context, address, sni string, opts ServerOptions) []handshakeResult {
	specs := probesAll
	if opts.SkipProtocols {
		specs = probesCertificates
	}
	hs := make([]handshakeResult, len(specs))
	var wg sync.WaitGroup
	for i, spec := range specs {
		wg.Go(func() { hs[i] = handshake(ctx, address, sni, spec, opts.timeout()) })
	}
	wg.Wait()
	return hs
}

// servedChain is one distinct chain a server sent, and in which probes.
type servedChain struct {
	served
	versions []uint16
}

// servedChains collects the distinct chains the probes got, TLS 1.2 and
// 1.3 first: a chain sent only with legacy suites or old versions is
// judged only when nothing else was sent.
func servedChains(hs []handshakeResult) []*servedChain {
	var out []*servedChain
	add := func(h handshakeResult) {
		for _, c := range out {
			if sameChain(c.certs, h.certs) {
				c.versions = appendVersion(c.versions, h.spec.version)
				if len(c.ocsp) == 0 {
					c.ocsp = h.ocsp
				}
				return
			}
		}
		out = append(out, &servedChain{served: served{certs: h.certs, ocsp: h.ocsp}, versions: []uint16{h.spec.version}})
	}
	for _, modern := range []bool{true, false} {
		for _, h := range hs {
			if len(h.certs) > 0 && modern == (h.spec.version >= tls.VersionTLS12 && !h.spec.legacy) {
				add(h)
			}
		}
		if len(out) > 0 {
			break
		}
	}
	return out
}

func sameChain(a, b []*x509.Certificate) bool {
	return slices.EqualFunc(a, b, func(x, y *x509.Certificate) bool { return bytes.Equal(x.Raw, y.Raw) })
}

func appendVersion(vs []uint16, v uint16) []uint16 {
	if !slices.Contains(vs, v) {
		vs = append(vs, v)
		slices.Sort(vs)
	}
	return vs
}

// judgeChains judges each chain and merges the findings into one Report.
// With more than one chain every finding says which certificate it is
// about; Certificates and Path are the first chain's.
func judgeChains(chains []*servedChain, host string, opts Options) *Report {
	labels := chainLabels(chains)
	var r *Report
	for i, c := range chains {
		sub := judgeServed(c.served, host, opts)
		sc := ServedChain{Label: labels[i], Versions: versionNames(c.versions), Certificates: sub.Certificates, Path: sub.Path}
		if len(c.certs) > 0 && c.certs[0] != nil {
			sc.Key = chain.KeyKind(c.certs[0].PublicKey)
		}
		if r == nil {
			r = &Report{Source: Served, Certificates: sub.Certificates, Path: sub.Path, chainErr: sub.chainErr}
		}
		r.Chains = append(r.Chains, sc)
		for _, f := range sub.Findings {
			if len(chains) > 1 {
				f.Message = labels[i] + ": " + f.Message
			}
			r.Findings = append(r.Findings, f)
		}
	}
	return r
}

// chainLabels names each chain by its leaf's key, and by its TLS versions
// when two leaves have the same kind of key.
func chainLabels(chains []*servedChain) []string {
	kinds := make([]string, len(chains))
	for i, c := range chains {
		kinds[i] = chain.KeyKind(c.certs[0].PublicKey)
	}
	out := make([]string, len(chains))
	for i, c := range chains {
		out[i] = kinds[i] + " certificate"
		if countOf(kinds, kinds[i]) > 1 {
			out[i] += " (" + strings.Join(versionNames(c.versions), ", ") + ")"
		}
	}
	return out
}

func countOf(xs []string, x string) int {
	n := 0
	for _, y := range xs {
		if y == x {
			n++
		}
	}
	return n
}

func versionNames(vs []uint16) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = tls.VersionName(v)
	}
	return out
}

// mainFailure picks the failure to report when no probe got a
// certificate: a TLS 1.2 probe's, unless the client never sent it, then
// the first one that reached the server.
func mainFailure(hs []handshakeResult) handshakeResult {
	for _, h := range hs {
		if h.spec.version == tls.VersionTLS12 && (h.wrote || h.dialErr) {
			return h
		}
	}
	for _, h := range hs {
		if h.wrote || h.dialErr {
			return h
		}
	}
	return hs[0]
}

// handshakeResult is the outcome of one probe.
type handshakeResult struct {
	spec    probeSpec
	certs   []*x509.Certificate // what the server sent; nil if it sent nothing
	ocsp    []byte              // the stapled OCSP response, if any
	suite   uint16              // the cipher suite agreed (TLS 1.2 and older)
	err     error               // why the handshake did not complete, if it did not
	dialErr bool                // err is from connecting, before TLS
	wrote   bool                // the client sent something: a failure is the server's answer
}

// handshake connects and runs one probe within timeout. A probe that got
// the server's certificates counts as accepted even if the handshake
// failed after them: the server did speak that version.
func handshake(ctx context.Context, address, sni string, spec probeSpec, timeout time.Duration) handshakeResult {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	raw, err := new(net.Dialer).DialContext(ctx, "tcp", address)
	if err != nil {
		return handshakeResult{spec: spec, err: err, dialErr: true}
	}
	defer raw.Close()
	return handshakeOn(ctx, raw, sni, spec)
}

// handshakeOn runs one probe on a connection already made.
func handshakeOn(ctx context.Context, raw net.Conn, sni string, spec probeSpec) handshakeResult {
	if spec.version == tls.VersionTLS13 {
		schemes := ecdsaSchemes
		if spec.key == "RSA" {
			schemes = rsaSchemes
		}
		res, err := probeTLS13(ctx, raw, sni, schemes)
		if err != nil {
			return handshakeResult{spec: spec, err: err, wrote: true}
		}
		return handshakeResult{spec: spec, certs: res.certs, ocsp: res.ocsp, wrote: true}
	}
	h := handshakeResult{spec: spec}
	cc := &watchedConn{Conn: raw}
	conn := tls.Client(cc, probeConfig(sni, spec, &h))
	h.err = conn.HandshakeContext(ctx)
	h.wrote = cc.wrote.Load()
	return h
}

// FetchServed runs on conn the handshake Server makes for one kind of key
// in one TLS version, and returns the certificates the server sent, as
// sent and unverified. key is "ECDSA" or "RSA": in TLS 1.3 the client
// offers only that kind's signature algorithms, in TLS 1.2 only the ECDHE
// cipher suites for it that Go's default client offers; so a server
// holding an ECDSA and an RSA certificate sends the one asked for. version
// is tls.VersionTLS12 or tls.VersionTLS13. With no certificate sent, it
// returns the reason; a server that refuses the version or has no
// certificate of that kind answers with an alert (or, for TLS 1.3, a
// ServerHello for an older version). It does not close conn and stops
// when ctx is done.
func FetchServed(ctx context.Context, conn net.Conn, sni string, version uint16, key string) ([]*x509.Certificate, error) {
	if key != "ECDSA" && key != "RSA" {
		return nil, fmt.Errorf("check: cannot ask for a certificate with a %q key", key)
	}
	if version != tls.VersionTLS12 && version != tls.VersionTLS13 {
		return nil, fmt.Errorf("check: cannot probe %s", tls.VersionName(version))
	}
	h := handshakeOn(ctx, conn, sni, probeSpec{version: version, key: key})
	if len(h.certs) > 0 {
		return h.certs, nil
	}
	if h.err == nil {
		return nil, errors.New("the server sent no certificate")
	}
	return nil, h.err
}

// probeConfig offers exactly the version asked for and the cipher suites
// of the probe, and records what the server sent in h. InsecureSkipVerify:
// the certificates are judged by the chain judge, which is stricter than
// the handshake's own check and says why; nothing read from a probe
// connection is trusted or used for anything else.
func probeConfig(sni string, spec probeSpec, h *handshakeResult) *tls.Config {
	return &tls.Config{
		ServerName:             sni,
		InsecureSkipVerify:     true,
		MinVersion:             spec.version,
		MaxVersion:             spec.version,
		CipherSuites:           suitesFor(spec),
		SessionTicketsDisabled: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			h.certs, h.ocsp, h.suite = cs.PeerCertificates, cs.OCSPResponse, cs.CipherSuite
			return nil
		},
	}
}

// suitesFor returns the cipher suites a probe offers. TLS 1.2 probes for
// a key type offer the ECDHE suites for it that Go's default client
// offers, which every current default client (OpenSSL, gnutls, Java,
// Python, Go) offers too; the legacy probe and older versions offer every
// suite Go implements, insecure ones included.
func suitesFor(spec probeSpec) []uint16 {
	if spec.version < tls.VersionTLS12 || spec.legacy || spec.key == "" {
		return allSuites
	}
	var ids []uint16
	for _, s := range tls.CipherSuites() {
		if strings.HasPrefix(s.Name, "TLS_ECDHE_"+spec.key+"_") && slices.Contains(s.SupportedVersions, tls.VersionTLS12) {
			ids = append(ids, s.ID)
		}
	}
	return ids
}

// allSuites are the IDs of every TLS 1.0-1.2 cipher suite crypto/tls
// implements.
var allSuites = func() []uint16 {
	var ids []uint16
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		for _, v := range s.SupportedVersions {
			if v <= tls.VersionTLS12 {
				ids = append(ids, s.ID)
				break
			}
		}
	}
	return ids
}()

// modernSuiteNames are the OpenSSL names of the suites the TLS 1.2
// probes offer, for the fix nginx needs (ssl_ciphers uses OpenSSL's
// names).
const modernSuiteNames = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

// watchedConn records whether the TLS client wrote anything: a handshake
// that fails before the first write was refused by the client itself (it
// cannot offer that version), and says nothing about the server.
type watchedConn struct {
	net.Conn
	wrote atomic.Bool
}

// Write records that the client wrote, then writes.
func (c *watchedConn) Write(b []byte) (int, error) {
	c.wrote.Store(true)
	return c.Conn.Write(b)
}

func hostOf(address string) string {
	if h, _, err := net.SplitHostPort(address); err == nil {
		return h
	}
	return address
}

// judgeSerial checks that the server sends the certificate expected, such
// as the one a deploy just installed: one of its chains must have it. A
// different serial means nginx still serves another certificate.
func judgeSerial(r *Report, chains []*servedChain, want, host string) {
	want = normalizeSerial(want)
	var got []string
	for _, c := range chains {
		s := c.certs[0].SerialNumber.Text(16)
		if s == want {
			r.add(Serial, Pass, "the server sends the expected certificate (serial %s)", s)
			return
		}
		got = append(got, s)
	}
	r.add(Serial, Fail, "the server sends serial %s, not the expected %s: it still serves another certificate (nginx not reloaded, or another server block answers for %s)",
		strings.Join(got, " and "), want, host)
}
