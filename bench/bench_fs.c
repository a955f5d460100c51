/* File system: eddy (thread pool and io_uring) against libuv, and Node for the whole-file read.
 *
 * (a) Read a 256 MiB page-cached file whole, one read at a time:
 *       eddy pool     eddy_fs_read_file on a loop without io_uring
 *       eddy uring    eddy_fs_read_file on a loop with EDDY_LOOP_FS_URING (checked in use)
 *       libuv         uv_fs_open, uv_fs_fstat, uv_fs_read into one buffer until EOF, uv_fs_close
 *       node          fs.readFile in a child process (bench/fs.js), which times itself
 *     Each repetition runs the four in a rotated order; the buffer is freed after each read.
 * (b) libuv's fs_stat benchmark shape: 100,000 asynchronous stats of one existing file with 1, 4
 *     and 32 requests in flight; each callback issues the next request.
 *
 * Both pools have 4 threads (EDDY_THREADPOOL_SIZE=4, UV_THREADPOOL_SIZE=4, set before first
 * use) and are warmed up first. Reported: median wall time per operation and process CPU time
 * (all threads) per operation, with min..max.
 *
 *     bench_fs [--reps=5] [--stat-n=100000] [--mib=256] [--file=/tmp/eddy-bench-fs-256m]
 *              [--node=bench/fs.js] [--no-node] [--only-read] [--only-stat] */
#include <eddy.h>
#include <eddy/fs.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_common.h"

#define MAX_DEPTH 32

static const char *file_path = "/tmp/eddy-bench-fs-256m";
static const char *stat_path; /* the same file */
static uint64_t file_size;

/* ---- the input file --------------------------------------------------------------------- */

static void make_file(uint64_t size)
{
    struct stat st;
    if (stat(file_path, &st) == 0 && (uint64_t)st.st_size == size && st.st_blocks * 512 >= (off_t)size)
        return;
    int fd = open(file_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        perror(file_path);
        exit(1);
    }
    size_t chunk = 1 << 20;
    unsigned char *b = malloc(chunk);
    for (size_t i = 0; i < chunk; i++)
        b[i] = (unsigned char)(i * 131 + 7);
    for (uint64_t done = 0; done < size; done += chunk) {
        if (write(fd, b, chunk) != (ssize_t)chunk) {
            perror("write");
            exit(1);
        }
    }
    free(b);
    close(fd);
    fprintf(stderr, "created %s (%llu MiB)\n", file_path, (unsigned long long)(size >> 20));
}

/* Reads the file once with plain read(2) so that it is in the page cache. */
static void warm_file(void)
{
    int fd = open(file_path, O_RDONLY);
    static char b[1 << 20];
    while (read(fd, b, sizeof b) > 0) {
    }
    close(fd);
}

/* ---- (a) whole-file read -------------------------------------------------------------- */

static size_t e_read_len;
static void e_read_cb(eddy_fs_t *req)
{
    BENCH_CHECK(req->result);
    e_read_len = req->len;
    eddy_fs_req_cleanup(req);
}

static void eddy_read_whole(eddy_loop_t *loop)
{
    eddy_fs_t req;
    e_read_len = 0;
    BENCH_CHECK(eddy_fs_read_file(loop, &req, file_path, 0, e_read_cb));
    BENCH_CHECK(eddy_run(loop, EDDY_RUN_DEFAULT));
    if (e_read_len != file_size) {
        fprintf(stderr, "eddy read %zu bytes, expected %llu\n", e_read_len,
                (unsigned long long)file_size);
        exit(1);
    }
}

typedef struct {
    uv_fs_t req;
    uv_loop_t *loop;
    uv_file fd;
    char *buf;
    size_t size, got, len;
} uv_reader_t;

static void u_close_cb(uv_fs_t *req)
{
    uv_reader_t *r = req->data;
    uv_fs_req_cleanup(req);
    r->len = r->got;
    free(r->buf); /* the reader is done with the contents, as in the other contestants */
    r->buf = NULL;
}

