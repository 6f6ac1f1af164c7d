package deploy

import (
	"crypto/ecdsa"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/renewd/renewd/internal/config"
)

// TestInstallPair: whatever was at the paths before, after install both
// paths are renewd's links through one current version holding the new
// pair, and undo goes back to what readers saw, when that was a matching
// pair, with its content, mode and owner, and keeps the new pair
// otherwise.
func TestInstallPair(t *testing.T) {
	pki := newPKI(t)
	old := pki.leaf(t, 0xa0, "a.example.com")
	other := pki.leaf(t, 0xa9, "a.example.com")
	cur := pki.leaf(t, 0xa1, "a.example.com")
	type prev struct {
		data []byte
		perm os.FileMode
	}
	tests := []struct {
		desc       string
		fullchain  *prev // nil: no file before
		key        *prev
		keyDir     string // subdirectory for the key; "": beside the fullchain
		installed  bool   // a deploy by renewd already installed old
		wantUndone bool   // undo brings the old pair back
	}{
		{desc: "first deploy: nothing there before"},
		{desc: "a placeholder pair: kept with its own modes", fullchain: &prev{old.files.Fullchain, 0o640}, key: &prev{old.files.Key, 0o400}, wantUndone: true},
		{desc: "a fullchain but no key", fullchain: &prev{old.files.Fullchain, 0o644}},
		{desc: "a new fullchain next to an old key, as a kill left an older renewd: never restored",
			fullchain: &prev{cur.files.Fullchain, 0o644}, key: &prev{other.files.Key, 0o600}},
		{desc: "a key in another directory", fullchain: &prev{old.files.Fullchain, 0o644}, key: &prev{old.files.Key, 0o600}, keyDir: "private", wantUndone: true},
		{desc: "renewd's own links from an earlier deploy", installed: true, wantUndone: true},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			dir := t.TempDir()
			it := newItem("a", dir, cur, "a.example.com")
			if tt.keyDir != "" {
				it.Deploy.Key = filepath.Join(dir, tt.keyDir, "a.key.pem")
				if err := os.Mkdir(filepath.Dir(it.Deploy.Key), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			fc, key := it.Deploy.Fullchain, it.Deploy.Key
			if tt.fullchain != nil {
				writeFile(t, fc, tt.fullchain.data, tt.fullchain.perm)
			}
			if tt.key != nil {
				writeFile(t, key, tt.key.data, tt.key.perm)
			}
			w := &recordWrites{}
			d := &Deployer{Write: w.write}
			if tt.installed {
				first := *it
				first.Files, first.Leaf = old.files, old.cert
				if _, err := d.install(&first); err != nil {
					t.Fatal(err)
				}
			}

			done, err := d.install(it)
			if err != nil {
				t.Fatalf("install: %v", err)
			}
			wantLinks(t, it)
			wantFile(t, fc, cur.files.Fullchain, 0o644)
			wantFile(t, key, cur.files.Key, 0o600)
			if got, want := changedPaths(done), []string{fc, key}; !slices.Equal(got, want) {
				t.Errorf("installed = %q, want %q", got, want)
			}

			err = undo(done, errors.New("nginx test failed"))
			if tt.wantUndone {
				if err.Error() != "nginx test failed" {
					t.Errorf("undo: %v", err)
				}
				fperm, kperm := os.FileMode(0o644), os.FileMode(0o600)
				if tt.fullchain != nil {
					fperm, kperm = tt.fullchain.perm, tt.key.perm
				}
				wantFile(t, fc, old.files.Fullchain, fperm)
				wantFile(t, key, old.files.Key, kperm)
			} else {
				wantErrContains(t, err, "nginx test failed", "stay installed", "no matching certificate and key")
				wantFile(t, fc, cur.files.Fullchain, 0o644)
				wantFile(t, key, cur.files.Key, 0o600)
			}
			wantLinks(t, it)
			if n := len(pairEntries(t, it)); n > 3 {
				t.Errorf("the pair directory holds %q: more than current and two versions", pairEntries(t, it))
			}
		})
	}
}

// wantLinks fails unless the item's fullchain and key are renewd's links
// through the current version of its pair directory.
func wantLinks(t *testing.T, it *Item) {
	t.Helper()
	p := newPair(&Deployer{}, it)
	for _, x := range []struct{ path, file string }{{it.Deploy.Fullchain, fullchainFile}, {it.Deploy.Key, keyFile}} {
		to, err := os.Readlink(x.path)
		if err != nil {
			t.Errorf("%s is not a link: %v", x.path, err)
			continue
		}
		if want := p.linkTarget(x.path, x.file); to != want {
			t.Errorf("%s -> %s, want %s", x.path, to, want)
		}
	}
	if p.current() == "" {
		t.Errorf("%s has no current version", p.dir)
	}
}

