/*
 * due.c - `veld due` and `veld office due`: what is due for the worker's
 * own clients, or for a team's clients per worker (veld_due), grouped by
 * date with what is overdue first.
 *
 * The API answers with ids only. The list shows each client by name, read
 * with veld_record_get as `veld client show` reads it, so each client in
 * the list gets a second read in the access log: the one veld_due logs
 * for computing, and this one for showing the name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* What each rule's item says, in the order of the rules in docs/cli.md. */
static const struct {
	const char *rule, *label;
} labels[] = {
	{"visit_planned", "planned visit"},
	{"goal_review", "goal review"},
	{"woonkompas_review", "Woonkompas review"},
	{"escalation_step", "escalation step"},
	{"action", "agreed action"},
	{"standing_decision_ending", "standing decision ends"},
	{"own_name_move", "tenancy to own name"},
	{"time_out_overdue", "time-out: agreed days up"},
	{"not_seen", "not seen for 30 days"},
	{"signal_without_follow_up", "signal without follow-up"},
};

static const char *label_of(const char *rule)
{
	for (size_t i = 0; rule != NULL && i < sizeof labels / sizeof labels[0]; i++)
		if (strcmp(labels[i].rule, rule) == 0)
			return labels[i].label;
	return rule != NULL ? rule : "-";
}

/* {client id: name} of the clients the items name. A client that cannot
 * be read now (erased since) is shown by its id only. */
static json_t *client_names(cli *c, const json_t *items)
{
	json_t *names = json_object();
	const json_t *it;
	size_t i;
	json_array_foreach(items, i, it) {
		const char *id = cli_str(it, "client");
		char *text = NULL;
		if (id == NULL || json_object_get(names, id) != NULL)
			continue;
		if (veld_record_get(c->store, "client", id, c->purpose, &text) == VELD_OK) {
			json_t *rec = json_loads(text, 0, NULL);
			const char *name = cli_str(rec, "name");
			json_object_set_new(names, id, json_string(name != NULL ? name : ""));
			json_decref(rec);
		} else {
			json_object_set_new(names, id, json_string(""));
		}
		cli_free_text(text);
	}
	return names;
}

/* "today", "tomorrow", "in 3 days", "2 days ago" (an item not overdue
 * yet: a signal is overdue after two days), "5 days late". */
static const char *when(json_int_t days, bool overdue, char *buf, size_t n)
{
	if (overdue)
		snprintf(buf, n, "%lld day%s late", (long long)-days, days == -1 ? "" : "s");
	else if (days == 0)
		snprintf(buf, n, "today");
	else if (days == 1)
		snprintf(buf, n, "tomorrow");
	else if (days > 0)
		snprintf(buf, n, "in %lld days", (long long)days);
	else
		snprintf(buf, n, "%lld day%s ago", (long long)-days, days == -1 ? "" : "s");
	return buf;
}

/* The client (name and short id), what is due, and the record it is about
 * (none when that is the client itself). */
static void item_line(const json_t *it, const json_t *names, const char *indent)
{
	const char *client = cli_str(it, "client"), *type = cli_str(it, "type");
	const char *name = json_string_value(json_object_get(names, client != NULL ? client : ""));
	char cid[16], rid[16];
	printf("%s", indent);
	cli_print_cut(name != NULL && *name != '\0' ? name : "?", 24, true);
	printf(" %-8s  ", cli_short_id(client, cid));
	if (type != NULL && strcmp(type, "client") != 0)
		printf("%-26s  %s %s", label_of(cli_str(it, "kind")), type,
			cli_short_id(cli_str(it, "record"), rid));
	else
		fputs(label_of(cli_str(it, "kind")), stdout);
	fputc('\n', stdout);
}

/* The items, overdue ones first, then one group per date. */
static void print_items(const json_t *items, const json_t *names, const char *indent)
{
	const json_t *it;
	const char *date = NULL;
	char w[32], sub[16];
	size_t i;
	bool any = false;
	snprintf(sub, sizeof sub, "%s  ", indent);
	json_array_foreach(items, i, it) {
		if (!json_is_true(json_object_get(it, "overdue")))
			continue;
		if (!any)
			printf("%sOVERDUE\n", indent);
		any = true;
		printf("%s%s  %-13s  ", sub, cli_str(it, "due"),
			when(cli_int(it, "days"), true, w, sizeof w));
		item_line(it, names, "");
	}
	json_array_foreach(items, i, it) {
		const char *due = cli_str(it, "due");
		if (json_is_true(json_object_get(it, "overdue")) || due == NULL)
			continue;
		if (date == NULL || strcmp(date, due) != 0)
			printf("%s%s  %s\n", indent, due, when(cli_int(it, "days"), false, w, sizeof w));
		date = due;
		item_line(it, names, sub);
	}
}

