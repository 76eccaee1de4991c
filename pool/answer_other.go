//go:build !linux

package pool

// answerWaiting cannot peek without blocking here: an early answer is
// found only by the read that follows the whole request.
func (*memberConn) answerWaiting() bool { return false }
