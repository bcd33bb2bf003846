/* store.h - the device store's private state, shared by core/src (private).
 *
 * Every public entry point takes the store mutex, clears the thread's error,
 * and runs its writes inside one SQLite transaction (veld__tx_*). */
#ifndef VELD_STORE_H
#define VELD_STORE_H

#include "veld.h"
#include "crypto.h"

#include <pthread.h>
#include <sqlite3.h>
#include <sodium.h>

#define VELD_TEAM_MAX 64
#define VELD_FIELD_MAX 64
#define VELD_KIND_MAX 16
#define VELD_USER_MAX 64

/* Named statements, prepared once per connection (see the SQL in store.c). */
enum veld__stmt {
	ST_META_GET, ST_META_PUT,
	ST_OP_GET_HASH, ST_OP_INSERT, ST_SUP_CHECK, ST_SUP_INSERT, ST_OP_UNHEAD,
	ST_ENTITY_UPSERT, ST_ENTITY_GET, ST_HEADS, ST_FIELD_HEADS,
	ST_KEY_GET, ST_KEY_PUT, ST_ERASED_CHECK,
	ST_BATCH_INSERT, ST_AUDIT_INSERT, ST_DOMAIN_CHECK,
	ST__COUNT
};

/* A cached, unwrapped client data key. The table lives in guarded memory. */
struct veld__keyslot {
	uint8_t client[VELD_ID_BYTES];
	uint8_t key[32];
	uint8_t used;
};

struct veld__tx {
	int outer;
	uint64_t next_seq, batch_first, batch_last, audit_seq;
	uint8_t audit_head[32];
	crypto_generichash_state batch_hash;
};

struct veld_store {
	pthread_mutex_t mu;
	sqlite3 *db;
	sqlite3_stmt *st[ST__COUNT];
	char *dir;

	/* Keys: NULL while locked. All in sodium_malloc'd memory. */
	uint8_t *master;  /* 32: device master key */
	uint8_t *sign_sk; /* 64: Ed25519 secret key */
	uint8_t *audit_key; /* 32: keyed hash for the access-log chain */
	struct veld__keyslot *keys; /* open-addressed cache of client keys */
	size_t keys_cap, keys_used;

	uint8_t device[VELD_ID_BYTES];
	uint8_t sign_pk[32];
	char team[VELD_TEAM_MAX + 1];
	char user[VELD_USER_MAX + 1];
	char role[VELD_USER_MAX + 1];
	int office; /* an office store (meta device_role): reads every team */

	/* A refused or failed access, logged after the call's transaction
	 * rolls back (NEN 7513 logs attempts, not only successes). */
	struct {
		int pending;
		char event[24];
		char outcome[12];
		uint8_t client[VELD_ID_BYTES];
		int has_client;
		const char *purpose;
	} refusal;

	uint64_t hlc;      /* last stamp issued or seen */
	uint64_t next_seq; /* next own sequence number */

	/* The open transaction and the batch of own operations it writes. */
	int tx_depth;
	struct veld__tx user_tx; /* veld_store_begin's outer transaction */
	/* The last entity checked by op_apply (most writes hit one entity). */
	uint8_t last_entity[VELD_ID_BYTES];
	int last_entity_ok;
	uint64_t batch_first, batch_last;
	crypto_generichash_state batch_hash;
	uint64_t audit_seq;        /* last access-log entry */
	uint8_t audit_head[32];    /* its chain hash */
};

/* Transactions. The outermost begin starts an SQLite transaction, inner ones
 * a savepoint, so a failed write rolls back only itself (and the in-memory
 * counters it advanced, kept in `tx`). The outermost commit signs the batch
 * of own operations and records the access-log head. */
int veld__tx_begin(veld_store *s, struct veld__tx *tx);
int veld__tx_commit(veld_store *s, struct veld__tx *tx);
void veld__tx_abort(veld_store *s, struct veld__tx *tx);

/* Lock/unlock around every public call; check the store is unlocked. */
int veld__enter(veld_store *s);
void veld__leave(veld_store *s);
int veld__need_keys(veld_store *s);

/* Meta table. */
int veld__meta_put(veld_store *s, const char *key, const void *v, size_t n);
/* Copies up to cap bytes; *n gets the stored size. VELD_ENOTFOUND if absent. */
int veld__meta_get(veld_store *s, const char *key, void *v, size_t cap, size_t *n);

/* Client data keys. */
int veld__client_key_new(veld_store *s, const uint8_t client[VELD_ID_BYTES], const char *team,
                         const uint8_t **key_out);
int veld__client_key(veld_store *s, const uint8_t client[VELD_ID_BYTES], const uint8_t **key_out);
void veld__keycache_drop(veld_store *s, const uint8_t client[VELD_ID_BYTES]);
void veld__keycache_clear(veld_store *s);

/* Migrations (schema.c). */
#define VELD_SCHEMA_VERSION 3
int veld__schema_migrate(sqlite3 *db);

/* Access log (audit.c): append an entry in the current transaction. */
int veld__audit(veld_store *s, const char *event, const char *outcome,
                const uint8_t *client /* may be NULL */, const char *purpose);
int veld__audit_load_head(veld_store *s);
/* Verify the chain and its head (store mutex held). */
int veld__audit_verify(veld_store *s, uint64_t *entries_out);
/* Record the log's head (seq, hash) with a MAC under the audit key. */
int veld__audit_save_head(veld_store *s);

/* "2026-11-22T09:30:00.123Z" from milliseconds since the epoch. */
void veld__iso8601(char buf[32], uint64_t ms);

#endif
