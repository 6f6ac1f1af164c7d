package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeTree writes files (paths relative to a new temp dir, "/" separated)
// and returns the dir. A name ending in "/" makes an empty directory.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// envMap is an Options.LookupEnv over a fixed map, so tests do not depend on
// the process environment.
func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// errorLines returns the messages of a Load error, one per FieldError, with
// dir + "/" removed so expectations can use relative file names.
func errorLines(t *testing.T, err error, dir string) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("Load error is %T, not an errors.Join: %v", err, err)
	}
	var lines []string
	for _, e := range joined.Unwrap() {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Errorf("error %T is not a *FieldError: %v", e, e)
		}
		lines = append(lines, strings.ReplaceAll(e.Error(), dir+string(filepath.Separator), ""))
	}
	return lines
}

// loadTree writes files, loads renewd.yaml from them and returns the config
// and the error lines.
func loadTree(t *testing.T, files map[string]string, opts Options) (*Config, []string, string) {
	t.Helper()
	dir := writeTree(t, files)
	if opts.LookupEnv == nil {
		opts.LookupEnv = envMap(nil)
	}
	c, err := Load(filepath.Join(dir, "renewd.yaml"), opts)
	if err == nil && c == nil {
		t.Fatal("Load returned neither a config nor an error")
	}
	if err != nil && c != nil {
		t.Error("Load returned a config with an error")
	}
	return c, errorLines(t, err, dir), dir
}

// mustLoad loads files and fails the test on any error.
func mustLoad(t *testing.T, files map[string]string, opts Options) (*Config, string) {
	t.Helper()
	c, errs, dir := loadTree(t, files, opts)
	if len(errs) > 0 {
		t.Fatalf("Load: unexpected errors:\n%s", strings.Join(errs, "\n"))
	}
	return c, dir
}

func diffLines(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\ngot:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

// testRoot returns testdata/root.pem, a self-signed CA certificate for
// ca_certificates and extra_roots.
func testRoot(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "root.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
