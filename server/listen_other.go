//go:build !linux

package server

import "syscall"

// listenControl is nil: Go sets keep-alive on each accepted connection, and
// connections are accepted at once.
func listenControl(bool) func(network, address string, c syscall.RawConn) error { return nil }
