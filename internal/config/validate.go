package config

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/renewd/renewd/internal/secret"
	"github.com/renewd/renewd/internal/store"
	"github.com/robfig/cron/v3"
)

// keyTypes are the key types lego can generate, in the order messages list
// them.
var keyTypes = []string{"ec256", "ec384", "rsa2048", "rsa3072", "rsa4096"}

const (
	keyTypeHint     = "use ec256, ec384, rsa2048, rsa3072 or rsa4096"
	maxConcurrency  = 256
	maxArchiveKeep  = 1000
	maxRenewSpread  = 30 * 24 * time.Hour
	maxRootFileSize = 1 << 20
)

// validateGlobal checks renewd.yaml after defaults and path resolution.
func validateGlobal(c *Config, src *source) {
	validateACME(&c.ACME, src)
	if _, err := cron.ParseStandard(c.Schedule); err != nil {
		src.errorf("schedule", "%q is not valid (%v); use a cron spec such as \"0 */6 * * *\" or \"@every 1h\"", c.Schedule, err)
	}
	if c.Concurrency < 1 || c.Concurrency > maxConcurrency {
		src.errorf("concurrency", "%d is out of range; use 1 to %d", c.Concurrency, maxConcurrency)
	}
	if c.RenewSpread < 0 || c.RenewSpread > maxRenewSpread {
		src.errorf("renew_spread", "%s is out of range; use 0 (off) to 30d, such as 24h", formatDuration(c.RenewSpread))
	}
	if c.Retry.Initial <= 0 {
		src.errorf("retry.initial", "must be positive, such as 5m")
	} else if c.Retry.Max < c.Retry.Initial {
		src.errorf("retry.max", "%s is less than retry.initial %s; set max to at least initial",
			formatDuration(c.Retry.Max), formatDuration(c.Retry.Initial))
	}
	validateCanaryProofMaxAge(c, src)
	if c.ArchiveKeep < 1 || c.ArchiveKeep > maxArchiveKeep {
		src.errorf("archive_keep", "%d is out of range; use 1 to %d (default 5)", c.ArchiveKeep, maxArchiveKeep)
	}
	checkRootFiles(src, "trust.extra_roots", c.Trust.ExtraRoots)
	checkArgv(src, "nginx.test", c.Nginx.Test)
	checkArgv(src, "nginx.reload", c.Nginx.Reload)
	checkArgv(src, "nginx.start", c.Nginx.Start)
	if err := checkHostPort(c.Nginx.Verify.Address, true); err != nil {
		src.errorf("nginx.verify.address", "%q %v", c.Nginx.Verify.Address, err)
	}
	if c.Nginx.Timeout <= 0 {
		src.errorf("nginx.timeout", "must be positive, such as 30s")
	}
	if c.Nginx.Verify.Timeout <= 0 {
		src.errorf("nginx.verify.timeout", "must be positive, such as 10s")
	}
	validateNotify(&c.Notify, src)
	validateMetrics(&c.Metrics, src)
	validateCluster(&c.Cluster, src)
}

// minLECanaryProofMaxAge is the shortest canary_proof_max_age allowed
// against Let's Encrypt: a canary refreshed every 34h is ordered at most
// 7d/34h = 4.9 times a week, under the 5 duplicate certificates Let's
// Encrypt issues for the same names per week.
const minLECanaryProofMaxAge = 34 * time.Hour

func validateCanaryProofMaxAge(c *Config, src *source) {
	switch {
	case c.CanaryProofMaxAge <= 0:
		src.errorf("canary_proof_max_age", "must be positive, such as 48h")
	case c.CanaryProofMaxAge < minLECanaryProofMaxAge && IsLetsEncrypt(c.ACME.Directory):
		src.errorf("canary_proof_max_age", "%s would order the canary more than 4 times a week, into Let's Encrypt's limit of 5 certificates for the same names per week; use at least %s (default 48h)",
			formatDuration(c.CanaryProofMaxAge), formatDuration(minLECanaryProofMaxAge))
	}
}

// IsLetsEncrypt reports whether an ACME directory URL is one of Let's
// Encrypt's (production or staging), whose published limits some defaults
// follow.
func IsLetsEncrypt(directory string) bool {
	u, err := url.Parse(directory)
	if err != nil {
		return false
	}
	h := strings.ToLower(u.Hostname())
	return h == "letsencrypt.org" || strings.HasSuffix(h, ".letsencrypt.org") || strings.HasSuffix(h, ".api.letsencrypt.org")
}

