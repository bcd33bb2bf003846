/*
 * office.c - `veld office ...`: the office's store and device management.
 *
 * The office has one store of its own (made with `veld office init`, in the
 * usual store directory), which reads every team's clients. Through the
 * server it invites devices, lists and revokes them, and syncs like any
 * device. Every command acts with the role "office" unless --role says
 * otherwise, so the access log names the office.
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

enum { O_OFFICE_TTL = 0x400, O_OFFICE_KDF_MEMORY, O_OFFICE_KDF_PASSES };

#define TTL_HOURS_DEFAULT 72
#define TTL_HOURS_MAX (7 * 24)
#define KDF_MEMORY_MAX_MIB 4096
#define KDF_PASSES_MAX 64

/* The office acts as "office" in the access log unless --role was given. */
static void act_as_office(cli *c)
{
	if (c->role == NULL || strcmp(c->role, "worker") == 0)
		c->role = "office";
}

/* Parse a command whose only options are the network ones. */
static int net_args(cli *c, int argc, char **argv, int nargs, const char **args,
	const char *what, veld_sync_options *so)
{
	static const struct option opts[] = {
		{"insecure-http", no_argument, NULL, O_INSECURE_HTTP},
		{"ca-file", required_argument, NULL, O_CA_FILE},
		{NULL, 0, NULL, 0}
	};
	cli_opts it;
	int o, n = 0;
	cli_opts_begin(&it, c, argc, argv, opts);
	while ((o = cli_opts_next(&it)) != -1) {
		if (o == CLI_OPT_HELP)
			return -1;
		if (o == CLI_OPT_ERROR)
			return CLI_EXIT_USAGE;
		if (o == CLI_OPT_ARG) {
			if (n >= nargs)
				return cli_usage(c, "too many arguments");
			args[n++] = it.optarg;
		} else {
			cli_net_option(o, it.optarg, so);
		}
	}
	if (n < nargs)
		return cli_usage(c, "missing %s", what);
	return 0;
}

/* ---- init, enroll, sync ---------------------------------------------------- */

int cmd_office_init(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"kdf-memory", required_argument, NULL, O_OFFICE_KDF_MEMORY},
		{"kdf-passes", required_argument, NULL, O_OFFICE_KDF_PASSES},
		{NULL, 0, NULL, 0}
	};
	long long mib = 0, passes = 0;
	cli_opts it;
	int o, ex;
	act_as_office(c);
	cli_opts_begin(&it, c, argc, argv, opts);
	while ((o = cli_opts_next(&it)) != -1) {
		switch (o) {
		case CLI_OPT_HELP: return 0;
		case CLI_OPT_ERROR: return CLI_EXIT_USAGE;
		case CLI_OPT_ARG: return cli_usage(c, "unexpected argument");
		case O_OFFICE_KDF_MEMORY:
			if (!cli_parse_int(it.optarg, VELD_KDF_MEMLIMIT_MIN / (1024 * 1024),
					KDF_MEMORY_MAX_MIB, &mib))
				return cli_usage(c, "--kdf-memory is in MiB, from %u to %d",
					VELD_KDF_MEMLIMIT_MIN / (1024u * 1024u), KDF_MEMORY_MAX_MIB);
			break;
		case O_OFFICE_KDF_PASSES:
			if (!cli_parse_int(it.optarg, VELD_KDF_OPSLIMIT_MIN, KDF_PASSES_MAX, &passes))
				return cli_usage(c, "--kdf-passes must be from %d to %d",
					VELD_KDF_OPSLIMIT_MIN, KDF_PASSES_MAX);
			break;
		}
	}
	if ((ex = cli_store_dir(c)) != 0)
		return ex;
	cli_pass pass;
	ex = cli_pass_read(&pass, c->passphrase_fd, "VELD_PASSPHRASE",
		"New passphrase for the office store: ", true, CLI_PASS_MIN);
	if (ex != 0)
		return ex;
	veld_store_options so;
	veld_store_options_init(&so);
	so.user = c->user;
	so.role = c->role;
	so.kdf_memlimit = (uint64_t)mib * 1024u * 1024u;
	so.kdf_opslimit = (uint64_t)passes;
	int rc = veld_office_create(&c->store, c->store_dir, pass.buf, pass.len, &so);
	cli_pass_free(&pass);
	if (rc != VELD_OK) {
		c->store = NULL;
		return cli_api_error(rc);
	}
	char *text = NULL;
	if ((rc = veld_store_info(c->store, &text)) != VELD_OK) {
		veld_free(text);
		return cli_api_error(rc);
	}
	if (c->json) {
		ex = cli_print_json_text(text);
	} else {
		json_t *info = cli_parse(text);
		const char *dev = cli_str(info, "device");
		printf("created an office store in %s\n", c->store_dir);
		if (dev != NULL)
			printf("device %s\n", dev);
		puts("next: veld office enroll URL SETUP_CODE (the code the server printed)");
		json_decref(info);
	}
	veld_free(text);
	return ex;
}

