/* The seed's pbkdf2 demo as a benchmark: four asynchronous PBKDF2-HMAC-SHA512 (100,000
 * iterations, 512-byte key: crypto.pbkdf2('password', 'salt', 100000, 512, 'sha512')) on a
 * four-thread pool, eddy against Node's crypto.pbkdf2 (bench/pbkdf2.js, run with
 * UV_THREADPOOL_SIZE=4), in alternating rounds. Each side is timed from the first call to the
 * last callback, after a warm-up that starts its pool; Node's process start-up is not counted.
 * Prints each round, then the median wall and CPU times and the ratio eddy / Node.
 *
 * Usage: bench_pbkdf2 [rounds (default 5)] [path to pbkdf2.js]. PBKDF2_ITERATIONS overrides
 * the iteration count on both sides (for a quick run). Without node on PATH only eddy runs. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eddy.h"

#ifndef EDDY_BENCH_DIR
#define EDDY_BENCH_DIR "bench"
#endif

enum { JOBS = 4, KEYLEN = 512, ROUNDS_MAX = 64 };

static unsigned iterations = 100000;
static int done;

typedef struct {
    double wall_ms;
    double cpu_ms;
} sample_t;

static double clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void job_done(eddy_crypto_t *req, int status)
{
    if (status != 0) {
        fprintf(stderr, "pbkdf2: %s\n", eddy_strerror(status));
        exit(1);
    }
    done++;
}

/* Four pbkdf2 on the pool; returns wall and process CPU time from first call to last callback. */
static sample_t eddy_round(eddy_loop_t *loop, unsigned iter)
{
    static unsigned char keys[JOBS][KEYLEN];
    eddy_crypto_t reqs[JOBS];
    done = 0;
    double cpu0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID), t0 = clock_ms(CLOCK_MONOTONIC);
    for (int i = 0; i < JOBS; i++) {
        int err = eddy_crypto_pbkdf2(loop, &reqs[i], "sha512", "password", 8, "salt", 4, iter,
                                     keys[i], KEYLEN, job_done);
        if (err) {
            fprintf(stderr, "eddy_crypto_pbkdf2: %s\n", eddy_strerror(err));
            exit(1);
        }
    }
    eddy_run(loop, EDDY_RUN_DEFAULT);
    sample_t s = {clock_ms(CLOCK_MONOTONIC) - t0, clock_ms(CLOCK_PROCESS_CPUTIME_ID) - cpu0};
    if (done != JOBS) {
        fprintf(stderr, "only %d of %d hashes finished\n", done, JOBS);
        exit(1);
    }
    return s;
}

/* One Node run of pbkdf2.js; returns 0 and fills *s, or -1 if node is missing or failed. */
static int node_round(const char *script, sample_t *s)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "UV_THREADPOOL_SIZE=4 PBKDF2_ITERATIONS=%u PBKDF2_KEYLEN=%d node '%s' 2>/dev/null",
             iterations, KEYLEN, script);
    FILE *p = popen(cmd, "r");
    if (p == NULL) return -1;
    char line[256] = "";
    int ok = fgets(line, sizeof line, p) != NULL &&
             sscanf(line, "wall_ms=%lf cpu_ms=%lf", &s->wall_ms, &s->cpu_ms) == 2;
    return pclose(p) == 0 && ok ? 0 : -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const sample_t *s, int n, int cpu)
{
    double v[ROUNDS_MAX];
    for (int i = 0; i < n; i++)
        v[i] = cpu ? s[i].cpu_ms : s[i].wall_ms;
    qsort(v, (size_t)n, sizeof v[0], cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 5;
    if (rounds < 1 || rounds > ROUNDS_MAX) rounds = 5;
    const char *script = argc > 2 ? argv[2] : EDDY_BENCH_DIR "/pbkdf2.js";
    const char *it = getenv("PBKDF2_ITERATIONS");
    if (it != NULL && atoi(it) > 0) iterations = (unsigned)atoi(it);
    setenv("EDDY_THREADPOOL_SIZE", "4", 1);

    eddy_loop_t loop;
    if (eddy_loop_init(&loop) != 0) return 1;
    eddy_round(&loop, 1); /* warm-up: starts the pool's threads */

    sample_t eddy[ROUNDS_MAX], node[ROUNDS_MAX];
    int have_node = 1;
    printf("pbkdf2 x%d async: sha512, %u iterations, %d-byte key, 4 pool threads\n", JOBS,
           iterations, KEYLEN);
    printf("%-6s %12s %12s %12s %12s\n", "round", "eddy wall", "eddy cpu", "node wall", "node cpu");
    for (int r = 0; r < rounds; r++) {
        /* Alternate who goes first, so a drift in the machine's load hits both alike. */
        if (r % 2 == 1 && have_node) have_node = node_round(script, &node[r]) == 0;
        eddy[r] = eddy_round(&loop, iterations);
        if (r % 2 == 0 && have_node) have_node = node_round(script, &node[r]) == 0;
        if (have_node)
            printf("%-6d %9.1f ms %9.1f ms %9.1f ms %9.1f ms\n", r + 1, eddy[r].wall_ms,
                   eddy[r].cpu_ms, node[r].wall_ms, node[r].cpu_ms);
        else
            printf("%-6d %9.1f ms %9.1f ms %12s %12s\n", r + 1, eddy[r].wall_ms, eddy[r].cpu_ms,
                   "-", "-");
    }
    double ew = median(eddy, rounds, 0), ec = median(eddy, rounds, 1);
    printf("median eddy: wall %.1f ms, cpu %.1f ms\n", ew, ec);
    if (have_node) {
        double nw = median(node, rounds, 0), nc = median(node, rounds, 1);
        printf("median node: wall %.1f ms, cpu %.1f ms\n", nw, nc);
        printf("ratio eddy/node: wall %.3f, cpu %.3f (below 1: eddy is faster)\n", ew / nw,
               ec / nc);
    } else {
        printf("node not found or failed (%s): eddy only\n", script);
    }
    return eddy_loop_close(&loop) == 0 ? 0 : 1;
}
