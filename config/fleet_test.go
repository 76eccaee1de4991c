package config

import "testing"

func TestFleetErrors(t *testing.T) {
	f := func(fleet, want string) {
		t.Helper()
		_, err := ParseYAML("t.yaml", []byte("listen: [':80']\nfleet:\n"+fleet))
		assertError(t, err, want)
	}
	// Settings without endpoints.
	f("  instance: a\n", `t.yaml: endpoints: the fleet settings need etcd endpoints: [host:port, …]`)
	f("  etcd: {prefix: /x}\n", `t.yaml: endpoints: the fleet settings need etcd endpoints: [host:port, …]`)
	// Endpoints.
	f("  etcd:\n    endpoints: [etcd]\n", `t.yaml:4: endpoints "etcd": must be host:port, http://host:port or https://host:port`)
	f("  etcd:\n    endpoints: ['unix:///run/etcd.sock']\n", `t.yaml:4: endpoints "unix:///run/etcd.sock": must be host:port, http://host:port or https://host:port`)
	f("  etcd:\n    endpoints: ['http://e:2379/v3']\n", `t.yaml:4: endpoints "http://e:2379/v3": must be host:port, http://host:port or https://host:port`)
	f("  etcd:\n    endpoints: ['e:0']\n", `t.yaml:4: endpoints "e:0": port "0" must be a number between 1 and 65535`)
	// The instance name and the prefix.
	f("  instance: a/b\n  etcd: {endpoints: ['e:2379']}\n", `t.yaml:3: instance "a/b": must be a name without spaces or '/', at most 128 characters`)
	f("  etcd: {endpoints: ['e:2379'], prefix: sluice}\n", `t.yaml:3: prefix "sluice": must start with / and not end with it, such as /sluice/prod`)
	f("  etcd: {endpoints: ['e:2379'], prefix: /sluice/}\n", `t.yaml:3: prefix "/sluice/": must start with / and not end with it, such as /sluice/prod`)
	f("  etcd: {endpoints: ['e:2379'], timeout: 10ms}\n", `t.yaml:3: timeout "10ms": must be from 100ms to 1m`)
	// Credentials.
	f("  etcd: {endpoints: ['e:2379'], username: u, password: p, password_env: P}\n", `t.yaml:3: password: set one of password, password_file and password_env`)
	f("  etcd: {endpoints: ['e:2379'], password_file: /p}\n", `t.yaml: username: a password needs a username`)
	f("  etcd: {endpoints: ['e:2379'], username: u}\n", `t.yaml:3: username "u": needs one of password, password_file and password_env`)
	f("  etcd:\n    endpoints: ['e:2379']\n    tls: {cert_file: /c}\n", `t.yaml:5: cert_file "/c": cert_file and key_file go together`)
	// Unknown keys list what is allowed.
	f("  etcd: {endpoints: ['e:2379'], lease: 5s}\n", `t.yaml:3: lease: unknown key (allowed: endpoints, prefix, timeout, username, password, password_file, password_env, tls)`)
}

func TestFleetDefaults(t *testing.T) {
	cfg, err := ParseYAML("t.yaml", []byte("listen: [':80']\nfleet: {etcd: {endpoints: ['127.0.0.1:2379']}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if e := cfg.Fleet.Etcd; !cfg.Fleet.On() || e.Prefix != DefaultFleetPrefix || e.Timeout.D() != DefaultFleetTimeout {
		t.Errorf("defaults: %+v", e)
	}
	cfg, err = ParseYAML("t.yaml", []byte("listen: [':80']\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Fleet.On() || cfg.Fleet.Etcd.Prefix != "" || cfg.Fleet.Etcd.Timeout != 0 {
		t.Errorf("no fleet section: %+v", cfg.Fleet)
	}
}
