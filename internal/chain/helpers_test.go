package chain

import (
	"errors"
	"strings"
	"testing"
)

// errCheck inspects an error a test expects.
type errCheck func(t *testing.T, err error)

// wantIs expects errors.Is(err, target) and a message containing each of parts.
func wantIs(target error, parts ...string) errCheck {
	return func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, target) {
			t.Fatalf("error = %v, want errors.Is %v", err, target)
		}
		wantParts(t, err, parts...)
	}
}

// wantIncomplete expects *IncompleteError for the gap issuer -> subject.
func wantIncomplete(issuer, subject string, parts ...string) errCheck {
	return func(t *testing.T, err error) {
		t.Helper()
		var ie *IncompleteError
		if !errors.As(err, &ie) {
			t.Fatalf("error = %v (%T), want *IncompleteError", err, err)
		}
		if ie.Issuer != issuer || ie.Subject != subject {
			t.Errorf("gap = %q above %q, want %q above %q", ie.Issuer, ie.Subject, issuer, subject)
		}
		wantParts(t, err, parts...)
	}
}

// wantMessage expects a message containing each of parts.
func wantMessage(parts ...string) errCheck {
	return func(t *testing.T, err error) {
		t.Helper()
		if err == nil {
			t.Fatal("error = nil, want an error")
		}
		wantParts(t, err, parts...)
	}
}

func wantParts(t *testing.T, err error, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}
