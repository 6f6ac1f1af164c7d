package cluster

// keys is the layout of renewd's data under the configured prefix
// (docs/cluster.md lists it):
//
//	records/<name>                 a certificate's record (JSON), as state/<name>.json
//	versions/<name>/<version>      a version: PEM files, the key sealed
//	live/<name>                    the version in use
//	deploy/<name>                  the latest request to deploy it: version, attempt
//	election/...                   the leader election (etcd's concurrency package)
//	nodes/<node>/alive             a live node, bound to its lease
//	nodes/<node>/seen              when the node was last seen
//	nodes/<node>/served/<name>     what the node serves of a certificate: its verdict
//	tokens/<name>/<token>          HTTP-01 key authorizations, bound to the leader's lease
//	acks/<token>/<node>            a node can answer token, bound to its lease
//	requests/<id>, results/<id>    `renew --now` asked of the leader by any node
//	keycheck                       the check value of the cluster key (CheckKey)
type keys struct{ prefix string }

func (k keys) records() string               { return k.prefix + "records/" }
func (k keys) record(name string) string     { return k.records() + name }
func (k keys) versions(name string) string   { return k.prefix + "versions/" + name + "/" }
func (k keys) version(name, v string) string { return k.versions(name) + v }
func (k keys) lives() string                 { return k.prefix + "live/" }
func (k keys) live(name string) string       { return k.lives() + name }
func (k keys) deploys() string               { return k.prefix + "deploy/" }
func (k keys) deploy(name string) string     { return k.deploys() + name }
func (k keys) election() string              { return k.prefix + "election" }
func (k keys) nodes() string                 { return k.prefix + "nodes/" }
func (k keys) alive(node string) string      { return k.nodes() + node + "/alive" }
func (k keys) seen(node string) string       { return k.nodes() + node + "/seen" }
func (k keys) servedAll(node string) string  { return k.nodes() + node + "/served/" }
func (k keys) served(node, name string) string {
	return k.servedAll(node) + name
}
func (k keys) tokens() string                  { return k.prefix + "tokens/" }
func (k keys) token(name, token string) string { return k.tokens() + name + "/" + token }
func (k keys) acks(token string) string        { return k.prefix + "acks/" + token + "/" }
func (k keys) ack(token, node string) string   { return k.acks(token) + node }
func (k keys) requests() string                { return k.prefix + "requests/" }
func (k keys) request(id string) string        { return k.requests() + id }
func (k keys) result(id string) string         { return k.prefix + "results/" + id }
func (k keys) keyCheck() string                { return k.prefix + "keycheck" }
