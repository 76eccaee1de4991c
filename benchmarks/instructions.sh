#!/usr/bin/env bash
# Counts the user-space instructions sluice spends per proxied request, under
# valgrind's callgrind: unlike CPU time on a shared 2-core box, the count
# repeats to within about 1 % run to run, so two builds compare even while
# other work runs. Kernel time (the socket system calls) is not counted.
#
# Usage, from the repository root: benchmarks/instructions.sh [SLUICE_BIN|nginx [PATH|post-1k|new-conn|sparse|pairs|browser|recipe|rewrite|headers|log|tls]]
#   SLUICE_BIN  default: built from ./cmd/sluice; "nginx" counts nginx instead (one
#               process, configured as the harness configures it; the modes up to
#               browser only)
#   PATH        default: /small (100 bytes; /1k, /64k as in the harness; /page, 100 bytes
#               with ten fields as a web application's page has), a keep-alive GET
#   post-1k     POST /echo with 1 KiB, as the harness's scenario
#   new-conn    GET /small with "Connection: close": a TCP connection per request
#   sparse      keep-alive GET /small, each connection idle 30 ms before its next
#               request (as a browser's): the path of a connection that parked
#   pairs       GET /small, every other request with "Connection: close": new
#               connections that carry about two requests each (a new connection
#               parks after its first answer unless its second request is there)
#   browser     keep-alive GET /small with the eleven more fields a browser sends
#               for a page (User-Agent, Accept*, a Cookie of three values,
#               Referer, Sec-Fetch-*, ...): the cost of a request's fields; the
#               harness's get-browser scenario sends the same (browserFields)
#   recipe      the browser's GET through a configuration as real ones write it
#               (../shared/reference/real-configs/04, 07): a virtual host, Apache's
#               sticky recipe (route=, stickysession=ROUTEID, Header add Set-Cookie
#               ... env=BALANCER_ROUTE_CHANGED), ProxyPassReverse, ProxyPreserveHost
#               and CustomLog combined; the browser's Cookie carries its route
#   rewrite     the browser's GET through real-configs/18's mod_rewrite proxying: a
#               virtual host, ProxyPreserveHost, AllowEncodedSlashes NoDecode,
#               <Location /> with Require and ProxyPassReverse, two RewriteRule .*
#               [P] to one member behind a RewriteCond each, CustomLog combined
#   headers     keep-alive GET /small with real-configs/20's three Header always set
#               rules (X-Content-Type-Options, Strict-Transport-Security,
#               Referrer-Policy) over the harness's configuration
#   log         keep-alive GET /small with "CustomLog ... combined" over the harness's
#               configuration (wrk sends no Referer and no User-Agent, as an API
#               client often does not)
#   tls         keep-alive GET /1k over TLS 1.3 with ECDSA P-256, as the harness's
#               tls-get-1k (needs openssl for the certificate); the count takes in
#               the measured run's 16 handshakes, 1.8 million instructions each (some
#               3,300 per request of the 30,000 or so)
# Needs valgrind and wrk (Debian packages). Prints instructions per request,
# the misses of callgrind's simulated 32 KiB L1 caches per request (L1i: the
# 64-byte lines of code a request runs that were not in the instruction cache,
# about the size of its hot code, for that does not fit: "Code footprint" in
# docs/benchmarks.md), and the functions that cost the most (self); keeps
# callgrind.out under $TMPDIR for callgrind_annotate or kcachegrind. With
# FOOTPRINT=1 it records each instruction's count too (--dump-instr=yes) and
# prints the hot code per package and function (benchmarks/footprint).
set -euo pipefail
work=$(mktemp -d)
path=${2:-/small}
load=() # wrk's arguments for the scenario
recipe= route= # recipe, rewrite: a configuration as real ones write it
scheme=http
case $path in
post-1k)
	path=/echo
	printf 'wrk.method = "POST"\nwrk.body = string.rep("p", 1024)\nwrk.headers["Content-Type"] = "text/plain"\n' >"$work/post.lua"
	load=(-s "$work/post.lua")
	;;
new-conn)
	path=/small
	load=(-H "Connection: close")
	;;
sparse)
	path=/small
	printf 'function delay()\n  return 30\nend\n' >"$work/sparse.lua"
	load=(-s "$work/sparse.lua")
	;;
browser | recipe | rewrite)
	if [ "$path" != browser ]; then
		recipe=$path
	fi
	if [ "$path" = recipe ]; then
		route="; ROUTEID=.1"
	fi
	path=/small
	load=(-H "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
		-H "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
		-H "Accept-Language: en-US,en;q=0.9" -H "Accept-Encoding: gzip, deflate, br, zstd"
		-H "Cookie: session=8f14e45fceea167a5a36dedd4bea2543; theme=dark; _ga=GA1.1.123456789.1700000000$route"
		-H "Referer: https://example.com/index.html" -H "Sec-Fetch-Dest: document" -H "Sec-Fetch-Mode: navigate"
		-H "Sec-Fetch-Site: same-origin" -H "Upgrade-Insecure-Requests: 1" -H "Cache-Control: max-age=0")
	;;
