//go:build bench

// Command bench measures what renewd costs and how it scales, next to lego's
// CLI and certbot, in one run on one machine. scripts/bench.sh
// builds the binaries and runs it; `make bench` runs the script:
//
//	go run -tags bench ./test/bench -bin DIR [-n 10,100] [-md docs/benchmarks.md] ...
//
// Parts: renew-all of N certificates through HTTP-01 against one Pebble
// (renewd, lego, certbot, one after another on Pebble's httpPort); the idle
// `renewd run` daemon with 1,000 stored certificates; `renewd status` and
// one scheduling pass with 10,000 configured certificates; binary size and
// build times. It writes a markdown report and the raw numbers as JSON.
package main

import (
	"bufio"
	"debug/buildinfo"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	bin, root, work, md, jsonOut   string
	ns                             []int
	clients                        []string
	idleCerts, planCerts, planRuns int
	idle                           time.Duration
	idleSource                     string
	build, gobench, keep           bool
}

func main() {
	var o options
	var ns, clients string
	flag.StringVar(&o.bin, "bin", "", "directory with renewd, lego, pebble and pebble-challtestsrv (required)")
	flag.StringVar(&o.root, "root", ".", "the renewd module's root (for build times and the Go benchmark)")
	flag.StringVar(&o.work, "work", "", "work directory (default: a new temporary directory, removed at the end unless -keep)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory")
	flag.StringVar(&o.md, "md", "docs/benchmarks.md", "markdown report to write (empty: none)")
	flag.StringVar(&o.jsonOut, "json", "docs/benchmarks.json", "raw numbers to write as JSON (empty: none)")
	flag.StringVar(&ns, "n", "10,100", "certificate counts for renew-all, comma- or space-separated (empty: skip)")
	flag.StringVar(&clients, "clients", "renewd,lego,certbot", "clients for renew-all")
	flag.IntVar(&o.idleCerts, "idle-certs", 1000, "certificates the idle daemon holds (0: skip)")
	flag.DurationVar(&o.idle, "idle", 60*time.Second, "how long to watch the idle daemon")
	flag.StringVar(&o.idleSource, "idle-source", "generated", "how the idle daemon's certificates are made: generated (throwaway CA) or pebble (issued by renewd)")
	flag.IntVar(&o.planCerts, "plan-certs", 10000, "configured certificates for status and the scheduling pass (0: skip)")
	flag.IntVar(&o.planRuns, "plan-runs", 5, "runs of each planning command")
	flag.BoolVar(&o.build, "build", true, "measure binary size and cold and warm build times")
	flag.BoolVar(&o.gobench, "gobench", true, "run the in-process Go benchmarks of internal/renew")
	render := flag.String("render", "", "only rewrite the -md report from this JSON file of an earlier run")
	flag.Parse()
	if *render != "" {
		data, err := os.ReadFile(*render)
		if err != nil {
			fatalf("%v", err)
		}
		var res Result
		if err := json.Unmarshal(data, &res); err != nil {
			fatalf("%s: %v", *render, err)
		}
		mustWrite(o.md, []byte(report(&res)), 0o644)
		return
	}
	if o.bin == "" {
		fatalf("-bin is required")
	}
	for _, f := range strings.FieldsFunc(ns, func(r rune) bool { return r == ',' || r == ' ' }) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			fatalf("-n: bad count %q", f)
		}
		o.ns = append(o.ns, n)
	}
	o.clients = strings.FieldsFunc(clients, func(r rune) bool { return r == ',' || r == ' ' })
	var err error
	if o.bin, err = filepath.Abs(o.bin); err != nil {
		fatalf("%v", err)
	}
	if o.root, err = filepath.Abs(o.root); err != nil {
		fatalf("%v", err)
	}
	if o.work == "" {
		if o.work, err = os.MkdirTemp("", "renewd-bench-"); err != nil {
			fatalf("%v", err)
		}
		if !o.keep {
			atExit(func() { _ = os.RemoveAll(o.work) })
		}
	}
	defer runCleanups()
	// An interrupted run stops what it started and removes its work
	// directory (unless -keep).
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fatalf("stopped by %v", s)
	}()
	logf("work directory %s", o.work)

	res := &Result{Date: time.Now().UTC().Format(time.RFC3339), Machine: machine(o), Settings: settings(o)}
	res.Machine.LoadBefore = loadavg()

	if len(o.ns) > 0 || o.idleCerts > 0 || o.planCerts > 0 {
		c := startCA(o.bin, mkdir(o.work, "ca"))
		atExit(c.stop)
		for _, n := range o.ns {
			res.RenewAll = append(res.RenewAll, renewAll(o, c, n))
		}
		if o.idleCerts > 0 {
			res.Idle = idleDaemon(o, c)
		}
		if o.planCerts > 0 {
			res.Plan = planning(o, c)
		}
		c.stop()
	}
	if o.gobench {
		res.GoBench = goBench(o)
	}
	if o.build {
		res.Build = buildTimes(o)
	}
	res.Machine.LoadAfter = loadavg()
	res.Notes = notes(o)

	if o.jsonOut != "" {
		data, _ := json.MarshalIndent(res, "", "  ")
		mustWrite(o.jsonOut, append(data, '\n'), 0o644)
		logf("wrote %s", o.jsonOut)
	}
	md := report(res)
	if o.md != "" {
		mustWrite(o.md, []byte(md), 0o644)
		logf("wrote %s", o.md)
	} else {
		fmt.Print(md)
	}
}

