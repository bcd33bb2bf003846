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
	if (!hex || strlen(hex) != 2 * n)
		return -1;
	if (sodium_hex2bin(b, n, hex, 2 * n, NULL, &got, NULL) != 0 || got != n)
		return -1;
	return 0;
}

size_t veld__utf8_char(const uint8_t *p, size_t n)
{
	size_t k;
	uint32_t cp;
	if (n == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xE0) == 0xC0)
		k = 2, cp = p[0] & 0x1Fu;
	else if ((p[0] & 0xF0) == 0xE0)
		k = 3, cp = p[0] & 0x0Fu;
	else if ((p[0] & 0xF8) == 0xF0)
		k = 4, cp = p[0] & 0x07u;
	else
		return 0;
	if (n < k)
		return 0;
	for (size_t i = 1; i < k; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3Fu);
	}
	if ((k == 2 && cp < 0x80) || (k == 3 && cp < 0x800) || (k == 4 && cp < 0x10000) ||
	    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return k;
}

int veld__utf8_valid(const uint8_t *p, size_t n)
{
	for (size_t i = 0, k; i < n; i += k)
		if ((k = veld__utf8_char(p + i, n - i)) == 0)
			return 0;
	return 1;
}

void veld__be64_put(uint8_t b[8], uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		b[i] = (uint8_t)v;
}

uint64_t veld__be64_get(const uint8_t b[8])
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | b[i];
	return v;
}
