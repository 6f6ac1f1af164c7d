package renew

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/store"
)

func TestStatusRows(t *testing.T) {
	cfg := &config.Config{Certificates: []*config.Certificate{
		{Name: "canary", Domains: []string{"canary.example.com"}, Canary: true},
		{Name: "shop", Domains: []string{"shop.example.com"}},
		{Name: "failing", Domains: []string{"failing.example.com"}},
		{Name: "new", Domains: []string{"new.example.com"}},
	}}
	st := map[string]*store.Record{
		// Not due: 90 days from 2026-11-01, due on 2026-12-31, 69.33 days left.
		"shop": {Name: "shop", Domains: []string{"shop.example.com"}, Serial: "0a1b", Issuer: "Test CA",
			Version: "20261101T000000Z-001", NotBefore: tp(at("2026-11-01T00:00:00Z")), NotAfter: tp(at("2027-01-30T00:00:00Z")),
			RenewTime: tp(at("2026-11-01T00:05:00Z"))},
		// Due by lifetime, but waiting for retry.
		"failing": {Name: "failing", Domains: []string{"failing.example.com"},
			NotBefore: tp(at("2026-09-01T00:00:00Z")), NotAfter: tp(at("2026-11-30T00:00:00Z")),
			RetryCount: 2, NextRetryTime: tp(at("2026-11-21T16:10:00Z")), LastError: "order: boom",
			LastAttempt: tp(at("2026-11-21T16:00:00Z"))},
		// Due by lifetime, 10.33 days left.
		"canary": {Name: "canary", Domains: []string{"canary.example.com"},
			NotBefore: tp(at("2026-09-02T08:00:00Z")), NotAfter: tp(at("2026-12-02T00:00:00Z"))},
		// A record for a certificate no longer configured: no row.
		"gone": {Name: "gone", Domains: []string{"gone.example.com"}},
	}

	rows := StatusRows(cfg, st, t0)
	if len(rows) != 4 {
		t.Fatalf("%d rows, want one per configured certificate (4): %+v", len(rows), rows)
	}
	for i, want := range []string{"canary", "shop", "failing", "new"} {
		if rows[i].Name != want {
			t.Errorf("row %d is %q, want %q (config order)", i, rows[i].Name, want)
		}
	}
	canary, shop, failing, fresh := rows[0], rows[1], rows[2], rows[3]

	tests := []struct {
		desc        string
		row         Status
		due         bool
		daysLeft    *int
		nextRenewal *time.Time
		reason      string
	}{
		{desc: "due canary", row: canary, due: true, daysLeft: ptr(10),
			nextRenewal: tp(at("2026-12-02T00:00:00Z").Add(-(91*day - 8*time.Hour) / 3)), reason: "1/3 of lifetime left"},
		{desc: "not due", row: shop, due: false, daysLeft: ptr(69),
			nextRenewal: tp(at("2026-12-31T00:00:00Z")), reason: "1/3 of lifetime left"},
		{desc: "waiting for retry", row: failing, due: false, daysLeft: ptr(8),
			nextRenewal: tp(at("2026-11-21T16:10:00Z")), reason: "waiting for retry 2"},
		{desc: "configured, never issued", row: fresh, due: true, daysLeft: nil, nextRenewal: nil, reason: "no certificate yet"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			r := tt.row
			if r.Due != tt.due {
				t.Errorf("due = %v, want %v", r.Due, tt.due)
			}
			switch {
			case tt.daysLeft == nil && r.DaysLeft != nil:
				t.Errorf("days_left = %d, want null", *r.DaysLeft)
			case tt.daysLeft != nil && (r.DaysLeft == nil || *r.DaysLeft != *tt.daysLeft):
				t.Errorf("days_left = %v, want %d", r.DaysLeft, *tt.daysLeft)
			}
			switch {
			case tt.nextRenewal == nil && r.NextRenewal != nil:
				t.Errorf("next_renewal = %s, want null", r.NextRenewal)
			case tt.nextRenewal != nil && (r.NextRenewal == nil || !r.NextRenewal.Equal(*tt.nextRenewal)):
				t.Errorf("next_renewal = %v, want %s", r.NextRenewal, tt.nextRenewal)
			}
			if r.NextReason != tt.reason {
				t.Errorf("next_renewal_reason = %q, want %q", r.NextReason, tt.reason)
			}
		})
	}

	if !canary.Canary || shop.Canary {
		t.Errorf("canary flags: canary %v, shop %v", canary.Canary, shop.Canary)
	}
	if shop.Serial != "0a1b" || shop.Issuer != "Test CA" || shop.Version != "20261101T000000Z-001" ||
		shop.RenewTime == nil || !shop.RenewTime.Equal(at("2026-11-01T00:05:00Z")) {
		t.Errorf("shop row does not carry the record: %+v", shop)
	}
	if failing.RetryCount != 2 || failing.LastError != "order: boom" || failing.NextRetryTime == nil || failing.LastAttempt == nil {
		t.Errorf("failing row does not carry the retry fields: %+v", failing)
	}
	if len(fresh.Domains) != 1 || fresh.Domains[0] != "new.example.com" || fresh.RetryCount != 0 || fresh.Serial != "" {
		t.Errorf("row for a certificate without a record: %+v", fresh)
	}
}

// TestStatusJSON pins the JSON names and time format `status --json` prints.
func TestStatusJSON(t *testing.T) {
	cfg := &config.Config{Certificates: []*config.Certificate{
		{Name: "shop", Domains: []string{"shop.example.com"}},
		{Name: "new", Domains: []string{"new.example.com"}},
	}}
	st := map[string]*store.Record{
		"shop": {Name: "shop", Domains: []string{"shop.example.com"},
			NotBefore: tp(at("2026-11-01T00:00:00Z")), NotAfter: tp(at("2027-01-30T00:00:00Z"))},
	}
	data, err := json.Marshal(StatusRows(cfg, st, t0))
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := json.Unmarshal(data, &rows); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"name", "domains", "canary", "not_before", "not_after", "days_left", "renew_time",
		"last_attempt", "retry_count", "next_retry_time", "next_renewal", "next_renewal_reason", "due"} {
		if _, ok := rows[0][k]; !ok {
			t.Errorf("field %q missing from %s", k, data)
		}
	}
	if got := rows[0]["not_after"]; got != "2027-01-30T00:00:00Z" {
		t.Errorf("not_after = %v, want RFC 3339 UTC", got)
	}
	if got := rows[0]["next_renewal"]; got != "2026-12-31T00:00:00Z" {
		t.Errorf("next_renewal = %v", got)
	}
	if rows[1]["days_left"] != nil || rows[1]["not_after"] != nil || rows[1]["next_renewal"] != nil {
		t.Errorf("fields with no value must be null: %v", rows[1])
	}
	if strings.Contains(string(data), "0001-01-01") {
		t.Errorf("a zero time leaked into the JSON: %s", data)
	}
}
