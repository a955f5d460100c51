/* The timer wheel against a model, on a simulated clock: the test sets the loop's cached time
 * and runs the timers phase itself (through src/core/internal.h), so hours and years of
 * timeouts, cascades through every level and large jumps of time take no real time.
 *
 * The model is what Node and libuv promise: a timer fires at the first timers phase whose
 * time is at or after its due time; timers that fire in one phase run in due order, equal due
 * times in start order; a stopped timer never fires; a timer started inside a phase does not
 * run in it. And the poll timeout is never later than the next due time, and exactly it when
 * the wheel says so. Plus real-clock cases for what the simulation cannot show: RUN_ONCE
 * across a cascade, and long timers on the real loop. */
#include "harness.h"

#include <eddy.h>
#include <stdlib.h>

#include "core/internal.h"

#define N 4000

static eddy_loop_t loop;
static eddy_timer_t tm[N];
static uint64_t model_due[N]; /* UINT64_MAX: not started or stopped */
static uint64_t model_seq[N];
static uint64_t seq;
static uint64_t fired_due[N * 4], fired_seq[N * 4];
static int fired_n;
static uint64_t phase_time;
static uint64_t lcg = 88172645463325252ull;
#define MARK (1ull << 62) /* in model_seq: started inside the running phase */

static uint64_t rnd(void)
{
    lcg ^= lcg << 13;
    lcg ^= lcg >> 7;
    lcg ^= lcg << 17;
    return lcg;
}

static void fired_cb(eddy_timer_t *t)
{
    size_t i = (size_t)(t - tm);
    CHECK(model_due[i] != UINT64_MAX);  /* a stopped timer never fires */
    CHECK(model_due[i] <= phase_time);  /* never early */
    CHECK(!(model_seq[i] & MARK));      /* not started inside this phase */
    fired_due[fired_n] = model_due[i];
    fired_seq[fired_n] = model_seq[i];
    fired_n++;
    model_due[i] = UINT64_MAX;
    /* Sometimes start another timer from inside the phase, possibly already due. */
    if (rnd() % 8 == 0) {
        size_t j = rnd() % N;
        uint64_t ms = rnd() % 3 == 0 ? 0 : rnd() % 200;
        eddy_timer_start(&tm[j], fired_cb, ms, 0);
        model_due[j] = loop._time_ms + ms;
        model_seq[j] = ++seq;
        model_seq[j] |= MARK;
    }
}

static uint64_t random_timeout(void)
{
    switch (rnd() % 6) {
    case 0: return rnd() % 64;                    /* level 0 */
    case 1: return rnd() % 4096;                  /* level 1 */
    case 2: return rnd() % (1ull << 18);          /* level 2 */
    case 3: return rnd() % (1ull << 30);          /* up to level 4 */
    case 4: return rnd() % (1ull << 45);          /* up to level 7 */
    default: return rnd() % 3;                    /* due at once */
    }
}

/* The earliest due time the model holds, or UINT64_MAX. */
static uint64_t model_next(void)
{
    uint64_t next = UINT64_MAX;
    for (int i = 0; i < N; i++)
        if (model_due[i] < next)
            next = model_due[i];
    return next;
}

static void one_phase(void)
{
    phase_time = loop._time_ms;
    int before = fired_n;
    eddy__timers_run(&loop);
    /* In due order, ties in start order; none started inside this phase. */
    for (int k = before + 1; k < fired_n; k++) {
        CHECK(fired_due[k] >= fired_due[k - 1]);
        if (fired_due[k] == fired_due[k - 1])
            CHECK(fired_seq[k] > fired_seq[k - 1]);
    }
    /* Everything due by now has fired, except timers started inside the phase. */
    for (int i = 0; i < N; i++)
        if (model_due[i] <= phase_time)
            CHECK(model_seq[i] & MARK);
    for (int i = 0; i < N; i++)
        model_seq[i] &= ~MARK; /* from the next phase on they are ordinary */
}

/* The poll timeout is a lower bound of the next due time, exact unless it says otherwise. */
static void check_timeout(void)
{
    uint64_t next = model_next();
    int timeout = eddy__timers_next_timeout(&loop);
    if (next == UINT64_MAX) {
        CHECK_EQ(timeout, -1);
        return;
    }
    CHECK(timeout >= 0);
    uint64_t wake = loop._time_ms + (uint64_t)timeout;
    if (next <= loop._time_ms) {
        CHECK_EQ(timeout, 0);
    } else if (timeout < INT32_MAX) {
        CHECK(wake <= next);
        if (!eddy__timers_bound_early(&loop))
            CHECK(wake == next);
    }
}

