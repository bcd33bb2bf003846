#define _XOPEN_SOURCE 700
#include "e2e.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *e2e_veld;

char *e2e_tmpdir(void)
{
	char tmpl[] = "/tmp/veld-e2e-XXXXXX";
	char *d = mkdtemp(tmpl);
	assert_non_null(d);
	return strdup(d);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(path);
}

void e2e_rm_rf(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	veld_test_pg_drop_under(dir); /* the databases of servers in there */
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

uint8_t *e2e_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b;
	long n;
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = malloc((size_t)n + 1);
	if (n > 0 && fread(b, 1, (size_t)n, f) != (size_t)n)
		n = 0;
	b[n] = 0;
	fclose(f);
	*len = (size_t)n;
	return b;
}

int e2e_contains(const uint8_t *hay, size_t n, const char *needle)
{
	size_t m = strlen(needle);
	for (size_t i = 0; i + m <= n; i++)
		if (memcmp(hay + i, needle, m) == 0)
			return 1;
	return 0;
}

void e2e_server_start(struct e2e_server *srv, const char *data_dir, uint16_t port)
{
	e2e_server_start_with(srv, data_dir, port, NULL);
}

void e2e_server_start_with(struct e2e_server *srv, const char *data_dir, uint16_t port,
                           const char *const *extra)
{
	char db[512];
	if (!veld_test_pg()) {
		e2e_server_start_db(srv, data_dir, port, NULL, extra);
		return;
	}
	veld_test_pg_db(data_dir, db, sizeof db);
	e2e_server_start_db(srv, data_dir, port, db, extra);
}

void e2e_server_start_db(struct e2e_server *srv, const char *data_dir, uint16_t port,
                         const char *conninfo, const char *const *extra)
{
	char listen[32], dir[sizeof srv->dir], db[sizeof srv->db];
	const char *argv[24];
	size_t argc = 0;
	/* (Either may be srv's own, for a restart: copied before srv's are
	 * written.) */
	snprintf(dir, sizeof dir, "%s", data_dir);
	snprintf(db, sizeof db, "%s", conninfo ? conninfo : "");
	data_dir = dir;
	snprintf(srv->db, sizeof srv->db, "%s", db);
	snprintf(srv->dir, sizeof srv->dir, "%s", data_dir);
	snprintf(srv->out, sizeof srv->out, "%s.out", data_dir);
	snprintf(srv->err, sizeof srv->err, "%s.err", data_dir);
	snprintf(listen, sizeof listen, "127.0.0.1:%u", port);
	argv[argc++] = e2e_veld;
	argv[argc++] = "serve";
	argv[argc++] = "--listen";
	argv[argc++] = listen;
	argv[argc++] = "--data";
	argv[argc++] = data_dir;
	if (srv->db[0]) {
		argv[argc++] = "--db";
		argv[argc++] = srv->db;
	}
	for (size_t i = 0; extra != NULL && extra[i] != NULL; i++) {
		if (argc + 1 >= sizeof argv / sizeof argv[0])
			fail_msg("e2e_server_start: too many arguments");
		argv[argc++] = extra[i];
	}
	argv[argc] = NULL;
	/* A restart on the same port may race the old socket's release. */
	for (int attempt = 0; attempt < 50; attempt++) {
		pid_t pid;
		/* Not the line of the process before (a restart): the child
		 * truncates the file only once it runs. */
		remove(srv->out);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			int o = open(srv->out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			int e = open(srv->err, O_WRONLY | O_CREAT | O_APPEND, 0600);
			/* A test that fails ends without stopping its server:
			 * the server goes with it, not left running. */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			dup2(o, 1);
			dup2(e, 2);
			execv(e2e_veld, (char *const *)argv);
			_exit(127);
		}
		srv->pid = pid;
		/* Wait (bounded) for the "listening on http(s)://127.0.0.1:PORT" line. */
		for (int i = 0; i < 200; i++) {
			size_t n;
			uint8_t *out = e2e_slurp(srv->out, &n);
			const char *p = out ? strstr((char *)out, "://127.0.0.1:") : NULL;
			int status;
			if (p) {
				int https = p - (char *)out >= 5 && memcmp(p - 5, "https", 5) == 0;
				/* The line names the backend: a _pg run that ends up on
				 * SQLite would pass without testing anything of its own. */
				const char *backend = srv->db[0] ? "PostgreSQL" : "SQLite";
				char named[32];
				snprintf(named, sizeof named, ", %s)", backend);
				if (strstr(p, named) == NULL)
					fail_msg("veld serve is not on %s: %s", backend, (char *)out);
				srv->port = (uint16_t)atoi(p + strlen("://127.0.0.1:"));
				snprintf(srv->url, sizeof srv->url, "%s://127.0.0.1:%u",
				         https ? "https" : "http", srv->port);
				free(out);
				return;
			}
			free(out);
			if (waitpid(pid, &status, WNOHANG) == pid)
				break; /* exited: retry */
			sleep_ms(25);
		}
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		sleep_ms(100);
	}
	fail_msg("veld serve did not start");
}

