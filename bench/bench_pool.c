/* bench_pool: the thread pool, eddy_queue_work vs uv_queue_work, both with 4 threads.
 *
 *   round trip : one empty work item in flight at a time; its after-callback queues the next
 *                (N = 200k). Wall ns per round trip = submit + pool thread wake-up + run +
 *                completion hand-off + loop wake-up + after-callback. Process CPU per round
 *                trip is printed too: a pool that spins to save wake-ups pays in CPU.
 *   throughput : 1M empty work items queued at once, then the loop runs until every
 *                after-callback ran. Wall and process CPU (all threads) per item, and items/s.
 *
 * UV_THREADPOOL_SIZE=4 and EDDY_THREADPOOL_SIZE=4 are set before either pool starts; both
 * pools are started (and warmed) before measuring, so thread creation is not measured.
 *
 * Usage: bench_pool [--rt=200000] [--tp=1000000] [--reps=3] [--only=rt|tp] [--lib=eddy|uv] */
#include <eddy.h>
#include <uv.h>

#include "bench_common.h"

static long g_target, g_done;

/* ---- eddy ---------------------------------------------------------------------------------- */

static eddy_loop_t e_loop;

static void e_work(eddy_work_t *req) { (void)req; }

static void e_after_chain(eddy_work_t *req, int status)
{
    (void)status;
    if (++g_done < g_target)
        BENCH_CHECK(eddy_queue_work(&e_loop, req, EDDY_WORK_USER, e_work, e_after_chain));
}

static void e_after_count(eddy_work_t *req, int status)
{
    (void)req;
    (void)status;
    g_done++;
}

/* ---- libuv --------------------------------------------------------------------------------- */

static uv_loop_t u_loop;

static void u_work(uv_work_t *req) { (void)req; }

static void u_after_chain(uv_work_t *req, int status)
{
    (void)status;
    if (++g_done < g_target)
        BENCH_CHECK(uv_queue_work(&u_loop, req, u_work, u_after_chain));
}

static void u_after_count(uv_work_t *req, int status)
{
    (void)req;
    (void)status;
    g_done++;
}

/* ---- runs ---------------------------------------------------------------------------------- */

typedef struct {
    double wall_ns, cpu_ns; /* per item */
} result_t;

static result_t eddy_round_trip(long n)
{
    eddy_work_t req;
    g_target = n;
    g_done = 0;
    uint64_t w0 = bench_wall_ns(), c0 = bench_proc_cpu_ns();
    BENCH_CHECK(eddy_queue_work(&e_loop, &req, EDDY_WORK_USER, e_work, e_after_chain));
    eddy_run(&e_loop, EDDY_RUN_DEFAULT);
    uint64_t c1 = bench_proc_cpu_ns(), w1 = bench_wall_ns();
    if (g_done != n) {
        fprintf(stderr, "eddy round trip: %ld of %ld\n", g_done, n);
        exit(1);
    }
    return (result_t){(double)(w1 - w0) / (double)n, (double)(c1 - c0) / (double)n};
}

static result_t uv_round_trip(long n)
{
    uv_work_t req;
    g_target = n;
    g_done = 0;
    uint64_t w0 = bench_wall_ns(), c0 = bench_proc_cpu_ns();
    BENCH_CHECK(uv_queue_work(&u_loop, &req, u_work, u_after_chain));
    uv_run(&u_loop, UV_RUN_DEFAULT);
    uint64_t c1 = bench_proc_cpu_ns(), w1 = bench_wall_ns();
    if (g_done != n) {
        fprintf(stderr, "libuv round trip: %ld of %ld\n", g_done, n);
        exit(1);
    }
    return (result_t){(double)(w1 - w0) / (double)n, (double)(c1 - c0) / (double)n};
}

static eddy_work_t *e_reqs;
static uv_work_t *u_reqs;

static result_t eddy_throughput(long n)
{
    g_done = 0;
    uint64_t w0 = bench_wall_ns(), c0 = bench_proc_cpu_ns();
    for (long i = 0; i < n; i++)
        BENCH_CHECK(eddy_queue_work(&e_loop, &e_reqs[i], EDDY_WORK_USER, e_work, e_after_count));
    eddy_run(&e_loop, EDDY_RUN_DEFAULT);
    uint64_t c1 = bench_proc_cpu_ns(), w1 = bench_wall_ns();
    if (g_done != n) {
        fprintf(stderr, "eddy throughput: %ld of %ld\n", g_done, n);
        exit(1);
    }
    return (result_t){(double)(w1 - w0) / (double)n, (double)(c1 - c0) / (double)n};
}

static result_t uv_throughput(long n)
{
    g_done = 0;
    uint64_t w0 = bench_wall_ns(), c0 = bench_proc_cpu_ns();
    for (long i = 0; i < n; i++)
        BENCH_CHECK(uv_queue_work(&u_loop, &u_reqs[i], u_work, u_after_count));
    uv_run(&u_loop, UV_RUN_DEFAULT);
    uint64_t c1 = bench_proc_cpu_ns(), w1 = bench_wall_ns();
    if (g_done != n) {
        fprintf(stderr, "libuv throughput: %ld of %ld\n", g_done, n);
        exit(1);
    }
    return (result_t){(double)(w1 - w0) / (double)n, (double)(c1 - c0) / (double)n};
}

