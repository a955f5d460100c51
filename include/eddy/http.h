/* The HTTP/1.1 server: Node's http.createServer in C.
 *
 *     static void on_request(eddy_http_req_t *req, eddy_http_res_t *res)
 *     {
 *         eddy_http_res_set_header(res, "Content-Type", "text/plain");
 *         eddy_http_res_end(res, "Hello World\n", 12);
 *     }
 *     ...
 *     eddy_http_server_init(loop, &server, NULL, on_request);
 *     eddy_http_server_listen(&server, (struct sockaddr *)&addr, 0, 511);
 *
 * Ownership. The server allocates connections, requests and responses from its own free lists
 * and frees them; the user sees a request and its response from the request callback until
 * the user calls eddy_http_res_end, which every response needs exactly once, from the request
 * callback or from any later callback on the loop (a timer, a pool completion). After end, both
 * pointers are dead. If the connection dies first, the response's close callback says so and
 * the pair stays valid until end; writes then fail with the connection's error.
 *
 * The request's method, target and headers are valid until end. Body bytes are lent to the
 * body callback for the duration of the call.
 *
 * Protocol errors are answered by the server with their status (400, 408, 413, 414, 431, 501,
 * 505) and Connection: close; other connections are not affected. Defaults follow Node: 16 KiB
 * of headers, headers timeout 60 s, request timeout 300 s, keep-alive timeout 5 s. */
#ifndef EDDY_HTTP_H
#define EDDY_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "http_parser.h"
#include "loop.h"
#include "stream.h"
#include "tcp.h"
#include "timer.h"
#include "unix.h"

typedef struct eddy_http_server_s eddy_http_server_t;
typedef struct eddy_http_req_s eddy_http_req_t;
typedef struct eddy_http_res_s eddy_http_res_t;

/** One header field as received: name and value are not NUL-terminated. */
typedef struct {
    const char *name;
    const char *value;
    uint32_t name_len;
    uint32_t value_len;
} eddy_http_header_t;

/** A request's headers are complete: answer it through res (now or later). */
typedef void (*eddy_http_request_cb)(eddy_http_req_t *req, eddy_http_res_t *res);
/** Body bytes of a request (de-chunked), lent for the duration of the call. */
typedef void (*eddy_http_body_cb)(eddy_http_req_t *req, const char *data, size_t len);
/** The request body ended (status 0) or will never end: -EPROTO (malformed; the server
 * answered 400 and closes), -EMSGSIZE (over body_size_max: 413), -ETIMEDOUT (408), or the
 * connection's error. After a negative status the response is aborted: end it to release it. */
typedef void (*eddy_http_end_cb)(eddy_http_req_t *req, int status);
/** The response can take more data (its connection's queue fell below the mark). */
typedef void (*eddy_http_drain_cb)(eddy_http_res_t *res);
/** The connection closed before eddy_http_res_end; the pair stays valid until end. */
typedef void (*eddy_http_abort_cb)(eddy_http_res_t *res, int status);
/** A request asked to leave HTTP (Upgrade, CONNECT); see eddy_http_server_on_upgrade. */
typedef void (*eddy_http_upgrade_cb)(eddy_http_req_t *req, eddy_http_res_t *res,
                                     const char *head, size_t head_len);
/** Graceful close finished: no listener, no connection left. */
typedef void (*eddy_http_server_close_cb)(eddy_http_server_t *server);

/** Server limits and timeouts; eddy_http_server_opts_init fills Node's defaults. */
typedef struct {
    uint32_t header_size_max;       /**< request head in bytes (16 KiB); over it: 431 */
    uint32_t url_size_max;          /**< request target in bytes (8 KiB); over it: 414 */
    uint32_t headers_max;           /**< header fields per request (2000, Node's
                                         maxHeadersCount); over it: 431 */
    uint64_t body_size_max;         /**< request body in bytes, 0 for no limit; over it: 413 */
    uint32_t headers_timeout_ms;    /**< from the first byte to the end of the head (60 s): 408 */
    uint32_t request_timeout_ms;    /**< from the first byte to the end of the body (300 s): 408 */
    uint32_t keep_alive_timeout_ms; /**< idle time between requests before closing (5 s) */
    uint32_t requests_per_conn_max; /**< requests served on one connection, 0 for no limit */
    uint32_t connections_max;       /**< open connections, 0 for no limit; beyond it new
                                         connections are accepted and closed at once */
    uint32_t pipeline_max;          /**< requests read ahead of their responses (16) */
    uint32_t request_data_size;     /**< bytes of per-request user storage (eddy_http_req_data) */
} eddy_http_server_opts_t;

