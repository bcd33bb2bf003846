/* test_report.c - the partners' report (veld_office_report) on an office
 * store seeded with fixed data, every indicator against counts made by
 * hand; the rules on small cells (a count of 1-4 is "<5", the cell that
 * would give one back is "x", a share needs a base of 10); no personal
 * value or id in the answer (canary); the one access-log entry; what it
 * refuses.
 *
 * The store's clock is fixed: this test is linked with
 * -Wl,--wrap=veld__hlc_now_ms (tests/unit/CMakeLists.txt), so the day a
 * record is made (a signal's "created") and the report's "today" are the
 * test's. Seeding runs at 2025-06-01, signals on their own days after, and
 * the report on 2026-07-15. The period is 2026Q2: quarters 2025Q3, 2025Q4,
 * 2026Q1, 2026Q2, each seen as on its last day (all are over).
 *
 * The people (team noord N1..N12, team zuid Z1..Z3) and what happens to
 * them are listed at seed(); each expectation says how it was counted. */
#include "helpers.h"

#include "due.h"
#include "kinds.h"
#include "store.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the fixed clock ------------------------------------------------------------ */

static uint64_t clock_ms;

uint64_t __wrap_veld__hlc_now_ms(void);
uint64_t __wrap_veld__hlc_now_ms(void)
{
	return clock_ms;
}

/* Noon UTC of `date`; the clock only moves forward, as a real one. */
static void clock_at(const char *date)
{
	int64_t d;
	assert_int_equal(veld__day_number(date, &d), 0);
	assert_true((uint64_t)d * 86400000u + 43200000u >= clock_ms);
	clock_ms = (uint64_t)d * 86400000u + 43200000u;
}

/* ---- the store ---------------------------------------------------------------- */

struct fx {
	veld_store *s;
	char *dir;
	char *n[12], *z[3]; /* client ids */
};

/* A record of `client` with the fields `fmt` makes (JSON members without
 * braces); its id (malloc'd). */
