package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTakeoverUsage: audit and import refuse bad usage with exit 2 and the
// usage line, before reading anything.
func TestTakeoverUsage(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "renewd.yaml")
	if err := os.WriteFile(cfg, []byte("storage: "+filepath.Join(dir, "storage")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "domains.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		desc string
		args []string
		want string
	}{
		{"audit without what", []string{"audit"}, auditUsage},
		{"audit of apache", []string{"audit", "apache"}, auditUsage},
		{"audit with a bad timeout", []string{"audit", "nginx", "--timeout", "0s"}, "--timeout 0s"},
		{"import without a tool", []string{"import"}, importUsage},
		{"import of an unknown tool", []string{"import", "caddy"}, `"caddy" is not a tool renewd imports from`},
		{"import with two directories", []string{"import", "certbot", "/a", "/b"}, importUsage},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), append([]string{"--config", cfg}, tc.args...), &out, &errb)
			if code != exitUsage || !strings.Contains(errb.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 with %q", code, errb.String(), tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "storage")); !os.IsNotExist(err) {
		t.Errorf("a usage error touched the storage: %v", err)
	}
}

// TestImportDryRunWritesNothing: a dry run of an import whose directory is
// not the tool's fails clearly and leaves no trace.
func TestImportDryRunWritesNothing(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "renewd.yaml")
	if err := os.WriteFile(cfg, []byte("storage: "+filepath.Join(dir, "storage")+"\nnginx: {test: [/bin/false, -t]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "domains.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"--config", cfg, "import", "certbot", dir}, &out, &errb)
	if code != exitFailed || !strings.Contains(errb.String(), "is not certbot's configuration directory") {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("the directory now holds %d entries", len(entries))
	}
}
