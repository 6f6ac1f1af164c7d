package config

import (
	"strings"
	"testing"
)

func TestNormalizeDomain(t *testing.T) {
	label63 := strings.Repeat("a", 63)
	name253 := strings.Repeat(label63+".", 3) + strings.Repeat("b", 61) // 3*64 + 61 = 253
	tests := []struct {
		desc, in, want string
		wildcard       bool
	}{
		{desc: "already normal", in: "shop.example.com", want: "shop.example.com"},
		{desc: "upper case", in: "Shop.EXAMPLE.com", want: "shop.example.com"},
		{desc: "trailing dot", in: "shop.example.com.", want: "shop.example.com"},
		{desc: "wildcard", in: "*.Example.com", want: "*.example.com", wildcard: true},
		{desc: "IDN to A-label", in: "bücher.example", want: "xn--bcher-kva.example"},
		{desc: "IDN upper case", in: "BÜCHER.example", want: "xn--bcher-kva.example"},
		{desc: "IDN wildcard", in: "*.münchen.de", want: "*.xn--mnchen-3ya.de", wildcard: true},
		{desc: "IDN TLD", in: "例え.テスト", want: "xn--r8jz45g.xn--zckzah"},
		{desc: "A-label kept", in: "xn--bcher-kva.example", want: "xn--bcher-kva.example"},
		{desc: "ideographic full stop", in: "例え。テスト", want: "xn--r8jz45g.xn--zckzah"},
		{desc: "hyphens inside", in: "a-b--c.example.com", want: "a-b--c.example.com"},
		{desc: "digits", in: "123.example.com", want: "123.example.com"},
		{desc: "63-byte label", in: label63 + ".example.com", want: label63 + ".example.com"},
		{desc: "253 bytes", in: name253, want: name253},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got, wildcard, err := normalizeDomain(tt.in)
			if err != nil || got != tt.want || wildcard != tt.wildcard {
				t.Errorf("normalizeDomain(%q) = %q, %v, %v; want %q, %v, nil", tt.in, got, wildcard, err, tt.want, tt.wildcard)
			}
			if again, _, err := normalizeDomain(got); err != nil || again != got {
				t.Errorf("normalizeDomain is not idempotent: %q -> %q, %v", got, again, err)
			}
		})
	}
}
