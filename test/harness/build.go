package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// The packages the end-to-end tests build: renewd, Pebble and
// pebble-challtestsrv at the versions go.mod pins as tools, and etcdnode
// (one etcd member, the etcd server go.mod pins).
const (
	RenewdPackage       = "github.com/renewd/renewd/cmd/renewd"
	PebblePackage       = "github.com/letsencrypt/pebble/v2/cmd/pebble"
	ChallTestSrvPackage = "github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv"
	EtcdNodePackage     = "github.com/renewd/renewd/test/cluster/etcdnode"
)

// ACMEBinaries are the binaries (file name to package path) a package
// that runs renewd against Pebble builds: renewd, pebble and
// pebble-challtestsrv. The map is new: a caller may add to it.
func ACMEBinaries() map[string]string {
	return map[string]string{"renewd": RenewdPackage, "pebble": PebblePackage, "pebble-challtestsrv": ChallTestSrvPackage}
}

// Build runs `go build` for each package of binaries (file name to
// package path) into dir, the compiler's output going to the test's
// stderr. A TestMain calls it once, before any test runs.
func Build(ctx context.Context, dir string, binaries map[string]string) error {
	return BuildTags(ctx, dir, "", binaries)
}

// BuildTags is Build with build tags (go build -tags, comma-separated):
// renewd with "crashpoints", say.
func BuildTags(ctx context.Context, dir, tags string, binaries map[string]string) error {
	for out, pkg := range binaries {
		args := []string{"build", "-o", filepath.Join(dir, out)}
		if tags != "" {
			args = append(args, "-tags", tags)
		}
		cmd := exec.CommandContext(ctx, "go", append(args, pkg)...)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build %s (tags %q): %w", pkg, tags, err)
		}
	}
	return nil
}
