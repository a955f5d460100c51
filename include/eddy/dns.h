/* Name resolution (Node's dns.lookup and dns.lookupService) and connecting by host name.
 *
 * getaddrinfo(3) and getnameinfo(3) block, so they run on the thread pool in class
 * EDDY_WORK_DNS, which is capped (half the pool by default) so slow lookups can never take
 * every thread from file system and crypto work. With a NULL callback each call runs
 * synchronously on the caller's thread instead and returns the status.
 *
 * Requests are the caller's memory (embed them). A getaddrinfo request owns its result list
 * (req->addrinfo) until eddy_getaddrinfo_cleanup; node and service strings are copied, so the
 * caller's may be temporary. eddy_cancel(&req->work) takes a lookup off the queue before it
 * starts: its callback then gets EDDY_ECANCELED and no result.
 *
 * Errors are negative: getaddrinfo's EAI_* codes map to the EDDY_EAI_* values below (outside
 * errno's range), EAI_SYSTEM to -errno and EAI_MEMORY to -ENOMEM. eddy_dns_strerror and
 * eddy_dns_err_name describe every code, DNS or not. */
#ifndef EDDY_DNS_H
#define EDDY_DNS_H

#include <netdb.h>

#include "pool.h"
#include "tcp.h"

/* EAI_* results as eddy errors: EDDY_EAI_BASE - n, well below errno's range and EDDY_EOF. */
#define EDDY_EAI_BASE (-3000)
#define EDDY_EAI_ADDRFAMILY (-3001) /**< the host has no address in the requested family */
#define EDDY_EAI_AGAIN (-3002)      /**< temporary failure in name resolution */
#define EDDY_EAI_BADFLAGS (-3003)   /**< invalid hints flags */
#define EDDY_EAI_FAIL (-3004)       /**< non-recoverable failure in name resolution */
#define EDDY_EAI_FAMILY (-3005)     /**< address family not supported */
#define EDDY_EAI_NODATA (-3006)     /**< the host exists but has no address */
#define EDDY_EAI_NONAME (-3007)     /**< name or service not known (Node's ENOTFOUND) */
#define EDDY_EAI_SERVICE (-3008)    /**< service not available for the socket type */
#define EDDY_EAI_SOCKTYPE (-3009)   /**< socket type not supported */
#define EDDY_EAI_OVERFLOW (-3010)   /**< a result buffer was too small */
#define EDDY_EAI_LAST (-3010)       /**< the lowest EDDY_EAI_* value */

/** Room for a host name and a service name in a getnameinfo result (NI_MAXHOST, NI_MAXSERV). */
#define EDDY_NI_MAXHOST 1025
#define EDDY_NI_MAXSERV 32

typedef struct eddy_getaddrinfo_s eddy_getaddrinfo_t;
typedef struct eddy_getnameinfo_s eddy_getnameinfo_t;
typedef struct eddy_connect_host_s eddy_connect_host_t;

/** A lookup finished: status 0 and res == req->addrinfo (owned by the request), or a negative
 * error and res NULL. */
typedef void (*eddy_getaddrinfo_cb)(eddy_getaddrinfo_t *req, int status, struct addrinfo *res);
/** A reverse lookup finished: status 0 with host and service (req->host, req->service), or a
 * negative error with both NULL. */
typedef void (*eddy_getnameinfo_cb)(eddy_getnameinfo_t *req, int status, const char *host,
                                    const char *service);
/** eddy_tcp_connect_host finished: 0 (req->tcp is connected), or the last attempt's error. */
typedef void (*eddy_connect_host_cb)(eddy_connect_host_t *req, int status);

/** A forward lookup (getaddrinfo); the caller owns the memory until the callback has run. */
struct eddy_getaddrinfo_s {
    void *data;                /**< the user's pointer */
    eddy_loop_t *loop;         /**< the loop the callback runs on (NULL when synchronous) */
    eddy_work_t work;          /**< the pool request: eddy_cancel(&req->work) cancels */
    struct addrinfo *addrinfo; /**< the result, owned by the request (eddy_getaddrinfo_cleanup) */
    /* private */
    eddy_getaddrinfo_cb _cb;
    char *_node; /* one allocation holding copies of node and service */
    char *_service;
    struct addrinfo _hints;
    int _has_hints;
    int _status;
};

