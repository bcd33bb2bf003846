/* server_nonces.c - request nonces of the SQLite backend (server_nonces.h).
 *
 *   nonces(device, nonce, time)   PRIMARY KEY (device, nonce)
 *
 * WAL with synchronous=NORMAL, like server.db. The two files have a WAL
 * each, so a power cut may lose the last nonces while server.db keeps the
 * requests they belonged to: a replay of one of those within the window is
 * then taken again, and changes nothing, because every write is
 * idempotent (a push of operations held, a notice or checkpoint held, an
 * invite already used, a device already revoked) and a read only reads.
 *
 * A nonce is kept twice the authentication window: a request's time is
 * checked when its headers arrive, its nonce when its body has (up to the
 * body timeout later) and the writer is free.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "auth.h"
#include "error.h"
#include "veld_errors.h"
#include "server_nonces.h"

/* How often, at most, old nonces are deleted. */
#define PRUNE_EVERY_MS (60u * 1000u)

enum { N_GET, N_PUT, N_PRUNE, N__COUNT };

static const char *const sql[N__COUNT] = {
	[N_GET] = "SELECT 1 FROM nonces WHERE device = ?1 AND nonce = ?2",
	[N_PUT] = "INSERT INTO nonces(device, nonce, time) VALUES(?1, ?2, ?3)"
	          " ON CONFLICT DO NOTHING",
	[N_PRUNE] = "DELETE FROM nonces WHERE time < ?1",
};

struct veld__nonces {
	pthread_mutex_t mu;
	sqlite3 *db;
	sqlite3_stmt *st[N__COUNT];
	uint64_t pruned_ms;
};

void veld__nonces_close(struct veld__nonces *n)
{
	if (!n)
		return;
	for (int i = 0; i < N__COUNT; i++)
		sqlite3_finalize(n->st[i]);
	sqlite3_close(n->db);
	pthread_mutex_destroy(&n->mu);
	free(n);
}

int veld__db_file(char *path, size_t cap, const char *dir, const char *file, const char *what)
{
	int fd;
	if (snprintf(path, cap, "%s/%s", dir, file) >= (int)cap)
		return veld__err(VELD_EINVAL, "the data directory path is too long");
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return veld__err(VELD_EIO, "cannot open %s: %s", what, strerror(errno));
	close(fd);
	return VELD_OK;
}

int veld__nonces_open(struct veld__nonces **out, const char *dir)
{
	struct veld__nonces *n;
	char path[4096];
	int rc;
	*out = NULL;
	if ((rc = veld__db_file(path, sizeof path, dir, "nonces.db", "the nonce database")) !=
	    VELD_OK)
		return rc;
	if (!(n = calloc(1, sizeof *n)))
		return veld__err(VELD_ENOMEM, "out of memory");
	pthread_mutex_init(&n->mu, NULL);
	rc = sqlite3_open_v2(path, &n->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_extended_result_codes(n->db, 1);
		sqlite3_busy_timeout(n->db, 5000);
		rc = sqlite3_exec(n->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
		                  " CREATE TABLE IF NOT EXISTS nonces(device BLOB NOT NULL,"
		                  " nonce BLOB NOT NULL, time INTEGER NOT NULL,"
		                  " PRIMARY KEY(device, nonce)) WITHOUT ROWID;"
		                  " CREATE INDEX IF NOT EXISTS nonces_time ON nonces(time);",
		                  NULL, NULL, NULL);
	}
	for (int i = 0; i < N__COUNT && rc == SQLITE_OK; i++)
		rc = sqlite3_prepare_v3(n->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &n->st[i], NULL);
	if (rc != SQLITE_OK) {
		rc = veld__err_sqlite(rc, "opening the nonce database");
		veld__nonces_close(n);
		return rc;
	}
	*out = n;
	return VELD_OK;
}

/* Run statement i with the device, the nonce and a time bound as given;
 * returns sqlite3_step's code (the statement is reset after). */
static int run(struct veld__nonces *n, int i, const uint8_t *device, const uint8_t *nonce,
               uint64_t t)
{
	sqlite3_stmt *st = n->st[i];
	int rc = SQLITE_OK;
	sqlite3_reset(st);
	if (device)
		rc = sqlite3_bind_blob(st, 1, device, 16, SQLITE_STATIC);
	if (rc == SQLITE_OK && nonce)
		rc = sqlite3_bind_blob(st, 2, nonce, 16, SQLITE_STATIC);
	if (rc == SQLITE_OK && i != N_GET)
		rc = sqlite3_bind_int64(st, i == N_PUT ? 3 : 1, (sqlite3_int64)t);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc;
}

int veld__nonces_seen(struct veld__nonces *n, const uint8_t device[16], const uint8_t nonce[16],
                      int *seen)
{
	int rc;
	pthread_mutex_lock(&n->mu);
	rc = run(n, N_GET, device, nonce, 0);
	pthread_mutex_unlock(&n->mu);
	*seen = rc == SQLITE_ROW;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return veld__err_sqlite(rc, "reading nonces");
	return VELD_OK;
}

int veld__nonces_record(struct veld__nonces *n, const uint8_t device[16], const uint8_t nonce[16],
                        uint64_t time_ms, uint64_t now_ms, int *fresh)
{
	int rc;
	pthread_mutex_lock(&n->mu);
	rc = run(n, N_PUT, device, nonce, time_ms);
	*fresh = rc == SQLITE_DONE && sqlite3_changes(n->db) == 1;
	if (rc == SQLITE_DONE && now_ms > 2 * (uint64_t)VELD_AUTH_WINDOW_MS &&
	    now_ms - n->pruned_ms >= PRUNE_EVERY_MS) {
		/* a failed prune is tried again next time; it loses nothing */
		if (run(n, N_PRUNE, NULL, NULL, now_ms - 2 * (uint64_t)VELD_AUTH_WINDOW_MS) ==
		    SQLITE_DONE)
			n->pruned_ms = now_ms;
	}
	pthread_mutex_unlock(&n->mu);
	if (rc != SQLITE_DONE)
		return veld__err_sqlite(rc, "recording the nonce");
	return VELD_OK;
}
