package nginxconf

import (
	"fmt"
	"slices"
	"strings"
)

// Server is one server block of the http or stream module with what the
// certificate checks need.
type Server struct {
	// Context is "http" or "stream".
	Context string
	// File and Line are where the block starts.
	File string
	Line int
	// Names are the server_name arguments, as written.
	Names []string
	// Listens are the listen directives.
	Listens []Listen
	// Certs are the certificate and key pairs nginx loads for the block:
	// its own ssl_certificate directives, else those it inherits.
	Certs []CertRef
}

// Listen is one listen directive.
type Listen struct {
	// Address is the first argument: a port, host:port, [v6]:port or
	// unix:path.
	Address string
	// SSL is true when the directive has the ssl parameter.
	SSL  bool
	File string
	Line int
}

// Ref is a file named by a directive, with where the directive is.
type Ref struct {
	// Path is absolute (resolved as nginx resolves it); it is what the
	// directive says when the value cannot be a plain path (it holds a
	// variable, or is data:...).
	Path string
	// Raw is the value as written.
	Raw  string
	File string
	Line int
}

// Variable reports whether the value holds an nginx variable, resolved per
// connection (ssl_certificate $ssl_server_name.crt): no file to read.
func (r Ref) Variable() bool { return strings.Contains(r.Raw, "$") }

// Inline reports whether the value is a certificate written inline
// ("data:..."), not a file.
func (r Ref) Inline() bool { return strings.HasPrefix(r.Raw, "data:") }

// CertRef is one ssl_certificate with the ssl_certificate_key at the same
// position: nginx pairs the first certificate with the first key, and so
// on.
type CertRef struct {
	Cert Ref
	// Key is the zero Ref when there is no key directive for this
	// certificate (nginx refuses to start then).
	Key Ref
	// Inherited is true when the directives are written in the enclosing
	// http or stream block, not in the server block.
	Inherited bool
}

// TLS reports whether the block serves TLS: a listen with ssl (or the
// old "ssl on") and at least one certificate.
func (s *Server) TLS() bool {
	return len(s.Certs) > 0 && slices.ContainsFunc(s.Listens, func(l Listen) bool { return l.SSL })
}

// Servers lists the server blocks of the http and stream modules, in the
// order nginx reads them.
func (c *Config) Servers() []Server {
	var out []Server
	for _, d := range c.Directives {
		if (d.Name == "http" || d.Name == "stream") && d.Block != nil {
			out = append(out, c.servers(d)...)
		}
	}
	return out
}

func (c *Config) servers(module *Directive) []Server {
	inherited := c.certRefs(module.Block, true)
	var out []Server
	for _, d := range module.Block {
		if d.Name != "server" || d.Block == nil {
			continue
		}
		s := Server{Context: module.Name, File: d.File, Line: d.Line}
		sslOn := false
		for _, sd := range d.Block {
			switch sd.Name {
			case "server_name":
				s.Names = append(s.Names, sd.Args...)
			case "listen":
				s.Listens = append(s.Listens, listenOf(sd))
			case "ssl":
				sslOn = len(sd.Args) == 1 && sd.Args[0] == "on"
			}
		}
		if sslOn {
			for i := range s.Listens {
				s.Listens[i].SSL = true
			}
		}
		s.Certs = c.certRefs(d.Block, false)
		if len(s.Certs) == 0 {
			s.Certs = inherited
		}
		out = append(out, s)
	}
	return out
}

func listenOf(d *Directive) Listen {
	l := Listen{File: d.File, Line: d.Line}
	if len(d.Args) > 0 {
		l.Address = d.Args[0]
	}
	l.SSL = len(d.Args) > 1 && slices.Contains(d.Args[1:], "ssl")
	return l
}

// certRefs pairs the ssl_certificate and ssl_certificate_key directives
// written directly in block.
func (c *Config) certRefs(block []*Directive, inherited bool) []CertRef {
	var certs, keys []Ref
	for _, d := range block {
		if len(d.Args) != 1 {
			continue
		}
		switch d.Name {
		case "ssl_certificate":
			certs = append(certs, c.ref(d))
		case "ssl_certificate_key":
			keys = append(keys, c.ref(d))
		}
	}
	out := make([]CertRef, len(certs))
	for i, cert := range certs {
		out[i] = CertRef{Cert: cert, Inherited: inherited}
		if i < len(keys) {
			out[i].Key = keys[i]
		}
	}
	return out
}

func (c *Config) ref(d *Directive) Ref {
	r := Ref{Raw: d.Args[0], File: d.File, Line: d.Line, Path: d.Args[0]}
	if !r.Variable() && !r.Inline() {
		r.Path = c.Abs(r.Raw)
	}
	return r
}

// Where renders a directive's position as file:line.
func (r Ref) Where() string { return fmt.Sprintf("%s:%d", r.File, r.Line) }
