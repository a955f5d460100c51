/* The thread pool (the kitchen): work the kernel cannot do asynchronously runs here.
 *
 * Structure. One process-wide pool, configured once (pthread_once) and started by the first
 * eddy_queue_work. Submitters push work onto a lock-free inbox (a CAS; they never take the
 * pool lock unless a worker must be woken). Workers, under one mutex, empty the inbox into the
 * four class queues (intrusive FIFO lists), which together with the per-class running counts
 * and caps and the list of sleeping workers are what the mutex guards. A free worker takes work
 * from the class whose oldest item was queued earliest among the classes under their cap.
 *
 * Why it is faster than one mutex + one condition variable (libuv):
 * - Submitting is a CAS on the inbox, not a lock round trip contended by every worker.
 * - Sleeping workers wait on their own condition variable and are woken by name, only when no
 *   other worker is already on its way or polling: a burst of a million submissions signals a
 *   handful of times. A woken worker wakes helpers for what it cannot take itself.
 * - A worker that just finished work polls the inbox briefly (SPIN_NS) before it sleeps, so a
 *   serial submit -> complete -> submit chain does not pay a wake-up on the pool side.
 * - When a class's items are fast (a running average below FAST_NS) and its queue is long, a
 *   worker claims a batch of them under one lock acquisition and runs them in turn.
 * - Completions go back to the owning loop as a chain pushed onto its MPSC stack
 *   (loop->_work_done) with one CAS and one coalesced wake per chain; a chain is flushed
 *   at the end of a batch, after any slow stretch, and every CHAIN_MAX items.
 *
 * Cancellation. An item is QUEUED (in the inbox or a class queue), CLAIMED (in a worker's
 * batch, not yet started), RUNNING (its work_cb has started, or it finished and waits for
 * delivery) or CANCELED. eddy_cancel empties the inbox and takes a QUEUED item out of its queue
 * itself, or takes a CLAIMED one by a CAS the worker then loses; either way the -ECANCELED
 * completion travels the normal completion path and its after_cb runs in the loop's poll
 * phase, never inside eddy_cancel.
 *
 * Loop lifetime. A worker touches the loop after publishing a completion (to wake it), and the
 * loop may be closed and freed as soon as it has seen the completion. So publishing and waking
 * happen under a striped lock that eddy__pool_drain also takes before it pops the stack: once
 * the loop sees an item, the worker that pushed it is done with the loop (libuv gets the same
 * guarantee from its per-loop wq_mutex).
 *
 * Shutdown. Workers are detached and never joined: at exit they sleep on their condition
 * variables (a join at exit would hang on work that never ends, or deadlock if exit is called
 * from a worker). Everything they use stays reachable from `pool`, so LSan reports nothing. */
#include "core/internal.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POOL_SIZE_DEFAULT 4
#define POOL_SIZE_MAX 1024
/* Worker stack: 2 MiB is ample for OpenSSL, zlib (its state is on the heap) and getaddrinfo
 * (glibc caps its alloca use at 64 KiB); it is address space, touched only as used. Work
 * callbacks that need more must use the heap. */
#define POOL_STACK_SIZE (2u << 20)
#define SPIN_NS 50000u /* how long a worker that just finished work polls before sleeping */
#define FAST_NS 10000u /* items faster than this on average are claimed in batches */
#define BATCH_MAX 64u  /* most items claimed under one lock acquisition */
#define CHAIN_MAX 64u  /* most completions held before they are sent to the loop */
#define DONE_LOCKS 64u /* stripes of the publish/drain lock, keyed by loop address */

enum { WORK_IDLE = 0, WORK_QUEUED, WORK_CLAIMED, WORK_RUNNING, WORK_CANCELED };

typedef struct worker_s worker_t;
struct worker_s {
    pthread_t thread;
    unsigned index;
    pthread_cond_t cond; /* this worker sleeps here, alone */
    bool wake;           /* set (under pool.lock) by whoever takes it off the idle list */
    worker_t *next_idle; /* next in pool.idle while asleep */
    eddy_work_t *batch[BATCH_MAX];
    /* Statistics, written only by this worker and summed by eddy_pool_stats. */
    _Atomic unsigned claimed[EDDY_WORK_CLASSES]; /* claimed and not yet started */
    _Atomic uint64_t completed;
    _Atomic uint64_t longest_wait_ns;
} __attribute__((aligned(64)));

