package check

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/renewd/renewd/internal/chain"
)

// Severity is how much a Finding matters. Only Fail fails an endpoint,
// unless the caller is strict (`renewd check --strict`), when Warn does too.
type Severity string

// The severities, from harmless to fatal.
const (
	Pass Severity = "pass"
	Warn Severity = "warn"
	Fail Severity = "fail"
)

// Check names the aspect a Finding is about. Findings are reported in the
// order of these constants.
type Check string

// The checks. Connect, Files, OCSP, Key and Serial appear only when they
// apply: Connect when the server cannot be reached or does not complete a
// TLS handshake, Files for a chain read from disk, OCSP for a must-staple
// leaf, Key when a private key is judged, Serial when an expected serial
// was given.
const (
	Connect  Check = "connect"  // TCP connection and TLS handshake
	Files    Check = "files"    // the stored files can be read and parsed
	Chain    Check = "chain"    // the path from the leaf to a trusted root
	Names    Check = "names"    // the requested names are covered by the SANs
	Usage    Check = "usage"    // what the leaf may be used for: key usage, extended key usage
	OCSP     Check = "ocsp"     // a must-staple leaf gets its stapled OCSP response
	Validity Check = "validity" // dates of the leaf and its issuers
	Crypto   Check = "crypto"   // signature algorithms, key types and sizes
	Protocol Check = "protocol" // accepted TLS versions and cipher suites
	Key      Check = "key"      // the private key matches the leaf
	Serial   Check = "serial"   // the server sends the expected certificate
)

var checkOrder = []Check{Connect, Files, Chain, Names, Usage, OCSP, Validity, Crypto, Protocol, Key, Serial}

