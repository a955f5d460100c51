/* readFileSync vs readFile in a server: why the waiter must never cook.
 *
 * An HTTP server reads a large file whole on each request and answers with its size:
 *   GET /sync   reads it on the loop (eddy_fs_read_file with a NULL callback: readFileSync);
 *   GET /async  reads it on the thread pool (with a callback: readFile).
 * A 10 ms ticker on the same loop stands in for every other client of the server.
 *
 * With --demo (the default) the program requests /sync and then /async itself, from a client
 * thread, prints each request's time and the ticker's longest gap while it was in flight, and
 * exits. With --serve it keeps serving (try `curl localhost:3000/sync` while watching the
 * ticker's report every second).
 *
 * Usage: read_file [--demo | --serve] [--port N (3000)] [--size-mib N (256)] */
#include <eddy.h>
#include <eddy/http.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One route, and what the ticker saw while a request to it was in flight. */
typedef struct {
    const char *path;
    int async;
    uint64_t start_ns, end_ns; /* the request's time on the server */
    uint64_t gap_ns;           /* the ticker's longest gap overlapping it */
    int done;
} route_t;

static route_t routes[2] = {{.path = "/sync"}, {.path = "/async", .async = 1}};
static char file_path[] = "/tmp/eddy_read_file_XXXXXX";
static eddy_loop_t loop;
static eddy_http_server_t server;
static eddy_timer_t ticker;
static eddy_async_t demo_over;
static uint64_t last_tick_ns, report_gap_ns;
static int serve_mode;

/* Each tick: a gap that overlaps a request's time counts for that request. */
static void on_tick(eddy_timer_t *t)
{
    uint64_t now = eddy_hrtime(), gap = now - last_tick_ns;
    for (int i = 0; i < 2; i++) {
        route_t *r = &routes[i];
        if (r->start_ns == 0 || r->done) continue;
        if (gap > r->gap_ns) r->gap_ns = gap;
        if (r->end_ns != 0) r->done = 1; /* this tick came after the answer */
    }
    if (gap > report_gap_ns) report_gap_ns = gap;
    if (serve_mode && now / 1000000000 != last_tick_ns / 1000000000) {
        printf("ticker: longest gap in the last second %.1f ms\n", report_gap_ns / 1e6);
        fflush(stdout);
        report_gap_ns = 0;
    }
    last_tick_ns = now;
}

/* A request's storage: the async read, and the response it answers. */
typedef struct {
    eddy_fs_t fs;
    eddy_http_res_t *res;
    route_t *route;
} job_t;

/* Freeing 256 MiB takes the kernel tens of ms too: hand that to the pool as well. */
typedef struct {
    eddy_work_t work;
    char *buf;
} release_t;

static void release_work(eddy_work_t *w)
{
    free(((release_t *)w->data)->buf);
}

static void release_done(eddy_work_t *w, int status)
{
    free(w->data);
}

static void answer(job_t *job)
{
    route_t *r = job->route;
    char body[160];
    r->end_ns = eddy_hrtime();
    if (job->fs.result < 0) {
        eddy_fs_strerror(&job->fs, body, sizeof body);
        eddy_http_res_write_head(job->res, 500);
    } else {
        snprintf(body, sizeof body, "%s: read %zu MiB in %.0f ms\n", r->path, job->fs.len >> 20,
                 (r->end_ns - r->start_ns) / 1e6);
        eddy_http_res_write_head(job->res, 200);
    }
    release_t *rel = malloc(sizeof *rel);
    if (rel != NULL) {
        rel->work.data = rel;
        rel->buf = job->fs.buf;
        job->fs.buf = NULL;
        if (eddy_queue_work(&loop, &rel->work, EDDY_WORK_USER, release_work, release_done) != 0) {
            job->fs.buf = rel->buf;
            free(rel);
        }
    }
    eddy_fs_req_cleanup(&job->fs);
    eddy_http_res_end(job->res, body, strlen(body));
}

static void on_read(eddy_fs_t *fs)
{
    answer(eddy_container_of(fs, job_t, fs));
}

static void on_request(eddy_http_req_t *req, eddy_http_res_t *res)
{
    route_t *r = NULL;
    for (int i = 0; i < 2; i++)
        if (req->path_len == strlen(routes[i].path) &&
            memcmp(req->path, routes[i].path, req->path_len) == 0)
            r = &routes[i];
    if (r == NULL) {
        eddy_http_res_write_head(res, 404);
        eddy_http_res_end(res, "try /sync or /async\n", 20);
        return;
    }
    job_t *job = eddy_http_req_data(req);
    job->res = res;
    job->route = r;
    r->start_ns = eddy_hrtime();
    r->end_ns = 0;
    r->gap_ns = 0;
    r->done = 0;
    if (!r->async) {
        eddy_fs_read_file(&loop, &job->fs, file_path, 0, NULL); /* the loop reads: all wait */
        answer(job);
    } else if (eddy_fs_read_file(&loop, &job->fs, file_path, 0, on_read) != 0) {
        answer(job);
    }
}

/* ---- the demo's client: one blocking request at a time, from its own thread ---------------- */

