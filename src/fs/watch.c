/* File system watchers on inotify (see include/eddy/fs_watch.h and docs/fs_watch.md).
 *
 * One inotify instance per watcher, watched on the loop like any descriptor. A per-loop
 * instance would save instances (fs.inotify.max_user_instances, 128 by default) but couples
 * watchers that must stay independent: the kernel gives one watch descriptor per inode and
 * instance, so two watchers over overlapping trees would share watches (removing one removes
 * the other's), and one instance has one event queue, so one busy tree would overflow every
 * watcher of the loop. Watchers are few and long-lived; an instance each is the honest cost.
 *
 * A recursive watcher keeps a table from watch descriptor to the directory's path relative to
 * the root. Directories that appear later are watched and then listed, so entries created
 * before their watch existed are still reported. After an overflow the tree is walked again:
 * the walk adds what was missed, refreshes the stored paths, and a sweep drops the rest. */
#include "core/internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

/* One read batch; room for hundreds of events of short names (and 60 of the longest). */
#define BATCH_SIZE (16 * 1024)

#define DIR_MASK                                                                                   \
    (IN_CREATE | IN_DELETE | IN_MODIFY | IN_ATTRIB | IN_MOVED_FROM | IN_MOVED_TO |                 \
     IN_DELETE_SELF | IN_MOVE_SELF | IN_EXCL_UNLINK | IN_ONLYDIR)
#define FILE_MASK (IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)

struct eddy__fs_watch_dir {
    int wd; /* 0 marks a free slot: the kernel numbers watches from 1 */
    unsigned epoch;
    char *path;
};

typedef struct eddy__fs_watch_dir dir_t;

/* A dispatch in progress: the watcher and its generation when the dispatch began. Every user
 * callback may stop, restart or close the watcher; the dispatch then returns at once. */
typedef struct {
    eddy_fs_watch_t *w;
    unsigned gen;
} batch_t;

/* How a walk treats what it finds (see walk). */
typedef enum {
    WALK_START, /* at start: no events; running out of resources fails the start */
    WALK_NEW,   /* a directory appeared: report each entry as created */
    WALK_RESYNC /* after an overflow: no events; refresh paths and epochs */
} walk_mode;

/* ---- the watch descriptor table (open addressing, linear probing) ------------------------ */

static size_t home_of(size_t cap, int wd)
{
    return ((uint32_t)wd * 2654435761u) & (cap - 1);
}

static dir_t *dir_find(eddy_fs_watch_t *w, int wd)
{
    if (w->_dirs_cap == 0 || wd <= 0)
        return NULL;
    for (size_t i = home_of(w->_dirs_cap, wd);; i = (i + 1) & (w->_dirs_cap - 1)) {
        if (w->_dirs[i].wd == wd)
            return &w->_dirs[i];
        if (w->_dirs[i].wd == 0)
            return NULL;
    }
}

static int dir_grow(eddy_fs_watch_t *w)
{
    size_t cap = w->_dirs_cap ? w->_dirs_cap * 2 : 16;
    dir_t *d = calloc(cap, sizeof *d);
    if (d == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < w->_dirs_cap; i++) {
        if (w->_dirs[i].wd == 0)
            continue;
        size_t j = home_of(cap, w->_dirs[i].wd);
        while (d[j].wd != 0)
            j = (j + 1) & (cap - 1);
        d[j] = w->_dirs[i];
    }
    free(w->_dirs);
    w->_dirs = d;
    w->_dirs_cap = cap;
    return 0;
}

/* Maps wd to path (a copy), replacing an older path; the entry joins the current epoch. */
static int dir_put(eddy_fs_watch_t *w, int wd, const char *path)
{
    char *copy = strdup(path);
    if (copy == NULL)
        return -ENOMEM;
    dir_t *e = dir_find(w, wd);
    if (e == NULL) {
        if ((w->_dirs_count + 1) * 2 > w->_dirs_cap && dir_grow(w) != 0) {
            free(copy);
            return -ENOMEM;
        }
        size_t i = home_of(w->_dirs_cap, wd);
        while (w->_dirs[i].wd != 0)
            i = (i + 1) & (w->_dirs_cap - 1);
        e = &w->_dirs[i];
        e->wd = wd;
        e->path = NULL;
        w->_dirs_count++;
    }
    free(e->path);
    e->path = copy;
    e->epoch = w->_epoch;
    return 0;
}

