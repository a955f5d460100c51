/* The blocking implementations of the fs operations. They run on a pool thread (asynchronous
 * calls) or on the caller's thread (synchronous calls), touch only the request, and report a
 * negative errno in req->result, naming the failing call in req->_syscall when it is not the
 * operation itself (copyfile's open, for example, still reports as copyfile, as Node does). */
#include "fs/fs_internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

_Static_assert(sizeof(eddy_buf_t) == sizeof(struct iovec) &&
                   offsetof(eddy_buf_t, base) == offsetof(struct iovec, iov_base) &&
                   offsetof(eddy_buf_t, len) == offsetof(struct iovec, iov_len),
               "eddy_buf_t must be laid out like struct iovec");

#define COPY_CHUNK (1u << 20) /* bytes per read/write in the copy fallbacks */

static ssize_t neg(ssize_t r)
{
    return r < 0 ? -errno : r;
}

/* ---- stat --------------------------------------------------------------------------------- */

static eddy_timespec_t ts_of(const struct statx_timestamp *t)
{
    eddy_timespec_t r = {t->tv_sec, t->tv_nsec};
    return r;
}

void eddy__fs_stat_from_statx(eddy_stat_t *st, const void *p)
{
    const struct statx *s = p;
    st->dev = makedev(s->stx_dev_major, s->stx_dev_minor);
    st->ino = s->stx_ino;
    st->mode = s->stx_mode;
    st->nlink = s->stx_nlink;
    st->uid = s->stx_uid;
    st->gid = s->stx_gid;
    st->rdev = makedev(s->stx_rdev_major, s->stx_rdev_minor);
    st->size = s->stx_size;
    st->blksize = s->stx_blksize;
    st->blocks = s->stx_blocks;
    st->atim = ts_of(&s->stx_atime);
    st->mtim = ts_of(&s->stx_mtime);
    st->ctim = ts_of(&s->stx_ctime);
    eddy_timespec_t zero = {0, 0};
    st->birthtim = (s->stx_mask & STATX_BTIME) ? ts_of(&s->stx_btime) : zero;
}

_Static_assert(EDDY__FS_STATX_MASK == (STATX_BASIC_STATS | STATX_BTIME), "statx mask");
_Static_assert(sizeof(struct statx) <= sizeof(((eddy_fs_t *)0)->_statx), "statx buffer");

static ssize_t do_stat(eddy_fs_t *req, int dirfd, const char *path, int flags)
{
    struct statx s;
    if (statx(dirfd, path, flags | AT_STATX_SYNC_AS_STAT, EDDY__FS_STATX_MASK, &s) != 0)
        return -errno;
    eddy__fs_stat_from_statx(&req->statbuf, &s);
    return 0;
}

/* ---- read, write -------------------------------------------------------------------------- */

static ssize_t do_read(eddy_fs_t *req)
{
    const struct iovec *iov = (const struct iovec *)req->_bufs;
    int n = req->_nbufs > IOV_MAX ? IOV_MAX : (int)req->_nbufs;
    ssize_t r;
    do {
        if (n == 1)
            r = req->_offset < 0 ? read(req->_fd, iov->iov_base, iov->iov_len)
                                 : pread(req->_fd, iov->iov_base, iov->iov_len, req->_offset);
        else
            r = req->_offset < 0 ? readv(req->_fd, iov, n) : preadv(req->_fd, iov, n, req->_offset);
    } while (r < 0 && errno == EINTR);
    return neg(r);
}

static ssize_t do_write(eddy_fs_t *req)
{
    const struct iovec *iov = (const struct iovec *)req->_bufs;
    int n = req->_nbufs > IOV_MAX ? IOV_MAX : (int)req->_nbufs;
    ssize_t r;
    do {
        if (n == 1)
            r = req->_offset < 0 ? write(req->_fd, iov->iov_base, iov->iov_len)
                                 : pwrite(req->_fd, iov->iov_base, iov->iov_len, req->_offset);
        else
            r = req->_offset < 0 ? writev(req->_fd, iov, n)
                                 : pwritev(req->_fd, iov, n, req->_offset);
    } while (r < 0 && errno == EINTR);
    return neg(r);
}

