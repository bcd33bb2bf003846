/* records.c - clients, visits, notes, goals and signals.
 *
 * A record is an entity in the operation log; each of its fields is a
 * multi-value register whose value is JSON sealed under the client's data
 * key. The schema below is the single place that says which kinds and
 * fields exist and how each is checked (docs/data-model.md mirrors it). */
#include "records.h"
#include "error.h"
#include "hlc.h"
#include "op.h"
#include "policy.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum ftype { F_TEXT, F_DATE, F_DATETIME, F_ENUM, F_BOOL, F_DOMAINS, F_DOMAIN, F_SCORES, F_REF,
             F_CARE, F_HOUSING };
static const char *const type_names[] = {"text", "date", "datetime", "enum", "bool", "domains",
                                         "domain", "scores", "ref", "care_decision", "housing"};

#define REQ 1u    /* required at creation */
#define SEARCH 2u /* searched by a list query */

struct fdef {
	const char *name;
	enum ftype type;
	unsigned flags;
	const char *const *values; /* F_ENUM; F_REF: values[0] is the kind */
};

struct kdef {
	const char *kind;
	int append_only;
	const struct fdef *fields;
};

static const char *const care_status[] = {"beschermd_wonen", "beschermd_thuis", "time_out", NULL};
static const char *const visit_kind[] = {"home_visit", "phone", "no_show", "outreach", NULL};
static const char *const goal_status[] = {"open", "achieved", "stopped", NULL};
static const char *const signal_kind[] = {"rent_arrears", "neighbour_complaints", "relapse",
                                          "missed_visits", "time_out", "other", NULL};
static const char *const severity[] = {"low", "medium", "high", "critical", NULL};
static const char *const signal_status[] = {"open", "closed", NULL};
static const char *const ref_visit[] = {"visit", NULL};
static const char *const ref_note[] = {"note", NULL};

static const struct fdef client_fields[] = {
	{"name", F_TEXT, REQ | SEARCH, NULL},
	{"initials", F_TEXT, SEARCH, NULL},
	{"birth_date", F_DATE, 0, NULL},
	{"address", F_TEXT, SEARCH, NULL},
	{"phone", F_TEXT, 0, NULL},
	{"care_status", F_ENUM, 0, care_status},
	{"care_decision", F_CARE, 0, NULL},
	{"housing", F_HOUSING, 0, NULL},
	{"contact_person", F_TEXT, SEARCH, NULL},
	{NULL, 0, 0, NULL}};
static const struct fdef visit_fields[] = {
	{"kind", F_ENUM, REQ, visit_kind},
	{"worker", F_TEXT, 0, NULL},
	{"planned", F_DATETIME, 0, NULL},
	{"started", F_DATETIME, 0, NULL},
	{"ended", F_DATETIME, 0, NULL},
	{"zrm_version", F_TEXT, 0, NULL},
	{"domains", F_DOMAINS, 0, NULL},
	{"scores", F_SCORES, 0, NULL},
	{"actions", F_TEXT, SEARCH, NULL},
	{NULL, 0, 0, NULL}};
static const struct fdef note_fields[] = {
	{"text", F_TEXT, REQ | SEARCH, NULL},
	{"author", F_TEXT, 0, NULL},
	{"visit", F_REF, 0, ref_visit},
	{"tags", F_DOMAINS, 0, NULL},
	{"amends", F_REF, 0, ref_note},
	{NULL, 0, 0, NULL}};
static const struct fdef goal_fields[] = {
	{"domain", F_DOMAIN, REQ, NULL},
	{"description", F_TEXT, REQ | SEARCH, NULL},
	{"status", F_ENUM, 0, goal_status},
	{"review_date", F_DATE, 0, NULL},
	{NULL, 0, 0, NULL}};
static const struct fdef signal_fields[] = {
	{"kind", F_ENUM, REQ, signal_kind},
	{"severity", F_ENUM, REQ, severity},
	{"description", F_TEXT, SEARCH, NULL},
	{"follow_up", F_TEXT, SEARCH, NULL},
	{"status", F_ENUM, 0, signal_status},
	{"closed_at", F_DATETIME, 0, NULL},
	{NULL, 0, 0, NULL}};

static const struct kdef kinds[] = {
	{"client", 0, client_fields},
	{"visit", 0, visit_fields},
	{"note", 1, note_fields},
	{"goal", 0, goal_fields},
	{"signal", 0, signal_fields},
	{NULL, 0, NULL}};

#define DEFAULT_ZRM "2017"
#define BREAK_GLASS "break-glass:"

static const struct kdef *kind_def(const char *kind)
{
	for (const struct kdef *k = kinds; kind && k->kind; k++)
		if (strcmp(k->kind, kind) == 0)
			return k;
	return NULL;
}

