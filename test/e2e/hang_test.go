package e2e

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// hangingServer accepts TCP connections and never answers: a CA that is
// up but stuck. It returns its address and the count of connections it
// accepted (its own: tests that run at once each have theirs).
func hangingServer(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	accepted := &atomic.Int64{}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() { _, _ = io.Copy(io.Discard, c) }()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return l.Addr().String(), accepted
}

// lockedWriter serialises writes to a buffer shared by stdout and stderr.
type lockedWriter struct{ w io.Writer }

var outMu sync.Mutex

func (l *lockedWriter) Write(p []byte) (int, error) {
	outMu.Lock()
	defer outMu.Unlock()
	return l.w.Write(p)
}
