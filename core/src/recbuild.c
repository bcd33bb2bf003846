/* recbuild.c - a record's JSON, built from the operation log (recbuild.h).
 *
 * The heads of a record's fields come ordered by field; the heads of one
 * field are put in order here (highest hlc, then device, first) rather than
 * by SQLite, which would build a sorter for every record read, though a
 * field nearly always has one head. The first head of a field gives its
 * value, and a field with more than one head becomes an entry in the
 * record's "conflicts". Values are opened with the version of the client's
 * data key they were sealed with, and authenticated against their place
 * (entity, field, device, seq), so a value moved to another record or field
 * does not open. */
#include "recbuild.h"
#include "error.h"
#include "hlc.h"
#include "op.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum recbuild_stmt { RB_ENTITY, RB_HEADS, RB_NOTES };
static const char *const recbuild_sql[] = {
	[RB_ENTITY] = "SELECT kind, client, team, created FROM entities WHERE entity = ?1",
	[RB_HEADS] = "SELECT field, device, seq, hlc, value, kv FROM ops WHERE entity = ?1 AND head = 1"
	             " ORDER BY field",
	[RB_NOTES] = "SELECT entity FROM entities WHERE kind = 'note' AND client = ?1 ORDER BY created",
};
static const struct veld__sqltab recbuild_tab = VELD_SQLTAB(VELD_SQL_RECBUILD, recbuild_sql);

/* The value of a head (a row of RB_HEADS), opened; NULL for a tombstone. */
static int open_value(veld_store *s, const uint8_t entity[VELD_ID_BYTES], const char *field,
                      const uint8_t client[VELD_ID_BYTES], sqlite3_stmt *st, json_t **out)
{
	const uint8_t *key, *ct = sqlite3_column_blob(st, 4);
	const char *why;
	char ehex[33];
	int rc;

	*out = NULL;
	if (!ct) /* tombstone, or purged from this store */
		return VELD_OK;
	if ((rc = veld__client_key(s, client, (uint64_t)sqlite3_column_int64(st, 5), &key)) != VELD_OK)
		return rc;
	rc = veld__value_open(ct, (size_t)sqlite3_column_bytes(st, 4), entity, field,
	                      sqlite3_column_blob(st, 1), (uint64_t)sqlite3_column_int64(st, 2), key,
	                      out, &why);
	if (rc == VELD_ECORRUPT && why) {
		veld__hex(ehex, entity, VELD_ID_BYTES);
		return veld__err(VELD_ECORRUPT, "record %s field '%s' %s", ehex, field, why);
	}
	return rc;
}

/* A head of the field at hand: what orders it, and what a conflict lists. */
struct head {
	uint64_t hlc, seq;
	uint8_t device[VELD_ID_BYTES];
	json_t *value; /* JSON null for a value that was removed */
};

/* A record being built: its JSON, and the heads of the field at hand. */
struct build {
	json_t *rec, *conflicts;
	struct head *heads;             /* the current field's heads, in no order */
	size_t nheads, cap;
	char field[VELD_FIELD_MAX + 1]; /* the current field */
	uint64_t updated;               /* the newest stamp of any head */
	int deleted;
	const char *const *fields;      /* the fields to open; NULL: all */
};

/* The winner first: the highest stamp, then the highest device. */
static int head_order(const void *pa, const void *pb)
{
	const struct head *a = pa, *b = pb;
	if (a->hlc != b->hlc)
		return a->hlc > b->hlc ? -1 : 1;
	return -memcmp(a->device, b->device, VELD_ID_BYTES);
}

/* A conflict's list of values, winner first. */
static json_t *head_values(const struct head *h, size_t n)
{
	json_t *values = json_array();
	char dev[33], at[32];
	for (size_t i = 0; i < n; i++) {
		veld__hex(dev, h[i].device, VELD_ID_BYTES);
		veld__iso8601(at, veld__hlc_ms(h[i].hlc));
		json_array_append_new(values, json_pack("{s:O,s:s,s:I,s:s}", "value", h[i].value,
			"device", dev, "seq", (json_int_t)h[i].seq, "at", at));
	}
	return values;
}

