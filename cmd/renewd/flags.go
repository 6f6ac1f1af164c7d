package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"
	"text/tabwriter"
)

// commandHelp is what `renewd COMMAND --help` says of a command besides
// its flags: the usage line and a few sentences.
type commandHelp struct {
	name    string // as typed: "config check"
	args    string // what follows the name on the usage line
	summary string // one line, for `renewd --help`
	about   string // more, for `renewd COMMAND --help`; may be empty
}

// commands are renewd's commands, in the order `renewd --help` lists them.
// Every command's --help and the main usage are made from this one list,
// so they cannot disagree.
var commands = []commandHelp{
	{name: "run", summary: "the daemon: renew on the schedule, reload on SIGHUP, stop on SIGTERM"},
	{name: "renew", args: "[--now] [--dry-run] [--wait DURATION] [--skip-canary] [NAME...]",
		summary: "renew what is due, once (with --now: the named or all certificates, due or not)",
		about: "Without names every certificate is considered; canaries go first and hold the others if they fail.\n" +
			"Progress goes to stdout, one line per step; a failure's cause goes to stderr, on one line."},
	{name: "status", args: "[--json] [NAME...]",
		summary: "one row per certificate; with one NAME, everything renewd knows of it",
		about:   "Reads the records only: it changes nothing on disk and answers while a renewal runs."},
	{name: "check", args: "[--json] [--strict] [--warn-days N] [--timeout DURATION] [--connect HOST[:PORT]] [--ca-file FILE] [--key FILE] [NAME | HOST[:PORT] | FILE.pem...]",
		summary: "judge stored, served and given chains as strict clients do",
		about: "Every certificate a server can send is judged, in each TLS version it accepts.\n" +
			"A FILE.pem is judged as a stored fullchain; --key FILE checks its key too."},
	{name: "config check", summary: "find every problem a renewal would hit, then print the effective configuration",
		about: "Exits 2 when it finds a problem: in the files (with file, line and field) or on this machine\n" +
			"(a missing webroot or deploy directory, nginx that cannot be run, a contact the CA refuses)."},
	{name: "cluster status", args: "[--json]",
		summary: "on a cluster node: the leader, every node, and the version each node serves",
		about:   "Reads etcd only; changes nothing. See docs/cluster.md."},
	{name: "audit", args: "nginx [--json] [--timeout DURATION]",
		summary: "judge every certificate nginx is configured with, and say what to change",
		about: "Reads nginx's configuration (nginx -T, or the files when nginx refuses), judges each ssl_certificate\n" +
			"as check judges a file and as served for each server_name, and names the directive's file and line."},
	{name: "import", args: "certbot|acme.sh|baota [DIR] [--apply] [--json]",
		summary: "take over another tool's certificates without ordering (a dry run without --apply)",
		about: "Shows the domains.d files it would write and the certificates it would adopt; --apply does it.\n" +
			"It prints how to stop the other tool's renewal."},
	{name: "add", args: "NAME -d DOMAIN [-d DOMAIN...] (--webroot DIR | --listen ADDR | --dns PROVIDER) [--deploy-nginx DIR] [--canary] [--now]",
		summary: "write domains.d/NAME.yaml for a new certificate (with --now: and issue it)",
		about: "The file is checked as config check would before it is written, and printed.\n" +
			"--deploy-nginx DIR installs DIR/fullchain.pem and DIR/privkey.pem and reloads nginx."},
	{name: "revoke", args: "NAME [--reason REASON] [--wait DURATION]",
		summary: "revoke NAME's live certificate at the CA and record it",
		about: "REASON is one of " + strings.Join(reasonNames(), ", ") + " (default unspecified).\n" +
			"The files stay where they are: renew --now NAME issues a new certificate."},
	{name: "remove", args: "NAME [--purge] [--wait DURATION]",
		summary: "stop managing NAME: its file and record go, its certificates stay (with --purge: they go too)",
		about:   "Deployed files (deploy.fullchain, deploy.key) are never removed: nginx may still use them."},
	{name: "providers", args: "[NAME]",
		summary: "list lego's DNS providers; with NAME, its variables and its documentation"},
	{name: "version", summary: "print the version"},
}

