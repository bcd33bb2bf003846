/* test_due.c - what is due: the rules on records as JSON (veld__due_compute,
 * each rule, the window's edges, overdue, the order), then veld_due on a
 * store (the worker's own clients, every client, a team, per worker in the
 * office's store, the access log, what it refuses). Every test fixes today,
 * 2026-11-22, so the window of 14 days ends on 2026-12-06. */
#include "helpers.h"

#include "due.h"
#include "kinds.h"
#include "listing.h"
#include "store.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TODAY "2026-11-22"

/* ---- the rules on JSON --------------------------------------------------------- */

/* What is due from `records` (JSON text: {kind: [records]}) today, within
 * `days`. */
static json_t *compute(const char *records, int days)
{
	json_error_t e;
	json_t *r = json_loads(records, 0, &e), *items = NULL;
	if (!r)
		fail_msg("fixture is not JSON: %s (line %d)", e.text, e.line);
	ok(veld__due_compute(r, TODAY, days, &items, NULL));
	json_decref(r);
	assert_non_null(items);
	return items;
}

/* The item for `record` by `rule`, or NULL. */
static json_t *item(json_t *items, const char *rule, const char *record)
{
	json_t *it;
	size_t i;
	json_array_foreach(items, i, it) {
		if (strcmp(json_string_value(json_object_get(it, "kind")), rule) == 0 &&
		    strcmp(json_string_value(json_object_get(it, "record")), record) == 0)
			return it;
	}
	return NULL;
}

/* `record` is due by `rule` on `due`, `days` from today, overdue or not. */
static void expect_item(json_t *items, const char *rule, const char *record, const char *due,
                        int overdue, int days)
{
	json_t *it = item(items, rule, record);
	if (!it)
		fail_msg("no %s item for %s", rule, record);
	assert_string_equal(json_string_value(json_object_get(it, "due")), due);
	assert_int_equal(json_is_true(json_object_get(it, "overdue")), overdue);
	assert_int_equal(json_integer_value(json_object_get(it, "days")), days);
}

static void expect_none(json_t *items, const char *rule, const char *record)
{
	if (item(items, rule, record))
		fail_msg("%s should not be due by %s", record, rule);
}

static void test_due__day_numbers_round_trip_without_time_zones(void **state)
{
	char buf[11];
	int64_t d;
	(void)state;
	assert_int_equal(veld__day_number("1970-01-01", &d), 0);
	assert_int_equal(d, 0);
	assert_int_equal(veld__day_number("2026-11-22T23:30+01:00", &d), 0);
	veld__date_of_day(buf, d);
	assert_string_equal(buf, "2026-11-22");
	assert_int_equal(veld__day_number("2000-02-29", &d), 0);
	assert_int_equal(veld__day_number("2026-02-29", &d), -1);
	assert_int_equal(veld__day_number("2100-02-29", &d), -1);
	assert_int_equal(veld__day_number("2026-13-01", &d), -1);
	assert_int_equal(veld__day_number("2026-04-31", &d), -1);
	assert_int_equal(veld__day_number("2026-1-01", &d), -1);
	assert_int_equal(veld__day_number("", &d), -1);
	assert_int_equal(veld__day_number(NULL, &d), -1);
	/* Every day of 1900..2200 comes back as itself. */
	int64_t first, last;
	assert_int_equal(veld__day_number("1900-01-01", &first), 0);
	assert_int_equal(veld__day_number("2200-12-31", &last), 0);
	for (int64_t day = first; day <= last; day++) {
		veld__date_of_day(buf, day);
		assert_int_equal(veld__day_number(buf, &d), 0);
		assert_int_equal(d, day);
	}
	assert_int_equal(last - first + 1, 301 * 365 + 73); /* 73 leap days */
}

static void test_due__planned_visits_in_the_window_and_those_not_taken_place(void **state)
{
	(void)state;
	json_t *items = compute("{\"visit\": ["
		"{\"id\":\"v1\",\"type\":\"visit\",\"client\":\"c\",\"kind\":\"home_visit\",\"planned\":\"2026-12-06T23:30+01:00\"},"
		"{\"id\":\"v2\",\"type\":\"visit\",\"client\":\"c\",\"kind\":\"home_visit\",\"planned\":\"2026-12-07T08:00\"},"
		"{\"id\":\"v3\",\"type\":\"visit\",\"client\":\"c\",\"kind\":\"phone\",\"planned\":\"2026-11-22T08:00Z\"},"
		"{\"id\":\"v4\",\"type\":\"visit\",\"client\":\"c\",\"kind\":\"home_visit\",\"planned\":\"2026-11-10T10:00\"},"
		"{\"id\":\"v5\",\"type\":\"visit\",\"client\":\"c\",\"kind\":\"home_visit\",\"planned\":\"2026-11-10T10:00\",\"started\":\"2026-11-10T10:05\"},"
		"{\"id\":\"v6\",\"type\":\"visit\",\"client\":\"c\",\"kind\":\"no_show\",\"planned\":\"2026-11-25T10:00\"},"
		"{\"id\":\"v7\",\"type\":\"visit\",\"client\":\"c\",\"kind\":\"outreach\"},"
		"{\"id\":\"v8\",\"type\":\"visit\",\"client\":\"c\",\"kind\":\"home_visit\",\"planned\":\"2026-11-30T10:00\",\"ended\":\"2026-11-30T11:00\"}"
		"]}", 14);
	expect_item(items, "visit_planned", "v1", "2026-12-06", 0, 14); /* today + 14: in */
	expect_none(items, "visit_planned", "v2");                      /* today + 15: out */
	expect_item(items, "visit_planned", "v3", "2026-11-22", 0, 0);
	expect_item(items, "visit_planned", "v4", "2026-11-10", 1, -12);
	expect_none(items, "visit_planned", "v5"); /* took place */
	expect_none(items, "visit_planned", "v6"); /* a no-show */
	expect_none(items, "visit_planned", "v7"); /* not planned */
	expect_none(items, "visit_planned", "v8");
	assert_string_equal(json_string_value(json_object_get(item(items, "visit_planned", "v1"),
	                                                      "type")), "visit");
	assert_string_equal(json_string_value(json_object_get(item(items, "visit_planned", "v1"),
	                                                      "client")), "c");
	json_decref(items);
}

