/* TCP streams: echo, ordering, partial writes, writev batching, backpressure (default and other
 * high-water marks), faults (EMFILE, ECONNRESET, EPIPE, ECONNREFUSED, ETIMEDOUT), cancellation,
 * shutdown, descriptor hygiene, edge-triggered read_stop/read_start, SO_REUSEPORT and ref/unref.
 * Loopback only; ports are chosen by the kernel (bind to port 0). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "eddy.h"
#include "harness.h"

static eddy_loop_t loop;

/* ---- counting the library's sends ------------------------------------------------------------
 * tests/CMakeLists.txt links this binary with -Wl,--wrap=send,--wrap=sendmsg: every send the
 * library (and this file) makes comes here first. On the descriptor being watched, each call is
 * counted, and so is each call that carried bytes of the buffers in [mark_lo, mark_hi). */
ssize_t __real_send(int fd, const void *buf, size_t len, int flags);
ssize_t __real_sendmsg(int fd, const struct msghdr *msg, int flags);

static struct {
    int fd; /* the descriptor watched, -1 for none */
    const char *mark_lo, *mark_hi;
    int calls, marked_calls;
} sends = {.fd = -1};

static bool is_marked(const void *base)
{
    return (const char *)base >= sends.mark_lo && (const char *)base < sends.mark_hi;
}

/* Counts the call if some of the `sent` bytes taken from iov (in order) were marked. */
static void count_send(int fd, const struct iovec *iov, size_t n, ssize_t sent)
{
    if (fd != sends.fd) return;
    sends.calls++;
    size_t left = sent > 0 ? (size_t)sent : 0;
    for (size_t i = 0; i < n && left > 0; i++) {
        size_t take = iov[i].iov_len < left ? iov[i].iov_len : left;
        if (take > 0 && is_marked(iov[i].iov_base)) {
            sends.marked_calls++;
            return;
        }
        left -= take;
    }
}

ssize_t __wrap_send(int fd, const void *buf, size_t len, int flags)
{
    ssize_t r = __real_send(fd, buf, len, flags);
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    count_send(fd, &iov, 1, r);
    return r;
}

ssize_t __wrap_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    ssize_t r = __real_sendmsg(fd, msg, flags);
    count_send(fd, msg->msg_iov, msg->msg_iovlen, r);
    return r;
}

/* ---- helpers -------------------------------------------------------------------------------- */

static void begin(void)
{
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE would kill the test: eddy must never raise one */
    alarm(30);                /* bound the time of every case */
    CHECK(eddy_loop_init(&loop) == 0);
}

static void end(void)
{
    CHECK(eddy_loop_close(&loop) == 0);
    alarm(0);
}

static void make_addr(struct sockaddr_storage *ss, int family, int port)
{
    memset(ss, 0, sizeof *ss);
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        a->sin6_addr = in6addr_loopback;
    }
}

/* Binds server to the loopback address of family on a kernel-chosen port, listens, and fills
 * *addr with where it listens. */
static void start_server(eddy_tcp_t *server, int family, eddy_connection_cb cb,
                         struct sockaddr_storage *addr)
{
    make_addr(addr, family, 0);
    CHECK(eddy_tcp_init(&loop, server) == 0);
    CHECK(eddy_tcp_bind(server, (struct sockaddr *)addr, 0) == 0);
    CHECK(eddy_tcp_listen(server, 128, cb) == 0);
    socklen_t len = sizeof *addr;
    CHECK(eddy_tcp_getsockname(server, (struct sockaddr *)addr, &len) == 0);
}

/* A plain listening socket on a free loopback port, for peers eddy does not manage. */
static int raw_listen(int backlog, struct sockaddr_storage *addr)
{
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(lfd >= 0);
    make_addr(addr, AF_INET, 0);
    CHECK(bind(lfd, (struct sockaddr *)addr, sizeof(struct sockaddr_in)) == 0);
    CHECK(listen(lfd, backlog) == 0);
    socklen_t len = sizeof *addr;
    CHECK(getsockname(lfd, (struct sockaddr *)addr, &len) == 0);
    return lfd;
}

/* A plain blocking client socket, for peers that misbehave on purpose. */
static int raw_connect(const struct sockaddr_storage *addr)
{
    int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    socklen_t len =
        addr->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    CHECK(connect(fd, (const struct sockaddr *)addr, len) == 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static int fd_of(const eddy_tcp_t *t)
{
    return t->stream._io._fd; /* private, read by the tests only */
}

static void free_on_close(eddy_handle_t *h)
{
    free(eddy_container_of(h, eddy_tcp_t, stream.handle));
}

static int closed_count;

static void count_close(eddy_handle_t *h)
{
    closed_count++;
}

static void close_stream(eddy_stream_t *s)
{
    if (!eddy_is_closing(&s->handle)) eddy_close(&s->handle, count_close);
}

/* Accepts into a fresh heap handle, freed when it closes. */
static eddy_tcp_t *accept_new(eddy_stream_t *server)
{
    eddy_tcp_t *c = calloc(1, sizeof *c);
    CHECK(c != NULL);
    CHECK(eddy_tcp_init(server->handle.loop, c) == 0);
    CHECK(eddy_stream_accept(server, &c->stream) == 0);
    return c;
}

/* ---- an echo server ------------------------------------------------------------------------- */

typedef struct {
    eddy_write_t req;
    char data[];
} echo_write_t;

static void echo_written(eddy_write_t *req, int status)
{
    free(req->data);
}

static void echo_read(eddy_stream_t *s, ssize_t n, const eddy_buf_t *buf)
{
    if (n > 0) {
        echo_write_t *w = malloc(sizeof *w + (size_t)n);
        CHECK(w != NULL);
        memcpy(w->data, buf->base, (size_t)n);
        w->req.data = w;
        eddy_buf_t b = eddy_buf_init(w->data, (size_t)n);
        CHECK(eddy_stream_write(&w->req, s, &b, 1, echo_written) >= 0);
    } else if (n < 0) {
        eddy_close(&s->handle, free_on_close);
    }
}

static void echo_connection(eddy_stream_t *server, int status)
{
    CHECK_EQ(status, 0);
    eddy_tcp_t *c = accept_new(server);
    CHECK(eddy_stream_read_start(&c->stream, NULL, echo_read) == 0);
}

/* ---- echo round trips ----------------------------------------------------------------------- */

static struct {
    eddy_tcp_t server, client;
    eddy_connect_t connect;
    eddy_write_t write;
    char got[64 * 1024];
    size_t got_len;
    int connected, written, done;
} echo;

static const char echo_msg[] = "hello, eddy: one round trip over loopback";

static void echo_client_read(eddy_stream_t *s, ssize_t n, const eddy_buf_t *buf)
{
    CHECK(n > 0);
    CHECK_EQ(buf->len, n); /* exactly the data is lent */
    CHECK(echo.got_len + (size_t)n <= sizeof echo.got);
    memcpy(echo.got + echo.got_len, buf->base, (size_t)n);
    echo.got_len += (size_t)n;
    if (echo.got_len == sizeof echo_msg) {
        CHECK(memcmp(echo.got, echo_msg, sizeof echo_msg) == 0);
        echo.done = 1;
        close_stream(s);
        close_stream(&echo.server.stream);
    }
}

static void echo_client_written(eddy_write_t *req, int status)
{
    CHECK_EQ(status, 0);
    CHECK(echo.connected); /* after the connect callback */
    echo.written = 1;
}

static void echo_client_connected(eddy_connect_t *req, int status)
{
    CHECK_EQ(status, 0);
    CHECK(req->handle == &echo.client.stream);
    echo.connected = 1;
    eddy_buf_t b = eddy_buf_init((void *)echo_msg, sizeof echo_msg);
    CHECK_EQ(eddy_stream_write(&echo.write, &echo.client.stream, &b, 1, echo_client_written), 0);
    CHECK(eddy_stream_read_start(&echo.client.stream, NULL, echo_client_read) == 0);
}

static void echo_round_trip(int family)
{
    begin();
    memset(&echo, 0, sizeof echo);
    struct sockaddr_storage addr;
    start_server(&echo.server, family, echo_connection, &addr);
    CHECK(eddy_tcp_init(&loop, &echo.client) == 0);
    CHECK(eddy_tcp_connect(&echo.connect, &echo.client, (struct sockaddr *)&addr,
                           echo_client_connected) == 0);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    CHECK(echo.done && echo.written);
    CHECK_EQ(closed_count, 2);
    end();
}

static void test_echo_ipv4(void)
{
    echo_round_trip(AF_INET);
}

static void test_echo_ipv6(void)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_storage a;
    make_addr(&a, AF_INET6, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(struct sockaddr_in6)) != 0) {
        if (fd >= 0) close(fd);
        test_skip("::1 unavailable");
    }
    close(fd);
    echo_round_trip(AF_INET6);
}

