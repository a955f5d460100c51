/* eddy_http_res_stream: a response as a writable stream, so a pipe can end in it
 * (file -> gzip -> response).
 *
 * The adapter is allocated on first use and belongs to the response. Each write goes straight
 * into eddy_http_res_write (which sends what the socket takes and copies the rest onto the
 * connection's queue), so a write completes at once; the response's EDDY_STREAM_FULL becomes
 * the adapter's (EDDY__S_WBLOCKED holds the drain back) until the connection drains. Shutting
 * the adapter down ends the response. After the response ended, by the adapter or by the user,
 * the adapter refuses writes (-EPIPE) and closes itself once its last callback ran: the user
 * never closes it. */
#include "http/http_internal.h"
#include "stream/stream_internal.h"

#include <stdlib.h>

typedef struct eddy__http_res_stream {
    eddy_stream_t stream;
    xchg_t *x; /* NULL once the response ended */
} rstream_t;

static void rs_read_start(eddy_stream_t *s)
{
    (void)s; /* not readable: read_start never gets here */
}

static void rs_freed(eddy_handle_t *h)
{
    free(eddy_container_of(h, rstream_t, stream.handle));
}

static void rs_close(eddy_stream_t *s)
{
    rstream_t *rs = eddy_container_of(s, rstream_t, stream);
    if (rs->x) rs->x->res_stream = NULL;
    rs->x = NULL;
}

/* Ends the response behind the adapter (a shutdown reached it). */
static int end_response(rstream_t *rs)
{
    xchg_t *x = rs->x;
    rs->x = NULL;
    x->res_stream = NULL;
    return eddy_http_res_end(&x->res, NULL, 0);
}

static void rs_kick(eddy_stream_t *s)
{
    rstream_t *rs = eddy_container_of(s, rstream_t, stream);
    for (;;) {
        eddy_queue_t *q = eddy__stream_first_undone(s);
        if (q == &s->_reqs) return;
        struct eddy__stream_req *r = eddy__stream_req_of(q);
        if (r->_type == EDDY__REQ_SHUTDOWN) {
            eddy__stream_mark_done(s, r, rs->x ? end_response(rs) : -EPIPE);
            continue;
        }
        if (rs->x == NULL) {
            eddy__stream_fail_writes(s, -EPIPE);
            return;
        }
        eddy_write_t *w = eddy__stream_write_of(r);
        int st = 0;
        size_t total = 0;
        for (unsigned i = w->_index; i < w->_nbufs && st >= 0; i++) {
            total += w->_bufs[i].len;
            if (w->_bufs[i].len) st = eddy_http_res_write(&rs->x->res, w->_bufs[i].base,
                                                          w->_bufs[i].len);
        }
        if (st < 0) {
            eddy__stream_fail_writes(s, st);
            return;
        }
        eddy__stream_consume(s, q, total);
        if (st == EDDY_STREAM_FULL) s->handle._flags |= EDDY__S_WBLOCKED;
    }
}

/* After the last callback of an ended response, the adapter goes away by itself. */
static void rs_pending(eddy_stream_t *s)
{
    rstream_t *rs = eddy_container_of(s, rstream_t, stream);
    if (rs->x == NULL && eddy__queue_empty(&s->_reqs) && !eddy_is_closing(&s->handle))
        eddy_close(&s->handle, rs_freed);
}

static const struct eddy__stream_vtbl rs_vtbl = {
    .read_start = rs_read_start, .kick = rs_kick, .close = rs_close, .pending = rs_pending};
static const struct eddy__handle_ops rs_ops = {
    .close = eddy__vstream_close, .closed = eddy__vstream_closed, .stream = &rs_vtbl};

EDDY_EXPORT eddy_stream_t *eddy_http_res_stream(eddy_http_res_t *res)
{
    xchg_t *x = eddy__http_xchg(res);
    if (x->res_stream) return &x->res_stream->stream;
    if (x->flags & X_ENDED) return NULL;
    rstream_t *rs = malloc(sizeof *rs);
    if (rs == NULL) return NULL;
    eddy__vstream_init(x->conn->server->loop, &rs->stream, &rs_ops, EDDY__S_CAN_WRITE);
    rs->x = x;
    x->res_stream = rs;
    return &rs->stream;
}

void eddy__http_res_stream_detach(xchg_t *x)
{
    rstream_t *rs = x->res_stream;
    x->res_stream = NULL;
    rs->x = NULL;
    eddy__stream_fail_writes(&rs->stream, -EPIPE);
    rs->stream.handle._flags &= ~EDDY__S_WBLOCKED;
    eddy__stream_schedule(&rs->stream); /* its pending phase closes it when idle */
}

void eddy__http_res_stream_unblock(xchg_t *x)
{
    eddy_stream_t *s = &x->res_stream->stream;
    if (!(s->handle._flags & EDDY__S_WBLOCKED)) return;
    s->handle._flags &= ~EDDY__S_WBLOCKED;
    eddy__stream_schedule(s); /* drain, from the pending phase */
}

/* The connection died: a writer waiting for drain gets it, and then the error on its next
 * write; the response still needs its end (the pipe's owner ends it). */
void eddy__http_res_stream_abort(xchg_t *x)
{
    eddy__http_res_stream_unblock(x);
}
