/* progress.c - a client's ZRM scores over time (veld_client_progress).
 *
 * A visit scores some life domains (its `scores` field: code -> 1..5).
 * Progress turns the client's visits around: per domain, every score it
 * got, oldest first, and the first, the latest and the change between
 * them. A visit's scores count at the time the visit started, else the
 * time it was planned, else when it was recorded. Visits are ordered by
 * that instant (a time without a zone counts as UTC), a tie by visit id, so
 * the same visits always give the same series on every device.
 *
 * The visits are read by the list veld_record_list runs (listing.h), inside
 * this call's transaction: the same access check, the same access-log
 * entries as listing the client's visits. Nothing else of the client is
 * read, and no error message carries the id it was given: an app may pass
 * a wrong value (a phone number is hex digits too). */
#include "listing.h"
#include "kinds.h"
#include "access.h"
#include "error.h"
#include "records.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The life-domain labels, in a version's order. zrm_domains is the
 * schema's reference data (kinds.c checks codes against it); this reads it
 * only. A code scored under another version is labelled from the newest
 * version that has it. */
enum progress_stmt { PG_DOMAINS, PG_LABEL };
static const char *const progress_sql[] = {
	[PG_DOMAINS] = "SELECT code, label FROM zrm_domains WHERE version = ?1 ORDER BY ord",
	[PG_LABEL] = "SELECT label FROM zrm_domains WHERE code = ?1 ORDER BY version DESC LIMIT 1",
};
static const struct veld__sqltab progress_tab = VELD_SQLTAB(VELD_SQL_PROGRESS, progress_sql);

/* ---- when a visit's scores count ---------------------------------------------- */


/* Milliseconds since the epoch of a time the store accepted
 * (YYYY-MM-DDTHH:MM[:SS[.fff]][Z|+HH:MM|-HH:MM]; no zone is read as UTC).
 * 0 if it does not parse: it then sorts first. */
