/* test_pg_driver.c - the PostgreSQL driver (sync/src/server_pg.c) alone,
 * through server_sql.h's driver table: migrations with two processes at
 * once, every parameter and column type, the feeds' counters, the merge
 * primitives against SQLite's, nonces, the write lock, snapshots, and a
 * lost connection.
 *
 * Needs the throwaway cluster of tests/pg/pgtest.sh, found as pgdb.h says
 * (VELD_PG_CONNINFO, or VELD_PGTEST_ENV naming pgtest.env). Each test
 * makes a database of its own; two stores opened on one database stand for
 * two server processes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth.h"
#include "error.h"
#include "op.h"
#include "pgdb.h"
#include "server_sql.h"
#include "veld.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ok(call) do { int rc_ = (call); if (rc_ != VELD_OK) \
	fail_msg("%s -> %d: %s", #call, rc_, veld_error_last()); } while (0)

/* ---- fixture: a database of the test's own (pgdb.h) ------------------------------------ */

struct fx {
	char conninfo[512];
};

static int setup(void **state)
{
	static int n;
	struct fx *f = calloc(1, sizeof *f);
	char key[96];
	snprintf(key, sizeof key, "test_pg_driver %d %ld %d", (int)getpid(), (long)time(NULL), ++n);
	veld_test_pg_db(key, f->conninfo, sizeof f->conninfo);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

/* ---- the driver, as the rules call it ------------------------------------------------- */

static struct veld__sstore *store_open(struct fx *f)
{
	struct veld__sstore *s;
	ok(veld__sstore_pg_open(&s, f->conninfo, 2));
	assert_ptr_equal(s->ops, &veld__sql_rules);
	assert_int_equal(s->max_skew_ms, VELD_SRV_MAX_SKEW_MS);
	return s;
}

static const struct veld__sqldrv *drv_of(struct veld__sstore *s)
{
	return ((struct veld__sqlstore *)s)->drv;
}

static void store_close(struct veld__sstore *s)
{
	drv_of(s)->close((struct veld__sqlstore *)s);
}

static struct veld__sqlconn *take(struct veld__sstore *s, int write)
{
	struct veld__sqlconn *c = drv_of(s)->take((struct veld__sqlstore *)s, write);
	assert_ptr_equal(c->store, (struct veld__sqlstore *)s);
	return c;
}

static struct veld__sqlst *query(struct veld__sqlconn *c, int i, const char *types, ...)
{
	struct veld__sqlst *st;
	va_list ap;
	va_start(ap, types);
	st = c->drv->query(c, i, types, ap);
	va_end(ap);
	return st;
}

/* Statement i run once: its first step's answer; reset after. */
static int vrun(struct veld__sqlconn *c, int i, const char *types, va_list ap)
{
	struct veld__sqlst *st = c->drv->query(c, i, types, ap);
	int rc = c->drv->step(c, st);
	c->drv->reset(st);
	return rc;
}

static int run(struct veld__sqlconn *c, int i, const char *types, ...)
{
	va_list ap;
	int rc;
	va_start(ap, types);
	rc = vrun(c, i, types, ap);
	va_end(ap);
	return rc;
}

static void fill(uint8_t *p, size_t n, int seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 31 + (int)i * 7 + 1);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- migrations ------------------------------------------------------------------------- */

struct opener {
	const char *conninfo;
	struct veld__sstore *s;
	int rc;
};

static void *open_thread(void *arg)
{
	struct opener *o = arg;
	o->rc = veld__sstore_pg_open(&o->s, o->conninfo, 2);
	return NULL;
}

/* Three processes start at once on an empty database: one migrates, the
 * others find it done; the feeds' counters are past the clock. */
static void test_pg_driver__processes_starting_at_once_migrate_once(void **state)
{
	struct fx *f = *state;
	struct opener o[3];
	pthread_t t[3];
	struct veld__sstore other, *s = &other;
	long long before = (long long)now_ms() * 1024;
	for (int i = 0; i < 3; i++) {
		o[i].conninfo = f->conninfo;
		assert_int_equal(pthread_create(&t[i], NULL, open_thread, &o[i]), 0);
	}
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		if (o[i].rc != VELD_OK)
			fail_msg("open %d: %s", i, veld_error_last());
	}
	assert_int_equal(veld_test_pg_int(f->conninfo, "SELECT count(*) FROM schema_version"), 1);
	assert_int_equal(veld_test_pg_int(f->conninfo, "SELECT version FROM schema_version"), 2);
	assert_int_equal(veld_test_pg_int(f->conninfo, "SELECT count(*) FROM cursors"), 5);
	assert_true(veld_test_pg_int(f->conninfo, "SELECT min(last) FROM cursors") >= before);
	for (int i = 0; i < 3; i++)
		store_close(o[i].s);
	/* A database of a newer veld is not touched (and *out is cleared). */
	veld_test_pg_exec(f->conninfo, "UPDATE schema_version SET version = 99");
	assert_int_equal(veld__sstore_pg_open(&s, f->conninfo, 2), VELD_ESCHEMA);
	assert_null(s);
}

/* A store that cannot connect fails cleanly (and says nothing of where). */
static void test_pg_driver__no_database_no_store(void **state)
{
	struct fx *f = *state;
	struct veld__sstore *s;
	char conninfo[600];
	snprintf(conninfo, sizeof conninfo, "%s dbname=veld_no_such_database", f->conninfo);
	assert_int_equal(veld__sstore_pg_open(&s, conninfo, 2), VELD_EIO);
	assert_null(s);
	assert_null(strstr(veld_error_last(), "veld_no_such_database"));
}

/* ---- statements ------------------------------------------------------------------------ */

/* i k t u in, blob, text, bigint, NULL out; a value of 2^63 and more
 * comes back as it went. */
