/* test_e2e_privacy.c - what the server and the network see, team isolation,
 * and revocation. Canary strings written on devices must appear nowhere in
 * the server's data directory, its output, or the bytes on the wire (seen
 * through a recording proxy on 127.0.0.1). A device of another team
 * receives none of a team's operations or key envelopes. A revoked device
 * is refused and told to wipe; what is written afterwards is sealed with
 * keys it never had. */
#include "e2e.h"

#include <arpa/inet.h>
#include <dirent.h>
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

/* ---- a recording TCP proxy on 127.0.0.1 ---------------------------------- */

struct proxy {
	int lfd;
	uint16_t port, target;
	volatile int stop;
	pthread_t thread;
	pthread_mutex_t mu;
	uint8_t *bytes;
	size_t len, cap;
};

static void record(struct proxy *p, const uint8_t *b, size_t n)
{
	pthread_mutex_lock(&p->mu);
	if (p->len + n > p->cap) {
		p->cap = (p->len + n) * 2;
		p->bytes = realloc(p->bytes, p->cap);
	}
	memcpy(p->bytes + p->len, b, n);
	p->len += n;
	pthread_mutex_unlock(&p->mu);
}

static void relay(struct proxy *p, int a)
{
	struct sockaddr_in sa = {0};
	int b = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_family = AF_INET;
	sa.sin_port = htons(p->target);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(b, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(a);
		close(b);
		return;
	}
	for (int idle = 0; idle < 300 && !p->stop;) {
		struct pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
		uint8_t buf[65536];
		int r = poll(fds, 2, 100);
		if (r == 0) {
			idle++;
			continue;
		}
		idle = 0;
		for (int i = 0; i < 2; i++) {
			if (!(fds[i].revents & (POLLIN | POLLHUP)))
				continue;
			ssize_t n = read(fds[i].fd, buf, sizeof buf);
			if (n <= 0)
				goto done;
			record(p, buf, (size_t)n);
			if (write(fds[1 - i].fd, buf, (size_t)n) != n)
				goto done;
		}
	}
done:
	close(a);
	close(b);
}

static void *proxy_main(void *arg)
{
	struct proxy *p = arg;
	while (!p->stop) {
		struct pollfd fd = {p->lfd, POLLIN, 0};
		if (poll(&fd, 1, 100) <= 0)
			continue;
		int c = accept(p->lfd, NULL, NULL);
		if (c >= 0)
			relay(p, c); /* one connection at a time is enough here */
	}
	return NULL;
}

static void proxy_start(struct proxy *p, uint16_t target)
{
	struct sockaddr_in sa = {0};
	socklen_t sl = sizeof sa;
	memset(p, 0, sizeof *p);
	pthread_mutex_init(&p->mu, NULL);
	p->target = target;
	p->lfd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(p->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(p->lfd, 8), 0);
	getsockname(p->lfd, (struct sockaddr *)&sa, &sl);
	p->port = ntohs(sa.sin_port);
	pthread_create(&p->thread, NULL, proxy_main, p);
}

static void proxy_stop(struct proxy *p)
{
	p->stop = 1;
	pthread_join(p->thread, NULL);
	close(p->lfd);
	free(p->bytes);
	pthread_mutex_destroy(&p->mu);
}

/* ---- tests ----------------------------------------------------------------- */

static const char *const canaries[] = {"CANARYNAME-e2e-4411", "CANARYADDR-e2e-Kerkpad", "CANARYNOTE-e2e-relapse",
                                       "CANARYPHONE0677", "CANARYPURPOSE-e2e-crisis", NULL};

static void scan_dir_for_canaries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	assert_non_null(d);
	while ((e = readdir(d))) {
		char path[1024];
		size_t n;
		uint8_t *b;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (!(b = e2e_slurp(path, &n)))
			continue;
		for (int i = 0; canaries[i]; i++)
			if (e2e_contains(b, n, canaries[i]))
				fail_msg("canary %s found in %s", canaries[i], path);
		free(b);
	}
	closedir(d);
}

