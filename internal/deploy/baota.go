package deploy

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/store"
)

// The BaoTa (aaPanel) deploy target. deploy.baota makes config point
// deploy.fullchain and deploy.key at the site's
// <panel_dir>/vhost/cert/<site>/{fullchain,privkey}.pem, which the panel's
// nginx configuration reads, so installing, rolling back and proving the
// served chain are the same as for any deploy. What is particular to the
// panel is its record of the certificate, config/letsencrypt_v2.json
// (written by the panel's class/acme_v2.py, save_config): once nginx is
// proven to serve the new certificate, renewd updates the panel's order
// for these domains, so the panel shows the right expiry and does not
// renew over renewd's certificate. docs/deploy.md lists the fields.

// baotaOrders is the panel's file of ACME orders, relative to panel_dir.
const baotaOrders = "config/letsencrypt_v2.json"

const (
	// maxBaotaOrders bounds the panel's order file; it holds a few
	// kilobytes per order.
	maxBaotaOrders = 16 << 20
	// baotaLockWait bounds the wait for the panel's lock on the file,
	// which the panel holds only while it writes.
	baotaLockWait = 10 * time.Second
	baotaLockPoll = 50 * time.Millisecond
)

// baota updates the panel's order for a deployed item; nil when the item
// does not deploy into a panel site.
func (d *Deployer) baota(ctx context.Context, it *Item) error {
	b := it.Deploy.Baota
	if b.Site == "" {
		return nil
	}
	n, err := UpdateBaotaOrders(ctx, b, it.Domains, it.Leaf, d.now())
	if err != nil {
		return fmt.Errorf("baota: %w", err)
	}
	if n == 0 {
		d.step(it.Name, "baota", fmt.Sprintf("no panel order for %s in %s: nothing to update", joinNames(it.Domains), filepath.Join(b.PanelDir, baotaOrders)))
		return nil
	}
	detail := fmt.Sprintf("%d panel order(s) updated: expires %s", n, it.Leaf.NotAfter.UTC().Format(time.RFC3339))
	if flag := filepath.Join(b.PanelDir, "data", "close_ssl_auto_renewal.pl"); !exists(flag) {
		detail += fmt.Sprintf("; the panel's own renewal is still on: `echo 1 > %s` turns it off", flag)
	}
	d.step(it.Name, "baota", detail)
	return nil
}

// UpdateBaotaOrders brings the panel's orders for domains in line with
// leaf, the certificate now deployed into site b, and returns how many
// orders it changed. An order is the panel's if its "domains" are the same
// set as domains, or its "save_path" is the site's certificate directory
// (renewd set it before). For each, renewd writes:
//
//	domains          the certificate's domains
//	cert_timeout     leaf's notAfter, in Unix seconds (the panel renews
//	                 when this is less than 30 days away)
//	renew_time       now, in Unix seconds
//	save_path        vhost/cert/<site>, relative to panel_dir as the panel
//	                 writes it: where the certificate files are
//	retry_count      0
//	next_retry_time  0
//
// Every other field and every other order is kept as it was. The file is
// read and replaced under the panel's own lock (flock on the file), with a
// temporary file renamed over it, so it is never seen truncated or half
// written, and keeps its mode and owner. A missing file, or no order for
// these domains, is not an error: the panel has nothing to renew then.
func UpdateBaotaOrders(ctx context.Context, b config.Baota, domains []string, leaf *x509.Certificate, now time.Time) (int, error) {
	path := filepath.Join(b.PanelDir, baotaOrders)
	f, err := openBaotaOrders(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if err := lockFile(ctx, f, path); err != nil {
		return 0, err
	}
	defer unix.Flock(int(f.Fd()), unix.LOCK_UN) //nolint:errcheck // closing releases it too
	data, fi, err := readOrders(f, path)
	if err != nil {
		return 0, err
	}
	out, n, err := updateOrders(data, baotaSavePath(b), domains, leaf, now)
	if err != nil || n == 0 {
		return 0, err
	}
	uid, gid := -1, -1
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		uid, gid = int(st.Uid), int(st.Gid)
	}
	if err := store.WriteFileOwned(path, out, fi.Mode().Perm(), uid, gid); err != nil {
		return 0, err
	}
	return n, nil
}

