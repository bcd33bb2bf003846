/* test_bridge_threads.c - the thread contract of veld_bridge.h: one session
 * used by many threads at once, with syncs against a real server on
 * 127.0.0.1 and cancels from other threads; lock and unlock racing reads;
 * close while another thread syncs. Built twice: plain, and with
 * ThreadSanitizer (test_bridge_threads_tsan), which fails on any data race.
 *
 * Worker threads never call cmocka's asserts (they are not thread-safe):
 * they count failures and keep the first message; the main thread checks. */
#define _GNU_SOURCE
/* veld.h before veld_bridge.h: both define the codes (see veld_bridge.h). */
#include "veld.h"
#include "veld_sync.h"
#include "veld_server.h"
#include "bridge_helpers.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define WORKERS 6
#define ROUNDS 20

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- failures seen on worker threads ----------------------------------------- */

static pthread_mutex_t fail_mu = PTHREAD_MUTEX_INITIALIZER;
static int failures;
static char first_failure[600];

static void failed(const char *what, int32_t rc)
{
	pthread_mutex_lock(&fail_mu);
	if (failures++ == 0)
		snprintf(first_failure, sizeof first_failure, "%s -> %s: %s", what,
		         veld_bridge_code_name(rc), (const char *)veld_bridge_error_message(NULL));
	pthread_mutex_unlock(&fail_mu);
}

static void check_no_failures(void)
{
	pthread_mutex_lock(&fail_mu);
	int n = failures;
	failures = 0;
	pthread_mutex_unlock(&fail_mu);
	if (n > 0)
		fail_msg("%d failures on worker threads; first: %s", n, first_failure);
}

/* A JSON call on a worker thread: any result but `allowed` (and OK) counts. */
static char *call(json_fn fn, veld_session *s, const char *what, const char *req,
                  int32_t allowed)
{
	veld_buf *b = NULL;
	char *r = NULL;
	int32_t rc = fn(s, U8(req), strlen(req), &b);
	if (rc == VELD_OK)
		r = strndup((const char *)veld_buf_data(b), veld_buf_len(b));
	else if (rc != allowed)
		failed(what, rc);
	veld_buf_free(b);
	return r;
}

/* Sync on the main thread; the summary JSON (malloc'd). */
static char *sync_ok(veld_session *s)
{
	veld_buf *b = NULL;
	char *r;
	ok(veld_session_sync(s, NULL, 0, NULL, &b, NULL));
	r = strndup((const char *)veld_buf_data(b), veld_buf_len(b));
	veld_buf_free(b);
	return r;
}

/* ---- the world: a server, an office, an enrolled device ------------------------ */

struct world {
	char *dir;
	veld_server *srv;
	char url[64];
	veld_store *office;
	veld_session *dev;
	char *client;
};

static char *path_in(const char *dir, const char *name)
{
	char *p;
	if (asprintf(&p, "%s/%s", dir, name) < 0)
		abort();
	return p;
}

/* A device session of team noord, enrolled with a fresh invite and
 * certified by the office's next sync (only then do the team's other
 * devices take in what it writes). */
static veld_session *device(struct world *w, const char *name)
{
	char *dir = path_in(w->dir, name), *code = NULL, req[256], *out = NULL;
	veld_session *s = session_at(dir, 1);
	ok(veld_office_invite(w->office, "noord", 0, NULL, &code));
	snprintf(req, sizeof req, "{\"url\":\"%s\",\"code\":\"%s\",\"label\":\"%s\"}", w->url, code,
		name);
	free(jok(veld_session_enroll, s, req));
	ok(veld_sync(w->office, NULL, &out));
	veld_free(out);
	veld_free(code);
	free(dir);
	return s;
}

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof *w);
	veld_server_options so;
	veld_store_options oo;
	char *data, *office;
	w->dir = tmpdir_make();
	data = path_in(w->dir, "server");
	office = path_in(w->dir, "office");

	veld_server_options_init(&so);
	so.listen = "127.0.0.1:0";
	so.data_dir = data;
	ok(veld_server_start(&w->srv, &so));
	snprintf(w->url, sizeof w->url, "http://127.0.0.1:%u", (unsigned)veld_server_port(w->srv));

	veld_store_options_init(&oo);
	oo.user = "office";
	oo.role = "office";
	oo.kdf_memlimit = VELD_KDF_MEMLIMIT_MIN;
	oo.kdf_opslimit = VELD_KDF_OPSLIMIT_MIN;
	ok(veld_office_create(&w->office, office, TEST_PASS, strlen(TEST_PASS), &oo));
	ok(veld_enroll(w->office, w->url, veld_server_setup_code(w->srv), "office", NULL, NULL));

	w->dev = device(w, "anna");
	char *r = jok(veld_session_record_create, w->dev,
		"{\"type\":\"client\",\"fields\":{\"name\":\"Jan de Vries\"}}");
	w->client = jstr(r, "id");
	free(r);
	free(sync_ok(w->dev));
	free(data);
	free(office);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;
	veld_session_close(w->dev);
	veld_store_free(w->office);
	veld_server_stop(w->srv);
	rm_rf(w->dir);
	free(w->client);
	free(w->dir);
	free(w);
	return 0;
}

