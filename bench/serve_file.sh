#!/usr/bin/env bash
# Serving one big file: eddy (eddy_http_static, plain), Node (createReadStream().pipe(res)) and
# nginx (one worker, sendfile on), each to 10 concurrent curl downloads over loopback.
#
#   bash bench/serve_file.sh [BUILD_DIR]     (default build-fsb; needs bench/serve_file_eddy)
#   ROUNDS=5 CLIENTS=10 SIZE_MIB=1024 bash bench/serve_file.sh build-fsb
#
# Method. A 1 GiB file of real zeros is written once to /tmp/eddy-serve-file/big.bin (and is then
# page-cached). Each round starts each server afresh (order rotated every round), pinned to core 0
# (taskset -c 0; Node's pool threads and nginx's worker inherit it), and runs CLIENTS
# `curl -s -o /dev/null` downloads of the file at once on core 1, no Accept-Encoding. The wall
# time from the first curl's start to the last one's end gives the aggregate throughput
# (CLIENTS x size / time, MB = 10^6 bytes); every curl must have received the whole file. The
# server's CPU time (utime+stime of it and its children) and its peak RSS (VmHWM, the largest of
# the process and its children) are read before it is stopped. Reported: medians over rounds,
# and the largest VmHWM seen.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
BUILD=${1:-$ROOT/build-fsb}
ROUNDS=${ROUNDS:-5}
CLIENTS=${CLIENTS:-10}
SIZE_MIB=${SIZE_MIB:-1024}
EDDY_SRV=$BUILD/bench/serve_file_eddy
DIR=/tmp/eddy-serve-file
FILE=$DIR/big.bin
TMP=$(mktemp -d /tmp/serve-file-bench.XXXXXX)
TICK_HZ=$(getconf CLK_TCK)
SERVER_PID=""

[ -x "$EDDY_SRV" ] || { echo "missing $EDDY_SRV (build with -DEDDY_BENCH=ON)" >&2; exit 2; }
for tool in node nginx curl taskset; do
    command -v $tool >/dev/null || { echo "missing $tool" >&2; exit 2; }
done
cleanup() { [ -n "$SERVER_PID" ] && stop_server; rm -rf "$TMP"; }
trap cleanup EXIT

mkdir -p "$DIR"
SIZE=$((SIZE_MIB * 1024 * 1024))
if [ "$(stat -c %s "$FILE" 2>/dev/null)" != "$SIZE" ]; then
    echo "writing $FILE ($SIZE_MIB MiB of zeros)"
    dd if=/dev/zero of="$FILE" bs=1M count="$SIZE_MIB" status=none || exit 2
fi
cat "$FILE" >/dev/null # into the page cache

free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 12000))
        ss -Htln "sport = :$p" 2>/dev/null | grep -q . || { echo $p; return; }
    done
}

nginx_conf() { # dir port
    local dir=$1 port=$2 user=""
    [ "$(id -u)" = 0 ] && user="user root;"
    mkdir -p "$dir/tmp"
    cat >"$dir/nginx.conf" <<CONF
$user
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    default_type application/octet-stream;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    scgi_temp_path $dir/tmp/scgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    server {
        listen 127.0.0.1:$port;
        root $DIR;
    }
}
CONF
}

start_server() { # NAME: sets SERVER_PID and PORT
    local name=$1 log=$TMP/$1.log
    PORT=$(free_port)
    case $name in
    eddy) taskset -c 0 "$EDDY_SRV" --port "$PORT" --dir "$DIR" >"$log" 2>&1 & ;;
    node) taskset -c 0 node "$HERE/fs.js" serve "$FILE" "$PORT" >"$log" 2>&1 & ;;
    nginx)
        local d=$TMP/nginx-$PORT
        mkdir -p "$d"
        nginx_conf "$d" "$PORT"
        taskset -c 0 nginx -e "$d/error.log" -p "$d" -c "$d/nginx.conf" -g 'daemon off;' >"$log" 2>&1 &
        ;;
    esac
    SERVER_PID=$!
    for _ in $(seq 100); do
        ss -Htln "sport = :$PORT" 2>/dev/null | grep -q . && { sleep 0.1; return 0; }
        sleep 0.05
    done
    echo "$name did not start:" >&2
    cat "$log" >&2
    return 1
}

stop_server() {
    kill -TERM "$SERVER_PID" 2>/dev/null
    for _ in $(seq 50); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=""
}

