/* File system: Node's fs module in C.
 *
 * The rule (libuv's): every call takes a request and a callback. With a callback the call
 * queues the operation on the thread pool (class EDDY_WORK_FS), or on the loop's io_uring when
 * the loop has EDDY_LOOP_FS_URING on and the kernel can do that operation, and returns 0 or a
 * negative errno if it could not be started (then the callback never runs). The callback runs
 * on the loop's thread with req->result set. With a NULL callback the call runs inline, on the
 * caller's thread, and returns req->result: that is Node's readFileSync, and it stalls the loop
 * for as long as the disk takes. Synchronous calls may pass a NULL loop.
 *
 *     static void on_open(eddy_fs_t *req)
 *     {
 *         if (req->result < 0) {
 *             char msg[512];
 *             eddy_fs_strerror(req, msg, sizeof msg); // "ENOENT: no such file ..., open '/x'"
 *         }
 *         eddy_fs_req_cleanup(req);
 *     }
 *     eddy_fs_open(loop, &req, "/x", O_RDONLY, 0, on_open);
 *
 * Results: req->result is a byte count (read, write, sendfile, copyfile), a descriptor (open),
 * an entry count (scandir), 0, or a negative errno. Descriptors are always opened O_CLOEXEC.
 *
 * Ownership. The caller owns the request's memory until the callback has run. The request owns
 * what the call allocated: copies of the paths, scandir's entries, read_file's buffer,
 * realpath's and mkdtemp's result; eddy_fs_req_cleanup releases them (call it once per call,
 * in the callback or after a synchronous call; it is harmless on a request that has nothing to
 * release). Buffers given to read, write and write_file stay the caller's and must stay valid
 * until the callback; the bufs array itself is copied.
 *
 * Cancellation: eddy_cancel(&req->work) takes work still queued on the pool off the queue and
 * the callback sees -ECANCELED; an operation that has started (or was handed to io_uring) runs
 * to completion and eddy_cancel returns -EBUSY. */
#ifndef EDDY_FS_H
#define EDDY_FS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "loop.h"
#include "pool.h"
#include "stream.h"

typedef struct eddy_fs_s eddy_fs_t;

/** Runs on the loop's thread when an fs request completes; req->result says how. */
typedef void (*eddy_fs_cb)(eddy_fs_t *req);

/** The operation a request performs (eddy_fs_t.type). */
typedef enum {
    EDDY_FS_UNKNOWN = 0,
    EDDY_FS_OPEN,
    EDDY_FS_CLOSE,
    EDDY_FS_READ,
    EDDY_FS_WRITE,
    EDDY_FS_STAT,
    EDDY_FS_FSTAT,
    EDDY_FS_LSTAT,
    EDDY_FS_UNLINK,
    EDDY_FS_RENAME,
    EDDY_FS_MKDIR,
    EDDY_FS_RMDIR,
    EDDY_FS_SCANDIR,
    EDDY_FS_FSYNC,
    EDDY_FS_FDATASYNC,
    EDDY_FS_FTRUNCATE,
    EDDY_FS_UTIME,
    EDDY_FS_FUTIME,
    EDDY_FS_ACCESS,
    EDDY_FS_REALPATH,
    EDDY_FS_MKDTEMP,
    EDDY_FS_COPYFILE,
    EDDY_FS_SENDFILE,
    EDDY_FS_READ_FILE,
    EDDY_FS_WRITE_FILE
} eddy_fs_type;

/** Flags of eddy_fs_mkdir. */
enum {
    EDDY_FS_MKDIR_RECURSIVE = 1 /**< create missing parents; an existing directory is success */
};

/** Flags of eddy_fs_copyfile. */
enum {
    EDDY_FS_COPYFILE_EXCL = 1 /**< fail with -EEXIST if the destination exists */
};

/** Flags of eddy_fs_write_file. */
enum {
    EDDY_FS_WRITE_FILE_APPEND = 1, /**< append instead of truncating */
    EDDY_FS_WRITE_FILE_EXCL = 2,   /**< fail with -EEXIST if the file exists */
    EDDY_FS_WRITE_FILE_FSYNC = 4   /**< fsync before closing: the data is on disk when done */
};

/** A point in time (seconds and nanoseconds since the epoch). */
typedef struct {
    int64_t sec;
    int64_t nsec;
} eddy_timespec_t;

/** What stat, fstat and lstat report (Node's fs.Stats). */
typedef struct {
    uint64_t dev;
    uint64_t ino;
    uint64_t mode; /**< type and permission bits (S_ISDIR(mode) ...) */
    uint64_t nlink;
    uint64_t uid;
    uint64_t gid;
    uint64_t rdev;
    uint64_t size;
    uint64_t blksize;
    uint64_t blocks;
    eddy_timespec_t atim;
    eddy_timespec_t mtim;
    eddy_timespec_t ctim;
    eddy_timespec_t birthtim; /**< 0 where the file system does not record it */
} eddy_stat_t;

