/* crypto.h - the few sealed-box and key primitives veld uses, on libsodium
 * (private). Sealed values are nonce(24) || ciphertext || tag(16), made
 * with XChaCha20-Poly1305 (IETF AEAD). */
#ifndef VELD_CRYPTO_H
#define VELD_CRYPTO_H

#include <stddef.h>
#include <stdint.h>
#include <sodium.h>

#define VELD_SEAL_OVERHEAD (crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + \
                            crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define VELD_HASH_BYTES 32
#define VELD_ID_BYTES 16
/* A 32-byte key sealed with crypto_box_seal (key envelopes, team keys). */
#define VELD_SEALED_KEY_BYTES (32 + crypto_box_SEALBYTES)
#define VELD_SALT_BYTES crypto_pwhash_SALTBYTES

/* Argon2id: passphrase -> 32-byte key-encryption key. */
int veld__kdf(uint8_t key[32], const char *pass, size_t len, const uint8_t salt[VELD_SALT_BYTES],
              uint64_t opslimit, uint64_t memlimit);

/* Seal `pt` under `key` with associated data. `out` must hold
 * ptlen + VELD_SEAL_OVERHEAD bytes. */
void veld__seal(uint8_t *out, const uint8_t *pt, size_t ptlen, const uint8_t *ad, size_t adlen,
                const uint8_t key[32]);
/* The same with a caller-made nonce (24 bytes, unique per key). */
void veld__seal_nonce(uint8_t *out, const uint8_t nonce[24], const uint8_t *pt, size_t ptlen,
                      const uint8_t *ad, size_t adlen, const uint8_t key[32]);
/* Open a sealed value; `out` must hold ctlen - VELD_SEAL_OVERHEAD bytes.
 * Returns 0, or -1 if it fails authentication (wrong key, data or AD). */
int veld__open(uint8_t *out, const uint8_t *ct, size_t ctlen, const uint8_t *ad, size_t adlen,
               const uint8_t key[32]);

/* A 32-byte secret in guarded memory (sodium_malloc), or NULL. */
uint8_t *veld__secret_new(size_t n);
void veld__secret_free(uint8_t *p); /* wipes; NULL ok */

void veld__random_id(uint8_t id[VELD_ID_BYTES]);
/* Lower-case hex of `n` bytes into `hex` (2n+1 bytes). */
void veld__hex(char *hex, const uint8_t *b, size_t n);
/* Parse exactly 2n hex digits (NULL: -1); 0 or -1. */
int veld__unhex(uint8_t *b, size_t n, const char *hex);

/* 64-bit numbers as 8 bytes, big-endian (in associated data, signed
 * messages and stored values). */
void veld__be64_put(uint8_t b[8], uint64_t v);
uint64_t veld__be64_get(const uint8_t b[8]);

/* Strict UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF).
 * veld__utf8_char: the length of the character at p (n bytes left), or 0
 * if none starts there; veld__utf8_valid: are all n bytes UTF-8 (a NUL is
 * a valid character here: callers that make C strings check for it). */
size_t veld__utf8_char(const uint8_t *p, size_t n);
int veld__utf8_valid(const uint8_t *p, size_t n);

#endif
