package deploy

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/go-acme/lego/v4/certcrypto"

	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/internal/crashpoint"
)

// The installed pair. nginx reads deploy.fullchain and deploy.key as two
// files; replaced one after the other, a kill or a power cut between the
// two renames would leave a new chain next to the old key, and nginx
// would then refuse to start. So renewd keeps both files of a certificate
// in one version directory, makes the two configured paths symbolic links
// through one "current" link, and switches that link with one rename:
//
//	/etc/nginx/ssl/shop/fullchain.pem -> .renewd-shop/current/fullchain.pem
//	/etc/nginx/ssl/shop/privkey.pem   -> .renewd-shop/current/privkey.pem
//	/etc/nginx/ssl/shop/.renewd-shop/current -> 20261121T160000Z.3f9a0c1e
//	/etc/nginx/ssl/shop/.renewd-shop/20261121T160000Z.3f9a0c1e/{fullchain.pem,privkey.pem}
//
// Every reader, at every instant, after kill -9 and after power loss,
// sees one whole version. Regular files found at the paths (a placeholder,
// files from an older renewd) become a version of their own first, when
// they are a matching pair, so the change to links is invisible to nginx
// too. See docs/deploy.md, "How the files are installed".

const (
	pairPrefix    = ".renewd-"
	currentLink   = "current"
	fullchainFile = "fullchain.pem"
	keyFile       = "privkey.pem"
	previousStamp = "previous" // the version made from files found at the paths
)

// pair is one certificate's deploy.fullchain and deploy.key.
type pair struct {
	d              *Deployer
	it             *Item
	fullchain, key string // the configured paths
	dir            string // <dir of fullchain>/.renewd-<name>
}

func newPair(d *Deployer, it *Item) *pair {
	return &pair{d: d, it: it, fullchain: it.Deploy.Fullchain, key: it.Deploy.Key,
		dir: filepath.Join(filepath.Dir(it.Deploy.Fullchain), pairPrefix+it.Name)}
}

// linkTarget is what the link at path holds to reach file of the current
// version: a relative path when path is beside the pair directory (so the
// tree can be moved or bind-mounted whole), an absolute one otherwise.
func (p *pair) linkTarget(path, file string) string {
	if filepath.Dir(path) == filepath.Dir(p.dir) {
		return filepath.Join(filepath.Base(p.dir), currentLink, file)
	}
	return filepath.Join(p.dir, currentLink, file)
}

// isPairLink reports whether a symlink's target is renewd's:
// .../.renewd-<name>/current/<file>, for any certificate name (a link
// left by a renamed certificate is renewd's to replace too).
func isPairLink(target string) bool {
	dir, file := filepath.Split(filepath.Clean(target))
	vdir, cur := filepath.Split(filepath.Clean(dir))
	return (file == fullchainFile || file == keyFile) && cur == currentLink &&
		strings.HasPrefix(filepath.Base(filepath.Clean(vdir)), pairPrefix)
}

// side is what one configured path holds before an install.
type side struct {
	path, file string // configured path; file name in a version
	kind       targetKind
	exact      bool   // renewd's link to this pair's current file
	data       []byte // what a reader sees there now; nil when unknown
	info       fs.FileInfo
}

// pairChange is an installed pair: undo switches current back to prev, a
// version holding a matching pair, or keeps the new files when there was
// none (never back to a mismatched pair or to nothing).
type pairChange struct {
	p    *pair
	prev string
}

func (c *pairChange) paths() []string { return []string{c.p.fullchain, c.p.key} }

func (c *pairChange) undo() (bool, error) {
	if c.prev == "" {
		return false, nil
	}
	if err := c.p.setLink(filepath.Join(c.p.dir, currentLink), c.prev); err != nil {
		return false, fmt.Errorf("restore %s and %s: %w", quoteName(c.p.fullchain), quoteName(c.p.key), err)
	}
	return true, nil
}

// install puts the item's fullchain and key in place as described above.
// Nothing at the configured paths changes before every check passed: a
// path that is a FIFO, a device or a link renewd did not make is refused
// first.
func (p *pair) install() (*pairChange, error) {
	f, k, err := p.inspect()
	if err != nil {
		return nil, err
	}
	if err := p.ensureDir(); err != nil {
		return nil, err
	}
	cur := p.current()
	p.prune(cur)
	if err := p.see(f, cur); err != nil {
		return nil, err
	}
	if err := p.see(k, cur); err != nil {
		return nil, err
	}
	prev, err := p.previous(f, k, cur)
	if err != nil {
		return nil, err
	}
	next, err := p.writeVersion(p.it.Version, []versionFile{
		{fullchainFile, p.it.Files.Fullchain, p.it.Deploy.FilePerm, p.it.Deploy.UID, p.it.Deploy.GID},
		{keyFile, p.it.Files.Key, p.it.Deploy.KeyPerm, p.it.Deploy.UID, p.it.Deploy.GID},
	}, "deploy-wrote-fullchain")
	if err != nil {
		return nil, err
	}
	if prev != "" {
		// The links now lead to the pair readers saw anyway.
		if err := p.link(f, k); err != nil {
			return nil, err
		}
	}
	change := &pairChange{p: p, prev: prev}
	if err := p.setLink(filepath.Join(p.dir, currentLink), next); err != nil {
		return nil, fmt.Errorf("install %s and %s: %w", quoteName(p.fullchain), quoteName(p.key), err)
	}
	if err := p.link(f, k); err != nil {
		return change, err
	}
	return change, nil
}

