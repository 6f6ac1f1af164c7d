package acme

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-acme/lego/v4/challenge"
	"github.com/go-acme/lego/v4/challenge/dns01"
	"github.com/miekg/dns"

	"github.com/renewd/renewd/internal/config"
)

// unsetEnv removes names from the environment for the test and restores
// them afterwards (t.Setenv records the old value; Unsetenv then removes it).
func unsetEnv(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		t.Setenv(n, "")
		if err := os.Unsetenv(n); err != nil {
			t.Fatal(err)
		}
	}
}

var execVars = []string{"EXEC_PATH", "EXEC_MODE", "EXEC_PROPAGATION_TIMEOUT", "EXEC_POLLING_INTERVAL", "EXEC_SEQUENCE_INTERVAL"}

func TestNewDNSProviderUnknownName(t *testing.T) {
	for _, name := range []string{"no-such-provider", ""} {
		_, err := NewDNSProvider(name, map[string]string{"X_TOKEN": "v"})
		if !errors.Is(err, config.ErrUnknownDNSProvider) {
			t.Errorf("NewDNSProvider(%q) = %v, want an error wrapping config.ErrUnknownDNSProvider", name, err)
		}
		if err := CheckDNSProvider(name, nil); !errors.Is(err, config.ErrUnknownDNSProvider) {
			t.Errorf("CheckDNSProvider(%q) = %v, want an error wrapping config.ErrUnknownDNSProvider", name, err)
		}
	}
	if _, ok := os.LookupEnv("X_TOKEN"); ok {
		t.Error("X_TOKEN left in the environment")
	}
}

func TestNewDNSProviderExec(t *testing.T) {
	tests := []struct {
		desc    string
		before  map[string]string // the process environment before the call
		vars    map[string]string
		wantErr string // substring; "" for success
	}{
		{desc: "without EXEC_PATH", vars: nil, wantErr: "EXEC_PATH"},
		{desc: "with an empty EXEC_PATH", vars: map[string]string{"EXEC_PATH": ""}, wantErr: "EXEC_PATH"},
		{desc: "with EXEC_PATH", vars: map[string]string{"EXEC_PATH": "/bin/true"}},
		{desc: "EXEC_PATH from the process environment", before: map[string]string{"EXEC_PATH": "/bin/true"}},
		{desc: "vars win over the process environment, which is restored",
			before: map[string]string{"EXEC_PATH": "/usr/local/bin/previous", "EXEC_MODE": ""},
			vars:   map[string]string{"EXEC_PATH": "/bin/true", "EXEC_MODE": "RAW"}},
		{desc: "a failed construction restores too",
			before: map[string]string{"EXEC_MODE": "previous"},
			vars:   map[string]string{"EXEC_MODE": "RAW"}, wantErr: "EXEC_PATH"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			unsetEnv(t, execVars...)
			for k, v := range tt.before {
				t.Setenv(k, v)
			}
			for _, check := range []struct {
				name string
				call func() error
			}{
				{"NewDNSProvider", func() error {
					p, err := NewDNSProvider("exec", tt.vars)
					if err == nil && p == nil {
						return errors.New("nil provider without an error")
					}
					return err
				}},
				{"CheckDNSProvider", func() error { return CheckDNSProvider("exec", tt.vars) }},
			} {
				err := check.call()
				switch {
				case tt.wantErr == "" && err != nil:
					t.Errorf("%s: %v", check.name, err)
				case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
					t.Errorf("%s = %v, want an error mentioning %s", check.name, err, tt.wantErr)
				case err != nil && errors.Is(err, config.ErrUnknownDNSProvider):
					t.Errorf("%s: missing credentials reported as an unknown provider: %v", check.name, err)
				}
				for _, k := range execVars {
					got, set := os.LookupEnv(k)
					want, wantSet := tt.before[k]
					if got != want || set != wantSet {
						t.Errorf("%s: afterwards %s = %q (set %v), want %q (set %v)", check.name, k, got, set, want, wantSet)
					}
				}
			}
		})
	}
}

