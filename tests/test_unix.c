/* Unix-domain stream sockets: the same stream interface as TCP, over a path, an abstract name
 * or an adopted socketpair. */
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "eddy.h"
#include "harness.h"

static eddy_loop_t loop;

static void begin(void)
{
    signal(SIGPIPE, SIG_DFL);
    alarm(30);
    CHECK(eddy_loop_init(&loop) == 0);
}

static void end(void)
{
    CHECK(eddy_loop_close(&loop) == 0);
    alarm(0);
}

static void free_on_close(eddy_handle_t *h)
{
    free(eddy_container_of(h, eddy_unix_t, stream.handle));
}

/* ---- echo over a path and over an abstract name ------------------------------------------- */

static struct {
    eddy_unix_t server, client;
    eddy_connect_t connect;
    eddy_write_t write;
    char *data;
    size_t size, echoed, got;
    int connect_status, done;
} ue;

typedef struct {
    eddy_write_t req;
    char data[];
} copy_write_t;

static void copy_written(eddy_write_t *req, int status)
{
    free(req->data);
}

static void server_read(eddy_stream_t *s, ssize_t n, const eddy_buf_t *buf)
{
    if (n < 0) {
        eddy_close(&s->handle, free_on_close);
        return;
    }
    copy_write_t *w = malloc(sizeof *w + (size_t)n);
    memcpy(w->data, buf->base, (size_t)n);
    w->req.data = w;
    eddy_buf_t b = eddy_buf_init(w->data, (size_t)n);
    CHECK(eddy_stream_write(&w->req, s, &b, 1, copy_written) >= 0);
}

static void server_connection(eddy_stream_t *server, int status)
{
    CHECK_EQ(status, 0);
    eddy_unix_t *c = calloc(1, sizeof *c);
    CHECK(eddy_unix_init(&loop, c) == 0);
    CHECK(eddy_unix_accept(&ue.server, c) == 0);
    CHECK(eddy_stream_read_start(&c->stream, NULL, server_read) == 0);
}

static void client_read(eddy_stream_t *s, ssize_t n, const eddy_buf_t *buf)
{
    CHECK(n > 0);
    CHECK(memcmp(buf->base, ue.data + ue.got, (size_t)n) == 0);
    ue.got += (size_t)n;
    if (ue.got == ue.size) {
        ue.done = 1;
        eddy_close(&s->handle, NULL);
        eddy_close(&ue.server.stream.handle, NULL);
    }
}

static void client_written(eddy_write_t *req, int status)
{
    CHECK_EQ(status, 0);
}

static void client_connected(eddy_connect_t *req, int status)
{
    CHECK_EQ(status, 0);
    CHECK(eddy_stream_read_start(req->handle, NULL, client_read) == 0);
}

static void unix_echo(const char *name, size_t size)
{
    begin();
    memset(&ue, 0, sizeof ue);
    ue.size = size;
    ue.data = malloc(size);
    for (size_t i = 0; i < size; i++)
        ue.data[i] = (char)(i % 253);
    CHECK(eddy_unix_init(&loop, &ue.server) == 0);
    CHECK(eddy_unix_bind(&ue.server, name) == 0);
    CHECK(eddy_unix_listen(&ue.server, 16, server_connection) == 0);
    CHECK(eddy_unix_init(&loop, &ue.client) == 0);
    CHECK(eddy_unix_connect(&ue.connect, &ue.client, name, client_connected) == 0);
    /* Written while connecting (a Unix connect completes at once, the callback comes later). */
    eddy_buf_t b = eddy_buf_init(ue.data, size);
    CHECK(eddy_stream_write(&ue.write, &ue.client.stream, &b, 1, client_written) >= 0);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    CHECK(ue.done);
    free(ue.data);
    end();
}

static void test_unix_echo_path(void)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/eddy-test-%d.sock", (int)getpid());
    unlink(path);
    unix_echo(path, 100);
    CHECK(unlink(path) == 0); /* the file stays until the caller removes it */
}

static void test_unix_echo_abstract_large(void)
{
    char name[64];
    snprintf(name, sizeof name, "@eddy-test-%d", (int)getpid());
    unix_echo(name, 4u << 20); /* past the socket buffers: partial writes, then EPOLLOUT */
}

