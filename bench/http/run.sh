#!/usr/bin/env bash
# The HTTP benchmark driver: eddy's hello_server against Node, nginx and two floors, with wrk.
#
#     bash bench/http/run.sh BUILD_DIR [plaintext|pipeline|c10k|all]
#
# BUILD_DIR is a build configured with -DEDDY_BENCH=ON (examples/hello_server and
# bench/http/floor_*); floors missing from it are compiled into a temp dir with cc.
# Environment: ROUNDS (3), DURATION_S (8, plaintext and pipeline), C10K_DURATION_S (10).
#
# Method. The server runs on core 0 (taskset -c 0), wrk on core 1 with one thread. Each round
# runs every server of the scenario once, in alternating order (forward, then backward), each
# on a fresh process with a 1 s warm-up that is not measured, so drift on a shared machine
# falls on every server alike. For every measured run the driver reads the server's CPU time
# (utime+stime of the process and its children, from /proc/PID/stat) before and after wrk,
# and divides by the requests wrk counted. Medians over the rounds are reported, with ratios.
set -u

BUILD=${1:?usage: run.sh BUILD_DIR [plaintext|pipeline|c10k|all]}
SCENARIO=${2:-all}
ROUNDS=${ROUNDS:-3}
DURATION_S=${DURATION_S:-8}
C10K_DURATION_S=${C10K_DURATION_S:-10}
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$(cd "$BUILD" && pwd) || exit 2
TICK_HZ=$(getconf CLK_TCK)
TMP=$(mktemp -d /tmp/eddy-hbench.XXXXXX)
RESULTS=$TMP/results.tsv
SERVER_PID=""

case $SCENARIO in plaintext | pipeline | c10k | all) ;; *)
    echo "unknown scenario '$SCENARIO' (plaintext|pipeline|c10k|all)" >&2
    exit 2
    ;;
esac

cleanup() {
    [ -n "$SERVER_PID" ] && stop_server
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# C10k needs 10,000 client and 10,000 server descriptors: take the hard limit (servers and wrk
# inherit it; the floors also raise it themselves).
ulimit -n "$(ulimit -Hn)" 2>/dev/null
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 10100 ]; then
    echo "warning: ulimit -n is $(ulimit -n): the c10k scenario needs > 10,100" >&2
fi

# ---- programs --------------------------------------------------------------------------------

HELLO=$BUILD/examples/hello_server
FLOOR_EPOLL=$BUILD/bench/http/floor_epoll
FLOOR_UV=$BUILD/bench/http/floor_libuv_timer
if [ ! -x "$HELLO" ]; then
    echo "missing $HELLO: build with -DEDDY_EXAMPLES=ON (the default)" >&2
    exit 2
fi
if [ ! -x "$FLOOR_EPOLL" ]; then
    FLOOR_EPOLL=$TMP/floor_epoll
    cc -O2 "$HERE/floor_epoll.c" -o "$FLOOR_EPOLL" || exit 2
fi
if [ ! -x "$FLOOR_UV" ]; then
    FLOOR_UV=$TMP/floor_libuv_timer
    # shellcheck disable=SC2046
    cc -O2 "$HERE/floor_libuv_timer.c" -o "$FLOOR_UV" $(pkg-config --cflags --libs libuv) || exit 2
fi
for tool in wrk node nginx taskset curl; do
    command -v $tool >/dev/null || { echo "missing $tool" >&2; exit 2; }
done

# ---- servers ---------------------------------------------------------------------------------

# A free loopback port: random, and not listed by ss as listening.
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
    cat >"$dir/nginx.conf" <<EOF
$user
worker_processes 1;
worker_rlimit_nofile 20000;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events {
    worker_connections 20000;
}
http {
    access_log off;
    default_type text/plain;
    keepalive_requests 100000;
    keepalive_timeout 65s;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    scgi_temp_path $dir/tmp/scgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    server {
        listen 127.0.0.1:$port;
        location / {
            return 200 "Hello World\n";
        }
    }
}
EOF
}

