package chain

import (
	"crypto/x509"
	"fmt"
	"time"
)

// judgeDates checks the dates on the path at the analysis time: every
// certificate must be valid then, and an issuer should not expire before
// the leaf. The trust store's own root is checked by x509 when the path is
// built (an expired one is a KindRejected problem).
func (a *Analysis) judgeDates() {
	for _, l := range a.Path {
		c := l.Cert
		if c == nil || l.From == FromTrustStore {
			continue
		}
		switch kind := a.kindOf(c); {
		case a.now.Before(c.NotBefore):
			a.add(AspectValidity, KindNotYetValid, true, c, "%s is not valid before %s (in %s): is the server's or the CA's clock wrong?",
				a.described(c), rfc3339(c.NotBefore), span(c.NotBefore.Sub(a.now), c.NotAfter.Sub(c.NotBefore)))
		case a.now.After(c.NotAfter) && c == a.Leaf:
			a.add(AspectValidity, KindExpired, true, c, "the leaf %q expired at %s (%s ago): renew it",
				Describe(c), rfc3339(c.NotAfter), span(a.now.Sub(c.NotAfter), c.NotAfter.Sub(c.NotBefore)))
		case a.now.After(c.NotAfter):
			a.add(AspectValidity, KindExpired, true, c, "%s expired at %s: clients reject the chain; send the current %s from your CA",
				a.described(c), rfc3339(c.NotAfter), kind)
		case c != a.Leaf && c.NotAfter.Before(a.Leaf.NotAfter):
			a.add(AspectValidity, KindExpiresFirst, false, c,
				"%s expires at %s, before the leaf (%s): from then on clients reject the chain unless it is renewed first",
				a.described(c), rfc3339(c.NotAfter), rfc3339(a.Leaf.NotAfter))
		}
	}
}

// described names c with what it is: the leaf "X", intermediate "Y".
func (a *Analysis) described(c *x509.Certificate) string {
	if c == a.Leaf {
		return fmt.Sprintf("the leaf %q", Describe(c))
	}
	return fmt.Sprintf("%s %q", a.kindOf(c), Describe(c))
}

// kindOf names what c is on the path.
func (a *Analysis) kindOf(c *x509.Certificate) string {
	switch {
	case c == a.Leaf:
		return "leaf"
	case isSelfSigned(c):
		return "root"
	default:
		return "intermediate"
	}
}

// DefaultWarn is the most time before expiry that a certificate counts as
// expiring soon: Let's Encrypt's 90-day certificates are renewed 30 days
// before, so a warning 14 days before means renewals have failed for two
// weeks.
const DefaultWarn = 14 * 24 * time.Hour

// WarnBefore is how long before it expires a certificate with this
// lifetime counts as expiring soon: a third of its lifetime, at most
// DefaultWarn. renewd renews with a third (under 10 days: half) of the
// lifetime left, so a fresh 24-hour certificate (step-ca's default) is not
// "expiring" at once, and a warning means renewal is overdue.
func WarnBefore(lifetime time.Duration) time.Duration {
	return min(lifetime/3, DefaultWarn)
}

// FormatLeft says how much time is left (or, negative, how long ago a
// certificate expired) in the unit that suits a certificate with this
// lifetime: days for certificates that live 10 days or more (hours once
// under 2 days are left, so "1 day" never hides 47 hours), hours for
// shorter ones, minutes when under 3 hours remain. Whole units, rounded
// down: "89 days", "20 hours", "2 days", "45 minutes".
func FormatLeft(left, lifetime time.Duration) string {
	return span(left, lifetime)
}

func span(d, lifetime time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d >= 10*24*time.Hour, lifetime >= 10*24*time.Hour && d >= 2*24*time.Hour:
		return plural(int(d/(24*time.Hour)), "day")
	case d >= 3*time.Hour:
		return plural(int(d/time.Hour), "hour")
	default:
		return plural(int(d/time.Minute), "minute")
	}
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
