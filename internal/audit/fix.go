package audit

import (
	"fmt"
	"strings"

	"github.com/renewd/renewd/internal/check"
)

// fixes says what to change for one certificate directive, from the
// judge's findings: one sentence per kind of failure, naming the files and
// the lines to edit.
func fixes(b *Block, c *Cert) []string {
	var out []string
	add := func(format string, args ...any) {
		s := fmt.Sprintf(format, args...)
		for _, o := range out {
			if o == s {
				return
			}
		}
		out = append(out, s)
	}
	cert, key := c.Ref.Cert, c.Ref.Key
	if c.File != nil {
		order := orderProblem(c.File)
		for _, f := range c.File.Findings {
			// A wrong order is only a warning of the judge (every client
			// renewd is tested with reorders), but it is still a change to
			// make: TLS 1.2 requires the order, and some embedded stacks
			// fail without it.
			if f.Severity != check.Fail && !(f.Check == check.Chain && isOrder(f)) {
				continue
			}
			if order && (f.Check == check.Key || f.Check == check.Names) {
				continue // they judged a CA certificate as the leaf: the order is the fix
			}
			switch f.Check {
			case check.Files:
				add("make %s a readable PEM certificate file, or point ssl_certificate (%s) at one: nginx will not reload with it", cert.Path, cert.Where())
			case check.Chain:
				if isOrder(f) {
					add("put the certificates in %s in order: the leaf first, then its issuer, then that one's issuer (%s)", cert.Path, cert.Where())
				} else {
					add("point ssl_certificate (%s) at a full chain: the leaf followed by the intermediates, not %s as it is (certbot's fullchain.pem, acme.sh's fullchain.cer, the panel's fullchain.pem)", cert.Where(), cert.Path)
				}
			case check.Key:
				if key.Raw == "" {
					add("add an ssl_certificate_key for %s (%s) in the same block: nginx pairs them by position and refuses a certificate without its key", cert.Path, cert.Where())
					continue
				}
				add("ssl_certificate_key %s (%s) is not the key of the certificate in %s: point it at the key the certificate was issued for; nginx refuses to start or reload with this pair", key.Path, key.Where(), cert.Path)
			case check.Validity:
				add("renew the certificate in %s: %s", cert.Path, f.Message)
			case check.Names:
				add("the certificate in %s does not cover every server_name of the block at %s:%d: issue one that does, or move those names to another block", cert.Path, b.Server.File, b.Server.Line)
			case check.Crypto:
				add("issue a new certificate for %s: %s", cert.Path, f.Message)
			}
		}
	}
	if !filesFailed(c) && servedFailed(b) {
		add("nginx does not serve what %s holds with a complete chain: reload nginx so it reads the files, and check which server block answers for these names", cert.Path)
	}
	if len(out) > 0 && c.ManagedBy == "" && c.File != nil {
		add("let renewd manage it: `renewd import certbot|acme.sh|baota` if one of them made it, or a domains.d file with deploy.fullchain: %s, deploy.key: %s and deploy.nginx: true", cert.Path, key.Path)
	}
	return out
}

func filesFailed(c *Cert) bool { return c.File != nil && c.File.Failed(false) }

func servedFailed(b *Block) bool {
	for _, r := range b.Served {
		if r.Failed(false) {
			return true
		}
	}
	return false
}

// isOrder reports a chain finding about the order of the certificates:
// the leaf not first, or issuers not each after what they issued.
func isOrder(f check.Finding) bool {
	return f.Check == check.Chain && (strings.HasPrefix(f.Message, "wrong order") || strings.Contains(f.Message, "must come first"))
}

func orderProblem(r *check.Report) bool {
	for _, f := range r.Findings {
		if f.Severity == check.Fail && isOrder(f) {
			return true
		}
	}
	return false
}
