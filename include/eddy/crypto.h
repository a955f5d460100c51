/* Crypto (Node's crypto module, the parts that belong on the thread pool): key derivation
 * (PBKDF2, scrypt, HKDF), one-shot hashes and HMACs, and random bytes, on OpenSSL 3.
 *
 * Each eddy_crypto_* call fills an eddy_crypto_t request. With a callback it runs on the pool
 * in class EDDY_WORK_CPU and the callback runs later on loop's thread (Node's crypto.pbkdf2);
 * with a NULL callback it runs at once on the caller's thread and returns the status (Node's
 * pbkdf2Sync: it blocks the loop, so keep it for small work or start-up). Inputs are copied,
 * so the caller's buffers may be reused as soon as the call returns.
 *
 * Output: pass a buffer (`out`, of the documented size) that stays valid until the callback,
 * or NULL and the request allocates one; either way req->out and req->out_len describe the
 * result. A buffer the request allocated is freed by eddy_crypto_cleanup.
 *
 * Digests are named as OpenSSL names them, case-insensitively: "sha1", "sha256", "sha512",
 * "md5", "sha3-256", "sha512-256", ... An unknown name, or a parameter out of range, is
 * -EINVAL from the call itself (the callback is not called). eddy_cancel(&req->work) takes a
 * request off the queue before it starts; its callback then gets EDDY_ECANCELED and no output.
 *
 * The incremental eddy_hash_t and eddy_hmac_t run on the caller's thread (they are fast per
 * call; stream large inputs through them from pool work if needed). */
#ifndef EDDY_CRYPTO_H
#define EDDY_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "pool.h"

/** The largest digest or HMAC output in bytes (OpenSSL's EVP_MAX_MD_SIZE). */
#define EDDY_CRYPTO_DIGEST_MAX 64

typedef struct eddy_crypto_s eddy_crypto_t;

/** A request finished: status 0 (req->out holds req->out_len bytes) or a negative error. */
typedef void (*eddy_crypto_cb)(eddy_crypto_t *req, int status);

/** scrypt's cost parameters; a zero field takes Node's default. */
typedef struct {
    uint64_t N;            /**< CPU/memory cost, a power of two above 1 (default 16384) */
    uint32_t r;            /**< block size (default 8) */
    uint32_t p;            /**< parallelisation (default 1) */
    uint64_t maxmem_bytes; /**< upper bound on memory, about 128 * N * r (default 32 MiB) */
} eddy_scrypt_params_t;

/** A crypto request; the caller owns the memory until the callback has run. */
struct eddy_crypto_s {
    void *data;         /**< the user's pointer */
    eddy_loop_t *loop;  /**< the loop the callback runs on (NULL when synchronous) */
    eddy_work_t work;   /**< the pool request: eddy_cancel(&req->work) cancels */
    unsigned char *out; /**< the result: the caller's buffer or the request's own */
    size_t out_len;     /**< bytes of result in out */
    /* private */
    eddy_crypto_cb _cb;
    int _op;
    int _status;
    int _owns_out;        /* out was allocated by the request */
    void *_md;            /* the fetched EVP_MD, for operations with a digest */
    unsigned char *_in;   /* one allocation: copies of the inputs, back to back */
    size_t _in_len[3];    /* lengths of the inputs in _in (password/key/data, salt, info) */
    unsigned _iterations; /* PBKDF2 */
    eddy_scrypt_params_t _scrypt;
};

/** An incremental hash (init, update..., final), run on the caller's thread. */
typedef struct {
    size_t size; /**< the digest's output size in bytes */
    /* private */
    void *_ctx; /* EVP_MD_CTX */
} eddy_hash_t;

/** An incremental HMAC (init, update..., final), run on the caller's thread. */
typedef struct {
    size_t size; /**< the MAC's output size in bytes */
    /* private */
    void *_ctx; /* EVP_MAC_CTX */
} eddy_hmac_t;

/** PBKDF2-HMAC-<digest> of password and salt, `iterations` rounds (>= 1), keylen bytes (>= 1;
 * out holds keylen bytes or is NULL). Node's crypto.pbkdf2 / pbkdf2Sync. */
