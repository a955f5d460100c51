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

#endif
