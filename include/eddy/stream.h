/* Streams: the one interface TCP and Unix sockets, files (file_stream.h), transforms
 * (transform.h, zlib.h) and HTTP responses (eddy_http_res_stream) share.
 *
 * Reading: eddy_stream_read_start lends each chunk to the read callback for the duration of
 * the call. Without an alloc callback the chunk lives in the loop-shared read buffer, so an
 * idle connection owns no read buffer at all; whoever keeps bytes copies them.
 *
 * Writing: eddy_stream_write tries the socket at once and queues only what the kernel did not
 * take; queued writes leave with one sendmsg(2) gathering many requests. The return value is
 * Node's backpressure signal: 0 while the queue is below the high-water mark (64 KiB by
 * default), EDDY_STREAM_FULL once it is at or above it. A writer that respects the mark stops
 * on EDDY_STREAM_FULL and resumes in the drain callback, so memory stays bounded whatever the
 * peer's speed. Write callbacks never run inside eddy_stream_write; a write the kernel took
 * whole completes in the next pending phase.
 *
 * Closing (eddy_close(&stream->handle, cb)) cancels writes still queued: their callbacks get
 * EDDY_ECANCELED in the close phase, before the close callback. Nothing ever raises SIGPIPE. */
#ifndef EDDY_STREAM_H
#define EDDY_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "loop.h"
#include "timer.h"

typedef struct eddy_stream_s eddy_stream_t;
typedef struct eddy_write_s eddy_write_t;
typedef struct eddy_shutdown_s eddy_shutdown_t;
typedef struct eddy_connect_s eddy_connect_t;
typedef struct eddy_sendfile_s eddy_sendfile_t;
typedef struct eddy_pipe_s eddy_pipe_t;

/** A byte range; laid out like struct iovec so arrays of it go to the kernel as they are. */
typedef struct eddy_buf_s {
    char *base;
    size_t len;
} eddy_buf_t;

/** Builds an eddy_buf_t. */
static inline eddy_buf_t eddy_buf_init(void *base, size_t len)
{
    eddy_buf_t b = {(char *)base, len};
    return b;
}

/** eddy_stream_write's return once the write queue is at or above the high-water mark. */
#define EDDY_STREAM_FULL 1

/** The default high-water mark of a stream's write queue, in bytes. */
#define EDDY_STREAM_HWM_DEFAULT (64 * 1024)

/** Supplies a buffer for the next read (suggested_size is a hint). A NULL base or zero length
 * makes the read callback see -ENOBUFS. */
typedef void (*eddy_alloc_cb)(eddy_stream_t *stream, size_t suggested_size, eddy_buf_t *buf);
/** Data (nread > 0: buf->base holds it and buf->len == nread, lent until the callback
 * returns), EDDY_EOF, or a negative errno (reading stops on EOF and on errors). With an alloc
 * callback, buf->base is always the buffer it supplied (free it here), and nread may be 0:
 * nothing was read and the buffer comes back unused. */
typedef void (*eddy_read_cb)(eddy_stream_t *stream, ssize_t nread, const eddy_buf_t *buf);
/** A write finished: 0, a negative errno (-EPIPE, -ECONNRESET) or EDDY_ECANCELED on close. */
typedef void (*eddy_write_cb)(eddy_write_t *req, int status);
/** The write side was shut down after every earlier write, or it failed. */
typedef void (*eddy_shutdown_cb)(eddy_shutdown_t *req, int status);
/** A connect finished: 0, -ECONNREFUSED, -ETIMEDOUT, EDDY_ECANCELED, ... */
typedef void (*eddy_connect_cb)(eddy_connect_t *req, int status);
/** A listener has a connection to take with eddy_stream_accept (status 0), or accepting failed
 * (status < 0, e.g. -EMFILE after the connection was accepted and dropped; the listener goes
 * on listening). */
typedef void (*eddy_connection_cb)(eddy_stream_t *server, int status);
/** The write queue fell below the high-water mark after a write returned EDDY_STREAM_FULL. */
typedef void (*eddy_drain_cb)(eddy_stream_t *stream);
/** A sendfile finished: 0, a negative errno, or EDDY_ECANCELED on close. */
typedef void (*eddy_sendfile_cb)(eddy_sendfile_t *req, int status);
/** A pipe is over: 0 (the source ended and the destination was ended, or not if asked), or
 * the first error of either side. Every write the pipe made has completed. */
