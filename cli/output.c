/*
 * output.c - turning the JSON the API returns into output.
 *
 * With --json the API's JSON is printed as it is, only indented. Without
 * it, lists become compact tables and single records a labelled block, for
 * a person to read; the layout may change between versions, the JSON does
 * not (scripts should use --json).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <sodium.h>

#include "cli.h"

#define JSON_OUT_FLAGS (JSON_INDENT(2) | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER)

void cli_free_text(char *text)
{
	if (text != NULL) {
		sodium_memzero(text, strlen(text));
		veld_free(text);
	}
}

#ifdef __GLIBC__
/* Records are decrypted into jansson values, in the library and here; this
 * free wipes each block first, so a name or a note does not linger in freed
 * heap memory (a core dump, a later allocation). It must stay compatible
 * with free(), because strings from json_dumps are released with
 * veld_free(): hence malloc_usable_size rather than a size header. */
static void wiping_free(void *p)
{
	if (p != NULL) {
		sodium_memzero(p, malloc_usable_size(p));
		free(p);
	}
}
#endif

void cli_wipe_json_memory(void)
{
#ifdef __GLIBC__
	json_set_alloc_funcs(malloc, wiping_free);
#endif
}

json_t *cli_parse(const char *text)
{
	json_error_t err;
	json_t *v = json_loads(text != NULL ? text : "", JSON_DECODE_ANY, &err);
	if (v == NULL)
		/* Never echo the text: it may hold decrypted record content. */
		fprintf(stderr, "veld: the store returned malformed JSON (line %d)\n", err.line);
	return v;
}

void cli_print_json(const json_t *v)
{
	json_dumpf(v, stdout, JSON_OUT_FLAGS);
	fputc('\n', stdout);
}

int cli_print_json_text(const char *text)
{
	json_t *v = cli_parse(text);
	if (v == NULL)
		return CLI_EXIT_FAIL;
	cli_print_json(v);
	json_decref(v);
	return 0;
}

const char *cli_short_id(const char *id, char buf[16])
{
	if (id == NULL)
		id = "";
	size_t n = strlen(id);
	if (n > 8)
		n = 8;
	memcpy(buf, id, n);
	buf[n] = '\0';
	return buf;
}

const char *cli_str(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

json_int_t cli_int(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);
	return json_is_integer(v) ? json_integer_value(v) : 0;
}

const char *cli_record_date(const json_t *rec, const char *const *keys, char buf[32])
{
	for (; *keys != NULL; keys++) {
		const char *s = cli_str(rec, *keys);
		if (s != NULL && strlen(s) >= 10) {
			memcpy(buf, s, 10);
			buf[10] = '\0';
			return buf;
		}
	}
	return "-";
}

/* Bytes of the UTF-8 sequence that starts with byte c. */
static size_t utf8_len(unsigned char c)
{
	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0)
		return 2;
	if ((c & 0xf0) == 0xe0)
		return 3;
	if ((c & 0xf8) == 0xf0)
		return 4;
	return 1;
}

void cli_print_cut(const char *text, size_t width, bool pad)
{
	size_t shown = 0;
	const char *p = text != NULL ? text : "";
	while (*p != '\0' && shown < width) {
		size_t n = utf8_len((unsigned char)*p);
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			/* newlines and other control characters: one space */
			fputc(' ', stdout);
			n = 1;
		} else {
			for (size_t i = 0; i < n && p[i] != '\0'; i++)
				fputc(p[i], stdout);
		}
		for (size_t i = 0; i < n && *p != '\0'; i++)
			p++;
		shown++;
	}
	if (*p != '\0') {
		fputs("\xe2\x80\xa6", stdout); /* an ellipsis */
		shown++;
	}
	if (pad)
		for (; shown < width; shown++)
			fputc(' ', stdout);
}

