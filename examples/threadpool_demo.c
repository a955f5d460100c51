/* The waiter and the kitchen: the C twin of the classic Node.js pbkdf2 demo.
 *
 *   crypto.pbkdf2Sync('password', 'salt', 100000, 512, 'sha512');      // blocks the waiter
 *   for (i = 0; i < 4; i++) crypto.pbkdf2(..., () => log('Async Hash i Done'));
 *   log('Scheduled all async tasks');                                   // prints at once
 *
 * A 10 ms ticker runs on the loop the whole time, so the story can be measured: while the
 * synchronous hash runs on the loop thread the ticker stalls; while four hashes run on the
 * thread pool (class CPU, four threads by default) it keeps ticking, and the four finish at
 * about the same time because each has its own thread. The hashing is eddy's crypto module:
 * eddy_crypto_pbkdf2 with a NULL callback runs on the caller's thread (pbkdf2Sync), with a
 * callback it runs on the pool in class CPU (crypto.pbkdf2). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eddy.h"

enum { ASYNC_JOBS = 4, KEY_BYTES = 512, ITERATIONS = 100000, TICK_MS = 10 };

static const char password[] = "password";
static const char salt[] = "salt";

/* One hash: PBKDF2-HMAC-SHA512('password', 'salt', 100000 iterations, 512-byte key), into key;
 * synchronous when cb is NULL. */
static int hash_start(eddy_loop_t *loop, eddy_crypto_t *req, unsigned char *key, eddy_crypto_cb cb)
{
    return eddy_crypto_pbkdf2(loop, req, "sha512", password, strlen(password), salt, strlen(salt),
                              ITERATIONS, key, KEY_BYTES, cb);
}

typedef struct {
    eddy_crypto_t req;
    int index;
    unsigned char key[KEY_BYTES];
} hash_job_t;

static struct {
    eddy_loop_t loop;
    eddy_timer_t ticker;
    eddy_timer_t kickoff;
    uint64_t start_ns;
    uint64_t last_tick_ns;
    int ticks;
    int async_phase;        /* 0: before/during the sync hash, 1: the pool is hashing */
    int attribute_next_gap; /* the next tick's gap belongs to the sync hash */
    uint64_t sync_gap_ns;   /* the ticker's gap across the synchronous hash */
    uint64_t async_gap_ns;  /* the ticker's longest gap while the pool hashed */
    uint64_t sync_ms;
    uint64_t sched_ms; /* when the async hashes were queued */
    uint64_t done_ms[ASYNC_JOBS];
    int done;
    hash_job_t jobs[ASYNC_JOBS];
} demo;

static uint64_t elapsed_ms(void)
{
    return (eddy_hrtime() - demo.start_ns) / 1000000u;
}

static void log_time(const char *label)
{
    printf("%s: %" PRIu64 " ms\n", label, elapsed_ms());
}

static void on_tick(eddy_timer_t *t)
{
    uint64_t now = eddy_hrtime();
    uint64_t gap = demo.last_tick_ns ? now - demo.last_tick_ns : 0;
    demo.last_tick_ns = now;
    demo.ticks++;
    if (demo.attribute_next_gap) {
        demo.sync_gap_ns = gap;
        demo.attribute_next_gap = 0;
        printf("  [ticker] first tick after the synchronous hash: the loop was stuck for %.0f ms\n",
               gap / 1e6);
    } else if (demo.async_phase && gap > demo.async_gap_ns) {
        demo.async_gap_ns = gap;
    }
    if (demo.async_phase && demo.ticks % 20 == 0)
        printf("  [ticker] tick %d at %" PRIu64 " ms: the waiter is free (longest gap %.1f ms)\n",
               demo.ticks, elapsed_ms(), demo.async_gap_ns / 1e6);
}

