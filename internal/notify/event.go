package notify

import (
	"time"
)

// Kind is what happened to a certificate. The strings are the names used
// in renewd.yaml (notify.targets[].events) and in webhook payloads.
type Kind string

// The kinds, in the order config.NotifyEvents lists them.
const (
	// RenewalFailed: a renewal failed where the last one (or the first
	// issuance) had not; repeated failures are not announced again.
	RenewalFailed Kind = "renewal_failed"
	// Recovered: a certificate renewed after one or more failures.
	Recovered Kind = "recovered"
	// CanaryFailed: a canary failed, so the certificates in Held were not
	// attempted in this run.
	CanaryFailed Kind = "canary_failed"
	// CanaryBypassed: a certificate was renewed although a canary was
	// failing, because it was in its emergency window or would have
	// expired before the canary's next retry (Error says which).
	CanaryBypassed Kind = "canary_bypassed"
	// ChainIncomplete: after the reload nginx served the new certificate
	// without a complete chain, so deploy verification failed (and the
	// previous files were restored). Strict clients would have failed.
	ChainIncomplete Kind = "chain_incomplete"
	// ChainRepaired: a new version was stored, but the CA's answer needed
	// repairs to be a complete chain (an intermediate fetched through AIA,
	// the order, a root dropped): the CA is misconfigured. Error lists
	// them.
	ChainRepaired Kind = "chain_repaired"
	// Expiring: the certificate entered its last ExpiringDays (or last
	// quarter of its lifetime) without a successful renewal.
	Expiring Kind = "expiring"
)

// Kinds lists every Kind in order.
var Kinds = []Kind{RenewalFailed, Recovered, CanaryFailed, CanaryBypassed, ChainIncomplete, ChainRepaired, Expiring}

// title is how a message names the kind, for a person.
func (k Kind) title() string {
	switch k {
	case RenewalFailed:
		return "Renewal failed"
	case Recovered:
		return "Recovered"
	case CanaryFailed:
		return "Canary failed, certificates held"
	case CanaryBypassed:
		return "Renewed despite a failing canary"
	case ChainIncomplete:
		return "Served chain incomplete"
	case ChainRepaired:
		return "The CA's chain needed repairs"
	case Expiring:
		return "Expiring without renewal"
	}
	return string(k)
}

// Event is one state change of one certificate. Times are UTC with whole
// seconds; a pointer is nil when there is no value (null in JSON).
type Event struct {
	Kind Kind `json:"kind"`
	// Certificate is the certificate's name; for CanaryFailed, the
	// canary's.
	Certificate string   `json:"certificate"`
	Domains     []string `json:"domains"`
	// Error is the certificate's last error (last_error); for
	// CanaryFailed, why the others were held (held_reason); for
	// CanaryBypassed, why the certificate went ahead (went_ahead_reason).
	Error string `json:"error,omitempty"`
	// RetryCount is the failures in a row: after this failure for
	// RenewalFailed and ChainIncomplete, before the success for Recovered.
	RetryCount int        `json:"retry_count"`
	NextRetry  *time.Time `json:"next_retry_time"`
	NotAfter   *time.Time `json:"not_after"`
	// Held lists the certificates a failed canary kept from renewing,
	// sorted (CanaryFailed only).
	Held []string `json:"held,omitempty"`
	// Canary names the failing canary (CanaryBypassed only).
	Canary string `json:"canary,omitempty"`
	// Cause says why renewd could not act, when something other than the
	// certificate's own renewal is in the way: for an Expiring event a
	// cluster node raises while it cannot reach etcd, that etcd is
	// unreachable and since when (docs/cluster.md).
	Cause string `json:"cause,omitempty"`
	// At is when the change was seen.
	At time.Time `json:"at"`
}
