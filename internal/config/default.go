package config

// Default returns the configuration an empty renewd.yaml at DefaultPath
// gives: every default, no certificates. Commands that help people before
// renewd is set up (`renewd audit nginx`) use it when there is no
// configuration file yet.
func Default() *Config {
	c := &Config{Path: DefaultPath}
	applyDefaults(c, newSource(DefaultPath))
	c.DomainsDir = resolvePath("/etc/renewd", c.DomainsDir)
	return c
}
