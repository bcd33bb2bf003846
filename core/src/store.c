/* store.c - creating, opening, locking and closing a device store; keys;
 * transactions; the meta table and the client-key cache; the named
 * statements every module asks for (veld__sql), and the JSON in and out of
 * a call.
 *
 * Files: DIR/veld.db (SQLite, WAL). Key hierarchy (docs/security.md):
 *   passphrase --Argon2id--> KEK --unwraps--> master key (random, 32 bytes)
 *   master --unwraps--> Ed25519 signing key, client data keys
 *   master --crypto_kdf--> access-log chain key
 */
#include "store.h"
#include "kinds.h"
#include "error.h"
#include "op.h"
#include "trust.h"
#include "hlc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DB_NAME "veld.db"
#define KDF_OPS_DEFAULT 3
#define KDF_MEM_DEFAULT (64u * 1024u * 1024u)

/* The store's own SQL, one named statement each. */
enum store_stmt {
	SS_META_GET, SS_META_PUT, SS_KEY_GET, SS_KEY_LATEST, SS_KEY_PUT,
	SS_BEGIN, SS_COMMIT, SS_ROLLBACK, SS_SAVEPOINT, SS_RELEASE, SS_ROLLBACK_TO,
	SS_OWN_SEQ_MAX, SS_HLC_MAX, SS_DATA_VERSION, SS_COUNT_OPS, SS_COUNT_CLIENTS, SS_COUNT_CONFLICTS,
};
static const char *const store_sql[] = {
	[SS_META_GET] = "SELECT value FROM meta WHERE key = ?1",
	[SS_META_PUT] = "INSERT INTO meta(key, value) VALUES(?1, ?2)"
	                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
	[SS_KEY_GET] = "SELECT wrapped FROM client_keys WHERE client = ?1 AND kv = ?2",
	[SS_KEY_LATEST] = "SELECT max(kv) FROM client_keys WHERE client = ?1",
	[SS_KEY_PUT] = "INSERT OR IGNORE INTO client_keys(client, kv, team, wrapped)"
	               " VALUES(?1, ?2, ?3, ?4)",
	/* Transaction control, prepared like the rest: every write uses it. */
	[SS_BEGIN] = "BEGIN IMMEDIATE",
	[SS_COMMIT] = "COMMIT",
	[SS_ROLLBACK] = "ROLLBACK",
	[SS_SAVEPOINT] = "SAVEPOINT w",
	[SS_RELEASE] = "RELEASE w",
	[SS_ROLLBACK_TO] = "ROLLBACK TO w",
	/* The counters a store derives from its log when it opens. */
	[SS_OWN_SEQ_MAX] = "SELECT max(seq) FROM ops WHERE device = ?1",
	[SS_HLC_MAX] = "SELECT max(hlc) FROM ops",
	[SS_DATA_VERSION] = "PRAGMA data_version",
	/* veld_store_info. */
	[SS_COUNT_OPS] = "SELECT count(*) FROM ops",
	[SS_COUNT_CLIENTS] = "SELECT count(*) FROM entities WHERE kind = 'client'",
	[SS_COUNT_CONFLICTS] = "SELECT count(*) FROM conflicts",
};
static const struct veld__sqltab store_tab = VELD_SQLTAB(VELD_SQL_STORE, store_sql);

/* The store's own statements are all prepared when it opens (open_db), so
 * taking one cannot fail: a rollback never waits for memory to prepare. */
static sqlite3_stmt *own(veld_store *s, enum store_stmt i)
{
	return s->modst[VELD_SQL_STORE][i];
}

void veld_store_options_init(veld_store_options *opts)
{
	veld_store_options init = VELD_STORE_OPTIONS_INIT;
	if (opts)
		*opts = init;
}

/* ---- mutex and key checks ----------------------------------------------- */

/* The store's mutex, for this thread's call. A transaction opened with
 * veld_store_begin belongs to the thread that opened it: a call from
 * another thread waits until it is committed or rolled back, so no thread's
 * work lands in (or is rolled back with) another thread's transaction. */
int veld__enter(veld_store *s)
{
	veld__err_clear();
	if (!s)
		return veld__err(VELD_EINVAL, "no store given");
	pthread_mutex_lock(&s->mu);
	while (s->user_tx_open && !pthread_equal(s->user_tx_owner, pthread_self()))
		pthread_cond_wait(&s->user_tx_done, &s->mu);
	return VELD_OK;
}

/* The mutex whoever holds the open transaction: locking must not wait
 * for a bulk import to finish (it rolls it back). */
static void enter_any(veld_store *s)
{
	veld__err_clear();
	pthread_mutex_lock(&s->mu);
}

static void user_tx_closed(veld_store *s)
{
	s->user_tx_open = 0;
	pthread_cond_broadcast(&s->user_tx_done);
}

void veld__leave(veld_store *s)
{
	pthread_mutex_unlock(&s->mu);
}

int veld__enter_json(veld_store *s, char **json_out, int keys)
{
	int rc = veld__enter(s);
	if (rc)
		return rc;
	if (!json_out)
		rc = veld__err(VELD_EINVAL, "json_out is required");
	else if ((*json_out = NULL), keys)
		rc = veld__need_keys(s);
	if (rc)
		veld__leave(s);
	return rc;
}

int veld__need_keys(veld_store *s)
{
	if (!s->master)
		return veld__err(VELD_ELOCKED, "the store is locked; unlock it first");
	return VELD_OK;
}

/* ---- meta ------------------------------------------------------------------ */

int veld__meta_put(veld_store *s, const char *key, const void *v, size_t n)
{
	sqlite3_stmt *st = own(s, SS_META_PUT);
	int rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, v, (int)n, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? VELD_OK : veld__err_sqlite(rc, "writing store metadata");
}

int veld__meta_get(veld_store *s, const char *key, void *v, size_t cap, size_t *n)
{
	sqlite3_stmt *st = own(s, SS_META_GET);
	int rc, ret = VELD_OK;
	if (n)
		*n = 0;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		size_t len = (size_t)sqlite3_column_bytes(st, 0);
		if (len && cap) /* an empty value has no blob pointer */
			memcpy(v, sqlite3_column_blob(st, 0), len < cap ? len : cap);
		if (n)
			*n = len;
		else if (len != cap)
			ret = veld__err(VELD_ECORRUPT, "store metadata '%s' has the wrong size", key);
	} else if (rc == SQLITE_DONE) {
		ret = veld__err(VELD_ENOTFOUND, "store metadata '%s' is missing", key);
	} else {
		ret = veld__err_sqlite(rc, "reading store metadata");
	}
	sqlite3_reset(st);
	return ret;
}

