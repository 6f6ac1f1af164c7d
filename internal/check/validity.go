package check

import (
	"crypto/x509"
	"time"

	"github.com/renewd/renewd/internal/chain"
)

const day = 24 * time.Hour

// judgeValidity checks the dates on the path: the leaf, and each issuer,
// which must be valid now and should not expire before the leaf.
func judgeValidity(r *Report, path []*x509.Certificate, opts Options) {
	now := opts.now()
	leaf := path[0]
	left := int(leaf.NotAfter.Sub(now) / day)
	switch {
	case now.Before(leaf.NotBefore):
		r.add(Validity, Fail, "not valid yet: the certificate is valid from %s (is the server's or the CA's clock wrong?)", rfc3339(leaf.NotBefore))
	case now.After(leaf.NotAfter):
		r.add(Validity, Fail, "expired at %s (%d days ago)", rfc3339(leaf.NotAfter), int(now.Sub(leaf.NotAfter)/day))
	case left < opts.WarnDays:
		r.add(Validity, Warn, "expires soon: valid until %s, %d days left (warning below %d days)", rfc3339(leaf.NotAfter), left, opts.WarnDays)
	default:
		r.add(Validity, Pass, "valid until %s (%d days left)", rfc3339(leaf.NotAfter), left)
	}
	for _, c := range path[1:] {
		judgeIssuerDates(r, c, leaf, now)
	}
}

func judgeIssuerDates(r *Report, c, leaf *x509.Certificate, now time.Time) {
	kind := "intermediate"
	if isSelfSigned(c) {
		kind = "root"
	}
	switch {
	case now.Before(c.NotBefore):
		r.add(Validity, Fail, "%s %q is not valid before %s", kind, chain.Describe(c), rfc3339(c.NotBefore))
	case now.After(c.NotAfter):
		r.add(Validity, Fail, "%s %q expired at %s: clients reject the chain; send the current %s from your CA", kind, chain.Describe(c), rfc3339(c.NotAfter), kind)
	case c.NotAfter.Before(leaf.NotAfter):
		r.add(Validity, Warn, "%s %q expires at %s, before the leaf (%s): from then on clients reject the chain unless it is renewed first",
			kind, chain.Describe(c), rfc3339(c.NotAfter), rfc3339(leaf.NotAfter))
	}
}
