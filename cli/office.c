/*
 * office.c - `veld office ...`: the office's store and device management.
 *
 * The office has one store of its own (made with `veld office init`, in the
 * usual store directory), which reads every team's clients. Through the
 * server it invites devices, lists and revokes them, and syncs like any
 * device. Every command acts with the role "office" unless --role says
 * otherwise (cli_cmd.office), so the access log names the office.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <fcntl.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "veld_sync.h"

#define TTL_HOURS_DEFAULT 72

/* ---- init ------------------------------------------------------------------- */

static int show_office_created(cli *c, const json_t *info, const void *payload)
{
	const char *dev = cli_str(info, "device");
	printf("created an office store in %s\n", c->store_dir);
	if (dev != NULL)
		printf("device %s\n", dev);
	puts("next: veld office enroll URL SETUP_CODE (the code the server printed)");
	return 0;
}

int cmd_office_init(cli *c, const cli_line *l)
{
	char *text = NULL;
	int ex = cli_store_dir(c);
	if (ex == 0)
		ex = cli_create_store(c, l, NULL, true);
	if (ex != 0)
		return ex;
	return cli_show(c, veld_store_info(c->store, &text), &text, show_office_created, NULL);
}

/* ---- invite ------------------------------------------------------------------ */

int cmd_office_invite(cli *c, const cli_line *l)
{
	veld_sync_options so;
	const char *team = cli_opt(l, "team");
	long long hours = cli_opt(l, "ttl-hours") ? cli_num(l, "ttl-hours") : TTL_HOURS_DEFAULT;
	char *code = NULL;
	cli_net_options(l, &so);
	if (team == NULL)
		return cli_usage(c, "which team is the device for? give --team T");
	int ex = cli_open_store(c);
	if (ex != 0)
		return ex;
	int rc = veld_office_invite(c->store, team, (uint32_t)(hours * 3600), &so, &code);
	if (rc != VELD_OK)
		return cli_api_error(rc);
	cli_emit(c, json_pack("{s:s, s:s, s:I}", "team", team, "code", code, "ttl_hours",
		(json_int_t)hours), "invite for a device of team %s, single use, valid %lld hours:\n\n"
		"    %s\n\ngive it to the worker in person; on the device run:\n"
		"    veld enroll SERVER_URL CODE\n", team, hours, code);
	sodium_memzero(code, strlen(code));
	veld_free(code);
	return 0;
}

/* ---- devices, revoke -------------------------------------------------------- */

static int load_devices(cli *c, const veld_sync_options *so, json_t **list)
{
	char *text = NULL;
	*list = NULL;
	return cli_take_json(veld_office_devices(c->store, so, &text), &text, list);
}

static void device_row(const json_t *e, const void *payload)
{
	static const char *const keys_en[] = {"enrolled", NULL}, *const keys_rv[] = {"revoked", NULL};
	char id[16], en[32], rv[32];
	const char *team = cli_str(e, "team"), *role = cli_str(e, "role");
	printf("%-8s  ", cli_short_id(cli_str(e, "device"), id));
	cli_print_cut(team ? team : "-", 16, true);
	printf("  %-6s  ", role ? role : "-");
	cli_print_cut(cli_str(e, "label"), 20, true);
	printf("  %-10s  %s\n", cli_record_date(e, keys_en, en),
		cli_str(e, "revoked") ? cli_record_date(e, keys_rv, rv) : "-");
}

int cmd_office_devices(cli *c, const cli_line *l)
{
	veld_sync_options so;
	json_t *list;
	int ex;
	cli_net_options(l, &so);
	if ((ex = cli_open_store(c)) != 0 || (ex = load_devices(c, &so, &list)) != 0)
		return ex;
	return cli_table(c, list, "no devices enrolled",
		"DEVICE    TEAM              ROLE    LABEL                 ENROLLED    REVOKED\n",
		device_row, NULL);
}

/* The full id of the device a prefix names (at least 4 hex digits), from
 * the server's list, in lower case. */