static void test_due__open_goals_by_review_date(void **state)
{
	(void)state;
	json_t *items = compute("{\"goal\": ["
		"{\"id\":\"g1\",\"type\":\"goal\",\"client\":\"c\",\"status\":\"open\",\"review_date\":\"2026-12-06\"},"
		"{\"id\":\"g2\",\"type\":\"goal\",\"client\":\"c\",\"status\":\"open\",\"review_date\":\"2026-12-07\"},"
		"{\"id\":\"g3\",\"type\":\"goal\",\"client\":\"c\",\"status\":\"achieved\",\"review_date\":\"2026-11-01\"},"
		"{\"id\":\"g4\",\"type\":\"goal\",\"client\":\"c\",\"review_date\":\"2026-11-01\"},"
		"{\"id\":\"g5\",\"type\":\"goal\",\"client\":\"c\",\"status\":\"open\"}"
		"]}", 14);
	expect_item(items, "goal_review", "g1", "2026-12-06", 0, 14);
	expect_none(items, "goal_review", "g2");
	expect_none(items, "goal_review", "g3");
	expect_item(items, "goal_review", "g4", "2026-11-01", 1, -21); /* no status: open */
	expect_none(items, "goal_review", "g5");
	assert_int_equal(json_array_size(items), 2);
	json_decref(items);
}

static void test_due__only_the_latest_woonkompas_conversation_sets_the_review(void **state)
{
	(void)state;
	json_t *items = compute("{\"woonkompas\": ["
		/* a: the earlier review was overdue, the later conversation moved it */
		"{\"id\":\"w1\",\"type\":\"woonkompas\",\"client\":\"a\",\"date\":\"2026-05-01\",\"next_review\":\"2026-11-01\"},"
		"{\"id\":\"w2\",\"type\":\"woonkompas\",\"client\":\"a\",\"date\":\"2026-11-02\",\"next_review\":\"2027-05-01\"},"
		/* b: recorded out of order; the latest by date counts */
		"{\"id\":\"w3\",\"type\":\"woonkompas\",\"client\":\"b\",\"date\":\"2026-06-01\",\"next_review\":\"2026-12-06\"},"
		"{\"id\":\"w4\",\"type\":\"woonkompas\",\"client\":\"b\",\"date\":\"2026-01-01\",\"next_review\":\"2026-06-01\"},"
		/* c: two on one day; the one recorded last counts */
		"{\"id\":\"w5\",\"type\":\"woonkompas\",\"client\":\"c\",\"date\":\"2026-06-01\",\"next_review\":\"2026-12-01\"},"
		"{\"id\":\"w6\",\"type\":\"woonkompas\",\"client\":\"c\",\"date\":\"2026-06-01\",\"next_review\":\"2026-11-20\"},"
		/* d: the latest has no next review */
		"{\"id\":\"w7\",\"type\":\"woonkompas\",\"client\":\"d\",\"date\":\"2026-01-01\",\"next_review\":\"2026-06-01\"},"
		"{\"id\":\"w8\",\"type\":\"woonkompas\",\"client\":\"d\",\"date\":\"2026-07-01\"}"
		"]}", 14);
	expect_none(items, "woonkompas_review", "w1");
	expect_none(items, "woonkompas_review", "w2");
	expect_item(items, "woonkompas_review", "w3", "2026-12-06", 0, 14);
	expect_none(items, "woonkompas_review", "w4");
	expect_none(items, "woonkompas_review", "w5");
	expect_item(items, "woonkompas_review", "w6", "2026-11-20", 1, -2);
	assert_int_equal(json_array_size(items), 2);
	json_decref(items);
}

static void test_due__escalation_steps_of_open_escalations(void **state)
{
	(void)state;
	json_t *items = compute("{"
		"\"escalation\": ["
		"{\"id\":\"e1\",\"type\":\"escalation\",\"client\":\"c\",\"about\":\"rent_arrears\",\"status\":\"open\"},"
		"{\"id\":\"e2\",\"type\":\"escalation\",\"client\":\"c\",\"about\":\"rent_arrears\",\"status\":\"closed\"},"
		"{\"id\":\"e3\",\"type\":\"escalation\",\"client\":\"c\",\"about\":\"nuisance\"}],"
		"\"escalation_step\": ["
		"{\"id\":\"s1\",\"type\":\"escalation_step\",\"client\":\"c\",\"escalation\":\"e1\",\"step\":\"reminder\",\"date\":\"2026-11-01\",\"due\":\"2026-12-06\"},"
		"{\"id\":\"s2\",\"type\":\"escalation_step\",\"client\":\"c\",\"escalation\":\"e1\",\"step\":\"summons\",\"date\":\"2026-11-01\",\"due\":\"2026-11-30\",\"done\":\"2026-11-20\"},"
		"{\"id\":\"s3\",\"type\":\"escalation_step\",\"client\":\"c\",\"escalation\":\"e2\",\"step\":\"reminder\",\"date\":\"2026-11-01\",\"due\":\"2026-11-30\"},"
		"{\"id\":\"s4\",\"type\":\"escalation_step\",\"client\":\"c\",\"escalation\":\"e3\",\"step\":\"payment_plan\",\"date\":\"2026-11-01\",\"due\":\"2026-11-20\"},"
		"{\"id\":\"s5\",\"type\":\"escalation_step\",\"client\":\"c\",\"escalation\":\"gone\",\"step\":\"reminder\",\"date\":\"2026-11-01\",\"due\":\"2026-11-30\"},"
		"{\"id\":\"s6\",\"type\":\"escalation_step\",\"client\":\"c\",\"escalation\":\"e1\",\"step\":\"judgment\",\"date\":\"2026-11-01\",\"due\":\"2026-12-07\"},"
		"{\"id\":\"s7\",\"type\":\"escalation_step\",\"client\":\"c\",\"escalation\":\"e1\",\"step\":\"judgment\",\"date\":\"2026-11-01\"}]"
		"}", 14);
	expect_item(items, "escalation_step", "s1", "2026-12-06", 0, 14);
	expect_none(items, "escalation_step", "s2"); /* done */
	expect_none(items, "escalation_step", "s3"); /* its escalation is closed */
	expect_item(items, "escalation_step", "s4", "2026-11-20", 1, -2); /* no status: open */
	expect_none(items, "escalation_step", "s5"); /* its escalation is gone */
	expect_none(items, "escalation_step", "s6");
	expect_none(items, "escalation_step", "s7");
	assert_int_equal(json_array_size(items), 2);
	json_decref(items);
}

static void test_due__agreed_actions_not_done(void **state)
{
	(void)state;
	json_t *items = compute("{\"action\": ["
		"{\"id\":\"a1\",\"type\":\"action\",\"client\":\"c\",\"owner\":\"worker\",\"due\":\"2026-12-06\"},"
		"{\"id\":\"a2\",\"type\":\"action\",\"client\":\"c\",\"owner\":\"client\",\"due\":\"2026-12-07\"},"
		"{\"id\":\"a3\",\"type\":\"action\",\"client\":\"c\",\"owner\":\"worker\",\"due\":\"2026-11-01\",\"done\":\"2026-11-02\"},"
		"{\"id\":\"a4\",\"type\":\"action\",\"client\":\"c\",\"owner\":\"corporation\",\"due\":\"2026-11-21\"},"
		"{\"id\":\"a5\",\"type\":\"action\",\"client\":\"c\",\"owner\":\"worker\"}"
		"]}", 14);
	expect_item(items, "action", "a1", "2026-12-06", 0, 14);
	expect_none(items, "action", "a2");
	expect_none(items, "action", "a3");
	expect_item(items, "action", "a4", "2026-11-21", 1, -1);
	expect_none(items, "action", "a5");
	json_decref(items);
}

