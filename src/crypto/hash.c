/* Digests by name, and the incremental hash and HMAC (Node's createHash and createHmac):
 * init, any number of updates, final. They run on the caller's thread. */
#include "crypto/crypto_internal.h"

#include <openssl/core_names.h>
#include <openssl/err.h>

int eddy__crypto_fetch_md(const char *name, EVP_MD **md)
{
    *md = name != NULL ? EVP_MD_fetch(NULL, name, NULL) : NULL;
    int size = *md != NULL ? EVP_MD_get_size(*md) : -1;
    if (size <= 0 || size > EDDY_CRYPTO_DIGEST_MAX) {
        /* Unknown, or not a fixed-size digest this API can hold. */
        EVP_MD_free(*md);
        *md = NULL;
        ERR_clear_error();
        return -EINVAL;
    }
    return size;
}

EDDY_EXPORT int eddy_crypto_digest_size(const char *digest)
{
    EVP_MD *md = NULL;
    int size = eddy__crypto_fetch_md(digest, &md);
    EVP_MD_free(md);
    return size;
}

/* ---- incremental hash -------------------------------------------------------------------- */

EDDY_EXPORT int eddy_hash_init(eddy_hash_t *hash, const char *digest)
{
    assert(hash != NULL);
    hash->_ctx = NULL;
    hash->size = 0;
    EVP_MD *md = NULL;
    int size = eddy__crypto_fetch_md(digest, &md);
    if (size < 0) return size;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    /* The context takes its own reference to the digest. */
    int ok = ctx != NULL && EVP_DigestInit_ex2(ctx, md, NULL) == 1;
    EVP_MD_free(md);
    if (!ok) {
        EVP_MD_CTX_free(ctx);
        ERR_clear_error();
        return -ENOMEM;
    }
    hash->_ctx = ctx;
    hash->size = (size_t)size;
    return 0;
}

EDDY_EXPORT int eddy_hash_update(eddy_hash_t *hash, const void *data, size_t len)
{
    assert(hash != NULL);
    if (hash->_ctx == NULL || (data == NULL && len > 0)) return -EINVAL;
    if (len == 0) return 0;
    return EVP_DigestUpdate(hash->_ctx, data, len) == 1 ? 0 : -EINVAL;
}

EDDY_EXPORT int eddy_hash_final(eddy_hash_t *hash, void *out, size_t out_size)
{
    assert(hash != NULL);
    if (hash->_ctx == NULL || out == NULL || out_size < hash->size) return -EINVAL;
    unsigned int len = 0;
    int ok = EVP_DigestFinal_ex(hash->_ctx, out, &len) == 1;
    eddy_hash_cleanup(hash);
    if (!ok) ERR_clear_error();
    return ok ? (int)len : -EINVAL;
}

EDDY_EXPORT void eddy_hash_cleanup(eddy_hash_t *hash)
{
    assert(hash != NULL);
    EVP_MD_CTX_free(hash->_ctx);
    hash->_ctx = NULL;
}

/* ---- incremental HMAC -------------------------------------------------------------------- */

int eddy__hmac_start(eddy_hmac_t *hmac, const EVP_MD *md, const void *key, size_t key_len)
{
    hmac->_ctx = NULL;
    hmac->size = 0;
    if (key == NULL && key_len > 0) return -EINVAL;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
    EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
    EVP_MAC_free(mac); /* the context holds its own reference */
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)EVP_MD_get0_name(md), 0),
        OSSL_PARAM_construct_end(),
    };
    /* An empty key is a valid HMAC key (zero-padded), but needs a non-NULL pointer. */
    static const unsigned char no_key[1];
    if (ctx == NULL || EVP_MAC_init(ctx, key_len > 0 ? key : no_key, key_len, params) != 1) {
        EVP_MAC_CTX_free(ctx);
        ERR_clear_error();
        return -EINVAL;
    }
    hmac->_ctx = ctx;
    hmac->size = EVP_MAC_CTX_get_mac_size(ctx);
    return 0;
}

EDDY_EXPORT int eddy_hmac_init(eddy_hmac_t *hmac, const char *digest, const void *key,
                               size_t key_len)
{
    assert(hmac != NULL);
    hmac->_ctx = NULL;
    hmac->size = 0;
    EVP_MD *md = NULL;
    int size = eddy__crypto_fetch_md(digest, &md);
    if (size < 0) return size;
    int err = eddy__hmac_start(hmac, md, key, key_len);
    EVP_MD_free(md);
    return err;
}

EDDY_EXPORT int eddy_hmac_update(eddy_hmac_t *hmac, const void *data, size_t len)
{
    assert(hmac != NULL);
    if (hmac->_ctx == NULL || (data == NULL && len > 0)) return -EINVAL;
    if (len == 0) return 0;
    return EVP_MAC_update(hmac->_ctx, data, len) == 1 ? 0 : -EINVAL;
}

EDDY_EXPORT int eddy_hmac_final(eddy_hmac_t *hmac, void *out, size_t out_size)
{
    assert(hmac != NULL);
    if (hmac->_ctx == NULL || out == NULL || out_size < hmac->size) return -EINVAL;
    size_t len = 0;
    int ok = EVP_MAC_final(hmac->_ctx, out, &len, out_size) == 1;
    eddy_hmac_cleanup(hmac);
    if (!ok) ERR_clear_error();
    return ok ? (int)len : -EINVAL;
}

EDDY_EXPORT void eddy_hmac_cleanup(eddy_hmac_t *hmac)
{
    assert(hmac != NULL);
    EVP_MAC_CTX_free(hmac->_ctx);
    hmac->_ctx = NULL;
}
