/* due.c - what is due for a worker's clients (due.h): the rules, and
 * veld_due, which reads the records of the clients concerned.
 *
 * Nothing here is stored. What is due is computed from the records each
 * time it is asked, so a record edited on another device changes the
 * answer at the next sync and there is no second truth to keep in step.
 * Each rule turns a record into at most one item, due on a day; the answer
 * holds the items due on or before today + days (the window), and an item
 * is overdue when its day is before today. Two rules keep time of their
 * own: a standing decision (a waakvlam record) is due 90 days before it
 * ends, whatever the window, and a signal is overdue once it is two days
 * old. Days are day numbers (days since 1970-01-01) of the date part of a
 * date or time as it is written, with no time zone: a visit planned at
 * 23:30+01:00 is due on the day it says, which is the day the worker
 * means. */
#include "due.h"
#include "access.h"
#include "crypto.h"
#include "error.h"
#include "veld_errors.h"
#include "hlc.h"
#include "kinds.h"
#include "listing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The fields each rule below reads, and nothing else. */
#define FIELDS(...) (const char *const[]){__VA_ARGS__, NULL}
const struct veld__due_kind veld__due_kinds[] = {
	{"client", FIELDS("contact_person")},
	{"visit", FIELDS("kind", "planned", "started", "ended")},
	{"goal", FIELDS("status", "review_date")},
	{"signal", FIELDS("status", "follow_up")},
	{"woonkompas", FIELDS("date", "next_review")},
	{"escalation", FIELDS("status")},
	{"escalation_step", FIELDS("escalation", "due", "done")},
	{"action", FIELDS("due", "done")},
	{"waakvlam", FIELDS("start", "end")},
	{"tenancy", FIELDS("own_name_planned", "own_name_actual", "end")},
	{"time_out", FIELDS("start", "end", "agreed_days")},
	{NULL, NULL}};

/* ---- reading records -------------------------------------------------------- */

static const char *str(json_t *rec, const char *key)
{
	return json_string_value(json_object_get(rec, key));
}

static int has(json_t *rec, const char *key)
{
	return json_object_get(rec, key) != NULL;
}

static int is(json_t *rec, const char *key, const char *value)
{
	const char *v = str(rec, key);
	return v && value && strcmp(v, value) == 0;
}

/* Open, as a new record is: a status of "open", or none yet. */
static int open_or_new(json_t *rec)
{
	return !has(rec, "status") || is(rec, "status", "open");
}

/* A date field as a day number: 0, or -1 if the record has none. */
static int day_of(json_t *rec, const char *field, int64_t *day)
{
	return veld__day_number(str(rec, field), day);
}

/* The client a record is about: its own id for a client record. */
static const char *client_of(json_t *rec)
{
	const char *c = str(rec, "client");
	return c ? c : str(rec, "id");
}

/* ---- the rules ----------------------------------------------------------------- */

struct due {
	int64_t today, last;     /* the window: today .. last */
	json_t *records;         /* {kind: [records]}, as given */
	json_t *items;           /* the answer */
	/* What a rule needs to know of a record's client or of other records,
	 * gathered once before the rules run (prepare). */
	json_t *last_contact;    /* {client: day of the last contact} */
	json_t *latest_talk;     /* {client: its latest Woonkompas conversation} */
	json_t *newest_decision; /* {client: start day of its newest standing decision} */
	json_t *escalations;     /* {id: escalation record} */
};

static json_t *records_of(const struct due *d, const char *kind)
{
	return json_object_get(d->records, kind);
}

/* An item: `rec` is due on `day` by `rule`. */
static int add(struct due *d, const char *rule, json_t *rec, int64_t day, int overdue)
{
	char due[11];
	json_t *item;
	veld__date_of_day(due, day);
	item = json_pack("{s:s?,s:s,s:s?,s:s?,s:s,s:b,s:I}", "client", client_of(rec), "kind", rule,
	                 "record", str(rec, "id"), "type", str(rec, "type"), "due", due,
	                 "overdue", overdue, "days", (json_int_t)(day - d->today));
	if (!item || json_array_append_new(d->items, item) != 0)
		return veld__err(VELD_ENOMEM, "out of memory");
	return VELD_OK;
}

