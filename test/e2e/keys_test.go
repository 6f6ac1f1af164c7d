package e2e

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestEABAndKeyTypes: a CA that requires External Account Binding gets
// one from acme.eab, and every certificate gets the key type it asks for.
func TestEABAndKeyTypes(t *testing.T) {
	t.Parallel()
	pb := startPebble(t, pebbleOpts{eab: true})

	// Without EAB the CA refuses the account, and renewd says why.
	plain := newWorkspace(t, acmeSettings{directory: pb.DirURL, rootFile: pb.RootFile})
	plain.addCert("noeab", listenCert(pb.HTTPPort, "noeab.example.com"))
	if res := plain.renewd("renew", "--now"); res.code != 1 || !strings.Contains(res.stderr, "externalAccount") {
		t.Errorf("a CA requiring EAB, no EAB configured: want exit 1 naming it, got %s", res)
	}

	// Through a pass-through proxy, to count the account requests.
	proxy := startProxy(t, pb)
	w := newWorkspace(t, acmeSettings{directory: proxy.dirURL, rootFile: pb.RootFile})
	w.writeGlobal(strings.Replace(string(mustRead(t, w.config)), "  email: e2e@example.com\n",
		fmt.Sprintf("  email: e2e@example.com\n  eab: {kid: %s, hmac_key: %s}\n", eabKID, eabHMAC), 1))
	w.addCert("rsa", "key_type: rsa2048\n"+listenCert(pb.HTTPPort, "rsa.keys.example.com"))
	w.addCert("ec384", "key_type: ec384\n"+listenCert(pb.HTTPPort, "ec384.keys.example.com"))
	w.mustRenew("renew", "--now")

	if k, ok := w.liveLeaf("rsa").PublicKey.(*rsa.PublicKey); !ok || k.N.BitLen() != 2048 {
		t.Errorf("rsa: leaf key %T, want RSA 2048", w.liveLeaf("rsa").PublicKey)
	}
	if k, ok := w.liveLeaf("ec384").PublicKey.(*ecdsa.PublicKey); !ok || k.Curve.Params().Name != "P-384" {
		t.Errorf("ec384: leaf key %T, want ECDSA P-384", w.liveLeaf("ec384").PublicKey)
	}
	w.checkComplete("rsa", []string{"rsa.keys.example.com"}, 1)
	w.checkComplete("ec384", []string{"ec384.keys.example.com"}, 1)
	if out := w.renewd("config", "check").stdout; strings.Contains(out, eabHMAC) {
		t.Error("config check printed the EAB HMAC key")
	}

	// The account is stored and reused: a second run registers nothing new,
	// and does not even look the account up.
	accounts := filepath.Join(w.storage, "accounts")
	before := treeFiles(t, accounts)
	if len(before) == 0 {
		t.Fatalf("no account stored under %s", accounts)
	}
	// Pebble's newAccount: registration and lookup by key both go there.
	const pebbleNewAccount = "/sign-me-up"
	lookups := proxy.count(pebbleNewAccount)
	if lookups == 0 {
		t.Fatalf("the first run sent no request to %s", pebbleNewAccount)
	}
	w.mustRenew("renew", "--now", "rsa")
	if n := proxy.count(pebbleNewAccount) - lookups; n != 0 {
		t.Errorf("the second run sent %d request(s) to %s, want none", n, pebbleNewAccount)
	}
	if after := treeFiles(t, accounts); !maps.Equal(after, before) {
		t.Errorf("the second run changed %s:\nbefore %v\nafter  %v", accounts, slices.Sorted(maps.Keys(before)), slices.Sorted(maps.Keys(after)))
	}
}

// treeFiles maps every regular file under dir (relative path) to its
// contents.
func treeFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		files[rel] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestARIDaemon: the daemon renews when the CA moves the ARI window into
// the past (Pebble's POST /set-renewal-info/).
func TestARIDaemon(t *testing.T) {
	t.Parallel()
	pb := startPebble(t, pebbleOpts{})
	w := newWorkspace(t, acmeSettings{directory: pb.DirURL, rootFile: pb.RootFile})
	w.addCert("shop", listenCert(pb.HTTPPort, "ari-daemon.example.com"))
	w.mustRenew("renew", "--now")
	w.mustRenew("renew") // records Pebble's window
	leaf1 := w.liveLeaf("shop")

	past := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	pb.setRenewalInfo(t, leaf1, ariWindowJSON(past, past.Add(time.Hour)))
	w.setNextPoll("shop", time.Now().Add(-time.Minute))

	d := w.startDaemon()
	w.waitState("shop", "renewed by the daemon after the ARI window moved", func(r map[string]any) bool {
		return r["serial"] != fmt.Sprintf("%x", leaf1.SerialNumber)
	})
	w.checkComplete("shop", []string{"ari-daemon.example.com"}, 1)
	if n := pb.replacements(t); n != 1 {
		t.Errorf("Pebble saw %d replacement orders, want 1 (replaces sent)", n)
	}
	_ = d
}
