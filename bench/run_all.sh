#!/usr/bin/env bash
# Runs every built benchmark program in sequence and prints their tables.
#   bash bench/run_all.sh BUILD_DIR [extra args passed to every program]
#   BENCH_PROGRAMS="bench_pbkdf2" bash bench/run_all.sh BUILD_DIR   (only those programs)
# Each program compares eddy with a peer in the same run (libuv; Node for bench_pbkdf2, which
# runs eddy alone without node on PATH), alternating, median of several repetitions, and is
# bounded in time (about a minute at most; a hard limit stops a runaway).
set -u
build=${1:-build}
shift || true
dir="$build/bench"
if [ ! -d "$dir" ]; then
    echo "run_all: no $dir (configure with -DEDDY_BENCH=ON and build first)" >&2
    exit 2
fi
echo "eddy benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(uname -r), libuv $(pkg-config --modversion libuv 2>/dev/null || echo '?')"
status=0
for prog in ${BENCH_PROGRAMS:-bench_timers bench_loop bench_pool bench_tcp bench_idle_conns bench_fs bench_pbkdf2}; do
    exe="$dir/$prog"
    if [ ! -x "$exe" ]; then
        echo "== $prog: not built, skipped"
        continue
    fi
    echo
    echo "== $prog"
    start=$(date +%s)
    timeout --kill-after=10 180 "$exe" "$@"
    rc=$?
    echo "== $prog: exit $rc, $(( $(date +%s) - start )) s"
    [ $rc -ne 0 ] && status=1
done
exit $status