# start_server NAME DELAY_MS: sets SERVER_PID and PORT; the server runs on core 0.
start_server() {
    local name=$1 delay=$2
    PORT=$(free_port)
    local log=$TMP/$name.log
    case $name in
    eddy) taskset -c 0 "$HELLO" --port "$PORT" --delay-ms "$delay" >"$log" 2>&1 & ;;
    node) taskset -c 0 node "$HERE/node_hello.js" "$PORT" "$delay" >"$log" 2>&1 & ;;
    floor_epoll) taskset -c 0 "$FLOOR_EPOLL" --port "$PORT" >"$log" 2>&1 & ;;
    floor_libuv) taskset -c 0 "$FLOOR_UV" --port "$PORT" --delay-ms "$delay" >"$log" 2>&1 & ;;
    nginx)
        local dir=$TMP/nginx-$PORT
        mkdir -p "$dir"
        nginx_conf "$dir" "$PORT"
        taskset -c 0 nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' \
            >"$log" 2>&1 &
        ;;
    esac
    SERVER_PID=$!
    for _ in $(seq 100); do
        curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/" && return 0
        sleep 0.05
    done
    echo "$name did not start; its log:" >&2
    cat "$log" >&2
    stop_server
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

# CPU ticks (utime+stime) of a process and its live children (nginx's worker).
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

# Busy ticks of both cores (everything but idle and iowait), from /proc/stat: what the server and
# wrk did not use of it is other tenants of the machine, which the report shows.
busy_ticks() {
    awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}

# Peak resident set (VmHWM, KiB) of a process and its children, the largest of them.
peak_rss_kb() {
    local best=0 p v
    for p in $1 $(pgrep -P "$1"); do
        v=$(awk '/^VmHWM:/ {print $2}' "/proc/$p/status" 2>/dev/null)
        [ -n "$v" ] && [ "$v" -gt "$best" ] && best=$v
    done
    echo "$best"
}

# ---- one measured run ------------------------------------------------------------------------

# Converts wrk's "12.34ms" / "850.00us" / "1.20s" to milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /m$/) n *= 60000;
        else if (v ~ /s$/) n *= 1000
        printf "%.3f", n }'
}

