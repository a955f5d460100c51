/* The seed documents' central program, in C on eddy:
 *
 *     http.createServer((req, res) => {
 *         setTimeout(() => {
 *             res.writeHead(200, {'Content-Type': 'text/plain'});
 *             res.end('Hello World\n');
 *         }, 100);
 *     }).listen(3000);
 *
 * Every request waits 100 ms on a timer (the "database call") without blocking anyone: one
 * thread holds thousands of requests in flight. --port N (default 3000; 0 lets the kernel
 * choose), --host ADDR (an IPv4 address, default 0.0.0.0, as Node listens on every interface),
 * --delay-ms N (default 100, 0 answers at once, at most an hour). A flag without its value, a
 * value that is not a whole number in range, or an unknown flag is a usage error (exit 2): the
 * server never starts on a default the user did not ask for. SIGINT or SIGTERM closes
 * gracefully and prints a summary. */
#include <eddy.h>
#include <eddy/http.h>

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DELAY_MS_MAX 3600000ull

static uint64_t delay_ms = 100;
static eddy_http_server_t server;
static eddy_signal_t sigint, sigterm;

/* Each request's timer lives in the request's own storage (opts.request_data_size), so a
 * delayed answer costs no allocation. */
typedef struct {
    eddy_timer_t timer;
    eddy_http_res_t *res;
} pending_t;

static void answer(eddy_http_res_t *res)
{
    eddy_http_res_write_head(res, 200);
    eddy_http_res_end(res, "Hello World\n", 12);
}

static void on_timer_closed(eddy_handle_t *h)
{
    pending_t *p = eddy_container_of(h, pending_t, timer.handle);
    answer(p->res); /* the request's storage (and p) is released by end */
}

static void on_timer(eddy_timer_t *t)
{
    /* The timer lives in the request's storage: close it before end frees that storage. */
    eddy_close(&t->handle, on_timer_closed);
}

static void on_request(eddy_http_req_t *req, eddy_http_res_t *res)
{
    eddy_http_res_set_header(res, "Content-Type", "text/plain");
    if (delay_ms == 0) {
        answer(res);
        return;
    }
    pending_t *p = eddy_http_req_data(req);
    p->res = res;
    eddy_timer_init(server.loop, &p->timer);
    eddy_timer_start(&p->timer, on_timer, delay_ms, 0);
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

static const char usage_text[] =
    "usage: %s [--port N] [--host ADDR] [--delay-ms N]\n"
    "  --port N       TCP port, 0..65535 (0: any free port); default 3000\n"
    "  --host ADDR    IPv4 address to listen on; default 0.0.0.0 (every interface)\n"
    "  --delay-ms N   wait before answering, 0..3600000 ms; default 100\n";

/* Says what is wrong with the command line (fmt takes arg), then how to use it; exit 2. */
static void usage_error(const char *argv0, const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", argv0);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    fprintf(stderr, usage_text, argv0);
    exit(2);
}

/* A whole decimal number in 0..max, or -1: no sign, no spaces, no trailing bytes, no overflow
 * (strtoull alone takes "-1", " 7" and "7x"). */
static long long parse_uint(const char *s, unsigned long long max)
{
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != 0 || v > max)
        return -1;
    return (long long)v;
}

int main(int argc, char **argv)
{
    long long port = 3000;
    const char *host = "0.0.0.0";
    struct sockaddr_in addr = {.sin_family = AF_INET};
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        if (strcmp(flag, "--help") == 0 || strcmp(flag, "-h") == 0) {
            printf(usage_text, argv[0]);
            return 0;
        }
        if (strcmp(flag, "--port") != 0 && strcmp(flag, "--host") != 0 &&
            strcmp(flag, "--delay-ms") != 0)
            usage_error(argv[0], "unknown option '%s'", flag);
        if (i + 1 == argc)
            usage_error(argv[0], "%s needs a value", flag);
        const char *value = argv[++i];
        if (strcmp(flag, "--port") == 0) {
            if ((port = parse_uint(value, 65535)) < 0)
                usage_error(argv[0], "--port wants a number in 0..65535, not '%s'", value);
        } else if (strcmp(flag, "--host") == 0) {
            if (inet_pton(AF_INET, value, &addr.sin_addr) != 1)
                usage_error(argv[0], "--host wants an IPv4 address, not '%s'", value);
            host = value;
        } else {
            long long d = parse_uint(value, DELAY_MS_MAX);
            if (d < 0)
                usage_error(argv[0], "--delay-ms wants a number in 0..3600000, not '%s'", value);
            delay_ms = (uint64_t)d;
        }
    }
    addr.sin_port = htons((uint16_t)port);
    eddy_loop_t loop;
    eddy_loop_init(&loop);
    eddy_http_server_opts_t opts;
    eddy_http_server_opts_init(&opts);
    opts.request_data_size = sizeof(pending_t);
    eddy_http_server_init(&loop, &server, &opts, on_request);
    int err = eddy_http_server_listen(&server, (struct sockaddr *)&addr, 0, 4096);
    if (err) {
        fprintf(stderr, "listen on %s port %lld: %s\n", host, port, eddy_strerror(err));
        eddy_http_server_close(&server, NULL);
        eddy_run(&loop, EDDY_RUN_DEFAULT);
        eddy_loop_close(&loop);
        return 1;
    }
    /* Signals first: whoever reads the start-up line may send SIGINT or SIGTERM at once. */
    eddy_signal_init(&loop, &sigint);
    eddy_signal_init(&loop, &sigterm);
    eddy_signal_start(&sigint, on_signal, SIGINT);
    eddy_signal_start(&sigterm, on_signal, SIGTERM);
    printf("Server listening on http://%s:%d/ (answers after %llu ms)\n", host,
           eddy_http_server_port(&server), (unsigned long long)delay_ms);
    fflush(stdout);
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    return eddy_loop_close(&loop) == 0 ? 0 : 1;
}
