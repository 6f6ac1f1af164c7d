package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Notify is where renewd tells a person that a renewal failed, recovered,
// was held by a canary, deployed an incomplete chain, or that a certificate
// is about to expire without a successful renewal. No targets: nothing is
// sent. The notify package does the sending.
type Notify struct {
	// ExpiringDays warns once per certificate when it is within this many
	// days of expiry (or a quarter of its lifetime, if shorter) and has not
	// been renewed; 0 turns the warning off (default 14).
	ExpiringDays int `yaml:"expiring_days"`
	// DigestThreshold: when one run has more events than this for a
	// target, they go out as one digest message instead of one message
	// each (default 5).
	DigestThreshold int `yaml:"digest_threshold"`
	// Targets are the webhooks and group robots to send to.
	Targets []NotifyTarget `yaml:"targets"`
}

// NotifyTarget is one webhook or group robot. URL and Secret are secrets:
// never logged, masked by Effective.
type NotifyTarget struct {
	// Name identifies the target in logs, since its URL is not shown
	// there; default the type, or type-N for the N-th target of a type
	// that several targets share.
	Name string `yaml:"name"`
	// Type is webhook (renewd's own JSON), wecom (企业微信 group robot),
	// dingtalk (钉钉 custom robot) or feishu (飞书 custom bot); required.
	Type string `yaml:"type"`
	// URL is the webhook address as the service gave it, usually
	// "${VAR}"; https, or http to a loopback address.
	URL string `yaml:"url"`
	// Secret is the signing secret of a dingtalk or feishu robot whose
	// security setting is 加签 / 签名校验; empty when signing is off.
	Secret string `yaml:"secret"`
	// Format is the message type: markdown (default) or text for wecom and
	// dingtalk; post (default) or text for feishu; json for webhook.
	Format string `yaml:"format"`
	// Timeout bounds each HTTP request (default 10s).
	Timeout time.Duration `yaml:"timeout"`
	// Retries is how many times a failed send is tried again, with
	// backoff, 0..10 (default 3).
	Retries int `yaml:"retries"`
	// Events are the kinds sent to this target (default all): see
	// NotifyEvents.
	Events []string `yaml:"events"`
}

// NotifyEvents are the event kinds a target can subscribe to, in the order
// messages list them. The notify package defines one Kind for each.
var NotifyEvents = []string{"renewal_failed", "recovered", "canary_failed", "canary_bypassed", "chain_incomplete", "chain_repaired", "expiring"}

// Notify target types.
const (
	NotifyWebhook  = "webhook"
	NotifyWeCom    = "wecom"
	NotifyDingTalk = "dingtalk"
	NotifyFeishu   = "feishu"
)

// notifyFormats lists the formats of each target type, the default first.
var notifyFormats = map[string][]string{
	NotifyWebhook:  {"json"},
	NotifyWeCom:    {"markdown", "text"},
	NotifyDingTalk: {"markdown", "text"},
	NotifyFeishu:   {"post", "text"},
}

const (
	defaultExpiringDays    = 14
	defaultDigestThreshold = 5
	defaultNotifyTimeout   = 10 * time.Second
	defaultNotifyRetries   = 3
	maxNotifyRetries       = 10
	maxExpiringDays        = 365
	notifyTypeHint         = "use webhook, wecom, dingtalk or feishu"
)

// applyNotifyDefaults is applyDefaults for the notify block.
func applyNotifyDefaults(n *Notify, src *source) {
	if !src.isSet("notify.expiring_days") {
		n.ExpiringDays = defaultExpiringDays
	}
	if !src.isSet("notify.digest_threshold") {
		n.DigestThreshold = defaultDigestThreshold
	}
	perType := map[string]int{}
	for _, t := range n.Targets {
		perType[t.Type]++
	}
	seen := map[string]int{}
	for i := range n.Targets {
		t := &n.Targets[i]
		p := fmt.Sprintf("notify.targets[%d]", i)
		if formats := notifyFormats[t.Type]; len(formats) > 0 {
			setString(&t.Format, formats[0])
		}
		seen[t.Type]++
		if t.Name == "" && t.Type != "" {
			t.Name = t.Type
			if perType[t.Type] > 1 {
				t.Name = fmt.Sprintf("%s-%d", t.Type, seen[t.Type])
			}
		}
		if !src.isSet(p + ".timeout") {
			t.Timeout = defaultNotifyTimeout
		}
		if !src.isSet(p + ".retries") {
			t.Retries = defaultNotifyRetries
		}
		if len(t.Events) == 0 {
			t.Events = slices.Clone(NotifyEvents)
		}
	}
}

