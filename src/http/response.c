/* Responses: headers, serialisation, and the output path.
 *
 * Output for the response at the head of a connection's queue is appended to one server-wide
 * scratch buffer and sent when the read that produced it has been processed (so a batch of
 * pipelined requests costs one send) or, outside the read path, when the API call returns.
 * The send tries the socket first; only what the kernel does not take is copied to the heap
 * and queued on the stream. A response that is not at the head of the queue yet holds its
 * bytes until the responses before it are done, so responses leave in request order. */
#include "http/http_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* ---- header storage: "Name: value\r\n" lines ----------------------------------------------- */

/* Byte classes for header names and values: HB_TCHAR for tchar (RFC 9110 5.6.2), HB_VALUE for
 * what a field value may hold (HTAB, SP, VCHAR, obs-text; no CR, LF or other controls). */
enum { HB_TCHAR = 1, HB_VALUE = 2 };
static const uint8_t hbyte[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
    2, 3, 2, 3, 3, 3, 3, 3, 2, 2, 3, 3, 2, 3, 3, 2, /* 0x20 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, /* 0x30 */
    2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0x40 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 3, 3, /* 0x50 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0x60 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 3, 2, 3, 0, /* 0x70 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0x80 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0x90 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xa0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xb0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xc0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xd0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xe0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xf0 */
};

/* The name's length, or 0 if it is empty or not a token. */
static size_t name_len(const char *name)
{
    const unsigned char *p = (const unsigned char *)name;
    while (hbyte[*p] & HB_TCHAR)
        p++;
    return *p == 0 ? (size_t)(p - (const unsigned char *)name) : 0;
}

/* The value's length, or SIZE_MAX if it holds a control byte. Refusing CR and LF here is what
 * keeps a header value from injecting another header. */
static size_t value_len(const char *value)
{
    const unsigned char *p = (const unsigned char *)value;
    while (hbyte[*p] & HB_VALUE)
        p++;
    return *p == 0 ? (size_t)(p - (const unsigned char *)value) : SIZE_MAX;
}

/* The headers the serialiser must know about have a bit each in x->hmask, kept by add and
 * remove, so that sending a head searches nothing and removing an absent one is free. */
static unsigned special_bit(const char *name, size_t len)
{
    switch (len) {
    case 4: return strncasecmp(name, "Date", 4) == 0 ? HM_DATE : 0;
    case 10: return strncasecmp(name, "Connection", 10) == 0 ? HM_CONNECTION : 0;
    case 14: return strncasecmp(name, "Content-Length", 14) == 0 ? HM_CONTENT_LENGTH : 0;
    case 17: return strncasecmp(name, "Transfer-Encoding", 17) == 0 ? HM_TRANSFER_ENCODING : 0;
    }
    return 0;
}

static int hdrs_reserve(xchg_t *x, size_t more)
{
    size_t need = (size_t)x->hdrs_len + more;
    if (need <= x->hdrs_cap)
        return 0;
    if (need > UINT32_MAX / 2)
        return -ENOMEM;
    size_t cap = x->hdrs_cap * 2;
    while (cap < need)
        cap *= 2;
    char *h = x->hdrs == x->hdrs_inline ? malloc(cap) : realloc(x->hdrs, cap);
    if (h == NULL)
        return -ENOMEM;
    if (x->hdrs == x->hdrs_inline)
        memcpy(h, x->hdrs_inline, x->hdrs_len);
    x->hdrs = h;
    x->hdrs_cap = (uint32_t)cap;
    return 0;
}

/* Finds the line of header `name` (n bytes); returns its offset, or -1. */
static long hdrs_find(const xchg_t *x, const char *name, size_t n)
{
    for (size_t off = 0; off < x->hdrs_len;) {
        const char *line = x->hdrs + off;
        const char *eol = memchr(line, '\n', x->hdrs_len - off);
        if (x->hdrs_len - off > n && line[n] == ':' && strncasecmp(line, name, n) == 0)
            return (long)off;
        off = (size_t)(eol - x->hdrs) + 1;
    }
    return -1;
}