// Finding is one verdict about one aspect of an endpoint, with a message a
// person can act on.
type Finding struct {
	Check    Check    `json:"check"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
}

// Source says where a judged chain came from.
type Source string

// The sources.
const (
	Served Source = "served" // sent by a TLS server
	Stored Source = "stored" // read from renewd's live/<name>/fullchain.pem
	File   Source = "file"   // a PEM file named on the command line
)

// Certificate summarises one certificate of a chain as sent.
type Certificate struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	Serial    string    `json:"serial"` // lowercase hex, no colons, as in the records
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	SHA256    string    `json:"sha256"` // of the DER, lowercase hex
}

// PathEntry is one step of the path from the leaf toward a trust anchor.
type PathEntry struct {
	Subject string `json:"subject"`
	// From is "chain" (sent by the server or in the file), "trust_store"
	// (the trusted root the path ends at) or "missing" (an issuer nobody
	// supplied: the gap strict clients fail on).
	From string `json:"from"`
}

// Where a PathEntry comes from: chain.From's values.
const (
	FromChain      = string(chain.FromSent)
	FromTrustStore = string(chain.FromTrustStore)
	FromMissing    = string(chain.FromMissing)
)

// ServedChain is one certificate a server sends, with its chain: a server
// may have an ECDSA and an RSA certificate and send either, depending on
// what the client offers.
type ServedChain struct {
	// Label names it in findings when a server sends more than one, such
	// as "ECDSA P-256 certificate".
	Label string `json:"label"`
	// Key is the leaf's key type, as "ECDSA P-256" or "RSA 2048-bit".
	Key string `json:"key"`
	// Versions are the TLS versions it was sent in, as "TLS 1.3".
	Versions     []string      `json:"versions"`
	Certificates []Certificate `json:"certificates"`
	Path         []PathEntry   `json:"path"`
}

// Protocols says which TLS versions a server accepted: true, false, or nil
// when the version could not be probed (the reason is in a Finding).
type Protocols struct {
	TLS10 *bool `json:"tls1_0"`
	TLS11 *bool `json:"tls1_1"`
	TLS12 *bool `json:"tls1_2"`
	TLS13 *bool `json:"tls1_3"`
}

// Report is the judgement of one endpoint: a server address with an SNI
// name, or a stored chain.
type Report struct {
	Target  string // what was asked for: a certificate name or HOST[:PORT]
	Address string // host:port connected to; empty for a stored chain
	SNI     string // server name sent; empty for a stored chain
	File    string // the fullchain file, for a stored chain
	Source  Source
	// Certificates are the certificates as sent, in the order sent.
	Certificates []Certificate
	// Path is the path built from the leaf: to a trusted root when the chain
	// is complete, else as far as the sent certificates reach.
	Path []PathEntry
	// Chains are the certificates a server sent, each with its chain, when
	// served: Certificates and Path are the first of them.
	Chains []ServedChain
	// Protocols is nil for a stored chain.
	Protocols *Protocols
	// Findings are sorted by Check, then failures before warnings before
	// passes.
	Findings []Finding

	chainErr error // the chain judge's error for the first chain, if any
}

// Failed reports whether r has a failure, or with strict a warning.
func (r *Report) Failed(strict bool) bool {
	for _, f := range r.Findings {
		if f.Severity == Fail || strict && f.Severity == Warn {
			return true
		}
	}
	return false
}

// Warned reports whether r has a warning.
func (r *Report) Warned() bool {
	return slices.ContainsFunc(r.Findings, func(f Finding) bool { return f.Severity == Warn })
}

// Err returns nil when r passes, else a *ReportError whose message lists
// what failed on one line, for a log record or a record's last_error.
func (r *Report) Err(strict bool) error {
	if !r.Failed(strict) {
		return nil
	}
	return &ReportError{Report: r, Strict: strict}
}

// ReportError is a failed Report as an error. Callers that need the details
// (to show every finding, or the served serial) take them from Report.
type ReportError struct {
	Report *Report
	Strict bool // warnings counted as failures
}

// Error names the endpoint and every failing finding.
func (e *ReportError) Error() string {
	var parts []string
	for _, f := range e.Report.Findings {
		if f.Severity == Fail || e.Strict && f.Severity == Warn {
			parts = append(parts, string(f.Check)+": "+f.Message)
		}
	}
	return fmt.Sprintf("check %s failed: %s", e.Report.describe(), strings.Join(parts, "; "))
}

// Unwrap returns what the chain judge decided about a chain that does not
// verify (a *chain.IncompleteError for a path that does not reach a trusted
// root), so callers can react to the kind of failure with errors.As.
func (e *ReportError) Unwrap() error { return e.Report.chainErr }

// describe names the endpoint for people.
func (r *Report) describe() string {
	switch {
	case r.Source == Stored:
		return "of stored " + r.File
	case r.Source == File:
		return "of " + r.File
	case r.Address == "":
		return "of the chain served for " + r.SNI
	}
	if r.SNI == "" || r.SNI == hostOf(r.Address) {
		return "of " + r.Address
	}
	return fmt.Sprintf("of %s (SNI %s)", r.Address, r.SNI)
}

// add appends a finding.
func (r *Report) add(c Check, s Severity, format string, args ...any) {
	r.Findings = append(r.Findings, Finding{Check: c, Severity: s, Message: fmt.Sprintf(format, args...)})
}

// sortFindings orders findings by check, then by severity (failures first),
// keeping the order within equal keys, so output is stable.
func (r *Report) sortFindings() {
	slices.SortStableFunc(r.Findings, func(a, b Finding) int {
		if d := slices.Index(checkOrder, a.Check) - slices.Index(checkOrder, b.Check); d != 0 {
			return d
		}
		return severityRank(a.Severity) - severityRank(b.Severity)
	})
}

func severityRank(s Severity) int {
	switch s {
	case Fail:
		return 0
	case Warn:
		return 1
	default:
		return 2
	}
}

// summarize lists certs as sent.
func summarize(certs []*x509.Certificate) []Certificate {
	out := make([]Certificate, len(certs))
	for i, c := range certs {
		sum := sha256.Sum256(c.Raw)
		out[i] = Certificate{
			Subject:   chain.Describe(c),
			Issuer:    c.Issuer.String(),
			Serial:    c.SerialNumber.Text(16),
			NotBefore: c.NotBefore.UTC(),
			NotAfter:  c.NotAfter.UTC(),
			SHA256:    hex.EncodeToString(sum[:]),
		}
	}
	return out
}

// rfc3339 formats t the way every --json output does.
func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }
