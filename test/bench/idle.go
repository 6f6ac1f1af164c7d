//go:build bench

package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// --- idle daemon ---

type IdleResult struct {
	Binary          string           `json:"binary"`
	Certs           int              `json:"certs"`
	Source          string           `json:"source"`
	PrepareS        float64          `json:"prepare_s"`
	StartupPassS    float64          `json:"startup_pass_s"` // start until "renewal pass done"
	WindowS         float64          `json:"window_s"`
	RSSStartKiB     int64            `json:"rss_start_kib"`
	RSSEndKiB       int64            `json:"rss_end_kib"`
	RSSMaxKiB       int64            `json:"rss_max_kib"` // sampled every second in the window
	HWMKiB          int64            `json:"vm_hwm_kib"`  // peak RSS since start, startup pass included
	VmSizeKiB       int64            `json:"vm_size_kib"`
	RSSAnonKiB      int64            `json:"rss_anon_kib"` // at the end: heap and stacks
	RSSFileKiB      int64            `json:"rss_file_kib"` // at the end: mapped pages of the binary and other files
	RSSByMapping    map[string]int64 `json:"rss_by_mapping_kib"`
	Threads         int              `json:"threads"`
	CPUS            float64          `json:"cpu_s"`       // /proc/PID/stat utime+stime delta (clock ticks)
	CPUSchedS       float64          `json:"cpu_sched_s"` // /proc/PID/task/*/schedstat delta (ns)
	CorePercent     float64          `json:"core_percent"`
	ContextSwitches int64            `json:"context_switches"` // /proc/PID/task/*/status delta
	WakeupsPerS     float64          `json:"wakeups_per_s"`
	Total           Usage            `json:"whole_process"` // rusage at exit, startup included
	Error           string           `json:"error,omitempty"`
}

// idleDaemon runs `renewd run` over o.idleCerts stored certificates, none
// due, and watches it for o.idle after its startup pass.
func idleDaemon(o options, c *ca, binary string) *IdleResult {
	r := &IdleResult{Binary: binary, Certs: o.idleCerts, Source: o.idleSource}
	dir := mkdir(o.work, "idle-"+binary)
	renewd := filepath.Join(o.bin, binary)
	start := time.Now()
	cfg, err := prepareIdle(o, c, dir, renewd)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.PrepareS = time.Since(start).Seconds()
	logf("idle daemon %s: prepared %d certificates in %.1f s; starting renewd run", binary, o.idleCerts, r.PrepareS)
	d, err := startIdleDaemon(renewd, cfg, filepath.Join(dir, "daemon.log"))
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.StartupPassS = d.startupS
	logf("  startup pass done after %.2f s; settling 3 s, then watching for %s", r.StartupPassS, o.idle)
	time.Sleep(3 * time.Second)
	watchIdle(d.pid(), o.idle, r)
	d.stop(r)
	logf("  idle %.0f s: RSS %.1f MiB (anon %.1f, file %.1f; max %.1f, HWM %.1f), CPU %.3f s (sched %.4f s) = %.4f%% of a core, %d context switches",
		r.WindowS, kib(r.RSSEndKiB), kib(r.RSSAnonKiB), kib(r.RSSFileKiB), kib(r.RSSMaxKiB), kib(r.HWMKiB), r.CPUS, r.CPUSchedS, r.CorePercent, r.ContextSwitches)
	return r
}

// prepareIdle writes the idle daemon's configuration and certificates.
func prepareIdle(o options, c *ca, dir, renewd string) (string, error) {
	switch o.idleSource {
	case "generated":
		return genIssued(dir, o.idleCerts, c), nil
	case "pebble":
		rc := &renewdClient{bin: renewd}
		rc.Setup(c, c.pebble.DirURL, dir, o.idleCerts)
		_, err := rc.Issue()
		return rc.config, err
	}
	fatalf("-idle-source: %q is neither generated nor pebble", o.idleSource)
	return "", nil
}

// idleProc is a running `renewd run`.
type idleProc struct {
	cmd      *exec.Cmd
	exited   chan error
	t0       time.Time
	startupS float64
}

func (d *idleProc) pid() int { return d.cmd.Process.Pid }

