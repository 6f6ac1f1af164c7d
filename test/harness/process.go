package harness

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Process is a started helper program whose output goes to a log file.
type Process struct {
	Cmd *exec.Cmd
	// Log is the file its stdout and stderr go to.
	Log  string
	done chan struct{}
	err  error // its exit, once done is closed
}

// StartProcess starts name with args, its environment the harness's plus
// env (KEY=VALUE), its output appended to logFile.
func StartProcess(logFile string, env []string, name string, args ...string) (*Process, error) {
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Cmd: cmd, Log: logFile, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); f.Close(); close(p.done) }()
	return p, nil
}

// Stop kills the process and waits for it to be gone.
func (p *Process) Stop() {
	_ = p.Cmd.Process.Kill()
	<-p.done
}

// Terminate ends the process with SIGTERM, as a service manager does,
// and kills it when it is still there after grace.
func (p *Process) Terminate(grace time.Duration) {
	_ = p.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.Stop()
	}
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is how the process ended (nil for exit status 0; an *exec.ExitError
// otherwise), once Done is closed.
func (p *Process) Err() error {
	<-p.done
	return p.err
}

// Signal sends sig to the process (only this one, by its pid).
func (p *Process) Signal(sig os.Signal) error { return p.Cmd.Process.Signal(sig) }

// Output is everything in the process's log so far.
func (p *Process) Output() string {
	data, _ := os.ReadFile(p.Log)
	return string(data)
}

// Tail is the last 4,000 bytes of the process's log.
func (p *Process) Tail() string {
	data, _ := os.ReadFile(p.Log)
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return string(data)
}

// WaitFor polls check until it returns nil or timeout passes. It waits on
// a real process coming up, not on time passing in a test.
func WaitFor(what string, timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %w", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
