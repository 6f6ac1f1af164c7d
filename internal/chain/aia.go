package chain

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Fetcher fetches issuer certificates from an AIA caIssuers URL (RFC 5280
// section 4.2.2.1). It is the seam between Build and the network.
//
// Contract: Fetch returns the certificates found at url, or an error that
// says why there are none (it never returns an empty slice with a nil
// error). It must stop when ctx is done. It need not check what it returns:
// Build checks names and signatures. Implementations must be safe for
// concurrent use, since renewd builds several chains at once.
type Fetcher interface {
	Fetch(ctx context.Context, url string) ([]*x509.Certificate, error)
}

const (
	defaultAIAMaxBytes = 1 << 20
	defaultAIATimeout  = 10 * time.Second
)

// HTTPFetcher is the real Fetcher. The URL comes from a certificate, so the
// fetch is bounded in size and time: GET with Client (nil = a client with
// Timeout), body capped at MaxBytes (0 = 1 MiB; larger = error), Timeout (0 =
// 10s, applied to the context as well, so it bounds a custom Client too).
// Only http and https URLs are fetched; ldap URLs, which some private CAs
// publish, are refused. The body may be a DER certificate, PEM (one or more
// certificates), or PKCS#7 certs-only SignedData, DER or PEM "PKCS7", which is
// what many CAs publish as .p7c; the Content-Type header is ignored because
// CAs often get it wrong. BER indefinite-length PKCS#7 is not supported. The
// zero value is ready to use and safe for concurrent use.
type HTTPFetcher struct {
	Client   *http.Client
	MaxBytes int64
	Timeout  time.Duration
}

var _ Fetcher = HTTPFetcher{}

// Fetch GETs rawURL and parses the issuer certificates in the body. Errors
// from the HTTP client name the URL; the others leave that to the caller,
// which knows it (IncompleteError lists it).
func (f HTTPFetcher) Fetch(ctx context.Context, rawURL string) ([]*x509.Certificate, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("parse AIA URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("AIA URL %q: scheme %q is not supported, only http and https", rawURL, u.Scheme)
	}
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = defaultAIATimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body, err := f.get(ctx, u.String(), timeout)
	if err != nil {
		return nil, err
	}
	return parseIssuers(body)
}

func (f HTTPFetcher) get(ctx context.Context, u string, timeout time.Duration) ([]byte, error) {
	limit := f.MaxBytes
	if limit <= 0 {
		limit = defaultAIAMaxBytes
	}
	client := f.Client
	if client == nil {
		client = &http.Client{Timeout: timeout}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/pkix-cert, application/pkcs7-mime, application/pem-certificate-chain, */*;q=0.1")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("response is %d bytes, more than the %d allowed", resp.ContentLength, limit)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("response is more than the %d bytes allowed", limit)
	}
	return body, nil
}

// parseIssuers reads an AIA response in any of the formats CAs publish,
// sniffing the content rather than trusting Content-Type.
func parseIssuers(body []byte) ([]*x509.Certificate, error) {
	text := bytes.TrimLeft(bytes.TrimPrefix(body, utf8BOM), pemSpace)
	if len(text) == 0 {
		return nil, errors.New("empty response")
	}
	if bytes.HasPrefix(text, pemBegin) {
		return parseIssuersPEM(body)
	}
	c, certErr := x509.ParseCertificate(body)
	if certErr == nil {
		return []*x509.Certificate{c}, nil
	}
	certs, p7Err := parsePKCS7(body)
	if p7Err == nil {
		return certs, nil
	}
	return nil, fmt.Errorf("response is neither PEM, a DER certificate (%v) nor PKCS#7 (%v)", certErr, p7Err)
}

func parseIssuersPEM(data []byte) ([]*x509.Certificate, error) {
	blocks, err := pemBlocks(data, false)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for i, b := range blocks {
		if err := wantType(i+1, b.Type, "CERTIFICATE", "PKCS7", "CMS"); err != nil {
			return nil, err
		}
		if b.Type != "CERTIFICATE" {
			more, err := parsePKCS7(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("PEM block %d: %w", i+1, err)
			}
			certs = append(certs, more...)
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: parse certificate: %w", i+1, err)
		}
		certs = append(certs, c)
	}
	return certs, nil
}