/* The handle stays small: an idle connection is this plus the user's struct. */
static void test_handle_size(void)
{
    printf("sizeof(eddy_tcp_t) = %zu, eddy_stream_t = %zu, eddy_write_t = %zu, "
           "eddy_connect_t = %zu, eddy_shutdown_t = %zu\n",
           sizeof(eddy_tcp_t), sizeof(eddy_stream_t), sizeof(eddy_write_t), sizeof(eddy_connect_t),
           sizeof(eddy_shutdown_t));
    CHECK(sizeof(eddy_tcp_t) <= 160);
}

/* ---- a connected pair, for tests that need both ends as eddy handles ---------------------- */

static struct {
    eddy_tcp_t server, client;
    eddy_tcp_t *accepted;
    eddy_connect_t connect;
    void (*ready)(void); /* runs once both ends are connected */
    int connected;
} pair;

static void pair_check_ready(void)
{
    if (pair.connected && pair.accepted && pair.ready) {
        void (*ready)(void) = pair.ready;
        pair.ready = NULL;
        ready();
    }
}

static void pair_connection(eddy_stream_t *server, int status)
{
    CHECK_EQ(status, 0);
    CHECK(pair.accepted == NULL);
    pair.accepted = accept_new(server);
    close_stream(server); /* one connection is all a pair needs */
    pair_check_ready();
}

static void pair_connected(eddy_connect_t *req, int status)
{
    CHECK_EQ(status, 0);
    pair.connected = 1;
    pair_check_ready();
}

static void pair_open(void (*ready)(void))
{
    memset(&pair, 0, sizeof pair);
    pair.ready = ready;
    struct sockaddr_storage addr;
    start_server(&pair.server, AF_INET, pair_connection, &addr);
    CHECK(eddy_tcp_init(&loop, &pair.client) == 0);
    CHECK(eddy_tcp_connect(&pair.connect, &pair.client, (struct sockaddr *)&addr, pair_connected) ==
          0);
}

static void pair_close(void)
{
    close_stream(&pair.client.stream);
    if (pair.accepted && !eddy_is_closing(&pair.accepted->stream.handle))
        eddy_close(&pair.accepted->stream.handle, free_on_close);
}

/* ---- many small writes arrive in order, callbacks in order --------------------------------- */

#define MANY 100000

static struct {
    uint32_t *values;
    eddy_write_t *reqs;
    uint32_t next_cb;
    uint32_t next_value;
    unsigned char partial[4];
    size_t partial_len;
    int full_seen;
} many;

static void many_written(eddy_write_t *req, int status)
{
    CHECK_EQ(status, 0);
    CHECK_EQ(req - many.reqs, many.next_cb); /* callbacks in write order */
    many.next_cb++;
}

static void many_read(eddy_stream_t *s, ssize_t n, const eddy_buf_t *buf)
{
    CHECK(n > 0);
    for (ssize_t i = 0; i < n; i++) {
        many.partial[many.partial_len++] = (unsigned char)buf->base[i];
        if (many.partial_len == 4) {
            uint32_t v;
            memcpy(&v, many.partial, 4);
            CHECK_EQ(v, many.next_value);
            many.next_value++;
            many.partial_len = 0;
        }
    }
    if (many.next_value == MANY) {
        CHECK_EQ(many.next_cb, MANY);
        pair_close();
    }
}

static void many_ready(void)
{
    CHECK(eddy_stream_read_start(&pair.accepted->stream, NULL, many_read) == 0);
    for (uint32_t i = 0; i < MANY; i++) {
        many.values[i] = i;
        eddy_buf_t b = eddy_buf_init(&many.values[i], 4);
        int r = eddy_stream_write(&many.reqs[i], &pair.client.stream, &b, 1, many_written);
        CHECK(r == 0 || r == EDDY_STREAM_FULL);
        many.full_seen |= r == EDDY_STREAM_FULL;
    }
}

static void test_many_writes_in_order(void)
{
    begin();
    memset(&many, 0, sizeof many);
    many.values = malloc(MANY * sizeof *many.values);
    many.reqs = malloc(MANY * sizeof *many.reqs);
    pair_open(many_ready);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    CHECK_EQ(many.next_value, MANY);
    CHECK_EQ(many.next_cb, MANY);
    free(many.values);
    free(many.reqs);
    end();
}

/* ---- a large write goes out partially, then drains; callbacks keep their order ------------- */

#define LARGE (8u << 20)

static struct {
    char *data;
    eddy_write_t a, b, c;
    int order[3], ncb;
    size_t received;
    size_t queued_after_large;
} large;

static const char large_head[] = "head", large_tail[] = "tail";

static void large_written(eddy_write_t *req, int status)
{
    CHECK_EQ(status, 0);
    CHECK(large.ncb < 3);
    large.order[large.ncb++] = req == &large.a ? 0 : req == &large.b ? 1 : 2;
}

static char large_byte(size_t i)
{
    return (char)(i * 7 % 251);
}

static void large_read(eddy_stream_t *s, ssize_t n, const eddy_buf_t *buf)
{
    CHECK(n > 0);
    size_t total = 4 + LARGE + 4;
    for (ssize_t i = 0; i < n; i++) {
        size_t at = large.received + (size_t)i;
        char want = at < 4           ? large_head[at]
                    : at < 4 + LARGE ? large_byte(at - 4)
                                     : large_tail[at - 4 - LARGE];
        if (buf->base[i] != want) {
            fprintf(stderr, "byte %zu differs\n", at);
            CHECK(0);
        }
    }
    large.received += (size_t)n;
    if (large.received == total) pair_close();
}

static void large_ready(void)
{
    eddy_stream_t *s = &pair.client.stream;
    eddy_buf_t head = eddy_buf_init((void *)large_head, 4);
    CHECK_EQ(eddy_stream_write(&large.a, s, &head, 1, large_written), 0);
    /* Three buffers, one request: the kernel cannot take 8 MiB from a peer not yet reading. */
    eddy_buf_t parts[3] = {eddy_buf_init(large.data, 1000),
                           eddy_buf_init(large.data + 1000, LARGE / 2),
                           eddy_buf_init(large.data + 1000 + LARGE / 2, LARGE / 2 - 1000)};
    CHECK_EQ(eddy_stream_write(&large.b, s, parts, 3, large_written), EDDY_STREAM_FULL);
    large.queued_after_large = eddy_stream_write_queue_size(s);
    CHECK(large.queued_after_large > 0 && large.queued_after_large <= LARGE);
    eddy_buf_t tail = eddy_buf_init((void *)large_tail, 4);
    CHECK_EQ(eddy_stream_write(&large.c, s, &tail, 1, large_written), EDDY_STREAM_FULL);
    CHECK_EQ(eddy_stream_write_queue_size(s), large.queued_after_large + 4);
    CHECK(eddy_stream_read_start(&pair.accepted->stream, NULL, large_read) == 0);
}

static void test_large_write(void)
{
    begin();
    memset(&large, 0, sizeof large);
    large.data = malloc(LARGE);
    for (size_t i = 0; i < LARGE; i++)
        large.data[i] = large_byte(i);
    pair_open(large_ready);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    CHECK_EQ(large.received, 4 + LARGE + 4);
    CHECK_EQ(large.ncb, 3);
    CHECK(large.order[0] == 0 && large.order[1] == 1 && large.order[2] == 2);
    printf("queued after the 8 MiB write: %zu bytes\n", large.queued_after_large);
    free(large.data);
    end();
}

/* ---- backpressure: a writer that respects the mark stays bounded; drain resumes it --------- */

#define BP_CHUNK (16 * 1024)
#define BP_TOTAL ((size_t)64 << 20)

