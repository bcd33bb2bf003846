/* test_records.c - domain records: validation, updates, notes, deletion,
 * search, prefixes, team boundaries, erasure and retention. */
#include "helpers.h"

#include "store.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fx {
	char *dir;
	veld_store *s;
	char *client;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	f->s = store_new(&f->dir, "anna", "noord");
	f->client = create(f->s, "client", "{\"name\":\"Jan de Vries\",\"address\":\"Dorpsstraat 1\"}");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	veld_store_free(f->s);
	rm_rf(f->dir);
	free(f->dir);
	free(f->client);
	free(f);
	return 0;
}

static json_t *get(veld_store *s, const char *kind, const char *id)
{
	char *out = NULL;
	json_t *j;
	ok(veld_record_get(s, kind, id, NULL, &out));
	j = json_loads(out, 0, NULL);
	veld_free(out);
	return j;
}

static json_t *list(veld_store *s, const char *kind, const char *filter)
{
	char *out = NULL;
	json_t *j;
	ok(veld_record_list(s, kind, filter, NULL, &out));
	j = json_loads(out, 0, NULL);
	veld_free(out);
	return j;
}

static void expect_invalid(veld_store *s, const char *kind, const char *fields, const char *msg)
{
	char *out = (char *)0x1;
	assert_int_equal(veld_record_create(s, kind, fields, NULL, &out), VELD_EINVAL);
	assert_null(out);
	if (msg && !strstr(veld_error_last(), msg))
		fail_msg("error '%s' lacks '%s'", veld_error_last(), msg);
}

static void test_records__visit_with_scores_round_trips(void **state)
{
	struct fx *f = *state;
	char fields[512], *id;
	json_t *v;
	snprintf(fields, sizeof fields,
	         "{\"client\":\"%s\",\"kind\":\"home_visit\",\"started\":\"2026-11-22T10:00Z\","
	         "\"domains\":[\"financien\",\"huisvesting\"],"
	         "\"scores\":{\"financien\":2,\"huisvesting\":4},\"actions\":\"Call the corporation\"}",
	         f->client);
	id = create(f->s, "visit", fields);
	v = get(f->s, "visit", id);
	assert_string_equal(json_string_value(json_object_get(v, "client")), f->client);
	assert_string_equal(json_string_value(json_object_get(v, "worker")), "anna");
	assert_string_equal(json_string_value(json_object_get(v, "zrm_version")), "2017");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "scores"), "huisvesting")), 4);
	assert_string_equal(json_string_value(json_object_get(v, "team")), "noord");
	assert_null(json_object_get(v, "conflicts"));
	json_decref(v);
	free(id);
}

static void test_records__validation_refuses_bad_fields(void **state)
{
	struct fx *f = *state;
	char b[512];
	expect_invalid(f->s, "client", "{\"initials\":\"JV\"}", "'name' is required");
	expect_invalid(f->s, "client", "{\"name\":\"X\",\"bsn\":\"123456782\"}", "no field 'bsn'");
	expect_invalid(f->s, "client", "{\"name\":\"X\",\"birth_date\":\"1970-02-30\"}", "date");
	expect_invalid(f->s, "client", "{\"name\":\"X\",\"care_status\":\"hotel\"}", "one of");
	expect_invalid(f->s, "client", "{\"name\":\"X\",\"birth_date\":\"1990-01-01<script>\"}", "date");
	expect_invalid(f->s, "client", "[1,2]", "JSON object");
	expect_invalid(f->s, "client", "{\"name\":", "JSON object");
	expect_invalid(f->s, "spaceship", "{}", "unknown record kind");
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"kind\":\"home_visit\",\"scores\":{\"financien\":6}}", f->client);
	expect_invalid(f->s, "visit", b, "1 to 5");
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"kind\":\"home_visit\",\"scores\":{\"astrologie\":3}}", f->client);
	expect_invalid(f->s, "visit", b, "unknown life domain");
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"kind\":\"home_visit\",\"started\":\"yesterday\"}", f->client);
	expect_invalid(f->s, "visit", b, "ISO 8601");
	expect_invalid(f->s, "visit", "{\"kind\":\"home_visit\"}", "needs a \"client\"");
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"kind\":\"relapse\",\"severity\":\"apocalyptic\"}", f->client);
	expect_invalid(f->s, "signal", b, "severity");
	{
		/* Nothing was written by any of the refused calls. */
		json_t *l = list(f->s, "visit", NULL);
		assert_int_equal(json_array_size(l), 0);
		json_decref(l);
	}
}

