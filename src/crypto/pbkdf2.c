/* PBKDF2-HMAC (RFC 8018 5.2) for SHA-1, SHA-256 and SHA-512, straight on the hash's
 * compression function.
 *
 * Why. Each PBKDF2 iteration is one HMAC of the previous block, U_j = HMAC(P, U_{j-1}); with
 * the key's inner and outer pad blocks hashed once up front, that HMAC is exactly two
 * compressions of one block each (U_{j-1} and the inner digest, each with its padding, fit in
 * one block). OpenSSL's generic path copies and finalises whole digest contexts through its
 * EVP layer on every iteration, which costs about 2.5x the two compressions: the seed's
 * pbkdf2(100000, sha512, 512-byte key) took ~0.9 s of CPU through EVP and ~0.35 s here. The
 * compression itself is still OpenSSL's (SHA*_Transform, its assembly), so this file holds
 * only the RFC's loop.
 *
 * The SHA*_Transform and SHA*_CTX API is deprecated in OpenSSL 3 (still present in every 3.x);
 * without it (EDDY_NO_FAST_PBKDF2, or a library that dropped it) crypto.c falls back to EVP. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "crypto/crypto_internal.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#if !defined(EDDY_NO_FAST_PBKDF2) && !defined(OPENSSL_NO_DEPRECATED_3_0)

typedef union {
    SHA_CTX sha1;
    SHA256_CTX sha256;
    SHA512_CTX sha512;
} hctx;

/* What the loop needs of a hash: sizes, and its chaining state seen as big-endian bytes. */
typedef struct {
    unsigned block;     /* bytes per compressed block */
    unsigned size;      /* digest bytes */
    unsigned len_bytes; /* the message length field at the end of the padding */
    void (*init)(hctx *c);
    void (*update)(hctx *c, const void *data, size_t len);
    void (*final)(hctx *c, unsigned char *out);
    void (*transform)(hctx *c, const unsigned char *block);
    void (*set_state)(hctx *c, const hctx *from); /* chaining state only */
    void (*get_state)(const hctx *c, unsigned char *out);
} hash_ops;

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void put64(unsigned char *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

/* ---- SHA-1 ---- */
static void sha1_init(hctx *c) { SHA1_Init(&c->sha1); }
static void sha1_update(hctx *c, const void *d, size_t n) { SHA1_Update(&c->sha1, d, n); }
static void sha1_final(hctx *c, unsigned char *out) { SHA1_Final(out, &c->sha1); }
static void sha1_transform(hctx *c, const unsigned char *b) { SHA1_Transform(&c->sha1, b); }
static void sha1_set(hctx *c, const hctx *f)
{
    c->sha1.h0 = f->sha1.h0;
    c->sha1.h1 = f->sha1.h1;
    c->sha1.h2 = f->sha1.h2;
    c->sha1.h3 = f->sha1.h3;
    c->sha1.h4 = f->sha1.h4;
}
static void sha1_get(const hctx *c, unsigned char *out)
{
    put32(out, c->sha1.h0);
    put32(out + 4, c->sha1.h1);
    put32(out + 8, c->sha1.h2);
    put32(out + 12, c->sha1.h3);
    put32(out + 16, c->sha1.h4);
}

/* ---- SHA-256 ---- */
static void sha256_init(hctx *c) { SHA256_Init(&c->sha256); }
static void sha256_update(hctx *c, const void *d, size_t n) { SHA256_Update(&c->sha256, d, n); }
static void sha256_final(hctx *c, unsigned char *out) { SHA256_Final(out, &c->sha256); }
static void sha256_transform(hctx *c, const unsigned char *b) { SHA256_Transform(&c->sha256, b); }
static void sha256_set(hctx *c, const hctx *f)
{
    memcpy(c->sha256.h, f->sha256.h, sizeof c->sha256.h);
}
static void sha256_get(const hctx *c, unsigned char *out)
{
    for (int i = 0; i < 8; i++)
        put32(out + 4 * i, c->sha256.h[i]);
}

/* ---- SHA-512 ---- */
static void sha512_init(hctx *c) { SHA512_Init(&c->sha512); }
static void sha512_update(hctx *c, const void *d, size_t n) { SHA512_Update(&c->sha512, d, n); }
static void sha512_final(hctx *c, unsigned char *out) { SHA512_Final(out, &c->sha512); }
static void sha512_transform(hctx *c, const unsigned char *b) { SHA512_Transform(&c->sha512, b); }
static void sha512_set(hctx *c, const hctx *f)
{
    memcpy(c->sha512.h, f->sha512.h, sizeof c->sha512.h);
}
static void sha512_get(const hctx *c, unsigned char *out)
{
    for (int i = 0; i < 8; i++)
        put64(out + 8 * i, c->sha512.h[i]);
}

static const hash_ops sha1_ops = {64, 20, 8, sha1_init, sha1_update, sha1_final,
                                  sha1_transform, sha1_set, sha1_get};
static const hash_ops sha256_ops = {64, 32, 8, sha256_init, sha256_update, sha256_final,
                                    sha256_transform, sha256_set, sha256_get};
static const hash_ops sha512_ops = {128, 64, 16, sha512_init, sha512_update, sha512_final,
                                    sha512_transform, sha512_set, sha512_get};

/* A block holding an HMAC's second input (a digest, `size` bytes, after a pad block) with its
 * padding: 0x80, zeros, and the message length in bits, (block + size) * 8. */
static void make_padded(const hash_ops *h, unsigned char *blk)
{
    memset(blk, 0, h->block);
    blk[h->size] = 0x80;
    uint64_t bits = (uint64_t)(h->block + h->size) * 8;
    put64(blk + h->block - 8, bits);
}

/* The states after the inner and outer pad blocks of HMAC keyed with the password. */
static void hmac_pads(const hash_ops *h, const unsigned char *pw, size_t pw_len, hctx *ipad,
                      hctx *opad)
{
    unsigned char key[128] = {0}, pad[128];
    if (pw_len > h->block) {
        hctx c;
        h->init(&c);
        h->update(&c, pw, pw_len);
        h->final(&c, key);
        OPENSSL_cleanse(&c, sizeof c);
    } else if (pw_len > 0) {
        memcpy(key, pw, pw_len);
    }
    for (unsigned i = 0; i < h->block; i++)
        pad[i] = key[i] ^ 0x36;
    h->init(ipad);
    h->update(ipad, pad, h->block);
    for (unsigned i = 0; i < h->block; i++)
        pad[i] = key[i] ^ 0x5c;
    h->init(opad);
    h->update(opad, pad, h->block);
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(pad, sizeof pad);
}

/* T_i = U_1 ^ ... ^ U_c for block number i (RFC 8018 5.2, the function F). */
static void derive_block(const hash_ops *h, const hctx *ipad, const hctx *opad,
                         const unsigned char *salt, size_t salt_len, uint32_t i, unsigned iter,
                         unsigned char *t)
{
    unsigned char be_i[4], inner[128], outer[128];
    hctx c = *ipad;
    put32(be_i, i);
    h->update(&c, salt, salt_len);
    h->update(&c, be_i, 4);
    h->final(&c, outer); /* the inner digest, padded below */
    c = *opad;
    h->update(&c, outer, h->size);
    h->final(&c, t); /* U_1 */
    make_padded(h, outer);
    make_padded(h, inner);
    memcpy(inner, t, h->size);
    for (unsigned j = 1; j < iter; j++) {
        h->set_state(&c, ipad);
        h->transform(&c, inner);   /* HMAC's inner hash of U_{j-1} */
        h->get_state(&c, outer);
        h->set_state(&c, opad);
        h->transform(&c, outer);   /* and its outer hash: U_j */
        h->get_state(&c, inner);
        for (unsigned k = 0; k < h->size; k += 4) { /* every digest size is a multiple of 4 */
            uint32_t a, b;
            memcpy(&a, t + k, 4);
            memcpy(&b, inner + k, 4);
            a ^= b;
            memcpy(t + k, &a, 4);
        }
    }
    OPENSSL_cleanse(&c, sizeof c);
    OPENSSL_cleanse(inner, sizeof inner);
    OPENSSL_cleanse(outer, sizeof outer);
}

int eddy__pbkdf2_fast(const EVP_MD *md, const unsigned char *pw, size_t pw_len,
                      const unsigned char *salt, size_t salt_len, unsigned iter,
                      unsigned char *out, size_t out_len)
{
    const hash_ops *h = EVP_MD_is_a(md, "SHA512")   ? &sha512_ops
                        : EVP_MD_is_a(md, "SHA256") ? &sha256_ops
                        : EVP_MD_is_a(md, "SHA1")   ? &sha1_ops
                                                    : NULL;
    if (h == NULL || iter == 0 || out_len / h->size >= UINT32_MAX)
        return -ENOSYS; /* the EVP path handles (or refuses) the rest */
    hctx ipad, opad;
    hmac_pads(h, pw, pw_len, &ipad, &opad);
    unsigned char t[64];
    for (uint32_t i = 1; out_len > 0; i++) {
        derive_block(h, &ipad, &opad, salt, salt_len, i, iter, t);
        size_t n = out_len < h->size ? out_len : h->size;
        memcpy(out, t, n);
        out += n;
        out_len -= n;
    }
    OPENSSL_cleanse(t, sizeof t);
    OPENSSL_cleanse(&ipad, sizeof ipad);
    OPENSSL_cleanse(&opad, sizeof opad);
    return 0;
}

#else

int eddy__pbkdf2_fast(const EVP_MD *md, const unsigned char *pw, size_t pw_len,
                      const unsigned char *salt, size_t salt_len, unsigned iter,
                      unsigned char *out, size_t out_len)
{
    return -ENOSYS;
}

#endif
