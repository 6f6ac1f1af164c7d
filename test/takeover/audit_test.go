package takeover

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/renewd/renewd/test/harness"
)

// auditEntry is the part of `renewd audit nginx --json` the tests read.
type auditEntry struct {
	Certificate struct {
		Path string `json:"path"`
		File string `json:"file"`
		Line int    `json:"line"`
	} `json:"certificate"`
	Verdict string `json:"verdict"`
	File    *struct {
		Verdict  string `json:"verdict"`
		Findings []struct {
			Check, Severity, Message string
		} `json:"findings"`
	} `json:"file"`
	Served []struct {
		SNI     string `json:"sni"`
		Verdict string `json:"verdict"`
	} `json:"served"`
	ManagedBy string   `json:"managed_by"`
	Fixes     []string `json:"fixes"`
}

type auditDoc struct {
	Config  string       `json:"config"`
	Source  string       `json:"source"`
	Warning string       `json:"warning"`
	Entries []auditEntry `json:"entries"`
	Verdict string       `json:"verdict"`
}

func (w *workspace) audit() (auditDoc, result) {
	w.t.Helper()
	res := w.renewd("audit", "nginx", "--json")
	var doc auditDoc
	if err := json.Unmarshal([]byte(res.Stdout), &doc); err != nil {
		w.t.Fatalf("audit --json: %v\n%s", err, res)
	}
	return doc, res
}

func (d auditDoc) entry(t *testing.T, path string) auditEntry {
	t.Helper()
	for _, e := range d.Entries {
		if e.Certificate.Path == path {
			return e
		}
	}
	t.Fatalf("no audit entry for %s in %+v", path, d.Entries)
	return auditEntry{}
}

// lineOf returns the line of file holding text.
func lineOf(t *testing.T, file, text string) int {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, text) {
			return i + 1
		}
	}
	t.Fatalf("%s has no line with %q", file, text)
	return 0
}

// TestAuditNginx runs `renewd audit nginx` against a real nginx serving a
// leaf-only file, a file with its intermediates in the wrong order, a
// certificate whose key file was replaced after nginx loaded it, and a
// healthy certificate that renewd manages.
func TestAuditNginx(t *testing.T) {
	t.Parallel()
	ca := newOldCA(t)
	ssl := filepath.Join(t.TempDir(), "ssl")
	leaf, order, mismatch, other, good := ca.issue(t, false, "leaf.takeover.example"), ca.issue(t, true, "order.takeover.example"),
		ca.issue(t, false, "mismatch.takeover.example"), ca.issue(t, false, "mismatch.takeover.example"), ca.issue(t, false, "good.takeover.example", "www.good.takeover.example")
	files := map[string][]byte{"leaf.pem": leaf.certPEM, "leaf.key": leaf.keyPEM, "order.pem": order.wrongOrder, "order.key": order.keyPEM,
		"mismatch.pem": mismatch.fullchain, "mismatch.key": mismatch.keyPEM, "good.pem": good.fullchain, "good.key": good.keyPEM}
	for name, data := range files {
		writeFile(t, filepath.Join(ssl, name), data, 0o600)
	}
	port := harness.MustFreePort(t)
	n := harness.NewNginx(t)
	for _, s := range []struct {
		names []string
		base  string
	}{
		{[]string{"leaf.takeover.example"}, "leaf"}, {[]string{"order.takeover.example"}, "order"},
		{[]string{"mismatch.takeover.example"}, "mismatch"}, {[]string{"good.takeover.example", "www.good.takeover.example"}, "good"},
	} {
		n.Servers = append(n.Servers, harness.TLSServer(port, s.names, filepath.Join(ssl, s.base+".pem"), filepath.Join(ssl, s.base+".key")))
	}
	n.Start(port)
	// Someone replaces the key file after nginx loaded the pair: nginx
	// still serves the old pair, and will refuse its next reload.
	writeFile(t, filepath.Join(ssl, "mismatch.key"), other.keyPEM, 0o600)

	w := newWorkspace(t, nil, []string{ca.rootFile}, nginxYAML(n, port))
	writeFile(t, filepath.Join(w.domains, "good.yaml"), []byte(fmt.Sprintf(
		"domains: [good.takeover.example, www.good.takeover.example]\nchallenge: {type: http-01, http01: {webroot: /var/www/acme}}\ndeploy: {fullchain: %s, key: %s, nginx: true}\n",
		filepath.Join(ssl, "good.pem"), filepath.Join(ssl, "good.key"))), 0o644)

	doc, res := w.audit()
	if res.Code != 1 || doc.Verdict != "fail" || doc.Source != "the files on disk" || !strings.Contains(doc.Warning, "nginx.conf") {
		t.Fatalf("audit with a swapped key: %s", res)
	}
	for _, tc := range []struct {
		desc, file         string
		fileFail, servFail bool
		fix                string
	}{
		{"leaf only", "leaf.pem", true, true, "at a full chain"},
		// A wrong order is a warning of the one judge (every client renewd
		// is tested with reorders): no failure, but the fix is there.
		{"wrong order", "order.pem", false, false, "in order: the leaf first"},
		{"key mismatch", "mismatch.pem", true, false, "is not the key of the certificate"},
		{"healthy", "good.pem", false, false, ""},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			path := filepath.Join(ssl, tc.file)
			e := doc.entry(t, path)
			if want := lineOf(t, n.Conf, "ssl_certificate "+path+";"); e.Certificate.File != n.Conf || e.Certificate.Line != want {
				t.Errorf("directive at %s:%d, want %s:%d", e.Certificate.File, e.Certificate.Line, n.Conf, want)
			}
			if e.File == nil || (e.File.Verdict == "fail") != tc.fileFail || len(e.Served) == 0 || (e.Served[0].Verdict == "fail") != tc.servFail {
				t.Errorf("verdicts: %+v", e)
			}
			if joined := strings.Join(e.Fixes, "\n"); tc.fix != "" && !strings.Contains(joined, tc.fix) || tc.fix == "" && joined != "" {
				t.Errorf("fixes %q, want one with %q", e.Fixes, tc.fix)
			}
		})
	}
	if e := doc.entry(t, filepath.Join(ssl, "good.pem")); e.ManagedBy != "good" || e.Verdict != "pass" {
		t.Errorf("healthy entry: %+v", e)
	}
	if e := doc.entry(t, filepath.Join(ssl, "leaf.pem")); e.ManagedBy != "" || !strings.Contains(strings.Join(e.Fixes, " "), "let renewd manage it") {
		t.Errorf("leaf-only entry: %+v", e)
	}
	text := w.renewd("audit", "nginx")
	leafLine := fmt.Sprintf("%s:%d", n.Conf, lineOf(t, n.Conf, "ssl_certificate "+filepath.Join(ssl, "leaf.pem")+";"))
	if text.Code != 1 || !strings.Contains(text.Stdout, leafLine+": ssl_certificate "+filepath.Join(ssl, "leaf.pem")) ||
		!strings.Contains(text.Stdout, "fix: point ssl_certificate ("+leafLine+") at a full chain") || !strings.Contains(text.Stdout, "overall: FAIL") {
		t.Errorf("text output: %s", text)
	}

	// With the key put back, nginx -T works again and only the broken
	// files fail.
	writeFile(t, filepath.Join(ssl, "mismatch.key"), mismatch.keyPEM, 0o600)
	doc, res = w.audit()
	if res.Code != 1 || doc.Warning != "" || !strings.Contains(doc.Source, "-T") || doc.entry(t, filepath.Join(ssl, "mismatch.pem")).Verdict != "pass" {
		t.Fatalf("audit with the key back: %s", res)
	}
}
