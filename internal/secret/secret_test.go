package secret

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
)

func TestSetMask(t *testing.T) {
	tests := []struct {
		desc string
		vals []string
		in   string
		want string
	}{
		{desc: "as is", vals: []string{"tok-Xy93-secret"}, in: "401: bad token tok-Xy93-secret", want: "401: bad token ********"},
		{desc: "short values are left alone", vals: []string{"abc", "1"}, in: "exit status 1 abc", want: "exit status 1 abc"},
		{desc: "quoted, JSON and URL-escaped forms", vals: []string{`pa"ss w/rd`},
			in:   `bad "pa\"ss w/rd" in https://u:pa%22ss%20w%2Frd@h and u:pa%22ss+w%2Frd`,
			want: `bad "********" in https://u:********@h and u:********`},
		{desc: "a value holding another is masked whole", vals: []string{"abcdef", "abcdef-ghijkl"},
			in: "x abcdef-ghijkl y abcdef", want: "x ******** y ********"},
		{desc: "multi-line value, and its JSON form", vals: []string{"line-one\nline-two"},
			in: "got line-one\nline-two and {\"e\":\"line-one\\nline-two\"}", want: "got ******** and {\"e\":\"********\"}"},
		{desc: "nothing registered", in: "plain text", want: "plain text"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			var s Set
			s.Add(tt.vals...)
			if got := s.Mask(tt.in); got != tt.want {
				t.Errorf("Mask(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestSetConcurrent: Add and Mask from many goroutines. Run with -race.
func TestSetConcurrent(t *testing.T) {
	var s Set
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				v := fmt.Sprintf("secret-%d-%d", i, j)
				s.Add(v)
				if got := s.Mask("x " + v + " y"); got != "x ******** y" {
					t.Errorf("Mask = %q", got)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestIsCredentialName(t *testing.T) {
	tests := []struct {
		desc     string
		name     string
		prefixes []string
		want     bool
	}{
		{desc: "token", name: "CDN_TOKEN", want: true},
		{desc: "lower case", name: "my_api_key", want: true},
		{desc: "password", name: "HTTPREQ_PASSWORD", want: true},
		{desc: "a provider's prefix", name: "ALICLOUD_RAM_ROLE", prefixes: []string{"ALICLOUD_"}, want: true},
		{desc: "a path is a setting", name: "EXEC_PATH", prefixes: []string{"EXEC_"}, want: false},
		{desc: "a _FILE name is a setting", name: "CF_DNS_API_TOKEN_FILE", want: false},
		{desc: "an interval is a setting", name: "EXEC_POLLING_INTERVAL", prefixes: []string{"EXEC_"}, want: false},
		{desc: "unrelated", name: "LANG", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := IsCredentialName(tt.name, tt.prefixes...); got != tt.want {
				t.Errorf("IsCredentialName(%q, %q) = %v, want %v", tt.name, tt.prefixes, got, tt.want)
			}
		})
	}
}

func TestEnvSecrets(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("from-a-file-Zx81\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "dns.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		desc string
		vars map[string]string
		want []string
	}{
		{desc: "every value of the map", vars: map[string]string{"EXEC_MODE": "map-secret-1", "ALICLOUD_REGION_ID": "cn-hangzhou"},
			want: []string{"cn-hangzhou", "map-secret-1"}},
		{desc: "EXEC_PATH is a setting", vars: map[string]string{"EXEC_PATH": script}},
		{desc: "a plain path that exists is not a secret", vars: map[string]string{"EXEC_SCRIPT": script}},
		{desc: "a base64 secret starting with a slash is", vars: map[string]string{"AWS_SECRET_ACCESS_KEY": "/k3J+abc/def"},
			want: []string{"/k3J+abc/def"}},
		{desc: "the content of a _FILE", vars: map[string]string{"CF_DNS_API_TOKEN_FILE": tokenFile},
			want: []string{"from-a-file-Zx81", "from-a-file-Zx81\n"}},
		{desc: "a credential given as a path: its content", vars: map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": tokenFile},
			want: []string{"from-a-file-Zx81", "from-a-file-Zx81\n"}},
		{desc: "a FIFO is never read", vars: map[string]string{"CF_DNS_API_TOKEN_FILE": fifo}},
		{desc: "a device is never read", vars: map[string]string{"CF_DNS_API_TOKEN_FILE": "/dev/zero"}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got := EnvSecrets(tt.vars)
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("EnvSecrets(%q) = %q, want %q", tt.vars, got, tt.want)
			}
		})
	}
}

func TestEnvironSecrets(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		desc     string
		environ  []string
		prefixes []string
		want     []string
	}{
		{desc: "credentials by name", environ: []string{"CDN_TOKEN=cdn-token-8a7c", "MYDNS_API_KEY=key-12345"},
			want: []string{"cdn-token-8a7c", "key-12345"}},
		{desc: "by a provider's prefix", environ: []string{"ALICLOUD_RAM_ROLE=role-secretive"}, prefixes: []string{"ALICLOUD_"},
			want: []string{"role-secretive"}},
		{desc: "unrelated variables", environ: []string{"HOME=/var/lib/renewd", "LANG=en_US.UTF-8", "PATH=/usr/bin:/bin"}},
		{desc: "a credential that is a path to a directory", environ: []string{"CREDENTIALS_DIRECTORY=" + dir}},
		{desc: "EXEC_PATH with the exec prefix", environ: []string{"EXEC_PATH=/bin/true"}, prefixes: []string{"EXEC_"}},
		{desc: "no value", environ: []string{"API_TOKEN=", "BROKEN"}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got := EnvironSecrets(tt.environ, tt.prefixes)
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("EnvironSecrets = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestURLSecrets(t *testing.T) {
	got := URLSecrets("https://user:pw-abcdef@open.feishu.cn/open-apis/bot/v2/hook/0123456789abcdef0123?key=wecom-key-1")
	for _, want := range []string{"0123456789abcdef0123", "wecom-key-1", "key=wecom-key-1", "pw-abcdef"} {
		if !slices.Contains(got, want) {
			t.Errorf("URLSecrets lacks %q: %q", want, got)
		}
	}
	if slices.Contains(got, "open-apis") {
		t.Errorf("URLSecrets holds a short path segment: %q", got)
	}
}

func TestMaskProcess(t *testing.T) {
	t.Setenv("RENEWD_SECRET_TEST_TOKEN", "env-token-never-registered")
	// Registered on the first Mask of the process, which may have run in
	// another test already: add it here as well, as main does.
	process.Add(EnvironSecrets(os.Environ(), nil)...)
	Add("added-secret-1")
	in := "hook said env-token-never-registered and added-secret-1"
	if got, want := Mask(in), "hook said ******** and ********"; got != want {
		t.Errorf("Mask = %q, want %q", got, want)
	}
}

func TestError(t *testing.T) {
	Add("err-secret-9f")
	sentinel := fs.ErrPermission
	err := fmt.Errorf("hook: %w: printed err-secret-9f", sentinel)
	got := Error(err)
	if got.Error() != "hook: permission denied: printed ********" {
		t.Errorf("Error() = %q", got)
	}
	if !errors.Is(got, sentinel) {
		t.Error("errors.Is no longer finds the sentinel")
	}
	if twice := Error(got); twice.Error() != got.Error() || errors.Unwrap(twice) != err {
		t.Errorf("masking twice wraps twice: %q", twice)
	}
	plain := errors.New("nothing secret")
	if Error(plain) != plain {
		t.Error("an error without secrets is not returned as is")
	}
	if Error(nil) != nil {
		t.Error("Error(nil) is not nil")
	}
	if strings.Contains(Mask("x err-secret-9f"), "err-secret-9f") {
		t.Error("Mask does not know what Add registered")
	}
}
