/*
 * record.c - what the record commands share: calling the API with JSON
 * built by jansson, options becoming fields, and the add, edit, list and
 * show commands of every kind.
 *
 * A kind says what its options are as a table (rec_spec: option, field,
 * check) and how its list reads (rec_lister: a header and a row); the
 * functions here do the rest, the same way for every kind. Each command
 * checks its options, opens the store (only then: a usage error never asks
 * for a passphrase), builds the fields as a JSON object and hands it to the
 * API. Every JSON value is owned by exactly one variable and released
 * before the command returns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* ---- calling the API ----------------------------------------------------- */

static char *dump(const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (s == NULL)
		cli_fail(CLI_EXIT_FAIL, "out of memory");
	return s;
}

int rec_create(cli *c, const char *kind, const json_t *fields, json_t **out)
{
	char *in = dump(fields), *text = NULL;
	if (in == NULL)
		return CLI_EXIT_FAIL;
	int rc = veld_record_create(c->store, kind, in, c->purpose, &text);
	free(in);
	return cli_take_json(rc, &text, out);
}

int rec_update(cli *c, const char *kind, const char *id, const json_t *fields,
	json_t **out)
{
	char *in = dump(fields), *text = NULL;
	if (in == NULL)
		return CLI_EXIT_FAIL;
	int rc = veld_record_update(c->store, kind, id, in, c->purpose, &text);
	free(in);
	return cli_take_json(rc, &text, out);
}

int rec_get(cli *c, const char *kind, const char *id, json_t **out)
{
	char *text = NULL;
	int rc = veld_record_get(c->store, kind, id, c->purpose, &text);
	return cli_take_json(rc, &text, out);
}

/* The full id of a record named by a unique prefix. */
int rec_resolve_id(cli *c, const char *kind, const char *prefix, char **full)
{
	json_t *rec = NULL;
	int ex = rec_get(c, kind, prefix, &rec);
	if (ex != 0)
		return ex;
	const char *id = cli_str(rec, "id");
	*full = strdup(id != NULL ? id : prefix);
	json_decref(rec);
	return *full != NULL ? 0 : cli_fail(CLI_EXIT_FAIL, "out of memory");
}

/* Print what a create or update returned: the record with --json, else a
 * line naming it. */
void rec_report(cli *c, const char *what, const char *kind, const json_t *rec,
	const char *fallback_id)
{
	if (c->json) {
		cli_print_json(rec);
		return;
	}
	const char *id = cli_str(rec, "id");
	printf("%s %s %s\n", what, kind, id != NULL ? id : fallback_id);
}

/* ---- fields from options -------------------------------------------------- */

int rec_check_domain(cli *c, const json_t *known, const char *opt, const char *d)
{
	size_t i;
	const json_t *e;
	if (known == NULL)
		return 0;
	json_array_foreach(known, i, e)
		if (strcmp(json_string_value(e), d) == 0)
			return 0;
	cli_usage(c, "%s: unknown life domain (see `veld domains`)", opt);
	return CLI_EXIT_USAGE;
}

static bool is_domain(const rec_field *f)
{
	return f->check == REC_DOMAIN || f->check == REC_LIST;
}

/* One option's value against its field's rule; "" on an edit removes the
 * field, so it passes unless the field is strict. */
static int check_value(cli *c, const rec_field *f, const char *v, bool edit,
	const json_t *known)
{
	char opt[48], buf[256];
	json_t *list;
	size_t i;
	const json_t *d;
	int ex = 0;
	snprintf(opt, sizeof opt, "--%s", f->opt);
	if (edit && *v == '\0' && !(f->flags & REC_STRICT))
		return 0;
	switch (f->check) {
	case REC_DATE:
		return cli_valid_date(v) ? 0 : cli_usage(c, "%s needs a date as YYYY-MM-DD", opt);
	case REC_TIME:
		return cli_time_arg(v, buf, 40) ? 0 : cli_usage(c, "%s needs a time like "
			"2026-11-22T10:00 (seconds and zone optional) or `now`", opt);
	case REC_YES_NO:
		return cli_yes_no(v) >= 0 ? 0 : cli_usage(c, "%s must be yes or no", opt);
	case REC_ENUM:
		return cli_in_list(v, f->allowed) ? 0 : cli_usage(c, "%s must be one of: %s", opt,
			cli_join(f->allowed, buf, sizeof buf));
	case REC_DOMAIN:
		return rec_check_domain(c, known, opt, v);
	case REC_LIST:
		if ((list = cli_split_list(v)) == NULL)
			return cli_usage(c, "%s needs a comma-separated list of life domains", opt);
		json_array_foreach(list, i, d)
			if (ex == 0)
				ex = rec_check_domain(c, known, opt, json_string_value(d));
		json_decref(list);
		return ex;
	default:
		return 0;
	}
}

