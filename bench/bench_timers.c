/* bench_timers: the "million timers" workload (libuv's benchmark-million-timers shape).
 *
 * N timers (default 10M) are initialised and started one after another; the timeout grows by
 * 1 ms every 1000 timers (1 ms for the first 1000, 2 ms for the next 1000, ...), so 1000
 * timers fall due per millisecond. Then the loop runs until every timer has fired, and last
 * every timer is closed. For eddy and for libuv, in the same process, this reports the CPU
 * time per timer of
 *   insert   : init + start of all N timers,
 *   dispatch : running the loop until all N callbacks ran (CPU only: the loop sleeps between
 *              due times, that wall time is the workload's, not the library's),
 *   close    : close of all N (stopped) timers plus the loop run that finishes the closes.
 *
 * Both loops are loaded at once and dispatched interleaved (one RUN_ONCE of each in turn,
 * each call's thread CPU time added to its library), so one repetition costs ~N/1M seconds of
 * wall time for both libraries together instead of twice that.
 *
 * --drain instead sleeps until every timer is due and then runs each loop to completion: the
 * same heap work without the per-millisecond wake-ups (deterministic; used for profiling).
 *
 * Usage: bench_timers [--n=10000000] [--reps=3] [--drain] [--only=eddy|uv] */
#include <eddy.h>
#include <uv.h>

#include <unistd.h>

#include "bench_common.h"

static long g_eddy_fired, g_uv_fired;

static void eddy_cb(eddy_timer_t *t)
{
    (void)t;
    g_eddy_fired++;
}

static void uv_cb(uv_timer_t *t)
{
    (void)t;
    g_uv_fired++;
}

enum { M_INSERT, M_DISPATCH, M_CLOSE, M_INSERT_WALL, M_COUNT };

