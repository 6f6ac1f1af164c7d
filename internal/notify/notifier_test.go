package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/renewd/renewd/internal/config"
)

// received is one request a test server got.
type received struct {
	url    *url.URL
	header http.Header
	body   []byte
}

// hookServer is a local webhook. respond decides the reply to the n-th
// request (0-based); nil answers 200 with reply.
type hookServer struct {
	*httptest.Server
	mu      sync.Mutex
	got     []received
	count   atomic.Int32
	reply   string
	respond func(n int, w http.ResponseWriter, r *http.Request)
}

func newHookServer(t *testing.T, reply string, respond func(n int, w http.ResponseWriter, r *http.Request)) *hookServer {
	t.Helper()
	h := &hookServer{reply: reply, respond: respond}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		n := int(h.count.Add(1)) - 1
		h.mu.Lock()
		h.got = append(h.got, received{url: r.URL, header: r.Header.Clone(), body: body})
		h.mu.Unlock()
		if h.respond != nil {
			h.respond(n, w, r)
			return
		}
		io.WriteString(w, h.reply)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) requests() []received {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.got)
}

// instant is an Options.After that does not wait, and records the waits
// asked for.
type instant struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (i *instant) after(d time.Duration) <-chan time.Time {
	i.mu.Lock()
	i.waits = append(i.waits, d)
	i.mu.Unlock()
	c := make(chan time.Time, 1)
	c <- time.Time{}
	return c
}

func (i *instant) recorded() []time.Duration {
	i.mu.Lock()
	defer i.mu.Unlock()
	return slices.Clone(i.waits)
}

func newTestNotifier(t *testing.T, targets []config.NotifyTarget, threshold int, opts Options) (*Notifier, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	if opts.Host == "" {
		opts.Host = "web1"
	}
	if opts.Now == nil {
		opts.Now = func() time.Time { return now }
	}
	if opts.After == nil {
		opts.After = (&instant{}).after
	}
	n := New(config.Notify{DigestThreshold: threshold, Targets: targets}, zap.New(core), opts)
	t.Cleanup(func() {
		// Bounded, so a sender that never finishes fails the test
		// instead of hanging the suite.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := n.Close(ctx); err != nil {
			t.Errorf("Close at cleanup: %v", err)
		}
	})
	return n, logs
}

func closeNotifier(t *testing.T, n *Notifier) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func failEvent(name string) Event {
	return Event{Kind: RenewalFailed, Certificate: name, Domains: []string{name + ".example.com"}, Error: acmeErr,
		RetryCount: 1, NextRetry: tp(retryAt), NotAfter: tp(expires), At: now}
}

func decode(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, b)
	}
}