/* The common case: an item if `day` is in the window (overdue ones are). */
static int due_by(struct due *d, const char *rule, json_t *rec, int64_t day)
{
	return day <= d->last ? add(d, rule, rec, day, day < d->today) : VELD_OK;
}

/* A planned visit that has not taken place: a no-show is not coming, and a
 * visit with a start or an end took place, so neither is due. */
int veld__due_visit_planned(json_t *visit, int64_t *day)
{
	if (is(visit, "kind", "no_show") || has(visit, "started") || has(visit, "ended"))
		return -1;
	return day_of(visit, "planned", day);
}

static int visit_planned(struct due *d, json_t *rec)
{
	int64_t day;
	return veld__due_visit_planned(rec, &day) == 0 ? due_by(d, "visit_planned", rec, day)
	                                                : VELD_OK;
}

static int goal_review(struct due *d, json_t *rec)
{
	int64_t day;
	if (!open_or_new(rec) || day_of(rec, "review_date", &day) != 0)
		return VELD_OK;
	return due_by(d, "goal_review", rec, day);
}

/* Only a client's latest conversation sets the next review: an earlier
 * one's date was replaced when the next conversation took place. */
static int woonkompas_review(struct due *d, json_t *rec)
{
	int64_t day;
	if (json_object_get(d->latest_talk, client_of(rec)) != rec ||
	    day_of(rec, "next_review", &day) != 0)
		return VELD_OK;
	return due_by(d, "woonkompas_review", rec, day);
}

/* A step of an escalation that is over (stopped, closed, or deleted) is
 * not due any more. */
static int escalation_step(struct due *d, json_t *rec)
{
	const char *of = str(rec, "escalation");
	json_t *esc = of ? json_object_get(d->escalations, of) : NULL;
	int64_t day;
	if (has(rec, "done") || !esc || !open_or_new(esc) || day_of(rec, "due", &day) != 0)
		return VELD_OK;
	return due_by(d, "escalation_step", rec, day);
}

static int action_due(struct due *d, json_t *rec)
{
	int64_t day;
	if (has(rec, "done") || day_of(rec, "due", &day) != 0)
		return VELD_OK;
	return due_by(d, "action", rec, day);
}

/* A standing decision (a waakvlam record, the "waakvlambeschikking") must
 * be renewed before it ends, and a renewal takes longer than most windows:
 * due 90 days ahead, whatever the window. One that a newer decision of the
 * client (a later start) follows up is done with, ended or not. */
static int decision_ending(struct due *d, json_t *rec)
{
	json_t *newest = json_object_get(d->newest_decision, client_of(rec));
	int64_t start, end;
	if (day_of(rec, "end", &end) != 0 || day_of(rec, "start", &start) != 0 ||
	    (newest && json_integer_value(newest) > start))
		return VELD_OK;
	if (end > d->today + VELD_DUE_DECISION_DAYS)
		return VELD_OK;
	return add(d, "standing_decision_ending", rec, end, end < d->today);
}

/* A tenancy that is to move to the client's own name and has not (nor
 * ended). */
static int own_name_move(struct due *d, json_t *rec)
{
	int64_t day;
	if (has(rec, "own_name_actual") || has(rec, "end") || day_of(rec, "own_name_planned", &day) != 0)
		return VELD_OK;
	return due_by(d, "own_name_move", rec, day);
}

/* A time-out still open is due on the day its agreed days are up. */
static int time_out_overdue(struct due *d, json_t *rec)
{
	json_t *agreed = json_object_get(rec, "agreed_days");
	int64_t start;
	if (has(rec, "end") || !json_is_integer(agreed) || json_integer_value(agreed) < 1 ||
	    day_of(rec, "start", &start) != 0)
		return VELD_OK;
	return due_by(d, "time_out_overdue", rec, start + json_integer_value(agreed));
}

