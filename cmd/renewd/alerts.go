package main

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/notify"
	"github.com/renewd/renewd/internal/store"
)

// alerts turns what a renewal run changed in state.json into notifications:
// it reads the state before and after each run and hands the difference
// (notify.Changes) to a Notifier, which sends in the background. One alerts
// lives as long as the command: the daemon keeps it across SIGHUP reloads,
// so the time of its last look survives a new configuration.
type alerts struct {
	log *zap.Logger

	mu       sync.Mutex
	n        *notify.Notifier // nil: no targets configured
	within   time.Duration    // notify.expiring_days
	lastLook time.Time        // At of the last after-snapshot; zero at start
}

// newAlerts returns alerts with no targets: configure sets them.
func newAlerts(log *zap.Logger) *alerts { return &alerts{log: log} }

// configure starts a Notifier for cfg and retires the previous one, which
// keeps sending what it has queued (bounded) in the background.
func (a *alerts) configure(cfg config.Notify) {
	var n *notify.Notifier
	if len(cfg.Targets) > 0 {
		n = notify.New(cfg, a.log, notify.Options{})
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

// before reads the state a run starts from. The caller holds the storage
// lock, so no other renewd changes it until the run ends.
func (a *alerts) before(st *store.Store) notify.Snapshot {
	a.mu.Lock()
	enabled, since := a.n != nil, a.lastLook
	a.mu.Unlock()
	if !enabled {
		return notify.Snapshot{}
	}
	s, err := st.PeekState()
	if err != nil {
		a.log.Warn("read state for notifications", zap.Error(err))
		return notify.Snapshot{At: since}
	}
	return notify.Snapshot{At: since, Records: s.Certificates}
}

// after reads the state a run left and sends what changed since prev.
func (a *alerts) after(st *store.Store, prev notify.Snapshot) {
	a.mu.Lock()
	n, within := a.n, a.within
	a.mu.Unlock()
	if n == nil {
		return
	}
	s, err := st.PeekState()
	if err != nil {
		a.log.Warn("read state for notifications", zap.Error(err))
		return
	}
	next := notify.Snapshot{At: time.Now().UTC(), Records: s.Certificates}
	if events := notify.Changes(prev, next, within); len(events) > 0 {
		n.Send(events)
	}
	a.mu.Lock()
	a.lastLook = next.At
	a.mu.Unlock()
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
