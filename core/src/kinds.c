/* kinds.c - the record schema: the kinds of record, their fields, and how
 * each value is checked.
 *
 * This table is the single place that says which kinds and fields exist
 * (docs/data-model.md mirrors it; veld_schema_json hands it to apps). A
 * check names the kind and field that failed, never the value: messages
 * end up in logs. */
#include "kinds.h"
#include "error.h"
#include "op.h"
#include "policy.h"
#include "records.h"

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

struct veld__fdef {
	const char *name;
	enum ftype type;
	unsigned flags;
	const char *const *values; /* F_ENUM; F_REF: values[0] is the kind */
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

static const struct veld__fdef client_fields[] = {
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
static const struct veld__fdef visit_fields[] = {
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
static const struct veld__fdef note_fields[] = {
	{"text", F_TEXT, REQ | SEARCH, NULL},
	{"author", F_TEXT, 0, NULL},
	{"visit", F_REF, 0, ref_visit},
	{"tags", F_DOMAINS, 0, NULL},
	{"amends", F_REF, 0, ref_note},
	{NULL, 0, 0, NULL}};
static const struct veld__fdef goal_fields[] = {
	{"domain", F_DOMAIN, REQ, NULL},
	{"description", F_TEXT, REQ | SEARCH, NULL},
	{"status", F_ENUM, 0, goal_status},
	{"review_date", F_DATE, 0, NULL},
	{NULL, 0, 0, NULL}};
static const struct veld__fdef signal_fields[] = {
	{"kind", F_ENUM, REQ, signal_kind},
	{"severity", F_ENUM, REQ, severity},
	{"description", F_TEXT, SEARCH, NULL},
	{"follow_up", F_TEXT, SEARCH, NULL},
	{"status", F_ENUM, 0, signal_status},
	{"closed_at", F_DATETIME, 0, NULL},
	{NULL, 0, 0, NULL}};

const struct veld__kdef veld__kinds[] = {
	{"client", 0, client_fields},
	{"visit", 0, visit_fields},
	{"note", 1, note_fields},
	{"goal", 0, goal_fields},
	{"signal", 0, signal_fields},
	{NULL, 0, NULL}};

/* The life domains are reference data in the store (zrm_domains), so a
 * new version needs a migration, not a new veld. */
enum kinds_stmt { KD_DOMAIN_CHECK, KD_DOMAINS };
static const char *const kinds_sql[] = {
	[KD_DOMAIN_CHECK] = "SELECT 1 FROM zrm_domains WHERE version = ?1 AND code = ?2",
	[KD_DOMAINS] = "SELECT version, code, label FROM zrm_domains ORDER BY version, ord",
};
static const struct veld__sqltab kinds_tab = VELD_SQLTAB(VELD_SQL_KINDS, kinds_sql);

static const struct veld__kdef *kind_def(const char *kind)
{
	for (const struct veld__kdef *k = veld__kinds; kind && k->kind; k++)
		if (strcmp(k->kind, kind) == 0)
			return k;
	return NULL;
}

int veld__kind_get(const char *kind, const struct veld__kdef **out)
{
	if (!(*out = kind_def(kind)))
		return veld__err(VELD_EINVAL, "unknown record kind (use client, visit, note, goal or signal)");
	return VELD_OK;
}

int veld__kind_known(const char *kind)
{
	return kind_def(kind) != NULL;
}

static const struct veld__fdef *field_def(const struct veld__kdef *k, const char *name)
{
	for (const struct veld__fdef *f = k->fields; f->name; f++)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

int veld__field_known(const struct veld__kdef *k, const char *name)
{
	return field_def(k, name) != NULL;
}

const char *veld__zrm_of(json_t *fields, json_t *existing)
{
	const char *v = json_string_value(json_object_get(fields, "zrm_version"));
	if (!v && existing)
		v = json_string_value(json_object_get(existing, "zrm_version"));
	return v ? v : VELD_ZRM_DEFAULT;
}

/* ---- dates and times ---------------------------------------------------------- */

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

/* ---- values ----------------------------------------------------------------- */

/* 1 if `code` is a life domain of `version`, 0 if not, or an error. */
static int domain_known(veld_store *s, const char *version, const char *code)
{
	sqlite3_stmt *st;
	int rc = veld__sql(s, &kinds_tab, KD_DOMAIN_CHECK, &st);
	if (rc != VELD_OK)
		return rc;
	sqlite3_bind_text(st, 1, version, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, code, -1, SQLITE_STATIC);
	return veld__sql_exists(st, "reading the life domains");
}

static int bad(const struct veld__kdef *k, const struct veld__fdef *f, const char *what)
{
	return veld__err(VELD_EINVAL, "%s field '%s' %s", k->kind, f->name, what);
}

static int check_text(const struct veld__kdef *k, const struct veld__fdef *f, json_t *v,
                      int allow_empty)
{
	if (!json_is_string(v))
		return bad(k, f, "must be a string");
	if (json_string_length(v) > VELD_VALUE_MAX / 2)
		return bad(k, f, "is too long");
	if (!allow_empty && json_string_length(v) == 0)
		return bad(k, f, "must not be empty");
	if (strlen(json_string_value(v)) != json_string_length(v))
		return bad(k, f, "must not contain NUL characters");
	return VELD_OK;
}

static int check_enum(const struct veld__kdef *k, const struct veld__fdef *f, const char *str)
{
	char msg[256] = "must be one of:";
	for (const char *const *p = f->values; str && *p; p++)
		if (strcmp(*p, str) == 0)
			return VELD_OK;
	for (const char *const *p = f->values; *p; p++)
		snprintf(msg + strlen(msg), sizeof msg - strlen(msg), " %s", *p);
	return bad(k, f, msg);
}

/* A life domain code (F_DOMAIN), a list of them (F_DOMAINS), or an object
 * of code: score from 1 to 5 (F_SCORES). */
static int check_domains(veld_store *s, const struct veld__kdef *k, const struct veld__fdef *f,
                         json_t *v, const char *zrm)
{
	const char *key;
	json_t *e;
	size_t i;
	int known;
	if (f->type == F_DOMAIN) {
		if (!json_is_string(v))
			return bad(k, f, "must be a life domain code (see veld domains)");
		if ((known = domain_known(s, zrm, json_string_value(v))) <= 0)
			return known < 0 ? known : bad(k, f, "must be a life domain code (see veld domains)");
		return VELD_OK;
	}
	if (f->type == F_DOMAINS) {
		if (!json_is_array(v) || json_array_size(v) > 64)
			return bad(k, f, "must be a list of life domain codes");
		json_array_foreach(v, i, e) {
			known = json_is_string(e) ? domain_known(s, zrm, json_string_value(e)) : 0;
			if (known <= 0)
				return known < 0 ? known : bad(k, f, "holds an unknown life domain code");
		}
		return VELD_OK;
	}
	if (!json_is_object(v))
		return bad(k, f, "must be an object of domain: score (1-5)");
	json_object_foreach(v, key, e) {
		if ((known = domain_known(s, zrm, key)) <= 0)
			return known < 0 ? known : bad(k, f, "holds an unknown life domain code");
		if (!json_is_integer(e) || json_integer_value(e) < 1 || json_integer_value(e) > 5)
			return bad(k, f, "scores must be whole numbers from 1 to 5");
	}
	return VELD_OK;
}

/* A record id or a unique prefix of one; stored as the full id. */
static int check_ref(veld_store *s, const struct veld__kdef *k, const struct veld__fdef *f,
                     json_t *v)
{
	uint8_t ent[VELD_ID_BYTES];
	char hex[33];
	int rc;
	if (!json_is_string(v))
		return bad(k, f, "must be a record id");
	if ((rc = veld__resolve(s, f->values[0], json_string_value(v), ent, NULL, NULL, NULL)) != VELD_OK)
		return rc;
	veld__hex(hex, ent, VELD_ID_BYTES);
	return json_string_set(v, hex) == 0 ? VELD_OK : veld__err(VELD_ENOMEM, "out of memory");
}

static int check_care(const struct veld__kdef *k, const struct veld__fdef *f, json_t *v)
{
	const char *key;
	json_t *e;
	if (!json_is_object(v))
		return bad(k, f, "must be {\"active\": bool, \"end_date\": date}");
	json_object_foreach(v, key, e) {
		if (strcmp(key, "active") == 0 && json_is_boolean(e))
			continue;
		if (strcmp(key, "end_date") == 0 &&
		    (json_is_null(e) || (json_is_string(e) && valid_date(json_string_value(e)))))
			continue;
		return bad(k, f, "must be {\"active\": bool, \"end_date\": date}");
	}
	return VELD_OK;
}

static int check_housing(const struct veld__kdef *k, const struct veld__fdef *f, json_t *v)
{
	const char *key;
	json_t *e;
	if (!json_is_object(v))
		return bad(k, f, "must be {\"corporation\", \"tenancy\", \"support_clause\"}");
	json_object_foreach(v, key, e) {
		if ((strcmp(key, "corporation") == 0 || strcmp(key, "tenancy") == 0) &&
		    check_text(k, f, e, 1) == VELD_OK)
			continue;
		if (strcmp(key, "support_clause") == 0 && json_is_boolean(e))
			continue;
		return bad(k, f, "must be {\"corporation\": text, \"tenancy\": text, \"support_clause\": bool}");
	}
	return VELD_OK;
}

static int check_value(veld_store *s, const struct veld__kdef *k, const struct veld__fdef *f,
                       json_t *v, const char *zrm)
{
	const char *str = json_string_value(v);
	if (json_is_null(v))
		return (f->flags & REQ) ? bad(k, f, "is required") : VELD_OK;
	switch (f->type) {
	case F_TEXT:
		return check_text(k, f, v, 0);
	case F_DATE:
		return str && valid_date(str) ? VELD_OK : bad(k, f, "must be a date YYYY-MM-DD");
	case F_DATETIME:
		return str && valid_datetime(str) ? VELD_OK
		       : bad(k, f, "must be an ISO 8601 time like 2026-11-22T10:00Z");
	case F_ENUM:
		return check_enum(k, f, str);
	case F_BOOL:
		return json_is_boolean(v) ? VELD_OK : bad(k, f, "must be true or false");
	case F_DOMAIN:
	case F_DOMAINS:
	case F_SCORES:
		return check_domains(s, k, f, v, zrm);
	case F_REF:
		return check_ref(s, k, f, v);
	case F_CARE:
		return check_care(k, f, v);
	case F_HOUSING:
		return check_housing(k, f, v);
	}
	return VELD_ERROR;
}

int veld__fields_check(veld_store *s, const struct veld__kdef *k, json_t *fields, const char *zrm,
                       int creating)
{
	const char *name;
	json_t *v;
	int rc;
	json_object_foreach(fields, name, v) {
		const struct veld__fdef *f = field_def(k, name);
		if (!f)
			return veld__err(VELD_EINVAL, "%s has no field '%s'", k->kind, name);
		if ((veld__policy_bit(k->kind, name) & ~veld__policy_mask(s)) != 0)
			return veld__err(VELD_EPERM, "the team's field policy keeps '%s' at the office:"
			                 " it is not recorded on a device", name);
		if ((rc = check_value(s, k, f, v, zrm)) != VELD_OK)
			return rc;
	}
	if (creating)
		for (const struct veld__fdef *f = k->fields; f->name; f++)
			if ((f->flags & REQ) && !json_object_get(fields, f->name))
				return bad(k, f, "is required");
	return VELD_OK;
}

/* ---- values other devices wrote ------------------------------------------------ */

/* A reference another device wrote need only be a full record id: the
 * record may arrive later, or live where this device cannot see it. */
static int ref_shape(const struct veld__kdef *k, const struct veld__fdef *f, json_t *v)
{
	const char *str = json_string_value(v);
	uint8_t id[VELD_ID_BYTES];
	if (!str || strlen(str) != 2 * VELD_ID_BYTES || veld__unhex(id, VELD_ID_BYTES, str) != 0)
		return bad(k, f, "must be a record id");
	return VELD_OK;
}

int veld__field_value_check(veld_store *s, const char *kind, const char *field, json_t *v)
{
	const struct veld__kdef *k;
	const struct veld__fdef *f;
	int rc;
	if ((rc = veld__kind_get(kind, &k)) != VELD_OK)
		return rc;
	if (!(f = field_def(k, field)))
		return veld__err(VELD_EINVAL, "%s has no field '%s'", kind, field);
	if (json_is_null(v))
		return VELD_OK; /* a value removed: the writer's update with null */
	/* Life domains: the ZRM version this store knows (a record's own
	 * version may be in another operation not here yet). */
	return f->type == F_REF ? ref_shape(k, f, v) : check_value(s, k, f, v, VELD_ZRM_DEFAULT);
}

int veld__op_value_check(veld_store *s, const veld__op *op, const uint8_t key[32],
                         const char **why)
{
	json_t *v = NULL;
	int rc;
	*why = NULL;
	rc = veld__value_open(op->value, op->value_len, op->entity, op->field, op->device, op->seq,
	                      key, &v, why);
	if (rc == VELD_ECORRUPT) /* *why says which check: it goes to quarantine */
		return VELD_OK;
	if (rc != VELD_OK)
		return rc;
	rc = veld__field_value_check(s, op->kind, op->field, v);
	json_decref(v);
	if (rc == VELD_EINVAL) {
		/* The message names the kind and field and the rule, never the
		 * value; it is kept as the reason. */
		*why = "a value its writer's checks refuse";
		veld__err_clear();
		return VELD_OK;
	}
	return rc;
}

/* ---- search ------------------------------------------------------------------ */

/* Case-insensitive (ASCII) substring test. */
static int contains_ci(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	for (; *hay; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return 1;
	return n == 0;
}

int veld__kind_search(const struct veld__kdef *k, json_t *rec, const char *query)
{
	for (const struct veld__fdef *f = k->fields; f->name; f++) {
		const char *v;
		if (!(f->flags & SEARCH))
			continue;
		v = json_string_value(json_object_get(rec, f->name));
		if (v && contains_ci(v, query))
			return 1;
	}
	return 0;
}

/* ---- the schema as JSON ---------------------------------------------------------- */

static json_t *field_json(const struct veld__fdef *f)
{
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
	return fd;
}

static json_t *kinds_json(void)
{
	json_t *kobj = json_object();
	for (const struct veld__kdef *k = veld__kinds; k->kind; k++) {
		json_t *fields = json_object();
		for (const struct veld__fdef *f = k->fields; f->name; f++)
			json_object_set_new(fields, f->name, field_json(f));
		json_object_set_new(kobj, k->kind, json_pack("{s:b,s:o}", "append_only",
		                                             k->append_only, "fields", fields));
	}
	return kobj;
}

/* The life domains by version: {"2017": [{"code", "label"}, ...]}. */
static int domains_json(veld_store *s, json_t *domains)
{
	sqlite3_stmt *st;
	int rc = veld__sql(s, &kinds_tab, KD_DOMAINS, &st);
	if (rc != VELD_OK)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *ver = (const char *)sqlite3_column_text(st, 0);
		json_t *list = json_object_get(domains, ver);
		if (!list)
			json_object_set_new(domains, ver, list = json_array());
		json_array_append_new(list, json_pack("{s:s,s:s}",
			"code", (const char *)sqlite3_column_text(st, 1),
			"label", (const char *)sqlite3_column_text(st, 2)));
	}
	return veld__sql_done(st, rc, "reading domains");
}

int veld_schema_json(veld_store *s, char **json_out)
{
	json_t *root, *domains = json_object();
	int rc = veld__enter_json(s, json_out, 0);
	if (rc) {
		json_decref(domains);
		return rc;
	}
	root = json_pack("{s:o}", "kinds", kinds_json());
	if ((rc = domains_json(s, domains)) == VELD_OK) {
		json_object_set(root, "domains", domains);
		rc = veld__json_answer(root, json_out);
	}
	json_decref(domains);
	json_decref(root);
	veld__leave(s);
	return rc;
}
