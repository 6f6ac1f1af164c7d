package nginxconf

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// A dump as nginx -T prints it, with nginx's own messages first (as when
// stderr is captured too): several certificates in one block, inherited
// ones, an include glob relative to the main file, quoting, a Lua block
// with braces in strings and a variable.
const sampleDump = `nginx: [warn] conflicting server name "a.example.com" on 0.0.0.0:443, ignored
# configuration file /etc/nginx/nginx.conf:
user www-data;
events { worker_connections 64; }
http {
    ssl_certificate     /etc/nginx/default.pem;   # inherited
    ssl_certificate_key /etc/nginx/default.key;
    include sites/*.conf;
    server {
        listen 80;
        server_name plain.example.com;
    }
}

# configuration file /etc/nginx/sites/a.conf:
server {
    listen 443 ssl http2;
    listen [::]:443 ssl;
    server_name a.example.com "www.a.example.com";
    ssl_certificate     ssl/a-rsa.pem;
    ssl_certificate_key ssl/a-rsa.key;
    ssl_certificate     /etc/nginx/ssl/a-ecdsa.pem;
    ssl_certificate_key /etc/nginx/ssl/a-ecdsa.key;
    access_by_lua_block {
        local s = "}" -- a brace in a string {
        if ngx.var.x then ngx.say("{") end
    }
    location / { return 200 'ok;}'; }
}

# configuration file /etc/nginx/sites/b.conf:
server {
    listen 127.0.0.1:8443 ssl;
    server_name b.example.com;
    ssl_certificate $ssl_server_name.crt;
    ssl_certificate_key data:$secret;
    set $x "${host}{";
}
server {
    listen 8443;
    ssl on;
    server_name .c.example.com;
}

`

func TestServersFromDump(t *testing.T) {
	d, err := ParseDump([]byte(sampleDump))
	if err != nil {
		t.Fatal(err)
	}
	if d.Main() != "/etc/nginx/nginx.conf" {
		t.Fatalf("main %q", d.Main())
	}
	cfg, err := Load(d, d.Main())
	if err != nil {
		t.Fatal(err)
	}
	servers := cfg.Servers()
	if len(servers) != 4 {
		t.Fatalf("got %d servers: %+v", len(servers), servers)
	}
	a := servers[0]
	if a.File != "/etc/nginx/sites/a.conf" || a.Line != 1 || !reflect.DeepEqual(a.Names, []string{"a.example.com", "www.a.example.com"}) || !a.TLS() {
		t.Errorf("server a: %+v", a)
	}
	want := []CertRef{
		{Cert: Ref{Path: "/etc/nginx/ssl/a-rsa.pem", Raw: "ssl/a-rsa.pem", File: "/etc/nginx/sites/a.conf", Line: 5},
			Key: Ref{Path: "/etc/nginx/ssl/a-rsa.key", Raw: "ssl/a-rsa.key", File: "/etc/nginx/sites/a.conf", Line: 6}},
		{Cert: Ref{Path: "/etc/nginx/ssl/a-ecdsa.pem", Raw: "/etc/nginx/ssl/a-ecdsa.pem", File: "/etc/nginx/sites/a.conf", Line: 7},
			Key: Ref{Path: "/etc/nginx/ssl/a-ecdsa.key", Raw: "/etc/nginx/ssl/a-ecdsa.key", File: "/etc/nginx/sites/a.conf", Line: 8}},
	}
	if !reflect.DeepEqual(a.Certs, want) {
		t.Errorf("server a certs:\n got %+v\nwant %+v", a.Certs, want)
	}
	b := servers[1]
	if len(b.Certs) != 1 || !b.Certs[0].Cert.Variable() || !b.Certs[0].Key.Inline() || b.Certs[0].Cert.Path != "$ssl_server_name.crt" {
		t.Errorf("server b: %+v", b.Certs)
	}
	c := servers[2]
	if !c.TLS() || len(c.Certs) != 1 || !c.Certs[0].Inherited || c.Certs[0].Cert.Path != "/etc/nginx/default.pem" || c.Certs[0].Cert.Line != 4 {
		t.Errorf("server c (ssl on, inherited certificate): %+v", c)
	}
	plain := servers[3]
	if plain.TLS() || plain.File != "/etc/nginx/nginx.conf" || plain.Line != 7 {
		t.Errorf("plain server: %+v", plain)
	}
	if !reflect.DeepEqual(cfg.Files, []string{"/etc/nginx/nginx.conf", "/etc/nginx/sites/a.conf", "/etc/nginx/sites/b.conf"}) {
		t.Errorf("files %v", cfg.Files)
	}
}