static struct {
    pthread_mutex_t lock;
    eddy_queue_t queue[EDDY_WORK_CLASSES];
    unsigned qlen[EDDY_WORK_CLASSES];
    unsigned running[EDDY_WORK_CLASSES]; /* threads running the class */
    unsigned cap[EDDY_WORK_CLASSES];
    bool cap_set[EDDY_WORK_CLASSES]; /* set by eddy_pool_set_class_cap (else the default) */
    unsigned busy;
    unsigned size;     /* configured size */
    unsigned nthreads; /* started threads (0 until the first eddy_queue_work) */
    worker_t *workers;
    worker_t *idle; /* sleeping workers, most recently idle first */
    uint64_t last_queued_ns;
    _Atomic bool started;
    /* New work: a lock-free LIFO stack (linked by _next_done) that submitters push onto and
     * workers empty into the class queues under the lock; submitting never takes the lock. */
    _Atomic(eddy_work_t *) inbox __attribute__((aligned(64)));
    /* Changed under the lock, read without it by submitters deciding whether to wake. */
    _Atomic unsigned nidle __attribute__((aligned(64))); /* workers on the idle list */
    _Atomic unsigned nwaking;   /* woken workers that have not yet taken the lock again */
    _Atomic unsigned nspinning; /* workers polling the inbox before they sleep */
    _Atomic unsigned avg_ns[EDDY_WORK_CLASSES] __attribute__((aligned(64))); /* item run time */
    pthread_mutex_t done_lock[DONE_LOCKS];
} pool;

static pthread_once_t config_once = PTHREAD_ONCE_INIT;

/* ---- configuration ------------------------------------------------------------------------ */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The kernel tick's time: a few ns to read where CLOCK_MONOTONIC costs 20-40 (in a VM), which
 * matters on the submit path. It lags the precise clock by at most one tick (1-4 ms), so a wait
 * measured from it to a precise start time reads high by at most that. */
static uint64_t coarse_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Parses EDDY_THREADPOOL_SIZE strictly (digits only, 1..1024); anything else is reported once
 * on stderr and replaced by the default, so a typo never silently means "one thread". */
static unsigned parse_pool_size(const char *s)
{
    if (s == NULL) return POOL_SIZE_DEFAULT;
    unsigned long n = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9' && n <= POOL_SIZE_MAX; p++)
        n = n * 10 + (unsigned long)(*p - '0');
    if (p == s || *p != '\0' || n < 1 || n > POOL_SIZE_MAX) {
        fprintf(stderr, "eddy: EDDY_THREADPOOL_SIZE=\"%s\" is invalid (expected 1..%d); using %d\n",
                s, POOL_SIZE_MAX, POOL_SIZE_DEFAULT);
        return POOL_SIZE_DEFAULT;
    }
    return (unsigned)n;
}

/* DNS lookups can block for seconds; like libuv's slow-I/O limit they get half the threads
 * (rounded up) so they can never occupy the whole pool. */
static unsigned default_cap(int cls, unsigned threads)
{
    return cls == EDDY_WORK_DNS ? (threads + 1) / 2 : threads;
}

static void fork_prepare(void)
{
    pthread_mutex_lock(&pool.lock);
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&pool.lock);
}

/* The child has none of the parent's threads: forget them (work they had claimed is lost, as
 * in any forked program) and start afresh on the child's next eddy_queue_work. */
static void fork_child(void)
{
    pthread_mutex_init(&pool.lock, NULL);
    for (unsigned i = 0; i < DONE_LOCKS; i++)
        pthread_mutex_init(&pool.done_lock[i], NULL);
    free(pool.workers);
    pool.workers = NULL;
    pool.nthreads = 0;
    pool.idle = NULL;
    pool.busy = 0;
    atomic_store(&pool.started, false);
    atomic_store(&pool.nidle, 0);
    atomic_store(&pool.nwaking, 0);
    atomic_store(&pool.nspinning, 0);
    memset(pool.running, 0, sizeof pool.running);
}

