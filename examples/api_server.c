/* A JSON API in the shape of the seed documents' dashboard route:
 *
 *     app.get('/api/dashboard/:userId', async (req, res) => {
 *         const [user, posts, notifications] = await Promise.all([
 *             database.findUser(userId),          // I/O: ~20ms
 *             database.findRecentPosts(userId),   // I/O: ~30ms
 *             database.findNotifications(userId)  // I/O: ~15ms
 *         ]);
 *         res.json(buildDashboardResponse(user, posts, notifications));
 *     });
 *
 * The three "database calls" run at once: two are timers (a driver that speaks to the network
 * through the loop: 20 and 30 ms) and one runs on the thread pool (a blocking client library).
 * The response leaves when the last one returns, so a dashboard takes ~30 ms, not the sum, and
 * the loop serves everyone else meanwhile.
 *
 * The pool call blocks its thread for 1 ms. Blocking calls are what the pool is for, but they
 * set a ceiling: 4 threads / 1 ms = 4,000 requests/s. Make it 15 ms and the ceiling is 266/s
 * however idle the loop is (the thread-pool exhaustion of the seed documents); raise
 * EDDY_THREADPOOL_SIZE, or use a driver that speaks through the loop.
 *
 * --port N (default 3000; 0 lets the kernel choose), --host ADDR (IPv4, default 0.0.0.0); a
 * flag without a valid value is a usage error (exit 2). SIGINT/SIGTERM close gracefully. */
#include <eddy.h>
#include <eddy/http.h>

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static eddy_http_server_t server;
static eddy_http_router_t router;
static eddy_signal_t sigint, sigterm;

/* Everything one dashboard request needs lives in the request's own storage. */
typedef struct {
    eddy_http_res_t *res;
    eddy_timer_t user_query;  /* findUser: 20 ms */
    eddy_timer_t posts_query; /* findRecentPosts: 30 ms */
    eddy_work_t notif_query;  /* findNotifications: 1 ms of blocking work on the pool */
    uint64_t user_id;
    uint64_t started_ms;
    int pending;              /* queries still out */
    int open_timers;          /* timer handles not yet closed */
    int notifications;        /* the pool's answer */
    int pool_error;           /* the pool call could not be queued */
} dashboard_t;

/* Ids must survive a JavaScript client: at most Number.MAX_SAFE_INTEGER. */
#define USER_ID_MAX 9007199254740991ull

static void send_json(eddy_http_res_t *res, int status, const char *json, size_t len)
{
    eddy_http_res_set_status(res, status);
    eddy_http_res_set_header(res, "Content-Type", "application/json");
    eddy_http_res_end(res, json, len);
}

/* buildDashboardResponse: runs on the loop, and takes microseconds. */
static void respond(dashboard_t *d)
{
    if (d->pool_error) {
        static const char err[] = "{\"error\":\"notifications unavailable\"}\n";
        send_json(d->res, 503, err, sizeof err - 1);
        return;
    }
    char body[512];
    unsigned long long id = (unsigned long long)d->user_id;
    uint64_t elapsed = eddy_now(server.loop) - d->started_ms;
    int n = snprintf(body, sizeof body,
                     "{\"user\":{\"id\":%llu,\"name\":\"user-%llu\"},"
                     "\"posts\":[{\"id\":\"%llu-1\",\"title\":\"first\"},"
                     "{\"id\":\"%llu-2\",\"title\":\"second\"}],"
                     "\"notifications\":{\"unread\":%d},\"elapsed_ms\":%llu}\n",
                     id, id, id, id, d->notifications, (unsigned long long)elapsed);
    send_json(d->res, 200, body, (size_t)n); /* releases d with the request */
}

static void on_timer_closed(eddy_handle_t *h)
{
    dashboard_t *d = h->data;
    if (--d->open_timers == 0)
        respond(d); /* no handle lives in the request's storage any more */
}

static void query_done(dashboard_t *d)
{
    if (--d->pending > 0)
        return;
    /* Promise.all resolved. The timers live in the request's storage: close them first. */
    eddy_close(&d->user_query.handle, on_timer_closed);
    eddy_close(&d->posts_query.handle, on_timer_closed);
}

static void on_user(eddy_timer_t *t)
{
    query_done(t->handle.data);
}

static void on_posts(eddy_timer_t *t)
{
    query_done(t->handle.data);
}

static void notif_work(eddy_work_t *w)
{
    /* A blocking driver call: this thread waits, the loop does not. */
    struct timespec ts = {0, 1000 * 1000};
    nanosleep(&ts, NULL);
    dashboard_t *d = w->data;
    d->notifications = (int)(d->user_id % 7);
}

static void notif_done(eddy_work_t *w, int status)
{
    query_done(w->data);
}

/* The route parameter as a number in 0..USER_ID_MAX, or -1. The parameter is a span of the
 * request, not a C string: it is read for exactly len bytes. */
