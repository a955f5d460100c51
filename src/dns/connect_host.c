/* Connecting by host name: resolve on the pool, then try each address in turn (Node's
 * net.connect without happy eyeballs), each attempt with its own timeout.
 *
 * A socket whose connect failed cannot be connected again portably, so every attempt gets a
 * fresh one: the request's own handle, _attempt. When an attempt succeeds its descriptor is
 * duplicated, _attempt is closed, and the duplicate is adopted by the user's handle with
 * eddy_tcp_open. The user's handle therefore only ever sees a connected socket, and failed
 * attempts never touch it. The request's callback runs once every handle it opened is closed
 * and every allocation freed. */
#include "stream/stream_internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "eddy/dns.h"
#include "eddy/tcp.h"

enum { STATE_IDLE = 0, STATE_RESOLVING, STATE_CONNECTING, STATE_CLOSING, STATE_DONE };

static void try_next(eddy_connect_host_t *req);

/* Reports the outcome; the request is the user's again inside cb. */
static void finish(eddy_connect_host_t *req, int status)
{
    eddy_getaddrinfo_cleanup(&req->_resolve);
    if (req->_fd >= 0) {
        if (status == 0) {
            status = eddy_tcp_open(req->tcp, req->_fd);
            if (status != 0) close(req->_fd);
        } else {
            close(req->_fd); /* connected, but cancelled before it was handed over */
        }
        req->_fd = -1;
    }
    req->_state = STATE_DONE;
    req->_cb(req, status);
}

static void attempt_closed(eddy_handle_t *h)
{
    eddy_connect_host_t *req = eddy_container_of(h, eddy_connect_host_t, _attempt.stream.handle);
    if (req->_canceled)
        finish(req, -ECANCELED);
    else if (req->_fd >= 0)
        finish(req, 0);
    else
        try_next(req);
}

static void close_attempt(eddy_connect_host_t *req)
{
    req->_state = STATE_CLOSING;
    eddy_close(&req->_attempt.stream.handle, attempt_closed);
}

static void attempt_done(eddy_connect_t *c, int status)
{
    eddy_connect_host_t *req = eddy_container_of(c, eddy_connect_host_t, _connect);
    if (status == 0 && !req->_canceled) {
        /* Keep the connection beyond _attempt's close: a duplicate shares the socket. */
        int fd = fcntl(eddy__stream_fd(&req->_attempt.stream), F_DUPFD_CLOEXEC, 0);
        if (fd >= 0)
            req->_fd = fd;
        else
            req->_status = -errno;
    } else if (status != 0 && status != -ECANCELED) {
        req->_status = status;
    }
    /* On cancellation _attempt is already closing: this callback runs in its close phase. */
    if (!eddy_is_closing(&req->_attempt.stream.handle)) close_attempt(req);
}

/* Starts the next SOCK_STREAM attempt, or reports the last error once the list is exhausted.
 * Every path ends in attempt_closed or finish, never in a second callback. */
static void try_next(eddy_connect_host_t *req)
{
    const struct addrinfo *ai = req->_next;
    while (ai != NULL && ai->ai_socktype != SOCK_STREAM && ai->ai_socktype != 0)
        ai = ai->ai_next;
    if (ai == NULL) {
        finish(req, req->_status);
        return;
    }
    req->_next = ai->ai_next;
    req->attempts++;
    eddy_tcp_init(req->tcp->stream.handle.loop, &req->_attempt);
    req->_attempt.stream.handle.data = req;
    if (req->tcp->stream.handle._flags & EDDY__S_NODELAY) eddy_tcp_nodelay(&req->_attempt, 1);
    req->_state = STATE_CONNECTING;
    int err = eddy_tcp_connect_timeout(&req->_connect, &req->_attempt, ai->ai_addr,
                                       req->_timeout_ms, attempt_done);
    if (err != 0) { /* e.g. EAFNOSUPPORT where IPv6 is off: on to the next address */
        req->_status = err;
        close_attempt(req);
    }
}

static void resolved(eddy_getaddrinfo_t *r, int status, struct addrinfo *res)
{
    eddy_connect_host_t *req = eddy_container_of(r, eddy_connect_host_t, _resolve);
    if (req->_canceled || status != 0) {
        finish(req, req->_canceled ? -ECANCELED : status);
        return;
    }
    req->_next = res;
    try_next(req);
}

static int start(eddy_connect_host_t *req, eddy_tcp_t *tcp, uint64_t timeout_ms,
                 eddy_connect_host_cb cb)
{
    assert(req != NULL && tcp != NULL && cb != NULL);
    if (eddy_is_closing(&tcp->stream.handle)) return -EINVAL;
    if (eddy__stream_fd(&tcp->stream) >= 0) return -EISCONN; /* only a handle with no socket */
    req->tcp = tcp;
    req->attempts = 0;
    req->_cb = cb;
    req->_resolve.addrinfo = NULL;
    req->_next = NULL;
    req->_timeout_ms = timeout_ms;
    req->_fd = -1;
    req->_status = -ENOENT; /* reported if no address is usable at all */
    req->_canceled = 0;
    return 0;
}

EDDY_EXPORT int eddy_tcp_connect_host(eddy_connect_host_t *req, eddy_tcp_t *tcp, const char *host,
                                      unsigned port, uint64_t timeout_ms, eddy_connect_host_cb cb)
{
    if (host == NULL || port > 65535) return -EINVAL;
    int err = start(req, tcp, timeout_ms, cb);
    if (err) return err;
    char service[8];
    snprintf(service, sizeof service, "%u", port);
    /* No AI_ADDRCONFIG: it ignores loopback, so a host with only `lo` would resolve nothing. */
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    req->_state = STATE_RESOLVING;
    err =
        eddy_getaddrinfo(tcp->stream.handle.loop, &req->_resolve, resolved, host, service, &hints);
    if (err) req->_state = STATE_IDLE;
    return err;
}

EDDY_EXPORT int eddy_tcp_connect_addrinfo(eddy_connect_host_t *req, eddy_tcp_t *tcp,
                                          const struct addrinfo *list, uint64_t timeout_ms,
                                          eddy_connect_host_cb cb)
{
    const struct addrinfo *ai = list;
    while (ai != NULL && ai->ai_socktype != SOCK_STREAM && ai->ai_socktype != 0)
        ai = ai->ai_next;
    if (ai == NULL) return -EINVAL; /* nothing to try */
    int err = start(req, tcp, timeout_ms, cb);
    if (err) return err;
    req->_next = ai;
    try_next(req); /* the first callback comes from the loop, never from in here */
    return 0;
}

EDDY_EXPORT int eddy_connect_host_cancel(eddy_connect_host_t *req)
{
    assert(req != NULL);
    if (req->_canceled || req->_state == STATE_DONE || req->_state == STATE_IDLE) return -EALREADY;
    /* Closing (even after a success not yet handed over): attempt_closed sees the flag. */
    req->_canceled = 1;
    if (req->_state == STATE_RESOLVING) {
        /* Taken off the queue: resolved() gets -ECANCELED. Running: it finishes, then sees
         * the flag. Either way, no connection is attempted. */
        (void)eddy_cancel(&req->_resolve.work);
    } else if (req->_state == STATE_CONNECTING) {
        close_attempt(req); /* the connect callback gets -ECANCELED in the close phase */
    }
    return 0;
}
