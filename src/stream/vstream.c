/* The common half of streams that are not sockets: files, transforms, the HTTP response
 * adapter. Each type supplies a small vtable (stream_internal.h); this file gives all of them
 * the socket's contract: writes queued in order on s->_reqs with their callbacks run in order
 * from the pending phase, the high-water mark and EDDY_STREAM_FULL, drain, shutdown after the
 * queued writes, the read callback with lent data, and the two-phase close that cancels what
 * is still queued. The type does the I/O (usually on the pool) and reports through
 * eddy__stream_consume / eddy__stream_mark_done / eddy__stream_fail_writes and
 * eddy__vstream_deliver. */
#include "stream/stream_internal.h"

#include <stdlib.h>
#include <string.h>

static inline void set(eddy_stream_t *s, unsigned f)
{
    s->handle._flags |= f;
}

static inline void clear(eddy_stream_t *s, unsigned f)
{
    s->handle._flags &= ~f;
}

void eddy__vstream_init(eddy_loop_t *loop, eddy_stream_t *s, const struct eddy__handle_ops *ops,
                        unsigned flags)
{
    assert(ops->stream != NULL && ops->close == eddy__vstream_close);
    eddy__handle_init(loop, &s->handle, EDDY_HANDLE_STREAM, ops);
    eddy__io_init(&s->_io, -1, NULL);
    eddy__queue_init(&s->_pending._node);
    s->_pending._cb = NULL;
    eddy__queue_init(&s->_reqs);
    s->_read_cb = NULL;
    s->_alloc_cb = NULL;
    s->_write_queue_size = 0;
    s->_drain_cb = NULL;
    s->_hwm = EDDY_STREAM_HWM_DEFAULT;
    set(s, flags & (EDDY__S_CAN_READ | EDDY__S_CAN_WRITE));
}

/* ---- reading ------------------------------------------------------------------------------- */

int eddy__vstream_read_start(eddy_stream_t *s, eddy_alloc_cb alloc_cb, eddy_read_cb read_cb)
{
    if (eddy__stream_has(s, EDDY__H_CLOSING) || !eddy__stream_has(s, EDDY__S_CAN_READ))
        return -ENOTCONN;
    s->_read_cb = read_cb;
    if (!eddy__stream_has(s, EDDY__S_PIPE_SRC)) s->_alloc_cb = alloc_cb;
    if (eddy__stream_has(s, EDDY__S_READING)) return 0;
    set(s, EDDY__S_READING);
    eddy__stream_update_active(s);
    eddy__stream_vtbl(s)->read_start(s);
    return 0;
}

/* Copies a lent chunk into the reader's own buffers, as many as it takes. */
static void deliver_copies(eddy_stream_t *s, const char *data, size_t len)
{
    while (len > 0 && eddy__stream_has(s, EDDY__S_READING)) {
        eddy_buf_t b = eddy_buf_init(NULL, 0);
        s->_alloc_cb(s, len, &b);
        if (b.base == NULL || b.len == 0) {
            clear(s, EDDY__S_READING);
            eddy__stream_update_active(s);
            s->_read_cb(s, -ENOBUFS, &b); /* the rest of this chunk is lost, as the docs say */
            return;
        }
        size_t n = b.len < len ? b.len : len;
        memcpy(b.base, data, n);
        b.len = n;
        data += n;
        len -= n;
        s->_read_cb(s, (ssize_t)n, &b);
    }
}

void eddy__vstream_deliver(eddy_stream_t *s, ssize_t nread, const eddy_buf_t *buf)
{
    if (eddy__stream_has(s, EDDY__H_CLOSING)) return;
    bool user_bufs = s->_alloc_cb != NULL && !eddy__stream_has(s, EDDY__S_PIPE_SRC);
    if (nread < 0) {
        clear(s, EDDY__S_READING | EDDY__S_CAN_READ);
        eddy__stream_update_active(s);
        eddy_buf_t b = eddy_buf_init(NULL, 0);
        if (user_bufs) s->_alloc_cb(s, 1, &b);
        s->_read_cb(s, nread, &b);
        return;
    }
    if (nread == 0) return;
    if (user_bufs) {
        deliver_copies(s, buf->base, (size_t)nread);
        return;
    }
    eddy_buf_t b = eddy_buf_init(buf->base, (size_t)nread);
    s->_read_cb(s, nread, &b);
}

/* ---- writing ------------------------------------------------------------------------------- */

int eddy__vstream_write(eddy_write_t *w, eddy_stream_t *s, const eddy_buf_t bufs[],
                        unsigned nbufs, eddy_write_cb cb)
{
    if (!eddy__stream_has(s, EDDY__S_CAN_WRITE) || eddy__stream_has(s, EDDY__H_CLOSING))
        return eddy__stream_not_writable(s);
    w->handle = s;
    w->_cb = cb;
    w->_req._type = EDDY__REQ_WRITE;
    w->_req._state = 0;
    w->_req._status = 0;
    int err = eddy__stream_copy_bufs(w, bufs, nbufs, 0);
    if (err) return err;
    size_t total = 0;
    for (unsigned i = 0; i < w->_nbufs; i++)
        total += w->_bufs[i].len;
    eddy__stream_enqueue(s, &w->_req);
    s->_write_queue_size += total;
    eddy__stream_vtbl(s)->kick(s);
    if (eddy__stream_has(s, EDDY__S_WBLOCKED) ||
        (s->_write_queue_size >= s->_hwm && s->_write_queue_size > 0)) {
        set(s, EDDY__S_NEED_DRAIN);
        return EDDY_STREAM_FULL;
    }
    return 0;
}

int eddy__vstream_shutdown(eddy_shutdown_t *req, eddy_stream_t *s, eddy_shutdown_cb cb)
{
    if (!eddy__stream_has(s, EDDY__S_CAN_WRITE) || eddy__stream_has(s, EDDY__H_CLOSING))
        return -ENOTCONN;
    req->handle = s;
    req->_cb = cb;
    req->_req._type = EDDY__REQ_SHUTDOWN;
    req->_req._state = 0;
    req->_req._status = 0;
    clear(s, EDDY__S_CAN_WRITE);
    set(s, EDDY__S_WRITE_END);
    eddy__stream_enqueue(s, &req->_req);
    eddy__stream_vtbl(s)->kick(s);
    return 0;
}

/* ---- closing ------------------------------------------------------------------------------- */

void eddy__vstream_close(eddy_handle_t *h)
{
    eddy_stream_t *s = eddy_container_of(h, eddy_stream_t, handle);
    if (eddy__stream_has(s, EDDY__S_PENDING)) {
        eddy__pending_remove(&s->_pending);
        clear(s, EDDY__S_PENDING);
    }
    if (eddy__stream_has(s, EDDY__S_PIPE_SRC | EDDY__S_PIPE_DST)) eddy__pipe_stream_closing(s);
    eddy__stream_vtbl(s)->close(s);
    clear(s, EDDY__S_READING | EDDY__S_CAN_READ | EDDY__S_CAN_WRITE | EDDY__S_NEED_DRAIN |
                 EDDY__S_WBLOCKED);
}

void eddy__vstream_closed(eddy_handle_t *h)
{
    eddy__stream_cancel_all(eddy_container_of(h, eddy_stream_t, handle));
}
