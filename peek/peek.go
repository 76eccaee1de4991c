// Package peek looks at a socket, and reads what waits on it, without
// blocking: through RawConn.Control, which keeps the descriptor open
// meanwhile and goes past Go's poller and the connection's deadlines (a
// pooled member connection's per-read deadline may well have passed while
// it sat idle). The member pool asks it whether a reused connection is
// still clean; the server whether an idle client connection may park.
package peek

import "net"

// ErrNothing ends a read that must not wait when nothing waits. It is a
// temporary net.Error, which crypto/tls does not make permanent, so a TLS
// connection over the socket reads on afterwards.
var ErrNothing net.Error = nothing{}

type nothing struct{}

func (nothing) Error() string   { return "peek: nothing to read yet" }
func (nothing) Timeout() bool   { return true }
func (nothing) Temporary() bool { return true }
