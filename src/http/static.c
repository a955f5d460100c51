/* Static files (see include/eddy/http_static.h).
 *
 * A request: decode and check the path on the loop (cheap, no I/O), open and fstat beneath the
 * root on the pool, then answer on the loop: 304/416/HEAD with no body, a plain file with the
 * response's sendfile hook (eddy__http_res_sendfile: the head, then sendfile(2) after whatever
 * the connection has queued, paced by the socket's writability), or a compressible one through
 * file stream -> gzip -> eddy_http_res_stream. */
#include "http/http_internal.h"
#include "stream/stream_internal.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "eddy/file_stream.h"
#include "eddy/http_static.h"
#include "eddy/zlib.h"

#define PATH_MAX_LEN 4096

typedef struct {
    eddy_http_static_t *st;
    eddy_http_req_t *req;
    eddy_http_res_t *res;
    eddy_work_t work;
    int fd;
    int err;       /* the open's error */
    bool is_dir;   /* the path named a directory (its index was opened) */
    bool no_slash; /* the request path did not end in '/' */
    bool streams_closing;
    bool ended;    /* the response ended (through its stream) */
    struct stat sb;
    /* the gzip path */
    eddy_file_stream_t file;
    eddy_zlib_t gz;
    eddy_pipe_t in, out;
    int refs;    /* the gzip path: open handles + 1 while pipes run */
    int pipes;   /* pipes not yet done */
    int status;  /* the first pipe error */
    struct eddy__http_sendfile sf;
    char rel[];  /* the checked path, relative to the root */
} sreq_t;

EDDY_EXPORT void eddy_http_static_opts_init(eddy_http_static_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->index = "index.html";
    o->gzip = 1;
    o->gzip_size_min = 256;
}

