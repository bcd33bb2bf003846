/* kinds.c - checking record values against the record schema in force
 * (kinds.h; the schema itself is a document, read by kinddoc.c).
 *
 * A check names the kind and field that failed, never the value: messages
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

/* The life domains are reference data in the store (zrm_domains), so a
 * new version needs a migration, not a new veld. */
enum kinds_stmt { KD_DOMAIN_CHECK, KD_DOMAINS };
static const char *const kinds_sql[] = {
	[KD_DOMAIN_CHECK] = "SELECT 1 FROM zrm_domains WHERE version = ?1 AND code = ?2",
	[KD_DOMAINS] = "SELECT version, code, label FROM zrm_domains ORDER BY version, ord",
};
static const struct veld__sqltab kinds_tab = VELD_SQLTAB(VELD_SQL_KINDS, kinds_sql);

static const struct veld__kdef *kind_def(veld_store *s, const char *kind)
{
	for (size_t i = 0; kind && i < s->schema->nkinds; i++)
		if (strcmp(s->schema->kinds[i].kind, kind) == 0)
			return &s->schema->kinds[i];
	return NULL;
}

int veld__kind_get(veld_store *s, const char *kind, const struct veld__kdef **out)
{
	char msg[400] = "unknown record kind (the kinds are:";
	if ((*out = kind_def(s, kind)))
		return VELD_OK;
	/* A kind of a version another process kept since this one looked. */
	if (!s->schema_prev && veld__schema_reload(s) == VELD_OK && (*out = kind_def(s, kind)))
		return VELD_OK;
	veld__err_clear();
	for (size_t i = 0; i < s->schema->nkinds; i++)
		snprintf(msg + strlen(msg), sizeof msg - strlen(msg), " %s", s->schema->kinds[i].kind);
	return veld__err(VELD_EINVAL, "%s; see veld schema)", msg);
}

int veld__kind_known(veld_store *s, const char *kind)
{
	return kind_def(s, kind) != NULL;
}

