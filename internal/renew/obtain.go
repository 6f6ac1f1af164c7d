package renew

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/crashpoint"
	"github.com/renewd/renewd/internal/deploy"
	"github.com/renewd/renewd/internal/parallel"
	"github.com/renewd/renewd/internal/preflight"
	"github.com/renewd/renewd/internal/store"
)

// orderTimeout bounds one ACME order (plus the DNS propagation timeout).
const orderTimeout = 10 * time.Minute

// obtain orders a certificate, checks and completes its chain and stores
// it as the live version. The record learns the new version in memory;
// if renewd dies before the pass saves it, the next pass finds the live
// version the record does not know and adopts it (reconcile) instead of
// ordering again.
func (r *Renewer) obtain(ctx context.Context, c *config.Certificate) (*deploy.Item, error) {
	start := time.Now()
	if err := r.preflight(c); err != nil {
		return nil, err
	}
	r.step(c.Name, "order", fmt.Sprintf("%s for %s", c.Challenge.Type, joinDomains(c.Domains)))
	// A deadline for the whole order: lego's polls and a CA that sends
	// headers and then stalls are otherwise bounded per request only.
	octx, cancel := context.WithTimeout(ctx, orderTimeout+c.Challenge.DNS01.PropagationTimeout)
	previous := r.previous(c)
	if r.dryRun {
		previous = nil // the staging CA never issued it: no `replaces`
	}
	issued, err := r.Issuer.Obtain(octx, c, previous)
	cancel()
	if err != nil {
		return nil, err
	}
	crashpoint.Hit("renew-ordered")
	fetcher := r.Fetcher
	if fetcher == nil {
		fetcher = &chain.HTTPFetcher{}
	}
	bundle, err := chain.Build(ctx, issued.Certs, issued.Key, c.Domains, chain.Options{Roots: r.Roots, Now: r.now(), Fetcher: fetcher})
	if r.dryRun {
		return nil, r.dryChain(c, bundle, err)
	}
	if err != nil {
		return nil, fmt.Errorf("refusing the CA's certificate: %w", err)
	}
	r.step(c.Name, "chain", fmt.Sprintf("complete: %s", describeChain(bundle)))
	if len(bundle.Repairs) > 0 {
		r.step(c.Name, "repair", "the CA's answer needed repairs (its chain is misconfigured): "+strings.Join(bundle.Repairs, "; "))
		r.Log.Warn("the CA's chain needed repairs", zap.String("certificate", c.Name), zap.Strings("repairs", bundle.Repairs))
	}
	files := store.Files{Cert: bundle.CertPEM(), Chain: bundle.ChainPEM(), Fullchain: bundle.FullchainPEM(), Key: issued.KeyPEM}
	version, err := r.Store.SaveVersion(c.Name, files)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	stored := r.now()
	r.step(c.Name, "stored", fmt.Sprintf("%s -> %s", r.Store.LiveDir(c.Name), version))
	crashpoint.Hit("renew-stored")

	r.mu.Lock()
	rec := r.record(c)
	store.RecordFromCert(rec, bundle.Leaf)
	rec.Version = version
	rec.Repaired = bundle.Repairs
	r.issued[c.Name] = stored
	serial := rec.Serial
	r.mu.Unlock()
	r.Log.Info("issued and stored", zap.String("certificate", c.Name), zap.Strings("domains", c.Domains), zap.String("serial", serial),
		zap.String("version", version), zap.Duration("duration", time.Since(start)))
	return r.item(c, files, bundle.Leaf, version), nil
}

// dryChain judges the chain of a dry-run order, which is not stored. A
// staging CA's root is in no trust store, so a chain complete up to an
// untrusted root passes, saying so.
func (r *Renewer) dryChain(c *config.Certificate, bundle *chain.Bundle, err error) error {
	var inc *chain.IncompleteError
	switch {
	case err == nil:
		r.step(c.Name, "chain", fmt.Sprintf("complete: %s", describeChain(bundle)))
		return nil
	case errors.As(err, &inc) && inc.UntrustedRoot():
		r.step(c.Name, "chain", fmt.Sprintf("complete up to %q, a root this machine does not trust (normal for a staging CA; add it to trust.extra_roots to check the whole path)", inc.Issuer))
		return nil
	}
	return fmt.Errorf("the CA's certificate would be refused: %w", err)
}

