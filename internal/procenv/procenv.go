// Package procenv guards the process environment while one certificate's
// DNS settings are set in it. lego's DNS providers read their settings from
// the environment when they are built, so renewd sets a certificate's env
// map there for that moment; every child process renewd starts itself takes
// its environment from Environ, so it never inherits those settings.
//
// Limit: a child started by a library with exec.Command and no explicit
// Env (lego's exec DNS provider) reads os.Environ itself, without the lock.
package procenv

import (
	"fmt"
	"os"
	"sync"
)

// mu is held for writing while With has variables set, and for reading by
// Environ.
var mu sync.RWMutex

// With sets vars in the process environment, calls fn, and restores the
// previous values (unsetting what was unset) before it returns, also when
// fn fails. Calls are serialised, so fn sees exactly vars layered over the
// process environment, never another call's. fn must not call Environ or
// With: the lock is not reentrant.
func With(vars map[string]string, fn func() error) error {
	mu.Lock()
	defer mu.Unlock()

	type saved struct {
		val string
		set bool
	}
	prev := make(map[string]saved, len(vars))
	defer func() {
		for k, s := range prev {
			if s.set {
				_ = os.Setenv(k, s.val)
			} else {
				_ = os.Unsetenv(k)
			}
		}
	}()
	for k, v := range vars {
		old, ok := os.LookupEnv(k)
		prev[k] = saved{old, ok}
		if err := os.Setenv(k, v); err != nil {
			return fmt.Errorf("set %s: %w", k, err)
		}
	}
	return fn()
}

// Environ returns os.Environ(), taken while no With call has variables
// set: the environment renewd was started with, for child processes.
func Environ() []string {
	mu.RLock()
	defer mu.RUnlock()
	return os.Environ()
}
