/* op.c - operations: canonical encoding, hashing, sealing, local writes
 * and batch signatures.
 *
 * A local write reads the field's current heads, supersedes all of them,
 * and hands the new operation to the merge (merge.c explains the rule in
 * one paragraph), so a device's own writes follow the same rule as the
 * operations it receives. */
#include "op.h"
#include "error.h"
#include "hlc.h"

#include <stdlib.h>
#include <string.h>

enum op_stmt { OS_FIELD_HEADS, OS_BATCH_INSERT };
static const char *const op_sql[] = {
	[OS_FIELD_HEADS] = "SELECT device, seq FROM ops WHERE entity = ?1 AND field = ?2"
	                   " AND head = 1",
	[OS_BATCH_INSERT] = "INSERT INTO batches(device, first_seq, last_seq, sig, ver)"
	                    " VALUES(?1, ?2, ?3, ?4, ?5)",
};
static const struct veld__sqltab op_tab = VELD_SQLTAB(VELD_SQL_OP, op_sql);

static void pack_ref_list(msgpack_packer *pk, const veld__op *op)
{
	msgpack_pack_array(pk, op->nsup);
	for (size_t i = 0; i < op->nsup; i++) {
		msgpack_pack_array(pk, 2);
		msgpack_pack_bin(pk, VELD_ID_BYTES);
		msgpack_pack_bin_body(pk, op->sup[i].device, VELD_ID_BYTES);
		msgpack_pack_uint64(pk, op->sup[i].seq);
	}
}

int veld__op_pack(msgpack_packer *pk, const veld__op *op)
{
	size_t kl = strlen(op->kind), tl = strlen(op->team), fl = strlen(op->field);
	msgpack_pack_array(pk, 12);
	msgpack_pack_uint64(pk, op->version);
	msgpack_pack_bin(pk, VELD_ID_BYTES);
	msgpack_pack_bin_body(pk, op->device, VELD_ID_BYTES);
	msgpack_pack_uint64(pk, op->seq);
	msgpack_pack_uint64(pk, op->hlc);
	msgpack_pack_str(pk, kl);
	msgpack_pack_str_body(pk, op->kind, kl);
	msgpack_pack_bin(pk, VELD_ID_BYTES);
	msgpack_pack_bin_body(pk, op->entity, VELD_ID_BYTES);
	msgpack_pack_bin(pk, VELD_ID_BYTES);
	msgpack_pack_bin_body(pk, op->client, VELD_ID_BYTES);
	msgpack_pack_str(pk, tl);
	msgpack_pack_str_body(pk, op->team, tl);
	msgpack_pack_uint64(pk, op->kv);
	msgpack_pack_str(pk, fl);
	msgpack_pack_str_body(pk, op->field, fl);
	if (op->value) {
		msgpack_pack_bin(pk, op->value_len);
		msgpack_pack_bin_body(pk, op->value, op->value_len);
	} else {
		msgpack_pack_nil(pk);
	}
	pack_ref_list(pk, op);
	return VELD_OK;
}

/* A packer that feeds BLAKE2b directly: hashing never allocates. */
static int hash_write(void *data, const char *buf, size_t len)
{
	crypto_generichash_update((crypto_generichash_state *)data, (const uint8_t *)buf, len);
	return 0;
}

/* A version 2 hash has three layers, so an operation can be checked from
 * what a device may see of it (a stub, docs/protocol.md section 2):
 *   rh   = H(canonical [2, device, seq, hlc, entity, kv, H(value) or nil,
 *            supersedes])
 *   kh   = H(u8 len(kind) || kind || u8 len(field) || field || rh)
 *   hash = H("veld-op-v2" || u8 len(team) || team || client || kh) */
