/* crypto.c - thin, named wrappers over libsodium. */
#include "crypto.h"

#include <string.h>

int veld__kdf(uint8_t key[32], const char *pass, size_t len, const uint8_t salt[VELD_SALT_BYTES],
              uint64_t opslimit, uint64_t memlimit)
{
	return crypto_pwhash(key, 32, pass, len, salt, opslimit, (size_t)memlimit,
	                     crypto_pwhash_ALG_ARGON2ID13);
}

void veld__seal(uint8_t *out, const uint8_t *pt, size_t ptlen, const uint8_t *ad, size_t adlen,
                const uint8_t key[32])
{
	uint8_t *nonce = out;
	randombytes_buf(nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
	                                           NULL, pt, ptlen, ad, adlen, NULL, nonce, key);
}

void veld__seal_nonce(uint8_t *out, const uint8_t nonce[24], const uint8_t *pt, size_t ptlen,
                      const uint8_t *ad, size_t adlen, const uint8_t key[32])
{
	memcpy(out, nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
	                                           NULL, pt, ptlen, ad, adlen, NULL, out, key);
}

int veld__open(uint8_t *out, const uint8_t *ct, size_t ctlen, const uint8_t *ad, size_t adlen,
               const uint8_t key[32])
{
	if (ctlen < VELD_SEAL_OVERHEAD)
		return -1;
	return crypto_aead_xchacha20poly1305_ietf_decrypt(
		out, NULL, NULL, ct + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
		ctlen - crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, ad, adlen, ct, key);
}

uint8_t *veld__secret_new(size_t n)
{
	uint8_t *p = sodium_malloc(n);
	if (p)
		sodium_memzero(p, n);
	return p;
}

void veld__secret_free(uint8_t *p)
{
	if (p)
		sodium_free(p); /* sodium_free wipes before releasing */
}

void veld__random_id(uint8_t id[VELD_ID_BYTES])
{
	randombytes_buf(id, VELD_ID_BYTES);
}

void veld__hex(char *hex, const uint8_t *b, size_t n)
{
	sodium_bin2hex(hex, 2 * n + 1, b, n);
}

int veld__unhex(uint8_t *b, size_t n, const char *hex)
{
	size_t got = 0;
	if (strlen(hex) != 2 * n)
		return -1;
	if (sodium_hex2bin(b, n, hex, 2 * n, NULL, &got, NULL) != 0 || got != n)
		return -1;
	return 0;
}
