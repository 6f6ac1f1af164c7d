package cluster

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/notify"
	"github.com/renewd/renewd/internal/testpki"
)

func TestExpiringDuringOutage(t *testing.T) {
	since := time.Date(2026, 11, 20, 11, 0, 0, 0, time.UTC)
	now := since.Add(3 * time.Hour)
	day := 24 * time.Hour
	served := func(name string, lifetime, left time.Duration) Served {
		return Served{Name: name, Domains: []string{name + ".example.com"}, Version: "20261001T000000Z-001",
			NotBefore: now.Add(left - lifetime), NotAfter: now.Add(left)}
	}
	tests := []struct {
		desc   string
		served []Served
		within time.Duration
		warned map[string]bool
		want   []string
	}{
		{desc: "nothing near expiry", served: []Served{served("shop", 90*day, 40*day)}, within: 14 * day},
		{desc: "in the last 14 days", served: []Served{served("shop", 90*day, 13*day)}, within: 14 * day, want: []string{"shop"}},
		{desc: "exactly at the window's start", served: []Served{served("shop", 90*day, 14*day)}, within: 14 * day, want: []string{"shop"}},
		{desc: "already expired", served: []Served{served("shop", 90*day, -time.Hour)}, within: 14 * day, want: []string{"shop"}},
		{desc: "warned in this outage", served: []Served{served("shop", 90*day, 13*day)}, within: 14 * day, warned: map[string]bool{"shop": true}},
		{desc: "a short-lived certificate warns in its last quarter only", served: []Served{served("short", 6*day, 2*day), served("shorter", 6*day, day)},
			within: 14 * day, want: []string{"shorter"}},
		{desc: "warnings off (expiring_days: 0)", served: []Served{served("shop", 90*day, time.Hour)}},
		{desc: "not_after unknown", served: []Served{{Name: "odd"}}, within: 14 * day},
		{desc: "sorted by name", served: []Served{served("b", 90*day, day), served("a", 90*day, 2*day), served("c", 90*day, 20*day)},
			within: 14 * day, want: []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			events := ExpiringDuringOutage(tt.served, since, now, tt.within, tt.warned)
			var got []string
			for _, e := range events {
				got = append(got, e.Certificate)
				if e.Kind != notify.Expiring || e.At != now || e.NotAfter == nil || len(e.Domains) != 1 {
					t.Errorf("event %+v", e)
				}
				if want := "etcd unreachable since 2026-11-20T11:00:00Z: no renewal reaches this node until it answers; it keeps serving version 20261001T000000Z-001"; e.Cause != want {
					t.Errorf("cause %q, want %q", e.Cause, want)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("warned %v, want %v", got, tt.want)
			}
		})
	}
}

