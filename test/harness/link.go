package harness

import (
	"io"
	"net"
	"sync"
)

// Link forwards TCP connections from a loopback port to a target, and can
// be cut: Cut(true) closes every connection and refuses new ones until
// Cut(false). A client that reaches a server through it meets a network
// partition while both processes run on (a node cut off from etcd).
type Link struct {
	// Addr is where clients connect, 127.0.0.1:port.
	Addr   string
	target string
	ln     net.Listener

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]bool
}

// StartLink forwards a new loopback port to target (host:port). It is
// closed when t ends.
func StartLink(t TB, target string) *Link {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("%v", err)
	}
	l := &Link{Addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]bool{}}
	go l.serve()
	t.Cleanup(func() { ln.Close(); l.Cut(true) })
	return l
}

func (l *Link) serve() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		if l.isCut() {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", l.target)
		if err != nil {
			c.Close()
			continue
		}
		l.mu.Lock()
		if l.cut { // cut while dialling
			l.mu.Unlock()
			c.Close()
			up.Close()
			continue
		}
		l.conns[c], l.conns[up] = true, true
		l.mu.Unlock()
		go l.pipe(c, up)
		go l.pipe(up, c)
	}
}

func (l *Link) isCut() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cut
}

func (l *Link) pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
	l.mu.Lock()
	delete(l.conns, dst)
	delete(l.conns, src)
	l.mu.Unlock()
}

// Cut cuts the link (true), closing every connection through it, or
// restores it (false).
func (l *Link) Cut(cut bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = cut
	if cut {
		for c := range l.conns {
			c.Close()
		}
	}
}
