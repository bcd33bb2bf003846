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

/* The checks of add and amend, the store, then the text (after the
 * passphrase: with --passphrase-fd 0 and --text - the first line of
 * standard input is the passphrase and the rest the note); an amendment
 * takes its client from the note it amends. *tags is a new
 * reference or NULL, *text is the caller's to wipe and free. */
static int note_begin(cli *c, const cli_line *l, bool amend, json_t **tags, char **text)
{
	const char *t = cli_opt(l, "text"), *list = cli_opt(l, "tags");
	int ex = 0;
	*tags = NULL;
	*text = NULL;
	if (!amend && cli_opt(l, "client") == NULL)
		ex = cli_usage(c, "a note needs --client");
	else if (t == NULL)
		ex = cli_usage(c, "a note needs --text (or --text - to read standard input)");
	else if (list != NULL && (*tags = cli_split_list(list)) == NULL)
		ex = cli_usage(c, "--tags needs a comma-separated list");
	else if (*t == '\0')
		ex = cli_usage(c, "--text is empty");
	if (ex == 0 && (ex = cli_open_store(c)) == 0)
		ex = read_text(c, t, text);
	return ex;
}

static void note_end(json_t *tags, char *text)
{
	if (text != NULL) {
		memset(text, 0, strlen(text));
		free(text);
	}
	json_decref(tags);
}

static int create_note(cli *c, const char *client, const char *visit, const char *amends,
	const char *text, json_t *tags)
{
	json_t *f = json_object(), *rec = NULL;
	json_object_set_new(f, "client", json_string(client));
	if (visit != NULL)
		json_object_set_new(f, "visit", json_string(visit));
	if (amends != NULL)
		json_object_set_new(f, "amends", json_string(amends));
	json_object_set_new(f, "text", json_string(text));
	if (tags != NULL)
		json_object_set(f, "tags", tags);
	int ex = rec_create(c, "note", f, &rec);
	json_decref(f);
	if (ex == 0)
		rec_report(c, "added", "note", rec, "");
	json_decref(rec);
	return ex;
}

int cmd_note_add(cli *c, const cli_line *l)
{
	json_t *tags;
	char *text, *visit = NULL;
	int ex = note_begin(c, l, false, &tags, &text);
	if (ex == 0 && cli_opt(l, "visit") != NULL)
		/* a reference field takes a full id: resolve the prefix */
		ex = rec_resolve_id(c, "visit", cli_opt(l, "visit"), &visit);
	if (ex == 0)
		ex = create_note(c, cli_opt(l, "client"), visit, NULL, text, tags);
	free(visit);
	note_end(tags, text);
	return ex;
}

int cmd_note_amend(cli *c, const cli_line *l)
{
	json_t *tags, *old = NULL;
	char *text;
	int ex = note_begin(c, l, true, &tags, &text);
	if (ex == 0)
		ex = rec_get(c, "note", l->arg[0], &old);
	if (ex == 0) {
		const char *client = cli_str(old, "client"), *id = cli_str(old, "id");
		if (client == NULL || id == NULL)
			ex = cli_fail(CLI_EXIT_FAIL, "the note to amend has no client");
		else
			ex = create_note(c, client, NULL, id, text, tags);
	}
	json_decref(old);
	note_end(tags, text);
	return ex;
}

/* Which notes a later one amends: the payload of each row. */
static json_t *amended_notes(const json_t *list)
{
	json_t *amended = json_object();
	size_t i;
	const json_t *r;
	json_array_foreach(list, i, r) {
		const char *am = cli_str(r, "amends");
		if (am != NULL)
			json_object_set_new(amended, am, json_true());
	}
	return amended;
}

static void note_row(const json_t *r, const void *amended)
{
	char id[16], cid[16], date[32], mark[32] = "";
	const char *nid = cli_str(r, "id"), *am = cli_str(r, "amends");
	if (nid != NULL && json_object_get(amended, nid) != NULL)
		snprintf(mark, sizeof mark, "[amended]");
	else if (am != NULL)
		snprintf(mark, sizeof mark, "amends %s", cli_short_id(am, cid));
	printf("%-8s  %-10s  %-8s  %-15s  ", cli_short_id(nid, id),
		cli_record_date(r, note_date_keys, date), cli_short_id(cli_str(r, "client"), cid), mark);
	cli_print_cut(cli_str(r, "text"), NOTE_PREVIEW, false);
	fputc('\n', stdout);
}

const rec_lister cli_note_lister = {
	"no notes", NULL, "ID        DATE        CLIENT                     TEXT\n", note_row, NULL,
	amended_notes,
};
