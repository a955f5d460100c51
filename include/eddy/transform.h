/* Transforms: Node's stream.Transform, a duplex stream whose output is a function of its
 * input (zlib.h builds gzip and friends on it).
 *
 * Write input to &t->stream (eddy_stream_write; EDDY_STREAM_FULL and drain as for sockets) and
 * end it with eddy_stream_shutdown; read the output with eddy_stream_read_start (chunks lent to
 * the read callback, then EDDY_EOF) or, usually, pipe it on: eddy_stream_pipe(&t->stream, dst).
 *
 * The transform function runs on the thread pool (class EDDY_WORK_CPU by default), never on
 * the loop, on at most input_max bytes of input (copied from the queued writes) and into one
 * output buffer of chunk_size bytes; one call per transform is in flight at a time. Output is
 * handed downstream only as fast as downstream reads: while the reader is stopped the
 * transform holds one chunk of output and takes no more input, so its writers see
 * EDDY_STREAM_FULL, and memory stays at one chunk in and one chunk out. */
#ifndef EDDY_TRANSFORM_H
#define EDDY_TRANSFORM_H

#include "pool.h"
#include "stream.h"

typedef struct eddy_transform_s eddy_transform_t;

/** One call of a transform function: consume from in, produce into out. */
typedef struct {
    const char *in;  /**< input bytes (in_len of them) */
    size_t in_len;
    size_t in_used;  /**< set by the function: input bytes consumed */
    char *out;       /**< room for out_len output bytes */
    size_t out_len;
    size_t out_used; /**< set by the function: output bytes produced */
    int end;         /**< no input after this: flush and finish */
} eddy_transform_io_t;

/** A transform function's return once it has finished (only when io->end is set). */
#define EDDY_TRANSFORM_DONE 1

/** Runs on a pool thread with the transform's state (touch nothing else). Returns 0 (call me
 * again: with more input, or more room), EDDY_TRANSFORM_DONE, or a negative errno. A call that
 * consumes and produces nothing waits for more input; at the end it is an error (-EPROTO). */
typedef int (*eddy_transform_fn)(void *state, eddy_transform_io_t *io);
/** Frees a transform's state (on the loop's thread, once no call is in flight). */
typedef void (*eddy_transform_free_fn)(void *state);

/** work_class value that runs the function in class EDDY_WORK_FS. EDDY_WORK_FS itself is 0,
 * which in eddy_transform_opts_t means "the default" (EDDY_WORK_CPU), as every zero field does;
 * this distinct value says "FS" explicitly. */
#define EDDY_TRANSFORM_WORK_FS ((eddy_work_class)0x100)

/** Options of a transform; zero values take the defaults. */
typedef struct {
    size_t chunk_size;          /**< output buffer, the size of chunks read (64 KiB) */
    size_t input_max;           /**< input bytes per call (64 KiB) */
    size_t high_water_mark;     /**< the writable side's mark (EDDY_STREAM_HWM_DEFAULT) */
    eddy_work_class work_class; /**< the pool class the function runs in: 0 for the default
                                     (EDDY_WORK_CPU), EDDY_WORK_DNS, EDDY_WORK_CPU,
                                     EDDY_WORK_USER, or EDDY_TRANSFORM_WORK_FS for class FS */
} eddy_transform_opts_t;

/** A transform stream; the caller owns the memory (embed it). */
struct eddy_transform_s {
    eddy_stream_t stream;
    /* private */
    struct eddy__transform_op *_op; /* the one pool request, with both buffers */
    eddy_transform_fn _fn;
    eddy_transform_free_fn _free;
    void *_state;
    size_t _held;     /* output produced and not yet delivered */
    size_t _starved;  /* queued input when the function last asked for more */
    int _error;       /* an error not yet delivered to the reader */
    uint8_t _flags;   /* T_* in src/stream/transform.c */
    uint8_t _class;
};

/** Initialises a transform around fn and its state (free_state may be NULL); on failure
 * nothing was initialised and state is not freed. */
int eddy_transform_init(eddy_loop_t *loop, eddy_transform_t *t, eddy_transform_fn fn,
                        void *state, eddy_transform_free_fn free_state,
                        const eddy_transform_opts_t *opts);

#endif
