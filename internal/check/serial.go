package check

import "strings"

// normalizeSerial writes a hex serial the way big.Int.Text(16) does:
// lowercase, no colons, no leading zeros.
func normalizeSerial(s string) string {
	s = strings.TrimLeft(strings.ToLower(strings.ReplaceAll(s, ":", "")), "0")
	if s == "" {
		return "0"
	}
	return s
}
