/* test_tamper.c - a flipped byte, a value moved to another record or field,
 * a damaged key, a full disk: each gives a clear error and changes nothing. */
#include "helpers.h"

#include "store.h"
#include "op.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fx {
	char *dir;
	char *client, *other, *visit;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	char b[256];
	veld_store *s = store_new(&f->dir, "anna", NULL);
	f->client = create(s, "client", "{\"name\":\"Alpha\",\"address\":\"A-street 1\"}");
	f->other = create(s, "client", "{\"name\":\"Beta\",\"address\":\"B-street 2\"}");
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"kind\":\"phone\",\"actions\":\"call back\"}", f->client);
	f->visit = create(s, "visit", b);
	veld_store_free(s);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	rm_rf(f->dir);
	free(f->dir);
	free(f->client);
	free(f->other);
	free(f->visit);
	free(f);
	return 0;
}

static void sql(struct fx *f, const char *q)
{
	char path[512];
	sqlite3 *db;
	snprintf(path, sizeof path, "%s/store/veld.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, q, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("%s: %s", q, sqlite3_errmsg(db));
	sqlite3_close(db);
}

/* SQL that changes byte POS (1-based) of blob column COL: 0x00 becomes 0x01,
 * anything else 0x00, so the blob always changes (setting a fixed byte would
 * leave it as it was one time in 256). */
static const char *flip(char *buf, size_t n, const char *col, int pos)
{
	snprintf(buf, n, "substr(%s, 1, %d) || (CASE WHEN substr(%s, %d, 1) = X'00'"
	         " THEN X'01' ELSE X'00' END) || substr(%s, %d)",
	         col, pos - 1, col, pos, col, pos + 1);
	return buf;
}

static veld_store *reopen(struct fx *f)
{
	char sub[512];
	veld_store *s = NULL;
	snprintf(sub, sizeof sub, "%s/store", f->dir);
	ok(veld_store_open(&s, sub, TEST_PASS, strlen(TEST_PASS), NULL));
	return s;
}

static void expect_corrupt_read(struct fx *f, const char *kind, const char *id)
{
	veld_store *s = reopen(f);
	char *out = NULL;
	assert_int_equal(veld_record_get(s, kind, id, NULL, &out), VELD_ECORRUPT);
	assert_null(out);
	assert_non_null(strstr(veld_error_last(), "failed authentication"));
	assert_int_equal(veld_store_verify(s, &out), VELD_ECORRUPT);
	veld_free(out);
	veld_store_free(s);
}

static void test_tamper__flipped_byte_in_sealed_value(void **state)
{
	struct fx *f = *state;
	char q[512], e[256];
	snprintf(q, sizeof q, "UPDATE ops SET value = %s WHERE field = 'name' AND hex(entity) = upper('%s')",
	         flip(e, sizeof e, "value", 31), f->client);
	sql(f, q);
	expect_corrupt_read(f, "client", f->client);
}

static void test_tamper__value_moved_to_other_record(void **state)
{
	struct fx *f = *state;
	char q[512];
	/* Both clients have their own keys; move Beta's address ciphertext over. */
	snprintf(q, sizeof q, "UPDATE ops SET value = (SELECT value FROM ops WHERE field = 'address'"
	         " AND hex(entity) = upper('%s')) WHERE field = 'address' AND hex(entity) = upper('%s')",
	         f->other, f->client);
	sql(f, q);
	expect_corrupt_read(f, "client", f->client);
}

static void test_tamper__value_moved_to_other_field(void **state)
{
	struct fx *f = *state;
	char q[512];
	/* Same record, same key: only the associated data can catch this. */
	snprintf(q, sizeof q, "UPDATE ops SET value = (SELECT value FROM ops WHERE field = 'address'"
	         " AND hex(entity) = upper('%s')) WHERE field = 'name' AND hex(entity) = upper('%s')",
	         f->client, f->client);
	sql(f, q);
	expect_corrupt_read(f, "client", f->client);
}

static void test_tamper__damaged_wrapped_key_is_refused(void **state)
{
	struct fx *f = *state;
	char sub[512], q[512], e[256];
	veld_store *s = NULL;
	snprintf(q, sizeof q, "UPDATE meta SET value = %s WHERE key = 'wrapped_master'",
	         flip(e, sizeof e, "value", 41));
	sql(f, q);
	snprintf(sub, sizeof sub, "%s/store", f->dir);
	assert_int_equal(veld_store_open(&s, sub, TEST_PASS, strlen(TEST_PASS), NULL), VELD_EAUTH);
	assert_null(s);
}

static void test_tamper__damaged_client_key_is_corrupt(void **state)
{
	struct fx *f = *state;
	char q[512], e[256], *out = NULL;
	veld_store *s;
	snprintf(q, sizeof q, "UPDATE client_keys SET wrapped = %s WHERE hex(client) = upper('%s')",
	         flip(e, sizeof e, "wrapped", 31), f->client);
	sql(f, q);
	s = reopen(f);
	assert_int_equal(veld_record_get(s, "client", f->client, NULL, &out), VELD_ECORRUPT);
	/* The other client is unaffected. */
	ok(veld_record_get(s, "client", f->other, NULL, &out));
	veld_free(out);
	veld_store_free(s);
}

static int64_t count(veld_store *s, const char *q)
{
	sqlite3_stmt *st;
	int64_t n;
	sqlite3_prepare_v2(s->db, q, -1, &st, NULL);
	sqlite3_step(st);
	n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void test_tamper__oversized_value_writes_nothing(void **state)
{
	struct fx *f = *state;
	veld_store *s = reopen(f);
	/* 20,000 control characters become 120,000 bytes of JSON escapes: the
	 * visit's third field fails after two were written; all must go. */
	size_t n = 20000;
	char *b = malloc(n * 6 + 256), *p;
	int64_t before = count(s, "SELECT count(*) FROM ops"), audit = count(s, "SELECT count(*) FROM audit");
	p = b + sprintf(b, "{\"client\":\"%s\",\"kind\":\"phone\",\"ended\":\"2026-01-01T10:00Z\",\"actions\":\"", f->client);
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "\\u0001");
	sprintf(p, "\"}");
	assert_int_equal(veld_record_create(s, "visit", b, NULL, NULL), VELD_EINVAL);
	assert_int_equal(count(s, "SELECT count(*) FROM ops"), before);
	assert_int_equal(count(s, "SELECT count(*) FROM audit"), audit);
	free(b);
	/* The store goes on working. */
	free(create(s, "client", "{\"name\":\"After\"}"));
	veld_store_free(s);
}

static void test_tamper__full_disk_changes_nothing(void **state)
{
	struct fx *f = *state;
	veld_store *s = reopen(f);
	char *big = malloc(40100), *out = NULL;
	int64_t before, pages;
	int at = sprintf(big, "{\"name\":\"Gamma\",\"address\":\"");
	memset(big + at, 'x', 30000);
	strcpy(big + at + 30000, "\"}");
	/* Pretend the disk is full: SQLite may not grow the file any more. */
	before = count(s, "SELECT count(*) FROM ops");
	pages = count(s, "PRAGMA page_count");
	{
		char q[64];
		snprintf(q, sizeof q, "PRAGMA max_page_count = %lld", (long long)pages);
		sqlite3_exec(s->db, q, NULL, NULL, NULL);
	}
	{
		int rc = veld_record_create(s, "client", big, NULL, &out);
		assert_int_equal(rc, VELD_EIO);
		assert_non_null(strstr(veld_error_last(), "disk full"));
	}
	assert_null(out);
	assert_int_equal(count(s, "SELECT count(*) FROM ops"), before);
	sqlite3_exec(s->db, "PRAGMA max_page_count = 1073741823", NULL, NULL, NULL);
	ok(veld_store_verify(s, &out));
	veld_free(out);
	ok(veld_audit_verify(s, NULL));
	free(big);
	veld_store_free(s);
}

static void expect_verify_fails(struct fx *f, const char *q, const char *msg)
{
	veld_store *s;
	char *out = NULL;
	sql(f, q);
	s = reopen(f);
	assert_int_equal(veld_store_verify(s, &out), VELD_ECORRUPT);
	if (!strstr(veld_error_last(), msg))
		fail_msg("'%s' lacks '%s'", veld_error_last(), msg);
	veld_free(out);
	veld_store_free(s);
}

static void test_tamper__removed_value_detected(void **state)
{
	struct fx *f = *state;
	expect_verify_fails(f, "UPDATE ops SET value = NULL WHERE field = 'name'", "without an erasure");
}

static void test_tamper__added_operation_detected(void **state)
{
	struct fx *f = *state;
	veld_store *s = reopen(f);
	uint8_t entity[16], client[16];
	struct veld__tx tx;
	char *out = NULL;
	/* A tombstone with a valid hash, written without the commit that signs
	 * it: what an attacker could add without the signing key. */
	veld__unhex(entity, 16, f->visit);
	veld__unhex(client, 16, f->client);
	ok(veld__tx_begin(s, &tx));
	ok(veld__op_write(s, "visit", entity, client, "default", "_deleted", NULL, 0));
	assert_int_equal(sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	s->tx_depth = 0;
	s->batch_first = 0;
	assert_int_equal(veld_store_verify(s, &out), VELD_ECORRUPT);
	assert_non_null(strstr(veld_error_last(), "not all covered"));
	veld_free(out);
	veld_store_free(s);
}

static void test_tamper__head_flag_flip_detected(void **state)
{
	struct fx *f = *state;
	veld_store *s = reopen(f);
	/* A second write makes the first address a superseded value. */
	ok(veld_record_update(s, "client", f->client, "{\"address\":\"New street 3\"}", NULL, NULL));
	veld_store_free(s);
	expect_verify_fails(f, "UPDATE ops SET head = 1 - head WHERE field = 'address'", "marked current");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tamper__flipped_byte_in_sealed_value, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper__value_moved_to_other_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper__value_moved_to_other_field, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper__damaged_wrapped_key_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper__damaged_client_key_is_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper__oversized_value_writes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper__full_disk_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper__removed_value_detected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper__added_operation_detected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper__head_flag_flip_detected, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
