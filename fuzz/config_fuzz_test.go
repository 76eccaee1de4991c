package fuzz

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/sluiceproxy/sluice/config"
)

// addConfigSeeds seeds f with every example config of the config package.
func addConfigSeeds(f *testing.F, patterns ...string) {
	f.Helper()
	n := 0
	for _, pat := range patterns {
		files, err := filepath.Glob(filepath.Join("..", "testdata", "config", pat))
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			src, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(src)
			n++
		}
	}
	if n == 0 {
		f.Fatalf("no seeds for %v", patterns)
	}
}

// FuzzApacheConfig: parsing never panics, and a config that parses dumps to
// YAML that reloads to the same dump. Includes see an empty filesystem.
func FuzzApacheConfig(f *testing.F) {
	addConfigSeeds(f, "*.conf", "real/*.conf")
	f.Add([]byte("Listen 80\n<VirtualHost *:80>\nProxyPass ~ ^/(.*)$ http://$1/ x=\n"))
	f.Add([]byte("Listen 80\nTimeout 300\nKeepAliveTimeout 15\nAllowEncodedSlashes NoDecode\nProxyErrorOverride On 502 503\n" +
		"Header always edit Set-Cookie ^(.*)$ \"$1; Secure\"\nHeader merge Vary Origin\nRequestHeader setifempty X-Id a\n" +
		"SetEnvIfNoCase Origin ^https://(.+)$ CORS=$0 !X\nHeader set ACAO %{CORS}e env=CORS\n" +
		"Redirect permanent /old https://new.example/\nRedirectMatch 301 ^/l/(.*)$ /v2/$1\nRedirect gone /gone\n" +
		"<Proxy http://h:8080>\nProxySet timeout=30\n</Proxy>\nProxyPass /old !\nProxyPass / http://h:8080\n" +
		"<VirtualHost *:81>\nAllowEncodedSlashes On\n<Location /x>\nRedirect 303 http://x.example/\n</Location>\n</VirtualHost>\n"))
	f.Add([]byte("Listen 443 https\nSSLProtocol all -SSLv3 +TLSv1.3\nSSLCipherSuite HIGH\nSSLCertificateFile a.crt\n" +
		"<VirtualHost *:443>\nSSLEngine off\nSSLVerifyClient optional\nSSLCACertificateFile ca.crt\n</VirtualHost>\n"))
	f.Add([]byte("Listen 80\nRewriteEngine on\nRewriteCond %{HTTP:Origin} ^(https://.+)$\nRewriteRule .* - [E=CORS:%1,E=!X,E=Y]\n" +
		"Header set ACAO %{CORS}e env=CORS\nRequestHeader set X-Proto https env=HTTPS\n<VirtualHost *:80>\n" +
		"<Location /api>\nProxyPreserveHost On\nProxyAddHeaders Off\nErrorDocument 503 \"busy\"\n</Location>\n" +
		"<Proxy balancer://b>\nBalancerMember https://h1\n</Proxy>\nProxyPass / balancer://b/\n</VirtualHost>\n" +
		"<VirtualHost *:80>\nServerName two\n<Proxy balancer://b>\nBalancerMember http://h2\n</Proxy>\n</VirtualHost>\n"))
	f.Add([]byte("Listen 80\nLogFormat \"%v %h %{Referer}i %{%d/%b/%Y}t\" mine\nLogFormat \"%h %U\"\nCustomLog logs/a.log mine env=!dontlog\n" +
		"TransferLog logs/t.log\nCustomLog \"|/usr/bin/rotatelogs x 86400\" common\nRewriteEngine on\nRewriteCond %{ENV:REDIRECT_STATUS} ^$\n" +
		"RewriteRule ^/(.*) - [E=P:$1]\nSetEnv proxy-nokeepalive 1\nUnsetEnv force-proxy-request-1.0\n<Location /a>\nSetEnv A\n</Location>\n"))
	f.Add([]byte("Listen 80\nDocumentRoot /srv/www\nServerAdmin a@b\nCGIPassAuth On\n<FilesMatch \"\\.ph(p|tml)$\">\n" +
		"SetHandler \"proxy:unix:/run/php.sock|fcgi://localhost\"\nRequire all denied\n</FilesMatch>\n<Files *.inc>\nSetHandler proxy:balancer://fpm/\n</Files>\n" +
		"<Proxy balancer://fpm>\nBalancerMember fcgi://127.0.0.1:9000 enablereuse=on hcmethod=TCP\nBalancerMember unix:/run/b.sock|fcgi://b\n</Proxy>\n" +
		"ProxyPassMatch ^/(.*\\.php)$ fcgi://127.0.0.1:9000/var/www/$1\nProxyPass /u/ unix:/run/h.sock|http://h/\n" +
		"<Location /x>\nCGIPassAuth Off\n</Location>\nRewriteEngine on\nRewriteRule ^/r/(.*)$ fcgi://127.0.0.1:9000/srv/$1 [P]\n" +
		"<Proxy balancer://tc>\nBalancerMember ajp://10.0.0.1:8009 route=n1 secret=s ping=2 hcmethod=CPING\n" +
		"BalancerMember unix:/run/tc.sock|ajp://tc status=+H\n</Proxy>\nProxyPass /tc/ balancer://tc/app/\n<Proxy ajp://10.0.0.1:8009/>\nRequire local\n</Proxy>\n" +
		"RemoteIPHeader X-Forwarded-For\nRemoteIPInternalProxy 10.0.0.0/8 192.168.1.1\nRemoteIPTrustedProxy 2001:db8::/32\nRemoteIPProxiesHeader X-Forwarded-By\n" +
		"<VirtualHost *:80>\nRemoteIPHeader CF-Connecting-IP\n</VirtualHost>\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, err := config.ParseApache("/fuzz/in.conf", src, fstest.MapFS{})
		if err != nil {
			return
		}
		assertReloads(t, cfg)
	})
}

// FuzzYAMLConfig: the same for the native syntax.
func FuzzYAMLConfig(f *testing.F) {
	addConfigSeeds(f, "*.yaml")
	f.Add([]byte("listen: [':443']\nserver:\n  proxy_tls: {verify: none, check_peer_name: false, min_version: '1.3'}\n" +
		"  routes: [{path: /, target: 'https://h/'}]\nvhosts:\n  - addrs: ['*:443']\n    tls: ~\n    access: [{location: /a, tls_only: true}]\n"))
	f.Add([]byte("listen: [':80']\nserver:\n  access_logs: [{path: /tmp/a.log, format: '%h %{X}i %{%Y}t %>s', env: '!HTTPS'}]\n" +
		"  location_proxy: [{scope: /a, preserve_host: true}]\n  error_documents: [{status: 503, scope: /a, message: busy}]\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, err := config.ParseYAML("in.yaml", src)
		if err != nil {
			return
		}
		assertReloads(t, cfg)
	})
}

func assertReloads(t *testing.T, cfg *config.Config) {
	t.Helper()
	d1, err := config.Dump(cfg)
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	back, err := config.ParseYAML("dump.yaml", d1)
	if err != nil {
		t.Fatalf("reloading the dump: %v\n%s", err, d1)
	}
	d2, err := config.Dump(back)
	if err != nil {
		t.Fatalf("second dump: %v", err)
	}
	if !bytes.Equal(d1, d2) {
		t.Fatalf("dump changed on reload:\n--- first\n%s\n--- second\n%s", d1, d2)
	}
}
