/* keys.c - team keys and client key envelopes.
 *
 * Each client's data key is sealed (crypto_box_seal) to the X25519 key of
 * the client's team and to the office's key. The sealed copies, envelopes,
 * wait in `outbox` until a sync pushes them; devices of the team open them
 * with the team's secret key, which the office seals to each enrolled
 * device. docs/security.md draws the whole hierarchy. */
#include "store.h"
#include "error.h"

#include <stdio.h>
#include <string.h>

enum keys_stmt { KS_TEAM_PUT, KS_TEAM_GET, KS_OUTBOX_PUT };
static const char *const keys_sql[] = {
	[KS_TEAM_PUT] = "INSERT OR IGNORE INTO team_keys(team, tv, pk, wrapped) VALUES(?1, ?2, ?3, ?4)",
	/* ?2 = 0: the newest version. */
	[KS_TEAM_GET] = "SELECT tv, pk, wrapped FROM team_keys WHERE team = ?1"
	                " AND (?2 = 0 OR tv = ?2) ORDER BY tv DESC LIMIT 1",
	[KS_OUTBOX_PUT] = "INSERT OR REPLACE INTO outbox(client, kv, recipient, tv, sealed)"
	                  " VALUES(?1, ?2, ?3, ?4, ?5)",
};
static const struct veld__sqltab keys_tab = VELD_SQLTAB(VELD_SQL_KEYS, keys_sql);

static size_t team_ad(uint8_t *ad, const char *team, uint64_t tv)
{
	size_t n = strlen(team);
	memcpy(ad, "veld-tk-v1", 10);
	memcpy(ad + 10, team, n + 1);
	veld__be64_put(ad + 11 + n, tv);
	return 19 + n;
}

int veld__team_key_put(veld_store *s, const char *team, uint64_t tv, const uint8_t pk[32],
                       const uint8_t sk[32])
{
	uint8_t wrapped[32 + VELD_SEAL_OVERHEAD], ad[VELD_TEAM_MAX + 24], check[32];
	sqlite3_stmt *st;
	int rc;
	/* The secret half must belong to the public half. */
	crypto_scalarmult_base(check, sk);
	if (sodium_memcmp(check, pk, 32) != 0)
		return veld__err(VELD_EPROTO, "a team key's halves do not match");
	if ((rc = veld__sql(s, &keys_tab, KS_TEAM_PUT, &st)) != VELD_OK)
		return rc;
	veld__seal(wrapped, sk, 32, ad, team_ad(ad, team, tv), s->master);
	sqlite3_bind_text(st, 1, team, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)tv);
	sqlite3_bind_blob(st, 3, pk, 32, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, wrapped, sizeof wrapped, SQLITE_STATIC);
	return veld__sql_run(st, "storing a team key");
}

int veld__team_key_get(veld_store *s, const char *team, uint64_t *tv, uint8_t pk[32], uint8_t *sk)
{
	uint8_t ad[VELD_TEAM_MAX + 24];
	sqlite3_stmt *st;
	int rc = veld__sql(s, &keys_tab, KS_TEAM_GET, &st);
	if (rc != VELD_OK)
		return rc;
	sqlite3_bind_text(st, 1, team, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)*tv);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? veld__err(VELD_ENOTFOUND, "no key for team %s here", team)
		                         : veld__err_sqlite(rc, "reading a team key");
	}
	*tv = (uint64_t)sqlite3_column_int64(st, 0);
	memcpy(pk, sqlite3_column_blob(st, 1), 32);
	rc = VELD_OK;
	if (sk && (sqlite3_column_bytes(st, 2) != 32 + VELD_SEAL_OVERHEAD ||
	           veld__open(sk, sqlite3_column_blob(st, 2), 32 + VELD_SEAL_OVERHEAD, ad,
	                      team_ad(ad, team, *tv), s->master) != 0))
		rc = veld__err(VELD_ECORRUPT, "the key of team %s failed authentication", team);
	sqlite3_reset(st);
	return rc;
}

static int outbox_put(veld_store *s, const uint8_t client[VELD_ID_BYTES], uint64_t kv,
                      const char *to, uint64_t tv, const uint8_t pk[32], const uint8_t key[32])
{
	uint8_t sealed[32 + crypto_box_SEALBYTES];
	sqlite3_stmt *st;
	int rc = veld__sql(s, &keys_tab, KS_OUTBOX_PUT, &st);
	if (rc != VELD_OK)
		return rc;
	crypto_box_seal(sealed, key, 32, pk);
	sqlite3_bind_blob(st, 1, client, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)kv);
	sqlite3_bind_text(st, 3, to, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)tv);
	sqlite3_bind_blob(st, 5, sealed, sizeof sealed, SQLITE_STATIC);
	return veld__sql_run(st, "queueing a key envelope");
}

int veld__keys_share(veld_store *s, const uint8_t client[VELD_ID_BYTES], uint64_t kv,
                     const char *team, const uint8_t key[32])
{
	uint8_t pk[32];
	uint64_t tv = 0;
	char to[VELD_TEAM_MAX + 8];
	int rc;
	if (veld__meta_get(s, "office_box_pk", pk, 32, NULL) == VELD_OK &&
	    (rc = outbox_put(s, client, kv, "office", 0, pk, key)) != VELD_OK)
		return rc;
	veld__err_clear();
	if (veld__team_key_get(s, team, &tv, pk, NULL) == VELD_OK) {
		snprintf(to, sizeof to, "team:%s", team);
		if ((rc = outbox_put(s, client, kv, to, tv, pk, key)) != VELD_OK)
			return rc;
	}
	veld__err_clear();
	return VELD_OK;
}
