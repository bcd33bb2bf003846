/* op.h - operations: the unit of every write, and the merge rule (private).
 *
 * An operation sets one field of one entity. Its identity is (device, seq);
 * its order is (hlc, device). A field is a multi-value register: its heads
 * are the known operations no other known operation supersedes; the winner
 * is the head with the highest (hlc, device). Applying a set of operations
 * in any order, any number of times, gives the same heads. */
#ifndef VELD_OP_H
#define VELD_OP_H

#include "store.h"
#include "merge.h"

#include <jansson.h>
#include <msgpack.h>

/* The operation format this veld writes. Version 1 (veld 0.1) is still
 * read, hashed and verified as it was; version 2 hashes the value through
 * its own hash, so an operation can be checked without its value (a stub,
 * docs/protocol.md section 2). */
#define VELD_OP_VERSION 2
#define VELD_OP_MAX_SUPERSEDES 64
#define VELD_VALUE_MAX (64 * 1024) /* plaintext bytes of one field value */
/* Plaintext is padded (ISO/IEC 7816-4, sodium_pad) to a multiple of this
 * before sealing, so a sealed value's length does not tell which enum value,
 * domain or short text it holds. */
#define VELD_PAD_BLOCK 64
/* The largest sealed value: the largest plaintext padded (always at least
 * one byte of padding) to a whole block, plus nonce and tag. The writer, the
 * reader and the wire all use this one bound. */
#define VELD_SEALED_VALUE_MAX \
	((VELD_VALUE_MAX / VELD_PAD_BLOCK + 1) * VELD_PAD_BLOCK + VELD_SEAL_OVERHEAD)
#define VELD_TOMBSTONE_FIELD "_deleted"

typedef struct veld__ref {
	uint8_t device[VELD_ID_BYTES];
	uint64_t seq;
} veld__ref;

typedef struct veld__op {
	uint32_t version; /* 1 or 2 (VELD_OP_VERSION) */
	uint8_t device[VELD_ID_BYTES];
	uint64_t seq;
	uint64_t hlc;
	char kind[VELD_KIND_MAX + 1];
	uint8_t entity[VELD_ID_BYTES];
	uint8_t client[VELD_ID_BYTES];
	char team[VELD_TEAM_MAX + 1];
	uint64_t kv; /* version of the client data key the value is sealed with */
	char field[VELD_FIELD_MAX + 1];
	const uint8_t *value; /* sealed bytes, or NULL for a tombstone */
	size_t value_len;
	const veld__ref *sup;
	size_t nsup;
	uint8_t hash[VELD_HASH_BYTES];
} veld__op;

/* Canonical msgpack encoding of an operation (everything but its hash), the
 * 12-element array that travels. See docs/protocol.md section 2. */
int veld__op_pack(msgpack_packer *pk, const veld__op *op);
/* The operation's hash, by its version: version 1, BLAKE2b-256 of its
 * canonical encoding; version 2, three layers (op.c), so that a device can
 * check an operation it may not see from the layer it is shown:
 *   rh   = H(canonical [2, device, seq, hlc, entity, kv, H(value) or nil,
 *            supersedes])
 *   kh   = H(u8 len(kind) || kind || u8 len(field) || field || rh)
 *   hash = H("veld-op-v2" || u8 len(team) || team || client || kh) */
void veld__op_hash(veld__op *op);
/* The layers, from the parts a stub shows. vh is H(sealed value), NULL for
 * a tombstone; the operation's own value is not read by rest_hash. */
void veld__op_rest_hash(const veld__op *op, const uint8_t *vh, uint8_t rh[VELD_HASH_BYTES]);
void veld__op_kind_hash(const char *kind, const char *field, const uint8_t rh[VELD_HASH_BYTES],
                        uint8_t kh[VELD_HASH_BYTES]);
void veld__op_hash2(const char *team, const uint8_t client[VELD_ID_BYTES],
                    const uint8_t kh[VELD_HASH_BYTES], uint8_t out[VELD_HASH_BYTES]);