/** Counters of a server (eddy_http_server_stats). */
typedef struct {
    uint64_t requests;         /**< requests dispatched to the request callback */
    uint64_t connections;      /**< connections accepted since start */
    uint32_t connections_now;  /**< connections open now */
    uint32_t connections_peak; /**< most connections open at once */
    uint64_t rejected;         /**< requests answered with an error status by the server */
    uint64_t timeouts;         /**< connections closed by a headers or request timeout (408) */
    uint64_t dropped;          /**< connections closed at accept (connections_max, EMFILE) */
} eddy_http_server_stats_t;

/** A request, valid from the request callback until eddy_http_res_end. Read-only. */
struct eddy_http_req_s {
    void *data;                 /**< the user's pointer */
    eddy_http_server_t *server; /**< the server that received it */
    eddy_http_method method;    /**< the method (EDDY_HTTP_GET, ...) */
    uint8_t http_major;         /**< version, 1.1 or 1.0 */
    uint8_t http_minor;
    uint8_t has_body;           /**< a body follows (Content-Length > 0 or chunked) */
    uint8_t expect_continue;    /**< the client sent Expect: 100-continue */
    const char *target;         /**< the request target as sent ("/a/b?x=1") */
    size_t target_len;
    const char *path;           /**< the target's path, before '?' */
    size_t path_len;
    const char *query;          /**< after '?', without it; NULL if there is no query */
    size_t query_len;
    uint64_t content_length;    /**< Content-Length, if has_body and not chunked */
    const eddy_http_header_t *headers; /**< the header fields, in the order received */
    uint32_t headers_len;
    /* private */
    uint8_t _params_len;
    struct {
        const char *name;
        const char *value;
        uint16_t name_len;
        uint16_t value_len;
    } _params[8]; /* route parameters, set by eddy_http_router_dispatch */
};

/** A response; write it with the eddy_http_res_* functions until eddy_http_res_end. */
struct eddy_http_res_s {
    void *data;           /**< the user's pointer */
    eddy_http_req_t *req; /**< the request answered */
    int status;           /**< the status code to send (200 unless set) */
};

/** The server; the caller owns this struct (embed it), the server owns everything it creates. */
struct eddy_http_server_s {
    void *data;         /**< the user's pointer */
    eddy_loop_t *loop;  /**< the loop it serves on */
    /* private */
    eddy_http_server_opts_t _opts;
    eddy_http_request_cb _on_request;
    eddy_http_request_cb _on_check_continue;
    eddy_http_upgrade_cb _on_upgrade;
    eddy_http_server_close_cb _close_cb;
    union {
        eddy_tcp_t tcp;
        eddy_unix_t unx;
    } _listener;
    int _listening;       /* 0 none, 1 tcp, 2 unix */
    int _closing;
    eddy_timer_t _sweep;  /* one timer for every connection's timeouts */
    eddy_queue_t _conns[5]; /* every connection, by timeout class, each in deadline order */
    uint32_t _live;       /* connections whose memory is still in use */
    void *_out_conn;      /* the connection whose bytes are in _out */
    void *_free_conns;    /* recycled connections */
    void *_free_exchanges; /* recycled request/response pairs for pipelined requests */
    uint32_t _free_count;
    eddy_http_server_stats_t _stats;
    char *_out;           /* scratch for serialising responses (one connection at a time) */
    size_t _out_len;
    size_t _out_cap;
    uint64_t _date_sec;   /* the second _date was made for */
    char _date[40];       /* "Date: Mon, 23 Nov 2026 09:00:00 GMT\r\n" */
    eddy_http_header_t *_headers; /* scratch for the request being parsed (headers_max) */
};

