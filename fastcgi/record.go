// Package fastcgi is the web server's side of FastCGI 1.0 in the
// responder role, as mod_proxy_fcgi speaks it to PHP-FPM and other
// applications: the records of one request (BEGIN_REQUEST, PARAMS,
// STDIN), the stream of its answer's records (STDOUT, STDERR,
// END_REQUEST), and the CGI response head at the start of STDOUT
// (RFC 3875 §6).
//
// One request is in flight per connection (request id 1), as Apache and
// nginx send them: FastCGI multiplexing is not used.
package fastcgi

import (
	"encoding/binary"
	"errors"
	"io"
)

// Record types (FastCGI 1.0 §8).
const (
	typeBeginRequest = 1
	typeEndRequest   = 3
	typeParams       = 4
	typeStdin        = 5
	typeStdout       = 6
	typeStderr       = 7
)

const (
	version   = 1
	requestID = 1
	// roleResponder is the only role a proxy asks for.
	roleResponder = 1
	// flagKeepConn asks the application to keep the connection open
	// after the request.
	flagKeepConn = 1
	headerLen    = 8
	// MaxContent is the most content one record carries.
	MaxContent = 65535
)

// Protocol statuses of END_REQUEST.
const (
	StatusRequestComplete = 0
	StatusCantMultiplex   = 1
	StatusOverloaded      = 2
)

// ErrProtocol is a record stream that breaks FastCGI's framing.
var ErrProtocol = errors.New("fastcgi: malformed record stream")

// appendHeader appends a record header for content of n bytes.
func appendHeader(dst []byte, typ byte, n int) []byte {
	return append(dst, version, typ, 0, requestID, byte(n>>8), byte(n), 0, 0)
}

// AppendBeginRequest appends the BEGIN_REQUEST record of a responder
// request; keepConn asks the application not to close the connection
// after its END_REQUEST.
func AppendBeginRequest(dst []byte, keepConn bool) []byte {
	var flags byte
	if keepConn {
		flags = flagKeepConn
	}
	dst = appendHeader(dst, typeBeginRequest, 8)
	return append(dst, 0, roleResponder, flags, 0, 0, 0, 0, 0)
}

// AppendParams appends params, encoded name-value pairs (AppendPair), as
// PARAMS records, and the empty record that ends them.
func AppendParams(dst, params []byte) []byte {
	for len(params) > 0 {
		n := min(len(params), MaxContent)
		dst = appendHeader(dst, typeParams, n)
		dst = append(dst, params[:n]...)
		params = params[n:]
	}
	return appendHeader(dst, typeParams, 0)
}

// AppendPair appends one name-value pair in FastCGI's encoding: each
// length in one byte below 128, else in four with the top bit set.
func AppendPair[N, V ~string | ~[]byte](dst []byte, name N, value V) []byte {
	dst = appendLength(dst, len(name))
	dst = appendLength(dst, len(value))
	dst = append(dst, name...)
	return append(dst, value...)
}

// AppendLengths appends the lengths of a pair whose name and value the
// caller appends next, for values built in place.
func AppendLengths(dst []byte, name, value int) []byte {
	return appendLength(appendLength(dst, name), value)
}

func appendLength(dst []byte, n int) []byte {
	if n < 128 {
		return append(dst, byte(n))
	}
	return binary.BigEndian.AppendUint32(dst, uint32(n)|1<<31)
}

// WriteStdin writes body as STDIN records through buf (at least a few
// bytes; up to MaxContent of it is used per record), then the empty
// record that ends the stream. n counts the body bytes read.
func WriteStdin(w io.Writer, body io.Reader, buf []byte) (n int64, err error) {
	buf = buf[:min(len(buf), headerLen+MaxContent)]
	for body != nil {
		k, rerr := body.Read(buf[headerLen:])
		if k > 0 {
			n += int64(k)
			appendHeader(buf[:0], typeStdin, k)
			if _, err := w.Write(buf[:headerLen+k]); err != nil {
				return n, err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return n, rerr
		}
	}
	_, err = w.Write(appendHeader(buf[:0], typeStdin, 0))
	return n, err
}