static void config_init(void)
{
    pthread_mutex_init(&pool.lock, NULL);
    for (unsigned i = 0; i < DONE_LOCKS; i++)
        pthread_mutex_init(&pool.done_lock[i], NULL);
    pool.size = parse_pool_size(getenv("EDDY_THREADPOOL_SIZE"));
    for (int c = 0; c < EDDY_WORK_CLASSES; c++) {
        eddy__queue_init(&pool.queue[c]);
        pool.cap[c] = default_cap(c, pool.size);
        atomic_store(&pool.avg_ns[c], FAST_NS * 10); /* assume slow until measured */
    }
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* ---- waking workers (pool.lock held) ------------------------------------------------------ */

/* Takes the most recently idle worker off the idle list; the caller signals it after unlocking,
 * so the woken thread does not run straight into the mutex. */
static worker_t *wake_one_locked(void)
{
    worker_t *w = pool.idle;
    if (w == NULL) return NULL;
    pool.idle = w->next_idle;
    w->next_idle = NULL;
    w->wake = true;
    atomic_fetch_sub(&pool.nidle, 1);
    atomic_fetch_add(&pool.nwaking, 1);
    return w;
}

static void signal_worker(worker_t *w)
{
    if (w != NULL) pthread_cond_signal(&w->cond);
}

/* Moves submitted work from the inbox to the class queues, oldest first. Queue times order items
 * across classes, so they are made strictly increasing here. */
/* The lock-free stacks (the inbox, a loop's completions) are newest first; work runs oldest
 * first, so each drained stack is reversed once. */
static eddy_work_t *reverse_stack(eddy_work_t *stack)
{
    eddy_work_t *list = NULL;
    while (stack != NULL) {
        eddy_work_t *next = stack->_next_done;
        stack->_next_done = list;
        list = stack;
        stack = next;
    }
    return list;
}

static void inbox_drain_locked(void)
{
    if (atomic_load_explicit(&pool.inbox, memory_order_relaxed) == NULL) return;
    eddy_work_t *stack = atomic_exchange_explicit(&pool.inbox, NULL, memory_order_acquire);
    eddy_work_t *list = reverse_stack(stack);
    for (eddy_work_t *req = list; req != NULL; req = list) {
        list = req->_next_done;
        req->_next_done = NULL;
        if (req->_queued_ns <= pool.last_queued_ns) req->_queued_ns = pool.last_queued_ns + 1;
        pool.last_queued_ns = req->_queued_ns;
        eddy__queue_insert_tail(&pool.queue[req->_class], &req->_node);
        pool.qlen[req->_class]++;
    }
}

/* The class to serve next: among classes with queued work and under their cap, the one whose
 * oldest item has waited longest; -1 if none. */
static int pick_class_locked(void)
{
    int best = -1;
    uint64_t best_ns = 0;
    for (int c = 0; c < EDDY_WORK_CLASSES; c++) {
        if (pool.qlen[c] == 0 || pool.running[c] >= pool.cap[c]) continue;
        eddy_work_t *head = eddy_container_of(pool.queue[c].next, eddy_work_t, _node);
        if (best < 0 || head->_queued_ns < best_ns) {
            best = c;
            best_ns = head->_queued_ns;
        }
    }
    return best;
}

/* Takes sleepers off the idle list for runnable work that no running, waking or spinning
 * worker will get to; returns how many were put in out[] (the caller signals them). */
static unsigned wake_helpers_locked(worker_t **out, unsigned out_max)
{
    if (pool.idle == NULL || atomic_load(&pool.nspinning) > 0) return 0;
    unsigned runnable = 0;
    for (int c = 0; c < EDDY_WORK_CLASSES; c++) {
        unsigned room = pool.cap[c] > pool.running[c] ? pool.cap[c] - pool.running[c] : 0;
        runnable += pool.qlen[c] < room ? pool.qlen[c] : room;
    }
    unsigned waking = atomic_load(&pool.nwaking), n = 0;
    while (n < out_max && waking + n < runnable && pool.idle != NULL)
        out[n++] = wake_one_locked();
    return n;
}

/* ---- completions -------------------------------------------------------------------------- */

static pthread_mutex_t *done_lock_of(const eddy_loop_t *loop)
{
    uintptr_t h = (uintptr_t)loop;
    h ^= h >> 12;
    return &pool.done_lock[(h >> 6) % DONE_LOCKS];
}

/* Publishes a chain of completions (newest first, `last` the oldest) to its loop and wakes the
 * loop once. Under the loop's stripe lock: see "Loop lifetime" above. */
static void publish(eddy_loop_t *loop, eddy_work_t *first, eddy_work_t *last)
{
    pthread_mutex_t *m = done_lock_of(loop);
    pthread_mutex_lock(m);
    eddy_work_t *old = atomic_load_explicit(&loop->_work_done, memory_order_relaxed);
    do {
        last->_next_done = old;
    } while (!atomic_compare_exchange_weak_explicit(&loop->_work_done, &old, first,
                                                    memory_order_seq_cst, memory_order_relaxed));
    eddy__loop_wake(loop); /* seq_cst with the push: see the protocol in async.c */
    pthread_mutex_unlock(m);
}

void eddy__pool_drain(eddy_loop_t *loop)
{
    if (atomic_load_explicit(&loop->_work_done, memory_order_relaxed) == NULL)
        return; /* woken for an async handle only */
    pthread_mutex_t *m = done_lock_of(loop);
    pthread_mutex_lock(m);
    eddy_work_t *stack = atomic_exchange_explicit(&loop->_work_done, NULL, memory_order_acquire);
    pthread_mutex_unlock(m);
    /* The stack is newest first; reverse it so callbacks run in completion order. */
    eddy_work_t *list = reverse_stack(stack);
    while (list != NULL) {
        eddy_work_t *req = list;
        list = req->_next_done; /* read first: after_cb may reuse req */
        req->_next_done = NULL;
        atomic_store_explicit(&req->_state, WORK_IDLE, memory_order_relaxed);
        loop->_pool_inflight--;
        eddy__req_unregister(loop);
        if (req->_after != NULL) req->_after(req, req->_status);
    }
}

/* ---- workers ------------------------------------------------------------------------------ */

/* Completions a worker holds before sending them, all for one loop (newest first). */
typedef struct {
    eddy_loop_t *loop;
    eddy_work_t *first;
    eddy_work_t *last;
    unsigned len;
} chain_t;

static void chain_flush(chain_t *ch)
{
    if (ch->len == 0) return;
    publish(ch->loop, ch->first, ch->last);
    ch->first = ch->last = NULL;
    ch->loop = NULL;
    ch->len = 0;
}

static void chain_add(chain_t *ch, eddy_work_t *req)
{
    if (ch->len > 0 && ch->loop != req->loop) chain_flush(ch);
    req->_next_done = ch->first;
    ch->first = req;
    if (ch->last == NULL) ch->last = req;
    ch->loop = req->loop;
    ch->len++;
}

/* Single-writer counters: a relaxed load and store is enough and costs no locked instruction. */
static void counter_add(_Atomic unsigned *c, int delta)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + (unsigned)delta,
                          memory_order_relaxed);
}

