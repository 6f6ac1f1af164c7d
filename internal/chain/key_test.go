package chain

import (
	"crypto"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/renewd/renewd/internal/testpki"
)

func TestKeyMatches(t *testing.T) {
	root := newRoot(t, "Key Root")
	key := func(kt testpki.KeyType) crypto.Signer {
		k, err := testpki.NewKey(kt)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	ecKey, otherEC, rsaKey, edKey := key(testpki.ECDSAP256), key(testpki.ECDSAP256), key(testpki.RSA2048), key(testpki.Ed25519)
	leafFor := func(key crypto.Signer) *x509.Certificate {
		return issue(t, root, certSpec{cn: "k.example.com", names: []string{"k.example.com"}, key: key}).Cert
	}
	ecLeaf, rsaLeaf, edLeaf := leafFor(ecKey), leafFor(rsaKey), leafFor(edKey)

	tests := []struct {
		desc string
		leaf *x509.Certificate
		key  crypto.Signer
		want bool
	}{
		{desc: "ECDSA match", leaf: ecLeaf, key: ecKey, want: true},
		{desc: "ECDSA other key", leaf: ecLeaf, key: otherEC},
		{desc: "RSA match", leaf: rsaLeaf, key: rsaKey, want: true},
		{desc: "Ed25519 match", leaf: edLeaf, key: edKey, want: true},
		{desc: "RSA leaf, ECDSA key", leaf: rsaLeaf, key: ecKey},
		{desc: "ECDSA leaf, Ed25519 key", leaf: ecLeaf, key: edKey},
		{desc: "unsupported key type", leaf: ecLeaf, key: oddSigner{}},
		{desc: "nil key", leaf: ecLeaf},
		{desc: "nil leaf", key: ecKey},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := KeyMatches(tt.leaf, tt.key); got != tt.want {
				t.Errorf("KeyMatches = %v, want %v", got, tt.want)
			}
		})
	}
}

// oddSigner has a public key type renewd never orders with.
type oddSigner struct{}

func (oddSigner) Public() crypto.PublicKey {
	k, _ := ecdh.X25519().GenerateKey(rand.Reader)
	return k.PublicKey()
}

func (oddSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("no")
}

func TestMatchNames(t *testing.T) {
	root := newRoot(t, "Names Root")
	tmpl := issue(t, root, certSpec{cn: "", names: []string{"Shop.Example.com", "*.example.com"}})
	withIP := issue(t, root, certSpec{cn: "", names: []string{"Shop.Example.com", "*.example.com"}, key: tmpl.Key,
		ips: []net.IP{net.ParseIP("192.0.2.1"), net.ParseIP("2001:db8::1")}})

	tests := []struct {
		desc    string
		leaf    *x509.Certificate
		domains []string
		wantErr errCheck
	}{
		{desc: "same set", leaf: tmpl.Cert, domains: []string{"*.example.com", "shop.example.com"}},
		{desc: "duplicates and trailing dot", leaf: tmpl.Cert, domains: []string{"shop.example.com.", "SHOP.example.com", "*.EXAMPLE.com"}},
		{desc: "IP addresses", leaf: withIP.Cert, domains: []string{"shop.example.com", "*.example.com", "192.0.2.1", "2001:DB8:0::1"}},
		{desc: "IP not requested", leaf: withIP.Cert, domains: []string{"shop.example.com", "*.example.com"},
			wantErr: wantIs(ErrNameMismatch, "not requested 192.0.2.1, 2001:db8::1")},
		{desc: "wildcard is not its base name", leaf: tmpl.Cert, domains: []string{"shop.example.com", "example.com"},
			wantErr: wantIs(ErrNameMismatch, "missing example.com; not requested *.example.com")},
		{desc: "empty subject is named by SAN", leaf: tmpl.Cert, domains: []string{"shop.example.com"},
			wantErr: wantIs(ErrNameMismatch, `leaf "DNS:Shop.Example.com"`)},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			err := matchNames(tt.leaf, tt.domains)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("matchNames: %v", err)
				}
				return
			}
			tt.wantErr(t, err)
		})
	}
}
