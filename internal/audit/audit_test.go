package audit

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/check"
	"github.com/renewd/renewd/internal/nginxconf"
)

// fixture is four server blocks on one nginx, as the audit test of the
// issue describes them: a leaf-only file, a wrong-order file, a key that is
// not the certificate's, and a healthy one, plus a block whose
// certificate path is a variable.
type fixture struct {
	p     *pki
	asked []string
}

const dump = `# configuration file /etc/nginx/nginx.conf:
events {}
http {
  server { listen 443 ssl; server_name leaf.example.com;
    ssl_certificate ssl/leaf.pem; ssl_certificate_key ssl/leaf.key; }
  server { listen 443 ssl; server_name order.example.com;
    ssl_certificate ssl/order.pem; ssl_certificate_key ssl/order.key; }
  server { listen 443 ssl; server_name mismatch.example.com;
    ssl_certificate ssl/mismatch.pem; ssl_certificate_key ssl/mismatch.key; }
  server { listen 127.0.0.1:8443 ssl; server_name good.example.com www.good.example.com;
    ssl_certificate ssl/good.pem; ssl_certificate_key ssl/good.key; }
  server { listen 443 ssl; server_name _;
    ssl_certificate $ssl_server_name.pem; ssl_certificate_key $ssl_server_name.key; }
  server { listen 80; server_name plain.example.com; }
}
`

func runFixture(t *testing.T) ([]*Block, *fixture) {
	t.Helper()
	p := newPKI(t)
	lo, or, mm, other, good := p.leaf(t, 0x1e, "leaf.example.com"), p.deepLeaf(t, 0x0d, "order.example.com"),
		p.leaf(t, 0x33, "mismatch.example.com"), p.leaf(t, 0x44, "mismatch.example.com"), p.leaf(t, 0x60, "good.example.com", "www.good.example.com")
	files := map[string][]byte{
		"/etc/nginx/ssl/leaf.pem": lo.certPEM, "/etc/nginx/ssl/leaf.key": lo.keyPEM,
		"/etc/nginx/ssl/order.pem": or.wrongOrder, "/etc/nginx/ssl/order.key": or.keyPEM,
		"/etc/nginx/ssl/mismatch.pem": mm.fullchain, "/etc/nginx/ssl/mismatch.key": other.keyPEM,
		"/etc/nginx/ssl/good.pem": good.fullchain, "/etc/nginx/ssl/good.key": good.keyPEM,
	}
	d, err := nginxconf.ParseDump([]byte(dump))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := nginxconf.Load(d, d.Main())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{p: p}
	// nginx was started before the key was swapped: it still serves the
	// matching pair, and sends the wrong-order file as it is.
	served := map[string][][]byte{
		"leaf.example.com": {lo.cert.Raw}, "order.example.com": {or.cert.Raw, p.inter.Cert.Raw, p.inter2.Cert.Raw},
		"mismatch.example.com": {mm.cert.Raw, p.inter.Cert.Raw}, "good.example.com": {good.cert.Raw, p.inter.Cert.Raw},
		"www.good.example.com": {good.cert.Raw, p.inter.Cert.Raw},
	}
	opts := Options{
		Check:   check.Options{Roots: p.roots, Now: testNow},
		Address: "127.0.0.1:443",
		Timeout: time.Second,
		Managed: func(path string) string {
			if path == "/etc/nginx/ssl/good.pem" {
				return "good"
			}
			return ""
		},
		ReadFile: func(path string) ([]byte, error) {
			if data, ok := files[path]; ok {
				return data, nil
			}
			return nil, fs.ErrNotExist
		},
		Serve: func(_ context.Context, addr, sni string, so check.ServerOptions) *check.Report {
			f.asked = append(f.asked, addr+" "+sni+" "+so.ExpectSerial)
			var certs []*x509.Certificate
			for _, der := range served[sni] {
				certs = append(certs, mustParse(t, der))
			}
			r := check.Judge(certs, sni, so.Options)
			r.Address, r.SNI = addr, sni
			return r
		},
	}
	return Run(context.Background(), cfg.Servers(), opts), f
}