/* Runs one claimed item (or finds it cancelled); returns when its completion is chained. */
static void run_item(worker_t *w, eddy_work_t *req, int cls, uint64_t start_ns, chain_t *ch)
{
    int expected = WORK_CLAIMED;
    bool won = atomic_compare_exchange_strong_explicit(&req->_state, &expected, WORK_RUNNING,
                                                       memory_order_acq_rel, memory_order_acquire);
    counter_add(&w->claimed[cls], -1); /* started (or cancelled): no longer queued */
    if (won) {
        uint64_t wait_ns = start_ns > req->_queued_ns ? start_ns - req->_queued_ns : 0;
        if (wait_ns > atomic_load_explicit(&w->longest_wait_ns, memory_order_relaxed))
            atomic_store_explicit(&w->longest_wait_ns, wait_ns, memory_order_relaxed);
        req->_work(req);
        req->_status = 0;
        atomic_store_explicit(&w->completed,
                              atomic_load_explicit(&w->completed, memory_order_relaxed) + 1,
                              memory_order_relaxed);
    } else {
        req->_status = -ECANCELED; /* eddy_cancel won the race; the work never ran */
    }
    chain_add(ch, req);
}

/* Runs a claimed batch. A completion waits in the chain only while the items are fast: after
 * a slow stretch (or CHAIN_MAX items, or at the end) the chain goes to the loop. The clock is
 * read once per group of up to GROUP items, since a read costs as much as a fast item. */
