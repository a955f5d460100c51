/* File streams and pipes: whole files and byte ranges, errors (-ENOENT through a pipe), copies
 * file to file, file to socket, socket to file, through a transform, backpressure of writers
 * and of pipes into a held destination (file and socket sources), the writer's start offset,
 * streams on a given descriptor, the transform's pool class, closing with work in flight, flat
 * memory for a large file sent to a slow reader, and fairness: a fast download moves at most
 * one write budget per loop phase. Loopback only; each case bounds its time with alarm(). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eddy.h"
#include "harness.h"
#include "stream/stream_internal.h" /* EDDY__WRITE_BUDGET, the fairness bound under test */

static eddy_loop_t loop;
static char dir[64];

static void begin(void)
{
    signal(SIGPIPE, SIG_DFL);
    alarm(60);
    CHECK(eddy_loop_init(&loop) == 0);
    strcpy(dir, "/tmp/eddy_stream_XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
}

static void remove_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

static void end(void)
{
    CHECK(eddy_loop_close(&loop) == 0);
    remove_dir();
    alarm(0);
}

static void path_of(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

/* Byte i of the test pattern: not periodic at any power of two, so misplaced chunks show. */
static unsigned char pattern(uint64_t i)
{
    return (unsigned char)((i * 2654435761u) >> 13 ^ i / 4099);
}

static uint64_t fnv(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

#define FNV_INIT 14695981039346656037ull

static uint64_t make_file(const char *name, uint64_t size, char *path, size_t cap)
{
    path_of(path, cap, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    static char buf[65536];
    uint64_t h = FNV_INIT;
    for (uint64_t off = 0; off < size;) {
        size_t n = size - off < sizeof buf ? (size_t)(size - off) : sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = (char)pattern(off + i);
        CHECK(write(fd, buf, n) == (ssize_t)n);
        h = fnv(h, buf, n);
        off += n;
    }
    close(fd);
    return h;
}

static uint64_t hash_file(const char *path, uint64_t *size)
{
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    static char buf[65536];
    uint64_t h = FNV_INIT;
    *size = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        h = fnv(h, buf, (size_t)n);
        *size += (uint64_t)n;
    }
    close(fd);
    return h;
}

#define RSS_BOUNDS TEST_RSS_BOUNDS

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kib) == 1) break;
    if (f) fclose(f);
    return kib;
}

static int closed;

static void on_closed(eddy_handle_t *h)
{
    closed++;
}

/* ---- a reader that collects what a stream gives ------------------------------------------- */

typedef struct {
    uint64_t hash, bytes;
    int eof, err, chunks;
    size_t max_chunk;
} collect_t;

static collect_t got;

static void collect_read(eddy_stream_t *s, ssize_t n, const eddy_buf_t *buf)
{
    if (n > 0) {
        CHECK(buf->len == (size_t)n);
        got.hash = fnv(got.hash, buf->base, (size_t)n);
        got.bytes += (uint64_t)n;
        got.chunks++;
        if ((size_t)n > got.max_chunk) got.max_chunk = (size_t)n;
        return;
    }
    if (n == EDDY_EOF)
        got.eof++;
    else if (n < 0)
        got.err = (int)n;
    eddy_close(&s->handle, on_closed);
}

static void collect_reset(void)
{
    memset(&got, 0, sizeof got);
    got.hash = FNV_INIT;
}

static void read_all(const char *path, const eddy_file_stream_opts_t *opts)
{
    eddy_file_stream_t fs;
    collect_reset();
    CHECK(eddy_file_read_stream_open(&loop, &fs, path, opts) == 0);
    CHECK(eddy_stream_read_start(&fs.stream, NULL, collect_read) == 0);
    closed = 0;
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    CHECK_EQ(closed, 1);
}

static void read_whole_file(void)
{
    begin();
    char path[128];
    uint64_t size = 1024 * 1024 + 123;
    uint64_t h = make_file("a", size, path, sizeof path);
    read_all(path, NULL);
    CHECK_EQ(got.eof, 1);
    CHECK_EQ(got.err, 0);
    CHECK_EQ(got.bytes, size);
    CHECK(got.hash == h);
    CHECK_EQ(got.max_chunk, 64 * 1024);
    CHECK_EQ(got.chunks, 17);
    end();
}

/* Expected hash of bytes [a, b] of the pattern. */
static uint64_t range_hash(uint64_t a, uint64_t b)
{
    uint64_t h = FNV_INIT;
    for (uint64_t i = a; i <= b; i++) {
        unsigned char c = pattern(i);
        h = fnv(h, &c, 1);
    }
    return h;
}

static void read_ranges(void)
{
    begin();
    char path[128];
    uint64_t size = 300000;
    make_file("r", size, path, sizeof path);
    eddy_file_stream_opts_t o;
    eddy_file_stream_opts_init(&o);
    o.chunk_size = 1000;
    struct { int64_t start; uint64_t end; uint64_t want; } cases[] = {
        {100, 199, 100}, {0, 0, 1}, {5, 99999, 99995}, {299990, UINT64_MAX, 10},
        {299999, 400000, 1}, {300000, UINT64_MAX, 0}, {-1, 2500, 2501}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        o.start = cases[i].start;
        o.end = cases[i].end;
        read_all(path, &o);
        CHECK_EQ(got.eof, 1);
        CHECK_EQ(got.bytes, cases[i].want);
        uint64_t a = cases[i].start < 0 ? 0 : (uint64_t)cases[i].start;
        if (cases[i].want) CHECK(got.hash == range_hash(a, a + cases[i].want - 1));
        CHECK(got.max_chunk <= 1000);
    }
    end();
}

static void read_missing_enoent(void)
{
    begin();
    char path[128];
    path_of(path, sizeof path, "missing");
    read_all(path, NULL);
    CHECK_EQ(got.err, -ENOENT);
    CHECK_EQ(got.eof, 0);
    end();
}

/* Reading into the user's own small buffers (an alloc callback). */
static char small_buf[1000];

