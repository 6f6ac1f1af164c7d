package cluster

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/store"
	"github.com/renewd/renewd/internal/testpki"
)

func TestSeal(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	s, err := newSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("-----BEGIN EC PRIVATE KEY-----\nsecret\n-----END EC PRIVATE KEY-----\n")
	sealed := s.seal("shop", "20261121T160000Z-001", plain)
	if bytes.Contains(sealed, []byte("secret")) {
		t.Fatal("the sealed key holds the plain text")
	}
	if got, err := s.open("shop", "20261121T160000Z-001", sealed); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open = %q, %v", got, err)
	}
	for _, tt := range []struct {
		desc          string
		name, version string
		key           []byte
	}{
		{"another certificate", "blog", "20261121T160000Z-001", key},
		{"another version", "shop", "20261121T160000Z-002", key},
		{"another cluster key", "shop", "20261121T160000Z-001", bytes.Repeat([]byte{8}, 32)},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			o, _ := newSealer(tt.key)
			if _, err := o.open(tt.name, tt.version, sealed); !errors.Is(err, ErrCannotDecrypt) {
				t.Errorf("open = %v, want ErrCannotDecrypt", err)
			}
		})
	}
}

// join makes node name a member with its own session.
func join(t *testing.T, cli *clientv3.Client, cc config.Cluster, name string) (*Node, context.CancelFunc) {
	t.Helper()
	cc.Node = name
	n, err := Join(context.Background(), cli, cc, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go n.Run(ctx)
	t.Cleanup(cancel)
	return n, cancel
}

// lead campaigns for n and waits until it leads.
func lead(t *testing.T, n *Node, prefix string) *Leadership {
	t.Helper()
	l := NewLeadership(n, prefix, zap.NewNop())
	elected := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go l.Run(ctx, func() { elected <- struct{}{} })
	select {
	case <-elected:
	case <-time.After(30 * time.Second):
		t.Fatal("not elected")
	}
	return l
}

// TestDuplicateNodeName: a second live renewd with the same node name is
// refused, saying who holds the name.
func TestDuplicateNodeName(t *testing.T) {
	cli, cc := startEtcd(t)
	join(t, cli, cc, "web1")
	cc.Node, cc.LeaseTTL = "web1", 5*time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := Join(ctx, cli, cc, zap.NewNop())
	if !errors.Is(err, ErrNodeNameInUse) || !strings.Contains(err.Error(), `is node "web1"; give every node its own cluster.node`) {
		t.Fatalf("Join = %v, want the name refused", err)
	}
}

// TestFencedCommit: a leader that stalled past its lease (it still
// believes it leads: a paused process) commits nothing, neither a version
// nor a record, because etcd checks its leadership in the transaction;
// the new leader commits, and there is never a second committed version.
func TestFencedCommit(t *testing.T) {
	cli, cc := startEtcd(t)
	key := bytes.Repeat([]byte{1}, 32)
	n1, _ := join(t, cli, cc, "n1")
	l1 := lead(t, n1, cc.Prefix)
	old, err := NewStore(cli, cc.Prefix, key, l1, openLocal(t), "n1")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := old.Records(); err != nil {
		t.Fatal(err)
	}
	l1.mu.Lock()
	stale, staleCtx := l1.el, context.Background() // what a paused leader still holds
	l1.mu.Unlock()

	n2, _ := join(t, cli, cc, "n2")
	l2 := NewLeadership(n2, cc.Prefix, zap.NewNop())
	elected := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go l2.Run(ctx, func() { elected <- struct{}{} }) // campaigning behind n1
	sess, _ := n1.Session()
	_ = sess.Close() // n1's lease is gone, as after a pause longer than it
	select {
	case <-elected:
	case <-time.After(30 * time.Second):
		t.Fatal("n2 was not elected")
	}
	st2, err := NewStore(cli, cc.Prefix, key, l2, openLocal(t), "n2")
	if err != nil {
		t.Fatal(err)
	}
	files := testFiles(t)
	v2, err := st2.SaveVersion("shop", files)
	if err != nil {
		t.Fatalf("the new leader's commit: %v", err)
	}

	l1.mu.Lock()
	l1.el, l1.ctx = stale, staleCtx // the paused leader wakes up, believing it leads
	l1.mu.Unlock()
	if _, err := old.SaveVersion("shop", files); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("the stale leader's commit = %v, want ErrNotLeader", err)
	}
	if err := old.SaveRecords([]*store.Record{{Name: "shop"}}); !errors.Is(err, ErrNotLeader) {
		t.Errorf("the stale leader's record write = %v, want ErrNotLeader", err)
	}
	resp, err := cli.Get(context.Background(), keys{cc.Prefix}.versions("shop"), clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count != 1 {
		t.Fatalf("%d committed versions (%v), want exactly 1", resp.Count, err)
	}
	got, version, err := st2.Live("shop")
	if err != nil || version != v2 || !bytes.Equal(got.Key, files.Key) {
		t.Errorf("Live = %s, %v; want %s with the key opened", version, err, v2)
	}
}

// TestRecordRevisionFence: a record written by someone else since this
// leader read it is not overwritten.
func TestRecordRevisionFence(t *testing.T) {
	cli, cc := startEtcd(t)
	n1, _ := join(t, cli, cc, "n1")
	l1 := lead(t, n1, cc.Prefix)
	st, err := NewStore(cli, cc.Prefix, bytes.Repeat([]byte{1}, 32), l1, openLocal(t), "n1")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Records(); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveRecords([]*store.Record{{Name: "shop", RetryCount: 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(context.Background(), keys{cc.Prefix}.record("shop"), `{"schema": 1, "name": "shop", "retry_count": 7}`); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveRecords([]*store.Record{{Name: "shop", RetryCount: 2}}); err == nil || errors.Is(err, ErrNotLeader) {
		t.Fatalf("SaveRecords over a record changed since = %v, want a refusal that is not about leadership", err)
	}
	recs, _, err := st.Records()
	if err != nil || recs["shop"].RetryCount != 7 {
		t.Errorf("record after the refusal: %+v, %v", recs["shop"], err)
	}
}

func openLocal(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testFiles is a complete version of shop.example.com.
func testFiles(t *testing.T) store.Files {
	t.Helper()
	b := testpki.New(t, time.Now())
	root := b.Root()
	inter := b.Issue(root, testpki.CA(true))
	leaf := b.Issue(inter, testpki.Names("shop.example.com"))
	return filesOf(leaf, inter)
}

func filesOf(leaf, inter *testpki.Cert) store.Files {
	return store.Files{Cert: testpki.PEM(leaf), Chain: testpki.PEM(inter), Fullchain: testpki.PEM(leaf, inter), Key: leaf.KeyPEM()}
}
