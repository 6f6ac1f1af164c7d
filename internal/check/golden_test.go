package check

import (
	"bytes"
	"strings"
	"testing"

	"github.com/renewd/renewd/internal/golden"
	"github.com/renewd/renewd/internal/testpki"
)

// renderText is WriteText's output for r, with the test server's random
// port replaced so the text is the same on every run.
func renderText(t *testing.T, r *Report, addr string) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteText(&b, []*Report{r}, false); err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(b.String(), addr, "127.0.0.1:PORT")
}

func TestWriteTextSeveralEndpoints(t *testing.T) {
	p := newPKI(t)
	stored := JudgeStored(testpki.PEM(p.leaf, p.int, p.root), p.leaf.KeyPEM(), []string{"shop.example.com"}, p.opts())
	stored.Target, stored.File = "shop", "/var/lib/renewd/live/shop/fullchain.pem"
	served := Judge(testpki.Certs(p.leaf), "www.shop.example.com", p.opts())
	served.Target, served.Address = "shop", "127.0.0.1:443"
	reports := []*Report{stored, served}
	for _, strict := range []bool{false, true} {
		var b bytes.Buffer
		if err := WriteText(&b, reports, strict); err != nil {
			t.Fatal(err)
		}
		name := "several"
		if strict {
			name += "-strict"
		}
		golden.Compare(t, name, b.String())
	}
}

func TestWriteTextAllPass(t *testing.T) {
	p := newPKI(t)
	r := JudgeStored(testpki.PEM(p.leaf, p.int), p.leaf.KeyPEM(), []string{"shop.example.com", "www.shop.example.com"}, p.opts())
	r.Target, r.File = "shop", "/var/lib/renewd/live/shop/fullchain.pem"
	var b bytes.Buffer
	if err := WriteText(&b, []*Report{r}, true); err != nil {
		t.Fatal(err)
	}
	golden.Compare(t, "stored-pass", b.String())
}
