/* File system watchers: events with their relative paths, renames, recursion that follows new,
 * renamed and deleted directories, overflow, the root going away, stop and close mid-batch,
 * watch limits (in a user namespace of our own, so no system setting changes). */
#include "harness.h"

#include <eddy.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/capability.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define LOG_MAX 1024
#define TIMEOUT_MS 5000

/* Each test case runs in its own process: one fixture per process is enough. */
static struct {
    eddy_loop_t loop;
    eddy_fs_watch_t w;
    eddy_timer_t timeout;
    eddy_immediate_t ops;
    char root[64];
    char outside[64]; /* a sibling directory, for moves into and out of the tree */
    char *log[LOG_MAX];
    size_t count; /* every event, also those past LOG_MAX */
    size_t overflows;
    int fds;      /* open descriptors before the test */
    int fds_loop; /* and once the loop is initialised */
    bool timed_out;
} t;

/* ---- files -------------------------------------------------------------------------------- */

static const char *at(const char *rel)
{
    static char buf[4][PATH_MAX];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", t.root, rel);
    return buf[i];
}

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
}

static void mkdir_p(const char *path)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0755);
            *p = '/';
        }
    }
    CHECK(mkdir(tmp, 0755) == 0 || errno == EEXIST);
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    return remove(path);
}

