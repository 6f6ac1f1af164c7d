package acme

import (
	"slices"
	"strings"

	"github.com/renewd/renewd/internal/config"
)

//go:generate go run gen_providers.go

// ProviderInfo describes one of lego's DNS providers, as lego's own
// documentation does: renewd passes the variables to lego unchanged.
type ProviderInfo struct {
	// Code is the name to write in challenge.dns01.provider.
	Code string
	// Name is the provider's name for people ("Alibaba Cloud DNS").
	Name string
	// URL is the provider's site; empty for lego's own programs (exec,
	// httpreq, manual).
	URL string
	// Aliases are other names lego accepts for it.
	Aliases []string
	// Credentials are the variables that authenticate; a provider may
	// accept one of several sets (a token, or a key and a secret).
	Credentials []ProviderVar
	// Additional are optional settings (timeouts, TTL, region...).
	Additional []ProviderVar
}

// ProviderVar is one environment variable of a provider.
type ProviderVar struct {
	Name, Description string
}

// DocURL is the page of lego's documentation for the provider.
func (p ProviderInfo) DocURL() string {
	return "https://go-acme.github.io/lego/dns/" + p.Code + "/"
}

// Providers returns lego's DNS providers, sorted by code.
func Providers() []ProviderInfo { return slices.Clone(providers) }

// LookupProvider returns the provider called name (its code or an alias).
func LookupProvider(name string) (ProviderInfo, bool) {
	for _, p := range providers {
		if p.Code == name || slices.Contains(p.Aliases, name) {
			return p, true
		}
	}
	return ProviderInfo{}, false
}

// NearestProvider returns the provider name closest to a misspelled one,
// "" when none is close (see config.Nearest).
func NearestProvider(name string) string {
	names := make([]string, 0, len(providers))
	for _, p := range providers {
		names = append(names, p.Code)
		names = append(names, p.Aliases...)
	}
	return config.Nearest(strings.ToLower(name), names)
}
