/* Node's readable.pipe(writable) for any two eddy streams.
 *
 * The pipe reads src with the loop-shared buffer (or whatever src lends) and writes each chunk
 * to dst. Sockets get eddy_stream_try_write first, so a chunk the kernel takes whole costs no
 * copy; otherwise the (rest of the) chunk is copied into one allocation that lives until its
 * write callback. When a write returns EDDY_STREAM_FULL the pipe stops reading src and starts
 * again on dst's drain, so what the pipe holds is bounded by dst's high-water mark plus the
 * chunk that crossed it, whatever the speeds of the two ends.
 *
 * The pipe finds itself from the streams through their _pipe_src / _pipe_dst slots (which
 * share memory with _alloc_cb / _drain_cb, marked by EDDY__S_PIPE_SRC / _DST), so sockets grow
 * by nothing. It holds a loop request from start to callback; the callback runs from the
 * pending phase, never inside a call the user made. */
#include "stream/stream_internal.h"

#include <stdlib.h>
#include <string.h>

enum {
    P_READING = 1u << 0,  /* src is hooked (its read callback is ours) */
    P_PAUSED = 1u << 1,   /* stopped because dst was full; resume on drain */
    P_EOF = 1u << 2,      /* src ended */
    P_FAILED = 1u << 3,   /* an error (or an abort): no more reading, no end */
    P_SHUTTING = 1u << 4, /* dst's shutdown is in flight */
    P_DST = 1u << 5,      /* dst's drain callback is ours */
    P_DONE = 1u << 6      /* the callback is scheduled or ran */
};

typedef struct {
    eddy_write_t req;
    eddy_pipe_t *pipe;
    char data[];
} chunk_t;

static void pipe_read(eddy_stream_t *src, ssize_t nread, const eddy_buf_t *buf);

static int hook_src(eddy_pipe_t *p)
{
    int err = eddy_stream_read_start(p->src, NULL, pipe_read);
    if (err) return err;
    /* read_start stored the (NULL) alloc callback in the slot the pipe pointer shares; no
     * read is delivered from inside read_start, so setting it now is in time. */
    p->src->_pipe_src = p;
    p->src->handle._flags |= EDDY__S_PIPE_SRC;
    p->_flags |= P_READING;
    return 0;
}

static void unhook_src(eddy_pipe_t *p)
{
    if (!(p->_flags & P_READING)) return;
    p->_flags &= ~(P_READING | P_PAUSED);
    eddy_stream_t *src = p->src;
    eddy_stream_read_stop(src);
    src->handle._flags &= ~EDDY__S_PIPE_SRC;
    src->_alloc_cb = NULL;
}

static void unhook_dst(eddy_pipe_t *p)
{
    if (!(p->_flags & P_DST)) return;
    p->_flags &= ~P_DST;
    p->dst->handle._flags &= ~EDDY__S_PIPE_DST;
    p->dst->_drain_cb = p->_saved_drain;
}

static void pipe_pending(eddy_loop_t *loop, eddy_pending_t *pending)
{
    eddy_pipe_t *p = eddy_container_of(pending, eddy_pipe_t, _pending);
    eddy__req_unregister(loop);
    if (p->_cb) p->_cb(p, p->_status);
}

/* The pipe is over once reading is over and nothing it started is still in flight. */
static void maybe_finish(eddy_pipe_t *p)
{
    if (p->_flags & P_DONE) return;
    if (!(p->_flags & (P_EOF | P_FAILED)) || p->_writes > 0 || (p->_flags & P_SHUTTING)) return;
    p->_flags |= P_DONE;
    unhook_src(p);
    unhook_dst(p);
    eddy__pending_add(p->src->handle.loop, &p->_pending, pipe_pending);
}

static void fail(eddy_pipe_t *p, int status)
{
    if (p->_status == 0) p->_status = status;
    p->_flags |= P_FAILED;
    unhook_src(p);
}

static void chunk_written(eddy_write_t *req, int status)
{
    chunk_t *ch = eddy_container_of(req, chunk_t, req);
    eddy_pipe_t *p = ch->pipe;
    free(ch);
    p->_writes--;
    if (status < 0) fail(p, status);
    maybe_finish(p);
}

static void shutdown_done(eddy_shutdown_t *req, int status)
{
    eddy_pipe_t *p = eddy_container_of(req, eddy_pipe_t, _shutdown);
    p->_flags &= ~P_SHUTTING;
    if (status < 0 && p->_status == 0) p->_status = status;
    maybe_finish(p);
}