EDDY_EXPORT int eddy_http_static_init(eddy_http_static_t *st, const char *root,
                                      const eddy_http_static_opts_t *opts)
{
    memset(st, 0, sizeof *st);
    if (opts)
        st->_opts = *opts;
    else
        eddy_http_static_opts_init(&st->_opts);
    st->_root = realpath(root, NULL);
    if (st->_root == NULL) return -errno;
    st->_root_fd = open(st->_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (st->_root_fd < 0 || (st->_opts.index && !(st->_index = strdup(st->_opts.index)))) {
        int err = st->_root_fd < 0 ? -errno : -ENOMEM;
        eddy_http_static_free(st);
        return err;
    }
    st->_opts.index = st->_index;
    return 0;
}

EDDY_EXPORT void eddy_http_static_free(eddy_http_static_t *st)
{
    if (st->_root_fd > 0) close(st->_root_fd);
    free(st->_root);
    free(st->_index);
    memset(st, 0, sizeof *st);
    st->_root_fd = -1;
}

/* ---- the path ------------------------------------------------------------------------------ */

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Appends one decoded segment to out (with a '/' before it unless first); its verdict. */
static int add_segment(char *out, size_t *n, const char *seg, size_t len)
{
    if (len == 0 || (len == 1 && seg[0] == '.')) return 0; /* "//" and "/./" */
    if (len == 2 && seg[0] == '.' && seg[1] == '.') return 403;
    if (seg[0] == '.') return 404; /* dotfiles stay private */
    if (*n + len + 2 > PATH_MAX_LEN) return 414;
    if (*n > 0) out[(*n)++] = '/';
    memcpy(out + *n, seg, len);
    *n += len;
    return 0;
}

/* Decodes path into a relative path of checked segments; returns 0 or the status to answer.
 * Decoding happens once and per segment, so an encoded separator can never create one. */
static int check_path(const char *path, size_t len, char *out, bool *trailing_slash)
{
    size_t n = 0;
    char seg[PATH_MAX_LEN];
    size_t sl = 0;
    *trailing_slash = len == 0 || path[len - 1] == '/';
    for (size_t i = 0; i <= len; i++) {
        char c = i < len ? path[i] : '/';
        if (c == '/') {
            int v = add_segment(out, &n, seg, sl);
            if (v) return v;
            sl = 0;
            continue;
        }
        if (c == '%') {
            if (i + 2 >= len) return 400;
            int hi = hexval(path[i + 1]), lo = hexval(path[i + 2]);
            if (hi < 0 || lo < 0) return 400;
            c = (char)(hi * 16 + lo);
            i += 2;
            if (c == '/' || c == '\\' || c == '\0') return 403;
        } else if (c == '\\' || c == '\0') {
            return 403;
        }
        if (sl + 1 >= sizeof seg) return 414;
        seg[sl++] = c;
    }
    if (n == 0) out[n++] = '.';
    out[n] = '\0';
    return 0;
}

/* ---- the pool: open beneath the root ------------------------------------------------------- */

/* Opens rel beneath dirfd; a path that would leave it (.., an absolute or escaping symlink)
 * fails with -EXDEV. Without openat2 (Linux < 5.6), the resolved path is checked instead. */
static int open_beneath(const eddy_http_static_t *st, int dirfd, const char *rel)
{
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
    if (fd >= 0 || errno != ENOSYS) return fd >= 0 ? (int)fd : -errno;
    fd = openat(dirfd, rel, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) return -errno;
    char proc[64], real[PATH_MAX_LEN];
    snprintf(proc, sizeof proc, "/proc/self/fd/%ld", fd);
    ssize_t n = readlink(proc, real, sizeof real - 1);
    size_t rl = strlen(st->_root);
    if (n < 0 || (size_t)n < rl || memcmp(real, st->_root, rl) != 0 ||
        ((size_t)n > rl && real[rl] != '/' && rl > 1)) {
        close((int)fd);
        return -EXDEV;
    }
    return (int)fd;
}

static void open_work(eddy_work_t *w)
{
    sreq_t *r = eddy_container_of(w, sreq_t, work);
    r->fd = open_beneath(r->st, r->st->_root_fd, r->rel);
    if (r->fd >= 0 && fstat(r->fd, &r->sb) != 0) r->err = -errno;
    if (r->fd >= 0 && r->err == 0 && S_ISDIR(r->sb.st_mode)) {
        int dir = r->fd;
        r->is_dir = true;
        r->fd = r->st->_opts.index ? open_beneath(r->st, dir, r->st->_opts.index) : -ENOENT;
        close(dir);
        if (r->fd >= 0 && fstat(r->fd, &r->sb) != 0) r->err = -errno;
    }
    if (r->fd < 0) {
        r->err = r->fd;
        r->fd = -1;
    } else if (r->err == 0 && !S_ISREG(r->sb.st_mode)) {
        r->err = -ENOENT; /* devices, fifos, sockets: not files to serve */
    }
    if (r->err && r->fd >= 0) {
        close(r->fd);
        r->fd = -1;
    }
}

/* ---- answering ------------------------------------------------------------------------------ */

static void sreq_free(sreq_t *r)
{
    if (r->fd >= 0) close(r->fd);
    free(r);
}

static void answer_status(eddy_http_res_t *res, int status)
{
    const char *text = eddy_http_status_text(status);
    char body[64];
    int n = snprintf(body, sizeof body, "%s\n", text);
    eddy_http_res_set_status(res, status);
    eddy_http_res_set_header(res, "Content-Type", "text/plain; charset=utf-8");
    if (status == 405) eddy_http_res_set_header(res, "Allow", "GET, HEAD");
    eddy_http_res_end(res, body, (size_t)n);
}

static const struct {
    const char *ext, *type;
} mime_types[] = {
    {"html", "text/html; charset=utf-8"}, {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"}, {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"}, {"json", "application/json"},
    {"txt", "text/plain; charset=utf-8"}, {"md", "text/markdown; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"}, {"xml", "application/xml"},
    {"svg", "image/svg+xml"}, {"png", "image/png"}, {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"}, {"gif", "image/gif"}, {"webp", "image/webp"},
    {"ico", "image/x-icon"}, {"avif", "image/avif"}, {"wasm", "application/wasm"},
    {"pdf", "application/pdf"}, {"zip", "application/zip"}, {"gz", "application/gzip"},
    {"mp4", "video/mp4"}, {"webm", "video/webm"}, {"mp3", "audio/mpeg"},
    {"woff", "font/woff"}, {"woff2", "font/woff2"}, {"ttf", "font/ttf"},
};

static const char *content_type(const char *rel)
{
    const char *dot = strrchr(rel, '.');
    const char *slash = strrchr(rel, '/');
    if (dot && (!slash || dot > slash))
        for (size_t i = 0; i < sizeof mime_types / sizeof mime_types[0]; i++)
            if (strcasecmp(dot + 1, mime_types[i].ext) == 0) return mime_types[i].type;
    return "application/octet-stream";
}

static bool compressible(const char *type)
{
    return strncmp(type, "text/", 5) == 0 || strncmp(type, "application/json", 16) == 0 ||
           strncmp(type, "application/xml", 15) == 0 || strncmp(type, "image/svg+xml", 13) == 0 ||
           strncmp(type, "application/wasm", 16) == 0;
}

/* A header's value as a NUL-terminated copy (truncated at cap), or NULL. */
static const char *header(const eddy_http_req_t *req, const char *name, char *buf, size_t cap)
{
    size_t len;
    const char *v = eddy_http_req_header(req, name, &len);
    if (v == NULL) return NULL;
    if (len >= cap) len = cap - 1;
    memcpy(buf, v, len);
    buf[len] = '\0';
    return buf;
}

/* Accept-Encoding allows gzip: "gzip" or "*" listed without q=0. */
static bool accepts_gzip(const eddy_http_req_t *req)
{
    char buf[512];
    const char *v = header(req, "Accept-Encoding", buf, sizeof buf);
    bool gzip = false, star = false, gzip_listed = false;
    for (char *save, *tok = v ? strtok_r(buf, ",", &save) : NULL; tok;
         tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t') tok++;
        size_t name = strcspn(tok, " \t;");
        const char *q = strstr(tok + name, "q=");
        bool zero = q && strtod(q + 2, NULL) <= 0.0;
        if (name == 4 && strncasecmp(tok, "gzip", 4) == 0) {
            gzip_listed = true;
            gzip = !zero;
        } else if (name == 1 && tok[0] == '*') {
            star = !zero;
        }
    }
    return gzip || (!gzip_listed && star);
}

static time_t parse_http_date(const char *v)
{
    struct tm tm = {0};
    const char *end = v ? strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm) : NULL;
    return end ? timegm(&tm) : (time_t)-1;
}

/* If-None-Match: any listed tag equal to ours under weak comparison, or "*". */
static bool etag_matches(const char *list, const char *etag)
{
    const char *ours = strncmp(etag, "W/", 2) == 0 ? etag + 2 : etag;
    size_t ol = strlen(ours);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        if (*p == '*') return true;
        if (strncmp(p, "W/", 2) == 0) p += 2;
        size_t len = strcspn(p, ",");
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
        if (len == ol && memcmp(p, ours, ol) == 0) return true;
        p += strcspn(p, ",");
    }
    return false;
}

