/* Cross-thread wake-up. One eventfd per loop serves every async handle and the thread pool's
 * completions, and it is written only when the loop may be blocked in poll.
 *
 * The protocol. _wake_pending is 1 while the loop is awake (it will look at _work_done and
 * _async_pending before it next blocks) or a wake is already on its way, and 0 once the loop
 * has announced that it may block. A waker publishes its work first, then exchanges the flag
 * to 1 and writes the eventfd only if it was 0; the loop stores 0 and then looks for work.
 * Both sides are sequentially consistent, so one of them sees the other: either the loop finds
 * the work and does not block, or the waker finds 0 and writes. A busy loop therefore takes
 * completions and async sends with no write(2) and no read(2) at all (libuv writes once per
 * wake-up however busy the loop is), and a burst of sends to a sleeping loop costs one write.
 *
 * Spinning. A loop about to block with pool work of its own in flight first polls _work_done
 * for up to SPIN_NS: a serial submit -> complete -> submit chain then never pays the loop's
 * sleep and wake-up (several microseconds, most of a round trip on a VM). Spinning is adaptive:
 * a spin that sees nothing arrive doubles the number of blocking polls that skip spinning
 * (up to SPIN_SKIP_MAX), and one that pays resets it, so a loop whose work takes longer than
 * the spin wastes at most SPIN_NS every SPIN_SKIP_MAX polls. */
#include "core/internal.h"

#include <sys/eventfd.h>
#include <unistd.h>

#define SPIN_NS 20000u
#define SPIN_SKIP_MAX 1024u

static void wake_cb(eddy_loop_t *loop, eddy_io_t *io, unsigned revents)
{
    uint64_t count;
    while (read(io->_fd, &count, sizeof count) < 0 && errno == EINTR)
        ;
    /* What the write announced is run by eddy__loop_wake_check, after the backend poll. */
}

static bool work_arrived(eddy_loop_t *loop)
{
    return atomic_load(&loop->_work_done) != NULL || atomic_load(&loop->_async_pending) != 0;
}

/* Polls for completions for up to SPIN_NS; true if something arrived. */
static bool spin_for_work(eddy_loop_t *loop)
{
    uint64_t deadline = eddy_hrtime() + SPIN_NS;
    for (unsigned i = 1;; i++) {
        if (atomic_load_explicit(&loop->_work_done, memory_order_relaxed) != NULL)
            return true;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
        if ((i & 31) == 0 && eddy_hrtime() >= deadline)
            return false;
    }
}

static bool should_spin(eddy_loop_t *loop)
{
    if (loop->_pool_inflight == 0)
        return false;
    if (loop->_spin_skip > 0) {
        loop->_spin_skip--;
        return false;
    }
    return true;
}

int eddy__loop_wake_prepare(eddy_loop_t *loop, int timeout_ms)
{
    if (timeout_ms == 0 || loop->_wake_io._fd < 0)
        return timeout_ms;
    if (should_spin(loop)) {
        loop->_spins++;
        if (spin_for_work(loop)) {
            loop->_spin_misses = 0;
            return 0;
        }
        unsigned misses = loop->_spin_misses < 10 ? ++loop->_spin_misses : 10;
        loop->_spin_skip = (1u << misses) < SPIN_SKIP_MAX ? (1u << misses) : SPIN_SKIP_MAX;
    }
    atomic_store(&loop->_wake_pending, 0);
    if (work_arrived(loop)) {
        atomic_store_explicit(&loop->_wake_pending, 1, memory_order_relaxed);
        return 0;
    }
    return timeout_ms;
}

static void run_asyncs(eddy_loop_t *loop)
{
    /* Walk a private copy so callbacks may close any async handle, this one included. */
    eddy_queue_t q;
    eddy__queue_move(&loop->_async, &q);
    while (!eddy__queue_empty(&q)) {
        eddy_async_t *a = eddy_container_of(q.next, eddy_async_t, _node);
        eddy__queue_remove(&a->_node);
        eddy__queue_insert_tail(&loop->_async, &a->_node);
        if (atomic_exchange(&a->_pending, 0))
            a->_cb(a);
    }
}

int eddy__loop_wake_check(eddy_loop_t *loop)
{
    if (loop->_wake_io._fd < 0)
        return 0;
    int ran = 0;
    /* Awake: wakers need not write until the loop next announces it may block. */
    atomic_store_explicit(&loop->_wake_pending, 1, memory_order_relaxed);
    if (atomic_load_explicit(&loop->_async_pending, memory_order_relaxed) &&
        atomic_exchange(&loop->_async_pending, 0)) {
        run_asyncs(loop);
        ran = 1;
    }
    if (atomic_load_explicit(&loop->_work_done, memory_order_acquire) != NULL) {
        eddy__pool_drain(loop);
        ran = 1;
    }
    return ran;
}

int eddy__loop_wake_init(eddy_loop_t *loop)
{
    if (loop->_wake_io._fd >= 0)
        return 0;
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0)
        return -errno;
    eddy__io_init(&loop->_wake_io, fd, wake_cb);
    int err = eddy__backend_watch(loop, &loop->_wake_io, EDDY__IO_READ);
    if (err) {
        close(fd);
        loop->_wake_io._fd = -1;
    }
    return err;
}

void eddy__loop_wake(eddy_loop_t *loop)
{
    if (atomic_exchange(&loop->_wake_pending, 1))
        return;
    uint64_t one = 1;
    /* EAGAIN means the counter is saturated: the loop is already due to wake. */
    while (write(loop->_wake_io._fd, &one, sizeof one) < 0 && errno == EINTR)
        ;
}

static void async_close(eddy_handle_t *h)
{
    eddy_async_t *a = eddy_container_of(h, eddy_async_t, handle);
    eddy__queue_remove(&a->_node);
}

static const struct eddy__handle_ops async_ops = {.close = async_close};

EDDY_EXPORT int eddy_async_init(eddy_loop_t *loop, eddy_async_t *a, eddy_async_cb cb)
{
    if (cb == NULL)
        return -EINVAL;
    int err = eddy__loop_wake_init(loop);
    if (err)
        return err;
    eddy__handle_init(loop, &a->handle, EDDY_HANDLE_ASYNC, &async_ops);
    a->_cb = cb;
    atomic_init(&a->_pending, 0);
    eddy__queue_insert_tail(&loop->_async, &a->_node);
    eddy__handle_start(&a->handle);
    return 0;
}

EDDY_EXPORT int eddy_async_send(eddy_async_t *a)
{
    /* Already pending: the callback has not run yet and will see this send too. */
    if (atomic_exchange(&a->_pending, 1))
        return 0;
    atomic_store(&a->handle.loop->_async_pending, 1);
    eddy__loop_wake(a->handle.loop);
    return 0;
}
