package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"gopkg.in/yaml.v3"
)

// maxFileSize bounds a configuration file; anything larger is a mistake
// (a certificate or a log pointed at by accident), not a configuration.
const maxFileSize = 1 << 20

// Options carries checks that need code outside this package.
type Options struct {
	// CheckDNSProvider, when set, is called for every dns-01 certificate
	// with the provider name and its expanded env map, one call at a time,
	// in file order. Return an error
	// wrapping ErrUnknownDNSProvider for an unknown name (reported on field
	// challenge.dns01.provider), any other error for missing or bad
	// credentials (reported on challenge.dns01.env). Env values in the
	// message are masked.
	CheckDNSProvider func(provider string, env map[string]string) error
	// LookupEnv supplies the values of ${VAR}; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// Load reads renewd.yaml at path and every *.yaml and *.yml file directly in
// its domains_dir (sorted by file name; dotfiles and other extensions are
// ignored), applies defaults, expands ${VAR} and validates everything. A
// missing domains_dir is an error; an empty one is not. The secrets of a
// valid configuration are registered with package secret (see
// secretValues), so nothing renewd prints shows them.
//
// Load reports all problems at once: the error is an errors.Join of
// *FieldError, renewd.yaml's first, then each certificate file's in file
// order, each file's ordered by line. On error the Config is nil.
func Load(path string, opts Options) (*Config, error) {
	c, invalid, err := LoadValid(path, opts)
	if err != nil {
		return nil, err
	}
	if len(invalid) > 0 {
		var errs []error
		for _, ic := range invalid {
			errs = append(errs, ic.Errs...)
		}
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// Invalid is a certificate file of domains_dir that did not load, with
// its problems.
type Invalid struct {
	// Name is the certificate's name as far as it could be read (name:,
	// or the file name without .yaml); it may itself be invalid.
	Name string
	// File is the absolute path of the file.
	File string
	// Canary is true when the file says canary: true.
	Canary bool
	// Errs are its *FieldError problems, by line.
	Errs []error
}

// Error lists the problems, one per line.
func (ic *Invalid) Error() string { return errors.Join(ic.Errs...).Error() }

// LoadValid is Load for commands about some certificates only (`renew
// NAME`, `status NAME`): a problem in one certificate's file (an unset
// ${VAR}, say) is reported against that certificate in invalid, and the
// Config holds the certificates that loaded. err is for renewd.yaml and
// domains_dir, without which nothing loads; the Config is nil then.
func LoadValid(path string, opts Options) (cfg *Config, invalid []*Invalid, err error) {
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, nil, errors.Join(&FieldError{File: path, Msg: fmt.Sprintf("cannot resolve the path: %v", err)})
	}
	l := &loader{opts: opts}
	var expanded []string
	l.opts.LookupEnv = recordingLookup(opts.LookupEnv, &expanded)
	c, src := l.global(abs)
	errs := src.errs.sorted()
	if !src.broken && !src.errs.has("domains_dir") {
		files, ferr := certFiles(c)
		if ferr != nil {
			errs = append(errs, &FieldError{File: abs, Line: src.lines["domains_dir"], Field: "domains_dir", Msg: ferr.Error(), err: ferr})
		}
		for _, lc := range l.certificates(c, files) {
			if cerrs := lc.src.errs.sorted(); len(cerrs) > 0 {
				invalid = append(invalid, &Invalid{Name: lc.cert.Name, File: lc.cert.File, Canary: lc.cert.Canary, Errs: cerrs})
				continue
			}
			lc.cert.lines = lc.src.lines
			c.Certificates = append(c.Certificates, lc.cert)
		}
	}
	if len(errs) > 0 {
		// Without a valid renewd.yaml no certificate can be renewed;
		// its problems come first, then every file's.
		for _, ic := range invalid {
			errs = append(errs, ic.Errs...)
		}
		return nil, nil, errors.Join(errs...)
	}
	c.lines = src.lines
	c.Invalid = invalid
	slices.SortFunc(c.Certificates, func(a, b *Certificate) int { return strings.Compare(a.Name, b.Name) })
	c.index = make(map[string]int, len(c.Certificates))
	for i, cert := range c.Certificates {
		c.index[cert.Name] = i
	}
	applyPanelNginx(c, src)
	c.expanded = expanded
	c.register()
	return c, invalid, nil
}

// loader holds what Load needs across files.
type loader struct {
	opts Options
}

// loaded is one certificate file with what the checks across files need.
type loaded struct {
	cert   *Certificate
	src    *source
	valid  []int // indexes of valid, normalised domains
	broken bool  // nothing could be decoded
}

// global loads renewd.yaml.
func (l *loader) global(path string) (*Config, *source) {
	c := &Config{Path: path}
	src := newSource(path)
	if root := l.parse(src, false); root != nil && !notRenewd(src, root, reflect.TypeFor[Config](), "renewd.yaml settings (storage, acme, nginx...)") {
		newDecoder(src, l.opts.LookupEnv).into(root, c)
	}
	applyDefaults(c, src)
	dir := filepath.Dir(path)
	c.Storage = resolvePath(dir, c.Storage)
	c.DomainsDir = resolvePath(dir, c.DomainsDir)
	resolveClusterPaths(&c.Cluster, dir)
	for i, p := range c.ACME.CACertificates {
		c.ACME.CACertificates[i] = resolvePath(dir, p)
	}
	for i, p := range c.Trust.ExtraRoots {
		c.Trust.ExtraRoots[i] = resolvePath(dir, p)
	}
	validateGlobal(c, src)
	return c, src
}

// certificates loads every file and then runs the checks that span files,
// reporting each clash on the later file.
func (l *loader) certificates(c *Config, files []string) []*loaded {
	all := make([]*loaded, len(files))
	// Files are independent until checkAcrossFiles: read and decode them
	// a few at a time (10,000 small files are mostly open and read calls,
	// which overlap), keeping their order. The DNS provider checks run
	// after, one at a time in file order, as Options promises.
	par := &loader{opts: l.opts}
	par.opts.CheckDNSProvider = nil
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(len(files), 2*runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for i := range next {
				all[i] = par.certificate(c, files[i])
			}
		})
	}
	for i := range files {
		next <- i
	}
	close(next)
	wg.Wait()
	if check := l.opts.CheckDNSProvider; check != nil {
		for _, lc := range all {
			d := &lc.cert.Challenge.DNS01
			if !lc.broken && lc.cert.Challenge.Type == challengeDNS01 && d.Provider != "" &&
				!lc.src.errs.has("challenge.dns01.provider") && !lc.src.errs.has("challenge.dns01.env") {
				checkProvider(d, lc.src, check)
			}
		}
	}
	checkAcrossFiles(all)
	return all
}

