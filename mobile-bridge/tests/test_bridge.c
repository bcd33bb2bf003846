/* test_bridge.c - the bridge's contract (veld_bridge.h), call by call:
 * versions and constants, strings and requests, errors, ownership, lock
 * and auto-lock, records of every kind, scores, conflicts and the access
 * log. Threads are in test_bridge_threads.c, Java in java/test. */
#define _GNU_SOURCE
#include "bridge_helpers.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static const char note_text[] = "\xF0\x9F\x98\x80 U+1F600 na\xC3\xAFve caf\xC3\xA9 \xE2\x82\xAC";

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Each test gets a directory and a session in it. */
struct fx {
	char *dir;
	char *store;
	veld_session *s;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	f->dir = tmpdir_make();
	if (asprintf(&f->store, "%s/store", f->dir) < 0)
		return -1;
	f->s = session_at(f->store, 1);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	veld_session_close(f->s);
	rm_rf(f->dir);
	free(f->store);
	free(f->dir);
	free(f);
	return 0;
}

static char *make_client(veld_session *s)
{
	char *r = jok(veld_session_record_create, s,
		"{\"type\":\"client\",\"fields\":{\"name\":\"Jan de Vries\",\"address\":\"Kerkstraat 1\"}}");
	char *id = jstr(r, "id");
	free(r);
	assert_non_null(id);
	return id;
}

/* ---- versions and constants ------------------------------------------------ */

static void test_bridge__abi_version_matches_header(void **state)
{
	(void)state;
	assert_int_equal(veld_bridge_abi_version(), VELD_BRIDGE_ABI_VERSION);
	ok(VELD_BRIDGE_ABI_CHECK());
	assert_int_equal(veld_bridge_error_code(), VELD_OK);
}

static void test_bridge__abi_check_refuses_other_major_and_newer_minor(void **state)
{
	uint32_t v = veld_bridge_abi_version();
	(void)state;
	assert_int_equal(veld_bridge_abi_check(v + (1u << 16)), VELD_EINVAL);
	assert_non_null(strstr((const char *)veld_bridge_error_message(NULL), "ABI"));
	assert_int_equal(veld_bridge_abi_check(v + (1u << 8)), VELD_EINVAL);
	if (v >= (1u << 16))
		assert_int_equal(veld_bridge_abi_check(v - (1u << 16)), VELD_EINVAL);
}

static void test_bridge__constants_by_name(void **state)
{
	int64_t v = 0;
	(void)state;
	ok(veld_bridge_constant(U8("VELD_EAUTH"), 10, &v));
	assert_int_equal(v, VELD_EAUTH);
	ok(veld_bridge_constant(U8("VELD_ECANCELLED"), 15, &v));
	assert_int_equal(v, VELD_ECANCELLED);
	ok(veld_bridge_constant(U8("VELD_PHASE_PULL"), 15, &v));
	assert_int_equal(v, VELD_PHASE_PULL);
	ok(veld_bridge_constant(U8("VELD_BRIDGE_ABI_VERSION"), 23, &v));
	assert_int_equal(v, VELD_BRIDGE_ABI_VERSION);
	ok(veld_bridge_constant(U8("VELD_BRIDGE_KEY_BYTES"), 21, &v));
	assert_int_equal(v, 32);
	/* The name has an explicit length: what follows it does not count. */
	ok(veld_bridge_constant(U8("VELD_EPERMxyz"), 10, &v));
	assert_int_equal(v, VELD_EPERM);
	assert_int_equal(veld_bridge_constant(U8("VELD_EAUTHX"), 11, &v), VELD_ENOTFOUND);
	assert_int_equal(veld_bridge_constant(U8("VELD_EAUT"), 9, &v), VELD_ENOTFOUND);
	assert_string_equal(veld_bridge_code_name(VELD_EAUTH), "VELD_EAUTH");
	assert_string_equal(veld_bridge_code_name(-999), "VELD_EUNKNOWN");
	assert_string_equal(veld_bridge_code_description(VELD_EAUTH), "wrong passphrase or key");
}

/* ---- opening ------------------------------------------------------------------ */

static void test_bridge__wrong_passphrase_is_eauth(void **state)
{
	struct fx *f = *state;
	veld_session *s = (veld_session *)&s;
	veld_session_close(f->s);
	f->s = NULL;
	assert_int_equal(veld_session_open(&s, U8(f->store), strlen(f->store), U8("wrong"), 5,
		NULL, 0), VELD_EAUTH);
	assert_null(s);
	assert_int_equal(veld_bridge_error_code(), VELD_EAUTH);
	assert_true(strlen((const char *)veld_bridge_error_message(NULL)) > 0);
	f->s = session_at(f->store, 0);
}

static void test_bridge__open_missing_store_is_enotfound(void **state)
{
	struct fx *f = *state;
	veld_session *s = NULL;
	char *path;
	assert_true(asprintf(&path, "%s/none", f->dir) > 0);
	assert_int_equal(veld_session_open(&s, U8(path), strlen(path), U8(TEST_PASS),
		strlen(TEST_PASS), NULL, 0), VELD_ENOTFOUND);
	assert_null(s);
	free(path);
}

