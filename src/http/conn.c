/* The read path of an HTTP connection: bytes in, requests out.
 *
 * Input is parsed straight from the loop-shared read buffer. Only two things are copied: a
 * request head that is still incomplete when a read ends (kept in c->in and parsed again from
 * its first byte once more arrives, so every span of a head lies in one buffer), and input
 * that arrives while reading is held back (backpressure, pipelining limit, pause). A request
 * whose response outlives the read gets its own copy of the head after the request callback
 * returns; one answered inside the callback never does. */
#include "http/http_internal.h"

#include <stdlib.h>
#include <string.h>

static void conn_reset_parser(conn_t *c)
{
    eddy_http_parser_init(&c->parser, EDDY_HTTP_REQUEST);
    c->parser.data = c;
    c->parser.header_size_max = c->server->_opts.header_size_max;
    c->parser.url_size_max = c->server->_opts.url_size_max;
}

/* ---- parser callbacks: collect the head's spans ------------------------------------------ */

static int on_message_begin(eddy_http_parser_t *p)
{
    conn_t *c = p->data;
    c->flags |= C_IN_HEAD;
    c->head_start = NULL;
    c->url = NULL;
    c->url_len = 0;
    c->nheaders = 0;
    c->hstate = 0;
    if (c->tclass != T_HEAD) {
        /* The headers timeout runs from the first byte of a request (a re-parse of a kept
         * partial head finds the class already set and keeps the original deadline). */
        uint64_t now = eddy_now(c->server->loop);
        c->req_start_ms = now;
        eddy__http_conn_set_timeout(c, T_HEAD, now + c->server->_opts.headers_timeout_ms);
    }
    return 0;
}

static int on_method(eddy_http_parser_t *p, const char *at, size_t len)
{
    conn_t *c = p->data;
    if (c->head_start == NULL)
        c->head_start = at;
    return 0;
}

static int on_url(eddy_http_parser_t *p, const char *at, size_t len)
{
    conn_t *c = p->data;
    if (c->url == NULL)
        c->url = at;
    c->url_len += (uint32_t)len;
    return 0;
}

static int commit_header(conn_t *c)
{
    if (c->nheaders >= c->server->_opts.headers_max) {
        c->flags |= C_TOO_MANY_HEADERS;
        return -1;
    }
    /* The parser drops a value's leading whitespace but keeps the trailing (it cannot know
     * it is trailing until the line ends); RFC 9112 excludes both from the value. The whole
     * head is in one buffer, so the value is one span here. */
    eddy_http_header_t *h = &c->server->_headers[c->nheaders];
    while (h->value_len > 0 && (h->value[h->value_len - 1] == ' ' ||
                                h->value[h->value_len - 1] == '\t'))
        h->value_len--;
    c->nheaders++;
    c->hstate = 0;
    return 0;
}

static int on_header_field(eddy_http_parser_t *p, const char *at, size_t len)
{
    conn_t *c = p->data;
    /* A field after a field with no value bytes: the previous value was empty. */
    if (c->hstate >= 2 && commit_header(c) != 0)
        return -1;
    if (c->nheaders >= c->server->_opts.headers_max) {
        c->flags |= C_TOO_MANY_HEADERS;
        return -1;
    }
    eddy_http_header_t *h = &c->server->_headers[c->nheaders];
    if (c->hstate == 0) {
        *h = (eddy_http_header_t){.name = at, .value = "", .name_len = 0, .value_len = 0};
        c->hstate = 1;
    }
    h->name_len += (uint32_t)len;
    return 0;
}

static int on_header_field_complete(eddy_http_parser_t *p)
{
    ((conn_t *)p->data)->hstate = 2;
    return 0;
}

static int on_header_value(eddy_http_parser_t *p, const char *at, size_t len)
{
    conn_t *c = p->data;
    eddy_http_header_t *h = &c->server->_headers[c->nheaders];
    if (c->hstate == 2) {
        h->value = at;
        c->hstate = 3;
    }
    h->value_len += (uint32_t)len;
    return 0;
}

static int on_header_value_complete(eddy_http_parser_t *p)
{
    return commit_header(p->data);
}

static void dispatch(conn_t *c);

static int on_headers_complete(eddy_http_parser_t *p)
{
    conn_t *c = p->data;
    if (c->hstate >= 2 && commit_header(c) != 0)
        return -1;
    c->flags &= ~C_IN_HEAD;
    dispatch(c);
    /* A handler that paused the request gets no body bytes until it resumes. */
    return (c->flags & (R_USER | C_CLOSED)) ? EDDY_HTTP_PAUSE : 0;
}