/* Always 90 days ahead, whatever the window: here a window of 0. */
static void test_due__standing_decisions_90_days_before_they_end(void **state)
{
	(void)state;
	json_t *items = compute("{\"waakvlam\": ["
		"{\"id\":\"d1\",\"type\":\"waakvlam\",\"client\":\"a\",\"start\":\"2025-02-21\",\"end\":\"2027-02-20\"},"
		"{\"id\":\"d2\",\"type\":\"waakvlam\",\"client\":\"b\",\"start\":\"2025-02-22\",\"end\":\"2027-02-21\"},"
		"{\"id\":\"d3\",\"type\":\"waakvlam\",\"client\":\"c\",\"start\":\"2024-10-01\",\"end\":\"2026-10-01\"},"
		/* d: renewed, so the one ending is done with */
		"{\"id\":\"d4\",\"type\":\"waakvlam\",\"client\":\"d\",\"start\":\"2025-01-01\",\"end\":\"2026-12-31\"},"
		"{\"id\":\"d5\",\"type\":\"waakvlam\",\"client\":\"d\",\"start\":\"2027-01-01\",\"end\":\"2028-12-31\"},"
		/* e: ended, and the newer one ended too: only the newer is overdue */
		"{\"id\":\"d6\",\"type\":\"waakvlam\",\"client\":\"e\",\"start\":\"2026-01-01\",\"end\":\"2026-11-01\"},"
		"{\"id\":\"d7\",\"type\":\"waakvlam\",\"client\":\"e\",\"start\":\"2024-01-01\",\"end\":\"2025-12-31\"},"
		"{\"id\":\"d8\",\"type\":\"waakvlam\",\"client\":\"f\",\"start\":\"2024-01-01\"}"
		"]}", 0);
	expect_item(items, "standing_decision_ending", "d1", "2027-02-20", 0, 90);
	expect_none(items, "standing_decision_ending", "d2");
	expect_item(items, "standing_decision_ending", "d3", "2026-10-01", 1, -52);
	expect_none(items, "standing_decision_ending", "d4");
	expect_none(items, "standing_decision_ending", "d5");
	expect_item(items, "standing_decision_ending", "d6", "2026-11-01", 1, -21);
	expect_none(items, "standing_decision_ending", "d7");
	expect_none(items, "standing_decision_ending", "d8"); /* no end */
	assert_int_equal(json_array_size(items), 3);
	json_decref(items);
	/* A window longer than 90 days does not stretch it. */
	items = compute("{\"waakvlam\": ["
		"{\"id\":\"d2\",\"type\":\"waakvlam\",\"client\":\"b\",\"start\":\"2025-02-22\",\"end\":\"2027-02-21\"}]}",
		200);
	assert_int_equal(json_array_size(items), 0);
	json_decref(items);
}

static void test_due__tenancies_moving_to_the_clients_own_name(void **state)
{
	(void)state;
	json_t *items = compute("{\"tenancy\": ["
		"{\"id\":\"t1\",\"type\":\"tenancy\",\"client\":\"c\",\"form\":\"three_party\",\"own_name_planned\":\"2026-12-06\"},"
		"{\"id\":\"t2\",\"type\":\"tenancy\",\"client\":\"c\",\"form\":\"three_party\",\"own_name_planned\":\"2026-12-07\"},"
		"{\"id\":\"t3\",\"type\":\"tenancy\",\"client\":\"c\",\"form\":\"three_party\",\"own_name_planned\":\"2026-11-01\",\"own_name_actual\":\"2026-11-05\"},"
		"{\"id\":\"t4\",\"type\":\"tenancy\",\"client\":\"c\",\"form\":\"three_party\",\"own_name_planned\":\"2026-11-01\",\"end\":\"2026-10-01\"},"
		"{\"id\":\"t5\",\"type\":\"tenancy\",\"client\":\"c\",\"form\":\"via_care_provider\",\"own_name_planned\":\"2026-11-01\"},"
		"{\"id\":\"t6\",\"type\":\"tenancy\",\"client\":\"c\",\"form\":\"via_care_provider\"}"
		"]}", 14);
	expect_item(items, "own_name_move", "t1", "2026-12-06", 0, 14);
	expect_none(items, "own_name_move", "t2");
	expect_none(items, "own_name_move", "t3"); /* moved */
	expect_none(items, "own_name_move", "t4"); /* ended */
	expect_item(items, "own_name_move", "t5", "2026-11-01", 1, -21);
	expect_none(items, "own_name_move", "t6");
	json_decref(items);
}

static void test_due__time_outs_open_longer_than_agreed(void **state)
{
	(void)state;
	json_t *items = compute("{\"time_out\": ["
		"{\"id\":\"o1\",\"type\":\"time_out\",\"client\":\"c\",\"start\":\"2026-11-01\",\"agreed_days\":14},"
		"{\"id\":\"o2\",\"type\":\"time_out\",\"client\":\"c\",\"start\":\"2026-11-20\",\"agreed_days\":16},"
		"{\"id\":\"o3\",\"type\":\"time_out\",\"client\":\"c\",\"start\":\"2026-11-20\",\"agreed_days\":17},"
		"{\"id\":\"o4\",\"type\":\"time_out\",\"client\":\"c\",\"start\":\"2026-11-01\",\"agreed_days\":14,\"end\":\"2026-11-10\"},"
		"{\"id\":\"o5\",\"type\":\"time_out\",\"client\":\"c\",\"start\":\"2026-11-01\"},"
		"{\"id\":\"o6\",\"type\":\"time_out\",\"client\":\"c\",\"start\":\"2026-11-12\",\"agreed_days\":10}"
		"]}", 14);
	expect_item(items, "time_out_overdue", "o1", "2026-11-15", 1, -7);
	expect_item(items, "time_out_overdue", "o2", "2026-12-06", 0, 14);
	expect_none(items, "time_out_overdue", "o3");
	expect_none(items, "time_out_overdue", "o4"); /* ended */
	expect_none(items, "time_out_overdue", "o5"); /* nothing agreed */
	expect_item(items, "time_out_overdue", "o6", "2026-11-22", 0, 0); /* up today */
	json_decref(items);
}

