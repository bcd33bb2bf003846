/* auth.c - request signatures and enrollment codes. */
#include "auth.h"
#include "crypto.h"
#include "hlc.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_MAX_SIGNED 2048

/* The signed message (plain Ed25519 over these bytes):
 * "veld-req-v1\n" METHOD "\n" PATH "\n" TIME "\n" NONCE "\n" hex(H(body)) */
static size_t request_message(char *msg, size_t cap, const char *method, const char *path,
                              const char *time_dec, const char *nonce_hex, const uint8_t *body,
                              size_t body_len)
{
	uint8_t bh[32];
	char bhex[65];
	int n;
	crypto_generichash(bh, 32, body, body_len, NULL, 0);
	sodium_bin2hex(bhex, sizeof bhex, bh, 32);
	n = snprintf(msg, cap, "veld-req-v1\n%s\n%s\n%s\n%s\n%s", method, path, time_dec, nonce_hex, bhex);
	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

size_t veld__auth_message(struct veld__auth_headers *h, const uint8_t device[16],
                          const char *method, const char *path, const uint8_t *body,
                          size_t body_len, uint8_t msg[VELD_AUTH_MSG_MAX])
{
	uint8_t nonce[16];
	sodium_bin2hex(h->device, sizeof h->device, device, 16);
	snprintf(h->time, sizeof h->time, "%llu", (unsigned long long)veld__hlc_now_ms());
	randombytes_buf(nonce, sizeof nonce);
	sodium_bin2hex(h->nonce, sizeof h->nonce, nonce, sizeof nonce);
	h->signature[0] = 0;
	return request_message((char *)msg, VELD_AUTH_MSG_MAX, method, path, h->time, h->nonce, body,
	                       body_len);
}

void veld__auth_set_signature(struct veld__auth_headers *h, const uint8_t sig[64])
{
	sodium_bin2hex(h->signature, sizeof h->signature, sig, 64);
}

void veld__auth_sign(struct veld__auth_headers *h, const uint8_t device[16], const uint8_t sign_sk[64],
                     const char *method, const char *path, const uint8_t *body, size_t body_len)
{
	uint8_t msg[VELD_AUTH_MSG_MAX], sig[64];
	size_t n = veld__auth_message(h, device, method, path, body, body_len, msg);
	crypto_sign_detached(sig, NULL, msg, n, sign_sk);
	veld__auth_set_signature(h, sig);
}

size_t veld__invite_ad(uint8_t ad[VELD_INVITE_AD_MAX], const char *team, uint64_t tv,
                       const uint8_t office_device[16], const uint8_t office_sign_pk[32],
                       const uint8_t office_box_pk[32])
{
	size_t n = strlen(team), o;
	memcpy(ad, "veld-team-key-v2", 16);
	memcpy(ad + 16, team, n + 1);
	veld__be64_put(ad + 17 + n, tv);
	o = 25 + n;
	memcpy(ad + o, office_device, 16);
	memcpy(ad + o + 16, office_sign_pk, 32);
	memcpy(ad + o + 48, office_box_pk, 32);
	return o + 80;
}


int veld__auth_parse(const char *device_hex, const char *time_dec, const char *nonce_hex,
                     const char *sig_hex, uint8_t device[16], uint64_t *time_ms, uint8_t nonce[16],
                     uint8_t sig[64])
{
	char *end;
	if (veld__unhex(device, 16, device_hex) || veld__unhex(nonce, 16, nonce_hex) ||
	    veld__unhex(sig, 64, sig_hex) || !time_dec || !*time_dec || strlen(time_dec) > 20 ||
	    strspn(time_dec, "0123456789") != strlen(time_dec))
		return -1;
	*time_ms = strtoull(time_dec, &end, 10);
	return *end == 0 ? 0 : -1;
}

int veld__auth_verify(const uint8_t sign_pk[32], const char *method, const char *path,
                      const char *time_dec, const char *nonce_hex, const uint8_t sig[64],
                      const uint8_t *body, size_t body_len)
{
	char msg[VELD_AUTH_MSG_MAX];
	size_t n = request_message(msg, sizeof msg, method, path, time_dec, nonce_hex, body, body_len);
	if (n == 0)
		return -1;
	return crypto_sign_verify_detached(sig, (const uint8_t *)msg, n, sign_pk) == 0 ? 0 : -1;
}

/* RFC 4648 base32, no padding; 20 bytes are exactly 32 letters. */
static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

void veld__code_new(uint8_t code[VELD_CODE_BYTES], char text[VELD_CODE_TEXT_MAX])
{
	size_t o = 0;
	randombytes_buf(code, VELD_CODE_BYTES);
	for (int i = 0; i < 32; i++) {
		int bit = i * 5, byte = bit / 8, off = bit % 8;
		unsigned v = ((unsigned)code[byte] << 8) | (byte + 1 < VELD_CODE_BYTES ? code[byte + 1] : 0);
		if (i > 0 && i % 4 == 0)
			text[o++] = '-';
		text[o++] = b32[(v >> (11 - off)) & 31];
	}
	text[o] = 0;
}

int veld__code_parse(const char *text, uint8_t code[VELD_CODE_BYTES])
{
	unsigned acc = 0;
	int bits = 0, n = 0;
	memset(code, 0, VELD_CODE_BYTES);
	for (const char *p = text; p && *p; p++) {
		char c = *p;
		const char *hit;
		if (c == '-' || c == ' ')
			continue;
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (!(hit = strchr(b32, c)) || c == 0)
			return -1;
		acc = (acc << 5) | (unsigned)(hit - b32);
		bits += 5;
		if (bits >= 8) {
			if (n == VELD_CODE_BYTES)
				return -1;
			code[n++] = (uint8_t)(acc >> (bits - 8));
			bits -= 8;
		}
	}
	return n == VELD_CODE_BYTES && bits == 0 ? 0 : -1;
}

static void code_derive(uint8_t out[32], const uint8_t code[VELD_CODE_BYTES], const char *label)
{
	crypto_generichash(out, 32, (const uint8_t *)label, strlen(label), code, VELD_CODE_BYTES);
}

void veld__code_auth(uint8_t auth[32], const uint8_t code[VELD_CODE_BYTES])
{
	code_derive(auth, code, "veld-invite-auth");
}

void veld__code_key(uint8_t key[32], const uint8_t code[VELD_CODE_BYTES])
{
	code_derive(key, code, "veld-invite-key");
}

void veld__audit_sig_message(uint8_t msg[VELD_AUDIT_SIG_MSG], const uint8_t device[16],
                             uint64_t seq, const uint8_t *sealed, size_t sealed_len)
{
	memcpy(msg, "veld-audit-v1", 13);
	memcpy(msg + 13, device, 16);
	veld__be64_put(msg + 29, seq);
	crypto_generichash(msg + 37, 32, sealed, sealed_len, NULL, 0);
}

int veld__audit_sig_verify(const uint8_t sign_pk[32], const uint8_t device[16], uint64_t seq,
                           const uint8_t *sealed, size_t sealed_len, const uint8_t sig[64])
{
	uint8_t msg[VELD_AUDIT_SIG_MSG];
	veld__audit_sig_message(msg, device, seq, sealed, sealed_len);
	return crypto_sign_verify_detached(sig, msg, sizeof msg, sign_pk) == 0 ? 0 : -1;
}


/* ---- what the office signs, and what a device signs for others ------------- */

/* Append u8 len(s) || s (at most 255 bytes; names here are at most 64). */
static size_t put_name(uint8_t *out, const char *s)
{
	size_t n = strnlen(s, 255);
	out[0] = (uint8_t)n;
	memcpy(out + 1, s, n);
	return n + 1;
}

size_t veld__notice_sig_message(uint8_t msg[VELD_NOTICE_SIG_MSG_MAX], const char *team,
                                uint64_t n, const char *kind, uint64_t at, const uint8_t *body,
                                size_t body_len)
{
	size_t o = 0;
	memcpy(msg, "veld-notice-v1", 14);
	o = 14;
	o += put_name(msg + o, team);
	veld__be64_put(msg + o, n);
	o += 8;
	o += put_name(msg + o, kind);
	veld__be64_put(msg + o, at);
	o += 8;
	crypto_generichash(msg + o, 32, body, body_len, NULL, 0);
	return o + 32;
}

int veld__notice_sig_verify(const uint8_t office_pk[32], const char *team, uint64_t n,
                            const char *kind, uint64_t at, const uint8_t *body, size_t body_len,
                            const uint8_t sig[64])
{
	uint8_t msg[VELD_NOTICE_SIG_MSG_MAX];
	size_t len = veld__notice_sig_message(msg, team, n, kind, at, body, body_len);
	return crypto_sign_verify_detached(sig, msg, len, office_pk) == 0 ? 0 : -1;
}

size_t veld__checkpoint_sig_message(uint8_t msg[VELD_CHECKPOINT_SIG_MSG_MAX], const char *team,
                                    uint64_t at, uint64_t n, const uint8_t *heads,
                                    size_t heads_len)
{
	size_t o;
	memcpy(msg, "veld-checkpoint-v1", 18);
	o = 18 + put_name(msg + 18, team);
	veld__be64_put(msg + o, at);
	veld__be64_put(msg + o + 8, n);
	crypto_generichash(msg + o + 16, 32, heads, heads_len, NULL, 0);
	return o + 48;
}

int veld__checkpoint_sig_verify(const uint8_t office_pk[32], const char *team, uint64_t at,
                                uint64_t n, const uint8_t *heads, size_t heads_len,
                                const uint8_t sig[64])
{
	uint8_t msg[VELD_CHECKPOINT_SIG_MSG_MAX];
	size_t len = veld__checkpoint_sig_message(msg, team, at, n, heads, heads_len);
	return crypto_sign_verify_detached(sig, msg, len, office_pk) == 0 ? 0 : -1;
}

size_t veld__envelope_sig_message(uint8_t msg[VELD_ENVELOPE_SIG_MSG_MAX], const uint8_t from[16],
                                  const uint8_t client[16], uint64_t kv, const char *to,
                                  uint64_t tv, const uint8_t sealed[VELD_SEALED_KEY_BYTES])
{
	size_t o;
	memcpy(msg, "veld-env-v1", 11);
	memcpy(msg + 11, from, 16);
	memcpy(msg + 27, client, 16);
	veld__be64_put(msg + 43, kv);
	o = 51 + put_name(msg + 51, to);
	veld__be64_put(msg + o, tv);
	crypto_generichash(msg + o + 8, 32, sealed, VELD_SEALED_KEY_BYTES, NULL, 0);
	return o + 40;
}

int veld__envelope_sig_verify(const uint8_t sign_pk[32], const uint8_t from[16],
                              const uint8_t client[16], uint64_t kv, const char *to, uint64_t tv,
                              const uint8_t sealed[VELD_SEALED_KEY_BYTES], const uint8_t sig[64])
{
	uint8_t msg[VELD_ENVELOPE_SIG_MSG_MAX];
	size_t len = veld__envelope_sig_message(msg, from, client, kv, to, tv, sealed);
	return crypto_sign_verify_detached(sig, msg, len, sign_pk) == 0 ? 0 : -1;
}

size_t veld__team_key_sig_message(uint8_t msg[VELD_TEAM_KEY_SIG_MSG_MAX], const char *team,
                                  uint64_t tv, const uint8_t pk[32])
{
	size_t o;
	memcpy(msg, "veld-tkey-v1", 12);
	o = 12 + put_name(msg + 12, team);
	veld__be64_put(msg + o, tv);
	memcpy(msg + o + 8, pk, 32);
	return o + 40;
}

int veld__team_key_sig_verify(const uint8_t office_pk[32], const char *team, uint64_t tv,
                              const uint8_t pk[32], const uint8_t sig[64])
{
	uint8_t msg[VELD_TEAM_KEY_SIG_MSG_MAX];
	size_t len = veld__team_key_sig_message(msg, team, tv, pk);
	return crypto_sign_verify_detached(sig, msg, len, office_pk) == 0 ? 0 : -1;
}

void veld__code_proof_key(uint8_t key[32], const uint8_t code[VELD_CODE_BYTES])
{
	code_derive(key, code, "veld-invite-proof");
}

void veld__enroll_proof(uint8_t proof[32], const uint8_t proof_key[32], const uint8_t device[16],
                        const uint8_t sign_pk[32], const uint8_t box_pk[32])
{
	uint8_t msg[20 + 16 + 32 + 32];
	memcpy(msg, "veld-enroll-proof-v1", 20);
	memcpy(msg + 20, device, 16);
	memcpy(msg + 36, sign_pk, 32);
	memcpy(msg + 68, box_pk, 32);
	crypto_generichash(proof, 32, msg, sizeof msg, proof_key, 32);
}