static void u_read_cb(uv_fs_t *req);
static void u_read_next(uv_reader_t *r)
{
    /* Grow if the file turned out longer than fstat said (as Node and eddy do). */
    if (r->got == r->size) {
        r->size = r->size ? r->size * 2 : 65536;
        r->buf = realloc(r->buf, r->size + 1);
    }
    size_t want = r->size - r->got;
    if (want > 0x7ffff000)
        want = 0x7ffff000;
    uv_buf_t b = uv_buf_init(r->buf + r->got, (unsigned)want);
    BENCH_CHECK(uv_fs_read(r->loop, &r->req, r->fd, &b, 1, -1, u_read_cb));
}

static void u_read_cb(uv_fs_t *req)
{
    uv_reader_t *r = req->data;
    ssize_t n = req->result;
    BENCH_CHECK(n);
    uv_fs_req_cleanup(req);
    if (n == 0) {
        r->buf[r->got] = 0;
        BENCH_CHECK(uv_fs_close(r->loop, &r->req, r->fd, u_close_cb));
        return;
    }
    r->got += (size_t)n;
    u_read_next(r);
}

static void u_fstat_cb(uv_fs_t *req)
{
    uv_reader_t *r = req->data;
    BENCH_CHECK(req->result);
    r->size = req->statbuf.st_size;
    uv_fs_req_cleanup(req);
    r->buf = malloc(r->size + 1);
    u_read_next(r);
}

static void u_open_cb(uv_fs_t *req)
{
    uv_reader_t *r = req->data;
    BENCH_CHECK(req->result);
    r->fd = (uv_file)req->result;
    uv_fs_req_cleanup(req);
    BENCH_CHECK(uv_fs_fstat(r->loop, &r->req, r->fd, u_fstat_cb));
}

static void uv_read_whole(uv_loop_t *loop)
{
    uv_reader_t r = {.loop = loop};
    r.req.data = &r;
    BENCH_CHECK(uv_fs_open(loop, &r.req, file_path, O_RDONLY, 0, u_open_cb));
    BENCH_CHECK(uv_run(loop, UV_RUN_DEFAULT));
    if (r.len != file_size) {
        fprintf(stderr, "libuv read %zu bytes, expected %llu\n", r.len,
                (unsigned long long)file_size);
        exit(1);
    }
}

/* Runs node fs.js read FILE: one warm-up readFile, then one timed; it prints
 * "wall_ns cpu_ns bytes". */
static int node_read_whole(const char *script, double *wall_ns, double *cpu_ns)
{
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "node '%s' read '%s'", script, file_path);
    FILE *f = popen(cmd, "r");
    if (f == NULL)
        return -1;
    double w = 0, c = 0, bytes = 0;
    int n = fscanf(f, "%lf %lf %lf", &w, &c, &bytes);
    int st = pclose(f);
    if (n != 3 || st != 0 || (uint64_t)bytes != file_size) {
        fprintf(stderr, "node read failed (%d fields, status %d, %.0f bytes)\n", n, st, bytes);
        return -1;
    }
    *wall_ns = w;
    *cpu_ns = c;
    return 0;
}

/* ---- (b) stats ------------------------------------------------------------------------ */

static long stat_left; /* requests still to issue */
static long stat_done;

static void e_stat_cb(eddy_fs_t *req)
{
    BENCH_CHECK(req->result);
    eddy_loop_t *loop = req->loop;
    eddy_fs_req_cleanup(req);
    stat_done++;
    if (stat_left > 0) {
        stat_left--;
        BENCH_CHECK(eddy_fs_stat(loop, req, stat_path, e_stat_cb));
    }
}

static void eddy_stats(eddy_loop_t *loop, long n, int depth)
{
    static eddy_fs_t reqs[MAX_DEPTH];
    stat_left = n;
    stat_done = 0;
    for (int i = 0; i < depth && stat_left > 0; i++) {
        stat_left--;
        BENCH_CHECK(eddy_fs_stat(loop, &reqs[i], stat_path, e_stat_cb));
    }
    BENCH_CHECK(eddy_run(loop, EDDY_RUN_DEFAULT));
    if (stat_done != n) {
        fprintf(stderr, "eddy: %ld stats done, expected %ld\n", stat_done, n);
        exit(1);
    }
}

static void u_stat_cb(uv_fs_t *req)
{
    BENCH_CHECK(req->result);
    uv_loop_t *loop = req->loop;
    uv_fs_req_cleanup(req);
    stat_done++;
    if (stat_left > 0) {
        stat_left--;
        BENCH_CHECK(uv_fs_stat(loop, req, stat_path, u_stat_cb));
    }
}

