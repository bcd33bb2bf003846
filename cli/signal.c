/*
 * signal.c - `veld signal raise|close|list|show`: early warnings, the thing the
 * office must see first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *const signal_kinds[] = {"rent_arrears", "neighbour_complaints", "relapse",
	"missed_visits", "time_out", "other", NULL};
static const char *const severities[] = {"low", "medium", "high", "critical", NULL};

/* Timestamps a signal may carry, for the date column. */
static const char *const signal_date_keys[] = {"created", NULL};

int cmd_signal_raise(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"client", required_argument, NULL, O_CLIENT},
		{"kind", required_argument, NULL, O_KIND},
		{"severity", required_argument, NULL, O_SEVERITY},
		{"description", required_argument, NULL, O_DESCRIPTION},
		{NULL, 0, NULL, 0}
	};
	const char *client_arg = NULL, *kind = NULL, *severity = NULL, *description = NULL;
	cli_opts it;
	int o, ex;
	cli_opts_begin(&it, c, argc, argv, opts);
	while ((o = cli_opts_next(&it)) != -1) {
		switch (o) {
		case CLI_OPT_HELP: return 0;
		case CLI_OPT_ERROR: return CLI_EXIT_USAGE;
		case CLI_OPT_ARG: return cli_usage(c, "unexpected argument");
		case O_CLIENT: client_arg = it.optarg; break;
		case O_KIND: kind = it.optarg; break;
		case O_SEVERITY: severity = it.optarg; break;
		case O_DESCRIPTION: description = it.optarg; break;
		}
	}
	if (client_arg == NULL || kind == NULL || severity == NULL)
		return cli_usage(c, "a signal needs --client, --kind and --severity");
	if ((ex = rec_check_enum(c, "--kind", kind, signal_kinds, false)) != 0 ||
	    (ex = rec_check_enum(c, "--severity", severity, severities, false)) != 0)
		return ex;
	if ((ex = cli_open_store(c)) != 0)
		return ex;
	json_t *f = json_object(), *rec = NULL;
	json_object_set_new(f, "client", json_string(client_arg));
	json_object_set_new(f, "kind", json_string(kind));
	json_object_set_new(f, "severity", json_string(severity));
	json_object_set_new(f, "status", json_string("open"));
	rec_set_str(f, "description", description, false);
	ex = rec_create(c, "signal", f, &rec);
	if (ex == 0)
		rec_report(c, "raised", "signal", rec, "");
	json_decref(f);
	json_decref(rec);
	return ex;
}

int cmd_signal_close(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"follow-up", required_argument, NULL, O_FOLLOW_UP},
		{NULL, 0, NULL, 0}
	};
	const char *id = NULL, *follow_up = NULL;
	cli_opts it;
	int o;
	cli_opts_begin(&it, c, argc, argv, opts);
	while ((o = cli_opts_next(&it)) != -1) {
		switch (o) {
		case CLI_OPT_HELP: return 0;
		case CLI_OPT_ERROR: return CLI_EXIT_USAGE;
		case CLI_OPT_ARG:
			if (id != NULL)
				return cli_usage(c, "too many arguments");
			id = it.optarg;
			break;
		case O_FOLLOW_UP: follow_up = it.optarg; break;
		}
	}
	if (id == NULL)
		return cli_usage(c, "which signal? give its id");
	int ex = cli_open_store(c);
	if (ex != 0)
		return ex;
	char now[40];
	cli_now_utc(now, sizeof now);
	json_t *f = json_object(), *rec = NULL;
	json_object_set_new(f, "status", json_string("closed"));
	json_object_set_new(f, "closed_at", json_string(now));
	rec_set_str(f, "follow_up", follow_up, false);
	ex = rec_update(c, "signal", id, f, &rec);
	if (ex == 0)
		rec_report(c, "closed", "signal", rec, id);
	json_decref(f);
	json_decref(rec);
	return ex;
}

static int severity_rank(const json_t *r)
{
	const char *s = cli_str(r, "severity");
	for (int i = 0; s != NULL && severities[i] != NULL; i++)
		if (strcmp(s, severities[i]) == 0)
			return i;
	return -1;
}

/* Open first, then the most severe, then the newest. */
static int signal_order(const void *pa, const void *pb)
{
	const json_t *a = *(const json_t *const *)pa, *b = *(const json_t *const *)pb;
	const char *sa = cli_str(a, "status"), *sb = cli_str(b, "status");
	int oa = sa != NULL && strcmp(sa, "open") == 0, ob = sb != NULL && strcmp(sb, "open") == 0;
	if (oa != ob)
		return ob - oa;
	int ra = severity_rank(a), rb = severity_rank(b);
	if (ra != rb)
		return rb - ra;
	char da[32], db[32];
	return strcmp(cli_record_date(b, signal_date_keys, db), cli_record_date(a, signal_date_keys, da));
}

int cmd_signal_list(cli *c, int argc, char **argv)
{
	const char *client;
	bool open;
	json_t *list = NULL;
	int ex = rec_list_args(c, argc, argv, true, &client, &open);
	if (ex == 0)
		ex = rec_list_kind(c, "signal", client, open, &list);
	if (ex != 0)
		return ex < 0 ? 0 : ex;
	size_t n = json_array_size(list);
	if (c->json) {
		cli_print_json(list);
	} else if (n == 0) {
		puts(open ? "no open signals" : "no signals");
	} else {
		const json_t **rows = malloc(n * sizeof *rows);
		if (rows == NULL) {
			json_decref(list);
			return cli_fail(CLI_EXIT_FAIL, "out of memory");
		}
		for (size_t i = 0; i < n; i++)
			rows[i] = json_array_get(list, i);
		qsort(rows, n, sizeof *rows, signal_order);
		printf("%-8s  %-8s  %-10s  %-8s  %-20s  %-6s  %s\n", "ID", "CLIENT", "DATE",
			"SEVERITY", "KIND", "STATUS", "DESCRIPTION");
		for (size_t i = 0; i < n; i++) {
			char id[16], cid[16], date[32];
			const char *sev = cli_str(rows[i], "severity"), *kind = cli_str(rows[i], "kind"),
				*st = cli_str(rows[i], "status");
			printf("%-8s  %-8s  %-10s  %-8s  %-20s  %-6s  ",
				cli_short_id(cli_str(rows[i], "id"), id),
				cli_short_id(cli_str(rows[i], "client"), cid),
				cli_record_date(rows[i], signal_date_keys, date),
				sev ? sev : "-", kind ? kind : "-", st ? st : "-");
			cli_print_cut(cli_str(rows[i], "description"), 40, false);
			fputc('\n', stdout);
		}
		free(rows);
	}
	json_decref(list);
	return 0;
}

int cmd_signal_show(cli *c, int argc, char **argv)
{
	const char *id;
	int ex = rec_one_id(c, argc, argv, &id);
	if (ex != 0)
		return ex < 0 ? 0 : ex;
	return rec_show(c, "signal", id);
}

