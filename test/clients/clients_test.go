package clients

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// target is one scenario as a client sees it: a port on 127.0.0.1 and the
// host name it asks for (SNI and name check).
type target struct {
	port int
	host string
}

// outcome is one client's verdict on one target.
type outcome struct {
	ok     bool
	detail string // the protocol on success, the client's error otherwise
}

// client runs one real TLS client against every target. Each trusts the
// test root only.
type client struct {
	name string
	run  func(ctx context.Context, targets []target) map[int]outcome
}

// clientTimeout bounds one connection of any client.
const clientTimeout = 15 * time.Second

// findClients locates every client the matrix needs; a missing one fails
// the test (scripts/deps.sh installs them).
func findClients(t *testing.T, rootFile, scratch string) []client {
	t.Helper()
	tools := map[string]string{}
	var missing []string
	for _, name := range []string{"openssl", "curl", "gnutls-cli", "keytool"} {
		path, err := exec.LookPath(name)
		if err != nil {
			missing = append(missing, name)
		}
		tools[name] = path
	}
	python := debianPython()
	if python == "" {
		missing = append(missing, "python3 (Debian's, /usr/bin/python3)")
	}
	java := java17()
	if java == "" {
		missing = append(missing, "Java 17 with its compiler (openjdk-17-jdk-headless)")
	}
	if len(missing) > 0 {
		t.Fatalf("TLS clients missing: %s; run scripts/deps.sh", strings.Join(missing, ", "))
	}
	empty := filepath.Join(scratch, "no-ca-dir")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	store := javaTrustStore(t, tools["keytool"], rootFile, scratch)
	return []client{
		{"openssl", perTarget(func(tg target) []string {
			return opensslArgs(tools["openssl"], rootFile, tg)
		})},
		{"openssl-tls1.2", perTarget(func(tg target) []string {
			return append(opensslArgs(tools["openssl"], rootFile, tg), "-tls1_2")
		})},
		{"curl", perTarget(func(tg target) []string {
			return []string{tools["curl"], "-sS", "-o", "/dev/null", "--max-time", "15",
				"--cacert", rootFile, "--capath", empty,
				"--resolve", fmt.Sprintf("%s:%d:127.0.0.1", tg.host, tg.port),
				fmt.Sprintf("https://%s:%d/", tg.host, tg.port)}
		})},
		{"gnutls", perTarget(func(tg target) []string {
			return []string{tools["gnutls-cli"], "--x509cafile=" + rootFile, "--port=" + strconv.Itoa(tg.port),
				"--sni-hostname=" + tg.host, "--verify-hostname=" + tg.host, "127.0.0.1"}
		})},
		{"python", batch(python, filepath.Join("testdata", "client.py"), rootFile)},
		{"java", batch(java, "-Djavax.net.ssl.trustStore="+store, "-Djavax.net.ssl.trustStorePassword=changeit",
			"-Djavax.net.ssl.trustStoreType=PKCS12", filepath.Join("testdata", "TLSClient.java"))},
		{"go", goClient(rootFile)},
	}
}

func opensslArgs(bin, rootFile string, tg target) []string {
	return []string{bin, "s_client", "-connect", fmt.Sprintf("127.0.0.1:%d", tg.port),
		"-servername", tg.host, "-verify_hostname", tg.host, "-verify_return_error",
		"-CAfile", rootFile, "-no-CApath", "-no-CAstore", "-brief"}
}

// debianPython is Debian's python3, linked against Debian's OpenSSL; a
// pyenv or venv python on PATH may bring its own.
func debianPython() string {
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	return ""
}

var javaVersion = regexp.MustCompile(`version "17[."]`)

// java17 finds a Java 17 that can run a source file (which needs the
// JDK's compiler module): JAVA_HOME, then PATH, then Debian's location.
func java17() string {
	var candidates []string
	if h := os.Getenv("JAVA_HOME"); h != "" {
		candidates = append(candidates, filepath.Join(h, "bin", "java"))
	}
	if p, err := exec.LookPath("java"); err == nil {
		candidates = append(candidates, p)
	}
	debian, _ := filepath.Glob("/usr/lib/jvm/java-17-openjdk-*/bin/java")
	for _, c := range append(candidates, debian...) {
		out, err := exec.Command(c, "--list-modules").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "jdk.compiler") {
			continue
		}
		if v, err := exec.Command(c, "-version").CombinedOutput(); err == nil && javaVersion.Match(v) {
			return c
		}
	}
	return ""
}

