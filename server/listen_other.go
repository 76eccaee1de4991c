//go:build !linux

package server

import "syscall"

// inheritKeepAlive is nil: Go sets keep-alive on each accepted connection.
var inheritKeepAlive func(network, address string, c syscall.RawConn) error
