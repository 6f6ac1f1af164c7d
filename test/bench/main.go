//go:build bench

// Command bench measures what renewd costs and how it scales, next to
// lego's CLI, certbot and renewd as it was before (a "before" binary), in
// one run on one machine. scripts/bench.sh builds the binaries and runs
// it; `make bench` runs the script:
//
//	go run -tags bench ./test/bench -bin DIR [-n 10,100] [-md docs/benchmarks.md] ...
//
// Parts (docs/benchmarks.md): renew-all of N certificates with the default
// configuration; renew-all of 1,000 through a proxy that holds renewd to a
// configured rate; a storm of 429s; the idle daemon with 1,000 stored
// certificates and what its start touches; status, a scheduling pass and
// the state I/O of a pass with 10,000 certificates; binary size and build
// times. Everything runs against one Pebble on loopback, through the
// shared test harness (test/harness). It writes a markdown report and the
// raw numbers as JSON.
package main

import (
	"debug/buildinfo"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/renewd/renewd/test/harness"
)

// The binaries of renewd a run compares: the one built from this tree and,
// when scripts/bench.sh built it, the one from BENCH_BEFORE.
const (
	after  = "renewd"
	before = "renewd-before"
)

type options struct {
	bin, root, work, md, jsonOut string
	ns                           []int
	clients                      []string
	legoMax                      int
	scale, storm, cluster        int
	idleCerts, planCerts         int
	planRuns, stateDue           int
	idle, stateTimeout           time.Duration
	idleSource                   string
	build, gobench, keep         bool
	initTrace                    bool
	// only lists the parts to run (-only), nil for all; the others' sizes
	// are zero.
	only []string
}

// parts are the names -only takes, each a part of the report.
var parts = []string{"renew-all", "scale", "storm", "idle", "plan", "state", "gobench", "build", "cluster"}

func parseFlags() (options, string) {
	var o options
	var ns, clients, only string
	flag.StringVar(&o.bin, "bin", "", "directory with renewd, lego, pebble, pebble-challtestsrv and, for before/after figures, renewd-before (required)")
	flag.StringVar(&o.root, "root", ".", "the renewd module's root (for build times and the Go benchmark)")
	flag.StringVar(&o.work, "work", "", "work directory (default: a new temporary directory, removed at the end unless -keep)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory")
	flag.StringVar(&o.md, "md", "docs/benchmarks.md", "markdown report to write (empty: none)")
	flag.StringVar(&o.jsonOut, "json", "docs/benchmarks.json", "raw numbers to write as JSON (empty: none)")
	flag.StringVar(&ns, "n", "10,100", "certificate counts for renew-all with the default configuration, comma- or space-separated (empty: skip)")
	flag.StringVar(&clients, "clients", "renewd,renewd-before,lego,certbot", "clients for renew-all (renewd-before only when its binary is there)")
	flag.IntVar(&o.legoMax, "lego-max", 10, "largest N lego's CLI runs at (it takes about 11 s per certificate, issue and renew)")
	flag.IntVar(&o.scale, "scale", 1000, "certificates for renew-all at scale through a rate-checking proxy (0: skip)")
	flag.IntVar(&o.storm, "storm", 100, "certificates renewed through a storm of 429s (0: skip)")
	flag.IntVar(&o.idleCerts, "idle-certs", 1000, "certificates the idle daemon holds (0: skip)")
	flag.DurationVar(&o.idle, "idle", 60*time.Second, "how long to watch the idle daemon")
	flag.StringVar(&o.idleSource, "idle-source", "generated", "how the idle daemon's certificates are made: generated (throwaway CA) or pebble (issued by renewd)")
	flag.IntVar(&o.planCerts, "plan-certs", 10000, "configured certificates for status and the scheduling pass (0: skip)")
	flag.IntVar(&o.planRuns, "plan-runs", 5, "runs of each planning command")
	flag.IntVar(&o.stateDue, "state-due", 10000, "certificates due in the state I/O pass (0: skip)")
	flag.DurationVar(&o.stateTimeout, "state-timeout", 2*time.Minute, "longest a state I/O pass may run before it is stopped and extrapolated")
	flag.IntVar(&o.cluster, "cluster", 100, "certificates renewed on a three-node cluster (etcd, three renewd with their own nginx; 0: skip)")
	flag.StringVar(&only, "only", "", "run only these parts, comma-separated ("+strings.Join(parts, ", ")+"), and merge them into the -json file of an earlier run, keeping the other parts' figures")
	flag.BoolVar(&o.build, "build", true, "measure binary size and cold and warm build times")
	flag.BoolVar(&o.gobench, "gobench", true, "run the in-process Go benchmarks of internal/renew and internal/store")
	render := flag.String("render", "", "only rewrite the -md report from this JSON file of an earlier run")
	flag.Parse()
	for _, f := range splitList(ns) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			fatalf("-n: bad count %q", f)
		}
		o.ns = append(o.ns, n)
	}
	o.clients = splitList(clients)
	o.initTrace = true
	if only != "" {
		o.only = splitList(only)
		for _, p := range o.only {
			if !slices.Contains(parts, p) {
				fatalf("-only: unknown part %q (parts: %s)", p, strings.Join(parts, ", "))
			}
		}
		skip := func(part string) bool { return !slices.Contains(o.only, part) }
		if skip("renew-all") {
			o.ns = nil
		}
		if skip("scale") {
			o.scale = 0
		}
		if skip("storm") {
			o.storm = 0
		}
		if skip("idle") {
			o.idleCerts, o.initTrace = 0, false
		}
		if skip("plan") {
			o.planCerts = 0
		}
		if skip("state") {
			o.stateDue = 0
		}
		if skip("gobench") {
			o.gobench = false
		}
		if skip("build") {
			o.build = false
		}
		if skip("cluster") {
			o.cluster = 0
		}
	}
	return o, *render
}

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
}

