// Package config loads and validates renewd.yaml and the certificate files in
// its domains_dir, the one place where a person's configuration becomes the
// values the rest of renewd trusts. Load reports every problem it finds, each
// with file, line and field, and keeps secrets out of errors and output.
package config

import (
	"fmt"
	"os"
	"slices"
	"time"
)

// DefaultPath is where renewd looks for its configuration when neither
// --config nor RENEWD_CONFIG names another file.
const DefaultPath = "/etc/renewd/renewd.yaml"

// Defaults, applied by applyDefaults and nowhere else.
const (
	defaultStorage    = "/var/lib/renewd"
	defaultDomainsDir = "domains.d"
	defaultDirectory  = "https://acme-v02.api.letsencrypt.org/directory"
	// letsEncryptStaging is the default staging_directory when directory
	// is Let's Encrypt production.
	letsEncryptStaging = "https://acme-staging-v02.api.letsencrypt.org/directory"
	defaultKeyType     = "ec256"
	defaultSchedule    = "@every 1h"
	// defaultConcurrency lets the shared rate limiter, not the number of
	// workers, bound how fast renewd talks to a CA (acme.rate_limit).
	defaultConcurrency        = 64
	defaultRenewSpread        = 24 * time.Hour
	defaultArchiveKeep        = 5
	defaultRetryInitial       = 5 * time.Minute
	defaultRetryMax           = 24 * time.Hour
	defaultVerifyAddress      = "127.0.0.1:443"
	defaultVerifyTimeout      = 10 * time.Second
	defaultCommandTimeout     = 30 * time.Second
	defaultHookTimeout        = 60 * time.Second
	defaultFileMode           = "0644"
	defaultKeyMode            = "0600"
	defaultPropagationTimeout = 2 * time.Minute
	// defaultCanaryProofMaxAge keeps a canary that is ordered only to
	// refresh its proof under 4 orders a week (7d / 48h = 3.5), below
	// Let's Encrypt's 5 duplicate certificates per week.
	defaultCanaryProofMaxAge = 48 * time.Hour
)

var (
	defaultNginxTest   = []string{"nginx", "-t"}
	defaultNginxReload = []string{"nginx", "-s", "reload"}
)

// Config is renewd.yaml after defaults, ${VAR} expansion and validation, with
// the certificates of its domains_dir. Relative paths in the file are resolved
// against the file's directory.
type Config struct {
	// Path is the absolute path of renewd.yaml.
	Path string `yaml:"-"`
	// Storage is the state directory (default /var/lib/renewd); absolute
	// after Load.
	Storage string `yaml:"storage"`
	// DomainsDir holds one YAML file per certificate (default "domains.d");
	// absolute after Load.
	DomainsDir string `yaml:"domains_dir"`
	// ACME configures the CA and the account.
	ACME ACME `yaml:"acme"`
	// Schedule is the robfig/cron/v3 spec for checking what is due
	// (default "@every 1h").
	Schedule string `yaml:"schedule"`
	// Concurrency bounds parallel renewals, 1..256 (default 64). What
	// reaches the CA is paced by ACME.RateLimit, shared by all of them.
	Concurrency int `yaml:"concurrency"`
	// RenewSpread spreads renewals under the lifetime rule (no ARI window,
	// no renew_before) over this long before their due time, so that
	// certificates issued together do not all renew in the same minute
	// (default 24h; 0 turns it off).
	RenewSpread time.Duration `yaml:"renew_spread"`
	// Retry is the backoff after a failed renewal.
	Retry Retry `yaml:"retry"`
	// CanaryProofMaxAge is how long a canary's last full success gates
	// the other certificates without ordering the canary again (default
	// 48h; at least 34h against Let's Encrypt). See docs/policy.md.
	CanaryProofMaxAge time.Duration `yaml:"canary_proof_max_age"`
	// ArchiveKeep is how many versions of a certificate archive/ keeps
	// besides the live and the deployed one, 1..1000 (default 5); older
	// ones are removed after each renewal. 0 (a Config not made by Load)
	// removes nothing.
	ArchiveKeep int `yaml:"archive_keep"`
	// Trust adds roots that complete chains may verify to.
	Trust Trust `yaml:"trust"`
	// Nginx is how renewd tests, reloads and checks nginx.
	Nginx Nginx `yaml:"nginx"`
	// Notify is who is told when renewals fail, recover or run late.
	Notify Notify `yaml:"notify"`
	// Metrics is where `renewd run` serves Prometheus metrics (default:
	// nowhere).
	Metrics Metrics `yaml:"metrics"`
	// Cluster shares certificates between renewd nodes through etcd
	// (default: none; renewd works alone).
	Cluster Cluster `yaml:"cluster"`
	// Certificates come from DomainsDir/*.yaml, sorted by Name.
	Certificates []*Certificate `yaml:"-"`

	// expanded holds the values of credential variables expanded from
	// ${VAR} anywhere in the files (see secretValues).
	expanded []string
	// Invalid are the certificate files LoadValid left out for their
	// problems; Load leaves none out.
	Invalid []*Invalid `yaml:"-"`

	lines map[string]int // field path -> line in Path
	// index is each certificate's position in Certificates, made by Load
	// and never changed after, so that Certificate is a lookup, not a scan
	// (it runs once per certificate in a pass: 10,000 made it quadratic).
	// A Config changed or copied after Load (tests, `add`'s one-certificate
	// copy) still answers right: a position that does not hold the name is
	// ignored.
	index map[string]int
}

