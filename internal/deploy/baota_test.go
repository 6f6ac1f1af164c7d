package deploy

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/renewd/renewd/internal/config"
)

// panelOrders is a letsencrypt_v2.json as the panel writes it (json.dumps,
// one line): the account, an order for a.example.com that the panel saved
// under vhost/letsencrypt, one for another site, and the directory cache.
const panelOrders = `{"orders": {"9c1b": {"status": "valid", "auth_type": "http", "domains": ["www.a.example.com", "a.example.com"], "auth_to": "/www/wwwroot/a.example.com", "certificate_url": "https://acme.example/cert/1", "index": "9c1b", "create_time": 1700000000, "renew_time": 0, "cert_timeout": 1707776000, "save_path": "vhost/letsencrypt/a.example.com", "retry_count": 3, "next_retry_time": 1707000000}, "77aa": {"status": "valid", "domains": ["other.example.com"], "cert_timeout": 1707776000, "save_path": "vhost/letsencrypt/other.example.com", "retry_count": 1}}, "account": {"Production": {"key": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n", "kid": "https://acme.example/acct/1"}}, "apis": {"Production": {"expires": 1700086400.25}}, "email": "ops@example.com"}`

func TestUpdateOrders(t *testing.T) {
	pki := newPKI(t)
	leaf := pki.leaf(t, 0xa1, "a.example.com", "www.a.example.com").cert
	domains := []string{"a.example.com", "www.a.example.com"}
	tests := []struct {
		desc    string
		in      string
		n       int
		errPart string
	}{
		{"order matched by its domains, in another order", panelOrders, 1, ""},
		{"order matched by save_path after renewd wrote it", strings.NewReplacer(
			`"domains": ["www.a.example.com", "a.example.com"]`, `"domains": ["old.a.example.com"]`,
			`"vhost/letsencrypt/a.example.com"`, `"vhost/cert/a.example.com/"`).Replace(panelOrders), 1, ""},
		{"another site's directory is not this one", strings.Replace(panelOrders,
			`"domains": ["www.a.example.com", "a.example.com"]`, `"domains": ["old.a.example.com"]`, 1), 0, ""},
		{"no order for these domains", `{"orders": {"77aa": {"domains": ["other.example.com"]}}, "email": null}`, 0, ""},
		{"no orders at all", `{"account": {}}`, 0, ""},
		{"not an object", `[1, 2]`, 0, "is not a JSON object"},
		{"truncated", panelOrders[:100], 0, "is not a JSON object"},
		{"orders not an object", `{"orders": []}`, 0, "orders is not an object"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			out, n, err := updateOrders([]byte(tt.in), "vhost/cert/a.example.com", domains, leaf, testNow)
			if tt.errPart != "" {
				wantErrContains(t, err, tt.errPart)
				return
			}
			if err != nil || n != tt.n {
				t.Fatalf("n = %d, err = %v; want %d", n, err, tt.n)
			}
			if n == 0 {
				if out != nil {
					t.Fatalf("nothing changed, but a new file was returned")
				}
				return
			}
			wantPanelFile(t, out, leaf.NotAfter.Unix())
		})
	}
	// A second update finds the order again by its save_path, even when the
	// configured domains changed since.
	out, _, _ := updateOrders([]byte(panelOrders), "vhost/cert/a.example.com", domains, leaf, testNow)
	more := []string{"a.example.com", "www.a.example.com", "api.a.example.com"}
	if _, n, err := updateOrders(out, "vhost/cert/a.example.com", more, leaf, testNow); n != 1 || err != nil {
		t.Fatalf("second update: n = %d, %v", n, err)
	}
}

