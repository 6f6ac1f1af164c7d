package cluster

import (
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/internal/notify"
	"github.com/renewd/renewd/internal/readfile"
)

// Outage is an etcd outage as this node sees it: when it began, and which
// certificates it has warned about meanwhile. While etcd is unreachable
// nothing is ordered or deployed through this node, and it serves what it
// has; a certificate of it that nears expiry meanwhile is announced once
// per outage (Expiring), with the outage as its cause. Safe for concurrent
// use.
type Outage struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	mu     sync.Mutex
	since  time.Time       // zero while etcd is reachable
	warned map[string]bool // certificates announced in this outage
}

func (o *Outage) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// Down records that etcd is unreachable. The first call of an outage
// starts it (began is true); later ones keep its start.
func (o *Outage) Down() (since time.Time, began bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.since.IsZero() {
		o.since, o.warned, began = o.now().UTC(), map[string]bool{}, true
	}
	return o.since, began
}

// Up records that etcd answers again; it returns how long the outage
// lasted, and false when there was none.
func (o *Outage) Up() (time.Duration, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.since.IsZero() {
		return 0, false
	}
	d := o.now().Sub(o.since)
	o.since, o.warned = time.Time{}, nil
	return d, true
}

// Since is when the current outage began; zero while etcd is reachable.
func (o *Outage) Since() time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.since
}

// Expiring returns the warnings due now for the certificates this node
// serves (see ExpiringDuringOutage), and remembers them, so that each
// certificate is announced once per outage however often it is asked.
// Nothing while etcd is reachable: then the leader's passes announce.
func (o *Outage) Expiring(served []Served, within time.Duration) []notify.Event {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.since.IsZero() {
		return nil
	}
	events := ExpiringDuringOutage(served, o.since, o.now(), within, o.warned)
	for _, e := range events {
		o.warned[e.Certificate] = true
	}
	return events
}

// Served is a certificate as this node serves it.
type Served struct {
	Name      string
	Domains   []string
	Version   string // in the node's own storage; "" when unknown
	NotBefore time.Time
	NotAfter  time.Time
}

// ExpiringDuringOutage decides which certificates this node serves are in
// their expiry window at now (their last within, or last quarter of
// lifetime: notify.ExpiryWindowStart, the rule of every Expiring event)
// during an etcd outage that began at since, leaving out those in warned.
// Each event's Cause says that etcd is unreachable and since when; its
// text is the same for every call of one outage, so the Notifier, too,
// sends it once. Zero within (notify.expiring_days: 0) turns warnings
// off, as for a pass. Pure: the caller holds the clock and the memory.
func ExpiringDuringOutage(served []Served, since, now time.Time, within time.Duration, warned map[string]bool) []notify.Event {
	if within <= 0 {
		return nil
	}
	at := now.UTC().Truncate(time.Second)
	var events []notify.Event
	for _, s := range served {
		if warned[s.Name] || s.NotAfter.IsZero() || now.Before(notify.ExpiryWindowStart(s.NotBefore, s.NotAfter, within)) {
			continue
		}
		na := s.NotAfter.UTC().Truncate(time.Second)
		events = append(events, notify.Event{Kind: notify.Expiring, Certificate: s.Name, Domains: slices.Clone(s.Domains),
			NotAfter: &na, Cause: OutageCause(since, s.Version), At: at})
	}
	slices.SortFunc(events, func(a, b notify.Event) int { return strings.Compare(a.Certificate, b.Certificate) })
	return events
}

// OutageCause is the cause of an Expiring event raised during an etcd
// outage that began at since, for a certificate of which this node serves
// version.
func OutageCause(since time.Time, version string) string {
	s := fmt.Sprintf("etcd unreachable since %s: no renewal reaches this node until it answers", since.UTC().Truncate(time.Second).Format(time.RFC3339))
	if version != "" {
		s += "; it keeps serving version " + version
	}
	return s
}

// maxServedFile bounds the read of a deployed fullchain.
const maxServedFile = 1 << 20

// Served lists the certificates of this node's configuration as it serves
// them without etcd: a certificate deployed to files is judged by the
// fullchain at its deploy path (what nginx loads), any other by the live
// version in the node's own storage. One whose files cannot be read or
// parsed is left out: nothing to warn about that this node knows.
func (a *Agent) Served() []Served {
	conf := a.config()
	if conf == nil {
		return nil
	}
	var out []Served
	for _, c := range conf.cfg.Certificates {
		s := Served{Name: c.Name, Domains: c.Domains}
		files, version, err := a.Local.Live(c.Name)
		if err == nil {
			s.Version = version
		}
		leaf := firstCert(files.Fullchain)
		if c.Deploy.Fullchain != "" {
			if data, err := readfile.Bounded(c.Deploy.Fullchain, maxServedFile); err == nil {
				if d := firstCert(data); d != nil {
					if leaf == nil || !d.Equal(leaf) {
						s.Version = "" // not the stored live version (a rolled-back deploy)
					}
					leaf = d
				}
			}
		}
		if leaf == nil {
			continue
		}
		s.NotBefore, s.NotAfter = leaf.NotBefore, leaf.NotAfter
		out = append(out, s)
	}
	return out
}

func firstCert(pemData []byte) *x509.Certificate {
	certs, err := chain.ParsePEM(pemData)
	if err != nil || len(certs) == 0 {
		return nil
	}
	return certs[0]
}
