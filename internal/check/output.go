package check

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Verdict is Fail when r failed (with strict: or warned), else Pass.
func (r *Report) Verdict(strict bool) Severity {
	if r.Failed(strict) {
		return Fail
	}
	return Pass
}

// Verdict is Fail when any report failed (with strict: or warned), else
// Pass. No reports pass.
func Verdict(reports []*Report, strict bool) Severity {
	for _, r := range reports {
		if r.Failed(strict) {
			return Fail
		}
	}
	return Pass
}

// WriteText writes reports for people: for each endpoint a header line,
// one line per finding and the endpoint's verdict; then the overall
// verdict. Given the same reports it writes the same bytes.
func WriteText(w io.Writer, reports []*Report, strict bool) error {
	var b strings.Builder
	failed, warned := 0, 0
	for _, r := range reports {
		b.WriteString(r.header() + "\n")
		for _, f := range r.Findings {
			fmt.Fprintf(&b, "  %-4s %-9s %s\n", strings.ToUpper(string(f.Severity)), f.Check, f.Message)
		}
		verdict := strings.ToUpper(string(r.Verdict(strict)))
		switch {
		case r.Failed(strict):
			failed++
			if !r.Failed(false) {
				verdict += " (strict: warnings fail)"
			}
		case r.Warned():
			warned++
			verdict += " (with warnings)"
		}
		b.WriteString("  => " + verdict + "\n\n")
	}
	if failed > 0 {
		fmt.Fprintf(&b, "overall: FAIL (%d of %s failed)\n", failed, endpoints(len(reports)))
	} else {
		fmt.Fprintf(&b, "overall: PASS (%s, %d with warnings)\n", endpoints(len(reports)), warned)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func endpoints(n int) string {
	if n == 1 {
		return "1 endpoint"
	}
	return fmt.Sprintf("%d endpoints", n)
}

// header names the endpoint: the target, then where the chain came from.
func (r *Report) header() string {
	switch r.Source {
	case Stored:
		return fmt.Sprintf("%s: stored %s", r.Target, r.File)
	case File:
		return fmt.Sprintf("%s: file %s", r.Target, r.File)
	}
	sni := "no SNI"
	if r.SNI != "" {
		sni = "SNI " + r.SNI
	}
	return fmt.Sprintf("%s: served by %s (%s)", r.Target, r.Address, sni)
}

// jsonOutput is the --json document. Its field names are a contract:
// snake_case, times RFC 3339 UTC, absent when there is no value.
type jsonOutput struct {
	Endpoints []jsonEndpoint `json:"endpoints"`
	Verdict   Severity       `json:"verdict"`
}

type jsonEndpoint struct {
	Target       string        `json:"target"`
	Address      string        `json:"address,omitempty"`
	SNI          string        `json:"sni,omitempty"`
	File         string        `json:"file,omitempty"`
	Source       Source        `json:"source"`
	Verdict      Severity      `json:"verdict"`
	Certificates []Certificate `json:"certificates"`
	Path         []PathEntry   `json:"path"`
	Chains       []ServedChain `json:"chains,omitempty"`
	Protocols    *Protocols    `json:"protocols,omitempty"`
	Findings     []Finding     `json:"findings"`
}

// WriteJSON writes reports as one JSON document for machines:
// {"endpoints": [...], "verdict": "pass"|"fail"}. Each endpoint has
// target, address and sni (served), file (stored and file), source
// ("served", "stored" or "file"), verdict, certificates (subject, issuer,
// serial, not_before, not_after, sha256), path (subject, from), chains
// (served only: each certificate the server sent, with label, key,
// versions, certificates and path), protocols (tls1_0 .. tls1_3: true,
// false or null when not probed; served only) and findings (check,
// severity, message).
func WriteJSON(w io.Writer, reports []*Report, strict bool) error {
	out := jsonOutput{Endpoints: []jsonEndpoint{}, Verdict: Verdict(reports, strict)}
	for _, r := range reports {
		out.Endpoints = append(out.Endpoints, jsonEndpoint{
			Target: r.Target, Address: r.Address, SNI: r.SNI, File: r.File, Source: r.Source,
			Verdict:      r.Verdict(strict),
			Certificates: nonNil(r.Certificates),
			Path:         nonNil(r.Path),
			Chains:       r.Chains,
			Protocols:    r.Protocols,
			Findings:     nonNil(r.Findings),
		})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
