/* The loop (the waiter) and the handle base every long-lived object embeds.
 *
 * One iteration runs Node's phases in order: timers, pending, idle, prepare, poll, check
 * (immediates), close. See src/core/loop.c:eddy_run, which reads as that list. */
#ifndef EDDY_LOOP_H
#define EDDY_LOOP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct eddy_loop_s eddy_loop_t;
typedef struct eddy_handle_s eddy_handle_t;
typedef struct eddy_queue_s eddy_queue_t;
typedef struct eddy_io_s eddy_io_t;
typedef struct eddy_pending_s eddy_pending_t;

/** Recovers the struct that embeds `ptr` as its member `member`. */
#define eddy_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/** An intrusive doubly-linked list node (or list head); the library's only container. */
struct eddy_queue_s {
    eddy_queue_t *next;
    eddy_queue_t *prev;
};

/** What kind of handle a handle is (eddy_handle_t.type). */
typedef enum {
    EDDY_HANDLE_UNKNOWN = 0,
    EDDY_HANDLE_TIMER,
    EDDY_HANDLE_IMMEDIATE,
    EDDY_HANDLE_IDLE,
    EDDY_HANDLE_PREPARE,
    EDDY_HANDLE_CHECK,
    EDDY_HANDLE_ASYNC,
    EDDY_HANDLE_SIGNAL,
    EDDY_HANDLE_TCP,
    EDDY_HANDLE_UNIX,
    EDDY_HANDLE_FS_WATCH,
    EDDY_HANDLE_WORKER,
    EDDY_HANDLE_STREAM, /* a stream that is not a socket: file, transform, HTTP response */
    EDDY_HANDLE_USER /* first value free for modules and users */
} eddy_handle_type;

/** Run modes of eddy_run. */
typedef enum {
    EDDY_RUN_DEFAULT = 0, /**< run until nothing keeps the loop alive or eddy_stop */
    EDDY_RUN_ONCE,        /**< one iteration, blocking in poll if there is nothing to do */
    EDDY_RUN_NOWAIT       /**< one iteration, never blocking */
} eddy_run_mode;

/** Called in the close phase once a handle is fully closed; its memory is the user's again. */
typedef void (*eddy_close_cb)(eddy_handle_t *handle);
/** Called by eddy_walk for each handle. */
typedef void (*eddy_walk_cb)(eddy_handle_t *handle, void *arg);

/* private: per-type behaviour of a handle, filled by each handle type's _init. */
struct eddy__handle_ops;

/** The base of every handle; each handle type embeds it as its first member `handle`. */
struct eddy_handle_s {
    void *data;          /**< the user's pointer; eddy never touches it */
    eddy_loop_t *loop;   /**< the loop the handle belongs to */
    eddy_handle_type type;
    /* private */
    unsigned _flags;
    eddy_close_cb _close_cb;
    const struct eddy__handle_ops *_ops;
    eddy_queue_t _node;           /* in loop->_handles */
    eddy_handle_t *_next_closing; /* in loop->_closing's circular list */
};

/* private: a descriptor as the backend sees it; embedded in handles that own one. */
struct eddy_io_s {
    int _fd;
    unsigned _events; /* interest currently registered with the backend (EDDY__IO_*) */
    void (*_cb)(eddy_loop_t *loop, eddy_io_t *io, unsigned revents);
};

/* private: an entry of the pending phase (I/O callbacks deferred to the next iteration). */
struct eddy_pending_s {
    eddy_queue_t _node;
    void (*_cb)(eddy_loop_t *loop, eddy_pending_t *p);
};

struct eddy_work_s;

