/* test_e2e_office.c - the office's duties against a server it does not
 * trust: revocation (the team and last seq are the office's own), team keys
 * for devices certified after a rotation, its invites' single use and
 * expiry, and a device that notices a server claiming to hold its
 * operations. The server is the real `veld serve`; where a test plays a
 * malicious server it edits the server's database between requests. */
#include "e2e.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------------ */

/* The number a query gives on DIR/FILE, read-only; -1 if it does not run. */
static int64_t db_scalar(const char *dir, const char *file, const char *sql)
{
	char path[600];
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t n = -1;
	if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path)
		fail_msg("path too long");
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static int64_t store_q(const char *tmp, const char *name, const char *sql)
{
	char dir[600];
	snprintf(dir, sizeof dir, "%s/%s", tmp, name);
	return db_scalar(dir, "veld.db", sql);
}

/* Change a device's row in the server's database (the malicious server):
 * `UPDATE devices SET <set>` for the device of hex id `dev`; the number of
 * rows it changed. */
static int64_t server_set_device(const struct e2e_server *srv, const char *set, const char *dev)
{
	char sql[300], lit[64];
	snprintf(sql, sizeof sql, "UPDATE devices SET %s WHERE device = %s", set,
	         e2e_blob(lit, sizeof lit, dev));
	return e2e_server_exec(srv, sql);
}

static char *device_id(veld_store *s)
{
	char *out = NULL, *id;
	json_t *info;
	ok(veld_store_info(s, &out));
	info = json_loads(out, 0, NULL);
	veld_free(out);
	id = strdup(json_string_value(json_object_get(info, "device")));
	json_decref(info);
	return id;
}

/* A sync's summary; the caller frees it (json_decref). */
static json_t *sync_summary(veld_store *s)
{
	char *out = NULL;
	json_t *j;
	ok(veld_sync(s, NULL, &out));
	j = json_loads(out, 0, NULL);
	veld_free(out);
	assert_non_null(j);
	return j;
}

/* Does one of the summary's warnings contain `needle`? */
static int warns(const json_t *summary, const char *needle)
{
	const json_t *w = json_object_get(summary, "warnings"), *v;
	size_t i;
	json_array_foreach(w, i, v)
		if (strstr(json_string_value(v), needle))
			return 1;
	return 0;
}

struct fx {
	char *tmp, data[512];
	struct e2e_server srv;
	veld_store *office;
};

static void fx_start(struct fx *f)
{
	memset(f, 0, sizeof *f);
	f->tmp = e2e_tmpdir();
	snprintf(f->data, sizeof f->data, "%s/server", f->tmp);
	e2e_server_start(&f->srv, f->data, 0);
	f->office = e2e_office(&f->srv, f->tmp);
}

static void fx_stop(struct fx *f)
{
	veld_store_free(f->office);
	e2e_server_stop(&f->srv, SIGTERM);
	e2e_rm_rf(f->tmp);
	free(f->tmp);
}

/* ---- revocation: the office's own team and last seq (review finding 5) --------------- */

/* The server says the device is of another team: the office announces
 * nothing, to neither team, and says why. */
static void test_e2e_office__revoke_refuses_the_team_the_server_names(void **state)
{
	struct fx f;
	veld_store *a, *b, *z;
	char *dev_b, sql[300], *c;
	(void)state;
	fx_start(&f);
	a = e2e_device(&f.srv, f.office, f.tmp, "anna", "noord");
	b = e2e_device(&f.srv, f.office, f.tmp, "bram", "noord");
	z = e2e_device(&f.srv, f.office, f.tmp, "zoe", "zuid");
	c = e2e_create(b, "client", "{\"name\":\"Bram's\"}");
	e2e_sync(b);
	e2e_sync(f.office);
	dev_b = device_id(b);
	assert_int_equal(server_set_device(&f.srv, "team = 'zuid'", dev_b), 1);

	assert_int_equal(veld_office_revoke(f.office, dev_b, NULL), VELD_EPROTO);
	assert_non_null(strstr(veld_error_last(), "certified it for team noord"));
	/* Nothing was signed: no revocation in any team, the certificate
	 * stands, and zuid's key was not rotated. */
	assert_int_equal(store_q(f.tmp, "office", "SELECT count(*) FROM notices WHERE kind = 'revoke'"),
	                 0);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM certs WHERE device = x'%s' AND"
	         " revoked_seq IS NULL AND team = 'noord'", dev_b);
	assert_int_equal(store_q(f.tmp, "office", sql), 1);
	assert_int_equal(store_q(f.tmp, "office", "SELECT max(tv) FROM team_keys WHERE team = 'zuid'"),
	                 1);
	veld_store_free(a);
	veld_store_free(b);
	veld_store_free(z);
	free(dev_b);
	free(c);
	fx_stop(&f);
}

