/*
 * admin.c - the store commands: init, passwd, info, verify, domains,
 * conflicts, resolve, log, policy and purge.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

enum {
	O_KDF_MEMORY = 0x200, O_KDF_PASSES, O_NEW_PASSFD, O_BASIS, O_DRY_RUN,
	O_NOW, O_LIMIT
};

/* Most Argon2id memory `init` accepts, in MiB (beyond this a phone cannot
 * open the store). */
#define KDF_MEMORY_MAX_MIB 4096
#define KDF_PASSES_MAX 64

/* Parse a command that takes no options and `nargs` positional arguments.
 * Returns 0, -1 after --help, or an exit code. */
static int plain_args(cli *c, int argc, char **argv, int nargs, const char **args,
	const char *what)
{
	cli_opts it;
	int o, n = 0;
	cli_opts_begin(&it, c, argc, argv, NULL);
	while ((o = cli_opts_next(&it)) != -1) {
		if (o == CLI_OPT_HELP)
			return -1;
		if (o == CLI_OPT_ERROR)
			return CLI_EXIT_USAGE;
		if (n >= nargs)
			return cli_usage(c, "too many arguments");
		args[n++] = it.optarg;
	}
	if (n < nargs)
		return cli_usage(c, "missing %s", what);
	return 0;
}

/* Print an object's scalar members as "key: value" lines. */
static void print_pairs(const json_t *obj)
{
	const char *k;
	const json_t *v;
	json_object_foreach((json_t *)obj, k, v) {
		printf("%-16s ", k);
		cli_print_value(v);
		fputc('\n', stdout);
	}
}

/* ---- init, passwd ------------------------------------------------------- */

int cmd_init(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"team", required_argument, NULL, O_TEAM},
		{"kdf-memory", required_argument, NULL, O_KDF_MEMORY},
		{"kdf-passes", required_argument, NULL, O_KDF_PASSES},
		{NULL, 0, NULL, 0}
	};
	const char *team = NULL;
	long long mib = 0, passes = 0;
	cli_opts it;
	int o;
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
		case O_KDF_MEMORY:
			if (!cli_parse_int(it.optarg, VELD_KDF_MEMLIMIT_MIN / (1024 * 1024),
					KDF_MEMORY_MAX_MIB, &mib))
				return cli_usage(c, "--kdf-memory is in MiB, from %u to %d",
					VELD_KDF_MEMLIMIT_MIN / (1024u * 1024u), KDF_MEMORY_MAX_MIB);
			break;
		case O_KDF_PASSES:
			if (!cli_parse_int(it.optarg, VELD_KDF_OPSLIMIT_MIN, KDF_PASSES_MAX, &passes))
				return cli_usage(c, "--kdf-passes must be from %d to %d",
					VELD_KDF_OPSLIMIT_MIN, KDF_PASSES_MAX);
			break;
		}
	}
	int ex = cli_create_store(c, team, (uint64_t)mib * 1024u * 1024u, (uint64_t)passes);
	if (ex != 0)
		return ex;
	char *text = NULL;
	int rc = veld_store_info(c->store, &text);
	if (rc != VELD_OK) {
		cli_free_text(text);
		return cli_api_error(rc);
	}
	if (c->json) {
		ex = cli_print_json_text(text);
	} else {
		json_t *info = cli_parse(text);
		const char *dev = cli_str(info, "device"), *t = cli_str(info, "team");
		printf("created a veld store in %s\n", c->store_dir);
		if (dev != NULL)
			printf("device %s, team %s\n", dev, t != NULL ? t : "-");
		json_decref(info);
	}
	cli_free_text(text);
	return ex;
}