int rec_check_line(cli *c, const cli_line *l, const rec_spec *spec, bool edit, bool load,
	json_t **known)
{
	json_t *domains = NULL;
	int ex = 0;
	if (known != NULL)
		*known = NULL;
	for (size_t i = 0; i < spec->nfields; i++) {
		const rec_field *f = &spec->fields[i];
		const char *v = cli_opt(l, f->opt);
		if (!edit && (f->flags & (REC_GIVEN | REC_FILLED)) &&
		    (v == NULL || ((f->flags & REC_FILLED) && *v == '\0')))
			return cli_usage(c, "%s", spec->required);
	}
	for (size_t i = 0; i < spec->nfields; i++) {
		const char *v = cli_opt(l, spec->fields[i].opt);
		if (edit && (spec->fields[i].flags & REC_KEEP) && v != NULL && *v == '\0')
			return cli_usage(c, "%s", spec->kept);
	}
	/* Life domains are the store's reference data: checked last, because
	 * reading them opens the store. */
	for (size_t i = 0; i < spec->nfields && ex == 0; i++) {
		const rec_field *f = &spec->fields[i];
		const char *v = cli_opt(l, f->opt);
		if (v != NULL && is_domain(f))
			load = true;
		else if (v != NULL)
			ex = check_value(c, f, v, edit, NULL);
	}
	if (ex != 0 || !load || (ex = cli_zrm_domains(c, &domains)) != 0)
		return ex;
	for (size_t i = 0; i < spec->nfields && ex == 0; i++) {
		const char *v = cli_opt(l, spec->fields[i].opt);
		if (v != NULL && is_domain(&spec->fields[i]))
			ex = check_value(c, &spec->fields[i], v, edit, domains);
	}
	if (ex == 0 && known != NULL)
		*known = domains;
	else
		json_decref(domains);
	return ex;
}

bool rec_given(const cli_line *l, const rec_spec *spec)
{
	for (size_t i = 0; i < spec->nfields; i++)
		if (cli_opt(l, spec->fields[i].opt) != NULL)
			return true;
	return false;
}

static bool rec_merges(const cli_line *l, const rec_spec *spec)
{
	for (size_t i = 0; i < spec->nfields; i++)
		if (spec->fields[i].key && cli_opt(l, spec->fields[i].opt) != NULL)
			return true;
	return false;
}

/* An option's value as its field holds it. */
static json_t *field_value(const rec_field *f, const char *v)
{
	char buf[40];
	switch (f->check) {
	case REC_YES_NO:
		return json_boolean(cli_yes_no(v) == 1);
	case REC_TIME:
		return json_string(cli_time_arg(v, buf, sizeof buf));
	case REC_LIST:
		return cli_split_list(v);
	default:
		return json_string(v);
	}
}

/* The object `key` of an existing record, copied, or a new empty one. */
static json_t *sub_object(const json_t *rec, const char *key)
{
	const json_t *old = rec != NULL ? json_object_get(rec, key) : NULL;
	return json_is_object(old) ? json_deep_copy(old) : json_object();
}

/* A field "a.b": b of the sub-object a, which keeps what the record has;
 * "" removes b. */
static void merge_field(json_t *fields, const rec_field *f, const char *v, const json_t *old)
{
	const char *dot = strchr(f->key, '.');
	if (dot == NULL)
		return;
	char name[64];
	snprintf(name, sizeof name, "%.*s", (int)(dot - f->key), f->key);
	json_t *sub = json_object_get(fields, name);
	if (sub == NULL) {
		sub = sub_object(old, name);
		json_object_set_new(fields, name, sub);
	}
	if (*v == '\0')
		json_object_del(sub, dot + 1);
	else
		json_object_set_new(sub, dot + 1, field_value(f, v));
}

json_t *rec_build(const cli_line *l, const rec_spec *spec, const json_t *old, bool edit)
{
	json_t *fields = json_object();
	for (size_t i = 0; i < spec->nfields; i++) {
		const rec_field *f = &spec->fields[i];
		const char *v = cli_opt(l, f->opt);
		char key[64];
		if (v == NULL)
			continue;
		if (f->key != NULL) {
			merge_field(fields, f, v, old);
			continue;
		}
		/* The field is named as its option, with '_' for '-'. */
		snprintf(key, sizeof key, "%s", f->opt);
		for (char *p = key; *p; p++)
			if (*p == '-')
				*p = '_';
		/* A field an add must give goes as given, even empty: the store
		 * says what is wrong with it. */
		if (*v != '\0' || (!edit && (f->flags & REC_GIVEN)))
			json_object_set_new(fields, key, field_value(f, v));
		else if (edit)
			json_object_set_new(fields, key, json_null());
	}
	if (!edit && spec->status != NULL && json_object_get(fields, "status") == NULL)
		json_object_set_new(fields, "status", json_string(spec->status));
	return fields;
}

