package cluster

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/renewd/renewd/internal/notify"
)

// fakeReach is an etcd that answers or not, as the test says.
type fakeReach struct{ err error }

func (f *fakeReach) probe(context.Context) error { return f.err }

// observation is one call of OutageWatch.Observe.
type observation struct {
	reachable bool
	since     time.Time
}

// TestOutageWatchLook: the clock and etcd's answers are the test's. The
// metric follows every look; a certificate is warned about at the first
// look that finds it in its window during an outage, once per outage, with
// the outage's start as its cause; nothing while etcd answers.
func TestOutageWatchLook(t *testing.T) {
	clock := time.Date(2026, 11, 20, 11, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	served := []Served{
		{Name: "shop", Domains: []string{"shop.example.com"}, NotBefore: clock.Add(-80 * day), NotAfter: clock.Add(10 * day)},
		{Name: "api", Domains: []string{"api.example.com"}, NotBefore: clock.Add(-70 * day), NotAfter: clock.Add(14*day + 2*time.Hour)},
		{Name: "blog", Domains: []string{"blog.example.com"}, NotBefore: clock.Add(-10 * day), NotAfter: clock.Add(80 * day)},
	}
	reach := &fakeReach{}
	within := 14 * day
	var obs []observation
	var sent [][]notify.Event
	w := &OutageWatch{
		Probe:   reach.probe,
		Served:  func() []Served { return served },
		Within:  func() time.Duration { return within },
		Warn:    func(e []notify.Event) { sent = append(sent, e) },
		Observe: func(r bool, s time.Time) { obs = append(obs, observation{r, s}) },
		Log:     zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)),
		Outage:  &Outage{Now: func() time.Time { return clock }},
	}
	ctx := context.Background()
	look := func(desc string, want ...string) []notify.Event {
		t.Helper()
		n := len(sent)
		events := w.Look(ctx)
		var got []string
		for _, e := range events {
			got = append(got, e.Certificate)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: warned %v, want %v", desc, got, want)
		}
		if len(events) > 0 && (len(sent) != n+1 || len(sent[n]) != len(events) || &sent[n][0] != &events[0]) {
			t.Errorf("%s: Warn got %v, want the events returned", desc, sent[n:])
		} else if len(events) == 0 && len(sent) != n {
			t.Errorf("%s: Warn called with nothing to say", desc)
		}
		return events
	}
	lastObs := func(desc string, reachable bool, since time.Time) {
		t.Helper()
		if len(obs) == 0 {
			t.Fatalf("%s: nothing observed", desc)
		}
		if got := obs[len(obs)-1]; got.reachable != reachable || !got.since.Equal(since) {
			t.Errorf("%s: observed %+v, want reachable %v since %s", desc, got, reachable, since)
		}
	}

	look("etcd answers")
	lastObs("etcd answers", true, time.Time{})

	reach.err = errors.New("context deadline exceeded")
	start := clock
	events := look("etcd stops answering", "shop")
	lastObs("etcd stops answering", false, start)
	for _, e := range events {
		if e.Kind != notify.Expiring || !strings.Contains(e.Cause, "etcd unreachable since 2026-11-20T11:00:00Z") ||
			!slices.Equal(e.Domains, []string{"shop.example.com"}) || e.NotAfter == nil || !e.NotAfter.Equal(served[0].NotAfter) {
			t.Errorf("event %+v", e)
		}
	}

	clock = clock.Add(time.Hour)
	look("an hour into the outage")
	lastObs("an hour into the outage", false, start)
	clock = clock.Add(time.Hour + time.Minute) // api is 14 days from expiry
	look("api enters its window", "api")
	look("and again")

	reach.err = nil
	clock = clock.Add(time.Hour)
	look("etcd answers again")
	lastObs("etcd answers again", true, time.Time{})
	if !w.Outage.Since().IsZero() {
		t.Error("the outage did not end")
	}

	reach.err = errors.New("etcdserver: no leader")
	clock = clock.Add(time.Hour)
	next := look("the next outage warns again", "api", "shop")
	lastObs("the next outage", false, clock)
	if len(next) > 0 && !strings.Contains(next[0].Cause, "since 2026-11-20T15:01:00Z") {
		t.Errorf("cause %q; want the second outage's start", next[0].Cause)
	}

	within = 0 // notify.expiring_days: 0 after a reload
	reach.err = nil
	look("up")
	reach.err = errors.New("down")
	look("warnings off")
	lastObs("warnings off", false, clock)
}

// TestOutageWatchShutdown: a probe that fails because the node is stopping
// is no outage.
func TestOutageWatchShutdown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var obs []observation
	w := &OutageWatch{
		Probe:   func(ctx context.Context) error { return ctx.Err() },
		Served:  func() []Served { t.Error("Served asked during shutdown"); return nil },
		Within:  func() time.Duration { return 24 * time.Hour },
		Warn:    func([]notify.Event) { t.Error("warned during shutdown") },
		Observe: func(r bool, s time.Time) { obs = append(obs, observation{r, s}) },
		Log:     zap.NewNop(),
		Outage:  &Outage{},
	}
	w.Look(ctx)
	if len(obs) != 0 || !w.Outage.Since().IsZero() {
		t.Errorf("observed %v, outage since %s; want nothing", obs, w.Outage.Since())
	}
}

// TestOutageWatchRun: Run looks at once, then once per tick of its clock,
// survives a panicking look, and ends with its context.
func TestOutageWatchRun(t *testing.T) {
	ticks := make(chan time.Time)
	looks := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	w := &OutageWatch{
		Probe: func(context.Context) error {
			calls++
			looks <- struct{}{}
			if calls == 2 {
				panic("a bug in one look")
			}
			return nil
		},
		Served: func() []Served { return nil },
		Log:    zap.NewNop(),
		Outage: &Outage{},
		Every:  time.Hour,
		After: func(d time.Duration) <-chan time.Time {
			if d != time.Hour {
				t.Errorf("waits %s between looks, want Every", d)
			}
			return ticks
		},
	}
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	deadline := time.After(10 * time.Second)
	for i := range 3 {
		if i > 0 {
			select {
			case ticks <- time.Time{}:
			case <-deadline:
				t.Fatalf("Run did not wait for tick %d", i)
			}
		}
		select {
		case <-looks:
		case <-deadline:
			t.Fatalf("look %d did not come", i+1)
		}
	}
	cancel()
	select {
	case <-done:
	case <-deadline:
		t.Fatal("Run did not end with its context")
	}
	if calls != 3 {
		t.Errorf("%d looks, want 3", calls)
	}
}

// TestEtcdProbe: the probe answers nil from a running etcd and an error,
// within its timeout, where none runs.
func TestEtcdProbe(t *testing.T) {
	cli, cc := startEtcd(t)
	if err := EtcdProbe(cli, cc.Prefix, 5*time.Second)(context.Background()); err != nil {
		t.Errorf("probe of a running etcd: %v", err)
	}
	dead := freeURL(t)
	gone, err := clientv3.New(clientv3.Config{Endpoints: []string{dead.String()}, DialTimeout: time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer gone.Close()
	start := time.Now()
	err = EtcdProbe(gone, cc.Prefix, time.Second)(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), "etcd: ") {
		t.Errorf("probe of no etcd: %v; want an error", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("probe of no etcd took %s; its timeout is 1s", took)
	}
}
