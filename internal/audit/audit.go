package audit

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/renewd/renewd/internal/check"
	"github.com/renewd/renewd/internal/nginxconf"
	"github.com/renewd/renewd/internal/readfile"
)

// maxPEMFile bounds a certificate or key file read for judging.
const maxPEMFile = 1 << 20

// Options are what an audit depends on besides nginx's configuration.
type Options struct {
	// Check holds the trust roots and the time the judge uses.
	Check check.Options
	// Address is nginx.verify.address: where served chains are asked for.
	// A block that does not listen on its port is asked on the port it
	// listens on.
	Address string
	// Timeout bounds each connection.
	Timeout time.Duration
	// Managed names the renewd certificate that deploys the file at path,
	// or returns "" when renewd does not manage it. nil: none.
	Managed func(path string) string

	// Test seams; nil means the real ones.
	ReadFile func(path string) ([]byte, error)
	Serve    func(ctx context.Context, addr, sni string, opts check.ServerOptions) *check.Report
}

// Block is one server block that serves TLS, or has certificates.
type Block struct {
	Server nginxconf.Server
	// Certs are the block's certificate directives, judged.
	Certs []*Cert
	// Served are what nginx sends for each of the block's names, judged;
	// none when the block has no ssl listen or no name to ask for.
	Served []*check.Report
	// ServedNote says why nothing was asked for, when Served is empty.
	ServedNote string
}

// Cert is one ssl_certificate directive with its key.
type Cert struct {
	Ref nginxconf.CertRef
	// File is the judgement of the certificate and key files; nil when
	// they cannot be judged (a path with variables, an inline
	// certificate), and Note says why.
	File *check.Report
	Note string
	// ManagedBy is the renewd certificate that deploys this file, or "".
	ManagedBy string
	// Fixes say what to change, one sentence each; empty when it passes.
	Fixes []string
}

// Failed reports whether the block's files or what it serves fail.
func (b *Block) Failed() bool {
	for _, c := range b.Certs {
		if c.File != nil && c.File.Failed(false) {
			return true
		}
	}
	for _, r := range b.Served {
		if r.Failed(false) {
			return true
		}
	}
	return false
}

// Run judges every server block of servers that has certificates. The
// blocks come back in the order nginx reads them.
func Run(ctx context.Context, servers []nginxconf.Server, opts Options) []*Block {
	var out []*Block
	for _, s := range servers {
		if len(s.Certs) == 0 {
			continue
		}
		b := &Block{Server: s}
		for _, ref := range s.Certs {
			b.Certs = append(b.Certs, judgeFiles(ref, s, opts))
		}
		serve(ctx, b, opts)
		for _, c := range b.Certs {
			c.Fixes = fixes(b, c)
		}
		out = append(out, b)
	}
	return out
}

// judgeFiles reads and judges one certificate and key pair.
func judgeFiles(ref nginxconf.CertRef, s nginxconf.Server, opts Options) *Cert {
	c := &Cert{Ref: ref}
	switch {
	case ref.Cert.Variable():
		c.Note = "the path holds a variable, resolved per connection: the files cannot be judged here; the served chains are"
		return c
	case ref.Cert.Inline():
		c.Note = "the certificate is written inline (data:): it is judged as served only"
		return c
	}
	if opts.Managed != nil {
		c.ManagedBy = opts.Managed(ref.Cert.Path)
	}
	read := opts.ReadFile
	if read == nil {
		read = func(p string) ([]byte, error) { return readfile.Bounded(p, maxPEMFile) }
	}
	fullchain, err := read(ref.Cert.Path)
	if err != nil {
		c.File = filesFailure(ref.Cert.Path, "%s: %v", ref.Cert.Path, err)
		return c
	}
	var key []byte
	switch {
	case ref.Key.Raw == "":
		c.Note = "no ssl_certificate_key for this certificate: nginx refuses to start"
	case ref.Key.Variable() || ref.Key.Inline():
		c.Note = "the key's path holds a variable or inline data: the key is not checked"
	default:
		if key, err = read(ref.Key.Path); err != nil {
			c.Note = fmt.Sprintf("ssl_certificate_key %s: %v", ref.Key.Path, err)
		}
	}
	r := check.JudgeStored(fullchain, key, hostNames(s.Names), opts.Check)
	r.Target, r.File = ref.Cert.Path, ref.Cert.Path
	c.File = r
	return c
}

