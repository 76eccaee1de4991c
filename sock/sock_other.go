//go:build !linux

package sock

import (
	"net"
	"syscall"
)

// Socket: elsewhere the connection is read and written as it is, and
// nothing is ever seen waiting.
type Socket struct{ conn net.Conn }

func New(c net.Conn) *Socket { return &Socket{conn: c} }

func (s *Socket) Init(c net.Conn) { s.conn = c }

func (*Socket) Raw() syscall.RawConn { return nil }

func (s *Socket) Read(p []byte) (int, error) { return s.conn.Read(p) }

func (s *Socket) Write(p []byte) (int, error) { return s.conn.Write(p) }

func (s *Socket) WriteTwo(a, b []byte) (int, error) { return writeTwo(s.conn, a, b) }

// WriteTwoNow writes nothing: nothing here tells when a write would wait,
// so each is taken as one that would (the caller arms its timeout and
// writes with WriteTwo).
func (*Socket) WriteTwoNow([]byte, []byte) (int, error) { return 0, ErrFull }

// WriteRead writes and reads nothing: the caller writes and reads the
// ordinary way.
func (*Socket) WriteRead([]byte, []byte, bool) (wrote, n int, err error) { return 0, 0, nil }

// SpliceFrom copies: there is no splice(2) here.
func (s *Socket) SpliceFrom(src *Socket, n int64) (int64, error) { return s.copyFrom(src, n) }

func (*Socket) Look() (sent, closed bool) { return false, false }

func (*Socket) ReadNow([]byte) (int, error) { return 0, ErrNothing }

// NewListener returns l: elsewhere Go's Accept serves, and nothing is an
// Accepted.
func NewListener(l net.Listener) net.Listener { return l }

// Accepted is Linux's accepted connection; elsewhere nothing makes one.
type Accepted struct{ net.Conn }