static struct {
    char chunk[BP_CHUNK];
    size_t sent, received, max_queue;
    int fulls, drains, stalled_checked, shut;
    eddy_timer_t timer;
    eddy_shutdown_t shutdown;
} bp;

static void bp_written(eddy_write_t *req, int status)
{
    CHECK_EQ(status, 0);
    free(req);
}

static void bp_shut(eddy_shutdown_t *req, int status)
{
    CHECK_EQ(status, 0);
    bp.shut = 1;
}

static void bp_pump(eddy_stream_t *s)
{
    while (bp.sent < BP_TOTAL) {
        eddy_write_t *w = malloc(sizeof *w);
        eddy_buf_t b = eddy_buf_init(bp.chunk, BP_CHUNK);
        int r = eddy_stream_write(w, s, &b, 1, bp_written);
        CHECK(r >= 0);
        bp.sent += BP_CHUNK;
        size_t q = eddy_stream_write_queue_size(s);
        if (q > bp.max_queue) bp.max_queue = q;
        if (r == EDDY_STREAM_FULL) {
            bp.fulls++;
            return; /* wait for drain, as Node's writers do */
        }
    }
    CHECK(eddy_stream_shutdown(&bp.shutdown, s, bp_shut) == 0);
}

static void bp_drain(eddy_stream_t *s)
{
    CHECK(eddy_stream_write_queue_size(s) < eddy_stream_get_high_water_mark(s));
    bp.drains++;
    bp_pump(s);
}

static void bp_read(eddy_stream_t *s, ssize_t n, const eddy_buf_t *buf)
{
    if (n == EDDY_EOF) {
        pair_close();
        return;
    }
    CHECK(n > 0);
    bp.received += (size_t)n;
}

static void bp_check_stalled(eddy_timer_t *t)
{
    /* The peer has not read a byte for 300 ms: the writer must be waiting, its queue bounded. */
    CHECK(bp.sent < BP_TOTAL);
    CHECK(bp.fulls >= 1);
    CHECK_EQ(bp.drains, 0);
    CHECK(eddy_stream_write_queue_size(&pair.client.stream) >= EDDY_STREAM_HWM_DEFAULT);
    bp.stalled_checked = 1;
    eddy_close(&t->handle, NULL);
    CHECK(eddy_stream_read_start(&pair.accepted->stream, NULL, bp_read) == 0);
}

static void bp_ready(void)
{
    eddy_stream_set_drain_cb(&pair.client.stream, bp_drain);
    CHECK_EQ(eddy_stream_get_high_water_mark(&pair.client.stream), EDDY_STREAM_HWM_DEFAULT);
    bp_pump(&pair.client.stream);
    CHECK(eddy_timer_init(&loop, &bp.timer) == 0);
    CHECK(eddy_timer_start(&bp.timer, bp_check_stalled, 300, 0) == 0);
}

static void test_backpressure(void)
{
    begin();
    memset(&bp, 0, sizeof bp);
    pair_open(bp_ready);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    CHECK(bp.stalled_checked && bp.shut);
    CHECK_EQ(bp.received, BP_TOTAL);
    CHECK(bp.drains >= 1);
    printf("max queue %zu bytes (mark %d, chunk %d), %d drains\n", bp.max_queue,
           EDDY_STREAM_HWM_DEFAULT, BP_CHUNK, bp.drains);
    CHECK(bp.max_queue < EDDY_STREAM_HWM_DEFAULT + BP_CHUNK);
    end();
}

/* ---- EMFILE at accept: the waiting connection is dropped, the listener lives on ------------- */

static struct {
    eddy_tcp_t server;
    int errors, accepted, last_error;
} emf;

static void emf_connection(eddy_stream_t *server, int status)
{
    if (status < 0) {
        emf.errors++;
        emf.last_error = status;
        return;
    }
    eddy_tcp_t *c = accept_new(server);
    emf.accepted++;
    eddy_close(&c->stream.handle, free_on_close);
}

static void test_emfile_accept(void)
{
    begin();
    memset(&emf, 0, sizeof emf);
    struct sockaddr_storage addr;
    start_server(&emf.server, AF_INET, emf_connection, &addr);
    int c1 = raw_connect(&addr);

    /* Every descriptor from the lowest free one up is now over the limit. */
    struct rlimit old, low;
    CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0);
    int lowest = dup(0);
    CHECK(lowest >= 0);
    close(lowest);
    low = old;
    low.rlim_cur = (rlim_t)lowest;
    CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
    CHECK(dup(0) < 0 && errno == EMFILE);

    for (int i = 0; i < 100 && emf.errors == 0; i++)
        eddy_run(&loop, EDDY_RUN_ONCE);
    CHECK_EQ(emf.errors, 1);
    CHECK(emf.last_error == -EMFILE);
    CHECK_EQ(emf.accepted, 0);
    CHECK_EQ(eddy_stream_dropped_count(&emf.server.stream), 1);

    /* The client was accepted and closed: it reads EOF (or a reset). */
    char c;
    ssize_t n = recv(c1, &c, 1, 0);
    CHECK(n == 0 || (n < 0 && errno == ECONNRESET));
    close(c1);

    /* Limits relax; the listener serves the next client. */
    CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0);
    int c2 = raw_connect(&addr);
    for (int i = 0; i < 100 && emf.accepted == 0; i++)
        eddy_run(&loop, EDDY_RUN_ONCE);
    CHECK_EQ(emf.accepted, 1);
    n = recv(c2, &c, 1, 0);
    CHECK(n == 0);
    close(c2);
    close_stream(&emf.server.stream);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    end();
}

/* ---- a peer that resets: -ECONNRESET on read ----------------------------------------------- */

static struct {
    eddy_tcp_t server;
    eddy_timer_t timer;
    int raw, status, reads;
} rst;

static void rst_read(eddy_stream_t *s, ssize_t n, const eddy_buf_t *buf)
{
    rst.reads++;
    rst.status = (int)n;
    CHECK(n < 0);
    CHECK(!eddy_stream_is_readable(s));
    eddy_close(&s->handle, free_on_close);
    close_stream(&rst.server.stream);
}

