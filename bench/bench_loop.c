/* bench_loop: the cost of one loop iteration that has nothing to do, eddy vs libuv.
 *
 *   idle   : an idle handle whose callback counts to N; eddy_run/uv_run(DEFAULT) iterates
 *            with a zero poll timeout until the callback stops the handle. Measures one whole
 *            iteration (clock read, every phase, the zero-timeout poll).
 *   nowait : run(NOWAIT) called N times by the program while a far-away timer keeps the loop
 *            alive: the same iteration plus the run call's entry and exit.
 *   immediate: (eddy) an immediate that re-queues itself N times vs (libuv) the closest
 *            equivalent, an idle + check pair whose check callback counts (libuv has no
 *            setImmediate; Node builds it from exactly that pair). One Node-style setImmediate
 *            chain step per iteration.
 *
 * Each mode also runs with an extra descriptor watched by the poller (an async handle's
 * eventfd that never fires, "+fd"), as any real program has sockets. Both libraries call
 * epoll_wait(timeout 0) once per iteration either way (libuv 1.44 always watches its own
 * thread-pool eventfd), so the syscall (~100 ns here) is the floor of every row.
 *
 * Usage: bench_loop [--n=3000000] [--reps=5] */
#include <eddy.h>
#include <uv.h>

#include <sys/eventfd.h>
#include <unistd.h>

#include "bench_common.h"

static long g_n, g_count;

/* ---- eddy ---------------------------------------------------------------------------------- */

static void e_idle_cb(eddy_idle_t *idle)
{
    if (++g_count == g_n)
        eddy_idle_stop(idle);
}

static void e_imm_cb(eddy_immediate_t *imm)
{
    if (++g_count < g_n)
        eddy_immediate_start(imm, e_imm_cb);
}

static void e_timer_cb(eddy_timer_t *t) { (void)t; }

static void e_fd_cb(eddy_async_t *a) { (void)a; }

static void e_close_cb(eddy_handle_t *h) { (void)h; }

/* Returns thread CPU ns per iteration. */
static double eddyside_once(int mode, int with_fd)
{
    eddy_loop_t loop;
    BENCH_CHECK(eddy_loop_init(&loop));
    eddy_async_t fd_handle; /* an eventfd in the epoll set that never fires */
    if (with_fd) {
        BENCH_CHECK(eddy_async_init(&loop, &fd_handle, e_fd_cb));
        eddy_unref(&fd_handle.handle);
    }
    g_count = 0;
    uint64_t c0 = 0, c1 = 0;
    if (mode == 0) {
        eddy_idle_t idle;
        eddy_idle_init(&loop, &idle);
        eddy_idle_start(&idle, e_idle_cb);
        c0 = bench_thread_cpu_ns();
        eddy_run(&loop, EDDY_RUN_DEFAULT);
        c1 = bench_thread_cpu_ns();
        eddy_close(&idle.handle, e_close_cb);
    } else if (mode == 1) {
        eddy_timer_t t;
        eddy_timer_init(&loop, &t);
        eddy_timer_start(&t, e_timer_cb, 3600 * 1000, 0);
        c0 = bench_thread_cpu_ns();
        for (long i = 0; i < g_n; i++)
            eddy_run(&loop, EDDY_RUN_NOWAIT);
        c1 = bench_thread_cpu_ns();
        g_count = g_n;
        eddy_close(&t.handle, e_close_cb);
    } else {
        eddy_immediate_t imm;
        eddy_immediate_init(&loop, &imm);
        eddy_immediate_start(&imm, e_imm_cb);
        c0 = bench_thread_cpu_ns();
        eddy_run(&loop, EDDY_RUN_DEFAULT);
        c1 = bench_thread_cpu_ns();
        eddy_close(&imm.handle, e_close_cb);
    }
    if (with_fd)
        eddy_close(&fd_handle.handle, e_close_cb);
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    BENCH_CHECK(eddy_loop_close(&loop));
    if (g_count != g_n) {
        fprintf(stderr, "eddy: counted %ld of %ld\n", g_count, g_n);
        exit(1);
    }
    return (double)(c1 - c0) / (double)g_n;
}

/* ---- libuv --------------------------------------------------------------------------------- */

static void u_idle_cb(uv_idle_t *idle)
{
    if (++g_count == g_n)
        uv_idle_stop(idle);
}

static uv_idle_t u_imm_idle;

static void u_noop_idle_cb(uv_idle_t *idle) { (void)idle; }