#define GROUP 8u
static void run_batch(worker_t *w, int cls, unsigned n)
{
    chain_t ch = {0};
    uint64_t t = now_ns();
    unsigned since = 0;
    for (unsigned i = 0; i < n; i++) {
        run_item(w, w->batch[i], cls, t, &ch);
        if (++since < GROUP && i + 1 < n && ch.len < CHAIN_MAX) continue;
        uint64_t t2 = now_ns();
        uint64_t per = (t2 - t) / since;
        unsigned avg = atomic_load_explicit(&pool.avg_ns[cls], memory_order_relaxed);
        unsigned per32 = per > UINT_MAX / 2 ? UINT_MAX / 2 : (unsigned)per;
        atomic_store_explicit(&pool.avg_ns[cls], avg - avg / 8 + per32 / 8, memory_order_relaxed);
        if (t2 - t >= FAST_NS || ch.len >= CHAIN_MAX || i + 1 == n) chain_flush(&ch);
        t = t2;
        since = 0;
    }
}

/* How many items of a class to claim at once: one unless the class is fast and its queue long
 * enough that every thread still finds work. */
static unsigned batch_size_locked(int cls)
{
    unsigned q = pool.qlen[cls];
    if (atomic_load_explicit(&pool.avg_ns[cls], memory_order_relaxed) >= FAST_NS) return 1;
    unsigned n = q / (2 * pool.nthreads);
    return n < 1 ? 1 : n > BATCH_MAX ? BATCH_MAX : n;
}

/* Claims a batch of class cls, runs it without the lock, and returns with the lock held. */
static void serve_class_locked(worker_t *w, int cls)
{
    unsigned n = batch_size_locked(cls);
    for (unsigned i = 0; i < n; i++) {
        eddy_queue_t *node = pool.queue[cls].next;
        eddy__queue_remove(node);
        eddy_work_t *req = eddy_container_of(node, eddy_work_t, _node);
        atomic_store_explicit(&req->_state, WORK_CLAIMED, memory_order_relaxed);
        w->batch[i] = req;
    }
    pool.qlen[cls] -= n;
    pool.running[cls]++;
    pool.busy++;
    counter_add(&w->claimed[cls], (int)n);
    worker_t *helpers[8];
    unsigned nhelpers = wake_helpers_locked(helpers, 8);
    pthread_mutex_unlock(&pool.lock);
    for (unsigned i = 0; i < nhelpers; i++)
        signal_worker(helpers[i]);

    run_batch(w, cls, n);

    pthread_mutex_lock(&pool.lock);
    pool.running[cls]--;
    pool.busy--;
}

/* Polls the inbox for up to SPIN_NS without the lock; called and returns with it held. It
 * yields rather than spins on PAUSE: on an oversubscribed machine (or a VM, where PAUSE loops
 * make the hypervisor deschedule the vCPU) the loop thread gets the core at once, and measured
 * here yielding gave the fastest submit -> complete -> submit round trips. */
static void spin_locked(void)
{
    atomic_fetch_add(&pool.nspinning, 1);
    pthread_mutex_unlock(&pool.lock);
    uint64_t deadline = now_ns() + SPIN_NS;
    while (atomic_load_explicit(&pool.inbox, memory_order_relaxed) == NULL && now_ns() < deadline)
        sched_yield();
    /* Leave the spinning count before looking again: a submitter that saw us spinning (and so
     * woke nobody) pushed before that, so the look that follows sees its work. */
    atomic_fetch_sub(&pool.nspinning, 1);
    pthread_mutex_lock(&pool.lock);
}

/* Sleeps until a submitter or another worker wakes us by name. Announcing ourselves idle and
 * then looking at the inbox (both sequentially consistent) pairs with the submitter's push
 * then look at nidle: one of the two sees the other, so no work is left with all asleep. */
static void sleep_locked(worker_t *w)
{
    w->wake = false;
    w->next_idle = pool.idle;
    pool.idle = w;
    atomic_fetch_add(&pool.nidle, 1);
    if (atomic_load(&pool.inbox) != NULL) {
        pool.idle = w->next_idle; /* still the head: we hold the lock */
        w->next_idle = NULL;
        atomic_fetch_sub(&pool.nidle, 1);
        return;
    }
    while (!w->wake)
        pthread_cond_wait(&w->cond, &pool.lock);
    atomic_fetch_sub(&pool.nwaking, 1);
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    char name[16];
    snprintf(name, sizeof name, "eddy-pool-%u", w->index);
    pthread_setname_np(pthread_self(), name);

    pthread_mutex_lock(&pool.lock);
    for (bool worked = false;;) {
        inbox_drain_locked();
        int cls = pick_class_locked();
        if (cls >= 0) {
            serve_class_locked(w, cls);
            worked = true;
        } else if (worked) {
            spin_locked();
            worked = false;
        } else {
            sleep_locked(w);
        }
    }
    return NULL; /* not reached: workers live as long as the process */
}