func mkdir(parts ...string) string {
	p := filepath.Join(parts...)
	if err := os.MkdirAll(p, 0o755); err != nil {
		fatalf("%v", err)
	}
	return p
}

// Result is everything one run measured; docs/benchmarks.json.
type Result struct {
	Date     string       `json:"date"`
	Machine  Machine      `json:"machine"`
	Settings Settings     `json:"settings"`
	RenewAll []*RenewAll  `json:"renew_all"`
	Idle     *IdleResult  `json:"idle_daemon,omitempty"`
	Plan     *PlanResult  `json:"planning,omitempty"`
	GoBench  []GoBench    `json:"go_benchmarks,omitempty"`
	Build    *BuildResult `json:"binary,omitempty"`
	Notes    []string     `json:"notes"`
}

type Machine struct {
	CPUs       int               `json:"cpus"`
	CPUModel   string            `json:"cpu_model"`
	MemoryMiB  int64             `json:"memory_mib"`
	Kernel     string            `json:"kernel"`
	OS         string            `json:"os"`
	Go         string            `json:"go"`
	Versions   map[string]string `json:"versions"`
	LoadBefore string            `json:"loadavg_before"`
	LoadAfter  string            `json:"loadavg_after"`
}

type Settings struct {
	Ns          []int    `json:"n"`
	Clients     []string `json:"clients"`
	Pebble      string   `json:"pebble"`
	IdleCerts   int      `json:"idle_certs"`
	IdleSeconds float64  `json:"idle_seconds"`
	IdleSource  string   `json:"idle_source"`
	PlanCerts   int      `json:"plan_certs"`
	PlanRuns    int      `json:"plan_runs"`
	Renewd      string   `json:"renewd_settings"`
	Lego        string   `json:"lego_command"`
	Certbot     string   `json:"certbot_command"`
}

func settings(o options) Settings {
	return Settings{Ns: o.ns, Clients: o.clients,
		Pebble:    "PEBBLE_VA_NOSLEEP=1, PEBBLE_AUTHZREUSE=0, PEBBLE_WFE_NONCEREJECT=0, retryAfter authz 1 s / order 1 s, one 90-day profile, chain leaf + 1 intermediate",
		IdleCerts: o.idleCerts, IdleSeconds: o.idle.Seconds(), IdleSource: o.idleSource, PlanCerts: o.planCerts, PlanRuns: o.planRuns,
		Renewd:  "renewd renew --now; one domains.d file per certificate, http01 {listen: 127.0.0.1:<httpPort>}, default concurrency 4, ec256, no deploy",
		Lego:    "lego --server S --path P --accept-tos --email E --http --http.port 127.0.0.1:<httpPort> --domains D renew --days 10000 --ari-disable --no-random-sleep (one process per certificate)",
		Certbot: "certbot renew --force-renewal --no-random-sleep-on-renew --non-interactive --config-dir/--work-dir/--logs-dir --http-01-port <httpPort> --http-01-address 127.0.0.1 (one process, standalone authenticator)",
	}
}