static int resolve_device(cli *c, const veld_sync_options *so, const char *prefix,
	char full[33])
{
	json_t *list;
	size_t n = strlen(prefix), i, hits = 0;
	const json_t *e;
	int ex = 0;
	if (n == 32 && strspn(prefix, "0123456789abcdefABCDEF") == 32) {
		memcpy(full, prefix, 33);
	} else if (n < 4 || n > 32 || strspn(prefix, "0123456789abcdefABCDEF") != n) {
		return cli_usage(c, "DEVICE is a device id: 32 hex digits, or a unique prefix of "
			"at least 4 (see `veld office devices`)");
	} else if ((ex = load_devices(c, so, &list)) != 0) {
		return ex;
	} else {
		json_array_foreach(list, i, e) {
			const char *d = cli_str(e, "device");
			if (d != NULL && strlen(d) == 32 && strncasecmp(d, prefix, n) == 0) {
				memcpy(full, d, 33);
				hits++;
			}
		}
		json_decref(list);
		if (hits == 0)
			return cli_fail(CLI_EXIT_NOTFOUND, "no enrolled device has an id starting "
				"with %s", prefix);
		if (hits > 1)
			return cli_fail(CLI_EXIT_USAGE, "more than one device id starts with %s: give "
				"more digits", prefix);
	}
	for (char *p = full; *p; p++)
		if (*p >= 'A' && *p <= 'F')
			*p = (char)(*p - 'A' + 'a');
	return 0;
}

int cmd_office_revoke(cli *c, const cli_line *l)
{
	veld_sync_options so;
	char device[33];
	int ex;
	cli_net_options(l, &so);
	if ((ex = cli_open_store(c)) != 0 || (ex = resolve_device(c, &so, l->arg[0], device)) != 0)
		return ex;
	int rc = veld_office_revoke(c->store, device, &so);
	if (rc != VELD_OK)
		return cli_api_error(rc);
	return cli_emit(c, json_pack("{s:s, s:b}", "device", device, "revoked", 1),
		"revoked device %s\nits team's key was rotated and new client keys were pushed: the "
		"device can read nothing written from now on, and wipes itself at its next sync\n",
		device);
}

/* ---- certify a device from veld 0.1 ----------------------------------------- */

static int show_certify(cli *c, const json_t *v, const void *payload)
{
	const char *dev = cli_str(v, "device");
	(void)c;
	(void)payload;
	if (v == NULL)
		return CLI_EXIT_FAIL;
	if (json_is_true(json_object_get(v, "certified"))) {
		printf("certified device %s for team %s\n", dev, cli_str(v, "team"));
		return 0;
	}
	printf("device       %s\nteam         %s (as the server lists it)\nfingerprint  %s\n\n"
		"compare the fingerprint with what `veld fingerprint` shows on the device itself;\n"
		"if they are the same, certify it:\n"
		"    veld office certify %s --team %s --fingerprint %s\n", dev, cli_str(v, "team"),
		cli_str(v, "fingerprint"), dev, cli_str(v, "team"), cli_str(v, "fingerprint"));
	return 0;
}

int cmd_office_certify(cli *c, const cli_line *l)
{
	veld_sync_options so;
	const char *team = cli_opt(l, "team"), *fp = cli_opt(l, "fingerprint");
	char device[33], *text = NULL;
	int ex;
	cli_net_options(l, &so);
	if ((team == NULL) != (fp == NULL))
		return cli_usage(c, "give both --team and --fingerprint, or neither (to see them)");
	if ((ex = cli_open_store(c)) != 0 || (ex = resolve_device(c, &so, l->arg[0], device)) != 0)
		return ex;
	return cli_show(c, veld_office_certify(c->store, device, team, fp, &so, &text), &text,
		show_certify, NULL);
}

/* ---- export ------------------------------------------------------------ */

/* The export is the client's personal data in readable form: a file only
 * its owner can read, never one that existed before. */
static int write_export(const json_t *doc, const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	int bad = f == NULL || json_dumpf(doc, f, JSON_INDENT(2)) != 0 || fputc('\n', f) == EOF;
	if (f != NULL)
		bad |= fclose(f) != 0;
	else if (fd >= 0)
		close(fd);
	if (bad && fd >= 0)
		unlink(path);
	return bad ? cli_fail(CLI_EXIT_FAIL, "cannot write %s (it must not exist yet)", path) : 0;
}