int cmd_passwd(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"new-passphrase-fd", required_argument, NULL, O_NEW_PASSFD},
		{NULL, 0, NULL, 0}
	};
	long long new_fd = -1;
	cli_opts it;
	int o;
	cli_opts_begin(&it, c, argc, argv, opts);
	while ((o = cli_opts_next(&it)) != -1) {
		switch (o) {
		case CLI_OPT_HELP: return 0;
		case CLI_OPT_ERROR: return CLI_EXIT_USAGE;
		case CLI_OPT_ARG: return cli_usage(c, "unexpected argument");
		case O_NEW_PASSFD:
			if (!cli_parse_int(it.optarg, 0, 1 << 20, &new_fd))
				return cli_usage(c, "--new-passphrase-fd needs a file descriptor number");
			break;
		}
	}
	/* The old passphrase both opens the store and authorises the change, so
	 * it stays in its guarded buffer until the change is done. */
	cli_pass old, new_pass;
	int ex = cli_need_store_dir(c);
	if (ex != 0)
		return ex;
	ex = cli_pass_read(&old, c->passphrase_fd, "VELD_PASSPHRASE",
		"Current passphrase: ", false, 0);
	if (ex != 0)
		return ex;
	ex = cli_open_store_with(c, &old);
	if (ex == 0)
		ex = cli_pass_read(&new_pass, (int)new_fd, "VELD_NEW_PASSPHRASE",
			"New passphrase: ", true, CLI_PASS_MIN);
	if (ex == 0) {
		int rc = veld_store_change_passphrase(c->store, old.buf, old.len,
			new_pass.buf, new_pass.len);
		cli_pass_free(&new_pass);
		if (rc != VELD_OK)
			ex = cli_api_error(rc);
		else if (c->json)
			puts("{\n  \"changed\": true\n}");
		else
			puts("passphrase changed");
	}
	cli_pass_free(&old);
	return ex;
}

/* ---- info, verify, domains ---------------------------------------------- */

int cmd_info(cli *c, int argc, char **argv)
{
	int ex = plain_args(c, argc, argv, 0, NULL, "");
	if (ex != 0)
		return ex < 0 ? 0 : ex;
	if ((ex = cli_open_store(c)) != 0)
		return ex;
	char *text = NULL;
	int rc = veld_store_info(c->store, &text);
	if (rc != VELD_OK) {
		cli_free_text(text);
		return cli_api_error(rc);
	}
	if (c->json) {
		ex = cli_print_json_text(text);
	} else {
		json_t *info = cli_parse(text);
		if (info == NULL) {
			ex = CLI_EXIT_FAIL;
		} else {
			printf("%-16s %s\n", "store", c->store_dir);
			print_pairs(info);
		}
		json_decref(info);
	}
	cli_free_text(text);
	return ex;
}

int cmd_verify(cli *c, int argc, char **argv)
{
	int ex = plain_args(c, argc, argv, 0, NULL, "");
	if (ex != 0)
		return ex < 0 ? 0 : ex;
	if ((ex = cli_open_store(c)) != 0)
		return ex;
	char *text = NULL;
	int rc = veld_store_verify(c->store, &text);
	/* The report is printed whatever the outcome: on a failure it says
	 * what failed. */
	if (text != NULL) {
		if (c->json) {
			cli_print_json_text(text);
		} else {
			json_t *rep = cli_parse(text);
			if (rep != NULL)
				print_pairs(rep);
			json_decref(rep);
		}
	}
	cli_free_text(text);
	if (rc != VELD_OK)
		return cli_api_error(rc);
	if (!c->json)
		puts("store verified: ok");
	return 0;
}

/* The life domains of the newest ZRM version in the schema
 * ({"domains":{version:[{"code","label"}...]}}), borrowed from `schema`;
 * its version in *version. */
static const json_t *schema_domains(const json_t *schema, const char **version)
{
	const json_t *all = json_object_get(schema, "domains"), *best = NULL;
	const char *k;
	const json_t *v;
	*version = NULL;
	/* Versions are years ("2013", "2017"), so the greatest is the newest. */
	json_object_foreach((json_t *)all, k, v) {
		if (json_is_array(v) && (*version == NULL || strcmp(k, *version) > 0)) {
			*version = k;
			best = v;
		}
	}
	return best;
}

static int load_schema(cli *c, json_t **schema)
{
	*schema = NULL;
	int ex = cli_open_store(c);
	if (ex != 0)
		return ex;
	char *text = NULL;
	int rc = veld_schema_json(c->store, &text);
	if (rc != VELD_OK) {
		cli_free_text(text);
		return cli_api_error(rc);
	}
	*schema = cli_parse(text);
	cli_free_text(text);
	return *schema != NULL ? 0 : CLI_EXIT_FAIL;
}

