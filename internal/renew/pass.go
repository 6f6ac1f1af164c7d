package renew

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/store"
)

// Pass runs one renewal pass: it takes the storage lock (waiting up to
// opts.Wait), reads every record once, renews what is due (canaries
// first), deploys, writes back the records it changed, and reports what it
// did. `renewd renew` and each tick of the daemon are one Pass.
//
// The error is for what stops the whole pass: an unknown name, the lock
// (matching store.ErrLocked when another process kept it), unreadable
// storage. A certificate's failure is in its Result, never the pass's, and
// never stops the others.
func (r *Renewer) Pass(ctx context.Context, opts Options) (*Report, error) {
	certs, err := r.selectCerts(opts.Names)
	if err != nil {
		return nil, err
	}
	start := r.now()
	waited := false
	if !opts.DryRun { // a dry run writes nothing, so it needs no lock
		release, w, err := r.Store.LockWait(ctx, opts.Wait, opts.Waiting)
		if err != nil {
			return nil, fmt.Errorf("lock: %w", err)
		}
		defer func() { _ = release() }()
		waited = w
	}

	recs, repairs, err := r.Store.Records()
	if err != nil {
		return nil, fmt.Errorf("read records: %w", err)
	}
	rep := &Report{Start: start, Repairs: repairs}
	r.begin(recs, repairs, opts.DryRun)
	rep.Before = r.beforePass()
	r.announce(repairs)

	// A record keeps whole seconds. The time of a request stays exact: a
	// renewal in the same second but before it (the one that made a node
	// ask again) must not count as done since. The start of a wait for the
	// lock is truncated instead: whatever held the lock then finished after
	// it, even within the same second.
	since := opts.Since.UTC()
	if waited && since.IsZero() {
		since = start.Truncate(time.Second)
	}
	rep.Results = r.run(ctx, certs, opts, since)
	if !opts.DryRun {
		r.saveChanges()
		rep.Pruned = r.prune()
	}
	r.mu.Lock()
	rep.After = afterPass(rep.Before, r.records)
	r.mu.Unlock()
	for i := range rep.Results {
		rep.Results[i].Record = rep.After[rep.Results[i].Name]
	}
	rep.End = r.now()
	return rep, nil
}

// beforePass copies the records at the start of a pass. A record as it
// is on disk is the copy begin made of it, which nothing changes (saves
// replace it): no second copy of thousands of records.
func (r *Renewer) beforePass() map[string]*store.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	before := make(map[string]*store.Record, len(r.records))
	for name, rec := range r.records {
		if p, ok := r.persisted[name]; ok && rec.Same(p) {
			before[name] = p
		} else {
			before[name] = rec.Clone()
		}
	}
	return before
}

// afterPass copies the records at the end of a pass. A record the pass
// did not change is the very copy in before: in a pass with thousands of
// certificates and nothing due, copying each twice was most of its
// memory. Reports are read, never changed, by their consumers.
func afterPass(before, now map[string]*store.Record) map[string]*store.Record {
	after := make(map[string]*store.Record, len(now))
	for name, rec := range now {
		if b, ok := before[name]; ok && rec.Same(b) {
			after[name] = b
		} else {
			after[name] = rec.Clone()
		}
	}
	return after
}

// begin makes recs the pass's working copy: configured certificates only
// (records of others are pruned at the end). A rebuilt record is not yet
// in the storage, so the first save writes it.
func (r *Renewer) begin(recs map[string]*store.Record, repairs []store.Repair, dryRun bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dryRun = dryRun
	r.issued = map[string]time.Time{}
	// The working copy shares each record with persisted until the pass
	// changes it: record() copies it first (copy on write). A pass with
	// thousands of certificates and nothing due copies none.
	r.persisted = make(map[string]*store.Record, len(recs))
	for name, rec := range recs {
		r.persisted[name] = rec
	}
	for _, rp := range repairs {
		delete(r.persisted, rp.Name)
	}
	r.records = map[string]*store.Record{}
	for _, c := range r.Config.Certificates {
		if rec, ok := recs[c.Name]; ok {
			r.records[c.Name] = rec
		}
	}
}

