package importer

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/readfile"
)

// DefaultCertbotDir is where Debian's certbot keeps its configuration.
const DefaultCertbotDir = "/etc/letsencrypt"

// maxToolFile bounds a configuration file of another tool.
const maxToolFile = 1 << 20

// ReadCertbot reads certbot's lineages from dir (its --config-dir): one
// Candidate per renewal/<name>.conf, with the files certbot points at.
func ReadCertbot(dir string) ([]*Candidate, error) {
	files, err := filepath.Glob(filepath.Join(dir, "renewal", "*.conf"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		if _, err := os.Stat(filepath.Join(dir, "renewal")); err != nil {
			return nil, fmt.Errorf("%s is not certbot's configuration directory (no renewal/): %w", dir, err)
		}
	}
	slices.Sort(files)
	var out []*Candidate
	for _, f := range files {
		out = append(out, readCertbotLineage(f))
	}
	return out, nil
}

// certbotConf is a renewal/<name>.conf: configobj's INI with sections
// ([renewalparams]) and subsections ([[webroot_map]]).
type certbotConf struct {
	top, params, webroot map[string]string
	webrootOrder         []string
}

func readCertbotLineage(file string) *Candidate {
	name := strings.TrimSuffix(filepath.Base(file), ".conf")
	c := &Candidate{Origin: file, Name: certName(name)}
	conf, err := parseCertbotConf(file)
	if err != nil {
		return c.refuse("%v", err)
	}
	for _, k := range []string{"cert", "privkey", "fullchain"} {
		if conf.top[k] == "" {
			return c.refuse("%s: %s is not set; certbot cannot have renewed this lineage either", file, k)
		}
	}
	c.CertFiles = []string{conf.top["fullchain"], conf.top["cert"]}
	if ch := conf.top["chain"]; ch != "" {
		c.CertFiles = append(c.CertFiles, ch)
	}
	c.KeyFile = conf.top["privkey"]
	c.Targets = []string{conf.top["fullchain"], conf.top["cert"]}
	c.CA = conf.params["server"]
	c.mapCertbotChallenge(conf, file)
	for _, h := range []string{"pre_hook", "post_hook", "renew_hook"} {
		if conf.params[h] != "" {
			// The command is not quoted: a hook may carry a token.
			c.note("certbot's %s (in %s) is not run by renewd; renewd's deploy.hooks take argv lists, without a shell", h, file)
		}
	}
	if hooks, _ := filepath.Glob(filepath.Join(filepath.Dir(filepath.Dir(file)), "renewal-hooks", "deploy", "*")); len(hooks) > 0 {
		c.note("certbot's deploy hooks %s are not run by renewd; add what they do as deploy.hooks", strings.Join(hooks, ", "))
	}
	return c
}

// mapCertbotChallenge maps certbot's authenticator.
func (c *Candidate) mapCertbotChallenge(conf *certbotConf, file string) {
	auth := conf.params["authenticator"]
	switch {
	case auth == "webroot":
		roots := conf.webrootPaths()
		switch len(roots) {
		case 0:
			c.refuse("%s: authenticator webroot without webroot_path", file)
		case 1:
			c.Challenge = config.Challenge{Type: "http-01", HTTP01: config.HTTP01{Webroot: roots[0]}}
		default:
			c.refuse("%s: the names use %d webroots (%s); renewd takes one webroot per certificate: split the lineage, or serve /.well-known/acme-challenge/ of every name from one directory", file, len(roots), strings.Join(roots, ", "))
		}
	case auth == "standalone":
		port := conf.params["http01_port"]
		if port == "" {
			port = "80"
		}
		c.Challenge = config.Challenge{Type: "http-01", HTTP01: config.HTTP01{Listen: conf.params["http01_address"] + ":" + port}}
	case strings.HasPrefix(auth, "dns-"):
		c.mapCertbotDNS(conf, auth, file)
	case auth == "manual":
		c.refuse("%s: authenticator manual: renewd cannot ask a person to set records or files; pick a webroot, standalone or a DNS provider renewd supports, and write domains.d/%s.yaml yourself", file, c.Name)
	case auth == "nginx" || auth == "apache":
		c.refuse("%s: authenticator %s edits the %s configuration to answer challenges, which renewd does not do; add a location for /.well-known/acme-challenge/ served from a directory (challenge.http01.webroot) or proxied to renewd (challenge.http01.listen), then import again or write domains.d/%s.yaml", file, auth, auth, c.Name)
	default:
		c.refuse("%s: authenticator %q has no renewd equivalent; renewd supports http-01 (webroot or its own listener) and dns-01 through lego's DNS providers", file, auth)
	}
}

func (c *Candidate) mapCertbotDNS(conf *certbotConf, auth, file string) {
	m, ok := certbotDNS[auth]
	if !ok {
		c.refuse("%s: certbot's DNS plugin %s has no mapping to a lego DNS provider here (mapped: %s); write domains.d/%s.yaml with the lego provider for your DNS host", file, auth, knownDNS(certbotDNS), c.Name)
		return
	}
	credFile := conf.params[strings.ReplaceAll(auth, "-", "_")+"_credentials"]
	var creds map[string]string
	if credFile != "" {
		creds, _ = readINI(credFile)
	}
	c.mapDNS(m, func(k string) bool { _, ok := creds[k]; return ok },
		func(names []string) string {
			return joinFrom(orDefault(credFile, "certbot's credentials file"), names, "")
		})
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// webrootPaths are the distinct webroots of the lineage.
func (cc *certbotConf) webrootPaths() []string {
	var out []string
	for _, d := range cc.webrootOrder {
		if p := cc.webroot[d]; !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		for _, p := range strings.Split(cc.params["webroot_path"], ",") {
			if p = strings.TrimSpace(p); p != "" && !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

func parseCertbotConf(file string) (*certbotConf, error) {
	data, err := readfile.Bounded(file, maxToolFile)
	if err != nil {
		return nil, err
	}
	cc := &certbotConf{top: map[string]string{}, params: map[string]string{}, webroot: map[string]string{}}
	section := cc.top
	inWebroot := false
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "[") {
			inWebroot = line == "[[webroot_map]]"
			switch {
			case line == "[renewalparams]":
				section = cc.params
			case inWebroot:
				section = cc.webroot
			default:
				section = map[string]string{} // sections renewd does not read
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: not \"key = value\"", file, n)
		}
		k = strings.TrimSpace(k)
		section[k] = unquoteINI(strings.TrimSpace(v))
		if inWebroot {
			cc.webrootOrder = append(cc.webrootOrder, k)
		}
	}
	return cc, sc.Err()
}

func unquoteINI(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		if u, err := strconv.Unquote(`"` + v[1:len(v)-1] + `"`); err == nil {
			return u
		}
		return v[1 : len(v)-1]
	}
	return v
}

// readINI reads "key = value" lines, as certbot's DNS plugins' credentials
// files have them. Only the keys are used: values stay where they are.
func readINI(file string) (map[string]string, error) {
	data, err := readfile.Bounded(file, maxToolFile)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			out[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return out, nil
}