/* A signal is an early warning: it is due the day it is raised, and
 * someone should have written what was done about it within two days (the
 * next working day and one more), after which it shows as overdue. */
static int signal_without_follow_up(struct due *d, json_t *rec)
{
	int64_t day;
	if (!open_or_new(rec) || has(rec, "follow_up") || day_of(rec, "created", &day) != 0)
		return VELD_OK;
	return day <= d->last ? add(d, "signal_without_follow_up", rec, day,
	                            d->today - day > VELD_DUE_SIGNAL_DAYS)
	                      : VELD_OK;
}

/* A client without contact for 30 days: due 30 days after the last
 * contact, or after the client was recorded if there was none; listed only
 * once that day has passed. */
static int not_seen(struct due *d, json_t *rec)
{
	json_t *last = json_object_get(d->last_contact, client_of(rec));
	int64_t day;
	if (last)
		day = json_integer_value(last);
	else if (day_of(rec, "created", &day) != 0)
		return VELD_OK;
	day += VELD_DUE_NOT_SEEN_DAYS;
	return day < d->today ? add(d, "not_seen", rec, day, 1) : VELD_OK;
}

/* Each rule, by the kind of record it reads. */
static const struct {
	const char *kind;
	int (*rule)(struct due *d, json_t *rec);
} rules[] = {
	{"visit", visit_planned},
	{"goal", goal_review},
	{"woonkompas", woonkompas_review},
	{"escalation_step", escalation_step},
	{"action", action_due},
	{"waakvlam", decision_ending},
	{"tenancy", own_name_move},
	{"time_out", time_out_overdue},
	{"client", not_seen},
	{"signal", signal_without_follow_up},
};

/* ---- what the rules need to know of other records ------------------------ */

/* A contact is a visit that took place with the client there or on the
 * phone (a no-show is none), on the day it started, else ended. */
int veld__due_contact_day(json_t *visit, int64_t *day)
{
	if (!is(visit, "kind", "home_visit") && !is(visit, "kind", "phone") &&
	    !is(visit, "kind", "outreach"))
		return -1;
	return day_of(visit, "started", day) == 0 || day_of(visit, "ended", day) == 0 ? 0 : -1;
}

/* Contacts dated after today (a typing error) do not count. */
static int note_contact(struct due *d, json_t *visit)
{
	json_t *last;
	int64_t day;
	if (veld__due_contact_day(visit, &day) != 0)
		return VELD_OK;
	last = json_object_get(d->last_contact, client_of(visit));
	if (day > d->today || (last && json_integer_value(last) >= day))
		return VELD_OK;
	return json_object_set_new(d->last_contact, client_of(visit), json_integer(day)) == 0
	       ? VELD_OK : veld__err(VELD_ENOMEM, "out of memory");
}

/* The latest conversation by its date; on the same date, the one recorded
 * last (records come oldest first). */
static int note_talk(struct due *d, json_t *talk)
{
	json_t *latest = json_object_get(d->latest_talk, client_of(talk));
	int64_t day, latest_day;
	if (day_of(talk, "date", &day) != 0)
		return VELD_OK;
	if (latest && day_of(latest, "date", &latest_day) == 0 && latest_day > day)
		return VELD_OK;
	return json_object_set(d->latest_talk, client_of(talk), talk) == 0
	       ? VELD_OK : veld__err(VELD_ENOMEM, "out of memory");
}

static int note_decision(struct due *d, json_t *decision)
{
	json_t *newest = json_object_get(d->newest_decision, client_of(decision));
	int64_t start;
	if (day_of(decision, "start", &start) != 0 || (newest && json_integer_value(newest) >= start))
		return VELD_OK;
	return json_object_set_new(d->newest_decision, client_of(decision), json_integer(start)) == 0
	       ? VELD_OK : veld__err(VELD_ENOMEM, "out of memory");
}

