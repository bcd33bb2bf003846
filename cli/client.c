/*
 * client.c - `veld client add|list|show|edit|erase`: what a client's options
 * are (record.c does the commands), and its erasure, here or everywhere.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "veld_sync.h"

static const char *const care_statuses[] = {"beschermd_wonen", "beschermd_thuis", "time_out", NULL};

/* The care decision and the housing are sub-objects: an edit of one of
 * their fields keeps the others. */
static const rec_field client_fields[] = {
	REC_FIELD("name", REC_TEXT, REC_FILLED | REC_KEEP), REC_FIELD("initials", REC_TEXT, 0),
	REC_FIELD("birth-date", REC_DATE, 0), REC_FIELD("address", REC_TEXT, 0),
	REC_FIELD("phone", REC_TEXT, 0), REC_ONE_OF("care-status", care_statuses, 0),
	REC_FIELD("contact-person", REC_TEXT, 0), REC_FIELD("team", REC_TEXT, 0),
	REC_IN("care-active", "care_decision.active", REC_YES_NO),
	REC_IN("care-end", "care_decision.end_date", REC_DATE),
	REC_IN("housing-corporation", "housing.corporation", REC_TEXT),
	REC_IN("tenancy", "housing.tenancy", REC_TEXT),
	REC_IN("support-clause", "housing.support_clause", REC_YES_NO),
};

const rec_spec cli_client_spec = {
	client_fields, sizeof client_fields / sizeof client_fields[0], "added",
	"a client needs --name", "a client's name cannot be removed",
	"nothing to change: give at least one field option", NULL,
};

static void client_row(const json_t *r, const void *payload)
{
	char id[16];
	const char *st = cli_str(r, "care_status"), *cp = cli_str(r, "contact_person");
	printf("%-8s  ", cli_short_id(cli_str(r, "id"), id));
	cli_print_cut(cli_str(r, "name"), 28, true);
	printf("  %-16s  ", st != NULL ? st : "-");
	cli_print_cut(cp != NULL ? cp : "-", 24, false);
	fputc('\n', stdout);
}

const rec_lister cli_client_lister = {
	"no clients", NULL, "ID        NAME                          CARE STATUS       CONTACT\n",
	client_row, NULL, NULL,
};

/* `veld client erase` erases a client here; `veld office erase` here, on
 * the server and so, at their next sync, on every device of its team. */
int cmd_client_erase(cli *c, const cli_line *l)
{
	veld_sync_options so;
	const char *id = l->arg[0];
	bool everywhere = l->cmd->office;
	cli_net_options(l, &so);
	if (!cli_flag(l, "yes"))
		return cli_usage(c, "%s", everywhere
			? "erasing a client everywhere destroys its data and cannot be undone; add "
			  "--yes to confirm"
			: "erasing a client destroys its data key and cannot be undone; add --yes to "
			  "confirm");
	int ex = cli_open_store(c);
	if (ex != 0)
		return ex;
	int rc = everywhere ? veld_office_erase(c->store, id, c->purpose, &so)
		: veld_client_erase(c->store, id, c->purpose);
	if (rc != VELD_OK)
		return cli_api_error(rc);
	return cli_emit(c, json_pack("{s:s, s:b}", "id", id, "erased", 1), "erased client %s%s\n",
		id, everywhere ? " here and on the server\nevery device of its team erases it at its "
		"next sync" : "");
}