tls)
	path=/1k
	scheme=https
	;;
headers | log)
	recipe=$path
	path=/small
	;;
pairs)
	path=/small
	printf 'local n = 0\nrequest = function()\n  n = n + 1\n  if n %% 2 == 0 then\n    return wrk.format("GET", nil, {Connection = "close"})\n  end\n  return wrk.format("GET")\nend\n' >"$work/pairs.lua"
	load=(-s "$work/pairs.lua")
	;;
esac
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
for tool in valgrind callgrind_control callgrind_annotate wrk; do
	command -v $tool >/dev/null || { echo "instructions.sh: $tool is missing (apt-get install valgrind wrk)" >&2; exit 1; }
done
bin=${1:-}
if [ "$bin" = nginx ]; then
	command -v nginx >/dev/null || { echo "instructions.sh: nginx is missing (apt-get install nginx)" >&2; exit 1; }
	if [ -n "$recipe" ] || [ $scheme = https ]; then
		echo "instructions.sh: $2 is a mode for sluice only" >&2
		exit 1
	fi
elif [ -z "$bin" ]; then
	CGO_ENABLED=0 go build -o "$work/sluice" ./cmd/sluice # as make build
	bin=$work/sluice
fi
CGO_ENABLED=0 go build -o "$work/backend" ./benchmarks/backend
"$work/backend" -addr 127.0.0.1:0 -n 2 >"$work/backend.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q ready "$work/backend.out" && break; sleep 0.1; done
mapfile -t backends < <(grep -E '^127\.0\.0\.1:[0-9]+$' "$work/backend.out")
port=$((20000 + RANDOM % 10000))
{
	echo "Listen 127.0.0.1:$port"
	if [ $scheme = https ]; then
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
			-keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null
		printf 'SSLEngine on\nSSLCertificateFile %s\nSSLCertificateKeyFile %s\nSSLProtocol -all +TLSv1.3\n' "$work/tls.crt" "$work/tls.key"
	fi
	case $recipe in
	recipe)
		echo "<VirtualHost *:$port>"
		echo "  ServerName 127.0.0.1"
		echo '  Header add Set-Cookie "ROUTEID=.%{BALANCER_WORKER_ROUTE}e; path=/" env=BALANCER_ROUTE_CHANGED'
		echo '  <Proxy "balancer://b">'
		r=0
		for b in "${backends[@]}"; do
			r=$((r + 1))
			echo "    BalancerMember \"http://$b\" route=$r"
		done
		echo '  </Proxy>'
		echo '  ProxyPass "/" "balancer://b/" stickysession=ROUTEID'
		echo '  ProxyPassReverse "/" "balancer://b/"'
		echo '  ProxyPreserveHost On'
		echo "  CustomLog $work/access.log combined"
		echo "</VirtualHost>"
		;;
	rewrite)
		echo "<VirtualHost *:$port>"
		echo "  ServerName 127.0.0.1"
		echo "  ProxyPreserveHost On"
		echo "  AllowEncodedSlashes NoDecode"
		echo "  <Location />"
		echo "    Require all granted"
		echo "    ProxyPassReverse http://${backends[0]}"
		echo "  </Location>"
		echo "  RewriteEngine on"
		echo "  RewriteCond %{REQUEST_URI} ^/api/v3/.*"
		echo "  RewriteRule .* http://${backends[0]}%{REQUEST_URI} [P,QSA,NE]"
		echo "  RewriteCond %{REQUEST_URI} !^/uploads/"
		echo "  RewriteRule .* http://${backends[0]}%{REQUEST_URI} [P,QSA]"
		echo "  CustomLog $work/access.log combined"
		echo "</VirtualHost>"
		;;
	*)
		echo '<Proxy "balancer://b">'
		for b in "${backends[@]}"; do echo "  BalancerMember \"http://$b\""; done
		echo '</Proxy>'
		echo 'ProxyPass "/" "balancer://b/"'
		if [ "$recipe" = log ]; then
			echo "CustomLog $work/access.log combined"
		fi
		if [ "$recipe" = headers ]; then
			echo 'Header always set X-Content-Type-Options "nosniff"'
			echo 'Header always set Strict-Transport-Security "max-age=31536000; includeSubDomains"'
			echo 'Header always set Referrer-Policy "strict-origin-when-cross-origin"'
		fi
		;;
	esac
} >"$work/sluice.conf"
vg=(valgrind --tool=callgrind --cache-sim=yes --callgrind-out-file="$work/callgrind.out")
if [ -n "${FOOTPRINT:-}" ]; then
	vg+=(--dump-instr=yes)