static char *rec(veld_store *s, const char *kind, const char *client, const char *fmt, ...)
{
	char fields[2048], json[2300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(fields, sizeof fields, fmt, ap);
	va_end(ap);
	snprintf(json, sizeof json, "{\"client\":\"%s\"%s%s}", client, *fields ? "," : "", fields);
	return create(s, kind, json);
}

static void add(veld_store *s, const char *kind, const char *client, const char *fmt, ...)
{
	char fields[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(fields, sizeof fields, fmt, ap);
	va_end(ap);
	free(rec(s, kind, client, "%s", fields));
}

/* Version 2 of the built-in schema with three contact persons in its
 * list (a contact_person record names one). */
static void adopt_contact_persons(veld_store *s)
{
	json_t *doc = json_loads(veld__default_schema, 0, NULL), *list;
	struct veld__tx tx;
	char *text;
	assert_non_null(doc);
	json_object_set_new(doc, "version", json_integer(2));
	list = json_object_get(json_object_get(doc, "lists"), "contact_persons");
	for (int i = 1; i <= 3; i++) {
		char code[8];
		snprintf(code, sizeof code, "cp%d", i);
		json_array_append_new(list, json_pack("{s:s,s:s}", "code", code, "label", code));
	}
	text = json_dumps(doc, JSON_COMPACT);
	ok(veld__tx_begin(s, &tx));
	ok(veld__schema_adopt(s, text, strlen(text), 1));
	ok(veld__tx_commit(s, &tx));
	free(text);
	json_decref(doc);
}

static veld_store *office_new(char **dir)
{
	veld_store *s = NULL;
	veld_store_options o = fast_opts("analyst", NULL);
	char sub[512];
	*dir = tmpdir_new();
	snprintf(sub, sizeof sub, "%s/office", *dir);
	ok(veld_office_create(&s, sub, TEST_PASS, strlen(TEST_PASS), &o));
	adopt_contact_persons(s);
	return s;
}

static void exec(veld_store *s, const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(s->db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
}

/* Worker devices as the office would hold them: a certificate, and the
 * days their access-log entries came from. D1 sent on 2025-09-25 and
 * 2026-06-25, D2 on 2026-03-30 and 2026-06-01, D5..D9 never; D3 enrolled
 * on 2026-06-20, D4 is revoked, and the office's own device is no worker. */
static void seed_devices(veld_store *s)
{
	static const struct {
		int dev;
		const char *enrolled, *role;
		int revoked;
	} certs[] = {
		{1, "2025-01-01", "worker", 0}, {2, "2025-01-01", "worker", 0},
		{3, "2026-06-20", "worker", 0}, {4, "2025-01-01", "worker", 1},
		{5, "2025-01-01", "worker", 0}, {6, "2025-01-01", "worker", 0},
		{7, "2025-01-01", "worker", 0}, {8, "2025-01-01", "worker", 0},
		{9, "2025-01-01", "worker", 0}, {10, "2025-01-01", "office", 0},
	};
	static const struct {
		int dev, seq;
		const char *at;
	} sent[] = {{1, 1, "2025-09-25"}, {1, 2, "2026-06-25"}, {2, 1, "2026-03-30"},
	            {2, 2, "2026-06-01"}};
	char sql[512];
	int64_t d;
	for (size_t i = 0; i < sizeof certs / sizeof *certs; i++) {
		assert_int_equal(veld__day_number(certs[i].enrolled, &d), 0);
		snprintf(sql, sizeof sql,
		         "INSERT INTO certs(device, team, role, sign_pk, box_pk, enrolled, revoked_seq)"
		         " VALUES (x'000000000000000000000000000000%02x', 'noord', '%s', zeroblob(32), zeroblob(32),"
		         " %lld, %s)", certs[i].dev, certs[i].role, (long long)d * 86400000,
		         certs[i].revoked ? "5" : "NULL");
		exec(s, sql);
	}
	for (size_t i = 0; i < sizeof sent / sizeof *sent; i++) {
		assert_int_equal(veld__day_number(sent[i].at, &d), 0);
		snprintf(sql, sizeof sql,
		         "INSERT INTO office_audit(device, seq, at, event, outcome, client, user, role,"
		         " purpose) VALUES (x'000000000000000000000000000000%02x', %d, %lld, 'read', 'success', NULL,"
		         " 'w', 'worker', 'care')", sent[i].dev, sent[i].seq,
		         (long long)d * 86400000 + 3600000);
		exec(s, sql);
	}
}

/* The road: phases, tenancies, readiness. */
static void seed_road(struct fx *f)
{
	for (int i = 0; i < 12; i++) {
		if (i < 6) { /* N1..N6 move out of sheltered housing in 2026Q2 */
			add(f->s, "phase", f->n[i], "\"phase\":\"beschermd_wonen\",\"date\":\"2025-01-01\"");
			add(f->s, "phase", f->n[i], "\"phase\":\"beschermd_thuis\",\"date\":\"2026-04-10\"");
		} else {
			add(f->s, "phase", f->n[i], "\"phase\":\"beschermd_thuis\",\"date\":\"2025-05-01\"");
		}
	}
	for (int i = 0; i < 3; i++)
		add(f->s, "phase", f->z[i], "\"phase\":\"beschermd_wonen\",\"date\":\"2025-01-01\"");
	/* Z1 moves out in 2025Q3 and back in 2026Q2; Z3 becomes a regular
	 * tenant in 2026Q1 and leaves the programme. */
	add(f->s, "phase", f->z[0], "\"phase\":\"beschermd_thuis\",\"date\":\"2025-08-01\"");
	add(f->s, "phase", f->z[0], "\"phase\":\"terug_beschermd_wonen\",\"date\":\"2026-05-01\"");
	add(f->s, "phase", f->z[2], "\"phase\":\"regulier_huurder\",\"date\":\"2026-01-15\"");

	/* N1..N5 move their tenancy to their own name in 2026Q2; N7..N11's
	 * end in 2026Q2 (moved), N12's too (deceased); N10's ended in
	 * 2025Q4 with an eviction. */
	for (int i = 0; i < 5; i++)
		add(f->s, "tenancy", f->n[i], "\"form\":\"three_party\",\"own_name_actual\":\"2026-05-01\"");
	for (int i = 6; i < 11; i++)
		add(f->s, "tenancy", f->n[i], "\"form\":\"three_party\",\"end\":\"2026-06-01\","
		    "\"end_reason\":\"moved\"");
	add(f->s, "tenancy", f->n[11], "\"form\":\"three_party\",\"end\":\"2026-06-01\","
	    "\"end_reason\":\"deceased\"");
	add(f->s, "tenancy", f->n[9], "\"form\":\"three_party\",\"end\":\"2025-11-20\","
	    "\"end_reason\":\"evicted\"");

	/* Z2 (sheltered) is ready from 2025-09-01 on (confirmed 2026-01-01);
	 * Z1 was ready in 2025-06, but "not now" once back in 2026-05; N1 is
	 * ready but no longer sheltered. */
	add(f->s, "readiness", f->z[1], "\"decision\":\"not_yet\",\"date\":\"2025-07-01\",\"decided_by\":\"p\"");
	add(f->s, "readiness", f->z[1], "\"decision\":\"ready\",\"date\":\"2025-09-01\",\"decided_by\":\"p\"");
	add(f->s, "readiness", f->z[1], "\"decision\":\"ready\",\"date\":\"2026-01-01\",\"decided_by\":\"p\"");
	add(f->s, "readiness", f->z[0], "\"decision\":\"ready\",\"date\":\"2025-06-01\",\"decided_by\":\"p\"");
	add(f->s, "readiness", f->z[0], "\"decision\":\"not_now\",\"date\":\"2026-05-02\",\"decided_by\":\"p\"");
	add(f->s, "readiness", f->n[0], "\"decision\":\"ready\",\"date\":\"2026-05-02\",\"decided_by\":\"p\"");
}

/* Contact persons and day activities. */
static void seed_support(struct fx *f)
{
	for (int i = 0; i < 10; i++)
		add(f->s, "contact_person", f->n[i], "\"person\":\"cp1\",\"from\":\"2025-05-01\","
		    "\"budget_hours_granted\":10,\"budget_hours_spent\":4");
	/* N11: a handover with ten days between (2026-05-01..10). */
	add(f->s, "contact_person", f->n[10], "\"person\":\"cp2\",\"from\":\"2025-05-01\","
	    "\"to\":\"2026-04-30\",\"budget_hours_granted\":8,\"budget_hours_spent\":8");
	add(f->s, "contact_person", f->n[10], "\"person\":\"cp3\",\"from\":\"2026-05-11\","
	    "\"budget_hours_granted\":20,\"budget_hours_spent\":5");
	add(f->s, "contact_person", f->n[11], "\"person\":\"cp2\",\"from\":\"2026-04-01\","
	    "\"budget_hours_granted\":6,\"budget_hours_spent\":2");
	add(f->s, "contact_person", f->z[0], "\"person\":\"cp1\",\"from\":\"2025-05-01\","
	    "\"budget_hours_granted\":5,\"budget_hours_spent\":1");
	add(f->s, "contact_person", f->z[1], "\"person\":\"cp1\",\"from\":\"2026-01-01\"");

	/* N1..N8 from 2026-01-10 (N1..N3 in their neighbourhood), Z1 from
	 * 2026-04-15 (in it), N11 until 2026-03-31 (not in it). */
	for (int i = 0; i < 8; i++)
		add(f->s, "day_activity", f->n[i], "\"kind\":\"volunteer\",\"start\":\"2026-01-10\","
		    "\"in_neighbourhood\":%s", i < 3 ? "true" : "false");
	add(f->s, "day_activity", f->z[0], "\"kind\":\"paid\",\"start\":\"2026-04-15\","
	    "\"in_neighbourhood\":true");
	add(f->s, "day_activity", f->n[10], "\"kind\":\"course\",\"start\":\"2025-06-01\","
	    "\"end\":\"2026-03-31\"");
}

/* Standing decisions and their uses; time-outs. */
static void seed_care(struct fx *f)
{
	static const int care_days[] = {0, 1, 1, 2, 2, 3, 3, 4, 5, 8}; /* median 2.5 */
	for (int i = 0; i < 10; i++) {
		char *w = rec(f->s, "waakvlam", f->n[i], "\"number\":\"W%d\",\"municipality\":\"m\","
		              "\"start\":\"2025-01-01\",\"end\":\"2026-08-31\"", i);
		char relapse[32], care[32];
		snprintf(relapse, sizeof relapse, "2026-04-%02d", i + 1);
		snprintf(care, sizeof care, "2026-04-%02d", i + 1 + care_days[i]);
		add(f->s, "waakvlam_use", f->n[i], "\"waakvlam\":\"%s\",\"relapse_date\":\"%s\","
		    "\"care_started\":\"%s\"", w, relapse, care);
		if (i == 0) /* one use in 2026Q1 */
			add(f->s, "waakvlam_use", f->n[i], "\"waakvlam\":\"%s\",\"relapse_date\":\"2026-02-01\"", w);
		free(w);
	}
	/* N1 renewed; Z1's has no end. */
	add(f->s, "waakvlam", f->n[0], "\"number\":\"W1b\",\"municipality\":\"m\",\"start\":\"2026-06-01\","
	    "\"end\":\"2027-06-01\"");
	add(f->s, "waakvlam", f->z[0], "\"number\":\"WZ\",\"municipality\":\"m\",\"start\":\"2025-01-01\"");

	/* Ten time-outs from 2026-04-05, N1..N3 ended 2026-05-01: rent
	 * continued for nine, benefit for all, the corporation informed for
	 * five. Z1's in 2026Q1. */
	for (int i = 0; i < 10; i++)
		add(f->s, "time_out", f->n[i], "\"start\":\"2026-04-05\"%s,\"rent_continued\":%s,"
		    "\"benefit_continued\":true,\"corporation_informed\":%s",
		    i < 3 ? ",\"end\":\"2026-05-01\"" : "", i < 9 ? "true" : "false", i < 5 ? "true" : "false");
	add(f->s, "time_out", f->z[0], "\"start\":\"2026-02-01\",\"end\":\"2026-02-20\","
	    "\"rent_continued\":true");
}

/* An escalation of `client` with its steps ("step@date" ...). */
static void escalation(veld_store *s, const char *client, const char *fields, const char *const *steps)
{
	char *e = rec(s, "escalation", client, "%s", fields);
	for (; *steps; steps++) {
		char step[32];
		const char *at = strchr(*steps, '@');
		snprintf(step, sizeof step, "%.*s", (int)(at - *steps), *steps);
		add(s, "escalation_step", client, "\"escalation\":\"%s\",\"step\":\"%s\",\"date\":\"%s\"",
		    e, step, at + 1);
	}
	free(e);
}

#define STEPS(...) (const char *const[]){__VA_ARGS__, NULL}

/* Rent arrears. On 2026-06-30 open: N1..N6 (300 each, a reminder), N7
 * (800, a reminder), N8 (2000 + 1000, a summons), Z2 (no amount, a
 * reminder); N9's is closed. On 2025-09-30 open: N10's (5000, a summons),
 * which ends in an eviction in 2025Q4; Z1's was closed when its eviction
 * was prevented in 2025Q3. N11's nuisance does not count. */
static void seed_arrears(struct fx *f)
{
	for (int i = 0; i < 6; i++)
		escalation(f->s, f->n[i], "\"about\":\"rent_arrears\",\"amount\":300",
		           STEPS("reminder@2026-04-02"));
	escalation(f->s, f->n[6], "\"about\":\"rent_arrears\",\"amount\":800", STEPS("reminder@2026-04-02"));
	escalation(f->s, f->n[7], "\"about\":\"rent_arrears\",\"amount\":2000",
	           STEPS("reminder@2026-04-02", "summons@2026-05-15"));
	escalation(f->s, f->n[7], "\"about\":\"rent_arrears\",\"amount\":1000", STEPS("reminder@2026-05-02"));
	escalation(f->s, f->n[8], "\"about\":\"rent_arrears\",\"amount\":400,\"status\":\"closed\"",
	           STEPS("reminder@2026-04-02", "payment_plan@2026-04-20"));
	escalation(f->s, f->n[9], "\"about\":\"rent_arrears\",\"amount\":5000,\"status\":\"closed\"",
	           STEPS("reminder@2025-08-01", "summons@2025-09-01", "judgment@2025-10-01",
	                 "eviction_date@2025-11-01", "eviction_carried_out@2025-11-20"));
	escalation(f->s, f->z[1], "\"about\":\"rent_arrears\"", STEPS("reminder@2026-06-01"));
	escalation(f->s, f->z[0], "\"about\":\"rent_arrears\",\"amount\":100,\"status\":\"closed\"",
	           STEPS("reminder@2025-07-10", "eviction_prevented@2025-09-15"));
	escalation(f->s, f->n[10], "\"about\":\"nuisance\"", STEPS("reminder@2026-04-02"));
}

/* Visits: ZRM scores of N1..N10 on 2025-10-01 (financien 2) and
 * 2026-02-01 (N1..N6 3, N7..N9 2, N10 1; N1 scores every domain then);
 * the first contacts after the signals of 2026-04-03. */
static void seed_visits(struct fx *f)
{
	static const int later[] = {3, 3, 3, 3, 3, 3, 2, 2, 2, 1};
	static const int contact_after[] = {0, 1, 2, 2, 3, 4, 5, 6, 7, 30}; /* median 3.5 */
	for (int i = 0; i < 10; i++) {
		add(f->s, "visit", f->n[i], "\"kind\":\"home_visit\",\"started\":\"2025-10-01T10:00\","
		    "\"scores\":{\"financien\":2}");
		if (i == 0)
			add(f->s, "visit", f->n[i], "\"kind\":\"home_visit\",\"started\":\"2026-02-01T10:00\","
			    "\"scores\":{\"financien\":3,\"werk_opleiding\":3,\"tijdsbesteding\":3,"
			    "\"huisvesting\":3,\"huiselijke_relaties\":3,\"geestelijke_gezondheid\":3,"
			    "\"lichamelijke_gezondheid\":3,\"middelengebruik\":3,\"basale_adl\":3,"
			    "\"instrumentele_adl\":3,\"sociaal_netwerk\":3,"
			    "\"maatschappelijke_participatie\":3,\"justitie\":3}");
		else
			add(f->s, "visit", f->n[i], "\"kind\":\"home_visit\",\"started\":\"2026-02-01T10:00\","
			    "\"scores\":{\"financien\":%d}", later[i]);
		char day[16];
		int64_t d;
		assert_int_equal(veld__day_number("2026-04-03", &d), 0);
		veld__date_of_day(day, d + contact_after[i]);
		add(f->s, "visit", f->n[i], "\"kind\":\"home_visit\",\"started\":\"%sT09:00\"", day);
	}
	/* A no-show is no contact. */
	add(f->s, "visit", f->z[1], "\"kind\":\"no_show\",\"planned\":\"2026-06-22T09:00\"");
}

/* Rent-arrears signals of N1..N10 on 2026-04-03 and of Z2 on 2026-06-20
 * (no contact since); a relapse signal does not count. */
static void seed_signals(struct fx *f)
{
	clock_at("2026-04-03");
	for (int i = 0; i < 10; i++)
		add(f->s, "signal", f->n[i], "\"kind\":\"rent_arrears\",\"severity\":\"high\"");
	add(f->s, "signal", f->n[0], "\"kind\":\"relapse\",\"severity\":\"high\"");
	clock_at("2026-06-20");
	add(f->s, "signal", f->z[1], "\"kind\":\"rent_arrears\",\"severity\":\"medium\"");
}

static void seed(struct fx *f)
{
	clock_ms = 0;
	clock_at("2025-06-01");
	f->s = office_new(&f->dir);
	for (int i = 0; i < 12; i++)
		f->n[i] = create(f->s, "client", "{\"name\":\"n\",\"team\":\"noord\"}");
	for (int i = 0; i < 3; i++)
		f->z[i] = create(f->s, "client", "{\"name\":\"z\",\"team\":\"zuid\"}");
	seed_road(f);
	seed_support(f);
	seed_care(f);
	seed_arrears(f);
	seed_visits(f);
	seed_devices(f->s);
	seed_signals(f);
	clock_at("2026-07-15");
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	seed(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	veld_store_free(f->s);
	rm_rf(f->dir);
	free(f->dir);
	for (int i = 0; i < 12; i++)
		free(f->n[i]);
	for (int i = 0; i < 3; i++)
		free(f->z[i]);
	free(f);
	return 0;
}

/* ---- reading the answer --------------------------------------------------------- */

static json_t *report(veld_store *s, const char *period)
{
	char *text = NULL;
	json_t *doc;
	ok(veld_office_report(s, period, &text));
	doc = json_loads(text, 0, NULL);
	veld_free(text);
	assert_non_null(doc);
	return doc;
}

/* The indicator `id` (of `group`, or the one without a group). */
static json_t *indicator(json_t *doc, const char *id, const char *group)
{
	json_t *sec, *ind;
	size_t i, j;
	json_array_foreach(json_object_get(doc, "sections"), i, sec) {
		json_array_foreach(json_object_get(sec, "indicators"), j, ind) {
			const char *g = json_string_value(json_object_get(ind, "group"));
			if (strcmp(json_string_value(json_object_get(ind, "id")), id) == 0 &&
			    (group ? g && strcmp(g, group) == 0 : !g))
				return ind;
		}
	}
	return NULL;
}

/* A cell as text: a number, "<5", "x" or "null". */
static void cell_text(json_t *c, char *buf, size_t n)
{
	if (json_is_integer(c))
		snprintf(buf, n, "%lld", (long long)json_integer_value(c));
	else if (json_is_real(c))
		snprintf(buf, n, "%g", json_real_value(c));
	else if (json_is_string(c))
		snprintf(buf, n, "%s", json_string_value(c));
	else
		snprintf(buf, n, "%s", json_is_null(c) ? "null" : "?");
}

/* The four cells of `id` (and `group`) are q1..q4, oldest first. */
static void expect(json_t *doc, const char *id, const char *group, const char *q1,
                   const char *q2, const char *q3, const char *q4)
{
	const char *want[4] = {q1, q2, q3, q4};
	json_t *ind = indicator(doc, id, group), *values = json_object_get(ind, "values");
	char got[32];
	if (!ind)
		fail_msg("no indicator %s%s%s", id, group ? " of " : "", group ? group : "");
	assert_int_equal(json_array_size(values), 4);
	for (size_t q = 0; q < 4; q++) {
		cell_text(json_array_get(values, q), got, sizeof got);
		if (strcmp(got, want[q]) != 0)
			fail_msg("%s%s%s, quarter %zu: %s, not %s", id, group ? "/" : "", group ? group : "",
			         q + 1, got, want[q]);
	}
}

/* ---- the indicators ---------------------------------------------------------------- */

static void test_report__quarters_and_shape(void **state)
{
	struct fx *f = *state;
	json_t *doc = report(f->s, "2026Q2"), *q = json_object_get(doc, "quarters");
	static const char *const ids[] = {"evictions", "day_activity", "contact_person",
	                                  "standing_decision", "time_out", "zrm", "flow", "demand",
	                                  "data_quality"};
	assert_string_equal(json_string_value(json_object_get(doc, "period")), "2026Q2");
	assert_string_equal(json_string_value(json_array_get(q, 0)), "2025Q3");
	assert_string_equal(json_string_value(json_array_get(q, 3)), "2026Q2");
	for (size_t i = 0; i < 9; i++) {
		json_t *sec = json_array_get(json_object_get(doc, "sections"), i);
		assert_string_equal(json_string_value(json_object_get(sec, "id")), ids[i]);
		assert_non_null(json_string_value(json_object_get(json_object_get(sec, "title"), "nl")));
	}
	json_t *ev = indicator(doc, "evictions_carried_out", NULL);
	assert_int_equal(json_integer_value(json_object_get(ev, "target")), 0);
	assert_string_equal(json_string_value(json_object_get(ev, "unit")), "count");
	assert_string_equal(json_string_value(json_object_get(json_object_get(ev, "label"), "en")),
	                    "Evictions carried out");
	json_decref(doc);
}

static void test_report__evictions(void **state)
{
	struct fx *f = *state;
	json_t *doc = report(f->s, "2026Q2");
	/* 2025Q3: N10 only; 2026Q2: N1..N8 and Z2. */
	expect(doc, "arrears_clients", NULL, "<5", "0", "0", "9");
	/* No breakdown of fewer than ten: in 2025Q3 the one client's arrears
	 * would read as over 2500 and at a summons; 2026Q2 has nine. */
	expect(doc, "arrears_by_size", "lt500", "null", "0", "0", "null");
	expect(doc, "arrears_by_size", "500-999", "null", "0", "0", "null");
	expect(doc, "arrears_by_size", "ge2500", "null", "0", "0", "null");
	expect(doc, "arrears_by_size", "unknown", "null", "0", "0", "null");
	expect(doc, "arrears_by_step", "reminder", "null", "0", "0", "null");
	expect(doc, "arrears_by_step", "summons", "null", "0", "0", "null");
	expect(doc, "evictions_carried_out", NULL, "0", "<5", "0", "0");
	expect(doc, "evictions_prevented", NULL, "<5", "0", "0", "0");
	expect(doc, "arrears_signals", NULL, "0", "0", "0", "11");
	expect(doc, "arrears_signals_without_contact", NULL, "0", "0", "0", "<5");
	expect(doc, "signal_to_contact_days", NULL, "null", "null", "null", "3.5");
	json_decref(doc);
}

static void test_report__day_activity_and_contact_person(void **state)
{
	struct fx *f = *state;
	json_t *doc = report(f->s, "2026Q2");
	/* In the programme: 15, 15, 14 (Z3 a regular tenant), 14. */
	expect(doc, "clients_in_programme", NULL, "15", "15", "14", "14");
	/* N11 in 2025; N1..N8 and N11 (to 03-31) in 2026Q1; N1..N8 and Z1. */
	expect(doc, "day_activity_clients", NULL, "<5", "<5", "9", "9");
	expect(doc, "day_activity_share", NULL, "x", "x", "64.3", "64.3");
	expect(doc, "day_activity_local", NULL, "0", "0", "<5", "<5");
	expect(doc, "day_activity_local_share", NULL, "null", "null", "null", "null");
	/* 12 of 15 (N12, Z2, Z3 without: 3 would follow from the count), 13
	 * of 14 (N12), 14 of 14. */
	expect(doc, "contact_person_clients", NULL, "x", "x", "x", "14");
	expect(doc, "contact_person_share", NULL, "x", "x", "x", "100");
	expect(doc, "contact_person_changes", NULL, "0", "0", "0", "<5");
	expect(doc, "clients_without_contact_person", NULL, "<5", "<5", "<5", "<5");
	expect(doc, "days_without_contact_person", NULL, "null", "null", "null", "null");
	/* noord (12 clients): N1..N10 10 h each, N11 8 then 20, N12 6 from
	 * 2026-04; zuid (3, then 2) is too small, so the total is hidden. */
	expect(doc, "budget_hours_granted", "noord", "108", "108", "108", "126");
	expect(doc, "budget_hours_spent", "noord", "48", "48", "48", "47");
	expect(doc, "budget_hours_granted", "other", "null", "null", "null", "null");
	expect(doc, "budget_hours_granted", NULL, "x", "x", "x", "x");
	assert_null(indicator(doc, "budget_hours_granted", "zuid"));
	json_decref(doc);
}

static void test_report__standing_decision_and_time_out(void **state)
{
	struct fx *f = *state;
	json_t *doc = report(f->s, "2026Q2");
	/* N1..N10 and Z1; on 2026-06-30 N2..N10's end within 90 days (N1
	 * renewed): 9 of 11, and 11 - 9 = 2 would give a small count back. */
	expect(doc, "standing_decisions_active", NULL, "11", "11", "11", "11");
	expect(doc, "standing_decisions_expiring", NULL, "0", "0", "0", "x");
	expect(doc, "standing_decision_uses", NULL, "0", "0", "<5", "10");
	expect(doc, "relapse_to_care_days", NULL, "null", "null", "null", "2.5");
	expect(doc, "time_outs_started", NULL, "0", "0", "<5", "10");
	expect(doc, "time_outs_ended", NULL, "0", "0", "<5", "<5");
	expect(doc, "time_outs_running", NULL, "0", "0", "<5", "10");
	/* Rent 9 of 10: the one without is small, so the 9 is hidden. */
	expect(doc, "time_out_rent_continued", NULL, "0", "0", "<5", "x");
	expect(doc, "time_out_rent_continued_share", NULL, "null", "null", "null", "x");
	expect(doc, "time_out_benefit_continued_share", NULL, "null", "null", "null", "100");
	expect(doc, "time_out_corporation_informed", NULL, "0", "0", "0", "5");
	expect(doc, "time_out_corporation_informed_share", NULL, "null", "null", "null", "50");
	json_decref(doc);
}

static void test_report__zrm_flow_demand_data_quality(void **state)
{
	struct fx *f = *state;
	json_t *doc = report(f->s, "2026Q2");
	/* financien: ten clients 2025-10-01 -> 2026-02-01: six +1, three 0,
	 * one -1; mean 0.5. Other domains: N1 once only. */
	expect(doc, "zrm_clients", "financien", "0", "0", "10", "10");
	expect(doc, "zrm_mean_change", "financien", "null", "null", "0.5", "0.5");
	expect(doc, "zrm_improved_share", "financien", "null", "null", "60", "60");
	expect(doc, "zrm_same_share", "financien", "null", "null", "x", "x");
	expect(doc, "zrm_worse_share", "financien", "null", "null", "x", "x");
	expect(doc, "zrm_clients", "justitie", "0", "0", "0", "0");
	assert_null(indicator(doc, "zrm_improved", "financien")); /* behind the share only */
	assert_string_equal(json_string_value(json_object_get(json_object_get(
		indicator(doc, "zrm_clients", "financien"), "group_label"), "en")), "Finances");

	expect(doc, "moved_out_sheltered", NULL, "<5", "0", "0", "6");
	expect(doc, "own_name_moves", NULL, "0", "0", "0", "5");
	expect(doc, "back_to_sheltered", NULL, "0", "0", "0", "<5");
	/* Six and fewer than five tenancies ended: too few to break down. */
	expect(doc, "tenancies_ended", NULL, "0", "<5", "0", "6");
	expect(doc, "tenancies_ended", "moved", "0", "null", "0", "null");
	expect(doc, "tenancies_ended", "deceased", "0", "null", "0", "null");
	expect(doc, "tenancies_ended", "evicted", "0", "null", "0", "null");

	expect(doc, "ready_without_home", NULL, "<5", "<5", "<5", "<5");
	expect(doc, "waiting_days_median", NULL, "null", "null", "null", "null");

	/* Home visits: ten in 2025Q4 (none full), ten in 2026Q1 (N1's full:
	 * 9 of 10, and the one is small, so the 9 is hidden), ten contacts
	 * in 2026Q2. */
	expect(doc, "home_visits", NULL, "0", "10", "10", "10");
	expect(doc, "visits_without_full_zrm", NULL, "0", "10", "x", "10");
	/* No quarter is running: conflicts are known for now only. */
	expect(doc, "open_conflicts", NULL, "null", "null", "null", "null");
	/* D1 last 2025-09-25 and 2026-06-25, D2 2026-03-30 and 2026-06-01,
	 * D5..D9 never; D3 too new, D4 revoked. */
	expect(doc, "devices_not_synced", NULL, "6", "7", "6", "6");
	json_decref(doc);
}

/* A running quarter is seen as on today; conflicts are counted now. */
static void test_report__running_quarter_as_of_today(void **state)
{
	struct fx *f = *state;
	json_t *doc;
	exec(f->s, "INSERT INTO conflicts(entity, field) VALUES (x'01', 'a'), (x'01', 'b'),"
	           " (x'02', 'a'), (x'03', 'a'), (x'04', 'a'), (x'05', 'a')");
	doc = report(f->s, "2026Q3");
	expect(doc, "open_conflicts", NULL, "null", "null", "null", "6");
	/* On 2026-07-15: D1 sent 2026-06-25 (20 days before), and D3,
	 * enrolled 2026-06-20, sent nothing: both count now. */
	expect(doc, "devices_not_synced", NULL, "7", "6", "6", "8");
	json_decref(doc);
}

/* ---- privacy ----------------------------------------------------------------------- */

/* Every text field of every kind gets a canary; no canary, and no id of
 * a client or record, is in the answer. */
static void test_report__canary_no_value_or_id_in_the_answer(void **state)
{
	struct fx *f = *state;
	char *c = create(f->s, "client", "{\"name\":\"CANARY-NAME\",\"initials\":\"CANARY-INI\","
	                 "\"birth_date\":\"1911-11-11\",\"address\":\"CANARY-ADDRESS\","
	                 "\"phone\":\"CANARY-PHONE\",\"contact_person\":\"CANARY-CP\",\"team\":\"noord\"}");
	char *v = rec(f->s, "visit", c, "\"kind\":\"home_visit\",\"worker\":\"CANARY-WORKER\","
	              "\"started\":\"2026-05-05T10:00\",\"actions\":\"CANARY-ACTIONS\"");
	char *sg = rec(f->s, "signal", c, "\"kind\":\"rent_arrears\",\"severity\":\"low\","
	               "\"description\":\"CANARY-DESC\",\"follow_up\":\"CANARY-FU\"");
	char *e = rec(f->s, "escalation", c, "\"about\":\"rent_arrears\",\"amount\":777");
	char *w = rec(f->s, "waakvlam", c, "\"number\":\"CANARY-NUMBER\",\"municipality\":\"CANARY-MUN\","
	              "\"start\":\"2026-01-01\",\"scope\":\"CANARY-SCOPE\"");
	char *text = NULL;
	add(f->s, "note", c, "\"text\":\"CANARY-NOTE\",\"visit\":\"%s\"", v);
	add(f->s, "goal", c, "\"domain\":\"financien\",\"description\":\"CANARY-GOAL\"");
	add(f->s, "phase", c, "\"phase\":\"beschermd_thuis\",\"date\":\"2026-01-01\",\"reason\":\"CANARY-REASON\"");
	add(f->s, "readiness", c, "\"decision\":\"ready\",\"date\":\"2026-01-01\",\"decided_by\":\"CANARY-BY\","
	    "\"reason\":\"CANARY-WHY\"");
	add(f->s, "tenancy", c, "\"form\":\"own_name\",\"corporation\":\"CANARY-CORP\","
	    "\"clause_version\":\"CANARY-CLAUSE\"");
	add(f->s, "woonkompas", c, "\"date\":\"2026-01-01\",\"summary\":\"CANARY-SUMMARY\"");
	add(f->s, "time_out", c, "\"start\":\"2026-05-01\",\"location\":\"CANARY-LOCATION\"");
	add(f->s, "day_activity", c, "\"kind\":\"paid\",\"description\":\"CANARY-ACTIVITY\"");
	add(f->s, "escalation_step", c, "\"escalation\":\"%s\",\"step\":\"reminder\",\"date\":\"2026-05-01\","
	    "\"owner\":\"CANARY-OWNER\"", e);
	add(f->s, "waakvlam_use", c, "\"waakvlam\":\"%s\",\"signal\":\"%s\",\"relapse_date\":\"2026-05-01\"", w, sg);
	add(f->s, "contact_person", c, "\"person\":\"cp1\",\"from\":\"2026-01-01\",\"handover\":\"CANARY-HANDOVER\"");
	add(f->s, "action", c, "\"description\":\"CANARY-ACTION\",\"owner\":\"worker\"");
	add(f->s, "meeting", c, "\"date\":\"2026-05-01T10:00\",\"subject\":\"CANARY-SUBJECT\","
	    "\"notes\":\"CANARY-NOTES\"");
	add(f->s, "consent", c, "\"partner\":\"gp\",\"subject\":\"early_warning\",\"decision\":\"consent\","
	    "\"date\":\"2026-01-01\",\"note\":\"CANARY-CONSENT\"");
	add(f->s, "income", c, "\"benefit\":\"wajong\"");
	ok(veld_office_report(f->s, "2026Q2", &text));
	assert_null(strstr(text, "CANARY"));
	assert_null(strstr(text, "1911"));
	assert_null(strstr(text, "777"));
	const char *ids[] = {c, v, sg, e, w};
	for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
		char prefix[9];
		snprintf(prefix, sizeof prefix, "%.8s", ids[i]);
		assert_null(strstr(text, prefix));
	}
	for (int i = 0; i < 12; i++) {
		char prefix[9];
		snprintf(prefix, sizeof prefix, "%.8s", f->n[i]);
		assert_null(strstr(text, prefix));
	}
	veld_free(text);
	free(c);
	free(v);
	free(sg);
	free(e);
	free(w);
}

/* ---- the access log and what is refused ---------------------------------------------- */

static void test_report__one_access_log_entry_for_monitoring(void **state)
{
	struct fx *f = *state;
	json_t *before = audit_entries(f->s), *after, *last;
	json_decref(report(f->s, "2026Q2"));
	after = audit_entries(f->s);
	assert_int_equal(json_array_size(after), json_array_size(before) + 1);
	last = json_array_get(after, json_array_size(after) - 1);
	assert_string_equal(json_string_value(json_object_get(last, "event")), "report");
	assert_string_equal(json_string_value(json_object_get(last, "purpose")), "monitoring");
	assert_string_equal(json_string_value(json_object_get(last, "outcome")), "success");
	assert_true(json_is_null(json_object_get(last, "client")) || !json_object_get(last, "client"));
	json_decref(before);
	json_decref(after);
}

static void test_report__bad_period_refused_and_nothing_logged(void **state)
{
	struct fx *f = *state;
	static const char *const bad[] = {"2026Q5", "2026Q0", "2026q2", "26Q2", "2026-Q2", "2026Q22",
	                                  "", "Q2 2026", "20x6Q1", "1900Q4"};
	json_t *before = audit_entries(f->s), *after;
	char *text = NULL;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		assert_int_equal(veld_office_report(f->s, bad[i], &text), VELD_EINVAL);
		assert_null(text);
		if (*bad[i])
			assert_null(strstr(veld_error_last(), bad[i]));
	}
	assert_int_equal(veld_office_report(f->s, NULL, &text), VELD_EINVAL);
	/* Today is 2026-07-15: 2026Q4 has not begun. */
	assert_int_equal(veld_office_report(f->s, "2026Q4", &text), VELD_EINVAL);
	assert_non_null(strstr(veld_error_last(), "not begun"));
	after = audit_entries(f->s);
	assert_int_equal(json_array_size(after), json_array_size(before));
	json_decref(before);
	json_decref(after);
}

static void test_report__refused_in_a_workers_store(void **state)
{
	char *dir = NULL, *text = NULL;
	veld_store *s = store_new(&dir, "anna", "noord");
	(void)state;
	assert_int_equal(veld_office_report(s, "2026Q2", &text), VELD_EPERM);
	assert_null(text);
	veld_store_free(s);
	rm_rf(dir);
	free(dir);
}

/* ---- the rules on small cells, on their own -------------------------------------------- */

/* A team of ten is shown on its own; nine are not. */
static void test_report__a_team_of_ten_is_broken_down(void **state)
{
	char *dir = NULL, *c;
	veld_store *s;
	json_t *doc;
	(void)state;
	clock_ms = 0;
	clock_at("2025-06-01");
	s = office_new(&dir);
	for (int i = 0; i < 19; i++) {
		c = create(s, "client", i < 10 ? "{\"name\":\"a\",\"team\":\"oost\"}"
		                               : "{\"name\":\"b\",\"team\":\"west\"}");
		add(s, "phase", c, "\"phase\":\"beschermd_thuis\",\"date\":\"2025-01-01\"");
		add(s, "contact_person", c, "\"person\":\"cp1\",\"from\":\"2025-01-01\","
		    "\"budget_hours_granted\":2");
		free(c);
	}
	clock_at("2026-07-15");
	doc = report(s, "2026Q2");
	expect(doc, "budget_hours_granted", "oost", "20", "20", "20", "20");
	assert_null(indicator(doc, "budget_hours_granted", "west"));
	/* The nine of west together: 18 hours on a base of 9, not shown; the
	 * total (38) would give it back. */
	expect(doc, "budget_hours_granted", "other", "null", "null", "null", "null");
	expect(doc, "budget_hours_granted", NULL, "x", "x", "x", "x");
	expect(doc, "contact_person_clients", NULL, "19", "19", "19", "19");
	expect(doc, "contact_person_share", NULL, "100", "100", "100", "100");
	json_decref(doc);
	veld_store_free(s);
	rm_rf(dir);
	free(dir);
}

/* A cell is a number (a count or figure that is shown). */
static int shown(json_t *doc, const char *id, const char *group, int q)
{
	json_t *ind = indicator(doc, id, group);
	if (!ind)
		fail_msg("no indicator %s", id);
	return json_is_number(json_array_get(json_object_get(ind, "values"), (size_t)q));
}

/* Fourteen clients of team oost in a protected home from 2025-01-01, on
 * a store of their own; `each` (if given) adds records to client i. */
static veld_store *fourteen(char **dir, void (*each)(veld_store *s, const char *client, int i))
{
	veld_store *s;
	clock_ms = 0;
	clock_at("2025-06-01");
	s = office_new(dir);
	for (int i = 0; i < 14; i++) {
		char *c = create(s, "client", "{\"name\":\"a\",\"team\":\"oost\"}");
		add(s, "phase", c, "\"phase\":\"beschermd_thuis\",\"date\":\"2025-01-01\"");
		if (each)
			each(s, c, i);
		free(c);
	}
	clock_at("2026-07-15");
	return s;
}

static void done(veld_store *s, char *dir, json_t *doc)
{
	json_decref(doc);
	veld_store_free(s);
	rm_rf(dir);
	free(dir);
}

/* Twelve of fourteen with a day activity (the 12 is hidden: 14 - 12 is
 * small), six of them in their neighbourhood; one contact person. */
static void activities(veld_store *s, const char *c, int i)
{
	if (i < 12)
		add(s, "day_activity", c, "\"kind\":\"volunteer\",\"start\":\"2025-01-10\","
		    "\"in_neighbourhood\":%s", i < 6 ? "true" : "false");
	if (i == 0)
		add(s, "contact_person", c, "\"person\":\"cp1\",\"from\":\"2025-01-01\","
		    "\"budget_hours_granted\":7,\"budget_hours_spent\":3");
}

/* A share of a hidden base gives the base back (6 local of x, 50%: the x
 * is 12, and 14 - 12 the small count it hid). */
static void test_report__a_share_of_a_hidden_base_is_hidden(void **state)
{
	char *dir = NULL;
	veld_store *s = fourteen(&dir, activities);
	json_t *doc = report(s, "2026Q2");
	(void)state;
	expect(doc, "day_activity_clients", NULL, "x", "x", "x", "x");
	expect(doc, "day_activity_local", NULL, "6", "6", "6", "6");
	expect(doc, "day_activity_local_share", NULL, "x", "x", "x", "x");
	done(s, dir, doc);
}

/* Hours are the contact-person records' own: fourteen clients but one
 * record is one person's budget, not a sum over ten. */
static void test_report__budget_needs_ten_clients_with_a_contact_person(void **state)
{
	char *dir = NULL;
	veld_store *s = fourteen(&dir, activities);
	json_t *doc = report(s, "2026Q2");
	(void)state;
	expect(doc, "budget_hours_granted", "oost", "null", "null", "null", "null");
	expect(doc, "budget_hours_spent", "oost", "null", "null", "null", "null");
	expect(doc, "budget_hours_granted", NULL, "null", "null", "null", "null");
	done(s, dir, doc);
}

/* Ten rent-arrears signals of one client, each with a contact two days
 * later: ten signals, but one person's figures, so no median. */
static void one_clients_signals(veld_store *s, const char *c, int i)
{
	if (i != 13)
		return;
	clock_at("2026-04-03");
	for (int k = 0; k < 10; k++)
		add(s, "signal", c, "\"kind\":\"rent_arrears\",\"severity\":\"high\"");
	add(s, "visit", c, "\"kind\":\"home_visit\",\"started\":\"2026-04-05T09:00\"");
}

static void test_report__a_median_needs_ten_clients_not_ten_signals(void **state)
{
	char *dir = NULL;
	veld_store *s = fourteen(&dir, one_clients_signals);
	json_t *doc = report(s, "2026Q2");
	(void)state;
	expect(doc, "arrears_signals", NULL, "0", "0", "0", "10");
	expect(doc, "signal_to_contact_days", NULL, "null", "null", "null", "null");
	done(s, dir, doc);
}

/* Twelve time-outs from 2025-08-01, two of them ended on 2025-11-01:
 * running in 2025Q4 (12) - running in 2026Q1 (10) + started in 2026Q1
 * (0) would give the hidden 2 ended in 2025Q4 back. */
static void time_outs(veld_store *s, const char *c, int i)
{
	if (i < 12)
		add(s, "time_out", c, "\"start\":\"2025-08-01\"%s",
		    i < 2 ? ",\"end\":\"2025-11-01\"" : "");
}

static void test_report__quarters_side_by_side_do_not_give_a_small_count_back(void **state)
{
	char *dir = NULL;
	veld_store *s = fourteen(&dir, time_outs);
	json_t *doc = report(s, "2026Q2");
	(void)state;
	expect(doc, "time_outs_ended", NULL, "0", "<5", "0", "0");
	expect(doc, "time_outs_started", NULL, "12", "0", "0", "0");
	for (int q = 1; q < 4; q++)
		assert_false(!shown(doc, "time_outs_ended", NULL, q - 1) &&
		             shown(doc, "time_outs_running", NULL, q - 1) &&
		             shown(doc, "time_outs_running", NULL, q) &&
		             shown(doc, "time_outs_started", NULL, q));
	done(s, dir, doc);
}

/* Twelve measured, one improved by 1, none worse: a mean of 0.08 times 12
 * is 1, the one improved. */
static void scores(veld_store *s, const char *c, int i)
{
	if (i >= 12)
		return;
	add(s, "visit", c, "\"kind\":\"home_visit\",\"started\":\"2025-07-01T10:00\","
	    "\"scores\":{\"financien\":3}");
	add(s, "visit", c, "\"kind\":\"home_visit\",\"started\":\"2025-11-01T10:00\","
	    "\"scores\":{\"financien\":%d}", i == 0 ? 4 : 3);
}

static void test_report__a_mean_does_not_give_a_small_count_back(void **state)
{
	char *dir = NULL;
	veld_store *s = fourteen(&dir, scores);
	json_t *doc = report(s, "2026Q2");
	(void)state;
	expect(doc, "zrm_clients", "financien", "0", "12", "12", "12");
	expect(doc, "zrm_improved_share", "financien", "null", "x", "x", "x");
	expect(doc, "zrm_worse_share", "financien", "null", "0", "0", "0");
	expect(doc, "zrm_mean_change", "financien", "null", "x", "x", "x");
	done(s, dir, doc);
}

/* The CSV form (cli/report.c), by the veld command on a store of this
 * test: a team whose name a spreadsheet would take for a formula (it may
 * start with @) is written as text, with an apostrophe before it. */
static const char *veld_bin;

static void test_report__csv_writes_a_formula_like_team_as_text(void **state)
{
	char *dir = NULL, *c, cmd[1024], line[512];
	veld_store *s;
	FILE *p;
	int found = 0, bare = 0;
	(void)state;
	if (!veld_bin)
		skip();
	clock_ms = 0;
	clock_at("2025-06-01");
	s = office_new(&dir);
	for (int i = 0; i < 10; i++) {
		c = create(s, "client", "{\"name\":\"a\",\"team\":\"@oost\"}");
		add(s, "phase", c, "\"phase\":\"beschermd_thuis\",\"date\":\"2025-01-01\"");
		add(s, "contact_person", c, "\"person\":\"cp1\",\"from\":\"2025-01-01\","
		    "\"budget_hours_granted\":2");
		free(c);
	}
	veld_store_free(s);
	snprintf(cmd, sizeof cmd, "VELD_PASSPHRASE='%s' '%s' --store '%s/office' --user analyst "
	         "office report --period 2025Q4 --format csv --lang en", TEST_PASS, veld_bin, dir);
	assert_non_null(p = popen(cmd, "r"));
	while (fgets(line, sizeof line, p)) {
		found |= strstr(line, ",\"'@oost\",") != NULL;
		bare |= strstr(line, ",@oost,") != NULL;
	}
	assert_int_equal(pclose(p), 0);
	assert_true(found);
	assert_false(bare);
	rm_rf(dir);
	free(dir);
}

int main(int argc, char **argv)
{
	veld_bin = argc > 1 ? argv[1] : NULL;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_report__quarters_and_shape, setup, teardown),
		cmocka_unit_test_setup_teardown(test_report__evictions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_report__day_activity_and_contact_person, setup, teardown),
		cmocka_unit_test_setup_teardown(test_report__standing_decision_and_time_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_report__zrm_flow_demand_data_quality, setup, teardown),
		cmocka_unit_test_setup_teardown(test_report__running_quarter_as_of_today, setup, teardown),
		cmocka_unit_test_setup_teardown(test_report__canary_no_value_or_id_in_the_answer, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_report__one_access_log_entry_for_monitoring, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_report__bad_period_refused_and_nothing_logged, setup,
		                                teardown),
		cmocka_unit_test(test_report__refused_in_a_workers_store),
		cmocka_unit_test(test_report__a_team_of_ten_is_broken_down),
		cmocka_unit_test(test_report__a_share_of_a_hidden_base_is_hidden),
		cmocka_unit_test(test_report__budget_needs_ten_clients_with_a_contact_person),
		cmocka_unit_test(test_report__quarters_side_by_side_do_not_give_a_small_count_back),
		cmocka_unit_test(test_report__a_median_needs_ten_clients_not_ten_signals),
		cmocka_unit_test(test_report__csv_writes_a_formula_like_team_as_text),
		cmocka_unit_test(test_report__a_mean_does_not_give_a_small_count_back),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
