/* Helpers shared by the benchmark programs: clocks, medians, the result table.
 *
 * Every benchmark runs eddy and libuv in the same process, alternating (eddy first on even
 * repetitions, libuv first on odd ones), several times, and reports medians and ratios.
 * CPU time is reported next to wall time because the machine is shared and noisy. */
#ifndef EDDY_BENCH_COMMON_H
#define EDDY_BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static inline uint64_t bench_clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Wall (monotonic), the calling thread's CPU, and the whole process's CPU, in ns. */
static inline uint64_t bench_wall_ns(void) { return bench_clock_ns(CLOCK_MONOTONIC); }
static inline uint64_t bench_thread_cpu_ns(void) { return bench_clock_ns(CLOCK_THREAD_CPUTIME_ID); }
static inline uint64_t bench_proc_cpu_ns(void) { return bench_clock_ns(CLOCK_PROCESS_CPUTIME_ID); }

static int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Minor page faults of the process so far. */
static inline long bench_minflt(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

/* Median of n values (sorts a copy). */
static inline double bench_median(const double *v, int n)
{
    double tmp[64];
    if (n <= 0)
        return 0;
    if (n > 64)
        n = 64;
    memcpy(tmp, v, (size_t)n * sizeof *tmp);
    qsort(tmp, (size_t)n, sizeof *tmp, bench_cmp_double);
    return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

static inline double bench_min(const double *v, int n)
{
    double m = v[0];
    for (int i = 1; i < n; i++)
        if (v[i] < m)
            m = v[i];
    return m;
}

static inline double bench_max(const double *v, int n)
{
    double m = v[0];
    for (int i = 1; i < n; i++)
        if (v[i] > m)
            m = v[i];
    return m;
}

/* One metric measured for both libraries over `reps` repetitions. */
typedef struct {
    const char *name; /* e.g. "insert cpu" */
    const char *unit; /* e.g. "ns/timer" */
    int lower_is_better;
    double eddy[64];
    double uv[64];
} bench_metric_t;

static inline void bench_table_header(const char *title, int reps)
{
    printf("\n%s  (median of %d alternating repetitions; min..max in brackets)\n", title, reps);
    printf("  %-28s %-12s %22s %22s %9s\n", "metric", "unit", "eddy", "libuv", "eddy/uv");
}

static inline void bench_table_row(const bench_metric_t *m, int reps)
{
    double e = bench_median(m->eddy, reps), u = bench_median(m->uv, reps);
    char eb[64], ub[64];
    snprintf(eb, sizeof eb, "%.1f [%.1f..%.1f]", e, bench_min(m->eddy, reps), bench_max(m->eddy, reps));
    snprintf(ub, sizeof ub, "%.1f [%.1f..%.1f]", u, bench_min(m->uv, reps), bench_max(m->uv, reps));
    printf("  %-28s %-12s %22s %22s %8.2fx\n", m->name, m->unit, eb, ub, u > 0 ? e / u : 0.0);
}

static inline long bench_arg_long(int argc, char **argv, const char *flag, long def)
{
    size_t len = strlen(flag);
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], flag, len) == 0 && argv[i][len] == '=')
            return strtol(argv[i] + len + 1, NULL, 10);
    }
    return def;
}

static inline int bench_arg_flag(int argc, char **argv, const char *flag)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], flag) == 0)
            return 1;
    return 0;
}

#define BENCH_CHECK(expr)                                                                      \
    do {                                                                                       \
        long bench_r_ = (long)(expr);                                                          \
        if (bench_r_ < 0) {                                                                    \
            fprintf(stderr, "%s:%d: %s failed: %ld\n", __FILE__, __LINE__, #expr, bench_r_);  \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)

#endif
