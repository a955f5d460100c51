/* A test-only HTTP server for the interop tests: every request is answered, once its body has
 * been read, with "<METHOD> <path> <body bytes>\n". It exists for what hello_server cannot
 * show: uploads (chunked, 100-continue), many connections, slow clients.
 *
 *     echo_server [--port N] [--headers-timeout-ms N] [--keep-alive-timeout-ms N]
 *
 * --port 0 (the default) lets the kernel choose; the first line on stdout says which port.
 * SIGTERM or SIGINT closes gracefully; the exit status is 0 only if the loop then closes
 * cleanly. The soft descriptor limit is raised to the hard one, so the server can hold as many
 * connections as the process may (the library never changes process limits itself). */
#include <eddy.h>
#include <eddy/http.h>

#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

typedef struct {
    eddy_http_res_t *res;
    uint64_t body_len;
} upload_t;

static eddy_http_server_t server;
static eddy_signal_t sigint, sigterm;

static void on_body(eddy_http_req_t *req, const char *data, size_t len)
{
    ((upload_t *)eddy_http_req_data(req))->body_len += len;
}

static void on_end(eddy_http_req_t *req, int status)
{
    upload_t *u = eddy_http_req_data(req);
    char text[256];
    int n = snprintf(text, sizeof text, "%s %.*s %llu\n", eddy_http_method_name(req->method),
                     (int)(req->path_len < 128 ? req->path_len : 128), req->path,
                     (unsigned long long)u->body_len);
    if (status < 0)
        eddy_http_res_set_status(u->res, 400); /* the body broke: the connection closes */
    eddy_http_res_set_header(u->res, "Content-Type", "text/plain");
    eddy_http_res_end(u->res, text, (size_t)n);
}

static void on_request(eddy_http_req_t *req, eddy_http_res_t *res)
{
    upload_t *u = eddy_http_req_data(req);
    u->res = res;
    /* Without a body the request is complete already, and on_body calls on_end at once. */
    eddy_http_req_on_body(req, on_body, on_end);
}

static void on_closed(eddy_http_server_t *s)
{
    eddy_http_server_stats_t st;
    eddy_http_server_stats(s, &st);
    printf("served %llu requests, peak %u connections, %llu timeouts, %llu dropped\n",
           (unsigned long long)st.requests, st.connections_peak, (unsigned long long)st.timeouts,
           (unsigned long long)st.dropped);
}

static void on_signal(eddy_signal_t *sig, int signum)
{
    eddy_close(&sigint.handle, NULL);
    eddy_close(&sigterm.handle, NULL);
    eddy_http_server_close(&server, on_closed);
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) perror("setrlimit");
    }
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    eddy_http_server_opts_t opts;
    eddy_http_server_opts_init(&opts);
    opts.request_data_size = sizeof(upload_t);
    int port = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0)
            port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--headers-timeout-ms") == 0)
            opts.headers_timeout_ms = (uint32_t)strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--keep-alive-timeout-ms") == 0)
            opts.keep_alive_timeout_ms = (uint32_t)strtoul(argv[i + 1], NULL, 10);
        else {
            fprintf(stderr,
                    "usage: %s [--port N] [--headers-timeout-ms N] "
                    "[--keep-alive-timeout-ms N]\n",
                    argv[0]);
            return 2;
        }
    }
    raise_fd_limit();
    eddy_loop_t loop;
    if (eddy_loop_init(&loop) != 0) return 1;
    eddy_http_server_init(&loop, &server, &opts, on_request);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int err = eddy_http_server_listen(&server, (struct sockaddr *)&addr, 0, 4096);
    if (err) {
        fprintf(stderr, "listen: %s\n", eddy_strerror(err));
        return 1;
    }
    /* Signals first: whoever reads the start-up line may send SIGINT or SIGTERM at once. */
    eddy_signal_init(&loop, &sigint);
    eddy_signal_init(&loop, &sigterm);
    eddy_signal_start(&sigint, on_signal, SIGINT);
    eddy_signal_start(&sigterm, on_signal, SIGTERM);
    printf("listening on port %d\n", eddy_http_server_port(&server));
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    return eddy_loop_close(&loop) == 0 ? 0 : 1;
}
