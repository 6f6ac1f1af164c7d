package harness

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// ephemeralRange is the kernel's range for ports it picks itself.
func ephemeralRange(t *testing.T) (lo, hi int) {
	t.Helper()
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		t.Fatalf("the kernel's ephemeral range: %v", err)
	}
	if _, err := fmt.Sscan(string(data), &lo, &hi); err != nil {
		t.Fatalf("ip_local_port_range %q: %v", data, err)
	}
	return lo, hi
}

// TestFreePortOutsideEphemeralRange: the ports handed out are free, never
// the same twice, and never where the kernel picks ports for a listen on
// port 0 or an outgoing connection, so nothing else takes one before the
// test binds it.
func TestFreePortOutsideEphemeralRange(t *testing.T) {
	if _, _, ok := portSpan(); !ok {
		t.Fatal("no range outside the kernel's ephemeral one: the harness would fall back to the kernel's ports")
	}
	lo, hi := ephemeralRange(t)
	seen := map[int]bool{}
	for range 3 * portBlockSize { // more than one block
		port, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if port >= lo && port <= hi {
			t.Fatalf("port %d is in the ephemeral range %d-%d", port, lo, hi)
		}
		if seen[port] {
			t.Fatalf("port %d handed out twice", port)
		}
		seen[port] = true
	}
	// A port handed out stays free for its test: a listen on port 0 never
	// gets it.
	for range 200 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if seen[port] {
			t.Fatalf("the kernel picked port %d, which the harness handed out", port)
		}
	}
}

// TestFreePortBlocksPerProcess: two processes at once (two test packages)
// get ports from different blocks.
func TestFreePortBlocksPerProcess(t *testing.T) {
	mine, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), portsChildEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		_ = cmd.Wait()
	}()
	var theirs int
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "PORT "); ok {
			theirs, _ = strconv.Atoi(p)
			break
		}
	}
	if theirs == 0 {
		t.Fatal("the child process handed out no port")
	}
	blockOf := func(p int) int { return (p - ports.span.lo) / portBlockSize }
	if blockOf(theirs) == blockOf(mine) {
		t.Errorf("ports %d and %d of two processes come from the same block", mine, theirs)
	}
}

// portsChildEnv makes the test binary the other process of
// TestFreePortBlocksPerProcess: it prints a port and holds its block until
// its input closes.
const portsChildEnv = "HARNESS_PORTS_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(portsChildEnv) == "1" {
		port, err := FreePort()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("PORT %d\n", port)
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		os.Exit(0)
	}
	os.Exit(m.Run())
}
