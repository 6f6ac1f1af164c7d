package testpki

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"net"
	"time"
)

// spec is what the options of one certificate set.
type spec struct {
	cn                 string
	names              []string
	ips                []net.IP
	keyType            KeyType
	key                crypto.Signer
	keyUsage           *x509.KeyUsage
	extKeyUsage        *[]x509.ExtKeyUsage
	isCA               *bool
	noBasicConstraints bool
	maxPathLen         *int
	sigAlg             x509.SignatureAlgorithm
	aia                []string
	ski, aki           []byte
	notBefore          time.Time
	notAfter           time.Time
	serial             *int64
	permittedDNS       []string
	extensions         []pkix.Extension
}

// Option sets one property of a certificate.
type Option func(*spec)

// CN sets the subject common name. Roots default to "Test Root CA"; other
// certificates have no default.
func CN(name string) Option { return func(s *spec) { s.cn = name } }

// Names sets the DNS SANs; a certificate with names is a leaf.
func Names(names ...string) Option { return func(s *spec) { s.names = names } }

// IPs sets the IP address SANs; a certificate with IP addresses is a leaf.
func IPs(ips ...net.IP) Option { return func(s *spec) { s.ips = ips } }

// Key sets the type of a newly generated key (default ECDSA P-256).
func Key(t KeyType) Option { return func(s *spec) { s.keyType = t } }

// WithKey uses k instead of generating a key: a second certificate for the
// same CA key (a renewed or cross-signed intermediate), or a leaf for a
// known key.
func WithKey(k crypto.Signer) Option { return func(s *spec) { s.key = k } }

// KeyUsage sets the key usage bits exactly; 0 leaves the extension out.
func KeyUsage(ku x509.KeyUsage) Option { return func(s *spec) { s.keyUsage = &ku } }

// ExtKeyUsage sets the extended key usages exactly; none leaves the
// extension out.
func ExtKeyUsage(eku ...x509.ExtKeyUsage) Option { return func(s *spec) { s.extKeyUsage = &eku } }

// CA sets the basic constraints CA bit, whatever the certificate is.
func CA(isCA bool) Option { return func(s *spec) { s.isCA = &isCA } }

// NoBasicConstraints leaves the basic constraints extension out.
func NoBasicConstraints() Option { return func(s *spec) { s.noBasicConstraints = true } }

// MaxPathLen sets the basic constraints path length of a CA.
func MaxPathLen(n int) Option { return func(s *spec) { s.maxPathLen = &n } }

// SigAlg sets the algorithm the issuer signs with (zero: Go's default for
// the issuer's key).
func SigAlg(a x509.SignatureAlgorithm) Option { return func(s *spec) { s.sigAlg = a } }

// AIA sets the caIssuers URLs of the authority information access
// extension.
func AIA(urls ...string) Option { return func(s *spec) { s.aia = urls } }

// SubjectKeyID overrides the subject key identifier (by default Go derives
// one for CAs and leaves it out of leaves).
func SubjectKeyID(id []byte) Option { return func(s *spec) { s.ski = id } }

// AuthorityKeyID overrides the authority key identifier, which otherwise
// is the issuer's subject key identifier: a wrong one makes a certificate
// whose signature is valid but which names another issuer key.
func AuthorityKeyID(id []byte) Option { return func(s *spec) { s.aki = id } }

// Validity sets the dates.
func Validity(notBefore, notAfter time.Time) Option {
	return func(s *spec) { s.notBefore, s.notAfter = notBefore, notAfter }
}

// NotBefore sets the start of the validity and leaves the end at its
// default; the zero time keeps the default start.
func NotBefore(t time.Time) Option { return func(s *spec) { s.notBefore = t } }

// NotAfter sets the end of the validity and leaves the start at its
// default; the zero time keeps the default end.
func NotAfter(t time.Time) Option { return func(s *spec) { s.notAfter = t } }

// Serial sets the serial number (by default one derived from the
// certificate's name, dates and key).
func Serial(n int64) Option { return func(s *spec) { s.serial = &n } }

// PermittedDNSDomains makes a CA's name constraints allow only these DNS
// domains (critical, as RFC 5280 asks).
func PermittedDNSDomains(domains ...string) Option {
	return func(s *spec) { s.permittedDNS = domains }
}

// oidTLSFeature is the TLS feature extension (RFC 7633).
var oidTLSFeature = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 24}

// MustStaple adds the TLS feature extension with status_request (RFC 7633):
// clients that honour it require a stapled OCSP response.
func MustStaple() Option {
	return func(s *spec) {
		der, _ := asn1.Marshal([]int{5}) // status_request
		s.extensions = append(s.extensions, pkix.Extension{Id: oidTLSFeature, Value: der})
	}
}
