package notify

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/golden"
)

func TestKindsMatchConfig(t *testing.T) {
	var names []string
	for _, k := range Kinds {
		names = append(names, string(k))
	}
	if !slices.Equal(names, config.NotifyEvents) {
		t.Errorf("Kinds = %v, config.NotifyEvents = %v; keep them the same", names, config.NotifyEvents)
	}
}

// TestDingTalkSignKnownAnswer pins the signature against an independent
// implementation's test vector (timestamp 1700000000000, secret "secret").
func TestDingTalkSignKnownAnswer(t *testing.T) {
	u, err := dingtalkSign("https://oapi.dingtalk.com/robot/send?access_token=abc", "secret", time.UnixMilli(1700000000000))
	if err != nil {
		t.Fatal(err)
	}
	want := "https://oapi.dingtalk.com/robot/send?access_token=abc&sign=OuzzJR5%2BxZ4%2FEYwqtNt6sMYZQMTa%2FHEGvc9miJe7XzY%3D&timestamp=1700000000000"
	if u != want {
		t.Errorf("signed URL\n got %s\nwant %s", u, want)
	}
}

// verifyDingTalk checks a request's signature the way DingTalk does.
func verifyDingTalk(t *testing.T, q url.Values, secret string, now time.Time) {
	t.Helper()
	ts := q.Get("timestamp")
	if ts != fmt.Sprint(now.UnixMilli()) {
		t.Errorf("timestamp = %q, want %d (milliseconds)", ts, now.UnixMilli())
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "\n" + secret))
	if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); q.Get("sign") != want {
		t.Errorf("sign = %q, want %q", q.Get("sign"), want)
	}
}

// verifyFeishu checks a body's signature the way Feishu does: the key is
// timestamp + "\n" + secret and the message is empty.
func verifyFeishu(t *testing.T, ts, sign, secret string, now time.Time) {
	t.Helper()
	if ts != fmt.Sprint(now.Unix()) {
		t.Errorf("timestamp = %q, want %d (seconds)", ts, now.Unix())
	}
	mac := hmac.New(sha256.New, []byte(ts+"\n"+secret))
	if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); sign != want {
		t.Errorf("sign = %q, want %q", sign, want)
	}
}

func TestFeishuSign(t *testing.T) {
	body := feishuBody("text", single(sampleEvents()[0], "web1"), "feishu-secret", now)
	b, _ := json.Marshal(body)
	var got struct{ Timestamp, Sign string }
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	verifyFeishu(t, got.Timestamp, got.Sign, "feishu-secret", now)
	// Without a secret neither field is sent.
	b, _ = json.Marshal(feishuBody("text", single(sampleEvents()[0], "web1"), "", now))
	if bytes.Contains(b, []byte("timestamp")) || bytes.Contains(b, []byte("sign")) {
		t.Errorf("unsigned body has signature fields: %s", b)
	}
}

func sampleEvents() []Event {
	na := expires
	return []Event{
		{Kind: RenewalFailed, Certificate: "shop", Domains: []string{"shop.example.com", "www.shop.example.com"}, Error: acmeErr + "\nsecond line <font color=\"warning\">x</font>",
			RetryCount: 2, NextRetry: tp(retryAt), NotAfter: &na, At: now},
		{Kind: Recovered, Certificate: "api", Domains: []string{"api.example.com"}, RetryCount: 3, NotAfter: tp(newNA), At: now},
		{Kind: CanaryFailed, Certificate: "canary", Domains: []string{"canary.example.com"}, Error: "canary canary failed: " + acmeErr, Held: []string{"api", "shop"}, At: now},
		{Kind: ChainIncomplete, Certificate: "cdn", Domains: []string{"cdn.example.com"}, Error: chainErr, RetryCount: 1, NextRetry: tp(retryAt), NotAfter: &na, At: now},
		{Kind: Expiring, Certificate: "old", Domains: []string{"old.example.com"}, Error: acmeErr, RetryCount: 7, NextRetry: tp(retryAt), NotAfter: tp(now.Add(30 * time.Hour)), At: now},
		{Kind: Expiring, Certificate: "dead", Domains: []string{"dead.example.com"}, NotAfter: tp(now.Add(-time.Hour)), At: now},
	}
}