int cmd_office_enroll(cli *c, int argc, char **argv)
{
	act_as_office(c);
	return cmd_enroll(c, argc, argv);
}

int cmd_office_sync(cli *c, int argc, char **argv)
{
	act_as_office(c);
	return cmd_sync(c, argc, argv);
}

/* ---- invite ------------------------------------------------------------------ */

int cmd_office_invite(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"team", required_argument, NULL, O_TEAM},
		{"ttl-hours", required_argument, NULL, O_OFFICE_TTL},
		{"insecure-http", no_argument, NULL, O_INSECURE_HTTP},
		{"ca-file", required_argument, NULL, O_CA_FILE},
		{NULL, 0, NULL, 0}
	};
	veld_sync_options so = VELD_SYNC_OPTIONS_INIT;
	const char *team = NULL;
	long long hours = TTL_HOURS_DEFAULT;
	cli_opts it;
	int o, ex;
	act_as_office(c);
	cli_opts_begin(&it, c, argc, argv, opts);
	while ((o = cli_opts_next(&it)) != -1) {
		switch (o) {
		case CLI_OPT_HELP: return 0;
		case CLI_OPT_ERROR: return CLI_EXIT_USAGE;
		case CLI_OPT_ARG: return cli_usage(c, "unexpected argument");
		case O_TEAM:
			if (*it.optarg == '\0')
				return cli_usage(c, "--team needs a team id");
			team = it.optarg;
			break;
		case O_OFFICE_TTL:
			if (!cli_parse_int(it.optarg, 1, TTL_HOURS_MAX, &hours))
				return cli_usage(c, "--ttl-hours must be from 1 to %d (7 days)",
					TTL_HOURS_MAX);
			break;
		default:
			cli_net_option(o, it.optarg, &so);
		}
	}
	if (team == NULL)
		return cli_usage(c, "which team is the device for? give --team T");
	if ((ex = cli_open_store(c)) != 0)
		return ex;
	char *code = NULL;
	int rc = veld_office_invite(c->store, team, (uint32_t)(hours * 3600), &so, &code);
	if (rc != VELD_OK)
		return cli_api_error(rc);
	if (c->json) {
		json_t *r = json_pack("{s:s, s:s, s:I}", "team", team, "code", code,
			"ttl_hours", (json_int_t)hours);
		cli_print_json(r);
		json_decref(r);
	} else {
		printf("invite for a device of team %s, single use, valid %lld hours:\n\n    %s\n\n",
			team, hours, code);
		puts("give it to the worker in person; on the device run:\n"
		     "    veld enroll SERVER_URL CODE");
	}
	sodium_memzero(code, strlen(code));
	veld_free(code);
	return 0;
}

/* ---- devices, revoke -------------------------------------------------------- */

static int load_devices(cli *c, const veld_sync_options *so, json_t **list)
{
	char *text = NULL;
	*list = NULL;
	int rc = veld_office_devices(c->store, so, &text);
	if (rc != VELD_OK) {
		veld_free(text);
		return cli_api_error(rc);
	}
	*list = cli_parse(text);
	veld_free(text);
	return *list != NULL ? 0 : CLI_EXIT_FAIL;
}

