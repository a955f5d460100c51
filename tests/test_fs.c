/* The fs module: every operation synchronously (NULL callback) and asynchronously, on the pool
 * and again through io_uring, with success and error paths and Node's error messages; whole
 * files (64 MiB, size limits, /proc), cancellation, descriptor leaks, a full disk, and the
 * fallback to the pool when the ring cannot be set up. Each case works in its own directory
 * under /tmp and removes it. */
#include "harness.h"

#include <fcntl.h>
#include <ftw.h>
#include <linux/io_uring.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "eddy.h"

/* ---- the fixture ---------------------------------------------------------------------------- */

static eddy_loop_t loop;
static char dir[256];
static int async_mode; /* 0: synchronous calls; 1: callbacks (pool or io_uring) */
static int done;

static void on_done(eddy_fs_t *req)
{
    done++;
}

/* The callback of the current mode: NULL makes every call synchronous. */
static eddy_fs_cb cb(void)
{
    return async_mode ? on_done : NULL;
}

/* Finishes a call made with cb(): runs the loop for an asynchronous one, checks the return
 * value of a synchronous one, and gives the result either way. */
static ssize_t finish(eddy_fs_t *req, int ret)
{
    if (async_mode) {
        CHECK_EQ(ret, 0);
        done = 0;
        CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
        CHECK_EQ(done, 1);
    } else {
        CHECK_EQ(ret, req->result);
    }
    return req->result;
}

/* Path of name inside the case's directory (a rotating set of buffers, for two at once). */
static const char *in_dir(const char *name)
{
    static char bufs[4][512];
    static int i;
    char *b = bufs[i++ % 4];
    snprintf(b, sizeof bufs[0], "%s/%s", dir, name);
    return b;
}

static void check_message(const eddy_fs_t *req, const char *want)
{
    char msg[1024];
    eddy_fs_strerror(req, msg, sizeof msg);
    if (strcmp(msg, want) != 0) {
        fprintf(stderr, "message: \"%s\"\n   want: \"%s\"\n", msg, want);
        CHECK(0);
    }
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/eddy_test_fs_XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
}

static void remove_dir(void)
{
    CHECK(nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0);
}

static void write_plain(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    CHECK(fd >= 0);
    CHECK_EQ(write(fd, data, len), len);
    close(fd);
}

/* Whether this kernel lets the process make a ring at all (seccomp, io_uring_disabled). */
static int uring_available(void)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    long fd = syscall(__NR_io_uring_setup, 4, &p);
    if (fd < 0) return 0;
    close((int)fd);
    return 1;
}

/* Runs body synchronously and then asynchronously on the pool, or (uring) asynchronously with
 * EDDY_LOOP_FS_URING, asserting that the ring really carried requests where it can exist. */
static void noop_work(eddy_work_t *w) {}

/* Makes the descriptors the loop keeps for its life (the pool's wake eventfd; the ring and its
 * eventfd when on), so that counting descriptors afterwards sees only leaks. */
static void warm_up(void)
{
    eddy_work_t w;
    CHECK(eddy_queue_work(&loop, &w, EDDY_WORK_USER, noop_work, NULL) == 0);
    eddy_fs_t req;
    CHECK(eddy_fs_fstat(&loop, &req, 0, on_done) == 0);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
}

static void in_modes(void (*body)(void), int uring)
{
    make_dir();
    CHECK(eddy_loop_init(&loop) == 0);
    CHECK(eddy_loop_configure(&loop, EDDY_LOOP_FS_URING, uring) == 0);
    warm_up();
    int fds = test_open_fds();
    if (uring) {
        async_mode = 1;
        body();
        if (uring_available()) {
            CHECK_EQ(eddy_fs_uring_active(&loop), 1);
            CHECK(eddy_fs_uring_completed(&loop) > 0);
        } else {
            CHECK(eddy_fs_uring_active(&loop) <= 0);
            printf("(io_uring unavailable here: the pool carried the requests)\n");
        }
    } else {
        async_mode = 0;
        body();
        remove_dir();
        make_dir();
        async_mode = 1;
        body();
        CHECK_EQ(eddy_fs_uring_active(&loop), 0);
    }
    CHECK_EQ(test_open_fds(), fds);
    CHECK(eddy_loop_close(&loop) == 0);
    remove_dir();
}

/* ---- open, close, read, write --------------------------------------------------------------- */

static void body_open_close(void)
{
    eddy_fs_t req;
    const char *nope = in_dir("nope");
    CHECK_EQ(finish(&req, eddy_fs_open(&loop, &req, nope, O_RDONLY, 0, cb())), -ENOENT);
    char want[600];
    snprintf(want, sizeof want, "ENOENT: no such file or directory, open '%s'", nope);
    check_message(&req, want);
    eddy_fs_req_cleanup(&req);

    const char *f = in_dir("f");
    int fd = (int)finish(&req, eddy_fs_open(&loop, &req, f, O_RDWR | O_CREAT, 0600, cb()));
    CHECK(fd >= 0);
    CHECK(strcmp(req.path, f) == 0);
    CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    eddy_fs_req_cleanup(&req);
    CHECK(req.path == NULL);
    CHECK_EQ(finish(&req, eddy_fs_close(&loop, &req, fd, cb())), 0);
    CHECK_EQ(finish(&req, eddy_fs_close(&loop, &req, fd, cb())), -EBADF);
    check_message(&req, "EBADF: bad file descriptor, close");
    eddy_fs_req_cleanup(&req);
}