static void rst_fire(eddy_timer_t *t)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    CHECK(setsockopt(rst.raw, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
    close(rst.raw); /* SO_LINGER 0: an RST, not a FIN */
    eddy_close(&t->handle, NULL);
}

static void rst_connection(eddy_stream_t *server, int status)
{
    CHECK_EQ(status, 0);
    eddy_tcp_t *c = accept_new(server);
    CHECK(eddy_stream_read_start(&c->stream, NULL, rst_read) == 0);
    CHECK(eddy_timer_init(&loop, &rst.timer) == 0);
    CHECK(eddy_timer_start(&rst.timer, rst_fire, 20, 0) == 0);
}

static void test_reset_by_peer(void)
{
    begin();
    memset(&rst, 0, sizeof rst);
    struct sockaddr_storage addr;
    start_server(&rst.server, AF_INET, rst_connection, &addr);
    rst.raw = raw_connect(&addr);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    CHECK_EQ(rst.reads, 1);
    CHECK_EQ(rst.status, -ECONNRESET);
    end();
}

/* ---- writing to a peer that closed: -EPIPE or -ECONNRESET, never SIGPIPE ------------------- */

static struct {
    eddy_tcp_t server;
    eddy_tcp_t *conn;
    eddy_timer_t timer;
    int raw, error, writes;
    char chunk[1024];
} pipe_;

static void pipe_written(eddy_write_t *req, int status)
{
    if (status < 0 && pipe_.error == 0) pipe_.error = status;
    free(req);
}

static void pipe_tick(eddy_timer_t *t)
{
    if (pipe_.error == 0 && pipe_.writes < 1000) {
        eddy_write_t *w = malloc(sizeof *w);
        eddy_buf_t b = eddy_buf_init(pipe_.chunk, sizeof pipe_.chunk);
        int r = eddy_stream_write(w, &pipe_.conn->stream, &b, 1, pipe_written);
        pipe_.writes++;
        if (r < 0) {
            pipe_.error = r;
            free(w);
        }
        return;
    }
    eddy_close(&t->handle, NULL);
    eddy_close(&pipe_.conn->stream.handle, free_on_close);
    close_stream(&pipe_.server.stream);
}

static void pipe_connection(eddy_stream_t *server, int status)
{
    CHECK_EQ(status, 0);
    pipe_.conn = accept_new(server);
    close(pipe_.raw); /* the peer goes away without reading */
    CHECK(eddy_timer_init(&loop, &pipe_.timer) == 0);
    CHECK(eddy_timer_start(&pipe_.timer, pipe_tick, 5, 5) == 0);
}

static void test_write_to_closed_peer(void)
{
    begin();
    memset(&pipe_, 0, sizeof pipe_);
    struct sockaddr_storage addr;
    start_server(&pipe_.server, AF_INET, pipe_connection, &addr);
    pipe_.raw = raw_connect(&addr);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    printf("error after %d writes: %s\n", pipe_.writes, eddy_err_name(pipe_.error));
    CHECK(pipe_.error == -EPIPE || pipe_.error == -ECONNRESET);
    end();
}

/* ---- connect failures: refused, timed out ---------------------------------------------------- */

static struct {
    eddy_tcp_t client;
    eddy_connect_t req;
    eddy_write_t write;
    int status, write_status, calls, order;
    uint64_t started_ms, elapsed_ms;
} cf;

static void cf_written(eddy_write_t *req, int status)
{
    cf.write_status = status;
    cf.order = cf.calls++; /* after the connect callback */
}

static void cf_connected(eddy_connect_t *req, int status)
{
    cf.status = status;
    cf.calls++;
    cf.elapsed_ms = eddy_now(&loop) - cf.started_ms;
    CHECK(!eddy_stream_is_writable(req->handle));
    close_stream(req->handle);
}

static void test_connect_refused(void)
{
    begin();
    memset(&cf, 0, sizeof cf);
    struct sockaddr_storage addr;
    make_addr(&addr, AF_INET, test_free_port());
    CHECK(eddy_tcp_init(&loop, &cf.client) == 0);
    CHECK(eddy_tcp_connect(&cf.req, &cf.client, (struct sockaddr *)&addr, cf_connected) == 0);
    /* A write queued behind the failing connect is cancelled after it. */
    eddy_buf_t b = eddy_buf_init("x", 1);
    CHECK(eddy_stream_write(&cf.write, &cf.client.stream, &b, 1, cf_written) >= 0);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    CHECK_EQ(cf.status, -ECONNREFUSED);
    CHECK_EQ(cf.write_status, -ECANCELED);
    CHECK_EQ(cf.order, 1);
    end();
}

/* A listener with backlog 0 that never accepts: once one connection fills its accept queue,
 * Linux drops further SYNs, so a connect hangs (retransmitting) on loopback. */
static void test_connect_timeout(void)
{
    begin();
    memset(&cf, 0, sizeof cf);
    struct sockaddr_storage addr;
    int lfd = raw_listen(0, &addr);
    int fillers[2];
    for (int i = 0; i < 2; i++) {
        fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        connect(fillers[i], (struct sockaddr *)&addr, sizeof(struct sockaddr_in));
    }
    usleep(20000);

    CHECK(eddy_tcp_init(&loop, &cf.client) == 0);
    cf.started_ms = eddy_now(&loop);
    CHECK(eddy_tcp_connect_timeout(&cf.req, &cf.client, (struct sockaddr *)&addr, 200,
                                   cf_connected) == 0);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    CHECK_EQ(cf.status, -ETIMEDOUT);
    printf("timed out after %llu ms\n", (unsigned long long)cf.elapsed_ms);
    CHECK(cf.elapsed_ms >= 190 && cf.elapsed_ms < 2000);
    for (int i = 0; i < 2; i++)
        close(fillers[i]);
    close(lfd);
    end();
}

/* A connect with a timeout that succeeds: the callback runs once, with 0, and no timer fires. */
static void test_connect_timeout_not_hit(void)
{
    begin();
    memset(&echo, 0, sizeof echo);
    memset(&cf, 0, sizeof cf);
    struct sockaddr_storage addr;
    start_server(&echo.server, AF_INET, echo_connection, &addr);
    CHECK(eddy_tcp_init(&loop, &echo.client) == 0);
    CHECK(eddy_tcp_connect_timeout(&echo.connect, &echo.client, (struct sockaddr *)&addr, 5000,
                                   echo_client_connected) == 0);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    CHECK(echo.done);
    end();
}

/* Closing the handle while a connect with a timeout is in flight cancels it, before close_cb. */
static int cc_order[2], cc_n;

static void cc_connected(eddy_connect_t *req, int status)
{
    CHECK_EQ(status, -ECANCELED);
    cc_order[cc_n++] = 1;
}

static void cc_closed(eddy_handle_t *h)
{
    cc_order[cc_n++] = 2;
}

static void test_close_while_connecting(void)
{
    begin();
    cc_n = 0;
    struct sockaddr_storage addr;
    int lfd = raw_listen(0, &addr);
    int fillers[2];
    for (int i = 0; i < 2; i++) {
        fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        connect(fillers[i], (struct sockaddr *)&addr, sizeof(struct sockaddr_in));
    }
    usleep(20000);
    eddy_tcp_t client;
    eddy_connect_t req;
    CHECK(eddy_tcp_init(&loop, &client) == 0);
    CHECK(eddy_tcp_connect_timeout(&req, &client, (struct sockaddr *)&addr, 10000, cc_connected) ==
          0);
    eddy_run(&loop, EDDY_RUN_NOWAIT);
    eddy_close(&client.stream.handle, cc_closed);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    CHECK_EQ(cc_n, 2);
    CHECK(cc_order[0] == 1 && cc_order[1] == 2);
    for (int i = 0; i < 2; i++)
        close(fillers[i]);
    close(lfd);
    end();
}

/* ---- close during a pending write: -ECANCELED before the close callback -------------------- */

static struct {
    char *data;
    eddy_write_t small, big;
    int events[3], n;
} cw;

static void cw_written(eddy_write_t *req, int status)
{
    if (req == &cw.small) {
        CHECK_EQ(status, 0); /* it left before the close */
        cw.events[cw.n++] = 1;
    } else {
        CHECK_EQ(status, -ECANCELED);
        cw.events[cw.n++] = 2;
    }
}

static void cw_closed(eddy_handle_t *h)
{
    cw.events[cw.n++] = 3;
}

static void cw_ready(void)
{
    eddy_stream_t *s = &pair.client.stream;
    eddy_buf_t b = eddy_buf_init(cw.data, 16);
    CHECK_EQ(eddy_stream_write(&cw.small, s, &b, 1, cw_written), 0);
    b = eddy_buf_init(cw.data, LARGE);
    CHECK_EQ(eddy_stream_write(&cw.big, s, &b, 1, cw_written), EDDY_STREAM_FULL);
    CHECK_EQ(cw.n, 0); /* no callback inside eddy_stream_write */
    eddy_close(&s->handle, cw_closed);
    eddy_close(&pair.accepted->stream.handle, free_on_close);
}

static void test_close_cancels_write(void)
{
    begin();
    memset(&cw, 0, sizeof cw);
    cw.data = calloc(1, LARGE);
    pair_open(cw_ready);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    CHECK_EQ(cw.n, 3);
    CHECK(cw.events[0] == 1 && cw.events[1] == 2 && cw.events[2] == 3);
    free(cw.data);
    end();
}

/* ---- shutdown: the peer reads the data, then EOF; write-after-shutdown is EPIPE ------------ */

static struct {
    eddy_write_t write, late;
    eddy_shutdown_t shutdown;
    char got[16];
    size_t got_len;
    int eof, write_cb, shut_cb;
} sd;

static void sd_written(eddy_write_t *req, int status)
{
    CHECK_EQ(status, 0);
    CHECK_EQ(sd.shut_cb, 0);
    sd.write_cb = 1;
}

static void sd_shut(eddy_shutdown_t *req, int status)
{
    CHECK_EQ(status, 0);
    CHECK(sd.write_cb);
    sd.shut_cb = 1;
}

static void sd_read(eddy_stream_t *s, ssize_t n, const eddy_buf_t *buf)
{
    if (n == EDDY_EOF) {
        sd.eof = 1;
        CHECK(!eddy_stream_is_readable(s));
        CHECK(eddy_stream_read_start(s, NULL, sd_read) == -ENOTCONN);
        pair_close();
        return;
    }
    CHECK(n > 0);
    memcpy(sd.got + sd.got_len, buf->base, (size_t)n);
    sd.got_len += (size_t)n;
}

static void sd_ready(void)
{
    eddy_stream_t *s = &pair.client.stream;
    eddy_buf_t b = eddy_buf_init("bye!", 4);
    CHECK_EQ(eddy_stream_write(&sd.write, s, &b, 1, sd_written), 0);
    CHECK(eddy_stream_shutdown(&sd.shutdown, s, sd_shut) == 0);
    CHECK(!eddy_stream_is_writable(s));
    CHECK_EQ(eddy_stream_write(&sd.late, s, &b, 1, sd_written), -EPIPE);
    CHECK_EQ(eddy_stream_shutdown(&sd.shutdown, s, sd_shut), -ENOTCONN);
    CHECK(eddy_stream_read_start(&pair.accepted->stream, NULL, sd_read) == 0);
}

static void test_shutdown_eof(void)
{
    begin();
    memset(&sd, 0, sizeof sd);
    pair_open(sd_ready);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    CHECK(sd.eof && sd.write_cb && sd.shut_cb);
    CHECK_EQ(sd.got_len, 4);
    CHECK(memcmp(sd.got, "bye!", 4) == 0);
    end();
}

/* ---- writes queued while connecting go out after the connect ------------------------------- */

static struct {
    eddy_tcp_t server, client;
    eddy_connect_t connect;
    eddy_write_t write;
    eddy_shutdown_t shutdown;
    char got[64];
    size_t got_len;
    int connect_cb, write_cb, shut_cb, eof;
} wc;

static void wc_read(eddy_stream_t *s, ssize_t n, const eddy_buf_t *buf)
{
    if (n == EDDY_EOF) {
        wc.eof = 1;
        eddy_close(&s->handle, free_on_close);
        close_stream(&wc.client.stream);
        return;
    }
    CHECK(n > 0);
    memcpy(wc.got + wc.got_len, buf->base, (size_t)n);
    wc.got_len += (size_t)n;
}

static void wc_connection(eddy_stream_t *server, int status)
{
    eddy_tcp_t *c = accept_new(server);
    CHECK(eddy_stream_read_start(&c->stream, NULL, wc_read) == 0);
    close_stream(server);
}

static void wc_connected(eddy_connect_t *req, int status)
{
    CHECK_EQ(status, 0);
    CHECK_EQ(wc.write_cb, 0);
    wc.connect_cb = 1;
}

static void wc_written(eddy_write_t *req, int status)
{
    CHECK_EQ(status, 0);
    CHECK(wc.connect_cb);
    wc.write_cb = 1;
}

static void wc_shut(eddy_shutdown_t *req, int status)
{
    CHECK_EQ(status, 0);
    CHECK(wc.write_cb);
    wc.shut_cb = 1;
}

static void test_write_while_connecting(void)
{
    begin();
    memset(&wc, 0, sizeof wc);
    struct sockaddr_storage addr;
    start_server(&wc.server, AF_INET, wc_connection, &addr);
    CHECK(eddy_tcp_init(&loop, &wc.client) == 0);
    CHECK(eddy_tcp_connect(&wc.connect, &wc.client, (struct sockaddr *)&addr, wc_connected) == 0);
    CHECK(eddy_stream_is_writable(&wc.client.stream));
    eddy_buf_t b[2] = {eddy_buf_init("early ", 6), eddy_buf_init("bird", 4)};
    CHECK_EQ(eddy_stream_write(&wc.write, &wc.client.stream, b, 2, wc_written), 0);
    CHECK_EQ(eddy_stream_write_queue_size(&wc.client.stream), 10);
    CHECK_EQ(eddy_stream_try_write(&wc.client.stream, b, 1), -EAGAIN);
    CHECK(eddy_stream_shutdown(&wc.shutdown, &wc.client.stream, wc_shut) == 0);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    CHECK(wc.connect_cb && wc.write_cb && wc.shut_cb && wc.eof);
    CHECK_EQ(wc.got_len, 10);
    CHECK(memcmp(wc.got, "early bird", 10) == 0);
    end();
}

/* ---- 1000 connections opened and closed leave no descriptor behind ------------------------- */

#define CONNS 1000
#define CONNS_AT_ONCE 100

typedef struct {
    eddy_tcp_t tcp;
    eddy_connect_t req;
} churn_client_t;

static struct {
    eddy_tcp_t server;
    struct sockaddr_storage addr;
    int started, connected, accepted, server_closed, client_closed;
} churn;

static void churn_server_read(eddy_stream_t *s, ssize_t n, const eddy_buf_t *buf)
{
    CHECK(n == EDDY_EOF || n == -ECONNRESET);
    eddy_close(&s->handle, free_on_close);
    if (++churn.server_closed == CONNS) close_stream(&churn.server.stream);
}

static void churn_connection(eddy_stream_t *server, int status)
{
    CHECK_EQ(status, 0);
    eddy_tcp_t *c = accept_new(server);
    churn.accepted++;
    CHECK(eddy_stream_read_start(&c->stream, NULL, churn_server_read) == 0);
}

static void churn_start(void);

static void churn_client_closed(eddy_handle_t *h)
{
    free(eddy_container_of(h, churn_client_t, tcp.stream.handle));
    churn.client_closed++;
    churn_start();
}

static void churn_connected(eddy_connect_t *req, int status)
{
    CHECK_EQ(status, 0);
    churn.connected++;
    eddy_close(&req->handle->handle, churn_client_closed);
}

static void churn_start(void)
{
    while (churn.started < CONNS && churn.started - churn.client_closed < CONNS_AT_ONCE) {
        churn_client_t *c = malloc(sizeof *c);
        CHECK(eddy_tcp_init(&loop, &c->tcp) == 0);
        CHECK(eddy_tcp_connect(&c->req, &c->tcp, (struct sockaddr *)&churn.addr, churn_connected) ==
              0);
        churn.started++;
    }
}

static void test_thousand_connections(void)
{
    int fds_before = test_open_fds();
    begin();
    memset(&churn, 0, sizeof churn);
    start_server(&churn.server, AF_INET, churn_connection, &churn.addr);
    churn_start();
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    CHECK_EQ(churn.connected, CONNS);
    CHECK_EQ(churn.accepted, CONNS);
    CHECK_EQ(churn.server_closed, CONNS);
    CHECK_EQ(churn.client_closed, CONNS);
    end();
    CHECK_EQ(test_open_fds(), fds_before);
}

/* ---- try_write ------------------------------------------------------------------------------ */

static struct {
    char *data;
    eddy_write_t big;
    char got[8];
    size_t got_len;
    int big_status;
} tw;

static void tw_big_written(eddy_write_t *req, int status)
{
    tw.big_status = status;
}

static void tw_read(eddy_stream_t *s, ssize_t n, const eddy_buf_t *buf)
{
    CHECK(n > 0);
    if (tw.got_len < 5) {
        size_t take = (size_t)n < 5 - tw.got_len ? (size_t)n : 5 - tw.got_len;
        memcpy(tw.got + tw.got_len, buf->base, take);
        tw.got_len += take;
        CHECK(memcmp(tw.got, "quick", tw.got_len) == 0);
        if (tw.got_len == 5) {
            /* Now fill the pipe: with a queue, try_write must refuse rather than overtake it. */
            eddy_stream_t *c = &pair.client.stream;
            eddy_buf_t b = eddy_buf_init(tw.data, LARGE);
            CHECK_EQ(eddy_stream_write(&tw.big, c, &b, 1, tw_big_written), EDDY_STREAM_FULL);
            b = eddy_buf_init("x", 1);
            CHECK_EQ(eddy_stream_try_write(c, &b, 1), -EAGAIN);
            pair_close();
        }
    }
}

static void tw_ready(void)
{
    eddy_buf_t b[2] = {eddy_buf_init("qui", 3), eddy_buf_init("ck", 2)};
    CHECK_EQ(eddy_stream_try_write(&pair.client.stream, b, 2), 5);
    CHECK_EQ(eddy_stream_write_queue_size(&pair.client.stream), 0);
    CHECK(eddy_stream_read_start(&pair.accepted->stream, NULL, tw_read) == 0);
}

static void test_try_write(void)
{
    begin();
    memset(&tw, 0, sizeof tw);
    tw.data = calloc(1, LARGE);
    pair_open(tw_ready);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    CHECK_EQ(tw.got_len, 5);
    CHECK_EQ(tw.big_status, -ECANCELED);
    free(tw.data);
    end();
}

/* ---- getsockname / getpeername, and TCP_NODELAY inherited from the listener --------------- */

static void names_ready(void)
{
    struct sockaddr_storage a, b;
    socklen_t la = sizeof a, lb = sizeof b;
    CHECK(eddy_tcp_getsockname(&pair.client, (struct sockaddr *)&a, &la) == 0);
    CHECK(eddy_tcp_getpeername(pair.accepted, (struct sockaddr *)&b, &lb) == 0);
    CHECK_EQ(la, lb);
    CHECK(memcmp(&a, &b, la) == 0);
    la = sizeof a;
    lb = sizeof b;
    CHECK(eddy_tcp_getpeername(&pair.client, (struct sockaddr *)&a, &la) == 0);
    CHECK(eddy_tcp_getsockname(pair.accepted, (struct sockaddr *)&b, &lb) == 0);
    CHECK(memcmp(&a, &b, la) == 0);
    CHECK(((struct sockaddr_in *)&a)->sin_port != 0);

    int on = 0;
    socklen_t len = sizeof on;
    CHECK(getsockopt(fd_of(pair.accepted), IPPROTO_TCP, TCP_NODELAY, &on, &len) == 0);
    CHECK(on != 0); /* servers get nodelay by default, at no per-connection syscall */
    CHECK(eddy_tcp_nodelay(pair.accepted, 0) == 0);
    CHECK(getsockopt(fd_of(pair.accepted), IPPROTO_TCP, TCP_NODELAY, &on, &len) == 0);
    CHECK(on == 0);
    CHECK(eddy_tcp_keepalive(&pair.client, 1, 30) == 0);
    CHECK(getsockopt(fd_of(&pair.client), SOL_SOCKET, SO_KEEPALIVE, &on, &len) == 0);
    CHECK(on != 0);
    CHECK(getsockopt(fd_of(&pair.client), IPPROTO_TCP, TCP_KEEPIDLE, &on, &len) == 0);
    CHECK_EQ(on, 30);
    pair_close();
}

static void test_sockname_peername(void)
{
    begin();
    eddy_tcp_t t;
    struct sockaddr_storage a;
    socklen_t la = sizeof a;
    CHECK(eddy_tcp_init(&loop, &t) == 0);
    CHECK(eddy_tcp_getsockname(&t, (struct sockaddr *)&a, &la) == -EBADF);
    CHECK(eddy_tcp_keepalive(&t, 1, 1) == -EBADF);
    eddy_close(&t.stream.handle, NULL);
    pair_open(names_ready);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    end();
}

/* ---- read_stop / read_start: data that arrived meanwhile is delivered (edge-triggering) ---- */

#define RS_BIG (1u << 20)

static struct {
    eddy_timer_t timer;
    char *data;
    eddy_write_t w1, w2;
    size_t received;
    int phase, reads_while_stopped, stops;
} rs;

static void rs_read(eddy_stream_t *s, ssize_t n, const eddy_buf_t *buf)
{
    CHECK(n > 0);
    CHECK(rs.phase == 0 || rs.phase == 2 || rs.phase == 4);
    rs.received += (size_t)n;
    if (rs.phase == 0) {
        /* Stop after the first chunk of 1 MiB: the rest stays unread in the socket. */
        CHECK(eddy_stream_read_stop(s) == 0);
        rs.stops++;
        rs.phase = 1;
    } else if (rs.phase == 2 && rs.received == RS_BIG) {
        CHECK(eddy_stream_read_stop(s) == 0);
        rs.phase = 3; /* fully drained; stopped; the next data arrives while stopped */
        eddy_buf_t b = eddy_buf_init("later", 5);
        CHECK(eddy_stream_write(&rs.w2, &pair.client.stream, &b, 1, NULL) == 0);
    } else if (rs.phase == 4 && rs.received == RS_BIG + 5) {
        pair_close();
        eddy_close(&rs.timer.handle, NULL);
    }
}

static void rs_tick(eddy_timer_t *t)
{
    eddy_stream_t *s = &pair.accepted->stream;
    if (rs.phase == 1) {
        rs.phase = 2;
        CHECK(eddy_stream_read_start(s, NULL, rs_read) == 0);
    } else if (rs.phase == 3) {
        rs.phase = 4;
        CHECK(eddy_stream_read_start(s, NULL, rs_read) == 0);
    }
}

static void rs_ready(void)
{
    eddy_buf_t b = eddy_buf_init(rs.data, RS_BIG);
    CHECK(eddy_stream_write(&rs.w1, &pair.client.stream, &b, 1, NULL) >= 0);
    CHECK(eddy_stream_read_start(&pair.accepted->stream, NULL, rs_read) == 0);
    CHECK(eddy_timer_init(&loop, &rs.timer) == 0);
    CHECK(eddy_timer_start(&rs.timer, rs_tick, 100, 100) == 0);
}

static void test_read_stop_start(void)
{
    begin();
    memset(&rs, 0, sizeof rs);
    rs.data = calloc(1, RS_BIG);
    pair_open(rs_ready);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    CHECK_EQ(rs.phase, 4);
    CHECK_EQ(rs.received, RS_BIG + 5);
    free(rs.data);
    end();
}

/* ---- reading into the user's buffers (alloc callback) --------------------------------------- */

static struct {
    eddy_write_t w;
    size_t received;
    int allocs, frees;
} al;

static void al_alloc(eddy_stream_t *s, size_t suggested, eddy_buf_t *buf)
{
    CHECK(suggested > 0);
    buf->base = malloc(7);
    buf->len = 7;
    al.allocs++;
}

static void al_read(eddy_stream_t *s, ssize_t n, const eddy_buf_t *buf)
{
    CHECK(n >= 0 || n == EDDY_EOF);
    CHECK(n <= 7);
    if (n > 0) {
        CHECK_EQ(buf->len, n);
        CHECK(memcmp(buf->base, "0123456789abcdefghij" + al.received, (size_t)n) == 0);
        al.received += (size_t)n;
    }
    free(buf->base);
    al.frees++;
    if (al.received == 20) pair_close();
}

static void al_ready(void)
{
    eddy_buf_t b = eddy_buf_init("0123456789abcdefghij", 20);
    CHECK(eddy_stream_write(&al.w, &pair.client.stream, &b, 1, NULL) == 0);
    CHECK(eddy_stream_read_start(&pair.accepted->stream, al_alloc, al_read) == 0);
}

static void test_alloc_cb(void)
{
    begin();
    memset(&al, 0, sizeof al);
    pair_open(al_ready);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    CHECK_EQ(al.received, 20);
    CHECK_EQ(al.allocs, al.frees);
    end();
}

/* ---- write callbacks are deferred; the fast path completes in the next pending phase -------- */

static int in_write, deferred_cb;

static void deferred_written(eddy_write_t *req, int status)
{
    CHECK(!in_write);
    CHECK_EQ(status, 0);
    deferred_cb++;
    if (deferred_cb == 2) pair_close();
}

static eddy_write_t deferred_reqs[2];

static void deferred_ready(void)
{
    eddy_buf_t b[6];
    for (int i = 0; i < 6; i++)
        b[i] = eddy_buf_init("abcdef" + i, 1);
    in_write = 1;
    CHECK_EQ(eddy_stream_write(&deferred_reqs[0], &pair.client.stream, b, 6, deferred_written), 0);
    CHECK_EQ(eddy_stream_write(&deferred_reqs[1], &pair.client.stream, b, 0, deferred_written), 0);
    in_write = 0;
    CHECK_EQ(deferred_cb, 0);
}

static void test_write_cb_deferred(void)
{
    begin();
    deferred_cb = 0;
    pair_open(deferred_ready);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    CHECK_EQ(deferred_cb, 2);
    end();
}

/* ---- a listener: unref lets the loop end; accepting later pauses and resumes it ------------- */

static void ref_connection(eddy_stream_t *server, int status)
{
    CHECK(0);
}

static void test_listener_ref_unref(void)
{
    begin();
    eddy_tcp_t server;
    struct sockaddr_storage addr;
    start_server(&server, AF_INET, ref_connection, &addr);
    CHECK(eddy_is_active(&server.stream.handle));
    eddy_unref(&server.stream.handle);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0); /* returns at once: nothing keeps it alive */
    eddy_ref(&server.stream.handle);
    CHECK(eddy_run(&loop, EDDY_RUN_NOWAIT) != 0);
    eddy_close(&server.stream.handle, NULL);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    end();
}