int cmd_office_devices(cli *c, int argc, char **argv)
{
	veld_sync_options so = VELD_SYNC_OPTIONS_INIT;
	json_t *list;
	act_as_office(c);
	int ex = net_args(c, argc, argv, 0, NULL, "", &so);
	if (ex != 0)
		return ex < 0 ? 0 : ex;
	if ((ex = cli_open_store(c)) != 0 || (ex = load_devices(c, &so, &list)) != 0)
		return ex;
	if (c->json) {
		cli_print_json(list);
	} else if (json_array_size(list) == 0) {
		puts("no devices enrolled");
	} else {
		size_t i;
		const json_t *e;
		printf("%-8s  %-16s  %-6s  %-20s  %-10s  %s\n", "DEVICE", "TEAM", "ROLE", "LABEL",
			"ENROLLED", "REVOKED");
		json_array_foreach(list, i, e) {
			char id[16], en[32], rv[32];
			const char *keys_en[] = {"enrolled", NULL}, *keys_rv[] = {"revoked", NULL};
			const char *team = cli_str(e, "team"), *role = cli_str(e, "role");
			printf("%-8s  ", cli_short_id(cli_str(e, "device"), id));
			cli_print_cut(team ? team : "-", 16, true);
			printf("  %-6s  ", role ? role : "-");
			cli_print_cut(cli_str(e, "label"), 20, true);
			printf("  %-10s  %s\n", cli_record_date(e, keys_en, en),
				cli_str(e, "revoked") ? cli_record_date(e, keys_rv, rv) : "-");
		}
	}
	json_decref(list);
	return 0;
}

/* The full id of the device a prefix names (at least 4 hex digits), from
 * the server's list. */
static int resolve_device(cli *c, const veld_sync_options *so, const char *prefix,
	char full[33])
{
	json_t *list;
	size_t n = strlen(prefix), i, hits = 0;
	const json_t *e;
	if (n == 32 && strspn(prefix, "0123456789abcdefABCDEF") == 32) {
		memcpy(full, prefix, 33);
		return 0;
	}
	if (n < 4 || n > 32 || strspn(prefix, "0123456789abcdefABCDEF") != n)
		return cli_usage(c, "DEVICE is a device id: 32 hex digits, or a unique prefix of "
			"at least 4 (see `veld office devices`)");
	int ex = load_devices(c, so, &list);
	if (ex != 0)
		return ex;
	json_array_foreach(list, i, e) {
		const char *d = cli_str(e, "device");
		if (d != NULL && strlen(d) == 32 && strncasecmp(d, prefix, n) == 0) {
			memcpy(full, d, 33);
			hits++;
		}
	}
	json_decref(list);
	if (hits == 0)
		return cli_fail(CLI_EXIT_NOTFOUND, "no enrolled device has an id starting with %s",
			prefix);
	if (hits > 1)
		return cli_fail(CLI_EXIT_USAGE, "more than one device id starts with %s: give more "
			"digits", prefix);
	return 0;
}

int cmd_office_revoke(cli *c, int argc, char **argv)
{
	veld_sync_options so = VELD_SYNC_OPTIONS_INIT;
	const char *arg[1] = {NULL};
	char device[33];
	act_as_office(c);
	int ex = net_args(c, argc, argv, 1, arg, "the device to revoke (see `veld office "
		"devices`)", &so);
	if (ex != 0)
		return ex < 0 ? 0 : ex;
	if ((ex = cli_open_store(c)) != 0 || (ex = resolve_device(c, &so, arg[0], device)) != 0)
		return ex;
	for (char *p = device; *p; p++)
		if (*p >= 'A' && *p <= 'F')
			*p = (char)(*p - 'A' + 'a');
	int rc = veld_office_revoke(c->store, device, &so);
	if (rc != VELD_OK)
		return cli_api_error(rc);
	if (c->json) {
		json_t *r = json_pack("{s:s, s:b}", "device", device, "revoked", 1);
		cli_print_json(r);
		json_decref(r);
	} else {
		printf("revoked device %s\n", device);
		puts("its team's key was rotated and new client keys were pushed: the device can "
		     "read nothing written from now on, and wipes itself at its next sync");
	}
	return 0;
}

