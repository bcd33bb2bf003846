/* records.c - creating, changing, deleting and reading one record; ids.
 *
 * Every call here runs in one transaction, checks that the actor may touch
 * the record's client (access.h), writes one operation per field it sets
 * (op.c) and one access-log entry. Notes are append-only: a correction is a
 * new note that amends the earlier one, so notes are never updated,
 * deleted or resolved. */
#include "records.h"
#include "access.h"
#include "error.h"
#include "kinds.h"
#include "op.h"
#include "recbuild.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum records_stmt { RS_RESOLVE };
static const char *const records_sql[] = {
	[RS_RESOLVE] = "SELECT entity, client, team, kind FROM entities WHERE entity BETWEEN ?1 AND ?2"
	               " AND (?3 IS NULL OR kind = ?3) LIMIT 2",
};
static const struct veld__sqltab records_tab = VELD_SQLTAB(VELD_SQL_RECORDS, records_sql);

/* ---- ids ----------------------------------------------------------------------- */

/* A prefix of n hex digits is the range [prefix 000..., prefix fff...]: an
 * index seek, never a scan, whatever the store's size. */
static void prefix_range(const char *id, size_t n, uint8_t lo[VELD_ID_BYTES],
                         uint8_t hi[VELD_ID_BYTES])
{
	for (size_t i = 0; i < 2 * VELD_ID_BYTES; i++) {
		int v = 0;
		if (i < n) {
			char c = (char)tolower((unsigned char)id[i]);
			v = c <= '9' ? c - '0' : c - 'a' + 10;
		}
		if (i % 2 == 0) {
			lo[i / 2] = (uint8_t)((i < n ? v : 0) << 4);
			hi[i / 2] = (uint8_t)((i < n ? v : 15) << 4);
		} else {
			lo[i / 2] |= (uint8_t)(i < n ? v : 0);
			hi[i / 2] |= (uint8_t)(i < n ? v : 15);
		}
	}
}

/* The records in [lo, hi] of `kind`: up to two, to tell a unique prefix
 * from an ambiguous one. The first fills the out parameters. */
static int resolve_range(veld_store *s, const char *kind, const uint8_t lo[VELD_ID_BYTES],
                         const uint8_t hi[VELD_ID_BYTES], uint8_t entity[VELD_ID_BYTES],
                         uint8_t client[VELD_ID_BYTES], char team[VELD_TEAM_MAX + 1],
                         char kind_out[VELD_KIND_MAX + 1], int *found)
{
	sqlite3_stmt *st;
	int rc = veld__sql(s, &records_tab, RS_RESOLVE, &st);
	if (rc != VELD_OK)
		return rc;
	sqlite3_bind_blob(st, 1, lo, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, hi, VELD_ID_BYTES, SQLITE_STATIC);
	if (kind)
		sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
	*found = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (++*found > 1)
			continue;
		memcpy(entity, sqlite3_column_blob(st, 0), VELD_ID_BYTES);
		if (client)
			memcpy(client, sqlite3_column_blob(st, 1), VELD_ID_BYTES);
		if (team)
			snprintf(team, VELD_TEAM_MAX + 1, "%s", (const char *)sqlite3_column_text(st, 2));
		if (kind_out)
			snprintf(kind_out, VELD_KIND_MAX + 1, "%s", (const char *)sqlite3_column_text(st, 3));
	}
	return veld__sql_done(st, rc, "finding a record");
}

int veld__resolve(veld_store *s, const char *kind, const char *id, uint8_t entity[VELD_ID_BYTES],
                  uint8_t client[VELD_ID_BYTES], char team[VELD_TEAM_MAX + 1],
                  char kind_out[VELD_KIND_MAX + 1])
{
	uint8_t lo[VELD_ID_BYTES], hi[VELD_ID_BYTES];
	size_t n = id ? strlen(id) : 0;
	int rc, found;

	if (n < 4 || n > 32 || strspn(id, "0123456789abcdefABCDEF") != n)
		return veld__err(VELD_EINVAL, "a record id is 4 to 32 hex digits");
	prefix_range(id, n, lo, hi);
	if ((rc = resolve_range(s, kind, lo, hi, entity, client, team, kind_out, &found)) != VELD_OK)
		return rc;
	if (found == 0 && n == 32 && (!kind || strcmp(kind, "client") == 0)) {
		if ((rc = veld__merge_is_erased(&s->m, lo)) < 0)
			return rc;
		if (rc)
			return veld__err(VELD_ESHREDDED, "client %s was erased", id);
	}
	if (found == 0)
		return veld__err(VELD_ENOTFOUND, "no %s with id %s", kind ? kind : "record", id);
	if (found > 1)
		return veld__err(VELD_EINVAL, "id %s is ambiguous; give more digits", id);
	return VELD_OK;
}