/** An event loop. Embed it or use eddy_default_loop(); one thread runs it. */
struct eddy_loop_s {
    void *data; /**< the user's pointer */
    /* private */
    uint64_t _time_ms;         /* cached monotonic clock, updated once per iteration */
    unsigned _active_handles;  /* active and referenced handles */
    unsigned _active_reqs;     /* requests in flight (pool work, writes, connects, ...) */
    int _stop;
    void *_backend;            /* the poller's state (src/backend/) */
    eddy_queue_t _handles;     /* every handle not yet fully closed, for walk and close */
    eddy_queue_t _pending;     /* eddy_pending_t, run in the pending phase */
    eddy_queue_t _idle;        /* active idle handles */
    eddy_queue_t _prepare;     /* active prepare handles */
    eddy_queue_t _check;       /* active check handles */
    eddy_queue_t _immediates;  /* queued immediates, in queue order */
    eddy_handle_t *_closing;   /* handles waiting for the close phase: the tail of a circular
                                  list in eddy_close order */
    /* timers: a hierarchical timing wheel (src/core/timer.c) */
    struct eddy__timer_wheel *_timer_wheel;
    /* cross-thread wake-up: async handles and thread-pool completions share one eventfd */
    eddy_io_t _wake_io;
    atomic_int _wake_pending;  /* 0: the loop may block, a waker must write the eventfd */
    atomic_int _async_pending; /* an async handle of this loop was sent to */
    eddy_queue_t _async;                     /* every async handle of this loop */
    _Atomic(struct eddy_work_s *) _work_done; /* completed pool work (MPSC, LIFO) */
    unsigned _pool_inflight;   /* this loop's pool work not yet delivered */
    unsigned _spin_skip;       /* blocking polls left before the loop spins again */
    unsigned _spin_misses;     /* spins in a row that saw nothing arrive */
    unsigned long _spins;      /* spins started (for tests and profiling) */
    /* the loop-shared read buffer, lent to read callbacks (idle connections own none) */
    char *_read_buf;
    size_t _read_buf_size;
    /* signals: one signalfd per loop for the signals its handles watch */
    /* options (eddy_loop_configure) and per-loop state of modules above the core, which the
     * core releases through the module's fini hook without knowing what it is */
    unsigned _options;
    void *_fs_uring;
    void (*_fs_fini)(eddy_loop_t *loop);
    eddy_io_t _signal_io;
    uint64_t _signal_mask;     /* signals the signalfd reads */
    uint64_t _signal_unblock;  /* of those, the ones eddy blocked and unblocks when done */
    eddy_queue_t _signals;
};

/** Loop options (eddy_loop_configure). */
typedef enum {
    EDDY_LOOP_FS_URING = 1 /**< fs requests go through io_uring where the kernel allows it */
} eddy_loop_option;

/** Initialises a loop; no thread or descriptor beyond the poller's is created. */
int eddy_loop_init(eddy_loop_t *loop);
/** Releases the loop's resources; -EBUSY (and nothing released) while handles or requests live. */
int eddy_loop_close(eddy_loop_t *loop);
/** The process's default loop, initialised on first use; NULL if that fails. */
eddy_loop_t *eddy_default_loop(void);

/** Sets a loop option to value (0 off, 1 on); -EINVAL for an unknown option. Set options
 * before the loop's first request that uses them. */
int eddy_loop_configure(eddy_loop_t *loop, eddy_loop_option option, int value);
/** Non-zero if the option is on. */
int eddy_loop_option_get(const eddy_loop_t *loop, eddy_loop_option option);

/** Runs the loop; returns non-zero if it is still alive (something remains to do). */
int eddy_run(eddy_loop_t *loop, eddy_run_mode mode);
/** Makes eddy_run return after the current iteration. */
void eddy_stop(eddy_loop_t *loop);
/** Non-zero while referenced active handles, requests or closing handles remain. */
int eddy_loop_alive(const eddy_loop_t *loop);

/** The loop's cached monotonic time in milliseconds (updated at the start of each iteration). */
uint64_t eddy_now(const eddy_loop_t *loop);
/** Refreshes the cached time (for callbacks that ran long). */
void eddy_update_time(eddy_loop_t *loop);
/** A monotonic clock in nanoseconds, not cached. */
uint64_t eddy_hrtime(void);

/** Starts closing a handle (stops it first); close_cb runs in the close phase. */
void eddy_close(eddy_handle_t *handle, eddy_close_cb close_cb);
/** Non-zero once eddy_close was called on the handle. */
int eddy_is_closing(const eddy_handle_t *handle);
/** Non-zero while the handle is started (a timer pending, a socket reading, ...). */
int eddy_is_active(const eddy_handle_t *handle);
/** Lets the handle keep the loop alive while active (the default). */
void eddy_ref(eddy_handle_t *handle);
/** The handle stays active but no longer keeps the loop alive on its own. */
void eddy_unref(eddy_handle_t *handle);
/** Non-zero if the handle is referenced. */
int eddy_has_ref(const eddy_handle_t *handle);
/** Calls cb for every handle of the loop that is not yet fully closed. */
void eddy_walk(eddy_loop_t *loop, eddy_walk_cb cb, void *arg);
/** The name of a handle type ("timer", "tcp", ...). */
const char *eddy_handle_type_name(eddy_handle_type type);

#endif
