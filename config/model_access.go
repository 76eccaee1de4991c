package config

import (
	"regexp"

	"github.com/sluiceproxy/sluice/access"
)

// Access is the Require lines of one <Location>, <LocationMatch> or
// <Proxy> section (mod_authz_host). Exactly one of Location and Proxy is
// set. The lines grant when any one matches (Apache's implicit
// RequireAny); when several sections cover a request, the last one that
// applies decides, <Proxy> sections before <Location> ones and the main
// server's before a vhost's (Apache's merge with AuthMerging Off).
type Access struct {
	Pos Pos `yaml:"-"`
	// Location is the URL-path the section covers (/x covers /x and /x/…,
	// not /xy), or its regular expression when Match.
	Location string `yaml:"location,omitempty"`
	Match    bool   `yaml:"match,omitempty"`
	// Proxy is the backend the section covers: "*" (every proxied
	// request), "balancer://name", or a URL prefix ("http://h:8080/app"),
	// matched as a plain prefix of the backend URL, as Apache does.
	Proxy string `yaml:"proxy,omitempty"`
	// Require are the lines after "Require": "ip 10.0.0.0/8 ::1",
	// "host example.com", "local", "all granted", "all denied". A section
	// with none (only TLSOnly) takes no part in deciding by Require.
	Require []string `yaml:"require,omitempty"`
	// TLSOnly is SSLRequireSSL: a request the section covers that did not
	// come over TLS gets 403, whatever the Require lines say.
	TLSOnly bool `yaml:"tls_only,omitempty"`

	// Regexp is Location compiled, set when Match is true.
	Regexp *regexp.Regexp `yaml:"-"`
	// Compiled is Require compiled.
	Compiled *access.Policy `yaml:"-"`
}
