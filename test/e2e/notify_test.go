package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// hookToken stands for the secret a robot's webhook URL carries; it must
// never show in renewd's output.
const hookToken = "hook-token-5f1e0c9a"

// webhook is a local notification target that records every message.
type webhook struct {
	*httptest.Server
	mu   sync.Mutex
	msgs []hookMessage
	// hold, when set, is waited on (or the request's end) before answering.
	hold chan struct{}
	code int // reply status; 0 = 200
}

type hookMessage struct {
	Title  string `json:"title"`
	Digest bool   `json:"digest"`
	Events []struct {
		Kind        string   `json:"kind"`
		Certificate string   `json:"certificate"`
		Error       string   `json:"error"`
		RetryCount  int      `json:"retry_count"`
		NextRetry   *string  `json:"next_retry_time"`
		Held        []string `json:"held"`
	} `json:"events"`
}

func newWebhook(t *testing.T) *webhook {
	t.Helper()
	h := &webhook{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		var m hookMessage
		if r.URL.Query().Get("key") != hookToken || json.Unmarshal(body, &m) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.msgs = append(h.msgs, m)
		hold, code := h.hold, h.code
		h.mu.Unlock()
		if hold != nil {
			select {
			case <-hold:
			case <-r.Context().Done():
			}
		}
		if code != 0 {
			w.WriteHeader(code)
		}
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *webhook) messages() []hookMessage {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.msgs)
}

// kinds lists "kind:certificate" of every event received, in order.
func (h *webhook) kinds() []string {
	var out []string
	for _, m := range h.messages() {
		for _, e := range m.Events {
			out = append(out, e.Kind+":"+e.Certificate)
		}
	}
	return out
}

func notifyConfig(targets ...string) string {
	return "notify:\n  targets:\n" + strings.Join(targets, "")
}

func webhookTarget(name, url string) string {
	return fmt.Sprintf("    - {name: %s, type: webhook, url: \"%s/renewd?key=%s\", timeout: 1h, retries: 3}\n", name, url, hookToken)
}

// TestNotifications: one message per state change of a certificate — a
// renewal that starts failing, not its repeats; its recovery; a canary that
// fails and holds the others — and never the webhook's token in the output.
func TestNotifications(t *testing.T) {
	t.Parallel()
	pb := startPebble(t, pebbleOpts{})
	hook := newWebhook(t)
	w := newWorkspace(t, acmeSettings{directory: pb.DirURL, rootFile: pb.RootFile})
	w.appendGlobal(notifyConfig(webhookTarget("ops", hook.URL)))
	// The first try answers challenges on a port Pebble does not check.
	w.addCert("shop", listenCert(freePort(t), "shop.notify.example.com"))

	var outputs []string
	run := func(wantCode int) {
		t.Helper()
		res := w.renewd("--log-level", "debug", "renew", "--now")
		if res.code != wantCode {
			t.Fatalf("renew --now: want exit %d, got %s", wantCode, res)
		}
		outputs = append(outputs, res.stdout+res.stderr)
	}
	run(1)
	if got, want := hook.kinds(), []string{"renewal_failed:shop"}; !slices.Equal(got, want) {
		t.Fatalf("after the first failure: events %v, want %v", got, want)
	}
	ev := hook.messages()[0].Events[0]
	if ev.RetryCount != 1 || ev.NextRetry == nil || !strings.Contains(ev.Error, "shop.notify.example.com") {
		t.Errorf("renewal_failed event: %+v; want retry_count 1, a next_retry_time and the error", ev)
	}

	run(1) // the same failure again: nothing new to say
	if got := hook.kinds(); len(got) != 1 {
		t.Errorf("a repeated failure was announced again: %v", got)
	}

	w.addCert("shop", listenCert(pb.HTTPPort, "shop.notify.example.com"))
	run(0)
	if got, want := hook.kinds(), []string{"renewal_failed:shop", "recovered:shop"}; !slices.Equal(got, want) {
		t.Errorf("after the recovery: events %v, want %v", got, want)
	}

	// A failing canary: its own failure, and one message naming what it held.
	w.addCert("canary", "canary: true\n"+listenCert(freePort(t), "canary.notify.example.com"))
	run(1)
	got := hook.kinds()
	if want := []string{"renewal_failed:shop", "recovered:shop", "renewal_failed:canary", "canary_failed:canary"}; !slices.Equal(got, want) {
		t.Fatalf("after the canary failed: events %v, want %v", got, want)
	}
	last := hook.messages()[len(hook.messages())-1].Events[0]
	if !slices.Equal(last.Held, []string{"shop"}) {
		t.Errorf("canary_failed held %v, want [shop]", last.Held)
	}

	for _, out := range outputs {
		if strings.Contains(out, hookToken) {
			t.Errorf("renewd printed the webhook's token:\n%s", out)
		}
	}
	if strings.Contains(w.renewd("config", "check").stdout, hookToken) {
		t.Error("config check printed the webhook's token")
	}
}

// TestNotifyHangDoesNotDelay: with one webhook that never answers and one
// that answers 500, the daemon still renews on time, and stops promptly.
func TestNotifyHangDoesNotDelay(t *testing.T) {
	t.Parallel()
	pb := startPebble(t, pebbleOpts{})
	hang, broken := newWebhook(t), newWebhook(t)
	hang.hold = make(chan struct{})
	broken.code = http.StatusInternalServerError
	w := newWorkspace(t, acmeSettings{directory: pb.DirURL, rootFile: pb.RootFile})
	w.appendGlobal(notifyConfig(webhookTarget("hang", hang.URL), webhookTarget("broken", broken.URL)))
	w.addCert("bad", listenCert(freePort(t), "bad.notify.example.com"))

	d := w.startDaemon()
	w.waitState("bad", "the first failure recorded", func(r map[string]any) bool { return r["retry_count"] == float64(1) })
	if err := waitFor("the failure sent to both webhooks", 60*time.Second, func() error {
		if len(hang.messages()) == 0 || len(broken.messages()) == 0 {
			return fmt.Errorf("hang got %d, broken got %d", len(hang.messages()), len(broken.messages()))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// The hanging request is still open: a new certificate renews anyway.
	w.addCert("good", listenCert(pb.HTTPPort, "good.notify.example.com"))
	_ = d.cmd.Process.Signal(syscall.SIGHUP)
	w.waitState("good", "a renewal while a webhook hangs", func(r map[string]any) bool { return r["serial"] != nil })
	w.checkComplete("good", []string{"good.notify.example.com"}, 1)

	if code := d.stop(syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Errorf("SIGTERM with a webhook hanging: exit %d, want 0", code)
	}
	close(hang.hold)
	if out := d.output(); strings.Contains(out, hookToken) {
		t.Errorf("the daemon logged the webhook's token:\n%s", out)
	}
}
