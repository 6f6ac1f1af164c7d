package config

import (
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	validTop  = "storage, domains_dir, acme, schedule, concurrency, renew_spread, retry, canary_proof_max_age, archive_keep, trust, nginx, notify, metrics, cluster"
	validACME = "directory, email, ca_certificates, eab, key_type, profile, preferred_chain, staging_directory, rate_limit"
)

func TestLoadGlobalErrors(t *testing.T) {
	tests := []struct {
		desc   string
		global string
		env    map[string]string
		want   []string
	}{
		{
			desc:   "unknown key lists the valid ones",
			global: "acme:\n  emial: ops@example.com\n",
			want:   []string{"renewd.yaml:2: acme.emial: unknown field; did you mean email? valid: " + validACME},
		},
		{
			desc:   "unknown top-level key",
			global: "storage: /srv/renewd\nconcurency: 2\n",
			want:   []string{"renewd.yaml:2: concurency: unknown field; did you mean concurrency? valid: " + validTop},
		},
		{
			desc:   "wrong type names the expected one",
			global: "concurrency: many\n",
			want:   []string{`renewd.yaml:1: concurrency: want an integer, got "many"`},
		},
		{
			desc:   "a list where a mapping belongs",
			global: "retry: [5m, 24h]\n",
			want:   []string{"renewd.yaml:1: retry: want a mapping with keys initial, max, got a list"},
		},
		{
			desc:   "a scalar where a list belongs",
			global: "nginx:\n  test: nginx -t\n",
			want:   []string{`renewd.yaml:2: nginx.test: want a list, got a string; write [a, b] or one "- item" per line`},
		},
		{
			desc:   "duration without unit",
			global: "nginx:\n  verify:\n    timeout: 10\n",
			want:   []string{`renewd.yaml:3: nginx.verify.timeout: want a duration such as 90s, 5m, 24h or 30d, got "10"`},
		},
		{
			desc:   "duplicate key",
			global: "concurrency: 2\nstorage: /srv\nconcurrency: 3\n",
			want:   []string{"renewd.yaml:3: concurrency: duplicate key; first set at line 1"},
		},
		{
			desc:   "duplicate key in a nested mapping",
			global: "acme:\n  key_type: ec256\n  key_type: rsa2048\n",
			want:   []string{"renewd.yaml:3: acme.key_type: duplicate key; first set at line 2"},
		},
		{
			desc:   "malformed YAML has file and line",
			global: "acme:\n  email: ops@example.com\n\tkey_type: ec256\n",
			want:   []string{"renewd.yaml:3: invalid YAML: found a tab character that violates indentation; indent with spaces, not tabs"},
		},
		{
			desc:   "unclosed quote",
			global: "acme:\n  email: \"ops@example.com\n",
			want:   []string{"renewd.yaml:2: invalid YAML: found unexpected end of stream; a quote or bracket is not closed"},
		},
		{
			desc:   "indentation",
			global: "acme:\n  email: ops@example.com\n key_type: ec256\n",
			want:   []string{"renewd.yaml:3: invalid YAML: did not find expected key; check the indentation of this line and the one before"},
		},
		{
			desc:   "a mapping value on the first line",
			global: "storage: a: b\n",
			want:   []string{`renewd.yaml:1: invalid YAML: mapping values are not allowed in this context; check the indentation, and quote values that contain ": "`},
		},
		{
			desc:   "unquoted @",
			global: "concurrency: 2\nschedule: @every 1h\n",
			want:   []string{"renewd.yaml:2: invalid YAML: found character that cannot start any token; quote values that start with @ or `, and indent with spaces"},
		},
		{
			desc:   "two documents",
			global: "concurrency: 2\n---\nconcurrency: 3\n",
			want:   []string{"renewd.yaml:2: a second YAML document (after ---); keep one document per file"},
		},
		{
			desc:   "a leading and a trailing --- are fine",
			global: "---\nconcurrency: 2\n---\n",
		},
		{
			desc:   "top level is not a mapping",
			global: "- storage\n",
			want:   []string{"renewd.yaml:1: want a mapping with keys " + validTop + ", got a list"},
		},
		{
			desc:   "key_type",
			global: "acme:\n  key_type: rsa1024\n",
			want:   []string{`renewd.yaml:2: acme.key_type: "rsa1024" is not valid; use ec256, ec384, rsa2048, rsa3072 or rsa4096`},
		},
		{
			desc:   "directory must be an absolute URL",
			global: "acme:\n  directory: acme-v02.api.letsencrypt.org/directory\n",
			want:   []string{`renewd.yaml:2: acme.directory: "acme-v02.api.letsencrypt.org/directory" is not an absolute http(s) URL; use one such as https://acme-v02.api.letsencrypt.org/directory`},
		},
		{
			desc:   "directory must be http or https",
			global: "acme:\n  directory: ftp://ca.example.com/dir\n",
			want:   []string{`renewd.yaml:2: acme.directory: "ftp://ca.example.com/dir" is not an absolute http(s) URL; use one such as https://acme-v02.api.letsencrypt.org/directory`},
		},
		{
			desc:   "email",
			global: "acme:\n  email: mailto:ops@example.com\n",
			want:   []string{`renewd.yaml:2: acme.email: "mailto:ops@example.com" is not an email address; write it as name@example.com, without mailto: or a display name`},
		},
		{
			desc:   "email without a domain",
			global: "acme:\n  email: ops\n",
			want:   []string{`renewd.yaml:2: acme.email: "ops" is not an email address; write it as name@example.com, without mailto: or a display name`},
		},
		{
			desc:   "eab kid without key",
			global: "acme:\n  eab:\n    kid: kid-1\n",
			want:   []string{"renewd.yaml:2: acme.eab.hmac_key: missing; External Account Binding needs both kid and hmac_key, or neither"},
		},
		{
			desc:   "eab key without kid",
			global: "acme:\n  eab: {hmac_key: \"${EAB}\"}\n",
			env:    map[string]string{"EAB": "c2VjcmV0"},
			want:   []string{"renewd.yaml:2: acme.eab.kid: missing; External Account Binding needs both kid and hmac_key, or neither"},
		},
		{
			desc:   "eab key not base64url, without repeating it",
			global: "acme:\n  eab:\n    kid: kid-1\n    hmac_key: \"${EAB}\"\n",
			env:    map[string]string{"EAB": "not base64 !secret!"},
			want:   []string{"renewd.yaml:4: acme.eab.hmac_key: is not base64url; paste the HMAC key exactly as the CA gave it"},
		},
		{
			desc:   "schedule",
			global: "schedule: every hour\n",
			want:   []string{`renewd.yaml:1: schedule: "every hour" is not valid (expected exactly 5 fields, found 2: [every hour]); use a cron spec such as "0 */6 * * *" or "@every 1h"`},
		},
		{
			desc:   "concurrency zero is not replaced by the default",
			global: "concurrency: 0\n",
			want:   []string{"renewd.yaml:1: concurrency: 0 is out of range; use 1 to 256"},
		},
		{
			desc:   "concurrency too high",
			global: "concurrency: 257\n",
			want:   []string{"renewd.yaml:1: concurrency: 257 is out of range; use 1 to 256"},
		},
		{
			desc:   "retry initial zero",
			global: "retry:\n  initial: 0s\n",
			want:   []string{"renewd.yaml:2: retry.initial: must be positive, such as 5m"},
		},
		{
			desc:   "retry max below initial, max from the default",
			global: "retry:\n  initial: 48h\n",
			want:   []string{"renewd.yaml:1: retry.max: 24h is less than retry.initial 48h; set max to at least initial"},
		},
		{
			desc:   "retry negative",
			global: "retry: {initial: -5m, max: 1h}\n",
			want:   []string{"renewd.yaml:1: retry.initial: must be positive, such as 5m"},
		},
		{
			desc:   "verify address without port",
			global: "nginx:\n  verify:\n    address: 127.0.0.1\n",
			want:   []string{`renewd.yaml:3: nginx.verify.address: "127.0.0.1" is not host:port; write it like 127.0.0.1:8402 or [::1]:8402`},
		},
		{
			desc:   "verify address without host, timeout zero",
			global: "nginx:\n  verify: {address: \":443\", timeout: 0s}\n",
			want: []string{
				`renewd.yaml:2: nginx.verify.address: ":443" has no host; write it like 127.0.0.1:443`,
				"renewd.yaml:2: nginx.verify.timeout: must be positive, such as 10s",
			},
		},
		{
			desc:   "verify port out of range",
			global: "nginx:\n  verify: {address: \"127.0.0.1:70000\"}\n",
			want:   []string{`renewd.yaml:2: nginx.verify.address: "127.0.0.1:70000" has port "70000"; use a number from 1 to 65535`},
		},
		{
			desc:   "nginx command without program",
			global: "nginx:\n  reload: [\"\", -s, reload]\n",
			want:   []string{"renewd.yaml:2: nginx.reload[0]: is empty; give the program to run, such as nginx (a list of arguments, no shell)"},
		},
		{
			desc:   "ca_certificates must exist",
			global: "acme:\n  ca_certificates:\n    - pebble.minica.pem\n",
			want:   []string{"renewd.yaml:3: acme.ca_certificates[0]: pebble.minica.pem: no such file or directory"},
		},
		{
			desc:   "extra_roots must hold a certificate",
			global: "trust:\n  extra_roots: [renewd.yaml]\n",
			want:   []string{"renewd.yaml:2: trust.extra_roots[0]: renewd.yaml: has no PEM CERTIFICATE block"},
		},
		{
			desc:   "unset variable names the variable, field and line",
			global: "acme:\n  email: \"${OPS_EMAIL}\"\n",
			want:   []string{"renewd.yaml:2: acme.email: environment variable OPS_EMAIL is not set; set it (for example in the systemd EnvironmentFile) or write $$ for a literal $"},
		},
		{
			desc:   "custom tags are not understood",
			global: "storage: !vault secret/renewd\n",
			want:   []string{"renewd.yaml:1: storage: want a string, got a value tagged !vault"},
		},
		{
			desc:   "an alias that refers to its own list",
			global: "nginx:\n  test: &a [nginx, *a]\n",
			want:   []string{"renewd.yaml:2: nginx.test[1]: want a string, got a list"},
		},
		{
			desc:   "merge keys are not supported",
			global: "retry:\n  <<: {initial: 1m}\n",
			want:   []string{"renewd.yaml:2: retry.<<: unknown field; valid: initial, max"},
		},
		{
			desc:   "a non-scalar key",
			global: "? [a, b]\n: 1\n",
			want:   []string{"renewd.yaml:1: a key must be a plain name, got a list"},
		},
		{
			desc:   "canary_proof_max_age under 34h against Let's Encrypt",
			global: "canary_proof_max_age: 24h\n",
			want:   []string{"renewd.yaml:1: canary_proof_max_age: 24h would order the canary more than 4 times a week, into Let's Encrypt's limit of 5 certificates for the same names per week; use at least 34h (default 48h)"},
		},
		{
			desc:   "canary_proof_max_age under 34h against another CA is allowed",
			global: "acme:\n  directory: https://ca.internal/acme/directory\ncanary_proof_max_age: 1h\n",
		},
		{
			desc:   "canary_proof_max_age must be positive",
			global: "acme:\n  directory: https://ca.internal/acme/directory\ncanary_proof_max_age: 0s\n",
			want:   []string{"renewd.yaml:3: canary_proof_max_age: must be positive, such as 48h"},
		},
		{
			desc:   "all errors are collected, ordered by line",
			global: "schedule: \"@every 1h\"\nconcurrency: 1000\nacme:\n  key_type: ec521\n  emial: x\nretry: {initial: 1h, max: 1m}\n",
			want: []string{
				"renewd.yaml:2: concurrency: 1000 is out of range; use 1 to 256",
				`renewd.yaml:4: acme.key_type: "ec521" is not valid; use ec256, ec384, rsa2048, rsa3072 or rsa4096`,
				"renewd.yaml:5: acme.emial: unknown field; did you mean email? valid: " + validACME,
				"renewd.yaml:6: retry.max: 1m is less than retry.initial 1h; set max to at least initial",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			_, got, dir := loadTree(t, map[string]string{"renewd.yaml": tt.global, "domains.d/": ""},
				Options{LookupEnv: envMap(tt.env)})
			want := slices.Clone(tt.want)
			for i := range want {
				want[i] = strings.ReplaceAll(want[i], "{dir}", dir)
			}
			diffLines(t, got, want)
			for _, v := range tt.env {
				for _, line := range got {
					if strings.Contains(line, v) {
						t.Errorf("error shows the value of a variable: %s", line)
					}
				}
			}
		})
	}
}