// Configured reports whether a certificate file of domains_dir is called
// name, whether it loaded or was left out for its problems: the record of
// a certificate left out is kept, not deleted as no longer configured.
func (c *Config) Configured(name string) bool {
	if c.Certificate(name) != nil {
		return true
	}
	for _, ic := range c.Invalid {
		if ic.Name == name {
			return true
		}
	}
	return false
}

// Problem returns a FieldError on field of renewd.yaml, at the line where
// the field (or the nearest field above it) was written: for checks made
// after Load, such as the preflight of `renewd config check`.
func (c *Config) Problem(field, format string, args ...any) *FieldError {
	return &FieldError{File: c.Path, Line: lineOf(c.lines, field), Field: field, Msg: fmt.Sprintf(format, args...)}
}

// lineOf is source.line for a lines map kept after Load.
func lineOf(lines map[string]int, field string) int {
	for p := field; p != ""; p = parentPath(p) {
		if l, ok := lines[p]; ok {
			return l
		}
	}
	return 0
}

// ACME configures the CA directory and the account renewd registers there.
type ACME struct {
	// Directory is the CA's ACME directory URL, http or https
	// (default Let's Encrypt production).
	Directory string `yaml:"directory"`
	// Email is the optional account contact.
	Email string `yaml:"email"`
	// CACertificates are PEM files of roots for the CA's own HTTPS endpoint
	// (Pebble in tests); absolute after Load.
	CACertificates []string `yaml:"ca_certificates"`
	// EAB is External Account Binding, for CAs that require it.
	EAB EAB `yaml:"eab"`
	// KeyType is the default certificate key: ec256 (default), ec384,
	// rsa2048, rsa3072 or rsa4096.
	KeyType string `yaml:"key_type"`
	// Profile is the ACME profile to ask for, e.g. "shortlived"; empty for
	// the CA's default.
	Profile string `yaml:"profile"`
	// PreferredChain is the issuer CN of the root to prefer among alternate
	// chains; empty for the CA's default chain.
	PreferredChain string `yaml:"preferred_chain"`
	// StagingDirectory is the ACME directory `renew --dry-run` orders
	// from: default Let's Encrypt staging when Directory is Let's Encrypt
	// production, else empty (a dry run then asks for it).
	StagingDirectory string `yaml:"staging_directory"`
	// RateLimit paces the requests and bounds the new orders sent to this
	// CA, for all concurrent renewals together.
	RateLimit RateLimit `yaml:"rate_limit"`
}