static int note_escalation(struct due *d, json_t *esc)
{
	const char *id = str(esc, "id");
	if (!id)
		return VELD_OK;
	return json_object_set(d->escalations, id, esc) == 0
	       ? VELD_OK : veld__err(VELD_ENOMEM, "out of memory");
}

static const struct {
	const char *kind;
	int (*note)(struct due *d, json_t *rec);
} notes[] = {
	{"visit", note_contact},
	{"woonkompas", note_talk},
	{"waakvlam", note_decision},
	{"escalation", note_escalation},
};

/* ---- what the rules may still need ----------------------------------------- */

/* The latest conversations of a client's (oldest first): those of the
 * latest date, as note_talk picks among them. */
static int keep_latest_talks(json_t *recs, json_t *keep)
{
	json_t *rec;
	int64_t day, latest = INT64_MIN;
	size_t i;
	json_array_foreach(recs, i, rec) {
		if (day_of(rec, "date", &day) == 0 && day > latest)
			latest = day;
	}
	json_array_foreach(recs, i, rec) {
		if (day_of(rec, "date", &day) == 0 && day == latest && json_array_append(keep, rec))
			return veld__err(VELD_ENOMEM, "out of memory");
	}
	return VELD_OK;
}

int veld__due_keep(const char *kind, json_t *recs, json_t *keep, int64_t *last_contact)
{
	json_t *rec, *latest = NULL;
	int64_t day;
	size_t i;
	int k;
	if (strcmp(kind, "woonkompas") == 0)
		return keep_latest_talks(recs, keep);
	json_array_foreach(recs, i, rec) {
		if (strcmp(kind, "visit") == 0) {
			k = veld__due_visit_planned(rec, &day) == 0;
			if (!k && veld__due_contact_day(rec, &day) == 0 && (!latest || day >= *last_contact)) {
				latest = rec;
				*last_contact = day;
			}
		} else if (strcmp(kind, "signal") == 0)
			k = open_or_new(rec) && !has(rec, "follow_up");
		else if (strcmp(kind, "goal") == 0)
			k = open_or_new(rec);
		else if (strcmp(kind, "action") == 0 || strcmp(kind, "escalation_step") == 0)
			k = !has(rec, "done");
		else
			k = 1; /* few of them, and gathered whole by prepare */
		if (k && json_array_append(keep, rec) != 0)
			return veld__err(VELD_ENOMEM, "out of memory");
	}
	if (latest && json_array_append(keep, latest) != 0)
		return veld__err(VELD_ENOMEM, "out of memory");
	return VELD_OK;
}

/* Run `fn` over every record of `kind` whose client is known. */
static int each_record(struct due *d, const char *kind, int (*fn)(struct due *, json_t *))
{
	json_t *rec;
	size_t i;
	int rc;
	json_array_foreach(records_of(d, kind), i, rec) {
		if (!json_is_object(rec) || !client_of(rec))
			continue;
		if ((rc = fn(d, rec)) != VELD_OK)
			return rc;
	}
	return VELD_OK;
}

static int prepare(struct due *d)
{
	int rc = VELD_OK;
	d->last_contact = json_object();
	d->latest_talk = json_object();
	d->newest_decision = json_object();
	d->escalations = json_object();
	d->items = json_array();
	if (!d->last_contact || !d->latest_talk || !d->newest_decision || !d->escalations ||
	    !d->items)
		return veld__err(VELD_ENOMEM, "out of memory");
	for (size_t i = 0; rc == VELD_OK && i < COUNT(notes); i++)
		rc = each_record(d, notes[i].kind, notes[i].note);
	return rc;
}

/* ---- the order of the answer ------------------------------------------------ */

static int by_key(json_t *a, json_t *b, const char *key)
{
	const char *x = str(a, key), *y = str(b, key);
	return strcmp(x ? x : "", y ? y : "");
}

/* By due date, then client, rule and record, so the order never depends
 * on the order the records came in. */