static void small_alloc(eddy_stream_t *s, size_t suggested, eddy_buf_t *buf)
{
    *buf = eddy_buf_init(small_buf, sizeof small_buf);
}

static void read_with_alloc_cb(void)
{
    begin();
    char path[128];
    uint64_t h = make_file("s", 200001, path, sizeof path);
    eddy_file_stream_t fs;
    collect_reset();
    CHECK(eddy_file_read_stream_open(&loop, &fs, path, NULL) == 0);
    CHECK(eddy_stream_read_start(&fs.stream, small_alloc, collect_read) == 0);
    closed = 0;
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    CHECK_EQ(got.bytes, 200001);
    CHECK(got.hash == h);
    CHECK_EQ(got.max_chunk, 1000);
    end();
}

/* ---- pipes between files ------------------------------------------------------------------- */

static int pipe_status = 1;

static void pipe_done(eddy_pipe_t *p, int status)
{
    pipe_status = status;
    eddy_close(&p->src->handle, on_closed);
    eddy_close(&p->dst->handle, on_closed);
}

static void file_to_file_copy(void)
{
    begin();
    char src[128], dst[128];
    uint64_t size = 3 * 1024 * 1024 + 777;
    uint64_t h = make_file("src", size, src, sizeof src);
    path_of(dst, sizeof dst, "dst");
    eddy_file_stream_t in, out;
    CHECK(eddy_file_read_stream_open(&loop, &in, src, NULL) == 0);
    CHECK(eddy_file_write_stream_open(&loop, &out, dst, NULL) == 0);
    eddy_pipe_t p;
    CHECK(eddy_stream_pipe(&p, &in.stream, &out.stream, 0, pipe_done) == 0);
    CHECK(eddy_stream_pipe(&p, &in.stream, &out.stream, 0, pipe_done) == -EBUSY);
    closed = 0;
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    CHECK_EQ(pipe_status, 0);
    CHECK_EQ(closed, 2);
    CHECK_EQ(p.bytes, size);
    CHECK_EQ(eddy_file_stream_bytes(&out), size);
    uint64_t got_size;
    CHECK(hash_file(dst, &got_size) == h);
    CHECK_EQ(got_size, size);
    end();
}

static void pipe_missing_enoent(void)
{
    begin();
    char src[128], dst[128];
    path_of(src, sizeof src, "nope");
    path_of(dst, sizeof dst, "out");
    eddy_file_stream_t in, out;
    CHECK(eddy_file_read_stream_open(&loop, &in, src, NULL) == 0);
    CHECK(eddy_file_write_stream_open(&loop, &out, dst, NULL) == 0);
    eddy_pipe_t p;
    CHECK(eddy_stream_pipe(&p, &in.stream, &out.stream, 0, pipe_done) == 0);
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    CHECK_EQ(pipe_status, -ENOENT);
    end();
}

/* Writing into a directory that does not exist: every queued write gets the open's error. */
static int write_statuses[3];
static int write_count;

static void record_write(eddy_write_t *req, int status)
{
    write_statuses[write_count++] = status;
}

static void record_shutdown(eddy_shutdown_t *req, int status)
{
    write_statuses[write_count++] = status;
    eddy_close(&req->handle->handle, on_closed);
}

static void write_open_error(void)
{
    begin();
    char path[128];
    path_of(path, sizeof path, "no/such/dir");
    eddy_file_stream_t out;
    CHECK(eddy_file_write_stream_open(&loop, &out, path, NULL) == 0);
    eddy_write_t w1, w2;
    eddy_shutdown_t sh;
    eddy_buf_t b = eddy_buf_init("x", 1);
    CHECK(eddy_stream_write(&w1, &out.stream, &b, 1, record_write) == 0);
    CHECK(eddy_stream_write(&w2, &out.stream, &b, 1, record_write) == 0);
    CHECK(eddy_stream_shutdown(&sh, &out.stream, record_shutdown) == 0);
    CHECK(eddy_stream_write(&w1, &out.stream, &b, 1, record_write) == -EPIPE);
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    CHECK_EQ(write_count, 3);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(write_statuses[i], -ENOENT);
    end();
}

/* A writer's backpressure: FULL at the mark, drain once below, callbacks in order. */
#define NWRITES 40
static eddy_write_t wreqs[NWRITES];
static char wdata[NWRITES][16384];
static int wdone, wnext, drains, fulls;
static eddy_file_stream_t wstream;
static eddy_shutdown_t wshut;

static void ordered_write(eddy_write_t *req, int status)
{
    CHECK_EQ(status, 0);
    CHECK(req == &wreqs[wdone]);
    wdone++;
}

static void write_more(void)
{
    while (wnext < NWRITES) {
        eddy_buf_t b = eddy_buf_init(wdata[wnext], sizeof wdata[0]);
        int r = eddy_stream_write(&wreqs[wnext], &wstream.stream, &b, 1, ordered_write);
        CHECK(r >= 0);
        wnext++;
        if (r == EDDY_STREAM_FULL) {
            CHECK(eddy_stream_write_queue_size(&wstream.stream) >= 64 * 1024);
            fulls++;
            return;
        }
    }
    CHECK(eddy_stream_shutdown(&wshut, &wstream.stream, record_shutdown) == 0);
}

static void on_wdrain(eddy_stream_t *s)
{
    drains++;
    CHECK(eddy_stream_write_queue_size(s) < 64 * 1024);
    write_more();
}

static void write_backpressure(void)
{
    begin();
    char path[128];
    path_of(path, sizeof path, "w");
    for (int i = 0; i < NWRITES; i++)
        for (size_t j = 0; j < sizeof wdata[0]; j++)
            wdata[i][j] = (char)pattern((uint64_t)i * sizeof wdata[0] + j);
    CHECK(eddy_file_write_stream_open(&loop, &wstream, path, NULL) == 0);
    eddy_stream_set_drain_cb(&wstream.stream, on_wdrain);
    write_more();
    write_count = 0;
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    CHECK_EQ(wdone, NWRITES);
    CHECK_EQ(write_count, 1);
    CHECK_EQ(write_statuses[0], 0);
    CHECK(fulls >= 5);
    CHECK_EQ(drains, fulls);
    uint64_t size;
    uint64_t h = hash_file(path, &size);
    CHECK_EQ(size, sizeof wdata);
    CHECK(h == fnv(FNV_INIT, wdata, sizeof wdata));
    end();
}

