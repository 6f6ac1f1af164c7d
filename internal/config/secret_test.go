package config

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/renewd/renewd/internal/secret"
)

// Secrets with YAML and shell syntax in them: they must arrive as written and
// never show up in errors or in Effective.
const (
	secretKey  = `AK:"quoted" 'single' #not-a-comment {x: [y]}`
	secretVal  = "line1\nline2: ${NOT_EXPANDED} $$ & *alias !tag"
	secretHMAC = "c2VjcmV0LWhtYWMta2V5LWZvci1lYWI"
)

func TestLoadExpandsSecrets(t *testing.T) {
	t.Setenv("ALICLOUD_ACCESS_KEY", secretKey)
	t.Setenv("ALICLOUD_SECRET_KEY", secretVal)
	t.Setenv("EAB_HMAC", secretHMAC)
	dir := writeTree(t, map[string]string{
		"renewd.yaml": "acme:\n  eab:\n    kid: kid-1\n    hmac_key: ${EAB_HMAC}\n",
		"domains.d/wild.yaml": `domains: ["*.example.com"]
challenge:
  type: dns-01
  dns01:
    provider: alidns
    env:
      ALICLOUD_ACCESS_KEY: ${ALICLOUD_ACCESS_KEY}
      ALICLOUD_SECRET_KEY: "${ALICLOUD_SECRET_KEY}"
      ALICLOUD_REGION_ID: cn-$${REGION}
`,
	})
	var gotEnv map[string]string
	c, err := Load(dir+"/renewd.yaml", Options{CheckDNSProvider: func(provider string, env map[string]string) error {
		gotEnv = maps.Clone(env)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"ALICLOUD_ACCESS_KEY": secretKey, "ALICLOUD_SECRET_KEY": secretVal, "ALICLOUD_REGION_ID": "cn-${REGION}"}
	if env := c.Certificate("wild").Challenge.DNS01.Env; !maps.Equal(env, want) {
		t.Errorf("env = %q, want %q", env, want)
	}
	if !maps.Equal(gotEnv, want) {
		t.Errorf("CheckDNSProvider got env %q, want %q", gotEnv, want)
	}
	if c.ACME.EAB.HMACKey != secretHMAC {
		t.Errorf("hmac_key = %q", c.ACME.EAB.HMACKey)
	}

	out, err := c.Effective()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{secretKey, secretVal, secretHMAC, "line1", "AK:"} {
		if strings.Contains(string(out), s) {
			t.Errorf("Effective shows secret %q:\n%s", s, out)
		}
	}
	var parsed struct {
		ACME struct {
			EAB EAB `yaml:"eab"`
		} `yaml:"acme"`
		Certificates []struct {
			Challenge Challenge `yaml:"challenge"`
		} `yaml:"certificates"`
	}
	if err := yaml.Unmarshal(out, &parsed); err != nil {
		t.Fatalf("Effective is not YAML: %v\n%s", err, out)
	}
	if parsed.ACME.EAB.HMACKey != masked || parsed.ACME.EAB.KID != "kid-1" {
		t.Errorf("effective eab = %+v", parsed.ACME.EAB)
	}
	for k, v := range parsed.Certificates[0].Challenge.DNS01.Env {
		if v != masked {
			t.Errorf("effective env %s = %q, want %q", k, v, masked)
		}
	}
}

func TestSecretsStayOutOfErrors(t *testing.T) {
	const secret = "s3cr3t-value-9f2e"
	tests := []struct {
		desc  string
		cert  string
		check func(string, map[string]string) error
		want  []string
		is    error
	}{
		{
			desc:  "unknown provider",
			cert:  "provider: alidnss\n    env: {ALICLOUD_ACCESS_KEY: \"${KEY}\"}\n",
			check: func(p string, _ map[string]string) error { return fmt.Errorf("%w %q", ErrUnknownDNSProvider, p) },
			want:  []string{`domains.d/wild.yaml:5: challenge.dns01.provider: unknown DNS provider "alidnss"; use a lego DNS provider name`},
			is:    ErrUnknownDNSProvider,
		},
		{
			desc: "bad credentials: the checker quotes the value, the error does not",
			cert: "provider: alidns\n    env: {ALICLOUD_ACCESS_KEY: \"${KEY}\"}\n",
			check: func(_ string, env map[string]string) error {
				return fmt.Errorf("alidns: ALICLOUD_SECRET_KEY missing; ALICLOUD_ACCESS_KEY=%s is too short", env["ALICLOUD_ACCESS_KEY"])
			},
			want: []string{"domains.d/wild.yaml:6: challenge.dns01.env: alidns: ALICLOUD_SECRET_KEY missing; ALICLOUD_ACCESS_KEY=******** is too short"},
		},
		{
			desc:  "unset variable is named; the checker is not called with half an env",
			cert:  "provider: alidns\n    env:\n      ALICLOUD_ACCESS_KEY: \"${KEY}\"\n      ALICLOUD_SECRET_KEY: \"${ALICLOUD_SECRET}\"\n",
			check: func(string, map[string]string) error { return errors.New("must not be called") },
			want:  []string{"domains.d/wild.yaml:8: challenge.dns01.env.ALICLOUD_SECRET_KEY: environment variable ALICLOUD_SECRET is not set; set it (for example in the systemd EnvironmentFile) or write $$ for a literal $"},
		},
		{
			desc: "a list where the secret belongs",
			cert: "provider: alidns\n    env:\n      ALICLOUD_ACCESS_KEY: [\"${KEY}\", " + secret + "]\n",
			want: []string{"domains.d/wild.yaml:7: challenge.dns01.env.ALICLOUD_ACCESS_KEY: want a string, got a list"},
		},
		{
			desc: "a tagged secret",
			cert: "provider: alidns\n    env:\n      ALICLOUD_ACCESS_KEY: !secret " + secret + "\n",
			want: []string{"domains.d/wild.yaml:7: challenge.dns01.env.ALICLOUD_ACCESS_KEY: want a string, got a value tagged !secret"},
		},
		{
			desc: "env is not a mapping",
			cert: "provider: alidns\n    env: " + secret + "\n",
			want: []string{"domains.d/wild.yaml:6: challenge.dns01.env: want a mapping of names to strings, got a string"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			dir := writeTree(t, map[string]string{
				"renewd.yaml":         "",
				"domains.d/wild.yaml": "domains: [\"*.example.com\"]\nchallenge:\n  type: dns-01\n  dns01:\n    " + tt.cert,
			})
			_, err := Load(dir+"/renewd.yaml", Options{
				LookupEnv:        envMap(map[string]string{"KEY": secret}),
				CheckDNSProvider: tt.check,
			})
			got := errorLines(t, err, dir)
			diffLines(t, got, tt.want)
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("error shows the secret: %v", err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(err, %v) = false", tt.is)
			}
		})
	}
}

func TestCheckDNSProviderCalls(t *testing.T) {
	var calls []string
	mustLoad(t, map[string]string{
		"renewd.yaml":      "",
		"domains.d/a.yaml": "domains: [a.example.com]\nchallenge: {type: dns-01, dns01: {provider: cloudflare, env: {CF_DNS_API_TOKEN: t}}}\n",
		"domains.d/b.yaml": "domains: [b.example.com]\n" + httpChallenge,
		"domains.d/c.yaml": "domains: [c.example.com]\nchallenge: {type: dns-01, dns01: {provider: exec}}\n",
	}, Options{CheckDNSProvider: func(p string, env map[string]string) error {
		calls = append(calls, fmt.Sprintf("%s:%d", p, len(env)))
		return nil
	}})
	if got, want := strings.Join(calls, " "), "cloudflare:1 exec:0"; got != want {
		t.Errorf("CheckDNSProvider calls = %q, want %q (dns-01 only, in file order)", got, want)
	}
}

// TestLoadRegistersSecrets: the secrets of a loaded configuration are
// masked by package secret wherever renewd prints, and config check masks
// a hook argument written as ${CDN_TOKEN} while it shows EXEC_PATH and
// other settings as they are.
func TestLoadRegistersSecrets(t *testing.T) {
	const (
		cdnToken = "cdn-token-5e1d0c"
		dnsKey   = "dns-key-77b0a1"
		p12      = "keystore-pw-3390"
		hookURL  = "https://oapi.dingtalk.com/robot/send?access_token=dingtalk-tok-0a9b8c"
	)
	dir := writeTree(t, map[string]string{
		"renewd.yaml": "notify:\n  targets:\n    - {name: ops, type: dingtalk, url: \"" + hookURL + "\"}\n",
		"domains.d/shop.yaml": `domains: [shop.example.com]
challenge:
  type: dns-01
  dns01:
    provider: exec
    env: {EXEC_PATH: /bin/true, DNS_API_KEY: "${DNS_KEY}"}
deploy:
  hooks: [[/usr/local/bin/purge, "--token=${CDN_TOKEN}", "--zone", "${ZONE}"]]
  pkcs12: {path: /tmp/shop.p12, password_env: P12_PW}
`,
	})
	t.Setenv("P12_PW", p12) // the keystore password is read from the process environment
	c, err := Load(dir+"/renewd.yaml", Options{LookupEnv: envMap(map[string]string{
		"CDN_TOKEN": cdnToken, "DNS_KEY": dnsKey, "ZONE": "zone-public-1",
	})})
	if err != nil {
		t.Fatal(err)
	}
	in := strings.Join([]string{cdnToken, dnsKey, p12, "dingtalk-tok-0a9b8c", "zone-public-1", "/bin/true"}, " ")
	if got, want := secret.Mask(in), "******** ******** ******** ******** zone-public-1 /bin/true"; got != want {
		t.Errorf("secret.Mask after Load = %q, want %q", got, want)
	}
	out, err := c.Effective()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{cdnToken, dnsKey, "dingtalk-tok"} {
		if strings.Contains(string(out), s) {
			t.Errorf("config check shows %q:\n%s", s, out)
		}
	}
	for _, s := range []string{"--token=********", "zone-public-1", "EXEC_PATH: /bin/true", "DNS_API_KEY: '********'"} {
		if !strings.Contains(string(out), s) {
			t.Errorf("config check lacks %q:\n%s", s, out)
		}
	}
}
