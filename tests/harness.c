#include "harness.h"

#include <eddy.h>

#include <dirent.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int test_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n - 1; /* the DIR's own descriptor */
}

int test_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    CHECK(fd >= 0);
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void close_unclosed(eddy_handle_t *h, void *arg)
{
    if (!eddy_is_closing(h))
        eddy_close(h, NULL);
}

void test_finish_loop(eddy_loop_t *loop)
{
    eddy_walk(loop, close_unclosed, NULL);
    CHECK_EQ(eddy_run(loop, EDDY_RUN_DEFAULT), 0);
    CHECK_EQ(eddy_loop_close(loop), 0);
}

void test_skip(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("skipped: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(NULL);
    exit(TEST_SKIP_STATUS);
}

/* 1 passed, 0 failed, -1 skipped. */
static int run_forked(const test_case_t *t)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        t->fn();
        exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == TEST_SKIP_STATUS)
        return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1 && strcmp(argv[1], "--list") == 0) {
        for (const test_case_t *t = test_cases; t->name; t++)
            printf("%s\n", t->name);
        return 0;
    }
    if (argc > 1) {
        for (const test_case_t *t = test_cases; t->name; t++) {
            if (strcmp(t->name, argv[1]) == 0) {
                t->fn();
                printf("ok %s\n", t->name);
                return 0;
            }
        }
        fprintf(stderr, "no test case named '%s' (try --list)\n", argv[1]);
        return 2;
    }
    int passed = 0, failed = 0, skipped = 0;
    for (const test_case_t *t = test_cases; t->name; t++) {
        int ok = run_forked(t);
        printf("%s %s\n", ok > 0 ? "ok  " : ok < 0 ? "skip" : "FAIL", t->name);
        ok > 0 ? passed++ : ok < 0 ? skipped++ : failed++;
    }
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed != 0;
}