typedef void (*eddy_pipe_cb)(eddy_pipe_t *pipe, int status);

/* private: what every stream request starts with, so one queue holds connects, writes and
 * shutdowns in the order they must complete. */
struct eddy__stream_req {
    eddy_queue_t _node;
    unsigned char _type;
    unsigned char _state;
    int _status;
};

/** A write request; the caller owns it until its callback runs. */
struct eddy_write_s {
    void *data;            /**< the user's pointer */
    eddy_stream_t *handle; /**< the stream written to */
    /* private */
    struct eddy__stream_req _req;
    eddy_write_cb _cb;
    eddy_buf_t *_bufs; /* what is left to write (a copy: _inline or malloc'd) */
    unsigned _nbufs;
    unsigned _index; /* first buffer not yet fully written */
    eddy_buf_t _inline[4];
};

/** A shutdown request (half-close after the queued writes). */
struct eddy_shutdown_s {
    void *data;
    eddy_stream_t *handle;
    /* private */
    struct eddy__stream_req _req;
    eddy_shutdown_cb _cb;
};

/** A connect request; it carries its own timeout timer so idle handles stay small. */
struct eddy_connect_s {
    void *data;
    eddy_stream_t *handle;
    /* private */
    struct eddy__stream_req _req;
    eddy_connect_cb _cb;
    eddy_timer_t _timer; /* initialised only when a timeout was asked for */
};

/** Sends part of a file on a socket after the writes queued before it (sendfile(2)). */
struct eddy_sendfile_s {
    void *data;
    eddy_stream_t *handle;
    /* private */
    struct eddy__stream_req _req;
    eddy_sendfile_cb _cb;
    int _fd;
    int64_t _offset;
    uint64_t _len; /* bytes still to send */
};

/** The stream base every stream type embeds as its first member `stream` (eddy_tcp_t,
 * eddy_unix_t, eddy_file_stream_t, eddy_transform_t, ...). */
struct eddy_stream_s {
    eddy_handle_t handle;
    /* private */
    eddy_io_t _io;
    eddy_pending_t _pending; /* deferred callbacks: completed writes, drain, reads, accepts */
    eddy_queue_t _reqs;      /* connect, writes, shutdown: completed ones first, in order */
    union {
        struct { /* a connection */
            eddy_read_cb _read_cb;
            union {
                eddy_alloc_cb _alloc_cb;
                eddy_pipe_t *_pipe_src; /* while a pipe reads the stream */
            };
            size_t _write_queue_size; /* bytes queued and not yet taken by the kernel */
            union {
                eddy_drain_cb _drain_cb;
                eddy_pipe_t *_pipe_dst; /* while a pipe writes to the stream */
            };
            uint32_t _hwm;
        };
        struct { /* a listener */
            eddy_connection_cb _connection_cb;
            int _accepted_fd;  /* accepted, waiting for eddy_stream_accept */
            int _reserve_fd;   /* released to survive EMFILE at accept */
            uint64_t _dropped; /* connections dropped because descriptors ran out */
        };
    };
};

/** Starts reading; alloc_cb NULL lends the loop-shared 64 KiB buffer. -ENOTCONN after EOF,
 * an error, or before a connection exists. Data that arrived while stopped is delivered. */
int eddy_stream_read_start(eddy_stream_t *stream, eddy_alloc_cb alloc_cb, eddy_read_cb read_cb);
/** Stops reading (no syscall); idempotent. */
int eddy_stream_read_stop(eddy_stream_t *stream);

/** Writes bufs[0..nbufs) in order; their memory must stay valid until cb (the array itself is
 * copied if needed). Returns 0, EDDY_STREAM_FULL (queued, but the queue is at or above the
 * high-water mark: wait for the drain callback), or a negative errno (-EPIPE after shutdown
 * or a failed write, -ENOTCONN, -ENOMEM), in which case cb will not be called. */
