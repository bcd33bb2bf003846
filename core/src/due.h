/* due.h - what is due for a worker's clients, derived from their records
 * at the time asked and never stored (private).
 *
 * veld__due_compute is the rules alone, over records as JSON, so they are
 * tested without a store; veld_due (veld.h) gathers the records and calls
 * it. The rules are in due.c and docs/data-model.md#what-is-due. */
#ifndef VELD_DUE_H
#define VELD_DUE_H

#include <jansson.h>
#include <stdint.h>

/* The window of the rules but one: a standing decision is due this many
 * days before it ends, whatever window was asked for. */
#define VELD_DUE_DECISION_DAYS 90
/* A client is not seen once the last contact is longer ago than this. */
#define VELD_DUE_NOT_SEEN_DAYS 30
/* An open signal without a follow-up is overdue when older than this. */
#define VELD_DUE_SIGNAL_DAYS 2
/* The window asked for: 0 (today only) to this many days ahead. */
#define VELD_DUE_DAYS_MAX 366

/* A record kind the rules read, and the fields of it they read: veld_due
 * opens those and no others (no rule needs a note, a name or a text). */
struct veld__due_kind {
	const char *kind;
	const char *const *fields; /* NULL-terminated */
};
/* Every kind the rules read, ending with a NULL kind. */
extern const struct veld__due_kind veld__due_kinds[];

/* What is due from `records` ({kind: [records as veld_record_get returns
 * them]}, the client records under "client"; a kind may be missing) on
 * `today` (YYYY-MM-DD) with a window of `days` (0..VELD_DUE_DAYS_MAX).
 * *items gets a new array of {"client", "kind" (the rule), "record",
 * "type" (the record's kind), "due" (YYYY-MM-DD), "overdue", "days" (due
 * minus today)}, sorted by due date, then client, rule and record. A
 * record without the dates a rule needs is left out by that rule. With
 * `last_contact`, it gets {client: day number of its last contact up to
 * today} too. VELD_EINVAL for a bad `today` or `days`. */
int veld__due_compute(json_t *records, const char *today, int days, json_t **items,
                      json_t **last_contact);

/* The two facts the rules take from a visit. A planned visit that has not
 * taken place: 0 with its planned day, else -1. A contact (a visit that
 * took place with the client there or on the phone): 0 with its day, else
 * -1. */
int veld__due_visit_planned(json_t *visit, int64_t *day);
int veld__due_contact_day(json_t *visit, int64_t *day);

/* Of one client's records of `kind` (oldest first, as listed), onto
 * `keep` those the rules may need on some day: a record left out yields no
 * item, whatever the day, and changes no other record's. Of the visits,
 * the planned ones not taken place and the latest contact, whose day goes
 * into *last_contact (left as it is if there is none). */
int veld__due_keep(const char *kind, json_t *recs, json_t *keep, int64_t *last_contact);

/* The records of `client` the rules need on `today`, appended to the lists
 * of `records` ({kind: [records]}, one per kind the store knows), as
 * veld__list_records gives them (its `read` too). Kept per client between
 * calls, sealed under the client's key (duekept.c), and made again from
 * all its records once one of them changed. */
struct veld_store;
int veld__due_kept(struct veld_store *s, const uint8_t *client, int64_t today, json_t *records,
                   json_t *read);

#endif
