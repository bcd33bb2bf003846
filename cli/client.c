/*
 * client.c - `veld client add|list|show|edit|erase`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *const care_statuses[] = {"beschermd_wonen", "beschermd_thuis", "time_out", NULL};

static const struct option client_options[] = {
	{"name", required_argument, NULL, O_NAME},
	{"initials", required_argument, NULL, O_INITIALS},
	{"birth-date", required_argument, NULL, O_BIRTH},
	{"address", required_argument, NULL, O_ADDRESS},
	{"phone", required_argument, NULL, O_PHONE},
	{"care-status", required_argument, NULL, O_CARE_STATUS},
	{"care-active", required_argument, NULL, O_CARE_ACTIVE},
	{"care-end", required_argument, NULL, O_CARE_END},
	{"housing-corporation", required_argument, NULL, O_HOUSING_CORP},
	{"tenancy", required_argument, NULL, O_TENANCY},
	{"support-clause", required_argument, NULL, O_SUPPORT},
	{"contact-person", required_argument, NULL, O_CONTACT},
	{"team", required_argument, NULL, O_TEAM},
	{NULL, 0, NULL, 0}
};

typedef struct client_args {
	const char *id;
	const char *name, *initials, *birth_date, *address, *phone, *care_status;
	const char *care_active, *care_end, *corporation, *tenancy, *support_clause;
	const char *contact_person, *team;
} client_args;

/* Returns 0, -1 after --help, or an exit code. */
static int parse_client_args(cli *c, int argc, char **argv, bool edit, client_args *a)
{
	cli_opts it;
	int o;
	memset(a, 0, sizeof *a);
	cli_opts_begin(&it, c, argc, argv, client_options);
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
		case O_NAME: a->name = v; break;
		case O_INITIALS: a->initials = v; break;
		case O_BIRTH: a->birth_date = v; break;
		case O_ADDRESS: a->address = v; break;
		case O_PHONE: a->phone = v; break;
		case O_CARE_STATUS: a->care_status = v; break;
		case O_CARE_ACTIVE: a->care_active = v; break;
		case O_CARE_END: a->care_end = v; break;
		case O_HOUSING_CORP: a->corporation = v; break;
		case O_TENANCY: a->tenancy = v; break;
		case O_SUPPORT: a->support_clause = v; break;
		case O_CONTACT: a->contact_person = v; break;
		case O_TEAM: a->team = v; break;
		}
	}
	if (edit && a->id == NULL)
		return cli_usage(c, "which client? give its id");
	if (!edit && (a->name == NULL || *a->name == '\0'))
		return cli_usage(c, "a client needs --name");
	if (edit && a->name != NULL && *a->name == '\0')
		return cli_usage(c, "a client's name cannot be removed");
	int ex;
	if ((ex = rec_check_date(c, "--birth-date", a->birth_date, edit)) != 0 ||
	    (ex = rec_check_enum(c, "--care-status", a->care_status, care_statuses, edit)) != 0 ||
	    (ex = rec_check_yes_no(c, "--care-active", a->care_active, edit)) != 0 ||
	    (ex = rec_check_date(c, "--care-end", a->care_end, edit)) != 0 ||
	    (ex = rec_check_yes_no(c, "--support-clause", a->support_clause, edit)) != 0)
		return ex;
	return 0;
}

/* The fields JSON for an add or an edit; `old` is the current record when
 * editing, so that care_decision and housing keep untouched sub-fields. */
static json_t *client_fields(const client_args *a, const json_t *old, bool edit)
{
	json_t *f = json_object();
	rec_set_str(f, "name", a->name, edit);
	rec_set_str(f, "initials", a->initials, edit);
	rec_set_str(f, "birth_date", a->birth_date, edit);
	rec_set_str(f, "address", a->address, edit);
	rec_set_str(f, "phone", a->phone, edit);
	rec_set_str(f, "care_status", a->care_status, edit);
	rec_set_str(f, "contact_person", a->contact_person, edit);
	rec_set_str(f, "team", a->team, edit);
	if (a->care_active != NULL || a->care_end != NULL) {
		json_t *cd = rec_sub_object(old, "care_decision");
		rec_merge_bool(cd, "active", a->care_active);
		rec_merge_str(cd, "end_date", a->care_end);
		json_object_set_new(f, "care_decision", cd);
	}
	if (a->corporation != NULL || a->tenancy != NULL || a->support_clause != NULL) {
		json_t *h = rec_sub_object(old, "housing");
		rec_merge_str(h, "corporation", a->corporation);
		rec_merge_str(h, "tenancy", a->tenancy);
		rec_merge_bool(h, "support_clause", a->support_clause);
		json_object_set_new(f, "housing", h);
	}
	return f;
}

