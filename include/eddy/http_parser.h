/* The HTTP/1.1 message parser: strict (RFC 9112), incremental, zero-copy, for requests and
 * responses. It needs nothing else from eddy: no loop, no allocation.
 *
 * Feed it bytes as they arrive with eddy_http_parser_execute; it calls back with spans (pointer
 * and length into the caller's buffer) as it recognises the method, target, status reason, header
 * fields and values, and body bytes. A span that straddles two execute calls arrives in two or
 * more pieces; the matching *_complete callback marks its end. Only what a callback copies
 * survives the call. See docs/http_parser.md. */
#ifndef EDDY_HTTP_PARSER_H
#define EDDY_HTTP_PARSER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct eddy_http_parser_s eddy_http_parser_t;

/** What a parser reads: requests (a server) or responses (a client). */
typedef enum { EDDY_HTTP_REQUEST = 0, EDDY_HTTP_RESPONSE = 1 } eddy_http_parser_type;

/** The request methods the parser knows; anything else is refused (EDDY_HTTP_E_UNKNOWN_METHOD). */
typedef enum {
    EDDY_HTTP_METHOD_NONE = 0, /**< no method (a response, or not yet parsed) */
    EDDY_HTTP_GET,
    EDDY_HTTP_HEAD,
    EDDY_HTTP_POST,
    EDDY_HTTP_PUT,
    EDDY_HTTP_DELETE,
    EDDY_HTTP_CONNECT,
    EDDY_HTTP_OPTIONS,
    EDDY_HTTP_TRACE,
    EDDY_HTTP_PATCH,
    EDDY_HTTP_QUERY,
    /* WebDAV (RFC 4918, 3253, 3744, 4791, 5323, 5842) */
    EDDY_HTTP_COPY,
    EDDY_HTTP_LOCK,
    EDDY_HTTP_MKCOL,
    EDDY_HTTP_MOVE,
    EDDY_HTTP_PROPFIND,
    EDDY_HTTP_PROPPATCH,
    EDDY_HTTP_SEARCH,
    EDDY_HTTP_UNLOCK,
    EDDY_HTTP_BIND,
    EDDY_HTTP_REBIND,
    EDDY_HTTP_UNBIND,
    EDDY_HTTP_ACL,
    EDDY_HTTP_REPORT,
    EDDY_HTTP_MKACTIVITY,
    EDDY_HTTP_CHECKOUT,
    EDDY_HTTP_MERGE,
    EDDY_HTTP_MKCALENDAR,
    /* UPnP, caches, RFC 2068 links, Icecast */
    EDDY_HTTP_MSEARCH, /* "M-SEARCH" */
    EDDY_HTTP_NOTIFY,
    EDDY_HTTP_SUBSCRIBE,
    EDDY_HTTP_UNSUBSCRIBE,
    EDDY_HTTP_PURGE,
    EDDY_HTTP_LINK,
    EDDY_HTTP_UNLINK,
    EDDY_HTTP_SOURCE,
    EDDY_HTTP_METHOD_COUNT
} eddy_http_method;

/** Parse errors: negative values outside errno's range, returned by execute and finish. */
typedef enum {
    EDDY_HTTP_OK = 0,
    EDDY_HTTP_E_INVALID_METHOD = -3301,       /**< not a token where the method belongs */
    EDDY_HTTP_E_UNKNOWN_METHOD = -3302,       /**< a token, but no method the parser knows (501) */
    EDDY_HTTP_E_INVALID_URL = -3303,          /**< empty target or a byte not allowed in it */
    EDDY_HTTP_E_URI_TOO_LONG = -3304,         /**< target longer than url_size_max (414) */
    EDDY_HTTP_E_INVALID_VERSION = -3305,      /**< not "HTTP/" DIGIT "." DIGIT */
    EDDY_HTTP_E_UNSUPPORTED_VERSION = -3306,  /**< well-formed but not 0.9, 1.0 or 1.1 (505) */
    EDDY_HTTP_E_INVALID_STATUS = -3307,       /**< status code not three digits, or bad reason */
    EDDY_HTTP_E_CR_EXPECTED = -3308,          /**< a bare LF ends a line */
    EDDY_HTTP_E_LF_EXPECTED = -3309,          /**< a bare CR inside or at the end of a line */
    EDDY_HTTP_E_INVALID_HEADER_TOKEN = -3310, /**< bad byte in a field name, or space before ':' */
    EDDY_HTTP_E_INVALID_HEADER_VALUE = -3311, /**< a control character in a field value */
    EDDY_HTTP_E_UNEXPECTED_SPACE = -3312,     /**< a line starting with whitespace (obs-fold) */
    EDDY_HTTP_E_HEADER_OVERFLOW = -3313,      /**< head larger than header_size_max (431) */
    EDDY_HTTP_E_INVALID_CONTENT_LENGTH = -3314,    /**< empty, not digits, or too large */
    EDDY_HTTP_E_DUPLICATE_CONTENT_LENGTH = -3315,  /**< a second Content-Length, equal or not */
    EDDY_HTTP_E_INVALID_TRANSFER_ENCODING = -3316, /**< chunked twice, or not last (requests) */
    EDDY_HTTP_E_AMBIGUOUS_LENGTH = -3317,          /**< both Transfer-Encoding and Content-Length */
    EDDY_HTTP_E_INVALID_CHUNK_SIZE = -3318,        /**< not hex digits, or too large */
    EDDY_HTTP_E_INVALID_CHUNK_EXTENSION = -3319,   /**< malformed chunk-ext */
    EDDY_HTTP_E_CLOSED_CONNECTION = -3320, /**< data after a message that closes the connection */
    EDDY_HTTP_E_INVALID_EOF_STATE = -3321, /**< finish() in the middle of a message */
    EDDY_HTTP_E_CALLBACK = -3322,          /**< a callback returned an error */
    EDDY_HTTP_E_PAUSED = -3323,            /**< execute while paused (resume first) */
    EDDY_HTTP_E_UPGRADED = -3324           /**< execute after the connection left HTTP */
} eddy_http_errno;

