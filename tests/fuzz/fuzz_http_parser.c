/* libFuzzer target for the HTTP/1.1 parser (scripts/fuzz.sh runs it).
 *
 * The first input byte steers the run: the split offset and whether callbacks pause. The rest
 * is parsed as a request stream and as a response stream, whole and split in two, and the
 * runs must agree: same verdict, same error, same bytes consumed, and (when no error) the same
 * events with the same bytes. Every span must lie inside the input of the call that
 * delivered it, and execute never claims more than it was given. */
#include "eddy/http_parser.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *lo, *hi; /* the input of the current execute call */
    uint64_t hash;       /* FNV-1a over span bytes and event tags */
    uint64_t body_bytes;
    int pause; /* callbacks answer EDDY_HTTP_PAUSE */
} run_t;

static void mix(run_t *r, const void *d, size_t n)
{
    const unsigned char *b = d;
    for (size_t i = 0; i < n; i++)
        r->hash = (r->hash ^ b[i]) * 0x100000001b3ull;
}

static int data_cb(eddy_http_parser_t *p, const char *at, size_t len, char tag)
{
    run_t *r = p->data;
    if (len == 0 || at < r->lo || at + len > r->hi || at + len < at)
        abort(); /* a span outside the caller's input */
    mix(r, at, len);
    (void)tag; /* pieces of one span concatenate, so the tag goes with its end event */
    return r->pause ? EDDY_HTTP_PAUSE : 0;
}

static int event(eddy_http_parser_t *p, char tag)
{
    run_t *r = p->data;
    mix(r, &tag, 1);
    return r->pause ? EDDY_HTTP_PAUSE : 0;
}

static int on_method(eddy_http_parser_t *p, const char *at, size_t n)
{
    return data_cb(p, at, n, 'm');
}

static int on_url(eddy_http_parser_t *p, const char *at, size_t n)
{
    return data_cb(p, at, n, 'u');
}

static int on_status(eddy_http_parser_t *p, const char *at, size_t n)
{
    return data_cb(p, at, n, 's');
}

static int on_field(eddy_http_parser_t *p, const char *at, size_t n)
{
    return data_cb(p, at, n, 'f');
}

static int on_value(eddy_http_parser_t *p, const char *at, size_t n)
{
    return data_cb(p, at, n, 'v');
}

static int on_body(eddy_http_parser_t *p, const char *at, size_t n)
{
    ((run_t *)p->data)->body_bytes += n;
    return data_cb(p, at, n, 'b');
}

static int on_begin(eddy_http_parser_t *p)
{
    return event(p, 'B');
}

static int on_method_done(eddy_http_parser_t *p)
{
    return event(p, 'M');
}

static int on_url_done(eddy_http_parser_t *p)
{
    return event(p, 'U');
}

static int on_status_done(eddy_http_parser_t *p)
{
    return event(p, 'S');
}

static int on_field_done(eddy_http_parser_t *p)
{
    return event(p, 'F');
}

static int on_value_done(eddy_http_parser_t *p)
{
    return event(p, 'V');
}

static int on_headers_done(eddy_http_parser_t *p)
{
    uint32_t f = p->flags;
    mix(p->data, &f, sizeof f);
    mix(p->data, &p->content_length, sizeof p->content_length);
    return event(p, 'H');
}

static int on_chunk_header(eddy_http_parser_t *p)
{
    mix(p->data, &p->chunk_size, sizeof p->chunk_size);
    return event(p, 'C');
}

static int on_chunk_done(eddy_http_parser_t *p)
{
    return event(p, 'D');
}

static int on_message_done(eddy_http_parser_t *p)
{
    return event(p, 'E');
}

static const eddy_http_parser_settings_t settings = {
    .on_message_begin = on_begin,
    .on_method = on_method,
    .on_method_complete = on_method_done,
    .on_url = on_url,
    .on_url_complete = on_url_done,
    .on_status = on_status,
    .on_status_complete = on_status_done,
    .on_header_field = on_field,
    .on_header_field_complete = on_field_done,
    .on_header_value = on_value,
    .on_header_value_complete = on_value_done,
    .on_headers_complete = on_headers_done,
    .on_body = on_body,
    .on_chunk_header = on_chunk_header,
    .on_chunk_complete = on_chunk_done,
    .on_message_complete = on_message_done,
};

typedef struct {
    int err;         /* the first negative result, or 0 */
    size_t consumed; /* bytes the parser took */
    uint64_t hash;
    int upgraded;
    int finish;
} outcome_t;

/* Feeds one piece, resuming after every pause (and calling execute again, with no bytes if
 * none are left, to deliver what a pause postponed); returns 0, or the error. */
static int feed(eddy_http_parser_t *p, run_t *r, const char *d, size_t n, size_t *consumed)
{
    for (;;) {
        r->lo = d;
        r->hi = d + n;
        ssize_t rc = eddy_http_parser_execute(p, &settings, d, n);
        if (rc < 0) return (int)rc;
        if ((size_t)rc > n) abort();
        *consumed += (size_t)rc;
        d += rc;
        n -= (size_t)rc;
        if (eddy_http_parser_is_upgraded(p)) return 0;
        if (!eddy_http_parser_is_paused(p)) {
            if (n != 0) abort(); /* stopped early with no reason */
            return 0;
        }
        eddy_http_parser_resume(p);
    }
}

static outcome_t run(eddy_http_parser_type type, const char *d, size_t n, size_t split, int pause)
{
    eddy_http_parser_t p;
    run_t r = {.hash = 0xcbf29ce484222325ull, .pause = pause};
    outcome_t o = {0};
    eddy_http_parser_init(&p, type);
    p.data = &r;
    p.header_size_max = 512; /* small limits, so inputs reach them */
    p.url_size_max = 128;
    size_t cuts[3] = {0, split, n};
    for (int i = 0; i < 2 && !o.err && !eddy_http_parser_is_upgraded(&p); i++)
        o.err = feed(&p, &r, d + cuts[i], cuts[i + 1] - cuts[i], &o.consumed);
    if (o.err) {
        if (eddy_http_parser_error(&p) != o.err || !eddy_http_parser_error_reason(&p)) abort();
    } else {
        o.upgraded = eddy_http_parser_is_upgraded(&p);
        o.finish = eddy_http_parser_finish(&p, &settings);
    }
    o.hash = r.hash;
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    unsigned ctl = data[0];
    const char *d = (const char *)data + 1;
    size_t n = size - 1;
    size_t split = n ? (ctl * 7919u) % (n + 1) : 0;
    for (int type = EDDY_HTTP_REQUEST; type <= EDDY_HTTP_RESPONSE; type++) {
        outcome_t whole = run(type, d, n, n, 0);
        outcome_t parts = run(type, d, n, split, ctl & 1);
        if (whole.err != parts.err || whole.upgraded != parts.upgraded) abort();
        if (!whole.err && (whole.consumed != parts.consumed || whole.hash != parts.hash ||
                           whole.finish != parts.finish))
            abort();
    }
    return 0;
}
