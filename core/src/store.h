/* store.h - the device store's private state, shared by core/src (private).
 *
 * Every public entry point takes the store mutex, clears the thread's error,
 * and runs its writes inside one SQLite transaction (veld__tx_*). */
#ifndef VELD_STORE_H
#define VELD_STORE_H

#include "veld.h"
#include "crypto.h"
#include "merge.h"

#include <pthread.h>
#include <stdatomic.h>
#include <jansson.h>
#include <sqlite3.h>
#include <sodium.h>

#define VELD_TEAM_MAX 64
#define VELD_FIELD_MAX 64
#define VELD_KIND_MAX 16
#define VELD_USER_MAX 64

/* Each module of the store keeps its SQL in one table of named statements
 * (a static array of SQL indexed by the module's own enum) and asks for a
 * statement with veld__sql: prepared on first use, kept for the life of the
 * connection, finalized when the store closes. One slot per module here. */
enum veld__sqlmod {
	VELD_SQL_STORE, VELD_SQL_OP, VELD_SQL_KINDS, VELD_SQL_RECORDS, VELD_SQL_RECBUILD,
	VELD_SQL_LISTING, VELD_SQL_EXPORT, VELD_SQL_AUDIT, VELD_SQL_POLICY, VELD_SQL_KEYS,
	VELD_SQL_RETENTION, VELD_SQL_VERIFY, VELD_SQL_SYNC, VELD_SQL_TRUST, VELD_SQL_SCHEMA,
	VELD_SQL_PROGRESS, VELD_SQL_MOVE, VELD_SQL_DUE, VELD_SQL_REPORT,
	VELD_SQL__COUNT
};
struct veld__sqltab {
	enum veld__sqlmod mod;
	int n;                  /* statements in sql[] */
	const char *const *sql; /* indexed by the module's enum */
};
/* A module's table, from its array of SQL: VELD_SQLTAB(VELD_SQL_X, x_sql). */
#define VELD_SQLTAB(mod, sql) {(mod), (int)(sizeof(sql) / sizeof *(sql)), (sql)}

/* A cached, unwrapped client data key (one version). The table lives in
 * guarded memory. */
struct veld__keyslot {
	uint8_t client[VELD_ID_BYTES];
	uint64_t kv;
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
	/* The sync calls running on this handle and their cancel flag
	 * (veld_sync_cancel), under their own small lock: a cancel must not
	 * wait for a long call holding `mu`. */
	pthread_mutex_t cancel_mu;
	unsigned cancel_users;
	atomic_int cancel_flag;
	sqlite3 *db;
	sqlite3_stmt **modst[VELD_SQL__COUNT]; /* per module, see veld__sql */
	int modst_n[VELD_SQL__COUNT];
	char *dir;

	/* Keys: NULL while locked. All in sodium_malloc'd memory. */
	uint8_t *master;  /* 32: device master key */
	uint8_t *sign_sk; /* 64: Ed25519 secret key */
	uint8_t *audit_key; /* 32: keyed hash for the access-log chain */
	uint8_t *box_sk;  /* 32: X25519 secret key (key envelopes) */
	struct veld__keyslot *keys; /* open-addressed cache of client keys */
	size_t keys_cap, keys_used;

	uint8_t device[VELD_ID_BYTES];
	uint8_t sign_pk[32];
	uint8_t box_pk[32];
	char team[VELD_TEAM_MAX + 1];
	char user[VELD_USER_MAX + 1];
	char role[VELD_USER_MAX + 1];
	int office; /* an office store (meta device_role): reads every team */
	/* The record schema in force (kinds.h), and the one before it while
	 * a transaction that adopted a new one is open (a rollback restores
	 * it). */
	struct veld__schema *schema, *schema_prev;
	int schema_depth; /* the transaction level that adopted it */
	/* The team field policy this store follows (policy.h), cached. */
	uint32_t policy_mask;
	int policy_cached;

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
	int64_t data_version; /* SQLite's, when the above was last read */
	uint64_t next_seq; /* next own sequence number */