static bool locked(const xchg_t *x)
{
    return (x->flags & (X_HEAD_SENT | X_ENDED)) != 0;
}

/* bit: special_bit(name, nl), which the callers have already worked out. */
static int add_header(xchg_t *x, const char *name, size_t nl, const char *value, size_t vl,
                      unsigned bit)
{
    if (hdrs_reserve(x, nl + vl + 4) != 0)
        return -ENOMEM;
    char *p = x->hdrs + x->hdrs_len;
    memcpy(p, name, nl);
    memcpy(p + nl, ": ", 2);
    memcpy(p + nl + 2, value, vl);
    memcpy(p + nl + 2 + vl, "\r\n", 2);
    x->hdrs_len += (uint32_t)(nl + vl + 4);
    x->hmask |= bit;
    return 0;
}

static void remove_header(xchg_t *x, const char *name, size_t nl, unsigned bit)
{
    if ((bit && !(x->hmask & bit)) || x->hdrs_len == 0)
        return;
    long off;
    while ((off = hdrs_find(x, name, nl)) >= 0) {
        char *line = x->hdrs + off;
        char *eol = memchr(line, '\n', x->hdrs_len - (size_t)off);
        size_t len = (size_t)(eol - line) + 1;
        memmove(line, line + len, x->hdrs_len - (size_t)off - len);
        x->hdrs_len -= (uint32_t)len;
    }
    x->hmask &= ~bit;
}

/* add_header (replace false) and set_header (replace true). */
static int put_header(eddy_http_res_t *res, const char *name, const char *value, bool replace)
{
    xchg_t *x = eddy__http_xchg(res);
    if (locked(x))
        return -EALREADY;
    size_t nl = name_len(name), vl = value_len(value);
    if (nl == 0 || vl == SIZE_MAX)
        return -EINVAL;
    unsigned bit = special_bit(name, nl);
    if (replace)
        remove_header(x, name, nl, bit);
    return add_header(x, name, nl, value, vl, bit);
}

EDDY_EXPORT int eddy_http_res_add_header(eddy_http_res_t *res, const char *name, const char *value)
{
    return put_header(res, name, value, false);
}

EDDY_EXPORT int eddy_http_res_remove_header(eddy_http_res_t *res, const char *name)
{
    xchg_t *x = eddy__http_xchg(res);
    if (locked(x))
        return -EALREADY;
    size_t nl = strlen(name);
    remove_header(x, name, nl, special_bit(name, nl));
    return 0;
}

EDDY_EXPORT int eddy_http_res_set_header(eddy_http_res_t *res, const char *name, const char *value)
{
    return put_header(res, name, value, true);
}

EDDY_EXPORT const char *eddy_http_res_get_header(const eddy_http_res_t *res, const char *name,
                                                 size_t *len)
{
    const xchg_t *x = eddy_container_of(res, xchg_t, res);
    size_t nl = strlen(name);
    unsigned bit = special_bit(name, nl);
    if (bit && !(x->hmask & bit))
        return NULL;
    long off = hdrs_find(x, name, nl);
    if (off < 0)
        return NULL;
    const char *v = x->hdrs + off + nl + 2;
    const char *eol = memchr(v, '\r', x->hdrs_len - (size_t)(v - x->hdrs));
    if (len)
        *len = (size_t)(eol - v);
    return v;
}

EDDY_EXPORT int eddy_http_res_set_status(eddy_http_res_t *res, int status)
{
    xchg_t *x = eddy__http_xchg(res);
    if (locked(x))
        return -EALREADY;
    if (status < 100 || status > 999)
        return -EINVAL;
    res->status = status;
    return 0;
}

EDDY_EXPORT int eddy_http_res_headers_sent(const eddy_http_res_t *res)
{
    return locked(eddy_container_of(res, xchg_t, res));
}

void eddy__http_res_begin(xchg_t *x)
{
    x->res.req = &x->req;
}

/* ---- the Date header, made once a second ------------------------------------------------- */

