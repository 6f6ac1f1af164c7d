package e2e

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/renewd/renewd/internal/acme"
	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/internal/config"
)

// setRenewalInfo makes Pebble answer ariResponse, verbatim, to renewalInfo
// requests for leaf (POST /set-renewal-info/ on the management port).
func (pb *pebble) setRenewalInfo(t *testing.T, leaf *x509.Certificate, ariResponse string) {
	t.Helper()
	body, err := json.Marshal(map[string]string{
		"Certificate": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})),
		"ARIResponse": ariResponse,
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := httpsClient().Post(pb.MgmtURL+"/set-renewal-info/", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if msg, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusOK {
		t.Fatalf("set-renewal-info: %d %s", resp.StatusCode, msg)
	}
}

// replacements counts the orders Pebble accepted as replacements.
func (pb *pebble) replacements(t *testing.T) int {
	t.Helper()
	data, err := os.ReadFile(pb.proc.log)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(data), "ARI: order ")
}

func ariWindowJSON(start, end time.Time) string {
	return fmt.Sprintf(`{"suggestedWindow": {"start": %q, "end": %q}, "explanationURL": "https://pebble.example/why"}`,
		start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339))
}

// TestARIClient drives internal/acme against Pebble: the window Pebble
// computes, a window moved through the management API, a malformed one,
// an order that replaces the previous certificate, a second order that
// replaces the same one (alreadyReplaced, RFC 9773 section 5), and an order
// by another account (the account file was lost) that names a certificate
// of the first: both are placed again without replaces, and succeed.
func TestARIClient(t *testing.T) {
	t.Parallel()
	pb := startPebble(t, pebbleOpts{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	newClient := func() *acme.Client {
		c, err := acme.New(config.ACME{Directory: pb.DirURL, Email: "e2e@example.com", CACertificates: []string{env.tlsCAFile}, Profile: "default"},
			t.TempDir(), zaptest.NewLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	client := newClient()
	cert := &config.Certificate{Name: "ari", Domains: []string{"ari.example.com"}, KeyType: "ec256",
		Challenge: config.Challenge{Type: "http-01", HTTP01: config.HTTP01{Listen: fmt.Sprintf("127.0.0.1:%d", pb.HTTPPort)}}}
	obtain := func(c *acme.Client, previous *x509.Certificate) *x509.Certificate {
		t.Helper()
		issued, err := c.Obtain(ctx, cert, previous)
		if err != nil {
			t.Fatalf("Obtain: %v", err)
		}
		return issued.Certs[0]
	}

	leaf1 := obtain(client, nil)
	info, err := client.RenewalInfo(ctx, leaf1)
	if err != nil {
		t.Fatalf("RenewalInfo: %v", err)
	}
	// Pebble: two days around the point 2/3 into the lifetime, Retry-After 6h.
	if !info.Valid() || info.WindowStart.Before(leaf1.NotBefore) || info.WindowEnd.After(leaf1.NotAfter) ||
		info.WindowEnd.Sub(info.WindowStart) != 48*time.Hour || info.RetryAfter != 6*time.Hour {
		t.Errorf("Pebble's window %+v for a certificate valid %s–%s", info, leaf1.NotBefore, leaf1.NotAfter)
	}

	start := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	pb.setRenewalInfo(t, leaf1, ariWindowJSON(start, start.Add(time.Hour)))
	if info, err = client.RenewalInfo(ctx, leaf1); err != nil || !info.WindowStart.Equal(start) ||
		!info.WindowEnd.Equal(start.Add(time.Hour)) || info.ExplanationURL != "https://pebble.example/why" {
		t.Errorf("moved window: %+v, %v", info, err)
	}
	pb.setRenewalInfo(t, leaf1, ariWindowJSON(start.Add(time.Hour), start))
	if info, err = client.RenewalInfo(ctx, leaf1); err != nil || info.Valid() {
		t.Errorf("malformed window: %+v, %v; want it returned, not valid", info, err)
	}

	leaf2 := obtain(client, leaf1)
	if n := pb.replacements(t); n != 1 {
		t.Errorf("Pebble accepted %d replacement orders, want 1 (the renewal of %x)", n, leaf1.SerialNumber)
	}
	// leaf1 is replaced already: Pebble refuses a second replacement with
	// alreadyReplaced, and the order goes through without replaces.
	leaf3 := obtain(client, leaf1)
	// Another account may not replace this account's certificate: Pebble
	// refuses with 403, and the order goes through without replaces.
	leaf4 := obtain(newClient(), leaf2)
	if n := pb.replacements(t); n != 1 {
		t.Errorf("Pebble accepted %d replacement orders, want still 1", n)
	}
	for i, l := range []*x509.Certificate{leaf2, leaf3, leaf4} {
		if l.SerialNumber.Cmp(leaf1.SerialNumber) == 0 || l.NotAfter.Before(leaf1.NotAfter) {
			t.Errorf("order %d returned serial %x valid until %s", i+2, l.SerialNumber, l.NotAfter)
		}
	}
}

// TestARIRenewd runs the binary: renewd records Pebble's window, renews
// when the CA moves the window into the past (naming the replaced
// certificate), falls back to the lifetime rule on a malformed window, and
// honours a window in the far future up to the emergency rule.
func TestARIRenewd(t *testing.T) {
	t.Parallel()
	pb := startPebble(t, pebbleOpts{})
	w := newWorkspace(t, acmeSettings{directory: pb.DirURL, rootFile: pb.RootFile})
	w.addCert("shop", listenCert(pb.HTTPPort, "ari.example.com"))
	w.mustRenew("renew", "--now")
	leaf1 := w.liveLeaf("shop")
	if a := w.state()["shop"]["ari"]; a != nil {
		t.Errorf("ari = %v right after issuance, want none yet", a)
	}

	// The first run after issuance asks and records Pebble's window.
	res := w.mustRenew("renew")
	if !strings.Contains(res.stdout, "not due") || !strings.Contains(res.stdout, "CA suggests") {
		t.Errorf("renew after issuance:\n%s", res)
	}
	a := w.ari("shop")
	start, end, selected := w.ariTime(a, "window_start"), w.ariTime(a, "window_end"), w.ariTime(a, "selected_time")
	if selected.Before(start) || selected.After(end) || !start.After(leaf1.NotBefore) || !end.Before(leaf1.NotAfter) {
		t.Errorf("ari %v for a certificate valid %s–%s", a, leaf1.NotBefore, leaf1.NotAfter)
	}
	if d := time.Until(w.ariTime(a, "next_poll")); d < 5*time.Hour || d > 6*time.Hour {
		t.Errorf("next_poll in %s, want Pebble's Retry-After, 6h", d)
	}
	if row := w.statusRow("shop"); !strings.HasPrefix(fmt.Sprint(row["next_renewal_reason"]), "ARI window ") ||
		row["next_renewal"] != a["selected_time"] {
		t.Errorf("status: next_renewal %v (%v), want the selected time %v", row["next_renewal"], row["next_renewal_reason"], a["selected_time"])
	}

	// Nothing is asked before next_poll: Pebble's new answer goes unseen.
	past := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	pb.setRenewalInfo(t, leaf1, ariWindowJSON(past, past.Add(time.Hour)))
	w.mustRenew("renew")
	if got := w.ariTime(w.ari("shop"), "window_start"); !got.Equal(start) {
		t.Errorf("window_start %s, want %s unchanged before next_poll", got, start)
	}

	// Once next_poll has passed, the window in the past makes it due now.
	w.setNextPoll("shop", time.Now().Add(-time.Minute))
	res = w.mustRenew("renew")
	leaf2 := w.liveLeaf("shop")
	if leaf2.SerialNumber.Cmp(leaf1.SerialNumber) == 0 || !strings.Contains(res.stdout, "done") {
		t.Fatalf("a window in the past did not renew:\n%s", res)
	}
	if n := pb.replacements(t); n != 1 {
		t.Errorf("Pebble accepted %d replacement orders, want 1", n)
	}
	if a := w.state()["shop"]["ari"]; a != nil {
		t.Errorf("ari = %v after the renewal, want none: the window was the previous certificate's", a)
	}

	// A malformed window: the lifetime rule, nothing ordered.
	pb.setRenewalInfo(t, leaf2, ariWindowJSON(past.Add(time.Hour), past))
	w.mustRenew("renew")
	if row := w.statusRow("shop"); row["next_renewal_reason"] != "1/3 of lifetime left" || row["due"] != false {
		t.Errorf("malformed window: status %v", row)
	}
	if a := w.ari("shop"); a["selected_time"] != nil || a["window_start"] == nil {
		t.Errorf("malformed window: ari %v, want it stored with no selected time", a)
	}

	// A window in the far future is honoured, up to the emergency rule.
	far := leaf2.NotAfter.Add(90 * 24 * time.Hour)
	pb.setRenewalInfo(t, leaf2, ariWindowJSON(far, far.Add(48*time.Hour)))
	w.setNextPoll("shop", time.Now().Add(-time.Minute))
	w.mustRenew("renew")
	row := w.statusRow("shop")
	if reason := fmt.Sprint(row["next_renewal_reason"]); reason != "emergency: 9d0h left" || row["due"] != false {
		t.Errorf("far-future window: status %v", row)
	}
	if leaf := w.liveLeaf("shop"); leaf.SerialNumber.Cmp(leaf2.SerialNumber) != 0 {
		t.Errorf("renewed on a malformed or far-future window")
	}
}

func (w *workspace) liveLeaf(name string) *x509.Certificate {
	w.t.Helper()
	certs, err := chain.ParsePEM(w.live(name, "cert.pem"))
	if err != nil {
		w.t.Fatal(err)
	}
	return certs[0]
}

func (w *workspace) ari(name string) map[string]any {
	w.t.Helper()
	a, ok := w.state()[name]["ari"].(map[string]any)
	if !ok {
		w.t.Fatalf("the record has no ari for %s: %v", name, w.state()[name])
	}
	return a
}

func (w *workspace) ariTime(a map[string]any, field string) time.Time {
	w.t.Helper()
	t, err := time.Parse(time.RFC3339, fmt.Sprint(a[field]))
	if err != nil {
		w.t.Fatalf("ari.%s = %v: %v", field, a[field], err)
	}
	return t
}

// setNextPoll edits a record by hand, as an operator may: it stands in
// for six hours passing.
func (w *workspace) setNextPoll(name string, at time.Time) {
	w.t.Helper()
	w.editRecord(name, func(rec map[string]any) {
		a, _ := rec["ari"].(map[string]any)
		if a == nil {
			w.t.Fatalf("the record of %s has no ari", name)
		}
		a["next_poll"] = at.UTC().Format(time.RFC3339)
	})
}

func (w *workspace) statusRow(name string) map[string]any {
	w.t.Helper()
	res := w.mustRenew("status", "--json")
	var status struct {
		Certificates []map[string]any `json:"certificates"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &status); err != nil {
		w.t.Fatalf("status --json: %v\n%s", err, res.stdout)
	}
	for _, row := range status.Certificates {
		if row["name"] == name {
			return row
		}
	}
	w.t.Fatalf("status --json has no row %s:\n%s", name, res.stdout)
	return nil
}