func TestLoadMissingFiles(t *testing.T) {
	tests := []struct {
		desc  string
		files map[string]string
		want  []string
		is    error
	}{
		{
			desc:  "renewd.yaml missing",
			files: map[string]string{},
			want:  []string{"renewd.yaml: cannot read: no such file or directory"},
			is:    fs.ErrNotExist,
		},
		{
			desc:  "default domains_dir missing names it",
			files: map[string]string{"renewd.yaml": "concurrency: 2\n"},
			want:  []string{"renewd.yaml: domains_dir: directory domains.d does not exist; create it (it may be empty) or set domains_dir"},
		},
		{
			desc:  "configured domains_dir missing names it with its line",
			files: map[string]string{"renewd.yaml": "concurrency: 2\ndomains_dir: certs\n"},
			want:  []string{"renewd.yaml:2: domains_dir: directory certs does not exist; create it (it may be empty) or set domains_dir"},
		},
		{
			desc:  "domains_dir is a file",
			files: map[string]string{"renewd.yaml": "domains_dir: renewd.yaml\n"},
			want:  []string{"renewd.yaml:1: domains_dir: cannot read directory renewd.yaml: not a directory"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			dir := writeTree(t, tt.files)
			_, err := Load(filepath.Join(dir, "renewd.yaml"), Options{LookupEnv: envMap(nil)})
			want := slices.Clone(tt.want)
			for i := range want {
				want[i] = strings.ReplaceAll(want[i], "{dir}", dir)
			}
			diffLines(t, errorLines(t, err, dir), want)
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v) = false", tt.is)
			}
		})
	}
}

