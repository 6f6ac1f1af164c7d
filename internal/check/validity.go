package check

import (
	"fmt"
	"time"

	"github.com/renewd/renewd/internal/chain"
)

// judgeLeafDates says how long the leaf has left, and warns when that is
// less than the threshold for its lifetime. An expired or not yet valid
// leaf is the chain judge's failure instead.
func judgeLeafDates(r *Report, a *chain.Analysis, opts Options) {
	for _, p := range a.Problems {
		if p.Cert == a.Leaf && (p.Kind == chain.KindExpired || p.Kind == chain.KindNotYetValid) {
			return
		}
	}
	leaf, now := a.Leaf, opts.now()
	lifetime, left := leaf.NotAfter.Sub(leaf.NotBefore), leaf.NotAfter.Sub(now)
	if warn := opts.warnBefore(lifetime); left < warn {
		r.add(Validity, Warn, "expires soon: valid until %s, %s left (warning below %s)",
			rfc3339(leaf.NotAfter), chain.FormatLeft(left, lifetime), warnText(warn, lifetime, opts))
		return
	}
	r.add(Validity, Pass, "valid until %s (%s left)", rfc3339(leaf.NotAfter), chain.FormatLeft(left, lifetime))
}

// warnText says where the warning threshold comes from.
func warnText(warn, lifetime time.Duration, opts Options) string {
	if opts.WarnDays == AutoWarn && warn < chain.DefaultWarn {
		return fmt.Sprintf("%s, a third of its lifetime of %s", chain.FormatLeft(warn, lifetime), chain.FormatLeft(lifetime, lifetime))
	}
	return chain.FormatLeft(warn, lifetime)
}
