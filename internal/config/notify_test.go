package config

import (
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// Webhook addresses and secrets as a user would put them in the
// EnvironmentFile; none may show up in an error or in Effective.
const (
	wecomURL    = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
	dingURL     = "https://oapi.dingtalk.com/robot/send?access_token=566cc69da782ec0000token"
	dingSecret  = "SEC5a3ecf88f2b3eb50db30ecfc00f53033ac909c99bf7f88fd612bda89d7f3a9dc"
	feishuURL   = "https://open.feishu.cn/open-apis/bot/v2/hook/5e3d587e-d78e-4a07-bd07-265f269f86fd"
	feishuToken = "5e3d587e-d78e-4a07-bd07-265f269f86fd"
)

func notifyEnv() map[string]string {
	return map[string]string{"WECOM_URL": wecomURL, "DING_URL": dingURL, "DING_SECRET": dingSecret, "FEISHU_URL": feishuURL}
}

func TestNotifyDefaults(t *testing.T) {
	c, _ := mustLoad(t, map[string]string{
		"renewd.yaml": `notify:
  targets:
    - {type: wecom, url: "${WECOM_URL}"}
    - {type: dingtalk, url: "${DING_URL}", secret: "${DING_SECRET}"}
    - {type: feishu, url: "${FEISHU_URL}", format: text, timeout: 3s, retries: 0, events: [expiring]}
    - {type: webhook, url: "http://127.0.0.1:9000/hook"}
    - {type: webhook, url: "http://[::1]:9000/hook", name: relay}
    - {type: webhook, url: "http://localhost:9000/other"}
`,
		"domains.d/": "",
	}, Options{LookupEnv: envMap(notifyEnv())})
	n := c.Notify
	if n.ExpiringDays != 14 || n.DigestThreshold != 5 {
		t.Errorf("expiring_days, digest_threshold = %d, %d; want 14, 5", n.ExpiringDays, n.DigestThreshold)
	}
	want := []NotifyTarget{
		{Name: "wecom", Type: "wecom", URL: wecomURL, Format: "markdown", Timeout: 10 * time.Second, Retries: 3, Events: NotifyEvents},
		{Name: "dingtalk", Type: "dingtalk", URL: dingURL, Secret: dingSecret, Format: "markdown", Timeout: 10 * time.Second, Retries: 3, Events: NotifyEvents},
		{Name: "feishu", Type: "feishu", URL: feishuURL, Format: "text", Timeout: 3 * time.Second, Retries: 0, Events: []string{"expiring"}},
		{Name: "webhook-1", Type: "webhook", URL: "http://127.0.0.1:9000/hook", Format: "json", Timeout: 10 * time.Second, Retries: 3, Events: NotifyEvents},
		{Name: "relay", Type: "webhook", URL: "http://[::1]:9000/hook", Format: "json", Timeout: 10 * time.Second, Retries: 3, Events: NotifyEvents},
		{Name: "webhook-3", Type: "webhook", URL: "http://localhost:9000/other", Format: "json", Timeout: 10 * time.Second, Retries: 3, Events: NotifyEvents},
	}
	if len(n.Targets) != len(want) {
		t.Fatalf("%d targets, want %d", len(n.Targets), len(want))
	}
	for i, got := range n.Targets {
		w := want[i]
		if got.Name != w.Name || got.Type != w.Type || got.URL != w.URL || got.Secret != w.Secret || got.Format != w.Format ||
			got.Timeout != w.Timeout || got.Retries != w.Retries || !slices.Equal(got.Events, w.Events) {
			t.Errorf("targets[%d] = %+v\nwant %+v", i, got, w)
		}
	}
	// The defaults are copies: changing one target's events must not
	// change another's or the package list.
	n.Targets[0].Events[0] = "changed"
	if n.Targets[1].Events[0] != "renewal_failed" || NotifyEvents[0] != "renewal_failed" {
		t.Error("targets share the default events slice")
	}
}

func TestNotifyNoBlock(t *testing.T) {
	c, _ := mustLoad(t, map[string]string{"renewd.yaml": "", "domains.d/": ""}, Options{})
	if c.Notify.ExpiringDays != 14 || c.Notify.DigestThreshold != 5 || len(c.Notify.Targets) != 0 {
		t.Errorf("notify = %+v, want defaults and no targets", c.Notify)
	}
}

func TestNotifyExplicitZeroExpiringDays(t *testing.T) {
	c, _ := mustLoad(t, map[string]string{"renewd.yaml": "notify: {expiring_days: 0}\n", "domains.d/": ""}, Options{})
	if c.Notify.ExpiringDays != 0 {
		t.Errorf("expiring_days = %d, want 0 (off) as written", c.Notify.ExpiringDays)
	}
}

func TestNotifyErrors(t *testing.T) {
	tests := []struct {
		desc   string
		global string
		want   []string
	}{
		{
			desc:   "unknown field in a target",
			global: "notify:\n  targets:\n    - type: wecom\n      url: ${WECOM_URL}\n      token: x\n",
			want:   []string{"renewd.yaml:5: notify.targets[0].token: unknown field; valid: name, type, url, secret, format, timeout, retries, events"},
		},
		{
			desc:   "type missing and unknown",
			global: "notify:\n  targets:\n    - url: ${WECOM_URL}\n    - type: slack\n      url: ${WECOM_URL}\n",
			want: []string{
				"renewd.yaml:3: notify.targets[0].type: missing; use webhook, wecom, dingtalk or feishu",
				`renewd.yaml:4: notify.targets[1].type: "slack" is not valid; use webhook, wecom, dingtalk or feishu`,
			},
		},
		{
			desc:   "format not of the type",
			global: "notify:\n  targets:\n    - type: feishu\n      url: ${FEISHU_URL}\n      format: markdown\n",
			want:   []string{`renewd.yaml:5: notify.targets[0].format: "markdown" is not valid for feishu; use post or text`},
		},
		{
			desc:   "url missing",
			global: "notify:\n  targets:\n    - type: webhook\n",
			want:   []string{`renewd.yaml:3: notify.targets[0].url: missing; paste the webhook address the service gave you, for example as "${WECOM_WEBHOOK_URL}" with the variable in the systemd EnvironmentFile`},
		},
		{
			desc:   "url variable not set",
			global: "notify:\n  targets:\n    - type: wecom\n      url: ${NOT_SET}\n",
			want:   []string{"renewd.yaml:4: notify.targets[0].url: environment variable NOT_SET is not set; set it (for example in the systemd EnvironmentFile) or write $$ for a literal $"},
		},
		{
			desc:   "plain http to a remote host",
			global: "notify:\n  targets:\n    - type: webhook\n      url: http://hooks.example.com/renewd?token=abc\n",
			want:   []string{"renewd.yaml:4: notify.targets[0].url: uses http to a host that is not loopback, which would send its token in clear text; use https (http is allowed to 127.0.0.1, ::1 or localhost only, for a local relay)"},
		},
		{
			desc:   "not a URL",
			global: "notify:\n  targets:\n    - type: webhook\n      url: qyapi.weixin.qq.com/cgi-bin/webhook/send\n",
			want:   []string{"renewd.yaml:4: notify.targets[0].url: is not an absolute https URL; paste the webhook address exactly as the service gave it"},
		},
		{
			desc:   "wecom without key, dingtalk without access_token",
			global: "notify:\n  targets:\n    - type: wecom\n      url: https://qyapi.weixin.qq.com/cgi-bin/webhook/send\n    - type: dingtalk\n      url: https://oapi.dingtalk.com/robot/send\n",
			want: []string{
				"renewd.yaml:4: notify.targets[0].url: has no key= parameter; a WeCom group robot URL looks like https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...",
				"renewd.yaml:6: notify.targets[1].url: has no access_token= parameter; a DingTalk robot URL looks like https://oapi.dingtalk.com/robot/send?access_token=...",
			},
		},
		{
			desc:   "dingtalk url already signed",
			global: "notify:\n  targets:\n    - type: dingtalk\n      url: ${DING_URL}&timestamp=1&sign=x\n",
			want:   []string{"renewd.yaml:4: notify.targets[0].url: already has timestamp= or sign=; give the URL without them and the signing secret as secret:"},
		},
		{
			desc:   "secret on a type that does not sign",
			global: "notify:\n  targets:\n    - type: wecom\n      url: ${WECOM_URL}\n      secret: ${DING_SECRET}\n",
			want:   []string{"renewd.yaml:5: notify.targets[0].secret: is set but wecom does not sign its requests; remove it (only dingtalk and feishu robots have a signing secret)"},
		},
		{
			desc:   "timeout, retries and events",
			global: "notify:\n  targets:\n    - type: feishu\n      url: ${FEISHU_URL}\n      timeout: 0s\n      retries: 11\n      events: [renewal_failed, expired, renewal_failed]\n",
			want: []string{
				"renewd.yaml:5: notify.targets[0].timeout: must be positive, such as 10s",
				"renewd.yaml:6: notify.targets[0].retries: 11 is out of range; use 0 to 10",
				`renewd.yaml:7: notify.targets[0].events[1]: "expired" is not an event; use renewal_failed, recovered, canary_failed, canary_bypassed, chain_incomplete, chain_repaired, expiring`,
				`renewd.yaml:7: notify.targets[0].events[2]: "renewal_failed" is listed twice`,
			},
		},
		{
			desc:   "global numbers",
			global: "notify:\n  expiring_days: 400\n  digest_threshold: 0\n",
			want: []string{
				"renewd.yaml:2: notify.expiring_days: 400 is out of range; use 0 (no expiry warning) to 365",
				"renewd.yaml:3: notify.digest_threshold: 0 is out of range; use 1 or more (events beyond it in one run are sent as one digest)",
			},
		},
		{
			desc:   "duplicate names",
			global: "notify:\n  targets:\n    - {name: ops, type: wecom, url: \"${WECOM_URL}\"}\n    - {name: ops, type: feishu, url: \"${FEISHU_URL}\"}\n",
			want:   []string{`renewd.yaml:4: notify.targets[1].name: "ops" is also the name of notify.targets[0]; give each target its own name`},
		},
		{
			desc:   "targets is not a list",
			global: "notify:\n  targets:\n    type: wecom\n",
			want:   []string{`renewd.yaml:2: notify.targets: want a list, got a mapping; write [a, b] or one "- item" per line`},
		},
	}
	env := notifyEnv()
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			_, got, _ := loadTree(t, map[string]string{"renewd.yaml": tt.global, "domains.d/": ""}, Options{LookupEnv: envMap(env)})
			diffLines(t, got, tt.want)
			for _, line := range got {
				for _, secret := range []string{wecomURL, dingURL, dingSecret, feishuToken, "token=abc", "access_token="} {
					if strings.Contains(line, secret) && !strings.Contains(line, "looks like") {
						t.Errorf("error shows a secret (%q): %s", secret, line)
					}
				}
			}
		})
	}
}