static int on_body(eddy_http_parser_t *p, const char *at, size_t len)
{
    conn_t *c = p->data;
    xchg_t *x = c->parsing;
    if (x == NULL)
        return 0; /* answered already: the rest of the body is read and dropped */
    x->body_received += len;
    uint64_t max = c->server->_opts.body_size_max;
    if (max && x->body_received > max) {
        c->flags |= C_BODY_TOO_LARGE;
        return -1;
    }
    if (x->body_cb)
        x->body_cb(&x->req, at, len);
    return (c->flags & R_USER) ? EDDY_HTTP_PAUSE : 0;
}

static int on_message_complete(eddy_http_parser_t *p)
{
    conn_t *c = p->data;
    if (c->flags & C_UPGRADING)
        return 0; /* the parser stops by itself; upgrade() takes the exchange */
    xchg_t *x = c->parsing;
    c->parsing = NULL;
    if (x) {
        x->flags |= X_BODY_DONE;
        /* The client sent the body without waiting for a 100: the framing holds, so an answer
         * made from here on may keep the connection. */
        if ((x->flags & X_CLOSE_UNLESS_CONTINUE) && !(x->flags & X_HEAD_OUT))
            x->flags &= ~(X_CLOSE | X_CLOSE_UNLESS_CONTINUE);
        if (x->end_cb)
            x->end_cb(&x->req, 0);
    }
    if (c->tclass == T_HEAD || c->tclass == T_BODY)
        eddy__http_conn_set_timeout(c, T_NONE, 0);
    if (c->inflight >= c->server->_opts.pipeline_max)
        c->flags |= R_PIPELINE;
    /* Upgrades stop here by themselves; anything else that stops reading pauses here so the
     * rest of the input is kept for later. */
    return (c->flags & (R_DONE | R_PIPELINE | R_USER | R_BACKPRESSURE)) ? EDDY_HTTP_PAUSE : 0;
}

static const eddy_http_parser_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_method = on_method,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- 100 Continue ---------------------------------------------------------------------------- */

/* The client waits for 100 Continue before it sends the body (RFC 9110 10.1.1): it asked, there
 * is a body, and it speaks HTTP/1.1 (a 1.0 client must never get a 1xx, and its Expect is
 * ignored). */
static bool awaits_continue(const xchg_t *x)
{
    return x->req.expect_continue && x->req.has_body &&
           (x->req.http_major > 1 || x->req.http_minor >= 1);
}

/* Queues the 100 as this response's first bytes: it goes out at once if the response is the
 * first of its connection, and otherwise waits in the response's held output for the ones
 * before it, so it leaves exactly when this request becomes the one being answered and always
 * before its final head. */
static void send_continue(xchg_t *x)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    x->flags |= X_CONTINUE;
    if (x->flags & X_CLOSE_UNLESS_CONTINUE)
        x->flags &= ~(X_CLOSE | X_CLOSE_UNLESS_CONTINUE); /* the client will send the body */
    if (!(x->flags & X_BODY_DONE)) /* a body that came anyway needs no invitation */
        eddy__http_xchg_output(x, cont, sizeof cont - 1);
}

EDDY_EXPORT int eddy_http_res_write_continue(eddy_http_res_t *res)
{
    xchg_t *x = eddy__http_xchg(res);
    int err = eddy__http_xchg_status(x);
    if (err)
        return err;
    if (!awaits_continue(x))
        return -EINVAL;
    if (x->flags & (X_CONTINUE | X_HEAD_SENT | X_HEAD_OUT | X_ENDED))
        return -EALREADY;
    send_continue(x);
    eddy__http_xchg_flush_now(x);
    return 0;
}

/* ---- dispatch ----------------------------------------------------------------------------- */

static void fill_request(conn_t *c, xchg_t *x)
{
    eddy_http_parser_t *p = &c->parser;
    eddy_http_req_t *r = &x->req;
    r->server = c->server;
    r->method = (eddy_http_method)p->method;
    r->http_major = p->http_major;
    r->http_minor = p->http_minor;
    r->has_body = (p->flags & EDDY_HTTP_F_CHUNKED) || p->content_length > 0;
    r->expect_continue = (p->flags & EDDY_HTTP_F_EXPECT_CONTINUE) != 0;
    r->content_length = p->content_length;
    r->target = c->url;
    r->target_len = c->url_len;
    const char *q = memchr(c->url, '?', c->url_len);
    r->path = c->url;
    r->path_len = q ? (size_t)(q - c->url) : c->url_len;
    r->query = q ? q + 1 : NULL;
    r->query_len = q ? c->url_len - r->path_len - 1 : 0;
    r->headers = c->server->_headers;
    r->headers_len = c->nheaders;
    r->_params_len = 0;
}

