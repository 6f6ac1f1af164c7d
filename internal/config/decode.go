package config

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

var durationType = reflect.TypeFor[time.Duration]()

// decoder fills Go values from a yaml.Node tree by their yaml struct tags.
// Unlike yaml.v3's own decoder it knows the field path of every value,
// records the line of each field in its source for later validation errors,
// expands ${VAR} in strings, and reports every problem (unknown or duplicate
// keys, wrong types, unset variables) instead of stopping at the first.
//
// Aliases are followed. The target types are shallow and not recursive, and
// a sequence or map item must be a scalar, so an alias can neither loop nor
// multiply (no "billion laughs"): a nested one stops at a type mismatch.
type decoder struct {
	src    *source
	lookup func(string) (string, bool)
}

func newDecoder(src *source, lookup func(string) (string, bool)) *decoder {
	return &decoder{src: src, lookup: lookup}
}

// into fills the struct ptr points to from the top node of a file.
func (d *decoder) into(n *yaml.Node, ptr any) {
	d.decode(n, reflect.ValueOf(ptr).Elem(), "")
}

// decode fills v from n; v is addressable. A null leaves v as it is.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	n = resolveAlias(n)
	if isNull(n) {
		return
	}
	switch {
	case v.Type() == durationType:
		d.duration(n, v, path)
	case v.Kind() == reflect.Struct:
		d.mapping(n, v, path)
	case v.Kind() == reflect.String:
		d.str(n, v, path)
	case v.Kind() == reflect.Int:
		d.integer(n, v, path)
	case v.Kind() == reflect.Bool:
		d.boolean(n, v, path)
	case v.Kind() == reflect.Slice:
		d.sequence(n, v, path)
	case v.Kind() == reflect.Map:
		d.stringMap(n, v, path)
	default:
		panic(fmt.Sprintf("config: no decoder for %s at %s", v.Type(), path))
	}
}

// mapping fills a struct from a YAML mapping, field by field.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	names := fieldNames(v.Type())
	if n.Kind != yaml.MappingNode {
		// The whole file is not shown: it may be another file entirely.
		d.src.badf(path, "want a mapping with keys %s, got %s", strings.Join(names, ", "), describe(n, path != ""))
		return
	}
	d.pairs(n, path, func(key string, val *yaml.Node) {
		f := fieldPath(path, key)
		i := fieldIndex(v.Type(), key)
		switch {
		case i >= 0:
			d.decode(val, v.Field(i), f)
		case plausibleName(key):
			if near := Nearest(key, names); near != "" {
				d.src.badf(f, "unknown field; did you mean %s? valid: %s", near, strings.Join(names, ", "))
				return
			}
			d.src.badf(f, "unknown field; valid: %s", strings.Join(names, ", "))
		default:
			// Not a name anyone meant as a setting: a line of another
			// file (a symlink to /etc/shadow, say), never repeated.
			d.src.errs.add(&FieldError{File: d.src.file, Line: d.src.line(f), Field: path,
				Msg: fmt.Sprintf("a key that is not a setting name (not shown); valid: %s", strings.Join(names, ", "))})
		}
	})
}

// stringMap fills a map[string]string from a YAML mapping.
func (d *decoder) stringMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.src.badf(path, "want a mapping of names to strings, got %s", describe(n, false))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	d.pairs(n, path, func(key string, val *yaml.Node) {
		s := reflect.New(v.Type().Elem()).Elem()
		d.decode(val, s, fieldPath(path, key))
		v.SetMapIndex(reflect.ValueOf(key), s)
	})
}

// pairs walks the key/value pairs of a mapping, recording lines and
// rejecting non-scalar and duplicate keys before handing each pair to fn.
func (d *decoder) pairs(n *yaml.Node, path string, fn func(key string, val *yaml.Node)) {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		k = resolveAlias(k)
		if k.Kind != yaml.ScalarNode || isNull(k) {
			d.src.errs.add(&FieldError{File: d.src.file, Line: k.Line, Field: path,
				Msg: fmt.Sprintf("a key must be a plain name, got %s", describe(k, false))})
			continue
		}
		f := fieldPath(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.src.errs.add(&FieldError{File: d.src.file, Line: k.Line, Field: f,
				Msg: fmt.Sprintf("duplicate key; first set at line %d", first)})
			continue
		}
		seen[k.Value] = k.Line
		d.src.lines[f] = k.Line
		if !isNull(resolveAlias(val)) {
			d.src.set[f] = true
		}
		fn(k.Value, val)
	}
}

// sequence fills a []string from a YAML sequence.
func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.src.badf(path, "want a list, got %s; write [a, b] or one \"- item\" per line", describe(n, false))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		f := fmt.Sprintf("%s[%d]", path, i)
		d.src.lines[f] = item.Line
		d.decode(item, s.Index(i), f)
	}
	v.Set(s)
}

// str fills a string from any plain scalar, expanding ${VAR}. The value is
// never quoted in an error: it may be a secret.
func (d *decoder) str(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode || !plainTag(n.Tag) {
		d.src.badf(path, "want a string, got %s", describe(n, false))
		return
	}
	s, unset := expand(n.Value, d.lookup)
	for _, name := range unset {
		d.src.badf(path, "environment variable %s is not set; set it (for example in the systemd EnvironmentFile) or write $$ for a literal $", name)
	}
	v.SetString(s)
}

func (d *decoder) integer(n *yaml.Node, v reflect.Value, path string) {
	var i int64
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&i) != nil || i < math.MinInt32 || i > math.MaxInt32 {
		d.src.badf(path, "want an integer, got %s", describe(n, true))
		return
	}
	v.SetInt(i)
}

func (d *decoder) boolean(n *yaml.Node, v reflect.Value, path string) {
	var b bool
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
		d.src.badf(path, "want true or false, got %s", describe(n, true))
		return
	}
	v.SetBool(b)
}

func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string) {
	var dur time.Duration
	ok := n.Kind == yaml.ScalarNode && (n.Tag == "!!str" || n.Tag == "!!int")
	if ok {
		var err error
		dur, err = parseDuration(n.Value)
		ok = err == nil
	}
	if !ok {
		d.src.badf(path, "want a duration such as 90s, 5m, 24h or 30d, got %s", describe(n, true))
		return
	}
	v.SetInt(int64(dur))
}

// fieldNames lists the yaml keys of a struct type in declaration order.
func fieldNames(t reflect.Type) []string {
	var names []string
	for f := range t.Fields() {
		if name := yamlName(f); name != "" {
			names = append(names, name)
		}
	}
	return names
}

// fieldIndex finds the struct field whose yaml key is key, or -1.
func fieldIndex(t reflect.Type, key string) int {
	for i := range t.NumField() {
		if yamlName(t.Field(i)) == key {
			return i
		}
	}
	return -1
}

func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" || !f.IsExported() {
		return ""
	}
	return name
}

func fieldPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// resolveAlias returns the node an alias stands for; yaml.v3 anchors are
// always on real nodes, so one step is enough.
func resolveAlias(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// plainTag reports whether a scalar with this tag reads as a string: the
// core schema's, not custom tags such as !secret, which renewd does not know.
func plainTag(tag string) bool {
	switch tag {
	case "!!str", "!!int", "!!float", "!!bool", "!!timestamp":
		return true
	}
	return false
}

var scalarWords = map[string]string{
	"!!str": "a string", "!!int": "a number", "!!float": "a number",
	"!!bool": "true or false", "!!timestamp": "a date", "!!null": "nothing",
}

// describe names what a node is for "want X, got Y" messages. showValue
// quotes scalars; it is false wherever the value could be a secret.
func describe(n *yaml.Node, showValue bool) string {
	n = resolveAlias(n)
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if !plainTag(n.Tag) && !isNull(n) {
			return fmt.Sprintf("a value tagged %s", n.Tag)
		}
		if showValue {
			return fmt.Sprintf("%q", shorten(n.Value))
		}
		return scalarWords[n.Tag]
	}
	return "something else"
}

// parseDuration reads a Go duration ("90s", "1h30m") and also whole days
// ("30d", "1d12h"), since certificate lifetimes are thought of in days.
// A bare 0 is allowed; other bare numbers need a unit.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	days, rest, found := strings.Cut(s, "d")
	if !found {
		return time.ParseDuration(s)
	}
	n, err := strconv.ParseUint(days, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("bad day count %q", days)
	}
	d := time.Duration(n) * 24 * time.Hour
	if rest == "" {
		return d, nil
	}
	r, err := time.ParseDuration(rest)
	if err != nil || r < 0 {
		return 0, fmt.Errorf("bad duration %q", s)
	}
	return d + r, nil
}

// plausibleName reports whether a mapping key looks like a setting name
// someone mistyped (domian, propagation-timeout), which an error may
// repeat: at most 64 letters, digits, '_', '-' and '.'.
func plausibleName(s string) bool {
	if s == "<<" { // a YAML merge key: worth naming
		return true
	}
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

// shorten cuts a value quoted in an error to its first 40 bytes.
func shorten(s string) string {
	if len(s) <= 40 {
		return s
	}
	return s[:40] + "..."
}

// foreign reports whether the mapping at the top of a file has no key
// that is a field of t and some that are not even names: the file is
// something else (a symlink to /etc/shadow, a log), and no line of it
// should be repeated. A file of mistyped names is not foreign: its errors
// name them.
func foreign(root *yaml.Node, t reflect.Type) bool {
	if root.Kind != yaml.MappingNode {
		return false
	}
	names := true
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := resolveAlias(root.Content[i])
		if k.Kind != yaml.ScalarNode || fieldIndex(t, k.Value) >= 0 {
			return false // a known key; or one that is not a scalar, which gets its own error
		}
		names = names && plausibleName(k.Value)
	}
	return !names
}