void cli_print_value(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		fputs(json_string_value(v), stdout);
		break;
	case JSON_TRUE:
		fputs("yes", stdout);
		break;
	case JSON_FALSE:
		fputs("no", stdout);
		break;
	case JSON_NULL:
		fputs("-", stdout);
		break;
	case JSON_INTEGER:
		printf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL:
		printf("%g", json_real_value(v));
		break;
	case JSON_ARRAY: {
		size_t i;
		const json_t *e;
		json_array_foreach(v, i, e) {
			if (i > 0)
				fputs(", ", stdout);
			cli_print_value(e);
		}
		if (json_array_size(v) == 0)
			fputs("-", stdout);
		break;
	}
	case JSON_OBJECT: {
		const char *k;
		const json_t *e;
		bool first = true;
		json_object_foreach((json_t *)v, k, e) {
			if (!first)
				fputs(", ", stdout);
			printf("%s ", k);
			cli_print_value(e);
			first = false;
		}
		if (first)
			fputs("-", stdout);
		break;
	}
	}
}

static void print_label(const char *key, int indent, bool value_follows)
{
	char label[64];
	size_t n = strlen(key);
	if (n >= sizeof label - 1)
		n = sizeof label - 2;
	for (size_t i = 0; i < n; i++)
		label[i] = key[i] == '_' ? ' ' : key[i];
	label[n] = ':';
	label[n + 1] = '\0';
	if (value_follows)
		printf("%*s%-*s ", indent, "", 20 - indent, label);
	else
		printf("%*s%s", indent, "", label);
}

static void print_multiline(const char *s)
{
	/* Text with line breaks goes under its label, indented. */
	fputc('\n', stdout);
	const char *p = s;
	while (*p != '\0') {
		size_t n = strcspn(p, "\n");
		printf("    %.*s\n", (int)n, p);
		p += n;
		if (*p == '\n')
			p++;
	}
}

static void print_field(const char *key, const json_t *v, int indent)
{
	bool sub = json_is_object(v) && json_object_size(v) > 0;
	bool multiline = json_is_string(v) && strchr(json_string_value(v), '\n') != NULL;
	print_label(key, indent, !sub && !multiline);
	if (sub) {
		/* a sub-record (care decision, housing, scores): one line each */
		const char *k;
		const json_t *e;
		fputc('\n', stdout);
		json_object_foreach((json_t *)v, k, e) {
			if (json_is_object(e) || json_is_array(e)) {
				print_label(k, indent + 2, true);
				cli_print_value(e);
				fputc('\n', stdout);
			} else {
				print_field(k, e, indent + 2);
			}
		}
		return;
	}
	if (multiline) {
		print_multiline(json_string_value(v));
		return;
	}
	cli_print_value(v);
	fputc('\n', stdout);
}

static void print_conflict(const json_t *conf)
{
	const json_t *values = json_object_get(conf, "values");
	size_t i;
	const json_t *e;
	printf("  %-18s competing values:\n", "CONFLICT");
	json_array_foreach(values, i, e) {
		char dev[16];
		const json_t *val = json_object_get(e, "value");
		const char *at = cli_str(e, "at");
		if (at == NULL)
			at = cli_str(e, "hlc");
		fputs("    - ", stdout);
		if (json_is_string(val))
			printf("\"%s\"", json_string_value(val));
		else if (val != NULL)
			cli_print_value(val);
		else
			fputs("(sealed)", stdout);
		printf("  (device %s", cli_short_id(cli_str(e, "device"), dev));
		if (at != NULL)
			printf(", %s", at);
		/* The store lists the winner, the value shown above, first. */
		fputs(i == 0 ? ", shown)\n" : ")\n", stdout);
	}
}

/* The conflict entry for one field of this record, or NULL. */
static const json_t *find_conflict(const json_t *conflicts, const char *field)
{
	size_t i;
	const json_t *e;
	json_array_foreach(conflicts, i, e) {
		const char *f = cli_str(e, "field");
		if (f != NULL && strcmp(f, field) == 0)
			return e;
	}
	return NULL;
}

