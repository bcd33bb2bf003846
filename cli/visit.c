/*
 * visit.c - `veld visit add|list|show|edit`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *const visit_kinds[] = {"home_visit", "phone", "no_show", "outreach", NULL};

/* Timestamps a visit may carry, best first, for the date column. */
static const char *const visit_date_keys[] = {"started", "planned", "ended", "created", NULL};

typedef struct visit_args {
	const char *id, *client, *kind, *planned, *started, *ended, *domains, *actions;
	char planned_buf[40], started_buf[40], ended_buf[40];
	json_t *scores;       /* {"domain": n or null}, or NULL */
	json_t *domain_list;  /* array, or NULL */
} visit_args;

static void visit_args_free(visit_args *a)
{
	json_decref(a->scores);
	json_decref(a->domain_list);
	a->scores = a->domain_list = NULL;
}

static int add_score(cli *c, visit_args *a, const json_t *known, const char *v, bool edit)
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
	if (a->scores == NULL)
		a->scores = json_object();
	if (edit && eq[1] == '\0') {
		json_object_set_new(a->scores, domain, json_null());
		return 0;
	}
	if (!cli_parse_int(eq + 1, 1, 5, &n))
		return cli_usage(c, "--score: a ZRM score is a whole number from 1 to 5");
	json_object_set_new(a->scores, domain, json_integer(n));
	return 0;
}

static const struct option visit_options[] = {
	{"client", required_argument, NULL, O_CLIENT},
	{"kind", required_argument, NULL, O_KIND},
	{"planned", required_argument, NULL, O_PLANNED},
	{"started", required_argument, NULL, O_STARTED},
	{"ended", required_argument, NULL, O_ENDED},
	{"domains", required_argument, NULL, O_DOMAINS},
	{"score", required_argument, NULL, O_SCORE},
	{"actions", required_argument, NULL, O_ACTIONS},
	{NULL, 0, NULL, 0}
};

static int parse_visit_args(cli *c, int argc, char **argv, bool edit, visit_args *a)
{
	cli_opts it;
	int o, ex = 0;
	const char *scores[64];
	size_t nscores = 0;
	memset(a, 0, sizeof *a);
	cli_opts_begin(&it, c, argc, argv, visit_options);
	while ((o = cli_opts_next(&it)) != -1) {
		const char *v = it.optarg;
		switch (o) {
		case CLI_OPT_HELP: return -1;
		case CLI_OPT_ERROR: return CLI_EXIT_USAGE;
		case CLI_OPT_ARG:
			if (!edit || a->id != NULL)
				return cli_usage(c, "unexpected argument");
			a->id = v;
			break;
		case O_CLIENT:
			if (edit)
				return cli_usage(c, "a visit cannot move to another client");
			a->client = v;
			break;
		case O_KIND: a->kind = v; break;
		case O_PLANNED: a->planned = v; break;
		case O_STARTED: a->started = v; break;
		case O_ENDED: a->ended = v; break;
		case O_DOMAINS: a->domains = v; break;
		case O_ACTIONS: a->actions = v; break;
		case O_SCORE:
			if (nscores == sizeof scores / sizeof scores[0])
				return cli_usage(c, "too many --score options");
			scores[nscores++] = v;
			break;
		}
	}
	if (edit && a->id == NULL)
		return cli_usage(c, "which visit? give its id");
	if (!edit && (a->client == NULL || a->kind == NULL))
		return cli_usage(c, "a visit needs --client and --kind");
	if ((ex = rec_check_enum(c, "--kind", a->kind, visit_kinds, false)) != 0 ||
	    (ex = rec_check_time(c, "--planned", a->planned, a->planned_buf, sizeof a->planned_buf,
			&a->planned, edit)) != 0 ||
	    (ex = rec_check_time(c, "--started", a->started, a->started_buf, sizeof a->started_buf,
			&a->started, edit)) != 0 ||
	    (ex = rec_check_time(c, "--ended", a->ended, a->ended_buf, sizeof a->ended_buf,
			&a->ended, edit)) != 0)
		return ex;
	if (a->domains == NULL && nscores == 0)
		return 0;
	/* Domain names are reference data of the store, not of this program. */
	json_t *known;
	if ((ex = cli_zrm_domains(c, &known)) != 0)
		return ex;
	if (a->domains != NULL && !(edit && *a->domains == '\0')) {
		a->domain_list = cli_split_list(a->domains);
		if (a->domain_list == NULL)
			ex = cli_usage(c, "--domains needs a comma-separated list of life domains");
		size_t i;
		const json_t *d;
		json_array_foreach(a->domain_list, i, d) {
			if (ex != 0)
				break;
			ex = rec_check_domain(c, known, "--domains", json_string_value(d));
		}
	}
	for (size_t i = 0; i < nscores && ex == 0; i++)
		ex = add_score(c, a, known, scores[i], edit);
	json_decref(known);
	return ex;
}