static void uv_stats(uv_loop_t *loop, long n, int depth)
{
    static uv_fs_t reqs[MAX_DEPTH];
    stat_left = n;
    stat_done = 0;
    for (int i = 0; i < depth && stat_left > 0; i++) {
        stat_left--;
        BENCH_CHECK(uv_fs_stat(loop, &reqs[i], stat_path, u_stat_cb));
    }
    BENCH_CHECK(uv_run(loop, UV_RUN_DEFAULT));
    if (stat_done != n) {
        fprintf(stderr, "libuv: %ld stats done, expected %ld\n", stat_done, n);
        exit(1);
    }
}

/* ---- reporting -------------------------------------------------------------------------- */

enum { C_POOL, C_URING, C_UV, C_NODE, NC };
static const char *cname[NC] = {"eddy pool", "eddy io_uring", "libuv", "node"};

typedef struct {
    double wall[NC][64];
    double cpu[NC][64];
} samples_t;

static void print_row(const char *what, const char *unit, double scale, samples_t *s, int reps,
                      int nc)
{
    printf("  %-22s %-8s", what, unit);
    for (int c = 0; c < nc; c++) {
        double w = bench_median(s->wall[c], reps) * scale;
        double cp = bench_median(s->cpu[c], reps) * scale;
        printf(" | %-13s %9.2f [%.2f..%.2f] cpu %8.2f", cname[c], w,
               bench_min(s->wall[c], reps) * scale, bench_max(s->wall[c], reps) * scale, cp);
    }
    printf("\n");
}

static void print_ratios(const char *what, samples_t *s, int reps, int nc)
{
    double uv = bench_median(s->wall[C_UV], reps);
    double pool = bench_median(s->wall[C_POOL], reps);
    double ur = bench_median(s->wall[C_URING], reps);
    printf("  %-22s speed vs libuv (uv time / time): pool %.2fx, io_uring %.2fx", what, uv / pool,
           uv / ur);
    if (nc > C_NODE)
        printf(", node %.2fx", uv / bench_median(s->wall[C_NODE], reps));
    printf("; io_uring vs pool %.2fx\n", pool / ur);
}

