/* Signal handles (Node's process.on('SIGINT')), delivered through a signalfd on the loop.
 *
 * Several handles may watch one signal; each gets the callback. A watched signal is blocked
 * in the thread that starts the first handle for it, and read from the signalfd in the poll
 * phase. Threads the program creates itself should block the signals it watches (eddy's pool
 * threads block every signal), or the kernel may deliver the signal to them instead. A given
 * signal should be watched from one loop: the first loop to read the signalfd consumes it. */
#ifndef EDDY_SIGNAL_H
#define EDDY_SIGNAL_H

#include "loop.h"

typedef struct eddy_signal_s eddy_signal_t;
/** Called on the loop's thread when the signal arrived. */
typedef void (*eddy_signal_cb)(eddy_signal_t *sig, int signum);

/** A signal handle; the caller owns the memory. */
struct eddy_signal_s {
    eddy_handle_t handle;
    int signum; /**< the signal watched, 0 while stopped */
    /* private */
    eddy_signal_cb _cb;
    int _oneshot;
    eddy_queue_t _node; /* in loop->_signals while started */
};

/** Initialises a stopped signal handle. */
int eddy_signal_init(eddy_loop_t *loop, eddy_signal_t *sig);
/** Watches signum (1..63); restarting with another signal switches. -EINVAL for a bad number. */
int eddy_signal_start(eddy_signal_t *sig, eddy_signal_cb cb, int signum);
/** Like eddy_signal_start, but the handle stops itself before its first callback. */
int eddy_signal_start_oneshot(eddy_signal_t *sig, eddy_signal_cb cb, int signum);
/** Stops watching; the signal's default action returns when no handle watches it. Idempotent. */
int eddy_signal_stop(eddy_signal_t *sig);

#endif