static void body_read_write(void)
{
    eddy_fs_t req;
    int fd =
        (int)finish(&req, eddy_fs_open(&loop, &req, in_dir("rw"), O_RDWR | O_CREAT, 0600, cb()));
    CHECK(fd >= 0);
    eddy_fs_req_cleanup(&req);

    /* At the current position, then vectored at an offset (the position stays at 11). */
    eddy_buf_t one = eddy_buf_init("hello world", 11);
    CHECK_EQ(finish(&req, eddy_fs_write(&loop, &req, fd, &one, 1, -1, cb())), 11);
    eddy_fs_req_cleanup(&req);
    eddy_buf_t three[] = {eddy_buf_init("abc", 3), eddy_buf_init("", 0), eddy_buf_init("defg", 4),
                          eddy_buf_init("h", 1), eddy_buf_init("ij", 2)};
    CHECK_EQ(finish(&req, eddy_fs_write(&loop, &req, fd, three, 5, 100, cb())), 10);
    eddy_fs_req_cleanup(&req);

    char a[4] = {0}, b[7] = {0};
    eddy_buf_t two[] = {eddy_buf_init(a, 3), eddy_buf_init(b, 6)};
    CHECK_EQ(finish(&req, eddy_fs_read(&loop, &req, fd, two, 2, 101, cb())), 9);
    CHECK(strcmp(a, "bcd") == 0 && strcmp(b, "efghij") == 0);
    eddy_fs_req_cleanup(&req);

    char w[6] = {0};
    eddy_buf_t wb = eddy_buf_init(w, 5);
    CHECK_EQ(finish(&req, eddy_fs_read(&loop, &req, fd, &wb, 1, 6, cb())), 5);
    CHECK(strcmp(w, "world") == 0);
    /* -1 reads from the position the first write left: the hole before offset 100. */
    char hole[8];
    eddy_buf_t hb = eddy_buf_init(hole, sizeof hole);
    CHECK_EQ(finish(&req, eddy_fs_read(&loop, &req, fd, &hb, 1, -1, cb())), 8);
    CHECK(memcmp(hole, "\0\0\0\0\0\0\0\0", 8) == 0);
    CHECK_EQ(lseek(fd, 0, SEEK_CUR), 19);
    CHECK_EQ(finish(&req, eddy_fs_read(&loop, &req, fd, &hb, 1, 110, cb())), 0); /* EOF */
    eddy_fs_req_cleanup(&req);

    CHECK_EQ(finish(&req, eddy_fs_read(&loop, &req, -1, &hb, 1, 0, cb())), -EBADF);
    check_message(&req, "EBADF: bad file descriptor, read");
    eddy_fs_req_cleanup(&req);
    close(fd);
}

/* ---- stat ------------------------------------------------------------------------------------ */

static void body_stat(void)
{
    eddy_fs_t req;
    const char *f = in_dir("s"), *l = in_dir("s_link");
    write_plain(f, "12345", 5);
    CHECK(symlink(f, l) == 0);

    CHECK_EQ(finish(&req, eddy_fs_stat(&loop, &req, l, cb())), 0);
    CHECK(S_ISREG(req.statbuf.mode) && req.statbuf.size == 5 && req.statbuf.nlink == 1);
    CHECK(req.statbuf.mtim.sec > 1600000000);
    uint64_t ino = req.statbuf.ino;
    eddy_fs_req_cleanup(&req);
    CHECK_EQ(finish(&req, eddy_fs_lstat(&loop, &req, l, cb())), 0);
    CHECK(S_ISLNK(req.statbuf.mode) && req.statbuf.ino != ino);
    eddy_fs_req_cleanup(&req);

    int fd = open(f, O_RDONLY | O_CLOEXEC);
    CHECK_EQ(finish(&req, eddy_fs_fstat(&loop, &req, fd, cb())), 0);
    CHECK(req.statbuf.ino == ino && req.statbuf.size == 5);
    close(fd);

    const char *nope = in_dir("nope");
    CHECK_EQ(finish(&req, eddy_fs_stat(&loop, &req, nope, cb())), -ENOENT);
    char want[600];
    snprintf(want, sizeof want, "ENOENT: no such file or directory, stat '%s'", nope);
    check_message(&req, want);
    eddy_fs_req_cleanup(&req);
    CHECK_EQ(finish(&req, eddy_fs_lstat(&loop, &req, nope, cb())), -ENOENT);
    eddy_fs_req_cleanup(&req);
    CHECK_EQ(finish(&req, eddy_fs_fstat(&loop, &req, 12345, cb())), -EBADF);
    eddy_fs_req_cleanup(&req);
}

/* ---- names: unlink, rename, mkdir, rmdir, scandir -------------------------------------------- */

static void body_unlink_rename(void)
{
    eddy_fs_t req;
    const char *a = in_dir("a"), *b = in_dir("b");
    write_plain(a, "x", 1);
    CHECK_EQ(finish(&req, eddy_fs_rename(&loop, &req, a, b, cb())), 0);
    CHECK(strcmp(req.new_path, b) == 0);
    eddy_fs_req_cleanup(&req);
    CHECK(access(a, F_OK) != 0 && access(b, F_OK) == 0);
    CHECK_EQ(finish(&req, eddy_fs_rename(&loop, &req, a, b, cb())), -ENOENT);
    char want[1200];
    snprintf(want, sizeof want, "ENOENT: no such file or directory, rename '%s' -> '%s'", a, b);
    check_message(&req, want);
    eddy_fs_req_cleanup(&req);
    CHECK_EQ(finish(&req, eddy_fs_unlink(&loop, &req, b, cb())), 0);
    eddy_fs_req_cleanup(&req);
    CHECK_EQ(finish(&req, eddy_fs_unlink(&loop, &req, b, cb())), -ENOENT);
    eddy_fs_req_cleanup(&req);
}

