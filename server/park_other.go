//go:build !linux

package server

import (
	"errors"
	"time"
)

// readyPoller: connections park only on Linux, where the lot has epoll.
type readyPoller struct{}

func newReadyPoller() (*readyPoller, error) { return nil, nil }

func (*readyPoller) add(*clientConn) error          { return errors.ErrUnsupported }
func (*readyPoller) wait() ([]readyFD, bool, error) { return nil, false, errors.ErrUnsupported }
func (*readyPoller) wakeBy(time.Time)               {}
func (*readyPoller) close()                         {}
