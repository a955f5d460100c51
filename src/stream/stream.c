/* Streams over a socket: reading on edge-triggered epoll, writes that try the socket first,
 * one ordered request queue, backpressure, and the two-phase close.
 *
 * The request queue (s->_reqs) holds connects, writes and shutdowns in the order they must
 * complete. The kernel finishes them in that order too, so the finished ones always form a
 * prefix of the queue: the pending phase reaps that prefix (running callbacks in order), and
 * the flush starts at the first unfinished request. One queue and one pending entry per
 * stream keep an idle connection small (see DESIGN "small idle connections").
 *
 * Edge-triggered reads: the descriptor is registered once, with EPOLLIN, on the first
 * read_start (or connect, or first partial write) and never modified for reading again.
 * read_stop costs no syscall; an edge that arrives while stopped is remembered
 * (EDDY__S_READABLE) and read_start replays it from the pending phase.
 *
 * Fairness: reads take at most READS_PER_EVENT buffers and a flush sends at most
 * EDDY__WRITE_BUDGET bytes (each sendfile or sendmsg at most EDDY__SEND_MAX) per turn; what is
 * left continues from the next pending phase (EDDY__S_READ_DEFER, EDDY__S_WRITE_DEFER),
 * because edge-triggered epoll reports neither again. */
#include "stream/stream_internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include <unistd.h>

_Static_assert(sizeof(eddy_buf_t) == sizeof(struct iovec) &&
                   offsetof(eddy_buf_t, base) == offsetof(struct iovec, iov_base) &&
                   offsetof(eddy_buf_t, len) == offsetof(struct iovec, iov_len),
               "eddy_buf_t must be laid out as struct iovec");

#if UINTPTR_MAX == UINT64_MAX
/* The pipe's slots share memory with _alloc_cb/_drain_cb and the vtable lives in the static
 * ops: non-socket streams cost a socket nothing (DESIGN: small idle connections). */
_Static_assert(sizeof(eddy_tcp_t) == 160, "eddy_tcp_t grew");
#endif

/* Buffers gathered into one sendmsg from the queue (IOV_MAX is 1024 on Linux). */
#define IOV_BATCH 256
/* Reads per readiness event before yielding to other descriptors (the rest comes from the
 * pending phase, which edge-triggering would otherwise never report again). */
#define READS_PER_EVENT 32
/* send_file's answer when the flush's budget is spent and bytes are left. */
#define FLUSH_YIELD 1

static void stream_io(eddy_loop_t *loop, eddy_io_t *io, unsigned revents);
static void stream_pending(eddy_loop_t *loop, eddy_pending_t *p);
static void stream_close(eddy_handle_t *h);
static void stream_closed(eddy_handle_t *h);

static const struct eddy__handle_ops stream_ops = {.close = stream_close, .closed = stream_closed};

/* Sockets take the direct path; every other stream type goes through its vtable. One compare
 * with a constant address, and no indirect call, on the socket's hot path. */
static inline bool is_socket(const eddy_stream_t *s)
{
    return s->handle._ops == &stream_ops;
}

/* ---- small helpers ------------------------------------------------------------------------- */

static inline bool has(const eddy_stream_t *s, unsigned f)
{
    return (s->handle._flags & f) != 0;
}

static inline void set(eddy_stream_t *s, unsigned f)
{
    s->handle._flags |= f;
}

static inline void clear(eddy_stream_t *s, unsigned f)
{
    s->handle._flags &= ~f;
}

static inline struct eddy__stream_req *req_of(eddy_queue_t *q)
{
    return eddy_container_of(q, struct eddy__stream_req, _node);
}

static inline eddy_write_t *write_of(struct eddy__stream_req *r)
{
    return eddy_container_of(r, eddy_write_t, _req);
}

/* A stream is active while it reads, listens, or has requests in flight (libuv's rule). */
void eddy__stream_update_active(eddy_stream_t *s)
{
    if (has(s, EDDY__H_CLOSING)) return;
    if (has(s, EDDY__S_READING | EDDY__S_LISTENING) || !eddy__queue_empty(&s->_reqs))
        eddy__handle_start(&s->handle);
    else
        eddy__handle_stop(&s->handle);
}

/* Queues the stream's one pending entry; the pending phase then does whatever is due. */
static void schedule(eddy_stream_t *s)
{
    if (has(s, EDDY__S_PENDING | EDDY__H_CLOSING)) return;
    set(s, EDDY__S_PENDING);
    eddy__pending_add(s->handle.loop, &s->_pending, stream_pending);
}

static int watch(eddy_stream_t *s, unsigned events)
{
    return eddy__backend_watch(s->handle.loop, &s->_io, events);
}

