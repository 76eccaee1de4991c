package lb

import (
	"bytes"

	"github.com/sluiceproxy/sluice/pool"
)

// StickySource says where a sticky route came from.
type StickySource uint8

// Sticky sources; BALANCER_SESSION_STICKY is the configured URL parameter
// or cookie name accordingly.
const (
	StickyNone   StickySource = iota // no route
	StickyURL                        // the URL parameter (query or ;path parameter)
	StickyCookie                     // the cookie
)

// StickyRoute extracts the sticky route of a request (apache.md §4.7): the
// balancer's URL parameter first, then its cookie; the route is the text
// after the first stickysessionsep in the value (the whole value when the
// separator is Off). path is the request path as received, query the raw
// query string without '?', cookieHeader the Cookie header value.
//
// A value without the separator yields no route, and a URL value shadows
// the cookie even then, as in Apache. The URL parameter's value runs to the
// next '?' or '&' (also ';' with scolonpathdelim); an empty value counts as
// absent.
//
// Unlike Apache, which finds the URL parameter by plain substring (so
// "?xrouteid=a.r2" matches "routeid"), the name must start the query or
// follow '&', '?' or ';'.
//
// The returned route aliases path, query or cookieHeader. StickyRoute does
// not allocate.
func StickyRoute(s *pool.Snapshot, path, query, cookieHeader []byte) (route []byte, source StickySource) {
	bc := s.Config
	if bc == nil {
		return nil, StickyNone
	}
	delims := "?&"
	if bc.SColonPathDelim {
		delims = "?&;"
	}
	var v []byte
	found := false
	if name := bc.StickyURLParam; name != "" {
		v, found = urlParam(path, name, delims, false)
		if !found {
			v, found = urlParam(query, name, delims, true)
		}
		source = StickyURL
	}
	if !found && bc.StickyCookie != "" {
		v, found = cookieValue(cookieHeader, bc.StickyCookie)
		source = StickyCookie
	}
	if !found {
		return nil, StickyNone
	}
	if sep, on := separator(s); on {
		i := bytes.IndexByte(v, sep)
		if i < 0 {
			return nil, StickyNone
		}
		v = v[i+1:]
	}
	if len(v) == 0 {
		return nil, StickyNone
	}
	return v, source
}

// separator is the balancer's stickysessionsep; on is false when it is Off.
// An empty StickySep means the default '.'.
func separator(s *pool.Snapshot) (sep byte, on bool) {
	switch bc := s.Config; {
	case bc.StickySepOff:
		return 0, false
	case bc.StickySep != "":
		return bc.StickySep[0], true
	}
	return '.', true
}

// urlParam finds name=value in b where name starts b (if atStart) or
// follows '&', '?' or ';'. The value runs to the first byte of delims. The
// first occurrence with a non-empty value wins.
func urlParam(b []byte, name, delims string, atStart bool) ([]byte, bool) {
	for i := 0; ; {
		j := indexString(b[i:], name)
		if j < 0 {
			return nil, false
		}
		at := i + j
		i = at + 1
		if at == 0 && !atStart || at > 0 && !isParamBoundary(b[at-1]) {
			continue
		}
		rest := b[at+len(name):]
		if len(rest) == 0 || rest[0] != '=' {
			continue
		}
		rest = rest[1:]
		if k := bytes.IndexAny(rest, delims); k >= 0 {
			rest = rest[:k]
		}
		if len(rest) > 0 {
			return rest, true
		}
	}
}

// indexString is bytes.Index for a string needle, without converting it.
func indexString(b []byte, s string) int {
	for i := 0; len(b)-i >= len(s); i++ {
		j := bytes.IndexByte(b[i:len(b)-len(s)+1], s[0])
		if j < 0 {
			return -1
		}
		i += j
		if string(b[i:i+len(s)]) == s {
			return i
		}
	}
	return -1
}

func isParamBoundary(c byte) bool { return c == '&' || c == '?' || c == ';' }

// cookieValue is Apache's get_cookie_param: name at the start of the header
// or after ';', ',' or white space, optional white space, '=', then a value
// running to the next ';' or ','. The value is not trimmed.
func cookieValue(h []byte, name string) ([]byte, bool) {
	for i := 0; ; {
		j := indexString(h[i:], name)
		if j < 0 {
			return nil, false
		}
		at := i + j
		i = at + 1
		if at > 0 && h[at-1] != ';' && h[at-1] != ',' && !isSpace(h[at-1]) {
			continue
		}
		k := at + len(name)
		for k < len(h) && isSpace(h[k]) {
			k++
		}
		if k+1 >= len(h) || h[k] != '=' {
			continue
		}
		v := h[k+1:]
		if e := bytes.IndexAny(v, ";,"); e >= 0 {
			v = v[:e]
		}
		return v, true
	}
}

// isSpace is C's isspace in the C locale.
func isSpace(c byte) bool { return c == ' ' || c >= '\t' && c <= '\r' }