func machine(o options) Machine {
	m := Machine{CPUs: runtime.NumCPU(), Versions: map[string]string{}}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	m.MemoryMiB = readStatus("/proc/meminfo")["MemTotal"] / 1024
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(data))
	}
	if data, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
				m.OS = strings.Trim(v, `"`)
			}
		}
	}
	if out, err := exec.Command("go", "version").Output(); err == nil {
		m.Go = strings.TrimSpace(string(out))
	}
	for _, b := range []string{"renewd", "lego", "pebble", "pebble-challtestsrv"} {
		if bi, err := buildinfo.ReadFile(filepath.Join(o.bin, b)); err == nil {
			v := bi.Main.Version
			if b == "renewd" {
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" && len(s.Value) >= 12 {
						v += " (" + s.Value[:12] + ")"
					}
				}
			}
			m.Versions[b] = v + ", " + bi.GoVersion
		}
	}
	m.Versions["renewd version"] = version(filepath.Join(o.bin, "renewd"), "version")
	if slices.Contains(o.clients, "certbot") {
		m.Versions["certbot"] = version(certbotPath(), "--version")
		if out, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", "certbot").Output(); err == nil {
			m.Versions["certbot (Debian package)"] = string(out)
		}
		if out, err := exec.Command("python3", "--version").Output(); err == nil {
			m.Versions["python3"] = strings.TrimSpace(string(out))
		}
	}
	return m
}

func certbotPath() string {
	if p, err := exec.LookPath("certbot"); err == nil {
		return p
	}
	return "/usr/bin/certbot"
}

func loadavg() string {
	data, _ := os.ReadFile("/proc/loadavg")
	return strings.TrimSpace(string(data))
}

// --- renew all ---

type RenewAll struct {
	N       int                   `json:"n"`
	Clients map[string]*ClientRun `json:"clients"`
}

type ClientRun struct {
	Issue      Usage   `json:"issue_untimed"`
	Renew      Usage   `json:"renew"`
	Renewed    int     `json:"renewed"` // leaves whose serial changed
	PebbleCPUS float64 `json:"pebble_cpu_s"`
	Error      string  `json:"error,omitempty"`
}

func newClient(o options, name string) client {
	switch name {
	case "renewd":
		return &renewdClient{bin: filepath.Join(o.bin, "renewd")}
	case "lego":
		return &legoClient{bin: filepath.Join(o.bin, "lego")}
	case "certbot":
		return &certbotClient{bin: certbotPath()}
	}
	fatalf("unknown client %q", name)
	return nil
}

func renewAll(o options, c *ca, n int) *RenewAll {
	ra := &RenewAll{N: n, Clients: map[string]*ClientRun{}}
	for _, name := range o.clients {
		cl := newClient(o, name)
		cr := &ClientRun{}
		ra.Clients[name] = cr
		cl.Setup(c, mkdir(o.work, fmt.Sprintf("%s-%d", name, n)), n)
		logf("renew-all N=%d %s: issuing %d certificates (untimed)", n, name, n)
		start := time.Now()
		err := cl.Issue()
		cr.Issue.WallS = time.Since(start).Seconds()
		before := serials(cl.Leaves())
		if err != nil || len(before) != n {
			cr.Error = fmt.Sprintf("issue: %d of %d certificates: %v", len(before), n, err)
			logf("  %s", cr.Error)
			continue
		}
		logf("  issued in %.1f s; renewing all %d (timed)", cr.Issue.WallS, n)
		pebbleBefore := procCPU(c.pebble.cmd.Process.Pid)
		u, err := cl.Renew()
		cr.PebbleCPUS = procCPU(c.pebble.cmd.Process.Pid) - pebbleBefore
		cr.Renew = u
		after := serials(cl.Leaves())
		for p, s := range before {
			if a, ok := after[p]; ok && a != s {
				cr.Renewed++
			}
		}
		if err != nil {
			cr.Error = err.Error()
		} else if cr.Renewed != n {
			cr.Error = fmt.Sprintf("only %d of %d certificates have a new serial", cr.Renewed, n)
		}
		logf("  %s: wall %.2f s, cpu %.2f s (user %.2f, sys %.2f), max RSS %.1f MiB, %d processes, renewed %d/%d; pebble cpu %.2f s %s",
			name, u.WallS, u.CPUS, u.UserS, u.SysS, float64(u.MaxRSSKiB)/1024, u.Procs, cr.Renewed, n, cr.PebbleCPUS, cr.Error)
	}
	return ra
}

// --- idle daemon ---

