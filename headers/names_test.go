package headers

import "testing"

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name string
		want kind
	}{
		{"Connection", kindConnection},
		{"CONNECTION", kindConnection},
		{"Keep-Alive", kindHop},
		{"keep_alive", kindAlias},
		{"Proxy-Connection", kindHop},
		{"Proxy_Connection", kindAlias},
		{"proxy-authenticate", kindHop},
		{"Proxy-Authorization", kindHop},
		{"proxy-authorization_", kindOther},
		{"Transfer-Encoding", kindHop},
		{"Transfer_Encoding", kindAlias},
		{"transfer-encodinG", kindHop},
		{"Trailer", kindHop},
		{"TE", kindTE},
		{"Upgrade", kindUpgrade},
		{"X-Forwarded-For", kindXFF},
		{"x-forwarded-for", kindXFF},
		{"X_Forwarded_For", kindAlias},
		{"X-Forwarded_For", kindAlias},
		{"X-Forwarded-Host", kindXFH},
		{"X-Forwarded-Server", kindXFS},
		{"X-Forwarded-Proto", kindForwarding},
		{"X-Forwarded-", kindOther}, // the prefix alone names nothing
		{"Forwarded", kindForwarding},
		{"X-Real-IP", kindForwarding},
		{"x_real_ip", kindAlias},
		{"Via", kindVia},
		{"Content-Length", kindLength}, // the framing: fasthttp owns it
		{"content-length", kindLength}, // past the canonical spelling's fast compare
		{"CONTENT-LENGTH", kindLength},
		{"connection", kindConnection},
		{"Content_Length", kindAlias},
		{"Content-Type", kindOther},
		{"Host", kindOther},
		{"X_Api_Key", kindOther},
		{"Accept-Encoding", kindOther},
		{"Tf", kindOther},
		{"Connectio", kindOther},
		{"", kindOther},
	} {
		if got := classify([]byte(tc.name)); got != tc.want {
			t.Errorf("classify(%q) = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestSpecial(t *testing.T) {
	for _, name := range []string{"Host", "user-agent", "Content-Type", "CONTENT-LENGTH", "Trailer"} {
		if !isRequestSpecial([]byte(name)) {
			t.Errorf("isRequestSpecial(%q) = false", name)
		}
	}
	for _, name := range []string{"Date", "server", "Set-Cookie", "Content-Type", "Content-Length", "Content-Encoding", "Trailer"} {
		if !isResponseSpecial([]byte(name)) {
			t.Errorf("isResponseSpecial(%q) = false", name)
		}
	}
	for _, name := range []string{"Cookie", "Hosts", "Connection", "Date_", "Set-Cookie2"} {
		if isRequestSpecial([]byte(name)) || isResponseSpecial([]byte(name)) {
			t.Errorf("%q reported special", name)
		}
	}
}