// certificate loads one file of domains_dir.
func (l *loader) certificate(c *Config, file string) *loaded {
	cert := &Certificate{File: file}
	src := newSource(file)
	root := l.parse(src, true)
	if root == nil || notRenewd(src, root, reflect.TypeFor[Certificate](), "certificate settings (domains, challenge, deploy...)") {
		// Unreadable, empty, not YAML or another file: what was said is
		// all there is.
		return &loaded{cert: cert, src: src, broken: true}
	}
	newDecoder(src, l.opts.LookupEnv).into(root, cert)
	base := filepath.Base(file)
	derived := strings.TrimSuffix(base, filepath.Ext(base))
	explicit := cert.Name != ""
	applyCertDefaults(cert, c, src, derived)
	valid := validateDomains(cert, src)
	validateCert(cert, src, !explicit, l.opts)
	return &loaded{cert: cert, src: src, valid: valid}
}

// checkAcrossFiles reports names, domains and deploy files used by more
// than one certificate. Each error sits on the later file and names the
// earlier one.
func checkAcrossFiles(all []*loaded) {
	names := map[string]string{}    // name -> file
	domains := map[string]string{}  // domain -> "file:line"
	deployed := map[string]string{} // deploy file -> "file:line"
	for _, lc := range all {
		if lc.broken {
			continue
		}
		checkNameUnique(lc, names)
		checkDomainsUnique(lc, domains)
		checkDeployUnique(lc, deployed)
	}
}

