/* kinddoc.c - the record schema as a document: reading one, deciding
 * whether a new version may follow the one in force, and which version a
 * store is in.
 *
 * A document is JSON (docs/data-model.md, "The record schema"):
 *
 *   {"format": "veld-schema-1", "name": ..., "version": N,
 *    "kinds": {kind: {"append_only"?: bool, "label"?: {...},
 *                     "fields": {name: {"type": ..., ...}}}},
 *    "lists": {name: [{"code": ..., "label"?: ..., ...}]}}
 *
 * Reading is strict: every key known, every name well-formed, every
 * reference to a kind or list resolved, so kinds.c can trust what it finds.
 * Messages name the place in the document (kinds.tenancy.fields.form),
 * never a label or a list entry's text. */
#include "kinds.h"
#include "error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KINDS 64
#define MAX_FIELDS 64
#define MAX_VALUES 256
#define MAX_LIST 4096
#define CODE_MAX 64

static const char *const type_names[] = {
	[F_TEXT] = "text", [F_DATE] = "date", [F_DATETIME] = "datetime", [F_ENUM] = "enum",
	[F_BOOL] = "bool", [F_DOMAINS] = "domains", [F_DOMAIN] = "domain", [F_SCORES] = "scores",
	[F_REF] = "ref", [F_CARE] = "care_decision", [F_HOUSING] = "housing", [F_INT] = "int",
	[F_OPTIONS] = "options", [F_CODE] = "code", [F_CODES] = "codes"};
#define NTYPES (sizeof type_names / sizeof *type_names)

/* The kinds the C code itself relies on (records.c, retention.c, sync):
 * every schema has them, with at least these fields (the built-in schema's
 * definitions, which a compatible schema keeps). */
static const char *const core_kinds[] = {"client", "visit", "note", "goal", "signal"};

static int bad(const char *path, const char *what)
{
	return veld__err(VELD_EINVAL, "schema: %s %s", path, what);
}

/* a-z first, then a-z 0-9 _; at most max characters. */
static int name_ok(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > max || s[0] < 'a' || s[0] > 'z')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

int veld__kind_name_ok(const char *kind)
{
	return name_ok(kind, VELD_KIND_MAX);
}

/* Only the keys in `allowed` (space-separated, each followed by a space). */
static int keys_only(json_t *obj, const char *allowed, const char *path)
{
	const char *key;
	json_t *v;
	char probe[CODE_MAX + 3];
	json_object_foreach(obj, key, v) {
		(void)v;
		snprintf(probe, sizeof probe, " %s ", key);
		if (strlen(key) > CODE_MAX || !strstr(allowed, probe))
			return bad(path, "has a key it does not know");
	}
	return VELD_OK;
}

static int bool_or_absent(json_t *obj, const char *key, const char *path)
{
	json_t *v = json_object_get(obj, key);
	return !v || json_is_boolean(v) ? VELD_OK : bad(path, "has a flag that is not true or false");
}

/* {"nl": text, "en": text, ...}: labels per language, optional. */
static int label_ok(json_t *obj, const char *path)
{
	json_t *l = json_object_get(obj, "label"), *v;
	const char *key;
	if (!l)
		return VELD_OK;
	if (json_is_string(l))
		return json_string_length(l) <= 200 ? VELD_OK : bad(path, "has a label too long");
	if (!json_is_object(l))
		return bad(path, "has a label that is neither text nor {language: text}");
	json_object_foreach(l, key, v)
		if (strlen(key) > 8 || !json_is_string(v) || json_string_length(v) > 200)
			return bad(path, "has a label that is neither text nor {language: text}");
	return VELD_OK;
}

/* An array of distinct codes; `sub` (may be NULL) must be a subset. */
static int codes_ok(json_t *arr, json_t *sub, const char *path)
{
	size_t i, j;
	json_t *v;
	if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > MAX_VALUES)
		return bad(path, "needs \"values\": a list of 1 to 256 codes");
	json_array_foreach(arr, i, v) {
		if (!name_ok(json_string_value(v), CODE_MAX))
			return bad(path, "has a value that is not a code (a-z, 0-9, _)");
		for (j = 0; j < i; j++)
			if (json_equal(v, json_array_get(arr, j)))
				return bad(path, "lists a value twice");
	}
	if (!sub)
		return VELD_OK;
	if (!json_is_array(sub))
		return bad(path, "has \"retired_values\" that is not a list");
	json_array_foreach(sub, i, v) {
		int found = 0;
		json_t *w;
		json_array_foreach(arr, j, w)
			found |= json_equal(v, w);
		if (!found)
			return bad(path, "retires a value it does not list");
	}
	return VELD_OK;
}