/* Writes one chunk to dst: what a socket takes now costs nothing, the rest is copied. */
static void forward(eddy_pipe_t *p, const char *data, size_t len)
{
    size_t off = 0;
    eddy_buf_t b = eddy_buf_init((void *)data, len);
    ssize_t n = eddy_stream_try_write(p->dst, &b, 1);
    if (n < 0 && n != -EAGAIN) {
        fail(p, (int)n);
        return;
    }
    if (n > 0) off = (size_t)n;
    if (off == len) return;
    chunk_t *ch = malloc(sizeof *ch + (len - off));
    if (ch == NULL) {
        fail(p, -ENOMEM);
        return;
    }
    memcpy(ch->data, data + off, len - off);
    ch->pipe = p;
    b = eddy_buf_init(ch->data, len - off);
    int r = eddy_stream_write(&ch->req, p->dst, &b, 1, chunk_written);
    if (r < 0) {
        free(ch);
        fail(p, r);
        return;
    }
    p->_writes++;
    if (r == EDDY_STREAM_FULL && (p->_flags & P_READING)) {
        eddy_stream_read_stop(p->src);
        p->_flags |= P_PAUSED;
    }
}

static void pipe_read(eddy_stream_t *src, ssize_t nread, const eddy_buf_t *buf)
{
    eddy_pipe_t *p = src->_pipe_src;
    if (nread > 0) {
        p->bytes += (uint64_t)nread;
        forward(p, buf->base, (size_t)nread);
        maybe_finish(p);
        return;
    }
    if (nread == 0) return;
    /* Reading stopped by itself (EOF or an error). */
    unhook_src(p);
    if (nread != EDDY_EOF) {
        fail(p, (int)nread);
    } else {
        p->_flags |= P_EOF;
        if (!(p->_flags & (EDDY_PIPE_NO_END << 8))) {
            int err = eddy_stream_shutdown(&p->_shutdown, p->dst, shutdown_done);
            if (err == 0)
                p->_flags |= P_SHUTTING;
            else
                fail(p, err);
        }
    }
    maybe_finish(p);
}

void eddy__pipe_drain(eddy_pipe_t *p)
{
    if (p->_saved_drain) p->_saved_drain(p->dst); /* the user's drain callback still runs */
    if (!(p->_flags & P_PAUSED) || (p->_flags & (P_FAILED | P_DONE))) return;
    p->_flags &= ~P_PAUSED;
    if (eddy_stream_read_start(p->src, NULL, pipe_read) == 0) {
        p->src->_pipe_src = p;
    } else {
        unhook_src(p);
        fail(p, -EPIPE);
        maybe_finish(p);
    }
}

void eddy__pipe_stream_closing(eddy_stream_t *s)
{
    if (eddy__stream_has(s, EDDY__S_PIPE_SRC)) {
        eddy_pipe_t *p = s->_pipe_src;
        fail(p, -ECANCELED);
        maybe_finish(p);
    }
    if (eddy__stream_has(s, EDDY__S_PIPE_DST)) {
        eddy_pipe_t *p = s->_pipe_dst;
        fail(p, -ECANCELED);
        unhook_dst(p);
        maybe_finish(p); /* writes in flight end with -ECANCELED in the close phase */
    }
}

EDDY_EXPORT int eddy_stream_pipe(eddy_pipe_t *p, eddy_stream_t *src, eddy_stream_t *dst,
                                 unsigned flags, eddy_pipe_cb cb)
{
    assert(p != NULL && src != NULL && dst != NULL && src != dst);
    assert(src->handle.loop == dst->handle.loop);
    if (eddy__stream_has(src, EDDY__S_PIPE_SRC) || eddy__stream_has(dst, EDDY__S_PIPE_DST))
        return -EBUSY;
    if (!eddy_stream_is_writable(dst)) return -EPIPE;
    p->src = src;
    p->dst = dst;
    p->bytes = 0;
    p->_cb = cb;
    p->_flags = (flags & EDDY_PIPE_NO_END) << 8;
    p->_writes = 0;
    p->_status = 0;
    p->_shutdown.data = p;
    p->_shutdown.handle = NULL; /* set by eddy_stream_shutdown: the shutdown was issued */
    eddy__queue_init(&p->_pending._node);
    p->_saved_drain = eddy__stream_has(dst, EDDY__S_PIPE_DST) ? NULL : dst->_drain_cb;
    int err = hook_src(p);
    if (err) return err;
    dst->_pipe_dst = p;
    dst->handle._flags |= EDDY__S_PIPE_DST;
    p->_flags |= P_DST;
    eddy__req_register(src->handle.loop);
    return 0;
}

bool eddy__pipe_ended_dst(const eddy_pipe_t *p)
{
    return (p->_flags & P_EOF) && !(p->_flags & (EDDY_PIPE_NO_END << 8)) &&
           p->_shutdown.handle == p->dst;
}

EDDY_EXPORT void eddy_pipe_abort(eddy_pipe_t *p, int status)
{
    if (p->_flags & (P_DONE | P_FAILED)) return;
    fail(p, status);
    if (status == 0) p->_flags |= P_EOF; /* a clean stop */
    maybe_finish(p);
}
