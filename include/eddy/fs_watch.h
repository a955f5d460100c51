/* File system watchers (Node's fs.watch), on inotify: the kernel reports changes
 * asynchronously, so a watcher is a descriptor on the loop, not work for the thread pool.
 *
 * A watcher watches one path: a file, a directory's direct children, or (with
 * EDDY_FS_WATCH_RECURSIVE) a whole directory tree, following directories created, moved in or
 * renamed after the start. Each change arrives as one eddy_fs_event_t whose path is relative
 * to the watched root ("sub/dir/file.txt"; "" is the root itself). Nothing is coalesced
 * silently: when the kernel's queue overflows, the watcher says so with an
 * EDDY_FS_EVENT_OVERFLOW event. docs/fs_watch.md describes every event precisely. */
#ifndef EDDY_FS_WATCH_H
#define EDDY_FS_WATCH_H

#include "loop.h"

typedef struct eddy_fs_watch_s eddy_fs_watch_t;

/** What happened (eddy_fs_event_t.type). */
typedef enum {
    EDDY_FS_EVENT_CREATE = 1, /**< created, or moved into the watched tree */
    EDDY_FS_EVENT_MODIFY,     /**< contents written (each write, like Node's "change") */
    EDDY_FS_EVENT_ATTRIB,     /**< metadata changed: mode, owner, times, link count */
    EDDY_FS_EVENT_DELETE,     /**< deleted, or moved out of the watched tree */
    EDDY_FS_EVENT_RENAME,     /**< renamed within the watched tree: from_path to path */
    EDDY_FS_EVENT_OVERFLOW,   /**< the kernel dropped events; rescan what you keep */
    EDDY_FS_EVENT_ERROR       /**< a directory could not be watched; status says why */
} eddy_fs_event_type;

/** Watch flags (eddy_fs_watch_start). */
enum {
    EDDY_FS_WATCH_RECURSIVE = 1u << 0 /**< watch the whole tree under a directory */
};

/** One change; the strings are valid only during the callback. */
typedef struct eddy_fs_event_s {
    eddy_fs_event_type type;
    int status;            /**< 0, or a negative errno for EDDY_FS_EVENT_ERROR */
    int is_dir;            /**< non-zero if the entry is a directory */
    const char *path;      /**< relative to the watched root; "" for the root itself */
    const char *from_path; /**< EDDY_FS_EVENT_RENAME: the old path; NULL otherwise */
} eddy_fs_event_t;

/** Called on the loop's thread for each change; it may stop, restart or close the watcher. */
typedef void (*eddy_fs_watch_cb)(eddy_fs_watch_t *w, const eddy_fs_event_t *ev);

/* private: a watched directory (inotify watch descriptor and relative path), see watch.c. */
struct eddy__fs_watch_dir;
/* private: an error met at start, reported from the loop. */
struct eddy__fs_watch_error {
    int status;
    char *path;
};

/** A file system watcher; the caller owns the memory. Close it with eddy_close(&w->handle). */
struct eddy_fs_watch_s {
    eddy_handle_t handle;
    /* private */
    eddy_fs_watch_cb _cb;
    unsigned _flags; /* EDDY_FS_WATCH_* as started */
    unsigned _epoch; /* tree walks, for the sweep after a resynchronisation */
    unsigned _gen;   /* bumped by start and stop: a dispatch notices and returns */
    int _root_is_dir;
    char *_root;                      /* the resolved root while started, NULL when stopped */
    eddy_io_t _io;                    /* the inotify instance, -1 when stopped */
    char *_buf;                       /* a read batch */
    struct eddy__fs_watch_dir *_dirs; /* open-addressing table keyed by watch descriptor */
    size_t _dirs_cap;                 /* a power of two, or 0 */
    size_t _dirs_count;
    /* a MOVED_FROM left unpaired at the end of a batch, paired against the next batch */
    uint32_t _carry_cookie;
    int _carry_is_dir;
    char *_carry_path; /* NULL when nothing is carried */
    /* directories the start could not watch (EACCES, ...), reported in the pending phase */
    eddy_pending_t _pending;
    struct eddy__fs_watch_error *_errors;
    size_t _errors_count;
};

/** Initialises a stopped watcher; does no I/O. */
int eddy_fs_watch_init(eddy_loop_t *loop, eddy_fs_watch_t *w);
/** Starts watching path (a file or a directory); flags are EDDY_FS_WATCH_*. Restarting a
 * started watcher stops it first. -ENOENT for a missing path, -ENOSPC when the kernel's
 * inotify watch limit (fs.inotify.max_user_watches) is reached, -EMFILE when its instance
 * limit (fs.inotify.max_user_instances) is, -EINVAL without a callback or while closing.
 * A subdirectory that cannot be watched for another reason (EACCES) does not fail the start:
 * it arrives as an EDDY_FS_EVENT_ERROR event from the loop's next iteration. */
int eddy_fs_watch_start(eddy_fs_watch_t *w, const char *path, unsigned flags, eddy_fs_watch_cb cb);
/** Stops watching and releases the kernel's watches; no callback follows. Idempotent. */
int eddy_fs_watch_stop(eddy_fs_watch_t *w);
/** The watched root (resolved to an absolute path) while started; NULL when stopped. */
const char *eddy_fs_watch_path(const eddy_fs_watch_t *w);
/** The name of an event type ("create", "modify", ...). */
const char *eddy_fs_event_type_name(eddy_fs_event_type type);

#endif