int cli_zrm_domains(cli *c, json_t **domains)
{
	const char *version;
	json_t *schema;
	*domains = NULL;
	int ex = load_schema(c, &schema);
	if (ex != 0)
		return ex;
	const json_t *d = schema_domains(schema, &version);
	json_t *out = json_array();
	size_t i;
	const json_t *e;
	json_array_foreach(d, i, e) {
		const char *code = cli_str(e, "code");
		if (code != NULL)
			json_array_append_new(out, json_string(code));
	}
	json_decref(schema);
	*domains = out;
	return 0;
}

int cmd_domains(cli *c, int argc, char **argv)
{
	int ex = plain_args(c, argc, argv, 0, NULL, "");
	if (ex != 0)
		return ex < 0 ? 0 : ex;
	json_t *schema;
	if ((ex = load_schema(c, &schema)) != 0)
		return ex;
	const char *version;
	const json_t *d = schema_domains(schema, &version);
	if (c->json) {
		const json_t *all = json_object_get(schema, "domains");
		cli_print_json(all != NULL ? all : json_null());
	} else {
		printf("ZRM %s life domains (score 1 acute problem .. 5 fully self-reliant):\n",
			version != NULL ? version : "");
		size_t i;
		const json_t *e;
		json_array_foreach(d, i, e) {
			const char *code = cli_str(e, "code"), *label = cli_str(e, "label");
			printf("  %-30s %s\n", code ? code : "?", label ? label : "");
		}
	}
	json_decref(schema);
	return 0;
}

/* ---- conflicts, resolve -------------------------------------------------- */

int cmd_conflicts(cli *c, int argc, char **argv)
{
	int ex = plain_args(c, argc, argv, 0, NULL, "");
	if (ex != 0)
		return ex < 0 ? 0 : ex;
	if ((ex = cli_open_store(c)) != 0)
		return ex;
	char *text = NULL;
	int rc = veld_conflicts_list(c->store, c->purpose, &text);
	if (rc != VELD_OK) {
		cli_free_text(text);
		return cli_api_error(rc);
	}
	json_t *list = cli_parse(text);
	cli_free_text(text);
	if (list == NULL)
		return CLI_EXIT_FAIL;
	if (c->json) {
		cli_print_json(list);
	} else if (json_array_size(list) == 0) {
		puts("no conflicts");
	} else {
		/* Each conflict as a block: every competing value with when and on
		 * which device it was written; * marks the value shown now (the
		 * same on every replica). */
		char self[40] = "";
		char *info = NULL;
		if (veld_store_info(c->store, &info) == VELD_OK) {
			json_t *ij = cli_parse(info);
			snprintf(self, sizeof self, "%s", cli_str(ij, "device") ? cli_str(ij, "device") : "");
			json_decref(ij);
		}
		veld_free(info);
		size_t i;
		const json_t *e;
		json_array_foreach(list, i, e) {
			char id[16], cid[16];
			const char *k = cli_str(e, "type"), *f = cli_str(e, "field");
			printf("%s %s  field %s  (client %s)\n", k ? k : "-",
				cli_short_id(cli_str(e, "id"), id), f ? f : "-",
				cli_short_id(cli_str(e, "client"), cid));
			const json_t *values = json_object_get(e, "values");
			size_t j;
			const json_t *v;
			json_array_foreach(values, j, v) {
				const json_t *val = json_object_get(v, "value");
				const char *dev = cli_str(v, "device"), *at = cli_str(v, "at");
				char did[16];
				printf("  %s ", j == 0 ? "*" : " ");
				if (json_is_string(val))
					cli_print_cut(json_string_value(val), 30, true);
				else if (val != NULL && !json_is_null(val))
					cli_print_value(val);
				else
					fputs("(removed)", stdout);
				printf("   %.10s %.8s UTC   device %s%s\n", at ? at : "", at && strlen(at) > 11 ? at + 11 : "",
				       cli_short_id(dev, did),
				       dev && strcmp(dev, self) == 0 ? " (this device)" : "");
			}
		}
		puts("* = shown now. Resolve with: veld resolve KIND ID FIELD VALUE");
	}
	json_decref(list);
	return 0;
}