func TestNotifyEffectiveMasksSecrets(t *testing.T) {
	c, _ := mustLoad(t, map[string]string{
		"renewd.yaml": `notify:
  expiring_days: 7
  targets:
    - {type: wecom, url: "${WECOM_URL}", events: [renewal_failed]}
    - {type: dingtalk, url: "${DING_URL}", secret: "${DING_SECRET}"}
    - {type: feishu, url: "${FEISHU_URL}"}
`,
		"domains.d/": "",
	}, Options{LookupEnv: envMap(notifyEnv())})
	out, err := c.Effective()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{wecomURL, dingURL, dingSecret, feishuToken, "qyapi", "693a91f6", "566cc69", "SEC5a3"} {
		if strings.Contains(string(out), s) {
			t.Errorf("Effective shows secret %q:\n%s", s, out)
		}
	}
	var parsed struct {
		Notify Notify `yaml:"notify"`
	}
	if err := yaml.Unmarshal(out, &parsed); err != nil {
		t.Fatalf("Effective is not YAML: %v\n%s", err, out)
	}
	n := parsed.Notify
	if n.ExpiringDays != 7 || n.DigestThreshold != 5 || len(n.Targets) != 3 {
		t.Fatalf("effective notify = %+v", n)
	}
	for i, tg := range n.Targets {
		if tg.URL != masked {
			t.Errorf("targets[%d].url = %q, want %q", i, tg.URL, masked)
		}
	}
	if n.Targets[1].Secret != masked || n.Targets[2].Secret != "" {
		t.Errorf("secrets = %q, %q; want masked when set, empty when not", n.Targets[1].Secret, n.Targets[2].Secret)
	}
	if n.Targets[0].Name != "wecom" || !slices.Equal(n.Targets[0].Events, []string{"renewal_failed"}) || n.Targets[2].Format != "post" {
		t.Errorf("effective targets lost their settings: %+v", n.Targets)
	}
	if !strings.Contains(string(out), "timeout: 10s") || !strings.Contains(string(out), "retries: 3") {
		t.Errorf("Effective lacks the target defaults:\n%s", out)
	}
}
