/* Transform streams (see include/eddy/transform.h).
 *
 * One step: copy up to input_max bytes of the queued writes into the op's input buffer (or,
 * once a shutdown is next in the queue, nothing with end set), run the function on the pool,
 * then on the loop consume what it used from the queue (completing those writes in order),
 * hand what it produced to the reader, and step again. The reader is the brake: output not
 * yet delivered stops the stepping, so a stopped reader stops the input too. */
#include "stream/stream_internal.h"

#include <stdlib.h>
#include <string.h>

#include "eddy/transform.h"

enum {
    T_BUSY = 1u << 0,     /* the op is on the pool */
    T_FINISHED = 1u << 1, /* the function returned DONE: EOF once the output is out */
    T_REPORTED = 1u << 2, /* EOF or the error went to the reader */
    T_FAILED = 1u << 3
};

struct eddy__transform_op {
    eddy_work_t work;
    eddy_transform_t *t; /* NULL once the transform closed: the op is an orphan */
    eddy_transform_fn fn;
    eddy_transform_free_fn free_state;
    void *state;
    eddy_transform_io_t io;
    int result;
    size_t in_cap;
    size_t out_cap;
    char *in;
    char out[];
};

static void t_read_start(eddy_stream_t *s);
static void t_kick(eddy_stream_t *s);
static void t_close(eddy_stream_t *s);
static void t_pending(eddy_stream_t *s);

static const struct eddy__stream_vtbl transform_vtbl = {
    .read_start = t_read_start, .kick = t_kick, .close = t_close, .pending = t_pending};
static const struct eddy__handle_ops transform_ops = {
    .close = eddy__vstream_close, .closed = eddy__vstream_closed, .stream = &transform_vtbl};

static inline eddy_transform_t *t_of(eddy_stream_t *s)
{
    return eddy_container_of(s, eddy_transform_t, stream);
}

static void op_work(eddy_work_t *w)
{
    struct eddy__transform_op *op = eddy_container_of(w, struct eddy__transform_op, work);
    op->result = op->fn(op->state, &op->io);
}

static void op_free(struct eddy__transform_op *op)
{
    if (op->free_state) op->free_state(op->state);
    free(op);
}

static void op_done(eddy_work_t *w, int status);

/* Copies up to in_cap bytes of queued input; *end is set if a shutdown follows them all. */
static size_t gather(eddy_transform_t *t, bool *end)
{
    eddy_stream_t *s = &t->stream;
    struct eddy__transform_op *op = t->_op;
    size_t n = 0;
    *end = false;
    eddy_queue_t *q;
    for (q = eddy__stream_first_undone(s); q != &s->_reqs && n < op->in_cap; q = q->next) {
        struct eddy__stream_req *r = eddy__stream_req_of(q);
        if (r->_type != EDDY__REQ_WRITE) break;
        eddy_write_t *w = eddy__stream_write_of(r);
        for (unsigned i = w->_index; i < w->_nbufs && n < op->in_cap; i++) {
            size_t take = w->_bufs[i].len < op->in_cap - n ? w->_bufs[i].len : op->in_cap - n;
            memcpy(op->in + n, w->_bufs[i].base, take);
            n += take;
        }
    }
    /* Zero-length writes left at the front still count as input not yet taken. */
    while (q != &s->_reqs && eddy__stream_req_of(q)->_type == EDDY__REQ_WRITE &&
           s->_write_queue_size == n)
        q = q->next;
    if (q != &s->_reqs && eddy__stream_req_of(q)->_type == EDDY__REQ_SHUTDOWN &&
        s->_write_queue_size == n)
        *end = true;
    return n;
}

/* Runs the next call if there is something to do and nothing holds it back. */
static void step(eddy_transform_t *t)
{
    eddy_stream_t *s = &t->stream;
    if (t->_flags & (T_BUSY | T_FINISHED | T_FAILED) || t->_held > 0 || eddy_is_closing(&s->handle))
        return;
    bool end;
    size_t n = gather(t, &end);
    if (n == 0 && !end) {
        /* Only zero-length writes, or nothing: complete them, wait for more. */
        eddy_queue_t *q = eddy__stream_first_undone(s);
        if (q != &s->_reqs && eddy__stream_req_of(q)->_type == EDDY__REQ_WRITE)
            eddy__stream_consume(s, q, 0);
        return;
    }
    if (!end && t->_starved > 0 && s->_write_queue_size <= t->_starved) return;
    struct eddy__transform_op *op = t->_op;
    op->io = (eddy_transform_io_t){
        .in = op->in, .in_len = n, .out = op->out, .out_len = op->out_cap, .end = end};
    op->result = 0;
    t->_flags |= T_BUSY;
    int err = eddy_queue_work(s->handle.loop, &op->work, (eddy_work_class)t->_class, op_work,
                              op_done);
    if (err) {
        t->_flags &= ~T_BUSY;
        t->_flags |= T_FAILED;
        t->_error = err;
        eddy__stream_fail_writes(s, err);
        eddy__stream_schedule(s);
    }
}

