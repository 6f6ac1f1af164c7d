package notify

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// message is what one notification says, before a target's format turns
// it into a request body: a title and labelled rows of plain text.
type message struct {
	title  string
	rows   []row
	events []Event // what the message is about, for the webhook payload
	digest bool
}

type row struct{ label, value string }

// Limits of one value, so a long error (an errors.Join of every domain)
// cannot crowd out the rest.
const (
	maxError       = 1000
	maxDigestValue = 160
)

// render turns events (already filtered for one target) into messages:
// one per event, or one digest when there are more than threshold.
func render(events []Event, host string, threshold int) []*message {
	if len(events) > threshold {
		return []*message{digest(events, host)}
	}
	msgs := make([]*message, 0, len(events))
	for _, e := range events {
		msgs = append(msgs, single(e, host))
	}
	return msgs
}

func prefix(host string) string {
	if host == "" {
		return "renewd"
	}
	return "renewd@" + host
}

func single(e Event, host string) *message {
	name := e.Certificate
	if name == "" {
		name = "unknown canary"
	}
	m := &message{title: fmt.Sprintf("%s: %s: %s", prefix(host), e.Kind.title(), name), events: []Event{e}}
	add := func(label, value string) {
		if value != "" {
			m.rows = append(m.rows, row{label, value})
		}
	}
	add("Domains", strings.Join(e.Domains, ", "))
	switch e.Kind {
	case RenewalFailed, ChainIncomplete:
		if e.Kind == ChainIncomplete {
			add("What", "after the reload nginx did not serve a complete chain (strict clients such as WeChat mini-programs, Android apps and curl would fail); the previous files were restored")
		}
		add("Error", clip(oneLine(e.Error), maxError))
		add("Attempt", retry(e))
		add("Valid until", validity(e))
	case Recovered:
		add("After", plural(e.RetryCount, "failed attempt"))
		add("Valid until", validity(e))
	case CanaryFailed:
		add("Held", strings.Join(e.Held, ", ")+" (not attempted in this run; they keep their current certificates)")
		add("Cause", clip(oneLine(e.Error), maxError))
	case ChainRepaired:
		add("What", "renewd stored a complete chain, but only after repairing the CA's answer; the CA (or its ACME setup) is misconfigured, and other clients may store what it sends as it is")
		add("Repairs", clip(oneLine(e.Error), maxError))
	case CanaryBypassed:
		add("Canary", e.Canary+" is failing; this certificate was renewed anyway")
		add("Why", clip(oneLine(e.Error), maxError))
		add("Valid until", validity(e))
	case Expiring:
		add("Expires", validity(e))
		add("Cause", clip(oneLine(e.Cause), maxError))
		add("Last error", clip(oneLine(e.Error), maxError))
		add("Attempt", retry(e))
	}
	return m
}

func digest(events []Event, host string) *message {
	m := &message{title: fmt.Sprintf("%s: %d certificate events", prefix(host), len(events)), events: events, digest: true}
	for _, e := range events {
		var v string
		switch e.Kind {
		case RenewalFailed, ChainIncomplete:
			v = oneLine(e.Error)
		case Recovered:
			v = "valid until " + validity(e)
		case CanaryFailed:
			v = "held: " + strings.Join(e.Held, ", ")
		case CanaryBypassed:
			v = "despite failing canary " + e.Canary + ": " + oneLine(e.Error)
		case ChainRepaired:
			v = oneLine(e.Error)
		case Expiring:
			v = "expires " + validity(e)
			if e.Cause != "" {
				v += "; " + oneLine(e.Cause)
			}
		}
		name := e.Certificate
		if name == "" {
			name = "unknown canary"
		}
		m.rows = append(m.rows, row{e.Kind.title() + ": " + name, clip(v, maxDigestValue)})
	}
	return m
}

func retry(e Event) string {
	if e.RetryCount == 0 {
		return ""
	}
	s := fmt.Sprintf("failed %s in a row", plural(e.RetryCount, "time"))
	if e.NextRetry != nil {
		s += ", next attempt " + e.NextRetry.Format(time.RFC3339)
	}
	return s
}

// validity says when the certificate in use expires, relative to the
// event's time.
func validity(e Event) string {
	if e.NotAfter == nil {
		return "no certificate issued yet"
	}
	s := e.NotAfter.Format(time.RFC3339)
	left := e.NotAfter.Sub(e.At)
	switch {
	case left < 0:
		return s + " (EXPIRED)"
	case left < 48*time.Hour:
		return s + fmt.Sprintf(" (in %s)", plural(int(left.Hours()), "hour"))
	}
	return s + fmt.Sprintf(" (in %s)", plural(int(left.Hours()/24), "day"))
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// oneLine joins the lines of a multi-line error (errors.Join) so that a
// row stays a row.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(strings.TrimSpace(s), "\n", " | ")), " ")
}

// clip shortens s to at most n bytes, on a rune boundary, marking the cut.
func clip(s string, n int) string {
	const more = "…"
	if len(s) <= n {
		return s
	}
	cut := max(0, n-len(more))
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + more
}

// text renders m as plain text of at most limit bytes: rows that do not
// fit are left out and counted.
func (m *message) text(limit int) string {
	return m.layout(limit, m.title, func(r row) string { return r.label + ": " + r.value })
}

// markdown renders m in the Markdown subset WeCom and DingTalk robots
// share (headings, bold, lists), at most limit bytes. '<' and '>' become
// look-alikes so that text from an error cannot open a tag (WeCom reads
// <font>).
func (m *message) markdown(limit int) string {
	esc := strings.NewReplacer("<", "‹", ">", "›")
	line := func(r row) string { return "**" + esc.Replace(r.label) + "**: " + esc.Replace(r.value) }
	if m.digest {
		line = func(r row) string { return "- **" + esc.Replace(r.label) + "**: " + esc.Replace(r.value) }
	}
	return m.layout(limit, "### "+esc.Replace(m.title), line)
}

// paragraphs are the rows as plain text lines, for Feishu's post format.
func (m *message) paragraphs(limit int) []string {
	return strings.Split(m.layout(limit, "", func(r row) string { return r.label + ": " + r.value }), "\n")
}

func (m *message) layout(limit int, head string, line func(row) string) string {
	var lines []string
	if head != "" {
		lines = append(lines, head)
	}
	base := len(lines)
	for _, r := range m.rows {
		lines = append(lines, line(r))
	}
	full := strings.Join(lines, "\n")
	if len(full) <= limit {
		return full
	}
	// Leave rows out from the end, saying how many, until it fits.
	for n := len(m.rows) - 1; n >= 0; n-- {
		tail := fmt.Sprintf("… %d more not shown (see renewd status)", len(m.rows)-n)
		if s := strings.Join(append(slices.Clone(lines[:base+n]), tail), "\n"); len(s) <= limit {
			return s
		}
	}
	return clip(full, limit)
}
