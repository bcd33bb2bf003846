/*
 * api.c - the console's JSON endpoints: one table, one small function each.
 *
 * Every endpoint is a thin layer over the store API, called the way the
 * matching CLI command calls it (same user, role and purpose from the
 * command line), so the access log cannot tell the console from the CLI:
 * a page that shows a client's name reads that client, as `veld office
 * due` does. What the browser gets is what the office may read anyway;
 * error messages are veld_error_last(), which never holds a value.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "console.h"

/* ---- helpers ---------------------------------------------------------------------- */

static unsigned status_of(int rc)
{
	switch (rc) {
	case VELD_EINVAL: return 400;
	case VELD_EPERM: return 403;
	case VELD_ENOTFOUND: return 404;
	case VELD_EEXISTS: return 409;
	case VELD_ESHREDDED: return 410;
	case VELD_ENET: case VELD_EPROTO: return 502;
	default: return 500;
	}
}

/* A JSON text of `v` (taken), for the API's input; NULL without memory. */
static char *dump(json_t *v)
{
	char *text = v != NULL ? json_dumps(v, JSON_COMPACT) : NULL;
	json_decref(v);
	return text;
}

/* What the API returned: *text parsed into *v (new reference) and wiped.
 * 0, or the error's status with *out set. */
static unsigned take(int rc, char **text, json_t **v, json_t **out)
{
	*v = NULL;
	if (rc == VELD_OK && (*v = json_loads(*text != NULL ? *text : "", 0, NULL)) == NULL)
		rc = VELD_ERROR;
	cli_free_text(*text);
	*text = NULL;
	if (rc == VELD_OK)
		return 0;
	return console_error(out, status_of(rc), "%s", *veld_error_last() ? veld_error_last()
		: veld_strerror(rc));
}

/* A list of `kind` for `client` (NULL: every client), as veld_record_list
 * reads it; 0 or an error status with *out set. */
static unsigned list(const console_call *k, const char *kind, const char *client, json_t **v,
	json_t **out)
{
	char *filter = client != NULL ? dump(json_pack("{s:s}", "client", client)) : NULL,
		*text = NULL;
	unsigned st;
	if (client != NULL && filter == NULL)
		return console_error(out, 500, "out of memory");
	st = take(veld_record_list(k->c->store, kind, filter, k->c->purpose, &text), &text, v, out);
	free(filter);
	return st;
}

/* The client's name, read as `veld client show` reads it ("" when it
 * cannot be read, erased since). */
static json_t *name_of(const console_call *k, const char *client)
{
	char *text = NULL;
	json_t *rec = NULL, *name;
	if (client != NULL &&
	    veld_record_get(k->c->store, "client", client, k->c->purpose, &text) == VELD_OK)
		rec = json_loads(text, 0, NULL);
	cli_free_text(text);
	name = json_string(cli_str(rec, "name") ? cli_str(rec, "name") : "");
	json_decref(rec);
	return name;
}

/* {client id: name} of every "client" member of the objects in `items`. */
static json_t *names_of(const console_call *k, const json_t *items)
{
	json_t *names = json_object();
	const json_t *it;
	size_t i;
	json_array_foreach(items, i, it) {
		const char *id = cli_str(it, "client");
		if (id != NULL && json_object_get(names, id) == NULL)
			json_object_set_new(names, id, name_of(k, id));
	}
	return names;
}

static const char *body_str(const console_call *k, const char *key)
{
	const char *s = json_string_value(json_object_get(k->body, key));
	return s != NULL && *s != '\0' ? s : NULL;
}

static int day_number(const char *iso)
{
	int y, m, d;
	if (iso == NULL || sscanf(iso, "%4d-%2d-%2d", &y, &m, &d) != 3)
		return 0;
	struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_hour = 12};
	return (int)(timegm(&tm) / 86400);
}

/* ---- signals ---------------------------------------------------------------------- */

static int severity_rank(const json_t *s)
{
	static const char *const order[] = {"critical", "high", "medium", "low"};
	const char *v = cli_str(s, "severity");
	for (int i = 0; v != NULL && i < 4; i++)
		if (strcmp(order[i], v) == 0)
			return i;
	return 4;
}

/* Most severe first; of the same severity, the oldest. */
static int signal_order(const void *a, const void *b)
{
	const json_t *x = *(const json_t *const *)a, *y = *(const json_t *const *)b;
	int d = severity_rank(x) - severity_rank(y);
	if (d != 0)
		return d;
	const char *cx = cli_str(x, "created"), *cy = cli_str(y, "created");
	return strcmp(cx ? cx : "", cy ? cy : "");
}