	/* The open transaction and the batch of own operations it writes. */
	int tx_depth;
	struct veld__tx user_tx; /* veld_store_begin's outer transaction */
	int user_tx_open;        /* ... is open, for user_tx_owner's calls only */
	pthread_t user_tx_owner;
	pthread_cond_t user_tx_done; /* signalled when it ends */
	/* The merge rule's statements on this database. */
	struct veld__merge m;
	/* The record created by the current write (see veld__op_write). */
	uint8_t fresh_entity[VELD_ID_BYTES];
	int fresh;
	/* Nonces: a random prefix per session and a counter (see nonce_next). */
	uint8_t nonce_prefix[16];
	uint64_t nonce_ctr;
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

/* End a transaction the way a call's result says: commit if rc is VELD_OK
 * (and return what the commit returns), otherwise roll back and return rc
 * with its message. */
int veld__tx_end(veld_store *s, struct veld__tx *tx, int rc);

/* Statement `i` of a module's table, prepared on first use. The caller
 * binds, steps and finishes with sqlite3_reset (bindings are cleared by the
 * next veld__sql). VELD_OK or an error with a message. */
int veld__sql(veld_store *s, const struct veld__sqltab *t, int i, sqlite3_stmt **out);
/* Step a statement once for its effect (a row it answers is not read) and
 * reset it: VELD_OK or the SQLite error as a veld code, with `what` in its
 * message. */
int veld__sql_run(sqlite3_stmt *st, const char *what);
/* Step a statement that answers one row and read its first column as a
 * number (NULL reads as 0); reset it. */
int veld__sql_int64(sqlite3_stmt *st, int64_t *out, const char *what);
/* Step an existence query and reset it: 1 if it found a row, 0 if not, or
 * a negative VELD_E* code. */
int veld__sql_exists(sqlite3_stmt *st, const char *what);
/* Column i of the current row as text into out (cap bytes, cut to fit;
 * "" for NULL). */
void veld__sql_text(sqlite3_stmt *st, int i, char *out, size_t cap);
/* The end of a step loop: VELD_OK if the last step was SQLITE_DONE,
 * otherwise that step's error. Resets the statement either way, so a loop
 * never loses the error that ended it. */
int veld__sql_done(sqlite3_stmt *st, int step_rc, const char *what);

/* JSON answers and inputs of the API. The answer is compact JSON the
 * caller releases with veld_free; VELD_ENOMEM if it cannot be made. */
int veld__json_answer(json_t *v, char **json_out);
/* A record's fields (or a list's filter): `text` as a JSON object without
 * duplicate keys, or VELD_EINVAL. */
int veld__json_object(const char *text, json_t **out);

/* Lock/unlock around every public call; check the store is unlocked. */
int veld__enter(veld_store *s);
void veld__leave(veld_store *s);
int veld__need_keys(veld_store *s);
/* veld__enter for a call that answers in *json_out: also checks json_out,
 * clears it and (with keys) that the store is unlocked. On failure the
 * store is left unlocked (not entered). */
int veld__enter_json(veld_store *s, char **json_out, int keys);

/* What a sync's summary and veld info report for a person to look at:
 * fields in conflict, items waiting (operations and envelopes), items in
 * quarantine. Takes the store. */
struct veld__tallies {
	int64_t conflicts;
	uint64_t pending, quarantined;
};
int veld__store_tallies(veld_store *s, struct veld__tallies *t);

/* Meta table. */
int veld__meta_put(veld_store *s, const char *key, const void *v, size_t n);
/* 64-bit numbers in meta, stored big-endian (VELD_ENOTFOUND if absent). */
int veld__meta_get_u64(veld_store *s, const char *key, uint64_t *out);
int veld__meta_put_u64(veld_store *s, const char *key, uint64_t v);
/* Copies up to cap bytes; *n gets the stored size. VELD_ENOTFOUND if absent. */
int veld__meta_get(veld_store *s, const char *key, void *v, size_t cap, size_t *n);

/* Client data keys, by version (kv). _new makes version 1 of a new
 * client's key; _put stores a received or rotated version: the same key for
 * a version held is VELD_OK, another one VELD_EEXISTS (nothing replaced),
 * and an erased client's VELD_ESHREDDED. */
int veld__client_key_new(veld_store *s, const uint8_t client[VELD_ID_BYTES], const char *team,
                         const uint8_t **key_out);
int veld__client_key_put(veld_store *s, const uint8_t client[VELD_ID_BYTES], uint64_t kv,
                         const char *team, const uint8_t key[32]);
int veld__client_key(veld_store *s, const uint8_t client[VELD_ID_BYTES], uint64_t kv,
                     const uint8_t **key_out);
/* The newest version this store holds, used for new writes. */
int veld__client_key_current(veld_store *s, const uint8_t client[VELD_ID_BYTES], uint64_t *kv,
                             const uint8_t **key_out);
void veld__keycache_drop(veld_store *s, const uint8_t client[VELD_ID_BYTES]);
/* A fresh, never repeated 24-byte nonce: session prefix || counter. */
void veld__nonce_next(veld_store *s, uint8_t nonce[24]);
void veld__keycache_clear(veld_store *s);

/* Team keys and key envelopes (keys.c). A team key's secret half is
 * wrapped under the master key; tv 0 asks for the newest version. */
int veld__team_key_put(veld_store *s, const char *team, uint64_t tv, const uint8_t pk[32],
                       const uint8_t sk[32]);
/* sk may be NULL (public half only); it must hold 32 bytes of guarded memory. */
int veld__team_key_get(veld_store *s, const char *team, uint64_t *tv, uint8_t pk[32], uint8_t *sk);
/* Seal a client key version to the client's team (newest team key) and to
 * the office, as envelopes in the outbox. Recipients whose key this store
 * does not know yet are skipped. */
int veld__keys_share(veld_store *s, const uint8_t client[VELD_ID_BYTES], uint64_t kv,
                     const char *team, const uint8_t key[32]);

/* A user, role or team name: 1 to max letters, digits, '-', '_', '.' or
 * '@'. */
int veld__label_valid(const char *v, size_t max);

/* Migrations (schema.c). */
#define VELD_SCHEMA_VERSION 10
int veld__schema_migrate(sqlite3 *db);

/* Access log (audit.c): append an entry in the current transaction. A
 * purpose is logged up to its first VELD_PURPOSE_MAX bytes (cut at a
 * character boundary), so every entry fits the sync protocol's limit. */
#define VELD_PURPOSE_MAX 1000
struct msgpack_packer;
/* Copy a purpose into out, cut to VELD_PURPOSE_MAX bytes at a character
 * boundary; NULL or "" becomes "care". Returns out. */
const char *veld__purpose_cut(char out[VELD_PURPOSE_MAX + 1], const char *purpose);
/* An entry as the msgpack array of 9 elements the chain hashes and sync
 * seals for the office: [seq, at, event, outcome, client|nil, user, role,
 * device, purpose] (docs/protocol.md, POST /v1/audit). */
void veld__audit_pack(struct msgpack_packer *pk, uint64_t seq, uint64_t at, const char *event,
                      const char *outcome, const char *client, const char *user,
                      const char *role, const char *device, const char *purpose);
int veld__audit(veld_store *s, const char *event, const char *outcome,
                const uint8_t *client /* may be NULL */, const char *purpose);
int veld__audit_load_head(veld_store *s);
/* Verify the chain and its head (store mutex held). */
int veld__audit_verify(veld_store *s, uint64_t *entries_out);
/* Record the log's head (seq, hash) with a MAC under the audit key. */
int veld__audit_save_head(veld_store *s);

/* Every access-log entry about `client` (32 hex digits) this store holds:
 * its own log and, in the office's store, every device's (office_audit),
 * appended to `arr` oldest first as the objects veld_office_log returns.
 * Store mutex held. */
int veld__audit_about(veld_store *s, const char *client, json_t *arr);

/* "2026-11-22T09:30:00.123Z" from milliseconds since the epoch. */
void veld__iso8601(char buf[32], uint64_t ms);

#endif