static void test_bridge__create_twice_is_eexists(void **state)
{
	struct fx *f = *state;
	veld_session *s = NULL;
	assert_int_equal(veld_session_create(&s, U8(f->store), strlen(f->store), U8(TEST_PASS),
		strlen(TEST_PASS), U8(TEST_OPTS), strlen(TEST_OPTS)), VELD_EEXISTS);
	assert_null(s);
}

static void test_bridge__options_checked(void **state)
{
	struct fx *f = *state;
	veld_session *s = NULL;
	char *path;
	assert_true(asprintf(&path, "%s/opts", f->dir) > 0);
	assert_int_equal(veld_session_create(&s, U8(path), strlen(path), U8(TEST_PASS),
		strlen(TEST_PASS), U8("{\"usr\":\"anna\"}"), 14), VELD_EINVAL);
	assert_non_null(strstr((const char *)veld_bridge_error_message(NULL), "\"usr\""));
	assert_int_equal(veld_session_create(&s, U8(path), strlen(path), U8(TEST_PASS),
		strlen(TEST_PASS), U8("{\"kdf_memory_mib\":1}"), 20), VELD_EINVAL);
	assert_int_equal(veld_session_create(&s, U8(path), strlen(path), U8(TEST_PASS),
		strlen(TEST_PASS), U8("[]"), 2), VELD_EINVAL);
	assert_int_equal(veld_session_create(&s, U8(path), strlen(path), NULL, 0, NULL, 0),
		VELD_EINVAL);
	assert_int_equal(veld_session_create(NULL, U8(path), strlen(path), U8(TEST_PASS),
		strlen(TEST_PASS), NULL, 0), VELD_EINVAL);
	assert_null(s);
	free(path);
}

static void test_bridge__store_made_with_a_key(void **state)
{
	struct fx *f = *state;
	uint8_t key[32], other[32];
	veld_session *s = NULL;
	char *path;
	memset(key, 0x42, sizeof key);
	memset(other, 0x43, sizeof other);
	assert_true(asprintf(&path, "%s/keyed", f->dir) > 0);
	assert_int_equal(veld_session_create_with_key(&s, U8(path), strlen(path), key, 31, NULL, 0),
		VELD_EINVAL);
	ok(veld_session_create_with_key(&s, U8(path), strlen(path), key, 32, U8(TEST_OPTS),
		strlen(TEST_OPTS)));
	free(make_client(s));
	ok(veld_session_lock(s));
	assert_int_equal(veld_session_unlock_with_key(s, other, 32), VELD_EAUTH);
	ok(veld_session_unlock_with_key(s, key, 32));
	veld_session_close(s);
	s = NULL;
	assert_int_equal(veld_session_open_with_key(&s, U8(path), strlen(path), other, 32, NULL, 0),
		VELD_EAUTH);
	ok(veld_session_open_with_key(&s, U8(path), strlen(path), key, 32, NULL, 0));
	veld_session_close(s);
	free(path);
}

/* ---- strings and requests -------------------------------------------------------- */

static void test_bridge__directory_with_nul_or_bad_utf8_refused(void **state)
{
	struct fx *f = *state;
	veld_session *s = NULL;
	char path[512];
	size_t n = (size_t)snprintf(path, sizeof path, "%s/a", f->dir);
	path[n - 1] = '\0'; /* ".../\0" with the NUL inside the length */
	assert_int_equal(veld_session_create(&s, U8(path), n, U8(TEST_PASS), strlen(TEST_PASS),
		NULL, 0), VELD_EINVAL);
	n = (size_t)snprintf(path, sizeof path, "%s/\xff", f->dir);
	assert_int_equal(veld_session_create(&s, U8(path), n, U8(TEST_PASS), strlen(TEST_PASS),
		NULL, 0), VELD_EINVAL);
	n = (size_t)snprintf(path, sizeof path, "%s/\xC0\xAF", f->dir); /* overlong "/" */
	assert_int_equal(veld_session_create(&s, U8(path), n, U8(TEST_PASS), strlen(TEST_PASS),
		NULL, 0), VELD_EINVAL);
	assert_null(s);
}

