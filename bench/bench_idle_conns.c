/* bench_idle_conns: user-space memory per idle TCP connection, eddy vs libuv.
 *
 * For each library a server process (forked) listens on loopback, holds N (default 10,000)
 * accepted connections, each in a malloc'd handle (eddy_tcp_t / uv_tcp_t) with reading
 * started (eddy: the loop-shared read buffer; libuv: an alloc callback returning one static
 * buffer), and no data ever arrives. A client process (forked too, plain blocking sockets)
 * opens the N connections and holds them. The server reads its resident set size
 * (/proc/self/statm) after the listener is up and before the first connection, and again once
 * all N are accepted and the loop has been idle for 300 ms; (after - before) / N is the user
 * space cost of one idle connection: the handle, its malloc overhead, and whatever the library
 * keeps per descriptor (libuv: its fd-indexed watcher array). The heap bytes in use
 * (mallinfo2) are printed too, without page rounding.
 *
 * Not counted: the kernel's memory for each socket and its epoll registration (struct sock,
 * buffers, epitem: a few KiB per connection), which is not user-space RSS and is the same for
 * both libraries.
 *
 * Usage: bench_idle_conns [--n=10000] [--reps=3]   (raises RLIMIT_NOFILE soft to hard) */
#include <eddy.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_common.h"

static long g_n;
static long g_accepted;
static int g_report_fd; /* server -> parent */

struct report {
    long rss_before, rss_after;   /* bytes */
    long heap_before, heap_after; /* bytes in use (mallinfo2) */
    long accepted;
    int port;
};

static long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * sysconf(_SC_PAGESIZE);
}

static long heap_bytes(void)
{
    struct mallinfo2 mi = mallinfo2();
    return (long)(mi.uordblks + mi.hblkhd);
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            _exit(3);
        c += w;
        n -= (size_t)w;
    }
}

static int read_all(int fd, void *p, size_t n)
{
    char *c = p;
    while (n > 0) {
        ssize_t r = read(fd, c, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

static struct report g_rep;

/* ================================ eddy server ================================================ */

static eddy_tcp_t e_listener;
static eddy_timer_t e_settle;

static void e_read(eddy_stream_t *s, ssize_t n, const eddy_buf_t *buf)
{
    (void)s;
    (void)n;
    (void)buf; /* never called: the connections stay idle */
}

static void e_settled(eddy_timer_t *t)
{
    g_rep.rss_after = rss_bytes();
    g_rep.heap_after = heap_bytes();
    g_rep.accepted = g_accepted;
    write_all(g_report_fd, &g_rep, sizeof g_rep);
    eddy_stop(t->handle.loop);
}

static void e_on_connection(eddy_stream_t *server, int status)
{
    (void)server;
    if (status < 0) {
        fprintf(stderr, "eddy accept: %s\n", eddy_strerror(status));
        return;
    }
    eddy_tcp_t *c = malloc(sizeof *c);
    if (c == NULL || eddy_tcp_init(e_listener.stream.handle.loop, c) != 0 ||
        eddy_tcp_accept(&e_listener, c) != 0 || eddy_stream_read_start(&c->stream, NULL, e_read) != 0) {
        fprintf(stderr, "eddy: connection setup failed\n");
        _exit(1);
    }
    if (++g_accepted == g_n)
        eddy_timer_start(&e_settle, e_settled, 300, 0);
}

static void eddy_server(int listen_port_fd)
{
    static eddy_loop_t loop;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    BENCH_CHECK(eddy_loop_init(&loop));
    BENCH_CHECK(eddy_tcp_init(&loop, &e_listener));
    BENCH_CHECK(eddy_tcp_bind(&e_listener, (struct sockaddr *)&addr, 0));
    BENCH_CHECK(eddy_tcp_listen(&e_listener, 4096, e_on_connection));
    socklen_t len = sizeof addr;
    BENCH_CHECK(eddy_tcp_getsockname(&e_listener, (struct sockaddr *)&addr, &len));
    eddy_timer_init(&loop, &e_settle);
    eddy_run(&loop, EDDY_RUN_NOWAIT);
    g_rep.port = ntohs(addr.sin_port);
    g_rep.rss_before = rss_bytes();
    g_rep.heap_before = heap_bytes();
    write_all(listen_port_fd, &g_rep.port, sizeof g_rep.port);
    eddy_run(&loop, EDDY_RUN_DEFAULT);
}

/* ================================ libuv server =============================================== */

static uv_tcp_t u_listener;
static uv_timer_t u_settle;
static char u_buf[64 * 1024];

static void u_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(u_buf, sizeof u_buf);
}

static void u_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)s;
    (void)n;
    (void)buf;
}

static void u_settled(uv_timer_t *t)
{
    g_rep.rss_after = rss_bytes();
    g_rep.heap_after = heap_bytes();
    g_rep.accepted = g_accepted;
    write_all(g_report_fd, &g_rep, sizeof g_rep);
    uv_stop(t->loop);
}

static void u_on_connection(uv_stream_t *server, int status)
{
    if (status < 0) {
        fprintf(stderr, "libuv accept: %s\n", uv_strerror(status));
        return;
    }
    uv_tcp_t *c = malloc(sizeof *c);
    if (c == NULL || uv_tcp_init(server->loop, c) != 0 || uv_accept(server, (uv_stream_t *)c) != 0 ||
        uv_read_start((uv_stream_t *)c, u_alloc, u_read) != 0) {
        fprintf(stderr, "libuv: connection setup failed\n");
        _exit(1);
    }
    if (++g_accepted == g_n)
        uv_timer_start(&u_settle, u_settled, 300, 0);
}

