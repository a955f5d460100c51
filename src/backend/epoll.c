/* The epoll backend: the only file that knows the loop polls with epoll.
 *
 * Descriptors are registered edge-triggered, once, with the interest the owner asks for;
 * owners drain until EAGAIN, so a ready descriptor costs one epoll_wait entry and no
 * epoll_ctl per read. EPOLLOUT is added only while a write is pending (see stream.c). */
#include "backend/backend.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

/* Events collected per epoll_wait; a busier loop simply polls again next iteration. */
#define EVENTS_MAX 1024

/* io->_events carries this bit while the descriptor is in the epoll set. */
#define REGISTERED (1u << 31)

struct epoll_backend {
    int fd;
    int ready;  /* events collected by the poll being dispatched */
    int cursor; /* index of the event being dispatched */
    struct epoll_event events[EVENTS_MAX];
};

int eddy__backend_init(eddy_loop_t *loop)
{
    struct epoll_backend *b = malloc(sizeof *b);
    if (b == NULL)
        return -ENOMEM;
    b->fd = epoll_create1(EPOLL_CLOEXEC);
    if (b->fd < 0) {
        int err = -errno;
        free(b);
        return err;
    }
    b->ready = 0;
    b->cursor = 0;
    loop->_backend = b;
    return 0;
}

void eddy__backend_fini(eddy_loop_t *loop)
{
    struct epoll_backend *b = loop->_backend;
    if (b == NULL)
        return;
    close(b->fd);
    free(b);
    loop->_backend = NULL;
}

static uint32_t to_epoll(unsigned events)
{
    uint32_t e = EPOLLET;
    if (events & EDDY__IO_READ)
        e |= EPOLLIN | EPOLLRDHUP;
    if (events & EDDY__IO_WRITE)
        e |= EPOLLOUT;
    return e;
}

static unsigned from_epoll(uint32_t e)
{
    unsigned r = 0;
    if (e & (EPOLLIN | EPOLLPRI))
        r |= EDDY__IO_READ;
    if (e & EPOLLOUT)
        r |= EDDY__IO_WRITE;
    if (e & (EPOLLHUP | EPOLLRDHUP))
        r |= EDDY__IO_HUP | EDDY__IO_READ; /* a hang-up is read as EOF or an error */
    if (e & EPOLLERR)
        r |= EDDY__IO_ERR | EDDY__IO_READ | EDDY__IO_WRITE;
    return r;
}

int eddy__backend_watch(eddy_loop_t *loop, eddy_io_t *io, unsigned events)
{
    struct epoll_backend *b = loop->_backend;
    events &= EDDY__IO_READ | EDDY__IO_WRITE;
    bool registered = io->_events & REGISTERED;
    if (registered && (io->_events & ~REGISTERED) == events)
        return 0;
    struct epoll_event ev = {.events = to_epoll(events), .data.ptr = io};
    if (epoll_ctl(b->fd, registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, io->_fd, &ev) != 0)
        return -errno;
    io->_events = events | REGISTERED;
    return 0;
}

void eddy__backend_unwatch(eddy_loop_t *loop, eddy_io_t *io)
{
    struct epoll_backend *b = loop->_backend;
    if (io->_events & REGISTERED) {
        /* Errors are ignored: the descriptor may already be gone, and either way it is out. */
        struct epoll_event ev = {0};
        epoll_ctl(b->fd, EPOLL_CTL_DEL, io->_fd, &ev);
    }
    io->_events = 0;
    /* Events of this batch not yet dispatched must not reach an owner that may be freed. */
    for (int i = b->cursor + 1; i < b->ready; i++)
        if (b->events[i].data.ptr == io)
            b->events[i].data.ptr = NULL;
}

int eddy__backend_poll(eddy_loop_t *loop, int timeout_ms)
{
    struct epoll_backend *b = loop->_backend;
    int n = epoll_wait(b->fd, b->events, EVENTS_MAX, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    /* The wait may have slept: later phases (and timers started in callbacks) need the time. */
    if (timeout_ms != 0)
        eddy_update_time(loop);
    b->ready = n;
    int dispatched = 0;
    for (b->cursor = 0; b->cursor < n; b->cursor++) {
        eddy_io_t *io = b->events[b->cursor].data.ptr;
        if (io == NULL)
            continue;
        io->_cb(loop, io, from_epoll(b->events[b->cursor].events));
        dispatched++;
    }
    b->ready = 0;
    b->cursor = 0;
    return dispatched;
}
