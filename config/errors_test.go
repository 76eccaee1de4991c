package config

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

const (
	workerKeys   = "(allowed: acquire, addressttl, connectiontimeout, disablereuse, enablereuse, flushpackets, flushwait, flusher, hcexpr, hcfails, hcinterval, hcmethod, hcpasses, hctemplate, hcuri, iobuffersize, keepalive, lbset, loadfactor, mapping, max, min, ping, receivebuffersize, redirect, responsefieldsize, retry, route, secret, smax, status, timeout, ttl, upgrade)"
	balancerKeys = "(allowed: failonstatus, failontimeout, forcerecovery, growth, lbmethod, maxattempts, nofailover, nonce, scolonpathdelim, stickysession, stickysessionsep, timeout)"
)

// includeFS backs the Include cases; the main file is /etc/sluice/t.conf.
var includeFS = func() fstest.MapFS {
	fsys := fstest.MapFS{
		"etc/sluice/loop.conf":      {Data: []byte("Include loop.conf\n")},
		"etc/sluice/sites/bad.conf": {Data: []byte("Listen 80\nProxyPass / http://h/ lbset=-1\n")},
		"etc/sluice/device.conf":    {Mode: fs.ModeDevice},
		"etc/sluice/huge.conf":      {Data: make([]byte, maxIncludeSize+1)},
	}
	// deep/0.conf includes deep/1.conf, and so on past maxIncludeDepth.
	for i := range maxIncludeDepth + 1 {
		fsys[fmt.Sprintf("etc/sluice/deep/%d.conf", i)] = &fstest.MapFile{Data: fmt.Appendf(nil, "Include deep/%d.conf\n", i+1)}
	}
	return fsys
}()

