//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

const idleIOTimeout = 10 * time.Second

// idleConn is a keep-alive client connection that has had one answer and
// now sits idle in the proxy.
type idleConn struct {
	c  net.Conn
	br *bufio.Reader
}

// openIdle opens n connections to addr and completes one GET of path on each,
// a few at a time so as not to overflow the listen backlog.
func openIdle(ctx context.Context, addr, path string, n int) ([]*idleConn, error) {
	conns := make([]*idleConn, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				errs[i] = err
				return
			}
			ic := &idleConn{c: c, br: bufio.NewReaderSize(c, 512)}
			conns[i] = ic
			errs[i] = ic.get(addr, path)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			closeIdle(conns)
			return nil, fmt.Errorf("cannot open %d idle connections to %s: %w", n, addr, err)
		}
	}
	return conns, nil
}

// get sends one GET and reads the whole answer, which must be a 200.
func (ic *idleConn) get(host, path string) error {
	if err := ic.c.SetDeadline(time.Now().Add(idleIOTimeout)); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(ic.c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host); err != nil {
		return err
	}
	resp, err := http.ReadResponse(ic.br, nil)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err == nil && (resp.StatusCode != http.StatusOK || resp.Close) {
		err = fmt.Errorf("status %d, close %v", resp.StatusCode, resp.Close)
	}
	return err
}

// recheckIdle sends one more GET on every connection and counts those the
// proxy dropped or answered wrongly while they were idle.
func recheckIdle(conns []*idleConn, host, path string) int {
	var lost int
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, ic := range conns {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if ic.get(host, path) != nil {
				mu.Lock()
				lost++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return lost
}

func closeIdle(conns []*idleConn) {
	for _, ic := range conns {
		if ic != nil {
			ic.c.Close()
		}
	}
}