// TestNewDNSProviderConcurrentEnv builds exec providers for two
// certificates with different EXEC_PATH values from many goroutines at once
// and runs each provider's Present: every provider must run its own
// certificate's program. Run with -race.
func TestNewDNSProviderConcurrentEnv(t *testing.T) {
	unsetEnv(t, execVars...)
	dir := t.TempDir()
	logFile := filepath.Join(dir, "calls.log")
	scripts := map[string]string{}
	for _, name := range []string{"alpha", "beta"} {
		path := filepath.Join(dir, name+".sh")
		// RAW mode: $1=present $2=-- $3=domain $4=token $5=keyAuth.
		script := fmt.Sprintf("#!/bin/sh\necho \"%s $1 $4\" >> '%s'\n", name, logFile)
		if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		scripts[name] = path
	}

	const perScript = 12
	var wg sync.WaitGroup
	errs := make(chan error, 2*perScript)
	for name, path := range scripts {
		for i := range perScript {
			wg.Go(func() {
				p, err := NewDNSProvider("exec", map[string]string{"EXEC_PATH": path, "EXEC_MODE": "RAW"})
				if err != nil {
					errs <- err
					return
				}
				if err := p.Present("shop.example.com", fmt.Sprintf("%s-%d", name, i), "keyauth"); err != nil {
					errs <- fmt.Errorf("%s #%d: %w", name, i, err)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	data, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 2*perScript {
		t.Errorf("%d script runs, want %d:\n%s", len(lines), 2*perScript, data)
	}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 3 || f[1] != "present" {
			t.Errorf("unexpected log line %q", l)
			continue
		}
		if ran, token := f[0], f[2]; !strings.HasPrefix(token, ran+"-") {
			t.Errorf("the provider built for %s ran the %s script", token, ran)
		}
	}
	for _, k := range execVars {
		if v, ok := os.LookupEnv(k); ok {
			t.Errorf("%s=%q left in the process environment", k, v)
		}
	}
}

// TestNewDNSProviderErrorsHideValues: the values of a certificate's env map
// are secrets; NewDNSProvider's contract is that they never appear in its
// errors, which end up in logs and state.json's last_error.
func TestNewDNSProviderErrorsHideValues(t *testing.T) {
	const secret = "s3cr3t-Pa55w0rd"
	tests := []struct {
		desc     string
		provider string
		vars     map[string]string
	}{
		{desc: "unknown provider", provider: "no-such-provider",
			vars: map[string]string{"NO_SUCH_TOKEN": secret}},
		{desc: "exec with other variables but no EXEC_PATH", provider: "exec",
			vars: map[string]string{"EXEC_MODE": secret, "EXEC_POLLING_INTERVAL": secret}},
		{desc: "cloudflare with half its credentials", provider: "cloudflare",
			vars: map[string]string{"CLOUDFLARE_EMAIL": secret + "@example.com"}},
		{desc: "alidns with half its credentials", provider: "alidns",
			vars: map[string]string{"ALICLOUD_ACCESS_KEY": secret}},
		// lego's httpreq quotes its endpoint in url.Parse's error; an
		// endpoint may carry basic-auth credentials.
		{desc: "httpreq with an unparsable endpoint holding credentials", provider: "httpreq",
			vars: map[string]string{"HTTPREQ_ENDPOINT": "https://renewd:" + secret + "@[::1", "HTTPREQ_PASSWORD": secret}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			for k := range tt.vars {
				unsetEnv(t, k)
			}
			_, err := NewDNSProvider(tt.provider, tt.vars)
			if err == nil {
				t.Fatal("NewDNSProvider succeeded; the case needs a failure")
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error shows a secret value: %v", err)
			}
		})
	}
}

type plainProvider struct{}

func (plainProvider) Present(_, _, _ string) error { return nil }
func (plainProvider) CleanUp(_, _, _ string) error { return nil }

func TestWrapDNSProvider(t *testing.T) {
	unsetEnv(t, execVars...)
	exec, err := NewDNSProvider("exec", map[string]string{
		"EXEC_PATH": "/bin/true", "EXEC_POLLING_INTERVAL": "7", "EXEC_SEQUENCE_INTERVAL": "11", "EXEC_PROPAGATION_TIMEOUT": "999",
	})
	if err != nil {
		t.Fatal(err)
	}
	type timeouter interface {
		Timeout() (time.Duration, time.Duration)
	}
	type sequential interface{ Sequential() time.Duration }

	tests := []struct {
		desc         string
		p            challenge.Provider
		cfg          config.DNS01
		wantTimeout  time.Duration
		wantInterval time.Duration
		wantSeq      time.Duration // 0: not sequential
	}{
		{desc: "exec: propagation_timeout wins, the provider's interval and Sequential hint stay",
			p: exec, cfg: config.DNS01{PropagationTimeout: 3 * time.Minute},
			wantTimeout: 3 * time.Minute, wantInterval: 7 * time.Second, wantSeq: 11 * time.Second},
		{desc: "exec: no propagation_timeout means 2m",
			p: exec, wantTimeout: 2 * time.Minute, wantInterval: 7 * time.Second, wantSeq: 11 * time.Second},
		{desc: "a provider without Timeout or Sequential",
			p: plainProvider{}, cfg: config.DNS01{PropagationTimeout: time.Minute},
			wantTimeout: time.Minute, wantInterval: dns01.DefaultPollingInterval},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			var p any = wrapDNSProvider(tt.p, tt.cfg, nil)
			to, ok := p.(timeouter)
			if !ok {
				t.Fatal("the wrapped provider has no Timeout")
			}
			if timeout, interval := to.Timeout(); timeout != tt.wantTimeout || interval != tt.wantInterval {
				t.Errorf("Timeout() = %s, %s; want %s, %s", timeout, interval, tt.wantTimeout, tt.wantInterval)
			}
			seq, ok := p.(sequential)
			switch {
			case tt.wantSeq == 0 && ok:
				t.Error("the wrapped provider claims to be sequential")
			case tt.wantSeq != 0 && !ok:
				t.Error("the wrapped provider lost lego's Sequential hint")
			case ok && seq.Sequential() != tt.wantSeq:
				t.Errorf("Sequential() = %s, want %s", seq.Sequential(), tt.wantSeq)
			}
		})
	}
}

func TestPreCheck(t *testing.T) {
	dns := startDNS(t, map[string][]string{"_acme-challenge.shop.example.com.": {"token"}})
	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	lego := func(called *bool) dns01.PreCheckFunc {
		return func(string, string) (bool, error) { *called = true; return false, nil }
	}
	tests := []struct {
		desc       string
		ctx        context.Context
		cfg        config.DNS01
		wantStop   bool
		wantErr    string
		wantLego   bool
		wantCancel bool
	}{
		{desc: "defaults: lego's own check", ctx: context.Background(), wantLego: true},
		{desc: "skip_propagation_check", ctx: context.Background(), cfg: config.DNS01{SkipPropagationCheck: true}, wantStop: true},
		{desc: "own resolvers answer", ctx: context.Background(), cfg: config.DNS01{Resolvers: []string{dns.addr}}, wantStop: true},
		{desc: "a stop ends the wait at the next check", ctx: stopped, wantStop: true, wantErr: "propagation wait for _acme-challenge.shop.example.com. stopped", wantCancel: true},
		{desc: "a stop ends the wait with own resolvers too", ctx: stopped, cfg: config.DNS01{Resolvers: []string{dns.addr}}, wantStop: true, wantCancel: true},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			called := false
			stop, err := preCheck(tt.ctx, tt.cfg)("shop.example.com", "_acme-challenge.shop.example.com.", "token", lego(&called))
			if stop != tt.wantStop || called != tt.wantLego {
				t.Errorf("stop %v, lego's check called %v; want %v, %v", stop, called, tt.wantStop, tt.wantLego)
			}
			if (err != nil) != (tt.wantErr != "" || tt.wantCancel) || (tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("err %v, want %q", err, tt.wantErr)
			}
			if tt.wantCancel && !errors.Is(err, context.Canceled) {
				t.Errorf("err %v does not match context.Canceled", err)
			}
		})
	}
}

