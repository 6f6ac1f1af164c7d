package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// httpCert is a valid http-01 certificate file body after its domains line.
const httpChallenge = "challenge:\n  type: http-01\n  http01: {webroot: /var/www/acme}\n"

func TestLoadCertificateErrors(t *testing.T) {
	long63 := strings.Repeat("a", 63)
	tests := []struct {
		desc  string
		files map[string]string // domains.d/<name>: content
		want  []string
	}{
		{
			desc:  "empty file",
			files: map[string]string{"shop.yaml": ""},
			want:  []string{"domains.d/shop.yaml: the file is empty; a certificate file needs at least domains and challenge"},
		},
		{
			desc:  "file with only comments",
			files: map[string]string{"shop.yaml": "# todo\n"},
			want:  []string{"domains.d/shop.yaml: the file is empty; a certificate file needs at least domains and challenge"},
		},
		{
			desc:  "file with only a document marker",
			files: map[string]string{"shop.yaml": "# todo\n---\n"},
			want:  []string{"domains.d/shop.yaml:2: the file is empty; a certificate file needs at least domains and challenge"},
		},
		{
			desc:  "a list instead of a mapping",
			files: map[string]string{"shop.yaml": "- shop.example.com\n"},
			want:  []string{"domains.d/shop.yaml:1: want a mapping with keys name, domains, canary, challenge, key_type, renew_before, deploy, got a list"},
		},
		{
			desc:  "unquoted wildcard is a YAML alias",
			files: map[string]string{"wild.yaml": "challenge: {type: dns-01, dns01: {provider: alidns}}\ndomains:\n  - *.example.com\n"},
			want:  []string{`domains.d/wild.yaml:3: invalid YAML: did not find expected alphabetic or numeric character; quote values that start with * or &, such as "*.example.com"`},
		},
		{
			desc:  "unquoted wildcard on the first line",
			files: map[string]string{"wild.yaml": "domains: [*.example.com]\n"},
			want:  []string{`domains.d/wild.yaml:1: invalid YAML: did not find expected alphabetic or numeric character; quote values that start with * or &, such as "*.example.com"`},
		},
		{
			desc:  "alias without anchor",
			files: map[string]string{"shop.yaml": httpChallenge + "domains: [*shop]\n"},
			want:  []string{"domains.d/shop.yaml:4: invalid YAML: unknown anchor 'shop' referenced"},
		},
		{
			desc:  "anchors and aliases work",
			files: map[string]string{"shop.yaml": "domains: [&d shop.example.com]\nchallenge:\n  type: http-01\n  http01: {listen: *d}\n"},
			want:  []string{`domains.d/shop.yaml:4: challenge.http01.listen: "shop.example.com" is not host:port; write it like 127.0.0.1:8402 or [::1]:8402`},
		},
		{
			desc:  "duplicate key in a certificate",
			files: map[string]string{"shop.yaml": "domains: [shop.example.com]\n" + httpChallenge + "domains: [www.example.com]\n"},
			want:  []string{"domains.d/shop.yaml:5: domains: duplicate key; first set at line 1"},
		},
		{
			desc: "challenge type misspelt",
			files: map[string]string{"shop.yaml": `domains: [shop.example.com]
challenge:
  http01: {webroot: /var/www/acme}
  type: http01
`},
			want: []string{`domains.d/shop.yaml:4: challenge.type: "http01" is not valid; use http-01 or dns-01`},
		},
		{
			desc:  "challenge missing",
			files: map[string]string{"shop.yaml": "\n\ndomains: [shop.example.com]\n"},
			want:  []string{"domains.d/shop.yaml:3: challenge.type: missing; use http-01 or dns-01"},
		},
		{
			desc:  "challenge type missing points at challenge",
			files: map[string]string{"shop.yaml": "domains: [shop.example.com]\nchallenge:\n  http01: {webroot: /var/www/acme}\n"},
			want:  []string{"domains.d/shop.yaml:2: challenge.type: missing; use http-01 or dns-01"},
		},
		{
			desc:  "unknown key in a certificate",
			files: map[string]string{"shop.yaml": "domains: [shop.example.com]\n" + httpChallenge + "deploy:\n  fullchian: /etc/ssl/a.pem\n"},
			want:  []string{"domains.d/shop.yaml:6: deploy.fullchian: unknown field; did you mean fullchain? valid: fullchain, key, owner, group, mode, key_mode, nginx, hooks, hook_timeout, pkcs12, baota"},
		},
		{
			desc:  "http-01 with neither webroot nor listen",
			files: map[string]string{"shop.yaml": "domains: [shop.example.com]\nchallenge:\n  type: http-01\n"},
			want:  []string{"domains.d/shop.yaml:2: challenge.http01: missing; set webroot (a directory your web server serves /.well-known/acme-challenge/ from) or listen (host:port where renewd answers, such as 127.0.0.1:8402)"},
		},
		{
			desc:  "http-01 with both",
			files: map[string]string{"shop.yaml": "domains: [shop.example.com]\nchallenge:\n  type: http-01\n  http01:\n    webroot: /var/www/acme\n    listen: 127.0.0.1:8402\n"},
			want:  []string{"domains.d/shop.yaml:4: challenge.http01: has both webroot and listen; set one of them"},
		},
		{
			desc:  "http-01 with a dns01 block",
			files: map[string]string{"shop.yaml": "domains: [shop.example.com]\n" + httpChallenge + "  dns01: {provider: alidns}\n"},
			want:  []string{"domains.d/shop.yaml:5: challenge.dns01: is set but challenge.type is http-01; remove it, or use type dns-01"},
		},
		{
			desc:  "relative webroot",
			files: map[string]string{"shop.yaml": "domains: [shop.example.com]\nchallenge:\n  type: http-01\n  http01: {webroot: www/acme}\n"},
			want:  []string{`domains.d/shop.yaml:4: challenge.http01.webroot: "www/acme" is not an absolute path; write it like /var/www/acme`},
		},
		{
			desc:  "listen without port",
			files: map[string]string{"shop.yaml": "domains: [shop.example.com]\nchallenge:\n  type: http-01\n  http01: {listen: 127.0.0.1}\n"},
			want:  []string{`domains.d/shop.yaml:4: challenge.http01.listen: "127.0.0.1" is not host:port; write it like 127.0.0.1:8402 or [::1]:8402`},
		},
		{
			desc:  "dns-01 without provider, with an http01 block",
			files: map[string]string{"wild.yaml": "domains: [\"*.example.com\"]\nchallenge:\n  type: dns-01\n  http01: {listen: \":80\"}\n"},
			want: []string{
				"domains.d/wild.yaml:2: challenge.dns01.provider: missing; use a lego DNS provider name such as cloudflare, alidns or route53",
				"domains.d/wild.yaml:4: challenge.http01: is set but challenge.type is dns-01; remove it, or use type http-01",
			},
		},
		{
			desc: "dns-01 resolvers, timeout and env names",
			files: map[string]string{"wild.yaml": `domains: ["*.example.com"]
challenge:
  type: dns-01
  dns01:
    provider: alidns
    env:
      ALICLOUD-KEY: x
    resolvers:
      - 8.8.8.8:53
      - "8.8.8.8:dns"
      - "::1:53:x"
    propagation_timeout: 0s
`},
			want: []string{
				`domains.d/wild.yaml:7: challenge.dns01.env.ALICLOUD-KEY: "ALICLOUD-KEY" is not an environment variable name; use lego's names for the provider, such as CLOUDFLARE_DNS_API_TOKEN`,
				`domains.d/wild.yaml:10: challenge.dns01.resolvers[1]: "8.8.8.8:dns" has port "dns"; use a number from 1 to 65535`,
				`domains.d/wild.yaml:11: challenge.dns01.resolvers[2]: "::1:53:x" is not host:port; write it like 8.8.8.8:53, [2001:4860:4860::8888]:53 or ns1.example.com`,
				"domains.d/wild.yaml:12: challenge.dns01.propagation_timeout: must be positive, such as 2m",
			},
		},
		{
			desc:  "key_type and renew_before",
			files: map[string]string{"shop.yaml": "domains: [shop.example.com]\n" + httpChallenge + "key_type: P256\nrenew_before: -1h\n"},
			want: []string{
				`domains.d/shop.yaml:5: key_type: "P256" is not valid; use ec256, ec384, rsa2048, rsa3072 or rsa4096`,
				"domains.d/shop.yaml:6: renew_before: must not be negative; use 0 for the CA's ARI window and the default policy, or a duration such as 30d",
			},
		},
		{
			desc:  "canary must be a boolean",
			files: map[string]string{"shop.yaml": "domains: [shop.example.com]\ncanary: yes\n" + httpChallenge},
			want:  []string{`domains.d/shop.yaml:2: canary: want true or false, got "yes"`},
		},
		{
			desc:  "deploy needs both files, absolute",
			files: map[string]string{"shop.yaml": "domains: [shop.example.com]\n" + httpChallenge + "deploy:\n  fullchain: ssl/fullchain.pem\n"},
			want: []string{
				"domains.d/shop.yaml:5: deploy.key: missing; set both fullchain and key, or neither",
				`domains.d/shop.yaml:6: deploy.fullchain: "ssl/fullchain.pem" is not an absolute path; write it like /etc/nginx/ssl/shop/fullchain.pem`,
			},
		},
		{
			desc:  "deploy key and fullchain the same file",
			files: map[string]string{"shop.yaml": "domains: [shop.example.com]\n" + httpChallenge + "deploy: {fullchain: /etc/ssl/a.pem, key: /etc/ssl/a.pem}\n"},
			want:  []string{"domains.d/shop.yaml:5: deploy.key: is the same file as deploy.fullchain; use two files"},
		},
		{
			desc:  "explicit name that is not a safe file name",
			files: map[string]string{"shop.yaml": "name: ../shop\ndomains: [shop.example.com]\n" + httpChallenge},
			want:  []string{`domains.d/shop.yaml:1: name: certificate name "../shop" contains ".."; use letters, digits, '.', '_' or '-'`},
		},
		{
			desc:  "name derived from an unsafe file name",
			files: map[string]string{"my shop.yaml": "domains: [shop.example.com]\n" + httpChallenge},
			want:  []string{`domains.d/my shop.yaml:1: name: certificate name "my shop" has ' ' at byte 2; use letters, digits, '.', '_' or '-' (not first); the name comes from the file name: rename the file or set name:`},
		},
		{
			desc:  "hostile name with a newline and a command",
			files: map[string]string{"shop.yaml": "name: \"x\\n$(id)\"\ndomains: [shop.example.com]\n" + httpChallenge},
			want:  []string{`domains.d/shop.yaml:1: name: certificate name "x\n$(id)" has '\n' at byte 1; use letters, digits, '.', '_' or '-' (not first)`},
		},
		{
			desc:  "no domains",
			files: map[string]string{"shop.yaml": "domains: []\n" + httpChallenge},
			want:  []string{"domains.d/shop.yaml:1: domains: missing; list 1 to 100 names, such as [shop.example.com, www.shop.example.com]"},
		},
		{
			desc:  "too many domains",
			files: map[string]string{"shop.yaml": "domains:\n" + manyDomains(101) + httpChallenge},
			want:  []string{"domains.d/shop.yaml:1: domains: has 101 names; at most 100 fit in one certificate, so split them over several files"},
		},
		{
			desc: "every domain rule, with its item's line",
			files: map[string]string{"shop.yaml": "challenge:\n  type: dns-01\n  dns01: {provider: alidns}\ndomains:\n" + domainList(
				"",
				"192.0.2.1",
				"2001:db8::1",
				"[2001:db8::1]",
				"localhost",
				"app.localhost",
				"intranet",
				"a..example.com",
				".example.com",
				long63+"a.example.com",
				strings.Repeat(long63+".", 4)+"com",
				"shop_1.example.com",
				"-shop.example.com",
				"shop-.example.com",
				"shop.*.example.com",
				"*",
				"**.example.com",
				"*.com",
				"shop.example.123",
				"$(id).example.com",
				"xn--zz.example.com",
				"ex\u00e4mple\u2024com",
				"shop.example.com",
				"SHOP.example.com.",
			)},
			want: []string{
				`domains.d/shop.yaml:5: domains[0]: "" is empty; write a name such as shop.example.com`,
				`domains.d/shop.yaml:6: domains[1]: "192.0.2.1" is an IP address; renewd requests certificates for DNS names only`,
				`domains.d/shop.yaml:7: domains[2]: "2001:db8::1" is an IP address; renewd requests certificates for DNS names only`,
				`domains.d/shop.yaml:8: domains[3]: "[2001:db8::1]" is an IP address; renewd requests certificates for DNS names only`,
				`domains.d/shop.yaml:9: domains[4]: "localhost" is localhost or under it, which no public CA issues for`,
				`domains.d/shop.yaml:10: domains[5]: "app.localhost" is localhost or under it, which no public CA issues for`,
				`domains.d/shop.yaml:11: domains[6]: "intranet" has no dot; use a fully qualified name such as shop.example.com`,
				`domains.d/shop.yaml:12: domains[7]: "a..example.com" label 2 is empty (two dots in a row, or a leading dot)`,
				`domains.d/shop.yaml:13: domains[8]: ".example.com" label 1 is empty (two dots in a row, or a leading dot)`,
				`domains.d/shop.yaml:14: domains[9]: "` + long63 + `a.example.com" label 1 is 64 bytes long; at most 63 are allowed`,
				`domains.d/shop.yaml:15: domains[10]: "` + strings.Repeat(long63+".", 4) + `com" is 259 bytes long; at most 253 are allowed`,
				`domains.d/shop.yaml:16: domains[11]: "shop_1.example.com" label 1 "shop_1" has '_'; use letters, digits and '-'`,
				`domains.d/shop.yaml:17: domains[12]: "-shop.example.com" label 1 "-shop" starts or ends with '-'`,
				`domains.d/shop.yaml:18: domains[13]: "shop-.example.com" label 1 "shop-" starts or ends with '-'`,
				`domains.d/shop.yaml:19: domains[14]: "shop.*.example.com" has a "*" that is not the whole leftmost label; a wildcard is written *.example.com`,
				`domains.d/shop.yaml:20: domains[15]: "*" has a "*" that is not the whole leftmost label; a wildcard is written *.example.com`,
				`domains.d/shop.yaml:21: domains[16]: "**.example.com" has a "*" that is not the whole leftmost label; a wildcard is written *.example.com`,
				`domains.d/shop.yaml:22: domains[17]: "*.com" is a wildcard over a top-level domain; a wildcard is written *.example.com`,
				`domains.d/shop.yaml:23: domains[18]: "shop.example.123" ends in an all-digit label, which looks like an IP address; use a DNS name`,
				`domains.d/shop.yaml:24: domains[19]: "$(id).example.com" label 1 "$(id)" has '$'; use letters, digits and '-'`,
				`domains.d/shop.yaml:25: domains[20]: "xn--zz.example.com" is not a valid internationalised domain name (idna: invalid label "zz")`,
				`domains.d/shop.yaml:26: domains[21]: "exämple․com" is not a valid internationalised domain name (idna: disallowed rune U+2024)`,
				`domains.d/shop.yaml:28: domains[23]: "SHOP.example.com." is listed twice (also domains[22] on line 27); list each name once`,
			},
		},
		{
			desc:  "wildcard with http-01 says use dns-01",
			files: map[string]string{"shop.yaml": "domains:\n  - shop.example.com\n  - \"*.shop.example.com\"\n" + httpChallenge},
			want:  []string{`domains.d/shop.yaml:3: domains[1]: "*.shop.example.com" is a wildcard, which http-01 cannot validate; use challenge.type dns-01`},
		},
		{
			desc:  "domains given as a string",
			files: map[string]string{"shop.yaml": "domains: shop.example.com\n" + httpChallenge},
			want:  []string{`domains.d/shop.yaml:1: domains: want a list, got a string; write [a, b] or one "- item" per line`},
		},
		{
			desc: "same domain in two files names both",
			files: map[string]string{
				"a.yaml": "domains:\n  - www.example.com\n  - api.example.com\n" + httpChallenge,
				"b.yaml": "domains: [shop.example.com, API.example.com]\n" + httpChallenge,
			},
			want: []string{`domains.d/b.yaml:1: domains[1]: "api.example.com" is also in domains.d/a.yaml:3; a domain belongs to one certificate only`},
		},
		{
			desc: "same name in two files names both",
			files: map[string]string{
				"a.yaml":    "domains: [a.example.com]\n" + httpChallenge,
				"shop.yaml": "domains: [shop.example.com]\n" + httpChallenge,
				"z.yaml":    "name: shop\ndomains: [z.example.com]\n" + httpChallenge,
			},
			want: []string{`domains.d/z.yaml:1: name: "shop" is also the name of domains.d/shop.yaml; each certificate needs its own name (set name: or rename a file)`},
		},
		{
			desc: "same name from shop.yaml and shop.yml",
			files: map[string]string{
				"shop.yaml": "domains: [shop.example.com]\n" + httpChallenge,
				"shop.yml":  "domains: [www.example.com]\n" + httpChallenge,
			},
			want: []string{`domains.d/shop.yml:1: name: "shop" is also the name of domains.d/shop.yaml; each certificate needs its own name (set name: or rename a file)`},
		},
		{
			desc: "same deploy file in two certificates",
			files: map[string]string{
				"a.yaml": "domains: [a.example.com]\n" + httpChallenge + "deploy: {fullchain: /etc/ssl/fc.pem, key: /etc/ssl/a.key}\n",
				"b.yaml": "domains: [b.example.com]\n" + httpChallenge + "deploy: {fullchain: /etc/ssl/fc.pem, key: /etc/ssl/b.key}\n",
			},
			want: []string{`domains.d/b.yaml:5: deploy.fullchain: "/etc/ssl/fc.pem" is also written by domains.d/a.yaml:5; each certificate needs its own files`},
		},
		{
			desc: "errors of every file are collected, in file order",
			files: map[string]string{
				"b.yaml": "domains: [b.example.com]\nchallenge: {type: tls-alpn-01}\n",
				"a.yaml": "domains: [a]\n" + httpChallenge + "key_type: ec\n",
			},
			want: []string{
				`domains.d/a.yaml:1: domains[0]: "a" has no dot; use a fully qualified name such as shop.example.com`,
				`domains.d/a.yaml:5: key_type: "ec" is not valid; use ec256, ec384, rsa2048, rsa3072 or rsa4096`,
				`domains.d/b.yaml:2: challenge.type: "tls-alpn-01" is not valid; use http-01 or dns-01`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			files := map[string]string{"renewd.yaml": "", "domains.d/": ""}
			for name, content := range tt.files {
				files["domains.d/"+name] = content
			}
			_, got, _ := loadTree(t, files, Options{})
			diffLines(t, got, tt.want)
		})
	}
}