/* Closing a reader while its read is on the pool: the op frees itself later. */
static void close_with_read_in_flight(void)
{
    begin();
    char path[128];
    make_file("c", 1 << 20, path, sizeof path);
    read_all(path, NULL); /* the loop's wake-up descriptor exists from here on */
    int fds = test_open_fds();
    for (int i = 0; i < 20; i++) {
        eddy_file_stream_t fs;
        CHECK(eddy_file_read_stream_open(&loop, &fs, path, NULL) == 0);
        CHECK(eddy_stream_read_start(&fs.stream, NULL, collect_read) == 0);
        for (int k = 0; k < i % 4; k++)
            eddy_run(&loop, EDDY_RUN_NOWAIT);
        if (!eddy_is_closing(&fs.stream.handle)) eddy_close(&fs.stream.handle, on_closed);
        eddy_run(&loop, EDDY_RUN_DEFAULT);
    }
    CHECK_EQ(test_open_fds(), fds);
    end();
}

/* ---- sockets -------------------------------------------------------------------------------- */

static eddy_tcp_t listener;
static eddy_tcp_t conn;
static int port;

typedef struct {
    int port;
    uint64_t send_size;  /* > 0: send this much of the pattern, then close */
    int rcvbuf;          /* > 0: SO_RCVBUF */
    int delay_us;        /* sleep between reads */
    uint64_t hash, bytes;
    int xor;             /* expect each byte xor-ed with this */
} client_t;

static void *client_main(void *arg)
{
    client_t *c = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    if (c->rcvbuf) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &c->rcvbuf, sizeof c->rcvbuf);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    static __thread char buf[65536];
    c->hash = FNV_INIT;
    if (c->send_size) {
        for (uint64_t off = 0; off < c->send_size;) {
            size_t n = c->send_size - off < sizeof buf ? (size_t)(c->send_size - off) : sizeof buf;
            for (size_t i = 0; i < n; i++)
                buf[i] = (char)pattern(off + i);
            CHECK(write(fd, buf, n) == (ssize_t)n);
            off += n;
        }
        close(fd);
        return NULL;
    }
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        if (c->xor)
            for (ssize_t i = 0; i < n; i++)
                buf[i] ^= (char)c->xor;
        c->hash = fnv(c->hash, buf, (size_t)n);
        c->bytes += (uint64_t)n;
        if (c->delay_us) usleep((useconds_t)c->delay_us);
    }
    close(fd);
    return NULL;
}

static void (*on_accepted)(void);

static void on_conn(eddy_stream_t *server, int status)
{
    CHECK_EQ(status, 0);
    CHECK(eddy_tcp_init(&loop, &conn) == 0);
    CHECK(eddy_tcp_accept(&listener, &conn) == 0);
    eddy_close(&listener.stream.handle, on_closed);
    on_accepted();
}

static void listen_once(void (*accepted)(void))
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(eddy_tcp_init(&loop, &listener) == 0);
    CHECK(eddy_tcp_bind(&listener, (struct sockaddr *)&a, 0) == 0);
    CHECK(eddy_tcp_listen(&listener, 8, on_conn) == 0);
    socklen_t len = sizeof a;
    CHECK(eddy_tcp_getsockname(&listener, (struct sockaddr *)&a, &len) == 0);
    port = ntohs(a.sin_port);
    on_accepted = accepted;
}

static eddy_file_stream_t file;
static eddy_pipe_t pipe_a, pipe_b;
static char file_path[128];

static void send_file_now(void)
{
    CHECK(eddy_file_read_stream_open(&loop, &file, file_path, NULL) == 0);
    CHECK(eddy_stream_pipe(&pipe_a, &file.stream, &conn.stream, 0, pipe_done) == 0);
}

static void file_to_socket(void)
{
    begin();
    uint64_t size = 5 * 1024 * 1024 + 3;
    uint64_t h = make_file("f", size, file_path, sizeof file_path);
    listen_once(send_file_now);
    client_t c = {.port = port};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, client_main, &c) == 0);
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    pthread_join(th, NULL);
    CHECK_EQ(pipe_status, 0);
    CHECK_EQ(c.bytes, size);
    CHECK(c.hash == h);
    end();
}

static void receive_to_file_now(void)
{
    CHECK(eddy_file_write_stream_open(&loop, &file, file_path, NULL) == 0);
    CHECK(eddy_stream_pipe(&pipe_a, &conn.stream, &file.stream, 0, pipe_done) == 0);
}

static void socket_to_file(void)
{
    begin();
    uint64_t size = 4 * 1024 * 1024 + 11;
    path_of(file_path, sizeof file_path, "received");
    listen_once(receive_to_file_now);
    client_t c = {.port = port, .send_size = size};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, client_main, &c) == 0);
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    pthread_join(th, NULL);
    CHECK_EQ(pipe_status, 0);
    uint64_t got_size;
    uint64_t h = hash_file(file_path, &got_size);
    CHECK_EQ(got_size, size);
    char ref[128];
    CHECK(h == make_file("ref", size, ref, sizeof ref));
    end();
}

/* file -> transform (xor 0x5a, on the pool) -> socket */
static eddy_transform_t xform;
static int pipes_done;

static int xor_fn(void *state, eddy_transform_io_t *io)
{
    size_t n = io->in_len < io->out_len ? io->in_len : io->out_len;
    for (size_t i = 0; i < n; i++)
        io->out[i] = io->in[i] ^ 0x5a;
    io->in_used = io->out_used = n;
    return io->end && n == io->in_len ? EDDY_TRANSFORM_DONE : 0;
}