/* The revocation's last seq is what the office received and verified, not
 * the server's `acked`: one below it would make every device that has not
 * seen the device's work yet refuse it; one above it is said in the next
 * summary. */
static void test_e2e_office__revoke_last_seq_is_what_the_office_verified(void **state)
{
	struct fx f;
	veld_store *a, *b, *cc;
	char *dev_b, sql[300], *c1, *c2;
	json_t *sum;
	uint64_t seen;
	(void)state;
	fx_start(&f);
	a = e2e_device(&f.srv, f.office, f.tmp, "anna", "noord");
	b = e2e_device(&f.srv, f.office, f.tmp, "bram", "noord");
	c1 = e2e_create(b, "client", "{\"name\":\"First\"}");
	c2 = e2e_create(b, "client", "{\"name\":\"Second\"}");
	e2e_sync(b);
	e2e_sync(f.office);
	dev_b = device_id(b);
	snprintf(sql, sizeof sql, "SELECT seen FROM authors WHERE device = x'%s'", dev_b);
	seen = (uint64_t)store_q(f.tmp, "office", sql);
	assert_true(seen >= 2);
	/* The server answers the revocation with acked 0. */
	assert_int_equal(server_set_device(&f.srv, "last_seq = 0", dev_b), 1);
	ok(veld_office_revoke(f.office, dev_b, NULL));
	snprintf(sql, sizeof sql, "SELECT revoked_seq FROM certs WHERE device = x'%s'", dev_b);
	assert_int_equal(store_q(f.tmp, "office", sql), (int64_t)seen);
	/* A device enrolled afterwards takes Bram's work in: nothing of it is
	 * refused as written after the revocation. */
	cc = e2e_device(&f.srv, f.office, f.tmp, "cora", "noord");
	e2e_sync(cc);
	/* (Bram's own key envelopes are kept aside as a revoked device's; the
	 * office shared those keys again when it rotated.) */
	assert_int_equal(store_q(f.tmp, "cora", "SELECT count(*) FROM quarantine WHERE"
	                         " what = 'operation'"), 0);
	assert_int_equal(e2e_count(cc, "client"), 2);
	veld_store_free(a);
	veld_store_free(b);
	veld_store_free(cc);
	free(dev_b);
	free(c1);
	free(c2);
	fx_stop(&f);

	/* The server claims more than it delivered: the office signs what it
	 * holds, and its next sync summary says so. */
	fx_start(&f);
	a = e2e_device(&f.srv, f.office, f.tmp, "anna", "noord");
	b = e2e_device(&f.srv, f.office, f.tmp, "bram", "noord");
	c1 = e2e_create(b, "client", "{\"name\":\"First\"}");
	e2e_sync(b);
	e2e_sync(f.office);
	dev_b = device_id(b);
	snprintf(sql, sizeof sql, "SELECT seen FROM authors WHERE device = x'%s'", dev_b);
	seen = (uint64_t)store_q(f.tmp, "office", sql);
	assert_int_equal(server_set_device(&f.srv, "last_seq = last_seq + 5", dev_b), 1);
	ok(veld_office_revoke(f.office, dev_b, NULL));
	snprintf(sql, sizeof sql, "SELECT revoked_seq FROM certs WHERE device = x'%s'", dev_b);
	assert_int_equal(store_q(f.tmp, "office", sql), (int64_t)seen);
	sum = sync_summary(f.office);
	assert_true(warns(sum, "the server claimed to hold operations up to"));
	json_decref(sum);
	/* Shown once. */
	sum = sync_summary(f.office);
	assert_false(warns(sum, "the server claimed to hold operations up to"));
	json_decref(sum);
	e2e_sync(a);
	assert_int_equal(store_q(f.tmp, "anna", "SELECT count(*) FROM quarantine WHERE"
	                         " what = 'operation'"), 0);
	veld_store_free(a);
	veld_store_free(b);
	free(dev_b);
	free(c1);
	fx_stop(&f);
}