func validateACME(a *ACME, src *source) {
	if u, err := url.Parse(a.Directory); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		src.errorf("acme.directory", "%q is not an absolute http(s) URL; use one such as %s", a.Directory, defaultDirectory)
	}
	if a.Email != "" && !isEmail(a.Email) {
		src.errorf("acme.email", "%q is not an email address; write it as name@example.com, without mailto: or a display name", a.Email)
	}
	if u, err := url.Parse(a.StagingDirectory); a.StagingDirectory != "" && (err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "") {
		src.errorf("acme.staging_directory", "%q is not an absolute http(s) URL; use one such as %s", a.StagingDirectory, letsEncryptStaging)
	}
	checkRootFiles(src, "acme.ca_certificates", a.CACertificates)
	switch {
	case a.EAB.KID != "" && a.EAB.HMACKey == "":
		src.errorf("acme.eab.hmac_key", "missing; External Account Binding needs both kid and hmac_key, or neither")
	case a.EAB.KID == "" && a.EAB.HMACKey != "":
		src.errorf("acme.eab.kid", "missing; External Account Binding needs both kid and hmac_key, or neither")
	case a.EAB.HMACKey != "" && !isBase64URL(a.EAB.HMACKey):
		// The value is a secret: say what is wrong without repeating it.
		src.errorf("acme.eab.hmac_key", "is not base64url; paste the HMAC key exactly as the CA gave it")
	}
	if !slices.Contains(keyTypes, a.KeyType) {
		src.errorf("acme.key_type", "%q is not valid; %s", a.KeyType, keyTypeHint)
	}
	validateRateLimit(&a.RateLimit, src)
}

func isEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return false
	}
	_, domain, _ := strings.Cut(s, "@")
	return strings.Contains(strings.Trim(domain, "."), ".")
}

// isBase64URL accepts what lego accepts: base64url with or without padding.
func isBase64URL(s string) bool {
	if _, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return true
	}
	_, err := base64.URLEncoding.DecodeString(s)
	return err == nil
}

// checkRootFiles requires every path (already absolute) to be a readable
// file with at least one PEM certificate, so a wrong path fails at
// `config check` rather than at the first renewal.
func checkRootFiles(src *source, path string, files []string) {
	for i, f := range files {
		p := fmt.Sprintf("%s[%d]", path, i)
		if f == "" {
			src.errorf(p, "is empty; give the path of a PEM file")
			continue
		}
		if err := checkPEMFile(f); err != nil {
			src.errorf(p, "%s: %v", f, err)
		}
	}
}

func checkPEMFile(name string) error {
	fi, err := os.Stat(name)
	switch {
	case err != nil:
		return causeOf(err)
	case !fi.Mode().IsRegular():
		return errors.New("is not a regular file; give the path of a PEM file")
	case fi.Size() > maxRootFileSize:
		return fmt.Errorf("is %d bytes, more than a PEM file of roots should be", fi.Size())
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return causeOf(err)
	}
	n := 0
	for rest := data; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return fmt.Errorf("has a certificate that does not parse: %v", err)
		}
		n++
	}
	if n == 0 {
		return errors.New("has no PEM CERTIFICATE block")
	}
	return nil
}

// causeOf drops the "open <path>:" of an fs error, since the caller
// already names the file.
func causeOf(err error) error {
	if pe := (*os.PathError)(nil); errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func checkArgv(src *source, path string, argv []string) {
	if len(argv) > 0 && strings.TrimSpace(argv[0]) == "" {
		src.errorf(path+"[0]", "is empty; give the program to run, such as nginx (a list of arguments, no shell)")
	}
}

// checkHostPort accepts host:port with a numeric port; the host may be empty
// (all interfaces) unless needHost.
func checkHostPort(s string, needHost bool) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New("is not host:port; write it like 127.0.0.1:8402 or [::1]:8402")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("has port %q; use a number from 1 to 65535", port)
	}
	if host == "" && needHost {
		return errors.New("has no host; write it like 127.0.0.1:443")
	}
	if strings.ContainsFunc(host, func(r rune) bool { return r <= ' ' || r == '/' || r > '~' }) {
		return errors.New("has a host that is neither an IP address nor a DNS name")
	}
	return nil
}

// normalizeResolver adds port 53 to a resolver given without one.
func normalizeResolver(s string) (string, error) {
	if _, _, err := net.SplitHostPort(s); err == nil {
		return s, checkHostPort(s, true)
	}
	host := strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	if _, err := netip.ParseAddr(host); err != nil && strings.Contains(host, ":") {
		return "", errors.New("is not host:port; write it like 8.8.8.8:53, [2001:4860:4860::8888]:53 or ns1.example.com")
	}
	hp := net.JoinHostPort(host, "53")
	return hp, checkHostPort(hp, true)
}

