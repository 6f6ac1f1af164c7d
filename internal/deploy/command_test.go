package deploy

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/procenv"
)

func TestExecRunner(t *testing.T) {
	t.Setenv("RENEWD_TEST_PARENT", "from the parent")
	tests := []struct {
		desc    string
		argv    []string
		env     []string
		wantOut string // exact output, unless empty
		has     []string
		wantErr []string // parts of the error; nil: no error
	}{
		{
			desc:    "arguments reach the program literally, no shell",
			argv:    []string{"/bin/echo", "$(id)", "a;b", "`id`", "*", "x && y", "$HOME"},
			wantOut: "$(id) a;b `id` * x && y $HOME\n",
		},
		{
			desc:    "printf with a format from the caller",
			argv:    []string{"printf", "%s|%s\n", "; rm -rf /", "'quoted'"},
			wantOut: "; rm -rf /|'quoted'\n",
		},
		{
			desc: "env is added to the parent environment",
			argv: []string{"env"},
			env:  []string{"RENEWD_NAME=shop", "RENEWD_DOMAINS=a.example.com b.example.com"},
			has:  []string{"\nRENEWD_NAME=shop\n", "\nRENEWD_DOMAINS=a.example.com b.example.com\n", "RENEWD_TEST_PARENT=from the parent\n"},
		},
		{
			desc:    "exit status is an error naming the command, with its output",
			argv:    []string{"/bin/sh", "-c", "echo config broken; exit 3"},
			wantOut: "config broken\n",
			wantErr: []string{"[/bin/sh -c echo config broken; exit 3]", "exit status 3"},
		},
		{
			desc:    "a program that does not exist",
			argv:    []string{"/nonexistent/renewd-reload"},
			wantErr: []string{"[/nonexistent/renewd-reload]", "no such file"},
		},
		{
			desc:    "empty argv",
			argv:    nil,
			wantErr: []string{"empty command"},
		},
		{
			desc:    "empty program name",
			argv:    []string{"", "-t"},
			wantErr: []string{"empty command"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			out, err := ExecRunner{}.Run(context.Background(), tt.argv, tt.env, time.Minute)
			if tt.wantErr == nil && err != nil {
				t.Fatalf("Run: %v (output %q)", err, out)
			}
			if tt.wantErr != nil {
				wantErrContains(t, err, tt.wantErr...)
			}
			if tt.wantOut != "" && string(out) != tt.wantOut {
				t.Errorf("output = %q, want %q", out, tt.wantOut)
			}
			for _, h := range tt.has {
				if !strings.Contains("\n"+string(out), h) {
					t.Errorf("output %q lacks %q", out, h)
				}
			}
		})
	}
}

// TestExecRunnerEnviron: commands start from the Environ seam, not from
// whatever os.Environ holds at the moment.
func TestExecRunnerEnviron(t *testing.T) {
	t.Setenv("RENEWD_TEST_PARENT", "from the parent")
	r := ExecRunner{Environ: func() []string { return []string{"PATH=/usr/bin:/bin", "ONLY=this"} }}
	out, err := r.Run(context.Background(), []string{"env"}, []string{"RENEWD_NAME=shop"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(string(out))
	slices.Sort(got)
	if want := []string{"ONLY=this", "PATH=/usr/bin:/bin", "RENEWD_NAME=shop"}; !slices.Equal(got, want) {
		t.Errorf("environment %q, want %q", got, want)
	}
}

// TestExecRunnerNeverSeesDNSSettings: a command started while another
// certificate's DNS-01 env map is set in the process environment (its
// provider being built) does not inherit it.
func TestExecRunnerNeverSeesDNSSettings(t *testing.T) {
	t.Setenv("RENEWD_TEST_DNS_TOKEN", "")
	if err := os.Unsetenv("RENEWD_TEST_DNS_TOKEN"); err != nil {
		t.Fatal(err)
	}
	set := make(chan struct{})
	done := make(chan error)
	go func() {
		done <- procenv.With(map[string]string{"RENEWD_TEST_DNS_TOKEN": "other-cert-secret"}, func() error {
			close(set)
			time.Sleep(200 * time.Millisecond) // a slow provider constructor
			return nil
		})
	}()
	<-set
	out, err := ExecRunner{}.Run(context.Background(), []string{"env"}, nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "other-cert-secret") {
		t.Errorf("the command inherited another certificate's DNS setting:\n%s", out)
	}
}

func TestExecRunnerExitError(t *testing.T) {
	_, err := ExecRunner{}.Run(context.Background(), []string{"/bin/sh", "-c", "exit 7"}, nil, time.Minute)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("error %v: want an *exec.ExitError with code 7", err)
	}
}

// Bug: limitedBuffer embeds bytes.Buffer, whose promoted ReadFrom lets
// os/exec's io.Copy bypass the capped Write, so the whole output is kept.
func TestExecRunnerOutputCapped(t *testing.T) {
	out, err := ExecRunner{}.Run(context.Background(), []string{"head", "-c", "200000", "/dev/zero"}, nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 64<<10 {
		t.Errorf("output is %d bytes, want the first %d", len(out), 64<<10)
	}
}

func TestExecRunnerParentCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := ExecRunner{}.Run(ctx, []string{"/bin/echo", "x"}, nil, time.Minute)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v: want one wrapping context.Canceled", err)
	}
}

