/* The HTTP/1.1 parser: a byte-driven state machine that resumes anywhere.
 *
 * Three kinds of state: idle (between messages), line (start line, field lines, chunk-size
 * lines, trailers: bounded by header_size_max, see execute) and data (body bytes, counted or
 * to end of input). Spans are scanned with tight loops over a byte-class table and delivered
 * once per run, not per byte. Strictness follows RFC 9112; docs/conformance.md lists where
 * it differs from llhttp. */
#include "eddy/http_parser.h"

#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

enum {
    /* idle: between messages */
    S_START,
    S_START_LF,
    S_CLOSED, /* after a message that ends the connection: only empty lines may follow */
    S_CLOSED_LF,
    /* line states, bounded by the head budget */
    S_METHOD,
    S_URL_START,
    S_URL,
    S_VERSION,
    S_START_LINE_LF,
    S_STATUS,
    S_REASON,
    S_FIELD_START,
    S_FIELD,
    S_VALUE_START,
    S_VALUE,
    S_VALUE_LF,
    S_HEAD_END_LF,
    S_CHUNK_SIZE_START,
    S_CHUNK_SIZE,
    S_CHUNK_EXT_NAME,
    S_CHUNK_EXT_VALUE_START,
    S_CHUNK_EXT_TOKEN,
    S_CHUNK_EXT_QUOTED,
    S_CHUNK_EXT_ESCAPE,
    S_CHUNK_EXT_QUOTED_END,
    S_CHUNK_SIZE_LF,
    S_CHUNK_DATA_CR,
    S_CHUNK_DATA_LF,
    /* data states */
    S_BODY_LENGTH,
    S_BODY_EOF,
    S_CHUNK_DATA,
    /* final */
    S_UPGRADED,
    S_DEAD
};

enum { STOP_NONE, STOP_PAUSED, STOP_UPGRADED, STOP_ERROR };

/* What a header field means to the parser (_hstate). */
enum { H_GENERAL, H_CONTENT_LENGTH, H_TRANSFER_ENCODING, H_CONNECTION, H_EXPECT };

/* Progress within a Content-Length value (_idx). */
enum { CL_NONE, CL_DIGITS, CL_AFTER };

/* Progress within a token of a comma-separated list (_idx). */
enum { TOK_IN, TOK_AFTER_WS, TOK_PARAMS };

/* _bits */
enum {
    B_CHUNKED_SEEN = 1, /* a Transfer-Encoding listed chunked */
    B_LAST_CHUNKED = 2, /* ... and it is the last coding so far */
    B_TRAILERS = 4,     /* field lines are trailers */
    B_NEW_SECTION = 8   /* a line state starts a fresh budget (see execute) */
};

/* Events a pausing callback postpones (_pending). */
enum { P_NONE, P_METHOD, P_URL, P_STATUS, P_FIELD, P_MESSAGE };

/* _buf_len once a token outgrows _buf: it can match nothing we look for. */
#define BUF_OVERFLOW 0xFF

/* Byte classes. VALUE: field-content bytes (HTAB, SP, VCHAR, obs-text); URL: VCHAR;
 * QDTEXT: what a quoted string holds unescaped. */
enum { C_TOKEN = 1, C_VALUE = 2, C_URL = 4, C_HEX = 8, C_QDTEXT = 16 };

static const uint8_t cls[256] = {
    0,  0,  0,  0,  0,  0,  0,  0,  0,  18, 0,  0,  0,  0,  0,  0,  /* 0x00 */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 0x10 */
    18, 23, 6,  23, 23, 23, 23, 23, 22, 22, 23, 23, 22, 23, 23, 22, /* 0x20 */
    31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 22, 22, 22, 22, 22, 22, /* 0x30 */
    22, 31, 31, 31, 31, 31, 31, 23, 23, 23, 23, 23, 23, 23, 23, 23, /* 0x40 */
    23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 22, 6,  22, 23, 23, /* 0x50 */
    23, 31, 31, 31, 31, 31, 31, 23, 23, 23, 23, 23, 23, 23, 23, 23, /* 0x60 */
    23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 22, 23, 22, 23, 0,  /* 0x70 */
    18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, /* 0x80 */
    18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, /* 0x90 */
    18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, /* 0xa0 */
    18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, /* 0xb0 */
    18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, /* 0xc0 */
    18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, /* 0xd0 */
    18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, /* 0xe0 */
    18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, /* 0xf0 */
};

static inline int is(char c, int cls_mask)
{
    return cls[(uint8_t)c] & cls_mask;
}

static inline char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

/* Advances over bytes of a class; four at a time, since field values and targets are long. */
static inline const char *scan(const char *pos, const char *end, int cls_mask)
{
    while (end - pos >= 4) {
        if (!is(pos[0], cls_mask)) return pos;
        if (!is(pos[1], cls_mask)) return pos + 1;
        if (!is(pos[2], cls_mask)) return pos + 2;
        if (!is(pos[3], cls_mask)) return pos + 3;
        pos += 4;
    }
    while (pos < end && is(*pos, cls_mask))
        pos++;
    return pos;
}

#ifdef __SSE2__
/* Field values and targets are most of a head: check them 16 bytes at a time. */
static inline const char *scan_value(const char *pos, const char *end)
{
    const __m128i ctl_max = _mm_set1_epi8(0x1f), tab = _mm_set1_epi8('\t');
    const __m128i del = _mm_set1_epi8(0x7f);
    for (; end - pos >= 16; pos += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)pos);
        __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(x, ctl_max), x); /* x <= 0x1f */
        __m128i bad =
            _mm_or_si128(_mm_andnot_si128(_mm_cmpeq_epi8(x, tab), ctl), _mm_cmpeq_epi8(x, del));
        int mask = _mm_movemask_epi8(bad);
        if (mask) return pos + __builtin_ctz((unsigned)mask);
    }
    return scan(pos, end, C_VALUE);
}

static inline const char *scan_url(const char *pos, const char *end)
{
    const __m128i sp = _mm_set1_epi8(0x20), del = _mm_set1_epi8(0x7f);
    for (; end - pos >= 16; pos += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)pos);
        __m128i low = _mm_cmpeq_epi8(_mm_min_epu8(x, sp), x);   /* x <= 0x20 */
        __m128i high = _mm_cmpeq_epi8(_mm_max_epu8(x, del), x); /* x >= 0x7f */
        int mask = _mm_movemask_epi8(_mm_or_si128(low, high));
        if (mask) return pos + __builtin_ctz((unsigned)mask);
    }
    return scan(pos, end, C_URL);
}
#else
static inline const char *scan_value(const char *pos, const char *end)
{
    return scan(pos, end, C_VALUE);
}

static inline const char *scan_url(const char *pos, const char *end)
{
    return scan(pos, end, C_URL);
}
#endif