static struct {
    eddy_tcp_t server;
    eddy_timer_t timer;
    int announced, accepted;
} la;

static void la_connection(eddy_stream_t *server, int status)
{
    CHECK_EQ(status, 0);
    la.announced++; /* not taken here: the listener pauses until the timer takes it */
}

static void la_tick(eddy_timer_t *t)
{
    if (la.accepted < la.announced) {
        eddy_tcp_t *c = accept_new(&la.server.stream);
        la.accepted++;
        eddy_close(&c->stream.handle, free_on_close);
    }
    if (la.accepted == 3) {
        eddy_close(&t->handle, NULL);
        close_stream(&la.server.stream);
    }
}

static void test_accept_later(void)
{
    begin();
    memset(&la, 0, sizeof la);
    struct sockaddr_storage addr;
    start_server(&la.server, AF_INET, la_connection, &addr);
    int raw[3];
    for (int i = 0; i < 3; i++)
        raw[i] = raw_connect(&addr);
    CHECK(eddy_timer_init(&loop, &la.timer) == 0);
    CHECK(eddy_timer_start(&la.timer, la_tick, 20, 20) == 0);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    CHECK_EQ(la.announced, 3);
    CHECK_EQ(la.accepted, 3);
    for (int i = 0; i < 3; i++)
        close(raw[i]);
    end();
}

