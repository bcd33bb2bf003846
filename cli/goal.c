/*
 * goal.c - `veld goal set|list|show|edit`: support-plan goals per life
 * domain (record.c does the commands).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *const goal_statuses[] = {"open", "achieved", "stopped", NULL};

static const rec_field goal_fields[] = {
	REC_FIELD("client", REC_TEXT, REC_GIVEN), REC_FIELD("domain", REC_DOMAIN, REC_GIVEN | REC_STRICT),
	REC_FIELD("description", REC_TEXT, REC_FILLED),
	REC_ONE_OF("status", goal_statuses, REC_STRICT), REC_FIELD("review-date", REC_DATE, 0),
};

const rec_spec cli_goal_spec = {
	goal_fields, sizeof goal_fields / sizeof goal_fields[0], "added",
	"a goal needs --client, --domain and --description", NULL,
	"nothing to change: give at least one option", "open",
};

static void goal_row(const json_t *r, const void *payload)
{
	char id[16], cid[16];
	const char *d = cli_str(r, "domain"), *st = cli_str(r, "status"),
		*rv = cli_str(r, "review_date");
	printf("%-8s  %-8s  %-24s  %-8s  %-10s  ", cli_short_id(cli_str(r, "id"), id),
		cli_short_id(cli_str(r, "client"), cid), d ? d : "-", st ? st : "-", rv ? rv : "-");
	cli_print_cut(cli_str(r, "description"), 40, false);
	fputc('\n', stdout);
}

const rec_lister cli_goal_lister = {
	"no goals", NULL,
	"ID        CLIENT    DOMAIN                    STATUS    REVIEW      DESCRIPTION\n",
	goal_row, NULL, NULL,
};