/* The field at hand is complete: its winner's value into the record, and
 * every head into "conflicts" when there is more than one. */
static void flush_field(struct build *b)
{
	if (b->nheads == 0)
		return;
	qsort(b->heads, b->nheads, sizeof *b->heads, head_order);
	if (!json_is_null(b->heads[0].value))
		json_object_set(b->rec, b->field, b->heads[0].value);
	if (b->nheads > 1) {
		if (!b->conflicts)
			b->conflicts = json_array();
		json_array_append_new(b->conflicts, json_pack("{s:s,s:o}", "field", b->field,
			"values", head_values(b->heads, b->nheads)));
	}
	for (size_t i = 0; i < b->nheads; i++)
		json_decref(b->heads[i].value);
	b->nheads = 0;
}

static int field_wanted(const struct build *b, const char *field)
{
	for (const char *const *f = b->fields; f && *f; f++)
		if (strcmp(*f, field) == 0)
			return 1;
	return !b->fields;
}

/* What `entities` holds of a record: the start of its JSON. */
static int record_start(veld_store *s, const uint8_t entity[VELD_ID_BYTES], struct build *b,
                        uint8_t client[VELD_ID_BYTES], uint64_t *created)
{
	sqlite3_stmt *st;
	char hex[33], at[32];
	const char *kind;
	int rc = veld__sql(s, &recbuild_tab, RB_ENTITY, &st);
	if (rc != VELD_OK)
		return rc;
	sqlite3_bind_blob(st, 1, entity, VELD_ID_BYTES, SQLITE_STATIC);
	veld__hex(hex, entity, VELD_ID_BYTES);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? veld__err(VELD_ENOTFOUND, "no record with id %s", hex)
		                         : veld__err_sqlite(rc, "reading a record");
	}
	kind = (const char *)sqlite3_column_text(st, 0);
	memcpy(client, sqlite3_column_blob(st, 1), VELD_ID_BYTES);
	*created = (uint64_t)sqlite3_column_int64(st, 3);
	b->rec = json_object();
	json_object_set_new(b->rec, "id", json_string(hex));
	/* "type", not "kind": visits and signals have a field named kind. */
	json_object_set_new(b->rec, "type", json_string(kind));
	if (strcmp(kind, "client") != 0) {
		veld__hex(hex, client, VELD_ID_BYTES);
		json_object_set_new(b->rec, "client", json_string(hex));
	}
	json_object_set_new(b->rec, "team", json_string((const char *)sqlite3_column_text(st, 2)));
	sqlite3_reset(st);
	veld__iso8601(at, veld__hlc_ms(*created));
	json_object_set_new(b->rec, "created", json_string(at));
	return VELD_OK;
}

/* One head (a row of RB_HEADS) into the record. */
static int add_head(veld_store *s, const uint8_t entity[VELD_ID_BYTES],
                    const uint8_t client[VELD_ID_BYTES], sqlite3_stmt *st, struct build *b)
{
	const char *field = (const char *)sqlite3_column_text(st, 0);
	uint64_t hlc = (uint64_t)sqlite3_column_int64(st, 3);
	json_t *v = NULL;
	struct head *h;
	int rc;

	if (hlc > b->updated)
		b->updated = hlc;
	if (strcmp(field, VELD_TOMBSTONE_FIELD) == 0) {
		b->deleted = 1;
		return VELD_OK;
	}
	if (sqlite3_column_type(st, 4) == SQLITE_NULL || !field_wanted(b, field))
		return VELD_OK; /* removed here by retention or the field policy, or not asked for */
	if ((rc = open_value(s, entity, field, client, st, &v)) != VELD_OK)
		return rc;
	if (strcmp(field, b->field) != 0) {
		flush_field(b);
		snprintf(b->field, sizeof b->field, "%s", field);
	}
	if (b->nheads == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 4;
		if (!(h = realloc(b->heads, cap * sizeof *h))) {
			json_decref(v);
			return veld__err(VELD_ENOMEM, "out of memory");
		}
		b->heads = h;
		b->cap = cap;
	}
	h = &b->heads[b->nheads++];
	h->hlc = hlc;
	h->seq = (uint64_t)sqlite3_column_int64(st, 2);
	memcpy(h->device, sqlite3_column_blob(st, 1), VELD_ID_BYTES);
	h->value = v ? v : json_null();
	return VELD_OK;
}

