/* duekept.c - the records of a client what is due may need, kept.
 *
 * A worker with forty clients and five years of history has some twenty
 * thousand visits and thousands of signals, goals and actions, and
 * veld_due would open them all each time it is asked. Most can never be
 * due again: a signal with a follow-up, a goal achieved, an action done, a
 * visit long past. So the first veld_due after a record of a client changed
 * reads all of that client's records the rules read, keeps those the rules
 * may still need (veld__due_keep, next to the rules in due.c) in table
 * due_kept, sealed under the client's key like any value, and later calls
 * open one row per client instead.
 *
 * A row is never out of date: triggers on the operations table (store
 * format 10, schema.c) drop a client's row whenever an operation of any of
 * its records is added, changed or removed (a write, a pull, a merge, a
 * policy or retention clearing a value, a move, an erasure), and a row
 * written by another format of this file or under another record schema is
 * not used. What is kept depends on no date but one: a contact dated after
 * the day asked for does not count, so when the latest contact is later
 * than `today` the client's records are read in full, as without a row. */
#include "due.h"
#include "crypto.h"
#include "error.h"
#include "kinds.h"
#include "listing.h"
#include "store.h"
#include "veld_errors.h"

#include <stdlib.h>
#include <string.h>

/* Bumped whenever what is kept changes, so rows an older veld wrote are
 * made again. */
#define KEPT_FORMAT 1
#define KEPT_PAD 256 /* the sealed size says little of how many visits */

enum { DV_GET, DV_PUT, DV__COUNT };
static const char *const due_sql[DV__COUNT] = {
	[DV_GET] = "SELECT kv, box FROM due_kept WHERE client = ?1",
	[DV_PUT] = "INSERT OR REPLACE INTO due_kept(client, kv, box) VALUES(?1, ?2, ?3)",
};
static const struct veld__sqltab due_tab = VELD_SQLTAB(VELD_SQL_DUE, due_sql);

/* The sealed row's associated data: a label and the client's id. */
static size_t kept_ad(uint8_t ad[64], const uint8_t *client)
{
	static const char label[] = "veld due_kept";
	memcpy(ad, label, sizeof label);
	memcpy(ad + sizeof label, client, VELD_ID_BYTES);
	return sizeof label + VELD_ID_BYTES;
}

/* Every record of `client` the rules read, by kind, onto `all` ({kind:
 * [records]}, a kind this store does not know left out). */
static int read_all(veld_store *s, const uint8_t *client, json_t *all, json_t *read)
{
	int rc = VELD_OK;
	for (const struct veld__due_kind *k = veld__due_kinds; rc == VELD_OK && k->kind; k++) {
		json_t *list;
		if (strcmp(k->kind, "client") == 0 || !veld__kind_known(s, k->kind))
			continue;
		if (!(list = json_array()) || json_object_set_new(all, k->kind, list) != 0)
			return veld__err(VELD_ENOMEM, "out of memory");
		rc = veld__list_records(s, k->kind, client, k->fields, list, read);
	}
	return rc;
}

/* What is kept of `all`: {"format", "schema", "last": day of the latest
 * contact or null, "records": {kind: [records the rules may need]}}. */
static int kept_of(veld_store *s, json_t *all, json_t **out)
{
	json_t *records = json_object(), *recs, *keep;
	const char *kind;
	int64_t last = INT64_MIN;
	int rc = records ? VELD_OK : veld__err(VELD_ENOMEM, "out of memory");
	json_object_foreach(all, kind, recs) {
		if (rc != VELD_OK)
			break;
		if (!(keep = json_array()) || json_object_set_new(records, kind, keep) != 0)
			rc = veld__err(VELD_ENOMEM, "out of memory");
		else
			rc = veld__due_keep(kind, recs, keep, &last);
	}
	*out = rc == VELD_OK ? json_pack("{s:i,s:I,s:o,s:O}", "format", KEPT_FORMAT, "schema",
	                                 (json_int_t)s->schema->version, "last",
	                                 last == INT64_MIN ? json_null() : json_integer(last),
	                                 "records", records)
	                     : NULL;
	json_decref(records);
	if (rc == VELD_OK && !*out)
		rc = veld__err(VELD_ENOMEM, "out of memory");
	return rc;
}

/* The kept row of `client`, if there is one this veld can use: *out gets
 * it or stays NULL. A row that does not open (a key this store lost, a
 * damaged row) is as good as none: the visits are read again. */