func TestApacheErrors(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"lbset", "Listen 80\nBalancerMember balancer://b http://h lbset=100\n",
			`t.conf:2: BalancerMember "lbset=100": must be between 0 and 99`},
		{"unknown accept filter", "Listen 80\nAcceptFilter http httpready2\n",
			`t.conf:2: AcceptFilter "httpready2": unknown accept filter (allowed: data, dataready, httpready, none)`},
		{"AcceptFilter one argument", "Listen 80\nAcceptFilter none\n",
			`t.conf:2: AcceptFilter "none": takes a protocol and a filter (data, dataready, httpready or none)`},
		{"AcceptFilter in vhost", "Listen 80\n<VirtualHost *:80>\nAcceptFilter http none\n</VirtualHost>\n",
			`t.conf:3: AcceptFilter "http none": is not allowed inside <VirtualHost>`},
		{"loadfactor 0", "Listen 80\n<Proxy balancer://b>\nBalancerMember http://h loadfactor=0\n</Proxy>\n",
			`t.conf:3: BalancerMember "loadfactor=0": must be a number between 1 and 100`},
		{"member balancer name inside <Proxy>", "Listen 80\n<Proxy balancer://a>\nBalancerMember balancer://b http://h\n</Proxy>\n",
			`t.conf:3: BalancerMember "balancer://b": can not have a balancer name inside <Proxy balancer://a>: the section names it`},
		{"loadfactor 101", "Listen 80\nBalancerMember balancer://b http://h loadfactor=101\n",
			`t.conf:2: BalancerMember "loadfactor=101": must be a number between 1 and 100`},
		{"loadfactor NaN", "Listen 80\nBalancerMember balancer://b http://h loadfactor=NaN\n",
			`t.conf:2: BalancerMember "loadfactor=NaN": must be a number between 1 and 100`},
		{"unknown worker key", "Listen 80\nBalancerMember balancer://b http://h foo=1\n",
			`t.conf:2: BalancerMember "foo=1": unknown Worker parameter ` + workerKeys},
		{"unknown status letter", "Listen 80\nBalancerMember balancer://b http://h status=+X\n",
			`t.conf:2: BalancerMember "status=+X": unknown status letter 'X' (allowed: D S I H R E N C, also O G U F)`},
		{"scgi scheme", "Listen 80\nProxyPass / scgi://h:4000/\n",
			`t.conf:2: ProxyPass "scgi://h:4000/": scheme "scgi" is not supported: use http:// (allowed: http, https, ws, wss, fcgi, ajp, and unix:/path|http:// or unix:/path|fcgi://)`},
		{"unix socket", "Listen 80\nBalancerMember balancer://b unix:a.sock|http://x\n",
			`t.conf:2: BalancerMember "unix:a.sock|http://x": the socket "a.sock" must be an absolute path: unix:/run/app.sock|fcgi://localhost/`},
		{"remoteip proxy protocol", "Listen 80\nRemoteIPProxyProtocol On\n",
			`t.conf:2: RemoteIPProxyProtocol "On": is not supported: sluice does not read the PROXY protocol; send the client's address in a field (RemoteIPHeader)`},
		{"remoteip host name", "Listen 80\nRemoteIPHeader X-Forwarded-For\nRemoteIPTrustedProxy lb.example.com\n",
			`t.conf:3: RemoteIPTrustedProxy "lb.example.com": proxy "lb.example.com" is not an address or a network (CIDR); sluice resolves no host names here`},
		{"remoteip without header", "Listen 80\nRemoteIPTrustedProxy 10.0.0.1\n",
			`t.conf:2: header: is required: the field that carries the client's address (RemoteIPHeader)`},
		{"fcgi setenvif", "Listen 80\nProxyFCGISetEnvIf \"true\" X 1\n",
			`t.conf:2: ProxyFCGISetEnvIf "true X 1": is not supported: set the variables with SetEnvIf or SetEnv, which fcgi:// members receive`},
		{"fcgi backend type", "Listen 80\nProxyFCGIBackendType PHP\n", `t.conf:2: ProxyFCGIBackendType "PHP": must be FPM or GENERIC`},
		{"mixed balancer", "Listen 80\nBalancerMember balancer://b http://x\nBalancerMember balancer://b fcgi://y\n",
			`t.conf:3: url "fcgi://y": balancer://b mixes http:// and fcgi:// members: its members must all speak one protocol`},
		{"fcgi hcmethod", "Listen 80\nBalancerMember balancer://b fcgi://y hcmethod=GET\n",
			`t.conf:2: hcmethod "GET": an fcgi:// member is checked with hcmethod=TCP: it does not speak HTTP`},
		{"query in worker URL", "Listen 80\nProxyPass / http://h/?a=1\n",
			`t.conf:2: ProxyPass "http://h/?a=1": a worker URL cannot have a query string or fragment`},
		{"bad port", "Listen 80\nProxyPass / http://h:99999/\n",
			`t.conf:2: ProxyPass "http://h:99999/": port "99999" must be a number between 1 and 65535`},
		{"path in location", "Listen 80\n<Location /x>\nProxyPass /x http://h/\n</Location>\n",
			`t.conf:3: ProxyPass "/x": can not have a path when defined in a location`},
		{"two ProxyPass in location", "Listen 80\n<Location /x>\nProxyPass http://h/\nProxyPass http://i/\n</Location>\n",
			`t.conf:4: ProxyPass "http://i/": only one ProxyPass is allowed per <Location> (the first is at /etc/sluice/t.conf:3)`},
		{"unterminated Proxy", "Listen 80\n<Proxy balancer://b>\nBalancerMember http://h\n",
			`t.conf:2: <Proxy> "balancer://b": section was not closed (expected </Proxy> in the same file)`},
		{"stray end tag", "Listen 80\n</Location>\n",
			`t.conf:2: </Location>: without matching <Location> section`},
		{"crossed end tag", "Listen 80\n<VirtualHost *:80>\n<Location /x>\n</VirtualHost>\n",
			`t.conf:4: </VirtualHost>: without matching <VirtualHost> section`},
		{"$N in a ProxyPassMatch host", "Listen 80\nProxyPassMatch ^/(\\w+)/ http://$1.internal/\n",
			`t.conf:2: ProxyPassMatch "http://$1.internal/": $N cannot choose the host: write the backend's host and port out (sluice proxies only to hosts its configuration names)`},
		{"bad regex", "Listen 80\nProxyPassMatch \"^/(a\" http://h/\n",
			"t.conf:2: ProxyPassMatch \"^/(a\": cannot compile regex: error parsing regexp: missing closing ): `^/(a`"},
		{"hcinterval 50ms", "Listen 80\nBalancerMember balancer://b http://h hcinterval=50ms\n",
			`t.conf:2: BalancerMember "hcinterval=50ms": must be at least 100ms`},
		{"timeout 0", "Listen 80\nBalancerMember balancer://b http://h timeout=0\n",
			`t.conf:2: BalancerMember "timeout=0": must be more than 0, as in Apache (leave it out for the default)`},
		{"ttl 0ms", "Listen 80\nProxyPass / http://h/ ttl=0ms\n",
			`t.conf:2: ProxyPass "ttl=0ms": must be more than 0, as in Apache (leave it out for the default)`},
		{"hcinterval 0", "Listen 80\nBalancerMember balancer://b http://h hcmethod=TCP hcinterval=0\n",
			`t.conf:2: BalancerMember "hcinterval=0": must be at least 100ms`},
		{"template hcinterval 0", "Listen 80\nProxyHCTemplate t hcinterval=0\n",
			`t.conf:2: ProxyHCTemplate "hcinterval=0": must be at least 100ms`},
		{"bad hcexpr syntax", "Listen 80\nProxyHCExpr bad {%{REQUEST_STATUS} =~ /^2}\n",
			`t.conf:2: expr "%{REQUEST_STATUS} =~ /^2": column 22: unterminated regex`},
		{"unknown hcexpr", "Listen 80\nProxyHCExpr ok {%{REQUEST_STATUS} =~ /^2/}\nBalancerMember balancer://b http://h hcmethod=GET hcexpr=nope\n",
			`t.conf:3: hcexpr "nope": no ProxyHCExpr has this name`},
		{"unknown hctemplate", "Listen 80\nBalancerMember balancer://b http://h hctemplate=nope\n",
			`t.conf:2: hctemplate "nope": no ProxyHCTemplate has this name`},
		{"hcmethod CPING", "Listen 80\nBalancerMember balancer://b http://h hcmethod=CPING\n",
			`t.conf:2: hcmethod "CPING": CPING checks ajp:// members only`},
		{"hcmethod GET on ajp", "Listen 80\nBalancerMember balancer://b ajp://h hcmethod=GET\n",
			`t.conf:2: hcmethod "GET": an ajp:// member is checked with hcmethod=CPING or TCP: it does not speak HTTP`},
		{"template hcmethod GET on fcgi", "Listen 80\nProxyHCTemplate t hcmethod=GET\nBalancerMember balancer://b fcgi://127.0.0.1:9000 hctemplate=t\n",
			`t.conf:3: hctemplate "t": its hcmethod=GET: an fcgi:// member is checked with hcmethod=TCP: it does not speak HTTP`},
		{"template hcmethod CPING on http", "Listen 80\nProxyHCTemplate t hcmethod=CPING\nBalancerMember balancer://b http://h hctemplate=t\n",
			`t.conf:3: hctemplate "t": its hcmethod=CPING: CPING checks ajp:// members only`},
		{"template hcmethod GET on ajp", "Listen 80\nProxyHCTemplate t hcmethod=GET\nBalancerMember balancer://b ajp://h hctemplate=t\n",
			`t.conf:3: hctemplate "t": its hcmethod=GET: an ajp:// member is checked with hcmethod=CPING or TCP: it does not speak HTTP`},
		{"hcmethod unknown", "Listen 80\nBalancerMember balancer://b http://h hcmethod=PING\n",
			`t.conf:2: BalancerMember "hcmethod=PING": unknown health check method (allowed: NONE, TCP, OPTIONS, HEAD, GET, OPTIONS11, HEAD11, GET11, CPING)`},
		{"failonstatus 99", "Listen 80\nProxySet balancer://b failonstatus=99\n",
			`t.conf:2: ProxySet "failonstatus=99": must be one or more HTTP response codes between 100 and 599, not 99`},
		{"failonstatus text", "Listen 80\nProxySet balancer://b failonstatus=5xx\n",
			`t.conf:2: ProxySet "failonstatus=5xx": must be one or more HTTP response codes`},
		{"nonce too long", "Listen 80\nProxySet balancer://b nonce=" + strings.Repeat("n", 37) + "\n",
			`t.conf:2: ProxySet "nonce=` + strings.Repeat("n", 37) + `": must be shorter than 37 characters`},
		{"growth 0", "Listen 80\nProxySet balancer://b growth=0\n",
			`t.conf:2: ProxySet "growth=0": must be between 1 and 100`},
		{"unknown lbmethod", "Listen 80\nProxySet balancer://b lbmethod=random\n",
			`t.conf:2: ProxySet "lbmethod=random": unknown lbmethod (allowed: byrequests, bytraffic, bybusyness)`},
		{"heartbeat lbmethod", "Listen 80\nProxySet balancer://b lbmethod=heartbeat\n",
			`t.conf:2: ProxySet "lbmethod=heartbeat": lbmethod heartbeat is not supported (it needs mod_heartmonitor); use byrequests, bytraffic, bybusyness`},
		{"listen port out of range", "Listen 70000\n",
			`t.conf:1: Listen "70000": port "70000" must be a number between 1 and 65535`},
		{"sticky separator", "Listen 80\nProxySet balancer://b stickysessionsep=ab\n",
			`t.conf:2: ProxySet "stickysessionsep=ab": must be a single character or Off`},
		{"worker key on balancer ProxyPass", "Listen 80\nProxyPass / balancer://b/ loadfactor=3\n",
			`t.conf:2: ProxyPass "loadfactor=3": unknown Balancer parameter ` + balancerKeys},
		{"worker key in balancer ProxySet", "Listen 80\n<Proxy balancer://b>\nProxySet enablereuse=on\n</Proxy>\n",
			`t.conf:3: ProxySet "enablereuse=on": unknown Balancer parameter ` + balancerKeys},
		{"timeout text", "Listen 80\nProxyPass / http://h/ timeout=soon\n",
			`t.conf:2: ProxyPass "timeout=soon": must be a whole number with an optional unit ms, s, mi or h`},
		{"on off", "Listen 80\nProxyPass / http://h/ keepalive=yes\n",
			`t.conf:2: ProxyPass "keepalive=yes": must be On or Off`},
		{"secret in a misplaced BalancerMember, not shown", "Listen 80\nBalancerMember ajp://h secret=TOPSECRET\n",
			`t.conf:2: BalancerMember "ajp://h secret=(hidden)": needs balancer://name first outside <Proxy balancer://…>`},
		{"secret too long, not shown", "Listen 80\nBalancerMember balancer://b ajp://h secret=" + strings.Repeat("s", 64) + "\n",
			`t.conf:2: BalancerMember "secret=(hidden)": must be shorter than 64 characters`},
		{"route too long", "Listen 80\nBalancerMember balancer://b http://h route=" + strings.Repeat("r", 64) + "\n",
			`t.conf:2: BalancerMember "route=` + strings.Repeat("r", 64) + `": must be shorter than 64 characters`},
		{"duplicate member", "Listen 80\nBalancerMember balancer://b http://h:80\nBalancerMember balancer://b HTTP://H\n",
			`t.conf:3: BalancerMember "HTTP://H": duplicate member of balancer://b (first at /etc/sluice/t.conf:2)`},
		{"missing Include file", "Listen 80\nInclude missing.conf\n",
			`t.conf:2: Include "missing.conf": file does not exist`},
		{"Include glob without match", "Listen 80\nInclude conf.d/*.conf\n",
			`t.conf:2: Include "conf.d/*.conf": no file matches (use IncludeOptional to allow that)`},
		{"include cycle", "Listen 80\nInclude loop.conf\n",
			`loop.conf:1: Include "loop.conf": include cycle: /etc/sluice/loop.conf is already being read`},
		{"includes too deep", "Listen 80\nInclude deep/0.conf\n",
			`deep/62.conf:1: Include "deep/63.conf": includes are nested more than 64 deep`},
		{"Include of a device", "Listen 80\nInclude device.conf\n",
			`t.conf:2: Include "device.conf": /etc/sluice/device.conf is not a regular file`},
		{"Include of a huge file", "Listen 80\nInclude huge.conf\n",
			`t.conf:2: Include "huge.conf": /etc/sluice/huge.conf is larger than 16777216 bytes`},
		{"error in included file", "IncludeOptional sites/*.conf\n",
			`sites/bad.conf:2: ProxyPass "lbset=-1": must be between 0 and 99`},
		{"unknown proxy directive", "Listen 80\nProxyPasss / http://h/\n",
			`t.conf:2: ProxyPasss "/ http://h/": unknown proxy directive`},
		{"unknown balancer directive", "Listen 80\nBalancerMemeber balancer://b http://h\n",
			`t.conf:2: BalancerMemeber "balancer://b http://h": unknown proxy directive`},
		{"no Listen", "ProxyPass / http://h/\n", `t.conf: no Listen directive`},
		{"duplicate Listen", "Listen 80\nListen *:80\n", `t.conf:2: Listen "*:80": duplicate address :80`},
		{"bad Listen", "Listen 80x\n", `t.conf:1: Listen "80x": must be port, host:port or [ipv6]:port`},
		{"Listen in vhost", "Listen 80\n<VirtualHost *:80>\nListen 81\n</VirtualHost>\n",
			`t.conf:3: Listen "81": is not allowed inside <VirtualHost>`},
		{"ServerAlias in main", "Listen 80\nServerAlias a.example.com\n",
			`t.conf:2: ServerAlias "a.example.com": is only allowed inside <VirtualHost>`},
		{"trailing comment", "Listen 80\nProxyTimeout 60 # seconds\n",
			`t.conf:2: ProxyTimeout "60 # seconds": takes one argument`},
		{"unterminated quote", "Listen 80\nProxyPass \"/a http://h/\n",
			`t.conf:2: ProxyPass "\"/a http://h/": has an unterminated quote`},
		{"ProxyPass in Directory", "Listen 80\n<Directory /srv>\nProxyPass / http://h/\n</Directory>\n",
			`t.conf:3: ProxyPass "/ http://h/": is not allowed inside <Directory> (sluice ignores that section)`},
		{"ProxyMatch", "Listen 80\n<ProxyMatch ^http://>\n</ProxyMatch>\n",
			`t.conf:2: <ProxyMatch> "^http://": is not supported (sections sluice knows: <VirtualHost>, <Proxy>, <Location>, <LocationMatch>, <If…>)`},
		{"manager Require valid-user", "Listen 80\n<Location /bm>\nSetHandler balancer-manager\nRequire valid-user\n</Location>\n",
			`t.conf:4: Require "valid-user": "Require valid-user" is not supported (allowed: ip, host, local, all granted, all denied)`},
		{"manager Require bad ip", "Listen 80\n<Location /bm>\nSetHandler balancer-manager\nRequire ip 10.0.0.300\n</Location>\n",
			`t.conf:4: Require "ip 10.0.0.300": "10.0.0.300" is not an IP address, network or address prefix`},
		{"Require on location bad ip", "Listen 80\n<Location /admin>\nRequire ip 10.0.0.0/33\nProxyPass http://h/\n</Location>\n",
			`t.conf:3: Require "ip 10.0.0.0/33": "10.0.0.0/33" is not an IP address, network or address prefix`},
		{"Require not", "Listen 80\n<Location /admin>\nRequire not ip 10.0.0.1\n</Location>\n",
			`t.conf:3: Require "not ip 10.0.0.1": "Require not" is not supported: list who may enter (any one Require line grants)`},
		{"Require env on backend", "Listen 80\n<Proxy balancer://b>\nRequire env LET_IN\n</Proxy>\n",
			`t.conf:3: Require "env LET_IN": "Require env" is not supported (allowed: ip, host, local, all granted, all denied)`},
		{"Require without kind", "Listen 80\n<Proxy *>\nRequire\n</Proxy>\n",
			`t.conf:3: Require: needs an entity type, such as ip or host`},
		{"Require all maybe", "Listen 80\n<Proxy *>\nRequire all maybe\n</Proxy>\n",
			`t.conf:3: Require "all maybe": "Require all" must be granted or denied`},
		{"Require local with argument", "Listen 80\n<Location />\nRequire local 10.0.0.1\n</Location>\n",
			`t.conf:3: Require "local 10.0.0.1": "Require local" takes no argument`},
		{"Require host URL", "Listen 80\n<Location />\nRequire host http://example.com\n</Location>\n",
			`t.conf:3: Require "host http://example.com": "http://example.com" is not a host or domain name`},
		{"RequireAny", "Listen 80\n<Location /bm>\n<RequireAny>\n</RequireAny>\n</Location>\n",
			`t.conf:3: <RequireAny>: is not supported: write the rule as Require lines, of which any one grants (Require not is refused too)`},
		{"RequireAll", "Listen 80\n<Proxy *>\n<RequireAll>\n</RequireAll>\n</Proxy>\n",
			`t.conf:3: <RequireAll>: is not supported: write the rule as Require lines, of which any one grants (Require not is refused too)`},
		{"ProxyPass in wildcard location", "Listen 80\n<Location /a*>\nProxyPass http://b/\n</Location>\n",
			`t.conf:3: ProxyPass "/a*": a <Location> path with wildcards is not supported: use <LocationMatch> or ProxyPassMatch`},
		{"Require in bad LocationMatch", "Listen 80\n<LocationMatch ^/(a>\nRequire ip 10.0.0.1\n</LocationMatch>\n",
			"t.conf:2: <LocationMatch> \"^/(a\": cannot compile regex: error parsing regexp: missing closing ): `^/(a`"},
		{"Require in Proxy with inner wildcard", "Listen 80\n<Proxy http://*.example.com/>\nRequire ip 10.0.0.1\n</Proxy>\n",
			`t.conf:2: <Proxy> "http://*.example.com/": wildcards are not supported here except * alone or at the end`},
		{"Require in Proxy with bad URL", "Listen 80\n<Proxy backend>\nRequire ip 10.0.0.1\n</Proxy>\n",
			`t.conf:2: <Proxy> "backend": must be *, balancer://name or a backend URL prefix such as http://host[:port][/path]`},
		{"params with exclusion", "Listen 80\nProxyPass /x ! retry=0\n",
			`t.conf:2: ProxyPass "retry=0": parameters are not allowed with "!"`},
		{"bare word parameter", "Listen 80\nProxyPass / http://h/ fast\n",
			`t.conf:2: ProxyPass "fast": parameter must be key=value, nocanon, noquery or interpolate`},
		{"ProxySet plain worker key", "Listen 80\nProxySet http://h nope=5\n",
			`t.conf:2: ProxySet "nope=5": unknown Worker parameter ` + workerKeys},
		{"ProxySet in Proxy *", "Listen 80\n<Proxy *>\nProxySet timeout=5\n</Proxy>\n",
			`t.conf:3: ProxySet "*": is not an absolute URL: use http://host[:port][/path]`},
		{"ProxyVia", "Listen 80\nProxyVia sometimes\n", `t.conf:2: ProxyVia "sometimes": must be Off, On, Full or Block`},
		{"ProxyHCExpr unclosed", "Listen 80\nProxyHCExpr ok {%{REQUEST_STATUS} =~ /^2/\n",
			`t.conf:2: ProxyHCExpr "{%{REQUEST_STATUS} =~ /^2/": has an unclosed {`},
		{"ProxyHCTemplate key", "Listen 80\nProxyHCTemplate t retry=5\n",
			`t.conf:2: ProxyHCTemplate "retry=5": unknown ProxyHCTemplate parameter (allowed: hcmethod, hcinterval, hcpasses, hcfails, hcuri, hcexpr)`},
		{"nested VirtualHost", "Listen 80\n<VirtualHost *:80>\n<VirtualHost *:81>\n",
			`t.conf:3: <VirtualHost> "*:81": is not allowed inside <VirtualHost>`},
		{"VirtualHost port", "Listen 80\n<VirtualHost *:http>\n</VirtualHost>\n", `t.conf:2: addrs "*:http": the port must be a number from 1 to 65535, or *`},
		{"AllowEncodedSlashes value", "Listen 80\nAllowEncodedSlashes maybe\n", `t.conf:2: AllowEncodedSlashes "maybe": must be On, Off or NoDecode`},
		{"AllowEncodedSlashes in Location", "Listen 80\n<Location /a>\nAllowEncodedSlashes On\n</Location>\n", `t.conf:3: AllowEncodedSlashes "On": is not allowed inside <Location>`},
		{"ProxyErrorOverride value", "Listen 80\nProxyErrorOverride maybe\n", `t.conf:2: ProxyErrorOverride "maybe": must be On or Off`},
		{"ProxyErrorOverride code", "Listen 80\nProxyErrorOverride On 302\n", `t.conf:2: ProxyErrorOverride "302": must be an error status from 400 to 599`},
		{"ProxyErrorOverride in Location", "Listen 80\n<Location /a>\nProxyErrorOverride On\n</Location>\n", `t.conf:3: ProxyErrorOverride "On": is not allowed inside <Location>`},
		{"LimitRequestBody value", "Listen 80\nLimitRequestBody 10MB\n", `t.conf:2: LimitRequestBody "10MB": must be a number of bytes from 0 to 2147483647`},
		{"ServerName two names", "Listen 80\nServerName a b\n", `t.conf:2: ServerName "a b": takes one name`},
		{"ServerAlias in main", "Listen 80\nServerAlias a\n", `t.conf:2: ServerAlias "a": is only allowed inside <VirtualHost>`},
		{"ServerRoot two dirs", "Listen 80\nServerRoot a b\n", `t.conf:2: ServerRoot "a b": takes one directory`},
		{"DocumentRoot two dirs", "Listen 80\nDocumentRoot a b\n", `t.conf:2: DocumentRoot "a b": takes one directory`},
		{"CustomLog nickname", "Listen 80\nCustomLog logs/a.log nosuch\n", `t.conf:2: CustomLog "nosuch": names no LogFormat (define it with LogFormat "…" nosuch before this line)`},
		{"CustomLog format", "Listen 80\nCustomLog logs/a.log \"%h %Z\"\n", `t.conf:2: format "%h %Z": %Z: not supported (sluice logs %a %A %b %B %{NAME}C %D %{VAR}e %h %H %{NAME}i %I %k %l %m %{NAME}o %O %p %P %q %r %s %S %t %T %u %U %v %V %X)`},
		{"CustomLog expr", "Listen 80\nCustomLog logs/a.log common expr=%{X}\n", `t.conf:2: CustomLog "expr=%{X}": must be env=VAR or env=!VAR (expr= conditions are not supported)`},
		{"LogFormat in Location", "Listen 80\n<Location /a>\nLogFormat \"%h\" x\n</Location>\n", `t.conf:3: LogFormat "%h x": is not allowed inside <Location>`},
		{"On/Off value", "Listen 80\nProxyPreserveHost maybe\n", `t.conf:2: ProxyPreserveHost "maybe": must be On or Off`},
		{"On/Off count", "Listen 80\nProxyAddHeaders On Off\n", `t.conf:2: ProxyAddHeaders "On Off": takes one argument, On or Off`},
		{"ProxyPreserveHost in Location", "Listen 80\n<Location /a>\nProxyPreserveHost maybe\n</Location>\n", `t.conf:3: ProxyPreserveHost "maybe": must be On or Off`},
		{"ProxyVia in Proxy", "Listen 80\n<Proxy balancer://b>\nProxyVia On\n</Proxy>\n", `t.conf:3: ProxyVia "On": is not allowed inside <Proxy>`},
		{"ProxyAddHeaders value in Proxy", "Listen 80\n<Proxy balancer://b>\nProxyAddHeaders maybe\n</Proxy>\n", `t.conf:3: ProxyAddHeaders "maybe": must be On or Off`},
		{"ProxyRequests value", "Listen 80\nProxyRequests maybe\n", `t.conf:2: ProxyRequests "maybe": must be On or Off`},
		{"BalancerPersist value", "Listen 80\nBalancerPersist maybe\n", `t.conf:2: BalancerPersist "maybe": must be On or Off`},
		{"ProxyTimeout none", "Listen 80\nProxyTimeout\n", `t.conf:2: ProxyTimeout: takes one argument`},
		{"ProxyTimeout unit", "Listen 80\nProxyTimeout 5x\n", `t.conf:2: ProxyTimeout "5x": must be a whole number with an optional unit ms, s, mi or h`},
		{"BalancerGrowth none", "Listen 80\nBalancerGrowth\n", `t.conf:2: BalancerGrowth: takes one number`},
		{"BalancerGrowth over Apache's", "Listen 80\nBalancerGrowth 1001\n", `t.conf:2: BalancerGrowth "1001": must be between 0 and 1000`},
		{"BalancerGrowth word", "Listen 80\nBalancerGrowth x\n", `t.conf:2: BalancerGrowth "x": must be between 0 and 1000`},
		{"ProxyHCTPsize none", "Listen 80\nProxyHCTPsize\n", `t.conf:2: ProxyHCTPsize: takes one number`},
		{"ProxyHCTPsize negative", "Listen 80\nProxyHCTPsize -1\n", `t.conf:2: ProxyHCTPsize "-1": must be a whole number >= 0`},
		{"ProxyHCExpr none", "Listen 80\nProxyHCExpr\n", `t.conf:2: ProxyHCExpr: takes a name and an {expression}`},
		{"ProxyHCExpr redefined", "Listen 80\nProxyHCExpr ok {%{REQUEST_STATUS} =~ /^2/}\nProxyHCExpr ok {%{REQUEST_STATUS} =~ /^3/}\n",
			`t.conf:3: ProxyHCExpr "ok": already defined at /etc/sluice/t.conf:2 with another expression`},
		{"ProxyHCTemplate none", "Listen 80\nProxyHCTemplate\n", `t.conf:2: ProxyHCTemplate: takes a name and key=value parameters`},
		{"ProxyHCTemplate redefined", "Listen 80\nProxyHCTemplate t hcmethod=GET\nProxyHCTemplate t hcmethod=HEAD\n",
			`t.conf:3: ProxyHCTemplate "t": already defined at /etc/sluice/t.conf:2`},
		{"ErrorDocument one argument", "Listen 80\nErrorDocument 503\n", `t.conf:2: ErrorDocument "503": takes a status code and a /path, URL or "message"`},
		{"RewriteCond one argument", "Listen 80\nRewriteEngine On\nRewriteCond a\n", `t.conf:3: RewriteCond "a": takes a test string, a condition pattern and optional [flags]`},
		{"RewriteRule one argument", "Listen 80\nRewriteEngine On\nRewriteRule a\n", `t.conf:3: RewriteRule "a": takes a pattern, a substitution and optional [flags]`},
		{"RewriteOptions none", "Listen 80\nRewriteOptions\n", `t.conf:2: RewriteOptions: takes one option (allowed: Inherit, InheritBefore)`},
		{"Header without a name", "Listen 80\nHeader set\n", `t.conf:2: Header "set": needs an action and a header name`},
		{"ProxyPassReverse none", "Listen 80\nProxyPassReverse\n", `t.conf:2: ProxyPassReverse: takes a path and a URL`},
		{"cookie rule one value", "Listen 80\nProxyPassReverseCookieDomain a\n", `t.conf:2: ProxyPassReverseCookieDomain "a": takes an internal and a public value`},
		{"ProxySet without balancer", "Listen 80\nProxySet\n", `t.conf:2: ProxySet: needs a balancer://name outside <Proxy balancer://…>`},
		{"BalancerMember without balancer", "Listen 80\nBalancerMember\n", `t.conf:2: BalancerMember: needs balancer://name first outside <Proxy balancer://…>`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseApache("/etc/sluice/t.conf", []byte(c.src), includeFS)
			assertError(t, err, "/etc/sluice/"+c.want)
		})
	}
}