static void print_summary(void)
{
    uint64_t first = demo.done_ms[0], last = demo.done_ms[0];
    for (int i = 1; i < ASYNC_JOBS; i++) {
        first = demo.done_ms[i] < first ? demo.done_ms[i] : first;
        last = demo.done_ms[i] > last ? demo.done_ms[i] : last;
    }
    printf("\nWhat happened:\n");
    printf("  - The synchronous hash ran on the loop thread (the waiter) for %" PRIu64
           " ms; the 10 ms ticker could not run for %.0f ms.\n",
           demo.sync_ms, demo.sync_gap_ns / 1e6);
    printf("  - \"Scheduled all async tasks\" printed at once: queueing work never blocks.\n");
    printf("  - %d hashes ran on %u pool threads (the kitchen) and finished within %" PRIu64
           " ms of each other (first at %" PRIu64 " ms, last at %" PRIu64 " ms).\n",
           ASYNC_JOBS, eddy_pool_size(), last - first, first, last);
    printf("  - Together they took %" PRIu64 " ms of wall time; one after another on the loop they "
           "would have taken about %" PRIu64 " ms (this machine has %ld cores).\n",
           last - demo.sched_ms, ASYNC_JOBS * demo.sync_ms, sysconf(_SC_NPROCESSORS_ONLN));
    printf("  - Meanwhile the ticker kept ticking: its longest gap was %.1f ms.\n",
           demo.async_gap_ns / 1e6);
    printf("Takeaway: delegate heavy work to the pool and the loop stays responsive.\n");
}

static void hash_done(eddy_crypto_t *req, int status)
{
    hash_job_t *job = eddy_container_of(req, hash_job_t, req);
    if (status != 0) {
        fprintf(stderr, "hash %d failed (%s)\n", job->index + 1, eddy_strerror(status));
        exit(1);
    }
    char label[64];
    snprintf(label, sizeof label, "Async Hash %d Done", job->index + 1);
    demo.done_ms[demo.done++] = elapsed_ms();
    log_time(label);
    if (demo.done == ASYNC_JOBS) {
        demo.async_phase = 0;
        eddy_close(&demo.ticker.handle, NULL); /* nothing left: the loop exits */
        print_summary();
    }
}

/* Runs a little after the loop starts, so the ticker is already ticking when the waiter
 * stops to chop vegetables himself. */
static void on_kickoff(eddy_timer_t *t)
{
    unsigned char key[KEY_BYTES];
    log_time("Start Synchronous Hash");
    uint64_t t0 = eddy_hrtime();
    eddy_crypto_t sync_req;
    int err = hash_start(NULL, &sync_req, key, NULL); /* NULL callback: runs right here */
    if (err != 0) {
        fprintf(stderr, "PBKDF2 failed (%s)\n", eddy_strerror(err));
        exit(1);
    }
    demo.sync_ms = (eddy_hrtime() - t0) / 1000000u;
    log_time("End Synchronous Hash");
    demo.attribute_next_gap = 1;

    for (int i = 0; i < ASYNC_JOBS; i++) {
        demo.jobs[i].index = i;
        err = hash_start(&demo.loop, &demo.jobs[i].req, demo.jobs[i].key, hash_done);
        if (err != 0) {
            fprintf(stderr, "eddy_crypto_pbkdf2: %s\n", eddy_strerror(err));
            exit(1);
        }
    }
    demo.async_phase = 1;
    demo.sched_ms = elapsed_ms();
    log_time("Scheduled all async tasks");
    eddy_pool_stats_t s;
    eddy_pool_stats(&s);
    printf("  [pool] %u threads, %u CPU jobs queued or running\n", s.threads,
           s.queued[EDDY_WORK_CPU] + s.running[EDDY_WORK_CPU]);
    eddy_close(&t->handle, NULL);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("PBKDF2-HMAC-SHA512, %d iterations, %d-byte key (eddy_crypto_pbkdf2)\n", ITERATIONS,
           KEY_BYTES);
    if (eddy_loop_init(&demo.loop) != 0 || eddy_timer_init(&demo.loop, &demo.ticker) != 0 ||
        eddy_timer_init(&demo.loop, &demo.kickoff) != 0) {
        fprintf(stderr, "cannot set up the loop\n");
        return 1;
    }
    demo.start_ns = eddy_hrtime();
    eddy_timer_start(&demo.ticker, on_tick, TICK_MS, TICK_MS);
    eddy_timer_start(&demo.kickoff, on_kickoff, 5 * TICK_MS, 0);
    eddy_run(&demo.loop, EDDY_RUN_DEFAULT);
    int err = eddy_loop_close(&demo.loop);
    if (err != 0) {
        fprintf(stderr, "eddy_loop_close: %s\n", eddy_strerror(err));
        return 1;
    }
    return 0;
}
