package nginxconf

import (
	"fmt"
	"path/filepath"
	"slices"
)

// Config is nginx's configuration with every include replaced by the
// directives of the files it names.
type Config struct {
	// Main is the main configuration file; relative paths in the
	// configuration are relative to its directory.
	Main string
	// Directives are the main file's, includes expanded.
	Directives []*Directive
	// Files are every file read, in the order first read.
	Files []string
}

// maxIncludeDepth bounds nested includes; nginx itself allows deep nesting
// but real configurations use two or three levels.
const maxIncludeDepth = 16

// Load reads main and everything it includes from src.
func Load(src Source, main string) (*Config, error) {
	l := &loader{src: src, dir: filepath.Dir(main), parsed: map[string][]*Directive{}}
	ds, err := l.file(main, nil)
	if err != nil {
		return nil, err
	}
	return &Config{Main: main, Directives: ds, Files: l.order}, nil
}

type loader struct {
	src    Source
	dir    string
	parsed map[string][]*Directive
	order  []string
}

// file returns the expanded directives of one file; stack holds the files
// being expanded, to refuse an include loop.
func (l *loader) file(path string, stack []string) ([]*Directive, error) {
	if slices.Contains(stack, path) {
		return nil, fmt.Errorf("include loop: %s includes itself through %v", path, stack)
	}
	if len(stack) >= maxIncludeDepth {
		return nil, fmt.Errorf("includes nested deeper than %d at %s", maxIncludeDepth, path)
	}
	ds, ok := l.parsed[path]
	if !ok {
		text, err := l.src.Read(path)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		if ds, err = parseFile(path, text); err != nil {
			return nil, err
		}
		l.parsed[path] = ds
		l.order = append(l.order, path)
	}
	return l.expand(ds, append(stack, path))
}

// expand returns ds with include directives replaced, at every depth.
// The parsed directives are shared between includes of the same file, so
// they are copied before their blocks are expanded.
func (l *loader) expand(ds []*Directive, stack []string) ([]*Directive, error) {
	var out []*Directive
	for _, d := range ds {
		if d.Name == "include" {
			more, err := l.include(d, stack)
			if err != nil {
				return nil, err
			}
			out = append(out, more...)
			continue
		}
		c := *d
		if d.Block != nil {
			inner, err := l.expand(d.Block, stack)
			if err != nil {
				return nil, err
			}
			if inner == nil {
				inner = []*Directive{}
			}
			c.Block = inner
		}
		out = append(out, &c)
	}
	return out, nil
}

func (l *loader) include(d *Directive, stack []string) ([]*Directive, error) {
	if len(d.Args) != 1 {
		return nil, &SyntaxError{File: d.File, Line: d.Line, Msg: "include takes one file or pattern"}
	}
	files, err := l.src.Match(l.Abs(d.Args[0]))
	if err != nil {
		return nil, fmt.Errorf("%s:%d: %w", d.File, d.Line, err)
	}
	var out []*Directive
	for _, f := range files {
		more, err := l.file(f, stack)
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
	}
	return out, nil
}

// Abs resolves a path from the configuration as nginx does: relative to
// the directory of the main file.
func (l *loader) Abs(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(l.dir, p)
}

// Abs resolves a path written in the configuration as nginx does:
// relative to the directory of the main file.
func (c *Config) Abs(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(filepath.Dir(c.Main), p)
}
