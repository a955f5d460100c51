/* fs requests through io_uring (opt-in: eddy_loop_configure(loop, EDDY_LOOP_FS_URING, 1)).
 *
 * Each loop that opts in gets a ring of its own, made by its first asynchronous fs request, so
 * a loop that never touches a file pays nothing. The ring signals an eventfd
 * (io_uring_register_eventfd) that the loop's backend watches like any descriptor: completions
 * arrive in the poll phase, as pool completions do, and no thread is involved. SQEs are queued
 * as requests come and submitted once per loop iteration, from the pending phase, so a burst
 * of requests from one callback costs one io_uring_enter.
 *
 * The ring does open, close, read, write, stat/fstat/lstat (statx) and fsync/fdatasync, and
 * read_file as a chain of those; the rest always go to the pool, as does everything when the
 * kernel refuses the ring (a seccomp filter, an old kernel, io_uring_disabled), which is
 * remembered per loop and reported by eddy_fs_uring_active. EDDY_FS_URING_DISABLE=1 makes the
 * setup fail on purpose (-EPERM), for tests of that fallback.
 *
 * Reads the page cache can satisfy complete inside io_uring_enter, on the loop's thread. That
 * is the point for small reads (no thread hop) and the wrong thing for large ones (the copy
 * stalls the loop), so transfers of ASYNC_MIN bytes or more are flagged IOSQE_ASYNC: the
 * kernel's own workers copy them while the loop goes on. */
#include "fs/fs_internal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef EDDY_HAVE_URING

#include <liburing.h>
#include <sys/eventfd.h>

#define RING_ENTRIES 256
#define ASYNC_MIN (64u * 1024) /* transfers at least this large go to the kernel's workers */
#define READ_CHUNK (16u << 20) /* read_file reads at most this much per SQE */

typedef struct {
    struct io_uring ring;
    eddy_io_t io;          /* the eventfd the ring signals on completions */
    eddy_pending_t submit; /* queued SQEs go to the kernel from the pending phase */
    bool submit_queued;
    bool cur_pos;       /* the kernel reads offset -1 as "the current position" */
    uint64_t ops;       /* 1 << eddy_fs_type for each operation the ring can do */
    uint64_t completed; /* requests completed through the ring */
    int state;          /* 1: ready; a negative errno: setting up failed (use the pool) */
} fs_uring_t;

enum { STEP_OPEN = 0, STEP_STAT, STEP_READ, STEP_CLOSE };

static void on_eventfd(eddy_loop_t *loop, eddy_io_t *io, unsigned revents);

static void uring_fini(eddy_loop_t *loop)
{
    fs_uring_t *u = loop->_fs_uring;
    if (u->state == 1) {
        /* eddy_loop_close runs this only when no request is in flight, so nothing is lost. */
        eddy__pending_remove(&u->submit);
        eddy__backend_unwatch(loop, &u->io);
        io_uring_queue_exit(&u->ring);
        close(u->io._fd);
    }
    free(u);
    loop->_fs_uring = NULL;
}

/* Which operations the kernel's ring supports, as a mask of eddy_fs_type bits. */
static uint64_t probe_ops(struct io_uring *ring)
{
    struct io_uring_probe *p = io_uring_get_probe_ring(ring);
    if (p == NULL) return 0;
    uint64_t ops = 0;
    bool rw = io_uring_opcode_supported(p, IORING_OP_READ) &&
              io_uring_opcode_supported(p, IORING_OP_WRITE) &&
              io_uring_opcode_supported(p, IORING_OP_READV) &&
              io_uring_opcode_supported(p, IORING_OP_WRITEV);
    bool open = io_uring_opcode_supported(p, IORING_OP_OPENAT);
    bool close_ = io_uring_opcode_supported(p, IORING_OP_CLOSE);
    bool statx_ = io_uring_opcode_supported(p, IORING_OP_STATX);
    if (rw) ops |= 1ull << EDDY_FS_READ | 1ull << EDDY_FS_WRITE;
    if (open) ops |= 1ull << EDDY_FS_OPEN;
    if (close_) ops |= 1ull << EDDY_FS_CLOSE;
    if (statx_) ops |= 1ull << EDDY_FS_STAT | 1ull << EDDY_FS_LSTAT | 1ull << EDDY_FS_FSTAT;
    if (io_uring_opcode_supported(p, IORING_OP_FSYNC))
        ops |= 1ull << EDDY_FS_FSYNC | 1ull << EDDY_FS_FDATASYNC;
    if (rw && open && close_ && statx_) ops |= 1ull << EDDY_FS_READ_FILE;
    io_uring_free_probe(p);
    return ops;
}

