package main

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLocalOnlyCommandsRefuseOnAClusterNode: revoke and remove know only
// the local store; on a cluster node they refuse with what to do instead,
// before they touch anything (docs/cluster.md, "Limits").
func TestLocalOnlyCommandsRefuseOnAClusterNode(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "domains.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "cluster.key")
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "renewd.yaml")
	global := fmt.Sprintf("storage: %s/storage\nacme: {directory: \"https://127.0.0.1:1/dir\"}\nnginx: {test: [/bin/true], reload: [/bin/true]}\n"+
		"cluster: {node: web1, etcd: {endpoints: [\"http://127.0.0.1:1\"]}, key_file: %s}\n", dir, keyFile)
	if err := os.WriteFile(cfgFile, []byte(global), 0o644); err != nil {
		t.Fatal(err)
	}
	shop := filepath.Join(dir, "domains.d", "shop.yaml")
	doc := fmt.Sprintf("domains: [shop.example.com]\nchallenge: {type: http-01, http01: {listen: \"127.0.0.1:8402\"}}\ndeploy: {fullchain: %s/fullchain.pem, key: %s/privkey.pem}\n", dir, dir)
	if err := os.WriteFile(shop, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"revoke", "shop"}, []string{"renewd revoke does not work on a cluster node", "certbot revoke --cert-path " + dir + "/fullchain.pem"}},
		{[]string{"remove", "shop"}, []string{"renewd remove does not work on a cluster node", "move " + shop + " out of the config directory on every node"}},
	} {
		t.Run(tt.args[0], func(t *testing.T) {
			code, out, errOut := runCLI(t, append([]string{"--config", cfgFile}, tt.args...)...)
			if code != 2 {
				t.Fatalf("exit %d, want 2\nstdout %s\nstderr %s", code, out, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			if _, err := os.Stat(shop); err != nil {
				t.Errorf("the certificate's file is gone: %v", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "storage")); err == nil {
				t.Errorf("the refusal created the local store")
			}
		})
	}
}