func TestLoadDefaults(t *testing.T) {
	c, dir := mustLoad(t, map[string]string{
		"renewd.yaml": "# only comments\n",
		"domains.d/shop.yaml": `domains: [shop.example.com]
challenge:
  type: http-01
  http01: {webroot: /var/www/acme}
`,
		"domains.d/wild.yml": `domains: ["*.example.com"]
challenge: {type: dns-01, dns01: {provider: exec}}
`,
	}, Options{})
	checks := []struct {
		desc      string
		got, want any
	}{
		{"path", c.Path, filepath.Join(dir, "renewd.yaml")},
		{"storage", c.Storage, "/var/lib/renewd"},
		{"domains_dir", c.DomainsDir, filepath.Join(dir, "domains.d")},
		{"directory", c.ACME.Directory, "https://acme-v02.api.letsencrypt.org/directory"},
		{"key_type", c.ACME.KeyType, "ec256"},
		{"schedule", c.Schedule, "@every 1h"},
		{"concurrency", c.Concurrency, 64},
		{"renew_spread", c.RenewSpread, 24 * time.Hour},
		{"cert renew_spread from renewd.yaml", c.Certificates[0].RenewSpread, 24 * time.Hour},
		{"rate_limit.requests", c.ACME.RateLimit.Requests, Rate{PerSecond: 250, Burst: 125}},
		{"rate_limit.endpoints.directory", c.ACME.RateLimit.Endpoints.Directory, Rate{PerSecond: 40, Burst: 40}},
		{"rate_limit.endpoints.new_nonce", c.ACME.RateLimit.Endpoints.NewNonce, Rate{PerSecond: 20, Burst: 10}},
		{"rate_limit.endpoints.new_account", c.ACME.RateLimit.Endpoints.NewAccount, Rate{PerSecond: 5, Burst: 15}},
		{"rate_limit.endpoints.new_order", c.ACME.RateLimit.Endpoints.NewOrder, Rate{PerSecond: 300, Burst: 200}},
		{"rate_limit.endpoints.renewal_info", c.ACME.RateLimit.Endpoints.RenewalInfo, Rate{PerSecond: 1000, Burst: 100}},
		{"rate_limit.orders", c.ACME.RateLimit.Orders, OrderBudget{Max: 300, Window: 3 * time.Hour}},
		{"rate_limit.pause", c.ACME.RateLimit.Pause, time.Minute},
		{"retry.initial", c.Retry.Initial, 5 * time.Minute},
		{"retry.max", c.Retry.Max, 24 * time.Hour},
		{"nginx.test", strings.Join(c.Nginx.Test, " "), "nginx -t"},
		{"nginx.reload", strings.Join(c.Nginx.Reload, " "), "nginx -s reload"},
		{"nginx.verify.address", c.Nginx.Verify.Address, "127.0.0.1:443"},
		{"nginx.verify.timeout", c.Nginx.Verify.Timeout, 10 * time.Second},
		{"certificates", len(c.Certificates), 2},
		{"cert name from file", c.Certificates[0].Name, "shop"},
		{"cert name from .yml file", c.Certificates[1].Name, "wild"},
		{"cert file", c.Certificates[0].File, filepath.Join(dir, "domains.d", "shop.yaml")},
		{"cert key_type from acme", c.Certificates[0].KeyType, "ec256"},
		{"propagation_timeout", c.Certificates[1].Challenge.DNS01.PropagationTimeout, 2 * time.Minute},
		{"renew_before", c.Certificates[0].RenewBefore, time.Duration(0)},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.desc, ck.got, ck.want)
		}
	}
}