// dnsServer is a tiny authoritative answerer on 127.0.0.1 (UDP, random
// port): TXT for the names in txt, NXDOMAIN for anything else.
type dnsServer struct {
	addr string
	mu   sync.Mutex
	txt  map[string][]string // fqdn -> TXT strings of one record
}

func startDNS(t *testing.T, txt map[string][]string) *dnsServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &dnsServer{addr: pc.LocalAddr().String(), txt: txt}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: s, NotifyStartedFunc: func() { close(started) }}
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return s
}

func (s *dnsServer) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	q := req.Question[0]
	s.mu.Lock()
	vals, ok := s.txt[strings.ToLower(q.Name)]
	s.mu.Unlock()
	switch {
	case !ok:
		m.Rcode = dns.RcodeNameError
	case q.Qtype == dns.TypeTXT:
		m.Answer = append(m.Answer, &dns.TXT{
			Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60},
			Txt: vals,
		})
	}
	_ = w.WriteMsg(m)
}

func (s *dnsServer) set(name string, vals ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.txt[name] = vals
}

func TestTXTPropagated(t *testing.T) {
	const name = "_acme-challenge.shop.example.com."
	const value = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"
	a := startDNS(t, map[string][]string{name: {value}})
	b := startDNS(t, map[string][]string{name: {"an-older-value"}})
	split := startDNS(t, map[string][]string{name: {value[:20], value[20:]}})
	host, port, _ := net.SplitHostPort(a.addr)

	tests := []struct {
		desc      string
		fqdn      string
		resolvers []string
		want      bool
	}{
		{desc: "propagated", fqdn: name, resolvers: []string{a.addr}, want: true},
		{desc: "name without the trailing dot", fqdn: strings.TrimSuffix(name, "."), resolvers: []string{a.addr}, want: true},
		{desc: "name in another case", fqdn: strings.ToUpper(name), resolvers: []string{a.addr}, want: true},
		{desc: "value split over several strings", fqdn: name, resolvers: []string{split.addr}, want: true},
		{desc: "not yet: another value", fqdn: name, resolvers: []string{b.addr}, want: false},
		{desc: "not yet: no such name", fqdn: "_acme-challenge.other.example.com.", resolvers: []string{a.addr}, want: false},
		{desc: "every resolver must have it", fqdn: name, resolvers: []string{a.addr, b.addr}, want: false},
		{desc: "every resolver must have it, other order", fqdn: name, resolvers: []string{b.addr, a.addr}, want: false},
		{desc: "all resolvers have it", fqdn: name, resolvers: []string{a.addr, split.addr}, want: true},
		{desc: "host:port written by hand", fqdn: name, resolvers: []string{net.JoinHostPort(host, port)}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got, err := txtPropagated(tt.fqdn, value, tt.resolvers)
			if err != nil {
				t.Fatalf("txtPropagated: %v", err)
			}
			if got != tt.want {
				t.Errorf("txtPropagated = %v, want %v", got, tt.want)
			}
		})
	}

	// The record appears later: the same resolver now answers with it.
	b.set(name, value)
	if ok, err := txtPropagated(name, value, []string{b.addr}); !ok || err != nil {
		t.Errorf("after the update: %v, %v; want propagated", ok, err)
	}
}