/* ---- eddy_tcp_open adopts a connected socket ------------------------------------------------ */

static struct {
    eddy_tcp_t a;
    eddy_write_t w;
    int got;
} op;

static void op_read(eddy_stream_t *s, ssize_t n, const eddy_buf_t *buf)
{
    CHECK(n == 3);
    CHECK(memcmp(buf->base, "abc", 3) == 0);
    op.got = 1;
    close_stream(s);
}

static void test_tcp_open(void)
{
    begin();
    memset(&op, 0, sizeof op);
    struct sockaddr_storage addr;
    int lfd = raw_listen(1, &addr);
    int c = raw_connect(&addr);
    int s = accept(lfd, NULL, NULL);
    CHECK(s >= 0);
    CHECK(eddy_tcp_init(&loop, &op.a) == 0);
    CHECK(eddy_tcp_open(&op.a, s) == 0);
    CHECK(eddy_stream_is_readable(&op.a.stream) && eddy_stream_is_writable(&op.a.stream));
    CHECK(write(c, "abc", 3) == 3);
    CHECK(eddy_stream_read_start(&op.a.stream, NULL, op_read) == 0);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    CHECK(op.got);
    close(c);
    close(lfd);
    end();
}

/* ---- EDDY_TCP_REUSEPORT: listeners share a port, the kernel spreads connections over them -- */

