/* Timers (Node's setTimeout/setInterval): one-shot or repeating, run in the timers phase in
 * due-time order; timers due at the same time run in the order they were started. */
#ifndef EDDY_TIMER_H
#define EDDY_TIMER_H

#include "loop.h"

typedef struct eddy_timer_s eddy_timer_t;
/** Called when the timer is due. */
typedef void (*eddy_timer_cb)(eddy_timer_t *timer);

/** A timer handle; the caller owns the memory (embed it). */
struct eddy_timer_s {
    eddy_handle_t handle;
    /* private */
    eddy_timer_cb _cb;
    uint64_t _due_ms;
    uint64_t _repeat_ms;
    eddy_queue_t _node; /* in a bucket of the loop's timer wheel; points to itself when not */
};

/** Initialises a stopped timer. */
int eddy_timer_init(eddy_loop_t *loop, eddy_timer_t *timer);
/** Starts (or restarts) the timer: first call after timeout_ms, then every repeat_ms if > 0. */
int eddy_timer_start(eddy_timer_t *timer, eddy_timer_cb cb, uint64_t timeout_ms, uint64_t repeat_ms);
/** Stops the timer; a stopped timer never fires, even if it was due in this phase. Idempotent. */
int eddy_timer_stop(eddy_timer_t *timer);
/** Restarts a repeating timer with its repeat as timeout; -EINVAL if it was never started. */
int eddy_timer_again(eddy_timer_t *timer);
/** Sets the repeat interval, used from the next expiry on. */
void eddy_timer_set_repeat(eddy_timer_t *timer, uint64_t repeat_ms);
/** The repeat interval in ms (0 for one-shot). */
uint64_t eddy_timer_get_repeat(const eddy_timer_t *timer);
/** Milliseconds until the timer is due (0 if due or stopped). */
uint64_t eddy_timer_get_due_in(const eddy_timer_t *timer);

#endif
