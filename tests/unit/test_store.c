/* test_store.c - creating, opening, unlocking and migrating a store. */
#include "helpers.h"

#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void path_of(char *buf, size_t n, const char *dir, const char *file)
{
	snprintf(buf, n, "%s/store/%s", dir, file);
}

static void test_store__create_then_open(void **state)
{
	char *dir, sub[512], *id, *out = NULL;
	veld_store *s = store_new(&dir, "anna", NULL);
	veld_store_options o = fast_opts("anna", NULL);
	id = create(s, "client", "{\"name\":\"Jan de Vries\"}");
	veld_store_free(s);

	snprintf(sub, sizeof sub, "%s/store", dir);
	ok(veld_store_open(&s, sub, TEST_PASS, strlen(TEST_PASS), &o));
	ok(veld_record_get(s, "client", id, NULL, &out));
	assert_non_null(strstr(out, "Jan de Vries"));
	veld_free(out);
	veld_store_free(s);
	free(id);
	rm_rf(dir);
	free(dir);
}

static void test_store__wrong_passphrase_is_eauth(void **state)
{
	char *dir, sub[512];
	veld_store *s = store_new(&dir, "anna", NULL), *s2 = (veld_store *)0x1;
	veld_store_free(s);
	snprintf(sub, sizeof sub, "%s/store", dir);
	assert_int_equal(veld_store_open(&s2, sub, "wrong", 5, NULL), VELD_EAUTH);
	assert_null(s2);
	assert_non_null(strstr(veld_error_last(), "wrong passphrase"));
	assert_null(strstr(veld_error_last(), "wrong\""));
	rm_rf(dir);
	free(dir);
}

static void test_store__missing_store_is_enotfound(void **state)
{
	veld_store *s = NULL;
	assert_int_equal(veld_store_open(&s, "/tmp/veld-no-such-store-here", "x", 1, NULL), VELD_ENOTFOUND);
	assert_null(s);
}

static void test_store__create_twice_is_eexists(void **state)
{
	char *dir, sub[512];
	veld_store *s = store_new(&dir, "anna", NULL), *s2 = NULL;
	veld_store_options o = fast_opts("anna", NULL);
	snprintf(sub, sizeof sub, "%s/store", dir);
	assert_int_equal(veld_store_create(&s2, sub, "other pass", 10, &o), VELD_EEXISTS);
	veld_store_free(s);
	/* The existing store still opens with its own passphrase. */
	ok(veld_store_open(&s, sub, TEST_PASS, strlen(TEST_PASS), &o));
	veld_store_free(s);
	rm_rf(dir);
	free(dir);
}

static void test_store__kdf_below_floor_refused(void **state)
{
	char *dir = tmpdir_new(), sub[512];
	veld_store *s = NULL;
	veld_store_options o = fast_opts("anna", NULL);
	o.kdf_memlimit = 8u * 1024 * 1024;
	snprintf(sub, sizeof sub, "%s/store", dir);
	assert_int_equal(veld_store_create(&s, sub, "pass", 4, &o), VELD_EINVAL);
	assert_null(s);
	o = fast_opts("anna", NULL);
	o.kdf_opslimit = 1;
	assert_int_equal(veld_store_create(&s, sub, "pass", 4, &o), VELD_EINVAL);
	rm_rf(dir);
	free(dir);
}

static void test_store__change_passphrase_rewraps(void **state)
{
	char *dir, sub[512], *id, *out = NULL;
	veld_store *s = store_new(&dir, "anna", NULL);
	id = create(s, "client", "{\"name\":\"Piet\"}");
	assert_int_equal(veld_store_change_passphrase(s, "not it", 6, "new pass", 8), VELD_EAUTH);
	/* The failed attempt leaves the session usable. */
	ok(veld_record_get(s, "client", id, NULL, &out));
	veld_free(out);
	ok(veld_store_change_passphrase(s, TEST_PASS, strlen(TEST_PASS), "new pass", 8));
	veld_store_free(s);
	snprintf(sub, sizeof sub, "%s/store", dir);
	assert_int_equal(veld_store_open(&s, sub, TEST_PASS, strlen(TEST_PASS), NULL), VELD_EAUTH);
	ok(veld_store_open(&s, sub, "new pass", 8, NULL));
	ok(veld_record_get(s, "client", id, NULL, &out));
	assert_non_null(strstr(out, "Piet"));
	veld_free(out);
	veld_store_free(s);
	free(id);
	rm_rf(dir);
	free(dir);
}

