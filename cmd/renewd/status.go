package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/cluster"
	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/renew"
	"github.com/renewd/renewd/internal/secret"
	"github.com/renewd/renewd/internal/store"
)

func cmdStatus(g globals, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("status", stderr)
	asJSON := fs.Bool("json", false, "print JSON for machines")
	names, err := parseInterspersed(fs, args)
	if err != nil {
		return flagError(fs, err)
	}
	cfg, err := loadConfigFor(g, names, false, stderr)
	if err != nil {
		return err
	}
	if err := checkNames(cfg, names); err != nil {
		return err
	}
	recs, err := statusRecords(cfg)
	if err != nil {
		return err
	}
	rows := renew.StatusRows(cfg, recs, time.Now().UTC())
	if len(names) > 0 {
		rows = slices.DeleteFunc(rows, func(r renew.Status) bool { return !slices.Contains(names, r.Name) })
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Certificates []renew.Status `json:"certificates"`
		}{rows})
	}
	if len(names) == 1 {
		// The node's own storage: its copy of the versions, on a cluster too.
		st, err := store.OpenReadOnly(cfg.Storage)
		if err != nil {
			return fail(exitUsage, "storage: %v", err)
		}
		c := cfg.Certificate(names[0])
		versions, _ := st.Versions(c.Name)
		printDetail(stdout, c, rows[0], st.LiveDir(c.Name), versions, cfg.ArchiveKeep)
		return nil
	}
	printStatus(stdout, rows)
	return nil
}

func printStatus(w io.Writer, rows []renew.Status) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tDOMAINS\tEXPIRES\tLEFT\tNEXT RENEWAL\tRETRIES\tSERVED\tLAST ERROR")
	for _, r := range rows {
		name := r.Name
		if r.Canary {
			name += " (canary)"
		}
		expires, days := "-", "-"
		if r.NotAfter != nil {
			expires = r.NotAfter.Format(time.RFC3339)
		}
		if r.TimeLeft != "" {
			days = r.TimeLeft
		}
		next := "now"
		if r.NextRenewal != nil && !r.Due {
			next = r.NextRenewal.Format(time.RFC3339)
		}
		next += " (" + r.NextReason + ")"
		retries := fmt.Sprint(r.RetryCount)
		if r.NextRetryTime != nil {
			retries += " (next " + r.NextRetryTime.Format(time.RFC3339) + ")"
		}
		served := "-" // no deploy to nginx verified yet
		switch r.ServedChain {
		case "complete":
			served = "complete"
		case "incomplete":
			served = "INCOMPLETE"
		}
		if len(r.Repaired) > 0 {
			served += " (CA chain repaired)" // status NAME says what was fixed
		}
		lastErr := firstLine(secret.Mask(r.LastError)) // a record of an older renewd may hold a secret
		if r.HeldBy != "" {
			lastErr = "held: " + firstLine(r.HeldReason)
		}
		if lastErr == "" {
			lastErr = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, strings.Join(r.Domains, ","), expires, days, next, retries, served, lastErr)
	}
	_ = tw.Flush()
}

// firstLine is the first line of s. last_error is one line already: the
// last column shows it whole, cause included (renewd status NAME shows
// the whole text).
func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// statusRecords reads the records status shows: the cluster's from etcd on
// a cluster node, else the local storage's. status changes nothing on disk
// and never takes the lock: it must answer while a renewal runs, as any
// user that can read the storage.
func statusRecords(cfg *config.Config) (map[string]*store.Record, error) {
	if cfg.Cluster.Enabled() {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.Cluster.Etcd.DialTimeout+10*time.Second)
		defer cancel()
		cli, err := cluster.Connect(ctx, cfg.Cluster, zap.NewNop())
		if err != nil {
			return nil, fail(exitFailed, "cluster: %v", err)
		}
		defer cli.Close()
		recs, err := cluster.ReadRecords(ctx, cli, cfg.Cluster.Prefix)
		if err != nil {
			return nil, fail(exitFailed, "cluster: %v", err)
		}
		return recs, nil
	}
	st, err := store.OpenReadOnly(cfg.Storage)
	if err != nil {
		return nil, fail(exitUsage, "storage: %v", err)
	}
	recs, _, err := st.Records()
	if err != nil {
		return nil, fail(exitFailed, "%v", err)
	}
	return recs, nil
}