/** Per-message flags (eddy_http_parser_t.flags), valid from on_headers_complete on. */
enum {
    EDDY_HTTP_F_CHUNKED = 1u << 0,               /**< body uses the chunked transfer coding */
    EDDY_HTTP_F_CONTENT_LENGTH = 1u << 1,        /**< a Content-Length field was present */
    EDDY_HTTP_F_TRANSFER_ENCODING = 1u << 2,     /**< a Transfer-Encoding field was present */
    EDDY_HTTP_F_CONNECTION_CLOSE = 1u << 3,      /**< Connection: close */
    EDDY_HTTP_F_CONNECTION_KEEP_ALIVE = 1u << 4, /**< Connection: keep-alive */
    EDDY_HTTP_F_CONNECTION_UPGRADE = 1u << 5,    /**< Connection: upgrade */
    EDDY_HTTP_F_UPGRADE_FIELD = 1u << 6,         /**< an Upgrade field was present */
    EDDY_HTTP_F_EXPECT_CONTINUE = 1u << 7,       /**< Expect: 100-continue (requests) */
    EDDY_HTTP_F_KEEP_ALIVE = 1u << 8,            /**< the connection may carry another message */
    EDDY_HTTP_F_UPGRADE = 1u << 9,    /**< the connection leaves HTTP after this message */
    EDDY_HTTP_F_SKIP_BODY = 1u << 10, /**< no body (HEAD response, 1xx, 204, 304, ...) */
    EDDY_HTTP_F_EOF_BODY = 1u << 11   /**< body runs to end of input (responses) */
};

/** What a callback returns. Any other value fails the parse with EDDY_HTTP_E_CALLBACK. */
enum {
    EDDY_HTTP_CONTINUE = 0,  /**< carry on */
    EDDY_HTTP_SKIP_BODY = 1, /**< on_headers_complete only: this message has no body */
    EDDY_HTTP_UPGRADE = 2,   /**< on_headers_complete only: no body, and the connection leaves
                                  HTTP after these headers (a 2xx answer to CONNECT) */
    EDDY_HTTP_PAUSE = 3      /**< stop execute right after this callback; see _resume */
};

/** A callback without data (begin, complete events). */
typedef int (*eddy_http_cb)(eddy_http_parser_t *parser);
/** A callback with a span of the caller's input; a split span comes in several calls. */
typedef int (*eddy_http_data_cb)(eddy_http_parser_t *parser, const char *at, size_t len);

/** The callbacks; any may be NULL. Keep one per kind of parser, shared by all connections. */
typedef struct {
    eddy_http_cb on_message_begin;
    eddy_http_data_cb on_method; /**< request method text (also parsed into .method) */
    eddy_http_cb on_method_complete;
    eddy_http_data_cb on_url; /**< request target, as sent */
    eddy_http_cb on_url_complete;
    eddy_http_data_cb on_status; /**< response reason phrase (the code is in .status_code) */
    eddy_http_cb on_status_complete;
    eddy_http_data_cb on_header_field;
    eddy_http_cb on_header_field_complete;
    eddy_http_data_cb on_header_value; /**< leading whitespace removed, trailing kept */
    eddy_http_cb on_header_value_complete;
    eddy_http_cb on_headers_complete; /**< may return EDDY_HTTP_SKIP_BODY or _UPGRADE */
    eddy_http_data_cb on_body;        /**< body bytes, de-chunked */
    eddy_http_cb on_chunk_header;     /**< .chunk_size holds the size; 0 for the last chunk */
    eddy_http_cb on_chunk_complete;
    eddy_http_cb on_message_complete;
} eddy_http_parser_settings_t;