/* The newest step of the escalation that follows the signal up, if any. */
static const json_t *signal_step(const char *signal, const json_t *escalations,
	const json_t *steps)
{
	const json_t *e, *s, *best = NULL;
	size_t i, j;
	json_array_foreach(escalations, i, e) {
		const char *sig = cli_str(e, "signal"), *eid = cli_str(e, "id");
		if (sig == NULL || eid == NULL || strcmp(sig, signal) != 0)
			continue;
		json_array_foreach(steps, j, s) {
			const char *of = cli_str(s, "escalation"), *d = cli_str(s, "date");
			if (of != NULL && strcmp(of, eid) == 0 && d != NULL &&
			    (best == NULL || strcmp(d, cli_str(best, "date")) > 0))
				best = s;
		}
	}
	return best;
}

static unsigned api_signals(const console_call *k, json_t **out)
{
	json_t *sig, *esc = NULL, *steps = NULL, *rows, *names;
	unsigned st;
	size_t i, n = 0;
	const json_t *s;
	char today[16];
	if ((st = list(k, "signal", NULL, &sig, out)) != 0)
		return st;
	if ((st = list(k, "escalation", NULL, &esc, out)) != 0 ||
	    (st = list(k, "escalation_step", NULL, &steps, out)) != 0) {
		json_decref(sig);
		json_decref(esc);
		return st;
	}
	const json_t **open = calloc(json_array_size(sig) + 1, sizeof *open);
	json_array_foreach(sig, i, s)
		if (open != NULL && (cli_str(s, "status") == NULL ||
		                     strcmp(cli_str(s, "status"), "open") == 0))
			open[n++] = s;
	if (open != NULL)
		qsort(open, n, sizeof *open, signal_order);
	cli_today(today, sizeof today);
	rows = json_array();
	for (i = 0; open != NULL && i < n; i++) {
		const json_t *step = signal_step(cli_str(open[i], "id"), esc, steps);
		json_t *row = json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:i, s:O?, s:O?, "
			"s:O?}", "id", json_object_get(open[i], "id"),
			"client", json_object_get(open[i], "client"),
			"team", json_object_get(open[i], "team"),
			"kind", json_object_get(open[i], "kind"),
			"severity", json_object_get(open[i], "severity"),
			"created", json_object_get(open[i], "created"),
			"follow_up", json_object_get(open[i], "follow_up"),
			"age_days", day_number(today) - day_number(cli_str(open[i], "created")),
			"step", json_object_get(step, "step"), "step_date", json_object_get(step, "date"),
			"owner", json_object_get(step, "owner"));
		json_array_append_new(rows, row);
	}
	free(open);
	names = names_of(k, rows);
	*out = json_pack("{s:o, s:o}", "signals", rows, "names", names);
	json_decref(sig);
	json_decref(esc);
	json_decref(steps);
	return 200;
}

/* ---- the team lead's view ---------------------------------------------------------- */

static unsigned api_due(const console_call *k, json_t **out)
{
	const char *team = k->arg(k, "team"), *days = k->arg(k, "days");
	long long n = 14;
	char *in, *text = NULL;
	json_t *due;
	unsigned st;
	if (team == NULL)
		return console_error(out, 400, "which team? give team=T");
	if (days != NULL && !cli_parse_int(days, 0, 366, &n))
		return console_error(out, 400, "days is a whole number from 0 to 366");
	in = dump(json_pack("{s:s, s:b, s:b, s:I}", "team", team, "all", 1, "by_worker", 1,
		"days", (json_int_t)n));
	if (in == NULL)
		return console_error(out, 500, "out of memory");
	st = take(veld_due(k->c->store, in, k->c->purpose, &text), &text, &due, out);
	free(in);
	if (st != 0)
		return st;
	json_object_set_new(due, "names", names_of(k, json_object_get(due, "items")));
	*out = due;
	return 200;
}

/* Caseload per worker (the clients' contact person), each client with the
 * day of its last contact as the due list counts contacts: veld_due's
 * by_worker groups; names and teams from one list of the clients. */
