package chain

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"sync"
)

// sigCacheSize bounds how many certificate pairs sigs remembers: plenty
// for the intermediates and roots of the CAs one renewd talks to and the
// leaves of a run, at well under 100 bytes each.
const sigCacheSize = 1024

// sigs remembers the signature checks that passed, for every Analyze,
// Build and Verify in the process. A CA's intermediate is checked against
// the same parent for every certificate it issues, and one call checks the
// same pair more than once; an RSA check costs tens of microseconds.
var sigs = newSigCache(sigCacheSize)

// sigBits says which checks of a (child, parent) pair passed.
type sigBits uint8

const (
	// sigValid: parent.CheckSignature(child.SignatureAlgorithm,
	// child.RawTBSCertificate, child.Signature) returned nil.
	sigValid sigBits = 1 << iota
	// sigFrom: child.CheckSignatureFrom(parent) returned nil, which implies
	// sigValid: it is the same check, with SHA-1 refused, after checking
	// that parent may sign certificates.
	sigFrom
)

// sigCache is a bounded, concurrency-safe set of passed signature checks.
// A check is a pure function of the two certificates' DER, so a pass can be
// reused as long as the same DER is checked; a failure is never remembered
// (the check runs again, and says why), nor are dates, names or anything
// else that depends on the time or the trust store. When full, the pair
// remembered first is forgotten first.
type sigCache struct {
	mu    sync.Mutex
	max   int
	bits  map[[32]byte]sigBits
	order [][32]byte // keys in the order they came, a ring once full
	next  int        // the oldest key in order once full
}

func newSigCache(max int) *sigCache {
	return &sigCache{max: max, bits: make(map[[32]byte]sigBits, max)}
}

// pairKey is the SHA-256 of child's and parent's DER. ok is false for a
// certificate without DER (one built by hand, not parsed), which is never
// cached: its fields are not bound to anything.
func pairKey(child, parent *x509.Certificate) (key [32]byte, ok bool) {
	if len(child.Raw) == 0 || len(parent.Raw) == 0 {
		return key, false
	}
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(child.Raw)))
	h.Write(n[:])
	h.Write(child.Raw)
	h.Write(parent.Raw)
	h.Sum(key[:0])
	return key, true
}

// has reports whether the checks want all passed for key.
func (s *sigCache) has(key [32]byte, want sigBits) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bits[key]&want == want
}

// add records that the checks b passed for key.
func (s *sigCache) add(key [32]byte, b sigBits) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.bits[key]; ok {
		s.bits[key] = old | b
		return
	}
	if len(s.order) < s.max {
		s.order = append(s.order, key)
	} else {
		delete(s.bits, s.order[s.next])
		s.order[s.next] = key
		s.next = (s.next + 1) % s.max
	}
	s.bits[key] = b
}

// len is how many pairs s remembers.
func (s *sigCache) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.bits)
}

// checkSignatureFrom is child.CheckSignatureFrom(parent), remembered when
// it passes.
func checkSignatureFrom(child, parent *x509.Certificate) error {
	key, ok := pairKey(child, parent)
	if ok && sigs.has(key, sigFrom) {
		return nil
	}
	err := child.CheckSignatureFrom(parent)
	if ok && err == nil {
		sigs.add(key, sigFrom|sigValid)
	}
	return err
}

// checkSignature is parent.CheckSignature of child's signature, remembered
// when it passes. It tries CheckSignatureFrom first, as issuedBy will
// usually ask that of the same pair later (Verify's order check after
// Analyze's path walk): its pass answers both, its failure (a parent that
// may not sign certificates, SHA-1, or no signature of parent's at all)
// leaves the answer to CheckSignature.
func checkSignature(parent, child *x509.Certificate) error {
	key, ok := pairKey(child, parent)
	if ok && sigs.has(key, sigValid) {
		return nil
	}
	if child.CheckSignatureFrom(parent) == nil {
		if ok {
			sigs.add(key, sigFrom|sigValid)
		}
		return nil
	}
	err := parent.CheckSignature(child.SignatureAlgorithm, child.RawTBSCertificate, child.Signature)
	if ok && err == nil {
		sigs.add(key, sigValid)
	}
	return err
}
