/* The dns module: getaddrinfo/getnameinfo on the pool and synchronously, EAI_* errors mapped
 * outside errno's range, cancellation, the DNS class cap (lookups never take more than half
 * the pool while CPU and FS work go on), and connecting by name: falling through refused
 * addresses to a listening one, the last error when all fail, per-attempt timeouts, cancel.
 *
 * No test touches the network: only "localhost" with AF_UNSPEC (answered by /etc/hosts; an
 * AF_INET6-only query for it would go on to DNS where hosts lacks ::1) and numeric addresses. */
#include "harness.h"

#include <arpa/inet.h>
#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>

#include "eddy.h"

static eddy_loop_t loop;

static void begin(void)
{
    CHECK(setenv("EDDY_THREADPOOL_SIZE", "4", 1) == 0);
    CHECK_EQ(eddy_loop_init(&loop), 0);
}

static void end(void)
{
    CHECK_EQ(eddy_run(&loop, EDDY_RUN_DEFAULT), 0);
    CHECK_EQ(eddy_loop_close(&loop), 0);
}

static int is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
    if (sa->sa_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)sa)->sin6_addr, &in6addr_loopback, 16) == 0;
    return 0;
}

static int port_of(const struct sockaddr *sa)
{
    return sa->sa_family == AF_INET ? ntohs(((const struct sockaddr_in *)sa)->sin_port)
                                    : ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
}

/* ---- getaddrinfo ---------------------------------------------------------------------------- */

typedef struct {
    eddy_getaddrinfo_t req;
    int status;
    int calls;
    int count; /* addresses in the result */
    int v4;
} lookup_t;

static void lookup_done(eddy_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    lookup_t *l = eddy_container_of(req, lookup_t, req);
    l->status = status;
    l->calls++;
    CHECK(res == req->addrinfo);
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        CHECK(is_loopback(ai->ai_addr));
        CHECK_EQ(port_of(ai->ai_addr), 8080);
        l->count++;
        l->v4 += ai->ai_family == AF_INET;
    }
    eddy_getaddrinfo_cleanup(req);
    CHECK(req->addrinfo == NULL);
}

static void test_getaddrinfo_localhost(void)
{
    begin();
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    lookup_t l = {0};
    char name[] = "localhost";
    CHECK_EQ(eddy_getaddrinfo(&loop, &l.req, lookup_done, name, "8080", &hints), 0);
    name[0] = 'X'; /* the request copied it */
    CHECK_EQ(l.calls, 0);
    end();
    CHECK_EQ(l.calls, 1);
    CHECK_EQ(l.status, 0);
    CHECK(l.count >= 1);
    /* The same lookup, synchronously: same addresses. */
    eddy_getaddrinfo_t s;
    CHECK_EQ(eddy_getaddrinfo(NULL, &s, NULL, "localhost", "8080", &hints), 0);
    int n = 0, v4 = 0;
    for (struct addrinfo *ai = s.addrinfo; ai != NULL; ai = ai->ai_next, n++) {
        CHECK(is_loopback(ai->ai_addr));
        v4 += ai->ai_family == AF_INET;
    }
    CHECK_EQ(n, l.count);
    CHECK_EQ(v4, l.v4);
    printf("localhost: %d address(es), %d IPv4\n", n, v4);
    eddy_getaddrinfo_cleanup(&s);
    eddy_getaddrinfo_cleanup(&s); /* twice is harmless */
}

static void test_getaddrinfo_numeric(void)
{
    begin();
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST, .ai_socktype = SOCK_STREAM};
    lookup_t v4 = {0}, v6 = {0};
    CHECK_EQ(eddy_getaddrinfo(&loop, &v4.req, lookup_done, "127.0.0.1", "8080", &hints), 0);
    hints.ai_family = AF_INET6;
    CHECK_EQ(eddy_getaddrinfo(&loop, &v6.req, lookup_done, "::1", "8080", &hints), 0);
    end();
    CHECK_EQ(v4.status, 0);
    CHECK_EQ(v4.count, 1);
    CHECK_EQ(v4.v4, 1);
    CHECK_EQ(v6.status, 0);
    CHECK_EQ(v6.count, 1);
    CHECK_EQ(v6.v4, 0);
    /* A service alone, passive: the wildcard address (synchronous). */
    eddy_getaddrinfo_t s;
    struct addrinfo passive = {
        .ai_flags = AI_PASSIVE, .ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    CHECK_EQ(eddy_getaddrinfo(NULL, &s, NULL, NULL, "8081", &passive), 0);
    CHECK(s.addrinfo != NULL);
    CHECK_EQ(((struct sockaddr_in *)s.addrinfo->ai_addr)->sin_addr.s_addr, htonl(INADDR_ANY));
    /* Taking the list from the request: the caller frees it. */
    struct addrinfo *taken = s.addrinfo;
    s.addrinfo = NULL;
    eddy_getaddrinfo_cleanup(&s);
    eddy_freeaddrinfo(taken);
    eddy_freeaddrinfo(NULL);
}

