package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"
)

// cmdRemove is `renewd remove NAME [--purge]`: renewd stops managing NAME.
// Its file in domains.d becomes NAME.yaml.removed (kept for a person to
// restore, never loaded) and its record goes; with --purge, live/NAME and
// archive/NAME go too. Deployed files stay: nginx may still read them.
func cmdRemove(g globals, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("remove", stderr)
	purge := fs.Bool("purge", false, "also delete its certificates and keys from renewd's storage (live/ and archive/)")
	wait := fs.Duration("wait", 5*time.Minute, "how long to wait for a renewal another renewd process is running")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return flagError(fs, err)
	}
	if len(pos) != 1 {
		printUsage(fs)
		return &exitError{code: exitUsage}
	}
	name := pos[0]
	cfg, err := loadConfigFor(g, pos, false, stderr)
	if err != nil {
		return err
	}
	if err := checkNames(cfg, pos); err != nil {
		return err
	}
	c := cfg.Certificate(name)
	if cfg.Cluster.Enabled() {
		// Every node reads its own config directory and the records live
		// in etcd; one node cannot stop the others. See docs/cluster.md.
		return fail(exitUsage, "%s: renewd remove does not work on a cluster node yet; to stop managing it, move %s out of the config directory on every node and reload each (systemctl reload renewd)", name, c.File)
	}
	st, release, err := lockedStore(context.Background(), cfg.Storage, *wait, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = release() }()

	// The file first: once it is gone no renewal picks NAME up again,
	// whatever fails after.
	kept := c.File + ".removed"
	if err := os.Rename(c.File, kept); err != nil {
		return fail(exitFailed, "stop managing %s: %v", name, err)
	}
	fmt.Fprintf(stdout, "%s: no longer managed; its file is now %s (rename it back to manage it again)\n", name, kept)
	if err := st.DeleteRecord(name); err != nil {
		return fail(exitFailed, "its record: %v", err)
	}
	if *purge {
		if err := st.Purge(name); err != nil {
			return fail(exitFailed, "purge: %v", err)
		}
		fmt.Fprintf(stdout, "%s: its certificates and keys are deleted from %s\n", name, st.Dir())
	} else {
		fmt.Fprintf(stdout, "%s: its certificates stay in %s (renewd remove %s --purge deletes them)\n", name, st.LiveDir(name), name)
	}
	if c.Deploy.Fullchain != "" {
		fmt.Fprintf(stdout, "%s: the deployed files %s and %s stay: nginx may still use them\n", name, c.Deploy.Fullchain, c.Deploy.Key)
	}
	fmt.Fprintln(stdout, "A running renewd run forgets it at its next reload (systemctl reload renewd).")
	return nil
}
