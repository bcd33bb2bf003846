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

#include <msgpack.h>

#define VELD_OP_VERSION 1
#define VELD_OP_MAX_SUPERSEDES 64
#define VELD_VALUE_MAX (64 * 1024) /* plaintext bytes of one field value */
/* Plaintext is padded (ISO/IEC 7816-4, sodium_pad) to a multiple of this
 * before sealing, so a sealed value's length does not tell which enum value,
 * domain or short text it holds. */
#define VELD_PAD_BLOCK 64
#define VELD_TOMBSTONE_FIELD "_deleted"

typedef struct veld__ref {
	uint8_t device[VELD_ID_BYTES];
	uint64_t seq;
} veld__ref;

typedef struct veld__op {
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

/* Canonical msgpack encoding of an operation (everything but its hash);
 * the hash is BLAKE2b-256 of these bytes. See docs/protocol.md. */
int veld__op_pack(msgpack_packer *pk, const veld__op *op);
void veld__op_hash(veld__op *op);
/* Encode/decode the supersedes list as stored in the ops table:
 * 24 bytes per reference (device || seq big-endian). */
size_t veld__sup_encode(uint8_t *out, const veld__ref *sup, size_t n);
int veld__sup_decode(veld__ref *out, size_t cap, const uint8_t *b, size_t len, size_t *n);

/* Additional data that binds a sealed value to its place. */
size_t veld__value_ad(uint8_t *ad, const uint8_t entity[VELD_ID_BYTES], const char *field,
                      const uint8_t device[VELD_ID_BYTES], uint64_t seq);

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

/* Sign the batch of own operations written in this transaction (commit).
 * veld__batch_digest builds the 77-byte signed message of a batch. */
int veld__batch_sign(veld_store *s);
/* The same message from the hash of the hashes (`inner`), for a caller that
 * hashes a batch's operation hashes as it reads them. */
void veld__batch_message(uint8_t msg[77], const uint8_t device[VELD_ID_BYTES], uint64_t first,
                         uint64_t last, const uint8_t inner[32]);
int veld__batch_digest(uint8_t out[77], const uint8_t device[VELD_ID_BYTES], uint64_t first,
                       uint64_t last, const uint8_t *hashes, size_t nhashes);

#endif
