package check

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
	"time"
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
	// case, colons allowed, as state.json records it. A deploy verification
	// passes the serial it just installed.
	ExpectSerial string
	// SkipProtocols makes one handshake at whatever version the server
	// picks instead of probing TLS 1.0 to 1.3, and judges no protocols:
	// Protocols then only says which version was negotiated.
	SkipProtocols bool
}

func (o ServerOptions) timeout() time.Duration {
	if o.Timeout <= 0 {
		return DefaultTimeout
	}
	return o.Timeout
}

// Server connects to address (host:port) asking for sni, and judges what
// the server sent as Judge does, plus the TLS versions it accepts: each of
// TLS 1.0, 1.1, 1.2 and 1.3 gets its own handshake with MinVersion and
// MaxVersion set to it. The chain judged is the one sent in the newest
// version accepted. An empty sni sends none and judges the names against
// address's host.
//
// Server never returns an error: a server that cannot be reached, closes
// the connection or does not speak TLS is a Connect finding that fails the
// Report. It stops when ctx is done. Nothing read from the connections is
// trusted: the handshake does not verify the certificates, Judge does.
func Server(ctx context.Context, address, sni string, opts ServerOptions) *Report {
	results, state, failure := probe(ctx, address, sni, opts)
	host := sni
	if host == "" {
		host = hostOf(address)
	}
	var r *Report
	if state == nil {
		r = &Report{Source: Served, SNI: sni, Protocols: &Protocols{}}
		r.add(Connect, Fail, "%s", failure)
	} else {
		r = Judge(state.PeerCertificates, host, opts.Options)
		r.SNI = sni
		r.Protocols = protocolsOf(results)
		if !opts.SkipProtocols {
			judgeProtocols(r, results)
		}
		if opts.ExpectSerial != "" && len(state.PeerCertificates) > 0 {
			judgeSerial(r, state.PeerCertificates[0], opts.ExpectSerial, host)
		}
	}
	r.Target, r.Address = host, address
	r.sortFindings()
	return r
}

// probe runs the handshakes and returns what each version did, the state
// of the newest successful handshake, or why none succeeded.
func probe(ctx context.Context, address, sni string, opts ServerOptions) ([]versionResult, *tls.ConnectionState, string) {
	timeout := opts.timeout()
	if opts.SkipProtocols {
		h := handshake(ctx, address, sni, tls.VersionTLS10, tls.VersionTLS13, timeout)
		if h.err != nil {
			return nil, nil, h.describe(address, timeout)
		}
		return []versionResult{{version: h.state.Version, accepted: &yes}}, h.state, ""
	}
	hs := make([]handshakeResult, len(tlsVersions))
	var wg sync.WaitGroup
	for i, v := range tlsVersions {
		wg.Go(func() { hs[i] = handshake(ctx, address, sni, v, v, timeout) })
	}
	wg.Wait()
	var state *tls.ConnectionState
	results := make([]versionResult, len(hs))
	for i, h := range hs {
		results[i] = h.classify(tlsVersions[i], timeout)
		if h.err == nil {
			state = h.state // the newest wins: tlsVersions is oldest first
		}
	}
	if state == nil {
		return nil, nil, mainFailure(hs).describe(address, timeout)
	}
	return results, state, ""
}

var yes, no = true, false

// mainFailure picks the failure to report when no version worked: the TLS
// 1.2 handshake's, unless the client never sent it, then the first one that
// reached the server.
func mainFailure(hs []handshakeResult) handshakeResult {
	i12 := 2 // tlsVersions[2] is TLS 1.2
	if hs[i12].wrote || hs[i12].dialErr {
		return hs[i12]
	}
	for _, h := range hs {
		if h.wrote || h.dialErr {
			return h
		}
	}
	return hs[i12]
}

// handshakeResult is the outcome of one connection.
type handshakeResult struct {
	state   *tls.ConnectionState
	err     error
	dialErr bool // err is from connecting, before TLS
	wrote   bool // the client sent something: a failure is the server's answer
}

// handshake connects and completes one TLS handshake with versions
// minV..maxV, within timeout.
func handshake(ctx context.Context, address, sni string, minV, maxV uint16, timeout time.Duration) handshakeResult {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	raw, err := new(net.Dialer).DialContext(ctx, "tcp", address)
	if err != nil {
		return handshakeResult{err: err, dialErr: true}
	}
	cc := &watchedConn{Conn: raw}
	conn := tls.Client(cc, probeConfig(sni, minV, maxV))
	defer conn.Close()
	if err := conn.HandshakeContext(ctx); err != nil {
		return handshakeResult{err: err, wrote: cc.wrote.Load()}
	}
	st := conn.ConnectionState()
	return handshakeResult{state: &st, wrote: true}
}

// probeConfig offers exactly the versions asked for and every cipher suite
// Go knows, insecure ones included, so a probe answers "does the server
// accept this version" and not "does it accept Go's default suites".
// InsecureSkipVerify: the certificates are judged by Judge, which is
// stricter than the handshake's own check and says why; nothing read from
// a probe connection is trusted or used for anything else.
func probeConfig(sni string, minV, maxV uint16) *tls.Config {
	return &tls.Config{
		ServerName:             sni,
		InsecureSkipVerify:     true,
		MinVersion:             minV,
		MaxVersion:             maxV,
		CipherSuites:           allSuites,
		SessionTicketsDisabled: true,
	}
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

// watchedConn records whether the TLS client wrote anything: a handshake
// that fails before the first write was refused by the client itself (it
// cannot offer that version), and says nothing about the server.
type watchedConn struct {
	net.Conn
	wrote atomic.Bool
}

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