static void u_check_cb(uv_check_t *check)
{
    if (++g_count == g_n) {
        uv_check_stop(check);
        uv_idle_stop(&u_imm_idle);
    }
}

static void u_timer_cb(uv_timer_t *t) { (void)t; }

static void u_fd_cb(uv_async_t *a) { (void)a; }

static double libuv_once(int mode, int with_fd)
{
    uv_loop_t loop;
    BENCH_CHECK(uv_loop_init(&loop));
    uv_async_t fd_handle;
    if (with_fd) {
        BENCH_CHECK(uv_async_init(&loop, &fd_handle, u_fd_cb));
        uv_unref((uv_handle_t *)&fd_handle);
    }
    g_count = 0;
    uint64_t c0 = 0, c1 = 0;
    if (mode == 0) {
        uv_idle_t idle;
        uv_idle_init(&loop, &idle);
        uv_idle_start(&idle, u_idle_cb);
        c0 = bench_thread_cpu_ns();
        uv_run(&loop, UV_RUN_DEFAULT);
        c1 = bench_thread_cpu_ns();
        uv_close((uv_handle_t *)&idle, NULL);
    } else if (mode == 1) {
        uv_timer_t t;
        uv_timer_init(&loop, &t);
        uv_timer_start(&t, u_timer_cb, 3600 * 1000, 0);
        c0 = bench_thread_cpu_ns();
        for (long i = 0; i < g_n; i++)
            uv_run(&loop, UV_RUN_NOWAIT);
        c1 = bench_thread_cpu_ns();
        g_count = g_n;
        uv_close((uv_handle_t *)&t, NULL);
    } else {
        uv_check_t check;
        uv_idle_init(&loop, &u_imm_idle);
        uv_idle_start(&u_imm_idle, u_noop_idle_cb);
        uv_check_init(&loop, &check);
        uv_check_start(&check, u_check_cb);
        c0 = bench_thread_cpu_ns();
        uv_run(&loop, UV_RUN_DEFAULT);
        c1 = bench_thread_cpu_ns();
        uv_close((uv_handle_t *)&check, NULL);
        uv_close((uv_handle_t *)&u_imm_idle, NULL);
    }
    if (with_fd)
        uv_close((uv_handle_t *)&fd_handle, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    BENCH_CHECK(uv_loop_close(&loop));
    if (g_count != g_n) {
        fprintf(stderr, "libuv: counted %ld of %ld\n", g_count, g_n);
        exit(1);
    }
    return (double)(c1 - c0) / (double)g_n;
}

int main(int argc, char **argv)
{
    g_n = bench_arg_long(argc, argv, "--n", 3000000);
    int reps = (int)bench_arg_long(argc, argv, "--reps", 5);
    if (reps < 1 || reps > 64 || g_n < 1) {
        fprintf(stderr, "usage: %s [--n=N] [--reps=1..64]\n", argv[0]);
        return 2;
    }
    static const char *names[] = {"idle, RUN_DEFAULT", "run(NOWAIT) calls", "immediate chain"};
    bench_metric_t m[6];
    memset(m, 0, sizeof m);
    for (int mode = 0; mode < 3; mode++) {
        for (int fd = 0; fd < 2; fd++) {
            bench_metric_t *x = &m[mode * 2 + fd];
            static char label[6][64];
            snprintf(label[mode * 2 + fd], sizeof label[0], "%s%s", names[mode], fd ? " +fd" : "");
            x->name = label[mode * 2 + fd];
            x->unit = "ns/iter";
            x->lower_is_better = 1;
        }
    }
    printf("bench_loop: %ld iterations per run, thread CPU time per empty iteration\n", g_n);
    for (int rep = 0; rep < reps; rep++) {
        for (int i = 0; i < 6; i++) {
            int mode = i / 2, fd = i % 2;
            if (rep % 2 == 0) {
                m[i].eddy[rep] = eddyside_once(mode, fd);
                m[i].uv[rep] = libuv_once(mode, fd);
            } else {
                m[i].uv[rep] = libuv_once(mode, fd);
                m[i].eddy[rep] = eddyside_once(mode, fd);
            }
        }
    }
    bench_table_header("empty loop iteration (thread CPU)", reps);
    for (int i = 0; i < 6; i++)
        bench_table_row(&m[i], reps);
    int met = 1;
    for (int i = 1; i < 6; i += 2)
        if (bench_median(m[i].eddy, reps) > bench_median(m[i].uv, reps))
            met = 0;
    printf("  goal eddy <= libuv per iteration (like-for-like +fd rows): %s\n", met ? "met" : "missed");
    return 0;
}
