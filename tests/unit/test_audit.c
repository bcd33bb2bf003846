/* test_audit.c - the NEN 7513 access log: what is logged, and that any
 * alteration, removal or truncation is detected. */
#include "helpers.h"

#include "store.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *log_of(veld_store *s, const char *client)
{
	char filter[80], *out = NULL;
	json_t *j;
	snprintf(filter, sizeof filter, "{\"client\":\"%s\"}", client);
	ok(veld_audit_list(s, client ? filter : NULL, &out));
	j = json_loads(out, 0, NULL);
	veld_free(out);
	return j;
}

static void test_audit__reads_changes_and_searches_are_logged(void **state)
{
	char *dir, *client, *out = NULL, b[256];
	veld_store *s = store_new(&dir, "anna", NULL);
	json_t *log, *e;
	client = create(s, "client", "{\"name\":\"Logged\"}");
	ok(veld_record_get(s, "client", client, "intake", &out));
	veld_free(out);
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"kind\":\"phone\"}", client);
	free(create(s, "visit", b));
	ok(veld_record_list(s, "client", "{\"query\":\"log\"}", NULL, &out));
	veld_free(out);

	log = log_of(s, client);
	assert_int_equal(json_array_size(log), 4);
	e = json_array_get(log, 0);
	assert_string_equal(json_string_value(json_object_get(e, "event")), "create");
	e = json_array_get(log, 1);
	assert_string_equal(json_string_value(json_object_get(e, "event")), "read");
	assert_string_equal(json_string_value(json_object_get(e, "purpose")), "intake");
	assert_string_equal(json_string_value(json_object_get(e, "user")), "anna");
	assert_string_equal(json_string_value(json_object_get(e, "role")), "worker");
	assert_string_equal(json_string_value(json_object_get(e, "outcome")), "success");
	assert_int_equal(strlen(json_string_value(json_object_get(e, "device"))), 32);
	assert_non_null(json_object_get(e, "at"));
	e = json_array_get(log, 3);
	assert_string_equal(json_string_value(json_object_get(e, "event")), "search");
	json_decref(log);
	{
		uint64_t n = 0;
		ok(veld_audit_verify(s, &n));
		assert_true(n >= 5); /* with the store-create entry */
	}
	veld_store_free(s);
	free(client);
	rm_rf(dir);
	free(dir);
}

/* Tamper with the database the way an attacker with the file would. */
static void tamper(const char *dir, const char *sql)
{
	char path[512];
	sqlite3 *db;
	snprintf(path, sizeof path, "%s/store/veld.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("tamper SQL failed: %s", sqlite3_errmsg(db));
	sqlite3_close(db);
}

static void expect_tamper_detected(const char *sql, const char *msg)
{
	char *dir, *client, sub[512], *out = NULL;
	veld_store *s = store_new(&dir, "anna", NULL);
	client = create(s, "client", "{\"name\":\"T\"}");
	for (int i = 0; i < 3; i++) {
		ok(veld_record_get(s, "client", client, NULL, &out));
		veld_free(out);
	}
	ok(veld_audit_verify(s, NULL));
	veld_store_free(s);
	tamper(dir, sql);
	snprintf(sub, sizeof sub, "%s/store", dir);
	ok(veld_store_open(&s, sub, TEST_PASS, strlen(TEST_PASS), NULL));
	assert_int_equal(veld_audit_verify(s, NULL), VELD_ECORRUPT);
	if (!strstr(veld_error_last(), msg))
		fail_msg("'%s' lacks '%s'", veld_error_last(), msg);
	veld_store_free(s);
	free(client);
	rm_rf(dir);
	free(dir);
}

/* AVG art. 15: one document with the client, all its records and who
 * accessed it, the export itself included; a deleted record is left out;
 * an erased client cannot be exported. */
static void test_audit__client_export_holds_everything_about_the_client(void **state)
{
	char *dir, *client, *other, *visit, *out = NULL, b[256];
	veld_store *s = store_new(&dir, "anna", NULL);
	json_t *doc, *recs, *log, *e;
	size_t i;
	int saw_export = 0, saw_read = 0;
	(void)state;
	client = create(s, "client", "{\"name\":\"Export Me\",\"phone\":\"0612345678\"}");
	other = create(s, "client", "{\"name\":\"Someone Else\"}");
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"kind\":\"home_visit\"}", client);
	visit = create(s, "visit", b);
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"kind\":\"phone\"}", client);
	free(create(s, "visit", b));
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"text\":\"first note\"}", client);
	free(create(s, "note", b));
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"text\":\"not this client\"}", other);
	free(create(s, "note", b));
	ok(veld_record_delete(s, "visit", visit, NULL));
	ok(veld_record_get(s, "client", client, "intake", &out));
	veld_free(out);

	ok(veld_client_export(s, client, "AVG art. 15 request", &out));
	doc = json_loads(out, 0, NULL);
	veld_free(out);
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "client"), "name")),
	                    "Export Me");
	recs = json_object_get(doc, "records");
	assert_int_equal(json_array_size(json_object_get(recs, "visit")), 1); /* one deleted */
	assert_int_equal(json_array_size(json_object_get(recs, "note")), 1);
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(json_object_get(recs, "note"), 0), "text")), "first note");
	assert_int_equal(json_array_size(json_object_get(recs, "goal")), 0);
	assert_int_equal(json_array_size(json_object_get(recs, "signal")), 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "exported_by"),
	                                                      "user")), "anna");
	log = json_object_get(doc, "access_log");
	json_array_foreach(log, i, e) {
		const char *ev = json_string_value(json_object_get(e, "event"));
		assert_string_equal(json_string_value(json_object_get(e, "client")), client);
		saw_read |= strcmp(ev, "read") == 0 &&
		            strcmp(json_string_value(json_object_get(e, "purpose")), "intake") == 0;
		saw_export |= strcmp(ev, "export") == 0 &&
		              strcmp(json_string_value(json_object_get(e, "purpose")),
		                     "AVG art. 15 request") == 0;
	}
	assert_true(saw_read);
	assert_true(saw_export);
	json_decref(doc);
	/* The export is in the log itself too. */
	log = log_of(s, client);
	e = json_array_get(log, json_array_size(log) - 1);
	assert_string_equal(json_string_value(json_object_get(e, "event")), "export");
	json_decref(log);

	ok(veld_client_erase(s, client, NULL));
	assert_int_equal(veld_client_export(s, client, NULL, &out), VELD_ESHREDDED);
	assert_null(out);
	free(client);
	free(other);
	free(visit);
	veld_store_free(s);
	rm_rf(dir);
	free(dir);
}

