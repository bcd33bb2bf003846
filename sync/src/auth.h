/* auth.h - request signatures and enrollment codes (docs/protocol.md 4, 6).
 * Shared by the client and the server so both build the same bytes. */
#ifndef VELD_AUTH_H
#define VELD_AUTH_H

#include "crypto.h"

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

/* Enrollment codes: 20 random bytes shown as base32 groups of four. */
void veld__code_new(uint8_t code[VELD_CODE_BYTES], char text[VELD_CODE_TEXT_MAX]);
int veld__code_parse(const char *text, uint8_t code[VELD_CODE_BYTES]); /* 0 or -1 */
/* auth = BLAKE2b-256 keyed with the code over "veld-invite-auth";
 * key  = BLAKE2b-256 keyed with the code over "veld-invite-key". */
void veld__code_auth(uint8_t auth[32], const uint8_t code[VELD_CODE_BYTES]);
void veld__code_key(uint8_t key[32], const uint8_t code[VELD_CODE_BYTES]);
/* The associated data of a team key sealed with a code (invite, enroll):
 * "veld-team-key-v2" || team || 0x00 || BE64(tv) || office device || office
 * sign_pk || office box_pk. So the code a worker got from the office also
 * proves the office's keys the server hands out with it: a server that
 * swaps them makes the team key fail to open. Returns its length. */
#define VELD_INVITE_AD_MAX (16 + 64 + 1 + 8 + 16 + 32 + 32)
size_t veld__invite_ad(uint8_t ad[VELD_INVITE_AD_MAX], const char *team, uint64_t tv,
                       const uint8_t office_device[16], const uint8_t office_sign_pk[32],
                       const uint8_t office_box_pk[32]);
/* The proof a device enrolled with a code it held: BLAKE2b-256 keyed with
 * proof_key = H_key(code, "veld-invite-proof") over "veld-enroll-proof-v1"
 * || device || sign_pk || box_pk. The office keeps proof_key with each
 * invite and certifies only a device whose proof matches. */
void veld__code_proof_key(uint8_t key[32], const uint8_t code[VELD_CODE_BYTES]);
void veld__enroll_proof(uint8_t proof[32], const uint8_t proof_key[32], const uint8_t device[16],
                        const uint8_t sign_pk[32], const uint8_t box_pk[32]);

/* Notices (POST /v1/notice, in pulls): the office signs
 * "veld-notice-v1" || u8 len(team) || team || BE64(n) || u8 len(kind) ||
 * kind || BE64(at) || H(body). */
#define VELD_NOTICE_SIG_MSG_MAX (14 + 65 + 8 + 16 + 8 + 32)
size_t veld__notice_sig_message(uint8_t msg[VELD_NOTICE_SIG_MSG_MAX], const char *team,
                                uint64_t n, const char *kind, uint64_t at, const uint8_t *body,
                                size_t body_len);
int veld__notice_sig_verify(const uint8_t office_pk[32], const char *team, uint64_t n,
                            const char *kind, uint64_t at, const uint8_t *body, size_t body_len,
                            const uint8_t sig[64]);

/* Checkpoints (POST /v1/checkpoint, in pulls): the office signs
 * "veld-checkpoint-v1" || u8 len(team) || team || BE64(at) || BE64(n) ||
 * H(heads). */
#define VELD_CHECKPOINT_SIG_MSG_MAX (18 + 65 + 16 + 32)
size_t veld__checkpoint_sig_message(uint8_t msg[VELD_CHECKPOINT_SIG_MSG_MAX], const char *team,
                                    uint64_t at, uint64_t n, const uint8_t *heads,
                                    size_t heads_len);
int veld__checkpoint_sig_verify(const uint8_t office_pk[32], const char *team, uint64_t at,
                                uint64_t n, const uint8_t *heads, size_t heads_len,
                                const uint8_t sig[64]);

/* Key envelopes: the sealing device (`from`) signs "veld-env-v1" || from ||
 * client || BE64(kv) || u8 len(to) || to || BE64(tv) || H(sealed). */
#define VELD_ENVELOPE_SIG_MSG_MAX (11 + 16 + 16 + 8 + 73 + 8 + 32)
size_t veld__envelope_sig_message(uint8_t msg[VELD_ENVELOPE_SIG_MSG_MAX], const uint8_t from[16],
                                  const uint8_t client[16], uint64_t kv, const char *to,
                                  uint64_t tv, const uint8_t sealed[VELD_SEALED_KEY_BYTES]);
int veld__envelope_sig_verify(const uint8_t sign_pk[32], const uint8_t from[16],
                              const uint8_t client[16], uint64_t kv, const char *to, uint64_t tv,
                              const uint8_t sealed[VELD_SEALED_KEY_BYTES], const uint8_t sig[64]);

/* Team keys (POST /v1/team-keys, in pulls): the office signs
 * "veld-tkey-v1" || u8 len(team) || team || BE64(tv) || pk. */
#define VELD_TEAM_KEY_SIG_MSG_MAX (12 + 65 + 8 + 32)
size_t veld__team_key_sig_message(uint8_t msg[VELD_TEAM_KEY_SIG_MSG_MAX], const char *team,
                                  uint64_t tv, const uint8_t pk[32]);
int veld__team_key_sig_verify(const uint8_t office_pk[32], const char *team, uint64_t tv,
                              const uint8_t pk[32], const uint8_t sig[64]);

#endif
