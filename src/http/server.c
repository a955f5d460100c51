/* The HTTP server: listening, connection and exchange lifetimes, timeouts, graceful close.
 *
 * Timeouts cost no timer per connection. Each connection sits in one list per timeout class
 * (reading a head, reading a body, idle between requests, lingering after the last response,
 * or none); a class has one duration, so appending on entry keeps each list in deadline order,
 * and one server timer a second expires the heads of the lists. */
#include "http/http_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LINGER_MS 2000
#define FREE_CONNS_MAX 1024

EDDY_EXPORT void eddy_http_server_opts_init(eddy_http_server_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->header_size_max = 16 * 1024;
    o->url_size_max = 8 * 1024;
    o->headers_max = 2000; /* Node's maxHeadersCount */
    o->headers_timeout_ms = 60 * 1000;
    o->request_timeout_ms = 300 * 1000;
    o->keep_alive_timeout_ms = 5 * 1000;
    o->pipeline_max = 16;
}

static void sweep_cb(eddy_timer_t *t);

EDDY_EXPORT int eddy_http_server_init(eddy_loop_t *loop, eddy_http_server_t *s,
                                      const eddy_http_server_opts_t *opts,
                                      eddy_http_request_cb on_request)
{
    if (on_request == NULL)
        return -EINVAL;
    memset(s, 0, sizeof *s);
    s->loop = loop;
    if (opts)
        s->_opts = *opts;
    else
        eddy_http_server_opts_init(&s->_opts);
    if (s->_opts.headers_max == 0 || s->_opts.pipeline_max == 0)
        return -EINVAL;
    s->_headers = malloc(s->_opts.headers_max * sizeof *s->_headers);
    if (s->_headers == NULL)
        return -ENOMEM;
    s->_on_request = on_request;
    for (int i = 0; i < 5; i++)
        eddy__queue_init(&s->_conns[i]);
    eddy_timer_init(loop, &s->_sweep);
    return 0;
}

EDDY_EXPORT void eddy_http_server_on_upgrade(eddy_http_server_t *s, eddy_http_upgrade_cb cb)
{
    s->_on_upgrade = cb;
}

EDDY_EXPORT void eddy_http_server_on_check_continue(eddy_http_server_t *s,
                                                    eddy_http_request_cb cb)
{
    s->_on_check_continue = cb;
}

EDDY_EXPORT void eddy_http_server_get_opts(const eddy_http_server_t *s,
                                           eddy_http_server_opts_t *opts)
{
    *opts = s->_opts;
}

EDDY_EXPORT void eddy_http_server_stats(const eddy_http_server_t *s,
                                        eddy_http_server_stats_t *stats)
{
    *stats = s->_stats;
}

/* ---- connections ------------------------------------------------------------------------ */

static conn_t *conn_alloc(eddy_http_server_t *s)
{
    conn_t *c = s->_free_conns;
    if (c) {
        s->_free_conns = c->next_free;
        s->_free_count--;
    } else {
        c = malloc(sizeof *c + s->_opts.request_data_size);
        if (c == NULL)
            return NULL;
    }
    memset(c, 0, offsetof(conn_t, embedded));
    c->server = s;
    c->tclass = T_NONE;
    eddy__queue_init(&c->node);
    eddy__queue_insert_tail(&s->_conns[T_NONE], &c->node);
    s->_live++;
    return c;
}

static void server_maybe_finished(eddy_http_server_t *s);

static void conn_free(conn_t *c)
{
    eddy_http_server_t *s = c->server;
    eddy__queue_remove(&c->node);
    free(c->in);
    if (s->_out_conn == c) {
        s->_out_conn = NULL;
        s->_out_len = 0;
    }
    s->_live--;
    if (s->_free_count < FREE_CONNS_MAX && !s->_closing) {
        c->next_free = s->_free_conns;
        s->_free_conns = c;
        s->_free_count++;
    } else {
        free(c);
    }
    server_maybe_finished(s);
}

void eddy__http_conn_release(conn_t *c)
{
    assert(c->refs > 0);
    if (--c->refs == 0)
        conn_free(c);
}

void eddy__http_conn_set_timeout(conn_t *c, int tclass, uint64_t deadline_ms)
{
    eddy__queue_remove(&c->node);
    c->tclass = (uint8_t)tclass;
    c->deadline_ms = deadline_ms;
    eddy__queue_insert_tail(&c->server->_conns[tclass], &c->node);
}