static int read_heads(veld_store *s, const uint8_t entity[VELD_ID_BYTES],
                      const uint8_t client[VELD_ID_BYTES], struct build *b)
{
	sqlite3_stmt *st;
	int rc = veld__sql(s, &recbuild_tab, RB_HEADS, &st);
	if (rc != VELD_OK)
		return rc;
	sqlite3_bind_blob(st, 1, entity, VELD_ID_BYTES, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = add_head(s, entity, client, st, b)) != VELD_OK) {
			sqlite3_reset(st);
			return rc;
		}
	}
	if ((rc = veld__sql_done(st, rc, "reading a record")) != VELD_OK)
		return rc;
	flush_field(b);
	return VELD_OK;
}

int veld__record_build(veld_store *s, const uint8_t entity[VELD_ID_BYTES], json_t **out)
{
	return veld__record_build_fields(s, entity, NULL, out);
}

int veld__record_build_fields(veld_store *s, const uint8_t entity[VELD_ID_BYTES],
                              const char *const *fields, json_t **out)
{
	struct build b;
	uint8_t client[VELD_ID_BYTES];
	uint64_t created = 0;
	char at[32];
	int rc;

	*out = NULL;
	memset(&b, 0, sizeof b);
	b.fields = fields;
	if ((rc = record_start(s, entity, &b, client, &created)) != VELD_OK)
		return rc;
	rc = read_heads(s, entity, client, &b);
	for (size_t i = 0; i < b.nheads; i++) /* left by a failure */
		json_decref(b.heads[i].value);
	free(b.heads);
	if (rc != VELD_OK || b.deleted) {
		json_decref(b.rec);
		json_decref(b.conflicts);
		return rc;
	}
	veld__iso8601(at, veld__hlc_ms(b.updated ? b.updated : created));
	json_object_set_new(b.rec, "updated", json_string(at));
	if (b.conflicts)
		json_object_set_new(b.rec, "conflicts", b.conflicts);
	*out = b.rec;
	return VELD_OK;
}

/* ---- amendments ----------------------------------------------------------------- */

void veld__notes_amended_by(json_t *notes)
{
	size_t i, j;
	json_t *n, *m;
	json_array_foreach(notes, i, n) {
		const char *id = json_string_value(json_object_get(n, "id"));
		json_array_foreach(notes, j, m) {
			const char *a = json_string_value(json_object_get(m, "amends"));
			if (a && id && strcmp(a, id) == 0) {
				json_t *by = json_object_get(n, "amended_by");
				if (!by)
					json_object_set_new(n, "amended_by", by = json_array());
				json_array_append(by, json_object_get(m, "id"));
			}
		}
	}
}

int veld__note_amended_by(veld_store *s, const uint8_t client[VELD_ID_BYTES], json_t *rec)
{
	sqlite3_stmt *st;
	json_t *all;
	int rc = veld__sql(s, &recbuild_tab, RB_NOTES, &st);
	if (rc != VELD_OK)
		return rc;
	sqlite3_bind_blob(st, 1, client, VELD_ID_BYTES, SQLITE_STATIC);
	all = json_array();
	json_array_append(all, rec);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *n = NULL;
		if ((rc = veld__record_build(s, sqlite3_column_blob(st, 0), &n)) != VELD_OK)
			break;
		if (n && json_equal(json_object_get(n, "amends"), json_object_get(rec, "id")))
			json_array_append(all, n);
		json_decref(n);
	}
	if (rc < 0)
		sqlite3_reset(st); /* a note failed to build; its message is set */
	else
		rc = veld__sql_done(st, rc, "reading notes");
	if (rc == VELD_OK)
		veld__notes_amended_by(all);
	json_decref(all);
	return rc;
}