/* A test hook: EDDY_FS_URING_DISABLE=1 in the environment makes every ring setup fail with
 * -EPERM, as kernel.io_uring_disabled or a seccomp filter would, so that the fallback to the pool
 * can be tested on a machine where io_uring works (docs/fs.md). */
static bool uring_disabled_by_env(void)
{
    const char *v = getenv("EDDY_FS_URING_DISABLE");
    return v != NULL && strcmp(v, "1") == 0;
}

static int uring_setup(eddy_loop_t *loop, fs_uring_t *u)
{
    if (uring_disabled_by_env()) return -EPERM;
    struct io_uring_params params;
    memset(&params, 0, sizeof params);
    int err = io_uring_queue_init_params(RING_ENTRIES, &u->ring, &params);
    if (err < 0) return err;
    u->cur_pos = (params.features & IORING_FEAT_RW_CUR_POS) != 0;
    u->ops = probe_ops(&u->ring);
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd < 0)
        err = -errno;
    else
        err = io_uring_register_eventfd(&u->ring, efd);
    if (err == 0) {
        eddy__io_init(&u->io, efd, on_eventfd);
        err = eddy__backend_watch(loop, &u->io, EDDY__IO_READ);
    }
    if (err != 0) {
        if (efd >= 0) close(efd);
        io_uring_queue_exit(&u->ring);
        return err;
    }
    return 1;
}

/* The loop's ring, set up on first use; NULL only when even its bookkeeping cannot be
 * allocated (the request then goes to the pool, and the next one tries again). */
static fs_uring_t *uring_get(eddy_loop_t *loop)
{
    fs_uring_t *u = loop->_fs_uring;
    if (u != NULL) return u;
    u = calloc(1, sizeof *u);
    if (u == NULL) return NULL;
    u->state = uring_setup(loop, u);
    loop->_fs_uring = u;
    loop->_fs_fini = uring_fini;
    return u;
}

static void on_submit(eddy_loop_t *loop, eddy_pending_t *p)
{
    fs_uring_t *u = eddy_container_of(p, fs_uring_t, submit);
    u->submit_queued = false;
    int r = io_uring_submit(&u->ring);
    /* -EAGAIN/-EBUSY: the kernel wants completions reaped first; this poll phase reaps them
     * and the next pending phase tries again. */
    if (r < 0 && io_uring_sq_ready(&u->ring) > 0) {
        u->submit_queued = true;
        eddy__pending_add(loop, &u->submit, on_submit);
    }
}

static struct io_uring_sqe *get_sqe(eddy_loop_t *loop, fs_uring_t *u)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    if (sqe == NULL) {
        /* The submission queue is full: hand it to the kernel now rather than wait. */
        io_uring_submit(&u->ring);
        sqe = io_uring_get_sqe(&u->ring);
    }
    if (sqe != NULL && !u->submit_queued) {
        u->submit_queued = true;
        eddy__pending_add(loop, &u->submit, on_submit);
    }
    return sqe;
}

/* ---- read_file as a chain: open, statx, read until end of file, close ---------------------- */

static size_t total_len(const eddy_fs_t *req)
{
    size_t n = 0;
    for (unsigned i = 0; i < req->_nbufs; i++)
        n += req->_bufs[i].len;
    return n;
}

static void prep_read_file(struct io_uring_sqe *sqe, eddy_fs_t *req)
{
    switch (req->_step) {
    case STEP_OPEN:
        io_uring_prep_openat(sqe, AT_FDCWD, req->path, O_RDONLY | O_CLOEXEC, 0);
        break;
    case STEP_STAT:
        io_uring_prep_statx(sqe, req->_fd, "", AT_EMPTY_PATH | AT_STATX_SYNC_AS_STAT,
                            EDDY__FS_STATX_MASK, (struct statx *)req->_statx);
        break;
    case STEP_READ: {
        size_t want = req->_cap - 1 - req->len;
        want = want > READ_CHUNK ? READ_CHUNK : want;
        io_uring_prep_read(sqe, req->_fd, req->buf + req->len, (unsigned)want, req->len);
        if (want >= ASYNC_MIN) io_uring_sqe_set_flags(sqe, IOSQE_ASYNC);
        break;
    }
    case STEP_CLOSE:
        io_uring_prep_close(sqe, req->_fd);
        break;
    }
    io_uring_sqe_set_data(sqe, req);
}

/* Makes room for at least one more byte plus the NUL, doubling up to just past the limit. */
static int read_file_grow(eddy_fs_t *req, uint64_t want)
{
    uint64_t n = req->_cap ? (uint64_t)req->_cap * 2 : 64 * 1024;
    if (n < want + 1) n = want + 1;
    if (n > req->_size + 2) n = req->_size + 2;
    char *p = n < SIZE_MAX / 2 ? realloc(req->buf, (size_t)n) : NULL;
    if (p == NULL) return -ENOMEM;
    req->buf = p;
    req->_cap = (size_t)n;
    req->_state |= EDDY__FS_OWN_BUF;
    return 0;
}

