package acme

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// stepCAAuthz is how step-ca v0.30.2 answers an authorization poll after
// a failed HTTP-01 validation: the challenge stays "pending" with the
// error inside it, and so does the authorization.
const stepCAAuthz = `{"identifier":{"type":"dns","value":"shop.example.com"},"status":"pending",
"challenges":[{"type":"http-01","status":"pending","token":"tok","url":"https://ca/acme/acme/challenge/a/b",
"error":{"type":"urn:ietf:params:acme:error:connection","detail":"The server could not connect to validation target"}}],
"wildcard":false,"expires":"2026-11-22T16:00:00Z"}`

// stepCAChallenge is step-ca's answer to the challenge POST itself.
const stepCAChallenge = `{"type":"http-01","status":"pending","token":"tok","url":"https://ca/acme/acme/challenge/a/b",
"error":{"type":"urn:ietf:params:acme:error:connection","detail":"The server could not connect to validation target"}}`

func TestFailPending(t *testing.T) {
	tests := []struct {
		desc       string
		body       string
		changed    bool
		wantStatus string // of the object after the change
	}{
		{desc: "step-ca authorization: pending challenge with an error", body: stepCAAuthz, changed: true, wantStatus: "invalid"},
		{desc: "step-ca challenge answer with an error", body: stepCAChallenge, changed: true, wantStatus: "invalid"},
		{desc: "pending challenge without error: still polling", changed: false,
			body: `{"identifier":{"type":"dns","value":"a.example"},"status":"pending","challenges":[{"type":"http-01","status":"pending","token":"t","url":"u"}]}`},
		{desc: "error null", changed: false,
			body: `{"type":"http-01","status":"pending","token":"t","url":"u","error":null}`},
		{desc: "processing with an error: the CA is still at it", changed: false,
			body: `{"type":"http-01","status":"processing","token":"t","url":"u","error":{"type":"urn:ietf:params:acme:error:connection"}}`},
		{desc: "invalid already (Pebble, Boulder)", changed: false,
			body: `{"identifier":{"type":"dns","value":"a.example"},"status":"invalid","challenges":[{"type":"http-01","status":"invalid","token":"t","url":"u","error":{"type":"x"}}]}`},
		{desc: "an order", changed: false, body: `{"status":"pending","identifiers":[{"type":"dns","value":"a.example"}],"authorizations":["u"]}`},
		{desc: "not JSON", changed: false, body: `-----BEGIN CERTIFICATE-----`},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			out, changed := failPending([]byte(tt.body))
			if changed != tt.changed {
				t.Fatalf("changed %v, want %v", changed, tt.changed)
			}
			if !changed {
				return
			}
			var obj struct {
				Status     string `json:"status"`
				Challenges []struct {
					Status string          `json:"status"`
					Error  json.RawMessage `json:"error"`
				} `json:"challenges"`
				Error json.RawMessage `json:"error"`
			}
			if err := json.Unmarshal(out, &obj); err != nil {
				t.Fatal(err)
			}
			if obj.Status != tt.wantStatus {
				t.Errorf("status %q, want %q", obj.Status, tt.wantStatus)
			}
			for _, c := range obj.Challenges {
				if c.Status != "invalid" || !strings.Contains(string(c.Error), "could not connect") {
					t.Errorf("challenge %s, error %s", c.Status, c.Error)
				}
			}
			if len(obj.Challenges) == 0 && !strings.Contains(string(obj.Error), "could not connect") {
				t.Errorf("the error was lost: %s", out)
			}
		})
	}
}

// TestPendingErrorsTransport: only JSON answers to POSTs are read; the
// rest pass unchanged.
func TestPendingErrorsTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/cert" {
			w.Header().Set("Content-Type", "application/pem-certificate-chain")
			_, _ = io.WriteString(w, stepCAChallenge)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, stepCAChallenge)
	}))
	defer srv.Close()
	c := &http.Client{Transport: pendingErrors{next: http.DefaultTransport}}
	get := func(method, path string) string {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.ContentLength >= 0 && int(resp.ContentLength) != len(body) {
			t.Errorf("%s %s: Content-Length %d, body %d bytes", method, path, resp.ContentLength, len(body))
		}
		return string(body)
	}
	if got := get(http.MethodPost, "/chall"); !strings.Contains(got, `"status":"invalid"`) {
		t.Errorf("POST to a challenge: %s", got)
	}
	if got := get(http.MethodPost, "/cert"); got != stepCAChallenge {
		t.Errorf("a certificate answer was changed: %s", got)
	}
	if got := get(http.MethodGet, "/chall"); got != stepCAChallenge {
		t.Errorf("a GET was changed: %s", got)
	}
}
