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

size_t veld__invite_ad(uint8_t ad[VELD_INVITE_AD_MAX], const char *team, uint64_t tv)
{
	size_t n = strlen(team);
	memcpy(ad, "veld-team-key-v1", 16);
	memcpy(ad + 16, team, n + 1);
	veld__be64_put(ad + 17 + n, tv);
	return 25 + n;
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

void veld__erase_sig_message(uint8_t msg[VELD_ERASE_SIG_MSG], const uint8_t client[16],
                             uint64_t at)
{
	memcpy(msg, "veld-erase-v1", 13);
	memcpy(msg + 13, client, 16);
	veld__be64_put(msg + 29, at);
}

int veld__erase_sig_verify(const uint8_t office_pk[32], const uint8_t client[16], uint64_t at,
                           const uint8_t sig[64])
{
	uint8_t msg[VELD_ERASE_SIG_MSG];
	veld__erase_sig_message(msg, client, at);
	return crypto_sign_verify_detached(sig, msg, sizeof msg, office_pk) == 0 ? 0 : -1;
}

size_t veld__policy_sig_message(uint8_t msg[VELD_POLICY_SIG_MSG_MAX], const char *team,
                                uint64_t at, uint32_t mask)
{
	size_t t = strnlen(team, 64), n = 0;
	memcpy(msg, "veld-policy-v1", 14);
	n = 14;
	msg[n++] = (uint8_t)t;
	memcpy(msg + n, team, t);
	n += t;
	veld__be64_put(msg + n, at);
	n += 8;
	for (int i = 0; i < 4; i++)
		msg[n++] = (uint8_t)(mask >> (24 - 8 * i));
	return n;
}

int veld__policy_sig_verify(const uint8_t office_pk[32], const char *team, uint64_t at,
                            uint32_t mask, const uint8_t sig[64])
{
	uint8_t msg[VELD_POLICY_SIG_MSG_MAX];
	size_t n = veld__policy_sig_message(msg, team, at, mask);
	return crypto_sign_verify_detached(sig, msg, n, office_pk) == 0 ? 0 : -1;
}
