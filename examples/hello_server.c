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
 * thread holds thousands of requests in flight. --port N (default 3000), --host ADDR (default
 * 0.0.0.0, as Node listens on every interface), --delay-ms N (default 100, 0 answers at once).
 * SIGINT or SIGTERM closes gracefully and prints a summary. */
#include <eddy.h>
#include <eddy/http.h>

#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int main(int argc, char **argv)
{
    int port = 3000;
    const char *host = "0.0.0.0";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0)
            port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--host") == 0)
            host = argv[i + 1];
        else if (strcmp(argv[i], "--delay-ms") == 0)
            delay_ms = strtoull(argv[i + 1], NULL, 10);
        else {
            fprintf(stderr, "usage: %s [--port N] [--host ADDR] [--delay-ms N]\n", argv[0]);
            return 2;
        }
    }
    eddy_loop_t loop;
    eddy_loop_init(&loop);
    eddy_http_server_opts_t opts;
    eddy_http_server_opts_init(&opts);
    opts.request_data_size = sizeof(pending_t);
    eddy_http_server_init(&loop, &server, &opts, on_request);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "--host: not an IPv4 address: %s\n", host);
        return 2;
    }
    int err = eddy_http_server_listen(&server, (struct sockaddr *)&addr, 0, 4096);
    if (err) {
        fprintf(stderr, "listen on port %d: %s\n", port, eddy_strerror(err));
        eddy_http_server_close(&server, NULL);
        eddy_run(&loop, EDDY_RUN_DEFAULT);
        eddy_loop_close(&loop);
        return 1;
    }
    printf("Server listening on port %d (answers after %llu ms)\n", eddy_http_server_port(&server),
           (unsigned long long)delay_ms);
    fflush(stdout);
    eddy_signal_init(&loop, &sigint);
    eddy_signal_init(&loop, &sigterm);
    eddy_signal_start(&sigint, on_signal, SIGINT);
    eddy_signal_start(&sigterm, on_signal, SIGTERM);
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    return eddy_loop_close(&loop) == 0 ? 0 : 1;
}