static const struct {
    const char *name;
    uint8_t len;
} methods[EDDY_HTTP_METHOD_COUNT] = {
    [EDDY_HTTP_METHOD_NONE] = {"", 0},
    [EDDY_HTTP_GET] = {"GET", 3},
    [EDDY_HTTP_HEAD] = {"HEAD", 4},
    [EDDY_HTTP_POST] = {"POST", 4},
    [EDDY_HTTP_PUT] = {"PUT", 3},
    [EDDY_HTTP_DELETE] = {"DELETE", 6},
    [EDDY_HTTP_CONNECT] = {"CONNECT", 7},
    [EDDY_HTTP_OPTIONS] = {"OPTIONS", 7},
    [EDDY_HTTP_TRACE] = {"TRACE", 5},
    [EDDY_HTTP_PATCH] = {"PATCH", 5},
    [EDDY_HTTP_QUERY] = {"QUERY", 5},
    [EDDY_HTTP_COPY] = {"COPY", 4},
    [EDDY_HTTP_LOCK] = {"LOCK", 4},
    [EDDY_HTTP_MKCOL] = {"MKCOL", 5},
    [EDDY_HTTP_MOVE] = {"MOVE", 4},
    [EDDY_HTTP_PROPFIND] = {"PROPFIND", 8},
    [EDDY_HTTP_PROPPATCH] = {"PROPPATCH", 9},
    [EDDY_HTTP_SEARCH] = {"SEARCH", 6},
    [EDDY_HTTP_UNLOCK] = {"UNLOCK", 6},
    [EDDY_HTTP_BIND] = {"BIND", 4},
    [EDDY_HTTP_REBIND] = {"REBIND", 6},
    [EDDY_HTTP_UNBIND] = {"UNBIND", 6},
    [EDDY_HTTP_ACL] = {"ACL", 3},
    [EDDY_HTTP_REPORT] = {"REPORT", 6},
    [EDDY_HTTP_MKACTIVITY] = {"MKACTIVITY", 10},
    [EDDY_HTTP_CHECKOUT] = {"CHECKOUT", 8},
    [EDDY_HTTP_MERGE] = {"MERGE", 5},
    [EDDY_HTTP_MKCALENDAR] = {"MKCALENDAR", 10},
    [EDDY_HTTP_MSEARCH] = {"M-SEARCH", 8},
    [EDDY_HTTP_NOTIFY] = {"NOTIFY", 6},
    [EDDY_HTTP_SUBSCRIBE] = {"SUBSCRIBE", 9},
    [EDDY_HTTP_UNSUBSCRIBE] = {"UNSUBSCRIBE", 11},
    [EDDY_HTTP_PURGE] = {"PURGE", 5},
    [EDDY_HTTP_LINK] = {"LINK", 4},
    [EDDY_HTTP_UNLINK] = {"UNLINK", 6},
    [EDDY_HTTP_SOURCE] = {"SOURCE", 6},
};

static uint8_t method_lookup(const char *name, size_t len)
{
    /* Nearly every request is a GET or a POST: settle those without the table walk. */
    if (len == 3 && name[0] == 'G' && name[1] == 'E' && name[2] == 'T') return EDDY_HTTP_GET;
    if (len == 4 && memcmp(name, "POST", 4) == 0) return EDDY_HTTP_POST;
    for (int m = 1; m < EDDY_HTTP_METHOD_COUNT; m++)
        if (methods[m].len == len && memcmp(methods[m].name, name, len) == 0) return (uint8_t)m;
    return EDDY_HTTP_METHOD_NONE;
}

/* ---- stopping: errors, pauses, callbacks ---- */

/* Records a parse error; returns `at` so callers can `return fail(...)` with the offset. */
static const char *fail(eddy_http_parser_t *p, const char *at, int err, const char *reason)
{
    p->_error = err;
    p->_reason = reason;
    p->_stop = STOP_ERROR;
    p->_state = S_DEAD;
    return at;
}

/* Acts on a callback's non-zero answer; always 1 (the parser must stop). */
static int callback_stop(eddy_http_parser_t *p, int rc)
{
    if (rc == EDDY_HTTP_PAUSE) {
        if (p->_stop == STOP_NONE)
            p->_stop = STOP_PAUSED; /* an upgrade already stops it for good */
    } else {
        fail(p, NULL, EDDY_HTTP_E_CALLBACK, "A callback returned an error");
    }
    return 1;
}

/* Runs an event callback; 1 if the parser must stop. */
static int notify(eddy_http_parser_t *p, eddy_http_cb cb)
{
    int rc = cb ? cb(p) : 0;
    return rc ? callback_stop(p, rc) : 0;
}

/* Delivers a piece of a span; empty pieces are not delivered. 1 if the parser must stop. */
static int span(eddy_http_parser_t *p, eddy_http_data_cb cb, const char *at, const char *to)
{
    int rc = cb && at != to ? cb(p, at, (size_t)(to - at)) : 0;
    return rc ? callback_stop(p, rc) : 0;
}

/* Delivers the last piece of a span, then its end; a pause in between postpones the end. */
static int span_end(eddy_http_parser_t *p, eddy_http_data_cb cb, eddy_http_cb done, uint8_t pending,
                    const char *at, const char *to)
{
    if (span(p, cb, at, to)) {
        p->_pending = pending;
        return 1;
    }
    return notify(p, done);
}

/* Appends a piece of a split name to _buf (the rest of the name comes with the next input). */
static void buf_add(eddy_http_parser_t *p, const char *at, const char *to)
{
    size_t n = (size_t)(to - at);
    if (p->_buf_len == BUF_OVERFLOW || p->_buf_len + n > sizeof p->_buf) {
        p->_buf_len = BUF_OVERFLOW;
        return;
    }
    memcpy(p->_buf + p->_buf_len, at, n);
    p->_buf_len = (uint8_t)(p->_buf_len + n);
}

/* Case-insensitive comparison with a lowercase literal. */
static int name_is(const char *name, size_t len, const char *lit, size_t lit_len)
{
    if (len != lit_len) return 0;
    for (size_t i = 0; i < len; i++)
        if (lower(name[i]) != lit[i]) return 0;
    return 1;
}

/* ---- messages ---- */

static void update_keep_alive(eddy_http_parser_t *p)
{
    uint32_t f = p->flags & ~(uint32_t)EDDY_HTTP_F_KEEP_ALIVE;
    int keep = 0;
    if (p->http_major == 1 && p->http_minor == 1)
        keep = !(f & EDDY_HTTP_F_CONNECTION_CLOSE);
    else if (p->http_major == 1)
        keep = (f & EDDY_HTTP_F_CONNECTION_KEEP_ALIVE) && !(f & EDDY_HTTP_F_CONNECTION_CLOSE);
    if (f & EDDY_HTTP_F_EOF_BODY) keep = 0; /* only closing the connection ends this message */
    p->flags = f | (keep ? EDDY_HTTP_F_KEEP_ALIVE : 0);
}