static void test_getaddrinfo_errors(void)
{
    begin();
    /* A bad literal with AI_NUMERICHOST fails at once, with no lookup on the network. */
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST, .ai_socktype = SOCK_STREAM};
    lookup_t l = {0};
    CHECK_EQ(eddy_getaddrinfo(&loop, &l.req, lookup_done, "1.2.3.x", "80", &hints), 0);
    end();
    CHECK_EQ(l.calls, 1);
    CHECK_EQ(l.status, EDDY_EAI_NONAME);
    CHECK_EQ(l.count, 0);

    eddy_getaddrinfo_t s;
    CHECK_EQ(eddy_getaddrinfo(NULL, &s, NULL, "1.2.3.x", "80", &hints), EDDY_EAI_NONAME);
    CHECK(s.addrinfo == NULL);
    struct addrinfo numserv = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
    CHECK_EQ(eddy_getaddrinfo(NULL, &s, NULL, "127.0.0.1", "http", &numserv), EDDY_EAI_NONAME);
    struct addrinfo badfam = {.ai_family = 12345, .ai_flags = AI_NUMERICHOST};
    CHECK_EQ(eddy_getaddrinfo(NULL, &s, NULL, "127.0.0.1", NULL, &badfam), EDDY_EAI_FAMILY);
    struct addrinfo badflags = {.ai_flags = 0x7fff0000};
    CHECK_EQ(eddy_getaddrinfo(NULL, &s, NULL, "127.0.0.1", NULL, &badflags), EDDY_EAI_BADFLAGS);
    CHECK_EQ(eddy_getaddrinfo(NULL, &s, NULL, NULL, NULL, NULL), -EINVAL);
    CHECK_EQ(eddy_getaddrinfo(NULL, &s, lookup_done, "localhost", NULL, NULL), -EINVAL);
    CHECK(s.addrinfo == NULL);

    /* Text for every code, DNS or not; EAI codes stay clear of errno and EDDY_EOF. */
    CHECK(strcmp(eddy_dns_err_name(EDDY_EAI_NONAME), "EAI_NONAME") == 0);
    CHECK(strcmp(eddy_dns_err_name(EDDY_EAI_AGAIN), "EAI_AGAIN") == 0);
    CHECK(strcmp(eddy_dns_err_name(-ECONNREFUSED), "ECONNREFUSED") == 0);
    CHECK(strcmp(eddy_dns_strerror(EDDY_EAI_NONAME), "unknown error") != 0);
    CHECK(strcmp(eddy_dns_strerror(EDDY_EAI_NONAME), gai_strerror(EAI_NONAME)) == 0);
    CHECK(strcmp(eddy_dns_strerror(EDDY_EOF), eddy_strerror(EDDY_EOF)) == 0);
    CHECK(EDDY_EAI_BASE < -1000 && EDDY_EAI_LAST > EDDY_EOF);
}

/* ---- getnameinfo ---------------------------------------------------------------------------- */

typedef struct {
    eddy_getnameinfo_t req;
    int status;
    char host[64];
    char service[16];
} rlookup_t;

static void rlookup_done(eddy_getnameinfo_t *req, int status, const char *host, const char *service)
{
    rlookup_t *r = eddy_container_of(req, rlookup_t, req);
    r->status = status;
    CHECK(status == 0 ? host == req->host && service == req->service : host == NULL);
    if (status == 0) {
        snprintf(r->host, sizeof r->host, "%s", host);
        snprintf(r->service, sizeof r->service, "%s", service);
    }
}