void e2e_server_stop(struct e2e_server *srv, int sig)
{
	int status = 0;
	if (srv->pid <= 0)
		return;
	kill(srv->pid, sig);
	waitpid(srv->pid, &status, 0);
	if (sig == SIGTERM)
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	srv->pid = 0;
}

void e2e_setup_code(const struct e2e_server *srv, char code[64])
{
	char path[300];
	size_t n;
	uint8_t *b;
	snprintf(path, sizeof path, "%s/setup-code", srv->dir);
	b = e2e_slurp(path, &n);
	assert_non_null(b);
	while (n > 0 && (b[n - 1] == '\n' || b[n - 1] == '\r'))
		b[--n] = 0;
	snprintf(code, 64, "%s", (char *)b);
	free(b);
}

/* ---- the server's database, from outside ------------------------------------------ */

static sqlite3 *server_sqlite(const struct e2e_server *srv, int flags)
{
	char path[400];
	sqlite3 *db;
	snprintf(path, sizeof path, "%s/server.db", srv->dir);
	if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK)
		fail_msg("%s: %s", path, sqlite3_errmsg(db));
	sqlite3_busy_timeout(db, 5000);
	return db;
}

int64_t e2e_server_int(const struct e2e_server *srv, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t n = 0;
	int rc;
	if (srv->db[0])
		return veld_test_pg_int(srv->db, sql);
	db = server_sqlite(srv, SQLITE_OPEN_READONLY);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

int64_t e2e_server_exec(const struct e2e_server *srv, const char *sql)
{
	sqlite3 *db;
	int64_t n;
	if (srv->db[0])
		return veld_test_pg_exec(srv->db, sql);
	db = server_sqlite(srv, SQLITE_OPEN_READWRITE);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	n = sqlite3_changes(db);
	sqlite3_close(db);
	return n;
}

long e2e_server_blob(const struct e2e_server *srv, const char *sql, uint8_t *out, size_t cap)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	long n = -1;
	int rc;
	if (srv->db[0])
		return veld_test_pg_blob(srv->db, sql, out, cap);
	db = server_sqlite(srv, SQLITE_OPEN_READONLY);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if ((rc = sqlite3_step(st)) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		const void *b = sqlite3_column_blob(st, 0);
		n = sqlite3_column_bytes(st, 0);
		if ((size_t)n > cap)
			fail_msg("%s: %ld bytes, more than %zu", sql, n, cap);
		if (n)
			memcpy(out, b, (size_t)n);
	} else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

const char *e2e_blob(char *out, size_t cap, const char *hex)
{
	return veld_test_sql_blob(out, cap, hex);
}

void e2e_server_intact(const struct e2e_server *srv)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	if (srv->db[0]) {
		uint8_t digest[32];
		veld_test_pg_digest(srv->db, NULL, digest);
		return;
	}
	db = server_sqlite(srv, SQLITE_OPEN_READONLY);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	sqlite3_close(db);
}

void e2e_server_copy(const char *from, const char *to)
{
	char cmd[4096];
	snprintf(cmd, sizeof cmd, "rm -rf '%.1000s' && cp -a '%.1000s' '%.1000s'", to, from, to);
	assert_int_equal(system(cmd), 0);
	if (veld_test_pg())
		veld_test_pg_copy(from, to);
}

/* On PostgreSQL a feed's cursor comes from its counter row in `cursors`,
 * taken as the driver takes it (server_pg.c); SQLite numbers the row. */
int64_t e2e_server_forge_notice(const struct e2e_server *srv, const char *team, const char *kind,
                                const char *body_hex)
{
	char sql[1200];
	if (srv->db[0])
		snprintf(sql, sizeof sql,
		         "WITH c AS (UPDATE cursors SET last = last + 1 WHERE feed = 'notices'"
		         " RETURNING last)"
		         " INSERT INTO notices(cursor, team, n, kind, at, body, sig)"
		         " SELECT c.last, '%s', (SELECT max(n) + 1 FROM notices WHERE team = '%s'),"
		         " '%s', 1, '\\x%s'::bytea, decode(md5(random()::text) || md5(random()::text)"
		         " || md5(random()::text) || md5(random()::text), 'hex') FROM c",
		         team, team, kind, body_hex);
	else
		snprintf(sql, sizeof sql,
		         "INSERT INTO notices(team, n, kind, at, body, sig)"
		         " SELECT '%s', max(n) + 1, '%s', 1, x'%s', randomblob(64)"
		         " FROM notices WHERE team = '%s'",
		         team, kind, body_hex, team);
	return e2e_server_exec(srv, sql);
}

