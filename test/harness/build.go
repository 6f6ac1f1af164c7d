package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// The packages the end-to-end tests build: renewd, and Pebble and
// pebble-challtestsrv at the versions go.mod pins as tools.
const (
	RenewdPackage       = "github.com/renewd/renewd/cmd/renewd"
	PebblePackage       = "github.com/letsencrypt/pebble/v2/cmd/pebble"
	ChallTestSrvPackage = "github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv"
)

// Build runs `go build` for each package of binaries (file name to
// package path) into dir, the compiler's output going to the test's
// stderr. A TestMain calls it once, before any test runs.
func Build(ctx context.Context, dir string, binaries map[string]string) error {
	for out, pkg := range binaries {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, out), pkg)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build %s: %w", pkg, err)
		}
	}
	return nil
}
