/* The router: method + path patterns with ":name" parameters and a trailing "*". */
#include "http/http_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct eddy__http_route {
    const char *method; /* NULL: any */
    const char *pattern;
    eddy_http_request_cb handler;
};

EDDY_EXPORT void eddy_http_router_init(eddy_http_router_t *r)
{
    memset(r, 0, sizeof *r);
}

EDDY_EXPORT void eddy_http_router_free(eddy_http_router_t *r)
{
    free(r->_routes);
    memset(r, 0, sizeof *r);
}

EDDY_EXPORT int eddy_http_router_add(eddy_http_router_t *r, const char *method,
                                     const char *pattern, eddy_http_request_cb handler)
{
    if (pattern == NULL || pattern[0] != '/' || handler == NULL)
        return -EINVAL;
    if (r->_len == r->_cap) {
        size_t cap = r->_cap ? r->_cap * 2 : 8;
        struct eddy__http_route *routes = realloc(r->_routes, cap * sizeof *routes);
        if (routes == NULL)
            return -ENOMEM;
        r->_routes = routes;
        r->_cap = cap;
    }
    r->_routes[r->_len++] = (struct eddy__http_route){method, pattern, handler};
    return 0;
}

/* Matches path against pattern segment by segment, recording parameters in req. */
static bool match(const char *pattern, const char *path, size_t path_len, eddy_http_req_t *req)
{
    const char *p = pattern, *end = path + path_len, *s = path;
    req->_params_len = 0;
    while (*p && s <= end) {
        if (*p == '*' && p[1] == 0)
            return true; /* the rest, whatever it is */
        if (*p == ':') {
            const char *name = ++p;
            while (*p && *p != '/')
                p++;
            const char *v = s;
            while (s < end && *s != '/')
                s++;
            if (s == v || req->_params_len == 8)
                return false; /* a parameter takes one non-empty segment */
            req->_params[req->_params_len].name = name;
            req->_params[req->_params_len].name_len = (uint16_t)(p - name);
            req->_params[req->_params_len].value = v;
            req->_params[req->_params_len].value_len = (uint16_t)(s - v);
            req->_params_len++;
            continue;
        }
        if (s == end || *p != *s)
            return false;
        p++;
        s++;
    }
    return *p == 0 && s == end;
}

/* Whether the list "A, B" names method. A whole-token match: strstr would take PATCH for
 * present once PROPPATCH is, and leave it out of Allow. */
static bool allow_has(const char *allow, const char *method)
{
    size_t n = strlen(method);
    for (const char *p = allow; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && memcmp(p, method, n) == 0)
            return true;
        if (!e)
            break;
        p = e + 2;
    }
    return false;
}

static void answer(eddy_http_res_t *res, int status, const char *allow)
{
    const char *text = eddy_http_status_text(status);
    char body[64];
    int n = snprintf(body, sizeof body, "%s\n", text);
    eddy_http_res_set_status(res, status);
    eddy_http_res_set_header(res, "Content-Type", "text/plain");
    if (allow)
        eddy_http_res_set_header(res, "Allow", allow);
    eddy_http_res_end(res, body, (size_t)n);
}

EDDY_EXPORT void eddy_http_router_dispatch(const eddy_http_router_t *r, eddy_http_req_t *req,
                                           eddy_http_res_t *res)
{
    const char *method = eddy_http_method_name(req->method);
    char allow[256];
    size_t allow_len = 0;
    allow[0] = 0;
    for (size_t i = 0; i < r->_len; i++) {
        const struct eddy__http_route *rt = &r->_routes[i];
        if (!match(rt->pattern, req->path, req->path_len, req))
            continue;
        bool head_as_get = req->method == EDDY_HTTP_HEAD && rt->method &&
                           strcmp(rt->method, "GET") == 0;
        if (rt->method == NULL || strcmp(rt->method, method) == 0 || head_as_get) {
            rt->handler(req, res);
            return;
        }
        /* The path exists with another method: remember it for 405's Allow. */
        if (!allow_has(allow, rt->method) && allow_len + strlen(rt->method) + 3 < sizeof allow)
            allow_len += (size_t)snprintf(allow + allow_len, sizeof allow - allow_len, "%s%s",
                                          allow_len ? ", " : "", rt->method);
    }
    req->_params_len = 0;
    answer(res, allow_len ? 405 : 404, allow_len ? allow : NULL);
}