// baotaSavePath is the order's save_path for site b, as the panel writes
// it: relative to panel_dir, where the panel runs.
func baotaSavePath(b config.Baota) string { return "vhost/cert/" + b.Site }

func openBaotaOrders(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%s is a symlink; renewd only replaces the panel's own file", path)
	}
	return f, err
}

func readOrders(f *os.File, path string) ([]byte, os.FileInfo, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s is not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxBaotaOrders+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxBaotaOrders {
		return nil, nil, fmt.Errorf("%s is larger than %d bytes", path, maxBaotaOrders)
	}
	return data, fi, nil
}

// lockFile takes the exclusive flock the panel takes while it writes,
// waiting at most baotaLockWait.
func lockFile(ctx context.Context, f *os.File, path string) error {
	ctx, cancel := context.WithTimeout(ctx, baotaLockWait)
	defer cancel()
	t := time.NewTicker(baotaLockPoll)
	defer t.Stop()
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR):
			return fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lock %s: the panel kept it locked for %s", path, baotaLockWait)
		case <-t.C:
		}
	}
}

// updateOrders is the pure part of UpdateBaotaOrders: it returns the new
// file and the number of orders changed.
func updateOrders(data []byte, savePath string, domains []string, leaf *x509.Certificate, now time.Time) ([]byte, int, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil || top == nil {
		return nil, 0, fmt.Errorf("%s is not a JSON object (%v); fix or remove it in the panel first", baotaOrders, err)
	}
	var orders map[string]map[string]json.RawMessage
	if raw, ok := top["orders"]; ok {
		if err := json.Unmarshal(raw, &orders); err != nil {
			return nil, 0, fmt.Errorf("%s: orders is not an object of orders: %w", baotaOrders, err)
		}
	}
	n := 0
	for _, o := range orders {
		if o == nil || !baotaOrderMatches(o, savePath, domains) {
			continue
		}
		set := map[string]any{
			"domains": domains, "cert_timeout": leaf.NotAfter.Unix(), "renew_time": now.Unix(),
			"save_path": savePath, "retry_count": 0, "next_retry_time": 0,
		}
		for k, v := range set {
			o[k], _ = json.Marshal(v)
		}
		n++
	}
	if n == 0 {
		return nil, 0, nil
	}
	raw, err := json.Marshal(orders)
	if err != nil {
		return nil, 0, err
	}
	top["orders"] = raw
	out, err := json.Marshal(top)
	return out, n, err
}

// baotaOrderMatches reports whether a panel order is for this certificate.
func baotaOrderMatches(o map[string]json.RawMessage, savePath string, domains []string) bool {
	var sp string
	if json.Unmarshal(o["save_path"], &sp) == nil && strings.TrimSuffix(sp, "/") == savePath {
		return true
	}
	var ds []string
	if json.Unmarshal(o["domains"], &ds) != nil {
		return false
	}
	return config.SameDomains(ds, domains)
}

// preflightBaota checks, before an order, that the panel's order file is
// one renewd can update after the deploy: a regular JSON object (or none).
func preflightBaota(d config.Deploy) error {
	if d.Baota.Site == "" {
		return nil
	}
	path := filepath.Join(d.Baota.PanelDir, baotaOrders)
	f, err := openBaotaOrders(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	defer f.Close()
	data, _, err := readOrders(f, path)
	if err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil || top == nil {
		return fmt.Errorf("deploy: %s is not a JSON object; fix or remove it in the panel first", path)
	}
	return nil
}

func joinNames(domains []string) string { return strings.Join(domains, ", ") }

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