// startIdleDaemon starts renewd run and waits for its startup pass.
func startIdleDaemon(renewd, cfg, logFile string) (*idleProc, error) {
	f := openLog(logFile)
	defer f.Close()
	cmd := exec.Command(renewd, "--config", cfg, "run")
	cmd.Env = append(os.Environ(), "RENEWD_CONFIG=", "NOTIFY_SOCKET=", "WATCHDOG_USEC=")
	cmd.Stdout, cmd.Stderr = f, f
	d := &idleProc{cmd: cmd, exited: make(chan error, 1), t0: time.Now()}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { d.exited <- cmd.Wait() }()
	atExit(func() { _ = cmd.Process.Kill() })
	deadline := time.Now().Add(10 * time.Minute)
	for !strings.Contains(readFile(logFile), "renewal pass done") {
		select {
		case err := <-d.exited:
			return nil, fmt.Errorf("renewd run exited during its startup pass: %v; see %s", err, logFile)
		default:
		}
		if time.Now().After(deadline) {
			d.stop(&IdleResult{})
			return nil, fmt.Errorf("no \"renewal pass done\" within 10 minutes")
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.startupS = time.Since(d.t0).Seconds()
	return d, nil
}

// stop sends SIGTERM and records the whole process's usage in r.
func (d *idleProc) stop(r *IdleResult) {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
	}
	if ps := d.cmd.ProcessState; ps != nil {
		r.Total = Usage{WallS: time.Since(d.t0).Seconds(), UserS: ps.UserTime().Seconds(), SysS: ps.SystemTime().Seconds(), Procs: 1}
		r.Total.CPUS = r.Total.UserS + r.Total.SysS
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			r.Total.MaxRSSKiB, r.Total.Nvcsw, r.Total.Nivcsw = ru.Maxrss, ru.Nvcsw, ru.Nivcsw
		}
	}
}

// watchIdle samples the daemon for window and fills r.
func watchIdle(pid int, window time.Duration, r *IdleResult) {
	s0 := snapshot(pid)
	r.RSSStartKiB, r.RSSMaxKiB = s0.rssKiB, s0.rssKiB
	end := s0.at.Add(window)
	for time.Now().Before(end) {
		time.Sleep(min(time.Second, time.Until(end)))
		if s := snapshot(pid); s.rssKiB > r.RSSMaxKiB {
			r.RSSMaxKiB = s.rssKiB
		}
	}
	s1 := snapshot(pid)
	r.WindowS = s1.at.Sub(s0.at).Seconds()
	r.RSSEndKiB, r.HWMKiB, r.VmSizeKiB, r.Threads = s1.rssKiB, s1.hwmKiB, s1.vmSizeKiB, s1.threads
	r.RSSAnonKiB, r.RSSFileKiB = s1.anonKiB, s1.fileKiB
	r.RSSMaxKiB = max(r.RSSMaxKiB, s1.rssKiB)
	r.RSSByMapping = rssByMapping(pid)
	r.CPUS = s1.cpuS - s0.cpuS
	r.CPUSchedS = float64(s1.runNS-s0.runNS) / 1e9
	r.CorePercent = 100 * max(r.CPUS, r.CPUSchedS) / r.WindowS
	r.ContextSwitches = s1.switches - s0.switches
	r.WakeupsPerS = float64(r.ContextSwitches) / r.WindowS
}

// rssByMapping sums /proc/PID/smaps Rss by kind of mapping: the binary's
// code (r-x), read-only data (r--) and data (rw-, file-backed), the heap
// and other anonymous memory, and everything else.
func rssByMapping(pid int) map[string]int64 {
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	out := map[string]int64{}
	kind := "other"
	sc := bufio.NewScanner(strings.NewReader(readFile(fmt.Sprintf("/proc/%d/smaps", pid))))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 5 && strings.Contains(f[0], "-") && len(f[1]) == 4 {
			path := ""
			if len(f) >= 6 {
				path = f[5]
			}
			kind = mappingKind(f[1], path, exe)
			continue
		}
		if len(f) >= 2 && f[0] == "Rss:" {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			out[kind] += v
		}
	}
	return out
}

func mappingKind(perms, path, exe string) string {
	switch {
	case path == exe && strings.HasPrefix(perms, "r-x"):
		return "binary code"
	case path == exe && strings.HasPrefix(perms, "r--"):
		return "binary read-only data"
	case path == exe:
		return "binary data"
	case path == "" || path == "[heap]":
		return "anonymous (Go heap, stacks, bss)"
	}
	return "other"
}

