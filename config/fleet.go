package config

import (
	"net"
	"net/url"
	"strings"
	"time"
)

// Fleet shares balancer-manager state across sluice instances through etcd
// (YAML only; docs/fleet.md). It is off unless Etcd.Endpoints is set.
type Fleet struct {
	// Instance names this instance in the fleet; default hostname:admin-port.
	Instance string `yaml:"instance,omitempty"`
	Etcd     Etcd   `yaml:"etcd,omitempty"`
}

// On reports whether fleet mode is configured.
func (f Fleet) On() bool { return len(f.Etcd.Endpoints) > 0 }

// Etcd is where the fleet's state lives.
type Etcd struct {
	// Endpoints are host:port, http://host:port or https://host:port.
	Endpoints []string `yaml:"endpoints,omitempty"`
	// Prefix starts every key sluice writes; default /sluice.
	Prefix string `yaml:"prefix,omitempty"`
	// Timeout bounds each request to etcd; default 2s.
	Timeout Duration `yaml:"timeout,omitempty"`
	// Username with one password source (Password itself, PasswordFile or
	// the environment variable PasswordEnv, read at start) turns on etcd
	// authentication.
	Username     string  `yaml:"username,omitempty"`
	Password     string  `yaml:"password,omitempty"`
	PasswordFile string  `yaml:"password_file,omitempty"`
	PasswordEnv  string  `yaml:"password_env,omitempty"`
	TLS          EtcdTLS `yaml:"tls,omitempty"`
}

// EtcdTLS are the files of a TLS connection to etcd; any of them (or an
// https:// endpoint) turns TLS on.
type EtcdTLS struct {
	CAFile     string `yaml:"ca_file,omitempty"`
	CertFile   string `yaml:"cert_file,omitempty"`
	KeyFile    string `yaml:"key_file,omitempty"`
	ServerName string `yaml:"server_name,omitempty"`
}

// Fleet defaults.
const (
	DefaultFleetPrefix  = "/sluice"
	DefaultFleetTimeout = 2 * time.Second
)

func fleetDefaults(f *Fleet) {
	if !f.On() {
		return
	}
	if f.Etcd.Prefix == "" {
		f.Etcd.Prefix = DefaultFleetPrefix
	}
	setDuration(&f.Etcd.Timeout, DefaultFleetTimeout)
}

// fleet checks the fleet section: endpoints as addresses, a key prefix, a
// sane timeout, one password source with a username, and a client
// certificate with its key.
func (c *checker) fleet() error {
	f := &c.cfg.Fleet
	e := &f.Etcd
	if !f.On() {
		if f.Instance != "" || e.Prefix != "" || e.Timeout != 0 || e.Username != "" || e.HasPassword() || e.TLS != (EtcdTLS{}) {
			return c.fail(e, Pos{}, "endpoints", "", "the fleet settings need etcd endpoints: [host:port, …]")
		}
		return nil
	}
	if strings.ContainsAny(f.Instance, "/ \t") || len(f.Instance) > 128 {
		return c.fail(f, Pos{}, "instance", f.Instance, "must be a name without spaces or '/', at most 128 characters")
	}
	for _, ep := range e.Endpoints {
		if err := checkEndpoint(ep); err != "" {
			return c.fail(e, Pos{}, "endpoints", ep, "%s", err)
		}
	}
	if !strings.HasPrefix(e.Prefix, "/") || strings.HasSuffix(e.Prefix, "/") || strings.ContainsAny(e.Prefix, " \t") {
		return c.fail(e, Pos{}, "prefix", e.Prefix, "must start with / and not end with it, such as /sluice/prod")
	}
	if d := e.Timeout.D(); d < 100*time.Millisecond || d > time.Minute {
		return c.fail(e, Pos{}, "timeout", d.String(), "must be from 100ms to 1m")
	}
	switch n := secretSources(e.Password, e.PasswordFile, e.PasswordEnv); {
	case n > 1:
		return c.fail(e, Pos{}, "password", "", "set one of password, password_file and password_env")
	case n == 1 && e.Username == "":
		return c.fail(e, Pos{}, "username", "", "a password needs a username")
	case n == 0 && e.Username != "":
		return c.fail(e, Pos{}, "username", e.Username, "needs one of password, password_file and password_env")
	}
	if (e.TLS.CertFile == "") != (e.TLS.KeyFile == "") {
		return c.fail(&e.TLS, Pos{}, "cert_file", e.TLS.CertFile, "cert_file and key_file go together")
	}
	return nil
}

// HasPassword reports whether a password source is configured.
func (e Etcd) HasPassword() bool {
	return secretSources(e.Password, e.PasswordFile, e.PasswordEnv) > 0
}

// checkEndpoint accepts host:port, http://host:port and https://host:port.
func checkEndpoint(ep string) string {
	hostport := ep
	if strings.Contains(ep, "://") {
		u, err := url.Parse(ep)
		if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.User != nil || u.Path != "" || u.RawQuery != "" {
			return "must be host:port, http://host:port or https://host:port"
		}
		hostport = u.Host
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil || host == "" {
		return "must be host:port, http://host:port or https://host:port"
	}
	if err := checkPort(port); err != nil {
		return err.Error()
	}
	return ""
}
