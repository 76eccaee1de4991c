package main

// fcgi:// members against the two programs that define the behaviour:
// Apache httpd's mod_proxy_fcgi, whose CGI environment sluice must send
// (TestFastCGIApacheParams sends the same requests through both to one
// recording application and compares what it got), and PHP-FPM, the
// application nearly every fcgi:// member is (TestFastCGIPHP). `make
// test` installs both (Debian's apache2 and php-fpm).

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fcgiRecorder is a FastCGI application that records the PARAMS and STDIN
// of each request and answers "recorded". It decodes the records itself,
// independently of sluice's fastcgi package.
type fcgiRecorder struct {
	addr string
	got  chan map[string]string
}

func startFCGIRecorder(t *testing.T, network, addr string) *fcgiRecorder {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	r := &fcgiRecorder{addr: ln.Addr().String(), got: make(chan map[string]string, 16)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go r.serve(c)
		}
	}()
	return r
}

func (r *fcgiRecorder) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioTimeout))
	br := bufio.NewReader(c)
	var params, stdin []byte
	for {
		var h [8]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return
		}
		body := make([]byte, int(binary.BigEndian.Uint16(h[4:]))+int(h[6]))
		if _, err := io.ReadFull(br, body); err != nil {
			return
		}
		body = body[:binary.BigEndian.Uint16(h[4:])]
		switch h[1] {
		case 4:
			params = append(params, body...)
		case 5:
			stdin = append(stdin, body...)
		}
		if h[1] == 5 && len(body) == 0 {
			break
		}
	}
	env := map[string]string{"(stdin)": string(stdin)}
	for len(params) > 0 {
		var n [2]int
		for i := range n {
			if params[0] < 128 {
				n[i], params = int(params[0]), params[1:]
			} else {
				n[i], params = int(binary.BigEndian.Uint32(params)&0x7fffffff), params[4:]
			}
		}
		env[string(params[:n[0]])] = string(params[n[0] : n[0]+n[1]])
		params = params[n[0]+n[1]:]
	}
	r.got <- env
	out := "Content-Type: text/plain\r\n\r\nrecorded"
	rec := func(typ byte, b []byte) []byte {
		return append([]byte{1, typ, 0, 1, byte(len(b) >> 8), byte(len(b)), 0, 0}, b...)
	}
	msg := append(rec(6, []byte(out)), rec(6, nil)...)
	c.Write(append(msg, rec(3, make([]byte, 8))...))
}

func (r *fcgiRecorder) next(t *testing.T) map[string]string {
	t.Helper()
	select {
	case env := <-r.got:
		return env
	case <-time.After(ioTimeout):
		t.Fatal("the application got no request")
		return nil
	}
}