// pairEntries lists the item's pair directory.
func pairEntries(t *testing.T, it *Item) []string {
	t.Helper()
	ents, err := os.ReadDir(newPair(&Deployer{}, it).dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// wantOnly fails if dir holds any entry except names (a temp or backup file
// left behind, say).
func wantOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !slices.Contains(names, e.Name()) {
			t.Errorf("%s holds a stray %s", dir, e.Name())
		}
	}
}

// TestInstallFailureChangesNothing: a write, a link or the switch of the
// current version that fails leaves readers with exactly the pair they had.
func TestInstallFailureChangesNothing(t *testing.T) {
	pki := newPKI(t)
	old := pki.leaf(t, 0xa0, "a.example.com")
	cur := pki.leaf(t, 0xa1, "a.example.com")
	eio := &fs.PathError{Op: "symlink", Path: "x", Err: syscall.EIO}
	tests := []struct {
		desc      string
		installed bool // renewd's links already, else a placeholder pair
		write     func(n int, path string) error
		symlink   func(n int, link string) error
		want      error
	}{
		{desc: "ENOSPC writing the new key", want: syscall.ENOSPC, write: func(_ int, path string) error {
			if strings.HasSuffix(path, keyFile) && !strings.Contains(path, previousStamp) {
				return &fs.PathError{Op: "write", Path: path, Err: syscall.ENOSPC}
			}
			return nil
		}},
		{desc: "EIO linking the fullchain over the placeholder", want: syscall.EIO, symlink: func(_ int, link string) error {
			if strings.Contains(link, "fullchain") {
				return eio
			}
			return nil
		}},
		{desc: "EIO switching current", installed: true, want: syscall.EIO, symlink: func(_ int, link string) error {
			if strings.Contains(link, currentLink) {
				return eio
			}
			return nil
		}},
		{desc: "ENOSPC keeping the placeholder as a version", want: syscall.ENOSPC, write: func(_ int, path string) error {
			if strings.Contains(path, previousStamp) {
				return &fs.PathError{Op: "write", Path: path, Err: syscall.ENOSPC}
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			dir := t.TempDir()
			it := newItem("a", dir, cur, "a.example.com")
			d := &Deployer{}
			if tt.installed {
				first := *it
				first.Files, first.Leaf = old.files, old.cert
				if _, err := d.install(&first); err != nil {
					t.Fatal(err)
				}
			} else {
				writeFile(t, it.Deploy.Fullchain, old.files.Fullchain, 0o644)
				writeFile(t, it.Deploy.Key, old.files.Key, 0o600)
			}
			w := &recordWrites{fail: tt.write}
			var links int
			d = &Deployer{Write: w.write, Symlink: func(target, link string) error {
				links++
				if tt.symlink != nil {
					if err := tt.symlink(links, link); err != nil {
						return err
					}
				}
				return os.Symlink(target, link)
			}}
			done, err := d.install(it)
			if !errors.Is(err, tt.want) || done != nil {
				t.Fatalf("install = %d changes, %v; want an error wrapping %v", len(done), err, tt.want)
			}
			wantFile(t, it.Deploy.Fullchain, old.files.Fullchain, 0o644)
			wantFile(t, it.Deploy.Key, old.files.Key, 0o600)
			wantOnly(t, dir, "a.fullchain.pem", "a.key.pem", ".renewd-a")
		})
	}
}

// TestInstallRefusesHostileTargets: a FIFO, a device, a directory or a
// link renewd did not make at a deploy path is refused, by path, before
// anything is written and without blocking or reading without bound; so
// is it by Preflight, before an order.
func TestInstallRefusesHostileTargets(t *testing.T) {
	pki := newPKI(t)
	old := pki.leaf(t, 0xa0, "a.example.com")
	cur := pki.leaf(t, 0xa1, "a.example.com")
	tests := []struct {
		desc  string
		field string // which target gets the hostile thing
		make  func(t *testing.T, path string)
		want  []string
	}{
		{desc: "a FIFO at the fullchain", field: "fullchain", make: mkfifo, want: []string{"deploy.fullchain", "named pipe (FIFO)"}},
		{desc: "a FIFO at the key", field: "key", make: mkfifo, want: []string{"deploy.key", "named pipe (FIFO)"}},
		{desc: "a link to /dev/zero at the key", field: "key", make: symlinkTo("/dev/zero"), want: []string{"deploy.key", "symbolic link to /dev/zero", "remove the link"}},
		{desc: "a link to another file at the key", field: "key", make: symlinkTo("/etc/hostname"), want: []string{"deploy.key", "symbolic link to /etc/hostname"}},
		{desc: "/dev/null itself", field: "fullchain", make: func(t *testing.T, path string) {
			t.Helper()
			if err := syscall.Mknod(path, syscall.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
				t.Skipf("mknod: %v", err)
			}
		}, want: []string{"deploy.fullchain", "character device"}},
		{desc: "a directory at the key", field: "key", make: func(t *testing.T, path string) {
			t.Helper()
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
		}, want: []string{"deploy.key", "a directory"}},
		{desc: "a link at the keystore", field: "pkcs12", make: symlinkTo("/dev/zero"), want: []string{"deploy.pkcs12.path", "symbolic link"}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			dir := t.TempDir()
			it := newItem("a", dir, cur, "a.example.com")
			it.Deploy.PKCS12 = config.PKCS12{Path: filepath.Join(dir, "a.p12"), PasswordEnv: "RENEWD_TEST_P12_PASSWORD"}
			t.Setenv("RENEWD_TEST_P12_PASSWORD", "s3cret")
			writeFile(t, it.Deploy.Fullchain, old.files.Fullchain, 0o644)
			writeFile(t, it.Deploy.Key, old.files.Key, 0o600)
			hostile := map[string]string{"fullchain": it.Deploy.Fullchain, "key": it.Deploy.Key, "pkcs12": it.Deploy.PKCS12.Path}[tt.field]
			_ = os.Remove(hostile)
			tt.make(t, hostile)
			w := &recordWrites{}
			d := &Deployer{Write: w.write}

			errc := make(chan error, 1)
			go func() {
				_, err := d.install(it)
				errc <- err
			}()
			select {
			case err := <-errc:
				wantErrContains(t, err, append([]string{hostile}, tt.want...)...)
			case <-time.After(30 * time.Second):
				t.Fatal("install blocked on a hostile deploy path")
			}
			if got := w.calls(); len(got) != 0 {
				t.Errorf("wrote %q before refusing", got)
			}
			if tt.field != "fullchain" {
				wantFile(t, it.Deploy.Fullchain, old.files.Fullchain, 0o644)
			}
			if _, err := os.Lstat(filepath.Join(dir, ".renewd-a")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the pair directory was created before refusing: %v", err)
			}
			wantErrContains(t, Preflight(it.Deploy), append([]string{"deploy: ", hostile}, tt.want...)...)
		})
	}
}