void veld__op_rest_hash(const veld__op *op, const uint8_t *vh, uint8_t rh[VELD_HASH_BYTES])
{
	crypto_generichash_state h;
	msgpack_packer pk;
	crypto_generichash_init(&h, NULL, 0, VELD_HASH_BYTES);
	msgpack_packer_init(&pk, &h, hash_write);
	msgpack_pack_array(&pk, 8);
	msgpack_pack_uint64(&pk, 2);
	msgpack_pack_bin(&pk, VELD_ID_BYTES);
	msgpack_pack_bin_body(&pk, op->device, VELD_ID_BYTES);
	msgpack_pack_uint64(&pk, op->seq);
	msgpack_pack_uint64(&pk, op->hlc);
	msgpack_pack_bin(&pk, VELD_ID_BYTES);
	msgpack_pack_bin_body(&pk, op->entity, VELD_ID_BYTES);
	msgpack_pack_uint64(&pk, op->kv);
	if (vh) {
		msgpack_pack_bin(&pk, VELD_HASH_BYTES);
		msgpack_pack_bin_body(&pk, vh, VELD_HASH_BYTES);
	} else {
		msgpack_pack_nil(&pk);
	}
	pack_ref_list(&pk, op);
	crypto_generichash_final(&h, rh, VELD_HASH_BYTES);
}

/* u8 len(s) || s into the hash; names are at most 64 bytes. */
static void hash_name(crypto_generichash_state *h, const char *s)
{
	uint8_t n = (uint8_t)strlen(s);
	crypto_generichash_update(h, &n, 1);
	crypto_generichash_update(h, (const uint8_t *)s, n);
}

void veld__op_kind_hash(const char *kind, const char *field, const uint8_t rh[VELD_HASH_BYTES],
                        uint8_t kh[VELD_HASH_BYTES])
{
	crypto_generichash_state h;
	crypto_generichash_init(&h, NULL, 0, VELD_HASH_BYTES);
	hash_name(&h, kind);
	hash_name(&h, field);
	crypto_generichash_update(&h, rh, VELD_HASH_BYTES);
	crypto_generichash_final(&h, kh, VELD_HASH_BYTES);
}

void veld__op_hash2(const char *team, const uint8_t client[VELD_ID_BYTES],
                    const uint8_t kh[VELD_HASH_BYTES], uint8_t out[VELD_HASH_BYTES])
{
	crypto_generichash_state h;
	crypto_generichash_init(&h, NULL, 0, VELD_HASH_BYTES);
	crypto_generichash_update(&h, (const uint8_t *)"veld-op-v2", 10);
	hash_name(&h, team);
	crypto_generichash_update(&h, client, VELD_ID_BYTES);
	crypto_generichash_update(&h, kh, VELD_HASH_BYTES);
	crypto_generichash_final(&h, out, VELD_HASH_BYTES);
}

void veld__own_run_digest(const uint8_t *hashes, size_t n, uint8_t d[VELD_HASH_BYTES])
{
	crypto_generichash_state h;
	crypto_generichash_init(&h, NULL, 0, VELD_HASH_BYTES);
	crypto_generichash_update(&h, (const uint8_t *)"veld-own-run", 12);
	crypto_generichash_update(&h, hashes, n * VELD_HASH_BYTES);
	crypto_generichash_final(&h, d, VELD_HASH_BYTES);
}

void veld__op_layers(const veld__op *op, uint8_t rh[VELD_HASH_BYTES], uint8_t kh[VELD_HASH_BYTES])
{
	uint8_t vh[VELD_HASH_BYTES];
	if (op->value)
		crypto_generichash(vh, sizeof vh, op->value, op->value_len, NULL, 0);
	veld__op_rest_hash(op, op->value ? vh : NULL, rh);
	veld__op_kind_hash(op->kind, op->field, rh, kh);
}

void veld__op_hash(veld__op *op)
{
	crypto_generichash_state h;
	msgpack_packer pk;
	uint8_t rh[VELD_HASH_BYTES], kh[VELD_HASH_BYTES];
	if (op->version >= 2) {
		veld__op_layers(op, rh, kh);
		veld__op_hash2(op->team, op->client, kh, op->hash);
		return;
	}
	crypto_generichash_init(&h, NULL, 0, VELD_HASH_BYTES);
	msgpack_packer_init(&pk, &h, hash_write);
	veld__op_pack(&pk, op);
	crypto_generichash_final(&h, op->hash, VELD_HASH_BYTES);
}


