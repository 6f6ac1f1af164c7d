package chain

import (
	"errors"
	"testing"
)

func TestIncompleteErrorMessage(t *testing.T) {
	fetchErr := errors.New("fetch failed: HTTP 404 Not Found")
	tests := []struct {
		desc string
		err  *IncompleteError
		want string
	}{
		{desc: "no AIA",
			err:  &IncompleteError{Subject: "CN=shop.example.com", Issuer: "CN=Pebble Intermediate CA 1a2b3c"},
			want: `chain incomplete: no certificate for issuer "CN=Pebble Intermediate CA 1a2b3c" of "CN=shop.example.com" (no AIA caIssuers URL in the certificate)`},
		{desc: "AIA fetch failed",
			err:  &IncompleteError{Subject: "CN=shop.example.com", Issuer: "CN=R1", AIA: []string{"http://x/y.der"}, Err: fetchErr},
			want: `chain incomplete: no certificate for issuer "CN=R1" of "CN=shop.example.com" (AIA caIssuers http://x/y.der: fetch failed: HTTP 404 Not Found)`},
		{desc: "two AIA URLs, no error",
			err:  &IncompleteError{Subject: "CN=a", Issuer: "CN=b", AIA: []string{"http://x/1", "http://x/2"}},
			want: `chain incomplete: no certificate for issuer "CN=b" of "CN=a" (AIA caIssuers http://x/1, http://x/2: no issuer certificate found)`},
		{desc: "verify error without AIA",
			err:  &IncompleteError{Subject: "CN=a", Issuer: "CN=b", Err: errors.New("x509: certificate signed by unknown authority")},
			want: `chain incomplete: no certificate for issuer "CN=b" of "CN=a" (no AIA caIssuers URL in the certificate; x509: certificate signed by unknown authority)`},
		{desc: "untrusted root",
			err:  &IncompleteError{Subject: "CN=a", Issuer: "CN=Root", untrusted: true, Err: errors.New("x509: certificate signed by unknown authority")},
			want: `chain incomplete: issuer "CN=Root" of "CN=a" is not a trusted root (x509: certificate signed by unknown authority)`},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() =\n%s\nwant\n%s", got, tt.want)
			}
			if !errors.Is(tt.err, tt.err.Err) && tt.err.Err != nil {
				t.Errorf("Unwrap does not expose Err")
			}
		})
	}
}