int cmd_resolve(cli *c, int argc, char **argv)
{
	const char *a[4];
	int ex = plain_args(c, argc, argv, 4, a, "arguments: KIND ID FIELD VALUE");
	if (ex != 0)
		return ex < 0 ? 0 : ex;
	/* VALUE is JSON if it parses as JSON (3, true, {"a":1}, "text"), else a
	 * plain string. */
	json_t *v = json_loads(a[3], JSON_DECODE_ANY, NULL);
	if (v == NULL)
		v = json_string(a[3]);
	if (v == NULL)
		return cli_usage(c, "VALUE must be JSON or UTF-8 text");
	char *value = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(v);
	if (value == NULL)
		return cli_fail(CLI_EXIT_FAIL, "out of memory");
	ex = cli_open_store(c);
	if (ex == 0) {
		int rc = veld_conflict_resolve(c->store, a[0], a[1], a[2], value, c->purpose);
		if (rc != VELD_OK)
			ex = cli_api_error(rc);
		else if (c->json) {
			json_t *r = json_pack("{s:s, s:s, s:s, s:b}", "kind", a[0], "id", a[1],
				"field", a[2], "resolved", 1);
			cli_print_json(r);
			json_decref(r);
		} else
			printf("resolved %s %s %s\n", a[0], a[1], a[2]);
	}
	free(value);
	return ex;
}

/* ---- access log ---------------------------------------------------------- */

/* s with control characters as '?', in buf (cut to fit); NULL stays NULL. */
static const char *printable(const char *s, char *buf, size_t cap)
{
	size_t i = 0;
	if (s == NULL)
		return NULL;
	for (; s[i] && i + 1 < cap; i++)
		buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	buf[i] = 0;
	return buf;
}

/* `veld log show`, this store's own log, and `veld office log`, every
 * device's log as the office received it (with --device). */
static int log_show(cli *c, int argc, char **argv, int office)
{
	static const struct option opts[] = {
		{"client", required_argument, NULL, O_CLIENT},
		{"limit", required_argument, NULL, O_LIMIT},
		{"device", required_argument, NULL, O_DEVICE},
		{NULL, 0, NULL, 0}
	};
	const char *client = NULL, *device = NULL;
	long long limit = 0;
	cli_opts it;
	int o;
	cli_opts_begin(&it, c, argc, argv, opts);
	while ((o = cli_opts_next(&it)) != -1) {
		switch (o) {
		case CLI_OPT_HELP: return 0;
		case CLI_OPT_ERROR: return CLI_EXIT_USAGE;
		case CLI_OPT_ARG: return cli_usage(c, "unexpected argument");
		case O_CLIENT: client = it.optarg; break;
		case O_DEVICE:
			if (!office)
				return cli_usage(c, "--device is for `veld office log`");
			device = it.optarg;
			break;
		case O_LIMIT:
			if (!cli_parse_int(it.optarg, 1, 1000000000, &limit))
				return cli_usage(c, "--limit needs a positive number");
			break;
		}
	}
	int ex = cli_open_store(c);
	if (ex != 0)
		return ex;
	/* The log keeps entries of erased clients too, so a client id is
	 * passed as given, not resolved through the (shredded) record. */
	json_t *filter = json_object();
	if (client != NULL)
		json_object_set_new(filter, "client", json_string(client));
	if (device != NULL)
		json_object_set_new(filter, "device", json_string(device));
	if (limit > 0)
		json_object_set_new(filter, "limit", json_integer(limit));
	char *in = json_object_size(filter) ? json_dumps(filter, JSON_COMPACT) : NULL, *text = NULL;
	json_decref(filter);
	int rc = office ? veld_office_log(c->store, in, &text) : veld_audit_list(c->store, in, &text);
	free(in);
	if (rc != VELD_OK) {
		cli_free_text(text);
		return cli_api_error(rc);
	}
	json_t *list = cli_parse(text);
	cli_free_text(text);
	if (list == NULL)
		return CLI_EXIT_FAIL;
	if (c->json) {
		cli_print_json(list);
	} else if (json_array_size(list) == 0) {
		puts("no access log entries");
	} else {
		size_t i;
		const json_t *e;
		printf("%-6s %-24s %-16s %-8s %-8s %-12s %-8s %-8s %s\n", "SEQ", "AT", "EVENT",
			"OUTCOME", "CLIENT", "USER", "ROLE", "DEVICE", "PURPOSE");
		json_array_foreach(list, i, e) {
			char cid[16], dev[16], sev[40], sout[40], su[80], sr[80], sp[1100];
			/* Other devices wrote these: no control codes reach the terminal. */
			const char *at = cli_str(e, "at"),
				*ev = printable(cli_str(e, "event"), sev, sizeof sev),
				*out = printable(cli_str(e, "outcome"), sout, sizeof sout),
				*u = printable(cli_str(e, "user"), su, sizeof su),
				*r = printable(cli_str(e, "role"), sr, sizeof sr),
				*p = printable(cli_str(e, "purpose"), sp, sizeof sp);
			const json_t *seq = json_object_get(e, "seq");
			printf("%-6" JSON_INTEGER_FORMAT " %-24s %-16s %-8s %-8s %-12s %-8s %-8s %s\n",
				json_is_integer(seq) ? json_integer_value(seq) : 0, at ? at : "-",
				ev ? ev : "-", out ? out : "-",
				cli_str(e, "client") ? cli_short_id(cli_str(e, "client"), cid) : "-",
				u ? u : "-", r ? r : "-", cli_short_id(cli_str(e, "device"), dev),
				p ? p : "-");
		}
	}
	json_decref(list);
	return 0;
}