/* Decides the next step from a completion; returns true when the chain goes on. An error with
 * an open descriptor still closes it first (the error waits in req->result meanwhile). */
static bool read_file_next(eddy_fs_t *req, int res)
{
    switch (req->_step) {
    case STEP_OPEN:
        if (res < 0) {
            req->result = res;
            req->_syscall = "open";
            return false;
        }
        req->_fd = res;
        req->_step = STEP_STAT;
        return true;
    case STEP_STAT: {
        eddy_stat_t st;
        if (res == 0) eddy__fs_stat_from_statx(&st, req->_statx);
        if (res < 0) {
            req->result = res;
            req->_syscall = "fstat";
        } else if (S_ISDIR(st.mode)) {
            req->result = -EISDIR;
            req->_syscall = "read";
        } else if (S_ISREG(st.mode) && st.size > req->_size) {
            req->result = -EFBIG;
            req->_size_seen = st.size;
            req->_syscall = "read";
        } else if (read_file_grow(req, S_ISREG(st.mode) ? st.size + 1 : 0) != 0) {
            req->result = -ENOMEM;
        } else {
            req->_step = STEP_READ;
            return true;
        }
        req->_step = STEP_CLOSE;
        return true;
    }
    case STEP_READ:
        if (res == -EINTR || res == -EAGAIN) return true;
        if (res > 0) req->len += (size_t)res;
        if (res < 0) {
            req->result = res;
            req->_syscall = "read";
        } else if (req->len > req->_size) {
            req->result = -EFBIG;
            req->_size_seen = req->len;
            req->_syscall = "read";
        } else if (res == 0) {
            req->buf[req->len] = '\0';
            req->result = 0;
        } else if (req->len + 1 >= req->_cap && read_file_grow(req, req->len + 1) != 0) {
            req->result = -ENOMEM;
        } else {
            return true;
        }
        req->_step = STEP_CLOSE;
        return true;
    default:
        if (req->result < 0) {
            free(req->buf);
            req->buf = NULL;
            req->len = 0;
            req->_state &= ~EDDY__FS_OWN_BUF;
        }
        req->_fd = -1;
        return false;
    }
}

/* ---- completions ---------------------------------------------------------------------------- */

static void finish(eddy_loop_t *loop, fs_uring_t *u, eddy_fs_t *req)
{
    u->completed++;
    eddy__req_unregister(loop);
    eddy__fs_complete(req);
}

static void on_cqe(eddy_loop_t *loop, fs_uring_t *u, eddy_fs_t *req, int res)
{
    if (req->type == EDDY_FS_READ_FILE) {
        if (!read_file_next(req, res)) {
            finish(loop, u, req);
            return;
        }
        struct io_uring_sqe *sqe = get_sqe(loop, u);
        if (sqe != NULL) {
            prep_read_file(sqe, req);
            return;
        }
        /* No SQE even after a submit: end here, closing the descriptor ourselves. */
        if (req->_step != STEP_CLOSE && req->result >= 0) req->result = -EAGAIN;
        if (req->_fd >= 0) close(req->_fd);
        req->_step = STEP_CLOSE;
        read_file_next(req, 0);
        finish(loop, u, req);
        return;
    }
    if (req->type == EDDY_FS_CLOSE && res == -EINTR)
        res = 0; /* the descriptor is gone either way (see fs_ops.c) */
    if (res == 0 &&
        (req->type == EDDY_FS_STAT || req->type == EDDY_FS_LSTAT || req->type == EDDY_FS_FSTAT))
        eddy__fs_stat_from_statx(&req->statbuf, req->_statx);
    req->result = res;
    finish(loop, u, req);
}

static void on_eventfd(eddy_loop_t *loop, eddy_io_t *io, unsigned revents)
{
    fs_uring_t *u = eddy_container_of(io, fs_uring_t, io);
    /* Reset the counter before reaping: a completion posted after this read signals again,
     * so an edge is never lost between the read and the last peek. */
    uint64_t count;
    while (read(io->_fd, &count, sizeof count) < 0 && errno == EINTR) {
    }
    struct io_uring_cqe *cqe;
    while (io_uring_peek_cqe(&u->ring, &cqe) == 0) {
        eddy_fs_t *req = io_uring_cqe_get_data(cqe);
        int res = cqe->res;
        io_uring_cqe_seen(&u->ring, cqe);
        on_cqe(loop, u, req, res);
    }
}

/* ---- submission ----------------------------------------------------------------------------- */