static void devices_round_trip(struct veld__sqlconn *c)
{
	const struct veld__sqldrv *d = c->drv;
	uint8_t dev[16], office[16], sign[32], box[32], auth[32], proof[32];
	const uint64_t enrolled = 0x8000000000000005ull;
	struct veld__sqlst *st;
	size_t n;
	fill(dev, 16, 1), fill(office, 16, 2), fill(sign, 32, 3), fill(box, 32, 4);
	fill(auth, 32, 5), fill(proof, 32, 6);
	assert_int_equal(run(c, S_DEV_INSERT, "ikktttukk", dev, sign, box, "t1", "worker",
	                     "Zo\xc3\xab \xe2\x98\x83", enrolled, auth, proof), VELD__SQL_DONE);
	assert_int_equal(d->changes(c), 1);
	assert_int_equal(run(c, S_DEV_INSERT, "ikktttukk", office, sign, box, "*", "office", "",
	                     (uint64_t)7, (const uint8_t *)NULL, (const uint8_t *)NULL),
	                 VELD__SQL_DONE);
	st = query(c, S_DEV_GET, "i", dev);
	assert_int_equal(d->step(c, st), VELD__SQL_ROW);
	assert_memory_equal(d->col_blob(st, 0, &n), dev, 16);
	assert_int_equal(n, 16);
	assert_memory_equal(d->col_blob(st, 2, &n), box, 32);
	assert_string_equal(d->col_text(st, 3), "t1");
	assert_string_equal(d->col_text(st, 5), "Zo\xc3\xab \xe2\x98\x83");
	assert_true(d->col_u64(st, 6) == enrolled);
	assert_true(d->col_null(st, 7) && d->col_u64(st, 7) == 0);
	assert_true(!d->col_null(st, 8) && d->col_u64(st, 8) == 0);
	assert_memory_equal(d->col_blob(st, 10, &n), proof, 32);
	assert_int_equal(d->step(c, st), VELD__SQL_DONE);
	d->reset(st);
	d->reset(st);
	st = query(c, S_DEV_OFFICE, "");
	assert_int_equal(d->step(c, st), VELD__SQL_ROW);
	assert_string_equal(d->col_text(st, 5), "");
	assert_true(d->col_null(st, 9) && d->col_blob(st, 9, &n) == NULL && n == 0);
	d->reset(st);
	assert_int_equal(run(c, S_DEV_SET_LAST, "iu", dev, (uint64_t)9), VELD__SQL_DONE);
	assert_int_equal(d->changes(c), 1);
	assert_int_equal(run(c, S_DEV_REVOKE, "iu", office, (uint64_t)3), VELD__SQL_DONE);
	assert_int_equal(run(c, S_DEV_REVOKE, "iu", office, (uint64_t)4), VELD__SQL_DONE);
	assert_int_equal(d->changes(c), 0); /* revoked already */
}

/* g e b in; an empty blob is no NULL; int4 columns (SELECT 0/1) and an
 * aggregate's NULL read as integers. */
static void keys_round_trip(struct veld__sqlconn *c)
{
	const struct veld__sqldrv *d = c->drv;
	uint8_t dev[16], pk[32], sig[64], old[VELD_SEALED_KEY_BYTES], sealed[VELD_SEALED_KEY_BYTES];
	uint8_t hash[32], kh[32];
	struct veld__sqlst *st;
	size_t n;
	fill(dev, 16, 1), fill(pk, 32, 7), fill(sig, 64, 8), fill(old, sizeof old, 12);
	fill(sealed, sizeof sealed, 9), fill(hash, 32, 10), fill(kh, 32, 11);
	assert_int_equal(run(c, S_TK_PUT, "tukg", "t1", (uint64_t)2, pk, sig), VELD__SQL_DONE);
	assert_int_equal(run(c, S_TKS_PUT, "tuie", "t1", (uint64_t)2, dev, old), VELD__SQL_DONE);
	assert_int_equal(run(c, S_TKS_PUT, "tuie", "t1", (uint64_t)2, dev, sealed), VELD__SQL_DONE);
	assert_int_equal(d->changes(c), 1); /* replaced, as INSERT OR REPLACE does */
	st = query(c, S_TKS_DEVICE, "i", dev);
	assert_int_equal(d->step(c, st), VELD__SQL_ROW);
	assert_string_equal(d->col_text(st, 0), "t1");
	assert_int_equal(d->col_u64(st, 1), 2);
	assert_memory_equal(d->col_blob(st, 3, &n), sealed, sizeof sealed);
	assert_int_equal(n, sizeof sealed);
	assert_memory_equal(d->col_blob(st, 4, &n), sig, 64);
	d->reset(st);
	st = query(c, S_TK_CURRENT, "t", "nobody");
	assert_int_equal(d->step(c, st), VELD__SQL_ROW);
	assert_true(d->col_null(st, 0) && d->col_u64(st, 0) == 0);
	d->reset(st);
	assert_int_equal(run(c, S_NOTICE_PUT, "tutubg", "t1", (uint64_t)1, "cert", (uint64_t)5,
	                     (const void *)"", (size_t)0, sig), VELD__SQL_DONE);
	st = query(c, S_NOTICE_GET, "tu", "t1", (uint64_t)1);
	assert_int_equal(d->step(c, st), VELD__SQL_ROW);
	assert_true(!d->col_null(st, 2) && d->col_blob(st, 2, &n) != NULL && n == 0);
	d->reset(st);
	assert_int_equal(run(c, S_ERASED_OP_PUT, "iuktik", dev, (uint64_t)4, hash, "t1", dev, kh),
	                 VELD__SQL_DONE);
	st = query(c, S_OP_HASH, "iu", dev, (uint64_t)4);
	assert_int_equal(d->step(c, st), VELD__SQL_ROW);
	assert_memory_equal(d->col_blob(st, 0, &n), hash, 32);
	assert_int_equal(d->col_u64(st, 1), 1);
	d->reset(st);
}

static void test_pg_driver__every_parameter_and_column_type_round_trips(void **state)
{
	struct fx *f = *state;
	struct veld__sstore *s = store_open(f);
	struct veld__sqlconn *c = take(s, 1);
	uint8_t dev[16];
	fill(dev, 16, 1);
	ok(c->drv->begin(c, 1));
	devices_round_trip(c);
	keys_round_trip(c);
	/* A letter the driver does not know fails at the step, and the
	 * transaction goes on. */
	assert_true(run(c, S_DEV_GET, "z", dev) < 0);
	assert_int_equal(run(c, S_DEV_GET, "i", dev), VELD__SQL_ROW);
	ok(c->drv->end(c, 0));
	/* Rolled back: nothing stays. */
	ok(c->drv->begin(c, 0));
	assert_int_equal(run(c, S_DEV_GET, "i", dev), VELD__SQL_DONE);
	ok(c->drv->end(c, 0));
	c->drv->give(c);
	store_close(s);
}

/* Statement i of the rules run once, bound as the rules bind it: it must
 * run, and it counts in `ran`. */
static void runs(struct veld__sqlconn *c, char ran[S__COUNT], int i, const char *types, ...)
{
	va_list ap;
	int rc;
	va_start(ap, types);
	rc = vrun(c, i, types, ap);
	va_end(ap);
	if (rc < 0)
		fail_msg("statement %d: %s", i, veld_error_last());
	ran[i] = 1;
}

/* Every statement of the rules, once, bound with the letters the rules
 * bind it with (server_store.c): each text is valid here with those
 * types. */