static int has_value(json_t *arr, json_t *v);

static enum veld__ftype type_of(const char *name)
{
	for (size_t i = 0; name && i < NTYPES; i++)
		if (strcmp(type_names[i], name) == 0)
			return (enum veld__ftype)i;
	return (enum veld__ftype)NTYPES;
}

/* The keys each type takes beyond "type", "required", "search",
 * "retired", "label" and "default". */
static const char *type_keys(enum veld__ftype t)
{
	switch (t) {
	case F_ENUM:
	case F_OPTIONS: return " values retired_values ";
	case F_REF: return " ref ";
	case F_CODE:
	case F_CODES: return " list ";
	case F_INT: return " min max ";
	default: return " ";
	}
}

/* A field's "default": only for enum, bool, int and text, a valid value
 * (the range is checked once min and max are read: field_read). */
static int default_ok(const struct veld__fdef *f, json_t *d, const char *path)
{
	if (!d)
		return VELD_OK;
	switch (f->type) {
	case F_ENUM:
		if (json_is_string(d) && has_value(json_object_get(f->def, "values"), d) &&
		    !has_value(json_object_get(f->def, "retired_values"), d))
			return VELD_OK;
		break;
	case F_BOOL:
		if (json_is_boolean(d))
			return VELD_OK;
		break;
	case F_INT:
		if (json_is_integer(d))
			return VELD_OK;
		break;
	case F_TEXT:
		if (json_is_string(d) && json_string_length(d) > 0 && json_string_length(d) <= 500)
			return VELD_OK;
		break;
	default:
		return bad(path, "has a default, which only enum, bool, int and text fields take");
	}
	return bad(path, "has a default that is not one of its values in use");
}

static int field_read(json_t *doc, json_t *def, const char *path, struct veld__fdef *f)
{
	char allowed[160];
	const char *ty = json_string_value(json_object_get(def, "type"));
	json_t *mn, *mx;
	int rc;
	if (!json_is_object(def))
		return bad(path, "is not an object");
	if ((f->type = type_of(ty)) == (enum veld__ftype)NTYPES)
		return bad(path, "has no type veld knows (see docs/data-model.md)");
	snprintf(allowed, sizeof allowed, " type required search retired label default%s",
	         type_keys(f->type));
	if ((rc = keys_only(def, allowed, path)) || (rc = bool_or_absent(def, "required", path)) ||
	    (rc = bool_or_absent(def, "search", path)) || (rc = bool_or_absent(def, "retired", path)) ||
	    (rc = label_ok(def, path)))
		return rc;
	f->def = def;
	f->flags = (json_is_true(json_object_get(def, "required")) ? VELD_F_REQ : 0) |
	           (json_is_true(json_object_get(def, "search")) ? VELD_F_SEARCH : 0) |
	           (json_is_true(json_object_get(def, "retired")) ? VELD_F_RETIRED : 0);
	if ((f->flags & VELD_F_SEARCH) && f->type != F_TEXT)
		return bad(path, "is searched but not text");
	if ((f->flags & VELD_F_REQ) && (f->flags & VELD_F_RETIRED))
		return bad(path, "is both required and retired");
	if ((f->flags & VELD_F_RETIRED) && json_object_get(def, "default"))
		return bad(path, "is retired but has a default (every new record would carry it)");
	if ((rc = default_ok(f, json_object_get(def, "default"), path)) != VELD_OK)
		return rc;
	switch (f->type) {
	case F_ENUM:
	case F_OPTIONS:
		return codes_ok(json_object_get(def, "values"), json_object_get(def, "retired_values") ?
		                json_object_get(def, "retired_values") : NULL, path);
	case F_REF:
		f->ref = json_string_value(json_object_get(def, "ref"));
		if (!f->ref || !json_object_get(json_object_get(doc, "kinds"), f->ref))
			return bad(path, "needs \"ref\": a kind of this schema");
		return VELD_OK;
	case F_CODE:
	case F_CODES:
		f->ref = json_string_value(json_object_get(def, "list"));
		if (!f->ref || !json_object_get(json_object_get(doc, "lists"), f->ref))
			return bad(path, "needs \"list\": a list of this schema");
		return VELD_OK;
	case F_INT:
		mn = json_object_get(def, "min");
		mx = json_object_get(def, "max");
		if (!json_is_integer(mn) || !json_is_integer(mx) ||
		    json_integer_value(mn) > json_integer_value(mx) ||
		    json_integer_value(mn) < -1000000000LL || json_integer_value(mx) > 1000000000LL)
			return bad(path, "needs whole \"min\" <= \"max\" within +-10^9");
		f->min = json_integer_value(mn);
		f->max = json_integer_value(mx);
		if (json_object_get(def, "default") &&
		    (json_integer_value(json_object_get(def, "default")) < f->min ||
		     json_integer_value(json_object_get(def, "default")) > f->max))
			return bad(path, "has a default outside its range");
		return VELD_OK;
	default:
		return VELD_OK;
	}
}

