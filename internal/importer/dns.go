package importer

import (
	"fmt"
	"slices"
	"strings"

	"github.com/renewd/renewd/internal/config"
)

// dnsMapping is one DNS API the other tools call by their own name, as
// the lego provider renewd uses for it: each lego variable comes from the
// other tool's variables, joined with commas when lego wants them in one
// value (DNSPod's "id,token").
type dnsMapping struct {
	provider string
	vars     []legoVar
	// alternatives are other sets of variables the tool accepts for the
	// same provider (Cloudflare's global key and e-mail instead of a
	// token); the first set the tool has is used.
	alternatives [][]legoVar
}

type legoVar struct {
	name string   // lego's variable
	from []string // the other tool's variables, joined with ","
}

// acmeshDNS maps acme.sh's dnsapi hooks (Le_Webroot='dns_xxx') to lego.
// The variables are the SAVED_ ones acme.sh keeps in account.conf (or in
// the certificate's conf for newer versions).
var acmeshDNS = map[string]dnsMapping{
	"dns_ali":     {provider: "alidns", vars: []legoVar{{"ALICLOUD_ACCESS_KEY", []string{"Ali_Key"}}, {"ALICLOUD_SECRET_KEY", []string{"Ali_Secret"}}}},
	"dns_tencent": {provider: "tencentcloud", vars: []legoVar{{"TENCENTCLOUD_SECRET_ID", []string{"Tencent_SecretId"}}, {"TENCENTCLOUD_SECRET_KEY", []string{"Tencent_SecretKey"}}}},
	"dns_dp":      {provider: "dnspod", vars: []legoVar{{"DNSPOD_API_KEY", []string{"DP_Id", "DP_Key"}}}},
	"dns_cf": {provider: "cloudflare", vars: []legoVar{{"CLOUDFLARE_DNS_API_TOKEN", []string{"CF_Token"}}},
		alternatives: [][]legoVar{{{"CLOUDFLARE_EMAIL", []string{"CF_Email"}}, {"CLOUDFLARE_API_KEY", []string{"CF_Key"}}}}},
	"dns_aws":       {provider: "route53", vars: []legoVar{{"AWS_ACCESS_KEY_ID", []string{"AWS_ACCESS_KEY_ID"}}, {"AWS_SECRET_ACCESS_KEY", []string{"AWS_SECRET_ACCESS_KEY"}}}},
	"dns_gd":        {provider: "godaddy", vars: []legoVar{{"GODADDY_API_KEY", []string{"GD_Key"}}, {"GODADDY_API_SECRET", []string{"GD_Secret"}}}},
	"dns_namesilo":  {provider: "namesilo", vars: []legoVar{{"NAMESILO_API_KEY", []string{"Namesilo_Key"}}}},
	"dns_dgon":      {provider: "digitalocean", vars: []legoVar{{"DO_AUTH_TOKEN", []string{"DO_API_KEY"}}}},
	"dns_linode_v4": {provider: "linode", vars: []legoVar{{"LINODE_TOKEN", []string{"LINODE_V4_API_KEY"}}}},
	"dns_porkbun":   {provider: "porkbun", vars: []legoVar{{"PORKBUN_API_KEY", []string{"PORKBUN_API_KEY"}}, {"PORKBUN_SECRET_API_KEY", []string{"PORKBUN_SECRET_API_KEY"}}}},
}

// certbotDNS maps certbot's DNS plugins (authenticator = dns-xxx) to lego.
// The variables are the keys of the plugin's credentials INI file.
var certbotDNS = map[string]dnsMapping{
	"dns-cloudflare": {provider: "cloudflare", vars: []legoVar{{"CLOUDFLARE_DNS_API_TOKEN", []string{"dns_cloudflare_api_token"}}},
		alternatives: [][]legoVar{{{"CLOUDFLARE_EMAIL", []string{"dns_cloudflare_email"}}, {"CLOUDFLARE_API_KEY", []string{"dns_cloudflare_api_key"}}}}},
	"dns-digitalocean": {provider: "digitalocean", vars: []legoVar{{"DO_AUTH_TOKEN", []string{"dns_digitalocean_token"}}}},
	"dns-linode":       {provider: "linode", vars: []legoVar{{"LINODE_TOKEN", []string{"dns_linode_key"}}}},
	"dns-route53":      {provider: "route53"}, // the AWS credentials of the environment, as certbot used them
}

// baotaDNS maps the panel's DNS APIs (an order's auth_to
// "Name|key|secret") to lego: the key and the secret are the order's
// second and third fields.
var baotaDNS = map[string]dnsMapping{
	"AliyunDns":     {provider: "alidns", vars: []legoVar{{"ALICLOUD_ACCESS_KEY", []string{"key"}}, {"ALICLOUD_SECRET_KEY", []string{"secret"}}}},
	"DNSPodDns":     {provider: "dnspod", vars: []legoVar{{"DNSPOD_API_KEY", []string{"key", "secret"}}}},
	"CloudFlareDns": {provider: "cloudflare", vars: []legoVar{{"CLOUDFLARE_EMAIL", []string{"key"}}, {"CLOUDFLARE_API_KEY", []string{"secret"}}}},
}

// mapDNS fills c's dns-01 challenge for provider m. has says whether the
// other tool has a variable; where says where it keeps it, for the person
// copying the values.
func (c *Candidate) mapDNS(m dnsMapping, has func(string) bool, where func([]string) string) {
	vars := m.vars
	for _, alt := range m.alternatives {
		if !hasAll(vars, has) && hasAll(alt, has) {
			vars = alt
		}
	}
	c.Challenge = config.Challenge{Type: "dns-01", DNS01: config.DNS01{Provider: m.provider, Env: map[string]string{}}}
	for _, v := range vars {
		c.Challenge.DNS01.Env[v.name] = "${" + v.name + "}"
		c.Env = append(c.Env, EnvVar{Name: v.name, From: where(v.from)})
	}
}

func hasAll(vars []legoVar, has func(string) bool) bool {
	for _, v := range vars {
		for _, f := range v.from {
			if !has(f) {
				return false
			}
		}
	}
	return len(vars) > 0
}

// knownDNS lists the names a table maps, for a refusal that says what
// would work.
func knownDNS(m map[string]dnsMapping) string {
	var names []string
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// joinFrom says how a lego value is made of the other tool's values.
func joinFrom(file string, names []string, prefix string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = prefix + n
	}
	if len(q) == 1 {
		return fmt.Sprintf("%s in %s", q[0], file)
	}
	return fmt.Sprintf("%s in %s, joined with a comma", strings.Join(q, " and "), file)
}
