//go:build !linux

package peek

import (
	"net"
	"syscall"
)

// Socket: where a non-blocking peek is not available, nothing is ever
// seen waiting.
type Socket struct{}

func New(net.Conn) *Socket { return &Socket{} }

func (*Socket) Raw() syscall.RawConn { return nil }

func (*Socket) Look() (sent, closed bool) { return false, false }

func (*Socket) ReadNow([]byte) (int, error) { return 0, ErrNothing }
