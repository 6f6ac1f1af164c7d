package importer

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/renewd/renewd/internal/chain"
)

// Counts says how many items are ready, skipped and refused.
func (p *Plan) Counts() (ready, skipped, refused int) {
	for _, it := range p.Items {
		switch {
		case it.Problem != nil:
			refused++
		case it.Skip != "":
			skipped++
		default:
			ready++
		}
	}
	return ready, skipped, refused
}

// WriteText writes the plan for a person: every file to write as a
// diff against nothing, what is adopted and deployed, what is refused and
// why, and how to stop the other tool. applied says whether Apply ran.
func WriteText(w io.Writer, p *Plan, applied bool) error {
	var b strings.Builder
	fmt.Fprintf(&b, "renewd import %s from %s: %d certificate(s) found\n", p.Source, p.Dir, len(p.Items))
	for _, it := range p.Items {
		b.WriteString("\n")
		writeItem(&b, it, applied)
	}
	if len(p.Stop) > 0 {
		fmt.Fprintf(&b, "\nSo that %s and renewd do not both renew these names:\n", p.Source)
		for _, l := range p.Stop {
			b.WriteString("  " + l + "\n")
		}
	}
	writeSandbox(&b, p.Sandbox)
	ready, skipped, refused := p.Counts()
	b.WriteString("\n")
	switch {
	case applied:
		imported := 0
		for _, it := range p.Items {
			if it.Version != "" {
				imported++
			}
		}
		fmt.Fprintf(&b, "imported %d certificate(s) without ordering; %d already there, %d not imported\n", imported, skipped, len(p.Items)-imported-skipped)
	default:
		fmt.Fprintf(&b, "dry run: nothing was written. With --apply: %d file(s) written and %d certificate(s) adopted without ordering; %d already there, %d not imported\n", ready, ready, skipped, refused)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeItem(b *strings.Builder, it *Item, applied bool) {
	switch {
	case it.Skip != "":
		fmt.Fprintf(b, "= %s: %s (nothing to do)\n", it.Name, it.Skip)
		return
	case it.Problem != nil:
		fmt.Fprintf(b, "! %s (%s): not imported: %v\n", it.Name, it.Origin, it.Problem)
		writeYAML(b, it, "  (not written) ")
		writeNotes(b, it)
		return
	}
	fmt.Fprintf(b, "--- /dev/null\n+++ %s\n", it.File)
	writeYAML(b, it, "+")
	verb := "becomes"
	if applied {
		verb = "became"
	}
	fmt.Fprintf(b, "  adopt:   serial %s, valid until %s, chain %s; %s live/%s in renewd without a new order\n",
		it.Leaf.SerialNumber.Text(16), it.Leaf.NotAfter.UTC().Format(time.RFC3339), describeBundle(it), verb, it.Name)
	if it.Completed != "" {
		fmt.Fprintf(b, "  chain:   %s lacks intermediates; they were found in %s\n", it.CertFiles[0], it.Completed)
	}
	fmt.Fprintf(b, "  deploy:  %s\n", deployLine(it))
	for _, e := range it.Env {
		fmt.Fprintf(b, "  env:     %s is set in this environment (the old tool kept it as %s)\n", e.Name, e.From)
	}
	writeNotes(b, it)
}

func writeYAML(b *strings.Builder, it *Item, prefix string) {
	for _, l := range strings.Split(strings.TrimRight(string(it.YAML), "\n"), "\n") {
		if l != "" {
			b.WriteString(prefix + l + "\n")
		}
	}
}

func writeNotes(b *strings.Builder, it *Item) {
	for _, n := range it.Notes {
		fmt.Fprintf(b, "  note:    %s\n", n)
	}
}

func describeBundle(it *Item) string {
	parts := []string{chain.Describe(it.Leaf)}
	for _, c := range it.Intermediates {
		parts = append(parts, chain.Describe(c))
	}
	return "complete: " + strings.Join(parts, " <- ")
}

func deployLine(it *Item) string {
	target := it.Deploy.Fullchain
	if b := it.Deploy.Baota; b.Site != "" {
		target = fmt.Sprintf("the panel site %s (%s)", b.Site, b.CertDir())
	}
	switch {
	case target == "":
		return "none: renewd keeps it in its storage only"
	case it.Deployed:
		return fmt.Sprintf("%s already holds exactly these files: nothing to deploy", target)
	}
	return fmt.Sprintf("%s does not hold the complete chain yet: the next `renewd renew` installs it there, reloads nginx and proves it served (no new order)", target)
}

// The --json document: field names are a contract (snake_case, times
// RFC 3339 UTC, absent when empty).
type jsonPlan struct {
	Source       string     `json:"source"`
	Dir          string     `json:"dir"`
	Applied      bool       `json:"applied"`
	Certificates []jsonItem `json:"certificates"`
	Stop         []string   `json:"stop"`
	Sandbox      []string   `json:"read_write_paths"`
}

type jsonItem struct {
	Name          string    `json:"name"`
	Origin        string    `json:"origin"`
	File          string    `json:"file,omitempty"`
	YAML          string    `json:"yaml,omitempty"`
	Domains       []string  `json:"domains"`
	Serial        string    `json:"serial,omitempty"`
	NotAfter      string    `json:"not_after,omitempty"`
	CompletedFrom string    `json:"completed_from,omitempty"`
	Deployed      bool      `json:"deployed"`
	Version       string    `json:"version,omitempty"`
	Env           []EnvJSON `json:"env,omitempty"`
	Skipped       string    `json:"skipped,omitempty"`
	Problem       string    `json:"problem,omitempty"`
	Notes         []string  `json:"notes"`
}

// EnvJSON is an EnvVar in --json output.
type EnvJSON struct {
	Name string `json:"name"`
	From string `json:"from"`
}

// WriteJSON writes the plan for machines.
func WriteJSON(w io.Writer, p *Plan, applied bool) error {
	out := jsonPlan{Source: p.Source, Dir: p.Dir, Applied: applied, Certificates: []jsonItem{}, Stop: p.Stop}
	if out.Stop == nil {
		out.Stop = []string{}
	}
	if out.Sandbox = p.Sandbox; out.Sandbox == nil {
		out.Sandbox = []string{}
	}
	for _, it := range p.Items {
		j := jsonItem{Name: it.Name, Origin: it.Origin, File: it.File, YAML: string(it.YAML), Domains: it.Domains,
			CompletedFrom: it.Completed, Deployed: it.Deployed, Version: it.Version, Skipped: it.Skip, Notes: it.Notes}
		if j.Domains == nil {
			j.Domains = []string{}
		}
		if j.Notes == nil {
			j.Notes = []string{}
		}
		if it.Leaf != nil {
			j.Serial, j.NotAfter = it.Leaf.SerialNumber.Text(16), it.Leaf.NotAfter.UTC().Format(time.RFC3339)
		}
		for _, e := range it.Env {
			j.Env = append(j.Env, EnvJSON(e))
		}
		if it.Problem != nil {
			j.Problem = it.Problem.Error()
		}
		out.Certificates = append(out.Certificates, j)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// writeSandbox says what the systemd unit must let renewd write, and that
// a running daemon needs a restart to read the new files with it.
func writeSandbox(b *strings.Builder, paths []string) {
	if len(paths) == 0 {
		return
	}
	b.WriteString("\nUnder renewd's systemd unit, which makes the system read-only but for the storage and /etc/nginx/ssl, let it write these (`systemctl edit renewd`), then restart it so the daemon reads the new files:\n")
	b.WriteString("  [Service]\n  ReadWritePaths=" + strings.Join(paths, " ") + "\n")
	b.WriteString("  systemctl restart renewd\n")
}
