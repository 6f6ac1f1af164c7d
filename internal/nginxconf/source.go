package nginxconf

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/renewd/renewd/internal/readfile"
)

// Source gives the files of one nginx configuration.
//
// Contract: Match returns the files an absolute include pattern (a glob,
// as nginx's include takes) names, sorted as nginx sorts them, and none
// (with no error) when nothing matches; Read returns a file's text.
type Source interface {
	Match(pattern string) ([]string, error)
	Read(path string) (string, error)
}

// Dump is the configuration as `nginx -T` printed it: every file nginx
// read, in the order it read them, the main file first.
type Dump struct {
	main  string
	files map[string]string
	order []string
}

var _ Source = (*Dump)(nil)

// dumpMarker starts each file in the output of nginx -T.
const dumpMarker = "# configuration file "

// ParseDump splits the output of `nginx -T` into its files. What comes
// before the first "# configuration file PATH:" line (nginx's own
// messages and warnings, when stderr is mixed in) is ignored.
func ParseDump(out []byte) (*Dump, error) {
	d := &Dump{files: map[string]string{}}
	var cur string
	var text strings.Builder
	flush := func() {
		if cur != "" {
			d.files[cur] = text.String()
		}
		text.Reset()
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, dumpMarker); ok && strings.HasSuffix(rest, ":") {
			flush()
			cur = strings.TrimSuffix(rest, ":")
			if _, seen := d.files[cur]; !seen {
				d.order = append(d.order, cur)
			}
			continue
		}
		if cur != "" {
			text.WriteString(line)
			text.WriteByte('\n')
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read nginx -T output: %w", err)
	}
	flush()
	if len(d.order) == 0 {
		return nil, errors.New(`the output of nginx -T has no "# configuration file" line; is this nginx, and did -T run?`)
	}
	d.main = d.order[0]
	return d, nil
}

// Main is the main configuration file: the first one nginx printed.
func (d *Dump) Main() string { return d.main }

// Files lists the files in the order nginx printed them.
func (d *Dump) Files() []string { return slices.Clone(d.order) }

// Match implements Source over the files nginx printed.
func (d *Dump) Match(pattern string) ([]string, error) {
	var out []string
	for _, f := range d.order {
		ok, err := filepath.Match(pattern, f)
		if err != nil {
			return nil, fmt.Errorf("include %q: %w", pattern, err)
		}
		if ok {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Read implements Source.
func (d *Dump) Read(path string) (string, error) {
	text, ok := d.files[path]
	if !ok {
		return "", fmt.Errorf("%s is not in the output of nginx -T", path)
	}
	return text, nil
}

// Disk reads the configuration from the filesystem, for when nginx -T
// cannot run or fails. Every file is read with a bound, and only regular
// files are read, so a FIFO or a device in an include cannot hang it.
type Disk struct{}

var _ Source = Disk{}

// maxConfFile bounds one configuration file read from disk.
const maxConfFile = 4 << 20

// Match implements Source with filepath.Glob, sorted as nginx's glob is.
func (Disk) Match(pattern string) ([]string, error) {
	if !strings.ContainsAny(pattern, "*?[") {
		if _, err := os.Stat(pattern); err != nil {
			return nil, fmt.Errorf("include %s: %w", pattern, err)
		}
		return []string{pattern}, nil
	}
	out, err := filepath.Glob(pattern)
	if err != nil {
		return nil, fmt.Errorf("include %q: %w", pattern, err)
	}
	slices.Sort(out)
	return out, nil
}

// Read implements Source.
func (Disk) Read(path string) (string, error) {
	data, err := readfile.Bounded(path, maxConfFile)
	return string(data), err
}
