package importer

import (
	"fmt"
	"path/filepath"
	"strings"
)

// stopLines says how to stop the other tool renewing what renewd takes
// over, so two tools never renew the same names: per certificate where
// the tool can, and for the whole tool.
func stopLines(source, dir string, items []*Item) []string {
	var ready []*Item
	for _, it := range items {
		if it.Ready() || it.Skip != "" {
			ready = append(ready, it)
		}
	}
	if len(ready) == 0 {
		return nil
	}
	switch source {
	case "certbot":
		return stopCertbot(ready)
	case "acme.sh":
		return stopAcmeSh(dir, ready)
	case "baota":
		return stopBaota(dir)
	}
	return nil
}

func stopCertbot(items []*Item) []string {
	out := []string{"certbot renews every lineage whose renewal/<name>.conf exists. Move each one renewd took over aside (certbot reads only *.conf; the files nginx reads stay):"}
	for _, it := range items {
		out = append(out, fmt.Sprintf("  mv %s %s.renewd-imported", it.Origin, it.Origin))
	}
	return append(out,
		"Or stop certbot altogether: systemctl disable --now certbot.timer (Debian's timer), and without systemd comment out /etc/cron.d/certbot.",
		"Do not run `certbot delete` for these lineages: it removes the files in live/ that nginx reads and renewd now writes.")
}

func stopAcmeSh(home string, items []*Item) []string {
	out := []string{"acme.sh renews everything its daily cron job finds. Tell it to forget each certificate renewd took over (it keeps the files):"}
	for _, it := range items {
		ecc := ""
		if strings.HasSuffix(filepath.Base(filepath.Dir(it.Origin)), acmeshEccDir) {
			ecc = " --ecc"
		}
		out = append(out, fmt.Sprintf("  %s/acme.sh --home %s --remove -d %s%s", home, home, it.Domains[0], ecc))
	}
	return append(out, fmt.Sprintf("Or stop acme.sh altogether: %s/acme.sh --uninstall-cronjob (its crontab line runs %s/acme.sh --cron --home %s).", home, home, home))
}

func stopBaota(panel string) []string {
	flag := filepath.Join(panel, "data", "close_ssl_auto_renewal.pl")
	return []string{
		"Turn off the panel's own Let's Encrypt renewal (the switch the panel's SSL page sets):",
		"  echo 1 > " + flag,
		"The panel then deletes its daily cron task \"续签Let's Encrypt证书\" (Renew Let's Encrypt Certificate) the next time it checks it; or delete the task under 计划任务 (Cron) yourself.",
		"Keep the sites' SSL settings as they are: renewd writes the files the panel's nginx configuration reads, and updates the panel's order so it shows the new expiry.",
	}
}