static void test_records__note_visit_must_be_same_client(void **state)
{
	struct fx *f = *state;
	char b[512], *other, *visit;
	other = create(f->s, "client", "{\"name\":\"Other\"}");
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"kind\":\"phone\"}", other);
	visit = create(f->s, "visit", b);
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"text\":\"t\",\"visit\":\"%s\"}", f->client, visit);
	expect_invalid(f->s, "note", b, "another client");
	free(other);
	free(visit);
}

static void test_records__update_changes_only_given_fields(void **state)
{
	struct fx *f = *state;
	char *out = NULL;
	json_t *c;
	ok(veld_record_update(f->s, "client", f->client, "{\"phone\":\"0612345678\"}", NULL, &out));
	veld_free(out);
	c = get(f->s, "client", f->client);
	assert_string_equal(json_string_value(json_object_get(c, "phone")), "0612345678");
	assert_string_equal(json_string_value(json_object_get(c, "address")), "Dorpsstraat 1");
	json_decref(c);
	/* null removes an optional field; a required one cannot be removed. */
	ok(veld_record_update(f->s, "client", f->client, "{\"phone\":null}", NULL, NULL));
	c = get(f->s, "client", f->client);
	assert_null(json_object_get(c, "phone"));
	json_decref(c);
	assert_int_equal(veld_record_update(f->s, "client", f->client, "{\"name\":null}", NULL, NULL),
	                 VELD_EINVAL);
}

static void test_records__notes_are_append_only(void **state)
{
	struct fx *f = *state;
	char b[512], *note, *amend;
	json_t *n, *l;
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"text\":\"Rent is two months behind\",\"tags\":[\"financien\"]}", f->client);
	note = create(f->s, "note", b);
	assert_int_equal(veld_record_update(f->s, "note", note, "{\"text\":\"x\"}", NULL, NULL), VELD_EPERM);
	assert_int_equal(veld_record_delete(f->s, "note", note, NULL), VELD_EPERM);
	assert_int_equal(veld_conflict_resolve(f->s, "note", note, "text", "\"rewritten\"", NULL), VELD_EPERM);
	/* A reference may be given as a prefix; it is stored in full. */
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"text\":\"Correction: one month\",\"amends\":\"%.8s\"}", f->client, note);
	amend = create(f->s, "note", b);
	n = get(f->s, "note", note);
	assert_string_equal(json_string_value(json_object_get(n, "text")), "Rent is two months behind");
	assert_string_equal(json_string_value(json_array_get(json_object_get(n, "amended_by"), 0)), amend);
	json_decref(n);
	l = list(f->s, "note", NULL);
	assert_int_equal(json_array_size(l), 2);
	json_decref(l);
	free(note);
	free(amend);
}

static void test_records__delete_is_a_tombstone(void **state)
{
	struct fx *f = *state;
	char b[256], *goal, *out = NULL;
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"domain\":\"huisvesting\",\"description\":\"Keep the flat\"}", f->client);
	goal = create(f->s, "goal", b);
	ok(veld_record_delete(f->s, "goal", goal, NULL));
	assert_int_equal(veld_record_get(f->s, "goal", goal, NULL, &out), VELD_ENOTFOUND);
	assert_null(out);
	{
		json_t *l = list(f->s, "goal", NULL);
		assert_int_equal(json_array_size(l), 0);
		json_decref(l);
	}
	assert_int_equal(veld_record_delete(f->s, "client", f->client, NULL), VELD_EPERM);
	free(goal);
}