// inspect looks at both configured paths and refuses what renewd must not
// touch.
func (p *pair) inspect() (f, k *side, err error) {
	f = &side{path: p.fullchain, file: fullchainFile}
	k = &side{path: p.key, file: keyFile}
	for _, s := range []*side{f, k} {
		field := "deploy.fullchain"
		if s == k {
			field = "deploy.key"
		}
		var to string
		if s.kind, to, err = inspect(s.path, field, isPairLink); err != nil {
			return nil, nil, err
		}
		s.exact = s.kind == targetLink && to == p.linkTarget(s.path, s.file)
	}
	return f, k, nil
}

// see reads what a reader of s sees now: a regular file's content, or the
// current version's file behind renewd's own link.
func (p *pair) see(s *side, cur string) error {
	var path, field string
	switch {
	case s.kind == targetFile:
		path, field = s.path, "deploy."+strings.TrimSuffix(s.file, ".pem")
	case s.exact && cur != "":
		path, field = filepath.Join(p.dir, cur, s.file), "installed"
	default:
		return nil
	}
	data, fi, err := readRegular(path, field)
	if err != nil {
		var refused *refusedError
		if s.kind == targetFile || errors.As(err, &refused) {
			return err
		}
		return nil // a damaged version: nothing to return to
	}
	s.data, s.info = data, fi
	return nil
}

// previous returns the version to roll back to: the pair readers see now,
// if it is a matching one. When readers see files that are not yet a
// version (regular files at the paths), they become one, and current
// points at it. "" means there is nothing worth going back to.
func (p *pair) previous(f, k *side, cur string) (string, error) {
	if f.data == nil || k.data == nil || !pairMatches(f.data, k.data) {
		return "", nil
	}
	if f.exact && k.exact {
		return cur, nil
	}
	prev, err := p.writeVersion(previousStamp, []versionFile{fileOf(f), fileOf(k)}, "")
	if err != nil {
		return "", err
	}
	if err := p.setLink(filepath.Join(p.dir, currentLink), prev); err != nil {
		return "", fmt.Errorf("keep the previous %s and %s: %w", quoteName(p.fullchain), quoteName(p.key), err)
	}
	return prev, nil
}

// fileOf is s's content as a version file, with its mode and owner.
func fileOf(s *side) versionFile {
	vf := versionFile{name: s.file, data: s.data, perm: s.info.Mode().Perm(), uid: -1, gid: -1}
	if st, ok := s.info.Sys().(*syscall.Stat_t); ok {
		vf.uid, vf.gid = int(st.Uid), int(st.Gid)
	}
	return vf
}

// pairMatches reports whether the key is the private half of the
// fullchain's first certificate: the pair nginx would load. Like nginx it
// skips text and other blocks around them (a placeholder made with
// openssl may carry EC PARAMETERS before its key).
func pairMatches(fullchain, key []byte) bool {
	var leaf *x509.Certificate
	if b := firstBlock(fullchain, func(t string) bool { return t == "CERTIFICATE" }); b != nil {
		leaf, _ = x509.ParseCertificate(b.Bytes)
	}
	b := firstBlock(key, func(t string) bool { return strings.HasSuffix(t, "PRIVATE KEY") })
	if leaf == nil || b == nil {
		return false
	}
	k, err := certcrypto.ParsePEMPrivateKey(pem.EncodeToMemory(b))
	if err != nil {
		return false
	}
	signer, ok := k.(crypto.Signer)
	return ok && chain.KeyMatches(leaf, signer)
}

// firstBlock returns the first PEM block of data whose type is wanted.
func firstBlock(data []byte, want func(string) bool) *pem.Block {
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			return nil
		}
		if want(b.Type) {
			return b
		}
	}
}

// link makes the configured paths that are not yet renewd's links into
// links to the current version, the fullchain first.
func (p *pair) link(f, k *side) error {
	for _, s := range []*side{f, k} {
		if s.exact {
			continue
		}
		if err := p.setLink(s.path, p.linkTarget(s.path, s.file)); err != nil {
			return fmt.Errorf("link %s: %w", quoteName(s.path), err)
		}
		s.exact = true
		if s == f {
			crashpoint.Hit("deploy-linked-fullchain")
		}
	}
	return nil
}

// versionFile is one file of a version directory.
type versionFile struct {
	name     string
	data     []byte
	perm     os.FileMode
	uid, gid int
}