/* A device the office never certified has no team to tell: the revocation
 * is refused as an announcement, the server refuses the device, and the
 * office never certifies it, even if the server lists it again. */
static void test_e2e_office__revoke_of_an_uncertified_device(void **state)
{
	struct fx f;
	veld_store *u;
	char *dev_u;
	json_t *sum;
	(void)state;
	fx_start(&f);
	u = e2e_device_uncertified(&f.srv, f.office, f.tmp, "uwe", "noord");
	dev_u = device_id(u);
	ok(veld_office_revoke(f.office, dev_u, NULL)); /* done: the server refuses it */
	assert_int_equal(store_q(f.tmp, "office", "SELECT count(*) FROM notices WHERE kind = 'revoke'"),
	                 0);
	/* The server lists it as not revoked again, with its genuine proof. */
	assert_int_equal(server_set_device(&f.srv, "revoked = NULL", dev_u), 1);
	sum = sync_summary(f.office);
	json_decref(sum);
	assert_int_equal(store_q(f.tmp, "office", "SELECT count(*) FROM certs"), 0);
	veld_store_free(u);
	free(dev_u);
	fx_stop(&f);
}

/* ---- team keys for a device certified after a rotation (review finding 15) ------------ */

/* Anna, Bram and the office; Anna writes a client under team key version
 * 1, then Bram is revoked (version 2). *c_out gets the client. */
static void rotated_team(struct fx *f, veld_store **a, char **c_out)
{
	veld_store *b;
	char *dev_b;
	*a = e2e_device(&f->srv, f->office, f->tmp, "anna", "noord");
	b = e2e_device(&f->srv, f->office, f->tmp, "bram", "noord");
	*c_out = e2e_create(*a, "client", "{\"name\":\"Before\"}");
	e2e_sync(*a);
	e2e_sync(b);
	e2e_sync(f->office);
	dev_b = device_id(b);
	ok(veld_office_revoke(f->office, dev_b, NULL));
	veld_store_free(b);
	free(dev_b);
	e2e_sync(*a);
	assert_int_equal(store_q(f->tmp, "anna", "SELECT max(tv) FROM team_keys"), 2);
}

/* Bram's replacement enrolls after the rotation: it gets every version of
 * the team key, reads what was written under each, and syncs cleanly. */
static void test_e2e_office__new_device_after_rotation_gets_every_team_key(void **state)
{
	struct fx f;
	veld_store *a, *cc;
	char *c, *out = NULL, *d;
	json_t *sum;
	(void)state;
	fx_start(&f);
	rotated_team(&f, &a, &c);
	/* Written after the rotation: client key version 2, sealed to team key
	 * version 2. */
	ok(veld_record_update(a, "client", c, "{\"phone\":\"0611111111\"}", NULL, NULL));
	d = e2e_create(a, "client", "{\"name\":\"After\"}");
	e2e_sync(a);
	cc = e2e_device(&f.srv, f.office, f.tmp, "cora", "noord");
	sum = sync_summary(cc);
	json_decref(sum);
	assert_int_equal(store_q(f.tmp, "cora", "SELECT count(*) FROM team_keys WHERE team = 'noord'"
	                         " AND tv IN (1, 2)"), 2);
	ok(veld_record_get(cc, "client", c, NULL, &out));
	assert_non_null(strstr(out, "Before"));
	assert_non_null(strstr(out, "0611111111"));
	veld_free(out);
	ok(veld_record_get(cc, "client", d, NULL, &out));
	assert_non_null(strstr(out, "After"));
	veld_free(out);
	assert_int_equal(e2e_info_u(cc, "pending"), 0);
	/* And Cora's writes reach Anna. */
	ok(veld_record_update(cc, "client", d, "{\"phone\":\"0622222222\"}", NULL, NULL));
	e2e_sync(cc);
	e2e_sync(cc);
	e2e_sync(a);
	ok(veld_record_get(a, "client", d, NULL, &out));
	assert_non_null(strstr(out, "0622222222"));
	veld_free(out);
	veld_store_free(a);
	veld_store_free(cc);
	free(c);
	free(d);
	fx_stop(&f);
}

