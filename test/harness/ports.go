package harness

import (
	"errors"
	"fmt"
	"net"
	"sync"
)

var ports struct {
	mu   sync.Mutex
	used map[int]bool
}

// FreePort returns a loopback port nothing listens on right now, and that
// no other call in this process returned: the kernel may hand the same
// ephemeral port to two quick listen-and-close probes (seen: Pebble's
// listen and management ports equal), and tests run in parallel.
func FreePort() (int, error) { return FreePortOn() }

// FreePortOn is FreePort for a port that is also free on each of the
// other loopback addresses in also (127.0.0.2, ...), where a cluster's
// nodes listen.
func FreePortOn(also ...string) (int, error) {
	ports.mu.Lock()
	defer ports.mu.Unlock()
	if ports.used == nil {
		ports.used = map[int]bool{}
	}
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !ports.used[port] && freeOn(port, also) {
			ports.used[port] = true
			return port, nil
		}
	}
	return 0, errors.New("no unused loopback port after 100 tries")
}

// MustFreePort is FreePort, stopping t when there is none.
func MustFreePort(t TB) int {
	t.Helper()
	port, err := FreePort()
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	return port
}

// MustFreePortOn is FreePortOn, stopping t when there is none.
func MustFreePortOn(t TB, also ...string) int {
	t.Helper()
	port, err := FreePortOn(also...)
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	return port
}

func freeOn(port int, ips []string) bool {
	for _, ip := range ips {
		l, err := net.Listen("tcp", fmt.Sprintf("%s:%d", ip, port))
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}
