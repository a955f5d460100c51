/* The loop: one iteration is Node's list of phases, read top to bottom in eddy_run. */
#include "core/internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void run_pending(eddy_loop_t *loop);
static void run_closing(eddy_loop_t *loop);
static int poll_timeout(eddy_loop_t *loop, eddy_run_mode mode);
static bool poll_io(eddy_loop_t *loop, eddy_run_mode mode);

EDDY_EXPORT int eddy_run(eddy_loop_t *loop, eddy_run_mode mode)
{
    int alive = eddy_loop_alive(loop);
    if (!alive)
        eddy_update_time(loop);

    while (alive && !loop->_stop) {
        eddy_update_time(loop);
        eddy__timers_run(loop);                                   /* 1. timers */
        run_pending(loop);                                        /* 2. pending */
        eddy__idle_run(loop);                                     /* 3. idle */
        eddy__prepare_run(loop);                                  /*    prepare */
        bool idle_wake = poll_io(loop, mode);                     /* 4. poll */
        eddy__check_run(loop);                                    /* 5. check (immediates) */
        run_closing(loop);                                        /* 6. close */

        /* ONCE promises progress: a poll that woke for a timer must run that timer, and one
         * that woke only for a timer-wheel cascade (earlier than any timer) polls again. */
        if (mode == EDDY_RUN_ONCE) {
            eddy_update_time(loop);
            if (!eddy__timers_run(loop) && idle_wake && !loop->_stop)
                continue;
        }
        alive = eddy_loop_alive(loop);
        if (mode != EDDY_RUN_DEFAULT)
            break;
    }
    loop->_stop = 0;
    return alive;
}

/* Poll blocks only when nothing is ready to run without it: until the next timer, or for ever
 * when only I/O or pool work can make progress. */
static int poll_timeout(eddy_loop_t *loop, eddy_run_mode mode)
{
    if (mode == EDDY_RUN_NOWAIT || loop->_stop)
        return 0;
    if (!eddy__queue_empty(&loop->_pending) || !eddy__queue_empty(&loop->_idle) ||
        !eddy__queue_empty(&loop->_immediates) || loop->_closing != NULL)
        return 0;
    if (loop->_active_handles == 0 && loop->_active_reqs == 0)
        return 0;
    return eddy__timers_next_timeout(loop);
}

/* The poll phase: I/O callbacks, then what other threads sent (pool completions, async).
 * True if it blocked until a timer-wheel cascade and nothing at all happened. */
static bool poll_io(eddy_loop_t *loop, eddy_run_mode mode)
{
    int timeout = poll_timeout(loop, mode);
    bool early = timeout > 0 && eddy__timers_bound_early(loop);
    int n = eddy__backend_poll(loop, eddy__loop_wake_prepare(loop, timeout));
    int ran = eddy__loop_wake_check(loop);
    return early && n == 0 && !ran;
}

static void run_pending(eddy_loop_t *loop)
{
    /* Entries queued by these callbacks wait for the next iteration. */
    eddy_queue_t q;
    eddy__queue_move(&loop->_pending, &q);
    while (!eddy__queue_empty(&q)) {
        eddy_pending_t *p = eddy_container_of(q.next, eddy_pending_t, _node);
        eddy__queue_remove(&p->_node);
        p->_cb(loop, p);
    }
}

void eddy__pending_add(eddy_loop_t *loop, eddy_pending_t *p,
                       void (*cb)(eddy_loop_t *, eddy_pending_t *))
{
    p->_cb = cb;
    eddy__queue_insert_tail(&loop->_pending, &p->_node);
}

void eddy__pending_remove(eddy_pending_t *p)
{
    if (p->_node.next != NULL)
        eddy__queue_remove(&p->_node);
}

static void finish_close(eddy_handle_t *h)
{
    h->_flags |= EDDY__H_CLOSED;
    if (h->_ops && h->_ops->closed)
        h->_ops->closed(h);
    eddy__queue_remove(&h->_node);
    if (h->_close_cb)
        h->_close_cb(h);
}