/* ---- the commands of every kind ------------------------------------------- */

int cmd_record_add(cli *c, const cli_line *l)
{
	const rec_spec *spec = l->cmd->data;
	json_t *fields, *rec = NULL;
	int ex = rec_check_line(c, l, spec, false, false, NULL);
	if (ex == 0)
		ex = cli_open_store(c);
	if (ex != 0)
		return ex;
	fields = rec_build(l, spec, NULL, false);
	ex = rec_create(c, l->cmd->kind, fields, &rec);
	json_decref(fields);
	if (ex == 0)
		rec_report(c, spec->added, l->cmd->kind, rec, "");
	json_decref(rec);
	return ex;
}

int cmd_record_edit(cli *c, const cli_line *l)
{
	const rec_spec *spec = l->cmd->data;
	const char *kind = l->cmd->kind, *id = l->arg[0];
	json_t *old = NULL, *fields, *rec = NULL;
	int ex = rec_check_line(c, l, spec, true, false, NULL);
	if (ex != 0)
		return ex;
	if (!rec_given(l, spec))
		return cli_usage(c, "%s", spec->nothing);
	/* Read first only when a sub-object is merged. */
	if ((ex = cli_open_store(c)) != 0 ||
	    (rec_merges(l, spec) && (ex = rec_get(c, kind, id, &old)) != 0))
		return ex;
	fields = rec_build(l, spec, old, true);
	ex = rec_update(c, kind, id, fields, &rec);
	json_decref(fields);
	json_decref(old);
	if (ex == 0)
		rec_report(c, "updated", kind, rec, id);
	json_decref(rec);
	return ex;
}

int cmd_record_show(cli *c, const cli_line *l)
{
	json_t *rec = NULL;
	int ex = cli_open_store(c);
	if (ex == 0)
		ex = rec_get(c, l->cmd->kind, l->arg[0], &rec);
	if (ex != 0)
		return ex;
	if (c->json)
		cli_print_json(rec);
	else
		cli_print_record(l->cmd->kind, rec);
	json_decref(rec);
	return 0;
}

int rec_list_kind(cli *c, const cli_line *l, json_t **list)
{
	return rec_list(c, l, l->cmd->kind, list);
}

int rec_list(cli *c, const cli_line *l, const char *kind, json_t **list)
{
	char *in = NULL, *text = NULL;
	int ex = cli_open_store(c);
	if (ex != 0)
		return ex;
	/* The store resolves a client id prefix in the filter itself. */
	json_t *filter = json_object();
	if (cli_opt(l, "client") != NULL)
		json_object_set_new(filter, "client", json_string(cli_opt(l, "client")));
	if (cli_opt(l, "query") != NULL)
		json_object_set_new(filter, "query", json_string(cli_opt(l, "query")));
	if (cli_flag(l, "open"))
		json_object_set_new(filter, "status", json_string("open"));
	if (json_object_size(filter) > 0 && (in = dump(filter)) == NULL)
		ex = CLI_EXIT_FAIL;
	json_decref(filter);
	if (ex != 0)
		return ex;
	int rc = veld_record_list(c->store, kind, in, c->purpose, &text);
	free(in);
	return cli_take_json(rc, &text, list);
}

/* A list in the order the lister wants: a new array of the same entries. */
static json_t *sorted(json_t *list, int (*order)(const void *, const void *))
{
	size_t n = json_array_size(list);
	const json_t **rows = malloc((n ? n : 1) * sizeof *rows);
	json_t *out = rows != NULL ? json_array() : NULL;
	for (size_t i = 0; out != NULL && i < n; i++)
		rows[i] = json_array_get(list, i);
	if (out != NULL) {
		qsort(rows, n, sizeof *rows, order);
		for (size_t i = 0; i < n; i++)
			json_array_append(out, (json_t *)rows[i]);
	}
	free(rows);
	json_decref(list);
	return out;
}

int cmd_record_list(cli *c, const cli_line *l)
{
	const rec_lister *ls = l->cmd->data;
	json_t *list = NULL, *payload = NULL;
	int ex = rec_list_kind(c, l, &list);
	if (ex != 0)
		return ex;
	if (ls->order != NULL && !c->json && (list = sorted(list, ls->order)) == NULL)
		return cli_fail(CLI_EXIT_FAIL, "out of memory");
	if (ls->payload != NULL && !c->json)
		payload = ls->payload(list);
	ex = cli_table(c, list, cli_flag(l, "open") ? ls->none_open : ls->none, ls->head, ls->row,
		payload);
	json_decref(payload);
	return ex;
}