static void chain_done(eddy_pipe_t *p, int status)
{
    CHECK_EQ(status, 0);
    pipes_done++;
    eddy_close(&p->src->handle, on_closed);
    if (p == &pipe_b) eddy_close(&p->dst->handle, on_closed);
}

static void transform_now(void)
{
    eddy_transform_opts_t o = {.chunk_size = 10000, .input_max = 7000};
    CHECK(eddy_transform_init(&loop, &xform, xor_fn, NULL, NULL, &o) == 0);
    CHECK(eddy_file_read_stream_open(&loop, &file, file_path, NULL) == 0);
    CHECK(eddy_stream_pipe(&pipe_a, &file.stream, &xform.stream, 0, chain_done) == 0);
    CHECK(eddy_stream_pipe(&pipe_b, &xform.stream, &conn.stream, 0, chain_done) == 0);
}

static void file_transform_socket(void)
{
    begin();
    uint64_t size = 3 * 1024 * 1024 + 5;
    uint64_t h = make_file("t", size, file_path, sizeof file_path);
    listen_once(transform_now);
    client_t c = {.port = port, .xor = 0x5a, .rcvbuf = 8192, .delay_us = 50};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, client_main, &c) == 0);
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    pthread_join(th, NULL);
    CHECK_EQ(pipes_done, 2);
    CHECK_EQ(c.bytes, size);
    CHECK(c.hash == h);
    end();
}

/* A 256 MiB sparse file to a reader slower than the disk: the pipe must pause, and RSS stay
 * flat (measured after the first 8 MiB, when every buffer exists). */
static long rss_base = -1, rss_max;
static eddy_timer_t rss_timer;

static void sample_rss(eddy_timer_t *t)
{
    long r = rss_kib();
    if (rss_base < 0 && pipe_a.bytes >= 8u << 20) rss_base = r;
    if (rss_base >= 0 && r > rss_max) rss_max = r;
}

static void rss_pipe_done(eddy_pipe_t *p, int status)
{
    pipe_done(p, status);
    eddy_close(&rss_timer.handle, on_closed);
}

static void send_sparse_now(void)
{
    CHECK(eddy_file_read_stream_open(&loop, &file, file_path, NULL) == 0);
    CHECK(eddy_stream_pipe(&pipe_a, &file.stream, &conn.stream, 0, rss_pipe_done) == 0);
    CHECK(eddy_timer_init(&loop, &rss_timer) == 0);
    CHECK(eddy_timer_start(&rss_timer, sample_rss, 5, 5) == 0);
}

static void file_to_slow_socket_rss(void)
{
    begin();
    uint64_t size = 256u << 20;
    path_of(file_path, sizeof file_path, "sparse");
    int fd = open(file_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0 && ftruncate(fd, (off_t)size) == 0);
    close(fd);
    listen_once(send_sparse_now);
    client_t c = {.port = port, .rcvbuf = 64 * 1024, .delay_us = 150};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, client_main, &c) == 0);
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    pthread_join(th, NULL);
    CHECK_EQ(pipe_status, 0);
    CHECK_EQ(c.bytes, size);
    CHECK(rss_base > 0);
    printf("RSS: base %ld KiB, max %ld KiB, growth %ld KiB over %llu MiB\n", rss_base, rss_max,
           rss_max - rss_base, (unsigned long long)(size >> 20));
    CHECK(!RSS_BOUNDS || rss_max - rss_base < 8 * 1024);
    end();
}

/* ---- backpressure into a destination that is held ----------------------------------------- */

/* The destination is a file write stream on the write end of a pipe(2) that nobody reads
 * until `release`: its pool thread blocks in write(2) once the pipe is full, as a slow disk
 * would, so the destination stays above its mark for as long as the test likes. While held,
 * what the pipe took from its source is bounded, whatever the timing: the pipe buffer, plus
 * the destination's queue, which may pass its mark by at most the one chunk that crossed it
 * (the chunk in the pool's write is still counted in that queue). */
typedef struct {
    int fd;
    sem_t go;
    uint64_t hash, bytes;
} fifo_reader_t;

static void *fifo_reader_main(void *arg)
{
    fifo_reader_t *r = arg;
    while (sem_wait(&r->go) != 0)
        CHECK(errno == EINTR);
    static char buf[65536];
    r->hash = FNV_INIT;
    ssize_t n;
    while ((n = read(r->fd, buf, sizeof buf)) > 0) {
        r->hash = fnv(r->hash, buf, (size_t)n);
        r->bytes += (uint64_t)n;
    }
    CHECK(n == 0);
    close(r->fd);
    return NULL;
}

static struct {
    eddy_pipe_t *pipe;
    eddy_stream_t *dst;
    fifo_reader_t *reader;
    uint64_t queue_bound;  /* the destination's mark plus one chunk */
    uint64_t read_bound;   /* what the pipe may take from its source while held */
    uint64_t max_queue, held_bytes, last_bytes;
    int stable, released;
    uint64_t deadline_ms;
    eddy_prepare_t prepare;
    eddy_check_t check;
    eddy_timer_t timer;
} hold;

static void hold_check(void)
{
    uint64_t q = eddy_stream_write_queue_size(hold.dst);
    if (q > hold.max_queue) hold.max_queue = q;
    CHECK(q <= hold.queue_bound);
    if (!hold.released) {
        CHECK(hold.pipe->bytes <= hold.read_bound);
        hold.held_bytes = hold.pipe->bytes;
    }
}

static void hold_hook(eddy_prepare_t *h)
{
    hold_check();
}

/* Every 2 ms: once the destination is at its mark and the source has not advanced for 20 ms,
 * the hold has done what it can show; let the reader go. */
static void hold_tick(eddy_timer_t *t)
{
    hold_check();
    if (hold.released) return;
    CHECK(eddy_now(&loop) < hold.deadline_ms);
    uint64_t bytes = hold.pipe->bytes;
    bool full = eddy_stream_write_queue_size(hold.dst) >= eddy_stream_get_high_water_mark(hold.dst);
    hold.stable = full && bytes == hold.last_bytes ? hold.stable + 1 : 0;
    hold.last_bytes = bytes;
    if (hold.stable >= 10) {
        hold.released = 1;
        CHECK(sem_post(&hold.reader->go) == 0);
    }
}

