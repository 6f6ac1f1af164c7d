package renew

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/acme"
	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/store"
)

// ACME Renewal Information (RFC 9773). Decide reads the CA's window from
// the record; this file keeps it fresh: the decisions (PollARI, RecordARI)
// are pure, refreshARI asks the CA.

const (
	// ariMinPoll and ariMaxPoll clamp the CA's Retry-After, as RFC 9773
	// section 4.3.3 suggests: a minute at least, a day at most.
	ariMinPoll = time.Minute
	ariMaxPoll = 24 * time.Hour
	// ariDefaultPoll is the next poll when the CA sent no Retry-After
	// (RFC 9773 section 4.3.3).
	ariDefaultPoll = 6 * time.Hour
	// ariErrorPoll is the next poll after a failed request: soon, but not
	// on every run of a cron job that runs every few minutes.
	ariErrorPoll = time.Hour
	// ariNoARIPoll is the next poll after the CA said it has no ARI.
	ariNoARIPoll = 24 * time.Hour
	// ariBudget bounds all of one run's ARI requests together: a slow CA
	// delays a run's renewals by at most this much.
	ariBudget = 2 * time.Minute
)

// PollARI reports whether a run at now asks the CA for renewal information
// about cert before deciding. Only when the decision depends on the ARI
// window (see Decide: not under renew --now, renew_before, a failed
// renewal's retry, a pending deploy or the emergency rule; not without a
// certificate) and either next_poll has come or the stored window says
// the certificate is due. In the second case renewd asks once more before
// ordering: the window may have moved, and after a crash between storing a
// certificate and recording its success, the record holds the previous
// certificate's window. An expired certificate is never polled (RFC 9773
// section 4.3: it is due by the emergency rule anyway).
func PollARI(cert *config.Certificate, rec *store.Record, now time.Time, force bool) bool {
	if _, ok := decideFirst(cert, rec, now, force); ok || cert.RenewBefore > 0 {
		return false
	}
	if !now.Before(EmergencyAt(*rec.NotBefore, *rec.NotAfter)) {
		return false
	}
	a := rec.ARI
	if a == nil || a.NextPoll == nil || !now.Before(*a.NextPoll) {
		return true
	}
	_, _, selected, ok := ariWindow(a)
	return ok && !now.Before(selected)
}

// RecordARI records in rec the CA's answer to a renewal information request
// made at now: info, or err.
//
//   - A window is stored as sent, whole seconds in UTC. The selected time is
//     drawn uniformly inside it (jitter in [0, 1) is the fraction of the
//     window) when the window is new or has moved, and kept while it stays
//     the same, so that polling does not move a certificate's renewal. A
//     malformed window (end not after start) gets no selected time: Decide
//     falls back to the lifetime rule.
//   - next_poll is now plus the CA's Retry-After clamped to [1m, 24h], or
//     6h when it sent none.
//   - acme.ErrNoARI drops any window and polls again in 24h.
//   - Any other error keeps the last window and polls again in an hour.
func RecordARI(rec *store.Record, info *acme.RenewalInfo, err error, now time.Time, jitter float64) {
	now = now.UTC()
	switch {
	case errors.Is(err, acme.ErrNoARI):
		rec.ARI = &store.ARI{NextPoll: ptr(now.Add(ariNoARIPoll).Truncate(time.Second))}
		return
	case err != nil || info == nil:
		a := store.ARI{}
		if rec.ARI != nil {
			a = *rec.ARI
		}
		a.NextPoll = ptr(now.Add(ariErrorPoll).Truncate(time.Second))
		rec.ARI = &a
		return
	}
	a := store.ARI{}
	if rec.ARI != nil {
		a = *rec.ARI
	}
	start, end := secondOrNil(info.WindowStart), secondOrNil(info.WindowEnd)
	if !equalTime(a.WindowStart, start) || !equalTime(a.WindowEnd, end) || a.SelectedTime == nil {
		a.WindowStart, a.WindowEnd, a.SelectedTime = start, end, nil
		if start != nil && end != nil && start.Before(*end) {
			a.SelectedTime = ptr(start.Add(time.Duration(jitter * float64(end.Sub(*start)))).Truncate(time.Second))
		}
	}
	a.ExplanationURL = info.ExplanationURL
	a.NextPoll = ptr(now.Add(ariPollDelay(info.RetryAfter)).Truncate(time.Second))
	rec.ARI = &a
}

// ariPollDelay is how long to wait before the next poll after an answer
// with this Retry-After (zero: none).
func ariPollDelay(retryAfter time.Duration) time.Duration {
	if retryAfter <= 0 {
		return ariDefaultPoll
	}
	return min(max(retryAfter, ariMinPoll), ariMaxPoll)
}

func secondOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return ptr(t.UTC().Truncate(time.Second))
}

func equalTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// refreshARI asks the CA for renewal information about every certificate
// in certs that PollARI selects, at most Config.Concurrency at a time and
// for at most ariBudget in all, and records the answers in the pass's
// records.
// A failure is logged and recorded (as next_poll), never the run's: ARI is
// advice, and without it the lifetime rule applies. Certificates not asked
// in time are asked on the next run.
func (r *Renewer) refreshARI(ctx context.Context, certs []*config.Certificate, opts Options) {
	now := r.now()
	var todo []*config.Certificate
	r.mu.Lock()
	for _, c := range certs {
		// As in Run, less its Since rule: a certificate it un-forces is
		// merely not polled this time.
		forced := opts.Force && (len(opts.Names) == 0 || slices.Contains(opts.Names, c.Name))
		if PollARI(c, r.records[c.Name], now, forced) {
			todo = append(todo, c)
		}
	}
	r.mu.Unlock()
	if len(todo) == 0 {
		return
	}

	ctx, cancel := context.WithTimeout(ctx, ariBudget)
	defer cancel()
	sem := make(chan struct{}, max(1, r.Config.Concurrency))
	var wg sync.WaitGroup
	for _, c := range todo {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			r.pollARISafely(ctx, c)
		})
	}
	wg.Wait()
	// The answers are in the records; the pass saves them with its other
	// changes, so a certificate renewed in this pass is written once.
}

// pollARISafely is pollARI with a panic turned into a log line: advice is
// never worth a run (or a daemon).
func (r *Renewer) pollARISafely(ctx context.Context, c *config.Certificate) (changed bool) {
	defer func() {
		if p := recover(); p != nil {
			r.Log.Error("ARI poll panicked", zap.String("certificate", c.Name), zap.Any("panic", p), zap.ByteString("stack", debug.Stack()))
			changed = false
		}
	}()
	return r.pollARI(ctx, c)
}

// pollARI asks the CA about c's live certificate and records the answer.
// It reports whether the record changed.
func (r *Renewer) pollARI(ctx context.Context, c *config.Certificate) bool {
	leaf, err := r.liveLeaf(c.Name)
	if err != nil {
		r.Log.Warn("cannot ask the CA for renewal information", zap.String("certificate", c.Name), zap.Error(err))
		return false
	}
	serial := leaf.SerialNumber.Text(16)
	r.mu.Lock()
	rec := r.records[c.Name]
	known := rec != nil && rec.Serial == serial
	r.mu.Unlock()
	if !known {
		// Only ever record a window for the certificate it is about.
		r.Log.Warn("live certificate is not the recorded one; not asking the CA about it", zap.String("certificate", c.Name), zap.String("serial", serial))
		return false
	}

	info, err := r.Issuer.RenewalInfo(ctx, leaf)
	if err != nil && ctx.Err() != nil {
		return false // shutdown or out of budget: not the CA's answer; ask next run
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	rec = r.records[c.Name]
	if rec == nil || rec.Serial != serial {
		return false
	}
	rec = r.record(c)
	var before store.ARI
	if rec.ARI != nil {
		before = *rec.ARI
	}
	RecordARI(rec, info, err, now, r.jitter())
	r.reportARI(c, &before, rec.ARI, err)
	return true
}

// reportARI tells a person what changed: a new window, a malformed one, or
// a failure. A poll that confirmed the known window says nothing.
func (r *Renewer) reportARI(c *config.Certificate, before, after *store.ARI, err error) {
	log := r.Log.With(zap.String("certificate", c.Name))
	switch {
	case errors.Is(err, acme.ErrNoARI):
		log.Debug("the CA offers no renewal information; using the lifetime rule", zap.Timep("next_poll", after.NextPoll))
	case err != nil:
		log.Warn("renewal information unavailable; keeping the last known window", zap.Timep("next_poll", after.NextPoll), zap.Error(err))
	case equalTime(before.WindowStart, after.WindowStart) && equalTime(before.WindowEnd, after.WindowEnd):
	case after.SelectedTime == nil:
		msg := "the CA's renewal window is malformed (end not after start); using the lifetime rule"
		log.Warn(msg, zap.Timep("window_start", after.WindowStart), zap.Timep("window_end", after.WindowEnd))
		r.step(c.Name, "ari", msg)
	default:
		detail := fmt.Sprintf("CA suggests %s–%s; renewing at %s", after.WindowStart.Format(time.RFC3339),
			after.WindowEnd.Format(time.RFC3339), after.SelectedTime.Format(time.RFC3339))
		if after.ExplanationURL != "" {
			detail += " (" + after.ExplanationURL + ")"
		}
		log.Info("renewal window", zap.Timep("window_start", after.WindowStart), zap.Timep("window_end", after.WindowEnd),
			zap.Timep("selected_time", after.SelectedTime), zap.String("explanation_url", after.ExplanationURL))
		r.step(c.Name, "ari", detail)
	}
}

// liveLeaf reads the leaf of live/<name>.
func (r *Renewer) liveLeaf(name string) (*x509.Certificate, error) {
	files, _, err := r.Store.Live(name)
	if err != nil {
		return nil, err
	}
	certs, err := chain.ParsePEM(files.Cert)
	if err != nil {
		return nil, fmt.Errorf("live/%s/cert.pem: %w", name, err)
	}
	return certs[0], nil
}

// previous is the certificate a new order for c replaces, for the order's
// replaces field: the live one, or nil when there is none or it cannot be
// read (the order then goes without replaces; nothing else depends on it).
func (r *Renewer) previous(c *config.Certificate) *x509.Certificate {
	leaf, err := r.liveLeaf(c.Name)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			r.Log.Debug("previous certificate unreadable; ordering without replaces", zap.String("certificate", c.Name), zap.Error(err))
		}
		return nil
	}
	return leaf
}