static void rm_rf(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- the fixture -------------------------------------------------------------------------- */

static void on_event(eddy_fs_watch_t *w, const eddy_fs_event_t *ev)
{
    t.overflows += ev->type == EDDY_FS_EVENT_OVERFLOW;
    eddy_stop(&t.loop); /* the iteration does not block in poll: run_until checks at once */
    if (t.count++ >= LOG_MAX)
        return;
    const char *slash = ev->is_dir ? "/" : "";
    char line[2 * PATH_MAX + 64];
    if (ev->type == EDDY_FS_EVENT_RENAME)
        snprintf(line, sizeof line, "rename %s%s -> %s%s", ev->from_path[0] ? ev->from_path : ".",
                 slash, ev->path[0] ? ev->path : ".", slash);
    else
        snprintf(line, sizeof line, "%s %s%s", eddy_fs_event_type_name(ev->type),
                 ev->path[0] ? ev->path : ".", slash);
    if (ev->type == EDDY_FS_EVENT_ERROR)
        snprintf(line + strlen(line), sizeof line - strlen(line), " %s", eddy_err_name(ev->status));
    t.log[t.count - 1] = strdup(line);
}

static void on_timeout(eddy_timer_t *timer)
{
    t.timed_out = true;
    eddy_stop(timer->handle.loop);
}

/* Makes a fresh tree under /tmp, a loop and a stopped watcher. */
static void setup(void)
{
    t.fds = test_open_fds();
    snprintf(t.root, sizeof t.root, "/tmp/eddy_watch_XXXXXX");
    CHECK(mkdtemp(t.root) != NULL);
    snprintf(t.outside, sizeof t.outside, "/tmp/eddy_watch_out_XXXXXX");
    CHECK(mkdtemp(t.outside) != NULL);
    CHECK_EQ(eddy_loop_init(&t.loop), 0);
    t.fds_loop = test_open_fds();
    CHECK_EQ(eddy_fs_watch_init(&t.loop, &t.w), 0);
    eddy_timer_init(&t.loop, &t.timeout);
    eddy_immediate_init(&t.loop, &t.ops);
}

static void print_log(void)
{
    fprintf(stderr, "events (%zu):\n", t.count);
    for (size_t i = 0; i < t.count && i < LOG_MAX; i++)
        fprintf(stderr, "  %s\n", t.log[i]);
}

static void clear_log(void)
{
    for (size_t i = 0; i < t.count && i < LOG_MAX; i++)
        free(t.log[i]);
    t.count = 0;
    t.overflows = 0;
}

static bool logged(const char *line)
{
    for (size_t i = 0; i < t.count && i < LOG_MAX; i++)
        if (strcmp(t.log[i], line) == 0)
            return true;
    return false;
}

/* Does the log hold `expect` (NULL-terminated) in this order, other events in between? */
static bool has_sequence(const char *const *expect)
{
    size_t k = 0;
    for (size_t i = 0; i < t.count && i < LOG_MAX && expect[k]; i++)
        if (strcmp(t.log[i], expect[k]) == 0)
            k++;
    return expect[k] == NULL;
}

/* Runs the loop until done() holds, or TIMEOUT_MS passed; returns done(). */
static bool run_until(bool (*done)(const void *), const void *arg)
{
    t.timed_out = false;
    eddy_timer_start(&t.timeout, on_timeout, TIMEOUT_MS, 0);
    while (!done(arg) && !t.timed_out && eddy_loop_alive(&t.loop))
        eddy_run(&t.loop, EDDY_RUN_ONCE);
    eddy_timer_stop(&t.timeout);
    return done(arg);
}

static bool sequence_done(const void *expect)
{
    return has_sequence(expect);
}

/* Runs the loop until the expected events arrived in order, or fails after TIMEOUT_MS. */
static void wait_for(const char *const *expect)
{
    if (!run_until(sequence_done, expect)) {
        fprintf(stderr, "expected, in order:\n");
        for (size_t k = 0; expect[k]; k++)
            fprintf(stderr, "  %s\n", expect[k]);
        print_log();
        CHECK(!"the expected events did not arrive");
    }
}

/* Runs fn from an immediate (the loop is running, the watcher started), then waits for
 * `expect`. */
static void (*ops_fn)(void);
static void run_ops(eddy_immediate_t *imm)
{
    ops_fn();
}

static void after(void (*fn)(void), const char *const *expect)
{
    ops_fn = fn;
    eddy_immediate_start(&t.ops, run_ops);
    wait_for(expect);
}

/* Closes everything, checks that the loop closes and no descriptor leaked, removes the tree. */
static void teardown(void)
{
    eddy_close(&t.w.handle, NULL);
    eddy_close(&t.timeout.handle, NULL);
    eddy_close(&t.ops.handle, NULL);
    eddy_run(&t.loop, EDDY_RUN_DEFAULT);
    CHECK(eddy_loop_close(&t.loop) == 0);
    clear_log();
    rm_rf(t.root);
    rm_rf(t.outside);
    CHECK_EQ(test_open_fds(), t.fds);
}

#define SEQ(...) ((const char *const[]){__VA_ARGS__, NULL})

/* ---- one directory ------------------------------------------------------------------------ */

static void ops_basic(void)
{
    write_file(at("a.txt"), "hello");
    CHECK(chmod(at("a.txt"), 0600) == 0);
    CHECK(mkdir(at("d"), 0755) == 0);
    CHECK(unlink(at("a.txt")) == 0);
    CHECK(rmdir(at("d")) == 0);
}

/* Create, modify, attributes and delete, with names and the directory flag. */
static void create_modify_delete(void)
{
    setup();
    CHECK_EQ(eddy_fs_watch_start(&t.w, t.root, 0, on_event), 0);
    CHECK(eddy_is_active(&t.w.handle));
    CHECK(strcmp(eddy_fs_watch_path(&t.w), t.root) == 0);
    after(ops_basic, SEQ("create a.txt", "modify a.txt", "attrib a.txt", "create d/",
                         "delete a.txt", "delete d/"));
    teardown();
}

static void ops_rename(void)
{
    write_file(at("a"), "x");
    CHECK(rename(at("a"), at("b")) == 0);
    char out[PATH_MAX], in[PATH_MAX];
    snprintf(out, sizeof out, "%s/b", t.outside);
    CHECK(rename(at("b"), out) == 0); /* moved out of the tree */
    snprintf(in, sizeof in, "%s/c", t.outside);
    write_file(in, "y");
    CHECK(rename(in, at("c")) == 0); /* moved in */
}

/* A rename inside the tree pairs both halves; a move out is a delete, a move in a create. */
static void rename_pairs_and_halves(void)
{
    setup();
    CHECK_EQ(eddy_fs_watch_start(&t.w, t.root, 0, on_event), 0);
    after(ops_rename, SEQ("create a", "rename a -> b", "delete b", "create c"));
    CHECK(!logged("delete a"));
    teardown();
}

/* Bad starts fail cleanly, leave the watcher stopped and leak nothing. */
static void start_errors(void)
{
    setup();
    CHECK_EQ(eddy_fs_watch_start(&t.w, at("missing"), 0, on_event), -ENOENT);
    CHECK_EQ(eddy_fs_watch_start(&t.w, at("missing/deeper"), EDDY_FS_WATCH_RECURSIVE, on_event),
             -ENOENT);
    CHECK_EQ(eddy_fs_watch_start(&t.w, t.root, 0, NULL), -EINVAL);
    CHECK_EQ(eddy_fs_watch_start(&t.w, t.root, 1u << 7, on_event), -EINVAL);
    CHECK(!eddy_is_active(&t.w.handle));
    CHECK(eddy_fs_watch_path(&t.w) == NULL);
    CHECK_EQ(eddy_fs_watch_stop(&t.w), 0);
    CHECK_EQ(test_open_fds(), t.fds_loop);
    teardown();
}

static void ops_sentinel(void)
{
    write_file(at("sentinel"), "");
}

static void ops_grandchild(void)
{
    write_file(at("sub/grandchild"), "x");
    CHECK(mkdir(at("sub/deeper"), 0755) == 0);
    write_file(at("child"), "x");
}

/* Without EDDY_FS_WATCH_RECURSIVE only the directory's own entries are reported. */
static void nonrecursive_skips_grandchildren(void)
{
    setup();
    CHECK(mkdir(at("sub"), 0755) == 0);
    CHECK_EQ(eddy_fs_watch_start(&t.w, t.root, 0, on_event), 0);
    after(ops_grandchild, SEQ("create child"));
    for (size_t i = 0; i < t.count; i++)
        CHECK(strstr(t.log[i], "grandchild") == NULL && strstr(t.log[i], "deeper") == NULL);
    CHECK_EQ(t.w._dirs_count, 1);
    teardown();
}

/* ---- recursion ---------------------------------------------------------------------------- */

static void ops_nested(void)
{
    write_file(at("a/b/c/f.txt"), "x");
    write_file(at("a/x"), "x");
    CHECK(unlink(at("a/b/c/f.txt")) == 0);
}

/* Directories that exist at start are all watched. */
static void recursive_existing_tree(void)
{
    setup();
    mkdir_p(at("a/b/c"));
    mkdir_p(at("e/f"));
    CHECK_EQ(eddy_fs_watch_start(&t.w, t.root, EDDY_FS_WATCH_RECURSIVE, on_event), 0);
    CHECK_EQ(t.w._dirs_count, 6);
    after(ops_nested,
          SEQ("create a/b/c/f.txt", "modify a/b/c/f.txt", "create a/x", "delete a/b/c/f.txt"));
    teardown();
}

static void ops_new_subdir(void)
{
    /* The file may well exist before the watcher saw the directory: the listing reports it. */
    CHECK(mkdir(at("new"), 0755) == 0);
    write_file(at("new/f.txt"), "x");
}

static void ops_new_subdir_later(void)
{
    write_file(at("new/g.txt"), "x");
}

/* A directory created after the start is followed, and so are files created in it. */
static void recursive_new_subdir(void)
{
    setup();
    CHECK_EQ(eddy_fs_watch_start(&t.w, t.root, EDDY_FS_WATCH_RECURSIVE, on_event), 0);
    after(ops_new_subdir, SEQ("create new/", "create new/f.txt"));
    after(ops_new_subdir_later, SEQ("create new/g.txt", "modify new/g.txt"));
    CHECK_EQ(t.w._dirs_count, 2);
    teardown();
}

static void ops_mkdir_deep(void)
{
    mkdir_p(at("d1/d2/d3/d4/d5/d6/d7/d8"));
    write_file(at("d1/d2/d3/d4/d5/d6/d7/d8/deep.txt"), "x");
    write_file(at("d1/d2/mid.txt"), "x");
}

/* mkdir -p of a deep tree, then files inside: every level and both files are reported, each
 * directory once. */
static void recursive_mkdir_p(void)
{
    setup();
    CHECK_EQ(eddy_fs_watch_start(&t.w, t.root, EDDY_FS_WATCH_RECURSIVE, on_event), 0);
    after(ops_mkdir_deep,
          SEQ("create d1/", "create d1/d2/", "create d1/d2/d3/", "create d1/d2/d3/d4/",
              "create d1/d2/d3/d4/d5/", "create d1/d2/d3/d4/d5/d6/", "create d1/d2/d3/d4/d5/d6/d7/",
              "create d1/d2/d3/d4/d5/d6/d7/d8/"));
    after(ops_sentinel, SEQ("create sentinel"));
    CHECK(logged("create d1/d2/d3/d4/d5/d6/d7/d8/deep.txt"));
    CHECK(logged("create d1/d2/mid.txt"));
    size_t dirs = 0;
    for (size_t i = 0; i < t.count; i++)
        dirs += strncmp(t.log[i], "create", 6) == 0 && t.log[i][strlen(t.log[i]) - 1] == '/';
    CHECK_EQ(dirs, 8);
    CHECK_EQ(t.w._dirs_count, 9);
    teardown();
}

static void ops_rename_subdir(void)
{
    CHECK(rename(at("old"), at("new")) == 0);
}

static void ops_in_renamed(void)
{
    write_file(at("new/inner/f"), "x");
    CHECK(rename(at("new/inner/f"), at("new/g")) == 0);
}

/* A renamed subdirectory's later events (and its descendants') carry the new path. */
static void recursive_renamed_subdir(void)
{
    setup();
    mkdir_p(at("old/inner"));
    CHECK_EQ(eddy_fs_watch_start(&t.w, t.root, EDDY_FS_WATCH_RECURSIVE, on_event), 0);
    after(ops_rename_subdir, SEQ("rename old/ -> new/"));
    after(ops_in_renamed, SEQ("create new/inner/f", "rename new/inner/f -> new/g"));
    for (size_t i = 0; i < t.count; i++)
        CHECK(strstr(t.log[i], "old/inner") == NULL);
    CHECK_EQ(t.w._dirs_count, 3);
    teardown();
}

static void ops_rm_subtree(void)
{
    rm_rf(at("t"));
}

/* Deleting a subtree reports each entry, and its watches are forgotten. */
static void recursive_delete_subtree(void)
{
    setup();
    mkdir_p(at("t/a/b"));
    write_file(at("t/a/b/f"), "x");
    write_file(at("t/top"), "x");
    CHECK_EQ(eddy_fs_watch_start(&t.w, t.root, EDDY_FS_WATCH_RECURSIVE, on_event), 0);
    CHECK_EQ(t.w._dirs_count, 4);
    after(ops_rm_subtree, SEQ("delete t/a/b/f", "delete t/a/b/", "delete t/a/", "delete t/"));
    CHECK(logged("delete t/top"));
    after(ops_sentinel, SEQ("create sentinel"));
    CHECK_EQ(t.w._dirs_count, 1);
    teardown();
}

static void ops_move_dirs(void)
{
    char src[PATH_MAX];
    snprintf(src, sizeof src, "%s/in", t.outside);
    mkdir_p(src);
    snprintf(src, sizeof src, "%s/in/x", t.outside);
    mkdir_p(src);
    snprintf(src, sizeof src, "%s/in/x/file", t.outside);
    write_file(src, "x");
    snprintf(src, sizeof src, "%s/in", t.outside);
    CHECK(rename(src, at("in")) == 0);
    snprintf(src, sizeof src, "%s/gone", t.outside);
    CHECK(rename(at("out"), src) == 0);
}

static void ops_after_move(void)
{
    char src[PATH_MAX];
    snprintf(src, sizeof src, "%s/gone/ghost", t.outside);
    write_file(src, "x"); /* outside the tree now: must not be reported */
    write_file(at("in/x/later"), "x");
}

/* A directory moved in is followed with its contents; one moved out is forgotten. */
static void recursive_move_in_and_out(void)
{
    setup();
    mkdir_p(at("out/sub"));
    CHECK_EQ(eddy_fs_watch_start(&t.w, t.root, EDDY_FS_WATCH_RECURSIVE, on_event), 0);
    after(ops_move_dirs, SEQ("create in/", "create in/x/", "create in/x/file", "delete out/"));
    after(ops_after_move, SEQ("create in/x/later"));
    for (size_t i = 0; i < t.count; i++)
        CHECK(strstr(t.log[i], "ghost") == NULL);
    CHECK_EQ(t.w._dirs_count, 3);
    teardown();
}

/* ---- overflow, the root, stop and close --------------------------------------------------- */

static long read_long(const char *path)
{
    FILE *f = fopen(path, "re");
    long v = -1;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

static bool overflowed(const void *unused)
{
    return t.overflows > 0;
}

/* More events than the kernel queues while the loop is not reading: an overflow event comes,
 * then the watcher goes on (and, recursive, still follows new directories). */
static void overflow_reported(void)
{
    long max = read_long("/proc/sys/fs/inotify/max_queued_events");
    if (max <= 0 || max > 200000) {
        test_skip("max_queued_events is %ld", max);
    }
    setup();
    CHECK_EQ(eddy_fs_watch_start(&t.w, t.root, EDDY_FS_WATCH_RECURSIVE, on_event), 0);
    for (long i = 0; i < max / 2 + 1000; i++) {
        char name[32];
        snprintf(name, sizeof name, "f%ld", i);
        int fd = open(at(name), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        CHECK(fd >= 0);
        close(fd);
        CHECK(unlink(at(name)) == 0);
    }
    mkdir_p(at("lost/dir")); /* created while events were dropped */
    CHECK(run_until(overflowed, NULL));
    CHECK_EQ(t.overflows, 1);
    CHECK(t.count >= (size_t)max);
    clear_log();
    /* The resynchronisation watched what the lost events would have announced. */
    after(ops_sentinel, SEQ("create sentinel"));
    write_file(at("lost/dir/found"), "x");
    wait_for(SEQ("create lost/dir/found"));
    teardown();
}

static void ops_stopped(void)
{
    write_file(at("ignored"), "x");
}

/* After stop nothing is reported; stop is idempotent and a restart watches again. */
static void stop_then_silence(void)
{
    setup();
    CHECK_EQ(eddy_fs_watch_start(&t.w, t.root, EDDY_FS_WATCH_RECURSIVE, on_event), 0);
    write_file(at("queued"), "x"); /* queued in the kernel, dropped with the instance */
    CHECK_EQ(eddy_fs_watch_stop(&t.w), 0);
    CHECK_EQ(eddy_fs_watch_stop(&t.w), 0);
    CHECK(!eddy_is_active(&t.w.handle));
    ops_fn = ops_stopped;
    eddy_immediate_start(&t.ops, run_ops);
    eddy_timer_start(&t.timeout, on_timeout, 100, 0);
    eddy_run(&t.loop, EDDY_RUN_DEFAULT);
    CHECK_EQ(t.count, 0);
    CHECK_EQ(eddy_fs_watch_start(&t.w, t.root, 0, on_event), 0);
    CHECK_EQ(eddy_fs_watch_start(&t.w, t.root, 0, on_event), 0); /* a restart */
    after(ops_sentinel, SEQ("create sentinel"));
    CHECK_EQ(t.count, 1);
    teardown();
}

static int closed_calls;
static void on_closed(eddy_handle_t *h)
{
    closed_calls++;
}

static void close_on_first(eddy_fs_watch_t *w, const eddy_fs_event_t *ev)
{
    on_event(w, ev);
    eddy_close(&w->handle, on_closed);
    eddy_close(&t.timeout.handle, NULL);
    eddy_close(&t.ops.handle, NULL);
}

/* Closing in the callback with more events in the batch: no further callback, no leak. */
static void close_during_batch(void)
{
    setup();
    CHECK_EQ(eddy_fs_watch_start(&t.w, t.root, EDDY_FS_WATCH_RECURSIVE, close_on_first), 0);
    for (int i = 0; i < 20; i++) {
        char name[16];
        snprintf(name, sizeof name, "f%d", i);
        write_file(at(name), "x");
    }
    eddy_timer_start(&t.timeout, on_timeout, TIMEOUT_MS, 0);
    eddy_run(&t.loop, EDDY_RUN_DEFAULT); /* ends when the three handles are closed */
    CHECK(!t.timed_out);
    CHECK_EQ(t.count, 1);
    CHECK_EQ(closed_calls, 1);
    CHECK(eddy_loop_close(&t.loop) == 0);
    clear_log();
    rm_rf(t.root);
    rm_rf(t.outside);
    CHECK_EQ(test_open_fds(), t.fds);
}

static void restart_elsewhere(eddy_fs_watch_t *w, const eddy_fs_event_t *ev)
{
    on_event(w, ev);
    if (t.count != 1)
        return;
    CHECK_EQ(eddy_fs_watch_start(w, t.outside, 0, on_event), 0);
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/elsewhere", t.outside);
    write_file(p, "x");
}

static void ops_restart(void)
{
    write_file(at("one"), "x");
    write_file(at("two"), "x");
}

/* A restart from the callback drops the rest of the old batch and watches the new path. */
static void restart_in_callback(void)
{
    setup();
    CHECK_EQ(eddy_fs_watch_start(&t.w, t.root, 0, restart_elsewhere), 0);
    after(ops_restart, SEQ("create one", "create elsewhere"));
    CHECK(!logged("create two"));
    teardown();
}

static void ops_file(void)
{
    write_file(at("watched"), "more");
    CHECK(chmod(at("watched"), 0600) == 0);
    CHECK(unlink(at("watched")) == 0);
}

/* A single file: its changes carry the path "", and its deletion ends the watch. */
static void watch_single_file(void)
{
    setup();
    write_file(at("watched"), "x");
    write_file(at("sibling"), "x");
    CHECK_EQ(eddy_fs_watch_start(&t.w, at("watched"), EDDY_FS_WATCH_RECURSIVE, on_event), 0);
    after(ops_file, SEQ("modify .", "attrib .", "delete ."));
    CHECK(!eddy_is_active(&t.w.handle));
    CHECK(eddy_fs_watch_path(&t.w) == NULL);
    for (size_t i = 0; i < t.count; i++)
        CHECK(strstr(t.log[i], "sibling") == NULL);
    teardown();
}

static void ops_rm_root(void)
{
    rm_rf(t.root);
}

/* Deleting the watched root reports its contents, then the root, and stops the watcher. */
static void root_deleted(void)
{
    setup();
    mkdir_p(at("a/b"));
    CHECK_EQ(eddy_fs_watch_start(&t.w, t.root, EDDY_FS_WATCH_RECURSIVE, on_event), 0);
    after(ops_rm_root, SEQ("delete a/b/", "delete a/", "delete ./"));
    CHECK(!eddy_is_active(&t.w.handle));
    eddy_run(&t.loop, EDDY_RUN_DEFAULT); /* returns: a stopped watcher keeps nothing alive */
    teardown();
}

static void ops_move_root(void)
{
    char to[PATH_MAX];
    snprintf(to, sizeof to, "%s/moved", t.outside);
    CHECK(rename(t.root, to) == 0);
    CHECK(rename(to, t.root) == 0);
}

/* Moving the watched root away reports a rename of "" and stops the watcher. */
static void root_moved(void)
{
    setup();
    CHECK_EQ(eddy_fs_watch_start(&t.w, t.root, EDDY_FS_WATCH_RECURSIVE, on_event), 0);
    after(ops_move_root, SEQ("rename ./ -> ./"));
    CHECK(!eddy_is_active(&t.w.handle));
    teardown();
}

static void ops_split_rename(void)
{
    /* Events of names up to 15 bytes take 32 bytes, so a 16 KiB read holds 512: after 511
     * creates the rename's first half ends one read and its second half begins the next. */
    for (int i = 0; i < 511; i++) {
        char name[16];
        snprintf(name, sizeof name, "f%03d", i);
        int fd = open(at(name), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        CHECK(fd >= 0);
        close(fd);
    }
    CHECK(rename(at("a"), at("b")) == 0);
}

static void ops_in_split_renamed(void)
{
    write_file(at("b/in/x"), "x");
}

/* A rename whose halves fall in two reads is still one rename, and the directory is followed
 * under its new name. */
static void rename_split_across_reads(void)
{
    setup();
    mkdir_p(at("a/in"));
    CHECK_EQ(eddy_fs_watch_start(&t.w, t.root, EDDY_FS_WATCH_RECURSIVE, on_event), 0);
    ops_split_rename(); /* all queued before the loop reads */
    wait_for(SEQ("create f000", "create f510", "rename a/ -> b/"));
    CHECK(!logged("delete a/"));
    CHECK(!logged("create b/"));
    after(ops_in_split_renamed, SEQ("create b/in/x"));
    CHECK_EQ(t.w._dirs_count, 3);
    teardown();
}

/* Drops the capabilities that let root read any directory, so permissions apply. */
static void drop_dac_override(void)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct data[2];
    CHECK(syscall(SYS_capget, &hdr, data) == 0);
    data[0].effective &= ~((1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH));
    CHECK(syscall(SYS_capset, &hdr, data) == 0);
}

/* A subdirectory we may not read does not fail the start: it is reported as an error event
 * from the loop, and the rest of the tree is watched. */
static void unreadable_subdir_reported(void)
{
    setup();
    mkdir_p(at("ok"));
    mkdir_p(at("locked/inner"));
    CHECK(chmod(at("locked"), 0) == 0);
    drop_dac_override();
    CHECK_EQ(eddy_fs_watch_start(&t.w, t.root, EDDY_FS_WATCH_RECURSIVE, on_event), 0);
    CHECK_EQ(t.count, 0); /* nothing is reported from inside the start */
    wait_for(SEQ("error locked/ EACCES"));
    after(ops_sentinel, SEQ("create sentinel"));
    CHECK_EQ(t.count, 2);
    CHECK_EQ(t.w._dirs_count, 2);
    CHECK(chmod(at("locked"), 0755) == 0);
    teardown();
}

/* ---- watch limits -------------------------------------------------------------------------- */

static bool write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    close(fd);
    return ok;
}

/* Lowers the inotify watch limit to `n` in a user namespace of this process only. */
static bool limit_watches(int n)
{
    char uid_map[32], gid_map[32], limit[16];
    snprintf(uid_map, sizeof uid_map, "0 %d 1", (int)getuid());
    snprintf(gid_map, sizeof gid_map, "0 %d 1", (int)getgid());
    snprintf(limit, sizeof limit, "%d", n);
    return unshare(CLONE_NEWUSER) == 0 && write_text("/proc/self/setgroups", "deny") &&
           write_text("/proc/self/uid_map", uid_map) && write_text("/proc/self/gid_map", gid_map) &&
           write_text("/proc/sys/user/max_inotify_watches", limit);
}

static void ops_limit(void)
{
    CHECK(mkdir(at("d"), 0755) == 0);
    write_file(at("f"), "x");
}

/* At the watch limit a start fails with -ENOSPC; a directory added later that cannot be
 * watched is reported (create, then an error event) and the rest of the tree goes on. */
static void watch_limit_enospc(void)
{
    setup();
    mkdir_p(at("a"));
    mkdir_p(at("b"));
    mkdir_p(at("c"));
    if (!limit_watches(3)) {
        teardown();
        test_skip("cannot make a user namespace to lower max_inotify_watches");
    }
    CHECK_EQ(eddy_fs_watch_start(&t.w, t.root, EDDY_FS_WATCH_RECURSIVE, on_event), -ENOSPC);
    CHECK(!eddy_is_active(&t.w.handle));
    CHECK_EQ(test_open_fds(), t.fds_loop);
    CHECK(rmdir(at("c")) == 0);
    CHECK_EQ(eddy_fs_watch_start(&t.w, t.root, EDDY_FS_WATCH_RECURSIVE, on_event), 0);
    after(ops_limit, SEQ("create d/", "error d/ ENOSPC", "create f"));
    CHECK_EQ(t.w._dirs_count, 3);
    teardown();
}

const test_case_t test_cases[] = {
    {"create_modify_delete", create_modify_delete},
    {"rename_pairs_and_halves", rename_pairs_and_halves},
    {"start_errors", start_errors},
    {"nonrecursive_skips_grandchildren", nonrecursive_skips_grandchildren},
    {"recursive_existing_tree", recursive_existing_tree},
    {"recursive_new_subdir", recursive_new_subdir},
    {"recursive_mkdir_p", recursive_mkdir_p},
    {"recursive_renamed_subdir", recursive_renamed_subdir},
    {"recursive_delete_subtree", recursive_delete_subtree},
    {"recursive_move_in_and_out", recursive_move_in_and_out},
    {"overflow_reported", overflow_reported},
    {"stop_then_silence", stop_then_silence},
    {"close_during_batch", close_during_batch},
    {"restart_in_callback", restart_in_callback},
    {"rename_split_across_reads", rename_split_across_reads},
    {"unreadable_subdir_reported", unreadable_subdir_reported},
    {"watch_single_file", watch_single_file},
    {"root_deleted", root_deleted},
    {"root_moved", root_moved},
    {"watch_limit_enospc", watch_limit_enospc},
    {NULL, NULL},
};
