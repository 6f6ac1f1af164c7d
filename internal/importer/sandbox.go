package importer

import (
	"path/filepath"
	"slices"
)

// sandboxPaths lists the directories renewd writes for the ready items
// outside what its systemd unit makes writable: the deploy files'
// directories and the webroots, and for a panel its order file's
// directory and the panel nginx's log directories (nginx -t opens its
// logs). The hardened unit makes everything else read-only, so these need
// a ReadWritePaths drop-in (docs/running.md).
func sandboxPaths(items []*Item) []string {
	var out []string
	add := func(p string) {
		if p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	for _, it := range items {
		if !it.Ready() {
			continue
		}
		if b := it.Deploy.Baota; b.Site != "" {
			root := filepath.Dir(b.PanelDir)
			add(b.CertDir())
			add(filepath.Join(b.PanelDir, "config"))
			add("-" + filepath.Join(root, "nginx", "logs"))
			add("-" + filepath.Join(filepath.Dir(root), "wwwlogs"))
		}
		if it.Deploy.Fullchain != "" && it.Deploy.Baota.Site == "" {
			add(filepath.Dir(it.Deploy.Fullchain))
			add(filepath.Dir(it.Deploy.Key))
		}
		add(it.Challenge.HTTP01.Webroot)
	}
	slices.Sort(out)
	return out
}