static void run_closing(eddy_loop_t *loop)
{
    /* loop->_closing is the tail of a circular list in eddy_close order (see eddy_close): cut
     * the circle after the tail and walk once from the head. Handles closed by these callbacks
     * start a new list and wait for the next close phase. */
    eddy_handle_t *tail = loop->_closing;
    if (tail == NULL)
        return;
    loop->_closing = NULL;
    eddy_handle_t *h = tail->_next_closing;
    tail->_next_closing = NULL;
    while (h) {
        eddy_handle_t *next = h->_next_closing;
        finish_close(h);
        h = next;
    }
}

EDDY_EXPORT int eddy_loop_init(eddy_loop_t *loop)
{
    memset(loop, 0, sizeof *loop);
    eddy__queue_init(&loop->_handles);
    eddy__queue_init(&loop->_pending);
    eddy__queue_init(&loop->_idle);
    eddy__queue_init(&loop->_prepare);
    eddy__queue_init(&loop->_check);
    eddy__queue_init(&loop->_immediates);
    eddy__queue_init(&loop->_async);
    eddy__queue_init(&loop->_signals);
    loop->_wake_io._fd = -1;
    loop->_signal_io._fd = -1;
    atomic_init(&loop->_wake_pending, 0);
    atomic_init(&loop->_async_pending, 0);
    atomic_init(&loop->_work_done, NULL);
    int err = eddy__backend_init(loop);
    if (err)
        return err;
    eddy_update_time(loop);
    err = eddy__timers_init(loop);
    if (err)
        eddy__backend_fini(loop);
    return err;
}

EDDY_EXPORT int eddy_loop_close(eddy_loop_t *loop)
{
    if (!eddy__queue_empty(&loop->_handles) || loop->_active_reqs != 0 || loop->_closing)
        return -EBUSY;
    if (loop->_fs_fini)
        loop->_fs_fini(loop); /* before the backend goes: it may watch a descriptor */
    loop->_fs_fini = NULL;
    eddy__signal_loop_fini(loop);
    if (loop->_wake_io._fd >= 0) {
        eddy__backend_unwatch(loop, &loop->_wake_io);
        close(loop->_wake_io._fd);
        loop->_wake_io._fd = -1;
    }
    eddy__backend_fini(loop);
    eddy__timers_fini(loop);
    free(loop->_read_buf);
    loop->_read_buf = NULL;
    return 0;
}

EDDY_EXPORT eddy_loop_t *eddy_default_loop(void)
{
    static eddy_loop_t loop;
    static int state; /* 0: not yet, 1: ready, -1: init failed */
    if (state == 0)
        state = eddy_loop_init(&loop) == 0 ? 1 : -1;
    return state == 1 ? &loop : NULL;
}

EDDY_EXPORT int eddy_loop_configure(eddy_loop_t *loop, eddy_loop_option option, int value)
{
    if (option != EDDY_LOOP_FS_URING)
        return -EINVAL;
    if (value)
        loop->_options |= (unsigned)option;
    else
        loop->_options &= ~(unsigned)option;
    return 0;
}

EDDY_EXPORT int eddy_loop_option_get(const eddy_loop_t *loop, eddy_loop_option option)
{
    return (loop->_options & (unsigned)option) != 0;
}

EDDY_EXPORT void eddy_stop(eddy_loop_t *loop)
{
    loop->_stop = 1;
}

EDDY_EXPORT int eddy_loop_alive(const eddy_loop_t *loop)
{
    return loop->_active_handles > 0 || loop->_active_reqs > 0 || loop->_closing != NULL;
}

EDDY_EXPORT uint64_t eddy_hrtime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

EDDY_EXPORT uint64_t eddy_now(const eddy_loop_t *loop)
{
    return loop->_time_ms;
}

EDDY_EXPORT void eddy_update_time(eddy_loop_t *loop)
{
    loop->_time_ms = eddy_hrtime() / 1000000u;
}

char *eddy__loop_read_buf(eddy_loop_t *loop, size_t *size)
{
    if (loop->_read_buf == NULL) {
        loop->_read_buf = malloc(EDDY__READ_BUF_SIZE);
        loop->_read_buf_size = loop->_read_buf ? EDDY__READ_BUF_SIZE : 0;
    }
    *size = loop->_read_buf_size;
    return loop->_read_buf;
}