void eddy__http_date_refresh(eddy_http_server_t *s)
{
    time_t now = time(NULL);
    if ((uint64_t)now == s->_date_sec)
        return;
    s->_date_sec = (uint64_t)now;
    struct tm tm;
    gmtime_r(&now, &tm);
    size_t n = strftime(s->_date, sizeof s->_date, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
    assert(n == EDDY__HTTP_DATE_LEN); /* fixed width for years 1000 to 9999 */
    (void)n;
}

/* ---- output ------------------------------------------------------------------------------- */

typedef struct {
    eddy_write_t req;
    size_t len;
    char bytes[];
} chunk_t;

static void on_chunk_written(eddy_write_t *req, int status)
{
    chunk_t *ch = eddy_container_of(req, chunk_t, req);
    conn_t *c = req->data;
    free(ch);
    c->writes--;
    if (status < 0 && status != EDDY_ECANCELED)
        eddy__http_conn_close(c, status);
}

/* Sends bytes on the connection: straight to the kernel if nothing is queued, the rest (or
 * all of it) copied and queued behind earlier output. */
static void send_bytes(conn_t *c, const char *data, size_t len)
{
    if (c->flags & C_CLOSED)
        return;
    size_t off = 0;
    if (eddy_stream_write_queue_size(&c->s.stream) == 0) {
        eddy_buf_t b = eddy_buf_init((void *)data, len);
        ssize_t n = eddy_stream_try_write(&c->s.stream, &b, 1);
        if (n < 0 && n != EDDY_EAGAIN) {
            eddy__http_conn_close(c, (int)n);
            return;
        }
        off = n > 0 ? (size_t)n : 0;
        if (off == len)
            return;
    }
    chunk_t *ch = malloc(sizeof *ch + (len - off));
    if (ch == NULL) {
        eddy__http_conn_close(c, -ENOMEM);
        return;
    }
    ch->len = len - off;
    memcpy(ch->bytes, data + off, ch->len);
    ch->req.data = c;
    eddy_buf_t b = eddy_buf_init(ch->bytes, ch->len);
    int r = eddy_stream_write(&ch->req, &c->s.stream, &b, 1, on_chunk_written);
    if (r < 0) {
        free(ch);
        eddy__http_conn_close(c, r);
        return;
    }
    c->writes++;
    if (r == EDDY_STREAM_FULL) {
        c->flags |= R_BACKPRESSURE;
        eddy__http_conn_update_reading(c);
    }
}

static int grow(char **buf, uint32_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 4096;
    while (n < need)
        n *= 2;
    char *b = realloc(*buf, n);
    if (b == NULL)
        return -ENOMEM;
    *buf = b;
    *cap = (uint32_t)n;
    return 0;
}

/* Bytes the server writes on its own (a 408), after everything already on its way. */
void eddy__http_conn_send_raw(conn_t *c, const char *data, size_t len)
{
    eddy__http_conn_flush(c);
    send_bytes(c, data, len);
}

void eddy__http_conn_flush(conn_t *c)
{
    eddy_http_server_t *s = c->server;
    if (s->_out_conn != c)
        return;
    size_t len = s->_out_len;
    s->_out_conn = NULL;
    s->_out_len = 0;
    if (len)
        send_bytes(c, s->_out, len);
}

void eddy__http_xchg_output(xchg_t *x, const char *data, size_t len)
{
    conn_t *c = x->conn;
    if ((x->flags & X_ORPHAN) || (c->flags & C_CLOSED) || len == 0)
        return;
    if (x != c->first) {
        uint32_t cap = x->held_cap;
        if (grow(&x->held, &cap, (size_t)x->held_len + len) != 0) {
            eddy__http_conn_close(c, -ENOMEM);
            return;
        }
        x->held_cap = cap;
        memcpy(x->held + x->held_len, data, len);
        x->held_len += (uint32_t)len;
        return;
    }
    eddy_http_server_t *s = c->server;
    if (s->_out_conn && s->_out_conn != c)
        eddy__http_conn_flush(s->_out_conn); /* keep the scratch to one connection */
    uint32_t cap = (uint32_t)s->_out_cap;
    if (grow(&s->_out, &cap, s->_out_len + len) != 0) {
        eddy__http_conn_close(c, -ENOMEM);
        return;
    }
    s->_out_cap = cap;
    s->_out_conn = c;
    memcpy(s->_out + s->_out_len, data, len);
    s->_out_len += len;
    /* Batching is for small responses: past the high-water mark (counting what is queued
     * already), send now. Otherwise a handler streaming from the request callback never sees
     * EDDY_STREAM_FULL (its bytes pile up in the scratch), and one read of pipelined requests
     * with large answers holds all of them (64 KiB of requests made 64 MiB of scratch and
     * queue). The send sets R_BACKPRESSURE when the socket is full, which stops the parser at
     * the next request. */
    if (s->_out_len + eddy_stream_write_queue_size(&c->s.stream) >= EDDY_STREAM_HWM_DEFAULT)
        eddy__http_conn_flush(c);
}

/* Outside the read path, output leaves when the API call that made it returns. */
void eddy__http_xchg_flush_now(xchg_t *x)
{
    conn_t *c = x->conn;
    if (!(x->flags & X_ORPHAN) && !(c->flags & (C_PROCESSING | C_CLOSED)))
        eddy__http_conn_flush(c);
}

/* ---- serialising ---------------------------------------------------------------------------- */

/* Whether header `name` (a special one, so its bit says whether it is there) lists `token`
 * among its comma-separated elements, compared without case (RFC 9110 5.6.1). */
static bool header_has_token(const xchg_t *x, const char *name, const char *token)
{
    size_t len;
    const char *v = eddy_http_res_get_header(&x->res, name, &len);
    size_t tl = strlen(token);
    for (size_t i = 0; v && i < len;) {
        while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t j = i;
        while (j < len && v[j] != ',')
            j++;
        size_t k = j;
        while (k > i && (v[k - 1] == ' ' || v[k - 1] == '\t'))
            k--;
        if (k - i == tl && strncasecmp(v + i, token, tl) == 0)
            return true;
        i = j;
    }
    return false;
}

/* The head is assembled in one buffer and handed to the output once, without snprintf (which
 * cost about 40% of the server's user-space instructions per request in the plaintext
 * benchmark); a head too big for the buffer goes out in pieces. */
typedef struct {
    xchg_t *x;
    size_t n;
    char buf[512];
} head_t;

static void head_flush(head_t *h)
{
    eddy__http_xchg_output(h->x, h->buf, h->n);
    h->n = 0;
}

static void head_put_slow(head_t *h, const char *src, size_t len)
{
    head_flush(h);
    if (len > sizeof h->buf) {
        eddy__http_xchg_output(h->x, src, len);
        return;
    }
    memcpy(h->buf, src, len);
    h->n = len;
}

/* Inline, so that the constant pieces become a few stores each. */
static inline __attribute__((always_inline)) void head_put(head_t *h, const char *src, size_t len)
{
    if (__builtin_expect(h->n + len > sizeof h->buf, 0)) {
        head_put_slow(h, src, len);
        return;
    }
    memcpy(h->buf + h->n, src, len);
    h->n += len;
}

static void head_put_u64(head_t *h, uint64_t v)
{
    char digits[20];
    size_t k = sizeof digits;
    do {
        digits[--k] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    head_put(h, digits + k, sizeof digits - k);
}

#define HEAD_PUT_LIT(h, lit) head_put((h), (lit), sizeof(lit) - 1)

/* Writes the status line and headers, adding Date, the body's framing and Connection. */
static void send_head(xchg_t *x, bool length_known, size_t length)
{
    conn_t *c = x->conn;
    eddy_http_server_t *s = c->server;
    /* res.status is a public field: one written directly, out of range, is answered as 500. */
    if (x->res.status < 100 || x->res.status > 999)
        x->res.status = 500;
    int status = x->res.status;
    x->flags |= X_HEAD_SENT | X_HEAD_OUT;
    bool bodiless = status < 200 || status == 204 || status == 304; /* never frame a body */
    if (bodiless)
        x->flags |= X_NO_BODY;
    /* Only this exchange's own state (or a closing server) closes after it: a later pipelined
     * request that asked to close must not cut off the responses before it. */
    if (s->_closing ||
        ((x->hmask & HM_CONNECTION) && header_has_token(x, "Connection", "close")))
        x->flags |= X_CLOSE;
    /* The last exchange of a connection that reads no more requests (a broken body the
     * handler answers, a client that half-closed) closes after it: say so, or the client
     * learns it only from the FIN and may send another request into it. */
    if ((c->flags & R_DONE) && x->next == NULL && c->parsing == NULL)
        x->flags |= X_CLOSE;

    head_t h;
    h.x = x;
    h.n = 0;
    char code[5] = {'H', '1', '0', '0', ' '}; /* status is 100..999 (checked above) */
    code[1] = (char)('0' + status / 100);
    code[2] = (char)('0' + status / 10 % 10);
    code[3] = (char)('0' + status % 10);
    HEAD_PUT_LIT(&h, "HTTP/1.1 ");
    head_put(&h, code + 1, 4);
    const char *text = eddy_http_status_text(status);
    head_put(&h, text, strlen(text));
    HEAD_PUT_LIT(&h, "\r\n");
    head_put(&h, x->hdrs, x->hdrs_len);
    if (!(x->hmask & HM_DATE)) {
        eddy__http_date_refresh(s);
        head_put(&h, s->_date, EDDY__HTTP_DATE_LEN);
    }
    bool framed = bodiless;
    if (!framed && (x->hmask & HM_CONTENT_LENGTH)) {
        framed = true;
    } else if (!framed && (x->hmask & HM_TRANSFER_ENCODING)) {
        framed = true;
        if (header_has_token(x, "Transfer-Encoding", "chunked"))
            x->flags |= X_CHUNKED;
    }
    if (!framed && length_known) {
        HEAD_PUT_LIT(&h, "Content-Length: ");
        head_put_u64(&h, length);
        HEAD_PUT_LIT(&h, "\r\n");
    } else if (!framed && x->req.http_minor >= 1) {
        HEAD_PUT_LIT(&h, "Transfer-Encoding: chunked\r\n");
        x->flags |= X_CHUNKED;
    } else if (!framed) {
        x->flags |= X_CLOSE | X_UNTIL_EOF; /* HTTP/1.0 and no length: closing ends the body */
    }
    if (x->flags & X_CLOSE)
        HEAD_PUT_LIT(&h, "Connection: close\r\n");
    else if (x->req.http_minor == 0)
        HEAD_PUT_LIT(&h, "Connection: keep-alive\r\n");
    HEAD_PUT_LIT(&h, "\r\n");
    head_flush(&h);
    if (x->flags & X_CLOSE)
        c->flags |= R_DONE;
}

static void send_body(xchg_t *x, const void *data, size_t len)
{
    if (len == 0 || (x->flags & X_NO_BODY))
        return;
    if (x->flags & X_CHUNKED) {
        char size[20];
        size_t k = sizeof size - 2;
        memcpy(size + k, "\r\n", 2);
        for (size_t v = len; v; v >>= 4)
            size[--k] = "0123456789abcdef"[v & 15];
        eddy__http_xchg_output(x, size + k, sizeof size - k);
        eddy__http_xchg_output(x, data, len);
        eddy__http_xchg_output(x, "\r\n", 2);
    } else {
        eddy__http_xchg_output(x, data, len);
    }
}

int eddy__http_xchg_status(const xchg_t *x)
{
    if (x->flags & X_ORPHAN)
        return x->conn->error ? x->conn->error : -EPIPE;
    if (x->conn->flags & C_CLOSED)
        return x->conn->error;
    return 0;
}

EDDY_EXPORT int eddy_http_res_write_head(eddy_http_res_t *res, int status)
{
    xchg_t *x = eddy__http_xchg(res);
    if (locked(x))
        return -EALREADY;
    int err = eddy_http_res_set_status(res, status);
    if (err)
        return err;
    /* Like Node, the head goes out with the first body bytes, so end() can still give it a
     * Content-Length; from here on it can no longer change. */
    x->flags |= X_HEAD_SENT;
    return 0;
}

EDDY_EXPORT int eddy_http_res_write(eddy_http_res_t *res, const void *data, size_t len)
{
    xchg_t *x = eddy__http_xchg(res);
    if (x->flags & X_ENDED)
        return -EINVAL;
    int err = eddy__http_xchg_status(x);
    if (err)
        return err;
    if (!(x->flags & X_HEAD_OUT))
        send_head(x, false, 0);
    send_body(x, data, len);
    eddy__http_xchg_flush_now(x);
    conn_t *c = x->conn;
    if ((err = eddy__http_xchg_status(x)) != 0)
        return err;
    bool full = (c->flags & R_BACKPRESSURE) || x->held_len >= EDDY_STREAM_HWM_DEFAULT ||
                eddy_stream_write_queue_size(&c->s.stream) >=
                    eddy_stream_get_high_water_mark(&c->s.stream);
    return full ? EDDY_STREAM_FULL : 0;
}

EDDY_EXPORT int eddy_http_res_end(eddy_http_res_t *res, const void *data, size_t len)
{
    xchg_t *x = eddy__http_xchg(res);
    assert(!(x->flags & X_ENDED) && "eddy_http_res_end called twice");
    if (x->res_stream) eddy__http_res_stream_detach(x);
    int err = eddy__http_xchg_status(x);
    if (!err) {
        if (!(x->flags & X_HEAD_OUT))
            send_head(x, true, len);
        send_body(x, data, len);
        /* A HEAD answer has no body at all, not even the last chunk: those 5 bytes would be
         * read as the start of the next response. */
        if ((x->flags & X_CHUNKED) && !(x->flags & X_NO_BODY))
            eddy__http_xchg_output(x, "0\r\n\r\n", 5);
    }
    x->flags |= X_ENDED;
    conn_t *c = x->conn;
    if (c->dispatching == x)
        c->dispatching = NULL;
    if (c->parsing == x)
        c->parsing = NULL; /* the rest of its body is read and dropped */
    c->refs++;
    eddy__http_xchg_finished(x);
    if (!(c->flags & (C_PROCESSING | C_CLOSED)))
        eddy__http_conn_flush(c);
    eddy__http_conn_release(c);
    return err;
}

/* x is ended: retire every finished response at the head of the queue, release held output
 * of the next one, and decide what the connection does next. */
void eddy__http_xchg_finished(xchg_t *x)
{
    conn_t *c = x->conn;
    if (x->flags & X_ORPHAN) {
        eddy__http_xchg_free(x);
        return;
    }
    while (c->first && (c->first->flags & X_ENDED)) {
        xchg_t *done = c->first;
        c->first = done->next;
        if (c->first == NULL)
            c->last = NULL;
        c->inflight--;
        if (done->flags & X_CLOSE)
            c->flags |= R_DONE;
        eddy__http_xchg_free(done);
        if (c->first && c->first->held_len) {
            xchg_t *next = c->first;
            char *held = next->held;
            uint32_t held_len = next->held_len;
            next->held = NULL;
            next->held_len = next->held_cap = 0;
            eddy__http_xchg_output(next, held, held_len);
            free(held);
        }
        if (c->first && c->first->sendfile) {
            struct eddy__http_sendfile *sf = c->first->sendfile;
            c->first->sendfile = NULL;
            eddy__http_sendfile_start(c, sf);
        }
        if (c->first && c->first->res_stream && !(c->flags & R_BACKPRESSURE))
            eddy__http_res_stream_unblock(c->first);
    }
    if (c->flags & C_CLOSED)
        return;
    if ((c->flags & R_PIPELINE) && c->inflight < c->server->_opts.pipeline_max) {
        c->flags &= ~R_PIPELINE;
        eddy__http_conn_resume_input(c);
    }
    if (c->first != NULL || c->parsing != NULL)
        return;
    if (c->flags & R_DONE) {
        eddy__http_conn_end(c);
    } else if (c->tclass == T_NONE) {
        uint64_t now = eddy_now(c->server->loop);
        eddy__http_conn_set_timeout(c, T_IDLE, now + c->server->_opts.keep_alive_timeout_ms);
    }
}

/* A response the server makes itself: status, no body, and the connection closes after. */
int eddy__http_send_error(conn_t *c, xchg_t *x, int status)
{
    c->server->_stats.rejected++;
    x->flags |= X_CLOSE | X_INTERNAL;
    x->res.status = status;
    c->flags |= R_DONE;
    if (c->parsing == x)
        c->parsing = NULL;
    return eddy_http_res_end(&x->res, NULL, 0);
}

/* ---- sendfile ---------------------------------------------------------------------------- */

static void sendfile_done(eddy_sendfile_t *req, int status)
{
    struct eddy__http_sendfile *sf = eddy_container_of(req, struct eddy__http_sendfile, req);
    conn_t *c = sf->conn;
    c->writes--;
    if (status < 0 && status != EDDY_ECANCELED)
        eddy__http_conn_close(c, status);
    sf->done(sf, status);
}

/* The response is first on its connection: what is before the file leaves, then the file. */
void eddy__http_sendfile_start(conn_t *c, struct eddy__http_sendfile *sf)
{
    eddy__http_conn_flush(c);
    if (c->flags & C_CLOSED) {
        sf->done(sf, c->error ? c->error : -EPIPE);
        return;
    }
    int r = eddy_stream_sendfile(&sf->req, &c->s.stream, sf->fd, sf->offset, sf->len,
                                 sendfile_done);
    if (r < 0) {
        eddy__http_conn_close(c, r);
        sf->done(sf, r);
        return;
    }
    c->writes++;
    if (r == EDDY_STREAM_FULL) {
        c->flags |= R_BACKPRESSURE;
        eddy__http_conn_update_reading(c);
    }
}

int eddy__http_res_sendfile(eddy_http_res_t *res, struct eddy__http_sendfile *sf)
{
    xchg_t *x = eddy__http_xchg(res);
    char len[24];
    snprintf(len, sizeof len, "%llu", (unsigned long long)sf->len);
    eddy_http_res_remove_header(res, "Transfer-Encoding");
    eddy_http_res_set_header(res, "Content-Length", len);
    int err = eddy__http_xchg_status(x);
    if (err || (x->flags & X_NO_BODY) || sf->len == 0 || res->status == 304 ||
        res->status == 204) {
        int e = eddy_http_res_end(res, NULL, 0);
        return err ? err : e ? e : 1;
    }
    if (!(x->flags & X_HEAD_OUT))
        send_head(x, true, (size_t)sf->len);
    conn_t *c = x->conn;
    sf->conn = c;
    if (x == c->first)
        eddy__http_sendfile_start(c, sf);
    else
        x->sendfile = sf; /* its turn comes in eddy__http_xchg_finished */
    eddy_http_res_end(res, NULL, 0);
    return 0;
}

EDDY_EXPORT void eddy_http_res_destroy(eddy_http_res_t *res, int err)
{
    xchg_t *x = eddy__http_xchg(res);
    x->abort_cb = NULL; /* the user knows */
    if (!(x->flags & X_ORPHAN) && !(x->conn->flags & C_CLOSED))
        eddy__http_conn_close(x->conn, err ? err : -ECONNABORTED);
    eddy_http_res_end(res, NULL, 0);
}

EDDY_EXPORT int eddy_http_res_detach(eddy_http_res_t *res)
{
    xchg_t *x = eddy__http_xchg(res);
    conn_t *c = x->conn;
    int err = eddy__http_xchg_status(x);
    if (err)
        return err;
    int fd = dup(c->s.stream._io._fd);
    if (fd < 0)
        return -errno;
    c->flags |= C_DETACHED;
    /* The server forgets the connection: no response, no abort callback for this one. */
    x->flags |= X_ENDED;
    eddy__http_conn_close(c, 0);
    return fd;
}

EDDY_EXPORT void eddy_http_res_on_drain(eddy_http_res_t *res, eddy_http_drain_cb cb)
{
    eddy__http_xchg(res)->drain_cb = cb;
}

EDDY_EXPORT void eddy_http_res_on_abort(eddy_http_res_t *res, eddy_http_abort_cb cb)
{
    eddy__http_xchg(res)->abort_cb = cb;
}

EDDY_EXPORT const char *eddy_http_status_text(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}
