package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/internal/crashpoint"
	"github.com/renewd/renewd/internal/renew"
	"github.com/renewd/renewd/internal/store"
)

// versionDoc is the value of versions/<name>/<version>: the PEM files and
// the private key sealed with the cluster key.
type versionDoc struct {
	Cert      string    `json:"cert"`
	Chain     string    `json:"chain"`
	Fullchain string    `json:"fullchain"`
	SealedKey []byte    `json:"sealed_key"` // base64 in JSON
	Stored    time.Time `json:"stored"`
	By        string    `json:"by"` // the node that ordered it
}

// txnOps bounds the operations of one transaction, below etcd's default
// --max-txn-ops of 128.
const txnOps = 100

// Store keeps the cluster's records and versions in etcd for the leader's
// renewal passes; it implements renew.Storage. Every write is one
// transaction that commits only while this node still leads (the fence)
// and, for a record, only if nobody wrote it since this node read it: a
// leader that was paused or partitioned past its lease commits nothing
// (ErrNotLeader). A version and the pointer to it are written in one
// transaction, so there is never an unfinished version.
//
// Records and versions are the same documents as the file store's; private
// keys are sealed (seal.go). LiveDir and Probe are about the node's own
// storage, which every node keeps as its copy (agent.go).
type Store struct {
	cli   *clientv3.Client
	k     keys
	seal  *sealer
	lead  *Leadership
	local *store.Store
	node  string
	op    time.Duration // bound of one etcd call

	mu   sync.Mutex
	revs map[string]int64 // record key -> mod revision last read or written
}

var _ renew.Storage = (*Store)(nil)

// NewStore returns the leader's store. key is the cluster key.
func NewStore(cli *clientv3.Client, prefix string, key []byte, lead *Leadership, local *store.Store, node string) (*Store, error) {
	s, err := newSealer(key)
	if err != nil {
		return nil, err
	}
	return &Store{cli: cli, k: keys{prefix}, seal: s, lead: lead, local: local, node: node, op: 30 * time.Second, revs: map[string]int64{}}, nil
}

// fence returns the leadership condition and a context bounded by op.
func (s *Store) fence() (clientv3.Cmp, context.Context, context.CancelFunc, error) {
	cmp, lctx, ok := s.lead.Fence()
	if !ok {
		return clientv3.Cmp{}, nil, nil, ErrNotLeader
	}
	ctx, cancel := context.WithTimeout(lctx, s.op)
	return cmp, ctx, cancel, nil
}

func (s *Store) read() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.op)
}

// Records returns every record in etcd; a certificate with a live version
// and no usable record gets one rebuilt from that version.
func (s *Store) Records() (map[string]*store.Record, []store.Repair, error) {
	ctx, cancel := s.read()
	defer cancel()
	resp, err := s.cli.Get(ctx, s.k.records(), clientv3.WithPrefix())
	if err != nil {
		return nil, nil, fmt.Errorf("etcd: read records: %w", err)
	}
	recs, bad := map[string]*store.Record{}, map[string]string{}
	s.mu.Lock()
	for _, kv := range resp.Kvs {
		name := string(kv.Key)[len(s.k.records()):]
		s.revs[string(kv.Key)] = kv.ModRevision
		if store.ValidName(name) != nil {
			continue
		}
		if r, why := store.ParseRecord(name, kv.Value); why != "" {
			bad[name] = why
		} else {
			recs[name] = r
		}
	}
	s.mu.Unlock()
	lives, err := s.cli.Get(ctx, s.k.lives(), clientv3.WithPrefix())
	if err != nil {
		return nil, nil, fmt.Errorf("etcd: read live versions: %w", err)
	}
	var repairs []store.Repair
	for _, kv := range lives.Kvs {
		name := string(kv.Key)[len(s.k.lives()):]
		if _, ok := recs[name]; ok || store.ValidName(name) != nil {
			continue
		}
		rep := store.Repair{Name: name, Reason: "missing"}
		if why, ok := bad[name]; ok {
			rep.Reason = why
		}
		if r, err := s.rebuild(name, string(kv.Value)); err == nil {
			recs[name], rep.Rebuilt = r, true
		} else {
			rep.RebuildErr = err
		}
		repairs = append(repairs, rep)
	}
	return recs, repairs, nil
}

func (s *Store) rebuild(name, version string) (*store.Record, error) {
	f, err := s.Version(name, version)
	if err != nil {
		return nil, err
	}
	certs, err := chain.ParsePEM(f.Cert)
	if err != nil {
		return nil, err
	}
	r := &store.Record{Name: name, Version: version}
	store.RecordFromCert(r, certs[0])
	return r, nil
}

