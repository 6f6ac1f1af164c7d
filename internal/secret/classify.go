package secret

import (
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// credentialWords mark a variable as a credential, whatever the provider:
// lego names them like ALICLOUD_SECRET_KEY, CF_DNS_API_TOKEN,
// HTTPREQ_PASSWORD, AZURE_CLIENT_SECRET; a hook's CDN_TOKEN reads alike.
var credentialWords = []string{"KEY", "SECRET", "TOKEN", "PASS", "CREDENTIAL", "AUTH"}

// settingSuffixes mark a variable whose value is a setting, never a secret
// itself: a path (EXEC_PATH, CF_DNS_API_TOKEN_FILE, CREDENTIALS_DIRECTORY
// is caught as a plain path), a time-to-live, a timeout, an interval.
// Masking those would only hide what a person needs to read ("exec:
// /usr/local/bin/dns.sh: exit status 1").
var settingSuffixes = []string{"_PATH", "_FILE", "_DIR", "_TTL", "_TIMEOUT", "_INTERVAL"}

// maxFile bounds what is read of a file whose content is a secret.
const maxFile = 64 << 10

// isSetting reports whether the variable name holds a setting.
func isSetting(name string) bool {
	up := strings.ToUpper(name)
	for _, s := range settingSuffixes {
		if strings.HasSuffix(up, s) {
			return true
		}
	}
	return false
}

// IsCredentialName reports whether a variable of the process environment
// holds a credential: its name contains KEY, SECRET, TOKEN, PASS,
// CREDENTIAL or AUTH, or starts with one of prefixes (a DNS provider's
// variables, such as ALICLOUD_), and it is not a setting (a name ending in
// _PATH, _FILE, _DIR, _TTL, _TIMEOUT or _INTERVAL).
func IsCredentialName(name string, prefixes ...string) bool {
	if isSetting(name) {
		return false
	}
	up := strings.ToUpper(name)
	for _, w := range credentialWords {
		if strings.Contains(up, w) {
			return true
		}
	}
	for _, p := range prefixes {
		if strings.HasPrefix(up, p) {
			return true
		}
	}
	return false
}

// IsSecretEnv reports whether value, set as name in a DNS provider's env
// map (challenge.dns01.env), is a secret: every value is, except settings
// (see IsCredentialName) and plain paths of files or directories that
// exist (a path is not a credential; the file's content may be, see
// EnvSecrets).
func IsSecretEnv(name, value string) bool {
	return !isSetting(name) && !plainPath(value)
}

// EnvSecrets returns the secrets of a DNS provider's env map: the values
// IsSecretEnv calls secrets, and the content of the files that *_FILE
// variables (lego reads X from the file X_FILE names) and credentials
// given as a path (GOOGLE_APPLICATION_CREDENTIALS) point at.
func EnvSecrets(vars map[string]string) []string {
	var out []string
	for k, v := range vars {
		out = append(out, valueSecrets(k, v)...)
	}
	return out
}

// EnvironSecrets returns the secrets of a process environment (KEY=VALUE
// entries): the values of credentials by name (IsCredentialName with
// prefixes) that are not plain paths, and the content of the files their
// *_FILE variants and path values name.
func EnvironSecrets(environ []string, prefixes []string) []string {
	var out []string
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if IsCredentialName(strings.TrimSuffix(strings.ToUpper(k), "_FILE"), prefixes...) {
			out = append(out, valueSecrets(k, v)...)
		}
	}
	return out
}

// valueSecrets returns what to mask for the variable name=v, given that
// it is a candidate: any variable of an env map, a credential of the
// process environment.
func valueSecrets(name, v string) []string {
	switch {
	case v == "":
		return nil
	case strings.HasSuffix(strings.ToUpper(name), "_FILE"):
		return fileSecret(v)
	case isSetting(name):
		return nil
	case plainPath(v):
		if IsCredentialName(name) {
			return fileSecret(v)
		}
		return nil
	}
	return []string{v}
}

// plainPath reports whether v is an absolute, clean path without spaces
// or control characters that exists: a value that names a file, not a
// credential. Existence is what tells a path from a base64 secret that
// happens to start with a slash.
func plainPath(v string) bool {
	if !strings.HasPrefix(v, "/") || filepath.Clean(v) != v || strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return false
	}
	_, err := os.Lstat(v)
	return err == nil
}

// fileSecret returns the content of a credentials file as lego reads it,
// with and without its final newline; nothing when it cannot be read. It
// never blocks on a FIFO nor reads a device: only a regular file, at most
// maxFile bytes of it.
func fileSecret(path string) []string {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFile))
	if err != nil || len(data) == 0 {
		return nil
	}
	s := string(data)
	return []string{s, strings.TrimRight(s, "\r\n")}
}

// URLSecrets returns the secrets of a webhook URL, for text that may quote
// it (an HTTP client error, a reply that echoes the request): the URL
// itself, its query and query values (WeCom's key, DingTalk's
// access_token), its escaped path and longer path segments (Feishu's
// /open-apis/bot/v2/hook/<token>), and a password in it.
func URLSecrets(raw string) []string {
	out := []string{raw}
	u, err := url.Parse(raw)
	if err != nil {
		return out
	}
	out = append(out, u.RawQuery, u.EscapedPath())
	for _, vs := range u.Query() {
		out = append(out, vs...)
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if len(seg) >= 16 {
			out = append(out, seg)
		}
	}
	if p, ok := u.User.Password(); ok {
		out = append(out, p)
	}
	return out
}