// stored returns the live version of c for a deploy without a new order.
func (r *Renewer) stored(c *config.Certificate) (*deploy.Item, error) {
	files, version, err := r.Store.Live(c.Name)
	if err != nil {
		return nil, fmt.Errorf("load the stored certificate to deploy: %w", err)
	}
	// Re-check what is about to be deployed: the disk may have changed.
	leaf, err := r.checkFiles(c, files)
	if err != nil {
		return nil, fmt.Errorf("stored version %s: %w", version, err)
	}
	r.step(c.Name, "stored", fmt.Sprintf("deploying stored version %s (no new order)", version))
	return r.item(c, files, leaf, version), nil
}

func (r *Renewer) item(c *config.Certificate, files store.Files, leaf *x509.Certificate, version string) *deploy.Item {
	return &deploy.Item{Name: c.Name, Domains: c.Domains, Deploy: c.Deploy, Files: files, Leaf: leaf,
		Version: version, LiveDir: r.Store.LiveDir(c.Name)}
}

// checkFiles checks stored files as Build checked them before storing (a
// complete chain to a trusted root, the key matching the leaf, the
// configured names) and returns the leaf.
func (r *Renewer) checkFiles(c *config.Certificate, files store.Files) (*x509.Certificate, error) {
	certs, err := chain.ParsePEM(files.Fullchain)
	if err != nil {
		return nil, fmt.Errorf("fullchain: %w", err)
	}
	if _, err := chain.Verify(certs, chain.Options{Roots: r.Roots, Now: r.now()}); err != nil {
		return nil, err
	}
	if _, err := tls.X509KeyPair(files.Fullchain, files.Key); err != nil {
		return nil, err
	}
	if !config.SameDomains(certs[0].DNSNames, c.Domains) {
		return nil, fmt.Errorf("its names %v are not the configured %v", certs[0].DNSNames, c.Domains)
	}
	return certs[0], nil
}

// preflight checks what can be checked before an ACME order, so that a
// local mistake does not spend an order (and a CA rate limit): the
// webroot and the programs the deploy runs (nginx, hooks), the deploy
// directories, and that the storage can take the new version.
func (r *Renewer) preflight(c *config.Certificate) error {
	if err := preflight.BeforeOrder(r.Config, c, preflight.Options{}); err != nil {
		return err
	}
	if err := deploy.Preflight(c.Deploy); err != nil {
		return err
	}
	if r.dryRun {
		return nil
	}
	return r.Store.Probe(c.Name)
}

func describeChain(b *chain.Bundle) string {
	leaf := b.Leaf.Subject.CommonName
	if leaf == "" && len(b.Leaf.DNSNames) > 0 {
		leaf = b.Leaf.DNSNames[0] // CAs may leave the CN out (Pebble, LE shortlived)
	}
	s := fmt.Sprintf("leaf %q", leaf)
	for _, ic := range b.Intermediates {
		s += fmt.Sprintf(" <- %q", ic.Subject.CommonName)
	}
	if n := len(b.Intermediates); n > 0 {
		s += fmt.Sprintf(" <- root %q", b.Intermediates[n-1].Issuer.CommonName)
	}
	return s
}

