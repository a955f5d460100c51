/* The static file handler over real sockets: 200 with validators (sendfile), 304, ranges (206,
 * suffix, 416, several), HEAD, gzip when accepted and not otherwise, directories, pipelined
 * requests in order, a large file to a slow reader, and every way out of the root refused:
 * `..`, %2e%2e, %2F, a symlink out of the root, NUL. Bodies are compared with the files. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "eddy.h"
#include "eddy/http.h"
#include "eddy/http_static.h"
#include "harness.h"

static eddy_loop_t loop;
static eddy_http_server_t server;
static eddy_http_static_t files;
static eddy_async_t client_done;
static int port;
static char dir[64], root[96];
static char *big, *text;
static size_t big_len, text_len;

/* ---- fixtures ------------------------------------------------------------------------------- */

static void write_file(const char *rel, const char *data, size_t len)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, data, len) == (ssize_t)len);
    close(fd);
}

static void make_tree(void)
{
    strcpy(dir, "/tmp/eddy_static_XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    snprintf(root, sizeof root, "%s/root", dir);
    char p[256];
    CHECK(mkdir(root, 0755) == 0);
    snprintf(p, sizeof p, "%s/sub", root);
    CHECK(mkdir(p, 0755) == 0);
    snprintf(p, sizeof p, "%s/noindex", root);
    CHECK(mkdir(p, 0755) == 0);
    big_len = 3 * 1024 * 1024 + 1234;
    big = malloc(big_len);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (char)((i * 2654435761u) >> 11);
    write_file("big.bin", big, big_len);
    text = malloc(600000);
    text_len = 0;
    for (unsigned i = 0; text_len < 590000; i++)
        text_len += (size_t)sprintf(text + text_len, "%u: static files, served gzipped\n", i);
    write_file("text.txt", text, text_len);
    write_file("sub/index.html", "<h1>sub</h1>\n", 13);
    write_file(".hidden", "secret\n", 7);
    snprintf(p, sizeof p, "%s/secret.txt", dir); /* outside the root */
    int fd = open(p, O_WRONLY | O_CREAT, 0644);
    CHECK(fd >= 0 && write(fd, "outside\n", 8) == 8);
    close(fd);
    char link[256];
    snprintf(link, sizeof link, "%s/escape", root);
    CHECK(symlink("../secret.txt", link) == 0);
    snprintf(link, sizeof link, "%s/abs", root);
    CHECK(symlink(p, link) == 0);
    snprintf(link, sizeof link, "%s/inside", root);
    CHECK(symlink("sub/index.html", link) == 0);
}

static void on_request(eddy_http_req_t *req, eddy_http_res_t *res)
{
    eddy_http_static_serve(&files, req, res);
}

static void on_server_closed(eddy_http_server_t *s)
{
    eddy_http_static_free(&files);
}

static void on_client_done(eddy_async_t *a)
{
    eddy_close(&a->handle, NULL);
    eddy_http_server_close(&server, on_server_closed);
}

static void *client_main(void *arg)
{
    ((void (*)(void))arg)();
    CHECK(eddy_async_send(&client_done) == 0);
    return NULL;
}

static void run(void (*client)(void))
{
    signal(SIGPIPE, SIG_IGN);
    alarm(60);
    make_tree();
    CHECK(eddy_loop_init(&loop) == 0);
    CHECK(eddy_http_static_init(&files, root, NULL) == 0);
    CHECK(eddy_http_server_init(&loop, &server, NULL, on_request) == 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(eddy_http_server_listen(&server, (struct sockaddr *)&a, 0, 128) == 0);
    port = eddy_http_server_port(&server);
    CHECK(eddy_async_init(&loop, &client_done, on_client_done) == 0);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, client_main, (void *)client) == 0);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(eddy_loop_close(&loop) == 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    free(big);
    free(text);
    alarm(0);
}

/* ---- a small blocking HTTP client --------------------------------------------------------- */

typedef struct {
    int fd;
    char *buf;
    size_t len, cap;
} cli_t;

typedef struct {
    int status;
    char head[8192];
    char *body;
    size_t body_len;
    int chunked;
} resp_t;

static void cli_open(cli_t *c, int rcvbuf)
{
    memset(c, 0, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(c->fd >= 0);
    if (rcvbuf) setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(connect(c->fd, (struct sockaddr *)&a, sizeof a) == 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

static void cli_close(cli_t *c)
{
    close(c->fd);
    free(c->buf);
}

static void cli_send(cli_t *c, const char *s, size_t len)
{
    CHECK(send(c->fd, s, len, MSG_NOSIGNAL) == (ssize_t)len);
}

static ssize_t cli_fill(cli_t *c)
{
    if (c->cap - c->len < 65536) {
        c->cap = c->cap ? c->cap * 2 : 131072;
        c->buf = realloc(c->buf, c->cap);
    }
    ssize_t n;
    do
        n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
    while (n < 0 && errno == EINTR);
    if (n > 0) c->len += (size_t)n;
    return n < 0 ? -errno : n;
}

static void cli_need(cli_t *c, size_t n)
{
    while (c->len < n)
        CHECK(cli_fill(c) > 0);
}

static void cli_consume(cli_t *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

static const char *hdr(const resp_t *r, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    for (const char *l = strstr(r->head, "\r\n"); l && l[2]; l = strstr(l + 2, "\r\n")) {
        if (strncasecmp(l + 2, name, n) == 0 && l[2 + n] == ':') {
            const char *v = l + 3 + n;
            while (*v == ' ')
                v++;
            size_t len = (size_t)(strstr(v, "\r\n") - v);
            CHECK(len < cap);
            memcpy(out, v, len);
            out[len] = 0;
            return out;
        }
    }
    return NULL;
}

static void cli_response(cli_t *c, resp_t *r, int no_body)
{
    free(r->body);
    memset(r, 0, sizeof *r);
    char *e;
    while (!(e = c->len >= 4 ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL))
        cli_need(c, c->len + 1);
    size_t end = (size_t)(e - c->buf) + 4;
    CHECK(end < sizeof r->head);
    memcpy(r->head, c->buf, end);
    cli_consume(c, end);
    CHECK(sscanf(r->head, "HTTP/1.1 %d ", &r->status) == 1);
    char v[64];
    if (no_body || r->status == 304) return;
    if (hdr(r, "Transfer-Encoding", v, sizeof v)) {
        r->chunked = 1;
        for (;;) {
            char *eol;
            while (!(eol = memmem(c->buf, c->len, "\r\n", 2)))
                cli_need(c, c->len + 1);
            unsigned long size = strtoul(c->buf, NULL, 16);
            cli_consume(c, (size_t)(eol - c->buf) + 2);
            cli_need(c, size + 2);
            if (size == 0) break;
            r->body = realloc(r->body, r->body_len + size + 1);
            memcpy(r->body + r->body_len, c->buf, size);
            r->body_len += size;
            cli_consume(c, size + 2);
        }
        cli_consume(c, 2);
    } else {
        CHECK(hdr(r, "Content-Length", v, sizeof v) != NULL);
        size_t n = strtoul(v, NULL, 10);
        cli_need(c, n);
        r->body = malloc(n + 1);
        memcpy(r->body, c->buf, n);
        r->body_len = n;
        cli_consume(c, n);
    }
    if (r->body) r->body[r->body_len] = 0;
}

/* One request on a fresh connection; extra: more header lines ("Name: v\r\n"...). */
static void get(resp_t *r, const char *method, const char *path, const char *extra)
{
    cli_t c;
    cli_open(&c, 0);
    char req[2048];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: x\r\n%s\r\n", method, path,
                     extra ? extra : "");
    cli_send(&c, req, (size_t)n);
    cli_response(&c, r, strcmp(method, "HEAD") == 0);
    cli_close(&c);
}

static int body_eq(const resp_t *r, const char *data, size_t len)
{
    return r->body_len == len && memcmp(r->body, data, len) == 0;
}

/* ---- the cases ------------------------------------------------------------------------------ */

static void client_validators(void)
{
    resp_t r = {0};
    char etag[128], lm[128], v[128], extra[512];
    get(&r, "GET", "/big.bin", NULL);
    CHECK_EQ(r.status, 200);
    CHECK(body_eq(&r, big, big_len));
    CHECK(!r.chunked);
    CHECK(hdr(&r, "ETag", etag, sizeof etag) && strncmp(etag, "W/\"", 3) == 0);
    CHECK(hdr(&r, "Last-Modified", lm, sizeof lm));
    CHECK(hdr(&r, "Accept-Ranges", v, sizeof v) && strcmp(v, "bytes") == 0);
    CHECK(hdr(&r, "Content-Type", v, sizeof v) && strcmp(v, "application/octet-stream") == 0);
    snprintf(extra, sizeof extra, "If-None-Match: \"nope\", %s\r\n", etag);
    get(&r, "GET", "/big.bin", extra);
    CHECK_EQ(r.status, 304);
    CHECK(hdr(&r, "ETag", v, sizeof v) && strcmp(v, etag) == 0);
    get(&r, "GET", "/big.bin", "If-None-Match: \"other\"\r\n");
    CHECK_EQ(r.status, 200);
    snprintf(extra, sizeof extra, "If-Modified-Since: %s\r\n", lm);
    get(&r, "GET", "/big.bin", extra);
    CHECK_EQ(r.status, 304);
    get(&r, "GET", "/big.bin", "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n");
    CHECK_EQ(r.status, 200);
    CHECK(body_eq(&r, big, big_len));
    /* If-None-Match wins over If-Modified-Since */
    snprintf(extra, sizeof extra, "If-None-Match: \"x\"\r\nIf-Modified-Since: %s\r\n", lm);
    get(&r, "GET", "/big.bin", extra);
    CHECK_EQ(r.status, 200);
    free(r.body);
}

static void validators_and_304(void)
{
    run(client_validators);
}

static void expect_range(const char *range, int status, size_t from, size_t len)
{
    resp_t r = {0};
    char extra[256], v[128], want[128];
    snprintf(extra, sizeof extra, "Range: %s\r\n", range);
    get(&r, "GET", "/big.bin", extra);
    CHECK_EQ(r.status, status);
    if (status == 206) {
        CHECK(body_eq(&r, big + from, len));
        snprintf(want, sizeof want, "bytes %zu-%zu/%zu", from, from + len - 1, big_len);
        CHECK(hdr(&r, "Content-Range", v, sizeof v) && strcmp(v, want) == 0);
    } else if (status == 416) {
        snprintf(want, sizeof want, "bytes */%zu", big_len);
        CHECK(hdr(&r, "Content-Range", v, sizeof v) && strcmp(v, want) == 0);
    } else {
        CHECK(body_eq(&r, big, big_len));
    }
    free(r.body);
}

static void client_ranges(void)
{
    char spec[64];
    expect_range("bytes=0-99", 206, 0, 100);
    expect_range("bytes=100-100", 206, 100, 1);
    expect_range("bytes=1000000-", 206, 1000000, big_len - 1000000);
    expect_range("bytes=-500", 206, big_len - 500, 500);
    expect_range("bytes=-99999999", 206, 0, big_len);
    expect_range("bytes=3000000-99999999", 206, 3000000, big_len - 3000000);
    snprintf(spec, sizeof spec, "bytes=%zu-", big_len);
    expect_range(spec, 416, 0, 0);
    expect_range("bytes=-0", 416, 0, 0);
    expect_range("bytes=0-1,5-6", 200, 0, 0); /* several ranges: the whole file */
    expect_range("bytes=5-1", 200, 0, 0);     /* malformed: ignored */
    expect_range("items=0-1", 200, 0, 0);
    /* If-Range with another date: the whole file */
    resp_t r = {0};
    get(&r, "GET", "/big.bin", "Range: bytes=0-9\r\nIf-Range: Sun, 06 Nov 1994 08:49:37 GMT\r\n");
    CHECK_EQ(r.status, 200);
    free(r.body);
}

static void ranges(void)
{
    run(client_ranges);
}

static void client_head_and_keepalive(void)
{
    cli_t c;
    cli_open(&c, 0);
    resp_t r = {0};
    char v[64];
    const char *reqs = "HEAD /big.bin HTTP/1.1\r\nHost: x\r\n\r\n"
                       "HEAD /text.txt HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n"
                       "GET /sub/index.html HTTP/1.1\r\nHost: x\r\n\r\n";
    cli_send(&c, reqs, strlen(reqs));
    cli_response(&c, &r, 1);
    CHECK_EQ(r.status, 200);
    CHECK(hdr(&r, "Content-Length", v, sizeof v) && strtoul(v, NULL, 10) == big_len);
    cli_response(&c, &r, 1);
    CHECK_EQ(r.status, 200);
    CHECK(hdr(&r, "Content-Encoding", v, sizeof v) && strcmp(v, "gzip") == 0);
    cli_response(&c, &r, 0);
    CHECK_EQ(r.status, 200);
    CHECK(body_eq(&r, "<h1>sub</h1>\n", 13));
    CHECK(hdr(&r, "Content-Type", v, sizeof v) && strncmp(v, "text/html", 9) == 0);
    CHECK_EQ(c.len, 0); /* no stray body bytes after the HEADs */
    free(r.body);
    cli_close(&c);
}

static void head_requests(void)
{
    run(client_head_and_keepalive);
}

static char *gunzip(const char *data, size_t len, size_t *out_len)
{
    size_t cap = 4 * 1024 * 1024;
    char *out = malloc(cap);
    z_stream z = {0};
    CHECK(inflateInit2(&z, 31) == Z_OK);
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    CHECK(inflate(&z, Z_FINISH) == Z_STREAM_END);
    *out_len = z.total_out;
    inflateEnd(&z);
    return out;
}

static void client_gzip(void)
{
    resp_t r = {0};
    char v[128];
    get(&r, "GET", "/text.txt", "Accept-Encoding: br, gzip;q=0.8\r\n");
    CHECK_EQ(r.status, 200);
    CHECK(hdr(&r, "Content-Encoding", v, sizeof v) && strcmp(v, "gzip") == 0);
    CHECK(hdr(&r, "Vary", v, sizeof v) && strcmp(v, "Accept-Encoding") == 0);
    CHECK(r.chunked);
    CHECK(r.body_len < text_len / 3);
    size_t n;
    char *plain = gunzip(r.body, r.body_len, &n);
    CHECK(n == text_len && memcmp(plain, text, n) == 0);
    free(plain);
    get(&r, "GET", "/text.txt", NULL); /* not accepted: as it is */
    CHECK_EQ(r.status, 200);
    CHECK(hdr(&r, "Content-Encoding", v, sizeof v) == NULL);
    CHECK(body_eq(&r, text, text_len));
    get(&r, "GET", "/text.txt", "Accept-Encoding: gzip;q=0, deflate\r\n");
    CHECK(hdr(&r, "Content-Encoding", v, sizeof v) == NULL);
    CHECK(body_eq(&r, text, text_len));
    get(&r, "GET", "/big.bin", "Accept-Encoding: gzip\r\n"); /* not a compressible type */
    CHECK(hdr(&r, "Content-Encoding", v, sizeof v) == NULL);
    CHECK(body_eq(&r, big, big_len));
    get(&r, "GET", "/text.txt", "Accept-Encoding: gzip\r\nRange: bytes=10-19\r\n");
    CHECK_EQ(r.status, 206); /* ranges are of the file as it is */
    CHECK(body_eq(&r, text + 10, 10));
    free(r.body);
}

static void gzip_when_accepted(void)
{
    run(client_gzip);
}

static void expect_status(const char *path, int status)
{
    resp_t r = {0};
    get(&r, "GET", path, NULL);
    if (r.status != status) fprintf(stderr, "%s: %d, wanted %d\n", path, r.status, status);
    CHECK_EQ(r.status, status);
    CHECK(r.body == NULL || strstr(r.body, "outside") == NULL);
    free(r.body);
}

static void client_escapes(void)
{
    expect_status("/../secret.txt", 403);
    expect_status("/sub/../../secret.txt", 403);
    expect_status("/%2e%2e/secret.txt", 403);
    expect_status("/%2E%2E/secret.txt", 403);
    expect_status("/sub/%2e%2e/%2e%2e/secret.txt", 403);
    expect_status("/..%2fsecret.txt", 403);
    expect_status("/sub%2F..%2F..%2Fsecret.txt", 403);
    expect_status("/sub%5c..%5csecret.txt", 403);
    expect_status("/text.txt%00.html", 403);
    expect_status("/escape", 403); /* a symlink out of the root */
    expect_status("/abs", 403);    /* an absolute one */
    expect_status("/inside", 200); /* a symlink that stays inside is fine */
    expect_status("/.hidden", 404);
    expect_status("/missing.txt", 404);
    expect_status("/big.bin/x", 404);
    expect_status("/%zz", 400);
    expect_status("/%2", 400);
    /* A raw NUL never reaches the handler: the parser refuses the request line. */
    cli_t c;
    cli_open(&c, 0);
    const char raw[] = "GET /text.txt\0.html HTTP/1.1\r\nHost: x\r\n\r\n";
    cli_send(&c, raw, sizeof raw - 1);
    resp_t r = {0};
    cli_response(&c, &r, 0);
    CHECK_EQ(r.status, 400);
    free(r.body);
    cli_close(&c);
}

static void path_escapes_refused(void)
{
    run(client_escapes);
}

static void client_dirs(void)
{
    resp_t r = {0};
    char v[128];
    get(&r, "GET", "/sub/", NULL);
    CHECK_EQ(r.status, 200);
    CHECK(body_eq(&r, "<h1>sub</h1>\n", 13));
    get(&r, "GET", "/sub?x=1", NULL);
    CHECK_EQ(r.status, 301);
    CHECK(hdr(&r, "Location", v, sizeof v) && strcmp(v, "/sub/") == 0);
    get(&r, "GET", "/noindex/", NULL);
    CHECK_EQ(r.status, 404);
    get(&r, "POST", "/text.txt", "Content-Length: 0\r\n");
    CHECK_EQ(r.status, 405);
    CHECK(hdr(&r, "Allow", v, sizeof v) && strcmp(v, "GET, HEAD") == 0);
    free(r.body);
}

static void directories_and_methods(void)
{
    run(client_dirs);
}

/* Pipelined: the first (gzip) response takes a while, so the sendfile responses behind it
 * wait for their turn (deferred in the exchange) and everything leaves in request order. */
static void client_pipelined(void)
{
    cli_t c;
    cli_open(&c, 0);
    static const char *paths[] = {"/text.txt", "/big.bin", "/sub/", "/big.bin", "/text.txt",
                                  "/big.bin"};
    char reqs[4096];
    size_t n = 0;
    for (int i = 0; i < 6; i++)
        n += (size_t)snprintf(reqs + n, sizeof reqs - n, "GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n",
                              paths[i], i == 0 ? "Accept-Encoding: gzip\r\n" : "");
    cli_send(&c, reqs, n);
    resp_t r = {0};
    for (int i = 0; i < 6; i++) {
        cli_response(&c, &r, 0);
        CHECK_EQ(r.status, 200);
        if (i == 0) {
            size_t len;
            char *plain = gunzip(r.body, r.body_len, &len);
            CHECK(len == text_len && memcmp(plain, text, len) == 0);
            free(plain);
        } else if (paths[i][1] == 'b') {
            CHECK(body_eq(&r, big, big_len));
        } else if (paths[i][1] == 's') {
            CHECK(body_eq(&r, "<h1>sub</h1>\n", 13));
        } else {
            CHECK(body_eq(&r, text, text_len));
        }
    }
    free(r.body);
    cli_close(&c);
}

static void pipelined_in_order(void)
{
    run(client_pipelined);
}

/* A slow reader with a small receive buffer: sendfile waits for writability many times. */
static void client_slow(void)
{
    cli_t c;
    cli_open(&c, 16384);
    const char *req = "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n"
                      "GET /text.txt HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n";
    cli_send(&c, req, strlen(req));
    usleep(200 * 1000);
    resp_t r = {0};
    cli_response(&c, &r, 0);
    CHECK(body_eq(&r, big, big_len));
    cli_response(&c, &r, 0);
    size_t len;
    char *plain = gunzip(r.body, r.body_len, &len);
    CHECK(len == text_len && memcmp(plain, text, len) == 0);
    free(plain);
    free(r.body);
    cli_close(&c);
    /* and a client that goes away in the middle of both kinds */
    cli_open(&c, 4096);
    cli_send(&c, req, strlen(req));
    usleep(50 * 1000);
    cli_close(&c);
    cli_open(&c, 4096);
    const char *gz = "GET /text.txt HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n";
    cli_send(&c, gz, strlen(gz));
    usleep(50 * 1000);
    cli_close(&c);
    usleep(100 * 1000);
}

static void slow_reader_and_abort(void)
{
    run(client_slow);
}

const test_case_t test_cases[] = {
    {"validators_and_304", validators_and_304},
    {"ranges", ranges},
    {"head_requests", head_requests},
    {"gzip_when_accepted", gzip_when_accepted},
    {"path_escapes_refused", path_escapes_refused},
    {"directories_and_methods", directories_and_methods},
    {"pipelined_in_order", pipelined_in_order},
    {"slow_reader_and_abort", slow_reader_and_abort},
    {NULL, NULL},
};