/** The type of a directory entry (Node's Dirent.isFile() ...). */
typedef enum {
    EDDY_DIRENT_UNKNOWN = 0,
    EDDY_DIRENT_FILE,
    EDDY_DIRENT_DIR,
    EDDY_DIRENT_LINK,
    EDDY_DIRENT_FIFO,
    EDDY_DIRENT_SOCKET,
    EDDY_DIRENT_CHAR,
    EDDY_DIRENT_BLOCK
} eddy_dirent_type;

/** One entry of a scandir result; name is owned by the request. */
typedef struct {
    const char *name;
    eddy_dirent_type type;
} eddy_dirent_t;

/** One fs operation in flight (a request); the caller owns the memory. */
struct eddy_fs_s {
    eddy_work_t work;       /**< the pool request: eddy_cancel(&req->work) cancels queued work */
    void *data;             /**< the user's pointer; eddy never touches it */
    eddy_loop_t *loop;      /**< the loop the request belongs to (NULL for a sync call) */
    eddy_fs_type type;      /**< the operation */
    ssize_t result;         /**< bytes, a descriptor, an entry count, 0, or a negative errno */
    const char *path;       /**< the operation's path (a copy the request owns), or NULL */
    const char *new_path;   /**< rename's and copyfile's destination (owned copy), or NULL */
    eddy_stat_t statbuf;    /**< stat, fstat and lstat results */
    eddy_dirent_t *entries; /**< scandir's entries sorted by name, without . and .. (owned) */
    size_t nentries;        /**< number of entries */
    char *buf;  /**< read_file's contents, realpath's and mkdtemp's path; NUL-terminated, owned
                     (take it by setting buf to NULL, then free() it yourself) */
    size_t len; /**< bytes in buf, without the terminating NUL */
    /* private */
    eddy_fs_cb _cb;
    int _fd;
    int _fd_out;
    int _flags;
    int _mode;
    int64_t _offset;
    uint64_t _size;      /* ftruncate's length, sendfile's count, read_file's size_max */
    uint64_t _size_seen; /* read_file: the size that broke size_max (for the message) */
    double _atime;
    double _mtime;
    eddy_buf_t *_bufs; /* read/write: the caller's array, copied (into _bufsml if small) */
    unsigned _nbufs;
    unsigned _state;      /* EDDY__FS_* bits (src/fs/fs_internal.h) */
    const char *_syscall; /* the call that failed, for eddy_fs_strerror */
    int _step;            /* read_file on io_uring: the call in flight */
    size_t _cap;          /* read_file on io_uring: the buffer's size */
    eddy_buf_t _bufsml[4];
    void *_alloc;        /* the block holding path and new_path */
    uint64_t _statx[32]; /* io_uring's statx result (struct statx is 256 bytes) */
};

/** Opens path (flags and mode as open(2); O_CLOEXEC is always added); result: the fd. */
int eddy_fs_open(eddy_loop_t *loop, eddy_fs_t *req, const char *path, int flags, int mode,
                 eddy_fs_cb cb);
/** Closes fd. */
int eddy_fs_close(eddy_loop_t *loop, eddy_fs_t *req, int fd, eddy_fs_cb cb);
/** Reads into bufs at offset (-1: the current position, which then advances); result: bytes
 * read, 0 at end of file. */
int eddy_fs_read(eddy_loop_t *loop, eddy_fs_t *req, int fd, const eddy_buf_t bufs[], unsigned nbufs,
                 int64_t offset, eddy_fs_cb cb);
/** Writes bufs at offset (-1: the current position); result: bytes written (maybe short). */
int eddy_fs_write(eddy_loop_t *loop, eddy_fs_t *req, int fd, const eddy_buf_t bufs[],
                  unsigned nbufs, int64_t offset, eddy_fs_cb cb);
/** Stats path, following symlinks, into req->statbuf. */
int eddy_fs_stat(eddy_loop_t *loop, eddy_fs_t *req, const char *path, eddy_fs_cb cb);
/** Stats an open descriptor into req->statbuf. */
int eddy_fs_fstat(eddy_loop_t *loop, eddy_fs_t *req, int fd, eddy_fs_cb cb);
/** Stats path without following a final symlink into req->statbuf. */
int eddy_fs_lstat(eddy_loop_t *loop, eddy_fs_t *req, const char *path, eddy_fs_cb cb);
/** Removes a file (or a symlink). */
int eddy_fs_unlink(eddy_loop_t *loop, eddy_fs_t *req, const char *path, eddy_fs_cb cb);
/** Renames path to new_path (replacing new_path atomically, as rename(2)). */
int eddy_fs_rename(eddy_loop_t *loop, eddy_fs_t *req, const char *path, const char *new_path,
                   eddy_fs_cb cb);