static inline bool below_mark(const eddy_stream_t *s)
{
    return s->_write_queue_size < s->_hwm || s->_write_queue_size == 0;
}

static void mark_done(eddy_stream_t *s, struct eddy__stream_req *r, int status)
{
    r->_status = status;
    r->_state |= EDDY__REQ_DONE | EDDY__REQ_REAPABLE;
    schedule(s);
}

static void free_bufs(eddy_write_t *w)
{
    if (w->_bufs != NULL && w->_bufs != w->_inline) free(w->_bufs);
    w->_bufs = NULL;
}

/* ---- init, descriptor ---------------------------------------------------------------------- */

static void conn_fields_init(eddy_stream_t *s)
{
    s->_read_cb = NULL;
    s->_alloc_cb = NULL;
    s->_write_queue_size = 0;
    s->_drain_cb = NULL;
    s->_hwm = EDDY_STREAM_HWM_DEFAULT;
}

void eddy__stream_init(eddy_loop_t *loop, eddy_stream_t *s, eddy_handle_type type)
{
    eddy__handle_init(loop, &s->handle, type, &stream_ops);
    eddy__io_init(&s->_io, -1, stream_io);
    eddy__queue_init(&s->_pending._node);
    s->_pending._cb = NULL;
    eddy__queue_init(&s->_reqs);
    conn_fields_init(s);
}

void eddy__stream_set_fd(eddy_stream_t *s, int fd, unsigned flags)
{
    assert(s->_io._fd < 0);
    eddy__io_init(&s->_io, fd, stream_io);
    set(s, flags & (EDDY__S_CAN_READ | EDDY__S_CAN_WRITE));
}

/* ---- reading ------------------------------------------------------------------------------- */

/* Reading is over (EOF or an error): the callback is told once, and the stream stops. */
static void read_end(eddy_stream_t *s, ssize_t status, const eddy_buf_t *buf)
{
    clear(s, EDDY__S_READING | EDDY__S_READABLE | EDDY__S_CAN_READ | EDDY__S_READ_DEFER);
    eddy__stream_update_active(s);
    s->_read_cb(s, status, buf);
}

static bool read_buffer(eddy_stream_t *s, eddy_buf_t *buf)
{
    if (s->_alloc_cb && !has(s, EDDY__S_PIPE_SRC)) {
        *buf = eddy_buf_init(NULL, 0);
        s->_alloc_cb(s, EDDY__READ_BUF_SIZE, buf);
    } else {
        size_t size;
        buf->base = eddy__loop_read_buf(s->handle.loop, &size);
        buf->len = size;
    }
    return buf->base != NULL && buf->len > 0;
}

/* Drains the socket into the read callback. A short read ends the drain without the extra
 * read(2) that would return EAGAIN: data arriving after it raises a new edge. Only a hang-up
 * already reported must be read through to EOF, since it raises no further edge. */
static void stream_read(eddy_stream_t *s)
{
    for (int i = 0; i < READS_PER_EVENT; i++) {
        if (!has(s, EDDY__S_READING)) return;
        eddy_buf_t buf;
        if (!read_buffer(s, &buf)) {
            /* No memory to read into: stop, keep the data, let the user start again. */
            clear(s, EDDY__S_READING | EDDY__S_READ_DEFER);
            eddy__stream_update_active(s);
            s->_read_cb(s, -ENOBUFS, &buf);
            return;
        }
        ssize_t n = read(s->_io._fd, buf.base, buf.len);
        if (n > 0) {
            bool drained = (size_t)n < buf.len && !has(s, EDDY__S_HUP);
            if (drained) clear(s, EDDY__S_READABLE);
            buf.len = (size_t)n; /* lend exactly the data: echoing buf sends what arrived */
            s->_read_cb(s, n, &buf);
            if (drained) return;
        } else if (n == 0) {
            read_end(s, EDDY_EOF, &buf);
            return;
        } else if (errno == EAGAIN) {
            clear(s, EDDY__S_READABLE);
            if (s->_alloc_cb && !has(s, EDDY__S_PIPE_SRC)) /* hand the unused buffer back */
                s->_read_cb(s, 0, &buf);
            return;
        } else if (errno != EINTR) {
            read_end(s, -errno, &buf);
            return;
        }
    }
    /* The budget ran out with data left: continue in the pending phase, after the others. */
    if (has(s, EDDY__S_READING)) {
        set(s, EDDY__S_READ_DEFER);
        schedule(s);
    }
}

