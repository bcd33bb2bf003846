/* server_store.c - the server's rules, over any SQL backend (server_sql.h).
 *
 * Every endpoint's checks, in order, and its writes, once for both
 * backends: each request is one transaction on a connection its driver
 * gives (run): a write is serialised with every other write, of every
 * server process (SQLite: one writer connection; PostgreSQL: an advisory
 * lock), so cursors are handed out and become visible in commit order and
 * every check sees every earlier write; a read sees one snapshot and never
 * waits for a write. A failed or refused request rolls back whole; one
 * that failed for a reason its driver calls passing (a serialisation
 * failure, a deadlock, a lost connection) runs again from its start.
 *
 * The operation log and its merge state are the device schema
 * (core/src/merge.h) and every operation goes through veld__merge_apply,
 * the rule devices run (on SQLite over merge_sqlite.c's primitives, on
 * PostgreSQL over server_pg.c's). The server's own tables (the schemas are
 * in server_sqlite.c and server_pg.c):
 *
 *   devices(device, sign_pk, box_pk, team, role, label, enrolled, revoked,
 *           last_seq, auth, proof)
 *                              - enrolled devices; all of 1..last_seq held;
 *                                a worker's invite auth and enroll proof
 *   invites(auth, team, role, expires, tv, team_sealed, used)
 *                              - single-use enrollment invites, by auth
 *                                (the server never sees a code)
 *   feed(cursor, device, seq, team, client)
 *                              - every operation in arrival order, also
 *                                those erased since or dropped on arrival
 *                                (a pull shows those as stubs)
 *   batches(device, first, last, sig, ver)
 *                              - batch signatures and the format of their
 *                                operations; the hashes are ops.hash and
 *                                erased_ops.hash
 *   envelopes(cursor, client, kv, to, tv, sealed, team, from, sig)
 *                              - client data keys sealed for a team/office,
 *                                signed by the device that sealed them
 *   team_keys(team, tv, pk, sig), team_key_sealed(team, tv, device, sealed)
 *                              - team keys as the office signed them
 *   clients(client, team)      - the team a client was first seen with
 *   audit_log(cursor, device, seq, sealed, sig, arrived)
 *                              - devices' access-log entries in arrival
 *                                order, sealed to the office
 *   erasures(cursor, client, team, at, sig)
 *                              - erased clients, with the erase notice's
 *                                time and signature; the merge's own
 *                                erased(client, at) holds them too, so the
 *                                merge rule drops their operations
 *   field_policy(team, at, mask, sig)
 *                              - each team's field policy as its last
 *                                policy notice set it; pulls of the team's
 *                                workers hold back the values of the fields
 *                                it keeps at the office (the default
 *                                without a row)
 *   moves(client, team, to_team, at, sig)
 *                              - clients the office moved to another team,
 *                                with the move notice's time and signature:
 *                                their operations stay (the office pulls
 *                                them whole), a worker's pull shows them as
 *                                stubs, later ones are stored as any
 *   erased_ops(device, seq, hash, team, client, kh)
 *                              - operations held but erased since (or
 *                                dropped on arrival): their hash, which a
 *                                batch signature covers, and what a stub
 *                                shows of them
 *   notices(cursor, team, n, kind, at, body, sig)
 *                              - the office's notices in arrival order,
 *                                numbered per team
 *   checkpoints(team, at, n, heads, sig)
 *                              - each team's latest checkpoint
 *
 * Every seq 1..devices.last_seq of a device has its hash in ops or in
 * erased_ops, and a feed row. Request nonces are the driver's (SQLite:
 * nonces.db; PostgreSQL: a table).
 */
#include "server_sql.h"
#include "auth.h"
#include "error.h"
#include "merge.h"
#include "policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WEEK_MS (7ull * 24 * 3600 * 1000)

/* ---- statements ---------------------------------------------------------------- */

/* Named statement i (server_sql.h), with its parameters bound from
 * `types`, one letter a parameter:
 *   i  16 bytes (const uint8_t *): an id or a nonce
 *   k  32 bytes (const uint8_t *): a public key, a code's auth, a hash
 *   g  64 bytes (const uint8_t *): a signature
 *   e  a sealed key, VELD_SEALED_KEY_BYTES (const uint8_t *)
 *   b  a blob of another size: const void *, then its size_t length
 *   u  a uint64_t (pass one: a narrower integer must be cast)
 *   t  text (const char *); NULL binds NULL, as a NULL blob does
 * Nothing is copied: what is bound must live until the statement is reset.
 * A bind that fails is not lost: the next step() returns its error. */
static struct veld__sqlst *vquery(struct veld__sqlconn *s, int i, const char *types,
                                  va_list ap)
{
	return s->drv->query(s, i, types, ap);
}

static struct veld__sqlst *query(struct veld__sqlconn *s, int i, const char *types, ...)
{
	struct veld__sqlst *st;
	va_list ap;
	va_start(ap, types);
	st = vquery(s, i, types, ap);
	va_end(ap);
	return st;
}

/* The next row: VELD__SQL_ROW, VELD__SQL_DONE or a negative VELD_E* code. */
static int step(struct veld__sqlconn *s, struct veld__sqlst *st)
{
	return s->drv->step(s, st);
}

static void reset(struct veld__sqlst *st)
{
	st->drv->reset(st);
}

static int failed(int rc, const char *what)
{
	return veld__err_prefix(rc, what);
}

/* Run a statement that returns no row; `what` names it in an error. */
static int exec(struct veld__sqlconn *s, const char *what, int i, const char *types, ...)
{
	struct veld__sqlst *st;
	va_list ap;
	int rc;
	va_start(ap, types);
	st = vquery(s, i, types, ap);
	va_end(ap);
	rc = step(s, st);
	reset(st);
	return rc >= 0 ? VELD_OK : failed(rc, what);
}

/* Step to a statement's first row: 1 with `st` on it (the caller reads the
 * row, then resets), 0 when there is none, or an error; reset unless 1. */
static int first_row(struct veld__sqlconn *s, struct veld__sqlst *st, const char *what)
{
	int rc = step(s, st);
	if (rc == VELD__SQL_ROW)
		return 1;
	reset(st);
	return rc == VELD__SQL_DONE ? 0 : failed(rc, what);
}

/* Does a statement give a row? */
static int exists(struct veld__sqlconn *s, struct veld__sqlst *st, const char *what, int *found)
{
	int rc = first_row(s, st, what);
	if (rc == 1)
		reset(st);
	*found = rc == 1;
	return rc < 0 ? rc : VELD_OK;
}

static int col_null(struct veld__sqlst *st, int i)
{
	return st->drv->col_null(st, i);
}

static uint64_t col_u64(struct veld__sqlst *st, int i)
{
	return st->drv->col_u64(st, i);
}

static size_t col_len(struct veld__sqlst *st, int i)
{
	size_t n;
	(void)st->drv->col_blob(st, i, &n);
	return n;
}

static const void *col_ptr(struct veld__sqlst *st, int i)
{
	size_t n;
	return st->drv->col_blob(st, i, &n);
}

static const char *col_str(struct veld__sqlst *st, int i)
{
	return st->drv->col_text(st, i);
}

/* A statement's one integer (max(...)): 0 for NULL. */
static int scalar(struct veld__sqlconn *s, struct veld__sqlst *st, const char *what, uint64_t *v)
{
	int rc = first_row(s, st, what);
	*v = rc == 1 ? col_u64(st, 0) : 0;
	if (rc == 1)
		reset(st);
	return rc < 0 ? rc : VELD_OK;
}

/* After a loop over rows: reset; VELD_OK when it ran out of rows or stopped
 * on one (a full page). An error, of a step or of the loop's body, stays
 * as it is. */
static int rows_end(struct veld__sqlst *st, int rc)
{
	reset(st);
	return rc == VELD__SQL_DONE || rc == VELD__SQL_ROW ? VELD_OK : rc;
}

/* Copy a blob column of exactly n bytes; -1 if it has another size. */
static int col_blob(struct veld__sqlst *st, int i, void *out, size_t n)
{
	size_t len;
	const void *p = st->drv->col_blob(st, i, &len);
	if (len != n || (n && !p))
		return -1;
	memcpy(out, p, n);
	return 0;
}

static void col_text(struct veld__sqlst *st, int i, char *out, size_t cap)
{
	const char *t = col_str(st, i);
	snprintf(out, cap, "%s", t ? t : "");
}

/* Room for element n of an array that grows in an arena (doubling; the
 * old copies stay until the arena is freed): the element, zeroed, or NULL
 * when out of memory. */
static void *arena_grow(struct veld__arena *mem, void **arr, size_t n, size_t *cap, size_t size)
{
	if (n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		void *q = veld__arena_alloc(mem, ncap * size);
		if (!q)
			return NULL;
		if (n)
			memcpy(q, *arr, n * size);
		*arr = q;
		*cap = ncap;
	}
	return (unsigned char *)*arr + n * size;
}

/* ---- devices, nonces, team keys --------------------------------------------------- */