func TestLoadCollectsGlobalAndCertificateErrors(t *testing.T) {
	_, got, _ := loadTree(t, map[string]string{
		"renewd.yaml":         "acme:\n  key_type: ec999\nconcurrency: -1\n",
		"domains.d/a.yaml":    "domains: [a.example.com]\n" + httpChallenge + "canary: 1\n",
		"domains.d/b.yaml":    "domains: [b.example.com]\nchallenge: {type: dns-01}\n",
		"domains.d/c.yaml":    "domains: [c.example.com\n",
		"domains.d/ok.yaml":   "domains: [ok.example.com]\n" + httpChallenge,
		"domains.d/z.yaml":    "",
		"domains.d/b.yaml.md": "ignored",
	}, Options{})
	diffLines(t, got, []string{
		`renewd.yaml:2: acme.key_type: "ec999" is not valid; use ec256, ec384, rsa2048, rsa3072 or rsa4096`,
		"renewd.yaml:3: concurrency: -1 is out of range; use 1 to 256",
		`domains.d/a.yaml:5: canary: want true or false, got "1"`,
		"domains.d/b.yaml:2: challenge.dns01.provider: missing; use a lego DNS provider name such as cloudflare, alidns or route53",
		"domains.d/c.yaml:2: invalid YAML: did not find expected ',' or ']'",
		"domains.d/z.yaml: the file is empty; a certificate file needs at least domains and challenge",
	})
}

