package config

import "testing"

// TestCertificateLookup: Certificate finds every loaded certificate by
// name, finds nothing for another name, and stays right on a copy whose
// list was changed after Load (add's one-certificate copy does that).
func TestCertificateLookup(t *testing.T) {
	c, _ := mustLoad(t, map[string]string{
		"renewd.yaml":      "",
		"domains.d/a.yaml": "domains: [a.example.com]\n" + httpChallenge,
		"domains.d/b.yaml": "domains: [b.example.com]\n" + httpChallenge,
		"domains.d/c.yaml": "domains: [c.example.com]\n" + httpChallenge,
	}, Options{})
	for _, name := range []string{"a", "b", "c"} {
		if got := c.Certificate(name); got == nil || got.Name != name {
			t.Errorf("Certificate(%q) = %v", name, got)
		}
	}
	if got := c.Certificate("d"); got != nil {
		t.Errorf("Certificate(d) = %v, want nil", got.Name)
	}
	only := *c
	only.Certificates = []*Certificate{c.Certificate("c")}
	if got := only.Certificate("c"); got == nil || got.Name != "c" {
		t.Errorf("on the copy: Certificate(c) = %v", got)
	}
	if got := only.Certificate("a"); got != nil {
		t.Errorf("on the copy: Certificate(a) = %v, want nil (a is not in its list)", got.Name)
	}
}