size_t veld__sup_encode(uint8_t *out, const veld__ref *sup, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		memcpy(out + 24 * i, sup[i].device, VELD_ID_BYTES);
		veld__be64_put(out + 24 * i + 16, sup[i].seq);
	}
	return 24 * n;
}

int veld__sup_decode(veld__ref *out, size_t cap, const uint8_t *b, size_t len, size_t *n)
{
	if (len % 24 != 0 || len / 24 > cap)
		return veld__err(VELD_ECORRUPT, "a stored supersedes list is malformed");
	*n = len / 24;
	for (size_t i = 0; i < *n; i++) {
		memcpy(out[i].device, b + 24 * i, VELD_ID_BYTES);
		out[i].seq = veld__be64_get(b + 24 * i + 16);
	}
	return VELD_OK;
}

size_t veld__value_ad(uint8_t *ad, const uint8_t entity[VELD_ID_BYTES], const char *field,
                      const uint8_t device[VELD_ID_BYTES], uint64_t seq)
{
	size_t fl = strlen(field), n = 0;
	memcpy(ad, "veld-val-v1", 11);
	n += 11;
	memcpy(ad + n, entity, VELD_ID_BYTES);
	n += VELD_ID_BYTES;
	memcpy(ad + n, field, fl + 1); /* with its NUL: no field is a prefix of another */
	n += fl + 1;
	memcpy(ad + n, device, VELD_ID_BYTES);
	n += VELD_ID_BYTES;
	veld__be64_put(ad + n, seq);
	return n + 8;
}

/* Seal into `buf` if it fits, else into a new allocation. The padded
 * plaintext passes through the same buffer and is wiped. */
static uint8_t *seal_into(uint8_t *buf, size_t cap_buf, const char *json, size_t json_len,
                          const uint8_t entity[VELD_ID_BYTES], const char *field,
                          const uint8_t device[VELD_ID_BYTES], uint64_t seq, const uint8_t key[32],
                          const uint8_t *nonce, size_t *len)
{
	size_t padded, cap = (json_len / VELD_PAD_BLOCK + 1) * VELD_PAD_BLOCK;
	uint8_t ad[128], *out = cap * 2 + VELD_SEAL_OVERHEAD <= cap_buf ? buf
	                        : malloc(cap * 2 + VELD_SEAL_OVERHEAD);
	if (!out)
		return NULL;
	memcpy(out, json, json_len);
	sodium_pad(&padded, out, json_len, VELD_PAD_BLOCK, cap);
	if (nonce)
		veld__seal_nonce(out + cap, nonce, out, padded, ad,
		                 veld__value_ad(ad, entity, field, device, seq), key);
	else
		veld__seal(out + cap, out, padded, ad, veld__value_ad(ad, entity, field, device, seq), key);
	sodium_memzero(out, cap);
	*len = padded + VELD_SEAL_OVERHEAD;
	memmove(out, out + cap, *len);
	return out;
}

int veld__value_open(const uint8_t *ct, size_t ctlen, const uint8_t entity[VELD_ID_BYTES],
                     const char *field, const uint8_t device[VELD_ID_BYTES], uint64_t seq,
                     const uint8_t key[32], json_t **out, const char **why)
{
	uint8_t ad[128], buf[1024], *pt;
	size_t n, unpadded = 0;
	json_error_t jerr;
	*out = NULL;
	*why = NULL;
	if (ctlen < VELD_SEAL_OVERHEAD + VELD_PAD_BLOCK || ctlen > VELD_SEALED_VALUE_MAX ||
	    (ctlen - VELD_SEAL_OVERHEAD) % VELD_PAD_BLOCK != 0)
		*why = "has a sealed value of a bad size";
	if (*why)
		return VELD_ECORRUPT;
	n = ctlen - VELD_SEAL_OVERHEAD;
	if (!(pt = n <= sizeof buf ? buf : malloc(n)))
		return veld__err(VELD_ENOMEM, "out of memory");
	if (veld__open(pt, ct, ctlen, ad, veld__value_ad(ad, entity, field, device, seq), key) != 0)
		*why = "failed authentication (tampered or moved)";
	else if (sodium_unpad(&unpadded, pt, n, VELD_PAD_BLOCK) != 0 || unpadded > VELD_VALUE_MAX)
		*why = "has bad padding";
	else if (!(*out = json_loadb((const char *)pt, unpadded,
	                             JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr)))
		*why = "holds invalid JSON";
	sodium_memzero(pt, n);
	if (pt != buf)
		free(pt);
	return *why ? VELD_ECORRUPT : VELD_OK;
}