int cmd_office_export(cli *c, const cli_line *l)
{
	const char *id = l->arg[0], *path = cli_opt(l, "out");
	char *text = NULL;
	json_t *doc;
	int ex = cli_open_store(c);
	if (ex != 0 ||
	    (ex = cli_take_json(veld_client_export(c->store, id, c->purpose, &text), &text, &doc)))
		return ex;
	if (path == NULL)
		cli_print_json(doc);
	else if ((ex = write_export(doc, path)) == 0)
		printf("wrote the export of client %s to %s (mode 0600)\n", id, path);
	json_decref(doc);
	return ex;
}

/* ---- field policy ---------------------------------------------------------- */

static void print_names(const json_t *arr)
{
	size_t i;
	const json_t *v;
	if (json_array_size(arr) == 0)
		fputs("(none)", stdout);
	json_array_foreach(arr, i, v)
		printf("%s%s", i ? ", " : "", json_string_value(v));
	putchar('\n');
}

static int show_policy(cli *c, const json_t *p, const void *payload)
{
	if (p == NULL)
		return CLI_EXIT_FAIL;
	const char *set = cli_str(p, "set");
	json_t *reach = json_deep_copy(json_object_get(p, "always"));
	json_array_extend(reach, json_object_get(p, "fields"));
	printf("team %s: %s%s\n", cli_str(p, "team"),
		set ? "policy set by the office at " : "the default policy (the office set none)",
		set ? set : "");
	fputs("  reach the team's devices: ", stdout);
	print_names(reach);
	fputs("  stay at the office:       ", stdout);
	print_names(json_object_get(p, "office_only"));
	if (json_is_true(json_object_get(p, "applies")))
		puts("  this device follows it");
	json_decref(reach);
	return 0;
}

/* Print a team's field policy (veld_field_policy_get) as JSON or text. */
static int show_fields(cli *c, const char *team)
{
	char *text = NULL;
	return cli_show(c, veld_field_policy_get(c->store, team, &text), &text, show_policy, NULL);
}

int cmd_fields(cli *c, const cli_line *l)
{
	int ex = cli_open_store(c);
	return ex != 0 ? ex : show_fields(c, cli_opt(l, "team"));
}

int cmd_office_fields(cli *c, const cli_line *l)
{
	veld_sync_options so;
	const char *team = l->arg[0], *set = cli_opt(l, "set");
	cli_net_options(l, &so);
	int ex = cli_open_store(c);
	if (ex != 0)
		return ex;
	if (set != NULL) {
		int rc = veld_office_field_policy(c->store, team, strcmp(set, "none") == 0 ? "" : set,
		                                  &so);
		if (rc != VELD_OK)
			return cli_api_error(rc);
	}
	return show_fields(c, team);
}

/* ---- moving a client -------------------------------------------------------------- */

static int show_move(cli *c, const json_t *v, const void *payload)
{
	const json_t *holding = json_object_get(v, "holding"), *e;
	size_t i;
	(void)payload;
	if (v == NULL)
		return cli_api_error(VELD_ERROR);
	printf("client %s of team %s moved to team %s as client %s (%s)\n",
	       json_string_value(json_object_get(v, "client")),
	       json_string_value(json_object_get(v, "from")),
	       json_string_value(json_object_get(v, "to")),
	       json_string_value(json_object_get(v, "new_client")),
	       json_string_value(json_object_get(v, "at")));
	if (json_array_size(holding) == 0) {
		printf("no device of team %s holds it any more\n",
		       json_string_value(json_object_get(v, "from")));
		return 0;
	}
	printf("devices of team %s that may still hold it (they remove it at their next sync):\n",
	       json_string_value(json_object_get(v, "from")));
	json_array_foreach(holding, i, e)
		printf("  %s\n", json_string_value(e));
	return 0;
}

