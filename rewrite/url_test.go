package rewrite

import "testing"

func TestParseAbs(t *testing.T) {
	tests := []struct {
		in                       string
		ok                       bool
		scheme, host, port, rest string
	}{
		{"http://h", true, "http", "h", "", ""},
		{"http://h:80/x", true, "http", "h", "", "/x"},
		{"HTTPS://H:443?q", true, "HTTPS", "H", "", "?q"},
		{"https://h:80#f", true, "https", "h", "80", "#f"},
		{"h2c://h:80/", true, "h2c", "h", "80", "/"},
		{"http://[::1]:8080/a", true, "http", "[::1]", "8080", "/a"},
		{"http://[::1]/a", true, "http", "[::1]", "", "/a"},
		{"http://h:8x/a", true, "http", "h:8x", "", "/a"},
		{"http://u:p@h/a", true, "http", "u:p@h", "", "/a"},
		{"http://", true, "http", "", "", ""},
		{"/x", false, "", "", "", ""},
		{"http:/x", false, "", "", "", ""},
		{"1http://h/", false, "", "", "", ""},
		{"://h/", false, "", "", "", ""},
		{"", false, "", "", "", ""},
	}
	for _, tc := range tests {
		u, ok := parseAbs(tc.in)
		if ok != tc.ok || ok && (u.scheme != tc.scheme || u.host != tc.host || u.port != tc.port || u.rest != tc.rest) {
			t.Errorf("parseAbs(%q) = %+v, %v; want {%s %s %s %s}, %v", tc.in, u, ok, tc.scheme, tc.host, tc.port, tc.rest, tc.ok)
		}
	}
}

func TestCollapseLead(t *testing.T) {
	for in, want := range map[string]string{
		"":           "",
		"/":          "/",
		"/x":         "/x",
		"//x":        "/x",
		`/\x`:        "/x",
		`/\//\x//y`:  `/x//y`,
		"//":         "/",
		"x//y":       "x//y",
		"/x//y":      "/x//y",
		"///":        "/",
		`\\evil.com`: `\\evil.com`, // public paths start with '/', never '\'
	} {
		v := []byte(in)
		if got := string(v[:collapseLead(v)]); got != want {
			t.Errorf("collapseLead(%q) = %q; want %q", in, got, want)
		}
	}
}
