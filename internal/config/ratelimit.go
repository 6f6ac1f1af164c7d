package config

import "time"

// RateLimit is how fast renewd may talk to one CA: a pace for its requests
// and a budget of new orders, shared by every concurrent renewal. The
// defaults are Let's Encrypt's published limits (docs/configuration.md
// says where they come from); set lower or higher values for another CA.
// The acme package enforces them.
type RateLimit struct {
	// Requests paces every request to the CA together (default 250 a
	// second, burst 125: Let's Encrypt's limit for /acme/*).
	Requests Rate `yaml:"requests"`
	// Endpoints paces some endpoints more tightly, on top of Requests.
	Endpoints EndpointRates `yaml:"endpoints"`
	// Orders bounds new orders per account in a sliding window (default 300
	// in 3h). Renewals that name the certificate they replace inside the
	// CA's ARI window do not count: Let's Encrypt exempts them.
	Orders OrderBudget `yaml:"orders"`
	// Pause is how long every request to the CA waits after a 429 or 503
	// whose Retry-After is missing or unreadable (default 1m).
	Pause time.Duration `yaml:"pause"`
}

// Rate is a token bucket: PerSecond requests a second on average, up to
// Burst at once. PerSecond 0 means no limit.
type Rate struct {
	// PerSecond is the sustained rate, a whole number of requests a second.
	PerSecond int `yaml:"per_second"`
	// Burst is how many requests may go at once after a quiet spell; at
	// least 1 when PerSecond is set.
	Burst int `yaml:"burst"`
}

// EndpointRates are the per-endpoint paces, each named after the ACME
// directory entry it applies to (RFC 8555 section 7.1.1, RFC 9773).
type EndpointRates struct {
	// Directory is the directory itself (default 40/s, burst 40).
	Directory Rate `yaml:"directory"`
	// NewNonce is newNonce (default 20/s, burst 10): renewd asks for one
	// nonce per order.
	NewNonce Rate `yaml:"new_nonce"`
	// NewAccount is newAccount (default 5/s, burst 15).
	NewAccount Rate `yaml:"new_account"`
	// NewOrder is newOrder (default 300/s, burst 200).
	NewOrder Rate `yaml:"new_order"`
	// RenewalInfo is renewalInfo, ARI (default 1000/s, burst 100).
	RenewalInfo Rate `yaml:"renewal_info"`
}

// OrderBudget is at most Max new orders in any Window; Max 0 means none.
type OrderBudget struct {
	// Max is the number of new orders (default 300).
	Max int `yaml:"max"`
	// Window is the sliding window (default 3h).
	Window time.Duration `yaml:"window"`
}

// Let's Encrypt's limits, from https://letsencrypt.org/docs/rate-limits/
// (the revision of 12 June 2025): "Overall Requests" per IP address and
// endpoint, and "New Orders per Account" (300 every 3 hours).
var letsEncryptRates = struct {
	requests  Rate
	endpoints EndpointRates
	orders    OrderBudget
}{
	requests: Rate{PerSecond: 250, Burst: 125},
	endpoints: EndpointRates{
		Directory:   Rate{PerSecond: 40, Burst: 40},
		NewNonce:    Rate{PerSecond: 20, Burst: 10},
		NewAccount:  Rate{PerSecond: 5, Burst: 15},
		NewOrder:    Rate{PerSecond: 300, Burst: 200},
		RenewalInfo: Rate{PerSecond: 1000, Burst: 100},
	},
	orders: OrderBudget{Max: 300, Window: 3 * time.Hour},
}

// defaultPause is the pause after a 429 or 503 without a usable
// Retry-After.
const defaultPause = time.Minute

// maxPause bounds rate_limit.pause: a day is already far longer than any
// CA asks for.
const maxPause = 24 * time.Hour

// rateFields names the buckets of rate_limit with their defaults, for
// applying defaults and validating alike.
func rateFields(r *RateLimit) []struct {
	path string
	rate *Rate
	def  Rate
} {
	d := letsEncryptRates.endpoints
	return []struct {
		path string
		rate *Rate
		def  Rate
	}{
		{"acme.rate_limit.requests", &r.Requests, letsEncryptRates.requests},
		{"acme.rate_limit.endpoints.directory", &r.Endpoints.Directory, d.Directory},
		{"acme.rate_limit.endpoints.new_nonce", &r.Endpoints.NewNonce, d.NewNonce},
		{"acme.rate_limit.endpoints.new_account", &r.Endpoints.NewAccount, d.NewAccount},
		{"acme.rate_limit.endpoints.new_order", &r.Endpoints.NewOrder, d.NewOrder},
		{"acme.rate_limit.endpoints.renewal_info", &r.Endpoints.RenewalInfo, d.RenewalInfo},
	}
}

// applyRateLimitDefaults fills what acme.rate_limit left out; numbers only
// when absent, so an explicit 0 (no limit) stays.
func applyRateLimitDefaults(r *RateLimit, src *source) {
	for _, f := range rateFields(r) {
		if !src.isSet(f.path + ".per_second") {
			f.rate.PerSecond = f.def.PerSecond
		}
		if !src.isSet(f.path + ".burst") {
			f.rate.Burst = f.def.Burst
		}
	}
	if !src.isSet("acme.rate_limit.orders.max") {
		r.Orders.Max = letsEncryptRates.orders.Max
	}
	if !src.isSet("acme.rate_limit.orders.window") {
		r.Orders.Window = letsEncryptRates.orders.Window
	}
	if !src.isSet("acme.rate_limit.pause") {
		r.Pause = defaultPause
	}
}

// validateRateLimit checks acme.rate_limit after defaults.
func validateRateLimit(r *RateLimit, src *source) {
	for _, f := range rateFields(r) {
		switch {
		case f.rate.PerSecond < 0:
			src.errorf(f.path+".per_second", "%d is negative; use a number of requests a second such as %d, or 0 for no limit", f.rate.PerSecond, f.def.PerSecond)
		case f.rate.PerSecond > 0 && f.rate.Burst < 1:
			src.errorf(f.path+".burst", "%d is too small; use at least 1 (how many requests may go at once), such as %d", f.rate.Burst, f.def.Burst)
		}
	}
	if r.Orders.Max < 0 {
		src.errorf("acme.rate_limit.orders.max", "%d is negative; use a number of new orders such as 300, or 0 for no limit", r.Orders.Max)
	}
	if r.Orders.Max > 0 && r.Orders.Window <= 0 {
		src.errorf("acme.rate_limit.orders.window", "must be positive, such as 3h")
	}
	if r.Pause < time.Second || r.Pause > maxPause {
		src.errorf("acme.rate_limit.pause", "%s is out of range; use 1s to 24h, such as 1m", formatDuration(r.Pause))
	}
}
