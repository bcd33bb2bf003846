/*
 * admin.c - the store commands: init, passwd, info, verify, domains,
 * conflicts, resolve, log, policy and purge.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

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

/* ---- init, passwd --------------------------------------------------------- */

static int show_created(cli *c, const json_t *info, const void *payload)
{
	const char *dev = cli_str(info, "device"), *t = cli_str(info, "team");
	printf("created a veld store in %s\n", c->store_dir);
	if (dev != NULL)
		printf("device %s, team %s\n", dev, t != NULL ? t : "-");
	return 0;
}

int cmd_init(cli *c, const cli_line *l)
{
	char *text = NULL;
	int ex = cli_create_store(c, l, cli_opt(l, "team"), false);
	if (ex != 0)
		return ex;
	return cli_show(c, veld_store_info(c->store, &text), &text, show_created, NULL);
}

int cmd_passwd(cli *c, const cli_line *l)
{
	int new_fd = cli_opt(l, "new-passphrase-fd") ? (int)cli_num(l, "new-passphrase-fd") : -1;
	/* The old passphrase both opens the store and authorises the change, so
	 * it stays in its guarded buffer until the change is done. */
	cli_pass old, new_pass;
	int ex = cli_open_store_asking(c, "Current passphrase: ", &old);
	if (ex == 0)
		ex = cli_pass_read(&new_pass, new_fd, "VELD_NEW_PASSPHRASE",
			"New passphrase: ", true, CLI_PASS_MIN);
	if (ex == 0) {
		int rc = veld_store_change_passphrase(c->store, old.buf, old.len,
			new_pass.buf, new_pass.len);
		cli_pass_free(&new_pass);
		ex = rc != VELD_OK ? cli_api_error(rc)
			: cli_emit(c, json_pack("{s:b}", "changed", 1), "passphrase changed\n");
	}
	cli_pass_free(&old);
	return ex;
}

/* ---- info, verify, domains ---------------------------------------------- */

static int show_info(cli *c, const json_t *info, const void *payload)
{
	if (info == NULL)
		return CLI_EXIT_FAIL;
	printf("%-16s %s\n", "store", c->store_dir);
	print_pairs(info);
	return 0;
}

int cmd_info(cli *c, const cli_line *l)
{
	char *text = NULL;
	int ex = cli_open_store(c);
	if (ex != 0)
		return ex;
	return cli_show(c, veld_store_info(c->store, &text), &text, show_info, NULL);
}

