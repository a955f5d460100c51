/* Name resolution on the thread pool: getaddrinfo(3) and getnameinfo(3) run in class
 * EDDY_WORK_DNS (capped to half the pool by default, see core/pool.c), or on the caller's
 * thread when no callback is given. Results and the copied arguments belong to the request. */
#include "core/internal.h"

#include <stdlib.h>
#include <string.h>

#include "eddy/dns.h"

/* ---- errors ----------------------------------------------------------------------------- */

/* One row per EDDY_EAI_* code: its glibc EAI_* value and its name (gai_strerror gives text). */
static const struct {
    int eddy;
    int eai;
    const char *name;
} eai_table[] = {
    {EDDY_EAI_ADDRFAMILY, EAI_ADDRFAMILY, "EAI_ADDRFAMILY"},
    {EDDY_EAI_AGAIN, EAI_AGAIN, "EAI_AGAIN"},
    {EDDY_EAI_BADFLAGS, EAI_BADFLAGS, "EAI_BADFLAGS"},
    {EDDY_EAI_FAIL, EAI_FAIL, "EAI_FAIL"},
    {EDDY_EAI_FAMILY, EAI_FAMILY, "EAI_FAMILY"},
    {EDDY_EAI_NODATA, EAI_NODATA, "EAI_NODATA"},
    {EDDY_EAI_NONAME, EAI_NONAME, "EAI_NONAME"},
    {EDDY_EAI_SERVICE, EAI_SERVICE, "EAI_SERVICE"},
    {EDDY_EAI_SOCKTYPE, EAI_SOCKTYPE, "EAI_SOCKTYPE"},
    {EDDY_EAI_OVERFLOW, EAI_OVERFLOW, "EAI_OVERFLOW"},
};

#define EAI_TABLE_LEN (sizeof eai_table / sizeof eai_table[0])

/* Turns a getaddrinfo/getnameinfo result into an eddy status. `saved_errno` is errno right
 * after the call, which EAI_SYSTEM refers to. */
static int status_from_eai(int eai, int saved_errno)
{
    if (eai == 0) return 0;
    if (eai == EAI_SYSTEM) return saved_errno > 0 ? -saved_errno : -EIO;
    if (eai == EAI_MEMORY) return -ENOMEM;
    for (size_t i = 0; i < EAI_TABLE_LEN; i++)
        if (eai_table[i].eai == eai) return eai_table[i].eddy;
    return EDDY_EAI_FAIL; /* a code this table does not know: not recoverable either */
}

EDDY_EXPORT const char *eddy_dns_strerror(int err)
{
    for (size_t i = 0; i < EAI_TABLE_LEN; i++)
        if (eai_table[i].eddy == err) return gai_strerror(eai_table[i].eai); /* static text */
    return eddy_strerror(err);
}

EDDY_EXPORT const char *eddy_dns_err_name(int err)
{
    for (size_t i = 0; i < EAI_TABLE_LEN; i++)
        if (eai_table[i].eddy == err) return eai_table[i].name;
    return eddy_err_name(err);
}

/* ---- getaddrinfo ------------------------------------------------------------------------ */

static void getaddrinfo_work(eddy_work_t *w)
{
    eddy_getaddrinfo_t *req = eddy_container_of(w, eddy_getaddrinfo_t, work);
    errno = 0;
    int eai = getaddrinfo(req->_node, req->_service, req->_has_hints ? &req->_hints : NULL,
                          &req->addrinfo);
    req->_status = status_from_eai(eai, errno);
    if (req->_status != 0) req->addrinfo = NULL; /* getaddrinfo leaves it undefined on error */
}

/* The copied strings are only needed by the lookup itself. */
static void getaddrinfo_release_args(eddy_getaddrinfo_t *req)
{
    free(req->_node != NULL ? req->_node : req->_service);
    req->_node = req->_service = NULL;
}

static void getaddrinfo_after(eddy_work_t *w, int status)
{
    eddy_getaddrinfo_t *req = eddy_container_of(w, eddy_getaddrinfo_t, work);
    getaddrinfo_release_args(req);
    if (status == 0) status = req->_status;
    if (status != 0) eddy_getaddrinfo_cleanup(req); /* cancelled: nothing ran, nothing kept */
    req->_cb(req, status, req->addrinfo);
}

