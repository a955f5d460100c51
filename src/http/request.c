/* Requests: header lookup, body delivery, pause and resume, per-request storage. */
#include "http/http_internal.h"

#include <string.h>
#include <strings.h>

EDDY_EXPORT const char *eddy_http_req_header(const eddy_http_req_t *req, const char *name,
                                             size_t *len)
{
    size_t n = strlen(name);
    for (uint32_t i = 0; i < req->headers_len; i++) {
        const eddy_http_header_t *h = &req->headers[i];
        if (h->name_len == n && strncasecmp(h->name, name, n) == 0) {
            if (len)
                *len = h->value_len;
            return h->value;
        }
    }
    return NULL;
}

EDDY_EXPORT void eddy_http_req_on_body(eddy_http_req_t *req, eddy_http_body_cb body_cb,
                                       eddy_http_end_cb end_cb)
{
    xchg_t *x = eddy__http_xchg_of_req(req);
    x->body_cb = body_cb;
    x->end_cb = end_cb;
    /* The body already arrived (a handler that asks late): end is all there is. */
    if ((x->flags & X_BODY_DONE) && end_cb)
        end_cb(req, 0);
}

EDDY_EXPORT void eddy_http_req_pause(eddy_http_req_t *req)
{
    xchg_t *x = eddy__http_xchg_of_req(req);
    if (x->flags & X_ORPHAN)
        return;
    x->conn->flags |= R_USER;
    eddy__http_conn_update_reading(x->conn);
}

EDDY_EXPORT void eddy_http_req_resume(eddy_http_req_t *req)
{
    xchg_t *x = eddy__http_xchg_of_req(req);
    conn_t *c = x->conn;
    if ((x->flags & X_ORPHAN) || !(c->flags & R_USER))
        return;
    c->flags &= ~R_USER;
    eddy__http_conn_resume_input(c);
}

EDDY_EXPORT void *eddy_http_req_data(eddy_http_req_t *req)
{
    return eddy__http_xchg_of_req(req) + 1;
}

EDDY_EXPORT const char *eddy_http_req_param(const eddy_http_req_t *req, const char *name,
                                            size_t *len)
{
    size_t n = strlen(name);
    for (unsigned i = 0; i < req->_params_len; i++) {
        if (req->_params[i].name_len == n && memcmp(req->_params[i].name, name, n) == 0) {
            if (len)
                *len = req->_params[i].value_len;
            return req->_params[i].value;
        }
    }
    return NULL;
}