func checkNameUnique(lc *loaded, names map[string]string) {
	name := lc.cert.Name
	if lc.src.errs.has("name") {
		return
	}
	if first, dup := names[name]; dup {
		lc.src.errorf("name", "%q is also the name of %s; each certificate needs its own name (set name: or rename a file)", name, QuotePath(first))
		return
	}
	names[name] = lc.cert.File
}

func checkDomainsUnique(lc *loaded, domains map[string]string) {
	for _, i := range lc.valid {
		p := fmt.Sprintf("domains[%d]", i)
		d := lc.cert.Domains[i]
		if where, dup := domains[d]; dup {
			lc.src.errorf(p, "%q is also in %s; a domain belongs to one certificate only", d, where)
			continue
		}
		domains[d] = fmt.Sprintf("%s:%d", QuotePath(lc.cert.File), lc.src.line(p))
	}
}

func checkDeployUnique(lc *loaded, deployed map[string]string) {
	for _, f := range []struct{ path, value string }{
		{"deploy.fullchain", lc.cert.Deploy.Fullchain},
		{"deploy.key", lc.cert.Deploy.Key},
	} {
		if f.value == "" || lc.src.errs.has(f.path) {
			continue
		}
		if where, dup := deployed[f.value]; dup {
			lc.src.errorf(f.path, "%q is also written by %s; each certificate needs its own files", f.value, where)
			continue
		}
		deployed[f.value] = fmt.Sprintf("%s:%d", QuotePath(lc.cert.File), lc.src.line(f.path))
	}
}

// certFiles lists the certificate files of domains_dir: regular files
// (symlinks followed) named *.yaml or *.yml, not starting with a dot,
// sorted by name. renewd.yaml itself is skipped if it lives there.
func certFiles(c *Config) ([]string, error) {
	entries, err := os.ReadDir(c.DomainsDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("directory %s does not exist; create it (it may be empty) or set domains_dir", QuotePath(c.DomainsDir))
	case err != nil:
		return nil, fmt.Errorf("cannot read directory %s: %w", QuotePath(c.DomainsDir), causeOf(err))
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		ext := filepath.Ext(name)
		if strings.HasPrefix(name, ".") || (ext != ".yaml" && ext != ".yml") {
			continue
		}
		full := filepath.Join(c.DomainsDir, name)
		if full == c.Path {
			continue
		}
		// Skip directories and fifos; keep a broken symlink so that reading
		// it reports why.
		if fi, err := os.Stat(full); err == nil && !fi.Mode().IsRegular() {
			continue
		}
		files = append(files, full)
	}
	return files, nil
}

// parse reads one file and returns its top node, or nil when there is
// nothing to decode; problems go to src.
func (l *loader) parse(src *source, needContent bool) *yaml.Node {
	data, err := readFile(src.file)
	if err != nil {
		src.errs.add(&FieldError{File: src.file, Msg: fmt.Sprintf("cannot read: %v", causeOf(err)), err: err})
		src.broken = true
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			if needContent {
				src.errs.add(&FieldError{File: src.file, Msg: "the file is empty; a certificate file needs at least domains and challenge"})
			}
			return nil
		}
		src.errs.add(yamlError(src.file, data, err))
		src.broken = true
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		src.errs.add(yamlError(src.file, data, err))
	case !isEmptyDoc(&extra):
		src.errs.add(&FieldError{File: src.file, Line: extra.Line, Msg: "a second YAML document (after ---); keep one document per file"})
	}
	if isEmptyDoc(&doc) {
		if needContent {
			src.errs.add(&FieldError{File: src.file, Line: doc.Line, Msg: "the file is empty; a certificate file needs at least domains and challenge"})
		}
		return nil
	}
	root := doc.Content[0]
	src.root = root.Line
	return root
}

