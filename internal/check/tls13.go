package check

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
)

// This file is the first half of a TLS 1.3 client handshake (RFC 8446),
// just enough to see which certificates a server sends when the client
// offers only some signature algorithms. crypto/tls cannot restrict the
// signature algorithms its client offers, and a server with an ECDSA and
// an RSA certificate picks one by them; each is judged, so each must be
// fetched. The handshake stops after the server's Certificate message:
// nothing is authenticated and nothing read is trusted; the certificates
// go to the judge like any others.
//
// It offers TLS_AES_128_GCM_SHA256, the suite every TLS 1.3 server must
// support (RFC 8446 section 9.1), and TLS_AES_256_GCM_SHA384; a server
// that allows only ChaCha20-Poly1305 is reported as refusing TLS 1.3.

// The TLS 1.3 signature schemes offered for one key type. The ECDSA probe
// also offers Ed25519, after ECDSA, so a server with only an Ed25519
// certificate is not taken for one that refuses TLS 1.3.
var (
	ecdsaSchemes = []uint16{0x0403, 0x0503, 0x0603, 0x0807}                 // ecdsa_secp256r1_sha256 .. secp521r1_sha512, ed25519
	rsaSchemes   = []uint16{0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601} // rsa_pss_rsae_*, rsa_pkcs1_* (for certificates)
)

// tls13Result is what the server sent before the handshake was stopped.
type tls13Result struct {
	certs []*x509.Certificate
	ocsp  []byte // the leaf's stapled OCSP response, if any
}

// refusedError is the server turning the handshake down: an alert, or a
// ServerHello for another version.
type refusedError struct{ reason string }

// Error says how the server refused.
func (e *refusedError) Error() string { return e.reason }

const (
	recordCCS       = 20
	recordAlert     = 21
	recordHandshake = 22
	recordAppData   = 23

	msgClientHello   = 1
	msgServerHello   = 2
	msgEncryptedExts = 8
	msgCertificate   = 11
	msgCertRequest   = 13
	msgMessageHash   = 254

	maxRecord    = 16384 + 256
	maxHandshake = 256 << 10
)

// hrrRandom marks a ServerHello as a HelloRetryRequest (RFC 8446 section
// 4.1.3).
var hrrRandom = sha256.Sum256([]byte("HelloRetryRequest"))

// The named groups offered; key shares go for the first two up front.
var tls13Groups = []struct {
	id    uint16
	curve ecdh.Curve
}{{0x001d, ecdh.X25519()}, {0x0017, ecdh.P256()}, {0x0018, ecdh.P384()}, {0x0019, ecdh.P521()}}

// tls13Client is one probe handshake.
type tls13Client struct {
	conn      net.Conn
	sni       string
	schemes   []uint16
	random    [32]byte
	sessionID [32]byte
	keys      map[uint16]*ecdh.PrivateKey
	rec       recordReader
}

// probeTLS13 runs the first flight of a TLS 1.3 handshake on conn offering
// the signature schemes given, and returns the certificates the server
// sent. A *refusedError says the server turned it down.
func probeTLS13(ctx context.Context, conn net.Conn, sni string, schemes []uint16) (*tls13Result, error) {
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	c := &tls13Client{conn: conn, sni: sni, schemes: schemes, keys: map[uint16]*ecdh.PrivateKey{}, rec: recordReader{r: conn}}
	if _, err := io.ReadFull(rand.Reader, c.random[:]); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(rand.Reader, c.sessionID[:]); err != nil {
		return nil, err
	}
	res, err := c.run()
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return res, err
}

func (c *tls13Client) run() (*tls13Result, error) {
	ch1, err := c.clientHello([]uint16{0x001d, 0x0017}, nil)
	if err != nil {
		return nil, err
	}
	if err := c.send(ch1, 0x0301); err != nil {
		return nil, err
	}
	transcript := [][]byte{ch1}
	sh, err := c.serverHello()
	if err != nil {
		return nil, err
	}
	if sh.retry {
		h := sh.hash()
		h.Write(ch1)
		synthetic := append([]byte{msgMessageHash, 0, 0, byte(h.Size())}, h.Sum(nil)...)
		ch2, err := c.clientHello([]uint16{sh.group}, sh.cookie)
		if err != nil {
			return nil, err
		}
		if err := c.send(ch2, 0x0303); err != nil {
			return nil, err
		}
		transcript = [][]byte{synthetic, sh.raw, ch2}
		if sh, err = c.serverHello(); err != nil {
			return nil, err
		}
		if sh.retry {
			return nil, errors.New("TLS 1.3 probe: the server asked twice to retry the handshake")
		}
	}
	if err := c.handshakeKeys(sh, append(transcript, sh.raw)); err != nil {
		return nil, err
	}
	return c.certificate()
}

