// Command renewd renews ACME certificates, always with their complete chain.
// This is the only package that parses flags, builds the logger, wires the
// pieces together and exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/renewd/renewd/internal/acme"
	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/store"
)

// Exit codes, as documented in the README.
const (
	exitOK     = 0
	exitFailed = 1 // a renewal or a check failed
	exitUsage  = 2 // bad usage or bad configuration
	exitLocked = 3 // another renewal holds the lock
)

// exitError carries an exit code up to main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

func fail(code int, format string, args ...any) error {
	return &exitError{code: code, err: fmt.Errorf(format, args...)}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// globals are the flags before the command.
type globals struct {
	configPath string
	logLevel   string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var g globals
	fs := flag.NewFlagSet("renewd", flag.ContinueOnError)
	fs.SetOutput(gnuFlags{stderr})
	fs.StringVar(&g.configPath, "config", "", "path to renewd.yaml")
	fs.StringVar(&g.logLevel, "log-level", "", "debug, info, warn or error (default: info for run, warn otherwise)")
	fs.Usage = func() {} // printed below: to stdout for --help, stderr for mistakes
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, mainUsage())
			return exitOK
		}
		fmt.Fprint(stderr, mainUsage())
		return exitUsage
	}
	if g.logLevel != "" {
		// Checked for every command, also those that log nothing.
		if _, err := zapcore.ParseLevel(g.logLevel); err != nil {
			fmt.Fprintf(stderr, "renewd: --log-level %q: use debug, info, warn or error\n", g.logLevel)
			return exitUsage
		}
	}
	if g.configPath == "" {
		g.configPath = os.Getenv("RENEWD_CONFIG")
	}
	if g.configPath == "" {
		g.configPath = config.DefaultPath
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fmt.Fprint(stderr, mainUsage())
		return exitUsage
	}
	return finish(dispatch(ctx, g, rest[0], rest[1:], stdout, stderr), stdout, stderr)
}

// dispatch runs one command.
func dispatch(ctx context.Context, g globals, cmd string, args []string, stdout, stderr io.Writer) error {
	switch cmd {
	case "run":
		return cmdRun(ctx, g, args, stderr)
	case "renew":
		return cmdRenew(ctx, g, args, stdout, stderr)
	case "status":
		return cmdStatus(g, args, stdout, stderr)
	case "check":
		return cmdCheck(ctx, g, args, stdout, stderr)
	case "config":
		return cmdConfig(g, args, stdout, stderr)
	case "cluster":
		return cmdCluster(ctx, g, args, stdout, stderr)
	case "audit":
		return cmdAudit(ctx, g, args, stdout, stderr)
	case "import":
		return cmdImport(ctx, g, args, stdout, stderr)
	case "add":
		return cmdAdd(ctx, g, args, stdout, stderr)
	case "revoke":
		return cmdRevoke(ctx, g, args, stdout, stderr)
	case "remove":
		return cmdRemove(g, args, stdout, stderr)
	case "providers":
		return cmdProviders(args, stdout, stderr)
	case "version":
		fs := newFlagSet("version", stderr)
		if pos, err := parseInterspersed(fs, args); err != nil || len(pos) > 0 {
			if err == nil {
				printUsage(fs)
			}
			return flagError(fs, err)
		}
		fmt.Fprintln(stdout, versionString())
		return nil
	case "help", "-h", "--help":
		if len(args) > 0 { // renewd help COMMAND is renewd COMMAND --help
			return dispatch(ctx, g, args[0], append(args[1:len(args):len(args)], "--help"), stdout, stderr)
		}
		fmt.Fprint(stdout, mainUsage())
		return nil
	}
	fmt.Fprintf(stderr, "renewd: unknown command %q\n\n%s", cmd, mainUsage())
	return &exitError{code: exitUsage}
}

// finish prints a command's error and returns the exit code.
func finish(err error, stdout, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var hr *helpRequest
	if errors.As(err, &hr) {
		writeHelp(stdout, hr.fs)
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintf(stderr, "renewd: %v\n", ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "renewd: %v\n", err)
	return exitFailed
}

// loadConfig loads the configuration; any problem is a usage error (exit 2)
// that lists every mistake with its file, line and field.
func loadConfig(g globals) (*config.Config, error) {
	cfg, err := config.Load(g.configPath, config.Options{CheckDNSProvider: acme.CheckDNSProvider})
	if err != nil {
		return nil, &exitError{code: exitUsage, err: fmt.Errorf("invalid configuration:\n%w", err)}
	}
	return cfg, nil
}

// loadConfigFor loads the configuration for a command about some
// certificates only. A problem in the file of a certificate that is not
// named does not stop it: it is said on stderr, against that certificate,
// and the certificate is left out. Without names (the command is about
// every certificate) any problem stops it, as loadConfig. blockingCanary
// makes a canary with problems stop it too: a renewal would otherwise run
// without the canary that gates it.
func loadConfigFor(g globals, names []string, blockingCanary bool, stderr io.Writer) (*config.Config, error) {
	if len(names) == 0 {
		return loadConfig(g)
	}
	cfg, invalid, err := config.LoadValid(g.configPath, config.Options{CheckDNSProvider: acme.CheckDNSProvider})
	if err != nil {
		return nil, &exitError{code: exitUsage, err: fmt.Errorf("invalid configuration:\n%w", err)}
	}
	var stop []error
	for _, ic := range invalid {
		switch {
		case slices.Contains(names, ic.Name):
			stop = append(stop, ic.Errs...)
		case ic.Canary && blockingCanary:
			stop = append(stop, fmt.Errorf("canary %s cannot be loaded, and it gates every renewal (fix it, or pass --skip-canary):\n%w", ic.Name, ic))
		default:
			first := ic.Errs[0].Error()
			if n := len(ic.Errs); n > 1 {
				first += fmt.Sprintf(" (and %d more; renewd config check lists them)", n-1)
			}
			fmt.Fprintf(stderr, "renewd: %s is left out, its file has a problem: %s\n", ic.Name, first)
		}
	}
	if len(stop) > 0 {
		return nil, &exitError{code: exitUsage, err: fmt.Errorf("invalid configuration:\n%w", errors.Join(stop...))}
	}
	return cfg, nil
}

// checkNames fails with exit 2 for a name no certificate has.
func checkNames(cfg *config.Config, names []string) error {
	for _, n := range names {
		if cfg.Certificate(n) == nil {
			return fail(exitUsage, "no certificate named %q in %s (configured: %s)", n, cfg.DomainsDir, certNames(cfg))
		}
	}
	return nil
}

// certNames lists the configured certificates for an error about a name
// that is not one of them.
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

// lockedStore opens the storage and takes the renewal lock, waiting up to
// wait for a renewal another renewd process runs (saying so on stderr),
// for a command that changes a certificate's files or record. A lock still
// held after wait is exit 3. The caller releases the lock.
func lockedStore(ctx context.Context, dir string, wait time.Duration, stderr io.Writer) (*store.Store, func() error, error) {
	st, err := store.Open(dir)
	if err != nil {
		return nil, nil, fail(exitUsage, "storage: %v", err)
	}
	release, _, err := st.LockWait(ctx, wait, func() {
		fmt.Fprintf(stderr, "renewd: waiting for the running renewal (up to %s)\n", wait)
	})
	if errors.Is(err, store.ErrLocked) {
		return nil, nil, fail(exitLocked, "another renewal is still running after %s; try again later", wait)
	}
	if err != nil {
		return nil, nil, fail(exitFailed, "%v", err)
	}
	return st, release, nil
}
