/* The fs module's front: each public call fills the request and dispatches it. With a NULL
 * callback the operation runs inline (Node's *Sync); otherwise it goes to the loop's io_uring
 * when the loop opted in and the kernel can do the operation, and to the pool (class FS)
 * otherwise. The blocking implementations live in fs_ops.c and fs_whole.c, io_uring in
 * uring.c. */
#include "fs/fs_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the request's life ------------------------------------------------------------------ */

/* Resets everything but the user's pointer, so a reused request carries nothing over (the
 * embedded work item in particular must look never-queued to eddy_cancel). The statx buffer is
 * left alone: only io_uring writes it, and always before reading it. */
static void req_init(eddy_fs_t *req, eddy_loop_t *loop, eddy_fs_type type)
{
    void *data = req->data;
    memset(req, 0, offsetof(eddy_fs_t, _statx));
    req->data = data;
    req->loop = loop;
    req->type = type;
    req->_fd = -1;
    req->_fd_out = -1;
    req->_offset = -1;
}

/* Copies the paths into one block the request owns; suffix is appended to path (mkdtemp's
 * "XXXXXX"). A failure is the request's result. */
static int copy_paths(eddy_fs_t *req, const char *path, const char *new_path, const char *suffix)
{
    if (path == NULL) return -EINVAL;
    size_t n1 = strlen(path), ns = suffix ? strlen(suffix) : 0;
    size_t n2 = new_path ? strlen(new_path) + 1 : 0;
    char *p = malloc(n1 + ns + 1 + n2);
    if (p == NULL) return -ENOMEM;
    memcpy(p, path, n1);
    memcpy(p + n1, suffix ? suffix : "", ns + 1);
    req->_alloc = p;
    req->path = p;
    if (new_path) {
        memcpy(p + n1 + ns + 1, new_path, n2);
        req->new_path = p + n1 + ns + 1;
    }
    return 0;
}

static int copy_bufs(eddy_fs_t *req, const eddy_buf_t bufs[], unsigned nbufs)
{
    if (bufs == NULL || nbufs == 0) return -EINVAL;
    req->_bufs = req->_bufsml;
    if (nbufs > sizeof req->_bufsml / sizeof req->_bufsml[0]) {
        req->_bufs = malloc(nbufs * sizeof *bufs);
        if (req->_bufs == NULL) return -ENOMEM;
    }
    memcpy(req->_bufs, bufs, nbufs * sizeof *bufs);
    req->_nbufs = nbufs;
    return 0;
}

static void work_run(eddy_work_t *w)
{
    eddy_fs_t *req = eddy_container_of(w, eddy_fs_t, work);
    eddy__fs_run(req);
    req->_state |= EDDY__FS_RAN;
}

static void work_after(eddy_work_t *w, int status)
{
    eddy_fs_t *req = eddy_container_of(w, eddy_fs_t, work);
    if (status == -ECANCELED) {
        /* The pool reports -ECANCELED only for work that never ran; should that ever change,
         * a descriptor an open already made must not leak behind the error. */
        if ((req->_state & EDDY__FS_RAN) && req->type == EDDY_FS_OPEN && req->result >= 0)
            close((int)req->result);
        req->result = -ECANCELED;
        req->_syscall = NULL;
    }
    eddy__fs_complete(req);
}

void eddy__fs_complete(eddy_fs_t *req)
{
    req->_cb(req);
}

/* Starts a filled request: inline without a callback, else on io_uring or the pool. A request
 * that cannot start releases what it holds, since its callback will never run. */
static int dispatch(eddy_loop_t *loop, eddy_fs_t *req, int err, eddy_fs_cb cb)
{
    if (err == 0 && cb != NULL && loop == NULL) err = -EINVAL;
    if (err != 0) {
        eddy_fs_req_cleanup(req);
        req->result = err;
        return err;
    }
    if (cb == NULL) {
        eddy__fs_run(req);
        return (int)req->result;
    }
    req->_cb = cb;
    if (eddy__fs_uring_start(loop, req) == 0) return 0;
    err = eddy_queue_work(loop, &req->work, EDDY_WORK_FS, work_run, work_after);
    if (err != 0) {
        eddy_fs_req_cleanup(req);
        req->result = err;
    }
    return err;
}

EDDY_EXPORT void eddy_fs_req_cleanup(eddy_fs_t *req)
{
    if (req->_bufs != req->_bufsml) free(req->_bufs);
    req->_bufs = NULL;
    req->_nbufs = 0;
    free(req->_alloc);
    req->_alloc = NULL;
    req->path = req->new_path = NULL;
    /* Entry names live in the same block as the array (see fs_ops.c). */
    free(req->entries);
    req->entries = NULL;
    req->nentries = 0;
    if (req->_state & EDDY__FS_OWN_BUF) free(req->buf);
    req->_state &= ~EDDY__FS_OWN_BUF;
    req->buf = NULL;
    req->len = 0;
}