static json_t *visit_fields(const visit_args *a, const char *client, const json_t *old, bool edit)
{
	json_t *f = json_object();
	if (client != NULL)
		json_object_set_new(f, "client", json_string(client));
	rec_set_str(f, "kind", a->kind, edit);
	rec_set_str(f, "planned", a->planned, edit);
	rec_set_str(f, "started", a->started, edit);
	rec_set_str(f, "ended", a->ended, edit);
	rec_set_str(f, "actions", a->actions, edit);
	if (a->domain_list != NULL)
		json_object_set(f, "domains", a->domain_list);
	else if (edit && a->domains != NULL)
		json_object_set_new(f, "domains", json_null());
	if (a->scores != NULL) {
		/* merge into the scores the visit has: other domains are kept */
		json_t *s = rec_sub_object(old, "scores");
		const char *k;
		json_t *v;
		json_object_foreach(a->scores, k, v) {
			if (json_is_null(v))
				json_object_del(s, k);
			else
				json_object_set(s, k, v);
		}
		json_object_set_new(f, "scores", s);
	}
	return f;
}

int cmd_visit_add(cli *c, int argc, char **argv)
{
	visit_args a;
	int ex = parse_visit_args(c, argc, argv, false, &a);
	if (ex == 0)
		ex = cli_open_store(c);
	if (ex == 0) {
		json_t *fields = visit_fields(&a, a.client, NULL, false), *rec = NULL;
		ex = rec_create(c, "visit", fields, &rec);
		json_decref(fields);
		if (ex == 0)
			rec_report(c, "added", "visit", rec, "");
		json_decref(rec);
	}
	visit_args_free(&a);
	return ex < 0 ? 0 : ex;
}

int cmd_visit_edit(cli *c, int argc, char **argv)
{
	visit_args a;
	json_t *old = NULL;
	int ex = parse_visit_args(c, argc, argv, true, &a);
	if (ex == 0) {
		json_t *probe = visit_fields(&a, NULL, NULL, true);
		if (json_object_size(probe) == 0)
			ex = cli_usage(c, "nothing to change: give at least one option");
		json_decref(probe);
	}
	if (ex == 0)
		ex = cli_open_store(c);
	if (ex == 0 && a.scores != NULL)
		ex = rec_get(c, "visit", a.id, &old);
	if (ex == 0) {
		json_t *fields = visit_fields(&a, NULL, old, true), *rec = NULL;
		ex = rec_update(c, "visit", a.id, fields, &rec);
		json_decref(fields);
		if (ex == 0)
			rec_report(c, "updated", "visit", rec, a.id);
		json_decref(rec);
	}
	json_decref(old);
	visit_args_free(&a);
	return ex < 0 ? 0 : ex;
}
int cmd_visit_list(cli *c, int argc, char **argv)
{
	const char *client;
	json_t *list = NULL;
	int ex = rec_list_args(c, argc, argv, false, &client, NULL);
	if (ex == 0)
		ex = rec_list_kind(c, "visit", client, false, &list);
	if (ex != 0)
		return ex < 0 ? 0 : ex;
	if (c->json) {
		cli_print_json(list);
	} else if (json_array_size(list) == 0) {
		puts("no visits");
	} else {
		size_t i;
		const json_t *r;
		printf("%-8s  %-10s  %-10s  %-8s  %s\n", "ID", "DATE", "KIND", "CLIENT", "SCORES");
		json_array_foreach(list, i, r) {
			char id[16], cid[16], date[32];
			const char *kind = cli_str(r, "kind");
			printf("%-8s  %-10s  %-10s  %-8s  ", cli_short_id(cli_str(r, "id"), id),
				cli_record_date(r, visit_date_keys, date), kind != NULL ? kind : "-",
				cli_short_id(cli_str(r, "client"), cid));
			const json_t *sc = json_object_get(r, "scores");
			if (json_is_object(sc) && json_object_size(sc) > 0)
				cli_print_value(sc);
			else
				fputs("-", stdout);
			fputc('\n', stdout);
		}
	}
	json_decref(list);
	return 0;
}

int cmd_visit_show(cli *c, int argc, char **argv)
{
	const char *id;
	int ex = rec_one_id(c, argc, argv, &id);
	if (ex != 0)
		return ex < 0 ? 0 : ex;
	return rec_show(c, "visit", id);
}

