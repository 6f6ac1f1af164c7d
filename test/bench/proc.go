//go:build bench

package main

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Usage is what running one or more processes cost, from the kernel's
// accounting (wait4 rusage, which includes the processes' own waited-for
// children) and the wall clock.
type Usage struct {
	WallS     float64 `json:"wall_s"`
	UserS     float64 `json:"user_s"`
	SysS      float64 `json:"sys_s"`
	CPUS      float64 `json:"cpu_s"` // user + sys
	MaxRSSKiB int64   `json:"max_rss_kib"`
	Procs     int     `json:"processes"`
	Nvcsw     int64   `json:"voluntary_ctxt_switches"`
	Nivcsw    int64   `json:"involuntary_ctxt_switches"`
	Oublock   int64   `json:"blocks_written"` // 512-byte blocks the kernel wrote for it
}

func (u *Usage) add(o Usage) {
	u.WallS += o.WallS
	u.UserS += o.UserS
	u.SysS += o.SysS
	u.CPUS += o.CPUS
	u.MaxRSSKiB = max(u.MaxRSSKiB, o.MaxRSSKiB)
	u.Procs += o.Procs
	u.Nvcsw += o.Nvcsw
	u.Nivcsw += o.Nivcsw
	u.Oublock += o.Oublock
}

// run runs one process to its end, its output appended to logFile, and
// returns its usage; err is non-nil when it did not exit 0.
func run(logFile string, env []string, timeout time.Duration, name string, args ...string) (Usage, error) {
	f := openLog(logFile)
	defer f.Close()
	fmt.Fprintf(f, "\n$ %s %s\n", name, strings.Join(args, " "))
	return runFiles(f, f, env, timeout, name, args...)
}

func openLog(logFile string) *os.File {
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fatalf("%v", err)
	}
	return f
}

// runFiles is run with stdout and stderr of its own.
func runFiles(stdout, stderr *os.File, env []string, timeout time.Duration, name string, args ...string) (Usage, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	return measure(cmd, timeout)
}

// measure starts cmd, waits for it (killing it after timeout) and returns
// its usage.
func measure(cmd *exec.Cmd, timeout time.Duration) (Usage, error) {
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Usage{}, err
	}
	timer := time.AfterFunc(timeout, func() { _ = cmd.Process.Kill() })
	err := cmd.Wait()
	timer.Stop()
	wall := time.Since(start)
	u := Usage{WallS: wall.Seconds(), Procs: 1}
	if ps := cmd.ProcessState; ps != nil {
		u.UserS, u.SysS = ps.UserTime().Seconds(), ps.SystemTime().Seconds()
		u.CPUS = u.UserS + u.SysS
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			u.MaxRSSKiB = ru.Maxrss
			u.Nvcsw, u.Nivcsw, u.Oublock = ru.Nvcsw, ru.Nivcsw, ru.Oublock
		}
	}
	if err != nil {
		log := ""
		if f, ok := cmd.Stderr.(*os.File); ok {
			log = f.Name()
		}
		return u, fmt.Errorf("%s %s: %w (log: %s)", filepath.Base(cmd.Path), strings.Join(cmd.Args[1:], " "), err, log)
	}
	return u, nil
}

// clkTck is the kernel's clock tick for /proc/PID/stat times.
var clkTck = func() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if v, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err == nil && v > 0 {
			return v
		}
	}
	return 100
}()

// procCPU is utime+stime of a running process (all its threads), seconds.
func procCPU(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	rest := string(data[bytes.LastIndexByte(data, ')')+2:])
	fields := strings.Fields(rest)
	// fields[0] is field 3 (state); utime is field 14, stime 15.
	ut, _ := strconv.ParseFloat(fields[11], 64)
	st, _ := strconv.ParseFloat(fields[12], 64)
	return (ut + st) / clkTck
}

// procSnapshot is what /proc says about a running process at one moment.
type procSnapshot struct {
	at        time.Time
	cpuS      float64 // utime+stime, clock-tick resolution
	runNS     int64   // sum over threads of /proc/PID/task/TID/schedstat on-CPU time
	switches  int64   // sum over threads of voluntary+nonvoluntary context switches
	threads   int
	rssKiB    int64
	hwmKiB    int64
	vmSizeKiB int64
	anonKiB   int64 // RssAnon: heap, stacks
	fileKiB   int64 // RssFile: pages of the binary and other files
}

func snapshot(pid int) procSnapshot {
	s := procSnapshot{at: time.Now(), cpuS: procCPU(pid)}
	status := readStatus(fmt.Sprintf("/proc/%d/status", pid))
	s.rssKiB, s.hwmKiB, s.vmSizeKiB = status["VmRSS"], status["VmHWM"], status["VmSize"]
	s.anonKiB, s.fileKiB = status["RssAnon"], status["RssFile"]
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	s.threads = len(tasks)
	for _, t := range tasks {
		st := readStatus(filepath.Join(t, "status"))
		s.switches += st["voluntary_ctxt_switches"] + st["nonvoluntary_ctxt_switches"]
		if data, err := os.ReadFile(filepath.Join(t, "schedstat")); err == nil {
			if f := strings.Fields(string(data)); len(f) > 0 {
				ns, _ := strconv.ParseInt(f[0], 10, 64)
				s.runNS += ns
			}
		}
	}
	return s
}

// readStatus parses the numeric fields of a /proc status file (kB units
// dropped).
func readStatus(path string) map[string]int64 {
	out := map[string]int64{}
	data, err := os.ReadFile(path)
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
			out[k] = n
		}
	}
	return out
}

// leafSerial is the serial (hex) of the first certificate in a PEM file.
func leafSerial(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return "", errors.New(path + ": no PEM")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "", err
	}
	return c.SerialNumber.Text(16), nil
}

func serials(paths []string) map[string]string {
	out := map[string]string{}
	for _, p := range paths {
		s, err := leafSerial(p)
		if err == nil {
			out[p] = s
		}
	}
	return out
}

func mustWrite(path string, data []byte, perm os.FileMode) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		fatalf("%v", err)
	}
	if err := os.WriteFile(path, data, perm); err != nil {
		fatalf("%v", err)
	}
}

// cleanups run (last first) when the harness ends, also on fatalf: the
// helper processes it started never outlive it.
var cleanups []func()

func atExit(f func()) { cleanups = append(cleanups, f) }

func runCleanups() {
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	cleanups = nil
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	runCleanups()
	os.Exit(1)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}
