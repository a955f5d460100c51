/* Timers: a hierarchical timing wheel with exact millisecond expiry.
 *
 * Why a wheel. Starting a timer links it into a bucket's list and stopping it unlinks it: O(1),
 * touching only the timer (and the bucket's previous tail), with no memory of the library's own
 * that grows with the number of timers. A binary heap (libuv's) walks log n pointers per start;
 * an array heap (eddy's first design) faulted in 24 bytes of fresh memory per timer, which on a
 * VM costs more than the rest of the start. Dispatch pops whole lists.
 *
 * Shape. LEVELS levels of 64 buckets; level L's buckets are 64^L ms wide. A timer due at d goes
 * to the level of the highest 6-bit digit in which d differs from the wheel's time `cur`, in
 * the bucket given by d's digit there. So a level-0 bucket holds timers due at one exact
 * millisecond, every level-0 timer is due before every level-1 timer, and so on up: the
 * earliest timer is in the first non-empty bucket of the lowest non-empty level. When `cur`
 * reaches the start of a higher bucket's span, that bucket is cascaded: its timers are placed
 * again, now at lower levels. Each timer is cascaded at most once per level it starts above.
 *
 * Order. Lists are FIFO, so timers due at the same millisecond run in start order: a cascade
 * happens exactly when `cur` enters the span where later starts would go straight to the lower
 * level, so everything cascaded there was started earlier and lands ahead of them.
 *
 * Timers due before `cur` (started with a due time the wheel has already passed: timeout 0 in
 * the same millisecond as the last timers phase, or started inside a timers phase and already
 * due) wait on the `late` list, which the next timers phase runs first. All of them are due at
 * the same millisecond, the time of the last phase, so their start order is their due order.
 * That list is also what keeps a timer started inside the timers phase from running in it.
 *
 * The poll timeout is exact when the earliest timer is at level 0 and otherwise the start of
 * its bucket's span, where a cascade moves it down: one early wake-up per level at most (the
 * run loop's ONCE mode polls again after such a wake-up, see loop.c). */
#include "core/internal.h"

#include <stdlib.h>
#include <string.h>

#define LEVEL_BITS 6
#define SLOTS (1u << LEVEL_BITS)
#define LEVELS 11 /* 66 bits: every uint64_t due time has a level */

struct eddy__timer_wheel {
    uint64_t cur;          /* every timer in the buckets is due at or after cur */
    uint64_t bits[LEVELS]; /* bucket b of level L may be non-empty (bits are cleared lazily) */
    eddy_queue_t late;     /* due before cur: run first by the next timers phase */
    bool in_phase;         /* inside eddy__timers_run: what becomes due waits for the next */
    bool bound_early;      /* the last next_timeout was a bucket start, not a due time */
    eddy_queue_t bucket[LEVELS][SLOTS];
};

static void timer_close(eddy_handle_t *h)
{
    eddy_timer_stop(eddy_container_of(h, eddy_timer_t, handle));
}

static const struct eddy__handle_ops timer_ops = {.close = timer_close};

static inline unsigned digit(uint64_t t, unsigned level)
{
    return (unsigned)(t >> (level * LEVEL_BITS)) & (SLOTS - 1);
}

/* Puts a timer due at or after w->cur into its bucket. */
static inline void wheel_place(struct eddy__timer_wheel *w, eddy_timer_t *t)
{
    uint64_t diff = t->_due_ms ^ w->cur;
    unsigned level = diff < SLOTS ? 0 : (unsigned)(63 - __builtin_clzll(diff)) / LEVEL_BITS;
    unsigned slot = digit(t->_due_ms, level);
    eddy__queue_insert_tail(&w->bucket[level][slot], &t->_node);
    w->bits[level] |= 1ull << slot;
}

static void timer_queue(eddy_loop_t *loop, eddy_timer_t *t)
{
    struct eddy__timer_wheel *w = loop->_timer_wheel;
    if (t->_due_ms < w->cur || (w->in_phase && t->_due_ms <= loop->_time_ms))
        eddy__queue_insert_tail(&w->late, &t->_node);
    else
        wheel_place(w, t);
}