func TestYAMLErrors(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"unknown key", "listen: [':80']\nserver:\n  routes:\n    - path: /\n      target: http://h/\n      tmeout: 5s\n",
			`t.yaml:6: tmeout: unknown key (allowed: path, match, exclude, target, location, nocanon, noquery, worker, files, files_match)`},
		{"$N in a match route's host", "listen: [':80']\nserver:\n  routes:\n    - path: ^/(\\w+)/\n      match: true\n      target: http://h:$1/\n",
			`t.yaml:6: target "http://h:$1/": $N cannot choose the host: write the backend's host and port out (sluice proxies only to hosts its configuration names)`},
		{"unknown member key", "listen: [':80']\nserver:\n  balancers:\n    - name: b\n      members:\n        - url: http://h\n          weight: 2\n",
			`t.yaml:7: weight: unknown key (allowed: url, ` + strings.Trim(workerKeysYAML, "()") + `)`},
		{"unknown accept filter", "listen: [':80']\naccept_filter: httpready\n",
			`t.yaml:2: accept_filter "httpready": unknown accept filter (allowed: data, none)`},
		{"error_override codes", "listen: [':80']\nserver:\n  error_override: {on: true, codes: [302]}\n",
			`t.yaml:3: codes "302": must be an error status from 400 to 599`},
		{"location_proxy scope", "listen: [':80']\nserver:\n  location_proxy:\n    - scope: api\n      preserve_host: true\n",
			`t.yaml:4: scope "api": must be a URL-path starting with /`},
		{"location_proxy regex", "listen: [':80']\nserver:\n  location_proxy:\n    - scope: '^/a('\n      scope_match: true\n      add_headers: false\n",
			"t.yaml:4: scope \"^/a(\": cannot compile regex: error parsing regexp: missing closing ): `^/a(`"},
		{"error document scope", "listen: [':80']\nserver:\n  error_documents:\n    - status: 503\n      scope: api\n      message: busy\n",
			`t.yaml:5: scope "api": must be a URL-path starting with /`},
		{"location_proxy empty", "listen: [':80']\nserver:\n  location_proxy:\n    - scope: /a\n",
			`t.yaml:4: scope "/a": sets none of preserve_host, add_headers and cgi_pass_auth`},
		{"location_proxy scope and proxy", "listen: [':80']\nserver:\n  location_proxy:\n    - {scope: /a, proxy: 'balancer://b', preserve_host: true}\n",
			`t.yaml:4: scope "/a": set exactly one of scope and proxy`},
		{"location_proxy bad proxy", "listen: [':80']\nserver:\n  location_proxy:\n    - {proxy: 'http://h/*x', preserve_host: true}\n",
			`t.yaml:4: proxy "http://h/*x": wildcards are not supported here except * alone or at the end`},
		{"allow_encoded_slashes", "listen: [':80']\nserver:\n  allow_encoded_slashes: maybe\n",
			`t.yaml:3: allow_encoded_slashes "maybe": must be off, on or nodecode`},
		{"bad duration", "listen: [':80']\nserver:\n  proxy_timeout: 5\n",
			`t.yaml:3: proxy_timeout "5": must be Go duration text such as 30s, 1.5s or 500ms`},
		{"negative duration", "listen: [':80']\ntimeouts:\n  drain: -1s\n",
			`t.yaml:3: drain "-1s": must be Go duration text such as 30s, 1.5s or 500ms`},
		{"not a number", "listen: [':80']\nserver:\n  balancers:\n    - name: b\n      members:\n        - url: http://h\n          lbset: abc\n",
			`t.yaml:7: lbset "abc": must be a whole number`},
		{"lbset range", "listen: [':80']\nserver:\n  balancers:\n    - name: b\n      members:\n        - url: http://h\n          lbset: 100\n",
			`t.yaml:7: lbset "100": must be between 0 and 99`},
		{"secret too long", "listen: [':80']\nserver:\n  balancers:\n    - name: b\n      members:\n        - url: ajp://h\n          secret: " + strings.Repeat("s", 70) + "\n",
			`t.yaml:7: secret "(hidden)": must be shorter than 64 characters`},
		{"unknown hcexpr", "listen: [':80']\nserver:\n  balancers:\n    - name: b\n      members:\n        - url: http://h\n          hcmethod: GET\n          hcexpr: nope\n",
			`t.yaml:8: hcexpr "nope": no ProxyHCExpr has this name`},
		{"lbmethod", "listen: [':80']\nserver:\n  balancers:\n    - name: b\n      lbmethod: random\n      members: []\n",
			`t.yaml:5: lbmethod "random": unknown lbmethod (allowed: byrequests, bytraffic, bybusyness)`},
		{"scgi target", "listen: [':80']\nserver:\n  routes:\n    - path: /\n      target: scgi://h:4000/\n",
			`t.yaml:5: target "scgi://h:4000/": scheme "scgi" is not supported: use http:// (allowed: http, https, ws, wss, fcgi, ajp, and unix:/path|http:// or unix:/path|fcgi://)`},
		{"bad regex", "listen: [':80']\nserver:\n  routes:\n    - path: '(['\n      match: true\n      target: http://h/\n",
			"t.yaml:4: path \"([\": cannot compile regex: error parsing regexp: missing closing ]: `[`"},
		{"worker on balancer route", "listen: [':80']\nserver:\n  routes:\n    - path: /\n      target: balancer://b/\n      worker: {timeout: 1s}\n",
			`t.yaml:6: worker: a balancer route takes no worker parameters: set them on its members`},
		{"no listen", "server:\n  server_name: a\n", `t.yaml: listen: no listen address: add listen: ["127.0.0.1:8080"]`},
		{"duplicate listen", "listen: ['80', ':80']\n", `t.yaml:1: listen ":80": duplicate address`},
		{"admin without token", "listen: [':80']\nadmin:\n  listen: 0.0.0.0:9901\n",
			`t.yaml:3: listen "0.0.0.0:9901": an admin listener off loopback needs a token (token, token_file or token_env)`},
		{"access log format", "listen: [':80']\naccess_log:\n  format: xml\n",
			`t.yaml:3: format "xml": unknown access log format: json, agent, combined, common, referer, vhost_combined, or a LogFormat string`},
		{"access log without path", "listen: [':80']\naccess_log:\n  format: json\n",
			`t.yaml:3: format "json": an access log needs a path (a file or stdout)`},
		{"access log env without path", "listen: [':80']\naccess_log: {env: '!dontlog'}\n",
			`t.yaml:2: env "!dontlog": an access log needs a path (a file or stdout)`},
		{"trusted proxy", "listen: [':80']\ntrusted_proxies: [10.0.0.0/33]\n",
			`t.yaml:2: trusted_proxies "10.0.0.0/33": must be an IP address or CIDR network`},
		{"vhost without addrs", "listen: [':80']\nvhosts:\n  - server_name: a\n",
			`t.yaml:3: addrs: a vhost needs at least one address, such as *:80`},
		{"duplicate balancer", "listen: [':80']\nserver:\n  balancers:\n    - {name: b, members: []}\n    - {name: B, members: []}\n",
			`t.yaml:5: name "b": duplicate balancer in this host`},
		{"syntax", "listen: [':80'\n", `t.yaml:1: did not find expected ',' or ']'`},
		{"two documents", "listen: [':80']\n---\nlisten: [':81']\n", `t.yaml:2: holds more than one YAML document`},
		{"empty route entry", "listen: [':80']\nserver:\n  routes:\n    -\n", `t.yaml:4: routes: has an empty entry`},
		{"via", "listen: [':80']\nserver:\n  via: maybe\n", `t.yaml:3: via "maybe": must be off, on, full or block`},
		{"sticky_set_cookie without a cookie", "listen: [':80']\nserver:\n  balancers:\n    - name: b\n      sticky_set_cookie: true\n      members: []\n",
			`t.yaml:5: sticky_set_cookie "true": needs sticky_cookie: the cookie to set`},
		{"retry_idempotent not a bool", "listen: [':80']\nserver:\n  balancers:\n    - name: b\n      retry_idempotent: maybe\n      members: []\n",
			`t.yaml:5: retry_idempotent "maybe": must be true or false`},
		{"access without scope", "listen: [':80']\nserver:\n  access:\n    - require: [local]\n",
			`t.yaml:4: location: set exactly one of location and proxy`},
		{"access with both scopes", "listen: [':80']\nserver:\n  access:\n    - {location: /a, proxy: '*', require: [local]}\n",
			`t.yaml:4: location "/a": set exactly one of location and proxy`},
		{"access without require", "listen: [':80']\nserver:\n  access:\n    - location: /a\n",
			`t.yaml:4: require: needs at least one line, such as "ip 10.0.0.0/8", or tls_only`},
		{"access bad line", "listen: [':80']\nserver:\n  access:\n    - location: /a\n      require: [local, 'ip 10.0.0.300']\n",
			`t.yaml:5: require "ip 10.0.0.300": "10.0.0.300" is not an IP address, network or address prefix`},
		{"access relative location", "listen: [':80']\nserver:\n  access:\n    - {location: a, require: [local]}\n",
			`t.yaml:4: location "a": must be a URL-path starting with / and without wildcards (use match: true for a regular expression)`},
		{"access bad regex", "listen: [':80']\nserver:\n  access:\n    - {location: '^/(a', match: true, require: [local]}\n",
			"t.yaml:4: location \"^/(a\": cannot compile regex: error parsing regexp: missing closing ): `^/(a`"},
		{"access match on proxy", "listen: [':80']\nserver:\n  access:\n    - {proxy: '*', match: true, require: [local]}\n",
			`t.yaml:4: match "true": applies to location only`},
		{"access scgi proxy", "listen: [':80']\nserver:\n  access:\n    - {proxy: 'scgi://h/', require: [local]}\n",
			`t.yaml:4: proxy "scgi://h/": sluice proxies to no backend of scheme "scgi"`},
		{"access empty entry", "listen: [':80']\nserver:\n  access:\n    -\n",
			`t.yaml:4: access: has an empty entry`},
		{"status", "listen: [':80']\nserver:\n  balancers:\n    - name: b\n      members:\n        - {url: 'http://h', status: +Z}\n",
			`t.yaml:6: status "+Z": unknown status letter 'Z' (allowed: D S I H R E N C, also O G U F)`},
		// A wrong type names its key and the whole value: before, an item
		// of a list was "value", a value past 10 bytes was cut to 7 and
		// "...", and a list or mapping got yaml.v3's own words.
		{"list item type", "listen: [':80']\nserver:\n  balancers:\n    - name: b\n      failonstatus: [500, abc]\n      members: []\n",
			`t.yaml:5: failonstatus "abc": must be a whole number`},
		{"block list item type", "listen: [':80']\nserver:\n  balancers:\n    - name: b\n      failonstatus:\n        - 500\n        - abc\n      members: []\n",
			`t.yaml:7: failonstatus "abc": must be a whole number`},
		{"long value", "listen: [':80']\nlimits:\n  max_conns: 99999999999999999999\n",
			`t.yaml:3: max_conns "99999999999999999999": must be a whole number`},
		{"list for a number", "listen: [':80']\nserver:\n  balancers:\n    - name: b\n      members:\n        - url: http://h\n          lbset: [1]\n",
			`t.yaml:7: lbset: must be a whole number`},
		{"mapping for a duration", "listen: [':80']\nserver:\n  balancers:\n    - name: b\n      members:\n        - url: http://h\n          timeout: {s: 1}\n",
			`t.yaml:7: timeout: must be Go duration text such as 30s, 1.5s or 500ms`},
		{"mapping for a list", "listen: [':80']\nserver:\n  balancers: {a: 1}\n", `t.yaml:3: balancers: must be a list`},
		{"list for a mapping", "listen: [':80']\nserver: [1]\n", `t.yaml:2: server: must be a mapping`},
		// Every type's unknown key lists the allowed ones: remote_ip,
		// access, location_proxy, error_override, set_env_if and redirects
		// listed none, and hc_templates every worker key.
		{"unknown remote_ip key", "listen: [':80']\nserver:\n  remote_ip: {header: X-Real-IP, trusted_proxies: [10.0.0.1]}\n",
			`t.yaml:3: trusted_proxies: unknown key (allowed: header, internal, trusted, proxies_header)`},
		{"unknown access key", "listen: [':80']\nserver:\n  access:\n    - {location: /a, requires: [local]}\n",
			`t.yaml:4: requires: unknown key (allowed: location, match, proxy, require, tls_only)`},
		{"unknown redirect key", "listen: [':80']\nserver:\n  redirects:\n    - {status: 301, path: /a, target: /b}\n",
			`t.yaml:4: target: unknown key (allowed: status, path, match, url)`},
		// A value in a block list is reported on its own line, under its
		// own key: before, the list's key line, and a bad trusted proxy
		// under "internal".
		{"block listen entry", "listen:\n  - ':80'\n  - ':80x'\n", `t.yaml:3: listen ":80x": port "80x" must be a number between 1 and 65535`},
		{"block listen duplicate", "listen:\n  - ':80'\n  - '80'\n", `t.yaml:3: listen ":80": duplicate address`},
		{"block require entry", "listen: [':80']\nserver:\n  access:\n    - location: /a\n      require:\n        - local\n        - ip 10.0.0.300\n",
			`t.yaml:7: require "ip 10.0.0.300": "10.0.0.300" is not an IP address, network or address prefix`},
		{"block error_override code", "listen: [':80']\nserver:\n  error_override:\n    on: true\n    codes:\n      - 500\n      - 302\n",
			`t.yaml:7: codes "302": must be an error status from 400 to 599`},
		{"block trusted proxy", "listen: [':80']\nserver:\n  remote_ip:\n    header: X-Forwarded-For\n    internal: [10.0.0.0/8]\n    trusted:\n      - 10.0.0.1\n      - bogus\n",
			`t.yaml:8: trusted "bogus": proxy "bogus" is not an address or a network (CIDR); sluice resolves no host names here`},
		{"unknown template key", "listen: [':80']\nhc_templates:\n  - {name: t, hcmethd: GET}\n",
			`t.yaml:3: hcmethd: unknown key (allowed: name, hcmethod, hcinterval, hcpasses, hcfails, hcuri, hcexpr)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseYAML("t.yaml", []byte(c.src))
			assertError(t, err, c.want)
		})
	}
}

const workerKeysYAML = "(loadfactor, lbset, route, redirect, status, retry, timeout, connectiontimeout, acquire, ping, max, min, smax, ttl, disablereuse, secret, enablereuse, keepalive, upgrade, hcmethod, hcinterval, hcpasses, hcfails, hcuri, hcexpr, hctemplate)"

func assertError(t *testing.T, err error, want string) {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("got %v (%T), want *Error %q", err, err, want)
	}
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
}

// TestYAMLEmptyEntries: a null list entry is refused wherever it stands,
// naming the list and the entry's line. Several of these decoded to nil
// rules that crashed validation (found by FuzzYAMLConfig).
func TestYAMLEmptyEntries(t *testing.T) {
	lists := []struct{ key, src string }{
		{"listen", "listen:\n  -\n"},
		{"vhosts", "vhosts:\n  -\n"},
		{"hc_exprs", "hc_exprs:\n  -\n"},
		{"routes", "server:\n  routes:\n    -\n"},
		{"balancers", "server:\n  balancers:\n    -\n"},
		{"members", "server:\n  balancers:\n    - name: b\n      members:\n        -\n"},
		{"headers", "server:\n  headers:\n    -\n"},
		{"request_headers", "server:\n  request_headers:\n    -\n"},
		{"location_rewrites", "server:\n  location_rewrites:\n    -\n"},
		{"error_documents", "server:\n  error_documents:\n    -\n"},
		{"rules", "server:\n  rewrite:\n    rules:\n      -\n"},
		{"conds", "server:\n  rewrite:\n    rules:\n      - pattern: ^/a\n        substitution: /b\n        conds:\n          -\n"},
		{"server_aliases", "server:\n  server_aliases:\n    -\n"},
		{"access", "server:\n  access:\n    -\n"},
	}
	for _, l := range lists {
		src := l.src
		if l.key != "listen" {
			src = "listen: [':80']\n" + src
		}
		line := strings.Count(src, "\n")
		for _, null := range []string{"", " ~", " null"} {
			in := strings.TrimSuffix(src, "-\n") + "-" + null + "\n"
			_, err := ParseYAML("t.yaml", []byte(in))
			assertError(t, err, fmt.Sprintf("t.yaml:%d: %s: has an empty entry", line, l.key))
		}
	}
	alias := "listen: [':80']\nnothing: &none ~\nserver:\n  headers:\n    - *none\n"
	_, err := ParseYAML("t.yaml", []byte(alias))
	assertError(t, err, "t.yaml:5: headers: has an empty entry")
}

// BalancerGrowth takes what Apache's does, 0 to 1000 (it refused 0 and
// anything over 100 before the tenth session), in both forms.
func TestBalancerGrowthRange(t *testing.T) {
	for _, n := range []string{"0", "5", "1000"} {
		cfg, err := ParseApache("t.conf", []byte("Listen 80\nBalancerGrowth "+n+"\n"), nil)
		if err != nil || strconv.Itoa(cfg.BalancerGrowth) != n {
			t.Errorf("BalancerGrowth %s: %v", n, err)
		}
		if _, err := ParseYAML("t.yaml", []byte("listen: [':80']\nbalancer_growth: "+n+"\n")); err != nil {
			t.Errorf("balancer_growth %s: %v", n, err)
		}
	}
	_, err := ParseYAML("t.yaml", []byte("listen: [':80']\nbalancer_growth: 1001\n"))
	if err == nil || !strings.Contains(err.Error(), `balancer_growth "1001": must be between 0 and 1000`) {
		t.Errorf("balancer_growth 1001: %v", err)
	}
}
