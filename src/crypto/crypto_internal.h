/* Shared by the crypto module's files (crypto.c: requests; hash.c: digests, incremental hash
 * and HMAC). Nothing here is public API. */
#ifndef EDDY_CRYPTO_INTERNAL_H
#define EDDY_CRYPTO_INTERNAL_H

#include <openssl/evp.h>

#include "core/internal.h"
#include "eddy/crypto.h"

/* Fetches the digest called name into *md (the caller frees it with EVP_MD_free): returns its
 * output size in bytes, or -EINVAL (and *md NULL) for an unknown or unusable name. */
int eddy__crypto_fetch_md(const char *name, EVP_MD **md);
/* Starts an HMAC with an already fetched digest (eddy_hmac_init without the lookup). */
int eddy__hmac_start(eddy_hmac_t *hmac, const EVP_MD *md, const void *key, size_t key_len);

/* PBKDF2-HMAC on the hash's compression function (pbkdf2.c) for SHA-1, SHA-256 and SHA-512:
 * 0, or -ENOSYS for any other digest (or a build without the low-level hash API). */
int eddy__pbkdf2_fast(const EVP_MD *md, const unsigned char *pw, size_t pw_len,
                      const unsigned char *salt, size_t salt_len, unsigned iter,
                      unsigned char *out, size_t out_len);

#endif
