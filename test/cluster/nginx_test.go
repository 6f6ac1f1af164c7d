package cluster

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/testpki"
	"github.com/renewd/renewd/test/harness"
)

// nodeNginx is one node's nginx (the harness's): its own prefix, pid file
// and configuration, listening on the node's address only. nginx.conf
// includes extra.conf, which a scenario removes to make `nginx -t` fail
// on that node.
type nodeNginx struct {
	*harness.Nginx
	t       *testing.T
	include string
}

func newNginx(t *testing.T, prefix string) *nodeNginx {
	t.Helper()
	n := &nodeNginx{Nginx: harness.NewNginxAt(t, "", prefix, ""), t: t, include: filepath.Join(prefix, "extra.conf")}
	n.Extra = "  include " + n.include + ";"
	n.fixInclude()
	return n
}

// breakInclude removes the file nginx.conf includes: `nginx -t` fails.
func (n *nodeNginx) breakInclude() {
	n.t.Helper()
	if err := os.Remove(n.include); err != nil {
		n.t.Fatal(err)
	}
}

func (n *nodeNginx) fixInclude() {
	n.t.Helper()
	if err := os.WriteFile(n.include, []byte("# included by nginx.conf\n"), 0o644); err != nil {
		n.t.Fatal(err)
	}
}

// writePlaceholder writes a self-signed certificate, as a fresh server has
// before its first real one, so nginx can start.
func writePlaceholder(t *testing.T, fullchain, key string) {
	t.Helper()
	if err := testpki.New(t, time.Now()).PlaceholderFiles(fullchain, key); err != nil {
		t.Fatal(err)
	}
}