static void test_getnameinfo(void)
{
    begin();
    struct sockaddr_in a4 = {
        .sin_family = AF_INET, .sin_port = htons(8080), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct sockaddr_in6 a6 = {
        .sin6_family = AF_INET6, .sin6_port = htons(443), .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    rlookup_t r4 = {.status = 1}, r6 = {.status = 1};
    int flags = NI_NUMERICHOST | NI_NUMERICSERV;
    CHECK_EQ(eddy_getnameinfo(&loop, &r4.req, rlookup_done, (struct sockaddr *)&a4, flags), 0);
    CHECK_EQ(eddy_getnameinfo(&loop, &r6.req, rlookup_done, (struct sockaddr *)&a6, flags), 0);
    end();
    CHECK_EQ(r4.status, 0);
    CHECK(strcmp(r4.host, "127.0.0.1") == 0 && strcmp(r4.service, "8080") == 0);
    CHECK_EQ(r6.status, 0);
    CHECK(strcmp(r6.host, "::1") == 0 && strcmp(r6.service, "443") == 0);
    /* Synchronously, and the errors. */
    eddy_getnameinfo_t s;
    CHECK_EQ(eddy_getnameinfo(NULL, &s, NULL, (struct sockaddr *)&a4, flags), 0);
    CHECK(strcmp(s.host, "127.0.0.1") == 0 && strcmp(s.service, "8080") == 0);
    struct sockaddr bad = {.sa_family = AF_UNIX};
    CHECK_EQ(eddy_getnameinfo(NULL, &s, NULL, &bad, flags), -EAFNOSUPPORT);
    CHECK_EQ(eddy_getnameinfo(NULL, &s, NULL, (struct sockaddr *)&a4, NI_NAMEREQD | flags),
             EDDY_EAI_NONAME); /* numeric-only and a name required: no lookup, no name */
}

/* ---- cancellation and the class cap --------------------------------------------------------- */

/* Stand-ins for slow lookups: DNS-class work that holds a thread until released. */
static atomic_int held_started, held_release;
static eddy_work_t held[2];

static void held_work(eddy_work_t *req)
{
    atomic_fetch_add(&held_started, 1);
    while (!atomic_load(&held_release))
        usleep(1000);
}

/* Fills the DNS class's cap (2 of a 4-thread pool) and waits until both items run. */
static void hold_dns_class(void)
{
    eddy_pool_stats_t s;
    for (int i = 0; i < 2; i++)
        CHECK_EQ(eddy_queue_work(&loop, &held[i], EDDY_WORK_DNS, held_work, NULL), 0);
    uint64_t deadline = eddy_hrtime() + 10ull * 1000000000u;
    while (atomic_load(&held_started) < 2) {
        CHECK(eddy_hrtime() < deadline);
        sched_yield();
    }
    CHECK_EQ(eddy_pool_stats(&s), 0);
    CHECK_EQ(s.threads, 4);
    CHECK_EQ(s.cap[EDDY_WORK_DNS], 2);
}

static void cancelled_lookup_done(eddy_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    lookup_t *l = eddy_container_of(req, lookup_t, req);
    l->status = status;
    l->calls++;
    CHECK(res == NULL && req->addrinfo == NULL);
    atomic_store(&held_release, 1);
}

static void test_getaddrinfo_cancel(void)
{
    begin();
    hold_dns_class();
    lookup_t l = {0};
    CHECK_EQ(eddy_getaddrinfo(&loop, &l.req, cancelled_lookup_done, "localhost", "80", NULL), 0);
    CHECK_EQ(eddy_cancel(&l.req.work), 0);
    CHECK_EQ(l.calls, 0);
    end();
    CHECK_EQ(l.calls, 1);
    CHECK_EQ(l.status, -ECANCELED);
}

/* While slow lookups fill the DNS cap, more lookups wait, and CPU and FS work still run. */
static struct {
    lookup_t lookups[4];
    eddy_crypto_t hash;
    eddy_work_t fs;
    eddy_timer_t sampler;
    int lookups_done_before_cpu;
    int cpu_done, fs_done;
    unsigned max_dns_running;
} cap;

static void cap_lookup_done(eddy_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    lookup_t *l = eddy_container_of(req, lookup_t, req);
    l->status = status;
    l->calls++;
    eddy_getaddrinfo_cleanup(req);
    int done = 0;
    for (int i = 0; i < 4; i++)
        done += cap.lookups[i].calls;
    if (done == 4) eddy_close(&cap.sampler.handle, NULL);
}

static void cap_check(void)
{
    eddy_pool_stats_t s;
    CHECK_EQ(eddy_pool_stats(&s), 0);
    CHECK(s.running[EDDY_WORK_DNS] <= s.cap[EDDY_WORK_DNS]);
    if (s.running[EDDY_WORK_DNS] > cap.max_dns_running)
        cap.max_dns_running = s.running[EDDY_WORK_DNS];
}

static void cap_sample(eddy_timer_t *t)
{
    cap_check();
}

static void cap_other_done(void)
{
    if (cap.cpu_done && cap.fs_done) {
        for (int i = 0; i < 4; i++)
            cap.lookups_done_before_cpu += cap.lookups[i].calls;
        eddy_pool_stats_t s;
        CHECK_EQ(eddy_pool_stats(&s), 0);
        CHECK_EQ(s.queued[EDDY_WORK_DNS], 4); /* still waiting for a DNS slot */
        atomic_store(&held_release, 1);
    }
}

static void cap_cpu_done(eddy_crypto_t *req, int status)
{
    CHECK_EQ(status, 0);
    cap.cpu_done = 1;
    cap_other_done();
}

static void fs_work(eddy_work_t *req)
{
    usleep(1000);
}

static void cap_fs_done(eddy_work_t *req, int status)
{
    CHECK_EQ(status, 0);
    cap.fs_done = 1;
    cap_other_done();
}

static void test_dns_class_cap(void)
{
    begin();
    memset(&cap, 0, sizeof cap);
    hold_dns_class();
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    for (int i = 0; i < 4; i++)
        CHECK_EQ(
            eddy_getaddrinfo(&loop, &cap.lookups[i].req, cap_lookup_done, "localhost", "1", &hints),
            0);
    CHECK_EQ(eddy_crypto_pbkdf2(&loop, &cap.hash, "sha256", "pw", 2, "salt", 4, 20000, NULL, 32,
                                cap_cpu_done),
             0);
    CHECK_EQ(eddy_queue_work(&loop, &cap.fs, EDDY_WORK_FS, fs_work, cap_fs_done), 0);
    CHECK_EQ(eddy_timer_init(&loop, &cap.sampler), 0);
    CHECK_EQ(eddy_timer_start(&cap.sampler, cap_sample, 1, 1), 0);
    cap_check();
    end();
    eddy_crypto_cleanup(&cap.hash);
    CHECK_EQ(cap.lookups_done_before_cpu, 0);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(cap.lookups[i].calls, 1);
        CHECK_EQ(cap.lookups[i].status, 0);
    }
    CHECK_EQ(cap.max_dns_running, 2);
}

/* ---- connecting by name --------------------------------------------------------------------- */

static struct {
    eddy_tcp_t server, accepted, client;
    eddy_connect_host_t req;
    int status, calls, accepts;
    int listening; /* the server handle is initialised */
} ch;

static void on_connection(eddy_stream_t *server, int status)
{
    CHECK_EQ(status, 0);
    CHECK_EQ(eddy_tcp_init(&loop, &ch.accepted), 0);
    CHECK_EQ(eddy_tcp_accept(&ch.server, &ch.accepted), 0);
    ch.accepts++;
    eddy_close(&ch.accepted.stream.handle, NULL);
}

/* A listener on 127.0.0.1 only; returns its port. */
static int listen_v4(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK_EQ(eddy_tcp_init(&loop, &ch.server), 0);
    ch.listening = 1;
    CHECK_EQ(eddy_tcp_bind(&ch.server, (struct sockaddr *)&a, 0), 0);
    CHECK_EQ(eddy_tcp_listen(&ch.server, 16, on_connection), 0);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    CHECK_EQ(eddy_tcp_getsockname(&ch.server, (struct sockaddr *)&ss, &len), 0);
    return port_of((struct sockaddr *)&ss);
}

static void connected(eddy_connect_host_t *req, int status)
{
    ch.status = status;
    ch.calls++;
    CHECK(req->tcp == &ch.client);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int peer = eddy_tcp_getpeername(&ch.client, (struct sockaddr *)&ss, &len);
    if (status == 0) {
        CHECK_EQ(peer, 0);
        CHECK(ss.ss_family == AF_INET && is_loopback((struct sockaddr *)&ss));
    } else {
        CHECK_EQ(peer, -EBADF); /* failed or cancelled: the handle never got a socket */
    }
    eddy_close(&ch.client.stream.handle, NULL);
    if (ch.listening) eddy_close(&ch.server.stream.handle, NULL);
    ch.listening = 0;
}

static void fill_addr(struct sockaddr_storage *ss, int family, int port)
{
    memset(ss, 0, sizeof *ss);
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        a->sin6_addr = in6addr_loopback;
    }
}