static unsigned api_caseload(const console_call *k, json_t **out)
{
	const char *team = k->arg(k, "team");
	json_t *in = json_pack("{s:b, s:b, s:i}", "all", 1, "by_worker", 1, "days", 0);
	json_t *due = NULL, *clients = NULL, *byid = json_object(), *workers = json_object();
	const json_t *g, *cl;
	char *text = NULL, *input;
	size_t i, j;
	unsigned st;
	if (team != NULL)
		json_object_set_new(in, "team", json_string(team));
	if ((input = dump(in)) == NULL)
		st = console_error(out, 500, "out of memory");
	else if ((st = take(veld_due(k->c->store, input, k->c->purpose, &text), &text, &due, out)) == 0)
		st = list(k, "client", NULL, &clients, out);
	free(input);
	json_array_foreach(clients, i, cl)
		json_object_set(byid, cli_str(cl, "id") ? cli_str(cl, "id") : "", (json_t *)cl);
	json_array_foreach(st == 0 ? json_object_get(due, "by_worker") : NULL, i, g) {
		json_t *rows = json_array();
		json_array_foreach(json_object_get(g, "caseload"), j, cl) {
			const json_t *c = json_object_get(byid, cli_str(cl, "client"));
			json_array_append_new(rows, json_pack("{s:O?, s:O?, s:O?, s:O?}", "id",
				json_object_get(cl, "client"), "name", json_object_get(c, "name"), "team",
				json_object_get(c, "team"), "last_contact", json_object_get(cl, "last_contact")));
		}
		json_object_set_new(workers, cli_str(g, "worker"), rows);
	}
	if (st == 0)
		*out = json_pack("{s:O}", "workers", workers);
	json_decref(due);
	json_decref(clients);
	json_decref(byid);
	json_decref(workers);
	return st == 0 ? 200 : st;
}

/* ---- conflicts and sync ------------------------------------------------------------- */

static unsigned api_conflicts(const console_call *k, json_t **out)
{
	char *text = NULL;
	json_t *list;
	unsigned st = take(veld_conflicts_list(k->c->store, k->c->purpose, &text), &text, &list,
		out);
	if (st != 0)
		return st;
	*out = json_pack("{s:o, s:o}", "names", names_of(k, list), "conflicts", list);
	return 200;
}

/* Sync the office store (a resolution reaches the devices this way);
 * {"synced": true, ...the summary} or {"synced": false, "error"}. */
static json_t *sync_now(const console_call *k)
{
	char *text = NULL;
	json_t *v = NULL, *err = NULL;
	if (take(veld_sync(k->c->store, k->so, &text), &text, &v, &err) != 0) {
		json_object_set_new(err, "synced", json_false());
		return err;
	}
	json_object_set_new(v, "synced", json_true());
	return v;
}

static unsigned api_resolve(const console_call *k, json_t **out)
{
	const char *type = body_str(k, "type"), *id = body_str(k, "id"),
		*field = body_str(k, "field");
	const json_t *value = json_object_get(k->body, "value");
	char *vt;
	int rc;
	if (type == NULL || id == NULL || field == NULL || value == NULL)
		return console_error(out, 400, "give type, id, field and value");
	if ((vt = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT)) == NULL)
		return console_error(out, 500, "out of memory");
	rc = veld_conflict_resolve(k->c->store, type, id, field, vt, k->c->purpose);
	sodium_memzero(vt, strlen(vt));
	free(vt);
	if (rc != VELD_OK)
		return console_error(out, status_of(rc), "%s", veld_error_last());
	*out = json_pack("{s:b, s:o}", "resolved", 1, "sync", sync_now(k));
	return 200;
}

static unsigned api_sync(const console_call *k, json_t **out)
{
	*out = sync_now(k);
	return json_is_true(json_object_get(*out, "synced")) ? 200 : 502;
}

/* ---- clients ------------------------------------------------------------------------ */

static unsigned api_clients(const console_call *k, json_t **out)
{
	json_t *clients, *rows = json_array();
	const json_t *cl;
	size_t i;
	unsigned st = list(k, "client", NULL, &clients, out);
	if (st != 0) {
		json_decref(rows);
		return st;
	}
	json_array_foreach(clients, i, cl)
		json_array_append_new(rows, json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?}", "id",
			json_object_get(cl, "id"), "name", json_object_get(cl, "name"), "team",
			json_object_get(cl, "team"), "contact_person",
			json_object_get(cl, "contact_person"), "care_status",
			json_object_get(cl, "care_status")));
	json_decref(clients);
	*out = json_pack("{s:o}", "clients", rows);
	return 200;
}

/* One client: the client record, every other kind of the schema for it,
 * and the ZRM progress (veld_client_progress). */
