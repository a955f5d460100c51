/* Static files over HTTP (Node's serve-static / send, nginx's `root`).
 *
 *     eddy_http_static_t files;
 *     eddy_http_static_init(&files, "/srv/www", NULL);
 *     ...in a request callback (or a router's "/static/" + "*" route):
 *     eddy_http_static_serve(&files, req, res);
 *
 * GET and HEAD (others: 405 with Allow). The file is opened and stat'ed on the thread pool.
 * Plain files go out with sendfile(2) straight from the page cache to the socket; compressible
 * types (text/..., JSON, JavaScript, SVG, XML) go through gzip on the pool when the client's
 * Accept-Encoding allows it (file -> gzip -> response, chunked, Vary: Accept-Encoding).
 *
 * Headers: Content-Type by extension, Last-Modified, a weak ETag W/"size-mtime", Accept-Ranges.
 * If-None-Match (weak comparison) and If-Modified-Since answer 304. One byte range
 * (bytes=a-b, a-, -n) answers 206 with Content-Range (never gzipped); an unsatisfiable one 416
 * with Content-Range: bytes (star)/size; several ranges are not supported and get the whole file
 * (200), as RFC 9110 allows. If-Range is honoured with a date (the weak ETag never matches it).
 *
 * Safety: the path is percent-decoded once and split into segments. A `..` segment (plain or
 * encoded), an encoded separator (%2F, %5C), a backslash, or a NUL byte (raw or %00) answers
 * 403; a malformed escape 400. Files are opened beneath the root with openat2(RESOLVE_BENEATH)
 * (or, where the kernel lacks it, checked with realpath), so a symlink that leads out of the
 * root answers 403 too; nothing outside the root is ever served. Dotfiles (a segment starting
 * with '.') answer 404. Directories serve their index file (index.html; a request without the
 * trailing slash is redirected, 301) or 404. */
#ifndef EDDY_HTTP_STATIC_H
#define EDDY_HTTP_STATIC_H

#include "http.h"

/** Options; eddy_http_static_opts_init fills the defaults. */
typedef struct {
    const char *index;      /**< a directory's file ("index.html"); NULL: directories are 404 */
    int gzip;               /**< gzip compressible types when accepted (1) */
    int gzip_level;         /**< 1..9 (0: zlib's default, 6) */
    uint64_t gzip_size_min; /**< smaller files go out as they are (256 bytes) */
    uint32_t max_age_s;     /**< Cache-Control: public, max-age=N (0: no Cache-Control) */
} eddy_http_static_opts_t;

/** A static file server for one root directory. */
typedef struct {
    /* private */
    eddy_http_static_opts_t _opts;
    char *_root;  /* the root's real path */
    char *_index; /* a copy of opts.index */
    int _root_fd; /* O_PATH descriptor of the root */
} eddy_http_static_t;

/** Fills opts with the defaults. */
void eddy_http_static_opts_init(eddy_http_static_opts_t *opts);
/** Opens root (which must be a directory); -ENOENT, -ENOTDIR, ... */
int eddy_http_static_init(eddy_http_static_t *st, const char *root,
                          const eddy_http_static_opts_t *opts);
/** Releases the root; call it once no request is being served (after the server closed). */
void eddy_http_static_free(eddy_http_static_t *st);
/** Answers req with the file its path names under the root (always ends res, maybe later). */
void eddy_http_static_serve(eddy_http_static_t *st, eddy_http_req_t *req, eddy_http_res_t *res);
/** Like eddy_http_static_serve with an explicit path (percent-encoded, relative to the root; a
 * router's "*" part, for example). */
void eddy_http_static_serve_path(eddy_http_static_t *st, eddy_http_req_t *req,
                                 eddy_http_res_t *res, const char *path, size_t path_len);

#endif
