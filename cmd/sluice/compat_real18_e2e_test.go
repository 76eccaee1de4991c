package main

// Real config 18 (gitlab-recipes, GitLab omnibus behind Apache 2.4): no
// ProxyPass at all. Two [P] rewrite rules send everything to
// gitlab-workhorse on 127.0.0.1:8181, the /api/v3/ one with [NE], the other
// unless %{DOCUMENT_ROOT}/%{REQUEST_FILENAME} is an existing file (with an
// [OR] for /uploads/). One-argument ProxyPassReverse lines inside
// <Location />, ProxyPreserveHost On, ErrorDocument pages from DocumentRoot,
// AllowEncodedSlashes NoDecode, and three CustomLogs, one in a LogFormat
// of its own.

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sluiceproxy/sluice/internal/testnet"
)

const real18DocRoot = "/opt/gitlab/embedded/service/gitlab-rails/public"

// real18Start runs the config with gitlab-workhorse's address replaced by
// workhorse and, when docRoot is not empty, DocumentRoot replaced by it;
// its logs go to a temporary directory instead of /var/log/apache2.
func real18Start(t *testing.T, workhorse, docRoot string) *sluiceProc {
	t.Helper()
	return real18StartLogs(t, workhorse, docRoot, t.TempDir())
}

// real18StartLogs is real18Start with the logs in logs. Listen goes at the
// end so that warnings keep the file's line numbers.
func real18StartLogs(t *testing.T, workhorse, docRoot, logs string) *sluiceProc {
	t.Helper()
	text, err := os.ReadFile("../../testdata/config/real/18-gitlab-omnibus-rewrite-proxy.conf")
	if err != nil {
		t.Fatal(err)
	}
	oldnew := []string{"127.0.0.1:8181", workhorse, "/var/log/apache2/", logs + "/"}
	if docRoot != "" {
		oldnew = append(oldnew, real18DocRoot, docRoot)
	}
	name := "18-gitlab-omnibus-rewrite-proxy.conf"
	return startSluice(t, writeConfig(t, t.TempDir(), name, string(text)+"\nListen 127.0.0.1:0\n", oldnew...))
}