static const struct fdef *field_def(const struct kdef *k, const char *name)
{
	for (const struct fdef *f = k->fields; f->name; f++)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

static int get_kind(const char *kind, const struct kdef **out)
{
	if (!(*out = kind_def(kind)))
		return veld__err(VELD_EINVAL, "unknown record kind (use client, visit, note, goal or signal)");
	return VELD_OK;
}

/* ---- validation ----------------------------------------------------------- */

static int days_in_month(int y, int m)
{
	static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return d[m - 1];
}

static int digits(const char *p, int n)
{
	for (int i = 0; i < n; i++)
		if (!isdigit((unsigned char)p[i]))
			return 0;
	return 1;
}

/* A YYYY-MM-DD prefix of v. */
static int valid_date_prefix(const char *v)
{
	int y, m, d;
	if (strlen(v) < 10 || !digits(v, 4) || v[4] != '-' || !digits(v + 5, 2) || v[7] != '-' ||
	    !digits(v + 8, 2))
		return 0;
	y = atoi(v);
	m = atoi(v + 5);
	d = atoi(v + 8);
	return y >= 1900 && y <= 2200 && m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

static int valid_date(const char *v)
{
	return strlen(v) == 10 && valid_date_prefix(v);
}

/* YYYY-MM-DDTHH:MM[:SS[.fff]][Z|+HH:MM|-HH:MM] */
static int valid_datetime(const char *v)
{
	const char *p = v + 16;
	if (strlen(v) < 16 || !valid_date_prefix(v) || (v[10] != 'T' && v[10] != ' ') || !digits(v + 11, 2) ||
	    v[13] != ':' || !digits(v + 14, 2) || atoi(v + 11) > 23 || atoi(v + 14) > 59)
		return 0;
	if (*p == ':') {
		if (!digits(p + 1, 2) || atoi(p + 1) > 60)
			return 0;
		p += 3;
		if (*p == '.') {
			p++;
			if (!isdigit((unsigned char)*p))
				return 0;
			while (isdigit((unsigned char)*p))
				p++;
		}
	}
	if (*p == 'Z')
		return p[1] == 0;
	if (*p == '+' || *p == '-')
		return digits(p + 1, 2) && p[3] == ':' && digits(p + 4, 2) && p[6] == 0;
	return *p == 0;
}

static int in_list(const char *const *vals, const char *v)
{
	for (; *vals; vals++)
		if (strcmp(*vals, v) == 0)
			return 1;
	return 0;
}

static int domain_known(veld_store *s, const char *version, const char *code)
{
	sqlite3_stmt *st = s->st[ST_DOMAIN_CHECK];
	int rc;
	sqlite3_bind_text(st, 1, version, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, code, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_ROW;
}

static int bad(const char *kind, const char *field, const char *what)
{
	return veld__err(VELD_EINVAL, "%s field '%s' %s", kind, field, what);
}

static int check_text(const struct kdef *k, const char *name, json_t *v, int allow_empty)
{
	if (!json_is_string(v))
		return bad(k->kind, name, "must be a string");
	if (json_string_length(v) > VELD_VALUE_MAX / 2)
		return bad(k->kind, name, "is too long");
	if (!allow_empty && json_string_length(v) == 0)
		return bad(k->kind, name, "must not be empty");
	if (strlen(json_string_value(v)) != json_string_length(v))
		return bad(k->kind, name, "must not contain NUL characters");
	return VELD_OK;
}

static int check_value(veld_store *s, const struct kdef *k, const struct fdef *f, json_t *v,
                       const char *zrm)
{
	const char *str = json_string_value(v);
	size_t i;
	json_t *e;
	const char *key;

	if (json_is_null(v))
		return (f->flags & REQ) ? bad(k->kind, f->name, "is required") : VELD_OK;
	switch (f->type) {
	case F_TEXT:
		return check_text(k, f->name, v, 0);
	case F_DATE:
		return str && valid_date(str) ? VELD_OK : bad(k->kind, f->name, "must be a date YYYY-MM-DD");
	case F_DATETIME:
		return str && valid_datetime(str) ? VELD_OK
		       : bad(k->kind, f->name, "must be an ISO 8601 time like 2026-11-22T10:00Z");
	case F_ENUM:
		if (!str || !in_list(f->values, str)) {
			char msg[256] = "must be one of:";
			for (const char *const *p = f->values; *p; p++)
				snprintf(msg + strlen(msg), sizeof msg - strlen(msg), " %s", *p);
			return bad(k->kind, f->name, msg);
		}
		return VELD_OK;
	case F_BOOL:
		return json_is_boolean(v) ? VELD_OK : bad(k->kind, f->name, "must be true or false");
	case F_DOMAIN:
		return str && domain_known(s, zrm, str) ? VELD_OK
		       : bad(k->kind, f->name, "must be a life domain code (see veld domains)");
	case F_DOMAINS:
		if (!json_is_array(v) || json_array_size(v) > 64)
			return bad(k->kind, f->name, "must be a list of life domain codes");
		json_array_foreach(v, i, e)
			if (!json_is_string(e) || !domain_known(s, zrm, json_string_value(e)))
				return bad(k->kind, f->name, "holds an unknown life domain code");
		return VELD_OK;
	case F_SCORES:
		if (!json_is_object(v))
			return bad(k->kind, f->name, "must be an object of domain: score (1-5)");
		json_object_foreach(v, key, e) {
			if (!domain_known(s, zrm, key))
				return bad(k->kind, f->name, "holds an unknown life domain code");
			if (!json_is_integer(e) || json_integer_value(e) < 1 || json_integer_value(e) > 5)
				return bad(k->kind, f->name, "scores must be whole numbers from 1 to 5");
		}
		return VELD_OK;
	case F_REF: {
		/* An id or a unique prefix; stored as the full id. */
		uint8_t ent[VELD_ID_BYTES];
		char hex[33];
		int rc;
		if (!str)
			return bad(k->kind, f->name, "must be a record id");
		if ((rc = veld__resolve(s, f->values[0], str, ent, NULL, NULL, NULL)) != VELD_OK)
			return rc;
		veld__hex(hex, ent, VELD_ID_BYTES);
		return json_string_set(v, hex) == 0 ? VELD_OK : veld__err(VELD_ENOMEM, "out of memory");
	}
	case F_CARE:
		if (!json_is_object(v))
			return bad(k->kind, f->name, "must be {\"active\": bool, \"end_date\": date}");
		json_object_foreach(v, key, e) {
			if (strcmp(key, "active") == 0 && json_is_boolean(e))
				continue;
			if (strcmp(key, "end_date") == 0 &&
			    (json_is_null(e) || (json_is_string(e) && valid_date(json_string_value(e)))))
				continue;
			return bad(k->kind, f->name, "must be {\"active\": bool, \"end_date\": date}");
		}
		return VELD_OK;
	case F_HOUSING:
		if (!json_is_object(v))
			return bad(k->kind, f->name, "must be {\"corporation\", \"tenancy\", \"support_clause\"}");
		json_object_foreach(v, key, e) {
			if ((strcmp(key, "corporation") == 0 || strcmp(key, "tenancy") == 0) &&
			    check_text(k, f->name, e, 1) == VELD_OK)
				continue;
			if (strcmp(key, "support_clause") == 0 && json_is_boolean(e))
				continue;
			return bad(k->kind, f->name,
			           "must be {\"corporation\": text, \"tenancy\": text, \"support_clause\": bool}");
		}
		return VELD_OK;
	}
	return VELD_ERROR;
}

/* Check every given field; `zrm` is the life-domain version in force. */
static int check_fields(veld_store *s, const struct kdef *k, json_t *fields, const char *zrm,
                        int creating)
{
	const char *name;
	json_t *v;
	int rc;
	json_object_foreach(fields, name, v) {
		const struct fdef *f = field_def(k, name);
		if (!f)
			return veld__err(VELD_EINVAL, "%s has no field '%s'", k->kind, name);
		if ((veld__policy_bit(k->kind, name) & ~veld__policy_mask(s)) != 0)
			return veld__err(VELD_EPERM, "the team's field policy keeps '%s' at the office:"
			                 " it is not recorded on a device", name);
		if ((rc = check_value(s, k, f, v, zrm)) != VELD_OK)
			return rc;
	}
	if (creating)
		for (const struct fdef *f = k->fields; f->name; f++)
			if ((f->flags & REQ) && !json_object_get(fields, f->name))
				return bad(k->kind, f->name, "is required");
	return VELD_OK;
}

/* ---- ids ----------------------------------------------------------------------- */

int veld__resolve(veld_store *s, const char *kind, const char *id, uint8_t entity[VELD_ID_BYTES],
                  uint8_t client[VELD_ID_BYTES], char team[VELD_TEAM_MAX + 1],
                  char kind_out[VELD_KIND_MAX + 1])
{
	sqlite3_stmt *st;
	uint8_t lo[VELD_ID_BYTES], hi[VELD_ID_BYTES];
	size_t n = id ? strlen(id) : 0;
	int rc, found = 0;

	if (n < 4 || n > 32 || strspn(id, "0123456789abcdefABCDEF") != n)
		return veld__err(VELD_EINVAL, "a record id is 4 to 32 hex digits");
	/* A prefix is the range [prefix 000..., prefix fff...]: an index seek,
	 * never a scan, whatever the store's size. */
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
	st = s->st[ST_RESOLVE];
	sqlite3_bind_blob(st, 1, lo, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, hi, VELD_ID_BYTES, SQLITE_STATIC);
	if (kind)
		sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 3);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (++found > 1)
			break;
		memcpy(entity, sqlite3_column_blob(st, 0), VELD_ID_BYTES);
		if (client)
			memcpy(client, sqlite3_column_blob(st, 1), VELD_ID_BYTES);
		if (team)
			snprintf(team, VELD_TEAM_MAX + 1, "%s", (const char *)sqlite3_column_text(st, 2));
		if (kind_out)
			snprintf(kind_out, VELD_KIND_MAX + 1, "%s", (const char *)sqlite3_column_text(st, 3));
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return veld__err_sqlite(rc, "finding a record");
	if (found == 0 && n == 32 && (!kind || strcmp(kind, "client") == 0)) {
		sqlite3_stmt *e = s->st[ST_ERASED_CHECK];
		sqlite3_bind_blob(e, 1, lo, VELD_ID_BYTES, SQLITE_STATIC);
		rc = sqlite3_step(e);
		sqlite3_reset(e);
		if (rc == SQLITE_ROW)
			return veld__err(VELD_ESHREDDED, "client %s was erased", id);
	}
	if (found == 0)
		return veld__err(VELD_ENOTFOUND, "no %s with id %s", kind ? kind : "record", id);
	if (found > 1)
		return veld__err(VELD_EINVAL, "id %s is ambiguous; give more digits", id);
	return VELD_OK;
}

/* ---- reading ------------------------------------------------------------------ */

static int open_value(veld_store *s, const uint8_t entity[VELD_ID_BYTES], const char *field,
                      const uint8_t client[VELD_ID_BYTES], sqlite3_stmt *st, json_t **out)
{
	const uint8_t *key, *ct = sqlite3_column_blob(st, 4);
	size_t ctlen = (size_t)sqlite3_column_bytes(st, 4);
	uint8_t ad[128], buf[1024], *pt;
	char ehex[33];
	json_error_t jerr;
	size_t unpadded = 0;
	int rc = VELD_OK;

	*out = NULL;
	if (!ct) /* tombstone, or purged from this store */
		return VELD_OK;
	if ((rc = veld__client_key(s, client, (uint64_t)sqlite3_column_int64(st, 5), &key)) != VELD_OK)
		return rc;
	veld__hex(ehex, entity, VELD_ID_BYTES);
	if (ctlen < VELD_SEAL_OVERHEAD || ctlen > VELD_VALUE_MAX + VELD_SEAL_OVERHEAD)
		return veld__err(VELD_ECORRUPT, "record %s field '%s': sealed value has a bad size",
		                 ehex, field);
	pt = ctlen - VELD_SEAL_OVERHEAD <= sizeof buf ? buf : malloc(ctlen - VELD_SEAL_OVERHEAD);
	if (!pt)
		return veld__err(VELD_ENOMEM, "out of memory");
	if (veld__open(pt, ct, ctlen, ad,
	               veld__value_ad(ad, entity, field, sqlite3_column_blob(st, 1),
	                              (uint64_t)sqlite3_column_int64(st, 2)), key) != 0) {
		rc = veld__err(VELD_ECORRUPT,
			"record %s field '%s' failed authentication (tampered or moved)", ehex, field);
	} else if (sodium_unpad(&unpadded, pt, ctlen - VELD_SEAL_OVERHEAD, VELD_PAD_BLOCK) != 0) {
		rc = veld__err(VELD_ECORRUPT, "record %s field '%s' has bad padding", ehex, field);
	} else if (!(*out = json_loadb((const char *)pt, unpadded, JSON_DECODE_ANY, &jerr))) {
		rc = veld__err(VELD_ECORRUPT, "record %s field '%s' holds invalid JSON", ehex, field);
	}
	sodium_memzero(pt, ctlen - VELD_SEAL_OVERHEAD);
	if (pt != buf)
		free(pt);
	return rc;
}

static void flush_conflict(json_t **conflicts, const char *field, json_t *values)
{
	if (values && json_array_size(values) > 1) {
		if (!*conflicts)
			*conflicts = json_array();
		json_array_append_new(*conflicts, json_pack("{s:s,s:o}", "field", field, "values", values));
	} else {
		json_decref(values);
	}
}

int veld__record_build(veld_store *s, const uint8_t entity[VELD_ID_BYTES], json_t **out)
{
	sqlite3_stmt *st = s->st[ST_ENTITY_GET];
	char hex[33], at[32], kind[VELD_KIND_MAX + 1], team[VELD_TEAM_MAX + 1], prev[VELD_FIELD_MAX + 1];
	uint8_t client[VELD_ID_BYTES];
	uint64_t created, updated = 0;
	json_t *rec = NULL, *conflicts = NULL, *values = NULL;
	int rc, deleted = 0;

	*out = NULL;
	sqlite3_bind_blob(st, 1, entity, VELD_ID_BYTES, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		veld__hex(hex, entity, VELD_ID_BYTES);
		return rc == SQLITE_DONE ? veld__err(VELD_ENOTFOUND, "no record with id %s", hex)
		                         : veld__err_sqlite(rc, "reading a record");
	}
	snprintf(kind, sizeof kind, "%s", (const char *)sqlite3_column_text(st, 0));
	memcpy(client, sqlite3_column_blob(st, 1), VELD_ID_BYTES);
	snprintf(team, sizeof team, "%s", (const char *)sqlite3_column_text(st, 2));
	created = (uint64_t)sqlite3_column_int64(st, 3);
	sqlite3_reset(st);

	rec = json_object();
	veld__hex(hex, entity, VELD_ID_BYTES);
	json_object_set_new(rec, "id", json_string(hex));
	/* "type", not "kind": visits and signals have a field named kind. */
	json_object_set_new(rec, "type", json_string(kind));
	if (strcmp(kind, "client") != 0) {
		veld__hex(hex, client, VELD_ID_BYTES);
		json_object_set_new(rec, "client", json_string(hex));
	}
	json_object_set_new(rec, "team", json_string(team));
	veld__iso8601(at, veld__hlc_ms(created));
	json_object_set_new(rec, "created", json_string(at));

	st = s->st[ST_HEADS];
	sqlite3_bind_blob(st, 1, entity, VELD_ID_BYTES, SQLITE_STATIC);
	prev[0] = 0;
	/* Heads come ordered by field, winner first. `values` collects the
	 * heads of the current field; more than one is a conflict. */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *field = (const char *)sqlite3_column_text(st, 0);
		uint64_t hlc = (uint64_t)sqlite3_column_int64(st, 3);
		json_t *v = NULL;
		char dev[33];

		if (hlc > updated)
			updated = hlc;
		if (strcmp(field, VELD_TOMBSTONE_FIELD) == 0) {
			deleted = 1;
			continue;
		}
		if (sqlite3_column_type(st, 4) == SQLITE_NULL)
			continue; /* removed here by retention or the field policy */
		if ((rc = open_value(s, entity, field, client, st, &v)) != VELD_OK)
			break;
		if (strcmp(field, prev) != 0) {
			flush_conflict(&conflicts, prev, values);
			values = json_array();
			snprintf(prev, sizeof prev, "%s", field);
			if (v && !json_is_null(v))
				json_object_set(rec, field, v);
		}
		veld__hex(dev, sqlite3_column_blob(st, 1), VELD_ID_BYTES);
		veld__iso8601(at, veld__hlc_ms(hlc));
		json_array_append_new(values, json_pack("{s:o,s:s,s:I,s:s}", "value",
			v ? v : json_null(), "device", dev, "seq", (json_int_t)sqlite3_column_int64(st, 2),
			"at", at));
	}
	if (rc == SQLITE_DONE)
		flush_conflict(&conflicts, prev, values);
	else
		json_decref(values);
	sqlite3_reset(st);
	if (rc < 0) {
		/* open_value failed; its message is set */
	} else if (rc != SQLITE_DONE) {
		rc = veld__err_sqlite(rc, "reading a record");
	} else {
		rc = VELD_OK;
	}
	if (rc != VELD_OK || deleted) {
		json_decref(rec);
		json_decref(conflicts);
		return rc;
	}
	veld__iso8601(at, veld__hlc_ms(updated ? updated : created));
	json_object_set_new(rec, "updated", json_string(at));
	if (conflicts)
		json_object_set_new(rec, "conflicts", conflicts);
	*out = rec;
	return VELD_OK;
}

/* ---- access checks -------------------------------------------------------------- */

/* Workers read only their own team's clients; anything else is "break the
 * glass": allowed with a purpose "break-glass: <reason>", logged as such.
 * The office reads every team. Returns the audit event to log, or NULL
 * (with an EPERM set) when access is refused. */
static void note_refusal(veld_store *s, const char *event, const char *outcome,
                         const uint8_t *client, const char *purpose)
{
	snprintf(s->refusal.event, sizeof s->refusal.event, "%s", event);
	snprintf(s->refusal.outcome, sizeof s->refusal.outcome, "%s", outcome);
	s->refusal.has_client = client != NULL;
	if (client)
		memcpy(s->refusal.client, client, VELD_ID_BYTES);
	s->refusal.purpose = purpose;
	s->refusal.pending = 1;
}

static const char *access_event(veld_store *s, const char *team, const uint8_t *client,
                                const char *purpose, const char *event)
{
	if (strcmp(team, s->team) == 0 || s->office)
		return event;
	if (purpose && strncmp(purpose, BREAK_GLASS, strlen(BREAK_GLASS)) == 0 &&
	    strlen(purpose) > strlen(BREAK_GLASS) + 3)
		return "break-glass";
	note_refusal(s, event, "denied", client, purpose);
	veld__err(VELD_EPERM, "this client belongs to another team; to read it anyway give the "
	                      "purpose \"break-glass: <reason>\" (it is logged)");
	return NULL;
}

/* Commit on success; otherwise roll back, then log a noted refusal in a
 * transaction of its own so the attempt stays on record. */
static int finish(veld_store *s, struct veld__tx *tx, int rc)
{
	char msg[512];
	struct veld__tx tx2;
	if (rc == VELD_OK) {
		s->refusal.pending = 0;
		return veld__tx_commit(s, tx);
	}
	snprintf(msg, sizeof msg, "%s", veld_error_last());
	veld__tx_abort(s, tx);
	if (s->refusal.pending && s->tx_depth == 0) {
		s->refusal.pending = 0;
		if (veld__tx_begin(s, &tx2) == VELD_OK) {
			if (veld__audit(s, s->refusal.event, s->refusal.outcome,
			                s->refusal.has_client ? s->refusal.client : NULL,
			                s->refusal.purpose) == VELD_OK)
				veld__tx_commit(s, &tx2);
			else
				veld__tx_abort(s, &tx2);
		}
	}
	s->refusal.pending = 0;
	return veld__err(rc, "%s", msg);
}

static int out_json(json_t *v, char **json_out)
{
	if (!json_out)
		return VELD_OK;
	if (!(*json_out = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)))
		return veld__err(VELD_ENOMEM, "out of memory");
	return VELD_OK;
}

