package cluster

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/notify"
)

// DefaultProbeEvery is how often a node asks etcd whether it answers.
const DefaultProbeEvery = 10 * time.Second

// OutageWatch keeps a node from letting its certificates expire in
// silence while it cannot reach etcd. Every Every it asks Probe; the first
// failure starts an outage (Outage.Down), the first success after it ends
// it. Each look's result goes to Observe (the renewd_cluster_etcd_reachable
// metric), and during an outage every look hands Warn the certificates
// this node serves that entered their expiry window (Outage.Expiring: once
// each per outage, with "etcd unreachable since T" as the cause).
//
// It probes etcd itself instead of relying on the agent's watch: a watch
// whose connection is cut stays open while the client redials, so a
// partitioned node would not notice.
type OutageWatch struct {
	// Probe returns nil while etcd answers this node (EtcdProbe).
	Probe func(ctx context.Context) error
	// Served lists the certificates this node serves (Agent.Served).
	Served func() []Served
	// Within is notify.expiring_days of the configuration in force; zero
	// turns warnings off.
	Within func() time.Duration
	// Warn sends expiring warnings; nil sends none.
	Warn func([]notify.Event)
	// Observe records each look; nil records nothing. since is the
	// outage's start, zero while reachable.
	Observe func(reachable bool, since time.Time)
	Log     *zap.Logger

	// Test seams: Outage holds the clock (Outage.Now) and the memory of
	// one outage; After waits between looks (time.After when nil); Every
	// is the time between looks (DefaultProbeEvery when zero).
	Outage *Outage
	After  func(time.Duration) <-chan time.Time
	Every  time.Duration
}

// Run looks at once, then every Every, until ctx ends. A panic in one
// look is logged with its stack and the next look goes on.
func (w *OutageWatch) Run(ctx context.Context) {
	after, every := w.After, w.Every
	if after == nil {
		after = time.After
	}
	if every <= 0 {
		every = DefaultProbeEvery
	}
	for {
		w.safeLook(ctx)
		select {
		case <-ctx.Done():
			return
		case <-after(every):
		}
	}
}

func (w *OutageWatch) safeLook(ctx context.Context) {
	defer func() {
		if r := recover(); r != nil {
			w.Log.Error("etcd outage watch panicked; looking again later", zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
		}
	}()
	w.Look(ctx)
}

// Look probes etcd once and acts on the answer: it starts or ends an
// outage, records it, and warns about what entered its expiry window
// meanwhile. It returns the warnings it handed to Warn.
func (w *OutageWatch) Look(ctx context.Context) []notify.Event {
	err := w.Probe(ctx)
	if ctx.Err() != nil {
		return nil // shutting down: not an outage
	}
	if err == nil {
		if lasted, was := w.Outage.Up(); was {
			w.Log.Info("etcd answers again", zap.Duration("outage", lasted.Round(time.Second)))
		}
		w.observe(true, time.Time{})
		return nil
	}
	since, began := w.Outage.Down()
	if began {
		w.Log.Warn("etcd does not answer this node; it orders and deploys nothing, serves what it has, and warns about certificates nearing expiry",
			zap.Time("since", since), zap.Error(err))
	}
	w.observe(false, since)
	var within time.Duration
	if w.Within != nil {
		within = w.Within()
	}
	if within <= 0 || w.Warn == nil {
		return nil
	}
	events := w.Outage.Expiring(w.Served(), within)
	if len(events) > 0 {
		for _, e := range events {
			w.Log.Warn("certificate nears expiry and etcd does not answer", zap.String("certificate", e.Certificate),
				zap.Timep("not_after", e.NotAfter), zap.String("cause", e.Cause))
		}
		w.Warn(events)
	}
	return events
}

func (w *OutageWatch) observe(reachable bool, since time.Time) {
	if w.Observe != nil {
		w.Observe(reachable, since)
	}
}

// EtcdProbe returns a Probe that reads one key count under prefix within
// timeout, requiring an etcd leader: a member that lost its quorum counts
// as unreachable, as it can commit nothing.
func EtcdProbe(cli *clientv3.Client, prefix string, timeout time.Duration) func(context.Context) error {
	k := keys{prefix}
	return func(ctx context.Context) error {
		pctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(ctx), timeout)
		defer cancel()
		if _, err := cli.Get(pctx, k.deploys(), clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil {
			return fmt.Errorf("etcd: %w", err)
		}
		return nil
	}
}
