package main

import (
	"errors"
	"strings"
	"testing"

	"go.uber.org/zap"
	zapobserver "go.uber.org/zap/zaptest/observer"
)

// TestExitErrorWithoutCause: an exit code with nothing to print is still
// an error that can be logged and printed, not a nil dereference.
func TestExitErrorWithoutCause(t *testing.T) {
	err := error(&exitError{code: exitFailed})
	if got := err.Error(); got != "exit status 1" {
		t.Errorf("Error() = %q", got)
	}
	core, logs := zapobserver.New(zap.InfoLevel)
	zap.New(core).Warn("failed", zap.Error(err))
	if logs.Len() != 1 || !strings.Contains(logs.All()[0].ContextMap()["error"].(string), "exit status 1") {
		t.Errorf("logged %v", logs.All())
	}
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitFailed {
		t.Errorf("errors.As = %v", ee)
	}
}
