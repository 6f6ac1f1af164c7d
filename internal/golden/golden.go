// Package golden compares what a test produced with a file under testdata/
// and rewrites that file when the test runs with -update. Every package
// whose tests have golden files uses it, so -update means the same in
// each of them.
package golden

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

// Update is the -update flag: rewrite the golden files instead of
// comparing (and, in test/e2e, the generated blocks of README.md and
// docs/).
var Update = flag.Bool("update", false, "rewrite the golden files in testdata/ (in test/e2e also the generated blocks of README.md and docs/)")

// Compare compares got with testdata/<name>.golden, or writes it there
// with -update. A difference is an error that shows what was produced and
// how to accept it.
func Compare(t testing.TB, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *Update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run '%s' -update creates it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -run '%s' -update rewrites it)\n--- got\n%s--- want\n%s", path, t.Name(), got, want)
	}
}