func TestLoadCertificateKeyTypeInherited(t *testing.T) {
	c, _ := mustLoad(t, map[string]string{
		"renewd.yaml":      "acme: {key_type: rsa2048}\n",
		"domains.d/a.yaml": "domains: [a.example.com]\n" + httpChallenge,
		"domains.d/b.yaml": "domains: [b.example.com]\nkey_type: ec384\n" + httpChallenge,
	}, Options{})
	if a, b := c.Certificate("a").KeyType, c.Certificate("b").KeyType; a != "rsa2048" || b != "ec384" {
		t.Errorf("key types = %q, %q; want rsa2048 (inherited), ec384", a, b)
	}
}

func manyDomains(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "  - d%d.example.com\n", i)
	}
	return b.String()
}

// domainList writes one quoted list item per line.
func domainList(names ...string) string {
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "  - %q\n", n)
	}
	return b.String()
}

func TestLoadCertificateFiles(t *testing.T) {
	c, dir := mustLoad(t, map[string]string{
		"renewd.yaml":            "",
		"domains.d/b.yaml":       "domains: [b.example.com]\n" + httpChallenge,
		"domains.d/a.yml":        "name: zz\ndomains: [a.example.com]\n" + httpChallenge,
		"domains.d/.hidden.yaml": "not: [valid",
		"domains.d/c.yaml.bak":   "not: [valid",
		"domains.d/README":       "not: [valid",
		"domains.d/d.YAML":       "not: [valid",
		"domains.d/sub.yaml/x":   "not: [valid",
		"domains.d/sub/e.yaml":   "not: [valid",
	}, Options{})
	var got []string
	for _, cert := range c.Certificates {
		got = append(got, cert.Name+"="+strings.TrimPrefix(cert.File, dir+string(filepath.Separator)))
	}
	if want := "b=domains.d/b.yaml zz=domains.d/a.yml"; strings.Join(got, " ") != want {
		t.Errorf("certificates = %q, want %q (sorted by name)", got, want)
	}
	if cert := c.Certificate("zz"); cert == nil || cert.Domains[0] != "a.example.com" {
		t.Errorf(`Certificate("zz") = %+v`, cert)
	}
}