static void hold_done(eddy_pipe_t *p, int status)
{
    hold_check();
    pipe_done(p, status);
    eddy_close(&hold.prepare.handle, on_closed);
    eddy_close(&hold.check.handle, on_closed);
    eddy_close(&hold.timer.handle, on_closed);
}

/* Opens the held destination on a new pipe(2) and starts the hooks; r->fd is the read end.
 * r->go must be initialised already (the reader thread may be waiting on it). */
static void hold_begin(eddy_file_stream_t *dst, fifo_reader_t *r, uint64_t src_chunk)
{
    int fds[2];
    CHECK(pipe2(fds, O_CLOEXEC) == 0);
    int fifo_cap = fcntl(fds[1], F_GETPIPE_SZ);
    CHECK(fifo_cap > 0);
    r->fd = fds[0]; /* read by the reader only after r->go, which is posted later */
    CHECK(eddy_file_write_stream_open_fd(&loop, dst, fds[1], NULL) == 0);
    memset(&hold, 0, sizeof hold);
    hold.dst = &dst->stream;
    hold.reader = r;
    hold.queue_bound = eddy_stream_get_high_water_mark(&dst->stream) + src_chunk;
    hold.read_bound = (uint64_t)fifo_cap + hold.queue_bound;
    hold.deadline_ms = eddy_now(&loop) + 20000;
    CHECK(eddy_prepare_init(&loop, &hold.prepare) == 0);
    CHECK(eddy_check_init(&loop, &hold.check) == 0);
    CHECK(eddy_prepare_start(&hold.prepare, hold_hook) == 0);
    CHECK(eddy_check_start(&hold.check, hold_hook) == 0);
    CHECK(eddy_timer_init(&loop, &hold.timer) == 0);
    CHECK(eddy_timer_start(&hold.timer, hold_tick, 2, 2) == 0);
}

static void hold_report(const char *what, uint64_t size)
{
    printf("%s: held at %llu bytes read (bound %llu), largest destination queue %llu (bound "
           "%llu), then %llu bytes whole\n",
           what, (unsigned long long)hold.held_bytes, (unsigned long long)hold.read_bound,
           (unsigned long long)hold.max_queue, (unsigned long long)hold.queue_bound,
           (unsigned long long)size);
    CHECK(hold.released);
    CHECK(hold.held_bytes < size); /* the hold really held */
    CHECK(hold.max_queue >= eddy_stream_get_high_water_mark(hold.dst) / 2);
}

static void file_to_held_file_backpressure(void)
{
    begin();
    char src[128];
    uint64_t size = 8u << 20;
    uint64_t h = make_file("src", size, src, sizeof src);
    eddy_file_stream_t in, out;
    static fifo_reader_t r;
    memset(&r, 0, sizeof r);
    CHECK(sem_init(&r.go, 0, 0) == 0);
    hold_begin(&out, &r, 64 * 1024);
    CHECK(eddy_file_read_stream_open(&loop, &in, src, NULL) == 0);
    eddy_pipe_t p;
    hold.pipe = &p;
    CHECK(eddy_stream_pipe(&p, &in.stream, &out.stream, 0, hold_done) == 0);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, fifo_reader_main, &r) == 0);
    closed = 0;
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    pthread_join(th, NULL);
    CHECK_EQ(pipe_status, 0);
    CHECK_EQ(closed, 5);
    CHECK_EQ(r.bytes, size);
    CHECK(r.hash == h);
    hold_report("file -> held file", size);
    sem_destroy(&r.go);
    end();
}

static fifo_reader_t sock_reader;
static eddy_pipe_t sock_pipe;

static void receive_to_held_file_now(void)
{
    hold_begin(&file, &sock_reader, EDDY__READ_BUF_SIZE);
    hold.pipe = &sock_pipe;
    CHECK(eddy_stream_pipe(&sock_pipe, &conn.stream, &file.stream, 0, hold_done) == 0);
}

static void socket_to_held_file_backpressure(void)
{
    begin();
    uint64_t size = 8u << 20;
    listen_once(receive_to_held_file_now);
    client_t c = {.port = port, .send_size = size};
    CHECK(sem_init(&sock_reader.go, 0, 0) == 0);
    pthread_t th, rth;
    CHECK(pthread_create(&th, NULL, client_main, &c) == 0);
    CHECK(pthread_create(&rth, NULL, fifo_reader_main, &sock_reader) == 0);
    closed = 0;
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    pthread_join(th, NULL);
    pthread_join(rth, NULL);
    CHECK_EQ(pipe_status, 0);
    CHECK_EQ(closed, 6); /* listener, connection, file, and the three hooks */
    CHECK_EQ(sock_reader.bytes, size);
    char ref[128];
    CHECK(sock_reader.hash == make_file("ref", size, ref, sizeof ref));
    hold_report("socket -> held file", size);
    sem_destroy(&sock_reader.go);
    end();
}

/* ---- transforms run in the class asked for --------------------------------------------------- */

typedef struct {
    pthread_t loop_thread;
    eddy_work_class want;
    atomic_int calls, off_loop, in_class;
} class_probe_t;

/* Copies input to output, and notes where it ran: not on the loop's thread, and inside a pool
 * thread counted as running the expected class (nothing else in this case uses that class). */
static int probe_fn(void *state, eddy_transform_io_t *io)
{
    class_probe_t *p = state;
    atomic_fetch_add(&p->calls, 1);
    if (!pthread_equal(pthread_self(), p->loop_thread)) atomic_fetch_add(&p->off_loop, 1);
    eddy_pool_stats_t st;
    if (eddy_pool_stats(&st) == 0 && st.running[p->want] >= 1) atomic_fetch_add(&p->in_class, 1);
    size_t n = io->in_len < io->out_len ? io->in_len : io->out_len;
    memcpy(io->out, io->in, n);
    io->in_used = io->out_used = n;
    return io->end && n == io->in_len ? EDDY_TRANSFORM_DONE : 0;
}

