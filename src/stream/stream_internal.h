/* The stream layer's internals, shared by src/stream/stream.c, the socket types in src/net/
 * (tcp.c, unix.c) and the streams that are not sockets (file.c, transform.c, the HTTP response
 * adapter), which reach their behaviour through a vtable. Nothing here is public API. */
#ifndef EDDY_STREAM_INTERNAL_H
#define EDDY_STREAM_INTERNAL_H

#include <sys/socket.h>

#include "core/internal.h"
#include "eddy/stream.h"

/* Stream state, kept in the handle's type bits (eddy_handle_t._flags from EDDY__H_TYPE_BITS). */
enum {
    EDDY__S_READING = EDDY__H_TYPE_BITS << 0,      /* read_start'ed */
    EDDY__S_READABLE = EDDY__H_TYPE_BITS << 1,     /* data may be waiting (an edge not drained) */
    EDDY__S_CAN_READ = EDDY__H_TYPE_BITS << 2,     /* connected, no EOF or read error yet */
    EDDY__S_CAN_WRITE = EDDY__H_TYPE_BITS << 3,    /* writes accepted */
    EDDY__S_WRITE_END = EDDY__H_TYPE_BITS << 4,    /* shut down or a write failed: -EPIPE */
    EDDY__S_CONNECTING = EDDY__H_TYPE_BITS << 5,   /* a connect is in progress */
    EDDY__S_WRITE_QUEUED = EDDY__H_TYPE_BITS << 6, /* writes or a shutdown wait for the socket */
    EDDY__S_NEED_DRAIN = EDDY__H_TYPE_BITS << 7,   /* a write returned EDDY_STREAM_FULL */
    EDDY__S_LISTENING = EDDY__H_TYPE_BITS << 8,
    EDDY__S_ACCEPT_PAUSED = EDDY__H_TYPE_BITS << 9, /* a connection waits for eddy_stream_accept */
    EDDY__S_PENDING = EDDY__H_TYPE_BITS << 10,      /* _pending is on the loop's pending queue */
    EDDY__S_READ_DEFER = EDDY__H_TYPE_BITS << 11,   /* the pending phase should read */
    EDDY__S_HUP = EDDY__H_TYPE_BITS << 12,          /* the peer hung up: read to EOF, not to a
                                                       short read */
    EDDY__S_NODELAY = EDDY__H_TYPE_BITS << 13, /* TCP_NODELAY wanted before the socket exists */
    EDDY__S_WBLOCKED = EDDY__H_TYPE_BITS << 14, /* what lies behind the stream is full (an
                                                   adapter): no drain until it unblocks */
    EDDY__S_PIPE_SRC = EDDY__H_TYPE_BITS << 15, /* _pipe_src (not _alloc_cb) is set */
    EDDY__S_PIPE_DST = EDDY__H_TYPE_BITS << 16, /* _pipe_dst (not _drain_cb) is set */
    EDDY__S_TYPE1 = EDDY__H_TYPE_BITS << 17,    /* free for a non-socket stream type */
    EDDY__S_TYPE2 = EDDY__H_TYPE_BITS << 18,
    EDDY__S_TYPE3 = EDDY__H_TYPE_BITS << 19,
    EDDY__S_WRITE_DEFER = EDDY__H_TYPE_BITS << 20 /* a socket's flush spent its budget: the
                                                     pending phase goes on with it */
};

/* Fairness of a socket's write path (stream.c). One sendfile(2) or sendmsg(2) asks for at most
 * EDDY__SEND_MAX bytes (nginx's sendfile_max_chunk), and one flush of one stream sends at most
 * EDDY__WRITE_BUDGET bytes before it gives the loop back; the rest goes out from the next
 * pending phase (EDDY__S_WRITE_DEFER). On loopback an uncapped sendfile moved 300-430 MiB in
 * one call and held the loop for 50-100 ms, starving every other connection. */
#define EDDY__SEND_MAX (2u << 20)
#define EDDY__WRITE_BUDGET (2u << 20)

/* Request types and states (struct eddy__stream_req). */
enum { EDDY__REQ_CONNECT = 1, EDDY__REQ_WRITE, EDDY__REQ_SHUTDOWN, EDDY__REQ_SENDFILE };
enum {
    EDDY__REQ_DONE = 1u << 0,     /* the I/O finished; _status holds the result */
    EDDY__REQ_REAPABLE = 1u << 1, /* the callback may run (a connect's timer is closed) */
    EDDY__REQ_TIMER = 1u << 2     /* a connect whose _timer was initialised */
};

/* Initialises the stream part of a TCP or Unix handle (no descriptor yet). */
void eddy__stream_init(eddy_loop_t *loop, eddy_stream_t *s, eddy_handle_type type);
/* Gives the stream its descriptor; flags are EDDY__S_CAN_READ|EDDY__S_CAN_WRITE when the
 * socket is connected, 0 otherwise. */
void eddy__stream_set_fd(eddy_stream_t *s, int fd, unsigned flags);
/* listen(2) and start accepting. */
int eddy__stream_listen(eddy_stream_t *s, int backlog, eddy_connection_cb cb);
/* connect(2) on the stream's existing socket; errors all reach cb, in the pending phase. */
int eddy__stream_connect(eddy_connect_t *req, eddy_stream_t *s, const struct sockaddr *addr,
                         socklen_t addrlen, uint64_t timeout_ms, eddy_connect_cb cb);

