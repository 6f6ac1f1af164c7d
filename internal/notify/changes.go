package notify

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/renewd/renewd/internal/store"
)

// Snapshot is what the records said about every certificate at one moment.
type Snapshot struct {
	// At is when Records were read. For the snapshot before a run it is
	// the At of the previous run's after-snapshot: the last time anyone
	// looked. Zero means unknown (the first run after renewd started);
	// each record's last_attempt then stands in for it, so a restart does
	// not repeat the expiry warning of a certificate renewd kept retrying,
	// while one that entered its last days while renewd was down is still
	// announced.
	At time.Time
	// Records are the certificates' records by name; nil means none.
	Records map[string]*store.Record
}

// failure classes of a record, the state RenewalFailed, ChainIncomplete and
// Recovered announce changes of.
const (
	stateOK     = ""
	stateFailed = RenewalFailed
	stateChain  = ChainIncomplete
)

func failState(rec *store.Record) Kind {
	switch {
	case rec == nil || rec.RetryCount == 0:
		return stateOK
	case servedIncomplete(rec):
		return stateChain
	}
	return stateFailed
}

// servedIncomplete reports whether rec's last failure was the served-chain
// check finding the chain incomplete: the renewer records the verdict and
// the failure at the same moment.
func servedIncomplete(rec *store.Record) bool {
	return rec.ServedChain == "incomplete" && rec.ServedCheckedAt != nil && rec.LastFailure != nil &&
		!rec.ServedCheckedAt.Before(*rec.LastFailure)
}

// Changes returns what changed between prev and next, one Event per state
// change of a certificate, sorted by certificate and then in the order of
// Kinds. It is pure: the caller decides where the snapshots come from (the
// state before and after a run; see Snapshot.At) and what to do with the
// events. next.At is now.
//
//   - RenewalFailed or ChainIncomplete when a certificate starts failing
//     (retry_count leaves 0, or it fails at its first issuance), or its
//     failure changes between the two (a failure that repeats is not
//     announced again, however often it is retried);
//   - Recovered when retry_count returns to 0;
//   - CanaryFailed once per canary, listing the certificates that became
//     held_by it in this run (a certificate still held from an earlier
//     run is not listed again);
//   - ChainRepaired when a new version was stored from a CA answer
//     that needed repairs (record's repaired);
//   - CanaryBypassed when a certificate started going ahead of a failing
//     canary (went_ahead_of set, or naming another canary, since prev):
//     its retries ahead of the same canary are not announced again; an
//     attempt that did not go ahead clears went_ahead_of, so the next
//     one that does is news again;
//   - Expiring when a certificate has entered its last expiringWithin, or
//     its last quarter of lifetime if that is shorter (so a 6-day
//     certificate does not warn at every issuance), since prev.At. Zero
//     expiringWithin turns it off. A renewed certificate has a new
//     not_after and leaves the window.
//
// Certificates in prev but not in next (removed from the configuration)
// give no events.
func Changes(prev, next Snapshot, expiringWithin time.Duration) []Event {
	now := next.At.UTC().Truncate(time.Second)
	var events []Event
	held := map[string][]string{} // canary -> certificates newly held by it
	why := map[string]string{}
	for _, name := range sortedNames(next.Records) {
		cur, old := next.Records[name], prev.Records[name]
		if cur == nil {
			continue
		}
		if ev, ok := failureChange(old, cur); ok {
			events = append(events, fill(ev, name, cur, now))
		}
		if cur.HeldBy != "" && (old == nil || old.HeldBy == "") {
			c := cur.HeldBy
			held[c] = append(held[c], name)
			if why[c] == "" {
				why[c] = cur.HeldReason
			}
		}
		if len(cur.Repaired) > 0 && (old == nil || old.Version != cur.Version) {
			ev := Event{Kind: ChainRepaired, Error: strings.Join(cur.Repaired, "; ")}
			events = append(events, fill(ev, name, cur, now))
		}
		if cur.WentAheadOf != "" && (old == nil || old.WentAheadOf != cur.WentAheadOf) {
			ev := Event{Kind: CanaryBypassed, Canary: cur.WentAheadOf, Error: cur.WentAheadReason}
			events = append(events, fill(ev, name, cur, now))
		}
		if expiringWithin > 0 && enteredExpiry(old, cur, prev.At, now, expiringWithin) {
			events = append(events, fill(Event{Kind: Expiring, Error: cur.LastError, RetryCount: cur.RetryCount}, name, cur, now))
		}
	}
	for canary, names := range held {
		ev := Event{Kind: CanaryFailed, Certificate: canary, Held: names, Error: why[canary], At: now}
		if rec := next.Records[canary]; rec != nil {
			ev = fill(ev, canary, rec, now)
			ev.RetryCount = rec.RetryCount
		}
		events = append(events, ev)
	}
	slices.SortStableFunc(events, func(a, b Event) int {
		return cmp.Or(strings.Compare(a.Certificate, b.Certificate), cmp.Compare(kindIndex(a.Kind), kindIndex(b.Kind)))
	})
	return events
}

// failureChange is the RenewalFailed, ChainIncomplete or Recovered event
// between two records of one certificate, if any.
func failureChange(old, cur *store.Record) (Event, bool) {
	before, after := failState(old), failState(cur)
	switch {
	case after == before:
		return Event{}, false
	case after == stateOK:
		return Event{Kind: Recovered, RetryCount: old.RetryCount}, true
	}
	return Event{Kind: after, Error: cur.LastError, RetryCount: cur.RetryCount}, true
}

// enteredExpiry reports whether cur's expiry window opened after the last
// look (since, or old's last attempt when since is unknown) and by now.
func enteredExpiry(old, cur *store.Record, since, now time.Time, within time.Duration) bool {
	if cur.NotAfter == nil {
		return false
	}
	var nb time.Time
	if cur.NotBefore != nil {
		nb = *cur.NotBefore
	}
	start := ExpiryWindowStart(nb, *cur.NotAfter, within)
	if now.Before(start) {
		return false
	}
	if since.IsZero() && old != nil && old.LastAttempt != nil {
		since = *old.LastAttempt
	}
	return since.IsZero() || since.Before(start)
}

// ExpiryWindowStart is when a certificate valid from notBefore (zero:
// unknown) to notAfter enters its expiry window: its last within, or its
// last quarter of lifetime if that is shorter, so a 6-day certificate
// does not warn at every issuance. The one rule of Expiring events,
// whoever raises them.
func ExpiryWindowStart(notBefore, notAfter time.Time, within time.Duration) time.Time {
	w := within
	if !notBefore.IsZero() {
		if q := notAfter.Sub(notBefore) / 4; q > 0 && q < w {
			w = q
		}
	}
	return notAfter.Add(-w)
}

func equalTimes(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// fill copies the certificate's identity and dates from rec into ev.
func fill(ev Event, name string, rec *store.Record, now time.Time) Event {
	ev.Certificate = name
	ev.Domains = slices.Clone(rec.Domains)
	ev.NotAfter = utc(rec.NotAfter)
	if ev.Kind != Recovered {
		ev.NextRetry = utc(rec.NextRetryTime)
	}
	ev.At = now
	return ev
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC().Truncate(time.Second)
	return &u
}

func kindIndex(k Kind) int {
	if i := slices.Index(Kinds, k); i >= 0 {
		return i
	}
	return len(Kinds)
}

func sortedNames(m map[string]*store.Record) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
