package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/renewd/renewd/internal/golden"
)

// loadExamples loads the shipped configs/ with the variables the DNS-01
// example needs and a CheckDNSProvider fake that knows alidns.
func loadExamples(t *testing.T) (*Config, []string) {
	t.Helper()
	t.Setenv("ALICLOUD_ACCESS_KEY", "LTAI-example-access-key")
	t.Setenv("ALICLOUD_SECRET_KEY", "example-secret-key/with:odd\"chars")
	var checked []string
	c, err := Load(filepath.Join("..", "..", "configs", "renewd.yaml"), Options{
		CheckDNSProvider: func(provider string, env map[string]string) error {
			if provider != "alidns" {
				return ErrUnknownDNSProvider
			}
			for _, k := range []string{"ALICLOUD_ACCESS_KEY", "ALICLOUD_SECRET_KEY"} {
				if env[k] == "" {
					t.Errorf("alidns env %s is empty", k)
				}
			}
			checked = append(checked, provider)
			return nil
		},
	})
	if err != nil {
		t.Fatalf("configs/ does not load:\n%v", err)
	}
	return c, checked
}

func TestExamplesLoad(t *testing.T) {
	c, checked := loadExamples(t)
	if len(checked) != 1 {
		t.Errorf("CheckDNSProvider called %d times, want 1", len(checked))
	}
	shop, wild := c.Certificate("shop"), c.Certificate("wildcard")
	if shop == nil || wild == nil {
		t.Fatalf("certificates = %v, want shop and wildcard", c.Certificates)
	}
	if shop.Challenge.Type != "http-01" || shop.Challenge.HTTP01.Listen == "" || !shop.Deploy.Nginx {
		t.Errorf("shop = %+v, want http-01 behind nginx", shop)
	}
	if wild.Challenge.Type != "dns-01" || wild.Challenge.DNS01.Provider != "alidns" || wild.Domains[0] != "*.example.com" {
		t.Errorf("wildcard = %+v, want a dns-01 alidns wildcard", wild)
	}
	if got := wild.Challenge.DNS01.Env["ALICLOUD_SECRET_KEY"]; got != os.Getenv("ALICLOUD_SECRET_KEY") {
		t.Errorf("ALICLOUD_SECRET_KEY was not expanded: %q", got)
	}
}

func TestExamplesNeedTheirVariables(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join("..", "..", "configs"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Load(filepath.Join(dir, "renewd.yaml"), Options{LookupEnv: envMap(nil)})
	diffLines(t, errorLines(t, err, dir), []string{
		"domains.d/wildcard.yaml:13: challenge.dns01.env.ALICLOUD_ACCESS_KEY: environment variable ALICLOUD_ACCESS_KEY is not set; set it (for example in the systemd EnvironmentFile) or write $$ for a literal $",
		"domains.d/wildcard.yaml:14: challenge.dns01.env.ALICLOUD_SECRET_KEY: environment variable ALICLOUD_SECRET_KEY is not set; set it (for example in the systemd EnvironmentFile) or write $$ for a literal $",
	})
}

// TestEffectiveGolden pins the output of `renewd config check` for the
// shipped examples. Run with -update after a deliberate change.
func TestEffectiveGolden(t *testing.T) {
	c, _ := loadExamples(t)
	out, err := c.Effective()
	if err != nil {
		t.Fatal(err)
	}
	configs := filepath.Dir(c.Path)
	got := strings.ReplaceAll(string(out), configs, "/etc/renewd")
	for _, secret := range []string{os.Getenv("ALICLOUD_ACCESS_KEY"), os.Getenv("ALICLOUD_SECRET_KEY")} {
		if strings.Contains(got, secret) {
			t.Errorf("Effective shows the secret %q", secret)
		}
	}
	golden.Compare(t, "effective", got)
}

func TestEffectiveShowsWhatRenewdUses(t *testing.T) {
	c, dir := mustLoad(t, map[string]string{
		"renewd.yaml":      "retry: {initial: 90s, max: 1d12h}\nnginx: {verify: {timeout: 1500ms}}\n",
		"domains.d/a.yaml": "domains: [Bücher.example]\nrenew_before: 30d\n" + httpChallenge,
	}, Options{})
	out, err := c.Effective()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"file: " + filepath.Join(dir, "renewd.yaml") + "\n",
		"  - file: " + filepath.Join(dir, "domains.d", "a.yaml") + "\n",
		"domains_dir: " + filepath.Join(dir, "domains.d") + "\n",
		"initial: 1m30s\n", "max: 36h\n", "timeout: 1.5s\n", "renew_before: 720h\n",
		"domains: [xn--bcher-kva.example]\n", "key_type: ec256\n",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("Effective lacks %q", want)
		}
	}
	// The block of the challenge type not in use is left out.
	if strings.Contains(string(out), "dns01:") {
		t.Errorf("Effective shows dns01 for an http-01 certificate:\n%s", out)
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		desc string
		in   string
		want string
	}{
		{"zero", "0", "0s"},
		{"seconds", "90s", "1m30s"},
		{"minutes", "5m", "5m"},
		{"hours", "24h", "24h"},
		{"days", "30d", "720h"},
		{"mixed", "1h30m", "1h30m"},
		{"fraction", "1500ms", "1.5s"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			d, err := parseDuration(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			got := formatDuration(d)
			if got != tt.want {
				t.Errorf("formatDuration(%v) = %q, want %q", d, got, tt.want)
			}
			if back, err := parseDuration(got); err != nil || back != d {
				t.Errorf("parseDuration(%q) = %v, %v; want %v", got, back, err, d)
			}
		})
	}
}

func TestFieldErrorString(t *testing.T) {
	tests := []struct {
		desc string
		err  FieldError
		want string
	}{
		{"everything", FieldError{File: "/etc/renewd/domains.d/shop.yaml", Line: 4, Field: "challenge.type", Msg: `"http01" is not valid; use http-01 or dns-01`},
			`/etc/renewd/domains.d/shop.yaml:4: challenge.type: "http01" is not valid; use http-01 or dns-01`},
		{"no line", FieldError{File: "/etc/renewd/renewd.yaml", Field: "domains_dir", Msg: "missing"}, "/etc/renewd/renewd.yaml: domains_dir: missing"},
		{"no field", FieldError{File: "/etc/renewd/renewd.yaml", Line: 3, Msg: "invalid YAML"}, "/etc/renewd/renewd.yaml:3: invalid YAML"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}
