package preflight

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/renewd/renewd/internal/config"
)

// load writes renewd.yaml and one certificate file and loads them.
func load(t *testing.T, global, cert string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "domains.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(strings.ReplaceAll(data, "DIR", dir)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("renewd.yaml", "storage: DIR/storage\n"+global)
	if cert != "" {
		write("domains.d/shop.yaml", cert)
	}
	for _, d := range []string{"webroot", "ssl"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load(filepath.Join(dir, "renewd.yaml"), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

const (
	webrootCert = "domains: [shop.example.com]\nchallenge:\n  type: http-01\n  http01: {webroot: WEBROOT}\n"
	deployCert  = "domains: [shop.example.com]\nchallenge:\n  type: http-01\n  http01: {listen: \"127.0.0.1:8402\"}\n" +
		"deploy:\n  fullchain: FULLCHAIN\n  key: DIR/ssl/privkey.pem\n  nginx: NGINX\n"
)

func TestCheck(t *testing.T) {
	lookPath := func(file string) (string, error) {
		if file == "nginx" || file == "/usr/sbin/nginx" || file == "systemctl" {
			return "/usr/sbin/" + file, nil
		}
		return "", &exec.Error{Name: file, Err: exec.ErrNotFound}
	}
	tests := []struct {
		desc   string
		global string
		cert   string
		want   []string // substrings of the one problem; none for a clean config
	}{
		{desc: "all good: webroot exists", cert: strings.ReplaceAll(webrootCert, "WEBROOT", "DIR/webroot")},
		{desc: "all good: deploy to nginx", cert: strings.NewReplacer("FULLCHAIN", "DIR/ssl/fullchain.pem", "NGINX", "true").Replace(deployCert)},
		{desc: "missing webroot", cert: strings.ReplaceAll(webrootCert, "WEBROOT", "DIR/nosuch"),
			want: []string{"shop.yaml:4: challenge.http01.webroot:", "nosuch does not exist", "location /.well-known/acme-challenge/"}},
		{desc: "webroot is a file", cert: strings.ReplaceAll(webrootCert, "WEBROOT", "DIR/renewd.yaml"),
			want: []string{"challenge.http01.webroot", "is not a directory"}},
		{desc: "webroot renewd cannot write in", cert: strings.ReplaceAll(webrootCert, "WEBROOT", "/proc/self"),
			want: []string{"challenge.http01.webroot", "renewd cannot write in /proc/self"}},
		{desc: "deploy directory missing", cert: strings.NewReplacer("FULLCHAIN", "DIR/nosuch/fullchain.pem", "NGINX", "false").Replace(deployCert),
			want: []string{"shop.yaml:6: deploy.fullchain:", "create it first"}},
		{desc: "deploy directory not writable", cert: strings.NewReplacer("FULLCHAIN", "/proc/self/fullchain.pem", "NGINX", "false").Replace(deployCert),
			want: []string{"deploy.fullchain", "cannot write in /proc/self"}},
		{desc: "nginx test program missing", global: "nginx: {test: [/opt/nginx/sbin/nginx, -t]}\n",
			cert: strings.NewReplacer("FULLCHAIN", "DIR/ssl/fullchain.pem", "NGINX", "true").Replace(deployCert),
			want: []string{"renewd.yaml:2: nginx.test[0]:", "/opt/nginx/sbin/nginx cannot be run"}},
		{desc: "nginx reload program not on PATH", global: "nginx:\n  reload: [openresty, -s, reload]\n",
			cert: strings.NewReplacer("FULLCHAIN", "DIR/ssl/fullchain.pem", "NGINX", "true").Replace(deployCert),
			want: []string{"renewd.yaml:3: nginx.reload[0]:", "openresty is not an executable program on renewd's PATH"}},
		{desc: "nginx programs unused without deploy.nginx", global: "nginx: {test: [/opt/nginx/sbin/nginx, -t]}\n",
			cert: strings.NewReplacer("FULLCHAIN", "DIR/ssl/fullchain.pem", "NGINX", "false").Replace(deployCert)},
		{desc: "hook not executable",
			cert: strings.NewReplacer("FULLCHAIN", "DIR/ssl/fullchain.pem", "NGINX", "false").Replace(deployCert) + "  hooks:\n    - [/opt/restart-tomcat]\n",
			want: []string{"deploy.hooks[0][0]", "/opt/restart-tomcat cannot be run"}},
		{desc: "example.com contact at Let's Encrypt", global: "acme: {email: ops@example.com}\n",
			want: []string{"renewd.yaml:2: acme.email:", `"ops@example.com" is at example.com, which Let's Encrypt refuses`}},
		{desc: "example.org subdomain contact at Let's Encrypt staging",
			global: "acme:\n  directory: https://acme-staging-v02.api.letsencrypt.org/directory\n  email: ops@mail.example.org\n",
			want:   []string{"renewd.yaml:4: acme.email:", "example.org"}},
		{desc: "example.com contact at another CA is its business", global: "acme: {directory: \"https://ca.internal/acme\", email: ops@example.com}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			cfg := load(t, tt.global, tt.cert)
			errs := Check(cfg, Options{LookPath: lookPath})
			if len(tt.want) == 0 {
				if len(errs) > 0 {
					t.Fatalf("problems in a good configuration: %v", errs)
				}
				return
			}
			if len(errs) != 1 {
				t.Fatalf("%d problems, want 1: %v", len(errs), errs)
			}
			var fe *config.FieldError
			if !errors.As(errs[0], &fe) || fe.Line == 0 {
				t.Errorf("%v is not a FieldError with a line", errs[0])
			}
			msg := strings.ReplaceAll(errs[0].Error(), filepath.Dir(cfg.Path)+"/", "")
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%q lacks %q", msg, w)
				}
			}
		})
	}
}