static void test_due__clients_not_seen_for_30_days(void **state)
{
	(void)state;
	json_t *items = compute("{"
		"\"client\": ["
		"{\"id\":\"a\",\"type\":\"client\",\"created\":\"2025-01-01T10:00:00.000Z\"},"
		"{\"id\":\"b\",\"type\":\"client\",\"created\":\"2025-01-01T10:00:00.000Z\"},"
		"{\"id\":\"c\",\"type\":\"client\",\"created\":\"2026-09-01T10:00:00.000Z\"},"
		"{\"id\":\"d\",\"type\":\"client\",\"created\":\"2026-10-23T10:00:00.000Z\"},"
		"{\"id\":\"e\",\"type\":\"client\",\"created\":\"2025-01-01T10:00:00.000Z\"},"
		"{\"id\":\"f\",\"type\":\"client\",\"created\":\"2026-10-01T10:00:00.000Z\"}],"
		"\"visit\": ["
		/* a: last contact 31 days ago; an older one too */
		"{\"id\":\"va1\",\"type\":\"visit\",\"client\":\"a\",\"kind\":\"phone\",\"started\":\"2026-09-01T10:00\"},"
		"{\"id\":\"va2\",\"type\":\"visit\",\"client\":\"a\",\"kind\":\"home_visit\",\"started\":\"2026-10-22T10:00\"},"
		/* b: 30 days ago is not more than 30 */
		"{\"id\":\"vb\",\"type\":\"visit\",\"client\":\"b\",\"kind\":\"outreach\",\"started\":\"2026-10-23T10:00\"},"
		/* c: only a no-show: no contact, recorded 82 days ago */
		"{\"id\":\"vc\",\"type\":\"visit\",\"client\":\"c\",\"kind\":\"no_show\",\"planned\":\"2026-11-01T10:00\"},"
		/* e: a phone call that only has its end */
		"{\"id\":\"ve\",\"type\":\"visit\",\"client\":\"e\",\"kind\":\"phone\",\"ended\":\"2026-11-20T10:00\"},"
		/* f: a contact dated after today does not count */
		"{\"id\":\"vf\",\"type\":\"visit\",\"client\":\"f\",\"kind\":\"home_visit\",\"started\":\"2026-12-01T10:00\"}]"
		"}", 14);
	expect_item(items, "not_seen", "a", "2026-11-21", 1, -1);
	expect_none(items, "not_seen", "b");
	expect_item(items, "not_seen", "c", "2026-10-01", 1, -52);
	expect_none(items, "not_seen", "d"); /* recorded 30 days ago */
	expect_none(items, "not_seen", "e");
	expect_item(items, "not_seen", "f", "2026-10-31", 1, -22);
	assert_string_equal(json_string_value(json_object_get(item(items, "not_seen", "a"), "type")),
	                    "client");
	assert_string_equal(json_string_value(json_object_get(item(items, "not_seen", "a"), "client")),
	                    "a");
	json_decref(items);
}

static void test_due__open_signals_without_follow_up(void **state)
{
	(void)state;
	json_t *items = compute("{\"signal\": ["
		"{\"id\":\"s1\",\"type\":\"signal\",\"client\":\"c\",\"created\":\"2026-11-20T23:59:00.000Z\",\"status\":\"open\"},"
		"{\"id\":\"s2\",\"type\":\"signal\",\"client\":\"c\",\"created\":\"2026-11-19T08:00:00.000Z\",\"status\":\"open\"},"
		"{\"id\":\"s3\",\"type\":\"signal\",\"client\":\"c\",\"created\":\"2026-11-01T08:00:00.000Z\",\"status\":\"closed\"},"
		"{\"id\":\"s4\",\"type\":\"signal\",\"client\":\"c\",\"created\":\"2026-11-01T08:00:00.000Z\",\"status\":\"open\",\"follow_up\":\"called the corporation\"},"
		"{\"id\":\"s5\",\"type\":\"signal\",\"client\":\"c\",\"created\":\"2026-11-22T08:00:00.000Z\"}"
		"]}", 0);
	expect_item(items, "signal_without_follow_up", "s1", "2026-11-20", 0, -2); /* two days */
	expect_item(items, "signal_without_follow_up", "s2", "2026-11-19", 1, -3); /* three */
	expect_none(items, "signal_without_follow_up", "s3");
	expect_none(items, "signal_without_follow_up", "s4");
	expect_item(items, "signal_without_follow_up", "s5", "2026-11-22", 0, 0);
	json_decref(items);
}

/* By due date, then client, then rule, then record, whatever the order of
 * the records given. */
static void test_due__items_sorted_by_date_then_client(void **state)
{
	static const char *const want[][2] = {
		{"action", "a1"}, {"goal_review", "g1"}, {"goal_review", "g3"},
		{"action", "a2"}, {"goal_review", "g2"}, {"visit_planned", "v1"},
	};
	(void)state;
	json_t *items = compute("{"
		"\"visit\": [{\"id\":\"v1\",\"type\":\"visit\",\"client\":\"b\",\"kind\":\"phone\",\"planned\":\"2026-11-30T09:00\"}],"
		"\"goal\": ["
		"{\"id\":\"g2\",\"type\":\"goal\",\"client\":\"b\",\"review_date\":\"2026-11-30\"},"
		"{\"id\":\"g3\",\"type\":\"goal\",\"client\":\"b\",\"review_date\":\"2026-11-01\"},"
		"{\"id\":\"g1\",\"type\":\"goal\",\"client\":\"a\",\"review_date\":\"2026-11-01\"}],"
		"\"action\": ["
		"{\"id\":\"a2\",\"type\":\"action\",\"client\":\"a\",\"owner\":\"worker\",\"due\":\"2026-11-30\"},"
		"{\"id\":\"a1\",\"type\":\"action\",\"client\":\"a\",\"owner\":\"worker\",\"due\":\"2026-11-01\"}]"
		"}", 14);
	assert_int_equal(json_array_size(items), 6);
	for (size_t i = 0; i < 6; i++) {
		json_t *it = json_array_get(items, i);
		assert_string_equal(json_string_value(json_object_get(it, "kind")), want[i][0]);
		assert_string_equal(json_string_value(json_object_get(it, "record")), want[i][1]);
	}
	json_decref(items);
}

static void test_due__refuses_a_bad_today_or_window(void **state)
{
	json_t *r = json_object(), *items = (json_t *)0x1;
	(void)state;
	assert_int_equal(veld__due_compute(r, "2026-11-31", 14, &items, NULL), VELD_EINVAL);
	assert_null(items);
	assert_int_equal(veld__due_compute(r, "2026-11-22T10:00", 14, &items, NULL), VELD_EINVAL);
	assert_int_equal(veld__due_compute(r, TODAY, -1, &items, NULL), VELD_EINVAL);
	assert_int_equal(veld__due_compute(r, TODAY, VELD_DUE_DAYS_MAX + 1, &items, NULL), VELD_EINVAL);
	ok(veld__due_compute(r, TODAY, VELD_DUE_DAYS_MAX, &items, NULL));
	assert_int_equal(json_array_size(items), 0);
	json_decref(items);
	json_decref(r);
}