static void test_bridge__requests_need_valid_utf8_json_objects(void **state)
{
	struct fx *f = *state;
	static const char *const bad[] = {
		"{\"type\":\"client\",\"fields\":{\"name\":\"\xED\xA0\x80\"}}", /* a surrogate */
		"{\"type\":\"client\",\"fields\":{\"name\":\"\xF4\x90\x80\x80\"}}", /* > U+10FFFF */
		"{\"type\":\"client\",\"fields\":{\"name\":\"\xF0\x9F\x98\"}}", /* cut short */
		"{\"type\":\"client\",\"fields\":{\"name\":\"a\\u0000b\"}}", /* an escaped NUL */
		"[\"client\"]",
		"{\"type\":\"client\"",
		"{\"type\":\"client\",\"type\":\"visit\",\"fields\":{}}",
		"{\"type\":\"client\",\"fields\":{\"name\":\"x\"},\"extra\":1}",
		"{\"type\":\"client\",\"fields\":\"name\"}",
		"{\"fields\":{\"name\":\"x\"}}",
	};
	int32_t rc;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *r = jcall(veld_session_record_create, f->s, bad[i], &rc);
		if (rc != VELD_EINVAL)
			fail_msg("request %zu -> %s, not VELD_EINVAL", i, veld_bridge_code_name(rc));
		assert_null(r);
	}
	/* A raw NUL inside the length. */
	static const char with_nul[] = "{\"type\":\"client\",\"fields\":{\"name\":\"a\0b\"}}";
	veld_buf *b = NULL;
	assert_int_equal(veld_session_record_create(f->s, U8(with_nul), sizeof with_nul - 1, &b),
		VELD_EINVAL);
	assert_null(b);
	assert_int_equal(veld_session_record_create(f->s, NULL, 5, &b), VELD_EINVAL);
	/* The message names the unknown key, not any value. */
	jcall(veld_session_record_create, f->s,
		"{\"type\":\"client\",\"fields\":{\"name\":\"Secret Name\"},\"extra\":1}", &rc);
	assert_non_null(strstr((const char *)veld_bridge_error_message(NULL), "\"extra\""));
	assert_null(strstr((const char *)veld_bridge_error_message(NULL), "Secret"));
}

static void test_bridge__four_byte_characters_round_trip(void **state)
{
	struct fx *f = *state;
	char *client = make_client(f->s), req[512], *r, *id;
	json_fn get = veld_session_record_get;
	snprintf(req, sizeof req, "{\"type\":\"note\",\"fields\":{\"client\":\"%s\",\"text\":\"%s\"}}",
		client, note_text);
	r = jok(veld_session_record_create, f->s, req);
	id = jstr(r, "id");
	free(r);
	snprintf(req, sizeof req, "{\"type\":\"note\",\"id\":\"%s\"}", id);
	r = jok(get, f->s, req);
	/* Raw UTF-8 out, byte for byte, not \u escapes. */
	char *text = jstr(r, "text");
	assert_memory_equal(text, note_text, sizeof note_text);
	assert_non_null(strstr(r, note_text));
	free(text);
	free(r);
	free(id);
	free(client);
}

/* ---- results and ownership ---------------------------------------------------------- */

static void test_bridge__buffer_outlives_its_session(void **state)
{
	struct fx *f = *state;
	veld_buf *b = NULL;
	free(make_client(f->s));
	ok(veld_session_record_list(f->s, U8("{\"type\":\"client\"}"), 17, &b));
	veld_session_close(f->s);
	f->s = NULL;
	assert_non_null(strstr((const char *)veld_buf_data(b), "Jan de Vries"));
	assert_int_equal(veld_buf_len(b), strlen((const char *)veld_buf_data(b)));
	veld_buf_free(b);
	veld_buf_free(NULL);
	veld_session_close(NULL);
	assert_null(veld_buf_data(NULL));
	assert_int_equal(veld_buf_len(NULL), 0);
	f->s = session_at(f->store, 0);
}

static void test_bridge__result_is_optional(void **state)
{
	struct fx *f = *state;
	static const char req[] = "{\"type\":\"client\",\"fields\":{\"name\":\"A\"}}";
	ok(veld_session_record_create(f->s, U8(req), strlen(req), NULL));
	ok(veld_session_info(f->s, NULL, 0, NULL));
}

static void test_bridge__calls_on_null_session_fail_cleanly(void **state)
{
	veld_buf *b = (veld_buf *)&b;
	(void)state;
	assert_int_equal(veld_session_info(NULL, NULL, 0, &b), VELD_EINVAL);
	assert_null(b);
	assert_int_equal(veld_session_lock(NULL), VELD_EINVAL);
	assert_int_equal(veld_session_tick(NULL), VELD_EINVAL);
	assert_true(veld_session_is_locked(NULL) < 0);
	assert_int_equal(veld_session_sync(NULL, NULL, 0, NULL, &b, NULL), VELD_EINVAL);
	veld_session_cancel(NULL);
}

/* ---- records --------------------------------------------------------------------------- */