static int parse_object(const char *text, json_t **out)
{
	json_error_t e;
	if (!text || !(*out = json_loads(text, JSON_REJECT_DUPLICATES, &e)) || !json_is_object(*out)) {
		if (text)
			json_decref(*out);
		*out = NULL;
		return veld__err(VELD_EINVAL, "fields must be a JSON object");
	}
	return VELD_OK;
}

/* Write each field of `fields` as one operation, in name order (stable). */
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

static const char *zrm_of(json_t *fields, json_t *existing)
{
	const char *v = json_string_value(json_object_get(fields, "zrm_version"));
	if (!v && existing)
		v = json_string_value(json_object_get(existing, "zrm_version"));
	return v ? v : DEFAULT_ZRM;
}

int veld_record_create(veld_store *s, const char *kind, const char *fields_json,
                       const char *purpose, char **json_out)
{
	const struct kdef *k;
	json_t *fields = NULL, *rec = NULL;
	uint8_t entity[VELD_ID_BYTES], client[VELD_ID_BYTES];
	char team[VELD_TEAM_MAX + 1];
	struct veld__tx tx;
	int rc = veld__enter(s);
	if (rc)
		return rc;
	if (json_out)
		*json_out = NULL;
	if ((rc = veld__need_keys(s)) || (rc = get_kind(kind, &k)) ||
	    (rc = parse_object(fields_json, &fields)))
		goto out;
	if ((rc = veld__tx_begin(s, &tx)) != VELD_OK)
		goto out;

	veld__random_id(entity);
	if (strcmp(kind, "client") == 0) {
		const char *t = json_string_value(json_object_get(fields, "team"));
		if (json_object_get(fields, "team") && !t) {
			rc = veld__err(VELD_EINVAL, "team must be a string");
			goto done;
		}
		snprintf(team, sizeof team, "%s", t ? t : s->team);
		if (strcmp(team, s->team) != 0 && !s->office) {
			note_refusal(s, "create", "denied", NULL, purpose);
			rc = veld__err(VELD_EPERM, "a worker creates clients only for their own team");
			goto done;
		}
		json_object_del(fields, "team");
		memcpy(client, entity, VELD_ID_BYTES);
		if ((rc = check_fields(s, k, fields, DEFAULT_ZRM, 1)) != VELD_OK)
			goto done;
		{
			const uint8_t *key;
			if ((rc = veld__client_key_new(s, client, team, &key)) != VELD_OK ||
			    (rc = veld__keys_share(s, client, 1, team, key)) != VELD_OK)
				goto done;
		}
	} else {
		const char *cid = json_string_value(json_object_get(fields, "client"));
		uint8_t cent[VELD_ID_BYTES];
		if (!cid) {
			rc = veld__err(VELD_EINVAL, "a %s needs a \"client\" id", kind);
			goto done;
		}
		if ((rc = veld__resolve(s, "client", cid, cent, client, team, NULL)) != VELD_OK)
			goto done;
		if (!access_event(s, team, client, purpose, "create")) {
			rc = VELD_EPERM;
			goto done;
		}
		json_object_del(fields, "client");
		if (strcmp(kind, "visit") == 0 && !json_object_get(fields, "worker"))
			json_object_set_new(fields, "worker", json_string(s->user));
		if (strcmp(kind, "visit") == 0 && !json_object_get(fields, "zrm_version"))
			json_object_set_new(fields, "zrm_version", json_string(DEFAULT_ZRM));
		if (strcmp(kind, "note") == 0 && !json_object_get(fields, "author"))
			json_object_set_new(fields, "author", json_string(s->user));
		if ((strcmp(kind, "goal") == 0 || strcmp(kind, "signal") == 0) &&
		    !json_object_get(fields, "status"))
			json_object_set_new(fields, "status", json_string("open"));
		if ((rc = check_fields(s, k, fields, zrm_of(fields, NULL), 1)) != VELD_OK)
			goto done;
		if (strcmp(kind, "note") == 0 && json_object_get(fields, "visit")) {
			uint8_t vent[VELD_ID_BYTES], vclient[VELD_ID_BYTES];
			if ((rc = veld__resolve(s, "visit", json_string_value(json_object_get(fields, "visit")),
			                        vent, vclient, NULL, NULL)) != VELD_OK)
				goto done;
			if (memcmp(vclient, client, VELD_ID_BYTES) != 0) {
				rc = veld__err(VELD_EINVAL, "the note's visit belongs to another client");
				goto done;
			}
		}
		if (strcmp(kind, "note") == 0 && json_object_get(fields, "amends")) {
			uint8_t ament[VELD_ID_BYTES], aclient[VELD_ID_BYTES];
			if ((rc = veld__resolve(s, "note", json_string_value(json_object_get(fields, "amends")),
			                        ament, aclient, NULL, NULL)) != VELD_OK)
				goto done;
			if (memcmp(aclient, client, VELD_ID_BYTES) != 0) {
				rc = veld__err(VELD_EINVAL, "an amendment must be about the same client");
				goto done;
			}
		}
	}
	memcpy(s->fresh_entity, entity, VELD_ID_BYTES);
	s->fresh = 1;
	rc = write_fields(s, kind, entity, client, team, fields);
	s->fresh = 0;
	if (rc != VELD_OK || (rc = veld__audit(s, "create", "success", client, purpose)) != VELD_OK)
		goto done;
	if (json_out && (rc = veld__record_build(s, entity, &rec)) == VELD_OK)
		rc = out_json(rec, json_out);
done:
	rc = finish(s, &tx, rc);
	if (rc != VELD_OK && json_out) {
		free(*json_out);
		*json_out = NULL;
	}
out:
	json_decref(fields);
	json_decref(rec);
	veld__leave(s);
	return rc;
}