func TestAudit(t *testing.T) {
	blocks, f := runFixture(t)
	if len(blocks) != 5 {
		t.Fatalf("%d blocks, want 5 (the plain one has no certificate)", len(blocks))
	}
	for _, tc := range []struct {
		desc      string
		block     int
		fileFail  bool
		servedBad bool
		fix       string
		managed   string
	}{
		{"leaf only", 0, true, true, "point ssl_certificate (/etc/nginx/nginx.conf:4) at a full chain", ""},
		{"wrong order", 1, false, false, "put the certificates in /etc/nginx/ssl/order.pem in order", ""}, // a warning: every tested client reorders (docs/check.md)
		{"key mismatch", 2, true, false, "ssl_certificate_key /etc/nginx/ssl/mismatch.key (/etc/nginx/nginx.conf:8) is not the key", ""},
		{"healthy", 3, false, false, "", "good"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			b := blocks[tc.block]
			c := b.Certs[0]
			if c.File == nil || c.File.Failed(false) != tc.fileFail {
				t.Fatalf("file verdict: %+v", c.File)
			}
			if got := servedFailed(b); got != tc.servedBad {
				t.Errorf("served failed = %v, want %v: %+v", got, tc.servedBad, b.Served)
			}
			if c.ManagedBy != tc.managed {
				t.Errorf("managed by %q, want %q", c.ManagedBy, tc.managed)
			}
			joined := strings.Join(c.Fixes, "\n")
			if tc.fix == "" && len(c.Fixes) > 0 || !strings.Contains(joined, tc.fix) {
				t.Errorf("fixes %q, want one with %q", c.Fixes, tc.fix)
			}
			if tc.fix != "" && !strings.Contains(joined, "let renewd manage it") {
				t.Errorf("no hint to let renewd manage it: %q", c.Fixes)
			}
		})
	}
	variable := blocks[4].Certs[0]
	if variable.File != nil || !strings.Contains(variable.Note, "variable") {
		t.Errorf("variable path: %+v", variable)
	}
	want := []string{
		"127.0.0.1:443 leaf.example.com 1e", "127.0.0.1:443 order.example.com d", "127.0.0.1:443 mismatch.example.com 33",
		"127.0.0.1:8443 good.example.com 60", "127.0.0.1:8443 www.good.example.com 60",
	}
	if !reflect.DeepEqual(f.asked, want) {
		t.Errorf("asked:\n got %q\nwant %q", f.asked, want)
	}
	if !Failed(blocks) || Failed(blocks[3:4]) {
		t.Error("Failed is wrong")
	}
}