static int message_complete(eddy_http_parser_t *p, const eddy_http_parser_settings_t *s)
{
    if (p->flags & EDDY_HTTP_F_UPGRADE) {
        p->_state = S_UPGRADED;
        p->_stop = STOP_UPGRADED;
    } else {
        p->_state = p->flags & EDDY_HTTP_F_KEEP_ALIVE ? S_START : S_CLOSED;
    }
    return notify(p, s->on_message_complete);
}

/* Starts a message at its first byte (not consumed). */
static const char *message_begin(eddy_http_parser_t *p, const eddy_http_parser_settings_t *s,
                                 const char *pos)
{
    if (p->type == EDDY_HTTP_REQUEST) {
        if (*pos == '\n')
            return fail(p, pos, EDDY_HTTP_E_CR_EXPECTED, "Bare LF before request line");
        if (!is(*pos, C_TOKEN))
            return fail(p, pos, EDDY_HTTP_E_INVALID_METHOD, "Invalid method char");
        p->_state = S_METHOD;
    } else {
        p->_state = S_VERSION;
    }
    p->flags = 0;
    p->content_length = 0;
    p->chunk_size = 0;
    p->status_code = 0;
    p->method = EDDY_HTTP_METHOD_NONE;
    p->http_major = 0;
    p->http_minor = 0;
    p->_idx = 0;
    p->_buf_len = 0;
    p->_bits = 0;
    p->_head_left = p->header_size_max;
    p->_url_left = p->url_size_max;
    notify(p, s->on_message_begin);
    return pos;
}

/* The end of the header section: decide how the body is framed, then tell the user. */
static int headers_done(eddy_http_parser_t *p, const eddy_http_parser_settings_t *s)
{
    uint32_t f = p->flags;
    int request = p->type == EDDY_HTTP_REQUEST;
    if (f & EDDY_HTTP_F_TRANSFER_ENCODING) {
        if (p->_bits & B_LAST_CHUNKED)
            f |= EDDY_HTTP_F_CHUNKED;
        else if (request) { /* RFC 9112 6.3: the length cannot be determined: 400 */
            fail(p, NULL, EDDY_HTTP_E_INVALID_TRANSFER_ENCODING,
                 "Request has invalid Transfer-Encoding");
            return 1;
        } else
            f |= EDDY_HTTP_F_EOF_BODY;
    }
    if (request ? (f & EDDY_HTTP_F_UPGRADE_FIELD && f & EDDY_HTTP_F_CONNECTION_UPGRADE) ||
                      p->method == EDDY_HTTP_CONNECT
                : p->status_code == 101)
        f |= EDDY_HTTP_F_UPGRADE;
    if (!request && (p->status_code < 200 || p->status_code == 204 || p->status_code == 304))
        f |= EDDY_HTTP_F_SKIP_BODY;
    else if (!request && !(f & (EDDY_HTTP_F_CHUNKED | EDDY_HTTP_F_CONTENT_LENGTH)))
        f |= EDDY_HTTP_F_EOF_BODY;
    if (f & EDDY_HTTP_F_SKIP_BODY) f &= ~(uint32_t)EDDY_HTTP_F_EOF_BODY;
    p->flags = f;
    update_keep_alive(p);

    int rc = s->on_headers_complete ? s->on_headers_complete(p) : 0;
    int pause = 0;
    if (rc == EDDY_HTTP_SKIP_BODY)
        p->flags |= EDDY_HTTP_F_SKIP_BODY;
    else if (rc == EDDY_HTTP_UPGRADE)
        p->flags |= EDDY_HTTP_F_SKIP_BODY | EDDY_HTTP_F_UPGRADE;
    else if (rc == EDDY_HTTP_PAUSE)
        pause = 1;
    else if (rc != 0)
        return callback_stop(p, rc);
    if (p->flags & EDDY_HTTP_F_SKIP_BODY) {
        p->flags &= ~(uint32_t)EDDY_HTTP_F_EOF_BODY;
        update_keep_alive(p);
    }

    f = p->flags;
    /* CONNECT and 101 switch protocols right after the head; their bytes are the tunnel's. */
    int no_body = (f & EDDY_HTTP_F_SKIP_BODY) ||
                  (f & EDDY_HTTP_F_UPGRADE && (p->method == EDDY_HTTP_CONNECT || !request)) ||
                  (!(f & (EDDY_HTTP_F_CHUNKED | EDDY_HTTP_F_EOF_BODY)) && p->content_length == 0);
    if (no_body) {
        if (pause) {
            p->_pending = P_MESSAGE;
            p->_stop = STOP_PAUSED;
            return 1;
        }
        return message_complete(p, s);
    }
    if (f & EDDY_HTTP_F_CHUNKED) {
        p->_state = S_CHUNK_SIZE_START;
        p->_bits |= B_NEW_SECTION;
    } else if (f & EDDY_HTTP_F_EOF_BODY) {
        p->_state = S_BODY_EOF;
    } else {
        p->_state = S_BODY_LENGTH;
        p->_remaining = p->content_length;
    }
    if (pause) p->_stop = STOP_PAUSED;
    return pause;
}

/* ---- header fields that frame the message ---- */

/* Learns what a field name means; a failure message, or NULL. */
static const char *field_name(eddy_http_parser_t *p, const char *name, size_t len)
{
    p->_hstate = H_GENERAL;
    p->_idx = 0;
    p->_buf_len = 0;
    if (name_is(name, len, "content-length", 14)) {
        if (p->flags & EDDY_HTTP_F_CONTENT_LENGTH) return "Duplicate Content-Length";
        p->flags |= EDDY_HTTP_F_CONTENT_LENGTH;
        p->_hstate = H_CONTENT_LENGTH;
    } else if (name_is(name, len, "transfer-encoding", 17)) {
        p->flags |= EDDY_HTTP_F_TRANSFER_ENCODING;
        p->_hstate = H_TRANSFER_ENCODING;
    } else if (name_is(name, len, "connection", 10)) {
        p->_hstate = H_CONNECTION;
    } else if (name_is(name, len, "expect", 6)) {
        p->_hstate = H_EXPECT;
    } else if (name_is(name, len, "upgrade", 7)) {
        p->flags |= EDDY_HTTP_F_UPGRADE_FIELD;
    }
    return NULL;
}

/* The end of one element of a comma-separated list (Connection, Transfer-Encoding, Expect);
 * a failure message, or NULL. */