/* Resolve a live record of `kind` that the actor may touch. */
static int open_record(veld_store *s, const char *kind, const char *id, const char *purpose,
                       const char *event, uint8_t entity[VELD_ID_BYTES],
                       uint8_t client[VELD_ID_BYTES], char team[VELD_TEAM_MAX + 1],
                       json_t **rec, const char **event_out)
{
	int rc = veld__resolve(s, kind, id, entity, client, team, NULL);
	if (rc != VELD_OK)
		return rc;
	if (!(*event_out = access_event(s, team, client, purpose, event)))
		return VELD_EPERM;
	if ((rc = veld__record_build(s, entity, rec)) != VELD_OK)
		return rc;
	if (!*rec)
		return veld__err(VELD_ENOTFOUND, "that %s was deleted", kind);
	return VELD_OK;
}

int veld_record_update(veld_store *s, const char *kind, const char *id, const char *fields_json,
                       const char *purpose, char **json_out)
{
	const struct kdef *k;
	json_t *fields = NULL, *rec = NULL;
	uint8_t entity[VELD_ID_BYTES], client[VELD_ID_BYTES];
	char team[VELD_TEAM_MAX + 1];
	const char *event;
	struct veld__tx tx;
	int rc = veld__enter(s);
	if (rc)
		return rc;
	if (json_out)
		*json_out = NULL;
	if ((rc = veld__need_keys(s)) || (rc = get_kind(kind, &k)) ||
	    (rc = parse_object(fields_json, &fields)))
		goto out;
	if (k->append_only) {
		rc = veld__err(VELD_EPERM, "notes are append-only: amend with a new note instead");
		goto out;
	}
	if ((rc = veld__tx_begin(s, &tx)) != VELD_OK)
		goto out;
	if ((rc = open_record(s, kind, id, purpose, "update", entity, client, team, &rec, &event)))
		goto done;
	if (json_object_size(fields) == 0) {
		rc = veld__err(VELD_EINVAL, "nothing to change");
		goto done;
	}
	if ((rc = check_fields(s, k, fields, zrm_of(fields, rec), 0)) != VELD_OK ||
	    (rc = write_fields(s, kind, entity, client, team, fields)) != VELD_OK ||
	    (rc = veld__audit(s, event, "success", client, purpose)) != VELD_OK)
		goto done;
	json_decref(rec);
	rec = NULL;
	if (json_out && (rc = veld__record_build(s, entity, &rec)) == VELD_OK)
		rc = out_json(rec, json_out);
done:
	rc = finish(s, &tx, rc);
out:
	json_decref(fields);
	json_decref(rec);
	veld__leave(s);
	return rc;
}

