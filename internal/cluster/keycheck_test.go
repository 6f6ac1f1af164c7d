package cluster

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestCheckKey: the first node's key becomes the cluster's; a node with
// another key is refused before it joins, with both check values and
// nothing of either key.
func TestCheckKey(t *testing.T) {
	cli, cc := startEtcd(t)
	ctx := context.Background()
	a, b := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	if err := CheckKey(ctx, cli, cc.Prefix, a); err != nil {
		t.Fatalf("the first node: %v", err)
	}
	if err := CheckKey(ctx, cli, cc.Prefix, a); err != nil {
		t.Fatalf("a node with the same key: %v", err)
	}
	err := CheckKey(ctx, cli, cc.Prefix, b)
	if !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("a node with another key: %v, want ErrKeyMismatch", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, keyCheck(a)) || !strings.Contains(msg, keyCheck(b)) || !strings.Contains(msg, cc.Prefix+"keycheck") {
		t.Errorf("the refusal does not give both check values and where the cluster's is: %s", msg)
	}
	for _, k := range [][]byte{a, b} {
		if strings.Contains(msg, hex.EncodeToString(k)) || strings.Contains(msg, string(k)) {
			t.Errorf("the refusal shows a key: %s", msg)
		}
	}
}

// TestCheckKeyExistingCluster: a cluster whose versions were stored
// before the check existed takes its check value only from a key that
// opens them.
func TestCheckKeyExistingCluster(t *testing.T) {
	cli, cc := startEtcd(t)
	ctx := context.Background()
	a, b := bytes.Repeat([]byte{3}, 32), bytes.Repeat([]byte{4}, 32)
	k := keys{cc.Prefix}
	s, err := newSealer(a)
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := json.Marshal(versionDoc{Cert: "c", Chain: "ch", Fullchain: "cch", SealedKey: s.seal("shop", "v1", []byte("private key"))})
	if _, err := cli.Put(ctx, k.version("shop", "v1"), string(doc)); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, k.live("shop"), "v1"); err != nil {
		t.Fatal(err)
	}

	if err := CheckKey(ctx, cli, cc.Prefix, b); !errors.Is(err, ErrKeyMismatch) || !strings.Contains(err.Error(), "version v1 of shop") {
		t.Fatalf("a key that opens no stored version: %v, want ErrKeyMismatch naming the version", err)
	}
	if resp, err := cli.Get(ctx, k.keyCheck()); err != nil || len(resp.Kvs) != 0 {
		t.Fatalf("the wrong key left a check value (%v)", err)
	}
	if err := CheckKey(ctx, cli, cc.Prefix, a); err != nil {
		t.Fatalf("the key the versions were sealed with: %v", err)
	}
	if err := CheckKey(ctx, cli, cc.Prefix, b); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("the other key after the check value was stored: %v", err)
	}
}