static void dir_remove(eddy_fs_watch_t *w, dir_t *e)
{
    size_t mask = w->_dirs_cap - 1, hole = (size_t)(e - w->_dirs);
    free(e->path);
    e->path = NULL;
    e->wd = 0;
    w->_dirs_count--;
    /* Backward shift: an entry moves into the hole if the hole lies on its probe path. */
    for (size_t j = (hole + 1) & mask; w->_dirs[j].wd != 0; j = (j + 1) & mask) {
        size_t home = home_of(w->_dirs_cap, w->_dirs[j].wd);
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            w->_dirs[hole] = w->_dirs[j];
            w->_dirs[j].wd = 0;
            w->_dirs[j].path = NULL;
            hole = j;
        }
    }
}

/* Is path `dir` itself or below it? */
static bool is_within(const char *path, const char *dir, size_t dir_len)
{
    if (dir_len == 0)
        return true;
    return strncmp(path, dir, dir_len) == 0 && (path[dir_len] == '\0' || path[dir_len] == '/');
}

/* Forgets `rel` and every watched directory below it, removing the kernel's watches too
 * (a directory moved out of the tree is still watched by inode otherwise). */
static void forget_subtree(eddy_fs_watch_t *w, const char *rel)
{
    size_t len = strlen(rel), n = 0;
    int *wds = malloc((w->_dirs_count + 1) * sizeof *wds);
    if (wds == NULL)
        return; /* the watches stay; their IN_IGNORED or a later resync cleans up */
    for (size_t i = 0; i < w->_dirs_cap; i++)
        if (w->_dirs[i].wd != 0 && is_within(w->_dirs[i].path, rel, len))
            wds[n++] = w->_dirs[i].wd;
    for (size_t i = 0; i < n; i++) {
        inotify_rm_watch(w->_io._fd, wds[i]);
        dir_remove(w, dir_find(w, wds[i]));
    }
    free(wds);
}

/* A watched directory was renamed within the tree: it and its descendants get the new path. */
static void rename_subtree(eddy_fs_watch_t *w, const char *from, const char *to)
{
    size_t from_len = strlen(from), to_len = strlen(to);
    for (size_t i = 0; i < w->_dirs_cap; i++) {
        dir_t *e = &w->_dirs[i];
        if (e->wd == 0 || !is_within(e->path, from, from_len))
            continue;
        size_t rest = strlen(e->path + from_len);
        char *p = malloc(to_len + rest + 1);
        if (p == NULL)
            continue; /* a stale path until the next resync beats losing the watch */
        memcpy(p, to, to_len);
        memcpy(p + to_len, e->path + from_len, rest + 1);
        free(e->path);
        e->path = p;
    }
}

/* ---- paths -------------------------------------------------------------------------------- */

/* dir/name, or name when dir is the root (""); NULL when out of memory. */
static char *join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (p == NULL)
        return NULL;
    if (a) {
        memcpy(p, dir, a);
        p[a++] = '/';
    }
    memcpy(p + a, name, b + 1);
    return p;
}

/* The absolute path of rel (relative to the root). */
static char *absolute(const eddy_fs_watch_t *w, const char *rel)
{
    if (rel[0] == '\0')
        return strdup(w->_root);
    size_t a = w->_root[1] ? strlen(w->_root) : 0, b = strlen(rel); /* a root "/" adds no '/' */
    char *p = malloc(a + b + 2);
    if (p == NULL)
        return NULL;
    memcpy(p, w->_root, a);
    p[a] = '/';
    memcpy(p + a + 1, rel, b + 1);
    return p;
}

static bool is_root(const dir_t *e)
{
    return e->path[0] == '\0';
}

/* Errors that mean "it is gone or is no longer a directory": its deletion is reported on its
 * own, so a walk skips it quietly. */
static bool vanished(int err)
{
    return err == -ENOENT || err == -ENOTDIR || err == -ELOOP;
}

/* ---- events ------------------------------------------------------------------------------- */

/* Calls the user back; false when the callback stopped, restarted or closed the watcher. */
static bool emit(batch_t *b, eddy_fs_event_type type, const char *path, const char *from,
                 int is_dir, int status)
{
    eddy_fs_event_t ev = {
        .type = type, .status = status, .is_dir = is_dir != 0, .path = path, .from_path = from};
    b->w->_cb(b->w, &ev);
    return b->w->_gen == b->gen;
}