static void prep(struct io_uring_sqe *sqe, eddy_fs_t *req)
{
    const struct iovec *iov = (const struct iovec *)req->_bufs;
    unsigned statx_flags = AT_STATX_SYNC_AS_STAT;
    switch (req->type) {
    case EDDY_FS_OPEN:
        io_uring_prep_openat(sqe, AT_FDCWD, req->path, req->_flags | O_CLOEXEC, (mode_t)req->_mode);
        break;
    case EDDY_FS_CLOSE:
        io_uring_prep_close(sqe, req->_fd);
        break;
    case EDDY_FS_READ:
    case EDDY_FS_WRITE: {
        bool rd = req->type == EDDY_FS_READ;
        uint64_t off = (uint64_t)req->_offset; /* -1 is the current position */
        if (req->_nbufs == 1 && rd)
            io_uring_prep_read(sqe, req->_fd, iov->iov_base, (unsigned)iov->iov_len, off);
        else if (req->_nbufs == 1)
            io_uring_prep_write(sqe, req->_fd, iov->iov_base, (unsigned)iov->iov_len, off);
        else if (rd)
            io_uring_prep_readv(sqe, req->_fd, iov, req->_nbufs, off);
        else
            io_uring_prep_writev(sqe, req->_fd, iov, req->_nbufs, off);
        if (total_len(req) >= ASYNC_MIN) io_uring_sqe_set_flags(sqe, IOSQE_ASYNC);
        break;
    }
    case EDDY_FS_LSTAT:
        statx_flags |= AT_SYMLINK_NOFOLLOW;
        /* fall through */
    case EDDY_FS_STAT:
        io_uring_prep_statx(sqe, AT_FDCWD, req->path, (int)statx_flags, EDDY__FS_STATX_MASK,
                            (struct statx *)req->_statx);
        break;
    case EDDY_FS_FSTAT:
        io_uring_prep_statx(sqe, req->_fd, "", (int)statx_flags | AT_EMPTY_PATH,
                            EDDY__FS_STATX_MASK, (struct statx *)req->_statx);
        break;
    case EDDY_FS_FSYNC:
    case EDDY_FS_FDATASYNC:
        io_uring_prep_fsync(sqe, req->_fd,
                            req->type == EDDY_FS_FDATASYNC ? IORING_FSYNC_DATASYNC : 0);
        break;
    default:
        break; /* filtered out by the ops mask */
    }
    io_uring_sqe_set_data(sqe, req);
}

/* Whether the ring takes this request: the op is supported, offsets -1 are understood, and a
 * single transfer fits the SQE's 32-bit length (larger ones go to the pool). */
static bool takes(const fs_uring_t *u, const eddy_fs_t *req)
{
    if (!(u->ops & (1ull << req->type))) return false;
    if (req->type != EDDY_FS_READ && req->type != EDDY_FS_WRITE) return true;
    if (req->_offset < 0 && !u->cur_pos) return false;
    if (req->_nbufs == 1) return req->_bufs[0].len <= 0x7ffff000u;
    return req->_nbufs <= 1024; /* IOV_MAX */
}

int eddy__fs_uring_start(eddy_loop_t *loop, eddy_fs_t *req)
{
    if (!(loop->_options & EDDY_LOOP_FS_URING)) return -ENOTSUP;
    fs_uring_t *u = uring_get(loop);
    if (u == NULL || u->state != 1 || !takes(u, req)) return -ENOTSUP;
    struct io_uring_sqe *sqe = get_sqe(loop, u);
    if (sqe == NULL) return -ENOTSUP;
    req->_state |= EDDY__FS_URING;
    if (req->type == EDDY_FS_READ_FILE) {
        req->_step = STEP_OPEN;
        prep_read_file(sqe, req);
    } else {
        prep(sqe, req);
    }
    eddy__req_register(loop);
    return 0;
}

EDDY_EXPORT int eddy_fs_uring_active(const eddy_loop_t *loop)
{
    const fs_uring_t *u = loop->_fs_uring;
    return u ? u->state : 0;
}

EDDY_EXPORT uint64_t eddy_fs_uring_completed(const eddy_loop_t *loop)
{
    const fs_uring_t *u = loop->_fs_uring;
    return u ? u->completed : 0;
}

#else /* no liburing at build time: every request uses the pool */

int eddy__fs_uring_start(eddy_loop_t *loop, eddy_fs_t *req)
{
    return -ENOTSUP;
}

EDDY_EXPORT int eddy_fs_uring_active(const eddy_loop_t *loop)
{
    return eddy_loop_option_get(loop, EDDY_LOOP_FS_URING) ? -ENOSYS : 0;
}

EDDY_EXPORT uint64_t eddy_fs_uring_completed(const eddy_loop_t *loop)
{
    return 0;
}

#endif
