package e2e

import (
	"crypto/x509"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/renewd/renewd/internal/chain"
)

// update rewrites the golden files in testdata/ and the generated blocks
// of the docs from what the real binary printed.
var update = flag.Bool("update", false, "rewrite testdata/*.golden and the generated blocks of README.md and docs/")

// compareGolden compares got with testdata/<name>.golden, or rewrites it
// with -update.
func compareGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./test/e2e -run %s -update creates it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test ./test/e2e -run %s -update rewrites it)\n--- got\n%s--- want\n%s", path, t.Name(), got, want)
	}
}

func parseCerts(pemData []byte) ([]*x509.Certificate, error) { return chain.ParsePEM(pemData) }

// generatedBlock finds a block of a doc made from a golden file:
//
//	<!-- generated from test/e2e/testdata/NAME.golden -->
//	```
//	...
//	```
var generatedBlock = regexp.MustCompile("(?s)<!-- generated from test/e2e/testdata/([a-z0-9-]+)\\.golden -->\n```[a-z]*\n(.*?)```")

// TestDocsShowGoldenOutput: every block of README.md and docs/*.md marked
// as generated from a golden file holds that file's text, so the outputs
// the docs show are what the binary prints (the tests that write the
// golden files run it). -update rewrites the blocks.
func TestDocsShowGoldenOutput(t *testing.T) {
	docs, _ := filepath.Glob("../../docs/*.md")
	docs = append(docs, "../../README.md")
	found := 0
	for _, doc := range docs {
		data, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		out := generatedBlock.ReplaceAllStringFunc(text, func(block string) string {
			found++
			m := generatedBlock.FindStringSubmatch(block)
			golden, err := os.ReadFile(filepath.Join("testdata", m[1]+".golden"))
			if err != nil {
				t.Errorf("%s: %v", doc, err)
				return block
			}
			if m[2] != string(golden) && !*update {
				t.Errorf("%s: the block from %s.golden differs from it (go test ./test/e2e -run TestDocsShowGoldenOutput -update rewrites it)", doc, m[1])
			}
			return strings.Replace(block, m[2], string(golden), 1)
		})
		if *update && out != text {
			if err := os.WriteFile(doc, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if found == 0 {
		t.Error("no generated block in README.md or docs/")
	}
}
