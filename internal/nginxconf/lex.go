package nginxconf

import (
	"fmt"
	"strings"
)

// Directive is one nginx directive: its name, its arguments with quotes and
// escapes removed, where it was written, and the directives of its block
// (nil when it has none, empty for "{}").
type Directive struct {
	Name  string
	Args  []string
	File  string
	Line  int
	Block []*Directive
}

// SyntaxError is a file nginxconf cannot read as nginx configuration.
type SyntaxError struct {
	File string
	Line int
	Msg  string
}

// Error renders the problem as file:line: message.
func (e *SyntaxError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// maxDepth bounds block nesting; real configurations nest a few levels.
const maxDepth = 50

// parseFile reads one file's text into directives. Includes are not
// followed here.
func parseFile(file, text string) ([]*Directive, error) {
	p := &parser{lx: &lexer{file: file, src: text, line: 1}}
	ds, closed, err := p.block(0)
	if err != nil {
		return nil, err
	}
	if closed {
		return nil, &SyntaxError{File: file, Line: p.lx.line, Msg: `unexpected "}"`}
	}
	return ds, nil
}

type parser struct{ lx *lexer }

// block reads directives until the end of the text or a "}", which closed
// reports.
func (p *parser) block(depth int) (ds []*Directive, closed bool, err error) {
	if depth > maxDepth {
		return nil, false, &SyntaxError{File: p.lx.file, Line: p.lx.line, Msg: "blocks nested too deeply"}
	}
	var cur *Directive
	for {
		tok, err := p.lx.next()
		if err != nil {
			return nil, false, err
		}
		switch {
		case tok.kind == tokEOF:
			if cur != nil {
				return nil, false, &SyntaxError{File: p.lx.file, Line: cur.Line, Msg: fmt.Sprintf("directive %q has no closing \";\"", cur.Name)}
			}
			return ds, false, nil
		case tok.kind == tokClose:
			if cur != nil {
				return nil, false, &SyntaxError{File: p.lx.file, Line: tok.line, Msg: fmt.Sprintf(`unexpected "}" after directive %q; is a ";" missing?`, cur.Name)}
			}
			return ds, true, nil
		case tok.kind == tokSemi:
			if cur == nil {
				return nil, false, &SyntaxError{File: p.lx.file, Line: tok.line, Msg: `unexpected ";"`}
			}
			ds, cur = append(ds, cur), nil
		case tok.kind == tokOpen:
			if cur == nil {
				return nil, false, &SyntaxError{File: p.lx.file, Line: tok.line, Msg: `unexpected "{"`}
			}
			if err := p.fillBlock(cur, depth); err != nil {
				return nil, false, err
			}
			ds, cur = append(ds, cur), nil
		case cur == nil:
			cur = &Directive{Name: tok.text, File: p.lx.file, Line: tok.line}
		default:
			cur.Args = append(cur.Args, tok.text)
		}
	}
}

// fillBlock reads the block of d. A Lua block holds Lua, not nginx
// directives, and is skipped whole.
func (p *parser) fillBlock(d *Directive, depth int) error {
	if strings.HasSuffix(d.Name, "_by_lua_block") || d.Name == "lua_block" {
		d.Block = []*Directive{}
		return p.lx.skipLua(d.Line)
	}
	inner, closed, err := p.block(depth + 1)
	if err != nil {
		return err
	}
	if !closed {
		return &SyntaxError{File: p.lx.file, Line: d.Line, Msg: fmt.Sprintf("block %q is not closed with \"}\"", d.Name)}
	}
	if inner == nil {
		inner = []*Directive{}
	}
	d.Block = inner
	return nil
}

type tokKind int

const (
	tokWord tokKind = iota
	tokSemi
	tokOpen
	tokClose
	tokEOF
)

type token struct {
	kind tokKind
	text string
	line int
}

// lexer splits nginx configuration text into words and the characters
// ";", "{" and "}", as ngx_conf_read_token does: "#" starts a comment only
// where a word could start, quotes and backslashes escape, and "${...}"
// inside a word is a variable, not a block.
type lexer struct {
	file string
	src  string
	pos  int
	line int
}

func (l *lexer) next() (token, error) {
	l.skipSpaceAndComments()
	if l.pos >= len(l.src) {
		return token{kind: tokEOF, line: l.line}, nil
	}
	line := l.line
	switch c := l.src[l.pos]; c {
	case ';':
		l.pos++
		return token{kind: tokSemi, line: line}, nil
	case '{':
		l.pos++
		return token{kind: tokOpen, line: line}, nil
	case '}':
		l.pos++
		return token{kind: tokClose, line: line}, nil
	case '"', '\'':
		text, err := l.quoted(c)
		return token{kind: tokWord, text: text, line: line}, err
	}
	return token{kind: tokWord, text: l.word(), line: line}, nil
}

func (l *lexer) skipSpaceAndComments() {
	for l.pos < len(l.src) {
		switch c := l.src[l.pos]; {
		case c == '\n':
			l.line++
			l.pos++
		case c == ' ' || c == '\t' || c == '\r':
			l.pos++
		case c == '#':
			for l.pos < len(l.src) && l.src[l.pos] != '\n' {
				l.pos++
			}
		default:
			return
		}
	}
}

// quoted reads a quoted word; the opening quote is at l.pos.
func (l *lexer) quoted(q byte) (string, error) {
	start := l.line
	l.pos++
	var b strings.Builder
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == '\\' && l.pos+1 < len(l.src):
			b.WriteString(unescape(l.src[l.pos+1]))
			if l.src[l.pos+1] == '\n' {
				l.line++
			}
			l.pos += 2
			continue
		case c == q:
			l.pos++
			return b.String(), nil
		case c == '\n':
			l.line++
		}
		b.WriteByte(c)
		l.pos++
	}
	return "", &SyntaxError{File: l.file, Line: start, Msg: fmt.Sprintf("quoted string opened with %c is not closed", q)}
}

