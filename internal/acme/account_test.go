package acme

import (
	"crypto"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/go-acme/lego/v4/registration"
)

func TestAccountDir(t *testing.T) {
	const base = "/var/lib/renewd/accounts"
	safe := regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

	urls := []string{
		"https://acme-v02.api.letsencrypt.org/directory",
		"https://acme-staging-v02.api.letsencrypt.org/directory",
		"https://ca.example.com/acme/production/directory",
		"https://ca.example.com/acme/staging/directory",
		"https://ca.example.com:8443/acme/production/directory",
		"http://ca.example.com/acme/production/directory",
		"https://localhost:14000/dir",
		"https://127.0.0.1:14000/dir",
		"https://[::1]:14000/dir",
		"https://renewd:hunter2@ca.example.com/dir",
		"https://../../etc/passwd",
		"https://ca.example.com/../../../etc",
		"https://xn--bcher-kva.example/dir",
		"not a url",
		"",
		"https://%2e%2e/dir",
		"https://ca.example.com\x00/dir",
	}
	seen := map[string]string{}
	for _, u := range urls {
		d := accountDir(base, u)
		if again := accountDir(base, u); again != d {
			t.Errorf("accountDir(%q) not stable: %s, then %s", u, d, again)
		}
		if filepath.Dir(d) != base {
			t.Errorf("accountDir(%q) = %s, not directly under %s", u, d, base)
		}
		name := filepath.Base(d)
		if !safe.MatchString(name) || name == "." || name == ".." {
			t.Errorf("accountDir(%q) = %q, not a safe directory name", u, name)
		}
		if strings.Contains(name, "hunter2") {
			t.Errorf("accountDir(%q) = %q shows the URL's password", u, name)
		}
		if other, dup := seen[d]; dup {
			t.Errorf("%q and %q share the account directory %s", u, other, d)
		}
		seen[d] = u
	}

	// The host is kept for a person reading the tree.
	if d := filepath.Base(accountDir(base, "https://acme-v02.api.letsencrypt.org/directory")); !strings.HasPrefix(d, "acme-v02.api.letsencrypt.org-") {
		t.Errorf("Let's Encrypt's account directory is %q, want it to start with the host", d)
	}
	if d := filepath.Base(accountDir(base, "https://localhost:14000/dir")); !strings.HasPrefix(d, "localhost_14000-") {
		t.Errorf("Pebble's account directory is %q", d)
	}
}

func TestLoadOrCreateAccount(t *testing.T) {
	accounts := t.TempDir()
	const dirURL = "https://localhost:14000/dir"

	acc, err := loadOrCreateAccount(accounts, dirURL, "ops@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if acc.GetEmail() != "ops@example.com" || acc.Directory != dirURL || acc.GetRegistration() != nil {
		t.Errorf("new account %+v", acc)
	}
	if acc.GetPrivateKey() == nil {
		t.Fatal("no account key")
	}
	dir := accountDir(accounts, dirURL)
	keyPath := filepath.Join(dir, "account.key")
	for path, want := range map[string]os.FileMode{dir: os.ModeDir | 0o700, keyPath: 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode(), want)
		}
	}

	// The key is reused: a crash before registration cannot orphan it.
	again, err := loadOrCreateAccount(accounts, dirURL, "ops@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !samePublicKey(acc.GetPrivateKey(), again.GetPrivateKey()) {
		t.Error("a second load made a new account key")
	}

	// A saved registration comes back.
	acc.Registration = &registration.Resource{URI: "https://localhost:14000/my-account/1"}
	if err := saveAccount(accounts, acc); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "account.json")); err != nil || fi.Mode() != 0o600 {
		t.Errorf("account.json: %v, %v; want mode 0600", fi.Mode(), err)
	}
	loaded, err := loadOrCreateAccount(accounts, dirURL, "ops@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Registration == nil || loaded.Registration.URI != acc.Registration.URI {
		t.Errorf("registration %+v, want %s", loaded.Registration, acc.Registration.URI)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "account.json")); strings.Contains(string(data), "PRIVATE KEY") {
		t.Error("account.json holds the private key")
	}

	// Another directory URL gets another account.
	other, err := loadOrCreateAccount(accounts, "https://localhost:14000/other", "")
	if err != nil {
		t.Fatal(err)
	}
	if samePublicKey(acc.GetPrivateKey(), other.GetPrivateKey()) || other.Registration != nil {
		t.Error("two directory URLs share an account")
	}

	// A broken account.json is recovered from the key, not fatal.
	if err := os.WriteFile(filepath.Join(dir, "account.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	broken, err := loadOrCreateAccount(accounts, dirURL, "ops@example.com")
	if err != nil || broken.Registration != nil || !samePublicKey(acc.GetPrivateKey(), broken.GetPrivateKey()) {
		t.Errorf("with a broken account.json: %+v, %v; want the key and no registration", broken, err)
	}

	// A broken key is an error that names the file.
	if err := os.WriteFile(keyPath, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadOrCreateAccount(accounts, dirURL, ""); err == nil || !strings.Contains(err.Error(), keyPath) {
		t.Errorf("with a broken key: %v, want an error naming %s", err, keyPath)
	}
}

func samePublicKey(a, b crypto.PrivateKey) bool {
	type pubber interface {
		Public() crypto.PublicKey
		Equal(crypto.PrivateKey) bool
	}
	pa, ok1 := a.(pubber)
	pb, ok2 := b.(pubber)
	return ok1 && ok2 && pa.Equal(pb)
}

func TestKeyTypesCoverConfig(t *testing.T) {
	for _, kt := range []string{"ec256", "ec384", "rsa2048", "rsa3072", "rsa4096"} {
		if _, ok := keyTypes[kt]; !ok {
			t.Errorf("key_type %q is valid in config but unknown to the ACME client", kt)
		}
	}
}
