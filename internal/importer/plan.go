package importer

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-acme/lego/v4/certcrypto"

	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/nginxconf"
	"github.com/renewd/renewd/internal/readfile"
	"github.com/renewd/renewd/internal/store"
)

// maxPEMFile bounds a certificate or key file of another tool.
const maxPEMFile = 1 << 20

// Plan is what an import would do: one Item per certificate the other
// tool manages, and how to stop the other tool renewing them.
type Plan struct {
	// Source is "certbot", "acme.sh" or "baota"; Dir is the tool's
	// directory read.
	Source, Dir string
	Items       []*Item
	// Stop says, one line each, how to stop the other tool renewing the
	// certificates renewd takes over.
	Stop []string
	// Sandbox are the directories renewd will write for these
	// certificates, for the systemd unit's ReadWritePaths ("-" first:
	// may be absent).
	Sandbox []string
}

// Item is one certificate: its domains.d file and the version to adopt,
// or why it is not imported.
type Item struct {
	*Candidate
	// File is the domains.d file to write, YAML its content.
	File string
	YAML []byte
	// KeyType is what renewd renews it with: the current key's kind.
	KeyType string
	// Files and Leaf are the current certificate, complete and checked:
	// what becomes live/<name>.
	Files         store.Files
	Leaf          *x509.Certificate
	Intermediates []*x509.Certificate
	// Completed says where missing intermediates came from, when the
	// tool's file nginx reads lacked them; "" when it was complete.
	Completed string
	// Deployed says the deploy targets hold exactly these files already.
	Deployed bool
	// Version is set by Apply once the certificate is live in renewd.
	Version string
	// Skip says why nothing needs doing (renewd already has it).
	Skip string
	// Problem says why it is not imported.
	Problem error
}

// Ready reports whether the item would be written and adopted.
func (it *Item) Ready() bool { return it.Problem == nil && it.Skip == "" }

// Planner checks candidates against renewd's configuration and storage.
type Planner struct {
	// Config is renewd's configuration as it is now.
	Config *config.Config
	// Roots are the trust roots stored chains must verify to.
	Roots *x509.CertPool
	// Adopter answers whether renewd already manages a name.
	Adopter Adopter
	// Nginx are nginx's server blocks, to find the files nginx reads;
	// NginxErr says why there are none when nginx could not be read.
	Nginx    []nginxconf.Server
	NginxErr error
	// LookupEnv says whether renewd's environment has a DNS provider's
	// variables; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)

	// Test seams: the clock and the AIA fetcher (nil: the real ones).
	Now     func() time.Time
	Fetcher chain.Fetcher
}

// Plan checks every candidate and returns what an import would do. It
// writes nothing, orders nothing, and connects only to fetch a missing
// intermediate from a leaf's AIA URL.
func (p *Planner) Plan(ctx context.Context, source, dir string, cands []*Candidate) *Plan {
	plan := &Plan{Source: source, Dir: dir}
	names, domains := map[string]string{}, map[string]string{}
	for _, cand := range cands {
		it := p.item(ctx, source, cand)
		if it.Ready() {
			p.checkAgainstEachOther(it, names, domains)
		}
		plan.Items = append(plan.Items, it)
	}
	plan.Stop = stopLines(source, dir, plan.Items)
	plan.Sandbox = sandboxPaths(plan.Items)
	return plan
}

func (p *Planner) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// item checks one candidate, stopping at the first problem.
func (p *Planner) item(ctx context.Context, source string, c *Candidate) *Item {
	it := &Item{Candidate: c, File: filepath.Join(p.Config.DomainsDir, c.Name+".yaml")}
	steps := []func(context.Context, *Item) error{
		func(context.Context, *Item) error { return c.Refused },
		p.loadCertificate,
		p.checkConfigured,
		p.checkStorage,
		func(context.Context, *Item) error { p.deployTo(it); return nil },
		p.checkEnv,
		p.render(source),
	}
	for _, step := range steps {
		if err := step(ctx, it); err != nil {
			it.Problem = err
			return it
		}
		if it.Skip != "" {
			return it
		}
	}
	if c.CA != "" && strings.TrimSuffix(c.CA, "/") != strings.TrimSuffix(p.Config.ACME.Directory, "/") {
		c.note("%s renewed it from the CA %s; renewd renews from acme.directory %s (renewd.yaml)", source, c.CA, p.Config.ACME.Directory)
	}
	return it
}