/* The first non-empty bucket of a level (clearing the bits of buckets found empty), or -1. */
static int first_slot(struct eddy__timer_wheel *w, unsigned level)
{
    while (w->bits[level]) {
        unsigned slot = (unsigned)__builtin_ctzll(w->bits[level]);
        if (!eddy__queue_empty(&w->bucket[level][slot]))
            return (int)slot;
        w->bits[level] &= ~(1ull << slot);
    }
    return -1;
}

/* The time where the first non-empty bucket's span starts (its exact due time at level 0), or
 * UINT64_MAX if the wheel is empty. */
static uint64_t first_start(struct eddy__timer_wheel *w, unsigned *level_out)
{
    for (unsigned level = 0; level < LEVELS; level++) {
        int slot = first_slot(w, level);
        if (slot < 0)
            continue;
        unsigned shift = level * LEVEL_BITS;
        uint64_t above = shift + LEVEL_BITS >= 64 ? 0 : w->cur >> (shift + LEVEL_BITS);
        *level_out = level;
        return (above << (shift + LEVEL_BITS)) | ((uint64_t)slot << shift);
    }
    return UINT64_MAX;
}

/* `cur` has moved to a bucket boundary: cascade every bucket whose span starts at cur, the
 * highest level first, since its timers may land in the bucket cascaded next below. */
static void cascade(struct eddy__timer_wheel *w)
{
    for (unsigned level = LEVELS - 1; level > 0; level--) {
        unsigned shift = level * LEVEL_BITS;
        if (w->cur & ((1ull << shift) - 1))
            continue; /* not at this level's boundary */
        unsigned slot = digit(w->cur, level);
        if (!(w->bits[level] & (1ull << slot)))
            continue;
        w->bits[level] &= ~(1ull << slot);
        eddy_queue_t q;
        eddy__queue_move(&w->bucket[level][slot], &q);
        while (!eddy__queue_empty(&q)) {
            eddy_timer_t *t = eddy_container_of(q.next, eddy_timer_t, _node);
            eddy__queue_remove(&t->_node);
            wheel_place(w, t);
        }
    }
}

/* Runs a private list of due timers in order; callbacks may stop any of them. */
static void run_list(eddy_loop_t *loop, eddy_queue_t *q)
{
    while (!eddy__queue_empty(q)) {
        eddy_timer_t *t = eddy_container_of(q->next, eddy_timer_t, _node);
        eddy__queue_remove(&t->_node);
        if (t->_repeat_ms > 0) {
            t->_due_ms = loop->_time_ms + t->_repeat_ms;
            timer_queue(loop, t);
        } else {
            eddy__handle_stop(&t->handle);
        }
        t->_cb(t);
    }
}

/* ---- the public API ------------------------------------------------------------------------- */

EDDY_EXPORT int eddy_timer_init(eddy_loop_t *loop, eddy_timer_t *t)
{
    eddy__handle_init(loop, &t->handle, EDDY_HANDLE_TIMER, &timer_ops);
    t->_cb = NULL;
    t->_due_ms = 0;
    t->_repeat_ms = 0;
    eddy__queue_init(&t->_node);
    return 0;
}

EDDY_EXPORT int eddy_timer_start(eddy_timer_t *t, eddy_timer_cb cb, uint64_t timeout_ms,
                                 uint64_t repeat_ms)
{
    if (cb == NULL || (t->handle._flags & EDDY__H_CLOSING))
        return -EINVAL;
    eddy_loop_t *loop = t->handle.loop;
    eddy__queue_remove(&t->_node);
    uint64_t due = loop->_time_ms + timeout_ms;
    t->_due_ms = due < timeout_ms ? UINT64_MAX : due; /* saturate rather than wrap */
    t->_cb = cb;
    t->_repeat_ms = repeat_ms;
    timer_queue(loop, t);
    eddy__handle_start(&t->handle);
    return 0;
}

