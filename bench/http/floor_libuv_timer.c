/* The floor for the C10k test: a libuv responder that answers each request after a timer.
 *
 * It counts "\r\n\r\n" instead of parsing, starts one uv_timer_t per request (taken from a free
 * list, so the steady state allocates nothing), and answers with one fixed response when the
 * timer fires. It is the least a libuv program can do to hold thousands of delayed requests,
 * which is what eddy's hello_server does with its HTTP stack on top.
 *
 *     floor_libuv_timer [--port N] [--delay-ms N]   (port 0, the default, picks a free one;
 *                                                     delay 100 by default, 0 answers at once)
 *
 * Timers of equal delay fire in start order, so the responses of one connection leave in
 * request order. It is a benchmark baseline, not a server: no timeouts, no limits. */
#include <uv.h>

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static const char RESPONSE[] = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nContent-Type: text/plain"
                               "\r\n\r\nHello World\n";
#define RESPONSE_LEN (sizeof RESPONSE - 1)
#define OUT_COPIES 256 /* one write covers up to this many responses */

typedef struct conn_s {
    uv_tcp_t tcp;
    struct conn_s *next_free;
    uint32_t pending; /* timers running for this connection */
    uint8_t match;    /* bytes of "\r\n\r\n" matched at the end of the last read */
    uint8_t closing;  /* uv_close was called */
    uint8_t closed;   /* the close callback ran: free when no timer points here */
} conn_t;

typedef struct ptimer_s {
    uv_timer_t timer;
    conn_t *conn;
    struct ptimer_s *next_free;
} ptimer_t;

typedef struct wreq_s {
    uv_write_t req;
    struct wreq_s *next_free;
} wreq_t;

static uv_loop_t *loop;
static uv_tcp_t listener;
static uint64_t delay_ms = 100;
static char out[OUT_COPIES * RESPONSE_LEN];
static char in[64 * 1024]; /* one read buffer for every connection: reads are synchronous */
static conn_t *free_conns;
static ptimer_t *free_timers;
static wreq_t *free_wreqs;

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Counts request terminators, non-overlapping, carrying a partial match across reads. */
static uint64_t count_terminators(conn_t *c, const char *buf, size_t len)
{
    static const char term[4] = {'\r', '\n', '\r', '\n'};
    uint64_t n = 0;
    unsigned s = c->match;
    const char *p = buf, *end = buf + len;
    while (p < end) {
        if (s == 0) {
            p = memchr(p, '\r', (size_t)(end - p));
            if (p == NULL)
                break;
            s = 1;
            p++;
            continue;
        }
        char ch = *p++;
        if (ch == term[s]) {
            if (++s == 4) {
                n++;
                s = 0;
            }
        } else {
            s = ch == '\r' ? 1 : 0;
        }
    }
    c->match = (uint8_t)s;
    return n;
}

static void conn_free(conn_t *c)
{
    c->next_free = free_conns;
    free_conns = c;
}

static void on_close(uv_handle_t *h)
{
    conn_t *c = (conn_t *)h;
    c->closed = 1;
    if (c->pending == 0)
        conn_free(c);
}

static void conn_close(conn_t *c)
{
    if (!c->closing) {
        c->closing = 1;
        uv_close((uv_handle_t *)&c->tcp, on_close);
    }
}

static void on_written(uv_write_t *req, int status)
{
    wreq_t *w = (wreq_t *)req;
    conn_t *c = req->data;
    w->next_free = free_wreqs;
    free_wreqs = w;
    if (status < 0 && status != UV_ECANCELED)
        conn_close(c);
}

/* Sends n responses: straight to the socket, queueing only what it does not take. */
static void send_responses(conn_t *c, uint64_t n)
{
    uint64_t total = n * RESPONSE_LEN;
    while (total > 0 && !c->closing) {
        size_t len = total < sizeof out ? (size_t)total : sizeof out;
        uv_buf_t b = uv_buf_init(out, (unsigned)len);
        int r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (r == UV_EAGAIN)
            r = 0;
        if (r < 0) {
            conn_close(c);
            return;
        }
        if ((size_t)r < len) {
            /* The rest lives in static memory: queue a write of it, from the free list. */
            wreq_t *w = free_wreqs;
            if (w)
                free_wreqs = w->next_free;
            else if ((w = malloc(sizeof *w)) == NULL)
                abort();
            w->req.data = c;
            b = uv_buf_init(out + r, (unsigned)(len - (size_t)r));
            if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) {
                w->next_free = free_wreqs;
                free_wreqs = w;
                conn_close(c);
                return;
            }
        }
        total -= len;
    }
}

static void on_timer(uv_timer_t *t)
{
    ptimer_t *pt = (ptimer_t *)t;
    conn_t *c = pt->conn;
    pt->next_free = free_timers;
    free_timers = pt;
    c->pending--;
    if (c->closed) {
        if (c->pending == 0)
            conn_free(c);
        return;
    }
    send_responses(c, 1);
}

static void start_timer(conn_t *c)
{
    ptimer_t *pt = free_timers;
    if (pt) {
        free_timers = pt->next_free;
    } else {
        if ((pt = malloc(sizeof *pt)) == NULL)
            abort();
        uv_timer_init(loop, &pt->timer);
    }
    pt->conn = c;
    c->pending++;
    uv_timer_start(&pt->timer, on_timer, delay_ms, 0);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(in, sizeof in);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *c = (conn_t *)s;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    uint64_t n = count_terminators(c, buf->base, (size_t)nread);
    if (n == 0)
        return;
    if (delay_ms == 0) {
        send_responses(c, n);
        return;
    }
    for (uint64_t i = 0; i < n; i++)
        start_timer(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    conn_t *c = free_conns;
    if (c)
        free_conns = c->next_free;
    else if ((c = malloc(sizeof *c)) == NULL)
        abort();
    memset(c, 0, sizeof *c);
    uv_tcp_init(loop, &c->tcp);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

int main(int argc, char **argv)
{
    int port = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--delay-ms") == 0 && i + 1 < argc)
            delay_ms = strtoull(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: %s [--port N] [--delay-ms N]\n", argv[0]);
            return 2;
        }
    }
    raise_nofile();
    signal(SIGPIPE, SIG_IGN);
    for (size_t i = 0; i < OUT_COPIES; i++)
        memcpy(out + i * RESPONSE_LEN, RESPONSE, RESPONSE_LEN);
    loop = uv_default_loop();
    uv_tcp_init(loop, &listener);
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", port, &addr);
    int err = uv_tcp_bind(&listener, (const struct sockaddr *)&addr, 0);
    if (err == 0)
        err = uv_listen((uv_stream_t *)&listener, 4096, on_connection);
    if (err) {
        fprintf(stderr, "listen: %s\n", uv_strerror(err));
        return 1;
    }
    int alen = sizeof addr;
    uv_tcp_getsockname(&listener, (struct sockaddr *)&addr, &alen);
    printf("floor_libuv_timer listening on port %d (answers after %llu ms)\n",
           ntohs(addr.sin_port), (unsigned long long)delay_ms);
    fflush(stdout);
    return uv_run(loop, UV_RUN_DEFAULT);
}
