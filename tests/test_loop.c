/* The loop: phases, run modes, liveness, close, walk, ref/unref, and Node's ordering rules. */
#include "harness.h"

#include <eddy.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

/* Counts iterations with an unref'd prepare hook, so tests can say "in a later iteration". */
static unsigned iteration;
static void count_iteration(eddy_prepare_t *p)
{
    iteration++;
}

static void start_counter(eddy_loop_t *loop, eddy_prepare_t *p)
{
    iteration = 0;
    CHECK(eddy_prepare_init(loop, p) == 0);
    CHECK(eddy_prepare_start(p, count_iteration) == 0);
    eddy_unref(&p->handle);
}

static char order[64];
static size_t order_len;
static void note(char c)
{
    CHECK(order_len < sizeof order - 1);
    order[order_len++] = c;
    order[order_len] = 0;
}


static void empty_loop_returns(void)
{
    eddy_loop_t loop;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    CHECK(!eddy_loop_alive(&loop));
    CHECK_EQ(eddy_run(&loop, EDDY_RUN_DEFAULT), 0);
    CHECK_EQ(eddy_run(&loop, EDDY_RUN_ONCE), 0);
    CHECK_EQ(eddy_run(&loop, EDDY_RUN_NOWAIT), 0);
    CHECK_EQ(eddy_loop_close(&loop), 0);
}

/* One iteration with one of each phase's sources runs them in Node's phase order: timers (T),
 * pending (W: a write the kernel took whole completes in the next pending phase), idle (I),
 * prepare (P), poll (R: a socket with data to read), check (C: an immediate, then K: a check
 * hook), close (X). */
static eddy_timer_t po_timer;
static eddy_idle_t po_idle;
static eddy_prepare_t po_prepare;
static eddy_check_t po_check;
static eddy_immediate_t po_imm;
static eddy_async_t po_async;
static eddy_unix_t po_writer, po_reader;
static eddy_write_t po_write;
static void po_timer_cb(eddy_timer_t *t) { note('T'); }
static void po_written(eddy_write_t *w, int status)
{
    CHECK_EQ(status, 0);
    note('W');
}
static void po_idle_cb(eddy_idle_t *h) { note('I'); eddy_idle_stop(h); }
static void po_prepare_cb(eddy_prepare_t *h) { note('P'); eddy_prepare_stop(h); }
static void po_read(eddy_stream_t *s, ssize_t n, const eddy_buf_t *buf)
{
    CHECK(n == 2 && memcmp(buf->base, "io", 2) == 0);
    note('R');
    eddy_stream_read_stop(s);
}
static void po_async_cb(eddy_async_t *a) { note('A'); }
static void po_imm_cb(eddy_immediate_t *i) { note('C'); }
static void po_check_cb(eddy_check_t *h) { note('K'); eddy_check_stop(h); }
static void po_close_cb(eddy_handle_t *h) { note('X'); }