static int kind_read(json_t *doc, const char *name, json_t *def, struct veld__kdef *k)
{
	char path[160];
	const char *fname;
	json_t *fields, *fdef;
	size_t i = 0;
	int rc;
	snprintf(path, sizeof path, "kinds.%s", name);
	if (!name_ok(name, VELD_KIND_MAX))
		return bad("kinds", "has a kind name that is not 1 to 16 of a-z, 0-9, _");
	if (!json_is_object(def))
		return bad(path, "is not an object");
	if ((rc = keys_only(def, " append_only fields label ", path)) ||
	    (rc = bool_or_absent(def, "append_only", path)) || (rc = label_ok(def, path)))
		return rc;
	fields = json_object_get(def, "fields");
	if (!json_is_object(fields) || json_object_size(fields) == 0 ||
	    json_object_size(fields) > MAX_FIELDS)
		return bad(path, "needs \"fields\" with 1 to 64 fields");
	k->kind = name;
	k->append_only = json_is_true(json_object_get(def, "append_only"));
	k->nfields = json_object_size(fields);
	if (!(k->fields = calloc(k->nfields, sizeof *k->fields)))
		return veld__err(VELD_ENOMEM, "out of memory");
	json_object_foreach(fields, fname, fdef) {
		snprintf(path, sizeof path, "kinds.%s.fields.%s", name, fname);
		if (!name_ok(fname, VELD_FIELD_MAX) || strcmp(fname, "client") == 0 ||
		    strcmp(fname, "team") == 0)
			return bad(path, "is not a field name (a-z, 0-9, _; not client or team)");
		k->fields[i].name = fname;
		if ((rc = field_read(doc, fdef, path, &k->fields[i++])) != VELD_OK)
			return rc;
	}
	return VELD_OK;
}

/* "lists": {name: [{"code", "label"?, "retired"?, other text keys}]}. */
static int lists_read(json_t *lists)
{
	const char *name, *key;
	json_t *list, *e, *v;
	size_t i, j;
	if (!json_is_object(lists) || json_object_size(lists) > MAX_KINDS)
		return bad("lists", "is not an object of at most 64 lists");
	json_object_foreach(lists, name, list) {
		if (!name_ok(name, CODE_MAX) || !json_is_array(list) || json_array_size(list) > MAX_LIST)
			return bad("lists", "has a list that is not a named list of at most 4096 entries");
		json_array_foreach(list, i, e) {
			if (!json_is_object(e) || !name_ok(json_string_value(json_object_get(e, "code")), CODE_MAX))
				return bad("lists", "has an entry without a \"code\" (a-z, 0-9, _)");
			json_object_foreach(e, key, v)
				if (!(json_is_string(v) && json_string_length(v) <= 500) &&
				    !(strcmp(key, "retired") == 0 && json_is_boolean(v)))
					return bad("lists", "has an entry with a value that is not short text");
			for (j = 0; j < i; j++)
				if (json_equal(json_object_get(e, "code"),
				               json_object_get(json_array_get(list, j), "code")))
					return bad("lists", "has a code twice in one list");
		}
	}
	return VELD_OK;
}