static void body_mkdir_rmdir(void)
{
    eddy_fs_t req;
    char d[512]; /* kept: in_dir's buffers rotate */
    snprintf(d, sizeof d, "%s", in_dir("d"));
    CHECK_EQ(finish(&req, eddy_fs_mkdir(&loop, &req, d, 0755, 0, cb())), 0);
    eddy_fs_req_cleanup(&req);
    CHECK_EQ(finish(&req, eddy_fs_mkdir(&loop, &req, d, 0755, 0, cb())), -EEXIST);
    char want[600];
    snprintf(want, sizeof want, "EEXIST: file already exists, mkdir '%s'", d);
    check_message(&req, want);
    eddy_fs_req_cleanup(&req);

    /* Node's { recursive: true }: parents are made, and an existing directory is fine. */
    const char *deep = in_dir("d/x/y//z/");
    CHECK_EQ(finish(&req, eddy_fs_mkdir(&loop, &req, deep, 0755, EDDY_FS_MKDIR_RECURSIVE, cb())),
             0);
    eddy_fs_req_cleanup(&req);
    struct stat st;
    CHECK(stat(in_dir("d/x/y/z"), &st) == 0 && S_ISDIR(st.st_mode));
    CHECK_EQ(finish(&req, eddy_fs_mkdir(&loop, &req, deep, 0755, EDDY_FS_MKDIR_RECURSIVE, cb())),
             0);
    eddy_fs_req_cleanup(&req);
    write_plain(in_dir("d/file"), "", 0);
    CHECK_EQ(finish(&req, eddy_fs_mkdir(&loop, &req, in_dir("d/file"), 0755,
                                        EDDY_FS_MKDIR_RECURSIVE, cb())),
             -EEXIST);
    eddy_fs_req_cleanup(&req);
    CHECK_EQ(finish(&req, eddy_fs_mkdir(&loop, &req, in_dir("d/file/sub"), 0755,
                                        EDDY_FS_MKDIR_RECURSIVE, cb())),
             -ENOTDIR);
    eddy_fs_req_cleanup(&req);

    CHECK_EQ(finish(&req, eddy_fs_rmdir(&loop, &req, d, cb())), -ENOTEMPTY);
    snprintf(want, sizeof want, "ENOTEMPTY: directory not empty, rmdir '%s'", d);
    check_message(&req, want);
    eddy_fs_req_cleanup(&req);
    CHECK_EQ(finish(&req, eddy_fs_rmdir(&loop, &req, in_dir("d/x/y/z"), cb())), 0);
    eddy_fs_req_cleanup(&req);
    CHECK(access(in_dir("d/x/y/z"), F_OK) != 0);
}

static void body_scandir(void)
{
    eddy_fs_t req;
    write_plain(in_dir("f1"), "x", 1);
    CHECK(mkdir(in_dir("d1"), 0755) == 0);
    CHECK(symlink("f1", in_dir("l1")) == 0);
    CHECK(mkfifo(in_dir("p1"), 0600) == 0);
    CHECK_EQ(finish(&req, eddy_fs_scandir(&loop, &req, dir, cb())), 4);
    CHECK_EQ(req.nentries, 4);
    const char *names[] = {"d1", "f1", "l1", "p1"};
    eddy_dirent_type types[] = {EDDY_DIRENT_DIR, EDDY_DIRENT_FILE, EDDY_DIRENT_LINK,
                                EDDY_DIRENT_FIFO};
    for (int i = 0; i < 4; i++) {
        CHECK(strcmp(req.entries[i].name, names[i]) == 0);
        CHECK_EQ(req.entries[i].type, types[i]);
    }
    eddy_fs_req_cleanup(&req);
    CHECK(req.entries == NULL && req.nentries == 0);

    CHECK_EQ(finish(&req, eddy_fs_scandir(&loop, &req, in_dir("d1"), cb())), 0);
    eddy_fs_req_cleanup(&req);
    CHECK_EQ(finish(&req, eddy_fs_scandir(&loop, &req, in_dir("nope"), cb())), -ENOENT);
    eddy_fs_req_cleanup(&req);
    CHECK_EQ(finish(&req, eddy_fs_scandir(&loop, &req, in_dir("f1"), cb())), -ENOTDIR);
    eddy_fs_req_cleanup(&req);
}

/* ---- descriptors: fsync, fdatasync, ftruncate, futime --------------------------------------- */

static void body_sync_truncate(void)
{
    eddy_fs_t req;
    const char *f = in_dir("t");
    char data[100];
    memset(data, 'x', sizeof data);
    write_plain(f, data, sizeof data);
    int fd = open(f, O_RDWR | O_CLOEXEC);
    CHECK_EQ(finish(&req, eddy_fs_fsync(&loop, &req, fd, cb())), 0);
    CHECK_EQ(finish(&req, eddy_fs_fdatasync(&loop, &req, fd, cb())), 0);
    CHECK_EQ(finish(&req, eddy_fs_ftruncate(&loop, &req, fd, 10, cb())), 0);
    struct stat st;
    CHECK(fstat(fd, &st) == 0 && st.st_size == 10);
    CHECK_EQ(finish(&req, eddy_fs_ftruncate(&loop, &req, fd, 4096, cb())), 0);
    CHECK(fstat(fd, &st) == 0 && st.st_size == 4096);
    CHECK_EQ(finish(&req, eddy_fs_futime(&loop, &req, fd, 500.0, 600.5, cb())), 0);
    CHECK(fstat(fd, &st) == 0 && st.st_mtim.tv_sec == 600 && st.st_mtim.tv_nsec == 500000000);
    close(fd);
    CHECK_EQ(finish(&req, eddy_fs_fsync(&loop, &req, fd, cb())), -EBADF);
    CHECK_EQ(finish(&req, eddy_fs_ftruncate(&loop, &req, fd, 0, cb())), -EBADF);
    eddy_fs_req_cleanup(&req);
}

