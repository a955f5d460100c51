/* Crypto requests on the thread pool (class EDDY_WORK_CPU), or on the caller's thread when no
 * callback is given: PBKDF2, scrypt, HKDF, one-shot hash and HMAC, random bytes.
 *
 * Everything that can be checked is checked on the caller's thread before the work is queued
 * (the digest is fetched there, so an unknown name is -EINVAL from the call, as Node throws
 * synchronously); the pool thread then only derives. The request copies its inputs into one
 * allocation, wiped and freed before the callback, and owns its output buffer when the caller
 * gave none. The incremental hash and HMAC are in hash.c. */
#include "crypto/crypto_internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

enum { OP_PBKDF2 = 1, OP_SCRYPT, OP_HKDF, OP_HASH, OP_HMAC, OP_RANDOM };

/* Node's scrypt defaults (crypto.scrypt): N = 2^14, r = 8, p = 1, maxmem = 32 MiB. */
#define SCRYPT_N_DEFAULT 16384u
#define SCRYPT_R_DEFAULT 8u
#define SCRYPT_P_DEFAULT 1u
#define SCRYPT_MAXMEM_DEFAULT (32u << 20)

/* Operations that failed inside OpenSSL leave errors on this thread's queue; drop them so
 * they do not pile up on a pool thread or confuse the caller's own OpenSSL use. */
static int openssl_failed(void)
{
    ERR_clear_error();
    return -EINVAL;
}

/* ---- the request's inputs and output --------------------------------------------------- */

static const unsigned char *input(const eddy_crypto_t *req, int i)
{
    const unsigned char *p = req->_in;
    for (int k = 0; k < i; k++)
        p += req->_in_len[k];
    return p;
}

/* Copies up to three inputs back to back into one allocation (never NULL, so an empty input
 * still has a valid pointer for OpenSSL's parameters) and sets up the output. */
static int request_init(eddy_loop_t *loop, eddy_crypto_t *req, eddy_crypto_cb cb, int op,
                        const void *in[3], const size_t in_len[3], void *out, size_t out_len)
{
    assert(req != NULL);
    if (cb != NULL && loop == NULL) return -EINVAL;
    size_t total = 0;
    for (int i = 0; i < 3; i++) {
        if (in_len[i] > 0 && in[i] == NULL) return -EINVAL;
        if (in_len[i] > SIZE_MAX - total - 1) return -EINVAL;
        total += in_len[i];
    }
    unsigned char *buf = malloc(total + 1);
    if (buf == NULL) return -ENOMEM;
    size_t off = 0;
    for (int i = 0; i < 3; i++) {
        if (in_len[i] > 0) memcpy(buf + off, in[i], in_len[i]);
        req->_in_len[i] = in_len[i];
        off += in_len[i];
    }
    req->_owns_out = out == NULL;
    req->out = out != NULL ? out : malloc(out_len > 0 ? out_len : 1);
    if (req->out == NULL) {
        free(buf);
        return -ENOMEM;
    }
    req->loop = loop;
    req->out_len = out_len;
    req->work.data = NULL;
    req->_cb = cb;
    req->_op = op;
    req->_status = 0;
    req->_in = buf;
    req->_md = NULL;
    return 0;
}

/* Wipes and frees the copied inputs and drops the digest: the request needs neither once the
 * work has run (or was cancelled). */
static void request_release(eddy_crypto_t *req)
{
    size_t total = req->_in_len[0] + req->_in_len[1] + req->_in_len[2];
    if (req->_in != NULL) OPENSSL_cleanse(req->_in, total);
    free(req->_in);
    req->_in = NULL;
    EVP_MD_free(req->_md);
    req->_md = NULL;
}

EDDY_EXPORT void eddy_crypto_cleanup(eddy_crypto_t *req)
{
    assert(req != NULL);
    if (req->_owns_out) free(req->out);
    req->_owns_out = 0;
    req->out = NULL;
    req->out_len = 0;
}

/* A failed or cancelled request keeps no output: the caller's buffer is left alone, the
 * request's own is freed. */
