package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/config"
)

// Defaults for what Options and a hand-built config leave at zero.
const (
	defaultQueueSize = 100
	defaultTimeout   = 10 * time.Second
	maxReplyBytes    = 64 << 10
	firstBackoff     = time.Second
	maxBackoff       = 30 * time.Second
	maxRetryAfter    = time.Minute
)

// Options tune a Notifier; the zero value is right for renewd.
type Options struct {
	// Host names this machine in every message, so a group that hears
	// from several servers knows which one; default os.Hostname().
	Host string
	// QueueSize bounds the messages waiting for each target (default
	// 100); when full, the oldest is dropped and counted.
	QueueSize int

	// Test seams. Zero values are the real ones.
	Client *http.Client                         // default: proxy from the environment, redirects not followed
	Now    func() time.Time                     // timestamps of the DingTalk and Feishu signatures
	After  func(time.Duration) <-chan time.Time // waits between retries
}

// Stats counts what a Notifier did, for logs and metrics.
type Stats struct {
	// Sent messages were accepted by their target.
	Sent int
	// Failed messages were rejected, or still failed after every retry.
	Failed int
	// Dropped messages were pushed out of a full queue, sent after Close,
	// or still queued when Close's deadline ran out.
	Dropped int
	// Suppressed events had already been sent: same certificate, kind and
	// state.
	Suppressed int
}

// Notifier sends events to the targets of a config.Notify in the
// background. Send never blocks on the network; each target has its own
// queue and sender goroutine, so a target that hangs delays only itself.
// It is safe for concurrent use. Close it to flush.
//
// A Notifier remembers, per certificate, the last state it sent
// (failing, chain incomplete or recovered; the certificates held by a
// canary; the expiry date warned about) and drops an event that repeats
// it, so a caller that reports the same failure every run still sends one
// message. The memory is lost on restart; Changes, fed from the records,
// is what keeps a restart quiet.
type Notifier struct {
	log       *zap.Logger
	host      string
	threshold int
	targets   []*target
	client    *http.Client
	now       func() time.Time
	after     func(time.Duration) <-chan time.Time

	ctx    context.Context // cancelled when Close's deadline passes
	cancel context.CancelFunc
	stop   chan struct{} // closed by Close: drain the queues and exit
	wg     sync.WaitGroup

	mu     sync.Mutex // guards closed, sent, stats and pushes after Close
	closed bool
	sent   map[topic]string
	stats  Stats
	unsent int // dropped because Close's deadline passed
}

type target struct {
	cfg    config.NotifyTarget
	events map[Kind]bool
	q      *queue
	scrub  scrubber
}

// topic is what one state belongs to, for the Notifier's memory.
type topic struct {
	certificate string
	what        string
}

// New returns a Notifier for cfg (as config.Load left it) and starts one
// sender per target. With no targets Send does nothing, so callers need
// no nil checks.
func New(cfg config.Notify, log *zap.Logger, opts Options) *Notifier {
	if log == nil {
		log = zap.NewNop()
	}
	n := &Notifier{
		log: log.Named("notify"), host: opts.Host, threshold: max(1, cfg.DigestThreshold),
		client: opts.Client, now: opts.Now, after: opts.After,
		stop: make(chan struct{}), sent: map[topic]string{},
	}
	if n.host == "" {
		n.host, _ = os.Hostname()
	}
	if n.client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		n.client = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
			// A redirect would resend the message (and its signature) to a
			// host the user did not configure.
			return http.ErrUseLastResponse
		}}
	}
	if n.now == nil {
		n.now = time.Now
	}
	if n.after == nil {
		n.after = time.After
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	size := opts.QueueSize
	if size <= 0 {
		size = defaultQueueSize
	}
	for _, tc := range cfg.Targets {
		if tc.Timeout <= 0 {
			tc.Timeout = defaultTimeout
		}
		tc.Retries = max(0, tc.Retries)
		t := &target{cfg: tc, events: map[Kind]bool{}, q: newQueue(size), scrub: newScrubber(tc.URL, tc.Secret)}
		for _, e := range tc.Events {
			t.events[Kind(e)] = true
		}
		if len(tc.Events) == 0 {
			for _, k := range Kinds {
				t.events[k] = true
			}
		}
		n.targets = append(n.targets, t)
		n.wg.Add(1)
		go n.run(t)
	}
	return n
}