/* A two-entry list: ::1 then 127.0.0.1, each with its own port. */
static struct addrinfo *make_list(struct addrinfo ai[2], struct sockaddr_storage ss[2], int port6,
                                  int port4)
{
    fill_addr(&ss[0], AF_INET6, port6);
    fill_addr(&ss[1], AF_INET, port4);
    memset(ai, 0, 2 * sizeof ai[0]);
    ai[0] = (struct addrinfo){.ai_family = AF_INET6,
                              .ai_socktype = SOCK_STREAM,
                              .ai_addrlen = sizeof(struct sockaddr_in6),
                              .ai_addr = (struct sockaddr *)&ss[0],
                              .ai_next = &ai[1]};
    ai[1] = (struct addrinfo){.ai_family = AF_INET,
                              .ai_socktype = SOCK_STREAM,
                              .ai_addrlen = sizeof(struct sockaddr_in),
                              .ai_addr = (struct sockaddr *)&ss[1]};
    return &ai[0];
}

static void test_connect_host_localhost(void)
{
    int fds = test_open_fds();
    begin();
    memset(&ch, 0, sizeof ch);
    int port = listen_v4();
    CHECK_EQ(eddy_tcp_init(&loop, &ch.client), 0);
    CHECK_EQ(
        eddy_tcp_connect_host(&ch.req, &ch.client, "localhost", (unsigned)port, 2000, connected),
        0);
    end();
    CHECK_EQ(ch.calls, 1);
    CHECK_EQ(ch.status, 0);
    CHECK(ch.req.attempts >= 1); /* more if localhost also resolves to a refusing ::1 */
    CHECK_EQ(test_open_fds(), fds);
}

