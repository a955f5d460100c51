/* Signals through one signalfd per loop. A watched signal is blocked in the loop's thread and
 * read in the poll phase, so callbacks run as ordinary loop callbacks, not in signal context. */
#include "core/internal.h"

#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

static uint64_t bit(int signum)
{
    return 1ull << signum;
}

static void to_sigset(uint64_t mask, sigset_t *set)
{
    sigemptyset(set);
    for (int s = 1; s < 64; s++)
        if (mask & bit(s))
            sigaddset(set, s);
}

static void dispatch(eddy_loop_t *loop, int signum)
{
    /* A private copy of the list lets callbacks stop or close any signal handle. */
    eddy_queue_t q;
    eddy__queue_move(&loop->_signals, &q);
    while (!eddy__queue_empty(&q)) {
        eddy_signal_t *sig = eddy_container_of(q.next, eddy_signal_t, _node);
        eddy__queue_remove(&sig->_node);
        eddy__queue_insert_tail(&loop->_signals, &sig->_node);
        if (sig->signum != signum)
            continue;
        if (sig->_oneshot)
            eddy_signal_stop(sig);
        sig->_cb(sig, signum);
    }
}

static void signal_io_cb(eddy_loop_t *loop, eddy_io_t *io, unsigned revents)
{
    struct signalfd_siginfo info[16];
    for (;;) {
        ssize_t n = read(io->_fd, info, sizeof info);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* EAGAIN: drained */
        for (size_t i = 0; i < (size_t)n / sizeof info[0]; i++)
            dispatch(loop, (int)info[i].ssi_signo);
    }
}

/* Points the loop's signalfd at `mask`, creating it on first use. */
static int update_signalfd(eddy_loop_t *loop, uint64_t mask)
{
    sigset_t set;
    to_sigset(mask, &set);
    if (loop->_signal_io._fd < 0) {
        int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
        if (fd < 0)
            return -errno;
        eddy__io_init(&loop->_signal_io, fd, signal_io_cb);
        int err = eddy__backend_watch(loop, &loop->_signal_io, EDDY__IO_READ);
        if (err) {
            close(fd);
            loop->_signal_io._fd = -1;
            return err;
        }
        return 0;
    }
    return signalfd(loop->_signal_io._fd, &set, 0) < 0 ? -errno : 0;
}

static int watch_signal(eddy_loop_t *loop, int signum)
{
    if (loop->_signal_mask & bit(signum))
        return 0;
    sigset_t one, old;
    sigemptyset(&one);
    sigaddset(&one, signum);
    pthread_sigmask(SIG_BLOCK, &one, &old);
    int err = update_signalfd(loop, loop->_signal_mask | bit(signum));
    if (err) {
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return err;
    }
    loop->_signal_mask |= bit(signum);
    if (!sigismember(&old, signum))
        loop->_signal_unblock |= bit(signum);
    return 0;
}

static void unwatch_signal(eddy_loop_t *loop, int signum)
{
    eddy_queue_t *q;
    for (q = loop->_signals.next; q != &loop->_signals; q = q->next)
        if (eddy_container_of(q, eddy_signal_t, _node)->signum == signum)
            return; /* another handle still watches it */
    loop->_signal_mask &= ~bit(signum);
    update_signalfd(loop, loop->_signal_mask);
    if (loop->_signal_unblock & bit(signum)) {
        loop->_signal_unblock &= ~bit(signum);
        sigset_t one;
        sigemptyset(&one);
        sigaddset(&one, signum);
        pthread_sigmask(SIG_UNBLOCK, &one, NULL);
    }
}

static void signal_close(eddy_handle_t *h)
{
    eddy_signal_stop(eddy_container_of(h, eddy_signal_t, handle));
}

static const struct eddy__handle_ops signal_ops = {.close = signal_close};

EDDY_EXPORT int eddy_signal_init(eddy_loop_t *loop, eddy_signal_t *sig)
{
    eddy__handle_init(loop, &sig->handle, EDDY_HANDLE_SIGNAL, &signal_ops);
    sig->signum = 0;
    sig->_cb = NULL;
    sig->_oneshot = 0;
    eddy__queue_init(&sig->_node);
    return 0;
}

static int signal_start(eddy_signal_t *sig, eddy_signal_cb cb, int signum, int oneshot)
{
    if (cb == NULL || signum < 1 || signum > 63 || signum == SIGKILL || signum == SIGSTOP ||
        eddy_is_closing(&sig->handle))
        return -EINVAL;
    if (sig->signum != signum)
        eddy_signal_stop(sig);
    sig->_cb = cb;
    sig->_oneshot = oneshot;
    if (sig->signum == signum)
        return 0;
    int err = watch_signal(sig->handle.loop, signum);
    if (err)
        return err;
    sig->signum = signum;
    eddy__queue_insert_tail(&sig->handle.loop->_signals, &sig->_node);
    eddy__handle_start(&sig->handle);
    return 0;
}

EDDY_EXPORT int eddy_signal_start(eddy_signal_t *sig, eddy_signal_cb cb, int signum)
{
    return signal_start(sig, cb, signum, 0);
}

EDDY_EXPORT int eddy_signal_start_oneshot(eddy_signal_t *sig, eddy_signal_cb cb, int signum)
{
    return signal_start(sig, cb, signum, 1);
}

EDDY_EXPORT int eddy_signal_stop(eddy_signal_t *sig)
{
    if (sig->signum == 0)
        return 0;
    int signum = sig->signum;
    eddy__queue_remove(&sig->_node);
    sig->signum = 0;
    eddy__handle_stop(&sig->handle);
    unwatch_signal(sig->handle.loop, signum);
    return 0;
}

void eddy__signal_loop_fini(eddy_loop_t *loop)
{
    if (loop->_signal_io._fd >= 0) {
        eddy__backend_unwatch(loop, &loop->_signal_io);
        close(loop->_signal_io._fd);
        loop->_signal_io._fd = -1;
    }
}
