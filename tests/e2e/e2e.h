/* e2e.h - fixtures for end-to-end tests: a real `veld serve` process on
 * 127.0.0.1, an office store and device stores in temporary directories.
 *
 * Each test runs twice under ctest: NAME with the server's state in SQLite
 * in its data directory, NAME_pg (VELD_TEST_DB=pg) with it in a PostgreSQL
 * database of the throwaway cluster (`veld serve --db`), one database a data
 * directory (pgdb.h, included here). A test that looks into the server's
 * database from outside does it through the e2e_server_* functions below,
 * which go to whichever the server uses. */
#ifndef VELD_E2E_H
#define VELD_E2E_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <sys/types.h>
#include <cmocka.h>

#include "pgdb.h"
#include "veld.h"
#include "veld_sync.h"

#define E2E_PASS "end to end test passphrase"

#define ok(call) do { int rc_ = (call); if (rc_ != VELD_OK) \
	fail_msg("%s -> %d: %s", #call, rc_, veld_error_last()); } while (0)

struct e2e_server {
	pid_t pid;
	uint16_t port;
	char dir[256];  /* data directory */
	char url[64];
	char out[300];  /* the process's stdout and stderr, in files */
	char err[300];
	char db[512];   /* its PostgreSQL conninfo (--db), or "" on SQLite */
};

/* Path of the veld binary under test (argv[1] of the test program). */
extern const char *e2e_veld;

char *e2e_tmpdir(void);
/* Remove a directory tree, and in a _pg run the databases of the servers
 * whose data directories were in it (their processes stopped). */
void e2e_rm_rf(const char *dir);
/* Start `veld serve` on 127.0.0.1 (port 0: any free port; else that port,
 * for a restart). Waits until it answers. */
void e2e_server_start(struct e2e_server *srv, const char *data_dir, uint16_t port);
/* The same with more arguments for `veld serve` (NULL-terminated, at most
 * 15), such as --tls-cert FILE --tls-key FILE; srv->url is https:// then.
 * In a _pg run the server gets `--db` the database of data_dir
 * (veld_test_pg_db(data_dir)): a restart on the same directory finds its
 * state again. */
void e2e_server_start_with(struct e2e_server *srv, const char *data_dir, uint16_t port,
                           const char *const *extra);
/* The same with the database given: `conninfo` for `--db` (NULL: none, so
 * SQLite in data_dir, whatever the run). Two servers, each with a data
 * directory of its own, share a database given the same conninfo (from
 * veld_test_pg_db with one key). */
void e2e_server_start_db(struct e2e_server *srv, const char *data_dir, uint16_t port,
                         const char *conninfo, const char *const *extra);
/* SIGTERM (clean) or SIGKILL, then wait for the process. */
void e2e_server_stop(struct e2e_server *srv, int sig);
/* The office setup code the server wrote on its first start. */
void e2e_setup_code(const struct e2e_server *srv, char code[64]);

/* The server's database seen from outside, as a malicious or broken
 * server would leave it: SQLite's DIR/server.db, or its PostgreSQL
 * database (srv->db). The SQL is the database's own: e2e_blob writes a
 * blob literal for it. Each fails the test when the statement does not
 * run. The server may be running or stopped. */
/* The first column of the first row as a whole number; 0 for no row. */
int64_t e2e_server_int(const struct e2e_server *srv, const char *sql);
/* Run statements; the rows the last one changed. */
int64_t e2e_server_exec(const struct e2e_server *srv, const char *sql);
/* The first column of the first row (a blob) into `out`; its length, or
 * -1 for no row or NULL. */
long e2e_server_blob(const struct e2e_server *srv, const char *sql, uint8_t *out, size_t cap);
/* The blob literal of `hex` in the server database's SQL. */
const char *e2e_blob(char *out, size_t cap, const char *hex);
/* Every row of every table reads back whole (SQLite: its integrity_check;
 * PostgreSQL: a read of every row, which a damaged page fails). */
void e2e_server_intact(const struct e2e_server *srv);
/* A backup of a stopped server, or its restore: directory `to` becomes a
 * copy of `from`, and in a _pg run the database of `to` one of the
 * database of `from` (as e2e_server_start_with names them). */
void e2e_server_copy(const char *from, const char *to);
/* A notice the office never signed, as a server could forge it: team's
 * next number, `kind`, body bytes `body_hex`, 64 random bytes for a
 * signature, in the notices feed as the server would store it. Returns
 * the rows added (1). */
int64_t e2e_server_forge_notice(const struct e2e_server *srv, const char *team, const char *kind,
                                const char *body_hex);

veld_store *e2e_store(const char *parent, const char *name, const char *team, int office);
veld_store *e2e_reopen(const char *parent, const char *name);
/* An office store enrolled with the server. */
veld_store *e2e_office(const struct e2e_server *srv, const char *parent);
/* A device store of `team`, invited by the office and enrolled; the
 * office's next sync certifies it (e2e_device syncs the office). */
veld_store *e2e_device_uncertified(const struct e2e_server *srv, veld_store *office,
                                   const char *parent, const char *name, const char *team);
veld_store *e2e_device(const struct e2e_server *srv, veld_store *office, const char *parent,
                       const char *name, const char *team);
/* A whole number of veld_store_info's answer. */
uint64_t e2e_info_u(veld_store *s, const char *key);
void e2e_sync(veld_store *s);
/* Create a record; returns its id (malloc'd). */
char *e2e_create(veld_store *s, const char *kind, const char *fields_json);
/* Everything a replica shows of every kind, conflicts included. */
char *e2e_state(veld_store *s);
/* Count records of a kind. */
size_t e2e_count(veld_store *s, const char *kind);
/* Read a whole file (NULL if absent). */
uint8_t *e2e_slurp(const char *path, size_t *len);
int e2e_contains(const uint8_t *hay, size_t n, const char *needle);

#endif
