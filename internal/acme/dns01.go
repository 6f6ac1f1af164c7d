package acme

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/go-acme/lego/v4/challenge"
	"github.com/go-acme/lego/v4/challenge/dns01"
	legodns "github.com/go-acme/lego/v4/providers/dns"
	"github.com/miekg/dns"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/procenv"
)

// NewDNSProvider builds lego's DNS provider called name with vars layered
// over the process environment. An unknown name yields an error wrapping
// config.ErrUnknownDNSProvider. Errors are masked like Obtain's: neither
// the values of vars nor credentials from the process environment appear
// in them.
//
// lego providers read their settings from the process environment when
// they are built, so vars are set there only while the provider is
// constructed (procenv.With), then the previous values are restored.
// Constructions are serialised, which keeps one certificate's credentials
// out of another's provider when renewals run concurrently, and child
// processes renewd starts take procenv.Environ, which never has them.
//
// Limit: a provider that reads the environment again later (at Present
// time) sees the process environment, not vars. lego's own providers read
// their config in the constructor. lego's exec provider starts its script
// with the process environment of that moment, without procenv's lock: it
// never has vars, and has another certificate's if that one's provider is
// being built just then.
func NewDNSProvider(name string, vars map[string]string) (challenge.Provider, error) {
	remember(name, vars)
	var p challenge.Provider
	err := procenv.With(vars, func() error {
		var err error
		p, err = legodns.NewDNSChallengeProviderByName(name)
		return err
	})
	if err != nil {
		if strings.HasPrefix(err.Error(), "unrecognized DNS provider") {
			if near := NearestProvider(name); near != "" {
				return nil, fmt.Errorf("%w %q; did you mean %s? (renewd providers lists them all)", config.ErrUnknownDNSProvider, name, near)
			}
			return nil, fmt.Errorf("%w %q; use a lego provider name such as alidns, tencentcloud, huaweicloud, cloudflare, route53 or exec (renewd providers lists them all)", config.ErrUnknownDNSProvider, name)
		}
		return nil, maskError(err, name, vars)
	}
	return p, nil
}

// CheckDNSProvider is config.Options.CheckDNSProvider: it proves that the
// provider exists and that its credentials are present, without a request.
// Missing credentials are named, with where to put them.
func CheckDNSProvider(name string, vars map[string]string) error {
	_, err := NewDNSProvider(name, vars)
	if missing := missingCredentials(err); len(missing) > 0 {
		return fmt.Errorf("%s needs %s; set each in challenge.dns01.env as NAME: \"${NAME}\" and its value in /etc/renewd/env (NAME=value lines, mode 0600), "+
			"or in renewd's environment; renewd providers %s lists its variables", name, strings.Join(missing, " and "), name)
	}
	return err
}

// missingCredentials returns the variables lego says a provider is
// missing ("alidns: some credentials information are missing:
// ALICLOUD_ACCESS_KEY,ALICLOUD_SECRET_KEY"); none for any other error.
func missingCredentials(err error) []string {
	if err == nil {
		return nil
	}
	_, list, ok := strings.Cut(err.Error(), "some credentials information are missing: ")
	if !ok {
		return nil
	}
	var names []string
	for n := range strings.SplitSeq(strings.TrimSpace(list), ",") {
		if n = strings.TrimSpace(n); n != "" && !strings.ContainsAny(n, " *") {
			names = append(names, n)
		}
	}
	return names
}

// dnsProvider wraps a lego provider so that renewd's propagation_timeout
// applies instead of the provider's own default, and so that every TXT
// record it sets is recorded until it is removed (see pending).
type dnsProvider struct {
	challenge.Provider
	timeout  time.Duration
	interval time.Duration
	name     string   // the lego provider name, for the record
	journal  *pending // nil: nothing recorded
}

func (p *dnsProvider) Timeout() (time.Duration, time.Duration) { return p.timeout, p.interval }

// Present records the record before setting it: a kill in between leaves
// a record of a TXT record that may exist, never the reverse.
func (p *dnsProvider) Present(domain, token, keyAuth string) error {
	if err := p.journal.add(p.leftover(domain, token, keyAuth)); err != nil {
		return err
	}
	if err := p.Provider.Present(domain, token, keyAuth); err != nil {
		return err
	}
	presented()
	return nil
}