func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
}

func symlinkTo(target string) func(t *testing.T, path string) {
	return func(t *testing.T, path string) {
		t.Helper()
		if err := os.Symlink(target, path); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReadRegular: what is read at a deploy path is bounded, never
// through a link, never from a FIFO swapped in after the check.
func TestReadRegular(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	writeFile(t, big, make([]byte, maxTargetSize+1), 0o600)
	fifo := filepath.Join(dir, "fifo")
	mkfifo(t, fifo)
	link := filepath.Join(dir, "link")
	symlinkTo(big)(t, link)
	small := filepath.Join(dir, "small")
	writeFile(t, small, []byte("pem"), 0o640)
	tests := []struct {
		desc string
		path string
		want []string
	}{
		{desc: "larger than the bound", path: big, want: []string{"more than any certificate"}},
		{desc: "a FIFO", path: fifo, want: []string{"named pipe (FIFO)"}},
		{desc: "a link", path: link, want: []string{"symbolic link"}},
		{desc: "a small regular file", path: small},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			data, fi, err := readRegular(tt.path, "deploy.key")
			if tt.want == nil {
				if err != nil || string(data) != "pem" || fi.Mode().Perm() != 0o640 {
					t.Errorf("readRegular = %q, %v, %v", data, fi, err)
				}
				return
			}
			wantErrContains(t, err, append([]string{"deploy.key", tt.path}, tt.want...)...)
		})
	}
}

