/*
 * schema.c - `veld schema`: the record schema in force, and looking up a
 * kind in it for the commands that work on any kind (generic.c).
 *
 * The schema is data (docs/data-model.md, "The record schema"): the office
 * may add kinds, fields, options and list entries without a new veld, so
 * nothing here names a kind or a field. It comes from veld_schema_json as
 * {"format","name","version","kinds":{kind:{"append_only","fields":{name:
 * {"type","required",...}}}},"lists":{name:[{"code","label",...}]},
 * "domains":{...}}. Its text is reference data, never personal data.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* ---- the schema and its kinds ----------------------------------------------- */

int cli_schema_load(cli *c, json_t **schema)
{
	char *text = NULL;
	int ex = cli_open_store(c);
	*schema = NULL;
	if (ex != 0)
		return ex;
	return cli_take_json(veld_schema_json(c->store, &text), &text, schema);
}

const json_t *cli_schema_kind(cli *c, const json_t *schema, const char *kind)
{
	const json_t *kinds = json_object_get(schema, "kinds");
	const json_t *k = json_object_get(kinds, kind);
	char names[CLI_KINDS_MAX * 18] = "";
	size_t used = 0;
	const char *name;
	const json_t *v;
	if (json_is_object(k))
		return k;
	/* The kind given is not repeated: it may be anything a person typed. */
	json_object_foreach((json_t *)kinds, name, v) {
		int n = snprintf(names + used, sizeof names - used, " %s", name);
		if (n < 0 || (size_t)n >= sizeof names - used)
			break;
		used += (size_t)n;
	}
	cli_usage(c, "unknown record kind; the kinds are:%s", names);
	return NULL;
}

bool cli_schema_append_only(const json_t *kind)
{
	return json_is_true(json_object_get(kind, "append_only"));
}

/* ---- printing it -------------------------------------------------------------- */

/* The strings of `arr`, separated by ", ", those also in `retired` marked. */
static void print_values(FILE *f, const json_t *arr, const json_t *retired)
{
	size_t i, j;
	const json_t *e, *r;
	json_array_foreach(arr, i, e) {
		bool gone = false;
		json_array_foreach(retired, j, r)
			gone = gone || json_equal(e, r);
		fprintf(f, "%s%s%s", i > 0 ? ", " : "", json_string_value(e), gone ? " (retired)" : "");
	}
}

/* What a field's definition says besides its type, into f: its flags
 * (required, search, retired), then its options, list, kind, range and
 * default, separated by "; ". */
static void print_field_notes(FILE *f, const json_t *def)
{
	static const char *const flags[] = {"required", "search", "retired", NULL};
	const char *sep = "", *type = cli_str(def, "type");
	const json_t *v;
	for (const char *const *flag = flags; *flag != NULL; flag++)
		if (json_is_true(json_object_get(def, *flag))) {
			fprintf(f, "%s%s", sep, *flag);
			sep = ", ";
		}
	if (*sep != '\0')
		sep = "; ";
	if ((v = json_object_get(def, "values")) != NULL) {
		fprintf(f, "%s%s of: ", sep, type != NULL && strcmp(type, "options") == 0 ? "any" : "one");
		print_values(f, v, json_object_get(def, "retired_values"));
		sep = "; ";
	}
	if ((v = json_object_get(def, "list")) != NULL) {
		fprintf(f, "%slist %s", sep, json_string_value(v));
		sep = "; ";
	}
	if ((v = json_object_get(def, "ref")) != NULL) {
		fprintf(f, "%s-> %s", sep, json_string_value(v));
		sep = "; ";
	}
	if (json_object_get(def, "min") != NULL || json_object_get(def, "max") != NULL) {
		fprintf(f, "%s%" JSON_INTEGER_FORMAT " to %" JSON_INTEGER_FORMAT, sep,
			cli_int(def, "min"), cli_int(def, "max"));
		sep = "; ";
	}
	if ((v = json_object_get(def, "default")) != NULL) {
		char *text = json_dumps(v, JSON_ENCODE_ANY);
		fprintf(f, "%sdefault %s", sep, json_is_string(v) ? json_string_value(v)
			: text != NULL ? text : "?");
		free(text);
	}
}

/* A field: its name, its type and, when there are any, its notes. */
static void print_field(const char *name, const json_t *def)
{
	const char *type = cli_str(def, "type");
	char *notes = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&notes, &len);
	if (m != NULL) {
		print_field_notes(m, def);
		fclose(m);
	}
	if (notes != NULL && len > 0)
		printf("  %-22s %-14s %s\n", name, type != NULL ? type : "?", notes);
	else
		printf("  %-22s %s\n", name, type != NULL ? type : "?");
	free(notes);
}

static void print_kind(const char *name, const json_t *kind)
{
	const char *fname;
	const json_t *def;
	printf("\nkind %s%s\n", name, cli_schema_append_only(kind) ? " (append-only)" : "");
	json_object_foreach(json_object_get(kind, "fields"), fname, def)
		print_field(fname, def);
}

/* A list entry: its code, label, other text keys (a service's area,
 * address, ...) and whether it is retired. */
static void print_entry(const json_t *e)
{
	const char *key, *code = cli_str(e, "code"), *label = cli_str(e, "label");
	const json_t *v;
	const char *sep = " (";
	printf("  %-22s %s", code != NULL ? code : "?", label != NULL ? label : "");
	json_object_foreach((json_t *)e, key, v) {
		if (strcmp(key, "code") == 0 || strcmp(key, "label") == 0 || !json_is_string(v))
			continue;
		printf("%s%s: %s", sep, key, json_string_value(v));
		sep = ", ";
	}
	fputs(*sep == ',' ? ")" : "", stdout);
	fputs(json_is_true(json_object_get(e, "retired")) ? " [retired]\n" : "\n", stdout);
}

static void print_list(const char *name, const json_t *list)
{
	size_t i;
	const json_t *e;
	printf("\nlist %s%s\n", name, json_array_size(list) == 0 ? ": no entries yet" : "");
	json_array_foreach(list, i, e)
		print_entry(e);
}

static void print_schema(const json_t *schema)
{
	const char *name;
	const json_t *v;
	const char *sname = cli_str(schema, "name"), *format = cli_str(schema, "format");
	printf("record schema %s version %" JSON_INTEGER_FORMAT " (%s)\n", sname ? sname : "-",
		cli_int(schema, "version"), format ? format : "-");
	json_object_foreach(json_object_get(schema, "kinds"), name, v)
		print_kind(name, v);
	json_object_foreach(json_object_get(schema, "lists"), name, v)
		print_list(name, v);
	fputs("\nlife domains: ZRM", stdout);
	json_object_foreach(json_object_get(schema, "domains"), name, v)
		printf(" %s", name);
	puts(" (see `veld domains`)");
}

int cmd_schema(cli *c, const cli_line *l)
{
	json_t *schema = NULL;
	int ex = cli_schema_load(c, &schema);
	if (ex != 0)
		return ex;
	if (c->json)
		cli_print_json(schema);
	else
		print_schema(schema);
	json_decref(schema);
	return 0;
}
