package deploy

import (
	"crypto/ecdsa"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/renewd/renewd/internal/config"
)

func TestInstallRestore(t *testing.T) {
	pki := newPKI(t)
	old := pki.leaf(t, 0xa0, "a.example.com")
	cur := pki.leaf(t, 0xa1, "a.example.com")
	type prev struct {
		data []byte
		perm os.FileMode
	}
	tests := []struct {
		desc         string
		fullchain    *prev // nil: no file before
		key          *prev
		noPEMTargets bool
	}{
		{desc: "first deploy: nothing there before"},
		{
			desc:      "previous files kept with their own modes",
			fullchain: &prev{old.files.Fullchain, 0o640},
			key:       &prev{old.files.Key, 0o400},
		},
		{
			desc:      "previous fullchain but no key",
			fullchain: &prev{old.files.Fullchain, 0o644},
		},
		{desc: "no PEM targets configured", noPEMTargets: true},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			dir := t.TempDir()
			it := newItem("a", dir, cur, "a.example.com")
			if tt.noPEMTargets {
				it.Deploy.Fullchain, it.Deploy.Key = "", ""
			}
			fc, key := filepath.Join(dir, "a.fullchain.pem"), filepath.Join(dir, "a.key.pem")
			if tt.fullchain != nil {
				writeFile(t, fc, tt.fullchain.data, tt.fullchain.perm)
			}
			if tt.key != nil {
				writeFile(t, key, tt.key.data, tt.key.perm)
			}
			w := &recordWrites{}

			done, err := install(w.write, it)
			if err != nil {
				t.Fatalf("install: %v", err)
			}
			if tt.noPEMTargets {
				if len(done) != 0 || len(w.calls()) != 0 {
					t.Fatalf("install wrote %v, want nothing", w.calls())
				}
				wantNoFile(t, fc)
				return
			}
			if got, want := w.calls(), []string{fc, key}; !slices.Equal(got, want) {
				t.Errorf("writes = %q, want %q", got, want)
			}
			wantFile(t, fc, cur.files.Fullchain, 0o644)
			wantFile(t, key, cur.files.Key, 0o600)
			if got, want := paths(done), []string{fc, key}; !slices.Equal(got, want) {
				t.Errorf("installed = %q, want %q", got, want)
			}

			if err := restore(w.write, done); err != nil {
				t.Fatalf("restore: %v", err)
			}
			for path, p := range map[string]*prev{fc: tt.fullchain, key: tt.key} {
				if p == nil {
					wantNoFile(t, path)
				} else {
					wantFile(t, path, p.data, p.perm)
				}
			}
			wantOnly(t, dir, "a.fullchain.pem", "a.key.pem")
		})
	}
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

func TestInstallENOSPCRestores(t *testing.T) {
	pki := newPKI(t)
	old := pki.leaf(t, 0xa0, "a.example.com")
	cur := pki.leaf(t, 0xa1, "a.example.com")
	tests := []struct {
		desc     string
		existing bool
	}{
		{desc: "previous files are put back", existing: true},
		{desc: "a fullchain that did not exist is removed", existing: false},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			dir := t.TempDir()
			it := newItem("a", dir, cur, "a.example.com")
			fc, key := it.Deploy.Fullchain, it.Deploy.Key
			if tt.existing {
				writeFile(t, fc, old.files.Fullchain, 0o640)
				writeFile(t, key, old.files.Key, 0o600)
			}
			w := &recordWrites{fail: func(n int, _ string) error {
				if n == 2 { // the key
					return &fs.PathError{Op: "write", Path: key, Err: syscall.ENOSPC}
				}
				return nil
			}}
			done, err := install(w.write, it)
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("install error %v: want one wrapping ENOSPC", err)
			}
			if done != nil {
				t.Errorf("install returned %d installed files with its error", len(done))
			}
			if tt.existing {
				wantFile(t, fc, old.files.Fullchain, 0o640)
				wantFile(t, key, old.files.Key, 0o600)
				if got, want := w.calls(), []string{fc, key, fc}; !slices.Equal(got, want) {
					t.Errorf("writes = %q, want %q", got, want)
				}
			} else {
				wantNoFile(t, fc)
				wantNoFile(t, key)
			}
		})
	}
}

// Bug: when the restore after a failed write fails too, install drops that
// error: the caller hears "install: no space left on device" and believes the
// previous files are in place, while the new fullchain sits next to the old
// key (docs/crash-safety.md, I1).
func TestInstallReportsFailedRestore(t *testing.T) {
	pki := newPKI(t)
	old := pki.leaf(t, 0xa0, "a.example.com")
	cur := pki.leaf(t, 0xa1, "a.example.com")
	dir := t.TempDir()
	it := newItem("a", dir, cur, "a.example.com")
	writeFile(t, it.Deploy.Fullchain, old.files.Fullchain, 0o644)
	writeFile(t, it.Deploy.Key, old.files.Key, 0o600)
	w := &recordWrites{fail: func(n int, path string) error {
		if n >= 2 { // the key, and then every restore
			return &fs.PathError{Op: "write", Path: path, Err: syscall.ENOSPC}
		}
		return nil
	}}
	_, err := install(w.write, it)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("install error %v: want one wrapping ENOSPC", err)
	}
	// The fullchain on disk is now the new one with the old key.
	wantFile(t, it.Deploy.Fullchain, cur.files.Fullchain, 0o644)
	wantErrContains(t, err, "restor", it.Deploy.Fullchain)
}

// Bug: snapshot says it records the previous file's owner, but it records
// the configured one (-1: renewd's own), so a restored file changes owner.
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
	w := &recordWrites{}
	done, err := install(w.write, it)
	if err != nil {
		t.Fatal(err)
	}
	if err := restore(w.write, done); err != nil {
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

			done, err := install(w.write, it)
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
			for _, p := range paths(done) {
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

			if err := restore(w.write, done); err != nil {
				t.Fatal(err)
			}
			wantOnly(t, dir)
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
	if len(cas) != 1 || !cas[0].Equal(pki.inter) {
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
