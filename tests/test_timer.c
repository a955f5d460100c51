/* Timers: one-shot, repeat, stop, again, ordering, and the heap under random churn. */
#include "harness.h"

#include <eddy.h>


static int fired;
static uint64_t fired_at;
static void count_cb(eddy_timer_t *t)
{
    fired++;
    fired_at = eddy_now(t->handle.loop);
}

static void one_shot_fires_once_after_timeout(void)
{
    eddy_loop_t loop;
    eddy_timer_t t;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    eddy_timer_init(&loop, &t);
    uint64_t start = eddy_now(&loop);
    CHECK_EQ(eddy_timer_start(&t, count_cb, 25, 0), 0);
    CHECK(eddy_timer_get_due_in(&t) == 25);
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    CHECK_EQ(fired, 1);
    CHECK(fired_at >= start + 25);
    CHECK(!eddy_is_active(&t.handle));
    CHECK_EQ(eddy_timer_get_due_in(&t), 0);
    test_finish_loop(&loop);
}

static int rep_count;
static uint64_t rep_at[5];
static void repeat_cb(eddy_timer_t *t)
{
    rep_at[rep_count] = eddy_now(t->handle.loop);
    if (++rep_count == 5)
        eddy_timer_stop(t);
}

/* The guarantee is in loop time (whole milliseconds, as in libuv and Node): each firing is at
 * least one period after the loop time the timer was (re)armed at. In wall time the first
 * period may be up to 1 ms short, since the loop time it starts from is truncated. */
static void repeat_until_stopped(void)
{
    eddy_loop_t loop;
    eddy_timer_t t;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    eddy_timer_init(&loop, &t);
    uint64_t t0 = eddy_hrtime();
    uint64_t start = eddy_now(&loop);
    eddy_timer_start(&t, repeat_cb, 2, 2);
    CHECK_EQ(eddy_timer_get_repeat(&t), 2);
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    CHECK_EQ(rep_count, 5);
    CHECK(rep_at[0] >= start + 2);
    for (int i = 1; i < 5; i++)
        CHECK(rep_at[i] >= rep_at[i - 1] + 2);
    CHECK(eddy_hrtime() - t0 > 9000000ull); /* four whole periods and more than 1 ms */
    test_finish_loop(&loop);
}

/* Timers due at the same time run in the order they were started, including restarts. */
static eddy_timer_t eq[16];
static int eq_order[16], eq_n;
static void eq_cb(eddy_timer_t *t)
{
    eq_order[eq_n++] = (int)(t - eq);
}

static void equal_due_runs_in_start_order(void)
{
    eddy_loop_t loop;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    for (int i = 0; i < 16; i++)
        eddy_timer_init(&loop, &eq[i]);
    /* Start in a scrambled order, then restart 3 so it moves to the end. */
    int start_order[16] = {5, 3, 9, 0, 15, 1, 12, 7, 2, 14, 4, 11, 6, 13, 8, 10};
    for (int i = 0; i < 16; i++)
        eddy_timer_start(&eq[start_order[i]], eq_cb, 10, 0);
    eddy_timer_start(&eq[3], eq_cb, 10, 0);
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    CHECK_EQ(eq_n, 16);
    int expect[16] = {5, 9, 0, 15, 1, 12, 7, 2, 14, 4, 11, 6, 13, 8, 10, 3};
    for (int i = 0; i < 16; i++)
        CHECK_EQ(eq_order[i], expect[i]);
    test_finish_loop(&loop);
}

/* A timer due in the same phase but stopped by an earlier callback never fires. */
static eddy_timer_t st_a, st_b;
static int st_b_fired;
static void st_b_cb(eddy_timer_t *t) { st_b_fired = 1; }
static void st_a_cb(eddy_timer_t *t) { eddy_timer_stop(&st_b); }

static void stopped_in_same_phase_never_fires(void)
{
    eddy_loop_t loop;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    eddy_timer_init(&loop, &st_a);
    eddy_timer_init(&loop, &st_b);
    eddy_timer_start(&st_a, st_a_cb, 5, 0);
    eddy_timer_start(&st_b, st_b_cb, 5, 0);
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    CHECK_EQ(st_b_fired, 0);
    test_finish_loop(&loop);
}

/* A 0 ms timer started inside a timer callback runs in a later timers phase, not this one. */
static unsigned iteration;
static void count_iteration(eddy_prepare_t *p) { iteration++; }
static eddy_timer_t in_a, in_b;
static unsigned in_a_iter, in_b_iter;
static void in_b_cb(eddy_timer_t *t) { in_b_iter = iteration; }
static void in_a_cb(eddy_timer_t *t)
{
    in_a_iter = iteration;
    eddy_timer_start(&in_b, in_b_cb, 0, 0);
}

