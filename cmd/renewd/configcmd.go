package main

import (
	"fmt"
	"io"

	"github.com/renewd/renewd/internal/config"
)

func cmdConfig(g globals, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("config", stderr)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return &exitError{code: exitUsage}
	}
	if len(pos) != 1 || pos[0] != "check" {
		return fail(exitUsage, "usage: renewd config check")
	}
	cfg, err := loadConfig(g)
	if err != nil {
		return err
	}
	out, err := cfg.Effective()
	if err != nil {
		return fail(exitFailed, "render config: %v", err)
	}
	fmt.Fprintf(stdout, "# %s: valid, %d certificate(s)\n", config.QuotePath(cfg.Path), len(cfg.Certificates))
	_, err = stdout.Write(out)
	return err
}