int veld__meta_get_u64(veld_store *s, const char *key, uint64_t *out)
{
	uint8_t b[8];
	int rc = veld__meta_get(s, key, b, 8, NULL);
	if (rc)
		return rc;
	*out = veld__be64_get(b);
	return VELD_OK;
}

int veld__meta_put_u64(veld_store *s, const char *key, uint64_t v)
{
	uint8_t b[8];
	veld__be64_put(b, v);
	return veld__meta_put(s, key, b, 8);
}

/* ---- transactions ----------------------------------------------------------- */

static int run(veld_store *s, enum store_stmt which)
{
	int rc = sqlite3_step(own(s, which));
	sqlite3_reset(own(s, which));
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int load_counters(veld_store *s);

/* Another process may have written to the store since this handle's last
 * transaction: the console open beside `veld office sync`, say. What the
 * handle keeps of the store in memory (its next seq, the clock, the access
 * log's head, client keys, the field policy, the record schema) is then
 * read again, so its writes follow the other's. SQLite's data_version
 * changes with other connections' commits only. Under the write lock. */
static int reload_if_others_wrote(veld_store *s)
{
	int64_t v;
	uint64_t hlc = s->hlc;
	int rc;
	if (!s->master)
		return VELD_OK; /* locked: nothing is written; read again once unlocked */
	rc = veld__sql_int64(own(s, SS_DATA_VERSION), &v, "starting a transaction");
	if (rc != VELD_OK || v == s->data_version)
		return rc;
	veld__keycache_clear(s);
	veld__merge_forget(&s->m);
	s->policy_cached = 0;
	if ((rc = load_counters(s)) != VELD_OK || (rc = veld__schema_reload(s)) != VELD_OK)
		return rc;
	if (s->hlc < hlc)
		s->hlc = hlc;
	return VELD_OK;
}

int veld__tx_begin(veld_store *s, struct veld__tx *tx)
{
	int rc;
	tx->outer = s->tx_depth == 0;
	rc = run(s, tx->outer ? SS_BEGIN : SS_SAVEPOINT);
	if (rc != SQLITE_OK)
		return veld__err_sqlite(rc, "starting a transaction");
	if (tx->outer && (rc = reload_if_others_wrote(s)) != VELD_OK) {
		run(s, SS_ROLLBACK);
		return rc;
	}
	tx->next_seq = s->next_seq;
	tx->batch_first = s->batch_first;
	tx->batch_last = s->batch_last;
	tx->batch_hash = s->batch_hash;
	tx->audit_seq = s->audit_seq;
	memcpy(tx->audit_head, s->audit_head, 32);
	if (tx->outer) {
		s->batch_first = s->batch_last = 0;
		veld__merge_tx_begin(&s->m);
	}
	s->tx_depth++;
	return VELD_OK;
}

static void tx_restore(veld_store *s, const struct veld__tx *tx)
{
	s->next_seq = tx->next_seq;
	s->batch_first = tx->batch_first;
	s->batch_last = tx->batch_last;
	s->batch_hash = tx->batch_hash;
	s->audit_seq = tx->audit_seq;
	memcpy(s->audit_head, tx->audit_head, 32);
	veld__merge_forget(&s->m);
	s->policy_cached = 0; /* a field policy stored in the rolled-back work */
	/* A record schema adopted at this level (or one nested in it, and
	 * released into it): the one before is in force again. */
	if (s->schema_prev && s->schema_depth >= s->tx_depth) {
		veld__schema_free(s->schema);
		s->schema = s->schema_prev;
		s->schema_prev = NULL;
	}
}

void veld__tx_abort(veld_store *s, struct veld__tx *tx)
{
	if (s->tx_depth <= 0)
		return;
	if (tx->outer) {
		run(s, SS_ROLLBACK);
	} else {
		run(s, SS_ROLLBACK_TO);
		run(s, SS_RELEASE);
	}
	tx_restore(s, tx);
	if (tx->outer)
		s->batch_first = s->batch_last = 0;
	s->tx_depth--;
}

int veld__tx_commit(veld_store *s, struct veld__tx *tx)
{
	int rc = VELD_OK;
	if (!tx->outer) {
		s->tx_depth--;
		if ((rc = run(s, SS_RELEASE)) != SQLITE_OK) {
			s->tx_depth++;
			veld__tx_abort(s, tx);
			return veld__err_sqlite(rc, "committing");
		}
		/* A record schema adopted in the savepoint is now the outer
		 * level's: only its rollback undoes it. */
		if (s->schema_prev && s->schema_depth > s->tx_depth)
			s->schema_depth = s->tx_depth;
		return VELD_OK;
	}
	if (s->batch_first)
		rc = veld__batch_sign(s);
	if (rc == VELD_OK && s->audit_seq != tx->audit_seq)
		rc = veld__audit_save_head(s);
	if (rc == VELD_OK) {
		int src = run(s, SS_COMMIT);
		if (src != SQLITE_OK)
			rc = veld__err_sqlite(src, "committing");
	}
	if (rc != VELD_OK) {
		veld__tx_abort(s, tx);
		return rc;
	}
	s->batch_first = s->batch_last = 0;
	veld__schema_free(s->schema_prev);
	s->schema_prev = NULL;
	s->tx_depth--;
	return VELD_OK;
}

int veld__tx_end(veld_store *s, struct veld__tx *tx, int rc)
{
	if (rc == VELD_OK)
		return veld__tx_commit(s, tx);
	veld__tx_abort(s, tx);
	return rc;
}

int veld_store_begin(veld_store *s)
{
	int rc = veld__enter(s);
	if (rc)
		return rc;
	if (s->tx_depth > 0)
		rc = veld__err(VELD_EINVAL, "a transaction is already open");
	else if ((rc = veld__need_keys(s)) == VELD_OK &&
	         (rc = veld__tx_begin(s, &s->user_tx)) == VELD_OK) {
		s->user_tx_open = 1;
		s->user_tx_owner = pthread_self();
	}
	veld__leave(s);
	return rc;
}

/* The end of veld_store_begin's transaction: a commit or a rollback. */
static int user_tx_end(veld_store *s, int commit)
{
	int rc = veld__enter(s);
	if (rc)
		return rc;
	if (s->tx_depth != 1 || !s->user_tx_open)
		rc = veld__err(VELD_EINVAL, "no transaction is open");
	else if (commit)
		rc = veld__tx_commit(s, &s->user_tx);
	else
		veld__tx_abort(s, &s->user_tx);
	/* A failed commit rolled back: either way the transaction is over. */
	if (s->tx_depth == 0 && s->user_tx_open)
		user_tx_closed(s);
	veld__leave(s);
	return rc;
}

int veld_store_commit(veld_store *s)
{
	return user_tx_end(s, 1);
}

int veld_store_rollback(veld_store *s)
{
	return user_tx_end(s, 0);
}

/* ---- client key cache (open addressing in guarded memory) -------------- */

static size_t slot_of(const uint8_t client[VELD_ID_BYTES], uint64_t kv, size_t cap)
{
	uint64_t h;
	memcpy(&h, client, sizeof h); /* ids are random: their bytes are a hash */
	return (size_t)((h + kv * 0x9E3779B97F4A7C15ull) & (cap - 1));
}

static int slot_is(const struct veld__keyslot *k, const uint8_t client[VELD_ID_BYTES], uint64_t kv)
{
	return k->kv == kv && memcmp(k->client, client, VELD_ID_BYTES) == 0;
}

static int keycache_put(veld_store *s, const uint8_t client[VELD_ID_BYTES], uint64_t kv,
                        const uint8_t key[32], const uint8_t **out)
{
	size_t i;
	if ((s->keys_used + 1) * 4 > s->keys_cap * 3) {
		size_t ncap = s->keys_cap ? s->keys_cap * 2 : 64;
		struct veld__keyslot *nk = (struct veld__keyslot *)veld__secret_new(ncap * sizeof *nk);
		if (!nk)
			return veld__err(VELD_ENOMEM, "no memory for client keys");
		for (size_t j = 0; j < s->keys_cap; j++) {
			if (!s->keys[j].used)
				continue;
			for (i = slot_of(s->keys[j].client, s->keys[j].kv, ncap); nk[i].used;
			     i = (i + 1) & (ncap - 1))
				;
			nk[i] = s->keys[j];
		}
		veld__secret_free((uint8_t *)s->keys);
		s->keys = nk;
		s->keys_cap = ncap;
	}
	for (i = slot_of(client, kv, s->keys_cap); s->keys[i].used; i = (i + 1) & (s->keys_cap - 1))
		if (slot_is(&s->keys[i], client, kv))
			break;
	if (!s->keys[i].used)
		s->keys_used++;
	memcpy(s->keys[i].client, client, VELD_ID_BYTES);
	s->keys[i].kv = kv;
	memcpy(s->keys[i].key, key, 32);
	s->keys[i].used = 1;
	*out = s->keys[i].key;
	return VELD_OK;
}

static const uint8_t *keycache_get(veld_store *s, const uint8_t client[VELD_ID_BYTES], uint64_t kv)
{
	if (!s->keys_cap)
		return NULL;
	for (size_t i = slot_of(client, kv, s->keys_cap); s->keys[i].used;
	     i = (i + 1) & (s->keys_cap - 1))
		if (slot_is(&s->keys[i], client, kv))
			return s->keys[i].key;
	return NULL;
}

void veld__keycache_clear(veld_store *s)
{
	veld__secret_free((uint8_t *)s->keys);
	s->keys = NULL;
	s->keys_cap = s->keys_used = 0;
}

void veld__keycache_drop(veld_store *s, const uint8_t client[VELD_ID_BYTES])
{
	/* Rebuild without the client: deletion in open addressing is fiddly and
	 * erasure is rare. */
	struct veld__keyslot *old = s->keys;
	size_t cap = s->keys_cap;
	const uint8_t *dummy;
	s->keys = NULL;
	s->keys_cap = s->keys_used = 0;
	for (size_t i = 0; i < cap; i++)
		if (old[i].used && memcmp(old[i].client, client, VELD_ID_BYTES) != 0)
			keycache_put(s, old[i].client, old[i].kv, old[i].key, &dummy);
	veld__secret_free((uint8_t *)old);
}

static size_t client_key_ad(uint8_t ad[40], const uint8_t client[VELD_ID_BYTES], uint64_t kv)
{
	memcpy(ad, "veld-ck-v1", 10);
	memcpy(ad + 10, client, VELD_ID_BYTES);
	veld__be64_put(ad + 26, kv);
	return 34;
}

/* Store a key version known to be new, wrapped with the master key, and
 * cache it (*cached: the cached copy). */
static int key_insert(veld_store *s, const uint8_t client[VELD_ID_BYTES], uint64_t kv,
                      const char *team, const uint8_t key[32], const uint8_t **cached)
{
	uint8_t wrapped[32 + VELD_SEAL_OVERHEAD], ad[40];
	sqlite3_stmt *st = own(s, SS_KEY_PUT);
	int rc;
	veld__seal(wrapped, key, 32, ad, client_key_ad(ad, client, kv), s->master);
	sqlite3_bind_blob(st, 1, client, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)kv);
	sqlite3_bind_text(st, 3, team, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, wrapped, sizeof wrapped, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return veld__err_sqlite(rc, "storing a client key");
	return keycache_put(s, client, kv, key, cached);
}

int veld__client_key_put(veld_store *s, const uint8_t client[VELD_ID_BYTES], uint64_t kv,
                         const char *team, const uint8_t key[32])
{
	const uint8_t *cached;
	int rc;
	/* A version held is never replaced, on disk or in memory: the same key
	 * again changes nothing, another key for it is refused. */
	if ((rc = veld__client_key(s, client, kv, &cached)) == VELD_OK) {
		if (sodium_memcmp(cached, key, 32) == 0)
			return VELD_OK;
		return veld__err(VELD_EEXISTS, "another key for a client key version held here");
	}
	if (rc != VELD_ENOTFOUND) /* an erased client gets no key back */
		return rc;
	veld__err_clear();
	return key_insert(s, client, kv, team, key, &cached);
}

int veld__client_key_new(veld_store *s, const uint8_t client[VELD_ID_BYTES], const char *team,
                         const uint8_t **key_out)
{
	uint8_t *key = veld__secret_new(32);
	int rc;
	if (!key)
		return veld__err(VELD_ENOMEM, "no memory for a key");
	crypto_aead_xchacha20poly1305_ietf_keygen(key);
	/* A new client: its first version, never held before. */
	rc = key_insert(s, client, 1, team, key, key_out);
	veld__secret_free(key);
	return rc;
}

static int no_key(veld_store *s, const uint8_t client[VELD_ID_BYTES])
{
	char hex[33];
	int erased = veld__merge_is_erased(&s->m, client);
	veld__hex(hex, client, VELD_ID_BYTES);
	if (erased < 0)
		return erased;
	if (erased)
		return veld__err(VELD_ESHREDDED, "client %s was erased; its data is unreadable", hex);
	return veld__err(VELD_ENOTFOUND, "no data key for client %s on this device (yet)", hex);
}

int veld__client_key(veld_store *s, const uint8_t client[VELD_ID_BYTES], uint64_t kv,
                     const uint8_t **key_out)
{
	sqlite3_stmt *st;
	uint8_t ad[40], *key;
	char hex[33];
	int rc;

	if ((*key_out = keycache_get(s, client, kv)) != NULL)
		return VELD_OK;
	st = own(s, SS_KEY_GET);
	sqlite3_bind_blob(st, 1, client, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)kv);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		return no_key(s, client);
	}
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return veld__err_sqlite(rc, "reading a client key");
	}
	if (!(key = veld__secret_new(32))) {
		sqlite3_reset(st);
		return veld__err(VELD_ENOMEM, "no memory for a key");
	}
	veld__hex(hex, client, VELD_ID_BYTES);
	if (sqlite3_column_bytes(st, 0) != 32 + VELD_SEAL_OVERHEAD ||
	    veld__open(key, sqlite3_column_blob(st, 0), 32 + VELD_SEAL_OVERHEAD, ad,
	               client_key_ad(ad, client, kv), s->master) != 0)
		rc = veld__err(VELD_ECORRUPT, "the data key of client %s failed authentication", hex);
	else
		rc = keycache_put(s, client, kv, key, key_out);
	sqlite3_reset(st);
	veld__secret_free(key);
	return rc;
}