EDDY_EXPORT int eddy_stream_read_start(eddy_stream_t *s, eddy_alloc_cb alloc_cb,
                                       eddy_read_cb read_cb)
{
    assert(s != NULL && read_cb != NULL);
    if (!is_socket(s)) return eddy__vstream_read_start(s, alloc_cb, read_cb);
    if (has(s, EDDY__H_CLOSING) || !has(s, EDDY__S_CAN_READ) || s->_io._fd < 0) return -ENOTCONN;
    s->_read_cb = read_cb;
    s->_alloc_cb = alloc_cb;
    if (has(s, EDDY__S_READING)) return 0;
    if (!(s->_io._events & EDDY__IO_READ)) {
        /* First registration: epoll reports data that is already there. */
        int err = watch(s, EDDY__IO_READ | (s->_io._events & EDDY__IO_WRITE));
        if (err) return err;
    }
    set(s, EDDY__S_READING);
    eddy__stream_update_active(s);
    if (has(s, EDDY__S_READABLE)) {
        /* An edge arrived while stopped and will not be reported again: replay it. */
        set(s, EDDY__S_READ_DEFER);
        schedule(s);
    }
    return 0;
}

EDDY_EXPORT int eddy_stream_read_stop(eddy_stream_t *s)
{
    assert(s != NULL);
    clear(s, EDDY__S_READING | EDDY__S_READ_DEFER);
    eddy__stream_update_active(s);
    return 0;
}

/* ---- writing ------------------------------------------------------------------------------- */

/* Every send carries MSG_NOSIGNAL: a peer that went away gives EPIPE, never SIGPIPE. */
static ssize_t send_iov(int fd, const struct iovec *iov, size_t n)
{
    ssize_t r;
    if (n == 1) {
        do
            r = send(fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
        while (r < 0 && errno == EINTR);
    } else {
        struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = n};
        do
            r = sendmsg(fd, &m, MSG_NOSIGNAL);
        while (r < 0 && errno == EINTR);
    }
    return r;
}

static int arm_write(eddy_stream_t *s)
{
    return watch(s, EDDY__IO_READ | EDDY__IO_WRITE);
}

static void disarm_write(eddy_stream_t *s)
{
    if (s->_io._events & EDDY__IO_WRITE)
        watch(s, EDDY__IO_READ); /* a failure leaves a spurious EPOLLOUT: harmless */
}

static eddy_queue_t *first_undone(eddy_stream_t *s)
{
    eddy_queue_t *q = s->_reqs.next;
    while (q != &s->_reqs && (req_of(q)->_state & EDDY__REQ_DONE))
        q = q->next;
    return q;
}

/* Ends every unfinished write and shutdown with status (a write error, or a failed connect's
 * EDDY_ECANCELED); the stream accepts no more writes. */
static void fail_writes(eddy_stream_t *s, int status)
{
    for (eddy_queue_t *q = first_undone(s); q != &s->_reqs; q = q->next) {
        struct eddy__stream_req *r = req_of(q);
        if (r->_type == EDDY__REQ_WRITE) {
            eddy_write_t *w = write_of(r);
            for (unsigned i = w->_index; i < w->_nbufs; i++)
                s->_write_queue_size -= w->_bufs[i].len;
            free_bufs(w);
        } else if (r->_type == EDDY__REQ_SENDFILE) {
            eddy_sendfile_t *f = eddy_container_of(r, eddy_sendfile_t, _req);
            s->_write_queue_size -= f->_len;
            f->_len = 0;
        }
        if (r->_type != EDDY__REQ_CONNECT) mark_done(s, r, status);
    }
    clear(s, EDDY__S_WRITE_QUEUED | EDDY__S_WRITE_DEFER | EDDY__S_CAN_WRITE);
    set(s, EDDY__S_WRITE_END);
    disarm_write(s);
    if (has(s, EDDY__S_NEED_DRAIN)) schedule(s);
}

/* Accounts `sent` bytes to the writes from q on; returns the first one not finished. */
static eddy_queue_t *consume(eddy_stream_t *s, eddy_queue_t *q, size_t sent)
{
    for (; q != &s->_reqs; q = q->next) {
        struct eddy__stream_req *r = req_of(q);
        if (r->_type != EDDY__REQ_WRITE) break;
        eddy_write_t *w = write_of(r);
        for (; w->_index < w->_nbufs; w->_index++) {
            eddy_buf_t *b = &w->_bufs[w->_index];
            if (sent < b->len) {
                b->base += sent;
                b->len -= sent;
                s->_write_queue_size -= sent;
                return q;
            }
            sent -= b->len;
            s->_write_queue_size -= b->len;
        }
        free_bufs(w);
        mark_done(s, r, 0);
    }
    return q;
}

static void do_shutdown(eddy_stream_t *s, struct eddy__stream_req *r)
{
    int status = shutdown(s->_io._fd, SHUT_WR) == 0 ? 0 : -errno;
    mark_done(s, r, status);
}

