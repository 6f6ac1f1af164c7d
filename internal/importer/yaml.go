package importer

import (
	"bytes"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/renewd/renewd/internal/config"
)

// The domains.d file an import writes: only what differs from renewd's
// defaults, in the order the configuration page documents.
type yamlCert struct {
	Domains   []string      `yaml:"domains,flow"`
	KeyType   string        `yaml:"key_type"`
	Challenge yamlChallenge `yaml:"challenge"`
	Deploy    *yamlDeploy   `yaml:"deploy,omitempty"`
}

type yamlChallenge struct {
	Type   string      `yaml:"type"`
	HTTP01 *yamlHTTP01 `yaml:"http01,omitempty,flow"`
	DNS01  *yamlDNS01  `yaml:"dns01,omitempty"`
}

type yamlHTTP01 struct {
	Webroot string `yaml:"webroot,omitempty"`
	Listen  string `yaml:"listen,omitempty"`
}

type yamlDNS01 struct {
	Provider string            `yaml:"provider"`
	Env      map[string]string `yaml:"env,omitempty"`
}

type yamlDeploy struct {
	Fullchain string     `yaml:"fullchain,omitempty"`
	Key       string     `yaml:"key,omitempty"`
	Nginx     bool       `yaml:"nginx,omitempty"`
	Baota     *yamlBaota `yaml:"baota,omitempty"`
}

type yamlBaota struct {
	Site     string `yaml:"site"`
	PanelDir string `yaml:"panel_dir,omitempty"`
}

// renderYAML writes the domains.d file for an item, with a comment saying
// where it came from.
func renderYAML(source, origin string, domains []string, keyType string, ch config.Challenge, d config.Deploy) ([]byte, error) {
	y := yamlCert{Domains: domains, KeyType: keyType, Challenge: yamlChallenge{Type: ch.Type}}
	switch ch.Type {
	case "http-01":
		y.Challenge.HTTP01 = &yamlHTTP01{Webroot: ch.HTTP01.Webroot, Listen: ch.HTTP01.Listen}
	case "dns-01":
		y.Challenge.DNS01 = &yamlDNS01{Provider: ch.DNS01.Provider, Env: ch.DNS01.Env}
	}
	switch {
	case d.Baota.Site != "":
		y.Deploy = &yamlDeploy{Nginx: d.Nginx, Baota: &yamlBaota{Site: d.Baota.Site}}
		if d.Baota.PanelDir != config.DefaultPanelDir {
			y.Deploy.Baota.PanelDir = d.Baota.PanelDir
		}
	case d.Fullchain != "":
		y.Deploy = &yamlDeploy{Fullchain: d.Fullchain, Key: d.Key, Nginx: d.Nginx}
	}
	var body bytes.Buffer
	enc := yaml.NewEncoder(&body)
	enc.SetIndent(2)
	if err := enc.Encode(y); err != nil {
		return nil, fmt.Errorf("render yaml: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("render yaml: %w", err)
	}
	head := fmt.Sprintf("# Imported by `renewd import %s` from %s\n", source, strings.ReplaceAll(origin, "\n", " "))
	return append([]byte(head), body.Bytes()...), nil
}
