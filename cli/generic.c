/*
 * generic.c - `veld record add|list|show|edit|delete KIND ...`: the records
 * of every kind the record schema has, the kinds an office adds included.
 *
 * Nothing here names a kind or a field. The schema in force (schema.c)
 * says which fields a kind has and the type of each, and a --set
 * FIELD=VALUE becomes the JSON that type takes: yes/no a boolean, a list
 * separated by commas an array, `today` and `now` a date and a time. What
 * the value must be beyond its shape (one of the options, a number in
 * range, a code of the list, the same client's record) the store checks,
 * and its error names the kind and field, never the value. The checks that
 * need no schema come first, so that a mistake in the command line is
 * reported before the passphrase is asked for.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli.h"

/* Most columns of fields a list shows besides id, client and date. */
#define LIST_FIELDS 3
/* The width of the last column; the others are as wide as their type. */
#define LIST_LAST_WIDTH 40

/* ---- a --set value as its field's type holds it --------------------------------- */

static json_t *as_text(const char *v)
{
	return json_string(v); /* NULL if it is not UTF-8 */
}

static json_t *as_ref(const char *v)
{
	size_t n = strlen(v);
	/* an id or a unique prefix: the store finds the record */
	return n >= 4 && n <= 32 && strspn(v, "0123456789abcdefABCDEF") == n ? json_string(v) : NULL;
}

static json_t *as_date(const char *v)
{
	char today[16];
	if (strcmp(v, "today") == 0)
		return json_string(cli_today(today, sizeof today));
	return cli_valid_date(v) ? json_string(v) : NULL;
}

static json_t *as_time(const char *v)
{
	char buf[40];
	const char *t = cli_time_arg(v, buf, sizeof buf);
	return t != NULL ? json_string(t) : NULL;
}

static json_t *as_bool(const char *v)
{
	int b = cli_yes_no(v);
	return b >= 0 ? json_boolean(b) : NULL;
}

/* A whole number; the store checks the field's range. */
static json_t *as_int(const char *v)
{
	long long n;
	return cli_parse_int(v, -(1LL << 53), 1LL << 53, &n) ? json_integer(n) : NULL;
}

static json_t *as_list(const char *v)
{
	return cli_split_list(v);
}

/* DOMAIN=N,...: an object of whole numbers (the store checks 1 to 5). */
static json_t *as_scores(const char *v)
{
	json_t *items = cli_split_list(v), *scores = json_object(), *e;
	size_t i;
	long long n;
	json_array_foreach(items, i, e) {
		const char *item = json_string_value(e), *eq = strchr(item, '=');
		if (eq == NULL || eq == item || !cli_parse_int(eq + 1, 0, 100, &n)) {
			json_decref(scores);
			scores = NULL;
			break;
		}
		json_object_setn_new(scores, item, (size_t)(eq - item), json_integer(n));
	}
	if (items == NULL) {
		json_decref(scores);
		scores = NULL;
	}
	json_decref(items);
	return scores;
}

static json_t *as_object(const char *v)
{
	json_t *o = json_loads(v, 0, NULL);
	if (json_is_object(o))
		return o;
	json_decref(o);
	return NULL;
}

/* Each type of field, how VALUE becomes its JSON, and the usage error when
 * VALUE cannot (what it must be, never what it was). */
static const struct value_type {
	const char *type;
	json_t *(*parse)(const char *v);
	const char *needs;
} value_types[] = {
	{"text", as_text, "needs text in UTF-8"},
	{"enum", as_text, "needs one of its options (see `veld schema`)"},
	{"code", as_text, "needs a code of its list (see `veld schema`)"},
	{"domain", as_text, "needs a life domain (see `veld domains`)"},
	{"ref", as_ref, "needs a record id (or a unique prefix of 4+ hex digits)"},
	{"date", as_date, "needs a date as YYYY-MM-DD, or today"},
	{"datetime", as_time, "needs a time like 2026-11-22T10:00 (seconds and zone optional), "
	                      "or now"},
	{"bool", as_bool, "must be yes or no"},
	{"int", as_int, "needs a whole number"},
	{"options", as_list, "needs options separated by commas (see `veld schema`)"},
	{"codes", as_list, "needs codes of its list separated by commas (see `veld schema`)"},
	{"domains", as_list, "needs life domains separated by commas (see `veld domains`)"},
	{"scores", as_scores, "needs DOMAIN=N,... with N from 1 to 5"},
	{"care_decision", as_object, "needs a JSON object: {\"active\": true, "
	                             "\"end_date\": \"YYYY-MM-DD\"}"},
	{"housing", as_object, "needs a JSON object: {\"corporation\": \"...\", "
	                       "\"tenancy\": \"...\", \"support_clause\": true}"},
};

/* VALUE as field `name` of type def["type"] takes it: 0 with *out a new
 * reference, or a usage exit code. */