// loadCertificate reads the current certificate and key and checks them
// as renewd checks anything it stores: key, names, a complete chain to a
// trusted root (completed from the tool's other files, then AIA).
func (p *Planner) loadCertificate(ctx context.Context, it *Item) error {
	certs, err := readPool(it.CertFiles)
	if err != nil {
		return err
	}
	keyPEM, err := readfile.Bounded(it.KeyFile, maxPEMFile)
	if err != nil {
		return fmt.Errorf("read the private key: %w", err)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return fmt.Errorf("%s: %w", it.KeyFile, err)
	}
	leaf := certs[0]
	if len(it.Domains) == 0 {
		for _, d := range leaf.DNSNames {
			it.Domains = append(it.Domains, strings.ToLower(d))
		}
	}
	if it.KeyType, err = keyTypeOf(leaf); err != nil {
		return fmt.Errorf("the current certificate cannot be renewed alike: %w", err)
	}
	fetcher := &countingFetcher{Fetcher: p.fetcher()}
	b, err := chain.Build(ctx, certs, key, it.Domains, chain.Options{Roots: p.Roots, Now: p.now(), Fetcher: fetcher})
	if err != nil {
		return adoptRefusal(err)
	}
	it.Leaf, it.Intermediates = b.Leaf, b.Intermediates
	it.Files = store.Files{Cert: b.CertPEM(), Chain: b.ChainPEM(), Fullchain: b.FullchainPEM(), Key: keyPEM}
	it.Completed = completedFrom(it.CertFiles[0], b, fetcher.used.Load())
	return nil
}

// adoptRefusal explains why the current certificate is not adopted.
func adoptRefusal(err error) error {
	var inc *chain.IncompleteError
	if errors.As(err, &inc) {
		return fmt.Errorf("the current certificate is not adopted: %w; neither the tool's files nor the leaf's AIA URL give the missing intermediate. renewd would order a new certificate for it: write the domains.d file yourself if that is what you want", err)
	}
	return fmt.Errorf("the current certificate is not adopted: %w", err)
}

func (p *Planner) fetcher() chain.Fetcher {
	if p.Fetcher != nil {
		return p.Fetcher
	}
	return chain.HTTPFetcher{}
}

// countingFetcher records whether Build fetched anything.
type countingFetcher struct {
	chain.Fetcher
	used atomic.Bool
}

func (f *countingFetcher) Fetch(ctx context.Context, url string) ([]*x509.Certificate, error) {
	certs, err := f.Fetcher.Fetch(ctx, url)
	if err == nil {
		f.used.Store(true)
	}
	return certs, err
}

// completedFrom says where the intermediates came from when the tool's
// main file (the one nginx is expected to read) did not hold them.
func completedFrom(mainFile string, b *chain.Bundle, fetched bool) string {
	data, err := readfile.Bounded(mainFile, maxPEMFile)
	if err == nil && bytes.Equal(bytes.TrimSpace(data), bytes.TrimSpace(b.FullchainPEM())) {
		return ""
	}
	if certs, err := chain.ParsePEM(data); err == nil && sameCerts(certs, append([]*x509.Certificate{b.Leaf}, b.Intermediates...)) {
		return ""
	}
	if fetched {
		return "the leaf's AIA URL"
	}
	return "the tool's other certificate files"
}

func sameCerts(a, b []*x509.Certificate) bool {
	return slices.EqualFunc(a, b, func(x, y *x509.Certificate) bool { return bytes.Equal(x.Raw, y.Raw) })
}

// readPool reads every certificate of files: the leaf first (the first
// certificate of the first file), then the others once each. Files that
// do not exist are skipped, except the first.
func readPool(files []string) ([]*x509.Certificate, error) {
	var pool []*x509.Certificate
	seen := map[string]bool{}
	for i, f := range files {
		data, err := readfile.Bounded(f, maxPEMFile)
		if err != nil {
			if i == 0 {
				return nil, fmt.Errorf("read the current certificate: %w", err)
			}
			continue
		}
		certs, err := chain.ParsePEM(data)
		if err != nil {
			if i == 0 {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			continue
		}
		for _, c := range certs {
			if !seen[string(c.Raw)] {
				seen[string(c.Raw)] = true
				pool = append(pool, c)
			}
		}
	}
	return pool, nil
}

func parseKey(data []byte) (crypto.Signer, error) {
	k, err := certcrypto.ParsePEMPrivateKey(data)
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported private key type %T", k)
	}
	return s, nil
}

// checkConfigured compares the item with renewd's configuration: the same
// certificate already configured is skipped; a clash is a problem.
func (p *Planner) checkConfigured(_ context.Context, it *Item) error {
	for _, c := range p.Config.Certificates {
		if c.Name == it.Name {
			if len(c.Domains) > 0 && config.SameDomains(c.Domains, it.Domains) {
				it.Skip = "already configured in " + c.File
				return nil
			}
			return fmt.Errorf("%s already configures a certificate called %s (for %s); rename one of them", c.File, c.Name, strings.Join(c.Domains, ", "))
		}
		for _, d := range it.Domains {
			if slices.Contains(c.Domains, d) {
				return fmt.Errorf("%s is already in %s (certificate %s): a domain belongs to one certificate", d, c.File, c.Name)
			}
		}
	}
	if _, err := os.Lstat(it.File); err == nil {
		return fmt.Errorf("%s exists and is not a certificate renewd loaded; move it away first", it.File)
	}
	return nil
}