/* ---- export ----------------------------------------------------------------- */

int cmd_office_export(cli *c, int argc, char **argv)
{
	enum { O_OUT = 0x500 };
	static const struct option opts[] = {
		{"out", required_argument, NULL, O_OUT},
		{NULL, 0, NULL, 0}
	};
	const char *id = NULL, *path = NULL;
	int o;
	cli_opts it;
	act_as_office(c);
	cli_opts_begin(&it, c, argc, argv, opts);
	while ((o = cli_opts_next(&it)) != -1) {
		if (o == CLI_OPT_HELP)
			return 0;
		if (o == CLI_OPT_ERROR)
			return CLI_EXIT_USAGE;
		if (o == O_OUT) {
			path = it.optarg;
		} else if (o == CLI_OPT_ARG) {
			if (id != NULL)
				return cli_usage(c, "too many arguments");
			id = it.optarg;
		}
	}
	if (id == NULL)
		return cli_usage(c, "which client? give its id");
	int ex = cli_open_store(c);
	if (ex != 0)
		return ex;
	char *text = NULL;
	int rc = veld_client_export(c->store, id, c->purpose, &text);
	if (rc != VELD_OK) {
		cli_free_text(text);
		return cli_api_error(rc);
	}
	json_t *doc = cli_parse(text);
	cli_free_text(text);
	if (doc == NULL)
		return CLI_EXIT_FAIL;
	if (path == NULL) {
		cli_print_json(doc);
		json_decref(doc);
		return 0;
	}
	/* The export is the client's personal data in readable form: a file
	 * only its owner can read, never one that existed before. */
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	int bad = f == NULL || json_dumpf(doc, f, JSON_INDENT(2)) != 0 || fputc('\n', f) == EOF;
	if (f != NULL)
		bad |= fclose(f) != 0;
	else if (fd >= 0)
		close(fd);
	json_decref(doc);
	if (bad) {
		if (fd >= 0)
			unlink(path);
		return cli_fail(CLI_EXIT_FAIL, "cannot write %s (it must not exist yet)", path);
	}
	printf("wrote the export of client %s to %s (mode 0600)\n", id, path);
	return 0;
}

/* ---- erase ------------------------------------------------------------------ */

int cmd_office_erase(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"yes", no_argument, NULL, O_YES},
		{"insecure-http", no_argument, NULL, O_INSECURE_HTTP},
		{"ca-file", required_argument, NULL, O_CA_FILE},
		{NULL, 0, NULL, 0}
	};
	veld_sync_options so;
	const char *id = NULL;
	int yes = 0, o;
	cli_opts it;
	act_as_office(c);
	veld_sync_options_init(&so);
	cli_opts_begin(&it, c, argc, argv, opts);
	while ((o = cli_opts_next(&it)) != -1) {
		if (o == CLI_OPT_HELP)
			return 0;
		if (o == CLI_OPT_ERROR)
			return CLI_EXIT_USAGE;
		if (o == O_YES) {
			yes = 1;
		} else if (o == CLI_OPT_ARG) {
			if (id != NULL)
				return cli_usage(c, "too many arguments");
			id = it.optarg;
		} else {
			cli_net_option(o, it.optarg, &so);
		}
	}
	if (id == NULL)
		return cli_usage(c, "which client? give its id");
	if (!yes)
		return cli_usage(c, "erasing a client everywhere destroys its data and cannot be "
			"undone; add --yes to confirm");
	int ex = cli_open_store(c);
	if (ex != 0)
		return ex;
	int rc = veld_office_erase(c->store, id, c->purpose, &so);
	if (rc != VELD_OK)
		return cli_api_error(rc);
	if (c->json) {
		json_t *r = json_pack("{s:s, s:b}", "id", id, "erased", 1);
		cli_print_json(r);
		json_decref(r);
	} else {
		printf("erased client %s here and on the server\n", id);
		puts("every device of its team erases it at its next sync");
	}
	return 0;
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