// SaveRecords writes the records, each only if nobody changed it since this
// node read or wrote it, all under the fence; up to txnOps records commit
// together. On an error, the transactions before it stay committed.
func (s *Store) SaveRecords(recs []*store.Record) error {
	for chunk := range slices.Chunk(recs, txnOps) {
		if err := s.saveChunk(chunk); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) saveChunk(recs []*store.Record) error {
	fence, ctx, cancel, err := s.fence()
	if err != nil {
		return err
	}
	defer cancel()
	cmps := []clientv3.Cmp{fence}
	var ops []clientv3.Op
	s.mu.Lock()
	for _, r := range recs {
		data, err := store.MarshalRecord(r)
		if err != nil {
			s.mu.Unlock()
			return err
		}
		key := s.k.record(r.Name)
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", s.revs[key]))
		ops = append(ops, clientv3.OpPut(key, string(data)))
	}
	s.mu.Unlock()
	resp, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return fmt.Errorf("etcd: save records: %w", err)
	}
	if !resp.Succeeded {
		if _, _, ok := s.lead.Fence(); !ok || !s.stillLeading(ctx) {
			return ErrNotLeader
		}
		return errors.New("etcd: a record changed since this pass read it; not saved (the next pass reads it again)")
	}
	s.mu.Lock()
	for _, r := range recs {
		s.revs[s.k.record(r.Name)] = resp.Header.Revision
	}
	s.mu.Unlock()
	return nil
}

// stillLeading checks the fence alone against etcd.
func (s *Store) stillLeading(ctx context.Context) bool {
	fence, _, ok := s.lead.Fence()
	if !ok {
		return false
	}
	resp, err := s.cli.Txn(ctx).If(fence).Commit()
	return err == nil && resp.Succeeded
}

// DeleteRecord deletes a record under the fence.
func (s *Store) DeleteRecord(name string) error {
	fence, ctx, cancel, err := s.fence()
	if err != nil {
		return err
	}
	defer cancel()
	resp, err := s.cli.Txn(ctx).If(fence).Then(clientv3.OpDelete(s.k.record(name))).Commit()
	if err != nil {
		return fmt.Errorf("etcd: delete record %s: %w", name, err)
	}
	if !resp.Succeeded {
		return ErrNotLeader
	}
	return nil
}

// Probe proves, before an order, that this node still leads and that its
// own storage can take the version when it arrives.
func (s *Store) Probe(name string) error {
	_, ctx, cancel, err := s.fence()
	if err != nil {
		return err
	}
	defer cancel()
	if !s.stillLeading(ctx) {
		return ErrNotLeader
	}
	return s.local.Probe(name)
}