/* Hands held output, then EOF or the error, to a reading reader; then steps. */
static void pump(eddy_transform_t *t)
{
    eddy_stream_t *s = &t->stream;
    if (eddy_is_closing(&s->handle)) return;
    if (t->_held > 0 && eddy__stream_has(s, EDDY__S_READING)) {
        eddy_buf_t b = eddy_buf_init(t->_op->out, t->_held);
        ssize_t n = (ssize_t)t->_held;
        t->_held = 0;
        eddy__vstream_deliver(s, n, &b);
        if (eddy_is_closing(&s->handle)) return;
    }
    if (t->_held == 0 && (t->_flags & (T_FINISHED | T_FAILED)) && !(t->_flags & T_REPORTED)) {
        if (!eddy__stream_has(s, EDDY__S_READING)) return;
        t->_flags |= T_REPORTED;
        eddy__vstream_deliver(s, (t->_flags & T_FAILED) ? t->_error : EDDY_EOF, NULL);
        return;
    }
    step(t);
}

static void op_done(eddy_work_t *w, int status)
{
    struct eddy__transform_op *op = eddy_container_of(w, struct eddy__transform_op, work);
    eddy_transform_t *t = op->t;
    if (t == NULL) {
        op_free(op);
        return;
    }
    eddy_stream_t *s = &t->stream;
    t->_flags &= ~T_BUSY;
    int r = status < 0 ? status : op->result;
    eddy_transform_io_t *io = &op->io;
    if (r >= 0 && io->in_used == 0 && io->out_used == 0 && r != EDDY_TRANSFORM_DONE) {
        if (io->end)
            r = -EPROTO; /* it cannot finish: truncated input, or a broken function */
        else
            t->_starved = s->_write_queue_size; /* wait for more input than this */
    } else {
        t->_starved = 0;
    }
    if (r < 0) {
        t->_flags |= T_FAILED;
        t->_error = r;
        eddy__stream_fail_writes(s, r);
    } else {
        if (io->in_used > 0) eddy__stream_consume(s, eddy__stream_first_undone(s), io->in_used);
        t->_held = io->out_used;
        if (r == EDDY_TRANSFORM_DONE) {
            t->_flags |= T_FINISHED;
            /* Input after the end is dropped; the shutdown completes now, in order. */
            eddy_queue_t *q = eddy__stream_first_undone(s);
            if (q != &s->_reqs) eddy__stream_consume(s, q, s->_write_queue_size);
            q = eddy__stream_first_undone(s);
            if (q != &s->_reqs) eddy__stream_mark_done(s, eddy__stream_req_of(q), 0);
        }
    }
    pump(t);
}

static void t_read_start(eddy_stream_t *s)
{
    eddy_transform_t *t = t_of(s);
    if (t->_held > 0 || (t->_flags & (T_FINISHED | T_FAILED))) eddy__stream_schedule(s);
}

static void t_kick(eddy_stream_t *s)
{
    step(t_of(s));
}

static void t_pending(eddy_stream_t *s)
{
    pump(t_of(s));
}

static void t_close(eddy_stream_t *s)
{
    eddy_transform_t *t = t_of(s);
    struct eddy__transform_op *op = t->_op;
    t->_op = NULL;
    if (op == NULL) return;
    if (t->_flags & T_BUSY) {
        op->t = NULL; /* the pool still runs the function on the state: free both later */
        eddy_cancel(&op->work);
        return;
    }
    op_free(op);
}

/* The options' class: 0 is the default (CPU), as every zero option is; since EDDY_WORK_FS is 0
 * too, class FS is asked for with the distinct EDDY_TRANSFORM_WORK_FS. */
static int work_class_of(const eddy_transform_opts_t *o, eddy_work_class *cls)
{
    if (o->work_class == EDDY_TRANSFORM_WORK_FS)
        *cls = EDDY_WORK_FS;
    else if (o->work_class == 0)
        *cls = EDDY_WORK_CPU;
    else if ((unsigned)o->work_class < EDDY_WORK_CLASSES)
        *cls = o->work_class;
    else
        return -EINVAL;
    return 0;
}

EDDY_EXPORT int eddy_transform_init(eddy_loop_t *loop, eddy_transform_t *t, eddy_transform_fn fn,
                                    void *state, eddy_transform_free_fn free_state,
                                    const eddy_transform_opts_t *opts)
{
    assert(loop != NULL && t != NULL && fn != NULL);
    eddy_transform_opts_t o = {0};
    if (opts) o = *opts;
    size_t out = o.chunk_size ? o.chunk_size : 64 * 1024;
    size_t in = o.input_max ? o.input_max : 64 * 1024;
    eddy_work_class cls;
    int err = work_class_of(&o, &cls);
    if (err) return err;
    struct eddy__transform_op *op = malloc(sizeof *op + out + in);
    if (op == NULL) return -ENOMEM;
    memset(op, 0, sizeof *op);
    op->t = t;
    op->fn = fn;
    op->free_state = free_state;
    op->state = state;
    op->out_cap = out;
    op->in_cap = in;
    op->in = op->out + out;
    memset(t, 0, sizeof *t);
    eddy__vstream_init(loop, &t->stream, &transform_ops, EDDY__S_CAN_READ | EDDY__S_CAN_WRITE);
    t->_op = op;
    t->_fn = fn;
    t->_free = free_state;
    t->_state = state;
    t->_class = (uint8_t)cls;
    if (o.high_water_mark) eddy_stream_set_high_water_mark(&t->stream, o.high_water_mark);
    return 0;
}