/* ---- path operations ---------------------------------------------------------------------- */

static int path_op(eddy_loop_t *loop, eddy_fs_t *req, eddy_fs_type type, const char *path,
                   eddy_fs_cb cb)
{
    req_init(req, loop, type);
    return dispatch(loop, req, copy_paths(req, path, NULL, NULL), cb);
}

EDDY_EXPORT int eddy_fs_open(eddy_loop_t *loop, eddy_fs_t *req, const char *path, int flags,
                             int mode, eddy_fs_cb cb)
{
    req_init(req, loop, EDDY_FS_OPEN);
    req->_flags = flags;
    req->_mode = mode;
    return dispatch(loop, req, copy_paths(req, path, NULL, NULL), cb);
}

EDDY_EXPORT int eddy_fs_stat(eddy_loop_t *loop, eddy_fs_t *req, const char *path, eddy_fs_cb cb)
{
    return path_op(loop, req, EDDY_FS_STAT, path, cb);
}

EDDY_EXPORT int eddy_fs_lstat(eddy_loop_t *loop, eddy_fs_t *req, const char *path, eddy_fs_cb cb)
{
    return path_op(loop, req, EDDY_FS_LSTAT, path, cb);
}

EDDY_EXPORT int eddy_fs_unlink(eddy_loop_t *loop, eddy_fs_t *req, const char *path, eddy_fs_cb cb)
{
    return path_op(loop, req, EDDY_FS_UNLINK, path, cb);
}

EDDY_EXPORT int eddy_fs_rmdir(eddy_loop_t *loop, eddy_fs_t *req, const char *path, eddy_fs_cb cb)
{
    return path_op(loop, req, EDDY_FS_RMDIR, path, cb);
}

EDDY_EXPORT int eddy_fs_scandir(eddy_loop_t *loop, eddy_fs_t *req, const char *path, eddy_fs_cb cb)
{
    return path_op(loop, req, EDDY_FS_SCANDIR, path, cb);
}

EDDY_EXPORT int eddy_fs_realpath(eddy_loop_t *loop, eddy_fs_t *req, const char *path, eddy_fs_cb cb)
{
    return path_op(loop, req, EDDY_FS_REALPATH, path, cb);
}

EDDY_EXPORT int eddy_fs_mkdtemp(eddy_loop_t *loop, eddy_fs_t *req, const char *prefix,
                                eddy_fs_cb cb)
{
    req_init(req, loop, EDDY_FS_MKDTEMP);
    return dispatch(loop, req, copy_paths(req, prefix, NULL, "XXXXXX"), cb);
}

EDDY_EXPORT int eddy_fs_mkdir(eddy_loop_t *loop, eddy_fs_t *req, const char *path, int mode,
                              int flags, eddy_fs_cb cb)
{
    req_init(req, loop, EDDY_FS_MKDIR);
    req->_mode = mode;
    req->_flags = flags;
    return dispatch(loop, req, copy_paths(req, path, NULL, NULL), cb);
}

EDDY_EXPORT int eddy_fs_access(eddy_loop_t *loop, eddy_fs_t *req, const char *path, int mode,
                               eddy_fs_cb cb)
{
    req_init(req, loop, EDDY_FS_ACCESS);
    req->_mode = mode;
    return dispatch(loop, req, copy_paths(req, path, NULL, NULL), cb);
}

EDDY_EXPORT int eddy_fs_utime(eddy_loop_t *loop, eddy_fs_t *req, const char *path, double atime,
                              double mtime, eddy_fs_cb cb)
{
    req_init(req, loop, EDDY_FS_UTIME);
    req->_atime = atime;
    req->_mtime = mtime;
    return dispatch(loop, req, copy_paths(req, path, NULL, NULL), cb);
}

EDDY_EXPORT int eddy_fs_rename(eddy_loop_t *loop, eddy_fs_t *req, const char *path,
                               const char *new_path, eddy_fs_cb cb)
{
    req_init(req, loop, EDDY_FS_RENAME);
    int err = new_path ? copy_paths(req, path, new_path, NULL) : -EINVAL;
    return dispatch(loop, req, err, cb);
}