/** A reverse lookup (getnameinfo); the caller owns the memory until the callback has run. */
struct eddy_getnameinfo_s {
    void *data;                    /**< the user's pointer */
    eddy_loop_t *loop;             /**< the loop the callback runs on (NULL when synchronous) */
    eddy_work_t work;              /**< the pool request: eddy_cancel(&req->work) cancels */
    char host[EDDY_NI_MAXHOST];    /**< the host name (or numeric address), on success */
    char service[EDDY_NI_MAXSERV]; /**< the service name (or port number), on success */
    /* private */
    eddy_getnameinfo_cb _cb;
    struct sockaddr_storage _addr;
    int _flags;
    int _status;
};

/** A connect by host name: resolve, then try each address in turn. */
struct eddy_connect_host_s {
    void *data;      /**< the user's pointer */
    eddy_tcp_t *tcp; /**< the handle that ends up connected */
    int attempts;    /**< addresses tried so far */
    /* private */
    eddy_connect_host_cb _cb;
    eddy_getaddrinfo_t _resolve;  /* the lookup; owns the address list of connect_host */
    const struct addrinfo *_next; /* the next address to try */
    eddy_tcp_t _attempt;          /* the socket of the current attempt */
    eddy_connect_t _connect;
    uint64_t _timeout_ms;
    int _fd;     /* a dup of the connected socket, handed to tcp once _attempt is closed */
    int _status; /* the last attempt's error */
    int _state;
    int _canceled;
};

/** Resolves node and/or service like getaddrinfo(3) (hints may be NULL: any family, any
 * socket type). On the pool when cb is set (returns 0 or an error for bad arguments, and cb
 * runs later on loop's thread); synchronously when cb is NULL (returns the lookup's status;
 * loop may then be NULL). Either way the result is req->addrinfo. */
int eddy_getaddrinfo(eddy_loop_t *loop, eddy_getaddrinfo_t *req, eddy_getaddrinfo_cb cb,
                     const char *node, const char *service, const struct addrinfo *hints);
/** Frees the request's result list (req->addrinfo becomes NULL); safe to call twice. */
void eddy_getaddrinfo_cleanup(eddy_getaddrinfo_t *req);
/** Frees a result list taken from a request (set req->addrinfo to NULL to take it); NULL-safe. */
void eddy_freeaddrinfo(struct addrinfo *ai);

/** Looks up addr (sockaddr_in or sockaddr_in6, copied) like getnameinfo(3) with flags NI_*;
 * asynchronous or synchronous as eddy_getaddrinfo. Results land in req->host, req->service. */
int eddy_getnameinfo(eddy_loop_t *loop, eddy_getnameinfo_t *req, eddy_getnameinfo_cb cb,
                     const struct sockaddr *addr, int flags);

/** Connects tcp (initialised, with no socket yet) to host:port: resolves host on the pool,
 * then tries each address in order, giving each timeout_ms (0: the kernel's limit) and a fresh
 * socket. cb gets 0 once tcp is connected, or the last address's error when all failed (a
 * lookup error if resolution failed). Everything the request allocates it frees before cb. */
int eddy_tcp_connect_host(eddy_connect_host_t *req, eddy_tcp_t *tcp, const char *host,
                          unsigned port, uint64_t timeout_ms, eddy_connect_host_cb cb);
/** Like eddy_tcp_connect_host without the lookup: tries the SOCK_STREAM entries of list (the
 * caller's, valid until cb) in order. */
int eddy_tcp_connect_addrinfo(eddy_connect_host_t *req, eddy_tcp_t *tcp,
                              const struct addrinfo *list, uint64_t timeout_ms,
                              eddy_connect_host_cb cb);
/** Cancels a connect_host in progress: cb gets EDDY_ECANCELED (never inside this call) and tcp
 * stays without a socket. -EALREADY once the outcome is decided or cancel was called. */
int eddy_connect_host_cancel(eddy_connect_host_t *req);

/** Describes any eddy error, EDDY_EAI_* included ("Name or service not known"). */
const char *eddy_dns_strerror(int err);
/** The symbolic name of any eddy error, EDDY_EAI_* included ("EAI_NONAME"). */
const char *eddy_dns_err_name(int err);

#endif