typedef struct {
    int status;
    double ms;
    char body[160];
} result_t;

static result_t results[2];

static void get(int port, const char *path, result_t *out)
{
    uint64_t t0 = eddy_hrtime();
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char buf[4096];
    size_t len = 0;
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
        int n = snprintf(buf, sizeof buf, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                         path);
        if (write(fd, buf, (size_t)n) == n) {
            ssize_t got;
            while (len < sizeof buf - 1 && (got = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
                len += (size_t)got;
        }
    }
    if (fd >= 0) close(fd);
    buf[len] = '\0';
    out->ms = (eddy_hrtime() - t0) / 1e6;
    sscanf(buf, "HTTP/1.1 %d", &out->status);
    const char *body = strstr(buf, "\r\n\r\n");
    snprintf(out->body, sizeof out->body, "%s", body ? body + 4 : "");
}

static void *demo_client(void *arg)
{
    int port = *(int *)arg;
    for (int i = 0; i < 2; i++) {
        get(port, routes[i].path, &results[i]);
        usleep(100 * 1000); /* let the ticker tick after the answer */
    }
    eddy_async_send(&demo_over);
    return NULL;
}

static void on_demo_over(eddy_async_t *a)
{
    eddy_close(&a->handle, NULL);
    eddy_close(&ticker.handle, NULL);
    eddy_http_server_close(&server, NULL);
}

/* --serve ends on SIGINT or SIGTERM, so that the temporary file is removed. */
static eddy_signal_t sigint, sigterm;

static void on_signal(eddy_signal_t *sig, int signum)
{
    eddy_close(&sigint.handle, NULL);
    eddy_close(&sigterm.handle, NULL);
    eddy_close(&ticker.handle, NULL);
    eddy_http_server_close(&server, NULL);
}

/* ---- main ------------------------------------------------------------------------------------ */

static int make_file(size_t mib)
{
    int fd = mkstemp(file_path);
    if (fd < 0) return -1;
    /* Real bytes, not a hole, so the read copies real pages. */
    static char chunk[1 << 20];
    memset(chunk, 'x', sizeof chunk);
    int ok = 1;
    for (size_t i = 0; ok && i < mib; i++)
        ok = write(fd, chunk, sizeof chunk) == (ssize_t)sizeof chunk;
    close(fd);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    int port = 3000;
    size_t mib = 256;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--serve") == 0)
            serve_mode = 1;
        else if (strcmp(argv[i], "--demo") == 0)
            serve_mode = 0;
        else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--size-mib") == 0 && i + 1 < argc)
            mib = strtoul(argv[++i], NULL, 10);
        else
            mib = 0;
    }
    if (mib == 0 || mib > 4096) {
        fprintf(stderr, "usage: read_file [--demo | --serve] [--port N] [--size-mib N]\n");
        return 2;
    }
    if (make_file(mib) != 0) {
        perror("creating the temporary file");
        return 1;
    }
    eddy_loop_init(&loop);
    eddy_http_server_opts_t opts;
    eddy_http_server_opts_init(&opts);
    opts.request_data_size = sizeof(job_t);
    eddy_http_server_init(&loop, &server, &opts, on_request);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(serve_mode ? port : 0),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int err = eddy_http_server_listen(&server, (struct sockaddr *)&addr, 0, 128);
    if (err) {
        fprintf(stderr, "listen: %s\n", eddy_strerror(err));
        unlink(file_path);
        return 1;
    }
    port = eddy_http_server_port(&server);
    eddy_timer_init(&loop, &ticker);
    last_tick_ns = eddy_hrtime();
    eddy_timer_start(&ticker, on_tick, 10, 10);
    pthread_t client;
    if (serve_mode) {
        printf("serving a %zu MiB file on http://127.0.0.1:%d/sync and /async\n", mib, port);
        fflush(stdout);
        eddy_signal_init(&loop, &sigint);
        eddy_signal_init(&loop, &sigterm);
        eddy_signal_start(&sigint, on_signal, SIGINT);
        eddy_signal_start(&sigterm, on_signal, SIGTERM);
    } else {
        eddy_async_init(&loop, &demo_over, on_demo_over);
        pthread_create(&client, NULL, demo_client, &port);
    }
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    if (!serve_mode) pthread_join(client, NULL);
    unlink(file_path);
    int failed = eddy_loop_close(&loop) != 0;
    if (serve_mode) return failed;

    printf("A %zu MiB file read whole per request, while a 10 ms ticker runs on the loop:\n", mib);
    for (int i = 0; i < 2; i++) {
        printf("  GET %-6s %d in %4.0f ms; ticker's longest gap meanwhile %6.1f ms  (%s)\n",
               routes[i].path, results[i].status, results[i].ms, routes[i].gap_ns / 1e6,
               routes[i].async ? "read on the pool" : "read on the loop");
        failed |= results[i].status != 200;
    }
    printf("The synchronous read held the loop for the whole read: every tick, and every other\n"
           "client, waited that long. The asynchronous read took about as long, but in the\n"
           "kitchen: the waiter kept ticking. Never call a NULL-callback fs function from a loop\n"
           "that serves anyone (and stream big files instead of reading them whole).\n");
    return failed;
}