/** Creates a directory; EDDY_FS_MKDIR_RECURSIVE is Node's { recursive: true }. */
int eddy_fs_mkdir(eddy_loop_t *loop, eddy_fs_t *req, const char *path, int mode, int flags,
                  eddy_fs_cb cb);
/** Removes an empty directory (-ENOTEMPTY otherwise). */
int eddy_fs_rmdir(eddy_loop_t *loop, eddy_fs_t *req, const char *path, eddy_fs_cb cb);
/** Lists a directory into req->entries (Node's readdir with file types); result: the count. */
int eddy_fs_scandir(eddy_loop_t *loop, eddy_fs_t *req, const char *path, eddy_fs_cb cb);
/** Flushes fd's data and metadata to the device. */
int eddy_fs_fsync(eddy_loop_t *loop, eddy_fs_t *req, int fd, eddy_fs_cb cb);
/** Flushes fd's data (and the metadata needed to read it back) to the device. */
int eddy_fs_fdatasync(eddy_loop_t *loop, eddy_fs_t *req, int fd, eddy_fs_cb cb);
/** Truncates (or extends with zeros) fd to length bytes. */
int eddy_fs_ftruncate(eddy_loop_t *loop, eddy_fs_t *req, int fd, int64_t length, eddy_fs_cb cb);
/** Sets path's access and modification times (seconds since the epoch, with fractions). */
int eddy_fs_utime(eddy_loop_t *loop, eddy_fs_t *req, const char *path, double atime, double mtime,
                  eddy_fs_cb cb);
/** Sets an open descriptor's access and modification times. */
int eddy_fs_futime(eddy_loop_t *loop, eddy_fs_t *req, int fd, double atime, double mtime,
                   eddy_fs_cb cb);
/** Checks the caller's access to path (mode: F_OK or R_OK|W_OK|X_OK). */
int eddy_fs_access(eddy_loop_t *loop, eddy_fs_t *req, const char *path, int mode, eddy_fs_cb cb);
/** Resolves path to a canonical absolute path in req->buf. */
int eddy_fs_realpath(eddy_loop_t *loop, eddy_fs_t *req, const char *path, eddy_fs_cb cb);
/** Creates a unique directory named prefix plus six random characters (Node's mkdtemp); its
 * path is in req->buf. */
int eddy_fs_mkdtemp(eddy_loop_t *loop, eddy_fs_t *req, const char *prefix, eddy_fs_cb cb);
/** Copies path's contents to new_path (copy_file_range, with a fallback), with path's mode;
 * EDDY_FS_COPYFILE_EXCL refuses an existing destination; result: bytes copied. */
int eddy_fs_copyfile(eddy_loop_t *loop, eddy_fs_t *req, const char *path, const char *new_path,
                     int flags, eddy_fs_cb cb);
/** Copies up to len bytes from in_fd at in_offset (-1: its current position) to out_fd; result:
 * bytes copied (less than len only at end of file). */
int eddy_fs_sendfile(eddy_loop_t *loop, eddy_fs_t *req, int out_fd, int in_fd, int64_t in_offset,
                     size_t len, eddy_fs_cb cb);

/** Default read_file limit (size_max 0): 2 GiB, Node's kMaxLength for a Buffer. */
#define EDDY_FS_READ_FILE_MAX ((uint64_t)2 << 30)

/** Reads a whole file into req->buf (req->len bytes, NUL-terminated) like Node's readFile,
 * also files whose stat size lies (/proc); -EFBIG past size_max bytes (0: the default). */
int eddy_fs_read_file(eddy_loop_t *loop, eddy_fs_t *req, const char *path, uint64_t size_max,
                      eddy_fs_cb cb);
/** Creates (or truncates) path with mode and writes all len bytes of data (Node's writeFile);
 * flags: EDDY_FS_WRITE_FILE_*; result: 0. data must stay valid until the callback. */
int eddy_fs_write_file(eddy_loop_t *loop, eddy_fs_t *req, const char *path, const void *data,
                       size_t len, int flags, int mode, eddy_fs_cb cb);

/** Releases what the request allocated (paths, entries, buffers); idempotent. */
void eddy_fs_req_cleanup(eddy_fs_t *req);
/** Formats a failed request's error as Node does ("ENOENT: no such file or directory, open
 * '/nope'"; "..., rename 'a' -> 'b'"); returns the length snprintf would (0 on success). */
int eddy_fs_strerror(const eddy_fs_t *req, char *buf, size_t len);
/** The name of an operation as Node's messages spell it ("open", "scandir", ...). */
const char *eddy_fs_type_name(eddy_fs_type type);

/** 1 if the loop's io_uring is set up and in use, 0 if not (yet), or the negative errno with
 * which setting it up failed (the loop then uses the pool). */
int eddy_fs_uring_active(const eddy_loop_t *loop);
/** Requests this loop has completed through io_uring. */
uint64_t eddy_fs_uring_completed(const eddy_loop_t *loop);

#endif