// helpOf returns the help of the command called name.
func helpOf(name string) commandHelp {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return commandHelp{name: name}
}

// usageLine is the command's usage line.
func (c commandHelp) usageLine() string {
	return strings.TrimSpace("usage: renewd [--config PATH] [--log-level LEVEL] " + c.name + " " + c.args)
}

// mainUsage is `renewd --help`.
func mainUsage() string {
	var b strings.Builder
	b.WriteString("usage: renewd [--config PATH] [--log-level LEVEL] COMMAND [ARGS]\n\ncommands:\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	_ = tw.Flush()
	b.WriteString("\nglobal flags, before the command:\n")
	b.WriteString("  --config PATH      renewd.yaml; else $RENEWD_CONFIG, else /etc/renewd/renewd.yaml\n")
	b.WriteString("  --log-level LEVEL  debug, info, warn or error (default: info for run, warn otherwise)\n")
	b.WriteString("\n`renewd COMMAND --help` describes a command and its flags.\n")
	return b.String()
}

// newFlagSet returns the flag set of the command called name (as in
// commands). Mistakes print the usage line on out (stderr).
func newFlagSet(name string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(gnuFlags{out})
	// The flag package calls Usage for --help too, which goes to stdout:
	// flagError and printUsage print the usage line for mistakes.
	fs.Usage = func() {}
	return fs
}

// gnuFlags writes the flag package's mistakes the way renewd spells its
// flags: "flag provided but not defined: --sooner", not "-sooner".
type gnuFlags struct{ w io.Writer }

var flagNameInError = regexp.MustCompile(`(defined: |for flag |for |argument: )-([A-Za-z][A-Za-z0-9_-]+)`)

func (g gnuFlags) Write(p []byte) (int, error) {
	if _, err := g.w.Write(flagNameInError.ReplaceAll(p, []byte("$1--$2"))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// printUsage prints the usage line of fs's command for a mistake, on the
// flag set's output (stderr).
func printUsage(fs *flag.FlagSet) {
	fmt.Fprintf(fs.Output(), "%s\n(renewd %s --help says more)\n", helpOf(fs.Name()).usageLine(), fs.Name())
}

// helpRequest is a command's answer to --help: main prints the help of
// the flag set on stdout and exits 0.
type helpRequest struct{ fs *flag.FlagSet }

func (h *helpRequest) Error() string { return "help requested" }

// flagError turns a parse error of fs into what the command returns:
// --help becomes a helpRequest, anything else exit 2 (the flag package
// has printed the mistake; this prints the usage line). A nil err is a
// mistake in the arguments whose usage line the caller printed.
func flagError(fs *flag.FlagSet, err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return &helpRequest{fs: fs}
	}
	if err != nil {
		printUsage(fs)
	}
	return &exitError{code: exitUsage}
}

// writeHelp prints the help of the command whose flag set is fs: the
// usage line, what it does and its flags, GNU style (--flag VALUE).
func writeHelp(w io.Writer, fs *flag.FlagSet) {
	c := helpOf(fs.Name())
	fmt.Fprintf(w, "%s\n\n%s.\n", c.usageLine(), capitalize(c.summary))
	if c.about != "" {
		fmt.Fprintf(w, "%s\n", c.about)
	}
	var flags []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) { flags = append(flags, f) })
	if len(flags) > 0 {
		fmt.Fprintln(w, "\nflags:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, f := range flags {
			arg, usage := flag.UnquoteUsage(f)
			name := "--" + f.Name
			if len(f.Name) == 1 {
				name = "-" + f.Name
			}
			if arg != "" {
				name += " " + strings.ToUpper(arg)
			}
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "[]" {
				usage += fmt.Sprintf(" (default %s)", f.DefValue)
			}
			fmt.Fprintf(tw, "  %s\t%s\n", name, usage)
		}
		_ = tw.Flush()
	}
	fmt.Fprintln(w, "\nglobal flags (--config, --log-level) go before the command: see renewd --help.")
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// parseInterspersed parses flags that may appear before, between or after
// positional arguments (`renewd renew shop --now`), which the flag package
// alone stops at. "--" ends flag parsing.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
