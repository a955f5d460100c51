/* File read and write streams on the thread pool (see include/eddy/file_stream.h).
 *
 * Each stream owns one pool request (struct eddy__file_op) with its chunk buffer; at most one
 * system call per stream is in flight. Data never crosses threads by reference: a reader's
 * chunk is read into the op's buffer and lent to the read callback from there; a writer's
 * queued bytes are copied into it before the pool writes them, so closing the stream (which
 * cancels queued writes, and their owners free the memory) can never pull memory out from
 * under a pool thread. A closed stream's op in flight becomes an orphan that frees itself, and
 * closes the descriptor, when it comes back. */
#include "stream/stream_internal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "eddy/file_stream.h"
#include "eddy/pool.h"

enum { OP_OPEN = 1, OP_READ, OP_WRITE, OP_CLOSE };

/* _state bits */
enum {
    F_OPEN = 1u << 0,       /* _fd is valid */
    F_BUSY = 1u << 1,       /* the op is on the pool */
    F_EOF = 1u << 2,        /* a reader reached its end (delivered once _ready is 0) */
    F_REPORTED = 1u << 3,   /* EOF or the error was delivered */
    F_WRITER = 1u << 4,
    F_AUTO_CLOSE = 1u << 5,
    F_POSITIONAL = 1u << 6, /* pread/pwrite at _pos (else read/write at the fd's offset) */
    F_NOSEEK = 1u << 7      /* pread said ESPIPE: use read(2) */
};

struct eddy__file_op {
    eddy_work_t work;
    eddy_file_stream_t *fs; /* NULL once the stream closed: the op is an orphan */
    int kind;
    int fd;
    int close_fd;           /* an orphan's descriptor to close when it comes back */
    int open_flags;
    unsigned mode;
    bool positional;
    uint64_t pos;
    size_t len;
    ssize_t result;
    char *path;
    char buf[];
};

static void file_read_start(eddy_stream_t *s);
static void file_kick(eddy_stream_t *s);
static void file_close(eddy_stream_t *s);
static void file_pending(eddy_stream_t *s);

static const struct eddy__stream_vtbl file_vtbl = {
    .read_start = file_read_start, .kick = file_kick, .close = file_close, .pending = file_pending};
static const struct eddy__handle_ops file_ops = {
    .close = eddy__vstream_close, .closed = eddy__vstream_closed, .stream = &file_vtbl};

static inline eddy_file_stream_t *fs_of(eddy_stream_t *s)
{
    return eddy_container_of(s, eddy_file_stream_t, stream);
}

static inline bool closing(const eddy_file_stream_t *fs)
{
    return eddy_is_closing(&fs->stream.handle);
}

EDDY_EXPORT void eddy_file_stream_opts_init(eddy_file_stream_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->chunk_size = 64 * 1024;
    o->start = -1;
    o->end = UINT64_MAX;
    o->flags = O_WRONLY | O_CREAT | O_TRUNC;
    o->mode = 0666;
    o->high_water_mark = EDDY_STREAM_HWM_DEFAULT;
    o->auto_close = 1;
}

/* ---- the pool side ------------------------------------------------------------------------- */

static ssize_t do_read(struct eddy__file_op *op)
{
    for (;;) {
        ssize_t n = op->positional ? pread(op->fd, op->buf, op->len, (off_t)op->pos)
                                   : read(op->fd, op->buf, op->len);
        if (n >= 0) return n;
        if (errno == ESPIPE && op->positional) {
            op->positional = false; /* a pipe or a tty: read where it is */
            continue;
        }
        if (errno != EINTR) return -errno;
    }
}

