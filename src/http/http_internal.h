/* The HTTP server's internals, shared by server.c (listening, connections, timeouts),
 * conn.c (the read path: parse and dispatch) and response.c (serialising and sending). */
#ifndef EDDY_HTTP_INTERNAL_H
#define EDDY_HTTP_INTERNAL_H

#include "core/internal.h"
#include "eddy/http.h"

/* Exchange flags: one request and its response. */
enum {
    X_DISPATCHED = 1u << 0, /* the user has it (request callback called) */
    X_HEAD_SENT = 1u << 1,  /* status line and headers serialised */
    X_ENDED = 1u << 2,      /* eddy_http_res_end called (or a server-made response) */
    X_CHUNKED = 1u << 3,    /* body sent with the chunked coding */
    X_NO_BODY = 1u << 4,    /* HEAD request, or 1xx/204/304: no body bytes go out */
    X_CLOSE = 1u << 5,      /* the connection closes after this response */
    X_BODY_DONE = 1u << 6,  /* the request body was read to its end */
    X_OWNED_HEAD = 1u << 7, /* req's strings point into x->head_copy */
    X_INTERNAL = 1u << 8,   /* a response the server made itself (an error status) */
    X_EMBEDDED = 1u << 9,   /* the exchange lives inside its connection */
    X_UNTIL_EOF = 1u << 10, /* body delimited by closing (HTTP/1.0 without a length) */
    X_HEAD_OUT = 1u << 11,  /* the head was serialised (X_HEAD_SENT: it may no longer change) */
    X_ORPHAN = 1u << 12,    /* its connection is gone; output is dropped until end */
    X_CONTINUE = 1u << 13,  /* 100 Continue went out, or is held to lead this response */
    X_CLOSE_UNLESS_CONTINUE = 1u << 14 /* X_CLOSE only because the client still waits for a
                                          100 before sending the body: cleared by the 100 or
                                          by the body's end, if the head is not out by then */
};

/* Length of the cached "Date: Mon, 23 Nov 2026 09:00:00 GMT\r\n" line (IMF-fixdate). */
#define EDDY__HTTP_DATE_LEN 37

/* Response headers the serialiser acts on, one bit each in xchg_t.hmask. */
enum { HM_DATE = 1u << 0, HM_CONNECTION = 1u << 1, HM_CONTENT_LENGTH = 1u << 2,
       HM_TRANSFER_ENCODING = 1u << 3 };

/* Connection flags. The R_* bits are reasons not to read; reading runs when none is set. */
enum {
    R_BACKPRESSURE = 1u << 0, /* output above the high-water mark */
    R_PIPELINE = 1u << 1,     /* pipeline_max requests wait for their responses */
    R_USER = 1u << 2,         /* eddy_http_req_pause */
    R_DONE = 1u << 3,         /* no more requests on this connection */
    C_PROCESSING = 1u << 8,   /* inside the read path: flush once at its end */
    C_CLOSED = 1u << 9,       /* eddy_close called on the socket */
    C_IN_HEAD = 1u << 10,     /* a request head is being parsed */
    C_LINGER = 1u << 12,      /* shut down, draining input before close */
    C_UNIX = 1u << 13,        /* the socket is an eddy_unix_t */
    C_DETACHED = 1u << 14,    /* the user took the socket (upgrade) */
    C_READING = 1u << 15,     /* eddy_stream_read_start is in effect */
    C_TOO_MANY_HEADERS = 1u << 16, /* headers_max exceeded: answer 431 */
    C_BODY_TOO_LARGE = 1u << 17,   /* body_size_max exceeded: answer 413 */
    C_UPGRADING = 1u << 18,   /* an upgrade request goes to the upgrade callback */
    C_ENDING = 1u << 19,      /* the last response is out or going: shutdown, then linger */
    C_EMBEDDED_BUSY = 1u << 20 /* c->embedded is in use */
};

/* The period of the server's one timeout sweep: a timeout fires at its deadline or up to one
 * period after it, never before. */
#define EDDY__HTTP_SWEEP_MS 1000

/* Timeout classes: each has a list in server->_conns, in deadline order. */
enum { T_HEAD = 0, T_BODY = 1, T_IDLE = 2, T_LINGER = 3, T_NONE = 4 };

struct eddy__http_conn;

typedef struct eddy__http_exchange {
    eddy_http_req_t req;
    eddy_http_res_t res;
    struct eddy__http_conn *conn;       /* NULL once the connection is gone */
    struct eddy__http_exchange *next;   /* in the connection's queue, in request order */
    eddy_http_body_cb body_cb;
    eddy_http_end_cb end_cb;
    eddy_http_drain_cb drain_cb;
    eddy_http_abort_cb abort_cb;
    char *head_copy;                    /* the head and header table, once the request outlived
                                           the input buffer */
    char *held;                         /* output waiting for earlier responses to finish */
    uint32_t held_len, held_cap;
    char *hdrs;                         /* response headers as "Name: value\r\n" lines */
    uint32_t hdrs_len, hdrs_cap;
    uint32_t flags;
    uint32_t hmask;                     /* HM_* bits: which special headers hdrs holds */
    uint64_t body_received;             /* request body bytes so far (for body_size_max) */
    struct eddy__http_res_stream *res_stream; /* eddy_http_res_stream's adapter, if asked for */
    struct eddy__http_sendfile *sendfile; /* a file to send once this response is first */
    char hdrs_inline[128];              /* last: not cleared when the exchange is reused */
    /* opts.request_data_size bytes of user storage follow */
} xchg_t;