// resolvePath makes p absolute relative to dir; "" stays "".
func resolvePath(dir, p string) string {
	switch {
	case p == "":
		return ""
	case filepath.IsAbs(p):
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}

// validateCert checks one certificate file after defaults. Domains are
// checked by validateDomains, names across files by Load.
func validateCert(cert *Certificate, src *source, derived bool, opts Options) {
	if err := store.ValidName(cert.Name); err != nil {
		hint := ""
		if derived {
			hint = "; the name comes from the file name: rename the file or set name:"
		}
		src.errorf("name", "%v%s", err, hint)
	}
	if src.isSet("key_type") && !slices.Contains(keyTypes, cert.KeyType) {
		src.errorf("key_type", "%q is not valid; %s", cert.KeyType, keyTypeHint)
	}
	if cert.RenewBefore < 0 {
		src.errorf("renew_before", "must not be negative; use 0 for the CA's ARI window and the default policy, or a duration such as 30d")
	}
	validateChallenge(&cert.Challenge, src, opts)
	validateBaota(&cert.Deploy, src)
	validateDeploy(&cert.Deploy, src)
}

func validateChallenge(ch *Challenge, src *source, opts Options) {
	switch ch.Type {
	case challengeHTTP01:
		validateHTTP01(&ch.HTTP01, src)
		if src.isSet("challenge.dns01") {
			src.errorf("challenge.dns01", "is set but challenge.type is http-01; remove it, or use type dns-01")
		}
	case challengeDNS01:
		validateDNS01(&ch.DNS01, src, opts)
		if src.isSet("challenge.http01") {
			src.errorf("challenge.http01", "is set but challenge.type is dns-01; remove it, or use type http-01")
		}
	case "":
		src.errorf("challenge.type", "missing; use http-01 or dns-01")
	default:
		src.errorf("challenge.type", "%q is not valid; use http-01 or dns-01", ch.Type)
	}
}

func validateHTTP01(h *HTTP01, src *source) {
	switch {
	case h.Webroot == "" && h.Listen == "":
		src.errorf("challenge.http01", "missing; set webroot (a directory your web server serves /.well-known/acme-challenge/ from) or listen (host:port where renewd answers, such as 127.0.0.1:8402)")
	case h.Webroot != "" && h.Listen != "":
		src.errorf("challenge.http01", "has both webroot and listen; set one of them")
	case h.Webroot != "" && !filepath.IsAbs(h.Webroot):
		src.errorf("challenge.http01.webroot", "%q is not an absolute path; write it like /var/www/acme", h.Webroot)
	case h.Listen != "":
		if err := checkHostPort(h.Listen, false); err != nil {
			src.errorf("challenge.http01.listen", "%q %v", h.Listen, err)
		}
	}
}

func validateDNS01(d *DNS01, src *source, opts Options) {
	if d.Provider == "" {
		src.errorf("challenge.dns01.provider", "missing; use a lego DNS provider name such as cloudflare, alidns or route53")
	}
	for _, k := range sortedKeys(d.Env) {
		if !isEnvName(k) {
			src.errorf("challenge.dns01.env."+k, "%q is not an environment variable name; use lego's names for the provider, such as CLOUDFLARE_DNS_API_TOKEN", k)
		}
	}
	for i, r := range d.Resolvers {
		hp, err := normalizeResolver(r)
		if err != nil {
			src.errorf(fmt.Sprintf("challenge.dns01.resolvers[%d]", i), "%q %v", r, err)
			continue
		}
		d.Resolvers[i] = hp
	}
	if d.PropagationTimeout <= 0 {
		src.errorf("challenge.dns01.propagation_timeout", "must be positive, such as 2m")
	}
	if opts.CheckDNSProvider != nil && d.Provider != "" &&
		!src.errs.has("challenge.dns01.provider") && !src.errs.has("challenge.dns01.env") {
		checkProvider(d, src, opts.CheckDNSProvider)
	}
}

// checkProvider asks the caller whether the provider exists and its
// credentials are complete. The checker's message may quote what it was
// given, so every env value is masked in it, and only the sentinel is kept
// for errors.Is.
func checkProvider(d *DNS01, src *source, check func(string, map[string]string) error) {
	err := check(d.Provider, maps.Clone(d.Env))
	if err == nil {
		return
	}
	msg := redact(err.Error(), d.Env)
	if errors.Is(err, ErrUnknownDNSProvider) {
		src.errs.add(&FieldError{File: src.file, Line: src.line("challenge.dns01.provider"),
			Field: "challenge.dns01.provider", Msg: msg + "; use a lego DNS provider name", err: ErrUnknownDNSProvider})
		return
	}
	src.errorf("challenge.dns01.env", "%s", msg)
}

// redact masks in msg every value of the env map secrets that is a
// secret (secret.EnvSecrets) and every secret renewd already knows of.
func redact(msg string, secrets map[string]string) string {
	var s secret.Set
	s.Add(secret.EnvSecrets(secrets)...)
	return secret.Mask(s.Mask(msg))
}

func validateDeploy(d *Deploy, src *source) {
	switch {
	case d.Fullchain != "" && d.Key == "":
		src.errorf("deploy.key", "missing; set both fullchain and key, or neither")
	case d.Fullchain == "" && d.Key != "":
		src.errorf("deploy.fullchain", "missing; set both fullchain and key, or neither")
	case d.Fullchain != "" && d.Fullchain == d.Key:
		src.errorf("deploy.key", "is the same file as deploy.fullchain; use two files")
	case d.Nginx && d.Fullchain == "":
		// renewd can only roll back files it installed itself.
		src.errorf("deploy.nginx", "needs deploy.fullchain and deploy.key: renewd installs the files nginx reads, so it can restore them if nginx rejects or misserves the new ones")
	}
	for _, f := range []struct{ path, value, example string }{
		{"deploy.fullchain", d.Fullchain, "/etc/nginx/ssl/shop/fullchain.pem"},
		{"deploy.key", d.Key, "/etc/nginx/ssl/shop/privkey.pem"},
	} {
		if f.value != "" && !filepath.IsAbs(f.value) {
			src.errorf(f.path, "%q is not an absolute path; write it like %s", f.value, f.example)
		}
	}
	d.FilePerm = parseMode(src, "deploy.mode", d.Mode, false)
	d.KeyPerm = parseMode(src, "deploy.key_mode", d.KeyMode, true)
	d.UID, d.GID = -1, -1
	if d.Owner != "" {
		d.UID = lookupID(src, "deploy.owner", d.Owner, func(n string) (string, error) {
			u, err := user.Lookup(n)
			if err != nil {
				return "", err
			}
			return u.Uid, nil
		})
	}
	if d.Group != "" {
		d.GID = lookupID(src, "deploy.group", d.Group, func(n string) (string, error) {
			g, err := user.LookupGroup(n)
			if err != nil {
				return "", err
			}
			return g.Gid, nil
		})
	}
	for i, h := range d.Hooks {
		if len(h) == 0 {
			src.errorf(fmt.Sprintf("deploy.hooks[%d]", i), "is empty; give a program and its arguments, such as [systemctl, restart, tomcat]")
			continue
		}
		checkArgv(src, fmt.Sprintf("deploy.hooks[%d]", i), h)
	}
	if d.HookTimeout <= 0 {
		src.errorf("deploy.hook_timeout", "must be positive, such as 60s")
	}
	validatePKCS12(&d.PKCS12, src)
}

// parseMode reads an octal permission such as 0640. A key must not be
// readable or writable by every user, nor group-writable.
func parseMode(src *source, path, s string, key bool) os.FileMode {
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m > 0o777 || len(s) < 3 {
		src.errorf(path, "%q is not an octal mode; write it like 0644", s)
		return 0
	}
	if key && m&0o027 != 0 {
		src.errorf(path, "%q lets other users read or change the private key; use 0600 or 0640", s)
	}
	if m&0o400 == 0 {
		src.errorf(path, "%q does not let the owner read the file; use 0644, 0640 or 0600", s)
	}
	return os.FileMode(m)
}

// lookupID resolves a user or group name (or a numeric id) on this machine.
func lookupID(src *source, path, name string, lookup func(string) (string, error)) int {
	if n, err := strconv.Atoi(name); err == nil && n >= 0 {
		return n
	}
	id, err := lookup(name)
	if err == nil {
		if n, err := strconv.Atoi(id); err == nil {
			return n
		}
	}
	src.errorf(path, "%q is not a user or group on this machine; give an existing name or a numeric id", name)
	return -1
}

func validatePKCS12(p *PKCS12, src *source) {
	if p.Path == "" {
		if p.PasswordEnv != "" {
			src.errorf("deploy.pkcs12.path", "missing; set the keystore path, such as /etc/tomcat/ssl/keystore.p12")
		}
		return
	}
	if !filepath.IsAbs(p.Path) {
		src.errorf("deploy.pkcs12.path", "%q is not an absolute path; write it like /etc/tomcat/ssl/keystore.p12", p.Path)
	}
	switch {
	case p.PasswordEnv == "":
		src.errorf("deploy.pkcs12.password_env", "missing; name the environment variable that holds the keystore password, such as TOMCAT_KEYSTORE_PASSWORD")
	case !isEnvName(p.PasswordEnv):
		src.errorf("deploy.pkcs12.password_env", "%q is not an environment variable name", p.PasswordEnv)
	default:
		if _, ok := os.LookupEnv(p.PasswordEnv); !ok {
			src.errorf("deploy.pkcs12.password_env", "environment variable %s is not set; set it (for example in the systemd EnvironmentFile)", p.PasswordEnv)
		}
	}
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