static void test_store__raw_key_store(void **state)
{
	char *dir = tmpdir_new(), sub[512], *out = NULL;
	uint8_t key[32], other[32];
	veld_store *s = NULL;
	veld_store_options o = fast_opts("anna", NULL);
	memset(key, 7, sizeof key);
	memset(other, 8, sizeof other);
	snprintf(sub, sizeof sub, "%s/store", dir);
	ok(veld_store_create_with_key(&s, sub, key, &o));
	free(create(s, "client", "{\"name\":\"K\"}"));
	veld_store_free(s);
	assert_int_equal(veld_store_open_with_key(&s, sub, other, &o), VELD_EAUTH);
	assert_int_equal(veld_store_open(&s, sub, "pass", 4, &o), VELD_EAUTH);
	ok(veld_store_open_with_key(&s, sub, key, &o));
	ok(veld_record_list(s, "client", NULL, NULL, &out));
	assert_non_null(strstr(out, "\"K\""));
	veld_free(out);
	veld_store_free(s);
	rm_rf(dir);
	free(dir);
}

static void test_store__lock_wipes_until_unlock(void **state)
{
	char *dir, *id, *out = NULL;
	veld_store *s = store_new(&dir, "anna", NULL);
	id = create(s, "client", "{\"name\":\"L\"}");
	ok(veld_store_lock(s));
	assert_int_equal(veld_record_get(s, "client", id, NULL, &out), VELD_ELOCKED);
	assert_null(out);
	assert_int_equal(veld_store_unlock(s, "bad", 3), VELD_EAUTH);
	assert_int_equal(veld_record_get(s, "client", id, NULL, &out), VELD_ELOCKED);
	ok(veld_store_unlock(s, TEST_PASS, strlen(TEST_PASS)));
	/* Unlocking an unlocked store still checks the secret. */
	assert_int_equal(veld_store_unlock(s, "bad", 3), VELD_EAUTH);
	ok(veld_store_unlock(s, TEST_PASS, strlen(TEST_PASS)));
	ok(veld_record_get(s, "client", id, NULL, &out));
	veld_free(out);
	veld_store_free(s);
	free(id);
	rm_rf(dir);
	free(dir);
}

/* Take a current store back to schema version 1 (drop what the later
 * versions add), then open it: the migrations must bring it forward with
 * data kept. */
static void test_store__migrates_from_version_1(void **state)
{
	char *dir, path[512], sub[512], *id, *out = NULL;
	veld_store *s = store_new(&dir, "anna", NULL);
	sqlite3 *db;
	id = create(s, "client", "{\"name\":\"Oud\"}");
	veld_store_free(s);
	path_of(path, sizeof path, dir, "veld.db");
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DROP TRIGGER due_kept_op_in; DROP TRIGGER due_kept_op_up;"
	                              " DROP TRIGGER due_kept_op_del; DROP TRIGGER due_kept_erased;"
	                              " DROP TRIGGER due_kept_key_in; DROP TRIGGER due_kept_key_del;"
	                              " DROP TABLE due_kept;"
	                              " DROP TABLE retention; DROP TABLE zrm_domains;"
	                              " DROP TABLE team_keys; DROP TABLE outbox; DROP TABLE peers; DROP TABLE conflicts;"
	                              " DROP TABLE office_audit;"
	                              " DROP TABLE certs; DROP TABLE notices; DROP TABLE authors;"
	                              " DROP TABLE pending_ops; DROP TABLE pending_envs; DROP TABLE held_batches;"
	                              " DROP TABLE quarantine; DROP TABLE checkpoints;"
	                              " DROP TABLE invites; DROP TABLE schemas; ALTER TABLE ops DROP COLUMN ver;"
	                              " DROP TABLE moved_clients; DROP TABLE moves; DROP TABLE move_fwd;"
	                              " ALTER TABLE batches DROP COLUMN ver;"
	                              " PRAGMA user_version = 1;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	snprintf(sub, sizeof sub, "%s/store", dir);
	ok(veld_store_open(&s, sub, TEST_PASS, strlen(TEST_PASS), NULL));
	ok(veld_record_get(s, "client", id, NULL, &out));
	assert_non_null(strstr(out, "Oud"));
	veld_free(out);
	/* Version 2's reference data is there: a score on a ZRM domain works. */
	{
		char fields[256];
		snprintf(fields, sizeof fields,
		         "{\"client\":\"%s\",\"kind\":\"home_visit\",\"scores\":{\"financien\":2}}", id);
		free(create(s, "visit", fields));
	}
	ok(veld_retention_get(s, &out));
	assert_non_null(strstr(out, "\"visit\""));
	veld_free(out);
	veld_store_free(s);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	{
		sqlite3_stmt *st;
		sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int(st, 0), 10);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	free(id);
	rm_rf(dir);
	free(dir);
}

