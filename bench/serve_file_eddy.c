/* The eddy server of bench/serve_file.sh: every request is answered by eddy_http_static from
 * one directory (plain: gzip off, so a file goes out with sendfile), as nginx's `root` does.
 *
 *     serve_file_eddy --port N --dir DIR        GET /NAME serves DIR/NAME
 *
 * SIGTERM or SIGINT closes the server and exits. */
#include <eddy.h>
#include <eddy/http.h>
#include <eddy/http_static.h>

#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static eddy_http_server_t server;
static eddy_http_static_t statics;
static eddy_signal_t sigint, sigterm;

static void on_request(eddy_http_req_t *req, eddy_http_res_t *res)
{
    eddy_http_static_serve(&statics, req, res);
}

static void on_closed(eddy_http_server_t *s)
{
    (void)s;
    eddy_http_static_free(&statics);
}

static void on_signal(eddy_signal_t *sig, int signum)
{
    (void)sig;
    (void)signum;
    eddy_close(&sigint.handle, NULL);
    eddy_close(&sigterm.handle, NULL);
    eddy_http_server_close(&server, on_closed);
}

int main(int argc, char **argv)
{
    int port = 3000;
    const char *dir = ".";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--port N] [--dir DIR]\n", argv[0]);
            return 2;
        }
    }
    eddy_http_static_opts_t opts;
    eddy_http_static_opts_init(&opts);
    opts.gzip = 0;
    if (eddy_http_static_init(&statics, dir, &opts) != 0) {
        fprintf(stderr, "cannot open %s\n", dir);
        return 1;
    }
    eddy_loop_t *loop = eddy_default_loop();
    eddy_http_server_init(loop, &server, NULL, on_request);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int err = eddy_http_server_listen(&server, (struct sockaddr *)&addr, 0, 511);
    if (err) {
        fprintf(stderr, "listen: %s\n", eddy_strerror(err));
        return 1;
    }
    eddy_signal_init(loop, &sigint);
    eddy_signal_init(loop, &sigterm);
    eddy_signal_start_oneshot(&sigint, on_signal, SIGINT);
    eddy_signal_start_oneshot(&sigterm, on_signal, SIGTERM);
    printf("eddy serving %s on http://127.0.0.1:%d/\n", dir, port);
    fflush(stdout);
    eddy_run(loop, EDDY_RUN_DEFAULT);
    return eddy_loop_close(loop) == 0 ? 0 : 1;
}