static const char *token_end(eddy_http_parser_t *p)
{
    const char *t = p->_buf;
    size_t n = p->_buf_len;
    p->_buf_len = 0;
    p->_idx = TOK_IN;
    if (n == 0) return NULL; /* empty list elements are allowed and ignored (RFC 9110 5.6.1) */
    switch (p->_hstate) {
    case H_CONNECTION:
        if (name_is(t, n, "close", 5))
            p->flags |= EDDY_HTTP_F_CONNECTION_CLOSE;
        else if (name_is(t, n, "keep-alive", 10))
            p->flags |= EDDY_HTTP_F_CONNECTION_KEEP_ALIVE;
        else if (name_is(t, n, "upgrade", 7))
            p->flags |= EDDY_HTTP_F_CONNECTION_UPGRADE;
        break;
    case H_EXPECT:
        if (name_is(t, n, "100-continue", 12)) p->flags |= EDDY_HTTP_F_EXPECT_CONTINUE;
        break;
    case H_TRANSFER_ENCODING:
        if (name_is(t, n, "chunked", 7)) {
            if (p->_bits & B_CHUNKED_SEEN) /* RFC 9112 6.1: never applied twice */
                return "Transfer-Encoding lists chunked twice";
            p->_bits |= B_CHUNKED_SEEN | B_LAST_CHUNKED;
        } else if (p->_bits & B_LAST_CHUNKED) {
            /* A request's body must end in chunked; a response then runs to end of input. */
            if (p->type == EDDY_HTTP_REQUEST) return "Invalid Transfer-Encoding header value";
            p->_bits &= (uint8_t)~B_LAST_CHUNKED;
        }
        break;
    }
    return NULL;
}

static void token_byte(eddy_http_parser_t *p, char c)
{
    if (p->_idx == TOK_PARAMS) return;
    if (c == ' ' || c == '\t') {
        if (p->_buf_len) p->_idx = TOK_AFTER_WS;
    } else if (c == ';' && p->_hstate == H_TRANSFER_ENCODING) {
        p->_idx = TOK_PARAMS; /* transfer-parameters do not change the coding */
    } else if (p->_idx == TOK_AFTER_WS || p->_buf_len >= sizeof p->_buf) {
        p->_buf_len = BUF_OVERFLOW; /* "keep alive" or an overlong token: matches nothing */
    } else {
        p->_buf[p->_buf_len++] = lower(c);
    }
}

/* Interprets a piece of a framing field's value; NULL, or the position of the fault. */
static const char *value_bytes(eddy_http_parser_t *p, const char *at, const char *to)
{
    if (p->_hstate == H_CONTENT_LENGTH) {
        for (; at < to; at++) {
            unsigned d = (unsigned)(uint8_t)*at - '0';
            if (d < 10 && p->_idx != CL_AFTER) {
                if (p->content_length > (uint64_t)(INT64_MAX - d) / 10)
                    return fail(p, at, EDDY_HTTP_E_INVALID_CONTENT_LENGTH,
                                "Content-Length overflow");
                p->content_length = p->content_length * 10 + d;
                p->_idx = CL_DIGITS;
            } else if ((*at == ' ' || *at == '\t') && p->_idx == CL_DIGITS) {
                p->_idx = CL_AFTER;
            } else if (!(*at == ' ' || *at == '\t')) {
                return fail(p, at, EDDY_HTTP_E_INVALID_CONTENT_LENGTH,
                            "Invalid character in Content-Length");
            }
        }
        return NULL;
    }
    for (; at < to; at++) {
        if (*at != ',') {
            token_byte(p, *at);
            continue;
        }
        const char *why = token_end(p);
        if (why) return fail(p, at, EDDY_HTTP_E_INVALID_TRANSFER_ENCODING, why);
    }
    return NULL;
}

/* The end of a field value (its LF); NULL, or the position of the fault. */
static const char *value_done(eddy_http_parser_t *p, const char *at)
{
    if (p->_hstate == H_CONTENT_LENGTH && p->_idx == CL_NONE)
        return fail(p, at, EDDY_HTTP_E_INVALID_CONTENT_LENGTH, "Empty Content-Length");
    if (p->_hstate != H_GENERAL && p->_hstate != H_CONTENT_LENGTH) {
        const char *why = token_end(p);
        if (why) return fail(p, at, EDDY_HTTP_E_INVALID_TRANSFER_ENCODING, why);
    }
    p->_hstate = H_GENERAL;
    return NULL;
}

/* ---- the state machine ---- */

/* Empty lines may precede a message (RFC 9112 2.2); after a closing message nothing else. */
static const char *parse_idle(eddy_http_parser_t *p, const eddy_http_parser_settings_t *s,
                              const char *pos, const char *end)
{
    for (; pos < end; pos++) {
        char c = *pos;
        switch (p->_state) {
        case S_START:
            if (c != '\r') return message_begin(p, s, pos);
            p->_state = S_START_LF;
            break;
        case S_CLOSED:
            if (c != '\r')
                return fail(p, pos, EDDY_HTTP_E_CLOSED_CONNECTION,
                            "Data after `Connection: close`");
            p->_state = S_CLOSED_LF;
            break;
        default: /* S_START_LF, S_CLOSED_LF */
            if (c != '\n') return fail(p, pos, EDDY_HTTP_E_LF_EXPECTED, "Expected LF after CR");
            p->_state = p->_state == S_START_LF ? S_START : S_CLOSED;
            break;
        }
    }
    return pos;
}

static const char *parse_method(eddy_http_parser_t *p, const eddy_http_parser_settings_t *s,
                                const char *pos, const char *end)
{
    const char *start = pos;
    pos = scan(pos, end, C_TOKEN);
    if (pos == end) {
        buf_add(p, start, pos);
        span(p, s->on_method, start, pos);
        return pos;
    }
    if (*pos != ' ') return fail(p, pos, EDDY_HTTP_E_INVALID_METHOD, "Expected space after method");
    const char *name = start;
    size_t len = (size_t)(pos - start);
    if (p->_buf_len) { /* the method began in an earlier input */
        buf_add(p, start, pos);
        name = p->_buf;
        len = p->_buf_len == BUF_OVERFLOW ? 0 : p->_buf_len;
    }
    p->method = method_lookup(name, len);
    if (p->method == EDDY_HTTP_METHOD_NONE)
        return fail(p, pos, EDDY_HTTP_E_UNKNOWN_METHOD, "Unknown method");
    p->_state = S_URL_START;
    span_end(p, s->on_method, s->on_method_complete, P_METHOD, start, pos);
    return pos + 1;
}

