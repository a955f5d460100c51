/* File streams: Node's fs.createReadStream and fs.createWriteStream.
 *
 * A file stream is an eddy_stream_t (its first member `stream`): read it, write it, pipe it
 * and close it like a socket. Every system call runs on the thread pool (class EDDY_WORK_FS),
 * one at a time per stream, into or out of one buffer of chunk_size bytes (64 KiB by default)
 * that the stream owns: a 10 GB file read into a slow socket holds one chunk, not 10 GB.
 *
 * Readers read from start to end (inclusive, as Node's `end`) and lend each chunk to the read
 * callback; EDDY_EOF follows the last one. A reader reads one chunk ahead while it is stopped,
 * never more. Errors, including the open's (-ENOENT), reach the read callback.
 *
 * Writers queue writes as sockets do (eddy_stream_write returns EDDY_STREAM_FULL at the
 * high-water mark; the drain callback follows) and write them in order, gathering queued writes
 * into chunks. eddy_stream_shutdown closes the descriptor after the last write (Node's end()).
 * An open error fails every queued write with it.
 *
 * Close with eddy_close(&fs->stream.handle, cb). Work in flight on the pool then finishes on
 * its own and releases the buffer and the descriptor itself. */
#ifndef EDDY_FILE_STREAM_H
#define EDDY_FILE_STREAM_H

#include <stdint.h>

#include "stream.h"

/** Options of a file stream; eddy_file_stream_opts_init fills the defaults. */
typedef struct {
    size_t chunk_size;      /**< bytes per read or write system call (64 KiB) */
    int64_t start;          /**< first byte to read or write; -1: 0 for readers, the
                                 descriptor's offset for writers (-1) */
    uint64_t end;           /**< readers: last byte to read, inclusive; UINT64_MAX: to EOF */
    int flags;              /**< writers' open flags (O_WRONLY|O_CREAT|O_TRUNC) */
    unsigned mode;          /**< permissions of a created file (0666, before the umask) */
    size_t high_water_mark; /**< writers' queue mark (EDDY_STREAM_HWM_DEFAULT) */
    int auto_close;         /**< close the descriptor at the end (1, also for a given fd) */
} eddy_file_stream_opts_t;

/** A file read or write stream; the caller owns the memory (embed it). */
typedef struct eddy_file_stream_s {
    eddy_stream_t stream;
    /* private */
    struct eddy__file_op *_op; /* the one pool request, with the chunk buffer */
    int _fd;
    int _error;                /* a reader's error not delivered yet */
    uint64_t _pos;             /* next byte to read or write */
    uint64_t _end;             /* readers: one past the last byte */
    uint64_t _bytes;           /* bytes read or written */
    uint32_t _chunk;
    uint32_t _ready;           /* a reader's chunk read and not yet delivered */
    uint8_t _state;            /* F_* in src/stream/file.c */
} eddy_file_stream_t;

/** Fills opts with the defaults. */
void eddy_file_stream_opts_init(eddy_file_stream_opts_t *opts);
/** Opens path for reading on the pool; errors (-ENOENT, ...) reach the read callback. A
 * negative return (-ENOMEM, -EINVAL) means the stream was not initialised; otherwise close it
 * once done (this holds for every open function). */
int eddy_file_read_stream_open(eddy_loop_t *loop, eddy_file_stream_t *fs, const char *path,
                               const eddy_file_stream_opts_t *opts);
/** Reads from an open descriptor (pread at start, or read(2) if it cannot seek). */
int eddy_file_read_stream_open_fd(eddy_loop_t *loop, eddy_file_stream_t *fs, int fd,
                                  const eddy_file_stream_opts_t *opts);
/** Opens path for writing on the pool (opts->flags, default O_WRONLY|O_CREAT|O_TRUNC). */
int eddy_file_write_stream_open(eddy_loop_t *loop, eddy_file_stream_t *fs, const char *path,
                                const eddy_file_stream_opts_t *opts);
/** Writes to an open descriptor (pwrite at start if start >= 0, else write(2)). */
int eddy_file_write_stream_open_fd(eddy_loop_t *loop, eddy_file_stream_t *fs, int fd,
                                   const eddy_file_stream_opts_t *opts);
/** Bytes read (readers) or written (writers) so far. */
uint64_t eddy_file_stream_bytes(const eddy_file_stream_t *fs);

#endif