int veld__client_key_current(veld_store *s, const uint8_t client[VELD_ID_BYTES], uint64_t *kv,
                             const uint8_t **key_out)
{
	sqlite3_stmt *st = own(s, SS_KEY_LATEST);
	int rc;
	sqlite3_bind_blob(st, 1, client, VELD_ID_BYTES, SQLITE_STATIC);
	rc = sqlite3_step(st);
	*kv = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return veld__err_sqlite(rc, "reading a client key");
	if (*kv == 0)
		return no_key(s, client);
	return veld__client_key(s, client, *kv, key_out);
}

void veld__nonce_next(veld_store *s, uint8_t nonce[24])
{
	/* XChaCha20's 192-bit nonce only has to be unique per key: a random
	 * 128-bit prefix per open store plus a counter is, without a system
	 * call for every value sealed. */
	uint64_t c = s->nonce_ctr++;
	memcpy(nonce, s->nonce_prefix, 16);
	for (int i = 0; i < 8; i++)
		nonce[16 + i] = (uint8_t)(c >> (8 * i));
}

/* ---- opening and keys ----------------------------------------------------- */

static char *db_path(const char *dir)
{
	size_t n = strlen(dir) + sizeof DB_NAME + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", dir, DB_NAME);
	return p;
}

int veld__sql(veld_store *s, const struct veld__sqltab *t, int i, sqlite3_stmt **out)
{
	sqlite3_stmt **tab = s->modst[t->mod];
	int rc;
	*out = NULL;
	if (i < 0 || i >= t->n)
		return veld__err(VELD_ERROR, "no such statement");
	if (!tab) {
		if (!(tab = calloc((size_t)t->n, sizeof *tab)))
			return veld__err(VELD_ENOMEM, "out of memory");
		s->modst[t->mod] = tab;
		s->modst_n[t->mod] = t->n;
	}
	if (!tab[i]) {
		rc = sqlite3_prepare_v3(s->db, t->sql[i], -1, SQLITE_PREPARE_PERSISTENT, &tab[i], NULL);
		if (rc != SQLITE_OK)
			return veld__err_sqlite(rc, "preparing a statement");
	} else {
		sqlite3_clear_bindings(tab[i]);
	}
	*out = tab[i];
	return VELD_OK;
}

