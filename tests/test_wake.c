/* The cross-thread wake protocol (src/core/async.c): a busy loop takes pool completions and
 * async sends without the eventfd, a blocked loop is always woken, and the loop's spin for
 * pool work backs off when the work is slow. */
#include "harness.h"

#include <eddy.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "core/internal.h"


static bool wake_fd_readable(eddy_loop_t *loop)
{
    struct pollfd p = {.fd = loop->_wake_io._fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

static void noop_work(eddy_work_t *w)
{
}

/* ---- a busy loop: completions arrive, and nobody writes the eventfd ---- */

#define BUSY_N 5000
static eddy_work_t busy_work[BUSY_N];
static int busy_done;
static eddy_idle_t busy_idle;

static void busy_after(eddy_work_t *w, int status)
{
    CHECK_EQ(status, 0);
    if (++busy_done == BUSY_N)
        eddy_idle_stop(&busy_idle);
}

static void idle_spin(eddy_idle_t *h)
{
}

static void busy_loop_takes_completions_without_eventfd(void)
{
    eddy_loop_t loop;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    CHECK_EQ(eddy__loop_wake_init(&loop), 0);
    CHECK_EQ(eddy_idle_init(&loop, &busy_idle), 0);
    CHECK_EQ(eddy_idle_start(&busy_idle, idle_spin), 0);
    /* One iteration marks the loop awake; from then on it never blocks (the idle handle). */
    eddy_run(&loop, EDDY_RUN_NOWAIT);
    for (int i = 0; i < BUSY_N; i++)
        CHECK_EQ(eddy_queue_work(&loop, &busy_work[i], EDDY_WORK_USER, noop_work, busy_after), 0);
    eddy_run(&loop, EDDY_RUN_DEFAULT); /* returns when the last completion stops the idle */
    CHECK_EQ(busy_done, BUSY_N);
    CHECK(!wake_fd_readable(&loop)); /* no completion wrote it */
    CHECK_EQ(loop._spins, 0ul);       /* a loop that never blocks never spins */
    test_finish_loop(&loop);
}

/* ---- async ping-pong: every send is seen, whether the loop is busy or blocked ---- */

#define PING_N 20000
static eddy_async_t ping;
static atomic_int seen;
static int ping_calls;

static void ping_cb(eddy_async_t *a)
{
    ping_calls++;
    atomic_fetch_add(&seen, 1);
    if (ping_calls == PING_N)
        eddy_close(&a->handle, NULL);
}

/* Sends, then waits until the loop has run the callback before sending again, so no two
 * sends coalesce and each must produce exactly one callback. */
static void *pinger(void *arg)
{
    for (int i = 1; i <= PING_N; i++) {
        eddy_async_send(&ping);
        while (atomic_load(&seen) < i)
            sched_yield();
    }
    return NULL;
}

static void run_ping(bool busy)
{
    eddy_loop_t loop;
    eddy_idle_t idle;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    CHECK_EQ(eddy_async_init(&loop, &ping, ping_cb), 0);
    if (busy) {
        CHECK_EQ(eddy_idle_init(&loop, &idle), 0);
        CHECK_EQ(eddy_idle_start(&idle, idle_spin), 0);
        eddy_unref(&idle.handle); /* the async keeps the loop alive, not the idle */
    }
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, pinger, NULL), 0);
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    CHECK_EQ(pthread_join(th, NULL), 0);
    CHECK_EQ(ping_calls, PING_N);
    test_finish_loop(&loop);
}

static void async_sends_reach_busy_loop(void)
{
    run_ping(true);
}

static void async_sends_wake_blocked_loop(void)
{
    run_ping(false);
}

/* ---- pool ping-pong against a blocking loop: every completion is delivered ---- */

#define CHAIN_N 20000
static eddy_work_t chain_req;
static int chain_done;

static void chain_after(eddy_work_t *w, int status)
{
    CHECK_EQ(status, 0);
    if (++chain_done < CHAIN_N)
        CHECK_EQ(eddy_queue_work(w->loop, w, EDDY_WORK_USER, noop_work, chain_after), 0);
}

static void serial_chain_completes(void)
{
    eddy_loop_t loop;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    CHECK_EQ(eddy_queue_work(&loop, &chain_req, EDDY_WORK_USER, noop_work, chain_after), 0);
    CHECK_EQ(eddy_run(&loop, EDDY_RUN_DEFAULT), 0);
    CHECK_EQ(chain_done, CHAIN_N);
    CHECK_EQ(loop._pool_inflight, 0u);
    test_finish_loop(&loop);
}

/* ---- slow work: the loop's spin backs off ---- */

static atomic_int slow_release;
static eddy_work_t slow_req;
static eddy_timer_t slow_ticker;
static int slow_ticks;

/* Slow work that ends when the loop says so (after enough ticks), not after a fixed time. */
static void slow_work(eddy_work_t *w)
{
    while (!atomic_load(&slow_release))
        sched_yield();
}

static void slow_after(eddy_work_t *w, int status)
{
    CHECK_EQ(status, 0);
    eddy_close(&slow_ticker.handle, NULL);
}

static void slow_tick(eddy_timer_t *t)
{
    if (++slow_ticks == 500)
        atomic_store(&slow_release, 1);
}

static void spin_backs_off_for_slow_work(void)
{
    eddy_loop_t loop;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    CHECK_EQ(eddy_timer_init(&loop, &slow_ticker), 0);
    CHECK_EQ(eddy_timer_start(&slow_ticker, slow_tick, 1, 1), 0);
    CHECK_EQ(eddy_queue_work(&loop, &slow_req, EDDY_WORK_USER, slow_work, slow_after), 0);
    CHECK_EQ(eddy_run(&loop, EDDY_RUN_DEFAULT), 0);
    CHECK(slow_ticks >= 500);
    /* Each of the >= 500 blocking polls had pool work in flight; doubling the skip after every
     * fruitless spin leaves about log2(500) spins (and at most one per 1024 polls later). */
    fprintf(stderr, "%d ticks, %lu spins\n", slow_ticks, loop._spins);
    CHECK(loop._spins >= 1);
    CHECK(loop._spins <= 16);
    test_finish_loop(&loop);
}

const test_case_t test_cases[] = {
    {"busy_loop_takes_completions_without_eventfd", busy_loop_takes_completions_without_eventfd},
    {"async_sends_reach_busy_loop", async_sends_reach_busy_loop},
    {"async_sends_wake_blocked_loop", async_sends_wake_blocked_loop},
    {"serial_chain_completes", serial_chain_completes},
    {"spin_backs_off_for_slow_work", spin_backs_off_for_slow_work},
    {NULL, NULL},
};
