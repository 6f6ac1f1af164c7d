package config

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/renewd/renewd/internal/secret"
)

// masked replaces a secret wherever it would be shown.
const masked = "********"

// isSecret reports whether value at path (as in FieldError.Field) is a
// secret: the EAB MAC key, every dns-01 provider variable but settings and
// paths (secret.IsSecretEnv: EXEC_PATH is shown), and the URL (which
// carries the robot's token) and signing secret of notify targets.
func isSecret(path, value string) bool {
	if name, ok := strings.CutPrefix(path, "challenge.dns01.env."); ok {
		return secret.IsSecretEnv(name, value)
	}
	return path == "acme.eab.hmac_key" || path == "cluster.etcd.password" ||
		strings.HasPrefix(path, "notify.targets[") && (strings.HasSuffix(path, ".url") || strings.HasSuffix(path, ".secret"))
}

// Effective renders the configuration as Load left it (defaults applied,
// ${VAR} expanded, paths absolute, domains normalised) as YAML: the global
// settings with their file, then every certificate with its file. Secret
// fields (acme.eab.hmac_key, the values of challenge.dns01.env but
// settings such as EXEC_PATH, and the url and secret of notify targets)
// are shown as "********" when set, and every other value has the secrets
// renewd knows of masked (secret.Mask: a hook argument written as
// ${CDN_TOKEN}), so the output is safe to paste into a bug report. File
// names are quoted where they hold characters that would break a line.
// It is what `renewd config check` prints.
func (c *Config) Effective() ([]byte, error) {
	root := &yaml.Node{Kind: yaml.MappingNode}
	addPair(root, "file", scalarNode("!!str", c.Path))
	addFields(root, reflect.ValueOf(c).Elem(), "")
	if !c.Cluster.Enabled() {
		removeKey(root, "cluster") // not configured: nothing to show
	}
	certs := &yaml.Node{Kind: yaml.SequenceNode}
	for _, cert := range c.Certificates {
		m := &yaml.Node{Kind: yaml.MappingNode}
		addPair(m, "file", scalarNode("!!str", cert.File))
		addFields(m, reflect.ValueOf(cert).Elem(), "")
		dropUnusedChallenge(m, cert.Challenge.Type)
		certs.Content = append(certs.Content, m)
	}
	addPair(root, "certificates", certs)
	doc := &yaml.Node{
		Kind:        yaml.DocumentNode,
		HeadComment: "Effective renewd configuration: defaults applied, ${VAR} expanded, secrets masked.",
		Content:     []*yaml.Node{root},
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("render effective config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("render effective config: %w", err)
	}
	return buf.Bytes(), nil
}

// addFields appends the yaml fields of struct v to mapping m.
func addFields(m *yaml.Node, v reflect.Value, path string) {
	for i := range v.NumField() {
		name := yamlName(v.Type().Field(i))
		if name == "" {
			continue
		}
		f := fieldPath(path, name)
		addPair(m, name, encodeValue(v.Field(i), f))
	}
}

// encodeValue is the inverse of decoder.decode for the types Config uses.
func encodeValue(v reflect.Value, path string) *yaml.Node {
	switch {
	case v.Type() == durationType:
		return scalarNode("!!str", formatDuration(time.Duration(v.Int())))
	case v.Kind() == reflect.Struct:
		m := &yaml.Node{Kind: yaml.MappingNode}
		addFields(m, v, path)
		return m
	case v.Kind() == reflect.String:
		s := v.String()
		switch {
		case s == "":
		case isSecret(path, s):
			s = masked
		default:
			s = secret.Mask(s)
		}
		return scalarNode("!!str", s)
	case v.Kind() == reflect.Int:
		return scalarNode("!!int", fmt.Sprint(v.Int()))
	case v.Kind() == reflect.Bool:
		return scalarNode("!!bool", fmt.Sprint(v.Bool()))
	case v.Kind() == reflect.Slice:
		seq := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		if v.Type().Elem().Kind() == reflect.Struct {
			seq.Style = 0 // notify.targets: one block per item, like the file
		}
		for i := range v.Len() {
			seq.Content = append(seq.Content, encodeValue(v.Index(i), fmt.Sprintf("%s[%d]", path, i)))
		}
		return seq
	case v.Kind() == reflect.Map:
		m := &yaml.Node{Kind: yaml.MappingNode}
		env := v.Interface().(map[string]string)
		for _, k := range sortedKeys(env) {
			addPair(m, k, encodeValue(reflect.ValueOf(env[k]), fieldPath(path, k)))
		}
		return m
	}
	panic(fmt.Sprintf("config: no encoder for %s at %s", v.Type(), path))
}

// dropUnusedChallenge removes the block of the challenge type not in use,
// so the output shows what renewd will do and would load again.
func dropUnusedChallenge(cert *yaml.Node, typ string) {
	unused := map[string]string{challengeHTTP01: "dns01", challengeDNS01: "http01"}[typ]
	ch := valueOf(cert, "challenge")
	if ch == nil || unused == "" {
		return
	}
	for i := 0; i+1 < len(ch.Content); i += 2 {
		if ch.Content[i].Value == unused {
			ch.Content = append(ch.Content[:i], ch.Content[i+2:]...)
			return
		}
	}
}

// removeKey drops key and its value from mapping m.
func removeKey(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
	}
}

// valueOf returns the value for key in mapping m, or nil.
func valueOf(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func addPair(m *yaml.Node, key string, val *yaml.Node) {
	m.Content = append(m.Content, scalarNode("!!str", key), val)
}

// scalarNode is a scalar; a string with a newline or another control
// character is double-quoted, so it stays on one line of the output.
func scalarNode(tag, value string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: value}
	if QuotePath(value) != value {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

// formatDuration writes 5m and 24h rather than Go's 5m0s and 24h0m0s, in a
// form parseDuration reads back.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