static void test_bridge__every_record_kind_created_and_read(void **state)
{
	struct fx *f = *state;
	char *client = make_client(f->s), req[1024], *r, *id;
	static const char *const kinds[] = {"visit", "note", "goal", "signal"};
	const char *fields[4] = {
		"\"kind\":\"home_visit\",\"started\":\"2026-11-20T10:00Z\",\"scores\":{\"financien\":2}",
		"\"text\":\"Huur betaald\",\"tags\":[\"financien\"]",
		"\"domain\":\"huisvesting\",\"description\":\"Eigen huurcontract\"",
		"\"kind\":\"rent_arrears\",\"severity\":\"high\"",
	};
	for (size_t i = 0; i < 4; i++) {
		snprintf(req, sizeof req, "{\"type\":\"%s\",\"fields\":{\"client\":\"%s\",%s}}",
			kinds[i], client, fields[i]);
		r = jok(veld_session_record_create, f->s, req);
		id = jstr(r, "id");
		free(r);
		snprintf(req, sizeof req, "{\"type\":\"%s\",\"id\":\"%.8s\",\"purpose\":\"care\"}",
			kinds[i], id);
		r = jok(veld_session_record_get, f->s, req);
		assert_non_null(strstr(r, id));
		assert_non_null(strstr(r, kinds[i]));
		free(r);
		snprintf(req, sizeof req, "{\"type\":\"%s\",\"filter\":{\"client\":\"%s\"}}", kinds[i],
			client);
		r = jok(veld_session_record_list, f->s, req);
		assert_int_equal(count_of(r, "\"id\""), 1);
		free(r);
		free(id);
	}
	free(client);
}

static void test_bridge__update_delete_and_append_only_notes(void **state)
{
	struct fx *f = *state;
	char *client = make_client(f->s), req[512], *r, *goal, *note;
	int32_t rc;
	snprintf(req, sizeof req, "{\"type\":\"goal\",\"fields\":{\"client\":\"%s\",\"domain\":"
		"\"financien\",\"description\":\"Schulden op orde\"}}", client);
	r = jok(veld_session_record_create, f->s, req);
	goal = jstr(r, "id");
	free(r);
	snprintf(req, sizeof req, "{\"type\":\"goal\",\"id\":\"%s\",\"fields\":{\"status\":"
		"\"achieved\"}}", goal);
	r = jok(veld_session_record_update, f->s, req);
	assert_non_null(strstr(r, "\"achieved\""));
	free(r);
	snprintf(req, sizeof req, "{\"type\":\"goal\",\"id\":\"%s\"}", goal);
	r = jok(veld_session_record_delete, f->s, req);
	assert_non_null(strstr(r, "\"deleted\":true"));
	free(r);
	assert_null(jcall(veld_session_record_get, f->s, req, &rc));
	assert_int_equal(rc, VELD_ENOTFOUND);

	snprintf(req, sizeof req, "{\"type\":\"note\",\"fields\":{\"client\":\"%s\",\"text\":"
		"\"Eerste\"}}", client);
	r = jok(veld_session_record_create, f->s, req);
	note = jstr(r, "id");
	free(r);
	snprintf(req, sizeof req, "{\"type\":\"note\",\"id\":\"%s\",\"fields\":{\"text\":\"x\"}}",
		note);
	assert_null(jcall(veld_session_record_update, f->s, req, &rc));
	assert_int_equal(rc, VELD_EPERM);
	free(note);
	free(goal);
	free(client);
}

static void test_bridge__scores_by_visit_time(void **state)
{
	struct fx *f = *state;
	char *client = make_client(f->s), req[512], *r;
	/* Recorded out of order; the zone counts: 09:30+01:00 is 08:30 UTC. */
	static const char *const visits[] = {
		"\"started\":\"2026-11-20T10:00Z\",\"scores\":{\"financien\":3,\"huisvesting\":4}",
		"\"started\":\"2026-11-20T09:30+01:00\",\"scores\":{\"financien\":1}",
		"\"planned\":\"2026-11-21T08:00Z\",\"scores\":{\"financien\":4}",
		"\"started\":\"2026-11-22T08:00Z\"",
	};
	for (size_t i = 0; i < 4; i++) {
		snprintf(req, sizeof req, "{\"type\":\"visit\",\"fields\":{\"client\":\"%s\",\"kind\":"
			"\"home_visit\",%s}}", client, visits[i]);
		free(jok(veld_session_record_create, f->s, req));
	}
	snprintf(req, sizeof req, "{\"client\":\"%.6s\"}", client);
	r = jok(veld_session_scores, f->s, req);
	json_t *j = json_loads(r, 0, NULL);
	json_t *h = json_object_get(j, "history");
	assert_string_equal(json_string_value(json_object_get(j, "client")), client);
	assert_int_equal(json_array_size(h), 3); /* the visit without scores is left out */
	assert_string_equal(json_string_value(json_object_get(json_array_get(h, 0), "at")),
		"2026-11-20T09:30+01:00");
	assert_string_equal(json_string_value(json_object_get(json_array_get(h, 2), "at")),
		"2026-11-21T08:00Z");
	/* Each visit with every score it gave. */
	json_t *sc = json_object_get(json_array_get(h, 1), "scores");
	assert_int_equal(json_object_size(sc), 2);
	assert_int_equal(json_integer_value(json_object_get(sc, "financien")), 3);
	assert_int_equal(json_integer_value(json_object_get(sc, "huisvesting")), 4);
	assert_string_equal(json_string_value(json_object_get(json_array_get(h, 1), "zrm_version")),
		"2017");
	json_t *latest = json_object_get(j, "latest");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(latest, "financien"),
		"score")), 4);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(latest, "huisvesting"),
		"score")), 4);
	json_decref(j);
	free(r);
	int32_t rc;
	assert_null(jcall(veld_session_scores, f->s, "{\"client\":\"ffffffff\"}", &rc));
	assert_int_equal(rc, VELD_ENOTFOUND);
	free(client);
}

