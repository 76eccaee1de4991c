//go:build !linux

package server

import (
	"errors"
	"time"
)

// readyPoller: connections park only on Linux, where the lot has epoll.
type readyPoller struct{}

type clientSock struct{}

func fdOf(*clientConn) int { return -1 }

func newReadyPoller() (*readyPoller, error) { return nil, nil }

func (*readyPoller) add(*clientConn) error                          { return errors.ErrUnsupported }
func (*readyPoller) wait() ([]readyFD, bool, error)                 { return nil, false, errors.ErrUnsupported }
func (*readyPoller) wakeBy(time.Time)                               {}
func (*readyPoller) peek(*clientConn) (bool, bool)                  { return false, false }
func (*readyPoller) readNow(*clientConn, []byte) (int, error, bool) { return 0, nil, true }
func (*readyPoller) close()                                         {}
