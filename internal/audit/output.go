package audit

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/renewd/renewd/internal/check"
)

// Summary says where the configuration came from, for the heading.
type Summary struct {
	// Main is nginx's main configuration file.
	Main string
	// Files counts the configuration files read.
	Files int
	// Source is how they were read: the nginx -T command, or "disk".
	Source string
	// Warning is why nginx -T could not be used, when Source is the files
	// on disk. nginx refuses its next reload then, so the audit fails.
	Warning string
}

// Failed reports whether any block fails.
func Failed(blocks []*Block) bool {
	for _, b := range blocks {
		if b.Failed() {
			return true
		}
	}
	return false
}

// WriteText writes the audit for a person: a table with one row per
// certificate directive, then the details and fixes of every row that
// fails, then the overall verdict.
func WriteText(w io.Writer, sum Summary, blocks []*Block) error {
	var b strings.Builder
	fmt.Fprintf(&b, "nginx configuration %s: %d file(s), read with %s\n", sum.Main, sum.Files, sum.Source)
	if sum.Warning != "" {
		fmt.Fprintf(&b, "warning: %s\n", sum.Warning)
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DIRECTIVE\tSERVER\tCERTIFICATE\tFILE\tSERVED\tRENEWD")
	rows, failed := 0, 0
	for _, bl := range blocks {
		for _, c := range bl.Certs {
			rows++
			if len(c.Fixes) > 0 {
				failed++
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.Ref.Cert.Where(), serverLabel(bl), c.Ref.Cert.Path,
				fileVerdict(c), servedVerdict(bl), orDash(c.ManagedBy))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, bl := range blocks {
		writeDetails(&b, bl)
	}
	switch {
	case Failed(blocks):
		fmt.Fprintf(&b, "\noverall: FAIL (%d of %d certificate directive(s) need a change)\n", failed, rows)
	case failed > 0:
		fmt.Fprintf(&b, "\noverall: WARN (%d of %d certificate directive(s) should change; strict clients accept them as they are)\n", failed, rows)
	case sum.Warning != "":
		fmt.Fprintf(&b, "\noverall: FAIL (nginx refuses its own configuration: see the warning above)\n")
	default:
		fmt.Fprintf(&b, "\noverall: PASS (%d certificate directive(s))\n", rows)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeDetails writes the findings and fixes of a block that fails, or
// has something that could not be judged.
func writeDetails(b *strings.Builder, bl *Block) {
	for i, c := range bl.Certs {
		if len(c.Fixes) == 0 && c.Note == "" && !(i == 0 && bl.Failed()) {
			continue
		}
		fmt.Fprintf(b, "\n%s: ssl_certificate %s (server %s at %s:%d)\n", c.Ref.Cert.Where(), c.Ref.Cert.Path, serverLabel(bl), bl.Server.File, bl.Server.Line)
		if c.Note != "" {
			fmt.Fprintf(b, "  note: %s\n", c.Note)
		}
		if c.File != nil {
			writeFindings(b, "file", c.File)
		}
		if i == 0 {
			for _, r := range bl.Served {
				writeFindings(b, fmt.Sprintf("served by %s (SNI %s)", r.Address, r.SNI), r)
			}
			if bl.ServedNote != "" {
				fmt.Fprintf(b, "  served: not asked: %s\n", bl.ServedNote)
			}
		}
		for _, f := range c.Fixes {
			fmt.Fprintf(b, "  fix: %s\n", f)
		}
	}
}

func writeFindings(b *strings.Builder, label string, r *check.Report) {
	fmt.Fprintf(b, "  %s: %s\n", label, strings.ToUpper(string(r.Verdict(false))))
	for _, f := range r.Findings {
		if f.Severity == check.Pass {
			continue
		}
		fmt.Fprintf(b, "    %-4s %-9s %s\n", strings.ToUpper(string(f.Severity)), f.Check, f.Message)
	}
}

func serverLabel(bl *Block) string {
	if len(bl.Server.Names) == 0 {
		return "(no server_name)"
	}
	return strings.Join(bl.Server.Names, " ")
}

func fileVerdict(c *Cert) string {
	if c.File == nil {
		return "-"
	}
	return strings.ToUpper(string(c.File.Verdict(false)))
}

func servedVerdict(bl *Block) string {
	if len(bl.Served) == 0 {
		return "-"
	}
	return strings.ToUpper(string(check.Verdict(bl.Served, false)))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// The --json document. Field names are a contract: snake_case, absent
// when there is no value.
type jsonOutput struct {
	Config  string      `json:"config"`
	Source  string      `json:"source"`
	Warning string      `json:"warning,omitempty"`
	Entries []jsonEntry `json:"entries"`
	Verdict string      `json:"verdict"`
}

type jsonEntry struct {
	Server      jsonServer    `json:"server"`
	Certificate jsonRef       `json:"certificate"`
	Key         *jsonRef      `json:"key,omitempty"`
	Inherited   bool          `json:"inherited,omitempty"`
	Verdict     string        `json:"verdict"`
	File        *jsonReport   `json:"file,omitempty"`
	Note        string        `json:"note,omitempty"`
	Served      []*jsonReport `json:"served"`
	ManagedBy   string        `json:"managed_by,omitempty"`
	Fixes       []string      `json:"fixes"`
}

type jsonServer struct {
	File    string   `json:"file"`
	Line    int      `json:"line"`
	Names   []string `json:"names"`
	Listens []string `json:"listens"`
}

type jsonRef struct {
	Path string `json:"path"`
	File string `json:"file"`
	Line int    `json:"line"`
}

type jsonReport struct {
	Address      string              `json:"address,omitempty"`
	SNI          string              `json:"sni,omitempty"`
	Verdict      check.Severity      `json:"verdict"`
	Certificates []check.Certificate `json:"certificates"`
	Findings     []check.Finding     `json:"findings"`
}

// WriteJSON writes the audit for machines: {"config", "source", "entries":
// [...], "verdict": "pass"|"fail"}, one entry per certificate directive
// ("pass", "warn" or "fail")
// with its server block, its files' verdict and findings, the served
// verdicts of its block, the renewd certificate managing it and the fixes.
func WriteJSON(w io.Writer, sum Summary, blocks []*Block) error {
	out := jsonOutput{Config: sum.Main, Source: sum.Source, Warning: sum.Warning, Entries: []jsonEntry{}, Verdict: "pass"}
	if Failed(blocks) || sum.Warning != "" {
		out.Verdict = "fail"
	}
	for _, bl := range blocks {
		srv := jsonServer{File: bl.Server.File, Line: bl.Server.Line, Names: nonNil(bl.Server.Names), Listens: []string{}}
		for _, l := range bl.Server.Listens {
			srv.Listens = append(srv.Listens, l.Address)
		}
		served := []*jsonReport{}
		for _, r := range bl.Served {
			served = append(served, report(r))
		}
		for _, c := range bl.Certs {
			e := jsonEntry{Server: srv, Certificate: ref(c.Ref.Cert.Path, c.Ref.Cert.File, c.Ref.Cert.Line),
				Inherited: c.Ref.Inherited, Note: c.Note, Served: served, ManagedBy: c.ManagedBy, Fixes: nonNil(c.Fixes), Verdict: "pass"}
			if c.Ref.Key.Raw != "" {
				k := ref(c.Ref.Key.Path, c.Ref.Key.File, c.Ref.Key.Line)
				e.Key = &k
			}
			if c.File != nil {
				e.File = report(c.File)
			}
			switch {
			case filesFailed(c) || servedFailed(bl):
				e.Verdict = "fail"
			case len(c.Fixes) > 0:
				e.Verdict = "warn" // a change to make that strict clients survive (a wrong order)
			}
			out.Entries = append(out.Entries, e)
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func ref(path, file string, line int) jsonRef { return jsonRef{Path: path, File: file, Line: line} }

func report(r *check.Report) *jsonReport {
	return &jsonReport{Address: r.Address, SNI: r.SNI, Verdict: r.Verdict(false),
		Certificates: nonNil(r.Certificates), Findings: nonNil(r.Findings)}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
