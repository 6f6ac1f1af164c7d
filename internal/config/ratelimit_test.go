package config

import (
	"testing"
	"time"
)

func TestRateLimitErrors(t *testing.T) {
	tests := []struct {
		desc   string
		global string
		want   []string
	}{
		{
			desc:   "negative rate",
			global: "acme:\n  rate_limit:\n    requests: {per_second: -1}\n",
			want:   []string{"renewd.yaml:3: acme.rate_limit.requests.per_second: -1 is negative; use a number of requests a second such as 250, or 0 for no limit"},
		},
		{
			desc:   "a rate without a burst",
			global: "acme:\n  rate_limit:\n    endpoints:\n      new_nonce:\n        per_second: 50\n        burst: 0\n",
			want:   []string{"renewd.yaml:6: acme.rate_limit.endpoints.new_nonce.burst: 0 is too small; use at least 1 (how many requests may go at once), such as 10"},
		},
		{
			desc:   "a fractional rate",
			global: "acme:\n  rate_limit:\n    requests: {per_second: 0.5}\n",
			want:   []string{`renewd.yaml:3: acme.rate_limit.requests.per_second: want an integer, got "0.5"`},
		},
		{
			desc:   "an unknown endpoint lists the known ones",
			global: "acme:\n  rate_limit:\n    endpoints:\n      revoke_cert: {per_second: 1}\n",
			want:   []string{"renewd.yaml:4: acme.rate_limit.endpoints.revoke_cert: unknown field; valid: directory, new_nonce, new_account, new_order, renewal_info"},
		},
		{
			desc:   "negative order budget",
			global: "acme:\n  rate_limit:\n    orders: {max: -5}\n",
			want:   []string{"renewd.yaml:3: acme.rate_limit.orders.max: -5 is negative; use a number of new orders such as 300, or 0 for no limit"},
		},
		{
			desc:   "order budget without a window",
			global: "acme:\n  rate_limit:\n    orders: {max: 50, window: 0s}\n",
			want:   []string{"renewd.yaml:3: acme.rate_limit.orders.window: must be positive, such as 3h"},
		},
		{
			desc:   "pause too short",
			global: "acme:\n  rate_limit:\n    pause: 100ms\n",
			want:   []string{"renewd.yaml:3: acme.rate_limit.pause: 100ms is out of range; use 1s to 24h, such as 1m"},
		},
		{
			desc:   "pause too long",
			global: "acme:\n  rate_limit:\n    pause: 2d\n",
			want:   []string{"renewd.yaml:3: acme.rate_limit.pause: 48h is out of range; use 1s to 24h, such as 1m"},
		},
		{
			desc:   "renew_spread out of range",
			global: "renew_spread: 31d\n",
			want:   []string{"renewd.yaml:1: renew_spread: 744h is out of range; use 0 (off) to 30d, such as 24h"},
		},
		{
			desc:   "negative renew_spread",
			global: "renew_spread: -1h\n",
			want:   []string{"renewd.yaml:1: renew_spread: -1h is out of range; use 0 (off) to 30d, such as 24h"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			_, got, _ := loadTree(t, map[string]string{"renewd.yaml": tt.global, "domains.d/": ""}, Options{})
			diffLines(t, got, tt.want)
		})
	}
}

// TestRateLimitValues checks that what a file sets is kept (an explicit 0
// included: no limit) and everything it leaves out gets Let's Encrypt's
// default.
func TestRateLimitValues(t *testing.T) {
	c, _ := mustLoad(t, map[string]string{
		"renewd.yaml": `acme:
  directory: https://ca.example.net/acme/directory
  rate_limit:
    requests: {per_second: 10}
    endpoints:
      new_nonce: {per_second: 0}
      renewal_info: {per_second: 5, burst: 2}
    orders: {max: 0}
    pause: 30s
renew_spread: 0
`,
		"domains.d/": "",
	}, Options{})
	r := c.ACME.RateLimit
	checks := []struct {
		desc      string
		got, want any
	}{
		{"requests: burst defaults", r.Requests, Rate{PerSecond: 10, Burst: 125}},
		{"new_nonce 0 stays: no limit", r.Endpoints.NewNonce.PerSecond, 0},
		{"renewal_info", r.Endpoints.RenewalInfo, Rate{PerSecond: 5, Burst: 2}},
		{"directory defaults", r.Endpoints.Directory, Rate{PerSecond: 40, Burst: 40}},
		{"orders.max 0 stays: no budget", r.Orders.Max, 0},
		{"orders.window defaults", r.Orders.Window, 3 * time.Hour},
		{"pause", r.Pause, 30 * time.Second},
		{"renew_spread 0 stays: off", c.RenewSpread, time.Duration(0)},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.desc, ck.got, ck.want)
		}
	}
}