int cmd_log_show(cli *c, int argc, char **argv)
{
	return log_show(c, argc, argv, 0);
}

int cmd_office_log(cli *c, int argc, char **argv)
{
	if (c->role == NULL || strcmp(c->role, "worker") == 0)
		c->role = "office";
	return log_show(c, argc, argv, 1);
}

int cmd_log_verify(cli *c, int argc, char **argv)
{
	int ex = plain_args(c, argc, argv, 0, NULL, "");
	if (ex != 0)
		return ex < 0 ? 0 : ex;
	if ((ex = cli_open_store(c)) != 0)
		return ex;
	uint64_t n = 0;
	int rc = veld_audit_verify(c->store, &n);
	if (rc != VELD_OK)
		return cli_api_error(rc);
	if (c->json)
		printf("{\n  \"ok\": true,\n  \"entries\": %llu\n}\n", (unsigned long long)n);
	else
		printf("access log intact: %llu entries\n", (unsigned long long)n);
	return 0;
}

/* ---- retention ----------------------------------------------------------- */

int cmd_policy_show(cli *c, int argc, char **argv)
{
	int ex = plain_args(c, argc, argv, 0, NULL, "");
	if (ex != 0)
		return ex < 0 ? 0 : ex;
	if ((ex = cli_open_store(c)) != 0)
		return ex;
	char *text = NULL;
	int rc = veld_retention_get(c->store, &text);
	if (rc != VELD_OK) {
		cli_free_text(text);
		return cli_api_error(rc);
	}
	json_t *list = cli_parse(text);
	cli_free_text(text);
	if (list == NULL)
		return CLI_EXIT_FAIL;
	if (c->json) {
		cli_print_json(list);
	} else {
		size_t i;
		const json_t *e;
		printf("%-8s %7s  %s\n", "KIND", "DAYS", "BASIS");
		json_array_foreach(list, i, e) {
			const char *k = cli_str(e, "kind"), *b = cli_str(e, "basis");
			const json_t *d = json_object_get(e, "days");
			printf("%-8s %7" JSON_INTEGER_FORMAT "  %s\n", k ? k : "-",
				json_is_integer(d) ? json_integer_value(d) : 0, b ? b : "");
		}
	}
	json_decref(list);
	return 0;
}

