package acme

import (
	"strings"

	"github.com/renewd/renewd/internal/procenv"
	"github.com/renewd/renewd/internal/secret"
)

// Masking. A DNS provider's errors can quote its credentials (an API that
// echoes the token it refused, lego's httpreq quoting an endpoint with a
// password, an exec script printing what it was given), and those errors
// reach logs, state's last_error, `renewd status` and notifications. The
// secrets of every provider built are registered with package secret, and
// every error leaving Obtain and NewDNSProvider is masked by it; lego's
// log lines are masked by the process logger.

// providerPrefixes are the prefixes of lego's variables for providers whose
// variables are not named after the provider (alidns reads ALICLOUD_*).
// For the others the prefix is the upper-cased name: TENCENTCLOUD_,
// HUAWEICLOUD_, EXEC_.
var providerPrefixes = map[string][]string{
	"alidns":       {"ALICLOUD_"},
	"allinkl":      {"ALL_INKL_"},
	"auroradns":    {"AURORA_"},
	"azure":        {"AZURE_"},
	"azuredns":     {"AZURE_"},
	"cloudflare":   {"CLOUDFLARE_", "CF_"},
	"designate":    {"OS_", "DESIGNATE_"},
	"digitalocean": {"DO_"},
	"edgedns":      {"AKAMAI_"},
	"gcloud":       {"GCE_", "GOOGLE_"},
	"ibmcloud":     {"SOFTLAYER_"},
	"lightsail":    {"AWS_", "LIGHTSAIL_"},
	"route53":      {"AWS_"},
}

// prefixesOf returns the variable prefixes of lego's provider name.
func prefixesOf(name string) []string {
	up := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	if up == "" {
		return providerPrefixes[name]
	}
	return append([]string{up + "_"}, providerPrefixes[name]...)
}

// remember registers the secrets of provider with the env map vars: the
// map's (secret.EnvSecrets), and the process environment's variables that
// are credentials for it (secret.EnvironSecrets with its prefixes, so
// CF_API_EMAIL counts for cloudflare). Settings such as EXEC_PATH are not
// secrets.
func remember(provider string, vars map[string]string) {
	secret.Add(secret.EnvSecrets(vars)...)
	secret.Add(secret.EnvironSecrets(procenv.Environ(), prefixesOf(provider))...)
}

// maskError returns err with the secrets of a certificate using provider
// with the env map vars masked, and every other secret renewd knows of;
// nil for nil. It unwraps to err (see secret.Error).
func maskError(err error, provider string, vars map[string]string) error {
	if err == nil {
		return nil
	}
	remember(provider, vars)
	return secret.Error(err)
}