static int typed_value(cli *c, const char *name, const json_t *def, const char *v, json_t **out)
{
	const char *type = cli_str(def, "type");
	for (size_t i = 0; type != NULL && i < sizeof value_types / sizeof value_types[0]; i++) {
		if (strcmp(type, value_types[i].type) != 0)
			continue;
		*out = value_types[i].parse(v);
		return *out != NULL ? 0 : cli_usage(c, "--set %s %s", name, value_types[i].needs);
	}
	return cli_usage(c, "--set %s: veld does not read its type from the command line; "
		"give it with --fields", name);
}

/* ---- the fields of an add or an edit --------------------------------------------- */

/* A field name as the schema spells them: a letter, then a-z, 0-9, _. */
static bool field_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > CLI_FIELD_MAX || s[0] < 'a' || s[0] > 'z')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/* "FIELD=VALUE" split at its first '='. A FIELD that is not a field name
 * is not repeated: it may be a value typed in the wrong place. */
static int split_set(cli *c, const char *arg, char field[CLI_FIELD_MAX + 1], const char **value)
{
	const char *eq = strchr(arg, '=');
	size_t n = eq != NULL ? (size_t)(eq - arg) : 0;
	if (eq == NULL || !field_name_ok(arg, n))
		return cli_usage(c, "--set needs FIELD=VALUE, FIELD a field of the kind "
			"(see `veld schema`)");
	memcpy(field, arg, n);
	field[n] = '\0';
	*value = eq + 1;
	return 0;
}

/* Each --set into `fields` as the kind's field takes it. An empty VALUE
 * removes the field on an edit (null) and leaves it out of an add. */
static int set_fields(cli *c, const cli_line *l, const json_t *kind, bool edit, json_t *fields)
{
	const json_t *defs = json_object_get(kind, "fields");
	for (size_t i = 0; i < l->nmany; i++) {
		char name[CLI_FIELD_MAX + 1];
		const char *v = NULL;
		const json_t *def;
		json_t *val;
		int ex = split_set(c, l->many[i], name, &v);
		if (ex != 0)
			return ex;
		if ((def = json_object_get(defs, name)) == NULL)
			return cli_usage(c, "%s has no field '%s' (see `veld schema`)", l->arg[0], name);
		if (json_object_get(fields, name) != NULL)
			return cli_usage(c, "field '%s' is given twice", name);
		if (*v == '\0') {
			if (edit)
				json_object_set_new(fields, name, json_null());
			continue;
		}
		if ((ex = typed_value(c, name, def, v, &val)) != 0)
			return ex;
		json_object_set_new(fields, name, val);
	}
	return 0;
}

/* What the line says before the schema is read: --fields as an object (a
 * new, empty one without it) and, on an add, the client. */
static int line_fields(cli *c, const cli_line *l, bool edit, json_t **out)
{
	const char *text = cli_opt(l, "fields"), *client = cli_opt(l, "client");
	bool is_client = strcmp(l->arg[0], "client") == 0;
	json_t *f = text != NULL ? json_loads(text, 0, NULL) : json_object();
	int ex = 0;
	*out = NULL;
	if (!json_is_object(f))
		ex = cli_usage(c, "--fields needs a JSON object of fields");
	else if (edit && l->nmany == 0 && text == NULL)
		ex = cli_usage(c, "nothing to change: give --set FIELD=VALUE or --fields");
	else if (is_client && client != NULL)
		ex = cli_usage(c, "a client record is its own client: --client does not apply");
	else if (client != NULL && json_object_get(f, "client") != NULL)
		ex = cli_usage(c, "the client is given twice (--client, --fields)");
	else if (client != NULL)
		json_object_set_new(f, "client", json_string(client));
	else if (!edit && !is_client && json_object_get(f, "client") == NULL)
		ex = cli_usage(c, "a record needs --client: the client it is about");
	if (ex == 0)
		*out = f;
	else
		json_decref(f);
	return ex;
}

static int refuse_append_only(const char *kind)
{
	return cli_fail(CLI_EXIT_PERM, "%s records are append-only: they are never changed or "
		"deleted", kind);
}

/* The fields an add or (`edit`) an edit writes: --fields, then each --set
 * as the schema in force types its field. Opens the store. */
static int write_fields(cli *c, const cli_line *l, bool edit, json_t **out)
{
	json_t *schema = NULL, *fields = NULL;
	const json_t *kind = NULL;
	int ex = line_fields(c, l, edit, &fields);
	if (ex == 0)
		ex = cli_schema_load(c, &schema);
	if (ex == 0 && (kind = cli_schema_kind(c, schema, l->arg[0])) == NULL)
		ex = CLI_EXIT_USAGE;
	if (ex == 0 && edit && cli_schema_append_only(kind))
		ex = refuse_append_only(l->arg[0]);
	if (ex == 0)
		ex = set_fields(c, l, kind, edit, fields);
	json_decref(schema);
	if (ex == 0)
		*out = fields;
	else
		json_decref(fields);
	return ex;
}