int eddy_crypto_pbkdf2(eddy_loop_t *loop, eddy_crypto_t *req, const char *digest,
                       const void *password, size_t password_len, const void *salt, size_t salt_len,
                       unsigned iterations, void *out, size_t keylen, eddy_crypto_cb cb);
/** scrypt (RFC 7914) of password and salt into keylen bytes; params may be NULL (defaults).
 * -EINVAL if N is not a power of two, r or p is out of range, or the memory would exceed
 * maxmem_bytes. Node's crypto.scrypt / scryptSync. */
int eddy_crypto_scrypt(eddy_loop_t *loop, eddy_crypto_t *req, const void *password,
                       size_t password_len, const void *salt, size_t salt_len,
                       const eddy_scrypt_params_t *params, void *out, size_t keylen,
                       eddy_crypto_cb cb);
/** HKDF (RFC 5869) extract-then-expand with digest: keylen bytes (at most 255 digest sizes)
 * from key, salt and info (salt and info may be empty). Node's crypto.hkdf / hkdfSync. */
int eddy_crypto_hkdf(eddy_loop_t *loop, eddy_crypto_t *req, const char *digest, const void *key,
                     size_t key_len, const void *salt, size_t salt_len, const void *info,
                     size_t info_len, void *out, size_t keylen, eddy_crypto_cb cb);
/** The digest of data in one go; out holds out_size >= the digest size, or is NULL. */
int eddy_crypto_hash(eddy_loop_t *loop, eddy_crypto_t *req, const char *digest, const void *data,
                     size_t len, void *out, size_t out_size, eddy_crypto_cb cb);
/** HMAC-<digest> of data under key in one go; out as for eddy_crypto_hash. */
int eddy_crypto_hmac(eddy_loop_t *loop, eddy_crypto_t *req, const char *digest, const void *key,
                     size_t key_len, const void *data, size_t len, void *out, size_t out_size,
                     eddy_crypto_cb cb);
/** len cryptographically strong random bytes (RAND_bytes) into out (or a new buffer).
 * Node's crypto.randomBytes / randomFillSync. */
int eddy_crypto_random(eddy_loop_t *loop, eddy_crypto_t *req, void *out, size_t len,
                       eddy_crypto_cb cb);
/** Frees the output buffer the request allocated, if any (req->out becomes NULL). */
void eddy_crypto_cleanup(eddy_crypto_t *req);

/** The output size of a digest in bytes, or -EINVAL for an unknown name. */
int eddy_crypto_digest_size(const char *digest);
/** 1 if a and b hold the same len bytes, 0 otherwise, in time independent of the contents
 * (CRYPTO_memcmp; Node's crypto.timingSafeEqual). */
int eddy_crypto_timing_safe_equal(const void *a, const void *b, size_t len);

/** Starts an incremental hash; -EINVAL for an unknown digest, -ENOMEM. */
int eddy_hash_init(eddy_hash_t *hash, const char *digest);
/** Adds len bytes. */
int eddy_hash_update(eddy_hash_t *hash, const void *data, size_t len);
/** Writes the digest (out holds out_size >= hash->size bytes), returns its length and
 * releases the hash (init it again to reuse it). */
int eddy_hash_final(eddy_hash_t *hash, void *out, size_t out_size);
/** Releases a hash without finishing it; safe after final and twice. */
void eddy_hash_cleanup(eddy_hash_t *hash);

/** Starts an incremental HMAC-<digest> under key; -EINVAL for an unknown digest. */
int eddy_hmac_init(eddy_hmac_t *hmac, const char *digest, const void *key, size_t key_len);
/** Adds len bytes. */
int eddy_hmac_update(eddy_hmac_t *hmac, const void *data, size_t len);
/** Writes the MAC (out holds out_size >= hmac->size bytes), returns its length and releases
 * the HMAC. */
int eddy_hmac_final(eddy_hmac_t *hmac, void *out, size_t out_size);
/** Releases an HMAC without finishing it; safe after final and twice. */
void eddy_hmac_cleanup(eddy_hmac_t *hmac);

#endif