/* ---- utime, access, realpath, mkdtemp ---------------------------------------------------------
 */

static void body_utime_access(void)
{
    eddy_fs_t req;
    const char *f = in_dir("u");
    write_plain(f, "u", 1);
    CHECK_EQ(finish(&req, eddy_fs_utime(&loop, &req, f, 1000.5, 2000.25, cb())), 0);
    eddy_fs_req_cleanup(&req);
    CHECK_EQ(finish(&req, eddy_fs_stat(&loop, &req, f, cb())), 0);
    CHECK_EQ(req.statbuf.atim.sec, 1000);
    CHECK_EQ(req.statbuf.atim.nsec, 500000000);
    CHECK_EQ(req.statbuf.mtim.sec, 2000);
    CHECK_EQ(req.statbuf.mtim.nsec, 250000000);
    eddy_fs_req_cleanup(&req);
    CHECK_EQ(finish(&req, eddy_fs_utime(&loop, &req, in_dir("nope"), 1, 1, cb())), -ENOENT);
    eddy_fs_req_cleanup(&req);

    CHECK_EQ(finish(&req, eddy_fs_access(&loop, &req, f, F_OK, cb())), 0);
    eddy_fs_req_cleanup(&req);
    CHECK_EQ(finish(&req, eddy_fs_access(&loop, &req, f, R_OK | W_OK, cb())), 0);
    eddy_fs_req_cleanup(&req);
    CHECK_EQ(finish(&req, eddy_fs_access(&loop, &req, in_dir("nope"), F_OK, cb())), -ENOENT);
    eddy_fs_req_cleanup(&req);
    CHECK(chmod(f, 0400) == 0);
    int want = geteuid() == 0 ? 0 : -EACCES; /* root may write anything */
    CHECK_EQ(finish(&req, eddy_fs_access(&loop, &req, f, W_OK, cb())), want);
    eddy_fs_req_cleanup(&req);
    CHECK_EQ(finish(&req, eddy_fs_access(&loop, &req, f, X_OK, cb())), -EACCES);
    eddy_fs_req_cleanup(&req);
}