static void model_matches_wheel(void)
{
    CHECK_EQ(eddy_loop_init(&loop), 0);
    for (int i = 0; i < N; i++) {
        eddy_timer_init(&loop, &tm[i]);
        model_due[i] = UINT64_MAX;
    }
    for (int round = 0; round < 3000; round++) {
        /* Start, restart or stop a few timers. */
        for (int k = 0; k < 8; k++) {
            size_t i = rnd() % N;
            if (rnd() % 5 == 0) {
                eddy_timer_stop(&tm[i]);
                model_due[i] = UINT64_MAX;
            } else {
                uint64_t ms = random_timeout();
                CHECK_EQ(eddy_timer_start(&tm[i], fired_cb, ms, 0), 0);
                model_due[i] = loop._time_ms + ms;
                model_seq[i] = ++seq;
            }
        }
        check_timeout();
        /* Move the clock: to the next wake-up, a little, or a long way. */
        int timeout = eddy__timers_next_timeout(&loop);
        switch (rnd() % 4) {
        case 0:
            if (timeout > 0) loop._time_ms += (uint64_t)timeout;
            break;
        case 1: loop._time_ms += rnd() % 3; break;
        case 2: loop._time_ms += rnd() % 5000; break;
        default: loop._time_ms += rnd() % (1ull << 34); break;
        }
        one_phase();
        if (fired_n > N * 3)
            fired_n = 0;
    }
    /* Run everything out: jump to each wake-up until the model is empty. */
    for (int guard = 0; model_next() != UINT64_MAX; guard++) {
        CHECK(guard < 100000);
        int timeout = eddy__timers_next_timeout(&loop);
        CHECK(timeout >= 0);
        loop._time_ms += timeout > 0 ? (uint64_t)timeout : 0;
        one_phase();
        if (fired_n > N * 3)
            fired_n = 0;
    }
    CHECK_EQ(eddy__timers_next_timeout(&loop), -1);
    for (int i = 0; i < N; i++)
        eddy_close(&tm[i].handle, NULL);
    loop._time_ms = eddy_hrtime() / 1000000u; /* back to the real clock for the close */
    CHECK_EQ(eddy_run(&loop, EDDY_RUN_DEFAULT), 0);
    CHECK_EQ(eddy_loop_close(&loop), 0);
}

/* A million-timer-like burst at one due time, started across a cascade boundary: they fire
 * in start order even though some went through a higher level and some did not. */
static int order_next;
static void order_cb(eddy_timer_t *t)
{
    CHECK_EQ((int)(t - tm), order_next);
    order_next++;
}

static void equal_due_across_cascade_keeps_start_order(void)
{
    CHECK_EQ(eddy_loop_init(&loop), 0);
    loop._time_ms = 1000000; /* simulated from here on */
    eddy__timers_fini(&loop);
    CHECK_EQ(eddy__timers_init(&loop), 0);
    uint64_t due = loop._time_ms + 5000;
    for (int i = 0; i < N; i++) {
        eddy_timer_init(&loop, &tm[i]);
        /* Every 400 starts the clock moves on, so the same due time is placed from ever
         * closer: first at level 2, then 1, then 0. */
        if (i % 400 == 0 && i > 0) {
            loop._time_ms += 499;
            eddy__timers_run(&loop);
        }
        CHECK_EQ(eddy_timer_start(&tm[i], order_cb, due - loop._time_ms, 0), 0);
    }
    loop._time_ms = due;
    eddy__timers_run(&loop);
    CHECK_EQ(order_next, N);
    loop._time_ms = eddy_hrtime() / 1000000u;
    for (int i = 0; i < N; i++)
        eddy_close(&tm[i].handle, NULL);
    CHECK_EQ(eddy_run(&loop, EDDY_RUN_DEFAULT), 0);
    CHECK_EQ(eddy_loop_close(&loop), 0);
}

/* Real clock: RUN_ONCE returns only after the timer ran, even when the poll first wakes for a
 * cascade (a 150 ms timer starts at level 1 or 2). */
static int once_fired;
static void once_cb(eddy_timer_t *t)
{
    once_fired++;
}

static void once_waits_through_cascades(void)
{
    eddy_timer_t t;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    eddy_timer_init(&loop, &t);
    uint64_t start = eddy_now(&loop);
    CHECK_EQ(eddy_timer_start(&t, once_cb, 150, 0), 0);
    CHECK_EQ(eddy_run(&loop, EDDY_RUN_ONCE), 0);
    CHECK_EQ(once_fired, 1);
    CHECK(eddy_now(&loop) >= start + 150);
    eddy_close(&t.handle, NULL);
    CHECK_EQ(eddy_run(&loop, EDDY_RUN_DEFAULT), 0);
    CHECK_EQ(eddy_loop_close(&loop), 0);
}

const test_case_t test_cases[] = {
    {"model_matches_wheel", model_matches_wheel},
    {"equal_due_across_cascade_keeps_start_order", equal_due_across_cascade_keeps_start_order},
    {"once_waits_through_cascades", once_waits_through_cascades},
    {NULL, NULL},
};
