/* pgdb.c - the tests' side of the server's PostgreSQL backend (pgdb.h).
 *
 * Everything here is plain libpq in text mode (binary only for a bytea a
 * test copies out), one short connection a call. A failure is the test's:
 * fail_msg with the statement and PostgreSQL's message, since a test that
 * cannot look into the database has nothing left to check. */
#include "pgdb.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct veld_test_pg_hold {
	PGconn *pg;
};

/* The keys of the databases this process made or was given, for
 * veld_test_pg_drop_under. */
static pthread_mutex_t made_mu = PTHREAD_MUTEX_INITIALIZER;
static char **made;
static size_t nmade;

static void made_add(const char *key)
{
	char **more;
	pthread_mutex_lock(&made_mu);
	for (size_t i = 0; i < nmade; i++)
		if (strcmp(made[i], key) == 0) {
			pthread_mutex_unlock(&made_mu);
			return;
		}
	more = realloc(made, (nmade + 1) * sizeof *made);
	if (more != NULL && (more[nmade] = strdup(key)) != NULL)
		nmade++;
	made = more ? more : made;
	pthread_mutex_unlock(&made_mu);
}

int veld_test_pg(void)
{
	const char *v = getenv("VELD_TEST_DB");
	return v != NULL && strcmp(v, "pg") == 0;
}

/* The maintenance conninfo of the cluster, into `out`. */
static void cluster_conninfo(char *out, size_t cap)
{
	const char *env = getenv("VELD_PG_CONNINFO"), *file = getenv("VELD_PGTEST_ENV");
	char line[1024];
	FILE *fp;
	if (env != NULL && *env) {
		snprintf(out, cap, "%s", env);
		return;
	}
	if (file == NULL || !*file)
		fail_msg("no PostgreSQL cluster for this run: set VELD_PG_CONNINFO, or VELD_PGTEST_ENV "
		         "to the file tests/pg/pgtest.sh start writes (ctest's pg_start fixture does)");
	if ((fp = fopen(file, "r")) == NULL)
		fail_msg("no PostgreSQL cluster for this run: %s is missing (the pg_start fixture did "
		         "not run, or pg_stop ran already)", file);
	*out = 0;
	while (fgets(line, sizeof line, fp) != NULL)
		if (strncmp(line, "VELD_PG_CONNINFO=", 17) == 0) {
			line[strcspn(line, "\r\n")] = 0;
			snprintf(out, cap, "%s", line + 17);
		}
	fclose(fp);
	if (!*out)
		fail_msg("no PostgreSQL cluster for this run: %s holds no VELD_PG_CONNINFO line", file);
}

static PGconn *connect_to(const char *conninfo)
{
	PGconn *pg = PQconnectdb(conninfo);
	if (pg == NULL)
		fail_msg("PostgreSQL: out of memory connecting");
	if (PQstatus(pg) != CONNECTION_OK) {
		char msg[512];
		snprintf(msg, sizeof msg, "%s", PQerrorMessage(pg));
		msg[strcspn(msg, "\n")] = 0;
		PQfinish(pg);
		fail_msg("PostgreSQL: cannot connect to '%s': %s", conninfo, msg);
	}
	return pg;
}

/* Run `sql`; fail the test unless it ran. The caller clears the result. */
static PGresult *run(PGconn *pg, const char *sql)
{
	PGresult *r = PQexec(pg, sql);
	ExecStatusType t = PQresultStatus(r);
	if (t != PGRES_TUPLES_OK && t != PGRES_COMMAND_OK) {
		char msg[512];
		snprintf(msg, sizeof msg, "%s", PQerrorMessage(pg));
		msg[strcspn(msg, "\n")] = 0;
		PQclear(r);
		PQfinish(pg);
		fail_msg("PostgreSQL: %s: %s", sql, msg);
	}
	return r;
}

/* A conninfo value, single-quoted when it needs to be. */
static void conninfo_value(char *out, size_t cap, const char *v)
{
	size_t k = 0;
	if (*v && strcspn(v, " \t\n'\\") == strlen(v)) {
		snprintf(out, cap, "%s", v);
		return;
	}
	if (cap < 3)
		fail_msg("conninfo value too long");
	out[k++] = '\'';
	for (; *v; v++) {
		if (k + 4 >= cap)
			fail_msg("conninfo value too long");
		if (*v == '\'' || *v == '\\')
			out[k++] = '\\';
		out[k++] = *v;
	}
	out[k++] = '\'';
	out[k] = 0;
}

/* The name of key's database: "veld_t_" and 16 hex digits of its hash. */
static void db_name(const char *key, char name[32])
{
	uint8_t h[8];
	if (sodium_init() < 0)
		fail_msg("sodium_init failed");
	crypto_generichash(h, sizeof h, (const uint8_t *)key, strlen(key), NULL, 0);
	memcpy(name, "veld_t_", 7);
	sodium_bin2hex(name + 7, 32 - 7, h, sizeof h);
}