int cmd_policy_set(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"basis", required_argument, NULL, O_BASIS},
		{NULL, 0, NULL, 0}
	};
	const char *args[2] = {NULL, NULL}, *basis = NULL;
	int n = 0;
	long long days;
	cli_opts it;
	int o;
	cli_opts_begin(&it, c, argc, argv, opts);
	while ((o = cli_opts_next(&it)) != -1) {
		switch (o) {
		case CLI_OPT_HELP: return 0;
		case CLI_OPT_ERROR: return CLI_EXIT_USAGE;
		case CLI_OPT_ARG:
			if (n == 2)
				return cli_usage(c, "too many arguments");
			args[n++] = it.optarg;
			break;
		case O_BASIS: basis = it.optarg; break;
		}
	}
	if (n < 2)
		return cli_usage(c, "give the record kind and the number of days");
	/* 200 years is past any legal retention term. */
	if (!cli_parse_int(args[1], 0, 73050, &days))
		return cli_usage(c, "DAYS must be a whole number of days from 0 to 73050");
	int ex = cli_open_store(c);
	if (ex != 0)
		return ex;
	int rc = veld_retention_set(c->store, args[0], days, basis);
	if (rc != VELD_OK)
		return cli_api_error(rc);
	if (c->json) {
		json_t *r = json_pack("{s:s, s:I, s:s?}", "kind", args[0], "days", (json_int_t)days,
			"basis", basis);
		cli_print_json(r);
		json_decref(r);
	} else {
		printf("retention for %s: %lld days after the case ends\n", args[0], days);
	}
	return 0;
}

int cmd_purge(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"dry-run", no_argument, NULL, O_DRY_RUN},
		{"now", required_argument, NULL, O_NOW},
		{NULL, 0, NULL, 0}
	};
	bool dry_run = false;
	int64_t now = 0;
	cli_opts it;
	int o;
	cli_opts_begin(&it, c, argc, argv, opts);
	while ((o = cli_opts_next(&it)) != -1) {
		switch (o) {
		case CLI_OPT_HELP: return 0;
		case CLI_OPT_ERROR: return CLI_EXIT_USAGE;
		case CLI_OPT_ARG: return cli_usage(c, "unexpected argument");
		case O_DRY_RUN: dry_run = true; break;
		case O_NOW: {
			/* A date as "today" for the policy, at 00:00 UTC. */
			if (!cli_valid_date(it.optarg))
				return cli_usage(c, "--now needs a date as YYYY-MM-DD");
			struct tm tm;
			memset(&tm, 0, sizeof tm);
			tm.tm_year = atoi(it.optarg) - 1900;
			tm.tm_mon = atoi(it.optarg + 5) - 1;
			tm.tm_mday = atoi(it.optarg + 8);
			now = (int64_t)timegm(&tm);
			if (now <= 0)
				return cli_usage(c, "--now must be after 1970-01-01");
			break;
		}
		}
	}
	int ex = cli_open_store(c);
	if (ex != 0)
		return ex;
	char *text = NULL;
	int rc = veld_retention_purge(c->store, now, dry_run, &text);
	if (rc != VELD_OK) {
		cli_free_text(text);
		return cli_api_error(rc);
	}
	if (c->json) {
		ex = cli_print_json_text(text);
	} else {
		/* {"dry_run":b,"removed":[{"client","removed","case_ended_days_ago"}]} */
		json_t *rep = cli_parse(text);
		const json_t *items = json_object_get(rep, "removed");
		if (rep == NULL) {
			ex = CLI_EXIT_FAIL;
		} else if (json_array_size(items) == 0) {
			puts("nothing to purge: no retention period has ended");
		} else {
			size_t i;
			const json_t *e;
			puts(dry_run ? "dry run: nothing was removed; a purge would remove:"
				: "removed:");
			printf("%-8s  %-24s  %s\n", "CLIENT", "WHAT", "CASE ENDED");
			json_array_foreach(items, i, e) {
				char cid[16];
				const char *what = cli_str(e, "removed");
				const json_t *ago = json_object_get(e, "case_ended_days_ago");
				printf("%-8s  %-24s  %" JSON_INTEGER_FORMAT " days ago\n",
					cli_short_id(cli_str(e, "client"), cid), what ? what : "-",
					json_is_integer(ago) ? json_integer_value(ago) : 0);
			}
		}
		json_decref(rep);
	}
	cli_free_text(text);
	return ex;
}