static void test_connect_host_fallthrough(void)
{
    begin();
    memset(&ch, 0, sizeof ch);
    int port = listen_v4();
    struct addrinfo ai[2];
    struct sockaddr_storage ss[2];
    /* ::1 refuses (nothing listens there), 127.0.0.1 accepts. */
    struct addrinfo *list = make_list(ai, ss, port, port);
    CHECK_EQ(eddy_tcp_init(&loop, &ch.client), 0);
    CHECK_EQ(eddy_tcp_connect_addrinfo(&ch.req, &ch.client, list, 2000, connected), 0);
    CHECK_EQ(ch.calls, 0);
    end();
    CHECK_EQ(ch.calls, 1);
    CHECK_EQ(ch.status, 0);
    CHECK_EQ(ch.req.attempts, 2);
    CHECK_EQ(ch.accepts, 1);
}

static void test_connect_host_all_refused(void)
{
    int fds = test_open_fds();
    begin();
    memset(&ch, 0, sizeof ch);
    struct addrinfo ai[2];
    struct sockaddr_storage ss[2];
    struct addrinfo *list = make_list(ai, ss, test_free_port(), test_free_port());
    CHECK_EQ(eddy_tcp_init(&loop, &ch.client), 0);
    CHECK_EQ(eddy_tcp_connect_addrinfo(&ch.req, &ch.client, list, 0, connected), 0);
    end();
    CHECK_EQ(ch.calls, 1);
    CHECK_EQ(ch.status, -ECONNREFUSED);
    CHECK_EQ(ch.req.attempts, 2);
    /* By name: every address of localhost refuses. */
    begin();
    memset(&ch, 0, sizeof ch);
    CHECK_EQ(eddy_tcp_init(&loop, &ch.client), 0);
    CHECK_EQ(eddy_tcp_connect_host(&ch.req, &ch.client, "localhost", (unsigned)test_free_port(), 0,
                                   connected),
             0);
    end();
    CHECK_EQ(ch.status, -ECONNREFUSED);
    CHECK_EQ(test_open_fds(), fds);
    /* Refused at the call: a bad port, an empty list, a handle that has a socket. */
    begin();
    CHECK_EQ(eddy_tcp_init(&loop, &ch.client), 0);
    CHECK_EQ(eddy_tcp_connect_host(&ch.req, &ch.client, "localhost", 70000, 0, connected), -EINVAL);
    CHECK_EQ(eddy_tcp_connect_addrinfo(&ch.req, &ch.client, NULL, 0, connected), -EINVAL);
    struct sockaddr_in any = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK_EQ(eddy_tcp_bind(&ch.client, (struct sockaddr *)&any, 0), 0);
    CHECK_EQ(eddy_tcp_connect_host(&ch.req, &ch.client, "localhost", 80, 0, connected), -EISCONN);
    eddy_close(&ch.client.stream.handle, NULL);
    end();
}

/* The first address never answers (a full accept queue drops SYNs): its attempt times out
 * and the second address connects. */
