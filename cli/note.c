/*
 * note.c - `veld note add|amend|list|show`. Notes are append-only: an amendment
 * is a new note that names the one it corrects.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Timestamps a note may carry, for the date column. */
static const char *const note_date_keys[] = {"created", NULL};

/* Most characters of a note shown in a list. */
#define NOTE_PREVIEW 60
/* Most bytes of note text read from stdin. */
#define NOTE_TEXT_MAX (1024 * 1024)

static int read_text(cli *c, const char *arg, char **out)
{
	*out = NULL;
	if (strcmp(arg, "-") != 0) {
		if (*arg == '\0')
			return cli_usage(c, "--text is empty");
		*out = strdup(arg);
		return *out != NULL ? 0 : cli_fail(CLI_EXIT_FAIL, "out of memory");
	}
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	if (buf == NULL)
		return cli_fail(CLI_EXIT_FAIL, "out of memory");
	size_t n;
	while ((n = fread(buf + len, 1, cap - len - 1, stdin)) > 0) {
		len += n;
		if (len > NOTE_TEXT_MAX) {
			free(buf);
			return cli_fail(CLI_EXIT_USAGE, "note text on standard input is longer "
				"than %d bytes", NOTE_TEXT_MAX);
		}
		if (cap - len - 1 == 0) {
			char *nb = realloc(buf, cap * 2);
			if (nb == NULL) {
				free(buf);
				return cli_fail(CLI_EXIT_FAIL, "out of memory");
			}
			buf = nb;
			cap *= 2;
		}
	}
	if (ferror(stdin)) {
		free(buf);
		return cli_fail(CLI_EXIT_FAIL, "cannot read the note text from standard input");
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	buf[len] = '\0';
	if (len == 0) {
		free(buf);
		return cli_usage(c, "the note text on standard input is empty");
	}
	*out = buf;
	return 0;
}

static const struct option note_options[] = {
	{"client", required_argument, NULL, O_CLIENT},
	{"visit", required_argument, NULL, O_VISIT},
	{"text", required_argument, NULL, O_TEXT},
	{"tags", required_argument, NULL, O_TAGS},
	{NULL, 0, NULL, 0}
};

typedef struct note_args {
	const char *id, *client, *visit, *text_arg, *tags_arg;
	char *text;
	json_t *tags;
} note_args;

static int parse_note_args(cli *c, int argc, char **argv, bool amend, note_args *a)
{
	cli_opts it;
	int o;
	memset(a, 0, sizeof *a);
	cli_opts_begin(&it, c, argc, argv, note_options);
	while ((o = cli_opts_next(&it)) != -1) {
		const char *v = it.optarg;
		switch (o) {
		case CLI_OPT_HELP: return -1;
		case CLI_OPT_ERROR: return CLI_EXIT_USAGE;
		case CLI_OPT_ARG:
			if (!amend || a->id != NULL)
				return cli_usage(c, "unexpected argument");
			a->id = v;
			break;
		case O_CLIENT:
		case O_VISIT:
			if (amend)
				return cli_usage(c, "an amendment belongs to the note it amends; "
					"--client and --visit do not apply");
			if (o == O_CLIENT)
				a->client = v;
			else
				a->visit = v;
			break;
		case O_TEXT: a->text_arg = v; break;
		case O_TAGS: a->tags_arg = v; break;
		}
	}
	if (amend && a->id == NULL)
		return cli_usage(c, "which note? give the id of the note to amend");
	if (!amend && a->client == NULL)
		return cli_usage(c, "a note needs --client");
	if (a->text_arg == NULL)
		return cli_usage(c, "a note needs --text (or --text - to read standard input)");
	if (a->tags_arg != NULL && (a->tags = cli_split_list(a->tags_arg)) == NULL)
		return cli_usage(c, "--tags needs a comma-separated list");
	if (*a->text_arg == '\0')
		return cli_usage(c, "--text is empty");
	return 0;
}

static void note_args_free(note_args *a)
{
	if (a->text != NULL) {
		memset(a->text, 0, strlen(a->text));
		free(a->text);
	}
	json_decref(a->tags);
	a->text = NULL;
	a->tags = NULL;
}

static int create_note(cli *c, const char *client, const char *visit, const char *amends,
	const note_args *a)
{
	json_t *f = json_object(), *rec = NULL;
	json_object_set_new(f, "client", json_string(client));
	if (visit != NULL)
		json_object_set_new(f, "visit", json_string(visit));
	if (amends != NULL)
		json_object_set_new(f, "amends", json_string(amends));
	json_object_set_new(f, "text", json_string(a->text));
	if (a->tags != NULL)
		json_object_set(f, "tags", a->tags);
	int ex = rec_create(c, "note", f, &rec);
	json_decref(f);
	if (ex == 0)
		rec_report(c, "added", "note", rec, "");
	json_decref(rec);
	return ex;
}

int cmd_note_add(cli *c, int argc, char **argv)
{
	note_args a;
	char *visit = NULL;
	int ex = parse_note_args(c, argc, argv, false, &a);
	if (ex == 0)
		ex = cli_open_store(c);
	/* The text is read after the passphrase, so that with --passphrase-fd 0
	 * and --text - the first line of standard input is the passphrase and
	 * the rest the note. */
	if (ex == 0)
		ex = read_text(c, a.text_arg, &a.text);
	if (ex == 0 && a.visit != NULL)
		/* a reference field takes a full id: resolve the prefix */
		ex = rec_resolve_id(c, "visit", a.visit, &visit);
	if (ex == 0)
		ex = create_note(c, a.client, visit, NULL, &a);
	free(visit);
	note_args_free(&a);
	return ex < 0 ? 0 : ex;
}

int cmd_note_amend(cli *c, int argc, char **argv)
{
	note_args a;
	json_t *old = NULL;
	int ex = parse_note_args(c, argc, argv, true, &a);
	if (ex == 0)
		ex = cli_open_store(c);
	/* The text is read after the passphrase, so that with --passphrase-fd 0
	 * and --text - the first line of standard input is the passphrase and
	 * the rest the note. */
	if (ex == 0)
		ex = read_text(c, a.text_arg, &a.text);
	if (ex == 0)
		ex = rec_get(c, "note", a.id, &old);
	if (ex == 0) {
		const char *client = cli_str(old, "client"), *id = cli_str(old, "id");
		if (client == NULL || id == NULL)
			ex = cli_fail(CLI_EXIT_FAIL, "the note to amend has no client");
		else
			ex = create_note(c, client, NULL, id, &a);
	}
	json_decref(old);
	note_args_free(&a);
	return ex < 0 ? 0 : ex;
}

int cmd_note_list(cli *c, int argc, char **argv)
{
	const char *client;
	json_t *list = NULL;
	int ex = rec_list_args(c, argc, argv, false, &client, NULL);
	if (ex == 0)
		ex = rec_list_kind(c, "note", client, false, &list);
	if (ex != 0)
		return ex < 0 ? 0 : ex;
	if (c->json) {
		cli_print_json(list);
		json_decref(list);
		return 0;
	}
	if (json_array_size(list) == 0) {
		puts("no notes");
		json_decref(list);
		return 0;
	}
	/* Which notes were amended by a later one. */
	json_t *amended = json_object();
	size_t i;
	const json_t *r;
	json_array_foreach(list, i, r) {
		const char *am = cli_str(r, "amends");
		if (am != NULL)
			json_object_set_new(amended, am, json_true());
	}
	printf("%-8s  %-10s  %-8s  %-15s  %s\n", "ID", "DATE", "CLIENT", "", "TEXT");
	json_array_foreach(list, i, r) {
		char id[16], cid[16], date[32], mark[32] = "";
		const char *nid = cli_str(r, "id"), *am = cli_str(r, "amends");
		if (nid != NULL && json_object_get(amended, nid) != NULL)
			snprintf(mark, sizeof mark, "[amended]");
		else if (am != NULL)
			snprintf(mark, sizeof mark, "amends %s", cli_short_id(am, cid));
		printf("%-8s  %-10s  %-8s  %-15s  ", cli_short_id(nid, id),
			cli_record_date(r, note_date_keys, date),
			cli_short_id(cli_str(r, "client"), cid), mark);
		cli_print_cut(cli_str(r, "text"), NOTE_PREVIEW, false);
		fputc('\n', stdout);
	}
	json_decref(amended);
	json_decref(list);
	return 0;
}

int cmd_note_show(cli *c, int argc, char **argv)
{
	const char *id;
	int ex = rec_one_id(c, argc, argv, &id);
	if (ex != 0)
		return ex < 0 ? 0 : ex;
	return rec_show(c, "note", id);
}