/* Keys the store adds to every record; printed after the fields. */
static bool is_meta(const char *key)
{
	static const char *const meta[] = {"id", "type", "client", "team", "created", "updated",
		"conflicts", "amended_by", NULL};
	return cli_in_list(key, meta);
}

/* The order a person expects the fields of a record in; fields not
 * listed follow in the store's order. */
static const char *const field_order[] = {
	/* client */
	"name", "initials", "birth_date", "address", "phone", "care_status", "care_decision",
	"housing", "contact_person",
	/* visit, signal */
	"kind", "severity", "status", "worker", "planned", "started", "ended", "zrm_version", "domains",
	"scores", "actions",
	/* note */
	"author", "visit", "amends", "tags", "text",
	/* goal, signal */
	"domain", "description", "review_date", "closed_at", "follow_up", NULL
};

static void print_with_conflict(const json_t *rec, const json_t *conflicts, const char *k)
{
	print_field(k, json_object_get(rec, k), 2);
	const json_t *conf = find_conflict(conflicts, k);
	if (conf != NULL)
		print_conflict(conf);
}

void cli_print_record(const char *kind, const json_t *rec)
{
	const json_t *conflicts = json_object_get(rec, "conflicts");
	const char *id = cli_str(rec, "id");
	const char *k;
	const json_t *v;
	printf("%s %s\n", kind, id != NULL ? id : "");
	if (cli_str(rec, "client") != NULL)
		print_field("client", json_object_get(rec, "client"), 2);
	for (const char *const *f = field_order; *f != NULL; f++)
		if (json_object_get(rec, *f) != NULL)
			print_with_conflict(rec, conflicts, *f);
	json_object_foreach((json_t *)rec, k, v) {
		if (!is_meta(k) && !cli_in_list(k, field_order))
			print_with_conflict(rec, conflicts, k);
	}
	/* A field in conflict that has no current value (removed on one side)
	 * is still shown. */
	size_t i;
	const json_t *e;
	json_array_foreach(conflicts, i, e) {
		const char *f = cli_str(e, "field");
		if (f != NULL && json_object_get(rec, f) == NULL) {
			print_field(f, json_null(), 2);
			print_conflict(e);
		}
	}
	const char *const tail[] = {"amended_by", "team", "created", "updated"};
	for (size_t j = 0; j < sizeof tail / sizeof tail[0]; j++)
		if ((v = json_object_get(rec, tail[j])) != NULL)
			print_field(tail[j], v, 2);
}

/* ---- a command's answer ---------------------------------------------------- */

int cli_take_json(int rc, char **textp, json_t **out)
{
	char *text = *textp;
	*textp = NULL;
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

int cli_emit(cli *c, json_t *json, const char *fmt, ...)
{
	va_list ap;
	if (c->json) {
		cli_print_json(json);
	} else {
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
	}
	json_decref(json);
	return 0;
}

int cli_show(cli *c, int rc, char **textp,
	int (*show)(cli *c, const json_t *v, const void *payload), const void *payload)
{
	char *text = *textp;
	int ex;
	*textp = NULL;
	if (rc != VELD_OK) {
		cli_free_text(text);
		return cli_api_error(rc);
	}
	if (c->json) {
		ex = cli_print_json_text(text);
	} else {
		json_t *v = cli_parse(text);
		ex = show(c, v, payload);
		json_decref(v);
	}
	cli_free_text(text);
	return ex;
}

int cli_table(cli *c, json_t *list, const char *none, const char *head,
	void (*row)(const json_t *e, const void *payload), const void *payload)
{
	size_t i;
	const json_t *e;
	if (c->json) {
		cli_print_json(list);
	} else if (none != NULL && json_array_size(list) == 0) {
		puts(none);
	} else {
		fputs(head, stdout);
		json_array_foreach(list, i, e)
			row(e, payload);
	}
	json_decref(list);
	return 0;
}