/* ---- mkdir -------------------------------------------------------------------------------- */

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Node's { recursive: true }: every missing ancestor is created, and a directory that already
 * exists (made by someone else meanwhile, too) is success. A file in the way is -EEXIST for
 * the last component and -ENOTDIR for an ancestor, as mkdir(2) says. */
static ssize_t mkdir_p(const char *path, mode_t mode)
{
    if (mkdir(path, mode) == 0) return 0;
    if (errno == EEXIST) return is_dir(path) ? 0 : -EEXIST;
    if (errno != ENOENT) return -errno;
    char *p = strdup(path);
    if (p == NULL) return -ENOMEM;
    ssize_t r = 0;
    for (char *s = p + 1; *s && r == 0; s++) {
        if (*s != '/' || s[-1] == '/') continue;
        *s = '\0';
        if (mkdir(p, mode) != 0 && errno != EEXIST) r = -errno;
        *s = '/';
    }
    free(p);
    if (r == 0 && mkdir(path, mode) != 0) r = errno == EEXIST && is_dir(path) ? 0 : -errno;
    return r;
}

/* ---- scandir ------------------------------------------------------------------------------ */

static eddy_dirent_type dirent_type(int dirfd, const char *name, unsigned char d_type)
{
    if (d_type == DT_UNKNOWN) {
        /* Some file systems (older XFS, some FUSE) leave the type out: ask for it. */
        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return EDDY_DIRENT_UNKNOWN;
        d_type = IFTODT(st.st_mode);
    }
    switch (d_type) {
    case DT_REG:
        return EDDY_DIRENT_FILE;
    case DT_DIR:
        return EDDY_DIRENT_DIR;
    case DT_LNK:
        return EDDY_DIRENT_LINK;
    case DT_FIFO:
        return EDDY_DIRENT_FIFO;
    case DT_SOCK:
        return EDDY_DIRENT_SOCKET;
    case DT_CHR:
        return EDDY_DIRENT_CHAR;
    case DT_BLK:
        return EDDY_DIRENT_BLOCK;
    default:
        return EDDY_DIRENT_UNKNOWN;
    }
}

static int cmp_dirent(const void *a, const void *b)
{
    return strcmp(((const eddy_dirent_t *)a)->name, ((const eddy_dirent_t *)b)->name);
}

/* Collects the names into one growing block (offsets first, since it may move), then lays
 * the entry array and the names out in a single allocation that cleanup frees at once. */
static ssize_t do_scandir(eddy_fs_t *req)
{
    DIR *d = opendir(req->path); /* glibc opens with O_CLOEXEC */
    if (d == NULL) return -errno;
    char *names = NULL;
    size_t used = 0, cap = 0, n = 0, tcap = 0;
    struct {
        size_t off;
        eddy_dirent_type type;
    } *tmp = NULL;
    ssize_t r = 0;
    errno = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL; errno = 0) {
        if (e->d_name[0] == '.' &&
            (e->d_name[1] == '\0' || (e->d_name[1] == '.' && e->d_name[2] == '\0')))
            continue;
        size_t nl = strlen(e->d_name) + 1;
        if (used + nl > cap || n == tcap) {
            cap = cap * 2 + nl + 256;
            tcap = tcap * 2 + 16;
            char *nn = realloc(names, cap);
            void *nt = nn ? realloc(tmp, tcap * sizeof *tmp) : NULL;
            if (nn) names = nn;
            if (nt) tmp = nt;
            if (nn == NULL || nt == NULL) {
                r = -ENOMEM;
                break;
            }
        }
        memcpy(names + used, e->d_name, nl);
        tmp[n].off = used;
        tmp[n].type = dirent_type(dirfd(d), e->d_name, e->d_type);
        used += nl;
        n++;
    }
    if (r == 0 && errno != 0) r = -errno;
    closedir(d);
    eddy_dirent_t *out = r == 0 ? malloc(n * sizeof *out + used + 1) : NULL;
    if (r == 0 && out == NULL) r = -ENOMEM;
    if (r == 0) {
        char *blk = (char *)(out + n);
        if (used) memcpy(blk, names, used);
        for (size_t i = 0; i < n; i++) {
            out[i].name = blk + tmp[i].off;
            out[i].type = tmp[i].type;
        }
        qsort(out, n, sizeof *out, cmp_dirent);
        req->entries = out;
        req->nentries = n;
        r = (ssize_t)n;
    }
    free(names);
    free(tmp);
    return r;
}