void eddy__http_conn_update_reading(conn_t *c)
{
    bool want = (!(c->flags & (R_BACKPRESSURE | R_PIPELINE | R_USER | C_CLOSED)) &&
                 !eddy__http_conn_input_done(c)) ||
                ((c->flags & C_LINGER) && !(c->flags & C_CLOSED));
    if (want && !(c->flags & C_READING)) {
        if (eddy__http_conn_read_start(c) == 0)
            c->flags |= C_READING;
    } else if (!want && (c->flags & C_READING)) {
        eddy_stream_read_stop(&c->s.stream);
        c->flags &= ~C_READING;
    }
}

static void on_conn_closed(eddy_handle_t *h)
{
    conn_t *c = (conn_t *)h;
    c->server->_stats.connections_now--;
    eddy__http_conn_release(c);
}

/* Detaches every exchange from the connection: the user's get their abort callback and stay
 * valid until they end them; the server's own are freed. */
void eddy__http_conn_abort_exchanges(conn_t *c, int err)
{
    xchg_t *parsing = c->parsing;
    c->parsing = NULL;
    c->dispatching = NULL;
    xchg_t *x = c->first;
    c->first = c->last = NULL;
    c->inflight = 0;
    while (x) {
        xchg_t *next = x->next;
        x->next = NULL;
        if (x->flags & (X_ENDED | X_INTERNAL)) {
            eddy__http_xchg_free(x);
        } else {
            x->flags |= X_ORPHAN;
            if (x->res_stream)
                eddy__http_res_stream_abort(x);
            if (x == parsing && x->end_cb)
                x->end_cb(&x->req, err);
            if (x->abort_cb)
                x->abort_cb(&x->res, err);
        }
        x = next;
    }
}

void eddy__http_conn_close(conn_t *c, int err)
{
    if (c->flags & C_CLOSED)
        return;
    c->flags |= C_CLOSED;
    c->error = err ? err : -EPIPE;
    eddy__http_conn_set_timeout(c, T_NONE, 0);
    eddy__http_conn_abort_exchanges(c, c->error);
    eddy_close(&c->s.stream.handle, on_conn_closed);
}

static void on_shutdown(eddy_shutdown_t *req, int status)
{
    conn_t *c = req->data;
    if (status < 0 || (c->flags & C_CLOSED)) {
        eddy__http_conn_close(c, status);
        return;
    }
    /* Read and drop what the client still sends, so closing does not reset the connection
     * under the response it has not read yet; EOF or the linger timeout closes. */
    c->flags |= C_LINGER;
    eddy__http_conn_set_timeout(c, T_LINGER, eddy_now(c->server->loop) + LINGER_MS);
    eddy__http_conn_update_reading(c);
}

/* The last response is queued: send it, then shut down and linger. */
void eddy__http_conn_end(conn_t *c)
{
    if (c->flags & (C_ENDING | C_CLOSED))
        return;
    c->flags |= C_ENDING | R_DONE;
    eddy__http_conn_flush(c);
    if (c->flags & C_CLOSED)
        return;
    c->shutdown.data = c;
    int err = eddy_stream_shutdown(&c->shutdown, &c->s.stream, on_shutdown);
    if (err)
        eddy__http_conn_close(c, err);
}

/* ---- exchanges --------------------------------------------------------------------------- */

xchg_t *eddy__http_xchg_new(conn_t *c)
{
    eddy_http_server_t *s = c->server;
    xchg_t *x;
    if (!(c->flags & C_EMBEDDED_BUSY)) {
        x = &c->embedded;
        c->flags |= C_EMBEDDED_BUSY;
    } else if (s->_free_exchanges) {
        x = s->_free_exchanges;
        s->_free_exchanges = x->next;
    } else {
        x = malloc(sizeof *x + s->_opts.request_data_size);
        if (x == NULL)
            return NULL;
    }
    memset(x, 0, offsetof(xchg_t, hdrs_inline));
    if (s->_opts.request_data_size)
        memset(x + 1, 0, s->_opts.request_data_size);
    if (x == &c->embedded)
        x->flags = X_EMBEDDED;
    x->conn = c;
    x->res.req = &x->req;
    x->res.status = 200;
    x->hdrs = x->hdrs_inline;
    x->hdrs_cap = sizeof x->hdrs_inline;
    if (c->last)
        c->last->next = x;
    else
        c->first = x;
    c->last = x;
    c->inflight++;
    c->refs++;
    return x;
}

