/*
 * record.c - what the record commands share: calling the API with JSON
 * built by jansson, checking option values, and printing what was written.
 *
 * Each record command parses its options, checks their values, opens the
 * store (only then: a usage error never asks for a passphrase), builds the
 * fields as a JSON object and hands it to the API. Every JSON value is owned
 * by exactly one variable and released before the command returns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* ---- calling the API ----------------------------------------------------- */

/* Take ownership of the API's string, parse it, free it. */
static int take_json(int rc, char *text, json_t **out)
{
	if (rc != VELD_OK) {
		cli_free_text(text);
		return cli_api_error(rc);
	}
	if (out == NULL) {
		cli_free_text(text);
		return 0;
	}
	*out = cli_parse(text);
	cli_free_text(text);
	return *out != NULL ? 0 : CLI_EXIT_FAIL;
}

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
	return take_json(rc, text, out);
}

int rec_update(cli *c, const char *kind, const char *id, const json_t *fields,
	json_t **out)
{
	char *in = dump(fields), *text = NULL;
	if (in == NULL)
		return CLI_EXIT_FAIL;
	int rc = veld_record_update(c->store, kind, id, in, c->purpose, &text);
	free(in);
	return take_json(rc, text, out);
}

int rec_get(cli *c, const char *kind, const char *id, json_t **out)
{
	char *text = NULL;
	int rc = veld_record_get(c->store, kind, id, c->purpose, &text);
	return take_json(rc, text, out);
}

int rec_list(cli *c, const char *kind, const json_t *filter, json_t **out)
{
	char *in = NULL, *text = NULL;
	if (filter != NULL && json_object_size(filter) > 0 && (in = dump(filter)) == NULL)
		return CLI_EXIT_FAIL;
	int rc = veld_record_list(c->store, kind, in, c->purpose, &text);
	free(in);
	return take_json(rc, text, out);
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

int rec_show(cli *c, const char *kind, const char *id)
{
	json_t *rec = NULL;
	int ex = cli_open_store(c);
	if (ex == 0)
		ex = rec_get(c, kind, id, &rec);
	if (ex != 0)
		return ex;
	if (c->json) {
		cli_print_json(rec);
		json_decref(rec);
		return 0;
	}
	cli_print_record(kind, rec);
	json_decref(rec);
	return 0;
}

/* Common parsing of `<noun> show ID` and similar one-id commands. */
int rec_one_id(cli *c, int argc, char **argv, const char **id)
{
	cli_opts it;
	int o;
	*id = NULL;
	cli_opts_begin(&it, c, argc, argv, NULL);
	while ((o = cli_opts_next(&it)) != -1) {
		if (o == CLI_OPT_HELP)
			return -1;
		if (o == CLI_OPT_ERROR)
			return CLI_EXIT_USAGE;
		if (*id != NULL)
			return cli_usage(c, "too many arguments");
		*id = it.optarg;
	}
	if (*id == NULL)
		return cli_usage(c, "which record? give its id (or a prefix of 4+ characters)");
	return 0;
}

/* Put a string option into an object: NULL leaves the field alone, "" on
 * an edit removes it (JSON null), "" on an add is ignored. */
void rec_set_str(json_t *obj, const char *key, const char *val, bool edit)
{
	if (val == NULL)
		return;
	if (*val == '\0') {
		if (edit)
			json_object_set_new(obj, key, json_null());
		return;
	}
	json_object_set_new(obj, key, json_string(val));
}

/* The same for a field of a sub-object that is merged: "" deletes it. */
void rec_merge_str(json_t *obj, const char *key, const char *val)
{
	if (val == NULL)
		return;
	if (*val == '\0')
		json_object_del(obj, key);
	else
		json_object_set_new(obj, key, json_string(val));
}

void rec_merge_bool(json_t *obj, const char *key, const char *val)
{
	if (val == NULL)
		return;
	if (*val == '\0')
		json_object_del(obj, key);
	else
		json_object_set_new(obj, key, json_boolean(cli_yes_no(val) == 1));
}

/* The object `key` of an existing record, copied, or a new empty one. */
json_t *rec_sub_object(const json_t *rec, const char *key)
{
	const json_t *old = rec != NULL ? json_object_get(rec, key) : NULL;
	return json_is_object(old) ? json_deep_copy(old) : json_object();
}

int rec_check_enum(cli *c, const char *opt, const char *val, const char *const *allowed,
	bool edit)
{
	char buf[256];
	if (val == NULL || (edit && *val == '\0') || cli_in_list(val, allowed))
		return 0;
	return cli_usage(c, "%s must be one of: %s", opt, cli_join(allowed, buf, sizeof buf));
}

int rec_check_date(cli *c, const char *opt, const char *val, bool edit)
{
	if (val == NULL || (edit && *val == '\0') || cli_valid_date(val))
		return 0;
	return cli_usage(c, "%s needs a date as YYYY-MM-DD", opt);
}

int rec_check_yes_no(cli *c, const char *opt, const char *val, bool edit)
{
	if (val == NULL || (edit && *val == '\0') || cli_yes_no(val) >= 0)
		return 0;
	return cli_usage(c, "%s must be yes or no", opt);
}

/* A time option: "now" becomes the current UTC time. The result is kept in
 * `buf`; *out points at it (or stays NULL when the option was not given). */
int rec_check_time(cli *c, const char *opt, const char *val, char *buf, size_t size,
	const char **out, bool edit)
{
	if (val == NULL)
		return 0;
	if (edit && *val == '\0') {
		*out = "";
		return 0;
	}
	*out = cli_time_arg(val, buf, size);
	if (*out == NULL)
		return cli_usage(c, "%s needs a time like 2026-11-22T10:00 (seconds and zone "
			"optional) or `now`", opt);
	return 0;
}

/* ---- shared option parsing --------------------------------------------- */

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

/* --score DOMAIN=N: N 1..5; on an edit DOMAIN= removes the score. */


/* `<noun> list [--client ID] [--open]`: the options the list commands share. */
int rec_list_args(cli *c, int argc, char **argv, bool allow_open,
	const char **client, bool *open)
{
	static const struct option opts[] = {
		{"client", required_argument, NULL, O_CLIENT},
		{"open", no_argument, NULL, O_OPEN},
		{NULL, 0, NULL, 0}
	};
	cli_opts it;
	int o;
	*client = NULL;
	if (open != NULL)
		*open = false;
	cli_opts_begin(&it, c, argc, argv, opts);
	while ((o = cli_opts_next(&it)) != -1) {
		if (o == CLI_OPT_HELP)
			return -1;
		if (o == CLI_OPT_ERROR)
			return CLI_EXIT_USAGE;
		if (o == CLI_OPT_ARG)
			return cli_usage(c, "unexpected argument");
		if (o == O_CLIENT)
			*client = it.optarg;
		if (o == O_OPEN) {
			if (!allow_open)
				return cli_usage(c, "unknown option '--open'");
			*open = true;
		}
	}
	return 0;
}

/* Open the store and list one kind, filtered. */
int rec_list_kind(cli *c, const char *kind, const char *client, bool open, json_t **list)
{
	int ex = cli_open_store(c);
	if (ex != 0)
		return ex;
	/* The store resolves a client id prefix in the filter itself. */
	json_t *filter = json_object();
	if (client != NULL)
		json_object_set_new(filter, "client", json_string(client));
	if (open)
		json_object_set_new(filter, "status", json_string("open"));
	ex = rec_list(c, kind, filter, list);
	json_decref(filter);
	return ex;
}

