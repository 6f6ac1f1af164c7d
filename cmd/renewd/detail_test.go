package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/renew"
)

// TestDetailTimeLeftAndRepairs: status NAME says the time left in units
// that suit the lifetime (hours for a 24-hour certificate, not "0 days"),
// flags one renewd warns about, and lists what it had to repair in the
// CA's chain; the table marks the repair in its SERVED column.
func TestDetailTimeLeftAndRepairs(t *testing.T) {
	nb := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	na := nb.Add(24 * time.Hour)
	c := &config.Certificate{Name: "short", Domains: []string{"short.example.com"},
		Challenge: config.Challenge{Type: "http-01", HTTP01: config.HTTP01{Listen: "127.0.0.1:8402"}}}
	zero := 0
	r := renew.Status{Name: "short", Domains: c.Domains, Serial: "0a", Issuer: "Test CA", NotBefore: &nb, NotAfter: &na,
		DaysLeft: &zero, TimeLeft: "5 hours", Expiring: true, Version: "20261203T000000Z-001", NextReason: "due",
		Repaired: []string{"fetched the missing intermediate \"Test CA\" through AIA", "dropped the root the CA sent"}}

	var b bytes.Buffer
	printDetail(&b, c, r, "/var/lib/renewd/live/short", []string{r.Version}, 5)
	out := b.String()
	for _, want := range []string{
		"(5 hours left: EXPIRING SOON)",
		"chain repaired  fetched the missing intermediate \"Test CA\" through AIA",
		"                dropped the root the CA sent",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status NAME lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "0 days") {
		t.Errorf("a 24-hour certificate is said in days:\n%s", out)
	}

	r.TimeLeft, r.Expiring = "expired 2 hours ago", true
	b.Reset()
	printDetail(&b, c, r, "/var/lib/renewd/live/short", []string{r.Version}, 5)
	if !strings.Contains(b.String(), "(EXPIRED: 2 hours ago)") {
		t.Errorf("an expired certificate is not said so:\n%s", b.String())
	}

	b.Reset()
	printStatus(&b, []renew.Status{r})
	if !strings.Contains(b.String(), "- (CA chain repaired)") {
		t.Errorf("the table does not mark the repair:\n%s", b.String())
	}
}
