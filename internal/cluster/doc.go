// Package cluster lets several renewd nodes share one set of certificates
// through an etcd v3 cluster (docs/cluster.md):
//
//   - one node, elected through an etcd lease (leader.go), orders; every
//     write it makes is a transaction fenced on its leadership and on the
//     revision it read (store.go), so a leader that stalled past its lease
//     cannot commit;
//   - HTTP-01 tokens go through etcd, and the leader tells the CA to
//     validate only once every live node can answer them (tokens.go);
//   - every node watches etcd, checks each new version's chain and key
//     itself, keeps it in its local storage, deploys it to its own nginx,
//     proves it served and reports its verdict (agent.go); the leader waits
//     for those verdicts before it calls a deploy done (deploy.go), so a
//     canary gates the whole fleet;
//   - private keys are encrypted (AES-256-GCM) before they enter etcd
//     (seal.go).
//
// etcd is the consensus; this package adds none of its own and uses no
// lock files on shared disks.
package cluster
