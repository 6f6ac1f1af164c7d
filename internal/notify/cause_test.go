package notify

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/config"
)

func TestExpiryWindowStart(t *testing.T) {
	na := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		desc   string
		nb     time.Time
		within time.Duration
		want   time.Time
	}{
		{"90-day certificate: the last 14 days", na.Add(-90 * 24 * time.Hour), 14 * 24 * time.Hour, na.Add(-14 * 24 * time.Hour)},
		{"6-day certificate: its last quarter", na.Add(-6 * 24 * time.Hour), 14 * 24 * time.Hour, na.Add(-36 * time.Hour)},
		{"not_before unknown: the last 14 days", time.Time{}, 14 * 24 * time.Hour, na.Add(-14 * 24 * time.Hour)},
		{"not_before after not_after: the last 14 days", na.Add(time.Hour), 14 * 24 * time.Hour, na.Add(-14 * 24 * time.Hour)},
	}
	for _, tt := range tests {
		if got := ExpiryWindowStart(tt.nb, na, tt.within); !got.Equal(tt.want) {
			t.Errorf("%s: %s, want %s", tt.desc, got, tt.want)
		}
	}
}

const outageCause = "etcd unreachable since 2026-11-20T11:00:00Z: this node cannot renew or take new versions; it serves what it has"

func TestExpiringCauseRendered(t *testing.T) {
	e := Event{Kind: Expiring, Certificate: "shop", Domains: []string{"shop.example.com"}, NotAfter: tp(now.Add(5 * 24 * time.Hour)),
		Cause: outageCause, At: now}
	text := single(e, "web2").text(4000)
	for _, want := range []string{"renewd@web2: Expiring without renewal: shop", "Cause: " + outageCause} {
		if !strings.Contains(text, want) {
			t.Errorf("message lacks %q:\n%s", want, text)
		}
	}
	d := digest([]Event{e, failEvent("api")}, "web2").text(4000)
	if !strings.Contains(d, "Expiring without renewal: shop: expires") || !strings.Contains(d, "etcd unreachable since") {
		t.Errorf("digest does not say why:\n%s", d)
	}
	// Without a cause the message is what it always was.
	e.Cause = ""
	if text := single(e, "web2").text(4000); strings.Contains(text, "Cause") {
		t.Errorf("a plain warning has a cause row:\n%s", text)
	}
}

// An outage's warning is sent once per certificate and outage: the same
// again is dropped, the next outage's is sent, and so is the plain warning
// of a pass after it.
func TestExpiringCauseRemembered(t *testing.T) {
	srv := newHookServer(t, "", nil)
	n, _ := newTestNotifier(t, []config.NotifyTarget{{Name: "ops", Type: "webhook", URL: srv.URL}}, 5, Options{})
	first := Event{Kind: Expiring, Certificate: "shop", NotAfter: tp(expires), Cause: outageCause, At: now}
	second := first
	second.Cause = strings.Replace(outageCause, "11:00:00Z", "15:00:00Z", 1)
	plain := first
	plain.Cause = ""
	for _, s := range [][]Event{{first}, {first}, {second}, {plain}} {
		n.Send(s)
	}
	closeNotifier(t, n)
	var got []string
	for _, r := range srv.requests() {
		var p WebhookPayload
		decode(t, r.body, &p)
		got = append(got, p.Events[0].Cause)
	}
	if want := []string{first.Cause, second.Cause, ""}; !slices.Equal(got, want) {
		t.Errorf("sent causes %q, want %q", got, want)
	}
}