func TestTXTPropagatedUnreachableResolver(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := pc.LocalAddr().String()
	if err := pc.Close(); err != nil {
		t.Fatal(err)
	}
	a := startDNS(t, map[string][]string{"_acme-challenge.shop.example.com.": {"v"}})

	for _, resolvers := range [][]string{{dead}, {a.addr, dead}} {
		ok, err := txtPropagated("_acme-challenge.shop.example.com.", "v", resolvers)
		if err == nil {
			t.Errorf("resolvers %v: %v with no error; an unreachable resolver is an error", resolvers, ok)
			continue
		}
		if ok {
			t.Errorf("resolvers %v: propagated despite an error", resolvers)
		}
		if !strings.Contains(err.Error(), dead) {
			t.Errorf("error %q does not name the resolver %s", err, dead)
		}
	}
}

func TestHasTXT(t *testing.T) {
	txt := func(rcode int, vals ...[]string) *dns.Msg {
		m := &dns.Msg{MsgHdr: dns.MsgHdr{Rcode: rcode}}
		for _, v := range vals {
			m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Rrtype: dns.TypeTXT}, Txt: v})
		}
		return m
	}
	tests := []struct {
		desc string
		msg  *dns.Msg
		want bool
	}{
		{desc: "one matching record", msg: txt(dns.RcodeSuccess, []string{"v"}), want: true},
		{desc: "among others (two orders at once)", msg: txt(dns.RcodeSuccess, []string{"other"}, []string{"v"}), want: true},
		{desc: "split strings are joined", msg: txt(dns.RcodeSuccess, []string{"ab", "c"}), want: false},
		{desc: "no answer", msg: txt(dns.RcodeSuccess), want: false},
		{desc: "SERVFAIL with the value", msg: txt(dns.RcodeServerFailure, []string{"v"}), want: false},
		{desc: "a CNAME only", msg: &dns.Msg{Answer: []dns.RR{&dns.CNAME{Hdr: dns.RR_Header{Rrtype: dns.TypeCNAME}, Target: "v."}}}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := hasTXT(tt.msg, "v"); got != tt.want {
				t.Errorf("hasTXT = %v, want %v", got, tt.want)
			}
		})
	}
	if !hasTXT(txt(dns.RcodeSuccess, []string{"ab", "c"}), "abc") {
		t.Error("TXT strings \"ab\" \"c\" do not match abc")
	}
}