static void test_audit__update_is_refused_by_the_store(void **state)
{
	char *dir, path[512];
	veld_store *s = store_new(&dir, "anna", NULL);
	sqlite3 *db;
	veld_store_free(s);
	snprintf(path, sizeof path, "%s/store/veld.db", dir);
	sqlite3_open(path, &db);
	assert_int_not_equal(sqlite3_exec(db, "UPDATE audit SET user = 'x'", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	rm_rf(dir);
	free(dir);
}

static void test_audit__altered_entry_detected(void **state)
{
	expect_tamper_detected("DROP TRIGGER audit_no_update;"
	                       " UPDATE audit SET purpose = 'nothing to see' WHERE seq = 3;", "entry 3 was altered");
}

static void test_audit__removed_entry_detected(void **state)
{
	expect_tamper_detected("DELETE FROM audit WHERE seq = 2;", "entry 2 is missing");
}

static void test_audit__truncation_detected(void **state)
{
	expect_tamper_detected("DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit);",
	                       "recorded head");
}

static void test_audit__forged_entry_detected(void **state)
{
	/* Appending an entry needs the chain key, which the file does not hold. */
	expect_tamper_detected("INSERT INTO audit SELECT seq + 1, at, event, outcome, client, user,"
	                       " role, device, purpose, hash FROM audit"
	                       " WHERE seq = (SELECT max(seq) FROM audit);", "altered");
}

static void test_audit__head_moved_back_detected(void **state)
{
	/* Cut the log after entry 2 and point the head at entry 2 by hand: the
	 * head's MAC needs the key, so this fails. */
	expect_tamper_detected("DELETE FROM audit WHERE seq > 2;"
	                       " UPDATE meta SET value = X'0000000000000002' ||"
	                       " (SELECT hash FROM audit WHERE seq = 2) || substr(value, 41)"
	                       " WHERE key = 'audit_head';", "head was altered");
}

static void test_audit__emptied_log_detected(void **state)
{
	expect_tamper_detected("DELETE FROM audit; DELETE FROM meta WHERE key = 'audit_head';",
	                       "head is missing");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_audit__reads_changes_and_searches_are_logged),
		cmocka_unit_test(test_audit__client_export_holds_everything_about_the_client),
		cmocka_unit_test(test_audit__update_is_refused_by_the_store),
		cmocka_unit_test(test_audit__altered_entry_detected),
		cmocka_unit_test(test_audit__removed_entry_detected),
		cmocka_unit_test(test_audit__truncation_detected),
		cmocka_unit_test(test_audit__forged_entry_detected),
		cmocka_unit_test(test_audit__head_moved_back_detected),
		cmocka_unit_test(test_audit__emptied_log_detected),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