static void drop_output(eddy_crypto_t *req)
{
    eddy_crypto_cleanup(req);
}

/* ---- the work ---------------------------------------------------------------------------- */

/* Derives req->out_len bytes with the named KDF and the given parameters. */
static int kdf_derive(eddy_crypto_t *req, const char *kdf_name, const OSSL_PARAM *params)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, kdf_name, NULL);
    EVP_KDF_CTX *ctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
    int ok = ctx != NULL && EVP_KDF_derive(ctx, req->out, req->out_len, params) == 1;
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return ok ? 0 : openssl_failed();
}

static int do_pbkdf2(eddy_crypto_t *req)
{
    if (eddy__pbkdf2_fast(req->_md, input(req, 0), req->_in_len[0], input(req, 1),
                          req->_in_len[1], req->_iterations, req->out, req->out_len) == 0)
        return 0;
    unsigned iterations = req->_iterations;
    int pkcs5 = 1; /* RFC 8018 bounds, not SP 800-132's minimums (as PKCS5_PBKDF2_HMAC) */
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)input(req, 0),
                                          req->_in_len[0]),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)input(req, 1),
                                          req->_in_len[1]),
        OSSL_PARAM_construct_uint(OSSL_KDF_PARAM_ITER, &iterations),
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)EVP_MD_get0_name(req->_md),
                                         0),
        OSSL_PARAM_construct_int(OSSL_KDF_PARAM_PKCS5, &pkcs5),
        OSSL_PARAM_construct_end(),
    };
    return kdf_derive(req, OSSL_KDF_NAME_PBKDF2, params);
}

static int do_scrypt(eddy_crypto_t *req)
{
    eddy_scrypt_params_t s = req->_scrypt;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)input(req, 0),
                                          req->_in_len[0]),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)input(req, 1),
                                          req->_in_len[1]),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &s.N),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &s.r),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &s.p),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &s.maxmem_bytes),
        OSSL_PARAM_construct_end(),
    };
    return kdf_derive(req, OSSL_KDF_NAME_SCRYPT, params);
}

static int do_hkdf(eddy_crypto_t *req)
{
    int mode = EVP_KDF_HKDF_MODE_EXTRACT_AND_EXPAND;
    OSSL_PARAM params[6];
    OSSL_PARAM *p = params;
    *p++ = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                            (char *)EVP_MD_get0_name(req->_md), 0);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)input(req, 0),
                                             req->_in_len[0]);
    /* Absent salt means HashLen zero bytes (RFC 5869 2.2), which OpenSSL does by itself. */
    if (req->_in_len[1] > 0)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)input(req, 1),
                                                 req->_in_len[1]);
    if (req->_in_len[2] > 0)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)input(req, 2),
                                                 req->_in_len[2]);
    *p = OSSL_PARAM_construct_end();
    return kdf_derive(req, OSSL_KDF_NAME_HKDF, params);
}

static int do_hash(eddy_crypto_t *req)
{
    unsigned int len = 0;
    if (EVP_Digest(input(req, 0), req->_in_len[0], req->out, &len, req->_md, NULL) != 1)
        return openssl_failed();
    req->out_len = len;
    return 0;
}

static int do_hmac(eddy_crypto_t *req)
{
    eddy_hmac_t h;
    int err = eddy__hmac_start(&h, req->_md, input(req, 0), req->_in_len[0]);
    if (err == 0) err = eddy_hmac_update(&h, input(req, 1), req->_in_len[1]);
    if (err == 0) err = eddy_hmac_final(&h, req->out, req->out_len);
    eddy_hmac_cleanup(&h);
    if (err < 0) return err;
    req->out_len = (size_t)err;
    return 0;
}

static int do_random(eddy_crypto_t *req)
{
    /* RAND_bytes takes an int: large requests go in slices. */
    for (size_t off = 0; off < req->out_len;) {
        size_t n = req->out_len - off < INT_MAX ? req->out_len - off : INT_MAX;
        if (RAND_bytes(req->out + off, (int)n) != 1) {
            ERR_clear_error();
            return -EIO; /* the generator is not seeded or failed: an operating error */
        }
        off += n;
    }
    return 0;
}

