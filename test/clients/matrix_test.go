package clients

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/renewd/renewd/internal/testpki"
	"github.com/renewd/renewd/test/harness"
)

// TestMatrix serves every scenario from one nginx, runs every client and
// renewd against each, and holds renewd to the clients: it must fail what
// any client rejects, and pass what all accept unless a documented
// compatibility rule says otherwise.
func TestMatrix(t *testing.T) {
	p := newMatrixPKI(t)
	all := scenarios(t, p)
	dir := t.TempDir()
	rootFile := filepath.Join(dir, "root.pem")
	writeFile(t, rootFile, testpki.PEM(p.root), 0o644)
	clients := findClients(t, rootFile, dir)

	// One nginx (the shared harness's) serves every scenario on its own
	// port; every client connects to all of them, a few at a time, so it
	// takes more connections than the harness's default.
	n := harness.NewNginx(t)
	n.WorkerConnections = 1024
	ports := make([]int, len(all))
	targets := make([]target, len(all))
	for i, sc := range all {
		ports[i] = harness.MustFreePort(t)
		n.Servers = append(n.Servers, serverBlock(t, dir, sc, ports[i]))
		targets[i] = target{port: ports[i], host: sc.host}
	}
	n.Start(ports...)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	results := make([]map[int]outcome, len(clients))
	var verdicts map[int]renewdVerdict
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() { results[i] = c.run(ctx, targets) })
	}
	wg.Go(func() { verdicts = runRenewd(ctx, rootFile, all, ports) })
	wg.Wait()

	logTable(t, all, ports, clients, results, verdicts)
	for i, sc := range all {
		t.Run(sc.name, func(t *testing.T) {
			var rejected []string
			for j, c := range clients {
				if o := results[j][ports[i]]; !o.ok {
					rejected = append(rejected, c.name+": "+o.detail)
				}
			}
			judge(t, sc, verdicts[ports[i]], rejected)
		})
	}
}

// judge holds renewd's verdict on one scenario to the clients' and to the
// scenario's expectations.
func judge(t *testing.T, sc scenario, v renewdVerdict, rejected []string) {
	t.Helper()
	if v.err != "" {
		t.Fatalf("renewd check did not run: %s", v.err)
	}
	failed := v.verdict == "fail"
	switch {
	case len(rejected) > 0 && !failed:
		t.Errorf("renewd passes a server that clients reject:\n  %s\nrenewd:\n%s", strings.Join(rejected, "\n  "), v.text)
	case len(rejected) == 0 && failed && sc.exception == "":
		t.Errorf("renewd fails a server every client accepts, and no compatibility rule says why:\n%s", v.text)
	case len(rejected) == 0 && failed && !strings.Contains(v.text, sc.exception):
		t.Errorf("renewd fails a server every client accepts without naming the rule %q:\n%s", sc.exception, v.text)
	case sc.want == "pass" && len(rejected) > 0:
		t.Errorf("a scenario every client must accept is rejected (the harness is broken?):\n  %s", strings.Join(rejected, "\n  "))
	}
	got := v.verdict
	if got == "pass" && v.warned {
		got = "warn"
	}
	if got != sc.want {
		t.Errorf("renewd says %s, want %s:\n%s", got, sc.want, v.text)
	}
	if sc.finding != "" && !slices.Contains(v.findings, sc.finding) {
		t.Errorf("renewd has no %q finding:\n%s", sc.finding, v.text)
	}
	if sc.message != "" && !strings.Contains(v.text, sc.message) {
		t.Errorf("renewd's findings do not say %q:\n%s", sc.message, v.text)
	}
	if sc.strict && v.strictVerdict != "pass" {
		t.Errorf("renewd check --strict fails a good server:\n%s", v.text)
	}
}

// serverBlock writes the scenario's files and returns its nginx server
// block.
func serverBlock(t *testing.T, dir string, sc scenario, port int) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "server {\n  listen 127.0.0.1:%d ssl;\n  server_name %s;\n", port, sc.host)
	for i, s := range sc.certs {
		full := filepath.Join(dir, fmt.Sprintf("%s-%d-fullchain.pem", sc.name, i))
		key := filepath.Join(dir, fmt.Sprintf("%s-%d-key.pem", sc.name, i))
		writeFile(t, full, testpki.PEM(s.chain...), 0o644)
		writeFile(t, key, s.chain[0].KeyPEM(), 0o600)
		fmt.Fprintf(&b, "  ssl_certificate %s;\n  ssl_certificate_key %s;\n", full, key)
	}
	protocols := sc.protocols
	if protocols == "" {
		protocols = "TLSv1.2 TLSv1.3"
	}
	fmt.Fprintf(&b, "  ssl_protocols %s;\n", protocols)
	if sc.ciphers != "" {
		fmt.Fprintf(&b, "  ssl_ciphers %s;\n", sc.ciphers)
	}
	b.WriteString("  return 200 \"ok\\n\";\n}\n")
	return b.String()
}

