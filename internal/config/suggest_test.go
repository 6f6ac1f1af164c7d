package config

import "testing"

func TestNearest(t *testing.T) {
	keys := []string{"name", "domains", "canary", "challenge", "key_type", "renew_before", "deploy"}
	tests := []struct {
		desc, name string
		candidates []string
		want       string
	}{
		{desc: "one letter dropped", name: "chalenge", candidates: keys, want: "challenge"},
		{desc: "two neighbours swapped", name: "deplyo", candidates: keys, want: "deploy"},
		{desc: "plural", name: "domain", candidates: keys, want: "domains"},
		{desc: "provider typo", name: "clodflare", candidates: []string{"alidns", "cloudflare", "route53"}, want: "cloudflare"},
		{desc: "provider swapped letters", name: "alidsn", candidates: []string{"alidns", "cloudflare", "route53"}, want: "alidns"},
		{desc: "nothing close", name: "webhook", candidates: keys, want: ""},
		{desc: "short names need an exact neighbour", name: "ky", candidates: []string{"key"}, want: ""},
		{desc: "three letters, one edit", name: "kye", candidates: []string{"key"}, want: "key"},
		{desc: "already valid", name: "canary", candidates: keys, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := Nearest(tt.name, tt.candidates); got != tt.want {
				t.Errorf("Nearest(%q) = %q, want %q", tt.name, got, tt.want)
			}
		})
	}
}
