package procenv

import (
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestWithRestores(t *testing.T) {
	t.Setenv("PROCENV_TEST_SET", "before")
	t.Setenv("PROCENV_TEST_UNSET", "")
	if err := os.Unsetenv("PROCENV_TEST_UNSET"); err != nil {
		t.Fatal(err)
	}
	failed := errors.New("provider failed")
	for _, want := range []error{nil, failed} {
		err := With(map[string]string{"PROCENV_TEST_SET": "during", "PROCENV_TEST_UNSET": "during"}, func() error {
			if os.Getenv("PROCENV_TEST_SET") != "during" || os.Getenv("PROCENV_TEST_UNSET") != "during" {
				t.Error("vars not set while fn runs")
			}
			return want
		})
		if !errors.Is(err, want) {
			t.Errorf("With = %v, want %v", err, want)
		}
		if v := os.Getenv("PROCENV_TEST_SET"); v != "before" {
			t.Errorf("PROCENV_TEST_SET = %q afterwards, want before", v)
		}
		if v, ok := os.LookupEnv("PROCENV_TEST_UNSET"); ok {
			t.Errorf("PROCENV_TEST_UNSET = %q afterwards, want unset", v)
		}
	}
}

// TestEnvironNeverMidSwap: Environ, called while other goroutines keep
// swapping variables in, never returns one of them. Run with -race.
func TestEnvironNeverMidSwap(t *testing.T) {
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_ = With(map[string]string{"PROCENV_TEST_CERT_TOKEN": "cert-secret"}, func() error { return nil })
			}
		})
	}
	for range 2000 {
		if i := slices.IndexFunc(Environ(), func(kv string) bool { return strings.HasPrefix(kv, "PROCENV_TEST_CERT_TOKEN=") }); i >= 0 {
			t.Fatal("Environ returned a variable set by With")
		}
	}
	close(stop)
	wg.Wait()
}
