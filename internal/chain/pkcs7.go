package chain

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
)

// oidSignedData is id-signedData (RFC 5652 section 5.1).
var oidSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}

// contentInfo is RFC 5652 ContentInfo.
type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"explicit,optional,tag:0"`
}

// signedData is RFC 5652 SignedData with only the certificates decoded. A
// certs-only bundle (.p7c) has no content, no signers and empty sets.
type signedData struct {
	Version          int
	DigestAlgorithms asn1.RawValue
	EncapContentInfo asn1.RawValue
	Certificates     asn1.RawValue `asn1:"optional,tag:0"` // [0] IMPLICIT CertificateSet
	CRLs             asn1.RawValue `asn1:"optional,tag:1"`
	SignerInfos      asn1.RawValue
}

// parsePKCS7 returns the certificates of a DER PKCS#7 / CMS SignedData. The
// signature, if any, is ignored: AIA bundles are certs-only, and Build checks
// every certificate it uses by its own signature. Other CertificateChoices
// (attribute certificates) are skipped.
func parsePKCS7(der []byte) ([]*x509.Certificate, error) {
	if len(der) > 1 && der[0] == 0x30 && der[1] == 0x80 {
		return nil, errors.New("PKCS#7 in BER indefinite-length encoding is not supported")
	}
	var ci contentInfo
	rest, err := asn1.Unmarshal(der, &ci)
	if err != nil {
		return nil, fmt.Errorf("PKCS#7 ContentInfo: %w", err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("PKCS#7: %d bytes of trailing data", len(rest))
	}
	if !ci.ContentType.Equal(oidSignedData) {
		return nil, fmt.Errorf("PKCS#7 content type %v is not SignedData", ci.ContentType)
	}
	var sd signedData
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil {
		return nil, fmt.Errorf("PKCS#7 SignedData: %w", err)
	}
	var certs []*x509.Certificate
	for rest := sd.Certificates.Bytes; len(rest) > 0; {
		var raw asn1.RawValue
		rest, err = asn1.Unmarshal(rest, &raw)
		if err != nil {
			return nil, fmt.Errorf("PKCS#7 certificate %d: %w", len(certs)+1, err)
		}
		if raw.Class != asn1.ClassUniversal || raw.Tag != asn1.TagSequence {
			continue
		}
		c, err := x509.ParseCertificate(raw.FullBytes)
		if err != nil {
			return nil, fmt.Errorf("PKCS#7 certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("PKCS#7 SignedData holds no certificates")
	}
	return certs, nil
}