static void probe_class(eddy_work_class opt, eddy_work_class want)
{
    static class_probe_t p;
    memset(&p, 0, sizeof p);
    p.loop_thread = pthread_self();
    p.want = want;
    eddy_transform_opts_t o = {.work_class = opt, .input_max = 1000};
    CHECK(eddy_transform_init(&loop, &xform, probe_fn, &p, NULL, &o) == 0);
    static char data[5000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)pattern(i);
    eddy_write_t w;
    eddy_shutdown_t sh;
    eddy_buf_t b = eddy_buf_init(data, sizeof data);
    CHECK(eddy_stream_write(&w, &xform.stream, &b, 1, NULL) >= 0);
    CHECK(eddy_stream_shutdown(&sh, &xform.stream, NULL) == 0);
    collect_reset();
    closed = 0;
    CHECK(eddy_stream_read_start(&xform.stream, NULL, collect_read) == 0);
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    CHECK_EQ(closed, 1);
    CHECK_EQ(got.eof, 1);
    CHECK_EQ(got.bytes, sizeof data);
    CHECK(got.hash == fnv(FNV_INIT, data, sizeof data));
    int calls = atomic_load(&p.calls);
    CHECK(calls >= 5); /* 5000 bytes, 1000 per call */
    CHECK_EQ(atomic_load(&p.off_loop), calls);
    CHECK_EQ(atomic_load(&p.in_class), calls);
}

/* work_class 0 is the default (CPU), as every zero option; EDDY_WORK_FS, which is also 0, is
 * asked for with EDDY_TRANSFORM_WORK_FS; other classes as themselves; others refused. */
static void transform_work_class(void)
{
    begin();
    probe_class(0, EDDY_WORK_CPU);
    probe_class(EDDY_TRANSFORM_WORK_FS, EDDY_WORK_FS);
    probe_class(EDDY_WORK_USER, EDDY_WORK_USER);
    probe_class(EDDY_WORK_CPU, EDDY_WORK_CPU);
    eddy_transform_opts_t bad = {.work_class = (eddy_work_class)EDDY_WORK_CLASSES};
    CHECK_EQ(eddy_transform_init(&loop, &xform, probe_fn, NULL, NULL, &bad), -EINVAL);
    end();
}

/* ---- the writer's start, and streams on a descriptor ---------------------------------------- */

static void write_all(eddy_file_stream_t *out, const char *data, size_t len)
{
    eddy_write_t w;
    eddy_shutdown_t sh;
    eddy_buf_t b = eddy_buf_init((void *)data, len);
    write_count = 0;
    CHECK(eddy_stream_write(&w, &out->stream, &b, 1, record_write) >= 0);
    CHECK(eddy_stream_shutdown(&sh, &out->stream, record_shutdown) == 0);
    closed = 0;
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    CHECK_EQ(closed, 1);
    CHECK_EQ(write_count, 2);
    CHECK_EQ(write_statuses[0], 0);
    CHECK_EQ(write_statuses[1], 0);
}

/* `start` places a writer's bytes at that offset (pwrite), by path and by descriptor; the rest
 * of the file is left alone, and a given descriptor's own offset does not move. */
static void write_start_positional(void)
{
    begin();
    char path[128];
    uint64_t size = 200000;
    make_file("p", size, path, sizeof path);
    static char mine[70000]; /* more than one 64 KiB chunk */
    for (size_t i = 0; i < sizeof mine; i++)
        mine[i] = (char)~pattern(i);
    eddy_file_stream_opts_t o;
    eddy_file_stream_opts_init(&o);
    o.flags = O_WRONLY; /* no O_TRUNC: write into the middle */
    o.start = 5000;
    eddy_file_stream_t out;
    CHECK(eddy_file_write_stream_open(&loop, &out, path, &o) == 0);
    write_all(&out, mine, sizeof mine);
    CHECK_EQ(eddy_file_stream_bytes(&out), sizeof mine);
    /* The same bytes again, through a descriptor, at 150000 (past the first range). */
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    o.start = 150000;
    o.auto_close = 0;
    CHECK(eddy_file_write_stream_open_fd(&loop, &out, fd, &o) == 0);
    write_all(&out, mine, 10000);
    CHECK_EQ(lseek(fd, 0, SEEK_CUR), 0);
    CHECK(fcntl(fd, F_GETFD) >= 0); /* auto_close 0: still ours */
    close(fd);
    /* Expected: the pattern, with mine at 5000 and its first 10000 bytes at 150000. */
    static char want[200000];
    for (size_t i = 0; i < size; i++)
        want[i] = (char)pattern(i);
    memcpy(want + 5000, mine, sizeof mine);
    memcpy(want + 150000, mine, 10000);
    uint64_t got_size;
    CHECK(hash_file(path, &got_size) == fnv(FNV_INIT, want, size));
    CHECK_EQ(got_size, size);
    end();
}

/* A reader on a descriptor: pread over the range without moving the descriptor's offset (and
 * auto_close 0 leaves it open), the whole file from -1, auto_close 1 closes it, and a pipe(2),
 * which cannot seek, is read with read(2). */