/* ---- many threads, one session ------------------------------------------------- */

static atomic_int workers_left;
static atomic_long progress_calls;

static void *worker(void *arg)
{
	struct world *w = arg;
	char req[512], *r, *id;
	for (int i = 0; i < ROUNDS; i++) {
		int note = i % 2 == 0;
		if (note)
			snprintf(req, sizeof req, "{\"type\":\"note\",\"fields\":{\"client\":\"%s\","
				"\"text\":\"%lx-%d \xF0\x9F\x98\x80\"}}", w->client,
				(unsigned long)pthread_self(), i);
		else
			snprintf(req, sizeof req, "{\"type\":\"visit\",\"fields\":{\"client\":\"%s\","
				"\"kind\":\"home_visit\",\"scores\":{\"financien\":%d}}}", w->client,
				1 + i % 5);
		if ((r = call(veld_session_record_create, w->dev, "create", req, VELD_OK)) == NULL)
			continue;
		id = jstr(r, "id");
		free(r);
		snprintf(req, sizeof req, "{\"type\":\"%s\",\"id\":\"%s\"}", note ? "note" : "visit", id);
		free(call(veld_session_record_get, w->dev, "get", req, VELD_OK));
		snprintf(req, sizeof req, "{\"type\":\"note\",\"filter\":{\"client\":\"%s\"}}",
			w->client);
		free(call(veld_session_record_list, w->dev, "list", req, VELD_OK));
		snprintf(req, sizeof req, "{\"client\":\"%s\"}", w->client);
		free(call(veld_session_scores, w->dev, "scores", req, VELD_OK));
		free(call(veld_session_conflicts_list, w->dev, "conflicts", "{}", VELD_OK));
		free(call(veld_session_audit_list, w->dev, "audit", "{\"limit\":3}", VELD_OK));
		free(call(veld_session_info, w->dev, "info", "", VELD_OK));
		free(id);
	}
	atomic_fetch_sub(&workers_left, 1);
	return NULL;
}

static int32_t count_progress(const veld_progress *p, void *payload)
{
	(void)payload;
	if (p->version != 1 || (p->phase != VELD_PHASE_PUSH && p->phase != VELD_PHASE_PULL))
		failed("progress", VELD_ERROR);
	atomic_fetch_add(&progress_calls, 1);
	return 0;
}

static void *syncer(void *arg)
{
	struct world *w = arg;
	while (atomic_load(&workers_left) > 0) {
		veld_buf *b = NULL;
		int32_t rc = veld_session_sync(w->dev, U8("{\"push_batch\":7}"), 16, count_progress,
			&b, NULL);
		if (rc != VELD_OK && rc != VELD_ECANCELLED)
			failed("sync", rc);
		veld_buf_free(b);
	}
	return NULL;
}

static void *canceller(void *arg)
{
	struct world *w = arg;
	while (atomic_load(&workers_left) > 0) {
		veld_session_cancel(w->dev);
		if (veld_session_tick(w->dev) != VELD_OK)
			failed("tick", veld_bridge_error_code());
		if (veld_session_is_locked(w->dev) != 0)
			failed("is_locked", VELD_ELOCKED);
		sleep_ms(3);
	}
	return NULL;
}

static size_t count_kind(veld_session *s, const char *kind, const char *client)
{
	char req[256], *r;
	size_t n;
	snprintf(req, sizeof req, "{\"type\":\"%s\",\"filter\":{\"client\":\"%s\"}}", kind, client);
	r = jok(veld_session_record_list, s, req);
	n = count_of(r, "\"type\":");
	free(r);
	return n;
}

static void test_threads__one_session_many_threads_with_sync_and_cancel(void **state)
{
	struct world *w = *state;
	pthread_t t[WORKERS + 2];
	atomic_store(&workers_left, WORKERS);
	atomic_store(&progress_calls, 0);
	for (int i = 0; i < WORKERS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, worker, w), 0);
	assert_int_equal(pthread_create(&t[WORKERS], NULL, syncer, w), 0);
	assert_int_equal(pthread_create(&t[WORKERS + 1], NULL, canceller, w), 0);
	for (int i = 0; i < WORKERS + 2; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	check_no_failures();

	/* Nothing was lost or doubled: a second device sees every record. */
	free(sync_ok(w->dev));
	veld_session *b = device(w, "bram");
	free(sync_ok(b));
	assert_int_equal(count_kind(b, "note", w->client), WORKERS * ROUNDS / 2);
	assert_int_equal(count_kind(b, "visit", w->client), WORKERS * ROUNDS / 2);
	assert_int_equal(count_kind(w->dev, "note", w->client), WORKERS * ROUNDS / 2);
	veld_session_close(b);
	free(jok(veld_session_audit_verify, w->dev, NULL));
}