// TestOutageWarnsOncePerOutage: the clock moves through two outages; a
// certificate is announced at the first tick that finds it in its window,
// not at the ticks after, and again in the next outage. Nothing while etcd
// answers.
func TestOutageWarnsOncePerOutage(t *testing.T) {
	clock := time.Date(2026, 11, 20, 11, 0, 0, 0, time.UTC)
	o := &Outage{Now: func() time.Time { return clock }}
	day := 24 * time.Hour
	shop := Served{Name: "shop", NotBefore: clock.Add(-80 * day), NotAfter: clock.Add(10 * day)}
	api := Served{Name: "api", NotBefore: clock.Add(-70 * day), NotAfter: clock.Add(14*day + 2*time.Hour)}
	served := []Served{shop, api}
	names := func(events []notify.Event) []string {
		var out []string
		for _, e := range events {
			out = append(out, e.Certificate)
		}
		return out
	}
	tick := func(desc string, want ...string) {
		t.Helper()
		if got := names(o.Expiring(served, 14*day)); !slices.Equal(got, want) {
			t.Errorf("%s: warned %v, want %v", desc, got, want)
		}
	}

	tick("etcd reachable")
	if _, was := o.Up(); was {
		t.Error("Up without an outage reports one")
	}
	since, began := o.Down()
	if !began || !since.Equal(clock) {
		t.Errorf("Down: %s, %v; want the outage to begin now", since, began)
	}
	tick("first tick of the outage", "shop")
	clock = clock.Add(time.Hour)
	if s, began := o.Down(); began || !s.Equal(since) {
		t.Errorf("Down again during the outage: %s, %v; want the same outage", s, began)
	}
	tick("an hour later")
	clock = clock.Add(2 * time.Hour) // api enters its last 14 days
	tick("api enters its window", "api")
	tick("and again")
	lasted, was := o.Up()
	if !was || lasted != 3*time.Hour {
		t.Errorf("Up: %s, %v; want an outage of 3h", lasted, was)
	}
	tick("etcd back")
	if !o.Since().IsZero() {
		t.Error("Since after Up")
	}
	clock = clock.Add(time.Hour)
	since2, _ := o.Down()
	events := o.Expiring(served, 14*day)
	if got := names(events); !slices.Equal(got, []string{"api", "shop"}) {
		t.Errorf("next outage: warned %v, want both again", got)
	}
	for _, e := range events {
		if !strings.Contains(e.Cause, since2.Format(time.RFC3339)) {
			t.Errorf("cause %q does not name the second outage's start %s", e.Cause, since2)
		}
	}
}

// TestAgentServed: what the node serves is read from the deploy path when
// it has one (a rolled-back deploy serves an older certificate than the
// stored live one), else from its own storage.
func TestAgentServed(t *testing.T) {
	now := time.Now()
	b := testpki.New(t, now)
	root := b.Root()
	inter := b.Issue(root, testpki.CA(true))
	newLeaf := b.Issue(inter, testpki.Names("shop.example.com"), testpki.Validity(now.Add(-time.Hour), now.Add(90*24*time.Hour)))
	oldLeaf := b.Issue(inter, testpki.Names("shop.example.com"), testpki.Validity(now.Add(-85*24*time.Hour), now.Add(5*24*time.Hour)))
	apiLeaf := b.Issue(inter, testpki.Names("api.example.com"), testpki.Validity(now.Add(-80*24*time.Hour), now.Add(10*24*time.Hour)))
	local := openLocal(t)
	const v = "20261120T110000Z-001"
	for name, leaf := range map[string]*testpki.Cert{"shop": newLeaf, "api": apiLeaf} {
		if err := local.PutVersion(name, v, filesOf(leaf, inter)); err != nil {
			t.Fatal(err)
		}
		if err := local.MakeLive(name, v); err != nil {
			t.Fatal(err)
		}
	}
	deployed := filepath.Join(t.TempDir(), "fullchain.pem")
	if err := os.WriteFile(deployed, testpki.PEM(oldLeaf, inter), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Certificates: []*config.Certificate{
		{Name: "shop", Domains: []string{"shop.example.com"}, Deploy: config.Deploy{Fullchain: deployed, Key: deployed + ".key"}},
		{Name: "api", Domains: []string{"api.example.com"}},
		{Name: "new", Domains: []string{"new.example.com"}}, // never issued
	}}
	a := &Agent{Local: local}
	a.SetConfig(cfg, nil, nil)
	got := a.Served()
	if len(got) != 2 {
		t.Fatalf("served %+v; want shop and api", got)
	}
	if got[0].Name != "shop" || !got[0].NotAfter.Equal(oldLeaf.Cert.NotAfter) || got[0].Version != "" {
		t.Errorf("shop: %+v; want the deployed (older) certificate, its version unknown", got[0])
	}
	if got[1].Name != "api" || !got[1].NotAfter.Equal(apiLeaf.Cert.NotAfter) || got[1].Version != v {
		t.Errorf("api: %+v; want the stored live version %s", got[1], v)
	}
}