static void run_every_statement(struct veld__sqlconn *c, char ran[S__COUNT])
{
	uint8_t id[16], k[32], g[64], e[VELD_SEALED_KEY_BYTES];
	const uint64_t u = 1;
	const char *t = "t1";
	fill(id, 16, 1), fill(k, 32, 2), fill(g, 64, 3), fill(e, sizeof e, 4);
	runs(c, ran, S_DEV_INSERT, "ikktttukk", id, k, k, t, t, t, u, k, k);
	runs(c, ran, S_DEV_GET, "i", id);
	runs(c, ran, S_DEV_SET_LAST, "iu", id, u);
	runs(c, ran, S_DEV_REVOKE, "iu", id, u);
	runs(c, ran, S_DEV_OFFICE, "");
	runs(c, ran, S_DEV_LIST, "");
	runs(c, ran, S_INV_PUT, "kttuub", k, t, t, u, u, (const void *)e, sizeof e);
	runs(c, ran, S_INV_GET, "k", k);
	runs(c, ran, S_INV_USE, "ku", k, u);
	runs(c, ran, S_INV_OFFICE_LIVE, "u", u);
	runs(c, ran, S_OP_HASH, "iu", id, u);
	runs(c, ran, S_FEED_PUT, "iuti", id, u, t, id);
	runs(c, ran, S_FEED_ALL, "uu", u, u);
	runs(c, ran, S_FEED_TEAM, "uut", u, u, t);
	runs(c, ran, S_FEED_OFFICE, "uui", u, u, id);
	runs(c, ran, S_BATCH_PUT, "iuugu", id, u, u, g, u);
	runs(c, ran, S_BATCH_FIND, "iu", id, u);
	runs(c, ran, S_BATCH_HASHES, "iuu", id, u, u);
	runs(c, ran, S_CLIENT_PUT, "it", id, t);
	runs(c, ran, S_CLIENT_GET, "i", id);
	runs(c, ran, S_ENTITY_GET, "i", id);
	runs(c, ran, S_ENV_PUT, "iutuetig", id, u, t, u, e, t, id, g);
	runs(c, ran, S_ENV_PAGE, "tuu", t, u, u);
	runs(c, ran, S_TK_PUT, "tukg", t, u, k, g);
	runs(c, ran, S_TK_CURRENT, "t", t);
	runs(c, ran, S_TK_GET, "tu", t, u);
	runs(c, ran, S_TKS_PUT, "tuie", t, u, id, e);
	runs(c, ran, S_TKS_DEVICE, "i", id);
	runs(c, ran, S_AUDIT_PUT, "iubgu", id, u, (const void *)e, sizeof e, g, u);
	runs(c, ran, S_AUDIT_LAST, "i", id);
	runs(c, ran, S_AUDIT_PAGE, "uu", u, u);
	runs(c, ran, S_ERASED_OP_PUT, "iuktik", id, u, k, t, id, k);
	runs(c, ran, S_ERASE_OPS_OF, "i", id);
	runs(c, ran, S_ERASE_OPS, "i", id);
	runs(c, ran, S_ERASE_SUPERSEDED, "i", id);
	runs(c, ran, S_ERASE_CONFLICTS, "i", id);
	runs(c, ran, S_ERASE_ENTITIES, "i", id);
	runs(c, ran, S_ERASE_CLIENT, "i", id);
	runs(c, ran, S_ERASE_ENVELOPES, "i", id);
	runs(c, ran, S_ERASE_MERGE, "iu", id, u);
	runs(c, ran, S_ERASE_PUT, "itug", id, t, u, g);
	runs(c, ran, S_POLICY_PUT, "tuug", t, u, u, g);
	runs(c, ran, S_POLICY_PUT, "tuug", t, u, u, g);
	runs(c, ran, S_POLICY_GET, "t", t);
	runs(c, ran, S_MOVE_PUT, "ittug", id, t, t, u, g);
	runs(c, ran, S_MOVE_PUT, "ittug", id, t, t, u, g);
	runs(c, ran, S_MOVE_ENVELOPES, "i", id);
	runs(c, ran, S_TEAM_KNOWN, "t", t);
	runs(c, ran, S_NOTICE_PUT, "tutubg", t, u, t, u, (const void *)e, sizeof e, g);
	runs(c, ran, S_NOTICE_LAST, "t", t);
	runs(c, ran, S_NOTICE_GET, "tu", t, u);
	runs(c, ran, S_NOTICE_PAGE_ALL, "uu", u, u);
	runs(c, ran, S_NOTICE_PAGE_TEAM, "uut", u, u, t);
	runs(c, ran, S_CKPT_PUT, "tuubg", t, u, u, (const void *)e, sizeof e, g);
	runs(c, ran, S_CKPT_PUT, "tuubg", t, u, u, (const void *)e, sizeof e, g);
	runs(c, ran, S_CKPT_GET, "t", t);
}

static void test_pg_driver__every_statement_of_the_rules_runs(void **state)
{
	struct fx *f = *state;
	struct veld__sstore *s = store_open(f);
	struct veld__sqlconn *c = take(s, 1);
	char ran[S__COUNT] = {0};
	ok(c->drv->begin(c, 1));
	run_every_statement(c, ran);
	ok(c->drv->end(c, 1));
	for (int i = 0; i < S__COUNT; i++)
		if (!ran[i])
			fail_msg("statement %d did not run", i);
	c->drv->give(c);
	store_close(s);
}

/* Cursors come from the counters, past the clock; the same envelope again
 * is no error and no change; a duplicate feed row is an error that leaves
 * the connection usable. */
static void test_pg_driver__cursors_envelopes_and_a_duplicate(void **state)
{
	struct fx *f = *state;
	uint64_t before = now_ms() * 1024, c1, c2;
	struct veld__sstore *s = store_open(f);
	struct veld__sqlconn *c = take(s, 1);
	const struct veld__sqldrv *d = c->drv;
	uint8_t dev[16], client[16], sealed[VELD_SEALED_KEY_BYTES], sig[64];
	struct veld__sqlst *st;
	fill(dev, 16, 1), fill(client, 16, 2), fill(sealed, sizeof sealed, 3), fill(sig, 64, 4);
	ok(d->begin(c, 1));
	for (uint64_t seq = 1; seq <= 2; seq++) {
		assert_int_equal(run(c, S_FEED_PUT, "iuti", dev, seq, "t1", client), VELD__SQL_DONE);
		assert_int_equal(d->changes(c), 1);
	}
	for (int k = 0; k < 2; k++) {
		assert_int_equal(run(c, S_ENV_PUT, "iutuetig", client, (uint64_t)1, "team:t1",
		                     (uint64_t)1, sealed, "t1", dev, sig), VELD__SQL_DONE);
		assert_int_equal(d->changes(c), k == 0);
	}
	ok(d->end(c, 1));
	ok(d->begin(c, 0));
	st = query(c, S_FEED_ALL, "uu", (uint64_t)0, (uint64_t)10);
	assert_int_equal(d->step(c, st), VELD__SQL_ROW);
	c1 = d->col_u64(st, 0);
	assert_true(d->col_null(st, 1)); /* no operation held */
	assert_int_equal(d->step(c, st), VELD__SQL_ROW);
	c2 = d->col_u64(st, 0);
	assert_int_equal(d->step(c, st), VELD__SQL_DONE);
	d->reset(st);
	assert_true(c1 > before && c2 == c1 + 1);
	st = query(c, S_ENV_PAGE, "tuu", "team:t1", (uint64_t)0, (uint64_t)10);
	assert_int_equal(d->step(c, st), VELD__SQL_ROW);
	assert_int_equal(d->step(c, st), VELD__SQL_DONE);
	d->reset(st);
	ok(d->end(c, 0));
	ok(d->begin(c, 1));
	assert_int_equal(run(c, S_FEED_PUT, "iuti", dev, (uint64_t)2, "t1", client), VELD_EEXISTS);
	assert_string_equal(veld__err_sqlstate_last(), "23505");
	assert_non_null(strstr(veld_error_last(), "writing feed"));
	assert_false(d->retryable(c));
	ok(d->end(c, 0));
	ok(d->begin(c, 1));
	assert_int_equal(run(c, S_FEED_PUT, "iuti", dev, (uint64_t)3, "t1", client), VELD__SQL_DONE);
	ok(d->end(c, 1));
	d->give(c);
	store_close(s);
	assert_int_equal(veld_test_pg_int(f->conninfo, "SELECT count(*) FROM feed"), 3);
	/* A restart moves every counter past the clock again. */
	before = now_ms() * 1024;
	s = store_open(f);
	assert_true(veld_test_pg_int(f->conninfo, "SELECT min(last) FROM cursors") >= (long long)before);
	store_close(s);
}