/* The same scores per life domain, for an app's chart; scores (above) is
 * this regrouped by visit. */
static void test_bridge__client_progress_for_a_chart(void **state)
{
	struct fx *f = *state;
	char *client = make_client(f->s), req[512], *r;
	int32_t rc;
	static const char *const visits[] = {
		"\"started\":\"2026-11-20T10:00Z\",\"scores\":{\"huisvesting\":4,\"financien\":3}",
		"\"started\":\"2026-11-20T09:30+01:00\",\"scores\":{\"financien\":1}",
		"\"planned\":\"2026-11-21T08:00Z\",\"scores\":{\"financien\":4}",
		"\"started\":\"2026-11-22T08:00Z\"",
	};
	for (size_t i = 0; i < 4; i++) {
		snprintf(req, sizeof req, "{\"type\":\"visit\",\"fields\":{\"client\":\"%s\",\"kind\":"
			"\"home_visit\",%s}}", client, visits[i]);
		free(jok(veld_session_record_create, f->s, req));
	}
	snprintf(req, sizeof req, "{\"client\":\"%.6s\",\"purpose\":\"care\"}", client);
	r = jok(veld_session_client_progress, f->s, req);
	json_t *j = json_loads(r, 0, NULL);
	json_t *doms = json_object_get(j, "domains"), *fin = json_array_get(doms, 0);
	assert_string_equal(json_string_value(json_object_get(j, "client")), client);
	assert_int_equal(json_array_size(json_object_get(j, "visits")), 3);
	assert_int_equal(json_array_size(doms), 2);
	assert_string_equal(json_string_value(json_object_get(fin, "code")), "financien");
	assert_string_equal(json_string_value(json_object_get(fin, "label")), "Financien");
	assert_int_equal(json_integer_value(json_object_get(fin, "change")), 3);
	json_t *series = json_object_get(fin, "series");
	static const json_int_t want[] = {1, 3, 4}; /* by time, not as recorded */
	assert_int_equal(json_array_size(series), 3);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(json_integer_value(json_object_get(json_array_get(series, i), "score")),
			want[i]);
	json_t *hui = json_array_get(doms, 1);
	assert_string_equal(json_string_value(json_object_get(hui, "code")), "huisvesting");
	assert_int_equal(json_integer_value(json_object_get(hui, "change")), 0);
	json_decref(j);
	free(r);
	assert_null(jcall(veld_session_client_progress, f->s, "{\"client\":\"ffffffff\"}", &rc));
	assert_int_equal(rc, VELD_ENOTFOUND);
	assert_null(jcall(veld_session_client_progress, f->s, "{}", &rc));
	assert_int_equal(rc, VELD_EINVAL);
	free(client);
}

/* What is due for the session's worker (user anna): her clients only,
 * unless "all"; the keys' types and ranges are checked before the store. */
static void test_bridge__due_for_the_workers_clients(void **state)
{
	struct fx *f = *state;
	char req[512], *r, *own, *other;
	int32_t rc;
	r = jok(veld_session_record_create, f->s, "{\"type\":\"client\",\"fields\":"
		"{\"name\":\"Jan de Vries\",\"contact_person\":\"anna\"}}");
	own = jstr(r, "id");
	free(r);
	r = jok(veld_session_record_create, f->s, "{\"type\":\"client\",\"fields\":"
		"{\"name\":\"Piet Jansen\",\"contact_person\":\"bert\"}}");
	other = jstr(r, "id");
	free(r);
	const char *clients[] = {own, other};
	for (size_t i = 0; i < 2; i++) {
		snprintf(req, sizeof req, "{\"type\":\"goal\",\"fields\":{\"client\":\"%s\","
			"\"domain\":\"financien\",\"description\":\"Rent\",\"review_date\":"
			"\"2026-11-30\"}}", clients[i]);
		free(jok(veld_session_record_create, f->s, req));
	}
	r = jok(veld_session_due, f->s, "{\"today\":\"2026-11-22\",\"days\":8,"
		"\"purpose\":\"care\",\"team\":null}");
	json_t *j = json_loads(r, 0, NULL), *items = json_object_get(j, "items");
	assert_string_equal(json_string_value(json_object_get(j, "today")), "2026-11-22");
	assert_int_equal(json_integer_value(json_object_get(j, "clients")), 1);
	assert_int_equal(json_array_size(items), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "client")),
		own);
	assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "kind")),
		"goal_review");
	json_decref(j);
	free(r);
	/* One day less: the review is out of the window. */
	r = jok(veld_session_due, f->s, "{\"today\":\"2026-11-22\",\"days\":7}");
	assert_int_equal(count_of(r, "goal_review"), 0);
	free(r);
	r = jok(veld_session_due, f->s, "{\"today\":\"2026-11-22\",\"all\":true,"
		"\"by_worker\":true}");
	assert_int_equal(count_of(r, "goal_review"), 4); /* in items and by_worker */
	assert_int_equal(count_of(r, "\"worker\":\"bert\""), 1);
	free(r);
	static const char *const bad[] = {
		"{\"days\":367}", "{\"days\":\"7\"}", "{\"all\":null}", "{\"today\":\"\"}",
		"{\"day\":7}", "{\"today\":\"2026-02-30\"}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_null(jcall(veld_session_due, f->s, bad[i], &rc));
		assert_int_equal(rc, VELD_EINVAL);
	}
	assert_null(jcall(veld_session_due, f->s, "{\"team\":\"zuid\"}", &rc));
	assert_int_equal(rc, VELD_EPERM);
	free(own);
	free(other);
}