EDDY_EXPORT int eddy_timer_stop(eddy_timer_t *t)
{
    eddy__queue_remove(&t->_node);
    eddy__handle_stop(&t->handle);
    return 0;
}

EDDY_EXPORT int eddy_timer_again(eddy_timer_t *t)
{
    if (t->_cb == NULL)
        return -EINVAL;
    if (t->_repeat_ms == 0)
        return 0;
    return eddy_timer_start(t, t->_cb, t->_repeat_ms, t->_repeat_ms);
}

EDDY_EXPORT void eddy_timer_set_repeat(eddy_timer_t *t, uint64_t repeat_ms)
{
    t->_repeat_ms = repeat_ms;
}

EDDY_EXPORT uint64_t eddy_timer_get_repeat(const eddy_timer_t *t)
{
    return t->_repeat_ms;
}

EDDY_EXPORT uint64_t eddy_timer_get_due_in(const eddy_timer_t *t)
{
    uint64_t now = t->handle.loop->_time_ms;
    if (eddy__queue_empty(&t->_node) || t->_due_ms <= now)
        return 0;
    return t->_due_ms - now;
}

/* ---- the loop's side ------------------------------------------------------------------------ */

int eddy__timers_init(eddy_loop_t *loop)
{
    struct eddy__timer_wheel *w = malloc(sizeof *w);
    if (w == NULL)
        return -ENOMEM;
    w->cur = loop->_time_ms;
    memset(w->bits, 0, sizeof w->bits);
    eddy__queue_init(&w->late);
    w->in_phase = false;
    w->bound_early = false;
    for (unsigned level = 0; level < LEVELS; level++)
        for (unsigned slot = 0; slot < SLOTS; slot++)
            eddy__queue_init(&w->bucket[level][slot]);
    loop->_timer_wheel = w;
    return 0;
}

void eddy__timers_fini(eddy_loop_t *loop)
{
    free(loop->_timer_wheel);
    loop->_timer_wheel = NULL;
}

int eddy__timers_run(eddy_loop_t *loop)
{
    struct eddy__timer_wheel *w = loop->_timer_wheel;
    uint64_t now = loop->_time_ms;
    int ran = 0;
    w->in_phase = true;
    eddy_queue_t ready;
    if (!eddy__queue_empty(&w->late)) {
        eddy__queue_move(&w->late, &ready);
        ran = 1;
        run_list(loop, &ready);
    }
    while (w->cur <= now) {
        unsigned level = 0;
        uint64_t start = first_start(w, &level);
        if (start > now) {
            /* Nothing else is due: move to now + 1, cascading a span that starts there. */
            w->cur = now + 1;
            if (start == w->cur)
                cascade(w);
            break;
        }
        w->cur = start;
        if (level > 0) {
            cascade(w);
            continue;
        }
        eddy_queue_t *b = &w->bucket[0][digit(start, 0)];
        w->bits[0] &= ~(1ull << digit(start, 0));
        eddy__queue_move(b, &ready);
        ran = 1;
        run_list(loop, &ready);
        w->cur = start + 1;
        if ((w->cur & (SLOTS - 1)) == 0)
            cascade(w);
    }
    w->in_phase = false;
    return ran;
}

int eddy__timers_next_timeout(eddy_loop_t *loop)
{
    struct eddy__timer_wheel *w = loop->_timer_wheel;
    w->bound_early = false;
    if (!eddy__queue_empty(&w->late))
        return 0;
    unsigned level = 0;
    uint64_t start = first_start(w, &level);
    if (start == UINT64_MAX)
        return -1;
    w->bound_early = level > 0;
    if (start <= loop->_time_ms)
        return 0;
    uint64_t diff = start - loop->_time_ms;
    return diff > INT32_MAX ? INT32_MAX : (int)diff;
}

bool eddy__timers_bound_early(const eddy_loop_t *loop)
{
    return loop->_timer_wheel->bound_early;
}
