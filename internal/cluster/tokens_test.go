package cluster

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/acme"
	"github.com/renewd/renewd/internal/config"
)

// TestTokensReachEveryNode: a token the leader publishes is answered by
// every node's responder before Publish returns; Withdraw takes it back; a
// live node that cannot answer (the certificate is not in its domains.d)
// makes Publish fail, naming it, so the CA is not asked to validate.
func TestTokensReachEveryNode(t *testing.T) {
	cli, cc := startEtcd(t)
	addrs := []string{freeURL(t).Host, freeURL(t).Host}
	for i, name := range []string{"n1", "n2"} {
		n, _ := join(t, cli, cc, name)
		runTokenAgent(t, n, cli, cc.Prefix, addrs[i])
	}
	leader, _ := Join(context.Background(), cli, config.Cluster{Node: "n1-leader-session", Prefix: cc.Prefix, LeaseTTL: 5 * time.Second}, zap.NewNop())
	tokens := &Tokens{Node: leader, Cli: cli, Prefix: cc.Prefix, Timeout: 20 * time.Second, Log: zap.NewNop()}
	// The leader's own membership is a live node too, with no agent here:
	// acknowledge for it by hand, as its agent would.
	if _, err := cli.Put(context.Background(), keys{cc.Prefix}.ack("tok-1", "n1-leader-session"), ""); err != nil {
		t.Fatal(err)
	}
	if err := tokens.Publish(context.Background(), "shop", "tok-1", "tok-1.keyauth"); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	for _, addr := range addrs {
		if got := fetch(t, addr, "tok-1"); got != "tok-1.keyauth" {
			t.Errorf("%s answers %q", addr, got)
		}
	}
	tokens.Withdraw("shop", "tok-1")

	// A live node that does not know the certificate never acknowledges.
	join(t, cli, cc, "n3")
	tokens.Timeout = 2 * time.Second
	err := tokens.Publish(context.Background(), "shop", "tok-2", "tok-2.keyauth")
	if err == nil || !strings.Contains(err.Error(), "n3") || !strings.Contains(err.Error(), "not asking the CA to validate") {
		t.Errorf("Publish with a node that cannot answer = %v", err)
	}
}

// runTokenAgent runs node n's agent, through client cli, for one
// certificate, shop, whose HTTP-01 tokens it answers on addr.
func runTokenAgent(t *testing.T, n *Node, cli *clientv3.Client, prefix, addr string) {
	t.Helper()
	cert := &config.Certificate{Name: "shop", Domains: []string{"shop.example.com"},
		Challenge: config.Challenge{Type: "http-01", HTTP01: config.HTTP01{Listen: addr}}}
	a := &Agent{Node: n, Cli: cli, Prefix: prefix, Key: bytes.Repeat([]byte{1}, 32), Local: openLocal(t),
		Responder: acme.NewResponder(zap.NewNop()), Log: zap.NewNop()}
	a.SetConfig(&config.Config{Certificates: []*config.Certificate{cert}}, nil, &fakeDeployer{})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go a.Run(ctx)
}

func fetch(t *testing.T, addr, token string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/.well-known/acme-challenge/" + token)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestTokenAcknowledgedAgain: a node whose acknowledgement etcd refuses
// (a write while etcd elects a leader) acknowledges again, so Publish
// returns once it can answer instead of failing the order; the agent's
// watch goes on meanwhile and brings the token no second time.
func TestTokenAcknowledgedAgain(t *testing.T) {
	cli, cc := startEtcd(t)
	addr := freeURL(t).Host
	own, err := Connect(context.Background(), cc, zap.NewNop()) // n1's client, whose first acknowledgement fails
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = own.Close() })
	flaky := &failFirstPut{KV: own.KV, prefix: cc.Prefix + "acks/"}
	own.KV = flaky
	n, _ := join(t, cli, cc, "n1")
	runTokenAgent(t, n, own, cc.Prefix, addr)

	tokens := &Tokens{Node: n, Cli: cli, Prefix: cc.Prefix, Timeout: 20 * time.Second, Log: zap.NewNop()}
	if err := tokens.Publish(context.Background(), "shop", "tok-1", "tok-1.keyauth"); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if got := fetch(t, addr, "tok-1"); got != "tok-1.keyauth" {
		t.Errorf("%s answers %q", addr, got)
	}
	flaky.mu.Lock()
	defer flaky.mu.Unlock()
	if flaky.failed != 2 {
		t.Errorf("%d acknowledgements written, want 2: the one that failed and the one after it", flaky.failed)
	}
}

// TestTokensNodeLeaves: a node that leaves while the leader waits for its
// acknowledgement (it stopped, its lease ended) is no longer waited for:
// Publish returns once every node still alive has acknowledged, instead of
// failing the order after its timeout.
func TestTokensNodeLeaves(t *testing.T) {
	cli, cc := startEtcd(t)
	k := keys{cc.Prefix}
	leader, _ := join(t, cli, cc, "n1")
	_, leave := join(t, cli, cc, "n2") // no agent: it never acknowledges
	if _, err := cli.Put(context.Background(), k.ack("tok-1", "n1"), ""); err != nil {
		t.Fatal(err)
	}
	tokens := &Tokens{Node: leader, Cli: cli, Prefix: cc.Prefix, Timeout: 30 * time.Second, Log: zap.NewNop()}
	done := make(chan error, 1)
	go func() { done <- tokens.Publish(context.Background(), "shop", "tok-1", "tok-1.keyauth") }()
	// Publish waits for n2 once the token is out.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) { // polling etcd, not waiting for time
		resp, err := cli.Get(context.Background(), k.token("shop", "tok-1"))
		if err == nil && len(resp.Kvs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the token was never published")
		}
	}
	select {
	case err := <-done:
		t.Fatalf("Publish returned before n2 acknowledged or left: %v", err)
	default:
	}
	leave()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Publish after n2 left: %v", err)
		}
	case <-time.After(20 * time.Second): // a guard, well under the 30s timeout
		t.Fatal("Publish still waits for a node that left")
	}
}
