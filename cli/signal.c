/*
 * signal.c - `veld signal raise|close|list|show`: early warnings, the thing
 * the office must see first (record.c does most of the commands).
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

static const rec_field signal_fields[] = {
	REC_FIELD("client", REC_TEXT, REC_GIVEN), REC_ONE_OF("kind", signal_kinds, REC_GIVEN | REC_STRICT),
	REC_ONE_OF("severity", severities, REC_GIVEN | REC_STRICT),
	REC_FIELD("description", REC_TEXT, 0),
};

const rec_spec cli_signal_spec = {
	signal_fields, sizeof signal_fields / sizeof signal_fields[0], "raised",
	"a signal needs --client, --kind and --severity", NULL, NULL, "open",
};

int cmd_signal_close(cli *c, const cli_line *l)
{
	const char *id = l->arg[0], *follow_up = cli_opt(l, "follow-up");
	int ex = cli_open_store(c);
	if (ex != 0)
		return ex;
	char now[40];
	cli_now_utc(now, sizeof now);
	json_t *f = json_pack("{s:s, s:s}", "status", "closed", "closed_at", now), *rec = NULL;
	if (follow_up != NULL && *follow_up != '\0')
		json_object_set_new(f, "follow_up", json_string(follow_up));
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

static void signal_row(const json_t *r, const void *payload)
{
	char id[16], cid[16], date[32];
	const char *sev = cli_str(r, "severity"), *kind = cli_str(r, "kind"),
		*st = cli_str(r, "status");
	printf("%-8s  %-8s  %-10s  %-8s  %-20s  %-6s  ", cli_short_id(cli_str(r, "id"), id),
		cli_short_id(cli_str(r, "client"), cid), cli_record_date(r, signal_date_keys, date),
		sev ? sev : "-", kind ? kind : "-", st ? st : "-");
	cli_print_cut(cli_str(r, "description"), 40, false);
	fputc('\n', stdout);
}

const rec_lister cli_signal_lister = {
	"no signals", "no open signals",
	"ID        CLIENT    DATE        SEVERITY  KIND                  STATUS  DESCRIPTION\n",
	signal_row, signal_order, NULL,
};