/* ---- writing ------------------------------------------------------------------ */

/* Write each field of `fields` as one operation, in name order, so the
 * same input always yields the same sequence. */
static int write_fields(veld_store *s, const char *kind, const uint8_t entity[VELD_ID_BYTES],
                        const uint8_t client[VELD_ID_BYTES], const char *team, json_t *fields)
{
	const char *keys[32];
	size_t n = 0;
	const char *name;
	json_t *v;
	int rc;
	json_object_foreach(fields, name, v)
		if (n < 32)
			keys[n++] = name;
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
			const char *t = keys[j];
			keys[j] = keys[j - 1];
			keys[j - 1] = t;
		}
	for (size_t i = 0; i < n; i++) {
		char *js = json_dumps(json_object_get(fields, keys[i]), JSON_COMPACT | JSON_ENCODE_ANY);
		if (!js)
			return veld__err(VELD_ENOMEM, "out of memory");
		rc = veld__op_write(s, kind, entity, client, team, keys[i], js, strlen(js));
		sodium_memzero(js, strlen(js));
		free(js);
		if (rc != VELD_OK)
			return rc;
	}
	return VELD_OK;
}

/* The start of a call on records of `kind`: enter the store, clear
 * *json_out (if given), check the store is unlocked and the kind known. On
 * failure the store is left as it was (not entered). */
static int enter_kind(veld_store *s, const char *kind, const struct veld__kdef **k,
                      char **json_out)
{
	int rc = veld__enter(s);
	if (rc)
		return rc;
	if (json_out)
		*json_out = NULL;
	if ((rc = veld__need_keys(s)) || (rc = veld__kind_get(s, kind, k)))
		veld__leave(s);
	return rc;
}

/* The record as the caller's answer, if the caller asked (json_out). */
static int answer_record(veld_store *s, const uint8_t entity[VELD_ID_BYTES], char **json_out)
{
	json_t *rec = NULL;
	int rc;
	if (!json_out)
		return VELD_OK;
	if ((rc = veld__record_build(s, entity, &rec)) == VELD_OK)
		rc = veld__json_answer(rec, json_out);
	json_decref(rec);
	return rc;
}

/* ---- create ------------------------------------------------------------------- */

/* A new client: of the actor's team unless the office names another, with
 * a new data key sealed for the team and the office. */
static int create_client(veld_store *s, const struct veld__kdef *k, json_t *fields,
                         const char *purpose, const uint8_t entity[VELD_ID_BYTES],
                         uint8_t client[VELD_ID_BYTES], char team[VELD_TEAM_MAX + 1])
{
	const char *t = json_string_value(json_object_get(fields, "team"));
	const uint8_t *key;
	int rc;
	if (json_object_get(fields, "team") && (!t || !veld__label_valid(t, VELD_TEAM_MAX)))
		return veld__err(VELD_EINVAL, "team must be 1 to %d letters, digits, '-', '_', '.' or '@'",
		                 VELD_TEAM_MAX);
	snprintf(team, VELD_TEAM_MAX + 1, "%s", t ? t : s->team);
	if (strcmp(team, s->team) != 0 && !s->office) {
		veld__access_note(s, "create", "denied", NULL, purpose);
		return veld__err(VELD_EPERM, "a worker creates clients only for their own team");
	}
	json_object_del(fields, "team");
	memcpy(client, entity, VELD_ID_BYTES);
	if ((rc = veld__fields_check(s, k, fields, VELD_ZRM_DEFAULT, NULL, 1)) != VELD_OK ||
	    (rc = veld__client_key_new(s, client, team, &key)) != VELD_OK)
		return rc;
	return veld__keys_share(s, client, 1, team, key);
}

/* What a new record gets unless it says: the visit's worker and
 * life-domain version, the note's author (the acting user: not in the
 * schema), and each field's default in the schema. */
