/* listing.c - lists across records: the records of a kind (filtered and
 * searched) and the conflicts waiting for a person.
 *
 * A listing shows a worker their own team's records only; another team's
 * appear when asked for by client id with a break-the-glass purpose. Every
 * client whose data a listing shows gets one access-log entry. */
#include "listing.h"
#include "access.h"
#include "error.h"
#include "recbuild.h"
#include "records.h"

#include <string.h>

enum listing_stmt { LS_RECORDS, LS_CLIENT_RECORDS, LS_CONFLICTS };
static const char *const listing_sql[] = {
	/* Two statements, not one with "?2 IS NULL OR client = ?2": the OR
	 * keeps SQLite from using the index on (kind, client), and one
	 * client's records would cost a scan of every client's. */
	/* Everyone's: a client the office moved to another team once, under its
	 * new id (the old one answers when asked for by id). */
	[LS_RECORDS] = "SELECT entity, team FROM entities WHERE kind = ?1"
	               " AND client NOT IN (SELECT client FROM moved_clients) ORDER BY created, entity",
	[LS_CLIENT_RECORDS] = "SELECT entity, team FROM entities WHERE kind = ?1 AND client = ?2"
	                      " ORDER BY created, entity",
	/* ?2 (the office): every team's. */
	[LS_CONFLICTS] = "SELECT DISTINCT c.entity FROM conflicts c JOIN entities e ON e.entity = c.entity"
	                 " WHERE e.team = ?1 OR ?2 ORDER BY e.created",
};
static const struct veld__sqltab listing_tab = VELD_SQLTAB(VELD_SQL_LISTING, listing_sql);

/* A veld_record_list query: the kind and the filter. */
struct list_query {
	const struct veld__kdef *k;
	const char *query, *status; /* NULL: any */
	const char *cid;            /* the client asked for, or NULL */
	uint8_t client[VELD_ID_BYTES];
	const char *purpose;
	const char *const *fields; /* the fields to read; NULL: all */
};

/* Does the record pass the filter's status and search? */
static int list_match(const struct list_query *q, json_t *rec)
{
	const char *status = json_string_value(json_object_get(rec, "status"));
	if (q->status && (!status || strcmp(status, q->status) != 0))
		return 0;
	return !q->query || veld__kind_search(q->k, rec, q->query);
}

/* One row of LS_RECORDS or LS_CLIENT_RECORDS into arr, with the access
 * event to log for its client in `clients` ({client id: event}). */
static int list_row(veld_store *s, const struct list_query *q, sqlite3_stmt *st, json_t *arr,
                    json_t *clients)
{
	const char *team = (const char *)sqlite3_column_text(st, 1), *event;
	json_t *rec = NULL;
	int rc;
	/* Other teams' records only when asked for by client id (whose
	 * access the caller checked). */
	if (!q->cid && strcmp(team, s->team) != 0 && !s->office)
		return VELD_OK;
	rc = veld__record_build_fields(s, sqlite3_column_blob(st, 0), q->fields, &rec);
	if (rc == VELD_ESHREDDED || rc == VELD_ENOTFOUND)
		return VELD_OK; /* erased or key not here: nothing to show */
	if (rc != VELD_OK || !rec)
		return rc; /* an error, or deleted */
	if (!list_match(q, rec)) {
		json_decref(rec);
		return VELD_OK;
	}
	event = q->query ? "search" : "read";
	if (q->cid && !(event = veld__access_event(s, team, q->client, q->purpose, event))) {
		json_decref(rec);
		return VELD_EPERM;
	}
	json_object_set_new(clients,
		json_string_value(json_object_get(rec, strcmp(q->k->kind, "client") ? "client" : "id")),
		json_string(event));
	json_array_append_new(arr, rec);
	return VELD_OK;
}

static int list_rows(veld_store *s, const struct list_query *q, json_t *arr, json_t *clients)
{
	sqlite3_stmt *st;
	int rc = veld__sql(s, &listing_tab, q->cid ? LS_CLIENT_RECORDS : LS_RECORDS, &st);
	if (rc != VELD_OK)
		return rc;
	sqlite3_bind_text(st, 1, q->k->kind, -1, SQLITE_STATIC);
	if (q->cid)
		sqlite3_bind_blob(st, 2, q->client, VELD_ID_BYTES, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = list_row(s, q, st, arr, clients)) != VELD_OK) {
			sqlite3_reset(st);
			return rc;
		}
	}
	return veld__sql_done(st, rc, "listing records");
}

int veld__list_records(veld_store *s, const char *kind, const uint8_t *client,
                       const char *const *fields, json_t *arr, json_t *clients)
{
	struct list_query q = {.fields = fields};
	char cid[2 * VELD_ID_BYTES + 1];
	int rc = veld__kind_get(s, kind, &q.k);
	if (rc != VELD_OK)
		return rc;
	if (client) {
		veld__hex(cid, client, VELD_ID_BYTES);
		memcpy(q.client, client, VELD_ID_BYTES);
		q.cid = cid;
	}
	return list_rows(s, &q, arr, clients);
}

int veld__list_log(veld_store *s, json_t *clients, const char *purpose)
{
	const char *cid;
	json_t *event;
	int rc;
	json_object_foreach(clients, cid, event) {
		uint8_t c[VELD_ID_BYTES];
		if (veld__unhex(c, VELD_ID_BYTES, cid) == 0 &&
		    (rc = veld__audit(s, json_string_value(event), "success", c, purpose)) != VELD_OK)
			return rc;
	}
	return VELD_OK;
}