// script writes an executable /bin/sh script into dir and returns its path.
func script(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "script.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}

// readPid reads the pid a script recorded.
func readPid(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the script did not record its child's pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		t.Fatalf("pid file holds %q", b)
	}
	return pid
}

// gone reports whether pid no longer runs: it does not exist, or it is a
// zombie nobody has reaped yet (killed, but PID 1 in a container may not
// reap).
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return os.IsNotExist(err)
	}
	// pid (comm) S ...: the state follows the last ')'.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

// killAtEnd kills pid when the test ends, in case the code under test left it.
func killAtEnd(t *testing.T, pid int) {
	t.Cleanup(func() {
		if !gone(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
}

func TestExecRunnerTimeoutKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	s := script(t, dir, `sleep 300 &
echo $! > "$1"
sleep 300
`)
	start := time.Now()
	_, err := ExecRunner{}.Run(context.Background(), []string{s, pidFile}, nil, 300*time.Millisecond)
	elapsed := time.Since(start)
	child := readPid(t, pidFile)
	killAtEnd(t, child)
	wantErrContains(t, err, "["+s+" "+pidFile+"]", "timed out after 300ms", "killed")
	if elapsed > 5*time.Second {
		t.Errorf("Run returned after %v; the timeout was 300ms", elapsed)
	}
	// The kernel may take a moment to tear the child down: a bounded poll,
	// not a wait for time to pass.
	for range 200 {
		if gone(child) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("the script's background child %d still runs after the timeout", child)
}

// A reload that exits 0 but leaves a daemon holding its stdout must not
// make Run wait for that daemon.
func TestExecRunnerBackgroundChildHoldingOutput(t *testing.T) {
	tests := []struct {
		desc    string
		timeout time.Duration
	}{
		{desc: "timeout longer than the wait delay", timeout: time.Minute},
		// Bug: the deadline passes while Run waits for the orphan's output,
		// and Run reports "timed out ... and was killed" for a command that
		// exited 0 and was never killed.
		{desc: "timeout shorter than the wait delay", timeout: 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			dir := t.TempDir()
			pidFile := filepath.Join(dir, "child.pid")
			s := script(t, dir, `sleep 300 &
echo $! > "$1"
echo reloaded
exit 0
`)
			start := time.Now()
			out, err := ExecRunner{}.Run(context.Background(), []string{s, pidFile}, nil, tt.timeout)
			elapsed := time.Since(start)
			killAtEnd(t, readPid(t, pidFile))
			if err != nil {
				t.Errorf("Run: %v, want nil: the command exited 0", err)
			}
			if !strings.Contains(string(out), "reloaded") {
				t.Errorf("output = %q, want it to contain %q", out, "reloaded")
			}
			if elapsed > 10*time.Second {
				t.Errorf("Run returned after %v; it should stop waiting for the child after %v", elapsed, waitDelay)
			}
		})
	}
}

func TestTail(t *testing.T) {
	tests := []struct {
		desc, in, want string
	}{
		{desc: "empty", in: "", want: ""},
		{desc: "one line, trimmed", in: "  nginx: configuration file test failed\n", want: "nginx: configuration file test failed"},
		{desc: "last five lines", in: "1\n2\n3\n4\n5\n6\n7\n", want: "3; 4; 5; 6; 7"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := tail([]byte(tt.in)); got != tt.want {
				t.Errorf("tail(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
