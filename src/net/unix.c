/* Unix-domain stream sockets: the path plumbing; everything else is the stream's. */
#include "stream/stream_internal.h"

#include <fcntl.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "eddy/unix.h"

/* Fills a sockaddr_un; a leading '@' names the abstract namespace (sun_path[0] == '\0'). */
static int make_addr(const char *path, struct sockaddr_un *sa, socklen_t *len)
{
    size_t n = strlen(path);
    if (n == 0) return -EINVAL;
    if (n >= sizeof sa->sun_path) return -ENAMETOOLONG;
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, path, n);
    if (path[0] == '@') {
        sa->sun_path[0] = '\0';
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        *len = (socklen_t)sizeof *sa;
    }
    return 0;
}

static int ensure_socket(eddy_unix_t *u)
{
    if (eddy__stream_fd(&u->stream) >= 0) return 0;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    eddy__stream_set_fd(&u->stream, fd, 0);
    return 0;
}

EDDY_EXPORT int eddy_unix_init(eddy_loop_t *loop, eddy_unix_t *u)
{
    assert(loop != NULL && u != NULL);
    eddy__stream_init(loop, &u->stream, EDDY_HANDLE_UNIX);
    return 0;
}

EDDY_EXPORT int eddy_unix_open(eddy_unix_t *u, int fd)
{
    if (eddy__stream_fd(&u->stream) >= 0) return -EBUSY;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -errno;
    struct sockaddr_un peer;
    socklen_t len = sizeof peer;
    /* An unnamed peer (socketpair) still answers getpeername with AF_UNIX. */
    bool connected = getpeername(fd, (struct sockaddr *)&peer, &len) == 0;
    eddy__stream_set_fd(&u->stream, fd, connected ? EDDY__S_CAN_READ | EDDY__S_CAN_WRITE : 0);
    return 0;
}

EDDY_EXPORT int eddy_unix_bind(eddy_unix_t *u, const char *path)
{
    struct sockaddr_un sa;
    socklen_t len;
    int err = make_addr(path, &sa, &len);
    if (err == 0) err = ensure_socket(u);
    if (err) return err;
    return bind(eddy__stream_fd(&u->stream), (struct sockaddr *)&sa, len) == 0 ? 0 : -errno;
}

EDDY_EXPORT int eddy_unix_listen(eddy_unix_t *u, int backlog, eddy_connection_cb cb)
{
    return eddy__stream_listen(&u->stream, backlog, cb);
}

EDDY_EXPORT int eddy_unix_accept(eddy_unix_t *server, eddy_unix_t *client)
{
    return eddy_stream_accept(&server->stream, &client->stream);
}

EDDY_EXPORT int eddy_unix_connect(eddy_connect_t *req, eddy_unix_t *u, const char *path,
                                  eddy_connect_cb cb)
{
    struct sockaddr_un sa;
    socklen_t len;
    int err = make_addr(path, &sa, &len);
    if (err == 0) err = ensure_socket(u);
    if (err) return err;
    return eddy__stream_connect(req, &u->stream, (struct sockaddr *)&sa, len, 0, cb);
}

/* Writes a socket's name as eddy_unix_bind takes it: a file path, '@' and the name for the
 * abstract namespace (its bytes may include NULs: *len says how many), or "" when unnamed. */
static int get_name(const eddy_unix_t *u, int (*fn)(int, struct sockaddr *, socklen_t *),
                    char *path, size_t *len)
{
    assert(path != NULL && len != NULL);
    int fd = eddy__stream_fd(&u->stream);
    if (fd < 0) return -EBADF;
    struct sockaddr_un sa;
    socklen_t salen = sizeof sa;
    memset(&sa, 0, sizeof sa);
    if (fn(fd, (struct sockaddr *)&sa, &salen) != 0) return -errno;
    size_t off = offsetof(struct sockaddr_un, sun_path);
    size_t n = salen > off ? salen - off : 0;
    if (n > sizeof sa.sun_path) n = sizeof sa.sun_path;
    if (n > 0 && sa.sun_path[0] != '\0') n = strnlen(sa.sun_path, n); /* a path: up to its NUL */
    if (n >= *len) {
        *len = n + 1; /* the size needed, with the terminating NUL */
        return -ENOBUFS;
    }
    memcpy(path, sa.sun_path, n);
    if (n > 0 && path[0] == '\0') path[0] = '@';
    path[n] = '\0';
    *len = n;
    return 0;
}

EDDY_EXPORT int eddy_unix_getsockname(const eddy_unix_t *u, char *path, size_t *len)
{
    return get_name(u, getsockname, path, len);
}

EDDY_EXPORT int eddy_unix_getpeername(const eddy_unix_t *u, char *path, size_t *len)
{
    return get_name(u, getpeername, path, len);
}
