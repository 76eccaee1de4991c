package server

import (
	"errors"
	"log/slog"
	"net"
	"syscall"
	"time"
)

// patientListener keeps accepting through resource exhaustion. fasthttp's
// Serve returns on any accept error other than a timeout, so without this
// a burst that uses up file descriptors (EMFILE) would stop the proxy for
// good; instead Accept waits (5 ms doubling to 1 s, as net/http does) and
// tries again once connections have closed (threats.md RES-05).
type patientListener struct {
	net.Listener
	log    *slog.Logger
	logged time.Time
}

func (l *patientListener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err == nil || !exhausted(err) {
			return c, err
		}
		if now := time.Now(); now.Sub(l.logged) > 10*time.Second {
			l.logged = now
			l.log.Warn("cannot accept, retrying", "addr", l.Addr().String(), "err", err)
		}
		if delay == 0 {
			delay = 5 * time.Millisecond
		} else if delay *= 2; delay > time.Second {
			delay = time.Second
		}
		time.Sleep(delay)
	}
}

// exhausted reports the accept errors that pass once resources free up.
func exhausted(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM)
}
