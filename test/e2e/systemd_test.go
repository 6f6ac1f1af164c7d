package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// repo is the repository root, seen from this package's directory.
const repo = "../.."

// TestMakeInstall runs scripts/test-install.sh: `make install` into a
// scratch DESTDIR twice (the second must keep a changed configuration),
// `systemd-analyze verify` on the installed unit, then `make uninstall`.
func TestMakeInstall(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"bash", "make", "install", "systemd-analyze"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: the install test needs it (Debian: apt-get install make coreutils systemd)", tool)
		}
	}
	cmd := exec.Command("bash", "scripts/test-install.sh", t.TempDir())
	cmd.Dir = repo
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/test-install.sh: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

// unitFile is a systemd unit: section -> key -> values in file order.
type unitFile map[string]map[string][]string

// parseUnit reads the systemd.syntax(7) subset the unit uses: [Section]
// headers, Key=Value lines, # and ; comments, and backslash continuations.
func parseUnit(t *testing.T, path string) unitFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unitFile{}
	section, pending, lineNo := "", "", 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if pending != "" {
			line = pending + " " + line
			pending = ""
		}
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if s, ok := strings.CutSuffix(line, `\`); ok {
			pending = s
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			t.Fatalf("%s:%d: not a Key=Value line in a section: %q", path, lineNo, line)
		}
		key = strings.TrimSpace(key)
		u[section][key] = append(u[section][key], strings.TrimSpace(value))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

// words is every space-separated word of every value of a list setting.
func (u unitFile) words(section, key string) []string {
	var all []string
	for _, v := range u[section][key] {
		all = append(all, strings.Fields(v)...)
	}
	return all
}

// systemdSeconds parses the time spans the unit uses: "90", "30s", "5min",
// "2min".
func systemdSeconds(t *testing.T, s string) time.Duration {
	t.Helper()
	if regexp.MustCompile(`^[0-9]+$`).MatchString(s) {
		s += "s"
	}
	d, err := time.ParseDuration(strings.Replace(s, "min", "m", 1))
	if err != nil {
		t.Fatalf("time span %q: %v", s, err)
	}
	return d
}

// TestSystemdUnit holds deploy/systemd/renewd.service to what renewd and the
// README rely on. A change here should be a decision, not an accident.
func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	u := parseUnit(t, filepath.Join(repo, "deploy/systemd/renewd.service"))

	// Keys that may appear more than once (lists); any other key repeated
	// would silently override the first.
	lists := map[string]bool{"After": true, "Wants": true, "Documentation": true,
		"ReadWritePaths": true, "CapabilityBoundingSet": true, "SystemCallFilter": true}
	for section, keys := range u {
		for key, values := range keys {
			if len(values) > 1 && !lists[key] {
				t.Errorf("[%s] %s= is set %d times; the last one wins", section, key, len(values))
			}
		}
	}

	exact := []struct{ section, key, want string }{
		{"Service", "Type", "notify"},
		{"Service", "ExecStart", "/usr/local/bin/renewd --config /etc/renewd/renewd.yaml run"},
		{"Service", "ExecReload", "/bin/kill -HUP $MAINPID"},
		{"Service", "Restart", "on-failure"},
		{"Service", "RestartPreventExitStatus", "2"}, // bad configuration
		{"Service", "KillMode", "mixed"},
		{"Service", "EnvironmentFile", "-/etc/renewd/env"},
		{"Service", "StateDirectory", "renewd"},
		{"Service", "StateDirectoryMode", "0700"},
		{"Service", "UMask", "0077"},
		{"Service", "ProtectSystem", "strict"},
		{"Service", "ProtectHome", "yes"},
		{"Service", "PrivateTmp", "yes"},
		{"Service", "NoNewPrivileges", "yes"},
		{"Service", "ProtectKernelTunables", "yes"},
		{"Service", "ProtectKernelModules", "yes"},
		{"Service", "ProtectKernelLogs", "yes"},
		{"Service", "ProtectControlGroups", "yes"},
		{"Service", "RestrictNamespaces", "yes"},
		{"Service", "RestrictRealtime", "yes"},
		{"Service", "LockPersonality", "yes"},
		{"Service", "MemoryDenyWriteExecute", "yes"},
		{"Service", "SystemCallArchitectures", "native"},
		{"Install", "WantedBy", "multi-user.target"},
	}
	for _, e := range exact {
		if got := u[e.section][e.key]; len(got) != 1 || got[0] != e.want {
			t.Errorf("[%s] %s=%q, want %q", e.section, e.key, got, e.want)
		}
	}

	sets := []struct {
		section, key string
		want         []string
	}{
		{"Service", "RestrictAddressFamilies", []string{"AF_INET", "AF_INET6", "AF_UNIX"}},
		// nginx -t opens www-data's log files; deploy.owner chowns. Nothing else:
		// see the unit's comment for why CAP_KILL and CAP_FOWNER are not needed.
		{"Service", "CapabilityBoundingSet", []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE"}},
		{"Service", "ReadWritePaths", []string{"-/etc/nginx/ssl", "-/var/log/nginx", "/run", "/var/lib/renewd"}},
	}
	for _, s := range sets {
		got := u.words(s.section, s.key)
		slices.Sort(got)
		want := slices.Clone(s.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("[%s] %s=%q, want exactly %q", s.section, s.key, got, want)
		}
	}

	// renewd runs as root on purpose (nginx -t needs it); a User= would
	// break the nginx steps in ways only a renewal would show.
	for _, key := range []string{"User", "DynamicUser", "AmbientCapabilities"} {
		if v, ok := u["Service"][key]; ok {
			t.Errorf("[Service] %s=%q is set; the unit is designed for root with a bounded capability set", key, v)
		}
	}

	// The watchdog: renewd pings at half the interval from its loop; under a
	// minute would kill it during a slow DNS propagation check.
	if wd := u["Service"]["WatchdogSec"]; len(wd) != 1 {
		t.Errorf("[Service] WatchdogSec=%q, want one value", wd)
	} else if d := systemdSeconds(t, wd[0]); d < time.Minute || d > 30*time.Minute {
		t.Errorf("[Service] WatchdogSec=%s, want 1min..30min", d)
	}
	// Stopping is bounded, with room for a rollback (nginx test + reload +
	// verify) in flight.
	if ts := u["Service"]["TimeoutStopSec"]; len(ts) != 1 {
		t.Errorf("[Service] TimeoutStopSec=%q, want one value", ts)
	} else if d := systemdSeconds(t, ts[0]); d < time.Minute || d > 5*time.Minute {
		t.Errorf("[Service] TimeoutStopSec=%s, want 1min..5min", d)
	}
	checkDocumentation(t, u.words("Unit", "Documentation"))
	if !slices.Contains(u.words("Unit", "After"), "network-online.target") ||
		!slices.Contains(u.words("Unit", "Wants"), "network-online.target") {
		t.Errorf("[Unit] wants and is ordered after network-online.target: After=%q Wants=%q", u["Unit"]["After"], u["Unit"]["Wants"])
	}
}

// TestSystemdEnvExample checks deploy/systemd/env.example, installed as
// /etc/renewd/env: it ships no value, and documents every ${VAR} the
// example configuration uses.
func TestSystemdEnvExample(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join(repo, "deploy/systemd/env.example"))
	if err != nil {
		t.Fatal(err)
	}
	env := string(data)
	for i, line := range strings.Split(env, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			t.Errorf("env.example:%d: %q is active; ship every variable commented out", i+1, line)
		}
	}
	configs, err := filepath.Glob(filepath.Join(repo, "configs", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	domains, err := filepath.Glob(filepath.Join(repo, "configs", "domains.d", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ref := regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)
	for _, path := range append(configs, domains...) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ref.FindAllStringSubmatch(string(data), -1) {
			if !regexp.MustCompile(`(?m)^#?` + m[1] + `=`).MatchString(env) {
				t.Errorf("%s uses ${%s}, which env.example does not document", path, m[1])
			}
		}
	}
}

