/* test_e2e_faults.c - kill the server during a push and a client during a
 * pull, at varying moments: the next sync completes with nothing lost or
 * duplicated, and every store passes its integrity checks. */
#include "e2e.h"

#include <jansson.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void write_visits(veld_store *s, const char *client, int n)
{
	char b[256];
	ok(veld_store_begin(s));
	for (int i = 0; i < n; i++) {
		snprintf(b, sizeof b, "{\"client\":\"%s\",\"kind\":\"phone\",\"actions\":\"visit %d\"}", client, i);
		ok(veld_record_create(s, "visit", b, NULL, NULL));
	}
	ok(veld_store_commit(s));
}

/* SIGKILL the server while a device pushes, at a different moment each
 * round; restart it; sync again. */
static void test_e2e__server_killed_during_push(void **state)
{
	char *tmp = e2e_tmpdir(), data[512], *client, *out = NULL;
	struct e2e_server srv;
	veld_store *office, *a, *b;
	int total = 0;
	veld_sync_options so = VELD_SYNC_OPTIONS_INIT;
	so.push_batch = 200; /* many requests, so the kill lands mid-push */
	so.max_retries = (uint32_t)VELD_SYNC_RETRIES_NONE;
	snprintf(data, sizeof data, "%s/server", tmp);
	e2e_server_start(&srv, data, 0);
	office = e2e_office(&srv, tmp);
	a = e2e_device(&srv, office, tmp, "anna", "noord");
	b = e2e_device(&srv, office, tmp, "bram", "noord");
	client = e2e_create(a, "client", "{\"name\":\"Kill test\"}");
	e2e_sync(a);

	for (int round = 0; round < 4; round++) {
		pid_t child;
		int status;
		write_visits(a, client, 1500);
		total += 1500;
		/* The push runs in a child process; the parent kills the server. */
		child = fork();
		assert_true(child >= 0);
		if (child == 0) {
			veld_store *s = e2e_reopen(tmp, "anna");
			int rc = veld_sync(s, &so, &out);
			veld_store_free(s);
			_exit(rc == VELD_OK ? 0 : 1);
		}
		sleep_ms(20 + 60 * round);
		e2e_server_stop(&srv, SIGKILL);
		waitpid(child, &status, 0);
		e2e_server_intact(&srv);
		e2e_server_start(&srv, data, srv.port);
	}
	veld_store_free(a);
	a = e2e_reopen(tmp, "anna");
	e2e_sync(a);
	e2e_sync(b);
	/* Nothing lost, nothing twice: the server holds each own op once. */
	assert_int_equal(e2e_count(a, "visit"), (size_t)total);
	assert_int_equal(e2e_count(b, "visit"), (size_t)total);
	assert_int_equal(e2e_server_int(&srv, "SELECT count(*) FROM feed"),
	                 e2e_server_int(&srv, "SELECT count(*) FROM"
	                                      " (SELECT DISTINCT device, seq FROM feed) AS t"));
	assert_int_equal(e2e_server_int(&srv, "SELECT count(*) FROM ops"),
	                 e2e_server_int(&srv, "SELECT count(*) FROM feed"));
	ok(veld_store_verify(a, &out));
	veld_free(out);
	ok(veld_store_verify(b, &out));
	veld_free(out);
	e2e_server_intact(&srv);
	veld_store_free(a);
	veld_store_free(b);
	veld_store_free(office);
	free(client);
	e2e_server_stop(&srv, SIGTERM);
	e2e_rm_rf(tmp);
	free(tmp);
}

/* SIGKILL a device's sync process while it pulls pages; the next sync
 * completes the pull without loss or duplicates. */
static void test_e2e__client_killed_during_pull(void **state)
{
	char *tmp = e2e_tmpdir(), data[512], *client, *out = NULL;
	struct e2e_server srv;
	veld_store *office, *a, *b;
	veld_sync_options so = VELD_SYNC_OPTIONS_INIT;
	so.pull_page = 100;
	snprintf(data, sizeof data, "%s/server", tmp);
	e2e_server_start(&srv, data, 0);
	office = e2e_office(&srv, tmp);
	a = e2e_device(&srv, office, tmp, "anna", "noord");
	b = e2e_device(&srv, office, tmp, "bram", "noord");
	veld_store_free(b);
	client = e2e_create(a, "client", "{\"name\":\"Pull test\"}");
	write_visits(a, client, 3000);
	e2e_sync(a);

	for (int round = 0; round < 4; round++) {
		int status;
		pid_t child = fork();
		assert_true(child >= 0);
		if (child == 0) {
			veld_store *s = e2e_reopen(tmp, "bram");
			int rc = veld_sync(s, &so, &out);
			veld_store_free(s);
			_exit(rc == VELD_OK ? 0 : 1);
		}
		sleep_ms(15 + 40 * round);
		kill(child, SIGKILL);
		waitpid(child, &status, 0);
	}
	b = e2e_reopen(tmp, "bram");
	e2e_sync(b);
	assert_int_equal(e2e_count(b, "visit"), 3000);
	assert_int_equal(e2e_count(b, "client"), 1);
	ok(veld_store_verify(b, &out));
	veld_free(out);
	{
		/* Synced twice more: nothing new. */
		json_t *j;
		ok(veld_sync(b, NULL, &out));
		j = json_loads(out, 0, NULL);
		veld_free(out);
		assert_int_equal(json_integer_value(json_object_get(j, "applied")), 0);
		json_decref(j);
	}
	veld_store_free(a);
	veld_store_free(b);
	veld_store_free(office);
	free(client);
	e2e_server_stop(&srv, SIGTERM);
	e2e_rm_rf(tmp);
	free(tmp);
}

