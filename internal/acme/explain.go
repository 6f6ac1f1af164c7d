package acme

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"

	legoacme "github.com/go-acme/lego/v4/acme"

	"github.com/renewd/renewd/internal/config"
)

// Failures, for a person. lego's error for a failed order is several lines
// ("error: one or more domains had a problem:" and then one line per
// domain, in random order), and its first line says nothing. Summary turns
// any renewal error into one line that starts with the cause, with a hint
// for the problems people meet in their first hour (docs/troubleshooting.md
// lists them). The whole text stays available as the error's Error().

// problemPrefix starts every RFC 8555 problem type.
const problemPrefix = "urn:ietf:params:acme:error:"

// problemHints are the hints for the common ACME problem types, by their
// short name (RFC 8555 section 6.7).
var problemHints = map[string]string{
	"unauthorized":        "the CA did not get the expected answer to the challenge: does the name point at this server, and does the answer reach the CA unchanged?",
	"dns":                 "the CA could not look the name up: check its A/AAAA records (http-01) or the _acme-challenge TXT record (dns-01) at your DNS provider",
	"connection":          "the CA could not connect to this server: does the name point here, and is port 80 open to the internet?",
	"rateLimited":         "a rate limit of the CA: renewd retries after the time the CA gave; do not repeat renew --now meanwhile",
	"badNonce":            "the CA kept refusing the request's nonce, usually a passing fault of the CA or of a proxy in between; renewd retries with backoff",
	"caa":                 "a CAA record of the domain does not allow this CA: add one that names it (letsencrypt.org for Let's Encrypt), or remove the restriction",
	"rejectedIdentifier":  "the CA will not issue for this name (a blocked, reserved or misspelled name): check domains in the certificate's file",
	"accountDoesNotExist": "the CA does not know the ACME account renewd used; renewd registers a new one and orders again at once (see the log), so this error means the CA refused that too or the new account key could not be written to storage",
	"invalidContact":      "the CA refused acme.email: use a real address you read (Let's Encrypt refuses example.com, example.net and example.org)",
}

// hintFor returns the hint for a problem type (full or short), "" for none.
func hintFor(problemType string) string {
	return problemHints[strings.TrimPrefix(problemType, problemPrefix)]
}

// token404 finds an HTTP-01 token URL answered with 404 in a CA's detail:
// Pebble says "Non-200 status code from HTTP: URL returned 404", Boulder
// (Let's Encrypt) "Invalid response from URL: 404", step-ca "... URL ...
// status code 404".
var token404 = regexp.MustCompile(`(https?://[^\s"']*/\.well-known/acme-challenge/[A-Za-z0-9_-]+)[^0-9]{0,40}\b404\b`)

// explainedError is an order's error with its one-line summary. Error()
// is the whole text; errors.Is and errors.As see through it.
type explainedError struct {
	err     error
	summary string
}

func (e *explainedError) Error() string { return e.err.Error() }
func (e *explainedError) Unwrap() error { return e.err }

// Summary returns err's cause on one line, for a person: for a failed
// ACME order, one clause per failed domain ("http-01 for
// shop.example.com: URL returned 404 (hint)"); for any other error, its
// text with line breaks turned into "; ". The empty string for nil.
func Summary(err error) string {
	if err == nil {
		return ""
	}
	text := err.Error()
	var ee *explainedError
	if errors.As(err, &ee) {
		// Keep what was said around the order's error ("...; and
		// recording it failed: ..."), with the order's part summarized.
		if inner := ee.Error(); strings.Contains(text, inner) {
			return OneLine(strings.Replace(text, inner, ee.summary, 1))
		}
		return ee.summary
	}
	return OneLine(text)
}