int cmd_office_move(cli *c, const cli_line *l)
{
	veld_sync_options so;
	const char *id = l->arg[0], *team = cli_opt(l, "team");
	char *out = NULL;
	int rc;
	cli_net_options(l, &so);
	if (!cli_flag(l, "status") && team == NULL)
		return cli_usage(c, "%s", "which team does the client move to? give --team TEAM"
		                          " (or --status to see a move)");
	if (cli_flag(l, "status") && team != NULL)
		return cli_usage(c, "%s", "--status and --team do not go together");
	int ex = cli_open_store(c);
	if (ex != 0)
		return ex;
	rc = cli_flag(l, "status") ? veld_office_client_move_status(c->store, id, &out)
	                           : veld_office_client_move(c->store, id, team, &so, &out);
	return cli_show(c, rc, &out, show_move, NULL);
}

/* ---- the record schema ---------------------------------------------------------- */

/* A whole file (or standard input for "-") as a string; NULL past 1 MiB. */
static char *read_all(const char *path)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	size_t cap = 1024 * 1024 + 1, len;
	char *buf;
	if (f == NULL)
		return NULL;
	buf = malloc(cap + 1);
	len = buf ? fread(buf, 1, cap, f) : 0;
	if (f != stdin)
		fclose(f);
	if (buf == NULL || len == cap) {
		free(buf);
		return NULL;
	}
	buf[len] = 0;
	return buf;
}

int cmd_office_schema(cli *c, const cli_line *l)
{
	veld_sync_options so;
	const char *path = cli_opt(l, "set");
	char *doc, *text = NULL;
	int rc, ex;
	json_t *j;
	cli_net_options(l, &so);
	if ((doc = read_all(path)) == NULL)
		return cli_fail(CLI_EXIT_FAIL, "cannot read the schema document given to --set"
		                " (at most 1 MiB)");
	if ((ex = cli_open_store(c)) != 0) {
		free(doc);
		return ex;
	}
	rc = veld_office_schema_set(c->store, doc, &so);
	free(doc);
	if (rc != VELD_OK)
		return cli_api_error(rc);
	if ((rc = veld_schema_json(c->store, &text)) != VELD_OK)
		return cli_api_error(rc);
	j = cli_parse(text);
	cli_free_text(text);
	if (j == NULL)
		return CLI_EXIT_FAIL;
	printf("published record schema %s version %lld\n", cli_str(j, "name"),
	       (long long)json_integer_value(json_object_get(j, "version")));
	json_decref(j);
	return CLI_EXIT_OK;
}

/* ---- list ------------------------------------------------------------------- */

int cmd_office_list(cli *c, const cli_line *l)
{
	static const struct {
		const char *what, *noun, *verb;
	} kinds[] = {
		{"clients", "client", "list"}, {"visits", "visit", "list"}, {"notes", "note", "list"},
		{"goals", "goal", "list"}, {"signals", "signal", "list"}, {"conflicts", "conflicts", NULL},
	};
	int argc = l->argc;
	char **argv = l->argv;
	/* The first of the words above picks the list (options may come before
	 * it); the rest are that list's own options. */
	for (int i = 1; i < argc; i++) {
		for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
			if (strcmp(argv[i], kinds[k].what) != 0)
				continue;
			/* The word becomes the list's argv[0]; the other arguments
			 * follow in their order. */
			char **sub = malloc((size_t)argc * sizeof *sub);
			if (sub == NULL)
				return cli_fail(CLI_EXIT_FAIL, "out of memory");
			int n = 0;
			sub[n++] = argv[i];
			for (int j = 1; j < argc; j++)
				if (j != i)
					sub[n++] = argv[j];
			int ex = cli_run(c, cli_find_cmd(kinds[k].noun, kinds[k].verb), n, sub);
			free(sub);
			return ex;
		}
	}
	/* No list named: help, a usage error, or the word that is not one. */
	const char *word;
	int ex = cli_first_arg(c, argc, argv, &word);
	if (ex != 0)
		return ex < 0 ? 0 : ex;
	if (word != NULL)
		return cli_usage(c, "cannot list '%s': use clients, visits, notes, goals, signals "
			"or conflicts", word);
	return cli_usage(c, "what to list? clients, visits, notes, goals, signals or conflicts");
}