/* Copies node and service into one allocation the request owns until the lookup is over. */
static int copy_names(eddy_getaddrinfo_t *req, const char *node, const char *service)
{
    size_t node_len = node ? strlen(node) + 1 : 0, service_len = service ? strlen(service) + 1 : 0;
    char *buf = malloc(node_len + service_len);
    if (buf == NULL) return -ENOMEM;
    req->_node = node ? memcpy(buf, node, node_len) : NULL;
    req->_service = service ? memcpy(buf + node_len, service, service_len) : NULL;
    return 0;
}

EDDY_EXPORT int eddy_getaddrinfo(eddy_loop_t *loop, eddy_getaddrinfo_t *req, eddy_getaddrinfo_cb cb,
                                 const char *node, const char *service,
                                 const struct addrinfo *hints)
{
    assert(req != NULL);
    if ((node == NULL && service == NULL) || (cb != NULL && loop == NULL)) return -EINVAL;
    req->loop = loop;
    req->addrinfo = NULL;
    req->_cb = cb;
    req->_status = 0;
    req->_has_hints = hints != NULL;
    if (hints != NULL) {
        /* Only the four input fields count; the rest must be zero for getaddrinfo(3). */
        memset(&req->_hints, 0, sizeof req->_hints);
        req->_hints.ai_flags = hints->ai_flags;
        req->_hints.ai_family = hints->ai_family;
        req->_hints.ai_socktype = hints->ai_socktype;
        req->_hints.ai_protocol = hints->ai_protocol;
    }
    int err = copy_names(req, node, service);
    if (err) return err;
    if (cb == NULL) {
        getaddrinfo_work(&req->work);
        getaddrinfo_release_args(req);
        return req->_status;
    }
    err = eddy_queue_work(loop, &req->work, EDDY_WORK_DNS, getaddrinfo_work, getaddrinfo_after);
    if (err) getaddrinfo_release_args(req);
    return err;
}

EDDY_EXPORT void eddy_getaddrinfo_cleanup(eddy_getaddrinfo_t *req)
{
    assert(req != NULL);
    eddy_freeaddrinfo(req->addrinfo);
    req->addrinfo = NULL;
}

EDDY_EXPORT void eddy_freeaddrinfo(struct addrinfo *ai)
{
    if (ai != NULL) freeaddrinfo(ai);
}

/* ---- getnameinfo ------------------------------------------------------------------------ */

static void getnameinfo_work(eddy_work_t *w)
{
    eddy_getnameinfo_t *req = eddy_container_of(w, eddy_getnameinfo_t, work);
    socklen_t len =
        req->_addr.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    errno = 0;
    int eai = getnameinfo((const struct sockaddr *)&req->_addr, len, req->host, sizeof req->host,
                          req->service, sizeof req->service, req->_flags);
    req->_status = status_from_eai(eai, errno);
}

static void getnameinfo_after(eddy_work_t *w, int status)
{
    eddy_getnameinfo_t *req = eddy_container_of(w, eddy_getnameinfo_t, work);
    if (status == 0) status = req->_status;
    if (status == 0)
        req->_cb(req, 0, req->host, req->service);
    else
        req->_cb(req, status, NULL, NULL);
}

EDDY_EXPORT int eddy_getnameinfo(eddy_loop_t *loop, eddy_getnameinfo_t *req, eddy_getnameinfo_cb cb,
                                 const struct sockaddr *addr, int flags)
{
    assert(req != NULL);
    if (addr == NULL || (cb != NULL && loop == NULL)) return -EINVAL;
    if (addr->sa_family == AF_INET)
        memcpy(&req->_addr, addr, sizeof(struct sockaddr_in));
    else if (addr->sa_family == AF_INET6)
        memcpy(&req->_addr, addr, sizeof(struct sockaddr_in6));
    else
        return -EAFNOSUPPORT;
    req->loop = loop;
    req->host[0] = req->service[0] = '\0';
    req->_cb = cb;
    req->_flags = flags;
    req->_status = 0;
    if (cb == NULL) {
        getnameinfo_work(&req->work);
        return req->_status;
    }
    return eddy_queue_work(loop, &req->work, EDDY_WORK_DNS, getnameinfo_work, getnameinfo_after);
}
