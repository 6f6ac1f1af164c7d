// Package preflight finds, before any ACME order, the mistakes in a valid
// configuration that would make a renewal fail on this machine: a webroot
// or deploy directory that is missing or not writable, nginx or a hook
// that cannot be run, a contact address the CA refuses. config.Load judges
// the files themselves; preflight judges them against the machine.
// `renewd config check` runs both (docs/cli.md).
//
// It only looks: it stats, it asks access(2), it searches PATH. It
// creates, writes and changes nothing.
package preflight

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/deploy"
)

// Options are the seams tests set; the zero value looks at the machine.
type Options struct {
	// LookPath finds a program as exec.LookPath does.
	LookPath func(file string) (string, error)
}

// Check returns every problem it finds in cfg, each a *config.FieldError
// naming the file, the line and the field, in the order of renewd.yaml
// and then of the certificates.
func Check(cfg *config.Config, opts Options) []error {
	if opts.LookPath == nil {
		opts.LookPath = exec.LookPath
	}
	var errs []error
	if e := contact(cfg); e != nil {
		errs = append(errs, e)
	}
	errs = append(errs, nginx(cfg, opts)...)
	for _, c := range cfg.Certificates {
		errs = append(errs, certificate(c, opts)...)
	}
	return errs
}

// refusedContactDomains are the domains Let's Encrypt refuses in an
// account's contact (RFC 2606's example domains).
var refusedContactDomains = []string{"example.com", "example.net", "example.org"}

// contact reports an acme.email at an example domain when the CA is Let's
// Encrypt, which refuses to register the account ("invalidContact").
func contact(cfg *config.Config) error {
	_, domain, ok := strings.Cut(strings.ToLower(cfg.ACME.Email), "@")
	if !ok || !config.IsLetsEncrypt(cfg.ACME.Directory) {
		return nil
	}
	for _, d := range refusedContactDomains {
		if domain == d || strings.HasSuffix(domain, "."+d) {
			return cfg.Problem("acme.email", "%q is at %s, which Let's Encrypt refuses as a contact; use an address you read, or leave email out", cfg.ACME.Email, d)
		}
	}
	return nil
}

// nginx reports nginx.test and nginx.reload programs that cannot be run,
// when a certificate deploys to nginx.
func nginx(cfg *config.Config, opts Options) []error {
	used := false
	for _, c := range cfg.Certificates {
		used = used || c.Deploy.Nginx
	}
	if !used {
		return nil
	}
	return nginxPrograms(cfg, opts)
}

// nginxPrograms reports nginx.test and nginx.reload programs that cannot
// be run.
func nginxPrograms(cfg *config.Config, opts Options) []error {
	var errs []error
	for _, f := range []struct {
		field string
		argv  []string
	}{{"nginx.test", cfg.Nginx.Test}, {"nginx.reload", cfg.Nginx.Reload}} {
		if err := runnable(f.argv, opts); err != nil {
			errs = append(errs, cfg.Problem(f.field+"[0]", "%v", err))
		}
	}
	return errs
}

// BeforeOrder is the part of Check that renew repeats before each order
// for c: its HTTP-01 webroot, and the programs a deploy of c will run
// (nginx.test and nginx.reload when c deploys to nginx, then c's hooks).
// Found only after the order, such a problem would cost an order at the
// CA for a certificate that cannot be validated or deployed. It returns
// the first problem. (The deploy directories are deploy.Preflight's.)
func BeforeOrder(cfg *config.Config, c *config.Certificate, opts Options) error {
	if opts.LookPath == nil {
		opts.LookPath = exec.LookPath
	}
	errs := webrootOf(c)
	if c.Deploy.Nginx {
		errs = append(errs, nginxPrograms(cfg, opts)...)
	}
	errs = append(errs, hooks(c, opts)...)
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// runnable says why argv[0] cannot be run, nil when it can.
func runnable(argv []string, opts Options) error {
	if len(argv) == 0 || argv[0] == "" {
		return nil // config.Load reports an empty program
	}
	if _, err := opts.LookPath(argv[0]); err != nil {
		if strings.Contains(argv[0], "/") {
			return fmt.Errorf("%s cannot be run (%v); give the path of an executable program", argv[0], cause(err))
		}
		return fmt.Errorf("%s is not an executable program on renewd's PATH (%s); install it or give its full path", argv[0], os.Getenv("PATH"))
	}
	return nil
}

// certificate reports the problems of one certificate: its webroot, its
// deploy directories and its hooks.
func certificate(c *config.Certificate, opts Options) []error {
	errs := webrootOf(c)
	for _, f := range []struct{ field, path string }{
		{"deploy.fullchain", c.Deploy.Fullchain}, {"deploy.key", c.Deploy.Key}, {"deploy.pkcs12.path", c.Deploy.PKCS12.Path},
	} {
		if f.path == "" {
			continue
		}
		// The check renew makes before each order, one path at a time
		// so the message names the field.
		if err := deploy.Preflight(config.Deploy{Fullchain: f.path}); err != nil {
			errs = append(errs, c.Problem(f.field, "%v", err))
		}
	}
	return append(errs, hooks(c, opts)...)
}

// webrootOf reports c's HTTP-01 webroot, when it has one, if renewd cannot
// write its tokens there.
func webrootOf(c *config.Certificate) []error {
	if w := c.Challenge.HTTP01.Webroot; c.Challenge.Type == "http-01" && w != "" {
		if err := webroot(w); err != nil {
			return []error{c.Problem("challenge.http01.webroot", "%v", err)}
		}
	}
	return nil
}

// hooks reports c's deploy hooks that cannot be run.
func hooks(c *config.Certificate, opts Options) []error {
	var errs []error
	for i, h := range c.Deploy.Hooks {
		if err := runnable(h, opts); err != nil {
			errs = append(errs, c.Problem(fmt.Sprintf("deploy.hooks[%d][0]", i), "%v", err))
		}
	}
	return errs
}

// webroot says what is wrong with an HTTP-01 webroot: it must be a
// directory renewd can write in (it writes .well-known/acme-challenge/
// below it).
func webroot(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s does not exist; create it, and point nginx's location /.well-known/acme-challenge/ at it (root %s;)", dir, dir)
	case err != nil:
		return fmt.Errorf("%s: %v", dir, cause(err))
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory; give the directory nginx serves /.well-known/acme-challenge/ from", dir)
	}
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		return fmt.Errorf("renewd cannot write in %s (%v); it writes the challenge tokens there", dir, err)
	}
	return nil
}

// cause drops the "op path:" an fs or exec error repeats.
func cause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var ee *exec.Error
	if errors.As(err, &ee) {
		return ee.Err
	}
	return err
}