int veld_record_delete(veld_store *s, const char *kind, const char *id, const char *purpose)
{
	const struct kdef *k;
	json_t *rec = NULL;
	uint8_t entity[VELD_ID_BYTES], client[VELD_ID_BYTES];
	char team[VELD_TEAM_MAX + 1];
	const char *event;
	struct veld__tx tx;
	int rc = veld__enter(s);
	if (rc)
		return rc;
	if ((rc = veld__need_keys(s)) || (rc = get_kind(kind, &k)))
		goto out;
	if (k->append_only || strcmp(kind, "client") == 0) {
		rc = veld__err(VELD_EPERM, k->append_only
			? "notes are append-only and cannot be deleted"
			: "a client is removed by erasure (veld client erase), not deletion");
		goto out;
	}
	if ((rc = veld__tx_begin(s, &tx)) != VELD_OK)
		goto out;
	if ((rc = open_record(s, kind, id, purpose, "delete", entity, client, team, &rec, &event)) ||
	    (rc = veld__op_write(s, kind, entity, client, team, VELD_TOMBSTONE_FIELD, NULL, 0)) ||
	    (rc = veld__audit(s, event, "success", client, purpose)))
		goto done;
done:
	rc = finish(s, &tx, rc);
out:
	json_decref(rec);
	veld__leave(s);
	return rc;
}