var goldenTargets = []config.NotifyTarget{
	{Type: "webhook", Format: "json", URL: "https://hooks.example.com/renewd"},
	{Type: "wecom", Format: "markdown", URL: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY"},
	{Type: "wecom", Format: "text", URL: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY"},
	{Type: "dingtalk", Format: "markdown", URL: "https://oapi.dingtalk.com/robot/send?access_token=TOKEN", Secret: "SECsecret"},
	{Type: "dingtalk", Format: "text", URL: "https://oapi.dingtalk.com/robot/send?access_token=TOKEN"},
	{Type: "feishu", Format: "post", URL: "https://open.feishu.cn/open-apis/bot/v2/hook/TOKEN", Secret: "secret"},
	{Type: "feishu", Format: "text", URL: "https://open.feishu.cn/open-apis/bot/v2/hook/TOKEN"},
}

// TestGoldenPayloads pins what each format sends for one event and for a
// digest. Run with -update after a deliberate change and read the diff.
func TestGoldenPayloads(t *testing.T) {
	for _, tg := range goldenTargets {
		t.Run(tg.Type+"-"+tg.Format, func(t *testing.T) {
			var out bytes.Buffer
			for _, m := range []*message{single(sampleEvents()[0], "web1"), digest(sampleEvents(), "web1")} {
				u, body, err := encode(&tg, m, "web1", now)
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(&out, "POST %s\n", u)
				if err := json.Indent(&out, body, "", "  "); err != nil {
					t.Fatalf("body is not JSON: %v\n%s", err, body)
				}
				out.WriteString("\n\n")
			}
			golden.Compare(t, tg.Type+"-"+tg.Format, out.String())
		})
	}
}

func TestMarkdownCannotOpenTags(t *testing.T) {
	md := single(sampleEvents()[0], "web1").markdown(limitWeComMarkdown)
	if strings.ContainsAny(md, "<>") {
		t.Errorf("markdown keeps < or > from the error:\n%s", md)
	}
	if strings.Contains(md, "\nsecond line") {
		t.Errorf("a multi-line error breaks the row:\n%s", md)
	}
}

func TestLimits(t *testing.T) {
	var events []Event
	for i := range 200 {
		events = append(events, Event{Kind: RenewalFailed, Certificate: fmt.Sprintf("cert-%03d", i), Error: strings.Repeat("证书错误 ", 100), At: now})
	}
	m := digest(events, "web1")
	for _, tc := range []struct {
		name  string
		limit int
		out   string
	}{
		{"wecom text", limitWeComText, m.text(limitWeComText)},
		{"wecom markdown", limitWeComMarkdown, m.markdown(limitWeComMarkdown)},
		{"feishu", limitFeishu, strings.Join(m.paragraphs(limitFeishu), "\n")},
	} {
		if len(tc.out) > tc.limit || !utf8.ValidString(tc.out) {
			t.Errorf("%s: %d bytes (limit %d), valid UTF-8 %v", tc.name, len(tc.out), tc.limit, utf8.ValidString(tc.out))
		}
		if !strings.Contains(tc.out, "more not shown (see renewd status)") {
			t.Errorf("%s: does not say that rows were left out:\n%s", tc.name, tc.out[len(tc.out)-200:])
		}
	}
	// A 20 KB Feishu body limit holds with JSON escaping of every line.
	_, body, err := encode(&config.NotifyTarget{Type: "feishu", Format: "post", URL: "https://open.feishu.cn/open-apis/bot/v2/hook/x"}, m, "web1", now)
	if err != nil || len(body) > 20<<10 {
		t.Errorf("feishu body %d bytes, err %v", len(body), err)
	}
}

func TestCheckReply(t *testing.T) {
	tests := []struct {
		desc    string
		typ     string
		status  int
		header  http.Header
		body    string
		wantErr string // "" for success
		retry   bool
		after   time.Duration
	}{
		{desc: "webhook 204", typ: "webhook", status: 204},
		{desc: "webhook 500 retries", typ: "webhook", status: 500, body: "oops", wantErr: "HTTP 500: oops", retry: true},
		{desc: "429 with Retry-After", typ: "webhook", status: 429, header: http.Header{"Retry-After": {"7"}}, wantErr: "HTTP 429", retry: true, after: 7 * time.Second},
		{desc: "404 does not retry", typ: "wecom", status: 404, wantErr: "HTTP 404"},
		{desc: "redirect is not followed", typ: "webhook", status: 302, wantErr: "HTTP 302 (a redirect; renewd does not follow it: give the final URL)"},
		{desc: "wecom ok", typ: "wecom", status: 200, body: `{"errcode":0,"errmsg":"ok"}`},
		{desc: "wecom bad key", typ: "wecom", status: 200, body: `{"errcode":93000,"errmsg":"invalid webhook url"}`, wantErr: "wecom replied code 93000: invalid webhook url"},
		{desc: "wecom rate limited", typ: "wecom", status: 200, body: `{"errcode":45009,"errmsg":"api freq out of limit"}`, wantErr: "wecom replied code 45009: api freq out of limit", retry: true},
		{desc: "dingtalk sign mismatch", typ: "dingtalk", status: 200, body: `{"errcode":310000,"errmsg":"sign not match"}`, wantErr: "dingtalk replied code 310000: sign not match"},
		{desc: "dingtalk too fast", typ: "dingtalk", status: 200, body: `{"errcode":130101,"errmsg":"send too fast"}`, wantErr: "dingtalk replied code 130101: send too fast", retry: true},
		{desc: "feishu ok", typ: "feishu", status: 200, body: `{"code":0,"msg":"success","data":{},"StatusCode":0,"StatusMessage":"success"}`},
		{desc: "feishu old ok", typ: "feishu", status: 200, body: `{"StatusCode":0,"StatusMessage":"success"}`},
		{desc: "feishu sign", typ: "feishu", status: 200, body: `{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}`,
			wantErr: "feishu replied code 19021: sign match fail or timestamp is not within one hour from current time"},
		{desc: "feishu rate limited", typ: "feishu", status: 200, body: `{"code":11232,"msg":"frequency limited"}`, wantErr: "feishu replied code 11232: frequency limited", retry: true},
		{desc: "a relay's non-JSON 200", typ: "wecom", status: 200, body: "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			err := checkReply(tt.typ, tt.status, tt.header, []byte(tt.body))
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("err = %v, want nil", err)
				}
				return
			}
			se, ok := err.(*sendError)
			if !ok {
				t.Fatalf("err = %v (%T), want a *sendError", err, err)
			}
			if se.msg != tt.wantErr || se.retry != tt.retry || se.after != tt.after {
				t.Errorf("err = %q retry %v after %s; want %q retry %v after %s", se.msg, se.retry, se.after, tt.wantErr, tt.retry, tt.after)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k": "https://qyapi.weixin.qq.com",
		"https://open.feishu.cn/open-apis/bot/v2/hook/token":     "https://open.feishu.cn",
		"http://127.0.0.1:9000/x":                                "http://127.0.0.1:9000",
		"::":                                                     "(unparsable URL)",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
	s := newScrubber("https://open.feishu.cn/open-apis/bot/v2/hook/5e3d587e-d78e-4a07?x=querysecret", "signing-secret")
	in := `Post "https://open.feishu.cn/open-apis/bot/v2/hook/5e3d587e-d78e-4a07?x=querysecret": 5e3d587e-d78e-4a07 querysecret signing-secret`
	if got := s.clean(in); strings.Contains(got, "5e3d587e") || strings.Contains(got, "querysecret") || strings.Contains(got, "signing-secret") {
		t.Errorf("scrubbed text still holds a secret: %s", got)
	}
}
