/* The thread pool (the kitchen): what the kernel cannot do asynchronously runs here.
 *
 * Process-wide and started lazily by the first eddy_queue_work. Its size comes from
 * EDDY_THREADPOOL_SIZE (default 4, 1..1024; an invalid value is reported on stderr and the
 * default used). Work is queued by class; each class may be capped to a number of threads
 * (DNS: half the pool by default, as libuv caps slow I/O) so one class cannot starve the
 * others. Within a class work starts in queue order. The after-callback runs on the thread of
 * the loop that queued the work, in that loop's poll phase. */
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
    unsigned busy;                       /**< threads running work now */
    unsigned queued[EDDY_WORK_CLASSES];  /**< work waiting, per class */
    unsigned running[EDDY_WORK_CLASSES]; /**< work running, per class */
    unsigned cap[EDDY_WORK_CLASSES];     /**< thread cap per class */
    uint64_t completed;                  /**< work items finished since start */
    uint64_t longest_wait_us;            /**< longest time an item waited in a queue */
} eddy_pool_stats_t;

/** Queues work_cb on the pool; after_cb then runs on loop's thread. after_cb may be NULL. */
int eddy_queue_work(eddy_loop_t *loop, eddy_work_t *req, eddy_work_class cls, eddy_work_cb work_cb,
                    eddy_after_work_cb after_cb);
/** Cancels queued work (its after_cb gets -ECANCELED); -EBUSY once it has started. */
int eddy_cancel(eddy_work_t *req);
/** Caps how many threads may run a class at once (1..pool size; 0 restores the default). */
int eddy_pool_set_class_cap(eddy_work_class cls, unsigned threads_max);
/** Fills *stats with a snapshot of the pool. */
int eddy_pool_stats(eddy_pool_stats_t *stats);
/** The pool size the process uses (reads EDDY_THREADPOOL_SIZE on first call). */
unsigned eddy_pool_size(void);

#endif