// --- what the start costs ---

// InitTrace sums GODEBUG=inittrace=1 for `renewd version`: every package's
// init, its clock time and its heap allocations, by group.
type InitTrace struct {
	Binary   string             `json:"binary"`
	Packages int                `json:"packages"`
	ClockMS  float64            `json:"clock_ms"`
	Bytes    int64              `json:"bytes"`
	Groups   map[string]InitSum `json:"groups"`
	TopClock []InitLine         `json:"top_clock"`
	TopBytes []InitLine         `json:"top_bytes"`
	RSSKiB   int64              `json:"version_max_rss_kib"` // `renewd version`, start to exit
}

type InitSum struct {
	Packages int     `json:"packages"`
	ClockMS  float64 `json:"clock_ms"`
	Bytes    int64   `json:"bytes"`
}

type InitLine struct {
	Package string  `json:"package"`
	ClockMS float64 `json:"clock_ms"`
	Bytes   int64   `json:"bytes"`
}

var initLine = regexp.MustCompile(`^init (\S+) @[\d.]+ ms, ([\d.]+) ms clock, (\d+) bytes, \d+ allocs`)

// initTrace runs `binary version` with GODEBUG=inittrace=1.
func initTrace(o options, binary string) *InitTrace {
	logFile := filepath.Join(mkdir(o.work, "inittrace"), binary+".txt")
	u, err := run(logFile, []string{"GODEBUG=inittrace=1"}, time.Minute, filepath.Join(o.bin, binary), "version")
	t := &InitTrace{Binary: binary, Groups: map[string]InitSum{}, RSSKiB: u.MaxRSSKiB}
	if err != nil {
		logf("init trace %s: %v", binary, err)
		return t
	}
	var lines []InitLine
	for _, line := range strings.Split(readFile(logFile), "\n") {
		m := initLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		l := InitLine{Package: m[1]}
		l.ClockMS, _ = strconv.ParseFloat(m[2], 64)
		l.Bytes, _ = strconv.ParseInt(m[3], 10, 64)
		lines = append(lines, l)
		g := t.Groups[initGroup(l.Package)]
		g.Packages++
		g.ClockMS += l.ClockMS
		g.Bytes += l.Bytes
		t.Groups[initGroup(l.Package)] = g
		t.Packages++
		t.ClockMS += l.ClockMS
		t.Bytes += l.Bytes
	}
	slices.SortFunc(lines, func(a, b InitLine) int { return int(b.Bytes - a.Bytes) })
	t.TopBytes = lines[:min(8, len(lines))]
	slices.SortFunc(lines, func(a, b InitLine) int { return int(1000 * (b.ClockMS - a.ClockMS)) })
	t.TopClock = slices.Clone(lines[:min(8, len(lines))])
	logf("init trace %s: %d packages, %.1f ms, %.2f MiB allocated; renewd version max RSS %.1f MiB", binary, t.Packages, t.ClockMS, float64(t.Bytes)/(1<<20), kib(t.RSSKiB))
	return t
}

// initGroup sorts a package into the standard library, renewd, lego's DNS
// providers and what they pull in, and everything else.
func initGroup(pkg string) string {
	first, _, _ := strings.Cut(pkg, "/")
	switch {
	case !strings.Contains(first, "."):
		return "standard library"
	case strings.HasPrefix(pkg, "github.com/renewd/"):
		return "renewd"
	case strings.HasPrefix(pkg, "github.com/go-acme/lego/v4/providers/dns"):
		return "lego DNS providers"
	case strings.HasPrefix(pkg, "github.com/go-acme/lego/"):
		return "lego (the rest)"
	case strings.HasPrefix(pkg, "github.com/prometheus/") || strings.HasPrefix(pkg, "go.uber.org/") ||
		strings.HasPrefix(pkg, "gopkg.in/yaml") || strings.HasPrefix(pkg, "golang.org/x/") ||
		strings.HasPrefix(pkg, "github.com/miekg/dns") || strings.HasPrefix(pkg, "github.com/robfig/"):
		return "renewd's own dependencies and x/"
	}
	return "the DNS providers' SDKs and other modules"
}

func kib(v int64) float64 { return float64(v) / 1024 }
