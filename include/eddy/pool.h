/* The thread pool (the kitchen): what the kernel cannot do asynchronously runs here.
 *
 * Process-wide and started lazily by the first eddy_queue_work. Its size comes from
 * EDDY_THREADPOOL_SIZE (default 4, 1..1024; an invalid value is reported on stderr and the
 * default used). Work is queued by class; each class may be capped to a number of threads
 * (DNS: half the pool, rounded up, by default, as libuv caps slow I/O) so one class cannot
 * starve the others. Within a class work starts in queue order; across classes a free thread
 * serves the class whose oldest item has waited longest. The after-callback runs on the thread
 * of the loop that queued the work, in that loop's poll phase; several loops on several
 * threads may share the pool.
 *
 * Pool threads are named "eddy-pool-N", block every asynchronous signal (signals go to the
 * loops' signalfds), run on 2 MiB stacks (work needing more should use the heap), and live
 * until the process exits. */
#ifndef EDDY_POOL_H
#define EDDY_POOL_H

#include "loop.h"

/** The classes of pool work; each has its own queue and thread cap. */
typedef enum {
    EDDY_WORK_FS = 0, /**< file system calls */
    EDDY_WORK_DNS,    /**< name lookups (slow, capped to half the pool by default) */
    EDDY_WORK_CPU,    /**< hashing, compression */
    EDDY_WORK_USER,   /**< the program's own work */
    EDDY_WORK_CLASSES
} eddy_work_class;

typedef struct eddy_work_s eddy_work_t;
/** Runs on a pool thread; must not touch the loop. */
typedef void (*eddy_work_cb)(eddy_work_t *req);
/** Runs on the loop's thread; status is 0, or -ECANCELED if eddy_cancel took it off the queue. */
typedef void (*eddy_after_work_cb)(eddy_work_t *req, int status);

/** A unit of pool work (a request); the caller owns the memory until after_cb has run. */
struct eddy_work_s {
    void *data;        /**< the user's pointer */
    eddy_loop_t *loop; /**< the loop whose thread runs after_cb */
    /* private */
    eddy_work_cb _work;
    eddy_after_work_cb _after;
    eddy_work_class _class;
    atomic_int _state;
    int _status;
    eddy_queue_t _node;           /* in its class queue while queued */
    struct eddy_work_s *_next_done; /* in loop->_work_done once done */
    uint64_t _queued_ns;
};

/** What the pool is doing (eddy_pool_stats). */
typedef struct {
    unsigned threads;                    /**< pool size (0 before the pool started) */
    unsigned busy;                       /**< threads running (or handing back) work now */
    unsigned queued[EDDY_WORK_CLASSES];  /**< work queued and not yet started, per class */
    unsigned running[EDDY_WORK_CLASSES]; /**< work running, per class */
    unsigned cap[EDDY_WORK_CLASSES];     /**< thread cap per class */
    uint64_t completed;                  /**< work callbacks finished since start */
    uint64_t longest_wait_us;            /**< longest wait from queue to start (+ <= 1 tick) */
} eddy_pool_stats_t;

/** Queues work_cb on the pool (call on loop's thread); after_cb then runs there. after_cb may be
 * NULL. Pending work keeps the loop alive. */
int eddy_queue_work(eddy_loop_t *loop, eddy_work_t *req, eddy_work_class cls, eddy_work_cb work_cb,
                    eddy_after_work_cb after_cb);
/** Cancels work not yet started (call on its loop's thread): returns 0 and its after_cb later
 * gets -ECANCELED in the poll phase (never inside this call); -EBUSY once it has started. */
int eddy_cancel(eddy_work_t *req);
/** Caps how many threads may run a class at once (1..pool size; 0 restores the default);
 * thread-safe, takes effect for work not yet started. */
int eddy_pool_set_class_cap(eddy_work_class cls, unsigned threads_max);
/** Fills *stats with a snapshot of the pool (thread-safe; does not start the pool). */
int eddy_pool_stats(eddy_pool_stats_t *stats);
/** The pool size the process uses (reads EDDY_THREADPOOL_SIZE on first call). */
unsigned eddy_pool_size(void);

#endif