/* Starts the workers with every asynchronous signal blocked (set in the creating thread around
 * pthread_create, so there is no window), so signals reach the loops' signalfds. Synchronous
 * fault signals stay deliverable so crashes in work callbacks are still reported. */
static int start_locked(void)
{
    size_t bytes = (sizeof(worker_t) * pool.size + 63) / 64 * 64;
    worker_t *workers = aligned_alloc(64, bytes);
    if (workers == NULL) return -ENOMEM;
    memset(workers, 0, bytes);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    size_t stack = POOL_STACK_SIZE < PTHREAD_STACK_MIN ? PTHREAD_STACK_MIN : POOL_STACK_SIZE;
    pthread_attr_setstacksize(&attr, stack);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigset_t all, old;
    sigfillset(&all);
    static const int sync_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS};
    for (size_t i = 0; i < sizeof sync_signals / sizeof sync_signals[0]; i++)
        sigdelset(&all, sync_signals[i]);
    pthread_sigmask(SIG_SETMASK, &all, &old);

    pool.workers = workers;
    unsigned n = 0;
    int err = 0;
    for (; n < pool.size; n++) {
        workers[n].index = n + 1;
        pthread_cond_init(&workers[n].cond, NULL);
        err = pthread_create(&workers[n].thread, &attr, worker_main, &workers[n]);
        if (err != 0) {
            pthread_cond_destroy(&workers[n].cond);
            break;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (n == 0) {
        pool.workers = NULL;
        free(workers);
        return -err;
    }
    if (n < pool.size) {
        fprintf(stderr, "eddy: started %u of %u pool threads (%s)\n", n, pool.size, strerror(err));
        for (int c = 0; c < EDDY_WORK_CLASSES; c++) {
            if (!pool.cap_set[c] || pool.cap[c] > n) pool.cap[c] = default_cap(c, n);
        }
    }
    pool.nthreads = n;
    atomic_store_explicit(&pool.started, true, memory_order_release);
    return 0;
}

/* ---- the public API ----------------------------------------------------------------------- */

EDDY_EXPORT int eddy_queue_work(eddy_loop_t *loop, eddy_work_t *req, eddy_work_class cls,
                                eddy_work_cb work_cb, eddy_after_work_cb after_cb)
{
    if (loop == NULL || req == NULL || work_cb == NULL || (unsigned)cls >= EDDY_WORK_CLASSES)
        return -EINVAL;
    pthread_once(&config_once, config_init);
    int err = eddy__loop_wake_init(loop);
    if (err != 0) return err;
    req->loop = loop;
    req->_work = work_cb;
    req->_after = after_cb;
    req->_class = cls;
    req->_status = 0;
    req->_next_done = NULL;
    req->_queued_ns = coarse_ns();
    atomic_store_explicit(&req->_state, WORK_QUEUED, memory_order_relaxed);
    if (!atomic_load_explicit(&pool.started, memory_order_acquire)) {
        pthread_mutex_lock(&pool.lock);
        err = pool.nthreads == 0 ? start_locked() : 0;
        pthread_mutex_unlock(&pool.lock);
        if (err != 0) {
            atomic_store_explicit(&req->_state, WORK_IDLE, memory_order_relaxed);
            return err;
        }
    }
    eddy__req_register(loop);
    loop->_pool_inflight++;

    eddy_work_t *head = atomic_load_explicit(&pool.inbox, memory_order_relaxed);
    do {
        req->_next_done = head;
    } while (!atomic_compare_exchange_weak_explicit(&pool.inbox, &head, req, memory_order_seq_cst,
                                                    memory_order_relaxed));
    /* Wake a sleeper only if nobody is already on the way: a spinning worker polls the inbox,
     * and a woken one empties it and wakes helpers for whatever it cannot take itself. */
    if (atomic_load(&pool.nidle) > 0 && atomic_load(&pool.nspinning) == 0 &&
        atomic_load(&pool.nwaking) == 0) {
        pthread_mutex_lock(&pool.lock);
        worker_t *w = atomic_load(&pool.nwaking) == 0 ? wake_one_locked() : NULL;
        pthread_mutex_unlock(&pool.lock);
        signal_worker(w);
    }
    return 0;
}

EDDY_EXPORT int eddy_cancel(eddy_work_t *req)
{
    assert(req != NULL);
    int state = atomic_load_explicit(&req->_state, memory_order_acquire);
    if (state != WORK_QUEUED && state != WORK_CLAIMED)
        return -EBUSY; /* running, finished, already cancelled, or never queued */
    pthread_mutex_lock(&pool.lock);
    inbox_drain_locked(); /* so that queued work is in its class queue */
    state = atomic_load_explicit(&req->_state, memory_order_relaxed);
    if (state == WORK_QUEUED) {
        /* Still in its class queue: take it out and deliver the cancellation ourselves. */
        eddy__queue_remove(&req->_node);
        pool.qlen[req->_class]--;
        atomic_store_explicit(&req->_state, WORK_CANCELED, memory_order_relaxed);
        pthread_mutex_unlock(&pool.lock);
        req->_status = -ECANCELED;
        publish(req->loop, req, req);
        return 0;
    }
    pthread_mutex_unlock(&pool.lock);
    /* In a worker's batch: if we win this CAS the worker will deliver -ECANCELED. */
    int expected = WORK_CLAIMED;
    if (atomic_compare_exchange_strong_explicit(&req->_state, &expected, WORK_CANCELED,
                                                memory_order_acq_rel, memory_order_acquire))
        return 0;
    return -EBUSY;
}

EDDY_EXPORT int eddy_pool_set_class_cap(eddy_work_class cls, unsigned threads_max)
{
    if ((unsigned)cls >= EDDY_WORK_CLASSES) return -EINVAL;
    pthread_once(&config_once, config_init);
    pthread_mutex_lock(&pool.lock);
    unsigned threads = pool.nthreads ? pool.nthreads : pool.size;
    if (threads_max > threads) {
        pthread_mutex_unlock(&pool.lock);
        return -EINVAL;
    }
    unsigned before = pool.cap[cls];
    pool.cap_set[cls] = threads_max != 0;
    pool.cap[cls] = threads_max != 0 ? threads_max : default_cap(cls, threads);
    /* A raised cap may make queued work runnable: wake sleepers for it (signalled under the
     * lock: this path is rare, and a woken worker may be asleep again by the time we unlock). */
    for (unsigned i = before; i < pool.cap[cls] && pool.idle != NULL; i++)
        signal_worker(wake_one_locked());
    pthread_mutex_unlock(&pool.lock);
    return 0;
}

EDDY_EXPORT int eddy_pool_stats(eddy_pool_stats_t *stats)
{
    if (stats == NULL) return -EINVAL;
    pthread_once(&config_once, config_init);
    memset(stats, 0, sizeof *stats);
    pthread_mutex_lock(&pool.lock);
    inbox_drain_locked();
    stats->threads = pool.nthreads;
    stats->busy = pool.busy;
    for (int c = 0; c < EDDY_WORK_CLASSES; c++) {
        stats->queued[c] = pool.qlen[c];
        stats->running[c] = pool.running[c];
        stats->cap[c] = pool.cap[c];
    }
    uint64_t longest_ns = 0;
    for (unsigned i = 0; i < pool.nthreads; i++) {
        worker_t *w = &pool.workers[i];
        for (int c = 0; c < EDDY_WORK_CLASSES; c++)
            stats->queued[c] += atomic_load_explicit(&w->claimed[c], memory_order_relaxed);
        stats->completed += atomic_load_explicit(&w->completed, memory_order_relaxed);
        uint64_t wait_ns = atomic_load_explicit(&w->longest_wait_ns, memory_order_relaxed);
        longest_ns = wait_ns > longest_ns ? wait_ns : longest_ns;
    }
    pthread_mutex_unlock(&pool.lock);
    stats->longest_wait_us = longest_ns / 1000;
    return 0;
}

EDDY_EXPORT unsigned eddy_pool_size(void)
{
    pthread_once(&config_once, config_init);
    return pool.size;
}
