package pool

import (
	"bytes"
	"errors"
	"net"
	"os"
	"time"

	"github.com/sluiceproxy/sluice/deadline"
	"github.com/sluiceproxy/sluice/headers"
)

// ErrDoubleFraming is returned when a response head frames its body twice
// (Content-Length and Transfer-Encoding) and sluice cannot take the length
// out before fasthttp parses it: the response is refused (502).
var ErrDoubleFraming = errors.New("pool: response with both Content-Length and Transfer-Encoding")

// answerCheck is how long a body write may block before sluice looks
// whether the member has already answered.
const answerCheck = 50 * time.Millisecond

// closeLine goes into the head of an early answer, after its status line,
// so that fasthttp closes the connection after that response.
const closeLine = "Connection: close\r\n"

// memberConn is the HTTP layer of a member connection, under idleConn and
// over the socket, or over tlsConn for a TLS member, so that it reads and
// writes plaintext either way. It guards two framing faults that fasthttp
// cannot see:
//
//   - A response head with both Content-Length and Transfer-Encoding
//     (threats.md SMG-15). RFC 9112 §6.3 makes the chunked coding win and
//     an intermediary remove the length; such a message "ought to be
//     handled as an error", so the connection must not carry another one.
//     fasthttp drops the length silently and would pool the connection, so
//     memberConn rewrites the Content-Length line, in place and at its own
//     length, into "Connection:close": fasthttp then reads the body
//     chunked and closes the connection after it (as HAProxy does). When
//     the line already went up in an earlier read, the response is refused.
//   - A member that answers before it has read the request body
//     (threats.md HDR-07): once a body write blocks or fails with the
//     member's answer waiting, the rest of the body is dropped (the
//     client's side is still read, so it stays in step), and closeLine is
//     added to the answer's head: the member never read those bytes and
//     would take them for the next request.
//
// It is used by one request at a time, as fasthttp uses its connections.
type memberConn struct {
	net.Conn
	peek     looker    // looks for an early answer
	deadline time.Time // the write deadline idleConn asked for
	// slice arms the shorter deadlines of body writes, lazily; sliced is
	// set while one may be armed instead of deadline (it stays armed
	// after the body: a request's first write cannot wait, and re-arms
	// deadline only when the short one has passed).
	slice    deadline.Lazy
	sliced   bool
	writing  bool // a request is going out: nothing read since its first write
	body     bool // the request's first write went out: later ones carry its body
	answered bool // the member answered while the body was going out
	// await makes the next write, a whole request in one, return only
	// once the answer can be read (writeAwaiter). late is the read
	// deadline's error when that wait ran out: the next Read reports it
	// rather than wait a second timeout.
	await bool
	late  error
	head  headScan
	// carry holds the bytes closeLine pushed out of a read.
	carry   [len(closeLine)]byte
	carried int
}

func newMemberConn(c net.Conn, peek looker) *memberConn {
	return &memberConn{Conn: c, peek: peek}
}

// answerWaiting reports whether the member sent bytes that wait to be
// read; a closed peer with nothing sent is not an answer.
func (c *memberConn) answerWaiting() bool {
	sent, _ := c.peek.Look()
	return sent
}

// SetWriteDeadline arms t, unless a body write's shorter deadline is armed:
// the next body write arms the earlier of the two.
func (c *memberConn) SetWriteDeadline(t time.Time) error {
	c.deadline = t
	if c.sliced {
		return nil
	}
	return c.Conn.SetWriteDeadline(t)
}

func (c *memberConn) SetDeadline(t time.Time) error {
	c.deadline, c.sliced = t, false
	return c.Conn.SetDeadline(t)
}