/* The root was deleted, moved away or unmounted: the watcher stops, then says so. */
static void root_gone(batch_t *b, eddy_fs_event_type type)
{
    int is_dir = b->w->_root_is_dir;
    eddy_fs_watch_stop(b->w);
    const char *from = type == EDDY_FS_EVENT_RENAME ? "" : NULL;
    eddy_fs_event_t ev = {.type = type, .is_dir = is_dir, .path = "", .from_path = from};
    b->w->_cb(b->w, &ev);
}

/* Adds (or refreshes) the watch on directory rel. *fresh is false if the walk of this epoch
 * met the directory already: listed (and reported) under this path, or an alias of it (a bind
 * mount) that must not be walked twice. */
static int watch_dir(eddy_fs_watch_t *w, const char *rel, bool *fresh)
{
    char *abs = absolute(w, rel);
    if (abs == NULL)
        return -ENOMEM;
    uint32_t mask = DIR_MASK | (rel[0] ? IN_DONT_FOLLOW : 0);
    int wd = inotify_add_watch(w->_io._fd, abs, mask);
    int err = wd < 0 ? -errno : 0;
    free(abs);
    if (err)
        return err;
    dir_t *e = dir_find(w, wd);
    *fresh = e == NULL || e->epoch != w->_epoch;
    return *fresh ? dir_put(w, wd, rel) : 0;
}

/* Is the entry a directory (not following symbolic links)? */
static bool entry_is_dir(DIR *d, const struct dirent *de)
{
    if (de->d_type != DT_UNKNOWN)
        return de->d_type == DT_DIR;
    struct stat st;
    return fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

/* A stack of relative paths still to list. */
typedef struct {
    char **items;
    size_t count, cap;
} todo_t;

static int todo_push(todo_t *t, char *path)
{
    if (t->count == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **items = realloc(t->items, cap * sizeof *items);
        if (items == NULL)
            return -ENOMEM;
        t->items = items;
        t->cap = cap;
    }
    t->items[t->count++] = path;
    return 0;
}

static void todo_free(todo_t *t)
{
    while (t->count)
        free(t->items[--t->count]);
    free(t->items);
}

/* Keeps an error met at start, to report from the loop's next pending phase. */
static int defer_error(eddy_fs_watch_t *w, const char *rel, int status)
{
    struct eddy__fs_watch_error *errors =
        realloc(w->_errors, (w->_errors_count + 1) * sizeof *errors);
    if (errors == NULL)
        return -ENOMEM;
    w->_errors = errors;
    errors[w->_errors_count].status = status;
    errors[w->_errors_count].path = strdup(rel);
    if (errors[w->_errors_count].path == NULL)
        return -ENOMEM;
    w->_errors_count++;
    return 0;
}

/* A directory of the tree that cannot be watched or listed. At start, running out of
 * resources fails the start and anything else (a directory we may not read) is reported from
 * the loop; later, it is reported at once. Returns 0, a negative errno, or 1 (stopped). */
static int walk_error(batch_t *b, const char *rel, int err, walk_mode mode)
{
    if (vanished(err))
        return 0; /* gone, or no longer a directory: its deletion is reported on its own */
    if (mode != WALK_START)
        return emit(b, EDDY_FS_EVENT_ERROR, rel, NULL, 1, err) ? 0 : 1;
    if (err == -ENOSPC || err == -ENOMEM || err == -EMFILE || err == -ENFILE)
        return err;
    return defer_error(b->w, rel, err);
}

/* Handles one entry `rel` (taken over) found while listing a directory. Returns 0, a negative
 * errno (only at start, which fails with it), or 1 when the callback stopped the watcher. */
static int walk_entry(batch_t *b, todo_t *todo, char *rel, bool is_dir, walk_mode mode)
{
    int err = 0, ret = 0;
    bool fresh = true, pushed = false;
    if (is_dir) {
        err = watch_dir(b->w, rel, &fresh);
        if (err == 0 && fresh) {
            err = todo_push(todo, rel);
            pushed = err == 0;
        }
    }
    /* A directory met already in this epoch was reported, with its contents, back then. */
    if (mode == WALK_NEW && fresh && !emit(b, EDDY_FS_EVENT_CREATE, rel, NULL, is_dir, 0))
        ret = 1;
    else if (err)
        ret = walk_error(b, rel, err, mode);
    if (!pushed)
        free(rel);
    return ret;
}

/* Lists the directory rel (already watched) and everything below it, watching each
 * directory before listing it so that nothing created meanwhile goes unseen. */
static int walk(batch_t *b, const char *rel, walk_mode mode)
{
    todo_t todo = {0};
    char *first = strdup(rel);
    int ret = first ? todo_push(&todo, first) : -ENOMEM;
    if (ret)
        free(first);
    while (ret == 0 && todo.count) {
        char *dir = todo.items[--todo.count];
        char *abs = absolute(b->w, dir);
        DIR *d = abs ? opendir(abs) : NULL;
        int err = d ? 0 : abs ? -errno : -ENOMEM;
        free(abs);
        if (err)
            ret = walk_error(b, dir, err, mode);
        for (struct dirent *de; ret == 0 && d && (de = readdir(d));) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            char *child = join(dir, de->d_name);
            ret = child ? walk_entry(b, &todo, child, entry_is_dir(d, de), mode)
                        : walk_error(b, dir, -ENOMEM, mode);
        }
        if (d)
            closedir(d);
        free(dir);
    }
    todo_free(&todo);
    return ret;
}