static void test_e2e__canaries_reach_neither_server_nor_wire(void **state)
{
	char *tmp = e2e_tmpdir(), data[512], b[512], *c, *out = NULL, code[64];
	struct e2e_server srv;
	struct proxy px;
	veld_store *office, *a, *bb;
	snprintf(data, sizeof data, "%s/server", tmp);
	e2e_server_start(&srv, data, 0);
	proxy_start(&px, srv.port);
	/* Every request goes through the proxy. */
	{
		char url[64];
		snprintf(url, sizeof url, "http://127.0.0.1:%u", px.port);
		office = e2e_store(tmp, "office", NULL, 1);
		e2e_setup_code(&srv, code);
		ok(veld_enroll(office, url, code, "office", NULL, &out));
		veld_free(out);
		snprintf(srv.url, sizeof srv.url, "%s", url);
	}
	a = e2e_device(&srv, office, tmp, "anna", "noord");
	bb = e2e_device(&srv, office, tmp, "bram", "noord");
	c = e2e_create(a, "client", "{\"name\":\"CANARYNAME-e2e-4411\",\"address\":\"CANARYADDR-e2e-Kerkpad\","
	                            "\"phone\":\"CANARYPHONE0677\"}");
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"text\":\"CANARYNOTE-e2e-relapse\"}", c);
	free(e2e_create(a, "note", b));
	/* A purpose goes into the access log, which travels to the office. */
	ok(veld_record_get(a, "client", c, "CANARYPURPOSE-e2e-crisis", &out));
	veld_free(out);
	e2e_sync(a);
	e2e_sync(bb);
	e2e_sync(office);
	ok(veld_office_log(office, NULL, &out));
	assert_non_null(strstr(out, "CANARYPURPOSE-e2e-crisis"));
	veld_free(out);
	/* The data did travel: Bram and the office can read it. */
	ok(veld_record_get(bb, "client", c, NULL, &out));
	assert_non_null(strstr(out, "CANARYNAME-e2e-4411"));
	veld_free(out);
	ok(veld_record_get(office, "client", c, NULL, &out));
	assert_non_null(strstr(out, "CANARYADDR-e2e-Kerkpad"));
	veld_free(out);
	/* The wire carried requests both ways... */
	pthread_mutex_lock(&px.mu);
	assert_true(px.len > 1000);
	assert_true(e2e_contains(px.bytes, px.len, "POST /v1/push"));
	assert_true(e2e_contains(px.bytes, px.len, "POST /v1/audit"));
	assert_true(e2e_contains(px.bytes, px.len, "GET /v1/audit"));
	for (int i = 0; canaries[i]; i++)
		if (e2e_contains(px.bytes, px.len, canaries[i]))
			fail_msg("canary %s crossed the wire in readable form", canaries[i]);
	pthread_mutex_unlock(&px.mu);
	/* ...and the server's files and output hold nothing readable. */
	e2e_server_stop(&srv, SIGTERM);
	scan_dir_for_canaries(data);
	{
		size_t n;
		uint8_t *o = e2e_slurp(srv.out, &n);
		for (int i = 0; canaries[i]; i++)
			assert_false(e2e_contains(o, n, canaries[i]));
		free(o);
		o = e2e_slurp(srv.err, &n);
		for (int i = 0; canaries[i]; i++)
			assert_false(e2e_contains(o, n, canaries[i]));
		free(o);
	}
	proxy_stop(&px);
	veld_store_free(a);
	veld_store_free(bb);
	veld_store_free(office);
	free(c);
	e2e_rm_rf(tmp);
	free(tmp);
}

/* The number a query (SELECT count(*) ...) gives on DIR/FILE, read-only;
 * -1 if it does not run. */
