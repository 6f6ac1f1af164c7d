package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAddWritesAFileThatPasses: renewd add writes a file config check
// accepts, refuses one it would not (and leaves nothing behind), and never
// replaces a certificate's file.
func TestAddWritesAFileThatPasses(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"domains.d", "webroot", "ssl"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfgFile := filepath.Join(dir, "renewd.yaml")
	global := fmt.Sprintf("storage: %s/storage\nacme: {directory: \"https://127.0.0.1:1/dir\"}\nnginx: {test: [/bin/true], reload: [/bin/true]}\n", dir)
	if err := os.WriteFile(cfgFile, []byte(global), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RENEWD_E2E_ADD_TOKEN", "x")
	tests := []struct {
		desc string
		args []string
		code int
		want []string // in the file (exit 0) or on stderr (exit 2)
	}{
		{desc: "webroot, deployed to nginx", code: 0,
			args: []string{"add", "shop", "-d", "shop.example.com", "-d", "www.shop.example.com", "--webroot", dir + "/webroot", "--deploy-nginx", dir + "/ssl", "--canary"},
			want: []string{"domains: [shop.example.com, www.shop.example.com]", "canary: true", "  type: http-01", "    webroot: " + dir + "/webroot",
				"  fullchain: " + dir + "/ssl/fullchain.pem", "  key: " + dir + "/ssl/privkey.pem", "  nginx: true"}},
		{desc: "listen", code: 0, args: []string{"add", "api", "-d", "api.example.com", "--listen", "127.0.0.1:8402"},
			want: []string{"    listen: 127.0.0.1:8402"}},
		{desc: "dns-01 names the credentials set in the environment", code: 0,
			args: []string{"add", "wild", "-d", "*.example.org", "--dns", "exec"},
			want: []string{"  type: dns-01", "    provider: exec"}},
		{desc: "a webroot that does not exist", code: 2, args: []string{"add", "blog", "-d", "blog.example.com", "--webroot", dir + "/nosuch"},
			want: []string{"blog.yaml is not written", "challenge.http01.webroot", "does not exist"}},
		{desc: "the name is taken", code: 2, args: []string{"add", "shop", "-d", "other.example.com", "--listen", "127.0.0.1:8403"},
			want: []string{"already has a certificate called shop"}},
		{desc: "a domain another certificate has", code: 2, args: []string{"add", "dup", "-d", "shop.example.com", "--listen", "127.0.0.1:8403"},
			want: []string{"dup.yaml is not written", `"shop.example.com" is also in`}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			t.Setenv("EXEC_PATH", "/bin/true") // wild.yaml names it
			code, out, errOut := runCLI(t, append([]string{"--config", cfgFile}, tt.args...)...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout %s\nstderr %s", code, tt.code, out, errOut)
			}
			file := filepath.Join(dir, "domains.d", tt.args[1]+".yaml")
			if code != 0 {
				for _, w := range tt.want {
					if !strings.Contains(errOut, w) {
						t.Errorf("stderr lacks %q:\n%s", w, errOut)
					}
				}
				if tt.args[1] != "shop" {
					if _, err := os.Stat(file); !os.IsNotExist(err) {
						t.Errorf("a refused file was left: %v", err)
					}
				}
				return
			}
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(data), w) {
					t.Errorf("the file lacks %q:\n%s", w, data)
				}
			}
			if !strings.Contains(out, string(data)) {
				t.Errorf("the file is not printed:\n%s", out)
			}
			if code, _, errOut := runCLI(t, "--config", cfgFile, "config", "check"); code != 0 {
				t.Errorf("config check after add: exit %d\n%s", code, errOut)
			}
		})
	}
	// The DNS provider's credentials are named as ${VAR}, never by value.
	data, _ := os.ReadFile(filepath.Join(dir, "domains.d", "wild.yaml"))
	if !strings.Contains(string(data), `EXEC_PATH: ${EXEC_PATH}`) || strings.Contains(string(data), "/bin/true") {
		t.Errorf("wild.yaml:\n%s", data)
	}
}
