// Package deploy puts stored certificates where nginx (and Java servers)
// read them, tests and reloads nginx, proves over TLS that nginx serves the
// new certificate with a complete chain, rolls back when it does not, and
// runs the user's hooks.
package deploy

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/store"

	"github.com/renewd/renewd/internal/crashpoint"
)

// Item is one stored certificate to deploy.
type Item struct {
	Name    string
	Domains []string
	Deploy  config.Deploy
	Files   store.Files
	Leaf    *x509.Certificate
	Version string
	LiveDir string // renewd's live/<name>, for hooks
}

// Deployer deploys batches of certificates. Certificates of one batch are
// installed together and nginx is tested and reloaded once for all of them.
type Deployer struct {
	Nginx    config.Nginx
	Roots    *x509.CertPool
	Log      *zap.Logger
	Progress func(name, step, detail string) // may be nil

	// Test seams; zero values are the real ones.
	Runner Runner
	Prober Prober
	Write  WriteFunc
	Now    func() time.Time
	After  func(time.Duration) <-chan time.Time
}

func (d *Deployer) runner() Runner {
	if d.Runner != nil {
		return d.Runner
	}
	return ExecRunner{}
}

func (d *Deployer) prober() Prober {
	if d.Prober != nil {
		return d.Prober
	}
	return TLSProber{}
}

func (d *Deployer) write() WriteFunc {
	if d.Write != nil {
		return d.Write
	}
	return store.WriteFileOwned
}

func (d *Deployer) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Deployer) after(t time.Duration) <-chan time.Time {
	if d.After != nil {
		return d.After(t)
	}
	return time.After(t)
}

func (d *Deployer) step(name, step, detail string) {
	if d.Progress != nil {
		d.Progress(name, step, detail)
	}
}

// Deploy installs every item, then, if any wants nginx, runs nginx.test and
// nginx.reload once and verifies what nginx serves for each of them. An
// item whose files could not be installed, whose nginx test or reload
// failed, or whose served chain is wrong, has its previous files restored
// (and nginx is reloaded again when it had been reloaded). Hooks run for
// the items that got through. The result maps item name to its error; nil
// means deployed, verified and hooked.
func (d *Deployer) Deploy(ctx context.Context, items []*Item) map[string]error {
	errs := make(map[string]error, len(items))
	done := map[string][]installed{}
	var nginxItems []*Item
	for _, it := range items {
		in, err := install(d.write(), it)
		if err != nil {
			errs[it.Name] = err
			continue
		}
		done[it.Name] = in
		if len(in) > 0 {
			d.step(it.Name, "install", strings.Join(paths(in), ", "))
		}
		if it.Deploy.Nginx {
			nginxItems = append(nginxItems, it)
		}
	}
	crashpoint.Hit("deploy-installed")
	if len(nginxItems) > 0 {
		d.nginx(ctx, nginxItems, done, errs)
	}
	for _, it := range items {
		if errs[it.Name] == nil {
			errs[it.Name] = d.baota(ctx, it)
		}
		if errs[it.Name] == nil {
			errs[it.Name] = d.hooks(ctx, it)
		}
	}
	return errs
}

// nginx tests, reloads and verifies; on failure it restores and, where
// nginx had already been reloaded, reloads it again onto the old files.
func (d *Deployer) nginx(ctx context.Context, items []*Item, done map[string][]installed, errs map[string]error) {
	rollback := func(its []*Item, cause error) {
		for _, it := range its {
			errs[it.Name] = undo(d.write(), done[it.Name], cause)
			d.step(it.Name, "rollback", "previous files restored")
		}
	}
	if out, err := d.runner().Run(ctx, d.Nginx.Test, nil, d.Nginx.Timeout); err != nil {
		rollback(items, fmt.Errorf("nginx test failed, nginx not reloaded: %w: %s", err, tail(out)))
		return
	}
	if out, err := d.runner().Run(ctx, d.Nginx.Reload, nil, d.Nginx.Timeout); err != nil {
		rollback(items, fmt.Errorf("nginx reload failed: %w: %s", err, tail(out)))
		return
	}
	d.step(batchName(items), "reload", fmt.Sprintf("%s for %d certificate(s)", quote(d.Nginx.Reload), len(items)))
	crashpoint.Hit("deploy-reloaded")
	var bad []*Item
	for _, it := range items {
		if err := d.waitServed(ctx, it); err != nil {
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
	if out, err := d.runner().Run(context.WithoutCancel(ctx), d.Nginx.Reload, nil, d.Nginx.Timeout); err != nil {
		d.Log.Error("reload after rollback failed", zap.Error(err), zap.String("output", tail(out)))
		for _, it := range bad {
			errs[it.Name] = fmt.Errorf("%w; the reload after restoring the previous files failed too: %v", errs[it.Name], err)
		}
	}
}

// hooks runs the item's deploy hooks in order; the first failure stops them.
func (d *Deployer) hooks(ctx context.Context, it *Item) error {
	env := hookEnv(it)
	for _, h := range it.Deploy.Hooks {
		out, err := d.runner().Run(ctx, h, env, it.Deploy.HookTimeout)
		if err != nil {
			return fmt.Errorf("deploy hook failed: %w: %s", err, tail(out))
		}
		d.step(it.Name, "hook", quote(h))
	}
	return nil
}

// hookEnv describes the certificate to a hook, certbot-style but explicit.
func hookEnv(it *Item) []string {
	fullchain, key := it.Deploy.Fullchain, it.Deploy.Key
	if fullchain == "" {
		fullchain, key = it.LiveDir+"/fullchain.pem", it.LiveDir+"/privkey.pem"
	}
	return []string{
		"RENEWD_NAME=" + it.Name,
		"RENEWD_DOMAINS=" + strings.Join(it.Domains, " "),
		"RENEWD_FULLCHAIN=" + fullchain,
		"RENEWD_KEY=" + key,
		"RENEWD_LIVE_DIR=" + it.LiveDir,
		"RENEWD_PKCS12=" + it.Deploy.PKCS12.Path,
		"RENEWD_VERSION=" + it.Version,
		fmt.Sprintf("RENEWD_SERIAL=%x", it.Leaf.SerialNumber),
		"RENEWD_NOT_AFTER=" + it.Leaf.NotAfter.UTC().Format(time.RFC3339),
	}
}

func paths(in []installed) []string {
	out := make([]string, len(in))
	for i, x := range in {
		out[i] = x.path
	}
	return out
}

func batchName(items []*Item) string {
	if len(items) == 1 {
		return items[0].Name
	}
	return "nginx"
}