/* The window asked for: "2026-11-22 to 2026-12-06". */
static void print_window(const json_t *ans)
{
	char last[16] = "?";
	const char *today = cli_str(ans, "today");
	int y, m, d;
	long long days = (long long)cli_int(ans, "days");
	if (today != NULL && sscanf(today, "%4d-%2d-%2d", &y, &m, &d) == 3) {
		/* Noon UTC, so no leap second or zone moves the day. */
		struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_hour = 12};
		time_t t = timegm(&tm) + (time_t)days * 86400;
		strftime(last, sizeof last, "%Y-%m-%d", gmtime_r(&t, &tm));
	}
	printf("%s to %s", today != NULL ? today : "?", last);
}

static int show_due(cli *c, const json_t *ans, const void *payload)
{
	if (ans == NULL)
		return CLI_EXIT_FAIL;
	const json_t *items = json_object_get(ans, "items");
	bool all = *(const bool *)payload;
	long long n = (long long)cli_int(ans, "clients");
	printf("due for %s, ", all ? "every client" : c->user);
	print_window(ans);
	printf(": %zu item%s, %lld client%s\n", json_array_size(items),
		json_array_size(items) == 1 ? "" : "s", n, n == 1 ? "" : "s");
	if (json_array_size(items) == 0)
		return 0;
	json_t *names = client_names(c, items);
	fputc('\n', stdout);
	print_items(items, names, "");
	json_decref(names);
	return 0;
}

static int show_team(cli *c, const json_t *ans, const void *payload)
{
	const json_t *g;
	size_t i;
	if (ans == NULL)
		return CLI_EXIT_FAIL;
	json_t *names = client_names(c, json_object_get(ans, "items"));
	printf("due for team %s, ", (const char *)payload);
	print_window(ans);
	long long all = (long long)cli_int(ans, "clients");
	printf(": %lld client%s\n", all, all == 1 ? "" : "s");
	json_array_foreach(json_object_get(ans, "by_worker"), i, g) {
		const char *w = cli_str(g, "worker");
		const json_t *items = json_object_get(g, "items");
		long long n = (long long)cli_int(g, "clients");
		printf("\n%s: %lld client%s, %zu item%s\n", w != NULL && *w ? w : "(no contact person)",
			n, n == 1 ? "" : "s", json_array_size(items), json_array_size(items) == 1 ? "" : "s");
		print_items(items, names, "  ");
	}
	json_decref(names);
	return 0;
}

/* The input of veld_due from the line: --days and --today if given. */
static char *due_input(const cli_line *l, json_t *in)
{
	const char *today = cli_opt(l, "today");
	if (cli_opt(l, "days") != NULL)
		json_object_set_new(in, "days", json_integer(cli_num(l, "days")));
	if (today != NULL)
		json_object_set_new(in, "today", json_string(today));
	char *text = json_dumps(in, JSON_COMPACT);
	json_decref(in);
	return text;
}

static int run_due(cli *c, char *input, int (*show)(cli *, const json_t *, const void *),
	const void *payload)
{
	char *text = NULL;
	int ex = input != NULL ? cli_open_store(c) : cli_fail(CLI_EXIT_FAIL, "out of memory");
	if (ex == 0)
		ex = cli_show(c, veld_due(c->store, input, c->purpose, &text), &text, show, payload);
	free(input);
	return ex;
}

int cmd_due(cli *c, const cli_line *l)
{
	bool all = cli_flag(l, "all");
	return run_due(c, due_input(l, json_pack("{s:b}", "all", all)), show_due, &all);
}

int cmd_office_due(cli *c, const cli_line *l)
{
	const char *team = cli_opt(l, "team");
	if (team == NULL)
		return cli_usage(c, "which team? give --team T");
	return run_due(c, due_input(l, json_pack("{s:s,s:b,s:b}", "team", team, "all", 1,
		"by_worker", 1)), show_team, team);
}