func main() {
	o, render := parseFlags()
	if render != "" {
		var res Result
		if err := json.Unmarshal([]byte(readFile(render)), &res); err != nil {
			fatalf("%s: %v", render, err)
		}
		mustWrite(o.md, []byte(report(&res)), 0o644)
		return
	}
	if o.bin == "" {
		fatalf("-bin is required")
	}
	prepare(&o)
	defer runCleanups()
	res := &Result{Date: time.Now().UTC().Format(time.RFC3339), Machine: machine(o), Settings: settings(o)}
	res.Machine.LoadBefore = loadavg()
	measureAll(o, res)
	res.Machine.LoadAfter = loadavg()
	res.Notes = notes(o)
	if len(o.only) > 0 && o.jsonOut != "" {
		res = mergeInto(o.jsonOut, res, o.only)
	}
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

// prepare resolves paths, makes the work directory, and makes an interrupt
// stop what the run started.
func prepare(o *options) {
	var err error
	if o.bin, err = filepath.Abs(o.bin); err != nil {
		fatalf("%v", err)
	}
	if o.root, err = filepath.Abs(o.root); err != nil {
		fatalf("%v", err)
	}
	if _, err := os.Stat(filepath.Join(o.bin, before)); err != nil {
		o.clients = slices.DeleteFunc(o.clients, func(c string) bool { return c == before })
		logf("no %s in %s: no before figures", before, o.bin)
	}
	if o.work == "" {
		if o.work, err = os.MkdirTemp("", "renewd-bench-"); err != nil {
			fatalf("%v", err)
		}
		if !o.keep {
			atExit(func() { _ = os.RemoveAll(o.work) })
		}
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fatalf("stopped by %v", s)
	}()
	logf("work directory %s", o.work)
}

// binaries are the renewd binaries to measure: after, and before when it
// was built.
func binaries(o options) []string {
	out := []string{after}
	if slices.Contains(o.clients, before) {
		out = append(out, before)
	}
	return out
}

func measureAll(o options, res *Result) {
	if len(o.ns) > 0 || o.scale > 0 || o.storm > 0 || o.initTrace || o.idleCerts > 0 || o.planCerts > 0 || o.stateDue > 0 || o.cluster > 0 {
		c := startCA(o.bin, mkdir(o.work, "ca"))
		for _, n := range o.ns {
			res.RenewAll = append(res.RenewAll, renewAll(o, c, n))
		}
		for _, b := range binaries(o) {
			if o.scale > 0 {
				res.Scale = append(res.Scale, scaleRun(o, c, b, o.scale))
			}
			if o.storm > 0 {
				res.Storm = append(res.Storm, stormRun(o, c, b, o.storm))
			}
			if o.initTrace {
				res.InitTrace = append(res.InitTrace, initTrace(o, b))
			}
			if o.idleCerts > 0 {
				res.Idle = append(res.Idle, idleDaemon(o, c, b))
			}
			if o.planCerts > 0 {
				res.Plan = append(res.Plan, planning(o, c, b))
			}
			if o.stateDue > 0 {
				res.StateIO = append(res.StateIO, stateIO(o, c, b))
			}
		}
		if o.cluster > 0 {
			res.Cluster = append(res.Cluster, clusterRun(o, c, o.cluster))
		}
	}
	if o.gobench {
		res.GoBench = goBench(o)
	}
	if o.build {
		res.Build = buildTimes(o)
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
	Date      string        `json:"date"`
	Machine   Machine       `json:"machine"`
	Settings  Settings      `json:"settings"`
	RenewAll  []*RenewAll   `json:"renew_all"`
	Scale     []*ScaleRun   `json:"scale,omitempty"`
	Storm     []*StormRun   `json:"storm,omitempty"`
	InitTrace []*InitTrace  `json:"init_trace,omitempty"`
	Idle      []*IdleResult `json:"idle_daemon,omitempty"`
	Plan      []*PlanResult `json:"planning,omitempty"`
	StateIO   []*StateIO    `json:"state_io,omitempty"`
	GoBench   []GoBench     `json:"go_benchmarks,omitempty"`
	Build     *BuildResult  `json:"binary,omitempty"`
	Cluster   []*ClusterRun `json:"cluster,omitempty"`
	Notes     []string      `json:"notes"`
	// Later are runs with -only that replaced some parts' figures since
	// the run Date and Machine describe.
	Later []LaterRun `json:"later_runs,omitempty"`
}

// LaterRun is a run with -only merged into an earlier run's results.
type LaterRun struct {
	Parts      []string `json:"parts"`
	Date       string   `json:"date"`
	Renewd     string   `json:"renewd_version"`
	LoadBefore string   `json:"loadavg_before"`
	LoadAfter  string   `json:"loadavg_after"`
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
	LegoMax     int      `json:"lego_max_n"`
	Pebble      string   `json:"pebble"`
	Scale       int      `json:"scale"`
	ScaleConfig string   `json:"scale_config"`
	Storm       int      `json:"storm"`
	IdleCerts   int      `json:"idle_certs"`
	IdleSeconds float64  `json:"idle_seconds"`
	IdleSource  string   `json:"idle_source"`
	PlanCerts   int      `json:"plan_certs"`
	PlanRuns    int      `json:"plan_runs"`
	StateDue    int      `json:"state_due"`
	Cluster     int      `json:"cluster"`
	Renewd      string   `json:"renewd_settings"`
	Lego        string   `json:"lego_command"`
	Certbot     string   `json:"certbot_command"`
}

func settings(o options) Settings {
	return Settings{Ns: o.ns, Clients: o.clients, LegoMax: o.legoMax,
		Pebble: "PEBBLE_VA_NOSLEEP=1, PEBBLE_AUTHZREUSE=0, PEBBLE_WFE_NONCEREJECT=0, retryAfter authz 1 s / order 1 s, one 90-day profile, chain leaf + 1 intermediate; every client through the harness proxy with GuardPebbleLocks",
		Scale:  o.scale, ScaleConfig: strings.TrimSpace(scaleRateLimit), Storm: o.storm,
		IdleCerts: o.idleCerts, IdleSeconds: o.idle.Seconds(), IdleSource: o.idleSource, PlanCerts: o.planCerts, PlanRuns: o.planRuns,
		StateDue: o.stateDue, Cluster: o.cluster,
		Renewd:  "renewd renew --now; one domains.d file per certificate, http01 {listen: 127.0.0.1:<httpPort>}, the binary's default configuration (concurrency, rate limits), ec256, no deploy",
		Lego:    "lego --server S --path P --accept-tos --email E --http --http.port 127.0.0.1:<httpPort> --domains D renew --days 10000 --ari-disable --no-random-sleep (one process per certificate)",
		Certbot: "certbot renew --force-renewal --no-random-sleep-on-renew --non-interactive --config-dir/--work-dir/--logs-dir --http-01-port <httpPort> --http-01-address 127.0.0.1 (one process, standalone authenticator)",
	}
}

func machine(o options) Machine {
	m := Machine{CPUs: runtime.NumCPU(), Versions: map[string]string{}}
	for _, line := range strings.Split(readFile("/proc/cpuinfo"), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			m.CPUModel = strings.TrimSpace(v)
			break
		}
	}
	m.MemoryMiB = readStatus("/proc/meminfo")["MemTotal"] / 1024
	m.Kernel = strings.TrimSpace(readFile("/proc/sys/kernel/osrelease"))
	for _, line := range strings.Split(readFile("/etc/os-release"), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			m.OS = strings.Trim(v, `"`)
		}
	}
	if out, err := exec.Command("go", "version").Output(); err == nil {
		m.Go = strings.TrimSpace(string(out))
	}
	for _, b := range []string{after, before, "lego", "pebble", "pebble-challtestsrv"} {
		if bi, err := buildinfo.ReadFile(filepath.Join(o.bin, b)); err == nil {
			m.Versions[b] = bi.Main.Version + ", " + bi.GoVersion
		}
	}
	for _, b := range binaries(o) {
		m.Versions[b+" version"] = version(filepath.Join(o.bin, b), "version")
	}
	if o.cluster > 0 {
		m.Versions["etcd (etcdnode)"] = etcdVersion(o)
	}
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

func loadavg() string { return strings.TrimSpace(readFile("/proc/loadavg")) }

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
	Requests   int     `json:"requests"` // at the proxy, renewal only
	Error      string  `json:"error,omitempty"`
}

