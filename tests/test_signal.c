/* Signal handles through signalfd: delivery, several watchers, one-shot, stop. */
#include "harness.h"

#include <eddy.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static int got[4];
static void on_sig(eddy_signal_t *s, int signum)
{
    got[(intptr_t)s->handle.data] += signum == SIGUSR1 ? 1 : 100;
}

static void close_all(eddy_handle_t *h, void *arg)
{
    if (!eddy_is_closing(h))
        eddy_close(h, NULL);
}

static eddy_timer_t raiser;
static void raise_usr1(eddy_timer_t *t) { raise(SIGUSR1); }

/* Two handles watching SIGUSR1 both see it; a handle on SIGUSR2 does not. */
static void several_handles_one_signal(void)
{
    eddy_loop_t loop;
    eddy_signal_t s0, s1, s2;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    eddy_signal_init(&loop, &s0);
    eddy_signal_init(&loop, &s1);
    eddy_signal_init(&loop, &s2);
    s0.handle.data = (void *)0;
    s1.handle.data = (void *)1;
    s2.handle.data = (void *)2;
    CHECK_EQ(eddy_signal_start(&s0, on_sig, SIGUSR1), 0);
    CHECK_EQ(eddy_signal_start(&s1, on_sig, SIGUSR1), 0);
    CHECK_EQ(eddy_signal_start(&s2, on_sig, SIGUSR2), 0);
    CHECK_EQ(eddy_signal_start(&s2, on_sig, 0), -EINVAL);
    CHECK_EQ(eddy_signal_start(&s2, on_sig, SIGKILL), -EINVAL);
    eddy_timer_init(&loop, &raiser);
    eddy_timer_start(&raiser, raise_usr1, 1, 0);
    while (got[0] == 0 || got[1] == 0)
        eddy_run(&loop, EDDY_RUN_ONCE);
    CHECK_EQ(got[0], 1);
    CHECK_EQ(got[1], 1);
    CHECK_EQ(got[2], 0);
    eddy_walk(&loop, close_all, NULL);
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    CHECK_EQ(eddy_loop_close(&loop), 0);
}

/* A one-shot handle stops itself before its callback, so the loop can end. */
static void oneshot_stops(void)
{
    eddy_loop_t loop;
    eddy_signal_t s;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    eddy_signal_init(&loop, &s);
    s.handle.data = (void *)3;
    CHECK_EQ(eddy_signal_start_oneshot(&s, on_sig, SIGUSR1), 0);
    eddy_timer_init(&loop, &raiser);
    eddy_timer_start(&raiser, raise_usr1, 1, 0);
    eddy_run(&loop, EDDY_RUN_DEFAULT); /* ends: the one-shot handle is no longer active */
    CHECK_EQ(got[3], 1);
    CHECK(!eddy_is_active(&s.handle));
    CHECK_EQ(s.signum, 0);
    eddy_walk(&loop, close_all, NULL);
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    CHECK_EQ(eddy_loop_close(&loop), 0);
}

/* After the last handle for a signal stops, its default action is back: SIGUSR1 kills. */
static void stop_restores_default(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        eddy_loop_t loop;
        eddy_signal_t s;
        eddy_loop_init(&loop);
        eddy_signal_init(&loop, &s);
        eddy_signal_start(&s, on_sig, SIGUSR1);
        eddy_signal_stop(&s);
        eddy_close(&s.handle, NULL);
        eddy_run(&loop, EDDY_RUN_DEFAULT);
        eddy_loop_close(&loop);
        raise(SIGUSR1);
        _exit(0); /* reached only if the signal stayed blocked */
    }
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGUSR1);
}

/* A process-directed signal (kill from another process) reaches the loop. */
static int term_seen;
static void on_term(eddy_signal_t *s, int signum)
{
    term_seen = signum;
    eddy_close(&s->handle, NULL);
}

static void signal_from_other_process(void)
{
    eddy_loop_t loop;
    eddy_signal_t s;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    eddy_signal_init(&loop, &s);
    CHECK_EQ(eddy_signal_start(&s, on_term, SIGTERM), 0);
    pid_t parent = getpid();
    if (fork() == 0) {
        kill(parent, SIGTERM);
        _exit(0);
    }
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    wait(NULL);
    CHECK_EQ(term_seen, SIGTERM);
    CHECK_EQ(eddy_loop_close(&loop), 0);
}

/* An unref'd watching handle does not keep DEFAULT running; ref'd again it does, until the
 * signal comes (raised by a timer that is unref'd itself, so only the signal handle waits). */
static int ru_got;
static void ru_on_sig(eddy_signal_t *s, int signum)
{
    ru_got = signum;
    eddy_close(&s->handle, NULL);
}

static void ref_unref(void)
{
    eddy_loop_t loop;
    eddy_signal_t s;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    eddy_signal_init(&loop, &s);
    CHECK_EQ(eddy_signal_start(&s, ru_on_sig, SIGUSR1), 0);
    CHECK(eddy_is_active(&s.handle));
    eddy_unref(&s.handle);
    CHECK(!eddy_loop_alive(&loop));
    CHECK_EQ(eddy_run(&loop, EDDY_RUN_DEFAULT), 0);
    CHECK(eddy_is_active(&s.handle)); /* still watching */
    eddy_ref(&s.handle);
    CHECK(eddy_loop_alive(&loop));
    eddy_timer_init(&loop, &raiser);
    eddy_timer_start(&raiser, raise_usr1, 20, 0);
    eddy_unref(&raiser.handle);
    CHECK_EQ(eddy_run(&loop, EDDY_RUN_DEFAULT), 0); /* returns once the handle closed itself */
    CHECK_EQ(ru_got, SIGUSR1);
    eddy_walk(&loop, close_all, NULL);
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    CHECK_EQ(eddy_loop_close(&loop), 0);
}

const test_case_t test_cases[] = {
    {"several_handles_one_signal", several_handles_one_signal},
    {"oneshot_stops", oneshot_stops},
    {"stop_restores_default", stop_restores_default},
    {"signal_from_other_process", signal_from_other_process},
    {"ref_unref", ref_unref},
    {NULL, NULL},
};