type IdleResult struct {
	Certs           int     `json:"certs"`
	Source          string  `json:"source"`
	PrepareS        float64 `json:"prepare_s"`
	StartupPassS    float64 `json:"startup_pass_s"` // start until "renewal pass done"
	WindowS         float64 `json:"window_s"`
	RSSStartKiB     int64   `json:"rss_start_kib"`
	RSSEndKiB       int64   `json:"rss_end_kib"`
	RSSMaxKiB       int64   `json:"rss_max_kib"` // sampled every second in the window
	HWMKiB          int64   `json:"vm_hwm_kib"`  // peak RSS since start, startup pass included
	VmSizeKiB       int64   `json:"vm_size_kib"`
	RSSAnonKiB      int64   `json:"rss_anon_kib"` // at the end: heap and stacks
	RSSFileKiB      int64   `json:"rss_file_kib"` // at the end: mapped pages of the binary and other files
	Threads         int     `json:"threads"`
	CPUS            float64 `json:"cpu_s"`       // /proc/PID/stat utime+stime delta (clock ticks)
	CPUSchedS       float64 `json:"cpu_sched_s"` // /proc/PID/task/*/schedstat delta (ns)
	CorePercent     float64 `json:"core_percent"`
	ContextSwitches int64   `json:"context_switches"` // /proc/PID/task/*/status delta
	WakeupsPerS     float64 `json:"wakeups_per_s"`
	Perf            string  `json:"perf_stat,omitempty"`
	PerfSwitches    int64   `json:"perf_context_switches,omitempty"`
	PerfTaskClockMS float64 `json:"perf_task_clock_ms,omitempty"`
	Total           Usage   `json:"whole_process"` // rusage at exit, startup included
	Error           string  `json:"error,omitempty"`
}

