/* TCP handles: socket creation and options; the data path is the stream's (stream.c) and
 * listening/connecting the socket layer's (socket.c). */
#include "stream/stream_internal.h"

#include <fcntl.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include "eddy/tcp.h"

static int set_int_opt(int fd, int level, int name, int value)
{
    return setsockopt(fd, level, name, &value, sizeof value) == 0 ? 0 : -errno;
}

static socklen_t addr_len(const struct sockaddr *addr)
{
    switch (addr->sa_family) {
    case AF_INET:
        return sizeof(struct sockaddr_in);
    case AF_INET6:
        return sizeof(struct sockaddr_in6);
    default:
        return 0;
    }
}

/* The socket exists from bind, connect or open on; its family is the address's. */
static int ensure_socket(eddy_tcp_t *t, int family)
{
    if (eddy__stream_fd(&t->stream) >= 0) return 0;
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    if (t->stream.handle._flags & EDDY__S_NODELAY) set_int_opt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    eddy__stream_set_fd(&t->stream, fd, 0);
    return 0;
}

EDDY_EXPORT int eddy_tcp_init(eddy_loop_t *loop, eddy_tcp_t *t)
{
    assert(loop != NULL && t != NULL);
    eddy__stream_init(loop, &t->stream, EDDY_HANDLE_TCP);
    return 0;
}

EDDY_EXPORT int eddy_tcp_open(eddy_tcp_t *t, int fd)
{
    if (eddy__stream_fd(&t->stream) >= 0) return -EBUSY;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -errno;
    /* A connected socket is readable and writable at once; otherwise bind/listen/connect. */
    struct sockaddr_storage peer;
    socklen_t len = sizeof peer;
    bool connected = getpeername(fd, (struct sockaddr *)&peer, &len) == 0;
    eddy__stream_set_fd(&t->stream, fd, connected ? EDDY__S_CAN_READ | EDDY__S_CAN_WRITE : 0);
    return 0;
}

EDDY_EXPORT int eddy_tcp_bind(eddy_tcp_t *t, const struct sockaddr *addr, unsigned flags)
{
    socklen_t len = addr_len(addr);
    if (len == 0 || ((flags & EDDY_TCP_IPV6ONLY) && addr->sa_family != AF_INET6)) return -EINVAL;
    int err = ensure_socket(t, addr->sa_family);
    if (err) return err;
    int fd = eddy__stream_fd(&t->stream);
    /* SO_REUSEADDR as every server does, so a restart does not wait out TIME_WAIT. */
    if ((err = set_int_opt(fd, SOL_SOCKET, SO_REUSEADDR, 1)) != 0) return err;
    if ((flags & EDDY_TCP_IPV6ONLY) && (err = set_int_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1)))
        return err;
    if ((flags & EDDY_TCP_REUSEPORT) && (err = set_int_opt(fd, SOL_SOCKET, SO_REUSEPORT, 1)))
        return err;
    return bind(fd, addr, len) == 0 ? 0 : -errno;
}

EDDY_EXPORT int eddy_tcp_listen(eddy_tcp_t *t, int backlog, eddy_connection_cb cb)
{
    int fd = eddy__stream_fd(&t->stream);
    if (fd < 0) return -EINVAL; /* bind first */
    /* Accepted sockets inherit TCP_NODELAY from the listener on Linux: one setsockopt here
     * instead of one per connection gives servers nodelay by default (DESIGN). */
    set_int_opt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    return eddy__stream_listen(&t->stream, backlog, cb);
}

EDDY_EXPORT int eddy_tcp_accept(eddy_tcp_t *server, eddy_tcp_t *client)
{
    return eddy_stream_accept(&server->stream, &client->stream);
}

EDDY_EXPORT int eddy_tcp_connect_timeout(eddy_connect_t *req, eddy_tcp_t *t,
                                         const struct sockaddr *addr, uint64_t timeout_ms,
                                         eddy_connect_cb cb)
{
    socklen_t len = addr_len(addr);
    if (len == 0) return -EINVAL;
    int err = ensure_socket(t, addr->sa_family);
    if (err) return err;
    return eddy__stream_connect(req, &t->stream, addr, len, timeout_ms, cb);
}

EDDY_EXPORT int eddy_tcp_connect(eddy_connect_t *req, eddy_tcp_t *t, const struct sockaddr *addr,
                                 eddy_connect_cb cb)
{
    return eddy_tcp_connect_timeout(req, t, addr, 0, cb);
}

EDDY_EXPORT int eddy_tcp_nodelay(eddy_tcp_t *t, int enable)
{
    int fd = eddy__stream_fd(&t->stream);
    if (enable)
        t->stream.handle._flags |= EDDY__S_NODELAY;
    else
        t->stream.handle._flags &= ~EDDY__S_NODELAY;
    return fd < 0 ? 0 : set_int_opt(fd, IPPROTO_TCP, TCP_NODELAY, enable != 0);
}

EDDY_EXPORT int eddy_tcp_keepalive(eddy_tcp_t *t, int enable, unsigned delay_s)
{
    int fd = eddy__stream_fd(&t->stream);
    if (fd < 0) return -EBADF;
    int err = set_int_opt(fd, SOL_SOCKET, SO_KEEPALIVE, enable != 0);
    if (err == 0 && enable && delay_s > 0)
        err = set_int_opt(fd, IPPROTO_TCP, TCP_KEEPIDLE, (int)delay_s);
    return err;
}

EDDY_EXPORT int eddy_tcp_getsockname(const eddy_tcp_t *t, struct sockaddr *addr, socklen_t *len)
{
    int fd = eddy__stream_fd(&t->stream);
    if (fd < 0) return -EBADF;
    return getsockname(fd, addr, len) == 0 ? 0 : -errno;
}

EDDY_EXPORT int eddy_tcp_getpeername(const eddy_tcp_t *t, struct sockaddr *addr, socklen_t *len)
{
    int fd = eddy__stream_fd(&t->stream);
    if (fd < 0) return -EBADF;
    return getpeername(fd, addr, len) == 0 ? 0 : -errno;
}