func TestLoadEmptyDomainsDir(t *testing.T) {
	c, _ := mustLoad(t, map[string]string{"renewd.yaml": "domains_dir: certs\n", "certs/": ""}, Options{})
	if len(c.Certificates) != 0 {
		t.Errorf("certificates = %d, want 0", len(c.Certificates))
	}
}

func TestLoadSymlinkedCertificate(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"renewd.yaml":         "",
		"available/shop.yaml": "domains: [shop.example.com]\n" + httpChallenge,
		"domains.d/":          "",
	})
	if err := os.Symlink(filepath.Join(dir, "available", "shop.yaml"), filepath.Join(dir, "domains.d", "shop.yaml")); err != nil {
		t.Skip("symlinks not available:", err)
	}
	if err := os.Symlink(filepath.Join(dir, "missing.yaml"), filepath.Join(dir, "domains.d", "gone.yaml")); err != nil {
		t.Fatal(err)
	}
	_, err := Load(filepath.Join(dir, "renewd.yaml"), Options{})
	diffLines(t, errorLines(t, err, dir), []string{"domains.d/gone.yaml: cannot read: no such file or directory"})
}

func TestDeployFields(t *testing.T) {
	t.Setenv("RENEWD_TEST_P12", "changeit")
	cases := []struct {
		desc   string
		deploy string
		want   string // substring of the error; empty = valid
	}{
		{desc: "defaults", deploy: "deploy: {fullchain: /x/f.pem, key: /x/k.pem}\n"},
		{desc: "group-readable key", deploy: "deploy: {fullchain: /x/f.pem, key: /x/k.pem, key_mode: \"0640\", owner: root, group: \"0\"}\n"},
		{desc: "world-readable key", deploy: "deploy: {fullchain: /x/f.pem, key: /x/k.pem, key_mode: \"0644\"}\n",
			want: `shop.yaml:5: deploy.key_mode: "0644" lets other users read or change the private key`},
		{desc: "mode not octal", deploy: "deploy: {fullchain: /x/f.pem, key: /x/k.pem, mode: \"rw-r--r--\"}\n",
			want: `deploy.mode: "rw-r--r--" is not an octal mode`},
		{desc: "unknown owner", deploy: "deploy: {fullchain: /x/f.pem, key: /x/k.pem, owner: no-such-user-renewd}\n",
			want: `deploy.owner: "no-such-user-renewd" is not a user or group on this machine`},
		{desc: "empty hook", deploy: "deploy:\n  hooks: [[]]\n", want: "deploy.hooks[0]: is empty"},
		{desc: "hook argv", deploy: "deploy:\n  hooks: [[systemctl, restart, tomcat]]\n  hook_timeout: 5s\n"},
		{desc: "pkcs12 ok", deploy: "deploy:\n  pkcs12: {path: /x/k.p12, password_env: RENEWD_TEST_P12}\n"},
		{desc: "pkcs12 env unset", deploy: "deploy:\n  pkcs12: {path: /x/k.p12, password_env: RENEWD_TEST_UNSET_P12}\n",
			want: "deploy.pkcs12.password_env: environment variable RENEWD_TEST_UNSET_P12 is not set"},
		{desc: "pkcs12 relative", deploy: "deploy:\n  pkcs12: {path: k.p12, password_env: RENEWD_TEST_P12}\n",
			want: `deploy.pkcs12.path: "k.p12" is not an absolute path`},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "renewd.yaml"), []byte("storage: "+dir+"/s\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(dir, "domains.d"), 0o755); err != nil {
				t.Fatal(err)
			}
			y := "domains: [shop.example.com]\nchallenge:\n  type: http-01\n  http01: {listen: \"127.0.0.1:8402\"}\n" + tc.deploy
			if err := os.WriteFile(filepath.Join(dir, "domains.d", "shop.yaml"), []byte(y), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := Load(filepath.Join(dir, "renewd.yaml"), Options{})
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				d := cfg.Certificates[0].Deploy
				if d.KeyPerm&0o007 != 0 || d.FilePerm == 0 || d.HookTimeout <= 0 {
					t.Errorf("resolved deploy fields: %+v", d)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