func idleDaemon(o options, c *ca) *IdleResult {
	r := &IdleResult{Certs: o.idleCerts, Source: o.idleSource}
	dir := mkdir(o.work, "idle")
	renewd := filepath.Join(o.bin, "renewd")
	start := time.Now()
	var cfg string
	switch o.idleSource {
	case "generated":
		logf("idle daemon: generating %d stored certificates (throwaway CA)", o.idleCerts)
		cfg = genIssued(dir, o.idleCerts, c)
	case "pebble":
		logf("idle daemon: issuing %d certificates through Pebble with renewd", o.idleCerts)
		rc := &renewdClient{bin: renewd}
		rc.Setup(c, dir, o.idleCerts)
		if err := rc.Issue(); err != nil {
			r.Error = err.Error()
			return r
		}
		cfg = rc.config
	default:
		fatalf("-idle-source: %q is neither generated nor pebble", o.idleSource)
	}
	r.PrepareS = time.Since(start).Seconds()
	logf("  prepared in %.1f s; starting renewd run", r.PrepareS)

	logFile := filepath.Join(dir, "daemon.log")
	f := openLog(logFile)
	defer f.Close()
	cmd := exec.Command(renewd, "--config", cfg, "run")
	cmd.Env = append(os.Environ(), "RENEWD_CONFIG=", "NOTIFY_SOCKET=", "WATCHDOG_USEC=")
	cmd.Stdout, cmd.Stderr = f, f
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		fatalf("renewd run: %v", err)
	}
	pid := cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopDaemon := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	// The startup pass reads everything and decides; the window starts
	// after it.
	deadline := time.Now().Add(10 * time.Minute)
	for {
		data, _ := os.ReadFile(logFile)
		if strings.Contains(string(data), "renewal pass done") {
			break
		}
		select {
		case err := <-exited:
			r.Error = fmt.Sprintf("renewd run exited during its startup pass: %v; see %s", err, logFile)
			return r
		default:
		}
		if time.Now().After(deadline) {
			stopDaemon()
			r.Error = "no \"renewal pass done\" within 10 minutes"
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.StartupPassS = time.Since(t0).Seconds()
	logf("  startup pass done after %.2f s; settling 3 s, then watching for %s", r.StartupPassS, o.idle)
	time.Sleep(3 * time.Second)

	var perfOut []byte
	perfDone := make(chan struct{})
	if perf, err := exec.LookPath("perf"); err == nil {
		go func() {
			defer close(perfDone)
			cmd := exec.Command(perf, "stat", "-x", ",", "-e", "context-switches,cpu-migrations,task-clock",
				"-p", fmt.Sprint(pid), "--", "sleep", fmt.Sprint(o.idle.Seconds()))
			perfOut, _ = cmd.CombinedOutput()
		}()
	} else {
		close(perfDone)
	}
	s0 := snapshot(pid)
	r.RSSStartKiB, r.RSSMaxKiB = s0.rssKiB, s0.rssKiB
	end := s0.at.Add(o.idle)
	for time.Now().Before(end) {
		time.Sleep(min(time.Second, time.Until(end)))
		if s := snapshot(pid); s.rssKiB > r.RSSMaxKiB {
			r.RSSMaxKiB = s.rssKiB
		}
	}
	s1 := snapshot(pid)
	<-perfDone
	r.WindowS = s1.at.Sub(s0.at).Seconds()
	r.RSSEndKiB, r.HWMKiB, r.VmSizeKiB, r.Threads = s1.rssKiB, s1.hwmKiB, s1.vmSizeKiB, s1.threads
	r.RSSAnonKiB, r.RSSFileKiB = s1.anonKiB, s1.fileKiB
	r.RSSMaxKiB = max(r.RSSMaxKiB, s1.rssKiB)
	r.CPUS = s1.cpuS - s0.cpuS
	r.CPUSchedS = float64(s1.runNS-s0.runNS) / 1e9
	r.CorePercent = 100 * max(r.CPUS, r.CPUSchedS) / r.WindowS
	r.ContextSwitches = s1.switches - s0.switches
	r.WakeupsPerS = float64(r.ContextSwitches) / r.WindowS
	r.Perf = strings.TrimSpace(string(perfOut))
	for _, line := range strings.Split(r.Perf, "\n") {
		f := strings.Split(line, ",")
		if len(f) < 3 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		switch f[2] {
		case "context-switches":
			r.PerfSwitches = int64(v)
		case "task-clock":
			r.PerfTaskClockMS = v
		}
	}
	stopDaemon()
	if ps := cmd.ProcessState; ps != nil {
		r.Total = Usage{WallS: time.Since(t0).Seconds(), UserS: ps.UserTime().Seconds(), SysS: ps.SystemTime().Seconds(), Procs: 1}
		r.Total.CPUS = r.Total.UserS + r.Total.SysS
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			r.Total.MaxRSSKiB, r.Total.Nvcsw, r.Total.Nivcsw = ru.Maxrss, ru.Nvcsw, ru.Nivcsw
		}
	}
	logf("  idle %.0f s: RSS %.1f MiB (max %.1f, HWM %.1f), CPU %.3f s (sched %.4f s) = %.4f%% of a core, %d context switches (%.2f/s), perf: %d switches, %.1f ms task-clock",
		r.WindowS, kib(r.RSSEndKiB), kib(r.RSSMaxKiB), kib(r.HWMKiB), r.CPUS, r.CPUSchedS, r.CorePercent, r.ContextSwitches, r.WakeupsPerS, r.PerfSwitches, r.PerfTaskClockMS)
	return r
}

func kib(v int64) float64 { return float64(v) / 1024 }

// --- planning at scale ---