/** Fills opts with Node's defaults. */
void eddy_http_server_opts_init(eddy_http_server_opts_t *opts);
/** Initialises a server; opts NULL takes the defaults. No socket is opened. */
int eddy_http_server_init(eddy_loop_t *loop, eddy_http_server_t *server,
                          const eddy_http_server_opts_t *opts, eddy_http_request_cb on_request);
/** Listens on a TCP address (flags as eddy_tcp_bind: EDDY_TCP_REUSEPORT, ...). */
int eddy_http_server_listen(eddy_http_server_t *server, const struct sockaddr *addr,
                            unsigned flags, int backlog);
/** Listens on a Unix socket path. */
int eddy_http_server_listen_unix(eddy_http_server_t *server, const char *path, int backlog);
/** The TCP port the server listens on (after listen), or a negative errno. */
int eddy_http_server_port(const eddy_http_server_t *server);
/** Takes Upgrade and CONNECT requests (without it they are ordinary requests, as in Node). */
void eddy_http_server_on_upgrade(eddy_http_server_t *server, eddy_http_upgrade_cb cb);
/** Node's 'checkContinue': cb gets, instead of the request callback, every request whose client
 * waits for 100 Continue before sending the body (HTTP/1.1, Expect: 100-continue, a body), and
 * the server no longer sends the 100 itself. Accept with eddy_http_res_write_continue, then
 * proceed as in a request callback; or refuse with a final answer (417, 401, 413...) without
 * reading the body: unless the body arrived anyway, that answer says Connection: close and the
 * connection closes after it (RFC 9110 10.1.1). NULL restores the default: the server sends the
 * 100 when the request becomes the one being answered (at once if it is the first on its
 * connection), before the request callback sees it. */
void eddy_http_server_on_check_continue(eddy_http_server_t *server, eddy_http_request_cb cb);
/** Graceful close: stop accepting, close idle connections, finish requests in flight, then
 * cb. The server may be freed in cb. */
void eddy_http_server_close(eddy_http_server_t *server, eddy_http_server_close_cb cb);
/** Copies the limits and timeouts the server uses (Node's server.headersTimeout, ...). */
void eddy_http_server_get_opts(const eddy_http_server_t *server, eddy_http_server_opts_t *opts);
/** Copies the server's counters. */
void eddy_http_server_stats(const eddy_http_server_t *server, eddy_http_server_stats_t *stats);

/** The first header named `name` (case-insensitive), or NULL; *len gets its length. */
const char *eddy_http_req_header(const eddy_http_req_t *req, const char *name, size_t *len);
/** Receives the body: body_cb per piece, then end_cb. Without it, a body is read and dropped. */
void eddy_http_req_on_body(eddy_http_req_t *req, eddy_http_body_cb body_cb,
                           eddy_http_end_cb end_cb);
/** Stops reading the body (and anything after it on the connection) until resume. */
void eddy_http_req_pause(eddy_http_req_t *req);
/** Resumes reading after eddy_http_req_pause. */
void eddy_http_req_resume(eddy_http_req_t *req);
/** Per-request user storage of opts.request_data_size bytes, zeroed for each request. */
void *eddy_http_req_data(eddy_http_req_t *req);
/** A route parameter set by the router (":userId" -> "userId"), or NULL. */
const char *eddy_http_req_param(const eddy_http_req_t *req, const char *name, size_t *len);

