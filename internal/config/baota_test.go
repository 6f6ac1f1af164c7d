package config

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestBaotaErrors(t *testing.T) {
	tests := []struct {
		desc   string
		deploy string
		want   []string
	}{
		{"panel_dir without site", "deploy:\n  baota: {panel_dir: /www/server/panel}\n",
			[]string{"domains.d/shop.yaml:6: deploy.baota.site: missing; name the panel's site, the directory under /www/server/panel/vhost/cert"}},
		{"site escaping the panel", "deploy:\n  baota:\n    site: ../../etc\n",
			[]string{`domains.d/shop.yaml:7: deploy.baota.site: "../../etc" contains ".."; give the site's name as the panel shows it, such as shop.example.com`}},
		{"site with a slash", "deploy:\n  baota: {site: a/b}\n",
			[]string{`domains.d/shop.yaml:6: deploy.baota.site: "a/b" has '/' at byte 1; a site name has letters, digits, '.', '_' and '-' (not first), such as shop.example.com`}},
		{"relative panel_dir", "deploy:\n  baota: {site: shop.example.com, panel_dir: www/server/panel}\n",
			[]string{`domains.d/shop.yaml:6: deploy.baota.panel_dir: "www/server/panel" is not an absolute path; write it like /www/server/panel`}},
		{"other deploy files too", "deploy:\n  fullchain: /etc/nginx/ssl/shop.pem\n  key: /etc/nginx/ssl/shop.key\n  baota: {site: shop.example.com}\n",
			[]string{"domains.d/shop.yaml:8: deploy.baota: writes the panel's files /www/server/panel/vhost/cert/shop.example.com/fullchain.pem and /www/server/panel/vhost/cert/shop.example.com/privkey.pem; remove deploy.fullchain and deploy.key (or use them without deploy.baota)"}},
		{"unknown field", "deploy:\n  baota: {site: shop.example.com, dir: /x}\n",
			[]string{"domains.d/shop.yaml:6: deploy.baota.dir: unknown field; valid: site, panel_dir"}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			_, got, _ := loadTree(t, map[string]string{
				"renewd.yaml":         "",
				"domains.d/shop.yaml": "domains: [shop.example.com]\n" + httpChallenge + tt.deploy,
			}, Options{})
			diffLines(t, got, tt.want)
		})
	}
}

func TestBaotaSetsDeployFiles(t *testing.T) {
	c, _ := mustLoad(t, map[string]string{
		"renewd.yaml":         "",
		"domains.d/shop.yaml": "domains: [shop.example.com]\n" + httpChallenge + "deploy:\n  nginx: true\n  baota: {site: shop.example.com}\n",
	}, Options{})
	d := c.Certificates[0].Deploy
	want := "/www/server/panel/vhost/cert/shop.example.com/"
	if d.Fullchain != want+"fullchain.pem" || d.Key != want+"privkey.pem" || d.Baota.PanelDir != DefaultPanelDir || !d.Nginx {
		t.Fatalf("deploy %+v", d)
	}
	// The effective configuration loads again as it is printed.
	if _, errs, _ := loadTree(t, map[string]string{
		"renewd.yaml": "",
		"domains.d/shop.yaml": "domains: [shop.example.com]\n" + httpChallenge + "deploy:\n  fullchain: " + d.Fullchain +
			"\n  key: " + d.Key + "\n  baota: {site: shop.example.com}\n",
	}, Options{}); len(errs) > 0 {
		t.Fatalf("effective deploy block does not load: %v", errs)
	}
}

func TestBaotaUsesThePanelsNginx(t *testing.T) {
	root := t.TempDir()
	panel := filepath.Join(root, "server", "panel")
	bin := filepath.Join(root, "server", "nginx", "sbin", "nginx")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	cert := "domains: [shop.example.com]\n" + httpChallenge + "deploy:\n  baota: {site: shop.example.com, panel_dir: " + panel + "}\n"
	load := func(global string) Nginx {
		t.Helper()
		c, _ := mustLoad(t, map[string]string{"renewd.yaml": global, "domains.d/shop.yaml": cert}, Options{})
		return c.Nginx
	}
	if n := load(""); !reflect.DeepEqual(n.Test, defaultNginxTest) {
		t.Fatalf("without the panel's nginx: test %v", n.Test)
	}
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(root, "server", "nginx", "conf", "nginx.conf")
	n := load("")
	if !reflect.DeepEqual(n.Test, []string{bin, "-t", "-c", conf}) || !reflect.DeepEqual(n.Reload, []string{bin, "-s", "reload", "-c", conf}) {
		t.Fatalf("with the panel's nginx: %v / %v", n.Test, n.Reload)
	}
	if n := load("nginx:\n  reload: [systemctl, reload, nginx]\n"); !reflect.DeepEqual(n.Test, defaultNginxTest) {
		t.Fatalf("renewd.yaml's own nginx settings lost: %v", n.Test)
	}
}

func TestDefault(t *testing.T) {
	c := Default()
	if c.Nginx.Verify.Address != "127.0.0.1:443" || !reflect.DeepEqual(c.Nginx.Test, defaultNginxTest) ||
		c.Nginx.Timeout != defaultCommandTimeout || c.Storage != "/var/lib/renewd" || c.DomainsDir != "/etc/renewd/domains.d" {
		t.Fatalf("Default: %+v", c)
	}
}
