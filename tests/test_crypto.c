/* The crypto module: known-answer vectors (RFC 6070 PBKDF2, RFC 7914 scrypt, RFC 5869 HKDF,
 * FIPS 180 / NIST SHA examples, RFC 4231 HMAC), async results equal to sync ones, incremental
 * equal to one-shot, four pbkdf2 running at once on four pool threads, cancellation, and bad
 * digests and parameters refused at the call. */
#include "harness.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "eddy.h"

#include <openssl/evp.h>

/* ---- helpers -------------------------------------------------------------------------------- */

static size_t unhex(const char *hex, unsigned char *out, size_t out_size)
{
    size_t n = strlen(hex) / 2;
    CHECK(n <= out_size);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        CHECK(sscanf(hex + 2 * i, "%2x", &v) == 1);
        out[i] = (unsigned char)v;
    }
    return n;
}

/* Fails unless buf[0..len) is exactly the bytes spelled by hex. */
static void check_hex(const unsigned char *buf, size_t len, const char *hex)
{
    unsigned char want[512];
    size_t n = unhex(hex, want, sizeof want);
    if (n != len || memcmp(buf, want, n) != 0) {
        fprintf(stderr, "want %s\n got ", hex);
        for (size_t i = 0; i < len; i++)
            fprintf(stderr, "%02x", buf[i]);
        fprintf(stderr, "\n");
        CHECK(0);
    }
}

static void set_pool_size_4(void)
{
    CHECK(setenv("EDDY_THREADPOOL_SIZE", "4", 1) == 0);
}

/* Callbacks record their status and how often they ran. */
typedef struct {
    eddy_crypto_t req;
    int status;
    int calls;
} job_t;

static void job_done(eddy_crypto_t *req, int status)
{
    job_t *job = eddy_container_of(req, job_t, req);
    job->status = status;
    job->calls++;
}

static void run_and_close(eddy_loop_t *loop)
{
    CHECK_EQ(eddy_run(loop, EDDY_RUN_DEFAULT), 0);
    CHECK_EQ(eddy_loop_close(loop), 0);
}

/* ---- known answers ------------------------------------------------------------------------- */

static void pbkdf2_sync(const char *digest, const char *pw, size_t pw_len, const char *salt,
                        size_t salt_len, unsigned iter, size_t keylen, const char *hex)
{
    unsigned char out[128];
    eddy_crypto_t req;
    CHECK_EQ(
        eddy_crypto_pbkdf2(NULL, &req, digest, pw, pw_len, salt, salt_len, iter, out, keylen, NULL),
        0);
    CHECK(req.out == out);
    CHECK_EQ(req.out_len, keylen);
    check_hex(out, keylen, hex);
}

static void test_pbkdf2_rfc6070(void)
{
    pbkdf2_sync("sha1", "password", 8, "salt", 4, 1, 20,
                "0c60c80f961f0e71f3a9b524af6012062fe037a6");
    pbkdf2_sync("sha1", "password", 8, "salt", 4, 2, 20,
                "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957");
    pbkdf2_sync("SHA1", "password", 8, "salt", 4, 4096, 20,
                "4b007901b765489abead49d926f721d065a429c1");
    pbkdf2_sync("sha1", "passwordPASSWORDpassword", 24, "saltSALTsaltSALTsaltSALTsaltSALTsalt", 36,
                4096, 25, "3d2eec4fe41c849b80c8d83662c0e44a8b291a964cf2f07038");
    pbkdf2_sync("sha1", "pass\0word", 9, "sa\0lt", 5, 4096, 16, "56fa6aa75548099dcc37d7f03425e0c3");
}

/* eddy's PBKDF2 runs on the hash's compression function for SHA-1/256/512 (src/crypto/
 * pbkdf2.c): it must equal OpenSSL's own PKCS5_PBKDF2_HMAC at every edge of its blocks: keys
 * shorter, equal to and longer than the hash block (hashed first), empty password and salt,
 * one iteration, and key lengths around the digest size. sha384 goes the EVP way: also equal. */
