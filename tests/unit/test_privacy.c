/* test_privacy.c - canary strings written through every personal field
 * appear nowhere in the database, its WAL or shared-memory file, or any
 * error message. */
#include "helpers.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const canaries[] = {
	"CANARYNAME7731", "CNRYINIT", "CANARYADDR-Kerkpad-9", "0699CANARY11", "CANARYCORP-Woonstad",
	"CANARYTENANCY-4471", "CANARYCONTACT-w", "CANARYACTIONS-budget", "CANARYNOTE-relapse-text",
	"CANARYAMEND-text", "CANARYGOAL-keep-flat", "CANARYSIGNAL-arrears", "CANARYFOLLOWUP-call",
	"CANARYWORKER", "CANARYCORP2-Woonbron", "CANARYWK-summary", "CANARYTIMEOUT-loc",
	"CANARYOWNER-esc", "CANARYWVB-2026-17", "CANARYACTION2-desc", "CANARYCONSENT-note",
	"CANARYMEETING-notes", "CANARYREASON-ready", NULL};

static void check_files(const char *dir, int expect_wal)
{
	const char *files[] = {"veld.db", "veld.db-wal", "veld.db-shm"};
	int seen_wal = 0;
	for (int f = 0; f < 3; f++) {
		char path[512];
		size_t len;
		uint8_t *b;
		snprintf(path, sizeof path, "%s/store/%s", dir, files[f]);
		if (!(b = slurp(path, &len)))
			continue;
		if (f == 1 && len > 0)
			seen_wal = 1;
		for (int i = 0; canaries[i]; i++)
			if (mem_contains(b, len, canaries[i]))
				fail_msg("canary %s found in %s", canaries[i], files[f]);
		free(b);
	}
	if (expect_wal)
		assert_true(seen_wal); /* the WAL really was inspected with content */
}

static void test_privacy__canaries_not_in_any_file_or_error(void **state)
{
	char *dir, *client, *note, b[1024], *out = NULL;
	veld_store *s = store_new(&dir, "anna", NULL);
	client = create(s, "client",
		"{\"name\":\"CANARYNAME7731\",\"initials\":\"CNRYINIT\",\"address\":\"CANARYADDR-Kerkpad-9\","
		"\"phone\":\"0699CANARY11\",\"birth_date\":\"1961-07-13\",\"care_status\":\"beschermd_thuis\","
		"\"housing\":{\"corporation\":\"CANARYCORP-Woonstad\",\"tenancy\":\"CANARYTENANCY-4471\","
		"\"support_clause\":true},\"contact_person\":\"CANARYCONTACT-w\"}");
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"kind\":\"home_visit\",\"worker\":\"CANARYWORKER\","
	         "\"actions\":\"CANARYACTIONS-budget\",\"scores\":{\"middelengebruik\":2}}", client);
	free(create(s, "visit", b));
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"text\":\"CANARYNOTE-relapse-text\"}", client);
	note = create(s, "note", b);
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"text\":\"CANARYAMEND-text\",\"amends\":\"%s\"}", client, note);
	free(create(s, "note", b));
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"domain\":\"huisvesting\",\"description\":\"CANARYGOAL-keep-flat\"}", client);
	free(create(s, "goal", b));
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"kind\":\"rent_arrears\",\"severity\":\"high\","
	         "\"description\":\"CANARYSIGNAL-arrears\",\"follow_up\":\"CANARYFOLLOWUP-call\"}", client);
	free(create(s, "signal", b));
	/* The seeds' process, through the record schema's kinds. */
	{
		static const char *const more[][2] = {
			{"tenancy", "\"form\":\"three_party\",\"corporation\":\"CANARYCORP2-Woonbron\""},
			{"woonkompas", "\"date\":\"2026-10-01\",\"summary\":\"CANARYWK-summary\","
			               "\"themes\":[\"huur_betalen\"]"},
			{"time_out", "\"start\":\"2026-10-02\",\"location\":\"CANARYTIMEOUT-loc\","
			             "\"rent_continued\":true"},
			{"waakvlam", "\"number\":\"CANARYWVB-2026-17\",\"municipality\":\"s-Hertogenbosch\","
			             "\"start\":\"2026-01-01\""},
			{"action", "\"description\":\"CANARYACTION2-desc\",\"owner\":\"client\""},
			{"consent", "\"partner\":\"municipality\",\"subject\":\"early_warning\","
			            "\"decision\":\"objection\",\"date\":\"2026-10-03\",\"note\":\"CANARYCONSENT-note\""},
			{"meeting", "\"date\":\"2026-10-04T10:00\",\"notes\":\"CANARYMEETING-notes\""},
			{"readiness", "\"decision\":\"ready\",\"date\":\"2026-09-01\",\"decided_by\":\"team\","
			              "\"reason\":\"CANARYREASON-ready\""},
		};
		char *esc;
		for (size_t i = 0; i < sizeof more / sizeof *more; i++) {
			snprintf(b, sizeof b, "{\"client\":\"%s\",%s}", client, more[i][1]);
			free(create(s, more[i][0], b));
		}
		snprintf(b, sizeof b, "{\"client\":\"%s\",\"about\":\"rent_arrears\",\"amount\":850}", client);
		esc = create(s, "escalation", b);
		snprintf(b, sizeof b, "{\"client\":\"%s\",\"escalation\":\"%s\",\"step\":\"reminder\","
		         "\"date\":\"2026-10-05\",\"owner\":\"CANARYOWNER-esc\"}", client, esc);
		free(create(s, "escalation_step", b));
		free(esc);
	}

	/* The values are really there, readable through the API... */
	ok(veld_record_get(s, "client", client, NULL, &out));
	assert_non_null(strstr(out, "CANARYNAME7731"));
	veld_free(out);
	/* ...and nowhere in the files, with the WAL still holding the writes. */
	check_files(dir, 1);
	if (1) {
		/* The date of birth is personal data too. */
		char path[512];
		size_t len;
		uint8_t *db;
		snprintf(path, sizeof path, "%s/store/veld.db-wal", dir);
		db = slurp(path, &len);
		assert_false(mem_contains(db, len, "1961-07-13"));
		free(db);
	}

	/* Errors never echo a value, even a bad one. */
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"kind\":\"CANARYNAME7731\"}", client);
	assert_int_equal(veld_record_create(s, "visit", b, NULL, NULL), VELD_EINVAL);
	assert_null(strstr(veld_error_last(), "CANARY"));
	assert_int_equal(veld_record_update(s, "client", client, "{\"birth_date\":\"CANARYNAME7731\"}", NULL, NULL), VELD_EINVAL);
	assert_null(strstr(veld_error_last(), "CANARY"));
	assert_int_equal(veld_record_create(s, "client", "{\"name\":\"CANARYNAME7731\",\"CANARYADDR-Kerkpad-9\":1}", NULL, NULL), VELD_EINVAL);
	/* The unknown field name is echoed (it is a schema name), the value is not. */
	assert_null(strstr(veld_error_last(), "CANARYNAME7731"));

	/* The access log holds ids and roles, never values. */
	ok(veld_audit_list(s, NULL, &out));
	for (int i = 0; canaries[i]; i++)
		assert_null(strstr(out, canaries[i]));
	veld_free(out);

	veld_store_free(s);
	check_files(dir, 0);
	free(client);
	free(note);
	rm_rf(dir);
	free(dir);
}