static void test_bridge__conflicts_access_log_info_schema(void **state)
{
	struct fx *f = *state;
	char *client = make_client(f->s), req[256], *r;
	int32_t rc;
	r = jok(veld_session_conflicts_list, f->s, NULL);
	assert_string_equal(r, "[]");
	free(r);
	snprintf(req, sizeof req, "{\"type\":\"client\",\"id\":\"%s\",\"field\":\"phone\","
		"\"value\":\"0612345678\"}", client);
	r = jok(veld_session_conflict_resolve, f->s, req);
	assert_non_null(strstr(r, "\"resolved\":true"));
	free(r);
	snprintf(req, sizeof req, "{\"client\":\"%s\",\"limit\":2}", client);
	r = jok(veld_session_audit_list, f->s, req);
	assert_int_equal(count_of(r, "\"event\""), 2);
	free(r);
	assert_null(jcall(veld_session_audit_list, f->s, "{\"limit\":0}", &rc));
	assert_int_equal(rc, VELD_EINVAL);
	r = jok(veld_session_audit_verify, f->s, "{}");
	assert_non_null(strstr(r, "\"ok\":true"));
	free(r);
	r = jok(veld_session_info, f->s, NULL);
	assert_non_null(strstr(r, "\"noord\""));
	free(r);
	r = jok(veld_session_schema, f->s, NULL);
	assert_non_null(strstr(r, "\"financien\""));
	free(r);
	assert_null(jcall(veld_session_info, f->s, "{\"x\":1}", &rc));
	assert_int_equal(rc, VELD_EINVAL);
	free(client);
}

/* ---- locking ------------------------------------------------------------------------------ */

static void test_bridge__lock_wipes_until_unlock(void **state)
{
	struct fx *f = *state;
	int32_t rc;
	free(make_client(f->s));
	assert_int_equal(veld_session_is_locked(f->s), 0);
	ok(veld_session_lock(f->s));
	assert_int_equal(veld_session_is_locked(f->s), 1);
	assert_int_equal(veld_bridge_error_code(), VELD_OK); /* locked is an answer */
	assert_null(jcall(veld_session_record_list, f->s, "{\"type\":\"client\"}", &rc));
	assert_int_equal(rc, VELD_ELOCKED);
	assert_int_equal(veld_session_tick(f->s), VELD_ELOCKED);
	/* info and schema hold no personal data: a lock screen may show them. */
	char *r = jok(veld_session_info, f->s, NULL);
	assert_non_null(strstr(r, "\"locked\":true"));
	free(r);
	free(jok(veld_session_schema, f->s, NULL));
	assert_int_equal(veld_session_unlock(f->s, U8("wrong passphrase"), 16), VELD_EAUTH);
	assert_int_equal(veld_session_is_locked(f->s), 1);
	ok(veld_session_unlock(f->s, U8(TEST_PASS), strlen(TEST_PASS)));
	assert_int_equal(veld_session_is_locked(f->s), 0);
	free(jok(veld_session_record_list, f->s, "{\"type\":\"client\"}"));
}

static void test_bridge__autolock_after_idle_time(void **state)
{
	struct fx *f = *state;
	int32_t rc;
	ok(veld_session_set_autolock(f->s, 1));
	/* Use within the limit keeps it open. */
	for (int i = 0; i < 3; i++) {
		sleep_ms(400);
		free(jok(veld_session_conflicts_list, f->s, NULL));
	}
	assert_int_equal(veld_session_tick(f->s), VELD_OK);
	/* tick and is_locked do not count as use. */
	sleep_ms(600);
	assert_int_equal(veld_session_is_locked(f->s), 0);
	sleep_ms(500);
	assert_int_equal(veld_session_tick(f->s), VELD_ELOCKED);
	assert_int_equal(veld_session_is_locked(f->s), 1);
	ok(veld_session_unlock(f->s, U8(TEST_PASS), strlen(TEST_PASS)));
	free(jok(veld_session_conflicts_list, f->s, NULL));
	/* A call after the limit locks first and fails. */
	sleep_ms(1100);
	assert_null(jcall(veld_session_conflicts_list, f->s, NULL, &rc));
	assert_int_equal(rc, VELD_ELOCKED);
	assert_non_null(strstr((const char *)veld_bridge_error_message(NULL), "without use"));
	ok(veld_session_unlock(f->s, U8(TEST_PASS), strlen(TEST_PASS)));
	ok(veld_session_set_autolock(f->s, 0));
	sleep_ms(1100);
	assert_int_equal(veld_session_tick(f->s), VELD_OK);
}