/* ---- veld_due on a store -------------------------------------------------------- */

struct fx {
	char *dir;
	veld_store *s;
	char *own, *colleague, *nobody; /* anna's client, bert's, one without a contact person */
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	f->s = store_new(&f->dir, "anna", "noord");
	f->own = create(f->s, "client", "{\"name\":\"Jan de Vries\",\"contact_person\":\"anna\"}");
	f->colleague = create(f->s, "client", "{\"name\":\"Piet Jansen\",\"contact_person\":\"bert\"}");
	f->nobody = create(f->s, "client", "{\"name\":\"Kees Bakker\"}");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	veld_store_free(f->s);
	rm_rf(f->dir);
	free(f->dir);
	free(f->own);
	free(f->colleague);
	free(f->nobody);
	free(f);
	return 0;
}

/* Create a record of `kind` for `client` from the fields in `fmt`
 * (without the client); returns its id (malloc'd). */
static char *record(veld_store *s, const char *kind, const char *client, const char *fields)
{
	char buf[1024];
	snprintf(buf, sizeof buf, "{\"client\":\"%s\",%s}", client, fields);
	return create(s, kind, buf);
}

static json_t *due(veld_store *s, const char *input)
{
	char *out = NULL;
	json_t *j;
	ok(veld_due(s, input, NULL, &out));
	j = json_loads(out, 0, NULL);
	veld_free(out);
	assert_non_null(j);
	return j;
}

static int64_t log_entries(veld_store *s)
{
	uint64_t n = 0;
	ok(veld_audit_verify(s, &n));
	return (int64_t)n;
}

/* Every client of the store gets a goal to review and a signal without
 * follow-up; their ids go to ids[0..5] (goal, signal per client). */
static void goals_and_signals(struct fx *f, char *ids[6])
{
	const char *clients[] = {f->own, f->colleague, f->nobody};
	for (int i = 0; i < 3; i++) {
		ids[2 * i] = record(f->s, "goal", clients[i], "\"domain\":\"financien\","
		                    "\"description\":\"Pays the rent\",\"review_date\":\"2026-11-30\"");
		ids[2 * i + 1] = record(f->s, "signal", clients[i], "\"kind\":\"rent_arrears\","
		                        "\"severity\":\"high\"");
	}
}

static void free_ids(char **ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
}

static int has_record(json_t *items, const char *id)
{
	json_t *it;
	size_t i;
	json_array_foreach(items, i, it) {
		if (strcmp(json_string_value(json_object_get(it, "record")), id) == 0)
			return 1;
	}
	return 0;
}

static void test_due__store_answers_for_the_workers_own_clients(void **state)
{
	struct fx *f = *state;
	char *ids[6];
	char *planned = record(f->s, "visit", f->own, "\"kind\":\"home_visit\","
	                       "\"planned\":\"2026-11-24T10:00\"");
	char *done = record(f->s, "visit", f->own, "\"kind\":\"home_visit\","
	                    "\"planned\":\"2026-11-20T10:00\",\"started\":\"2026-11-20T10:05\"");
	goals_and_signals(f, ids);
	/* A signal is due the day it is raised, which is the clock's: today
	 * is the clock's day too (what is planned before it is overdue). */
	char today[16], req[64];
	time_t now = time(NULL);
	strftime(today, sizeof today, "%Y-%m-%d", gmtime(&now));
	snprintf(req, sizeof req, "{\"today\":\"%s\",\"days\":14}", today);
	json_t *ans = due(f->s, req), *items;
	items = json_object_get(ans, "items");
	assert_string_equal(json_string_value(json_object_get(ans, "today")), today);
	assert_int_equal(json_integer_value(json_object_get(ans, "days")), 14);
	assert_int_equal(json_integer_value(json_object_get(ans, "clients")), 1);
	assert_true(has_record(items, planned));
	assert_false(has_record(items, done));
	assert_true(has_record(items, ids[0]) && has_record(items, ids[1])); /* anna's */
	assert_false(has_record(items, ids[2]) || has_record(items, ids[3])); /* bert's */
	assert_false(has_record(items, ids[4]) || has_record(items, ids[5])); /* nobody's */
	assert_int_equal(json_array_size(items), 3);
	assert_null(json_object_get(ans, "by_worker"));
	/* Ids only: nothing of a record's values. */
	json_t *it;
	size_t i;
	json_array_foreach(items, i, it)
		assert_int_equal(json_object_size(it), 7);
	json_decref(ans);

	/* "all": every client the store holds. */
	snprintf(req, sizeof req, "{\"today\":\"%s\",\"all\":true}", today);
	ans = due(f->s, req);
	items = json_object_get(ans, "items");
	assert_int_equal(json_integer_value(json_object_get(ans, "clients")), 3);
	assert_int_equal(json_integer_value(json_object_get(ans, "days")), 14); /* the default */
	for (int k = 0; k < 6; k++)
		assert_true(has_record(items, ids[k]));
	json_decref(ans);
	free_ids(ids, 6);
	free(planned);
	free(done);
}

/* One access-log entry, a read, for each client looked at. */
static void test_due__logs_one_read_per_client_looked_at(void **state)
{
	struct fx *f = *state;
	char *ids[6], *out = NULL;
	goals_and_signals(f, ids);
	int64_t before = log_entries(f->s);
	json_decref(due(f->s, "{\"today\":\"" TODAY "\"}"));
	assert_int_equal(log_entries(f->s), before + 1);
	ok(veld_audit_list(f->s, "{\"limit\":1}", &out));
	json_t *log = json_loads(out, 0, NULL), *e = json_array_get(log, 0);
	assert_string_equal(json_string_value(json_object_get(e, "event")), "read");
	assert_string_equal(json_string_value(json_object_get(e, "client")), f->own);
	assert_string_equal(json_string_value(json_object_get(e, "purpose")), "care");
	json_decref(log);
	veld_free(out);
	json_decref(due(f->s, "{\"today\":\"" TODAY "\",\"all\":true}"));
	assert_int_equal(log_entries(f->s), before + 4);
	free_ids(ids, 6);
}

static void test_due__store_refuses_other_teams_and_bad_input(void **state)
{
	struct fx *f = *state;
	char *out = (char *)0x1;
	static const char *const bad[] = {
		"{\"days\":367}", "{\"days\":-1}", "{\"days\":\"14\"}", "{\"today\":\"2026-02-30\"}",
		"{\"today\":\"22-11-2026\"}", "{\"all\":1}", "{\"by_worker\":\"yes\"}", "{\"team\":\"\"}",
		"{\"day\":14}", "[]", "not json",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(veld_due(f->s, bad[i], NULL, &out), VELD_EINVAL);
		assert_null(out);
	}
	assert_int_equal(veld_due(f->s, "{\"team\":\"zuid\"}", NULL, &out), VELD_EPERM);
	assert_null(out);
	json_t *ans = due(f->s, "{\"team\":\"noord\",\"days\":0}");
	assert_int_equal(json_integer_value(json_object_get(ans, "clients")), 1);
	json_decref(ans);
	/* No input: the defaults, today as the store's clock says. */
	ans = due(f->s, NULL);
	assert_int_equal(json_string_length(json_object_get(ans, "today")), 10);
	json_decref(ans);
}

