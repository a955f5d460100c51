/* Immediates and the phase hooks.
 *
 * eddy_immediate_t is Node's setImmediate: a one-shot callback in the check phase. One queued
 * while the check phase runs waits for the next iteration. Restart it in its callback to
 * repeat.
 *
 * eddy_idle_t, eddy_prepare_t and eddy_check_t are libuv's persistent hooks: while started,
 * their callback runs once per iteration in the idle, prepare or check phase. An active idle
 * handle makes poll not block. */
#ifndef EDDY_IMMEDIATE_H
#define EDDY_IMMEDIATE_H

#include "loop.h"

typedef struct eddy_immediate_s eddy_immediate_t;
typedef struct eddy_hook_s eddy_idle_t;
typedef struct eddy_hook_s eddy_prepare_t;
typedef struct eddy_hook_s eddy_check_t;

/** Called once per start of an immediate. */
typedef void (*eddy_immediate_cb)(eddy_immediate_t *imm);
/** Called once per iteration while an idle, prepare or check handle is started. */
typedef void (*eddy_hook_cb)(struct eddy_hook_s *hook);

/** Node's setImmediate; the caller owns the memory. */
struct eddy_immediate_s {
    eddy_handle_t handle;
    /* private */
    eddy_immediate_cb _cb;
    eddy_queue_t _node; /* in loop->_immediates while queued */
};

/** An idle, prepare or check handle (the type says which phase). */
struct eddy_hook_s {
    eddy_handle_t handle;
    /* private */
    eddy_hook_cb _cb;
    eddy_queue_t _node;
};

/** Initialises an immediate that is not queued. */
int eddy_immediate_init(eddy_loop_t *loop, eddy_immediate_t *imm);
/** Queues the immediate for the check phase; starting a queued immediate keeps its place. */
int eddy_immediate_start(eddy_immediate_t *imm, eddy_immediate_cb cb);
/** Takes a queued immediate off the queue (Node's clearImmediate). Idempotent. */
int eddy_immediate_stop(eddy_immediate_t *imm);

/** Initialises an idle handle. */
int eddy_idle_init(eddy_loop_t *loop, eddy_idle_t *idle);
/** Runs cb in every idle phase; while started, poll does not block. */
int eddy_idle_start(eddy_idle_t *idle, eddy_hook_cb cb);
/** Stops the idle handle. Idempotent. */
int eddy_idle_stop(eddy_idle_t *idle);

/** Initialises a prepare handle. */
int eddy_prepare_init(eddy_loop_t *loop, eddy_prepare_t *prepare);
/** Runs cb in every prepare phase, just before the loop polls for I/O. */
int eddy_prepare_start(eddy_prepare_t *prepare, eddy_hook_cb cb);
/** Stops the prepare handle. Idempotent. */
int eddy_prepare_stop(eddy_prepare_t *prepare);

/** Initialises a check handle. */
int eddy_check_init(eddy_loop_t *loop, eddy_check_t *check);
/** Runs cb in every check phase, just after the loop polled for I/O. */
int eddy_check_start(eddy_check_t *check, eddy_hook_cb cb);
/** Stops the check handle. Idempotent. */
int eddy_check_stop(eddy_check_t *check);

#endif
