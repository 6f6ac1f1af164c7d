package importer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/readfile"
)

// The panel's files, relative to its directory (aaPanel/BaoTa
// class/acme_v2.py and class/panelSite.py).
const (
	baotaCertDir    = "vhost/cert"                 // <site>/fullchain.pem, privkey.pem: what nginx reads
	baotaOrders     = "config/letsencrypt_v2.json" // the panel's ACME orders
	baotaOrdersOld  = "config/letsencrypt.json"    // before the panel moved to v2
	baotaDefaultSSL = "0.default"                  // the panel's self-signed catch-all
	maxBaotaOrders  = 16 << 20
)

// baotaOrder is what the importer reads of one order in
// letsencrypt_v2.json.
type baotaOrder struct {
	Domains  []string `json:"domains"`
	AuthType string   `json:"auth_type"`
	AuthTo   string   `json:"auth_to"`
	SavePath string   `json:"save_path"`
}

// ReadBaota reads the sites of a BaoTa or aaPanel panel at panelDir: one
// Candidate per vhost/cert/<site>/ with a fullchain.pem, mapped through the
// panel's ACME order for the same names.
func ReadBaota(panelDir string) ([]*Candidate, error) {
	sites, err := os.ReadDir(filepath.Join(panelDir, baotaCertDir))
	if err != nil {
		return nil, fmt.Errorf("%s is not a BaoTa/aaPanel directory: %w", panelDir, err)
	}
	ordersFile, orders, err := readBaotaOrders(panelDir)
	if err != nil {
		return nil, err
	}
	var out []*Candidate
	for _, s := range sites {
		if !s.IsDir() || s.Name() == baotaDefaultSSL {
			continue
		}
		if _, err := os.Stat(filepath.Join(panelDir, baotaCertDir, s.Name(), "fullchain.pem")); err != nil {
			continue
		}
		out = append(out, readBaotaSite(panelDir, s.Name(), ordersFile, orders))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s has no site with a certificate (%s/<site>/fullchain.pem)", panelDir, baotaCertDir)
	}
	return out, nil
}

func readBaotaOrders(panelDir string) (string, map[string]baotaOrder, error) {
	for _, name := range []string{baotaOrders, baotaOrdersOld} {
		file := filepath.Join(panelDir, name)
		data, err := readfile.Bounded(file, maxBaotaOrders)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", nil, err
		}
		var doc struct {
			Orders map[string]baotaOrder `json:"orders"`
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			return "", nil, fmt.Errorf("%s: %w", file, err)
		}
		return file, doc.Orders, nil
	}
	return filepath.Join(panelDir, baotaOrders), nil, nil
}

func readBaotaSite(panelDir, site, ordersFile string, orders map[string]baotaOrder) *Candidate {
	dir := filepath.Join(panelDir, baotaCertDir, site)
	full := filepath.Join(dir, "fullchain.pem")
	c := &Candidate{Origin: full, Name: certName(site), CertFiles: []string{full}, KeyFile: filepath.Join(dir, "privkey.pem"), Targets: []string{full}}
	c.Deploy = config.Deploy{Nginx: true, Baota: config.Baota{Site: site, PanelDir: panelDir}}
	if err := config.ValidSiteName(site); err != nil {
		return c.refuse("%s: the site name %q %v", dir, site, err)
	}
	data, err := readfile.Bounded(full, maxToolFile)
	if err != nil {
		return c.refuse("%v", err)
	}
	certs, err := chain.ParsePEM(data)
	if err != nil {
		return c.refuse("%s: %v", full, err)
	}
	idx, o, ok := findBaotaOrder(orders, certs[0].DNSNames, site)
	if !ok {
		return c.refuse("%s: no order in %s for %s: the panel did not issue this certificate (uploaded by hand?), so renewd does not know how to prove control of its names; write domains.d/%s.yaml with a challenge and deploy.baota: {site: %s}",
			full, ordersFile, strings.Join(certs[0].DNSNames, ", "), c.Name, site)
	}
	c.Origin = fmt.Sprintf("%s (order %s)", ordersFile, idx)
	if o.SavePath != "" {
		saved := o.SavePath
		if !filepath.IsAbs(saved) {
			saved = filepath.Join(panelDir, saved)
		}
		// The panel keeps the intermediates of its own orders apart:
		// a leaf-only site file is completed from them.
		c.CertFiles = append(c.CertFiles, filepath.Join(saved, "fullchain.pem"), filepath.Join(saved, "root_cert.csr"))
	}
	c.mapBaotaChallenge(o, ordersFile, idx)
	return c
}

// findBaotaOrder picks the order for a site: the one for the same names,
// or the one renewd pointed at the site's directory.
func findBaotaOrder(orders map[string]baotaOrder, names []string, site string) (string, baotaOrder, bool) {
	idx := make([]string, 0, len(orders))
	for k := range orders {
		idx = append(idx, k)
	}
	slices.Sort(idx)
	for _, k := range idx {
		o := orders[k]
		if (len(o.Domains) > 0 && config.SameDomains(o.Domains, names)) || strings.TrimSuffix(o.SavePath, "/") == baotaCertDir+"/"+site {
			return k, o, true
		}
	}
	return "", baotaOrder{}, false
}

// mapBaotaChallenge maps an order's auth_type and auth_to: "http" with the
// site's directory, "dns" with "Provider|key|secret", or "dns" alone (a
// manual DNS challenge).
func (c *Candidate) mapBaotaChallenge(o baotaOrder, file, idx string) {
	switch o.AuthType {
	case "http":
		if !filepath.IsAbs(o.AuthTo) {
			c.refuse("%s: order %s validates over http with auth_to %q, which is not a directory", file, idx, o.AuthTo)
			return
		}
		c.Challenge = config.Challenge{Type: "http-01", HTTP01: config.HTTP01{Webroot: o.AuthTo}}
	case "dns":
		parts := strings.Split(o.AuthTo, "|")
		m, ok := baotaDNS[parts[0]]
		switch {
		case len(parts) < 3 || parts[0] == "dns":
			c.refuse("%s: order %s uses a manual DNS challenge: renewd cannot ask a person to set records; give it a DNS provider and write domains.d/%s.yaml", file, idx, c.Name)
			return
		case !ok:
			c.refuse("%s: order %s uses the panel's DNS API %s, which has no lego equivalent mapped here (mapped: %s); write domains.d/%s.yaml with the lego provider for your DNS host", file, idx, parts[0], knownDNS(baotaDNS), c.Name)
			return
		}
		field := map[string]string{"key": "the second", "secret": "the third"}
		c.mapDNS(m, func(k string) bool { return k == "key" && parts[1] != "" || k == "secret" && parts[2] != "" }, func(names []string) string {
			var where []string
			for _, n := range names {
				where = append(where, field[n])
			}
			return fmt.Sprintf("%s field of auth_to (%s|key|secret) of order %s in %s", strings.Join(where, " and "), parts[0], idx, file)
		})
	default:
		c.refuse("%s: order %s has auth_type %q; renewd supports http (a webroot) and dns with a provider", file, idx, o.AuthType)
	}
}