int veld__sql_run(sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? VELD_OK : veld__err_sqlite(rc, what);
}

int veld__sql_int64(sqlite3_stmt *st, int64_t *out, const char *what)
{
	int rc = sqlite3_step(st);
	*out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? VELD_OK : veld__err_sqlite(rc, what);
}

int veld__sql_exists(sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return rc == SQLITE_ROW;
	return veld__err_sqlite(rc, what);
}

void veld__sql_text(sqlite3_stmt *st, int i, char *out, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	snprintf(out, cap, "%s", t ? (const char *)t : "");
}

int veld__sql_done(sqlite3_stmt *st, int step_rc, const char *what)
{
	sqlite3_reset(st);
	return step_rc == SQLITE_DONE ? VELD_OK : veld__err_sqlite(step_rc, what);
}

int veld__json_answer(json_t *v, char **json_out)
{
	if (!(*json_out = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)))
		return veld__err(VELD_ENOMEM, "out of memory");
	return VELD_OK;
}

int veld__json_object(const char *text, json_t **out)
{
	json_error_t e;
	*out = text ? json_loads(text, JSON_REJECT_DUPLICATES, &e) : NULL;
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return veld__err(VELD_EINVAL, "fields must be a JSON object");
	}
	return VELD_OK;
}

static void store_close_db(veld_store *s)
{
	veld__merge_close(&s->m);
	for (int m = 0; m < VELD_SQL__COUNT; m++) {
		for (int i = 0; i < s->modst_n[m]; i++)
			sqlite3_finalize(s->modst[m][i]);
		free(s->modst[m]);
		s->modst[m] = NULL;
		s->modst_n[m] = 0;
	}
	if (s->db)
		sqlite3_close_v2(s->db);
	s->db = NULL;
}

static void wipe_keys(veld_store *s)
{
	veld__secret_free(s->master);
	veld__secret_free(s->sign_sk);
	veld__secret_free(s->audit_key);
	veld__secret_free(s->box_sk);
	s->master = s->sign_sk = s->audit_key = s->box_sk = NULL;
	veld__keycache_clear(s);
}

void veld_store_free(veld_store *s)
{
	if (!s)
		return;
	if (s->tx_depth > 0)
		run(s, SS_ROLLBACK);
	wipe_keys(s);
	store_close_db(s);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->cancel_mu);
	pthread_cond_destroy(&s->user_tx_done);
	veld__schema_free(s->schema);
	veld__schema_free(s->schema_prev);
	free(s->dir);
	free(s);
}