/* The server is restored from a backup older than what two devices pushed
 * since: each device notices on its next push (409 gap), pushes again from
 * where the server is, and pulls everything again; nothing is lost. */
static void test_e2e__server_restored_from_older_backup(void **state)
{
	char *tmp = e2e_tmpdir(), data[512], backup[600], *client, b[256], *out = NULL;
	struct e2e_server srv;
	veld_store *office, *a, *bb;
	char *sa, *sb;
	snprintf(data, sizeof data, "%s/server", tmp);
	snprintf(backup, sizeof backup, "%s/backup", tmp);
	e2e_server_start(&srv, data, 0);
	office = e2e_office(&srv, tmp);
	a = e2e_device(&srv, office, tmp, "anna", "noord");
	bb = e2e_device(&srv, office, tmp, "bram", "noord");
	client = e2e_create(a, "client", "{\"name\":\"Restore test\"}");
	write_visits(a, client, 100);
	e2e_sync(a);
	e2e_sync(bb);
	e2e_sync(office);

	e2e_server_stop(&srv, SIGTERM);
	e2e_server_copy(data, backup);
	e2e_server_start(&srv, data, srv.port);
	/* Work the backup will not have: a new client (with its key), visits, notes. */
	write_visits(a, client, 50);
	free(e2e_create(a, "client", "{\"name\":\"Made after the backup\"}"));
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"text\":\"anna after backup\"}", client);
	free(e2e_create(a, "note", b));
	e2e_sync(a);
	e2e_sync(bb);
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"text\":\"bram after backup\"}", client);
	free(e2e_create(bb, "note", b));
	e2e_sync(bb);
	/* The office pulls past what the backup holds: after the restore its
	 * cursors are ahead of the restored feeds, which must not hand out
	 * those cursors again (it would skip what gets them). */
	e2e_sync(office);

	/* Restore the old backup. */
	e2e_server_stop(&srv, SIGTERM);
	e2e_server_copy(backup, data);
	e2e_server_start(&srv, data, srv.port);
	/* Bram writes and syncs first: what he sends now takes the restored
	 * feeds' next cursors, before Anna sends her lost work again. */
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"text\":\"bram after restore\"}", client);
	free(e2e_create(bb, "note", b));
	e2e_sync(bb);
	e2e_sync(a);
	e2e_sync(bb);
	e2e_sync(a);
	e2e_sync(office);
	assert_int_equal(e2e_count(a, "visit"), 150);
	assert_int_equal(e2e_count(bb, "visit"), 150);
	assert_int_equal(e2e_count(a, "note"), 3);
	assert_int_equal(e2e_count(office, "note"), 3);
	assert_int_equal(e2e_count(office, "client"), 2);
	sa = e2e_state(a);
	sb = e2e_state(bb);
	assert_string_equal(sa, sb);
	free(sa);
	free(sb);
	/* The access log came through the restore too: after one more sync the
	 * office holds every entry of each device's log, each once, in its
	 * order (entries the office had before the restore were sent again and
	 * matched). */
	e2e_sync(a);
	e2e_sync(bb);
	e2e_sync(office);
	for (int who = 0; who < 2; who++) {
		veld_store *dev = who ? bb : a;
		char *mine = NULL, *theirs = NULL, filter[96];
		json_t *ja, *jo, *info;
		ok(veld_store_info(dev, &out));
		info = json_loads(out, 0, NULL);
		veld_free(out);
		snprintf(filter, sizeof filter, "{\"device\":\"%s\"}",
		         json_string_value(json_object_get(info, "device")));
		json_decref(info);
		ok(veld_audit_list(dev, NULL, &mine));
		ok(veld_office_log(office, filter, &theirs));
		ja = json_loads(mine, 0, NULL);
		jo = json_loads(theirs, 0, NULL);
		assert_true(json_array_size(ja) > (who ? 5u : 150u));
		assert_int_equal(json_array_size(jo), json_array_size(ja));
		for (size_t i = 0; i < json_array_size(ja); i++)
			assert_int_equal(json_integer_value(json_object_get(json_array_get(jo, i), "seq")),
			                 (json_int_t)(i + 1));
		json_decref(ja);
		json_decref(jo);
		veld_free(mine);
		veld_free(theirs);
	}
	/* A device that pulls after the restore reads the newer client. */
	{
		veld_store *c = e2e_device(&srv, office, tmp, "cato", "noord");
		e2e_sync(c);
		assert_int_equal(e2e_count(c, "client"), 2);
		assert_int_equal(e2e_count(c, "note"), 3);
		veld_store_free(c);
	}
	ok(veld_store_verify(a, &out));
	veld_free(out);
	e2e_server_intact(&srv);
	veld_store_free(a);
	veld_store_free(bb);
	veld_store_free(office);
	free(client);
	e2e_server_stop(&srv, SIGTERM);
	e2e_rm_rf(tmp);
	free(tmp);
}