/* The request outlives the input buffer: give it its own copy of the head. */
static int keep_head(conn_t *c, xchg_t *x)
{
    eddy_http_req_t *r = &x->req;
    /* Every span lies in [head_start, end of the last span). */
    const char *end = r->target + r->target_len;
    for (uint32_t i = 0; i < r->headers_len; i++) {
        const char *e = r->headers[i].value_len ? r->headers[i].value + r->headers[i].value_len
                                                 : r->headers[i].name + r->headers[i].name_len;
        if (e > end)
            end = e;
    }
    size_t head_len = (size_t)(end - c->head_start);
    size_t table = r->headers_len * sizeof(eddy_http_header_t);
    char *copy = malloc(table + head_len);
    if (copy == NULL)
        return -ENOMEM;
    eddy_http_header_t *h = (eddy_http_header_t *)copy;
    char *text = copy + table;
    memcpy(text, c->head_start, head_len);
    ptrdiff_t delta = text - c->head_start;
    for (uint32_t i = 0; i < r->headers_len; i++) {
        h[i] = r->headers[i];
        h[i].name += delta;
        if (h[i].value_len)
            h[i].value += delta;
    }
    r->headers = h;
    r->target += delta;
    r->path += delta;
    if (r->query)
        r->query += delta;
    for (unsigned i = 0; i < r->_params_len; i++) {
        r->_params[i].value += delta; /* values point into the path; names into patterns */
    }
    x->head_copy = copy;
    x->flags |= X_OWNED_HEAD;
    return 0;
}

static void dispatch(conn_t *c)
{
    eddy_http_server_t *s = c->server;
    eddy_http_parser_t *p = &c->parser;
    xchg_t *x = eddy__http_xchg_new(c);
    if (x == NULL) {
        eddy__http_conn_close(c, -ENOMEM);
        return;
    }
    fill_request(c, x);
    c->served++;
    if (!eddy_http_parser_should_keep_alive(p) || s->_closing ||
        (s->_opts.requests_per_conn_max && c->served >= s->_opts.requests_per_conn_max)) {
        x->flags |= X_CLOSE;
        c->flags |= R_DONE;
    }
    if (x->req.method == EDDY_HTTP_HEAD)
        x->flags |= X_NO_BODY;
    if (s->_opts.body_size_max && x->req.has_body && !(p->flags & EDDY_HTTP_F_CHUNKED) &&
        x->req.content_length > s->_opts.body_size_max) {
        eddy__http_send_error(c, x, 413);
        return;
    }
    /* Until its message completes (at once when there is no body) the request is "parsing":
     * its body and end go to the handler. */
    c->parsing = x;
    if (x->req.has_body)
        eddy__http_conn_set_timeout(c, T_BODY, c->req_start_ms + s->_opts.request_timeout_ms);
    else
        eddy__http_conn_set_timeout(c, T_NONE, 0);
    bool upgrade = (p->flags & EDDY_HTTP_F_UPGRADE) || x->req.method == EDDY_HTTP_CONNECT;
    if (upgrade && s->_on_upgrade) {
        /* The upgrade callback runs once the parser hands over the bytes after the head. */
        c->flags |= C_UPGRADING | R_DONE;
        x->flags |= X_DISPATCHED;
        return;
    }
    if (x->req.method == EDDY_HTTP_CONNECT) {
        x->flags |= X_CLOSE; /* a tunnel nobody takes: answer, then close (as Node does) */
        c->flags |= R_DONE;
    }
    eddy_http_request_cb cb = s->_on_request;
    if (awaits_continue(x)) {
        if (s->_on_check_continue) {
            /* The handler decides. Until a 100 is on its way the client may never send the
             * body, so a final answer made before it closes the connection (RFC 9110 10.1.1:
             * the server cannot know where this request ends) unless a 100 or the whole body
             * comes first. */
            cb = s->_on_check_continue;
            if (!(x->flags & X_CLOSE))
                x->flags |= X_CLOSE | X_CLOSE_UNLESS_CONTINUE;
        } else {
            send_continue(x); /* as Node does before 'request'; in turn if pipelined */
        }
    }
    s->_stats.requests++;
    x->flags |= X_DISPATCHED;
    eddy__http_res_begin(x);
    c->dispatching = x; /* eddy_http_res_end clears it: x may be gone after the callback */
    cb(&x->req, &x->res);
    /* Still unanswered (the handler answers later): the head must survive this buffer. */
    if (c->dispatching == x && keep_head(c, x) != 0)
        eddy__http_conn_close(c, -ENOMEM);
    c->dispatching = NULL;
}

