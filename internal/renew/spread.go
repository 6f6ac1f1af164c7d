package renew

import (
	"hash/fnv"
	"time"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/store"
)

// Spreading renewals (docs/policy.md). A thousand certificates issued the
// same day reach 1/3 of their lifetime in the same minute; renewing them
// together makes a burst at the CA and, after any failure, a burst of
// retries. Under ARI the CA spreads them itself (its window, and a time
// chosen at random inside it: RecordARI); under the lifetime rule renewd
// moves each certificate earlier by its own share of renew_spread.
// renew_before is the operator's exact choice and renew --now is now:
// neither is spread.

// spreadShare is where in its spread a certificate renews: a number in
// [0, 1) fixed by its name and serial, so that every run (and `renewd
// status`) sees the same time, and a new certificate gets a new place.
func spreadShare(name, serial string) float64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(name))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(serial))
	return float64(h.Sum64()>>11) / (1 << 53)
}

// Spread is when a certificate renews under the lifetime rule, given at,
// the time RenewAt gives it: earlier by its share of cert.RenewSpread,
// whole seconds, UTC. The spread is at most 1/10 of the certificate's
// lifetime, so a short-lived certificate keeps most of its margin. Only
// ever earlier: spreading never brings a certificate closer to expiry. A
// record without both dates, or a spread of 0, leaves at as it is.
func Spread(cert *config.Certificate, rec *store.Record, at time.Time) time.Time {
	if cert.RenewSpread <= 0 || rec == nil || rec.NotBefore == nil || rec.NotAfter == nil {
		return at
	}
	spread := min(cert.RenewSpread, rec.NotAfter.Sub(*rec.NotBefore)/10)
	if spread <= 0 {
		return at
	}
	early := time.Duration(spreadShare(cert.Name, rec.Serial) * float64(spread))
	return at.Add(-early).UTC().Truncate(time.Second)
}