/* A COMMIT after a failed statement is a failure, not a silent rollback. */
static void test_pg_driver__commit_after_a_failure_fails(void **state)
{
	struct fx *f = *state;
	struct veld__sstore *s = store_open(f);
	struct veld__sqlconn *c = take(s, 1);
	uint8_t dev[16], pk[32], sig[64];
	fill(dev, 16, 1), fill(pk, 32, 2), fill(sig, 64, 3);
	ok(c->drv->begin(c, 1));
	assert_int_equal(run(c, S_TK_PUT, "tukg", "t1", (uint64_t)1, pk, sig), VELD__SQL_DONE);
	assert_true(run(c, S_TK_PUT, "tukg", "t1", (uint64_t)1, pk, sig) < 0);
	assert_true(c->drv->end(c, 1) < 0);
	ok(c->drv->begin(c, 0)); /* out of the transaction */
	ok(c->drv->end(c, 0));
	c->drv->give(c);
	store_close(s);
	assert_int_equal(veld_test_pg_int(f->conninfo, "SELECT count(*) FROM team_keys"), 0);
}

/* ---- merge primitives: the same answers as SQLite's -------------------------------------- */

/* A table of primitives that logs every call and answer of the ones it
 * wraps, so two backends can be compared call by call. */
struct trace {
	const struct veld__merge_prims *p;
	void *db;
	char *log;
	size_t len, cap;
};

