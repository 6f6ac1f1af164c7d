package chain

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

var (
	pemBegin = []byte("-----BEGIN ")
	pemEnd   = []byte("-----END ")
	utf8BOM  = []byte("\xef\xbb\xbf")
)

const pemSpace = " \t\r\n\v\f"

// ParsePEM returns every CERTIFICATE block of a chain file in order. It is
// strict where encoding/pem is lenient: pem.Decode silently skips text and
// malformed blocks, so a truncated or corrupted intermediate would vanish and
// the chain would look shorter instead of broken. Only whitespace may
// surround the blocks; any other block type (a private key above all) is an
// error, because a fullchain must not carry a key. Errors name the block by
// its position, counted from 1.
func ParsePEM(data []byte) ([]*x509.Certificate, error) {
	blocks, err := pemBlocks(data, false)
	if err != nil {
		return nil, err
	}
	if len(blocks) == 0 {
		return nil, errors.New("no CERTIFICATE block in PEM data")
	}
	return certsFromBlocks(blocks)
}

// certsFromBlocks parses blocks that must all be certificates.
func certsFromBlocks(blocks []*pem.Block) ([]*x509.Certificate, error) {
	certs := make([]*x509.Certificate, 0, len(blocks))
	for i, b := range blocks {
		if err := wantType(i+1, b.Type, "CERTIFICATE"); err != nil {
			return nil, err
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: parse certificate: %w", i+1, err)
		}
		certs = append(certs, c)
	}
	return certs, nil
}

// wantType rejects a block of another type without echoing its content.
func wantType(n int, got string, want ...string) error {
	for _, w := range want {
		if got == w {
			return nil
		}
	}
	if strings.Contains(got, "PRIVATE KEY") {
		return fmt.Errorf("PEM block %d is a private key (%q): a certificate chain must not carry a key", n, got)
	}
	return fmt.Errorf("PEM block %d is %q, want %s", n, got, strings.Join(want, " or "))
}

// pemBlocks splits data into PEM blocks, each decoded on its own so a broken
// block is reported instead of skipped. With allowText, explanatory text
// between blocks (as in CA bundle files) is skipped; without it only
// whitespace is allowed. A leading UTF-8 byte order mark is ignored.
func pemBlocks(data []byte, allowText bool) ([]*pem.Block, error) {
	var blocks []*pem.Block
	rest := bytes.TrimPrefix(data, utf8BOM)
	for {
		rest = bytes.TrimLeft(rest, pemSpace)
		if allowText {
			if i := bytes.Index(rest, pemBegin); i >= 0 {
				rest = rest[i:]
			} else {
				rest = nil
			}
		}
		if len(rest) == 0 {
			return blocks, nil
		}
		n := len(blocks) + 1
		if !bytes.HasPrefix(rest, pemBegin) {
			return nil, unexpectedData(len(data)-len(rest), n-1)
		}
		end := blockEnd(rest)
		if end < 0 {
			return nil, fmt.Errorf("PEM block %d has no -----END line (truncated?)", n)
		}
		seg := rest[:end]
		if bytes.Count(seg, pemBegin) != 1 {
			return nil, fmt.Errorf("PEM block %d has no -----END line before the next -----BEGIN (truncated?)", n)
		}
		block, tail := pem.Decode(seg)
		if block == nil || len(bytes.TrimLeft(tail, pemSpace)) != 0 {
			return nil, fmt.Errorf("PEM block %d is malformed (bad base64 or mismatched -----END line)", n)
		}
		blocks = append(blocks, block)
		rest = rest[end:]
	}
}

// blockEnd returns the offset just past the first -----END line in data, or
// -1 if there is none.
func blockEnd(data []byte) int {
	i := bytes.Index(data, pemEnd)
	if i < 0 {
		return -1
	}
	if nl := bytes.IndexByte(data[i:], '\n'); nl >= 0 {
		return i + nl + 1
	}
	return len(data)
}

// unexpectedData reports stray bytes by offset only: they may be key material
// and must not reach a log.
func unexpectedData(offset, after int) error {
	if after == 0 {
		return fmt.Errorf("not PEM: non-whitespace data at byte %d before any -----BEGIN line", offset)
	}
	return fmt.Errorf("unexpected non-PEM data at byte %d after PEM block %d (only whitespace may follow a block)", offset, after)
}
