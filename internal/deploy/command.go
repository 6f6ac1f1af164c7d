package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/renewd/renewd/internal/procenv"
	"github.com/renewd/renewd/internal/secret"
)

// Runner runs a command given as an argv list. ExecRunner is the real one.
// Run returns the combined output (bounded) and an error that says how the
// command ended; it must honour ctx and timeout and may be called
// concurrently.
type Runner interface {
	Run(ctx context.Context, argv, env []string, timeout time.Duration) ([]byte, error)
}

// ExecRunner runs commands without a shell, each in its own process group,
// so that a timeout kills the command and everything it started (a reload
// script that hangs in a child, say). A command that exits but leaves a
// child holding its output open is not waited for beyond waitDelay.
//
// Commands get an explicit environment: the process environment as
// procenv.Environ returns it (never with a certificate's DNS-01 env map,
// which is set process-wide while its provider is built), plus env.
type ExecRunner struct {
	// Environ returns the environment a command starts from, before env
	// is added; nil means procenv.Environ. A test seam.
	Environ func() []string
}

var _ Runner = ExecRunner{}

const (
	maxOutput = 64 << 10
	waitDelay = 2 * time.Second
)

// Run implements Runner. env is added to the process environment.
func (r ExecRunner) Run(ctx context.Context, argv, env []string, timeout time.Duration) ([]byte, error) {
	if len(argv) == 0 || argv[0] == "" {
		return nil, errors.New("empty command")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	environ := r.Environ
	if environ == nil {
		environ = procenv.Environ
	}
	cmd.Env = append(environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// The negative pid is the process group: the command and its children.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = waitDelay
	out := &limitedBuffer{max: maxOutput}
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	switch {
	case err == nil, errors.Is(err, exec.ErrWaitDelay):
		// Success; with ErrWaitDelay a child it left behind still holds
		// the output, which is not a failure of the command itself (and
		// the deadline may have passed while waiting for it).
		return out.Bytes(), nil
	case ctx.Err() == context.DeadlineExceeded:
		return out.Bytes(), fmt.Errorf("%s: timed out after %s and was killed", quote(argv), timeout)
	case ctx.Err() != nil:
		return out.Bytes(), fmt.Errorf("%s: %w", quote(argv), ctx.Err())
	default:
		return out.Bytes(), fmt.Errorf("%s: %w", quote(argv), err)
	}
}

// quote renders argv for messages: [nginx -s reload].
func quote(argv []string) string { return "[" + strings.Join(argv, " ") + "]" }

// limitedBuffer keeps the first max bytes a command writes. The buffer is
// a named field, not embedded: an embedded bytes.Buffer would lend its
// ReadFrom to io.Copy, which os/exec uses, and bypass the cap.
type limitedBuffer struct {
	buf bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *limitedBuffer) Bytes() []byte { return b.buf.Bytes() }

// tail returns the last lines of command output for an error message,
// with the secrets renewd knows of masked first (a secret may span lines).
func tail(out []byte) string {
	s := strings.TrimSpace(secret.Mask(string(out)))
	lines := strings.Split(s, "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, "; ")
}
