/*
 * records.c - the record commands: client, visit, note, goal, signal.
 *
 * Each command parses its options, checks their values, opens the store
 * (only then: a usage error never asks for a passphrase), builds the fields
 * as a JSON object and hands it to the API. Every JSON value here is owned
 * by exactly one variable and released before the command returns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *const care_statuses[] = {"beschermd_wonen", "beschermd_thuis", "time_out", NULL};
static const char *const visit_kinds[] = {"home_visit", "phone", "no_show", "outreach", NULL};
static const char *const goal_statuses[] = {"open", "achieved", "stopped", NULL};
static const char *const signal_kinds[] = {"rent_arrears", "neighbour_complaints", "relapse",
	"missed_visits", "time_out", "other", NULL};
static const char *const severities[] = {"low", "medium", "high", "critical", NULL};

/* Timestamps a record may carry, best first, for the date column. */
static const char *const visit_date_keys[] = {"started", "planned", "ended", "created_at", "created", NULL};
static const char *const note_date_keys[] = {"created_at", "created", "at", "written_at", NULL};
static const char *const signal_date_keys[] = {"raised_at", "created_at", "created", "at", NULL};

/* Most characters of a note shown in a list. */
#define NOTE_PREVIEW 60
/* Most bytes of note text read from stdin. */
#define NOTE_TEXT_MAX (1024 * 1024)

/* ---- calling the API ----------------------------------------------------- */

/* Take ownership of the API's string, parse it, free it. */
static int take_json(int rc, char *text, json_t **out)
{
	if (rc != VELD_OK) {
		veld_free(text);
		return cli_api_error(rc);
	}
	if (out == NULL) {
		veld_free(text);
		return 0;
	}
	*out = cli_parse(text);
	veld_free(text);
	return *out != NULL ? 0 : CLI_EXIT_FAIL;
}

static char *dump(const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (s == NULL)
		cli_fail(CLI_EXIT_FAIL, "out of memory");
	return s;
}

static int api_create(cli *c, const char *kind, const json_t *fields, json_t **out)
{
	char *in = dump(fields), *text = NULL;
	if (in == NULL)
		return CLI_EXIT_FAIL;
	int rc = veld_record_create(c->store, kind, in, c->purpose, &text);
	free(in);
	return take_json(rc, text, out);
}

static int api_update(cli *c, const char *kind, const char *id, const json_t *fields,
	json_t **out)
{
	char *in = dump(fields), *text = NULL;
	if (in == NULL)
		return CLI_EXIT_FAIL;
	int rc = veld_record_update(c->store, kind, id, in, c->purpose, &text);
	free(in);
	return take_json(rc, text, out);
}

static int api_get(cli *c, const char *kind, const char *id, json_t **out)
{
	char *text = NULL;
	int rc = veld_record_get(c->store, kind, id, c->purpose, &text);
	return take_json(rc, text, out);
}

static int api_list(cli *c, const char *kind, const json_t *filter, json_t **out)
{
	char *in = NULL, *text = NULL;
	if (filter != NULL && json_object_size(filter) > 0 && (in = dump(filter)) == NULL)
		return CLI_EXIT_FAIL;
	int rc = veld_record_list(c->store, kind, in, c->purpose, &text);
	free(in);
	return take_json(rc, text, out);
}

/* The full id of a record named by a unique prefix. */
static int resolve_id(cli *c, const char *kind, const char *prefix, char **full)
{
	json_t *rec = NULL;
	int ex = api_get(c, kind, prefix, &rec);
	if (ex != 0)
		return ex;
	const char *id = cli_str(rec, "id");
	*full = strdup(id != NULL ? id : prefix);
	json_decref(rec);
	return *full != NULL ? 0 : cli_fail(CLI_EXIT_FAIL, "out of memory");
}

/* A filter {"client": <full id>} (or an empty one) for list commands. */
static int client_filter(cli *c, const char *client, json_t *filter)
{
	if (client == NULL)
		return 0;
	char *full = NULL;
	int ex = resolve_id(c, "client", client, &full);
	if (ex != 0)
		return ex;
	json_object_set_new(filter, "client", json_string(full));
	free(full);
	return 0;
}

