package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrLocked is returned (wrapped, test with errors.Is) when another renewd
// process, or another Lock in this one, holds the storage lock.
var ErrLocked = errors.New("another renewd process holds the lock")

// lockPoll is how often Lock retries a held lock. flock has no cancellable
// blocking form, so Lock polls with LOCK_NB instead.
const lockPoll = 100 * time.Millisecond

// Lock is a held exclusive flock on <storage>/renewd.lock. The file is never
// deleted, so when a holder dies the kernel frees its lock and the next
// process takes it with no cleanup. flock locks belong to an open file, so
// two Locks in one process exclude each other too. Limit: flock is not
// reliable on some network filesystems; keep the storage directory local.
type Lock struct {
	mu sync.Mutex
	f  file // nil once unlocked
}

// TryLock takes the storage lock if it is free and returns ErrLocked at once
// if it is not.
func (s *Store) TryLock() (*Lock, error) {
	return s.tryLock(s.lockPath())
}

// ErrDaemonRunning is returned (wrapped) by TryDaemonLock when another
// `renewd run` uses this storage directory.
var ErrDaemonRunning = errors.New("another renewd daemon uses this storage")

// TryDaemonLock takes <storage>/daemon.lock, held by `renewd run` for its
// whole life so that a second daemon on the same storage refuses to start.
// It is separate from the renewal lock, which the daemon holds only while
// it renews, so `renew --now` can run between the daemon's runs.
func (s *Store) TryDaemonLock() (*Lock, error) {
	l, err := s.tryLock(filepath.Join(s.dir, "daemon.lock"))
	if errors.Is(err, ErrLocked) {
		return nil, fmt.Errorf("%w: %w", ErrDaemonRunning, err)
	}
	return l, err
}

func (s *Store) tryLock(path string) (*Lock, error) {
	f, err := s.openLockFile(path)
	if err != nil {
		return nil, err
	}
	if err := s.flock(f, path); err != nil {
		_ = f.Close()
		return nil, err
	}
	return &Lock{f: f}, nil
}

// Lock takes the storage lock, waiting for it while ctx is live. When ctx
// ends first it returns an error that matches both ErrLocked and the
// context's cause with errors.Is.
func (s *Store) Lock(ctx context.Context) (*Lock, error) {
	f, err := s.openLockFile(s.lockPath())
	if err != nil {
		return nil, err
	}
	t := time.NewTicker(lockPoll)
	defer t.Stop()
	for {
		err := s.flock(f, s.lockPath())
		if err == nil {
			return &Lock{f: f}, nil
		}
		if !errors.Is(err, ErrLocked) {
			_ = f.Close()
			return nil, err
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("%w (stopped waiting: %w)", err, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// WaitForever, as LockWait's wait, waits until ctx ends.
const WaitForever time.Duration = -1

// LockWait takes the storage lock for a renewal pass: at once when it is
// free; otherwise it calls waiting (when not nil) once and waits up to
// wait (WaitForever: no limit), or until ctx ends. When that runs out the error matches ErrLocked.
// waited says whether another process held the lock first. release frees
// the lock and may be called more than once.
func (s *Store) LockWait(ctx context.Context, wait time.Duration, waiting func()) (release func() error, waited bool, err error) {
	if s.readOnly {
		return nil, false, fmt.Errorf("lock: %w", ErrReadOnly)
	}
	l, err := s.TryLock()
	if err == nil {
		return l.Unlock, false, nil
	}
	if !errors.Is(err, ErrLocked) {
		return nil, false, err
	}
	if waiting != nil {
		waiting()
	}
	wctx, cancel := ctx, context.CancelFunc(func() {})
	if wait >= 0 {
		wctx, cancel = context.WithTimeout(ctx, wait)
	}
	defer cancel()
	l, err = s.Lock(wctx)
	if err != nil {
		return nil, true, err
	}
	return l.Unlock, true, nil
}

func (s *Store) openLockFile(path string) (file, error) {
	if s.readOnly {
		return nil, fmt.Errorf("open lock file: %w", ErrReadOnly)
	}
	f, err := s.fs.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w; the storage directory must be writable by the user renewd runs as", err)
	}
	return f, nil
}

// flock tries once to take the exclusive lock on f, the file at path.
func (s *Store) flock(f file, path string) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EWOULDBLOCK):
			return fmt.Errorf("%s: %w", path, ErrLocked)
		default:
			return fmt.Errorf("lock %s: %w", path, err)
		}
	}
}

// Unlock releases the lock. It is safe to call more than once (later calls
// do nothing), so it can be deferred next to an explicit call.
func (l *Lock) Unlock() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	f := l.f
	l.f = nil
	// LOCK_UN releases the lock even if a copy of the descriptor lingers (a
	// child between fork and exec); closing our descriptor releases it anyway,
	// so only the close error matters.
	_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
	if err := f.Close(); err != nil {
		return fmt.Errorf("unlock: %w", err)
	}
	return nil
}
