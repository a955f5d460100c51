/* Internal interfaces shared by the library's layers. Nothing here is public API. */
#ifndef EDDY_INTERNAL_H
#define EDDY_INTERNAL_H

#include <assert.h>
#include <stdbool.h>

#include "backend/backend.h" /* the poller contract (EDDY__IO_*, eddy__backend_*) */
#include "eddy.h"

#define EDDY_EXPORT __attribute__((visibility("default")))

/* ---- intrusive queue ---------------------------------------------------------------------- */

static inline void eddy__queue_init(eddy_queue_t *q)
{
    q->next = q;
    q->prev = q;
}

static inline bool eddy__queue_empty(const eddy_queue_t *q)
{
    return q->next == q;
}

static inline void eddy__queue_insert_tail(eddy_queue_t *head, eddy_queue_t *node)
{
    node->next = head;
    node->prev = head->prev;
    head->prev->next = node;
    head->prev = node;
}

static inline void eddy__queue_remove(eddy_queue_t *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    eddy__queue_init(node); /* removing twice is harmless */
}

/* Moves every node of `from` to the (empty) list `to`, leaving `from` empty. */
static inline void eddy__queue_move(eddy_queue_t *from, eddy_queue_t *to)
{
    if (eddy__queue_empty(from)) {
        eddy__queue_init(to);
        return;
    }
    to->next = from->next;
    to->prev = from->prev;
    to->next->prev = to;
    to->prev->next = to;
    eddy__queue_init(from);
}

/* ---- handles ------------------------------------------------------------------------------ */

enum {
    EDDY__H_ACTIVE = 1u << 0,
    EDDY__H_REF = 1u << 1,
    EDDY__H_CLOSING = 1u << 2,
    EDDY__H_CLOSED = 1u << 3,
    EDDY__H_TYPE_BITS = 1u << 8 /* bits from here on belong to the handle type */
};

/* What a handle type does when closed. `close` runs inside eddy_close (stop everything,
 * release descriptors); `closed` runs in the close phase just before the user's close_cb
 * (cancelled write callbacks, for example). Either may be NULL. */
struct eddy__stream_vtbl;
struct eddy__handle_ops {
    void (*close)(eddy_handle_t *h);
    void (*closed)(eddy_handle_t *h);
    /* Streams that are not sockets (files, transforms, adapters) reach their behaviour here;
     * NULL for every other handle (src/stream/stream_internal.h). */
    const struct eddy__stream_vtbl *stream;
};

void eddy__handle_init(eddy_loop_t *loop, eddy_handle_t *h, eddy_handle_type type,
                       const struct eddy__handle_ops *ops);

static inline void eddy__handle_start(eddy_handle_t *h)
{
    if (h->_flags & EDDY__H_ACTIVE)
        return;
    h->_flags |= EDDY__H_ACTIVE;
    if (h->_flags & EDDY__H_REF)
        h->loop->_active_handles++;
}

static inline void eddy__handle_stop(eddy_handle_t *h)
{
    if (!(h->_flags & EDDY__H_ACTIVE))
        return;
    h->_flags &= ~EDDY__H_ACTIVE;
    if (h->_flags & EDDY__H_REF)
        h->loop->_active_handles--;
}

/* Requests (writes, connects, pool work) keep the loop alive while in flight. */
static inline void eddy__req_register(eddy_loop_t *loop)
{
    loop->_active_reqs++;
}

static inline void eddy__req_unregister(eddy_loop_t *loop)
{
    assert(loop->_active_reqs > 0);
    loop->_active_reqs--;
}

/* ---- phases and services of the loop, for the modules -------------------------------------- */

/* Queues p to run in the next pending phase. */
void eddy__pending_add(eddy_loop_t *loop, eddy_pending_t *p, void (*cb)(eddy_loop_t *, eddy_pending_t *));
/* Takes p off the pending queue if it is there. */
void eddy__pending_remove(eddy_pending_t *p);
/* The loop-shared read buffer (allocated on first use, EDDY__READ_BUF_SIZE bytes). */
#define EDDY__READ_BUF_SIZE (64 * 1024)
char *eddy__loop_read_buf(eddy_loop_t *loop, size_t *size);
/* Thread-safe: wakes the loop if it may be blocked in poll (coalesced; see async.c). */
void eddy__loop_wake(eddy_loop_t *loop);
/* Creates the loop's wake eventfd and watcher if needed (loop thread only). */
int eddy__loop_wake_init(eddy_loop_t *loop);
/* Poll phase, before the backend: the timeout to block with, 0 if cross-thread work already
 * arrived; may spin briefly for pool work in flight (async.c). */
int eddy__loop_wake_prepare(eddy_loop_t *loop, int timeout_ms);
/* Poll phase, after the backend: runs async callbacks and pool completions that arrived;
 * 1 if it ran any. */
int eddy__loop_wake_check(eddy_loop_t *loop);
/* Runs the after-callbacks of the loop's completed pool work (src/core/pool.c). */
void eddy__pool_drain(eddy_loop_t *loop);
/* Timers (src/core/timer.c): the loop's side. */
int eddy__timers_init(eddy_loop_t *loop);
void eddy__timers_fini(eddy_loop_t *loop);
int eddy__timers_run(eddy_loop_t *loop); /* 1 if any timer ran */
/* ms until the next timer is due or its bucket cascades, or -1 if there is none. */
int eddy__timers_next_timeout(eddy_loop_t *loop);
/* Whether that timeout was a cascade's time (earlier than any timer), not a due time. */
bool eddy__timers_bound_early(const eddy_loop_t *loop);
/* Signals (src/core/signal.c): releases the loop's signalfd. */
void eddy__signal_loop_fini(eddy_loop_t *loop);
/* Immediates and hooks (src/core/immediate.c). */
void eddy__idle_run(eddy_loop_t *loop);
void eddy__prepare_run(eddy_loop_t *loop);
void eddy__check_run(eddy_loop_t *loop);

#endif