// writeVersion writes a new version directory named after stamp and
// returns its name. Each file is written atomically; the directory gets
// its mode and owner, and the pair directory is fsynced, before the
// version can become current. crash names the crash point between the
// first and the second file ("" for none).
func (p *pair) writeVersion(stamp string, files []versionFile, crash string) (string, error) {
	vdir, err := os.MkdirTemp(p.dir, safeStamp(stamp)+".")
	if err != nil {
		return "", fmt.Errorf("install: %w", err)
	}
	for i, f := range files {
		if err := p.d.write()(filepath.Join(vdir, f.name), f.data, f.perm, f.uid, f.gid); err != nil {
			_ = os.RemoveAll(vdir)
			return "", fmt.Errorf("install: %w", err)
		}
		if i == 0 && crash != "" {
			crashpoint.Hit(crash)
		}
	}
	if err := p.own(vdir); err != nil {
		_ = os.RemoveAll(vdir)
		return "", err
	}
	if err := syncDir(p.dir); err != nil {
		_ = os.RemoveAll(vdir)
		return "", fmt.Errorf("install: %w", err)
	}
	return filepath.Base(vdir), nil
}

// safeStamp keeps a version string usable as the start of a file name.
func safeStamp(s string) string {
	s = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return -1
	}, s)
	if s == "" || len(s) > 64 {
		return "version"
	}
	return s
}

// ensureDir creates the pair directory, or checks that what is there is a
// directory and not a link, and gives it its mode and owner.
func (p *pair) ensureDir() error {
	err := os.Mkdir(p.dir, 0o700)
	switch {
	case err == nil:
		if err := syncDir(filepath.Dir(p.dir)); err != nil {
			return fmt.Errorf("install: %w", err)
		}
	case errors.Is(err, fs.ErrExist):
		fi, lerr := os.Lstat(p.dir)
		if lerr != nil {
			return fmt.Errorf("install: %w", lerr)
		}
		if !fi.IsDir() {
			return &refusedError{field: "renewd's directory", path: p.dir, what: describeKind(fi.Mode()),
				hint: "renewd keeps the installed versions there; remove it"}
		}
	default:
		return fmt.Errorf("install: %w", err)
	}
	return p.own(p.dir)
}

func describeKind(m fs.FileMode) string {
	if m&fs.ModeSymlink != 0 {
		return "a symbolic link"
	}
	if m.IsRegular() {
		return "a file"
	}
	return kindOf(m)
}

// own gives a directory of the pair the mode and owner its files need:
// whoever may read the fullchain or the key must be able to pass through.
func (p *pair) own(dir string) error {
	d := p.it.Deploy
	if err := os.Chmod(dir, dirMode(d.FilePerm|d.KeyPerm)); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	if d.UID >= 0 || d.GID >= 0 {
		if err := os.Lchown(dir, d.UID, d.GID); err != nil {
			return fmt.Errorf("install: %w", err)
		}
	}
	return nil
}

// dirMode is 0700 plus read and search for the group or others when the
// files give them read.
func dirMode(files os.FileMode) os.FileMode {
	m := os.FileMode(0o700)
	if files&0o040 != 0 {
		m |= 0o050
	}
	if files&0o004 != 0 {
		m |= 0o005
	}
	return m
}

// current returns the version current points at, "" when there is none or
// it is not a version of this directory.
func (p *pair) current() string {
	to, err := os.Readlink(filepath.Join(p.dir, currentLink))
	if err != nil || to == "" || strings.ContainsRune(to, '/') || to == "." || to == ".." {
		return ""
	}
	if fi, err := os.Lstat(filepath.Join(p.dir, to)); err != nil || !fi.IsDir() {
		return ""
	}
	return to
}

// prune removes what earlier installs left in the pair directory (the
// versions before the current one, a version or link a kill cut short)
// and temporary links beside the configured paths. keep is current's
// version.
func (p *pair) prune(keep string) {
	entries, err := os.ReadDir(p.dir)
	if err == nil {
		for _, e := range entries {
			if n := e.Name(); n != currentLink && n != keep {
				_ = os.RemoveAll(filepath.Join(p.dir, n))
			}
		}
	}
	for _, path := range []string{p.fullchain, p.key} {
		tmps, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "."+globEscape(filepath.Base(path))+linkTempMark+"*"))
		for _, t := range tmps {
			if fi, err := os.Lstat(t); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
				_ = os.Remove(t)
			}
		}
	}
}

// globEscape quotes the glob metacharacters of a file name.
func globEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`)
	return r.Replace(s)
}

// linkTempMark is in the name of a link being made, beside its final name.
const linkTempMark = ".renewd-tmp-"

// setLink makes link a symbolic link to target in one rename: readers see
// the old link or the new one, never none. The directory is fsynced after.
func (p *pair) setLink(link, target string) error {
	var b [6]byte
	_, _ = rand.Read(b[:])
	dir := filepath.Dir(link)
	tmp := filepath.Join(dir, "."+filepath.Base(link)+linkTempMark+hex.EncodeToString(b[:]))
	if err := p.d.symlink()(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, link); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

// syncDir makes the entries of dir durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}
