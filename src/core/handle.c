/* The handle base: lifecycle (init, ref, close in two phases) and walking. */
#include "core/internal.h"

void eddy__handle_init(eddy_loop_t *loop, eddy_handle_t *h, eddy_handle_type type,
                       const struct eddy__handle_ops *ops)
{
    h->loop = loop;
    h->type = type;
    h->_flags = EDDY__H_REF;
    h->_close_cb = NULL;
    h->_ops = ops;
    h->_next_closing = NULL;
    eddy__queue_insert_tail(&loop->_handles, &h->_node);
}

EDDY_EXPORT void eddy_close(eddy_handle_t *h, eddy_close_cb close_cb)
{
    assert(!(h->_flags & EDDY__H_CLOSING) && "eddy_close called twice on one handle");
    h->_flags |= EDDY__H_CLOSING;
    h->_close_cb = close_cb;
    if (h->_ops && h->_ops->close)
        h->_ops->close(h);
    eddy__handle_stop(h);
    /* loop->_closing is the tail of a circular list: appending keeps close order in O(1). */
    eddy_handle_t *tail = h->loop->_closing;
    h->_next_closing = tail ? tail->_next_closing : h;
    if (tail)
        tail->_next_closing = h;
    h->loop->_closing = h;
}

EDDY_EXPORT int eddy_is_closing(const eddy_handle_t *h)
{
    return (h->_flags & EDDY__H_CLOSING) != 0;
}

EDDY_EXPORT int eddy_is_active(const eddy_handle_t *h)
{
    return (h->_flags & EDDY__H_ACTIVE) != 0;
}

EDDY_EXPORT void eddy_ref(eddy_handle_t *h)
{
    if (h->_flags & EDDY__H_REF)
        return;
    h->_flags |= EDDY__H_REF;
    if (h->_flags & EDDY__H_ACTIVE)
        h->loop->_active_handles++;
}

EDDY_EXPORT void eddy_unref(eddy_handle_t *h)
{
    if (!(h->_flags & EDDY__H_REF))
        return;
    h->_flags &= ~EDDY__H_REF;
    if (h->_flags & EDDY__H_ACTIVE)
        h->loop->_active_handles--;
}

EDDY_EXPORT int eddy_has_ref(const eddy_handle_t *h)
{
    return (h->_flags & EDDY__H_REF) != 0;
}

EDDY_EXPORT void eddy_walk(eddy_loop_t *loop, eddy_walk_cb cb, void *arg)
{
    /* Walk a private copy of the list so callbacks may init or close handles as they go. */
    eddy_queue_t q;
    eddy__queue_move(&loop->_handles, &q);
    while (!eddy__queue_empty(&q)) {
        eddy_handle_t *h = eddy_container_of(q.next, eddy_handle_t, _node);
        eddy__queue_remove(&h->_node);
        eddy__queue_insert_tail(&loop->_handles, &h->_node);
        cb(h, arg);
    }
}

EDDY_EXPORT const char *eddy_handle_type_name(eddy_handle_type type)
{
    switch (type) {
    case EDDY_HANDLE_TIMER: return "timer";
    case EDDY_HANDLE_IMMEDIATE: return "immediate";
    case EDDY_HANDLE_IDLE: return "idle";
    case EDDY_HANDLE_PREPARE: return "prepare";
    case EDDY_HANDLE_CHECK: return "check";
    case EDDY_HANDLE_ASYNC: return "async";
    case EDDY_HANDLE_SIGNAL: return "signal";
    case EDDY_HANDLE_TCP: return "tcp";
    case EDDY_HANDLE_UNIX: return "unix";
    case EDDY_HANDLE_FS_WATCH: return "fs_watch";
    case EDDY_HANDLE_WORKER: return "worker";
    case EDDY_HANDLE_STREAM: return "stream";
    default: return "unknown";
    }
}