static void test_bridge__autolock_from_open_options(void **state)
{
	struct fx *f = *state;
	static const char opts[] = "{\"autolock_seconds\":1}";
	veld_session_close(f->s);
	f->s = NULL;
	ok(veld_session_open(&f->s, U8(f->store), strlen(f->store), U8(TEST_PASS), strlen(TEST_PASS),
		U8(opts), strlen(opts)));
	sleep_ms(1100);
	assert_int_equal(veld_session_is_locked(f->s), 1);
}

static void test_bridge__change_passphrase(void **state)
{
	struct fx *f = *state;
	veld_session *s = NULL;
	assert_int_equal(veld_session_change_passphrase(f->s, U8(TEST_PASS), strlen(TEST_PASS),
		U8("short"), 5), VELD_EINVAL);
	assert_int_equal(veld_session_change_passphrase(f->s, U8("not it at all"), 13,
		U8("a new passphrase"), 16), VELD_EAUTH);
	ok(veld_session_change_passphrase(f->s, U8(TEST_PASS), strlen(TEST_PASS),
		U8("a new passphrase"), 16));
	veld_session_close(f->s);
	f->s = NULL;
	assert_int_equal(veld_session_open(&s, U8(f->store), strlen(f->store), U8(TEST_PASS),
		strlen(TEST_PASS), NULL, 0), VELD_EAUTH);
	ok(veld_session_open(&f->s, U8(f->store), strlen(f->store), U8("a new passphrase"), 16,
		NULL, 0));
}

/* ---- sync without a server ------------------------------------------------------------------ */

static int32_t never_called(const veld_progress *p, void *payload)
{
	(void)p;
	(*(int *)payload)++;
	return 0;
}

static void test_bridge__sync_before_enroll_is_enotfound_without_callback(void **state)
{
	struct fx *f = *state;
	veld_buf *b = NULL;
	int calls = 0;
	assert_int_equal(veld_session_sync(f->s, NULL, 0, never_called, &b, &calls), VELD_ENOTFOUND);
	assert_null(b);
	assert_int_equal(calls, 0);
	assert_int_equal(veld_session_sync(f->s, U8("{\"timeout_ms\":0}"), 16, never_called, &b,
		&calls), VELD_EINVAL);
	assert_int_equal(veld_session_enroll(f->s, U8("{\"url\":\"http://127.0.0.1:1\"}"), 29, &b),
		VELD_EINVAL); /* no code */
	assert_int_equal(calls, 0);
	veld_session_cancel(f->s); /* nothing running: no effect */
	free(jok(veld_session_info, f->s, NULL));
}

/* "max_retries": 0 asks for none: an enrollment against a port where nothing
 * listens fails at once (five retries with backoff would take 15 s). */
static void test_bridge__max_retries_zero_is_no_retries(void **state)
{
	struct fx *f = *state;
	const char *req = "{\"url\":\"http://127.0.0.1:1\",\"max_retries\":0,"
	                  "\"code\":\"AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA\"}";
	veld_buf *b = NULL;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(veld_session_enroll(f->s, U8(req), strlen(req), &b), VELD_ENET);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 3);
	assert_null(b);
}

/* The trust options reach sync: in range they pass (the call goes on to
 * the network), out of range the request is refused before anything runs. */
static void test_bridge__trust_options_are_checked(void **state)
{
	struct fx *f = *state;
	const char *good = "{\"url\":\"http://127.0.0.1:1\",\"max_retries\":0,"
	                   "\"max_skew_s\":60,\"checkpoint_max_age_s\":86400,"
	                   "\"code\":\"AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA\"}";
	const char *bad[] = {
		"{\"url\":\"http://127.0.0.1:1\",\"max_skew_s\":0,"
		"\"code\":\"AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA\"}",
		"{\"url\":\"http://127.0.0.1:1\",\"checkpoint_max_age_s\":31536001,"
		"\"code\":\"AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA\"}",
	};
	veld_buf *b = NULL;
	assert_int_equal(veld_session_enroll(f->s, U8(good), strlen(good), &b), VELD_ENET);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(veld_session_enroll(f->s, U8(bad[i]), strlen(bad[i]), &b), VELD_EINVAL);
		size_t len = 0;
		const char *msg = (const char *)veld_bridge_error_message(&len);
		assert_non_null(strstr(msg, i ? "checkpoint_max_age_s" : "max_skew_s"));
	}
	assert_null(b);
}

/* The TLS keys reach enroll: a malformed pin or a CA text without a
 * certificate is refused before the network; a well-formed one goes on
 * to it (nothing listens: VELD_ENET). */