static void say(struct trace *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(struct trace *t, const char *fmt, ...)
{
	va_list ap;
	int n;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (t->len + (size_t)n + 2 > t->cap) {
		t->cap = (t->len + (size_t)n + 2) * 2;
		assert_non_null(t->log = realloc(t->log, t->cap));
	}
	va_start(ap, fmt);
	vsnprintf(t->log + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
	t->log[t->len++] = '\n';
	t->log[t->len] = '\0';
}

/* The first bytes of an id or a hash, enough to tell them apart. */
static unsigned long long tag(const uint8_t *p)
{
	unsigned long long v = 0;
	for (int i = 0; i < 6; i++)
		v = v << 8 | p[i];
	return v;
}

static int tr_op_hash(void *db, const uint8_t device[16], uint64_t seq, uint8_t hash[32],
                      int *found)
{
	struct trace *t = db;
	int rc = t->p->op_hash(t->db, device, seq, hash, found);
	say(t, "op_hash %llx %llu -> %d %d %llx", tag(device), (unsigned long long)seq, rc, *found,
	    *found ? tag(hash) : 0);
	return rc;
}

static int tr_op_insert(void *db, const veld__op *op, int head, const uint8_t *sup,
                        size_t sup_len, int *inserted)
{
	struct trace *t = db;
	int rc = t->p->op_insert(t->db, op, head, sup, sup_len, inserted);
	say(t, "op_insert %llx %llu %d %zu -> %d %d", tag(op->device), (unsigned long long)op->seq,
	    head, sup_len, rc, *inserted);
	return rc;
}

static int tr_op_unhead(void *db, const uint8_t device[16], uint64_t seq,
                        const uint8_t entity[16], const char *field, int *changed)
{
	struct trace *t = db;
	int rc = t->p->op_unhead(t->db, device, seq, entity, field, changed);
	say(t, "op_unhead %llx %llu %llx %s -> %d %d", tag(device), (unsigned long long)seq,
	    tag(entity), field, rc, *changed);
	return rc;
}

static int tr_op_any(void *db, const uint8_t entity[16], int *any)
{
	struct trace *t = db;
	int rc = t->p->op_any(t->db, entity, any);
	say(t, "op_any %llx -> %d %d", tag(entity), rc, *any);
	return rc;
}

static int tr_sup_check(void *db, const uint8_t device[16], uint64_t seq,
                        const uint8_t entity[16], const char *field, int *superseded)
{
	struct trace *t = db;
	int rc = t->p->sup_check(t->db, device, seq, entity, field, superseded);
	say(t, "sup_check %llx %llu %llx %s -> %d %d", tag(device), (unsigned long long)seq,
	    tag(entity), field, rc, *superseded);
	return rc;
}

static int tr_sup_insert(void *db, const uint8_t device[16], uint64_t seq,
                         const uint8_t entity[16], const char *field)
{
	struct trace *t = db;
	int rc = t->p->sup_insert(t->db, device, seq, entity, field);
	say(t, "sup_insert %llx %llu %llx %s -> %d", tag(device), (unsigned long long)seq,
	    tag(entity), field, rc);
	return rc;
}

static int tr_entity_get(void *db, const uint8_t entity[16], char kind[17], uint8_t client[16],
                         char team[65], int *found)
{
	struct trace *t = db;
	int rc = t->p->entity_get(t->db, entity, kind, client, team, found);
	say(t, "entity_get %llx -> %d %d %s %llx %s", tag(entity), rc, *found, *found ? kind : "",
	    *found ? tag(client) : 0, *found ? team : "");
	return rc;
}

static int tr_entity_upsert(void *db, const veld__op *op)
{
	struct trace *t = db;
	int rc = t->p->entity_upsert(t->db, op);
	say(t, "entity_upsert %llx %llu -> %d", tag(op->entity), (unsigned long long)op->hlc, rc);
	return rc;
}

static int tr_erased_check(void *db, const uint8_t client[16], int *erased)
{
	struct trace *t = db;
	int rc = t->p->erased_check(t->db, client, erased);
	say(t, "erased_check %llx -> %d %d", tag(client), rc, *erased);
	return rc;
}

static int tr_head_count(void *db, const uint8_t entity[16], const char *field, uint64_t *heads)
{
	struct trace *t = db;
	int rc = t->p->head_count(t->db, entity, field, heads);
	say(t, "head_count %llx %s -> %d %llu", tag(entity), field, rc, (unsigned long long)*heads);
	return rc;
}

static int tr_conflict_set(void *db, const uint8_t entity[16], const char *field, int on)
{
	struct trace *t = db;
	int rc = t->p->conflict_set(t->db, entity, field, on);
	say(t, "conflict_set %llx %s %d -> %d", tag(entity), field, on, rc);
	return rc;
}

static const struct veld__merge_prims trace_prims = {
	tr_op_hash,   tr_op_insert,     tr_op_unhead,    tr_op_any,       tr_sup_check,
	tr_sup_insert, tr_entity_get,   tr_entity_upsert, tr_erased_check, tr_head_count,
	tr_conflict_set,
};

/* The merge tables' rows, one a line, sorted, the same on both sides:
 * integers in decimal, text as is, blobs as \x and hex (PostgreSQL's text
 * form of bytea). */
static const char *const dump_sql[] = {
	"SELECT device, seq, hlc, kind, entity, client, team, kv, field, value, sup, hash, head,"
	" ver FROM ops",
	"SELECT device, seq, entity, field FROM superseded",
	"SELECT entity, kind, client, team, created FROM entities",
	"SELECT client, at FROM erased",
	"SELECT entity, field FROM conflicts",
};

static int line_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted lines into one string (the lines are freed). */
static char *lines_join(char **lines, size_t n)
{
	size_t len = 1;
	char *out;
	if (n)
		qsort(lines, n, sizeof *lines, line_cmp);
	for (size_t i = 0; i < n; i++)
		len += strlen(lines[i]) + 1;
	out = calloc(1, len);
	for (size_t i = 0; i < n; i++) {
		strcat(strcat(out, lines[i]), "\n");
		free(lines[i]);
	}
	free(lines);
	return out;
}

static char *dump_sqlite(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	char **lines = NULL;
	size_t n = 0;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		char *line = calloc(1, 1 << 16);
		size_t len = 0;
		for (int i = 0; i < sqlite3_column_count(st); i++) {
			int type = sqlite3_column_type(st, i);
			if (type == SQLITE_NULL)
				len += (size_t)sprintf(line + len, "|");
			else if (type == SQLITE_INTEGER)
				len += (size_t)sprintf(line + len, "%lld|", sqlite3_column_int64(st, i));
			else if (type == SQLITE_TEXT)
				len += (size_t)sprintf(line + len, "%s|", sqlite3_column_text(st, i));
			else {
				const uint8_t *p = sqlite3_column_blob(st, i);
				len += (size_t)sprintf(line + len, "\\x");
				for (int k = 0; k < sqlite3_column_bytes(st, i); k++)
					len += (size_t)sprintf(line + len, "%02x", p[k]);
				len += (size_t)sprintf(line + len, "|");
			}
		}
		lines = realloc(lines, (n + 1) * sizeof *lines);
		lines[n++] = line;
	}
	sqlite3_finalize(st);
	return lines_join(lines, n);
}

static char *dump_pg(PGconn *pg, const char *sql)
{
	PGresult *r = PQexec(pg, sql);
	char **lines;
	int n = PQntuples(r);
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	lines = calloc((size_t)n + 1, sizeof *lines);
	for (int row = 0; row < n; row++) {
		char *line = calloc(1, 1 << 16);
		size_t len = 0;
		for (int i = 0; i < PQnfields(r); i++)
			len += (size_t)sprintf(line + len, "%s|",
			                       PQgetisnull(r, row, i) ? "" : PQgetvalue(r, row, i));
		lines[row] = line;
	}
	PQclear(r);
	return lines_join(lines, (size_t)n);
}

static void states_equal(sqlite3 *db, const char *conninfo, int seed)
{
	PGconn *pg = PQconnectdb(conninfo);
	assert_int_equal(PQstatus(pg), CONNECTION_OK);
	for (size_t i = 0; i < sizeof dump_sql / sizeof dump_sql[0]; i++) {
		char *a = dump_sqlite(db, dump_sql[i]), *b = dump_pg(pg, dump_sql[i]);
		if (strcmp(a, b) != 0)
			fail_msg("seed %d, %s:\nSQLite:\n%s\nPostgreSQL:\n%s", seed, dump_sql[i], a, b);
		free(a);
		free(b);
	}
	PQfinish(pg);
}

#define NDEV 3
#define NENT 4
#define NOPS 40

/* A history: devices writing with partial knowledge of each other (so the
 * supersedes lists hold real concurrency), tombstones and empty values
 * among them, one record of a client that is erased, and a stamp of
 * 2^63. */
struct hist {
	veld__op ops[NOPS];
	veld__ref sups[NOPS][NDEV * 2];
	uint8_t val[NOPS][4];
	uint8_t erased_client[16];
};

static uint64_t rng;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

static void random_id(uint8_t id[16])
{
	for (int b = 0; b < 16; b++)
		id[b] = (uint8_t)rnd();
}

/* Operation i of the history, by device d on record e, superseding the
 * field's last few operations the device wrote or saw (approximately). */
static void history_op(struct hist *h, int i, const uint8_t dev[16], uint64_t seq,
                       const uint8_t ent[16], const uint8_t client[16])
{
	static const char *const fields[] = {"kind", "actions", "planned"};
	veld__op *op = &h->ops[i];
	op->version = 2;
	memcpy(op->device, dev, 16);
	op->seq = seq;
	op->hlc = 1 + rnd() % 8;
	snprintf(op->kind, sizeof op->kind, "visit");
	memcpy(op->entity, ent, 16);
	memcpy(op->client, client, 16);
	snprintf(op->team, sizeof op->team, "t");
	op->kv = 1;
	snprintf(op->field, sizeof op->field, "%s", fields[rnd() % 3]);
	for (int j = i - 1; j >= 0 && op->nsup < NDEV * 2; j--)
		if (!memcmp(h->ops[j].entity, ent, 16) && !strcmp(h->ops[j].field, op->field) &&
		    rnd() % 2) {
			memcpy(h->sups[i][op->nsup].device, h->ops[j].device, 16);
			h->sups[i][op->nsup++].seq = h->ops[j].seq;
		}
	op->sup = h->sups[i];
	fill(h->val[i], 4, (int)rnd());
	switch (rnd() % 5) {
	case 0: op->value = NULL; break;                 /* a tombstone */
	case 1: op->value = h->val[i]; op->value_len = 0; break; /* empty */
	default: op->value = h->val[i]; op->value_len = 4; break;
	}
	veld__op_hash(op);
}

static void history_make(struct hist *h)
{
	uint8_t dev[NDEV][16], ent[NENT][16], client[16];
	uint64_t seq[NDEV] = {0};
	memset(h, 0, sizeof *h);
	for (int d = 0; d < NDEV; d++)
		random_id(dev[d]);
	for (int e = 0; e < NENT; e++)
		random_id(ent[e]);
	random_id(client);
	random_id(h->erased_client);
	for (int i = 0; i < NOPS; i++) {
		int d = (int)(rnd() % NDEV), e = (int)(rnd() % NENT);
		history_op(h, i, dev[d], ++seq[d], ent[e], e == NENT - 1 ? h->erased_client : client);
	}
}

/* Apply the history in a random order, each operation once or twice, and
 * an equivocation and a change of kind (both refused). */
static void history_apply(struct veld__merge *m, struct hist *h, uint64_t seed)
{
	int order[NOPS * 2], n = 0, applied, kept = 0;
	veld__op bad;
	rng = seed;
	while (!memcmp(h->ops[kept].client, h->erased_client, 16))
		kept++; /* the refusals need an operation that is not dropped */
	for (int i = 0; i < NOPS; i++) {
		order[n++] = i;
		if (rnd() % 3 == 0)
			order[n++] = i;
	}
	for (int i = n - 1; i > 0; i--) {
		int j = (int)(rnd() % (unsigned)(i + 1)), x = order[i];
		order[i] = order[j];
		order[j] = x;
	}
	for (int i = 0; i < n; i++)
		ok(veld__merge_apply(m, &h->ops[order[i]], &applied));
	bad = h->ops[kept];
	bad.hlc += 100;
	veld__op_hash(&bad);
	assert_int_equal(veld__merge_apply(m, &bad, &applied), VELD_ECORRUPT);
	bad = h->ops[kept];
	bad.seq += 1000;
	snprintf(bad.kind, sizeof bad.kind, "client");
	veld__op_hash(&bad);
	assert_int_equal(veld__merge_apply(m, &bad, &applied), VELD_ECORRUPT);
}

static sqlite3 *sqlite_merge_db(struct veld__merge *m)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, veld__merge_schema, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "ALTER TABLE ops ADD COLUMN ver INTEGER NOT NULL DEFAULT 1",
	                              NULL, NULL, NULL), SQLITE_OK);
	ok(veld__merge_open(m, db));
	return db;
}