/* ---- copyfile, sendfile ------------------------------------------------------------------- */

/* Copies by read/write when the kernel cannot copy between these descriptors itself. */
static ssize_t copy_rw(int out_fd, int in_fd, int64_t *off, uint64_t len)
{
    char *buf = malloc(COPY_CHUNK);
    if (buf == NULL) return -ENOMEM;
    uint64_t done = 0;
    ssize_t r = 0;
    while (done < len) {
        size_t want = len - done < COPY_CHUNK ? (size_t)(len - done) : COPY_CHUNK;
        r = off ? pread(in_fd, buf, want, *off) : read(in_fd, buf, want);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        for (ssize_t w = 0, k; w < r; w += k) {
            k = write(out_fd, buf + w, (size_t)(r - w));
            if (k < 0 && errno == EINTR)
                k = 0;
            else if (k < 0) {
                r = -errno;
                goto out;
            }
        }
        done += (uint64_t)r;
        if (off) *off += r;
    }
    r = r < 0 ? -errno : 0;
out:
    free(buf);
    return r < 0 ? r : (ssize_t)done;
}

static bool kernel_cannot(int err)
{
    return err == EINVAL || err == ENOSYS || err == EXDEV || err == EOPNOTSUPP || err == ENOTSUP ||
           err == EIO || err == ENOTSOCK || err == EBADF;
}

static ssize_t do_sendfile(int out_fd, int in_fd, int64_t offset, uint64_t len)
{
    off_t off = offset;
    uint64_t done = 0;
    while (done < len) {
        size_t want = len - done > 0x7ffff000u ? 0x7ffff000u : (size_t)(len - done);
        ssize_t r = sendfile(out_fd, in_fd, offset < 0 ? NULL : &off, want);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && done == 0 && kernel_cannot(errno)) {
            int64_t o = offset;
            return copy_rw(out_fd, in_fd, offset < 0 ? NULL : &o, len);
        }
        if (r < 0) return done ? (ssize_t)done : -errno;
        if (r == 0) break;
        done += (uint64_t)r;
    }
    return (ssize_t)done;
}

static ssize_t copy_range(int out_fd, int in_fd, uint64_t size)
{
    uint64_t done = 0;
    while (done < size) {
        size_t want = size - done > 0x40000000u ? 0x40000000u : (size_t)(size - done);
        ssize_t r = copy_file_range(in_fd, NULL, out_fd, NULL, want, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && kernel_cannot(errno)) {
            ssize_t rest = do_sendfile(out_fd, in_fd, -1, size - done);
            return rest < 0 ? rest : (ssize_t)(done + (uint64_t)rest);
        }
        if (r < 0) return -errno;
        if (r == 0) break; /* the source shrank */
        done += (uint64_t)r;
    }
    return (ssize_t)done;
}

/* Opens without O_TRUNC and truncates only after checking the destination is not the source
 * (copying a file onto itself is a no-op, not a wipe). A failed copy removes a destination it
 * created or truncated, as libuv does, so no half file is left behind. */
static ssize_t do_copyfile(eddy_fs_t *req)
{
    int in = open(req->path, O_RDONLY | O_CLOEXEC);
    if (in < 0) return -errno;
    struct stat sst, dst;
    ssize_t r = fstat(in, &sst) == 0 ? 0 : -errno;
    int oflags = O_WRONLY | O_CREAT | O_CLOEXEC;
    if (req->_flags & EDDY_FS_COPYFILE_EXCL) oflags |= O_EXCL;
    int out = r == 0 ? open(req->new_path, oflags, sst.st_mode & 07777) : -1;
    if (r == 0 && out < 0) r = -errno;
    if (r == 0 && fstat(out, &dst) != 0) r = -errno;
    bool same = r == 0 && sst.st_dev == dst.st_dev && sst.st_ino == dst.st_ino;
    if (r == 0 && !same) {
        if (ftruncate(out, 0) != 0 || fchmod(out, sst.st_mode & 07777) != 0) r = -errno;
        if (r == 0) r = copy_range(out, in, (uint64_t)sst.st_size);
    }
    close(in);
    if (out >= 0 && close(out) != 0 && r >= 0 && errno != EINTR) r = -errno;
    if (r < 0 && out >= 0 && !same) unlink(req->new_path);
    return r;
}