// EAB is External Account Binding (RFC 8555 section 7.3.4): both fields or
// neither. HMACKey is a secret and is masked by Effective.
type EAB struct {
	// KID is the key identifier the CA gave out.
	KID string `yaml:"kid"`
	// HMACKey is the base64url MAC key the CA gave out.
	HMACKey string `yaml:"hmac_key"`
}

// Retry is the backoff after a failed renewal:
// min(Max, Initial * 2^(n-1)) after the n-th failure.
type Retry struct {
	// Initial is the first delay (default 5m).
	Initial time.Duration `yaml:"initial"`
	// Max caps the delay (default 24h); at least Initial.
	Max time.Duration `yaml:"max"`
}

// Trust lists extra roots that stored chains may verify to, besides the
// system pool.
type Trust struct {
	// ExtraRoots are PEM files; absolute after Load.
	ExtraRoots []string `yaml:"extra_roots"`
}

// Nginx holds the argv lists renewd runs (no shell) and where it checks what
// nginx serves after a reload.
type Nginx struct {
	// Test checks the nginx configuration (default [nginx, -t]).
	Test []string `yaml:"test"`
	// Reload reloads nginx (default [nginx, -s, reload]; [systemctl,
	// reload, nginx] works too).
	Reload []string `yaml:"reload"`
	// Start, when set, starts nginx after a reload failed (nginx was not
	// running), such as [nginx] or [systemctl, start, nginx]; renewd then
	// verifies what the started nginx serves. Empty (the default): renewd
	// never starts nginx, and after a failed reload leaves installed a
	// pair that passes nginx.test, so nginx can be started by hand.
	Start []string `yaml:"start"`
	// Timeout bounds each of Test and Reload (default 30s); the whole
	// process group is killed when it runs out.
	Timeout time.Duration `yaml:"timeout"`
	// Verify is where the served chain is checked.
	Verify Verify `yaml:"verify"`
}

// Verify is the TLS endpoint renewd dials after a reload to check the served
// chain.
type Verify struct {
	// Address is host:port (default 127.0.0.1:443).
	Address string `yaml:"address"`
	// Timeout bounds the check (default 10s).
	Timeout time.Duration `yaml:"timeout"`
}

// Certificate is one file of domains_dir: one certificate, how to prove
// control of its domains and where to deploy it.
type Certificate struct {
	// File is the absolute path of the certificate's YAML file.
	File string `yaml:"-"`
	// Name identifies the certificate on disk and on the command line;
	// default the file name without .yaml or .yml. It passes store.ValidName.
	Name string `yaml:"name"`
	// Domains are 1..100 names, lower-case, IDNs as A-labels (punycode), no
	// trailing dot; a wildcard is a leftmost "*" label.
	Domains []string `yaml:"domains"`
	// Canary certificates renew first; the others wait for them to succeed.
	Canary bool `yaml:"canary"`
	// Challenge is how control of the domains is proven.
	Challenge Challenge `yaml:"challenge"`
	// KeyType defaults to acme.key_type.
	KeyType string `yaml:"key_type"`
	// RenewBefore overrides the renewal window when positive; 0 leaves it to
	// ARI and the policy default.
	RenewBefore time.Duration `yaml:"renew_before"`
	// RenewSpread is renewd.yaml's renew_spread, copied here by Load.
	RenewSpread time.Duration `yaml:"-"`
	// Deploy is where the files are installed for nginx.
	Deploy Deploy `yaml:"deploy"`

	lines map[string]int // field path -> line in File
}

