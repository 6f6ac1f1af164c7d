package config

import "net"

// Metrics is where `renewd run` serves Prometheus metrics. An empty Listen
// (the default) serves none. The metrics package does the serving.
type Metrics struct {
	// Listen is the host:port of the metrics endpoint, such as
	// "127.0.0.1:9402"; an empty host (":9402") listens on every address.
	// Empty: no metrics.
	Listen string `yaml:"listen"`
}

// validateMetrics checks the metrics block.
func validateMetrics(m *Metrics, src *source) {
	if m.Listen == "" {
		return
	}
	if _, _, err := net.SplitHostPort(m.Listen); err != nil {
		src.errorf("metrics.listen", "%q is not host:port; write it like 127.0.0.1:9402 or [::1]:9402 (:9402 for every address), or leave it empty for no metrics", m.Listen)
		return
	}
	if err := checkHostPort(m.Listen, false); err != nil {
		src.errorf("metrics.listen", "%q %v", m.Listen, err)
	}
}