static veld_store_options opts_for(const char *name, const char *team)
{
	veld_store_options o = VELD_STORE_OPTIONS_INIT;
	o.kdf_opslimit = VELD_KDF_OPSLIMIT_MIN;
	o.kdf_memlimit = VELD_KDF_MEMLIMIT_MIN;
	o.user = name;
	o.team = team;
	return o;
}

veld_store *e2e_store(const char *parent, const char *name, const char *team, int office)
{
	char dir[512];
	veld_store *s = NULL;
	veld_store_options o = opts_for(name, team);
	snprintf(dir, sizeof dir, "%s/%s", parent, name);
	if (office)
		ok(veld_office_create(&s, dir, E2E_PASS, strlen(E2E_PASS), &o));
	else
		ok(veld_store_create(&s, dir, E2E_PASS, strlen(E2E_PASS), &o));
	return s;
}

veld_store *e2e_reopen(const char *parent, const char *name)
{
	char dir[512];
	veld_store *s = NULL;
	veld_store_options o = opts_for(name, NULL);
	snprintf(dir, sizeof dir, "%s/%s", parent, name);
	ok(veld_store_open(&s, dir, E2E_PASS, strlen(E2E_PASS), &o));
	return s;
}

veld_store *e2e_office(const struct e2e_server *srv, const char *parent)
{
	char code[64], *out = NULL;
	veld_store *s = e2e_store(parent, "office", NULL, 1);
	e2e_setup_code(srv, code);
	ok(veld_enroll(s, srv->url, code, "office", NULL, &out));
	veld_free(out);
	return s;
}

veld_store *e2e_device_uncertified(const struct e2e_server *srv, veld_store *office,
                                   const char *parent, const char *name, const char *team)
{
	char *code = NULL, *out = NULL;
	veld_store *s = e2e_store(parent, name, team, 0);
	ok(veld_office_invite(office, team, 3600, NULL, &code));
	ok(veld_enroll(s, srv->url, code, name, NULL, &out));
	veld_free(code);
	veld_free(out);
	return s;
}

veld_store *e2e_device(const struct e2e_server *srv, veld_store *office, const char *parent,
                       const char *name, const char *team)
{
	veld_store *s = e2e_device_uncertified(srv, office, parent, name, team);
	/* The office certifies the new device at its next sync: only then do
	 * the team's other devices take in what it writes. */
	e2e_sync(office);
	return s;
}

uint64_t e2e_info_u(veld_store *s, const char *key)
{
	char *out = NULL;
	json_t *j;
	uint64_t v;
	ok(veld_store_info(s, &out));
	j = json_loads(out, 0, NULL);
	veld_free(out);
	assert_non_null(j);
	assert_true(json_is_integer(json_object_get(j, key)));
	v = (uint64_t)json_integer_value(json_object_get(j, key));
	json_decref(j);
	return v;
}

void e2e_sync(veld_store *s)
{
	char *out = NULL;
	ok(veld_sync(s, NULL, &out));
	veld_free(out);
}

char *e2e_create(veld_store *s, const char *kind, const char *fields_json)
{
	char *out = NULL, *id;
	json_t *j;
	ok(veld_record_create(s, kind, fields_json, NULL, &out));
	j = json_loads(out, 0, NULL);
	id = strdup(json_string_value(json_object_get(j, "id")));
	json_decref(j);
	veld_free(out);
	return id;
}

char *e2e_state(veld_store *s)
{
	static const char *const kinds[] = {"client", "visit", "note", "goal", "signal"};
	json_t *all = json_object();
	char *out = NULL, *text;
	for (size_t i = 0; i < 5; i++) {
		ok(veld_record_list(s, kinds[i], NULL, NULL, &out));
		json_object_set_new(all, kinds[i], json_loads(out, 0, NULL));
		veld_free(out);
	}
	ok(veld_conflicts_list(s, NULL, &out));
	json_object_set_new(all, "conflicts", json_loads(out, 0, NULL));
	veld_free(out);
	text = json_dumps(all, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(all);
	return text;
}

size_t e2e_count(veld_store *s, const char *kind)
{
	char *out = NULL;
	json_t *j;
	size_t n;
	ok(veld_record_list(s, kind, NULL, NULL, &out));
	j = json_loads(out, 0, NULL);
	n = json_array_size(j);
	json_decref(j);
	veld_free(out);
	return n;
}
