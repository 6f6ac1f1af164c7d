package check

import (
	"crypto/x509"
	"strings"
)

// judgeSerial checks that the server sends the certificate expected, such
// as the one a deploy just installed. A different serial means nginx still
// serves another certificate.
func judgeSerial(r *Report, leaf *x509.Certificate, want, host string) {
	got := leaf.SerialNumber.Text(16)
	if got == normalizeSerial(want) {
		r.add(Serial, Pass, "the server sends the expected certificate (serial %s)", got)
		return
	}
	r.add(Serial, Fail, "the server sends serial %s, not the expected %s: it still serves another certificate (nginx not reloaded, or another server block answers for %s)",
		got, normalizeSerial(want), host)
}

// normalizeSerial writes a hex serial the way big.Int.Text(16) does:
// lowercase, no colons, no leading zeros.
func normalizeSerial(s string) string {
	s = strings.TrimLeft(strings.ToLower(strings.ReplaceAll(s, ":", "")), "0")
	if s == "" {
		return "0"
	}
	return s
}
