/*
 * progress.c - `veld client progress ID`: a client's ZRM scores over time
 * (veld_client_progress), one line per life domain: the first and the
 * latest score, the change, and a small chart of the scores, oldest first.
 */
#include <stdio.h>

#include "cli.h"

/* The chart shows at most this many of a domain's latest scores. */
#define CHART_MAX 24

#define HEAD "DOMAIN                          FIRST  LATEST  CHANGE  SCORES, OLDEST FIRST\n"

/* A score 1..5 as one of the eight block heights U+2581..U+2588
 * (▁▂▃▄▅▆▇█): 1 the lowest, 5 the full block. */
static const char *bar(json_int_t score)
{
	static const char *const blocks[] = {
		"\xe2\x96\x81", "\xe2\x96\x82", "\xe2\x96\x83", "\xe2\x96\x84",
		"\xe2\x96\x85", "\xe2\x96\x86", "\xe2\x96\x87", "\xe2\x96\x88",
	};
	if (score < 1 || score > 5)
		return "?";
	return blocks[((score - 1) * 7 + 2) / 4];
}

/* label, first, latest, change (+1, -2, 0) and the chart of one domain. */
static void domain_line(const json_t *d)
{
	const json_t *series = json_object_get(d, "series");
	size_t n = json_array_size(series);
	long long change = (long long)cli_int(d, "change");
	char ch[24] = "0";
	if (change != 0)
		snprintf(ch, sizeof ch, "%+lld", change);
	cli_print_cut(cli_str(d, "label"), 30, true);
	printf("  %5lld  %6lld  %6s  ", (long long)cli_int(json_object_get(d, "first"), "score"),
		(long long)cli_int(json_object_get(d, "latest"), "score"), ch);
	for (size_t i = n > CHART_MAX ? n - CHART_MAX : 0; i < n; i++)
		fputs(bar(cli_int(json_array_get(series, i), "score")), stdout);
	fputc('\n', stdout);
}

/* A string of the answer, "" if it lacks one. */
static const char *text_of(const json_t *obj, const char *key)
{
	const char *s = cli_str(obj, key);
	return s != NULL ? s : "";
}

static int show_progress(cli *c, const json_t *p, const void *payload)
{
	const json_t *visits = json_object_get(p, "visits"), *d;
	size_t n = json_array_size(visits), i;
	char id[16];
	if (p == NULL)
		return CLI_EXIT_FAIL;
	cli_short_id(cli_str(p, "client"), id);
	if (n == 0) {
		printf("client %s has no visits with scores\n", id);
		return 0;
	}
	/* The dates of the first and the latest scored visit. */
	printf("client %s: %zu visit%s with scores, %.10s to %.10s (ZRM %s)\n", id, n,
		n == 1 ? "" : "s", text_of(json_array_get(visits, 0), "at"),
		text_of(json_array_get(visits, n - 1), "at"), text_of(p, "zrm_version"));
	fputs(HEAD, stdout);
	json_array_foreach(json_object_get(p, "domains"), i, d)
		domain_line(d);
	return 0;
}

int cmd_client_progress(cli *c, const cli_line *l)
{
	char *text = NULL;
	int ex = cli_open_store(c);
	if (ex != 0)
		return ex;
	return cli_show(c, veld_client_progress(c->store, l->arg[0], c->purpose, &text), &text,
		show_progress, NULL);
}