static int refuse(struct veld__srv_outcome *out, enum veld__srv_refusal r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Decide the request as refused; returns VELD_OK (the store did not fail). */
static int refuse(struct veld__srv_outcome *out, enum veld__srv_refusal r, const char *fmt, ...)
{
	va_list ap;
	out->refusal = r;
	va_start(ap, fmt);
	vsnprintf(out->message, sizeof out->message, fmt, ap);
	va_end(ap);
	return VELD_OK;
}

static int read_device(struct veld__sqlst *st, struct veld__srv_device *d)
{
	memset(d, 0, sizeof *d);
	if (col_blob(st, 0, d->device, VELD_ID_BYTES) || col_blob(st, 1, d->sign_pk, 32) ||
	    col_blob(st, 2, d->box_pk, 32))
		return veld__err(VELD_ECORRUPT, "a device row is damaged");
	col_text(st, 3, d->team, sizeof d->team);
	col_text(st, 4, d->role, sizeof d->role);
	col_text(st, 5, d->label, sizeof d->label);
	d->enrolled = col_u64(st, 6);
	d->revoked = col_null(st, 7) ? 0 : col_u64(st, 7);
	d->last_seq = col_u64(st, 8);
	d->has_auth = !col_null(st, 9);
	if (d->has_auth && (col_blob(st, 9, d->auth, 32) || col_blob(st, 10, d->proof, 32)))
		return veld__err(VELD_ECORRUPT, "a device row is damaged");
	return VELD_OK;
}

/* The device a statement's first row holds: VELD_ENOTFOUND if none. */
static int device_row(struct veld__sqlconn *s, struct veld__sqlst *st, const char *what,
                      struct veld__srv_device *d)
{
	int rc = first_row(s, st, what);
	if (rc != 1)
		return rc == 0 ? VELD_ENOTFOUND : rc;
	rc = read_device(st, d);
	reset(st);
	return rc;
}

static int device_load(struct veld__sqlconn *s, const uint8_t id[VELD_ID_BYTES],
                       struct veld__srv_device *d)
{
	return device_row(s, query(s, S_DEV_GET, "i", id), "reading a device", d);
}

static int office_load(struct veld__sqlconn *s, struct veld__srv_device *d, int *found)
{
	int rc = device_row(s, query(s, S_DEV_OFFICE, ""), "reading the office device", d);
	*found = rc == VELD_OK;
	return rc == VELD_ENOTFOUND ? VELD_OK : rc;
}

/* Team key version currently published for `team` (0 if none). */
static int team_current(struct veld__sqlconn *s, const char *team, uint64_t *tv)
{
	return scalar(s, query(s, S_TK_CURRENT, "t", team), "reading team keys", tv);
}

/* The public key of a team's key version: VELD_ENOTFOUND if its row is
 * missing or damaged. */
static int team_key(struct veld__sqlconn *s, const char *team, uint64_t tv, uint8_t pk[32])
{
	struct veld__sqlst *st = query(s, S_TK_GET, "tu", team, tv);
	int rc = first_row(s, st, "reading team keys");
	if (rc != 1)
		return rc == 0 ? VELD_ENOTFOUND : rc;
	rc = col_blob(st, 0, pk, 32) ? VELD_ENOTFOUND : VELD_OK;
	reset(st);
	return rc;
}

/* ---- one request, one transaction ----------------------------------------------- */

/* Begin a write on a connection taken for one (serialised with every
 * other write, of every process). What the merge remembers of the last
 * record it checked goes: another connection, or another server process,
 * may have erased that record since. */
static int tx_begin(struct veld__sqlconn *s)
{
	int rc = s->drv->begin(s, 1);
	if (rc == VELD_OK) {
		veld__merge_forget(&s->merge);
		veld__merge_tx_begin(&s->merge);
	}
	return rc;
}

/* Roll back. Returns rc, or the rollback's own failure when rc is
 * VELD_OK: a refused request must not be answered as if nothing was
 * written when the rollback did not happen. The connection stays taken. */
static int tx_rollback(struct veld__sqlconn *s, int rc)
{
	int r = s->drv->end(s, 0);
	veld__merge_forget(&s->merge);
	return rc == VELD_OK && r != VELD_OK ? r : rc;
}

/* Commit if rc is VELD_OK, else roll back (the connection stays taken). */
static int tx_commit(struct veld__sqlconn *s, int rc)
{
	if (rc == VELD_OK)
		rc = s->drv->end(s, 1);
	else
		rc = tx_rollback(s, rc);
	if (rc != VELD_OK)
		veld__merge_forget(&s->merge);
	return rc;
}

/* Who may make a request. */
enum who {
	NEW_DEVICE,  /* enroll: a device not enrolled yet (only its nonce is checked) */
	ANY_DEVICE,  /* an enrolled, active device */
	OFFICE_ONLY  /* the office's device */
};

/* Inside the transaction: the requester is (still) enrolled, active and
 * allowed, and its nonce is new. A refusal is left in `out`. */
static int requester(struct veld__sqlconn *s, const struct veld__srv_req *req, enum who who,
                     struct veld__srv_device *dev, struct veld__srv_outcome *out)
{
	int seen, rc = who == NEW_DEVICE ? VELD_OK : device_load(s, req->device, dev);
	if (rc == VELD_ENOTFOUND)
		return refuse(out, VELD_SRV_UNKNOWN_DEVICE, "unknown device");
	if (rc != VELD_OK)
		return rc;
	if (who != NEW_DEVICE && dev->revoked)
		return refuse(out, VELD_SRV_REVOKED, "this device was revoked; wipe its store");
	if ((rc = s->drv->nonce_seen(s, req->device, req->nonce, &seen)) != VELD_OK)
		return rc;
	if (seen)
		return refuse(out, VELD_SRV_REPLAY, "nonce already used");
	if (who == OFFICE_ONLY && strcmp(dev->role, "office") != 0)
		return refuse(out, VELD_SRV_FORBIDDEN, "only the office may do this");
	return VELD_OK;
}

/* What an endpoint gets besides the request: its message, where its
 * answer goes, and (push, access-log push) whether the signatures
 * verified. */
struct call {
	const void *m;
	void *resp;
	int sig_ok;
};

/* An endpoint's own rules and writes, run once the requester passed; a
 * refusal goes to `out`. */
typedef int (*endpoint_fn)(struct veld__sqlconn *s, const struct veld__srv_req *req,
                           const struct veld__srv_device *dev, const struct call *call,
                           struct veld__srv_outcome *out);

/* Record a request's nonce once it succeeded: *fresh 0 if it was held
 * already. */
static int nonce_note(struct veld__sqlconn *s, const struct veld__srv_req *req, int *fresh)
{
	return s->drv->nonce_record(s, req->device, req->nonce, req->time_ms, req->now_ms, fresh);
}

/* How often a request runs again after a failure its driver calls
 * retryable (a serialisation failure, a deadlock, a lost connection),
 * waiting 5, 10, 20 ... ms between tries, before it fails with 500. */
#define TRIES 8

static void retry_wait(int attempt)
{
	struct timespec ts = {0, (long)(5 << attempt) * 1000000L};
	nanosleep(&ts, NULL);
}

/* One try of a write: the requester's checks, the endpoint, its nonce,
 * the commit; a refusal or a failure rolls back everything. The nonce is
 * recorded just before the commit, still inside the serialised write, so
 * a replay that waits for this request finds it; a nonce that cannot be
 * recorded fails the request (500, nothing written). */
static int write_once(struct veld__sqlconn *s, const struct veld__srv_req *req, enum who who,
                      endpoint_fn fn, const struct call *call, struct veld__srv_outcome *out)
{
	struct veld__srv_device dev;
	int fresh, rc;
	memset(&dev, 0, sizeof dev);
	if ((rc = tx_begin(s)) != VELD_OK)
		return rc;
	rc = requester(s, req, who, &dev, out);
	if (rc == VELD_OK && out->refusal == VELD_SRV_OK)
		rc = fn(s, req, &dev, call, out);
	if (rc == VELD_OK && out->refusal == VELD_SRV_OK &&
	    (rc = nonce_note(s, req, &fresh)) == VELD_OK && !fresh)
		rc = refuse(out, VELD_SRV_REPLAY, "nonce already used");
	if (rc != VELD_OK || out->refusal != VELD_SRV_OK)
		return tx_rollback(s, rc);
	return tx_commit(s, VELD_OK);
}

/* One try of a read: the requester's checks and the endpoint in one
 * snapshot, then its nonce (insert-if-absent: a replay that raced its
 * original is refused when the nonce turns out to be held). */
static int read_once(struct veld__sqlconn *s, const struct veld__srv_req *req, enum who who,
                     endpoint_fn fn, const struct call *call, struct veld__srv_outcome *out)
{
	struct veld__srv_device dev;
	int fresh, rc;
	memset(&dev, 0, sizeof dev);
	if ((rc = s->drv->begin(s, 0)) != VELD_OK)
		return rc;
	rc = requester(s, req, who, &dev, out);
	if (rc == VELD_OK && out->refusal == VELD_SRV_OK)
		rc = fn(s, req, &dev, call, out);
	(void)s->drv->end(s, 0);
	if (rc == VELD_OK && out->refusal == VELD_SRV_OK &&
	    (rc = nonce_note(s, req, &fresh)) == VELD_OK && !fresh)
		rc = refuse(out, VELD_SRV_REPLAY, "nonce already used");
	return rc;
}

/* One request = one transaction (server_store.h), tried again while its
 * driver says another try may succeed. A commit that failed after it used
 * the nonce up is not retried: the device signs its retry anew. */
static int run(struct veld__sstore *base, const struct veld__srv_req *req, enum who who,
               endpoint_fn fn, const struct call *call, struct veld__srv_outcome *out, int write)
{
	struct veld__sqlstore *store = (struct veld__sqlstore *)base;
	for (int attempt = 0;; attempt++) {
		struct veld__sqlconn *s = store->drv->take(store, write);
		int rc, again;
		memset(out, 0, sizeof *out);
		rc = write ? write_once(s, req, who, fn, call, out)
		           : read_once(s, req, who, fn, call, out);
		again = rc < 0 && attempt + 1 < TRIES && s->drv->retryable(s);
		s->drv->give(s);
		if (!again)
			return rc;
		retry_wait(attempt);
	}
}

static int run_request(struct veld__sstore *base, const struct veld__srv_req *req, enum who who,
                       endpoint_fn fn, const struct call *call, struct veld__srv_outcome *out)
{
	return run(base, req, who, fn, call, out, 1);
}

static int run_read(struct veld__sstore *base, const struct veld__srv_req *req, enum who who,
                    endpoint_fn fn, const struct call *call, struct veld__srv_outcome *out)
{
	return run(base, req, who, fn, call, out, 0);
}

/* ---- setup and the reads of authentication ---------------------------------------- */

static int office_needed_locked(struct veld__sqlconn *s, uint64_t now_ms, int *needed)
{
	struct veld__srv_device office;
	int found, live, rc;
	*needed = 0;
	if ((rc = office_load(s, &office, &found)) != VELD_OK || found)
		return rc;
	rc = exists(s, query(s, S_INV_OFFICE_LIVE, "u", now_ms), "reading invites", &live);
	*needed = rc == VELD_OK && !live;
	return rc;
}

/* A call that only reads, outside a request: fn in one snapshot, tried
 * again as a request is (run). */
typedef int (*read_fn)(struct veld__sqlconn *s, const void *in, void *out);

/* (snapshot 0: one lookup that needs no transaction, such as a nonce's.) */
static int read_call(struct veld__sstore *base, read_fn fn, const void *in, void *out,
                     int snapshot)
{
	struct veld__sqlstore *store = (struct veld__sqlstore *)base;
	for (int attempt = 0;; attempt++) {
		struct veld__sqlconn *s = store->drv->take(store, 0);
		int rc = snapshot ? s->drv->begin(s, 0) : VELD_OK, again;
		if (rc == VELD_OK) {
			rc = fn(s, in, out);
			if (snapshot)
				(void)s->drv->end(s, 0);
		}
		again = rc < 0 && attempt + 1 < TRIES && s->drv->retryable(s);
		s->drv->give(s);
		if (!again)
			return rc;
		retry_wait(attempt);
	}
}

static int office_needed_read(struct veld__sqlconn *s, const void *now_ms, void *needed)
{
	return office_needed_locked(s, *(const uint64_t *)now_ms, needed);
}

static int r_office_needed(struct veld__sstore *base, uint64_t now_ms, int *needed)
{
	*needed = 0;
	return read_call(base, office_needed_read, &now_ms, needed, 1);
}

/* The office's setup invite, made once: the check and the insert are one
 * serialised write, so servers starting at once on one database make one
 * between them. */
static int r_office_invite(struct veld__sstore *base, const uint8_t auth[32], uint64_t now_ms,
                           uint64_t expires_ms, int *created)
{
	struct veld__sqlstore *store = (struct veld__sqlstore *)base;
	for (int attempt = 0;; attempt++) {
		struct veld__sqlconn *s = store->drv->take(store, 1);
		int needed, rc, again;
		*created = 0;
		if ((rc = tx_begin(s)) == VELD_OK) {
			if ((rc = office_needed_locked(s, now_ms, &needed)) != VELD_OK || !needed)
				rc = tx_rollback(s, rc);
			else if ((rc = tx_commit(s, exec(s, "storing the office invite", S_INV_PUT,
			                                 "kttuub", auth, "*", "office", expires_ms,
			                                 (uint64_t)0, (const void *)NULL,
			                                 (size_t)0))) == VELD_OK)
				*created = 1;
		}
		again = rc < 0 && attempt + 1 < TRIES && s->drv->retryable(s);
		s->drv->give(s);
		if (!again)
			return rc;
		retry_wait(attempt);
	}
}

static int device_read(struct veld__sqlconn *s, const void *device, void *out)
{
	return device_load(s, device, out);
}

static int r_device_get(struct veld__sstore *base, const uint8_t device[VELD_ID_BYTES],
                        struct veld__srv_device *out)
{
	return read_call(base, device_read, device, out, 1);
}

/* A device and a nonce, for nonce_read. */
struct nonce_key {
	const uint8_t *device, *nonce;
};

static int nonce_read(struct veld__sqlconn *s, const void *in, void *seen)
{
	const struct nonce_key *k = in;
	return s->drv->nonce_seen(s, k->device, k->nonce, seen);
}

static int r_nonce_seen(struct veld__sstore *base, const uint8_t device[VELD_ID_BYTES],
                        const uint8_t nonce[16], int *seen)
{
	const struct nonce_key k = {device, nonce};
	*seen = 0;
	return read_call(base, nonce_read, &k, seen, 0);
}

/* ---- enroll ------------------------------------------------------------------------ */

/* An invite as stored. */
struct invite {
	char team[VELD_TEAM_MAX + 1], role[16];
	uint64_t expires, tv;
	uint8_t team_sealed[VELD_TEAM_SEALED_BYTES];
	int has_sealed, used;
};

/* The invite of a code's auth: 1, 0 if there is none, or an error. */
static int invite_load(struct veld__sqlconn *s, const uint8_t auth[32], struct invite *inv)
{
	struct veld__sqlst *st = query(s, S_INV_GET, "k", auth);
	int rc = first_row(s, st, "reading invites");
	if (rc != 1)
		return rc;
	memset(inv, 0, sizeof *inv);
	col_text(st, 0, inv->team, sizeof inv->team);
	col_text(st, 1, inv->role, sizeof inv->role);
	inv->expires = col_u64(st, 2);
	inv->tv = col_u64(st, 3);
	inv->has_sealed = !col_null(st, 4);
	rc = inv->has_sealed && col_blob(st, 4, inv->team_sealed, sizeof inv->team_sealed) != 0;
	inv->used = !col_null(st, 5);
	reset(st);
	return rc ? veld__err(VELD_ECORRUPT, "an invite row is damaged") : 1;
}

/* What an enrolled device learns: its role and team; a worker also its
 * team's key and, once there is one, the office's keys. */
static int enroll_answer(struct veld__sqlconn *s, const struct invite *inv,
                         struct veld__enroll_resp *resp, struct veld__srv_outcome *out)
{
	struct veld__srv_device office;
	int found, rc;
	if ((rc = office_load(s, &office, &found)) != VELD_OK)
		return rc;
	memset(resp, 0, sizeof *resp);
	snprintf(resp->role, sizeof resp->role, "%s", inv->role);
	snprintf(resp->team, sizeof resp->team, "%s", inv->team);
	if (strcmp(inv->role, "office") == 0)
		return found ? refuse(out, VELD_SRV_BAD_CODE, "the office is already enrolled") : VELD_OK;
	if (!inv->has_sealed)
		return veld__err(VELD_ECORRUPT, "a worker invite has no team key");
	if ((rc = team_key(s, inv->team, inv->tv, resp->team_pk)) != VELD_OK)
		return rc != VELD_ENOTFOUND ? rc : veld__err(VELD_ECORRUPT,
		       "the invite's team key version is not published");
	resp->tv = inv->tv;
	resp->has_team_key = 1;
	memcpy(resp->team_sealed, inv->team_sealed, sizeof resp->team_sealed);
	if (found) {
		resp->has_office = 1;
		memcpy(resp->office_device, office.device, VELD_ID_BYTES);
		memcpy(resp->office_sign_pk, office.sign_pk, 32);
		memcpy(resp->office_box_pk, office.box_pk, 32);
	}
	return VELD_OK;
}

static int enroll_locked(struct veld__sqlconn *s, const struct veld__srv_req *req,
                         const struct veld__srv_device *dev, const struct call *call,
                         struct veld__srv_outcome *out)
{
	const struct veld__enroll_req *m = call->m;
	struct veld__srv_device existing;
	struct invite inv;
	int office, rc = invite_load(s, m->auth, &inv);
	(void)dev;
	if (rc < 0)
		return rc;
	if (rc == 0 || inv.used || inv.expires <= req->now_ms)
		return refuse(out, VELD_SRV_BAD_CODE, "the enrollment code is unknown, used or expired");
	rc = device_load(s, m->device, &existing);
	if (rc == VELD_OK && existing.revoked)
		return refuse(out, VELD_SRV_REVOKED, "this device was revoked; wipe its store");
	if (rc == VELD_OK)
		return refuse(out, VELD_SRV_EQUIVOCATION, "this device id is already enrolled");
	if (rc != VELD_ENOTFOUND)
		return rc;
	if ((rc = enroll_answer(s, &inv, call->resp, out)) != VELD_OK || out->refusal)
		return rc;
	/* A worker's invite and proof are what the office certifies it by
	 * (GET /v1/devices); nobody certifies the office, which devices pin
	 * through their invite code. */
	office = strcmp(inv.role, "office") == 0;
	rc = exec(s, "registering the device", S_DEV_INSERT, "ikktttukk", m->device, m->sign_pk,
	          m->box_pk, inv.team, inv.role, m->label, req->now_ms, office ? NULL : m->auth,
	          office ? NULL : m->proof);
	if (rc == VELD_OK)
		rc = exec(s, "using the invite", S_INV_USE, "ku", m->auth, req->now_ms);
	if (rc == VELD_OK && s->drv->changes(s) != 1)
		rc = veld__err(VELD_ERROR, "the invite was used concurrently");
	return rc;
}

static int r_enroll(struct veld__sstore *base, const struct veld__srv_req *req,
                     const struct veld__enroll_req *m, struct veld__enroll_resp *resp,
                     struct veld__srv_outcome *out)
{
	const struct call call = {m, resp, 0};
	return run_request(base, req, NEW_DEVICE, enroll_locked, &call, out);
}

/* ---- office endpoints ------------------------------------------------------------ */

static int invite_locked(struct veld__sqlconn *s, const struct veld__srv_req *req,
                         const struct veld__srv_device *dev, const struct call *call,
                         struct veld__srv_outcome *out)
{
	const struct veld__invite_req *m = call->m;
	uint64_t current;
	int found, rc;
	(void)dev;
	if (!veld__team_valid(m->team))
		return refuse(out, VELD_SRV_MALFORMED, "team: not a valid team name");
	if (m->expires <= req->now_ms || m->expires > req->now_ms + WEEK_MS)
		return refuse(out, VELD_SRV_MALFORMED,
		              "expires: must be in the future, at most 7 days ahead");
	if ((rc = team_current(s, m->team, &current)) != VELD_OK)
		return rc;
	if (current == 0 || m->tv != current) {
		out->expected = current;
		return refuse(out, VELD_SRV_GAP, current == 0
		              ? "the team has no published key yet: publish one with /v1/team-keys"
		              : "tv is not the team's current key version");
	}
	if ((rc = exists(s, query(s, S_INV_GET, "k", m->auth), "reading invites", &found)) != VELD_OK)
		return rc;
	if (found)
		return refuse(out, VELD_SRV_EQUIVOCATION, "an invite with this code already exists");
	return exec(s, "storing the invite", S_INV_PUT, "kttuub", m->auth, m->team, "worker",
	            m->expires, m->tv, (const void *)m->team_sealed, sizeof m->team_sealed);
}

static int r_invite(struct veld__sstore *base, const struct veld__srv_req *req,
                     const struct veld__invite_req *m, struct veld__srv_outcome *out)
{
	const struct call call = {m, NULL, 0};
	return run_request(base, req, OFFICE_ONLY, invite_locked, &call, out);
}

/* Every device a team key is sealed to is enrolled, active, and of the
 * team (or the office). */
static int key_holders_check(struct veld__sqlconn *s, const struct veld__team_keys_req *m,
                             struct veld__srv_outcome *out)
{
	struct veld__srv_device holder;
	for (size_t i = 0; i < m->nsealed; i++) {
		int rc = device_load(s, m->sealed[i].device, &holder);
		if (rc == VELD_ENOTFOUND)
			return refuse(out, VELD_SRV_FORBIDDEN, "sealed[%zu]: unknown device", i);
		if (rc != VELD_OK)
			return rc;
		if (holder.revoked)
			return refuse(out, VELD_SRV_FORBIDDEN, "sealed[%zu]: the device is revoked", i);
		if (strcmp(holder.team, m->team) != 0 && strcmp(holder.role, "office") != 0)
			return refuse(out, VELD_SRV_FORBIDDEN,
			              "sealed[%zu]: the device is not in this team", i);
	}
	return VELD_OK;
}

/* POST /v1/team-keys: publish the team's next key version, or seal one it
 * has (the current or an older one, with the same public key) to more
 * devices: the office gives a device it certified after a rotation every
 * version, so it reads what was sealed before. */
static int team_keys_locked(struct veld__sqlconn *s, const struct veld__srv_req *req,
                            const struct veld__srv_device *dev, const struct call *call,
                            struct veld__srv_outcome *out)
{
	const struct veld__team_keys_req *m = call->m;
	uint64_t current;
	uint8_t pk[32];
	int rc;
	(void)req;
	(void)dev;
	if (!veld__team_valid(m->team))
		return refuse(out, VELD_SRV_MALFORMED, "team: not a valid team name");
	if ((rc = team_current(s, m->team, &current)) != VELD_OK)
		return rc;
	if (m->tv >= 1 && m->tv <= current) {
		if ((rc = team_key(s, m->team, m->tv, pk)) != VELD_OK)
			return rc != VELD_ENOTFOUND ? rc
			       : veld__err(VELD_ECORRUPT, "a team key row is damaged");
		if (sodium_memcmp(pk, m->pk, 32) != 0)
			return refuse(out, VELD_SRV_EQUIVOCATION,
			              "team key version %llu already has another public key",
			              (unsigned long long)m->tv);
	} else if (m->tv != current + 1) {
		out->expected = current + 1;
		return refuse(out, VELD_SRV_GAP,
		              "tv must be a team key version the team has or the next one");
	}
	if ((rc = key_holders_check(s, m, out)) != VELD_OK || out->refusal)
		return rc;
	/* The office's signature travels with the key to the devices, which
	 * open no team key the office did not sign (the HTTP side checked it). */
	if (m->tv == current + 1 && (rc = exec(s, "storing the team key", S_TK_PUT, "tukg", m->team,
	                                       m->tv, m->pk, m->sig)) != VELD_OK)
		return rc;
	for (size_t i = 0; i < m->nsealed && rc == VELD_OK; i++)
		rc = exec(s, "storing a sealed team key", S_TKS_PUT, "tuie", m->team, m->tv,
		          m->sealed[i].device, m->sealed[i].sealed);
	return rc;
}

static int r_team_keys(struct veld__sstore *base, const struct veld__srv_req *req,
                        const struct veld__team_keys_req *m, struct veld__srv_outcome *out)
{
	const struct call call = {m, NULL, 0};
	return run_request(base, req, OFFICE_ONLY, team_keys_locked, &call, out);
}

static int revoke_locked(struct veld__sqlconn *s, const struct veld__srv_req *req,
                         const struct veld__srv_device *dev, const struct call *call,
                         struct veld__srv_outcome *out)
{
	const struct veld__revoke_req *m = call->m;
	struct veld__revoke_resp *resp = call->resp;
	struct veld__srv_device target;
	int rc = device_load(s, m->device, &target);
	(void)dev;
	if (rc == VELD_ENOTFOUND)
		return refuse(out, VELD_SRV_NOT_FOUND, "no such device");
	if (rc != VELD_OK)
		return rc;
	if (strcmp(target.role, "office") == 0)
		return refuse(out, VELD_SRV_FORBIDDEN, "the office device cannot be revoked");
	memset(resp, 0, sizeof *resp);
	snprintf(resp->team, sizeof resp->team, "%s", target.team);
	/* What the server holds of it, so the office's revoke notice can name
	 * the last seq it accepts from the device. */
	resp->acked = target.last_seq;
	/* Revoked already: no change. */
	return exec(s, "revoking the device", S_DEV_REVOKE, "iu", m->device, req->now_ms);
}

static int r_revoke(struct veld__sstore *base, const struct veld__srv_req *req,
                     const struct veld__revoke_req *m, struct veld__revoke_resp *resp,
                     struct veld__srv_outcome *out)
{
	const struct call call = {m, resp, 0};
	return run_request(base, req, OFFICE_ONLY, revoke_locked, &call, out);
}

/* ---- notices and checkpoints ------------------------------------------------------ */

/* The kh layer of an operation row of S_ERASE_OPS_OF (ver, hash, device,
 * seq, hlc, kind, entity, kv, field, value, sup, ...), which its stub shows
 * once it is erased (core/src/op.h). A version 1 operation has no layers:
 * its kh is its whole hash. A row that does not make an operation fails
 * the erasure whole. */
static int row_kh(struct veld__sqlst *st, uint8_t kh[VELD_HASH_BYTES])
{
	veld__ref sup[VELD_OP_MAX_SUPERSEDES];
	uint8_t rh[VELD_HASH_BYTES];
	const char *kind = col_str(st, 5), *field = col_str(st, 8);
	veld__op op;
	if (col_u64(st, 0) < 2)
		return col_blob(st, 1, kh, VELD_HASH_BYTES) ? veld__err(VELD_ECORRUPT,
		                                                         "an operation's hash is damaged")
		                                            : VELD_OK;
	memset(&op, 0, sizeof op);
	if (col_blob(st, 2, op.device, VELD_ID_BYTES) || col_blob(st, 6, op.entity, VELD_ID_BYTES) ||
	    !kind || !field || strlen(kind) > VELD_KIND_MAX || strlen(field) > VELD_FIELD_MAX ||
	    veld__sup_decode(sup, VELD_OP_MAX_SUPERSEDES, col_ptr(st, 10), col_len(st, 10),
	                     &op.nsup) != VELD_OK)
		return veld__err(VELD_ECORRUPT, "an operation row is damaged");
	op.version = 2;
	op.seq = col_u64(st, 3);
	op.hlc = col_u64(st, 4);
	snprintf(op.kind, sizeof op.kind, "%s", kind);
	op.kv = col_u64(st, 7);
	snprintf(op.field, sizeof op.field, "%s", field);
	if (!col_null(st, 9)) {
		op.value_len = col_len(st, 9);
		op.value = op.value_len ? col_ptr(st, 9) : (const uint8_t *)"";
	}
	op.sup = sup;
	veld__op_layers(&op, rh, kh);
	return VELD_OK;
}

/* Of each operation of an erased client, what its stub shows stays in
 * erased_ops: its hash, team, client and kh. A record's operations all
 * carry its client (the merge keeps a record's client), so "the client's
 * operations" are those of the records entities lists for it. */
static int erase_keep_hashes(struct veld__sqlconn *s, const uint8_t client[VELD_ID_BYTES])
{
	struct veld__sqlst *st = query(s, S_ERASE_OPS_OF, "i", client);
	int rc;
	while ((rc = step(s, st)) == VELD__SQL_ROW) {
		uint8_t kh[VELD_HASH_BYTES], dev[VELD_ID_BYTES], hash[VELD_HASH_BYTES];
		char team[VELD_TEAM_MAX + 1];
		if ((rc = row_kh(st, kh)) != VELD_OK)
			break;
		if (col_blob(st, 2, dev, sizeof dev) || col_blob(st, 1, hash, sizeof hash)) {
			rc = veld__err(VELD_ECORRUPT, "an operation row is damaged");
			break;
		}
		col_text(st, 11, team, sizeof team);
		if ((rc = exec(s, "erasing a client", S_ERASED_OP_PUT, "iuktik", dev, col_u64(st, 3),
		               hash, team, client, kh)) != VELD_OK)
			break;
	}
	return rows_end(st, rc);
}

/* The client notice i of team n->team names: its team, and whether it is
 * erased or moved. Refused (out->refusal) when no operation of it was ever
 * received, or it belongs to another team: a team's notices speak for its
 * own clients only, and devices of another team would never see them. */
static int notice_client(struct veld__sqlconn *s, const struct veld__notice *n,
                         const uint8_t client[VELD_ID_BYTES], size_t i,
                         struct veld__srv_outcome *out, char team[VELD_TEAM_MAX + 1],
                         int *erased, int *moved)
{
	struct veld__sqlst *st = query(s, S_CLIENT_GET, "i", client);
	int rc = first_row(s, st, "reading clients");
	team[0] = '\0';
	*erased = *moved = 0;
	if (rc == 0)
		return refuse(out, VELD_SRV_NOT_FOUND,
		              "notices[%zu]: no operation of the client was ever received", i);
	if (rc < 0)
		return rc;
	col_text(st, 0, team, VELD_TEAM_MAX + 1);
	*erased = col_u64(st, 1) != 0;
	*moved = col_u64(st, 2) != 0;
	reset(st);
	if (strcmp(team, n->team) != 0)
		return refuse(out, VELD_SRV_FORBIDDEN,
		              "notices[%zu]: the client belongs to another team", i);
	return VELD_OK;
}

/* Erase a client (an erase notice of `team`): the client's operations, the
 * merge state of its records (ops, superseded, conflicts, entities), its
 * row in clients and its key envelopes go; the erasure is recorded with the
 * notice's time and signature and in the merge's erased table (so the merge
 * rule drops its operations too). Of each operation the hash and its kh
 * layer move to erased_ops and the feed row stays: the batches they were
 * signed in may hold other operations, which must stay verifiable, and a
 * device must see that no seq of the author is missing. */
static int erase_client(struct veld__sqlconn *s, const struct veld__srv_req *req,
                        const struct veld__notice *n, const uint8_t client[VELD_ID_BYTES],
                        size_t i, struct veld__srv_outcome *out)
{
	static const int steps[] = {S_ERASE_OPS, S_ERASE_SUPERSEDED,
	                            S_ERASE_CONFLICTS, S_ERASE_ENTITIES, S_ERASE_CLIENT,
	                            S_ERASE_ENVELOPES};
	char team[VELD_TEAM_MAX + 1];
	int erased, moved, rc = notice_client(s, n, client, i, out, team, &erased, &moved);
	if (rc != VELD_OK || out->refusal != VELD_SRV_OK || erased)
		return rc; /* the first erasure stays */
	/* Records go: the merge's cached record check may name one. */
	veld__merge_forget(&s->merge);
	rc = erase_keep_hashes(s, client);
	for (size_t k = 0; k < sizeof steps / sizeof steps[0] && rc >= 0; k++)
		rc = exec(s, "erasing a client", steps[k], "i", client);
	if (rc == VELD_OK)
		rc = exec(s, "erasing a client", S_ERASE_MERGE, "iu", client, req->now_ms);
	if (rc == VELD_OK)
		rc = exec(s, "recording the erasure", S_ERASE_PUT, "itug", client, team, n->at, n->sig);
	return rc;
}

/* Move a client to another team (a move notice of its old team): nothing of
 * it is deleted, so nothing a device wrote is lost; from now on a worker's
 * pull shows its operations as stubs (page_feed), later ones are stored
 * whole for the office, and the old team's copies of its key go (the
 * office keeps its own). The client stays in its old team: an operation's
 * team is signed, and the new team gets a new client (the office's copy). */
static int move_client(struct veld__sqlconn *s, const struct veld__srv_notice *x, size_t i,
                       struct veld__srv_outcome *out)
{
	const struct veld__notice *n = x->n;
	const uint8_t *client = x->body.id;
	char team[VELD_TEAM_MAX + 1];
	int erased, moved, rc = notice_client(s, n, client, i, out, team, &erased, &moved);
	uint64_t known;
	if (rc != VELD_OK || out->refusal != VELD_SRV_OK)
		return rc;
	if (erased)
		return refuse(out, VELD_SRV_FORBIDDEN, "notices[%zu]: the client is erased", i);
	if (strcmp(x->body.to_team, n->team) == 0)
		return refuse(out, VELD_SRV_FORBIDDEN,
		              "notices[%zu]: a move must name another team", i);
	if (moved)
		return VELD_OK; /* the first move stays */
	if ((rc = scalar(s, query(s, S_TEAM_KNOWN, "t", x->body.to_team), "reading team keys",
	                 &known)) != VELD_OK)
		return rc;
	if (!known)
		return refuse(out, VELD_SRV_NOT_FOUND,
		              "notices[%zu]: the team the client moves to has no key here", i);
	if ((rc = exec(s, "moving a client", S_MOVE_PUT, "ittug", client, team, x->body.to_team,
	               n->at, n->sig)) != VELD_OK)
		return rc;
	return exec(s, "moving a client", S_MOVE_ENVELOPES, "i", client);
}

/* A certificate must describe the device the server enrolled, exactly: a
 * device trusts the keys a certificate names, so the server must not keep
 * one for keys or a team it never saw enroll. */
static int cert_check(struct veld__sqlconn *s, const struct veld__srv_notice *x, size_t i,
                      struct veld__srv_outcome *out)
{
	struct veld__srv_device d;
	int rc = device_load(s, x->body.id, &d);
	if (rc != VELD_OK && rc != VELD_ENOTFOUND)
		return rc;
	if (rc == VELD_ENOTFOUND || strcmp(d.role, "office") == 0 ||
	    strcmp(d.team, x->n->team) != 0 || strcmp(d.role, x->body.role) != 0 ||
	    sodium_memcmp(d.sign_pk, x->body.sign_pk, 32) != 0 ||
	    sodium_memcmp(d.box_pk, x->body.box_pk, 32) != 0)
		return refuse(out, VELD_SRV_BAD_BATCH,
		              "notices[%zu]: the certificate does not match the enrolled device", i);
	return VELD_OK;
}

/* A revocation revokes a device of its team, as POST /v1/revoke does. */
static int revoke_notice(struct veld__sqlconn *s, const struct veld__srv_req *req,
                         const struct veld__srv_notice *x, size_t i,
                         struct veld__srv_outcome *out)
{
	struct veld__srv_device d;
	int rc = device_load(s, x->body.id, &d);
	if (rc != VELD_OK && rc != VELD_ENOTFOUND)
		return rc;
	if (rc == VELD_ENOTFOUND || strcmp(d.team, x->n->team) != 0)
		return refuse(out, VELD_SRV_BAD_BATCH,
		              "notices[%zu]: the revocation names no device of its team", i);
	/* Revoked already: no change. */
	return exec(s, "revoking the device", S_DEV_REVOKE, "iu", d.device, req->now_ms);
}

/* What a new notice does on the server, by its kind. */
static int notice_act(struct veld__sqlconn *s, const struct veld__srv_req *req,
                      const struct veld__srv_notice *x, size_t i, struct veld__srv_outcome *out)
{
	switch (x->body.kind) {
	case VELD_NOTICE_CERT:
		return cert_check(s, x, i, out);
	case VELD_NOTICE_REVOKE:
		return revoke_notice(s, req, x, i, out);
	case VELD_NOTICE_ERASE:
		return erase_client(s, req, x->n, x->body.id, i, out);
	case VELD_NOTICE_POLICY:
		/* The latest notice is the policy: numbering orders them. */
		return exec(s, "storing a field policy", S_POLICY_PUT, "tuug", x->n->team, x->n->at,
		            (uint64_t)x->body.mask, x->n->sig);
	case VELD_NOTICE_SCHEMA:
		return VELD_OK; /* the record schema: for devices; kept as the notice */
	case VELD_NOTICE_MOVE:
		return move_client(s, x, i, out);
	default:
		return veld__err(VELD_ERROR, "a notice of an unknown kind passed the decoder");
	}
}

/* Is the held notice (team, n) this one, byte for byte? */
static int notice_same(struct veld__sqlconn *s, const struct veld__notice *n, int *same)
{
	struct veld__sqlst *st = query(s, S_NOTICE_GET, "tu", n->team, n->n);
	int rc = first_row(s, st, "reading notices");
	*same = 0;
	if (rc != 1)
		return rc == 0 ? veld__err(VELD_ECORRUPT, "a team's notices have a hole") : rc;
	*same = col_u64(st, 1) == n->at && col_len(st, 2) == n->body_len &&
	        memcmp(col_ptr(st, 2), n->body, n->body_len) == 0 &&
	        col_len(st, 3) == 64 && memcmp(col_ptr(st, 3), n->sig, 64) == 0 &&
	        col_str(st, 0) &&
	        strcmp(col_str(st, 0), n->kind) == 0;
	reset(st);
	return VELD_OK;
}

/* One notice of POST /v1/notice, by the rules in their order. */
static int notice_one(struct veld__sqlconn *s, const struct veld__srv_req *req,
                      const struct veld__srv_notice *x, size_t i, struct veld__srv_outcome *out)
{
	const struct veld__notice *n = x->n;
	uint64_t last;
	int same, rc;
	if (!x->sig_ok)
		return refuse(out, VELD_SRV_BAD_BATCH,
		              "notices[%zu]: the office's signature does not verify", i);
	if (!x->body_ok)
		return refuse(out, VELD_SRV_MALFORMED,
		              "notices[%zu]: the body does not decode for its kind", i);
	/* Earlier notices of this request are in the table already: one
	 * request may carry a team's next several. */
	if ((rc = scalar(s, query(s, S_NOTICE_LAST, "t", n->team), "reading notices", &last)) !=
	    VELD_OK)
		return rc;
	if (n->n <= last) {
		/* A device holds what the server served under this number; the
		 * same notice again is harmless, another would split the team. */
		if ((rc = notice_same(s, n, &same)) != VELD_OK || same)
			return rc;
		return refuse(out, VELD_SRV_EQUIVOCATION,
		              "notices[%zu]: the team's notice of this number is held with other"
		              " contents", i);
	}
	if (n->n > last + 1) {
		out->expected = last + 1;
		return refuse(out, VELD_SRV_GAP,
		              "notices[%zu] does not continue the team's notices: expected %llu", i,
		              (unsigned long long)(last + 1));
	}
	if ((rc = notice_act(s, req, x, i, out)) != VELD_OK || out->refusal)
		return rc;
	return exec(s, "storing a notice", S_NOTICE_PUT, "tutubg", n->team, n->n, n->kind, n->at,
	            (const void *)n->body, n->body_len, n->sig);
}

/* The notices of a request: m is a struct notices. */
struct notices {
	const struct veld__srv_notice *v;
	size_t n;
};

static int notice_locked(struct veld__sqlconn *s, const struct veld__srv_req *req,
                         const struct veld__srv_device *dev, const struct call *call,
                         struct veld__srv_outcome *out)
{
	const struct notices *m = call->m;
	int rc = VELD_OK;
	(void)dev;
	for (size_t i = 0; i < m->n && rc == VELD_OK && !out->refusal; i++)
		rc = notice_one(s, req, &m->v[i], i, out);
	return rc;
}

static int r_notice(struct veld__sstore *base, const struct veld__srv_req *req,
                     const struct veld__srv_notice *v, size_t n, struct veld__srv_outcome *out)
{
	const struct notices m = {v, n};
	const struct call call = {&m, NULL, 0};
	return run_request(base, req, OFFICE_ONLY, notice_locked, &call, out);
}

/* POST /v1/checkpoint: each team keeps its latest. An older one is no
 * error: the office may send again what a lost answer left unconfirmed. */
static int checkpoint_locked(struct veld__sqlconn *s, const struct veld__srv_req *req,
                             const struct veld__srv_device *dev, const struct call *call,
                             struct veld__srv_outcome *out)
{
	const struct veld__checkpoint_req *m = call->m;
	int rc = VELD_OK;
	(void)req;
	(void)dev;
	(void)out;
	for (size_t i = 0; i < m->n && rc == VELD_OK; i++) {
		const struct veld__checkpoint *c = &m->checkpoints[i];
		rc = exec(s, "storing a checkpoint", S_CKPT_PUT, "tuubg", c->team, c->at, c->n,
		          (const void *)c->heads, c->heads_len, c->sig);
	}
	return rc;
}

static int r_checkpoint(struct veld__sstore *base, const struct veld__srv_req *req,
                         const struct veld__checkpoint_req *m, struct veld__srv_outcome *out)
{
	const struct call call = {m, NULL, 0};
	return run_request(base, req, OFFICE_ONLY, checkpoint_locked, &call, out);
}

/* A team's field policy mask: the default if the office set none. */
static int policy_mask(struct veld__sqlconn *s, const char *team, uint32_t *mask)
{
	struct veld__sqlst *st = query(s, S_POLICY_GET, "t", team);
	int rc = first_row(s, st, "reading a field policy");
	*mask = veld__policy_default;
	if (rc != 1)
		return rc;
	*mask = (uint32_t)col_u64(st, 1);
	rc = (col_u64(st, 1) & ~(uint64_t)VELD_POLICY_ALL) != 0;
	reset(st);
	return rc ? veld__err(VELD_ECORRUPT, "a field policy row is damaged") : VELD_OK;
}

static int devices_locked(struct veld__sqlconn *s, const struct veld__srv_req *req,
                          const struct veld__srv_device *dev, const struct call *call,
                          struct veld__srv_outcome *out)
{
	struct veld__srv_devices *list = call->resp;
	struct veld__devices_resp *r = &list->resp;
	struct veld__sqlst *st = query(s, S_DEV_LIST, "");
	struct veld__srv_device d;
	size_t cap = 0;
	int rc;
	(void)req;
	(void)dev;
	(void)out;
	memset(r, 0, sizeof *r); /* again on a retry */
	while ((rc = step(s, st)) == VELD__SQL_ROW) {
		struct veld__device_info *o = arena_grow(&list->mem, (void **)&r->devices, r->ndevices,
		                                         &cap, sizeof *o);
		if (!o) {
			rc = veld__err(VELD_ENOMEM, "out of memory");
			break;
		}
		if ((rc = read_device(st, &d)) != VELD_OK)
			break;
		memcpy(o->device, d.device, VELD_ID_BYTES);
		memcpy(o->team, d.team, sizeof o->team);
		memcpy(o->role, d.role, sizeof o->role);
		memcpy(o->label, d.label, sizeof o->label);
		memcpy(o->sign_pk, d.sign_pk, 32);
		memcpy(o->box_pk, d.box_pk, 32);
		o->enrolled = d.enrolled;
		o->revoked = d.revoked;
		o->has_auth = d.has_auth;
		memcpy(o->auth, d.auth, 32);
		memcpy(o->proof, d.proof, 32);
		r->ndevices++;
	}
	return rows_end(st, rc);
}

static int r_devices(struct veld__sstore *base, const struct veld__srv_req *req,
                      struct veld__srv_devices *list, struct veld__srv_outcome *out)
{
	const struct call call = {NULL, list, 0};
	memset(&list->resp, 0, sizeof list->resp);
	return run_read(base, req, OFFICE_ONLY, devices_locked, &call, out);
}

/* ---- push ----------------------------------------------------------------------- */

/* What this push learns about clients and records, before anything is
 * written: the team of each client and the kind/client of each record. */
struct seen_client {
	const uint8_t *client;
	char team[VELD_TEAM_MAX + 1];
	int erased; /* an erase notice: its operations and envelopes are dropped */
	int moved;  /* a move notice: its envelopes to a team are dropped */
};

struct seen_entity {
	const uint8_t *entity, *client;
	const char *kind;
};

struct push_scratch {
	struct seen_client *clients;
	size_t nclients;
	struct seen_entity *entities;
	size_t nentities;
};

/* The team `client` belongs to: from this push, the clients table or (for
 * an erased client) the erasures table. *team = NULL if it is new;
 * *erased and *moved (each may be NULL) tell whether it is erased, moved. */
static int client_team(struct veld__sqlconn *s, struct push_scratch *w, const uint8_t *client,
                       const char **team, int *erased, int *moved)
{
	struct seen_client *c = NULL;
	struct veld__sqlst *st;
	int rc = 1;
	for (size_t i = 0; i < w->nclients && !c; i++)
		if (memcmp(w->clients[i].client, client, VELD_ID_BYTES) == 0)
			c = &w->clients[i];
	if (!c) {
		st = query(s, S_CLIENT_GET, "i", client);
		if ((rc = first_row(s, st, "reading clients")) == 1) {
			c = &w->clients[w->nclients++];
			c->client = client;
			col_text(st, 0, c->team, sizeof c->team);
			c->erased = col_u64(st, 1) != 0;
			c->moved = col_u64(st, 2) != 0;
			reset(st);
		}
	}
	*team = c ? c->team : NULL;
	if (erased)
		*erased = c && c->erased;
	if (moved)
		*moved = c && c->moved;
	return rc < 0 ? rc : VELD_OK;
}

/* The record must keep the kind and client it was created with (checked
 * here because merge_apply trusts a run of writes to one record). */
static int entity_check(struct veld__sqlconn *s, struct push_scratch *w, const veld__op *op,
                        int *ok)
{
	struct veld__sqlst *st;
	int rc;
	*ok = 1;
	for (size_t i = 0; i < w->nentities; i++)
		if (memcmp(w->entities[i].entity, op->entity, VELD_ID_BYTES) == 0) {
			*ok = strcmp(w->entities[i].kind, op->kind) == 0 &&
			      memcmp(w->entities[i].client, op->client, VELD_ID_BYTES) == 0;
			return VELD_OK;
		}
	st = query(s, S_ENTITY_GET, "i", op->entity);
	if ((rc = first_row(s, st, "reading records")) == 1) {
		const char *kind = col_str(st, 0);
		*ok = kind && strcmp(kind, op->kind) == 0 &&
		      col_len(st, 1) == VELD_ID_BYTES &&
		      memcmp(col_ptr(st, 1), op->client, VELD_ID_BYTES) == 0;
		reset(st);
	}
	if (rc < 0)
		return rc;
	if (*ok) {
		struct seen_entity *e = &w->entities[w->nentities++];
		e->entity = op->entity;
		e->client = op->client;
		e->kind = op->kind;
	}
	return VELD_OK;
}

/* A held seq (stored, or its hash kept when its client was erased) must
 * come with the same operation. Not even an erased one is skipped
 * uncompared: the push's signature would be stored over a hash the pulls
 * do not serve, and its batch would never verify again. A device asks
 * first how far the server holds its operations (an empty push) and so
 * does not send held ones again. */
static int held_check(struct veld__sqlconn *s, const struct veld__srv_device *dev,
                      const struct veld__push_req *m, struct veld__srv_outcome *out)
{
	for (size_t i = 0; i < m->nops && m->ops[i].seq <= dev->last_seq; i++) {
		struct veld__sqlst *st = query(s, S_OP_HASH, "iu", dev->device, m->ops[i].seq);
		int same, rc = first_row(s, st, "reading the operation log");
		if (rc < 0)
			return rc;
		if (rc == 0)
			return veld__err(VELD_ECORRUPT, "a stored operation is missing");
		same = col_len(st, 0) == VELD_HASH_BYTES &&
		       memcmp(col_ptr(st, 0), m->ops[i].hash, VELD_HASH_BYTES) == 0;
		reset(st);
		if (!same)
			return refuse(out, VELD_SRV_EQUIVOCATION,
			              "operation %llu differs from the one already stored",
			              (unsigned long long)m->ops[i].seq);
	}
	return VELD_OK;
}

/* The rules for the push's new operations: a valid team, the device's own
 * (but for the office), the client's team, the record's kind and client. */
static int new_ops_check(struct veld__sqlconn *s, const struct veld__srv_device *dev,
                         const struct veld__push_req *m, struct push_scratch *w,
                         struct veld__srv_outcome *out)
{
	int office = strcmp(dev->role, "office") == 0, ok, rc;
	for (size_t i = 0; i < m->nops; i++) {
		const veld__op *op = &m->ops[i];
		unsigned long long seq = (unsigned long long)op->seq;
		const char *team;
		if (op->seq <= dev->last_seq)
			continue;
		if (!veld__team_valid(op->team))
			return refuse(out, VELD_SRV_MALFORMED, "ops[%zu].team: not a valid team name", i);
		if (!office && strcmp(op->team, dev->team) != 0)
			return refuse(out, VELD_SRV_FORBIDDEN, "operation %llu: a client of another team",
			              seq);
		/* An erased client's team is in erasures: its operations still
		 * keep every rule, then push_write drops them. */
		if ((rc = client_team(s, w, op->client, &team, NULL, NULL)) != VELD_OK)
			return rc;
		if (team && strcmp(team, op->team) != 0)
			return refuse(out, VELD_SRV_FORBIDDEN,
			              "operation %llu: the client belongs to another team", seq);
		if (!team) {
			struct seen_client *c = &w->clients[w->nclients++];
			c->client = op->client;
			memcpy(c->team, op->team, sizeof c->team);
		}
		if ((rc = entity_check(s, w, op, &ok)) != VELD_OK)
			return rc;
		if (!ok)
			return refuse(out, VELD_SRV_FORBIDDEN,
			              "operation %llu changes the kind or client of an existing record",
			              seq);
	}
	return VELD_OK;
}

/* Envelopes go to the office or to a team; a worker's only to its own
 * team, and of its own team's clients. */
static int envelopes_check(struct veld__sqlconn *s, const struct veld__srv_device *dev,
                           const struct veld__push_req *m, struct push_scratch *w,
                           struct veld__srv_outcome *out)
{
	int office = strcmp(dev->role, "office") == 0, rc;
	for (size_t i = 0; i < m->nenvs; i++) {
		const struct veld__envelope *e = &m->envs[i];
		const char *to_team = NULL, *team;
		if (strcmp(e->to, "office") == 0) {
			if (e->tv != 0)
				return refuse(out, VELD_SRV_MALFORMED,
				              "envelopes[%zu].tv: must be 0 for the office", i);
		} else if (strncmp(e->to, "team:", 5) == 0 && veld__team_valid(e->to + 5)) {
			to_team = e->to + 5;
		} else {
			return refuse(out, VELD_SRV_MALFORMED,
			              "envelopes[%zu].to: not office or team:<team>", i);
		}
		if (!office && to_team && strcmp(to_team, dev->team) != 0)
			return refuse(out, VELD_SRV_FORBIDDEN, "envelopes[%zu]: addressed to another team",
			              i);
		/* Not every envelope's client need be known yet (its operations
		 * may come in a later batch); a known one fixes the team. */
		if ((rc = client_team(s, w, e->client, &team, NULL, NULL)) != VELD_OK)
			return rc;
		if (team && ((!office && strcmp(team, dev->team) != 0) ||
		             (to_team && strcmp(team, to_team) != 0)))
			return refuse(out, VELD_SRV_FORBIDDEN, "envelopes[%zu]: a client of another team",
			              i);
	}
	return VELD_OK;
}

/* No new operation may be stamped more than the allowed skew ahead of the
 * server's clock: devices hold back what is stamped in their future, and a
 * stamp far ahead would win every merge until the clocks catch up. Nor at
 * 2^63 or above, which SQLite's signed integers would hold as a negative
 * stamp. Held seqs were checked when they came. */
static int clock_check(struct veld__sqlconn *s, const struct veld__srv_req *req,
                       const struct veld__srv_device *dev, const struct veld__push_req *m,
                       struct veld__srv_outcome *out)
{
	for (size_t i = 0; i < m->nops; i++) {
		const veld__op *op = &m->ops[i];
		uint64_t ms = op->hlc >> 16;
		if (op->seq <= dev->last_seq)
			continue;
		if (op->hlc >= (1ull << 63))
			return refuse(out, VELD_SRV_CLOCK,
			              "operation %llu is stamped beyond any valid time:"
			              " this device's clock is wrong", (unsigned long long)op->seq);
		if (ms > req->now_ms && ms - req->now_ms > s->store->base.max_skew_ms)
			return refuse(out, VELD_SRV_CLOCK,
			              "operation %llu is stamped %llu s ahead of the server's clock:"
			              " this device's clock is wrong", (unsigned long long)op->seq,
			              (unsigned long long)((ms - req->now_ms + 999) / 1000));
	}
	return VELD_OK;
}

/* All the checks of a push (protocol.md 6, /v1/push), in the order the
 * rules are listed, before anything is written. */
static int push_check(struct veld__sqlconn *s, const struct veld__srv_req *req,
                      const struct veld__srv_device *dev, const struct veld__push_req *m,
                      int sig_ok, struct push_scratch *w, struct veld__srv_outcome *out)
{
	uint64_t last = dev->last_seq;
	int rc;
	if (m->nops && m->ops[0].seq > last + 1) {
		out->expected = last + 1;
		return refuse(out, VELD_SRV_GAP,
		              "the push does not continue the device's sequence: expected %llu",
		              (unsigned long long)(last + 1));
	}
	if ((rc = held_check(s, dev, m, out)) != VELD_OK || out->refusal)
		return rc;
	if (m->nops && !sig_ok)
		return refuse(out, VELD_SRV_BAD_BATCH, "the batch signature does not verify");
	if ((rc = clock_check(s, req, dev, m, out)) != VELD_OK || out->refusal)
		return rc;
	if ((rc = new_ops_check(s, dev, m, w, out)) != VELD_OK || out->refusal)
		return rc;
	return envelopes_check(s, dev, m, w, out);
}

/* An operation of an erased client, arrived after the erasure: only its
 * hash (the batch signature covers it) and what its stub shows are kept. */
static int drop_erased(struct veld__sqlconn *s, const veld__op *op)
{
	uint8_t rh[VELD_HASH_BYTES], kh[VELD_HASH_BYTES];
	if (op->version >= 2)
		veld__op_layers(op, rh, kh);
	else
		memcpy(kh, op->hash, sizeof kh); /* version 1 has no layers */
	return exec(s, "dropping an operation of an erased client", S_ERASED_OP_PUT, "iuktik",
	            op->device, op->seq, op->hash, op->team, op->client, kh);
}

/* Store the push's new operations through the merge rule; an erased
 * client's are accepted but not stored (drop_erased). Every one gets the
 * next cursor of the feed, so a pull shows it or its stub and no seq of
 * the device is missing. *stored counts those stored. */
static int ops_write(struct veld__sqlconn *s, const struct veld__srv_device *dev,
                     const struct veld__push_req *m, struct push_scratch *w, uint64_t *stored,
                     struct veld__srv_outcome *out)
{
	const char *team;
	int rc, applied, erased;
	for (size_t i = 0; i < m->nops; i++) {
		const veld__op *op = &m->ops[i];
		if (op->seq <= dev->last_seq)
			continue;
		if ((rc = client_team(s, w, op->client, &team, &erased, NULL)) != VELD_OK)
			return rc;
		if (erased) {
			if ((rc = drop_erased(s, op)) != VELD_OK ||
			    (rc = exec(s, "indexing an operation", S_FEED_PUT, "iuti", op->device, op->seq,
			               op->team, op->client)) != VELD_OK)
				return rc;
			continue;
		}
		rc = veld__merge_apply(&s->merge, op, &applied);
		/* The rule's refusals; the same codes from the database itself
		 * (a damaged table) are a failure of the store, not the
		 * device's fault. */
		if ((rc == VELD_EINVAL || rc == VELD_ECORRUPT) && !veld__err_sqlite_last() &&
		    !*veld__err_sqlstate_last())
			return refuse(out, rc == VELD_EINVAL ? VELD_SRV_MALFORMED : VELD_SRV_FORBIDDEN,
			              "operation %llu: %s", (unsigned long long)op->seq, veld_error_last());
		if (rc != VELD_OK)
			return rc;
		if (!applied)
			return veld__err(VELD_ERROR, "operation %llu was not stored",
			                 (unsigned long long)op->seq);
		if ((rc = exec(s, "indexing an operation", S_FEED_PUT, "iuti", op->device, op->seq,
		               op->team, op->client)) != VELD_OK ||
		    (rc = exec(s, "recording a client", S_CLIENT_PUT, "it", op->client, op->team)) !=
		    VELD_OK)
			return rc;
		(*stored)++;
	}
	return VELD_OK;
}

static int push_write(struct veld__sqlconn *s, const struct veld__srv_device *dev,
                      const struct veld__push_req *m, struct push_scratch *w,
                      struct veld__push_resp *resp, struct veld__srv_outcome *out)
{
	uint64_t last = dev->last_seq, stored = 0;
	const char *team;
	int rc, erased, moved;

	if ((rc = ops_write(s, dev, m, w, &stored, out)) != VELD_OK || out->refusal)
		return rc;
	if (m->nops && m->ops[m->nops - 1].seq > last) {
		/* New operations, stored or dropped: the sequence advances. The
		 * signature is kept, with the operations' version (they share
		 * one), for the operations and stubs a pull serves. */
		last = m->ops[m->nops - 1].seq;
		if ((rc = exec(s, "advancing the device's sequence", S_DEV_SET_LAST, "iu", dev->device,
		               last)) != VELD_OK ||
		    (rc = exec(s, "storing the batch signature", S_BATCH_PUT, "iuugu", dev->device,
		               m->ops[0].seq, last, m->sig, (uint64_t)m->ops[0].version)) != VELD_OK)
			return rc;
	}
	for (size_t i = 0; i < m->nenvs; i++) {
		const struct veld__envelope *e = &m->envs[i];
		if ((rc = client_team(s, w, e->client, &team, &erased, &moved)) != VELD_OK)
			return rc;
		if (erased)
			continue; /* an erased client's key: dropped */
		if (moved && strcmp(e->to, "office") != 0)
			continue; /* a moved client's key for its old team: dropped */
		if (!team && strcmp(dev->role, "office") != 0)
			team = dev->team;
		/* Its sealer and signature travel with it (the HTTP side checked
		 * both): a device takes no key the server could have made. */
		if ((rc = exec(s, "storing an envelope", S_ENV_PUT, "iutuetig", e->client, e->kv, e->to,
		               e->tv, e->sealed, team, e->from, e->sig)) != VELD_OK)
			return rc;
	}
	resp->acked = last;
	resp->stored = stored;
	return VELD_OK;
}

static int push_locked(struct veld__sqlconn *s, const struct veld__srv_req *req,
                       const struct veld__srv_device *dev, const struct call *call,
                       struct veld__srv_outcome *out)
{
	const struct veld__push_req *m = call->m;
	struct push_scratch w = {0};
	size_t n = m->nops + m->nenvs;
	int rc;
	w.clients = calloc(n ? n : 1, sizeof *w.clients);
	w.entities = calloc(m->nops ? m->nops : 1, sizeof *w.entities);
	if (!w.clients || !w.entities)
		rc = veld__err(VELD_ENOMEM, "out of memory");
	else if ((rc = push_check(s, req, dev, m, call->sig_ok, &w, out)) == VELD_OK &&
	         !out->refusal)
		rc = push_write(s, dev, m, &w, call->resp, out);
	free(w.clients);
	free(w.entities);
	return rc;
}

static int r_push(struct veld__sstore *base, const struct veld__srv_req *req,
                   const struct veld__push_req *m, int sig_ok, struct veld__push_resp *resp,
                   struct veld__srv_outcome *out)
{
	const struct call call = {m, resp, sig_ok};
	memset(resp, 0, sizeof *resp);
	return run_request(base, req, ANY_DEVICE, push_locked, &call, out);
}

/* ---- pull ------------------------------------------------------------------------- */

/* Rough bytes an item adds to the encoded page, to bound its size. */
#define OP_OVERHEAD 160
#define STUB_OVERHEAD 170
#define HELD_OVERHEAD 290
#define BATCH_OVERHEAD 120
#define HASH_BYTES_ON_WIRE 32

/* The operation of a feed row (FEED_COLS), whose values go into `mem`. */
static int read_op(struct veld__sqlst *st, struct veld__arena *mem, veld__op *op)
{
	/* column 0 is the cursor; the op starts at column 1 */
	size_t vlen;
	uint64_t ver = col_u64(st, 13);
	memset(op, 0, sizeof *op);
	if (col_blob(st, 1, op->device, VELD_ID_BYTES) || col_blob(st, 5, op->entity, VELD_ID_BYTES) ||
	    col_blob(st, 6, op->client, VELD_ID_BYTES) || col_blob(st, 12, op->hash, VELD_HASH_BYTES) ||
	    ver < 1 || ver > VELD_OP_VERSION)
		return veld__err(VELD_ECORRUPT, "an operation row is damaged");
	op->version = (uint32_t)ver;
	op->seq = col_u64(st, 2);
	op->hlc = col_u64(st, 3);
	col_text(st, 4, op->kind, sizeof op->kind);
	col_text(st, 7, op->team, sizeof op->team);
	op->kv = col_u64(st, 8);
	col_text(st, 9, op->field, sizeof op->field);
	if (!col_null(st, 10)) {
		vlen = col_len(st, 10);
		/* (an empty value is still a value, not a tombstone) */
		op->value = vlen ? veld__arena_dup(mem, col_ptr(st, 10), vlen)
		                 : veld__arena_alloc(mem, 1);
		op->value_len = vlen;
		if (!op->value)
			return veld__err(VELD_ENOMEM, "out of memory");
	}
	if (!col_null(st, 11)) {
		size_t blen = col_len(st, 11), n;
		veld__ref *sup = veld__arena_alloc(mem, (blen / 24 + 1) * sizeof *sup);
		if (!sup)
			return veld__err(VELD_ENOMEM, "out of memory");
		if (veld__sup_decode(sup, VELD_OP_MAX_SUPERSEDES, col_ptr(st, 11), blen, &n))
			return VELD_ECORRUPT;
		op->sup = sup;
		op->nsup = n;
	}
	return VELD_OK;
}

/* The hashes of batch b's operations, from ops and from erased_ops for the
 * batch's erased operations. */
static int batch_hashes(struct veld__sqlconn *s, struct veld__batch *b, struct veld__arena *mem)
{
	size_t n = (size_t)(b->last - b->first + 1), got = 0;
	uint8_t *hashes = veld__arena_alloc(mem, n * VELD_HASH_BYTES);
	struct veld__sqlst *st;
	int rc, extra;
	if (!hashes)
		return veld__err(VELD_ENOMEM, "out of memory");
	st = query(s, S_BATCH_HASHES, "iuu", b->device, b->first, b->last);
	while ((rc = step(s, st)) == VELD__SQL_ROW && got < n) {
		if (col_u64(st, 0) != b->first + got ||
		    col_blob(st, 1, hashes + got * VELD_HASH_BYTES, VELD_HASH_BYTES))
			break;
		got++;
	}
	/* A row left over or out of place is damage, as a missing one is. */
	extra = rc == VELD__SQL_ROW;
	if ((rc = rows_end(st, rc)) != VELD_OK)
		return rc;
	if (got != n || extra)
		return veld__err(VELD_ECORRUPT, "a batch's operations are incomplete");
	b->hashes = hashes;
	return VELD_OK;
}

/* Add the batch that holds (device, seq) unless the page has it already.
 * Its author's key is not on the page: a device checks a batch with the
 * key the office certified for its author. */
static int page_batch(struct veld__sqlconn *s, struct veld__pull_resp *r, struct veld__arena *mem,
                      const uint8_t *device, uint64_t seq, size_t *bytes)
{
	struct veld__batch *b;
	struct veld__sqlst *st;
	uint64_t ver;
	int rc;

	for (size_t i = r->nbatches; i-- > 0;) {
		b = &r->batches[i];
		if (b->first <= seq && seq <= b->last && memcmp(b->device, device, VELD_ID_BYTES) == 0)
			return VELD_OK;
	}
	st = query(s, S_BATCH_FIND, "iu", device, seq);
	if ((rc = first_row(s, st, "reading batches")) != 1)
		return rc == 0 ? veld__err(VELD_ECORRUPT, "a stored operation has no batch") : rc;
	b = &r->batches[r->nbatches];
	memset(b, 0, sizeof *b);
	memcpy(b->device, device, VELD_ID_BYTES);
	b->first = col_u64(st, 0);
	b->last = col_u64(st, 1);
	rc = col_blob(st, 2, b->sig, 64);
	ver = col_u64(st, 3);
	reset(st);
	if (rc || b->last < b->first || b->last - b->first >= 1000000 || ver < 1 ||
	    ver > VELD_OP_VERSION)
		return veld__err(VELD_ECORRUPT, "a batch row is damaged");
	b->ver = ver;
	if ((rc = batch_hashes(s, b, mem)) != VELD_OK)
		return rc;
	r->nbatches++;
	*bytes += BATCH_OVERHEAD + (size_t)(b->last - b->first + 1) * HASH_BYTES_ON_WIRE;
	return VELD_OK;
}

/* Who pulls the operation feed, and what it may read of it. */
struct reader {
	int office;
	const char *team;
	uint32_t mask; /* a worker's team's field policy */
};

/* The page's arrays that grow with its stubs and held entries. */
struct feed_page {
	struct veld__srv_page *page;
	size_t stub_cap, stub_cur_cap, held_cap, held_cur_cap;
};

/* A stub of an operation: `kh` the layer a device checks it by. */
static int add_stub(struct feed_page *fp, uint64_t cursor, const uint8_t device[VELD_ID_BYTES],
                    uint64_t seq, const char *team, const uint8_t client[VELD_ID_BYTES],
                    const uint8_t kh[VELD_HASH_BYTES])
{
	struct veld__pull_resp *r = &fp->page->resp;
	struct veld__arena *mem = &fp->page->mem;
	struct veld__stub *x = arena_grow(mem, (void **)&r->stubs, r->nstubs, &fp->stub_cap,
	                                  sizeof *x);
	uint64_t *c = arena_grow(mem, (void **)&r->stub_cursors, r->nstubs, &fp->stub_cur_cap,
	                         sizeof *c);
	if (!x || !c)
		return veld__err(VELD_ENOMEM, "out of memory");
	memcpy(x->device, device, VELD_ID_BYTES);
	x->seq = seq;
	snprintf(x->team, sizeof x->team, "%s", team);
	memcpy(x->client, client, VELD_ID_BYTES);
	memcpy(x->kh, kh, VELD_HASH_BYTES);
	*c = cursor;
	r->nstubs++;
	return VELD_OK;
}

/* A held entry: a version 2 operation on a field the reader's policy keeps
 * at the office, shown by its rh layer with its kind and field. */
static int add_held(struct feed_page *fp, uint64_t cursor, const veld__op *op)
{
	struct veld__pull_resp *r = &fp->page->resp;
	struct veld__arena *mem = &fp->page->mem;
	struct veld__held *x = arena_grow(mem, (void **)&r->held, r->nheld, &fp->held_cap,
	                                  sizeof *x);
	uint64_t *c = arena_grow(mem, (void **)&r->held_cursors, r->nheld, &fp->held_cur_cap,
	                         sizeof *c);
	uint8_t kh[VELD_HASH_BYTES];
	if (!x || !c)
		return veld__err(VELD_ENOMEM, "out of memory");
	memcpy(x->device, op->device, VELD_ID_BYTES);
	x->seq = op->seq;
	snprintf(x->team, sizeof x->team, "%s", op->team);
	memcpy(x->client, op->client, VELD_ID_BYTES);
	snprintf(x->kind, sizeof x->kind, "%s", op->kind);
	snprintf(x->field, sizeof x->field, "%s", op->field);
	veld__op_layers(op, x->rh, kh);
	*c = cursor;
	r->nheld++;
	return VELD_OK;
}

/* A held operation, as the reader may see it: whole; as a stub when it is
 * another team's (a worker sees the office's other teams' operations, which
 * share batches with its own) or of a client moved to another team (`moved`:
 * only the office reads it now); held back by the team's policy (held, or a
 * stub for a version 1 operation, which has no rh layer). *cost gets its
 * rough size. */
static int add_op(struct feed_page *fp, const struct reader *who, uint64_t cursor,
                  const veld__op *op, int moved, size_t *cost)
{
	struct veld__pull_resp *r = &fp->page->resp;
	uint8_t rh[VELD_HASH_BYTES], kh[VELD_HASH_BYTES];
	if (!who->office && (moved || strcmp(op->team, who->team) != 0)) {
		if (op->version >= 2)
			veld__op_layers(op, rh, kh);
		else
			memcpy(kh, op->hash, sizeof kh);
		*cost = STUB_OVERHEAD;
		return add_stub(fp, cursor, op->device, op->seq, op->team, op->client, kh);
	}
	if (!who->office && (veld__policy_bit(op->kind, op->field) & ~who->mask)) {
		*cost = op->version >= 2 ? HELD_OVERHEAD : STUB_OVERHEAD;
		return op->version >= 2
		       ? add_held(fp, cursor, op)
		       : add_stub(fp, cursor, op->device, op->seq, op->team, op->client, op->hash);
	}
	r->ops[r->nops] = *op;
	r->cursors[r->nops] = cursor;
	r->nops++;
	*cost = OP_OVERHEAD + op->value_len + op->nsup * 28;
	return VELD_OK;
}

/* One feed row (FEED_COLS): its operation, or the stub of an erased one. */
static int add_row(struct feed_page *fp, const struct reader *who, struct veld__sqlst *st,
                   uint64_t cursor, uint8_t device[VELD_ID_BYTES], uint64_t *seq, size_t *cost)
{
	char team[VELD_TEAM_MAX + 1];
	uint8_t client[VELD_ID_BYTES], kh[VELD_HASH_BYTES];
	veld__op op;
	int rc;
	if (!col_null(st, 1)) {
		if ((rc = read_op(st, &fp->page->mem, &op)) != VELD_OK)
			return rc;
		memcpy(device, op.device, VELD_ID_BYTES);
		*seq = op.seq;
		return add_op(fp, who, cursor, &op, !col_null(st, 20), cost);
	}
	/* Erased: what erased_ops kept of it. */
	if (col_blob(st, 14, device, VELD_ID_BYTES) || col_blob(st, 17, client, VELD_ID_BYTES) ||
	    col_blob(st, 18, kh, VELD_HASH_BYTES) || col_null(st, 16))
		return veld__err(VELD_ECORRUPT, "a feed row has no operation and no erased one");
	*seq = col_u64(st, 15);
	col_text(st, 16, team, sizeof team);
	*cost = STUB_OVERHEAD;
	return add_stub(fp, cursor, device, *seq, team, client, kh);
}

/* The feed's rows in cursor order: one run (the office reads the whole
 * feed), or a worker's two (S_FEED_TEAM) merged. */
struct feed_runs {
	struct veld__sqlconn *s;
	struct veld__sqlst *st[2];
	int rc[2]; /* each run's last step: VELD__SQL_ROW while it has a row */
	int cur;   /* the run whose row is next */
	uint8_t office[VELD_ID_BYTES]; /* bound to the second run */
};

/* A step failed (not VELD__SQL_ROW or VELD__SQL_DONE): its code, else 0. */
static int runs_failed(const struct feed_runs *f)
{
	for (int i = 0; i < 2; i++)
		if (f->st[i] && f->rc[i] != VELD__SQL_ROW && f->rc[i] != VELD__SQL_DONE)
			return f->rc[i];
	return 0;
}

/* Picks the run with the lower cursor, passing the office's run over a
 * row the team's run has too; 0 when both are done (or a step failed). */
static int runs_next(struct feed_runs *f)
{
	int row0 = f->rc[0] == VELD__SQL_ROW, row1 = f->st[1] && f->rc[1] == VELD__SQL_ROW;
	while (row0 && row1 && col_u64(f->st[1], 0) == col_u64(f->st[0], 0)) {
		f->rc[1] = step(f->s, f->st[1]);
		row1 = f->rc[1] == VELD__SQL_ROW;
	}
	if ((!row0 && !row1) || runs_failed(f))
		return 0;
	f->cur = !row0 || (row1 && col_u64(f->st[1], 0) < col_u64(f->st[0], 0));
	return 1;
}

static int runs_open(struct veld__sqlconn *s, const struct veld__srv_device *dev, int office,
                     uint64_t after, uint64_t limit, struct reader *who, struct feed_runs *f)
{
	struct veld__srv_device o;
	int found, rc;
	memset(f, 0, sizeof *f);
	f->s = s;
	if (office) {
		f->st[0] = query(s, S_FEED_ALL, "uu", after, limit);
		f->rc[0] = step(s, f->st[0]);
		return VELD_OK;
	}
	if ((rc = policy_mask(s, dev->team, &who->mask)) != VELD_OK ||
	    (rc = office_load(s, &o, &found)) != VELD_OK)
		return rc;
	f->st[0] = query(s, S_FEED_TEAM, "uut", after, limit, dev->team);
	f->rc[0] = step(s, f->st[0]);
	if (found) { /* each query's binds are checked by its first step */
		memcpy(f->office, o.device, VELD_ID_BYTES);
		f->st[1] = query(s, S_FEED_OFFICE, "uui", after, limit, f->office);
		f->rc[1] = step(s, f->st[1]);
	}
	return VELD_OK;
}

/* The puller's own operations on the page as runs (own=1): consecutive
 * seqs, each run shown by the digest of its hashes. A device's seqs follow
 * cursor order, so a run breaks only at a page's end. */
struct own_runs {
	int open;
	uint64_t from, to, cursor;
	uint8_t *hashes; /* the open run's: a page holds `limit` rows at most */
	size_t cap, cur_cap;
};

static int own_run_close(struct own_runs *o, struct veld__srv_page *page)
{
	struct veld__pull_resp *r = &page->resp;
	struct veld__own_run *x;
	uint64_t *c;
	if (!o->open)
		return VELD_OK;
	o->open = 0;
	x = arena_grow(&page->mem, (void **)&r->own, r->nown, &o->cap, sizeof *x);
	c = arena_grow(&page->mem, (void **)&r->own_cursors, r->nown, &o->cur_cap, sizeof *c);
	if (!x || !c)
		return veld__err(VELD_ENOMEM, "out of memory");
	x->from = o->from;
	x->to = o->to;
	veld__own_run_digest(o->hashes, (size_t)(o->to - o->from + 1), x->d);
	*c = o->cursor;
	r->nown++;
	return VELD_OK;
}

/* One own row: its hash (the operation's, or the one kept when it was
 * erased) joins the open run or starts the next. */
static int own_row(struct own_runs *o, struct veld__srv_page *page, struct veld__sqlst *st,
                   uint64_t cursor, uint64_t seq, uint32_t limit)
{
	int live = !col_null(st, 1), rc;
	if (o->open && seq != o->to + 1 && (rc = own_run_close(o, page)) != VELD_OK)
		return rc;
	if (!o->hashes && !(o->hashes = veld__arena_alloc(&page->mem, (size_t)limit * VELD_HASH_BYTES)))
		return veld__err(VELD_ENOMEM, "out of memory");
	if (!o->open) {
		o->open = 1;
		o->from = seq;
	}
	if (col_blob(st, live ? 12 : 19, o->hashes + (seq - o->from) * VELD_HASH_BYTES,
	             VELD_HASH_BYTES))
		return veld__err(VELD_ECORRUPT, "a feed row has no operation and no erased one");
	o->to = seq;
	o->cursor = cursor;
	return VELD_OK;
}

/* The operation feed above a->after as the reader may see it, each item
 * with its batch, until the page is full or past its byte budget. */
static int page_feed(struct veld__sqlconn *s, const struct veld__srv_device *dev, int office,
                     const struct veld__srv_pull_args *a, struct veld__srv_page *page)
{
	struct veld__pull_resp *r = &page->resp;
	struct feed_page fp = {page, 0, 0, 0, 0};
	struct reader who = {office, dev->team, VELD_POLICY_ALL};
	struct feed_runs f;
	struct own_runs own = {0, 0, 0, 0, NULL, 0, 0};
	size_t bytes = 0, n = 0;
	int rc = runs_open(s, dev, office, a->after, (uint64_t)a->limit + 1, &who, &f);
	while (rc == VELD_OK && !runs_failed(&f) && runs_next(&f)) {
		struct veld__sqlst *st = f.st[f.cur];
		uint64_t cursor = col_u64(st, 0), seq = 0;
		uint8_t device[VELD_ID_BYTES];
		size_t cost = 0;
		/* The budget is soft: the item that crosses it still goes, and
		 * at least one always does, so a page always makes progress.
		 * Each run reads one row more than the page holds, to learn
		 * whether more wait. */
		if (n == a->limit || (n > 0 && bytes >= a->max_bytes)) {
			r->more = 1;
			break;
		}
		if (a->own_runs && col_len(st, 14) == VELD_ID_BYTES &&
		    memcmp(col_ptr(st, 14), dev->device, VELD_ID_BYTES) == 0) {
			if ((rc = own_row(&own, page, st, cursor, col_u64(st, 15), a->limit)) != VELD_OK)
				break;
			r->next = cursor;
			n++;
			f.rc[f.cur] = step(s, st);
			continue;
		}
		if ((rc = add_row(&fp, &who, st, cursor, device, &seq, &cost)) != VELD_OK)
			break;
		bytes += cost;
		/* page_batch runs other statements; the runs stay on their rows. */
		if ((rc = page_batch(s, r, &page->mem, device, seq, &bytes)) != VELD_OK)
			break;
		r->next = cursor;
		n++;
		f.rc[f.cur] = step(s, st);
	}
	if (rc == VELD_OK)
		rc = runs_failed(&f);
	if (rc == VELD_OK)
		rc = own_run_close(&own, page);
	for (int i = 0; i < 2; i++)
		if (f.st[i])
			reset(f.st[i]);
	return rc;
}

/* A signature column that may be NULL (rows from before signatures were
 * kept): zeros, which verify for nobody, so a device treats the row as the
 * unsigned thing it is. */
static int col_sig(struct veld__sqlst *st, int i, uint8_t sig[64])
{
	if (col_null(st, i)) {
		memset(sig, 0, 64);
		return 0;
	}
	return col_blob(st, i, sig, 64);
}

/* Envelopes addressed to the device's team (or the office). At most
 * VELD_WIRE_MAX_ENVS of ~330 bytes: outside the byte budget. */
static int page_envelopes(struct veld__sqlconn *s, const struct veld__srv_device *dev, int office,
                          const struct veld__srv_pull_args *a, struct veld__pull_resp *r)
{
	char to[VELD_TEAM_MAX + 8];
	struct veld__sqlst *st;
	int rc;
	snprintf(to, sizeof to, office ? "office" : "team:%s", dev->team);
	st = query(s, S_ENV_PAGE, "tuu", to, a->env_after, (uint64_t)VELD_WIRE_MAX_ENVS + 1);
	while ((rc = step(s, st)) == VELD__SQL_ROW) {
		struct veld__envelope *e = &r->envs[r->nenvs];
		if (r->nenvs == VELD_WIRE_MAX_ENVS) {
			r->more = 1;
			break;
		}
		if (col_blob(st, 1, e->client, VELD_ID_BYTES) ||
		    col_blob(st, 5, e->sealed, VELD_SEALED_KEY_BYTES) || col_sig(st, 7, e->sig) ||
		    (!col_null(st, 6) &&
		     col_blob(st, 6, e->from, VELD_ID_BYTES))) {
			rc = veld__err(VELD_ECORRUPT, "an envelope row is damaged");
			break;
		}
		e->kv = col_u64(st, 2);
		col_text(st, 3, e->to, sizeof e->to);
		e->tv = col_u64(st, 4);
		r->env_next = r->env_cursors[r->nenvs] = col_u64(st, 0);
		r->nenvs++;
	}
	return rows_end(st, rc);
}

/* Notices of the device's team (the office: all). At most
 * VELD_WIRE_MAX_NOTICES, and bodies of at most VELD_WIRE_NOTICE_BYTES
 * together (a record schema's is up to 128 KiB; the first notice always
 * goes): outside the operations' byte budget, as envelopes are. */
static int page_notices(struct veld__sqlconn *s, const struct veld__srv_device *dev, int office,
                        const struct veld__srv_pull_args *a, struct veld__srv_page *page)
{
	struct veld__pull_resp *r = &page->resp;
	uint64_t limit = (uint64_t)VELD_WIRE_MAX_NOTICES + 1;
	size_t bytes = 0;
	struct veld__sqlst *st = office ? query(s, S_NOTICE_PAGE_ALL, "uu", a->notice_after, limit)
	                          : query(s, S_NOTICE_PAGE_TEAM, "uut", a->notice_after, limit,
	                                  dev->team);
	int rc;
	while ((rc = step(s, st)) == VELD__SQL_ROW) {
		struct veld__notice *x = &r->notices[r->nnotices];
		size_t len = col_len(st, 5);
		if (r->nnotices == VELD_WIRE_MAX_NOTICES ||
		    (r->nnotices > 0 && bytes + len > VELD_WIRE_NOTICE_BYTES)) {
			r->more = 1;
			break;
		}
		bytes += len;
		if (col_blob(st, 6, x->sig, 64) || len == 0 || len > VELD_NOTICE_BODY_MAX) {
			rc = veld__err(VELD_ECORRUPT, "a notice row is damaged");
			break;
		}
		if (!(x->body = veld__arena_dup(&page->mem, col_ptr(st, 5), len))) {
			rc = veld__err(VELD_ENOMEM, "out of memory");
			break;
		}
		x->body_len = len;
		col_text(st, 1, x->team, sizeof x->team);
		x->n = col_u64(st, 2);
		col_text(st, 3, x->kind, sizeof x->kind);
		x->at = col_u64(st, 4);
		r->notice_next = r->notice_cursors[r->nnotices] = col_u64(st, 0);
		r->nnotices++;
	}
	return rows_end(st, rc);
}

/* The team's checkpoint, for a worker's pull (at most ~240 KB of heads:
 * outside the byte budget). */
static int page_checkpoint(struct veld__sqlconn *s, const struct veld__srv_device *dev,
                           struct veld__srv_page *page)
{
	struct veld__checkpoint *c = &page->resp.checkpoint;
	struct veld__sqlst *st = query(s, S_CKPT_GET, "t", dev->team);
	size_t len;
	int rc = first_row(s, st, "reading checkpoints");
	if (rc != 1)
		return rc;
	len = col_len(st, 2);
	snprintf(c->team, sizeof c->team, "%s", dev->team);
	c->at = col_u64(st, 0);
	c->n = col_u64(st, 1);
	/* No heads is a team without authors yet: the notices still count. */
	if (col_blob(st, 3, c->sig, 64) || len % 24 || len > 24 * VELD_WIRE_MAX_HEADS)
		rc = veld__err(VELD_ECORRUPT, "a checkpoint row is damaged");
	else if (!(c->heads = len ? veld__arena_dup(&page->mem, col_ptr(st, 2), len)
	                          : veld__arena_alloc(&page->mem, 1)))
		rc = veld__err(VELD_ENOMEM, "out of memory");
	else
		rc = VELD_OK;
	c->heads_len = len;
	reset(st);
	page->resp.has_checkpoint = rc == VELD_OK;
	return rc;
}

/* The team keys sealed to this device, with the office's signatures. */
static int page_team_keys(struct veld__sqlconn *s, const struct veld__srv_device *dev,
                          struct veld__srv_page *page)
{
	struct veld__pull_resp *r = &page->resp;
	struct veld__sqlst *st = query(s, S_TKS_DEVICE, "i", dev->device);
	size_t cap = 0;
	int rc;
	while ((rc = step(s, st)) == VELD__SQL_ROW) {
		struct veld__team_key *k = arena_grow(&page->mem, (void **)&r->team_keys, r->nteam_keys,
		                                      &cap, sizeof *k);
		if (!k) {
			rc = veld__err(VELD_ENOMEM, "out of memory");
			break;
		}
		col_text(st, 0, k->team, sizeof k->team);
		k->tv = col_u64(st, 1);
		if (col_blob(st, 2, k->pk, 32) || col_blob(st, 3, k->sealed, VELD_SEALED_KEY_BYTES) ||
		    col_sig(st, 4, k->sig)) {
			rc = veld__err(VELD_ECORRUPT, "a team key row is damaged");
			break;
		}
		r->nteam_keys++;
	}
	return rows_end(st, rc);
}

static int pull_locked(struct veld__sqlconn *s, const struct veld__srv_req *req,
                       const struct veld__srv_device *dev, const struct call *call,
                       struct veld__srv_outcome *out)
{
	const struct veld__srv_pull_args *a = call->m;
	struct veld__srv_page *page = call->resp;
	struct veld__pull_resp *r = &page->resp;
	struct veld__arena *mem = &page->mem;
	int office = strcmp(dev->role, "office") == 0, rc;
	(void)req;
	(void)out;
	memset(r, 0, sizeof *r); /* again on a retry */
	r->next = a->after;
	r->env_next = a->env_after;
	r->notice_next = a->notice_after;
	r->cursors = veld__arena_alloc(mem, a->limit * sizeof *r->cursors);
	r->ops = veld__arena_alloc(mem, a->limit * sizeof *r->ops);
	r->batches = veld__arena_alloc(mem, a->limit * sizeof *r->batches);
	r->env_cursors = veld__arena_alloc(mem, VELD_WIRE_MAX_ENVS * sizeof *r->env_cursors);
	r->envs = veld__arena_alloc(mem, VELD_WIRE_MAX_ENVS * sizeof *r->envs);
	r->notice_cursors = veld__arena_alloc(mem, VELD_WIRE_MAX_NOTICES * sizeof *r->notice_cursors);
	r->notices = veld__arena_alloc(mem, VELD_WIRE_MAX_NOTICES * sizeof *r->notices);
	if (!r->cursors || !r->ops || !r->batches || !r->env_cursors || !r->envs ||
	    !r->notice_cursors || !r->notices)
		return veld__err(VELD_ENOMEM, "out of memory");
	/* Notices first: a page whose notices do not all fit carries no item
	 * of the operation feed (docs/protocol.md). */
	if ((rc = page_notices(s, dev, office, a, page)) != VELD_OK ||
	    (!r->more && (rc = page_feed(s, dev, office, a, page)) != VELD_OK) ||
	    (rc = page_envelopes(s, dev, office, a, r)) != VELD_OK ||
	    (!office && (rc = page_checkpoint(s, dev, page)) != VELD_OK))
		return rc;
	return page_team_keys(s, dev, page);
}

/* A page's request: the page size is checked before anything else. */
static int run_page(struct veld__sstore *base, const struct veld__srv_req *req, enum who who,
                    endpoint_fn fn, const struct call *call, struct veld__srv_outcome *out)
{
	const struct veld__srv_pull_args *args = call->m;
	if (args->limit >= 1 && args->limit <= VELD_WIRE_MAX_PAGE)
		return run_read(base, req, who, fn, call, out);
	memset(out, 0, sizeof *out);
	return refuse(out, VELD_SRV_MALFORMED, "limit: must be 1 to %d", VELD_WIRE_MAX_PAGE);
}

static int r_pull(struct veld__sstore *base, const struct veld__srv_req *req,
                   const struct veld__srv_pull_args *args, struct veld__srv_page *page,
                   struct veld__srv_outcome *out)
{
	const struct call call = {args, page, 0};
	memset(&page->resp, 0, sizeof page->resp);
	return run_page(base, req, ANY_DEVICE, pull_locked, &call, out);
}

/* ---- access log ---------------------------------------------------------------- */

/* The rules of POST /v1/audit (protocol.md 6), in the order they are
 * listed, then the new entries. */
static int audit_push_locked(struct veld__sqlconn *s, const struct veld__srv_req *req,
                             const struct veld__srv_device *dev, const struct call *call,
                             struct veld__srv_outcome *out)
{
	const struct veld__audit_push_req *m = call->m;
	struct veld__push_resp *resp = call->resp;
	uint64_t last, stored = 0;
	int rc;
	(void)dev;
	/* The decoder's checks, again, before anything: a gap in what is
	 * stored would break "all of 1..max are held" for good. */
	for (size_t i = 0; i < m->n; i++) {
		const struct veld__audit_entry *e = &m->entries[i];
		if (e->seq != m->entries[0].seq + i || e->seq < 1 || !e->sealed ||
		    e->sealed_len == 0 || e->sealed_len > VELD_AUDIT_SEALED_MAX)
			return refuse(out, VELD_SRV_MALFORMED,
			              "entries[%zu]: not consecutive or badly sized", i);
	}
	/* The highest seq held (all lower ones are held too: a push must
	 * continue the sequence). */
	if ((rc = scalar(s, query(s, S_AUDIT_LAST, "i", req->device), "reading the access log",
	                 &last)) != VELD_OK)
		return rc;
	if (m->n && m->entries[0].seq > last + 1) {
		out->expected = last + 1;
		return refuse(out, VELD_SRV_GAP,
		              "the push does not continue the device's access log: expected %llu",
		              (unsigned long long)(last + 1));
	}
	if (m->n && !call->sig_ok)
		return refuse(out, VELD_SRV_BAD_BATCH, "an access-log entry's signature does not verify");
	for (size_t i = 0; i < m->n && rc == VELD_OK; i++) {
		const struct veld__audit_entry *e = &m->entries[i];
		if (e->seq <= last)
			continue; /* held already; not compared: sealing is randomized */
		rc = exec(s, "storing an access-log entry", S_AUDIT_PUT, "iubgu", req->device, e->seq,
		          (const void *)e->sealed, e->sealed_len, e->sig, req->now_ms);
		stored += rc == VELD_OK;
	}
	resp->acked = m->n && m->entries[m->n - 1].seq > last ? m->entries[m->n - 1].seq : last;
	resp->stored = stored;
	return rc;
}

static int r_audit_push(struct veld__sstore *base, const struct veld__srv_req *req,
                         const struct veld__audit_push_req *m, int sig_ok,
                         struct veld__push_resp *resp, struct veld__srv_outcome *out)
{
	const struct call call = {m, resp, sig_ok};
	memset(resp, 0, sizeof *resp);
	return run_request(base, req, ANY_DEVICE, audit_push_locked, &call, out);
}

/* Rough bytes an entry adds to the encoded page besides its sealed bytes
 * (array header, cursor, device, seq, bin headers, signature), to bound its
 * size. */
#define AUDIT_OVERHEAD 112

static int audit_pull_locked(struct veld__sqlconn *s, const struct veld__srv_req *req,
                             const struct veld__srv_device *dev, const struct call *call,
                             struct veld__srv_outcome *out)
{
	const struct veld__srv_pull_args *a = call->m;
	struct veld__srv_audit_page *page = call->resp;
	struct veld__audit_pull_resp *r = &page->resp;
	size_t bytes = 0;
	struct veld__sqlst *st;
	int rc;
	(void)req;
	(void)dev;
	(void)out;
	memset(r, 0, sizeof *r); /* again on a retry */
	r->next = a->after;
	r->entries = veld__arena_alloc(&page->mem, a->limit * sizeof *r->entries);
	if (!r->entries)
		return veld__err(VELD_ENOMEM, "out of memory");
	/* One more than the page to learn whether more wait. */
	st = query(s, S_AUDIT_PAGE, "uu", a->after, (uint64_t)a->limit + 1);
	while ((rc = step(s, st)) == VELD__SQL_ROW) {
		struct veld__audit_entry *e = &r->entries[r->n];
		size_t len = col_len(st, 3), cost = AUDIT_OVERHEAD + len;
		if (r->n == a->limit) {
			r->more = 1;
			break;
		}
		if (col_blob(st, 1, e->device, VELD_ID_BYTES) || col_blob(st, 4, e->sig, 64) ||
		    len == 0 || len > VELD_AUDIT_SEALED_MAX) {
			rc = veld__err(VELD_ECORRUPT, "an access-log row is damaged");
			break;
		}
		/* The entry that would pass the budget waits for the next page;
		 * the first always goes, so a page always makes progress. */
		if (r->n > 0 && bytes + cost > a->max_bytes) {
			r->more = 1;
			break;
		}
		e->cursor = col_u64(st, 0);
		e->seq = col_u64(st, 2);
		if (!(e->sealed = veld__arena_dup(&page->mem, col_ptr(st, 3), len))) {
			rc = veld__err(VELD_ENOMEM, "out of memory");
			break;
		}
		e->sealed_len = len;
		bytes += cost;
		r->next = e->cursor;
		r->n++;
	}
	return rows_end(st, rc);
}

static int r_audit_pull(struct veld__sstore *base, const struct veld__srv_req *req,
                         const struct veld__srv_pull_args *args, struct veld__srv_audit_page *page,
                         struct veld__srv_outcome *out)
{
	const struct call call = {args, page, 0};
	memset(&page->resp, 0, sizeof page->resp);
	return run_page(base, req, OFFICE_ONLY, audit_pull_locked, &call, out);
}

static void r_close(struct veld__sstore *base)
{
	struct veld__sqlstore *store = (struct veld__sqlstore *)base;
	if (store)
		store->drv->close(store);
}

const struct veld__sstore_ops veld__sql_rules = {
	.close = r_close,
	.office_needed = r_office_needed,
	.office_invite = r_office_invite,
	.device_get = r_device_get,
	.nonce_seen = r_nonce_seen,
	.enroll = r_enroll,
	.invite = r_invite,
	.team_keys = r_team_keys,
	.revoke = r_revoke,
	.push = r_push,
	.notice = r_notice,
	.checkpoint = r_checkpoint,
	.pull = r_pull,
	.devices = r_devices,
	.audit_push = r_audit_push,
	.audit_pull = r_audit_pull,
};
