// Package deploy puts stored certificates where nginx (and Java servers)
// read them, tests and reloads nginx, proves over TLS that nginx serves the
// new certificate with a complete chain, rolls back when it does not, and
// runs the user's hooks.
package deploy

import (
	"context"
	"crypto/x509"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/crashpoint"
	"github.com/renewd/renewd/internal/secret"
	"github.com/renewd/renewd/internal/store"
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
//
// Every text it hands out (the errors of the result, progress details,
// command output) has the secrets renewd knows of masked (package secret):
// a hook that prints $CDN_TOKEN when it fails does not put the token in
// last_error, status or a notification.
type Deployer struct {
	Nginx    config.Nginx
	Roots    *x509.CertPool
	Log      *zap.Logger
	Progress func(name, step, detail string) // may be nil

	// Test seams; zero values are the real ones.
	Runner  Runner
	Prober  Prober
	Write   WriteFunc
	Symlink SymlinkFunc
	Now     func() time.Time
	After   func(time.Duration) <-chan time.Time
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

func (d *Deployer) symlink() SymlinkFunc {
	if d.Symlink != nil {
		return d.Symlink
	}
	return os.Symlink
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
		d.Progress(name, step, secret.Mask(detail))
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
	done := map[string][]change{}
	var nginxItems []*Item
	for _, it := range items {
		in, err := d.install(it)
		if err != nil {
			errs[it.Name] = err
			continue
		}
		done[it.Name] = in
		if len(in) > 0 {
			d.step(it.Name, "install", joinPaths(changedPaths(in)))
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
	for name, err := range errs {
		errs[name] = secret.Error(err)
	}
	return errs
}

func changedPaths(in []change) []string {
	var out []string
	for _, c := range in {
		out = append(out, c.paths()...)
	}
	return out
}

// joinPaths lists paths for a message, each quoted if it must be.
func joinPaths(ps []string) string {
	q := make([]string, len(ps))
	for i, p := range ps {
		q[i] = quoteName(p)
	}
	return strings.Join(q, ", ")
}

func batchName(items []*Item) string {
	if len(items) == 1 {
		return items[0].Name
	}
	return "nginx"
}
