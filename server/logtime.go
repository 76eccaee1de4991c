package server

import (
	"sync/atomic"
	"time"
)

// An access log writes the same second thousands of times a second, and
// formatting it cost about 1,600 instructions per line (time.AppendFormat),
// a tenth of a small proxied request. Each layout keeps its last second
// rendered, as nginx keeps its log times.
var (
	clfTimes  = stampCache{layout: "[02/Jan/2006:15:04:05 -0700]"} // %t, common, combined
	jsonTimes = stampCache{layout: time.RFC3339}                   // json, with the fraction put in
)

// stampCache renders times in one layout that shows whole seconds, and
// keeps the last second rendered for times in the local zone (the clock's
// readings): within the zone a second has one rendering.
type stampCache struct {
	layout string
	last   atomic.Pointer[stamp]
}

// stamp is one second rendered; one is made per second and layout.
type stamp struct {
	sec  int64
	n    int
	text [32]byte
}

// appendTo appends t in c's layout.
func (c *stampCache) appendTo(b []byte, t time.Time) []byte {
	if t.Location() != time.Local {
		return t.AppendFormat(b, c.layout)
	}
	sec := t.Unix()
	if s := c.last.Load(); s != nil && s.sec == sec {
		return append(b, s.text[:s.n]...)
	}
	start := len(b)
	b = t.AppendFormat(b, c.layout)
	if n := len(b) - start; n <= len(stamp{}.text) {
		s := &stamp{sec: sec, n: n}
		copy(s.text[:], b[start:])
		c.last.Store(s)
	}
	return b
}

// appendRFC3339Nano appends t as t.AppendFormat(b, time.RFC3339Nano) does:
// the second from jsonTimes, with the fraction's trailing zeros dropped
// (and the dot, for none) put in before the zone.
func appendRFC3339Nano(b []byte, t time.Time) []byte {
	if y := t.Year(); y < 0 || y > 9999 {
		return t.AppendFormat(b, time.RFC3339Nano) // a date of another length
	}
	const zoneAt = len("2006-01-02T15:04:05")
	start := len(b)
	b = jsonTimes.appendTo(b, t)
	ns := t.Nanosecond()
	if ns == 0 {
		return b
	}
	var frac [10]byte
	frac[0] = '.'
	n := 9
	for ; ns%10 == 0; n-- {
		ns /= 10
	}
	for i := n; i > 0; i-- {
		frac[i] = byte('0' + ns%10)
		ns /= 10
	}
	zone := start + zoneAt
	b = append(b, frac[:n+1]...) // room, then the zone moved past it
	copy(b[zone+n+1:], b[zone:len(b)-n-1])
	copy(b[zone:], frac[:n+1])
	return b
}
