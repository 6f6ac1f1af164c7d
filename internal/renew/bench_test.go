package renew

import (
	"fmt"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/store"
)

// benchSetup is a configuration and state with n certificates as `make
// bench` generates them for the planning part: issued over the last 50
// days, an ARI window ahead for each, one in a hundred waiting for a retry,
// none due at now.
func benchSetup(n int, now time.Time) (*config.Config, map[string]*store.Record) {
	cfg := &config.Config{Concurrency: 4}
	st := make(map[string]*store.Record, n)
	for i := range n {
		name := fmt.Sprintf("c%05d", i+1)
		domain := fmt.Sprintf("plan-%05d.bench.test", i+1)
		cfg.Certificates = append(cfg.Certificates, &config.Certificate{Name: name, Domains: []string{domain},
			Challenge: config.Challenge{Type: "http-01", HTTP01: config.HTTP01{Listen: "127.0.0.1:8402"}}})
		nb := now.Add(-time.Duration(i%50) * 24 * time.Hour)
		na := nb.Add(90 * 24 * time.Hour)
		ws, we, sel, next := nb.Add(59*24*time.Hour), nb.Add(61*24*time.Hour), nb.Add(60*24*time.Hour), now.Add(6*time.Hour)
		rec := &store.Record{Name: name, Domains: []string{domain}, Serial: fmt.Sprintf("%032x", i+1),
			NotBefore: &nb, NotAfter: &na, RenewTime: &nb, LastAttempt: &nb, Issuer: "Pebble Intermediate CA",
			ARI: &store.ARI{WindowStart: &ws, WindowEnd: &we, SelectedTime: &sel, NextPoll: &next}}
		if i%100 == 99 {
			retry := now.Add(4 * time.Hour)
			rec.RetryCount, rec.NextRetryTime, rec.LastError = 1, &retry, "generated failure"
		}
		st[name] = rec
	}
	return cfg, st
}

var benchNow = time.Date(2026, 11, 21, 16, 0, 0, 0, time.UTC)

// BenchmarkDecide10000 is the scheduling decision of one pass with 10,000
// certificates: PollARI and Decide for each, as Run makes them.
func BenchmarkDecide10000(b *testing.B) {
	cfg, st := benchSetup(10000, benchNow)
	b.ReportAllocs()
	for b.Loop() {
		due := 0
		for _, c := range cfg.Certificates {
			rec := st[c.Name]
			if PollARI(c, rec, benchNow, false) {
				b.Fatalf("%s: would poll ARI", c.Name)
			}
			if Decide(c, rec, benchNow, false).Due {
				due++
			}
		}
		if due != 0 {
			b.Fatalf("%d due, want none", due)
		}
	}
}

// BenchmarkStatusRows10000 is `renewd status` without the file reading and
// the output: one row per certificate for 10,000.
func BenchmarkStatusRows10000(b *testing.B) {
	cfg, st := benchSetup(10000, benchNow)
	b.ReportAllocs()
	for b.Loop() {
		if rows := StatusRows(cfg, st, benchNow); len(rows) != 10000 {
			b.Fatalf("%d rows", len(rows))
		}
	}
}
