package importer

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/readfile"
)

// The values acme.sh writes in a certificate's <domain>.conf (acme.sh's
// _savedomainconf: KEY='value', base64 between these markers).
const (
	acmeshB64Start = "__ACME_BASE64__START_"
	acmeshB64End   = "__ACME_BASE64__END_"
	acmeshNoValue  = "no"
	acmeshEccDir   = "_ecc"
)

// ReadAcmeSh reads the certificates acme.sh manages under home (its
// --home, ~/.acme.sh by default): one Candidate per <domain>/<domain>.conf
// or <domain>_ecc/<domain>.conf, with the files acme.sh keeps there
// (<domain>.cer, <domain>.key, ca.cer, fullchain.cer).
func ReadAcmeSh(home string) ([]*Candidate, error) {
	entries, err := os.ReadDir(home)
	if err != nil {
		return nil, fmt.Errorf("acme.sh home: %w", err)
	}
	account, _ := readShellConf(filepath.Join(home, "account.conf"))
	var out []*Candidate
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		domain := strings.TrimSuffix(e.Name(), acmeshEccDir)
		conf := filepath.Join(home, e.Name(), domain+".conf")
		if _, err := os.Stat(conf); err != nil {
			continue // ca/, deploy/, dnsapi/ and the like
		}
		out = append(out, readAcmeShDomain(home, e.Name(), domain, account))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no acme.sh certificate (<domain>/<domain>.conf); is it acme.sh's --home?", home)
	}
	return out, nil
}

func readAcmeShDomain(home, dirName, domain string, account map[string]string) *Candidate {
	dir := filepath.Join(home, dirName)
	conf := filepath.Join(dir, domain+".conf")
	c := &Candidate{Origin: conf, Name: certName(domain)}
	if strings.HasSuffix(dirName, acmeshEccDir) {
		if _, err := os.Stat(filepath.Join(home, domain)); err == nil {
			c.Name = certName(domain + "-ecc") // an RSA certificate for the same domain is next to it
		}
	}
	v, err := readShellConf(conf)
	if err != nil {
		return c.refuse("%v", err)
	}
	c.Domains = []string{strings.ToLower(v["Le_Domain"])}
	if alt := v["Le_Alt"]; alt != "" && alt != acmeshNoValue {
		for _, d := range strings.Split(alt, ",") {
			if d = strings.ToLower(strings.TrimSpace(d)); d != "" && !slices.Contains(c.Domains, d) {
				c.Domains = append(c.Domains, d)
			}
		}
	}
	full, leaf := filepath.Join(dir, "fullchain.cer"), filepath.Join(dir, domain+".cer")
	c.CertFiles = []string{full, leaf, filepath.Join(dir, "ca.cer")}
	c.KeyFile = filepath.Join(dir, domain+".key")
	c.CA = v["Le_API"]
	c.Targets = slices.DeleteFunc([]string{v["Le_RealFullChainPath"], v["Le_RealCertPath"], full, leaf}, func(s string) bool { return s == "" })
	c.mapAcmeShChallenge(v, conf, acmeshSecrets(conf, v, filepath.Join(home, "account.conf"), account))
	c.acmeShDeploy(v, conf)
	for _, h := range []string{"Le_PreHook", "Le_PostHook", "Le_RenewHook"} {
		if v[h] != "" {
			// The command is not quoted: a hook may carry a token.
			c.note("acme.sh's %s (%s in %s) is not run by renewd; renewd's deploy.hooks take argv lists, without a shell", strings.TrimPrefix(h, "Le_"), h, conf)
		}
	}
	if v["Le_ChallengeAlias"] != "" {
		c.note("acme.sh validated through the alias %s: lego follows the _acme-challenge CNAME itself, so keep the CNAME", v["Le_ChallengeAlias"])
	}
	if v["Le_Preferred_Chain"] != "" {
		c.note("acme.sh preferred the chain %q: renewd's is acme.preferred_chain in renewd.yaml, for every certificate", v["Le_Preferred_Chain"])
	}
	return c
}

// acmeshSecrets finds where acme.sh keeps a DNS hook's variable: as
// SAVED_<name> (or, from old versions, <name>) in the certificate's conf
// or in account.conf. It says where, never what.
func acmeshSecrets(domainConf string, domain map[string]string, accountConf string, account map[string]string) func(string) (string, bool) {
	sources := []struct {
		file string
		m    map[string]string
	}{{domainConf, domain}, {accountConf, account}}
	return func(k string) (string, bool) {
		for _, s := range sources {
			for _, name := range []string{"SAVED_" + k, k} {
				if _, ok := s.m[name]; ok {
					return name + " in " + s.file, true
				}
			}
		}
		return "", false
	}
}