/* One access-log entry per client whose data was shown; a search that
 * showed nothing is logged too. */
static int list_log(veld_store *s, const struct list_query *q, json_t *clients)
{
	int rc = veld__list_log(s, clients, q->purpose);
	if (rc == VELD_OK && json_object_size(clients) == 0 && q->query)
		return veld__audit(s, "search", "success", NULL, q->purpose);
	return rc;
}

/* Records of one client: the actor must be allowed to read the client. */
static int list_client(veld_store *s, struct list_query *q)
{
	uint8_t ent[VELD_ID_BYTES];
	char team[VELD_TEAM_MAX + 1];
	int rc = veld__resolve(s, "client", q->cid, ent, q->client, team, NULL);
	if (rc == VELD_OK && !veld__access_event(s, team, q->client, q->purpose, "read"))
		rc = VELD_EPERM;
	return rc;
}

int veld__record_list(veld_store *s, const struct veld__kdef *k, json_t *filter,
                      const char *purpose, json_t **out)
{
	struct list_query q = {.k = k, .purpose = purpose};
	json_t *arr = json_array(), *clients = json_object();
	int rc = VELD_OK;
	q.query = json_string_value(json_object_get(filter, "query"));
	q.status = json_string_value(json_object_get(filter, "status"));
	q.cid = json_string_value(json_object_get(filter, "client"));
	if (q.cid)
		rc = list_client(s, &q);
	if (rc == VELD_OK)
		rc = list_rows(s, &q, arr, clients);
	if (rc == VELD_OK && strcmp(k->kind, "note") == 0)
		veld__notes_amended_by(arr);
	if (rc == VELD_OK)
		rc = list_log(s, &q, clients);
	json_decref(clients);
	if (rc != VELD_OK) {
		json_decref(arr);
		arr = NULL;
	}
	*out = arr;
	return rc;
}

int veld_record_list(veld_store *s, const char *kind, const char *filter_json,
                     const char *purpose, char **json_out)
{
	const struct veld__kdef *k;
	json_t *filter = NULL, *arr = NULL;
	struct veld__tx tx;
	int rc = veld__enter_json(s, json_out, 1);
	if (rc)
		return rc;
	if ((rc = veld__kind_get(s, kind, &k)))
		goto out;
	if (filter_json && *filter_json && (rc = veld__json_object(filter_json, &filter)) != VELD_OK)
		goto out;
	if ((rc = veld__tx_begin(s, &tx)) != VELD_OK)
		goto out;
	if ((rc = veld__record_list(s, k, filter, purpose, &arr)) == VELD_OK)
		rc = veld__json_answer(arr, json_out);
	rc = veld__access_finish(s, &tx, rc, json_out);
out:
	json_decref(filter);
	json_decref(arr);
	veld__leave(s);
	return rc;
}

/* The conflicts of one record (built as `rec`) onto arr, one item a field;
 * logged as a read of the record's client. */
static int record_conflicts(veld_store *s, json_t *rec, json_t *arr, const char *purpose)
{
	json_t *c = json_object_get(rec, "conflicts"), *item;
	const char *cid = json_string_value(json_object_get(rec, json_object_get(rec, "client")
	                                                    ? "client" : "id"));
	uint8_t client[VELD_ID_BYTES];
	size_t i;
	if (!c)
		return VELD_OK;
	json_array_foreach(c, i, item) {
		json_array_append_new(arr, json_pack("{s:O,s:O,s:s,s:O,s:O,s:O}",
			"type", json_object_get(rec, "type"), "id", json_object_get(rec, "id"),
			"client", cid, "field", json_object_get(item, "field"),
			"winner", json_array_get(json_object_get(item, "values"), 0),
			"values", json_object_get(item, "values")));
	}
	if (veld__unhex(client, VELD_ID_BYTES, cid) != 0)
		return VELD_OK;
	return veld__audit(s, "read", "success", client, purpose);
}

static int conflict_rows(veld_store *s, json_t *arr, const char *purpose)
{
	sqlite3_stmt *st;
	int rc = veld__sql(s, &listing_tab, LS_CONFLICTS, &st);
	if (rc != VELD_OK)
		return rc;
	sqlite3_bind_text(st, 1, s->team, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, s->office);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *rec = NULL;
		if ((rc = veld__record_build(s, sqlite3_column_blob(st, 0), &rec)) == VELD_OK && rec)
			rc = record_conflicts(s, rec, arr, purpose);
		json_decref(rec);
		if (rc != VELD_OK) {
			sqlite3_reset(st);
			return rc;
		}
	}
	return veld__sql_done(st, rc, "listing conflicts");
}

int veld_conflicts_list(veld_store *s, const char *purpose, char **json_out)
{
	json_t *arr = json_array();
	struct veld__tx tx;
	int rc = veld__enter_json(s, json_out, 1);
	if (rc) {
		json_decref(arr);
		return rc;
	}
	if ((rc = veld__tx_begin(s, &tx)) == VELD_OK) {
		if ((rc = conflict_rows(s, arr, purpose)) == VELD_OK)
			rc = veld__json_answer(arr, json_out);
		rc = veld__access_finish(s, &tx, rc, json_out);
	}
	json_decref(arr);
	veld__leave(s);
	return rc;
}