void eddy__http_xchg_free(xchg_t *x)
{
    conn_t *c = x->conn;
    eddy_http_server_t *s = c->server;
    if (x->sendfile) { /* its turn never came: the connection died */
        struct eddy__http_sendfile *sf = x->sendfile;
        x->sendfile = NULL;
        sf->done(sf, EDDY_ECANCELED);
    }
    free(x->head_copy);
    free(x->held);
    if (x->hdrs != x->hdrs_inline)
        free(x->hdrs);
    if (x->flags & X_EMBEDDED) {
        c->flags &= ~C_EMBEDDED_BUSY;
    } else {
        x->next = s->_free_exchanges;
        s->_free_exchanges = x;
    }
    eddy__http_conn_release(c);
}

/* ---- accepting ------------------------------------------------------------------------- */

static void on_drain(eddy_stream_t *stream)
{
    conn_t *c = (conn_t *)stream;
    c->flags &= ~R_BACKPRESSURE;
    if (c->first && c->first->res_stream && !(c->first->flags & X_ENDED))
        eddy__http_res_stream_unblock(c->first);
    if (c->first && c->first->drain_cb && !(c->first->flags & X_ENDED))
        c->first->drain_cb(&c->first->res);
    if (!(c->flags & C_CLOSED))
        eddy__http_conn_resume_input(c);
}

static void on_connection(eddy_stream_t *listener, int status)
{
    eddy_http_server_t *s = eddy_container_of(listener, eddy_http_server_t, _listener.tcp.stream);
    if (status < 0) {
        s->_stats.dropped++; /* EMFILE: the stream layer accepted and closed it */
        return;
    }
    conn_t *c = conn_alloc(s);
    if (c == NULL) {
        s->_stats.dropped++;
        return;
    }
    int err = s->_listening == 2 ? eddy_unix_init(s->loop, &c->s.unx)
                                 : eddy_tcp_init(s->loop, &c->s.tcp);
    if (err == 0)
        err = eddy_stream_accept(listener, &c->s.stream);
    c->refs = 1;
    s->_stats.connections_now++;
    if (err == 0 && s->_opts.connections_max && s->_stats.connections_now > s->_opts.connections_max)
        err = -EMFILE;
    if (err != 0) {
        s->_stats.dropped++;
        c->flags |= C_CLOSED;
        eddy_close(&c->s.stream.handle, on_conn_closed);
        return;
    }
    s->_stats.connections++;
    if (s->_stats.connections_now > s->_stats.connections_peak)
        s->_stats.connections_peak = s->_stats.connections_now;
    if (s->_listening == 2)
        c->flags |= C_UNIX;
    eddy_stream_set_drain_cb(&c->s.stream, on_drain);
    /* A new connection has headers_timeout to deliver its first request head. */
    uint64_t now = eddy_now(s->loop);
    c->req_start_ms = now;
    eddy__http_conn_set_timeout(c, T_HEAD, now + s->_opts.headers_timeout_ms);
    eddy__http_conn_start(c);
}

static int start_sweep(eddy_http_server_t *s)
{
    int err = eddy_timer_start(&s->_sweep, sweep_cb, EDDY__HTTP_SWEEP_MS, EDDY__HTTP_SWEEP_MS);
    eddy_unref(&s->_sweep.handle); /* the listener keeps the loop alive, not the sweep */
    return err;
}

EDDY_EXPORT int eddy_http_server_listen(eddy_http_server_t *s, const struct sockaddr *addr,
                                        unsigned flags, int backlog)
{
    if (s->_listening || s->_closing)
        return -EALREADY;
    eddy_tcp_init(s->loop, &s->_listener.tcp);
    s->_listening = 1;
    int err = eddy_tcp_bind(&s->_listener.tcp, addr, flags);
    if (err == 0)
        err = eddy_tcp_listen(&s->_listener.tcp, backlog, on_connection);
    if (err == 0)
        err = start_sweep(s);
    return err;
}

EDDY_EXPORT int eddy_http_server_listen_unix(eddy_http_server_t *s, const char *path,
                                             int backlog)
{
    if (s->_listening || s->_closing)
        return -EALREADY;
    eddy_unix_init(s->loop, &s->_listener.unx);
    s->_listening = 2;
    int err = eddy_unix_bind(&s->_listener.unx, path);
    if (err == 0)
        err = eddy_unix_listen(&s->_listener.unx, backlog, on_connection);
    if (err == 0)
        err = start_sweep(s);
    return err;
}