static int64_t instant_ms(const char *t)
{
	int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0, n = 0;
	int64_t off = 0;
	const char *p;
	if (t == NULL || sscanf(t, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
		return 0;
	p = t + 10;
	if (*p == 'T' || *p == ' ') {
		if (sscanf(p + 1, "%2d:%2d%n", &h, &mi, &n) != 2)
			return 0;
		p += 1 + n;
		if (*p == ':' && sscanf(p + 1, "%2d%n", &sec, &n) == 1) {
			p += 1 + n;
			if (*p == '.') {
				int scale = 100;
				for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
					ms += scale > 0 ? (*p - '0') * scale : 0;
			}
		}
		if ((*p == '+' || *p == '-') && strlen(p) == 6) {
			off = ((int64_t)atoi(p + 1) * 60 + atoi(p + 4)) * 60000;
			if (*p == '+')
				off = -off;
		}
	}
	return ((veld__days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec)
	        * 1000 + ms + off);
}

/* The time a visit's scores are for, as the visit holds it: started, else
 * planned, else when it was recorded. */
static const char *visit_time(json_t *visit)
{
	static const char *const keys[] = {"started", "planned", "created"};
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
		const char *t = json_string_value(json_object_get(visit, keys[i]));
		if (t)
			return t;
	}
	return "";
}

/* ---- the client's scored visits, oldest first ------------------------------------ */

struct scored {
	json_t *visit; /* borrowed from the list */
	const char *id, *at, *zrm;
	int64_t ms;
};

static int by_instant(const void *a, const void *b)
{
	const struct scored *x = a, *y = b;
	if (x->ms != y->ms)
		return x->ms < y->ms ? -1 : 1;
	return strcmp(x->id, y->id);
}

/* The visits of `visits` that have scores into rows (room for every
 * visit), oldest first; returns how many. */
static size_t scored_visits(json_t *visits, struct scored *rows)
{
	size_t i, n = 0;
	json_t *v;
	json_array_foreach(visits, i, v) {
		json_t *sc = json_object_get(v, "scores");
		const char *zrm = json_string_value(json_object_get(v, "zrm_version"));
		if (!json_is_object(sc) || json_object_size(sc) == 0)
			continue;
		rows[n].visit = v;
		rows[n].id = json_string_value(json_object_get(v, "id"));
		rows[n].at = visit_time(v);
		rows[n].zrm = zrm ? zrm : VELD_ZRM_DEFAULT;
		rows[n].ms = instant_ms(rows[n].at);
		n++;
	}
	qsort(rows, n, sizeof *rows, by_instant);
	return n;
}

/* Each score of a visit onto its domain's series in by_code ({code:
 * [points]}): visits come oldest first, so every series is too. */
static void add_points(json_t *by_code, const struct scored *row)
{
	const char *code;
	json_t *score, *series;
	json_object_foreach(json_object_get(row->visit, "scores"), code, score) {
		if (!json_is_integer(score))
			continue; /* the store wrote 1..5; nothing else is a score */
		if (!(series = json_object_get(by_code, code)))
			json_object_set_new(by_code, code, series = json_array());
		json_array_append_new(series, json_pack("{s:s,s:O,s:s}", "at", row->at, "score", score,
		                                        "visit", row->id));
	}
}

/* ---- per domain ------------------------------------------------------------------- */

static json_t *domain_entry(const char *code, const char *label, json_t *series)
{
	json_t *first = json_array_get(series, 0);
	json_t *latest = json_array_get(series, json_array_size(series) - 1);
	json_int_t change = json_integer_value(json_object_get(latest, "score")) -
	                    json_integer_value(json_object_get(first, "score"));
	return json_pack("{s:s,s:s,s:O,s:O,s:I,s:O}", "code", code, "label", label, "first", first,
	                 "latest", latest, "change", change, "series", series);
}

/* Move the series of `code` (if it was scored) from by_code onto domains. */
static void take_domain(json_t *by_code, const char *code, const char *label, json_t *domains)
{
	json_t *series = json_object_get(by_code, code);
	if (!series)
		return;
	json_array_append_new(domains, domain_entry(code, label, series));
	json_object_del(by_code, code);
}

/* The label of a code that is not in the version shown (the newest version
 * that has it, else the code itself) into buf. */
static int other_label(veld_store *s, const char *code, char *buf, size_t cap)
{
	sqlite3_stmt *st;
	int rc = veld__sql(s, &progress_tab, PG_LABEL, &st);
	if (rc != VELD_OK)
		return rc;
	sqlite3_bind_text(st, 1, code, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	snprintf(buf, cap, "%s", rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : code);
	if (rc == SQLITE_ROW)
		rc = sqlite3_step(st); /* LIMIT 1: done */
	return veld__sql_done(st, rc, "reading a life domain");
}

/* The scored domains onto `domains`: in the order of ZRM `version`, then
 * any code of another version in the order it was first scored. */
static int domains_in_order(veld_store *s, const char *version, json_t *by_code, json_t *domains)
{
	sqlite3_stmt *st;
	char label[128];
	const char *code;
	json_t *series;
	int rc = veld__sql(s, &progress_tab, PG_DOMAINS, &st);
	if (rc != VELD_OK)
		return rc;
	sqlite3_bind_text(st, 1, version, -1, SQLITE_TRANSIENT);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		take_domain(by_code, (const char *)sqlite3_column_text(st, 0),
		            (const char *)sqlite3_column_text(st, 1), domains);
	if ((rc = veld__sql_done(st, rc, "reading the life domains")) != VELD_OK)
		return rc;
	/* What is left was scored under another version only. */
	json_object_foreach(by_code, code, series) {
		if ((rc = other_label(s, code, label, sizeof label)) != VELD_OK)
			return rc;
		json_array_append_new(domains, domain_entry(code, label, series));
	}
	return VELD_OK;
}

/* ---- the answer ------------------------------------------------------------------- */

/* The document of veld_client_progress from the client's visits. */
static int progress_doc(veld_store *s, const char *client, json_t *visits, json_t **doc)
{
	struct scored *rows = calloc(json_array_size(visits) + 1, sizeof *rows);
	json_t *by_code = json_object(), *list = json_array(), *domains = json_array();
	const char *version = VELD_ZRM_DEFAULT;
	size_t n;
	int rc = VELD_ENOMEM;
	if (!rows || !by_code || !list || !domains)
		goto out;
	n = scored_visits(visits, rows);
	for (size_t i = 0; i < n; i++) {
		add_points(by_code, &rows[i]);
		json_array_append_new(list, json_pack("{s:s,s:s,s:s}", "visit", rows[i].id,
		                                      "at", rows[i].at, "zrm_version", rows[i].zrm));
	}
	if (n > 0)
		version = rows[n - 1].zrm; /* the version the client is scored in now */
	if ((rc = domains_in_order(s, version, by_code, domains)) != VELD_OK)
		goto out;
	*doc = json_pack("{s:s,s:s,s:O,s:O}", "client", client, "zrm_version", version,
	                 "visits", list, "domains", domains);
	rc = *doc ? VELD_OK : VELD_ENOMEM;
out:
	free(rows);
	json_decref(by_code);
	json_decref(list);
	json_decref(domains);
	return rc == VELD_ENOMEM ? veld__err(rc, "out of memory") : rc;
}

/* The client asked for, by id or unique prefix. The message never repeats
 * what was given: it may not be an id at all. */
static int find_client(veld_store *s, const char *id, uint8_t client[VELD_ID_BYTES])
{
	uint8_t entity[VELD_ID_BYTES];
	int rc = veld__resolve(s, "client", id, entity, client, NULL, NULL);
	switch (rc) {
	case VELD_ENOTFOUND:
		return veld__err(rc, "no client with that id");
	case VELD_ESHREDDED:
		return veld__err(rc, "that client was erased");
	case VELD_EINVAL:
		return veld__err(rc, "a client id is 4 to 32 hex digits that name one client");
	default:
		return rc;
	}
}

/* The visits of the client (resolved by find_client), listed as
 * veld_record_list lists them. */
static int client_visits(veld_store *s, const char *client, const char *purpose, json_t **out)
{
	const struct veld__kdef *k;
	json_t *filter = json_pack("{s:s}", "client", client);
	int rc;
	/* Without the filter the list would be every client's visits. */
	if (!filter)
		return veld__err(VELD_ENOMEM, "out of memory");
	if ((rc = veld__kind_get(s, "visit", &k)) == VELD_OK)
		rc = veld__record_list(s, k, filter, purpose, out);
	json_decref(filter);
	return rc;
}

int veld_client_progress(veld_store *s, const char *client_id, const char *purpose,
                         char **json_out)
{
	uint8_t client[VELD_ID_BYTES];
	char hex[2 * VELD_ID_BYTES + 1];
	json_t *visits = NULL, *doc = NULL;
	struct veld__tx tx;
	int rc = veld__enter_json(s, json_out, 1);
	if (rc)
		return rc;
	if ((rc = veld__tx_begin(s, &tx)) != VELD_OK)
		goto out;
	if ((rc = find_client(s, client_id, client)) == VELD_OK) {
		veld__hex(hex, client, VELD_ID_BYTES);
		if ((rc = client_visits(s, hex, purpose, &visits)) == VELD_OK &&
		    (rc = progress_doc(s, hex, visits, &doc)) == VELD_OK)
			rc = veld__json_answer(doc, json_out);
	}
	rc = veld__access_finish(s, &tx, rc, json_out);
out:
	json_decref(visits);
	json_decref(doc);
	veld__leave(s);
	return rc;
}
