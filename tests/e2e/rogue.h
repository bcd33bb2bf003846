/* rogue.h - a device whose software the test writes: its keys are held
 * here, its operations, batches and key envelopes built and signed here
 * with the wire codecs and auth.c, so it can send what veld's own writer
 * never would (a value out of range, bad padding, an unknown field, a clock
 * far ahead, an envelope that does not open). Enrolled with an invite of
 * the office, it is a real device the office certifies: a buggy or
 * malicious phone. Not enrolled, it is a device the server made up. */
#ifndef VELD_E2E_ROGUE_H
#define VELD_E2E_ROGUE_H

#include "op.h"
#include "wire.h"

#include <stddef.h>
#include <stdint.h>

#define ROGUE_MAX_OPS 16
#define ROGUE_MAX_ENVS 8

struct rogue {
	uint8_t id[VELD_ID_BYTES];
	uint8_t sign_pk[32], sign_sk[64], box_pk[32], box_sk[32];
	char team[VELD_TEAM_MAX + 1];
	uint64_t tv;            /* the team key version it enrolled with */
	uint8_t team_pk[32];    /* that version's public key */
	uint8_t office_box_pk[32];
	char url[64];           /* the server it talks to */
	uint64_t acked;         /* the last seq the server took */
	/* The batch being built: operations acked+1... */
	veld__op ops[ROGUE_MAX_OPS];
	uint8_t *values[ROGUE_MAX_OPS];
	size_t n;
	uint8_t hashes[ROGUE_MAX_OPS * VELD_HASH_BYTES];
	uint8_t sig[64];
	struct veld__envelope envs[ROGUE_MAX_ENVS];
	size_t nenvs;
};

/* A fresh identity of `team` (no server yet: a made-up device). */
void rogue_new(struct rogue *r, const char *team);
/* Enroll at `url` with an invite the office makes for `team`; the office
 * certifies it at its next sync. */
void rogue_enroll(struct rogue *r, veld_store *office, const char *url, const char *team);

/* A new client (random id and data key). */
void rogue_client(uint8_t client[VELD_ID_BYTES], uint8_t key[32]);
/* The stamp `ahead_ms` after now, as a writer makes it. */
uint64_t rogue_hlc(int64_t ahead_ms);

/* Append an operation to the batch: `json` sealed as veld's writer seals
 * (padded), with key version 1 of `key`; json NULL: a tombstone. Returns it
 * (its hash is made by rogue_sign). */
veld__op *rogue_op(struct rogue *r, const char *kind, const uint8_t entity[VELD_ID_BYTES],
                   const uint8_t client[VELD_ID_BYTES], const char *field, const char *json,
                   const uint8_t key[32]);
/* The same with a plaintext sealed exactly as given (no padding added:
 * the caller decides what the padding looks like). */
veld__op *rogue_op_plain(struct rogue *r, const char *kind, const uint8_t entity[VELD_ID_BYTES],
                         const uint8_t client[VELD_ID_BYTES], const char *field,
                         const uint8_t *plain, size_t n, const uint8_t key[32]);
/* A client data key sealed for `to` ("office", "team:<team>"; sealed to the
 * office's or the team's key the rogue got at enrollment) and signed. */
void rogue_envelope(struct rogue *r, const uint8_t client[VELD_ID_BYTES], const uint8_t key[32],
                    const char *to);
/* An envelope whose sealed bytes are these, signed properly. */
void rogue_envelope_sealed(struct rogue *r, const uint8_t client[VELD_ID_BYTES], uint64_t kv,
                           const char *to, uint64_t tv,
                           const uint8_t sealed[VELD_SEALED_KEY_BYTES]);

/* Hash the batch's operations and sign it. */
void rogue_sign(struct rogue *r);
/* The signed batch as a pull carries it (hashes point into r). */
struct veld__batch rogue_batch(const struct rogue *r);
/* Sign and push the batch and envelopes (POST /v1/push, signed request);
 * the HTTP status. On 200 the batch is taken and a new one begins; else it
 * is dropped (its seqs are used again). */
long rogue_push(struct rogue *r);
/* The same, its body packed by hand (envelopes left out): what the wire
 * encoder refuses to make (a value over the limit) still goes. */
long rogue_push_unchecked(struct rogue *r);
/* Forget the batch being built. */
void rogue_reset(struct rogue *r);

/* A signed request to the rogue's server; *body (malloc'd) gets the
 * answer. The HTTP status, 0 if there was no answer. */
long rogue_call(struct rogue *r, const char *method, const char *path, const uint8_t *req,
                size_t len, uint8_t **body, size_t *blen);

#endif