/* The same replacement device, but it syncs before the office certified
 * it: it then holds only the version its invite carried (2), and the
 * team's older envelopes, sealed to version 1, wait for it; the sync goes
 * on, and once certified the device holds both and reads everything. */
static void test_e2e_office__new_device_syncing_before_its_certificate(void **state)
{
	struct fx f;
	veld_store *a, *cc;
	char *c, *out = NULL;
	int rc;
	(void)state;
	fx_start(&f);
	rotated_team(&f, &a, &c);
	cc = e2e_device_uncertified(&f.srv, f.office, f.tmp, "cora", "noord");
	rc = veld_sync(cc, NULL, &out);
	veld_free(out);
	out = NULL;
	assert_int_equal(rc, VELD_OK);
	e2e_sync(f.office); /* certifies Cora, seals her version 1 and 2 */
	e2e_sync(cc);
	e2e_sync(cc);
	assert_int_equal(store_q(f.tmp, "cora", "SELECT count(*) FROM team_keys WHERE team = 'noord'"
	                         " AND tv IN (1, 2)"), 2);
	ok(veld_record_get(cc, "client", c, NULL, &out));
	assert_non_null(strstr(out, "Before"));
	veld_free(out);
	veld_store_free(a);
	veld_store_free(cc);
	free(c);
	fx_stop(&f);
}

/* Invited before the rotation, enrolled after: the invite carried version
 * 1, which the revoked device holds; certified, the device gets version 2
 * and reads what is written from then on. */
static void test_e2e_office__device_invited_before_rotation_gets_the_new_key(void **state)
{
	struct fx f;
	veld_store *a, *dd;
	char *c, *code = NULL, *out = NULL;
	(void)state;
	fx_start(&f);
	ok(veld_office_invite(f.office, "noord", 3600, NULL, &code)); /* before anyone */
	rotated_team(&f, &a, &c);
	ok(veld_record_update(a, "client", c, "{\"phone\":\"0633333333\"}", NULL, NULL));
	e2e_sync(a);
	dd = e2e_store(f.tmp, "dirk", "noord", 0);
	ok(veld_enroll(dd, f.srv.url, code, "dirk", NULL, &out));
	veld_free(out);
	assert_int_equal(store_q(f.tmp, "dirk", "SELECT max(tv) FROM team_keys"), 1);
	e2e_sync(f.office); /* certifies Dirk */
	e2e_sync(dd);
	assert_int_equal(store_q(f.tmp, "dirk", "SELECT max(tv) FROM team_keys"), 2);
	ok(veld_record_get(dd, "client", c, NULL, &out));
	assert_non_null(strstr(out, "0633333333"));
	veld_free(out);
	assert_int_equal(e2e_info_u(dd, "pending"), 0);
	veld_free(code);
	veld_store_free(a);
	veld_store_free(dd);
	free(c);
	fx_stop(&f);
}

/* ---- the office's own invites: single use, expiry (review finding 16) ------------------ */

/* A server that lets a second device enroll with a used code, or a device
 * enroll long after the code expired: the office certifies neither. */