int eddy_stream_write(eddy_write_t *req, eddy_stream_t *stream, const eddy_buf_t bufs[],
                      unsigned nbufs, eddy_write_cb cb);
/** Writes what the kernel takes now, queueing nothing: bytes written, -EAGAIN, or an error. */
ssize_t eddy_stream_try_write(eddy_stream_t *stream, const eddy_buf_t bufs[], unsigned nbufs);
/** Shuts down the write side once every queued write is out; the peer reads EOF. */
int eddy_stream_shutdown(eddy_shutdown_t *req, eddy_stream_t *stream, eddy_shutdown_cb cb);

/** Bytes queued and not yet taken by the kernel. */
size_t eddy_stream_write_queue_size(const eddy_stream_t *stream);
/** Sets the high-water mark in bytes (default EDDY_STREAM_HWM_DEFAULT, at most UINT32_MAX). */
void eddy_stream_set_high_water_mark(eddy_stream_t *stream, size_t bytes);
/** The high-water mark in bytes. */
size_t eddy_stream_get_high_water_mark(const eddy_stream_t *stream);
/** Sets the callback for "the queue fell below the mark after a write returned FULL". */
void eddy_stream_set_drain_cb(eddy_stream_t *stream, eddy_drain_cb cb);

/** Non-zero if reading may still deliver data (connected, no EOF or error yet). */
int eddy_stream_is_readable(const eddy_stream_t *stream);
/** Non-zero if writes are accepted (connected or connecting, not shut down, no write error). */
int eddy_stream_is_writable(const eddy_stream_t *stream);

/** Queues len bytes of file fd from offset after the writes queued before it (sockets only:
 * -ENOTSUP otherwise); sent with sendfile(2), waiting for writability as writes do. fd must stay
 * open until cb. Returns 0, EDDY_STREAM_FULL or a negative errno as eddy_stream_write. */
int eddy_stream_sendfile(eddy_sendfile_t *req, eddy_stream_t *stream, int fd, int64_t offset,
                         uint64_t len, eddy_sendfile_cb cb);

/* ---- pipe ------------------------------------------------------------------------------------ */

/** eddy_stream_pipe flags. */
enum {
    EDDY_PIPE_NO_END = 1u << 0 /**< leave the destination open at the source's EOF (Node's
                                    {end: false}) */
};

/** Node's readable.pipe(writable): the caller owns it until the callback. */
struct eddy_pipe_s {
    void *data;           /**< the user's pointer */
    eddy_stream_t *src;   /**< read from */
    eddy_stream_t *dst;   /**< written to */
    uint64_t bytes;       /**< bytes read from src so far */
    /* private */
    eddy_pipe_cb _cb;
    eddy_drain_cb _saved_drain; /* dst's drain callback, given back at the end */
    unsigned _flags;
    unsigned _writes; /* writes in flight */
    int _status;
    eddy_shutdown_t _shutdown;
    eddy_pending_t _pending;
};

/** Pipes src into dst: reads src, writes each chunk to dst, stops reading while dst is at its
 * high-water mark and resumes on its drain; at src's EOF shuts dst down (unless
 * EDDY_PIPE_NO_END). cb runs once, with the first error of either side, after every write the
 * pipe made has completed. While piping, the pipe owns src's read callback and dst's drain
 * callback. Memory: at most one chunk plus dst's high-water mark is buffered. */
int eddy_stream_pipe(eddy_pipe_t *pipe, eddy_stream_t *src, eddy_stream_t *dst, unsigned flags,
                     eddy_pipe_cb cb);
/** Stops a pipe (Node's unpipe) with status (an error, or 0): src stops being read, dst is not
 * ended; cb runs once the writes in flight completed. A no-op on a pipe already over. */
void eddy_pipe_abort(eddy_pipe_t *pipe, int status);

/** Takes the connection announced to connection_cb into client (an initialised stream of the
 * same kind with no socket). Accept inside the callback; a connection left there pauses the
 * listener until it is taken. -EAGAIN if none is waiting. */
int eddy_stream_accept(eddy_stream_t *server, eddy_stream_t *client);
/** Connections a listener accepted and dropped because descriptors ran out (EMFILE). */
uint64_t eddy_stream_dropped_count(const eddy_stream_t *server);

#endif