void veld_test_pg_drop_under(const char *dir)
{
	char admin[1024], name[32], sql[96];
	size_t n = strlen(dir), k = 0;
	char **gone;
	PGconn *pg;
	/* Taken off the list first, dropped after (no lock held in a call that
	 * may fail the test). */
	pthread_mutex_lock(&made_mu);
	gone = malloc((nmade ? nmade : 1) * sizeof *gone);
	for (size_t i = 0; gone != NULL && i < nmade;) {
		if (strncmp(made[i], dir, n) == 0 && (made[i][n] == '/' || made[i][n] == 0)) {
			gone[k++] = made[i];
			made[i] = made[--nmade];
		} else {
			i++;
		}
	}
	pthread_mutex_unlock(&made_mu);
	assert_non_null(gone);
	if (k == 0) {
		free(gone);
		return;
	}
	cluster_conninfo(admin, sizeof admin);
	pg = connect_to(admin);
	for (size_t i = 0; i < k; i++) {
		db_name(gone[i], name);
		snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
		PQclear(run(pg, sql));
		free(gone[i]);
	}
	free(gone);
	PQfinish(pg);
}

void veld_test_pg_copy(const char *from_key, const char *to_key)
{
	char admin[1024], from[32], to[32], sql[160];
	PGconn *pg;
	db_name(from_key, from);
	db_name(to_key, to);
	cluster_conninfo(admin, sizeof admin);
	pg = connect_to(admin);
	snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", to);
	PQclear(run(pg, sql));
	snprintf(sql, sizeof sql, "CREATE DATABASE %s TEMPLATE %s", to, from);
	PQclear(run(pg, sql));
	PQfinish(pg);
	made_add(to_key);
}

void veld_test_pg_db(const char *key, char *conninfo, size_t cap)
{
	char admin[1024], name[32], host[300], user[140], sql[96];
	const char *params[1];
	PGconn *pg;
	PGresult *r;
	int n;
	db_name(key, name);
	cluster_conninfo(admin, sizeof admin);
	pg = connect_to(admin);
	params[0] = name;
	r = PQexecParams(pg, "SELECT 1 FROM pg_database WHERE datname = $1", 1, NULL, params, NULL,
	                 NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		PQfinish(pg);
		fail_msg("PostgreSQL: cannot list the databases of '%s'", admin);
	}
	n = PQntuples(r);
	PQclear(r);
	if (n == 0) {
		/* Another process may create it at the same moment: a duplicate
		 * (42P04) is the database we wanted. */
		snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
		r = PQexec(pg, sql);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
			if (state == NULL || strcmp(state, "42P04") != 0) {
				char msg[512];
				snprintf(msg, sizeof msg, "%s", PQerrorMessage(pg));
				msg[strcspn(msg, "\n")] = 0;
				PQclear(r);
				PQfinish(pg);
				fail_msg("PostgreSQL: %s on '%s': %s", sql, admin, msg);
			}
		}
		PQclear(r);
	}
	/* The same server and user as the maintenance conninfo, whatever form
	 * it had (a URI, key=value). */
	conninfo_value(host, sizeof host, PQhost(pg));
	conninfo_value(user, sizeof user, PQuser(pg));
	if (strcmp(PQport(pg), "5432") != 0 && *PQport(pg))
		n = snprintf(conninfo, cap, "host=%s port=%s user=%s dbname=%s", host, PQport(pg), user,
		             name);
	else
		n = snprintf(conninfo, cap, "host=%s user=%s dbname=%s", host, user, name);
	PQfinish(pg);
	if (n < 0 || (size_t)n >= cap)
		fail_msg("veld_test_pg_db: conninfo longer than %zu bytes", cap);
	made_add(key);
}