func (c *tls13Client) send(msg []byte, version uint16) error {
	rec := []byte{recordHandshake, byte(version >> 8), byte(version), byte(len(msg) >> 8), byte(len(msg))}
	_, err := c.conn.Write(append(rec, msg...))
	return err
}

// clientHello builds a ClientHello with key shares for groups.
func (c *tls13Client) clientHello(groups []uint16, cookie []byte) ([]byte, error) {
	var shares builder
	for _, g := range groups {
		k, err := c.keyFor(g)
		if err != nil {
			return nil, err
		}
		shares.u16(g)
		shares.vec16(func(b *builder) { b.raw(k.PublicKey().Bytes()) })
	}
	var exts builder
	if c.sni != "" && net.ParseIP(c.sni) == nil {
		exts.ext(0, func(b *builder) { // server_name
			b.vec16(func(b *builder) { b.u8(0); b.vec16(func(b *builder) { b.raw([]byte(c.sni)) }) })
		})
	}
	exts.ext(10, func(b *builder) { // supported_groups
		b.vec16(func(b *builder) {
			for _, g := range tls13Groups {
				b.u16(g.id)
			}
		})
	})
	exts.ext(13, func(b *builder) { b.vec16(func(b *builder) { b.u16s(c.schemes) }) }) // signature_algorithms
	exts.ext(50, func(b *builder) {                                                    // signature_algorithms_cert: any, so only the above picks the certificate
		b.vec16(func(b *builder) { b.u16s(ecdsaSchemes); b.u16s(rsaSchemes) })
	})
	exts.ext(43, func(b *builder) { b.vec8(func(b *builder) { b.u16(0x0304) }) }) // supported_versions
	exts.ext(51, func(b *builder) { b.vec16(func(b *builder) { b.raw(shares.bytes()) }) })
	exts.ext(5, func(b *builder) { b.u8(1); b.u16(0); b.u16(0) }) // status_request: OCSP
	if cookie != nil {
		exts.ext(44, func(b *builder) { b.vec16(func(b *builder) { b.raw(cookie) }) })
	}
	var body builder
	body.u16(0x0303)
	body.raw(c.random[:])
	body.vec8(func(b *builder) { b.raw(c.sessionID[:]) })
	body.vec16(func(b *builder) { b.u16(0x1301); b.u16(0x1302) })
	body.vec8(func(b *builder) { b.u8(0) })
	body.vec16(func(b *builder) { b.raw(exts.bytes()) })
	var msg builder
	msg.u8(msgClientHello)
	msg.vec24(func(b *builder) { b.raw(body.bytes()) })
	return msg.bytes(), nil
}

// keyFor returns the key share for group, made once per probe.
func (c *tls13Client) keyFor(group uint16) (*ecdh.PrivateKey, error) {
	if k, ok := c.keys[group]; ok {
		return k, nil
	}
	for _, g := range tls13Groups {
		if g.id == group {
			k, err := g.curve.GenerateKey(rand.Reader)
			if err != nil {
				return nil, err
			}
			c.keys[group] = k
			return k, nil
		}
	}
	return nil, fmt.Errorf("TLS 1.3 probe: the server asked for group 0x%04x, which is not offered", group)
}

// serverHello is what a ServerHello (or HelloRetryRequest) said.
type serverHello struct {
	raw     []byte
	retry   bool
	suite   uint16
	version uint16
	group   uint16
	share   []byte
	cookie  []byte
}

func (sh *serverHello) hash() hash.Hash {
	if sh.suite == 0x1302 {
		return sha512.New384()
	}
	return sha256.New()
}

func (c *tls13Client) serverHello() (*serverHello, error) {
	raw, err := c.rec.handshake()
	if err != nil {
		return nil, err
	}
	if raw[0] != msgServerHello {
		return nil, fmt.Errorf("TLS 1.3 probe: handshake message %d where a ServerHello belongs", raw[0])
	}
	r := reader{b: raw[4:]}
	sh := &serverHello{raw: raw}
	r.u16() // legacy_version
	sh.retry = bytes.Equal(r.take(32), hrrRandom[:])
	r.vec8()
	sh.suite = r.u16()
	r.u8()
	exts := r.vec16()
	for !exts.empty() && !exts.bad {
		typ, data := exts.u16(), exts.vec16()
		switch typ {
		case 43:
			sh.version = data.u16()
		case 51:
			sh.group = data.u16()
			if !sh.retry {
				sh.share = data.vec16().b
			}
		case 44:
			sh.cookie = data.vec16().b
		}
	}
	switch {
	case r.bad || exts.bad:
		return nil, errors.New("TLS 1.3 probe: malformed ServerHello")
	case sh.version != 0x0304:
		return nil, &refusedError{"the server answered for TLS 1.2 or older"}
	case sh.suite != 0x1301 && sh.suite != 0x1302:
		return nil, fmt.Errorf("TLS 1.3 probe: the server chose cipher suite 0x%04x, which was not offered", sh.suite)
	}
	return sh, nil
}

