package config

import "testing"

// ParseVHostAddr reads Apache's forms; unspecified IPs and names are any
// IP, * and no port any port.
func TestParseVHostAddr(t *testing.T) {
	for _, c := range []struct {
		in       string
		ip       string
		port     int
		wantsErr bool
	}{
		{"*:80", "", 80, false}, {"*", "", 0, false}, {"*:*", "", 0, false}, {"_default_:443", "", 443, false},
		{"0.0.0.0:9980", "", 9980, false}, {"[::]:80", "", 80, false}, {"192.0.2.1:8080", "192.0.2.1", 8080, false},
		{"192.0.2.1", "192.0.2.1", 0, false}, {"[2001:db8::1]:80", "2001:db8::1", 80, false}, {"www.example.com:80", "", 80, false},
		{"*:http", "", 0, true}, {"*:0", "", 0, true}, {"*:70000", "", 0, true},
	} {
		va, err := ParseVHostAddr(c.in)
		if (err != nil) != c.wantsErr {
			t.Errorf("%s: error %v", c.in, err)
			continue
		}
		ip := ""
		if va.IP.IsValid() {
			ip = va.IP.String()
		}
		if err == nil && (ip != c.ip || va.Port != c.port) {
			t.Errorf("%s: %s port %d, want %q port %d", c.in, ip, va.Port, c.ip, c.port)
		}
	}
}