/* ---- errors ---------------------------------------------------------------------------------- */

static int enoent_status;

static void enoent_connected(eddy_connect_t *req, int status)
{
    enoent_status = status;
    CHECK(!eddy_stream_is_writable(req->handle));
    eddy_close(&req->handle->handle, NULL);
}

static void test_unix_connect_errors(void)
{
    begin();
    eddy_unix_t u;
    eddy_connect_t req;
    CHECK(eddy_unix_init(&loop, &u) == 0);
    char long_path[200];
    memset(long_path, 'a', sizeof long_path - 1);
    long_path[sizeof long_path - 1] = '\0';
    CHECK_EQ(eddy_unix_connect(&req, &u, long_path, enoent_connected), -ENAMETOOLONG);
    CHECK_EQ(eddy_unix_bind(&u, ""), -EINVAL);
    CHECK(eddy_unix_connect(&req, &u, "/nonexistent/eddy.sock", enoent_connected) == 0);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    CHECK_EQ(enoent_status, -ENOENT);
    end();
}

/* ---- an adopted socketpair ------------------------------------------------------------------- */

static struct {
    eddy_unix_t a, b;
    eddy_write_t w;
    eddy_shutdown_t sd;
    int got, eof;
} sp;

static void sp_read(eddy_stream_t *s, ssize_t n, const eddy_buf_t *buf)
{
    if (n == EDDY_EOF) {
        sp.eof = 1;
        eddy_close(&sp.a.stream.handle, NULL);
        eddy_close(&sp.b.stream.handle, NULL);
        return;
    }
    CHECK(n == 4 && memcmp(buf->base, "pair", 4) == 0);
    sp.got = 1;
}