/* Print what a create or update returned: the record with --json, else a
 * line naming it. */
static void report_written(cli *c, const char *what, const char *kind, const json_t *rec,
	const char *fallback_id)
{
	if (c->json) {
		cli_print_json(rec);
		return;
	}
	const char *id = cli_str(rec, "id");
	printf("%s %s %s\n", what, kind, id != NULL ? id : fallback_id);
}

static int show_record(cli *c, const char *kind, const char *id)
{
	json_t *rec = NULL;
	int ex = cli_open_store(c);
	if (ex == 0)
		ex = api_get(c, kind, id, &rec);
	if (ex != 0)
		return ex;
	if (c->json) {
		cli_print_json(rec);
		json_decref(rec);
		return 0;
	}
	/* Fields in conflict are marked with every competing value. */
	char *text = NULL;
	json_t *conflicts = NULL;
	int rc = veld_conflicts_list(c->store, c->purpose, &text);
	if (rc == VELD_OK)
		conflicts = cli_parse(text);
	veld_free(text);
	cli_print_record(kind, rec, conflicts);
	json_decref(conflicts);
	json_decref(rec);
	return 0;
}

/* Common parsing of `<noun> show ID` and similar one-id commands. */
static int one_id_command(cli *c, int argc, char **argv, const char **id)
{
	cli_opts it;
	int o;
	*id = NULL;
	cli_opts_begin(&it, c, argc, argv, NULL);
	while ((o = cli_opts_next(&it)) != -1) {
		if (o == CLI_OPT_HELP)
			return -1;
		if (o == CLI_OPT_ERROR)
			return CLI_EXIT_USAGE;
		if (*id != NULL)
			return cli_usage(c, "too many arguments");
		*id = it.optarg;
	}
	if (*id == NULL)
		return cli_usage(c, "which record? give its id (or a prefix of 4+ characters)");
	return 0;
}

/* Put a string option into an object: NULL leaves the field alone, "" on
 * an edit removes it (JSON null), "" on an add is ignored. */
static void set_str(json_t *obj, const char *key, const char *val, bool edit)
{
	if (val == NULL)
		return;
	if (*val == '\0') {
		if (edit)
			json_object_set_new(obj, key, json_null());
		return;
	}
	json_object_set_new(obj, key, json_string(val));
}

/* The same for a field of a sub-object that is merged: "" deletes it. */
static void merge_str(json_t *obj, const char *key, const char *val)
{
	if (val == NULL)
		return;
	if (*val == '\0')
		json_object_del(obj, key);
	else
		json_object_set_new(obj, key, json_string(val));
}

static void merge_bool(json_t *obj, const char *key, const char *val)
{
	if (val == NULL)
		return;
	if (*val == '\0')
		json_object_del(obj, key);
	else
		json_object_set_new(obj, key, json_boolean(cli_yes_no(val) == 1));
}

/* The object `key` of an existing record, copied, or a new empty one. */
static json_t *sub_object(const json_t *rec, const char *key)
{
	const json_t *old = rec != NULL ? json_object_get(rec, key) : NULL;
	return json_is_object(old) ? json_deep_copy(old) : json_object();
}

static int check_enum(cli *c, const char *opt, const char *val, const char *const *allowed,
	bool edit)
{
	char buf[256];
	if (val == NULL || (edit && *val == '\0') || cli_in_list(val, allowed))
		return 0;
	return cli_usage(c, "%s must be one of: %s", opt, cli_join(allowed, buf, sizeof buf));
}

static int check_date(cli *c, const char *opt, const char *val, bool edit)
{
	if (val == NULL || (edit && *val == '\0') || cli_valid_date(val))
		return 0;
	return cli_usage(c, "%s needs a date as YYYY-MM-DD", opt);
}

static int check_yes_no(cli *c, const char *opt, const char *val, bool edit)
{
	if (val == NULL || (edit && *val == '\0') || cli_yes_no(val) >= 0)
		return 0;
	return cli_usage(c, "%s must be yes or no", opt);
}