static void started_in_phase_runs_later(void)
{
    eddy_loop_t loop;
    eddy_prepare_t counter;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    eddy_prepare_init(&loop, &counter);
    eddy_prepare_start(&counter, count_iteration);
    eddy_unref(&counter.handle);
    eddy_timer_init(&loop, &in_a);
    eddy_timer_init(&loop, &in_b);
    eddy_timer_start(&in_a, in_a_cb, 0, 0);
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    CHECK(in_b_iter > in_a_iter);
    test_finish_loop(&loop);
}

/* A repeating timer re-armed during the timers phase does not run twice in that phase. */
static int zr_count;
static unsigned zr_iters[3];
static void zero_repeat_cb(eddy_timer_t *t)
{
    zr_iters[zr_count] = iteration;
    if (++zr_count == 3)
        eddy_timer_stop(t);
}

static void repeat_runs_once_per_phase(void)
{
    eddy_loop_t loop;
    eddy_prepare_t counter;
    eddy_timer_t t;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    iteration = 0;
    eddy_prepare_init(&loop, &counter);
    eddy_prepare_start(&counter, count_iteration);
    eddy_unref(&counter.handle);
    eddy_timer_init(&loop, &t);
    eddy_timer_start(&t, zero_repeat_cb, 0, 1);
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    CHECK_EQ(zr_count, 3);
    CHECK(zr_iters[1] > zr_iters[0] && zr_iters[2] > zr_iters[1]);
    test_finish_loop(&loop);
}

static void again_restarts_repeat(void)
{
    eddy_loop_t loop;
    eddy_timer_t t;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    eddy_timer_init(&loop, &t);
    CHECK_EQ(eddy_timer_again(&t), -EINVAL); /* never started */
    eddy_timer_start(&t, count_cb, 50, 0);
    eddy_timer_set_repeat(&t, 1000);
    CHECK_EQ(eddy_timer_again(&t), 0);
    CHECK_EQ(eddy_timer_get_due_in(&t), 1000);
    eddy_timer_stop(&t);
    eddy_timer_stop(&t); /* idempotent */
    CHECK(!eddy_is_active(&t.handle));
    CHECK_EQ(eddy_timer_start(&t, NULL, 1, 0), -EINVAL);
    test_finish_loop(&loop);
}

/* Random starts, restarts and stops: every timer that should fire fires once, in due order. */
#define CHURN 20000
static eddy_timer_t churn[CHURN];
static uint64_t churn_due[CHURN];
static int churn_fired[CHURN];
static uint64_t churn_last_due;
static int churn_order_ok = 1;
static void churn_cb(eddy_timer_t *t)
{
    size_t i = (size_t)(t - churn);
    churn_fired[i]++;
    if (churn_due[i] < churn_last_due)
        churn_order_ok = 0;
    churn_last_due = churn_due[i];
}

static void heap_random_churn(void)
{
    eddy_loop_t loop;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    srand(1234);
    uint64_t now = eddy_now(&loop);
    for (int i = 0; i < CHURN; i++) {
        eddy_timer_init(&loop, &churn[i]);
        uint64_t ms = (uint64_t)(rand() % 40);
        churn_due[i] = now + ms;
        eddy_timer_start(&churn[i], churn_cb, ms, 0);
    }
    int stopped = 0;
    for (int i = 0; i < CHURN; i += 3) {
        if (i % 2) {
            eddy_timer_stop(&churn[i]);
            churn_due[i] = UINT64_MAX;
            stopped++;
        } else {
            uint64_t ms = (uint64_t)(rand() % 40);
            churn_due[i] = now + ms;
            eddy_timer_start(&churn[i], churn_cb, ms, 0);
        }
    }
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    int total = 0;
    for (int i = 0; i < CHURN; i++) {
        CHECK(churn_fired[i] == (churn_due[i] == UINT64_MAX ? 0 : 1));
        total += churn_fired[i];
    }
    CHECK_EQ(total, CHURN - stopped);
    CHECK(churn_order_ok);
    test_finish_loop(&loop);
}

static void close_stops_timer(void)
{
    eddy_loop_t loop;
    eddy_timer_t t;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    fired = 0;
    eddy_timer_init(&loop, &t);
    eddy_timer_start(&t, count_cb, 0, 0);
    eddy_close(&t.handle, NULL);
    CHECK_EQ(eddy_timer_start(&t, count_cb, 0, 0), -EINVAL);
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    CHECK_EQ(fired, 0);
    CHECK_EQ(eddy_loop_close(&loop), 0);
}

const test_case_t test_cases[] = {
    {"one_shot_fires_once_after_timeout", one_shot_fires_once_after_timeout},
    {"repeat_until_stopped", repeat_until_stopped},
    {"equal_due_runs_in_start_order", equal_due_runs_in_start_order},
    {"stopped_in_same_phase_never_fires", stopped_in_same_phase_never_fires},
    {"started_in_phase_runs_later", started_in_phase_runs_later},
    {"repeat_runs_once_per_phase", repeat_runs_once_per_phase},
    {"again_restarts_repeat", again_restarts_repeat},
    {"heap_random_churn", heap_random_churn},
    {"close_stops_timer", close_stops_timer},
    {NULL, NULL},
};
