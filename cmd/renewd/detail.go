package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/renew"
)

// printDetail is `renewd status NAME`: everything renewd knows of one
// certificate, one fact per line, the way a person reads it when
// something is wrong: what it is, what is live and served, what happens
// next, and the last failure in full.
func printDetail(w io.Writer, c *config.Certificate, r renew.Status, liveDir string, versions []string, keep int) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(k, format string, args ...any) { fmt.Fprintf(tw, "  %s\t%s\n", k, fmt.Sprintf(format, args...)) }
	title := c.Name
	if c.Canary {
		title += " (canary: renewed first, holds the others when it fails)"
	}
	fmt.Fprintln(tw, title)
	line("domains", "%s", strings.Join(c.Domains, ", "))
	line("file", "%s", c.File)
	line("challenge", "%s", describeChallenge(c))
	if r.NotAfter != nil {
		line("certificate", "serial %s from %s", r.Serial, r.Issuer)
		line("valid", "%s to %s (%s)", stamp(r.NotBefore), stamp(r.NotAfter), timeLeft(r))
		live := liveDir + " -> " + r.Version
		if c.Deploy.Enabled() && r.DeployedVersion != r.Version {
			live += fmt.Sprintf(" (deployed: %s)", or(r.DeployedVersion, "none yet"))
		}
		line("live", "%s", live)
		for i, fix := range r.Repaired {
			k := ""
			if i == 0 {
				k = "chain repaired"
			}
			line(k, "%s", fix)
		}
	} else {
		line("certificate", "none yet")
	}
	line("archive", "%d version(s); keeps the live one and the last %d", len(versions), keep)
	line("deploy", "%s", describeDeploy(c))
	if c.Deploy.Nginx {
		served := "not checked yet"
		switch r.ServedChain {
		case "complete":
			served = "complete, checked " + stamp(r.ServedCheckedAt)
		case "incomplete":
			served = "INCOMPLETE (strict clients reject it; the previous files were restored), checked " + stamp(r.ServedCheckedAt)
		}
		line("served chain", "%s", served)
	}
	line("renewed", "%s", stamp(r.RenewTime))
	line("last attempt", "%s", stamp(r.LastAttempt))
	next := "now"
	if r.NextRenewal != nil && !r.Due {
		next = stamp(r.NextRenewal)
	}
	line("next renewal", "%s (%s)", next, r.NextReason)
	if r.RetryCount > 0 {
		line("retries", "%d failure(s) in a row; next retry %s", r.RetryCount, stamp(r.NextRetryTime))
	}
	if r.HeldBy != "" {
		line("held", "%s", r.HeldReason)
	}
	if r.WentAheadOf != "" {
		line("went ahead", "of failing canary %s: %s", r.WentAheadOf, r.WentAheadReason)
	}
	if r.LastError != "" {
		line("last error", "%s", r.LastError)
	}
	_ = tw.Flush()
	if d := strings.TrimSpace(r.LastErrorDetail); d != "" && d != r.LastError {
		fmt.Fprintln(w, "  the whole error:")
		for l := range strings.SplitSeq(d, "\n") {
			fmt.Fprintf(w, "    %s\n", l)
		}
	}
}

func describeChallenge(c *config.Certificate) string {
	ch := c.Challenge
	switch {
	case ch.Type == "dns-01":
		return "dns-01 through lego's " + ch.DNS01.Provider + " provider"
	case ch.HTTP01.Webroot != "":
		return "http-01, tokens written in " + ch.HTTP01.Webroot
	}
	return "http-01, answered by renewd on " + ch.HTTP01.Listen
}

func describeDeploy(c *config.Certificate) string {
	d := c.Deploy
	if !d.Enabled() {
		return "none: the files stay in renewd's storage (live/" + c.Name + "/)"
	}
	var parts []string
	if d.Fullchain != "" {
		parts = append(parts, d.Fullchain, d.Key)
	}
	if d.PKCS12.Path != "" {
		parts = append(parts, d.PKCS12.Path)
	}
	if d.Nginx {
		parts = append(parts, "then nginx -t and reload")
	}
	if n := len(d.Hooks); n > 0 {
		parts = append(parts, fmt.Sprintf("%d hook(s)", n))
	}
	return strings.Join(parts, ", ")
}

func stamp(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// timeLeft says the time left in units that suit the lifetime ("23 hours
// left" for a 24-hour certificate), and whether renewd warns about it.
func timeLeft(r renew.Status) string {
	switch {
	case r.TimeLeft == "":
		return "-"
	case strings.HasPrefix(r.TimeLeft, "expired"):
		return "EXPIRED: " + strings.TrimPrefix(r.TimeLeft, "expired ")
	case r.Expiring:
		return r.TimeLeft + " left: EXPIRING SOON"
	}
	return r.TimeLeft + " left"
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