/* Notes that amend `rec` (a note), as "amended_by": [ids]. */
static int add_amendments(veld_store *s, json_t *notes)
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
	(void)s;
	return VELD_OK;
}

/* Set "amended_by" on one note from the client's other notes. */
static int note_amended_by(veld_store *s, const uint8_t client[VELD_ID_BYTES], json_t *rec)
{
	sqlite3_stmt *st;
	json_t *all = json_array();
	int rc = sqlite3_prepare_v2(s->db, "SELECT entity FROM entities WHERE kind = 'note'"
	                            " AND client = ?1 ORDER BY created", -1, &st, NULL);
	if (rc != SQLITE_OK) {
		json_decref(all);
		return veld__err_sqlite(rc, "reading notes");
	}
	sqlite3_bind_blob(st, 1, client, VELD_ID_BYTES, SQLITE_STATIC);
	json_array_append(all, rec);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *n = NULL;
		if ((rc = veld__record_build(s, sqlite3_column_blob(st, 0), &n)) != VELD_OK)
			break;
		if (n && json_equal(json_object_get(n, "amends"), json_object_get(rec, "id")))
			json_array_append(all, n);
		json_decref(n);
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE) {
		add_amendments(s, all);
		rc = VELD_OK;
	} else if (rc > 0) {
		rc = veld__err_sqlite(rc, "reading notes");
	}
	json_decref(all);
	return rc;
}

int veld_record_get(veld_store *s, const char *kind, const char *id, const char *purpose,
                    char **json_out)
{
	const struct kdef *k;
	json_t *rec = NULL;
	uint8_t entity[VELD_ID_BYTES], client[VELD_ID_BYTES] = {0};
	char team[VELD_TEAM_MAX + 1];
	const char *event;
	struct veld__tx tx;
	int rc = veld__enter_json(s, json_out, 1);
	if (rc)
		return rc;
	if ((rc = get_kind(kind, &k)))
		goto out;
	if ((rc = veld__tx_begin(s, &tx)) != VELD_OK)
		goto out;
	rc = open_record(s, kind, id, purpose, "read", entity, client, team, &rec, &event);
	if (rc == VELD_OK && strcmp(kind, "note") == 0)
		rc = note_amended_by(s, client, rec);
	if (rc == VELD_OK)
		rc = veld__audit(s, event, "success", client, purpose);
	if (rc == VELD_OK)
		rc = out_json(rec, json_out);
	else if (!s->refusal.pending && rc != VELD_ENOTFOUND && rc != VELD_EINVAL)
		note_refusal(s, "read", "failure",
		             sodium_is_zero(client, VELD_ID_BYTES) ? NULL : client, purpose);
	rc = finish(s, &tx, rc);
	if (rc != VELD_OK) {
		free(*json_out);
		*json_out = NULL;
	}
out:
	json_decref(rec);
	veld__leave(s);
	return rc;
}

/* Every record of a client but the client record, by kind, oldest first. */
static int client_records(veld_store *s, const uint8_t client[VELD_ID_BYTES], json_t *by_kind)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db,
		"SELECT entity, kind FROM entities WHERE client = ?1 AND kind != 'client'"
		" ORDER BY kind, created, entity", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return veld__err_sqlite(rc, "reading a client's records");
	sqlite3_bind_blob(st, 1, client, VELD_ID_BYTES, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *kind = (const char *)sqlite3_column_text(st, 1);
		json_t *rec = NULL, *list = json_object_get(by_kind, kind);
		int brc = veld__record_build(s, sqlite3_column_blob(st, 0), &rec);
		if (brc != VELD_OK) {
			sqlite3_finalize(st);
			return brc;
		}
		if (!rec)
			continue; /* deleted */
		if (!list) {
			list = json_array();
			json_object_set_new(by_kind, kind, list);
		}
		json_array_append_new(list, rec);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? VELD_OK : veld__err_sqlite(rc, "reading a client's records");
}

int veld_client_export(veld_store *s, const char *client_id, const char *purpose,
                       char **json_out)
{
	json_t *doc = NULL, *rec = NULL, *by_kind = NULL, *log = NULL;
	uint8_t entity[VELD_ID_BYTES], client[VELD_ID_BYTES] = {0};
	char team[VELD_TEAM_MAX + 1], chex[2 * VELD_ID_BYTES + 1], dhex[2 * VELD_ID_BYTES + 1];
	char at[32];
	const char *event = NULL;
	struct veld__tx tx;
	int rc = veld__enter_json(s, json_out, 1);
	if (rc)
		return rc;
	if (!json_out) {
		rc = veld__err(VELD_EINVAL, "an export needs somewhere to go (json_out)");
		goto out;
	}
	if ((rc = veld__tx_begin(s, &tx)) != VELD_OK)
		goto out;
	rc = open_record(s, "client", client_id, purpose, "export", entity, client, team, &rec, &event);
	by_kind = json_object();
	log = json_array();
	if (rc == VELD_OK)
		rc = client_records(s, client, by_kind);
	if (rc == VELD_OK) {
		static const char *const kinds_out[] = {"visit", "note", "goal", "signal"};
		for (size_t i = 0; i < sizeof kinds_out / sizeof *kinds_out; i++)
			if (!json_object_get(by_kind, kinds_out[i]))
				json_object_set_new(by_kind, kinds_out[i], json_array());
	}
	/* The export is logged before the log is read, so it is in the document. */
	if (rc == VELD_OK)
		rc = veld__audit(s, event, "success", client, purpose);
	if (rc == VELD_OK) {
		veld__hex(chex, client, VELD_ID_BYTES);
		rc = veld__audit_about(s, chex, log);
	}
	if (rc == VELD_OK) {
		veld__hex(dhex, s->device, VELD_ID_BYTES);
		veld__iso8601(at, veld__hlc_now_ms());
		doc = json_pack("{s:O,s:O,s:O,s:s,s:{s:s,s:s,s:s}}", "client", rec, "records", by_kind,
		                "access_log", log, "exported_at", at, "exported_by", "user", s->user,
		                "role", s->role, "device", dhex);
		rc = doc ? out_json(doc, json_out) : veld__err(VELD_ENOMEM, "out of memory");
	} else if (!s->refusal.pending && rc != VELD_ENOTFOUND && rc != VELD_EINVAL) {
		note_refusal(s, "export", "failure",
		             sodium_is_zero(client, VELD_ID_BYTES) ? NULL : client, purpose);
	}
	rc = finish(s, &tx, rc);
	if (rc != VELD_OK) {
		free(*json_out);
		*json_out = NULL;
	}
out:
	json_decref(doc);
	json_decref(rec);
	json_decref(by_kind);
	json_decref(log);
	veld__leave(s);
	return rc;
}