static int64_t db_scalar(const char *dir, const char *file, const char *sql)
{
	char path[600];
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t n = -1;
	snprintf(path, sizeof path, "%s/%s", dir, file);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static int64_t store_count(const char *dir, const char *sql)
{
	return db_scalar(dir, "veld.db", sql);
}

static void test_e2e__other_team_receives_nothing(void **state)
{
	char *tmp = e2e_tmpdir(), data[512], b[256], *c, zdir[600];
	struct e2e_server srv;
	veld_store *office, *a, *z;
	snprintf(data, sizeof data, "%s/server", tmp);
	e2e_server_start(&srv, data, 0);
	office = e2e_office(&srv, tmp);
	a = e2e_device(&srv, office, tmp, "anna", "noord");
	z = e2e_device(&srv, office, tmp, "zoe", "zuid");
	c = e2e_create(a, "client", "{\"name\":\"Noord only\"}");
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"text\":\"team noord's note\"}", c);
	free(e2e_create(a, "note", b));
	free(e2e_create(office, "client", "{\"name\":\"Office made, noord\",\"team\":\"noord\"}"));
	free(e2e_create(z, "client", "{\"name\":\"Zuid client\"}"));
	e2e_sync(a);
	e2e_sync(office);
	e2e_sync(z);
	e2e_sync(z);
	e2e_sync(office);
	assert_int_equal(e2e_count(z, "client"), 1);
	assert_int_equal(e2e_count(z, "note"), 0);
	snprintf(zdir, sizeof zdir, "%s/zoe", tmp);
	/* Not even the ciphertext or the keys arrived. */
	assert_int_equal(store_count(zdir, "SELECT count(*) FROM ops WHERE team != 'zuid'"), 0);
	assert_int_equal(store_count(zdir, "SELECT count(*) FROM entities WHERE team != 'zuid'"), 0);
	assert_int_equal(store_count(zdir, "SELECT count(*) FROM client_keys WHERE team != 'zuid'"), 0);
	assert_int_equal(store_count(zdir, "SELECT count(*) FROM team_keys WHERE team != 'zuid'"), 0);
	/* The office sees both teams. */
	assert_int_equal(e2e_count(office, "client"), 3);
	/* A worker of zuid cannot write for a noord client. */
	{
		char *out = NULL;
		assert_int_equal(veld_record_get(z, "client", c, NULL, &out), VELD_ENOTFOUND);
	}
	veld_store_free(a);
	veld_store_free(z);
	veld_store_free(office);
	free(c);
	e2e_server_stop(&srv, SIGTERM);
	e2e_rm_rf(tmp);
	free(tmp);
}

static void test_e2e__revoked_device_refused_and_keys_rotate(void **state)
{
	char *tmp = e2e_tmpdir(), data[512], *c, *out = NULL, dev_b[40], adir[600], bdir[600];
	struct e2e_server srv;
	veld_store *office, *a, *bb;
	json_t *info;
	snprintf(data, sizeof data, "%s/server", tmp);
	e2e_server_start(&srv, data, 0);
	office = e2e_office(&srv, tmp);
	a = e2e_device(&srv, office, tmp, "anna", "noord");
	bb = e2e_device(&srv, office, tmp, "bram", "noord");
	c = e2e_create(a, "client", "{\"name\":\"Before\"}");
	e2e_sync(a);
	e2e_sync(bb);
	e2e_sync(office);
	ok(veld_store_info(bb, &out));
	info = json_loads(out, 0, NULL);
	veld_free(out);
	snprintf(dev_b, sizeof dev_b, "%s", json_string_value(json_object_get(info, "device")));
	json_decref(info);

	ok(veld_office_revoke(office, dev_b, NULL));
	assert_int_equal(veld_sync(bb, NULL, &out), VELD_EREVOKED);
	/* The remaining device gets the new keys and writes with them. */
	e2e_sync(a);
	ok(veld_record_update(a, "client", c, "{\"phone\":\"0699999999\"}", NULL, NULL));
	e2e_sync(a);
	snprintf(adir, sizeof adir, "%s/anna", tmp);
	snprintf(bdir, sizeof bdir, "%s/bram", tmp);
	assert_int_equal(store_count(adir, "SELECT max(tv) FROM team_keys"), 2);
	assert_int_equal(store_count(adir, "SELECT max(kv) FROM ops WHERE field = 'phone'"), 2);
	/* Bram never held version 2 of anything. */
	assert_int_equal(store_count(bdir, "SELECT max(tv) FROM team_keys"), 1);
	assert_int_equal(store_count(bdir, "SELECT max(kv) FROM client_keys"), 1);
	/* The office reads the new write. */
	e2e_sync(office);
	ok(veld_record_get(office, "client", c, NULL, &out));
	assert_non_null(strstr(out, "0699999999"));
	veld_free(out);
	veld_store_free(a);
	veld_store_free(bb);
	veld_store_free(office);
	free(c);
	e2e_server_stop(&srv, SIGTERM);
	e2e_rm_rf(tmp);
	free(tmp);
}