int main(int argc, char **argv)
{
    long rt_n = bench_arg_long(argc, argv, "--rt", 200000);
    long tp_n = bench_arg_long(argc, argv, "--tp", 1000000);
    int reps = (int)bench_arg_long(argc, argv, "--reps", 3);
    int do_rt = !bench_arg_flag(argc, argv, "--only=tp");
    int do_tp = !bench_arg_flag(argc, argv, "--only=rt");
    /* --lib=eddy or --lib=uv runs one library only (for strace/perf); the table then shows 0. */
    int lib_e = !bench_arg_flag(argc, argv, "--lib=uv"), lib_u = !bench_arg_flag(argc, argv, "--lib=eddy");
    if (reps < 1 || reps > 64 || rt_n < 1 || tp_n < 1) {
        fprintf(stderr, "usage: %s [--rt=N] [--tp=N] [--reps=1..64] [--only=rt|tp]\n", argv[0]);
        return 2;
    }
    setenv("UV_THREADPOOL_SIZE", "4", 1);
    setenv("EDDY_THREADPOOL_SIZE", "4", 1);
    BENCH_CHECK(eddy_loop_init(&e_loop));
    BENCH_CHECK(uv_loop_init(&u_loop));
    e_reqs = calloc((size_t)tp_n, sizeof *e_reqs);
    u_reqs = calloc((size_t)tp_n, sizeof *u_reqs);
    if (!e_reqs || !u_reqs) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    /* Touch the request arrays now so page faults are charged to neither library. */
    memset(e_reqs, 0, (size_t)tp_n * sizeof *e_reqs);
    memset(u_reqs, 0, (size_t)tp_n * sizeof *u_reqs);

    /* Start both pools and warm them up. */
    if (lib_e) {
        eddy_round_trip(1000);
        eddy_throughput(tp_n < 10000 ? tp_n : 10000);
    }
    if (lib_u) {
        uv_round_trip(1000);
        uv_throughput(tp_n < 10000 ? tp_n : 10000);
    }
    printf("bench_pool: 4 pool threads each (eddy_pool_size()=%u), %d CPUs online, "
           "round trip N=%ld, throughput N=%ld\n",
           eddy_pool_size(), (int)sysconf(_SC_NPROCESSORS_ONLN), rt_n, tp_n);
    fflush(stdout);

    bench_metric_t rt_wall = {"round trip wall", "ns/trip", 1, {0}, {0}};
    bench_metric_t rt_cpu = {"round trip cpu (all thr.)", "ns/trip", 1, {0}, {0}};
    bench_metric_t tp_wall = {"throughput wall", "ns/item", 1, {0}, {0}};
    bench_metric_t tp_cpu = {"throughput cpu (all thr.)", "ns/item", 1, {0}, {0}};
    for (int rep = 0; rep < reps; rep++) {
        if (do_rt) {
            result_t e, u;
            if (rep % 2 == 0) {
                e = lib_e ? eddy_round_trip(rt_n) : (result_t){0, 0};
                u = lib_u ? uv_round_trip(rt_n) : (result_t){0, 0};
            } else {
                u = lib_u ? uv_round_trip(rt_n) : (result_t){0, 0};
                e = lib_e ? eddy_round_trip(rt_n) : (result_t){0, 0};
            }
            rt_wall.eddy[rep] = e.wall_ns, rt_wall.uv[rep] = u.wall_ns;
            rt_cpu.eddy[rep] = e.cpu_ns, rt_cpu.uv[rep] = u.cpu_ns;
            printf("  rep %d round trip: eddy %.0f ns (cpu %.0f)  libuv %.0f ns (cpu %.0f)\n", rep,
                   e.wall_ns, e.cpu_ns, u.wall_ns, u.cpu_ns);
        }
        if (do_tp) {
            result_t e, u;
            if (rep % 2 == 0) {
                e = lib_e ? eddy_throughput(tp_n) : (result_t){0, 0};
                u = lib_u ? uv_throughput(tp_n) : (result_t){0, 0};
            } else {
                u = lib_u ? uv_throughput(tp_n) : (result_t){0, 0};
                e = lib_e ? eddy_throughput(tp_n) : (result_t){0, 0};
            }
            tp_wall.eddy[rep] = e.wall_ns, tp_wall.uv[rep] = u.wall_ns;
            tp_cpu.eddy[rep] = e.cpu_ns, tp_cpu.uv[rep] = u.cpu_ns;
            printf("  rep %d throughput: eddy %.0f ns/item (cpu %.0f)  libuv %.0f ns/item (cpu %.0f)\n",
                   rep, e.wall_ns, e.cpu_ns, u.wall_ns, u.cpu_ns);
        }
        fflush(stdout);
    }

    bench_table_header("thread pool, 4 threads", reps);
    if (do_rt) {
        bench_table_row(&rt_wall, reps);
        bench_table_row(&rt_cpu, reps);
    }
    if (do_tp) {
        bench_table_row(&tp_wall, reps);
        bench_table_row(&tp_cpu, reps);
        double e = bench_median(tp_wall.eddy, reps), u = bench_median(tp_wall.uv, reps);
        printf("  throughput: eddy %.2f M items/s, libuv %.2f M items/s, eddy/libuv %.2fx (goal >= 2x: %s)\n",
               1e3 / e, 1e3 / u, u / e, u / e >= 2 ? "met" : "missed");
    }
    if (do_rt) {
        double r = bench_median(rt_wall.eddy, reps) / bench_median(rt_wall.uv, reps);
        printf("  round trip: eddy/libuv %.2fx (goal <= 0.5x: %s)\n", r, r <= 0.5 ? "met" : "missed");
    }
    free(e_reqs);
    free(u_reqs);
    return 0;
}