/* Sends a queued file with sendfile(2), EDDY__SEND_MAX bytes a call at most, until it is all
 * out (0), the socket is full (-EAGAIN), *budget is spent with bytes left (FLUSH_YIELD), or an
 * error. A file shorter than promised is an error (-EIO): the peer was told a length. */
static int send_file(eddy_stream_t *s, eddy_sendfile_t *f, size_t *budget)
{
    while (f->_len > 0) {
        if (*budget == 0) return FLUSH_YIELD;
        off_t off = (off_t)f->_offset;
        size_t n = *budget < EDDY__SEND_MAX ? *budget : EDDY__SEND_MAX;
        if (f->_len < n) n = (size_t)f->_len;
        ssize_t sent = sendfile(s->_io._fd, f->_fd, &off, n);
        if (sent > 0) {
            f->_offset += sent;
            f->_len -= (uint64_t)sent;
            s->_write_queue_size -= (size_t)sent;
            *budget -= (size_t)sent;
        } else if (sent == 0) {
            return -EIO;
        } else if (errno != EINTR) {
            return -errno;
        }
    }
    return 0;
}

/* Gathers the queued writes from q on into iov, at most IOV_BATCH buffers and `cap` bytes
 * (the last buffer is cut short to fit); returns the buffer count and sets *want. */
static size_t gather_iov(eddy_stream_t *s, eddy_queue_t *q, struct iovec *iov, size_t cap,
                         size_t *want)
{
    size_t n = 0;
    *want = 0;
    for (eddy_queue_t *g = q; g != &s->_reqs && n < IOV_BATCH && *want < cap; g = g->next) {
        if (req_of(g)->_type != EDDY__REQ_WRITE) break;
        eddy_write_t *w = write_of(req_of(g));
        for (unsigned i = w->_index; i < w->_nbufs && n < IOV_BATCH && *want < cap; i++) {
            size_t len = w->_bufs[i].len < cap - *want ? w->_bufs[i].len : cap - *want;
            iov[n].iov_base = w->_bufs[i].base;
            iov[n].iov_len = len;
            *want += iov[n++].iov_len;
        }
    }
    return n;
}

/* The flush gave the loop back with data left: the pending phase of the next iteration goes on
 * (stream_pending). Stopping before EAGAIN means edge-triggered epoll will not report the
 * socket again, so the loop must remember it; until then stream_io leaves the socket's write
 * readiness to that pending entry, so one stream moves at most one budget per flush. */
static void flush_later(eddy_stream_t *s)
{
    set(s, EDDY__S_WRITE_DEFER);
    schedule(s);
}

/* Sends queued writes, many requests per sendmsg, until the queue is empty, the socket is full
 * or EDDY__WRITE_BUDGET bytes went out (then it goes on from the pending phase, so a fast peer
 * cannot keep the loop from its other handles); EPOLLOUT stays armed exactly while the socket
 * was left full with something queued. */
static void flush(eddy_stream_t *s)
{
    size_t budget = EDDY__WRITE_BUDGET;
    eddy_queue_t *q = first_undone(s);
    while (q != &s->_reqs) {
        struct eddy__stream_req *r = req_of(q);
        if (r->_type == EDDY__REQ_SHUTDOWN) {
            do_shutdown(s, r);
            q = q->next;
            continue;
        }
        if (budget == 0) {
            flush_later(s);
            goto out;
        }
        if (r->_type == EDDY__REQ_SENDFILE) {
            int err = send_file(s, eddy_container_of(r, eddy_sendfile_t, _req), &budget);
            if (err == FLUSH_YIELD) {
                flush_later(s);
                goto out;
            }
            if (err == -EAGAIN && arm_write(s) != 0) err = -ENOMEM;
            if (err == -EAGAIN) goto out;
            if (err < 0) {
                fail_writes(s, err);
                goto out;
            }
            mark_done(s, r, 0);
            q = q->next;
            continue;
        }
        struct iovec iov[IOV_BATCH];
        size_t want;
        size_t cap = budget < EDDY__SEND_MAX ? budget : EDDY__SEND_MAX;
        size_t n = gather_iov(s, q, iov, cap, &want);
        ssize_t sent = want == 0 ? 0 : send_iov(s->_io._fd, iov, n);
        if (sent < 0) {
            int err = errno;
            if (err != EAGAIN)
                fail_writes(s, -err);
            else if (arm_write(s) != 0)
                fail_writes(s, -ENOMEM);
            goto out;
        }
        budget -= (size_t)sent;
        q = consume(s, q, (size_t)sent);
        if ((size_t)sent < want) {
            if (arm_write(s) != 0) fail_writes(s, -ENOMEM);
            goto out;
        }
    }
    clear(s, EDDY__S_WRITE_QUEUED);
    disarm_write(s);
out:
    if (has(s, EDDY__S_NEED_DRAIN) && below_mark(s)) schedule(s);
}