enum { RANGE_NONE = 0, RANGE_OK = 1, RANGE_BAD = 2 };

/* One "bytes=" range of a file of `size` bytes: RANGE_OK with [*from, *to], RANGE_BAD
 * (unsatisfiable: 416), or RANGE_NONE (absent, malformed or several: the whole file). */
static int parse_range(const char *v, uint64_t size, uint64_t *from, uint64_t *to)
{
    if (v == NULL || strncasecmp(v, "bytes=", 6) != 0 || strchr(v, ',')) return RANGE_NONE;
    const char *p = v + 6;
    while (*p == ' ') p++;
    char *end;
    if (*p == '-') {
        if (p[1] < '0' || p[1] > '9') return RANGE_NONE;
        unsigned long long n = strtoull(p + 1, &end, 10);
        if (*end != '\0') return RANGE_NONE;
        if (n == 0 || size == 0) return RANGE_BAD;
        *from = n >= size ? 0 : size - n;
        *to = size - 1;
        return RANGE_OK;
    }
    if (*p < '0' || *p > '9') return RANGE_NONE;
    unsigned long long a = strtoull(p, &end, 10);
    if (*end != '-') return RANGE_NONE;
    p = end + 1;
    unsigned long long b = UINT64_MAX;
    if (*p != '\0') {
        if (*p < '0' || *p > '9') return RANGE_NONE;
        b = strtoull(p, &end, 10);
        if (*end != '\0' || b < a) return RANGE_NONE;
    }
    if (a >= size) return RANGE_BAD;
    *from = a;
    *to = b >= size ? size - 1 : b;
    return RANGE_OK;
}

static void release(sreq_t *r)
{
    if (--r->refs == 0) sreq_free(r);
}

static void handle_closed(eddy_handle_t *h)
{
    release(h->data);
}

static void close_streams(sreq_t *r)
{
    if (r->streams_closing) return;
    r->streams_closing = true;
    r->file.stream.handle.data = r;
    r->gz.transform.stream.handle.data = r;
    eddy_close(&r->file.stream.handle, handle_closed);
    eddy_close(&r->gz.transform.stream.handle, handle_closed);
}

