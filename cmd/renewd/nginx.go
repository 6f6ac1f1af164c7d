package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/deploy"
	"github.com/renewd/renewd/internal/nginxconf"
)

// nginxRead is nginx's configuration with where it came from.
type nginxRead struct {
	cfg     *nginxconf.Config
	source  string // the command that dumped it, or "the files on disk"
	warning string // why nginx -T was not used
}

// readNginx asks nginx for its configuration with the nginx.test command
// turned into -T. When nginx refuses (a broken certificate or key stops
// nginx -T as it stops nginx -t), the files are read from disk instead,
// starting at the -c of nginx.test or nginx's compiled-in --conf-path.
func readNginx(ctx context.Context, n config.Nginx) (*nginxRead, error) {
	argv, err := nginxconf.DumpCommand(n.Test)
	if err != nil {
		return nil, err
	}
	run := deploy.ExecRunner{}
	out, runErr := run.Run(ctx, argv, nil, n.Timeout)
	if runErr == nil {
		d, err := nginxconf.ParseDump(out)
		if err != nil {
			return nil, err
		}
		cfg, err := nginxconf.Load(d, d.Main())
		if err != nil {
			return nil, fmt.Errorf("nginx configuration: %w", err)
		}
		return &nginxRead{cfg: cfg, source: "[" + strings.Join(argv, " ") + "]"}, nil
	}
	main := nginxconf.MainFile(n.Test)
	if main == "" {
		vout, err := run.Run(ctx, []string{n.Test[0], "-V"}, nil, n.Timeout)
		if err == nil {
			main, err = nginxconf.ConfPath(vout)
		}
		if err != nil {
			return nil, fmt.Errorf("%v: %s; and %s -V does not say where the configuration is: %v", runErr, tailLines(out), n.Test[0], err)
		}
	}
	cfg, err := nginxconf.Load(nginxconf.Disk{}, main)
	if err != nil {
		return nil, fmt.Errorf("%v: %s; and reading %s from disk failed too: %w", runErr, tailLines(out), main, err)
	}
	return &nginxRead{cfg: cfg, source: "the files on disk",
		warning: fmt.Sprintf("%v: %s (the files were read from disk instead; nginx will refuse to reload until this is fixed)", runErr, tailLines(out))}, nil
}

// tailLines is the last lines of a command's output, on one line.
func tailLines(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return strings.Join(lines, "; ")
}

// deployedFiles maps every fullchain file renewd writes to its
// certificate: deploy.fullchain, and the live/<name>/fullchain.pem of
// storage (which nginx should not read directly).
func deployedFiles(cfg *config.Config) map[string]string {
	out := map[string]string{}
	for _, c := range cfg.Certificates {
		if c.Deploy.Fullchain != "" {
			out[c.Deploy.Fullchain] = c.Name
		}
		out[filepath.Join(cfg.Storage, "live", c.Name, "fullchain.pem")] = c.Name + " (renewd's storage: point nginx at deploy.fullchain instead)"
	}
	return out
}
