/* The HTTP server over real sockets.
 *
 * The server runs on the test's loop in the main thread; the client is a plain blocking socket
 * driven from a client thread, which sends exact bytes and reads whole responses with a
 * deadline (SO_RCVTIMEO). When the client thread is done it wakes the loop through an async
 * handle, which closes the server gracefully; every case then asserts that the loop closes
 * with 0. Where a case must wait for the server (a stall, a handler being called), the client
 * waits on a flag the server sets, never on a guessed sleep. Loopback only; ports are chosen
 * by the kernel (port 0). A few cases read the server's private state (queue sizes) to assert
 * that memory stays bounded. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "eddy.h"
#include "eddy/http.h"
#include "harness.h"
#include "http/http_internal.h"

/* ---- the server side ------------------------------------------------------------------------ */

static eddy_loop_t loop;
static eddy_http_server_t server;
static eddy_http_server_opts_t opts;
static const eddy_http_server_opts_t *start_opts; /* &opts, or NULL for the server's defaults */
static eddy_async_t client_done;
static struct sockaddr_storage server_addr;
static char unix_path[108];
static int server_closed;
static void (*on_server_closed_hook)(void);

/* Answering later: a timer in the request's own storage, closed before end frees it. */
typedef struct {
    eddy_timer_t timer;
    eddy_http_res_t *res;
    void (*fn)(eddy_http_res_t *res);
    uint64_t body_len;
    uint32_t hash;
    unsigned pieces;
    eddy_work_t work; /* a pool job that answers the request */
    int index;        /* what the job works on, copied: it must not read the request */
    uint32_t result;  /* the job's answer */
    int off_loop;     /* the job ran on a pool thread */
} reqdata_t;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void later_closed(eddy_handle_t *h)
{
    reqdata_t *d = eddy_container_of(h, reqdata_t, timer.handle);
    d->fn(d->res); /* frees d with the request */
}

static void later_fired(eddy_timer_t *t)
{
    eddy_close(&t->handle, later_closed);
}

static void answer_later(eddy_http_req_t *req, eddy_http_res_t *res, uint64_t delay_ms,
                         void (*fn)(eddy_http_res_t *res))
{
    reqdata_t *d = eddy_http_req_data(req);
    d->res = res;
    d->fn = fn;
    CHECK(eddy_timer_init(&loop, &d->timer) == 0);
    CHECK(eddy_timer_start(&d->timer, later_fired, delay_ms, 0) == 0);
}

static uint32_t fnv(uint32_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 16777619u;
    return h;
}

static void end_str(eddy_http_res_t *res, const char *s)
{
    CHECK(eddy_http_res_end(res, s, strlen(s)) == 0);
}

/* The default handler: "<METHOD> <target>". */
static void on_echo(eddy_http_req_t *req, eddy_http_res_t *res)
{
    char body[512];
    int n = snprintf(body, sizeof body, "%s %.*s", eddy_http_method_name(req->method),
                     (int)req->target_len, req->target);
    CHECK(eddy_http_res_set_header(res, "Content-Type", "text/plain") == 0);
    CHECK(eddy_http_res_end(res, body, (size_t)n) == 0);
}

static void on_server_closed(eddy_http_server_t *s)
{
    CHECK(s == &server);
    server_closed++;
    if (on_server_closed_hook) on_server_closed_hook();
}

static void on_client_done(eddy_async_t *a)
{
    eddy_close(&a->handle, NULL);
    eddy_http_server_close(&server, on_server_closed);
}

static void begin_opts(void)
{
    signal(SIGPIPE, SIG_IGN);
    alarm(60);
    eddy_http_server_opts_init(&opts);
    opts.request_data_size = sizeof(reqdata_t);
    start_opts = &opts;
    server_closed = 0;
    on_server_closed_hook = NULL;
}

/* Starts the server on family's loopback address (AF_UNIX: a path) with `opts`. */
static void start_server_on(int family, eddy_http_request_cb cb)
{
    CHECK(eddy_loop_init(&loop) == 0);
    CHECK(eddy_http_server_init(&loop, &server, start_opts, cb) == 0);
    memset(&server_addr, 0, sizeof server_addr);
    if (family == AF_UNIX) {
        snprintf(unix_path, sizeof unix_path, "/tmp/eddy_http_test_%d.sock", (int)getpid());
        unlink(unix_path);
        CHECK(eddy_http_server_listen_unix(&server, unix_path, 128) == 0);
        struct sockaddr_un *a = (struct sockaddr_un *)&server_addr;
        a->sun_family = AF_UNIX;
        strcpy(a->sun_path, unix_path);
        return;
    }
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&server_addr;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&server_addr;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    }
    CHECK(eddy_http_server_listen(&server, (struct sockaddr *)&server_addr, 0, 1024) == 0);
    int port = eddy_http_server_port(&server);
    CHECK(port > 0);
    if (family == AF_INET6)
        ((struct sockaddr_in6 *)&server_addr)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)&server_addr)->sin_port = htons((uint16_t)port);
}

static void start_server(eddy_http_request_cb cb)
{
    start_server_on(AF_INET, cb);
}

static void *client_main(void *arg)
{
    ((void (*)(void))arg)();
    CHECK(eddy_async_send(&client_done) == 0);
    return NULL;
}

/* Runs client() on its own thread while the loop serves; then closes everything. */
static void run_client(void (*client)(void))
{
    pthread_t th;
    CHECK(eddy_async_init(&loop, &client_done, on_client_done) == 0);
    CHECK(pthread_create(&th, NULL, client_main, (void *)client) == 0);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_EQ(server_closed, 1);
    CHECK(eddy_loop_close(&loop) == 0);
    if (unix_path[0]) unlink(unix_path);
    alarm(0);
}

static eddy_http_server_stats_t stats(void)
{
    eddy_http_server_stats_t st;
    eddy_http_server_stats(&server, &st);
    return st;
}

/* ---- the client side ------------------------------------------------------------------------ */

typedef struct {
    int fd;
    char *buf; /* received and not yet consumed */
    size_t len, cap;
} cli_t;

typedef struct {
    int status;
    int minor;
    char head[16384]; /* status line and fields, NUL-terminated */
    char *body;
    size_t body_len;
    int chunked;
} resp_t;