func (c *memberConn) Write(p []byte) (int, error) {
	if !c.writing {
		c.writing, c.body, c.answered, c.late = true, false, false, nil
		c.head = headScan{active: true, first: true}
	}
	await := c.await
	c.await = false
	if !c.body {
		// The first write carries the head onto an emptied connection: it
		// does not wait for the member, and no answer can come before it.
		c.body = true
		sent := 0
		if w, ok := c.peek.(writeAwaiter); ok && await {
			var err error
			if sent, err = w.writeAwait(p); sent == len(p) {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					c.late = err
				}
				return sent, nil
			}
		}
		n, err := c.Conn.Write(p[sent:])
		n += sent
		if err != nil && c.sliced && errors.Is(err, os.ErrDeadlineExceeded) {
			// The short deadline of an earlier body outlived it.
			c.sliced, c.slice = false, deadline.Lazy{}
			if err := c.Conn.SetWriteDeadline(c.deadline); err != nil {
				return n, err
			}
			k, err := c.Conn.Write(p[n:])
			return n + k, err
		}
		return n, err
	}
	if c.answered {
		return len(p), nil // the member answered already: drop the rest of the body
	}
	n := 0
	for {
		now := time.Now()
		until, last := now.Add(answerCheck), false
		if !c.deadline.IsZero() && !c.deadline.After(until) {
			until, last = c.deadline, true
		}
		if t, ok := c.slice.Next(until, now); ok {
			if err := c.Conn.SetWriteDeadline(t); err != nil {
				return n, err
			}
			c.sliced = true
		}
		k, err := c.Conn.Write(p[n:])
		n += k
		if err == nil {
			return n, nil
		}
		paused := errors.Is(err, os.ErrDeadlineExceeded) && !last
		if (paused || !errors.Is(err, os.ErrDeadlineExceeded)) && c.answerWaiting() {
			c.answered = true
			return len(p), nil
		}
		if !paused {
			return n, err
		}
	}
}

// writeAwaiter writes a request and waits for its answer in one go (a
// plain socket's peeker).
type writeAwaiter interface {
	writeAwait(b []byte) (int, error)
}

// awaitAnswer tells c that its next write holds a whole request: nothing
// follows it but the member's answer.
func (c *memberConn) awaitAnswer() { c.await = true }

func (c *memberConn) Read(p []byte) (int, error) {
	c.writing = false
	if err := c.late; err != nil {
		c.late = nil
		return 0, err
	}
	if c.carried > 0 {
		n := copy(p, c.carry[:c.carried])
		c.carried = copy(c.carry[:], c.carry[n:c.carried])
		return n, nil
	}
	n, err := c.Conn.Read(p)
	if n > 0 && c.head.active {
		if serr := c.head.scan(p[:n]); serr != nil {
			return 0, serr
		}
		if c.answered && c.head.finalAt >= 0 {
			n = c.insertClose(p, n, c.head.finalAt)
			if c.carried > 0 {
				err = nil // the carried bytes come first
			}
		}
	}
	return n, err
}

// insertClose puts closeLine into p[:n] at i and returns the new length;
// what no longer fits in p waits in carry.
func (c *memberConn) insertClose(p []byte, n, i int) int {
	total := n + len(closeLine)
	put := func(at int, b byte) {
		if at < len(p) {
			p[at] = b
		} else {
			c.carry[at-len(p)] = b
		}
	}
	for j := n - 1; j >= i; j-- { // the tail moves right, from its end
		put(j+len(closeLine), p[j])
	}
	for j := range len(closeLine) {
		put(i+j, closeLine[j])
	}
	c.carried = max(total-len(p), 0)
	return min(total, len(p))
}

// headScan follows the response heads a member sends, byte by byte as
// they are read, for a head with both Content-Length and
// Transfer-Encoding. It stops at the end of the final (non-1xx) head.
type headScan struct {
	active  bool
	finalAt int     // in the current buffer, just after the final head's status line; -1: not in it
	first   bool    // on the status line
	status  [3]byte // the status code digits
	interim bool    // a 1xx head: another head follows
	col     int     // bytes of the current line so far
	last    byte    // the line's last byte

	// The field name of the current line, matched as it arrives.
	cand   uint8 // fieldCL|fieldTE still possible
	nlen   int   // name bytes matched
	spaced bool  // whitespace after the name
	field  uint8 // the line's field once its colon came; 0 for others
	value  bool  // past the colon

	te       bool
	cl       int  // Content-Length lines in this head
	clStart  int  // start in the current buffer of a Content-Length line not yet rewritten; -1: none
	clEnd    int  // its end (before CR LF)
	clGone   bool // a Content-Length line went up unrewritten
	lineHere int  // start of the current line in the current buffer; -1: it began in an earlier one
}

