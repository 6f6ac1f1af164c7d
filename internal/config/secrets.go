package config

import (
	"os"
	"sync"

	"github.com/renewd/renewd/internal/secret"
)

// Secrets. Load registers every secret of a valid configuration with
// package secret, which masks them in whatever renewd prints, logs,
// records or sends: Effective (`renewd config check`) shows the secret
// fields as ******** and masks the rest with secret.Mask, so a hook
// argument written as ${CDN_TOKEN} is masked too.

// recordingLookup wraps lookup so that the values of credential variables
// (secret.IsCredentialName: CDN_TOKEN, DB_PASSWORD...) expanded anywhere in
// the configuration are kept in *found.
// It may be called from the goroutines that load certificate files at once.
func recordingLookup(lookup func(string) (string, bool), found *[]string) func(string) (string, bool) {
	var mu sync.Mutex
	return func(name string) (string, bool) {
		v, ok := lookup(name)
		if ok && secret.IsCredentialName(name) {
			mu.Lock()
			*found = append(*found, v)
			mu.Unlock()
		}
		return v, ok
	}
}

// secretValues returns every secret of c: acme.eab.hmac_key,
// cluster.etcd.password, the secret
// values of every challenge.dns01.env (secret.EnvSecrets), the url and
// signing secret of notify targets (secret.URLSecrets), every keystore
// password (deploy.pkcs12.password_env, read from the process environment
// as the deploy does), and the values of credential variables expanded
// from ${VAR}.
func (c *Config) secretValues() []string {
	out := append([]string{c.ACME.EAB.HMACKey, c.Cluster.Etcd.Password}, c.expanded...)
	for _, t := range c.Notify.Targets {
		out = append(out, secret.URLSecrets(t.URL)...)
		out = append(out, t.Secret)
	}
	for _, cert := range c.Certificates {
		out = append(out, secret.EnvSecrets(cert.Challenge.DNS01.Env)...)
		if name := cert.Deploy.PKCS12.PasswordEnv; name != "" {
			out = append(out, os.Getenv(name))
		}
	}
	return out
}

// register adds the secrets of c to package secret.
func (c *Config) register() { secret.Add(c.secretValues()...) }