static void read_stream_open_fd(void)
{
    begin();
    char path[128];
    uint64_t size = 300000;
    uint64_t h = make_file("fd", size, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    eddy_file_stream_opts_t o;
    eddy_file_stream_opts_init(&o);
    o.start = 1000;
    o.end = 70999;
    o.auto_close = 0;
    eddy_file_stream_t fs;
    collect_reset();
    CHECK(eddy_file_read_stream_open_fd(&loop, &fs, fd, &o) == 0);
    CHECK(eddy_stream_read_start(&fs.stream, NULL, collect_read) == 0);
    closed = 0;
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    CHECK_EQ(closed, 1);
    CHECK_EQ(got.eof, 1);
    CHECK_EQ(got.bytes, 70000);
    CHECK(got.hash == range_hash(1000, 70999));
    CHECK_EQ(lseek(fd, 0, SEEK_CUR), 0);
    CHECK(fcntl(fd, F_GETFD) >= 0);

    eddy_file_stream_opts_init(&o); /* start -1: from 0; auto_close 1 */
    collect_reset();
    CHECK(eddy_file_read_stream_open_fd(&loop, &fs, fd, &o) == 0);
    CHECK(eddy_stream_read_start(&fs.stream, NULL, collect_read) == 0);
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    CHECK_EQ(got.eof, 1);
    CHECK_EQ(got.bytes, size);
    CHECK(got.hash == h);
    CHECK(fcntl(fd, F_GETFD) == -1 && errno == EBADF);

    int fds[2];
    CHECK(pipe2(fds, O_CLOEXEC) == 0);
    static char data[50000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)pattern(i);
    CHECK(write(fds[1], data, sizeof data) == (ssize_t)sizeof data); /* fits the pipe */
    close(fds[1]);
    collect_reset();
    CHECK(eddy_file_read_stream_open_fd(&loop, &fs, fds[0], NULL) == 0);
    CHECK(eddy_stream_read_start(&fs.stream, NULL, collect_read) == 0);
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    CHECK_EQ(got.err, 0);
    CHECK_EQ(got.eof, 1);
    CHECK_EQ(got.bytes, sizeof data);
    CHECK(got.hash == fnv(FNV_INIT, data, sizeof data));
    end();
}

/* ---- fairness: one fast download does not hold the loop ------------------------------------ */

/* A word-at-a-time FNV variant, so a reader on loopback keeps up with sendfile (a byte-wise
 * hash would make the reader the bottleneck and the socket would rarely stay writable). Words
 * are taken in stream order whatever the read sizes: a split word waits in `carry`. */
typedef struct {
    uint64_t h, bytes;
    unsigned char carry[8];
    size_t ncarry;
} whash_t;

static void whash_init(whash_t *w)
{
    memset(w, 0, sizeof *w);
    w->h = FNV_INIT;
}

static void whash_word(whash_t *w, const unsigned char *p)
{
    uint64_t x;
    memcpy(&x, p, 8);
    w->h = (w->h ^ x) * 1099511628211ull;
}

static void whash(whash_t *w, const void *data, size_t n)
{
    const unsigned char *p = data;
    w->bytes += n;
    while (n > 0 && w->ncarry > 0) {
        w->carry[w->ncarry++] = *p++;
        n--;
        if (w->ncarry == 8) {
            whash_word(w, w->carry);
            w->ncarry = 0;
        }
    }
    for (; n >= 8; p += 8, n -= 8)
        whash_word(w, p);
    if (n > 0) {
        memcpy(w->carry, p, n);
        w->ncarry = n;
    }
}

static uint64_t whash_end(whash_t *w)
{
    return fnv(w->h, w->carry, w->ncarry);
}

typedef struct {
    int port;
    whash_t hash;
} fast_client_t;

/* Reads as fast as it can until EOF, hashing as it goes. */
static void *fast_client_main(void *arg)
{
    fast_client_t *c = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    size_t cap = 1u << 20;
    char *buf = malloc(cap);
    CHECK(buf != NULL);
    whash_init(&c->hash);
    ssize_t n;
    while ((n = read(fd, buf, cap)) > 0)
        whash(&c->hash, buf, (size_t)n);
    CHECK(n == 0);
    free(buf);
    close(fd);
    return NULL;
}

/* What the loop moved between consecutive phase hooks: the prepare hook runs just before the
 * poll phase and the check hook just after it, so each step covers either one poll phase or
 * one run of timers + pending. The library promises at most one write budget per stream in
 * either (a flush that spends it continues from the next pending phase), so with one stream
 * sending, no step may exceed EDDY__WRITE_BUDGET, however fast the reader and whatever the
 * machine's load: a byte bound, where a time bound would measure the scheduler. */
static eddy_prepare_t fair_prepare;
static eddy_check_t fair_check;
static eddy_timer_t fair_ticker;
static uint64_t fair_total, fair_last, fair_max_step, fair_steps, fair_full_steps;
static int fair_on;
static uint64_t tick_last_ns, tick_max_gap_ns, ticks;

static void fair_sample(void)
{
    if (!fair_on) return;
    uint64_t sent = fair_total - eddy_stream_write_queue_size(&conn.stream);
    uint64_t step = sent - fair_last;
    fair_last = sent;
    if (step > fair_max_step) fair_max_step = step;
    if (step > 0) fair_steps++;
    if (step == EDDY__WRITE_BUDGET) fair_full_steps++;
}

static void fair_hook(eddy_prepare_t *h)
{
    fair_sample();
}

/* The timer only reports: its longest gap is printed, not asserted (see fair_sample). */
static void fair_tick(eddy_timer_t *t)
{
    uint64_t now = eddy_hrtime();
    if (tick_last_ns && now - tick_last_ns > tick_max_gap_ns) tick_max_gap_ns = now - tick_last_ns;
    tick_last_ns = now;
    ticks++;
}

static void fair_begin(uint64_t total)
{
    CHECK(eddy_prepare_init(&loop, &fair_prepare) == 0);
    CHECK(eddy_check_init(&loop, &fair_check) == 0);
    CHECK(eddy_prepare_start(&fair_prepare, fair_hook) == 0);
    CHECK(eddy_check_start(&fair_check, fair_hook) == 0);
    CHECK(eddy_timer_init(&loop, &fair_ticker) == 0);
    CHECK(eddy_timer_start(&fair_ticker, fair_tick, 1, 1) == 0);
    fair_total = total;
    fair_last = 0;
    fair_on = 1;
}

/* The transfer is over: the last step is counted, then everything closes (EOF for the reader). */
static void fair_end(void)
{
    fair_sample();
    fair_on = 0;
    CHECK_EQ(fair_last, fair_total);
    eddy_close(&fair_prepare.handle, on_closed);
    eddy_close(&fair_check.handle, on_closed);
    eddy_close(&fair_ticker.handle, on_closed);
    eddy_close(&conn.stream.handle, on_closed);
}

static void fair_report(const char *what)
{
    printf("%s: %llu MiB in %llu steps (%llu of a whole budget), largest step %llu KiB (budget "
           "%u KiB); %llu ticks of a 1 ms timer, longest gap %.1f ms\n",
           what, (unsigned long long)(fair_total >> 20), (unsigned long long)fair_steps,
           (unsigned long long)fair_full_steps, (unsigned long long)(fair_max_step >> 10),
           EDDY__WRITE_BUDGET >> 10, (unsigned long long)ticks, tick_max_gap_ns / 1e6);
    CHECK(fair_max_step <= EDDY__WRITE_BUDGET);
    CHECK(fair_steps >= fair_total / EDDY__WRITE_BUDGET);
}

static eddy_sendfile_t fair_sf;
static int fair_fd = -1, fair_status = 1;

static void fair_sendfile_done(eddy_sendfile_t *req, int status)
{
    fair_status = status;
    fair_end();
}

static void sendfile_now(void)
{
    fair_fd = open(file_path, O_RDONLY | O_CLOEXEC);
    CHECK(fair_fd >= 0);
    fair_begin(fair_total);
    int r = eddy_stream_sendfile(&fair_sf, &conn.stream, fair_fd, 0, fair_total,
                                 fair_sendfile_done);
    CHECK(r >= 0);
}

/* Writes `size` bytes of the pattern to a new file; returns their word hash. */
static uint64_t make_whash_file(const char *name, uint64_t size, char *path, size_t cap)
{
    path_of(path, cap, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    size_t block = 1u << 20;
    char *buf = malloc(block);
    CHECK(buf != NULL);
    whash_t w;
    whash_init(&w);
    for (uint64_t off = 0; off < size;) {
        size_t n = size - off < block ? (size_t)(size - off) : block;
        for (size_t i = 0; i < n; i++)
            buf[i] = (char)pattern(off + i);
        CHECK(write(fd, buf, n) == (ssize_t)n);
        whash(&w, buf, n);
        off += n;
    }
    free(buf);
    close(fd);
    return whash_end(&w);
}

/* A large file to a reader as fast as loopback allows: sendfile is cut into budget-sized turns
 * (one sendfile used to move hundreds of MiB and hold the loop for 50-100 ms), the loop runs
 * its other phases between them, and the file still arrives whole and in order. */
static void sendfile_yields_to_loop(void)
{
    begin();
    fair_total = (128u << 20) >> TEST_SIZE_SHIFT;
    uint64_t h = make_whash_file("big", fair_total, file_path, sizeof file_path);
    listen_once(sendfile_now);
    fast_client_t c = {.port = port};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, fast_client_main, &c) == 0);
    closed = 0;
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    pthread_join(th, NULL);
    close(fair_fd);
    CHECK_EQ(fair_status, 0);
    CHECK_EQ(closed, 5); /* listener, prepare, check, ticker, connection */
    CHECK_EQ(c.hash.bytes, fair_total);
    CHECK(whash_end(&c.hash) == h);
    fair_report("sendfile");
    end();
}