/* The digest of a run of one device's own operations in a pull (GET
 * /v1/pull with own=1): BLAKE2b-256("veld-own-run" || hash of each, in seq
 * order). The hashes bind their device and seq. */
void veld__own_run_digest(const uint8_t *hashes, size_t n, uint8_t d[VELD_HASH_BYTES]);
/* rh and kh of a whole version 2 operation (the server makes stubs). */
void veld__op_layers(const veld__op *op, uint8_t rh[VELD_HASH_BYTES], uint8_t kh[VELD_HASH_BYTES]);
/* Encode/decode the supersedes list as stored in the ops table:
 * 24 bytes per reference (device || seq big-endian). */
size_t veld__sup_encode(uint8_t *out, const veld__ref *sup, size_t n);
int veld__sup_decode(veld__ref *out, size_t cap, const uint8_t *b, size_t len, size_t *n);

/* Additional data that binds a sealed value to its place. */
size_t veld__value_ad(uint8_t *ad, const uint8_t entity[VELD_ID_BYTES], const char *field,
                      const uint8_t device[VELD_ID_BYTES], uint64_t seq);

/* Open a sealed value of (entity, field, device, seq) with `key`: its size
 * within VELD_SEALED_VALUE_MAX, authentication, padding to a whole block,
 * at most VELD_VALUE_MAX bytes of JSON. VELD_OK with *out (release with
 * json_decref), or VELD_ECORRUPT with *why saying which check failed
 * (never a value). */
int veld__value_open(const uint8_t *ct, size_t ctlen, const uint8_t entity[VELD_ID_BYTES],
                     const char *field, const uint8_t device[VELD_ID_BYTES], uint64_t seq,
                     const uint8_t key[32], json_t **out, const char **why);

/* Pad and seal a JSON value for (entity, field, device, seq). Returns a
 * malloc'd buffer of *len bytes, or NULL (out of memory). */
uint8_t *veld__seal_value(const char *json, size_t json_len, const uint8_t entity[VELD_ID_BYTES],
                          const char *field, const uint8_t device[VELD_ID_BYTES], uint64_t seq,
                          const uint8_t key[32], size_t *len);

/* Applying an operation is veld__merge_apply (merge.h) on s->m. */

/* Write a new local operation: stamps, seals `json_value` (NULL = tombstone)
 * under the client key, supersedes the field's current heads, applies. */
int veld__op_write(veld_store *s, const char *kind, const uint8_t entity[VELD_ID_BYTES],
                   const uint8_t client[VELD_ID_BYTES], const char *team, const char *field,
                   const char *json_value, size_t json_len);
/* The same, superseding only the current heads written by device `only`
 * (NULL: all): a value the office forwards from a moved client replaces its
 * own earlier copies, and stands beside (a conflict) a value the new team
 * wrote meanwhile. */
int veld__op_write_over(veld_store *s, const char *kind, const uint8_t entity[VELD_ID_BYTES],
                        const uint8_t client[VELD_ID_BYTES], const char *team, const char *field,
                        const char *json_value, size_t json_len, const uint8_t *only);

/* Sign the batch of own operations written in this transaction (commit).
 * A batch has the version of its operations: a version 2 batch holds only
 * version 2 operations, and says so in what it signs ("veld-batch-v2"), so a
 * reader knows every operation of it can be checked as a stub.
 * veld__batch_digest builds the 77-byte signed message of a batch. */
int veld__batch_sign(veld_store *s);
/* The same message from the hash of the hashes (`inner`), for a caller that
 * hashes a batch's operation hashes as it reads them. */
void veld__batch_message(uint8_t msg[77], uint32_t version, const uint8_t device[VELD_ID_BYTES],
                         uint64_t first, uint64_t last, const uint8_t inner[32]);
int veld__batch_digest(uint8_t out[77], uint32_t version, const uint8_t device[VELD_ID_BYTES],
                       uint64_t first, uint64_t last, const uint8_t *hashes, size_t nhashes);

#endif