/* A time option: "now" becomes the current UTC time. The result is kept in
 * `buf`; *out points at it (or stays NULL when the option was not given). */
static int check_time(cli *c, const char *opt, const char *val, char *buf, size_t size,
	const char **out, bool edit)
{
	if (val == NULL)
		return 0;
	if (edit && *val == '\0') {
		*out = "";
		return 0;
	}
	*out = cli_time_arg(val, buf, size);
	if (*out == NULL)
		return cli_usage(c, "%s needs a time like 2026-11-22T10:00 (seconds and zone "
			"optional) or `now`", opt);
	return 0;
}

/* ---- client -------------------------------------------------------------- */

enum {
	O_NAME = 0x100, O_INITIALS, O_BIRTH, O_ADDRESS, O_PHONE, O_CARE_STATUS, O_CARE_ACTIVE,
	O_CARE_END, O_HOUSING_CORP, O_TENANCY, O_SUPPORT, O_CONTACT, O_TEAM, O_QUERY, O_YES,
	O_CLIENT, O_KIND, O_PLANNED, O_STARTED, O_ENDED, O_DOMAINS, O_SCORE, O_ACTIONS,
	O_VISIT, O_TEXT, O_TAGS, O_DOMAIN, O_DESCRIPTION, O_STATUS, O_REVIEW, O_SEVERITY,
	O_FOLLOW_UP, O_OPEN
};

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
	if ((ex = check_date(c, "--birth-date", a->birth_date, edit)) != 0 ||
	    (ex = check_enum(c, "--care-status", a->care_status, care_statuses, edit)) != 0 ||
	    (ex = check_yes_no(c, "--care-active", a->care_active, edit)) != 0 ||
	    (ex = check_date(c, "--care-end", a->care_end, edit)) != 0 ||
	    (ex = check_yes_no(c, "--support-clause", a->support_clause, edit)) != 0)
		return ex;
	return 0;
}

/* The fields JSON for an add or an edit; `old` is the current record when
 * editing, so that care_decision and housing keep untouched sub-fields. */
