package deploy

import (
	"context"
	"fmt"
	"sync"

	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/crashpoint"
)

// nginx tests, reloads and verifies; on failure it restores and, where
// nginx had already been reloaded, reloads it again onto the old files.
func (d *Deployer) nginx(ctx context.Context, items []*Item, done map[string][]change, errs map[string]error) {
	rollback := func(its []*Item, cause error) {
		for _, it := range its {
			errs[it.Name] = undo(done[it.Name], cause)
			d.step(it.Name, "rollback", "previous files restored where they were a matching pair")
		}
	}
	if out, err := d.run(ctx, d.Nginx.Test); err != nil {
		rollback(items, fmt.Errorf("nginx test failed, nginx not reloaded: %w: %s", err, tail(out)))
		return
	}
	if err := d.reload(ctx, items); err != nil {
		rollback(items, err)
		d.retest(ctx, items, errs)
		return
	}
	crashpoint.Hit("deploy-reloaded")
	var bad []*Item
	for i, err := range d.waitAllServed(ctx, items) {
		it := items[i]
		if err != nil {
			errs[it.Name] = fmt.Errorf("after the reload nginx does not serve the new certificate with a complete chain: %w", err)
			bad = append(bad, it)
			continue
		}
		d.step(it.Name, "verify", fmt.Sprintf("%s serves serial %x with a complete chain", d.Nginx.Verify.Address, it.Leaf.SerialNumber))
	}
	if len(bad) == 0 {
		return
	}
	for _, it := range bad {
		cause := errs[it.Name]
		rollback([]*Item{it}, cause)
	}
	if out, err := d.run(context.WithoutCancel(ctx), d.Nginx.Reload); err != nil {
		d.Log.Error("reload after rollback failed", zap.Error(err), zap.String("output", tail(out)))
		for _, it := range bad {
			errs[it.Name] = fmt.Errorf("%w; the reload after restoring the previous files failed too: %v", errs[it.Name], err)
		}
	}
}

// verifyParallel bounds the certificates of one reload whose served
// chains are checked at the same time. One by one, a batch of a hundred
// took at least 40 s after its reload (every name needs confirmations
// handshakes 200 ms apart); nginx answers many handshakes at once.
const verifyParallel = 16

// waitAllServed runs waitServed for every item of a reload, up to
// verifyParallel at once, and returns their errors in items' order (the
// progress lines stay in that order too). Each item keeps its own
// nginx.verify.timeout.
func (d *Deployer) waitAllServed(ctx context.Context, items []*Item) []error {
	errs := make([]error, len(items))
	sem := make(chan struct{}, verifyParallel)
	var wg sync.WaitGroup
	for i, it := range items {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = d.waitServed(ctx, it)
		})
	}
	wg.Wait()
	return errs
}

// run runs one nginx command with nginx.timeout.
func (d *Deployer) run(ctx context.Context, argv []string) ([]byte, error) {
	return d.runner().Run(ctx, argv, nil, d.Nginx.Timeout)
}

// reload runs nginx.reload. When that fails and nginx.start is set, nginx
// was most likely not running (a reload signals a running master): renewd
// starts it, on the files that just passed nginx.test, instead of rolling
// back.
func (d *Deployer) reload(ctx context.Context, items []*Item) error {
	out, err := d.run(ctx, d.Nginx.Reload)
	if err == nil {
		d.step(batchName(items), "reload", fmt.Sprintf("%s for %d certificate(s)", quote(d.Nginx.Reload), len(items)))
		return nil
	}
	rerr := fmt.Errorf("nginx reload failed: %w: %s", err, tail(out))
	if len(d.Nginx.Start) == 0 || ctx.Err() != nil {
		return rerr
	}
	if out, err := d.run(ctx, d.Nginx.Start); err != nil {
		return fmt.Errorf("%w; and starting it failed: %w: %s", rerr, err, tail(out))
	}
	d.step(batchName(items), "start", fmt.Sprintf("%s after the reload failed (%v)", quote(d.Nginx.Start), err))
	return nil
}

// retest runs nginx.test on what is installed after a failed reload was
// rolled back, so whoever starts nginx next knows it can: the error of
// every item says so when it cannot.
func (d *Deployer) retest(ctx context.Context, items []*Item, errs map[string]error) {
	out, err := d.run(context.WithoutCancel(ctx), d.Nginx.Test)
	if err == nil {
		d.step(batchName(items), "test", quote(d.Nginx.Test)+" passes on the installed files: nginx can be started")
		return
	}
	for _, it := range items {
		errs[it.Name] = fmt.Errorf("%w; and nginx test fails on the installed files: %v: %s", errs[it.Name], err, tail(out))
	}
}
