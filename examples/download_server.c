/* The seed's streaming download, in C on eddy:
 *
 *     app.get('/download/:filename', function(req, res) {
 *         const readStream = fs.createReadStream('./files/' + req.params.filename);
 *         const gzip = zlib.createGzip();
 *         res.setHeader('Content-Encoding', 'gzip');
 *         readStream.pipe(gzip).pipe(res);
 *     });
 *
 * The file is read in 64 KiB chunks on the pool, compressed on the pool, and sent as fast as
 * each client reads; a pipe stops reading when the next stage is full. The process prints its
 * RSS every second: start several `curl --compressed -o /dev/null` downloads of a 1 GiB file
 * at once and it stays flat.
 *
 *     download_server [--port 3000] [--dir ./files] [--make-demo-file] [--level 6]
 *     curl --compressed -o /dev/null http://127.0.0.1:3000/download/demo.bin
 *
 * --make-demo-file creates DIR/demo.bin, 1 GiB of zeros (sparse: no disk used). /files/... is
 * also served by the static handler (sendfile for plain files, ranges, ETag). SIGINT or
 * SIGTERM closes gracefully. */
#include <eddy.h>
#include <eddy/http.h>
#include <eddy/http_static.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *files_dir = "./files";
static int gzip_level = 6;
static eddy_http_server_t server;
static eddy_http_router_t router;
static eddy_http_static_t statics;
static eddy_signal_t sigint, sigterm;
static eddy_timer_t rss_timer;
static unsigned downloads_now;
static uint64_t downloads_done, bytes_read;

/* One download: file -> gzip -> response. */
typedef struct {
    eddy_http_res_t *res;
    eddy_file_stream_t file;
    eddy_zlib_t gzip;
    eddy_pipe_t in, out;
    int pipes, handles, status;
} download_t;

static void download_closed(eddy_handle_t *h)
{
    download_t *d = h->data;
    if (--d->handles == 0) free(d);
}

static void pipe_done(eddy_pipe_t *p, int status)
{
    download_t *d = p->data;
    if (status < 0 && d->status == 0) d->status = status;
    if (p == &d->in) {
        bytes_read += p->bytes;
        if (status < 0) eddy_pipe_abort(&d->out, status); /* the file failed: stop the rest */
    }
    if (--d->pipes > 0) return;
    if (d->status < 0) {
        /* Nothing was sent if the file could not be opened: answer 404. Otherwise the body is
         * cut short, and only closing the connection says so. */
        if (!eddy_http_res_headers_sent(d->res)) {
            eddy_http_res_remove_header(d->res, "Content-Encoding");
            eddy_http_res_set_status(d->res, d->status == -ENOENT ? 404 : 500);
            eddy_http_res_end(d->res, "cannot read that file\n", 22);
        } else {
            eddy_http_res_destroy(d->res, d->status);
        }
    }
    downloads_now--;
    downloads_done++;
    d->handles = 2;
    d->file.stream.handle.data = d->gzip.transform.stream.handle.data = d;
    eddy_close(&d->file.stream.handle, download_closed);
    eddy_close(&eddy_zlib_stream(&d->gzip)->handle, download_closed);
}