// mapAcmeShChallenge maps Le_Webroot: a directory, "no" (standalone),
// "alpn", "dns" (manual), "dns_xxx" (a DNS API hook), "nginx:" or
// "apache" (acme.sh edits the web server), "stateless".
func (c *Candidate) mapAcmeShChallenge(v map[string]string, conf string, secret func(string) (string, bool)) {
	roots := splitList(v["Le_Webroot"])
	if len(roots) == 0 {
		c.refuse("%s: Le_Webroot is empty; acme.sh records how it validated there", conf)
		return
	}
	if len(slices.Compact(slices.Clone(roots))) > 1 {
		c.refuse("%s: the names validate in different ways (%s); renewd takes one challenge per certificate", conf, strings.Join(roots, ", "))
		return
	}
	root := roots[0]
	switch {
	case filepath.IsAbs(root):
		c.Challenge = config.Challenge{Type: "http-01", HTTP01: config.HTTP01{Webroot: root}}
	case root == acmeshNoValue:
		port := v["Le_HTTPPort"]
		if port == "" {
			port = "80"
		}
		c.Challenge = config.Challenge{Type: "http-01", HTTP01: config.HTTP01{Listen: hostPort(v["Le_Listen_V4"], port)}}
	case strings.HasPrefix(root, "dns_"):
		m, ok := acmeshDNS[root]
		if !ok {
			c.refuse("%s: acme.sh's DNS hook %s has no lego equivalent mapped here (mapped: %s); write domains.d/%s.yaml with the lego provider for your DNS host (https://go-acme.github.io/lego/dns/)", conf, root, knownDNS(acmeshDNS), c.Name)
			return
		}
		c.mapDNS(m, func(k string) bool { _, ok := secret(k); return ok }, func(names []string) string {
			var where []string
			for _, n := range names {
				w, ok := secret(n)
				if !ok {
					w = n + " (not found in acme.sh's files)"
				}
				where = append(where, w)
			}
			if len(where) > 1 {
				return strings.Join(where, " and ") + ", joined with a comma"
			}
			return where[0]
		})
	case root == "dns":
		c.refuse("%s: a manual DNS challenge (--dns without a hook): renewd cannot ask a person to set records; give it a DNS provider and write domains.d/%s.yaml", conf, c.Name)
	default:
		c.refuse("%s: Le_Webroot %q (tls-alpn, or acme.sh editing nginx or apache) has no renewd equivalent; use a webroot, renewd's own listener or a DNS provider", conf, root)
	}
}

// acmeShDeploy maps --install-cert: the files acme.sh copies the
// certificate to, and its reload command.
func (c *Candidate) acmeShDeploy(v map[string]string, conf string) {
	full, leaf, key := v["Le_RealFullChainPath"], v["Le_RealCertPath"], v["Le_RealKeyPath"]
	switch {
	case key == "":
		return
	case full != "":
		c.Deploy.Fullchain, c.Deploy.Key = full, key
	case leaf != "":
		c.Deploy.Fullchain, c.Deploy.Key = leaf, key
		c.note("acme.sh installed the leaf alone to %s (--cert-file, no --fullchain-file): renewd writes the full chain there", leaf)
	}
	if ca := v["Le_RealCACertPath"]; ca != "" {
		c.note("acme.sh also installed the intermediates to %s (--ca-file); renewd does not update that file", ca)
	}
	switch cmd := v["Le_ReloadCmd"]; {
	case strings.Contains(cmd, "nginx"):
		c.Deploy.Nginx = true
	case cmd != "":
		c.note("acme.sh's reload command (Le_ReloadCmd in %s) is not run by renewd; add what it does as deploy.hooks (an argv list, no shell)", conf)
	}
}

func hostPort(host, port string) string {
	if strings.Contains(host, ":") {
		host = "[" + strings.Trim(host, "[]") + "]"
	}
	return host + ":" + port
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// readShellConf reads KEY='value' lines as acme.sh writes them, decoding
// its base64 markers. Lines it does not write (comments, exports) are
// skipped.
func readShellConf(file string) (map[string]string, error) {
	data, err := readfile.Bounded(file, maxToolFile)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "export "))
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") || k == "" || strings.ContainsAny(k, " \t") {
			continue
		}
		out[k] = decodeShellValue(v)
	}
	return out, nil
}

func decodeShellValue(v string) string {
	if len(v) >= 2 && (v[0] == '\'' || v[0] == '"') && v[len(v)-1] == v[0] {
		v = v[1 : len(v)-1]
	}
	if b, ok := strings.CutPrefix(v, acmeshB64Start); ok {
		if b, ok = strings.CutSuffix(b, acmeshB64End); ok {
			if dec, err := base64.StdEncoding.DecodeString(b); err == nil {
				return string(dec)
			}
		}
	}
	return v
}