static void test_e2e_office__invites_are_single_use_and_expire_at_the_office(void **state)
{
	struct fx f;
	veld_store *u1, *u2, *late, *ontime;
	char *code = NULL, *out = NULL, *dev, sql[300];
	json_t *sum;
	(void)state;
	fx_start(&f);
	ok(veld_office_invite(f.office, "noord", 3600, NULL, &code));
	u1 = e2e_store(f.tmp, "u1", "noord", 0);
	ok(veld_enroll(u1, f.srv.url, code, "u1", NULL, &out));
	veld_free(out);
	e2e_sync(f.office);
	dev = device_id(u1);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM certs WHERE device = x'%s'", dev);
	assert_int_equal(store_q(f.tmp, "office", sql), 1);
	free(dev);
	/* The server takes the same code again. */
	assert_int_equal(e2e_server_exec(&f.srv, "UPDATE invites SET used = NULL WHERE team = 'noord'"),
	                 1);
	u2 = e2e_store(f.tmp, "u2", "noord", 0);
	ok(veld_enroll(u2, f.srv.url, code, "u2", NULL, &out));
	veld_free(out);
	veld_free(code);
	sum = sync_summary(f.office);
	assert_true(warns(sum, "not certified"));
	json_decref(sum);
	dev = device_id(u2);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM certs WHERE device = x'%s'", dev);
	assert_int_equal(store_q(f.tmp, "office", sql), 0);
	free(dev);

	/* Enrolled (as the server lists it) well after the code expired. */
	ok(veld_office_invite(f.office, "noord", 60, NULL, &code));
	late = e2e_store(f.tmp, "late", "noord", 0);
	ok(veld_enroll(late, f.srv.url, code, "late", NULL, &out));
	veld_free(out);
	veld_free(code);
	dev = device_id(late);
	assert_int_equal(server_set_device(&f.srv, "enrolled = enrolled + 3600000", dev), 1);
	/* One enrolled in time with the same kind of code is certified. */
	ok(veld_office_invite(f.office, "noord", 60, NULL, &code));
	ontime = e2e_store(f.tmp, "ontime", "noord", 0);
	ok(veld_enroll(ontime, f.srv.url, code, "ontime", NULL, &out));
	veld_free(out);
	veld_free(code);
	e2e_sync(f.office);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM certs WHERE device = x'%s'", dev);
	assert_int_equal(store_q(f.tmp, "office", sql), 0);
	free(dev);
	dev = device_id(ontime);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM certs WHERE device = x'%s'", dev);
	assert_int_equal(store_q(f.tmp, "office", sql), 1);
	free(dev);
	veld_store_free(u1);
	veld_store_free(u2);
	veld_store_free(late);
	veld_store_free(ontime);
	fx_stop(&f);
}

/* ---- a server that inflates `acked` (review finding 10) ------------------------------------ */

/* A TCP proxy on 127.0.0.1 in front of the server that, when armed,
 * rewrites the `acked` of the next answer that carries one (the answer to
 * a sync's first, empty push) to `fake`: a server that claims to hold
 * operations it never received. */
struct liar {
	int lfd;
	uint16_t port, target;
	volatile int stop, armed;
	uint8_t fake; /* below 128: a msgpack positive fixint, as the real one is */
	pthread_t thread;
};

static void liar_rewrite(struct liar *l, uint8_t *buf, size_t n)
{
	static const char key[] = "\xa5" "acked";
	for (size_t i = 0; l->armed && i + 7 <= n; i++)
		if (memcmp(buf + i, key, 6) == 0 && buf[i + 6] < 0x80) {
			buf[i + 6] = l->fake;
			l->armed = 0;
		}
}

static void liar_relay(struct liar *l, int a)
{
	struct sockaddr_in sa = {0};
	int b = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_family = AF_INET;
	sa.sin_port = htons(l->target);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(b, (struct sockaddr *)&sa, sizeof sa) != 0)
		goto done;
	for (int idle = 0; idle < 300 && !l->stop;) {
		struct pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
		uint8_t buf[65536];
		int r = poll(fds, 2, 100);
		if (r == 0) {
			idle++;
			continue;
		}
		idle = 0;
		for (int i = 0; i < 2; i++) {
			ssize_t n;
			if (!(fds[i].revents & (POLLIN | POLLHUP)))
				continue;
			if ((n = read(fds[i].fd, buf, sizeof buf)) <= 0)
				goto done;
			if (i == 1)
				liar_rewrite(l, buf, (size_t)n);
			if (write(fds[1 - i].fd, buf, (size_t)n) != n)
				goto done;
		}
	}
