/* The socket half of a stream, shared by TCP and Unix sockets: listening, accepting (with
 * EMFILE survival) and connecting (with an optional timeout carried by the request). */
#include "stream/stream_internal.h"

#include <fcntl.h>
#include <unistd.h>

static inline bool has(const eddy_stream_t *s, unsigned f)
{
    return (s->handle._flags & f) != 0;
}

/* ---- listening and accepting --------------------------------------------------------------- */

/* The reserve descriptor: when accept fails with EMFILE, closing it frees exactly one slot,
 * enough to accept each waiting connection and close it at once. Without that, a connection
 * the kernel queued could never be taken, and an edge-triggered listener would never be told
 * about it again. */
static int open_reserve(void)
{
    return open("/", O_RDONLY | O_CLOEXEC);
}

int eddy__stream_listen(eddy_stream_t *s, int backlog, eddy_connection_cb cb)
{
    assert(s != NULL && cb != NULL);
    if (has(s, EDDY__H_CLOSING) || s->_io._fd < 0) return -EINVAL;
    bool listening = has(s, EDDY__S_LISTENING);
    if (!listening &&
        (has(s, EDDY__S_READING | EDDY__S_CONNECTING | EDDY__S_CAN_READ | EDDY__S_CAN_WRITE) ||
         !eddy__queue_empty(&s->_reqs)))
        return -EISCONN;
    if (listen(s->_io._fd, backlog) != 0) return -errno;
    if (!listening) {
        int err = eddy__backend_watch(s->handle.loop, &s->_io, EDDY__IO_READ);
        if (err) return err;
        /* From here on the handle's union holds the listener's fields. */
        s->_accepted_fd = -1;
        s->_reserve_fd = open_reserve();
        s->_dropped = 0;
        s->handle._flags |= EDDY__S_LISTENING;
        eddy__stream_update_active(s);
    }
    s->_connection_cb = cb;
    return 0;
}

/* Out of descriptors: accept every waiting connection through the reserve slot and close it
 * (the client sees EOF), so the backlog empties and the listener lives on. */
static void drop_backlog(eddy_stream_t *s)
{
    if (s->_reserve_fd < 0) return;
    close(s->_reserve_fd);
    s->_reserve_fd = -1;
    for (;;) {
        int fd = accept4(s->_io._fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0) {
            close(fd);
            s->_dropped++;
        } else if (errno != EINTR && errno != ECONNABORTED) {
            break;
        }
    }
    s->_reserve_fd = open_reserve();
}

/* Accepts until EAGAIN (edge-triggered), announcing each connection to the callback. */
void eddy__stream_accept_all(eddy_stream_t *s)
{
    if (s->_reserve_fd < 0) /* lost to a race for the last slot; try to get it back */
        s->_reserve_fd = open_reserve();
    while (has(s, EDDY__S_LISTENING) && !has(s, EDDY__H_CLOSING)) {
        if (s->_accepted_fd >= 0) {
            /* The callback did not take the last one: wait for eddy_stream_accept. */
            s->handle._flags |= EDDY__S_ACCEPT_PAUSED;
            return;
        }
        int fd = accept4(s->_io._fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            s->_accepted_fd = fd;
            s->_connection_cb(s, 0);
            continue;
        }
        int err = errno;
        if (err == EAGAIN) return;
        if (err == EINTR || err == ECONNABORTED) continue;
        if (err == EMFILE || err == ENFILE) drop_backlog(s);
        /* Other errors (ENOBUFS, EPERM from a firewall) are reported; the next connection
         * raises a new edge, and retrying now could spin. */
        s->_connection_cb(s, -err);
        return;
    }
}

EDDY_EXPORT int eddy_stream_accept(eddy_stream_t *server, eddy_stream_t *client)
{
    assert(server != NULL && client != NULL);
    if (!has(server, EDDY__S_LISTENING) || has(server, EDDY__H_CLOSING)) return -EINVAL;
    if (server->_accepted_fd < 0) return -EAGAIN;
    if (client->handle.type != server->handle.type || has(client, EDDY__H_CLOSING)) return -EINVAL;
    if (client->_io._fd >= 0) return -EISCONN;
    eddy__stream_set_fd(client, server->_accepted_fd, EDDY__S_CAN_READ | EDDY__S_CAN_WRITE);
    server->_accepted_fd = -1;
    if (has(server, EDDY__S_ACCEPT_PAUSED)) {
        server->handle._flags &= ~EDDY__S_ACCEPT_PAUSED;
        eddy__stream_schedule(server); /* the backlog raises no new edge: resume from pending */
    }
    return 0;
}

EDDY_EXPORT uint64_t eddy_stream_dropped_count(const eddy_stream_t *server)
{
    return has(server, EDDY__S_LISTENING) ? server->_dropped : 0;
}

void eddy__stream_close_listener(eddy_stream_t *s)
{
    if (s->_accepted_fd >= 0) close(s->_accepted_fd);
    if (s->_reserve_fd >= 0) close(s->_reserve_fd);
    s->_accepted_fd = s->_reserve_fd = -1;
}

