package config

import (
	"strings"
	"testing"
)

func TestMetricsDefaultOff(t *testing.T) {
	c, _ := mustLoad(t, map[string]string{"renewd.yaml": "", "domains.d/": ""}, Options{})
	if c.Metrics.Listen != "" {
		t.Errorf("metrics.listen = %q, want empty (no metrics) by default", c.Metrics.Listen)
	}
}

func TestMetricsListen(t *testing.T) {
	tests := []struct {
		desc   string
		global string
		env    map[string]string
		want   string
	}{
		{desc: "loopback IPv4", global: "metrics: {listen: \"127.0.0.1:9402\"}\n", want: "127.0.0.1:9402"},
		{desc: "loopback IPv6", global: "metrics:\n  listen: \"[::1]:9402\"\n", want: "[::1]:9402"},
		{desc: "every address", global: "metrics:\n  listen: \":9402\"\n", want: ":9402"},
		{desc: "host name", global: "metrics:\n  listen: localhost:9402\n", want: "localhost:9402"},
		{desc: "from the environment", global: "metrics:\n  listen: ${METRICS_LISTEN}\n", env: map[string]string{"METRICS_LISTEN": "10.0.0.5:9402"}, want: "10.0.0.5:9402"},
		{desc: "explicitly off", global: "metrics:\n  listen: \"\"\n", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			c, _ := mustLoad(t, map[string]string{"renewd.yaml": tt.global, "domains.d/": ""}, Options{LookupEnv: envMap(tt.env)})
			if c.Metrics.Listen != tt.want {
				t.Errorf("metrics.listen = %q, want %q", c.Metrics.Listen, tt.want)
			}
		})
	}
}

func TestMetricsErrors(t *testing.T) {
	tests := []struct {
		desc   string
		global string
		want   []string
	}{
		{
			desc:   "no port",
			global: "metrics:\n  listen: 127.0.0.1\n",
			want:   []string{`renewd.yaml:2: metrics.listen: "127.0.0.1" is not host:port; write it like 127.0.0.1:9402 or [::1]:9402 (:9402 for every address), or leave it empty for no metrics`},
		},
		{
			desc:   "IPv6 without brackets",
			global: "metrics:\n  listen: \"::1:9402\"\n",
			want:   []string{`renewd.yaml:2: metrics.listen: "::1:9402" is not host:port; write it like 127.0.0.1:9402 or [::1]:9402 (:9402 for every address), or leave it empty for no metrics`},
		},
		{
			desc:   "port 0",
			global: "metrics:\n  listen: \"127.0.0.1:0\"\n",
			want:   []string{`renewd.yaml:2: metrics.listen: "127.0.0.1:0" has port "0"; use a number from 1 to 65535`},
		},
		{
			desc:   "port out of range",
			global: "metrics: {listen: \"127.0.0.1:65536\"}\n",
			want:   []string{`renewd.yaml:1: metrics.listen: "127.0.0.1:65536" has port "65536"; use a number from 1 to 65535`},
		},
		{
			desc:   "named port",
			global: "metrics:\n  listen: \"127.0.0.1:http\"\n",
			want:   []string{`renewd.yaml:2: metrics.listen: "127.0.0.1:http" has port "http"; use a number from 1 to 65535`},
		},
		{
			desc:   "a URL instead of host:port",
			global: "metrics:\n  listen: http://127.0.0.1:9402/metrics\n",
			want:   []string{`renewd.yaml:2: metrics.listen: "http://127.0.0.1:9402/metrics" is not host:port; write it like 127.0.0.1:9402 or [::1]:9402 (:9402 for every address), or leave it empty for no metrics`},
		},
		{
			desc:   "host with a space",
			global: "metrics:\n  listen: \"local host:9402\"\n",
			want:   []string{`renewd.yaml:2: metrics.listen: "local host:9402" has a host that is neither an IP address nor a DNS name`},
		},
		{
			desc:   "unknown field",
			global: "metrics:\n  address: 127.0.0.1:9402\n",
			want:   []string{"renewd.yaml:2: metrics.address: unknown field; valid: listen"},
		},
		{
			desc:   "a string where a mapping belongs",
			global: "metrics: 127.0.0.1:9402\n",
			want:   []string{`renewd.yaml:1: metrics: want a mapping with keys listen, got "127.0.0.1:9402"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			_, got, _ := loadTree(t, map[string]string{"renewd.yaml": tt.global, "domains.d/": ""}, Options{})
			diffLines(t, got, tt.want)
		})
	}
}

func TestMetricsEffective(t *testing.T) {
	c, _ := mustLoad(t, map[string]string{"renewd.yaml": "metrics: {listen: \"127.0.0.1:9402\"}\n", "domains.d/": ""}, Options{})
	out, err := c.Effective()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "\nmetrics:\n  listen: 127.0.0.1:9402\n") {
		t.Errorf("Effective lacks the metrics block:\n%s", out)
	}
}