static void sqlite_erase(sqlite3 *db, const uint8_t client[16])
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO erased(client, at) VALUES(?1, 5)", -1,
	                                    &st, NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, client, 16, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
}

static void traces_equal(const struct trace *a, const struct trace *b, int seed)
{
	if (strcmp(a->log, b->log) != 0)
		fail_msg("seed %d: the primitives answered differently:\nSQLite:\n%s\nPostgreSQL:\n%s",
		         seed, a->log, b->log);
}

/* The same histories, in the same orders, through the merge rule on
 * SQLite and on the driver: every primitive call gets the same answer, and
 * the tables end the same. */
static void test_pg_driver__merge_answers_as_sqlite_does(void **state)
{
	struct fx *f = *state;
	struct veld__sstore *s = store_open(f);
	struct veld__sqlconn *c = take(s, 1);
	static struct hist h;
	for (int seed = 1; seed <= 12; seed++) {
		struct trace ts = {0}, tp = {0};
		struct veld__merge sq, msq, mpg;
		sqlite3 *db = sqlite_merge_db(&sq);
		rng = (uint64_t)seed * 0x9E3779B97F4A7C15ull;
		history_make(&h);
		ts.p = sq.p, ts.db = sq.db, tp.p = c->merge.p, tp.db = c->merge.db;
		veld__merge_open_on(&msq, &trace_prims, &ts);
		veld__merge_open_on(&mpg, &trace_prims, &tp);
		sqlite_erase(db, h.erased_client);
		ok(c->drv->begin(c, 1));
		assert_int_equal(run(c, S_ERASE_MERGE, "iu", h.erased_client, (uint64_t)5),
		                 VELD__SQL_DONE);
		history_apply(&msq, &h, (uint64_t)seed);
		history_apply(&mpg, &h, (uint64_t)seed);
		ok(c->drv->end(c, 1));
		traces_equal(&ts, &tp, seed);
		states_equal(db, f->conninfo, seed);
		veld_test_pg_exec(f->conninfo, "TRUNCATE ops, superseded, entities, erased, conflicts");
		veld__merge_close(&sq);
		sqlite3_close(db);
		free(ts.log);
		free(tp.log);
	}
	c->drv->give(c);
	store_close(s);
}

/* Each primitive on its edge cases: held again, NULL and empty values, a
 * stamp of 2^63 and more, a supersession again, a creation stamp lowered
 * and not raised, a conflict set twice and cleared twice. */
static void prims_script(const struct veld__merge_prims *p, void *db)
{
	veld__op a, b;
	veld__ref ref;
	uint8_t sup[24], hash[32];
	char kind[17], team[65];
	uint8_t client[16];
	uint64_t heads;
	int x;
	memset(&a, 0, sizeof a);
	a.version = 2;
	fill(a.device, 16, 1), fill(a.entity, 16, 2), fill(a.client, 16, 3), fill(a.hash, 32, 4);
	a.seq = 1, a.hlc = 100, a.kv = 1;
	snprintf(a.kind, sizeof a.kind, "visit");
	snprintf(a.team, sizeof a.team, "t");
	snprintf(a.field, sizeof a.field, "planned");
	b = a;
	b.version = 1, b.seq = 2, b.hlc = 0x8000000000000001ull;
	b.value = (const uint8_t *)"", b.value_len = 0;
	fill(b.hash, 32, 5);
	memcpy(ref.device, a.device, 16), ref.seq = 1;
	veld__sup_encode(sup, &ref, 1);
	p->op_insert(db, &a, 1, NULL, 0, &x), p->op_insert(db, &a, 1, NULL, 0, &x);
	p->op_insert(db, &b, 0, sup, sizeof sup, &x);
	p->op_hash(db, a.device, 1, hash, &x), p->op_hash(db, a.device, 9, hash, &x);
	p->op_unhead(db, a.device, 1, a.entity, "planned", &x);
	p->op_unhead(db, a.device, 1, a.entity, "planned", &x);
	p->op_unhead(db, a.device, 1, a.entity, "kind", &x);
	p->op_any(db, a.entity, &x), p->op_any(db, a.client, &x);
	p->sup_check(db, a.device, 7, a.entity, "kind", &x);
	p->sup_insert(db, a.device, 7, a.entity, "kind"), p->sup_insert(db, a.device, 7, a.entity, "kind");
	p->sup_check(db, a.device, 7, a.entity, "kind", &x);
	p->entity_get(db, a.entity, kind, client, team, &x);
	p->entity_upsert(db, &a), p->entity_get(db, a.entity, kind, client, team, &x);
	a.hlc = 200, p->entity_upsert(db, &a);
	a.hlc = 50, p->entity_upsert(db, &a);
	p->entity_upsert(db, &b);
	p->erased_check(db, a.client, &x);
	p->head_count(db, a.entity, "planned", &heads), p->head_count(db, a.entity, "kind", &heads);
	p->conflict_set(db, a.entity, "planned", 1), p->conflict_set(db, a.entity, "planned", 1);
	p->conflict_set(db, a.entity, "kind", 1), p->conflict_set(db, a.entity, "kind", 0);
	p->conflict_set(db, a.entity, "kind", 0);
}

static void test_pg_driver__primitives_on_edge_cases_answer_as_sqlite_does(void **state)
{
	struct fx *f = *state;
	struct veld__sstore *s = store_open(f);
	struct veld__sqlconn *c = take(s, 1);
	struct trace ts = {0}, tp = {0};
	struct veld__merge sq;
	sqlite3 *db = sqlite_merge_db(&sq);
	ts.p = sq.p, ts.db = sq.db, tp.p = c->merge.p, tp.db = c->merge.db;
	prims_script(&trace_prims, &ts);
	ok(c->drv->begin(c, 1));
	prims_script(&trace_prims, &tp);
	ok(c->drv->end(c, 1));
	traces_equal(&ts, &tp, 0);
	assert_null(strstr(tp.log, "-> -")); /* no primitive failed */
	states_equal(db, f->conninfo, 0);
	veld__merge_close(&sq);
	sqlite3_close(db);
	free(ts.log);
	free(tp.log);
	c->drv->give(c);
	store_close(s);
}