int main(int argc, char **argv)
{
    int reps = (int)bench_arg_long(argc, argv, "--reps", 5);
    long stat_n = bench_arg_long(argc, argv, "--stat-n", 100000);
    long mib = bench_arg_long(argc, argv, "--mib", 256);
    int no_node = bench_arg_flag(argc, argv, "--no-node");
    int only_read = bench_arg_flag(argc, argv, "--only-read");
    int only_stat = bench_arg_flag(argc, argv, "--only-stat");
    const char *node_script = "bench/fs.js";
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--file=", 7) == 0)
            file_path = argv[i] + 7;
        else if (strncmp(argv[i], "--node=", 7) == 0)
            node_script = argv[i] + 7;
    }
    if (reps < 1)
        reps = 1;
    if (reps > 64)
        reps = 64;
    if (!no_node && access(node_script, R_OK) != 0) {
        /* run from the build directory: look next to the sources */
        static char alt[4096];
        snprintf(alt, sizeof alt, "%s", __FILE__); /* CMake passes the absolute source path */
        char *slash = strrchr(alt, '/');
        snprintf(slash ? slash + 1 : alt, sizeof alt - (size_t)(slash ? slash + 1 - alt : 0),
                 "fs.js");
        node_script = alt;
        if (access(node_script, R_OK) != 0) {
            fprintf(stderr, "no bench/fs.js found (pass --node=PATH or --no-node); skipping node\n");
            no_node = 1;
        }
    }
    file_size = (uint64_t)mib << 20;
    stat_path = file_path;

    setenv("UV_THREADPOOL_SIZE", "4", 1);
    setenv("EDDY_THREADPOOL_SIZE", "4", 1);
    eddy_loop_t e_pool, e_ur;
    uv_loop_t u_loop;
    BENCH_CHECK(eddy_loop_init(&e_pool));
    BENCH_CHECK(eddy_loop_init(&e_ur));
    BENCH_CHECK(eddy_loop_configure(&e_ur, EDDY_LOOP_FS_URING, 1));
    BENCH_CHECK(uv_loop_init(&u_loop));

    make_file(file_size);
    warm_file();

    /* Warm-up: starts both pools and the ring. */
    eddy_stats(&e_pool, 1000, 4);
    eddy_stats(&e_ur, 1000, 4);
    uv_stats(&u_loop, 1000, 4);
    int ur_active = eddy_fs_uring_active(&e_ur);
    uint64_t ur_before = eddy_fs_uring_completed(&e_ur);
    printf("bench_fs: file %s (%ld MiB), %d reps, %ld stats; io_uring active=%d "
           "(completed %llu after warm-up); pool loop uring active=%d\n",
           file_path, mib, reps, stat_n, ur_active, (unsigned long long)ur_before,
           eddy_fs_uring_active(&e_pool));
    if (ur_active != 1)
        printf("  WARNING: io_uring is not in use (%d); the io_uring column measures the pool\n",
               ur_active);

    if (!only_stat) {
        static samples_t s;
        int nc = no_node ? C_NODE : NC;
        eddy_read_whole(&e_pool);
        eddy_read_whole(&e_ur);
        uv_read_whole(&u_loop);
        for (int r = 0; r < reps; r++) {
            for (int k = 0; k < nc; k++) {
                int c = (r + k) % nc;
                if (c == C_NODE) {
                    if (node_read_whole(node_script, &s.wall[c][r], &s.cpu[c][r]) != 0)
                        exit(1);
                    continue;
                }
                uint64_t w0 = bench_wall_ns(), c0 = bench_proc_cpu_ns();
                if (c == C_POOL)
                    eddy_read_whole(&e_pool);
                else if (c == C_URING)
                    eddy_read_whole(&e_ur);
                else
                    uv_read_whole(&u_loop);
                s.wall[c][r] = (double)(bench_wall_ns() - w0);
                s.cpu[c][r] = (double)(bench_proc_cpu_ns() - c0);
            }
        }
        printf("\n(a) read %ld MiB whole (page-cached), median of %d rotated reps; wall ms "
               "[min..max], process CPU ms\n",
               mib, reps);
        print_row("read whole", "ms", 1e-6, &s, reps, nc);
        for (int c = 0; c < nc; c++)
            printf("  %-13s %8.1f ms  %7.0f MB/s  cpu %7.1f ms\n", cname[c],
                   bench_median(s.wall[c], reps) * 1e-6,
                   (double)file_size / (bench_median(s.wall[c], reps) * 1e-9) / 1e6,
                   bench_median(s.cpu[c], reps) * 1e-6);
        print_ratios("read whole", &s, reps, nc);
    }

    if (!only_read) {
        static const int depths[] = {1, 4, 32};
        printf("\n(b) %ld stats of one file, median of %d rotated reps; wall us/op [min..max], "
               "process CPU us/op\n",
               stat_n, reps);
        for (size_t d = 0; d < sizeof depths / sizeof depths[0]; d++) {
            static samples_t s;
            int depth = depths[d];
            for (int r = 0; r < reps; r++) {
                for (int k = 0; k < 3; k++) {
                    int c = (r + k) % 3;
                    uint64_t w0 = bench_wall_ns(), c0 = bench_proc_cpu_ns();
                    if (c == C_POOL)
                        eddy_stats(&e_pool, stat_n, depth);
                    else if (c == C_URING)
                        eddy_stats(&e_ur, stat_n, depth);
                    else
                        uv_stats(&u_loop, stat_n, depth);
                    s.wall[c][r] = (double)(bench_wall_ns() - w0) / (double)stat_n;
                    s.cpu[c][r] = (double)(bench_proc_cpu_ns() - c0) / (double)stat_n;
                }
            }
            char what[64];
            snprintf(what, sizeof what, "stat, %d in flight", depth);
            print_row(what, "us/op", 1e-3, &s, reps, 3);
            print_ratios(what, &s, reps, 3);
        }
    }
    printf("\nio_uring requests completed on the io_uring loop: %llu; active=%d\n",
           (unsigned long long)eddy_fs_uring_completed(&e_ur), eddy_fs_uring_active(&e_ur));

    eddy_loop_close(&e_pool);
    eddy_loop_close(&e_ur);
    uv_loop_close(&u_loop);
    return 0;
}
