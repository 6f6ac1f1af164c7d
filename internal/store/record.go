package store

import (
	"crypto/x509"
	"slices"
	"time"
)

// Record is what renewd knows about one certificate: the file
// state/<name>.json. Times are RFC 3339 UTC with whole seconds
// ("2026-11-21T16:00:00Z"), null or absent when unset; the field names are
// the ones `renewd status --json` prints. docs/storage.md describes each.
type Record struct {
	Name    string   `json:"name"`
	Domains []string `json:"domains"`
	Version string   `json:"version,omitempty"` // archive version live/<name> points at
	// DeployedVersion is the archive version last installed for nginx
	// (and hooks run for). Behind Version means a deploy is pending: the
	// next run deploys without a new ACME order.
	DeployedVersion string     `json:"deployed_version,omitempty"`
	Serial          string     `json:"serial,omitempty"` // lowercase hex, no colons
	NotBefore       *time.Time `json:"not_before"`
	NotAfter        *time.Time `json:"not_after"`
	Issuer          string     `json:"issuer,omitempty"` // issuer CN, or the full DN if it has none
	RenewTime       *time.Time `json:"renew_time"`       // last successful renewal of this certificate
	LastAttempt     *time.Time `json:"last_attempt"`
	// RetryCount is the number of failed attempts since the last success;
	// the next attempt is "retry RetryCount", at NextRetryTime.
	RetryCount    int        `json:"retry_count"`
	NextRetryTime *time.Time `json:"next_retry_time"`
	// LastError is the cause of the last failure on one line, for a
	// person; LastErrorDetail is its whole text (lego's multi-line
	// report, say). Both are cleared by a success.
	LastError       string `json:"last_error,omitempty"`
	LastErrorDetail string `json:"last_error_detail,omitempty"`
	// LastFailure is when the last failed attempt was; kept after a
	// success, so a dashboard can tell a certificate that recovered.
	LastFailure *time.Time `json:"last_failure,omitempty"`
	// ServedChain is what the last served-chain check after a deploy to
	// nginx found: "complete", "incomplete", or empty when none ran yet.
	// ServedCheckedAt is when that check ran.
	ServedChain     string     `json:"served_chain,omitempty"`
	ServedCheckedAt *time.Time `json:"served_checked_at,omitempty"`
	// Repaired lists, one sentence each, what renewd had to fix in the
	// CA's answer for the current version (an intermediate fetched
	// through AIA, the order, a root dropped): the CA is misconfigured.
	// Empty for a clean answer.
	Repaired []string `json:"repaired,omitempty"`
	// CanaryProof, for a canary, is when it last proved the whole path:
	// ordered, complete chain, stored, deployed, reloaded and the served
	// chain verified (see docs/policy.md, the canary).
	CanaryProof *time.Time `json:"canary_proof,omitempty"`
	// HeldBy names the canary whose failure kept the last run from
	// attempting this certificate, and HeldReason says why, for a person.
	// Both are cleared when the certificate is next attempted.
	HeldBy     string `json:"held_by,omitempty"`
	HeldReason string `json:"held_reason,omitempty"`
	// WentAheadOf names a failing canary this certificate was renewed in
	// spite of (it was in its emergency window, or would have expired
	// before the canary's next retry), and WentAheadReason says why.
	// Cleared at the next attempt.
	WentAheadOf     string `json:"went_ahead_of,omitempty"`
	WentAheadReason string `json:"went_ahead_reason,omitempty"`
	ARI             *ARI   `json:"ari,omitempty"`
	// RevokedAt is when `renewd revoke` had the CA revoke the live
	// certificate, for RevokeReason (an RFC 5280 reason name); cleared
	// when a new certificate is stored.
	RevokedAt    *time.Time `json:"revoked_at,omitempty"`
	RevokeReason string     `json:"revoke_reason,omitempty"`
}

// ARI is the CA's last renewal information (RFC 9773) for a certificate.
type ARI struct {
	WindowStart    *time.Time `json:"window_start"`
	WindowEnd      *time.Time `json:"window_end"`
	SelectedTime   *time.Time `json:"selected_time"`
	ExplanationURL string     `json:"explanation_url,omitempty"`
	NextPoll       *time.Time `json:"next_poll"`
}

// Clone returns a deep copy of r with every time in UTC truncated to the
// second and Domains never nil; nil for nil.
func (r *Record) Clone() *Record {
	if r == nil {
		return nil
	}
	c := *r
	c.Domains = slices.Clone(r.Domains)
	if c.Domains == nil {
		c.Domains = []string{}
	}
	c.Repaired = slices.Clone(r.Repaired)
	// One array holds every copied time: a pass clones each record a few
	// times, and one allocation per record instead of one per time is
	// most of what a pass with nothing due costs in memory.
	var times timeCopies
	times.add(&c.NotBefore)
	times.add(&c.NotAfter)
	times.add(&c.RenewTime)
	times.add(&c.LastAttempt)
	times.add(&c.NextRetryTime)
	times.add(&c.LastFailure)
	times.add(&c.ServedCheckedAt)
	times.add(&c.CanaryProof)
	times.add(&c.RevokedAt)
	if r.ARI != nil {
		a := *r.ARI
		c.ARI = &a
		times.add(&a.WindowStart)
		times.add(&a.WindowEnd)
		times.add(&a.SelectedTime)
		times.add(&a.NextPoll)
	}
	times.copy()
	return &c
}

