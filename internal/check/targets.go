package check

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Inventory is what `renewd check` knows of renewd's configuration: the
// certificates by name, and where nginx serves them.
type Inventory struct {
	Certificates []Configured
	// VerifyAddress is nginx.verify.address: where the served chain of a
	// certificate deployed to nginx is checked.
	VerifyAddress string
	// Source says where the certificates are configured (domains_dir), for
	// messages.
	Source string
}

// Configured is one configured certificate.
type Configured struct {
	Name    string
	Domains []string
	// DeployNginx: renewd deploys it to nginx, so nginx must serve it at
	// VerifyAddress, and serve this very certificate.
	DeployNginx bool
}

func (inv *Inventory) certificate(name string) *Configured {
	if inv == nil {
		return nil
	}
	for i := range inv.Certificates {
		if inv.Certificates[i].Name == name {
			return &inv.Certificates[i]
		}
	}
	return nil
}

func (inv *Inventory) names() string {
	var names []string
	if inv != nil {
		for _, c := range inv.Certificates {
			names = append(names, c.Name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// Request is what `renewd check` was asked.
type Request struct {
	// Args are NAMEs, HOST[:PORT]s, https:// URLs and FILEs; none means
	// every configured certificate.
	Args []string
	// Connect, when set, is the HOST[:PORT] every served check dials (the
	// names still go as SNI). It also makes a NAME's served chain checked
	// when renewd does not deploy it to nginx.
	Connect string
	// KeyFile is the private key of the one FILE argument.
	KeyFile string
}

// TargetKind says what a Target judges.
type TargetKind string

// The kinds of target.
const (
	StoredTarget TargetKind = "stored" // a configured certificate's live files
	ServedTarget TargetKind = "served" // what a TLS server sends
	FileTarget   TargetKind = "file"   // a PEM file named on the command line
)

// Target is one endpoint to judge.
type Target struct {
	Kind TargetKind
	// Name is what the report calls it: the certificate's name, or the
	// argument as given.
	Name    string
	Domains []string // stored: the configured names
	Address string   // served: host:port to dial
	SNI     string   // served: the name sent; empty for an IP address
	File    string   // file: the chain
	KeyFile string   // file: its key, if given
	// SerialOf names the certificate whose stored leaf the server must
	// send (renewd deploys it to nginx); empty when any leaf will do.
	SerialOf string
}

// UsageError is a request check cannot carry out: an unknown name, an
// argument that is no host, --key without its FILE. It is the person's to
// fix (renewd exits 2), and says how.
type UsageError struct{ Msg string }

// Error returns the message for the person.
func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, args ...any) error { return &UsageError{Msg: fmt.Sprintf(format, args...)} }

// Plan turns the arguments into targets, in argument order. A NAME (a
// certificate in inv) is its stored chain and, where renewd deploys it to
// nginx or --connect is given, what the server sends for each of its
// domains; a FILE (a path, or a name ending in .pem, .crt or .cer) is that
// chain file; anything else is a HOST[:PORT] or https:// URL. With a
// configuration, one word that is no certificate's name is a mistyped name,
// not a host. Plan only looks at whether files exist; it reads nothing.
func Plan(req Request, inv *Inventory) ([]Target, error) {
	args := req.Args
	if len(args) == 0 {
		if inv == nil || len(inv.Certificates) == 0 {
			return nil, usagef("no certificates configured; name a HOST[:PORT] or a FILE.pem to check")
		}
		for _, c := range inv.Certificates {
			args = append(args, c.Name)
		}
	}
	connect := ""
	if req.Connect != "" {
		_, addr, err := ParseHostPort(req.Connect)
		if err != nil {
			return nil, usagef("--connect: %v", err)
		}
		connect = addr
	}
	var out []Target
	files := 0
	for _, arg := range args {
		more, err := planArg(arg, inv, connect, req.KeyFile)
		if err != nil {
			return nil, err
		}
		if len(more) > 0 && more[0].Kind == FileTarget {
			files++
		}
		out = append(out, more...)
	}
	if req.KeyFile != "" && files != 1 {
		return nil, usagef("--key %s goes with exactly one FILE argument (the chain it belongs to), not %d", req.KeyFile, files)
	}
	return out, nil
}

func planArg(arg string, inv *Inventory, connect, keyFile string) ([]Target, error) {
	if c := inv.certificate(arg); c != nil {
		return planName(c, inv, connect), nil
	}
	if isFileArg(arg) {
		fi, err := os.Stat(arg)
		switch {
		case err != nil:
			return nil, usagef("%s: %v (a FILE argument must be a PEM chain file)", arg, errors.Unwrap(err))
		case !fi.Mode().IsRegular():
			return nil, usagef("%s is not a regular file: give a PEM chain file", arg)
		}
		return []Target{{Kind: FileTarget, Name: arg, File: arg, KeyFile: keyFile}}, nil
	}
	if inv != nil && looksLikeName(arg) {
		return nil, usagef("no certificate named %q in %s (configured: %s); to check a server, give its full host name",
			arg, inv.Source, inv.names())
	}
	host, addr, err := ParseHostPort(arg)
	if err != nil {
		return nil, usagef("%q is neither a configured certificate, a FILE nor HOST[:PORT]: %v", arg, err)
	}
	sni := host
	if _, err := netip.ParseAddr(host); err == nil {
		sni = "" // clients send no SNI for an IP address (RFC 6066 section 3)
	}
	if connect != "" {
		addr = connect
	}
	return []Target{{Kind: ServedTarget, Name: arg, Address: addr, SNI: sni}}, nil
}

// planName checks a configured certificate: its live files, and what the
// server sends for each domain where renewd deploys it to nginx (or
// --connect names a server). A certificate renewd does not deploy to
// nginx may be served by anything, anywhere: probing nginx.verify.address
// for it would judge some other server.
func planName(c *Configured, inv *Inventory, connect string) []Target {
	out := []Target{{Kind: StoredTarget, Name: c.Name, Domains: c.Domains}}
	addr := connect
	if addr == "" && c.DeployNginx {
		addr = inv.VerifyAddress
	}
	if addr == "" {
		return out
	}
	serial := ""
	if c.DeployNginx {
		serial = c.Name
	}
	for _, d := range c.Domains {
		out = append(out, Target{Kind: ServedTarget, Name: c.Name, Address: addr, SNI: SNIFor(d), SerialOf: serial})
	}
	return out
}

// isFileArg reports whether arg names a file rather than a host: a path
// with a slash, a certificate file name, or an existing regular file.
func isFileArg(arg string) bool {
	if strings.Contains(arg, "://") {
		return false
	}
	lower := strings.ToLower(arg)
	for _, ext := range []string{".pem", ".crt", ".cer"} {
		if strings.HasSuffix(lower, ext) {
			return true
		}
	}
	if strings.Contains(arg, "/") {
		return true
	}
	fi, err := os.Stat(arg)
	return err == nil && fi.Mode().IsRegular()
}

// SNIFor is the name to ask for a configured domain: a wildcard *.x.y is
// asked for as renewd-check.x.y, a name it covers.
func SNIFor(domain string) string {
	if rest, ok := strings.CutPrefix(domain, "*."); ok {
		return "renewd-check." + rest
	}
	return domain
}

// ParseHostPort reads HOST, HOST:PORT, [IPv6]:PORT, a bare IPv6 address or
// an https:// URL, and returns the host (IDNs as A-labels) and the address
// to dial (port 443 by default).
func ParseHostPort(arg string) (host, addr string, err error) {
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
	case utf8.RuneCountInString(host) != len(host):
		a, err := idna.Lookup.ToASCII(host)
		if err != nil {
			return "", fmt.Errorf("%q is not a valid international domain name: %v", host, err)
		}
		return a, nil
	}
	return host, nil
}

// looksLikeName reports whether arg is more likely a mistyped certificate
// name than a host: one label, no port, not localhost.
func looksLikeName(arg string) bool {
	return !strings.ContainsAny(arg, ".:[") && arg != "localhost"
}
