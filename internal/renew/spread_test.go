package renew

import (
	"fmt"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/store"
)

func TestSpread(t *testing.T) {
	nb, na := at("2026-10-01T00:00:00Z"), at("2026-12-30T00:00:00Z") // 90 days
	due := at("2026-11-30T00:00:00Z")                                // 1/3 left
	rec := func(serial string, nb, na time.Time) *store.Record {
		return &store.Record{Name: "shop", Serial: serial, NotBefore: tp(nb), NotAfter: tp(na)}
	}
	tests := []struct {
		desc           string
		spread         time.Duration
		rec            *store.Record
		at             time.Time
		earliest, same bool // earliest: at - spread <= got < at; same: got == at
		maxEarly       time.Duration
	}{
		{desc: "no spread configured", spread: 0, rec: rec("0a", nb, na), at: due, same: true},
		{desc: "a day's spread: up to a day earlier", spread: 24 * time.Hour, rec: rec("0a", nb, na), at: due, maxEarly: 24 * time.Hour},
		{desc: "capped at 1/10 of a 6-day lifetime", spread: 24 * time.Hour,
			rec: rec("0a", nb, nb.Add(6*day)), at: nb.Add(3 * day), maxEarly: 6 * day / 10},
		{desc: "no dates: nothing to spread", spread: 24 * time.Hour, rec: &store.Record{Name: "shop"}, at: due, same: true},
		{desc: "no record", spread: 24 * time.Hour, at: due, same: true},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			cert := &config.Certificate{Name: "shop", RenewSpread: tt.spread}
			got := Spread(cert, tt.rec, tt.at)
			if tt.same {
				if !got.Equal(tt.at) {
					t.Errorf("Spread = %s, want %s unchanged", got, tt.at)
				}
				return
			}
			if got.After(tt.at) || tt.at.Sub(got) > tt.maxEarly {
				t.Errorf("Spread = %s, want within %s before %s", got, tt.maxEarly, tt.at)
			}
			if got.Location() != time.UTC || got.Nanosecond() != 0 {
				t.Errorf("Spread = %v, want whole seconds in UTC", got)
			}
			if again := Spread(cert, tt.rec, tt.at); !again.Equal(got) {
				t.Errorf("Spread is not stable: %s then %s", got, again)
			}
		})
	}
}

// TestSpreadThousandIssuedTogether: a thousand certificates issued in the
// same second renew over the whole day of their spread, not in one minute.
func TestSpreadThousandIssuedTogether(t *testing.T) {
	nb, na := at("2026-10-01T00:00:00Z"), at("2026-12-30T00:00:00Z")
	due := at("2026-11-30T00:00:00Z")
	perHour := map[int]int{}
	perMinute := map[time.Time]int{}
	for i := range 1000 {
		cert := &config.Certificate{Name: fmt.Sprintf("c%04d", i), RenewSpread: 24 * time.Hour}
		r := &store.Record{Name: cert.Name, Serial: fmt.Sprintf("%x", 0x1000+i), NotBefore: tp(nb), NotAfter: tp(na)}
		got := Spread(cert, r, due)
		perHour[int(due.Sub(got)/time.Hour)]++
		perMinute[got.Truncate(time.Minute)]++
	}
	if len(perHour) != 24 {
		t.Errorf("renewals fall in %d of the 24 hours before the due time, want all of them", len(perHour))
	}
	for h, n := range perHour {
		if n > 80 { // 1000/24 ≈ 42 on average
			t.Errorf("%d renewals in hour %d of the spread", n, h)
		}
	}
	for m, n := range perMinute {
		if n > 8 { // without the spread: all 1000 in one

			t.Errorf("%d renewals in the minute of %s", n, m.Format(time.RFC3339))
		}
	}
}

// TestDecideSpread: the schedule uses the spread time under the lifetime
// rule only; an ARI window, renew_before and renew --now are not spread.
func TestDecideSpread(t *testing.T) {
	nb, na := at("2026-10-01T00:00:00Z"), at("2026-12-30T00:00:00Z")
	due := at("2026-11-30T00:00:00Z")
	rec := &store.Record{Name: "shop", Serial: "0a", Domains: []string{"shop.example.com"}, NotBefore: tp(nb), NotAfter: tp(na)}
	cert := &config.Certificate{Name: "shop", Domains: []string{"shop.example.com"}, RenewSpread: 24 * time.Hour}
	spread := Spread(cert, rec, due)
	if !spread.Before(due) {
		t.Fatalf("Spread(%s) = %s, want earlier", due, spread)
	}
	sel := at("2026-12-05T12:00:00Z")
	withARI := *rec
	withARI.ARI = &store.ARI{WindowStart: tp(at("2026-12-05T00:00:00Z")), WindowEnd: tp(at("2026-12-06T00:00:00Z")), SelectedTime: tp(sel)}
	renewBefore := *cert
	renewBefore.RenewBefore = 30 * day
	tests := []struct {
		desc    string
		cert    *config.Certificate
		rec     *store.Record
		now     time.Time
		force   bool
		wantDue bool
		wantAt  time.Time
	}{
		{desc: "before the spread time: not due", cert: cert, rec: rec, now: spread.Add(-time.Second), wantAt: spread},
		{desc: "at the spread time: due, before the unspread one", cert: cert, rec: rec, now: spread, wantDue: true, wantAt: spread},
		{desc: "an ARI window wins", cert: cert, rec: &withARI, now: due, wantAt: sel},
		{desc: "renew_before is exact", cert: &renewBefore, rec: rec, now: spread, wantAt: due},
		{desc: "renew --now is now", cert: cert, rec: rec, now: nb.Add(day), force: true, wantDue: true, wantAt: nb.Add(day)},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			p := Decide(tt.cert, tt.rec, tt.now, tt.force)
			if p.Due != tt.wantDue || !p.At.Equal(tt.wantAt) {
				t.Errorf("Decide = due %v at %s (%s), want due %v at %s", p.Due, p.At, p.Reason, tt.wantDue, tt.wantAt)
			}
		})
	}
}
