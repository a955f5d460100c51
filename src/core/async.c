/* Cross-thread wake-up. One eventfd per loop serves every async handle and the thread pool's
 * completions: a sender sets its flag, and only the first sender since the loop last looked
 * writes to the eventfd, so a burst of sends or completions costs one write(2). */
#include "core/internal.h"

#include <sys/eventfd.h>
#include <unistd.h>

static void wake_cb(eddy_loop_t *loop, eddy_io_t *io, unsigned revents)
{
    uint64_t count;
    while (read(io->_fd, &count, sizeof count) < 0 && errno == EINTR)
        ;
    /* Clear the flag before looking, so a send that lands while we look writes again. */
    atomic_store(&loop->_wake_pending, 0);

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
    if (atomic_load_explicit(&loop->_work_done, memory_order_acquire) != NULL)
        eddy__pool_drain(loop);
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
    eddy__loop_wake(a->handle.loop);
    return 0;
}