// Send queues messages about events for every target that wants them and
// returns at once: one message per event, or one digest per target when a
// target gets more than notify.digest_threshold of them in one call, so
// call it once per run with all of that run's events. Events the Notifier
// already sent (see Notifier) are dropped first. After Close, Send drops
// everything and counts it.
func (n *Notifier) Send(events []Event) {
	if len(n.targets) == 0 || len(events) == 0 {
		return
	}
	// Pushing under the lock orders every push before Close, which
	// takes the lock to mark the Notifier closed: nothing is pushed
	// after the senders drained their queues. Pushes never block.
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		n.stats.Dropped += len(events)
		n.log.Warn("notifier closed; events not sent", zap.Int("events", len(events)))
		return
	}
	fresh := maskEvents(n.remember(events))
	for _, t := range n.targets {
		var mine []Event
		for _, e := range fresh {
			if t.events[e.Kind] {
				mine = append(mine, e)
			}
		}
		if len(mine) == 0 {
			continue
		}
		for _, m := range render(mine, n.host, n.threshold) {
			if t.q.push(m) > 0 {
				n.stats.Dropped++
				n.log.Warn("notification queue full; dropped the oldest message", t.fields(zap.Int("dropped_total", n.stats.Dropped))...)
			}
		}
	}
}

// remember drops the events whose state was the last one sent for their
// certificate and records the others. The caller holds n.mu.
func (n *Notifier) remember(events []Event) []Event {
	var fresh []Event
	for _, e := range events {
		tp, state := memo(e)
		if last, ok := n.sent[tp]; ok && last == state {
			n.stats.Suppressed++
			n.log.Debug("already sent", zap.String("certificate", e.Certificate), zap.String("kind", string(e.Kind)))
			continue
		}
		n.sent[tp] = state
		if e.Kind == Recovered {
			// A canary that recovered and fails again later holds
			// certificates anew, even the same ones.
			delete(n.sent, topic{e.Certificate, "canary"})
		}
		fresh = append(fresh, e)
	}
	return fresh
}

func memo(e Event) (topic, string) {
	switch e.Kind {
	case CanaryFailed:
		return topic{e.Certificate, "canary"}, strings.Join(e.Held, ",")
	case ChainRepaired:
		return topic{e.Certificate, "repaired"}, e.At.UTC().Format(time.RFC3339)
	case CanaryBypassed: // changes only sends the start of a bypass
		return topic{e.Certificate, "bypass"}, e.At.UTC().Format(time.RFC3339)
	case Expiring:
		na := ""
		if e.NotAfter != nil {
			na = e.NotAfter.UTC().Format(time.RFC3339)
		}
		// A warning raised for a cause (etcd unreachable since a given
		// time) is its own news: once per certificate and outage, and
		// the plain warning of a pass is not taken for it.
		if e.Cause != "" {
			na += " " + e.Cause
		}
		return topic{e.Certificate, "expiring"}, na
	}
	return topic{e.Certificate, "renewal"}, string(e.Kind)
}

// Close stops accepting events and waits until every queued message was
// sent or given up, or until ctx is done: then requests in flight and
// waits between retries are cancelled, what is still queued is dropped,
// and the error says how many messages were lost. Later calls return at
// once.
func (n *Notifier) Close(ctx context.Context) error {
	n.mu.Lock()
	if !n.closed {
		n.closed = true
		close(n.stop)
	}
	n.mu.Unlock()
	done := make(chan struct{})
	go func() {
		n.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	n.cancel()
	<-done // quick: every wait and request honours n.ctx
	n.mu.Lock()
	lost := n.unsent
	n.mu.Unlock()
	return fmt.Errorf("%d notification(s) not sent before the deadline: %w", lost, ctx.Err())
}

// Stats returns the counts so far.
func (n *Notifier) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats
}