fi
if [ "$bin" = nginx ]; then
	# One process (no master) doing one worker's work, as the harness's nginx
	# on one core, configured as the harness configures it.
	mkdir -p "$work/nginx-tmp"
	cat >"$work/nginx.conf" <<EOF
worker_processes 1;
master_process off;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx.err warn;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path $work/nginx-tmp; proxy_temp_path $work/nginx-tmp; fastcgi_temp_path $work/nginx-tmp;
  uwsgi_temp_path $work/nginx-tmp; scgi_temp_path $work/nginx-tmp;
  keepalive_timeout 75s; keepalive_requests 100000000;
  upstream b { server ${backends[0]}; server ${backends[1]}; keepalive 256; keepalive_requests 100000000; }
  server {
    listen 127.0.0.1:$port deferred;
    location / { proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffer_size 16k; proxy_buffers 8 16k; }
  }
}
EOF
	"${vg[@]}" nginx -c "$work/nginx.conf" >"$work/nginx.log" 2>&1 &
else
	# One P: the count then follows one thread of work, as the harness pins one core.
	# Go's asynchronous preemption signals trip an assertion in valgrind 3.19's
	# callgrind now and then (threads.c, vgCallgrind_post_signal), which ends the
	# run: sluice's request path never runs long enough to need them.
	GODEBUG=asyncpreemptoff=1 GOMAXPROCS=1 "${vg[@]}" "$bin" -config "$work/sluice.conf" >"$work/sluice.log" 2>&1 &
fi
vg=$!
pids+=($vg)
url=$scheme://127.0.0.1:$port$path
for _ in $(seq 100); do curl -ksf -o /dev/null "$url" && break; sleep 0.3; done
# wrk's default 2 s timeout would count valgrind's slowness as errors and reconnect.
wrk -t1 -c16 --timeout 30s -d3s "${load[@]}" "$url" >/dev/null # warm pools and caches
callgrind_control -z $vg >/dev/null 2>&1
n=$(wrk -t1 -c16 --timeout 30s -d5s "${load[@]}" "$url" | awk '/requests in/ {print $1}')
callgrind_control -d $vg >/dev/null 2>&1
sleep 0.5
out=$(ls -t "$work"/callgrind.out* | grep -v '\.out$' | head -1)
# summary: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw
read -r total i1 d1r d1w < <(awk '/^summary:/ {print $2, $5, $6, $7}' "$out")
echo "requests: $n  instructions: $total  per request: $((total / n))  ($url)"
echo "L1i misses per request: $((i1 / n)) (code lines: $((i1 * 64 / n / 1024)) KiB)  L1d misses: $((d1r / n)) read, $((d1w / n)) write"
kept=${TMPDIR:-/tmp}/sluice-callgrind.out
[ "$bin" != nginx ] || kept=${TMPDIR:-/tmp}/nginx-callgrind.out
cp "$out" "$kept"
# Self counts per request, the costliest first. (Inclusive counts mislead
# here: callgrind charges a blocking read with what other goroutines ran
# meanwhile; open the kept file with callgrind_annotate --inclusive=yes
# for a given function's subtree.)
# (callgrind_annotate puts all of nginx's under __libc_start_main: its own
# functions have no file names in Debian's build.)
if [ "$bin" != nginx ]; then
	self=$(callgrind_annotate --show=Ir --threshold=100 "$out" 2>/dev/null | sed 's/ \[[^]]*\]$//' |
		awk -v n="$n" '/^ *[0-9,]+ \(/ && !/PROGRAM TOTALS/ {gsub(",", "", $1); fn = $NF; sub(/^[^:]*:/, "", fn); printf "%8d  %s\n", $1 / n, fn}' |
		sed 's|github.com/||')
	# Counts move by some 400 per small GET with whether the client
	# connections joined Go's poller (docs/benchmarks.md, "Profiling"):
	# compare runs in the same state.
	polled=$(awk '$2 ~ /sock\.\(\*Socket\)\.read-fm(.[0-9]+)?$/ {s += $1} END {print s + 0}' <<<"$self")
	echo "client sockets: $polled instructions per request in sock.(*Socket).read-fm, their reads through Go's poller (about 24 when all have joined it, 0 when none has)"
	head -30 <<<"$self"
fi
if [ -n "${FOOTPRINT:-}" ]; then
	sym=()
	[ "$bin" != nginx ] && sym=(-bin "$bin") # names code by its symbols, not callgrind's contexts
	go run ./benchmarks/footprint -n "$n" "${sym[@]}" "$out"
fi
echo "callgrind data: $kept"