static const char *parse_url(eddy_http_parser_t *p, const eddy_http_parser_settings_t *s,
                             const char *pos, const char *end)
{
    const char *start = pos;
    const char *bound = (size_t)(end - pos) > p->_url_left ? pos + p->_url_left : end;
    pos = scan_url(pos, bound);
    p->_url_left -= (uint32_t)(pos - start);
    if (pos == end) {
        span(p, s->on_url, start, pos);
        return pos;
    }
    if (*pos == ' ') {
        p->_state = S_VERSION;
        p->_idx = 0;
    } else if (*pos == '\r') { /* HTTP/0.9 style: no version */
        p->http_major = 0;
        p->http_minor = 9;
        p->_state = S_START_LINE_LF;
    } else if (*pos == '\n') {
        return fail(p, pos, EDDY_HTTP_E_CR_EXPECTED, "Bare LF after request target");
    } else if (is(*pos, C_URL)) {
        return fail(p, pos, EDDY_HTTP_E_URI_TOO_LONG, "Request target too long");
    } else {
        return fail(p, pos, EDDY_HTTP_E_INVALID_URL, "Invalid char in url");
    }
    span_end(p, s->on_url, s->on_url_complete, P_URL, start, pos);
    return pos + 1;
}

/* "HTTP/" DIGIT "." DIGIT, then CRLF (request) or SP (response). */
static const char *parse_version(eddy_http_parser_t *p, const char *pos, const char *end)
{
    if (p->_idx == 0 && end - pos >= 8 && memcmp(pos, "HTTP/1.", 7) == 0 &&
        (pos[7] == '1' || pos[7] == '0')) {
        p->http_major = 1;
        p->http_minor = (uint8_t)(pos[7] - '0');
        p->_idx = 8;
        pos += 8;
    }
    for (; pos < end && p->_idx < 8; pos++, p->_idx++) {
        char c = *pos;
        if (p->_idx < 5 && c != "HTTP/"[p->_idx])
            return fail(p, pos, EDDY_HTTP_E_INVALID_VERSION, "Expected HTTP/");
        if (p->_idx == 6 && c != '.')
            return fail(p, pos, EDDY_HTTP_E_INVALID_VERSION, "Expected dot");
        if ((p->_idx == 5 || p->_idx == 7) && (c < '0' || c > '9'))
            return fail(p, pos, EDDY_HTTP_E_INVALID_VERSION, "Expected digit in version");
        if (p->_idx == 5) p->http_major = (uint8_t)(c - '0');
        if (p->_idx == 7) {
            p->http_minor = (uint8_t)(c - '0');
            unsigned v = p->http_major * 10u + p->http_minor;
            if (v != 9 && v != 10 && v != 11)
                return fail(p, pos, EDDY_HTTP_E_UNSUPPORTED_VERSION, "Invalid HTTP version");
        }
    }
    if (pos == end) return pos;
    if (p->type == EDDY_HTTP_RESPONSE) {
        if (*pos != ' ')
            return fail(p, pos, EDDY_HTTP_E_INVALID_VERSION, "Expected space after version");
        p->_state = S_STATUS;
        p->_idx = 0;
    } else {
        if (*pos == '\n') return fail(p, pos, EDDY_HTTP_E_CR_EXPECTED, "Bare LF after version");
        if (*pos != '\r')
            return fail(p, pos, EDDY_HTTP_E_INVALID_VERSION, "Expected CRLF after version");
        p->_state = S_START_LINE_LF;
    }
    return pos + 1;
}

/* Three digits, then SP and a reason phrase, or CRLF. */
static const char *parse_status(eddy_http_parser_t *p, const eddy_http_parser_settings_t *s,
                                const char *pos, const char *end)
{
    for (; pos < end && p->_idx < 3; pos++, p->_idx++) {
        if (*pos < '0' || *pos > '9')
            return fail(p, pos, EDDY_HTTP_E_INVALID_STATUS, "Invalid status code");
        p->status_code = (uint16_t)(p->status_code * 10 + (*pos - '0'));
    }
    if (pos == end) return pos;
    if (p->status_code < 100)
        return fail(p, pos, EDDY_HTTP_E_INVALID_STATUS, "Invalid status code");
    if (*pos == ' ') {
        p->_state = S_REASON;
    } else if (*pos == '\r') {
        p->_state = S_START_LINE_LF;
        notify(p, s->on_status_complete);
    } else if (*pos == '\n') {
        return fail(p, pos, EDDY_HTTP_E_CR_EXPECTED, "Bare LF after status code");
    } else {
        return fail(p, pos, EDDY_HTTP_E_INVALID_STATUS, "Invalid status code");
    }
    return pos + 1;
}

static const char *parse_reason(eddy_http_parser_t *p, const eddy_http_parser_settings_t *s,
                                const char *pos, const char *end)
{
    const char *start = pos;
    pos = scan_value(pos, end);
    if (pos == end) {
        span(p, s->on_status, start, pos);
        return pos;
    }
    if (*pos == '\n')
        return fail(p, pos, EDDY_HTTP_E_CR_EXPECTED, "Missing expected CR after response line");
    if (*pos != '\r')
        return fail(p, pos, EDDY_HTTP_E_INVALID_STATUS, "Invalid char in reason phrase");
    p->_state = S_START_LINE_LF;
    span_end(p, s->on_status, s->on_status_complete, P_STATUS, start, pos);
    return pos + 1;
}

static const char *parse_field(eddy_http_parser_t *p, const eddy_http_parser_settings_t *s,
                               const char *pos, const char *end)
{
    const char *start = pos;
    int trailer = p->_bits & B_TRAILERS;
    pos = scan(pos, end, C_TOKEN);
    if (pos == end) {
        if (!trailer) buf_add(p, start, pos);
        span(p, s->on_header_field, start, pos);
        return pos;
    }
    if (*pos != ':')
        return fail(p, pos, EDDY_HTTP_E_INVALID_HEADER_TOKEN, "Invalid header field char");
    if (!trailer) { /* framing fields in trailers are ignored (RFC 9110 6.5.1) */
        const char *why;
        if (p->_buf_len) {
            buf_add(p, start, pos);
            why = field_name(p, p->_buf, p->_buf_len == BUF_OVERFLOW ? 0 : p->_buf_len);
        } else {
            why = field_name(p, start, (size_t)(pos - start));
        }
        if (why) return fail(p, pos, EDDY_HTTP_E_DUPLICATE_CONTENT_LENGTH, why);
        if (p->flags & EDDY_HTTP_F_TRANSFER_ENCODING && p->flags & EDDY_HTTP_F_CONTENT_LENGTH)
            return fail(p, pos, EDDY_HTTP_E_AMBIGUOUS_LENGTH,
                        "Transfer-Encoding can't be present with Content-Length");
    }
    p->_state = S_VALUE_START;
    span_end(p, s->on_header_field, s->on_header_field_complete, P_FIELD, start, pos);
    return pos + 1;
}

