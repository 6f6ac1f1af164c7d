package acme

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	legoacme "github.com/go-acme/lego/v4/acme"
	legolog "github.com/go-acme/lego/v4/log"

	"github.com/renewd/renewd/internal/procenv"
)

// MaxRetryAfter caps what a CA may ask for, so a garbled header cannot park
// a certificate for a year: a later Retry-After is honoured up to this
// (docs/policy.md).
const MaxRetryAfter = 7 * 24 * time.Hour

// RetryAfter returns the earliest time the CA allows another attempt, when
// err carries a Retry-After (RFC 9110 section 10.2.3: seconds or an HTTP
// date) from a rate-limit (429) or unavailable (503) answer. A missing or
// unparsable value gives ok=false: the normal backoff applies. The time is
// rounded up to a whole second, so that storing it to the second (as
// state.json does) never moves it before what the CA asked for.
func RetryAfter(err error, now time.Time) (time.Time, bool) {
	var at time.Time
	var rl *legoacme.RateLimitedError
	if errors.As(err, &rl) {
		if t, ok := parseRetryAfter(rl.RetryAfter, now); ok {
			at = t
		}
	}
	var ra *retryAfterError
	if errors.As(err, &ra) {
		if t, ok := parseRetryAfter(ra.retryAfter, now); ok && t.After(at) {
			at = t
		}
	}
	return at, !at.IsZero()
}

func parseRetryAfter(v string, now time.Time) (time.Time, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return time.Time{}, false
		}
		d := min(time.Duration(min(secs, int64(MaxRetryAfter/time.Second)))*time.Second, MaxRetryAfter)
		return ceilSecond(now.Add(d)), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return time.Time{}, false
	}
	if t.After(now.Add(MaxRetryAfter)) {
		t = ceilSecond(now.Add(MaxRetryAfter))
	}
	return t.UTC(), true
}

// ceilSecond rounds t up to the next whole second, in UTC.
func ceilSecond(t time.Time) time.Time {
	t = t.UTC()
	if tr := t.Truncate(time.Second); !tr.Equal(t) {
		return tr.Add(time.Second)
	}
	return t
}

// retryAfterError is an order that failed after the CA answered 429 or 503
// with a Retry-After. lego keeps that header only on a 429 with a
// rateLimited problem document (legoacme.RateLimitedError); a 503 from a
// CA in maintenance, or a 429 of another kind, would lose it, and renewd
// could come back before the CA asked it to.
type retryAfterError struct {
	err        error
	retryAfter string
}

func (e *retryAfterError) Error() string {
	v := e.retryAfter
	if len(v) > 64 {
		v = v[:64] + "..."
	}
	return fmt.Sprintf("%v (Retry-After: %q)", e.err, v)
}

func (e *retryAfterError) Unwrap() error { return e.err }

// retryHint remembers the last Retry-After the CA sent with a 429 or 503
// during one order, for the order's error. It is safe for concurrent use:
// lego fetches authorizations in parallel.
type retryHint struct {
	mu    sync.Mutex
	value string
}

func (h *retryHint) record(v string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.value = v
}

// wrap attaches the recorded Retry-After, if any, to a failed order's err.
func (h *retryHint) wrap(err error) error {
	if err == nil {
		return nil
	}
	h.mu.Lock()
	v := h.value
	h.mu.Unlock()
	if v == "" {
		return err
	}
	return &retryAfterError{err: err, retryAfter: v}
}

// Masking. A DNS provider's errors can quote its credentials (an API that
// echoes the token it refused, lego's httpreq quoting an endpoint with a
// password, an exec script printing what it was given), and those errors
// reach logs, state.json's last_error, `renewd status` and notifications.
// Every error leaving Obtain and NewDNSProvider, and every line lego logs
// through MaskingLogger, has the secrets renewd knows of replaced.

// maskText replaces a secret.
const maskText = "********"

// minSecretLen is the shortest value masked: shorter ones are not real
// credentials, and masking them would garble messages ("exit status 1"
// with EXEC_POLLING_INTERVAL=1).
const minSecretLen = 6

// maxSecretFile bounds what is read of a *_FILE variable's file.
const maxSecretFile = 64 << 10

// secretWords mark a process-environment variable as a credential,
// whatever the provider: lego names them like ALICLOUD_SECRET_KEY,
// CF_DNS_API_TOKEN, HTTPREQ_PASSWORD, AZURE_CLIENT_SECRET.
var secretWords = []string{"KEY", "SECRET", "TOKEN", "PASS", "CREDENTIAL", "AUTH"}

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