/* A directory appeared at rel (created or moved in): watch it, report it, and report what it
 * already holds. Returns false when the callback stopped the watcher. */
static bool new_dir(batch_t *b, const char *rel)
{
    bool fresh = true;
    int err = watch_dir(b->w, rel, &fresh);
    if (!err && !fresh)
        return true; /* listed already, by the walk of its parent */
    if (!emit(b, EDDY_FS_EVENT_CREATE, rel, NULL, 1, 0))
        return false;
    if (err)
        return vanished(err) || emit(b, EDDY_FS_EVENT_ERROR, rel, NULL, 1, err);
    return walk(b, rel, WALK_NEW) == 0;
}

/* After an overflow: walk the whole tree again, then drop the watches the walk did not meet
 * (directories that left the tree while events were lost). */
static bool resync(batch_t *b)
{
    eddy_fs_watch_t *w = b->w;
    w->_epoch++;
    bool fresh;
    int err = watch_dir(w, "", &fresh);
    if (vanished(err)) {
        root_gone(b, EDDY_FS_EVENT_DELETE);
        return false;
    }
    if (err)
        return emit(b, EDDY_FS_EVENT_ERROR, "", NULL, 1, err);
    if (walk(b, "", WALK_RESYNC) != 0)
        return w->_gen == b->gen;
    size_t n = 0;
    int *stale = malloc((w->_dirs_count + 1) * sizeof *stale);
    if (stale == NULL)
        return true; /* the stale watches stay until their IN_IGNORED or the next resync */
    for (size_t i = 0; i < w->_dirs_cap; i++)
        if (w->_dirs[i].wd != 0 && w->_dirs[i].epoch != w->_epoch)
            stale[n++] = w->_dirs[i].wd;
    for (size_t i = 0; i < n; i++) {
        inotify_rm_watch(w->_io._fd, stale[i]);
        dir_remove(w, dir_find(w, stale[i]));
    }
    free(stale);
    return true;
}

/* A name left the tree (moved out, or its other half was never seen). */
static bool moved_out(batch_t *b, const char *rel, int is_dir)
{
    if (is_dir && (b->w->_flags & EDDY_FS_WATCH_RECURSIVE))
        forget_subtree(b->w, rel);
    return emit(b, EDDY_FS_EVENT_DELETE, rel, NULL, is_dir, 0);
}

/* A name entered the tree from outside (or its other half was never seen). */
static bool moved_in(batch_t *b, const char *rel, int is_dir)
{
    if (is_dir && (b->w->_flags & EDDY_FS_WATCH_RECURSIVE))
        return new_dir(b, rel);
    return emit(b, EDDY_FS_EVENT_CREATE, rel, NULL, is_dir, 0);
}

/* Both halves of a rename were seen. */
static bool renamed(batch_t *b, const char *from, const char *to, int is_dir)
{
    if (is_dir && (b->w->_flags & EDDY_FS_WATCH_RECURSIVE))
        rename_subtree(b->w, from, to);
    return emit(b, EDDY_FS_EVENT_RENAME, to, from, is_dir, 0);
}

static const struct inotify_event *event_at(const char *buf, size_t off)
{
    return (const struct inotify_event *)(const void *)(buf + off);
}