/* Between stream.c (the data path) and net/socket.c (listening, accepting, connecting). */
void eddy__stream_schedule(eddy_stream_t *s);       /* queue the pending entry */
void eddy__stream_update_active(eddy_stream_t *s);  /* active iff reading/listening/reqs */
void eddy__stream_accept_all(eddy_stream_t *s);     /* a listener is readable */
void eddy__stream_connect_done(eddy_stream_t *s);   /* a connecting socket reported */
void eddy__stream_after_connect(eddy_stream_t *s);  /* flush what waited for the connect */
void eddy__stream_cancel_writes(eddy_stream_t *s);  /* the connect failed */
void eddy__stream_close_listener(eddy_stream_t *s); /* inside eddy_close */
void eddy__stream_close_connect(eddy_stream_t *s);  /* inside eddy_close */

static inline int eddy__stream_fd(const eddy_stream_t *s)
{
    return s->_io._fd;
}

/* ---- streams that are not sockets -------------------------------------------------------- */

/* What a non-socket stream type does; reached through eddy__handle_ops.stream. The public
 * eddy_stream_* functions check the handle's ops (one compare: sockets keep their direct
 * path) and come here for every other type. Writes and shutdowns are queued on s->_reqs by
 * the common code, which also does backpressure, drain, ordered callbacks and close. */
struct eddy__stream_vtbl {
    /* READING was just set: deliver what is ready (never from inside this call) or read. */
    void (*read_start)(eddy_stream_t *s);
    /* A write or a shutdown was queued: start on the first unfinished request if idle. */
    void (*kick)(eddy_stream_t *s);
    /* Inside eddy_close: stop, give work in flight its own lifetime, release descriptors. */
    void (*close)(eddy_stream_t *s);
    /* In the pending phase, after finished requests were reaped and drain ran (may be NULL). */
    void (*pending)(eddy_stream_t *s);
};

/* Initialises a non-socket stream; ops->stream is its vtable, ops->close/closed must be
 * eddy__vstream_close/closed. Readable and writable as flags say (EDDY__S_CAN_*). */
void eddy__vstream_init(eddy_loop_t *loop, eddy_stream_t *s, const struct eddy__handle_ops *ops,
                        unsigned flags);
void eddy__vstream_close(eddy_handle_t *h);
void eddy__vstream_closed(eddy_handle_t *h);
int eddy__vstream_read_start(eddy_stream_t *s, eddy_alloc_cb alloc_cb, eddy_read_cb read_cb);
int eddy__vstream_write(eddy_write_t *w, eddy_stream_t *s, const eddy_buf_t bufs[],
                        unsigned nbufs, eddy_write_cb cb);
int eddy__vstream_shutdown(eddy_shutdown_t *req, eddy_stream_t *s, eddy_shutdown_cb cb);
/* Gives the reader data (nread > 0, lent), EDDY_EOF or an error (which end reading). Copies
 * into the user's buffers if an alloc callback was given. */
void eddy__vstream_deliver(eddy_stream_t *s, ssize_t nread, const eddy_buf_t *buf);

/* Shared by both kinds (stream.c). */
void eddy__stream_mark_done(eddy_stream_t *s, struct eddy__stream_req *r, int status);
eddy_queue_t *eddy__stream_first_undone(eddy_stream_t *s);
eddy_queue_t *eddy__stream_consume(eddy_stream_t *s, eddy_queue_t *q, size_t sent);
int eddy__stream_copy_bufs(eddy_write_t *w, const eddy_buf_t *bufs, unsigned nbufs, size_t skip);
void eddy__stream_fail_writes(eddy_stream_t *s, int status);
void eddy__stream_cancel_all(eddy_stream_t *s); /* the close phase: callbacks of every request */
/* A pipe's src or dst is closing (pipe.c). */
void eddy__pipe_stream_closing(eddy_stream_t *s);
void eddy__pipe_drain(eddy_pipe_t *p);
/* True once the pipe shut its destination down (it saw the source's EOF). */
bool eddy__pipe_ended_dst(const eddy_pipe_t *p);

static inline bool eddy__stream_has(const eddy_stream_t *s, unsigned f)
{
    return (s->handle._flags & f) != 0;
}

static inline struct eddy__stream_req *eddy__stream_req_of(eddy_queue_t *q)
{
    return eddy_container_of(q, struct eddy__stream_req, _node);
}

static inline eddy_write_t *eddy__stream_write_of(struct eddy__stream_req *r)
{
    return eddy_container_of(r, eddy_write_t, _req);
}

/* Queues a request behind the stream's earlier ones; it keeps the loop alive until done. */
static inline void eddy__stream_enqueue(eddy_stream_t *s, struct eddy__stream_req *r)
{
    eddy__queue_insert_tail(&s->_reqs, &r->_node);
    eddy__req_register(s->handle.loop);
    eddy__stream_update_active(s);
}

/* Why a stream refuses a write: it was shut down or is closing (-EPIPE), or never connected. */
static inline int eddy__stream_not_writable(const eddy_stream_t *s)
{
    return eddy__stream_has(s, EDDY__S_WRITE_END | EDDY__H_CLOSING) ? -EPIPE : -ENOTCONN;
}

static inline const struct eddy__stream_vtbl *eddy__stream_vtbl(const eddy_stream_t *s)
{
    return s->handle._ops->stream;
}

#endif
