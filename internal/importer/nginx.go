package importer

import (
	"os"
	"path/filepath"

	"github.com/renewd/renewd/internal/nginxconf"
)

// nginxUse is how nginx reads one candidate's certificate.
type nginxUse struct {
	// Ref is the directive to deploy to: the one that reads the best
	// target (the tool's full chain before its other copies).
	Ref nginxconf.CertRef
	// Others are further directives reading one of the targets with
	// another path.
	Others []nginxconf.CertRef
}

// matchNginx finds the ssl_certificate directives that read one of the
// targets, following symlinks (certbot's live/ files are links into
// archive/). ok is false when nginx reads none of them.
func matchNginx(servers []nginxconf.Server, targets []string) (use nginxUse, ok bool) {
	var all []nginxconf.CertRef
	for _, s := range servers {
		for _, ref := range s.Certs {
			if !ref.Cert.Variable() && !ref.Cert.Inline() {
				all = append(all, ref)
			}
		}
	}
	for _, t := range targets {
		for _, ref := range all {
			if !sameFile(ref.Cert.Path, t) {
				continue
			}
			if !ok {
				use.Ref, ok = ref, true
			} else if ref.Cert.Path != use.Ref.Cert.Path && !containsPath(use.Others, ref.Cert.Path) {
				use.Others = append(use.Others, ref)
			}
		}
	}
	return use, ok
}

func containsPath(refs []nginxconf.CertRef, path string) bool {
	for _, r := range refs {
		if r.Cert.Path == path {
			return true
		}
	}
	return false
}

// sameFile reports whether two paths name the same file: the same path,
// or the same file once symlinks are followed.
func sameFile(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(fa, fb)
}