static void test_records__list_filters_and_search(void **state)
{
	struct fx *f = *state;
	char b[256], *sig;
	json_t *l;
	free(create(f->s, "client", "{\"name\":\"Maria Jansen\"}"));
	l = list(f->s, "client", "{\"query\":\"JANSEN\"}");
	assert_int_equal(json_array_size(l), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(l, 0), "name")), "Maria Jansen");
	json_decref(l);
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"kind\":\"rent_arrears\",\"severity\":\"high\"}", f->client);
	sig = create(f->s, "signal", b);
	free(create(f->s, "signal", b));
	ok(veld_record_update(f->s, "signal", sig, "{\"status\":\"closed\",\"closed_at\":\"2026-11-22T12:00Z\"}", NULL, NULL));
	l = list(f->s, "signal", "{\"status\":\"open\"}");
	assert_int_equal(json_array_size(l), 1);
	json_decref(l);
	snprintf(b, sizeof b, "{\"client\":\"%s\"}", f->client);
	l = list(f->s, "signal", b);
	assert_int_equal(json_array_size(l), 2);
	json_decref(l);
	free(sig);
}

static void test_records__ids_resolve_by_prefix(void **state)
{
	struct fx *f = *state;
	char prefix[9];
	json_t *c;
	memcpy(prefix, f->client, 8);
	prefix[8] = 0;
	c = get(f->s, "client", prefix);
	assert_string_equal(json_string_value(json_object_get(c, "id")), f->client);
	json_decref(c);
	{
		char *out = NULL;
		assert_int_equal(veld_record_get(f->s, "client", "ab", NULL, &out), VELD_EINVAL);
		assert_int_equal(veld_record_get(f->s, "client", "zzzzzz", NULL, &out), VELD_EINVAL);
		assert_int_equal(veld_record_get(f->s, "visit", prefix, NULL, &out), VELD_ENOTFOUND);
	}
}

static void test_records__other_team_needs_break_the_glass(void **state)
{
	struct fx *f = *state;
	char *other, *out = NULL;
	/* A worker cannot create for another team, whatever role it claims. */
	ok(veld_store_set_actor(f->s, "anna", "office"));
	assert_int_equal(veld_record_create(f->s, "client", "{\"name\":\"Z\",\"team\":\"zuid\"}",
	                                    NULL, NULL), VELD_EPERM);
	/* Only an office store can (pretend this one is, for the test). */
	f->s->office = 1;
	other = create(f->s, "client", "{\"name\":\"Zuid client\",\"team\":\"zuid\"}");
	f->s->office = 0;
	ok(veld_store_set_actor(f->s, "anna", "worker"));
	assert_int_equal(veld_record_update(f->s, "client", other, "{\"phone\":\"1\"}", NULL, NULL),
	                 VELD_EPERM);
	assert_int_equal(veld_record_get(f->s, "client", other, NULL, &out), VELD_EPERM);
	assert_null(out);
	assert_non_null(strstr(veld_error_last(), "break-glass"));
	{
		json_t *l = list(f->s, "client", NULL);
		assert_int_equal(json_array_size(l), 1); /* only the own team's client */
		json_decref(l);
	}
	ok(veld_record_get(f->s, "client", other, "break-glass: acute crisis, contact person absent", &out));
	assert_non_null(strstr(out, "Zuid client"));
	veld_free(out);
	/* Both the refusal and the break-the-glass read are in the log. */
	{
		char filter[64];
		json_t *log;
		snprintf(filter, sizeof filter, "{\"client\":\"%s\"}", other);
		ok(veld_audit_list(f->s, filter, &out));
		log = json_loads(out, 0, NULL);
		veld_free(out);
		int denied = 0, glass = 0;
		size_t i;
		json_t *e;
		json_array_foreach(log, i, e) {
			if (!strcmp(json_string_value(json_object_get(e, "outcome")), "denied"))
				denied++;
			if (!strcmp(json_string_value(json_object_get(e, "event")), "break-glass"))
				glass++;
		}
		assert_int_equal(denied, 2); /* the refused read and the refused update */
		assert_int_equal(glass, 1);
		json_decref(log);
	}
	free(other);
}