void veld__schema_free(struct veld__schema *sc)
{
	if (!sc)
		return;
	veld__schema_free(sc->older);
	for (size_t i = 0; sc->kinds && i < sc->nkinds; i++)
		free(sc->kinds[i].fields);
	free(sc->kinds);
	free(sc->text);
	json_decref(sc->doc);
	free(sc);
}

/* The fields veld itself fills on a new record (records.c fill_defaults):
 * never retired, or no such record could be created. */
static int filled_fields_kept(const struct veld__schema *sc)
{
	static const char *const filled[][2] = {
		{"visit", "worker"}, {"visit", "zrm_version"}, {"note", "author"}, {"client", "name"}};
	for (size_t i = 0; i < sizeof filled / sizeof *filled; i++)
		for (size_t k = 0; k < sc->nkinds; k++)
			for (size_t f = 0; strcmp(sc->kinds[k].kind, filled[i][0]) == 0 && f < sc->kinds[k].nfields; f++)
				if (strcmp(sc->kinds[k].fields[f].name, filled[i][1]) == 0 &&
				    (sc->kinds[k].fields[f].flags & VELD_F_RETIRED))
					return veld__err(VELD_EINVAL, "schema: kinds.%s.fields.%s is filled by veld"
					                 " and cannot be retired", filled[i][0], filled[i][1]);
	return VELD_OK;
}

static int doc_read(struct veld__schema *sc)
{
	json_t *doc = sc->doc, *kinds = json_object_get(doc, "kinds"), *ver, *def;
	const char *name;
	size_t i = 0;
	int rc;
	if (!json_is_object(doc))
		return bad("the document", "is not a JSON object");
	if ((rc = keys_only(doc, " format name version kinds lists ", "the document")) != VELD_OK)
		return rc;
	if (!json_is_string(json_object_get(doc, "format")) ||
	    strcmp(json_string_value(json_object_get(doc, "format")), "veld-schema-1") != 0)
		return bad("format", "must be \"veld-schema-1\"");
	ver = json_object_get(doc, "version");
	if (!json_is_integer(ver) || json_integer_value(ver) < 1)
		return bad("version", "must be a whole number from 1");
	sc->version = (uint64_t)json_integer_value(ver);
	if (!(sc->name = json_string_value(json_object_get(doc, "name"))) || !*sc->name ||
	    strlen(sc->name) > 64)
		return bad("name", "must be 1 to 64 characters");
	if (!json_object_get(doc, "lists"))
		json_object_set_new(doc, "lists", json_object());
	if ((rc = lists_read(json_object_get(doc, "lists"))) != VELD_OK)
		return rc;
	if (!json_is_object(kinds) || json_object_size(kinds) == 0 || json_object_size(kinds) > MAX_KINDS)
		return bad("kinds", "must hold 1 to 64 kinds");
	for (size_t c = 0; c < sizeof core_kinds / sizeof *core_kinds; c++)
		if (!json_object_get(kinds, core_kinds[c]))
			return bad("kinds", "must keep client, visit, note, goal and signal");
	sc->nkinds = json_object_size(kinds);
	if (!(sc->kinds = calloc(sc->nkinds, sizeof *sc->kinds)))
		return veld__err(VELD_ENOMEM, "out of memory");
	json_object_foreach(kinds, name, def)
		if ((rc = kind_read(doc, name, def, &sc->kinds[i++])) != VELD_OK)
			return rc;
	return filled_fields_kept(sc);
}