// freePort is a loopback port for a program that cannot take port 0,
// below the ephemeral range (internal/lowport).
func freePort(t *testing.T) string {
	t.Helper()
	port, err := realConfigPorts.Free()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// startApache runs Debian's apache2 in the foreground with body after a
// preamble that loads the proxy modules; it returns its address.
func startApache(t *testing.T, body string) string {
	t.Helper()
	bin, err := exec.LookPath("apache2")
	if err != nil {
		bin = "/usr/sbin/apache2"
	}
	dir := t.TempDir()
	addr := freePort(t)
	var conf strings.Builder
	fmt.Fprintf(&conf, "ServerRoot %s\nPidFile %s/httpd.pid\nErrorLog %s/error.log\nListen %s\nServerName apache.test\n", dir, dir, dir, addr)
	for _, m := range []string{"mpm_event", "authz_core", "proxy", "proxy_fcgi", "proxy_balancer", "slotmem_shm", "lbmethod_byrequests", "env", "headers"} {
		fmt.Fprintf(&conf, "LoadModule %s_module /usr/lib/apache2/modules/mod_%s.so\n", m, m)
	}
	conf.WriteString(body)
	path := filepath.Join(dir, "httpd.conf")
	if err := os.WriteFile(path, []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-f", path, "-DFOREGROUND")
	cmd.Env = append(os.Environ(), "APACHE_RUN_DIR="+dir)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := startGroup(t, cmd, syscall.SIGTERM); err != nil {
		t.Fatalf("cannot start apache2 (make test installs it): %v", err)
	}
	waitListening(t, addr, func() string {
		log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		return out.String() + string(log)
	})
	return addr
}

// logLines reads an access log and returns its lines sorted: Apache
// writes a request's line after the response has gone, so two requests
// in a row can be logged in either order.
func logLines(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	slices.Sort(lines)
	return strings.Join(lines, "")
}

// startGroup starts cmd in a process group of its own, which gets sig
// when the test ends (SIGKILL after stopTimeout).
func startGroup(t *testing.T, cmd *exec.Cmd, sig syscall.Signal) error {
	t.Helper()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, sig)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(stopTimeout):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	return nil
}

// waitListening waits until addr accepts connections.
func waitListening(t *testing.T, addr string, why func() string) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s: %v\n%s", addr, err, why())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFastCGIApacheParams sends the same requests through Apache 2.4 and
// sluice, both with the same mod_proxy_fcgi configuration, to one
// recording application: every CGI variable must be the same, but for
// those that name the server or the connection.
func TestFastCGIApacheParams(t *testing.T) {
	rec := startFCGIRecorder(t, "tcp", "127.0.0.1:0")
	sock := filepath.Join(t.TempDir(), "app.sock")
	recUDS := startFCGIRecorder(t, "unix", sock)
	docRoot := t.TempDir()
	proxyConf := strings.NewReplacer("{APP}", rec.addr, "{SOCK}", sock, "{ROOT}", docRoot).Replace(`
DocumentRoot {ROOT}
ServerAdmin webmaster@app.test
SetEnv APP_ENV production
RequestHeader set X-Added yes
ProxyPass /app/ fcgi://{APP}/srv/www/
ProxyPassMatch ^/(.*\.php)$ fcgi://{APP}/var/www/$1
<Proxy balancer://fpm>
    BalancerMember fcgi://{APP}
</Proxy>
ProxyPass /lb/ balancer://fpm/var/lb/
<Proxy balancer://sticky>
    BalancerMember fcgi://{APP} route=r1
    ProxySet stickysession=ROUTEID
</Proxy>
ProxyPass /sticky/ balancer://sticky/var/st/
ProxyPass /uds/ unix:{SOCK}|fcgi://localhost/var/uds/
<Location /app/auth/>
    CGIPassAuth On
</Location>
<FilesMatch "\.phtml$">
    SetHandler "proxy:fcgi://{APP}"
</FilesMatch>
<Files "*.inc">
    SetHandler "proxy:balancer://fpm/"
</Files>
`)
	for _, f := range []string{"sub/x.phtml", "lib/a.inc"} {
		os.MkdirAll(filepath.Join(docRoot, filepath.Dir(f)), 0o755)
		if err := os.WriteFile(filepath.Join(docRoot, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	apache := startApache(t, proxyConf)
	s := startSluice(t, writeConfig(t, t.TempDir(), "fcgi.conf", "Listen 127.0.0.1:0\n"+proxyConf))

	// Variables that name the server program or the connection's ports.
	differ := map[string]bool{"SERVER_SOFTWARE": true, "SERVER_SIGNATURE": true, "REMOTE_PORT": true, "PATH": true}
	cases := []struct {
		name     string
		req      func(host string) string
		recorder *fcgiRecorder
	}{
		{"GET with fields", func(host string) string {
			return buildReq("GET", "/app/a%20b/c.php?x=1&y=%41", host, []string{"X-Custom: v", "Accept: a", "Accept: b",
				"Authorization: Basic Zm9vOmJhcg==", "Proxy: http://evil", "X_Spoof: s", "Cookie: a=1; b=2", "User-Agent: test/1"}, "")
		}, rec},
		{"POST", func(host string) string {
			return buildReq("POST", "/app/form?q", host, []string{"Content-Type: application/x-www-form-urlencoded"}, "abc=1&d=2")
		}, rec},
		{"chunked POST", func(host string) string {
			return "POST /app/chunked HTTP/1.1\r\nHost: " + host + "\r\nTransfer-Encoding: chunked\r\n" +
				"Content-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n\r\n4\r\nabc=\r\n5\r\n1&x=2\r\n0\r\n\r\n"
		}, rec},
		{"ProxyPassMatch", func(host string) string { return buildReq("GET", "/dir/x.php", host, nil, "") }, rec},
		{"balancer", func(host string) string { return buildReq("GET", "/lb/p/q?z=1", host, nil, "") }, rec},
		{"sticky", func(host string) string {
			return buildReq("GET", "/sticky/s", host, []string{"Cookie: ROUTEID=.r1"}, "")
		}, rec},
		{"sticky, no route", func(host string) string { return buildReq("GET", "/sticky/s", host, nil, "") }, rec},
		{"sticky, other route", func(host string) string {
			return buildReq("GET", "/sticky/s", host, []string{"Cookie: ROUTEID=.r9"}, "")
		}, rec},
		{"socket", func(host string) string { return buildReq("GET", "/uds/u?a", host, nil, "") }, recUDS},
		{"CGIPassAuth", func(host string) string {
			return buildReq("GET", "/app/auth/x", host, []string{"Authorization: Bearer t"}, "")
		}, rec},
		{"FilesMatch", func(host string) string { return buildReq("GET", "/sub/x.phtml", host, nil, "") }, rec},
		{"FilesMatch, PATH_INFO", func(host string) string { return buildReq("GET", "/sub/x.phtml/extra/info?q=1", host, nil, "") }, rec},
		{"FilesMatch, no such file", func(host string) string { return buildReq("GET", "/nofile.phtml", host, nil, "") }, rec},
		{"Files, balancer", func(host string) string { return buildReq("GET", "/lib/a.inc/pi", host, nil, "") }, rec},
		{"Host without port", func(string) string { return buildReq("GET", "/app/h", "www.app.test", nil, "") }, rec},
	}
	for _, c := range cases {
		var envs [2]map[string]string
		for i, addr := range []string{apache, s.Addr()} {
			m := rawDo(t, addr, c.req("app.test:8080"))
			if m.Status != 200 || string(m.Body) != "recorded" {
				t.Fatalf("%s via %s: %d %q", c.name, addr, m.Status, m.Body)
			}
			envs[i] = c.recorder.next(t)
		}
		keys := map[string]bool{}
		for _, env := range envs {
			for k := range env {
				keys[k] = true
			}
		}
		var diffs []string
		for k := range keys {
			a, inA := envs[0][k]
			b, inB := envs[1][k]
			if !differ[k] && (a != b || inA != inB) {
				diffs = append(diffs, fmt.Sprintf("%s: Apache %q (%v), sluice %q (%v)", k, a, inA, b, inB))
			}
		}
		sort.Strings(diffs)
		if len(diffs) > 0 {
			t.Errorf("%s: the CGI environments differ:\n%s", c.name, strings.Join(diffs, "\n"))
		}
	}
}

// phpFPM starts Debian's PHP-FPM in the foreground with a pool on each
// address (a Unix domain socket's path, or host:port), pool i setting
// the environment variable POOL to pi.
func phpFPM(t *testing.T, listens ...string) {
	t.Helper()
	bins, _ := filepath.Glob("/usr/sbin/php-fpm*")
	if len(bins) == 0 {
		t.Fatal("php-fpm is not installed (make test installs Debian's php-fpm)")
	}
	dir := t.TempDir()
	var conf strings.Builder
	fmt.Fprintf(&conf, "[global]\nerror_log = %s/fpm.log\ndaemonize = no\n", dir)
	for i, l := range listens {
		fmt.Fprintf(&conf, "[p%d]\nlisten = %s\npm = static\npm.max_children = 2\ncatch_workers_output = yes\nenv[POOL] = p%d\n", i, l, i)
	}
	path := filepath.Join(dir, "fpm.conf")
	if err := os.WriteFile(path, []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"-F", "-n", "-y", path, "-d", "display_errors=stderr"}
	if os.Geteuid() == 0 {
		args = append(args, "-R")
	}
	cmd := exec.Command(bins[len(bins)-1], args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := startGroup(t, cmd, syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(startTimeout)
	for _, l := range listens {
		network := "tcp"
		if strings.HasPrefix(l, "/") {
			network = "unix"
		}
		for {
			c, err := net.DialTimeout(network, l, time.Second)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				log, _ := os.ReadFile(filepath.Join(dir, "fpm.log"))
				t.Fatalf("php-fpm does not listen on %s: %v\n%s%s", l, err, out.String(), log)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// writePHP writes scripts (name: source) under root.
func writePHP(t *testing.T, root string, scripts map[string]string) {
	t.Helper()
	for name, src := range scripts {
		if err := os.WriteFile(filepath.Join(root, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFastCGIPHP: PHP scripts behind sluice as behind Apache with
// PHP-FPM: the URL-to-script mapping of ProxyPassMatch, $_SERVER, GET
// and POST data, headers, cookies, status codes and redirects set by the
// script, a large answer, and a balancer of two pools (real config 17's
// sockets, bybusyness).
func TestFastCGIPHP(t *testing.T) {
	sock, addr := filepath.Join(t.TempDir(), "www.sock"), freePort(t)
	phpFPM(t, sock, addr)
	root := t.TempDir()
	writePHP(t, root, map[string]string{
		"index.php": `<?php
header('X-Script: index');
setcookie('sid', 'abc', ['path' => '/']);
echo "uri=", $_SERVER['REQUEST_URI'], "\n";
echo "script=", $_SERVER['SCRIPT_NAME'], "\n";
echo "file=", $_SERVER['SCRIPT_FILENAME'], "\n";
echo "pathinfo=", $_SERVER['PATH_INFO'] ?? '', "\n";
echo "get=", json_encode($_GET), "\n";
echo "post=", json_encode($_POST), "\n";
echo "remote=", $_SERVER['REMOTE_ADDR'], "\n";
echo "host=", $_SERVER['HTTP_HOST'], "\n";
echo "env=", getenv('APP_ENV'), "\n";
echo "https=", $_SERVER['HTTPS'] ?? '', "\n";
echo "pool=", getenv('POOL'), "\n";
`,
		"status.php":   `<?php http_response_code(418); echo "teapot";`,
		"redirect.php": `<?php header('Location: /index.php?from=redirect'); exit;`,
		"big.php":      `<?php echo str_repeat("0123456789abcdef", 65536);`,
		"warn.php":     `<?php error_log("a warning from PHP"); echo "ok";`,
		"input.php":    `<?php echo strlen(file_get_contents('php://input'));`,
	})
	s := startSluice(t, writeConfig(t, t.TempDir(), "php.conf", strings.NewReplacer("{ROOT}", root, "{SOCK}", sock, "{TCP}", addr).Replace(`Listen 127.0.0.1:0
SetEnv APP_ENV production
<Proxy balancer://phpfpmlb>
    BalancerMember unix:{SOCK}|fcgi://pool-1
    BalancerMember fcgi://{TCP}
    ProxySet lbmethod=bybusyness
</Proxy>
ProxyPass /lb/ balancer://phpfpmlb{ROOT}/
ProxyPassMatch ^/(.*\.php(/.*)?)$ unix:{SOCK}|fcgi://localhost{ROOT}/$1
`)))

	m := rawDo(t, s.Addr(), buildReq("GET", "/index.php/extra/info?a=1&b[]=2", "php.test", nil, ""))
	body := string(m.Body)
	for _, want := range []string{
		"uri=/index.php/extra/info?a=1&b[]=2\n",
		"file=" + root + "/index.php\n",
		"pathinfo=/extra/info\n",
		`get={"a":"1","b":["2"]}` + "\n",
		"remote=127.0.0.1\n", "host=php.test\n", "env=production\n", "https=\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("index.php did not say %q:\n%s", want, body)
		}
	}
	if m.Status != 200 || m.Get("X-Script") != "index" || !strings.HasPrefix(m.Get("Set-Cookie"), "sid=abc; path=/") {
		t.Errorf("index.php: %d, X-Script %q, Set-Cookie %q", m.Status, m.Get("X-Script"), m.Get("Set-Cookie"))
	}

	m = rawDo(t, s.Addr(), buildReq("POST", "/index.php", "php.test", []string{"Content-Type: application/x-www-form-urlencoded"}, "name=sluice&n=1"))
	if !strings.Contains(string(m.Body), `post={"name":"sluice","n":"1"}`) {
		t.Errorf("POST form not seen by PHP:\n%s", m.Body)
	}
	big := strings.Repeat("x", 3<<20)
	if m = rawDo(t, s.Addr(), buildReq("PUT", "/input.php", "php.test", nil, big)); string(m.Body) != fmt.Sprint(len(big)) {
		t.Errorf("3 MiB body: PHP read %q bytes", m.Body)
	}
	// Chunked bodies reach PHP whole, with their length (sluice reads them
	// first, as Apache does): small ones from memory, large ones from a
	// temporary file.
	for _, size := range []int{10, 200 << 10} {
		chunked := fmt.Sprintf("PUT /input.php HTTP/1.1\r\nHost: php.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", size, strings.Repeat("c", size))
		if m = rawDo(t, s.Addr(), chunked); string(m.Body) != fmt.Sprint(size) {
			t.Errorf("chunked body of %d bytes: PHP read %q", size, m.Body)
		}
	}
	if m = rawDo(t, s.Addr(), buildReq("GET", "/status.php", "php.test", nil, "")); m.Status != 418 || string(m.Body) != "teapot" {
		t.Errorf("http_response_code(418): %d %q", m.Status, m.Body)
	}
	if m = rawDo(t, s.Addr(), buildReq("GET", "/redirect.php", "php.test", nil, "")); m.Status != 302 || m.Get("Location") != "/index.php?from=redirect" {
		t.Errorf("header('Location'): %d %q", m.Status, m.Get("Location"))
	}
	if m = rawDo(t, s.Addr(), buildReq("GET", "/big.php", "php.test", nil, "")); m.Status != 200 || len(m.Body) != 1<<20 {
		t.Errorf("1 MiB answer: %d, %d bytes", m.Status, len(m.Body))
	}
	if m = rawDo(t, s.Addr(), buildReq("GET", "/warn.php", "php.test", nil, "")); m.Status != 200 || string(m.Body) != "ok" {
		t.Errorf("a script writing to stderr: %d %q", m.Status, m.Body)
	}
	if m = rawDo(t, s.Addr(), buildReq("GET", "/missing.php", "php.test", nil, "")); m.Status != 404 {
		t.Errorf("a missing script: %d, want PHP-FPM's 404", m.Status)
	}
	pools := map[string]int{}
	for i := range 4 {
		if m = rawDo(t, s.Addr(), buildReq("GET", "/lb/index.php", "php.test", nil, "")); m.Status != 200 || !strings.Contains(string(m.Body), "file="+root+"/index.php\n") {
			t.Errorf("balanced request %d: %d\n%s", i, m.Status, m.Body)
		}
		_, pool, _ := strings.Cut(string(m.Body), "pool=")
		pools[strings.TrimSpace(pool)]++
	}
	if pools["p0"] == 0 || pools["p1"] == 0 {
		t.Errorf("the balancer reached the pools %v, want both", pools)
	}
	s.waitLog(startTimeout, 0, func(f map[string]string) bool { return strings.Contains(f["message"], "a warning from PHP") })
	if !strings.Contains(s.log(), "a warning from PHP") {
		t.Errorf("the script's stderr did not reach sluice's log:\n%s", s.log())
	}
}