/* Entries of `device` in a JSON list, as "seq event purpose" lines. */
static char *entries_of(const char *json, const char *device)
{
	json_t *list = json_loads(json, 0, NULL), *e;
	size_t i, cap = 1 << 16, len = 0;
	char *outs = calloc(1, cap);
	assert_non_null(list);
	json_array_foreach(list, i, e) {
		if (strcmp(json_string_value(json_object_get(e, "device")), device) != 0)
			continue;
		len += (size_t)snprintf(outs + len, cap - len, "%lld %s %s %s\n",
			(long long)json_integer_value(json_object_get(e, "seq")),
			json_string_value(json_object_get(e, "event")),
			json_string_value(json_object_get(e, "outcome")),
			json_string_value(json_object_get(e, "purpose")));
		assert_true(len < cap);
	}
	json_decref(list);
	return outs;
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

/* Every device's access log reaches the office, entry for entry as the
 * device wrote it; a worker cannot read it; an entry altered on the server
 * is refused at the office with nothing of its page kept. */
static void test_e2e__access_log_reaches_the_office(void **state)
{
	char *tmp = e2e_tmpdir(), data[512], filter[128], *c, *out = NULL, *mine, *theirs;
	char *dev_a, *dev_b, odir[600], sql[400], zero[32], one[32];
	struct e2e_server srv;
	veld_store *office, *a, *bb;
	json_t *summary;
	int64_t before;
	snprintf(data, sizeof data, "%s/server", tmp);
	e2e_server_start(&srv, data, 0);
	office = e2e_office(&srv, tmp);
	a = e2e_device(&srv, office, tmp, "anna", "noord");
	bb = e2e_device(&srv, office, tmp, "bram", "noord");
	dev_a = device_id(a);
	dev_b = device_id(bb);
	c = e2e_create(a, "client", "{\"name\":\"Logged\"}");
	ok(veld_record_get(a, "client", c, "home visit prep", &out));
	veld_free(out);
	e2e_sync(a);
	e2e_sync(bb);
	ok(veld_record_get(bb, "client", c, NULL, &out));
	veld_free(out);
	e2e_sync(bb);
	ok(veld_sync(office, NULL, &out));
	summary = json_loads(out, 0, NULL);
	veld_free(out);
	assert_true(json_integer_value(json_object_get(summary, "log_pulled")) > 0);
	json_decref(summary);

	/* The office holds each device's log exactly as the device does. */
	snprintf(filter, sizeof filter, "{\"device\":\"%s\"}", dev_a);
	ok(veld_audit_list(a, NULL, &out));
	mine = entries_of(out, dev_a);
	veld_free(out);
	ok(veld_office_log(office, filter, &out));
	theirs = entries_of(out, dev_a);
	veld_free(out);
	assert_string_equal(mine, theirs);
	assert_non_null(strstr(theirs, "read success home visit prep"));
	free(mine);
	free(theirs);
	ok(veld_audit_list(bb, NULL, &out));
	mine = entries_of(out, dev_b);
	veld_free(out);
	ok(veld_office_log(office, NULL, &out));
	theirs = entries_of(out, dev_b);
	veld_free(out);
	assert_string_equal(mine, theirs);
	free(mine);
	free(theirs);
	/* A client filter finds who read the client, on every device. */
	snprintf(filter, sizeof filter, "{\"client\":\"%s\"}", c);
	ok(veld_office_log(office, filter, &out));
	assert_non_null(strstr(out, dev_a));
	assert_non_null(strstr(out, dev_b));
	veld_free(out);
	/* A worker's store holds no one else's log. */
	assert_int_equal(veld_office_log(a, NULL, &out), VELD_EINVAL);
	/* The office's export for the client (AVG art. 15) names every device
	 * that opened the file, with its purpose. */
	ok(veld_client_export(office, c, "AVG art. 15 request", &out));
	assert_non_null(strstr(out, "\"name\":\"Logged\""));
	assert_non_null(strstr(out, dev_a));
	assert_non_null(strstr(out, dev_b));
	assert_non_null(strstr(out, "home visit prep"));
	veld_free(out);
	e2e_sync(office); /* the export is in the office's log too, and synced */

	/* An entry altered on the server: the office refuses the page and
	 * keeps nothing of it; put back, it arrives. */
	ok(veld_record_get(a, "client", c, "second look", &out));
	veld_free(out);
	e2e_sync(a);
	snprintf(odir, sizeof odir, "%s/office", tmp);
	before = store_count(odir, "SELECT count(*) FROM office_audit");
	e2e_server_exec(&srv, "CREATE TABLE kept AS SELECT cursor, sealed FROM audit_log"
		" WHERE cursor = (SELECT max(cursor) FROM audit_log)");
	snprintf(sql, sizeof sql, "UPDATE audit_log SET sealed = substr(sealed, 1, 40) ||"
		" (CASE WHEN substr(sealed, 41, 1) = %s THEN %s ELSE %s END) ||"
		" substr(sealed, 42) WHERE cursor = (SELECT cursor FROM kept)",
		e2e_blob(zero, sizeof zero, "00"), e2e_blob(one, sizeof one, "01"), zero);
	assert_int_equal(e2e_server_exec(&srv, sql), 1);
	assert_int_equal(veld_sync(office, NULL, &out), VELD_EPROTO);
	assert_non_null(strstr(veld_error_last(), "access-log"));
	assert_int_equal(store_count(odir, "SELECT count(*) FROM office_audit"), before);
	assert_int_equal(e2e_server_exec(&srv, "UPDATE audit_log SET sealed = (SELECT sealed FROM kept)"
		" WHERE cursor = (SELECT cursor FROM kept)"), 1);
	e2e_sync(office);
	assert_int_equal(store_count(odir, "SELECT count(*) FROM office_audit"), before + 1);
	ok(veld_office_log(office, "{\"limit\":1}", &out));
	assert_non_null(strstr(out, "second look"));
	veld_free(out);

	/* An entry the server withholds leaves a gap the office refuses. */
	ok(veld_record_get(a, "client", c, "third look", &out));
	veld_free(out);
	ok(veld_record_get(a, "client", c, "fourth look", &out));
	veld_free(out);
	e2e_sync(a);
	assert_int_equal(e2e_server_exec(&srv, "DELETE FROM audit_log WHERE cursor ="
		" (SELECT max(cursor) - 1 FROM audit_log)"), 1);
	assert_int_equal(veld_sync(office, NULL, &out), VELD_EPROTO);
	assert_non_null(strstr(veld_error_last(), "missing"));
	assert_int_equal(store_count(odir, "SELECT count(*) FROM office_audit"), before + 1);

	veld_store_free(a);
	veld_store_free(bb);
	veld_store_free(office);
	free(c);
	free(dev_a);
	free(dev_b);
	e2e_server_stop(&srv, SIGTERM);
	e2e_rm_rf(tmp);
	free(tmp);
}


/* One office command erases a client everywhere (AVG art. 17): the server
 * keeps none of its operations or keys, every device of its team erases
 * it at its next sync (also one that wrote to it offline meanwhile), a new
 * device never receives it, another team never hears of it, and the other
 * clients are untouched. */
static void test_e2e__office_erases_a_client_everywhere(void **state)
{
	char *tmp = e2e_tmpdir(), data[512], b[256], sql[256], lit[64], *c, *d, *out = NULL;
	char zdir[600], body[48];
	struct e2e_server srv;
	veld_store *office, *a, *bb, *z, *cato;
	snprintf(data, sizeof data, "%s/server", tmp);
	e2e_server_start(&srv, data, 0);
	office = e2e_office(&srv, tmp);
	a = e2e_device(&srv, office, tmp, "anna", "noord");
	bb = e2e_device(&srv, office, tmp, "bram", "noord");
	z = e2e_device(&srv, office, tmp, "zoe", "zuid");
	c = e2e_create(a, "client", "{\"name\":\"Erase me\"}");
	d = e2e_create(a, "client", "{\"name\":\"Keep me\"}");
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"text\":\"about to be erased\"}", c);
	free(e2e_create(a, "note", b));
	e2e_sync(a);
	e2e_sync(bb);
	e2e_sync(office);
	e2e_sync(z);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM ops WHERE client = %s",
	         e2e_blob(lit, sizeof lit, c));
	assert_true(e2e_server_int(&srv, sql) > 0);

	ok(veld_office_erase(office, c, "AVG art. 17 request", NULL));
	assert_int_equal(e2e_server_int(&srv, sql), 0);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM envelopes WHERE client = %s", lit);
	assert_int_equal(e2e_server_int(&srv, sql), 0);
	assert_int_equal(veld_record_get(office, "client", c, NULL, &out), VELD_ESHREDDED);
	/* Running it again finishes nothing new and fails nothing. */
	ok(veld_office_erase(office, c, NULL, NULL));

	/* Bram, offline, writes to the client before he hears of it. */
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"text\":\"written offline\"}", c);
	free(e2e_create(bb, "note", b));
	e2e_sync(a);
	e2e_sync(bb);
	assert_int_equal(veld_record_get(a, "client", c, NULL, &out), VELD_ESHREDDED);
	assert_int_equal(veld_record_get(bb, "client", c, NULL, &out), VELD_ESHREDDED);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM ops WHERE client = %s", lit);
	assert_int_equal(e2e_server_int(&srv, sql), 0);
	/* The other client is untouched everywhere. */
	ok(veld_record_get(bb, "client", d, NULL, &out));
	assert_non_null(strstr(out, "Keep me"));
	veld_free(out);
	e2e_sync(office);
	ok(veld_record_get(office, "client", d, NULL, &out));
	veld_free(out);
	assert_int_equal(e2e_count(a, "note"), 0);
	assert_int_equal(e2e_count(bb, "note"), 0);
	/* Each device logged the erasure; its store still verifies. */
	{
		char filter[96];
		snprintf(filter, sizeof filter, "{\"client\":\"%s\"}", c);
		ok(veld_audit_list(bb, filter, &out));
		assert_non_null(strstr(out, "erased by the office"));
		veld_free(out);
		ok(veld_store_verify(a, &out));
		veld_free(out);
		ok(veld_store_verify(bb, &out));
		veld_free(out);
	}
	/* A device enrolled afterwards never receives it. */
	cato = e2e_device(&srv, office, tmp, "cato", "noord");
	e2e_sync(cato);
	assert_int_equal(e2e_count(cato, "client"), 1);
	assert_int_equal(veld_record_get(cato, "client", d, NULL, &out), VELD_OK);
	veld_free(out);
	/* Another team never hears of it. */
	e2e_sync(z);
	snprintf(zdir, sizeof zdir, "%s/zoe", tmp);
	assert_int_equal(store_count(zdir, "SELECT count(*) FROM erased"), 0);
	/* The server alone cannot have a client destroyed: an erasure without
	 * the office's signature is refused, and nothing of its page applied. */
	snprintf(body, sizeof body, "91c410%s", d); /* the erase body of client d */
	assert_int_equal(e2e_server_forge_notice(&srv, "noord", "erase", body), 1);
	assert_int_equal(veld_sync(bb, NULL, &out), VELD_EPROTO);
	assert_non_null(strstr(veld_error_last(), "office's signature"));
	ok(veld_record_get(bb, "client", d, NULL, &out));
	assert_non_null(strstr(out, "Keep me"));
	veld_free(out);

	veld_store_free(a);
	veld_store_free(bb);
	veld_store_free(z);
	veld_store_free(cato);
	veld_store_free(office);
	free(c);
	free(d);
	e2e_server_stop(&srv, SIGTERM);
	e2e_rm_rf(tmp);
	free(tmp);
}

