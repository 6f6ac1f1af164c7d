package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestLockExcludes(t *testing.T) {
	tests := []struct {
		desc   string
		second func(s *Store) (*Lock, error)
	}{
		{desc: "TryLock", second: (*Store).TryLock},
		{
			desc: "Lock with a short deadline",
			second: func(s *Store) (*Lock, error) {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
				defer cancel()
				return s.Lock(ctx)
			},
		},
		{
			desc: "Lock with a cancelled context",
			second: func(s *Store) (*Lock, error) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return s.Lock(ctx)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			s := openTest(t)
			// A second Store on the same directory stands in for a second
			// process: flock locks belong to the open file.
			other, err := open(s.Dir(), osFS{}, fixedClock(t0))
			if err != nil {
				t.Fatal(err)
			}
			held, err := s.Lock(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			l, err := tt.second(other)
			if !errors.Is(err, ErrLocked) {
				t.Fatalf("second lock = %v, %v; want ErrLocked", l, err)
			}
			if err := held.Unlock(); err != nil {
				t.Fatal(err)
			}
			l, err = tt.second(other)
			if err != nil {
				t.Fatalf("lock after Unlock: %v", err)
			}
			if err := l.Unlock(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLockErrorCarriesCause(t *testing.T) {
	s := openTest(t)
	held, err := s.TryLock()
	if err != nil {
		t.Fatal(err)
	}
	defer held.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err = s.Lock(ctx)
	if !errors.Is(err, ErrLocked) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Lock = %v, want ErrLocked and DeadlineExceeded", err)
	}
}

// TestLockWaits: a waiting Lock gets the lock once the holder lets go.
func TestLockWaits(t *testing.T) {
	s := openTest(t)
	held, err := s.TryLock()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got := make(chan error, 1)
	go func() {
		l, err := s.Lock(ctx)
		if err == nil {
			err = l.Unlock()
		}
		got <- err
	}()
	if err := held.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("waiting Lock: %v", err)
	}
}

func TestLockFile(t *testing.T) {
	s := openTest(t)
	l, err := s.TryLock()
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := l.Unlock(); err != nil {
		t.Errorf("second Unlock: %v", err)
	}
	fi, err := os.Lstat(s.lockPath())
	if err != nil {
		t.Fatalf("lock file deleted: %v", err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Errorf("lock file mode %v, want a regular 0600 file", fi.Mode())
	}
}

// TestLockFreedWhenFileClosed: a holder that dies without unlocking (here:
// its descriptor is closed) does not strand the lock.
func TestLockFreedWhenFileClosed(t *testing.T) {
	s := openTest(t)
	l, err := s.TryLock()
	if err != nil {
		t.Fatal(err)
	}
	if err := l.f.Close(); err != nil {
		t.Fatal(err)
	}
	l2, err := s.TryLock()
	if err != nil {
		t.Fatalf("TryLock after the holder's file closed: %v", err)
	}
	_ = l2.Unlock()
}

const lockHelperEnv = "RENEWD_STORE_TEST_LOCK_HOLDER"

// TestLockFreedWhenHolderKilled runs this test binary as a second process
// that takes the lock, kills it with SIGKILL, and takes the lock.
func TestLockFreedWhenHolderKilled(t *testing.T) {
	if dir := os.Getenv(lockHelperEnv); dir != "" {
		holdLockForever(dir)
		return
	}
	s := openTest(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockFreedWhenHolderKilled$")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+s.Dir())
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe() // the helper blocks reading it
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("helper said %q, %v", line, err)
	}
	if _, err := s.TryLock(); !errors.Is(err, ErrLocked) {
		t.Errorf("TryLock while the helper holds it = %v, want ErrLocked", err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	l, err := s.TryLock()
	if err != nil {
		t.Fatalf("TryLock after the holder was killed: %v", err)
	}
	_ = l.Unlock()
}

func holdLockForever(dir string) {
	s, err := Open(dir)
	if err == nil {
		_, err = s.TryLock()
	}
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

func TestDaemonLockIsSeparateFromTheRenewalLock(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.TryDaemonLock()
	if err != nil {
		t.Fatalf("first daemon lock: %v", err)
	}
	if _, err := s.TryDaemonLock(); !errors.Is(err, ErrDaemonRunning) {
		t.Fatalf("second daemon lock: %v, want ErrDaemonRunning", err)
	}
	r, err := s.TryLock()
	if err != nil {
		t.Fatalf("the renewal lock is blocked by the daemon lock: %v", err)
	}
	_ = r.Unlock()
	_ = d.Unlock()
	if d2, err := s.TryDaemonLock(); err != nil {
		t.Fatalf("daemon lock after unlock: %v", err)
	} else {
		_ = d2.Unlock()
	}
}