// timeCopies gathers the time fields of one Clone and points them at one
// new array of normalised copies.
type timeCopies struct {
	fields [13]**time.Time
	values [13]time.Time
	n      int
}

func (tc *timeCopies) add(f **time.Time) {
	if *f != nil {
		tc.fields[tc.n], tc.values[tc.n] = f, normal(**f)
		tc.n++
	}
}

func (tc *timeCopies) copy() {
	if tc.n == 0 {
		return
	}
	held := slices.Clone(tc.values[:tc.n])
	for i := range tc.n {
		*tc.fields[i] = &held[i]
	}
}

// normal returns t in UTC truncated to the second, as records keep times.
func normal(t time.Time) time.Time {
	if t.Location() == time.UTC && t.Nanosecond() == 0 {
		return t // a UTC time carries no monotonic reading: UTC() drops it
	}
	return t.UTC().Truncate(time.Second)
}

// CloneRecords deep-copies a set of records (see Record.Clone).
func CloneRecords(m map[string]*Record) map[string]*Record {
	out := make(map[string]*Record, len(m))
	for k, r := range m {
		out[k] = r.Clone()
	}
	return out
}

// normalTime returns a new pointer to t in UTC truncated to the second, or
// nil for nil.
func normalTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC().Truncate(time.Second)
	return &u
}

// RecordFromCert fills the certificate fields of r from leaf: Domains (the
// DNS SANs), Serial, NotBefore, NotAfter and Issuer. It leaves the name, the
// version and the renewal and retry fields alone. A nil leaf changes nothing.
func RecordFromCert(r *Record, leaf *x509.Certificate) {
	if r == nil || leaf == nil {
		return
	}
	r.Domains = slices.Clone(leaf.DNSNames)
	if r.Domains == nil {
		r.Domains = []string{}
	}
	serial := ""
	if leaf.SerialNumber != nil {
		serial = leaf.SerialNumber.Text(16)
	}
	if serial != r.Serial {
		// The CA's renewal window, and a revocation, were about the
		// previous certificate.
		r.ARI = nil
		r.RevokedAt, r.RevokeReason = nil, ""
	}
	r.Serial = serial
	r.NotBefore = normalTime(&leaf.NotBefore)
	r.NotAfter = normalTime(&leaf.NotAfter)
	r.Issuer = leaf.Issuer.CommonName
	if r.Issuer == "" {
		r.Issuer = leaf.Issuer.String()
	}
}

// Same reports whether r and o would be written as the same record file:
// every field equal, times compared as Clone stores them (UTC, whole
// seconds), a nil list equal to an empty one. A pass compares every
// record it holds with the one on disk to write only the changed ones;
// Same costs a fraction of a deep reflection. TestRecordSameSeesEveryField
// fails when a field is added to Record or ARI and not compared here.
func (r *Record) Same(o *Record) bool {
	if r == nil || o == nil {
		return r == o
	}
	return r.Name == o.Name && slices.Equal(r.Domains, o.Domains) && r.Version == o.Version &&
		r.DeployedVersion == o.DeployedVersion && r.Serial == o.Serial &&
		sameTime(r.NotBefore, o.NotBefore) && sameTime(r.NotAfter, o.NotAfter) && r.Issuer == o.Issuer &&
		sameTime(r.RenewTime, o.RenewTime) && sameTime(r.LastAttempt, o.LastAttempt) &&
		r.RetryCount == o.RetryCount && sameTime(r.NextRetryTime, o.NextRetryTime) &&
		r.LastError == o.LastError && r.LastErrorDetail == o.LastErrorDetail &&
		sameTime(r.LastFailure, o.LastFailure) && r.ServedChain == o.ServedChain &&
		sameTime(r.ServedCheckedAt, o.ServedCheckedAt) && slices.Equal(r.Repaired, o.Repaired) &&
		sameTime(r.CanaryProof, o.CanaryProof) && r.HeldBy == o.HeldBy && r.HeldReason == o.HeldReason &&
		r.WentAheadOf == o.WentAheadOf && r.WentAheadReason == o.WentAheadReason &&
		r.ARI.same(o.ARI) && sameTime(r.RevokedAt, o.RevokedAt) && r.RevokeReason == o.RevokeReason
}

func (a *ARI) same(o *ARI) bool {
	if a == nil || o == nil {
		return a == o
	}
	return sameTime(a.WindowStart, o.WindowStart) && sameTime(a.WindowEnd, o.WindowEnd) &&
		sameTime(a.SelectedTime, o.SelectedTime) && a.ExplanationURL == o.ExplanationURL &&
		sameTime(a.NextPoll, o.NextPoll)
}

// sameTime compares two optional times as a record stores them.
func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return normal(*a).Equal(normal(*b))
}
