package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/renewd/renewd/internal/audit"
	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/internal/check"
	"github.com/renewd/renewd/internal/config"
)

const auditUsage = "usage: renewd audit nginx [--json] [--timeout DURATION]"

// cmdAudit is `renewd audit nginx`: every certificate nginx is configured
// with, judged as files and as served, with what to change.
func cmdAudit(ctx context.Context, g globals, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit", stderr)
	asJSON := fs.Bool("json", false, "print JSON for machines")
	timeout := fs.Duration("timeout", check.DefaultTimeout, "bound on each connection to nginx")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return flagError(fs, err)
	}
	if len(pos) != 1 || pos[0] != "nginx" {
		return fail(exitUsage, "%s", auditUsage)
	}
	if *timeout <= 0 {
		return fail(exitUsage, "--timeout %s: use a positive duration such as 10s\n%s", *timeout, auditUsage)
	}
	cfg, err := auditConfig(g, stderr)
	if err != nil {
		return err
	}
	roots, err := chain.LoadRoots(cfg.Trust.ExtraRoots)
	if err != nil {
		return fail(exitUsage, "trust.extra_roots: %v", err)
	}
	nr, err := readNginx(ctx, cfg.Nginx)
	if err != nil {
		return fail(exitFailed, "read nginx's configuration: %v", err)
	}
	blocks := audit.Run(ctx, nr.cfg.Servers(), audit.Options{
		Check:   check.Options{Roots: roots, Now: time.Now(), WarnDays: check.DefaultWarnDays},
		Address: cfg.Nginx.Verify.Address,
		Timeout: *timeout,
		Managed: audit.ManagedPaths(deployedFiles(cfg)),
	})
	sum := audit.Summary{Main: nr.cfg.Main, Files: len(nr.cfg.Files), Source: nr.source, Warning: nr.warning}
	if *asJSON {
		err = audit.WriteJSON(stdout, sum, blocks)
	} else {
		err = audit.WriteText(stdout, sum, blocks)
	}
	if err != nil {
		return err
	}
	if audit.Failed(blocks) || nr.warning != "" {
		return &exitError{code: exitFailed}
	}
	return nil
}

// auditConfig loads the configuration. Before renewd is set up there is
// none: when the default file does not exist, the audit runs with the
// defaults (nginx -t, 127.0.0.1:443, the system's roots). A configuration
// that exists, or that --config or RENEWD_CONFIG names, must load.
func auditConfig(g globals, stderr io.Writer) (*config.Config, error) {
	cfg, err := loadConfig(g)
	if err == nil {
		return cfg, nil
	}
	if _, statErr := os.Stat(g.configPath); g.configPath != config.DefaultPath || !errors.Is(statErr, fs.ErrNotExist) {
		return nil, err
	}
	fmt.Fprintf(stderr, "renewd: %s does not exist; auditing with the defaults (nginx -t, 127.0.0.1:443, the system's roots)\n", g.configPath)
	return config.Default(), nil
}