// renewdVerdict is what `renewd check` said about one scenario.
type renewdVerdict struct {
	verdict       string   // pass or fail, without --strict
	strictVerdict string   // with --strict
	warned        bool     // a warning among the findings
	findings      []string // "check severity" of each finding
	text          string   // every finding, one per line, for messages
	err           string   // renewd did not run or printed no JSON
}

// runRenewd runs `renewd check --json` (and with --strict) against every
// scenario, a few at once.
func runRenewd(ctx context.Context, rootFile string, all []scenario, ports []int) map[int]renewdVerdict {
	out := map[int]renewdVerdict{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, sc := range all {
		wg.Go(func() {
			procs <- struct{}{}
			defer func() { <-procs }()
			v := checkOnce(ctx, rootFile, sc.host, ports[i], false)
			if v.err == "" {
				v.strictVerdict = checkOnce(ctx, rootFile, sc.host, ports[i], true).verdict
			}
			mu.Lock()
			out[ports[i]] = v
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// checkOnce runs renewd check on one scenario as someone without a
// renewd configuration would: the test root comes from --ca-file, the
// address from --connect.
func checkOnce(ctx context.Context, rootFile, host string, port int, strict bool) renewdVerdict {
	args := []string{"check", "--json", "--ca-file", rootFile, "--connect", fmt.Sprintf("127.0.0.1:%d", port)}
	if strict {
		args = append(args, "--strict")
	}
	cmd := exec.CommandContext(ctx, env.renewd, append(args, host)...)
	// No configuration: the default path is used, which need not exist;
	// hosts are checked without one, as a user would.
	cmd.Env = append(os.Environ(), "RENEWD_CONFIG=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		return renewdVerdict{err: fmt.Sprintf("%v: %s%s", err, stdout, stderr.String())}
	}
	var doc struct {
		Verdict   string `json:"verdict"`
		Endpoints []struct {
			Findings []struct {
				Check, Severity, Message string
			} `json:"findings"`
		} `json:"endpoints"`
	}
	if err := json.Unmarshal(stdout, &doc); err != nil {
		return renewdVerdict{err: fmt.Sprintf("decode: %v: %s%s", err, stdout, stderr.String())}
	}
	v := renewdVerdict{verdict: doc.Verdict}
	var text strings.Builder
	for _, ep := range doc.Endpoints {
		for _, f := range ep.Findings {
			v.findings = append(v.findings, f.Check+" "+f.Severity)
			v.warned = v.warned || f.Severity == "warn"
			fmt.Fprintf(&text, "  %s %s: %s\n", f.Severity, f.Check, f.Message)
		}
	}
	v.text = text.String()
	return v
}

// logTable shows every verdict side by side: the record of what each
// client did, for docs/check.md.
func logTable(t *testing.T, all []scenario, ports []int, clients []client, results []map[int]outcome, verdicts map[int]renewdVerdict) {
	var b bytes.Buffer
	w := tabwriter.NewWriter(&b, 0, 0, 1, ' ', 0)
	fmt.Fprint(w, "scenario\trenewd")
	for _, c := range clients {
		fmt.Fprint(w, "\t"+c.name)
	}
	fmt.Fprintln(w)
	for i, sc := range all {
		v := verdicts[ports[i]]
		r := v.verdict
		if r == "pass" && v.warned {
			r = "warn"
		}
		if v.err != "" {
			r = "error"
		}
		fmt.Fprintf(w, "%s\t%s", sc.name, r)
		for j := range clients {
			mark := "ok"
			if !results[j][ports[i]].ok {
				mark = "REJECT"
			}
			fmt.Fprint(w, "\t"+mark)
		}
		fmt.Fprintln(w)
	}
	w.Flush()
	t.Logf("verdicts:\n%s", b.String())
	// CLIENTS_DETAIL=1 adds why each client rejected, and renewd's findings.
	if os.Getenv("CLIENTS_DETAIL") != "" {
		for i, sc := range all {
			t.Logf("%s renewd:\n%s", sc.name, verdicts[ports[i]].text)
			for j, c := range clients {
				if o := results[j][ports[i]]; !o.ok {
					t.Logf("%s %s: %s", sc.name, c.name, o.detail)
				}
			}
		}
	}
}

func writeFile(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
}