/* ---- lock and unlock racing reads ---------------------------------------------- */

static atomic_int readers_stop;

static void *reader(void *arg)
{
	struct world *w = arg;
	while (!atomic_load(&readers_stop)) {
		/* Locked in between is a fine answer; anything else is not. */
		free(call(veld_session_record_list, w->dev, "list while locking",
			"{\"type\":\"client\"}", VELD_ELOCKED));
		int32_t l = veld_session_is_locked(w->dev);
		if (l != 0 && l != 1)
			failed("is_locked", l);
	}
	return NULL;
}

static void test_threads__lock_and_unlock_while_others_read(void **state)
{
	struct world *w = *state;
	pthread_t t[4];
	atomic_store(&readers_stop, 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, reader, w), 0);
	for (int i = 0; i < 8; i++) {
		ok(veld_session_lock(w->dev));
		assert_int_equal(veld_session_is_locked(w->dev), 1);
		sleep_ms(5);
		ok(veld_session_unlock(w->dev, U8(TEST_PASS), strlen(TEST_PASS)));
		sleep_ms(5);
	}
	atomic_store(&readers_stop, 1);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	check_no_failures();
	assert_int_equal(veld_session_is_locked(w->dev), 0);
	free(jok(veld_session_record_list, w->dev, "{\"type\":\"client\"}"));
}

/* ---- auto-lock with a timer thread ------------------------------------------- */

static atomic_int users_stop;

static void *user(void *arg)
{
	struct world *w = arg;
	while (!atomic_load(&users_stop)) {
		free(call(veld_session_conflicts_list, w->dev, "use under autolock", "", VELD_OK));
		sleep_ms(50);
	}
	return NULL;
}

static void test_threads__autolock_timer_and_use_race(void **state)
{
	struct world *w = *state;
	pthread_t t[2];
	ok(veld_session_set_autolock(w->dev, 1));
	atomic_store(&users_stop, 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, user, w), 0);
	/* The timer thread (here: this one) ticks; use keeps it unlocked. */
	for (int i = 0; i < 30; i++) {
		assert_int_equal(veld_session_tick(w->dev), VELD_OK);
		sleep_ms(50);
	}
	atomic_store(&users_stop, 1);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	check_no_failures();
	sleep_ms(1100);
	assert_int_equal(veld_session_tick(w->dev), VELD_ELOCKED);
	ok(veld_session_unlock(w->dev, U8(TEST_PASS), strlen(TEST_PASS)));
	ok(veld_session_set_autolock(w->dev, 0));
}

/* ---- close while another thread syncs ---------------------------------------- */

struct slow_sync {
	veld_session *s;
	atomic_int started;
	int32_t rc;
};

static int32_t slow_progress(const veld_progress *p, void *payload)
{
	struct slow_sync *x = payload;
	(void)p;
	atomic_store(&x->started, 1);
	sleep_ms(20);
	return 0;
}

static void *slow_syncer(void *arg)
{
	struct slow_sync *x = arg;
	veld_buf *b = NULL;
	x->rc = veld_session_sync(x->s, U8("{\"push_batch\":1}"), 16, slow_progress, &b, x);
	veld_buf_free(b);
	return NULL;
}

static void test_threads__close_cancels_a_running_sync(void **state)
{
	struct world *w = *state;
	struct slow_sync x;
	pthread_t t;
	char req[256];
	uint64_t t0;
	for (int i = 0; i < 60; i++) {
		snprintf(req, sizeof req, "{\"type\":\"note\",\"fields\":{\"client\":\"%s\",\"text\":"
			"\"later %d\"}}", w->client, i);
		free(jok(veld_session_record_create, w->dev, req));
	}
	x.s = w->dev;
	x.rc = 1;
	atomic_init(&x.started, 0);
	assert_int_equal(pthread_create(&t, NULL, slow_syncer, &x), 0);
	while (!atomic_load(&x.started))
		sleep_ms(1);
	t0 = mono_ms();
	veld_session_close(w->dev); /* cancels, waits for the sync, frees */
	assert_true(mono_ms() - t0 < 5000);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(x.rc, VELD_ECANCELLED);

	/* Reopened, the next sync finishes what was left. */
	char *dir = path_in(w->dir, "anna");
	w->dev = session_at(dir, 0);
	free(dir);
	char *r = sync_ok(w->dev);
	assert_null(strstr(r, "\"pushed\":0,"));
	free(r);
	r = jok(veld_session_info, w->dev, NULL);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_threads__one_session_many_threads_with_sync_and_cancel),
		cmocka_unit_test(test_threads__lock_and_unlock_while_others_read),
		cmocka_unit_test(test_threads__autolock_timer_and_use_race),
		cmocka_unit_test(test_threads__close_cancels_a_running_sync),
	};
	return cmocka_run_group_tests_name("bridge_threads", tests, setup, teardown);
}