static int item_order(const void *pa, const void *pb)
{
	static const char *const keys[] = {"due", "client", "kind", "record"};
	json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
	int c = 0;
	for (size_t i = 0; c == 0 && i < COUNT(keys); i++)
		c = by_key(a, b, keys[i]);
	return c;
}

static int sort_items(json_t *items)
{
	size_t n = json_array_size(items), i;
	json_t **v = calloc(n + 1, sizeof *v);
	if (!v)
		return veld__err(VELD_ENOMEM, "out of memory");
	for (i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(items, i));
	qsort(v, n, sizeof *v, item_order);
	json_array_clear(items);
	for (i = 0; i < n; i++)
		json_array_append_new(items, v[i]);
	free(v);
	return json_array_size(items) == n ? VELD_OK : veld__err(VELD_ENOMEM, "out of memory");
}

int veld__due_compute(json_t *records, const char *today, int days, json_t **items,
                      json_t **last_contact)
{
	struct due d = {.records = records};
	int rc;
	*items = NULL;
	if (!today || strlen(today) != 10 || veld__day_number(today, &d.today) != 0)
		return veld__err(VELD_EINVAL, "today must be a date as YYYY-MM-DD");
	if (days < 0 || days > VELD_DUE_DAYS_MAX)
		return veld__err(VELD_EINVAL, "days must be from 0 to %d", VELD_DUE_DAYS_MAX);
	d.last = d.today + days;
	rc = prepare(&d);
	for (size_t i = 0; rc == VELD_OK && i < COUNT(rules); i++)
		rc = each_record(&d, rules[i].kind, rules[i].rule);
	if (rc == VELD_OK)
		rc = sort_items(d.items);
	if (rc == VELD_OK && last_contact)
		*last_contact = json_incref(d.last_contact);
	json_decref(d.last_contact);
	json_decref(d.latest_talk);
	json_decref(d.newest_decision);
	json_decref(d.escalations);
	if (rc == VELD_OK)
		*items = d.items;
	else
		json_decref(d.items);
	return rc;
}

/* ---- veld_due: the records of the clients concerned ------------------------ */

/* What veld_due was asked (docs/data-model.md#what-is-due). */
struct due_query {
	int days, all, by_worker;
	char today[11];
	const char *team; /* NULL: every team the store reads */
};

#define DUE_DAYS_DEFAULT 14

static int input_key_known(const char *key)
{
	static const char *const keys[] = {"days", "today", "all", "team", "by_worker"};
	for (size_t i = 0; i < COUNT(keys); i++)
		if (strcmp(keys[i], key) == 0)
			return 1;
	return 0;
}

/* The input's values, checked; a worker's store answers for its own team
 * only. */
static int due_input(veld_store *s, json_t *in, struct due_query *q)
{
	json_t *days = json_object_get(in, "days"), *today = json_object_get(in, "today"),
	       *all = json_object_get(in, "all"), *team = json_object_get(in, "team"),
	       *by_worker = json_object_get(in, "by_worker"), *v;
	const char *key;
	int64_t day;
	json_object_foreach(in, key, v) {
		if (!input_key_known(key))
			return veld__err(VELD_EINVAL, "veld_due takes days, today, all, team and by_worker");
	}
	if (days && (!json_is_integer(days) || json_integer_value(days) < 0 ||
	             json_integer_value(days) > VELD_DUE_DAYS_MAX))
		return veld__err(VELD_EINVAL, "days must be a whole number from 0 to %d",
		                 VELD_DUE_DAYS_MAX);
	if (today && (!json_is_string(today) || json_string_length(today) != 10 ||
	              veld__day_number(json_string_value(today), &day) != 0))
		return veld__err(VELD_EINVAL, "today must be a date as YYYY-MM-DD");
	if ((all && !json_is_boolean(all)) || (by_worker && !json_is_boolean(by_worker)))
		return veld__err(VELD_EINVAL, "all and by_worker must be true or false");
	if (team && (!json_is_string(team) || json_string_length(team) == 0))
		return veld__err(VELD_EINVAL, "team must be a team id");
	q->days = days ? (int)json_integer_value(days) : DUE_DAYS_DEFAULT;
	q->all = json_is_true(all);
	q->by_worker = json_is_true(by_worker);
	q->team = json_string_value(team);
	if (q->team && !s->office && strcmp(q->team, s->team) != 0)
		return veld__err(VELD_EPERM, "a worker's store answers for its own team only");
	if (today)
		memcpy(q->today, json_string_value(today), sizeof q->today);
	else
		veld__date_of_day(q->today, (int64_t)(veld__hlc_now_ms() / 86400000u));
	return VELD_OK;
}

