#!/usr/bin/env bash
# Samples where a proxy's CPU goes under load with perf (cpu-clock), the
# kernel's and the vDSO's share included: what benchmarks/instructions.sh
# cannot see (callgrind counts user-space instructions, and not the vDSO's:
# a clock reading costs some 25 ns there and counts nothing). The proxy runs
# alone on CPU 1 (sluice with one P, or nginx with one worker, configured as
# the harness configures it), wrk and two backends on CPU 0; a 2 s warm-up,
# then 5 s of keep-alive GETs over 64 connections, sampled.
#
# Usage, from the repository root: benchmarks/perf.sh [SLUICE_BIN|nginx [PATH]]
#   SLUICE_BIN  default: built from ./cmd/sluice; "nginx" samples nginx instead
#   PATH        default: /small (the harness's backends: /small, /1k, /64k, /page)
# Prints requests per second, the share of samples per object (kernel,
# proxy, vDSO, libc), the costliest symbols (self), and the share per system
# call with, for sluice, the function that made it (a read that finds
# nothing costs about what one that brings a request does: the split shows
# what each call on a request's way costs); keeps perf.data under $TMPDIR
# for perf report. Needs perf (Debian: linux-perf) and wrk, nginx for
# nginx, and root or kernel.perf_event_paranoid at most 1.
set -euo pipefail
work=$(mktemp -d)
peer=${1:-}
path=${2:-/small}
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
for tool in perf wrk taskset; do
	command -v $tool >/dev/null || { echo "perf.sh: $tool is missing (apt-get install linux-perf wrk)" >&2; exit 1; }
done
CGO_ENABLED=0 go build -o "$work/backend" ./benchmarks/backend
taskset -c 0 "$work/backend" -addr 127.0.0.1:0 -n 2 >"$work/backend.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q ready "$work/backend.out" && break; sleep 0.1; done
mapfile -t backends < <(grep -E '^127\.0\.0\.1:[0-9]+$' "$work/backend.out")
port=$((20000 + RANDOM % 10000))
if [ "$peer" = nginx ]; then
	mkdir -p "$work/tmp"
	cat >"$work/nginx.conf" <<EOF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx.err warn;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path $work/tmp; proxy_temp_path $work/tmp; fastcgi_temp_path $work/tmp;
  uwsgi_temp_path $work/tmp; scgi_temp_path $work/tmp;
  keepalive_timeout 75s; keepalive_requests 100000000;
  upstream b {
    server ${backends[0]}; server ${backends[1]};
    keepalive 256; keepalive_requests 100000000;
  }
  server {
    listen 127.0.0.1:$port deferred;
    location / {
      proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_buffer_size 16k; proxy_buffers 8 16k;
    }
  }
}
EOF
	taskset -c 1 nginx -c "$work/nginx.conf" -g 'daemon off;' >"$work/proxy.log" 2>&1 &
else
	bin=$peer
	if [ -z "$bin" ]; then
		CGO_ENABLED=0 go build -o "$work/sluice" ./cmd/sluice # as make build
		bin=$work/sluice
	fi
	{
		echo "Listen 127.0.0.1:$port"
		echo '<Proxy "balancer://b">'
		for b in "${backends[@]}"; do echo "  BalancerMember \"http://$b\""; done
		echo '</Proxy>'
		echo 'ProxyPass "/" "balancer://b/"'
	} >"$work/sluice.conf"
	GOMAXPROCS=1 taskset -c 1 "$bin" -config "$work/sluice.conf" >"$work/proxy.log" 2>&1 &
fi
proxy=$!
pids+=($proxy)
url=http://127.0.0.1:$port$path
for _ in $(seq 100); do curl -sf -o /dev/null "$url" && break; sleep 0.1; done
taskset -c 0 wrk -t1 -c64 -d2s "$url" >/dev/null # warm pools and caches
procs=$proxy
if children=$(pgrep -d, -P "$proxy"); then # nginx's worker
	procs=$proxy,$children
fi
data=${TMPDIR:-/tmp}/proxy-perf.data
perf record -q -e cpu-clock -F 4000 -g -p "$procs" -o "$data" -- sleep 5 >/dev/null 2>&1 &
rec=$!
taskset -c 0 wrk -t1 -c64 -d5s "$url" | awk '/Requests\/sec/ {print "requests/s: " $2}'
wait $rec || true
perf report -i "$data" --no-children --sort dso -q -g none 2>/dev/null | grep -v '^$' | head -5 || true
echo
perf report -i "$data" --no-children --sort sym -q -g none 2>/dev/null | grep -v '^$' | head -30 || true # head's early exit is no failure
echo
echo "by system call (the kernel's samples under each, with its caller in sluice):"
# A sample's call chain, innermost frame first: the system call is the frame
# under do_syscall_64, its caller the first Go frame of sluice, fasthttp or
# the runtime above the raw-call wrappers. nginx's frames have no symbols.
perf script -i "$data" 2>/dev/null | awk '
BEGIN { RS = ""; FS = "\n" }
{
	total++
	if ($2 !~ /kernel\.kallsyms/) { n["(user space)"]++; next }
	call = ""; who = ""
	for (i = 2; i <= NF; i++) {
		split($i, f, " ")
		sym = f[2]; sub(/\+0x[0-9a-f]+$/, "", sym)
		if (call == "" && sym == "do_syscall_64") {
			call = "(entry and exit)"
			if (i > 2) { split($(i - 1), g, " "); call = g[2]; sub(/\+0x[0-9a-f]+$/, "", call) }
			sub(/^(__x64_sys_|__do_sys_|__sys_|ksys_|do_)/, "", call)
		}
		if (call != "" && $i !~ /kernel\.kallsyms/ && sym ~ /(sluice\/(server|pool)|fasthttp|runtime)\./ && sym !~ /^runtime\.(futex|usleep)/) {
			who = sym; sub(/^github\.com\/(sluiceproxy\/sluice|valyala)\//, "", who); break
		}
	}
	if (call == "") call = "(no system call: interrupts, softirq)"
	n[call (who != "" ? " <- " who : "")]++
}
END { for (k in n) printf "%7.2f%%  %s\n", 100 * n[k] / total, k }' | sort -rn | head -15 || true
echo "perf data: $data"
