//go:build linux

package sock

import (
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
)

// maxSplice is the most one splice(2) moves: the pipe is made that large
// (the default /proc/sys/fs/pipe-max-size), as Go's own splice does.
const maxSplice = 1 << 20

// fSetPipeSize is F_SETPIPE_SZ and spliceNonblock SPLICE_F_NONBLOCK, which
// package syscall does not name.
const (
	fSetPipeSize   = 1031
	spliceNonblock = 2
)

// SpliceFrom moves up to n bytes from src's socket to s's by splice(2)
// through a pipe, as TCPConn.ReadFrom does (the waits in Go's poller,
// under src's read deadline and s's write deadline) but with raw system
// calls. It returns how many bytes reached s; fewer with a nil error mean
// that src reached its end. Errors read as TCPConn.ReadFrom's ("readfrom").
// Neither socket may be read or written otherwise meanwhile. Where the
// kernel splices neither (or no pipe can be made) it copies (copyFrom).
func (s *Socket) SpliceFrom(src *Socket, n int64) (int64, error) {
	if s.rc == nil || src.rc == nil {
		return s.copyFrom(src, n)
	}
	sp, _ := splicers.Get().(*splicer)
	if sp == nil {
		return s.copyFrom(src, n)
	}
	defer sp.put()
	var written int64
	for written < n {
		sp.max, sp.n, sp.errno = int(min(n-written, maxSplice)), 0, 0
		if err := src.rc.Read(sp.drainFn); err != nil {
			return written, s.readFromError(err)
		}
		switch {
		case sp.errno == syscall.EINVAL && written == 0:
			return s.copyFrom(src, n) // nothing moved: the kernel splices neither
		case sp.errno != 0:
			return written, s.readFromError(os.NewSyscallError("splice", sp.errno))
		case sp.n == 0:
			return written, nil // src at its end
		}
		sp.inPipe += sp.n
		sp.n, sp.errno = 0, 0
		err := s.rc.Write(sp.pumpFn)
		written += int64(sp.n)
		switch {
		case err != nil:
			return written, s.readFromError(err)
		case sp.errno != 0:
			return written, s.readFromError(os.NewSyscallError("splice", sp.errno))
		}
	}
	return written, nil
}

// readFromError gives a splice's error the shape TCPConn.ReadFrom's has:
// a *net.OpError "readfrom" on s's addresses, whichever side failed.
func (s *Socket) readFromError(err error) error {
	if oe, ok := err.(*net.OpError); ok {
		err = oe.Err
	}
	return &net.OpError{Op: "readfrom", Net: s.conn.LocalAddr().Network(), Source: s.conn.LocalAddr(), Addr: s.conn.RemoteAddr(), Err: err}
}

// splicer is a pipe with what one SpliceFrom round asks of it, and its
// functions for RawConn, made once per pipe. Pipes are pooled, and closed
// when the pool drops them (cleanup) or when one is left holding bytes.
type splicer struct {
	r, w    int // the pipe's ends, non-blocking
	inPipe  int // bytes in the pipe
	max     int // drain's limit
	n       int // what the last drain or pump moved
	errno   syscall.Errno
	drainFn func(fd uintptr) bool
	pumpFn  func(fd uintptr) bool
	cleanup runtime.Cleanup
}

var splicers = sync.Pool{New: newSplicer}

func newSplicer() any {
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		return nil
	}
	// A smaller pipe works too, with more calls: the error is not one.
	_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, uintptr(fds[0]), fSetPipeSize, maxSplice)
	sp := &splicer{r: fds[0], w: fds[1]}
	sp.drainFn, sp.pumpFn = sp.drain, sp.pump
	sp.cleanup = runtime.AddCleanup(sp, closePipe, fds)
	return sp
}

func closePipe(fds [2]int) {
	_ = syscall.Close(fds[0])
	_ = syscall.Close(fds[1])
}

// put hands the pipe back, or closes it when bytes were left in it.
func (sp *splicer) put() {
	if sp.inPipe != 0 {
		sp.cleanup.Stop()
		closePipe([2]int{sp.r, sp.w})
		return
	}
	splicers.Put(sp)
}

// drain moves up to max bytes from the socket fd into the empty pipe; the
// pipe has room, so EAGAIN means the socket has nothing yet.
func (sp *splicer) drain(fd uintptr) bool {
	for {
		n, errno := sysSplice(fd, uintptr(sp.w), sp.max)
		switch errno {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // wait in the poller
		}
		sp.n, sp.errno = n, errno
		return true
	}
}

// pump moves all the pipe holds to the socket fd; EAGAIN means the
// socket's send buffer is full.
func (sp *splicer) pump(fd uintptr) bool {
	for sp.inPipe > 0 {
		n, errno := sysSplice(uintptr(sp.r), fd, sp.inPipe)
		switch errno {
		case 0:
			if n == 0 {
				sp.errno = syscall.EIO // the pipe held less than counted: never seen
				return true
			}
			sp.inPipe -= n
			sp.n += n
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false // wait in the poller
		default:
			sp.errno = errno
			return true
		}
	}
	return true
}