static void body_realpath_mkdtemp(void)
{
    eddy_fs_t req;
    CHECK(mkdir(in_dir("real"), 0755) == 0);
    write_plain(in_dir("real/target"), "t", 1);
    CHECK(symlink("real/target", in_dir("link")) == 0);
    char *expect = realpath(in_dir("real/target"), NULL);
    CHECK(expect != NULL);
    CHECK_EQ(finish(&req, eddy_fs_realpath(&loop, &req, in_dir("real/../link"), cb())), 0);
    CHECK(strcmp(req.buf, expect) == 0 && req.len == strlen(expect));
    eddy_fs_req_cleanup(&req);
    CHECK(req.buf == NULL);
    free(expect);
    CHECK_EQ(finish(&req, eddy_fs_realpath(&loop, &req, in_dir("nope"), cb())), -ENOENT);
    eddy_fs_req_cleanup(&req);

    const char *prefix = in_dir("tmp-");
    CHECK_EQ(finish(&req, eddy_fs_mkdtemp(&loop, &req, prefix, cb())), 0);
    CHECK(strncmp(req.buf, prefix, strlen(prefix)) == 0);
    CHECK_EQ(req.len, strlen(prefix) + 6);
    struct stat st;
    CHECK(stat(req.buf, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
    eddy_fs_req_cleanup(&req);
    CHECK_EQ(finish(&req, eddy_fs_mkdtemp(&loop, &req, in_dir("nope/x-"), cb())), -ENOENT);
    char want[600];
    snprintf(want, sizeof want, "ENOENT: no such file or directory, mkdtemp '%sXXXXXX'",
             in_dir("nope/x-"));
    check_message(&req, want);
    eddy_fs_req_cleanup(&req);
}

/* ---- copyfile, sendfile -------------------------------------------------------------------- */

static void fill_pattern(char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (char)((i * 131u + seed) >> 3);
}

static void body_copyfile(void)
{
    eddy_fs_t req;
    size_t n = 300 * 1000;
    char *data = malloc(n), *back = malloc(n + 1);
    fill_pattern(data, n, 7);
    const char *a = in_dir("ca"), *b = in_dir("cb");
    write_plain(a, data, n);
    CHECK(chmod(a, 0640) == 0);
    CHECK_EQ(finish(&req, eddy_fs_copyfile(&loop, &req, a, b, 0, cb())), n);
    eddy_fs_req_cleanup(&req);
    int fd = open(b, O_RDONLY | O_CLOEXEC);
    CHECK_EQ(read(fd, back, n + 1), n);
    CHECK(memcmp(back, data, n) == 0);
    struct stat st;
    CHECK(fstat(fd, &st) == 0 && (st.st_mode & 0777) == 0640);
    close(fd);

    CHECK_EQ(finish(&req, eddy_fs_copyfile(&loop, &req, a, b, EDDY_FS_COPYFILE_EXCL, cb())),
             -EEXIST);
    char want[1200];
    snprintf(want, sizeof want, "EEXIST: file already exists, copyfile '%s' -> '%s'", a, b);
    check_message(&req, want);
    eddy_fs_req_cleanup(&req);
    CHECK(access(b, F_OK) == 0); /* EXCL left the existing file alone */

    /* A copy onto itself must not truncate the source. */
    CHECK_EQ(finish(&req, eddy_fs_copyfile(&loop, &req, a, a, 0, cb())), 0);
    eddy_fs_req_cleanup(&req);
    CHECK(stat(a, &st) == 0 && (size_t)st.st_size == n);
    CHECK_EQ(finish(&req, eddy_fs_copyfile(&loop, &req, in_dir("nope"), b, 0, cb())), -ENOENT);
    eddy_fs_req_cleanup(&req);
    free(data);
    free(back);
}

static void body_sendfile(void)
{
    eddy_fs_t req;
    size_t n = 1 << 20;
    char *data = malloc(n), *back = malloc(n);
    fill_pattern(data, n, 3);
    write_plain(in_dir("src"), data, n);
    int in = open(in_dir("src"), O_RDONLY | O_CLOEXEC);
    int out = open(in_dir("dst"), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK_EQ(finish(&req, eddy_fs_sendfile(&loop, &req, out, in, 1000, 5000, cb())), 5000);
    CHECK_EQ(lseek(in, 0, SEEK_CUR), 0); /* an explicit offset leaves the position alone */
    /* Past the end only what exists is copied; from the current position it advances. */
    CHECK_EQ(finish(&req, eddy_fs_sendfile(&loop, &req, out, in, (int64_t)n - 100, 5000, cb())),
             100);
    CHECK_EQ(finish(&req, eddy_fs_sendfile(&loop, &req, out, in, -1, 10, cb())), 10);
    CHECK_EQ(lseek(in, 0, SEEK_CUR), 10);
    CHECK_EQ(pread(out, back, n, 0), 5110);
    CHECK(memcmp(back, data + 1000, 5000) == 0);
    CHECK(memcmp(back + 5000, data + n - 100, 100) == 0);
    CHECK(memcmp(back + 5100, data, 10) == 0);
    CHECK_EQ(finish(&req, eddy_fs_sendfile(&loop, &req, out, -1, 0, 10, cb())), -EBADF);
    check_message(&req, "EBADF: bad file descriptor, sendfile");
    close(in);
    close(out);
    free(data);
    free(back);
}

/* ---- whole files -------------------------------------------------------------------------- */

static void body_whole_files(void)
{
    eddy_fs_t req;
    const char *f = in_dir("whole");
    const char *text = "line one\nline two\n";
    CHECK_EQ(finish(&req, eddy_fs_write_file(&loop, &req, f, text, strlen(text), 0, 0644, cb())),
             0);
    eddy_fs_req_cleanup(&req);
    CHECK_EQ(finish(&req, eddy_fs_read_file(&loop, &req, f, 0, cb())), 0);
    CHECK(req.len == strlen(text) && strcmp(req.buf, text) == 0);
    eddy_fs_req_cleanup(&req);

    /* Append, then EXCL on an existing file, then an empty file. */
    CHECK_EQ(finish(&req, eddy_fs_write_file(&loop, &req, f, "3\n", 2,
                                             EDDY_FS_WRITE_FILE_APPEND | EDDY_FS_WRITE_FILE_FSYNC,
                                             0644, cb())),
             0);
    eddy_fs_req_cleanup(&req);
    CHECK_EQ(finish(&req, eddy_fs_read_file(&loop, &req, f, 0, cb())), 0);
    CHECK(strcmp(req.buf, "line one\nline two\n3\n") == 0);
    eddy_fs_req_cleanup(&req);
    CHECK_EQ(finish(&req, eddy_fs_write_file(&loop, &req, f, "x", 1, EDDY_FS_WRITE_FILE_EXCL, 0644,
                                             cb())),
             -EEXIST);
    eddy_fs_req_cleanup(&req);
    CHECK_EQ(finish(&req, eddy_fs_write_file(&loop, &req, f, NULL, 0, 0, 0644, cb())), 0);
    eddy_fs_req_cleanup(&req);
    CHECK_EQ(finish(&req, eddy_fs_read_file(&loop, &req, f, 0, cb())), 0);
    CHECK(req.len == 0 && req.buf != NULL && req.buf[0] == '\0');
    eddy_fs_req_cleanup(&req);

    const char *nope = in_dir("nope");
    CHECK_EQ(finish(&req, eddy_fs_read_file(&loop, &req, nope, 0, cb())), -ENOENT);
    char want[600];
    snprintf(want, sizeof want, "ENOENT: no such file or directory, open '%s'", nope);
    check_message(&req, want);
    CHECK(req.buf == NULL);
    eddy_fs_req_cleanup(&req);
    CHECK_EQ(finish(&req, eddy_fs_read_file(&loop, &req, dir, 0, cb())), -EISDIR);
    snprintf(want, sizeof want, "EISDIR: illegal operation on a directory, read '%s'", dir);
    check_message(&req, want);
    eddy_fs_req_cleanup(&req);
}

static void body_read_file_limits(void)
{
    eddy_fs_t req;
    char data[1000];
    memset(data, 'k', sizeof data);
    const char *f = in_dir("k");
    write_plain(f, data, sizeof data);
    CHECK_EQ(finish(&req, eddy_fs_read_file(&loop, &req, f, 999, cb())), -EFBIG);
    CHECK(req.buf == NULL);
    char want[700];
    snprintf(want, sizeof want,
             "EFBIG: file too large, read '%s' (1000 bytes or more, over the limit of 999)", f);
    check_message(&req, want);
    eddy_fs_req_cleanup(&req);
    CHECK_EQ(finish(&req, eddy_fs_read_file(&loop, &req, f, 1000, cb())), 0);
    CHECK_EQ(req.len, 1000);
    eddy_fs_req_cleanup(&req);

    /* /proc files say size 0 in stat: they are read to the end all the same. */
    struct stat st;
    CHECK(stat("/proc/self/status", &st) == 0 && st.st_size == 0);
    CHECK_EQ(finish(&req, eddy_fs_read_file(&loop, &req, "/proc/self/status", 0, cb())), 0);
    CHECK(req.len > 200 && strncmp(req.buf, "Name:", 5) == 0);
    CHECK(req.buf[req.len - 1] == '\n' && strstr(req.buf, "VmRSS:") != NULL);
    CHECK_EQ(strlen(req.buf), req.len);
    eddy_fs_req_cleanup(&req);
    CHECK_EQ(finish(&req, eddy_fs_read_file(&loop, &req, "/proc/self/status", 10, cb())), -EFBIG);
    CHECK(req.buf == NULL);
    eddy_fs_req_cleanup(&req);
}

/* A full disk: /dev/full fails every write with ENOSPC. */
static void body_full_disk(void)
{
    eddy_fs_t req;
    int fd = (int)finish(&req, eddy_fs_open(&loop, &req, "/dev/full", O_WRONLY, 0, cb()));
    CHECK(fd >= 0);
    eddy_fs_req_cleanup(&req);
    eddy_buf_t b = eddy_buf_init("data", 4);
    CHECK_EQ(finish(&req, eddy_fs_write(&loop, &req, fd, &b, 1, -1, cb())), -ENOSPC);
    check_message(&req, "ENOSPC: no space left on device, write");
    eddy_fs_req_cleanup(&req);
    CHECK_EQ(finish(&req, eddy_fs_close(&loop, &req, fd, cb())), 0);
    CHECK_EQ(finish(&req, eddy_fs_write_file(&loop, &req, "/dev/full", "x", 1, 0, 0644, cb())),
             -ENOSPC);
    check_message(&req, "ENOSPC: no space left on device, write '/dev/full'");
    eddy_fs_req_cleanup(&req);
}

static void t_open_close(void)
{
    in_modes(body_open_close, 0);
}
static void t_open_close_uring(void)
{
    in_modes(body_open_close, 1);
}
static void t_read_write(void)
{
    in_modes(body_read_write, 0);
}
static void t_read_write_uring(void)
{
    in_modes(body_read_write, 1);
}
static void t_stat(void)
{
    in_modes(body_stat, 0);
}
static void t_stat_uring(void)
{
    in_modes(body_stat, 1);
}
static void t_unlink_rename(void)
{
    in_modes(body_unlink_rename, 0);
}
static void t_mkdir_rmdir(void)
{
    in_modes(body_mkdir_rmdir, 0);
}
static void t_scandir(void)
{
    in_modes(body_scandir, 0);
}
static void t_sync_truncate(void)
{
    in_modes(body_sync_truncate, 0);
}
static void t_sync_truncate_uring(void)
{
    in_modes(body_sync_truncate, 1);
}
static void t_utime_access(void)
{
    in_modes(body_utime_access, 0);
}
static void t_realpath_mkdtemp(void)
{
    in_modes(body_realpath_mkdtemp, 0);
}
static void t_copyfile(void)
{
    in_modes(body_copyfile, 0);
}
static void t_sendfile(void)
{
    in_modes(body_sendfile, 0);
}
static void t_whole_files(void)
{
    in_modes(body_whole_files, 0);
}
static void t_whole_files_uring(void)
{
    in_modes(body_whole_files, 1);
}
static void t_read_file_limits(void)
{
    in_modes(body_read_file_limits, 0);
}
static void t_read_file_limits_uring(void)
{
    in_modes(body_read_file_limits, 1);
}
static void t_full_disk(void)
{
    in_modes(body_full_disk, 0);
}
static void t_full_disk_uring(void)
{
    in_modes(body_full_disk, 1);
}

/* ---- big files, cancellation, leaks, the ring ---------------------------------------------- */

static void setup(int uring)
{
    make_dir();
    CHECK(eddy_loop_init(&loop) == 0);
    CHECK(eddy_loop_configure(&loop, EDDY_LOOP_FS_URING, uring) == 0);
    async_mode = 1;
}

static void teardown(void)
{
    CHECK(eddy_loop_close(&loop) == 0);
    remove_dir();
}

static void big_file(int uring)
{
    setup(uring);
    size_t n = 64u << 20;
    char *data = malloc(n);
    fill_pattern(data, n, 11);
    eddy_fs_t req;
    const char *f = in_dir("big");
    CHECK_EQ(finish(&req, eddy_fs_write_file(&loop, &req, f, data, n, 0, 0600, on_done)), 0);
    eddy_fs_req_cleanup(&req);
    CHECK_EQ(finish(&req, eddy_fs_read_file(&loop, &req, f, 0, on_done)), 0);
    CHECK_EQ(req.len, n);
    CHECK(memcmp(req.buf, data, n) == 0 && req.buf[n] == '\0');
    /* The buffer can be taken over: the request then has nothing to free. */
    char *mine = req.buf;
    req.buf = NULL;
    eddy_fs_req_cleanup(&req);
    free(mine);
    CHECK_EQ(finish(&req, eddy_fs_read_file(&loop, &req, f, n - 1, on_done)), -EFBIG);
    eddy_fs_req_cleanup(&req);
    if (uring && uring_available()) CHECK(eddy_fs_uring_completed(&loop) == 2);
    free(data);
    teardown();
}

static void t_big_file(void)
{
    big_file(0);
}
static void t_big_file_uring(void)
{
    big_file(1);
}

static atomic_int release, started;

static void block_work(eddy_work_t *w)
{
    atomic_fetch_add(&started, 1);
    while (!atomic_load(&release))
        usleep(1000);
}

static void record(eddy_fs_t *req)
{
    done++;
    CHECK_EQ(req->result, -ECANCELED);
    char msg[600];
    eddy_fs_strerror(req, msg, sizeof msg);
    CHECK(strncmp(msg, "ECANCELED: operation canceled, ", 31) == 0);
    eddy_fs_req_cleanup(req);
}

/* Queued fs work (behind blockers holding every pool thread) is cancelled: each callback sees
 * -ECANCELED, nothing was created, and no descriptor is left open. */
static void t_cancel_queued(void)
{
    CHECK(setenv("EDDY_THREADPOOL_SIZE", "2", 1) == 0);
    setup(0);
    eddy_work_t blockers[2];
    for (int i = 0; i < 2; i++)
        CHECK(eddy_queue_work(&loop, &blockers[i], EDDY_WORK_USER, block_work, NULL) == 0);
    int fds = test_open_fds();
    while (atomic_load(&started) < 2)
        sched_yield();
    eddy_fs_t reqs[30];
    char name[32];
    for (int i = 0; i < 30; i++) {
        snprintf(name, sizeof name, "c%d", i);
        if (i % 3 == 0)
            CHECK(eddy_fs_read_file(&loop, &reqs[i], "/proc/self/status", 0, record) == 0);
        else
            CHECK(eddy_fs_open(&loop, &reqs[i], in_dir(name), O_RDWR | O_CREAT, 0600, record) == 0);
    }
    for (int i = 0; i < 30; i++)
        CHECK(eddy_cancel(&reqs[i].work) == 0);
    for (int i = 0; i < 30; i++)
        CHECK(eddy_cancel(&reqs[i].work) == -EBUSY); /* once is enough */
    atomic_store(&release, 1);
    done = 0;
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    CHECK_EQ(done, 30);
    CHECK(access(in_dir("c1"), F_OK) != 0);
    CHECK_EQ(test_open_fds(), fds);
    /* Work that ran cannot be cancelled. */
    eddy_fs_t req;
    CHECK(eddy_fs_stat(&loop, &req, dir, on_done) == 0);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    CHECK(eddy_cancel(&req.work) == -EBUSY);
    eddy_fs_req_cleanup(&req);
    teardown();
}

/* 1000 opens and closes, chained through callbacks, then 1000 synchronous ones. */
static int cycles;

static void on_closed(eddy_fs_t *req);

static void on_opened(eddy_fs_t *req)
{
    CHECK(req->result >= 0);
    int fd = (int)req->result;
    eddy_fs_req_cleanup(req);
    CHECK(eddy_fs_close(req->loop, req, fd, on_closed) == 0);
}

static void on_closed(eddy_fs_t *req)
{
    CHECK_EQ(req->result, 0);
    if (++cycles < 1000)
        CHECK(eddy_fs_open(req->loop, req, dir, O_RDONLY | O_DIRECTORY, 0, on_opened) == 0);
}

static void fd_leak(int uring)
{
    setup(uring);
    eddy_fs_t req;
    CHECK(eddy_fs_stat(&loop, &req, dir, on_done) == 0); /* the ring, if any, exists now */
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    eddy_fs_req_cleanup(&req);
    int fds = test_open_fds();
    cycles = 0;
    CHECK(eddy_fs_open(&loop, &req, dir, O_RDONLY | O_DIRECTORY, 0, on_opened) == 0);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    CHECK_EQ(cycles, 1000);
    CHECK_EQ(test_open_fds(), fds);
    for (int i = 0; i < 1000; i++) {
        int fd = eddy_fs_open(&loop, &req, dir, O_RDONLY, 0, NULL);
        CHECK(fd >= 0);
        eddy_fs_req_cleanup(&req);
        CHECK_EQ(eddy_fs_close(&loop, &req, fd, NULL), 0);
        CHECK(eddy_fs_open(&loop, &req, in_dir("nope"), O_RDONLY, 0, NULL) == -ENOENT);
        eddy_fs_req_cleanup(&req);
    }
    CHECK_EQ(test_open_fds(), fds);
    if (uring && uring_available()) CHECK(eddy_fs_uring_completed(&loop) == 2001);
    teardown();
}

static void t_fd_leak(void)
{
    fd_leak(0);
}
static void t_fd_leak_uring(void)
{
    fd_leak(1);
}

/* The ring is made lazily, only by asynchronous requests it can do, and copes with more
 * requests in flight than it has entries. */
static void t_uring_usage(void)
{
    setup(0);
    eddy_fs_t req;
    CHECK(eddy_fs_stat(&loop, &req, dir, on_done) == 0);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    CHECK_EQ(eddy_fs_uring_active(&loop), 0); /* off by default */
    eddy_fs_req_cleanup(&req);
    CHECK(eddy_loop_configure(&loop, EDDY_LOOP_FS_URING, 1) == 0);
    CHECK_EQ(eddy_fs_stat(&loop, &req, dir, NULL), 0);
    CHECK_EQ(eddy_fs_uring_active(&loop), 0); /* synchronous calls never use it */
    eddy_fs_req_cleanup(&req);
    if (!uring_available()) {
        printf("(io_uring unavailable here)\n");
        teardown();
        return;
    }
    CHECK(eddy_fs_stat(&loop, &req, dir, on_done) == 0);
    CHECK_EQ(eddy_fs_uring_active(&loop), 1);
    CHECK(eddy_cancel(&req.work) == -EBUSY); /* in the kernel's hands */
    done = 0;
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    CHECK(done == 1 && req.result == 0 && S_ISDIR(req.statbuf.mode));
    CHECK_EQ(eddy_fs_uring_completed(&loop), 1);
    eddy_fs_req_cleanup(&req);
    CHECK(eddy_fs_unlink(&loop, &req, in_dir("nope"), on_done) == 0); /* the pool's */
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    CHECK_EQ(eddy_fs_uring_completed(&loop), 1);
    eddy_fs_req_cleanup(&req);

    enum { N = 1000 };
    eddy_fs_t *many = calloc(N, sizeof *many);
    for (int i = 0; i < N; i++)
        CHECK(eddy_fs_stat(&loop, &many[i], i % 2 ? dir : in_dir("nope"), on_done) == 0);
    done = 0;
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    CHECK_EQ(done, N);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(many[i].result, i % 2 ? 0 : -ENOENT);
        eddy_fs_req_cleanup(&many[i]);
    }
    free(many);
    CHECK_EQ(eddy_fs_uring_completed(&loop), 1 + N);
    teardown();
}

/* A ring that cannot be set up (forced with EDDY_FS_URING_DISABLE=1, as a seccomp filter or
 * kernel.io_uring_disabled would refuse it) leaves the loop serving every fs request through the
 * pool: the same bodies pass, the pool completes them, the ring completes none, and the failure
 * is remembered and reported. */
static void t_uring_setup_fails(void)
{
    CHECK(setenv("EDDY_FS_URING_DISABLE", "1", 1) == 0);
    make_dir();
    CHECK(eddy_loop_init(&loop) == 0);
    CHECK(eddy_loop_configure(&loop, EDDY_LOOP_FS_URING, 1) == 0);
    warm_up();
    int active = eddy_fs_uring_active(&loop);
    /* -EPERM from the hook; -ENOSYS if the library was built without liburing. */
    CHECK(active == -EPERM || active == -ENOSYS);
    if (active == -ENOSYS) printf("(built without liburing: no ring to refuse)\n");
    int fds = test_open_fds();
    eddy_pool_stats_t before, after;
    CHECK_EQ(eddy_pool_stats(&before), 0);
    async_mode = 1;
    body_open_close();
    body_read_write();
    body_stat();
    body_whole_files();
    CHECK_EQ(eddy_pool_stats(&after), 0);
    printf("pool completed %llu fs requests\n",
           (unsigned long long)(after.completed - before.completed));
    CHECK(after.completed >= before.completed + 20);
    CHECK_EQ(eddy_fs_uring_completed(&loop), 0);
    CHECK_EQ(eddy_fs_uring_active(&loop), active);
    CHECK_EQ(test_open_fds(), fds);
    CHECK(eddy_loop_close(&loop) == 0);
    remove_dir();
    CHECK(unsetenv("EDDY_FS_URING_DISABLE") == 0);
}

/* Calls that cannot start say so and never call back; synchronous calls need no loop. */
static void t_bad_calls(void)
{
    setup(0);
    eddy_fs_t req;
    done = 0;
    CHECK_EQ(eddy_fs_stat(&loop, &req, NULL, on_done), -EINVAL);
    CHECK_EQ(eddy_fs_open(NULL, &req, dir, O_RDONLY, 0, on_done), -EINVAL);
    CHECK_EQ(eddy_fs_read(&loop, &req, 0, NULL, 0, 0, on_done), -EINVAL);
    CHECK_EQ(eddy_fs_rename(&loop, &req, dir, NULL, on_done), -EINVAL);
    CHECK_EQ(eddy_fs_ftruncate(&loop, &req, 0, -1, on_done), -EINVAL);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) == 0);
    CHECK_EQ(done, 0);
    CHECK_EQ(eddy_fs_stat(NULL, &req, dir, NULL), 0);
    CHECK(S_ISDIR(req.statbuf.mode));
    eddy_fs_req_cleanup(&req);
    eddy_fs_req_cleanup(&req); /* idempotent */
    req.data = &req;
    CHECK_EQ(eddy_fs_access(NULL, &req, dir, F_OK, NULL), 0);
    CHECK(req.data == &req); /* the user's pointer survives */
    eddy_fs_req_cleanup(&req);
    CHECK(strcmp(eddy_fs_type_name(EDDY_FS_SCANDIR), "scandir") == 0);
    teardown();
}