EDDY_EXPORT int eddy_fs_copyfile(eddy_loop_t *loop, eddy_fs_t *req, const char *path,
                                 const char *new_path, int flags, eddy_fs_cb cb)
{
    req_init(req, loop, EDDY_FS_COPYFILE);
    req->_flags = flags;
    int err = new_path ? copy_paths(req, path, new_path, NULL) : -EINVAL;
    return dispatch(loop, req, err, cb);
}

/* ---- descriptor operations ---------------------------------------------------------------- */

static int fd_op(eddy_loop_t *loop, eddy_fs_t *req, eddy_fs_type type, int fd, eddy_fs_cb cb)
{
    req_init(req, loop, type);
    req->_fd = fd;
    return dispatch(loop, req, 0, cb);
}

EDDY_EXPORT int eddy_fs_close(eddy_loop_t *loop, eddy_fs_t *req, int fd, eddy_fs_cb cb)
{
    return fd_op(loop, req, EDDY_FS_CLOSE, fd, cb);
}

EDDY_EXPORT int eddy_fs_fstat(eddy_loop_t *loop, eddy_fs_t *req, int fd, eddy_fs_cb cb)
{
    return fd_op(loop, req, EDDY_FS_FSTAT, fd, cb);
}

EDDY_EXPORT int eddy_fs_fsync(eddy_loop_t *loop, eddy_fs_t *req, int fd, eddy_fs_cb cb)
{
    return fd_op(loop, req, EDDY_FS_FSYNC, fd, cb);
}

EDDY_EXPORT int eddy_fs_fdatasync(eddy_loop_t *loop, eddy_fs_t *req, int fd, eddy_fs_cb cb)
{
    return fd_op(loop, req, EDDY_FS_FDATASYNC, fd, cb);
}

EDDY_EXPORT int eddy_fs_ftruncate(eddy_loop_t *loop, eddy_fs_t *req, int fd, int64_t length,
                                  eddy_fs_cb cb)
{
    req_init(req, loop, EDDY_FS_FTRUNCATE);
    req->_fd = fd;
    req->_size = (uint64_t)length;
    return dispatch(loop, req, length < 0 ? -EINVAL : 0, cb);
}

EDDY_EXPORT int eddy_fs_futime(eddy_loop_t *loop, eddy_fs_t *req, int fd, double atime,
                               double mtime, eddy_fs_cb cb)
{
    req_init(req, loop, EDDY_FS_FUTIME);
    req->_fd = fd;
    req->_atime = atime;
    req->_mtime = mtime;
    return dispatch(loop, req, 0, cb);
}

static int rw_op(eddy_loop_t *loop, eddy_fs_t *req, eddy_fs_type type, int fd,
                 const eddy_buf_t bufs[], unsigned nbufs, int64_t offset, eddy_fs_cb cb)
{
    req_init(req, loop, type);
    req->_fd = fd;
    req->_offset = offset < 0 ? -1 : offset;
    return dispatch(loop, req, copy_bufs(req, bufs, nbufs), cb);
}

EDDY_EXPORT int eddy_fs_read(eddy_loop_t *loop, eddy_fs_t *req, int fd, const eddy_buf_t bufs[],
                             unsigned nbufs, int64_t offset, eddy_fs_cb cb)
{
    return rw_op(loop, req, EDDY_FS_READ, fd, bufs, nbufs, offset, cb);
}

EDDY_EXPORT int eddy_fs_write(eddy_loop_t *loop, eddy_fs_t *req, int fd, const eddy_buf_t bufs[],
                              unsigned nbufs, int64_t offset, eddy_fs_cb cb)
{
    return rw_op(loop, req, EDDY_FS_WRITE, fd, bufs, nbufs, offset, cb);
}

EDDY_EXPORT int eddy_fs_sendfile(eddy_loop_t *loop, eddy_fs_t *req, int out_fd, int in_fd,
                                 int64_t in_offset, size_t len, eddy_fs_cb cb)
{
    req_init(req, loop, EDDY_FS_SENDFILE);
    req->_fd = in_fd;
    req->_fd_out = out_fd;
    req->_offset = in_offset < 0 ? -1 : in_offset;
    req->_size = len;
    return dispatch(loop, req, 0, cb);
}

/* ---- whole files -------------------------------------------------------------------------- */

EDDY_EXPORT int eddy_fs_read_file(eddy_loop_t *loop, eddy_fs_t *req, const char *path,
                                  uint64_t size_max, eddy_fs_cb cb)
{
    req_init(req, loop, EDDY_FS_READ_FILE);
    req->_size = size_max ? size_max : EDDY_FS_READ_FILE_MAX;
    return dispatch(loop, req, copy_paths(req, path, NULL, NULL), cb);
}