static void uv_server(int listen_port_fd)
{
    static uv_loop_t loop;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    BENCH_CHECK(uv_loop_init(&loop));
    BENCH_CHECK(uv_tcp_init(&loop, &u_listener));
    BENCH_CHECK(uv_tcp_bind(&u_listener, (struct sockaddr *)&addr, 0));
    BENCH_CHECK(uv_listen((uv_stream_t *)&u_listener, 4096, u_on_connection));
    int len = sizeof addr;
    BENCH_CHECK(uv_tcp_getsockname(&u_listener, (struct sockaddr *)&addr, &len));
    uv_timer_init(&loop, &u_settle);
    uv_run(&loop, UV_RUN_NOWAIT);
    g_rep.port = ntohs(addr.sin_port);
    g_rep.rss_before = rss_bytes();
    g_rep.heap_before = heap_bytes();
    write_all(listen_port_fd, &g_rep.port, sizeof g_rep.port);
    uv_run(&loop, UV_RUN_DEFAULT);
}

/* ================================ client and driver ========================================== */

/* Opens n connections to port and holds them until stdin-like fd `hold` closes. */
static void client(int port, int done_fd, int hold_fd)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct linger lg = {1, 0}; /* close with RST: no TIME_WAIT left behind between runs */
    for (long i = 0; i < g_n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            perror("client socket");
            _exit(1);
        }
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        while (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
            if (errno != EINTR) {
                perror("client connect");
                _exit(1);
            }
        }
    }
    char c = 1;
    write_all(done_fd, &c, 1);
    read_all(hold_fd, &c, 1); /* returns when the parent closes its end */
    _exit(0);
}

/* One measurement: returns bytes per connection (RSS and heap). */
static int measure(int eddy, double *rss_per, double *heap_per)
{
    int rep_pipe[2], hold_pipe[2], done_pipe[2];
    if (pipe(rep_pipe) || pipe(hold_pipe) || pipe(done_pipe)) {
        perror("pipe");
        return -1;
    }
    fflush(stdout);
    pid_t srv = fork();
    if (srv == 0) {
        close(rep_pipe[0]);
        close(hold_pipe[1]); /* else the server would hold its own hold pipe open */
        close(done_pipe[0]);
        close(done_pipe[1]);
        g_report_fd = rep_pipe[1];
        if (eddy)
            eddy_server(rep_pipe[1]);
        else
            uv_server(rep_pipe[1]);
        char c;
        read_all(hold_pipe[0], &c, 1);
        _exit(0);
    }
    close(rep_pipe[1]);
    int port = 0;
    if (read_all(rep_pipe[0], &port, sizeof port) != 0) {
        fprintf(stderr, "server did not start\n");
        return -1;
    }
    pid_t cli = fork();
    if (cli == 0) {
        close(rep_pipe[0]);
        close(hold_pipe[1]);
        close(done_pipe[0]);
        client(port, done_pipe[1], hold_pipe[0]);
    }
    close(hold_pipe[0]);
    close(done_pipe[1]);
    struct report r;
    int rc = read_all(rep_pipe[0], &r, sizeof r);
    char c;
    read_all(done_pipe[0], &c, 1);
    close(hold_pipe[1]); /* both children exit now */
    waitpid(srv, NULL, 0);
    waitpid(cli, NULL, 0);
    close(rep_pipe[0]);
    close(done_pipe[0]);
    if (rc != 0 || r.accepted != g_n) {
        fprintf(stderr, "%s server: no report\n", eddy ? "eddy" : "libuv");
        return -1;
    }
    *rss_per = (double)(r.rss_after - r.rss_before) / (double)g_n;
    *heap_per = (double)(r.heap_after - r.heap_before) / (double)g_n;
    printf("    %-5s RSS %ld -> %ld KiB, heap in use %ld -> %ld KiB\n", eddy ? "eddy" : "libuv",
           r.rss_before / 1024, r.rss_after / 1024, r.heap_before / 1024, r.heap_after / 1024);
    return 0;
}

int main(int argc, char **argv)
{
    g_n = bench_arg_long(argc, argv, "--n", 10000);
    int reps = (int)bench_arg_long(argc, argv, "--reps", 3);
    if (reps < 1 || reps > 64 || g_n < 1) {
        fprintf(stderr, "usage: %s [--n=N] [--reps=1..64]\n", argv[0]);
        return 2;
    }
    raise_nofile();
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if ((long)rl.rlim_cur < g_n + 64) {
        fprintf(stderr, "RLIMIT_NOFILE is %ld, need %ld per process\n", (long)rl.rlim_cur, g_n + 64);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    printf("bench_idle_conns: %ld idle connections, server and client in separate processes; "
           "sizeof eddy_tcp_t=%zu uv_tcp_t=%zu\n",
           g_n, sizeof(eddy_tcp_t), sizeof(uv_tcp_t));
    bench_metric_t rss = {"RSS per idle connection", "bytes", 1, {0}, {0}};
    bench_metric_t heap = {"heap per idle connection", "bytes", 1, {0}, {0}};
    for (int rep = 0; rep < reps; rep++) {
        printf("  rep %d\n", rep);
        for (int k = 0; k < 2; k++) {
            int eddy = (k == 0) == (rep % 2 == 0);
            double r, h;
            if (measure(eddy, &r, &h) != 0)
                return 1;
            (eddy ? rss.eddy : rss.uv)[rep] = r;
            (eddy ? heap.eddy : heap.uv)[rep] = h;
        }
    }
    bench_table_header("idle TCP connections, user-space memory (kernel socket memory not included)", reps);
    bench_table_row(&rss, reps);
    bench_table_row(&heap, reps);
    double e = bench_median(rss.eddy, reps);
    printf("  goal eddy <= 300 bytes RSS per idle connection: %s (%.0f bytes)\n",
           e <= 300 ? "met" : "missed", e);
    return 0;
}
