package importer

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/store"
)

// Candidate is one certificate another tool manages, mapped to what renewd
// needs. The readers (ReadCertbot, ReadAcmeSh, ReadBaota) fill it from the
// tool's files; they never order, write or connect.
type Candidate struct {
	// Origin is the tool's file that describes the certificate.
	Origin string
	// Name is the renewd certificate name (passes store.ValidName).
	Name string
	// Domains are the names to renew, lower-case.
	Domains []string
	// Challenge is the tool's way of proving control, mapped.
	Challenge config.Challenge
	// Env lists the DNS provider's variables renewd's environment must
	// have, with where the other tool kept each value.
	Env []EnvVar
	// Deploy is where the tool installed the certificate; the nginx
	// match (MatchNginx) may fill or correct it.
	Deploy config.Deploy
	// Targets are files nginx may read for this certificate, best first:
	// the tool's full chain, then its other copies.
	Targets []string
	// CertFiles hold the current certificate: the leaf first in the
	// first file, then every file with intermediates the tool kept.
	CertFiles []string
	// KeyFile holds its private key.
	KeyFile string
	// CA is the ACME directory the tool renews from, when it says.
	CA string
	// Notes say what is not carried over, for the person importing.
	Notes []string
	// Refused says why the certificate cannot be taken over; the other
	// fields may be incomplete then.
	Refused error
}

// EnvVar is a variable a DNS-01 provider needs.
type EnvVar struct {
	// Name is lego's variable name, such as ALICLOUD_ACCESS_KEY.
	Name string
	// From says where the other tool keeps the value (file and key), so
	// a person can copy it into renewd's environment file. The value
	// itself is never read into the plan or printed.
	From string
}

func (c *Candidate) refuse(format string, args ...any) *Candidate {
	c.Refused = fmt.Errorf(format, args...)
	return c
}

func (c *Candidate) note(format string, args ...any) {
	c.Notes = append(c.Notes, fmt.Sprintf(format, args...))
}

// certName turns a lineage, domain or site name into a renewd
// certificate name: a wildcard's "*." becomes a "-wildcard" suffix, other
// characters renewd does not take become "-", and it is cut to
// store.MaxNameLen.
func certName(s string) string {
	s = strings.ToLower(s)
	if rest, ok := strings.CutPrefix(s, "*."); ok {
		s = rest + "-wildcard"
	}
	var b strings.Builder
	for i, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || i > 0 && (r == '.' || r == '_' || r == '-')
		if !ok {
			r = '-'
		}
		b.WriteRune(r)
	}
	out := strings.ReplaceAll(b.String(), "..", ".")
	if len(out) > store.MaxNameLen {
		out = out[:store.MaxNameLen]
	}
	out = strings.TrimRight(out, ".-_")
	if store.ValidName(out) != nil {
		return "imported-" + strings.TrimLeft(out, ".-_")
	}
	return out
}

// keyTypeOf is renewd's key_type for the key the current certificate has,
// so renewals keep the kind of key the site had.
func keyTypeOf(leaf *x509.Certificate) (string, error) {
	switch k := leaf.PublicKey.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve.Params().BitSize {
		case 256:
			return "ec256", nil
		case 384:
			return "ec384", nil
		}
	case *rsa.PublicKey:
		switch n := k.N.BitLen(); n {
		case 2048, 3072, 4096:
			return fmt.Sprintf("rsa%d", n), nil
		}
	}
	return "", fmt.Errorf("its key is %s; renewd issues ec256, ec384, rsa2048, rsa3072 and rsa4096 keys", describeKey(leaf))
}

func describeKey(leaf *x509.Certificate) string {
	switch k := leaf.PublicKey.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d-bit", k.N.BitLen())
	}
	return fmt.Sprintf("%T", leaf.PublicKey)
}
