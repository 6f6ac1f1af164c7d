package audit

import (
	"net"
	"slices"
	"strings"

	"github.com/renewd/renewd/internal/nginxconf"
)

// hostNames turns server_name arguments into the names the certificate
// must cover: ".example.com" is example.com and *.example.com; regular
// expressions (~...), "_", "" and names with a "*" anywhere but as the
// whole first label (www.*) are not names a certificate covers.
func hostNames(names []string) []string {
	var out []string
	add := func(n string) {
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	for _, n := range names {
		switch {
		case n == "" || n == "_" || strings.HasPrefix(n, "~") || strings.Contains(n, "$"):
		case strings.HasPrefix(n, ".") && len(n) > 1:
			add(n[1:])
			add("*" + n)
		case strings.HasPrefix(n, "*.") && !strings.Contains(n[2:], "*"):
			add(n)
		case strings.Contains(n, "*"):
		default:
			add(n)
		}
	}
	return out
}

// probeNames are the SNI names to ask nginx for: every host name, a
// wildcard asked for as renewd-check.<rest>, a name it covers.
func probeNames(names []string) []string {
	var out []string
	for _, n := range hostNames(names) {
		if rest, ok := strings.CutPrefix(n, "*."); ok {
			n = "renewd-check." + rest
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// probeAddress is where to ask for a block's certificates: verify (the
// configured nginx.verify.address) when the block has an ssl listen on its
// port, else the first ssl listen's port on the listen's own address (or
// verify's host when it listens on every address). ok is false when the
// block has no TCP ssl listen.
func probeAddress(verify string, listens []nginxconf.Listen) (string, bool) {
	vhost, vport, err := net.SplitHostPort(verify)
	if err != nil {
		return "", false
	}
	first := ""
	for _, l := range listens {
		if !l.SSL {
			continue
		}
		host, port, ok := splitListen(l.Address)
		if !ok {
			continue
		}
		if port == vport {
			return verify, true
		}
		if first == "" {
			if host == "" || host == "*" || host == "0.0.0.0" || host == "::" {
				host = vhost
			}
			first = net.JoinHostPort(host, port)
		}
	}
	return first, first != ""
}

// splitListen reads a listen address: "443", "127.0.0.1:8443", "*:443",
// "[::1]:443", "[::]:443"; unix sockets are not TCP.
func splitListen(a string) (host, port string, ok bool) {
	if strings.HasPrefix(a, "unix:") || a == "" {
		return "", "", false
	}
	if !strings.Contains(a, ":") || strings.HasPrefix(a, "[") && strings.HasSuffix(a, "]") {
		if isPort(a) {
			return "", a, true
		}
		return a, "80", false // a host alone listens on 80: no TLS port to ask
	}
	h, p, err := net.SplitHostPort(a)
	if err != nil || !isPort(p) {
		return "", "", false
	}
	return strings.Trim(h, "[]"), p, true
}

func isPort(s string) bool {
	if s == "" || len(s) > 5 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