// secretName reports whether the process-environment variable name holds
// a credential for a provider with the given prefixes.
func secretName(name string, prefixes []string) bool {
	up := strings.ToUpper(name)
	for _, w := range secretWords {
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

// prefixesOf returns the variable prefixes of lego's provider name.
func prefixesOf(name string) []string {
	up := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	if up == "" {
		return providerPrefixes[name]
	}
	return append([]string{up + "_"}, providerPrefixes[name]...)
}

// secretValues returns what to mask for a certificate using provider with
// the env map vars, in a process with the environment environ (KEY=VALUE):
// every value of vars, and the value of every variable of environ that is
// a credential (secretName); for a *_FILE variable (lego reads X from the
// file X_FILE names) the file's content too. Values shorter than
// minSecretLen are left out.
func secretValues(provider string, vars map[string]string, environ []string) []string {
	prefixes := prefixesOf(provider)
	var vals []string
	add := func(name, v string) {
		vals = append(vals, v)
		if strings.HasSuffix(name, "_FILE") && v != "" {
			vals = append(vals, fileSecret(v))
		}
	}
	for k, v := range vars {
		add(k, v)
	}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if ok && secretName(strings.TrimSuffix(k, "_FILE"), prefixes) {
			add(k, v)
		}
	}
	return vals
}

// fileSecret returns the content of a credentials file as lego reads it
// (without its final newline), "" when it cannot be read.
func fileSecret(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	data, _ := io.ReadAll(io.LimitReader(f, maxSecretFile))
	return strings.TrimSuffix(string(data), "\n")
}

// maskWith replaces every secret of vals in s, in the forms a message may
// quote it (as is, escaped by %q, URL-escaped), longest first so a value
// that contains another is masked whole.
func maskWith(s string, vals []string) string {
	var forms []string
	for _, v := range vals {
		if len(v) < minSecretLen {
			continue
		}
		q := strconv.Quote(v)
		forms = append(forms, v, q[1:len(q)-1], url.QueryEscape(v), url.PathEscape(v))
	}
	slices.SortFunc(forms, func(a, b string) int { return cmp.Or(len(b)-len(a), strings.Compare(a, b)) })
	forms = slices.Compact(forms)
	for _, f := range forms {
		if len(f) >= minSecretLen {
			s = strings.ReplaceAll(s, f, maskText)
		}
	}
	return s
}

// maskedError is an error whose text has secrets replaced. It unwraps to
// the original, so errors.Is and errors.As (RetryAfter's
// legoacme.RateLimitedError, a legoacme.ProblemDetails) still work; the
// Error text of what errors.As finds is not masked, so show the outer
// error, never the inner one.
type maskedError struct {
	msg string
	err error
}

func (e *maskedError) Error() string { return e.msg }
func (e *maskedError) Unwrap() error { return e.err }

// maskError returns err with the secrets of a certificate using provider
// with the env map vars masked (see secretValues), nil for nil.
func maskError(err error, provider string, vars map[string]string) error {
	if err == nil {
		return nil
	}
	return &maskedError{msg: maskWith(err.Error(), secretValues(provider, vars, os.Environ())), err: err}
}

// known collects what MaskSecrets masks: the secrets (secretValues) of
// every DNS provider built in this process, its env map and the process
// environment's credentials as they were then. They are gathered once per
// build, not per log line: lego logs many lines per order, and *_FILE
// secrets would be read from disk each time. Entries are never removed: a
// secret of a certificate removed by a reload stays masked.
var known struct {
	mu      sync.Mutex
	vals    map[string]bool
	generic []string // before any provider: the environment's credentials
	once    sync.Once
}

// remember records the secrets of provider with the env map vars.
func remember(provider string, vars map[string]string) {
	vals := secretValues(provider, vars, procenv.Environ())
	known.mu.Lock()
	defer known.mu.Unlock()
	if known.vals == nil {
		known.vals = map[string]bool{}
	}
	for _, v := range vals {
		known.vals[v] = true
	}
}

// MaskSecrets returns s with every secret renewd knows of replaced by
// ********: those of every DNS provider built so far (the values of its env
// map, and of process-environment variables that are credentials: a name
// containing KEY, SECRET, TOKEN, PASS, CREDENTIAL or AUTH, or starting with
// the provider's variable prefix such as ALICLOUD_, CF_ or EXEC_, and the
// content of the files their *_FILE variants name). Before any provider is
// built, the environment's credentials by name alone. It is meant for
// error and log text.
func MaskSecrets(s string) string {
	known.mu.Lock()
	vals := make([]string, 0, len(known.vals))
	for v := range known.vals {
		vals = append(vals, v)
	}
	known.mu.Unlock()
	if len(vals) == 0 {
		known.once.Do(func() { known.generic = secretValues("", nil, procenv.Environ()) })
		vals = known.generic
	}
	return maskWith(s, vals)
}

// MaskingLogger returns a lego logger that passes every line through
// MaskSecrets before l: lego logs a DNS provider's failed cleanup and
// every line an exec DNS script prints, at debug level. Point lego's
// log.Logger at it once, in main.
func MaskingLogger(l legolog.StdLogger) legolog.StdLogger { return maskingLogger{l} }

type maskingLogger struct{ l legolog.StdLogger }

func (m maskingLogger) Fatal(args ...any)   { m.l.Fatal(MaskSecrets(fmt.Sprint(args...))) }
func (m maskingLogger) Fatalln(args ...any) { m.l.Fatalln(MaskSecrets(sprintln(args...))) }
func (m maskingLogger) Fatalf(format string, args ...any) {
	m.l.Fatal(MaskSecrets(fmt.Sprintf(format, args...)))
}
func (m maskingLogger) Print(args ...any)   { m.l.Print(MaskSecrets(fmt.Sprint(args...))) }
func (m maskingLogger) Println(args ...any) { m.l.Println(MaskSecrets(sprintln(args...))) }
func (m maskingLogger) Printf(format string, args ...any) {
	m.l.Print(MaskSecrets(fmt.Sprintf(format, args...)))
}

// sprintln is fmt.Sprintln without the newline, which Println adds back.
func sprintln(args ...any) string { return strings.TrimSuffix(fmt.Sprintln(args...), "\n") }