/* A failure closes both streams at once: queued writes are cancelled, so the other pipe ends
 * too instead of waiting on a transform nobody reads. */
static void pipe_done(eddy_pipe_t *p, int status)
{
    sreq_t *r = p->data;
    if (status < 0 && r->status == 0) r->status = status;
    if (p == &r->out) r->ended = eddy__pipe_ended_dst(p);
    if (status < 0) close_streams(r);
    if (--r->pipes > 0) return;
    /* The head and part of the body may be out: a truncated gzip stream must not look
     * complete, so an unfinished response closes its connection. */
    if (!r->ended) eddy_http_res_destroy(r->res, r->status ? r->status : -EPIPE);
    close_streams(r);
    release(r);
}

static void send_gzip(sreq_t *r)
{
    eddy_http_res_t *res = r->res;
    eddy_loop_t *loop = res->req->server->loop;
    eddy_stream_t *out = eddy_http_res_stream(res);
    if (out == NULL || eddy_file_read_stream_open_fd(loop, &r->file, r->fd, NULL) != 0) {
        answer_status(res, 500);
        sreq_free(r);
        return;
    }
    r->fd = -1; /* the file stream owns it now */
    r->file.stream.handle.data = r;
    eddy_zlib_opts_t zo = {.level = r->st->_opts.gzip_level};
    if (eddy_zlib_init(loop, &r->gz, EDDY_ZLIB_GZIP, &zo) != 0) {
        answer_status(res, 500);
        r->refs = 1;
        eddy_close(&r->file.stream.handle, handle_closed);
        return;
    }
    r->refs = 3;
    r->in.data = r->out.data = r;
    r->pipes = 2;
    if (eddy_stream_pipe(&r->in, &r->file.stream, eddy_zlib_stream(&r->gz), 0, pipe_done) != 0 ||
        eddy_stream_pipe(&r->out, eddy_zlib_stream(&r->gz), out, 0, pipe_done) != 0)
        abort(); /* fresh streams: cannot fail */
}

static void sendfile_done(struct eddy__http_sendfile *sf, int status)
{
    sreq_t *r = eddy_container_of(sf, sreq_t, sf);
    sreq_free(r);
}

static void send_plain(sreq_t *r, uint64_t from, uint64_t len)
{
    r->sf.fd = r->fd;
    r->sf.offset = (int64_t)from;
    r->sf.len = len;
    r->sf.done = sendfile_done;
    if (eddy__http_res_sendfile(r->res, &r->sf) != 0) sreq_free(r); /* no body went out */
}