int cmd_client_add(cli *c, int argc, char **argv)
{
	client_args a;
	int ex = parse_client_args(c, argc, argv, false, &a);
	if (ex != 0)
		return ex < 0 ? 0 : ex;
	if ((ex = cli_open_store(c)) != 0)
		return ex;
	json_t *fields = client_fields(&a, NULL, false), *rec = NULL;
	ex = rec_create(c, "client", fields, &rec);
	json_decref(fields);
	if (ex == 0)
		rec_report(c, "added", "client", rec, "");
	json_decref(rec);
	return ex;
}

int cmd_client_edit(cli *c, int argc, char **argv)
{
	client_args a;
	int ex = parse_client_args(c, argc, argv, true, &a);
	if (ex != 0)
		return ex < 0 ? 0 : ex;
	json_t *probe = client_fields(&a, NULL, true);
	bool nothing = json_object_size(probe) == 0;
	json_decref(probe);
	if (nothing)
		return cli_usage(c, "nothing to change: give at least one field option");
	if ((ex = cli_open_store(c)) != 0)
		return ex;
	/* Read first only when a sub-object is merged. */
	json_t *old = NULL, *fields, *rec = NULL;
	bool merge = a.care_active || a.care_end || a.corporation || a.tenancy || a.support_clause;
	if (merge && (ex = rec_get(c, "client", a.id, &old)) != 0)
		return ex;
	fields = client_fields(&a, old, true);
	ex = rec_update(c, "client", a.id, fields, &rec);
	json_decref(fields);
	json_decref(old);
	if (ex == 0)
		rec_report(c, "updated", "client", rec, a.id);
	json_decref(rec);
	return ex;
}

int cmd_client_list(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"query", required_argument, NULL, O_QUERY},
		{NULL, 0, NULL, 0}
	};
	const char *query = NULL;
	cli_opts it;
	int o;
	cli_opts_begin(&it, c, argc, argv, opts);
	while ((o = cli_opts_next(&it)) != -1) {
		if (o == CLI_OPT_HELP)
			return 0;
		if (o == CLI_OPT_ERROR)
			return CLI_EXIT_USAGE;
		if (o == CLI_OPT_ARG)
			return cli_usage(c, "unexpected argument");
		if (o == O_QUERY)
			query = it.optarg;
	}
	int ex = cli_open_store(c);
	if (ex != 0)
		return ex;
	json_t *filter = json_object(), *list = NULL;
	if (query != NULL)
		json_object_set_new(filter, "query", json_string(query));
	ex = rec_list(c, "client", filter, &list);
	json_decref(filter);
	if (ex != 0)
		return ex;
	if (c->json) {
		cli_print_json(list);
	} else if (json_array_size(list) == 0) {
		puts("no clients");
	} else {
		size_t i;
		const json_t *r;
		printf("%-8s  %-28s  %-16s  %s\n", "ID", "NAME", "CARE STATUS", "CONTACT");
		json_array_foreach(list, i, r) {
			char id[16];
			const char *st = cli_str(r, "care_status"), *cp = cli_str(r, "contact_person");
			printf("%-8s  ", cli_short_id(cli_str(r, "id"), id));
			cli_print_cut(cli_str(r, "name"), 28, true);
			printf("  %-16s  ", st != NULL ? st : "-");
			cli_print_cut(cp != NULL ? cp : "-", 24, false);
			fputc('\n', stdout);
		}
	}
	json_decref(list);
	return 0;
}

int cmd_client_show(cli *c, int argc, char **argv)
{
	const char *id;
	int ex = rec_one_id(c, argc, argv, &id);
	if (ex != 0)
		return ex < 0 ? 0 : ex;
	return rec_show(c, "client", id);
}

int cmd_client_erase(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"yes", no_argument, NULL, O_YES},
		{NULL, 0, NULL, 0}
	};
	const char *id = NULL;
	bool yes = false;
	cli_opts it;
	int o;
	cli_opts_begin(&it, c, argc, argv, opts);
	while ((o = cli_opts_next(&it)) != -1) {
		if (o == CLI_OPT_HELP)
			return 0;
		if (o == CLI_OPT_ERROR)
			return CLI_EXIT_USAGE;
		if (o == O_YES) {
			yes = true;
		} else if (o == CLI_OPT_ARG) {
			if (id != NULL)
				return cli_usage(c, "too many arguments");
			id = it.optarg;
		}
	}
	if (id == NULL)
		return cli_usage(c, "which client? give its id");
	if (!yes)
		return cli_usage(c, "erasing a client destroys its data key and cannot be undone; "
			"add --yes to confirm");
	int ex = cli_open_store(c);
	if (ex != 0)
		return ex;
	int rc = veld_client_erase(c->store, id, c->purpose);
	if (rc != VELD_OK)
		return cli_api_error(rc);
	if (c->json) {
		json_t *r = json_pack("{s:s, s:b}", "id", id, "erased", 1);
		cli_print_json(r);
		json_decref(r);
	} else {
		printf("erased client %s\n", id);
	}
	return 0;
}