const (
	fieldCL uint8 = 1 << iota
	fieldTE
)

const (
	nameCL = "content-length"
	nameTE = "transfer-encoding"
)

// scan follows b, rewriting a Content-Length line of a doubly framed head
// within it; it fails when such a line already went up.
func (h *headScan) scan(b []byte) error {
	// Fast path - a read that holds the whole head, as most do.
	if h.first && h.col == 0 && h.whole(b) {
		return nil
	}
	return h.follow(b)
}

// whole finishes the head at b's start in one pass, line by line, when b
// holds all of it and nothing in it needs rewriting: a final status and
// no Transfer-Encoding or no Content-Length line. Otherwise it reports
// false, having changed nothing.
func (h *headScan) whole(b []byte) bool {
	sl := bytes.IndexByte(b, '\n')
	if sl < 12 || (b[9] == '1' && string(b[9:12]) != "101") {
		return false // an interim head, or a status line too short to read as follow does
	}
	var te, cl bool
	for i := sl + 1; ; {
		nl := bytes.IndexByte(b[i:], '\n')
		if nl < 0 {
			return false // the head goes on in the next read
		}
		line := b[i : i+nl]
		i += nl + 1
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			if te && cl {
				return false
			}
			*h = headScan{finalAt: sl + 1, clStart: -1}
			return true
		}
		// Only these initials can start a name sluice looks for.
		switch line[0] | 0x20 {
		case 't':
			te = te || fieldOf(line) == fieldTE
		case 'c':
			cl = cl || fieldOf(line) == fieldCL
		}
	}
}

// fieldOf returns the field sluice looks for that a whole line (no LF)
// names, or 0.
func fieldOf(line []byte) uint8 {
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return 0
	}
	return fieldNamed(line[:colon])
}

// fieldNamed returns the field sluice looks for that is named by the
// bytes before a line's colon, or 0.
func fieldNamed(name []byte) uint8 {
	// fasthttp drops whitespace before the colon: "Content-Length :".
	switch name = bytes.TrimRight(name, " \t"); {
	case headers.EqualFold(name, nameCL):
		return fieldCL
	case headers.EqualFold(name, nameTE):
		return fieldTE
	}
	return 0
}

// follow is scan's slow path: it follows b byte by byte and line by line,
// wherever the head starts or ends, and rewrites what needs it.
func (h *headScan) follow(b []byte) error {
	h.clStart, h.finalAt = -1, -1
	h.lineHere = -1
	if h.col == 0 {
		h.lineHere = 0
	}
	for i := 0; i < len(b) && h.active; {
		if h.col == 0 {
			i = h.lineStart(b, i)
			if i >= len(b) {
				break
			}
		}
		c := b[i]
		if c != '\n' && (h.value || (h.first && h.col >= 12) || (!h.first && h.cand == 0)) {
			// Nothing more to learn from this line (past the status code,
			// past the colon, or a name that matches neither): skip it.
			j := bytes.IndexByte(b[i:], '\n')
			if j < 0 {
				j = len(b) - i
			}
			h.col, h.last = h.col+j, b[i+j-1]
			i += j
			continue
		}
		if c != '\n' {
			h.byteOfLine(c)
			i++
			continue
		}
		if err := h.endLine(b, i); err != nil {
			return err
		}
		i++
		h.lineHere = i
	}
	if h.clStart >= 0 {
		h.clGone = true // it goes up as it is
	}
	return nil
}