/* The office's store: one team's clients, grouped per worker. */
static void test_due__office_answers_per_worker_for_a_team(void **state)
{
	veld_store *s = NULL;
	veld_store_options o = fast_opts("lead", NULL);
	char *d = tmpdir_new(), sub[512];
	(void)state;
	snprintf(sub, sizeof sub, "%s/office", d);
	ok(veld_office_create(&s, sub, TEST_PASS, strlen(TEST_PASS), &o));
	char *c[4] = {
		create(s, "client", "{\"name\":\"A\",\"team\":\"noord\",\"contact_person\":\"bert\"}"),
		create(s, "client", "{\"name\":\"B\",\"team\":\"noord\",\"contact_person\":\"anna\"}"),
		create(s, "client", "{\"name\":\"C\",\"team\":\"noord\"}"),
		create(s, "client", "{\"name\":\"D\",\"team\":\"zuid\",\"contact_person\":\"anna\"}"),
	};
	char *g[4];
	for (int i = 0; i < 4; i++)
		g[i] = record(s, "goal", c[i], "\"domain\":\"financien\",\"description\":\"Rent\","
		              "\"review_date\":\"2026-11-30\"");
	/* B's last contact up to today is the phone call: a no-show is none,
	 * and one typed a month ahead does not count yet. */
	free(record(s, "visit", c[1], "\"kind\":\"home_visit\",\"started\":\"2026-11-02T10:00\""));
	free(record(s, "visit", c[1], "\"kind\":\"phone\",\"ended\":\"2026-11-10T11:00\""));
	free(record(s, "visit", c[1], "\"kind\":\"no_show\",\"planned\":\"2026-11-15T10:00\""));
	free(record(s, "visit", c[1], "\"kind\":\"home_visit\",\"started\":\"2026-12-20T10:00\""));
	json_t *ans = due(s, "{\"today\":\"" TODAY "\",\"team\":\"noord\",\"all\":true,"
	                     "\"by_worker\":true}");
	json_t *groups = json_object_get(ans, "by_worker");
	assert_int_equal(json_integer_value(json_object_get(ans, "clients")), 3);
	assert_int_equal(json_array_size(json_object_get(ans, "items")), 3);
	assert_false(has_record(json_object_get(ans, "items"), g[3])); /* zuid */
	assert_int_equal(json_array_size(groups), 3);
	static const char *const workers[] = {"anna", "bert", ""}; /* by name, none last */
	static const int goal_of[] = {1, 0, 2};
	for (int i = 0; i < 3; i++) {
		json_t *grp = json_array_get(groups, (size_t)i);
		assert_string_equal(json_string_value(json_object_get(grp, "worker")), workers[i]);
		assert_int_equal(json_integer_value(json_object_get(grp, "clients")), 1);
		assert_int_equal(json_array_size(json_object_get(grp, "items")), 1);
		assert_true(has_record(json_object_get(grp, "items"), g[goal_of[i]]));
		/* The caseload: each client of the worker with the last contact. */
		json_t *cl = json_array_get(json_object_get(grp, "caseload"), 0);
		assert_int_equal(json_array_size(json_object_get(grp, "caseload")), 1);
		assert_string_equal(json_string_value(json_object_get(cl, "client")), c[goal_of[i]]);
		if (goal_of[i] == 1)
			assert_string_equal(json_string_value(json_object_get(cl, "last_contact")),
			                    "2026-11-10");
		else
			assert_true(json_is_null(json_object_get(cl, "last_contact")));
	}
	json_decref(ans);
	/* Without "all": the acting user's own clients (the office has none). */
	ans = due(s, "{\"today\":\"" TODAY "\",\"team\":\"noord\"}");
	assert_int_equal(json_integer_value(json_object_get(ans, "clients")), 0);
	json_decref(ans);
	free_ids(c, 4);
	free_ids(g, 4);
	veld_store_free(s);
	rm_rf(d);
	free(d);
}

/* veld_due opens only the fields the rules read: a visit's notes on what
 * was agreed, its scores, a client's name stay sealed. */
static void test_due__reads_only_the_fields_the_rules_need(void **state)
{
	struct fx *f = *state;
	const struct veld__due_kind *visit = NULL;
	for (const struct veld__due_kind *k = veld__due_kinds; k->kind; k++)
		if (strcmp(k->kind, "visit") == 0)
			visit = k;
	assert_non_null(visit);
	free(record(f->s, "visit", f->own, "\"kind\":\"home_visit\",\"started\":\"2026-11-20T10:00\","
	            "\"actions\":\"Budget plan\",\"scores\":{\"financien\":2}"));
	json_t *arr = json_array(), *clients = json_object(), *v;
	ok(veld__list_records(f->s, "visit", NULL, visit->fields, arr, clients));
	assert_int_equal(json_array_size(arr), 1);
	v = json_array_get(arr, 0);
	assert_string_equal(json_string_value(json_object_get(v, "kind")), "home_visit");
	assert_non_null(json_object_get(v, "started"));
	assert_null(json_object_get(v, "actions"));
	assert_null(json_object_get(v, "scores"));
	assert_null(json_object_get(v, "worker"));
	assert_non_null(json_object_get(clients, f->own));
	json_decref(arr);
	json_decref(clients);
}

/* The kinds beyond the first five, once the store has them. */
static int store_has_kind(veld_store *s, const char *kind)
{
	char *out = NULL;
	ok(veld_schema_json(s, &out));
	json_t *schema = json_loads(out, 0, NULL);
	int has = json_object_get(json_object_get(schema, "kinds"), kind) != NULL;
	json_decref(schema);
	veld_free(out);
	return has;
}

