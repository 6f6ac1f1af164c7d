package renew

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	renewdacme "github.com/renewd/renewd/internal/acme"
	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/store"
)

// TestRecordFailureLines: last_error is the cause on one line, and
// last_error_detail the whole text; a success clears both.
func TestRecordFailureLines(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 16, 0, 0, 0, time.UTC)
	rec := &store.Record{Name: "shop"}
	whole := "error: one or more domains had a problem:\n[shop.example.com] invalid authorization: 404\n"
	RecordFailure(rec, errors.New(whole), t0, config.Retry{Initial: 5 * time.Minute, Max: time.Hour}, 0)
	if want := "error: one or more domains had a problem; [shop.example.com] invalid authorization: 404"; rec.LastError != want {
		t.Errorf("last_error %q, want %q", rec.LastError, want)
	}
	if rec.LastErrorDetail != whole {
		t.Errorf("last_error_detail %q, want the whole text", rec.LastErrorDetail)
	}
	RecordSuccess(rec, t0.Add(time.Hour), t0.Add(time.Hour))
	if rec.LastError != "" || rec.LastErrorDetail != "" {
		t.Errorf("after a success: %q / %q", rec.LastError, rec.LastErrorDetail)
	}
}

// TestRenewalPrunesArchive: after each renewal archive/ keeps the live
// version and the last archive_keep; a failed renewal removes nothing.
func TestRenewalPrunesArchive(t *testing.T) {
	h := newHarness(t, certCfg("shop", false))
	h.r.Config.ArchiveKeep = 2
	var made []string
	for range 4 {
		h.run(Options{Force: true})
		v := h.versions("shop")
		made = append(made, v[len(v)-1])
		h.clock.Advance(day)
	}
	got := h.versions("shop")
	if want := made[2:]; !slices.Equal(got, want) {
		t.Errorf("archive holds %v, want the last two %v", got, want)
	}
	h.issuer.obtain = func(context.Context, *config.Certificate) (*renewdacme.Issued, error) { return nil, errors.New("boom") }
	h.run(Options{Force: true})
	if after := h.versions("shop"); !slices.Equal(after, got) {
		t.Errorf("a failed renewal changed archive/: %v, was %v", after, got)
	}
}