// CleanUp removes the record, then strikes it off.
func (p *dnsProvider) CleanUp(domain, token, keyAuth string) error {
	if err := p.Provider.CleanUp(domain, token, keyAuth); err != nil {
		return err
	}
	return p.journal.done(p.leftover(domain, token, keyAuth))
}

func (p *dnsProvider) leftover(domain, token, keyAuth string) leftover {
	return leftover{Type: "dns-01", Domain: domain, Token: token, KeyAuth: keyAuth, Provider: p.name}
}

// sequentialDNSProvider keeps lego's Sequential hint (providers that can hold
// only one TXT value per name, like exec scripts) visible through the wrap.
type sequentialDNSProvider struct {
	*dnsProvider
	seq interface{ Sequential() time.Duration }
}

func (p *sequentialDNSProvider) Sequential() time.Duration { return p.seq.Sequential() }

// wrapDNSProvider applies the certificate's propagation settings to p and
// records its TXT records in journal (nil: nowhere).
func wrapDNSProvider(p challenge.Provider, c config.DNS01, journal *pending) challenge.Provider {
	interval := dns01.DefaultPollingInterval
	if pt, ok := p.(challenge.ProviderTimeout); ok {
		_, interval = pt.Timeout()
	}
	w := &dnsProvider{Provider: p, timeout: c.PropagationTimeout, interval: interval, name: c.Provider, journal: journal}
	if w.timeout <= 0 {
		w.timeout = 2 * time.Minute
	}
	if seq, ok := p.(interface{ Sequential() time.Duration }); ok {
		return &sequentialDNSProvider{dnsProvider: w, seq: seq}
	}
	return w
}

// dnsOptions are the lego challenge options for one certificate's order.
//
// lego's propagation wait sleeps between checks and knows no context, so a
// shutdown would wait out propagation_timeout (2 minutes by default). The
// check renewd wraps around lego's (or its own) ends the wait as soon as
// ctx is done: lego then stops polling within one interval and cleans the
// TXT record up as after any failed challenge.
//
// lego keeps its recursive resolvers in a package variable, so
// per-certificate resolvers cannot go through
// dns01.AddRecursiveNameservers when renewals run concurrently; renewd
// checks propagation against the certificate's own resolvers instead.
func dnsOptions(ctx context.Context, c config.DNS01) []dns01.ChallengeOption {
	return []dns01.ChallengeOption{dns01.WrapPreCheck(preCheck(ctx, c))}
}

// preCheck is the propagation check of dnsOptions.
func preCheck(ctx context.Context, c config.DNS01) dns01.WrapPreCheckFunc {
	resolvers := append([]string(nil), c.Resolvers...)
	return func(_, fqdn, value string, check dns01.PreCheckFunc) (bool, error) {
		if err := ctx.Err(); err != nil {
			return true, fmt.Errorf("dns-01: propagation wait for %s stopped: %w", fqdn, context.Cause(ctx))
		}
		switch {
		case c.SkipPropagationCheck:
			return true, nil
		case len(resolvers) > 0:
			return txtPropagated(fqdn, value, resolvers)
		}
		return check(fqdn, value)
	}
}

// txtPropagated reports whether every resolver answers fqdn's TXT query with
// value. A resolver that cannot be reached is an error, so a typo in
// resolvers shows up as such rather than as a propagation timeout.
func txtPropagated(fqdn, value string, resolvers []string) (bool, error) {
	client := &dns.Client{Timeout: 5 * time.Second}
	for _, r := range resolvers {
		if _, _, err := net.SplitHostPort(r); err != nil {
			r = net.JoinHostPort(r, "53")
		}
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(fqdn), dns.TypeTXT)
		m.RecursionDesired = true
		in, _, err := client.Exchange(m, r)
		if err != nil {
			return false, fmt.Errorf("dns-01: query %s for %s: %w", r, fqdn, err)
		}
		if !hasTXT(in, value) {
			return false, nil
		}
	}
	return true, nil
}

func hasTXT(m *dns.Msg, value string) bool {
	if m.Rcode != dns.RcodeSuccess {
		return false
	}
	for _, rr := range m.Answer {
		if t, ok := rr.(*dns.TXT); ok && strings.Join(t.Txt, "") == value {
			return true
		}
	}
	return false
}

var errNoSolver = errors.New("no challenge solver configured")