int veld__schema_parse(const char *text, size_t len, struct veld__schema **out)
{
	struct veld__schema *sc;
	json_error_t e;
	int rc;
	*out = NULL;
	if (len > VELD_SCHEMA_DOC_MAX)
		return bad("the document", "is larger than 128 KiB");
	if (!(sc = calloc(1, sizeof *sc)))
		return veld__err(VELD_ENOMEM, "out of memory");
	if (!(sc->doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e))) {
		veld__schema_free(sc);
		return veld__err(VELD_EINVAL, "schema: not JSON (line %d: %s)", e.line, e.text);
	}
	if ((rc = doc_read(sc)) == VELD_OK &&
	    !(sc->text = json_dumps(sc->doc, JSON_COMPACT | JSON_ENSURE_ASCII)))
		rc = veld__err(VELD_ENOMEM, "out of memory");
	if (rc == VELD_OK && (sc->text_len = strlen(sc->text)) > VELD_SCHEMA_DOC_MAX)
		rc = bad("the document", "is larger than 128 KiB");
	if (rc != VELD_OK) {
		veld__schema_free(sc);
		return rc;
	}
	*out = sc;
	return VELD_OK;
}

/* ---- compatibility ------------------------------------------------------------- */

static const struct veld__kdef *find_kind(const struct veld__schema *sc, const char *kind)
{
	for (size_t i = 0; i < sc->nkinds; i++)
		if (strcmp(sc->kinds[i].kind, kind) == 0)
			return &sc->kinds[i];
	return NULL;
}

static const struct veld__fdef *find_field(const struct veld__kdef *k, const char *name)
{
	for (size_t i = 0; i < k->nfields; i++)
		if (strcmp(k->fields[i].name, name) == 0)
			return &k->fields[i];
	return NULL;
}

static int has_value(json_t *arr, json_t *v)
{
	size_t i;
	json_t *w;
	json_array_foreach(arr, i, w)
		if (json_equal(v, w))
			return 1;
	return 0;
}

static int field_compatible(const struct veld__fdef *a, const struct veld__fdef *b,
                            const char *path)
{
	size_t i;
	json_t *v;
	if (a->type != b->type)
		return bad(path, "changes its type");
	if ((b->flags & VELD_F_REQ) && !(a->flags & VELD_F_REQ))
		return bad(path, "becomes required: records written before lack it");
	if ((a->type == F_REF || a->type == F_CODE || a->type == F_CODES) && strcmp(a->ref, b->ref) != 0)
		return bad(path, "changes the kind or list it refers to");
	if (a->type == F_INT && (b->min > a->min || b->max < a->max))
		return bad(path, "narrows its range");
	if (a->type == F_ENUM || a->type == F_OPTIONS)
		json_array_foreach(json_object_get(a->def, "values"), i, v)
			if (!has_value(json_object_get(b->def, "values"), v))
				return bad(path, "drops a value (retire it instead: \"retired_values\")");
	return VELD_OK;
}

static int lists_compatible(json_t *a, json_t *b)
{
	const char *name;
	json_t *list, *e, *f;
	size_t i, j;
	json_object_foreach(a, name, list) {
		json_t *nl = json_object_get(b, name);
		if (!nl)
			return bad("lists", "drops a list");
		json_array_foreach(list, i, e) {
			int found = 0;
			json_array_foreach(nl, j, f)
				found |= json_equal(json_object_get(e, "code"), json_object_get(f, "code"));
			if (!found)
				return bad("lists", "drops an entry (retire it instead: \"retired\": true)");
		}
	}
	return VELD_OK;
}

int veld__schema_compatible(const struct veld__schema *prev, const struct veld__schema *next)
{
	char path[160];
	int rc;
	if (next->version <= prev->version)
		return veld__err(VELD_EINVAL, "schema: version %llu does not follow version %llu",
		                 (unsigned long long)next->version, (unsigned long long)prev->version);
	for (size_t i = 0; i < prev->nkinds; i++) {
		const struct veld__kdef *a = &prev->kinds[i], *b = find_kind(next, a->kind);
		snprintf(path, sizeof path, "kinds.%s", a->kind);
		if (!b)
			return bad(path, "is dropped: records of it exist");
		if (a->append_only != b->append_only)
			return bad(path, "changes append_only");
		for (size_t j = 0; j < a->nfields; j++) {
			const struct veld__fdef *fb = find_field(b, a->fields[j].name);
			snprintf(path, sizeof path, "kinds.%s.fields.%s", a->kind, a->fields[j].name);
			if (!fb)
				return bad(path, "is dropped (retire it instead: \"retired\": true)");
			if ((rc = field_compatible(&a->fields[j], fb, path)) != VELD_OK)
				return rc;
		}
	}
	return lists_compatible(json_object_get(prev->doc, "lists"), json_object_get(next->doc, "lists"));
}

