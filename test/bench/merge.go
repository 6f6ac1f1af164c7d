//go:build bench

package main

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"slices"
)

// mergeInto puts the parts res measured into the results of an earlier
// run, read from path, and returns them: the other parts keep their
// figures, and the earlier run's date, machine and notes stay, with res's
// date, renewd version and load averages recorded under Later. Without a
// file at path res is all there is.
func mergeInto(path string, res *Result, only []string) *Result {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return res
	}
	if err != nil {
		fatalf("%v", err)
	}
	var old Result
	if err := json.Unmarshal(data, &old); err != nil {
		fatalf("%s: %v (without -only the run rewrites it whole)", path, err)
	}
	for _, p := range only {
		mergePart(&old, res, p)
	}
	var later []LaterRun
	for _, l := range old.Later {
		l.Parts = slices.DeleteFunc(l.Parts, func(p string) bool { return slices.Contains(only, p) })
		if len(l.Parts) > 0 {
			later = append(later, l)
		}
	}
	old.Later = append(later, LaterRun{Parts: only, Date: res.Date, Renewd: res.Machine.Versions[after+" version"],
		LoadBefore: res.Machine.LoadBefore, LoadAfter: res.Machine.LoadAfter})
	for k, v := range res.Machine.Versions {
		if _, ok := old.Machine.Versions[k]; !ok {
			old.Machine.Versions[k] = v
		}
	}
	return &old
}

// mergePart copies one part's figures and settings from res into old.
func mergePart(old, res *Result, part string) {
	o, n := &old.Settings, &res.Settings
	switch part {
	case "renew-all":
		old.RenewAll = res.RenewAll
		o.Ns, o.Clients, o.LegoMax, o.Renewd, o.Lego, o.Certbot = n.Ns, n.Clients, n.LegoMax, n.Renewd, n.Lego, n.Certbot
	case "scale":
		old.Scale, o.Scale, o.ScaleConfig = res.Scale, n.Scale, n.ScaleConfig
	case "storm":
		old.Storm, o.Storm = res.Storm, n.Storm
	case "idle":
		old.Idle, old.InitTrace = res.Idle, res.InitTrace
		o.IdleCerts, o.IdleSeconds, o.IdleSource = n.IdleCerts, n.IdleSeconds, n.IdleSource
	case "plan":
		old.Plan, o.PlanCerts, o.PlanRuns = res.Plan, n.PlanCerts, n.PlanRuns
	case "state":
		old.StateIO, o.StateDue = res.StateIO, n.StateDue
	case "gobench":
		old.GoBench = res.GoBench
	case "build":
		old.Build = res.Build
	case "cluster":
		old.Cluster, o.Cluster = res.Cluster, n.Cluster
	}
}
