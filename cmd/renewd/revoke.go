package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/renewd/renewd/internal/acme"
	"github.com/renewd/renewd/internal/crashpoint"
	"github.com/renewd/renewd/internal/store"
)

// revocationReasons are the RFC 5280 CRLReason codes a subscriber may
// give (RFC 8555 section 7.6; Let's Encrypt accepts these).
var revocationReasons = []struct {
	name string
	code uint
}{
	{"unspecified", 0}, {"keyCompromise", 1}, {"affiliationChanged", 3}, {"superseded", 4}, {"cessationOfOperation", 5},
}

func reasonNames() []string {
	var out []string
	for _, r := range revocationReasons {
		out = append(out, r.name)
	}
	return out
}

// cmdRevoke is `renewd revoke NAME [--reason REASON]`: the CA revokes the
// live certificate, and the record says so (status shows it, and the
// certificate is due for renewal). The files stay: nginx keeps serving
// them until the next renewal replaces them.
func cmdRevoke(ctx context.Context, g globals, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("revoke", stderr)
	reason := fs.String("reason", "unspecified", "the `REASON` given to the CA: one of "+strings.Join(reasonNames(), ", "))
	wait := fs.Duration("wait", 5*time.Minute, "how long to wait for a renewal another renewd process is running")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return flagError(fs, err)
	}
	if len(pos) != 1 {
		printUsage(fs)
		return &exitError{code: exitUsage}
	}
	name := pos[0]
	i := slices.IndexFunc(revocationReasons, func(r struct {
		name string
		code uint
	}) bool {
		return r.name == *reason
	})
	if i < 0 {
		return fail(exitUsage, "--reason %q: use one of %v", *reason, reasonNames())
	}
	log, err := newLogger(g.logLevel, "warn")
	if err != nil {
		return err
	}
	cfg, err := loadConfigFor(g, pos, false, stderr)
	if err != nil {
		return err
	}
	if err := checkNames(cfg, pos); err != nil {
		return err
	}
	if cfg.Cluster.Enabled() {
		// The records and versions of a cluster live in etcd; this command
		// knows only the local store. See docs/cluster.md, "Limits".
		c := cfg.Certificate(name)
		hint := "revoke it with the CA's tools"
		if c.Deploy.Fullchain != "" {
			hint = fmt.Sprintf("the served certificate is %s and its key %s: revoke it with the CA's tools, for example certbot revoke --cert-path %s --key-path %s --server <directory URL>",
				c.Deploy.Fullchain, c.Deploy.Key, c.Deploy.Fullchain, c.Deploy.Key)
		}
		return fail(exitUsage, "%s: renewd revoke does not work on a cluster node yet (this node's certificates live in etcd); %s", name, hint)
	}
	// The record changes: no renewal may run meanwhile.
	st, release, err := lockedStore(ctx, cfg.Storage, *wait, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = release() }()

	files, version, err := st.Live(name)
	if err != nil {
		return fail(exitFailed, "%s has no live certificate to revoke: %v", name, err)
	}
	client, err := acme.New(cfg.ACME, st.AccountsDir(), log.Named("acme"))
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	if err := client.Revoke(ctx, files.Cert, revocationReasons[i].code); err != nil {
		return fail(exitFailed, "%s: %s", name, acme.Summary(err))
	}
	recs, _, err := st.Records()
	if err != nil {
		return fail(exitFailed, "revoked at the CA, but the record could not be read: %v", err)
	}
	rec := recs[name]
	if rec == nil {
		rec = &store.Record{Name: name, Domains: cfg.Certificate(name).Domains}
	}
	now := crashpoint.Now().UTC().Truncate(time.Second)
	rec.RevokedAt, rec.RevokeReason = &now, *reason
	if err := st.SaveRecords([]*store.Record{rec}); err != nil {
		return fail(exitFailed, "revoked at the CA, but the record could not be saved: %v", err)
	}
	fmt.Fprintf(stdout, "%s: the certificate of version %s (serial %s) is revoked (%s).\n", name, version, rec.Serial, *reason)
	fmt.Fprintf(stdout, "It is due for renewal now: renewd renew --now %s replaces it (the daemon does at its next pass);\n", name)
	fmt.Fprintf(stdout, "renewd remove %s stops managing it instead.\n", name)
	return nil
}
