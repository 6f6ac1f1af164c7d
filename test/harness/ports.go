package harness

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// The ports the harness hands out are bound later, by another process
// (Pebble, nginx, renewd's responder, etcd) or never (a CA that is down):
// between the check and the bind, a port must stay nobody else's. A port
// the kernel picks for a probe (listen on port 0) is in its ephemeral
// range, where every other listen on port 0 and every outgoing
// connection on the machine also takes its ports: a test package running
// beside this one, a webhook server of this one (httptest listens on port
// 0), or a client's source port could take it in that gap, and the
// renewal that then finds Pebble's HTTP port taken fails. So the ports
// come from outside the ephemeral range (net.ipv4.ip_local_port_range),
// where the kernel never picks one, in blocks: each test process claims a
// block of its own with a lock file (held until the process exits, freed
// by the kernel even when it is killed) and hands out its ports in turn,
// never one twice. Packages of this harness running at once, also from
// other checkouts, never share a port. Where no such range is left (an
// ephemeral range over nearly every port), the ports come from the kernel
// as before.
const (
	portBlockSize = 200
	// portFloor keeps the blocks clear of the ports services commonly
	// use (8080, 9090, 5432...); each port is checked free anyway.
	portFloor = 15000
	portCeil  = 65535
)

var ports struct {
	mu sync.Mutex
	// next and end bound what is left of the block in use.
	next, end int
	// locks hold the claimed blocks: a lock file's descriptor is its
	// claim, and a closed os.File (by the garbage collector, say) would
	// drop it.
	locks []*os.File
	// span is the range the blocks come from, found once; ok is false
	// when there is none and the kernel picks the ports.
	span        struct{ lo, hi int }
	spanOK      bool
	spanChecked bool
	// used holds the ports the kernel picked, when it does: it may hand
	// the same one to two quick listen-and-close probes.
	used map[int]bool
}

// FreePort returns a loopback port nothing listens on right now and that
// nothing else this harness runs was or will be given: one from a block
// this process claimed outside the kernel's ephemeral range.
func FreePort() (int, error) { return FreePortOn() }

// FreePortOn is FreePort for a port that is also free on each of the
// other loopback addresses in also (127.0.0.2, ...), where a cluster's
// nodes listen.
func FreePortOn(also ...string) (int, error) {
	ports.mu.Lock()
	defer ports.mu.Unlock()
	if !ports.spanChecked {
		ports.spanChecked = true
		ports.span.lo, ports.span.hi, ports.spanOK = portSpan()
	}
	if !ports.spanOK {
		return kernelPort(also)
	}
	all := append([]string{"127.0.0.1"}, also...)
	for range 4 * portBlockSize {
		if ports.next >= ports.end {
			if err := claimBlock(); err != nil {
				return 0, err
			}
		}
		port := ports.next
		ports.next++
		if freeOn(port, all) {
			return port, nil
		}
	}
	return 0, fmt.Errorf("no free loopback port in %d tries from the blocks of %d claimed in %d-%d", 4*portBlockSize, portBlockSize, ports.span.lo, ports.span.hi)
}

// portSpan is the widest run of ports between portFloor and portCeil
// outside the kernel's ephemeral range, when it can hold a few blocks.
func portSpan() (lo, hi int, ok bool) {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0, false
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return 0, 0, false
	}
	elo, err1 := strconv.Atoi(f[0])
	ehi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	below := [2]int{portFloor, min(elo-1, portCeil)}
	above := [2]int{max(ehi+1, portFloor), portCeil}
	best := below
	if above[1]-above[0] > below[1]-below[0] {
		best = above
	}
	if best[1]-best[0]+1 < 8*portBlockSize {
		return 0, 0, false
	}
	return best[0], best[1], true
}

// claimBlock takes the lock of a block no other process holds, starting
// at a random one, and makes it the block in use.
func claimBlock() error {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("renewd-test-ports-%d", os.Getuid()))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("test ports: %w", err)
	}
	n := (ports.span.hi - ports.span.lo + 1) / portBlockSize
	first := rand.IntN(n)
	for i := range n {
		start := ports.span.lo + (first+i)%n*portBlockSize
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("%d.lock", start)), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("test ports: %w", err)
		}
		// os.OpenFile sets O_CLOEXEC: the processes a test starts do
		// not inherit the claim.
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close() // another process's block, or one this process already holds
			continue
		}
		ports.locks = append(ports.locks, f)
		ports.next, ports.end = start, start+portBlockSize
		return nil
	}
	return fmt.Errorf("test ports: all %d blocks of %d ports in %d-%d are claimed by other test processes", n, portBlockSize, ports.span.lo, ports.span.hi)
}

// kernelPort asks the kernel for a port, when no range outside its
// ephemeral one is left: it may hand the same port to two quick probes
// (seen: Pebble's listen and management ports equal), so each is given
// once.
func kernelPort(also []string) (int, error) {
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