/* ---- connecting ---------------------------------------------------------------------------- */

static void connect_timer_closed(eddy_handle_t *h)
{
    eddy_connect_t *req = eddy_container_of(h, eddy_connect_t, _timer.handle);
    req->_req._state |= EDDY__REQ_REAPABLE;
    eddy__stream_schedule(req->handle); /* a no-op while the stream closes: it reaps us then */
}

static void close_timer(eddy_connect_t *req)
{
    eddy_timer_stop(&req->_timer);
    if (!eddy_is_closing(&req->_timer.handle))
        eddy_close(&req->_timer.handle, connect_timer_closed);
}

/* Records the outcome. The callback runs from the pending phase, once the request's timer (if
 * it has one) is closed and its memory is the user's again. */
static void connect_finish(eddy_stream_t *s, eddy_connect_t *req, int status)
{
    req->_req._status = status;
    req->_req._state |= EDDY__REQ_DONE;
    s->handle._flags &= ~EDDY__S_CONNECTING;
    if (status < 0) eddy__stream_cancel_writes(s);
    if (req->_req._state & EDDY__REQ_TIMER) {
        close_timer(req);
    } else {
        req->_req._state |= EDDY__REQ_REAPABLE;
        eddy__stream_schedule(s);
    }
}

static eddy_connect_t *connect_in_progress(eddy_stream_t *s)
{
    for (eddy_queue_t *q = s->_reqs.next; q != &s->_reqs; q = q->next) {
        struct eddy__stream_req *r = eddy_container_of(q, struct eddy__stream_req, _node);
        if (r->_type == EDDY__REQ_CONNECT && !(r->_state & EDDY__REQ_DONE))
            return eddy_container_of(r, eddy_connect_t, _req);
    }
    return NULL;
}

void eddy__stream_connect_done(eddy_stream_t *s)
{
    eddy_connect_t *req = connect_in_progress(s);
    assert(req != NULL);
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(s->_io._fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    connect_finish(s, req, -err);
    if (err == 0) eddy__stream_after_connect(s);
}

static void connect_timeout(eddy_timer_t *t)
{
    eddy_connect_t *req = eddy_container_of(t, eddy_connect_t, _timer);
    eddy_stream_t *s = req->handle;
    /* Abandon the attempt: connecting to AF_UNSPEC dissolves the association, so the kernel
     * stops retransmitting the SYN. The handle should be closed after this anyway. */
    struct sockaddr unspec = {.sa_family = AF_UNSPEC};
    (void)connect(s->_io._fd, &unspec, sizeof unspec);
    connect_finish(s, req, -ETIMEDOUT);
}

void eddy__stream_close_connect(eddy_stream_t *s)
{
    eddy_connect_t *req = connect_in_progress(s);
    if (req != NULL && (req->_req._state & EDDY__REQ_TIMER))
        close_timer(req); /* closes before the stream does (eddy_close order), see stream.c */
}

int eddy__stream_connect(eddy_connect_t *req, eddy_stream_t *s, const struct sockaddr *addr,
                         socklen_t addrlen, uint64_t timeout_ms, eddy_connect_cb cb)
{
    assert(req != NULL && s != NULL && addr != NULL);
    if (has(s, EDDY__H_CLOSING) || s->_io._fd < 0) return -EINVAL;
    if (has(s, EDDY__S_CONNECTING)) return -EALREADY;
    if (has(s, EDDY__S_LISTENING | EDDY__S_CAN_READ | EDDY__S_CAN_WRITE | EDDY__S_WRITE_END))
        return -EISCONN;
    /* A non-blocking connect interrupted by a signal goes on in the background, like
     * EINPROGRESS; every other error reaches the callback, as a late one would. */
    int status = connect(s->_io._fd, addr, addrlen) == 0 ? 0 : -errno;
    bool in_progress = status == -EINPROGRESS || status == -EINTR;

    req->handle = s;
    req->_cb = cb;
    req->_req._type = EDDY__REQ_CONNECT;
    req->_req._state = 0;
    req->_req._status = 0;
    eddy__queue_insert_tail(&s->_reqs, &req->_req._node);
    eddy__req_register(s->handle.loop);
    /* Writes and read_start are accepted while connecting (they wait for it). */
    s->handle._flags |= EDDY__S_CAN_READ | EDDY__S_CAN_WRITE;
    if (in_progress) {
        status = eddy__backend_watch(s->handle.loop, &s->_io, EDDY__IO_READ | EDDY__IO_WRITE);
        if (status == 0) {
            s->handle._flags |= EDDY__S_CONNECTING;
            if (timeout_ms > 0) {
                eddy_timer_init(s->handle.loop, &req->_timer);
                eddy_unref(&req->_timer.handle); /* the request itself keeps the loop alive */
                eddy_timer_start(&req->_timer, connect_timeout, timeout_ms, 0);
                req->_req._state |= EDDY__REQ_TIMER;
            }
        }
    }
    if (!has(s, EDDY__S_CONNECTING)) connect_finish(s, req, status);
    eddy__stream_update_active(s);
    return 0;
}
