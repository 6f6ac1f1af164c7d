package main

import (
	"fmt"
	"io"

	"github.com/renewd/renewd/internal/acme"
	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/preflight"
)

// cmdConfig is `renewd config check`: every problem a renewal would hit
// before an order, in the files and on this machine, then the effective
// configuration. It changes nothing on disk.
func cmdConfig(g globals, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("config check", stderr)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return flagError(fs, err)
	}
	if len(pos) != 1 || pos[0] != "check" {
		printUsage(fs)
		return &exitError{code: exitUsage}
	}
	cfg, invalid, err := config.LoadValid(g.configPath, config.Options{CheckDNSProvider: acme.CheckDNSProvider})
	var problems []error
	if err != nil {
		// renewd.yaml itself: nothing to check the machine against.
		problems = unjoin(err)
	} else {
		for _, ic := range invalid {
			problems = append(problems, ic.Errs...)
		}
		problems = append(problems, preflight.Check(cfg, preflight.Options{})...)
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "renewd: %d problem(s) to fix before renewing:\n", len(problems))
		for _, p := range problems {
			fmt.Fprintf(stderr, "%v\n", p)
		}
		return &exitError{code: exitUsage}
	}
	out, err := cfg.Effective()
	if err != nil {
		return fail(exitFailed, "render config: %v", err)
	}
	fmt.Fprintf(stdout, "# %s: valid, %d certificate(s)\n", config.QuotePath(cfg.Path), len(cfg.Certificates))
	_, err = stdout.Write(out)
	return err
}

// unjoin lists the errors of an errors.Join.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
