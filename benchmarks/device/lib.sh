# Shared by diag.sh and variants.sh (sourced, not run), on the 16-core machine after
# prepare.sh: four single-core backends on cores 8-11, wrk on 12-15 (keep-alive GET /small,
# 5 s a run), one proxy at a time on the cores a run names. Each run prints one line: req/s,
# p99, the proxy's CPU from /proc (user and system, % of one core), CPU per request and
# context switches per request. Lines are appended to $OUT/$LOG.
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
: "${OUT:=$(mktemp -d)}" "${LOG:=diag.txt}"
B=$(pwd)/.devbench; tck=$(getconf CLK_TCK 2>/dev/null || echo 100)
work=$(mktemp -d); pids=()
[ -f .devbin/bins.tar.xz ] && [ ! -x .devbin/sluice ] && tar xJf .devbin/bins.tar.xz -C .devbin
trap 'for p in "${pids[@]}"; do kill $p 2>/dev/null; done; wait 2>/dev/null' EXIT
ups=127.0.0.1:21001,127.0.0.1:21002,127.0.0.1:21003,127.0.0.1:21004
for i in 0 1 2 3; do
  GOMAXPROCS=1 taskset -c $((8+i)) .devbin/backend -addr 127.0.0.1:$((21001+i)) >/dev/null 2>&1 & pids+=($!)
done
cat > "$work/s.conf" <<SL
Listen 127.0.0.1:20082
<Proxy "balancer://b">
  BalancerMember "http://127.0.0.1:21001"
  BalancerMember "http://127.0.0.1:21002"
  BalancerMember "http://127.0.0.1:21003"
  BalancerMember "http://127.0.0.1:21004"
</Proxy>
ProxyPass "/" "balancer://b/"
SL
sleep 1
nproc; grep -m1 'model name' /proc/cpuinfo

cpu() { awk '{print $14+$15, $14, $15}' "/proc/$1/stat"; }
kids() { cat /proc/[0-9]*/stat 2>/dev/null | awk -v pp="$1" '$4==pp {s+=$14+$15} END {print s+0}'; }
csw() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {s+=$2} END {print s+0}'; }
load() { taskset -c 12-15 "$B/run" wrk -t4 -c"$1" -d5s --latency "http://127.0.0.1:$2/small" 2>&1; }

# go_run LABEL CORES GOMAXPROCS CONNS PORT CMD...: one run of a Go proxy.
go_run() {
  local label=$1 cores=$2 gmp=$3 c=$4 port=$5; shift 5
  GOMAXPROCS=$gmp taskset -c "$cores" "$@" >"$work/p.log" 2>&1 & local p=$!; sleep 1
  kill -0 $p 2>/dev/null || { echo "$label did not start"; tail -3 "$work/p.log"; return; }
  local c0 u0 s0 c1 u1 s1 x0 x1 r th
  read -r c0 u0 s0 < <(cpu $p); x0=$(csw $p)
  r=$(load "$c" "$port")
  read -r c1 u1 s1 < <(cpu $p); x1=$(csw $p); th=$(ls /proc/$p/task | wc -l)
  kill $p; wait $p 2>/dev/null
  awk -v l="$label" -v co="$cores" -v g="$gmp" -v c="$c" -v t="$tck" -v th="$th" \
    -v rps="$(awk '/Requests\/sec/ {print $2}' <<<"$r")" -v p99="$(awk '$1=="99%" {print $2}' <<<"$r")" \
    -v n="$(awk '/requests in/ {print $1}' <<<"$r")" -v cu=$((c1-c0)) -v uu=$((u1-u0)) -v ss=$((s1-s0)) -v x=$((x1-x0)) 'BEGIN {
    printf "%-16s cores=%-4s gmp=%-2s conns=%-3s rps=%-9s p99=%-8s cpu=%4.0f%% (usr %4.0f sys %4.0f) us/req=%5.2f csw/req=%.2f threads=%d\n",
      l, co, g, c, rps, p99, cu/t/5*100, uu/t/5*100, ss/t/5*100, (n>0?cu/t*1e6/n:0), (n>0?x/n:0), th }' | tee -a "$OUT/$LOG"
}
# sl CORES GOMAXPROCS CONNS [BINARY]: sluice (by default .devbin/sluice) over the four backends.
sl() { go_run "$(basename "${4:-sluice}")" "$1" "$2" "$3" 20082 "${4:-.devbin/sluice}" -config "$work/s.conf"; }
naive() { go_run naive "$1" "$2" "$3" 20083 .devbin/naive -addr 127.0.0.1:20083 -backends $ups; }
# nginx CORES WORKERS: its workers' CPU is summed from the master's children.
nginx() {
  cat > "$work/nginx.conf" <<NG
worker_processes $2; worker_cpu_affinity auto; pid $work/nginx.pid; error_log $work/nginx.err;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path $work/cb; proxy_temp_path $work/pt; fastcgi_temp_path $work/ft; uwsgi_temp_path $work/ut; scgi_temp_path $work/st;
  upstream b { server 127.0.0.1:21001; server 127.0.0.1:21002; server 127.0.0.1:21003; server 127.0.0.1:21004; keepalive 256; }
  server { listen 127.0.0.1:20084 reuseport; location / { proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
NG
  taskset -c "$1" "$B/run" nginx -p "$work" -c "$work/nginx.conf" -g 'daemon off;' >"$work/nginx.log" 2>&1 & local p=$!; sleep 1
  local c0 c1 r n; c0=$(kids $p); r=$(load 256 20084); c1=$(kids $p)
  kill $p; wait $p 2>/dev/null
  n=$(awk '/requests in/ {print $1}' <<<"$r")
  awk -v co="$1" -v t="$tck" -v n="$n" -v cu=$((c1-c0)) -v rps="$(awk '/Requests\/sec/ {print $2}' <<<"$r")" \
    -v p99="$(awk '$1=="99%" {print $2}' <<<"$r")" 'BEGIN {
    printf "nginx            cores=%-4s gmp=-  conns=256 rps=%-9s p99=%-8s cpu=%4.0f%% us/req=%5.2f\n", co, rps, p99, cu/t/5*100, (n>0?cu/t*1e6/n:0) }' | tee -a "$OUT/$LOG"
}