static int kept_get(veld_store *s, const uint8_t *client, json_t **out)
{
	sqlite3_stmt *st;
	const uint8_t *key;
	uint8_t ad[64], *pt = NULL;
	size_t n = 0, len;
	int rc = veld__sql(s, &due_tab, DV_GET, &st);
	*out = NULL;
	if (rc != VELD_OK)
		return rc;
	sqlite3_bind_blob(st, 1, client, VELD_ID_BYTES, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW)
		return veld__sql_done(st, rc, "reading what is due");
	n = (size_t)sqlite3_column_bytes(st, 1);
	if (n > VELD_SEAL_OVERHEAD &&
	    veld__client_key(s, client, (uint64_t)sqlite3_column_int64(st, 0), &key) == VELD_OK &&
	    (pt = malloc(n - VELD_SEAL_OVERHEAD)) != NULL &&
	    veld__open(pt, sqlite3_column_blob(st, 1), n, ad, kept_ad(ad, client), key) == 0 &&
	    sodium_unpad(&len, pt, n - VELD_SEAL_OVERHEAD, KEPT_PAD) == 0)
		*out = json_loadb((const char *)pt, len, 0, NULL);
	sqlite3_reset(st);
	if (pt)
		sodium_memzero(pt, n - VELD_SEAL_OVERHEAD);
	free(pt);
	if (*out && (json_integer_value(json_object_get(*out, "format")) != KEPT_FORMAT ||
	             json_integer_value(json_object_get(*out, "schema")) !=
	                     (json_int_t)s->schema->version ||
	             !json_is_object(json_object_get(*out, "records")))) {
		json_decref(*out);
		*out = NULL;
	}
	return VELD_OK;
}

/* Keep `kept` for `client`, sealed under its newest key. */
static int kept_put(veld_store *s, const uint8_t *client, json_t *kept)
{
	char *text = json_dumps(kept, JSON_COMPACT);
	size_t len = text ? strlen(text) : 0, cap = (len / KEPT_PAD + 1) * KEPT_PAD, padded;
	uint8_t ad[64], nonce[24], *buf = text ? malloc(cap + cap + VELD_SEAL_OVERHEAD) : NULL;
	const uint8_t *key = NULL;
	uint64_t kv = 0;
	sqlite3_stmt *st = NULL;
	int rc = buf ? veld__client_key_current(s, client, &kv, &key)
	             : veld__err(VELD_ENOMEM, "out of memory");
	if (rc == VELD_ENOTFOUND || rc == VELD_ESHREDDED) {
		veld__err_clear();
		rc = VELD_OK; /* no key to seal under: nothing kept, read again next time */
		key = NULL;
	} else if (rc == VELD_OK)
		rc = veld__sql(s, &due_tab, DV_PUT, &st);
	if (rc == VELD_OK && key) {
		memcpy(buf, text, len);
		sodium_pad(&padded, buf, len, KEPT_PAD, cap);
		veld__nonce_next(s, nonce);
		veld__seal_nonce(buf + cap, nonce, buf, padded, ad, kept_ad(ad, client), key);
		sqlite3_bind_blob(st, 1, client, VELD_ID_BYTES, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)kv);
		sqlite3_bind_blob(st, 3, buf + cap, (int)(padded + VELD_SEAL_OVERHEAD), SQLITE_STATIC);
		rc = veld__sql_run(st, "keeping what is due");
	}
	if (buf)
		sodium_memzero(buf, cap);
	if (text)
		sodium_memzero(text, len);
	free(buf);
	free(text);
	return rc;
}

/* Each list of `from` ({kind: [records]}) onto the same kind's list in
 * `records`. */
static int append_all(json_t *records, json_t *from)
{
	json_t *recs;
	const char *kind;
	json_object_foreach(from, kind, recs) {
		json_t *list = json_object_get(records, kind);
		if (!list) {
			if (!(list = json_array()) || json_object_set_new(records, kind, list) != 0)
				return veld__err(VELD_ENOMEM, "out of memory");
		}
		if (json_array_extend(list, recs) != 0)
			return veld__err(VELD_ENOMEM, "out of memory");
	}
	return VELD_OK;
}

int veld__due_kept(veld_store *s, const uint8_t *client, int64_t today, json_t *records,
                   json_t *read)
{
	json_t *kept = NULL, *all = NULL, *last;
	int rc = kept_get(s, client, &kept);
	if (rc == VELD_OK && !kept) {
		if (!(all = json_object()))
			return veld__err(VELD_ENOMEM, "out of memory");
		if ((rc = read_all(s, client, all, read)) == VELD_OK)
			rc = kept_of(s, all, &kept);
		if (rc == VELD_OK)
			rc = kept_put(s, client, kept);
	}
	last = json_object_get(kept, "last");
	if (rc == VELD_OK && json_is_integer(last) && json_integer_value(last) > today) {
		/* A contact after the day asked for: the latest one up to it may be
		 * any visit. */
		if (!all) {
			all = json_object();
			rc = all ? read_all(s, client, all, read) : veld__err(VELD_ENOMEM, "out of memory");
		}
		if (rc == VELD_OK)
			rc = append_all(records, all);
	} else if (rc == VELD_OK)
		rc = append_all(records, json_object_get(kept, "records"));
	json_decref(all);
	json_decref(kept);
	return rc;
}