uint8_t *veld__seal_value(const char *json, size_t json_len, const uint8_t entity[VELD_ID_BYTES],
                          const char *field, const uint8_t device[VELD_ID_BYTES], uint64_t seq,
                          const uint8_t key[32], size_t *len)
{
	return seal_into(NULL, 0, json, json_len, entity, field, device, seq, key, NULL, len);
}

/* The current heads of a field, which a new write supersedes. */
static int field_heads(veld_store *s, const uint8_t entity[VELD_ID_BYTES], const char *field,
                       const uint8_t *only, veld__ref sup[VELD_OP_MAX_SUPERSEDES], size_t *nsup)
{
	sqlite3_stmt *st;
	int rc = veld__sql(s, &op_tab, OS_FIELD_HEADS, &st);
	if (rc != VELD_OK)
		return rc;
	sqlite3_bind_blob(st, 1, entity, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, field, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (only && memcmp(sqlite3_column_blob(st, 0), only, VELD_ID_BYTES) != 0)
			continue;
		if (*nsup == VELD_OP_MAX_SUPERSEDES) {
			sqlite3_reset(st);
			return veld__err(VELD_EINVAL, "field '%s' has too many concurrent values", field);
		}
		memcpy(sup[*nsup].device, sqlite3_column_blob(st, 0), VELD_ID_BYTES);
		sup[(*nsup)++].seq = (uint64_t)sqlite3_column_int64(st, 1);
	}
	return veld__sql_done(st, rc, "reading the operation log");
}

int veld__op_write(veld_store *s, const char *kind, const uint8_t entity[VELD_ID_BYTES],
                   const uint8_t client[VELD_ID_BYTES], const char *team, const char *field,
                   const char *json_value, size_t json_len)
{
	return veld__op_write_over(s, kind, entity, client, team, field, json_value, json_len, NULL);
}