static unsigned api_client(const console_call *k, json_t **out)
{
	const char *id = k->arg(k, "id");
	char *text = NULL;
	json_t *client, *schema, *records, *progress, *v;
	const char *kind;
	unsigned st;
	if (id == NULL)
		return console_error(out, 400, "which client? give id=ID");
	if ((st = take(veld_record_get(k->c->store, "client", id, k->c->purpose, &text), &text,
	               &client, out)) != 0)
		return st;
	if ((st = take(veld_schema_json(k->c->store, &text), &text, &schema, out)) != 0) {
		json_decref(client);
		return st;
	}
	records = json_object();
	json_object_foreach(json_object_get(schema, "kinds"), kind, v) {
		json_t *recs;
		if (strcmp(kind, "client") == 0)
			continue;
		if ((st = list(k, kind, cli_str(client, "id"), &recs, out)) != 0)
			break;
		json_object_set_new(records, kind, recs);
	}
	json_decref(schema);
	if (st == 0 && (st = take(veld_client_progress(k->c->store, cli_str(client, "id"),
	                          k->c->purpose, &text), &text, &progress, out)) == 0) {
		*out = json_pack("{s:o, s:o, s:o}", "client", client, "records", records, "progress",
			progress);
		return 200;
	}
	json_decref(client);
	json_decref(records);
	return st;
}

/* A client's request for access: the whole export, for the page to save. */
static unsigned api_export(const console_call *k, json_t **out)
{
	const char *id = body_str(k, "client");
	char *text = NULL;
	json_t *doc;
	unsigned st;
	if (id == NULL)
		return console_error(out, 400, "which client? give client");
	if ((st = take(veld_client_export(k->c->store, id, k->c->purpose, &text), &text, &doc,
	               out)) != 0)
		return st;
	*out = doc;
	return 200;
}

/* A client's request for erasure: `confirm` must repeat the client id, as
 * `veld office erase` asks for --yes. */
static unsigned api_erase(const console_call *k, json_t **out)
{
	const char *id = body_str(k, "client"), *confirm = body_str(k, "confirm");
	int rc;
	if (id == NULL)
		return console_error(out, 400, "which client? give client");
	if (confirm == NULL || strcmp(confirm, id) != 0)
		return console_error(out, 400, "an erasure is irreversible: confirm it by giving "
			"the client's id again as confirm");
	if ((rc = veld_office_erase(k->c->store, id, k->c->purpose, k->so)) != VELD_OK)
		return console_error(out, status_of(rc), "%s", veld_error_last());
	*out = json_pack("{s:s, s:b}", "client", id, "erased", 1);
	return 200;
}

/* ---- the access log ------------------------------------------------------------------ */

static bool keep_entry(const json_t *e, const char *user, const char *event, const char *from,
	const char *to)
{
	const char *at = cli_str(e, "at");
	if (user != NULL && (cli_str(e, "user") == NULL || strcmp(cli_str(e, "user"), user) != 0))
		return false;
	if (event != NULL && (cli_str(e, "event") == NULL || strcmp(cli_str(e, "event"), event)))
		return false;
	if (from != NULL && (at == NULL || strncmp(at, from, strlen(from)) < 0))
		return false;
	return to == NULL || (at != NULL && strncmp(at, to, strlen(to)) <= 0);
}

static unsigned api_log(const console_call *k, json_t **out)
{
	const char *client = k->arg(k, "client"), *device = k->arg(k, "device"),
		*limit = k->arg(k, "limit"), *from = k->arg(k, "from"), *to = k->arg(k, "to");
	const char *user = k->arg(k, "user"), *event = k->arg(k, "event");
	long long n = 500;
	char *in, *text = NULL;
	json_t *all, *rows;
	const json_t *e;
	size_t i;
	unsigned st;
	if (limit != NULL && !cli_parse_int(limit, 1, 100000, &n))
		return console_error(out, 400, "limit is a whole number from 1 to 100000");
	if ((from != NULL && !cli_valid_date(from)) || (to != NULL && !cli_valid_date(to)))
		return console_error(out, 400, "from and to are dates, YYYY-MM-DD");
	json_t *filter = json_object();
	if (client != NULL)
		json_object_set_new(filter, "client", json_string(client));
	if (device != NULL)
		json_object_set_new(filter, "device", json_string(device));
	in = dump(filter);
	st = take(veld_office_log(k->c->store, in, &text), &text, &all, out);
	free(in);
	if (st != 0)
		return st;
	/* Newest first, at most `limit` of those that pass the filters. */
	rows = json_array();
	for (i = json_array_size(all); i-- > 0 && (long long)json_array_size(rows) < n;) {
		e = json_array_get(all, i);
		if (keep_entry(e, user, event, from, to))
			json_array_append(rows, (json_t *)e);
	}
	json_decref(all);
	*out = json_pack("{s:o}", "entries", rows);
	return 200;
}