// validateNotify checks the notify block after defaults. URL and Secret are
// secrets: messages say what is wrong without repeating them.
func validateNotify(n *Notify, src *source) {
	if n.ExpiringDays < 0 || n.ExpiringDays > maxExpiringDays {
		src.errorf("notify.expiring_days", "%d is out of range; use 0 (no expiry warning) to %d", n.ExpiringDays, maxExpiringDays)
	}
	if n.DigestThreshold < 1 {
		src.errorf("notify.digest_threshold", "%d is out of range; use 1 or more (events beyond it in one run are sent as one digest)", n.DigestThreshold)
	}
	names := map[string]string{}
	for i := range n.Targets {
		t := &n.Targets[i]
		p := fmt.Sprintf("notify.targets[%d]", i)
		validateNotifyTarget(t, src, p)
		if t.Name == "" {
			continue
		}
		if first, dup := names[t.Name]; dup {
			src.errorf(p+".name", "%q is also the name of %s; give each target its own name", t.Name, first)
			continue
		}
		names[t.Name] = p
	}
}

func validateNotifyTarget(t *NotifyTarget, src *source, p string) {
	formats, known := notifyFormats[t.Type]
	switch {
	case t.Type == "":
		src.errorf(p+".type", "missing; %s", notifyTypeHint)
	case !known:
		src.errorf(p+".type", "%q is not valid; %s", t.Type, notifyTypeHint)
	case !slices.Contains(formats, t.Format):
		src.errorf(p+".format", "%q is not valid for %s; use %s", t.Format, t.Type, strings.Join(formats, " or "))
	}
	if msg := checkNotifyURL(t.URL, t.Type); msg != "" {
		src.errorf(p+".url", "%s", msg)
	}
	if t.Secret != "" && known && t.Type != NotifyDingTalk && t.Type != NotifyFeishu {
		src.errorf(p+".secret", "is set but %s does not sign its requests; remove it (only dingtalk and feishu robots have a signing secret)", t.Type)
	}
	if t.Timeout <= 0 {
		src.errorf(p+".timeout", "must be positive, such as 10s")
	}
	if t.Retries < 0 || t.Retries > maxNotifyRetries {
		src.errorf(p+".retries", "%d is out of range; use 0 to %d", t.Retries, maxNotifyRetries)
	}
	seen := map[string]bool{}
	for j, e := range t.Events {
		f := fmt.Sprintf("%s.events[%d]", p, j)
		switch {
		case !slices.Contains(NotifyEvents, e):
			src.errorf(f, "%q is not an event; use %s", e, strings.Join(NotifyEvents, ", "))
		case seen[e]:
			src.errorf(f, "%q is listed twice", e)
		}
		seen[e] = true
	}
}

// checkNotifyURL returns what is wrong with a target URL, or "". The URL
// carries the robot's token, so the message never quotes it.
func checkNotifyURL(s, typ string) string {
	if s == "" {
		return "missing; paste the webhook address the service gave you, for example as \"${WECOM_WEBHOOK_URL}\" with the variable in the systemd EnvironmentFile"
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "is not an absolute https URL; paste the webhook address exactly as the service gave it"
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return "uses http to a host that is not loopback, which would send its token in clear text; use https (http is allowed to 127.0.0.1, ::1 or localhost only, for a local relay)"
	}
	if u.Fragment != "" {
		return "has a #fragment; remove it"
	}
	q := u.Query()
	switch {
	case typ == NotifyWeCom && q.Get("key") == "":
		return "has no key= parameter; a WeCom group robot URL looks like https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=..."
	case typ == NotifyDingTalk && q.Get("access_token") == "":
		return "has no access_token= parameter; a DingTalk robot URL looks like https://oapi.dingtalk.com/robot/send?access_token=..."
	case typ == NotifyDingTalk && (q.Has("timestamp") || q.Has("sign")):
		return "already has timestamp= or sign=; give the URL without them and the signing secret as secret:"
	}
	return ""
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