// handshakeKeys derives the server's handshake traffic keys (RFC 8446
// section 7.1) and switches the record reader to them.
func (c *tls13Client) handshakeKeys(sh *serverHello, transcript [][]byte) error {
	key, ok := c.keys[sh.group]
	if !ok {
		return fmt.Errorf("TLS 1.3 probe: the server used group 0x%04x without asking for it", sh.group)
	}
	peer, err := key.Curve().NewPublicKey(sh.share)
	if err != nil {
		return fmt.Errorf("TLS 1.3 probe: server key share: %w", err)
	}
	shared, err := key.ECDH(peer)
	if err != nil {
		return fmt.Errorf("TLS 1.3 probe: key exchange: %w", err)
	}
	newHash := func() hash.Hash { return sh.hash() }
	th := newHash()
	for _, m := range transcript {
		th.Write(m)
	}
	size := th.Size()
	early, err := hkdf.Extract(newHash, make([]byte, size), nil)
	if err != nil {
		return err
	}
	empty := newHash().Sum(nil)
	secret, err := hkdf.Extract(newHash, shared, expandLabel(newHash, early, "derived", empty, size))
	if err != nil {
		return err
	}
	traffic := expandLabel(newHash, secret, "s hs traffic", th.Sum(nil), size)
	keyLen := 16
	if sh.suite == 0x1302 {
		keyLen = 32
	}
	block, err := aes.NewCipher(expandLabel(newHash, traffic, "key", nil, keyLen))
	if err != nil {
		return err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return err
	}
	c.rec.aead, c.rec.iv = aead, expandLabel(newHash, traffic, "iv", nil, 12)
	return nil
}

// expandLabel is HKDF-Expand-Label (RFC 8446 section 7.1).
func expandLabel(h func() hash.Hash, secret []byte, label string, context []byte, n int) []byte {
	var info builder
	info.u16(uint16(n))
	info.vec8(func(b *builder) { b.raw([]byte("tls13 " + label)) })
	info.vec8(func(b *builder) { b.raw(context) })
	out, err := hkdf.Expand(h, secret, string(info.bytes()), n)
	if err != nil {
		panic("hkdf: " + err.Error()) // only for lengths no caller asks for
	}
	return out
}

// certificate reads the encrypted messages up to the server's
// Certificate and parses it.
func (c *tls13Client) certificate() (*tls13Result, error) {
	for {
		msg, err := c.rec.handshake()
		if err != nil {
			return nil, err
		}
		switch msg[0] {
		case msgEncryptedExts, msgCertRequest:
			continue
		case msgCertificate:
			return parseCertificateMsg(msg[4:])
		default:
			return nil, fmt.Errorf("TLS 1.3 probe: handshake message %d where the Certificate belongs", msg[0])
		}
	}
}

// parseCertificateMsg reads a TLS 1.3 Certificate message body: the
// certificates and the leaf's stapled OCSP response.
func parseCertificateMsg(body []byte) (*tls13Result, error) {
	r := reader{b: body}
	r.vec8() // certificate_request_context
	list := r.vec24()
	res := &tls13Result{}
	for !list.empty() && !list.bad {
		der := list.vec24()
		exts := list.vec16()
		c, err := x509.ParseCertificate(der.b)
		if err != nil {
			return nil, fmt.Errorf("the server sent certificate %d, which does not parse: %w", len(res.certs)+1, err)
		}
		for len(res.certs) == 0 && !exts.empty() && !exts.bad {
			typ, data := exts.u16(), exts.vec16()
			if typ == 5 && data.u8() == 1 {
				res.ocsp = data.vec24().b
			}
		}
		res.certs = append(res.certs, c)
		if len(res.certs) > 20 {
			return nil, errors.New("the server sent more than 20 certificates")
		}
	}
	if r.bad || list.bad || len(res.certs) == 0 {
		return nil, errors.New("TLS 1.3 probe: malformed or empty Certificate message")
	}
	return res, nil
}

// recordReader reads TLS records and returns whole handshake messages,
// decrypting once the handshake keys are known.
type recordReader struct {
	r    io.Reader
	aead cipher.AEAD
	iv   []byte
	seq  uint64
	buf  []byte // handshake bytes not yet returned
}

