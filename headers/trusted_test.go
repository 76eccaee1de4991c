package headers

import (
	"net"
	"testing"
)

func TestTrusted(t *testing.T) {
	tr, err := NewTrusted([]string{"10.0.0.0/8", " 192.168.1.7 ", "2001:db8::/32", "::ffff:172.16.0.0/108"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ip   string
		want bool
	}{
		{"10.1.2.3", true},
		{"11.0.0.1", false},
		{"192.168.1.7", true},
		{"192.168.1.8", false},
		{"::ffff:10.0.0.1", true}, // IPv4-mapped peers match IPv4 networks
		{"2001:db8::1", true},
		{"2001:db9::1", false},
		{"172.16.5.5", true}, // IPv4-mapped networks match IPv4 peers
		{"172.32.0.1", false},
	} {
		if got := tr.Contains(net.ParseIP(tc.ip)); got != tc.want {
			t.Errorf("Contains(%s) = %v, want %v", tc.ip, got, tc.want)
		}
	}
	if tr.Contains(nil) {
		t.Error("Contains(nil) = true")
	}
}

func TestNewTrustedErrors(t *testing.T) {
	for _, c := range []string{"", "10.0.0.0/33", "not-an-ip", "10.0.0.0/8/8"} {
		if _, err := NewTrusted([]string{c}); err == nil {
			t.Errorf("NewTrusted(%q) succeeded", c)
		}
	}
}