// real18DocRootDir holds the error pages the config names and one upload.
func real18DocRootDir(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for name, body := range map[string]string{
		"404.html":           "<h1>gitlab 404 page</h1>",
		"422.html":           "<h1>gitlab 422 page</h1>",
		"500.html":           "<h1>gitlab 500 page</h1>",
		"deploy.html":        "<h1>Deploy in progress</h1>",
		"uploads/avatar.png": "png bytes",
	} {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// real18Workhorse echoes like newBackend, answers /-/internal-redirect and
// /-/public-redirect with absolute redirects (to its own address and to
// the public name) and /-/missing with GitLab's own JSON 404.
func real18Workhorse(t *testing.T) *rawBackend {
	var b *rawBackend
	b = newBackend(t, "workhorse", func(w *bufio.Writer, r *backendReq) bool {
		hdr := []string{"X-Backend: workhorse"}
		switch r.URI {
		case "/-/internal-redirect":
			writeResp(w, 302, append(hdr, "Location: http://"+b.addr+"/users/sign_in"), "")
		case "/-/public-redirect":
			writeResp(w, 302, append(hdr, "Location: http://gitlab.example.com/explore"), "")
		case "/-/missing":
			writeResp(w, 404, append(hdr, "Content-Type: application/json"), `{"message":"404 Not Found"}`)
		default:
			return b.echo(w, r)
		}
		return false
	})
	return b
}

// TestCompatReal18Workhorse: with the error pages and an upload present
// under DocumentRoot, every request that is not one of those files goes
// to workhorse, path and query unchanged, Host preserved.
func TestCompatReal18Workhorse(t *testing.T) {
	wh := real18Workhorse(t)
	s := real18Start(t, wh.addr, real18DocRootDir(t))
	const host = "gitlab.example.com:8443"

	// Rule 1, [P,QSA,NE]: the API with its query string.
	for _, uri := range []string{
		"/api/v3/projects/42/merge_requests?state=opened&page=2",
		"/api/v3/projects?search=a%20b&private_token=t0k",
		"/api/v3/users/me%40example.com",
	} {
		m := hostGet(t, s, host, uri)
		wantBackend(t, m, "workhorse")
		want := strings.Replace(uri, "%40", "@", 1) // decoded by %{REQUEST_URI}; @ is valid in a path
		if got := wh.last().URI; got != want {
			t.Errorf("%s reached workhorse as %q, want %q", uri, got, want)
		}
	}
	// Apache 2.4.60's %3F hardening (compatibility.md: the same
	// protection): %{REQUEST_URI} decodes %3F into a "?" of the target.
	n := wh.count()
	wantStatus(t, hostGet(t, s, host, "/api/v3/projects/1/repository/files/a%3Fb"), 403)
	if wh.count() != n {
		t.Errorf("a %%3F path was proxied as %s", wh.last().URI)
	}
	// Rule 2: no such file under DocumentRoot (%{REQUEST_FILENAME} is the
	// URL-path at server level, as in Apache), so proxied with the query.
	m := hostGet(t, s, host, "/group/project/-/issues?scope=all")
	wantBackend(t, m, "workhorse")
	r := wh.last()
	if r.URI != "/group/project/-/issues?scope=all" {
		t.Errorf("workhorse was asked for %q", r.URI)
	}
	// ProxyPreserveHost On: the client's Host, port included.
	if r.Get("Host") != host || r.Get("X-Forwarded-Host") != host || r.Get("X-Forwarded-For") != "127.0.0.1" {
		t.Errorf("workhorse saw Host %q, X-Forwarded-Host %q, X-Forwarded-For %q", r.Get("Host"), r.Get("X-Forwarded-Host"), r.Get("X-Forwarded-For"))
	}
	// [OR]: /uploads/ is proxied even though the file exists.
	m = hostGet(t, s, host, "/uploads/avatar.png")
	wantBackend(t, m, "workhorse")
	if got := wh.last().URI; got != "/uploads/avatar.png" {
		t.Errorf("upload reached workhorse as %q", got)
	}
	// An existing file outside /uploads/ matches neither rule. Apache
	// serves it from DocumentRoot; sluice serves no files (compatibility.md)
	// and, with no ProxyPass either, answers its own 404, with the
	// ErrorDocument 404 page.
	n = wh.count()
	m = hostGet(t, s, host, "/deploy.html")
	wantStatus(t, m, 404)
	if string(m.Body) != "<h1>gitlab 404 page</h1>" || !strings.HasPrefix(m.Get("Content-Type"), "text/html") {
		t.Errorf("404 body %q type %q, want the ErrorDocument 404 page", m.Body, m.Get("Content-Type"))
	}
	if wh.count() != n {
		t.Errorf("an existing file outside /uploads/ was proxied to %s", wh.last().URI)
	}
	// A 404 from workhorse itself is relayed as is: ErrorDocument only
	// replaces the proxy's own errors (no ProxyErrorOverride).
	m = hostGet(t, s, host, "/-/missing")
	wantStatus(t, m, 404)
	if string(m.Body) != `{"message":"404 Not Found"}` || m.Get("X-Backend") != "workhorse" {
		t.Errorf("workhorse's 404 became %q", m.Body)
	}
}

// TestCompatReal18ProxyPassReverse: the two one-argument ProxyPassReverse
// lines in <Location /> map workhorse's own address and the public name
// back onto the client's host, for requests proxied by the [P] rules.
func TestCompatReal18ProxyPassReverse(t *testing.T) {
	wh := real18Workhorse(t)
	s := real18Start(t, wh.addr, real18DocRootDir(t))
	// Apache gives http://gitlab.example.com:8443//users/sign_in here
	// ("/" + "/users/sign_in"); compatibility.md lists sluice's one slash.
	for uri, want := range map[string]string{
		"/-/internal-redirect": "http://gitlab.example.com:8443/users/sign_in",
		"/-/public-redirect":   "http://gitlab.example.com:8443/explore",
	} {
		m := hostGet(t, s, "gitlab.example.com:8443", uri)
		wantStatus(t, m, 302)
		if got := m.Get("Location"); got != want {
			t.Errorf("%s: Location %q, want %q", uri, got, want)
		}
	}
}

// TestCompatReal18EncodedSlash: AllowEncodedSlashes NoDecode keeps a %2F
// in the path, so GitLab's API paths with an encoded project name reach
// workhorse as sent, through the [P,NE] rule of %{REQUEST_URI} (until the
// tenth session sluice ignored the directive and answered 404).
func TestCompatReal18EncodedSlash(t *testing.T) {
	wh := real18Workhorse(t)
	logs := t.TempDir()
	s := real18StartLogs(t, wh.addr, real18DocRootDir(t), logs)
	m := hostGet(t, s, "gitlab.example.com", "/api/v3/projects/group%2Fproject?x=1")
	wantStatus(t, m, 200)
	if got := wh.last().URI; got != "/api/v3/projects/group%2Fproject?x=1" {
		t.Errorf("workhorse was asked for %s", got)
	}
	// The three CustomLogs write their files (flushed when sluice stops),
	// the one in the config's own LogFormat included; nothing sets
	// dontlog, so env=!dontlog logs every request (a warning says so).
	if !strings.Contains(s.log(), "18-gitlab-omnibus-rewrite-proxy.conf:65: access log "+logs+"/gitlab.example.com_access.log env=!dontlog: nothing sets dontlog, so every request is logged") {
		t.Errorf("no warning for env=!dontlog")
	}
	s.signal(syscall.SIGTERM)
	if _, err := s.waitExit(stopTimeout); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"gitlab.example.com_forwarded.log": `- - - [`,
		"gitlab.example.com_access.log":    `"GET /api/v3/projects/group%2Fproject?x=1 HTTP/1.1" 200 `,
		"gitlab.example.com.log":           `"GET /api/v3/projects/group%2Fproject?x=1 HTTP/1.1" 200 `,
	} {
		b, err := os.ReadFile(filepath.Join(logs, file))
		if err != nil || !strings.Contains(string(b), want) || strings.Count(string(b), "\n") != 1 {
			t.Errorf("%s: %q (%v), want a line with %q", file, b, err, want)
		}
	}
}

// TestCompatReal18WorkhorseDown: with workhorse not listening, proxied
// requests get 503 and the ErrorDocument 503 /deploy.html page; the
// error pages themselves are still not proxied.
func TestCompatReal18WorkhorseDown(t *testing.T) {
	s := real18Start(t, testnet.ClosedAddr(t), real18DocRootDir(t))
	for _, uri := range []string{"/api/v3/projects", "/users/sign_in", "/uploads/avatar.png"} {
		m := hostGet(t, s, "gitlab.example.com", uri)
		wantStatus(t, m, 503)
		if string(m.Body) != "<h1>Deploy in progress</h1>" || !strings.HasPrefix(m.Get("Content-Type"), "text/html") {
			t.Errorf("%s: 503 body %q type %q, want deploy.html", uri, m.Body, m.Get("Content-Type"))
		}
	}
}

// TestCompatReal18AsIs runs the file with only the workhorse address
// replaced: DocumentRoot does not exist here, so the ErrorDocument files
// are missing (warned at load, built-in pages served) and no request is
// an existing file: even /404.html goes to workhorse.
func TestCompatReal18AsIs(t *testing.T) {
	wh := real18Workhorse(t)
	s := real18Start(t, wh.addr, "")
	m := hostGet(t, s, "gitlab.example.com", "/404.html")
	wantBackend(t, m, "workhorse")
	if got := wh.last().URI; got != "/404.html" {
		t.Errorf("workhorse was asked for %q", got)
	}
	if !strings.Contains(s.log(), "18-gitlab-omnibus-rewrite-proxy.conf:57: ErrorDocument 503 /deploy.html: cannot read") {
		t.Errorf("no warning for the missing /deploy.html")
	}
}