// run is one target's sender: it sends queued messages one at a time, in
// order, until Close and an empty queue.
func (n *Notifier) run(t *target) {
	defer n.wg.Done()
	for {
		if m, ok := t.q.pop(); ok {
			n.deliverSafely(t, m)
			continue
		}
		select {
		case <-t.q.ready:
		case <-n.stop:
			if m, ok := t.q.pop(); ok {
				n.deliverSafely(t, m)
				continue
			}
			return
		}
	}
}

// deliverSafely turns a panic while sending into that message's failure,
// so a bug cannot take the daemon down or stop the target's sender.
func (n *Notifier) deliverSafely(t *target, m *message) {
	defer func() {
		if p := recover(); p != nil {
			n.count(func(s *Stats) { s.Failed++ })
			n.log.Error("sending a notification panicked", t.fields(zap.Any("panic", p), zap.ByteString("stack", debug.Stack()))...)
		}
	}()
	n.deliver(t, m)
}

// deliver tries m up to 1 + retries times, with backoff, while the
// failures are ones a later attempt may get past.
func (n *Notifier) deliver(t *target, m *message) {
	var err *sendError
	attempts := 0
	for attempts <= t.cfg.Retries {
		if attempts > 0 {
			select {
			case <-n.after(backoff(attempts, err)):
			case <-n.ctx.Done():
			}
		}
		if n.ctx.Err() != nil {
			n.count(func(s *Stats) { s.Dropped++; n.unsent++ })
			n.log.Warn("notification not sent: shutdown deadline", t.fields(zap.String("title", m.title))...)
			return
		}
		attempts++
		if err = n.attempt(t, m); err == nil {
			n.count(func(s *Stats) { s.Sent++ })
			n.log.Debug("notification sent", t.fields(zap.String("title", m.title), zap.Int("attempts", attempts))...)
			return
		}
		if !err.retry {
			break
		}
	}
	if n.ctx.Err() != nil {
		n.count(func(s *Stats) { s.Dropped++; n.unsent++ })
		return
	}
	n.count(func(s *Stats) { s.Failed++ })
	n.log.Warn("notification not delivered", t.fields(zap.String("title", m.title), zap.Int("attempts", attempts), zap.String("error", err.msg))...)
}

func (n *Notifier) count(f func(*Stats)) {
	n.mu.Lock()
	f(&n.stats)
	n.mu.Unlock()
}

// backoff is the wait before attempt n+1 (n >= 1): 1s, 2s, 4s ... up to
// 30s, or the server's Retry-After when longer, up to a minute.
func backoff(n int, last *sendError) time.Duration {
	d := min(maxBackoff, firstBackoff<<min(n-1, 10))
	if last != nil && last.after > d {
		d = min(last.after, maxRetryAfter)
	}
	return d
}

// attempt makes one request. The error's text never holds the URL or the
// secret.
func (n *Notifier) attempt(t *target, m *message) *sendError {
	u, body, err := encode(&t.cfg, m, n.host, n.now())
	if err != nil {
		return &sendError{msg: "encode: " + t.scrub.clean(err.Error())}
	}
	ctx, cancel := context.WithTimeout(n.ctx, t.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return &sendError{msg: "the URL is not valid"} // the parse error quotes it
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "renewd")
	resp, err := n.client.Do(req)
	if err != nil {
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err // url.Error quotes the URL
		}
		msg := t.scrub.clean(err.Error())
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			msg = fmt.Sprintf("no reply within %s", t.cfg.Timeout)
		}
		return &sendError{msg: "POST " + redactURL(t.cfg.URL) + ": " + msg, retry: true}
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, maxReplyBytes))
	if err := checkReply(t.cfg.Type, resp.StatusCode, resp.Header, reply); err != nil {
		se := err.(*sendError)
		se.msg = t.scrub.clean(se.msg)
		return se
	}
	return nil
}

// fields name the target in a log line: its configured name, type and
// scheme://host, never its URL.
func (t *target) fields(extra ...zap.Field) []zap.Field {
	return append([]zap.Field{zap.String("target", t.cfg.Name), zap.String("type", t.cfg.Type), zap.String("host", redactURL(t.cfg.URL))}, extra...)
}
