/* Async handles: cross-thread wake-up, coalescing, and closing. */
#include "harness.h"

#include <eddy.h>
#include <pthread.h>

static eddy_async_t async;
static atomic_int sent;
static int calls;
static atomic_int stop_sending;

static void *sender(void *arg)
{
    int n = *(int *)arg;
    for (int i = 0; i < n; i++) {
        eddy_async_send(&async);
        atomic_fetch_add(&sent, 1);
    }
    return NULL;
}

/* Sends from other threads wake the loop; bursts coalesce into fewer callbacks, and the
 * last send is never lost: after the senders finish, one more callback must follow. */
static void count_cb(eddy_async_t *a)
{
    calls++;
    if (atomic_load(&stop_sending))
        eddy_close(&a->handle, NULL);
}

static void *sender_then_flag(void *arg)
{
    sender(arg);
    atomic_store(&stop_sending, 1);
    eddy_async_send(&async);
    return NULL;
}

static void sends_from_threads_coalesce(void)
{
    eddy_loop_t loop;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    CHECK_EQ(eddy_async_init(&loop, &async, count_cb), 0);
    int n = 100000;
    pthread_t a, b;
    pthread_create(&a, NULL, sender, &n);
    pthread_join(a, NULL);
    pthread_create(&b, NULL, sender_then_flag, &n);
    eddy_run(&loop, EDDY_RUN_DEFAULT); /* returns once the handle closed itself */
    pthread_join(b, NULL);
    CHECK_EQ(atomic_load(&sent), 2 * n);
    CHECK(calls >= 1);
    CHECK(calls < 2 * n); /* coalesced */
    CHECK_EQ(eddy_loop_close(&loop), 0);
}

/* A send from the loop's own thread is delivered in the next poll phase, not inline. */
static int self_calls;
static void self_cb(eddy_async_t *a)
{
    self_calls++;
    eddy_close(&a->handle, NULL);
}

static void send_from_loop_thread(void)
{
    eddy_loop_t loop;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    CHECK_EQ(eddy_async_init(&loop, &async, self_cb), 0);
    eddy_async_send(&async);
    eddy_async_send(&async);
    CHECK_EQ(self_calls, 0);
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    CHECK_EQ(self_calls, 1);
    CHECK_EQ(eddy_loop_close(&loop), 0);
}

/* An unref'd async handle does not keep the loop alive, and the loop closes cleanly. */
static void unref_async(void)
{
    eddy_loop_t loop;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    CHECK_EQ(eddy_async_init(&loop, &async, self_cb), 0);
    CHECK(eddy_loop_alive(&loop));
    eddy_unref(&async.handle);
    CHECK_EQ(eddy_run(&loop, EDDY_RUN_DEFAULT), 0);
    CHECK_EQ(self_calls, 0);
    eddy_close(&async.handle, NULL);
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    CHECK_EQ(eddy_loop_close(&loop), 0);
}

/* Two async handles on one loop: each send reaches only its own handle. */
static eddy_async_t a1, a2;
static int a1_calls, a2_calls;
static void a1_cb(eddy_async_t *a) { a1_calls++; }
static void a2_cb(eddy_async_t *a)
{
    a2_calls++;
    eddy_close(&a1.handle, NULL);
    eddy_close(&a2.handle, NULL);
}

static void handles_are_independent(void)
{
    eddy_loop_t loop;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    eddy_async_init(&loop, &a1, a1_cb);
    eddy_async_init(&loop, &a2, a2_cb);
    eddy_async_send(&a2);
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    CHECK_EQ(a1_calls, 0);
    CHECK_EQ(a2_calls, 1);
    CHECK_EQ(eddy_loop_close(&loop), 0);
}

const test_case_t test_cases[] = {
    {"sends_from_threads_coalesce", sends_from_threads_coalesce},
    {"send_from_loop_thread", send_from_loop_thread},
    {"unref_async", unref_async},
    {"handles_are_independent", handles_are_independent},
    {NULL, NULL},
};