// wantPanelFile checks the updated order and that everything else is as
// the panel wrote it.
func wantPanelFile(t *testing.T, data []byte, notAfter int64) {
	t.Helper()
	var got, orig map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if err := json.Unmarshal([]byte(panelOrders), &orig); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"account", "apis", "email"} {
		if !reflect.DeepEqual(got[k], orig[k]) {
			t.Errorf("%s changed: %v", k, got[k])
		}
	}
	orders := got["orders"].(map[string]any)
	if !reflect.DeepEqual(orders["77aa"], orig["orders"].(map[string]any)["77aa"]) {
		t.Errorf("another site's order changed: %v", orders["77aa"])
	}
	o := orders["9c1b"].(map[string]any)
	want := map[string]any{
		"domains": []any{"a.example.com", "www.a.example.com"}, "cert_timeout": float64(notAfter),
		"renew_time": float64(testNow.Unix()), "save_path": "vhost/cert/a.example.com",
		"retry_count": float64(0), "next_retry_time": float64(0),
		"status": "valid", "auth_type": "http", "auth_to": "/www/wwwroot/a.example.com", "index": "9c1b",
		"certificate_url": "https://acme.example/cert/1", "create_time": float64(1700000000),
	}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("order:\n got %v\nwant %v", o, want)
	}
}

func TestUpdateBaotaOrdersOnDisk(t *testing.T) {
	pki := newPKI(t)
	leaf := pki.leaf(t, 0xa1, "a.example.com", "www.a.example.com").cert
	panel := t.TempDir()
	b := config.Baota{Site: "a.example.com", PanelDir: panel}
	domains := []string{"a.example.com", "www.a.example.com"}
	ctx := context.Background()
	if n, err := UpdateBaotaOrders(ctx, b, domains, leaf, testNow); n != 0 || err != nil {
		t.Fatalf("without the panel's file: %d, %v", n, err)
	}
	path := filepath.Join(panel, "config", "letsencrypt_v2.json")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, []byte(panelOrders), 0o640)
	if n, err := UpdateBaotaOrders(ctx, b, domains, leaf, testNow); n != 1 || err != nil {
		t.Fatalf("update: %d, %v", n, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	wantPanelFile(t, data, leaf.NotAfter.Unix())
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %o, want the panel's 0640 kept", fi.Mode().Perm())
	}
	if err := preflightBaota(config.Deploy{Baota: b}); err != nil {
		t.Errorf("preflight after the update: %v", err)
	}

	// The panel holds its lock: renewd waits, and gives up when told to.
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := UpdateBaotaOrders(cancelled, b, domains, leaf, testNow); err == nil || !strings.Contains(err.Error(), "kept it locked") {
		t.Fatalf("with the panel's lock held: %v", err)
	}

	writeFile(t, path, []byte("{not json"), 0o644)
	wantErrContains(t, preflightBaota(config.Deploy{Baota: b}), "is not a JSON object")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", path); err != nil {
		t.Fatal(err)
	}
	if _, err := UpdateBaotaOrders(ctx, b, domains, leaf, testNow); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("symlink: %v", err)
	}
}

// TestDeployBaota: the panel's order is updated once nginx serves the new
// certificate, and left alone when it does not (the files are rolled back).
func TestDeployBaota(t *testing.T) {
	for _, tc := range []struct {
		desc   string
		broken bool
	}{{"served: order updated", false}, {"not served: rolled back, order untouched", true}} {
		t.Run(tc.desc, func(t *testing.T) {
			f := newDeployFixture(t)
			panel := t.TempDir()
			path := filepath.Join(panel, "config", "letsencrypt_v2.json")
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			writeFile(t, path, []byte(panelOrders), 0o644)
			f.a.Deploy.Baota = config.Baota{Site: "a.example.com", PanelDir: panel}
			if tc.broken {
				f.serve("a.example.com", f.pki.served(f.oldA))
				f.d.Nginx.Verify.Timeout = time.Millisecond
			}
			res := f.d.Deploy(context.Background(), []*Item{f.a})
			data, _ := os.ReadFile(path)
			if tc.broken {
				if res["a"] == nil || string(data) != panelOrders || f.hasStep("a baota") {
					t.Fatalf("err %v, steps %q; the panel's file changed: %v", res["a"], f.steps, string(data) != panelOrders)
				}
				return
			}
			wantOK(t, res, "a")
			wantPanelFile(t, data, f.newA.cert.NotAfter.Unix())
			if !f.hasStep("a baota") {
				t.Errorf("no baota step in %q", f.steps)
			}
		})
	}
}