static void test_records__erase_shreds_client(void **state)
{
	struct fx *f = *state;
	char b[256], *visit, *out = NULL;
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"kind\":\"phone\"}", f->client);
	visit = create(f->s, "visit", b);
	ok(veld_client_erase(f->s, f->client, NULL));
	assert_int_equal(veld_record_get(f->s, "client", f->client, NULL, &out), VELD_ESHREDDED);
	assert_int_equal(veld_record_get(f->s, "visit", visit, NULL, &out), VELD_ENOTFOUND);
	assert_null(out);
	ok(veld_store_verify(f->s, &out));
	veld_free(out);
	ok(veld_audit_verify(f->s, NULL));
	free(visit);
}

static void test_records__retention_purges_ended_cases(void **state)
{
	struct fx *f = *state;
	char *ended, *out = NULL, b[256];
	json_t *r;
	ended = create(f->s, "client", "{\"name\":\"Afgesloten\",\"care_decision\":{\"active\":false,\"end_date\":\"2020-01-01\"}}");
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"text\":\"old\"}", ended);
	free(create(f->s, "note", b));
	/* Dry run reports, removes nothing. */
	ok(veld_retention_purge(f->s, 0, 1, &out));
	r = json_loads(out, 0, NULL);
	veld_free(out);
	assert_int_equal(json_array_size(json_object_get(r, "removed")), 1);
	json_decref(r);
	ok(veld_record_get(f->s, "client", ended, NULL, &out));
	veld_free(out);
	/* Only the office sets the policy. */
	assert_int_equal(veld_retention_set(f->s, "client", 1, NULL), VELD_EPERM);
	f->s->office = 1;
	/* An office-like policy keeps it for 15 years after the end. */
	ok(veld_retention_set(f->s, "client", 365 * 15, "Wmo: 15 years"));
	ok(veld_retention_set(f->s, "note", 365 * 20, "WGBO: 20 years"));
	ok(veld_retention_set(f->s, "visit", 365 * 15, "Wmo: 15 years"));
	ok(veld_retention_set(f->s, "goal", 365 * 15, "Wmo: 15 years"));
	ok(veld_retention_set(f->s, "signal", 365 * 15, "Wmo: 15 years"));
	ok(veld_retention_purge(f->s, 0, 0, &out));
	r = json_loads(out, 0, NULL);
	veld_free(out);
	assert_int_equal(json_array_size(json_object_get(r, "removed")), 0);
	json_decref(r);
	/* Sixteen years after the end the client goes; the active client stays. */
	ok(veld_retention_purge(f->s, (int64_t)(1577836800LL + 16LL * 366 * 86400), 0, &out));
	veld_free(out);
	assert_int_equal(veld_record_get(f->s, "client", ended, NULL, &out), VELD_ESHREDDED);
	ok(veld_record_get(f->s, "client", f->client, NULL, &out));
	veld_free(out);
	assert_int_equal(veld_retention_set(f->s, "client", -1, NULL), VELD_EINVAL);
	f->s->office = 0;
	free(ended);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_records__visit_with_scores_round_trips, setup, teardown),
		cmocka_unit_test_setup_teardown(test_records__validation_refuses_bad_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_records__update_changes_only_given_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_records__note_visit_must_be_same_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_records__notes_are_append_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_records__delete_is_a_tombstone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_records__list_filters_and_search, setup, teardown),
		cmocka_unit_test_setup_teardown(test_records__ids_resolve_by_prefix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_records__other_team_needs_break_the_glass, setup, teardown),
		cmocka_unit_test_setup_teardown(test_records__erase_shreds_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_records__retention_purges_ended_cases, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
