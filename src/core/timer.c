/* Timers: a 4-ary min-heap of (due time, start order) slots held in one array.
 *
 * The keys live in the array next to the timer pointer, so sifting compares without touching
 * timer memory: the million-timer workload stays in cache where a pointer heap would miss on
 * every level. The start order (a per-loop sequence number) breaks ties, which gives equal
 * due times their start order, and also marks timers started during a timers phase so that
 * phase does not run them. */
#include "core/internal.h"

#include <stdlib.h>

struct eddy__timer_slot {
    uint64_t due_ms;
    uint64_t seq;
    eddy_timer_t *timer;
};

#define ARITY 4
#define NOT_QUEUED SIZE_MAX

static void timer_close(eddy_handle_t *h)
{
    eddy_timer_stop(eddy_container_of(h, eddy_timer_t, handle));
}

static const struct eddy__handle_ops timer_ops = {.close = timer_close};

static inline bool slot_less(const struct eddy__timer_slot *a, const struct eddy__timer_slot *b)
{
    return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && a->seq < b->seq);
}

static void sift_up(struct eddy__timer_slot *heap, size_t i)
{
    struct eddy__timer_slot s = heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / ARITY;
        if (!slot_less(&s, &heap[parent]))
            break;
        heap[i] = heap[parent];
        heap[i].timer->_heap_index = i;
        i = parent;
    }
    heap[i] = s;
    s.timer->_heap_index = i;
}

static void sift_down(struct eddy__timer_slot *heap, size_t n, size_t i)
{
    struct eddy__timer_slot s = heap[i];
    for (;;) {
        size_t first = i * ARITY + 1;
        if (first >= n)
            break;
        size_t last = first + ARITY < n ? first + ARITY : n;
        size_t best = first;
        for (size_t c = first + 1; c < last; c++)
            if (slot_less(&heap[c], &heap[best]))
                best = c;
        if (!slot_less(&heap[best], &s))
            break;
        heap[i] = heap[best];
        heap[i].timer->_heap_index = i;
        i = best;
    }
    heap[i] = s;
    s.timer->_heap_index = i;
}

static int heap_grow(eddy_loop_t *loop)
{
    size_t cap = loop->_timer_cap ? loop->_timer_cap * 2 : 64;
    struct eddy__timer_slot *heap = realloc(loop->_timer_heap, cap * sizeof *heap);
    if (heap == NULL)
        return -ENOMEM;
    loop->_timer_heap = heap;
    loop->_timer_cap = cap;
    return 0;
}

/* The common case (a timer due no earlier than its parent: timeouts that grow, or equal
 * timeouts started in order) is an append with one key comparison and no call. */
static inline int heap_insert(eddy_loop_t *loop, eddy_timer_t *t)
{
    size_t i = loop->_timer_count;
    if (__builtin_expect(i == loop->_timer_cap, 0) && heap_grow(loop) != 0)
        return -ENOMEM;
    struct eddy__timer_slot *heap = loop->_timer_heap;
    struct eddy__timer_slot s = {t->_due_ms, loop->_timer_seq++, t};
    loop->_timer_count = i + 1;
    /* The new slot has the largest sequence number, so only a due time strictly below the
     * parent's moves it up. */
    if (i > 0 && s.due_ms < heap[(i - 1) / ARITY].due_ms) {
        heap[i] = s;
        sift_up(heap, i);
        return 0;
    }
    heap[i] = s;
    t->_heap_index = i;
    return 0;
}

static void heap_remove(eddy_loop_t *loop, eddy_timer_t *t)
{
    struct eddy__timer_slot *heap = loop->_timer_heap;
    size_t i = t->_heap_index;
    size_t last = --loop->_timer_count;
    t->_heap_index = NOT_QUEUED;
    if (i == last)
        return;
    heap[i] = heap[last];
    heap[i].timer->_heap_index = i;
    if (i > 0 && slot_less(&heap[i], &heap[(i - 1) / ARITY]))
        sift_up(heap, i);
    else
        sift_down(heap, loop->_timer_count, i);
}

EDDY_EXPORT int eddy_timer_init(eddy_loop_t *loop, eddy_timer_t *t)
{
    eddy__handle_init(loop, &t->handle, EDDY_HANDLE_TIMER, &timer_ops);
    t->_cb = NULL;
    t->_due_ms = 0;
    t->_repeat_ms = 0;
    t->_heap_index = NOT_QUEUED;
    return 0;
}

EDDY_EXPORT int eddy_timer_start(eddy_timer_t *t, eddy_timer_cb cb, uint64_t timeout_ms,
                                 uint64_t repeat_ms)
{
    if (cb == NULL || (t->handle._flags & EDDY__H_CLOSING))
        return -EINVAL;
    eddy_loop_t *loop = t->handle.loop;
    if (t->_heap_index != NOT_QUEUED)
        heap_remove(loop, t);
    uint64_t due = loop->_time_ms + timeout_ms;
    t->_due_ms = due < timeout_ms ? UINT64_MAX : due; /* saturate rather than wrap */
    t->_cb = cb;
    t->_repeat_ms = repeat_ms;
    int err = heap_insert(loop, t);
    if (err) {
        eddy__handle_stop(&t->handle);
        return err;
    }
    eddy__handle_start(&t->handle);
    return 0;
}

EDDY_EXPORT int eddy_timer_stop(eddy_timer_t *t)
{
    if (t->_heap_index != NOT_QUEUED)
        heap_remove(t->handle.loop, t);
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
    if (t->_heap_index == NOT_QUEUED || t->_due_ms <= now)
        return 0;
    return t->_due_ms - now;
}

void eddy__timers_run(eddy_loop_t *loop)
{
    /* Timers started from here on get a sequence number >= limit. Every timer that was due
     * before the phase began sorts ahead of them (its due time is <= now <= theirs, and ties
     * go to the lower number), so stopping at the first such slot skips only new timers. */
    uint64_t limit = loop->_timer_seq;
    while (loop->_timer_count > 0) {
        const struct eddy__timer_slot *top = &loop->_timer_heap[0];
        if (top->due_ms > loop->_time_ms || top->seq >= limit)
            break;
        eddy_timer_t *t = top->timer;
        heap_remove(loop, t);
        if (t->_repeat_ms > 0) {
            t->_due_ms = loop->_time_ms + t->_repeat_ms;
            if (heap_insert(loop, t) != 0)
                eddy__handle_stop(&t->handle);
        } else {
            eddy__handle_stop(&t->handle);
        }
        t->_cb(t);
    }
}

int eddy__timers_next_timeout(const eddy_loop_t *loop)
{
    if (loop->_timer_count == 0)
        return -1;
    uint64_t due = loop->_timer_heap[0].due_ms;
    if (due <= loop->_time_ms)
        return 0;
    uint64_t diff = due - loop->_time_ms;
    return diff > INT32_MAX ? INT32_MAX : (int)diff;
}
