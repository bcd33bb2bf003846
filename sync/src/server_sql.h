/* server_sql.h - the SQL under the server's rules (private).
 *
 * server_store.c holds the rules of every endpoint (server_store.h) once,
 * written against the small driver below; a backend is a driver with its
 * schema and one table of statement texts, indexed by the names here, in
 * its own dialect: server_sqlite.c (SQLite, the default) and server_pg.c
 * (PostgreSQL through libpq). A statement's parameters are numbered in the
 * order of its type letters (?1 ?2 ... in SQLite, $1 $2 ... in
 * PostgreSQL) and its columns are read by index, so the rules never see a
 * dialect.
 *
 * How each backend keeps the promises of server_store.h:
 *  - Writes are serialised: SQLite has one writer connection (BEGIN
 *    IMMEDIATE); PostgreSQL takes a transaction-scoped advisory lock
 *    (pg_advisory_xact_lock) first in every write, held by at most one
 *    transaction of every process on the database until its commit is
 *    visible. So cursors are handed out and become visible in commit
 *    order, and the rules' checks see every earlier write.
 *  - Reads see one snapshot (SQLite: a deferred transaction on a reader
 *    connection; PostgreSQL: REPEATABLE READ, READ ONLY) and never wait for
 *    a write.
 *  - Nonces: recorded by the driver (nonce_record), inside a write's
 *    transaction just before its commit, or after a read's page with
 *    insert-if-absent; *fresh 0 when a copy recorded it first.
 *  - A driver failure that another try may cure (PostgreSQL: a
 *    serialisation failure, a deadlock, a lost connection before COMMIT)
 *    makes `retryable` true; the rules then run the request again from its
 *    start, a few times, before they answer 500.
 */
#ifndef VELD_SERVER_SQL_H
#define VELD_SERVER_SQL_H

#include "merge.h"
#include "server_store.h"

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* The statements the rules run; each dialect has a text for every one. */
enum veld__sql_stmt {
	S_DEV_GET, S_DEV_INSERT, S_DEV_SET_LAST, S_DEV_REVOKE, S_DEV_OFFICE, S_DEV_LIST,
	S_INV_GET, S_INV_PUT, S_INV_USE, S_INV_OFFICE_LIVE,
	S_OP_HASH, S_FEED_PUT, S_FEED_ALL, S_FEED_TEAM, S_FEED_OFFICE,
	S_BATCH_PUT, S_BATCH_FIND, S_BATCH_HASHES,
	S_CLIENT_GET, S_CLIENT_PUT, S_ENTITY_GET,
	S_ENV_PUT, S_ENV_PAGE,
	S_TK_CURRENT, S_TK_GET, S_TK_PUT, S_TKS_PUT, S_TKS_DEVICE,
	S_AUDIT_LAST, S_AUDIT_PUT, S_AUDIT_PAGE,
	S_ERASED_OP_PUT, S_ERASE_PUT, S_ERASE_OPS_OF, S_ERASE_OPS, S_ERASE_SUPERSEDED,
	S_ERASE_CONFLICTS, S_ERASE_ENTITIES, S_ERASE_CLIENT, S_ERASE_ENVELOPES, S_ERASE_MERGE,
	S_POLICY_GET, S_POLICY_PUT,
	S_MOVE_PUT, S_MOVE_ENVELOPES, S_TEAM_KNOWN,
	S_NOTICE_LAST, S_NOTICE_GET, S_NOTICE_PUT, S_NOTICE_PAGE_ALL, S_NOTICE_PAGE_TEAM,
	S_CKPT_GET, S_CKPT_PUT,
	S__COUNT
};

/* step's answers besides a negative VELD_E* code. */
#define VELD__SQL_DONE 0
#define VELD__SQL_ROW 1

/* A statement of one connection. A driver's statement starts with this
 * (the rest is the driver's own). */
struct veld__sqlst {
	const struct veld__sqldrv *drv;
};

/* One connection as the rules use it. A driver's connection starts with
 * this. `store` is the backend it belongs to; `mu` is held while a request
 * uses the connection; `merge` is the merge rule on it (open on every
 * connection that writes). */
struct veld__sqlconn {
	const struct veld__sqldrv *drv;
	struct veld__sqlstore *store;
	pthread_mutex_t mu;
	struct veld__merge merge;
	int merge_open;
};

/* A backend: the store handle server.c holds, the driver and its
 * connections. A driver's store starts with this. */
