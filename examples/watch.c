/* watch DIR: prints every change under a directory tree, with a timestamp, until Ctrl-C.
 *
 *   $ ./watch /tmp/site
 *   watching /tmp/site (recursive); Ctrl-C to stop
 *   12:00:01.204  create  css/
 *   12:00:01.205  create  css/site.css
 *   12:00:01.205  modify  css/site.css
 *   12:00:03.877  rename  index.html -> home.html
 *
 * Node's equivalent: fs.watch(dir, {recursive: true}, (type, name) => console.log(type, name)).
 * The watcher and the SIGINT handle are both closed before the loop ends, so it exits 0. */
#include <eddy.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static eddy_fs_watch_t watcher;
static eddy_signal_t sigint;

static void print_time(void)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    printf("%02d:%02d:%02d.%03ld  ", tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

static void on_change(eddy_fs_watch_t *w, const eddy_fs_event_t *ev)
{
    const char *slash = ev->is_dir ? "/" : "";
    const char *path = ev->path[0] ? ev->path : ".";
    print_time();
    printf("%-7s ", eddy_fs_event_type_name(ev->type));
    switch (ev->type) {
    case EDDY_FS_EVENT_RENAME:
        printf("%s%s -> %s%s\n", ev->from_path[0] ? ev->from_path : ".", slash, path, slash);
        break;
    case EDDY_FS_EVENT_OVERFLOW:
        printf("(the kernel dropped events; a rescan would be needed to be exact)\n");
        break;
    case EDDY_FS_EVENT_ERROR:
        printf("%s%s: %s%s\n", path, slash, eddy_strerror(ev->status),
               ev->status == -ENOSPC ? " (inotify watch limit: raise fs.inotify.max_user_watches)"
                                     : "");
        break;
    default:
        printf("%s%s\n", path, slash);
    }
    fflush(stdout);
    if (!eddy_is_active(&w->handle)) {
        /* The root itself was deleted or moved: nothing is left to watch. */
        printf("the watched directory is gone; exiting\n");
        eddy_close(&sigint.handle, NULL);
    }
}

static void on_sigint(eddy_signal_t *sig, int signum)
{
    printf("\nstopping\n");
    eddy_close(&watcher.handle, NULL);
    eddy_close(&sig->handle, NULL);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    eddy_loop_t *loop = eddy_default_loop();
    if (loop == NULL) {
        fprintf(stderr, "cannot create the event loop\n");
        return 1;
    }
    eddy_fs_watch_init(loop, &watcher);
    int err = eddy_fs_watch_start(&watcher, argv[1], EDDY_FS_WATCH_RECURSIVE, on_change);
    if (err) {
        fprintf(stderr, "watch %s: %s%s\n", argv[1], eddy_strerror(err),
                err == -ENOSPC ? " (inotify watch limit reached: raise fs.inotify.max_user_watches)"
                : err == -EMFILE ? " (too many inotify instances or open files)"
                                 : "");
        eddy_close(&watcher.handle, NULL);
        eddy_run(loop, EDDY_RUN_DEFAULT);
        eddy_loop_close(loop);
        return 1;
    }
    eddy_signal_init(loop, &sigint);
    eddy_signal_start(&sigint, on_sigint, SIGINT);
    printf("watching %s (recursive); Ctrl-C to stop\n", eddy_fs_watch_path(&watcher));
    fflush(stdout);
    eddy_run(loop, EDDY_RUN_DEFAULT);
    if (!eddy_is_closing(&watcher.handle)) {
        eddy_close(&watcher.handle, NULL);
        eddy_run(loop, EDDY_RUN_DEFAULT);
    }
    return eddy_loop_close(loop) == 0 ? 0 : 1;
}