static int open_db(veld_store *s, const char *dir, int create)
{
	char *path = db_path(dir);
	int rc, flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
	struct stat stt;

	if (!path)
		return veld__err(VELD_ENOMEM, "out of memory");
	if (create) {
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			free(path);
			return veld__err(VELD_EIO, "cannot create the store directory: %s", strerror(errno));
		}
		if (stat(path, &stt) == 0) {
			free(path);
			return veld__err(VELD_EEXISTS, "a store already exists in that directory");
		}
		flags |= SQLITE_OPEN_CREATE;
	} else if (stat(path, &stt) != 0) {
		free(path);
		return veld__err(VELD_ENOTFOUND, "no store in that directory (create one with veld init)");
	}
	rc = sqlite3_open_v2(path, &s->db, flags, NULL);
	free(path);
	if (rc != SQLITE_OK)
		return veld__err_sqlite(rc, "opening the store");
	sqlite3_extended_result_codes(s->db, 0);
	sqlite3_busy_timeout(s->db, 5000);
	/* WAL for crash safety with concurrent readers; NORMAL sync is durable
	 * against application crashes and consistent after power loss.
	 * secure_delete overwrites removed content (erasure). */
	rc = sqlite3_exec(s->db,
		"PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA secure_delete=ON;"
		"PRAGMA cell_size_check=ON; PRAGMA foreign_keys=OFF; PRAGMA temp_store=MEMORY;"
		"PRAGMA cache_size=-16384;", /* 16 MiB page cache */
		NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return veld__err_sqlite(rc, "opening the store");
	if ((rc = veld__schema_migrate(s->db)) != VELD_OK)
		return rc;
	for (int i = 0; i < store_tab.n; i++) {
		sqlite3_stmt *st;
		if ((rc = veld__sql(s, &store_tab, i, &st)) != VELD_OK)
			return rc;
	}
	if ((rc = veld__schema_load(s)) != VELD_OK)
		return rc;
	return veld__merge_open(&s->m, s->db);
}

static int store_alloc(veld_store **out, const char *dir)
{
	veld_store *s;
	int rc;
	*out = NULL;
	if ((rc = veld_init()) != VELD_OK)
		return rc;
	veld__err_clear();
	if (!dir || !*dir)
		return veld__err(VELD_EINVAL, "no store directory given");
	if (!(s = calloc(1, sizeof *s)) || !(s->dir = strdup(dir))) {
		free(s);
		return veld__err(VELD_ENOMEM, "out of memory");
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->cancel_mu, NULL);
	pthread_cond_init(&s->user_tx_done, NULL);
	atomic_init(&s->cancel_flag, 0);
	randombytes_buf(s->nonce_prefix, sizeof s->nonce_prefix);
	snprintf(s->user, sizeof s->user, "unknown");
	snprintf(s->role, sizeof s->role, "worker");
	*out = s;
	return VELD_OK;
}

int veld__label_valid(const char *v, size_t max)
{
	size_t n = strlen(v);
	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = v[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.' || c == '@'))
			return 0;
	}
	return 1;
}

static int apply_actor(veld_store *s, const veld_store_options *o)
{
	if (!o)
		return VELD_OK;
	if (o->version < 1 || o->version > VELD_STORE_OPTIONS_VERSION)
		return veld__err(VELD_EINVAL, "unknown veld_store_options version %u", o->version);
	if (o->user) {
		if (!veld__label_valid(o->user, VELD_USER_MAX))
			return veld__err(VELD_EINVAL, "user must be 1-64 letters, digits or -_.@");
		snprintf(s->user, sizeof s->user, "%s", o->user);
	}
	if (o->role) {
		if (!veld__label_valid(o->role, VELD_USER_MAX))
			return veld__err(VELD_EINVAL, "role must be 1-64 letters, digits or -_.@");
		snprintf(s->role, sizeof s->role, "%s", o->role);
	}
	return VELD_OK;
}

int veld_store_set_actor(veld_store *s, const char *user, const char *role)
{
	veld_store_options o = VELD_STORE_OPTIONS_INIT;
	int rc = veld__enter(s);
	if (rc)
		return rc;
	o.user = user;
	o.role = role;
	rc = apply_actor(s, &o);
	veld__leave(s);
	return rc;
}

static size_t master_ad(uint8_t ad[48], const uint8_t device[VELD_ID_BYTES])
{
	memcpy(ad, "veld-master-v1", 14);
	memcpy(ad + 14, device, VELD_ID_BYTES);
	return 14 + VELD_ID_BYTES;
}

/* With the master key in place, unwrap the signing key and derive the
 * access-log key; load the counters the log derives. */
static int load_keys(veld_store *s)
{
	uint8_t wrapped[64 + VELD_SEAL_OVERHEAD], bwrapped[32 + VELD_SEAL_OVERHEAD], ad[48];
	int rc;
	if (!(s->sign_sk = veld__secret_new(64)) || !(s->audit_key = veld__secret_new(32)) ||
	    !(s->box_sk = veld__secret_new(32)))
		return veld__err(VELD_ENOMEM, "out of memory");
	if ((rc = veld__meta_get(s, "sign_sk", wrapped, sizeof wrapped, NULL)) != VELD_OK ||
	    (rc = veld__meta_get(s, "box_sk", bwrapped, sizeof bwrapped, NULL)) != VELD_OK)
		return rc;
	memcpy(ad, "veld-sign-v1", 12);
	memcpy(ad + 12, s->device, VELD_ID_BYTES);
	if (veld__open(s->sign_sk, wrapped, sizeof wrapped, ad, 12 + VELD_ID_BYTES, s->master) != 0)
		return veld__err(VELD_ECORRUPT, "the signing key failed authentication");
	memcpy(ad, "veld-box-v1", 11);
	memcpy(ad + 11, s->device, VELD_ID_BYTES);
	if (veld__open(s->box_sk, bwrapped, sizeof bwrapped, ad, 11 + VELD_ID_BYTES, s->master) != 0)
		return veld__err(VELD_ECORRUPT, "the box key failed authentication");
	crypto_kdf_derive_from_key(s->audit_key, 32, 1, "veldaudt", s->master);
	return VELD_OK;
}

static int load_counters(veld_store *s)
{
	sqlite3_stmt *st = own(s, SS_OWN_SEQ_MAX);
	int64_t seq, hlc;
	int rc;
	sqlite3_bind_blob(st, 1, s->device, VELD_ID_BYTES, SQLITE_STATIC);
	if ((rc = veld__sql_int64(st, &seq, "opening the store")) != VELD_OK ||
	    (rc = veld__sql_int64(own(s, SS_HLC_MAX), &hlc, "opening the store")) != VELD_OK)
		return rc;
	s->next_seq = (uint64_t)seq + 1;
	s->hlc = (uint64_t)hlc;
	if ((rc = veld__sql_int64(own(s, SS_DATA_VERSION), &s->data_version, "opening the store")))
		return rc;
	return veld__audit_load_head(s);
}