int veld__op_write_over(veld_store *s, const char *kind, const uint8_t entity[VELD_ID_BYTES],
                        const uint8_t client[VELD_ID_BYTES], const char *team, const char *field,
                        const char *json_value, size_t json_len, const uint8_t *only)
{
	veld__op op;
	veld__ref sup[VELD_OP_MAX_SUPERSEDES];
	uint8_t stackbuf[1024], supbuf[24 * VELD_OP_MAX_SUPERSEDES], nonce[24], *sealed = NULL;
	const uint8_t *key;
	size_t nsup = 0;
	int rc, applied;
	/* A record created in this transaction by this device has no other
	 * operations anywhere yet: nothing to supersede, nothing to check. */
	int fresh = s->fresh && memcmp(entity, s->fresh_entity, VELD_ID_BYTES) == 0;

	if (strlen(field) > VELD_FIELD_MAX || strlen(kind) > VELD_KIND_MAX ||
	    strlen(team) > VELD_TEAM_MAX)
		return veld__err(VELD_EINVAL, "field, kind or team name too long");
	if (json_value && json_len > VELD_VALUE_MAX)
		return veld__err(VELD_EINVAL, "the value of field '%s' exceeds %d bytes", field,
		                 VELD_VALUE_MAX);

	/* The new value supersedes every current head of the field. */
	if (!fresh && (rc = field_heads(s, entity, field, only, sup, &nsup)) != VELD_OK)
		return rc;

	memset(&op, 0, sizeof op);
	op.version = VELD_OP_VERSION;
	memcpy(op.device, s->device, VELD_ID_BYTES);
	op.seq = s->next_seq;
	op.hlc = s->hlc = veld__hlc_tick(s->hlc, veld__hlc_now_ms());
	snprintf(op.kind, sizeof op.kind, "%s", kind);
	memcpy(op.entity, entity, VELD_ID_BYTES);
	memcpy(op.client, client, VELD_ID_BYTES);
	snprintf(op.team, sizeof op.team, "%s", team);
	snprintf(op.field, sizeof op.field, "%s", field);
	op.sup = sup;
	op.nsup = nsup;
	op.kv = 1;

	if (json_value) {
		if ((rc = veld__client_key_current(s, client, &op.kv, &key)) != VELD_OK)
			return rc;
		veld__nonce_next(s, nonce);
		if (!(sealed = seal_into(stackbuf, sizeof stackbuf, json_value, json_len, entity, field,
		                         s->device, op.seq, key, nonce, &op.value_len)))
			return veld__err(VELD_ENOMEM, "out of memory");
		op.value = sealed;
	}
	veld__op_hash(&op);
	rc = fresh ? veld__merge_insert(&s->m, &op, 1, supbuf, &applied)
	           : veld__merge_apply(&s->m, &op, &applied);
	if (sealed != stackbuf)
		free(sealed);
	if (rc == VELD_OK && fresh && !applied) /* the insert found the seq taken */
		rc = veld__err(VELD_ECORRUPT, "this device's next sequence number %llu is taken",
		               (unsigned long long)op.seq);
	if (rc != VELD_OK)
		return rc;

	if (!s->batch_first) {
		s->batch_first = op.seq;
		crypto_generichash_init(&s->batch_hash, NULL, 0, VELD_HASH_BYTES);
	}
	crypto_generichash_update(&s->batch_hash, op.hash, VELD_HASH_BYTES);
	s->batch_last = op.seq;
	s->next_seq++;
	return VELD_OK;
}

/* The signed message of a batch: "veld-batch-v1" (or "-v2" for a version 2
 * batch) || device || first (BE) || last (BE) || BLAKE2b-256(hash_first ||
 * ... || hash_last). 77 bytes. */
void veld__batch_message(uint8_t msg[77], uint32_t version, const uint8_t device[VELD_ID_BYTES],
                         uint64_t first, uint64_t last, const uint8_t inner[32])
{
	memcpy(msg, version >= 2 ? "veld-batch-v2" : "veld-batch-v1", 13);
	memcpy(msg + 13, device, VELD_ID_BYTES);
	veld__be64_put(msg + 29, first);
	veld__be64_put(msg + 37, last);
	memcpy(msg + 45, inner, 32);
}

int veld__batch_digest(uint8_t out[77], uint32_t version, const uint8_t device[VELD_ID_BYTES],
                       uint64_t first, uint64_t last, const uint8_t *hashes, size_t nhashes)
{
	uint8_t inner[32];
	crypto_generichash(inner, 32, hashes, nhashes * VELD_HASH_BYTES, NULL, 0);
	veld__batch_message(out, version, device, first, last, inner);
	return VELD_OK;
}

int veld__batch_sign(veld_store *s)
{
	uint8_t inner[32], msg[77], sig[crypto_sign_BYTES];
	sqlite3_stmt *st;
	int rc = veld__sql(s, &op_tab, OS_BATCH_INSERT, &st);
	if (rc != VELD_OK)
		return rc;
	crypto_generichash_final(&s->batch_hash, inner, VELD_HASH_BYTES);
	veld__batch_message(msg, VELD_OP_VERSION, s->device, s->batch_first, s->batch_last, inner);
	crypto_sign_detached(sig, NULL, msg, sizeof msg, s->sign_sk);
	sqlite3_bind_blob(st, 1, s->device, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)s->batch_first);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)s->batch_last);
	sqlite3_bind_blob(st, 4, sig, sizeof sig, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, VELD_OP_VERSION);
	return veld__sql_run(st, "signing the operations");
}