// word reads an unquoted word up to whitespace, ";", "{" or "}".
func (l *lexer) word() string {
	var b strings.Builder
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == '\\' && l.pos+1 < len(l.src):
			b.WriteString(unescape(l.src[l.pos+1]))
			l.pos += 2
			continue
		case c == '$' && l.pos+1 < len(l.src) && l.src[l.pos+1] == '{':
			end := strings.IndexByte(l.src[l.pos:], '}')
			if end < 0 {
				end = len(l.src) - l.pos - 1
			}
			b.WriteString(l.src[l.pos : l.pos+end+1])
			l.pos += end + 1
			continue
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ';' || c == '{' || c == '}':
			return b.String()
		}
		b.WriteByte(c)
		l.pos++
	}
	return b.String()
}

// unescape is what nginx makes of a backslash and c.
func unescape(c byte) string {
	switch c {
	case '"', '\'', '\\':
		return string(c)
	case 't':
		return "\t"
	case 'r':
		return "\r"
	case 'n':
		return "\n"
	}
	return "\\" + string(c)
}

// skipLua skips the rest of a Lua block whose "{" was just read: braces
// are counted outside Lua strings and comments.
func (l *lexer) skipLua(startLine int) error {
	depth := 1
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == '\n':
			l.line++
		case c == '-' && strings.HasPrefix(l.src[l.pos:], "--"):
			for l.pos < len(l.src) && l.src[l.pos] != '\n' {
				l.pos++
			}
			continue
		case c == '"' || c == '\'':
			if _, err := l.quoted(c); err != nil {
				return err
			}
			continue
		case c == '{':
			depth++
		case c == '}':
			depth--
			if depth == 0 {
				l.pos++
				return nil
			}
		}
		l.pos++
	}
	return &SyntaxError{File: l.file, Line: startLine, Msg: "Lua block is not closed"}
}