// SaveVersion commits a new version of name, makes it live and asks every
// node to take it, in one fenced transaction. A leader that lost its lease while it ordered (the
// CA cannot be fenced: that order is spent) commits nothing.
func (s *Store) SaveVersion(name string, f store.Files) (string, error) {
	version := time.Now().UTC().Format("20060102T150405Z") + "-001"
	doc := versionDoc{Cert: string(f.Cert), Chain: string(f.Chain), Fullchain: string(f.Fullchain),
		SealedKey: s.seal.seal(name, version, f.Key), Stored: time.Now().UTC().Truncate(time.Second), By: s.node}
	data, err := json.Marshal(doc)
	if err != nil {
		return "", err
	}
	crashpoint.Hit("cluster-before-commit")
	fence, ctx, cancel, err := s.fence()
	if err != nil {
		return "", err
	}
	defer cancel()
	for n := 1; n <= 999; n++ {
		version = fmt.Sprintf("%s-%03d", version[:len("20060102T150405Z")], n)
		doc.SealedKey = s.seal.seal(name, version, f.Key)
		data, _ = json.Marshal(doc)
		key := s.k.version(name, version)
		// Committing a version asks every node to take it into its own
		// storage at once, whether or not the certificate is deployed; a
		// deploy (FleetDeployer) asks again and waits for the verdicts.
		req, _ := json.Marshal(deployRequest{Version: version, Attempt: "commit-" + version, At: time.Now().UTC()})
		resp, err := s.cli.Txn(ctx).If(fence, clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
			Then(clientv3.OpPut(key, string(data)), clientv3.OpPut(s.k.live(name), version), clientv3.OpPut(s.k.deploy(name), string(req))).Commit()
		if err != nil {
			if _, _, leading := s.lead.Fence(); !leading {
				return s.committedAnyway(name, version, key, data)
			}
			return "", fmt.Errorf("etcd: commit %s: %w", name, err)
		}
		if resp.Succeeded {
			return version, nil
		}
		if !s.stillLeading(ctx) {
			return "", ErrNotLeader
		}
	}
	return "", fmt.Errorf("etcd: more than 999 versions of %s in one second", name)
}

// committedAnyway settles a commit that failed because the leadership
// ended while it was in flight (its context ends with the leadership: a
// leader resumed after a stall learns its lease is gone and cancels it).
// The cancelled request may still have reached etcd, so etcd says what
// happened: the fence refused it unless it was applied before the lease
// ran out.
func (s *Store) committedAnyway(name, version, key string, data []byte) (string, error) {
	ctx, cancel := s.read()
	defer cancel()
	resp, err := s.cli.Get(ctx, key)
	switch {
	case err != nil:
		return "", fmt.Errorf("etcd: commit %s: this node stopped leading while it committed version %s, and etcd cannot say whether it was: %w", name, version, err)
	case len(resp.Kvs) > 0 && string(resp.Kvs[0].Value) == string(data):
		return version, nil
	}
	return "", ErrNotLeader
}

// MakeLive points live/<name> at an existing version, under the fence.
func (s *Store) MakeLive(name, version string) error {
	fence, ctx, cancel, err := s.fence()
	if err != nil {
		return err
	}
	defer cancel()
	key := s.k.version(name, version)
	resp, err := s.cli.Txn(ctx).If(fence, clientv3.Compare(clientv3.CreateRevision(key), ">", 0)).
		Then(clientv3.OpPut(s.k.live(name), version)).Commit()
	switch {
	case err != nil:
		return fmt.Errorf("etcd: make %s live: %w", name, err)
	case !resp.Succeeded && !s.stillLeading(ctx):
		return ErrNotLeader
	case !resp.Succeeded:
		return fmt.Errorf("make %s live: version %s: %w", name, version, store.ErrNotFound)
	}
	return nil
}

// Live returns the live version's files, the key opened.
func (s *Store) Live(name string) (store.Files, string, error) {
	v, err := s.LiveVersion(name)
	if err != nil {
		return store.Files{}, "", err
	}
	f, err := s.Version(name, v)
	return f, v, err
}

// LiveVersion names the live version.
func (s *Store) LiveVersion(name string) (string, error) {
	ctx, cancel := s.read()
	defer cancel()
	resp, err := s.cli.Get(ctx, s.k.live(name))
	if err != nil {
		return "", fmt.Errorf("etcd: live %s: %w", name, err)
	}
	if len(resp.Kvs) == 0 {
		return "", fmt.Errorf("live/%s: %w", name, store.ErrNotFound)
	}
	return string(resp.Kvs[0].Value), nil
}

// Version returns one version's files, the key opened with the cluster key.
func (s *Store) Version(name, version string) (store.Files, error) {
	ctx, cancel := s.read()
	defer cancel()
	return getVersion(ctx, s.cli, s.k, s.seal, name, version)
}

func getVersion(ctx context.Context, cli *clientv3.Client, k keys, seal *sealer, name, version string) (store.Files, error) {
	resp, err := cli.Get(ctx, k.version(name, version))
	if err != nil {
		return store.Files{}, fmt.Errorf("etcd: version %s of %s: %w", version, name, err)
	}
	if len(resp.Kvs) == 0 {
		return store.Files{}, fmt.Errorf("version %s of %s: %w", version, name, store.ErrNotFound)
	}
	var doc versionDoc
	if err := json.Unmarshal(resp.Kvs[0].Value, &doc); err != nil {
		return store.Files{}, fmt.Errorf("version %s of %s in etcd: %w", version, name, err)
	}
	key, err := seal.open(name, version, doc.SealedKey)
	if err != nil {
		return store.Files{}, fmt.Errorf("version %s of %s: %w", version, name, err)
	}
	return store.Files{Cert: []byte(doc.Cert), Chain: []byte(doc.Chain), Fullchain: []byte(doc.Fullchain), Key: key}, nil
}

// Unfinished is always "": a version and its pointer commit together.
func (s *Store) Unfinished(string) (string, error) { return "", nil }

// DropUnfinished has nothing to drop.
func (s *Store) DropUnfinished(string, string) error { return nil }

// LiveDir is the node's own copy of the live files.
func (s *Store) LiveDir(name string) string { return s.local.LiveDir(name) }

// LockWait: the leadership is the lock of a cluster's passes. It never
// waits; without the leadership it fails with ErrNotLeader (matching
// store.ErrLocked too, for callers that only know that one).
func (s *Store) LockWait(context.Context, time.Duration, func()) (func() error, bool, error) {
	if !s.lead.Leading() {
		return nil, false, fmt.Errorf("%w: %w", store.ErrLocked, ErrNotLeader)
	}
	return func() error { return nil }, false, nil
}

// Notes is empty.
func (s *Store) Notes() []string { return nil }
