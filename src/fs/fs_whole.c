/* Whole files: Node's readFile and writeFile, as one blocking job each (open, size, read or
 * write everything, close), so a pool thread does it all and a cancelled or failed job never
 * leaves a descriptor behind. */
#include "fs/fs_internal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GUESS_SIZE (64u * 1024) /* first buffer for files whose size stat cannot tell */
#define IO_MAX 0x7ffff000u      /* the most Linux moves in one read or write */

/* Grows the buffer to at least want + 1 bytes (one for the NUL), doubling, capped just past the
 * limit so that a file one byte over it is still seen to be over. */
static int grow(char **buf, size_t *cap, uint64_t want, uint64_t size_max)
{
    uint64_t n = *cap ? (uint64_t)*cap * 2 : GUESS_SIZE;
    if (n < want + 1) n = want + 1;
    if (n > size_max + 2) n = size_max + 2;
    if (n > SIZE_MAX / 2) return -ENOMEM;
    char *p = realloc(*buf, (size_t)n);
    if (p == NULL) return -ENOMEM;
    *buf = p;
    *cap = (size_t)n;
    return 0;
}

/* Reads to end of file whatever stat said: /proc and /sys files report size 0 (or a page) and
 * a regular file may grow while it is read. The stat size only sizes the first buffer, with
 * room for one more byte and the NUL, so the read that meets end of file needs no second
 * buffer. */
static ssize_t read_all(eddy_fs_t *req, int fd, uint64_t size_hint)
{
    uint64_t size_max = req->_size;
    char *buf = NULL;
    size_t cap = 0, len = 0;
    if (grow(&buf, &cap, size_hint + 1, size_max) != 0) return -ENOMEM;
    for (;;) {
        if (len + 1 >= cap) {
            if (len > size_max) {
                free(buf);
                req->_size_seen = len;
                req->_syscall = "read";
                return -EFBIG;
            }
            if (grow(&buf, &cap, len + 1, size_max) != 0) {
                free(buf);
                return -ENOMEM;
            }
        }
        size_t want = cap - 1 - len > IO_MAX ? IO_MAX : cap - 1 - len;
        ssize_t n = read(fd, buf + len, want);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int err = -errno;
            free(buf);
            req->_syscall = "read";
            return err;
        }
        if (n == 0) break;
        len += (size_t)n;
    }
    if (len > size_max) {
        free(buf);
        req->_size_seen = len;
        req->_syscall = "read";
        return -EFBIG;
    }
    buf[len] = '\0';
    req->buf = buf;
    req->len = len;
    req->_state |= EDDY__FS_OWN_BUF;
    return 0;
}

void eddy__fs_read_file_run(eddy_fs_t *req)
{
    int fd = open(req->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        req->result = -errno;
        req->_syscall = "open";
        return;
    }
    struct stat st;
    ssize_t r = 0;
    if (fstat(fd, &st) != 0) {
        r = -errno;
        req->_syscall = "fstat";
    } else if (S_ISDIR(st.st_mode)) {
        r = -EISDIR;
        req->_syscall = "read";
    } else if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > req->_size) {
        /* Refused before a byte is read or allocated: Node's ERR_FS_FILE_TOO_LARGE. */
        r = -EFBIG;
        req->_size_seen = (uint64_t)st.st_size;
        req->_syscall = "read";
    } else {
        r = read_all(req, fd, S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0);
    }
    close(fd);
    req->result = r;
}

void eddy__fs_write_file_run(eddy_fs_t *req)
{
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC;
    flags |= req->_flags & EDDY_FS_WRITE_FILE_APPEND ? O_APPEND : O_TRUNC;
    if (req->_flags & EDDY_FS_WRITE_FILE_EXCL) flags |= O_EXCL;
    int fd = open(req->path, flags, req->_mode);
    if (fd < 0) {
        req->result = -errno;
        req->_syscall = "open";
        return;
    }
    const char *p = req->_bufs[0].base;
    size_t left = req->_bufs[0].len;
    ssize_t r = 0;
    while (left > 0) {
        ssize_t n = write(fd, p, left > IO_MAX ? IO_MAX : left);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            r = -errno;
            req->_syscall = "write";
            break;
        }
        p += n;
        left -= (size_t)n;
    }
    if (r == 0 && (req->_flags & EDDY_FS_WRITE_FILE_FSYNC) && fsync(fd) != 0) {
        r = -errno;
        req->_syscall = "fsync";
    }
    /* close reports deferred write errors on some file systems (NFS): they count. */
    if (close(fd) != 0 && r == 0 && errno != EINTR) {
        r = -errno;
        req->_syscall = "close";
    }
    req->result = r;
}
