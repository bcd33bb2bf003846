/*
 * sync.c - the network commands of a device: enroll and sync.
 *
 * They are thin over veld_sync.h. What the command adds: a progress line on
 * a terminal, a summary, and what a revoked device must do (wipe its store).
 * Nothing here prints an enrollment code or a record value; errors carry
 * the server's error code and message as the library reports them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "veld_sync.h"

#define CODE_LINE_MAX 128

void cli_net_options(const cli_line *l, struct veld_sync_options *so)
{
	veld_sync_options_init(so);
	so->insecure_http = cli_flag(l, "insecure-http");
	so->ca_file = cli_opt(l, "ca-file");
	so->pinned_key = cli_opt(l, "pin");
}

/* ---- the wipe of a revoked device ---------------------------------------- */

int cli_sync_error(cli *c, int rc)
{
	static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
	int failed = 0;
	if (rc != VELD_EREVOKED)
		return cli_api_error(rc);
	/* The office revoked this device: its data must not stay here. The
	 * store is closed first so SQLite does not recreate the files. */
	fprintf(stderr, "veld: this device was revoked by the office; wiping the local store\n");
	veld_store_free(c->store);
	c->store = NULL;
	for (size_t i = 0; c->store_dir != NULL && i < sizeof suffixes / sizeof suffixes[0]; i++) {
		char path[4096];
		snprintf(path, sizeof path, "%s/veld.db%s", c->store_dir, suffixes[i]);
		if (unlink(path) != 0 && errno != ENOENT) {
			fprintf(stderr, "veld: could not delete %s: %s\n", path, strerror(errno));
			failed = 1;
		}
	}
	if (failed)
		fprintf(stderr, "veld: the wipe is incomplete: delete the files above by hand\n");
	return CLI_EXIT_PERM;
}

/* ---- fingerprint -------------------------------------------------------------- */

static int show_fingerprint(cli *c, const json_t *v, const void *payload)
{
	(void)c;
	(void)payload;
	if (v == NULL)
		return CLI_EXIT_FAIL;
	printf("device       %s\nfingerprint  %s\n", cli_str(v, "device"), cli_str(v, "fingerprint"));
	return 0;
}

int cmd_fingerprint(cli *c, const cli_line *l)
{
	char *text = NULL;
	int ex = cli_open_store(c);
	(void)l;
	if (ex != 0)
		return ex;
	return cli_show(c, veld_device_fingerprint(c->store, &text), &text, show_fingerprint, NULL);
}

/* ---- enroll ---------------------------------------------------------------- */

/* The code from stdin ("-"), so it need not appear in the process list. */
static int read_code(char *buf, size_t size)
{
	if (fgets(buf, (int)size, stdin) == NULL)
		return cli_fail(CLI_EXIT_USAGE, "no enrollment code on standard input");
	buf[strcspn(buf, "\r\n")] = '\0';
	return 0;
}

static void default_label(char *buf, size_t size)
{
	if (gethostname(buf, size) != 0 || buf[0] == '\0')
		snprintf(buf, size, "veld-device");
	buf[size - 1] = '\0';
	if (strlen(buf) > CLI_LABEL_MAX)
		buf[CLI_LABEL_MAX] = '\0';
}

static int show_enrolled(cli *c, const json_t *r, const void *url)
{
	const char *role = cli_str(r, "role"), *team = cli_str(r, "team"),
		*dev = cli_str(r, "device");
	if (r == NULL)
		return CLI_EXIT_FAIL;
	if (role != NULL && strcmp(role, "office") == 0) {
		printf("enrolled with %s as the office (device %s)\n", (const char *)url,
			dev ? dev : "-");
	} else {
		printf("enrolled with %s: a %s device of team %s (device %s)\n", (const char *)url,
			role ? role : "-", team ? team : "-", dev ? dev : "-");
		puts("run `veld sync` to receive the team's clients");
	}
	return 0;
}