static const char *parse_value(eddy_http_parser_t *p, const eddy_http_parser_settings_t *s,
                               const char *pos, const char *end)
{
    const char *start = pos;
    pos = scan_value(pos, end);
    if (p->_hstate != H_GENERAL) {
        const char *bad = value_bytes(p, start, pos);
        if (bad) return bad;
    }
    if (pos == end) {
        span(p, s->on_header_value, start, pos);
        return pos;
    }
    if (*pos == '\n')
        return fail(p, pos, EDDY_HTTP_E_CR_EXPECTED, "Missing expected CR after header value");
    if (*pos != '\r')
        return fail(p, pos, EDDY_HTTP_E_INVALID_HEADER_VALUE, "Invalid header value char");
    p->_state = S_VALUE_LF;
    span(p, s->on_header_value, start, pos);
    return pos + 1;
}

/* chunk = chunk-size [ chunk-ext ] CRLF; chunk-ext = *( ";" name [ "=" token / quoted ] ).
 * No whitespace is accepted around the parts (RFC 9112 7.1.1 allows BWS only for leniency). */
static const char *parse_chunk_line(eddy_http_parser_t *p, const eddy_http_parser_settings_t *s,
                                    const char *pos, const char *end)
{
    char c = *pos;
    switch (p->_state) {
    case S_CHUNK_SIZE_START:
        if (!is(c, C_HEX))
            return fail(p, pos, EDDY_HTTP_E_INVALID_CHUNK_SIZE, "Invalid character in chunk size");
        p->_remaining = 0;
        p->_state = S_CHUNK_SIZE;
        return pos;
    case S_CHUNK_SIZE:
        for (; pos < end && is(*pos, C_HEX); pos++) {
            if (p->_remaining >> 59) /* one more digit would pass 2^63 */
                return fail(p, pos, EDDY_HTTP_E_INVALID_CHUNK_SIZE, "Chunk size overflow");
            unsigned d = (unsigned)(*pos <= '9' ? *pos - '0' : lower(*pos) - 'a' + 10);
            p->_remaining = p->_remaining * 16 + d;
        }
        if (pos == end) return pos;
        if (*pos == ';')
            p->_state = S_CHUNK_EXT_NAME, p->_idx = 0;
        else if (*pos == '\r')
            p->_state = S_CHUNK_SIZE_LF;
        else if (*pos == '\n')
            return fail(p, pos, EDDY_HTTP_E_CR_EXPECTED, "Bare LF after chunk size");
        else
            return fail(p, pos, EDDY_HTTP_E_INVALID_CHUNK_SIZE, "Invalid character in chunk size");
        return pos + 1;
    case S_CHUNK_EXT_NAME:
    case S_CHUNK_EXT_TOKEN: {
        const char *start = pos;
        pos = scan(pos, end, C_TOKEN);
        if (pos > start) p->_idx = 1;
        if (pos == end) return pos;
        if (!p->_idx) break; /* an empty name or value */
        if (*pos == '=' && p->_state == S_CHUNK_EXT_NAME)
            p->_state = S_CHUNK_EXT_VALUE_START;
        else if (*pos == ';')
            p->_state = S_CHUNK_EXT_NAME, p->_idx = 0;
        else if (*pos == '\r')
            p->_state = S_CHUNK_SIZE_LF;
        else
            break;
        return pos + 1;
    }
    case S_CHUNK_EXT_VALUE_START:
        if (c == '"')
            p->_state = S_CHUNK_EXT_QUOTED;
        else if (is(c, C_TOKEN))
            return p->_state = S_CHUNK_EXT_TOKEN, p->_idx = 0, pos;
        else
            break;
        return pos + 1;
    case S_CHUNK_EXT_QUOTED:
        pos = scan(pos, end, C_QDTEXT);
        if (pos == end) return pos;
        if (*pos == '"')
            p->_state = S_CHUNK_EXT_QUOTED_END;
        else if (*pos == '\\')
            p->_state = S_CHUNK_EXT_ESCAPE;
        else
            return fail(p, pos, EDDY_HTTP_E_INVALID_CHUNK_EXTENSION,
                        "Invalid character in chunk extensions quoted value");
        return pos + 1;
    case S_CHUNK_EXT_ESCAPE:
        if (!is(c, C_VALUE)) break;
        p->_state = S_CHUNK_EXT_QUOTED;
        return pos + 1;
    case S_CHUNK_EXT_QUOTED_END:
        if (c == ';')
            p->_state = S_CHUNK_EXT_NAME, p->_idx = 0;
        else if (c == '\r')
            p->_state = S_CHUNK_SIZE_LF;
        else
            break;
        return pos + 1;
    case S_CHUNK_SIZE_LF:
        if (c != '\n') return fail(p, pos, EDDY_HTTP_E_LF_EXPECTED, "Expected LF after chunk size");
        p->chunk_size = p->_remaining;
        if (p->_remaining == 0) { /* the last chunk: trailers follow, with a fresh budget */
            p->_state = S_FIELD_START;
            p->_bits |= B_TRAILERS | B_NEW_SECTION;
        } else {
            p->_state = S_CHUNK_DATA;
        }
        notify(p, s->on_chunk_header);
        return pos + 1;
    case S_CHUNK_DATA_CR:
        if (c != '\r')
            return fail(p, pos, EDDY_HTTP_E_CR_EXPECTED, "Expected CRLF after chunk data");
        p->_state = S_CHUNK_DATA_LF;
        return pos + 1;
    case S_CHUNK_DATA_LF:
        if (c != '\n') return fail(p, pos, EDDY_HTTP_E_LF_EXPECTED, "Expected LF after chunk data");
        p->_state = S_CHUNK_SIZE_START;
        notify(p, s->on_chunk_complete);
        return pos + 1;
    }
    if (*pos == '\n') /* not c: the name and token states have moved on */
        return fail(p, pos, EDDY_HTTP_E_CR_EXPECTED, "Bare LF in chunk extensions");
    return fail(p, pos, EDDY_HTTP_E_INVALID_CHUNK_EXTENSION,
                "Invalid character in chunk extensions");
}

