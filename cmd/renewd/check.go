package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/net/idna"

	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/internal/check"
	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/store"
)

const checkUsage = "usage: renewd check [--json] [--strict] [--warn-days N] [--timeout DURATION] [--connect HOST[:PORT]] [NAME | HOST[:PORT] ...]"

// checkParallel bounds how many endpoints are probed at once.
const checkParallel = 8

// checkFlags are the options of `renewd check`.
type checkFlags struct {
	json     bool
	strict   bool
	warnDays int
	timeout  time.Duration
	connect  string // host:port to dial instead of the target's address
	args     []string
}

func cmdCheck(ctx context.Context, g globals, args []string, stdout, stderr io.Writer) error {
	f, err := parseCheckFlags(args, stderr)
	if err != nil {
		return err
	}
	cfg, err := checkConfig(g, f.args, stderr)
	if err != nil {
		return err
	}
	var extra []string
	if cfg != nil {
		extra = cfg.Trust.ExtraRoots
	}
	roots, err := chain.LoadRoots(extra)
	if err != nil {
		return fail(exitUsage, "trust.extra_roots: %v", err)
	}
	opts := check.ServerOptions{
		Options: check.Options{Roots: roots, Now: time.Now(), WarnDays: f.warnDays},
		Timeout: f.timeout,
	}
	reports, err := checkAll(ctx, cfg, f, opts)
	if err != nil {
		return err
	}
	if f.json {
		err = check.WriteJSON(stdout, reports, f.strict)
	} else {
		err = check.WriteText(stdout, reports, f.strict)
	}
	if err != nil {
		return err
	}
	if check.Verdict(reports, f.strict) == check.Fail {
		return &exitError{code: exitFailed}
	}
	return nil
}

func parseCheckFlags(args []string, stderr io.Writer) (checkFlags, error) {
	var f checkFlags
	set := newFlagSet("check", stderr)
	set.BoolVar(&f.json, "json", false, "print JSON for machines")
	set.BoolVar(&f.strict, "strict", false, "fail on warnings too")
	set.IntVar(&f.warnDays, "warn-days", check.DefaultWarnDays, "warn when the certificate expires within this many days (0: never)")
	set.DurationVar(&f.timeout, "timeout", check.DefaultTimeout, "bound on each connection: connect and TLS handshake")
	set.StringVar(&f.connect, "connect", "", "connect to HOST[:PORT] instead, sending the name as SNI")
	pos, err := parseInterspersed(set, args)
	if err != nil {
		return f, flagError(set, err)
	}
	f.args = pos
	switch {
	case f.warnDays < 0:
		return f, fail(exitUsage, "--warn-days %d: use 0 or more days\n%s", f.warnDays, checkUsage)
	case f.timeout <= 0:
		return f, fail(exitUsage, "--timeout %s: use a positive duration such as 10s\n%s", f.timeout, checkUsage)
	}
	if f.connect != "" {
		_, addr, err := parseHostPort(f.connect)
		if err != nil {
			return f, fail(exitUsage, "--connect: %v\n%s", err, checkUsage)
		}
		f.connect = addr
	}
	return f, nil
}

// checkConfig loads the configuration. Hosts can be checked without one:
// when every argument is a host (none can be a name without a config) and
// the default configuration cannot be loaded, check runs with the system
// roots only. A configuration named by --config or RENEWD_CONFIG must load.
func checkConfig(g globals, args []string, stderr io.Writer) (*config.Config, error) {
	cfg, err := loadConfig(g)
	if err == nil {
		return cfg, nil
	}
	if len(args) == 0 || g.configPath != config.DefaultPath {
		return nil, err
	}
	if _, statErr := os.Stat(g.configPath); !errors.Is(statErr, fs.ErrNotExist) {
		fmt.Fprintf(stderr, "renewd: %s does not load (`renewd config check` says why); checking the arguments as hosts with the system roots only\n", g.configPath)
	}
	return nil, nil
}

// checkAll checks every endpoint the arguments name, in argument order:
// for a certificate NAME its stored chain, then what nginx.verify.address
// serves for each of its domains; for a HOST[:PORT] what that server
// serves. No arguments means every configured certificate.
func checkAll(ctx context.Context, cfg *config.Config, f checkFlags, opts check.ServerOptions) ([]*check.Report, error) {
	args := f.args
	if len(args) == 0 {
		if len(cfg.Certificates) == 0 {
			return nil, fail(exitUsage, "no certificates in %s; name a HOST[:PORT] to check a server\n%s", cfg.DomainsDir, checkUsage)
		}
		for _, c := range cfg.Certificates {
			args = append(args, c.Name)
		}
	}
	k := &checker{ctx: ctx, cfg: cfg, connect: f.connect, opts: opts}
	var jobs []func() *check.Report
	for _, arg := range args {
		more, err := k.jobs(arg)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, more...)
	}
	return runJobs(jobs), nil
}

// checker turns arguments into checks.
type checker struct {
	ctx     context.Context
	cfg     *config.Config // nil when checking hosts without a configuration
	connect string         // --connect: dial this instead
	opts    check.ServerOptions

	st     *store.Store // opened for the first NAME
	stErr  error
	opened bool
}