static void crypto_work(eddy_work_t *w)
{
    eddy_crypto_t *req = eddy_container_of(w, eddy_crypto_t, work);
    switch (req->_op) {
    case OP_PBKDF2:
        req->_status = do_pbkdf2(req);
        break;
    case OP_SCRYPT:
        req->_status = do_scrypt(req);
        break;
    case OP_HKDF:
        req->_status = do_hkdf(req);
        break;
    case OP_HASH:
        req->_status = do_hash(req);
        break;
    case OP_HMAC:
        req->_status = do_hmac(req);
        break;
    case OP_RANDOM:
        req->_status = do_random(req);
        break;
    default:
        req->_status = -EINVAL;
        break;
    }
}

static void crypto_after(eddy_work_t *w, int status)
{
    eddy_crypto_t *req = eddy_container_of(w, eddy_crypto_t, work);
    request_release(req);
    if (status == 0) status = req->_status;
    if (status != 0) drop_output(req);
    req->_cb(req, status);
}

/* Runs the request now (no callback) or queues it; on any failure the request holds nothing. */
static int submit(eddy_crypto_t *req)
{
    if (req->_cb == NULL) {
        crypto_work(&req->work);
        request_release(req);
        if (req->_status != 0) drop_output(req);
        return req->_status;
    }
    int err = eddy_queue_work(req->loop, &req->work, EDDY_WORK_CPU, crypto_work, crypto_after);
    if (err) {
        request_release(req);
        drop_output(req);
    }
    return err;
}

/* ---- the public calls -------------------------------------------------------------------- */

/* Hands the fetched digest to a request set up with status err, then runs or queues it; on
 * error the digest is released and nothing is queued. */
static int submit_with_md(eddy_crypto_t *req, EVP_MD *md, int err)
{
    if (err) {
        EVP_MD_free(md);
        return err;
    }
    req->_md = md;
    return submit(req);
}

EDDY_EXPORT int eddy_crypto_pbkdf2(eddy_loop_t *loop, eddy_crypto_t *req, const char *digest,
                                   const void *password, size_t password_len, const void *salt,
                                   size_t salt_len, unsigned iterations, void *out, size_t keylen,
                                   eddy_crypto_cb cb)
{
    if (iterations < 1 || keylen < 1) return -EINVAL;
    const void *in[3] = {password, salt, NULL};
    const size_t len[3] = {password_len, salt_len, 0};
    EVP_MD *md = NULL;
    int err = eddy__crypto_fetch_md(digest, &md);
    if (err < 0) return err;
    err = request_init(loop, req, cb, OP_PBKDF2, in, len, out, keylen);
    req->_iterations = iterations;
    return submit_with_md(req, md, err);
}

/* Fills in Node's defaults and checks the parameters as OpenSSL will, so bad ones fail at
 * the call rather than in the callback. */
static int scrypt_params(const eddy_scrypt_params_t *in, eddy_scrypt_params_t *s)
{
    *s = in != NULL ? *in : (eddy_scrypt_params_t){0};
    if (s->N == 0) s->N = SCRYPT_N_DEFAULT;
    if (s->r == 0) s->r = SCRYPT_R_DEFAULT;
    if (s->p == 0) s->p = SCRYPT_P_DEFAULT;
    if (s->maxmem_bytes == 0) s->maxmem_bytes = SCRYPT_MAXMEM_DEFAULT;
    if (s->N < 2 || (s->N & (s->N - 1)) != 0) return -EINVAL;
    /* RFC 7914: p <= (2^32 - 1) * 32 / (128 * r); OpenSSL bounds p * r below 2^30. */
    if ((uint64_t)s->p * s->r >= (1u << 30)) return -EINVAL;
    /* Memory as OpenSSL counts it: B (128 r p bytes) plus V and XY (128 r (N + 2) bytes). */
    uint64_t r128 = 128u * (uint64_t)s->r;
    if (s->N + 2 > UINT64_MAX / r128) return -EINVAL;
    uint64_t mem = r128 * (s->N + 2);
    if (r128 * s->p > UINT64_MAX - mem || mem + r128 * s->p > s->maxmem_bytes) return -EINVAL;
    return 0;
}

