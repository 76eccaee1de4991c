//go:build !linux

package pool

import (
	"net"

	"github.com/sluiceproxy/sluice/peek"
)

// peeker is a no-op where a non-blocking peek is not available.
type peeker struct{}

func newPeeker(net.Conn) *peeker { return &peeker{} }

func (*peeker) look() (sent, closed bool) { return false, false }

func (*peeker) readNow([]byte) (int, error) { return 0, peek.ErrNothing }

func (*peeker) writeAwait([]byte) (int, error) { return 0, nil }