static void set_validators(sreq_t *r, char *etag, size_t cap)
{
    eddy_http_res_t *res = r->res;
    char date[64];
    struct tm tm;
    gmtime_r(&r->sb.st_mtim.tv_sec, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    uint64_t mtime_ms =
        (uint64_t)r->sb.st_mtim.tv_sec * 1000 + (uint64_t)r->sb.st_mtim.tv_nsec / 1000000;
    snprintf(etag, cap, "W/\"%llx-%llx\"", (unsigned long long)r->sb.st_size,
             (unsigned long long)mtime_ms);
    eddy_http_res_set_header(res, "Last-Modified", date);
    eddy_http_res_set_header(res, "ETag", etag);
    if (r->st->_opts.max_age_s) {
        char cc[48];
        snprintf(cc, sizeof cc, "public, max-age=%u", r->st->_opts.max_age_s);
        eddy_http_res_set_header(res, "Cache-Control", cc);
    }
}

/* RFC 9110 13.2.2: If-None-Match first; If-Modified-Since only without it. */
static bool not_modified(sreq_t *r, const char *etag)
{
    char buf[1024];
    const char *inm = header(r->req, "If-None-Match", buf, sizeof buf);
    if (inm) return etag_matches(inm, etag);
    time_t ims = parse_http_date(header(r->req, "If-Modified-Since", buf, sizeof buf));
    return ims != (time_t)-1 && r->sb.st_mtim.tv_sec <= ims;
}

static void respond(sreq_t *r)
{
    eddy_http_res_t *res = r->res;
    const char *type = content_type(r->is_dir && r->st->_opts.index ? r->st->_opts.index : r->rel);
    uint64_t size = (uint64_t)r->sb.st_size;
    char etag[64], buf[256];
    eddy_http_res_set_header(res, "Content-Type", type);
    eddy_http_res_set_header(res, "Accept-Ranges", "bytes");
    set_validators(r, etag, sizeof etag);
    bool zip = r->st->_opts.gzip && compressible(type);
    if (zip) eddy_http_res_set_header(res, "Vary", "Accept-Encoding");
    if (not_modified(r, etag)) {
        eddy_http_res_set_status(res, 304);
        eddy_http_res_end(res, NULL, 0);
        sreq_free(r);
        return;
    }
    uint64_t from = 0, to = size ? size - 1 : 0;
    int range = parse_range(header(r->req, "Range", buf, sizeof buf), size, &from, &to);
    const char *if_range = header(r->req, "If-Range", buf, sizeof buf);
    if (range != RANGE_NONE && if_range && parse_http_date(if_range) != r->sb.st_mtim.tv_sec)
        range = RANGE_NONE; /* changed since (or an ETag, which, being weak, never matches) */
    if (range == RANGE_BAD) {
        snprintf(buf, sizeof buf, "bytes */%llu", (unsigned long long)size);
        eddy_http_res_set_header(res, "Content-Range", buf);
        answer_status(res, 416);
        sreq_free(r);
        return;
    }
    if (range == RANGE_OK) {
        snprintf(buf, sizeof buf, "bytes %llu-%llu/%llu", (unsigned long long)from,
                 (unsigned long long)to, (unsigned long long)size);
        eddy_http_res_set_header(res, "Content-Range", buf);
        eddy_http_res_set_status(res, 206);
        send_plain(r, from, to - from + 1);
        return;
    }
    if (zip && size >= r->st->_opts.gzip_size_min && accepts_gzip(r->req)) {
        eddy_http_res_set_header(res, "Content-Encoding", "gzip");
        if (r->req->method == EDDY_HTTP_HEAD) {
            eddy_http_res_set_header(res, "Transfer-Encoding", "chunked");
            eddy_http_res_end(res, NULL, 0);
            sreq_free(r);
            return;
        }
        send_gzip(r);
        return;
    }
    send_plain(r, 0, size);
}

static void opened(eddy_work_t *w, int status)
{
    sreq_t *r = eddy_container_of(w, sreq_t, work);
    if (status < 0 && r->err == 0) r->err = status;
    if (r->err) {
        int e = r->err;
        answer_status(r->res, e == -ENOENT || e == -ENOTDIR || e == -ENAMETOOLONG ? 404
                              : e == -EXDEV || e == -EACCES || e == -EPERM || e == -ELOOP ? 403
                                                                                          : 500);
        sreq_free(r);
        return;
    }
    if (r->is_dir && r->no_slash && strcmp(r->rel, ".") != 0) {
        /* Relative links in the index resolve against the directory only with its slash. */
        char *loc = malloc(r->req->path_len + 2);
        if (loc) {
            memcpy(loc, r->req->path, r->req->path_len);
            memcpy(loc + r->req->path_len, "/", 2);
            eddy_http_res_set_header(r->res, "Location", loc);
            free(loc);
        }
        answer_status(r->res, 301);
        sreq_free(r);
        return;
    }
    respond(r);
}

EDDY_EXPORT void eddy_http_static_serve_path(eddy_http_static_t *st, eddy_http_req_t *req,
                                             eddy_http_res_t *res, const char *path,
                                             size_t path_len)
{
    if (req->method != EDDY_HTTP_GET && req->method != EDDY_HTTP_HEAD) {
        answer_status(res, 405);
        return;
    }
    char rel[PATH_MAX_LEN];
    bool slash;
    int verdict = check_path(path, path_len, rel, &slash);
    if (verdict) {
        answer_status(res, verdict);
        return;
    }
    size_t rl = strlen(rel);
    sreq_t *r = calloc(1, sizeof *r + rl + 1);
    if (r == NULL) {
        answer_status(res, 503);
        return;
    }
    memcpy(r->rel, rel, rl + 1);
    r->st = st;
    r->req = req;
    r->res = res;
    r->fd = -1;
    r->no_slash = !slash; /* a directory reached without '/' is redirected */
    if (eddy_queue_work(req->server->loop, &r->work, EDDY_WORK_FS, open_work, opened) != 0) {
        free(r);
        answer_status(res, 503);
    }
}

EDDY_EXPORT void eddy_http_static_serve(eddy_http_static_t *st, eddy_http_req_t *req,
                                        eddy_http_res_t *res)
{
    eddy_http_static_serve_path(st, req, res, req->path, req->path_len);
}
