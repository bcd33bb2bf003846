/*
 * visit.c - `veld visit add|list|show|edit`: a visit's options, and its
 * ZRM scores, which an edit merges into the ones the visit has.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *const visit_kinds[] = {"home_visit", "phone", "no_show", "outreach", NULL};

/* Timestamps a visit may carry, best first, for the date column. */
static const char *const visit_date_keys[] = {"started", "planned", "ended", "created", NULL};

static const rec_field visit_fields[] = {
	REC_FIELD("client", REC_TEXT, REC_GIVEN), REC_ONE_OF("kind", visit_kinds, REC_GIVEN | REC_STRICT),
	REC_FIELD("planned", REC_TIME, 0), REC_FIELD("started", REC_TIME, 0),
	REC_FIELD("ended", REC_TIME, 0), REC_FIELD("actions", REC_TEXT, 0),
	REC_FIELD("domains", REC_LIST, 0),
};

static const rec_spec visit_spec = {
	visit_fields, sizeof visit_fields / sizeof visit_fields[0], "added",
	"a visit needs --client and --kind", NULL, "nothing to change: give at least one option",
	NULL,
};

/* --score DOMAIN=N, N 1..5, into `scores`; on an edit DOMAIN= removes the
 * score (JSON null until it is merged). */
static int add_score(cli *c, json_t *scores, const json_t *known, const char *v, bool edit)
{
	const char *eq = strchr(v, '=');
	long long n;
	if (eq == NULL || eq == v)
		return cli_usage(c, "--score needs DOMAIN=N, N from 1 (acute problem) to 5 "
			"(fully self-reliant)");
	char domain[128];
	size_t len = (size_t)(eq - v);
	if (len >= sizeof domain)
		return cli_usage(c, "--score: domain name too long");
	memcpy(domain, v, len);
	domain[len] = '\0';
	int ex = rec_check_domain(c, known, "--score", domain);
	if (ex != 0)
		return ex;
	if (edit && eq[1] == '\0') {
		json_object_set_new(scores, domain, json_null());
		return 0;
	}
	if (!cli_parse_int(eq + 1, 1, 5, &n))
		return cli_usage(c, "--score: a ZRM score is a whole number from 1 to 5");
	json_object_set_new(scores, domain, json_integer(n));
	return 0;
}

/* The fields, and the scores merged into those the visit has (`old`):
 * other domains are kept. */
static json_t *visit_build(const cli_line *l, const json_t *scores, const json_t *old, bool edit)
{
	json_t *f = rec_build(l, &visit_spec, old, edit);
	const char *k;
	json_t *v;
	if (scores == NULL)
		return f;
	const json_t *had = old != NULL ? json_object_get(old, "scores") : NULL;
	json_t *s = json_is_object(had) ? json_deep_copy(had) : json_object();
	json_object_foreach((json_t *)scores, k, v) {
		if (json_is_null(v))
			json_object_del(s, k);
		else
			json_object_set(s, k, v);
	}
	json_object_set_new(f, "scores", s);
	return f;
}

/* Add or (`edit`) change a visit: the record's options, then the scores
 * (checked against the same life domains). */
static int visit_write(cli *c, const cli_line *l, bool edit)
{
	json_t *known = NULL, *scores = NULL, *old = NULL, *fields, *rec = NULL;
	int ex = rec_check_line(c, l, &visit_spec, edit, l->nmany > 0, &known);
	if (ex == 0 && l->nmany > 0)
		scores = json_object();
	for (size_t i = 0; i < l->nmany && ex == 0; i++)
		ex = add_score(c, scores, known, l->many[i], edit);
	json_decref(known);
	if (ex == 0 && edit && !rec_given(l, &visit_spec) && scores == NULL)
		ex = cli_usage(c, "%s", visit_spec.nothing);
	if (ex == 0)
		ex = cli_open_store(c);
	if (ex == 0 && edit && scores != NULL)
		ex = rec_get(c, "visit", l->arg[0], &old);
	if (ex == 0) {
		fields = visit_build(l, scores, old, edit);
		ex = edit ? rec_update(c, "visit", l->arg[0], fields, &rec)
		          : rec_create(c, "visit", fields, &rec);
		json_decref(fields);
		if (ex == 0)
			rec_report(c, edit ? "updated" : "added", "visit", rec, edit ? l->arg[0] : "");
	}
	json_decref(rec);
	json_decref(old);
	json_decref(scores);
	return ex;
}

int cmd_visit_add(cli *c, const cli_line *l)
{
	return visit_write(c, l, false);
}

int cmd_visit_edit(cli *c, const cli_line *l)
{
	return visit_write(c, l, true);
}

static void visit_row(const json_t *r, const void *payload)
{
	char id[16], cid[16], date[32];
	const char *kind = cli_str(r, "kind");
	const json_t *sc = json_object_get(r, "scores");
	printf("%-8s  %-10s  %-10s  %-8s  ", cli_short_id(cli_str(r, "id"), id),
		cli_record_date(r, visit_date_keys, date), kind != NULL ? kind : "-",
		cli_short_id(cli_str(r, "client"), cid));
	if (json_is_object(sc) && json_object_size(sc) > 0)
		cli_print_value(sc);
	else
		fputs("-", stdout);
	fputc('\n', stdout);
}

const rec_lister cli_visit_lister = {
	"no visits", NULL, "ID        DATE        KIND        CLIENT    SCORES\n", visit_row, NULL,
	NULL,
};