/* Case-insensitive (ASCII) substring test. */
static int contains_ci(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	for (; *hay; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return 1;
	return n == 0;
}

static int text_matches(json_t *rec, const struct kdef *k, const char *q)
{
	for (const struct fdef *f = k->fields; f->name; f++) {
		const char *v;
		if (!(f->flags & SEARCH))
			continue;
		v = json_string_value(json_object_get(rec, f->name));
		if (v && contains_ci(v, q))
			return 1;
	}
	return 0;
}

int veld_record_list(veld_store *s, const char *kind, const char *filter_json,
                     const char *purpose, char **json_out)
{
	const struct kdef *k;
	json_t *filter = NULL, *arr = NULL, *clients = NULL;
	const char *query = NULL, *status = NULL, *cid = NULL;
	uint8_t cfilter[VELD_ID_BYTES];
	sqlite3_stmt *st = NULL;
	struct veld__tx tx;
	const char *ckey;
	json_t *cval;
	int rc = veld__enter_json(s, json_out, 1);
	if (rc)
		return rc;
	if ((rc = get_kind(kind, &k)))
		goto out;
	if (filter_json && *filter_json && (rc = parse_object(filter_json, &filter)) != VELD_OK)
		goto out;
	query = json_string_value(json_object_get(filter, "query"));
	status = json_string_value(json_object_get(filter, "status"));
	cid = json_string_value(json_object_get(filter, "client"));
	if ((rc = veld__tx_begin(s, &tx)) != VELD_OK)
		goto out;
	if (cid) {
		uint8_t ent[VELD_ID_BYTES];
		char team[VELD_TEAM_MAX + 1];
		if ((rc = veld__resolve(s, "client", cid, ent, cfilter, team, NULL)) != VELD_OK)
			goto done;
		if (!access_event(s, team, cfilter, purpose, "read")) {
			rc = VELD_EPERM;
			goto done;
		}
	}
	rc = sqlite3_prepare_v2(s->db,
		"SELECT entity, team FROM entities WHERE kind = ?1 AND (?2 IS NULL OR client = ?2)"
		" ORDER BY created, entity", -1, &st, NULL);
	if (rc != SQLITE_OK) {
		rc = veld__err_sqlite(rc, "listing records");
		goto done;
	}
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	if (cid)
		sqlite3_bind_blob(st, 2, cfilter, VELD_ID_BYTES, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 2);
	arr = json_array();
	clients = json_object();
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *rec = NULL;
		const char *team = (const char *)sqlite3_column_text(st, 1);
		const char *ev;
		/* Other teams' records only when asked for by client id with a
		 * break-the-glass purpose (checked above). */
		if (!cid && strcmp(team, s->team) != 0 && !s->office)
			continue;
		if ((rc = veld__record_build(s, sqlite3_column_blob(st, 0), &rec)) == VELD_ESHREDDED ||
		    rc == VELD_ENOTFOUND) {
			rc = VELD_OK; /* erased or key not here: nothing to show */
			continue;
		}
		if (rc != VELD_OK)
			goto done;
		if (!rec)
			continue;
		const char *rstatus = json_string_value(json_object_get(rec, "status"));
		if ((status && (!rstatus || strcmp(rstatus, status) != 0)) ||
		    (query && !text_matches(rec, k, query))) {
			json_decref(rec);
			continue;
		}
		ev = cid ? access_event(s, team, cfilter, purpose, query ? "search" : "read")
		         : (query ? "search" : "read");
		json_object_set_new(clients,
			json_string_value(json_object_get(rec, strcmp(kind, "client") ? "client" : "id")),
			json_string(ev));
		json_array_append_new(arr, rec);
	}
	if (rc != SQLITE_DONE) {
		rc = veld__err_sqlite(rc, "listing records");
		goto done;
	}
	rc = VELD_OK;
	if (strcmp(kind, "note") == 0)
		add_amendments(s, arr);
	/* One access-log entry per client whose data was shown. */
	json_object_foreach(clients, ckey, cval) {
		uint8_t c[VELD_ID_BYTES];
		if (veld__unhex(c, VELD_ID_BYTES, ckey) == 0 &&
		    (rc = veld__audit(s, json_string_value(cval), "success", c, purpose)) != VELD_OK)
			goto done;
	}
	if (json_object_size(clients) == 0 && query)
		rc = veld__audit(s, "search", "success", NULL, purpose);
	if (rc == VELD_OK)
		rc = out_json(arr, json_out);
done:
	sqlite3_finalize(st);
	st = NULL;
	rc = finish(s, &tx, rc);
	if (rc != VELD_OK && *json_out) {
		free(*json_out);
		*json_out = NULL;
	}
out:
	sqlite3_finalize(st);
	json_decref(filter);
	json_decref(arr);
	json_decref(clients);
	veld__leave(s);
	return rc;
}

int veld_conflicts_list(veld_store *s, const char *purpose, char **json_out)
{
	sqlite3_stmt *st = NULL;
	json_t *arr = NULL;
	struct veld__tx tx;
	int rc = veld__enter_json(s, json_out, 1);
	if (rc)
		return rc;
	if ((rc = veld__tx_begin(s, &tx)))
		goto out;
	rc = sqlite3_prepare_v2(s->db,
		"SELECT DISTINCT c.entity FROM conflicts c JOIN entities e ON e.entity = c.entity"
		" WHERE e.team = ?1 OR ?2 ORDER BY e.created", -1, &st, NULL);
	if (rc != SQLITE_OK) {
		rc = veld__err_sqlite(rc, "listing conflicts");
		goto done;
	}
	sqlite3_bind_text(st, 1, s->team, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, s->office);
	arr = json_array();
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *rec = NULL, *c, *item;
		size_t i;
		uint8_t client[VELD_ID_BYTES];
		const char *cid;
		if ((rc = veld__record_build(s, sqlite3_column_blob(st, 0), &rec)) != VELD_OK)
			goto done;
		if (!rec || !(c = json_object_get(rec, "conflicts"))) {
			json_decref(rec);
			continue;
		}
		cid = json_string_value(json_object_get(rec, json_object_get(rec, "client") ? "client" : "id"));
		json_array_foreach(c, i, item) {
			json_array_append_new(arr, json_pack("{s:O,s:O,s:s,s:O,s:O,s:O}",
				"type", json_object_get(rec, "type"), "id", json_object_get(rec, "id"),
				"client", cid, "field", json_object_get(item, "field"),
				"winner", json_array_get(json_object_get(item, "values"), 0),
				"values", json_object_get(item, "values")));
		}
		if (veld__unhex(client, VELD_ID_BYTES, cid) == 0 &&
		    (rc = veld__audit(s, "read", "success", client, purpose)) != VELD_OK) {
			json_decref(rec);
			goto done;
		}
		json_decref(rec);
	}
	if (rc != SQLITE_DONE) {
		rc = veld__err_sqlite(rc, "listing conflicts");
		goto done;
	}
	rc = out_json(arr, json_out);