EDDY_EXPORT int eddy_fs_write_file(eddy_loop_t *loop, eddy_fs_t *req, const char *path,
                                   const void *data, size_t len, int flags, int mode, eddy_fs_cb cb)
{
    req_init(req, loop, EDDY_FS_WRITE_FILE);
    req->_flags = flags;
    req->_mode = mode;
    req->_bufsml[0] = eddy_buf_init((void *)data, len);
    req->_bufs = req->_bufsml;
    req->_nbufs = 1;
    int err = data == NULL && len > 0 ? -EINVAL : copy_paths(req, path, NULL, NULL);
    return dispatch(loop, req, err, cb);
}

/* ---- messages ----------------------------------------------------------------------------- */

EDDY_EXPORT const char *eddy_fs_type_name(eddy_fs_type type)
{
    static const char *const names[] = {
        [EDDY_FS_UNKNOWN] = "unknown",      [EDDY_FS_OPEN] = "open",
        [EDDY_FS_CLOSE] = "close",          [EDDY_FS_READ] = "read",
        [EDDY_FS_WRITE] = "write",          [EDDY_FS_STAT] = "stat",
        [EDDY_FS_FSTAT] = "fstat",          [EDDY_FS_LSTAT] = "lstat",
        [EDDY_FS_UNLINK] = "unlink",        [EDDY_FS_RENAME] = "rename",
        [EDDY_FS_MKDIR] = "mkdir",          [EDDY_FS_RMDIR] = "rmdir",
        [EDDY_FS_SCANDIR] = "scandir",      [EDDY_FS_FSYNC] = "fsync",
        [EDDY_FS_FDATASYNC] = "fdatasync",  [EDDY_FS_FTRUNCATE] = "ftruncate",
        [EDDY_FS_UTIME] = "utime",          [EDDY_FS_FUTIME] = "futime",
        [EDDY_FS_ACCESS] = "access",        [EDDY_FS_REALPATH] = "realpath",
        [EDDY_FS_MKDTEMP] = "mkdtemp",      [EDDY_FS_COPYFILE] = "copyfile",
        [EDDY_FS_SENDFILE] = "sendfile",    [EDDY_FS_READ_FILE] = "readFile",
        [EDDY_FS_WRITE_FILE] = "writeFile",
    };
    if ((unsigned)type >= sizeof names / sizeof names[0] || names[type] == NULL) return "unknown";
    return names[type];
}

/* Node prints libuv's descriptions, which differ from glibc's for the errors files hit most;
 * the rest are glibc's with a lower-case first letter, as libuv's are. */
static void describe(int err, char *out, size_t len)
{
    const char *s = NULL;
    switch (-err) {
    case ENOENT:
        s = "no such file or directory";
        break;
    case EEXIST:
        s = "file already exists";
        break;
    case ENOTEMPTY:
        s = "directory not empty";
        break;
    case EISDIR:
        s = "illegal operation on a directory";
        break;
    case ELOOP:
        s = "too many symbolic links encountered";
        break;
    case EXDEV:
        s = "cross-device link not permitted";
        break;
    case EBUSY:
        s = "resource busy or locked";
        break;
    case EIO:
        s = "i/o error";
        break;
    case ENOMEM:
        s = "not enough memory";
        break;
    case ECANCELED:
        s = "operation canceled";
        break;
    default:
        break;
    }
    snprintf(out, len, "%s", s ? s : eddy_strerror(err));
    if (len > 0) out[0] = (char)tolower((unsigned char)out[0]);
}

EDDY_EXPORT int eddy_fs_strerror(const eddy_fs_t *req, char *buf, size_t len)
{
    if (req->result >= 0) {
        if (len > 0) buf[0] = '\0';
        return 0;
    }
    int err = (int)req->result;
    char desc[128];
    describe(err, desc, sizeof desc);
    const char *sys = req->_syscall ? req->_syscall : eddy_fs_type_name(req->type);
    const char *name = eddy_err_name(err);
    if (req->type == EDDY_FS_READ_FILE && err == -EFBIG && req->_size_seen > 0)
        return snprintf(buf, len, "%s: %s, %s '%s' (%llu bytes or more, over the limit of %llu)",
                        name, desc, sys, req->path, (unsigned long long)req->_size_seen,
                        (unsigned long long)req->_size);
    if (req->path && req->new_path)
        return snprintf(buf, len, "%s: %s, %s '%s' -> '%s'", name, desc, sys, req->path,
                        req->new_path);
    if (req->path) return snprintf(buf, len, "%s: %s, %s '%s'", name, desc, sys, req->path);
    return snprintf(buf, len, "%s: %s, %s", name, desc, sys);
}
