/* bench_tcp: TCP over loopback, eddy vs libuv, client and server in one loop per library.
 *
 *   ping-pong : the client writes 64 bytes, the server echoes them, the client writes again
 *               when all 64 came back; N round trips (default 100k). Round trips per second
 *               (wall) and process CPU per round trip (loopback's kernel work runs in the
 *               sending thread, so it is in there too: it is the same for both libraries).
 *   small writes: the client issues 1M eddy_stream_write / uv_write of 64 bytes each, all at
 *               once (one request each, no waiting for callbacks); the server reads and
 *               discards. Wall and CPU time until the server has received all 64 MB and every
 *               write callback ran. The kernel takes what fits in the socket buffer at once;
 *               the rest waits in the library's queue, which eddy sends with sendmsg gathering
 *               many requests and libuv with one write(2) per request.
 *
 * Reads use the loop-shared buffer (eddy) or one static 64 KiB buffer from the alloc callback
 * (libuv). TCP_NODELAY is set on both ends for both libraries.
 *
 * Usage: bench_tcp [--pp=100000] [--writes=1000000] [--reps=5] [--only=pp|writes] */
#include <eddy.h>
#include <uv.h>

#include <arpa/inet.h>

#include "bench_common.h"

#define MSG 64

static char g_msg[MSG];
static long g_target;     /* round trips, or writes */
static long g_count;      /* round trips done, or write callbacks run */
static uint64_t g_total;  /* bytes the sink got */
static int g_mode;        /* 0 ping-pong, 1 small writes */

/* ================================ eddy ======================================================= */

static eddy_loop_t e_loop;
static eddy_tcp_t e_server, e_conn, e_client;
static eddy_connect_t e_connect_req;
static int e_ready;
static eddy_write_t e_pp_req[2][8]; /* ping-pong: a few per side, reused round robin */
static unsigned e_pp_next[2];
static eddy_write_t *e_wreqs;
static uint64_t e_srv_rx, e_cli_rx;

static void e_write_cb(eddy_write_t *req, int status)
{
    if (status < 0) {
        fprintf(stderr, "eddy write: %s\n", eddy_strerror(status));
        exit(1);
    }
    /* The writes mode ends when every byte arrived and every write callback ran, in whichever
     * order the two finish: the last callbacks may come after the last read. */
    if (g_mode == 1 && ++g_count == g_target && g_total == (uint64_t)g_target * MSG)
        eddy_stop(req->handle->handle.loop);
}

static void e_send(eddy_tcp_t *t, int side)
{
    static eddy_buf_t buf;
    buf = eddy_buf_init(g_msg, MSG);
    eddy_write_t *req = &e_pp_req[side][e_pp_next[side]++ % 8];
    BENCH_CHECK(eddy_stream_write(req, &t->stream, &buf, 1, e_write_cb));
}

static void e_close_all(void)
{
    eddy_close(&e_client.stream.handle, NULL);
    eddy_close(&e_conn.stream.handle, NULL);
    eddy_close(&e_server.stream.handle, NULL);
}

static void e_server_read(eddy_stream_t *s, ssize_t n, const eddy_buf_t *buf)
{
    (void)buf;
    if (n < 0) {
        if (n != EDDY_EOF)
            fprintf(stderr, "eddy server read: %s\n", eddy_strerror((int)n));
        return;
    }
    if (g_mode == 0) {
        e_srv_rx += (uint64_t)n;
        while (e_srv_rx >= MSG) { /* echo each whole message */
            e_srv_rx -= MSG;
            e_send(&e_conn, 1);
        }
    } else {
        g_total += (uint64_t)n;
        if (g_total == (uint64_t)g_target * MSG && g_count == g_target)
            eddy_stop(s->handle.loop);
    }
}

static void e_client_read(eddy_stream_t *s, ssize_t n, const eddy_buf_t *buf)
{
    (void)buf;
    if (n < 0)
        return;
    e_cli_rx += (uint64_t)n;
    while (e_cli_rx >= MSG) {
        e_cli_rx -= MSG;
        if (++g_count == g_target) {
            eddy_stop(s->handle.loop);
            return;
        }
        e_send(&e_client, 0);
    }
}

