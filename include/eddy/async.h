/* Async handles: the one thread-safe way to wake a loop from another thread.
 *
 * eddy_async_send may be called from any thread, any number of times; sends that happen
 * before the loop gets to the handle are coalesced into one callback (as with libuv). The
 * callback runs on the loop's thread in the poll phase. All async handles of a loop and its
 * thread-pool completions share one eventfd, so a burst of sends costs one write(2). */
#ifndef EDDY_ASYNC_H
#define EDDY_ASYNC_H

#include "loop.h"

typedef struct eddy_async_s eddy_async_t;
/** Called on the loop's thread after one or more eddy_async_send. */
typedef void (*eddy_async_cb)(eddy_async_t *async);

/** An async handle; active (and keeping the loop alive, unless unref'd) from init to close. */
struct eddy_async_s {
    eddy_handle_t handle;
    /* private */
    eddy_async_cb _cb;
    atomic_int _pending;
    eddy_queue_t _node; /* in loop->_async */
};

/** Initialises and starts an async handle; call on the loop's thread. */
int eddy_async_init(eddy_loop_t *loop, eddy_async_t *async, eddy_async_cb cb);
/** Wakes the loop to run the handle's callback; thread-safe and async-signal-safe. */
int eddy_async_send(eddy_async_t *async);

#endif
