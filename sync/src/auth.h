/* auth.h - request signatures and enrollment codes (docs/protocol.md 4, 6).
 * Shared by the client and the server so both build the same bytes. */
#ifndef VELD_AUTH_H
#define VELD_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define VELD_AUTH_WINDOW_MS (300u * 1000u)
#define VELD_CODE_BYTES 20
#define VELD_CODE_TEXT_MAX 48 /* 32 base32 letters + 7 dashes + NUL, with room */

/* The four header values of a signed request. */
struct veld__auth_headers {
	char device[33];    /* 32 hex */
	char time[21];      /* decimal ms */
	char nonce[33];     /* 32 hex */
	char signature[129]; /* 128 hex */
};

/* The bytes a request signature covers, at most this long (the signed path
 * is at most 2048 bytes). */
#define VELD_AUTH_MSG_MAX (2048 + 256)
/* Sign a request in two steps, for a signer that holds its key elsewhere:
 * fill device, time (now) and a fresh nonce, and write the bytes to sign
 * into msg (returns their length); then set the signature over them. */
size_t veld__auth_message(struct veld__auth_headers *h, const uint8_t device[16],
                          const char *method, const char *path, const uint8_t *body,
                          size_t body_len, uint8_t msg[VELD_AUTH_MSG_MAX]);
void veld__auth_set_signature(struct veld__auth_headers *h, const uint8_t sig[64]);
/* Sign a request: fills all four headers (time = now, fresh nonce). */
void veld__auth_sign(struct veld__auth_headers *h, const uint8_t device[16], const uint8_t sign_sk[64],
                     const char *method, const char *path, const uint8_t *body, size_t body_len);

/* Parse headers (any may be NULL = missing). 0 ok, -1 malformed. */
int veld__auth_parse(const char *device_hex, const char *time_dec, const char *nonce_hex,
                     const char *sig_hex, uint8_t device[16], uint64_t *time_ms, uint8_t nonce[16],
                     uint8_t sig[64]);

/* Verify a parsed signature against the device's public key. 0 ok, -1 bad. */
int veld__auth_verify(const uint8_t sign_pk[32], const char *method, const char *path,
                      const char *time_dec, const char *nonce_hex, const uint8_t sig[64],
                      const uint8_t *body, size_t body_len);

/* Access-log entries (POST /v1/audit): the 69 signed bytes
 * "veld-audit-v1" || device || BE64(seq) || H(sealed), and their check. */
#define VELD_AUDIT_SIG_MSG 69
void veld__audit_sig_message(uint8_t msg[VELD_AUDIT_SIG_MSG], const uint8_t device[16],
                             uint64_t seq, const uint8_t *sealed, size_t sealed_len);
int veld__audit_sig_verify(const uint8_t sign_pk[32], const uint8_t device[16], uint64_t seq,
                           const uint8_t *sealed, size_t sealed_len, const uint8_t sig[64]);

/* Erasures (POST /v1/erase): the office signs the 37 bytes
 * "veld-erase-v1" || client || BE64(at); devices check them. */
#define VELD_ERASE_SIG_MSG 37
void veld__erase_sig_message(uint8_t msg[VELD_ERASE_SIG_MSG], const uint8_t client[16],
                             uint64_t at);
int veld__erase_sig_verify(const uint8_t office_pk[32], const uint8_t client[16], uint64_t at,
                           const uint8_t sig[64]);

/* Team field policies (POST /v1/policy): the office signs
 * "veld-policy-v1" || u8 len(team) || team || BE64(at) || BE32(mask), at
 * most 91 bytes (mask: core/src/policy.h); devices check them. */
#define VELD_POLICY_SIG_MSG_MAX 91
size_t veld__policy_sig_message(uint8_t msg[VELD_POLICY_SIG_MSG_MAX], const char *team,
                                uint64_t at, uint32_t mask);
int veld__policy_sig_verify(const uint8_t office_pk[32], const char *team, uint64_t at,
                            uint32_t mask, const uint8_t sig[64]);

/* Enrollment codes: 20 random bytes shown as base32 groups of four. */
void veld__code_new(uint8_t code[VELD_CODE_BYTES], char text[VELD_CODE_TEXT_MAX]);
int veld__code_parse(const char *text, uint8_t code[VELD_CODE_BYTES]); /* 0 or -1 */
/* auth = BLAKE2b-256 keyed with the code over "veld-invite-auth";
 * key  = BLAKE2b-256 keyed with the code over "veld-invite-key". */
void veld__code_auth(uint8_t auth[32], const uint8_t code[VELD_CODE_BYTES]);
void veld__code_key(uint8_t key[32], const uint8_t code[VELD_CODE_BYTES]);
/* The associated data of a team key sealed with a code (invite, enroll):
 * "veld-team-key-v1" || team || 0x00 || BE64(tv). Returns its length. */
#define VELD_INVITE_AD_MAX (16 + 64 + 1 + 8)
size_t veld__invite_ad(uint8_t ad[VELD_INVITE_AD_MAX], const char *team, uint64_t tv);

#endif