/* An upgrade: the parser stopped at the end of the request; `rest` is the new protocol's. */
static void upgrade(conn_t *c, const char *rest, size_t rest_len)
{
    xchg_t *x = c->parsing;
    c->parsing = NULL;
    c->flags &= ~C_UPGRADING;
    if (x == NULL || !(c->flags & R_DONE))
        return;
    c->server->_stats.requests++;
    eddy__http_res_begin(x);
    c->server->_on_upgrade(&x->req, &x->res, rest, rest_len);
}

/* ---- feeding the parser ------------------------------------------------------------------- */

static void parse_error(conn_t *c, int err)
{
    int status;
    if (c->flags & C_TOO_MANY_HEADERS)
        status = 431;
    else if (c->flags & C_BODY_TOO_LARGE)
        status = 413;
    else
        status = eddy_http_errno_status(err);
    if (c->parsing != NULL) {
        /* The request's handler has it and its body broke: like a timeout, the handler hears
         * of it (end and abort callbacks) and the server answers and closes by itself. */
        eddy__http_conn_fail(c, status, status == 413 ? -EMSGSIZE : -EPROTO);
        return;
    }
    c->flags |= R_DONE;
    eddy__http_reject(c, status);
}

/* True between requests: no head being read, no body owed to a handler. */
static bool between_requests(const conn_t *c)
{
    return !(c->flags & C_IN_HEAD) && c->parsing == NULL;
}

/* Parses data[0..len); returns how much was consumed. Stops early only when reading must
 * stop (the caller keeps the rest) or after an upgrade, an error or the last request of the
 * connection (the rest is dropped). */
static size_t feed(conn_t *c, const char *data, size_t len)
{
    size_t off = 0;
    /* At least one execute, even with no bytes: a pause may have held back an event (the
     * message's end after a paused last body piece) that the next execute delivers. */
    do {
        if (c->flags & (R_USER | R_PIPELINE | R_BACKPRESSURE | C_CLOSED))
            return off;
        if ((c->flags & R_DONE) && between_requests(c))
            return len;
        ssize_t n = eddy_http_parser_execute(&c->parser, &settings, data + off, len - off);
        if (n < 0) {
            parse_error(c, (int)n);
            return len;
        }
        off += (size_t)n;
        if (eddy_http_parser_is_paused(&c->parser)) {
            eddy_http_parser_resume(&c->parser);
            continue;
        }
        if (eddy_http_parser_is_upgraded(&c->parser)) {
            if (c->flags & C_UPGRADING) {
                upgrade(c, data + off, len - off);
                return len;
            }
            /* Nobody takes upgrades: it was an ordinary request; go on with HTTP. */
            conn_reset_parser(c);
        }
    } while (off < len);
    return off;
}

/* Keeps data[from..len) (an unfinished head, or input held back) in c->in. data may point
 * into c->in itself. */
static int keep_input(conn_t *c, const char *from, size_t n)
{
    if (n > c->in_cap) {
        size_t cap = c->in_cap ? c->in_cap : 1024;
        while (cap < n)
            cap *= 2;
        char *in = malloc(cap);
        if (in == NULL)
            return -ENOMEM;
        memcpy(in, from, n);
        free(c->in);
        c->in = in;
        c->in_cap = (uint32_t)cap;
    } else {
        memmove(c->in, from, n);
    }
    c->in_len = (uint32_t)n;
    return 0;
}

/* Feeds data and keeps what must wait in c->in. */
static void process(conn_t *c, const char *data, size_t len)
{
    size_t used = feed(c, data, len);
    const char *rest = data + used;
    size_t rest_len = len - used;
    if (rest_len == 0 && (c->flags & C_IN_HEAD) && c->head_start && !(c->flags & C_CLOSED)) {
        /* The head is unfinished: keep it whole and parse it again from its first byte. */
        rest = c->head_start;
        rest_len = (size_t)(data + len - c->head_start);
        conn_reset_parser(c);
        c->flags &= ~C_IN_HEAD;
    }
    if (rest_len == 0) {
        c->in_len = 0;
        if (c->in_cap > 0) {
            free(c->in); /* idle connections own no buffer */
            c->in = NULL;
            c->in_cap = 0;
        }
        return;
    }
    if (keep_input(c, rest, rest_len) != 0)
        eddy__http_conn_close(c, -ENOMEM);
}

