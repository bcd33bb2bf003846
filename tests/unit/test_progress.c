/* test_progress.c - a client's ZRM scores over time (veld_client_progress):
 * series per domain in the order of the visits' times, first, latest and
 * change, the ZRM order of domains, refused ids, and the access log. Every
 * visit has an explicit time, so nothing depends on the clock. */
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
	f->client = create(f->s, "client", "{\"name\":\"Jan de Vries\"}");
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

/* A visit of `client` with `rest` (its time and scores); its id. */
static char *visit(veld_store *s, const char *client, const char *rest)
{
	char fields[512];
	snprintf(fields, sizeof fields, "{\"client\":\"%s\",\"kind\":\"home_visit\",%s}", client, rest);
	return create(s, "visit", fields);
}

static json_t *progress(veld_store *s, const char *client, const char *purpose)
{
	char *out = NULL;
	json_t *j;
	ok(veld_client_progress(s, client, purpose, &out));
	j = json_loads(out, 0, NULL);
	veld_free(out);
	assert_non_null(j);
	return j;
}

static json_t *domain(json_t *p, size_t i)
{
	return json_array_get(json_object_get(p, "domains"), i);
}

static const char *str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static json_int_t num(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

/* One point of a series: its score, time and visit. */
static void expect_point(json_t *pt, json_int_t score, const char *at, const char *visit_id)
{
	assert_int_equal(num(pt, "score"), score);
	assert_string_equal(str(pt, "at"), at);
	assert_string_equal(str(pt, "visit"), visit_id);
}

static void test_progress__series_oldest_first_per_domain(void **state)
{
	struct fx *f = *state;
	/* Recorded out of order. 10:30+01:00 is 09:30 UTC, before 10:00Z
	 * (though not as text); a planned time counts when the visit has no
	 * start. Huisvesting is scored first, financien comes first in ZRM. */
	char *v2 = visit(f->s, f->client, "\"started\":\"2026-03-10T10:00Z\","
	                 "\"scores\":{\"financien\":1,\"huisvesting\":3}");
	char *v1 = visit(f->s, f->client, "\"started\":\"2026-03-10T10:30+01:00\","
	                 "\"scores\":{\"huisvesting\":2}");
	char *v3 = visit(f->s, f->client, "\"planned\":\"2026-05-01T08:00Z\","
	                 "\"scores\":{\"huisvesting\":1,\"financien\":4}");
	json_t *p = progress(f->s, f->client, NULL), *fin, *hui, *series;

	assert_string_equal(str(p, "client"), f->client);
	assert_string_equal(str(p, "zrm_version"), "2017");
	assert_int_equal(json_array_size(json_object_get(p, "visits")), 3);
	assert_string_equal(str(json_array_get(json_object_get(p, "visits"), 0), "visit"), v1);
	assert_string_equal(str(json_array_get(json_object_get(p, "visits"), 2), "visit"), v3);
	/* ZRM order (financien is domain 1, huisvesting 4), not the order scored. */
	assert_int_equal(json_array_size(json_object_get(p, "domains")), 2);
	fin = domain(p, 0);
	hui = domain(p, 1);
	assert_string_equal(str(fin, "code"), "financien");
	assert_string_equal(str(fin, "label"), "Financien");
	assert_string_equal(str(hui, "code"), "huisvesting");
	assert_string_equal(str(hui, "label"), "Huisvesting");

	series = json_object_get(hui, "series");
	assert_int_equal(json_array_size(series), 3);
	expect_point(json_array_get(series, 0), 2, "2026-03-10T10:30+01:00", v1);
	expect_point(json_array_get(series, 1), 3, "2026-03-10T10:00Z", v2);
	expect_point(json_array_get(series, 2), 1, "2026-05-01T08:00Z", v3);
	expect_point(json_object_get(hui, "first"), 2, "2026-03-10T10:30+01:00", v1);
	expect_point(json_object_get(hui, "latest"), 1, "2026-05-01T08:00Z", v3);
	assert_int_equal(num(hui, "change"), -1);

	series = json_object_get(fin, "series");
	assert_int_equal(json_array_size(series), 2);
	expect_point(json_array_get(series, 0), 1, "2026-03-10T10:00Z", v2);
	expect_point(json_array_get(series, 1), 4, "2026-05-01T08:00Z", v3);
	expect_point(json_object_get(fin, "first"), 1, "2026-03-10T10:00Z", v2);
	expect_point(json_object_get(fin, "latest"), 4, "2026-05-01T08:00Z", v3);
	assert_int_equal(num(fin, "change"), 3);
	json_decref(p);
	free(v1);
	free(v2);
	free(v3);
}

static int by_id(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_progress__same_time_ordered_by_visit_id(void **state)
{
	struct fx *f = *state;
	char *ids[16];
	size_t n = 0;
	/* Visits at one instant (written two ways), recorded until the order
	 * they were recorded in is not the order of their ids. */
	do {
		ids[n] = visit(f->s, f->client, n % 2 ? "\"started\":\"2026-03-10T11:00+01:00\","
		               "\"scores\":{\"justitie\":2}" : "\"started\":\"2026-03-10T10:00Z\","
		               "\"scores\":{\"justitie\":2}");
		n++;
	} while (n < 16 && (n < 2 || strcmp(ids[n - 2], ids[n - 1]) < 0));
	assert_true(n < 16);
	qsort(ids, n, sizeof *ids, by_id);
	json_t *p = progress(f->s, f->client, NULL);
	json_t *series = json_object_get(domain(p, 0), "series");
	assert_int_equal(json_array_size(series), n);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(str(json_array_get(series, i), "visit"), ids[i]);
		free(ids[i]);
	}
	json_decref(p);
}

/* A region's own ZRM version: domains come in the order of the version the
 * client was scored in last; a domain only an older version has follows,
 * labelled by that version. */
static void test_progress__domains_in_order_of_latest_version(void **state)
{
	struct fx *f = *state;
	ok(sqlite3_exec(f->s->db, "INSERT INTO zrm_domains VALUES ('2030', 'wonen', 1, 'Wonen'),"
	                "('2030', 'financien', 2, 'Geld')", NULL, NULL, NULL) == SQLITE_OK
	   ? VELD_OK : VELD_ERROR);
	free(visit(f->s, f->client, "\"started\":\"2026-01-05T10:00Z\","
	           "\"scores\":{\"huisvesting\":2,\"financien\":1}"));
	free(visit(f->s, f->client, "\"started\":\"2026-02-05T10:00Z\",\"zrm_version\":\"2030\","
	           "\"scores\":{\"financien\":3,\"wonen\":4}"));
	json_t *p = progress(f->s, f->client, NULL);
	assert_string_equal(str(p, "zrm_version"), "2030");
	assert_string_equal(str(json_array_get(json_object_get(p, "visits"), 0), "zrm_version"),
	                    "2017");
	assert_int_equal(json_array_size(json_object_get(p, "domains")), 3);
	assert_string_equal(str(domain(p, 0), "code"), "wonen");
	assert_string_equal(str(domain(p, 1), "code"), "financien");
	assert_string_equal(str(domain(p, 1), "label"), "Geld");
	assert_int_equal(num(domain(p, 1), "change"), 2);
	assert_string_equal(str(domain(p, 2), "code"), "huisvesting");
	assert_string_equal(str(domain(p, 2), "label"), "Huisvesting");
	json_decref(p);
}

static void test_progress__domain_scored_once_has_change_zero(void **state)
{
	struct fx *f = *state;
	char *v1 = visit(f->s, f->client, "\"started\":\"2026-01-05T10:00Z\","
	                 "\"scores\":{\"financien\":2}");
	char *v2 = visit(f->s, f->client, "\"started\":\"2026-02-05T10:00Z\","
	                 "\"scores\":{\"financien\":3,\"sociaal_netwerk\":4}");
	json_t *p = progress(f->s, f->client, NULL), *soc = domain(p, 1);
	assert_string_equal(str(soc, "code"), "sociaal_netwerk");
	assert_string_equal(str(soc, "label"), "Sociaal netwerk");
	assert_int_equal(json_array_size(json_object_get(soc, "series")), 1);
	expect_point(json_object_get(soc, "first"), 4, "2026-02-05T10:00Z", v2);
	expect_point(json_object_get(soc, "latest"), 4, "2026-02-05T10:00Z", v2);
	assert_int_equal(num(soc, "change"), 0);
	assert_int_equal(num(domain(p, 0), "change"), 1);
	json_decref(p);
	free(v1);
	free(v2);
}

static void test_progress__visits_without_scores_skipped(void **state)
{
	struct fx *f = *state;
	char *none = visit(f->s, f->client, "\"started\":\"2026-01-01T10:00Z\"");
	char *empty = visit(f->s, f->client, "\"started\":\"2026-01-02T10:00Z\",\"scores\":{}");
	json_t *p = progress(f->s, f->client, NULL);
	/* A client without scores has an empty progress, not an error. */
	assert_int_equal(json_array_size(json_object_get(p, "visits")), 0);
	assert_int_equal(json_array_size(json_object_get(p, "domains")), 0);
	assert_string_equal(str(p, "zrm_version"), "2017");
	json_decref(p);

	char *scored = visit(f->s, f->client, "\"started\":\"2026-01-03T10:00Z\","
	                     "\"scores\":{\"huisvesting\":3}");
	p = progress(f->s, f->client, NULL);
	assert_int_equal(json_array_size(json_object_get(p, "visits")), 1);
	assert_int_equal(json_array_size(json_object_get(domain(p, 0), "series")), 1);
	expect_point(json_object_get(domain(p, 0), "first"), 3, "2026-01-03T10:00Z", scored);
	json_decref(p);
	free(none);
	free(empty);
	free(scored);
}

static void test_progress__client_by_prefix(void **state)
{
	struct fx *f = *state;
	char prefix[9];
	free(visit(f->s, f->client, "\"started\":\"2026-01-03T10:00Z\",\"scores\":{\"financien\":3}"));
	snprintf(prefix, sizeof prefix, "%.8s", f->client);
	json_t *p = progress(f->s, prefix, NULL);
	assert_string_equal(str(p, "client"), f->client);
	json_decref(p);
}

/* A refused id: the code, no answer, and a message without the id. */
static void expect_refused(veld_store *s, const char *id, int code)
{
	char *out = (char *)0x1;
	assert_int_equal(veld_client_progress(s, id, NULL, &out), code);
	assert_null(out);
	if (id && *id && strstr(veld_error_last(), id))
		fail_msg("the message '%s' repeats the id", veld_error_last());
}

static void test_progress__unknown_client_refused(void **state)
{
	struct fx *f = *state;
	char *v = visit(f->s, f->client, "\"started\":\"2026-01-03T10:00Z\",\"scores\":{\"financien\":3}");
	json_t *before = audit_entries(f->s), *after;
	expect_refused(f->s, "ffffffffffffffffffffffffffffffff", VELD_ENOTFOUND);
	expect_refused(f->s, "0612345678", VELD_ENOTFOUND); /* a phone number is hex too */
	expect_refused(f->s, v, VELD_ENOTFOUND);            /* a visit is not a client */
	expect_refused(f->s, "Jan de Vries", VELD_EINVAL);
	expect_refused(f->s, "abc", VELD_EINVAL);
	expect_refused(f->s, NULL, VELD_EINVAL);
	assert_int_equal(veld_client_progress(f->s, f->client, NULL, NULL), VELD_EINVAL);
	/* Nothing was read, so nothing is logged. */
	after = audit_entries(f->s);
	assert_int_equal(json_array_size(after), json_array_size(before));
	json_decref(before);
	json_decref(after);
	free(v);
}

static void test_progress__erased_client_refused(void **state)
{
	struct fx *f = *state;
	free(visit(f->s, f->client, "\"started\":\"2026-01-03T10:00Z\",\"scores\":{\"financien\":3}"));
	ok(veld_client_erase(f->s, f->client, NULL));
	expect_refused(f->s, f->client, VELD_ESHREDDED);
}

/* The entries the log gained since it held `n0`, as "event outcome
 * client purpose" lines. */
static char *log_tail(veld_store *s, size_t n0)
{
	json_t *log = audit_entries(s);
	char *out = calloc(1, 4096);
	size_t len = 0;
	for (size_t i = n0; i < json_array_size(log); i++) {
		json_t *e = json_array_get(log, i);
		len += (size_t)snprintf(out + len, 4096 - len, "%s %s %s %s\n", str(e, "event"),
		                        str(e, "outcome"), str(e, "client"), str(e, "purpose"));
	}
	json_decref(log);
	return out;
}

static size_t log_size(veld_store *s)
{
	json_t *log = audit_entries(s);
	size_t n = json_array_size(log);
	json_decref(log);
	return n;
}

static void test_progress__access_log_as_listing_visits(void **state)
{
	struct fx *f = *state;
	char filter[128], *out = NULL, *by_list, *by_progress;
	size_t n0;
	free(visit(f->s, f->client, "\"started\":\"2026-01-03T10:00Z\",\"scores\":{\"financien\":3}"));
	free(visit(f->s, f->client, "\"started\":\"2026-02-03T10:00Z\",\"scores\":{\"financien\":4}"));
	snprintf(filter, sizeof filter, "{\"client\":\"%s\"}", f->client);

	n0 = log_size(f->s);
	ok(veld_record_list(f->s, "visit", filter, "weekly review", &out));
	veld_free(out);
	by_list = log_tail(f->s, n0);
	n0 = log_size(f->s);
	json_decref(progress(f->s, f->client, "weekly review"));
	by_progress = log_tail(f->s, n0);

	/* One read of the client, with the purpose given. */
	char want[256];
	snprintf(want, sizeof want, "read success %s weekly review\n", f->client);
	assert_string_equal(by_list, want);
	assert_string_equal(by_progress, by_list);
	free(by_list);
	free(by_progress);
}

static void test_progress__other_team_needs_break_the_glass(void **state)
{
	struct fx *f = *state;
	char *other, *out = (char *)0x1, *tail, want[256];
	size_t n0;
	/* Only an office store may create another team's client (pretend). */
	f->s->office = 1;
	other = create(f->s, "client", "{\"name\":\"Zuid client\",\"team\":\"zuid\"}");
	free(visit(f->s, other, "\"started\":\"2026-01-03T10:00Z\",\"scores\":{\"financien\":3}"));
	f->s->office = 0;

	n0 = log_size(f->s);
	assert_int_equal(veld_client_progress(f->s, other, NULL, &out), VELD_EPERM);
	assert_null(out);
	tail = log_tail(f->s, n0);
	snprintf(want, sizeof want, "read denied %s care\n", other);
	assert_string_equal(tail, want);
	free(tail);

	n0 = log_size(f->s);
	json_t *p = progress(f->s, other, "break-glass: crisis call, contact person absent");
	assert_int_equal(json_array_size(json_object_get(p, "domains")), 1);
	json_decref(p);
	tail = log_tail(f->s, n0);
	snprintf(want, sizeof want, "break-glass success %s break-glass: crisis call, contact "
	         "person absent\n", other);
	assert_string_equal(tail, want);
	free(tail);
	free(other);
}

#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_progress__series_oldest_first_per_domain),
		T(test_progress__same_time_ordered_by_visit_id),
		T(test_progress__domains_in_order_of_latest_version),
		T(test_progress__domain_scored_once_has_change_zero),
		T(test_progress__visits_without_scores_skipped),
		T(test_progress__client_by_prefix),
		T(test_progress__unknown_client_refused),
		T(test_progress__erased_client_refused),
		T(test_progress__access_log_as_listing_visits),
		T(test_progress__other_team_needs_break_the_glass),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
