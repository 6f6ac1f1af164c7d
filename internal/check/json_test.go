package check

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/renewd/renewd/internal/testpki"
)

// decodeJSON runs WriteJSON and decodes the document generically, so the
// test sees the field names a machine sees.
func decodeJSON(t *testing.T, reports []*Report, strict bool) map[string]any {
	t.Helper()
	var b bytes.Buffer
	if err := WriteJSON(&b, reports, strict); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	return doc
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func wantKeys(t *testing.T, what string, m map[string]any, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := keys(m); !slices.Equal(got, want) {
		t.Errorf("%s keys = %q, want %q", what, got, want)
	}
}

func wantField(t *testing.T, m map[string]any, key string, want any) {
	t.Helper()
	if got := m[key]; got != want {
		t.Errorf("%s = %#v, want %#v", key, got, want)
	}
}

func TestWriteJSONServed(t *testing.T) {
	p := newPKI(t)
	addr := tlsServer(t, testpki.Certs(p.leaf, p.int), p.leaf.Key, v10, v13)
	r := Server(context.Background(), addr, "shop.example.com", ServerOptions{Options: p.opts()})
	r.Target = "shop"

	doc := decodeJSON(t, []*Report{r}, false)
	wantKeys(t, "document", doc, "endpoints", "verdict")
	wantField(t, doc, "verdict", "pass")
	ep := doc["endpoints"].([]any)[0].(map[string]any)
	wantKeys(t, "endpoint", ep, "target", "address", "sni", "source", "verdict", "certificates", "path", "chains", "protocols", "findings")
	wantField(t, ep, "target", "shop")
	wantField(t, ep, "address", addr)
	wantField(t, ep, "sni", "shop.example.com")
	wantField(t, ep, "source", "served")
	wantField(t, ep, "verdict", "pass")

	certs := ep["certificates"].([]any)
	if len(certs) != 2 {
		t.Fatalf("certificates = %v", certs)
	}
	leaf := certs[0].(map[string]any)
	wantKeys(t, "certificate", leaf, "subject", "issuer", "serial", "not_before", "not_after", "sha256")
	wantField(t, leaf, "subject", "CN=shop.example.com")
	wantField(t, leaf, "issuer", "CN=Test Intermediate")
	wantField(t, leaf, "serial", p.leaf.Cert.SerialNumber.Text(16))
	wantField(t, leaf, "not_before", "2026-10-22T16:00:00Z")
	wantField(t, leaf, "not_after", "2027-01-20T16:00:00Z")
	if s, _ := leaf["sha256"].(string); len(s) != 64 {
		t.Errorf("sha256 = %q, want 64 hex digits", s)
	}

	path := ep["path"].([]any)
	wantPath := []map[string]any{
		{"subject": "CN=shop.example.com", "from": "chain"},
		{"subject": "CN=Test Intermediate", "from": "chain"},
		{"subject": "CN=Test Root CA", "from": "trust_store"},
	}
	if len(path) != len(wantPath) {
		t.Fatalf("path = %v", path)
	}
	for i, w := range wantPath {
		e := path[i].(map[string]any)
		wantKeys(t, "path entry", e, "subject", "from")
		wantField(t, e, "subject", w["subject"])
		wantField(t, e, "from", w["from"])
	}

	chains := ep["chains"].([]any)
	if len(chains) != 1 {
		t.Fatalf("chains = %v", chains)
	}
	sent := chains[0].(map[string]any)
	wantKeys(t, "chain", sent, "label", "key", "versions", "certificates", "path")
	wantField(t, sent, "key", "ECDSA P-256")
	if got := fmt.Sprint(sent["versions"]); got != "[TLS 1.2 TLS 1.3]" {
		t.Errorf("versions = %s", got)
	}

	protocols := ep["protocols"].(map[string]any)
	wantKeys(t, "protocols", protocols, "tls1_0", "tls1_1", "tls1_2", "tls1_3")
	for _, k := range []string{"tls1_0", "tls1_1", "tls1_2", "tls1_3"} {
		wantField(t, protocols, k, true)
	}

	findings := ep["findings"].([]any)
	last := findings[len(findings)-1].(map[string]any)
	wantKeys(t, "finding", last, "check", "severity", "message")
	wantField(t, last, "check", "protocol")
	wantField(t, last, "severity", "warn")

	// --strict turns the TLS 1.0 warning into a failing verdict.
	strict := decodeJSON(t, []*Report{r}, true)
	wantField(t, strict, "verdict", "fail")
	wantField(t, strict["endpoints"].([]any)[0].(map[string]any), "verdict", "fail")
}

func TestWriteJSONFailures(t *testing.T) {
	p := newPKI(t)
	down := Server(context.Background(), closedPort(t), "shop.example.com", ServerOptions{Options: p.opts()})
	stored := JudgeStored(testpki.PEM(p.leaf), p.leaf.KeyPEM(), []string{"shop.example.com"}, p.opts())
	stored.Target, stored.File = "shop", "/var/lib/renewd/live/shop/fullchain.pem"

	doc := decodeJSON(t, []*Report{down, stored}, false)
	wantField(t, doc, "verdict", "fail")
	eps := doc["endpoints"].([]any)

	d := eps[0].(map[string]any)
	wantField(t, d, "verdict", "fail")
	if c := d["certificates"].([]any); len(c) != 0 {
		t.Errorf("certificates = %v, want []", c)
	}
	if pth := d["path"].([]any); len(pth) != 0 {
		t.Errorf("path = %v, want []", pth)
	}
	protocols := d["protocols"].(map[string]any)
	wantKeys(t, "protocols", protocols, "tls1_0", "tls1_1", "tls1_2", "tls1_3")
	for k, v := range protocols {
		if v != nil {
			t.Errorf("%s = %v, want null (not probed)", k, v)
		}
	}
	f := d["findings"].([]any)[0].(map[string]any)
	wantField(t, f, "check", "connect")
	wantField(t, f, "severity", "fail")

	s := eps[1].(map[string]any)
	wantKeys(t, "stored endpoint", s, "target", "file", "source", "verdict", "certificates", "path", "findings")
	wantField(t, s, "source", "stored")
	wantField(t, s, "file", "/var/lib/renewd/live/shop/fullchain.pem")
	wantField(t, s, "verdict", "fail")
	missing := s["path"].([]any)[1].(map[string]any)
	wantField(t, missing, "subject", "CN=Test Intermediate")
	wantField(t, missing, "from", "missing")
}

func TestWriteJSONNoReports(t *testing.T) {
	doc := decodeJSON(t, nil, false)
	wantField(t, doc, "verdict", "pass")
	if eps := doc["endpoints"].([]any); len(eps) != 0 {
		t.Errorf("endpoints = %v, want []", eps)
	}
}
