package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// DefaultPanelDir is where BaoTa and aaPanel install themselves.
const DefaultPanelDir = "/www/server/panel"

// maxSiteLen bounds a panel site name: the panel names sites after their
// first domain.
const maxSiteLen = 253

// Baota is a BaoTa (aaPanel) site renewd deploys into, for people who
// keep the panel: renewd writes the site's certificate files where the
// panel's nginx configuration reads them, and keeps the panel's record of
// the certificate consistent (docs/deploy.md).
type Baota struct {
	// Site is the panel's site name: the directory
	// <panel_dir>/vhost/cert/<site>/.
	Site string `yaml:"site"`
	// PanelDir is the panel's directory (default /www/server/panel).
	PanelDir string `yaml:"panel_dir"`
}

// CertDir is the site's certificate directory, <panel_dir>/vhost/cert/<site>.
func (b Baota) CertDir() string { return filepath.Join(b.PanelDir, "vhost", "cert", b.Site) }

// validateBaota checks deploy.baota and, when it is set, points
// deploy.fullchain and deploy.key at the site's files, so that installing,
// rolling back and nginx work as for any other deploy.
func validateBaota(d *Deploy, src *source) {
	b := &d.Baota
	if b.Site == "" {
		if b.PanelDir != "" {
			src.errorf("deploy.baota.site", "missing; name the panel's site, the directory under %s", filepath.Join(b.PanelDir, "vhost", "cert"))
		}
		return
	}
	if err := checkSiteName(b.Site); err != nil {
		src.errorf("deploy.baota.site", "%q %v", b.Site, err)
		return
	}
	setString(&b.PanelDir, DefaultPanelDir)
	if !filepath.IsAbs(b.PanelDir) {
		src.errorf("deploy.baota.panel_dir", "%q is not an absolute path; write it like %s", b.PanelDir, DefaultPanelDir)
		return
	}
	b.PanelDir = filepath.Clean(b.PanelDir)
	fullchain, key := filepath.Join(b.CertDir(), "fullchain.pem"), filepath.Join(b.CertDir(), "privkey.pem")
	if (d.Fullchain != "" && d.Fullchain != fullchain) || (d.Key != "" && d.Key != key) {
		src.errorf("deploy.baota", "writes the panel's files %s and %s; remove deploy.fullchain and deploy.key (or use them without deploy.baota)", fullchain, key)
		return
	}
	d.Fullchain, d.Key = fullchain, key
}

// ValidSiteName reports whether s can be a panel site name in
// deploy.baota.site; the error says why not.
func ValidSiteName(s string) error { return checkSiteName(s) }

// checkSiteName accepts the names the panel gives sites (a domain, or a
// name made of letters, digits, '.', '_' and '-'), which become a
// directory name: no "/", no "..", nothing a shell or a log reader would
// trip over.
func checkSiteName(s string) error {
	switch {
	case len(s) > maxSiteLen:
		return fmt.Errorf("is %d bytes long; at most %d are allowed", len(s), maxSiteLen)
	case strings.Contains(s, ".."):
		return fmt.Errorf("contains \"..\"; give the site's name as the panel shows it, such as shop.example.com")
	}
	for i, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || i > 0 && (r == '.' || r == '_' || r == '-')
		if !ok {
			return fmt.Errorf("has %q at byte %d; a site name has letters, digits, '.', '_' and '-' (not first), such as shop.example.com", r, i)
		}
	}
	return nil
}

// applyPanelNginx makes nginx.test and nginx.reload use the panel's own
// nginx when a certificate deploys into a panel site, renewd.yaml sets
// neither, and that nginx exists: the panel does not install Debian's
// nginx, and the nginx on PATH, if any, is not the one serving the sites.
func applyPanelNginx(c *Config, src *source) {
	if src.isSet("nginx.test") || src.isSet("nginx.reload") {
		return
	}
	for _, cert := range c.Certificates {
		if cert.Deploy.Baota.Site == "" {
			continue
		}
		if test, reload, ok := PanelNginx(cert.Deploy.Baota.PanelDir); ok {
			c.Nginx.Test, c.Nginx.Reload = test, reload
		}
		return
	}
}

// PanelNginx returns the test and reload commands of the nginx a BaoTa
// panel installs next to itself (<panel_dir>/../nginx/sbin/nginx with its
// conf/nginx.conf), and whether that nginx exists.
func PanelNginx(panelDir string) (test, reload []string, ok bool) {
	root := filepath.Dir(panelDir)
	bin := filepath.Join(root, "nginx", "sbin", "nginx")
	conf := filepath.Join(root, "nginx", "conf", "nginx.conf")
	if fi, err := os.Stat(bin); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return nil, nil, false
	}
	return []string{bin, "-t", "-c", conf}, []string{bin, "-s", "reload", "-c", conf}, true
}
