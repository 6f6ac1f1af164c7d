package cluster

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrKeyMismatch is returned (wrapped) by CheckKey when this node's
// cluster key is not the one the cluster uses.
var ErrKeyMismatch = errors.New("cluster.key_file is not the cluster's key")

// keyCheck is what the cluster stores to recognise its key without
// holding it: an HMAC of a fixed text under the key, shortened. It tells
// keys apart and says nothing about the key itself.
func keyCheck(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("renewd cluster key check\x00v1"))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// CheckKey makes sure, before a node joins, that its cluster key is the
// one every other node uses (docs/cluster.md, "The cluster key"). The first
// node to run stores the key's check value at <prefix>keycheck; a node
// whose key gives another value is refused with ErrKeyMismatch, instead of
// joining and failing to open every private key the leader sends it (or,
// leading, sealing keys the others cannot open). A cluster that has
// versions but no check value yet (made by a release without this check)
// takes the check value only from a key that opens one of its versions.
//
// It gives up after 30 s, and at once when etcd has no leader (no quorum):
// a node that cannot check its key does not join.
func CheckKey(ctx context.Context, cli *clientv3.Client, prefix string, key []byte) error {
	ctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(ctx), 30*time.Second)
	defer cancel()
	k := keys{prefix}
	ours := keyCheck(key)
	resp, err := cli.Get(ctx, k.keyCheck())
	if err != nil {
		return fmt.Errorf("etcd: read the cluster's key check: %w", err)
	}
	if len(resp.Kvs) == 0 {
		if err := opensAVersion(ctx, cli, k, key); err != nil {
			return err
		}
		tx, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(k.keyCheck()), "=", 0)).
			Then(clientv3.OpPut(k.keyCheck(), ours)).Else(clientv3.OpGet(k.keyCheck())).Commit()
		if err != nil {
			return fmt.Errorf("etcd: store the cluster's key check: %w", err)
		}
		if tx.Succeeded {
			return nil
		}
		resp = (*clientv3.GetResponse)(tx.Responses[0].GetResponseRange())
		if len(resp.Kvs) == 0 {
			return fmt.Errorf("etcd: the cluster's key check vanished while it was stored; start again")
		}
	}
	if theirs := strings.TrimSpace(string(resp.Kvs[0].Value)); theirs != ours {
		return fmt.Errorf("%w: its check value is %s, the cluster's (%s in etcd) is %s; copy the key file of a node that works to this node (the same 32 bytes on every node)",
			ErrKeyMismatch, ours, k.keyCheck(), theirs)
	}
	return nil
}

// opensAVersion tries key on one stored version, if there is one.
func opensAVersion(ctx context.Context, cli *clientv3.Client, k keys, key []byte) error {
	live, err := cli.Get(ctx, k.lives(), clientv3.WithPrefix(), clientv3.WithLimit(1))
	if err != nil {
		return fmt.Errorf("etcd: read a live version: %w", err)
	}
	if len(live.Kvs) == 0 {
		return nil // a new cluster: this key becomes its key
	}
	seal, err := newSealer(key)
	if err != nil {
		return err
	}
	name, version := strings.TrimPrefix(string(live.Kvs[0].Key), k.lives()), string(live.Kvs[0].Value)
	if _, err := getVersion(ctx, cli, k, seal, name, version); errors.Is(err, ErrCannotDecrypt) {
		return fmt.Errorf("%w: it does not open the private key of version %s of %s, stored in etcd by another node; copy the key file of a node that works to this node (the same 32 bytes on every node)",
			ErrKeyMismatch, version, name)
	} else if err != nil {
		return err
	}
	return nil
}