/* Derive the KEK from the passphrase (rawkey NULL) or take the raw key, and
 * open the wrapped master key into `out` (32 bytes of guarded memory). */
static int open_master(veld_store *s, const char *pass, size_t len, const uint8_t *rawkey,
                       uint8_t *out)
{
	uint8_t wrapped[32 + VELD_SEAL_OVERHEAD], ad[48], salt[VELD_SALT_BYTES], src[16];
	uint8_t *kek;
	uint64_t ops, mem;
	size_t n;
	int rc;

	if ((rc = veld__meta_get(s, "key_source", src, sizeof src - 1, &n)) != VELD_OK)
		return rc;
	src[n < sizeof src ? n : sizeof src - 1] = 0;
	if (rawkey && strcmp((char *)src, "key") != 0)
		return veld__err(VELD_EAUTH, "this store is protected by a passphrase, not a key");
	if (!rawkey && strcmp((char *)src, "passphrase") != 0)
		return veld__err(VELD_EAUTH, "this store is protected by a platform key, not a passphrase");
	if ((rc = veld__meta_get(s, "wrapped_master", wrapped, sizeof wrapped, NULL)) != VELD_OK)
		return rc;
	if (!(kek = veld__secret_new(32)))
		return veld__err(VELD_ENOMEM, "out of memory");
	if (rawkey) {
		memcpy(kek, rawkey, 32);
	} else {
		if ((rc = veld__meta_get(s, "kdf_salt", salt, sizeof salt, NULL)) != VELD_OK ||
		    (rc = veld__meta_get_u64(s, "kdf_ops", &ops)) != VELD_OK ||
		    (rc = veld__meta_get_u64(s, "kdf_mem", &mem)) != VELD_OK) {
			veld__secret_free(kek);
			return rc;
		}
		if (ops < VELD_KDF_OPSLIMIT_MIN || mem < VELD_KDF_MEMLIMIT_MIN || mem > (1ull << 32)) {
			veld__secret_free(kek);
			return veld__err(VELD_ECORRUPT, "the stored key-derivation parameters are invalid");
		}
		if (veld__kdf(kek, pass, len, salt, ops, mem) != 0) {
			veld__secret_free(kek);
			return veld__err(VELD_ENOMEM, "not enough memory for key derivation");
		}
	}
	rc = veld__open(out, wrapped, sizeof wrapped, ad, master_ad(ad, s->device), kek);
	veld__secret_free(kek);
	if (rc != 0)
		return veld__err(VELD_EAUTH, rawkey ? "wrong key" : "wrong passphrase");
	return VELD_OK;
}

static int unwrap_master(veld_store *s, const char *pass, size_t len, const uint8_t *rawkey)
{
	int rc;
	if (!(s->master = veld__secret_new(32)))
		return veld__err(VELD_ENOMEM, "out of memory");
	if ((rc = open_master(s, pass, len, rawkey, s->master)) != VELD_OK ||
	    (rc = load_keys(s)) != VELD_OK)
		wipe_keys(s);
	return rc;
}

/* Check a passphrase or key against an unlocked store without touching its
 * keys: VELD_OK or VELD_EAUTH. */
static int check_secret(veld_store *s, const char *pass, size_t len, const uint8_t *rawkey)
{
	uint8_t *m = veld__secret_new(32);
	int rc;
	if (!m)
		return veld__err(VELD_ENOMEM, "out of memory");
	rc = open_master(s, pass, len, rawkey, m);
	veld__secret_free(m);
	return rc;
}

static int read_identity(veld_store *s)
{
	size_t n;
	int rc;
	if ((rc = veld__meta_get(s, "device", s->device, VELD_ID_BYTES, NULL)) != VELD_OK ||
	    (rc = veld__meta_get(s, "sign_pk", s->sign_pk, 32, NULL)) != VELD_OK ||
	    (rc = veld__meta_get(s, "box_pk", s->box_pk, 32, NULL)) != VELD_OK ||
	    (rc = veld__meta_get(s, "team", s->team, VELD_TEAM_MAX, &n)) != VELD_OK)
		return rc == VELD_ENOTFOUND ? veld__err(VELD_ECORRUPT, "the store is incomplete: %s",
		                                        veld_error_last()) : rc;
	s->team[n < VELD_TEAM_MAX ? n : VELD_TEAM_MAX] = 0;
	{
		char role[16] = "";
		if (veld__meta_get(s, "device_role", role, sizeof role - 1, &n) == VELD_OK)
			role[n < sizeof role ? n : sizeof role - 1] = 0;
		s->office = strcmp(role, "office") == 0;
	}
	return VELD_OK;
}

static int store_open(veld_store **out, const char *dir, const char *pass, size_t len,
                      const uint8_t *rawkey, const veld_store_options *opts)
{
	veld_store *s;
	int rc;
	if ((rc = store_alloc(&s, dir)) != VELD_OK)
		return rc;
	if ((rc = apply_actor(s, opts)) == VELD_OK && (rc = open_db(s, dir, 0)) == VELD_OK &&
	    (rc = read_identity(s)) == VELD_OK &&
	    (rc = unwrap_master(s, pass, len, rawkey)) == VELD_OK)
		rc = load_counters(s);
	if (rc != VELD_OK) {
		char msg[512];
		snprintf(msg, sizeof msg, "%s", veld_error_last());
		veld_store_free(s);
		return veld__err(rc, "%s", msg);
	}
	*out = s;
	return VELD_OK;
}

int veld_store_open(veld_store **out, const char *dir, const char *pass, size_t len,
                    const veld_store_options *opts)
{
	if (!out || (!pass && len))
		return veld__err(VELD_EINVAL, "invalid arguments");
	*out = NULL;
	return store_open(out, dir, pass ? pass : "", len, NULL, opts);
}

int veld_store_open_with_key(veld_store **out, const char *dir, const uint8_t key[32],
                             const veld_store_options *opts)
{
	if (!out || !key)
		return veld__err(VELD_EINVAL, "invalid arguments");
	*out = NULL;
	return store_open(out, dir, NULL, 0, key, opts);
}

