package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/renewd/renewd/internal/acme"
)

// cmdProviders is `renewd providers [NAME]`: lego's DNS providers, or one
// of them with its variables and the page of lego's documentation for it.
// It needs no configuration.
func cmdProviders(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("providers", stderr)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return flagError(fs, err)
	}
	switch len(pos) {
	case 0:
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "PROVIDER\tNAME")
		for _, p := range acme.Providers() {
			name := p.Name
			if len(p.Aliases) > 0 {
				name += " (also: " + strings.Join(p.Aliases, ", ") + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\n", p.Code, name)
		}
		_ = tw.Flush()
		fmt.Fprintln(stdout, "\nrenewd providers NAME shows a provider's variables; write its name in challenge.dns01.provider.")
		return nil
	case 1:
		return printProvider(stdout, pos[0])
	}
	printUsage(fs)
	return &exitError{code: exitUsage}
}

func printProvider(w io.Writer, name string) error {
	p, ok := acme.LookupProvider(name)
	if !ok {
		if near := acme.NearestProvider(name); near != "" {
			return fail(exitUsage, "no DNS provider %q; did you mean %s? (renewd providers lists them)", name, near)
		}
		return fail(exitUsage, "no DNS provider %q (renewd providers lists them)", name)
	}
	fmt.Fprintf(w, "%s: %s\n", p.Code, p.Name)
	if p.URL != "" {
		fmt.Fprintf(w, "  site: %s\n", p.URL)
	}
	fmt.Fprintf(w, "  lego's documentation: %s\n", p.DocURL())
	vars := func(title string, list []acme.ProviderVar) {
		if len(list) == 0 {
			return
		}
		fmt.Fprintf(w, "\n%s:\n", title)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, v := range list {
			fmt.Fprintf(tw, "  %s\t%s\n", v.Name, v.Description)
		}
		_ = tw.Flush()
	}
	vars("credentials (some providers take one of several sets; the documentation says which)", p.Credentials)
	vars("optional settings", p.Additional)
	fmt.Fprintf(w, "\nIn domains.d/NAME.yaml:\n  challenge:\n    type: dns-01\n    dns01:\n      provider: %s\n      env:\n", p.Code)
	for _, v := range p.Credentials {
		if strings.Contains(strings.ToLower(v.Description), "optional") {
			continue
		}
		fmt.Fprintf(w, "        %s: \"${%s}\"\n", v.Name, v.Name)
	}
	fmt.Fprintln(w, "and the values in /etc/renewd/env (NAME=value lines, mode 0600), which the systemd unit loads.")
	return nil
}