static void test_due__store_reads_the_new_kinds(void **state)
{
	struct fx *f = *state;
	static const char *const kinds[] = {"woonkompas", "action", "tenancy", "waakvlam",
	                                    "time_out", "escalation", "escalation_step"};
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (!store_has_kind(f->s, kinds[i]))
			skip();
	char *ids[7];
	ids[0] = record(f->s, "woonkompas", f->own, "\"date\":\"2026-05-01\",\"next_review\":\"2026-11-30\"");
	ids[1] = record(f->s, "action", f->own, "\"description\":\"Call the corporation\","
	                "\"owner\":\"worker\",\"due\":\"2026-11-25\"");
	ids[2] = record(f->s, "tenancy", f->own, "\"form\":\"three_party\",\"own_name_planned\":\"2026-12-01\"");
	ids[3] = record(f->s, "waakvlam", f->own, "\"number\":\"WB-1\",\"municipality\":\"Utrecht\","
	                "\"start\":\"2025-01-01\",\"end\":\"2027-01-31\"");
	ids[4] = record(f->s, "time_out", f->own, "\"start\":\"2026-11-01\",\"agreed_days\":14");
	ids[5] = record(f->s, "escalation", f->own, "\"about\":\"rent_arrears\"");
	char step[256];
	snprintf(step, sizeof step, "\"escalation\":\"%s\",\"step\":\"reminder\",\"date\":\"2026-11-01\","
	         "\"due\":\"2026-11-21\"", ids[5]);
	ids[6] = record(f->s, "escalation_step", f->own, step);
	static const struct {
		const char *rule;
		int id; /* in ids */
		const char *due;
		int overdue, days;
	} want[] = {
		{"woonkompas_review", 0, "2026-11-30", 0, 8},
		{"action", 1, "2026-11-25", 0, 3},
		{"own_name_move", 2, "2026-12-01", 0, 9},
		{"standing_decision_ending", 3, "2027-01-31", 0, 70},
		{"time_out_overdue", 4, "2026-11-15", 1, -7},
		{"escalation_step", 6, "2026-11-21", 1, -1},
	};
	json_t *ans = due(f->s, "{\"today\":\"" TODAY "\"}"), *items = json_object_get(ans, "items");
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		expect_item(items, want[i].rule, ids[want[i].id], want[i].due, want[i].overdue,
		            want[i].days);
	json_decref(ans);
	free_ids(ids, 7);
}

/* ---- what is kept between calls (duekept.c) --------------------------------- */