static int fill_defaults(veld_store *s, const struct veld__kdef *k, json_t *fields)
{
	if (strcmp(k->kind, "visit") == 0 && !json_object_get(fields, "worker"))
		json_object_set_new(fields, "worker", json_string(s->user));
	if (strcmp(k->kind, "visit") == 0 && !json_object_get(fields, "zrm_version"))
		json_object_set_new(fields, "zrm_version", json_string(VELD_ZRM_DEFAULT));
	if (strcmp(k->kind, "note") == 0 && !json_object_get(fields, "author"))
		json_object_set_new(fields, "author", json_string(s->user));
	return veld__fields_defaults(k, fields);
}

/* A new record (not a client) of a client the actor may touch; its
 * references name records of the same client. */
static int create_child(veld_store *s, const struct veld__kdef *k, json_t *fields,
                        const char *purpose, uint8_t client[VELD_ID_BYTES],
                        char team[VELD_TEAM_MAX + 1])
{
	const char *cid = json_string_value(json_object_get(fields, "client"));
	uint8_t cent[VELD_ID_BYTES];
	int rc;
	if (!cid)
		return veld__err(VELD_EINVAL, "a %s needs a \"client\" id", k->kind);
	if ((rc = veld__resolve(s, "client", cid, cent, client, team, NULL)) != VELD_OK)
		return rc;
	if (!veld__access_event(s, team, client, purpose, "create"))
		return VELD_EPERM;
	json_object_del(fields, "client");
	if ((rc = fill_defaults(s, k, fields)) != VELD_OK)
		return rc;
	return veld__fields_check(s, k, fields, veld__zrm_of(fields, NULL), client, 1);
}

int veld_record_create(veld_store *s, const char *kind, const char *fields_json,
                       const char *purpose, char **json_out)
{
	const struct veld__kdef *k;
	json_t *fields = NULL;
	uint8_t entity[VELD_ID_BYTES], client[VELD_ID_BYTES];
	char team[VELD_TEAM_MAX + 1];
	struct veld__tx tx;
	int rc = enter_kind(s, kind, &k, json_out);
	if (rc)
		return rc;
	if ((rc = veld__json_object(fields_json, &fields)) || (rc = veld__tx_begin(s, &tx)))
		goto out;
	veld__random_id(entity);
	rc = strcmp(kind, "client") == 0 ? create_client(s, k, fields, purpose, entity, client, team)
	                                 : create_child(s, k, fields, purpose, client, team);
	if (rc == VELD_OK) {
		/* Nothing anywhere precedes a record made in this write: its
		 * operations skip the merge's lookups (veld__op_write). */
		memcpy(s->fresh_entity, entity, VELD_ID_BYTES);
		s->fresh = 1;
		rc = write_fields(s, kind, entity, client, team, fields);
		s->fresh = 0;
	}
	if (rc == VELD_OK)
		rc = veld__audit(s, "create", "success", client, purpose);
	if (rc == VELD_OK)
		rc = answer_record(s, entity, json_out);
	rc = veld__access_finish(s, &tx, rc, json_out);
out:
	json_decref(fields);
	veld__leave(s);
	return rc;
}

/* ---- update, resolve, delete ------------------------------------------------------ */

static int append_only(const struct veld__kdef *k)
{
	if (k->append_only && strcmp(k->kind, "note") == 0)
		return veld__err(VELD_EPERM, "notes are append-only: amend with a new note instead");
	if (k->append_only)
		return veld__err(VELD_EPERM, "%s records are append-only: record a new one instead",
		                 k->kind);
	return VELD_OK;
}

/* An update or a resolution (event): check `fields` and write them to
 * record `id`, which the actor must be allowed to change. A resolution is
 * an ordinary write: it supersedes every current value of the field. */
static int change_record(veld_store *s, const struct veld__kdef *k, const char *id,
                         json_t *fields, const char *event, const char *purpose, char **json_out)
{
	struct veld__target t = {.rec = NULL};
	struct veld__tx tx;
	int rc = veld__tx_begin(s, &tx);
	if (rc != VELD_OK)
		return rc;
	rc = veld__access_open(s, k->kind, id, purpose, event, &t);
	if (rc == VELD_OK && json_object_size(fields) == 0)
		rc = veld__err(VELD_EINVAL, "nothing to change");
	if (rc == VELD_OK &&
	    (rc = veld__fields_check(s, k, fields, veld__zrm_of(fields, t.rec), t.client, 0)) == VELD_OK &&
	    (rc = write_fields(s, k->kind, t.entity, t.client, t.team, fields)) == VELD_OK &&
	    (rc = veld__audit(s, t.event, "success", t.client, purpose)) == VELD_OK)
		rc = answer_record(s, t.entity, json_out);
	json_decref(t.rec);
	return veld__access_finish(s, &tx, rc, json_out);
}

