/* TCP sockets (Node's net.Socket and net.Server over IP). An eddy_tcp_t is a stream: read,
 * write and shut it down with the eddy_stream_* functions on &tcp->stream, close it with
 * eddy_close(&tcp->stream.handle, cb).
 *
 * The socket is created lazily by bind, connect or open, with SOCK_NONBLOCK|SOCK_CLOEXEC.
 * Listeners set TCP_NODELAY, which accepted sockets inherit (DESIGN: on by default for
 * servers); SO_REUSEPORT is a bind flag, for one listener per loop per core. */
#ifndef EDDY_TCP_H
#define EDDY_TCP_H

#include <netinet/in.h>
#include <sys/socket.h>

#include "stream.h"

/** A TCP handle; the caller owns the memory (embed it). */
typedef struct eddy_tcp_s {
    eddy_stream_t stream;
} eddy_tcp_t;

/** eddy_tcp_bind flags. */
enum {
    EDDY_TCP_IPV6ONLY = 1u << 0, /**< an AF_INET6 socket does not also accept IPv4 */
    EDDY_TCP_REUSEPORT = 1u << 1 /**< SO_REUSEPORT: several listeners share the port */
};

/** Initialises a TCP handle with no socket yet; does no I/O. */
int eddy_tcp_init(eddy_loop_t *loop, eddy_tcp_t *tcp);
/** Adopts an existing socket descriptor (made non-blocking); the handle closes it. */
int eddy_tcp_open(eddy_tcp_t *tcp, int fd);
/** Binds to addr (sockaddr_in or sockaddr_in6), with SO_REUSEADDR and the given flags. */
int eddy_tcp_bind(eddy_tcp_t *tcp, const struct sockaddr *addr, unsigned flags);
/** Listens; cb runs once per incoming connection, which it takes with eddy_tcp_accept. */
int eddy_tcp_listen(eddy_tcp_t *tcp, int backlog, eddy_connection_cb cb);
/** Takes the connection announced to the connection callback into client (see
 * eddy_stream_accept). */
int eddy_tcp_accept(eddy_tcp_t *server, eddy_tcp_t *client);
/** Connects to addr; cb gets 0 or a negative errno (-ECONNREFUSED, ...). */
int eddy_tcp_connect(eddy_connect_t *req, eddy_tcp_t *tcp, const struct sockaddr *addr,
                     eddy_connect_cb cb);
/** Like eddy_tcp_connect, but gives up with -ETIMEDOUT after timeout_ms (0: no limit). After a
 * failed connect, close the handle. */
int eddy_tcp_connect_timeout(eddy_connect_t *req, eddy_tcp_t *tcp, const struct sockaddr *addr,
                             uint64_t timeout_ms, eddy_connect_cb cb);
/** Sets or clears TCP_NODELAY (remembered and applied if the socket does not exist yet). */
int eddy_tcp_nodelay(eddy_tcp_t *tcp, int enable);
/** Sets SO_KEEPALIVE and, when enabling, TCP_KEEPIDLE = delay_s. -EBADF before a socket exists. */
int eddy_tcp_keepalive(eddy_tcp_t *tcp, int enable, unsigned delay_s);
/** The local address; *len is the size of addr on entry, of the address on return. */
int eddy_tcp_getsockname(const eddy_tcp_t *tcp, struct sockaddr *addr, socklen_t *len);
/** The peer's address, as eddy_tcp_getsockname. */
int eddy_tcp_getpeername(const eddy_tcp_t *tcp, struct sockaddr *addr, socklen_t *len);

#endif
