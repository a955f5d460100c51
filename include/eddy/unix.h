/* Unix-domain stream sockets (Node's net with a path). An eddy_unix_t is a stream, used
 * exactly as eddy_tcp_t is: eddy_stream_* on &u->stream, eddy_close(&u->stream.handle, cb).
 *
 * A path beginning with '@' names a socket in Linux's abstract namespace (no file). A bound
 * file is not removed on close: the caller unlinks it (bind fails with -EADDRINUSE while a
 * stale file exists). */
#ifndef EDDY_UNIX_H
#define EDDY_UNIX_H

#include "stream.h"

/** A Unix stream socket handle; the caller owns the memory. */
typedef struct eddy_unix_s {
    eddy_stream_t stream;
} eddy_unix_t;

/** Initialises a Unix socket handle with no socket yet; does no I/O. */
int eddy_unix_init(eddy_loop_t *loop, eddy_unix_t *u);
/** Adopts an existing AF_UNIX stream socket (socketpair(2), inherited); the handle closes it. */
int eddy_unix_open(eddy_unix_t *u, int fd);
/** Binds to path (-ENAMETOOLONG past sun_path's size). */
int eddy_unix_bind(eddy_unix_t *u, const char *path);
/** Listens; cb runs once per incoming connection, taken with eddy_unix_accept. */
int eddy_unix_listen(eddy_unix_t *u, int backlog, eddy_connection_cb cb);
/** Takes the announced connection into client (see eddy_stream_accept). */
int eddy_unix_accept(eddy_unix_t *server, eddy_unix_t *client);
/** Connects to path; cb gets 0 or a negative errno (-ENOENT, -ECONNREFUSED, -EAGAIN when the
 * listener's backlog is full). There is no timeout variant: on Linux a non-blocking AF_UNIX
 * connect is never left in progress (the kernel connects or refuses within connect(2); a full
 * backlog gives -EAGAIN at once, not a wait), so a timeout could never fire. Retry -EAGAIN
 * later if the listener is expected to catch up. */
int eddy_unix_connect(eddy_connect_t *req, eddy_unix_t *u, const char *path, eddy_connect_cb cb);
/** The socket's own name, as eddy_unix_bind takes it: a path, "@name" for the abstract
 * namespace, or "" when unnamed (a socketpair, a client that did not bind). *len is the size of
 * path on entry and the name's length (without the NUL written after it) on return; -ENOBUFS
 * if path is too small, with *len the size needed. -EBADF before a socket exists. */
int eddy_unix_getsockname(const eddy_unix_t *u, char *path, size_t *len);
/** The peer's name, as eddy_unix_getsockname (usually "" on a server: clients rarely bind);
 * -ENOTCONN when not connected. */
int eddy_unix_getpeername(const eddy_unix_t *u, char *path, size_t *len);

#endif