int cmd_generic_add(cli *c, const cli_line *l)
{
	json_t *fields = NULL, *rec = NULL;
	int ex = write_fields(c, l, false, &fields);
	if (ex == 0)
		ex = rec_create(c, l->arg[0], fields, &rec);
	if (ex == 0)
		rec_report(c, "added", l->arg[0], rec, "");
	json_decref(fields);
	json_decref(rec);
	return ex;
}

int cmd_generic_edit(cli *c, const cli_line *l)
{
	json_t *fields = NULL, *rec = NULL;
	int ex = write_fields(c, l, true, &fields);
	if (ex == 0)
		ex = rec_update(c, l->arg[0], l->arg[1], fields, &rec);
	if (ex == 0)
		rec_report(c, "updated", l->arg[0], rec, l->arg[1]);
	json_decref(fields);
	json_decref(rec);
	return ex;
}

int cmd_generic_delete(cli *c, const cli_line *l)
{
	const char *kind_name = l->arg[0], *id = l->arg[1];
	json_t *schema = NULL;
	const json_t *kind = NULL;
	int ex = 0, rc;
	if (!cli_flag(l, "yes"))
		return cli_usage(c, "deleting a record removes it on every device at their next "
			"sync; add --yes to confirm");
	if ((ex = cli_schema_load(c, &schema)) == 0 &&
	    (kind = cli_schema_kind(c, schema, kind_name)) == NULL)
		ex = CLI_EXIT_USAGE;
	if (ex == 0 && cli_schema_append_only(kind))
		ex = refuse_append_only(kind_name);
	json_decref(schema);
	if (ex != 0)
		return ex;
	if ((rc = veld_record_delete(c->store, kind_name, id, c->purpose)) != VELD_OK)
		return cli_api_error(rc);
	return cli_emit(c, json_pack("{s:s, s:s, s:b}", "type", kind_name, "id", id, "deleted", 1),
		"deleted %s %s\n", kind_name, id);
}

/* ---- show ------------------------------------------------------------------------ */

/* The record with its fields in the schema's order, then the rest (the
 * store's metadata): a new object sharing the values. */
static json_t *in_schema_order(const json_t *kind, const json_t *rec)
{
	json_t *out = json_object(), *v;
	const char *k;
	json_object_foreach(json_object_get(kind, "fields"), k, v)
		if (json_object_get(rec, k) != NULL)
			json_object_set(out, k, json_object_get(rec, k));
	json_object_foreach((json_t *)rec, k, v)
		if (json_object_get(out, k) == NULL)
			json_object_set(out, k, v);
	return out;
}

int cmd_generic_show(cli *c, const cli_line *l)
{
	json_t *schema = NULL, *rec = NULL, *ordered;
	const json_t *kind = NULL;
	int ex = cli_schema_load(c, &schema);
	if (ex == 0 && (kind = cli_schema_kind(c, schema, l->arg[0])) == NULL)
		ex = CLI_EXIT_USAGE;
	if (ex == 0)
		ex = rec_get(c, l->arg[0], l->arg[1], &rec);
	if (ex == 0 && c->json) {
		cli_print_json(rec);
	} else if (ex == 0) {
		ordered = in_schema_order(kind, rec);
		cli_print_record(l->arg[0], ordered);
		json_decref(ordered);
	}
	json_decref(rec);
	json_decref(schema);
	return ex;
}

/* ---- list ------------------------------------------------------------------------ */

/* A list's columns: the kind's first date (its DATE column, else the day
 * the record was created) and its first fields that hold a value. */
typedef struct columns {
	const char *date;
	const char *name[LIST_FIELDS];
	int width[LIST_FIELDS];
	bool ref[LIST_FIELDS];
	size_t n;
} columns;

/* How wide a column of this type is, at least. */
static int type_width(const char *type)
{
	static const struct {
		const char *type;
		int width;
	} widths[] = {{"date", 10}, {"datetime", 16}, {"bool", 3}, {"int", 7}, {"ref", 8}};
	for (size_t i = 0; type != NULL && i < sizeof widths / sizeof widths[0]; i++)
		if (strcmp(type, widths[i].type) == 0)
			return widths[i].width;
	return 20;
}

static bool any_has(const json_t *list, const char *field)
{
	size_t i;
	const json_t *r;
	json_array_foreach(list, i, r)
		if (json_object_get(r, field) != NULL)
			return true;
	return false;
}