static void phase_order(void)
{
    eddy_loop_t loop;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    order_len = 0;
    int fds[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    CHECK_EQ(eddy_unix_init(&loop, &po_writer), 0);
    CHECK_EQ(eddy_unix_init(&loop, &po_reader), 0);
    CHECK_EQ(eddy_unix_open(&po_writer, fds[0]), 0);
    CHECK_EQ(eddy_unix_open(&po_reader, fds[1]), 0);
    eddy_buf_t b = eddy_buf_init("io", 2);
    CHECK_EQ(eddy_stream_write(&po_write, &po_writer.stream, &b, 1, po_written), 0);
    CHECK_EQ(eddy_stream_read_start(&po_reader.stream, NULL, po_read), 0);
    eddy_timer_init(&loop, &po_timer);
    eddy_timer_start(&po_timer, po_timer_cb, 0, 0);
    eddy_idle_init(&loop, &po_idle);
    eddy_idle_start(&po_idle, po_idle_cb);
    eddy_prepare_init(&loop, &po_prepare);
    eddy_prepare_start(&po_prepare, po_prepare_cb);
    CHECK_EQ(eddy_async_init(&loop, &po_async, po_async_cb), 0);
    eddy_async_send(&po_async);
    eddy_immediate_init(&loop, &po_imm);
    eddy_immediate_start(&po_imm, po_imm_cb);
    eddy_check_init(&loop, &po_check);
    eddy_check_start(&po_check, po_check_cb);
    eddy_close(&po_async.handle, po_close_cb);
    /* The async was closed before the loop ran, so its send must not be delivered (no A). */
    CHECK_EQ(order_len, 0); /* nothing runs before the loop does */
    eddy_run(&loop, EDDY_RUN_ONCE);
    if (strcmp(order, "TWIPRCKX") != 0) fprintf(stderr, "order: %s\n", order);
    CHECK(strcmp(order, "TWIPRCKX") == 0);
    test_finish_loop(&loop);
}

/* From an I/O callback (the poll phase), an immediate always runs before a 0 ms timer. */
static eddy_timer_t io_timer;
static eddy_immediate_t io_imm;
static eddy_async_t io_async;
static void io_timer_cb(eddy_timer_t *t) { note('T'); }
static void io_imm_cb(eddy_immediate_t *i) { note('I'); }
static void io_async_cb(eddy_async_t *a)
{
    eddy_timer_start(&io_timer, io_timer_cb, 0, 0);
    eddy_immediate_start(&io_imm, io_imm_cb);
    eddy_close(&a->handle, NULL);
}

static void immediate_before_timer_from_io(void)
{
    for (int round = 0; round < 50; round++) {
        eddy_loop_t loop;
        CHECK_EQ(eddy_loop_init(&loop), 0);
        order_len = 0;
        eddy_timer_init(&loop, &io_timer);
        eddy_immediate_init(&loop, &io_imm);
        CHECK_EQ(eddy_async_init(&loop, &io_async, io_async_cb), 0);
        eddy_async_send(&io_async);
        eddy_run(&loop, EDDY_RUN_DEFAULT);
        CHECK(strcmp(order, "IT") == 0);
        test_finish_loop(&loop);
    }
}

/* An immediate queued inside an immediate callback runs in the next iteration. */
static eddy_immediate_t nest_a, nest_b;
static unsigned nest_a_iter, nest_b_iter;
static void nest_b_cb(eddy_immediate_t *i) { nest_b_iter = iteration; }
static void nest_a_cb(eddy_immediate_t *i)
{
    nest_a_iter = iteration;
    eddy_immediate_start(&nest_b, nest_b_cb);
}

static void immediate_in_immediate_runs_next_iteration(void)
{
    eddy_loop_t loop;
    eddy_prepare_t counter;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    start_counter(&loop, &counter);
    eddy_immediate_init(&loop, &nest_a);
    eddy_immediate_init(&loop, &nest_b);
    eddy_immediate_start(&nest_a, nest_a_cb);
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    CHECK(nest_a_iter >= 1);
    CHECK_EQ(nest_b_iter, nest_a_iter + 1);
    test_finish_loop(&loop);
}

/* eddy_immediate_stop (clearImmediate) before the check phase: the callback never runs. */
static eddy_immediate_t clr_a, clr_b;
static int clr_b_ran;
static void clr_b_cb(eddy_immediate_t *i) { clr_b_ran = 1; }
static void clr_a_cb(eddy_immediate_t *i) { eddy_immediate_stop(&clr_b); }

static void immediate_stop_cancels(void)
{
    eddy_loop_t loop;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    eddy_immediate_init(&loop, &clr_a);
    eddy_immediate_init(&loop, &clr_b);
    eddy_immediate_start(&clr_a, clr_a_cb);
    eddy_immediate_start(&clr_b, clr_b_cb);
    CHECK(eddy_loop_alive(&loop));
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    CHECK_EQ(clr_b_ran, 0);
    CHECK(!eddy_is_active(&clr_b.handle));
    test_finish_loop(&loop);
}

/* An unref'd active handle does not keep the loop alive; ref brings it back. */
static void unref_lets_loop_exit(void)
{
    eddy_loop_t loop;
    eddy_timer_t t;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    eddy_timer_init(&loop, &t);
    eddy_timer_start(&t, io_timer_cb, 60000, 0);
    CHECK(eddy_loop_alive(&loop));
    eddy_unref(&t.handle);
    CHECK(!eddy_has_ref(&t.handle));
    CHECK(!eddy_loop_alive(&loop));
    uint64_t t0 = eddy_hrtime();
    CHECK_EQ(eddy_run(&loop, EDDY_RUN_DEFAULT), 0);
    CHECK(eddy_hrtime() - t0 < 1000000000ull); /* did not wait for the 60 s timer */
    CHECK(eddy_is_active(&t.handle));
    eddy_ref(&t.handle);
    CHECK(eddy_loop_alive(&loop));
    eddy_unref(&t.handle);
    eddy_unref(&t.handle); /* idempotent */
    CHECK(!eddy_loop_alive(&loop));
    test_finish_loop(&loop);
}

/* ref/unref on the hooks and on immediates, as on timers above. The pattern, for a handle h that
 * is active and nothing else is: unref'd, DEFAULT returns at once and h stays active; ref'd
 * again, DEFAULT keeps running for h alone, until a stopper timer closes h. The stopper is
 * unref'd itself, so without h's reference nothing would wait for it. */
static eddy_timer_t ru_stopper;
static eddy_handle_t *ru_target;
static int ru_stopped, ru_runs;
static void ru_hook_cb(struct eddy_hook_s *h) { ru_runs++; }
static void ru_stop_cb(eddy_timer_t *t)
{
    ru_stopped = 1;
    eddy_close(ru_target, NULL);
}

static void check_ref_unref(eddy_loop_t *loop, eddy_handle_t *h)
{
    CHECK(eddy_is_active(h));
    CHECK(eddy_loop_alive(loop));
    eddy_unref(h);
    CHECK(!eddy_has_ref(h));
    CHECK(!eddy_loop_alive(loop));
    CHECK_EQ(eddy_run(loop, EDDY_RUN_DEFAULT), 0);
    CHECK(eddy_is_active(h)); /* unref'd, not stopped */
    eddy_ref(h);
    CHECK(eddy_has_ref(h));
    CHECK(eddy_loop_alive(loop));
    ru_target = h;
    ru_stopped = 0;
    CHECK_EQ(eddy_timer_init(loop, &ru_stopper), 0);
    CHECK_EQ(eddy_timer_start(&ru_stopper, ru_stop_cb, 20, 0), 0);
    eddy_unref(&ru_stopper.handle);
    CHECK_EQ(eddy_run(loop, EDDY_RUN_DEFAULT), 0);
    CHECK(ru_stopped); /* DEFAULT waited for the stopper: h kept it running */
    eddy_close(&ru_stopper.handle, NULL);
    test_finish_loop(loop);
}

static void ref_unref_hooks(void)
{
    int (*init[3])(eddy_loop_t *, struct eddy_hook_s *) = {eddy_idle_init, eddy_prepare_init,
                                                          eddy_check_init};
    int (*start[3])(struct eddy_hook_s *, eddy_hook_cb) = {eddy_idle_start, eddy_prepare_start,
                                                          eddy_check_start};
    for (int i = 0; i < 3; i++) {
        eddy_loop_t loop;
        struct eddy_hook_s hook;
        CHECK_EQ(eddy_loop_init(&loop), 0);
        CHECK_EQ(init[i](&loop, &hook), 0);
        CHECK_EQ(start[i](&hook, ru_hook_cb), 0);
        ru_runs = 0;
        check_ref_unref(&loop, &hook.handle);
        CHECK(ru_runs > 0); /* and it ran, once per iteration, while DEFAULT waited */
    }
}

/* An immediate is active while queued: unref'd, the loop may end without running it (Node's
 * immediate.unref()); ref'd again, DEFAULT runs it. */
static int ru_imm_runs;
static void ru_imm_cb(eddy_immediate_t *i) { ru_imm_runs++; }

static void ref_unref_immediate(void)
{
    eddy_loop_t loop;
    eddy_immediate_t imm;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    CHECK_EQ(eddy_immediate_init(&loop, &imm), 0);
    CHECK_EQ(eddy_immediate_start(&imm, ru_imm_cb), 0);
    eddy_unref(&imm.handle);
    CHECK(!eddy_loop_alive(&loop));
    CHECK_EQ(eddy_run(&loop, EDDY_RUN_DEFAULT), 0);
    CHECK_EQ(ru_imm_runs, 0);
    CHECK(eddy_is_active(&imm.handle)); /* still queued */
    eddy_ref(&imm.handle);
    CHECK(eddy_loop_alive(&loop));
    CHECK_EQ(eddy_run(&loop, EDDY_RUN_DEFAULT), 0);
    CHECK_EQ(ru_imm_runs, 1);
    CHECK(!eddy_is_active(&imm.handle));
    test_finish_loop(&loop);
}

/* eddy_loop_close refuses while a handle lives, and succeeds once it is closed. */
static int busy_closed;
static void busy_close_cb(eddy_handle_t *h) { busy_closed = 1; }

static void close_busy_then_ok(void)
{
    eddy_loop_t loop;
    eddy_timer_t t;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    eddy_timer_init(&loop, &t);
    CHECK_EQ(eddy_loop_close(&loop), -EBUSY); /* even a stopped handle counts */
    eddy_close(&t.handle, busy_close_cb);
    CHECK(eddy_is_closing(&t.handle));
    CHECK_EQ(eddy_loop_close(&loop), -EBUSY); /* its close callback has not run yet */
    CHECK(eddy_loop_alive(&loop));
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    CHECK_EQ(busy_closed, 1);
    CHECK_EQ(eddy_loop_close(&loop), 0);
}

/* eddy_stop makes DEFAULT return after the current iteration, with the loop still alive. */
static void stop_timer_cb(eddy_timer_t *t) { eddy_stop(t->handle.loop); }

static void stop_returns(void)
{
    eddy_loop_t loop;
    eddy_timer_t t;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    eddy_timer_init(&loop, &t);
    eddy_timer_start(&t, stop_timer_cb, 1, 1);
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) != 0);
    CHECK(eddy_is_active(&t.handle));
    CHECK(eddy_run(&loop, EDDY_RUN_DEFAULT) != 0); /* the flag was reset: it runs again */
    test_finish_loop(&loop);
}

