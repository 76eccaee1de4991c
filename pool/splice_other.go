//go:build !linux

package pool

// spliceWorks: elsewhere TCPConn.ReadFrom copies through a fresh buffer.
const spliceWorks = false