static void test_bridge__tls_keys_reach_enroll(void **state)
{
	struct fx *f = *state;
	static const char pin[] = "\"pinned_key\":\"sha256//yiQ7COVmxbhKkYzrlVK65U3u56saAs2XI9yAcEFm9k0=\"";
	char req[512];
	veld_buf *b = NULL;
	size_t len = 0;
	snprintf(req, sizeof req, "{\"url\":\"https://127.0.0.1:1\",\"max_retries\":0,%s,"
	         "\"code\":\"AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA\"}", pin);
	assert_int_equal(veld_session_enroll(f->s, U8(req), strlen(req), &b), VELD_ENET);
	/* With a plain http:// URL a pin would never apply: refused. */
	snprintf(req, sizeof req, "{\"url\":\"http://127.0.0.1:1\",\"max_retries\":0,%s,"
	         "\"code\":\"AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA\"}", pin);
	assert_int_equal(veld_session_enroll(f->s, U8(req), strlen(req), &b), VELD_EINVAL);
	assert_non_null(strstr((const char *)veld_bridge_error_message(&len), "only to an https://"));
	snprintf(req, sizeof req, "{\"url\":\"http://127.0.0.1:1\",\"pinned_key\":\"sha256//x\","
	         "\"code\":\"AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA\"}");
	assert_int_equal(veld_session_enroll(f->s, U8(req), strlen(req), &b), VELD_EINVAL);
	assert_non_null(strstr((const char *)veld_bridge_error_message(&len), "sha256//"));
	snprintf(req, sizeof req, "{\"url\":\"https://127.0.0.1:1\",\"ca_pem\":\"not PEM\","
	         "\"code\":\"AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA\"}");
	assert_int_equal(veld_session_enroll(f->s, U8(req), strlen(req), &b), VELD_EINVAL);
	assert_non_null(strstr((const char *)veld_bridge_error_message(&len), "PEM certificate"));
	assert_null(b);
}

/* ---- errors are per thread ------------------------------------------------------------------ */

static void *fail_in_thread(void *arg)
{
	veld_session *s = arg;
	veld_buf *b = NULL;
	int32_t *rc = malloc(sizeof *rc);
	*rc = veld_session_record_get(s, U8("{\"type\":\"client\",\"id\":\"ffffffff\"}"), 33, &b);
	if (*rc != veld_bridge_error_code())
		*rc = 1;
	return rc;
}

static void test_bridge__error_is_per_thread(void **state)
{
	struct fx *f = *state;
	pthread_t t;
	void *res;
	int32_t rc;
	assert_null(jcall(veld_session_info, f->s, "{\"bad\":1}", &rc));
	assert_int_equal(rc, VELD_EINVAL);
	assert_int_equal(pthread_create(&t, NULL, fail_in_thread, f->s), 0);
	assert_int_equal(pthread_join(t, &res), 0);
	assert_int_equal(*(int32_t *)res, VELD_ENOTFOUND);
	free(res);
	/* This thread still sees its own failure. */
	assert_int_equal(veld_bridge_error_code(), VELD_EINVAL);
	assert_non_null(strstr((const char *)veld_bridge_error_message(NULL), "\"bad\""));
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bridge__abi_version_matches_header),
		cmocka_unit_test(test_bridge__abi_check_refuses_other_major_and_newer_minor),
		cmocka_unit_test(test_bridge__constants_by_name),
		T(test_bridge__wrong_passphrase_is_eauth),
		T(test_bridge__open_missing_store_is_enotfound),
		T(test_bridge__create_twice_is_eexists),
		T(test_bridge__options_checked),
		T(test_bridge__store_made_with_a_key),
		T(test_bridge__directory_with_nul_or_bad_utf8_refused),
		T(test_bridge__requests_need_valid_utf8_json_objects),
		T(test_bridge__four_byte_characters_round_trip),
		T(test_bridge__buffer_outlives_its_session),
		T(test_bridge__result_is_optional),
		cmocka_unit_test(test_bridge__calls_on_null_session_fail_cleanly),
		T(test_bridge__every_record_kind_created_and_read),
		T(test_bridge__update_delete_and_append_only_notes),
		T(test_bridge__scores_by_visit_time),
		T(test_bridge__client_progress_for_a_chart),
		T(test_bridge__due_for_the_workers_clients),
		T(test_bridge__conflicts_access_log_info_schema),
		T(test_bridge__lock_wipes_until_unlock),
		T(test_bridge__autolock_after_idle_time),
		T(test_bridge__autolock_from_open_options),
		T(test_bridge__change_passphrase),
		T(test_bridge__sync_before_enroll_is_enotfound_without_callback),
		T(test_bridge__tls_keys_reach_enroll),
		T(test_bridge__max_retries_zero_is_no_retries),
		T(test_bridge__trust_options_are_checked),
		T(test_bridge__error_is_per_thread),
	};
	/* Tests to leave out, by a cmocka name pattern (the arm64 run under
	 * an emulator leaves out the timing ones). */
	const char *skip = getenv("VELD_TEST_SKIP");
	if (skip != NULL && *skip != '\0')
		cmocka_set_skip_filter(skip);
	return cmocka_run_group_tests_name("bridge", tests, NULL, NULL);
}