func filesFailure(path, format string, args ...any) *check.Report {
	return &check.Report{Target: path, File: path, Source: check.Stored, Findings: []check.Finding{
		{Check: check.Files, Severity: check.Fail, Message: fmt.Sprintf(format, args...)},
	}}
}

// serve asks nginx for each of the block's names and judges the answers.
func serve(ctx context.Context, b *Block, opts Options) {
	addr, ok := probeAddress(opts.Address, b.Server.Listens)
	switch {
	case !b.Server.TLS():
		b.ServedNote = "the block has no listen with ssl: nginx does not serve these certificates"
		return
	case !ok:
		b.ServedNote = "the block listens on no TCP port renewd can connect to"
		return
	}
	snis := probeNames(b.Server.Names)
	if len(snis) == 0 {
		b.ServedNote = "the block has no server_name to ask for"
		return
	}
	so := check.ServerOptions{Options: opts.Check, Timeout: opts.Timeout, SkipProtocols: true}
	serials := blockSerials(b)
	if len(serials) == 1 {
		so.ExpectSerial = serials[0]
	}
	judge := opts.Serve
	if judge == nil {
		judge = check.Server
	}
	for _, sni := range snis {
		r := judge(ctx, addr, sni, so)
		r.Target = sni
		if len(serials) > 1 {
			checkServedIsOneOf(r, serials, sni)
		}
		b.Served = append(b.Served, r)
	}
}

// blockSerials are the serials of the leaves in the block's files.
func blockSerials(b *Block) []string {
	var out []string
	for _, c := range b.Certs {
		if c.File != nil && len(c.File.Certificates) > 0 {
			out = append(out, c.File.Certificates[0].Serial)
		}
	}
	return out
}

// checkServedIsOneOf is the serial check for a block with several
// certificates (RSA and ECDSA, say): nginx picks one per connection, and
// it must be one of them.
func checkServedIsOneOf(r *check.Report, serials []string, sni string) {
	if len(r.Certificates) == 0 {
		return
	}
	got := r.Certificates[0].Serial
	for _, s := range serials {
		if s == got {
			r.Findings = append(r.Findings, check.Finding{Check: check.Serial, Severity: check.Pass,
				Message: fmt.Sprintf("the server sends one of this block's certificates (serial %s)", got)})
			return
		}
	}
	r.Findings = append(r.Findings, check.Finding{Check: check.Serial, Severity: check.Fail,
		Message: fmt.Sprintf("for %s the server sends serial %s, none of this block's certificates (%v): nginx was not reloaded since the files changed, or another server block answers for %s", sni, got, serials, sni)})
}

// ManagedPaths returns a Managed function over the files renewd deploys:
// fullchain path -> certificate name. Paths compare cleaned, and also
// with symlinks resolved, so /etc/letsencrypt/live/x/fullchain.pem and the
// file it points at are the same.
func ManagedPaths(files map[string]string) func(string) string {
	resolved := map[string]string{}
	for p, name := range files {
		resolved[filepath.Clean(p)] = name
		if r, err := filepath.EvalSymlinks(p); err == nil {
			resolved[r] = name
		}
	}
	return func(path string) string {
		if name, ok := resolved[filepath.Clean(path)]; ok {
			return name
		}
		if r, err := filepath.EvalSymlinks(path); err == nil {
			return resolved[r]
		}
		return ""
	}
}