// OneLine joins the lines of s with "; ", dropping empty ones and the
// colon a line ends with when the next one explains it.
func OneLine(s string) string {
	var parts []string
	for l := range strings.SplitSeq(strings.TrimSpace(s), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	for i := range len(parts) - 1 {
		parts[i] = strings.TrimSuffix(parts[i], ":")
	}
	return strings.Join(parts, "; ")
}

// explain wraps an order's error with its summary for cert (see Summary).
// mask hides the certificate's secrets in the summary, as Obtain's error.
func explain(err error, cert *config.Certificate, mask func(string) string) error {
	if err == nil {
		return nil
	}
	return &explainedError{err: err, summary: mask(summarize(err, cert))}
}

// summarize is Summary for an error of Obtain, before masking. Domains
// that failed for the same reason share one clause.
func summarize(err error, cert *config.Certificate) string {
	doms := domainErrors(err)
	if len(doms) == 0 {
		return cause(err, cert)
	}
	var causes []string
	byCause := map[string][]string{}
	for _, d := range doms {
		c := cause(d.err, cert)
		if _, seen := byCause[c]; !seen {
			causes = append(causes, c)
		}
		byCause[c] = append(byCause[c], d.domain)
	}
	parts := make([]string, 0, len(causes))
	for _, c := range causes {
		parts = append(parts, fmt.Sprintf("%s for %s: %s", cert.Challenge.Type, strings.Join(byCause[c], ", "), c))
	}
	return strings.Join(parts, "; ")
}

// domainError is one domain's part of lego's failed order.
type domainError struct {
	domain string
	err    error
}

// domainErrors finds the per-domain errors of lego's failed order, sorted
// by domain; none when err has no such part. lego reports a failed
// challenge as a map of domain to error (its resolver's obtainError), and
// a failed finalization as an errors.Join of "domain: error".
func domainErrors(err error) []domainError {
	var out []domainError
	for e := err; e != nil && out == nil; e = errors.Unwrap(e) {
		if v := reflect.ValueOf(e); v.Kind() == reflect.Map && v.Type().Key().Kind() == reflect.String {
			for _, k := range v.MapKeys() {
				if de, ok := v.MapIndex(k).Interface().(error); ok && de != nil {
					out = append(out, domainError{domain: k.String(), err: de})
				}
			}
			continue
		}
		j, ok := e.(interface{ Unwrap() []error })
		if !ok {
			continue
		}
		for _, de := range j.Unwrap() {
			domain, _, found := strings.Cut(de.Error(), ": ")
			if !found || strings.ContainsAny(domain, " \n") {
				return nil // not lego's "domain: error" list
			}
			out = append(out, domainError{domain: domain, err: de})
		}
		if out == nil {
			return nil
		}
	}
	slices.SortFunc(out, func(a, b domainError) int { return strings.Compare(a.domain, b.domain) })
	return out
}

// cause says on one line why err happened: an ACME problem as its short
// type, the CA's detail and a hint; anything else as its text.
func cause(err error, cert *config.Certificate) string {
	var pd *legoacme.ProblemDetails
	if !errors.As(err, &pd) {
		return OneLine(stripDomain(err.Error()))
	}
	detail := OneLine(pd.Detail)
	if m := token404.FindStringSubmatch(detail); m != nil {
		return fmt.Sprintf("%s returned 404 (%s)", m[1], hint404(cert))
	}
	s := strings.TrimPrefix(pd.Type, problemPrefix)
	if pd.HTTPStatus == 429 || pd.HTTPStatus >= 500 {
		// The CA's own trouble: its status says which (a 503 is
		// maintenance, a 500 a bug), unlike a challenge's 403.
		s += fmt.Sprintf(" (HTTP %d)", pd.HTTPStatus)
	}
	s += ": " + detail
	for _, sub := range pd.SubProblems {
		s += fmt.Sprintf("; %s: %s", strings.TrimPrefix(sub.Type, problemPrefix), OneLine(sub.Detail))
	}
	if h := hintFor(pd.Type); h != "" {
		s += " (" + h + ")"
	}
	return s
}

// stripDomain drops lego's "[domain] " or "domain: " before an error that
// a clause already names the domain of.
func stripDomain(s string) string {
	if strings.HasPrefix(s, "[") {
		if i := strings.Index(s, "] "); i > 0 && !strings.Contains(s[:i], " ") {
			s = s[i+2:]
		}
	}
	if d, rest, ok := strings.Cut(s, ": "); ok && !strings.ContainsAny(d, " \n") && strings.Contains(d, ".") {
		s = rest
	}
	return s
}

// hint404 says what a 404 on the HTTP-01 token URL usually means for the
// way cert answers challenges.
func hint404(cert *config.Certificate) string {
	if cert.Challenge.HTTP01.Listen != "" {
		return fmt.Sprintf("is nginx's location /.well-known/acme-challenge/ passed to renewd's listen address %s?", cert.Challenge.HTTP01.Listen)
	}
	return "is nginx's location /.well-known/acme-challenge/ pointed at the webroot?"
}
