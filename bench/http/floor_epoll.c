/* The floor for CPU per request: a bare epoll responder that parses nothing.
 *
 * It answers every "\r\n\r\n" it sees with one fixed response, so it does the least work any
 * HTTP/1.1 server on this kernel can do for a keep-alive GET: one read and one send per batch
 * of requests. Pipelining-aware: the terminators of one read are counted and all their
 * responses leave in one send. Edge-triggered, with EPOLLIN|EPOLLOUT registered once per
 * connection, so no epoll_ctl is made per request; a partial send leaves the owed bytes
 * counted and the next EPOLLOUT edge sends them.
 *
 *     floor_epoll [--port N]     (0, the default, picks a free port; it is printed)
 *
 * It is a benchmark baseline, not a server: no timeouts, no limits, no request validation. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static const char RESPONSE[] = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nContent-Type: text/plain"
                               "\r\n\r\nHello World\n";
#define RESPONSE_LEN (sizeof RESPONSE - 1)
#define OUT_COPIES 256 /* one send covers up to this many responses */

/* Per connection, indexed by descriptor: how far "\r\n\r\n" is matched, and the bytes owed. */
typedef struct {
    uint8_t match;  /* 0..3 bytes of the terminator seen at the end of the last read */
    uint64_t owed;  /* response bytes not yet sent */
    uint32_t phase; /* offset inside the response where the owed bytes start */
} conn_t;

static conn_t *conns;
static size_t conns_len;
static char out[OUT_COPIES * RESPONSE_LEN];
static char in[64 * 1024];

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    conns_len = rl.rlim_cur == RLIM_INFINITY ? 1u << 20 : (size_t)rl.rlim_cur;
    conns = calloc(conns_len, sizeof *conns);
    if (conns == NULL) {
        perror("calloc");
        exit(1);
    }
}

/* Counts request terminators in buf, non-overlapping, carrying a partial match across reads.
 * The states are the prefix of "\r\n\r\n" seen so far; from state 0 memchr jumps to the
 * next '\r', which is what a parser-free server would do. */
static uint64_t count_terminators(conn_t *c, const char *buf, size_t len)
{
    static const char term[4] = {'\r', '\n', '\r', '\n'};
    uint64_t n = 0;
    unsigned s = c->match;
    const char *p = buf, *end = buf + len;
    while (p < end) {
        if (s == 0) {
            p = memchr(p, '\r', (size_t)(end - p));
            if (p == NULL)
                break;
            s = 1;
            p++;
            continue;
        }
        char ch = *p++;
        if (ch == term[s]) {
            if (++s == 4) {
                n++;
                s = 0;
            }
        } else {
            s = ch == '\r' ? 1 : 0;
        }
    }
    c->match = (uint8_t)s;
    return n;
}

/* Sends what the connection owes; returns -1 if the connection broke. */
static int flush(int fd, conn_t *c)
{
    while (c->owed > 0) {
        size_t span = sizeof out - c->phase;
        if (span > c->owed)
            span = (size_t)c->owed;
        ssize_t w = send(fd, out + c->phase, span, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN ? 0 : -1;
        }
        c->owed -= (uint64_t)w;
        c->phase = (uint32_t)((c->phase + (size_t)w) % RESPONSE_LEN);
    }
    return 0;
}

static void close_conn(int fd)
{
    conns[fd] = (conn_t){0};
    close(fd);
}

static void on_readable(int fd, uint32_t events)
{
    /* With the peer's FIN in this edge there is no later edge: read on to the EOF. */
    int to_eof = (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
    conn_t *c = &conns[fd];
    for (;;) {
        ssize_t r = read(fd, in, sizeof in);
        if (r > 0) {
            c->owed += count_terminators(c, in, (size_t)r) * RESPONSE_LEN;
            if ((size_t)r < sizeof in && !to_eof)
                break; /* a short read drained the socket: skip the read that says EAGAIN */
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EAGAIN)
            break;
        close_conn(fd); /* EOF or error */
        return;
    }
    if (flush(fd, c) != 0)
        close_conn(fd);
}

static void on_accept(int epfd, int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return; /* EAGAIN, or EMFILE: the next edge retries */
        }
        if ((size_t)fd >= conns_len) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conns[fd] = (conn_t){0};
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                 .data.fd = fd};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
            close(fd);
    }
}

int main(int argc, char **argv)
{
    int port = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
            port = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--port N]\n", argv[0]);
            return 2;
        }
    }
    raise_nofile();
    signal(SIGPIPE, SIG_IGN);
    for (size_t i = 0; i < OUT_COPIES; i++)
        memcpy(out + i * RESPONSE_LEN, RESPONSE, RESPONSE_LEN);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lfd, 4096) != 0) {
        perror("bind/listen");
        return 1;
    }
    socklen_t alen = sizeof addr;
    getsockname(lfd, (struct sockaddr *)&addr, &alen);
    printf("floor_epoll listening on port %d\n", ntohs(addr.sin_port));
    fflush(stdout);

    int epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.fd = lfd};
    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
    struct epoll_event evs[512];
    for (;;) {
        int n = epoll_wait(epfd, evs, 512, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            perror("epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            uint32_t e = evs[i].events;
            if (fd == lfd) {
                on_accept(epfd, lfd);
                continue;
            }
            if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
                on_readable(fd, e); /* reads, answers, and closes on EOF or error */
                continue;
            }
            if ((e & EPOLLOUT) && conns[fd].owed > 0 && flush(fd, &conns[fd]) != 0)
                close_conn(fd);
        }
    }
}