/* NOWAIT never blocks even with a long timer; ONCE blocks until the timer and runs it. */
static int once_fired;
static void once_cb(eddy_timer_t *t) { once_fired++; }

static void run_modes(void)
{
    eddy_loop_t loop;
    eddy_timer_t t;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    eddy_timer_init(&loop, &t);
    eddy_timer_start(&t, once_cb, 30, 0);
    uint64_t t0 = eddy_hrtime();
    CHECK(eddy_run(&loop, EDDY_RUN_NOWAIT) != 0);
    CHECK(eddy_hrtime() - t0 < 25000000ull); /* did not wait for the 30 ms timer */
    CHECK_EQ(once_fired, 0);
    CHECK_EQ(eddy_run(&loop, EDDY_RUN_ONCE), 0);
    CHECK_EQ(once_fired, 1);
    CHECK(eddy_hrtime() - t0 >= 28000000ull); /* 30 ms from a loop time truncated to ms */
    test_finish_loop(&loop);
}

/* eddy_walk sees every handle not yet fully closed, including closing ones. */
static void walk_count(eddy_handle_t *h, void *arg)
{
    int *n = arg;
    n[h->type]++;
}

static void walk_sees_handles(void)
{
    eddy_loop_t loop;
    eddy_timer_t t1, t2;
    eddy_idle_t idle;
    int n[EDDY_HANDLE_USER] = {0};
    CHECK_EQ(eddy_loop_init(&loop), 0);
    eddy_timer_init(&loop, &t1);
    eddy_timer_init(&loop, &t2);
    eddy_idle_init(&loop, &idle);
    eddy_close(&t2.handle, NULL);
    eddy_walk(&loop, walk_count, n);
    CHECK_EQ(n[EDDY_HANDLE_TIMER], 2);
    CHECK_EQ(n[EDDY_HANDLE_IDLE], 1);
    CHECK(strcmp(eddy_handle_type_name(EDDY_HANDLE_IDLE), "idle") == 0);
    test_finish_loop(&loop);
    memset(n, 0, sizeof n);
}