static int wrap_master_with(veld_store *s, const char *pass, size_t len, const uint8_t *rawkey,
                            uint64_t ops, uint64_t mem)
{
	uint8_t wrapped[32 + VELD_SEAL_OVERHEAD], ad[48], salt[VELD_SALT_BYTES];
	uint8_t *kek = veld__secret_new(32);
	int rc;
	if (!kek)
		return veld__err(VELD_ENOMEM, "out of memory");
	if (rawkey) {
		memcpy(kek, rawkey, 32);
	} else {
		randombytes_buf(salt, sizeof salt);
		if (veld__kdf(kek, pass, len, salt, ops, mem) != 0) {
			veld__secret_free(kek);
			return veld__err(VELD_ENOMEM, "not enough memory for key derivation");
		}
	}
	veld__seal(wrapped, s->master, 32, ad, master_ad(ad, s->device), kek);
	veld__secret_free(kek);
	if ((rc = veld__meta_put(s, "wrapped_master", wrapped, sizeof wrapped)) != VELD_OK)
		return rc;
	if (rawkey)
		return veld__meta_put(s, "key_source", "key", 3);
	if ((rc = veld__meta_put(s, "key_source", "passphrase", 10)) != VELD_OK ||
	    (rc = veld__meta_put(s, "kdf_salt", salt, sizeof salt)) != VELD_OK ||
	    (rc = veld__meta_put_u64(s, "kdf_ops", ops)) != VELD_OK)
		return rc;
	return veld__meta_put_u64(s, "kdf_mem", mem);
}

static int store_create(veld_store **out, const char *dir, const char *pass, size_t len,
                        const uint8_t *rawkey, const veld_store_options *opts, int office)
{
	veld_store *s;
	uint8_t wrapped[64 + VELD_SEAL_OVERHEAD], bwrapped[32 + VELD_SEAL_OVERHEAD], ad[48];
	uint64_t ops = opts && opts->kdf_opslimit ? opts->kdf_opslimit : KDF_OPS_DEFAULT;
	uint64_t mem = opts && opts->kdf_memlimit ? opts->kdf_memlimit : KDF_MEM_DEFAULT;
	const char *team = office ? "office" : opts && opts->team ? opts->team : "default";
	struct veld__tx tx;
	int rc;

	if (!out)
		return veld__err(VELD_EINVAL, "invalid arguments");
	*out = NULL;
	if (!rawkey && (ops < VELD_KDF_OPSLIMIT_MIN || mem < VELD_KDF_MEMLIMIT_MIN))
		return veld__err(VELD_EINVAL, "key derivation below the floor of 19 MiB and 2 passes");
	if (!rawkey && mem > (1ull << 32))
		return veld__err(VELD_EINVAL, "key derivation memory above 4 GiB");
	if ((rc = store_alloc(&s, dir)) != VELD_OK)
		return rc;
	if (!veld__label_valid(team, VELD_TEAM_MAX)) {
		veld_store_free(s);
		return veld__err(VELD_EINVAL, "team must be 1-64 letters, digits or -_.@");
	}
	if ((rc = apply_actor(s, opts)) != VELD_OK || (rc = open_db(s, dir, 1)) != VELD_OK)
		goto fail;
	snprintf(s->team, sizeof s->team, "%s", team);
	s->office = office;
	veld__random_id(s->device);
	if (!(s->master = veld__secret_new(32)) || !(s->sign_sk = veld__secret_new(64)) ||
	    !(s->audit_key = veld__secret_new(32)) || !(s->box_sk = veld__secret_new(32))) {
		rc = veld__err(VELD_ENOMEM, "out of memory");
		goto fail;
	}
	crypto_aead_xchacha20poly1305_ietf_keygen(s->master);
	crypto_sign_keypair(s->sign_pk, s->sign_sk);
	crypto_kdf_derive_from_key(s->audit_key, 32, 1, "veldaudt", s->master);
	memcpy(ad, "veld-sign-v1", 12);
	memcpy(ad + 12, s->device, VELD_ID_BYTES);
	veld__seal(wrapped, s->sign_sk, 64, ad, 12 + VELD_ID_BYTES, s->master);
	crypto_box_keypair(s->box_pk, s->box_sk);
	memcpy(ad, "veld-box-v1", 11);
	memcpy(ad + 11, s->device, VELD_ID_BYTES);
	veld__seal(bwrapped, s->box_sk, 32, ad, 11 + VELD_ID_BYTES, s->master);
	s->next_seq = 1;

	if ((rc = veld__tx_begin(s, &tx)) != VELD_OK)
		goto fail;
	if ((rc = veld__meta_put(s, "device", s->device, VELD_ID_BYTES)) != VELD_OK ||
	    (rc = veld__meta_put(s, "team", s->team, strlen(s->team))) != VELD_OK ||
	    (rc = veld__meta_put(s, "device_role", s->office ? "office" : "worker",
	                         6)) != VELD_OK ||
	    (rc = veld__meta_put(s, "sign_pk", s->sign_pk, 32)) != VELD_OK ||
	    (rc = veld__meta_put(s, "sign_sk", wrapped, sizeof wrapped)) != VELD_OK ||
	    (rc = veld__meta_put(s, "box_pk", s->box_pk, 32)) != VELD_OK ||
	    (rc = veld__meta_put(s, "box_sk", bwrapped, sizeof bwrapped)) != VELD_OK ||
	    (rc = wrap_master_with(s, pass, len, rawkey, ops, mem)) != VELD_OK ||
	    (rc = veld__audit(s, "store-create", "success", NULL, "setup")) != VELD_OK) {
		veld__tx_abort(s, &tx);
		goto fail;
	}
	if ((rc = veld__tx_commit(s, &tx)) != VELD_OK)
		goto fail;
	*out = s;
	return VELD_OK;
fail: {
		char msg[512], *path = db_path(dir);
		int created = s->db != NULL;
		snprintf(msg, sizeof msg, "%s", veld_error_last());
		veld_store_free(s);
		/* Leave no half-made store behind. */
		if (created && path && rc != VELD_EEXISTS) {
			char extra[600];
			unlink(path);
			snprintf(extra, sizeof extra, "%s-wal", path);
			unlink(extra);
			snprintf(extra, sizeof extra, "%s-shm", path);
			unlink(extra);
		}
		free(path);
		return veld__err(rc, "%s", msg);
	}
}

int veld_store_create(veld_store **out, const char *dir, const char *pass, size_t len,
                      const veld_store_options *opts)
{
	if (!pass || len == 0)
		return veld__err(VELD_EINVAL, "a passphrase is required");
	return store_create(out, dir, pass, len, NULL, opts, 0);
}

