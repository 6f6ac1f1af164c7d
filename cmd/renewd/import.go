package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/renewd/renewd/internal/acme"
	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/importer"
	"github.com/renewd/renewd/internal/nginxconf"
	"github.com/renewd/renewd/internal/store"
)

const importUsage = "usage: renewd import certbot|acme.sh|baota [DIR] [--apply] [--json]"

// importLockWait bounds the wait for a renewal another renewd runs.
const importLockWait = 5 * time.Minute

// cmdImport is `renewd import`: take over another tool's certificates
// without ordering. Without --apply it is a dry run and writes nothing.
func cmdImport(ctx context.Context, g globals, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("import", stderr)
	apply := fs.Bool("apply", false, "write the domains.d files and adopt the certificates (default: show what would be done)")
	asJSON := fs.Bool("json", false, "print JSON for machines")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return flagError(fs, err)
	}
	if len(pos) < 1 || len(pos) > 2 {
		return fail(exitUsage, "%s", importUsage)
	}
	source := pos[0]
	dir, err := importDir(source, pos[1:])
	if err != nil {
		return err
	}
	cfg, err := loadConfig(g)
	if err != nil {
		return err
	}
	cands, err := readCandidates(source, dir)
	if err != nil {
		return fail(exitFailed, "import %s: %v", source, err)
	}
	plan, err := importPlan(ctx, cfg, source, dir, cands)
	if err != nil {
		return err
	}
	var applyErr error
	if *apply {
		lctx, cancel := context.WithTimeout(ctx, importLockWait)
		defer cancel()
		applyErr = importer.Apply(lctx, plan, &importer.StoreAdopter{Dir: cfg.Storage}, func() error {
			_, err := config.Load(g.configPath, config.Options{CheckDNSProvider: acme.CheckDNSProvider})
			return err
		})
	}
	if *asJSON {
		err = importer.WriteJSON(stdout, plan, *apply && applyErr == nil)
	} else {
		err = importer.WriteText(stdout, plan, *apply && applyErr == nil)
	}
	if err != nil {
		return err
	}
	if errors.Is(applyErr, store.ErrLocked) {
		return fail(exitLocked, "another renewal is still running after %s; nothing was imported; try again later", importLockWait)
	}
	if applyErr != nil {
		return fail(exitFailed, "%v", applyErr)
	}
	if _, _, refused := plan.Counts(); refused > 0 {
		return &exitError{code: exitFailed}
	}
	return nil
}

// importDir is the other tool's directory: the argument, or the tool's
// default.
func importDir(source string, arg []string) (string, error) {
	if len(arg) == 1 {
		return filepath.Abs(arg[0])
	}
	switch source {
	case "certbot":
		return importer.DefaultCertbotDir, nil
	case "acme.sh":
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fail(exitUsage, "no home directory to find ~/.acme.sh in: give acme.sh's directory\n%s", importUsage)
		}
		return filepath.Join(home, ".acme.sh"), nil
	case "baota":
		return config.DefaultPanelDir, nil
	}
	return "", fail(exitUsage, "%q is not a tool renewd imports from\n%s", source, importUsage)
}

func readCandidates(source, dir string) ([]*importer.Candidate, error) {
	switch source {
	case "certbot":
		return importer.ReadCertbot(dir)
	case "acme.sh":
		return importer.ReadAcmeSh(dir)
	case "baota":
		return importer.ReadBaota(dir)
	}
	return nil, errors.New("unknown source")
}

// importPlan checks the candidates against the configuration, the storage
// and what nginx reads.
func importPlan(ctx context.Context, cfg *config.Config, source, dir string, cands []*importer.Candidate) (*importer.Plan, error) {
	roots, err := chain.LoadRoots(cfg.Trust.ExtraRoots)
	if err != nil {
		return nil, fail(exitUsage, "trust.extra_roots: %v", err)
	}
	n := cfg.Nginx
	if source == "baota" && slices.Equal(n.Test, []string{"nginx", "-t"}) {
		if test, reload, ok := config.PanelNginx(dir); ok {
			n.Test, n.Reload = test, reload
		}
	}
	p := &importer.Planner{Config: cfg, Roots: roots, Adopter: &importer.StoreAdopter{Dir: cfg.Storage}}
	var servers []nginxconf.Server
	if nr, err := readNginx(ctx, n); err != nil {
		p.NginxErr = err
	} else {
		servers = nr.cfg.Servers()
	}
	p.Nginx = servers
	return p.Plan(ctx, source, dir, cands), nil
}