/* A CR or LF that ends a line; the other line states live in their own functions. */
static const char *parse_line_end(eddy_http_parser_t *p, const eddy_http_parser_settings_t *s,
                                  const char *pos)
{
    char c = *pos;
    switch (p->_state) {
    case S_START_LINE_LF:
        if (c != '\n') return fail(p, pos, EDDY_HTTP_E_LF_EXPECTED, "Expected LF after CR");
        p->_state = S_FIELD_START;
        return pos + 1;
    case S_FIELD_START:
        if (is(c, C_TOKEN)) {
            p->_state = S_FIELD;
            p->_buf_len = 0;
            return pos;
        }
        if (c == '\r') {
            p->_state = S_HEAD_END_LF;
            return pos + 1;
        }
        if (c == ' ' || c == '\t') /* obs-fold, or whitespace before the first field */
            return fail(p, pos, EDDY_HTTP_E_UNEXPECTED_SPACE,
                        "Unexpected whitespace at line start");
        if (c == '\n') return fail(p, pos, EDDY_HTTP_E_CR_EXPECTED, "Bare LF at line start");
        return fail(p, pos, EDDY_HTTP_E_INVALID_HEADER_TOKEN, "Invalid header token");
    case S_VALUE_START:
        if (c == ' ' || c == '\t') return pos + 1;
        p->_state = S_VALUE;
        return pos;
    case S_VALUE_LF: {
        if (c != '\n')
            return fail(p, pos, EDDY_HTTP_E_LF_EXPECTED, "Missing expected LF after header value");
        const char *bad = value_done(p, pos);
        if (bad) return bad;
        p->_state = S_FIELD_START;
        notify(p, s->on_header_value_complete);
        return pos + 1;
    }
    default: /* S_HEAD_END_LF */
        if (c != '\n') return fail(p, pos, EDDY_HTTP_E_LF_EXPECTED, "Expected LF after headers");
        if (!(p->_bits & B_TRAILERS)) {
            headers_done(p, s);
            return pos + 1;
        }
        p->_bits &= (uint8_t)~B_TRAILERS;
        if (notify(p, s->on_chunk_complete))
            p->_pending = P_MESSAGE;
        else
            message_complete(p, s);
        return pos + 1;
    }
}

/* Runs line states until the input or the budget ends, the parser stops, or a new section
 * (with a fresh budget) begins. */
static const char *parse_lines(eddy_http_parser_t *p, const eddy_http_parser_settings_t *s,
                               const char *pos, const char *end)
{
    while (pos < end && !p->_stop && !(p->_bits & B_NEW_SECTION)) {
        switch (p->_state) {
        case S_METHOD:
            pos = parse_method(p, s, pos, end);
            break;
        case S_URL_START:
            if (!is(*pos, C_URL))
                return fail(p, pos, EDDY_HTTP_E_INVALID_URL, "Invalid char in url");
            p->_state = S_URL;
            break;
        case S_URL:
            pos = parse_url(p, s, pos, end);
            break;
        case S_VERSION:
            pos = parse_version(p, pos, end);
            break;
        case S_STATUS:
            pos = parse_status(p, s, pos, end);
            break;
        case S_REASON:
            pos = parse_reason(p, s, pos, end);
            break;
        case S_FIELD:
            pos = parse_field(p, s, pos, end);
            break;
        case S_VALUE:
            pos = parse_value(p, s, pos, end);
            break;
        case S_START_LINE_LF:
        case S_FIELD_START:
        case S_VALUE_START:
        case S_VALUE_LF:
        case S_HEAD_END_LF:
            pos = parse_line_end(p, s, pos);
            break;
        case S_CHUNK_SIZE_START:
        case S_CHUNK_SIZE:
        case S_CHUNK_EXT_NAME:
        case S_CHUNK_EXT_VALUE_START:
        case S_CHUNK_EXT_TOKEN:
        case S_CHUNK_EXT_QUOTED:
        case S_CHUNK_EXT_ESCAPE:
        case S_CHUNK_EXT_QUOTED_END:
        case S_CHUNK_SIZE_LF:
        case S_CHUNK_DATA_CR:
        case S_CHUNK_DATA_LF:
            pos = parse_chunk_line(p, s, pos, end);
            break;
        default:
            return pos; /* left the line states */
        }
    }
    return pos;
}

/* Body bytes: counted (Content-Length, chunk data) or up to end of input. */
static const char *parse_data(eddy_http_parser_t *p, const eddy_http_parser_settings_t *s,
                              const char *pos, const char *end)
{
    const char *start = pos;
    if (p->_state == S_BODY_EOF) {
        span(p, s->on_body, pos, end);
        return end;
    }
    size_t n = (size_t)(end - pos) < p->_remaining ? (size_t)(end - pos) : (size_t)p->_remaining;
    pos += n;
    p->_remaining -= n;
    if (p->_remaining) return span(p, s->on_body, start, pos), pos;
    if (p->_state == S_CHUNK_DATA) {
        p->_state = S_CHUNK_DATA_CR;
        p->_head_left = p->header_size_max; /* the CRLF and next chunk line share one budget */
        span(p, s->on_body, start, pos);
    } else if (span(p, s->on_body, start, pos)) {
        p->_pending = P_MESSAGE;
    } else {
        message_complete(p, s);
    }
    return pos;
}

/* Runs an event a pausing callback postponed; 1 if the parser must stop again. */
static int run_pending(eddy_http_parser_t *p, const eddy_http_parser_settings_t *s)
{
    uint8_t what = p->_pending;
    p->_pending = P_NONE;
    switch (what) {
    case P_METHOD:
        return notify(p, s->on_method_complete);
    case P_URL:
        return notify(p, s->on_url_complete);
    case P_STATUS:
        return notify(p, s->on_status_complete);
    case P_FIELD:
        return notify(p, s->on_header_field_complete);
    case P_MESSAGE:
        return message_complete(p, s);
    }
    return 0;
}

/* What execute returns once it stops at `pos` in `data`. */
static ssize_t stopped(eddy_http_parser_t *p, const char *data, const char *pos)
{
    ssize_t at = pos == data ? 0 : pos - data; /* both may be NULL */
    if (p->_stop != STOP_ERROR) return at;
    p->_error_offset = (size_t)at;
    return p->_error;
}

ssize_t eddy_http_parser_execute(eddy_http_parser_t *p, const eddy_http_parser_settings_t *s,
                                 const char *data, size_t len)
{
    if (p->_stop == STOP_ERROR) return p->_error;
    if (p->_stop == STOP_PAUSED) return EDDY_HTTP_E_PAUSED;
    if (p->_stop == STOP_UPGRADED) return EDDY_HTTP_E_UPGRADED;
    const char *pos = data, *end = len ? data + len : data; /* data may be NULL if len is 0 */
    p->_error_offset = 0;
    if (p->_pending && run_pending(p, s)) return stopped(p, data, pos);
    while (pos < end && !p->_stop) {
        uint8_t st = p->_state;
        if (st <= S_CLOSED_LF) {
            pos = parse_idle(p, s, pos, end);
        } else if (st >= S_BODY_LENGTH) {
            pos = parse_data(p, s, pos, end);
        } else {
            /* Line states may use only what is left of the section's budget: a head larger
             * than header_size_max fails at its first byte too many, however it is split. */
            const char *from = pos;
            const char *bound = (size_t)(end - pos) > p->_head_left ? pos + p->_head_left : end;
            pos = parse_lines(p, s, pos, bound);
            if (p->_bits & B_NEW_SECTION) {
                p->_bits &= (uint8_t)~B_NEW_SECTION;
                p->_head_left = p->header_size_max;
                continue;
            }
            p->_head_left -= (uint32_t)(pos - from);
            if (pos == bound && bound < end && !p->_stop && p->_state >= S_METHOD &&
                p->_state < S_BODY_LENGTH) {
                if (p->_state >= S_CHUNK_SIZE_START)
                    return stopped(p, data,
                                   fail(p, pos, EDDY_HTTP_E_INVALID_CHUNK_EXTENSION,
                                        "Chunk extensions too large"));
                return stopped(
                    p, data, fail(p, pos, EDDY_HTTP_E_HEADER_OVERFLOW, "Header section too large"));
            }
        }
    }
    return stopped(p, data, pos);
}