func TestSendFormats(t *testing.T) {
	ev := failEvent("shop")
	const title = "renewd@web1: Renewal failed: shop"
	tests := []struct {
		desc   string
		target config.NotifyTarget
		path   string
		reply  string
		check  func(t *testing.T, r received)
	}{
		{
			desc: "webhook", target: config.NotifyTarget{Type: "webhook", Format: "json"}, path: "/renewd?token=t0k3n", reply: "",
			check: func(t *testing.T, r received) {
				var p WebhookPayload
				decode(t, r.body, &p)
				if p.Source != "renewd" || p.Host != "web1" || p.Title != title || p.Digest {
					t.Errorf("payload = %+v", p)
				}
				if !strings.Contains(p.Text, "Error: "+acmeErr) || !strings.Contains(p.Text, "Domains: shop.example.com") {
					t.Errorf("text = %q", p.Text)
				}
				if len(p.Events) != 1 || !reflect.DeepEqual(p.Events[0], ev) {
					t.Errorf("events = %s, want [%s]", js(p.Events), js(ev))
				}
				if r.url.Query().Get("token") != "t0k3n" {
					t.Errorf("query = %q, want the URL's own", r.url.RawQuery)
				}
			},
		},
		{
			desc: "wecom markdown", target: config.NotifyTarget{Type: "wecom", Format: "markdown"}, path: "/cgi-bin/webhook/send?key=wecom-key",
			reply: `{"errcode":0,"errmsg":"ok"}`,
			check: func(t *testing.T, r received) {
				var p struct {
					MsgType  string `json:"msgtype"`
					Markdown struct{ Content string }
				}
				decode(t, r.body, &p)
				if p.MsgType != "markdown" || !strings.HasPrefix(p.Markdown.Content, "### "+title+"\n**Domains**: shop.example.com\n**Error**: ") {
					t.Errorf("payload = %+v", p)
				}
				if r.url.Path != "/cgi-bin/webhook/send" || r.url.Query().Get("key") != "wecom-key" {
					t.Errorf("url = %s", r.url)
				}
			},
		},
		{
			desc: "wecom text", target: config.NotifyTarget{Type: "wecom", Format: "text"}, path: "/cgi-bin/webhook/send?key=wecom-key",
			reply: `{"errcode":0,"errmsg":"ok"}`,
			check: func(t *testing.T, r received) {
				var p struct {
					MsgType string `json:"msgtype"`
					Text    struct{ Content string }
				}
				decode(t, r.body, &p)
				if p.MsgType != "text" || !strings.HasPrefix(p.Text.Content, title+"\nDomains: shop.example.com\nError: "+acmeErr) {
					t.Errorf("payload = %+v", p)
				}
			},
		},
		{
			desc: "dingtalk signed markdown", target: config.NotifyTarget{Type: "dingtalk", Format: "markdown", Secret: "SECding"}, path: "/robot/send?access_token=ding-token",
			reply: `{"errcode":0,"errmsg":"ok"}`,
			check: func(t *testing.T, r received) {
				var p struct {
					MsgType  string `json:"msgtype"`
					Markdown struct{ Title, Text string }
				}
				decode(t, r.body, &p)
				if p.MsgType != "markdown" || p.Markdown.Title != title || !strings.HasPrefix(p.Markdown.Text, "### "+title+"\n**Domains**: ") {
					t.Errorf("payload = %+v", p)
				}
				q := r.url.Query()
				if q.Get("access_token") != "ding-token" {
					t.Errorf("access_token = %q", q.Get("access_token"))
				}
				verifyDingTalk(t, q, "SECding", now)
			},
		},
		{
			desc: "dingtalk unsigned text", target: config.NotifyTarget{Type: "dingtalk", Format: "text"}, path: "/robot/send?access_token=ding-token",
			reply: `{"errcode":0,"errmsg":"ok"}`,
			check: func(t *testing.T, r received) {
				var p struct {
					MsgType string `json:"msgtype"`
					Text    struct{ Content string }
				}
				decode(t, r.body, &p)
				if p.MsgType != "text" || !strings.HasPrefix(p.Text.Content, title+"\n") {
					t.Errorf("payload = %+v", p)
				}
				if q := r.url.Query(); q.Has("sign") || q.Has("timestamp") {
					t.Errorf("unsigned target sent a signature: %s", r.url.RawQuery)
				}
			},
		},
		{
			desc: "feishu signed post", target: config.NotifyTarget{Type: "feishu", Format: "post", Secret: "feishu-secret"}, path: "/open-apis/bot/v2/hook/feishu-token",
			reply: `{"code":0,"msg":"success","data":{}}`,
			check: func(t *testing.T, r received) {
				var p struct {
					Timestamp, Sign string
					MsgType         string `json:"msg_type"`
					Content         struct {
						Post struct {
							ZhCN struct {
								Title   string
								Content [][]struct{ Tag, Text string }
							} `json:"zh_cn"`
						}
					}
				}
				decode(t, r.body, &p)
				post := p.Content.Post.ZhCN
				if p.MsgType != "post" || post.Title != title || len(post.Content) != 4 {
					t.Fatalf("payload = %+v", p)
				}
				if c := post.Content[0]; len(c) != 1 || c[0].Tag != "text" || c[0].Text != "Domains: shop.example.com" {
					t.Errorf("first paragraph = %+v", c)
				}
				if c := post.Content[1]; c[0].Text != "Error: "+acmeErr {
					t.Errorf("second paragraph = %+v", c)
				}
				verifyFeishu(t, p.Timestamp, p.Sign, "feishu-secret", now)
			},
		},
		{
			desc: "feishu text", target: config.NotifyTarget{Type: "feishu", Format: "text"}, path: "/open-apis/bot/v2/hook/feishu-token",
			reply: `{"StatusCode":0,"StatusMessage":"success"}`,
			check: func(t *testing.T, r received) {
				var p struct {
					MsgType string `json:"msg_type"`
					Content struct{ Text string }
				}
				decode(t, r.body, &p)
				if p.MsgType != "text" || !strings.HasPrefix(p.Content.Text, title+"\n") {
					t.Errorf("payload = %+v", p)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			srv := newHookServer(t, tt.reply, nil)
			tg := tt.target
			tg.Name, tg.URL = "t", srv.URL+tt.path
			n, _ := newTestNotifier(t, []config.NotifyTarget{tg}, 5, Options{})
			n.Send([]Event{ev})
			closeNotifier(t, n)
			reqs := srv.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			if ct := reqs[0].header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type = %q", ct)
			}
			tt.check(t, reqs[0])
			if s := n.Stats(); s != (Stats{Sent: 1}) {
				t.Errorf("stats = %+v, want one sent", s)
			}
		})
	}
}