/* Parses kept input (possibly none: see feed) while it makes progress and nothing holds
 * reading back. */
static void process_kept(conn_t *c)
{
    do {
        uint32_t before = c->in_len;
        process(c, c->in ? c->in : "", c->in_len);
        if (c->in_len == 0 || c->in_len >= before)
            break; /* all parsed, or an unfinished head waiting for more bytes */
    } while (!(c->flags & (R_USER | R_PIPELINE | R_BACKPRESSURE | C_CLOSED)) &&
             !eddy__http_conn_input_done(c));
}

static void append_input(conn_t *c, const char *data, size_t len)
{
    size_t need = (size_t)c->in_len + len;
    if (need > c->in_cap) {
        size_t cap = c->in_cap ? c->in_cap : 1024;
        while (cap < need)
            cap *= 2;
        char *in = realloc(c->in, cap);
        if (in == NULL) {
            eddy__http_conn_close(c, -ENOMEM);
            return;
        }
        c->in = in;
        c->in_cap = (uint32_t)cap;
    }
    memcpy(c->in + c->in_len, data, len);
    c->in_len = (uint32_t)need;
}

static void on_eof(conn_t *c, int err)
{
    /* A clean end between requests still gets the answers it is owed; anything else means
     * the peer is gone. */
    if (err == EDDY_EOF && !(c->flags & C_IN_HEAD) && c->parsing == NULL) {
        c->flags |= R_DONE;
        c->in_len = 0;
        if (c->first == NULL)
            eddy__http_conn_close(c, 0);
        return;
    }
    eddy__http_conn_close(c, err == EDDY_EOF ? -ECONNRESET : err);
}

static void on_read(eddy_stream_t *stream, ssize_t nread, const eddy_buf_t *buf)
{
    conn_t *c = (conn_t *)stream;
    if (nread < 0) {
        c->flags &= ~C_READING;
        if (c->flags & C_LINGER)
            eddy__http_conn_close(c, 0);
        else
            on_eof(c, (int)nread);
        return;
    }
    if (nread == 0 || (c->flags & C_LINGER) || eddy__http_conn_input_done(c))
        return; /* lingering or finished: input is read and dropped */
    c->refs++;
    c->flags |= C_PROCESSING;
    if (c->in_len > 0) {
        append_input(c, buf->base, (size_t)nread);
        process_kept(c);
    } else {
        process(c, buf->base, (size_t)nread);
    }
    c->flags &= ~C_PROCESSING;
    /* One send for everything this read produced (pipelined responses leave together). */
    eddy__http_conn_flush(c);
    if (!(c->flags & C_CLOSED))
        eddy__http_conn_update_reading(c);
    eddy__http_conn_release(c);
}

void eddy__http_conn_start(conn_t *c)
{
    conn_reset_parser(c);
    eddy__http_conn_update_reading(c);
}

/* Reading may go on again (a pause, the pipeline limit or backpressure was lifted). */
void eddy__http_conn_resume_input(conn_t *c)
{
    if (c->flags & (C_PROCESSING | C_CLOSED))
        return; /* the read path in progress picks it up */
    c->refs++;
    c->flags |= C_PROCESSING;
    process_kept(c);
    c->flags &= ~C_PROCESSING;
    eddy__http_conn_flush(c);
    if (!(c->flags & C_CLOSED))
        eddy__http_conn_update_reading(c);
    eddy__http_conn_release(c);
}

int eddy__http_conn_read_start(conn_t *c)
{
    return eddy_stream_read_start(&c->s.stream, NULL, on_read);
}

/* A request the server answers itself (an error status), queued after earlier responses. */
int eddy__http_reject(conn_t *c, int status)
{
    c->flags |= R_DONE;
    c->in_len = 0;
    xchg_t *x = eddy__http_xchg_new(c);
    if (x == NULL) {
        eddy__http_conn_close(c, -ENOMEM);
        return -ENOMEM;
    }
    x->flags |= X_INTERNAL;
    x->req.server = c->server;
    x->req.http_major = 1;
    x->req.http_minor = 1;
    return eddy__http_send_error(c, x, status);
}