static void test_privacy__erased_values_leave_no_plaintext(void **state)
{
	char *dir, *client;
	veld_store *s = store_new(&dir, "anna", NULL);
	client = create(s, "client", "{\"name\":\"CANARYNAME7731\"}");
	ok(veld_client_erase(s, client, NULL));
	veld_store_free(s);
	check_files(dir, 0);
	free(client);
	rm_rf(dir);
	free(dir);
}

/* A sealed value's length must not tell a short enum from a long one. */
static void test_privacy__sealed_lengths_hide_enum_values(void **state)
{
	char *dir, *client, b[256], path[512];
	veld_store *s = store_new(&dir, "anna", NULL);
	client = create(s, "client", "{\"name\":\"P\"}");
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"kind\":\"other\",\"severity\":\"low\"}", client);
	free(create(s, "signal", b));
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"kind\":\"neighbour_complaints\",\"severity\":\"critical\"}", client);
	free(create(s, "signal", b));
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"domain\":\"justitie\",\"description\":\"x\"}", client);
	free(create(s, "goal", b));
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"domain\":\"maatschappelijke_participatie\",\"description\":\"x\"}", client);
	free(create(s, "goal", b));
	veld_store_free(s);
	{
		sqlite3 *db;
		sqlite3_stmt *st;
		snprintf(path, sizeof path, "%s/store/veld.db", dir);
		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		sqlite3_prepare_v2(db, "SELECT count(DISTINCT length(value)) FROM ops"
		                   " WHERE field IN ('kind', 'severity', 'domain') AND kind IN ('signal', 'goal')",
		                   -1, &st, NULL);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int(st, 0), 1);
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
	free(client);
	rm_rf(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_privacy__canaries_not_in_any_file_or_error),
		cmocka_unit_test(test_privacy__erased_values_leave_no_plaintext),
		cmocka_unit_test(test_privacy__sealed_lengths_hide_enum_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