/* Finds, from offset off on, the IN_MOVED_TO with this cookie; returns its offset or -1. */
static ssize_t find_moved_to(const char *buf, size_t len, size_t off, uint32_t cookie)
{
    while (off < len) {
        const struct inotify_event *ev = event_at(buf, off);
        if ((ev->mask & IN_MOVED_TO) && ev->cookie == cookie)
            return (ssize_t)off;
        off += sizeof *ev + ev->len;
    }
    return -1;
}

/* The relative path of the IN_MOVED_TO at offset `at`, and marks it consumed (mask 0). */
static char *take_moved_to(eddy_fs_watch_t *w, char *buf, size_t at)
{
    struct inotify_event *to = (struct inotify_event *)(void *)(buf + at);
    to->mask = 0;
    dir_t *e = dir_find(w, to->wd);
    return e ? join(e->path, to->name) : NULL;
}

/* An IN_MOVED_FROM: paired with its IN_MOVED_TO later in the batch, carried to the next
 * read when it is the batch's last event, otherwise reported as moved out. */
static bool moved_from(batch_t *b, char *rel, const struct inotify_event *ev, size_t next,
                       size_t len)
{
    eddy_fs_watch_t *w = b->w;
    int is_dir = (ev->mask & IN_ISDIR) != 0;
    ssize_t at = find_moved_to(w->_buf, len, next, ev->cookie);
    if (at >= 0) {
        char *to = take_moved_to(w, w->_buf, (size_t)at);
        bool ok = to ? renamed(b, rel, to, is_dir) : moved_out(b, rel, is_dir);
        free(to);
        return ok;
    }
    if (next >= len && w->_carry_path == NULL) {
        w->_carry_path = strdup(rel);
        w->_carry_cookie = ev->cookie;
        w->_carry_is_dir = is_dir;
        if (w->_carry_path != NULL)
            return true;
    }
    return moved_out(b, rel, is_dir);
}

/* Resolves a MOVED_FROM carried from the previous read against this batch (len 0: there is
 * no further batch, so it left the tree). */
static bool resolve_carry(batch_t *b, size_t len)
{
    eddy_fs_watch_t *w = b->w;
    char *from = w->_carry_path;
    int is_dir = w->_carry_is_dir;
    if (from == NULL)
        return true;
    w->_carry_path = NULL;
    ssize_t at = len ? find_moved_to(w->_buf, len, 0, w->_carry_cookie) : -1;
    char *to = at >= 0 ? take_moved_to(w, w->_buf, (size_t)at) : NULL;
    bool ok = to ? renamed(b, from, to, is_dir) : moved_out(b, from, is_dir);
    free(to);
    free(from);
    return ok;
}

/* An event that names an entry of the watched directory e. */
static bool named_event(batch_t *b, const dir_t *e, const struct inotify_event *ev, size_t next,
                        size_t len)
{
    char *rel = join(e->path, ev->name);
    if (rel == NULL)
        return emit(b, EDDY_FS_EVENT_ERROR, e->path, NULL, 1, -ENOMEM);
    int is_dir = (ev->mask & IN_ISDIR) != 0;
    bool ok = true;
    if (ev->mask & IN_CREATE)
        ok = moved_in(b, rel, is_dir);
    else if (ev->mask & IN_DELETE)
        ok = emit(b, EDDY_FS_EVENT_DELETE, rel, NULL, is_dir, 0);
    else if (ev->mask & IN_MODIFY)
        ok = emit(b, EDDY_FS_EVENT_MODIFY, rel, NULL, is_dir, 0);
    else if (ev->mask & IN_ATTRIB)
        ok = emit(b, EDDY_FS_EVENT_ATTRIB, rel, NULL, is_dir, 0);
    else if (ev->mask & IN_MOVED_FROM)
        ok = moved_from(b, rel, ev, next, len);
    else if (ev->mask & IN_MOVED_TO)
        ok = moved_in(b, rel, is_dir);
    free(rel);
    return ok;
}