int veld_office_create(veld_store **out, const char *dir, const char *pass, size_t len,
                       const veld_store_options *opts)
{
	if (!pass || len == 0)
		return veld__err(VELD_EINVAL, "a passphrase is required");
	return store_create(out, dir, pass, len, NULL, opts, 1);
}

int veld_store_create_with_key(veld_store **out, const char *dir, const uint8_t key[32],
                               const veld_store_options *opts)
{
	if (!key)
		return veld__err(VELD_EINVAL, "a key is required");
	return store_create(out, dir, NULL, 0, key, opts, 0);
}

int veld_store_change_passphrase(veld_store *s, const char *old_pass, size_t old_len,
                                 const char *new_pass, size_t new_len)
{
	uint64_t ops, mem;
	struct veld__tx tx;
	int rc = veld__enter(s);
	if (rc)
		return rc;
	if (!old_pass || !new_pass || new_len == 0) {
		rc = veld__err(VELD_EINVAL, "both passphrases are required");
		goto out;
	}
	if ((rc = veld__need_keys(s)) != VELD_OK)
		goto out;
	/* Prove the old passphrase (a stolen unlocked session must not re-key). */
	if ((rc = check_secret(s, old_pass, old_len, NULL)) != VELD_OK)
		goto out;
	if ((rc = veld__meta_get_u64(s, "kdf_ops", &ops)) != VELD_OK ||
	    (rc = veld__meta_get_u64(s, "kdf_mem", &mem)) != VELD_OK)
		goto out;
	if ((rc = veld__tx_begin(s, &tx)) != VELD_OK)
		goto out;
	if ((rc = wrap_master_with(s, new_pass, new_len, NULL, ops, mem)) != VELD_OK ||
	    (rc = veld__audit(s, "passphrase-change", "success", NULL, "security")) != VELD_OK)
		veld__tx_abort(s, &tx);
	else
		rc = veld__tx_commit(s, &tx);
out:
	veld__leave(s);
	return rc;
}

int veld_store_lock(veld_store *s)
{
	if (!s)
		return veld__err(VELD_EINVAL, "no store given");
	enter_any(s);
	if (s->tx_depth > 0) {
		veld__tx_abort(s, &s->user_tx);
		user_tx_closed(s);
	}
	wipe_keys(s);
	veld__leave(s);
	return VELD_OK;
}

static int store_unlock(veld_store *s, const char *pass, size_t len, const uint8_t *key)
{
	int rc = veld__enter(s);
	if (rc)
		return rc;
	/* Already unlocked: still check, so unlock never says yes to a wrong
	 * secret. */
	rc = s->master ? check_secret(s, pass, len, key) : unwrap_master(s, pass, len, key);
	veld__leave(s);
	return rc;
}

int veld_store_unlock(veld_store *s, const char *pass, size_t len)
{
	if (!pass && len)
		return veld__err(VELD_EINVAL, "invalid arguments");
	return store_unlock(s, pass ? pass : "", len, NULL);
}

int veld_store_unlock_with_key(veld_store *s, const uint8_t key[32])
{
	if (!key)
		return veld__err(VELD_EINVAL, "a key is required");
	return store_unlock(s, NULL, 0, key);
}

/* The office's latest checkpoint of this store's team, as info shows it:
 * its date, age and whether it is older than the default allowed age (a
 * sync says the same with its own setting); null in the office or before
 * the first one arrives. */
static json_t *checkpoint_info(veld_store *s)
{
	uint64_t now = veld__hlc_now_ms(), when = 0, age;
	char at[32];
	if (s->office || veld__checkpoint_date(s, s->team, &when) != VELD_OK) {
		veld__err_clear();
		return json_null();
	}
	age = now > when ? now - when : 0;
	veld__iso8601(at, when);
	return json_pack("{s:s,s:I,s:b}", "at", at, "age_s", (json_int_t)(age / 1000u), "stale",
	                 age > VELD_CHECKPOINT_MAX_AGE_MS);
}

/* What needs a person's eye: fields in conflict, items waiting, items kept
 * aside. Each is a small table, so a sync's summary costs the same however
 * many operations the store holds. The caller holds the store. */
static int tallies(veld_store *s, struct veld__tallies *t)
{
	uint64_t pend_ops = 0, pend_envs = 0;
	int rc;
	memset(t, 0, sizeof *t);
	if ((rc = veld__sql_int64(own(s, SS_COUNT_CONFLICTS), &t->conflicts,
	                          "describing the store")) != VELD_OK ||
	    (rc = veld__pending_count(s, &pend_ops, &pend_envs)) != VELD_OK ||
	    (rc = veld__quarantine_count(s, &t->quarantined)) != VELD_OK)
		return rc;
	t->pending = pend_ops + pend_envs;
	return VELD_OK;
}

int veld__store_tallies(veld_store *s, struct veld__tallies *t)
{
	int rc = veld__enter(s);
	if (rc)
		return rc;
	rc = tallies(s, t);
	veld__leave(s);
	return rc;
}

int veld_store_info(veld_store *s, char **json_out)
{
	char dev[33];
	int64_t ops, clients;
	struct veld__tallies t;
	json_t *o;
	int rc = veld__enter_json(s, json_out, 0);
	if (rc)
		return rc;
	if ((rc = veld__sql_int64(own(s, SS_COUNT_OPS), &ops, "describing the store")) ||
	    (rc = veld__sql_int64(own(s, SS_COUNT_CLIENTS), &clients, "describing the store")) ||
	    (rc = tallies(s, &t)))
		goto out;
	veld__hex(dev, s->device, VELD_ID_BYTES);
	o = json_pack("{s:s,s:s,s:b,s:i,s:I,s:I,s:I,s:I,s:I,s:b,s:s,s:s,s:I,s:I,s:o}",
		"device", dev, "team", s->team, "office", s->office, "schema", VELD_SCHEMA_VERSION,
		"ops", (json_int_t)ops,
		"own_ops", (json_int_t)(s->next_seq - 1),
		"clients", (json_int_t)clients,
		"conflicts", (json_int_t)t.conflicts,
		"audit_entries", (json_int_t)s->audit_seq,
		"locked", s->master == NULL,
		"user", s->user, "role", s->role,
		"pending", (json_int_t)t.pending,
		"quarantined", (json_int_t)t.quarantined,
		"checkpoint", checkpoint_info(s));
	rc = o ? veld__json_answer(o, json_out) : veld__err(VELD_ENOMEM, "out of memory");
	json_decref(o);
out:
	veld__leave(s);
	return rc;
}