struct veld__sqlstore {
	struct veld__sstore base;
	const struct veld__sqldrv *drv;
};

struct veld__sqldrv {
	/* Statement i with its parameters bound from `types`, one letter each
	 * (server_store.c, query); nothing is copied: what is bound lives until
	 * the statement is reset. It runs at the first step. */
	struct veld__sqlst *(*query)(struct veld__sqlconn *c, int i, const char *types,
	                             va_list ap);
	/* The next row: VELD__SQL_ROW, VELD__SQL_DONE, or a negative VELD_E*
	 * code with veld_error_last set (a bind that failed included). */
	int (*step)(struct veld__sqlconn *c, struct veld__sqlst *st);
	/* Done with the rows (a statement may be reset twice). */
	void (*reset)(struct veld__sqlst *st);
	/* The current row's column i: NULL?, an integer, a blob (*n its size;
	 * a pointer valid until the next step or reset; an empty blob may be
	 * NULL or not: col_null tells it from NULL), text (NUL-ended; NULL for
	 * NULL). */
	int (*col_null)(struct veld__sqlst *st, int i);
	uint64_t (*col_u64)(struct veld__sqlst *st, int i);
	const void *(*col_blob)(struct veld__sqlst *st, int i, size_t *n);
	const char *(*col_text)(struct veld__sqlst *st, int i);
	/* Rows changed by the last statement that wrote. */
	uint64_t (*changes)(struct veld__sqlconn *c);

	/* A connection for a request that writes (write 1) or only reads,
	 * with its mutex held (SQLite has one writer connection; every
	 * PostgreSQL connection may write); give releases it. */
	struct veld__sqlconn *(*take)(struct veld__sqlstore *s, int write);
	void (*give)(struct veld__sqlconn *c);
	/* Start a transaction (write: serialised with every other write of
	 * every process; else one snapshot), end it (commit 1: commit, else
	 * roll back; a rollback must end the transaction whatever happened). */
	int (*begin)(struct veld__sqlconn *c, int write);
	int (*end)(struct veld__sqlconn *c, int commit);
	/* Did the last failure come from something another try may cure? */
	int (*retryable)(struct veld__sqlconn *c);

	/* Nonces (server_store.h): seen, and record-if-absent. */
	int (*nonce_seen)(struct veld__sqlconn *c, const uint8_t device[16],
	                  const uint8_t nonce[16], int *seen);
	int (*nonce_record)(struct veld__sqlconn *c, const uint8_t device[16],
	                    const uint8_t nonce[16], uint64_t time_ms, uint64_t now_ms,
	                    int *fresh);
	void (*close)(struct veld__sqlstore *s);
};

/* The rules: the table server.c calls, over any driver (server_store.c). */
extern const struct veld__sstore_ops veld__sql_rules;

/* The PostgreSQL driver's write lock (pg_advisory_xact_lock's key, as
 * SQL text): every write of every process takes it (server_pg.c). Here so
 * that a test can hold it too. */
#define VELD__PG_LOCK_WRITE "508507743319"

/* Column lists, shared by the dialects: the rules read these columns by
 * their index, so both dialects must list them in this order. */
#define VELD__SQL_DEV_COLS                                                                      \
	"device, sign_pk, box_pk, team, role, label, enrolled, revoked, last_seq, auth, proof"
#define VELD__SQL_OP_COLS                                                                       \
	"o.device, o.seq, o.hlc, o.kind, o.entity, o.client, o.team, o.kv, o.field, o.value,"   \
	" o.sup, o.hash, o.ver"
/* A feed row as a page reads it: the cursor, the operation if it is held
 * (OP_COLS, NULL if erased), the feed's device and seq with what
 * erased_ops kept if it is erased (NULL if held), and the client's move
 * (its team, NULL if it did not move to another team). */
#define VELD__SQL_FEED_COLS                                                                     \
	"f.cursor, " VELD__SQL_OP_COLS ", f.device, f.seq, x.team, x.client, x.kh, x.hash,"     \
	" m.to_team"
#define VELD__SQL_FEED_JOIN                                                                     \
	" LEFT JOIN ops o ON o.device = f.device AND o.seq = f.seq"                             \
	" LEFT JOIN erased_ops x ON x.device = f.device AND x.seq = f.seq"                      \
	" LEFT JOIN moves m ON m.client = f.client"
#define VELD__SQL_NOTICE_COLS "cursor, team, n, kind, at, body, sig"

#endif
