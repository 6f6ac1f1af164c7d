//go:build bench

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// --- planning at scale ---

type PlanResult struct {
	Binary     string            `json:"binary"`
	Certs      int               `json:"certs"`
	PrepareS   float64           `json:"prepare_s"`
	StateBytes int64             `json:"state_json_bytes"`
	Commands   map[string]Timing `json:"commands"`
	// Ticks are the daemon's scheduling passes with nothing due, as
	// `renewd run` logs them ("renewal pass done", duration), after its
	// startup pass; TickMedianS is their median.
	Ticks       []float64 `json:"daemon_ticks_s,omitempty"`
	TickMedianS float64   `json:"daemon_tick_median_s,omitempty"`
	Error       string    `json:"error,omitempty"`
}

// Timing is several runs of one command.
type Timing struct {
	Command     string  `json:"command"`
	Runs        []Usage `json:"runs"`
	MedianWallS float64 `json:"median_wall_s"`
	MinWallS    float64 `json:"min_wall_s"`
	MedianCPUS  float64 `json:"median_cpu_s"`
	MaxRSSKiB   int64   `json:"max_rss_kib"`
	Rows        int     `json:"rows,omitempty"`
}

func planning(o options, c *ca, binary string) *PlanResult {
	r := &PlanResult{Binary: binary, Certs: o.planCerts, Commands: map[string]Timing{}}
	dir := mkdir(o.work, "plan-"+binary)
	logf("planning %s: generating %d configured certificates and their state.json", binary, o.planCerts)
	start := time.Now()
	cfg := genState(dir, o.planCerts, c)
	r.PrepareS = time.Since(start).Seconds()
	if fi, err := os.Stat(filepath.Join(dir, "storage", "state.json")); err == nil {
		r.StateBytes = fi.Size()
	}
	renewd := filepath.Join(o.bin, binary)
	logFile := filepath.Join(dir, "plan.log")
	warmUp(renewd, cfg, logFile)
	for _, cmd := range []struct {
		key  string
		args []string
	}{
		{"status_json", []string{"status", "--json"}},
		{"status", []string{"status"}},
		{"renew_pass", []string{"renew"}},
	} {
		t := Timing{Command: "renewd " + strings.Join(cmd.args, " ")}
		for i := range o.planRuns {
			outFile := filepath.Join(dir, cmd.key+".out")
			out, err := os.Create(outFile)
			if err != nil {
				fatalf("%v", err)
			}
			errf := openLog(logFile)
			u, err := runFiles(out, errf, []string{"RENEWD_CONFIG="}, 10*time.Minute, renewd, append([]string{"--config", cfg}, cmd.args...)...)
			out.Close()
			errf.Close()
			if err != nil {
				r.Error = fmt.Sprintf("%s: %v", t.Command, err)
				logf("  %s", r.Error)
				break
			}
			t.Runs = append(t.Runs, u)
			t.MaxRSSKiB = max(t.MaxRSSKiB, u.MaxRSSKiB)
			if i == 0 {
				t.Rows = countRows(cmd.key, outFile)
			}
		}
		if len(t.Runs) > 0 {
			walls, cpus := []float64{}, []float64{}
			for _, u := range t.Runs {
				walls, cpus = append(walls, u.WallS), append(cpus, u.CPUS)
			}
			t.MedianWallS, t.MinWallS, t.MedianCPUS = median(walls), slices.Min(walls), median(cpus)
		}
		r.Commands[cmd.key] = t
		logf("  %s: median wall %.3f s (min %.3f), median cpu %.3f s, max RSS %.1f MiB, %d rows",
			t.Command, t.MedianWallS, t.MinWallS, t.MedianCPUS, kib(t.MaxRSSKiB), t.Rows)
	}
	ticks, err := daemonTicks(renewd, cfg, dir, o.planRuns)
	if err != nil {
		r.Error = strings.TrimPrefix(r.Error+"; ", "; ") + "daemon ticks: " + err.Error()
		logf("  daemon ticks: %v", err)
	}
	if len(ticks) > 0 {
		r.Ticks, r.TickMedianS = ticks, median(ticks)
		logf("  renewd run, a tick with nothing due: median %.3f s of %d ticks %v", r.TickMedianS, len(ticks), ticks)
	}
	return r
}

