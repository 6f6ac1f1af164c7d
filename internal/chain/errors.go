package chain

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinels let callers decide with errors.Is whether a failure is one a
// retry cannot fix (a key or name mismatch means the order itself was wrong)
// without parsing messages. They are always returned wrapped with the detail a
// person needs.
var (
	// ErrKeyMismatch: the private key the order was made with is not the
	// leaf's key, so the pair would fail every TLS handshake.
	ErrKeyMismatch = errors.New("private key does not match the certificate")
	// ErrNameMismatch: the leaf does not name exactly the requested DNS names,
	// so deploying it would break or widen what the server answers for.
	ErrNameMismatch = errors.New("certificate names do not match the request")
	// ErrOrder: a certificate is not issued by the one after it. Strict
	// clients do not reorder a served chain.
	ErrOrder = errors.New("chain out of order")
)

// IncompleteError says the chain does not reach a trusted root and why: it is
// the error behind ERR_CERT_AUTHORITY_INVALID on clients that, unlike desktop
// browsers, never fetch a missing intermediate. Subject and Issuer name the
// gap so an operator can find the right intermediate; AIA and Err say what
// was tried to close it.
type IncompleteError struct {
	Subject string   // the last certificate on the path
	Issuer  string   // the issuer nobody supplied
	AIA     []string // caIssuers URLs tried (may be empty)
	Err     error    // last fetch or verify error, may be nil

	untrusted bool   // the issuer was supplied (or the path is self-signed) but is not a trusted root
	note      string // why nothing was fetched, when the certificate names AIA URLs
	msg       string // Analyze's words for the gap, when it found it
}

// Error says that the chain is incomplete, where the gap is and what was
// tried, on one line so it fits a log record and a record's last_error.
func (e *IncompleteError) Error() string {
	if e.msg != "" {
		return "verify chain: " + e.msg
	}
	var b strings.Builder
	if e.untrusted {
		fmt.Fprintf(&b, "chain incomplete: issuer %q of %q is not a trusted root", e.Issuer, e.Subject)
	} else {
		fmt.Fprintf(&b, "chain incomplete: no certificate for issuer %q of %q", e.Issuer, e.Subject)
	}
	var why []string
	switch {
	case len(e.AIA) > 0:
		reason := "no issuer certificate found"
		if e.Err != nil {
			reason = e.Err.Error()
		}
		why = append(why, "AIA caIssuers "+strings.Join(e.AIA, ", ")+": "+reason)
	case e.note != "":
		why = append(why, e.note)
	case !e.untrusted:
		why = append(why, "no AIA caIssuers URL in the certificate")
	}
	if len(e.AIA) == 0 && e.Err != nil {
		why = append(why, e.Err.Error())
	}
	if len(why) > 0 {
		b.WriteString(" (" + strings.Join(why, "; ") + ")")
	}
	return b.String()
}

// UntrustedRoot reports whether the path is complete up to a root that is
// not trusted: every issuer was found, the last one is self-signed or
// supplied, but no trusted root signs it (a staging CA, a private CA whose
// root is not in trust.extra_roots).
func (e *IncompleteError) UntrustedRoot() bool { return e.untrusted }

// Unwrap exposes the fetch or verify error, so errors.Is and errors.As find
// context.DeadlineExceeded or x509.UnknownAuthorityError behind the gap.
func (e *IncompleteError) Unwrap() error { return e.Err }
