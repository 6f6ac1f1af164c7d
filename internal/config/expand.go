package config

import (
	"slices"
	"strings"
)

// expand replaces ${NAME} in s with the value lookup gives for NAME and $$
// with a single $. NAME is a shell variable name ([A-Za-z_][A-Za-z0-9_]*).
// Every other $ is literal, so "pa$word" and "${not a name}" stay as
// written. It runs on decoded scalars, after YAML parsing, so a value with
// quotes, colons or # cannot change the structure of the file. unset lists
// the names lookup did not find, once each, in order.
func expand(s string, lookup func(string) (string, bool)) (out string, unset []string) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '$' {
			b.WriteByte(s[i])
			i++
			continue
		}
		if strings.HasPrefix(s[i:], "$$") {
			b.WriteByte('$')
			i += 2
			continue
		}
		name, ok := varName(s[i:])
		if !ok {
			b.WriteByte('$')
			i++
			continue
		}
		i += len("${}") + len(name)
		v, found := lookup(name)
		if !found && !slices.Contains(unset, name) {
			unset = append(unset, name)
		}
		b.WriteString(v)
	}
	return b.String(), unset
}

// varName returns NAME when s starts with ${NAME}.
func varName(s string) (string, bool) {
	if !strings.HasPrefix(s, "${") {
		return "", false
	}
	end := strings.IndexByte(s, '}')
	if end < 0 {
		return "", false
	}
	name := s[2:end]
	return name, isEnvName(name)
}

// isEnvName reports whether s is a portable environment variable name.
func isEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		letter := c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}