/* Hooks: idle makes poll not block; a hook may stop another hook during the same phase. */
static eddy_check_t hk_a, hk_b;
static int hk_a_runs, hk_b_runs;
static eddy_timer_t hk_timer;
static void hk_b_cb(eddy_check_t *h) { hk_b_runs++; }
static void hk_a_cb(eddy_check_t *h)
{
    hk_a_runs++;
    eddy_check_stop(&hk_b); /* b is after a in the list: it must not run */
}
static void hk_timer_cb(eddy_timer_t *t)
{
    eddy_check_stop(&hk_a);
}

static void hooks_stop_each_other(void)
{
    eddy_loop_t loop;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    eddy_check_init(&loop, &hk_a);
    eddy_check_init(&loop, &hk_b);
    eddy_check_start(&hk_a, hk_a_cb);
    eddy_check_start(&hk_b, hk_b_cb);
    eddy_timer_init(&loop, &hk_timer);
    eddy_timer_start(&hk_timer, hk_timer_cb, 5, 0);
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    CHECK(hk_a_runs >= 1);
    CHECK_EQ(hk_b_runs, 0);
    test_finish_loop(&loop);
}

static eddy_idle_t idl;
static int idle_runs;
static void idle_cb(eddy_idle_t *h)
{
    idle_runs++;
}

