/* export.c - everything this store holds about one client, for the client
 * (AVG art. 15, the right of access): the client record, every other
 * record by kind, and every access-log entry about the client, including
 * the export itself. */
#include "access.h"
#include "error.h"
#include "hlc.h"
#include "kinds.h"
#include "recbuild.h"

#include <string.h>

enum export_stmt { EX_RECORDS };
static const char *const export_sql[] = {
	[EX_RECORDS] = "SELECT entity, kind FROM entities WHERE client = ?1 AND kind != 'client'"
	               " ORDER BY kind, created, entity",
};
static const struct veld__sqltab export_tab = VELD_SQLTAB(VELD_SQL_EXPORT, export_sql);

/* Every live record of a client but the client record into by_kind, as
 * {kind: [records, oldest first]}; every kind has its list, if empty. */
static int client_records(veld_store *s, const uint8_t client[VELD_ID_BYTES], json_t *by_kind)
{
	sqlite3_stmt *st;
	int rc = veld__sql(s, &export_tab, EX_RECORDS, &st);
	if (rc != VELD_OK)
		return rc;
	sqlite3_bind_blob(st, 1, client, VELD_ID_BYTES, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *kind = (const char *)sqlite3_column_text(st, 1);
		json_t *rec = NULL, *list = json_object_get(by_kind, kind);
		int brc = veld__record_build(s, sqlite3_column_blob(st, 0), &rec);
		if (brc != VELD_OK) {
			sqlite3_reset(st);
			return brc;
		}
		if (!rec)
			continue; /* deleted */
		if (!list)
			json_object_set_new(by_kind, kind, list = json_array());
		json_array_append_new(list, rec);
	}
	if ((rc = veld__sql_done(st, rc, "reading a client's records")) != VELD_OK)
		return rc;
	for (size_t i = 0; i < s->schema->nkinds; i++) {
		const char *kind = s->schema->kinds[i].kind;
		if (strcmp(kind, "client") != 0 && !json_object_get(by_kind, kind))
			json_object_set_new(by_kind, kind, json_array());
	}
	return VELD_OK;
}

/* The document: the client, its records, the access log, and who
 * exported it when. The export is logged before the log is read, so it is
 * in the document. */
static int export_doc(veld_store *s, const struct veld__target *t, const char *purpose,
                      char **json_out)
{
	json_t *by_kind = json_object(), *log = json_array(), *doc = NULL;
	char chex[2 * VELD_ID_BYTES + 1], dhex[2 * VELD_ID_BYTES + 1], at[32];
	int rc;
	veld__hex(chex, t->client, VELD_ID_BYTES);
	veld__hex(dhex, s->device, VELD_ID_BYTES);
	if ((rc = client_records(s, t->client, by_kind)) == VELD_OK &&
	    (rc = veld__audit(s, t->event, "success", t->client, purpose)) == VELD_OK &&
	    (rc = veld__audit_about(s, chex, log)) == VELD_OK) {
		veld__iso8601(at, veld__hlc_now_ms());
		doc = json_pack("{s:O,s:O,s:O,s:s,s:{s:s,s:s,s:s}}", "client", t->rec, "records", by_kind,
		                "access_log", log, "exported_at", at, "exported_by", "user", s->user,
		                "role", s->role, "device", dhex);
		rc = doc ? veld__json_answer(doc, json_out) : veld__err(VELD_ENOMEM, "out of memory");
	}
	json_decref(doc);
	json_decref(by_kind);
	json_decref(log);
	return rc;
}

int veld_client_export(veld_store *s, const char *client_id, const char *purpose,
                       char **json_out)
{
	struct veld__target t = {.rec = NULL};
	struct veld__tx tx;
	int rc = veld__enter_json(s, json_out, 1);
	if (rc)
		return rc;
	if ((rc = veld__tx_begin(s, &tx)) != VELD_OK)
		goto out;
	rc = veld__access_open(s, "client", client_id, purpose, "export", &t);
	if (rc == VELD_OK)
		rc = export_doc(s, &t, purpose, json_out);
	veld__access_failed(s, rc, "export", t.client, purpose);
	rc = veld__access_finish(s, &tx, rc, json_out);
out:
	json_decref(t.rec);
	veld__leave(s);
	return rc;
}