EDDY_EXPORT int eddy_crypto_scrypt(eddy_loop_t *loop, eddy_crypto_t *req, const void *password,
                                   size_t password_len, const void *salt, size_t salt_len,
                                   const eddy_scrypt_params_t *params, void *out, size_t keylen,
                                   eddy_crypto_cb cb)
{
    eddy_scrypt_params_t s;
    if (keylen < 1 || scrypt_params(params, &s) != 0) return -EINVAL;
    const void *in[3] = {password, salt, NULL};
    const size_t len[3] = {password_len, salt_len, 0};
    int err = request_init(loop, req, cb, OP_SCRYPT, in, len, out, keylen);
    if (err) return err;
    req->_scrypt = s;
    return submit(req);
}

EDDY_EXPORT int eddy_crypto_hkdf(eddy_loop_t *loop, eddy_crypto_t *req, const char *digest,
                                 const void *key, size_t key_len, const void *salt, size_t salt_len,
                                 const void *info, size_t info_len, void *out, size_t keylen,
                                 eddy_crypto_cb cb)
{
    EVP_MD *md = NULL;
    int md_size = eddy__crypto_fetch_md(digest, &md);
    if (md_size < 0) return md_size;
    const void *in[3] = {key, salt, info};
    const size_t len[3] = {key_len, salt_len, info_len};
    int err = -EINVAL;
    if (keylen >= 1 && keylen <= 255u * (size_t)md_size) /* RFC 5869 2.3 */
        err = request_init(loop, req, cb, OP_HKDF, in, len, out, keylen);
    return submit_with_md(req, md, err);
}

EDDY_EXPORT int eddy_crypto_hash(eddy_loop_t *loop, eddy_crypto_t *req, const char *digest,
                                 const void *data, size_t len, void *out, size_t out_size,
                                 eddy_crypto_cb cb)
{
    EVP_MD *md = NULL;
    int md_size = eddy__crypto_fetch_md(digest, &md);
    if (md_size < 0) return md_size;
    const void *in[3] = {data, NULL, NULL};
    const size_t lens[3] = {len, 0, 0};
    int err = -EINVAL;
    if (out == NULL || out_size >= (size_t)md_size)
        err = request_init(loop, req, cb, OP_HASH, in, lens, out, (size_t)md_size);
    return submit_with_md(req, md, err);
}

EDDY_EXPORT int eddy_crypto_hmac(eddy_loop_t *loop, eddy_crypto_t *req, const char *digest,
                                 const void *key, size_t key_len, const void *data, size_t len,
                                 void *out, size_t out_size, eddy_crypto_cb cb)
{
    EVP_MD *md = NULL;
    int md_size = eddy__crypto_fetch_md(digest, &md);
    if (md_size < 0) return md_size;
    const void *in[3] = {key, data, NULL};
    const size_t lens[3] = {key_len, len, 0};
    int err = -EINVAL;
    if (out == NULL || out_size >= (size_t)md_size)
        err = request_init(loop, req, cb, OP_HMAC, in, lens, out, (size_t)md_size);
    return submit_with_md(req, md, err);
}

EDDY_EXPORT int eddy_crypto_random(eddy_loop_t *loop, eddy_crypto_t *req, void *out, size_t len,
                                   eddy_crypto_cb cb)
{
    const void *in[3] = {NULL, NULL, NULL};
    const size_t lens[3] = {0, 0, 0};
    int err = request_init(loop, req, cb, OP_RANDOM, in, lens, out, len);
    return err ? err : submit(req);
}

EDDY_EXPORT int eddy_crypto_timing_safe_equal(const void *a, const void *b, size_t len)
{
    if (len == 0) return 1;
    assert(a != NULL && b != NULL);
    return CRYPTO_memcmp(a, b, len) == 0;
}