static void test_store__newer_schema_refused(void **state)
{
	char *dir, path[512], sub[512];
	veld_store *s = store_new(&dir, "anna", NULL);
	sqlite3 *db;
	veld_store_free(s);
	path_of(path, sizeof path, dir, "veld.db");
	sqlite3_open(path, &db);
	sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL);
	sqlite3_close(db);
	snprintf(sub, sizeof sub, "%s/store", dir);
	assert_int_equal(veld_store_open(&s, sub, TEST_PASS, strlen(TEST_PASS), NULL), VELD_ESCHEMA);
	assert_null(s);
	rm_rf(dir);
	free(dir);
}

static void test_store__truncated_file_is_corrupt(void **state)
{
	char *dir, path[512], sub[512];
	veld_store *s = store_new(&dir, "anna", NULL);
	int rc;
	for (int i = 0; i < 20; i++)
		free(create(s, "client", "{\"name\":\"Truncate me please\"}"));
	veld_store_free(s);
	path_of(path, sizeof path, dir, "veld.db");
	assert_int_equal(truncate(path, 1000), 0);
	snprintf(sub, sizeof sub, "%s/store", dir);
	rc = veld_store_open(&s, sub, TEST_PASS, strlen(TEST_PASS), NULL);
	assert_int_equal(rc, VELD_ECORRUPT);
	assert_null(s);
	rm_rf(dir);
	free(dir);
}

static void test_store__garbage_file_is_corrupt(void **state)
{
	char *dir = tmpdir_new(), path[512], sub[512];
	veld_store *s = NULL;
	FILE *f;
	snprintf(sub, sizeof sub, "%s/store", dir);
	{
		char cmd[600];
		snprintf(cmd, sizeof cmd, "mkdir -p %s", sub);
		assert_int_equal(system(cmd), 0);
	}
	path_of(path, sizeof path, dir, "veld.db");
	f = fopen(path, "wb");
	for (int i = 0; i < 4096; i++)
		fputc(i * 7, f);
	fclose(f);
	assert_int_equal(veld_store_open(&s, sub, TEST_PASS, strlen(TEST_PASS), NULL), VELD_ECORRUPT);
	rm_rf(dir);
	free(dir);
}

static void test_store__transaction_rollback_discards(void **state)
{
	char *dir, *out = NULL;
	veld_store *s = store_new(&dir, "anna", NULL);
	json_t *j;
	ok(veld_store_begin(s));
	free(create(s, "client", "{\"name\":\"Kept out\"}"));
	ok(veld_store_rollback(s));
	ok(veld_record_list(s, "client", NULL, NULL, &out));
	j = json_loads(out, 0, NULL);
	assert_int_equal(json_array_size(j), 0);
	json_decref(j);
	veld_free(out);
	/* A failed write inside a transaction rolls back only itself. */
	ok(veld_store_begin(s));
	free(create(s, "client", "{\"name\":\"First\"}"));
	assert_int_equal(veld_record_create(s, "client", "{\"name\":\"\"}", NULL, NULL), VELD_EINVAL);
	free(create(s, "client", "{\"name\":\"Third\"}"));
	ok(veld_store_commit(s));
	ok(veld_record_list(s, "client", NULL, NULL, &out));
	j = json_loads(out, 0, NULL);
	assert_int_equal(json_array_size(j), 2);
	json_decref(j);
	veld_free(out);
	ok(veld_store_verify(s, &out));
	veld_free(out);
	veld_store_free(s);
	rm_rf(dir);
	free(dir);
}

/* A transaction belongs to the thread that began it: another thread's
 * write waits for it to end, and is not rolled back with it. */
struct other_write {
	veld_store *s;
	int rc;
};

