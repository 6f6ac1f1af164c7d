package renew

import (
	"math"
	"time"

	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/store"
)

// Status is one row of `renewd status`: the stored record joined with the
// configuration and the policy's next decision. The JSON names are the
// record field names plus the computed ones; they are a stable interface.
type Status struct {
	Name      string     `json:"name"`
	Domains   []string   `json:"domains"`
	Canary    bool       `json:"canary"`
	Serial    string     `json:"serial,omitempty"`
	Issuer    string     `json:"issuer,omitempty"`
	NotBefore *time.Time `json:"not_before"`
	NotAfter  *time.Time `json:"not_after"`
	DaysLeft  *int       `json:"days_left"`
	// TimeLeft is the time left for a person, in units that suit the
	// lifetime: "61 days" for 90 days, "23 hours" for a 24-hour
	// certificate; "expired 2 hours ago".
	TimeLeft string `json:"time_left,omitempty"`
	// Expiring says less time is left than renewd warns at: a third of
	// the lifetime, at most 14 days.
	Expiring        bool       `json:"expiring"`
	Repaired        []string   `json:"repaired,omitempty"`
	RenewTime       *time.Time `json:"renew_time"`
	LastAttempt     *time.Time `json:"last_attempt"`
	RetryCount      int        `json:"retry_count"`
	NextRetryTime   *time.Time `json:"next_retry_time"`
	LastError       string     `json:"last_error,omitempty"`
	LastErrorDetail string     `json:"last_error_detail,omitempty"`
	LastFailure     *time.Time `json:"last_failure"`
	ServedChain     string     `json:"served_chain,omitempty"`
	ServedCheckedAt *time.Time `json:"served_checked_at"`
	HeldBy          string     `json:"held_by,omitempty"`
	HeldReason      string     `json:"held_reason,omitempty"`
	WentAheadOf     string     `json:"went_ahead_of,omitempty"`
	WentAheadReason string     `json:"went_ahead_reason,omitempty"`
	CanaryProof     *time.Time `json:"canary_proof,omitempty"`
	NextRenewal     *time.Time `json:"next_renewal"`
	NextReason      string     `json:"next_renewal_reason"`
	Due             bool       `json:"due"`
	Version         string     `json:"version,omitempty"`
	DeployedVersion string     `json:"deployed_version,omitempty"`
	RevokedAt       *time.Time `json:"revoked_at,omitempty"`
	RevokeReason    string     `json:"revoke_reason,omitempty"`
}

// StatusRows builds one row per configured certificate, in config order,
// from the records by name.
func StatusRows(cfg *config.Config, recs map[string]*store.Record, now time.Time) []Status {
	rows := make([]Status, 0, len(cfg.Certificates))
	for _, c := range cfg.Certificates {
		rec := recs[c.Name]
		p := Decide(c, rec, now, false)
		row := Status{Name: c.Name, Domains: c.Domains, Canary: c.Canary, Due: p.Due, NextReason: p.Reason}
		if !p.At.IsZero() {
			row.NextRenewal = ptr(p.At.UTC())
		}
		if rec != nil {
			row.Serial, row.Issuer, row.Version = rec.Serial, rec.Issuer, rec.Version
			row.NotBefore, row.NotAfter = rec.NotBefore, rec.NotAfter
			row.RenewTime, row.LastAttempt = rec.RenewTime, rec.LastAttempt
			row.RetryCount, row.NextRetryTime, row.LastError = rec.RetryCount, rec.NextRetryTime, rec.LastError
			row.LastErrorDetail = rec.LastErrorDetail
			row.HeldBy, row.HeldReason = rec.HeldBy, rec.HeldReason
			row.WentAheadOf, row.WentAheadReason = rec.WentAheadOf, rec.WentAheadReason
			row.CanaryProof = rec.CanaryProof
			row.LastFailure, row.ServedChain, row.ServedCheckedAt = rec.LastFailure, rec.ServedChain, rec.ServedCheckedAt
			row.DeployedVersion = rec.DeployedVersion
			row.Repaired = rec.Repaired
			row.RevokedAt, row.RevokeReason = rec.RevokedAt, rec.RevokeReason
			if rec.NotAfter != nil {
				// Floor, so an expired certificate never shows 0 days.
				row.DaysLeft = ptr(int(math.Floor(rec.NotAfter.Sub(now).Hours() / 24)))
				left, lifetime := rec.NotAfter.Sub(now), time.Duration(0)
				if rec.NotBefore != nil {
					lifetime = rec.NotAfter.Sub(*rec.NotBefore)
				}
				row.TimeLeft = chain.FormatLeft(left, lifetime)
				if left < 0 {
					row.TimeLeft = "expired " + row.TimeLeft + " ago"
				}
				row.Expiring = left < chain.WarnBefore(lifetime)
			}
		}
		rows = append(rows, row)
	}
	return rows
}
