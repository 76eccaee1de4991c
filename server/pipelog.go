package server

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// pipedLog is a piped access log (CustomLog "|program …"): the program
// reads the lines on its standard input, and one that exits is started
// again at the next write, as Apache restarts its piped loggers. "|" and
// "||" start the program directly (its arguments split at spaces), "|$"
// through /bin/sh -c.
type pipedLog struct {
	argv []string
	mu   sync.Mutex // guards cmd and in
	cmd  *exec.Cmd
	in   io.WriteCloser
}

func startPipedLog(spec string) (*pipedLog, error) {
	var argv []string
	switch {
	case strings.HasPrefix(spec, "|$"):
		argv = []string{"/bin/sh", "-c", spec[2:]}
	case strings.HasPrefix(spec, "||"):
		argv = strings.Fields(spec[2:])
	default:
		argv = strings.Fields(spec[1:])
	}
	if len(argv) == 0 || argv[len(argv)-1] == "" {
		return nil, fmt.Errorf("piped access log %q names no program", spec)
	}
	p := &pipedLog{argv: argv}
	if err := p.start(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *pipedLog) start() error {
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cannot start piped access log %q: %w", strings.Join(p.argv, " "), err)
	}
	p.cmd, p.in = cmd, in
	return nil
}

// stopLocked closes the program's input and waits for it, killing it
// after 5 s.
func (p *pipedLog) stopLocked() {
	if p.cmd == nil {
		return
	}
	_ = p.in.Close()
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
	p.cmd, p.in = nil, nil
}

// Write hands b to the program, starting it again first when it exited.
func (p *pipedLog) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.in != nil {
		n, err := p.in.Write(b)
		if err == nil || !errors.Is(err, os.ErrClosed) && !isBrokenPipe(err) {
			return n, err
		}
		p.stopLocked() // it exited: reap it
	}
	if err := p.start(); err != nil {
		return 0, err
	}
	return p.in.Write(b)
}

func (p *pipedLog) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopLocked()
	return nil
}
