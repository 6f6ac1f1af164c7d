//go:build bench

package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

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
	logf("go test -bench 10000 ./internal/renew ./internal/store")
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", "10000$", "-benchmem", "-count", "1", "./internal/renew", "./internal/store")
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