/* The birth date a device shows: "" when it holds none. */
static void birth_date(veld_store *s, const char *c, char out[16])
{
	char *rec = NULL;
	json_t *j;
	ok(veld_record_get(s, "client", c, NULL, &rec));
	j = json_loads(rec, 0, NULL);
	snprintf(out, 16, "%s", json_string_value(json_object_get(j, "birth_date")) ?
	         json_string_value(json_object_get(j, "birth_date")) : "");
	json_decref(j);
	veld_free(rec);
}

/* A macro, so a failure names the line that asked. */
#define verified(s) do { char *v_ = NULL; ok(veld_store_verify((s), &v_)); veld_free(v_); } while (0)

/* The team's field policy decides which identifying fields reach its
 * devices (DESIGN.md): by default the date of birth stays at the office;
 * a device neither records, receives nor keeps it; the office lets it
 * through and every device receives it (its own values too); it narrows
 * again and every device removes it, its store still verifying; the server
 * alone cannot change the policy. */
static void test_e2e__field_policy_decides_what_reaches_devices(void **state)
{
	char *tmp = e2e_tmpdir(), data[512], adir[600], bdir[600], bd[16], *c, *out = NULL;
	const char *held = "SELECT count(*) FROM ops WHERE field = 'birth_date' AND value IS NOT NULL";
	struct e2e_server srv;
	veld_store *office, *a, *bb;
	snprintf(data, sizeof data, "%s/server", tmp);
	snprintf(adir, sizeof adir, "%s/anna", tmp);
	snprintf(bdir, sizeof bdir, "%s/bram", tmp);
	e2e_server_start(&srv, data, 0);
	office = e2e_office(&srv, tmp);
	a = e2e_device(&srv, office, tmp, "anna", "noord");
	bb = e2e_device(&srv, office, tmp, "bram", "noord");
	c = e2e_create(a, "client", "{\"name\":\"Jan\",\"address\":\"Kerkpad 1\",\"phone\":\"0600\"}");

	/* The default: a device does not record a date of birth. */
	assert_int_equal(veld_record_update(a, "client", c, "{\"birth_date\":\"1971-04-02\"}", NULL,
	                                    NULL), VELD_EPERM);
	assert_non_null(strstr(veld_error_last(), "at the office"));
	e2e_sync(a);
	e2e_sync(office);
	ok(veld_record_update(office, "client", c, "{\"birth_date\":\"1971-04-02\"}", NULL, NULL));
	e2e_sync(office);
	e2e_sync(bb);
	e2e_sync(a);
	/* The server holds it (sealed); no device received it. */
	assert_int_equal(e2e_server_int(&srv, "SELECT count(*) FROM ops WHERE field = 'birth_date'"),
	                 1);
	assert_int_equal(store_count(adir, held), 0);
	assert_int_equal(store_count(bdir, held), 0);
	birth_date(bb, c, bd);
	assert_string_equal(bd, "");
	birth_date(office, c, bd);
	assert_string_equal(bd, "1971-04-02");

	/* The office lets it through: both devices receive it. */
	ok(veld_office_field_policy(office, "noord", "address,phone,birth_date", NULL));
	e2e_sync(a);
	e2e_sync(bb);
	birth_date(a, c, bd);
	assert_string_equal(bd, "1971-04-02");
	birth_date(bb, c, bd);
	assert_string_equal(bd, "1971-04-02");
	ok(veld_field_policy_get(bb, NULL, &out));
	assert_non_null(strstr(out, "\"birth_date\""));
	assert_non_null(strstr(out, "\"applies\":true"));
	veld_free(out);
	/* Anna corrects it; it reaches the office. */
	ok(veld_record_update(a, "client", c, "{\"birth_date\":\"1971-04-03\"}", NULL, NULL));
	e2e_sync(a);
	e2e_sync(office);
	birth_date(office, c, bd);
	assert_string_equal(bd, "1971-04-03");

	/* The office narrows it again: every device removes it, its own
	 * value too (the server holds it), and still verifies. */
	ok(veld_office_field_policy(office, "noord", "address,phone", NULL));
	e2e_sync(a);
	e2e_sync(bb);
	assert_int_equal(store_count(adir, held), 0);
	assert_int_equal(store_count(bdir, held), 0);
	birth_date(a, c, bd);
	assert_string_equal(bd, "");
	birth_date(bb, c, bd);
	assert_string_equal(bd, "");
	verified(a);
	verified(bb);
	assert_int_equal(veld_record_update(a, "client", c, "{\"birth_date\":\"1971-04-04\"}", NULL,
	                                    NULL), VELD_EPERM);
	e2e_sync(office);
	birth_date(office, c, bd);
	assert_string_equal(bd, "1971-04-03");
	/* Everything else of the client stayed. */
	ok(veld_record_get(bb, "client", c, NULL, &out));
	assert_non_null(strstr(out, "Kerkpad 1"));
	veld_free(out);

	/* Let through once more: Anna takes her own value back. */
	ok(veld_office_field_policy(office, "noord", "address,phone,birth_date", NULL));
	e2e_sync(a);
	birth_date(a, c, bd);
	assert_string_equal(bd, "1971-04-03");
	verified(a);

	/* The server alone cannot widen a policy: one it altered does not
	 * carry the office's signature and its page is refused whole. */
	ok(veld_office_field_policy(office, "noord", "address,phone", NULL));
	e2e_sync(bb);
	assert_int_equal(store_count(bdir, held), 0);
	/* Nor by serving the fields the policy keeps at the office: the device
	 * drops them. */
	assert_int_equal(e2e_server_exec(&srv, "UPDATE field_policy SET mask = 127, at = at + 1"), 1);
	ok(veld_record_update(office, "client", c, "{\"birth_date\":\"1971-04-05\"}", NULL, NULL));
	e2e_sync(office);
	e2e_sync(bb);
	assert_int_equal(store_count(bdir, held), 0);
	assert_int_equal(e2e_server_forge_notice(&srv, "noord", "policy", "917f"), 1);
	assert_int_equal(veld_sync(bb, NULL, &out), VELD_EPROTO);
	assert_non_null(strstr(veld_error_last(), "office's signature"));
	assert_int_equal(store_count(bdir, held), 0);
	/* A worker cannot set one. */
	assert_int_equal(veld_office_field_policy(a, "noord", "birth_date", NULL), VELD_EPERM);

	veld_store_free(a);
	veld_store_free(bb);
	veld_store_free(office);
	free(c);
	e2e_server_stop(&srv, SIGTERM);
	e2e_rm_rf(tmp);
	free(tmp);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_e2e__canaries_reach_neither_server_nor_wire),
		cmocka_unit_test(test_e2e__other_team_receives_nothing),
		cmocka_unit_test(test_e2e__revoked_device_refused_and_keys_rotate),
		cmocka_unit_test(test_e2e__access_log_reaches_the_office),
		cmocka_unit_test(test_e2e__office_erases_a_client_everywhere),
		cmocka_unit_test(test_e2e__field_policy_decides_what_reaches_devices),
	};
	if (argc < 2)
		return 2;
	e2e_veld = argv[1];
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