// lineStart takes what it can of a line starting at b[i] in one step, and
// returns where the byte-wise scan goes on: a status line's first 12 bytes
// (the code is at 9–11), and a field line that can name neither field,
// which is dropped from the candidates at once. Most heads have only such
// lines and a Content-… one or two.
func (h *headScan) lineStart(b []byte, i int) int {
	rest := b[i:]
	switch {
	case h.first && len(rest) >= 12:
		copy(h.status[:], rest[9:12])
		h.col, h.last = 12, rest[11]
		return i + 12
	case !h.first && len(rest) > 0:
		if c := rest[0] | 0x20; c != 'c' && c != 't' && rest[0] != '\r' && rest[0] != '\n' {
			h.cand = 0
			return i
		}
		colon, nl := bytes.IndexByte(rest, ':'), bytes.IndexByte(rest, '\n')
		if colon < 0 || (nl >= 0 && nl < colon) {
			return i // the name goes on in the next read, or there is none
		}
		h.field, h.value, h.cand = fieldNamed(rest[:colon]), true, 0
		h.col, h.last = colon+1, ':'
		return i + colon + 1
	}
	return i
}

// byteOfLine takes one byte of the current line (before its LF).
func (h *headScan) byteOfLine(c byte) {
	if h.first {
		if h.col >= 9 && h.col < 12 {
			h.status[h.col-9] = c
		}
	} else if !h.value {
		h.nameByte(c)
	}
	h.col++
	h.last = c
}

// nameByte matches c against the names sluice looks for. fasthttp drops
// whitespace before the colon, so "Content-Length :" counts.
func (h *headScan) nameByte(c byte) {
	switch {
	case c == ':':
		h.value = true
		if h.cand&fieldCL != 0 && h.nlen == len(nameCL) {
			h.field = fieldCL
		} else if h.cand&fieldTE != 0 && h.nlen == len(nameTE) {
			h.field = fieldTE
		}
		return
	case c == ' ' || c == '\t':
		h.spaced = true
		return
	case h.spaced:
		h.cand = 0
		return
	}
	lower := c | 0x20
	if h.nlen >= len(nameCL) || nameCL[h.nlen] != lower {
		h.cand &^= fieldCL
	}
	if h.nlen >= len(nameTE) || nameTE[h.nlen] != lower {
		h.cand &^= fieldTE
	}
	h.nlen++
}

// endLine handles the line ending at the LF at b[lf].
func (h *headScan) endLine(b []byte, lf int) error {
	empty := h.col == 0 || (h.col == 1 && h.last == '\r')
	switch {
	case h.first:
		h.first = false
		h.interim = h.status[0] == '1' && string(h.status[:]) != "101"
		if !h.interim {
			h.finalAt = lf + 1
		}
	case empty:
		if h.interim {
			*h = headScan{active: true, first: true, clStart: -1, finalAt: -1}
		} else {
			h.active = false // the body follows
		}
	case h.field == fieldTE:
		h.te = true
		if h.clGone {
			return ErrDoubleFraming
		}
		if h.clStart >= 0 {
			if err := h.rewrite(b); err != nil {
				return err
			}
		}
	case h.field == fieldCL:
		h.cl++
		if h.lineHere < 0 || h.cl > 1 {
			// Not rewritable here, or a second length: the line goes up as
			// it is (fasthttp refuses a second length by itself).
			h.clGone = true
		} else {
			h.clStart, h.clEnd = h.lineHere, lf
			if b[lf-1] == '\r' {
				h.clEnd--
			}
		}
		if h.te {
			if h.clGone {
				return ErrDoubleFraming
			}
			if err := h.rewrite(b); err != nil {
				return err
			}
		}
	}
	h.col, h.last = 0, 0
	h.cand, h.nlen, h.spaced, h.field, h.value = fieldCL|fieldTE, 0, false, 0, false
	return nil
}

// closeField replaces a Content-Length line; the rest of the line becomes
// trailing whitespace, which fasthttp trims.
const closeField = "Connection:close"

// rewrite turns the pending Content-Length line into closeField.
func (h *headScan) rewrite(b []byte) error {
	line := b[h.clStart:h.clEnd]
	if len(line) < len(closeField) {
		return ErrDoubleFraming // "Content-Length:" with no value
	}
	n := copy(line, closeField)
	for i := n; i < len(line); i++ {
		line[i] = ' '
	}
	h.clStart = -1
	return nil
}