int main(int argc, char **argv)
{
    long n = bench_arg_long(argc, argv, "--n", 10000000);
    int reps = (int)bench_arg_long(argc, argv, "--reps", 3);
    int drain = bench_arg_flag(argc, argv, "--drain");
    int do_eddy = !bench_arg_flag(argc, argv, "--only=uv");
    int do_uv = !bench_arg_flag(argc, argv, "--only=eddy");
    if (reps < 1 || reps > 64 || n < 1000) {
        fprintf(stderr, "usage: %s [--n=N>=1000] [--reps=1..64] [--drain] [--only=eddy|uv]\n", argv[0]);
        return 2;
    }

    eddy_timer_t *et = do_eddy ? malloc((size_t)n * sizeof *et) : NULL;
    uv_timer_t *ut = do_uv ? malloc((size_t)n * sizeof *ut) : NULL;
    if ((do_eddy && !et) || (do_uv && !ut)) {
        fprintf(stderr, "out of memory for %ld timers\n", n);
        return 1;
    }
    /* Fault the handle memory in now, so page faults are charged to neither library. */
    if (et)
        memset(et, 0, (size_t)n * sizeof *et);
    if (ut)
        memset(ut, 0, (size_t)n * sizeof *ut);

    bench_metric_t m[M_COUNT] = {
        [M_INSERT] = {"insert (init+start) cpu", "ns/timer", 1, {0}, {0}},
        [M_DISPATCH] = {"dispatch (run) cpu", "ns/timer", 1, {0}, {0}},
        [M_CLOSE] = {"close cpu", "ns/timer", 1, {0}, {0}},
        [M_INSERT_WALL] = {"insert wall", "ns/timer", 1, {0}, {0}},
    };

    printf("bench_timers: %ld timers, 1000 due per ms, %s dispatch, sizeof eddy_timer_t=%zu "
           "uv_timer_t=%zu\n",
           n, drain ? "drain" : "interleaved RUN_ONCE", sizeof(eddy_timer_t), sizeof(uv_timer_t));
    fflush(stdout);

    for (int rep = 0; rep < reps; rep++) {
        eddy_loop_t eloop;
        uv_loop_t uloop;
        if (do_eddy)
            BENCH_CHECK(eddy_loop_init(&eloop));
        if (do_uv)
            BENCH_CHECK(uv_loop_init(&uloop));
        g_eddy_fired = g_uv_fired = 0;

        /* insert, alternating which library goes first */
        for (int k = 0; k < 2; k++) {
            int side_eddy = (k == 0) == (rep % 2 == 0);
            if (side_eddy && do_eddy) {
                long f0 = bench_minflt();
                uint64_t w0 = bench_wall_ns(), c0 = bench_thread_cpu_ns();
                uint64_t timeout = 0;
                for (long i = 0; i < n; i++) {
                    if (i % 1000 == 0)
                        timeout++;
                    eddy_timer_init(&eloop, &et[i]);
                    eddy_timer_start(&et[i], eddy_cb, timeout, 0);
                }
                uint64_t c1 = bench_thread_cpu_ns(), w1 = bench_wall_ns();
                m[M_INSERT].eddy[rep] = (double)(c1 - c0) / (double)n;
                if (getenv("BENCH_VERBOSE"))
                    fprintf(stderr, "eddy insert minflt %ld\n", bench_minflt() - f0);
                m[M_INSERT_WALL].eddy[rep] = (double)(w1 - w0) / (double)n;
            } else if (!side_eddy && do_uv) {
                uint64_t w0 = bench_wall_ns(), c0 = bench_thread_cpu_ns();
                uint64_t timeout = 0;
                for (long i = 0; i < n; i++) {
                    if (i % 1000 == 0)
                        timeout++;
                    uv_timer_init(&uloop, &ut[i]);
                    uv_timer_start(&ut[i], uv_cb, timeout, 0);
                }
                uint64_t c1 = bench_thread_cpu_ns(), w1 = bench_wall_ns();
                m[M_INSERT].uv[rep] = (double)(c1 - c0) / (double)n;
                m[M_INSERT_WALL].uv[rep] = (double)(w1 - w0) / (double)n;
            }
        }

        /* dispatch */
        uint64_t ecpu = 0, ucpu = 0;
        if (drain) {
            /* the last timer is due n/1000 ms after its loop's start time; sleep past both */
            uint64_t due_ms = (uint64_t)(n / 1000) + 2;
            if (do_eddy) {
                uint64_t left = eddy_now(&eloop) + due_ms;
                eddy_update_time(&eloop);
                if (eddy_now(&eloop) < left)
                    usleep((useconds_t)((left - eddy_now(&eloop)) * 1000));
            }
            if (do_uv) {
                uint64_t left = uv_now(&uloop) + due_ms;
                uv_update_time(&uloop);
                if (uv_now(&uloop) < left)
                    usleep((useconds_t)((left - uv_now(&uloop)) * 1000));
            }
            for (int k = 0; k < 2; k++) {
                int side_eddy = (k == 0) == (rep % 2 == 0);
                uint64_t c0 = bench_thread_cpu_ns();
                if (side_eddy && do_eddy) {
                    eddy_run(&eloop, EDDY_RUN_DEFAULT);
                    ecpu = bench_thread_cpu_ns() - c0;
                } else if (!side_eddy && do_uv) {
                    uv_run(&uloop, UV_RUN_DEFAULT);
                    ucpu = bench_thread_cpu_ns() - c0;
                }
            }
        } else {
            int ealive = do_eddy, ualive = do_uv;
            while (ealive || ualive) {
                for (int k = 0; k < 2; k++) {
                    int side_eddy = (k == 0) == (rep % 2 == 0);
                    if (side_eddy && ealive) {
                        uint64_t c0 = bench_thread_cpu_ns();
                        ealive = eddy_run(&eloop, EDDY_RUN_ONCE);
                        ecpu += bench_thread_cpu_ns() - c0;
                    } else if (!side_eddy && ualive) {
                        uint64_t c0 = bench_thread_cpu_ns();
                        ualive = uv_run(&uloop, UV_RUN_ONCE);
                        ucpu += bench_thread_cpu_ns() - c0;
                    }
                }
            }
        }
        if ((do_eddy && g_eddy_fired != n) || (do_uv && g_uv_fired != n)) {
            fprintf(stderr, "fired eddy=%ld uv=%ld, expected %ld\n", g_eddy_fired, g_uv_fired, n);
            return 1;
        }
        m[M_DISPATCH].eddy[rep] = (double)ecpu / (double)n;
        m[M_DISPATCH].uv[rep] = (double)ucpu / (double)n;

        /* close */
        for (int k = 0; k < 2; k++) {
            int side_eddy = (k == 0) == (rep % 2 == 0);
            if (side_eddy && do_eddy) {
                uint64_t c0 = bench_thread_cpu_ns();
                for (long i = 0; i < n; i++)
                    eddy_close(&et[i].handle, NULL);
                eddy_run(&eloop, EDDY_RUN_DEFAULT);
                m[M_CLOSE].eddy[rep] = (double)(bench_thread_cpu_ns() - c0) / (double)n;
                BENCH_CHECK(eddy_loop_close(&eloop));
            } else if (!side_eddy && do_uv) {
                uint64_t c0 = bench_thread_cpu_ns();
                for (long i = 0; i < n; i++)
                    uv_close((uv_handle_t *)&ut[i], NULL);
                uv_run(&uloop, UV_RUN_DEFAULT);
                m[M_CLOSE].uv[rep] = (double)(bench_thread_cpu_ns() - c0) / (double)n;
                BENCH_CHECK(uv_loop_close(&uloop));
            }
        }
        printf("  rep %d: insert cpu eddy %.1f uv %.1f | dispatch cpu eddy %.1f uv %.1f | close "
               "cpu eddy %.1f uv %.1f  (ns/timer)\n",
               rep, m[M_INSERT].eddy[rep], m[M_INSERT].uv[rep], m[M_DISPATCH].eddy[rep],
               m[M_DISPATCH].uv[rep], m[M_CLOSE].eddy[rep], m[M_CLOSE].uv[rep]);
        fflush(stdout);
    }

    bench_table_header("million timers", reps);
    for (int i = 0; i < M_COUNT; i++)
        bench_table_row(&m[i], reps);
    double ins = bench_median(m[M_INSERT].eddy, reps) / bench_median(m[M_INSERT].uv, reps);
    double dis = bench_median(m[M_DISPATCH].eddy, reps) / bench_median(m[M_DISPATCH].uv, reps);
    double tot_e = bench_median(m[M_INSERT].eddy, reps) + bench_median(m[M_DISPATCH].eddy, reps);
    double tot_u = bench_median(m[M_INSERT].uv, reps) + bench_median(m[M_DISPATCH].uv, reps);
    printf("  insert+dispatch cpu: eddy %.1f ns/timer, libuv %.1f ns/timer, ratio %.2fx (goal <= 0.50x)\n",
           tot_e, tot_u, tot_u > 0 ? tot_e / tot_u : 0);
    printf("  goal insert <= 0.5x: %s (%.2fx); dispatch <= 0.5x: %s (%.2fx)\n",
           ins <= 0.5 ? "met" : "missed", ins, dis <= 0.5 ? "met" : "missed", dis);
    free(et);
    free(ut);
    return 0;
}
