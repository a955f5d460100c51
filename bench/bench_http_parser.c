/* How fast the HTTP/1.1 parser reads a typical browser request (302 bytes): ns per
 * request and MB/s, one request per execute call and 32 pipelined per call, with every
 * callback set (as the server does) and with none.
 * Build: cc -O2 -D_GNU_SOURCE -Iinclude bench/bench_http_parser.c src/http/parser.c -o
 * bench_http_parser */
#include "eddy/http_parser.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char request[] =
    "GET /api/v1/users/12345/profile?fields=name,email HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

static size_t sink; /* keeps the callbacks' work observable */

static int on_data(eddy_http_parser_t *p, const char *at, size_t len)
{
    sink += len + (unsigned char)at[0];
    return 0;
}

static int on_event(eddy_http_parser_t *p)
{
    sink++;
    return 0;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void bench(const char *label, const eddy_http_parser_settings_t *s, int batch)
{
    size_t one = sizeof request - 1;
    size_t len = one * (size_t)batch;
    char *buf = malloc(len);
    for (int i = 0; i < batch; i++)
        memcpy(buf + one * (size_t)i, request, one);
    eddy_http_parser_t p;
    eddy_http_parser_init(&p, EDDY_HTTP_REQUEST);
    long rounds = 2000000 / batch;
    double best = 1e300;
    for (int trial = 0; trial < 5; trial++) { /* best of five: the machine is shared */
        double t0 = now_ns();
        for (long i = 0; i < rounds; i++) {
            if (eddy_http_parser_execute(&p, s, buf, len) != (ssize_t)len) {
                fprintf(stderr, "parse failed: %s\n", eddy_http_parser_error_reason(&p));
                exit(1);
            }
        }
        double dt = now_ns() - t0;
        best = dt < best ? dt : best;
    }
    double per = best / ((double)rounds * batch);
    printf("%-36s %7.1f ns/request %8.0f MB/s %6.2f Mreq/s\n", label, per, one / per * 1e3,
           1e3 / per);
    free(buf);
}

int main(void)
{
    eddy_http_parser_settings_t all = {
        .on_message_begin = on_event,
        .on_method = on_data,
        .on_url = on_data,
        .on_url_complete = on_event,
        .on_header_field = on_data,
        .on_header_field_complete = on_event,
        .on_header_value = on_data,
        .on_header_value_complete = on_event,
        .on_headers_complete = on_event,
        .on_body = on_data,
        .on_message_complete = on_event,
    };
    eddy_http_parser_settings_t none = {0};
    printf("request: %zu bytes, 6 header fields\n", sizeof request - 1);
    bench("all callbacks, 1 request per call", &all, 1);
    bench("all callbacks, 32 pipelined per call", &all, 32);
    bench("no callbacks, 1 request per call", &none, 1);
    bench("no callbacks, 32 pipelined per call", &none, 32);
    return sink == 0;
}