/* Copies bufs[0..nbufs) minus the first `skip` bytes into the request. */
static int copy_bufs(eddy_write_t *w, const eddy_buf_t *bufs, unsigned nbufs, size_t skip)
{
    unsigned first = 0;
    while (first < nbufs && skip >= bufs[first].len) {
        skip -= bufs[first].len;
        first++;
    }
    unsigned count = nbufs - first;
    w->_bufs = count <= 4 ? w->_inline : malloc(count * sizeof *w->_bufs);
    if (w->_bufs == NULL) return -ENOMEM;
    memcpy(w->_bufs, bufs + first, count * sizeof *bufs);
    if (count > 0) {
        w->_bufs[0].base += skip;
        w->_bufs[0].len -= skip;
    }
    w->_nbufs = count;
    w->_index = 0;
    return 0;
}

static int backpressure(eddy_stream_t *s)
{
    if (below_mark(s)) return 0;
    set(s, EDDY__S_NEED_DRAIN);
    return EDDY_STREAM_FULL;
}

/* Copies up to IOV_BATCH of the caller's buffers into iov, cut to `cap` bytes in all (the last
 * one is cut short to fit); returns the count and sets *want to the bytes they hold. */
static size_t cap_iov(const eddy_buf_t *bufs, unsigned nbufs, struct iovec *iov, size_t cap,
                      size_t *want)
{
    size_t n = 0;
    *want = 0;
    for (unsigned i = 0; i < nbufs && n < IOV_BATCH && *want < cap; i++) {
        iov[n].iov_base = bufs[i].base;
        iov[n].iov_len = bufs[i].len < cap - *want ? bufs[i].len : cap - *want;
        *want += iov[n++].iov_len;
    }
    return n;
}

/* The fast path: nothing is queued, so try the socket now, with at most EDDY__SEND_MAX bytes
 * (one send of a huge buffer to a fast peer would hold the loop as an uncapped sendfile does).
 * Only what it leaves is copied; a write it takes whole costs no allocation and completes in
 * the next pending phase. */
static void write_now(eddy_stream_t *s, eddy_write_t *w, const eddy_buf_t *bufs, unsigned nbufs,
                      size_t total)
{
    struct iovec iov[IOV_BATCH];
    size_t want;
    size_t n = cap_iov(bufs, nbufs, iov, EDDY__SEND_MAX, &want);
    ssize_t sent = want == 0 ? 0 : send_iov(s->_io._fd, iov, n);
    int err = sent < 0 ? errno : 0;
    if (sent < 0 && err != EAGAIN) {
        eddy__stream_enqueue(s, &w->_req);
        mark_done(s, &w->_req, -err);
        clear(s, EDDY__S_CAN_WRITE);
        set(s, EDDY__S_WRITE_END);
        return;
    }
    size_t done = sent < 0 ? 0 : (size_t)sent;
    if (done == total) {
        eddy__stream_enqueue(s, &w->_req);
        mark_done(s, &w->_req, 0);
        return;
    }
    /* Partial: the rest waits for EPOLLOUT if the socket is full, or for the next pending
     * phase if it took all it was offered. With at most 4 buffers nothing is allocated. */
    err = copy_bufs(w, bufs, nbufs, done);
    eddy__stream_enqueue(s, &w->_req);
    if (err == 0) {
        s->_write_queue_size += total - done;
        set(s, EDDY__S_WRITE_QUEUED);
        if (sent >= 0 && done == want)
            flush_later(s);
        else
            err = arm_write(s);
    }
    if (err != 0) /* part of the data left already; the stream cannot go on */
        fail_writes(s, err);
}

EDDY_EXPORT int eddy_stream_write(eddy_write_t *w, eddy_stream_t *s, const eddy_buf_t bufs[],
                                  unsigned nbufs, eddy_write_cb cb)
{
    assert(w != NULL && s != NULL && (bufs != NULL || nbufs == 0));
    if (!is_socket(s)) return eddy__vstream_write(w, s, bufs, nbufs, cb);
    if (!has(s, EDDY__S_CAN_WRITE) || has(s, EDDY__H_CLOSING)) return eddy__stream_not_writable(s);
    w->handle = s;
    w->_cb = cb;
    w->_req._type = EDDY__REQ_WRITE;
    w->_req._state = 0;
    w->_req._status = 0;
    w->_bufs = NULL;
    w->_nbufs = 0;
    w->_index = 0;
    size_t total = 0;
    for (unsigned i = 0; i < nbufs; i++)
        total += bufs[i].len;

    if (!has(s, EDDY__S_WRITE_QUEUED | EDDY__S_CONNECTING)) {
        write_now(s, w, bufs, nbufs, total);
    } else {
        /* Behind other writes (or a connect): keep the order, copy the buffer array. */
        int err = copy_bufs(w, bufs, nbufs, 0);
        if (err) return err;
        eddy__stream_enqueue(s, &w->_req);
        s->_write_queue_size += total;
        set(s, EDDY__S_WRITE_QUEUED);
    }
    return backpressure(s);
}

