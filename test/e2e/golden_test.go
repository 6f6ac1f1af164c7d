package e2e

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/internal/golden"
)

func parseCerts(pemData []byte) ([]*x509.Certificate, error) { return chain.ParsePEM(pemData) }

// generatedBlock finds a block of a doc made from a golden file:
//
//	<!-- generated from test/e2e/testdata/NAME.golden -->
//	```
//	...
//	```
var generatedBlock = regexp.MustCompile("(?s)(<!-- generated from test/e2e/testdata/([a-z0-9-]+)\\.golden -->\n```[a-z]*\n)(.*?)(```)")

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
			head, name, body, fence := m[1], m[2], m[3], m[4]
			want, err := os.ReadFile(filepath.Join("testdata", name+".golden"))
			if err != nil {
				t.Errorf("%s: %v", doc, err)
				return block
			}
			if body != string(want) && !*golden.Update {
				t.Errorf("%s: the block from %s.golden differs from it (go test ./test/e2e -run TestDocsShowGoldenOutput -update rewrites it)", doc, name)
			}
			return head + string(want) + fence
		})
		if *golden.Update && out != text {
			if err := os.WriteFile(doc, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if found == 0 {
		t.Error("no generated block in README.md or docs/")
	}
}

// TestHelpGolden: what the built binary prints for --help, the main usage
// and each command's, as the docs show it (testdata/help-*.golden).
func TestHelpGolden(t *testing.T) {
	t.Parallel()
	w := &workspace{t: t, config: "/etc/renewd/renewd.yaml"}
	for _, args := range [][]string{{"--help"}, {"renew", "--help"}, {"status", "--help"}, {"config", "check", "--help"},
		{"add", "--help"}, {"revoke", "--help"}, {"remove", "--help"}, {"providers", "--help"}} {
		res := w.run(env.renewd, nil, args...)
		if res.code != 0 || res.stderr != "" {
			t.Fatalf("renewd %v: %s", args, res)
		}
		name := "help-main"
		if args[0] != "--help" {
			name = "help-" + args[0]
		}
		golden.Compare(t, name, "$ renewd "+strings.Join(args, " ")+"\n"+res.stdout)
	}
}
