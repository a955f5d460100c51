/* The backend contract: how the loop waits for descriptors. Exactly one file in src/backend/
 * implements it (epoll.c on Linux); nothing outside src/backend/ knows which poller runs, so a
 * new poller (io_uring, kqueue) is one new file here and no #ifdef anywhere else.
 *
 * The contract, as every implementation must keep it:
 * - Edge-triggered. A descriptor is reported when it becomes ready, not while it stays ready;
 *   its owner drains it (read, accept, write) until EAGAIN, or remembers that it did not and
 *   comes back from the pending phase. In exchange a ready descriptor costs one entry of one
 *   wait, and no syscall per read to re-arm it.
 * - Interest is set, not added: eddy__backend_watch(io, events) replaces what io asked for.
 *   Asking again for the interest already registered costs nothing (no syscall), so owners may
 *   call it on every state change. WRITE is asked for only while a write is pending (DESIGN:
 *   EPOLLOUT armed only after a partial write).
 * - The loop's state lives in loop->_backend, owned by the implementation between init and
 *   fini. Every call is made on the loop's thread.
 * - Callbacks run from inside eddy__backend_poll, in the poll phase. A callback may unwatch
 *   (and close, and free the owner of) any io, including ones with events still to dispatch in
 *   this batch: unwatch guarantees such events are dropped, never delivered to freed memory.
 *
 * Nothing here is public API. */
#ifndef EDDY_BACKEND_H
#define EDDY_BACKEND_H

#include "eddy/loop.h"

/* What an owner asks for (watch) and what it is told (its io->_cb's revents). */
enum {
    EDDY__IO_READ = 1u << 0,  /* readable, or a listener has connections */
    EDDY__IO_WRITE = 1u << 1, /* writable (armed only after a partial write) */
    EDDY__IO_HUP = 1u << 2,   /* the peer hung up (reported with READ) */
    EDDY__IO_ERR = 1u << 3    /* an error is pending on the descriptor */
};

/* Creates the loop's poller; 0 or a negative errno. */
int eddy__backend_init(eddy_loop_t *loop);
/* Releases the poller; safe after a failed init and when called twice. */
void eddy__backend_fini(eddy_loop_t *loop);
/* Sets the interest for io (EDDY__IO_READ|WRITE); edge-triggered: callbacks must drain the
 * descriptor until EAGAIN. events == 0 keeps the descriptor registered with no interest. */
int eddy__backend_watch(eddy_loop_t *loop, eddy_io_t *io, unsigned events);
/* Removes io; its events already collected in this poll are dropped. Call before close(fd). */
void eddy__backend_unwatch(eddy_loop_t *loop, eddy_io_t *io);
/* Waits up to timeout_ms (-1: no limit) and calls io->_cb for each ready descriptor;
 * returns the number dispatched or a negative errno. A wait that may have slept refreshes the
 * loop's cached time before dispatching, so callbacks see the time they run at. */
int eddy__backend_poll(eddy_loop_t *loop, int timeout_ms);

/* Prepares an io for watch: descriptor, no interest registered yet, and the callback that
 * poll calls with the revents. */
static inline void eddy__io_init(eddy_io_t *io, int fd,
                                 void (*cb)(eddy_loop_t *, eddy_io_t *, unsigned))
{
    io->_fd = fd;
    io->_events = 0;
    io->_cb = cb;
}

#endif
