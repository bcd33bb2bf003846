/* pgdb.h - the tests' side of the server's PostgreSQL backend.
 *
 * The server's tests run twice under ctest: as NAME on SQLite in the data
 * directory, and as NAME_pg (VELD_TEST_DB=pg) on a database of the
 * throwaway cluster of pgtest.sh. A test asks veld_test_pg() which run it
 * is in, gets a database for a server from veld_test_pg_db(), and, where it
 * looks into the server's database from outside, uses the other functions
 * here on that database's conninfo.
 *
 * The cluster is found through VELD_PG_CONNINFO (a conninfo of its
 * maintenance database "postgres", as a superuser), else through the file
 * VELD_PGTEST_ENV names (pgtest.sh writes it, with that line). Every
 * function here fails the running cmocka test, with a message that says
 * what and where, when the cluster is missing or a statement fails; none
 * returns an error. Each call opens a connection of its own and closes it
 * before it returns; the only state kept between calls is the list of
 * databases made, behind a mutex, so any thread may call them. */
#ifndef VELD_TEST_PGDB_H
#define VELD_TEST_PGDB_H

#include <stddef.h>
#include <stdint.h>

/* 1 when this run keeps the servers' state in PostgreSQL (the environment
 * holds VELD_TEST_DB=pg), else 0. */
int veld_test_pg(void);

/* The conninfo ("host=DIR user=USER dbname=veld_t_HEX", key=value form) of
 * the database for `key`, created if missing. The name comes from a hash of
 * the key: a server restarted with the same key (its data directory)
 * reaches the same database, two servers given one key share it. It
 * stays until veld_test_pg_drop_under, or the cluster goes (pg_stop).
 * `cap` of 512 is always enough. */
void veld_test_pg_db(const char *key, char *conninfo, size_t cap);

/* Drop the databases this process got from veld_test_pg_db and
 * veld_test_pg_copy whose key is `dir` or a path under it, whoever is
 * still connected: a test's cleanup, once its servers are stopped (each
 * database takes some 10 MB of the cluster). Does nothing for the others,
 * nor in a run on SQLite. */
void veld_test_pg_drop_under(const char *dir);

/* The database of `to_key` becomes a copy of that of `from_key` (created
 * if missing), as a backup or its restore: to_key's database is dropped
 * first, whoever is connected to it. No one may be connected to
 * from_key's (its server stopped). */
void veld_test_pg_copy(const char *from_key, const char *to_key);

/* A digest of every row of every table of the database's schema but those
 * named in `skip` (NULL-terminated, or NULL), in one snapshot. The order
 * of rows does not count; their values, NULLs and tables do. */
void veld_test_pg_digest(const char *conninfo, const char *const *skip, uint8_t out[32]);

/* count(*) of a table. */
long long veld_test_pg_count(const char *conninfo, const char *table);

/* The first column of the first row of `sql`, as an integer; 0 when it
 * returns no row or none at all (a statement that changes the database). */
long long veld_test_pg_int(const char *conninfo, const char *sql);

/* Run `sql` (one or more statements); the rows the last one changed. */
long long veld_test_pg_exec(const char *conninfo, const char *sql);

/* The first column of the first row of `sql` (a bytea) copied to `out`:
 * its length, or -1 when there is no row or it is NULL. Fails the test if
 * it holds more than `cap` bytes. */
long veld_test_pg_blob(const char *conninfo, const char *sql, uint8_t *out, size_t cap);

/* A transaction left open on a connection of its own: `sql` runs in it,
 * and whatever locks it takes stay until veld_test_pg_release rolls it
 * back and closes the connection. */
typedef struct veld_test_pg_hold veld_test_pg_hold;
veld_test_pg_hold *veld_test_pg_begin(const char *conninfo, const char *sql);
void veld_test_pg_release(veld_test_pg_hold *h);

/* A blob literal of `hex` (lower or upper case hex digits, no prefix) in
 * the SQL of the server's database in this run: x'HEX' for SQLite,
 * '\xHEX'::bytea for PostgreSQL. Returns `out`. */
const char *veld_test_sql_blob(char *out, size_t cap, const char *hex);

#endif