/* The fields the rules read of `kind`. */
static const char *const *due_fields(const char *kind)
{
	for (const struct veld__due_kind *k = veld__due_kinds; k->kind; k++)
		if (strcmp(k->kind, kind) == 0)
			return k->fields;
	return NULL;
}

/* The clients concerned, onto `concerned`: those the store shows (a
 * worker's store: its team's), of q->team if given, and unless q->all only
 * those whose contact person is the acting user. */
static int due_clients(veld_store *s, const struct due_query *q, json_t *concerned)
{
	json_t *clients = json_array(), *shown = json_object(), *c;
	size_t i;
	int rc = clients && shown
	         ? veld__list_records(s, "client", NULL, due_fields("client"), clients, shown)
	         : veld__err(VELD_ENOMEM, "out of memory");
	json_array_foreach(clients, i, c) {
		if (rc != VELD_OK)
			break;
		if ((q->team && !is(c, "team", q->team)) || (!q->all && !is(c, "contact_person", s->user)))
			continue;
		if (json_array_append(concerned, c) != 0)
			rc = veld__err(VELD_ENOMEM, "out of memory");
	}
	json_decref(clients);
	json_decref(shown);
	return rc;
}

/* Every record the rules read of the clients concerned, by kind, into
 * `records` (duekept.c: of most clients, only those still of use); each
 * client read goes into `read` ({client: event}) for the access log. A
 * kind this store does not know yields no records. */
static int due_records(veld_store *s, const struct due_query *q, json_t *concerned,
                       json_t *records, json_t *read)
{
	json_t *c;
	size_t i;
	int64_t today;
	int rc = veld__day_number(q->today, &today) == 0
	         ? VELD_OK : veld__err(VELD_EINVAL, "today must be a date as YYYY-MM-DD");
	json_object_set(records, "client", concerned);
	json_array_foreach(concerned, i, c) {
		uint8_t id[VELD_ID_BYTES];
		if (rc != VELD_OK)
			break;
		json_object_set_new(read, str(c, "id"), json_string("read"));
		if (veld__unhex(id, VELD_ID_BYTES, str(c, "id")) != 0)
			return veld__err(VELD_ECORRUPT, "a client record without a valid id");
		rc = veld__due_kept(s, id, today, records, read);
	}
	return rc;
}

/* One group a contact person of the clients concerned ("" for none),
 * {worker: {"worker", "clients": how many of them, "items": [], "caseload":
 * [{"client", "last_contact": its date or null}]}}, and in `group_of` each
 * client's group. `last_contact`: {client: day number}. */
static json_t *worker_groups(json_t *concerned, json_t *last_contact, json_t *group_of)
{
	json_t *groups = json_object(), *c, *g, *last;
	size_t i;
	json_array_foreach(concerned, i, c) {
		const char *w = str(c, "contact_person") ? str(c, "contact_person") : "";
		char date[11];
		if (!(g = json_object_get(groups, w)))
			json_object_set_new(groups, w, g = json_pack("{s:s,s:i,s:[],s:[]}", "worker", w,
			                                             "clients", 0, "items", "caseload"));
		json_object_set_new(g, "clients",
		                    json_integer(json_integer_value(json_object_get(g, "clients")) + 1));
		if ((last = json_object_get(last_contact, str(c, "id"))))
			veld__date_of_day(date, json_integer_value(last));
		json_array_append_new(json_object_get(g, "caseload"),
		                      json_pack("{s:s?,s:s?}", "client", str(c, "id"), "last_contact",
		                                last ? date : NULL));
		json_object_set(group_of, str(c, "id"), g);
	}
	return groups;
}