#define RP_CONNS 64

static struct {
    eddy_tcp_t servers[2];
    int accepted[2], total;
} rp;

static void rp_connection(eddy_stream_t *server, int status)
{
    CHECK_EQ(status, 0);
    eddy_tcp_t *c = accept_new(server);
    rp.accepted[server == &rp.servers[1].stream]++;
    eddy_close(&c->stream.handle, free_on_close);
    if (++rp.total == RP_CONNS) {
        close_stream(&rp.servers[0].stream);
        close_stream(&rp.servers[1].stream);
    }
}

static void test_reuseport(void)
{
    begin();
    memset(&rp, 0, sizeof rp);
    struct sockaddr_storage addr;
    make_addr(&addr, AF_INET, 0);
    for (int i = 0; i < 2; i++) {
        /* The first takes a free port; the second binds that same port. */
        CHECK(eddy_tcp_init(&loop, &rp.servers[i]) == 0);
        CHECK_EQ(eddy_tcp_bind(&rp.servers[i], (struct sockaddr *)&addr, EDDY_TCP_REUSEPORT), 0);
        CHECK_EQ(eddy_tcp_listen(&rp.servers[i], 128, rp_connection), 0);
        socklen_t len = sizeof addr;
        CHECK(eddy_tcp_getsockname(&rp.servers[i], (struct sockaddr *)&addr, &len) == 0);
    }
    /* Without the flag the port is taken. */
    eddy_tcp_t third;
    CHECK(eddy_tcp_init(&loop, &third) == 0);
    CHECK_EQ(eddy_tcp_bind(&third, (struct sockaddr *)&addr, 0), -EADDRINUSE);
    close_stream(&third.stream);
    /* Connections reach the listeners, both of them: the kernel picks one by a hash of the
     * client's address and port, so 64 clients all landing on one has odds of 2^-63. */
    int raw[RP_CONNS];
    for (int i = 0; i < RP_CONNS; i++)
        raw[i] = raw_connect(&addr);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    printf("connections per listener: %d and %d\n", rp.accepted[0], rp.accepted[1]);
    CHECK_EQ(rp.total, RP_CONNS);
    CHECK(rp.accepted[0] > 0 && rp.accepted[1] > 0);
    for (int i = 0; i < RP_CONNS; i++)
        close(raw[i]);
    end();
}

/* ---- ref/unref on a connected handle --------------------------------------------------------- */

/* A reading connection is active. Unref'd, it does not keep DEFAULT running; ref'd again it
 * does, until data comes (written by the raw peer from a timer that is unref'd itself). */
static struct {
    eddy_tcp_t conn;
    eddy_timer_t writer;
    int peer, got;
} ru;

static void ru_read(eddy_stream_t *s, ssize_t n, const eddy_buf_t *buf)
{
    CHECK(n == 1 && buf->base[0] == 'x');
    ru.got = 1;
    close_stream(s);
}

static void ru_write_peer(eddy_timer_t *t)
{
    CHECK(write(ru.peer, "x", 1) == 1);
}

static void test_connected_ref_unref(void)
{
    begin();
    memset(&ru, 0, sizeof ru);
    struct sockaddr_storage addr;
    int lfd = raw_listen(1, &addr);
    ru.peer = raw_connect(&addr);
    int fd = accept(lfd, NULL, NULL);
    CHECK(fd >= 0);
    CHECK(eddy_tcp_init(&loop, &ru.conn) == 0);
    CHECK(eddy_tcp_open(&ru.conn, fd) == 0);
    CHECK(eddy_stream_read_start(&ru.conn.stream, NULL, ru_read) == 0);
    CHECK(eddy_is_active(&ru.conn.stream.handle));
    eddy_unref(&ru.conn.stream.handle);
    CHECK(!eddy_loop_alive(&loop));
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    CHECK(eddy_is_active(&ru.conn.stream.handle)); /* still reading */
    eddy_ref(&ru.conn.stream.handle);
    CHECK(eddy_loop_alive(&loop));
    CHECK(eddy_timer_init(&loop, &ru.writer) == 0);
    CHECK(eddy_timer_start(&ru.writer, ru_write_peer, 20, 0) == 0);
    eddy_unref(&ru.writer.handle);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0); /* returns once the connection closed */
    CHECK(ru.got);
    eddy_close(&ru.writer.handle, NULL);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    close(ru.peer);
    close(lfd);
    end();
}

/* ---- filling a connection until the write reports the high-water mark ----------------------- */

#define FILL_CHUNK (64 * 1024)

static char fill_data[FILL_CHUNK];

static void fill_written(eddy_write_t *req, int status)
{
    CHECK_EQ(status, 0);
    free(req);
}

/* Writes FILL_CHUNK-byte requests to s (whose peer does not read) until one returns
 * EDDY_STREAM_FULL: the kernel's buffers are full and the rest is queued. Returns the bytes
 * written. */