/* ---- nonces ------------------------------------------------------------------------------- */

static int record(struct veld__sqlconn *c, const uint8_t dev[16], int n, uint64_t time_ms,
                  uint64_t now)
{
	uint8_t nonce[16];
	int fresh = -1;
	fill(nonce, 16, 100 + n);
	ok(c->drv->nonce_record(c, dev, nonce, time_ms, now, &fresh));
	return fresh;
}

static int seen(struct veld__sqlconn *c, const uint8_t dev[16], int n)
{
	uint8_t nonce[16];
	int yes = -1;
	fill(nonce, 16, 100 + n);
	ok(c->drv->nonce_seen(c, dev, nonce, &yes));
	return yes;
}

/* Recorded once across processes; a rolled back write keeps none; old
 * ones go at most once a minute, only outside a write (never under the
 * write lock), and a prune that fails costs the request nothing. */
static void test_pg_driver__nonces_recorded_once_and_pruned(void **state)
{
	struct fx *f = *state;
	struct veld__sstore *a = store_open(f), *b = store_open(f);
	struct veld__sqlconn *ca = take(a, 0), *cb = take(b, 0);
	const uint64_t w2 = 2 * (uint64_t)VELD_AUTH_WINDOW_MS, later = 10 * w2;
	uint8_t dev[16];
	fill(dev, 16, 1);
	assert_int_equal(record(ca, dev, 1, 1000, 1000), 1);
	assert_int_equal(record(ca, dev, 1, 1000, 1000), 0);
	assert_int_equal(record(cb, dev, 1, 1000, 1000), 0);
	assert_int_equal(seen(cb, dev, 1), 1);
	ok(ca->drv->begin(ca, 1));
	assert_int_equal(record(ca, dev, 2, 1000, 1000), 1);
	ok(ca->drv->end(ca, 0));
	assert_int_equal(seen(ca, dev, 2), 0);
	/* Inside a write: no prune. */
	ok(cb->drv->begin(cb, 1));
	assert_int_equal(record(cb, dev, 3, later, later), 1);
	assert_int_equal(run(cb, S_DEV_GET, "i", dev), VELD__SQL_DONE);
	ok(cb->drv->end(cb, 1));
	assert_int_equal(seen(cb, dev, 1), 1);
	/* After a read: the old ones go. */
	assert_int_equal(record(cb, dev, 30, later, later), 1);
	assert_int_equal(seen(cb, dev, 1), 0);
	assert_int_equal(seen(cb, dev, 3), 1);
	/* Not again within a minute; a failed one is tried again. */
	assert_int_equal(record(cb, dev, 4, 1000, later + 1000), 1);
	assert_int_equal(seen(cb, dev, 4), 1);
	veld_test_pg_exec(f->conninfo, "CREATE FUNCTION no_delete() RETURNS trigger LANGUAGE plpgsql AS"
	           " $$BEGIN RAISE EXCEPTION 'no'; END$$;"
	           " CREATE TRIGGER no_delete BEFORE DELETE ON nonces"
	           " FOR EACH STATEMENT EXECUTE FUNCTION no_delete()");
	assert_int_equal(record(cb, dev, 5, later, later + 61000), 1);
	assert_int_equal(seen(cb, dev, 4), 1);
	assert_int_equal(seen(cb, dev, 5), 1);
	veld_test_pg_exec(f->conninfo, "DROP TRIGGER no_delete ON nonces");
	assert_int_equal(record(cb, dev, 6, later, later + 62000), 1);
	assert_int_equal(seen(cb, dev, 4), 0);
	ca->drv->give(ca);
	cb->drv->give(cb);
	store_close(a);
	store_close(b);
}

/* ---- the write lock, snapshots ---------------------------------------------------------- */

struct writer {
	struct veld__sstore *s;
	int began, rc;
};

/* A second process's write (no cmocka asserts off the main thread). */
static void *writer_thread(void *arg)
{
	struct writer *w = arg;
	struct veld__sqlconn *c = drv_of(w->s)->take((struct veld__sqlstore *)w->s, 1);
	w->rc = c->drv->begin(c, 1);
	__atomic_store_n(&w->began, 1, __ATOMIC_SEQ_CST);
	if (w->rc == VELD_OK)
		w->rc = c->drv->end(c, 1);
	c->drv->give(c);
	return NULL;
}

/* A write waits for another process's write to commit; a read waits for
 * neither and sees the last commit. */
static void test_pg_driver__a_second_writer_waits_and_readers_do_not(void **state)
{
	struct fx *f = *state;
	struct veld__sstore *a = store_open(f), *b = store_open(f);
	struct veld__sqlconn *ca = take(a, 1), *cr;
	struct writer w = {b, 0, -1};
	uint8_t dev[16], client[16];
	pthread_t t;
	fill(dev, 16, 1), fill(client, 16, 2);
	ok(ca->drv->begin(ca, 1));
	assert_int_equal(run(ca, S_FEED_PUT, "iuti", dev, (uint64_t)1, "t1", client), VELD__SQL_DONE);
	assert_int_equal(pthread_create(&t, NULL, writer_thread, &w), 0);
	usleep(300 * 1000);
	assert_int_equal(__atomic_load_n(&w.began, __ATOMIC_SEQ_CST), 0);
	cr = take(b, 0);
	ok(cr->drv->begin(cr, 0));
	assert_int_equal(run(cr, S_FEED_ALL, "uu", (uint64_t)0, (uint64_t)10), VELD__SQL_DONE);
	ok(cr->drv->end(cr, 0));
	cr->drv->give(cr);
	ok(ca->drv->end(ca, 1));
	pthread_join(t, NULL);
	assert_int_equal(w.began, 1);
	ok(w.rc);
	ca->drv->give(ca);
	store_close(a);
	store_close(b);
}

static int team_key_current(struct veld__sqlconn *c, uint64_t *tv)
{
	struct veld__sqlst *st = query(c, S_TK_CURRENT, "t", "t1");
	int rc = c->drv->step(c, st), null = c->drv->col_null(st, 0);
	assert_int_equal(rc, VELD__SQL_ROW);
	*tv = c->drv->col_u64(st, 0);
	c->drv->reset(st);
	return !null;
}