/* ---- devices -------------------------------------------------------------------------- */

/* The time of the newest access-log entry the office received from a
 * device: the last sync that brought anything from it. */
static json_t *last_seen(const console_call *k, const char *device)
{
	char *in = dump(json_pack("{s:s, s:i}", "device", device, "limit", 1)),
		*text = NULL;
	json_t *v = NULL, *err = NULL, *at;
	if (in != NULL && take(veld_office_log(k->c->store, in, &text), &text, &v, &err) != 0)
		v = NULL;
	free(in);
	json_decref(err);
	at = json_incref(json_object_get(json_array_get(v, 0), "at"));
	json_decref(v);
	return at != NULL ? at : json_null();
}

static unsigned api_devices(const console_call *k, json_t **out)
{
	char *text = NULL;
	json_t *devices, *quarantine;
	json_t *d;
	size_t i;
	unsigned st = take(veld_office_devices(k->c->store, k->so, &text), &text, &devices, out);
	if (st != 0)
		return st;
	if ((st = take(veld_quarantine_list(k->c->store, &text), &text, &quarantine, out)) != 0) {
		json_decref(devices);
		return st;
	}
	json_array_foreach(devices, i, d)
		json_object_set_new(d, "last_seen", last_seen(k, cli_str(d, "device")));
	*out = json_pack("{s:o, s:o}", "devices", devices, "quarantine", quarantine);
	return 200;
}

static unsigned api_invite(const console_call *k, json_t **out)
{
	const char *team = body_str(k, "team");
	json_int_t hours = json_integer_value(json_object_get(k->body, "ttl_hours"));
	char *code = NULL, *svg;
	int rc;
	if (team == NULL)
		return console_error(out, 400, "which team is the device for? give team");
	if (json_object_get(k->body, "ttl_hours") != NULL && (hours < 1 || hours > 168))
		return console_error(out, 400, "ttl_hours is a whole number from 1 to 168");
	if (hours == 0)
		hours = 72;
	rc = veld_office_invite(k->c->store, team, (uint32_t)(hours * 3600), k->so, &code);
	if (rc != VELD_OK)
		return console_error(out, status_of(rc), "%s", veld_error_last());
	svg = console_qr_svg(code);
	*out = json_pack("{s:s, s:s, s:I, s:s?}", "team", team, "code", code, "ttl_hours", hours,
		"qr_svg", svg);
	sodium_memzero(code, strlen(code));
	veld_free(code);
	free(svg);
	return 200;
}

static unsigned api_revoke(const console_call *k, json_t **out)
{
	const char *device = body_str(k, "device");
	int rc;
	if (device == NULL || strlen(device) != 32 ||
	    strspn(device, "0123456789abcdef") != 32)
		return console_error(out, 400, "device is a device id: 32 hex digits");
	if ((rc = veld_office_revoke(k->c->store, device, k->so)) != VELD_OK)
		return console_error(out, status_of(rc), "%s", veld_error_last());
	*out = json_pack("{s:s, s:b}", "device", device, "revoked", 1);
	return 200;
}

/* ---- the partners' report ----------------------------------------------------------- */

/* The report of a quarter and the three before it (veld_office_report, as
 * `veld office report --format json`), for the dashboard to draw. The
 * store logs it once, with purpose "monitoring". */
static unsigned api_report(const console_call *k, json_t **out)
{
	const char *period = k->arg(k, "period");
	char *text = NULL;
	json_t *rep;
	unsigned st;
	if (period == NULL)
		return console_error(out, 400, "which quarter? give period=YYYYQn");
	if ((st = take(veld_office_report(k->c->store, period, &text), &text, &rep, out)) != 0)
		return st;
	*out = rep;
	return 200;
}

const console_route console_routes[] = {
	{"GET", "/api/signals", api_signals},
	{"GET", "/api/due", api_due},
	{"GET", "/api/caseload", api_caseload},
	{"GET", "/api/conflicts", api_conflicts},
	{"POST", "/api/conflicts/resolve", api_resolve},
	{"POST", "/api/sync", api_sync},
	{"GET", "/api/clients", api_clients},
	{"GET", "/api/client", api_client},
	{"POST", "/api/client/export", api_export},
	{"POST", "/api/client/erase", api_erase},
	{"GET", "/api/report", api_report},
	{"GET", "/api/log", api_log},
	{"GET", "/api/devices", api_devices},
	{"POST", "/api/devices/invite", api_invite},
	{"POST", "/api/devices/revoke", api_revoke},
};
const size_t console_routes_count = sizeof console_routes / sizeof console_routes[0];