static void test_pbkdf2_matches_openssl(void)
{
    const char *digests[] = {"sha1", "sha256", "sha512", "sha384"};
    const size_t pw_lens[] = {0, 1, 20, 63, 64, 65, 127, 128, 129, 300};
    const size_t salt_lens[] = {0, 4, 55, 56, 64, 119, 128, 200};
    const unsigned iters[] = {1, 2, 3, 1000};
    const size_t key_lens[] = {1, 19, 20, 21, 32, 33, 64, 65, 129};
    unsigned char pw[300], salt[200];
    for (size_t i = 0; i < sizeof pw; i++)
        pw[i] = (unsigned char)(i * 7 + 1);
    for (size_t i = 0; i < sizeof salt; i++)
        salt[i] = (unsigned char)(i * 13 + 5);
    int cases = 0;
    for (size_t d = 0; d < 4; d++) {
        const EVP_MD *md = EVP_get_digestbyname(digests[d]);
        CHECK(md != NULL);
        for (size_t a = 0; a < 10; a++) {
            for (size_t b = 0; b < 8; b++) {
                unsigned iter = iters[(a + b) % 4];
                size_t keylen = key_lens[(a * 3 + b + d) % 9];
                unsigned char want[129], got[129];
                CHECK(PKCS5_PBKDF2_HMAC((const char *)pw, (int)pw_lens[a], salt, (int)salt_lens[b],
                                        (int)iter, md, (int)keylen, want) == 1);
                eddy_crypto_t req;
                CHECK_EQ(eddy_crypto_pbkdf2(NULL, &req, digests[d], pw, pw_lens[a], salt,
                                            salt_lens[b], iter, got, keylen, NULL),
                         0);
                CHECK(memcmp(want, got, keylen) == 0);
                cases++;
            }
        }
    }
    CHECK_EQ(cases, 4 * 10 * 8);
}

static void test_scrypt_rfc7914(void)
{
    unsigned char out[64];
    eddy_crypto_t req;
    eddy_scrypt_params_t p1 = {.N = 16, .r = 1, .p = 1};
    CHECK_EQ(eddy_crypto_scrypt(NULL, &req, "", 0, "", 0, &p1, out, 64, NULL), 0);
    check_hex(out, 64,
              "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442"
              "fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906");
    eddy_scrypt_params_t p2 = {.N = 1024, .r = 8, .p = 16};
    CHECK_EQ(eddy_crypto_scrypt(NULL, &req, "password", 8, "NaCl", 4, &p2, out, 64, NULL), 0);
    check_hex(out, 64,
              "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
              "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640");
    /* Bad parameters fail at the call: N not a power of two, memory above maxmem. */
    eddy_scrypt_params_t bad_n = {.N = 1000};
    CHECK_EQ(eddy_crypto_scrypt(NULL, &req, "pw", 2, "s", 1, &bad_n, out, 64, NULL), -EINVAL);
    eddy_scrypt_params_t too_big = {.N = 1u << 20, .r = 8, .maxmem_bytes = 64u << 20};
    CHECK_EQ(eddy_crypto_scrypt(NULL, &req, "pw", 2, "s", 1, &too_big, out, 64, NULL), -EINVAL);
    /* Node's defaults (N 16384, r 8, p 1, 32 MiB) are accepted. */
    CHECK_EQ(eddy_crypto_scrypt(NULL, &req, "pw", 2, "s", 1, NULL, NULL, 32, NULL), 0);
    CHECK(req.out != NULL && req.out_len == 32);
    eddy_crypto_cleanup(&req);
    CHECK(req.out == NULL);
}