type PlanResult struct {
	Certs      int               `json:"certs"`
	PrepareS   float64           `json:"prepare_s"`
	StateBytes int64             `json:"state_json_bytes"`
	Commands   map[string]Timing `json:"commands"`
	Error      string            `json:"error,omitempty"`
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

func planning(o options, c *ca) *PlanResult {
	r := &PlanResult{Certs: o.planCerts, Commands: map[string]Timing{}}
	dir := mkdir(o.work, "plan")
	logf("planning: generating %d configured certificates and their state.json", o.planCerts)
	start := time.Now()
	cfg := genState(dir, o.planCerts, c)
	r.PrepareS = time.Since(start).Seconds()
	if fi, err := os.Stat(filepath.Join(dir, "storage", "state.json")); err == nil {
		r.StateBytes = fi.Size()
	}
	renewd := filepath.Join(o.bin, "renewd")
	logFile := filepath.Join(dir, "plan.log")
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
	return r
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

// --- Go benchmarks ---

type GoBench struct {
	Name        string  `json:"name"`
	Iterations  int64   `json:"iterations"`
	NsPerOp     float64 `json:"ns_per_op"`
	BytesPerOp  int64   `json:"bytes_per_op"`
	AllocsPerOp int64   `json:"allocs_per_op"`
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+([\d.]+) ns/op(?:\s+(\d+) B/op\s+(\d+) allocs/op)?`)

func goBench(o options) []GoBench {
	logf("go test -bench 10000 ./internal/renew")
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", "10000$", "-benchmem", "-count", "1", "./internal/renew")
	cmd.Dir = o.root
	out, err := cmd.CombinedOutput()
	if err != nil {
		logf("  go test -bench failed (skipped in the report): %v\n%s", err, out)
		return nil
	}
	var res []GoBench
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		b := GoBench{Name: m[1]}
		b.Iterations, _ = strconv.ParseInt(m[2], 10, 64)
		b.NsPerOp, _ = strconv.ParseFloat(m[3], 64)
		b.BytesPerOp, _ = strconv.ParseInt(m[4], 10, 64)
		b.AllocsPerOp, _ = strconv.ParseInt(m[5], 10, 64)
		res = append(res, b)
		logf("  %s: %.2f ms/op, %d allocs/op", b.Name, b.NsPerOp/1e6, b.AllocsPerOp)
	}
	return res
}

// --- binary ---

type BuildResult struct {
	SizeBytes         int64  `json:"size_bytes"`            // make build: -ldflags '-s -w -X main.version=...'
	SizeUnstrippedB   int64  `json:"size_unstripped_bytes"` // plain go build
	LegoSizeBytes     int64  `json:"lego_size_bytes,omitempty"`
	Cold              Usage  `json:"cold_build"` // empty GOCACHE; modules already downloaded
	Warm              Usage  `json:"warm_build"` // the same build again, into a new file: cache hits, link only
	ColdBuildCommand  string `json:"build_command"`
	Error             string `json:"error,omitempty"`
	GOMODCACHEPrimed  bool   `json:"gomodcache_primed"`
	UnstrippedCommand string `json:"unstripped_command"`
}

func buildTimes(o options) *BuildResult {
	dir := mkdir(o.work, "build")
	cache := mkdir(dir, "gocache")
	r := &BuildResult{GOMODCACHEPrimed: true}
	ldflags := "-s -w -X main.version=bench"
	args := func(out string) []string {
		return []string{"build", "-ldflags", ldflags, "-o", filepath.Join(dir, out), "./cmd/renewd"}
	}
	r.ColdBuildCommand = "GOCACHE=<empty dir> go " + strings.Join(args("renewd"), " ")
	logFile := filepath.Join(dir, "build.log")
	env := []string{"GOCACHE=" + cache}
	goBin, err := exec.LookPath("go")
	if err != nil {
		r.Error = err.Error()
		return r
	}
	logf("binary: cold build (empty GOCACHE; takes minutes)")
	runIn := func(a []string) (Usage, error) {
		f := openLog(logFile)
		defer f.Close()
		fmt.Fprintf(f, "\n$ go %s\n", strings.Join(a, " "))
		cmd := exec.Command(goBin, a...)
		cmd.Dir = o.root
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdout, cmd.Stderr = f, f
		return measure(cmd, time.Hour)
	}
	if r.Cold, err = runIn(args("renewd-cold")); err != nil {
		r.Error = err.Error()
		return r
	}
	logf("  cold: wall %.1f s, cpu %.1f s", r.Cold.WallS, r.Cold.CPUS)
	if r.Warm, err = runIn(args("renewd-warm")); err != nil {
		r.Error = err.Error()
		return r
	}
	logf("  warm: wall %.2f s, cpu %.2f s", r.Warm.WallS, r.Warm.CPUS)
	if fi, err := os.Stat(filepath.Join(dir, "renewd-warm")); err == nil {
		r.SizeBytes = fi.Size()
	}
	r.UnstrippedCommand = "go build -o renewd ./cmd/renewd"
	if _, err := runIn([]string{"build", "-o", filepath.Join(dir, "renewd-plain"), "./cmd/renewd"}); err == nil {
		if fi, err := os.Stat(filepath.Join(dir, "renewd-plain")); err == nil {
			r.SizeUnstrippedB = fi.Size()
		}
	}
	if fi, err := os.Stat(filepath.Join(o.bin, "lego")); err == nil {
		r.LegoSizeBytes = fi.Size()
	}
	logf("  size %.1f MiB (unstripped %.1f MiB; lego %.1f MiB)", mib(r.SizeBytes), mib(r.SizeUnstrippedB), mib(r.LegoSizeBytes))
	return r
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
