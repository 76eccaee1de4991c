package headers

import (
	"strings"
	"testing"
)

// fieldBlocks are header blocks as RawHeaders holds them, each with the
// answer checkFields must give.
var fieldBlocks = []struct {
	raw    string
	status int
	reason string
}{
	{"Host: a\r\n\r\n", 0, ""},
	{"\r\n", 0, ""},
	{"Host: a\r\nUser-Agent: x y\tz\r\nX-Empty:\r\n\r\n", 0, ""},
	{"Host: a\r\nTransfer-Encoding: chunked\r\n\r\n", 0, ""},
	{"Host: a\r\ntransfer-encoding:  Chunked \r\n\r\n", 0, ""},
	{"Host: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400, reasonFraming},
	{"Host: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501, reasonCoding},
	{"Host: a\r\nX Y: z\r\n\r\n", 400, reasonFieldName},
	{"Host: a\r\nX\tY: z\r\n\r\n", 400, reasonFieldName},
	{"Host: a\r\nX-Long-Name-With Space: z\r\n\r\n", 400, reasonFieldName},
	{"Host: a\r\n: z\r\n\r\n", 400, reasonFieldName},
	{"Host: a\r\nno colon\r\n\r\n", 400, reasonFieldName},
	{"Host: a\r\nnocolon\r\n\r\n", 400, reasonFieldName},
	{"Host: a\r\n one\r\n\r\n", 400, reasonFold},
	{"Host: a\r\nX-A: b\nX-B: c\r\n\r\n", 400, reasonLineEnd},
	{"Host: a\r\nX-A: b\rc\r\n\r\n", 400, reasonFieldValue},
	{"Host: a\r\nX-A: b\x00c\r\n\r\n", 400, reasonFieldValue},
	// A bare CR before the blank line and a bare LF after it: the counts of
	// CRs and LFs agree, the block is still refused.
	{"Host: a\r\nX-A: b\rc\r\n\r\n\n", 400, reasonFieldValue},
	{"Host: a\r\n\r\nX Y: z\r\n", 0, ""}, // after the blank line: not the block's
	{"Host: a\r\n", 0, ""},
	{"Host: a", 400, reasonLineEnd},
	{"X Y: b\x00\r\n\r\n", 400, reasonFieldValue},          // a line's bytes before its name
	{"X Y: z\r\nX-A: b\x00\r\n\r\n", 400, reasonFieldName}, // the first bad line
	{strings.Repeat("X-N: 1\r\n", MaxFields) + "\r\n", 0, ""},
	{strings.Repeat("X-N: 1\r\n", MaxFields+1) + "\r\n", 431, reasonTooMany},
}

func TestCheckFields(t *testing.T) {
	for _, tc := range fieldBlocks {
		status, reason := checkFields([]byte(tc.raw), new(Lines))
		if status != tc.status || reason != tc.reason {
			t.Errorf("checkFields(%.60q) = %d %q, want %d %q", tc.raw, status, reason, tc.status, tc.reason)
		}
	}
}

// upgradeBlocks are header blocks Check accepts, and whether each holds an
// Upgrade field.
var upgradeBlocks = []struct {
	raw     string
	upgrade bool
}{
	{"Host: a\r\n\r\n", false},
	{"Host: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", true},
	{"Host: a\r\nupgrade: h2c\r\n\r\n", true},
	{"Host: a\r\nUPGRADE:\r\n\r\n", true},
	{"Host: a\r\nConnection: upgrade\r\n\r\n", false},
	{"Host: a\r\nX-Upgrade: websocket\r\nUpgrades: x\r\nUpgrad: x\r\n\r\n", false},
	{"Host: a\r\nCookie: Upgrade: x\r\nUpgrade-X: y\r\n\r\n", false},
}

// fieldChecks are the two ways of checking a block, which must agree.
var fieldChecks = map[string]func([]byte, *Lines) (int, string){"checkFields": checkFields, "checkFieldLines": checkFieldLines}

func TestCheckFieldsUpgrade(t *testing.T) {
	for _, tc := range upgradeBlocks {
		for name, check := range fieldChecks {
			var l Lines
			status, reason := check([]byte(tc.raw), &l)
			if status != 0 || l.Upgrade != tc.upgrade {
				t.Errorf("%s(%q) = %d %q upgrade %v, want 0 upgrade %v", name, tc.raw, status, reason, l.Upgrade, tc.upgrade)
			}
		}
	}
}

var cookieBlocks = []struct {
	raw    string
	cookie string // "-": none
	more   bool
}{
	{"Host: a\r\n\r\n", "-", false},
	{"Host: a\r\nCookie: a=1; b=2\r\n\r\n", "a=1; b=2", false},
	{"Host: a\r\ncookie:\t a=1 \t\r\nX: y\r\n\r\n", "a=1", false},
	{"Host: a\r\nCOOKIE:\r\n\r\n", "", false},
	{"Host: a\r\nCookie: a=1\r\nX-Cookie: x=1\r\nCookies: y=1\r\ncookie: b=2\r\n\r\n", "a=1", true},
	{"Host: a\r\nSet-Cookie: a=1\r\nCookie2: b=2\r\nCookiE: c=3\r\n\r\n", "c=3", false},
}

// TestCheckFieldsCookie: Check finds the first Cookie field in any case,
// and whether more follow.
func TestCheckFieldsCookie(t *testing.T) {
	for _, tc := range cookieBlocks {
		for name, check := range fieldChecks {
			var l Lines
			status, reason := check([]byte(tc.raw), &l)
			v, more := l.Cookie()
			got := string(v)
			if v == nil {
				got = "-"
			}
			if status != 0 || got != tc.cookie || more != tc.more {
				t.Errorf("%s(%q) = %d %q cookie %q more %v, want %q %v", name, tc.raw, status, reason, got, more, tc.cookie, tc.more)
			}
		}
	}
}

// FuzzCheckFields holds plainFields, the fast path, to checkFieldLines,
// which checks one line at a time.
func FuzzCheckFields(f *testing.F) {
	for _, tc := range fieldBlocks {
		f.Add([]byte(tc.raw))
	}
	for _, tc := range upgradeBlocks {
		f.Add([]byte(tc.raw))
	}
	for _, tc := range cookieBlocks {
		f.Add([]byte(tc.raw))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var gl, wl Lines
		gs, gr := checkFields(raw, &gl)
		ws, wr := checkFieldLines(raw, &wl)
		// A refused block's Lines do not matter: each stops where it
		// finds something wrong.
		if gs != ws || gr != wr || gs == 0 && !sameFacts(&gl, &wl) {
			t.Fatalf("checkFields(%q) = %d %q %+v, checkFieldLines %d %q %+v", raw, gs, gr, gl, ws, wr, wl)
		}
		if gs != 0 {
			return
		}
		var want []byte // the first Cookie line's value, found the plain way
		for _, line := range strings.Split(string(raw), "\n") {
			line = strings.TrimSuffix(line, "\r")
			if line == "" {
				break // the block's end
			}
			if name, value, ok := strings.Cut(line, ":"); ok && strings.EqualFold(name, "cookie") {
				want = []byte(strings.Trim(value, " \t"))
				break
			}
		}
		if got, _ := gl.Cookie(); string(got) != string(want) || (got == nil) != (want == nil) {
			t.Fatalf("Cookie of %q = %q, want %q", raw, got, want)
		}
	})
}

func TestNameEnd(t *testing.T) {
	for _, stop := range []byte{':', ' ', '\t'} {
		for at := range 20 {
			line := []byte(strings.Repeat("a", at) + string(stop) + "b:c d\te")
			if got := nameEnd(line); got != at {
				t.Errorf("nameEnd(%q) = %d, want %d", line, got, at)
			}
		}
	}
	for n := range 20 {
		line := []byte(strings.Repeat("\x00\x80\xff-", n)[:n])
		if got := nameEnd(line); got != n {
			t.Errorf("nameEnd(%q) = %d, want %d", line, got, n)
		}
	}
}

// sameFacts reports whether two Lines learned the same of their block,
// the table aside.
func sameFacts(a, b *Lines) bool {
	return a.Upgrade == b.Upgrade && a.cookies == b.cookies && a.cookieAt == b.cookieAt && a.cookieEnd == b.cookieEnd
}

func TestOnlyToken(t *testing.T) {
	for v, want := range map[string]bool{
		"close": true, "Close": true, " close , CLOSE ": true, "close,,": true,
		"": false, ",": false, "close, x-secret": false, "x-secret": false, "closed": false, "close;q=1": false,
	} {
		if got := OnlyToken([]byte(v), "close"); got != want {
			t.Errorf("OnlyToken(%q, close) = %v, want %v", v, got, want)
		}
	}
}