static json_t *client_fields(const client_args *a, const json_t *old, bool edit)
{
	json_t *f = json_object();
	set_str(f, "name", a->name, edit);
	set_str(f, "initials", a->initials, edit);
	set_str(f, "birth_date", a->birth_date, edit);
	set_str(f, "address", a->address, edit);
	set_str(f, "phone", a->phone, edit);
	set_str(f, "care_status", a->care_status, edit);
	set_str(f, "contact_person", a->contact_person, edit);
	set_str(f, "team", a->team, edit);
	if (a->care_active != NULL || a->care_end != NULL) {
		json_t *cd = sub_object(old, "care_decision");
		merge_bool(cd, "active", a->care_active);
		merge_str(cd, "end_date", a->care_end);
		json_object_set_new(f, "care_decision", cd);
	}
	if (a->corporation != NULL || a->tenancy != NULL || a->support_clause != NULL) {
		json_t *h = sub_object(old, "housing");
		merge_str(h, "corporation", a->corporation);
		merge_str(h, "tenancy", a->tenancy);
		merge_bool(h, "support_clause", a->support_clause);
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
	ex = api_create(c, "client", fields, &rec);
	json_decref(fields);
	if (ex == 0)
		report_written(c, "added", "client", rec, "");
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
	if (merge && (ex = api_get(c, "client", a.id, &old)) != 0)
		return ex;
	fields = client_fields(&a, old, true);
	ex = api_update(c, "client", a.id, fields, &rec);
	json_decref(fields);
	json_decref(old);
	if (ex == 0)
		report_written(c, "updated", "client", rec, a.id);
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
	ex = api_list(c, "client", filter, &list);
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
	int ex = one_id_command(c, argc, argv, &id);
	if (ex != 0)
		return ex < 0 ? 0 : ex;
	return show_record(c, "client", id);
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

/* ---- visit --------------------------------------------------------------- */

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

static int check_domain(cli *c, const json_t *known, const char *opt, const char *d)
{
	size_t i;
	const json_t *e;
	if (known == NULL)
		return 0;
	json_array_foreach(known, i, e)
		if (strcmp(json_string_value(e), d) == 0)
			return 0;
	cli_usage(c, "%s: unknown life domain (see `veld domains`)", opt);
	return CLI_EXIT_USAGE;
}

/* --score DOMAIN=N: N 1..5; on an edit DOMAIN= removes the score. */
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
	int ex = check_domain(c, known, "--score", domain);
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
	if ((ex = check_enum(c, "--kind", a->kind, visit_kinds, false)) != 0 ||
	    (ex = check_time(c, "--planned", a->planned, a->planned_buf, sizeof a->planned_buf,
			&a->planned, edit)) != 0 ||
	    (ex = check_time(c, "--started", a->started, a->started_buf, sizeof a->started_buf,
			&a->started, edit)) != 0 ||
	    (ex = check_time(c, "--ended", a->ended, a->ended_buf, sizeof a->ended_buf,
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
			ex = check_domain(c, known, "--domains", json_string_value(d));
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
	set_str(f, "kind", a->kind, edit);
	set_str(f, "planned", a->planned, edit);
	set_str(f, "started", a->started, edit);
	set_str(f, "ended", a->ended, edit);
	set_str(f, "actions", a->actions, edit);
	if (a->domain_list != NULL)
		json_object_set(f, "domains", a->domain_list);
	else if (edit && a->domains != NULL)
		json_object_set_new(f, "domains", json_null());
	if (a->scores != NULL) {
		/* merge into the scores the visit has: other domains are kept */
		json_t *s = sub_object(old, "scores");
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
	char *client = NULL;
	if (ex == 0)
		ex = resolve_id(c, "client", a.client, &client);
	if (ex == 0) {
		json_t *fields = visit_fields(&a, client, NULL, false), *rec = NULL;
		ex = api_create(c, "visit", fields, &rec);
		json_decref(fields);
		if (ex == 0)
			report_written(c, "added", "visit", rec, "");
		json_decref(rec);
	}
	free(client);
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
		ex = api_get(c, "visit", a.id, &old);
	if (ex == 0) {
		json_t *fields = visit_fields(&a, NULL, old, true), *rec = NULL;
		ex = api_update(c, "visit", a.id, fields, &rec);
		json_decref(fields);
		if (ex == 0)
			report_written(c, "updated", "visit", rec, a.id);
		json_decref(rec);
	}
	json_decref(old);
	visit_args_free(&a);
	return ex < 0 ? 0 : ex;
}

/* `<noun> list [--client ID] [--open]`: the options the list commands share. */
static int parse_list_args(cli *c, int argc, char **argv, bool allow_open,
	const char **client, bool *open)
{
	static const struct option opts[] = {
		{"client", required_argument, NULL, O_CLIENT},
		{"open", no_argument, NULL, O_OPEN},
		{NULL, 0, NULL, 0}
	};
	cli_opts it;
	int o;
	*client = NULL;
	if (open != NULL)
		*open = false;
	cli_opts_begin(&it, c, argc, argv, opts);
	while ((o = cli_opts_next(&it)) != -1) {
		if (o == CLI_OPT_HELP)
			return -1;
		if (o == CLI_OPT_ERROR)
			return CLI_EXIT_USAGE;
		if (o == CLI_OPT_ARG)
			return cli_usage(c, "unexpected argument");
		if (o == O_CLIENT)
			*client = it.optarg;
		if (o == O_OPEN) {
			if (!allow_open)
				return cli_usage(c, "unknown option '--open'");
			*open = true;
		}
	}
	return 0;
}

/* Open the store and list one kind, filtered. */
static int list_kind(cli *c, const char *kind, const char *client, bool open, json_t **list)
{
	int ex = cli_open_store(c);
	if (ex != 0)
		return ex;
	json_t *filter = json_object();
	ex = client_filter(c, client, filter);
	if (ex == 0 && open)
		json_object_set_new(filter, "status", json_string("open"));
	if (ex == 0)
		ex = api_list(c, kind, filter, list);
	json_decref(filter);
	return ex;
}

int cmd_visit_list(cli *c, int argc, char **argv)
{
	const char *client;
	json_t *list = NULL;
	int ex = parse_list_args(c, argc, argv, false, &client, NULL);
	if (ex == 0)
		ex = list_kind(c, "visit", client, false, &list);
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
	int ex = one_id_command(c, argc, argv, &id);
	if (ex != 0)
		return ex < 0 ? 0 : ex;
	return show_record(c, "visit", id);
}

/* ---- note ---------------------------------------------------------------- */

/* --text -: the text comes from standard input. */
static int read_text(cli *c, const char *arg, char **out)
{
	*out = NULL;
	if (strcmp(arg, "-") != 0) {
		if (*arg == '\0')
			return cli_usage(c, "--text is empty");
		*out = strdup(arg);
		return *out != NULL ? 0 : cli_fail(CLI_EXIT_FAIL, "out of memory");
	}
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	if (buf == NULL)
		return cli_fail(CLI_EXIT_FAIL, "out of memory");
	size_t n;
	while ((n = fread(buf + len, 1, cap - len - 1, stdin)) > 0) {
		len += n;
		if (len > NOTE_TEXT_MAX) {
			free(buf);
			return cli_fail(CLI_EXIT_USAGE, "note text on standard input is longer "
				"than %d bytes", NOTE_TEXT_MAX);
		}
		if (cap - len - 1 == 0) {
			char *nb = realloc(buf, cap * 2);
			if (nb == NULL) {
				free(buf);
				return cli_fail(CLI_EXIT_FAIL, "out of memory");
			}
			buf = nb;
			cap *= 2;
		}
	}
	if (ferror(stdin)) {
		free(buf);
		return cli_fail(CLI_EXIT_FAIL, "cannot read the note text from standard input");
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	buf[len] = '\0';
	if (len == 0) {
		free(buf);
		return cli_usage(c, "the note text on standard input is empty");
	}
	*out = buf;
	return 0;
}

static const struct option note_options[] = {
	{"client", required_argument, NULL, O_CLIENT},
	{"visit", required_argument, NULL, O_VISIT},
	{"text", required_argument, NULL, O_TEXT},
	{"tags", required_argument, NULL, O_TAGS},
	{NULL, 0, NULL, 0}
};

typedef struct note_args {
	const char *id, *client, *visit, *text_arg, *tags_arg;
	char *text;
	json_t *tags;
} note_args;

static int parse_note_args(cli *c, int argc, char **argv, bool amend, note_args *a)
{
	cli_opts it;
	int o;
	memset(a, 0, sizeof *a);
	cli_opts_begin(&it, c, argc, argv, note_options);
	while ((o = cli_opts_next(&it)) != -1) {
		const char *v = it.optarg;
		switch (o) {
		case CLI_OPT_HELP: return -1;
		case CLI_OPT_ERROR: return CLI_EXIT_USAGE;
		case CLI_OPT_ARG:
			if (!amend || a->id != NULL)
				return cli_usage(c, "unexpected argument");
			a->id = v;
			break;
		case O_CLIENT:
		case O_VISIT:
			if (amend)
				return cli_usage(c, "an amendment belongs to the note it amends; "
					"--client and --visit do not apply");
			if (o == O_CLIENT)
				a->client = v;
			else
				a->visit = v;
			break;
		case O_TEXT: a->text_arg = v; break;
		case O_TAGS: a->tags_arg = v; break;
		}
	}
	if (amend && a->id == NULL)
		return cli_usage(c, "which note? give the id of the note to amend");
	if (!amend && a->client == NULL)
		return cli_usage(c, "a note needs --client");
	if (a->text_arg == NULL)
		return cli_usage(c, "a note needs --text (or --text - to read standard input)");
	if (a->tags_arg != NULL && (a->tags = cli_split_list(a->tags_arg)) == NULL)
		return cli_usage(c, "--tags needs a comma-separated list");
	return read_text(c, a->text_arg, &a->text);
}

static void note_args_free(note_args *a)
{
	if (a->text != NULL) {
		memset(a->text, 0, strlen(a->text));
		free(a->text);
	}
	json_decref(a->tags);
	a->text = NULL;
	a->tags = NULL;
}

static int create_note(cli *c, const char *client, const char *visit, const char *amends,
	const note_args *a)
{
	json_t *f = json_object(), *rec = NULL;
	json_object_set_new(f, "client", json_string(client));
	if (visit != NULL)
		json_object_set_new(f, "visit", json_string(visit));
	if (amends != NULL)
		json_object_set_new(f, "amends", json_string(amends));
	json_object_set_new(f, "text", json_string(a->text));
	if (a->tags != NULL)
		json_object_set(f, "tags", a->tags);
	int ex = api_create(c, "note", f, &rec);
	json_decref(f);
	if (ex == 0)
		report_written(c, "added", "note", rec, "");
	json_decref(rec);
	return ex;
}

int cmd_note_add(cli *c, int argc, char **argv)
{
	note_args a;
	char *client = NULL, *visit = NULL;
	int ex = parse_note_args(c, argc, argv, false, &a);
	if (ex == 0)
		ex = cli_open_store(c);
	if (ex == 0)
		ex = resolve_id(c, "client", a.client, &client);
	if (ex == 0 && a.visit != NULL)
		ex = resolve_id(c, "visit", a.visit, &visit);
	if (ex == 0)
		ex = create_note(c, client, visit, NULL, &a);
	free(client);
	free(visit);
	note_args_free(&a);
	return ex < 0 ? 0 : ex;
}

int cmd_note_amend(cli *c, int argc, char **argv)
{
	note_args a;
	json_t *old = NULL;
	int ex = parse_note_args(c, argc, argv, true, &a);
	if (ex == 0)
		ex = cli_open_store(c);
	if (ex == 0)
		ex = api_get(c, "note", a.id, &old);
	if (ex == 0) {
		const char *client = cli_str(old, "client"), *id = cli_str(old, "id");
		if (client == NULL || id == NULL)
			ex = cli_fail(CLI_EXIT_FAIL, "the note to amend has no client");
		else
			ex = create_note(c, client, NULL, id, &a);
	}
	json_decref(old);
	note_args_free(&a);
	return ex < 0 ? 0 : ex;
}

int cmd_note_list(cli *c, int argc, char **argv)
{
	const char *client;
	json_t *list = NULL;
	int ex = parse_list_args(c, argc, argv, false, &client, NULL);
	if (ex == 0)
		ex = list_kind(c, "note", client, false, &list);
	if (ex != 0)
		return ex < 0 ? 0 : ex;
	if (c->json) {
		cli_print_json(list);
		json_decref(list);
		return 0;
	}
	if (json_array_size(list) == 0) {
		puts("no notes");
		json_decref(list);
		return 0;
	}
	/* Which notes were amended by a later one. */
	json_t *amended = json_object();
	size_t i;
	const json_t *r;
	json_array_foreach(list, i, r) {
		const char *am = cli_str(r, "amends");
		if (am != NULL)
			json_object_set_new(amended, am, json_true());
	}
	printf("%-8s  %-10s  %-8s  %-13s  %s\n", "ID", "DATE", "CLIENT", "", "TEXT");
	json_array_foreach(list, i, r) {
		char id[16], cid[16], date[32], mark[32] = "";
		const char *nid = cli_str(r, "id"), *am = cli_str(r, "amends");
		if (nid != NULL && json_object_get(amended, nid) != NULL)
			snprintf(mark, sizeof mark, "[amended]");
		else if (am != NULL)
			snprintf(mark, sizeof mark, "amends %s", cli_short_id(am, cid));
		printf("%-8s  %-10s  %-8s  %-13s  ", cli_short_id(nid, id),
			cli_record_date(r, note_date_keys, date),
			cli_short_id(cli_str(r, "client"), cid), mark);
		cli_print_cut(cli_str(r, "text"), NOTE_PREVIEW, false);
		fputc('\n', stdout);
	}
	json_decref(amended);
	json_decref(list);
	return 0;
}

int cmd_note_show(cli *c, int argc, char **argv)
{
	const char *id;
	int ex = one_id_command(c, argc, argv, &id);
	if (ex != 0)
		return ex < 0 ? 0 : ex;
	return show_record(c, "note", id);
}

/* ---- goal ---------------------------------------------------------------- */

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
	if ((ex = check_enum(c, "--status", a->status, goal_statuses, false)) != 0 ||
	    (ex = check_date(c, "--review-date", a->review_date, edit)) != 0)
		return ex;
	if (a->domain != NULL) {
		json_t *known;
		if ((ex = cli_zrm_domains(c, &known)) != 0)
			return ex;
		ex = check_domain(c, known, "--domain", a->domain);
		json_decref(known);
	}
	return ex;
}

static json_t *goal_fields(const goal_args *a, const char *client, bool edit)
{
	json_t *f = json_object();
	if (client != NULL)
		json_object_set_new(f, "client", json_string(client));
	set_str(f, "domain", a->domain, edit);
	set_str(f, "description", a->description, edit);
	set_str(f, "status", a->status != NULL ? a->status : (edit ? NULL : "open"), edit);
	set_str(f, "review_date", a->review_date, edit);
	return f;
}

int cmd_goal_set(cli *c, int argc, char **argv)
{
	goal_args a;
	char *client = NULL;
	int ex = parse_goal_args(c, argc, argv, false, &a);
	if (ex == 0)
		ex = cli_open_store(c);
	if (ex == 0)
		ex = resolve_id(c, "client", a.client, &client);
	if (ex == 0) {
		json_t *f = goal_fields(&a, client, false), *rec = NULL;
		ex = api_create(c, "goal", f, &rec);
		json_decref(f);
		if (ex == 0)
			report_written(c, "added", "goal", rec, "");
		json_decref(rec);
	}
	free(client);
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
		ex = api_update(c, "goal", a.id, f, &rec);
	if (ex == 0)
		report_written(c, "updated", "goal", rec, a.id);
	json_decref(f);
	json_decref(rec);
	return ex;
}

int cmd_goal_list(cli *c, int argc, char **argv)
{
	const char *client;
	json_t *list = NULL;
	int ex = parse_list_args(c, argc, argv, false, &client, NULL);
	if (ex == 0)
		ex = list_kind(c, "goal", client, false, &list);
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
	int ex = one_id_command(c, argc, argv, &id);
	if (ex != 0)
		return ex < 0 ? 0 : ex;
	return show_record(c, "goal", id);
}

/* ---- signal -------------------------------------------------------------- */

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
	if ((ex = check_enum(c, "--kind", kind, signal_kinds, false)) != 0 ||
	    (ex = check_enum(c, "--severity", severity, severities, false)) != 0)
		return ex;
	if ((ex = cli_open_store(c)) != 0)
		return ex;
	char *client = NULL, now[40];
	if ((ex = resolve_id(c, "client", client_arg, &client)) != 0)
		return ex;
	cli_now_utc(now, sizeof now);
	json_t *f = json_object(), *rec = NULL;
	json_object_set_new(f, "client", json_string(client));
	json_object_set_new(f, "kind", json_string(kind));
	json_object_set_new(f, "severity", json_string(severity));
	json_object_set_new(f, "status", json_string("open"));
	json_object_set_new(f, "raised_at", json_string(now));
	set_str(f, "description", description, false);
	ex = api_create(c, "signal", f, &rec);
	if (ex == 0)
		report_written(c, "raised", "signal", rec, "");
	json_decref(f);
	json_decref(rec);
	free(client);
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
	set_str(f, "follow_up", follow_up, false);
	ex = api_update(c, "signal", id, f, &rec);
	if (ex == 0)
		report_written(c, "closed", "signal", rec, id);
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
	int ex = parse_list_args(c, argc, argv, true, &client, &open);
	if (ex == 0)
		ex = list_kind(c, "signal", client, open, &list);
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
	int ex = one_id_command(c, argc, argv, &id);
	if (ex != 0)
		return ex < 0 ? 0 : ex;
	return show_record(c, "signal", id);
}