/* Rows of due_kept in the store. */
static int64_t kept_rows(veld_store *s)
{
	sqlite3_stmt *st;
	int64_t n = -1;
	assert_int_equal(sqlite3_prepare_v2(s->db, "SELECT count(*) FROM due_kept", -1, &st, NULL),
	                 SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* The items the rules give on every record of the store, none left out. */
static json_t *due_from_all_records(veld_store *s, const char *today, int days)
{
	json_t *records = json_object(), *read = json_object(), *items = NULL;
	for (const struct veld__due_kind *k = veld__due_kinds; k->kind; k++) {
		json_t *list = json_array();
		if (veld__kind_known(s, k->kind))
			ok(veld__list_records(s, k->kind, NULL, k->fields, list, read));
		json_object_set_new(records, k->kind, list);
	}
	ok(veld__due_compute(records, today, days, &items, NULL));
	json_decref(records);
	json_decref(read);
	return items;
}

/* A client's history of every kind the rules read, with records that can
 * never be due again beside those that are or may be. */
static void history(struct fx *f, char **ids, size_t *n)
{
	static const char *const visits[] = {
		"\"kind\":\"home_visit\",\"planned\":\"2026-10-01T10:00\",\"started\":\"2026-10-01T10:05\"",
		"\"kind\":\"phone\",\"ended\":\"2026-10-05T11:00\"",
		"\"kind\":\"no_show\",\"planned\":\"2026-11-12T10:00\"",
		"\"kind\":\"home_visit\",\"planned\":\"2026-11-18T10:00\"",
		"\"kind\":\"home_visit\",\"planned\":\"2026-11-26T10:00\"",
		"\"kind\":\"outreach\",\"started\":\"2026-12-20T10:00\"", /* typed a month ahead */
		"\"kind\":\"home_visit\",\"planned\":\"2027-03-01T10:00\"",
	};
	for (size_t i = 0; i < sizeof visits / sizeof visits[0]; i++)
		ids[(*n)++] = record(f->s, "visit", f->own, visits[i]);
	ids[(*n)++] = record(f->s, "signal", f->own, "\"kind\":\"rent_arrears\",\"severity\":\"high\"");
	ids[(*n)++] = record(f->s, "signal", f->own, "\"kind\":\"rent_arrears\",\"severity\":\"low\","
	                     "\"follow_up\":\"Called the corporation\"");
	ids[(*n)++] = record(f->s, "signal", f->own, "\"kind\":\"neighbour_complaints\",\"severity\":\"low\","
	                     "\"status\":\"closed\"");
	ids[(*n)++] = record(f->s, "goal", f->own, "\"domain\":\"financien\",\"description\":\"Rent\","
	                     "\"review_date\":\"2026-11-30\"");
	ids[(*n)++] = record(f->s, "goal", f->own, "\"domain\":\"financien\",\"description\":\"Post\","
	                     "\"review_date\":\"2026-06-30\",\"status\":\"achieved\"");
	ids[(*n)++] = record(f->s, "goal", f->colleague, "\"domain\":\"financien\","
	                     "\"description\":\"Rent\",\"review_date\":\"2026-11-23\"");
	if (!store_has_kind(f->s, "woonkompas") || !store_has_kind(f->s, "escalation_step"))
		return;
	ids[(*n)++] = record(f->s, "woonkompas", f->own, "\"date\":\"2026-05-01\","
	                     "\"next_review\":\"2026-11-01\"");
	ids[(*n)++] = record(f->s, "woonkompas", f->own, "\"date\":\"2026-11-01\","
	                     "\"next_review\":\"2027-05-01\"");
	ids[(*n)++] = record(f->s, "action", f->own, "\"description\":\"Call\",\"owner\":\"worker\","
	                     "\"due\":\"2026-11-25\"");
	ids[(*n)++] = record(f->s, "action", f->own, "\"description\":\"Write\",\"owner\":\"worker\","
	                     "\"due\":\"2026-10-25\",\"done\":\"2026-10-20\"");
	ids[(*n)++] = record(f->s, "waakvlam", f->own, "\"number\":\"WB-1\",\"municipality\":\"Utrecht\","
	                     "\"start\":\"2024-01-01\",\"end\":\"2026-12-31\"");
	ids[(*n)++] = record(f->s, "waakvlam", f->own, "\"number\":\"WB-2\",\"municipality\":\"Utrecht\","
	                     "\"start\":\"2026-12-01\",\"end\":\"2027-02-28\"");
	ids[(*n)++] = record(f->s, "escalation", f->own, "\"about\":\"rent_arrears\"");
	char step[256];
	snprintf(step, sizeof step, "\"escalation\":\"%s\",\"step\":\"reminder\",\"date\":\"2026-11-01\","
	         "\"due\":\"2026-11-21\"", ids[*n - 1]);
	ids[(*n)++] = record(f->s, "escalation_step", f->own, step);
	snprintf(step, sizeof step, "\"escalation\":\"%s\",\"step\":\"payment_plan\",\"date\":"
	         "\"2026-10-01\",\"due\":\"2026-10-21\",\"done\":\"2026-10-15\"", ids[*n - 2]);
	ids[(*n)++] = record(f->s, "escalation_step", f->own, step);
	ids[(*n)++] = record(f->s, "time_out", f->own, "\"start\":\"2026-11-01\",\"agreed_days\":14");
	ids[(*n)++] = record(f->s, "tenancy", f->own, "\"form\":\"three_party\","
	                     "\"own_name_planned\":\"2027-01-01\"");
}

/* What veld_due answers from the records it keeps is what the rules give
 * on all records: on days before, between and after the records' dates
 * (one before a contact typed ahead, which the kept records cannot
 * answer), with every window, and on the second call as on the first. */
static void test_due__kept_records_answer_as_all_records_do(void **state)
{
	struct fx *f = *state;
	char *ids[32];
	size_t n = 0;
	static const char *const days[] = {"2026-06-01", "2026-11-13", TODAY, "2026-12-21",
	                                   "2027-06-01"};
	static const int windows[] = {0, 14, 90, VELD_DUE_DAYS_MAX};
	history(f, ids, &n);
	for (size_t d = 0; d < sizeof days / sizeof days[0]; d++) {
		for (size_t w = 0; w < sizeof windows / sizeof windows[0]; w++) {
			char req[96];
			json_t *want = due_from_all_records(f->s, days[d], windows[w]);
			snprintf(req, sizeof req, "{\"today\":\"%s\",\"days\":%d,\"all\":true}", days[d],
			         windows[w]);
			for (int call = 0; call < 2; call++) {
				json_t *ans = due(f->s, req);
				if (!json_equal(json_object_get(ans, "items"), want)) {
					char *a = json_dumps(json_object_get(ans, "items"), 0);
					char *b = json_dumps(want, 0);
					fail_msg("today %s, %d days, call %d:\n got  %s\n want %s", days[d],
					         windows[w], call, a, b);
				}
				json_decref(ans);
			}
			json_decref(want);
		}
	}
	assert_int_equal(kept_rows(f->s), 3); /* one per client */
	free_ids(ids, n);
}

/* A change to any record of a client drops what was kept of it: the next
 * call answers from the change. */
static void test_due__a_change_shows_at_the_next_call(void **state)
{
	struct fx *f = *state;
	char *signal = record(f->s, "signal", f->own, "\"kind\":\"rent_arrears\",\"severity\":\"high\"");
	char *other = record(f->s, "goal", f->colleague, "\"domain\":\"financien\","
	                     "\"description\":\"Rent\",\"review_date\":\"2026-11-30\"");
	char today[16], req[64];
	time_t now = time(NULL);
	strftime(today, sizeof today, "%Y-%m-%d", gmtime(&now));
	snprintf(req, sizeof req, "{\"today\":\"%s\",\"all\":true}", today);
	json_t *ans = due(f->s, req);
	assert_true(has_record(json_object_get(ans, "items"), signal));
	json_decref(ans);
	assert_int_equal(kept_rows(f->s), 3);

	char fields[128];
	snprintf(fields, sizeof fields, "{\"follow_up\":\"Called the corporation\"}");
	ok(veld_record_update(f->s, "signal", signal, fields, NULL, NULL));
	assert_int_equal(kept_rows(f->s), 2); /* the client's row, not the others' */
	char *visit = record(f->s, "visit", f->colleague, "\"kind\":\"home_visit\","
	                     "\"planned\":\"2026-11-24T10:00\"");
	assert_int_equal(kept_rows(f->s), 1);
	ans = due(f->s, req);
	assert_false(has_record(json_object_get(ans, "items"), signal));
	assert_true(has_record(json_object_get(ans, "items"), visit));
	assert_true(has_record(json_object_get(ans, "items"), other));
	json_decref(ans);
	assert_int_equal(kept_rows(f->s), 3);

	/* A deleted record is not due at the next call. */
	ok(veld_record_delete(f->s, "goal", other, NULL));
	ans = due(f->s, req);
	assert_false(has_record(json_object_get(ans, "items"), other));
	json_decref(ans);
	free(signal);
	free(other);
	free(visit);
}

/* What is kept is sealed: no value of a record is readable in the row. */
static void test_due__kept_rows_are_sealed(void **state)
{
	struct fx *f = *state;
	char *ids[32];
	size_t n = 0;
	sqlite3_stmt *st;
	history(f, ids, &n);
	json_decref(due(f->s, "{\"today\":\"" TODAY "\",\"all\":true}"));
	assert_int_equal(sqlite3_prepare_v2(f->s->db, "SELECT box FROM due_kept", -1, &st, NULL),
	                 SQLITE_OK);
	int rows = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const uint8_t *box = sqlite3_column_blob(st, 0);
		int len = sqlite3_column_bytes(st, 0);
		assert_true(len >= 256);
		for (size_t i = 0; i < n; i++)
			assert_false(mem_contains(box, (size_t)len, ids[i]));
		assert_false(mem_contains(box, (size_t)len, "2026-11"));
		assert_false(mem_contains(box, (size_t)len, "home_visit"));
		rows++;
	}
	sqlite3_finalize(st);
	assert_int_equal(rows, 3);
	free_ids(ids, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_due__day_numbers_round_trip_without_time_zones),
		cmocka_unit_test(test_due__planned_visits_in_the_window_and_those_not_taken_place),
		cmocka_unit_test(test_due__open_goals_by_review_date),
		cmocka_unit_test(test_due__only_the_latest_woonkompas_conversation_sets_the_review),
		cmocka_unit_test(test_due__escalation_steps_of_open_escalations),
		cmocka_unit_test(test_due__agreed_actions_not_done),
		cmocka_unit_test(test_due__standing_decisions_90_days_before_they_end),
		cmocka_unit_test(test_due__tenancies_moving_to_the_clients_own_name),
		cmocka_unit_test(test_due__time_outs_open_longer_than_agreed),
		cmocka_unit_test(test_due__clients_not_seen_for_30_days),
		cmocka_unit_test(test_due__open_signals_without_follow_up),
		cmocka_unit_test(test_due__items_sorted_by_date_then_client),
		cmocka_unit_test(test_due__refuses_a_bad_today_or_window),
		cmocka_unit_test_setup_teardown(test_due__store_answers_for_the_workers_own_clients, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_due__logs_one_read_per_client_looked_at, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_due__store_refuses_other_teams_and_bad_input, setup,
		                                teardown),
		cmocka_unit_test(test_due__office_answers_per_worker_for_a_team),
		cmocka_unit_test_setup_teardown(test_due__reads_only_the_fields_the_rules_need, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_due__store_reads_the_new_kinds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_due__kept_records_answer_as_all_records_do, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_due__a_change_shows_at_the_next_call, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_due__kept_rows_are_sealed, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
