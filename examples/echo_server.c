/* A TCP echo server: everything a client sends comes back.
 *
 *     echo_server [-p PORT] [-a ADDRESS]      (defaults: 7000, 127.0.0.1; port 0 = any free)
 *
 * It shows the stream interface the way a real server uses it: reads land in the loop-shared
 * buffer (idle connections own none), eddy_stream_try_write sends them back without copying
 * when the kernel takes them whole, only a remainder is copied into a queued write, and a
 * client that does not read its echoes is paused (read_stop) until its queue drains, so a slow
 * client cannot make the server buffer without bound. SIGINT closes everything and exits. */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eddy.h"

typedef struct {
    eddy_tcp_t tcp;
} conn_t;

/* A queued echo: the request and its own copy of the bytes the kernel did not take. */
typedef struct {
    eddy_write_t req;
    char data[];
} echo_write_t;

static eddy_tcp_t server;
static eddy_signal_t sigint;
static unsigned long connections;

static void conn_closed(eddy_handle_t *h)
{
    free(eddy_container_of(h, conn_t, tcp.stream.handle));
}

static void echo_written(eddy_write_t *req, int status)
{
    free(req->data);
}

static void on_read(eddy_stream_t *s, ssize_t nread, const eddy_buf_t *buf);

static void on_drain(eddy_stream_t *s)
{
    eddy_stream_read_start(s, NULL, on_read); /* the client caught up: listen to it again */
}

static void on_read(eddy_stream_t *s, ssize_t nread, const eddy_buf_t *buf)
{
    if (nread < 0) { /* EDDY_EOF or an error such as -ECONNRESET */
        if (nread != EDDY_EOF) fprintf(stderr, "connection error: %s\n", eddy_strerror((int)nread));
        eddy_close(&s->handle, conn_closed);
        return;
    }
    /* The buffer is lent for this call only: send what the kernel takes now, copy the rest. */
    ssize_t sent = eddy_stream_try_write(s, buf, 1);
    if (sent == (ssize_t)nread) return;
    if (sent < 0 && sent != -EAGAIN) {
        eddy_close(&s->handle, conn_closed);
        return;
    }
    size_t done = sent > 0 ? (size_t)sent : 0, left = (size_t)nread - done;
    echo_write_t *w = malloc(sizeof *w + left);
    if (w == NULL) {
        eddy_close(&s->handle, conn_closed);
        return;
    }
    memcpy(w->data, buf->base + done, left);
    w->req.data = w;
    eddy_buf_t rest = eddy_buf_init(w->data, left);
    int r = eddy_stream_write(&w->req, s, &rest, 1, echo_written);
    if (r < 0) {
        free(w);
        eddy_close(&s->handle, conn_closed);
    } else if (r == EDDY_STREAM_FULL) {
        eddy_stream_read_stop(s); /* backpressure: stop reading until the echoes drain */
    }
}

static void on_connection(eddy_stream_t *listener, int status)
{
    if (status < 0) { /* e.g. -EMFILE: that client was dropped; keep serving the others */
        fprintf(stderr, "accept: %s\n", eddy_strerror(status));
        return;
    }
    conn_t *c = malloc(sizeof *c);
    if (c == NULL || eddy_tcp_init(listener->handle.loop, &c->tcp) != 0) {
        free(c);
        return;
    }
    c->tcp.stream.handle.data = c;
    if (eddy_tcp_accept(&server, &c->tcp) != 0) {
        eddy_close(&c->tcp.stream.handle, conn_closed);
        return;
    }
    connections++;
    eddy_stream_set_drain_cb(&c->tcp.stream, on_drain);
    eddy_stream_read_start(&c->tcp.stream, NULL, on_read);
}

static void close_one(eddy_handle_t *h, void *arg)
{
    if (eddy_is_closing(h)) return;
    /* Connections carry their conn_t in data; the listener and the signal handle do not. */
    eddy_close(h, h->data ? conn_closed : NULL);
}

static void on_sigint(eddy_signal_t *sig, int signum)
{
    printf("\nSIGINT: closing (%lu connections served)\n", connections);
    eddy_walk(sig->handle.loop, close_one, NULL);
}

int main(int argc, char **argv)
{
    int port = 7000;
    const char *address = "127.0.0.1";
    for (int opt; (opt = getopt(argc, argv, "p:a:h")) != -1;) {
        if (opt == 'p') {
            port = atoi(optarg);
        } else if (opt == 'a') {
            address = optarg;
        } else {
            fprintf(stderr, "usage: %s [-p PORT] [-a ADDRESS]\n", argv[0]);
            return 2;
        }
    }

    struct sockaddr_storage addr = {0};
    struct sockaddr_in *a4 = (struct sockaddr_in *)&addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addr;
    if (inet_pton(AF_INET, address, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
    } else if (inet_pton(AF_INET6, address, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
    } else {
        fprintf(stderr, "bad address: %s\n", address);
        return 2;
    }

    eddy_loop_t *loop = eddy_default_loop();
    int err;
    if (loop == NULL) {
        fprintf(stderr, "cannot create the loop\n");
        return 1;
    }
    eddy_tcp_init(loop, &server);
    server.stream.handle.data = NULL;
    if ((err = eddy_tcp_bind(&server, (struct sockaddr *)&addr, 0)) != 0 ||
        (err = eddy_tcp_listen(&server, 511, on_connection)) != 0) {
        fprintf(stderr, "listen on %s:%d: %s\n", address, port, eddy_strerror(err));
        return 1;
    }
    socklen_t len = sizeof addr;
    eddy_tcp_getsockname(&server, (struct sockaddr *)&addr, &len);
    port = ntohs(addr.ss_family == AF_INET ? a4->sin_port : a6->sin6_port);
    printf("echo server listening on %s port %d (Ctrl-C to stop)\n", address, port);
    fflush(stdout); /* scripts wait for this line */

    eddy_signal_init(loop, &sigint);
    sigint.handle.data = NULL;
    eddy_signal_start_oneshot(&sigint, on_sigint, SIGINT);
    eddy_unref(&sigint.handle); /* the server, not the signal watcher, keeps the loop alive */

    eddy_run(loop, EDDY_RUN_DEFAULT);
    err = eddy_loop_close(loop);
    printf("bye\n");
    return err == 0 ? 0 : 1;
}