// handshake returns the next handshake message, header included.
func (rr *recordReader) handshake() ([]byte, error) {
	for {
		if len(rr.buf) >= 4 {
			n := int(rr.buf[1])<<16 | int(rr.buf[2])<<8 | int(rr.buf[3])
			if n > maxHandshake {
				return nil, fmt.Errorf("TLS 1.3 probe: handshake message of %d bytes", n)
			}
			if len(rr.buf) >= 4+n {
				msg := rr.buf[: 4+n : 4+n]
				rr.buf = rr.buf[4+n:]
				return msg, nil
			}
		}
		typ, data, err := rr.record()
		if err != nil {
			return nil, err
		}
		switch typ {
		case recordHandshake:
			rr.buf = append(rr.buf, data...)
		case recordAlert:
			if len(data) < 2 {
				return nil, errors.New("TLS 1.3 probe: malformed alert")
			}
			return nil, &refusedError{"the server sent the alert " + alertName(data[1])}
		default:
			return nil, fmt.Errorf("TLS 1.3 probe: unexpected record type %d", typ)
		}
	}
}

// record reads one record, skipping middlebox-compatibility
// ChangeCipherSpec records and decrypting protected ones.
func (rr *recordReader) record() (byte, []byte, error) {
	for {
		hdr := make([]byte, 5)
		if _, err := io.ReadFull(rr.r, hdr); err != nil {
			return 0, nil, err
		}
		n := int(binary.BigEndian.Uint16(hdr[3:]))
		if n > maxRecord {
			return 0, nil, fmt.Errorf("TLS 1.3 probe: record of %d bytes", n)
		}
		data := make([]byte, n)
		if _, err := io.ReadFull(rr.r, data); err != nil {
			return 0, nil, err
		}
		switch {
		case hdr[0] == recordCCS:
			continue
		case hdr[0] == recordAppData && rr.aead != nil:
			return rr.open(hdr, data)
		default:
			return hdr[0], data, nil
		}
	}
}

// open decrypts a protected record and returns its inner type and content.
func (rr *recordReader) open(hdr, data []byte) (byte, []byte, error) {
	nonce := make([]byte, len(rr.iv))
	copy(nonce, rr.iv)
	for i := range 8 {
		nonce[len(nonce)-1-i] ^= byte(rr.seq >> (8 * i))
	}
	rr.seq++
	plain, err := rr.aead.Open(nil, nonce, data, hdr)
	if err != nil {
		return 0, nil, fmt.Errorf("TLS 1.3 probe: decrypt: %w", err)
	}
	i := len(plain) - 1
	for i >= 0 && plain[i] == 0 {
		i--
	}
	if i < 0 {
		return 0, nil, errors.New("TLS 1.3 probe: empty protected record")
	}
	return plain[i], plain[:i], nil
}

// alertName names the TLS alerts a server refuses a handshake with.
func alertName(code byte) string {
	switch code {
	case 40:
		return "handshake failure"
	case 47:
		return "illegal parameter"
	case 70:
		return "protocol version"
	case 71:
		return "insufficient security"
	case 80:
		return "internal error"
	case 112:
		return "unrecognized name"
	}
	return fmt.Sprintf("%d", code)
}

// builder writes TLS wire structures.
type builder struct{ b []byte }

func (b *builder) bytes() []byte { return b.b }
func (b *builder) raw(p []byte)  { b.b = append(b.b, p...) }
func (b *builder) u8(v byte)     { b.b = append(b.b, v) }
func (b *builder) u16(v uint16)  { b.b = binary.BigEndian.AppendUint16(b.b, v) }
func (b *builder) u16s(v []uint16) {
	for _, x := range v {
		b.u16(x)
	}
}

func (b *builder) vec(lenBytes int, f func(*builder)) {
	var inner builder
	f(&inner)
	n := len(inner.b)
	for i := lenBytes - 1; i >= 0; i-- {
		b.u8(byte(n >> (8 * i)))
	}
	b.raw(inner.b)
}

func (b *builder) vec8(f func(*builder))  { b.vec(1, f) }
func (b *builder) vec16(f func(*builder)) { b.vec(2, f) }
func (b *builder) vec24(f func(*builder)) { b.vec(3, f) }

// ext writes one extension.
func (b *builder) ext(typ uint16, f func(*builder)) {
	b.u16(typ)
	b.vec16(f)
}

// reader reads TLS wire structures; a short read sets bad and yields
// zeros, so parsers check bad once at the end.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) empty() bool { return len(r.b) == 0 }

func (r *reader) take(n int) []byte {
	if n > len(r.b) {
		r.bad, r.b = true, nil
		return make([]byte, min(n, 32)) // zeros: callers check bad
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

func (r *reader) u8() byte    { return r.take(1)[0] }
func (r *reader) u16() uint16 { return binary.BigEndian.Uint16(r.take(2)) }

func (r *reader) vec(lenBytes int) *reader {
	n := 0
	for _, c := range r.take(lenBytes) {
		n = n<<8 | int(c)
	}
	out := &reader{b: r.take(n)}
	out.bad = r.bad
	return out
}

func (r *reader) vec8() *reader  { return r.vec(1) }
func (r *reader) vec16() *reader { return r.vec(2) }
func (r *reader) vec24() *reader { return r.vec(3) }
