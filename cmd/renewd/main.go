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
	"syscall"

	"github.com/renewd/renewd/internal/acme"
	"github.com/renewd/renewd/internal/config"
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

const usage = `usage: renewd [--config PATH] [--log-level LEVEL] COMMAND [ARGS]

commands:
  run                                         the daemon: renew on the schedule, reload on SIGHUP
  renew [--now] [--dry-run] [--wait DURATION] [--skip-canary] [NAME...]
                                              renew what is due (with --now: the named or all certificates)
  status [--json]                             one row per certificate
  check [--json] [--strict] [--warn-days N] [--timeout D] [--connect ADDR] [--ca-file FILE] [--key FILE]
        [NAME | HOST[:PORT] | FILE.pem...]    judge stored, served and given chains as strict clients do
  config check                                validate and print the effective configuration
  cluster status [--json]                     nodes, leader, and the version each node serves
  audit nginx [--json] [--timeout D]          judge every certificate nginx is configured with, and say what to fix
  import certbot|acme.sh|baota [DIR] [--apply] [--json]
                                              take over another tool's certificates without ordering (a dry run without --apply)
  version                                     print the version

The configuration is --config, else $RENEWD_CONFIG, else ` + config.DefaultPath + `.
`

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
	fs := newFlagSet("renewd", stderr)
	fs.StringVar(&g.configPath, "config", "", "path to renewd.yaml")
	fs.StringVar(&g.logLevel, "log-level", "", "debug, info, warn or error (default: info for run, warn otherwise)")
	fs.Usage = func() {} // printed below: to stdout for --help, stderr for mistakes
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return exitOK
		}
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	if g.configPath == "" {
		g.configPath = os.Getenv("RENEWD_CONFIG")
	}
	if g.configPath == "" {
		g.configPath = config.DefaultPath
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}

	var err error
	switch cmd, cmdArgs := rest[0], rest[1:]; cmd {
	case "run":
		err = cmdRun(ctx, g, cmdArgs, stderr)
	case "renew":
		err = cmdRenew(ctx, g, cmdArgs, stdout, stderr)
	case "status":
		err = cmdStatus(g, cmdArgs, stdout, stderr)
	case "check":
		err = cmdCheck(ctx, g, cmdArgs, stdout, stderr)
	case "config":
		err = cmdConfig(g, cmdArgs, stdout, stderr)
	case "cluster":
		err = cmdCluster(ctx, g, cmdArgs, stdout, stderr)
	case "audit":
		err = cmdAudit(ctx, g, cmdArgs, stdout, stderr)
	case "import":
		err = cmdImport(ctx, g, cmdArgs, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, versionString())
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "renewd: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
	if err == nil {
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