/* An event about a watched directory (or the watched file) itself. */
static bool self_event(batch_t *b, dir_t *e, uint32_t mask)
{
    if (mask & IN_IGNORED) {
        if (!is_root(e)) {
            dir_remove(b->w, e);
            return true;
        }
        root_gone(b, EDDY_FS_EVENT_DELETE); /* unmounted, or removed behind our back */
        return false;
    }
    /* A subdirectory's own changes are reported by its parent, under its name. */
    if (!is_root(e))
        return true;
    if (mask & (IN_DELETE_SELF | IN_UNMOUNT)) {
        root_gone(b, EDDY_FS_EVENT_DELETE);
        return false;
    }
    if (mask & IN_MOVE_SELF) {
        root_gone(b, EDDY_FS_EVENT_RENAME);
        return false;
    }
    if (mask & IN_MODIFY)
        return emit(b, EDDY_FS_EVENT_MODIFY, "", NULL, b->w->_root_is_dir, 0);
    if (mask & IN_ATTRIB)
        return emit(b, EDDY_FS_EVENT_ATTRIB, "", NULL, b->w->_root_is_dir, 0);
    return true;
}

/* Dispatches one batch of len bytes; false when the watcher was stopped meanwhile. */
static bool dispatch(batch_t *b, size_t len)
{
    eddy_fs_watch_t *w = b->w;
    if (!resolve_carry(b, len))
        return false;
    for (size_t off = 0; off < len;) {
        const struct inotify_event *ev = event_at(w->_buf, off);
        off += sizeof *ev + ev->len;
        if (ev->mask == 0)
            continue; /* the second half of a rename already reported */
        if (ev->mask & IN_Q_OVERFLOW) {
            if (!emit(b, EDDY_FS_EVENT_OVERFLOW, "", NULL, w->_root_is_dir, 0))
                return false;
            if ((w->_flags & EDDY_FS_WATCH_RECURSIVE) && w->_root_is_dir && !resync(b))
                return false;
            continue;
        }
        dir_t *e = dir_find(w, ev->wd);
        if (e == NULL)
            continue; /* a watch already forgotten (moved out, swept) */
        bool ok = ev->len ? named_event(b, e, ev, off, len) : self_event(b, e, ev->mask);
        if (!ok)
            return false;
    }
    return true;
}

static void watch_io_cb(eddy_loop_t *loop, eddy_io_t *io, unsigned revents)
{
    batch_t b = {.w = eddy_container_of(io, eddy_fs_watch_t, _io)};
    b.gen = b.w->_gen;
    for (;;) {
        ssize_t n = read(io->_fd, b.w->_buf, BATCH_SIZE);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int err = n < 0 && errno != EAGAIN ? -errno : 0;
            if (!resolve_carry(&b, 0))
                return;
            if (err)
                emit(&b, EDDY_FS_EVENT_ERROR, "", NULL, b.w->_root_is_dir, err);
            return; /* drained until EAGAIN, as the edge-triggered backend requires */
        }
        if (!dispatch(&b, (size_t)n))
            return;
    }
}

/* ---- the handle --------------------------------------------------------------------------- */

static void free_errors(eddy_fs_watch_t *w)
{
    for (size_t i = 0; i < w->_errors_count; i++)
        free(w->_errors[i].path);
    free(w->_errors);
    w->_errors = NULL;
    w->_errors_count = 0;
}

/* Releases everything a start acquired; closing the instance drops all its kernel watches. */
static void release(eddy_fs_watch_t *w)
{
    if (w->_io._fd >= 0) {
        eddy__backend_unwatch(w->handle.loop, &w->_io);
        close(w->_io._fd);
        w->_io._fd = -1;
    }
    for (size_t i = 0; i < w->_dirs_cap; i++)
        free(w->_dirs[i].path);
    free(w->_dirs);
    w->_dirs = NULL;
    w->_dirs_cap = 0;
    w->_dirs_count = 0;
    free(w->_buf);
    w->_buf = NULL;
    free(w->_root);
    w->_root = NULL;
    free(w->_carry_path);
    w->_carry_path = NULL;
    eddy__pending_remove(&w->_pending);
    free_errors(w);
}

/* Reports the errors a start met (directories it could not watch), in the pending phase. */
static void report_deferred(eddy_loop_t *loop, eddy_pending_t *p)
{
    batch_t b = {.w = eddy_container_of(p, eddy_fs_watch_t, _pending)};
    b.gen = b.w->_gen;
    for (size_t i = 0; i < b.w->_errors_count; i++) {
        const struct eddy__fs_watch_error *e = &b.w->_errors[i];
        if (!emit(&b, EDDY_FS_EVENT_ERROR, e->path, NULL, 1, e->status))
            return; /* the stop or restart released (or replaced) the list */
    }
    free_errors(b.w);
}