/* Print a team's field policy (veld_field_policy_get) as JSON or text. */
static int show_fields(cli *c, const char *team)
{
	char *text = NULL;
	int rc = veld_field_policy_get(c->store, team, &text);
	if (rc != VELD_OK) {
		cli_free_text(text);
		return cli_api_error(rc);
	}
	json_t *p = cli_parse(text);
	cli_free_text(text);
	if (p == NULL)
		return CLI_EXIT_FAIL;
	if (c->json) {
		cli_print_json(p);
	} else {
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
	}
	json_decref(p);
	return 0;
}

int cmd_fields(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"team", required_argument, NULL, O_TEAM},
		{NULL, 0, NULL, 0}
	};
	const char *team = NULL;
	int o;
	cli_opts it;
	cli_opts_begin(&it, c, argc, argv, opts);
	while ((o = cli_opts_next(&it)) != -1) {
		if (o == CLI_OPT_HELP)
			return 0;
		if (o == CLI_OPT_ERROR)
			return CLI_EXIT_USAGE;
		if (o == O_TEAM)
			team = it.optarg;
		else if (o == CLI_OPT_ARG)
			return cli_usage(c, "unexpected argument");
	}
	int ex = cli_open_store(c);
	return ex != 0 ? ex : show_fields(c, team);
}

int cmd_office_fields(cli *c, int argc, char **argv)
{
	enum { O_SET = 0x500 };
	static const struct option opts[] = {
		{"set", required_argument, NULL, O_SET},
		{"insecure-http", no_argument, NULL, O_INSECURE_HTTP},
		{"ca-file", required_argument, NULL, O_CA_FILE},
		{NULL, 0, NULL, 0}
	};
	veld_sync_options so;
	const char *team = NULL, *set = NULL;
	int o;
	cli_opts it;
	act_as_office(c);
	veld_sync_options_init(&so);
	cli_opts_begin(&it, c, argc, argv, opts);
	while ((o = cli_opts_next(&it)) != -1) {
		if (o == CLI_OPT_HELP)
			return 0;
		if (o == CLI_OPT_ERROR)
			return CLI_EXIT_USAGE;
		if (o == O_SET) {
			set = it.optarg;
		} else if (o == CLI_OPT_ARG) {
			if (team != NULL)
				return cli_usage(c, "too many arguments");
			team = it.optarg;
		} else {
			cli_net_option(o, it.optarg, &so);
		}
	}
	if (team == NULL)
		return cli_usage(c, "which team? give its id");
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

/* ---- list ------------------------------------------------------------------- */

int cmd_office_list(cli *c, int argc, char **argv)
{
	static const struct {
		const char *what;
		int (*run)(cli *, int, char **);
	} kinds[] = {
		{"clients", cmd_client_list}, {"visits", cmd_visit_list}, {"notes", cmd_note_list},
		{"goals", cmd_goal_list}, {"signals", cmd_signal_list}, {"conflicts", cmd_conflicts},
	};
	act_as_office(c);
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
			int ex = kinds[k].run(c, n, sub);
			free(sub);
			return ex;
		}
	}
	cli_opts it;
	int o;
	cli_opts_begin(&it, c, argc, argv, NULL);
	while ((o = cli_opts_next(&it)) != -1) {
		if (o == CLI_OPT_HELP)
			return 0;
		if (o == CLI_OPT_ERROR)
			return CLI_EXIT_USAGE;
		return cli_usage(c, "cannot list '%s': use clients, visits, notes, goals, signals "
			"or conflicts", it.optarg);
	}
	return cli_usage(c, "what to list? clients, visits, notes, goals, signals or conflicts");
}