done:
	sqlite3_finalize(st);
	st = NULL;
	rc = finish(s, &tx, rc);
out:
	json_decref(arr);
	veld__leave(s);
	return rc;
}

int veld_conflict_resolve(veld_store *s, const char *kind, const char *id, const char *field,
                          const char *value_json, const char *purpose)
{
	const struct kdef *k;
	const struct fdef *f;
	json_t *rec = NULL, *value = NULL, *one = NULL;
	uint8_t entity[VELD_ID_BYTES], client[VELD_ID_BYTES];
	char team[VELD_TEAM_MAX + 1];
	const char *event;
	struct veld__tx tx;
	json_error_t e;
	int rc = veld__enter(s);
	if (rc)
		return rc;
	if ((rc = veld__need_keys(s)) || (rc = get_kind(kind, &k)))
		goto out;
	if (!field || !(f = field_def(k, field))) {
		rc = veld__err(VELD_EINVAL, "%s has no field '%s'", kind, field ? field : "");
		goto out;
	}
	if (k->append_only) {
		rc = veld__err(VELD_EPERM, "notes are append-only: amend with a new note instead");
		goto out;
	}
	if (!value_json || !(value = json_loads(value_json, JSON_DECODE_ANY, &e))) {
		rc = veld__err(VELD_EINVAL, "the value is not valid JSON");
		goto out;
	}
	if ((rc = veld__tx_begin(s, &tx)) != VELD_OK)
		goto out;
	if ((rc = open_record(s, kind, id, purpose, "resolve", entity, client, team, &rec, &event)))
		goto done;
	one = json_object();
	json_object_set(one, field, value);
	if ((rc = check_fields(s, k, one, zrm_of(one, rec), 0)) != VELD_OK ||
	    (rc = write_fields(s, kind, entity, client, team, one)) != VELD_OK ||
	    (rc = veld__audit(s, event, "success", client, purpose)) != VELD_OK)
		goto done;
done:
	rc = finish(s, &tx, rc);
out:
	json_decref(rec);
	json_decref(value);
	json_decref(one);
	veld__leave(s);
	return rc;
}

int veld_schema_json(veld_store *s, char **json_out)
{
	json_t *root, *kobj, *domains;
	sqlite3_stmt *st = NULL;
	int rc = veld__enter_json(s, json_out, 0);
	if (rc)
		return rc;
	root = json_object();
	kobj = json_object();
	for (const struct kdef *k = kinds; k->kind; k++) {
		json_t *fields = json_object();
		for (const struct fdef *f = k->fields; f->name; f++) {
			json_t *fd = json_pack("{s:s,s:b}", "type", type_names[f->type], "required",
			                       (f->flags & REQ) != 0);
			if (f->type == F_ENUM) {
				json_t *vals = json_array();
				for (const char *const *p = f->values; *p; p++)
					json_array_append_new(vals, json_string(*p));
				json_object_set_new(fd, "values", vals);
			} else if (f->type == F_REF) {
				json_object_set_new(fd, "ref", json_string(f->values[0]));
			}
			json_object_set_new(fields, f->name, fd);
		}
		json_object_set_new(kobj, k->kind, json_pack("{s:b,s:o}", "append_only",
		                                             k->append_only, "fields", fields));
	}
	json_object_set_new(root, "kinds", kobj);
	domains = json_object();
	rc = sqlite3_prepare_v2(s->db, "SELECT version, code, label FROM zrm_domains"
	                        " ORDER BY version, ord", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			const char *ver = (const char *)sqlite3_column_text(st, 0);
			json_t *list = json_object_get(domains, ver);
			if (!list)
				json_object_set_new(domains, ver, list = json_array());
			json_array_append_new(list, json_pack("{s:s,s:s}",
				"code", (const char *)sqlite3_column_text(st, 1),
				"label", (const char *)sqlite3_column_text(st, 2)));
		}
	}
	sqlite3_finalize(st);
	json_object_set_new(root, "domains", domains);
	rc = rc == SQLITE_DONE ? out_json(root, json_out) : veld__err_sqlite(rc, "reading domains");
	json_decref(root);
	veld__leave(s);
	return rc;
}

/* ---- removal (erasure and retention) ----------------------------------------- */

int veld__remove_records(veld_store *s, const uint8_t client[VELD_ID_BYTES], const char *kind,
                         int64_t *removed)
{
	static const char *const sql[] = {
		/* Other devices' operations go entirely. */
		"DELETE FROM ops WHERE device != ?3 AND entity IN"
		" (SELECT entity FROM entities WHERE client = ?1 AND (?2 IS NULL OR kind = ?2))",
		/* Own operations keep their place in the sequence, not their value. */
		"UPDATE ops SET value = NULL WHERE device = ?3 AND entity IN"
		" (SELECT entity FROM entities WHERE client = ?1 AND (?2 IS NULL OR kind = ?2))",
		"DELETE FROM superseded WHERE entity IN"
		" (SELECT entity FROM entities WHERE client = ?1 AND (?2 IS NULL OR kind = ?2))",
		"DELETE FROM conflicts WHERE entity IN"
		" (SELECT entity FROM entities WHERE client = ?1 AND (?2 IS NULL OR kind = ?2))",
		"DELETE FROM entities WHERE client = ?1 AND (?2 IS NULL OR kind = ?2)",
	};
	for (size_t i = 0; i < sizeof sql / sizeof *sql; i++) {
		sqlite3_stmt *st;
		int rc = sqlite3_prepare_v2(s->db, sql[i], -1, &st, NULL);
		if (rc != SQLITE_OK)
			return veld__err_sqlite(rc, "removing records");
		sqlite3_bind_blob(st, 1, client, VELD_ID_BYTES, SQLITE_STATIC);
		if (kind)
			sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 2);
		sqlite3_bind_blob(st, 3, s->device, VELD_ID_BYTES, SQLITE_STATIC);
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			return veld__err_sqlite(rc, "removing records");
		if (i == 4 && removed)
			*removed = sqlite3_changes(s->db);
	}
	veld__merge_forget(&s->m);
	return VELD_OK;
}