static void watch_close(eddy_handle_t *h)
{
    eddy_fs_watch_stop(eddy_container_of(h, eddy_fs_watch_t, handle));
}

static const struct eddy__handle_ops watch_ops = {.close = watch_close};

EDDY_EXPORT int eddy_fs_watch_init(eddy_loop_t *loop, eddy_fs_watch_t *w)
{
    eddy__handle_init(loop, &w->handle, EDDY_HANDLE_FS_WATCH, &watch_ops);
    w->_cb = NULL;
    w->_flags = 0;
    w->_epoch = 0;
    w->_gen = 0;
    w->_root_is_dir = 0;
    w->_root = NULL;
    eddy__io_init(&w->_io, -1, watch_io_cb);
    w->_buf = NULL;
    w->_dirs = NULL;
    w->_dirs_cap = 0;
    w->_dirs_count = 0;
    w->_carry_cookie = 0;
    w->_carry_is_dir = 0;
    w->_carry_path = NULL;
    eddy__queue_init(&w->_pending._node);
    w->_errors = NULL;
    w->_errors_count = 0;
    return 0;
}

/* Watches the root (and, recursively, its tree); the instance is already open. */
static int watch_root(eddy_fs_watch_t *w)
{
    if (!w->_root_is_dir) {
        int wd = inotify_add_watch(w->_io._fd, w->_root, FILE_MASK);
        return wd < 0 ? -errno : dir_put(w, wd, "");
    }
    bool fresh;
    int err = watch_dir(w, "", &fresh);
    if (err || !(w->_flags & EDDY_FS_WATCH_RECURSIVE))
        return err;
    batch_t b = {.w = w, .gen = w->_gen};
    return walk(&b, "", WALK_START);
}

EDDY_EXPORT int eddy_fs_watch_start(eddy_fs_watch_t *w, const char *path, unsigned flags,
                                    eddy_fs_watch_cb cb)
{
    if (cb == NULL || path == NULL || path[0] == '\0' || eddy_is_closing(&w->handle) ||
        (flags & ~(unsigned)EDDY_FS_WATCH_RECURSIVE))
        return -EINVAL;
    eddy_fs_watch_stop(w);
    w->_cb = cb;
    w->_flags = flags;
    w->_epoch = 1;
    struct stat st;
    w->_root = realpath(path, NULL);
    int err = w->_root == NULL || stat(w->_root, &st) != 0 ? -errno : 0;
    if (err == 0) {
        w->_root_is_dir = S_ISDIR(st.st_mode);
        w->_buf = malloc(BATCH_SIZE);
        int fd = w->_buf ? inotify_init1(IN_NONBLOCK | IN_CLOEXEC) : -1;
        err = w->_buf == NULL ? -ENOMEM : fd < 0 ? -errno : 0;
        eddy__io_init(&w->_io, fd, watch_io_cb);
    }
    if (err == 0)
        err = watch_root(w);
    if (err == 0)
        err = eddy__backend_watch(w->handle.loop, &w->_io, EDDY__IO_READ);
    if (err) {
        release(w);
        return err;
    }
    w->_gen++;
    eddy__handle_start(&w->handle);
    if (w->_errors_count)
        eddy__pending_add(w->handle.loop, &w->_pending, report_deferred);
    return 0;
}

EDDY_EXPORT int eddy_fs_watch_stop(eddy_fs_watch_t *w)
{
    if (w->_root == NULL && w->_io._fd < 0)
        return 0;
    release(w);
    w->_gen++;
    eddy__handle_stop(&w->handle);
    return 0;
}

EDDY_EXPORT const char *eddy_fs_watch_path(const eddy_fs_watch_t *w)
{
    return w->_root;
}

EDDY_EXPORT const char *eddy_fs_event_type_name(eddy_fs_event_type type)
{
    switch (type) {
    case EDDY_FS_EVENT_CREATE: return "create";
    case EDDY_FS_EVENT_MODIFY: return "modify";
    case EDDY_FS_EVENT_ATTRIB: return "attrib";
    case EDDY_FS_EVENT_DELETE: return "delete";
    case EDDY_FS_EVENT_RENAME: return "rename";
    case EDDY_FS_EVENT_OVERFLOW: return "overflow";
    case EDDY_FS_EVENT_ERROR: return "error";
    default: return "unknown";
    }
}