static size_t fill_until_full(eddy_stream_t *s)
{
    size_t total = 0;
    for (int r = 0; r != EDDY_STREAM_FULL;) {
        CHECK(total < ((size_t)1 << 30)); /* a peer that does not read cannot take a GiB */
        eddy_write_t *w = malloc(sizeof *w);
        eddy_buf_t b = eddy_buf_init(fill_data, FILL_CHUNK);
        r = eddy_stream_write(w, s, &b, 1, fill_written);
        CHECK(r == 0 || r == EDDY_STREAM_FULL);
        total += FILL_CHUNK;
    }
    return total;
}

/* ---- queued writes leave in batches: 100 small writes, far fewer than 100 sends -------------- */

#define WB_N 100
#define WB_SIZE 100

static struct {
    eddy_write_t reqs[WB_N];
    char data[WB_N][WB_SIZE];
    size_t filled, received;
    int next_cb, queue_calls, drain_calls, drain_marked_calls;
} wb;

static void wb_written(eddy_write_t *req, int status)
{
    CHECK_EQ(status, 0);
    CHECK_EQ(req - wb.reqs, wb.next_cb); /* in write order */
    wb.next_cb++;
}

static void wb_read(eddy_stream_t *s, ssize_t n, const eddy_buf_t *buf)
{
    CHECK(n > 0);
    const char *small = (const char *)wb.data; /* the 100 writes, end to end */
    for (ssize_t i = 0; i < n; i++) {
        size_t at = wb.received + (size_t)i;
        if (at >= wb.filled) CHECK(buf->base[i] == small[at - wb.filled]); /* in order */
    }
    wb.received += (size_t)n;
    if (wb.received == wb.filled + sizeof wb.data) {
        /* Everything arrived, so every send is done: stop counting. */
        wb.drain_calls = sends.calls;
        wb.drain_marked_calls = sends.marked_calls;
        sends.fd = -1;
        pair_close();
    }
}

static void wb_ready(void)
{
    eddy_stream_t *c = &pair.client.stream;
    wb.filled = fill_until_full(c);
    sends.fd = fd_of(&pair.client);
    sends.mark_lo = wb.data[0];
    sends.mark_hi = wb.data[0] + sizeof wb.data;
    for (int i = 0; i < WB_N; i++) {
        for (int j = 0; j < WB_SIZE; j++)
            wb.data[i][j] = (char)(i * 31 + j);
        eddy_buf_t b = eddy_buf_init(wb.data[i], WB_SIZE);
        CHECK_EQ(eddy_stream_write(&wb.reqs[i], c, &b, 1, wb_written), EDDY_STREAM_FULL);
    }
    wb.queue_calls = sends.calls; /* behind a queue, a write makes no syscall at all */
    sends.calls = sends.marked_calls = 0;
    CHECK(eddy_stream_read_start(&pair.accepted->stream, NULL, wb_read) == 0);
}

static void test_writev_batching(void)
{
    begin();
    memset(&wb, 0, sizeof wb);
    pair_open(wb_ready);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    printf("after %zu bytes filled: %d sends while queueing %d writes; draining took %d sends, "
           "%d of them carrying the %d small writes\n",
           wb.filled, wb.queue_calls, WB_N, wb.drain_calls, wb.drain_marked_calls, WB_N);
    CHECK_EQ(wb.next_cb, WB_N);
    CHECK_EQ(wb.queue_calls, 0);
    CHECK(wb.drain_marked_calls >= 1); /* the counting sees the library's sends */
    CHECK(wb.drain_marked_calls <= WB_N / 10);
    end();
}

/* ---- a high-water mark other than the default: FULL at that mark, then the drain ----------- */

#define HW_MARK 4096
#define HW_CHUNK 1000

static struct {
    size_t filled, written, received, queue_at_full;
    int writes_before_full, drains;
    size_t queue_at_drain;
    char chunk[HW_CHUNK];
} hw;

static void hw_read(eddy_stream_t *s, ssize_t n, const eddy_buf_t *buf)
{
    CHECK(n > 0);
    hw.received += (size_t)n;
    if (hw.received == hw.filled + hw.written) pair_close();
}

static void hw_drain(eddy_stream_t *s)
{
    hw.drains++;
    hw.queue_at_drain = eddy_stream_write_queue_size(s);
}

static void hw_ready(void)
{
    eddy_stream_t *c = &pair.client.stream;
    eddy_stream_set_high_water_mark(c, HW_MARK);
    CHECK_EQ(eddy_stream_get_high_water_mark(c), HW_MARK);
    eddy_stream_set_drain_cb(c, hw_drain);
    /* Fill the kernel's buffers with writes the kernel takes whole (each below the new mark),
     * then write HW_CHUNK bytes at a time: once the kernel takes no more they queue, and the
     * write that brings the queue to the mark must say FULL, not one at the default 64 KiB. */
    for (;;) {
        eddy_buf_t b = eddy_buf_init(fill_data, FILL_CHUNK);
        ssize_t n = eddy_stream_try_write(c, &b, 1);
        if (n == -EAGAIN) break;
        CHECK(n > 0);
        hw.filled += (size_t)n;
        CHECK(hw.filled < ((size_t)1 << 30));
    }
    for (int r = 0; r != EDDY_STREAM_FULL;) {
        CHECK(hw.written < ((size_t)1 << 30));
        eddy_write_t *w = malloc(sizeof *w);
        eddy_buf_t b = eddy_buf_init(hw.chunk, HW_CHUNK);
        r = eddy_stream_write(w, c, &b, 1, fill_written);
        hw.written += HW_CHUNK;
        size_t q = eddy_stream_write_queue_size(c);
        if (r == 0) CHECK(q < HW_MARK); /* below the mark: no backpressure */
        CHECK(r == 0 || r == EDDY_STREAM_FULL);
        hw.writes_before_full += r == 0;
        hw.queue_at_full = q;
    }
    CHECK(hw.queue_at_full >= HW_MARK && hw.queue_at_full < HW_MARK + HW_CHUNK);
    CHECK_EQ(hw.drains, 0); /* drain callbacks never run inside a write */
    CHECK(eddy_stream_read_start(&pair.accepted->stream, NULL, hw_read) == 0);
}

static void test_high_water_mark(void)
{
    begin();
    memset(&hw, 0, sizeof hw);
    pair_open(hw_ready);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    printf("filled %zu bytes; FULL at a queue of %zu bytes (mark %d) after %d writes; "
           "%d drain(s), queue %zu at the drain\n",
           hw.filled, hw.queue_at_full, HW_MARK, hw.writes_before_full, hw.drains,
           hw.queue_at_drain);
    CHECK_EQ(hw.received, hw.filled + hw.written);
    CHECK_EQ(hw.drains, 1); /* once per FULL */
    CHECK(hw.queue_at_drain < HW_MARK);
    end();
}

const test_case_t test_cases[] = {
    {"handle_size", test_handle_size},
    {"echo_ipv4", test_echo_ipv4},
    {"echo_ipv6", test_echo_ipv6},
    {"many_writes_in_order", test_many_writes_in_order},
    {"large_write", test_large_write},
    {"backpressure", test_backpressure},
    {"emfile_accept", test_emfile_accept},
    {"reset_by_peer", test_reset_by_peer},
    {"write_to_closed_peer", test_write_to_closed_peer},
    {"connect_refused", test_connect_refused},
    {"connect_timeout", test_connect_timeout},
    {"connect_timeout_not_hit", test_connect_timeout_not_hit},
    {"close_while_connecting", test_close_while_connecting},
    {"close_cancels_write", test_close_cancels_write},
    {"shutdown_eof", test_shutdown_eof},
    {"write_while_connecting", test_write_while_connecting},
    {"thousand_connections", test_thousand_connections},
    {"try_write", test_try_write},
    {"sockname_peername", test_sockname_peername},
    {"read_stop_start", test_read_stop_start},
    {"alloc_cb", test_alloc_cb},
    {"write_cb_deferred", test_write_cb_deferred},
    {"listener_ref_unref", test_listener_ref_unref},
    {"accept_later", test_accept_later},
    {"tcp_open", test_tcp_open},
    {"reuseport", test_reuseport},
    {"connected_ref_unref", test_connected_ref_unref},
    {"writev_batching", test_writev_batching},
    {"high_water_mark", test_high_water_mark},
    {NULL, NULL},
};