EDDY_EXPORT ssize_t eddy_stream_try_write(eddy_stream_t *s, const eddy_buf_t bufs[], unsigned nbufs)
{
    assert(s != NULL && (bufs != NULL || nbufs == 0));
    if (!has(s, EDDY__S_CAN_WRITE) || has(s, EDDY__H_CLOSING)) return eddy__stream_not_writable(s);
    if (has(s, EDDY__S_WRITE_QUEUED | EDDY__S_CONNECTING) || !is_socket(s))
        return -EAGAIN; /* writing now would overtake the queue (or the stream has no socket) */
    struct iovec iov[IOV_BATCH];
    size_t want;
    size_t n = cap_iov(bufs, nbufs, iov, EDDY__SEND_MAX, &want);
    if (want == 0) return 0;
    ssize_t sent = send_iov(s->_io._fd, iov, n);
    return sent >= 0 ? sent : -errno;
}

EDDY_EXPORT int eddy_stream_shutdown(eddy_shutdown_t *req, eddy_stream_t *s, eddy_shutdown_cb cb)
{
    assert(req != NULL && s != NULL);
    if (!is_socket(s)) return eddy__vstream_shutdown(req, s, cb);
    if (!has(s, EDDY__S_CAN_WRITE) || has(s, EDDY__H_CLOSING)) return -ENOTCONN;
    req->handle = s;
    req->_cb = cb;
    req->_req._type = EDDY__REQ_SHUTDOWN;
    req->_req._state = 0;
    req->_req._status = 0;
    clear(s, EDDY__S_CAN_WRITE);
    set(s, EDDY__S_WRITE_END);
    eddy__stream_enqueue(s, &req->_req);
    if (has(s, EDDY__S_WRITE_QUEUED | EDDY__S_CONNECTING))
        set(s, EDDY__S_WRITE_QUEUED); /* after the writes (and the connect) */
    else
        do_shutdown(s, &req->_req);
    return 0;
}

EDDY_EXPORT int eddy_stream_sendfile(eddy_sendfile_t *req, eddy_stream_t *s, int fd,
                                     int64_t offset, uint64_t len, eddy_sendfile_cb cb)
{
    assert(req != NULL && s != NULL);
    if (!is_socket(s)) return -ENOTSUP;
    if (fd < 0 || offset < 0) return -EINVAL;
    if (!has(s, EDDY__S_CAN_WRITE) || has(s, EDDY__H_CLOSING)) return eddy__stream_not_writable(s);
    req->handle = s;
    req->_cb = cb;
    req->_req._type = EDDY__REQ_SENDFILE;
    req->_req._state = 0;
    req->_req._status = 0;
    req->_fd = fd;
    req->_offset = offset;
    req->_len = len;
    eddy__stream_enqueue(s, &req->_req);
    s->_write_queue_size += len;
    bool behind = has(s, EDDY__S_WRITE_QUEUED | EDDY__S_CONNECTING);
    set(s, EDDY__S_WRITE_QUEUED);
    if (!behind) flush(s); /* nothing ahead of it: send what the socket takes now */
    return backpressure(s);
}

EDDY_EXPORT size_t eddy_stream_write_queue_size(const eddy_stream_t *s)
{
    return has(s, EDDY__S_LISTENING) ? 0 : s->_write_queue_size;
}

EDDY_EXPORT void eddy_stream_set_high_water_mark(eddy_stream_t *s, size_t bytes)
{
    assert(!has(s, EDDY__S_LISTENING));
    s->_hwm = bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)bytes;
    if (bytes == 0) s->_hwm = 1; /* 0 would make every write FULL and never drain */
    if (has(s, EDDY__S_NEED_DRAIN) && below_mark(s)) schedule(s);
}

EDDY_EXPORT size_t eddy_stream_get_high_water_mark(const eddy_stream_t *s)
{
    return s->_hwm;
}

EDDY_EXPORT void eddy_stream_set_drain_cb(eddy_stream_t *s, eddy_drain_cb cb)
{
    assert(!has(s, EDDY__S_LISTENING));
    if (has(s, EDDY__S_PIPE_DST))
        s->_pipe_dst->_saved_drain = cb; /* given back when the pipe ends */
    else
        s->_drain_cb = cb;
}

