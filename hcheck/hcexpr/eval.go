package hcexpr

import (
	"bytes"
	"strconv"
	"strings"
)

// Input is what an expression sees of one health-check response.
type Input struct {
	Status int
	// Header returns a response header's value; nil means no headers.
	Header func(name string) []byte
	// Body is the body a GET check read (empty for other methods).
	Body []byte
}

// Eval reports whether the response satisfies the expression. When it does
// not, why names the part that decided it and the values it saw, e.g.
// `%{REQUEST_STATUS} =~ /^[234]/ was false (%{REQUEST_STATUS} is "503")`.
func (e *Expr) Eval(in Input) (ok bool, why string) {
	if e.root.eval(&in) {
		return true, ""
	}
	return false, e.root.why(&in)
}

func (n *node) eval(in *Input) bool {
	switch n.kind {
	case kindOr:
		return n.x.eval(in) || n.y.eval(in)
	case kindAnd:
		return n.x.eval(in) && n.y.eval(in)
	case kindNot:
		return !n.x.eval(in)
	case kindConst:
		return n.val
	case kindMatch:
		return n.re.Match(n.left.value(in)) == (n.op == "=~")
	case kindIn:
		v := n.left.value(in)
		for _, w := range n.list {
			if bytes.Equal(v, w.value(in)) {
				return true
			}
		}
		return false
	case kindNumeric:
		a, errA := strconv.ParseInt(string(n.left.value(in)), 10, 64)
		b, errB := strconv.ParseInt(string(n.right.value(in)), 10, 64)
		if errA != nil || errB != nil {
			return false
		}
		return order(n.op, cmpInt(a, b))
	default: // kindString
		return order(n.op, bytes.Compare(n.left.value(in), n.right.value(in)))
	}
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// order applies a comparison operator to a three-way comparison result.
func order(op string, c int) bool {
	switch op {
	case "==", "-eq":
		return c == 0
	case "!=", "-ne":
		return c != 0
	case "<", "-lt":
		return c < 0
	case "<=", "-le":
		return c <= 0
	case ">", "-gt":
		return c > 0
	default: // ">=", "-ge"
		return c >= 0
	}
}

// why explains a node that evaluated to false.
func (n *node) why(in *Input) string {
	switch n.kind {
	case kindAnd:
		if !n.x.eval(in) {
			return n.x.why(in)
		}
		return n.y.why(in)
	case kindOr:
		return n.x.why(in) + "; " + n.y.why(in)
	case kindNot:
		return n.src + " was false (" + n.x.src + " was true)"
	case kindConst:
		return "false"
	}
	var b strings.Builder
	b.WriteString(n.src)
	b.WriteString(" was false")
	sep := " ("
	for _, w := range n.words() {
		if w.literal() {
			continue
		}
		v := w.value(in)
		b.WriteString(sep)
		b.WriteString(w.src)
		b.WriteString(" is ")
		b.WriteString(quote(v))
		if n.kind == kindNumeric {
			if _, err := strconv.ParseInt(string(v), 10, 64); err != nil {
				b.WriteString(", not an integer")
			}
		}
		sep = "; "
	}
	if sep != " (" {
		b.WriteString(")")
	}
	return b.String()
}

func (n *node) words() []word {
	ws := []word{n.left}
	if n.kind == kindString || n.kind == kindNumeric {
		ws = append(ws, n.right)
	}
	return append(ws, n.list...)
}

// quote shows a value in an explanation, cut to a readable length.
func quote(v []byte) string {
	const limit = 64
	if len(v) <= limit {
		return strconv.Quote(string(v))
	}
	return strconv.Quote(string(v[:limit])) + "… (" + strconv.Itoa(len(v)) + " bytes)"
}

// value is the word's value for in. A lone variable is returned as is (the
// body is not copied); a quoted string with variables is built.
func (w word) value(in *Input) []byte {
	if len(w.parts) == 1 {
		return w.parts[0].value(nil, in)
	}
	var dst []byte
	for _, p := range w.parts {
		dst = p.value(dst, in)
	}
	return dst
}

// value appends p's value to dst, or returns it alone when dst is nil.
func (p part) value(dst []byte, in *Input) []byte {
	var v []byte
	switch p.from {
	case fromLiteral:
		return append(dst, p.text...)
	case fromStatus:
		return strconv.AppendInt(dst, int64(in.Status), 10)
	case fromContentType:
		v = header(in, "Content-Type")
	case fromHeader:
		v = header(in, p.text)
	case fromBody:
		v = in.Body
	}
	if dst == nil {
		return v
	}
	return append(dst, v...)
}

func header(in *Input, name string) []byte {
	if in.Header == nil {
		return nil
	}
	return in.Header(name)
}
