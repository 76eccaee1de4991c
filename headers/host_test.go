package headers

import "testing"

func TestValidHost(t *testing.T) {
	for _, tc := range []struct {
		host string
		ok   bool
	}{
		{"a", true},
		{"front.example.com:27080", true},
		{"front.example.", true},
		{"my_host-1.example", true},
		{"127.0.0.1", true},
		{"127.0.0.1:65535", true},
		{"a:", true}, // RFC 3986: port = *DIGIT
		{"[::1]", true},
		{"[::ffff:127.0.0.1]:8080", true},
		{"", false},
		{":80", false},
		{"127.0.0.1:65536", false},
		{"a:123456", false},
		{"a:8x", false},
		{"a:80:80", false},
		{"evil@good", false},
		{"a b", false},
		{"a\tb", false},
		{"abc\xa0", false},
		{"a\x00", false},
		{"..", false},
		{".a", false},
		{"a..b", false},
		{"a/b", false},
		{"a\\b", false},
		{"a%2e", false},
		{"[::1", false},
		{"[]", false},
		{"[::1]x", false},
		{"[::g]", false},
		{"[::1]:99999", false},
		{"a-b.c-d", true},
		{"-bad-", false},
		{"bad-", false},
		{"a.-b", false},
		{"a-.b", false},
		{"255.255.255.255", true},
		{"0.0.0.0.", true},
		{"1e10", true}, // the last label is not a number
		{"017700000001", false},
		{"2130706433", false},
		{"0x7f.1", false},
		{"0x7f000001", false},
		{"127.01.0.1", false},
		{"127.0.0.256", false},
		{"127.0.1", false},
		{"1.2.3.4.5", false},
		{"example.0x", false},
		{"example.123", false},
		{"0.0.0.0", true},
		{"1.2.3.4:80", true},
		{"1.2.3.4..", false},
		{"00.1.2.3", false},
		{"1.2.3.04", false},
		{"1.2.3.1000", false},
		{"1.2.3.4.5.", false},
		{"1.2.3.", false},
		{"1a.example", true}, // a name starting with a digit
		{"9", false},
	} {
		if got := validHost([]byte(tc.host)); got != tc.ok {
			t.Errorf("validHost(%q) = %v, want %v", tc.host, got, tc.ok)
		}
	}
}

func TestCheckTarget(t *testing.T) {
	for _, tc := range []struct {
		target, host string
		options      bool
		status       int
	}{
		{"/x", "a", false, 0},
		{"*", "a", true, 0},
		{"*", "a", false, 400},
		{"http://a/x", "a", false, 0},
		{"http://a", "a", false, 0},
		{"http://a?q", "a", false, 0},
		{"HTTP://A:80/x", "a", false, 0},
		{"http://a/x", "a:80", false, 0},
		{"https://a:443/x", "a", false, 0},
		{"https://a/x", "a:80", false, 400},
		{"http://a:8080/x", "a:8080", false, 0},
		{"http://[::1]:8080/", "[::1]:8080", false, 0},
		{"http://b/x", "a", false, 400},
		{"http://u:p@a/x", "a", false, 400},
		{"http://a@/x", "a", false, 400},
		{"ftp://a/x", "a", false, 400},
		{"http:///x", "a", false, 400},
		{"a:80", "a", false, 400},
		{"http://a/x", "", false, 0}, // HTTP/1.0 without Host
	} {
		status, _ := checkTarget([]byte(tc.target), tc.options, []byte(tc.host))
		if status != tc.status {
			t.Errorf("checkTarget(%q, Host %q) = %d, want %d", tc.target, tc.host, status, tc.status)
		}
	}
}