// reconcile repairs what a kill left between storing and recording, so
// the pass does not order again for a certificate it already has (I5 in
// docs/crash-safety.md): an unfinished version is made live, and a live
// version the record does not know is adopted. An operator who pointed
// live/<name> back at an older version on purpose is adopted too: the
// record follows the link, and the pass deploys that version.
func (r *Renewer) reconcile(certs []*config.Certificate) {
	// Looking is reads only, and with thousands of certificates it is most
	// of a pass with nothing due: look at all of them in parallel, then
	// act, in order, on the few that need it.
	var live map[string]string
	if l, ok := r.Store.(liveLister); ok {
		live, _ = l.LiveVersions() // nil: ask for each
	}
	need := make([]bool, len(certs))
	parallel.ForEach(len(certs), reconcileLookers, func(i int) {
		need[i] = r.needsReconcile(certs[i], live)
	})
	for i, c := range certs {
		if need[i] {
			r.reconcileOne(c)
		}
	}
}

// liveLister is a Storage that can name every live version at once, for
// less than asking for each (the file store: one lstat of live/ while it
// is unchanged).
type liveLister interface {
	LiveVersions() (map[string]string, bool)
}

// reconcileLookers bounds the certificates reconcile looks at at once.
const reconcileLookers = 8

// needsReconcile reports whether c has an unfinished version to finish, or
// a live version its record does not name, or a live link that cannot be
// read (reconcileOne logs it). live, when not nil, holds every live
// version (a name without one is absent).
func (r *Renewer) needsReconcile(c *config.Certificate, live map[string]string) bool {
	if !r.dryRun {
		if v, err := r.Store.Unfinished(c.Name); err == nil && v != "" {
			return true
		}
	}
	var version string
	var err error
	if live != nil {
		var ok bool
		if version, ok = live[c.Name]; !ok {
			err = store.ErrNotFound
		}
	} else {
		version, err = r.Store.LiveVersion(c.Name)
	}
	if errors.Is(err, store.ErrNotFound) {
		return false
	}
	if err != nil {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.records[c.Name]
	return rec == nil || rec.Version != version
}

func (r *Renewer) reconcileOne(c *config.Certificate) {
	if !r.dryRun {
		r.finishUnfinished(c)
	}
	version, err := r.Store.LiveVersion(c.Name)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			r.Log.Warn("live version unreadable", zap.String("certificate", c.Name), zap.Error(err))
		}
		return
	}
	if rec := r.peek(c.Name); rec != nil && rec.Version == version {
		return
	}
	files, version, err := r.Store.Live(c.Name)
	if err != nil {
		r.Log.Warn("live version unreadable", zap.String("certificate", c.Name), zap.Error(err))
		return
	}
	leaf, err := chain.ParsePEM(files.Cert)
	if err != nil {
		return
	}
	r.mu.Lock()
	rec := r.record(c)
	store.RecordFromCert(rec, leaf[0])
	rec.Version = version
	r.mu.Unlock()
	r.step(c.Name, "found", fmt.Sprintf("live version %s was not recorded; adopting it", version))
}

// finishUnfinished makes live a version renewd stored completely and died
// before making live. Ordering again would spend an order (and a rate
// limit) on a certificate already issued. Only a version newer than the
// live one, whose files check out and whose names are the configured
// ones, is taken; any other is dropped from consideration (its files stay
// in archive/) and left for a new order.
func (r *Renewer) finishUnfinished(c *config.Certificate) {
	version, err := r.Store.Unfinished(c.Name)
	if err != nil || version == "" {
		return
	}
	live, _ := r.Store.LiveVersion(c.Name)
	if version <= live { // versions sort in the order they were made
		_ = r.Store.DropUnfinished(c.Name, version)
		return
	}
	files, err := r.Store.Version(c.Name, version)
	if err == nil {
		_, err = r.checkFiles(c, files)
	}
	if err == nil {
		err = r.Store.MakeLive(c.Name, version)
	}
	if err != nil {
		r.Log.Warn("unfinished stored version not used", zap.String("certificate", c.Name), zap.String("version", version), zap.Error(err))
		_ = r.Store.DropUnfinished(c.Name, version)
		return
	}
	r.step(c.Name, "found", fmt.Sprintf("stored version %s was never made live; it is live now, no new order", version))
}