static ssize_t do_write(struct eddy__file_op *op)
{
    size_t done = 0;
    while (done < op->len) {
        ssize_t n = op->positional
                        ? pwrite(op->fd, op->buf + done, op->len - done, (off_t)(op->pos + done))
                        : write(op->fd, op->buf + done, op->len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -errno;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

static void op_work(eddy_work_t *w)
{
    struct eddy__file_op *op = eddy_container_of(w, struct eddy__file_op, work);
    switch (op->kind) {
    case OP_OPEN: {
        int fd = open(op->path, op->open_flags | O_CLOEXEC, (mode_t)op->mode);
        op->result = fd >= 0 ? fd : -errno;
        break;
    }
    case OP_READ: op->result = do_read(op); break;
    case OP_WRITE: op->result = do_write(op); break;
    case OP_CLOSE: op->result = close(op->fd) == 0 ? 0 : -errno; break;
    }
}

static void op_free(struct eddy__file_op *op)
{
    free(op->path);
    free(op);
}

static void op_done(eddy_work_t *w, int status);

static void submit(eddy_file_stream_t *fs, int kind)
{
    struct eddy__file_op *op = fs->_op;
    op->kind = kind;
    op->fd = fs->_fd;
    op->pos = fs->_pos;
    op->positional = (fs->_state & F_POSITIONAL) && !(fs->_state & F_NOSEEK);
    op->result = 0;
    fs->_state |= F_BUSY;
    int err = eddy_queue_work(fs->stream.handle.loop, &op->work, EDDY_WORK_FS, op_work, op_done);
    if (err) {
        op->result = err; /* finish it as a failed call, from the pending phase */
        fs->_state &= ~F_BUSY;
        fs->_error = err;
        fs->_state |= F_EOF;
        if (fs->_state & F_WRITER) eddy__stream_fail_writes(&fs->stream, err);
        eddy__stream_schedule(&fs->stream);
    }
}

/* ---- reading ------------------------------------------------------------------------------- */

static void read_next(eddy_file_stream_t *fs)
{
    uint64_t left = fs->_end - fs->_pos;
    fs->_op->len = left < fs->_chunk ? (size_t)left : fs->_chunk;
    submit(fs, OP_READ);
}

/* Delivers what is ready to a reader that reads, then reads ahead one chunk. */
static void reader_pump(eddy_file_stream_t *fs)
{
    eddy_stream_t *s = &fs->stream;
    if (closing(fs)) return;
    if (eddy__stream_has(s, EDDY__S_READING) && fs->_ready > 0) {
        eddy_buf_t b = eddy_buf_init(fs->_op->buf, fs->_ready);
        ssize_t n = fs->_ready;
        fs->_ready = 0;
        eddy__vstream_deliver(s, n, &b);
        if (closing(fs)) return;
    }
    if (fs->_ready == 0 && (fs->_state & F_EOF) && !(fs->_state & F_REPORTED)) {
        if (!eddy__stream_has(s, EDDY__S_READING)) return;
        fs->_state |= F_REPORTED;
        eddy__vstream_deliver(s, fs->_error ? fs->_error : EDDY_EOF, NULL);
        return;
    }
    if (fs->_ready == 0 && !(fs->_state & (F_BUSY | F_EOF)) && (fs->_state & F_OPEN))
        read_next(fs);
}

static void reader_done(eddy_file_stream_t *fs, struct eddy__file_op *op)
{
    if (op->kind == OP_OPEN) {
        if (op->result < 0) {
            fs->_error = (int)op->result;
            fs->_state |= F_EOF;
        } else {
            fs->_fd = (int)op->result;
            fs->_state |= F_OPEN;
        }
    } else if (op->result < 0) {
        fs->_error = (int)op->result;
        fs->_state |= F_EOF;
    } else {
        if (!op->positional) fs->_state |= F_NOSEEK;
        fs->_ready = (uint32_t)op->result;
        fs->_pos += (uint64_t)op->result;
        fs->_bytes += (uint64_t)op->result;
        if (op->result == 0 || fs->_pos >= fs->_end) fs->_state |= F_EOF;
    }
    reader_pump(fs);
}

static void file_read_start(eddy_stream_t *s)
{
    eddy_file_stream_t *fs = fs_of(s);
    /* Never deliver from inside read_start: the pending phase does it. */
    if (fs->_ready > 0 || (fs->_state & F_EOF))
        eddy__stream_schedule(s);
    else if (!(fs->_state & F_BUSY) && (fs->_state & F_OPEN))
        read_next(fs);
}

/* ---- writing ------------------------------------------------------------------------------- */

/* Copies up to one chunk of the queued writes (from the first unfinished one) into the op. */
static size_t gather(eddy_file_stream_t *fs, bool *zero_only)
{
    eddy_stream_t *s = &fs->stream;
    size_t n = 0;
    *zero_only = true;
    for (eddy_queue_t *q = eddy__stream_first_undone(s); q != &s->_reqs; q = q->next) {
        struct eddy__stream_req *r = eddy__stream_req_of(q);
        if (r->_type != EDDY__REQ_WRITE) break;
        *zero_only = false;
        eddy_write_t *w = eddy__stream_write_of(r);
        for (unsigned i = w->_index; i < w->_nbufs && n < fs->_chunk; i++) {
            size_t take = w->_bufs[i].len < fs->_chunk - n ? w->_bufs[i].len : fs->_chunk - n;
            memcpy(fs->_op->buf + n, w->_bufs[i].base, take);
            n += take;
        }
        if (n == fs->_chunk) break;
    }
    return n;
}

static void file_kick(eddy_stream_t *s)
{
    eddy_file_stream_t *fs = fs_of(s);
    while (!(fs->_state & F_BUSY) && (fs->_state & F_OPEN) && !closing(fs)) {
        eddy_queue_t *q = eddy__stream_first_undone(s);
        if (q == &s->_reqs) return;
        struct eddy__stream_req *r = eddy__stream_req_of(q);
        if (r->_type == EDDY__REQ_SHUTDOWN) {
            if (fs->_state & F_AUTO_CLOSE) {
                submit(fs, OP_CLOSE);
                fs->_state &= ~F_OPEN;
                fs->_fd = -1;
            } else {
                eddy__stream_mark_done(s, r, 0);
            }
            return;
        }
        bool zero_only;
        size_t n = gather(fs, &zero_only);
        if (n == 0) { /* empty writes: done at once, in order */
            eddy__stream_consume(s, q, 0);
            continue;
        }
        fs->_op->len = n;
        submit(fs, OP_WRITE);
    }
}

static void writer_done(eddy_file_stream_t *fs, struct eddy__file_op *op)
{
    eddy_stream_t *s = &fs->stream;
    if (op->kind == OP_OPEN) {
        if (op->result < 0) {
            eddy__stream_fail_writes(s, (int)op->result);
            return;
        }
        fs->_fd = (int)op->result;
        fs->_state |= F_OPEN;
    } else if (op->kind == OP_CLOSE) {
        eddy_queue_t *q = eddy__stream_first_undone(s);
        if (q != &s->_reqs) eddy__stream_mark_done(s, eddy__stream_req_of(q), (int)op->result);
        return;
    } else if (op->result < 0) {
        eddy__stream_fail_writes(s, (int)op->result);
        return;
    } else {
        if (!op->positional) fs->_state |= F_NOSEEK;
        fs->_pos += op->len;
        fs->_bytes += op->len;
        eddy__stream_consume(s, eddy__stream_first_undone(s), op->len);
    }
    file_kick(s);
}

/* ---- completion, pending, close ------------------------------------------------------------- */

static void op_done(eddy_work_t *w, int status)
{
    struct eddy__file_op *op = eddy_container_of(w, struct eddy__file_op, work);
    if (status == -ECANCELED) op->result = -ECANCELED;
    eddy_file_stream_t *fs = op->fs;
    if (fs == NULL) { /* the stream closed meanwhile */
        if (op->kind == OP_OPEN && op->result >= 0) close((int)op->result);
        if (op->close_fd >= 0) close(op->close_fd);
        op_free(op);
        return;
    }
    fs->_state &= ~F_BUSY;
    if (fs->_state & F_WRITER)
        writer_done(fs, op);
    else
        reader_done(fs, op);
}

static void file_pending(eddy_stream_t *s)
{
    eddy_file_stream_t *fs = fs_of(s);
    if (!(fs->_state & F_WRITER)) reader_pump(fs);
}

static void file_close(eddy_stream_t *s)
{
    eddy_file_stream_t *fs = fs_of(s);
    int fd = (fs->_state & F_AUTO_CLOSE) && (fs->_state & F_OPEN) ? fs->_fd : -1;
    fs->_state &= ~F_OPEN;
    fs->_fd = -1;
    struct eddy__file_op *op = fs->_op;
    fs->_op = NULL;
    if (op == NULL) {
        if (fd >= 0) close(fd);
        return;
    }
    if (fs->_state & F_BUSY) {
        op->fs = NULL; /* it frees itself, and closes fd, when the pool gives it back */
        op->close_fd = fd;
        eddy_cancel(&op->work);
        return;
    }
    if (fd >= 0) close(fd);
    op_free(op);
}

/* ---- opening -------------------------------------------------------------------------------- */

/* Everything that can fail happens before the handle exists: after init, errors are the
 * stream's (they reach its callbacks), and the caller must close it. */
static int init(eddy_loop_t *loop, eddy_file_stream_t *fs, const eddy_file_stream_opts_t *opts,
                bool writer, const char *path)
{
    eddy_file_stream_opts_t def;
    if (opts == NULL) {
        eddy_file_stream_opts_init(&def);
        opts = &def;
    }
    size_t chunk = opts->chunk_size ? opts->chunk_size : 64 * 1024;
    if (chunk > (1u << 30)) return -EINVAL;
    struct eddy__file_op *op = malloc(sizeof *op + chunk);
    if (op == NULL) return -ENOMEM;
    memset(op, 0, sizeof *op);
    if (path != NULL && (op->path = strdup(path)) == NULL) {
        free(op);
        return -ENOMEM;
    }
    op->fs = fs;
    op->close_fd = -1;
    op->open_flags = writer ? opts->flags : O_RDONLY;
    op->mode = opts->mode;
    memset(fs, 0, sizeof *fs);
    eddy__vstream_init(loop, &fs->stream, &file_ops, writer ? EDDY__S_CAN_WRITE : EDDY__S_CAN_READ);
    fs->_op = op;
    fs->_fd = -1;
    fs->_chunk = (uint32_t)chunk;
    fs->_pos = opts->start > 0 ? (uint64_t)opts->start : 0;
    fs->_end = opts->end == UINT64_MAX ? UINT64_MAX : opts->end + 1;
    if (writer) {
        fs->_state |= F_WRITER;
        eddy_stream_set_high_water_mark(&fs->stream, opts->high_water_mark
                                                         ? opts->high_water_mark
                                                         : EDDY_STREAM_HWM_DEFAULT);
        if (opts->start >= 0) fs->_state |= F_POSITIONAL;
    } else {
        fs->_state |= F_POSITIONAL;
        if (fs->_pos >= fs->_end) fs->_state |= F_EOF; /* an empty range */
    }
    if (opts->auto_close) fs->_state |= F_AUTO_CLOSE;
    return 0;
}

EDDY_EXPORT int eddy_file_read_stream_open(eddy_loop_t *loop, eddy_file_stream_t *fs,
                                           const char *path, const eddy_file_stream_opts_t *opts)
{
    int err = init(loop, fs, opts, false, path);
    if (err == 0 && !(fs->_state & F_EOF)) submit(fs, OP_OPEN);
    return err;
}

EDDY_EXPORT int eddy_file_read_stream_open_fd(eddy_loop_t *loop, eddy_file_stream_t *fs, int fd,
                                              const eddy_file_stream_opts_t *opts)
{
    int err = init(loop, fs, opts, false, NULL);
    if (err) return err;
    fs->_fd = fd;
    fs->_state |= F_OPEN;
    return 0;
}

EDDY_EXPORT int eddy_file_write_stream_open(eddy_loop_t *loop, eddy_file_stream_t *fs,
                                            const char *path, const eddy_file_stream_opts_t *opts)
{
    int err = init(loop, fs, opts, true, path);
    if (err) return err;
    if (!(fs->_op->open_flags & O_APPEND))
        fs->_state |= F_POSITIONAL; /* a file opened here starts at start, or 0 */
    submit(fs, OP_OPEN);
    return 0;
}

EDDY_EXPORT int eddy_file_write_stream_open_fd(eddy_loop_t *loop, eddy_file_stream_t *fs, int fd,
                                               const eddy_file_stream_opts_t *opts)
{
    int err = init(loop, fs, opts, true, NULL);
    if (err) return err;
    fs->_fd = fd;
    fs->_state |= F_OPEN;
    return 0;
}

EDDY_EXPORT uint64_t eddy_file_stream_bytes(const eddy_file_stream_t *fs)
{
    return fs->_bytes;
}