# measure SCENARIO NAME ROUND WRK_ARGS...: appends one line to $RESULTS.
measure() {
    local scen=$1 name=$2 round=$3
    shift 3
    local out=$TMP/wrk-$scen-$name-$round.txt
    local before after
    local t0 t1 wrk_cpu
    local busy0 busy1
    before=$(cpu_ticks "$SERVER_PID")
    busy0=$(busy_ticks)
    t0=$(date +%s.%N)
    # bash's time keyword gives wrk's own CPU time: near 100% of the run, wrk is the limit.
    (
        TIMEFORMAT='%U %S'
        time taskset -c 1 wrk "$@" "http://127.0.0.1:$PORT/" >"$out" 2>&1
    ) 2>"$out.time"
    t1=$(date +%s.%N)
    busy1=$(busy_ticks)
    after=$(cpu_ticks "$SERVER_PID")
    wrk_cpu=$(awk '{ print $1 + $2 }' "$out.time")
    local rss reqs rps p99 errs timeouts non2xx cpu_us
    rss=$(peak_rss_kb "$SERVER_PID")
    reqs=$(awk '/requests in/ {print $1}' "$out")
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
    p99=$(awk '$1 == "99%" {print $2}' "$out")
    p99=$([ -n "$p99" ] && to_ms "$p99" || echo NA)
    read -r errs timeouts < <(awk '/Socket errors:/ {
        gsub(",", ""); print $4 + $6 + $8, $10; found = 1 } END { if (!found) print 0, 0 }' "$out")
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$out")
    errs=$((errs + ${non2xx:-0}))
    if [ -z "$reqs" ] || [ "$reqs" = 0 ]; then
        echo "  $name: wrk reported no requests:" >&2
        cat "$out" >&2
        return 1
    fi
    local srv_pct wrk_pct
    cpu_us=$(awk -v t=$((after - before)) -v hz="$TICK_HZ" -v n="$reqs" \
        'BEGIN { printf "%.3f", t * 1e6 / hz / n }')
    srv_pct=$(awk -v t=$((after - before)) -v hz="$TICK_HZ" -v a="$t0" -v b="$t1" \
        'BEGIN { printf "%.0f", t / hz / (b - a) * 100 }')
    wrk_pct=$(awk -v c="$wrk_cpu" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", c / (b - a) * 100 }')
    local other_pct
    other_pct=$(awk -v t=$((busy1 - busy0)) -v hz="$TICK_HZ" -v a="$t0" -v b="$t1" -v s="$srv_pct" \
        -v w="$wrk_pct" 'BEGIN { o = t / hz / (b - a) * 100 - s - w; printf "%.0f", o < 0 ? 0 : o }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$scen" "$name" "$round" "$rps" \
        "$reqs" "$cpu_us" "$p99" "$errs" "$timeouts" "$rss" "$srv_pct" "$wrk_pct" "$other_pct" \
        >>"$RESULTS"
    printf '  round %d %-12s %9.0f req/s %7.2f us CPU/req  CPU%%: server %3s wrk %3s others %3s' \
        "$round" "$name" "$rps" "$cpu_us" "$srv_pct" "$wrk_pct" "$other_pct"
    if [ "$scen" = c10k ]; then
        printf '  p99 %s ms  errors %s  timeouts %s  peak RSS %s KiB' "$p99" "$errs" "$timeouts" "$rss"
    fi
    echo
}

# run_scenario SCEN DELAY_MS "SERVERS" WRK_ARGS...: ROUNDS rounds in alternating order.
run_scenario() {
    local scen=$1 delay=$2 servers=$3
    shift 3
    local order list round name
    read -r -a list <<<"$servers"
    echo "== $scen: wrk $* (servers on core 0, wrk on core 1)"
    for round in $(seq "$ROUNDS"); do
        if [ $((round % 2)) = 1 ]; then order=("${list[@]}"); else
            order=()
            for ((i = ${#list[@]} - 1; i >= 0; i--)); do order+=("${list[$i]}"); done
        fi
        for name in "${order[@]}"; do
            start_server "$name" "$delay" || continue
            # Warm-up (Node's JIT, caches, free lists), not measured.
            taskset -c 1 wrk -t1 -c100 -d1s "http://127.0.0.1:$PORT/" >/dev/null 2>&1
            measure "$scen" "$name" "$round" "$@"
            stop_server
            sleep 1
        done
    done
}

# ---- the report ------------------------------------------------------------------------------

# median SCEN NAME COLUMN (4 rps, 6 cpu, 7 p99, 10 rss, 11 server CPU %, 12 wrk CPU %, 13 CPU %
# used by other processes (of 200); 8 and 9,
# errors and timeouts, are summed by total).
median() {
    awk -F'\t' -v s="$1" -v n="$2" -v c="$3" '$1 == s && $2 == n && $c != "NA" { print $c }' \
        "$RESULTS" | sort -g | awk '{ v[NR] = $1 }
        END { if (NR == 0) print "NA"; else if (NR % 2) print v[(NR + 1) / 2];
              else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
total() {
    awk -F'\t' -v s="$1" -v n="$2" -v c="$3" '$1 == s && $2 == n { t += $c } END { print t + 0 }' \
        "$RESULTS"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "NA" || b == "NA" || b == 0) print "NA";
                                          else printf "%.2f", a / b }'; }
# goal LABEL VALUE OP LIMIT: prints MET/MISSED for VALUE OP LIMIT (OP is >= or <=).
goal() {
    local verdict
    verdict=$(awk -v v="$2" -v op="$3" -v l="$4" 'BEGIN {
        if (v == "NA") { print "n/a"; exit }
        ok = (op == ">=") ? (v >= l) : (v <= l); print ok ? "MET" : "MISSED" }')
    printf '  %-52s %8s %s %-6s %s\n' "$1" "$2" "$3" "$4" "$verdict"
}

report_throughput() { # SCEN "SERVERS"
    local scen=$1 name
    echo
    echo "-- $scen: medians of $ROUNDS rounds"
    printf '  %-12s %10s %11s %8s %8s %7s %9s %9s %10s %10s\n' server "req/s" "CPU us/req" \
        "srv CPU" "wrk CPU" others "rps/node" "cpu/node" "cpu/nginx" "cpu/floor"
    local n_rps n_cpu x_cpu f_cpu
    n_rps=$(median "$scen" node 4); n_cpu=$(median "$scen" node 6)
    x_cpu=$(median "$scen" nginx 6); f_cpu=$(median "$scen" floor_epoll 6)
    for name in $2; do
        local rps cpu
        rps=$(median "$scen" "$name" 4); cpu=$(median "$scen" "$name" 6)
        printf '  %-12s %10.0f %11.3f %7s%% %7s%% %6s%% %9s %9s %10s %10s\n' "$name" "$rps" "$cpu" \
            "$(median "$scen" "$name" 11)" "$(median "$scen" "$name" 12)" \
            "$(median "$scen" "$name" 13)" \
            "$(ratio "$rps" "$n_rps")" "$(ratio "$cpu" "$n_cpu")" "$(ratio "$cpu" "$x_cpu")" \
            "$(ratio "$cpu" "$f_cpu")"
    done
    local e_rps e_cpu
    e_rps=$(median "$scen" eddy 4); e_cpu=$(median "$scen" eddy 6)
    echo "  goals:"
    if [ "$scen" = plaintext ]; then
        goal "req/s eddy/node" "$(ratio "$e_rps" "$n_rps")" ">=" 1.6
        goal "req/s eddy/nginx" "$(ratio "$e_rps" "$(median "$scen" nginx 4)")" ">=" 1.0
        goal "CPU/request eddy/node" "$(ratio "$e_cpu" "$n_cpu")" "<=" 0.5
        goal "CPU/request eddy/floor_epoll" "$(ratio "$e_cpu" "$f_cpu")" "<=" 1.15
    else
        goal "req/s eddy/node (pipelined)" "$(ratio "$e_rps" "$n_rps")" ">=" 12
        echo "  (wrk on one core caps the measured req/s; requests per server CPU-second," \
            "eddy/node = $(ratio "$n_cpu" "$e_cpu"))"
        echo "  (no CPU goal for pipelining; for reference:" \
            "CPU/request eddy/floor_epoll $(ratio "$e_cpu" "$f_cpu")," \
            "eddy/nginx $(ratio "$e_cpu" "$x_cpu"))"
    fi
}

report_c10k() {
    local scen=c10k name
    echo
    echo "-- c10k: medians of $ROUNDS rounds (errors and timeouts: totals over the rounds)"
    printf '  %-12s %9s %9s %11s %8s %8s %7s %7s %9s %13s\n' server "req/s" "p99 ms" "CPU us/req" \
        "srv CPU" "wrk CPU" others errors timeouts "peak RSS KiB"
    for name in eddy floor_libuv node; do
        printf '  %-12s %9.0f %9s %11s %7s%% %7s%% %6s%% %7s %9s %13s\n' "$name" \
            "$(median $scen "$name" 4)" "$(median $scen "$name" 7)" "$(median $scen "$name" 6)" \
            "$(median $scen "$name" 11)" "$(median $scen "$name" 12)" \
            "$(median $scen "$name" 13)" "$(total $scen "$name" 8)" \
            "$(total $scen "$name" 9)" "$(median $scen "$name" 10)"
    done
    echo "  (ceiling: 10,000 connections / 100 ms = 100,000 req/s)"
    local e_rps f_rps n_rps
    e_rps=$(median $scen eddy 4); f_rps=$(median $scen floor_libuv 4); n_rps=$(median $scen node 4)
    echo "  goals:"
    goal "req/s eddy/floor_libuv" "$(ratio "$e_rps" "$f_rps")" ">=" 0.95
    goal "p99 eddy/floor_libuv" "$(ratio "$(median $scen eddy 7)" "$(median $scen floor_libuv 7)")" \
        "<=" 1.15
    goal "timeouts eddy (total)" "$(total $scen eddy 9)" "<=" 0
    goal "req/s eddy/node" "$(ratio "$e_rps" "$n_rps")" ">=" 3.5
    goal "peak RSS eddy/node" "$(ratio "$(median $scen eddy 10)" "$(median $scen node 10)")" "<=" 0.1
}

# ---- main ------------------------------------------------------------------------------------

echo "eddy HTTP benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "wrk $(wrk -v 2>&1 | awk 'NR==1 {print $2}'), node $(node -v), $(nginx -v 2>&1 | cut -d' ' -f3)," \
    "rounds $ROUNDS, ${DURATION_S}s per plaintext/pipeline run, ${C10K_DURATION_S}s per c10k run"
: >"$RESULTS"
PLAIN_SERVERS="eddy node nginx floor_epoll"
if [ "$SCENARIO" = plaintext ] || [ "$SCENARIO" = all ]; then
    run_scenario plaintext 0 "$PLAIN_SERVERS" -t1 -c100 -d"${DURATION_S}s"
fi
if [ "$SCENARIO" = pipeline ] || [ "$SCENARIO" = all ]; then
    run_scenario pipeline 0 "$PLAIN_SERVERS" -t1 -c100 -d"${DURATION_S}s" -s "$HERE/pipeline.lua"
fi
if [ "$SCENARIO" = c10k ] || [ "$SCENARIO" = all ]; then
    run_scenario c10k 100 "eddy floor_libuv node" -t1 -c10000 -d"${C10K_DURATION_S}s" \
        --timeout 5s --latency
fi

echo
echo "==== results ($(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg))"
grep -q '^plaintext' "$RESULTS" && report_throughput plaintext "$PLAIN_SERVERS"
grep -q '^pipeline' "$RESULTS" && report_throughput pipeline "$PLAIN_SERVERS"
grep -q '^c10k' "$RESULTS" && report_c10k
others=$(awk -F'\t' '{ print $13 }' "$RESULTS" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] + 0 }')
if [ "$others" -gt 15 ]; then
    echo
    echo "note: other processes used a median of $others% of the 200% the two cores have during the"
    echo "runs: req/s and latency are contended; CPU us/request is the figure that holds up."
fi
exit 0
