package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/cluster"
)

// cmdCluster is `renewd cluster status [--json]`.
func cmdCluster(ctx context.Context, g globals, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("cluster status", stderr)
	asJSON := fs.Bool("json", false, "print JSON for machines")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return flagError(fs, err)
	}
	if len(pos) != 1 || pos[0] != "status" {
		printUsage(fs)
		return &exitError{code: exitUsage}
	}
	cfg, err := loadConfig(g)
	if err != nil {
		return err
	}
	if !cfg.Cluster.Enabled() {
		return fail(exitUsage, "%s has no cluster block: this renewd works alone (see docs/cluster.md)", cfg.Path)
	}
	cctx, cancel := context.WithTimeout(ctx, cfg.Cluster.Etcd.DialTimeout+10*time.Second)
	defer cancel()
	cli, err := cluster.Connect(cctx, cfg.Cluster, zap.NewNop())
	if err != nil {
		return fail(exitFailed, "cluster: %v", err)
	}
	defer cli.Close()
	o, err := cluster.ReadOverview(cctx, cli, cfg.Cluster.Prefix)
	if err != nil {
		return fail(exitFailed, "cluster: %v", err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(o)
	}
	printOverview(stdout, o)
	return nil
}

func printOverview(w io.Writer, o *cluster.Overview) {
	fmt.Fprintf(w, "leader: %s\n\n", orNone(o.Leader))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tALIVE\tLAST SEEN")
	var names []string
	for _, n := range o.Nodes {
		seen := "-"
		if n.LastSeen != nil {
			seen = n.LastSeen.UTC().Format(time.RFC3339)
		}
		alive := "no"
		if n.Alive {
			alive = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", n.Name, alive, seen)
		names = append(names, n.Name)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "CERTIFICATE\tVERSION\t%s\n", strings.Join(names, "\t"))
	for _, c := range o.Certificates {
		cells := []string{c.Name, c.Version}
		for _, n := range names {
			v, ok := c.Served[n]
			switch {
			case !ok:
				cells = append(cells, "-")
			case v.Verdict == cluster.VerdictComplete && v.Version == c.Version:
				cells = append(cells, "serves "+v.Version)
			case v.Verdict == cluster.VerdictComplete:
				cells = append(cells, "behind: "+v.Version)
			default:
				cells = append(cells, strings.ToUpper(v.Verdict)+" "+v.Version)
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	_ = tw.Flush()
}