// checkDocumentation holds the unit's Documentation= links into this
// repository to a file that exists and a heading that exists in it, so
// `systemctl help renewd` does not open a page without the section.
func checkDocumentation(t *testing.T, links []string) {
	t.Helper()
	const base = "https://github.com/renewd/renewd/blob/main/"
	if len(links) == 0 {
		t.Errorf("[Unit] has no Documentation=")
	}
	for _, link := range links {
		path, anchor, _ := strings.Cut(strings.TrimPrefix(link, base), "#")
		if !strings.HasPrefix(link, base) || path == "" {
			t.Errorf("[Unit] Documentation=%s: want a link to a file under %s", link, base)
			continue
		}
		data, err := os.ReadFile(filepath.Join(repo, filepath.FromSlash(path)))
		if err != nil {
			t.Errorf("[Unit] Documentation=%s: %v", link, err)
			continue
		}
		if anchor != "" && !slices.Contains(headingAnchors(string(data)), anchor) {
			t.Errorf("[Unit] Documentation=%s: %s has no heading with the anchor #%s", link, path, anchor)
		}
	}
}

// headingAnchors are the anchors GitHub gives the Markdown headings of doc
// (lower case, punctuation dropped, spaces as dashes), outside code blocks.
func headingAnchors(doc string) []string {
	doc = regexp.MustCompile("(?s)```.*?```").ReplaceAllString(doc, "")
	drop := regexp.MustCompile(`[^\w\- ]`)
	var out []string
	for _, m := range regexp.MustCompile(`(?m)^#+\s+(.*)$`).FindAllStringSubmatch(doc, -1) {
		h := drop.ReplaceAllString(strings.ToLower(strings.TrimSpace(m[1])), "")
		out = append(out, strings.ReplaceAll(h, " ", "-"))
	}
	return out
}