typedef struct eddy__http_conn {
    union {
        eddy_tcp_t tcp;
        eddy_unix_t unx;
        eddy_stream_t stream; /* both begin with their stream */
    } s;
    eddy_http_parser_t parser;
    eddy_http_server_t *server;
    eddy_queue_t node;       /* in server->_conns[tclass] */
    uint64_t deadline_ms;
    uint64_t req_start_ms;   /* first byte of the request being read */
    uint32_t flags;
    uint32_t refs;           /* the socket, plus each exchange the user still holds */
    uint32_t served;         /* requests dispatched on this connection */
    uint32_t inflight;       /* exchanges in the queue */
    uint8_t tclass;
    xchg_t *first, *last;    /* exchanges in request order; first is answered first */
    xchg_t *parsing;         /* the exchange whose request body is being read */
    xchg_t *dispatching;     /* the exchange whose handler runs; cleared by its end */
    const char *head_start;  /* in the data being parsed: where the current head begins */
    const char *url;         /* the request target being parsed */
    uint32_t url_len;
    uint32_t nheaders;       /* fields collected in server->_headers */
    uint8_t hstate;          /* header collection: 0 none, 1 field, 2 field done, 3 value */
    char *in;                /* input kept across reads (a partial head, or input read
                                while reading was stopped) */
    uint32_t in_len, in_cap;
    uint32_t writes;         /* output chunks queued on the stream */
    int error;               /* why the connection closed, for late writes */
    eddy_shutdown_t shutdown;
    struct eddy__http_conn *next_free;
    xchg_t embedded;         /* the first exchange needs no allocation; must be last */
} conn_t;

/* server.c */
void eddy__http_conn_set_timeout(conn_t *c, int tclass, uint64_t deadline_ms);
void eddy__http_conn_close(conn_t *c, int err);
void eddy__http_conn_release(conn_t *c);
void eddy__http_conn_update_reading(conn_t *c);
void eddy__http_conn_end(conn_t *c);
void eddy__http_conn_abort_exchanges(conn_t *c, int err);
void eddy__http_conn_fail(conn_t *c, int status, int err);
xchg_t *eddy__http_xchg_new(conn_t *c);
void eddy__http_xchg_free(xchg_t *x);

/* conn.c */
void eddy__http_conn_start(conn_t *c);
void eddy__http_conn_resume_input(conn_t *c);
int eddy__http_conn_read_start(conn_t *c);
int eddy__http_reject(conn_t *c, int status);

/* response.c */
void eddy__http_xchg_output(xchg_t *x, const char *data, size_t len);
/* Outside the read path, sends what the exchange's API call produced (the read path flushes
 * once at its end instead). */
void eddy__http_xchg_flush_now(xchg_t *x);
/* 0 while the exchange's connection can take output, else the error to report. */
int eddy__http_xchg_status(const xchg_t *x);
void eddy__http_conn_flush(conn_t *c);
void eddy__http_conn_send_raw(conn_t *c, const char *data, size_t len);
void eddy__http_xchg_finished(xchg_t *x);
void eddy__http_date_refresh(eddy_http_server_t *s);
int eddy__http_send_error(conn_t *c, xchg_t *x, int status);
void eddy__http_res_begin(xchg_t *x);

/* A file sent with sendfile(2) as a response's body (static.c): the head, then the file after
 * everything queued before it on the socket. `done` runs once the bytes left (0), failed or were
 * cancelled; it owns fd. */
struct eddy__http_sendfile {
    eddy_sendfile_t req;
    conn_t *conn;
    int fd;
    int64_t offset;
    uint64_t len;
    void (*done)(struct eddy__http_sendfile *sf, int status);
};
/* Sends sf's range as res's body with Content-Length and ends res. Returns 0 (done will run),
 * 1 (no body goes out: HEAD, or len 0; res is ended, done will not run), or the connection's
 * error (res is ended, done will not run). */
int eddy__http_res_sendfile(eddy_http_res_t *res, struct eddy__http_sendfile *sf);
void eddy__http_sendfile_start(conn_t *c, struct eddy__http_sendfile *sf);

/* res_stream.c: the adapter's side of the response's life. */
void eddy__http_res_stream_detach(xchg_t *x);  /* the response ended */
void eddy__http_res_stream_unblock(xchg_t *x); /* output may go on (drain, became first) */
void eddy__http_res_stream_abort(xchg_t *x);   /* the connection died */

/* R_DONE means "no request after this one", not "stop reading": the body of the request
 * being read (Connection: close, HTTP/1.0, a server closing gracefully) must still come in.
 * Input is finished only once that body is complete too. */
static inline bool eddy__http_conn_input_done(const conn_t *c)
{
    return (c->flags & R_DONE) && c->parsing == NULL;
}

static inline xchg_t *eddy__http_xchg(eddy_http_res_t *res)
{
    return eddy_container_of(res, xchg_t, res);
}

static inline xchg_t *eddy__http_xchg_of_req(eddy_http_req_t *req)
{
    return eddy_container_of(req, xchg_t, req);
}

#endif