static void hkdf_sync(const char *digest, const char *ikm_hex, const char *salt_hex,
                      const char *info_hex, size_t len, const char *okm_hex)
{
    unsigned char ikm[128], salt[128], info[128], out[128];
    size_t ikm_len = unhex(ikm_hex, ikm, sizeof ikm), salt_len = unhex(salt_hex, salt, sizeof salt);
    size_t info_len = unhex(info_hex, info, sizeof info);
    eddy_crypto_t req;
    CHECK_EQ(eddy_crypto_hkdf(NULL, &req, digest, ikm, ikm_len, salt, salt_len, info, info_len, out,
                              len, NULL),
             0);
    check_hex(out, len, okm_hex);
}

static void test_hkdf_rfc5869(void)
{
    const char *ikm22 = "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b";
    hkdf_sync(
        "sha256", ikm22, "000102030405060708090a0b0c", "f0f1f2f3f4f5f6f7f8f9", 42,
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
    hkdf_sync("sha256",
              "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
              "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
              "404142434445464748494a4b4c4d4e4f",
              "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
              "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
              "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
              "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
              "d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef"
              "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
              82,
              "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
              "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
              "cc30c58179ec3e87c14c01d5c1f3434f1d87");
    hkdf_sync(
        "sha256", ikm22, "", "", 42,
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
    hkdf_sync(
        "sha1", "0b0b0b0b0b0b0b0b0b0b0b", "000102030405060708090a0b0c", "f0f1f2f3f4f5f6f7f8f9", 42,
        "085a01ea1b10f36933068b56efa5ad81a4f14b822f5b091568a9cdd4f155fda2c22e422478d305f3f896");
    /* More than 255 blocks of output is not HKDF. */
    unsigned char out[1];
    eddy_crypto_t req;
    CHECK_EQ(
        eddy_crypto_hkdf(NULL, &req, "sha1", "k", 1, NULL, 0, NULL, 0, NULL, 255 * 20 + 1, NULL),
        -EINVAL);
    CHECK_EQ(eddy_crypto_hkdf(NULL, &req, "sha1", "k", 1, NULL, 0, NULL, 0, out, 0, NULL), -EINVAL);
}

static void hash_sync(const char *digest, const char *msg, const char *hex)
{
    unsigned char out[EDDY_CRYPTO_DIGEST_MAX];
    eddy_crypto_t req;
    CHECK_EQ(eddy_crypto_hash(NULL, &req, digest, msg, strlen(msg), out, sizeof out, NULL), 0);
    check_hex(out, req.out_len, hex);
    CHECK_EQ(eddy_crypto_digest_size(digest), (int)req.out_len);
}

static void test_hash_vectors(void)
{
    const char *abc448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    hash_sync("sha1", "abc", "a9993e364706816aba3e25717850c26c9cd0d89d");
    hash_sync("sha256", "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    hash_sync("sha256", "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hash_sync("sha256", abc448, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    hash_sync("sha512", "abc",
              "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
              "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
    hash_sync("md5", "abc", "900150983cd24fb0d6963f7d28e17f72");
    hash_sync("sha3-256", "abc",
              "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532");
    /* The output buffer may come from the request. */
    eddy_crypto_t req;
    CHECK_EQ(eddy_crypto_hash(NULL, &req, "SHA256", "abc", 3, NULL, 0, NULL), 0);
    check_hex(req.out, req.out_len,
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    eddy_crypto_cleanup(&req);
    eddy_crypto_cleanup(&req); /* twice is harmless */
}

static void hmac_sync(const char *digest, const char *key_hex, const char *msg, const char *hex)
{
    unsigned char key[256], out[EDDY_CRYPTO_DIGEST_MAX];
    size_t key_len = unhex(key_hex, key, sizeof key);
    eddy_crypto_t req;
    CHECK_EQ(
        eddy_crypto_hmac(NULL, &req, digest, key, key_len, msg, strlen(msg), out, sizeof out, NULL),
        0);
    check_hex(out, req.out_len, hex);
}

static void test_hmac_rfc4231(void)
{
    const char *k20 = "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b";
    char k131[263];
    for (int i = 0; i < 131; i++)
        memcpy(k131 + 2 * i, "aa", 2);
    k131[262] = '\0';
    hmac_sync("sha256", k20, "Hi There",
              "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    hmac_sync("sha512", "4a656665", "what do ya want for nothing?",
              "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
              "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737");
    hmac_sync("sha256", k131, "Test Using Larger Than Block-Size Key - Hash Key First",
              "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    /* An empty key and an empty message are valid (Node allows both). */
    hmac_sync("sha256", "", "", "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

/* ---- incremental, async, parallel ---------------------------------------------------------- */

static void test_incremental_equals_oneshot(void)
{
    unsigned char data[1000], one[EDDY_CRYPTO_DIGEST_MAX], inc[EDDY_CRYPTO_DIGEST_MAX];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 131 + 7);
    const char *digests[] = {"sha1", "sha256", "sha512", "md5"};
    for (int d = 0; d < 4; d++) {
        eddy_crypto_t req;
        CHECK_EQ(eddy_crypto_hash(NULL, &req, digests[d], data, sizeof data, one, sizeof one, NULL),
                 0);
        size_t hash_len = req.out_len;
        CHECK_EQ(eddy_crypto_hmac(NULL, &req, digests[d], "key", 3, data, sizeof data, one + 0,
                                  sizeof one, NULL),
                 0);
        size_t mac_len = req.out_len;
        unsigned char mac[EDDY_CRYPTO_DIGEST_MAX];
        memcpy(mac, one, mac_len);
        CHECK_EQ(eddy_crypto_hash(NULL, &req, digests[d], data, sizeof data, one, sizeof one, NULL),
                 0);
        for (size_t chunk = 1; chunk <= sizeof data; chunk = chunk * 3 + 1) {
            eddy_hash_t h;
            eddy_hmac_t m;
            CHECK_EQ(eddy_hash_init(&h, digests[d]), 0);
            CHECK_EQ(eddy_hmac_init(&m, digests[d], "key", 3), 0);
            CHECK_EQ(h.size, hash_len);
            CHECK_EQ(m.size, mac_len);
            for (size_t off = 0; off < sizeof data; off += chunk) {
                size_t n = sizeof data - off < chunk ? sizeof data - off : chunk;
                CHECK_EQ(eddy_hash_update(&h, data + off, n), 0);
                CHECK_EQ(eddy_hmac_update(&m, data + off, n), 0);
            }
            CHECK_EQ(eddy_hash_final(&h, inc, 1), -EINVAL); /* too small: nothing lost */
            CHECK_EQ(eddy_hash_final(&h, inc, sizeof inc), (int)hash_len);
            CHECK(memcmp(inc, one, hash_len) == 0);
            CHECK_EQ(eddy_hmac_final(&m, inc, sizeof inc), (int)mac_len);
            CHECK(memcmp(inc, mac, mac_len) == 0);
            eddy_hash_cleanup(&h); /* after final: harmless */
            eddy_hmac_cleanup(&m);
            CHECK_EQ(eddy_hash_update(&h, data, 1), -EINVAL); /* released */
        }
    }
    /* Abandoned without final: cleanup frees everything (ASan checks). */
    eddy_hash_t h;
    CHECK_EQ(eddy_hash_init(&h, "sha512"), 0);
    CHECK_EQ(eddy_hash_update(&h, "x", 1), 0);
    eddy_hash_cleanup(&h);
}

enum { A_PBKDF2, A_SCRYPT, A_HKDF, A_HASH, A_HMAC, A_RANDOM, A_COUNT };

static void test_async_equals_sync(void)
{
    eddy_loop_t loop;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    job_t jobs[A_COUNT];
    memset(jobs, 0, sizeof jobs);
    eddy_scrypt_params_t sp = {.N = 1024, .r = 8, .p = 2};
    unsigned char rnd[64];
    CHECK_EQ(eddy_crypto_pbkdf2(&loop, &jobs[A_PBKDF2].req, "sha256", "pw", 2, "salt", 4, 1000,
                                NULL, 48, job_done),
             0);
    CHECK_EQ(
        eddy_crypto_scrypt(&loop, &jobs[A_SCRYPT].req, "pw", 2, "salt", 4, &sp, NULL, 40, job_done),
        0);
    CHECK_EQ(eddy_crypto_hkdf(&loop, &jobs[A_HKDF].req, "sha512", "key", 3, "salt", 4, "info", 4,
                              NULL, 100, job_done),
             0);
    CHECK_EQ(eddy_crypto_hash(&loop, &jobs[A_HASH].req, "sha512", "data", 4, NULL, 0, job_done), 0);
    CHECK_EQ(
        eddy_crypto_hmac(&loop, &jobs[A_HMAC].req, "sha1", "key", 3, "data", 4, NULL, 0, job_done),
        0);
    CHECK_EQ(eddy_crypto_random(&loop, &jobs[A_RANDOM].req, rnd, sizeof rnd, job_done), 0);
    run_and_close(&loop);

    eddy_crypto_t s[A_COUNT];
    CHECK_EQ(
        eddy_crypto_pbkdf2(NULL, &s[A_PBKDF2], "sha256", "pw", 2, "salt", 4, 1000, NULL, 48, NULL),
        0);
    CHECK_EQ(eddy_crypto_scrypt(NULL, &s[A_SCRYPT], "pw", 2, "salt", 4, &sp, NULL, 40, NULL), 0);
    CHECK_EQ(eddy_crypto_hkdf(NULL, &s[A_HKDF], "sha512", "key", 3, "salt", 4, "info", 4, NULL, 100,
                              NULL),
             0);
    CHECK_EQ(eddy_crypto_hash(NULL, &s[A_HASH], "sha512", "data", 4, NULL, 0, NULL), 0);
    CHECK_EQ(eddy_crypto_hmac(NULL, &s[A_HMAC], "sha1", "key", 3, "data", 4, NULL, 0, NULL), 0);
    for (int i = 0; i < A_RANDOM; i++) {
        CHECK_EQ(jobs[i].calls, 1);
        CHECK_EQ(jobs[i].status, 0);
        CHECK_EQ(jobs[i].req.out_len, s[i].out_len);
        CHECK(memcmp(jobs[i].req.out, s[i].out, s[i].out_len) == 0);
        eddy_crypto_cleanup(&jobs[i].req);
        eddy_crypto_cleanup(&s[i]);
    }
    CHECK_EQ(jobs[A_RANDOM].status, 0);
    CHECK(jobs[A_RANDOM].req.out == rnd && jobs[A_RANDOM].req.out_len == sizeof rnd);
}

/* Four async pbkdf2 on a four-thread pool run at the same time, whatever the cores: at some
 * instant the pool counts four CPU items running. A sampler thread of its own (not a timer on
 * the loop, which a loaded machine can starve for longer than the overlap lasts) reads
 * eddy_pool_stats every ~100 us. On a loaded 2-core machine one worker can still be kept off
 * the CPU until another has finished, so a round without the overlap is run again, up to five
 * rounds: a pool that cannot run four at once (a cap, a serial batch) fails all five. */
static atomic_int sampler_stop, max_running_cpu;

static void *sample_pool(void *arg)
{
    struct timespec pause = {0, 100000};
    while (!atomic_load(&sampler_stop)) {
        eddy_pool_stats_t s;
        CHECK_EQ(eddy_pool_stats(&s), 0);
        if ((int)s.running[EDDY_WORK_CPU] > atomic_load(&max_running_cpu))
            atomic_store(&max_running_cpu, (int)s.running[EDDY_WORK_CPU]);
        nanosleep(&pause, NULL);
    }
    return NULL;
}

static void test_pbkdf2_parallel(void)
{
    set_pool_size_4();
    eddy_loop_t loop;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    pthread_t sampler;
    CHECK_EQ(pthread_create(&sampler, NULL, sample_pool, NULL), 0);
    int rounds = 0;
    while (rounds < 5 && atomic_load(&max_running_cpu) < 4) {
        rounds++;
        job_t jobs[4];
        unsigned char keys[4][64];
        memset(jobs, 0, sizeof jobs);
        for (int i = 0; i < 4; i++)
            CHECK_EQ(eddy_crypto_pbkdf2(&loop, &jobs[i].req, "sha512", "password", 8, "salt", 4,
                                        100000, keys[i], 64, job_done),
                     0);
        CHECK_EQ(eddy_run(&loop, EDDY_RUN_DEFAULT), 0);
        for (int i = 0; i < 4; i++) {
            CHECK_EQ(jobs[i].calls, 1);
            CHECK_EQ(jobs[i].status, 0);
            check_hex(keys[i], 16, "f5d17022c96af46c0a1dc49a58bbe654"); /* as Python's hashlib */
        }
    }
    atomic_store(&sampler_stop, 1);
    CHECK_EQ(pthread_join(sampler, NULL), 0);
    CHECK_EQ(eddy_loop_close(&loop), 0);
    eddy_pool_stats_t s;
    CHECK_EQ(eddy_pool_stats(&s), 0);
    CHECK_EQ(s.threads, 4);
    printf("four CPU items running at once seen in round %d\n", rounds);
    CHECK_EQ(atomic_load(&max_running_cpu), 4);
}

/* ---- cancellation and refusals ------------------------------------------------------------- */

static atomic_int blockers_started, blockers_release;

static void blocker_work(eddy_work_t *req)
{
    atomic_fetch_add(&blockers_started, 1);
    while (!atomic_load(&blockers_release))
        usleep(1000);
}

static void cancelled_done(eddy_crypto_t *req, int status)
{
    job_done(req, status);
    CHECK(req->out == NULL); /* the request's own buffer is gone */
    atomic_store(&blockers_release, 1);
}

static void test_cancel(void)
{
    set_pool_size_4();
    eddy_loop_t loop;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    eddy_work_t blockers[4];
    for (int i = 0; i < 4; i++)
        CHECK_EQ(eddy_queue_work(&loop, &blockers[i], EDDY_WORK_USER, blocker_work, NULL), 0);
    uint64_t deadline = eddy_hrtime() + 10ull * 1000000000u;
    while (atomic_load(&blockers_started) < 4) {
        CHECK(eddy_hrtime() < deadline);
        sched_yield();
    }
    job_t job = {0};
    CHECK_EQ(eddy_crypto_pbkdf2(&loop, &job.req, "sha512", "pw", 2, "salt", 4, 1000, NULL, 64,
                                cancelled_done),
             0);
    CHECK_EQ(eddy_cancel(&job.req.work), 0);
    CHECK_EQ(job.calls, 0); /* never inside eddy_cancel */
    run_and_close(&loop);
    CHECK_EQ(job.calls, 1);
    CHECK_EQ(job.status, -ECANCELED);
}

static void test_bad_digest(void)
{
    eddy_loop_t loop;
    CHECK_EQ(eddy_loop_init(&loop), 0);
    job_t job = {0};
    unsigned char out[64];
    CHECK_EQ(
        eddy_crypto_pbkdf2(&loop, &job.req, "sha-nope", "pw", 2, "s", 1, 1, NULL, 16, job_done),
        -EINVAL);
    CHECK_EQ(eddy_crypto_hkdf(&loop, &job.req, "nope", "k", 1, NULL, 0, NULL, 0, out, 16, job_done),
             -EINVAL);
    CHECK_EQ(eddy_crypto_hash(&loop, &job.req, "nope", "x", 1, NULL, 0, job_done), -EINVAL);
    CHECK_EQ(eddy_crypto_hmac(NULL, &job.req, "", "k", 1, "x", 1, NULL, 0, NULL), -EINVAL);
    CHECK_EQ(eddy_crypto_hash(NULL, &job.req, NULL, "x", 1, NULL, 0, NULL), -EINVAL);
    CHECK_EQ(eddy_crypto_digest_size("nope"), -EINVAL);
    eddy_hash_t h;
    eddy_hmac_t m;
    CHECK_EQ(eddy_hash_init(&h, "nope"), -EINVAL);
    CHECK_EQ(eddy_hmac_init(&m, "nope", "k", 1), -EINVAL);
    eddy_hash_cleanup(&h);
    eddy_hmac_cleanup(&m);
    /* Other parameters out of range. */
    CHECK_EQ(eddy_crypto_pbkdf2(NULL, &job.req, "sha1", "pw", 2, "s", 1, 0, out, 16, NULL),
             -EINVAL);
    CHECK_EQ(eddy_crypto_pbkdf2(NULL, &job.req, "sha1", "pw", 2, "s", 1, 1, out, 0, NULL), -EINVAL);
    CHECK_EQ(eddy_crypto_hash(NULL, &job.req, "sha256", "x", 1, out, 31, NULL), -EINVAL);
    CHECK_EQ(eddy_crypto_hash(NULL, &job.req, "sha256", NULL, 1, out, 32, NULL), -EINVAL);
    CHECK_EQ(eddy_crypto_random(NULL, &job.req, out, 8, job_done), -EINVAL); /* cb needs a loop */
    /* Nothing was queued: the loop has nothing to do. */
    CHECK_EQ(eddy_run(&loop, EDDY_RUN_DEFAULT), 0);
    CHECK_EQ(job.calls, 0);
    CHECK_EQ(eddy_loop_close(&loop), 0);
}

static void test_random_bytes(void)
{
    size_t len = 1u << 20;
    eddy_crypto_t a, b;
    CHECK_EQ(eddy_crypto_random(NULL, &a, NULL, len, NULL), 0);
    CHECK_EQ(eddy_crypto_random(NULL, &b, NULL, len, NULL), 0);
    CHECK_EQ(a.out_len, len);
    CHECK(memcmp(a.out, b.out, 64) != 0);
    /* Every byte value shows up in a MiB of random bytes. */
    int seen[256] = {0};
    for (size_t i = 0; i < len; i++)
        seen[a.out[i]] = 1;
    for (int v = 0; v < 256; v++)
        CHECK(seen[v]);
    eddy_crypto_cleanup(&a);
    eddy_crypto_cleanup(&b);
    CHECK_EQ(eddy_crypto_random(NULL, &a, NULL, 0, NULL), 0); /* nothing, successfully */
    eddy_crypto_cleanup(&a);
}

static void test_timing_safe_equal(void)
{
    CHECK_EQ(eddy_crypto_timing_safe_equal("abcdef", "abcdef", 6), 1);
    CHECK_EQ(eddy_crypto_timing_safe_equal("abcdef", "abcdeg", 6), 0);
    CHECK_EQ(eddy_crypto_timing_safe_equal("xbcdef", "abcdef", 6), 0);
    CHECK_EQ(eddy_crypto_timing_safe_equal(NULL, NULL, 0), 1);
}

const test_case_t test_cases[] = {
    {"pbkdf2_rfc6070", test_pbkdf2_rfc6070},
    {"pbkdf2_matches_openssl", test_pbkdf2_matches_openssl},
    {"scrypt_rfc7914", test_scrypt_rfc7914},
    {"hkdf_rfc5869", test_hkdf_rfc5869},
    {"hash_vectors", test_hash_vectors},
    {"hmac_rfc4231", test_hmac_rfc4231},
    {"incremental_equals_oneshot", test_incremental_equals_oneshot},
    {"async_equals_sync", test_async_equals_sync},
    {"pbkdf2_parallel", test_pbkdf2_parallel},
    {"cancel", test_cancel},
    {"bad_digest", test_bad_digest},
    {"random_bytes", test_random_bytes},
    {"timing_safe_equal", test_timing_safe_equal},
    {NULL, NULL},
};