// javaTrustStore makes a PKCS#12 trust store holding only the test root,
// with keytool, as a Java user would.
func javaTrustStore(t *testing.T, keytool, rootFile, dir string) string {
	t.Helper()
	store := filepath.Join(dir, "truststore.p12")
	out, err := exec.Command(keytool, "-importcert", "-noprompt", "-alias", "testroot", "-file", rootFile,
		"-keystore", store, "-storetype", "PKCS12", "-storepass", "changeit").CombinedOutput()
	if err != nil {
		t.Fatalf("keytool: %v\n%s", err, out)
	}
	return store
}

// procs bounds the client processes run at once, across all clients: the
// machine is small and shared.
var procs = make(chan struct{}, 4)

// perTarget runs one process per target, a few at once; exit status 0 is
// acceptance. Standard input is empty, so interactive clients (openssl,
// gnutls-cli) quit after the handshake.
func perTarget(argv func(target) []string) func(context.Context, []target) map[int]outcome {
	return func(ctx context.Context, targets []target) map[int]outcome {
		out := map[int]outcome{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, tg := range targets {
			wg.Go(func() {
				procs <- struct{}{}
				defer func() { <-procs }()
				o := runProcess(ctx, argv(tg))
				mu.Lock()
				out[tg.port] = o
				mu.Unlock()
			})
		}
		wg.Wait()
		return out
	}
}

func runProcess(ctx context.Context, argv []string) outcome {
	ctx, cancel := context.WithTimeout(ctx, clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = bytes.NewReader(nil)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return outcome{detail: fmt.Sprintf("%v: %s", err, why(out))}
	}
	return outcome{ok: true, detail: lastLines(out, 1)}
}

// batch runs one process for all targets (a JVM or Python interpreter
// starts once), feeding "PORT HOST" lines and reading "PORT ok|fail ..."
// lines.
func batch(bin string, args ...string) func(context.Context, []target) map[int]outcome {
	return func(ctx context.Context, targets []target) map[int]outcome {
		var in strings.Builder
		for _, tg := range targets {
			fmt.Fprintf(&in, "%d %s\n", tg.port, tg.host)
		}
		ctx, cancel := context.WithTimeout(ctx, time.Duration(len(targets)+10)*clientTimeout/2)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Stdin = strings.NewReader(in.String())
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.Output()
		out := map[int]outcome{}
		sc := bufio.NewScanner(bytes.NewReader(stdout))
		for sc.Scan() {
			f := strings.SplitN(sc.Text(), " ", 3)
			if len(f) < 2 {
				continue
			}
			port, _ := strconv.Atoi(f[0])
			o := outcome{ok: f[1] == "ok"}
			if len(f) == 3 {
				o.detail = f[2]
			}
			out[port] = o
		}
		for _, tg := range targets {
			if _, ok := out[tg.port]; !ok {
				out[tg.port] = outcome{detail: fmt.Sprintf("no answer from %s (%v): %s", filepath.Base(bin), err, lastLines(stderr.Bytes(), 3))}
			}
		}
		return out
	}
}

// goClient is crypto/tls with its defaults, as a Go program uses it.
func goClient(rootFile string) func(context.Context, []target) map[int]outcome {
	return func(ctx context.Context, targets []target) map[int]outcome {
		pool := x509.NewCertPool()
		data, err := os.ReadFile(rootFile)
		out := map[int]outcome{}
		if err != nil || !pool.AppendCertsFromPEM(data) {
			for _, tg := range targets {
				out[tg.port] = outcome{detail: fmt.Sprintf("read %s: %v", rootFile, err)}
			}
			return out
		}
		for _, tg := range targets {
			d := tls.Dialer{NetDialer: &net.Dialer{Timeout: clientTimeout}, Config: &tls.Config{RootCAs: pool, ServerName: tg.host}}
			cctx, cancel := context.WithTimeout(ctx, clientTimeout)
			conn, err := d.DialContext(cctx, "tcp", fmt.Sprintf("127.0.0.1:%d", tg.port))
			cancel()
			if err != nil {
				out[tg.port] = outcome{detail: err.Error()}
				continue
			}
			out[tg.port] = outcome{ok: true, detail: tls.VersionName(conn.(*tls.Conn).ConnectionState().Version)}
			conn.Close()
		}
		return out
	}
}

// why picks a client's reason for failing: the lines that name an error
// or a verification status, else its last lines.
func why(out []byte) string {
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if reason.MatchString(l) {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	if len(lines) == 0 {
		return lastLines(out, 3)
	}
	return strings.Join(lines, " | ")
}

var reason = regexp.MustCompile(`(?i)fatal|error|status:|verify|curl: \(`)

// lastLines returns the last n non-empty lines of out, joined by " | ".
func lastLines(out []byte, n int) string {
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
