package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestCompatReal17PHPFPM runs real config 17 (php-fpm-zero-downtime) as
// it stands but for its paths: *.php files go through
// <FilesMatch "\.php$"> SetHandler "proxy:balancer://phpfpmlb/" to two
// PHP-FPM pools on Unix domain sockets, balanced bybusyness, and its
// balancer-manager lists them. Its other requests the config rewrites to
// files under another directory, which Apache would serve; sluice serves
// no files, so they are 404s. (SCRIPT_FILENAME's path starts with "//":
// Apache appends the file to "balancer://phpfpmlb/" as it stands.)
func TestCompatReal17PHPFPM(t *testing.T) {
	dir := t.TempDir()
	sock1, sock2 := filepath.Join(dir, "www1.sock"), filepath.Join(dir, "www2.sock")
	phpFPM(t, sock1, sock2)
	root := t.TempDir()
	writePHP(t, root, map[string]string{
		"index.php": `<?php echo "pool=", getenv('POOL'), " file=", $_SERVER['SCRIPT_FILENAME'], " info=", $_SERVER['PATH_INFO'] ?? '', " q=", $_GET['q'] ?? '';`,
		"style.css": `body {}`,
	})
	text, err := readReal(t, "17-php-fpm-unix-socket-balancer.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.NewReplacer(
		"Listen 82\n", "Listen 127.0.0.1:0\n",
		"/home/famzah/php-fpm-graceful/sockets/php-fpm-www1.sock", sock1,
		"/home/famzah/php-fpm-graceful/sockets/php-fpm-www2.sock", sock2,
		"/home/famzah/php-fpm-graceful/www/current", root,
	).Replace(text)
	s := startSluice(t, writeConfig(t, t.TempDir(), "17.conf", conf))

	pools := map[string]int{}
	for i := range 6 {
		m := hostGet(t, s, "ubuntu.local", "/index.php?q=1")
		body := string(m.Body)
		if m.Status != 200 || !strings.Contains(body, " file=/"+root+"/index.php info= q=1") {
			t.Fatalf("request %d: %d %q", i, m.Status, body)
		}
		pool, _, _ := strings.Cut(strings.TrimPrefix(body, "pool="), " ")
		pools[pool]++
	}
	if pools["p0"] == 0 || pools["p1"] == 0 {
		t.Errorf("bybusyness reached the pools %v, want both", pools)
	}
	if m := hostGet(t, s, "ubuntu.local", "/missing.php"); m.Status != 404 {
		t.Errorf("a missing script: %d, want PHP-FPM's 404", m.Status)
	}
	if m := hostGet(t, s, "ubuntu.local", "/style.css"); m.Status != 404 {
		t.Errorf("a static file: %d, want 404 (sluice serves no files)", m.Status)
	}
	m := hostGet(t, s, "ubuntu.local", "/balancer-manager/api/balancers")
	if m.Status != 200 || !strings.Contains(string(m.Body), "unix:"+sock1+"|fcgi://pool-1") || !strings.Contains(string(m.Body), "unix:"+sock2+"|fcgi://pool-2") {
		t.Errorf("balancer-manager: %d\n%.2000s", m.Status, m.Body)
	}
}
