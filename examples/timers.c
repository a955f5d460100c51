/* Timers, immediates and the loop's phases, as a Node programmer knows them:
 *
 *     setTimeout(() => log('timeout 0'), 0);
 *     setImmediate(() => log('immediate'));
 *     fs.readFile(__filename, () => {            // an I/O callback (poll phase)
 *         setTimeout(() => log('timeout from I/O'), 0);
 *         setImmediate(() => log('immediate from I/O'));   // always first
 *     });
 *     const iv = setInterval(() => { if (++n === 3) clearInterval(iv); }, 10);
 *     setTimeout(() => log('never'), 50).unref();       // does not keep the process alive
 *
 * The I/O callback here is an async handle's (the thread pool's completions arrive the same
 * way). The program prints each callback with the loop's time and exits when nothing keeps
 * the loop alive. */
#include <eddy.h>

#include <pthread.h>
#include <stdio.h>

static eddy_loop_t loop;
static uint64_t t0;
static eddy_timer_t timeout0, io_timeout, interval, unrefd;
static eddy_immediate_t immediate, io_immediate;
static eddy_async_t io;
static int ticks;

static void say(const char *what)
{
    printf("%4llu ms  %s\n", (unsigned long long)(eddy_now(&loop) - t0), what);
}

static void on_timeout0(eddy_timer_t *t)
{
    say("setTimeout 0 (from the main program: before or after the immediate; eddy: before)");
}

static void on_immediate(eddy_immediate_t *i)
{
    say("setImmediate (check phase)");
}

static void on_io_timeout(eddy_timer_t *t)
{
    say("setTimeout 0 from an I/O callback: after the immediate, next iteration");
}

static void on_io_immediate(eddy_immediate_t *i)
{
    say("setImmediate from an I/O callback: always before a 0 ms timer");
}

static void on_io(eddy_async_t *a)
{
    say("I/O callback (poll phase)");
    eddy_timer_start(&io_timeout, on_io_timeout, 0, 0);
    eddy_immediate_start(&io_immediate, on_io_immediate);
    eddy_close(&a->handle, NULL);
}

static void on_interval(eddy_timer_t *t)
{
    char line[64];
    snprintf(line, sizeof line, "setInterval tick %d", ++ticks);
    say(line);
    if (ticks == 3)
        eddy_timer_stop(t); /* clearInterval */
}

static void on_unrefd(eddy_timer_t *t)
{
    say("unref'd timer fired (it would not, had the loop run out of work first)");
}

static void *io_thread(void *arg)
{
    eddy_async_send(&io); /* the "read finished" from another thread */
    return NULL;
}

static void close_all(eddy_handle_t *h, void *arg)
{
    if (!eddy_is_closing(h))
        eddy_close(h, NULL);
}

int main(void)
{
    eddy_loop_init(&loop);
    t0 = eddy_now(&loop);
    eddy_timer_init(&loop, &timeout0);
    eddy_timer_init(&loop, &io_timeout);
    eddy_timer_init(&loop, &interval);
    eddy_timer_init(&loop, &unrefd);
    eddy_immediate_init(&loop, &immediate);
    eddy_immediate_init(&loop, &io_immediate);
    eddy_async_init(&loop, &io, on_io);

    eddy_timer_start(&timeout0, on_timeout0, 0, 0);
    eddy_immediate_start(&immediate, on_immediate);
    eddy_timer_start(&interval, on_interval, 10, 10);
    eddy_timer_start(&unrefd, on_unrefd, 50, 0);
    eddy_unref(&unrefd.handle);
    pthread_t th;
    pthread_create(&th, NULL, io_thread, NULL);

    eddy_run(&loop, EDDY_RUN_DEFAULT);
    pthread_join(th, NULL);
    say("nothing keeps the loop alive: eddy_run returned (the unref'd 50 ms timer never ran)");

    eddy_walk(&loop, close_all, NULL);
    eddy_run(&loop, EDDY_RUN_DEFAULT);
    return eddy_loop_close(&loop) == 0 ? 0 : 1;
}