// Problem returns a FieldError on field of the certificate's file, at the
// line where the field (or the nearest field above it) was written.
func (c *Certificate) Problem(field, format string, args ...any) *FieldError {
	return &FieldError{File: c.File, Line: lineOf(c.lines, field), Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Challenge selects and configures the ACME challenge type.
type Challenge struct {
	// Type is "http-01" or "dns-01"; required.
	Type string `yaml:"type"`
	// HTTP01 is set for http-01 only.
	HTTP01 HTTP01 `yaml:"http01"`
	// DNS01 is set for dns-01 only.
	DNS01 DNS01 `yaml:"dns01"`
}

// The challenge types; the strings are the ACME names.
const (
	challengeHTTP01 = "http-01"
	challengeDNS01  = "dns-01"
)

// HTTP01 configures http-01: exactly one of Webroot and Listen.
type HTTP01 struct {
	// Webroot is an absolute directory that a web server serves
	// /.well-known/acme-challenge/ from; renewd writes tokens below it.
	Webroot string `yaml:"webroot"`
	// Listen is the host:port where renewd answers challenges itself, behind
	// an nginx proxy_pass or on port 80.
	Listen string `yaml:"listen"`
}

// DNS01 configures dns-01 through a lego DNS provider.
type DNS01 struct {
	// Provider is a lego DNS provider name such as cloudflare or alidns.
	Provider string `yaml:"provider"`
	// Env holds the provider's variables by lego's names. The values are
	// secrets: never logged, masked by Effective.
	Env map[string]string `yaml:"env"`
	// Resolvers are host:port (port 53 added when missing) used for lookups
	// and propagation checks; empty for the system's.
	Resolvers []string `yaml:"resolvers"`
	// PropagationTimeout bounds the wait for the record to be visible
	// (default 2m).
	PropagationTimeout time.Duration `yaml:"propagation_timeout"`
	// SkipPropagationCheck trusts the provider instead of checking the
	// authoritative servers.
	SkipPropagationCheck bool `yaml:"skip_propagation_check"`
}

// Deploy is where a certificate is installed: Fullchain and Key absolute,
// both or neither; Nginx true tests and reloads nginx afterwards.
type Deploy struct {
	// Fullchain receives leaf + intermediates.
	Fullchain string `yaml:"fullchain"`
	// Key receives the private key (0600).
	Key string `yaml:"key"`
	// Owner and Group own the installed files (names or numeric ids);
	// empty keeps the user renewd runs as.
	Owner string `yaml:"owner"`
	Group string `yaml:"group"`
	// Mode and KeyMode are octal permissions for the fullchain (default
	// 0644) and the key (default 0600; group-readable 0640 is allowed, a
	// world-readable key is not).
	Mode    string `yaml:"mode"`
	KeyMode string `yaml:"key_mode"`
	// Nginx runs nginx.test, nginx.reload and nginx.verify after installing.
	Nginx bool `yaml:"nginx"`
	// Hooks run after a successful deploy, each an argv list run without a
	// shell, with the certificate in RENEWD_* environment variables.
	Hooks [][]string `yaml:"hooks"`
	// HookTimeout bounds each hook (default 60s).
	HookTimeout time.Duration `yaml:"hook_timeout"`
	// PKCS12 also writes a PKCS#12 keystore with the full chain, for Java
	// servers (Tomcat, Spring Boot).
	PKCS12 PKCS12 `yaml:"pkcs12"`
	// Baota deploys into a BaoTa (aaPanel) site; Load then sets
	// Fullchain and Key to the site's files (see baota.go).
	Baota Baota `yaml:"baota"`

	// Resolved by Load from the fields above.
	UID      int         `yaml:"-"` // -1: unchanged
	GID      int         `yaml:"-"` // -1: unchanged
	FilePerm os.FileMode `yaml:"-"`
	KeyPerm  os.FileMode `yaml:"-"`
}

// PKCS12 is a keystore to write besides the PEM files.
type PKCS12 struct {
	// Path is absolute; the keystore gets KeyMode.
	Path string `yaml:"path"`
	// PasswordEnv names the environment variable holding the keystore
	// password, so the password never sits in the YAML.
	PasswordEnv string `yaml:"password_env"`
}

// Enabled reports whether the certificate is installed anywhere besides
// renewd's own storage, or nginx is to be reloaded for it.
func (d *Deploy) Enabled() bool {
	return d.Fullchain != "" || d.PKCS12.Path != "" || d.Nginx || len(d.Hooks) > 0
}

// Certificate returns the certificate called name, or nil if there is none.
func (c *Config) Certificate(name string) *Certificate {
	if i, ok := c.index[name]; ok && i < len(c.Certificates) && c.Certificates[i].Name == name {
		return c.Certificates[i]
	}
	for _, cert := range c.Certificates {
		if cert.Name == name {
			return cert
		}
	}
	return nil
}

// applyDefaults fills what renewd.yaml left out. Strings and lists default
// when empty; numbers and durations only when absent, so that an explicit 0
// is reported instead of silently replaced.
func applyDefaults(c *Config, src *source) {
	setString(&c.Storage, defaultStorage)
	setString(&c.DomainsDir, defaultDomainsDir)
	setString(&c.ACME.Directory, defaultDirectory)
	if c.ACME.Directory == defaultDirectory {
		setString(&c.ACME.StagingDirectory, letsEncryptStaging)
	}
	setString(&c.ACME.KeyType, defaultKeyType)
	setString(&c.Schedule, defaultSchedule)
	if !src.isSet("concurrency") {
		c.Concurrency = defaultConcurrency
	}
	if !src.isSet("archive_keep") {
		c.ArchiveKeep = defaultArchiveKeep
	}
	if !src.isSet("canary_proof_max_age") {
		c.CanaryProofMaxAge = defaultCanaryProofMaxAge
	}
	if !src.isSet("renew_spread") {
		c.RenewSpread = defaultRenewSpread
	}
	applyRateLimitDefaults(&c.ACME.RateLimit, src)
	if !src.isSet("retry.initial") {
		c.Retry.Initial = defaultRetryInitial
	}
	if !src.isSet("retry.max") {
		c.Retry.Max = defaultRetryMax
	}
	if len(c.Nginx.Test) == 0 {
		c.Nginx.Test = slices.Clone(defaultNginxTest)
	}
	if len(c.Nginx.Reload) == 0 {
		c.Nginx.Reload = slices.Clone(defaultNginxReload)
	}
	setString(&c.Nginx.Verify.Address, defaultVerifyAddress)
	if !src.isSet("nginx.verify.timeout") {
		c.Nginx.Verify.Timeout = defaultVerifyTimeout
	}
	if !src.isSet("nginx.timeout") {
		c.Nginx.Timeout = defaultCommandTimeout
	}
	applyNotifyDefaults(&c.Notify, src)
	applyClusterDefaults(&c.Cluster, src)
}

// applyCertDefaults fills what a certificate file left out; name is the one
// derived from the file name.
func applyCertDefaults(cert *Certificate, c *Config, src *source, name string) {
	setString(&cert.Name, name)
	setString(&cert.KeyType, c.ACME.KeyType)
	cert.RenewSpread = c.RenewSpread
	setString(&cert.Deploy.Mode, defaultFileMode)
	setString(&cert.Deploy.KeyMode, defaultKeyMode)
	if !src.isSet("deploy.hook_timeout") {
		cert.Deploy.HookTimeout = defaultHookTimeout
	}
	if cert.Challenge.Type == challengeDNS01 && !src.isSet("challenge.dns01.propagation_timeout") {
		cert.Challenge.DNS01.PropagationTimeout = defaultPropagationTimeout
	}
}

func setString(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

// ForDryRun returns a copy of c that orders from the staging directory,
// for `renew --dry-run`. It is an error when there is no staging
// directory to use.
func (c *Config) ForDryRun() (*Config, error) {
	if c.ACME.StagingDirectory == "" {
		return nil, fmt.Errorf("--dry-run needs acme.staging_directory in %s: the staging ACME directory of your CA "+
			"(the default is Let's Encrypt staging only when acme.directory is Let's Encrypt production); "+
			"set it to the value of acme.directory to dry-run against the CA itself", c.Path)
	}
	dry := *c
	dry.ACME.Directory = c.ACME.StagingDirectory
	return &dry, nil
}