EDDY_EXPORT int eddy_stream_is_readable(const eddy_stream_t *s)
{
    return has(s, EDDY__S_CAN_READ) && !has(s, EDDY__H_CLOSING);
}

EDDY_EXPORT int eddy_stream_is_writable(const eddy_stream_t *s)
{
    return has(s, EDDY__S_CAN_WRITE) && !has(s, EDDY__H_CLOSING);
}

/* ---- the loop's side: readiness, the pending phase, closing -------------------------------- */

static void stream_io(eddy_loop_t *loop, eddy_io_t *io, unsigned revents)
{
    eddy_stream_t *s = eddy_container_of(io, eddy_stream_t, _io);
    if (has(s, EDDY__S_LISTENING)) {
        eddy__stream_accept_all(s);
        return;
    }
    if (has(s, EDDY__S_CONNECTING)) {
        if (!(revents & (EDDY__IO_WRITE | EDDY__IO_ERR | EDDY__IO_HUP))) return;
        eddy__stream_connect_done(s);
    }
    if (revents & EDDY__IO_HUP) set(s, EDDY__S_HUP);
    if (revents & EDDY__IO_READ) {
        set(s, EDDY__S_READABLE);
        stream_read(s);
    }
    if (has(s, EDDY__H_CLOSING)) return;
    if (has(s, EDDY__S_WRITE_DEFER)) {
        /* The pending phase goes on with this flush (flush_later): not a second budget now. */
    } else if (has(s, EDDY__S_WRITE_QUEUED)) {
        if (revents & (EDDY__IO_WRITE | EDDY__IO_ERR)) flush(s);
    } else if (revents & EDDY__IO_WRITE) {
        disarm_write(s);
    }
}

/* Flushes what a finished connect let through (or drops EPOLLOUT interest). */
void eddy__stream_after_connect(eddy_stream_t *s)
{
    if (has(s, EDDY__S_WRITE_QUEUED))
        flush(s);
    else
        disarm_write(s);
}

/* A failed connect cancels the writes queued behind it, and reading never starts. */
void eddy__stream_cancel_writes(eddy_stream_t *s)
{
    fail_writes(s, -ECANCELED);
    clear(s, EDDY__S_CAN_READ | EDDY__S_CAN_WRITE | EDDY__S_READING | EDDY__S_READABLE |
                 EDDY__S_READ_DEFER);
    eddy__stream_update_active(s);
}

void eddy__stream_schedule(eddy_stream_t *s)
{
    schedule(s);
}

static void finish_req(eddy_stream_t *s, struct eddy__stream_req *r, int status)
{
    eddy__req_unregister(s->handle.loop);
    switch (r->_type) {
    case EDDY__REQ_WRITE: {
        eddy_write_t *w = write_of(r);
        if (w->_bufs != NULL) /* still queued: cancelled */
            for (unsigned i = w->_index; i < w->_nbufs; i++)
                s->_write_queue_size -= w->_bufs[i].len;
        free_bufs(w);
        if (w->_cb) w->_cb(w, status);
        break;
    }
    case EDDY__REQ_SENDFILE: {
        eddy_sendfile_t *f = eddy_container_of(r, eddy_sendfile_t, _req);
        s->_write_queue_size -= f->_len; /* still queued: cancelled */
        f->_len = 0;
        if (f->_cb) f->_cb(f, status);
        break;
    }
    case EDDY__REQ_SHUTDOWN: {
        eddy_shutdown_t *sh = eddy_container_of(r, eddy_shutdown_t, _req);
        if (sh->_cb) sh->_cb(sh, status);
        break;
    }
    case EDDY__REQ_CONNECT: {
        eddy_connect_t *c = eddy_container_of(r, eddy_connect_t, _req);
        if (c->_cb) c->_cb(c, status);
        break;
    }
    default:
        assert(0 && "corrupt stream request");
    }
}

/* Runs the callbacks of the finished prefix of the queue, in order. Requests finished by
 * those callbacks wait for the next pending phase, so a callback that writes again cannot
 * keep this loop going for ever. */
static void reap(eddy_stream_t *s)
{
    eddy_queue_t *last = s->_reqs.prev;
    while (!eddy__queue_empty(&s->_reqs)) {
        eddy_queue_t *q = s->_reqs.next;
        struct eddy__stream_req *r = req_of(q);
        if (!(r->_state & EDDY__REQ_REAPABLE)) break;
        bool was_last = q == last;
        eddy__queue_remove(q);
        finish_req(s, r, r->_status);
        if (was_last || has(s, EDDY__H_CLOSING)) break;
    }
    eddy__stream_update_active(s);
}