static const struct veld__fdef *field_def(const struct veld__kdef *k, const char *name)
{
	for (size_t i = 0; i < k->nfields; i++)
		if (strcmp(k->fields[i].name, name) == 0)
			return &k->fields[i];
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

int veld__fields_defaults(const struct veld__kdef *k, json_t *fields)
{
	for (size_t i = 0; i < k->nfields; i++) {
		json_t *d = json_object_get(k->fields[i].def, "default");
		if (d && !json_object_get(fields, k->fields[i].name) &&
		    json_object_set(fields, k->fields[i].name, d) != 0)
			return veld__err(VELD_ENOMEM, "out of memory");
	}
	return VELD_OK;
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

int64_t veld__days_from_civil(int64_t y, unsigned m, unsigned d)
{
	/* Howard Hinnant's days_from_civil: exact for every date of the
	 * proleptic Gregorian calendar, with no time zone involved. */
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const unsigned yoe = (unsigned)(y - era * 400);
	const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

int veld__day_number(const char *date, int64_t *day)
{
	if (!date || !valid_date_prefix(date))
		return -1;
	*day = veld__days_from_civil(atoi(date), (unsigned)atoi(date + 5), (unsigned)atoi(date + 8));
	return 0;
}

/* The date of a day number (Howard Hinnant's civil_from_days, the inverse
 * of veld__days_from_civil). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	const unsigned doe = (unsigned)(z - era * 146097);
	const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	const unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

void veld__date_of_day(char out[11], int64_t day)
{
	int64_t y;
	unsigned m, d;
	civil_from_days(day, &y, &m, &d);
	snprintf(out, 11, "%04u-%02u-%02u", (unsigned)(y < 0 ? 0 : y % 10000), m % 100u, d % 100u);
}

/* How a check treats what is no longer written: a write of this store
 * refuses a retired field or option; a value another device wrote, or one
 * already held, still passes. */
enum use { FRESH, HELD };

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

static int listed(json_t *arr, const char *str)
{
	size_t i;
	json_t *e;
	json_array_foreach(arr, i, e)
		if (str && strcmp(json_string_value(e), str) == 0)
			return 1;
	return 0;
}

/* One option of an enum or options field. */
static int check_option(const struct veld__kdef *k, const struct veld__fdef *f, const char *str,
                        enum use use)
{
	json_t *values = json_object_get(f->def, "values");
	char msg[512] = "must be one of:";
	size_t i;
	json_t *e;
	if (listed(values, str)) {
		if (use == FRESH && listed(json_object_get(f->def, "retired_values"), str))
			return bad(k, f, "names an option no longer in use (see veld schema)");
		return VELD_OK;
	}
	if (use == HELD && str) /* perhaps an option of a newer version */
		return veld__err(VELD_ENOTFOUND, "%s field '%s' names an option this schema lacks",
		                 k->kind, f->name);
	json_array_foreach(values, i, e)
		if (!listed(json_object_get(f->def, "retired_values"), json_string_value(e)))
			snprintf(msg + strlen(msg), sizeof msg - strlen(msg), " %s", json_string_value(e));
	return bad(k, f, msg);
}

/* The entry `code` of the schema's list `list`, or NULL. */
static json_t *list_entry(veld_store *s, const char *list, const char *code)
{
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(json_object_get(s->schema->doc, "lists"), list), i, e)
		if (code && strcmp(json_string_value(json_object_get(e, "code")), code) == 0)
			return e;
	return NULL;
}

static int check_code(veld_store *s, const struct veld__kdef *k, const struct veld__fdef *f,
                      const char *code, enum use use)
{
	json_t *e = list_entry(s, f->ref, code);
	char msg[160];
	snprintf(msg, sizeof msg, "must be a code of the list '%s' (see veld schema)", f->ref);
	if (!e && use == HELD && code) /* perhaps an entry of a newer version */
		return veld__err(VELD_ENOTFOUND, "%s field '%s' names a list entry this schema lacks",
		                 k->kind, f->name);
	if (!e)
		return bad(k, f, msg);
	if (use == FRESH && json_is_true(json_object_get(e, "retired")))
		return bad(k, f, "names a list entry no longer in use (see veld schema)");
	return VELD_OK;
}

/* A list of distinct options (F_OPTIONS) or list codes (F_CODES). */
static int check_many(veld_store *s, const struct veld__kdef *k, const struct veld__fdef *f,
                      json_t *v, enum use use)
{
	size_t i, j;
	json_t *e;
	int rc;
	if (!json_is_array(v) || json_array_size(v) > 64)
		return bad(k, f, "must be a list of at most 64 codes");
	json_array_foreach(v, i, e) {
		if (!json_is_string(e))
			return bad(k, f, "must be a list of codes");
		rc = f->type == F_OPTIONS ? check_option(k, f, json_string_value(e), use)
		                          : check_code(s, k, f, json_string_value(e), use);
		if (rc != VELD_OK)
			return rc;
		for (j = 0; j < i; j++)
			if (json_equal(e, json_array_get(v, j)))
				return bad(k, f, "lists a code twice");
	}
	return VELD_OK;
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

/* A record id or a unique prefix of one, of a record of the same client
 * (`client`; NULL: any); stored as the full id. */
static int check_ref(veld_store *s, const struct veld__kdef *k, const struct veld__fdef *f,
                     json_t *v, const uint8_t *client)
{
	uint8_t ent[VELD_ID_BYTES], owner[VELD_ID_BYTES];
	char hex[33];
	int rc;
	if (!json_is_string(v))
		return bad(k, f, "must be a record id");
	if ((rc = veld__resolve(s, f->ref, json_string_value(v), ent, owner, NULL, NULL)) != VELD_OK)
		return rc;
	if (client && memcmp(owner, client, VELD_ID_BYTES) != 0)
		return bad(k, f, "names a record of another client");
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

static int check_int(const struct veld__kdef *k, const struct veld__fdef *f, json_t *v)
{
	char msg[96];
	if (json_is_integer(v) && json_integer_value(v) >= f->min && json_integer_value(v) <= f->max)
		return VELD_OK;
	snprintf(msg, sizeof msg, "must be a whole number from %lld to %lld", (long long)f->min,
	         (long long)f->max);
	return bad(k, f, msg);
}

/* A value of field f; a reference is checked by the caller (its rules
 * differ for a write here and a value from elsewhere). */
static int check_value(veld_store *s, const struct veld__kdef *k, const struct veld__fdef *f,
                       json_t *v, const char *zrm, enum use use)
{
	const char *str = json_string_value(v);
	switch (f->type) {
	case F_TEXT:
		return check_text(k, f, v, 0);
	case F_DATE:
		return str && valid_date(str) ? VELD_OK : bad(k, f, "must be a date YYYY-MM-DD");
	case F_DATETIME:
		return str && valid_datetime(str) ? VELD_OK
		       : bad(k, f, "must be an ISO 8601 time like 2026-11-22T10:00Z");
	case F_ENUM:
		return check_option(k, f, str, use);
	case F_BOOL:
		return json_is_boolean(v) ? VELD_OK : bad(k, f, "must be true or false");
	case F_INT:
		return check_int(k, f, v);
	case F_OPTIONS:
	case F_CODES:
		return check_many(s, k, f, v, use);
	case F_CODE:
		return check_code(s, k, f, str, use);
	case F_DOMAIN:
	case F_DOMAINS:
	case F_SCORES:
		return check_domains(s, k, f, v, zrm);
	case F_CARE:
		return check_care(k, f, v);
	case F_HOUSING:
		return check_housing(k, f, v);
	case F_REF:
		break;
	}
	return VELD_ERROR;
}

int veld__fields_check(veld_store *s, const struct veld__kdef *k, json_t *fields, const char *zrm,
                       const uint8_t *client, int creating)
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
		if (json_is_null(v)) {
			if (f->flags & VELD_F_REQ)
				return bad(k, f, "is required");
			continue;
		}
		if (f->flags & VELD_F_RETIRED)
			return bad(k, f, "is no longer in use (see veld schema)");
		rc = f->type == F_REF ? check_ref(s, k, f, v, client)
		                      : check_value(s, k, f, v, zrm, FRESH);
		if (rc != VELD_OK)
			return rc;
	}
	if (creating)
		for (size_t i = 0; i < k->nfields; i++)
			if ((k->fields[i].flags & VELD_F_REQ) && !json_object_get(fields, k->fields[i].name))
				return bad(k, &k->fields[i], "is required");
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
	/* A kind or field this schema lacks may be of a newer version. */
	if (!(k = kind_def(s, kind)))
		return veld__err(VELD_ENOTFOUND, "this record schema has no kind '%s'", kind);
	if (!(f = field_def(k, field)))
		return veld__err(VELD_ENOTFOUND, "%s has no field '%s' in this record schema", kind, field);
	if (json_is_null(v))
		return VELD_OK; /* a value removed: the writer's update with null */
	/* Life domains: the ZRM version this store knows (a record's own
	 * version may be in another operation not here yet). */
	return f->type == F_REF ? ref_shape(k, f, v) : check_value(s, k, f, v, VELD_ZRM_DEFAULT, HELD);
}

const char veld__newer_schema[] = "names what this record schema lacks";

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
	if (rc == VELD_EINVAL || rc == VELD_ENOTFOUND) {
		/* The message names the kind and field and the rule, never the
		 * value; it is kept as the reason. A kind, field, option or list
		 * code the schema lacks may be of a version still to come. */
		*why = rc == VELD_ENOTFOUND ? veld__newer_schema : "a value its writer's checks refuse";
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
	for (size_t i = 0; i < k->nfields; i++) {
		const char *v;
		if (!(k->fields[i].flags & VELD_F_SEARCH))
			continue;
		v = json_string_value(json_object_get(rec, k->fields[i].name));
		if (v && contains_ci(v, query))
			return 1;
	}
	return 0;
}

/* ---- the schema as JSON ---------------------------------------------------------- */

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

/* The schema in force as its document says it, each kind and field with
 * its flags spelled out, and the life domains. */
static json_t *schema_doc(veld_store *s)
{
	json_t *doc = json_deep_copy(s->schema->doc), *kinds = json_object_get(doc, "kinds"), *k, *f;
	const char *kn, *fn;
	json_object_foreach(kinds, kn, k) {
		if (!json_object_get(k, "append_only"))
			json_object_set_new(k, "append_only", json_false());
		json_object_foreach(json_object_get(k, "fields"), fn, f)
			if (!json_object_get(f, "required"))
				json_object_set_new(f, "required", json_false());
	}
	return doc;
}

int veld_schema_json(veld_store *s, char **json_out)
{
	json_t *root, *domains = json_object();
	int rc = veld__enter_json(s, json_out, 0);
	if (rc) {
		json_decref(domains);
		return rc;
	}
	root = schema_doc(s);
	if ((rc = domains_json(s, domains)) == VELD_OK) {
		json_object_set(root, "domains", domains);
		rc = veld__json_answer(root, json_out);
	}
	json_decref(domains);
	json_decref(root);
	veld__leave(s);
	return rc;
}