EDDY_EXPORT int eddy_http_server_port(const eddy_http_server_t *s)
{
    if (s->_listening != 1)
        return -EINVAL;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int err = eddy_tcp_getsockname(&s->_listener.tcp, (struct sockaddr *)&ss, &len);
    if (err)
        return err;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* ---- timeouts ---------------------------------------------------------------------------- */

/* The request being read cannot be finished (a timeout, a body that broke after its handler
 * got it): every exchange is aborted (the user's stay valid until they end them, which then
 * only frees), the status goes out unless a response already started on the wire (Node does
 * the same), and the connection shuts down and lingers. */
void eddy__http_conn_fail(conn_t *c, int status, int err)
{
    bool answer = c->first == NULL || !(c->first->flags & X_HEAD_OUT);
    if (status != 408)
        c->server->_stats.rejected++;
    eddy__http_conn_abort_exchanges(c, err);
    c->flags |= R_DONE;
    c->in_len = 0;
    if (answer && !(c->flags & C_CLOSED)) {
        char line[160];
        int n = snprintf(line, sizeof line,
                         "HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                         status, eddy_http_status_text(status));
        eddy__http_conn_send_raw(c, line, (size_t)n);
    }
    eddy__http_conn_end(c);
}

static void sweep_cb(eddy_timer_t *t)
{
    eddy_http_server_t *s = eddy_container_of(t, eddy_http_server_t, _sweep);
    uint64_t now = eddy_now(s->loop);
    for (int cls = T_HEAD; cls <= T_LINGER; cls++) {
        eddy_queue_t *q = &s->_conns[cls];
        while (!eddy__queue_empty(q)) {
            conn_t *c = eddy_container_of(q->next, conn_t, node);
            if (c->deadline_ms > now)
                break;
            if (cls == T_IDLE && c->writes > 0) {
                /* Still sending its last response to a slow reader: that is not idle, and
                 * closing now would cut the response off (Node's idle timer, too, restarts on
                 * write progress). Look again one keep-alive period (or sweep) later. */
                uint32_t ka = c->server->_opts.keep_alive_timeout_ms;
                if (ka < EDDY__HTTP_SWEEP_MS)
                    ka = EDDY__HTTP_SWEEP_MS;
                eddy__http_conn_set_timeout(c, T_IDLE, now + ka);
                continue;
            }
            eddy__http_conn_set_timeout(c, T_NONE, 0); /* off this list, whatever happens */
            if (cls == T_HEAD || cls == T_BODY) {
                c->server->_stats.timeouts++;
                eddy__http_conn_fail(c, 408, -ETIMEDOUT);
            }
            else
                eddy__http_conn_close(c, cls == T_IDLE ? 0 : -ETIMEDOUT);
        }
    }
}

/* ---- graceful close ------------------------------------------------------------------------ */

static void on_sweep_closed(eddy_handle_t *h)
{
    eddy_http_server_t *s = eddy_container_of(h, eddy_http_server_t, _sweep.handle);
    while (s->_free_conns) {
        conn_t *c = s->_free_conns;
        s->_free_conns = c->next_free;
        free(c);
    }
    while (s->_free_exchanges) {
        xchg_t *x = s->_free_exchanges;
        s->_free_exchanges = x->next;
        free(x);
    }
    free(s->_headers);
    free(s->_out);
    s->_headers = NULL;
    s->_out = NULL;
    if (s->_close_cb)
        s->_close_cb(s);
}

static void on_listener_closed(eddy_handle_t *h)
{
    eddy_http_server_t *s = eddy_container_of(h, eddy_http_server_t, _listener.tcp.stream.handle);
    s->_listening = 0;
    server_maybe_finished(s);
}

static void server_maybe_finished(eddy_http_server_t *s)
{
    if (s->_closing == 1 && s->_listening == 0 && s->_live == 0) {
        s->_closing = 2;
        eddy_close(&s->_sweep.handle, on_sweep_closed);
    }
}

EDDY_EXPORT void eddy_http_server_close(eddy_http_server_t *s, eddy_http_server_close_cb cb)
{
    if (s->_closing)
        return;
    s->_closing = 1;
    s->_close_cb = cb;
    if (s->_listening)
        eddy_close(&s->_listener.tcp.stream.handle, on_listener_closed);
    /* Idle connections close now; busy ones finish their requests with Connection: close. */
    for (int cls = 0; cls < 5; cls++) {
        eddy_queue_t *q = &s->_conns[cls];
        eddy_queue_t *n = q->next;
        while (n != q) {
            conn_t *c = eddy_container_of(n, conn_t, node);
            n = n->next;
            c->flags |= R_DONE;
            if (c->first == NULL && c->parsing == NULL && !(c->flags & C_ENDING))
                eddy__http_conn_close(c, 0);
            else if (!(c->flags & C_CLOSED))
                eddy__http_conn_update_reading(c);
        }
    }
    server_maybe_finished(s);
}