/* ---- the version in force ------------------------------------------------------ */

enum doc_stmt { KD_NEWEST, KD_NEWEST_VERSION, KD_PUT, KD_GET };
static const char *const doc_sql[] = {
	[KD_NEWEST] = "SELECT doc FROM schemas ORDER BY version DESC LIMIT 1",
	[KD_NEWEST_VERSION] = "SELECT max(version) FROM schemas",
	[KD_GET] = "SELECT doc FROM schemas WHERE version = ?1",
	[KD_PUT] = "INSERT INTO schemas(version, doc, at) VALUES (?1, ?2, ?3)",
};
static const struct veld__sqltab doc_tab = VELD_SQLTAB(VELD_SQL_SCHEMA, doc_sql);

int veld__schema_load(veld_store *s)
{
	struct veld__schema *sc = NULL;
	sqlite3_stmt *st;
	int rc = veld__sql(s, &doc_tab, KD_NEWEST, &st);
	if (rc != VELD_OK)
		return rc;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rc = veld__schema_parse((const char *)sqlite3_column_text(st, 0),
		                        (size_t)sqlite3_column_bytes(st, 0), &sc);
		sqlite3_reset(st);
	} else if ((rc = veld__sql_done(st, rc, "reading the record schema")) == VELD_OK) {
		rc = veld__schema_parse(veld__default_schema, strlen(veld__default_schema), &sc);
	}
	if (rc != VELD_OK)
		return rc == VELD_EINVAL ? veld__err(VELD_ECORRUPT, "the store's record schema does not read")
		                         : rc;
	veld__schema_free(s->schema);
	s->schema = sc;
	return VELD_OK;
}

int veld__schema_reload(veld_store *s)
{
	struct veld__schema *was = s->schema;
	sqlite3_stmt *st;
	int64_t newest;
	int rc = veld__sql(s, &doc_tab, KD_NEWEST_VERSION, &st);
	if (rc != VELD_OK || (rc = veld__sql_int64(st, &newest, "reading the record schema")) != VELD_OK)
		return rc;
	if (newest == 0 || (uint64_t)newest == was->version)
		return VELD_OK;
	s->schema = NULL;
	if ((rc = veld__schema_load(s)) != VELD_OK) {
		s->schema = was;
		return rc;
	}
	s->schema->older = was;
	return VELD_OK;
}

int veld__schema_adopt(veld_store *s, const char *text, size_t len, uint64_t at)
{
	struct veld__schema *sc;
	sqlite3_stmt *st;
	int rc = veld__schema_parse(text, len, &sc);
	if (rc != VELD_OK)
		return rc;
	if ((rc = veld__schema_compatible(s->schema, sc)) == VELD_OK &&
	    (rc = veld__sql(s, &doc_tab, KD_PUT, &st)) == VELD_OK) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)sc->version);
		sqlite3_bind_text(st, 2, sc->text, (int)sc->text_len, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)at);
		rc = veld__sql_run(st, "keeping the record schema");
	}
	if (rc != VELD_OK) {
		veld__schema_free(sc);
		return rc;
	}
	/* In force from now; a rolled-back transaction restores the one
	 * before (store.c, tx_restore). */
	if (s->schema_prev) {
		veld__schema_free(s->schema);
	} else {
		s->schema_prev = s->schema;
		s->schema_depth = s->tx_depth;
	}
	s->schema = sc;
	return VELD_OK;
}

int veld__schema_held(veld_store *s, uint64_t version, const char *text, size_t len, int *same)
{
	sqlite3_stmt *st;
	int rc = veld__sql(s, &doc_tab, KD_GET, &st);
	*same = 0;
	if (rc != VELD_OK)
		return rc;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)version);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*same = (size_t)sqlite3_column_bytes(st, 0) == len &&
		        memcmp(sqlite3_column_text(st, 0), text, len) == 0;
		sqlite3_reset(st);
		return VELD_OK;
	}
	return veld__sql_done(st, rc, "reading the record schema");
}