static void idle_spins_without_blocking(void)
{
    eddy_loop_t loop;
    eddy_timer_t far;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    eddy_idle_init(&loop, &idl);
    eddy_idle_start(&idl, idle_cb);
    eddy_timer_init(&loop, &far);
    eddy_timer_start(&far, once_cb, 10000, 0);
    uint64_t t0 = eddy_hrtime();
    while (idle_runs < 1000)
        eddy_run(&loop, EDDY_RUN_ONCE);
    /* 1000 iterations with a 10 s timer pending: poll never blocked. */
    CHECK(eddy_hrtime() - t0 < 2000000000ull);
    eddy_idle_stop(&idl);
    CHECK(!eddy_is_active(&idl.handle));
    test_finish_loop(&loop);
}

/* Time is cached per iteration and moves forward on update. */
static void time_is_cached(void)
{
    eddy_loop_t loop;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    uint64_t a = eddy_now(&loop);
    usleep(5000);
    CHECK_EQ(eddy_now(&loop), a);
    eddy_update_time(&loop);
    CHECK(eddy_now(&loop) >= a + 4);
    CHECK_EQ(eddy_loop_close(&loop), 0);
}

/* The default loop is one loop, reused. */
static void default_loop_is_shared(void)
{
    eddy_loop_t *a = eddy_default_loop(), *b = eddy_default_loop();
    CHECK(a != NULL && a == b);
    CHECK_EQ(eddy_run(a, EDDY_RUN_DEFAULT), 0);
    CHECK_EQ(eddy_loop_close(a), 0);
}

static void error_text(void)
{
    CHECK(strcmp(eddy_err_name(EDDY_ECONNRESET), "ECONNRESET") == 0);
    CHECK(strcmp(eddy_err_name(EDDY_EOF), "EOF") == 0);
    CHECK(strstr(eddy_strerror(EDDY_ECONNREFUSED), "refused") != NULL);
    CHECK(strcmp(eddy_strerror(EDDY_EOF), "end of file") == 0);
    CHECK(strcmp(eddy_err_name(1), "UNKNOWN") == 0);
}

const test_case_t test_cases[] = {
    {"empty_loop_returns", empty_loop_returns},
    {"phase_order", phase_order},
    {"immediate_before_timer_from_io", immediate_before_timer_from_io},
    {"immediate_in_immediate_runs_next_iteration", immediate_in_immediate_runs_next_iteration},
    {"immediate_stop_cancels", immediate_stop_cancels},
    {"unref_lets_loop_exit", unref_lets_loop_exit},
    {"ref_unref_hooks", ref_unref_hooks},
    {"ref_unref_immediate", ref_unref_immediate},
    {"close_busy_then_ok", close_busy_then_ok},
    {"stop_returns", stop_returns},
    {"run_modes", run_modes},
    {"walk_sees_handles", walk_sees_handles},
    {"hooks_stop_each_other", hooks_stop_each_other},
    {"idle_spins_without_blocking", idle_spins_without_blocking},
    {"time_is_cached", time_is_cached},
    {"default_loop_is_shared", default_loop_is_shared},
    {"error_text", error_text},
    {NULL, NULL},
};