static void e_on_connection(eddy_stream_t *server, int status)
{
    BENCH_CHECK(status);
    BENCH_CHECK(eddy_tcp_init(&e_loop, &e_conn));
    BENCH_CHECK(eddy_tcp_accept(&e_server, &e_conn));
    eddy_tcp_nodelay(&e_conn, 1);
    BENCH_CHECK(eddy_stream_read_start(&e_conn.stream, NULL, e_server_read));
    if (++e_ready == 2)
        eddy_stop(&e_loop);
    (void)server;
}

static void e_on_connect(eddy_connect_t *req, int status)
{
    (void)req;
    BENCH_CHECK(status);
    BENCH_CHECK(eddy_stream_read_start(&e_client.stream, NULL, e_client_read));
    if (++e_ready == 2)
        eddy_stop(&e_loop);
}

static void e_setup(void)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    BENCH_CHECK(eddy_loop_init(&e_loop));
    BENCH_CHECK(eddy_tcp_init(&e_loop, &e_server));
    BENCH_CHECK(eddy_tcp_bind(&e_server, (struct sockaddr *)&addr, 0));
    BENCH_CHECK(eddy_tcp_listen(&e_server, 16, e_on_connection));
    socklen_t len = sizeof addr;
    BENCH_CHECK(eddy_tcp_getsockname(&e_server, (struct sockaddr *)&addr, &len));
    BENCH_CHECK(eddy_tcp_init(&e_loop, &e_client));
    eddy_tcp_nodelay(&e_client, 1);
    e_ready = 0;
    BENCH_CHECK(eddy_tcp_connect(&e_connect_req, &e_client, (struct sockaddr *)&addr, e_on_connect));
    while (e_ready < 2) /* the callbacks stop the loop once both ends are up */
        eddy_run(&e_loop, EDDY_RUN_DEFAULT);
    e_srv_rx = e_cli_rx = 0;
}

static void e_teardown(void)
{
    e_close_all();
    eddy_run(&e_loop, EDDY_RUN_DEFAULT);
    BENCH_CHECK(eddy_loop_close(&e_loop));
}

/* ================================ libuv ====================================================== */

static uv_loop_t u_loop;
static uv_tcp_t u_server, u_conn, u_client;
static uv_connect_t u_connect_req;
static int u_ready;
static uv_write_t u_pp_req[2][8];
static unsigned u_pp_next[2];
static uv_write_t *u_wreqs;
static uint64_t u_srv_rx, u_cli_rx;
static char u_readbuf[64 * 1024];

static void u_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(u_readbuf, sizeof u_readbuf);
}

static void u_write_cb(uv_write_t *req, int status)
{
    if (status < 0) {
        fprintf(stderr, "libuv write: %s\n", uv_strerror(status));
        exit(1);
    }
    if (g_mode == 1 && ++g_count == g_target && g_total == (uint64_t)g_target * MSG)
        uv_stop(req->handle->loop);
}

static void u_send(uv_tcp_t *t, int side)
{
    uv_buf_t buf = uv_buf_init(g_msg, MSG);
    uv_write_t *req = &u_pp_req[side][u_pp_next[side]++ % 8];
    BENCH_CHECK(uv_write(req, (uv_stream_t *)t, &buf, 1, u_write_cb));
}

static void u_server_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    if (n < 0) {
        if (n != UV_EOF)
            fprintf(stderr, "libuv server read: %s\n", uv_strerror((int)n));
        return;
    }
    if (g_mode == 0) {
        u_srv_rx += (uint64_t)n;
        while (u_srv_rx >= MSG) {
            u_srv_rx -= MSG;
            u_send(&u_conn, 1);
        }
    } else {
        g_total += (uint64_t)n;
        if (g_total == (uint64_t)g_target * MSG && g_count == g_target)
            uv_stop(s->loop);
    }
}

static void u_client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    if (n < 0)
        return;
    u_cli_rx += (uint64_t)n;
    while (u_cli_rx >= MSG) {
        u_cli_rx -= MSG;
        if (++g_count == g_target) {
            uv_stop(s->loop);
            return;
        }
        u_send(&u_client, 0);
    }
}