static void on_download(eddy_http_req_t *req, eddy_http_res_t *res)
{
    size_t len;
    const char *name = eddy_http_req_param(req, "filename", &len);
    /* One path segment, no dotfiles, no escapes: ./files/ + name stays in ./files. */
    if (len == 0 || len > 255 || name[0] == '.' || memchr(name, '%', len) ||
        memchr(name, '\\', len)) {
        eddy_http_res_set_status(res, 400);
        eddy_http_res_end(res, "bad file name\n", 14);
        return;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%.*s", files_dir, (int)len, name);
    download_t *d = calloc(1, sizeof *d);
    eddy_zlib_opts_t zo = {.level = gzip_level};
    if (d == NULL || eddy_file_read_stream_open(server.loop, &d->file, path, NULL) != 0) {
        free(d);
        eddy_http_res_set_status(res, 503);
        eddy_http_res_end(res, NULL, 0);
        return;
    }
    if (eddy_zlib_init(server.loop, &d->gzip, EDDY_ZLIB_GZIP, &zo) != 0) {
        d->handles = 1;
        d->file.stream.handle.data = d;
        eddy_close(&d->file.stream.handle, download_closed);
        eddy_http_res_set_status(res, 503);
        eddy_http_res_end(res, NULL, 0);
        return;
    }
    d->res = res;
    d->pipes = 2;
    d->in.data = d->out.data = d;
    eddy_http_res_set_header(res, "Content-Type", "application/octet-stream");
    eddy_http_res_set_header(res, "Content-Encoding", "gzip");
    eddy_stream_pipe(&d->in, &d->file.stream, eddy_zlib_stream(&d->gzip), 0, pipe_done);
    eddy_stream_pipe(&d->out, eddy_zlib_stream(&d->gzip), eddy_http_res_stream(res), 0,
                     pipe_done);
    downloads_now++;
}

static void on_files(eddy_http_req_t *req, eddy_http_res_t *res)
{
    size_t len;
    const char *rest = eddy_http_req_param(req, "*", &len);
    if (rest == NULL) { /* the router names the tail differently: take the path after /files */
        rest = req->path + 6;
        len = req->path_len - 6;
    }
    eddy_http_static_serve_path(&statics, req, res, rest, len);
}

static void on_request(eddy_http_req_t *req, eddy_http_res_t *res)
{
    eddy_http_router_dispatch(&router, req, res);
}

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

static void print_rss(eddy_timer_t *t)
{
    printf("RSS %6.1f MiB  downloads now %u  done %llu  read %llu MiB\n", rss_kib() / 1024.0,
           downloads_now, (unsigned long long)downloads_done,
           (unsigned long long)(bytes_read >> 20));
    fflush(stdout);
}

static void on_server_closed(eddy_http_server_t *s)
{
    eddy_http_static_free(&statics);
    eddy_http_router_free(&router);
}

static void on_signal(eddy_signal_t *sig, int signum)
{
    eddy_close(&sigint.handle, NULL);
    eddy_close(&sigterm.handle, NULL);
    eddy_close(&rss_timer.handle, NULL);
    eddy_http_server_close(&server, on_server_closed);
}

static int make_demo_file(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/demo.bin", files_dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ftruncate(fd, 1ll << 30) != 0) {
        perror(path);
        return -1;
    }
    close(fd);
    printf("made %s (1 GiB of zeros, sparse)\n", path);
    return 0;
}

int main(int argc, char **argv)
{
    int port = 3000, demo = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            files_dir = argv[++i];
        else if (strcmp(argv[i], "--level") == 0 && i + 1 < argc)
            gzip_level = atoi(argv[++i]);
        else if (strcmp(argv[i], "--make-demo-file") == 0)
            demo = 1;
        else {
            fprintf(stderr, "usage: %s [--port N] [--dir DIR] [--level 1-9] [--make-demo-file]\n",
                    argv[0]);
            return 2;
        }
    }
    mkdir(files_dir, 0755);
    if (demo && make_demo_file() != 0) return 1;
    if (eddy_http_static_init(&statics, files_dir, NULL) != 0) {
        fprintf(stderr, "cannot open %s\n", files_dir);
        return 1;
    }
    eddy_loop_t *loop = eddy_default_loop();
    eddy_http_router_init(&router);
    eddy_http_router_add(&router, "GET", "/download/:filename", on_download);
    eddy_http_router_add(&router, NULL, "/files/*", on_files);
    eddy_http_server_init(loop, &server, NULL, on_request);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int err = eddy_http_server_listen(&server, (struct sockaddr *)&addr, 0, 511);
    if (err) {
        fprintf(stderr, "listen: %s\n", eddy_strerror(err));
        return 1;
    }
    eddy_signal_init(loop, &sigint);
    eddy_signal_init(loop, &sigterm);
    eddy_signal_start_oneshot(&sigint, on_signal, SIGINT);
    eddy_signal_start_oneshot(&sigterm, on_signal, SIGTERM);
    eddy_timer_init(loop, &rss_timer);
    eddy_timer_start(&rss_timer, print_rss, 1000, 1000);
    eddy_unref(&rss_timer.handle);
    printf("serving %s on http://127.0.0.1:%d/download/<file> (gzip) and /files/<path>\n",
           files_dir, port);
    fflush(stdout);
    eddy_run(loop, EDDY_RUN_DEFAULT);
    printf("%llu downloads\n", (unsigned long long)downloads_done);
    return eddy_loop_close(loop) == 0 ? 0 : 1;
}
