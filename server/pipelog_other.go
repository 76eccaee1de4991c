//go:build !unix

package server

func isBrokenPipe(error) bool { return false }