static int64_t parse_user_id(const char *id, size_t len)
{
    if (id == NULL || len == 0 || len > 19)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (id[i] < '0' || id[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(id[i] - '0'); /* 19 digits cannot overflow 64 bits */
    }
    return v <= USER_ID_MAX ? (int64_t)v : -1;
}

static void dashboard(eddy_http_req_t *req, eddy_http_res_t *res)
{
    size_t len = 0;
    const char *id = eddy_http_req_param(req, "userId", &len);
    int64_t user_id = parse_user_id(id, len);
    if (user_id < 0) {
        static const char err[] = "{\"error\":\"userId must be a number\"}\n";
        send_json(res, 400, err, sizeof err - 1);
        return;
    }
    dashboard_t *d = eddy_http_req_data(req);
    d->res = res;
    d->user_id = (uint64_t)user_id;
    d->started_ms = eddy_now(server.loop);
    d->pending = 3;
    d->open_timers = 2;
    eddy_timer_init(server.loop, &d->user_query);
    eddy_timer_init(server.loop, &d->posts_query);
    d->user_query.handle.data = d->posts_query.handle.data = d;
    eddy_timer_start(&d->user_query, on_user, 20, 0);
    eddy_timer_start(&d->posts_query, on_posts, 30, 0);
    d->notif_query.data = d;
    if (eddy_queue_work(server.loop, &d->notif_query, EDDY_WORK_USER, notif_work, notif_done)) {
        d->pool_error = 1; /* answered 503 once the timers are done */
        query_done(d);
    }
}

static void health(eddy_http_req_t *req, eddy_http_res_t *res)
{
    static const char ok[] = "{\"status\":\"ok\"}\n";
    send_json(res, 200, ok, sizeof ok - 1);
}

static void on_request(eddy_http_req_t *req, eddy_http_res_t *res)
{
    eddy_http_router_dispatch(&router, req, res);
}

static void on_closed(eddy_http_server_t *s)
{
    eddy_http_server_stats_t st;
    eddy_http_server_stats(s, &st);
    printf("served %llu requests, peak %u connections\n", (unsigned long long)st.requests,
           st.connections_peak);
}

static void on_signal(eddy_signal_t *sig, int signum)
{
    eddy_close(&sigint.handle, NULL);
    eddy_close(&sigterm.handle, NULL);
    eddy_http_server_close(&server, on_closed);
}

static void usage_error(const char *argv0, const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", argv0);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nusage: %s [--port N (0..65535, default 3000)] [--host IPv4 (0.0.0.0)]\n",
            argv0);
    exit(2);
}

int main(int argc, char **argv)
{
    long port = 3000;
    const char *host = "0.0.0.0";
    struct sockaddr_in addr = {.sin_family = AF_INET};
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        if (strcmp(flag, "--port") != 0 && strcmp(flag, "--host") != 0)
            usage_error(argv[0], "unknown option '%s'", flag);
        if (i + 1 == argc)
            usage_error(argv[0], "%s needs a value", flag);
        const char *value = argv[++i];
        if (strcmp(flag, "--host") == 0) {
            if (inet_pton(AF_INET, value, &addr.sin_addr) != 1)
                usage_error(argv[0], "--host wants an IPv4 address, not '%s'", value);
            host = value;
            continue;
        }
        char *end;
        errno = 0;
        port = value[0] >= '0' && value[0] <= '9' ? strtol(value, &end, 10) : -1;
        if (port < 0 || port > 65535 || errno != 0 || *end != 0)
            usage_error(argv[0], "--port wants a number in 0..65535, not '%s'", value);
    }
    addr.sin_port = htons((uint16_t)port);
    eddy_loop_t loop;
    eddy_loop_init(&loop);
    eddy_http_router_init(&router);
    eddy_http_router_add(&router, "GET", "/api/dashboard/:userId", dashboard);
    eddy_http_router_add(&router, "GET", "/api/health", health);
    eddy_http_server_opts_t opts;
    eddy_http_server_opts_init(&opts);
    opts.request_data_size = sizeof(dashboard_t);
    eddy_http_server_init(&loop, &server, &opts, on_request);
    int err = eddy_http_server_listen(&server, (struct sockaddr *)&addr, 0, 4096);
    if (err) {
        fprintf(stderr, "listen on %s port %ld: %s\n", host, port, eddy_strerror(err));
        return 1;
    }
    /* Signals first: whoever reads the start-up line may send SIGINT or SIGTERM at once. */
    eddy_signal_init(&loop, &sigint);
    eddy_signal_init(&loop, &sigterm);
    eddy_signal_start(&sigint, on_signal, SIGINT);
    eddy_signal_start(&sigterm, on_signal, SIGTERM);
    printf("API listening on http://%s:%d/: GET /api/dashboard/:userId, GET /api/health\n", host,
           eddy_http_server_port(&server));
    fflush(stdout);
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    eddy_http_router_free(&router);
    return eddy_loop_close(&loop) == 0 ? 0 : 1;
}