func TestQuoteName(t *testing.T) {
	for _, tt := range []struct{ desc, in, want string }{
		{desc: "plain", in: "/etc/nginx/ssl/a.pem", want: "/etc/nginx/ssl/a.pem"},
		{desc: "a newline", in: "/etc/x\nFAKE: line", want: `"/etc/x\nFAKE: line"`},
		{desc: "an escape", in: "/etc/\x1b[31mred", want: `"/etc/\x1b[31mred"`},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			if got := quoteName(tt.in); got != tt.want {
				t.Errorf("quoteName(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestPairMatches(t *testing.T) {
	pki := newPKI(t)
	a := pki.leaf(t, 0xa0, "a.example.com")
	b := pki.leaf(t, 0xb0, "b.example.com")
	params := append([]byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"), a.files.Key...)
	for _, tt := range []struct {
		desc           string
		fullchain, key []byte
		want           bool
	}{
		{desc: "a pair", fullchain: a.files.Fullchain, key: a.files.Key, want: true},
		{desc: "text before the certificate, parameters before the key", fullchain: append([]byte("subject=CN = a\n"), a.files.Fullchain...), key: params, want: true},
		{desc: "another key", fullchain: a.files.Fullchain, key: b.files.Key},
		{desc: "no certificate", fullchain: []byte("garbage"), key: a.files.Key},
		{desc: "no key", fullchain: a.files.Fullchain, key: []byte("")},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			if got := pairMatches(tt.fullchain, tt.key); got != tt.want {
				t.Errorf("pairMatches = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRestoreKeepsPreviousOwner: the placeholder kept as a version keeps
// its owner, so a rollback gives readers the files they could read.
func TestRestoreKeepsPreviousOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	pki := newPKI(t)
	old := pki.leaf(t, 0xa0, "a.example.com")
	cur := pki.leaf(t, 0xa1, "a.example.com")
	dir := t.TempDir()
	it := newItem("a", dir, cur, "a.example.com")
	const uid, gid = 4321, 4322
	for _, f := range []struct {
		path string
		data []byte
	}{{it.Deploy.Fullchain, old.files.Fullchain}, {it.Deploy.Key, old.files.Key}} {
		writeFile(t, f.path, f.data, 0o640)
		if err := os.Chown(f.path, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	d := &Deployer{}
	done, err := d.install(it)
	if err != nil {
		t.Fatal(err)
	}
	if err := undo(done, errors.New("cause")); err.Error() != "cause" {
		t.Fatal(err)
	}
	for _, p := range []string{it.Deploy.Fullchain, it.Deploy.Key} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != uid || st.Gid != gid {
			t.Errorf("%s restored as %d:%d, was %d:%d", filepath.Base(p), st.Uid, st.Gid, uid, gid)
		}
	}
}

func TestInstallPKCS12(t *testing.T) {
	pki := newPKI(t)
	cur := pki.leaf(t, 0xa1, "a.example.com")
	tests := []struct {
		desc      string
		password  string
		withPEM   bool
		wantErr   string
		wantPaths []string
	}{
		{desc: "keystore besides the PEM files", password: "s3cret pass", withPEM: true, wantPaths: []string{"a.fullchain.pem", "a.key.pem", "a.p12"}},
		{desc: "keystore only", password: "s3cret", wantPaths: []string{"a.p12"}},
		{desc: "empty password", password: "", withPEM: true, wantErr: "password is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			dir := t.TempDir()
			it := newItem("a", dir, cur, "a.example.com")
			if !tt.withPEM {
				it.Deploy.Fullchain, it.Deploy.Key = "", ""
			}
			it.Deploy.PKCS12 = config.PKCS12{Path: filepath.Join(dir, "a.p12"), PasswordEnv: "RENEWD_TEST_P12_PASSWORD"}
			t.Setenv("RENEWD_TEST_P12_PASSWORD", tt.password)
			w := &recordWrites{}

			done, err := (&Deployer{Write: w.write}).install(it)
			if tt.wantErr != "" {
				wantErrContains(t, err, "pkcs12", tt.wantErr)
				if len(w.calls()) != 0 {
					t.Errorf("writes = %q, want none", w.calls())
				}
				wantOnly(t, dir)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range changedPaths(done) {
				got = append(got, filepath.Base(p))
			}
			if !slices.Equal(got, tt.wantPaths) {
				t.Errorf("installed %q, want %q", got, tt.wantPaths)
			}
			p12 := it.Deploy.PKCS12.Path
			fi, err := os.Stat(p12)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("keystore mode %o, want the key mode 0600", fi.Mode().Perm())
			}
			data, err := os.ReadFile(p12)
			if err != nil {
				t.Fatal(err)
			}
			checkKeystore(t, pki, cur, data, tt.password)

			if err := undo(done, errors.New("cause")); !strings.Contains(err.Error(), "cause") {
				t.Fatal(err)
			}
			// The keystore did not exist before: it is removed. The new
			// PEM pair stays: there was none before.
			wantNoFile(t, p12)
		})
	}
}

// checkKeystore decodes a keystore: the leaf, one CA certificate (the
// intermediate) and the leaf's key.
func checkKeystore(t *testing.T, pki *testPKI, l testLeaf, data []byte, password string) {
	t.Helper()
	if _, _, _, err := pkcs12.DecodeChain(data, password+"x"); err == nil {
		t.Error("the keystore opens with a wrong password")
	}
	key, leaf, cas, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		t.Fatalf("DecodeChain: %v", err)
	}
	if !leaf.Equal(l.cert) {
		t.Errorf("keystore leaf serial %x, want %x", leaf.SerialNumber, l.cert.SerialNumber)
	}
	if len(cas) != 1 || !cas[0].Equal(pki.inter.Cert) {
		t.Errorf("keystore has %d CA certificates, want the intermediate alone", len(cas))
	}
	ek, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		t.Fatalf("keystore key is %T", key)
	}
	if !ek.PublicKey.Equal(l.cert.PublicKey) {
		t.Error("keystore key does not match the leaf")
	}
}

func TestPreflight(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	writeFile(t, file, []byte("x"), 0o644)
	readOnly := filepath.Join(dir, "ro")
	if err := os.Mkdir(readOnly, 0o500); err != nil {
		t.Fatal(err)
	}
	good := func(name string) string { return filepath.Join(dir, name) }
	tests := []struct {
		desc     string
		d        config.Deploy
		wantErr  []string
		wantIs   error
		skipRoot bool
	}{
		{desc: "nothing to deploy", d: config.Deploy{}},
		{desc: "good directory", d: config.Deploy{Fullchain: good("f.pem"), Key: good("k.pem"), PKCS12: config.PKCS12{Path: good("k.p12")}}},
		{
			desc:    "missing directory",
			d:       config.Deploy{Fullchain: filepath.Join(dir, "missing", "f.pem"), Key: good("k.pem")},
			wantErr: []string{filepath.Join(dir, "missing", "f.pem"), "create it first"},
			wantIs:  fs.ErrNotExist,
		},
		{
			desc:    "missing directory for the key only",
			d:       config.Deploy{Fullchain: good("f.pem"), Key: filepath.Join(dir, "nokeys", "k.pem")},
			wantErr: []string{"nokeys", "create it first"},
			wantIs:  fs.ErrNotExist,
		},
		{
			desc:    "missing directory for the keystore",
			d:       config.Deploy{PKCS12: config.PKCS12{Path: filepath.Join(dir, "java", "k.p12")}},
			wantErr: []string{"java", "create it first"},
		},
		{
			desc:    "a file where the directory should be",
			d:       config.Deploy{Fullchain: filepath.Join(file, "f.pem"), Key: good("k.pem")},
			wantErr: []string{file + " is not a directory"},
		},
		{
			desc:    "missing directory under /proc",
			d:       config.Deploy{Fullchain: "/proc/renewd-x/f.pem", Key: good("k.pem")},
			wantErr: []string{"/proc/renewd-x/f.pem", "create it first"},
		},
		{
			// /proc/self refuses writes even to root, as a read-only mount would.
			desc:    "directory nobody may write in",
			d:       config.Deploy{Fullchain: "/proc/self/renewd-f.pem", Key: good("k.pem")},
			wantErr: []string{"cannot write in /proc/self"},
		},
		{
			desc:     "directory without write permission",
			d:        config.Deploy{Fullchain: filepath.Join(readOnly, "f.pem"), Key: good("k.pem")},
			wantErr:  []string{"cannot write in " + readOnly},
			wantIs:   fs.ErrPermission,
			skipRoot: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if tt.skipRoot && os.Geteuid() == 0 {
				t.Skip("root may write in a 0500 directory")
			}
			err := Preflight(tt.d)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Preflight: %v", err)
				}
				return
			}
			wantErrContains(t, err, tt.wantErr...)
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v: want one wrapping %v", err, tt.wantIs)
			}
		})
	}
}