func TestLoadValues(t *testing.T) {
	root := testRoot(t)
	c, dir := mustLoad(t, map[string]string{
		"renewd.yaml": `storage: state
domains_dir: conf/../certs
acme:
  directory: https://localhost:14000/dir
  email: ops@example.com
  ca_certificates: [pem/pebble.pem]
  eab: {kid: kid-1, hmac_key: c2VjcmV0LWtleQ}
  key_type: rsa3072
  profile: shortlived
  preferred_chain: ISRG Root X1
schedule: "*/5 * * * *"
concurrency: 64
retry: {initial: 1m, max: 1d12h}
trust:
  extra_roots: [./root.pem]
nginx:
  test: [/usr/sbin/nginx, -p, /tmp/nginx, -t]
  reload: [/usr/sbin/nginx, -s, reload]
  verify: {address: "[::1]:8443", timeout: 3s}
`,
		"pem/pebble.pem": root,
		"root.pem":       root,
		"certs/a.yaml": `name: api-1
domains: [API.Example.COM., bücher.example]
canary: true
challenge:
  type: dns-01
  dns01:
    provider: cloudflare
    env: {CF_DNS_API_TOKEN: token}
    resolvers: [1.1.1.1, "2606:4700:4700::1111", "[2606:4700:4700::1001]", "ns1.example.net:5353"]
    propagation_timeout: 5m
    skip_propagation_check: true
key_type: ec384
renew_before: 30d
deploy: {fullchain: /etc/nginx/ssl/api/fullchain.pem, key: /etc/nginx/ssl/api/privkey.pem, nginx: true}
`,
	}, Options{})
	if c.Storage != filepath.Join(dir, "state") {
		t.Errorf("storage = %q, want it resolved against renewd.yaml's directory", c.Storage)
	}
	if c.DomainsDir != filepath.Join(dir, "certs") {
		t.Errorf("domains_dir = %q", c.DomainsDir)
	}
	if got := c.ACME.CACertificates; len(got) != 1 || got[0] != filepath.Join(dir, "pem", "pebble.pem") {
		t.Errorf("ca_certificates = %q", got)
	}
	if c.Retry.Max != 36*time.Hour || c.Concurrency != 64 || c.ACME.EAB.HMACKey != "c2VjcmV0LWtleQ" {
		t.Errorf("retry.max = %v, concurrency = %d, hmac_key = %q", c.Retry.Max, c.Concurrency, c.ACME.EAB.HMACKey)
	}
	cert := c.Certificate("api-1")
	if cert == nil {
		t.Fatal(`Certificate("api-1") = nil`)
	}
	if got, want := strings.Join(cert.Domains, " "), "api.example.com xn--bcher-kva.example"; got != want {
		t.Errorf("domains = %q, want %q", got, want)
	}
	d := cert.Challenge.DNS01
	if got, want := strings.Join(d.Resolvers, " "), "1.1.1.1:53 [2606:4700:4700::1111]:53 [2606:4700:4700::1001]:53 ns1.example.net:5353"; got != want {
		t.Errorf("resolvers = %q, want %q", got, want)
	}
	if !cert.Canary || !d.SkipPropagationCheck || d.PropagationTimeout != 5*time.Minute ||
		cert.RenewBefore != 30*24*time.Hour || cert.KeyType != "ec384" || !cert.Deploy.Nginx {
		t.Errorf("certificate = %+v", cert)
	}
	if got := c.Trust.ExtraRoots; len(got) != 1 || got[0] != filepath.Join(dir, "root.pem") {
		t.Errorf("extra_roots = %q", got)
	}
	if c.Certificate("nope") != nil {
		t.Error(`Certificate("nope") != nil`)
	}
}