func newClient(o options, name string) client {
	switch name {
	case after, before:
		return &renewdClient{bin: filepath.Join(o.bin, name)}
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
		if name == "lego" && n > o.legoMax {
			continue
		}
		cl := newClient(o, name)
		p := c.proxy(harness.ProxyOptions{})
		cl.Setup(c, p.DirURL, mkdir(o.work, fmt.Sprintf("%s-%d", name, n)), n)
		logf("renew-all N=%d %s: issuing %d certificates (untimed)", n, name, n)
		cr := &ClientRun{}
		ra.Clients[name] = cr
		issueAndRenew(c, cl, p, n, cr)
		u := cr.Renew
		logf("  %s: wall %.2f s, cpu %.2f s (user %.2f, sys %.2f), max RSS %.1f MiB, %d processes, renewed %d/%d, %d requests; pebble cpu %.2f s %s",
			name, u.WallS, u.CPUS, u.UserS, u.SysS, kib(u.MaxRSSKiB), u.Procs, cr.Renewed, n, cr.Requests, cr.PebbleCPUS, cr.Error)
	}
	return ra
}

// issueAndRenew issues n certificates with cl (untimed), then renews them
// all (timed), filling cr.
func issueAndRenew(c *ca, cl client, p *harness.Proxy, n int, cr *ClientRun) {
	start := time.Now()
	u, err := cl.Issue()
	cr.Issue = u
	cr.Issue.WallS = time.Since(start).Seconds()
	old := serials(cl.Leaves())
	if err != nil || len(old) != n {
		cr.Error = fmt.Sprintf("issue: %d of %d certificates: %v", len(old), n, err)
		logf("  %s", cr.Error)
		return
	}
	logf("  issued in %.1f s (cpu %.2f s); renewing all %d (timed)", cr.Issue.WallS, cr.Issue.CPUS, n)
	requests := p.Stats().Requests
	pebbleBefore := procCPU(c.pebblePid())
	cr.Renew, err = cl.Renew()
	cr.PebbleCPUS = procCPU(c.pebblePid()) - pebbleBefore
	cr.Requests = p.Stats().Requests - requests
	cr.Renewed = renewedCount(old, serials(cl.Leaves()))
	switch {
	case err != nil:
		cr.Error = err.Error()
	case cr.Renewed != n:
		cr.Error = fmt.Sprintf("only %d of %d certificates have a new serial", cr.Renewed, n)
	}
}

func renewedCount(old, now map[string]string) int {
	n := 0
	for p, s := range old {
		if a, ok := now[p]; ok && a != s {
			n++
		}
	}
	return n
}