cpu_ticks() {
    local total=0 p s
    for p in $1 $(pgrep -P "$1"); do
        s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        s=${s##*) }
        # shellcheck disable=SC2086
        set -- $s
        total=$((total + ${12} + ${13}))
    done
    echo $total
}

peak_rss_kb() {
    local best=0 p v
    for p in $1 $(pgrep -P "$1"); do
        v=$(awk '/^VmHWM:/ {print $2}' "/proc/$p/status" 2>/dev/null)
        [ -n "$v" ] && [ "$v" -gt "$best" ] && best=$v
    done
    echo "$best"
}

# TCP retransmitted segments and retransmission timeouts so far (all of the host: loopback too).
tcp_ctr() {
    awk '$1 == "Tcp:" && $2 ~ /^[0-9]/ { for (i = 1; i <= NF; i++) if (h[i] == "RetransSegs") r = $i }
         $1 == "Tcp:" && $2 !~ /^[0-9]/ { for (i = 1; i <= NF; i++) h[i] = $i }
         $1 == "TcpExt:" && $2 !~ /^[0-9]/ { for (i = 1; i <= NF; i++) x[i] = $i }
         $1 == "TcpExt:" && $2 ~ /^[0-9]/ { for (i = 1; i <= NF; i++) if (x[i] == "TCPTimeouts") t = $i }
         END { print r + 0, t + 0 }' /proc/net/snmp /proc/net/netstat
}

RESULTS=$TMP/results.tsv
: >"$RESULTS"

run_one() { # NAME ROUND
    local name=$1 round=$2 t0 t1 c0 c1 i bad=0
    start_server "$name" || return 1
    local rt0 to0 rt1 to1
    read -r rt0 to0 < <(tcp_ctr)
    c0=$(cpu_ticks "$SERVER_PID")
    t0=$(date +%s.%N)
    for i in $(seq "$CLIENTS"); do
        taskset -c 1 curl -s -o /dev/null -w '%{http_code} %{size_download} %{time_total}\n' \
            "http://127.0.0.1:$PORT/big.bin" >"$TMP/curl-$i.txt" &
    done
    # shellcheck disable=SC2046 # one word per job id
    wait $(jobs -p | grep -vx "$SERVER_PID")
    t1=$(date +%s.%N)
    c1=$(cpu_ticks "$SERVER_PID")
    read -r rt1 to1 < <(tcp_ctr)
    local rss
    rss=$(peak_rss_kb "$SERVER_PID")
    local code got tt tmin=999999 tmax=0
    for i in $(seq "$CLIENTS"); do
        read -r code got tt <"$TMP/curl-$i.txt"
        [ "$code" = 200 ] && [ "$got" = "$SIZE" ] || bad=$((bad + 1))
        tmin=$(awk -v a="$tmin" -v b="${tt:-0}" 'BEGIN { print (b < a ? b : a) }')
        tmax=$(awk -v a="$tmax" -v b="${tt:-0}" 'BEGIN { print (b > a ? b : a) }')
    done
    stop_server
    local mbs cpu_s
    mbs=$(awk -v n="$CLIENTS" -v s="$SIZE" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n * s / (b - a) / 1e6 }')
    cpu_s=$(awk -v t=$((c1 - c0)) -v hz="$TICK_HZ" 'BEGIN { printf "%.2f", t / hz }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$round" "$mbs" "$cpu_s" "$rss" "$bad" >>"$RESULTS"
    printf '  round %d %-6s %6s MB/s  %5.2f s  server CPU %6s s  peak RSS %7s KiB  per-client %s..%s s  tcp retrans %s RTOs %s  failed %s\n' \
        "$round" "$name" "$mbs" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$cpu_s" "$rss" "$tmin" "$tmax" "$((rt1 - rt0))" "$((to1 - to0))" "$bad"
}

median() { # NAME COLUMN
    awk -F'\t' -v n="$1" -v c="$2" '$1 == n { print $c }' "$RESULTS" | sort -n |
        awk '{ v[NR] = $1 } END { if (NR == 0) print "NA"; else if (NR % 2) print v[(NR + 1) / 2];
              else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
maxcol() { awk -F'\t' -v n="$1" -v c="$2" '$1 == n && $c > m { m = $c } END { print m + 0 }' "$RESULTS"; }

echo "serve_file: $CLIENTS x $SIZE_MIB MiB over loopback, $ROUNDS rounds; servers on core 0, curl on core 1"
echo "node $(node -v), $(nginx -v 2>&1 | cut -d' ' -f3), $(curl --version | head -1 | cut -d' ' -f1-2), $(uname -r)"
SERVERS=(eddy node nginx)
for round in $(seq "$ROUNDS"); do
    for k in 0 1 2; do
        run_one "${SERVERS[$(((round - 1 + k) % 3))]}" "$round"
    done
done

echo
printf '%-6s %12s %14s %16s %18s %8s\n' server "MB/s (med)" "CPU s (med)" "CPU ms/GiB sent" "peak RSS KiB (max)" failed
for n in "${SERVERS[@]}"; do
    mbs=$(median $n 3); cpu=$(median $n 4); rss=$(maxcol $n 5); bad=$(awk -F'\t' -v n=$n '$1 == n { s += $6 } END { print s + 0 }' "$RESULTS")
    printf '%-6s %12s %14s %16s %18s %8s\n' $n "$mbs" "$cpu" \
        "$(awk -v c="$cpu" -v n="$CLIENTS" -v m="$SIZE_MIB" 'BEGIN { printf "%.1f", c * 1000 / (n * m / 1024) }')" "$rss" "$bad"
done
e=$(median eddy 3); x=$(median nginx 3); er=$(maxcol eddy 5); nr=$(maxcol node 5)
echo
awk -v e="$e" -v x="$x" 'BEGIN { printf "goal: eddy throughput >= nginx: %.2fx -> %s\n", e / x, (e >= x ? "met" : "MISSED") }'
awk -v e="$er" -v n="$nr" 'BEGIN { printf "goal: eddy peak RSS <= 1/10 of Node: %s vs %s KiB = 1/%.1f -> %s\n", e, n, n / e, (e * 10 <= n ? "met" : "MISSED") }'
