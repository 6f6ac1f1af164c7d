package chain

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/renewd/renewd/internal/testpki"
)

func TestLoadRoots(t *testing.T) {
	p := newPKI(t, nil)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	rootPEM := write("root.pem", pemOf(p.root.Cert))
	bundle := write("bundle.pem", append([]byte("# Test Root CA\n"), append(pemOf(p.root.Cert), "\n# trailing comment\n"...)...))
	rootDER := write("root.der", p.root.Cert.Raw)
	garbage := write("garbage.pem", []byte("not a certificate"))
	withKey := write("key.pem", append(pemOf(p.root.Cert), "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"...))
	truncated := write("truncated.pem", pemOf(p.root.Cert)[:200])

	tests := []struct {
		desc    string
		files   []string
		trusted bool // the test chain verifies with the pool
		wantErr errCheck
	}{
		{desc: "PEM root", files: []string{rootPEM}, trusted: true},
		{desc: "bundle with comments", files: []string{bundle}, trusted: true},
		{desc: "DER root", files: []string{rootDER}, trusted: true},
		{desc: "no extra roots", trusted: false},
		{desc: "missing file", files: []string{rootPEM, filepath.Join(dir, "nope.pem")}, wantErr: wantMessage(`trusted roots file "`+filepath.Join(dir, "nope.pem")+`"`, "no such file")},
		{desc: "garbage", files: []string{garbage}, wantErr: wantMessage(`"`+garbage+`"`, "neither PEM nor a DER certificate")},
		{desc: "key in a roots file", files: []string{withKey}, wantErr: wantMessage(`"`+withKey+`"`, "PEM block 2 is a private key")},
		{desc: "truncated", files: []string{truncated}, wantErr: wantMessage(`"`+truncated+`"`, "no -----END line")},
		{desc: "empty name", files: []string{""}, wantErr: wantMessage("empty file name")},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			roots, err := LoadRoots(tt.files)
			if tt.wantErr != nil {
				tt.wantErr(t, err)
				return
			}
			if err != nil {
				t.Fatalf("LoadRoots: %v", err)
			}
			_, err = Verify(testpki.Certs(p.leaf, p.int2, p.int1), Options{Roots: roots, Now: testNow})
			if got := err == nil; got != tt.trusted {
				t.Errorf("chain verifies = %v, want %v (err %v)", got, tt.trusted, err)
			}
		})
	}
}