done:
	close(a);
	close(b);
}

static void *liar_main(void *arg)
{
	struct liar *l = arg;
	while (!l->stop) {
		struct pollfd fd = {l->lfd, POLLIN, 0};
		int c;
		if (poll(&fd, 1, 100) <= 0)
			continue;
		if ((c = accept(l->lfd, NULL, NULL)) >= 0)
			liar_relay(l, c); /* one connection at a time: one sync at a time */
	}
	return NULL;
}

static void liar_start(struct liar *l, uint16_t target)
{
	struct sockaddr_in sa = {0};
	socklen_t sl = sizeof sa;
	memset(l, 0, sizeof *l);
	l->target = target;
	l->lfd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(l->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(l->lfd, 8), 0);
	getsockname(l->lfd, (struct sockaddr *)&sa, &sl);
	l->port = ntohs(sa.sin_port);
	pthread_create(&l->thread, NULL, liar_main, l);
}

static void liar_stop(struct liar *l)
{
	l->stop = 1;
	pthread_join(l->thread, NULL);
	close(l->lfd);
}

/* The server answers the empty push with an `acked` that covers Anna's new
 * operations, which it never received. Anna notices after the pull (they
 * did not come back), says so, and pushes them again: Bram gets them. */
static void test_e2e_office__device_notices_an_inflated_acked(void **state)
{
	struct fx f;
	struct liar l;
	struct e2e_server via;
	veld_store *a, *b;
	char *c1, *c2, *out = NULL;
	json_t *sum;
	(void)state;
	fx_start(&f);
	liar_start(&l, f.srv.port);
	via = f.srv;
	snprintf(via.url, sizeof via.url, "http://127.0.0.1:%u", l.port);
	a = e2e_device(&via, f.office, f.tmp, "anna", "noord"); /* Anna talks through the liar */
	b = e2e_device(&f.srv, f.office, f.tmp, "bram", "noord");
	c1 = e2e_create(a, "client", "{\"name\":\"Seen\"}");
	e2e_sync(a);
	sum = sync_summary(a); /* nothing to say when the server holds what it says */
	assert_false(warns(sum, "claims to hold this device's operations"));
	json_decref(sum);
	c2 = e2e_create(a, "client", "{\"name\":\"Claimed but never pushed\"}");
	l.fake = (uint8_t)e2e_info_u(a, "own_ops");
	assert_true(l.fake < 0x80);
	l.armed = 1;
	sum = sync_summary(a);
	assert_int_equal(l.armed, 0); /* the lie was told */
	assert_true(warns(sum, "claims to hold this device's operations"));
	assert_true(warns(sum, "pushed again"));
	json_decref(sum);
	e2e_sync(b);
	ok(veld_record_get(b, "client", c2, NULL, &out));
	assert_non_null(strstr(out, "Claimed but never pushed"));
	veld_free(out);
	/* The next sync has nothing to say. */
	sum = sync_summary(a);
	assert_false(warns(sum, "claims to hold this device's operations"));
	json_decref(sum);
	veld_store_free(a);
	veld_store_free(b);
	free(c1);
	free(c2);
	liar_stop(&l);
	fx_stop(&f);
}

/* ---- a device from veld 0.1 (review finding 11) ---------------------------------------- */

/* The server lists a device without an invite (enrolled under veld 0.1),
 * whose signing key the office pinned then: the office certifies it only
 * once a person confirmed its team and the fingerprint of its keys. */