static void test_unix_socketpair(void)
{
    int fds_before = test_open_fds();
    begin();
    memset(&sp, 0, sizeof sp);
    int fds[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    CHECK(eddy_unix_init(&loop, &sp.a) == 0);
    CHECK(eddy_unix_init(&loop, &sp.b) == 0);
    CHECK(eddy_unix_open(&sp.a, fds[0]) == 0);
    CHECK(eddy_unix_open(&sp.b, fds[1]) == 0);
    CHECK(eddy_stream_is_writable(&sp.a.stream) && eddy_stream_is_readable(&sp.b.stream));
    eddy_buf_t b = eddy_buf_init("pair", 4);
    CHECK_EQ(eddy_stream_write(&sp.w, &sp.a.stream, &b, 1, NULL), 0);
    CHECK(eddy_stream_shutdown(&sp.sd, &sp.a.stream, NULL) == 0);
    CHECK(eddy_stream_read_start(&sp.b.stream, NULL, sp_read) == 0);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    CHECK(sp.got && sp.eof);
    end();
    CHECK_EQ(test_open_fds(), fds_before);
}

/* ---- ref/unref on a connected stream --------------------------------------------------------- */

/* A reading stream is active. Unref'd, it does not keep DEFAULT running; ref'd again it does,
 * until data comes (written to the peer by a timer that is unref'd itself). */
static struct {
    eddy_unix_t u;
    eddy_timer_t writer;
    int peer_fd, got;
} ru;

static void ru_read(eddy_stream_t *s, ssize_t n, const eddy_buf_t *buf)
{
    CHECK(n == 1 && buf->base[0] == 'x');
    ru.got = 1;
    eddy_close(&s->handle, NULL);
}

static void ru_write_peer(eddy_timer_t *t)
{
    CHECK(write(ru.peer_fd, "x", 1) == 1);
}

static void test_unix_ref_unref(void)
{
    begin();
    memset(&ru, 0, sizeof ru);
    int fds[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    ru.peer_fd = fds[1];
    CHECK(eddy_unix_init(&loop, &ru.u) == 0);
    CHECK(eddy_unix_open(&ru.u, fds[0]) == 0);
    CHECK(eddy_stream_read_start(&ru.u.stream, NULL, ru_read) == 0);
    CHECK(eddy_is_active(&ru.u.stream.handle));
    eddy_unref(&ru.u.stream.handle);
    CHECK(!eddy_loop_alive(&loop));
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    CHECK(eddy_is_active(&ru.u.stream.handle)); /* still reading */
    eddy_ref(&ru.u.stream.handle);
    CHECK(eddy_loop_alive(&loop));
    CHECK(eddy_timer_init(&loop, &ru.writer) == 0);
    CHECK(eddy_timer_start(&ru.writer, ru_write_peer, 20, 0) == 0);
    eddy_unref(&ru.writer.handle);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0); /* returns once the stream closed itself */
    CHECK(ru.got);
    eddy_close(&ru.writer.handle, NULL);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    close(fds[1]);
    end();
}

/* ---- names: getsockname / getpeername ------------------------------------------------------ */

static struct {
    eddy_unix_t server, client, accepted;
    eddy_connect_t connect;
    const char *server_name, *client_name; /* client_name NULL: the client does not bind */
    int checked;
} nm;

/* Asserts that the handle's own (or peer's) name is want. */
static void check_name(const eddy_unix_t *u, int peer, const char *want)
{
    char got[128];
    size_t len = sizeof got;
    int r = peer ? eddy_unix_getpeername(u, got, &len) : eddy_unix_getsockname(u, got, &len);
    if (r != 0 || len != strlen(want) || strcmp(got, want) != 0)
        fprintf(stderr, "%s: got %d \"%s\" (%zu), want \"%s\"\n", peer ? "peer" : "sock", r,
                r == 0 ? got : "", len, want);
    CHECK_EQ(r, 0);
    CHECK_EQ(len, strlen(want));
    CHECK(strcmp(got, want) == 0);
}

static void nm_connection(eddy_stream_t *server, int status)
{
    CHECK_EQ(status, 0);
    CHECK(eddy_unix_init(&loop, &nm.accepted) == 0);
    CHECK(eddy_unix_accept(&nm.server, &nm.accepted) == 0);
    const char *client = nm.client_name ? nm.client_name : "";
    check_name(&nm.server, 0, nm.server_name);
    check_name(&nm.accepted, 0, nm.server_name); /* an accepted socket has the listener's name */
    check_name(&nm.accepted, 1, client);
    check_name(&nm.client, 0, client);
    check_name(&nm.client, 1, nm.server_name);
    /* A listener has no peer. */
    char buf[8];
    size_t len = sizeof buf;
    CHECK_EQ(eddy_unix_getpeername(&nm.server, buf, &len), -ENOTCONN);
    nm.checked = 1;
    eddy_close(&nm.accepted.stream.handle, NULL);
    eddy_close(&nm.client.stream.handle, NULL);
    eddy_close(&nm.server.stream.handle, NULL);
}

static void nm_connected(eddy_connect_t *req, int status)
{
    CHECK(status == 0 || status == EDDY_ECANCELED); /* the client may be closed first */
}

static void names_case(const char *server_name, const char *client_name)
{
    begin();
    memset(&nm, 0, sizeof nm);
    nm.server_name = server_name;
    nm.client_name = client_name;
    CHECK(eddy_unix_init(&loop, &nm.server) == 0);
    char buf[8];
    size_t len = sizeof buf;
    CHECK_EQ(eddy_unix_getsockname(&nm.server, buf, &len), -EBADF); /* no socket yet */
    CHECK(eddy_unix_bind(&nm.server, server_name) == 0);
    CHECK(eddy_unix_listen(&nm.server, 16, nm_connection) == 0);
    /* One byte short (no room for the NUL): -ENOBUFS and the size needed, name and NUL. */
    char name[128];
    len = strlen(server_name);
    CHECK(len < sizeof name);
    CHECK_EQ(eddy_unix_getsockname(&nm.server, name, &len), -ENOBUFS);
    CHECK_EQ(len, strlen(server_name) + 1);
    CHECK(eddy_unix_init(&loop, &nm.client) == 0);
    if (client_name) CHECK(eddy_unix_bind(&nm.client, client_name) == 0);
    CHECK(eddy_unix_connect(&nm.connect, &nm.client, server_name, nm_connected) == 0);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    CHECK(nm.checked);
    end();
}

static void test_unix_names_path(void)
{
    char server[64], client[64];
    snprintf(server, sizeof server, "/tmp/eddy-test-%d-names.sock", (int)getpid());
    snprintf(client, sizeof client, "/tmp/eddy-test-%d-names-client.sock", (int)getpid());
    unlink(server);
    unlink(client);
    names_case(server, client);
    CHECK(unlink(server) == 0);
    CHECK(unlink(client) == 0);
}

static void test_unix_names_abstract(void)
{
    char server[64], client[64];
    snprintf(server, sizeof server, "@eddy-test-%d-names", (int)getpid());
    snprintf(client, sizeof client, "@eddy-test-%d-names-client", (int)getpid());
    names_case(server, NULL); /* an unbound client: both ends see it unnamed */
    names_case(server, client);
}

static void test_unix_names_socketpair(void)
{
    begin();
    int fds[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    eddy_unix_t a, b;
    CHECK(eddy_unix_init(&loop, &a) == 0);
    CHECK(eddy_unix_init(&loop, &b) == 0);
    CHECK(eddy_unix_open(&a, fds[0]) == 0);
    CHECK(eddy_unix_open(&b, fds[1]) == 0);
    check_name(&a, 0, "");
    check_name(&a, 1, "");
    check_name(&b, 0, "");
    check_name(&b, 1, "");
    /* An empty name still needs room for its NUL. */
    char c;
    size_t len = 0;
    CHECK_EQ(eddy_unix_getsockname(&a, &c, &len), -ENOBUFS);
    CHECK_EQ(len, 1);
    eddy_close(&a.stream.handle, NULL);
    eddy_close(&b.stream.handle, NULL);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    end();
}

/* ---- connecting to a full backlog fails at once: why there is no connect timeout ------------ */

static int full_status = 1, full_calls;

static void full_connected(eddy_connect_t *req, int status)
{
    full_status = status;
    full_calls++;
    eddy_close(&req->handle->handle, NULL);
}

static void test_unix_connect_backlog_full(void)
{
    begin();
    char name[64];
    snprintf(name, sizeof name, "@eddy-test-%d-full", (int)getpid());
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path + 1, name + 1, strlen(name) - 1);
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name));
    /* A listener that never accepts, filled by non-blocking clients until the kernel says
     * EAGAIN (where exactly depends on the backlog arithmetic, so it is found, not assumed). */
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(lfd >= 0);
    CHECK(bind(lfd, (struct sockaddr *)&sa, salen) == 0);
    CHECK(listen(lfd, 1) == 0);
    int raw[64], nraw = 0, full = 0;
    while (!full && nraw < 64) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        CHECK(fd >= 0);
        if (connect(fd, (struct sockaddr *)&sa, salen) == 0) {
            raw[nraw++] = fd;
        } else {
            CHECK_EQ(errno, EAGAIN); /* never EINPROGRESS: nothing for a timeout to time */
            close(fd);
            full = 1;
        }
    }
    CHECK(full);
    /* eddy's connect reports the same -EAGAIN, in the first iteration: it did not wait. */
    eddy_unix_t u;
    eddy_connect_t req;
    CHECK(eddy_unix_init(&loop, &u) == 0);
    CHECK(eddy_unix_connect(&req, &u, name, full_connected) == 0);
    CHECK_EQ(full_calls, 0); /* callbacks never run inside the call */
    eddy_run(&loop, EDDY_RUN_ONCE);
    CHECK_EQ(full_calls, 1);
    CHECK_EQ(full_status, -EAGAIN);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    for (int i = 0; i < nraw; i++)
        close(raw[i]);
    close(lfd);
    end();
}

const test_case_t test_cases[] = {
    {"unix_echo_path", test_unix_echo_path},
    {"unix_echo_abstract_large", test_unix_echo_abstract_large},
    {"unix_connect_errors", test_unix_connect_errors},
    {"unix_socketpair", test_unix_socketpair},
    {"unix_ref_unref", test_unix_ref_unref},
    {"unix_names_path", test_unix_names_path},
    {"unix_names_abstract", test_unix_names_abstract},
    {"unix_names_socketpair", test_unix_names_socketpair},
    {"unix_connect_backlog_full", test_unix_connect_backlog_full},
    {NULL, NULL},
};
