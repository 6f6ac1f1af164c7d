package acme

import (
	"strings"
	"testing"

	legodns "github.com/go-acme/lego/v4/providers/dns"
)

// TestProvidersMatchLego: every provider listed is one lego's constructor
// knows, so the generated list is in step with the lego in go.mod (run go
// generate ./internal/acme/ after updating lego).
func TestProvidersMatchLego(t *testing.T) {
	all := Providers()
	if len(all) < 150 {
		t.Fatalf("%d providers; lego has about 200", len(all))
	}
	for _, p := range all {
		for _, name := range append([]string{p.Code}, p.Aliases...) {
			_, err := legodns.NewDNSChallengeProviderByName(name)
			if err != nil && strings.HasPrefix(err.Error(), "unrecognized DNS provider") {
				t.Errorf("%s: lego does not know it", name)
			}
		}
	}
	ali, ok := LookupProvider("alidns")
	if !ok || ali.Credentials[0].Name == "" || ali.DocURL() != "https://go-acme.github.io/lego/dns/alidns/" {
		t.Errorf("alidns: %+v %v", ali, ok)
	}
	if p, ok := LookupProvider("fastdns"); !ok || p.Code != "edgedns" {
		t.Errorf("the alias fastdns finds %+v %v, want edgedns", p, ok)
	}
}

func TestDNSProviderErrors(t *testing.T) {
	tests := []struct {
		desc     string
		provider string
		env      map[string]string
		want     []string
	}{
		{desc: "misspelled provider", provider: "clodflare", want: []string{`unknown DNS provider "clodflare"; did you mean cloudflare?`}},
		{desc: "unknown provider, nothing close", provider: "nosuchdns", want: []string{`unknown DNS provider "nosuchdns"`, "renewd providers"}},
		{desc: "missing credentials named, and where they go", provider: "alidns", env: map[string]string{},
			want: []string{"alidns needs ALICLOUD_ACCESS_KEY and ALICLOUD_SECRET_KEY", "/etc/renewd/env", "renewd providers alidns"}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			for _, k := range []string{"ALICLOUD_ACCESS_KEY", "ALICLOUD_SECRET_KEY", "ALICLOUD_RAM_ROLE", "ALICLOUD_SECURITY_TOKEN"} {
				t.Setenv(k, "")
			}
			err := CheckDNSProvider(tt.provider, tt.env)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
		})
	}
}
