package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRecordFIFO: a named pipe where a record should be cannot hang
// renewd: `status` answers at once, and `renew` moves it aside, rebuilds
// that one record from live/, orders nothing and says what it did.
func TestRecordFIFO(t *testing.T) {
	t.Parallel()
	pb, proxy, w := proxiedWorkspace(t, pebbleOpts{})
	w.addCert("shop", listenCert(pb.HTTPPort, "shop.fifo.example.com"))
	w.addCert("blog", listenCert(pb.HTTPPort, "blog.fifo.example.com"))
	w.mustRenew("renew")
	orders := proxy.orders()
	blogBefore := w.state()["blog"]
	rec := filepath.Join(w.storage, "state", "shop.json")
	if err := os.Remove(rec); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(rec, 0o600); err != nil {
		t.Fatal(err)
	}

	res := renewdWithin(t, w, 30*time.Second, "status")
	if res.code != 0 || !strings.Contains(res.stdout, "shop.fifo.example.com") {
		t.Fatalf("status with a FIFO record: %s", res)
	}
	res = renewdWithin(t, w, time.Minute, "renew")
	if res.code != 0 || !strings.Contains(res.stdout, "state/shop.json: not a regular file (a named pipe); moved to state/shop.json.corrupt-") ||
		!strings.Contains(res.stdout, "rebuilt from live/shop") {
		t.Fatalf("renew with a FIFO record: %s", res)
	}
	if fi, err := os.Lstat(rec); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("state/shop.json after the repair: %v, %v", fi, err)
	}
	if got := w.state()["blog"]; got["serial"] != blogBefore["serial"] || got["renew_time"] != blogBefore["renew_time"] {
		t.Errorf("blog's record changed: %v -> %v", blogBefore, got)
	}
	if n := proxy.orders(); n != orders {
		t.Errorf("%d orders after the repair, want %d: a rebuilt record is not due", n, orders)
	}
}

// TestImmutableArchiveOrdersNothing: an archive directory made immutable
// (chattr +i) passes a look at its mode bits but not renewd's probe, so
// the renewal fails before an order is placed and thrown away.
func TestImmutableArchiveOrdersNothing(t *testing.T) {
	t.Parallel()
	chattr, err := exec.LookPath("chattr")
	if err != nil {
		t.Fatalf("chattr (e2fsprogs) is needed: %v", err)
	}
	pb, proxy, w := proxiedWorkspace(t, pebbleOpts{})
	w.addCert("shop", listenCert(pb.HTTPPort, "shop.immutable.example.com"))
	w.mustRenew("renew")
	orders := proxy.orders()
	dir := filepath.Join(w.storage, "archive", "shop")
	if out, err := exec.Command(chattr, "+i", dir).CombinedOutput(); err != nil {
		t.Fatalf("chattr +i: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command(chattr, "-i", dir).Run() })

	res := w.renewd("renew", "--now", "shop")
	if res.code != 1 || !strings.Contains(res.stderr, "cannot write in "+dir) {
		t.Fatalf("renew --now into an immutable archive: %s", res)
	}
	if n := proxy.orders(); n != orders {
		t.Errorf("%d orders, want %d: nothing can be stored, so nothing may be ordered", n, orders)
	}
}
