/* Internal interfaces of the fs module (src/fs/): the request's private state, the blocking
 * implementations the pool and synchronous calls share, and the io_uring path. */
#ifndef EDDY_FS_INTERNAL_H
#define EDDY_FS_INTERNAL_H

#include "core/internal.h"
#include "eddy/fs.h"

/* Bits of eddy_fs_t._state. */
enum {
    EDDY__FS_RAN = 1u << 0,    /* the blocking implementation ran (on a pool thread) */
    EDDY__FS_URING = 1u << 1,  /* the request went to io_uring */
    EDDY__FS_OWN_BUF = 1u << 2 /* req->buf was allocated by the request */
};

/* Runs the request's operation to completion on the calling thread and sets req->result (and
 * req->_syscall when it fails). Blocking: pool threads and synchronous calls only. */
void eddy__fs_run(eddy_fs_t *req);
/* The whole-file operations (src/fs/fs_whole.c), called by eddy__fs_run. */
void eddy__fs_read_file_run(eddy_fs_t *req);
void eddy__fs_write_file_run(eddy_fs_t *req);
/* Fills an eddy_stat_t from a struct statx (passed as void * to keep <sys/stat.h>'s statx out
 * of this header's users). */
void eddy__fs_stat_from_statx(eddy_stat_t *st, const void *stx);
/* The statx mask eddy asks for. */
#define EDDY__FS_STATX_MASK 0xfffu /* STATX_BASIC_STATS | STATX_BTIME */

/* Hands an asynchronous request to the loop's io_uring (src/fs/uring.c): 0 if taken (the
 * callback will run from the loop's poll phase), -ENOTSUP if the option is off, the ring could
 * not be set up or cannot do this operation: the caller then uses the pool. */
int eddy__fs_uring_start(eddy_loop_t *loop, eddy_fs_t *req);
/* Finishes a request on the loop's thread (both paths): result fix-ups, then the callback. */
void eddy__fs_complete(eddy_fs_t *req);

#endif