/* A read sees one snapshot to its end, and writes nothing. */
static void test_pg_driver__a_read_sees_one_snapshot(void **state)
{
	struct fx *f = *state;
	struct veld__sstore *a = store_open(f), *b = store_open(f);
	struct veld__sqlconn *r = take(a, 0), *w = take(b, 1);
	uint8_t pk[32], sig[64];
	uint64_t tv;
	fill(pk, 32, 1), fill(sig, 64, 2);
	ok(r->drv->begin(r, 0));
	assert_false(team_key_current(r, &tv));
	ok(w->drv->begin(w, 1));
	assert_int_equal(run(w, S_TK_PUT, "tukg", "t1", (uint64_t)1, pk, sig), VELD__SQL_DONE);
	ok(w->drv->end(w, 1));
	assert_false(team_key_current(r, &tv));
	assert_true(run(r, S_TK_PUT, "tukg", "t1", (uint64_t)2, pk, sig) < 0);
	assert_string_equal(veld__err_sqlstate_last(), "25006");
	assert_false(r->drv->retryable(r));
	ok(r->drv->end(r, 0));
	ok(r->drv->begin(r, 0));
	assert_true(team_key_current(r, &tv) && tv == 1);
	ok(r->drv->end(r, 0));
	r->drv->give(r);
	w->drv->give(w);
	store_close(a);
	store_close(b);
}

/* ---- a lost connection ------------------------------------------------------------------ */

/* Terminate every other session on the test database, and wait until
 * they are gone. */
static void terminate_others(const char *conninfo)
{
	veld_test_pg_exec(conninfo, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
	           " WHERE datname = current_database() AND pid <> pg_backend_pid()");
	for (int i = 0; i < 200; i++) {
		if (veld_test_pg_int(conninfo, "SELECT count(*) FROM pg_stat_activity WHERE datname ="
		              " current_database() AND pid <> pg_backend_pid()") == 0)
			return;
		usleep(10 * 1000);
	}
	fail_msg("the sessions do not end");
}

static void lost_is_retryable(struct veld__sqlconn *c, int rc)
{
	const char *state = veld__err_sqlstate_last();
	assert_int_equal(rc, VELD_EIO);
	assert_true(c->drv->retryable(c));
	assert_true(strcmp(state, "57P01") == 0 || strcmp(state, "08006") == 0);
}

/* Lost inside a transaction: retryable, and the connection works again at
 * its next use (statements prepared anew). Lost while idle: found and
 * opened again before it is used. Lost before COMMIT: retryable, nothing
 * was written. */
static void test_pg_driver__a_lost_connection_is_retryable(void **state)
{
	struct fx *f = *state;
	struct veld__sstore *s = store_open(f);
	struct veld__sqlconn *c = take(s, 1);
	uint8_t dev[16], key[32];
	fill(dev, 16, 1), fill(key, 32, 2);
	ok(c->drv->begin(c, 1));
	assert_int_equal(run(c, S_DEV_GET, "i", dev), VELD__SQL_DONE);
	terminate_others(f->conninfo);
	lost_is_retryable(c, run(c, S_DEV_GET, "i", dev));
	ok(c->drv->end(c, 0));
	c->drv->give(c);
	c = take(s, 1);
	ok(c->drv->begin(c, 1));
	assert_int_equal(run(c, S_DEV_GET, "i", dev), VELD__SQL_DONE);
	ok(c->drv->end(c, 1));
	terminate_others(f->conninfo);
	ok(c->drv->begin(c, 1));
	assert_int_equal(run(c, S_DEV_INSERT, "ikktttukk", dev, key, key, "t", "worker", "",
	                     (uint64_t)1, key, key), VELD__SQL_DONE);
	terminate_others(f->conninfo);
	lost_is_retryable(c, c->drv->end(c, 1));
	ok(c->drv->end(c, 0));
	assert_int_equal(veld_test_pg_int(f->conninfo, "SELECT count(*) FROM devices"), 0);
	ok(c->drv->begin(c, 0));
	ok(c->drv->end(c, 0));
	c->drv->give(c);
	store_close(s);
}

/* A connection that comes back moves the cursors past the clock again at
 * its first write: a database that lost its last commits (a failover to a
 * standby behind, a restore under running servers) must not hand out
 * again cursors devices have passed. */
static void test_pg_driver__a_new_session_moves_the_cursors_past_the_clock(void **state)
{
	struct fx *f = *state;
	struct veld__sstore *s = store_open(f);
	struct veld__sqlconn *c = take(s, 1);
	uint64_t floor;
	/* The counter set back, as a database that lost commits would be. */
	veld_test_pg_exec(f->conninfo, "UPDATE cursors SET last = 5");
	ok(c->drv->begin(c, 1));
	ok(c->drv->end(c, 1));
	assert_int_equal(veld_test_pg_int(f->conninfo, "SELECT max(last) FROM cursors"), 5);
	terminate_others(f->conninfo);
	floor = now_ms() * 1024;
	c->drv->give(c);
	c = take(s, 1);
	ok(c->drv->begin(c, 1));
	ok(c->drv->end(c, 1));
	assert_true((uint64_t)veld_test_pg_int(f->conninfo, "SELECT min(last) FROM cursors") >= floor);
	c->drv->give(c);
	store_close(s);
}

/* A database in another encoding than UTF-8 is refused at open, with a
 * message that says what to do. */
static void test_pg_driver__a_database_not_in_utf8_is_refused(void **state)
{
	struct fx *f = *state;
	struct veld__sstore *s = NULL;
	char name[64], conninfo[600];
	const char *db = strstr(f->conninfo, "dbname=");
	assert_non_null(db);
	snprintf(name, sizeof name, "veld_latin1_%d", (int)getpid());
	{
		char sql[200];
		snprintf(sql, sizeof sql, "CREATE DATABASE %s ENCODING 'LATIN1' TEMPLATE template0"
		         " LC_COLLATE 'C' LC_CTYPE 'C'", name);
		veld_test_pg_exec(f->conninfo, sql);
	}
	snprintf(conninfo, sizeof conninfo, "%.*sdbname=%s", (int)(db - f->conninfo), f->conninfo,
	         name);
	assert_int_equal(veld__sstore_pg_open(&s, conninfo, 2), VELD_EINVAL);
	assert_null(s);
	assert_non_null(strstr(veld_error_last(), "not in UTF-8"));
	{
		char sql[100];
		snprintf(sql, sizeof sql, "DROP DATABASE %s", name);
		veld_test_pg_exec(f->conninfo, sql);
	}
}

/* ---- main ---------------------------------------------------------------------------------- */

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_pg_driver__processes_starting_at_once_migrate_once),
		T(test_pg_driver__no_database_no_store),
		T(test_pg_driver__every_parameter_and_column_type_round_trips),
		T(test_pg_driver__every_statement_of_the_rules_runs),
		T(test_pg_driver__cursors_envelopes_and_a_duplicate),
		T(test_pg_driver__commit_after_a_failure_fails),
		T(test_pg_driver__merge_answers_as_sqlite_does),
		T(test_pg_driver__primitives_on_edge_cases_answer_as_sqlite_does),
		T(test_pg_driver__nonces_recorded_once_and_pruned),
		T(test_pg_driver__a_second_writer_waits_and_readers_do_not),
		T(test_pg_driver__a_read_sees_one_snapshot),
		T(test_pg_driver__a_lost_connection_is_retryable),
		T(test_pg_driver__a_new_session_moves_the_cursors_past_the_clock),
		T(test_pg_driver__a_database_not_in_utf8_is_refused),
	};
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