static void u_on_connection(uv_stream_t *server, int status)
{
    (void)server;
    BENCH_CHECK(status);
    BENCH_CHECK(uv_tcp_init(&u_loop, &u_conn));
    BENCH_CHECK(uv_accept((uv_stream_t *)&u_server, (uv_stream_t *)&u_conn));
    uv_tcp_nodelay(&u_conn, 1);
    BENCH_CHECK(uv_read_start((uv_stream_t *)&u_conn, u_alloc, u_server_read));
    if (++u_ready == 2)
        uv_stop(&u_loop);
}

static void u_on_connect(uv_connect_t *req, int status)
{
    (void)req;
    BENCH_CHECK(status);
    BENCH_CHECK(uv_read_start((uv_stream_t *)&u_client, u_alloc, u_client_read));
    if (++u_ready == 2)
        uv_stop(&u_loop);
}

static void u_setup(void)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    BENCH_CHECK(uv_loop_init(&u_loop));
    BENCH_CHECK(uv_tcp_init(&u_loop, &u_server));
    BENCH_CHECK(uv_tcp_bind(&u_server, (struct sockaddr *)&addr, 0));
    BENCH_CHECK(uv_listen((uv_stream_t *)&u_server, 16, u_on_connection));
    int len = sizeof addr;
    BENCH_CHECK(uv_tcp_getsockname(&u_server, (struct sockaddr *)&addr, &len));
    BENCH_CHECK(uv_tcp_init(&u_loop, &u_client));
    uv_tcp_nodelay(&u_client, 1);
    u_ready = 0;
    BENCH_CHECK(uv_tcp_connect(&u_connect_req, &u_client, (struct sockaddr *)&addr, u_on_connect));
    while (u_ready < 2)
        uv_run(&u_loop, UV_RUN_DEFAULT);
    u_srv_rx = u_cli_rx = 0;
}

static void u_teardown(void)
{
    uv_close((uv_handle_t *)&u_client, NULL);
    uv_close((uv_handle_t *)&u_conn, NULL);
    uv_close((uv_handle_t *)&u_server, NULL);
    uv_run(&u_loop, UV_RUN_DEFAULT);
    BENCH_CHECK(uv_loop_close(&u_loop));
}

/* ================================ runs ======================================================= */

typedef struct {
    double wall_ns, cpu_ns; /* per round trip or per write */
} result_t;

static result_t run_side(int eddy, int mode, long n)
{
    g_mode = mode;
    g_target = n;
    g_count = 0;
    g_total = 0;
    if (eddy)
        e_setup();
    else
        u_setup();
    uint64_t w0 = bench_wall_ns(), c0 = bench_proc_cpu_ns();
    if (eddy) {
        if (mode == 0) {
            e_send(&e_client, 0);
        } else {
            eddy_buf_t buf = eddy_buf_init(g_msg, MSG);
            for (long i = 0; i < n; i++) {
                int r = eddy_stream_write(&e_wreqs[i], &e_client.stream, &buf, 1, e_write_cb);
                BENCH_CHECK(r);
            }
        }
        eddy_run(&e_loop, EDDY_RUN_DEFAULT);
    } else {
        if (mode == 0) {
            u_send(&u_client, 0);
        } else {
            uv_buf_t buf = uv_buf_init(g_msg, MSG);
            for (long i = 0; i < n; i++)
                BENCH_CHECK(uv_write(&u_wreqs[i], (uv_stream_t *)&u_client, &buf, 1, u_write_cb));
        }
        uv_run(&u_loop, UV_RUN_DEFAULT);
    }
    uint64_t c1 = bench_proc_cpu_ns(), w1 = bench_wall_ns();
    int ok = mode == 0 ? g_count == n : (g_count == n && g_total == (uint64_t)n * MSG);
    if (!ok) {
        fprintf(stderr, "%s mode %d: count %ld total %llu of %ld\n", eddy ? "eddy" : "libuv", mode,
                g_count, (unsigned long long)g_total, n);
        exit(1);
    }
    if (eddy)
        e_teardown();
    else
        u_teardown();
    return (result_t){(double)(w1 - w0) / (double)n, (double)(c1 - c0) / (double)n};
}

