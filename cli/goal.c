/*
 * goal.c - `veld goal set|list|show|edit`: support-plan goals per life domain.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *const goal_statuses[] = {"open", "achieved", "stopped", NULL};

static const struct option goal_options[] = {
	{"client", required_argument, NULL, O_CLIENT},
	{"domain", required_argument, NULL, O_DOMAIN},
	{"description", required_argument, NULL, O_DESCRIPTION},
	{"status", required_argument, NULL, O_STATUS},
	{"review-date", required_argument, NULL, O_REVIEW},
	{NULL, 0, NULL, 0}
};

typedef struct goal_args {
	const char *id, *client, *domain, *description, *status, *review_date;
} goal_args;

static int parse_goal_args(cli *c, int argc, char **argv, bool edit, goal_args *a)
{
	cli_opts it;
	int o, ex;
	memset(a, 0, sizeof *a);
	cli_opts_begin(&it, c, argc, argv, goal_options);
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
				return cli_usage(c, "a goal cannot move to another client");
			a->client = v;
			break;
		case O_DOMAIN: a->domain = v; break;
		case O_DESCRIPTION: a->description = v; break;
		case O_STATUS: a->status = v; break;
		case O_REVIEW: a->review_date = v; break;
		}
	}
	if (edit && a->id == NULL)
		return cli_usage(c, "which goal? give its id");
	if (!edit && (a->client == NULL || a->domain == NULL || a->description == NULL ||
			*a->description == '\0'))
		return cli_usage(c, "a goal needs --client, --domain and --description");
	if ((ex = rec_check_enum(c, "--status", a->status, goal_statuses, false)) != 0 ||
	    (ex = rec_check_date(c, "--review-date", a->review_date, edit)) != 0)
		return ex;
	if (a->domain != NULL) {
		json_t *known;
		if ((ex = cli_zrm_domains(c, &known)) != 0)
			return ex;
		ex = rec_check_domain(c, known, "--domain", a->domain);
		json_decref(known);
	}
	return ex;
}

static json_t *goal_fields(const goal_args *a, const char *client, bool edit)
{
	json_t *f = json_object();
	if (client != NULL)
		json_object_set_new(f, "client", json_string(client));
	rec_set_str(f, "domain", a->domain, edit);
	rec_set_str(f, "description", a->description, edit);
	rec_set_str(f, "status", a->status != NULL ? a->status : (edit ? NULL : "open"), edit);
	rec_set_str(f, "review_date", a->review_date, edit);
	return f;
}

int cmd_goal_set(cli *c, int argc, char **argv)
{
	goal_args a;
	int ex = parse_goal_args(c, argc, argv, false, &a);
	if (ex == 0)
		ex = cli_open_store(c);
	if (ex == 0) {
		json_t *f = goal_fields(&a, a.client, false), *rec = NULL;
		ex = rec_create(c, "goal", f, &rec);
		json_decref(f);
		if (ex == 0)
			rec_report(c, "added", "goal", rec, "");
		json_decref(rec);
	}
	return ex < 0 ? 0 : ex;
}

int cmd_goal_edit(cli *c, int argc, char **argv)
{
	goal_args a;
	int ex = parse_goal_args(c, argc, argv, true, &a);
	if (ex != 0)
		return ex < 0 ? 0 : ex;
	json_t *f = goal_fields(&a, NULL, true), *rec = NULL;
	if (json_object_size(f) == 0)
		ex = cli_usage(c, "nothing to change: give at least one option");
	if (ex == 0)
		ex = cli_open_store(c);
	if (ex == 0)
		ex = rec_update(c, "goal", a.id, f, &rec);
	if (ex == 0)
		rec_report(c, "updated", "goal", rec, a.id);
	json_decref(f);
	json_decref(rec);
	return ex;
}

int cmd_goal_list(cli *c, int argc, char **argv)
{
	const char *client;
	json_t *list = NULL;
	int ex = rec_list_args(c, argc, argv, false, &client, NULL);
	if (ex == 0)
		ex = rec_list_kind(c, "goal", client, false, &list);
	if (ex != 0)
		return ex < 0 ? 0 : ex;
	if (c->json) {
		cli_print_json(list);
	} else if (json_array_size(list) == 0) {
		puts("no goals");
	} else {
		size_t i;
		const json_t *r;
		printf("%-8s  %-8s  %-24s  %-8s  %-10s  %s\n", "ID", "CLIENT", "DOMAIN", "STATUS",
			"REVIEW", "DESCRIPTION");
		json_array_foreach(list, i, r) {
			char id[16], cid[16];
			const char *d = cli_str(r, "domain"), *st = cli_str(r, "status"),
				*rv = cli_str(r, "review_date");
			printf("%-8s  %-8s  %-24s  %-8s  %-10s  ", cli_short_id(cli_str(r, "id"), id),
				cli_short_id(cli_str(r, "client"), cid), d ? d : "-", st ? st : "-",
				rv ? rv : "-");
			cli_print_cut(cli_str(r, "description"), 40, false);
			fputc('\n', stdout);
		}
	}
	json_decref(list);
	return 0;
}

int cmd_goal_show(cli *c, int argc, char **argv)
{
	const char *id;
	int ex = rec_one_id(c, argc, argv, &id);
	if (ex != 0)
		return ex < 0 ? 0 : ex;
	return rec_show(c, "goal", id);
}