int veld_record_update(veld_store *s, const char *kind, const char *id, const char *fields_json,
                       const char *purpose, char **json_out)
{
	const struct veld__kdef *k;
	json_t *fields = NULL;
	int rc = enter_kind(s, kind, &k, json_out);
	if (rc)
		return rc;
	if ((rc = veld__json_object(fields_json, &fields)) == VELD_OK &&
	    (rc = append_only(k)) == VELD_OK)
		rc = change_record(s, k, id, fields, "update", purpose, json_out);
	json_decref(fields);
	veld__leave(s);
	return rc;
}

/* The field and value a resolution writes, checked before anything is
 * read: {field: value}. */
static int resolution(const struct veld__kdef *k, const char *field, const char *value_json,
                      json_t **out)
{
	json_error_t e;
	json_t *value;
	int rc;
	if (!field || !veld__field_known(k, field))
		return veld__err(VELD_EINVAL, "%s has no field '%s'", k->kind, field ? field : "");
	if ((rc = append_only(k)) != VELD_OK)
		return rc;
	if (!value_json || !(value = json_loads(value_json, JSON_DECODE_ANY, &e)))
		return veld__err(VELD_EINVAL, "the value is not valid JSON");
	*out = json_object();
	json_object_set_new(*out, field, value);
	return VELD_OK;
}

int veld_conflict_resolve(veld_store *s, const char *kind, const char *id, const char *field,
                          const char *value_json, const char *purpose)
{
	const struct veld__kdef *k;
	json_t *one = NULL;
	int rc = enter_kind(s, kind, &k, NULL);
	if (rc)
		return rc;
	if ((rc = resolution(k, field, value_json, &one)) == VELD_OK)
		rc = change_record(s, k, id, one, "resolve", purpose, NULL);
	json_decref(one);
	veld__leave(s);
	return rc;
}

int veld_record_delete(veld_store *s, const char *kind, const char *id, const char *purpose)
{
	const struct veld__kdef *k;
	struct veld__target t = {.rec = NULL};
	struct veld__tx tx;
	int rc = enter_kind(s, kind, &k, NULL);
	if (rc)
		return rc;
	if (k->append_only) {
		rc = veld__err(VELD_EPERM, "%s records are append-only and cannot be deleted", k->kind);
		goto out;
	}
	if (strcmp(kind, "client") == 0) {
		rc = veld__err(VELD_EPERM, "a client is removed by erasure (veld client erase), not deletion");
		goto out;
	}
	if ((rc = veld__tx_begin(s, &tx)) != VELD_OK)
		goto out;
	/* A tombstone: an operation on the reserved field, without a value. */
	if ((rc = veld__access_open(s, kind, id, purpose, "delete", &t)) == VELD_OK &&
	    (rc = veld__op_write(s, kind, t.entity, t.client, t.team, VELD_TOMBSTONE_FIELD, NULL,
	                         0)) == VELD_OK)
		rc = veld__audit(s, t.event, "success", t.client, purpose);
	rc = veld__access_finish(s, &tx, rc, NULL);
out:
	json_decref(t.rec);
	veld__leave(s);
	return rc;
}

/* ---- read ---------------------------------------------------------------------- */

int veld_record_get(veld_store *s, const char *kind, const char *id, const char *purpose,
                    char **json_out)
{
	const struct veld__kdef *k;
	struct veld__target t = {.rec = NULL};
	struct veld__tx tx;
	int rc = veld__enter_json(s, json_out, 1);
	if (rc)
		return rc;
	if ((rc = veld__kind_get(s, kind, &k)) || (rc = veld__tx_begin(s, &tx)))
		goto out;
	rc = veld__access_open(s, kind, id, purpose, "read", &t);
	if (rc == VELD_OK && strcmp(kind, "note") == 0)
		rc = veld__note_amended_by(s, t.client, t.rec);
	if (rc == VELD_OK)
		rc = veld__audit(s, t.event, "success", t.client, purpose);
	veld__access_failed(s, rc, "read", t.client, purpose);
	if (rc == VELD_OK)
		rc = veld__json_answer(t.rec, json_out);
	rc = veld__access_finish(s, &tx, rc, json_out);
out:
	json_decref(t.rec);
	veld__leave(s);
	return rc;
}