int main(int argc, char **argv)
{
    long pp_n = bench_arg_long(argc, argv, "--pp", 100000);
    long wr_n = bench_arg_long(argc, argv, "--writes", 1000000);
    int reps = (int)bench_arg_long(argc, argv, "--reps", 5);
    int do_pp = !bench_arg_flag(argc, argv, "--only=writes");
    int do_wr = !bench_arg_flag(argc, argv, "--only=pp");
    if (reps < 1 || reps > 64 || pp_n < 1 || wr_n < 1) {
        fprintf(stderr, "usage: %s [--pp=N] [--writes=N] [--reps=1..64] [--only=pp|writes]\n", argv[0]);
        return 2;
    }
    memset(g_msg, 'x', sizeof g_msg);
    if (do_wr) {
        e_wreqs = calloc((size_t)wr_n, sizeof *e_wreqs);
        u_wreqs = calloc((size_t)wr_n, sizeof *u_wreqs);
        if (!e_wreqs || !u_wreqs)
            return 1;
        memset(e_wreqs, 0, (size_t)wr_n * sizeof *e_wreqs);
        memset(u_wreqs, 0, (size_t)wr_n * sizeof *u_wreqs);
    }
    printf("bench_tcp: loopback, %d-byte messages, ping-pong N=%ld, small writes N=%ld\n", MSG,
           pp_n, wr_n);
    fflush(stdout);
    bench_metric_t pp_wall = {"ping-pong wall", "ns/trip", 1, {0}, {0}};
    bench_metric_t pp_cpu = {"ping-pong cpu", "ns/trip", 1, {0}, {0}};
    bench_metric_t wr_wall = {"small writes wall", "ns/write", 1, {0}, {0}};
    bench_metric_t wr_cpu = {"small writes cpu", "ns/write", 1, {0}, {0}};
    for (int rep = 0; rep < reps; rep++) {
        for (int mode = 0; mode < 2; mode++) {
            if ((mode == 0 && !do_pp) || (mode == 1 && !do_wr))
                continue;
            long n = mode == 0 ? pp_n : wr_n;
            result_t e, u;
            if (rep % 2 == 0) {
                e = run_side(1, mode, n);
                u = run_side(0, mode, n);
            } else {
                u = run_side(0, mode, n);
                e = run_side(1, mode, n);
            }
            bench_metric_t *w = mode == 0 ? &pp_wall : &wr_wall, *c = mode == 0 ? &pp_cpu : &wr_cpu;
            w->eddy[rep] = e.wall_ns, w->uv[rep] = u.wall_ns;
            c->eddy[rep] = e.cpu_ns, c->uv[rep] = u.cpu_ns;
            printf("  rep %d %s: eddy %.0f ns (cpu %.0f)  libuv %.0f ns (cpu %.0f)\n", rep,
                   mode == 0 ? "ping-pong  " : "small writes", e.wall_ns, e.cpu_ns, u.wall_ns,
                   u.cpu_ns);
            fflush(stdout);
        }
    }
    bench_table_header("TCP over loopback", reps);
    if (do_pp) {
        bench_table_row(&pp_wall, reps);
        bench_table_row(&pp_cpu, reps);
        double e = bench_median(pp_wall.eddy, reps), u = bench_median(pp_wall.uv, reps);
        printf("  ping-pong: eddy %.0f trips/s, libuv %.0f trips/s, eddy/libuv %.2fx (goal >= 1: %s)\n",
               1e9 / e, 1e9 / u, u / e, u / e >= 1 ? "met" : "missed");
    }
    if (do_wr) {
        bench_table_row(&wr_wall, reps);
        bench_table_row(&wr_cpu, reps);
        double e = bench_median(wr_wall.eddy, reps), u = bench_median(wr_wall.uv, reps);
        printf("  small writes: eddy %.2f M writes/s, libuv %.2f M writes/s, eddy/libuv %.2fx (goal >= 1: %s)\n",
               1e3 / e, 1e3 / u, u / e, u / e >= 1 ? "met" : "missed");
    }
    free(e_wreqs);
    free(u_wreqs);
    return 0;
}