// jobs returns the checks for one argument: a NAME if the configuration
// has a certificate by that name, else a HOST[:PORT].
func (k *checker) jobs(arg string) ([]func() *check.Report, error) {
	if k.cfg != nil {
		if c := k.cfg.Certificate(arg); c != nil {
			stored := k.stored(c)
			jobs := []func() *check.Report{func() *check.Report { return stored }}
			return append(jobs, k.servedJobs(c, stored)...), nil
		}
		if looksLikeName(arg) {
			return nil, fail(exitUsage, "no certificate named %q in %s (configured: %s); to check a server, give its full host name\n%s",
				arg, k.cfg.DomainsDir, certNames(k.cfg), checkUsage)
		}
	}
	host, addr, err := parseHostPort(arg)
	if err != nil {
		return nil, fail(exitUsage, "%q is neither a configured certificate nor HOST[:PORT]: %v\n%s", arg, err, checkUsage)
	}
	sni := host
	if _, err := netip.ParseAddr(host); err == nil {
		sni = "" // clients send no SNI for an IP address (RFC 6066 section 3)
	}
	return []func() *check.Report{k.served(arg, k.dialAddr(addr), sni, k.opts)}, nil
}

// stored judges live/<name>/fullchain.pem and privkey.pem.
func (k *checker) stored(c *config.Certificate) *check.Report {
	if !k.opened {
		k.st, k.stErr = store.OpenReadOnly(k.cfg.Storage)
		k.opened = true
	}
	file := filepath.Join(k.cfg.Storage, "live", c.Name, "fullchain.pem")
	if k.stErr != nil {
		return filesFailure(c.Name, file, "storage: %v", k.stErr)
	}
	files, _, err := k.st.Live(c.Name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return filesFailure(c.Name, file, "no live certificate: renewd has not issued %s yet (renewd renew --now %s)", c.Name, c.Name)
	case err != nil:
		return filesFailure(c.Name, file, "%v", err)
	}
	r := check.JudgeStored(files.Fullchain, files.Key, c.Domains, k.opts.Options)
	r.Target, r.File = c.Name, file
	return r
}

func filesFailure(name, file, format string, args ...any) *check.Report {
	return &check.Report{Target: name, File: file, Source: check.Stored, Findings: []check.Finding{
		{Check: check.Files, Severity: check.Fail, Message: fmt.Sprintf(format, args...)},
	}}
}

// servedJobs check what nginx.verify.address serves for each domain of c.
// When renewd deploys c to nginx, nginx must serve the live certificate.
func (k *checker) servedJobs(c *config.Certificate, stored *check.Report) []func() *check.Report {
	opts := k.opts
	if c.Deploy.Nginx && len(stored.Certificates) > 0 {
		opts.ExpectSerial = stored.Certificates[0].Serial
	}
	addr := k.dialAddr(k.cfg.Nginx.Verify.Address)
	var jobs []func() *check.Report
	for _, d := range c.Domains {
		jobs = append(jobs, k.served(c.Name, addr, sniFor(d), opts))
	}
	return jobs
}

// served checks one server.
func (k *checker) served(target, addr, sni string, opts check.ServerOptions) func() *check.Report {
	return func() *check.Report {
		r := check.Server(k.ctx, addr, sni, opts)
		r.Target = target
		return r
	}
}

func (k *checker) dialAddr(addr string) string {
	if k.connect != "" {
		return k.connect
	}
	return addr
}

// sniFor is the name to ask for a configured domain: a wildcard *.x.y is
// asked for as renewd-check.x.y, a name it covers.
func sniFor(domain string) string {
	if rest, ok := strings.CutPrefix(domain, "*."); ok {
		return "renewd-check." + rest
	}
	return domain
}

// runJobs runs jobs, at most checkParallel at once, and returns their
// reports in job order.
func runJobs(jobs []func() *check.Report) []*check.Report {
	out := make([]*check.Report, len(jobs))
	sem := make(chan struct{}, checkParallel)
	var wg sync.WaitGroup
	for i, job := range jobs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i] = job()
		})
	}
	wg.Wait()
	return out
}

// parseHostPort reads HOST, HOST:PORT, [IPv6]:PORT, a bare IPv6 address or
// an https:// URL, and returns the host (IDNs as A-labels) and the address
// to dial (port 443 by default).
func parseHostPort(arg string) (host, addr string, err error) {
	s := arg
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return "", "", errors.New("only https:// URLs can be checked")
		}
		s = u.Host
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		host, port = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"), "443"
		if _, ipErr := netip.ParseAddr(host); strings.Contains(host, ":") && ipErr != nil {
			return "", "", fmt.Errorf("%q is neither HOST:PORT nor an IPv6 address", s)
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("port %q is not a number from 1 to 65535", port)
	}
	host, err = asciiHost(host)
	if err != nil {
		return "", "", err
	}
	return host, net.JoinHostPort(host, port), nil
}

// asciiHost lower-cases host and turns an IDN into its A-label form, the
// form certificates and SNI use.
func asciiHost(host string) (string, error) {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	switch {
	case host == "":
		return "", errors.New("empty host")
	case strings.ContainsAny(host, "/\\@ \t"):
		return "", fmt.Errorf("%q is not a host name", host)
	case !isASCII(host):
		a, err := idna.Lookup.ToASCII(host)
		if err != nil {
			return "", fmt.Errorf("%q is not a valid international domain name: %v", host, err)
		}
		return a, nil
	}
	return host, nil
}

func isASCII(s string) bool {
	return utf8.RuneCountInString(s) == len(s)
}

// looksLikeName reports whether arg is more likely a mistyped certificate
// name than a host: one label, no port, not localhost.
func looksLikeName(arg string) bool {
	return !strings.ContainsAny(arg, ".:[") && arg != "localhost"
}

func certNames(cfg *config.Config) string {
	var names []string
	for _, c := range cfg.Certificates {
		names = append(names, c.Name)
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