int cmd_verify(cli *c, const cli_line *l)
{
	int ex = cli_open_store(c);
	if (ex != 0)
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

int cli_zrm_domains(cli *c, json_t **domains)
{
	const char *version;
	json_t *schema;
	*domains = NULL;
	int ex = cli_schema_load(c, &schema);
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

int cmd_domains(cli *c, const cli_line *l)
{
	json_t *schema;
	const char *version;
	int ex = cli_schema_load(c, &schema);
	if (ex != 0)
		return ex;
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

/* One conflict as a block: every competing value with when and on which
 * device it was written; * marks the value shown now (the same on every
 * replica). `self` is this device's id. */
static void conflict_row(const json_t *e, const void *self)
{
	char id[16], cid[16];
	const char *k = cli_str(e, "type"), *f = cli_str(e, "field");
	size_t j;
	const json_t *v;
	printf("%s %s  field %s  (client %s)\n", k ? k : "-", cli_short_id(cli_str(e, "id"), id),
		f ? f : "-", cli_short_id(cli_str(e, "client"), cid));
	json_array_foreach(json_object_get(e, "values"), j, v) {
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
		printf("   %.10s %.8s UTC   device %s%s\n", at ? at : "",
			at && strlen(at) > 11 ? at + 11 : "", cli_short_id(dev, did),
			dev && strcmp(dev, self) == 0 ? " (this device)" : "");
	}
}

int cmd_conflicts(cli *c, const cli_line *l)
{
	json_t *list;
	char self[40] = "", *text = NULL;
	int ex = cli_open_store(c);
	if (ex != 0 ||
	    (ex = cli_take_json(veld_conflicts_list(c->store, c->purpose, &text), &text, &list)) != 0)
		return ex;
	bool blocks = !c->json && json_array_size(list) > 0;
	if (blocks) {
		char *info = NULL;
		if (veld_store_info(c->store, &info) == VELD_OK) {
			json_t *ij = cli_parse(info);
			snprintf(self, sizeof self, "%s", cli_str(ij, "device") ? cli_str(ij, "device") : "");
			json_decref(ij);
		}
		veld_free(info);
	}
	cli_table(c, list, "no conflicts", "", conflict_row, self);
	if (blocks)
		puts("* = shown now. Resolve with: veld resolve KIND ID FIELD VALUE");
	return 0;
}

int cmd_resolve(cli *c, const cli_line *l)
{
	const char *const *a = l->arg;
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
	int ex = cli_open_store(c);
	if (ex == 0) {
		int rc = veld_conflict_resolve(c->store, a[0], a[1], a[2], value, c->purpose);
		ex = rc != VELD_OK ? cli_api_error(rc)
			: cli_emit(c, json_pack("{s:s, s:s, s:s, s:b}", "kind", a[0], "id", a[1],
				"field", a[2], "resolved", 1), "resolved %s %s %s\n", a[0], a[1], a[2]);
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

static void log_row(const json_t *e, const void *payload)
{
	char cid[16], dev[16], sev[40], sout[40], su[80], sr[80], sp[1100];
	/* Other devices wrote these: no control codes reach the terminal. */
	const char *at = cli_str(e, "at"), *ev = printable(cli_str(e, "event"), sev, sizeof sev),
		*out = printable(cli_str(e, "outcome"), sout, sizeof sout),
		*u = printable(cli_str(e, "user"), su, sizeof su),
		*r = printable(cli_str(e, "role"), sr, sizeof sr),
		*p = printable(cli_str(e, "purpose"), sp, sizeof sp);
	printf("%-6" JSON_INTEGER_FORMAT " %-24s %-16s %-8s %-8s %-12s %-8s %-8s %s\n",
		cli_int(e, "seq"), at ? at : "-", ev ? ev : "-", out ? out : "-",
		cli_str(e, "client") ? cli_short_id(cli_str(e, "client"), cid) : "-",
		u ? u : "-", r ? r : "-", cli_short_id(cli_str(e, "device"), dev), p ? p : "-");
}

/* `veld log show`, this store's own log, and `veld office log`, every
 * device's log as the office received it (with --device). */
int cmd_log_show(cli *c, const cli_line *l)
{
	const char *client = cli_opt(l, "client"), *device = cli_opt(l, "device");
	char *in, *text = NULL;
	json_t *list;
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
	if (cli_num(l, "limit") > 0)
		json_object_set_new(filter, "limit", json_integer(cli_num(l, "limit")));
	in = json_object_size(filter) ? json_dumps(filter, JSON_COMPACT) : NULL;
	json_decref(filter);
	int rc = l->cmd->office ? veld_office_log(c->store, in, &text)
		: veld_audit_list(c->store, in, &text);
	free(in);
	if ((ex = cli_take_json(rc, &text, &list)) != 0)
		return ex;
	return cli_table(c, list, "no access log entries", "SEQ    AT                       "
		"EVENT            OUTCOME  CLIENT   USER         ROLE     DEVICE   PURPOSE\n",
		log_row, NULL);
}

static void quarantine_row(const json_t *e, const void *payload)
{
	char dev[16], cid[16], what[40], kind[40], field[80], why[200];
	const char *at = cli_str(e, "at"), *w = printable(cli_str(e, "what"), what, sizeof what),
		*k = printable(cli_str(e, "kind"), kind, sizeof kind),
		*f = printable(cli_str(e, "field"), field, sizeof field),
		*r = printable(cli_str(e, "reason"), why, sizeof why);
	(void)payload;
	printf("%-24s %-9s %-8s %-6" JSON_INTEGER_FORMAT " %-8s %-8s %-14s %s\n", at ? at : "-",
		w ? w : "-", cli_str(e, "device") ? cli_short_id(cli_str(e, "device"), dev) : "-",
		cli_int(e, "seq"), cli_str(e, "client") ? cli_short_id(cli_str(e, "client"), cid) : "-",
		k ? k : "-", f ? f : "-", r ? r : "-");
}

/* `veld quarantine` and `veld office quarantine`: what sync kept aside,
 * with the device that wrote it. */
int cmd_quarantine(cli *c, const cli_line *l)
{
	char *text = NULL;
	json_t *list;
	int ex = cli_open_store(c);
	(void)l;
	if (ex != 0)
		return ex;
	if ((ex = cli_take_json(veld_quarantine_list(c->store, &text), &text, &list)) != 0)
		return ex;
	return cli_table(c, list, "nothing in quarantine", "AT                       WHAT      "
		"DEVICE   SEQ    CLIENT   KIND     FIELD          REASON\n", quarantine_row, NULL);
}

int cmd_log_verify(cli *c, const cli_line *l)
{
	uint64_t n = 0;
	int ex = cli_open_store(c);
	if (ex != 0)
		return ex;
	int rc = veld_audit_verify(c->store, &n);
	if (rc != VELD_OK)
		return cli_api_error(rc);
	return cli_emit(c, json_pack("{s:b, s:I}", "ok", 1, "entries", (json_int_t)n),
		"access log intact: %llu entries\n", (unsigned long long)n);
}

/* ---- retention ----------------------------------------------------------- */

static void retention_row(const json_t *e, const void *payload)
{
	const char *k = cli_str(e, "kind"), *b = cli_str(e, "basis");
	printf("%-8s %7" JSON_INTEGER_FORMAT "  %s\n", k ? k : "-", cli_int(e, "days"), b ? b : "");
}

int cmd_policy_show(cli *c, const cli_line *l)
{
	json_t *list;
	char *text = NULL;
	int ex = cli_open_store(c);
	if (ex != 0 ||
	    (ex = cli_take_json(veld_retention_get(c->store, &text), &text, &list)) != 0)
		return ex;
	return cli_table(c, list, NULL, "KIND        DAYS  BASIS\n", retention_row, NULL);
}

int cmd_policy_set(cli *c, const cli_line *l)
{
	const char *kind = l->arg[0], *basis = cli_opt(l, "basis");
	long long days;
	/* 200 years is past any legal retention term. */
	if (!cli_parse_int(l->arg[1], 0, 73050, &days))
		return cli_usage(c, "DAYS must be a whole number of days from 0 to 73050");
	int ex = cli_open_store(c);
	if (ex != 0)
		return ex;
	int rc = veld_retention_set(c->store, kind, days, basis);
	if (rc != VELD_OK)
		return cli_api_error(rc);
	return cli_emit(c, json_pack("{s:s, s:I, s:s?}", "kind", kind, "days", (json_int_t)days,
		"basis", basis), "retention for %s: %lld days after the case ends\n", kind, days);
}

static void purge_row(const json_t *e, const void *payload)
{
	char cid[16];
	const char *what = cli_str(e, "removed");
	printf("%-8s  %-24s  %" JSON_INTEGER_FORMAT " days ago\n",
		cli_short_id(cli_str(e, "client"), cid), what ? what : "-",
		cli_int(e, "case_ended_days_ago"));
}

int cmd_purge(cli *c, const cli_line *l)
{
	bool dry_run = cli_flag(l, "dry-run");
	char *text = NULL;
	json_t *rep = NULL, *items;
	int ex = cli_open_store(c);
	if (ex != 0)
		return ex;
	int rc = veld_retention_purge(c->store, cli_num(l, "now"), dry_run, &text);
	if (rc == VELD_OK && c->json) {
		ex = cli_print_json_text(text);
		cli_free_text(text);
		return ex;
	}
	if ((ex = cli_take_json(rc, &text, &rep)) != 0)
		return ex;
	/* {"dry_run":b,"removed":[{"client","removed","case_ended_days_ago"}]} */
	items = json_incref(json_object_get(rep, "removed"));
	json_decref(rep);
	if (json_array_size(items) > 0)
		puts(dry_run ? "dry run: nothing was removed; a purge would remove:" : "removed:");
	return cli_table(c, items, "nothing to purge: no retention period has ended",
		"CLIENT    WHAT                      CASE ENDED\n", purge_row, NULL);
}