// checkStorage refuses a name renewd's storage already has a live
// certificate for, with no configuration for it.
func (p *Planner) checkStorage(_ context.Context, it *Item) error {
	managed, err := p.Adopter.Managed(it.Name)
	switch {
	case err != nil:
		return fmt.Errorf("storage: %w", err)
	case managed:
		return fmt.Errorf("renewd's storage already has live/%s but no domains.d file configures it; remove live/%s and archive/%s, or import under another name", it.Name, it.Name, it.Name)
	}
	return nil
}

// checkAgainstEachOther refuses a second item with the name or a domain
// of an earlier one of the same import.
func (p *Planner) checkAgainstEachOther(it *Item, names, domains map[string]string) {
	if first, dup := names[it.Name]; dup {
		it.Problem = fmt.Errorf("the name %s is also the one for %s; import one, then rename its file before importing the other", it.Name, first)
		return
	}
	for _, d := range it.Domains {
		if first, dup := domains[d]; dup {
			it.Problem = fmt.Errorf("%s is also in %s: a domain belongs to one certificate; remove the older one from the other tool first", d, first)
			return
		}
	}
	names[it.Name] = it.Origin
	for _, d := range it.Domains {
		domains[d] = it.Origin
	}
}

// deployTo decides where renewd installs the certificate: the file nginx
// reads, else where the tool installed it, else nowhere (storage only).
func (p *Planner) deployTo(it *Item) {
	use, ok := matchNginx(p.Nginx, it.Targets)
	switch {
	case ok && it.Deploy.Baota.Site != "":
		it.Deploy.Nginx = true
	case ok:
		it.Deploy.Fullchain, it.Deploy.Key, it.Deploy.Nginx = use.Ref.Cert.Path, use.Ref.Key.Path, true
	case it.Deploy.Baota.Site != "":
		it.Deploy.Nginx = p.NginxErr != nil // nginx unread: trust the panel's layout
		if p.NginxErr == nil {
			it.note("nginx does not read %s: renewd installs it there, but nginx is not reloaded for it", it.Targets[0])
		}
	case p.NginxErr != nil:
		it.note("nginx's configuration could not be read (%v): no nginx deploy written; add deploy.fullchain, deploy.key and deploy.nginx: true by hand", p.NginxErr)
	case it.Deploy.Fullchain == "":
		it.note("nginx reads none of this certificate's files: renewd keeps it in its storage (live/%s) only", it.Name)
	}
	for _, o := range use.Others {
		it.note("nginx also reads it as %s (%s): point that ssl_certificate at %s, which renewd keeps complete", o.Cert.Path, o.Cert.Where(), use.Ref.Cert.Path)
	}
	it.Deployed = deployed(it)
}

// deployed reports whether the deploy targets hold exactly the files to
// adopt, so nothing is left to deploy.
func deployed(it *Item) bool {
	full, key := it.Deploy.Fullchain, it.Deploy.Key
	if b := it.Deploy.Baota; b.Site != "" {
		full, key = filepath.Join(b.CertDir(), "fullchain.pem"), filepath.Join(b.CertDir(), "privkey.pem")
	}
	if full == "" {
		return true // storage only: nothing to deploy
	}
	fdata, err1 := readfile.Bounded(full, maxPEMFile)
	kdata, err2 := readfile.Bounded(key, maxPEMFile)
	if err1 != nil || err2 != nil || !bytes.Equal(bytes.TrimSpace(kdata), bytes.TrimSpace(it.Files.Key)) {
		return false
	}
	have, err := chain.ParsePEM(fdata)
	want, err2 := chain.ParsePEM(it.Files.Fullchain)
	return err == nil && err2 == nil && sameCerts(have, want)
}

// checkEnv requires the DNS provider's variables in renewd's environment:
// the domains.d file names them, and `config check` must pass.
func (p *Planner) checkEnv(_ context.Context, it *Item) error {
	lookup := p.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	var missing []string
	for _, v := range it.Env {
		if _, ok := lookup(v.Name); !ok {
			missing = append(missing, fmt.Sprintf("%s (%s)", v.Name, v.From))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("set %s in renewd's environment (/etc/renewd/env under systemd) and run the import with it: the domains.d file refers to them, and renewd never copies secrets itself", strings.Join(missing, "; "))
	}
	return nil
}

func (p *Planner) render(source string) func(context.Context, *Item) error {
	return func(_ context.Context, it *Item) error {
		y, err := renderYAML(source, it.Origin, it.Domains, it.KeyType, it.Challenge, it.Deploy)
		it.YAML = y
		return err
	}
}