static int cmp32(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

static int skipped(const char *name, const char *const *skip)
{
	for (size_t i = 0; skip != NULL && skip[i] != NULL; i++)
		if (strcmp(skip[i], name) == 0)
			return 1;
	return 0;
}

/* Every row of one table into `all`: the table's name, its row count, then
 * the sorted digests of its rows (each column: NULL or not, length,
 * text). */
static void digest_table(PGconn *pg, const char *name, crypto_generichash_state *all)
{
	char sql[200];
	PGresult *r;
	uint8_t *hs;
	size_t n;
	snprintf(sql, sizeof sql, "SELECT * FROM \"%s\"", name);
	r = run(pg, sql);
	n = (size_t)PQntuples(r);
	hs = malloc(n ? 32 * n : 1);
	assert_non_null(hs);
	for (size_t i = 0; i < n; i++) {
		crypto_generichash_state h;
		crypto_generichash_init(&h, NULL, 0, 32);
		for (int c = 0; c < PQnfields(r); c++) {
			uint8_t null = (uint8_t)PQgetisnull(r, (int)i, c);
			int len = PQgetlength(r, (int)i, c);
			crypto_generichash_update(&h, &null, 1);
			crypto_generichash_update(&h, (const uint8_t *)&len, sizeof len);
			crypto_generichash_update(&h, (const uint8_t *)PQgetvalue(r, (int)i, c), (size_t)len);
		}
		crypto_generichash_final(&h, hs + 32 * i, 32);
	}
	PQclear(r);
	if (n)
		qsort(hs, n, 32, cmp32);
	crypto_generichash_update(all, (const uint8_t *)name, strlen(name) + 1);
	crypto_generichash_update(all, (const uint8_t *)&n, sizeof n);
	crypto_generichash_update(all, hs, 32 * n);
	free(hs);
}

void veld_test_pg_digest(const char *conninfo, const char *const *skip, uint8_t out[32])
{
	PGconn *pg = connect_to(conninfo);
	PGresult *tables;
	crypto_generichash_state all;
	if (sodium_init() < 0)
		fail_msg("sodium_init failed");
	crypto_generichash_init(&all, NULL, 0, 32);
	PQclear(run(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
	tables = run(pg, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
	                 " ORDER BY tablename COLLATE \"C\"");
	for (int i = 0; i < PQntuples(tables); i++) {
		const char *name = PQgetvalue(tables, i, 0);
		if (!skipped(name, skip))
			digest_table(pg, name, &all);
	}
	PQclear(tables);
	PQclear(run(pg, "COMMIT"));
	PQfinish(pg);
	crypto_generichash_final(&all, out, 32);
}

long long veld_test_pg_count(const char *conninfo, const char *table)
{
	char sql[200];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM \"%s\"", table);
	return veld_test_pg_int(conninfo, sql);
}

long long veld_test_pg_int(const char *conninfo, const char *sql)
{
	PGconn *pg = connect_to(conninfo);
	PGresult *r = run(pg, sql);
	long long v = 0;
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && PQnfields(r) > 0 &&
	    !PQgetisnull(r, 0, 0)) {
		char *end;
		v = strtoll(PQgetvalue(r, 0, 0), &end, 10);
		if (*end) {
			PQclear(r);
			PQfinish(pg);
			fail_msg("PostgreSQL: %s: not an integer", sql);
		}
	}
	PQclear(r);
	PQfinish(pg);
	return v;
}

long long veld_test_pg_exec(const char *conninfo, const char *sql)
{
	PGconn *pg = connect_to(conninfo);
	PGresult *r = run(pg, sql);
	long long n = atoll(PQcmdTuples(r));
	PQclear(r);
	PQfinish(pg);
	return n;
}

long veld_test_pg_blob(const char *conninfo, const char *sql, uint8_t *out, size_t cap)
{
	PGconn *pg = connect_to(conninfo);
	PGresult *r = PQexecParams(pg, sql, 0, NULL, NULL, NULL, NULL, 1);
	long n = -1;
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		char msg[512];
		snprintf(msg, sizeof msg, "%s", PQerrorMessage(pg));
		msg[strcspn(msg, "\n")] = 0;
		PQclear(r);
		PQfinish(pg);
		fail_msg("PostgreSQL: %s: %s", sql, msg);
	}
	if (PQntuples(r) > 0 && PQnfields(r) > 0 && !PQgetisnull(r, 0, 0)) {
		size_t len = (size_t)PQgetlength(r, 0, 0);
		if (len > cap) {
			PQclear(r);
			PQfinish(pg);
			fail_msg("PostgreSQL: %s: %zu bytes, more than %zu", sql, len, cap);
		}
		memcpy(out, PQgetvalue(r, 0, 0), len);
		n = (long)len;
	}
	PQclear(r);
	PQfinish(pg);
	return n;
}

veld_test_pg_hold *veld_test_pg_begin(const char *conninfo, const char *sql)
{
	veld_test_pg_hold *h = malloc(sizeof *h);
	assert_non_null(h);
	h->pg = connect_to(conninfo);
	PQclear(run(h->pg, "BEGIN"));
	PQclear(run(h->pg, sql));
	return h;
}

void veld_test_pg_release(veld_test_pg_hold *h)
{
	if (h == NULL)
		return;
	PQclear(run(h->pg, "ROLLBACK"));
	PQfinish(h->pg);
	free(h);
}

const char *veld_test_sql_blob(char *out, size_t cap, const char *hex)
{
	int n = veld_test_pg() ? snprintf(out, cap, "'\\x%s'::bytea", hex)
	                       : snprintf(out, cap, "x'%s'", hex);
	if (n < 0 || (size_t)n >= cap)
		fail_msg("veld_test_sql_blob: %zu bytes are too few", cap);
	return out;
}
