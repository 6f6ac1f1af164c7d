package main

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/notify"
	"github.com/renewd/renewd/internal/renew"
)

// alerts turns what a renewal pass changed into notifications: it hands
// the difference between the pass's records before and after
// (notify.Changes) to a Notifier, which sends in the background. It never
// reads the storage: the pass's report says what changed. One alerts lives
// as long as the command: the daemon keeps it across SIGHUP reloads, so
// the time of its last look survives a new configuration.
type alerts struct {
	log *zap.Logger

	mu       sync.Mutex
	n        *notify.Notifier // nil: no targets configured
	within   time.Duration    // notify.expiring_days
	lastLook time.Time        // end of the last pass sent; zero at start
}

// newAlerts returns alerts with no targets: configure sets them.
func newAlerts(log *zap.Logger) *alerts { return &alerts{log: log} }

// configure starts a Notifier for cfg and retires the previous one, which
// keeps sending what it has queued (bounded) in the background. node, on
// a cluster node, names the sender in every message ("" names the host).
func (a *alerts) configure(cfg config.Notify, node string) {
	var n *notify.Notifier
	if len(cfg.Targets) > 0 {
		n = notify.New(cfg, a.log, notify.Options{Host: node})
	}
	a.mu.Lock()
	old := a.n
	a.n, a.within = n, time.Duration(cfg.ExpiringDays)*24*time.Hour
	a.mu.Unlock()
	if old != nil {
		go func() { _ = a.closeNotifier(old, notifyFlush) }()
	}
}

// notifyFlush bounds how long renewd waits for queued messages when it
// exits or reloads; a webhook that hangs costs at most this much.
const notifyFlush = 10 * time.Second

// send announces what a pass changed.
func (a *alerts) send(rep *renew.Report) {
	if rep == nil {
		return
	}
	a.mu.Lock()
	n, within, since := a.n, a.within, a.lastLook
	a.lastLook = rep.End
	a.mu.Unlock()
	if n == nil {
		return
	}
	prev := notify.Snapshot{At: since, Records: rep.Before}
	next := notify.Snapshot{At: rep.End, Records: rep.After}
	if events := notify.Changes(prev, next, within); len(events) > 0 {
		n.Send(events)
	}
}

// expiringWithin is notify.expiring_days of the configuration in force.
func (a *alerts) expiringWithin() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.within
}

// warn sends events raised outside a pass: a cluster node's expiring
// warnings while it cannot reach etcd.
func (a *alerts) warn(events []notify.Event) {
	a.mu.Lock()
	n := a.n
	a.mu.Unlock()
	if n != nil && len(events) > 0 {
		n.Send(events)
	}
}

// close flushes what is queued, within notifyFlush.
func (a *alerts) close() {
	a.mu.Lock()
	n := a.n
	a.n = nil
	a.mu.Unlock()
	if n != nil {
		if err := a.closeNotifier(n, notifyFlush); err != nil {
			a.log.Warn("notifications lost at exit", zap.Error(err))
		}
	}
}

func (a *alerts) closeNotifier(n *notify.Notifier, within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	return n.Close(ctx)
}
