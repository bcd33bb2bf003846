/* test_due.c - what is due: the rules on records as JSON (veld__due_compute,
 * each rule, the window's edges, overdue, the order). Every test fixes
 * today, 2026-11-22, so the window of 14 days ends on 2026-12-06. */
#include "helpers.h"

#include "due.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	ok(veld__due_compute(r, TODAY, days, &items));
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
	assert_int_equal(veld__due_day("1970-01-01", &d), 0);
	assert_int_equal(d, 0);
	assert_int_equal(veld__due_day("2026-11-22T23:30+01:00", &d), 0);
	veld__due_date(buf, d);
	assert_string_equal(buf, "2026-11-22");
	assert_int_equal(veld__due_day("2000-02-29", &d), 0);
	assert_int_equal(veld__due_day("2026-02-29", &d), -1);
	assert_int_equal(veld__due_day("2100-02-29", &d), -1);
	assert_int_equal(veld__due_day("2026-13-01", &d), -1);
	assert_int_equal(veld__due_day("2026-04-31", &d), -1);
	assert_int_equal(veld__due_day("2026-1-01", &d), -1);
	assert_int_equal(veld__due_day("", &d), -1);
	assert_int_equal(veld__due_day(NULL, &d), -1);
	/* Every day of 1900..2200 comes back as itself. */
	int64_t first, last;
	assert_int_equal(veld__due_day("1900-01-01", &first), 0);
	assert_int_equal(veld__due_day("2200-12-31", &last), 0);
	for (int64_t day = first; day <= last; day++) {
		veld__due_date(buf, day);
		assert_int_equal(veld__due_day(buf, &d), 0);
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
	json_t *items = compute("{\"standing_decision\": ["
		"{\"id\":\"d1\",\"type\":\"standing_decision\",\"client\":\"a\",\"start\":\"2025-02-21\",\"end\":\"2027-02-20\"},"
		"{\"id\":\"d2\",\"type\":\"standing_decision\",\"client\":\"b\",\"start\":\"2025-02-22\",\"end\":\"2027-02-21\"},"
		"{\"id\":\"d3\",\"type\":\"standing_decision\",\"client\":\"c\",\"start\":\"2024-10-01\",\"end\":\"2026-10-01\"},"
		/* d: renewed, so the one ending is done with */
		"{\"id\":\"d4\",\"type\":\"standing_decision\",\"client\":\"d\",\"start\":\"2025-01-01\",\"end\":\"2026-12-31\"},"
		"{\"id\":\"d5\",\"type\":\"standing_decision\",\"client\":\"d\",\"start\":\"2027-01-01\",\"end\":\"2028-12-31\"},"
		/* e: ended, and the newer one ended too: only the newer is overdue */
		"{\"id\":\"d6\",\"type\":\"standing_decision\",\"client\":\"e\",\"start\":\"2026-01-01\",\"end\":\"2026-11-01\"},"
		"{\"id\":\"d7\",\"type\":\"standing_decision\",\"client\":\"e\",\"start\":\"2024-01-01\",\"end\":\"2025-12-31\"},"
		"{\"id\":\"d8\",\"type\":\"standing_decision\",\"client\":\"f\",\"start\":\"2024-01-01\"}"
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
	items = compute("{\"standing_decision\": ["
		"{\"id\":\"d2\",\"type\":\"standing_decision\",\"client\":\"b\",\"start\":\"2025-02-22\",\"end\":\"2027-02-21\"}]}",
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
	assert_int_equal(veld__due_compute(r, "2026-11-31", 14, &items), VELD_EINVAL);
	assert_null(items);
	assert_int_equal(veld__due_compute(r, "2026-11-22T10:00", 14, &items), VELD_EINVAL);
	assert_int_equal(veld__due_compute(r, TODAY, -1, &items), VELD_EINVAL);
	assert_int_equal(veld__due_compute(r, TODAY, VELD_DUE_DAYS_MAX + 1, &items), VELD_EINVAL);
	ok(veld__due_compute(r, TODAY, VELD_DUE_DAYS_MAX, &items));
	assert_int_equal(json_array_size(items), 0);
	json_decref(items);
	json_decref(r);
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