/* ---- the dispatcher ----------------------------------------------------------------------- */

static struct timespec ts_from(double t)
{
    struct timespec ts;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec < 0) {
        ts.tv_sec--;
        ts.tv_nsec += 1000000000L;
    }
    return ts;
}

static ssize_t do_mkdtemp(eddy_fs_t *req)
{
    size_t n = strlen(req->path);
    char *p = malloc(n + 1);
    if (p == NULL) return -ENOMEM;
    memcpy(p, req->path, n + 1);
    if (mkdtemp(p) == NULL) {
        free(p);
        return -errno;
    }
    req->buf = p;
    req->len = n;
    req->_state |= EDDY__FS_OWN_BUF;
    return 0;
}

static ssize_t do_realpath(eddy_fs_t *req)
{
    char *p = realpath(req->path, NULL);
    if (p == NULL) return -errno;
    req->buf = p;
    req->len = strlen(p);
    req->_state |= EDDY__FS_OWN_BUF;
    return 0;
}

static ssize_t do_close(int fd)
{
    /* Linux releases the descriptor even when close reports EINTR: retrying could close a
     * descriptor another thread has just been given. */
    if (close(fd) != 0 && errno != EINTR) return -errno;
    return 0;
}

void eddy__fs_run(eddy_fs_t *req)
{
    ssize_t r = -ENOSYS;
    const char *p = req->path;
    switch (req->type) {
    case EDDY_FS_OPEN:
        r = neg(open(p, req->_flags | O_CLOEXEC, req->_mode));
        break;
    case EDDY_FS_CLOSE:
        r = do_close(req->_fd);
        break;
    case EDDY_FS_READ:
        r = do_read(req);
        break;
    case EDDY_FS_WRITE:
        r = do_write(req);
        break;
    case EDDY_FS_STAT:
        r = do_stat(req, AT_FDCWD, p, 0);
        break;
    case EDDY_FS_LSTAT:
        r = do_stat(req, AT_FDCWD, p, AT_SYMLINK_NOFOLLOW);
        break;
    case EDDY_FS_FSTAT:
        r = do_stat(req, req->_fd, "", AT_EMPTY_PATH);
        break;
    case EDDY_FS_UNLINK:
        r = neg(unlink(p));
        break;
    case EDDY_FS_RENAME:
        r = neg(rename(p, req->new_path));
        break;
    case EDDY_FS_MKDIR:
        r = req->_flags & EDDY_FS_MKDIR_RECURSIVE ? mkdir_p(p, (mode_t)req->_mode)
                                                  : neg(mkdir(p, (mode_t)req->_mode));
        break;
    case EDDY_FS_RMDIR:
        r = neg(rmdir(p));
        break;
    case EDDY_FS_SCANDIR:
        r = do_scandir(req);
        break;
    case EDDY_FS_FSYNC:
        r = neg(fsync(req->_fd));
        break;
    case EDDY_FS_FDATASYNC:
        r = neg(fdatasync(req->_fd));
        break;
    case EDDY_FS_FTRUNCATE:
        r = neg(ftruncate(req->_fd, (off_t)req->_size));
        break;
    case EDDY_FS_UTIME:
    case EDDY_FS_FUTIME: {
        struct timespec ts[2] = {ts_from(req->_atime), ts_from(req->_mtime)};
        r = req->type == EDDY_FS_UTIME ? neg(utimensat(AT_FDCWD, p, ts, 0))
                                       : neg(futimens(req->_fd, ts));
        break;
    }
    case EDDY_FS_ACCESS:
        r = neg(access(p, req->_mode));
        break;
    case EDDY_FS_REALPATH:
        r = do_realpath(req);
        break;
    case EDDY_FS_MKDTEMP:
        r = do_mkdtemp(req);
        break;
    case EDDY_FS_COPYFILE:
        r = do_copyfile(req);
        break;
    case EDDY_FS_SENDFILE:
        r = do_sendfile(req->_fd_out, req->_fd, req->_offset, req->_size);
        break;
    case EDDY_FS_READ_FILE:
        eddy__fs_read_file_run(req);
        return;
    case EDDY_FS_WRITE_FILE:
        eddy__fs_write_file_run(req);
        return;
    case EDDY_FS_UNKNOWN:
        break;
    }
    req->result = r;
}