static void stream_pending(eddy_loop_t *loop, eddy_pending_t *p)
{
    eddy_stream_t *s = eddy_container_of(p, eddy_stream_t, _pending);
    clear(s, EDDY__S_PENDING);
    if (has(s, EDDY__S_LISTENING)) {
        if (!has(s, EDDY__S_ACCEPT_PAUSED)) eddy__stream_accept_all(s);
        return;
    }
    reap(s);
    if (has(s, EDDY__H_CLOSING)) return;
    if (has(s, EDDY__S_NEED_DRAIN) && below_mark(s) && !has(s, EDDY__S_WBLOCKED)) {
        clear(s, EDDY__S_NEED_DRAIN);
        if (has(s, EDDY__S_PIPE_DST))
            eddy__pipe_drain(s->_pipe_dst);
        else if (s->_drain_cb)
            s->_drain_cb(s);
        if (has(s, EDDY__H_CLOSING)) return;
    }
    if (!is_socket(s)) {
        const struct eddy__stream_vtbl *vt = eddy__stream_vtbl(s);
        if (vt->pending) vt->pending(s);
        return;
    }
    if (has(s, EDDY__S_WRITE_DEFER)) {
        /* A flush that spent its budget goes on (flush_later); it runs no user callback. */
        clear(s, EDDY__S_WRITE_DEFER);
        if (has(s, EDDY__S_WRITE_QUEUED)) flush(s);
    }
    if (has(s, EDDY__S_READ_DEFER)) {
        clear(s, EDDY__S_READ_DEFER);
        if (has(s, EDDY__S_READABLE)) stream_read(s);
    }
}

/* Inside eddy_close: stop everything and release the descriptor. Callbacks wait for the close
 * phase (stream_closed). */
static void stream_close(eddy_handle_t *h)
{
    eddy_stream_t *s = eddy_container_of(h, eddy_stream_t, handle);
    if (has(s, EDDY__S_PENDING)) {
        eddy__pending_remove(&s->_pending);
        clear(s, EDDY__S_PENDING);
    }
    if (has(s, EDDY__S_PIPE_SRC | EDDY__S_PIPE_DST)) eddy__pipe_stream_closing(s);
    eddy__stream_close_connect(s);
    if (s->_io._fd >= 0) {
        eddy__backend_unwatch(h->loop, &s->_io);
        close(s->_io._fd);
        s->_io._fd = -1;
    }
    if (has(s, EDDY__S_LISTENING)) eddy__stream_close_listener(s);
    clear(s, EDDY__S_READING | EDDY__S_READABLE | EDDY__S_CAN_READ | EDDY__S_CAN_WRITE |
                 EDDY__S_CONNECTING | EDDY__S_WRITE_QUEUED | EDDY__S_WRITE_DEFER |
                 EDDY__S_NEED_DRAIN | EDDY__S_READ_DEFER | EDDY__S_ACCEPT_PAUSED);
}

/* In the close phase, before the user's close callback: every request still queued gets its
 * callback, finished ones with their status, the rest with EDDY_ECANCELED. */
static void stream_closed(eddy_handle_t *h)
{
    eddy__stream_cancel_all(eddy_container_of(h, eddy_stream_t, handle));
}

void eddy__stream_cancel_all(eddy_stream_t *s)
{
    while (!eddy__queue_empty(&s->_reqs)) {
        struct eddy__stream_req *r = req_of(s->_reqs.next);
        /* A connect's timer was closed before the stream (its close came first). */
        assert(!(r->_state & EDDY__REQ_TIMER) || (r->_state & EDDY__REQ_REAPABLE));
        eddy__queue_remove(&r->_node);
        finish_req(s, r, (r->_state & EDDY__REQ_DONE) ? r->_status : -ECANCELED);
    }
}

/* ---- shared with the non-socket streams (vstream.c and the types built on it) -------------- */

void eddy__stream_mark_done(eddy_stream_t *s, struct eddy__stream_req *r, int status)
{
    mark_done(s, r, status);
}

eddy_queue_t *eddy__stream_first_undone(eddy_stream_t *s)
{
    return first_undone(s);
}

eddy_queue_t *eddy__stream_consume(eddy_stream_t *s, eddy_queue_t *q, size_t sent)
{
    return consume(s, q, sent);
}

int eddy__stream_copy_bufs(eddy_write_t *w, const eddy_buf_t *bufs, unsigned nbufs, size_t skip)
{
    return copy_bufs(w, bufs, nbufs, skip);
}

void eddy__stream_fail_writes(eddy_stream_t *s, int status)
{
    fail_writes(s, status);
}