static void cli_open(cli_t *c)
{
    memset(c, 0, sizeof *c);
    c->fd = socket(server_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(c->fd >= 0);
    socklen_t len = server_addr.ss_family == AF_INET    ? sizeof(struct sockaddr_in)
                    : server_addr.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                        : sizeof(struct sockaddr_un);
    CHECK(connect(c->fd, (struct sockaddr *)&server_addr, len) == 0);
    struct timeval tv = {.tv_sec = 10};
    CHECK(setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
    if (server_addr.ss_family != AF_UNIX) {
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
}

static void cli_close(cli_t *c)
{
    close(c->fd);
    free(c->buf);
    c->fd = -1;
    c->buf = NULL;
}

static void cli_send(cli_t *c, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        CHECK(n > 0);
        p += n;
        len -= (size_t)n;
    }
}

static void cli_sends(cli_t *c, const char *s)
{
    cli_send(c, s, strlen(s));
}

/* Reads more bytes into c->buf: the count, 0 at EOF, -errno on error or timeout. */
static ssize_t cli_fill(cli_t *c)
{
    if (c->cap - c->len < 65536) {
        c->cap = c->cap ? c->cap * 2 : 131072;
        c->buf = realloc(c->buf, c->cap);
        CHECK(c->buf != NULL);
    }
    for (;;) {
        ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -errno;
        c->len += (size_t)n;
        return n;
    }
}

static void cli_consume(cli_t *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* Waits until c->buf holds n bytes; fails on EOF or timeout. */
static void cli_need(cli_t *c, size_t n)
{
    while (c->len < n) {
        ssize_t r = cli_fill(c);
        if (r <= 0) fprintf(stderr, "client: wanted %zu bytes, have %zu, got %zd\n", n, c->len, r);
        CHECK(r > 0);
    }
}

/* Index just past the first CRLF at or after `from`, waiting for it. */
static size_t cli_line(cli_t *c, size_t from)
{
    for (;;) {
        for (size_t i = from; i + 1 < c->len; i++)
            if (c->buf[i] == '\r' && c->buf[i + 1] == '\n') return i + 2;
        cli_need(c, c->len + 1);
    }
}

/* The value of header `name` in r (case-insensitive), copied into out; NULL if absent. */
static const char *resp_header(const resp_t *r, const char *name, char *out, size_t out_size)
{
    size_t n = strlen(name);
    for (const char *line = strstr(r->head, "\r\n"); line && line[2];
         line = strstr(line + 2, "\r\n")) {
        const char *l = line + 2;
        if (strncasecmp(l, name, n) == 0 && l[n] == ':') {
            const char *v = l + n + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            size_t len = (size_t)(e - v);
            CHECK(len < out_size);
            memcpy(out, v, len);
            out[len] = 0;
            return out;
        }
    }
    return NULL;
}

static int resp_has(const resp_t *r, const char *name, const char *value)
{
    char v[1024];
    return resp_header(r, name, v, sizeof v) && strcasecmp(v, value) == 0;
}

/* Reads one response (an interim 1xx too). no_body: the request was HEAD. A body without a
 * length runs to EOF. Chunked bodies are de-chunked strictly. */
static void cli_response(cli_t *c, resp_t *r, int no_body)
{
    free(r->body);
    memset(r, 0, sizeof *r);
    size_t end = 0;
    for (;;) {
        char *e = c->len >= 4 ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL;
        if (e) {
            end = (size_t)(e - c->buf) + 4;
            break;
        }
        cli_need(c, c->len + 1);
    }
    CHECK(end < sizeof r->head);
    memcpy(r->head, c->buf, end);
    r->head[end] = 0;
    cli_consume(c, end);
    if (sscanf(r->head, "HTTP/1.%d %d ", &r->minor, &r->status) != 2) {
        fprintf(stderr, "client: bad status line in [%s]\n", r->head);
        CHECK(0);
    }
    char v[64];
    if (r->status < 200 || no_body || r->status == 204 || r->status == 304) return;
    if (resp_header(r, "Transfer-Encoding", v, sizeof v)) {
        CHECK(strcasecmp(v, "chunked") == 0);
        CHECK(resp_header(r, "Content-Length", v, sizeof v) == NULL);
        r->chunked = 1;
        for (;;) {
            size_t eol = cli_line(c, 0);
            char *stop;
            unsigned long size = strtoul(c->buf, &stop, 16);
            CHECK(stop != c->buf && (*stop == '\r' || *stop == ';'));
            cli_consume(c, eol);
            if (size == 0) break;
            cli_need(c, size + 2);
            r->body = realloc(r->body, r->body_len + size + 1);
            memcpy(r->body + r->body_len, c->buf, size);
            r->body_len += size;
            CHECK(c->buf[size] == '\r' && c->buf[size + 1] == '\n');
            cli_consume(c, size + 2);
        }
        size_t eol;
        while ((eol = cli_line(c, 0)) != 2) /* trailers */
            cli_consume(c, eol);
        cli_consume(c, 2);
    } else if (resp_header(r, "Content-Length", v, sizeof v)) {
        size_t n = strtoul(v, NULL, 10);
        cli_need(c, n);
        r->body = malloc(n + 1);
        memcpy(r->body, c->buf, n);
        r->body_len = n;
        cli_consume(c, n);
    } else {
        while (cli_fill(c) > 0) {
        }
        r->body = malloc(c->len + 1);
        memcpy(r->body, c->buf, c->len);
        r->body_len = c->len;
        cli_consume(c, c->len);
    }
    if (r->body) r->body[r->body_len] = 0;
}

static int body_is(const resp_t *r, const char *s)
{
    return r->body_len == strlen(s) && memcmp(r->body, s, r->body_len) == 0;
}

/* The server closes: EOF (or a reset) with no byte before it. Returns the ms it took. */
static uint64_t cli_expect_eof(cli_t *c)
{
    uint64_t t0 = now_ms();
    CHECK_EQ(c->len, 0);
    ssize_t n = cli_fill(c);
    if (n != 0 && n != -ECONNRESET)
        fprintf(stderr, "client: expected EOF, got %zd [%.*s]\n", n, (int)c->len, c->buf);
    CHECK(n == 0 || n == -ECONNRESET);
    return now_ms() - t0;
}

static void set_small_rcvbuf(cli_t *c)
{
    int size = 65536;
    CHECK(setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size) == 0);
}

/* One request on a fresh connection; checks 200 and the echo body. */
static void cli_simple_get(const char *path)
{
    cli_t c;
    resp_t r = {0};
    char req[256], want[256];
    cli_open(&c);
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    snprintf(want, sizeof want, "GET %s", path);
    cli_sends(&c, req);
    cli_response(&c, &r, 0);
    CHECK_EQ(r.status, 200);
    CHECK(body_is(&r, want));
    free(r.body);
    cli_close(&c);
}

/* Waits (bounded) for a flag the server sets. */
static void wait_flag(atomic_int *flag, int value)
{
    uint64_t deadline = now_ms() + 20000;
    while (atomic_load(flag) < value) {
        CHECK(now_ms() < deadline);
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

/* ---- basic exchanges ---------------------------------------------------------------------- */

static void on_basic(eddy_http_req_t *req, eddy_http_res_t *res)
{
    CHECK(req->method == EDDY_HTTP_GET);
    CHECK(req->http_major == 1 && req->http_minor == 1);
    CHECK(!req->has_body && !req->expect_continue);
    CHECK(req->target_len == 12 && memcmp(req->target, "/hello?x=1&y", 12) == 0);
    CHECK(req->path_len == 6 && memcmp(req->path, "/hello", 6) == 0);
    CHECK(req->query_len == 5 && memcmp(req->query, "x=1&y", 5) == 0);
    CHECK_EQ(req->headers_len, 3);
    CHECK(req->headers[1].name_len == 6 && memcmp(req->headers[1].name, "X-Test", 6) == 0);
    CHECK(req->headers[1].value_len == 7 && memcmp(req->headers[1].value, "Value 1", 7) == 0);
    CHECK(req->server == &server && res->req == req && res->status == 200);
    CHECK(eddy_http_res_set_header(res, "Content-Type", "text/plain") == 0);
    CHECK(eddy_http_res_add_header(res, "Set-Cookie", "a=1") == 0);
    CHECK(eddy_http_res_add_header(res, "Set-Cookie", "b=2") == 0);
    CHECK(!eddy_http_res_headers_sent(res));
    end_str(res, "hello, world");
}

static void client_basic(void)
{
    cli_t c;
    resp_t r = {0};
    cli_open(&c);
    cli_sends(&c, "GET /hello?x=1&y HTTP/1.1\r\nHost: localhost\r\nX-Test: Value 1\r\n"
                  "Accept: */*\r\n\r\n");
    cli_response(&c, &r, 0);
    CHECK_EQ(r.status, 200);
    CHECK(strncmp(r.head, "HTTP/1.1 200 OK\r\n", 17) == 0);
    CHECK(resp_has(&r, "Content-Length", "12"));
    CHECK(resp_has(&r, "Content-Type", "text/plain"));
    CHECK(body_is(&r, "hello, world"));
    CHECK(strstr(r.head, "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n") != NULL);
    CHECK(!resp_header(&r, "Connection", (char[64]){0}, 64));
    CHECK(!resp_header(&r, "Transfer-Encoding", (char[64]){0}, 64));
    /* Date: an IMF-fixdate within a few seconds of now. */
    char date[64];
    CHECK(resp_header(&r, "Date", date, sizeof date));
    struct tm tm = {0};
    char *rest = strptime(date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    CHECK(rest && *rest == 0 && strlen(date) == 29);
    long skew = (long)(timegm(&tm) - time(NULL));
    CHECK(skew > -5 && skew < 5);
    free(r.body);
    cli_close(&c);
}

static void test_basic_get(void)
{
    begin_opts();
    start_server(on_basic);
    run_client(client_basic);
    CHECK_EQ(stats().requests, 1);
}

static void client_ipv6(void)
{
    cli_simple_get("/six");
}

static void test_ipv6_get(void)
{
    begin_opts();
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0) close(fd);
    if (!ok) {
        test_skip("no IPv6 loopback");
    }
    start_server_on(AF_INET6, on_echo);
    run_client(client_ipv6);
}

static void client_keep_alive(void)
{
    cli_t c;
    resp_t r = {0};
    cli_open(&c);
    cli_sends(&c, "GET /one HTTP/1.1\r\nHost: x\r\n\r\n");
    cli_response(&c, &r, 0);
    CHECK(r.status == 200 && body_is(&r, "GET /one"));
    cli_sends(&c, "POST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    cli_response(&c, &r, 0);
    CHECK(r.status == 200 && body_is(&r, "POST /two"));
    cli_sends(&c, "GET /three HTTP/1.1\r\nHost: x\r\n\r\n");
    cli_response(&c, &r, 0);
    CHECK(r.status == 200 && body_is(&r, "GET /three"));
    free(r.body);
    cli_close(&c);
}

static void test_keep_alive(void)
{
    begin_opts();
    start_server(on_echo);
    run_client(client_keep_alive);
    CHECK_EQ(stats().requests, 3);
    CHECK_EQ(stats().connections, 1);
}

static void on_http10(eddy_http_req_t *req, eddy_http_res_t *res)
{
    CHECK(req->http_minor == 0);
    if (req->path_len == 7 && memcmp(req->path, "/stream", 7) == 0) {
        CHECK(eddy_http_res_write(res, "no ", 3) == 0); /* no length, and 1.0 has no chunks */
        CHECK(eddy_http_res_write(res, "length", 6) == 0);
        end_str(res, "!");
        return;
    }
    on_echo(req, res);
}

static void client_http10(void)
{
    cli_t c;
    resp_t r = {0};
    /* 1.0 closes by default. */
    cli_open(&c);
    cli_sends(&c, "GET /a HTTP/1.0\r\n\r\n");
    cli_response(&c, &r, 0);
    CHECK(r.status == 200 && body_is(&r, "GET /a"));
    CHECK(resp_has(&r, "Connection", "close"));
    CHECK(resp_has(&r, "Content-Length", "6"));
    cli_expect_eof(&c);
    cli_close(&c);
    /* Keep-alive when asked, until a request does not ask. */
    cli_open(&c);
    cli_sends(&c, "GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    cli_response(&c, &r, 0);
    CHECK(r.status == 200 && body_is(&r, "GET /b"));
    CHECK(resp_has(&r, "Connection", "keep-alive"));
    cli_sends(&c, "GET /c HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    cli_response(&c, &r, 0);
    CHECK(r.status == 200 && body_is(&r, "GET /c"));
    CHECK(resp_has(&r, "Connection", "keep-alive"));
    cli_sends(&c, "GET /d HTTP/1.0\r\n\r\n");
    cli_response(&c, &r, 0);
    CHECK(r.status == 200 && body_is(&r, "GET /d"));
    CHECK(resp_has(&r, "Connection", "close"));
    cli_expect_eof(&c);
    cli_close(&c);
    /* A body without a length can only end by closing, even if keep-alive was asked. */
    cli_open(&c);
    cli_sends(&c, "GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    cli_response(&c, &r, 0);
    CHECK_EQ(r.status, 200);
    CHECK(resp_has(&r, "Connection", "close"));
    CHECK(!resp_header(&r, "Transfer-Encoding", (char[64]){0}, 64));
    CHECK(!resp_header(&r, "Content-Length", (char[64]){0}, 64));
    CHECK(body_is(&r, "no length!")); /* read to EOF */
    free(r.body);
    cli_close(&c);
}

static void test_http10(void)
{
    begin_opts();
    start_server(on_http10);
    run_client(client_http10);
}

/* ---- pipelining ------------------------------------------------------------------------- */

static int answer_order[64];
static int answered;
static int outstanding, outstanding_max;

static void answer_index(eddy_http_res_t *res)
{
    int i = atoi(res->req->path + 3);
    char body[32];
    snprintf(body, sizeof body, "r%d", i);
    answer_order[answered++] = i;
    outstanding--;
    end_str(res, body);
}

/* "/p/<i>": every fourth answers at once, the rest after timers that are shorter for later
 * requests, so responses are made in nearly reverse order. */
static void on_pipelined(eddy_http_req_t *req, eddy_http_res_t *res)
{
    int i = atoi(req->path + 3);
    outstanding++;
    if (outstanding > outstanding_max) outstanding_max = outstanding;
    if (i % 4 == 0)
        answer_index(res);
    else
        answer_later(req, res, (uint64_t)(64 - i) * 3, answer_index);
}

static int pipeline_n;

static void client_pipelined(void)
{
    cli_t c;
    resp_t r = {0};
    char all[8192];
    size_t len = 0;
    for (int i = 0; i < pipeline_n; i++)
        len += (size_t)snprintf(all + len, sizeof all - len,
                                "GET /p/%d HTTP/1.1\r\nHost: x\r\n\r\n", i);
    cli_open(&c);
    cli_send(&c, all, len); /* one write: the server reads them in one batch */
    for (int i = 0; i < pipeline_n; i++) {
        char want[32];
        snprintf(want, sizeof want, "r%d", i);
        cli_response(&c, &r, 0);
        CHECK_EQ(r.status, 200);
        if (!body_is(&r, want)) fprintf(stderr, "response %d is [%s]\n", i, r.body);
        CHECK(body_is(&r, want));
    }
    /* Still usable afterwards. */
    cli_sends(&c, "GET /p/0 HTTP/1.1\r\nHost: x\r\n\r\n");
    cli_response(&c, &r, 0);
    CHECK(body_is(&r, "r0"));
    free(r.body);
    cli_close(&c);
}

static void test_pipeline_16_out_of_order(void)
{
    begin_opts();
    pipeline_n = 16;
    start_server(on_pipelined);
    run_client(client_pipelined);
    CHECK_EQ(answered, 17);
    /* The handlers really answered out of order (15 before 1), yet the wire was in order. */
    int pos1 = -1, pos15 = -1;
    for (int k = 0; k < 16; k++) {
        if (answer_order[k] == 1) pos1 = k;
        if (answer_order[k] == 15) pos15 = k;
    }
    CHECK(pos15 >= 0 && pos1 > pos15);
}

static void test_pipeline_over_limit(void)
{
    /* 40 requests in one write with pipeline_max 8: at most 8 reach handlers at once, and
     * the rest is parsed as responses retire. */
    begin_opts();
    opts.pipeline_max = 8;
    pipeline_n = 40;
    start_server(on_pipelined);
    run_client(client_pipelined);
    CHECK_EQ(answered, 41);
    CHECK(outstanding_max <= 8);
    CHECK(outstanding_max >= 4);
}

/* ---- finishing from the thread pool ---------------------------------------------------------- */

static pthread_t loop_thread;
static atomic_int immediate_answered; /* requests answered inside their request callback */
static int pool_order[64], pool_answered, pool_statuses_bad;

static uint32_t pool_result(int index)
{
    char name[32];
    int n = snprintf(name, sizeof name, "pool-%d", index);
    return fnv(2166136261u, name, (size_t)n);
}

/* On a pool thread: the answer for request `index`. Request 0 waits (bounded) until request 1
 * has been answered on the loop, so a later response is always ready before an earlier one
 * and must be held back for the wire to stay in order. */
static void pool_job(eddy_work_t *w)
{
    reqdata_t *d = w->data;
    if (d->index == 0) {
        uint64_t deadline = now_ms() + 20000;
        while (atomic_load(&immediate_answered) < 1 && now_ms() < deadline) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
    d->off_loop = !pthread_equal(pthread_self(), loop_thread);
    d->result = pool_result(d->index);
}

/* On the loop, in the poll phase: finish the response, in two writes and an end. */
static void pool_job_done(eddy_work_t *w, int status)
{
    reqdata_t *d = w->data;
    CHECK(pthread_equal(pthread_self(), loop_thread));
    if (status != 0 || !d->off_loop) pool_statuses_bad++;
    pool_order[pool_answered++] = d->index;
    char body[64];
    int n = snprintf(body, sizeof body, "pool %d %08x", d->index, d->result);
    CHECK(eddy_http_res_write(d->res, body, 5) == 0);
    CHECK(eddy_http_res_end(d->res, body + 5, (size_t)n - 5) == 0);
}

/* "/q/<i>": even indexes are answered from the pool, odd ones at once. */
static void on_pool(eddy_http_req_t *req, eddy_http_res_t *res)
{
    int i = atoi(req->path + 3);
    reqdata_t *d = eddy_http_req_data(req);
    d->res = res;
    d->index = i;
    if (i % 2 == 0) {
        d->work.data = d;
        CHECK(eddy_queue_work(&loop, &d->work, EDDY_WORK_USER, pool_job, pool_job_done) == 0);
        return;
    }
    char body[32];
    snprintf(body, sizeof body, "now %d", i);
    pool_order[pool_answered++] = i;
    end_str(res, body);
    atomic_fetch_add(&immediate_answered, 1);
}

static void expect_pool_answer(cli_t *c, int i)
{
    resp_t r = {0};
    char want[64];
    if (i % 2 == 0)
        snprintf(want, sizeof want, "pool %d %08x", i, pool_result(i));
    else
        snprintf(want, sizeof want, "now %d", i);
    cli_response(c, &r, 0);
    CHECK_EQ(r.status, 200);
    if (!body_is(&r, want)) fprintf(stderr, "response %d is [%s], want [%s]\n", i, r.body, want);
    CHECK(body_is(&r, want));
    CHECK(r.chunked == (i % 2 == 0)); /* the pool's answers were streamed */
    free(r.body);
}

static void client_finish_from_pool(void)
{
    cli_t c;
    cli_open(&c);
    cli_sends(&c, "GET /q/2 HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_pool_answer(&c, 2);
    /* The connection goes on as usual afterwards. */
    cli_sends(&c, "GET /q/4 HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_pool_answer(&c, 4);
    cli_close(&c);
}

static void test_finish_from_pool(void)
{
    begin_opts();
    loop_thread = pthread_self();
    start_server(on_pool);
    run_client(client_finish_from_pool);
    CHECK_EQ(pool_answered, 2);
    CHECK_EQ(pool_statuses_bad, 0);
}

enum { POOL_PIPELINE_N = 12 };

static void client_pipeline_pool(void)
{
    char all[2048];
    size_t len = 0;
    for (int i = 0; i < POOL_PIPELINE_N; i++)
        len += (size_t)snprintf(all + len, sizeof all - len,
                                "GET /q/%d HTTP/1.1\r\nHost: x\r\n\r\n", i);
    cli_t c;
    cli_open(&c);
    cli_send(&c, all, len);
    for (int i = 0; i < POOL_PIPELINE_N; i++)
        expect_pool_answer(&c, i);
    cli_close(&c);
}

static void test_pipeline_pool_and_immediate(void)
{
    begin_opts();
    loop_thread = pthread_self();
    start_server(on_pool);
    run_client(client_pipeline_pool);
    CHECK_EQ(pool_answered, POOL_PIPELINE_N);
    CHECK_EQ(pool_statuses_bad, 0);
    /* Request 1 was answered before request 0 (its pool job waited for that), yet the client
     * read them in request order. */
    int pos0 = -1, pos1 = -1;
    for (int k = 0; k < POOL_PIPELINE_N; k++) {
        if (pool_order[k] == 0) pos0 = k;
        if (pool_order[k] == 1) pos1 = k;
    }
    CHECK(pos1 >= 0 && pos0 > pos1);
}

/* ---- Expect, HEAD, Connection: close, chunked responses -------------------------------------- */

static void upload_body(eddy_http_req_t *req, const char *data, size_t len)
{
    reqdata_t *d = eddy_http_req_data(req);
    d->body_len += len;
    d->hash = fnv(d->hash ? d->hash : 2166136261u, data, len);
    d->pieces++;
}

static int upload_end_status = 1;

static void upload_end(eddy_http_req_t *req, int status)
{
    reqdata_t *d = eddy_http_req_data(req);
    upload_end_status = status;
    char body[96];
    snprintf(body, sizeof body, "len=%llu hash=%08x", (unsigned long long)d->body_len,
             d->hash ? d->hash : 2166136261u);
    eddy_http_res_t *res = d->res;
    if (status < 0) {
        /* The server answered (400/413) and aborted this response: end only releases it. */
        CHECK(status == -EPROTO || status == -EMSGSIZE);
        CHECK(eddy_http_res_end(res, "late", 4) < 0);
        return;
    }
    end_str(res, body);
}

static void on_upload(eddy_http_req_t *req, eddy_http_res_t *res)
{
    reqdata_t *d = eddy_http_req_data(req);
    d->res = res;
    eddy_http_req_on_body(req, upload_body, upload_end);
}

static char expect_body[2048];

/* The answer upload_end gives for `len` bytes of expect_body. */
static void expect_upload_answer(cli_t *c, size_t len)
{
    resp_t r = {0};
    char want[64];
    snprintf(want, sizeof want, "len=%zu hash=%08x", len, fnv(2166136261u, expect_body, len));
    cli_response(c, &r, 0);
    CHECK_EQ(r.status, 200);
    if (!body_is(&r, want)) fprintf(stderr, "got [%s] want [%s]\n", r.body, want);
    CHECK(body_is(&r, want));
    CHECK(!resp_has(&r, "Connection", "close"));
    free(r.body);
}

static void expect_100(cli_t *c)
{
    resp_t r = {0};
    cli_response(c, &r, 0);
    if (r.status != 100) fprintf(stderr, "expected 100, got [%s]\n", r.head);
    CHECK_EQ(r.status, 100);
    CHECK(strcmp(r.head, "HTTP/1.1 100 Continue\r\n\r\n") == 0);
}

static void on_expect(eddy_http_req_t *req, eddy_http_res_t *res)
{
    if (req->path_len == 3 && memcmp(req->path, "/up", 3) == 0)
        CHECK(req->expect_continue && req->has_body && req->content_length == 2048);
    /* Without a check-continue callback the server has decided: the 100 is on its way when
     * the client waits for one, and nobody waits otherwise. */
    bool waits = req->expect_continue && req->has_body && req->http_minor == 1;
    CHECK_EQ(eddy_http_res_write_continue(res), waits ? -EALREADY : -EINVAL);
    on_upload(req, res);
}

static void client_expect(void)
{
    cli_t c;
    resp_t r = {0};
    cli_open(&c);
    cli_sends(&c, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 2048\r\n"
                  "Expect: 100-continue\r\n\r\n");
    expect_100(&c);
    cli_send(&c, expect_body, sizeof expect_body);
    expect_upload_answer(&c, sizeof expect_body);
    /* No body: nothing to wait for, so no 100. */
    cli_sends(&c, "GET /nobody HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n");
    expect_upload_answer(&c, 0);
    /* HTTP/1.0 must never get a 1xx (RFC 9110 15.2): its Expect is ignored. */
    cli_sends(&c, "POST /old HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    cli_send(&c, expect_body, 5);
    cli_response(&c, &r, 0);
    CHECK_EQ(r.status, 200);
    CHECK(strncmp(r.body, "len=5 ", 6) == 0);
    cli_expect_eof(&c);
    free(r.body);
    cli_close(&c);
}

static void test_expect_continue(void)
{
    begin_opts();
    memset(expect_body, 'e', sizeof expect_body);
    start_server(on_expect);
    run_client(client_expect);
}

/* Pipelined: "/first" stays unanswered until the request behind it has been dispatched, and
 * is answered 20 ms later, so the 100 for the second request must wait for its turn. */
static eddy_http_res_t *first_res;
static eddy_timer_t release_timer;
static int first_answered;

static void release_first(eddy_timer_t *t)
{
    CHECK(first_res != NULL);
    end_str(first_res, "first");
    first_res = NULL;
    first_answered++;
}

static void hold_or_release(eddy_http_req_t *req, eddy_http_res_t *res)
{
    if (req->path_len == 6 && memcmp(req->path, "/first", 6) == 0) {
        CHECK(first_res == NULL);
        first_res = res;
        return;
    }
    if (first_res) /* the request before this one is still unanswered */
        CHECK(eddy_timer_start(&release_timer, release_first, 20, 0) == 0);
}

static void on_expect_pipelined(eddy_http_req_t *req, eddy_http_res_t *res)
{
    hold_or_release(req, res);
    if (first_res != res) on_expect(req, res);
}

static void expect_first(cli_t *c)
{
    resp_t r = {0};
    cli_response(c, &r, 0);
    if (r.status != 200) fprintf(stderr, "expected the first answer, got [%s]\n", r.head);
    CHECK(r.status == 200 && body_is(&r, "first"));
    free(r.body);
}

static const char pipelined_expect[] =
    "GET /first HTTP/1.1\r\nHost: x\r\n\r\n"
    "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 2048\r\nExpect: 100-continue\r\n\r\n";

static void client_expect_pipelined(void)
{
    cli_t c;
    cli_open(&c);
    cli_sends(&c, pipelined_expect);
    /* The first answer comes before the 100 of the second request, which does come. */
    expect_first(&c);
    expect_100(&c);
    cli_send(&c, expect_body, sizeof expect_body);
    expect_upload_answer(&c, sizeof expect_body);
    cli_close(&c);
}

static void close_release_timer(void)
{
    eddy_close(&release_timer.handle, NULL);
}

static void test_expect_continue_pipelined(void)
{
    begin_opts();
    memset(expect_body, 'e', sizeof expect_body);
    start_server(on_expect_pipelined);
    CHECK(eddy_timer_init(&loop, &release_timer) == 0);
    on_server_closed_hook = close_release_timer;
    run_client(client_expect_pipelined);
    CHECK_EQ(first_answered, 1);
}

/* Node's checkContinue: the handler decides by the X-Decide header. */
static int check_calls, request_calls;

static void continue_now(eddy_http_res_t *res)
{
    CHECK_EQ(eddy_http_res_write_continue(res), 0);
}

static void on_check_request(eddy_http_req_t *req, eddy_http_res_t *res)
{
    request_calls++;
    CHECK_EQ(eddy_http_res_write_continue(res), -EINVAL); /* nobody waits for a 100 here */
    hold_or_release(req, res);
    if (first_res != res) on_upload(req, res);
}

static void on_check(eddy_http_req_t *req, eddy_http_res_t *res)
{
    check_calls++;
    CHECK(req->expect_continue && req->has_body);
    hold_or_release(req, res);
    size_t len;
    const char *v = eddy_http_req_header(req, "x-decide", &len);
    CHECK(v != NULL);
    if (len == 3 && memcmp(v, "yes", 3) == 0) {
        CHECK_EQ(eddy_http_res_write_continue(res), 0);
        CHECK_EQ(eddy_http_res_write_continue(res), -EALREADY);
        on_upload(req, res);
    } else if (len == 5 && memcmp(v, "later", 5) == 0) {
        on_upload(req, res);
        answer_later(req, res, 20, continue_now); /* from a timer, outside the read path */
    } else if (len == 6 && memcmp(v, "anyway", 6) == 0) {
        on_upload(req, res); /* no 100: this client sends the body without waiting */
    } else {
        /* Refused without reading the body. */
        CHECK_EQ(eddy_http_res_set_status(res, 417), 0);
        end_str(res, "no");
    }
}

static void expect_refused(cli_t *c)
{
    resp_t r = {0};
    cli_response(c, &r, 0);
    if (r.status != 417) fprintf(stderr, "expected 417, got [%s]\n", r.head);
    CHECK(r.status == 417 && body_is(&r, "no"));
    /* The body never came: where this request ends is unknown, so the connection closes. */
    CHECK(resp_has(&r, "Connection", "close"));
    cli_expect_eof(c);
    free(r.body);
}

static void send_expecting(cli_t *c, const char *decide, size_t body_len)
{
    char head[256];
    snprintf(head, sizeof head,
             "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n"
             "Expect: 100-continue\r\nX-Decide: %s\r\n\r\n",
             body_len, decide);
    cli_sends(c, head);
}

static void client_check_continue(void)
{
    cli_t c;
    cli_open(&c);
    send_expecting(&c, "yes", 2048);
    expect_100(&c);
    cli_send(&c, expect_body, 2048);
    expect_upload_answer(&c, 2048);
    /* The 100 sent later, from a timer. */
    send_expecting(&c, "later", 1000);
    expect_100(&c);
    cli_send(&c, expect_body, 1000);
    expect_upload_answer(&c, 1000);
    /* A client that does not wait: no 100, and since the body came the connection stays. */
    send_expecting(&c, "anyway", 700);
    cli_send(&c, expect_body, 700);
    expect_upload_answer(&c, 700);
    /* An ordinary request still goes to the request callback. */
    cli_sends(&c, "GET /plain HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_upload_answer(&c, 0);
    /* Refused: the client does not send the body. */
    send_expecting(&c, "no", 2048);
    expect_refused(&c);
    cli_close(&c);
    /* Refused while the body is on its way anyway (sent in the same write): the answer was
     * made before the body was read, so it closes all the same. */
    cli_open(&c);
    char both[2400];
    int n = snprintf(both, sizeof both,
                     "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 2048\r\n"
                     "Expect: 100-continue\r\nX-Decide: no\r\n\r\n");
    memcpy(both + n, expect_body, 2048);
    cli_send(&c, both, (size_t)n + 2048);
    expect_refused(&c);
    cli_close(&c);
    cli_simple_get("/after");
}

static void on_check_echo(eddy_http_req_t *req, eddy_http_res_t *res)
{
    if (req->path_len == 6 && memcmp(req->path, "/after", 6) == 0)
        on_echo(req, res);
    else
        on_check_request(req, res);
}

static void test_check_continue(void)
{
    begin_opts();
    memset(expect_body, 'c', sizeof expect_body);
    start_server(on_check_echo);
    eddy_http_server_on_check_continue(&server, on_check);
    CHECK(eddy_timer_init(&loop, &release_timer) == 0);
    on_server_closed_hook = close_release_timer;
    run_client(client_check_continue);
    CHECK_EQ(check_calls, 5);
    CHECK_EQ(request_calls, 1);
    CHECK_EQ(stats().rejected, 0); /* the 417s were the handler's answers */
}

static void client_check_continue_pipelined(void)
{
    cli_t c;
    char req[512];
    /* Accepted while the request before it is unanswered: the 100 waits for its turn. */
    cli_open(&c);
    snprintf(req, sizeof req,
             "GET /first HTTP/1.1\r\nHost: x\r\n\r\n"
             "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 2048\r\n"
             "Expect: 100-continue\r\nX-Decide: yes\r\n\r\n");
    cli_sends(&c, req);
    expect_first(&c);
    expect_100(&c);
    cli_send(&c, expect_body, 2048);
    expect_upload_answer(&c, 2048);
    cli_close(&c);
    /* Refused while the request before it is unanswered: the 417 waits for its turn, then the
     * connection closes. */
    cli_open(&c);
    snprintf(req, sizeof req,
             "GET /first HTTP/1.1\r\nHost: x\r\n\r\n"
             "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 2048\r\n"
             "Expect: 100-continue\r\nX-Decide: no\r\n\r\n");
    cli_sends(&c, req);
    expect_first(&c);
    expect_refused(&c);
    cli_close(&c);
}

static void test_check_continue_pipelined(void)
{
    begin_opts();
    memset(expect_body, 'p', sizeof expect_body);
    start_server(on_check_request);
    eddy_http_server_on_check_continue(&server, on_check);
    CHECK(eddy_timer_init(&loop, &release_timer) == 0);
    on_server_closed_hook = close_release_timer;
    run_client(client_check_continue_pipelined);
    CHECK_EQ(first_answered, 2);
    CHECK_EQ(check_calls, 2);
}

static void on_head(eddy_http_req_t *req, eddy_http_res_t *res)
{
    if (req->path_len == 2 && memcmp(req->path, "/w", 2) == 0) {
        /* Streamed without a length: a HEAD answer still carries no body bytes at all. */
        CHECK(eddy_http_res_write(res, "abc", 3) == 0);
        CHECK(eddy_http_res_write(res, "def", 3) == 0);
        CHECK(eddy_http_res_end(res, NULL, 0) == 0);
        return;
    }
    end_str(res, "hello world");
}

static void client_head(void)
{
    cli_t c;
    resp_t r = {0};
    cli_open(&c);
    cli_sends(&c, "HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n");
    cli_response(&c, &r, 1);
    CHECK_EQ(r.status, 200);
    CHECK(resp_has(&r, "Content-Length", "11"));
    cli_sends(&c, "HEAD /w HTTP/1.1\r\nHost: x\r\n\r\n");
    cli_response(&c, &r, 1);
    CHECK_EQ(r.status, 200);
    CHECK(!resp_header(&r, "Content-Length", (char[64]){0}, 64));
    /* The next response must be the next bytes: no body (nor a last chunk) leaked. */
    cli_sends(&c, "GET /h HTTP/1.1\r\nHost: x\r\n\r\n");
    cli_response(&c, &r, 0);
    CHECK_EQ(r.status, 200);
    CHECK(body_is(&r, "hello world"));
    free(r.body);
    cli_close(&c);
}

static void test_head(void)
{
    begin_opts();
    start_server(on_head);
    run_client(client_head);
}

static void client_connection_close(void)
{
    cli_t c;
    resp_t r = {0};
    cli_open(&c);
    /* A request pipelined after the one that closes is never answered. */
    cli_sends(&c, "GET /bye HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                  "GET /never HTTP/1.1\r\nHost: x\r\n\r\n");
    cli_response(&c, &r, 0);
    CHECK(r.status == 200 && body_is(&r, "GET /bye"));
    CHECK(resp_has(&r, "Connection", "close"));
    cli_expect_eof(&c);
    free(r.body);
    cli_close(&c);
}

static void test_connection_close(void)
{
    begin_opts();
    start_server(on_echo);
    run_client(client_connection_close);
    CHECK_EQ(stats().requests, 1);
}

static void on_chunked(eddy_http_req_t *req, eddy_http_res_t *res)
{
    CHECK(eddy_http_res_write(res, "alpha", 5) == 0);
    CHECK(eddy_http_res_headers_sent(res));
    CHECK(eddy_http_res_set_header(res, "X-Late", "1") == -EALREADY);
    CHECK(eddy_http_res_write(res, "", 0) == 0); /* nothing: must not end the body */
    CHECK(eddy_http_res_write(res, "-beta-", 6) == 0);
    CHECK(eddy_http_res_write(res, "gamma", 5) == 0);
    end_str(res, "!");
}

static void client_chunked(void)
{
    cli_t c;
    resp_t r = {0};
    cli_open(&c);
    for (int i = 0; i < 2; i++) {
        cli_sends(&c, "GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
        cli_response(&c, &r, 0);
        CHECK_EQ(r.status, 200);
        CHECK(r.chunked);
        CHECK(body_is(&r, "alpha-beta-gamma!"));
    }
    free(r.body);
    cli_close(&c);
}

static void test_chunked_response(void)
{
    begin_opts();
    start_server(on_chunked);
    run_client(client_chunked);
}

/* ---- request bodies --------------------------------------------------------------------- */

enum { UPLOAD_SIZE = 300000 };
static atomic_int first_piece_seen;
static char upload[UPLOAD_SIZE];

static void fill_upload(void)
{
    for (size_t i = 0; i < sizeof upload; i++)
        upload[i] = (char)('a' + (i * 7 + i / 1000) % 26);
}

static void check_upload_answer(cli_t *c)
{
    resp_t r = {0};
    char want[64];
    cli_response(c, &r, 0);
    CHECK_EQ(r.status, 200);
    snprintf(want, sizeof want, "len=%d hash=%08x", UPLOAD_SIZE,
             fnv(2166136261u, upload, UPLOAD_SIZE));
    if (!body_is(&r, want)) fprintf(stderr, "got [%s] want [%s]\n", r.body, want);
    CHECK(body_is(&r, want));
    free(r.body);
}

static void client_body_cl(void)
{
    cli_t c;
    char head[128];
    cli_open(&c);
    for (int round = 0; round < 2; round++) {
        snprintf(head, sizeof head, "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n",
                 UPLOAD_SIZE);
        cli_sends(&c, head);
        for (size_t off = 0; off < UPLOAD_SIZE; off += 7001)
            cli_send(&c, upload + off, off + 7001 <= UPLOAD_SIZE ? 7001 : UPLOAD_SIZE - off);
        check_upload_answer(&c);
    }
    cli_close(&c);
}

static void test_body_content_length(void)
{
    begin_opts();
    fill_upload();
    start_server(on_upload);
    run_client(client_body_cl);
    CHECK_EQ(upload_end_status, 0);
}

static void client_body_chunked(void)
{
    cli_t c;
    cli_open(&c);
    cli_sends(&c, "POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    static const size_t sizes[] = {1, 10, 4096, 65536, 100000, 3, 77};
    size_t off = 0;
    for (unsigned i = 0; off < UPLOAD_SIZE; i++) {
        size_t n = sizes[i % 7];
        if (n > UPLOAD_SIZE - off) n = UPLOAD_SIZE - off;
        char line[64];
        snprintf(line, sizeof line, i == 2 ? "%zx;ext=1\r\n" : "%zX\r\n", n);
        cli_sends(&c, line);
        cli_send(&c, upload + off, n);
        cli_sends(&c, "\r\n");
        off += n;
    }
    cli_sends(&c, "0\r\nX-Trailer: t\r\n\r\n");
    check_upload_answer(&c);
    cli_close(&c);
}

static void test_body_chunked(void)
{
    begin_opts();
    fill_upload();
    start_server(on_upload);
    run_client(client_body_chunked);
    CHECK_EQ(upload_end_status, 0);
}

/* "Connection: close" (or HTTP/1.0) ends the connection after this request, not its body:
 * a body that arrives after the head is still read. */
static void client_body_connection_close(void)
{
    cli_t c;
    char head[160];
    cli_open(&c);
    snprintf(head, sizeof head,
             "POST /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
             "Content-Length: %d\r\n\r\n",
             UPLOAD_SIZE);
    cli_sends(&c, head);
    wait_flag(&first_piece_seen, 1); /* the head was dispatched before any body byte came */
    for (size_t off = 0; off < UPLOAD_SIZE; off += 50000)
        cli_send(&c, upload + off, off + 50000 <= UPLOAD_SIZE ? 50000 : UPLOAD_SIZE - off);
    check_upload_answer(&c);
    cli_expect_eof(&c);
    cli_close(&c);
    /* HTTP/1.0, chunks of the body trickling in. */
    cli_open(&c);
    snprintf(head, sizeof head, "POST /b HTTP/1.0\r\nContent-Length: %d\r\n\r\n", UPLOAD_SIZE);
    cli_sends(&c, head);
    wait_flag(&first_piece_seen, 2);
    for (size_t off = 0; off < UPLOAD_SIZE; off += 100000)
        cli_send(&c, upload + off, off + 100000 <= UPLOAD_SIZE ? 100000 : UPLOAD_SIZE - off);
    check_upload_answer(&c);
    cli_expect_eof(&c);
    cli_close(&c);
}

static void on_upload_flagged(eddy_http_req_t *req, eddy_http_res_t *res)
{
    on_upload(req, res);
    atomic_fetch_add(&first_piece_seen, 1);
}

static void test_body_connection_close(void)
{
    begin_opts();
    fill_upload();
    start_server(on_upload_flagged);
    run_client(client_body_connection_close);
}

/* The server closes gracefully while a request body is on its way: the body is still read,
 * the request answered (with Connection: close), and then the server finishes. */
static void on_upload_then_close(eddy_http_req_t *req, eddy_http_res_t *res)
{
    on_upload(req, res);
    eddy_http_server_close(&server, on_server_closed);
    atomic_store(&first_piece_seen, 1);
}

static void client_body_during_close(void)
{
    cli_t c;
    char head[160];
    resp_t r = {0};
    cli_open(&c);
    snprintf(head, sizeof head, "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n",
             UPLOAD_SIZE);
    cli_sends(&c, head);
    wait_flag(&first_piece_seen, 1);
    cli_send(&c, upload, UPLOAD_SIZE);
    cli_response(&c, &r, 0);
    CHECK_EQ(r.status, 200);
    CHECK(resp_has(&r, "Connection", "close"));
    CHECK(strncmp(r.body, "len=300000 ", 11) == 0);
    cli_expect_eof(&c);
    free(r.body);
    cli_close(&c);
}

static void test_body_during_graceful_close(void)
{
    begin_opts();
    fill_upload();
    start_server(on_upload_then_close);
    run_client(client_body_during_close);
}

/* Pause at the request, and again at the first body piece: no body bytes arrive while
 * paused, and everything arrives after resume. */
static eddy_timer_t pause_timer;
static int paused;
static int pause_rounds;
static uint64_t pause_started, pause_total;
static eddy_http_req_t *paused_req;

static void pause_over(eddy_timer_t *t)
{
    CHECK(paused);
    paused = 0;
    pause_total += eddy_now(&loop) - pause_started;
    eddy_http_req_resume(paused_req);
}

static void pause_for(eddy_http_req_t *req, uint64_t ms)
{
    paused = 1;
    pause_rounds++;
    paused_req = req;
    pause_started = eddy_now(&loop);
    eddy_http_req_pause(req);
    CHECK(eddy_timer_start(&pause_timer, pause_over, ms, 0) == 0);
}

static void paused_body(eddy_http_req_t *req, const char *data, size_t len)
{
    CHECK(!paused);
    reqdata_t *d = eddy_http_req_data(req);
    upload_body(req, data, len);
    if (d->pieces == 1) {
        atomic_store(&first_piece_seen, 1);
        pause_for(req, 200);
    }
}

static void paused_end(eddy_http_req_t *req, int status)
{
    CHECK(!paused);
    eddy_close(&pause_timer.handle, NULL);
    upload_end(req, status);
}

static void on_paused(eddy_http_req_t *req, eddy_http_res_t *res)
{
    reqdata_t *d = eddy_http_req_data(req);
    d->res = res;
    eddy_http_req_on_body(req, paused_body, paused_end);
    pause_for(req, 200);
}

static void client_pause(void)
{
    cli_t c;
    char head[128];
    cli_open(&c);
    snprintf(head, sizeof head, "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n",
             UPLOAD_SIZE);
    /* The head and the first half in one write: body bytes are there while paused. */
    size_t hl = strlen(head);
    char *first = malloc(hl + UPLOAD_SIZE / 2);
    memcpy(first, head, hl);
    memcpy(first + hl, upload, UPLOAD_SIZE / 2);
    cli_send(&c, first, hl + UPLOAD_SIZE / 2);
    free(first);
    wait_flag(&first_piece_seen, 1);
    cli_send(&c, upload + UPLOAD_SIZE / 2, UPLOAD_SIZE - UPLOAD_SIZE / 2);
    check_upload_answer(&c);
    cli_close(&c);
}

static void test_body_pause_resume(void)
{
    begin_opts();
    fill_upload();
    start_server(on_paused);
    CHECK(eddy_timer_init(&loop, &pause_timer) == 0);
    run_client(client_pause);
    CHECK_EQ(pause_rounds, 2);
    CHECK(pause_total >= 400);
    CHECK_EQ(upload_end_status, 0);
}

/* ---- limits ---------------------------------------------------------------------------------- */

static int handler_calls;

/* Sends raw bytes on a fresh connection; expects `status`, Connection: close, then EOF. */
static void expect_rejected(const char *bytes, size_t len, int status)
{
    cli_t c;
    resp_t r = {0};
    cli_open(&c);
    cli_send(&c, bytes, len);
    cli_response(&c, &r, 0);
    if (r.status != status) fprintf(stderr, "expected %d, got [%s]\n", status, r.head);
    CHECK_EQ(r.status, status);
    CHECK(resp_has(&r, "Connection", "close"));
    cli_expect_eof(&c);
    free(r.body);
    cli_close(&c);
}

static void client_body_too_large(void)
{
    char req[8192];
    int n =
        snprintf(req, sizeof req, "POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n");
    memset(req + n, 'x', 5000);
    expect_rejected(req, (size_t)n + 5000, 413);
    /* Chunked: the limit is found while reading; the handler learns it, the server answers. */
    n = snprintf(req, sizeof req,
                 "POST /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "200\r\n");
    memset(req + n, 'y', 512);
    n += 512;
    n += snprintf(req + n, sizeof req - (size_t)n, "\r\n400\r\n");
    memset(req + n, 'z', 1024);
    n += 1024;
    n += snprintf(req + n, sizeof req - (size_t)n, "\r\n0\r\n\r\n");
    expect_rejected(req, (size_t)n, 413);
    /* Exactly at the limit is fine. */
    cli_t c;
    resp_t r = {0};
    cli_open(&c);
    n = snprintf(req, sizeof req, "POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n");
    memset(req + n, 'o', 1000);
    cli_send(&c, req, (size_t)n + 1000);
    cli_response(&c, &r, 0);
    CHECK_EQ(r.status, 200);
    CHECK(strncmp(r.body, "len=1000 ", 9) == 0);
    free(r.body);
    cli_close(&c);
}

static void on_too_large(eddy_http_req_t *req, eddy_http_res_t *res)
{
    handler_calls++;
    reqdata_t *d = eddy_http_req_data(req);
    d->res = res;
    /* "/ok" is answered by upload_end; the others are refused (413) by the server, and
     * upload_end then only releases them. */
    eddy_http_req_on_body(req, upload_body, upload_end);
}

static void test_body_too_large(void)
{
    begin_opts();
    opts.body_size_max = 1000;
    start_server(on_too_large);
    run_client(client_body_too_large);
    /* The Content-Length one never reached the handler; the chunked one did. */
    CHECK_EQ(handler_calls, 2);
    CHECK_EQ(stats().rejected, 2);
}

static void client_header_too_large(void)
{
    char req[4096];
    int n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(req + n, 'h', 2000);
    n += 2000;
    n += snprintf(req + n, sizeof req - (size_t)n, "\r\n\r\n");
    expect_rejected(req, (size_t)n, 431);
    cli_simple_get("/after");
}

static void test_header_size_max(void)
{
    begin_opts();
    opts.header_size_max = 1024;
    start_server(on_echo);
    eddy_http_server_opts_t got;
    eddy_http_server_get_opts(&server, &got);
    CHECK_EQ(got.header_size_max, 1024); /* the server reports what it was given */
    run_client(client_header_too_large);
}

static void client_url_too_long(void)
{
    char req[4096];
    int n = snprintf(req, sizeof req, "GET /");
    memset(req + n, 'u', 600);
    n += 600;
    n += snprintf(req + n, sizeof req - (size_t)n, " HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_rejected(req, (size_t)n, 414);
    cli_simple_get("/short");
}

static void test_url_size_max(void)
{
    begin_opts();
    opts.url_size_max = 512;
    start_server(on_echo);
    run_client(client_url_too_long);
}

static void client_too_many_headers(void)
{
    char req[4096];
    int n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 11; i++)
        n += snprintf(req + n, sizeof req - (size_t)n, "X-H%d: %d\r\n", i, i);
    n += snprintf(req + n, sizeof req - (size_t)n, "\r\n");
    expect_rejected(req, (size_t)n, 431);
    /* Exactly headers_max is fine. */
    n = snprintf(req, sizeof req, "GET /ten HTTP/1.1\r\n");
    for (int i = 0; i < 10; i++)
        n += snprintf(req + n, sizeof req - (size_t)n, "X-H%d:%s\r\n", i, i == 9 ? "" : " v");
    n += snprintf(req + n, sizeof req - (size_t)n, "\r\n");
    cli_t c;
    resp_t r = {0};
    cli_open(&c);
    cli_send(&c, req, (size_t)n);
    cli_response(&c, &r, 0);
    CHECK(r.status == 200 && body_is(&r, "GET /ten"));
    free(r.body);
    cli_close(&c);
}

static void on_ten_headers(eddy_http_req_t *req, eddy_http_res_t *res)
{
    CHECK_EQ(req->headers_len, 10);
    size_t len = 99;
    CHECK(eddy_http_req_header(req, "x-h9", &len) != NULL && len == 0); /* empty value */
    CHECK(eddy_http_req_header(req, "X-H8", &len) != NULL && len == 1);
    on_echo(req, res);
}

static void test_headers_max(void)
{
    begin_opts();
    opts.headers_max = 10;
    start_server(on_ten_headers);
    run_client(client_too_many_headers);
}

/* With no options at all the server takes Node's defaults; the two limits that are cheap to
 * reach are checked on the wire, at the limit and one past it. */
static void on_defaults(eddy_http_req_t *req, eddy_http_res_t *res)
{
    if (req->path_len == 7 && memcmp(req->path, "/fields", 7) == 0)
        CHECK_EQ(req->headers_len, 2000);
    on_echo(req, res);
}

/* A request of exactly `size` head bytes (request line and final blank line included). */
static size_t head_of_size(char *out, size_t size)
{
    int n = snprintf(out, size, "GET /big HTTP/1.1\r\nHost: x\r\nX-Pad: ");
    size_t pad = size - (size_t)n - 4;
    memset(out + n, 'p', pad);
    memcpy(out + n + pad, "\r\n\r\n", 4);
    return size;
}

/* A request with `fields` header fields of 6 bytes each. */
static size_t head_with_fields(char *out, int fields)
{
    size_t n = (size_t)sprintf(out, "GET /fields HTTP/1.1\r\n");
    for (int i = 0; i < fields; i++) {
        memcpy(out + n, "a: b\r\n", 6);
        n += 6;
    }
    memcpy(out + n, "\r\n", 2);
    return n + 2;
}

static void client_defaults(void)
{
    enum { HEAD_MAX = 16 * 1024 };
    char *req = malloc(HEAD_MAX + 1);
    CHECK(req != NULL);
    cli_t c;
    resp_t r = {0};
    cli_open(&c);
    cli_send(&c, req, head_of_size(req, HEAD_MAX));
    cli_response(&c, &r, 0);
    CHECK(r.status == 200 && body_is(&r, "GET /big"));
    cli_close(&c);
    expect_rejected(req, head_of_size(req, HEAD_MAX + 1), 431);
    /* 2001 fields in 12 KB: it is the count that is refused, not the size. */
    size_t len = head_with_fields(req, 2000);
    CHECK(len < HEAD_MAX);
    cli_open(&c);
    cli_send(&c, req, len);
    cli_response(&c, &r, 0);
    CHECK(r.status == 200 && body_is(&r, "GET /fields"));
    cli_close(&c);
    expect_rejected(req, head_with_fields(req, 2001), 431);
    free(req);
    free(r.body);
    cli_simple_get("/after");
}

static void test_server_defaults(void)
{
    begin_opts();
    eddy_http_server_opts_t d;
    eddy_http_server_opts_init(&d);
    /* Node's documented defaults: http.maxHeaderSize, server.maxHeadersCount, headersTimeout,
     * requestTimeout, keepAliveTimeout, maxRequestsPerSocket; no body limit, no connection cap. */
    CHECK_EQ(d.header_size_max, 16384);
    CHECK_EQ(d.headers_max, 2000);
    CHECK_EQ(d.headers_timeout_ms, 60000);
    CHECK_EQ(d.request_timeout_ms, 300000);
    CHECK_EQ(d.keep_alive_timeout_ms, 5000);
    CHECK_EQ(d.requests_per_conn_max, 0);
    CHECK_EQ(d.body_size_max, 0);
    CHECK_EQ(d.connections_max, 0);
    start_opts = NULL;
    start_server(on_defaults);
    /* A server given no options uses exactly those. */
    eddy_http_server_opts_t got;
    eddy_http_server_get_opts(&server, &got);
    CHECK_EQ(got.header_size_max, d.header_size_max);
    CHECK_EQ(got.url_size_max, d.url_size_max);
    CHECK_EQ(got.headers_max, d.headers_max);
    CHECK_EQ(got.body_size_max, d.body_size_max);
    CHECK_EQ(got.headers_timeout_ms, d.headers_timeout_ms);
    CHECK_EQ(got.request_timeout_ms, d.request_timeout_ms);
    CHECK_EQ(got.keep_alive_timeout_ms, d.keep_alive_timeout_ms);
    CHECK_EQ(got.requests_per_conn_max, d.requests_per_conn_max);
    CHECK_EQ(got.connections_max, d.connections_max);
    CHECK_EQ(got.pipeline_max, d.pipeline_max);
    CHECK_EQ(got.request_data_size, 0);
    run_client(client_defaults);
    CHECK_EQ(stats().rejected, 2);
}

/* ---- strictness: request smuggling vectors over a real socket ------------------------------ */

static const char *strict_bytes;
static int strict_status;

/* Each vector is followed, in the same write, by a well-formed request: a server that read
 * the broken framing another way would answer it (the client then sees bytes before EOF) or
 * hand it to the handler (which refuses it). That second request is the smuggled one. */
static const char smuggled[] = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";

static void client_strict(void)
{
    size_t n = strlen(strict_bytes);
    char *all = malloc(n + sizeof smuggled);
    CHECK(all != NULL);
    memcpy(all, strict_bytes, n);
    memcpy(all + n, smuggled, sizeof smuggled);
    expect_rejected(all, n + sizeof smuggled - 1, strict_status);
    free(all);
    cli_simple_get("/fresh");
}

static void on_strict(eddy_http_req_t *req, eddy_http_res_t *res)
{
    CHECK(!(req->path_len == 9 && memcmp(req->path, "/smuggled", 9) == 0));
    if (req->has_body)
        on_upload(req, res); /* a body that breaks gets end(-EPROTO): the handler answers 400 */
    else
        on_echo(req, res);
}

static void strict_case(const char *bytes, int status)
{
    begin_opts();
    strict_bytes = bytes;
    strict_status = status;
    start_server(on_strict);
    run_client(client_strict);
    CHECK_EQ(stats().connections, 2);
    CHECK_EQ(stats().rejected, 1);
}

static void test_strict_bare_lf(void)
{
    strict_case("GET / HTTP/1.1\nHost: x\n\n", 400);
}

static void test_strict_bare_cr(void)
{
    strict_case("GET / HTTP/1.1\rHost: x\r\n\r\n", 400);
}

static void test_strict_obs_fold(void)
{
    strict_case("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  b\r\n\r\n", 400);
}

static void test_strict_space_before_colon(void)
{
    strict_case("GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400);
}

static void test_strict_duplicate_content_length(void)
{
    strict_case("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
                400);
}

static void test_strict_cl_and_te(void)
{
    strict_case("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                400);
}

static void test_strict_te_not_chunked_last(void)
{
    strict_case("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"
                "0\r\n\r\n",
                400);
}

static void test_strict_bad_chunk_size(void)
{
    strict_case("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                "3\r\nabc\r\nzz\r\nabc\r\n0\r\n\r\n",
                400);
}

static void test_strict_chunk_size_overflow(void)
{
    strict_case("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                "fffffffffffffffff1\r\nabc\r\n0\r\n\r\n",
                400);
}

static void test_strict_control_char_in_value(void)
{
    strict_case("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01z\r\n\r\n", 400);
}

static void test_strict_invalid_method(void)
{
    strict_case("G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400);
}

static void test_strict_unknown_method(void)
{
    strict_case("FROB / HTTP/1.1\r\nHost: x\r\n\r\n",
                eddy_http_errno_status(EDDY_HTTP_E_UNKNOWN_METHOD));
}

static void test_strict_bad_version(void)
{
    strict_case("GET / HTTP/2.0\r\nHost: x\r\n\r\n",
                eddy_http_errno_status(EDDY_HTTP_E_UNSUPPORTED_VERSION));
}

static void test_strict_space_before_first_header(void)
{
    /* A first line that starts with whitespace would be folded into the request line by a
     * lenient reader, or taken as a header by another. */
    strict_case("GET / HTTP/1.1\r\n Host: x\r\n\r\n", 400);
}

static void test_strict_tab_before_first_header(void)
{
    strict_case("POST / HTTP/1.1\r\n\tContent-Length: 3\r\nHost: x\r\n\r\nabc", 400);
}

static void test_strict_invalid_chunk_extension(void)
{
    /* Whitespace inside a chunk extension: some readers stop at the space, others at the CR. */
    strict_case("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                "3;a b\r\nabc\r\n0\r\n\r\n",
                400);
}

static void test_strict_unterminated_chunk_extension(void)
{
    /* A quoted extension value that never closes swallows the CRLF: no chunk line ends. */
    strict_case("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                "3;a=\"x\r\nabc\r\n0\r\n\r\n",
                400);
}

static void test_strict_content_length_overflow(void)
{
    /* More digits than 63 bits hold: a reader that wraps around would see a short body and
     * parse the rest as the next request. */
    strict_case("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551619\r\n\r\n"
                "abc",
                400);
}

static void test_strict_content_length_list(void)
{
    /* "3, 3" is one value to some readers and invalid to others: refused. */
    strict_case("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc", 400);
}

static void test_strict_content_length_sign(void)
{
    strict_case("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc", 400);
}

static void test_strict_bare_lf_in_chunk_line(void)
{
    strict_case("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                "3\nabc\r\n0\r\n\r\n",
                400);
}

static void test_strict_chunk_data_overrun(void)
{
    /* Chunk data longer than its size: the CRLF that must follow is missing. */
    strict_case("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                "3\r\nabcdef\r\n0\r\n\r\n",
                400);
}

static void test_strict_invalid_header_name(void)
{
    strict_case("GET / HTTP/1.1\r\nHost: x\r\nX\x01Y: z\r\n\r\n", 400);
}

static void test_strict_transfer_encoding_twice(void)
{
    strict_case("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                400);
}

/* ---- timeouts ------------------------------------------------------------------------------ */

/* Timeout bounds come from what the server promises, not from how promptly threads run: a
 * timeout fires no earlier than its deadline (the loop's clock never runs ahead of
 * CLOCK_MONOTONIC, which now_ms reads too) and at the latest one sweep after it. The lower bound
 * is measured from a time before the server's clock started (before connecting: the server
 * takes the time when it accepts); the upper bound adds the sweep and generous scheduling slack
 * for a loaded machine, and only has to tell "the configured timeout" from "never". */
enum { SCHED_SLACK_MS = 3000 };

static void check_timeout_took(uint64_t took, uint64_t timeout_ms)
{
    if (took < timeout_ms || took >= timeout_ms + EDDY__HTTP_SWEEP_MS + SCHED_SLACK_MS)
        fprintf(stderr, "timeout of %llu ms took %llu ms\n", (unsigned long long)timeout_ms,
                (unsigned long long)took);
    CHECK(took >= timeout_ms);
    CHECK(took < timeout_ms + EDDY__HTTP_SWEEP_MS + SCHED_SLACK_MS);
}

static void client_headers_timeout(void)
{
    cli_t c;
    resp_t r = {0};
    uint64_t t0 = now_ms(); /* before connecting: the deadline runs from the accept */
    cli_open(&c);
    cli_sends(&c, "GET / HTTP/1.1\r\nHost: x\r\n"); /* and never the blank line */
    cli_response(&c, &r, 0);
    uint64_t took = now_ms() - t0;
    CHECK_EQ(r.status, 408);
    CHECK(resp_has(&r, "Connection", "close"));
    cli_expect_eof(&c);
    check_timeout_took(took, 1000);
    cli_close(&c);
    /* A connection that sends nothing at all times out the same way. */
    cli_open(&c);
    cli_response(&c, &r, 0);
    CHECK_EQ(r.status, 408);
    cli_expect_eof(&c);
    cli_close(&c);
    free(r.body);
}

static void test_headers_timeout(void)
{
    begin_opts();
    opts.headers_timeout_ms = 1000;
    start_server(on_echo);
    run_client(client_headers_timeout);
    CHECK_EQ(stats().timeouts, 2);
    CHECK_EQ(stats().requests, 0);
}

static int aborted_status;

static void on_slow_abort(eddy_http_res_t *res, int status)
{
    aborted_status = status;
    CHECK(eddy_http_res_end(res, "late", 4) < 0); /* the pair is released all the same */
}

static void on_slow_body(eddy_http_req_t *req, eddy_http_res_t *res)
{
    eddy_http_req_on_body(req, upload_body, NULL);
    eddy_http_res_on_abort(res, on_slow_abort);
}

static void client_request_timeout(void)
{
    cli_t c;
    resp_t r = {0};
    uint64_t t0 = now_ms(); /* the request's clock, too, starts at the accept */
    cli_open(&c);
    cli_sends(&c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789");
    cli_response(&c, &r, 0);
    uint64_t took = now_ms() - t0;
    CHECK_EQ(r.status, 408);
    CHECK(resp_has(&r, "Connection", "close"));
    cli_expect_eof(&c);
    check_timeout_took(took, 1000);
    free(r.body);
    cli_close(&c);
}

static void test_request_timeout(void)
{
    begin_opts();
    opts.request_timeout_ms = 1000;
    start_server(on_slow_body);
    run_client(client_request_timeout);
    CHECK_EQ(aborted_status, -ETIMEDOUT);
    CHECK_EQ(stats().timeouts, 1);
}

static void client_keep_alive_timeout(void)
{
    cli_t c;
    resp_t r = {0};
    cli_open(&c);
    cli_sends(&c, "GET /k1 HTTP/1.1\r\nHost: x\r\n\r\n");
    cli_response(&c, &r, 0);
    CHECK_EQ(r.status, 200);
    /* The idle clock starts when the server has answered /k2, at a loop time taken once /k2
     * woke the loop, so after t0; the answer reaches the client before t1. */
    uint64_t t0 = now_ms();
    cli_sends(&c, "GET /k2 HTTP/1.1\r\nHost: x\r\n\r\n");
    cli_response(&c, &r, 0);
    CHECK_EQ(r.status, 200);
    uint64_t t1 = now_ms();
    cli_expect_eof(&c);
    uint64_t t2 = now_ms();
    fprintf(stderr, "idle close %llu ms after the request, %llu ms after its answer\n",
            (unsigned long long)(t2 - t0), (unsigned long long)(t2 - t1));
    CHECK(t2 - t0 >= 1000);
    CHECK(t2 - t1 < 1000 + EDDY__HTTP_SWEEP_MS + SCHED_SLACK_MS);
    free(r.body);
    cli_close(&c);
}

static void test_keep_alive_timeout(void)
{
    begin_opts();
    opts.keep_alive_timeout_ms = 1000;
    start_server(on_echo);
    run_client(client_keep_alive_timeout);
    CHECK_EQ(stats().timeouts, 0); /* an idle close is not a timeout answered with 408 */
}

enum { SLOW_TOTAL = 8 << 20 };

static void on_big_at_once(eddy_http_req_t *req, eddy_http_res_t *res)
{
    char *big = malloc(SLOW_TOTAL);
    CHECK(big != NULL);
    for (size_t i = 0; i < SLOW_TOTAL; i++)
        big[i] = (char)(i % 251);
    CHECK(eddy_http_res_end(res, big, SLOW_TOTAL) == 0); /* queued: the client reads slowly */
    free(big);
}

static void client_slow_drain(void)
{
    cli_t c;
    cli_open(&c);
    set_small_rcvbuf(&c);
    cli_sends(&c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    /* Read at about 2.5 MB/s, so the response takes longer than the keep-alive timeout: the
     * connection is not idle while the server still has bytes for it. */
    uint64_t t0 = now_ms();
    size_t total = 0, head = 0;
    char buf[32768];
    while (total < head + SLOW_TOTAL || head == 0) {
        ssize_t n = recv(c.fd, buf, sizeof buf, 0);
        if (n <= 0)
            fprintf(stderr, "client: connection ended after %zu bytes, %llu ms\n", total,
                    (unsigned long long)(now_ms() - t0));
        CHECK(n > 0);
        if (head == 0) {
            char *e = memmem(buf, (size_t)n, "\r\n\r\n", 4);
            CHECK(e != NULL);
            head = (size_t)(e - buf) + 4;
        }
        total += (size_t)n;
        struct timespec ts = {0, 12 * 1000 * 1000}; /* the slow reader, not a race */
        nanosleep(&ts, NULL);
    }
    CHECK_EQ(total, head + SLOW_TOTAL);
    CHECK(now_ms() - t0 > 2000);
    /* Afterwards the connection is idle and does time out. */
    cli_expect_eof(&c);
    cli_close(&c);
}

static void test_keep_alive_timeout_slow_reader(void)
{
    begin_opts();
    opts.keep_alive_timeout_ms = 1000;
    start_server(on_big_at_once);
    run_client(client_slow_drain);
}

/* ---- per-connection and server limits ------------------------------------------------------ */

static void client_requests_per_conn(void)
{
    cli_t c;
    resp_t r = {0};
    cli_open(&c);
    for (int i = 0; i < 3; i++) {
        cli_sends(&c, "GET /n HTTP/1.1\r\nHost: x\r\n\r\n");
        cli_response(&c, &r, 0);
        CHECK_EQ(r.status, 200);
        CHECK(resp_has(&r, "Connection", "close") == (i == 2));
    }
    cli_expect_eof(&c);
    free(r.body);
    cli_close(&c);
}

static void test_requests_per_conn_max(void)
{
    begin_opts();
    opts.requests_per_conn_max = 3;
    start_server(on_echo);
    run_client(client_requests_per_conn);
    CHECK_EQ(stats().requests, 3);
}

static void client_connections_max(void)
{
    cli_t a, b, c;
    resp_t r = {0};
    cli_open(&a);
    cli_open(&b);
    cli_sends(&a, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    cli_response(&a, &r, 0);
    CHECK(body_is(&r, "GET /a"));
    cli_sends(&b, "GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    cli_response(&b, &r, 0);
    CHECK(body_is(&r, "GET /b"));
    /* The third is accepted by the kernel, then closed by the server at once. */
    cli_open(&c);
    send(c.fd, "GET /c HTTP/1.1\r\nHost: x\r\n\r\n", 29, MSG_NOSIGNAL);
    cli_expect_eof(&c);
    cli_close(&c);
    /* The first two are still served. */
    cli_sends(&a, "GET /a2 HTTP/1.1\r\nHost: x\r\n\r\n");
    cli_response(&a, &r, 0);
    CHECK(body_is(&r, "GET /a2"));
    cli_sends(&b, "GET /b2 HTTP/1.1\r\nHost: x\r\n\r\n");
    cli_response(&b, &r, 0);
    CHECK(body_is(&r, "GET /b2"));
    cli_close(&a);
    /* Once one left, a new one is served. */
    eddy_http_server_stats_t st;
    uint64_t deadline = now_ms() + 5000;
    do {
        eddy_http_server_stats(&server, &st); /* a racy read of a counter, for waiting only */
        CHECK(now_ms() < deadline);
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    } while (st.connections_now > 1);
    cli_simple_get("/d");
    cli_close(&b);
    free(r.body);
}

static void test_connections_max(void)
{
    begin_opts();
    opts.connections_max = 2;
    start_server(on_echo);
    run_client(client_connections_max);
    CHECK_EQ(stats().dropped, 1);
    CHECK_EQ(stats().connections_peak, 2);
}

/* ---- upgrade ---------------------------------------------------------------------------- */

static const char upgrade_req[] = "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                                  "Upgrade: echo\r\n\r\n";

static void client_upgrade_ignored(void)
{
    cli_t c;
    resp_t r = {0};
    cli_open(&c);
    char both[256];
    snprintf(both, sizeof both, "%sGET /after HTTP/1.1\r\nHost: x\r\n\r\n", upgrade_req);
    cli_sends(&c, both);
    cli_response(&c, &r, 0);
    CHECK(r.status == 200 && body_is(&r, "GET /ws"));
    cli_response(&c, &r, 0);
    CHECK(r.status == 200 && body_is(&r, "GET /after"));
    free(r.body);
    cli_close(&c);
}

static void test_upgrade_without_callback(void)
{
    begin_opts();
    start_server(on_echo);
    run_client(client_upgrade_ignored);
    CHECK_EQ(stats().requests, 2);
}

static eddy_tcp_t tunnel;
static int tunnel_closed;

typedef struct {
    eddy_write_t req;
    char bytes[];
} twrite_t;

static void tunnel_written(eddy_write_t *req, int status)
{
    free(eddy_container_of(req, twrite_t, req));
}

static void tunnel_write(const char *data, size_t len)
{
    twrite_t *w = malloc(sizeof *w + len);
    memcpy(w->bytes, data, len);
    eddy_buf_t b = eddy_buf_init(w->bytes, len);
    CHECK(eddy_stream_write(&w->req, &tunnel.stream, &b, 1, tunnel_written) >= 0);
}

static void tunnel_on_closed(eddy_handle_t *h)
{
    tunnel_closed = 1;
}

static void tunnel_read(eddy_stream_t *s, ssize_t n, const eddy_buf_t *buf)
{
    if (n < 0) {
        eddy_close(&s->handle, tunnel_on_closed);
        return;
    }
    tunnel_write(buf->base, (size_t)n); /* echo */
}

static int upgrade_calls;

static void on_upgrade(eddy_http_req_t *req, eddy_http_res_t *res, const char *head,
                       size_t head_len)
{
    upgrade_calls++;
    size_t len;
    const char *v = eddy_http_req_header(req, "upgrade", &len);
    CHECK(v && len == 4 && memcmp(v, "echo", 4) == 0);
    CHECK(head_len == 5 && memcmp(head, "hello", 5) == 0);
    int fd = eddy_http_res_detach(res);
    CHECK(fd >= 0);
    CHECK(eddy_tcp_init(&loop, &tunnel) == 0);
    CHECK(eddy_tcp_open(&tunnel, fd) == 0);
    static const char ok[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                             "Upgrade: echo\r\n\r\n";
    tunnel_write(ok, sizeof ok - 1);
    tunnel_write(head, head_len);
    CHECK(eddy_stream_read_start(&tunnel.stream, NULL, tunnel_read) == 0);
}

static void client_upgrade(void)
{
    cli_t c;
    resp_t r = {0};
    cli_open(&c);
    char both[256];
    snprintf(both, sizeof both, "%shello", upgrade_req);
    cli_sends(&c, both); /* the new protocol's first bytes come with the request */
    cli_response(&c, &r, 1);
    CHECK_EQ(r.status, 101);
    cli_need(&c, 5);
    CHECK(memcmp(c.buf, "hello", 5) == 0);
    cli_consume(&c, 5);
    cli_sends(&c, "world, not HTTP\r\n\r\n");
    cli_need(&c, 19);
    CHECK(memcmp(c.buf, "world, not HTTP\r\n\r\n", 19) == 0);
    cli_consume(&c, 19);
    cli_close(&c);
    /* The server forgot the connection; it still serves others. */
    cli_simple_get("/plain");
}

static void test_upgrade_with_callback(void)
{
    begin_opts();
    start_server(on_echo);
    eddy_http_server_on_upgrade(&server, on_upgrade);
    run_client(client_upgrade);
    CHECK_EQ(upgrade_calls, 1);
    CHECK_EQ(tunnel_closed, 1);
}

/* ---- graceful close ---------------------------------------------------------------------- */

static int slow_answered;
static atomic_int close_started;
static eddy_async_t release_slow;
static eddy_http_res_t *slow_res;

/* The slow request is answered only when the client says it saw the idle connection close. */
static void on_release_slow(eddy_async_t *a)
{
    eddy_close(&a->handle, NULL);
    CHECK(!server_closed);
    slow_answered = 1;
    end_str(slow_res, "slow");
}

static void check_closed_after_slow(void)
{
    CHECK(slow_answered);
}

static void on_graceful(eddy_http_req_t *req, eddy_http_res_t *res)
{
    if (req->path_len == 5 && memcmp(req->path, "/slow", 5) == 0) {
        slow_res = res;
        on_server_closed_hook = check_closed_after_slow;
        eddy_http_server_close(&server, on_server_closed);
        atomic_store(&close_started, 1);
        return;
    }
    on_echo(req, res);
}

static void client_graceful(void)
{
    cli_t idle, busy;
    resp_t r = {0};
    cli_open(&idle);
    cli_sends(&idle, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    cli_response(&idle, &r, 0);
    CHECK(body_is(&r, "GET /a"));
    cli_open(&busy);
    cli_sends(&busy, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
    wait_flag(&close_started, 1);
    /* The idle one closes while the slow request is still in flight: the server cannot answer
     * that before this EOF, so a server that kept idle connections until its requests finished
     * leaves this read to time out (no clock involved). */
    cli_expect_eof(&idle);
    CHECK(eddy_async_send(&release_slow) == 0);
    cli_response(&busy, &r, 0);
    CHECK(r.status == 200 && body_is(&r, "slow"));
    CHECK(resp_has(&r, "Connection", "close"));
    cli_expect_eof(&busy);
    /* Nobody listens any more. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(connect(fd, (struct sockaddr *)&server_addr, sizeof(struct sockaddr_in)) != 0);
    CHECK(errno == ECONNREFUSED);
    close(fd);
    cli_close(&idle);
    cli_close(&busy);
    free(r.body);
}

static void test_graceful_close(void)
{
    begin_opts();
    opts.keep_alive_timeout_ms = 60000; /* only the close can end the idle connection in time */
    start_server(on_graceful);
    CHECK(eddy_async_init(&loop, &release_slow, on_release_slow) == 0);
    run_client(client_graceful);
    CHECK(slow_answered);
}

/* ---- backpressure ------------------------------------------------------------------------ */

enum { STREAM_TOTAL = 16 << 20, STREAM_PIECE = 16384 };
static eddy_http_res_t *stream_res;
static size_t stream_written, stream_queue_max, stream_written_at_stall;
static int stream_waiting, stream_fulls;
static eddy_timer_t probe;
static size_t probe_last;
static int probe_still;
static atomic_int stalled;
static char piece[STREAM_PIECE];

static void close_probe(void)
{
    eddy_close(&probe.handle, NULL);
}

static size_t res_queue(eddy_http_res_t *res)
{
    return eddy_stream_write_queue_size(&eddy__http_xchg(res)->conn->s.stream);
}

static void stream_more(eddy_http_res_t *res)
{
    stream_waiting = 0;
    while (stream_written < STREAM_TOTAL) {
        for (size_t i = 0; i < STREAM_PIECE; i += 4096)
            memcpy(piece + i, &stream_written, sizeof stream_written); /* position stamps */
        int r = eddy_http_res_write(res, piece, STREAM_PIECE);
        CHECK(r == 0 || r == EDDY_STREAM_FULL);
        stream_written += STREAM_PIECE;
        size_t q = res_queue(res);
        if (q > stream_queue_max) stream_queue_max = q;
        if (r == EDDY_STREAM_FULL) {
            stream_fulls++;
            stream_waiting = 1;
            return; /* on_drain resumes */
        }
    }
    CHECK(eddy_http_res_end(res, NULL, 0) == 0);
    stream_res = NULL;
}

static void on_stream(eddy_http_req_t *req, eddy_http_res_t *res)
{
    char len[32];
    snprintf(len, sizeof len, "%d", STREAM_TOTAL);
    CHECK(eddy_http_res_set_header(res, "Content-Length", len) == 0);
    eddy_http_res_on_drain(res, stream_more);
    stream_res = res;
    stream_more(res);
}

/* Every 50 ms: has the handler been waiting for a drain, with nothing written, for 300 ms? */
static void probe_stream(eddy_timer_t *t)
{
    if (atomic_load(&stalled)) return;
    if (stream_waiting && stream_written == probe_last) {
        if (++probe_still == 6) {
            stream_written_at_stall = stream_written;
            atomic_store(&stalled, 1);
        }
    } else {
        probe_still = 0;
    }
    probe_last = stream_written;
}

static void client_slow_reader(void)
{
    cli_t c;
    cli_open(&c);
    set_small_rcvbuf(&c);
    cli_sends(&c, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
    wait_flag(&stalled, 1); /* the client does not read until the server stalls */
    resp_t r = {0};
    cli_response(&c, &r, 0);
    CHECK_EQ(r.status, 200);
    CHECK_EQ(r.body_len, STREAM_TOTAL);
    for (size_t off = 0; off < STREAM_TOTAL; off += 4096) {
        size_t stamp;
        memcpy(&stamp, r.body + off, sizeof stamp);
        CHECK_EQ(stamp, off / STREAM_PIECE * STREAM_PIECE);
    }
    free(r.body);
    cli_close(&c);
}

static void test_backpressure_slow_reader(void)
{
    begin_opts();
    start_server(on_stream);
    CHECK(eddy_timer_init(&loop, &probe) == 0);
    CHECK(eddy_timer_start(&probe, probe_stream, 50, 50) == 0);
    eddy_unref(&probe.handle);
    on_server_closed_hook = close_probe;
    run_client(client_slow_reader);
    /* The handler stopped when told (the kernel's buffers hold a few MB at most), and the
     * server's queue never went far past the mark. */
    fprintf(stderr, "written before the stall: %zu of %d; queue max %zu\n", stream_written_at_stall,
            STREAM_TOTAL, stream_queue_max);
    CHECK(stream_fulls > 0);
    CHECK(stream_written_at_stall < STREAM_TOTAL / 2);
    CHECK(stream_queue_max <= EDDY_STREAM_HWM_DEFAULT + STREAM_PIECE + 512);
    CHECK(stream_res == NULL);
}

static uint64_t probe_requests;
static size_t pipe_queue_max;
static size_t out_cap_max;
static conn_t *pipe_conn;
static uint64_t requests_at_stall;

enum { FLOOD_N = 3000, FLOOD_BODY = 16384 };

static void on_flood(eddy_http_req_t *req, eddy_http_res_t *res)
{
    pipe_conn = eddy__http_xchg(res)->conn;
    CHECK(eddy_http_res_end(res, piece, FLOOD_BODY) == 0);
}

static void probe_flood(eddy_timer_t *t)
{
    if (atomic_load(&stalled))
        return; /* the client reads from here on: measure only while it does not */
    if (server._out_cap > out_cap_max) out_cap_max = server._out_cap;
    if (pipe_conn) {
        size_t q = eddy_stream_write_queue_size(&pipe_conn->s.stream);
        if (q > pipe_queue_max) pipe_queue_max = q;
    }
    uint64_t n = stats().requests;
    if (n > 0 && n == probe_requests) {
        if (++probe_still == 6) {
            requests_at_stall = n;
            atomic_store(&stalled, 1);
        }
    } else {
        probe_still = 0;
    }
    probe_requests = n;
}

static void client_flood(void)
{
    cli_t c;
    cli_open(&c);
    set_small_rcvbuf(&c);
    static const char one[] = "GET /f HTTP/1.1\r\nHost: x\r\n\r\n";
    size_t n = sizeof one - 1;
    char *all = malloc(n * FLOOD_N);
    for (int i = 0; i < FLOOD_N; i++)
        memcpy(all + (size_t)i * n, one, n);
    /* The server's receive buffer takes all of it (about 90 KB), so this does not block. */
    cli_send(&c, all, n * FLOOD_N);
    free(all);
    wait_flag(&stalled, 1);
    resp_t r = {0};
    for (int i = 0; i < FLOOD_N; i++) {
        cli_response(&c, &r, 0);
        CHECK_EQ(r.status, 200);
        CHECK_EQ(r.body_len, FLOOD_BODY);
    }
    free(r.body);
    cli_close(&c);
}

static void test_backpressure_pipeline_flood(void)
{
    begin_opts();
    opts.pipeline_max = 64;
    start_server(on_flood);
    CHECK(eddy_timer_init(&loop, &probe) == 0);
    CHECK(eddy_timer_start(&probe, probe_flood, 50, 50) == 0);
    eddy_unref(&probe.handle);
    on_server_closed_hook = close_probe;
    run_client(client_flood);
    /* Reading stopped while the client did not read: few requests were dispatched, and the
     * queued output stayed near the mark instead of holding every answer. */
    fprintf(stderr, "dispatched before the stall: %llu of %d; queue max %zu; scratch max %zu\n",
            (unsigned long long)requests_at_stall, FLOOD_N, pipe_queue_max, out_cap_max);
    CHECK(requests_at_stall < FLOOD_N / 2);
    CHECK(pipe_queue_max <= EDDY_STREAM_HWM_DEFAULT + 2 * FLOOD_BODY + 1024);
    CHECK(out_cap_max <= 4 * EDDY_STREAM_HWM_DEFAULT);
    CHECK_EQ(stats().requests, FLOOD_N);
}

/* ---- the router ---------------------------------------------------------------------------- */

static eddy_http_router_t router;

static void route_user(eddy_http_req_t *req, eddy_http_res_t *res)
{
    size_t len;
    const char *id = eddy_http_req_param(req, "id", &len);
    CHECK(id != NULL);
    char body[64];
    snprintf(body, sizeof body, "user %.*s", (int)len, id);
    end_str(res, body);
}

static void answer_book(eddy_http_res_t *res)
{
    /* Parameters survive the read buffer: the request outlived it. */
    size_t il, bl;
    const char *id = eddy_http_req_param(res->req, "id", &il);
    const char *book = eddy_http_req_param(res->req, "book", &bl);
    CHECK(id && book && eddy_http_req_param(res->req, "nope", NULL) == NULL);
    char body[64];
    snprintf(body, sizeof body, "user %.*s book %.*s", (int)il, id, (int)bl, book);
    end_str(res, body);
}

static void route_book(eddy_http_req_t *req, eddy_http_res_t *res)
{
    answer_later(req, res, 20, answer_book);
}

static void route_delete(eddy_http_req_t *req, eddy_http_res_t *res)
{
    end_str(res, "deleted");
}

static void route_files(eddy_http_req_t *req, eddy_http_res_t *res)
{
    char body[256];
    snprintf(body, sizeof body, "files %.*s", (int)req->path_len, req->path);
    end_str(res, body);
}

static void on_routed(eddy_http_req_t *req, eddy_http_res_t *res)
{
    eddy_http_router_dispatch(&router, req, res);
}

static void route_expect(cli_t *c, const char *method, const char *target, int status,
                         const char *body)
{
    char req[256];
    resp_t r = {0};
    snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: x\r\n\r\n", method, target);
    cli_sends(c, req);
    cli_response(c, &r, strcmp(method, "HEAD") == 0);
    if (r.status != status || (body && !body_is(&r, body)))
        fprintf(stderr, "%s %s: got %d [%s]\n", method, target, r.status, r.body ? r.body : "");
    CHECK_EQ(r.status, status);
    if (body) CHECK(body_is(&r, body));
    free(r.body);
}

static void client_router(void)
{
    cli_t c;
    resp_t r = {0};
    cli_open(&c);
    route_expect(&c, "GET", "/users/42", 200, "user 42");
    route_expect(&c, "GET", "/users/42?x=/y", 200, "user 42");
    route_expect(&c, "GET", "/users/42/books/7", 200, "user 42 book 7");
    route_expect(&c, "DELETE", "/users/42", 200, "deleted");
    route_expect(&c, "GET", "/files/a/b.txt", 200, "files /files/a/b.txt");
    route_expect(&c, "GET", "/files/", 200, "files /files/");
    route_expect(&c, "GET", "/nope", 404, NULL);
    route_expect(&c, "GET", "/users/", 404, NULL);
    route_expect(&c, "GET", "/users", 404, NULL);
    route_expect(&c, "GET", "/users/42/extra", 404, NULL);
    route_expect(&c, "HEAD", "/users/42", 200, NULL);
    /* 405 with Allow naming every method the path has. */
    cli_sends(&c, "PUT /users/42 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    cli_response(&c, &r, 0);
    CHECK_EQ(r.status, 405);
    char allow[128];
    CHECK(resp_header(&r, "Allow", allow, sizeof allow));
    CHECK(strstr(allow, "GET") && strstr(allow, "DELETE") && !strstr(allow, "PUT"));
    /* A method that is a substring of another still gets its own Allow entry. */
    cli_sends(&c, "GET /dav HTTP/1.1\r\nHost: x\r\n\r\n");
    cli_response(&c, &r, 0);
    CHECK_EQ(r.status, 405);
    CHECK(resp_header(&r, "Allow", allow, sizeof allow));
    CHECK(strcmp(allow, "PROPPATCH, PATCH") == 0);
    /* HEAD on a GET route: Content-Length of the GET body, no body bytes. */
    cli_sends(&c, "HEAD /users/7 HTTP/1.1\r\nHost: x\r\n\r\n");
    cli_response(&c, &r, 1);
    CHECK(r.status == 200 && resp_has(&r, "Content-Length", "6"));
    route_expect(&c, "GET", "/users/7", 200, "user 7");
    free(r.body);
    cli_close(&c);
}

static void test_router(void)
{
    begin_opts();
    eddy_http_router_init(&router);
    CHECK(eddy_http_router_add(&router, "GET", "/users/:id", route_user) == 0);
    CHECK(eddy_http_router_add(&router, "GET", "/users/:id/books/:book", route_book) == 0);
    CHECK(eddy_http_router_add(&router, "DELETE", "/users/:id", route_delete) == 0);
    CHECK(eddy_http_router_add(&router, NULL, "/files/*", route_files) == 0);
    CHECK(eddy_http_router_add(&router, "PROPPATCH", "/dav", route_delete) == 0);
    CHECK(eddy_http_router_add(&router, "PATCH", "/dav", route_delete) == 0);
    CHECK(eddy_http_router_add(&router, "GET", "relative", route_delete) == -EINVAL);
    start_server(on_routed);
    run_client(client_router);
    eddy_http_router_free(&router);
}

/* ---- headers ------------------------------------------------------------------------------- */

static void on_injection(eddy_http_req_t *req, eddy_http_res_t *res)
{
    CHECK(eddy_http_res_set_header(res, "X-A", "a\r\nX-Injected: 1") == -EINVAL);
    CHECK(eddy_http_res_set_header(res, "X-A", "a\nX-Injected: 1") == -EINVAL);
    CHECK(eddy_http_res_set_header(res, "X-A", "a\rX-Injected: 1") == -EINVAL);
    CHECK(eddy_http_res_add_header(res, "X-A", "a\r\n\r\nbody") == -EINVAL);
    CHECK(eddy_http_res_set_header(res, "X-Injected: 1\r\nX-B", "v") == -EINVAL);
    CHECK(eddy_http_res_set_header(res, "Bad Name", "v") == -EINVAL);
    CHECK(eddy_http_res_set_header(res, "", "v") == -EINVAL);
    CHECK(eddy_http_res_set_header(res, "X-Nul", "a\x7f") == -EINVAL);
    CHECK(eddy_http_res_set_header(res, "X-Tab", "a\tb") == 0);
    CHECK(eddy_http_res_set_header(res, "X-Ok", "first") == 0);
    CHECK(eddy_http_res_set_header(res, "x-ok", "second") == 0); /* replaces, any case */
    size_t len;
    const char *v = eddy_http_res_get_header(res, "X-OK", &len);
    CHECK(v && len == 6 && memcmp(v, "second", 6) == 0);
    CHECK(eddy_http_res_add_header(res, "X-Gone", "1") == 0);
    CHECK(eddy_http_res_remove_header(res, "x-gone") == 0);
    CHECK(eddy_http_res_get_header(res, "X-Gone", NULL) == NULL);
    CHECK(eddy_http_res_set_status(res, 42) == -EINVAL);
    CHECK(eddy_http_res_write_head(res, 201) == 0);
    CHECK(eddy_http_res_set_header(res, "X-Late", "1") == -EALREADY);
    CHECK(eddy_http_res_write_head(res, 202) == -EALREADY);
    end_str(res, "created");
}

static void client_injection(void)
{
    cli_t c;
    resp_t r = {0};
    cli_open(&c);
    cli_sends(&c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    cli_response(&c, &r, 0);
    CHECK_EQ(r.status, 201);
    CHECK(body_is(&r, "created"));
    CHECK(strcasestr(r.head, "injected") == NULL);
    CHECK(strcasestr(r.head, "x-gone") == NULL);
    CHECK(resp_has(&r, "X-Ok", "second") || resp_has(&r, "x-ok", "second"));
    CHECK(resp_has(&r, "X-Tab", "a\tb"));
    CHECK(resp_has(&r, "Content-Length", "7"));
    free(r.body);
    cli_close(&c);
}

static void test_header_injection(void)
{
    begin_opts();
    start_server(on_injection);
    run_client(client_injection);
}

static void on_case(eddy_http_req_t *req, eddy_http_res_t *res)
{
    size_t len;
    const char *v = eddy_http_req_header(req, "x-custom-header", &len);
    CHECK(v && len == 10 && memcmp(v, "Some Value", 10) == 0);
    v = eddy_http_req_header(req, "X-OTHER", &len);
    CHECK(v && len == 2 && memcmp(v, "v2", 2) == 0); /* the first of two */
    CHECK(eddy_http_req_header(req, "X-Missing", &len) == NULL);
    CHECK(eddy_http_req_header(req, "X-Custom", &len) == NULL); /* no prefix match */
    v = eddy_http_req_header(req, "x-trailing", &len);
    CHECK(v && len == 3 && memcmp(v, "abc", 3) == 0); /* optional whitespace is not the value */
    v = eddy_http_req_header(req, "host", NULL);
    CHECK(v && *v == 'x');
    on_echo(req, res);
}

static void client_case(void)
{
    cli_t c;
    resp_t r = {0};
    cli_open(&c);
    /* Sent byte by byte: every span is split across reads. */
    const char *req = "GET /case HTTP/1.1\r\nHost: x\r\nX-Custom-Header: Some Value\r\n"
                      "x-other:v2\r\nX-Other: v3\r\nX-Trailing: \t abc \t \r\n\r\n";
    for (const char *p = req; *p; p++)
        cli_send(&c, p, 1);
    cli_response(&c, &r, 0);
    CHECK(r.status == 200 && body_is(&r, "GET /case"));
    free(r.body);
    cli_close(&c);
}

static void test_req_header_case_insensitive(void)
{
    begin_opts();
    start_server(on_case);
    run_client(client_case);
}

/* ---- Unix sockets, and the client that leaves -------------------------------------------- */

static void client_unix(void)
{
    cli_simple_get("/over/unix");
    cli_simple_get("/again");
}

static void test_unix_socket(void)
{
    begin_opts();
    start_server_on(AF_UNIX, on_echo);
    CHECK_EQ(eddy_http_server_port(&server), -EINVAL);
    run_client(client_unix);
    CHECK_EQ(stats().requests, 2);
}

static atomic_int disconnect_dispatched;
static eddy_timer_t poll_timer;
static eddy_http_res_t *orphan;
static int orphan_aborted, orphan_ended;

static void on_orphan_abort(eddy_http_res_t *res, int status)
{
    CHECK(res == orphan);
    CHECK(status < 0);
    orphan_aborted = 1;
    /* Writes fail now; the pair stays valid until end. */
    CHECK(eddy_http_res_write(res, "x", 1) < 0);
}

static void poll_orphan(eddy_timer_t *t)
{
    if (!orphan_aborted) return;
    CHECK(eddy_http_res_end(orphan, "late", 4) < 0);
    orphan_ended = 1;
    eddy_close(&t->handle, NULL);
}

static void on_disconnect(eddy_http_req_t *req, eddy_http_res_t *res)
{
    orphan = res;
    eddy_http_res_on_abort(res, on_orphan_abort);
    /* A request whose head must be kept (answered later), with a body in flight. */
    CHECK(eddy_http_res_write(res, "partial", 7) == 0);
    CHECK(eddy_timer_init(&loop, &poll_timer) == 0);
    CHECK(eddy_timer_start(&poll_timer, poll_orphan, 10, 10) == 0);
    atomic_store(&disconnect_dispatched, 1);
}

static void client_disconnect(void)
{
    cli_t c;
    cli_open(&c);
    cli_sends(&c, "GET /leave HTTP/1.1\r\nHost: x\r\n\r\n");
    wait_flag(&disconnect_dispatched, 1);
    struct linger lg = {1, 0}; /* close with a reset: the server's next read fails */
    CHECK(setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
    cli_close(&c);
}

static void test_response_after_disconnect(void)
{
    begin_opts();
    start_server(on_disconnect);
    run_client(client_disconnect);
    CHECK(orphan_aborted && orphan_ended);
}

const test_case_t test_cases[] = {
    {"basic_get", test_basic_get},
    {"ipv6_get", test_ipv6_get},
    {"keep_alive", test_keep_alive},
    {"http10", test_http10},
    {"pipeline_16_out_of_order", test_pipeline_16_out_of_order},
    {"pipeline_over_limit", test_pipeline_over_limit},
    {"finish_from_pool", test_finish_from_pool},
    {"pipeline_pool_and_immediate", test_pipeline_pool_and_immediate},
    {"expect_continue", test_expect_continue},
    {"expect_continue_pipelined", test_expect_continue_pipelined},
    {"check_continue", test_check_continue},
    {"check_continue_pipelined", test_check_continue_pipelined},
    {"head", test_head},
    {"connection_close", test_connection_close},
    {"chunked_response", test_chunked_response},
    {"body_content_length", test_body_content_length},
    {"body_chunked", test_body_chunked},
    {"body_connection_close", test_body_connection_close},
    {"body_during_graceful_close", test_body_during_graceful_close},
    {"body_pause_resume", test_body_pause_resume},
    {"body_too_large", test_body_too_large},
    {"header_size_max", test_header_size_max},
    {"url_size_max", test_url_size_max},
    {"headers_max", test_headers_max},
    {"server_defaults", test_server_defaults},
    {"strict_bare_lf", test_strict_bare_lf},
    {"strict_bare_cr", test_strict_bare_cr},
    {"strict_obs_fold", test_strict_obs_fold},
    {"strict_space_before_colon", test_strict_space_before_colon},
    {"strict_duplicate_content_length", test_strict_duplicate_content_length},
    {"strict_cl_and_te", test_strict_cl_and_te},
    {"strict_te_not_chunked_last", test_strict_te_not_chunked_last},
    {"strict_bad_chunk_size", test_strict_bad_chunk_size},
    {"strict_chunk_size_overflow", test_strict_chunk_size_overflow},
    {"strict_control_char_in_value", test_strict_control_char_in_value},
    {"strict_invalid_method", test_strict_invalid_method},
    {"strict_unknown_method", test_strict_unknown_method},
    {"strict_bad_version", test_strict_bad_version},
    {"strict_space_before_first_header", test_strict_space_before_first_header},
    {"strict_tab_before_first_header", test_strict_tab_before_first_header},
    {"strict_invalid_chunk_extension", test_strict_invalid_chunk_extension},
    {"strict_unterminated_chunk_extension", test_strict_unterminated_chunk_extension},
    {"strict_content_length_overflow", test_strict_content_length_overflow},
    {"strict_content_length_list", test_strict_content_length_list},
    {"strict_content_length_sign", test_strict_content_length_sign},
    {"strict_bare_lf_in_chunk_line", test_strict_bare_lf_in_chunk_line},
    {"strict_chunk_data_overrun", test_strict_chunk_data_overrun},
    {"strict_invalid_header_name", test_strict_invalid_header_name},
    {"strict_transfer_encoding_twice", test_strict_transfer_encoding_twice},
    {"headers_timeout", test_headers_timeout},
    {"request_timeout", test_request_timeout},
    {"keep_alive_timeout", test_keep_alive_timeout},
    {"keep_alive_timeout_slow_reader", test_keep_alive_timeout_slow_reader},
    {"requests_per_conn_max", test_requests_per_conn_max},
    {"connections_max", test_connections_max},
    {"upgrade_without_callback", test_upgrade_without_callback},
    {"upgrade_with_callback", test_upgrade_with_callback},
    {"graceful_close", test_graceful_close},
    {"backpressure_slow_reader", test_backpressure_slow_reader},
    {"backpressure_pipeline_flood", test_backpressure_pipeline_flood},
    {"router", test_router},
    {"header_injection", test_header_injection},
    {"req_header_case_insensitive", test_req_header_case_insensitive},
    {"unix_socket", test_unix_socket},
    {"response_after_disconnect", test_response_after_disconnect},
    {NULL, NULL},
};
