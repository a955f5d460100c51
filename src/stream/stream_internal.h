/* The stream layer's internals, shared by src/stream/stream.c and the socket types in
 * src/net/ (tcp.c, unix.c). Nothing here is public API. */
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
    EDDY__S_NODELAY = EDDY__H_TYPE_BITS << 13 /* TCP_NODELAY wanted before the socket exists */
};

/* Request types and states (struct eddy__stream_req). */
enum { EDDY__REQ_CONNECT = 1, EDDY__REQ_WRITE, EDDY__REQ_SHUTDOWN };
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

#endif
