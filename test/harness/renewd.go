package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"
)

// Result is one run of the renewd CLI.
type Result struct {
	Code           int // the exit status; -1 when it was killed (at its timeout, say)
	Stdout, Stderr string
	Took           time.Duration
}

func (r Result) String() string {
	return fmt.Sprintf("exit %d after %s\n--- stdout\n%s--- stderr\n%s", r.Code, r.Took.Round(time.Millisecond), r.Stdout, r.Stderr)
}

// RunRenewd runs bin (a built renewd) as an operator does, `bin --config
// config args...`, with RENEWD_CONFIG emptied (the caller's cannot name
// another file) and env (KEY=VALUE) added, and collects what it wrote and
// its exit status. It is killed after timeout. The error is for a renewd
// that could not be run at all.
func RunRenewd(bin, config string, env []string, timeout time.Duration, args ...string) (Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--config", config}, args...)...)
	cmd.Env = append(append(os.Environ(), "RENEWD_CONFIG="), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	res := Result{Stdout: out.String(), Stderr: errb.String(), Took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.Code = ee.ExitCode()
	default:
		return res, fmt.Errorf("run renewd: %w", err)
	}
	return res, nil
}

// MustRunRenewd is RunRenewd, stopping t when renewd could not be run.
func MustRunRenewd(t TB, bin, config string, env []string, timeout time.Duration, args ...string) Result {
	t.Helper()
	res, err := RunRenewd(bin, config, env, timeout, args...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return res
}