// announce tells a person what opening the storage and reading the
// records repaired.
func (r *Renewer) announce(repairs []store.Repair) {
	for _, n := range r.Store.Notes() {
		r.step("state", "storage", n)
		r.Log.Warn(n)
	}
	for _, rp := range repairs {
		if r.Config.Certificate(rp.Name) == nil {
			continue // not managed any more; prune drops it
		}
		r.step(rp.Name, "repair", rp.String())
		r.Log.Warn("record unusable; repaired", zap.String("certificate", rp.Name), zap.String("reason", rp.Reason),
			zap.String("moved_to", rp.MovedTo), zap.Bool("rebuilt", rp.Rebuilt), zap.Error(rp.RebuildErr))
	}
}

// saveChanges writes the records that changed since they were last
// written, in one batch. It returns the names it could not write, with why;
// nil when all were written (or nothing changed, or in a dry run).
func (r *Renewer) saveChanges() map[string]error {
	if r.dryRun {
		return nil
	}
	r.mu.Lock()
	var changed []*store.Record
	for _, name := range sortedNames(r.records) {
		if cur := r.records[name]; !cur.Same(r.persisted[name]) {
			changed = append(changed, cur.Clone())
		}
	}
	r.mu.Unlock()
	if len(changed) == 0 {
		return nil
	}
	if err := r.Store.SaveRecords(changed); err != nil {
		r.Log.Error("records not saved", zap.Int("records", len(changed)), zap.Error(err))
		failed := make(map[string]error, len(changed))
		for _, rec := range changed {
			failed[rec.Name] = err
		}
		return failed
	}
	r.mu.Lock()
	for _, rec := range changed {
		r.persisted[rec.Name] = rec
	}
	r.mu.Unlock()
	return nil
}

// prune deletes the records of certificates no longer configured: their
// domains file is gone, so renewd no longer manages them. Their archive/
// and live/ files stay where they are.
func (r *Renewer) prune() []string {
	var pruned []string
	for _, name := range sortedNames(r.persisted) {
		if r.Config.Configured(name) { // valid, or left out of this run for a problem in its file
			continue
		}
		if err := r.Store.DeleteRecord(name); err != nil {
			r.Log.Warn("record of an unconfigured certificate not deleted", zap.String("certificate", name), zap.Error(err))
			continue
		}
		delete(r.persisted, name)
		pruned = append(pruned, name)
		r.Log.Info("deleted the record of a certificate no longer configured; its files stay", zap.String("certificate", name))
	}
	return pruned
}

// record returns c's record in the working copy for the caller to change,
// creating it, or copying it first while it is still the one persisted
// shares (see begin). Every change to a record in a pass goes through it.
// The caller holds r.mu.
func (r *Renewer) record(c *config.Certificate) *store.Record {
	rec := r.records[c.Name]
	switch {
	case rec == nil:
		rec = &store.Record{Name: c.Name, Domains: c.Domains}
		r.records[c.Name] = rec
	case rec == r.persisted[c.Name]:
		rec = rec.Clone()
		r.records[c.Name] = rec
	}
	return rec
}

// view returns name's record itself, nil when there is none: only while
// no certificate of the pass is being worked on, and not to be changed
// or kept.
func (r *Renewer) view(name string) *store.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.records[name]
}

// peek returns a copy of name's record, nil when there is none.
func (r *Renewer) peek(name string) *store.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.records[name].Clone()
}

// selectCerts returns the named certificates, or all of them. Canaries
// are always included: the gate (canary.go) decides what to do with them.
func (r *Renewer) selectCerts(names []string) ([]*config.Certificate, error) {
	if len(names) == 0 {
		return r.Config.Certificates, nil
	}
	for _, n := range names {
		if r.Config.Certificate(n) == nil {
			return nil, fmt.Errorf("no certificate named %q in %s", n, r.Config.DomainsDir)
		}
	}
	var out []*config.Certificate
	for _, c := range r.Config.Certificates {
		if slices.Contains(names, c.Name) || c.Canary {
			out = append(out, c)
		}
	}
	return out, nil
}

// interrupted reports whether err is the cancellation of ctx itself (a
// shutdown), not a real failure that merely arrived during one: a CA's
// 429 answered while renewd was stopping is still a 429.
func interrupted(ctx context.Context, err error) bool {
	return ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.Cause(ctx)))
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

func joinDomains(d []string) string {
	if len(d) <= 3 {
		return fmt.Sprint(d)
	}
	return fmt.Sprintf("%v and %d more", d[:3], len(d)-3)
}

func isWaiting(rec *store.Record, now time.Time) bool {
	return rec != nil && rec.NextRetryTime != nil && now.Before(*rec.NextRetryTime)
}