// notRenewd reports, as the one error of the file, a file whose top-level
// keys are none of renewd's (see foreign): its content is not shown.
func notRenewd(src *source, root *yaml.Node, t reflect.Type, what string) bool {
	if !foreign(root, t) {
		return false
	}
	src.errs.add(&FieldError{File: src.file, Msg: "not a renewd file: none of its keys is one of the " + what +
		"; its content is not shown. Is it the right file (a symbolic link to something else)?"})
	src.broken = true
	return true
}

// isEmptyDoc reports a document with no content, such as a lone "---".
func isEmptyDoc(doc *yaml.Node) bool {
	return len(doc.Content) == 0 || isNull(doc.Content[0])
}

// readFile reads a configuration file, at most maxFileSize bytes of it,
// and only a regular file: opened without blocking, so a FIFO swapped in
// cannot hang renewd.
func readFile(name string) ([]byte, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file (a FIFO, a device or a directory); give the YAML file itself")
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err == nil && len(data) > maxFileSize {
		err = fmt.Errorf("larger than %d bytes; is this the right file?", maxFileSize)
	}
	return data, err
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlHints reword yaml.v3's parser messages for the mistakes people make.
var yamlHints = map[string]string{
	"found character that cannot start any token":           "; quote values that start with @ or `, and indent with spaces",
	"found a tab character":                                 "; indent with spaces, not tabs",
	"mapping values are not allowed in this context":        "; check the indentation, and quote values that contain \": \"",
	"did not find expected key":                             "; check the indentation of this line and the one before",
	"could not find expected ':'":                           "; a key needs a \": \" after it, or the line before has an unclosed quote",
	"found unexpected end of stream":                        "; a quote or bracket is not closed",
	"did not find expected alphabetic or numeric character": "; quote values that start with * or &, such as \"*.example.com\"",
}

// parserProblems are the messages of yaml.v3's parser, as opposed to its
// scanner. yaml.v3 (decode.go, parser.fail) adds 1 to the 0-based line of
// scanner errors only, so a parser error arrives one line early, and an
// error on the first line of either kind arrives with no line at all.
var parserProblems = []string{
	"did not find expected ',' or ']'", "did not find expected ',' or '}'",
	"did not find expected <document start>", "did not find expected '-' indicator",
	"did not find expected key", "did not find expected node content",
	"found duplicate %YAML directive", "found incompatible YAML document", "found undefined tag handle",
}

// yamlError turns a yaml.v3 syntax error into a FieldError with the line
// of the problem as near as yaml.v3 lets us know it.
func yamlError(file string, data []byte, err error) *FieldError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	known := false
	for _, p := range parserProblems {
		if strings.HasPrefix(msg, p) {
			known = true
			line++
		}
	}
	for problem, hint := range yamlHints {
		if strings.HasPrefix(msg, problem) {
			known = true
			msg += hint
		}
	}
	switch {
	case strings.Contains(msg, "tab character"):
		line = tabLine(data, line)
	case unknownAnchor.MatchString(msg):
		name := unknownAnchor.FindStringSubmatch(msg)[1]
		line = aliasLine(data, name)
		if !plausibleName(name) {
			msg = "an alias (*name) refers to no anchor (&name); the name is not shown"
		}
	case line == 0 && known:
		line = 1
	}
	return &FieldError{File: file, Line: line, Msg: "invalid YAML: " + msg}
}

var unknownAnchor = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)

// aliasLine finds the first line that uses *name; yaml.v3 gives no line
// for an alias without its anchor.
func aliasLine(data []byte, name string) int {
	for i, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, "*"+name) {
			return i + 1
		}
	}
	return 0
}

// tabLine finds the first line from line on (1-based) that is indented with
// a tab; yaml.v3 reports the start of the enclosing mapping instead.
func tabLine(data []byte, line int) int {
	for i, l := range strings.Split(string(data), "\n") {
		indent := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
		if i+1 >= line && strings.Contains(indent, "\t") {
			return i + 1
		}
	}
	return line
}