func TestAuditOutput(t *testing.T) {
	blocks, _ := runFixture(t)
	sum := Summary{Main: "/etc/nginx/nginx.conf", Files: 1, Source: "[nginx -T -q]"}
	var text bytes.Buffer
	if err := WriteText(&text, sum, blocks); err != nil {
		t.Fatal(err)
	}
	out := text.String()
	for _, want := range []string{
		"DIRECTIVE", "/etc/nginx/nginx.conf:4   leaf.example.com",
		"/etc/nginx/nginx.conf:10  good.example.com www.good.example.com  /etc/nginx/ssl/good.pem      PASS  PASS    good",
		"fix: point ssl_certificate (/etc/nginx/nginx.conf:4) at a full chain",
		"note: the path holds a variable",
		"overall: FAIL (3 of 5 certificate directive(s) need a change)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
	var js bytes.Buffer
	if err := WriteJSON(&js, sum, blocks); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Verdict string `json:"verdict"`
		Entries []struct {
			Certificate struct {
				Path string `json:"path"`
				Line int    `json:"line"`
			} `json:"certificate"`
			Verdict   string   `json:"verdict"`
			ManagedBy string   `json:"managed_by"`
			Fixes     []string `json:"fixes"`
		} `json:"entries"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Verdict != "fail" || len(doc.Entries) != 5 || doc.Entries[3].Verdict != "pass" || doc.Entries[3].ManagedBy != "good" ||
		doc.Entries[0].Verdict != "fail" || doc.Entries[0].Certificate.Line != 4 || len(doc.Entries[0].Fixes) == 0 {
		t.Errorf("json: %s", js.String())
	}
}

func TestUnreadableFile(t *testing.T) {
	s := nginxconf.Server{Names: []string{"x.example.com"}, Certs: []nginxconf.CertRef{{
		Cert: nginxconf.Ref{Path: "/etc/nginx/x.pem", Raw: "/etc/nginx/x.pem", File: "/etc/nginx/nginx.conf", Line: 3},
		Key:  nginxconf.Ref{Path: "/etc/nginx/x.key", Raw: "/etc/nginx/x.key", File: "/etc/nginx/nginx.conf", Line: 4},
	}}}
	blocks := Run(context.Background(), []nginxconf.Server{s}, Options{
		ReadFile: func(string) ([]byte, error) {
			return nil, errors.New("/etc/nginx/x.pem is not a regular file (named pipe)")
		},
	})
	c := blocks[0].Certs[0]
	if !c.File.Failed(false) || !strings.Contains(strings.Join(c.Fixes, " "), "make /etc/nginx/x.pem a readable PEM certificate file") {
		t.Fatalf("fixes %q, findings %+v", c.Fixes, c.File.Findings)
	}
	if blocks[0].ServedNote == "" {
		t.Error("a block without ssl listen was asked for its chain")
	}
}

func TestSeveralCertificatesInABlock(t *testing.T) {
	r := &check.Report{Certificates: []check.Certificate{{Serial: "99"}}}
	checkServedIsOneOf(r, []string{"1", "2"}, "a.example.com")
	if !r.Failed(false) || !strings.Contains(r.Findings[0].Message, "none of this block's certificates") {
		t.Fatalf("served serial outside the block: %+v", r.Findings)
	}
	r = &check.Report{Certificates: []check.Certificate{{Serial: "2"}}}
	checkServedIsOneOf(r, []string{"1", "2"}, "a.example.com")
	if r.Failed(false) {
		t.Fatalf("served serial in the block: %+v", r.Findings)
	}
}

func TestNames(t *testing.T) {
	got := hostNames([]string{"a.example.com", "A.example.com.", ".b.example.com", "*.c.example.com", "www.*", "~^x", "_", ""})
	want := []string{"a.example.com", "b.example.com", "*.b.example.com", "*.c.example.com"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("hostNames = %q, want %q", got, want)
	}
	if got := probeNames([]string{".b.example.com"}); !reflect.DeepEqual(got, []string{"b.example.com", "renewd-check.b.example.com"}) {
		t.Errorf("probeNames = %q", got)
	}
}

func TestProbeAddress(t *testing.T) {
	l := func(addr string, ssl bool) nginxconf.Listen { return nginxconf.Listen{Address: addr, SSL: ssl} }
	for _, tc := range []struct {
		desc    string
		listens []nginxconf.Listen
		want    string
	}{
		{"same port as verify", []nginxconf.Listen{l("80", false), l("443", true)}, "127.0.0.1:443"},
		{"another port on every address", []nginxconf.Listen{l("*:8443", true)}, "127.0.0.1:8443"},
		{"another port on one address", []nginxconf.Listen{l("10.0.0.5:8443", true)}, "10.0.0.5:8443"},
		{"ipv6", []nginxconf.Listen{l("[::1]:9443", true)}, "[::1]:9443"},
		{"no ssl listen", []nginxconf.Listen{l("443", false)}, ""},
		{"unix socket", []nginxconf.Listen{l("unix:/run/x.sock", true)}, ""},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			got, ok := probeAddress("127.0.0.1:443", tc.listens)
			if got != tc.want || ok != (tc.want != "") {
				t.Fatalf("got %q %v, want %q", got, ok, tc.want)
			}
		})
	}
}

func mustParse(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestFixForIntermediateFirst(t *testing.T) {
	c := &Cert{Ref: nginxconf.CertRef{Cert: nginxconf.Ref{Path: "/s/a.pem", File: "/n.conf", Line: 3}, Key: nginxconf.Ref{Path: "/s/a.key", File: "/n.conf", Line: 4}},
		ManagedBy: "a", File: &check.Report{Findings: []check.Finding{
			{Check: check.Chain, Severity: check.Fail, Message: `the first certificate "CN=R3" is a CA certificate, not the server's own: the server certificate must come first`},
			{Check: check.Names, Severity: check.Fail, Message: "does not cover"},
			{Check: check.Key, Severity: check.Fail, Message: "does not match"},
		}}}
	got := fixes(&Block{}, c)
	if len(got) != 1 || !strings.HasPrefix(got[0], "put the certificates in /s/a.pem in order") {
		t.Fatalf("fixes %q: want only the order fix", got)
	}
}

func TestWarningFails(t *testing.T) {
	var text, js bytes.Buffer
	sum := Summary{Main: "/etc/nginx/nginx.conf", Source: "the files on disk", Warning: "nginx -T: key values mismatch"}
	if err := WriteText(&text, sum, nil); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(&js, sum, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "overall: FAIL (nginx refuses its own configuration") || !strings.Contains(js.String(), `"verdict": "fail"`) {
		t.Fatalf("text:\n%s\njson:\n%s", text.String(), js.String())
	}
}
