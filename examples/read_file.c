/* readFileSync vs readFile: why the waiter must never cook.
 *
 * A 10 ms ticker runs on the loop, standing in for every other client of a server. Halfway
 * through each phase the program reads a 256 MiB file whole:
 *   1. synchronously on the loop (eddy_fs_read_file with a NULL callback: Node's readFileSync):
 *      no tick can run until the read is done, so the ticker's longest gap is the read's time;
 *   2. asynchronously on the thread pool (a callback: Node's readFile): the kitchen reads, the
 *      waiter keeps serving, and the ticker never notices;
 *   3. the same through io_uring (EDDY_LOOP_FS_URING), when the kernel allows it.
 * Whole-file reads still hold the whole file in memory (256 MiB here, per reader): for big
 * files a server streams instead (64 KiB at a time), which keeps memory flat as well.
 *
 * Usage: read_file [size_mib]   (default 256; the temporary file is removed at the end) */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eddy.h"

typedef struct {
    eddy_loop_t loop;
    eddy_timer_t ticker;
    eddy_timer_t start;
    eddy_timer_t stop;
    eddy_fs_t req;
    const char *path;
    int async;
    uint64_t last_tick_ns;
    uint64_t longest_gap_ns;
    uint64_t ticks;
    uint64_t read_ns;
    size_t len;
    int result;
    char *contents;
    uint64_t free_ns;
} phase_t;

static void on_tick(eddy_timer_t *t)
{
    phase_t *p = t->handle.data;
    uint64_t now = eddy_hrtime();
    if (p->last_tick_ns && now - p->last_tick_ns > p->longest_gap_ns)
        p->longest_gap_ns = now - p->last_tick_ns;
    p->last_tick_ns = now;
    p->ticks++;
}

static void on_stop(eddy_timer_t *t)
{
    phase_t *p = t->handle.data;
    eddy_close(&p->ticker.handle, NULL);
    eddy_close(&p->start.handle, NULL);
    eddy_close(&p->stop.handle, NULL);
}

/* The read is over (either way): note it, free the contents, and let the ticker run 100 ms
 * more so that a stall right at the end would show too. */
static void read_done(phase_t *p, uint64_t began)
{
    p->read_ns = eddy_hrtime() - began;
    p->result = (int)p->req.result;
    p->len = p->req.len;
    if (p->result < 0) {
        char msg[512];
        eddy_fs_strerror(&p->req, msg, sizeof msg);
        fprintf(stderr, "read_file: %s\n", msg);
    }
    /* Returning 256 MiB to the kernel takes tens of ms itself: keep the contents until the
     * phase is over, so the ticker measures the read alone (run_phase frees them). */
    p->contents = p->req.buf;
    p->req.buf = NULL;
    eddy_fs_req_cleanup(&p->req);
    eddy_update_time(&p->loop);
    eddy_timer_start(&p->stop, on_stop, 100, 0);
}

static uint64_t began_ns;

static void on_read(eddy_fs_t *req)
{
    read_done(req->data, began_ns);
}

static void on_start(eddy_timer_t *t)
{
    phase_t *p = t->handle.data;
    p->req.data = p;
    began_ns = eddy_hrtime();
    if (!p->async) {
        /* The loop's thread reads 256 MiB itself: nothing else runs meanwhile. */
        eddy_fs_read_file(&p->loop, &p->req, p->path, 0, NULL);
        read_done(p, began_ns);
    } else if (eddy_fs_read_file(&p->loop, &p->req, p->path, 0, on_read) != 0) {
        read_done(p, began_ns);
    }
}

static int run_phase(phase_t *p, const char *path, int async, int uring)
{
    memset(p, 0, sizeof *p);
    p->path = path;
    p->async = async;
    if (eddy_loop_init(&p->loop) != 0) return -1;
    eddy_loop_configure(&p->loop, EDDY_LOOP_FS_URING, uring);
    eddy_timer_t *timers[] = {&p->ticker, &p->start, &p->stop};
    for (int i = 0; i < 3; i++) {
        eddy_timer_init(&p->loop, timers[i]);
        timers[i]->handle.data = p;
    }
    eddy_timer_start(&p->ticker, on_tick, 10, 10);
    eddy_timer_start(&p->start, on_start, 100, 0);
    eddy_run(&p->loop, EDDY_RUN_DEFAULT);
    uint64_t t0 = eddy_hrtime();
    free(p->contents);
    p->free_ns = eddy_hrtime() - t0;
    if (uring && eddy_fs_uring_active(&p->loop) != 1)
        p->result = 1; /* no ring here: the phase says so instead of repeating phase 2 */
    return eddy_loop_close(&p->loop);
}

static int make_file(const char *path, size_t size)
{
    /* Real bytes, not a hole, so the read copies real pages: 1 MiB of pattern repeated. */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    size_t chunk = 1u << 20;
    char *buf = malloc(chunk);
    for (size_t i = 0; buf && i < chunk; i++)
        buf[i] = (char)('a' + i % 26);
    int ok = buf != NULL;
    for (size_t done = 0; ok && done < size; done += chunk)
        ok = write(fd, buf, chunk) == (ssize_t)chunk;
    free(buf);
    close(fd);
    return ok ? 0 : -1;
}

static void report(const char *what, const phase_t *p)
{
    if (p->result == 1) {
        printf("  %-34s (io_uring is not available here: skipped)\n", what);
        return;
    }
    printf("  %-34s read %zu MiB in %4.0f ms; ticker's longest gap %6.1f ms (%llu ticks)\n", what,
           p->len >> 20, p->read_ns / 1e6, p->longest_gap_ns / 1e6, (unsigned long long)p->ticks);
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 256;
    if (mib == 0 || mib > 1024) {
        fprintf(stderr, "usage: read_file [size_mib (1..1024)]\n");
        return 2;
    }
    char path[] = "/tmp/eddy_read_file_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || make_file(path, mib << 20) != 0) {
        perror("creating the temporary file");
        return 1;
    }
    close(fd);

    printf("Reading a %zu MiB file whole while a 10 ms ticker runs on the loop:\n", mib);
    phase_t *sync = malloc(sizeof *sync), *pool = malloc(sizeof *pool);
    phase_t *uring = malloc(sizeof *uring);
    int err = run_phase(sync, path, 0, 0);
    err |= run_phase(pool, path, 1, 0);
    err |= run_phase(uring, path, 1, 1);
    unlink(path);
    report("1. readFileSync (NULL callback):", sync);
    report("2. readFile on the pool:", pool);
    report("3. readFile through io_uring:", uring);
    printf("\nThe synchronous read held the loop for %.0f ms: every tick (every other client)\n"
           "waited that long. The asynchronous reads took about as long, but in the kitchen:\n"
           "the waiter kept ticking every ~10 ms. Never call a NULL-callback fs function from a\n"
           "loop that serves anyone; and stream big files instead of reading them whole, since\n"
           "each whole read holds %zu MiB of memory until it is freed (and freeing it took\n"
           "%.0f ms of the loop's time here).\n",
           sync->read_ns / 1e6, mib, pool->free_ns / 1e6);
    int failed = err || sync->result < 0 || pool->result < 0 || uring->result < 0;
    free(sync);
    free(pool);
    free(uring);
    return failed ? 1 : 0;
}