// daemonTicks runs `renewd run` on cfg with a schedule of @every 2s and
// returns the durations of its first n scheduling passes after the
// startup pass, as the daemon logs them. The daemon keeps its
// configuration between ticks and, since issue 13, what it read of the
// storage, so a tick is what a running daemon pays, hour after hour.
func daemonTicks(renewd, cfg, dir string, n int) ([]float64, error) {
	tickCfg := filepath.Join(dir, "renewd-ticks.yaml")
	mustWrite(tickCfg, []byte(strings.TrimRight(readFile(cfg), "\n")+"\nschedule: \"@every 2s\"\n"), 0o644)
	logFile := filepath.Join(dir, "ticks.log")
	d, err := startIdleDaemon(renewd, tickCfg, logFile)
	if err != nil {
		return nil, err
	}
	defer d.stop(&IdleResult{})
	deadline := time.Now().Add(time.Duration(n+2) * time.Minute)
	for time.Now().Before(deadline) {
		passes := passDurations(readFile(logFile))
		if len(passes) > n {
			return passes[1 : n+1], nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return nil, fmt.Errorf("fewer than %d ticks in %s; see %s", n, time.Duration(n+2)*time.Minute, logFile)
}

// passDurations returns the duration (seconds) of every "renewal pass
// done" line of a daemon's JSON log, in order.
func passDurations(log string) []float64 {
	var out []float64
	for _, line := range strings.Split(log, "\n") {
		var l struct {
			Msg      string  `json:"msg"`
			Duration float64 `json:"duration"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "renewal pass done" {
			out = append(out, l.Duration)
		}
	}
	return out
}

// countRows checks the output is what it claims: the certificates in
// status --json, the table's lines, the pass's "not due" lines.
func countRows(kind, file string) int {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	switch kind {
	case "status_json":
		var v struct {
			Certificates []json.RawMessage `json:"certificates"`
		}
		if json.Unmarshal(data, &v) != nil {
			return 0
		}
		return len(v.Certificates)
	case "status":
		return max(0, strings.Count(string(data), "\n")-1)
	default:
		return strings.Count(string(data), " not due ")
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// --- state I/O of a pass with everything due ---

// StateIO is one `renewd renew` over o.stateDue certificates that are all
// due and all fail before their order (genDue): what the pass does to the
// records, one failure record per certificate, without the CA.
type StateIO struct {
	Binary    string  `json:"binary"`
	Certs     int     `json:"certs"`
	Pass      Usage   `json:"pass"`
	Recorded  int     `json:"recorded"`    // "failed" lines the pass printed (stdout and stderr)
	Finished  bool    `json:"finished"`    // false: stopped after -state-timeout
	Estimate  float64 `json:"estimate_s"`  // the whole pass at the rate it recorded, when stopped
	WrittenMB float64 `json:"written_mib"` // rusage blocks written, 512 bytes each
	Error     string  `json:"error,omitempty"`
}

func stateIO(o options, c *ca, binary string) *StateIO {
	r := &StateIO{Binary: binary, Certs: o.stateDue}
	dir := mkdir(o.work, "stateio-"+binary)
	logf("state I/O %s: %d certificates due, each failing before its order; stopped after %s", binary, o.stateDue, o.stateTimeout)
	cfg, makeDue := genDue(dir, o.stateDue, c)
	warmUp(filepath.Join(o.bin, binary), cfg, filepath.Join(dir, "warmup.log"))
	makeDue()
	outFile := filepath.Join(dir, "renew.out")
	out, err := os.Create(outFile)
	if err != nil {
		fatalf("%v", err)
	}
	errf := openLog(filepath.Join(dir, "renew.log"))
	u, err := runFiles(out, errf, []string{"RENEWD_CONFIG="}, o.stateTimeout, filepath.Join(o.bin, binary), "--config", cfg, "renew")
	out.Close()
	errf.Close()
	r.Pass = u
	r.WrittenMB = float64(u.Oublock) * 512 / (1 << 20)
	// A failure's line goes to stdout in the first release and to stderr
	// since (a failure's cause is on stderr): count both.
	r.Recorded = strings.Count(readFile(outFile), "  failed  ") + strings.Count(readFile(filepath.Join(dir, "renew.log")), "  failed  ")
	r.Finished = u.WallS < o.stateTimeout.Seconds()-1
	switch {
	case r.Finished:
	case r.Recorded > 0:
		r.Estimate = u.WallS * float64(o.stateDue) / float64(r.Recorded)
	default:
		r.Error = fmt.Sprintf("nothing recorded in %s: %v", o.stateTimeout, err)
	}
	logf("  %s: %d of %d recorded in %.1f s (cpu %.1f s, %.1f MiB written)%s", binary, r.Recorded, o.stateDue, u.WallS, u.CPUS, r.WrittenMB,
		map[bool]string{true: "", false: fmt.Sprintf("; the whole pass at that rate: %.0f s", r.Estimate)}[r.Finished])
	return r
}

// warmUp runs one scheduling pass (`renewd renew`, nothing due), untimed:
// a binary whose store migrates the first release's state.json on its
// first writable start does it here, so the timed commands see its own
// layout, as they would on a machine that has run it before.
func warmUp(renewd, cfg, logFile string) {
	if _, err := run(logFile, []string{"RENEWD_CONFIG="}, 30*time.Minute, renewd, "--config", cfg, "renew"); err != nil {
		logf("  warm-up pass: %v", err)
	}
}