/** Sets the status code (before the head is sent). */
int eddy_http_res_set_status(eddy_http_res_t *res, int status);
/** Sets a header, replacing any of the same name; -EALREADY once the head was sent. */
int eddy_http_res_set_header(eddy_http_res_t *res, const char *name, const char *value);
/** Adds a header even if one of that name exists (Set-Cookie). */
int eddy_http_res_add_header(eddy_http_res_t *res, const char *name, const char *value);
/** Removes every header of that name; 0 if none was set. */
int eddy_http_res_remove_header(eddy_http_res_t *res, const char *name);
/** The value set for a header (not NUL-terminated; *len gets its length), or NULL. */
const char *eddy_http_res_get_header(const eddy_http_res_t *res, const char *name, size_t *len);
/** Sends 100 Continue (Node's writeContinue), for a request whose client waits for it: at once,
 * or after the responses before this one if it is pipelined. 0, -EINVAL if nobody waits for it
 * (no Expect: 100-continue, no body, or HTTP/1.0, which must never get a 1xx), -EALREADY once
 * sent or once the final head was set (write_head, write, end), or the connection's error. */
int eddy_http_res_write_continue(eddy_http_res_t *res);
/** Sends the status line and headers now (Node's writeHead). */
int eddy_http_res_write_head(eddy_http_res_t *res, int status);
/** Non-zero once the head was sent. */
int eddy_http_res_headers_sent(const eddy_http_res_t *res);
/** Sends body bytes (copied). Without a Content-Length header the body is chunked.
 * Returns 0, EDDY_STREAM_FULL (wait for the drain callback) or a negative errno. */
int eddy_http_res_write(eddy_http_res_t *res, const void *data, size_t len);
/** Finishes the response, with optional last bytes; sets Content-Length when the head was
 * not sent yet. res and req are dead afterwards. Returns 0 or the connection's error. */
int eddy_http_res_end(eddy_http_res_t *res, const void *data, size_t len);
/** Calls cb when a write that returned EDDY_STREAM_FULL has drained. */
void eddy_http_res_on_drain(eddy_http_res_t *res, eddy_http_drain_cb cb);
/** Calls cb if the connection dies before eddy_http_res_end. */
void eddy_http_res_on_abort(eddy_http_res_t *res, eddy_http_abort_cb cb);
/** The response as a writable stream, for eddy_stream_pipe (file -> gzip -> response): writes
 * are sent as eddy_http_res_write sends them (chunked without a Content-Length), with the
 * response's backpressure; shutting it down (the pipe does at the source's EOF) ends the
 * response. The stream belongs to the response: do not close it; it goes away by itself after
 * the response ended. Returns the same stream on every call; NULL after end or on -ENOMEM. */
eddy_stream_t *eddy_http_res_stream(eddy_http_res_t *res);
/** Abandons a response whose body cannot be finished (a pipe into it failed after the head
 * went out): closes the connection, so the client sees a truncated response rather than a
 * complete-looking one, and releases res like end. err is the connection's error (0:
 * -ECONNABORTED). */
void eddy_http_res_destroy(eddy_http_res_t *res, int err);
/** Upgrade callback only: takes the socket out of the server. Returns a new descriptor (open
 * it with eddy_tcp_open or eddy_unix_open) or a negative errno; the server forgets the
 * connection, and res and req are dead after the callback returns. Send the 101 response
 * on the new descriptor yourself. */
int eddy_http_res_detach(eddy_http_res_t *res);
/** The reason phrase of a status code ("Not Found"), or "Unknown". */
const char *eddy_http_status_text(int status);

/* ---- the router ----------------------------------------------------------------------------- */

/** Routes requests by method and path pattern ("/api/dashboard/:userId", "/static/" + "*"). */
typedef struct {
    /* private */
    struct eddy__http_route *_routes;
    size_t _len;
    size_t _cap;
} eddy_http_router_t;

/** Initialises an empty router. */
void eddy_http_router_init(eddy_http_router_t *router);
/** Adds a route; method NULL matches any. Patterns: literal segments, ":name" for one segment,
 * a final "*" for the rest. The strings must outlive the router. */
int eddy_http_router_add(eddy_http_router_t *router, const char *method, const char *pattern,
                         eddy_http_request_cb handler);
/** Finds the route for req and calls its handler; answers 404, or 405 with Allow, itself. */
void eddy_http_router_dispatch(const eddy_http_router_t *router, eddy_http_req_t *req,
                               eddy_http_res_t *res);
/** Frees the router's table. */
void eddy_http_router_free(eddy_http_router_t *router);

#endif