static void *write_from_other_thread(void *arg)
{
	struct other_write *w = arg;
	w->rc = veld_record_create(w->s, "client", "{\"name\":\"Other thread\"}", NULL, NULL);
	return NULL;
}

static void test_store__transaction_belongs_to_its_thread(void **state)
{
	char *dir, *out = NULL;
	veld_store *s = store_new(&dir, "anna", NULL);
	struct other_write w = {s, -99};
	pthread_t t;
	json_t *j;
	ok(veld_store_begin(s));
	free(create(s, "client", "{\"name\":\"Rolled back\"}"));
	assert_int_equal(pthread_create(&t, NULL, write_from_other_thread, &w), 0);
	usleep(200 * 1000); /* the other thread is waiting, not writing into ours */
	assert_int_equal(w.rc, -99);
	ok(veld_store_rollback(s));
	pthread_join(t, NULL);
	ok(w.rc);
	ok(veld_record_list(s, "client", NULL, NULL, &out));
	j = json_loads(out, 0, NULL);
	assert_int_equal(json_array_size(j), 1);
	assert_non_null(strstr(out, "Other thread"));
	json_decref(j);
	veld_free(out);
	veld_store_free(s);
	rm_rf(dir);
	free(dir);
}

static void test_store__free_null_is_noop(void **state)
{
	veld_store_free(NULL);
	veld_free(NULL);
	assert_int_equal(veld_version() >> 16, VELD_VERSION_MAJOR);
	assert_string_equal(veld_strerror(VELD_EAUTH), "wrong passphrase or key");
}

static void test_store__options_init_null_is_noop(void **state)
{
	veld_store_options o;
	veld_store_options_init(NULL);
	veld_store_options_init(&o);
	assert_int_equal(o.version, VELD_STORE_OPTIONS_VERSION);
	assert_null(o.user);
}

/* Two handles on one store, as two processes have (the office's console
 * open while `veld office sync` runs): each writes after the other, and
 * each write follows what the other wrote: its own seq, the access log's
 * chain, which verifies whole at the end. */
static void test_store__two_handles_write_in_turn(void **state)
{
	(void)state;
	char *dir, sub[512], *out = NULL;
	veld_store *a = store_new(&dir, "anna", NULL), *b;
	veld_store_options o = VELD_STORE_OPTIONS_INIT;
	uint64_t n = 0;
	o.user = "anna";
	snprintf(sub, sizeof sub, "%s/store", dir);
	ok(veld_store_open(&b, sub, TEST_PASS, strlen(TEST_PASS), &o));
	for (int i = 0; i < 3; i++) {
		char *x = create(a, "client", "{\"name\":\"Een\"}");
		char *y = create(b, "client", "{\"name\":\"Twee\"}");
		ok(veld_record_get(a, "client", y, NULL, &out)); /* a reads b's record */
		veld_free(out);
		ok(veld_record_get(b, "client", x, NULL, &out));
		veld_free(out);
		free(x);
		free(y);
	}
	ok(veld_audit_verify(a, &n));
	ok(veld_audit_verify(b, &n));
	ok(veld_store_verify(b, &out));
	veld_free(out);
	veld_store_free(b);
	veld_store_free(a);
	rm_rf(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store__create_then_open),
		cmocka_unit_test(test_store__wrong_passphrase_is_eauth),
		cmocka_unit_test(test_store__missing_store_is_enotfound),
		cmocka_unit_test(test_store__create_twice_is_eexists),
		cmocka_unit_test(test_store__kdf_below_floor_refused),
		cmocka_unit_test(test_store__change_passphrase_rewraps),
		cmocka_unit_test(test_store__raw_key_store),
		cmocka_unit_test(test_store__lock_wipes_until_unlock),
		cmocka_unit_test(test_store__migrates_from_version_1),
		cmocka_unit_test(test_store__newer_schema_refused),
		cmocka_unit_test(test_store__truncated_file_is_corrupt),
		cmocka_unit_test(test_store__garbage_file_is_corrupt),
		cmocka_unit_test(test_store__transaction_rollback_discards),
		cmocka_unit_test(test_store__transaction_belongs_to_its_thread),
		cmocka_unit_test(test_store__free_null_is_noop),
		cmocka_unit_test(test_store__two_handles_write_in_turn),
		cmocka_unit_test(test_store__options_init_null_is_noop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