/* The same for a big write queue: one write of many buffers (what a proxy or a cache hands
 * over) goes out in budget-sized turns too, from the fast path's first send on. */
static eddy_write_t fair_write;
static char *fair_data;
static int fair_write_status = 1;

static void fair_write_done(eddy_write_t *req, int status)
{
    fair_write_status = status;
    fair_end();
}

static void write_big_now(void)
{
    enum { NBUFS = 128 };
    eddy_buf_t bufs[NBUFS];
    size_t each = fair_total / NBUFS;
    for (int i = 0; i < NBUFS; i++)
        bufs[i] = eddy_buf_init(fair_data + (size_t)i * each, each);
    fair_begin(fair_total);
    int r = eddy_stream_write(&fair_write, &conn.stream, bufs, NBUFS, fair_write_done);
    CHECK_EQ(r, EDDY_STREAM_FULL); /* far above the mark: the caller is told to wait */
}

static void write_queue_yields_to_loop(void)
{
    begin();
    fair_total = (64u << 20) >> TEST_SIZE_SHIFT;
    fair_data = malloc(fair_total);
    CHECK(fair_data != NULL);
    for (uint64_t i = 0; i < fair_total; i++)
        fair_data[i] = (char)pattern(i);
    whash_t w;
    whash_init(&w);
    whash(&w, fair_data, fair_total);
    listen_once(write_big_now);
    fast_client_t c = {.port = port};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, fast_client_main, &c) == 0);
    closed = 0;
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    pthread_join(th, NULL);
    CHECK_EQ(fair_write_status, 0);
    CHECK_EQ(closed, 5);
    CHECK_EQ(c.hash.bytes, fair_total);
    CHECK(whash_end(&c.hash) == whash_end(&w));
    fair_report("writev queue");
    free(fair_data);
    end();
}

const test_case_t test_cases[] = {
    {"read_whole_file", read_whole_file},
    {"read_ranges", read_ranges},
    {"read_missing_enoent", read_missing_enoent},
    {"read_with_alloc_cb", read_with_alloc_cb},
    {"file_to_file_copy", file_to_file_copy},
    {"pipe_missing_enoent", pipe_missing_enoent},
    {"write_open_error", write_open_error},
    {"write_backpressure", write_backpressure},
    {"close_with_read_in_flight", close_with_read_in_flight},
    {"file_to_socket", file_to_socket},
    {"socket_to_file", socket_to_file},
    {"file_transform_socket", file_transform_socket},
    {"file_to_slow_socket_rss", file_to_slow_socket_rss},
    {"file_to_held_file_backpressure", file_to_held_file_backpressure},
    {"socket_to_held_file_backpressure", socket_to_held_file_backpressure},
    {"transform_work_class", transform_work_class},
    {"write_start_positional", write_start_positional},
    {"read_stream_open_fd", read_stream_open_fd},
    {"sendfile_yields_to_loop", sendfile_yields_to_loop},
    {"write_queue_yields_to_loop", write_queue_yields_to_loop},
    {NULL, NULL},
};