/* The answer to a push is lost (the device still thinks its operations are
 * unsent), then the device erases one of those clients, which removes the
 * values of its own operations. The next sync must not send them again (the
 * server would refuse them as different, and a stored signature over them
 * would never verify): it asks first how far the server holds them. */
static void test_e2e__lost_push_answer_then_local_erase(void **state)
{
	char *tmp = e2e_tmpdir(), data[512], path[600], b[256], *c, *d, *out = NULL;
	struct e2e_server srv;
	veld_store *office, *a, *bb;
	sqlite3 *db;
	snprintf(data, sizeof data, "%s/server", tmp);
	e2e_server_start(&srv, data, 0);
	office = e2e_office(&srv, tmp);
	a = e2e_device(&srv, office, tmp, "anna", "noord");
	c = e2e_create(a, "client", "{\"name\":\"Sent, answer lost\"}");
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"text\":\"a note\"}", c);
	free(e2e_create(a, "note", b));
	e2e_sync(a);
	/* Forget the answer: the store's acknowledged seq back to 0. */
	veld_store_free(a);
	snprintf(path, sizeof path, "%s/anna/veld.db", tmp);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE meta SET value = zeroblob(8) WHERE key = 'acked_seq'",
	                              NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_changes(db), 1);
	sqlite3_close(db);
	a = e2e_reopen(tmp, "anna");
	ok(veld_client_erase(a, c, NULL));
	d = e2e_create(a, "client", "{\"name\":\"Made after\"}");
	e2e_sync(a);
	/* The team still pulls every page, and the office has both. */
	bb = e2e_device(&srv, office, tmp, "bram", "noord");
	e2e_sync(bb);
	ok(veld_record_get(bb, "client", d, NULL, &out));
	veld_free(out);
	ok(veld_record_get(bb, "client", c, NULL, &out)); /* erased on anna's device only */
	veld_free(out);
	e2e_sync(office);
	assert_int_equal(e2e_count(office, "client"), 2);
	ok(veld_store_verify(a, &out));
	veld_free(out);
	veld_store_free(a);
	veld_store_free(bb);
	veld_store_free(office);
	free(c);
	free(d);
	e2e_server_stop(&srv, SIGTERM);
	e2e_rm_rf(tmp);
	free(tmp);
}

/* A server restored from a backup older than values a device removed under
 * the team's field policy: the device cannot send those operations again
 * as they were signed, so its sync stops with a clear error and changes
 * nothing (never a different operation under the same seq). */
static void test_e2e__restore_older_than_a_policy_removal(void **state)
{
	char *tmp = e2e_tmpdir(), data[512], backup[600], *client, *out = NULL, *before, *after;
	struct e2e_server srv;
	veld_store *office, *a;
	(void)state;
	snprintf(data, sizeof data, "%s/server", tmp);
	snprintf(backup, sizeof backup, "%s/backup", tmp);
	e2e_server_start(&srv, data, 0);
	office = e2e_office(&srv, tmp);
	a = e2e_device(&srv, office, tmp, "anna", "noord");
	ok(veld_office_field_policy(office, "noord", "address,phone,birth_date", NULL));
	client = e2e_create(a, "client", "{\"name\":\"Policy restore\"}");
	e2e_sync(a);
	e2e_server_stop(&srv, SIGTERM);
	e2e_server_copy(data, backup);
	e2e_server_start(&srv, data, srv.port);
	ok(veld_record_update(a, "client", client, "{\"birth_date\":\"1980-01-01\"}", NULL, NULL));
	e2e_sync(a);
	ok(veld_office_field_policy(office, "noord", "address,phone", NULL));
	e2e_sync(a); /* the value leaves the device: the server holds it */
	e2e_server_stop(&srv, SIGTERM);
	e2e_server_copy(backup, data);
	e2e_server_start(&srv, data, srv.port);
	before = e2e_state(a);
	assert_int_equal(veld_sync(a, NULL, &out), VELD_EPROTO);
	assert_null(out);
	assert_non_null(strstr(veld_error_last(), "cannot be sent again"));
	after = e2e_state(a);
	assert_string_equal(before, after);
	ok(veld_store_verify(a, &out));
	veld_free(out);
	veld_store_free(a);
	veld_store_free(office);
	free(before);
	free(after);
	free(client);
	e2e_server_stop(&srv, SIGTERM);
	e2e_rm_rf(tmp);
	free(tmp);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_e2e__server_killed_during_push),
		cmocka_unit_test(test_e2e__client_killed_during_pull),
		cmocka_unit_test(test_e2e__server_restored_from_older_backup),
		cmocka_unit_test(test_e2e__lost_push_answer_then_local_erase),
		cmocka_unit_test(test_e2e__restore_older_than_a_policy_removal),
	};
	if (argc < 2)
		return 2;
	e2e_veld = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