static void test_connect_host_attempt_timeout(void)
{
    begin();
    memset(&ch, 0, sizeof ch);
    int port = listen_v4();
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_storage bh;
    fill_addr(&bh, AF_INET, 0);
    CHECK(bind(lfd, (struct sockaddr *)&bh, sizeof(struct sockaddr_in)) == 0);
    CHECK(listen(lfd, 0) == 0);
    socklen_t len = sizeof bh;
    CHECK(getsockname(lfd, (struct sockaddr *)&bh, &len) == 0);
    int fillers[2];
    for (int i = 0; i < 2; i++) {
        fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        connect(fillers[i], (struct sockaddr *)&bh, sizeof(struct sockaddr_in));
    }
    usleep(20000);
    struct addrinfo ai[2];
    struct sockaddr_storage ss[2];
    struct addrinfo *list = make_list(ai, ss, 0, port);
    ai[0] = (struct addrinfo){.ai_family = AF_INET,
                              .ai_socktype = SOCK_STREAM,
                              .ai_addrlen = sizeof(struct sockaddr_in),
                              .ai_addr = (struct sockaddr *)&bh,
                              .ai_next = &ai[1]};
    CHECK_EQ(eddy_tcp_init(&loop, &ch.client), 0);
    eddy_update_time(&loop); /* the timeout counts from the loop's clock */
    uint64_t t0 = eddy_hrtime();
    CHECK_EQ(eddy_tcp_connect_addrinfo(&ch.req, &ch.client, list, 200, connected), 0);
    end();
    uint64_t ms = (eddy_hrtime() - t0) / 1000000u;
    CHECK_EQ(ch.status, 0);
    CHECK_EQ(ch.req.attempts, 2);
    CHECK(ms >= 190 && ms < 5000);
    for (int i = 0; i < 2; i++)
        close(fillers[i]);
    close(lfd);
}

static void test_connect_host_cancel(void)
{
    /* While resolving: the lookup waits behind the held DNS class and is taken off the queue. */
    int fds = test_open_fds();
    begin();
    memset(&ch, 0, sizeof ch);
    hold_dns_class();
    CHECK_EQ(eddy_tcp_init(&loop, &ch.client), 0);
    CHECK_EQ(eddy_tcp_connect_host(&ch.req, &ch.client, "localhost", 80, 0, connected), 0);
    CHECK_EQ(eddy_connect_host_cancel(&ch.req), 0);
    CHECK_EQ(eddy_connect_host_cancel(&ch.req), -EALREADY);
    atomic_store(&held_release, 1);
    end();
    CHECK_EQ(ch.calls, 1);
    CHECK_EQ(ch.status, -ECANCELED);
    /* While connecting: the attempt is closed, the user's handle never gets a socket. */
    begin();
    memset(&ch, 0, sizeof ch);
    int port = listen_v4();
    struct addrinfo ai[2];
    struct sockaddr_storage ss[2];
    struct addrinfo *list = make_list(ai, ss, port, port);
    CHECK_EQ(eddy_tcp_init(&loop, &ch.client), 0);
    CHECK_EQ(eddy_tcp_connect_addrinfo(&ch.req, &ch.client, list, 0, connected), 0);
    CHECK_EQ(eddy_connect_host_cancel(&ch.req), 0);
    CHECK_EQ(ch.calls, 0); /* never inside the cancel */
    end();
    CHECK_EQ(ch.calls, 1);
    CHECK_EQ(ch.status, -ECANCELED);
    CHECK_EQ(ch.req.attempts, 1);
    CHECK_EQ(eddy_connect_host_cancel(&ch.req), -EALREADY);
    CHECK_EQ(test_open_fds(), fds);
}

const test_case_t test_cases[] = {
    {"getaddrinfo_localhost", test_getaddrinfo_localhost},
    {"getaddrinfo_numeric", test_getaddrinfo_numeric},
    {"getaddrinfo_errors", test_getaddrinfo_errors},
    {"getnameinfo", test_getnameinfo},
    {"getaddrinfo_cancel", test_getaddrinfo_cancel},
    {"dns_class_cap", test_dns_class_cap},
    {"connect_host_localhost", test_connect_host_localhost},
    {"connect_host_fallthrough", test_connect_host_fallthrough},
    {"connect_host_all_refused", test_connect_host_all_refused},
    {"connect_host_attempt_timeout", test_connect_host_attempt_timeout},
    {"connect_host_cancel", test_connect_host_cancel},
    {NULL, NULL},
};