const test_case_t test_cases[] = {
    {"open_close", t_open_close},
    {"open_close_uring", t_open_close_uring},
    {"read_write", t_read_write},
    {"read_write_uring", t_read_write_uring},
    {"stat", t_stat},
    {"stat_uring", t_stat_uring},
    {"unlink_rename", t_unlink_rename},
    {"mkdir_rmdir", t_mkdir_rmdir},
    {"scandir", t_scandir},
    {"sync_truncate", t_sync_truncate},
    {"sync_truncate_uring", t_sync_truncate_uring},
    {"utime_access", t_utime_access},
    {"realpath_mkdtemp", t_realpath_mkdtemp},
    {"copyfile", t_copyfile},
    {"sendfile", t_sendfile},
    {"whole_files", t_whole_files},
    {"whole_files_uring", t_whole_files_uring},
    {"read_file_limits", t_read_file_limits},
    {"read_file_limits_uring", t_read_file_limits_uring},
    {"full_disk", t_full_disk},
    {"full_disk_uring", t_full_disk_uring},
    {"big_file", t_big_file},
    {"big_file_uring", t_big_file_uring},
    {"cancel_queued", t_cancel_queued},
    {"fd_leak", t_fd_leak},
    {"fd_leak_uring", t_fd_leak_uring},
    {"uring_usage", t_uring_usage},
    {"uring_setup_fails", t_uring_setup_fails},
    {"bad_calls", t_bad_calls},
    {NULL, NULL},
};