/** A parser: one per connection, embedded by its owner; no heap, 112 bytes. */
struct eddy_http_parser_s {
    void *data;               /**< the user's pointer; eddy never touches it */
    uint64_t content_length;  /**< Content-Length of the current message (0 if none) */
    uint64_t chunk_size;      /**< size of the current chunk, for on_chunk_header */
    uint32_t header_size_max; /**< limit on a head or trailer section in bytes (16 KiB) */
    uint32_t url_size_max;    /**< limit on the request target in bytes (8 KiB) */
    uint32_t flags;           /**< EDDY_HTTP_F_* of the current message */
    uint16_t status_code;     /**< responses: the status code */
    uint8_t method;           /**< requests: an eddy_http_method */
    uint8_t http_major;       /**< version of the current message (0.9 for a bare request) */
    uint8_t http_minor;
    uint8_t type; /**< eddy_http_parser_type */
    /* private */
    uint8_t _state;       /* where the next byte goes (the states in parser.c) */
    uint8_t _hstate;      /* what the current header field means to the parser */
    uint8_t _idx;         /* progress within a literal, number or token */
    uint8_t _stop;        /* 0 running, or paused, upgraded or failed */
    uint8_t _buf_len;     /* bytes held in _buf */
    uint8_t _bits;        /* framing facts not in flags (chunked seen, trailers, ...) */
    uint8_t _pending;     /* an event a pausing callback postponed to the next execute */
    char _buf[21];        /* a split method or field name, or a Connection-like token */
    uint32_t _head_left;  /* bytes left for the current head, trailers or chunk line */
    uint32_t _url_left;   /* bytes still allowed in the request target */
    uint64_t _remaining;  /* body or chunk bytes still to come */
    int _error;           /* the eddy_http_errno that stopped the parser, or 0 */
    size_t _error_offset; /* offset of the offending byte in the failed execute's data */
    const char *_reason;  /* a precise description of the failure */
};

/** Prepares a parser for a new connection; sets the default limits. */
void eddy_http_parser_init(eddy_http_parser_t *parser, eddy_http_parser_type type);

/** Parses `len` bytes. Returns how many were consumed, or a negative eddy_http_errno.
 * Fewer than `len` means the parser stopped: a callback paused it, or the connection left HTTP
 * (upgrade, CONNECT) and the rest belongs to the new protocol. An error is final. */
ssize_t eddy_http_parser_execute(eddy_http_parser_t *parser,
                                 const eddy_http_parser_settings_t *settings, const char *data,
                                 size_t len);

/** Tells the parser the input ended: completes a body delimited by end of input, returns 0
 * between messages and EDDY_HTTP_E_INVALID_EOF_STATE inside one. */
int eddy_http_parser_finish(eddy_http_parser_t *parser,
                            const eddy_http_parser_settings_t *settings);

/** Lets a parser paused by a callback (EDDY_HTTP_PAUSE) take input again. Then call execute
 * with the bytes it did not consume, even none: it first delivers what the pause postponed
 * (a pause in the last on_body defers on_message_complete to that call). */
void eddy_http_parser_resume(eddy_http_parser_t *parser);

/** Non-zero while a callback's EDDY_HTTP_PAUSE holds the parser. */
int eddy_http_parser_is_paused(const eddy_http_parser_t *parser);

/** Non-zero once the connection left HTTP (upgrade, CONNECT); later bytes are not parsed. */
int eddy_http_parser_is_upgraded(const eddy_http_parser_t *parser);

/** Non-zero if the connection may carry another message after the current one. */
int eddy_http_parser_should_keep_alive(const eddy_http_parser_t *parser);

/** The error that stopped the parser (an eddy_http_errno), or 0. */
int eddy_http_parser_error(const eddy_http_parser_t *parser);

/** Offset of the offending byte within the data of the execute call that failed (for
 * EDDY_HTTP_E_CALLBACK, of the byte after the event). */
size_t eddy_http_parser_error_offset(const eddy_http_parser_t *parser);

/** A precise, human-readable description of the failure ("Duplicate Content-Length"). */
const char *eddy_http_parser_error_reason(const eddy_http_parser_t *parser);

/** The symbolic name of an eddy_http_errno ("EDDY_HTTP_E_HEADER_OVERFLOW"). */
const char *eddy_http_errno_name(int err);

/** A short human description of an eddy_http_errno ("header section too large"). */
const char *eddy_http_errno_reason(int err);

/** The HTTP status a server answers a request that failed with `err` (400, 414, 431, ...). */
int eddy_http_errno_status(int err);

/** The method's name as sent ("GET", "M-SEARCH"), or "" for EDDY_HTTP_METHOD_NONE. */
const char *eddy_http_method_name(eddy_http_method method);

#endif