static void test_e2e_office__legacy_device_certified_by_the_operator(void **state)
{
	struct fx f;
	veld_store *a, *old;
	char *dev, sql[1400], path[600], lit[64], *out = NULL, *c;
	json_t *j, *sum;
	char fp[64];
	uint8_t sign_pk[32];
	sqlite3 *db;
	sqlite3_stmt *st;
	(void)state;
	fx_start(&f);
	a = e2e_device(&f.srv, f.office, f.tmp, "anna", "noord");
	old = e2e_device_uncertified(&f.srv, f.office, f.tmp, "oleg", "noord");
	dev = device_id(old);
	/* As veld 0.1 left it: no invite on the server, the key pinned at the
	 * office. */
	assert_int_equal(server_set_device(&f.srv, "auth = NULL, proof = NULL", dev), 1);
	snprintf(sql, sizeof sql, "SELECT sign_pk FROM devices WHERE device = %s",
	         e2e_blob(lit, sizeof lit, dev));
	assert_int_equal(e2e_server_blob(&f.srv, sql, sign_pk, sizeof sign_pk), 32);
	snprintf(path, sizeof path, "%s/office/veld.db", f.tmp);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	snprintf(sql, sizeof sql, "INSERT INTO peers(device, sign_pk) VALUES(x'%s', ?1)", dev);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, sign_pk, sizeof sign_pk, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);

	/* Not on the server's word. */
	sum = sync_summary(f.office);
	assert_true(warns(sum, "veld office certify"));
	json_decref(sum);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM certs WHERE device = x'%s'", dev);
	assert_int_equal(store_q(f.tmp, "office", sql), 0);

	/* What the office sees is what the device shows. */
	ok(veld_device_fingerprint(old, &out));
	j = json_loads(out, 0, NULL);
	snprintf(fp, sizeof fp, "%s", json_string_value(json_object_get(j, "fingerprint")));
	json_decref(j);
	veld_free(out);
	ok(veld_office_certify(f.office, dev, NULL, NULL, NULL, &out));
	j = json_loads(out, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(j, "fingerprint")), fp);
	assert_string_equal(json_string_value(json_object_get(j, "team")), "noord");
	assert_false(json_is_true(json_object_get(j, "certified")));
	json_decref(j);
	veld_free(out);
	assert_int_equal(store_q(f.tmp, "office", sql), 0);
	/* A wrong fingerprint certifies nothing. */
	assert_int_equal(veld_office_certify(f.office, dev, "noord", "0000-0000-0000-0000-0000-0000"
	                                     "-0000-0000", NULL, &out), VELD_EPROTO);
	assert_int_equal(store_q(f.tmp, "office", sql), 0);
	/* The right one does, and Oleg's work reaches Anna. */
	ok(veld_office_certify(f.office, dev, "noord", fp, NULL, &out));
	veld_free(out);
	assert_int_equal(store_q(f.tmp, "office", sql), 1);
	c = e2e_create(old, "client", "{\"name\":\"From the old phone\"}");
	e2e_sync(old);
	e2e_sync(a);
	ok(veld_record_get(a, "client", c, NULL, &out));
	assert_non_null(strstr(out, "From the old phone"));
	veld_free(out);
	veld_store_free(a);
	veld_store_free(old);
	free(dev);
	free(c);
	fx_stop(&f);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_e2e_office__revoke_refuses_the_team_the_server_names),
		cmocka_unit_test(test_e2e_office__revoke_last_seq_is_what_the_office_verified),
		cmocka_unit_test(test_e2e_office__revoke_of_an_uncertified_device),
		cmocka_unit_test(test_e2e_office__new_device_after_rotation_gets_every_team_key),
		cmocka_unit_test(test_e2e_office__new_device_syncing_before_its_certificate),
		cmocka_unit_test(test_e2e_office__device_invited_before_rotation_gets_the_new_key),
		cmocka_unit_test(test_e2e_office__invites_are_single_use_and_expire_at_the_office),
		cmocka_unit_test(test_e2e_office__device_notices_an_inflated_acked),
		cmocka_unit_test(test_e2e_office__legacy_device_certified_by_the_operator),
	};
	if (argc < 2)
		return 2;
	e2e_veld = argv[1];
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
