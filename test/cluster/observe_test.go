package cluster

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/renewd/renewd/test/harness"
)

// webhook is a notify target of type webhook: it keeps the events of every
// message it gets.
type webhook struct {
	url string

	mu     sync.Mutex
	events []hookEvent
}

// hookEvent is an event of renewd's webhook payload, the fields a test reads.
type hookEvent struct {
	Kind        string `json:"kind"`
	Certificate string `json:"certificate"`
	NotAfter    string `json:"not_after"`
	Cause       string `json:"cause"`
	Host        string `json:"-"`
}

func startWebhook(t *testing.T) *webhook {
	t.Helper()
	w := &webhook{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var p struct {
			Host   string      `json:"host"`
			Events []hookEvent `json:"events"`
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &p); err != nil {
			t.Errorf("webhook body: %v\n%s", err, body)
		}
		w.mu.Lock()
		for _, e := range p.Events {
			e.Host = p.Host
			w.events = append(w.events, e)
		}
		w.mu.Unlock()
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	w.url = "http://" + l.Addr().String() + "/hook"
	return w
}

func (w *webhook) received() []hookEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]hookEvent(nil), w.events...)
}

// notifySetting is a notify block sending every event to w.
func (w *webhook) notifySetting() string {
	return fmt.Sprintf("notify:\n  expiring_days: 14\n  targets:\n    - {name: ops, type: webhook, url: %q}\n", w.url)
}

// metricsSetting serves the node's metrics on a free port of its address;
// it returns the setting and the URL to scrape.
func (n *node) metricsSetting() (string, string) {
	n.c.t.Helper()
	port, err := freePort()
	if err != nil {
		n.c.t.Fatal(err)
	}
	addr := fmt.Sprintf("%s:%d", n.ip, port)
	return fmt.Sprintf("metrics: {listen: %q}\n", addr), "http://" + addr + "/metrics"
}

// waitMetric waits until a scrape of url has a line starting with prefix
// (a series and its labels) that satisfies ok, and returns the line.
func waitMetric(t *testing.T, url, prefix string, within time.Duration, ok func(line string) bool) string {
	t.Helper()
	var found string
	err := harness.WaitFor(fmt.Sprintf("metric %s at %s", prefix, url), within, func() error {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		for _, l := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(l, prefix) && ok(l) {
				found = l
				return nil
			}
		}
		return fmt.Errorf("no such line")
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}
