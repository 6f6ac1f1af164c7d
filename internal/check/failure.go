package check

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"
)

// alertProtocolVersion is the TLS alert a client sends when the server
// picked a version it did not offer (RFC 8446 section 6.2).
const alertProtocolVersion = 70

// classify turns one failed probe into refused or not probed. Refused
// needs an answer from the server: an alert, a closed connection or a
// version other than the one offered. Anything else (the client could not
// offer the version, no connection, a timeout) is "not probed".
func (h handshakeResult) classify(timeout time.Duration) versionResult {
	res := versionResult{version: h.spec.version}
	switch {
	case h.err == nil || len(h.certs) > 0:
		res.accepted = &yes
	case h.dialErr:
		res.reason = "cannot connect: " + h.err.Error()
	case !h.wrote:
		res.reason = "this TLS client cannot offer it (" + h.err.Error() + ")"
	case timedOut(h.err):
		res.reason = fmt.Sprintf("no answer within %s", timeout)
	case refusal(h.err):
		res.accepted, res.reason = &no, refusalReason(h.err)
	default:
		res.reason = h.err.Error()
	}
	return res
}

// refusal reports whether err is the server turning a version down.
func refusal(err error) bool {
	var op *net.OpError
	var local tls.AlertError
	var refused *refusedError
	switch {
	case errors.As(err, &refused):
		return true
	case errors.As(err, &op) && op.Op == "remote error":
		return true
	case errors.As(err, &local) && local == alertProtocolVersion:
		return true
	default:
		return closed(err)
	}
}

func refusalReason(err error) string {
	if closed(err) {
		return "the server closed the connection"
	}
	return err.Error()
}

// closed reports whether the server closed or reset the connection.
func closed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func timedOut(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// describe says in words why no TLS connection to address was made, and
// what usually causes it.
func (h handshakeResult) describe(address string, timeout time.Duration) string {
	if h.dialErr {
		return describeDial(address, h.err, timeout)
	}
	var rh tls.RecordHeaderError
	var op *net.OpError
	switch {
	case errors.As(h.err, &rh) && bytes.HasPrefix(rh.RecordHeader[:], []byte("HTTP/")):
		return address + " answers in plain HTTP, not TLS: is this the HTTP port, or does nginx's listen directive lack \"ssl\"?"
	case errors.As(h.err, &rh):
		return fmt.Sprintf("%s does not speak TLS (its first bytes were %q)", address, rh.RecordHeader[:])
	case timedOut(h.err):
		return fmt.Sprintf("%s accepted the connection but completed no TLS handshake within %s", address, timeout)
	case closed(h.err):
		return address + " closed the connection during the TLS handshake (no TLS on this port, no certificate for this name, or it refuses this client)"
	case errors.As(h.err, &op) && op.Op == "remote error":
		return fmt.Sprintf("%s refused the TLS handshake: %v", address, op.Err)
	default:
		return fmt.Sprintf("TLS handshake with %s failed: %v", address, h.err)
	}
}

func describeDial(address string, err error, timeout time.Duration) string {
	var dns *net.DNSError
	switch {
	case errors.As(err, &dns):
		return fmt.Sprintf("cannot resolve %s: %s", dns.Name, dns.Err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "cannot connect to " + address + ": connection refused (nothing listens there)"
	case timedOut(err):
		return fmt.Sprintf("cannot connect to %s: no answer within %s (a firewall, or the wrong address?)", address, timeout)
	default:
		return fmt.Sprintf("cannot connect to %s: %v", address, err)
	}
}
