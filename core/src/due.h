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
 * record without the dates a rule needs is left out by that rule.
 * VELD_EINVAL for a bad `today` or `days`. */
int veld__due_compute(json_t *records, const char *today, int days, json_t **items);

/* A day number (days since 1970-01-01) from a date "YYYY-MM-DD" or the
 * date part of a datetime: 0, or -1 if it does not start with a real
 * calendar date. */
int veld__due_day(const char *text, int64_t *day);
/* The date "YYYY-MM-DD" of a day number. */
void veld__due_date(char out[11], int64_t day);

#endif