func TestSyntaxErrors(t *testing.T) {
	for _, tc := range []struct {
		desc, text string
		line       int
		msg        string
	}{
		{"missing semicolon before brace", "http {\n server {\n  listen 443\n }\n}\n", 4, `is a ";" missing`},
		{"unclosed block", "http {\n server {\n", 2, "not closed"},
		{"unclosed quote", "http {\n server_name \"a;\n}\n", 2, "not closed"},
		{"stray brace", "}\n", 1, `unexpected "}"`},
		{"no semicolon at end", "worker_processes 1", 1, "no closing"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := parseFile("/etc/nginx/nginx.conf", tc.text)
			var se *SyntaxError
			if !errors.As(err, &se) || se.Line != tc.line || !strings.Contains(se.Msg, tc.msg) || se.File != "/etc/nginx/nginx.conf" {
				t.Fatalf("got %v, want line %d with %q", err, tc.line, tc.msg)
			}
		})
	}
}

func TestLexerWords(t *testing.T) {
	ds, err := parseFile("f", `a "x y" 'q\'s' b\;c ; #comment
d x#y ${v}x "a\"b" ;`)
	if err != nil {
		t.Fatal(err)
	}
	got := [][]string{append([]string{ds[0].Name}, ds[0].Args...), append([]string{ds[1].Name}, ds[1].Args...)}
	want := [][]string{{"a", "x y", "q's", `b\;c`}, {"d", "x#y", "${v}x", `a"b`}}
	if !reflect.DeepEqual(got, want) || ds[1].Line != 2 {
		t.Fatalf("got %q (line %d), want %q", got, ds[1].Line, want)
	}
}

func TestIncludeLoop(t *testing.T) {
	d, err := ParseDump([]byte("# configuration file /n/a.conf:\ninclude b.conf;\n# configuration file /n/b.conf:\ninclude a.conf;\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load(d, d.Main()); err == nil || !strings.Contains(err.Error(), "include loop") {
		t.Fatalf("got %v, want an include loop", err)
	}
}

func TestParseDumpRefusesOtherOutput(t *testing.T) {
	if _, err := ParseDump([]byte("nginx: configuration file /etc/nginx/nginx.conf test is successful\n")); err == nil {
		t.Fatal("no error for output without files")
	}
}

func TestDiskSource(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("nginx.conf", "http { include conf.d/*.conf; }\n")
	write("conf.d/b.conf", "server { listen 443 ssl; ssl_certificate b.pem; ssl_certificate_key b.key; }\n")
	write("conf.d/a.conf", "server { listen 443 ssl; ssl_certificate a.pem; ssl_certificate_key a.key; }\n")
	cfg, err := Load(Disk{}, filepath.Join(dir, "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Servers()
	if len(s) != 2 || s[0].Certs[0].Cert.Path != filepath.Join(dir, "a.pem") || s[1].Certs[0].Key.Path != filepath.Join(dir, "b.key") {
		t.Fatalf("servers %+v", s)
	}
}

func TestDumpCommand(t *testing.T) {
	for _, tc := range []struct {
		desc string
		test []string
		want []string
		err  bool
	}{
		{"plain", []string{"nginx", "-t"}, []string{"nginx", "-T", "-q"}, false},
		{"panel", []string{"/www/server/nginx/sbin/nginx", "-t", "-c", "/www/server/nginx/conf/nginx.conf"},
			[]string{"/www/server/nginx/sbin/nginx", "-T", "-c", "/www/server/nginx/conf/nginx.conf", "-q"}, false},
		{"quiet already", []string{"nginx", "-q", "-t"}, []string{"nginx", "-q", "-T"}, false},
		{"not nginx", []string{"systemctl", "reload", "nginx"}, nil, true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := DumpCommand(tc.test)
			if (err != nil) != tc.err || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestMainFileAndConfPath(t *testing.T) {
	for _, tc := range []struct {
		desc string
		argv []string
		want string
	}{
		{"absolute -c", []string{"nginx", "-c", "/a/nginx.conf", "-t"}, "/a/nginx.conf"},
		{"relative -c under -p", []string{"nginx", "-p", "/srv/ng", "-c", "conf/nginx.conf"}, "/srv/ng/conf/nginx.conf"},
		{"no -c", []string{"nginx", "-t"}, ""},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if got := MainFile(tc.argv); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	p, err := ConfPath([]byte("nginx version: nginx/1.22.1\nconfigure arguments: --prefix=/usr/share/nginx --conf-path=/etc/nginx/nginx.conf --http-log-path=/x\n"))
	if err != nil || p != "/etc/nginx/nginx.conf" {
		t.Fatalf("ConfPath: %q %v", p, err)
	}
}