static void pick_columns(const json_t *kind, const json_t *list, columns *cols)
{
	const char *name;
	const json_t *def;
	memset(cols, 0, sizeof *cols);
	json_object_foreach(json_object_get(kind, "fields"), name, def) {
		const char *type = cli_str(def, "type");
		bool dated = type != NULL && (strcmp(type, "date") == 0 || strcmp(type, "datetime") == 0);
		if (json_is_true(json_object_get(def, "retired")))
			continue;
		if (dated && cols->date == NULL) {
			cols->date = name;
		} else if (cols->n < LIST_FIELDS && any_has(list, name)) {
			int w = type_width(type), len = (int)strlen(name);
			cols->name[cols->n] = name;
			cols->width[cols->n] = len > w ? len : w;
			cols->ref[cols->n++] = type != NULL && strcmp(type, "ref") == 0;
		}
	}
}

/* The table's first line: the columns' names in capitals. */
static void column_head(const columns *cols, char *buf, size_t size)
{
	size_t used = (size_t)snprintf(buf, size, "ID        CLIENT    DATE      ");
	for (size_t i = 0; i < cols->n; i++) {
		char upper[CLI_FIELD_MAX + 1];
		size_t k;
		for (k = 0; cols->name[i][k] != '\0' && k < CLI_FIELD_MAX; k++)
			upper[k] = (char)(cols->name[i][k] >= 'a' && cols->name[i][k] <= 'z'
				? cols->name[i][k] - 'a' + 'A' : cols->name[i][k]);
		upper[k] = '\0';
		used += (size_t)snprintf(buf + used, size - used, "  %-*s",
			i + 1 < cols->n ? cols->width[i] : 0, upper);
	}
	snprintf(buf + used, size - used, "\n");
}

/* A value inside a list or an object: text, a number, yes or no. */
static const char *scalar_text(const json_t *v, char *buf, size_t size)
{
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_boolean(v))
		return json_is_true(v) ? "yes" : "no";
	if (json_is_integer(v)) {
		snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return buf;
	}
	return "...";
}

/* Text appended to buf (of `size`, `*used` of it taken), cut at its end. */
static void append(char *buf, size_t size, size_t *used, const char *a, const char *b)
{
	int n = snprintf(buf + *used, size - *used, "%s%s", a, b);
	*used = n < 0 || (size_t)n >= size - *used ? size - 1 : *used + (size_t)n;
}

/* A value as a table cell: text as it is, a reference as its short id, a
 * list as its items and an object as its keys and values, separated by
 * ", " (written into buf). */
static const char *cell_text(const json_t *v, bool ref, char *buf, size_t size)
{
	char num[32];
	size_t used = 0, i;
	const char *k;
	const json_t *e;
	if (v == NULL || json_is_null(v))
		return "-";
	if (ref && json_is_string(v))
		return cli_short_id(json_string_value(v), buf);
	if (!json_is_array(v) && !json_is_object(v))
		return scalar_text(v, buf, size);
	buf[0] = '\0';
	json_array_foreach(v, i, e)
		append(buf, size, &used, i > 0 ? ", " : "", scalar_text(e, num, sizeof num));
	json_object_foreach((json_t *)v, k, e) {
		append(buf, size, &used, used > 0 ? ", " : "", k);
		append(buf, size, &used, " ", scalar_text(e, num, sizeof num));
	}
	return buf;
}

static void generic_row(const json_t *r, const void *payload)
{
	const columns *cols = payload;
	const char *keys[] = {cols->date != NULL ? cols->date : "created", "created", NULL};
	char id[16], cid[16], date[32], cell[256];
	printf("%-8s  %-8s  %-10s", cli_short_id(cli_str(r, "id"), id),
		cli_short_id(cli_str(r, "client"), cid), cli_record_date(r, keys, date));
	for (size_t i = 0; i < cols->n; i++) {
		bool last = i + 1 == cols->n;
		fputs("  ", stdout);
		cli_print_cut(cell_text(json_object_get(r, cols->name[i]), cols->ref[i], cell,
			sizeof cell), last ? LIST_LAST_WIDTH : (size_t)cols->width[i], !last);
	}
	fputc('\n', stdout);
	/* it held a value of the record */
	sodium_memzero(cell, sizeof cell);
}

int cmd_generic_list(cli *c, const cli_line *l)
{
	json_t *schema = NULL, *list = NULL;
	const json_t *kind = NULL;
	columns cols;
	char head[256], none[64];
	int ex = cli_schema_load(c, &schema);
	if (ex == 0 && (kind = cli_schema_kind(c, schema, l->arg[0])) == NULL)
		ex = CLI_EXIT_USAGE;
	if (ex == 0)
		ex = rec_list(c, l, l->arg[0], &list);
	if (ex == 0) {
		pick_columns(kind, list, &cols);
		column_head(&cols, head, sizeof head);
		snprintf(none, sizeof none, "no %s records", l->arg[0]);
		ex = cli_table(c, list, none, head, generic_row, &cols);
	}
	json_decref(schema);
	return ex;
}