int cmd_enroll(cli *c, const cli_line *l)
{
	veld_sync_options so;
	const char *url = l->arg[0], *label = cli_opt(l, "label");
	char code[CODE_LINE_MAX], host[256];
	int ex;

	cli_net_options(l, &so);
	if (label == NULL) {
		default_label(host, sizeof host);
		label = host;
	}
	if (strcmp(l->arg[1], "-") == 0) {
		if ((ex = read_code(code, sizeof code)) != 0)
			return ex;
	} else if (strlen(l->arg[1]) >= sizeof code) {
		return cli_usage(c, "the enrollment code is too long");
	} else {
		memcpy(code, l->arg[1], strlen(l->arg[1]) + 1);
	}
	if ((ex = cli_open_store(c)) != 0) {
		sodium_memzero(code, sizeof code);
		return ex;
	}
	char *text = NULL;
	int rc = veld_enroll(c->store, url, code, label, &so, &text);
	sodium_memzero(code, sizeof code);
	if (rc != VELD_OK) {
		veld_free(text);
		return cli_sync_error(c, rc);
	}
	return cli_show(c, rc, &text, show_enrolled, url);
}

/* ---- sync -------------------------------------------------------------------- */

struct bar {
	bool shown;
	size_t width; /* of the last line drawn, to blank what is left of it */
};

/* Progress on stderr, redrawn in place with \r. Called on this thread
 * after each push and each pulled page. */
static int draw_progress(const veld_sync_progress *p, void *payload)
{
	struct bar *b = payload;
	char line[160];
	double secs = p->elapsed_ms > 0 ? (double)p->elapsed_ms / 1000.0 : 0.001;
	int n;
	if (p->phase == VELD_SYNC_PHASE_PUSH)
		n = snprintf(line, sizeof line, "pushing: %llu of %llu operations (%.0f ops/s)",
			(unsigned long long)p->pushed, (unsigned long long)p->push_total,
			(double)p->pushed / secs);
	else
		n = snprintf(line, sizeof line, "pulling: %llu operations received, %llu new "
			"(%.0f ops/s)", (unsigned long long)p->pulled, (unsigned long long)p->applied,
			(double)p->pulled / secs);
	if (n < 0)
		return 0;
	fprintf(stderr, "\r%s", line);
	for (size_t i = (size_t)n; i < b->width; i++)
		fputc(' ', stderr);
	b->width = (size_t)n;
	b->shown = true;
	fflush(stderr);
	return 0;
}

static void clear_progress(struct bar *b)
{
	if (!b->shown)
		return;
	fputc('\r', stderr);
	for (size_t i = 0; i < b->width; i++)
		fputc(' ', stderr);
	fputc('\r', stderr);
	fflush(stderr);
	b->shown = false;
}

static int show_synced(cli *c, const json_t *r, const void *payload)
{
	if (r == NULL)
		return CLI_EXIT_FAIL;
	json_t *w = json_object_get(r, "warnings"), *line;
	size_t i;
	printf("synced: pushed %" JSON_INTEGER_FORMAT ", pulled %" JSON_INTEGER_FORMAT " (%"
		JSON_INTEGER_FORMAT " new), %" JSON_INTEGER_FORMAT " conflicts, in %" JSON_INTEGER_FORMAT
		" ms\n", cli_int(r, "pushed"), cli_int(r, "pulled"), cli_int(r, "applied"),
		cli_int(r, "conflicts"), cli_int(r, "duration_ms"));
	/* What a person must know: the server may be withholding, something
	 * waits or was kept aside. On stderr, so scripts reading stdout keep
	 * one line. */
	json_array_foreach(w, i, line)
		if (json_is_string(line))
			fprintf(stderr, "warning: %s\n", json_string_value(line));
	return 0;
}

int cmd_sync(cli *c, const cli_line *l)
{
	veld_sync_options so;
	struct bar bar = {false, 0};
	char *text = NULL;
	int ex = cli_open_store(c);
	if (ex != 0)
		return ex;
	cli_net_options(l, &so);
	if (isatty(2)) {
		so.progress = draw_progress;
		so.payload = &bar;
	}
	int rc = veld_sync(c->store, &so, &text);
	clear_progress(&bar);
	if (rc != VELD_OK) {
		veld_free(text);
		return cli_sync_error(c, rc);
	}
	return cli_show(c, rc, &text, show_synced, NULL);
}