int eddy_http_parser_finish(eddy_http_parser_t *p, const eddy_http_parser_settings_t *s)
{
    if (p->_stop == STOP_ERROR) return p->_error;
    if (p->_pending && run_pending(p, s)) return p->_stop == STOP_ERROR ? p->_error : 0;
    switch (p->_state) {
    case S_START:
    case S_START_LF:
    case S_CLOSED:
    case S_CLOSED_LF:
    case S_UPGRADED:
        return 0;
    case S_BODY_EOF:
        p->_stop = STOP_NONE;
        if (message_complete(p, s) && p->_stop == STOP_ERROR) return p->_error;
        return 0;
    default:
        fail(p, NULL, EDDY_HTTP_E_INVALID_EOF_STATE, "Input ended inside a message");
        return p->_error;
    }
}

/* ---- the rest of the API ---- */

void eddy_http_parser_init(eddy_http_parser_t *p, eddy_http_parser_type type)
{
    memset(p, 0, sizeof *p);
    p->type = (uint8_t)type;
    p->header_size_max = 16 * 1024; /* Node's --max-http-header-size */
    p->url_size_max = 8 * 1024;
    p->_state = S_START;
}

void eddy_http_parser_resume(eddy_http_parser_t *p)
{
    if (p->_stop == STOP_PAUSED) p->_stop = STOP_NONE;
}

int eddy_http_parser_is_paused(const eddy_http_parser_t *p)
{
    return p->_stop == STOP_PAUSED;
}

int eddy_http_parser_is_upgraded(const eddy_http_parser_t *p)
{
    return p->_state == S_UPGRADED;
}

int eddy_http_parser_should_keep_alive(const eddy_http_parser_t *p)
{
    return (p->flags & EDDY_HTTP_F_KEEP_ALIVE) != 0;
}

int eddy_http_parser_error(const eddy_http_parser_t *p)
{
    return p->_error;
}

size_t eddy_http_parser_error_offset(const eddy_http_parser_t *p)
{
    return p->_error_offset;
}

const char *eddy_http_parser_error_reason(const eddy_http_parser_t *p)
{
    return p->_error ? p->_reason : "";
}

static const struct {
    const char *name;
    const char *reason;
    int status;
} errnos[] = {
    {"EDDY_HTTP_OK", "success", 200},
    {"EDDY_HTTP_E_INVALID_METHOD", "invalid method", 400},
    {"EDDY_HTTP_E_UNKNOWN_METHOD", "unknown method", 501},
    {"EDDY_HTTP_E_INVALID_URL", "invalid request target", 400},
    {"EDDY_HTTP_E_URI_TOO_LONG", "request target too long", 414},
    {"EDDY_HTTP_E_INVALID_VERSION", "invalid HTTP version", 400},
    {"EDDY_HTTP_E_UNSUPPORTED_VERSION", "unsupported HTTP version", 505},
    {"EDDY_HTTP_E_INVALID_STATUS", "invalid status line", 400},
    {"EDDY_HTTP_E_CR_EXPECTED", "bare LF (CR expected)", 400},
    {"EDDY_HTTP_E_LF_EXPECTED", "bare CR (LF expected)", 400},
    {"EDDY_HTTP_E_INVALID_HEADER_TOKEN", "invalid header field name", 400},
    {"EDDY_HTTP_E_INVALID_HEADER_VALUE", "invalid header field value", 400},
    {"EDDY_HTTP_E_UNEXPECTED_SPACE", "whitespace at start of line (obs-fold)", 400},
    {"EDDY_HTTP_E_HEADER_OVERFLOW", "header section too large", 431},
    {"EDDY_HTTP_E_INVALID_CONTENT_LENGTH", "invalid Content-Length", 400},
    {"EDDY_HTTP_E_DUPLICATE_CONTENT_LENGTH", "duplicate Content-Length", 400},
    {"EDDY_HTTP_E_INVALID_TRANSFER_ENCODING", "invalid Transfer-Encoding", 400},
    {"EDDY_HTTP_E_AMBIGUOUS_LENGTH", "both Transfer-Encoding and Content-Length", 400},
    {"EDDY_HTTP_E_INVALID_CHUNK_SIZE", "invalid chunk size", 400},
    {"EDDY_HTTP_E_INVALID_CHUNK_EXTENSION", "invalid chunk extension", 400},
    {"EDDY_HTTP_E_CLOSED_CONNECTION", "data after the last message", 400},
    {"EDDY_HTTP_E_INVALID_EOF_STATE", "input ended inside a message", 400},
    {"EDDY_HTTP_E_CALLBACK", "a callback failed", 500},
    {"EDDY_HTTP_E_PAUSED", "parser is paused", 500},
    {"EDDY_HTTP_E_UPGRADED", "connection left HTTP", 500},
};

_Static_assert(sizeof errnos / sizeof errnos[0] ==
                   EDDY_HTTP_E_INVALID_METHOD - EDDY_HTTP_E_UPGRADED + 2,
               "one entry per eddy_http_errno");

/* The table's index for an eddy_http_errno, or -1. */
static int errno_index(int err)
{
    if (err == 0) return 0;
    if (err > EDDY_HTTP_E_INVALID_METHOD || err < EDDY_HTTP_E_UPGRADED) return -1;
    return EDDY_HTTP_E_INVALID_METHOD - err + 1;
}

const char *eddy_http_errno_name(int err)
{
    int i = errno_index(err);
    return i < 0 ? "EDDY_HTTP_E_UNKNOWN" : errnos[i].name;
}

const char *eddy_http_errno_reason(int err)
{
    int i = errno_index(err);
    return i < 0 ? "unknown HTTP parser error" : errnos[i].reason;
}

int eddy_http_errno_status(int err)
{
    int i = errno_index(err);
    return i < 0 ? 400 : errnos[i].status;
}

const char *eddy_http_method_name(eddy_http_method method)
{
    return (unsigned)method < EDDY_HTTP_METHOD_COUNT ? methods[method].name : "";
}