// TestSendDoesNotBlock: with the target's sender stuck in a request that
// does not answer, and another stuck waiting to retry after a 500, Send
// still returns at once.
func TestSendDoesNotBlock(t *testing.T) {
	arrived, release := make(chan struct{}, 10), make(chan struct{})
	hang := newHookServer(t, "", func(n int, w http.ResponseWriter, r *http.Request) {
		select { // never block the handler: the queue sends many more
		case arrived <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	failed := make(chan struct{}, 10)
	broken := newHookServer(t, "", func(n int, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		select {
		case failed <- struct{}{}:
		default:
		}
	})
	retryWait := make(chan time.Time) // never fires until the test ends
	n, _ := newTestNotifier(t, []config.NotifyTarget{
		{Name: "hang", Type: "webhook", URL: hang.URL, Timeout: time.Hour, Retries: 3},
		{Name: "broken", Type: "webhook", URL: broken.URL, Timeout: time.Hour, Retries: 3},
	}, 5, Options{After: func(time.Duration) <-chan time.Time { return retryWait }})

	n.Send([]Event{failEvent("first")})
	<-arrived // the hang target's sender is inside its request
	<-failed  // the broken target's sender is waiting to retry

	done := make(chan struct{})
	go func() {
		for i := range 50 {
			n.Send([]Event{failEvent(fmt.Sprintf("cert-%d", i))})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Send blocked behind a target that does not answer")
	}
	close(release)
	close(retryWait)
}

func TestRetriesThenGivesUp(t *testing.T) {
	srv := newHookServer(t, "", func(n int, w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream down", http.StatusBadGateway)
	})
	waits := &instant{}
	n, logs := newTestNotifier(t, []config.NotifyTarget{{Name: "ops", Type: "webhook", URL: srv.URL + "/hook", Timeout: time.Second, Retries: 3}}, 5, Options{After: waits.after})
	n.Send([]Event{failEvent("shop")})
	closeNotifier(t, n)
	if got := srv.count.Load(); got != 4 {
		t.Errorf("%d requests, want 4 (1 + 3 retries)", got)
	}
	if got, want := waits.recorded(), []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}; !slices.Equal(got, want) {
		t.Errorf("waits = %v, want %v", got, want)
	}
	if s := n.Stats(); s != (Stats{Failed: 1}) {
		t.Errorf("stats = %+v, want one failed", s)
	}
	entries := logs.FilterMessage("notification not delivered").All()
	if len(entries) != 1 {
		t.Fatalf("log: %v", logs.All())
	}
	f := entries[0].ContextMap()
	if f["target"] != "ops" || f["attempts"] != int64(4) || f["error"] != "HTTP 502: upstream down" || f["host"] != srv.URL {
		t.Errorf("log fields = %v", f)
	}
}

func TestRetryHonoursRetryAfterThenSucceeds(t *testing.T) {
	srv := newHookServer(t, "", func(n int, w http.ResponseWriter, r *http.Request) {
		if n < 2 {
			w.Header().Set("Retry-After", "5")
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	waits := &instant{}
	n, _ := newTestNotifier(t, []config.NotifyTarget{{Name: "ops", Type: "webhook", URL: srv.URL, Timeout: time.Second, Retries: 3}}, 5, Options{After: waits.after})
	n.Send([]Event{failEvent("shop")})
	closeNotifier(t, n)
	if got := srv.count.Load(); got != 3 {
		t.Errorf("%d requests, want 3", got)
	}
	if got, want := waits.recorded(), []time.Duration{5 * time.Second, 5 * time.Second}; !slices.Equal(got, want) {
		t.Errorf("waits = %v, want %v", got, want)
	}
	if s := n.Stats(); s != (Stats{Sent: 1}) {
		t.Errorf("stats = %+v", s)
	}
}

func TestRejectionIsNotRetried(t *testing.T) {
	srv := newHookServer(t, `{"errcode":310000,"errmsg":"keywords not in content"}`, nil)
	n, logs := newTestNotifier(t, []config.NotifyTarget{{Name: "ding", Type: "dingtalk", Format: "markdown", URL: srv.URL + "/robot/send?access_token=x", Retries: 3}}, 5, Options{})
	n.Send([]Event{failEvent("shop")})
	closeNotifier(t, n)
	if got := srv.count.Load(); got != 1 {
		t.Errorf("%d requests, want 1", got)
	}
	e := logs.FilterMessage("notification not delivered").All()
	if len(e) != 1 || e[0].ContextMap()["error"] != "dingtalk replied code 310000: keywords not in content" {
		t.Errorf("log = %v", logs.All())
	}
}

func TestTimeoutIsRetried(t *testing.T) {
	srv := newHookServer(t, "", func(n int, w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	n, logs := newTestNotifier(t, []config.NotifyTarget{{Name: "slow", Type: "webhook", URL: srv.URL, Timeout: 50 * time.Millisecond, Retries: 1}}, 5, Options{})
	n.Send([]Event{failEvent("shop")})
	closeNotifier(t, n)
	if got := srv.count.Load(); got != 2 {
		t.Errorf("%d requests, want 2", got)
	}
	e := logs.FilterMessage("notification not delivered").All()
	if len(e) != 1 || e[0].ContextMap()["error"] != "POST "+srv.URL+": no reply within 50ms" {
		t.Errorf("log = %v", logs.All())
	}
}

func TestCloseFlushes(t *testing.T) {
	srv := newHookServer(t, "", nil)
	n, _ := newTestNotifier(t, []config.NotifyTarget{{Name: "ops", Type: "webhook", URL: srv.URL}}, 5, Options{})
	n.Send([]Event{failEvent("a"), failEvent("b"), failEvent("c")})
	closeNotifier(t, n)
	var got []string
	for _, r := range srv.requests() {
		var p WebhookPayload
		decode(t, r.body, &p)
		got = append(got, p.Events[0].Certificate)
	}
	if !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("delivered %v by the time Close returned, want [a b c] in order", got)
	}
	// After Close nothing is sent, and that is counted.
	n.Send([]Event{failEvent("late")})
	if s := n.Stats(); s.Sent != 3 || s.Dropped != 1 {
		t.Errorf("stats = %+v, want 3 sent, 1 dropped", s)
	}
	if err := n.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestCloseDeadline(t *testing.T) {
	arrived := make(chan struct{}, 1)
	srv := newHookServer(t, "", func(n int, w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
	})
	n, _ := newTestNotifier(t, []config.NotifyTarget{{Name: "ops", Type: "webhook", URL: srv.URL, Timeout: time.Hour, Retries: 3}}, 5, Options{})
	n.Send([]Event{failEvent("a"), failEvent("b")})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-arrived // "a" is in flight and "b" queued: now the deadline passes
		cancel()
	}()
	err := n.Close(ctx)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "2 notification(s) not sent") {
		t.Errorf("Close = %v, want 2 not sent and context.Canceled", err)
	}
	if s := n.Stats(); s != (Stats{Dropped: 2}) {
		t.Errorf("stats = %+v", s)
	}
	if got := srv.count.Load(); got != 1 {
		t.Errorf("%d requests, want 1: nothing is retried after the deadline", got)
	}
}

func TestFullQueueDropsOldest(t *testing.T) {
	arrived, release := make(chan struct{}, 10), make(chan struct{})
	srv := newHookServer(t, "", func(n int, w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		if n == 0 {
			<-release
		}
	})
	n, logs := newTestNotifier(t, []config.NotifyTarget{{Name: "ops", Type: "webhook", URL: srv.URL, Timeout: time.Hour}}, 5, Options{QueueSize: 2})
	n.Send([]Event{failEvent("a")})
	<-arrived // "a" left the queue and is in flight
	n.Send([]Event{failEvent("b")})
	n.Send([]Event{failEvent("c")})
	n.Send([]Event{failEvent("d")}) // the queue holds b and c: b goes
	close(release)
	closeNotifier(t, n)
	var got []string
	for _, r := range srv.requests() {
		var p WebhookPayload
		decode(t, r.body, &p)
		got = append(got, p.Events[0].Certificate)
	}
	if !slices.Equal(got, []string{"a", "c", "d"}) {
		t.Errorf("delivered %v, want [a c d]", got)
	}
	if s := n.Stats(); s != (Stats{Sent: 3, Dropped: 1}) {
		t.Errorf("stats = %+v", s)
	}
	if e := logs.FilterMessage("notification queue full; dropped the oldest message").All(); len(e) != 1 {
		t.Errorf("log = %v", logs.All())
	}
}

func TestDigestBeyondThreshold(t *testing.T) {
	srv := newHookServer(t, "", nil)
	n, _ := newTestNotifier(t, []config.NotifyTarget{{Name: "ops", Type: "webhook", URL: srv.URL}}, 5, Options{})
	var five, six []Event
	for i := range 5 {
		five = append(five, failEvent(fmt.Sprintf("five-%d", i)))
	}
	for i := range 6 {
		six = append(six, failEvent(fmt.Sprintf("six-%d", i)))
	}
	n.Send(five) // at the threshold: one message each
	n.Send(six)  // beyond it: one digest
	closeNotifier(t, n)
	reqs := srv.requests()
	if len(reqs) != 6 {
		t.Fatalf("%d requests, want 5 single + 1 digest", len(reqs))
	}
	var p WebhookPayload
	decode(t, reqs[5].body, &p)
	if !p.Digest || len(p.Events) != 6 || p.Title != "renewd@web1: 6 certificate events" {
		t.Errorf("digest = %s", js(p))
	}
	for i, e := range six {
		if p.Events[i].Certificate != e.Certificate || !strings.Contains(p.Text, "Renewal failed: "+e.Certificate+": ") {
			t.Errorf("digest lacks %s:\n%s", e.Certificate, p.Text)
		}
	}
}

func TestRemembersWhatItSent(t *testing.T) {
	srv := newHookServer(t, "", nil)
	n, _ := newTestNotifier(t, []config.NotifyTarget{{Name: "ops", Type: "webhook", URL: srv.URL}}, 5, Options{})
	recovered := Event{Kind: Recovered, Certificate: "canary", RetryCount: 1, At: now}
	held := Event{Kind: CanaryFailed, Certificate: "canary", Held: []string{"shop"}, At: now}
	exp := Event{Kind: Expiring, Certificate: "shop", NotAfter: tp(expires), At: now}
	steps := [][]Event{
		{failEvent("canary"), held, exp},
		{failEvent("canary"), held, exp}, // a naive caller repeating itself: nothing
		{recovered},
		{failEvent("canary"), held}, // failing again after recovering: new
		{{Kind: Expiring, Certificate: "shop", NotAfter: tp(newNA), At: now}}, // another certificate's expiry
	}
	for _, s := range steps {
		n.Send(s)
	}
	closeNotifier(t, n)
	var got []string
	for _, r := range srv.requests() {
		var p WebhookPayload
		decode(t, r.body, &p)
		got = append(got, string(p.Events[0].Kind)+" "+p.Events[0].Certificate)
	}
	want := []string{"renewal_failed canary", "canary_failed canary", "expiring shop", "recovered canary", "renewal_failed canary", "canary_failed canary", "expiring shop"}
	if !slices.Equal(got, want) {
		t.Errorf("sent\n %v\nwant\n %v", got, want)
	}
	if s := n.Stats(); s.Suppressed != 3 {
		t.Errorf("stats = %+v, want 3 suppressed", s)
	}
}

func TestTargetEvents(t *testing.T) {
	all, some := newHookServer(t, "", nil), newHookServer(t, "", nil)
	n, _ := newTestNotifier(t, []config.NotifyTarget{
		{Name: "all", Type: "webhook", URL: all.URL},
		{Name: "expiring", Type: "webhook", URL: some.URL, Events: []string{"expiring"}},
	}, 5, Options{})
	n.Send([]Event{failEvent("shop"), {Kind: Expiring, Certificate: "old", NotAfter: tp(expires), At: now}})
	closeNotifier(t, n)
	if a, s := len(all.requests()), len(some.requests()); a != 2 || s != 1 {
		t.Errorf("requests: all %d (want 2), expiring-only %d (want 1)", a, s)
	}
}

// TestNoSecretsInLogs fails in every way that could quote the URL or the
// secret: a refused connection (net/http errors quote the URL), and a
// server that echoes the request in its error reply.
func TestNoSecretsInLogs(t *testing.T) {
	const token, key, secret = "feishu0token0path0segment", "wecom-secret-key", "SECsigning-secret"
	echo := newHookServer(t, "", func(n int, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		body, _ := json.Marshal(map[string]string{"url": r.URL.String(), "echo": secret})
		w.Write(body)
	})
	refused := httptest.NewServer(http.NotFoundHandler())
	refusedURL := refused.URL
	refused.Close()
	n, logs := newTestNotifier(t, []config.NotifyTarget{
		{Name: "echo", Type: "dingtalk", Format: "markdown", URL: echo.URL + "/robot/send?access_token=" + key, Secret: secret, Retries: 1},
		{Name: "refused", Type: "feishu", Format: "post", URL: refusedURL + "/open-apis/bot/v2/hook/" + token + "?k=" + key, Secret: secret, Retries: 1},
	}, 5, Options{})
	n.Send([]Event{failEvent("shop")})
	closeNotifier(t, n)
	if s := n.Stats(); s.Failed != 2 {
		t.Fatalf("stats = %+v, want 2 failed", s)
	}
	var lines []string
	for _, e := range logs.All() {
		b, _ := json.Marshal(e.ContextMap())
		lines = append(lines, e.Message+" "+string(b))
	}
	all := strings.Join(lines, "\n")
	for _, s := range []string{token, key, secret, "access_token", "/robot/send", "/hook/"} {
		if strings.Contains(all, s) {
			t.Errorf("a log line shows %q:\n%s", s, all)
		}
	}
	if !strings.Contains(all, "POST "+refusedURL+": ") {
		t.Errorf("the refused connection is not logged by scheme://host:\n%s", all)
	}
}

func TestPanicInSenderIsContained(t *testing.T) {
	srv := newHookServer(t, "", nil)
	var calls atomic.Int32
	n, logs := newTestNotifier(t, []config.NotifyTarget{{Name: "ops", Type: "webhook", URL: srv.URL}}, 5, Options{
		Now: func() time.Time {
			if calls.Add(1) == 1 {
				panic("boom")
			}
			return now
		},
	})
	n.Send([]Event{failEvent("a"), failEvent("b")})
	closeNotifier(t, n)
	if s := n.Stats(); s.Failed != 1 || s.Sent != 1 {
		t.Errorf("stats = %+v, want the panicking message failed and the next sent", s)
	}
	if e := logs.FilterMessage("sending a notification panicked").All(); len(e) != 1 {
		t.Errorf("log = %v", logs.All())
	}
}

func TestNoTargets(t *testing.T) {
	n := New(config.Notify{}, nil, Options{})
	n.Send([]Event{failEvent("shop")})
	if err := n.Close(context.Background()); err != nil {
		t.Errorf("Close = %v", err)
	}
}
