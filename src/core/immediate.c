/* Immediates (one-shot, check phase) and the persistent idle, prepare and check hooks. */
#include "core/internal.h"

static void immediate_close(eddy_handle_t *h)
{
    eddy_immediate_stop(eddy_container_of(h, eddy_immediate_t, handle));
}

static const struct eddy__handle_ops immediate_ops = {.close = immediate_close};

EDDY_EXPORT int eddy_immediate_init(eddy_loop_t *loop, eddy_immediate_t *imm)
{
    eddy__handle_init(loop, &imm->handle, EDDY_HANDLE_IMMEDIATE, &immediate_ops);
    imm->_cb = NULL;
    eddy__queue_init(&imm->_node);
    return 0;
}

EDDY_EXPORT int eddy_immediate_start(eddy_immediate_t *imm, eddy_immediate_cb cb)
{
    if (cb == NULL || eddy_is_closing(&imm->handle))
        return -EINVAL;
    imm->_cb = cb;
    if (eddy_is_active(&imm->handle))
        return 0; /* already queued: keeps its place, as a second start is idempotent */
    eddy__queue_insert_tail(&imm->handle.loop->_immediates, &imm->_node);
    eddy__handle_start(&imm->handle);
    return 0;
}

EDDY_EXPORT int eddy_immediate_stop(eddy_immediate_t *imm)
{
    eddy__queue_remove(&imm->_node);
    eddy__handle_stop(&imm->handle);
    return 0;
}

static void run_immediates(eddy_loop_t *loop)
{
    /* Only what was queued when the phase began runs now; the rest waits an iteration. */
    eddy_queue_t q;
    eddy__queue_move(&loop->_immediates, &q);
    while (!eddy__queue_empty(&q)) {
        eddy_immediate_t *imm = eddy_container_of(q.next, eddy_immediate_t, _node);
        eddy__queue_remove(&imm->_node);
        eddy__handle_stop(&imm->handle);
        imm->_cb(imm);
    }
}

/* ---- hooks: one implementation, three phases --------------------------------------------- */

static void hook_close(eddy_handle_t *h)
{
    struct eddy_hook_s *hook = eddy_container_of(h, struct eddy_hook_s, handle);
    eddy__queue_remove(&hook->_node);
    eddy__handle_stop(h);
}

static const struct eddy__handle_ops hook_ops = {.close = hook_close};

static int hook_init(eddy_loop_t *loop, struct eddy_hook_s *hook, eddy_handle_type type)
{
    eddy__handle_init(loop, &hook->handle, type, &hook_ops);
    hook->_cb = NULL;
    eddy__queue_init(&hook->_node);
    return 0;
}

static int hook_start(struct eddy_hook_s *hook, eddy_queue_t *list, eddy_hook_cb cb)
{
    if (cb == NULL || eddy_is_closing(&hook->handle))
        return -EINVAL;
    hook->_cb = cb;
    if (eddy_is_active(&hook->handle))
        return 0;
    eddy__queue_insert_tail(list, &hook->_node);
    eddy__handle_start(&hook->handle);
    return 0;
}

static void hook_run(eddy_queue_t *list)
{
    /* Each hook goes back on the list before its callback, so a callback may stop itself or
     * any other hook; hooks started by callbacks wait for the next iteration. */
    eddy_queue_t q;
    eddy__queue_move(list, &q);
    while (!eddy__queue_empty(&q)) {
        struct eddy_hook_s *hook = eddy_container_of(q.next, struct eddy_hook_s, _node);
        eddy__queue_remove(&hook->_node);
        eddy__queue_insert_tail(list, &hook->_node);
        hook->_cb(hook);
    }
}

EDDY_EXPORT int eddy_idle_init(eddy_loop_t *loop, eddy_idle_t *idle)
{
    return hook_init(loop, idle, EDDY_HANDLE_IDLE);
}

EDDY_EXPORT int eddy_idle_start(eddy_idle_t *idle, eddy_hook_cb cb)
{
    return hook_start(idle, &idle->handle.loop->_idle, cb);
}

EDDY_EXPORT int eddy_idle_stop(eddy_idle_t *idle)
{
    hook_close(&idle->handle);
    return 0;
}

EDDY_EXPORT int eddy_prepare_init(eddy_loop_t *loop, eddy_prepare_t *prepare)
{
    return hook_init(loop, prepare, EDDY_HANDLE_PREPARE);
}

EDDY_EXPORT int eddy_prepare_start(eddy_prepare_t *prepare, eddy_hook_cb cb)
{
    return hook_start(prepare, &prepare->handle.loop->_prepare, cb);
}

EDDY_EXPORT int eddy_prepare_stop(eddy_prepare_t *prepare)
{
    hook_close(&prepare->handle);
    return 0;
}

EDDY_EXPORT int eddy_check_init(eddy_loop_t *loop, eddy_check_t *check)
{
    return hook_init(loop, check, EDDY_HANDLE_CHECK);
}

EDDY_EXPORT int eddy_check_start(eddy_check_t *check, eddy_hook_cb cb)
{
    return hook_start(check, &check->handle.loop->_check, cb);
}

EDDY_EXPORT int eddy_check_stop(eddy_check_t *check)
{
    hook_close(&check->handle);
    return 0;
}

void eddy__idle_run(eddy_loop_t *loop)
{
    hook_run(&loop->_idle);
}

void eddy__prepare_run(eddy_loop_t *loop)
{
    hook_run(&loop->_prepare);
}

void eddy__check_run(eddy_loop_t *loop)
{
    run_immediates(loop);
    hook_run(&loop->_check);
}