/* By name, with "" (no contact person) last. */
static int worker_order(const void *pa, const void *pb)
{
	const char *a = str(*(json_t *const *)pa, "worker"), *b = str(*(json_t *const *)pb, "worker");
	if ((*a == '\0') != (*b == '\0'))
		return *a == '\0' ? 1 : -1;
	return strcmp(a, b);
}

/* The items by the contact person of their client: [{"worker", "clients",
 * "items", "caseload"}], in worker_order; NULL when out of memory. */
static json_t *by_worker(json_t *concerned, json_t *items, json_t *last_contact)
{
	json_t *group_of = json_object(), *groups = worker_groups(concerned, last_contact, group_of),
	       *out, *g;
	size_t i, n = json_object_size(groups);
	json_t **v = calloc(n + 1, sizeof *v);
	const char *name;
	json_array_foreach(items, i, g)
		json_array_append(json_object_get(json_object_get(group_of, str(g, "client")), "items"), g);
	i = 0;
	json_object_foreach(groups, name, g) {
		if (v)
			v[i++] = g;
	}
	if (v)
		qsort(v, n, sizeof *v, worker_order);
	out = v ? json_array() : NULL;
	for (i = 0; out && i < n; i++)
		json_array_append(out, v[i]);
	free(v);
	json_decref(groups);
	json_decref(group_of);
	return out;
}

static int due_answer(const struct due_query *q, json_t *concerned, json_t *items,
                      json_t *last_contact, char **json_out)
{
	json_t *ans = json_pack("{s:s,s:i,s:I,s:O}", "today", q->today, "days", q->days, "clients",
	                        (json_int_t)json_array_size(concerned), "items", items);
	int rc = VELD_OK;
	if (ans && q->by_worker && json_object_set_new(ans, "by_worker", by_worker(concerned, items, last_contact)))
		rc = veld__err(VELD_ENOMEM, "out of memory");
	if (rc == VELD_OK)
		rc = ans ? veld__json_answer(ans, json_out) : veld__err(VELD_ENOMEM, "out of memory");
	json_decref(ans);
	return rc;
}

int veld_due(veld_store *s, const char *input_json, const char *purpose, char **json_out)
{
	struct due_query q;
	json_t *in = NULL, *concerned = json_array(), *records = json_object(), *read = json_object(),
	       *items = NULL, *last_contact = NULL;
	struct veld__tx tx;
	int rc = veld__enter_json(s, json_out, 1);
	if (rc)
		goto done;
	if (input_json && *input_json && veld__json_object(input_json, &in) != VELD_OK) {
		rc = veld__err(VELD_EINVAL, "the input of veld_due must be a JSON object");
		goto out;
	}
	if ((rc = due_input(s, in, &q)) != VELD_OK || (rc = veld__tx_begin(s, &tx)) != VELD_OK)
		goto out;
	if (!concerned || !records || !read)
		rc = veld__err(VELD_ENOMEM, "out of memory");
	if (rc == VELD_OK)
		rc = due_clients(s, &q, concerned);
	if (rc == VELD_OK)
		rc = due_records(s, &q, concerned, records, read);
	if (rc == VELD_OK)
		rc = veld__list_log(s, read, purpose);
	if (rc == VELD_OK)
		rc = veld__due_compute(records, q.today, q.days, &items, &last_contact);
	if (rc == VELD_OK)
		rc = due_answer(&q, concerned, items, last_contact, json_out);
	rc = veld__access_finish(s, &tx, rc, json_out);
out:
	veld__leave(s);
done:
	json_decref(in);
	json_decref(concerned);
	json_decref(records);
	json_decref(read);
	json_decref(items);
	json_decref(last_contact);
	return rc;
}
