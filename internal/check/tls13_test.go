package check

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// TestParseCertificateMsgMalformed: whatever a server sends in place of a
// Certificate message is an error, never a panic or a shorter chain.
func TestParseCertificateMsgMalformed(t *testing.T) {
	p := newPKI(t)
	var good builder
	good.vec8(func(*builder) {})
	good.vec24(func(b *builder) {
		b.vec24(func(b *builder) { b.raw(p.leaf.Cert.Raw) })
		b.vec16(func(*builder) {})
	})
	tests := []struct {
		desc string
		body []byte
		want string
	}{
		{"empty", nil, "malformed or empty"},
		{"no certificates", []byte{0, 0, 0, 0}, "malformed or empty"},
		{"truncated", good.bytes()[:len(good.bytes())-10], "malformed or empty"},
		{"length past the end", []byte{0, 0xff, 0xff, 0xff}, "malformed or empty"},
		{"not a certificate", []byte{0, 0, 0, 6, 0, 0, 1, 0x30, 0, 0}, "does not parse"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := parseCertificateMsg(tc.body)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want one saying %q", err, tc.want)
			}
		})
	}
	res, err := parseCertificateMsg(good.bytes())
	if err != nil || len(res.certs) != 1 || !res.certs[0].Equal(p.leaf.Cert) {
		t.Errorf("the well-formed message: %v, %v", res, err)
	}
}

// TestProbeTLS13Answers: a server that answers a TLS 1.3 ClientHello with
// an alert refuses; one that answers garbage or nothing fails the probe
// without hanging past its deadline.
func TestProbeTLS13Answers(t *testing.T) {
	tests := []struct {
		desc    string
		answer  []byte
		refused bool
	}{
		{"protocol version alert", []byte{recordAlert, 3, 3, 0, 2, 2, 70}, true},
		{"handshake failure alert", []byte{recordAlert, 3, 3, 0, 2, 2, 40}, true},
		{"a TLS 1.2 ServerHello", serverHello12(), true},
		{"garbage", []byte("HTTP/1.1 400 Bad Request\r\n\r\n"), false},
		{"nothing", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			client, server := net.Pipe()
			defer client.Close()
			go func() {
				buf := make([]byte, 4096)
				_, _ = server.Read(buf)
				if tc.answer != nil {
					_, _ = server.Write(tc.answer)
					server.Close()
				}
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			_, err := probeTLS13(ctx, client, "shop.example.com", ecdsaSchemes)
			var refused *refusedError
			if err == nil || errors.As(err, &refused) != tc.refused {
				t.Errorf("error = %v (%T), refused %v", err, err, tc.refused)
			}
			server.Close()
		})
	}
}

// serverHello12 is a ServerHello choosing TLS 1.2: no supported_versions.
func serverHello12() []byte {
	var body builder
	body.u16(0x0303)
	body.raw(make([]byte, 32))
	body.vec8(func(*builder) {})
	body.u16(0xc02b)
	body.u8(0)
	body.vec16(func(*builder) {})
	var msg builder
	msg.u8(msgServerHello)
	msg.vec24(func(b *builder) { b.raw(body.bytes()) })
	rec := []byte{recordHandshake, 3, 3, byte(len(msg.bytes()) >> 8), byte(len(msg.bytes()))}
	return append(rec, msg.bytes()...)
}
