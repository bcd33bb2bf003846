/* server_store.h - the server's central store, behind a narrow interface
 * (private).
 *
 * The HTTP side (server.c) does everything that needs no state: parsing
 * and checking the signed headers, decoding and encoding messages, hashing
 * operations and verifying signatures. Everything that reads or writes the
 * server's state goes through the table of functions below, one call per
 * request. So a second backend (PostgreSQL, when one box is not enough)
 * implements this table and nothing else. Both backends there are share
 * one implementation, the rules in server_store.c over an SQL driver
 * (server_sql.h): SQLite (server_sqlite.c) and PostgreSQL (server_pg.c).
 *
 * The contract every backend keeps:
 *  - One request = one transaction. A request function re-checks the
 *    requesting device (enrolled, not revoked) and its nonce once it has
 *    its turn, makes every check of its endpoint before it writes, and
 *    records the nonce only when the request succeeds: a write as its last
 *    step before the commit, under the same serialisation as the next
 *    write's check (a nonce that cannot be recorded fails the request); a
 *    read after its page, with insert-if-absent, answering a replay refusal
 *    when a racing copy recorded it first. Nonces are kept at least twice
 *    the authentication window. A refused request changes nothing: not
 *    even the nonces. A request of many items
 *    (notices, checkpoints) is one transaction too: one refused item
 *    refuses them all.
 *  - A read (pull, access-log pull, device list, device_get, nonce_seen,
 *    office_needed) does not wait for a write in progress: it sees one
 *    consistent snapshot of the last commit (SQLite: reader connections in
 *    WAL mode, nonces in a database of their own; PostgreSQL: REPEATABLE
 *    READ READ ONLY).
 *  - Functions return VELD_OK when the request was decided, with the
 *    decision in `out->refusal` (VELD_SRV_OK = done); a negative VELD_E*
 *    code only for a failure of the store itself (the answer is then 500
 *    internal and nothing was written).
 *  - The server trusts no one's word for what it serves and is trusted by
 *    no device (notes/trust.md): a device checks every operation against
 *    its author's signed batch, every notice, checkpoint and team key
 *    against the office's key, every envelope against its sealer's. So the
 *    store keeps every signature as it arrived, with the exact bytes it
 *    covers, and serves both.
 *  - Every stored operation goes through the merge rule (core/src/merge.c,
 *    the code devices run) and gets the next cursor of one feed that orders
 *    all operations by arrival. Cursors become visible in increasing order:
 *    a reader never sees cursor n+1 before n (SQLite: one writer at a time;
 *    PostgreSQL: one write transaction at a time across processes, under an
 *    advisory lock, with cursors from a counter row, because sequences are
 *    not committed in order). Notices and stored access-log entries have feeds
 *    of their own with the same guarantee.
 *  - A pull shows every feed row the device may know of, and no seq of an
 *    author it sees is ever left out: what it may not read stands in the
 *    feed as a stub (another team's operation, an erased one: device, seq,
 *    team, client and the kh layer of its hash, core/src/op.h) or, for a
 *    client field its team's policy keeps at the office, as a held entry
 *    (kind, field and the rh layer). Either recomputes to the hash its
 *    batch signed. A version 1 operation has no layers: its stub carries
 *    its whole hash as kh, and a withheld one is a stub too. Every page
 *    carries the batches of everything on it, with all their hashes.
 *  - Notices (office statements: certificates, revocations, erasures, field
 *    policies) are numbered per team from 1 without a gap and never
 *    change: the same notice again is skipped, another one under a held
 *    number is an equivocation. Each acts when stored (a revocation
 *    revokes, an erasure erases, a policy replaces the team's).
 *  - A team's checkpoint is the latest the office signed (by `at`); an
 *    older one is skipped, not refused.
 *  - Access-log entries are stored exactly as they arrive: sealed to the
 *    office and signed by their device. The server never holds them in
 *    readable form.
 *  - An erased client (an erase notice) keeps on the server: the erasure's
 *    record (client, team, time and the office's signature), and of each
 *    of its operations the feed row (device, seq, team, client) and the
 *    hash and its kh layer, because a batch signature covers them and
 *    every device must be able to check the rest of those batches and see
 *    that nothing of the author is missing. Its operations' contents, the
 *    merge state of its records and its key envelopes are gone, and
 *    operations and envelopes of it that arrive later are accepted (a
 *    device's sequence advances; an operation gets its feed row and its
 *    kh) but never stored.
 *  - A client moved to another team (a move notice) keeps everything:
 *    its operations stay and later ones are stored as any, but a worker's
 *    pull shows them only as stubs (only the office reads them now), and
 *    its key envelopes to a team are gone or dropped.
 *  - A team's field policy decides which client fields its workers'
 *    pulls carry (core/src/policy.h); the office's pulls carry all.
 *  - Messages in `out->message` are for people and never hold a value,
 *    a code or anything sealed.
 *  - Functions may be called from several threads at once.
 */
#ifndef VELD_SERVER_STORE_H
#define VELD_SERVER_STORE_H

#include "arena.h"
#include "wire.h"

#include <stddef.h>
#include <stdint.h>

/* How a request was decided (docs/protocol.md 5). */
enum veld__srv_refusal {
	VELD_SRV_OK = 0,
	VELD_SRV_MALFORMED,      /* 400 malformed */
	VELD_SRV_UNKNOWN_DEVICE, /* 401 unknown_device */
	VELD_SRV_REVOKED,        /* 403 revoked */
	VELD_SRV_FORBIDDEN,      /* 403 forbidden */
	VELD_SRV_BAD_CODE,       /* 403 bad_code */
	VELD_SRV_NOT_FOUND,      /* 404 not_found */
	VELD_SRV_REPLAY,         /* 409 replay */
	VELD_SRV_GAP,            /* 409 gap, with `expected` */
	VELD_SRV_EQUIVOCATION,   /* 409 equivocation */
	VELD_SRV_BAD_BATCH,      /* 409 bad_batch */
	VELD_SRV_CLOCK           /* 409 clock */
};

struct veld__srv_outcome {
	enum veld__srv_refusal refusal;
	uint64_t expected; /* VELD_SRV_GAP: the seq (or key version) expected */
	char message[192];
};

/* The authenticated request a store call acts for. */
struct veld__srv_req {
	uint8_t device[VELD_ID_BYTES];
	uint8_t nonce[16];
	uint64_t time_ms; /* Veld-Time as sent (within the window) */
	uint64_t now_ms;  /* the server's clock when the request arrived */
};

/* A device as the server knows it. */
struct veld__srv_device {
	uint8_t device[VELD_ID_BYTES];
	uint8_t sign_pk[32], box_pk[32];
	char team[VELD_TEAM_MAX + 1]; /* "*" for the office */
	char role[16];                /* "worker" or "office" */
	char label[65];
	uint64_t enrolled, revoked; /* ms; revoked 0 = active */
	uint64_t last_seq;          /* all of 1..last_seq are stored */
	/* A worker: the invite it enrolled with and its enroll proof (the
	 * office certifies it by them); the office has none. */
	int has_auth;
	uint8_t auth[32], proof[32];
};

/* A pull page; everything `resp` points to lives in `mem`. */
struct veld__srv_page {
	struct veld__pull_resp resp;
	struct veld__arena mem;
};

/* An access-log page (GET /v1/audit); everything `resp` points to lives in
 * `mem`. */
struct veld__srv_audit_page {
	struct veld__audit_pull_resp resp;
	struct veld__arena mem;
};

/* The device list; everything `resp` points to lives in `mem`. */
struct veld__srv_devices {
	struct veld__devices_resp resp;
	struct veld__arena mem;
};

/* A pull's request: cursors and the page size (1..VELD_WIRE_MAX_PAGE).
 * `max_bytes` bounds the operation feed's part of the page (at least one
 * item is sent). `notice_after` is the notice feed's cursor (query
 * notice_after). The access-log pull uses `after`, `limit` and
 * `max_bytes` only. */
struct veld__srv_pull_args {
	uint64_t after, env_after, notice_after;
	uint32_t limit;
	size_t max_bytes;
	int own_runs; /* own=1: the puller's own operations as runs (veld__own_run) */
};

/* A notice of POST /v1/notice as the HTTP side checked it, outside the
 * store's lock: whether the office's signature verifies and whether the
 * body decodes for its kind (then `body`). The store reports a failure at
 * its place in the order of the rules, notice by notice. */
struct veld__srv_notice {
	const struct veld__notice *n;
	int sig_ok, body_ok;
	struct veld__notice_body body;
};

struct veld__sstore;

struct veld__sstore_ops {
	void (*close)(struct veld__sstore *s);

	/* Is an office setup code needed (no office enrolled and no unused,
	 * unexpired office invite)? */
	int (*office_needed)(struct veld__sstore *s, uint64_t now_ms, int *needed);
	/* Store an office invite (auth of a new code) if one is still needed;
	 * *created tells whether it was. */
	int (*office_invite)(struct veld__sstore *s, const uint8_t auth[32], uint64_t now_ms,
	                     uint64_t expires_ms, int *created);

	/* Read one device: VELD_ENOTFOUND if unknown. */
	int (*device_get)(struct veld__sstore *s, const uint8_t device[VELD_ID_BYTES],
	                  struct veld__srv_device *out);
	/* Has this device sent this nonce (within the window)? A read, so the
	 * HTTP side can answer 409 replay before it decodes the body. */
	int (*nonce_seen)(struct veld__sstore *s, const uint8_t device[VELD_ID_BYTES],
	                  const uint8_t nonce[16], int *seen);

	/* The endpoints. `req` is the authenticated request; for enroll its
	 * device is the new one (m->device), stored with m->auth and m->proof
	 * unless it is the office. */
	int (*enroll)(struct veld__sstore *s, const struct veld__srv_req *req,
	              const struct veld__enroll_req *m, struct veld__enroll_resp *resp,
	              struct veld__srv_outcome *out);
	int (*invite)(struct veld__sstore *s, const struct veld__srv_req *req,
	              const struct veld__invite_req *m, struct veld__srv_outcome *out);
	/* Team keys (POST /v1/team-keys): m->sig verified with the office's
	 * key already; stored with the key, served with it in pulls. */
	int (*team_keys)(struct veld__sstore *s, const struct veld__srv_req *req,
	                 const struct veld__team_keys_req *m, struct veld__srv_outcome *out);
	/* Revoke: resp->acked is the highest seq of the device held (all
	 * lower ones too), so the office can say where its word ends. */
	int (*revoke)(struct veld__sstore *s, const struct veld__srv_req *req,
	              const struct veld__revoke_req *m, struct veld__revoke_resp *resp,
	              struct veld__srv_outcome *out);
	/* Push: every ops[i].hash is already the canonical hash, all ops have
	 * one version, and sig_ok says whether the batch signature verified
	 * with the device's key (the store reports a bad one at its place in
	 * the order of the rules). The caller has checked that the ops are the
	 * device's own and contiguous, and that every envelope is the
	 * device's (`from`) with a signature that verifies. An operation of a
	 * new seq stamped more than s->max_skew_ms ahead of req->now_ms (or at
	 * 2^63 or above) refuses the push: VELD_SRV_CLOCK. The batch is kept
	 * with its version whenever the push brings new seqs. */
	int (*push)(struct veld__sstore *s, const struct veld__srv_req *req,
	            const struct veld__push_req *m, int sig_ok, struct veld__push_resp *resp,
	            struct veld__srv_outcome *out);
	/* Notices (POST /v1/notice, office only), in order, each: its
	 * signature (VELD_SRV_BAD_BATCH), its body (VELD_SRV_MALFORMED), its
	 * number n = the team's last + 1 (a held n with the same kind, at,
	 * body and sig is skipped; with others VELD_SRV_EQUIVOCATION; above
	 * last + 1 VELD_SRV_GAP with expected = last + 1), then its act:
	 *   cert    the device is enrolled, a worker of the notice's team, with
	 *           the certified keys and role (else VELD_SRV_BAD_BATCH);
	 *   revoke  the device is of the notice's team (else
	 *           VELD_SRV_BAD_BATCH); revoked unless it is already;
	 *   erase   the client (never seen: VELD_SRV_NOT_FOUND; of another
	 *           team: VELD_SRV_FORBIDDEN; erased already: no change): its
	 *           operations, merge state and envelopes go, their feed rows
	 *           and hashes stay with the kh layer; later ones are dropped;
	 *   policy  the team's field policy becomes the mask, from `at`;
	 * and it is stored with the next cursor of the notice feed. */
	int (*notice)(struct veld__sstore *s, const struct veld__srv_req *req,
	              const struct veld__srv_notice *v, size_t n, struct veld__srv_outcome *out);
	/* Checkpoints (POST /v1/checkpoint, office only; signatures and heads
	 * checked): each becomes its team's unless the one held is as new or
	 * newer (by `at`; then skipped). */
	int (*checkpoint)(struct veld__sstore *s, const struct veld__srv_req *req,
	                  const struct veld__checkpoint_req *m, struct veld__srv_outcome *out);
	/* Pull: the operation feed above args->after in cursor order, at most
	 * args->limit items of three kinds (the contract above: `ops` the
	 * device may read, `stubs`, `held`), each with its batch; a
	 * worker's feed is its team's rows and the office's (the office gets
	 * every row); next = the last cursor listed or args->after. Also
	 * envelopes above args->env_after addressed to it, notices above
	 * args->notice_after (a worker: its team's; the office: all; at most
	 * VELD_WIRE_MAX_NOTICES, notice_next = the last cursor listed or
	 * notice_after), its sealed team keys with the office's signatures,
	 * and for a worker its team's checkpoint; `more` when items,
	 * envelopes or notices wait. A worker never gets the value of a
	 * client field its team's policy keeps at the office (without a
	 * policy: the default). Fills `page` (free with
	 * veld__arena_free(&page->mem), also on failure). */
	int (*pull)(struct veld__sstore *s, const struct veld__srv_req *req,
	            const struct veld__srv_pull_args *args, struct veld__srv_page *page,
	            struct veld__srv_outcome *out);
	/* The device list (office only), with each worker's invite auth and
	 * enroll proof. */
	int (*devices)(struct veld__sstore *s, const struct veld__srv_req *req,
	               struct veld__srv_devices *list, struct veld__srv_outcome *out);
	/* Access-log push (POST /v1/audit): sig_ok says whether every entry's
	 * signature verified with the device's key (the store reports a bad
	 * one after the gap rule, in the order of the rules). The decoder has
	 * checked that the seqs are consecutive from >= 1. Entries whose seq
	 * is held already are skipped without comparing (sealing is
	 * randomized); new ones get the next cursor of the access-log feed,
	 * which orders all stored entries by arrival as the operation feed
	 * does. resp->acked is the highest seq held (all lower ones are held
	 * too), resp->stored the number newly stored. */
	int (*audit_push)(struct veld__sstore *s, const struct veld__srv_req *req,
	                  const struct veld__audit_push_req *m, int sig_ok,
	                  struct veld__push_resp *resp, struct veld__srv_outcome *out);
	/* Access-log pull (GET /v1/audit, office only): entries with a cursor
	 * above args->after in cursor order, at most args->limit, ending
	 * before the page would pass args->max_bytes (at least one entry); no
	 * keys: the office knows every device's from its certificates. Fills
	 * `page` (free with
	 * veld__arena_free(&page->mem), also on failure). */
	int (*audit_pull)(struct veld__sstore *s, const struct veld__srv_req *req,
	                  const struct veld__srv_pull_args *args, struct veld__srv_audit_page *page,
	                  struct veld__srv_outcome *out);
};

/* How far ahead of the server's clock a pushed operation may be stamped,
 * by default. */
#define VELD_SRV_MAX_SKEW_MS (10ull * 60 * 1000)

/* Every backend's handle starts with this. `max_skew_ms` is the push's
 * clock rule; the backend sets VELD_SRV_MAX_SKEW_MS when it opens and the
 * server its configured value before the first request. */
struct veld__sstore {
	const struct veld__sstore_ops *ops;
	uint64_t max_skew_ms;
};

/* The SQLite backend: DIR/server.db (created mode 0600 if missing; WAL)
 * with one writer connection and `readers` reader connections (at least
 * one; one per server thread lets every thread read at once), and
 * DIR/nonces.db. */
int veld__sstore_sqlite_open(struct veld__sstore **out, const char *dir, size_t readers);
/* The PostgreSQL backend: the database `conninfo` names (a libpq URI or
 * key=value string), migrated to this veld's schema, with a pool of
 * `conns` connections (at least two). Several servers may share one
 * database. */
int veld__sstore_pg_open(struct veld__sstore **out, const char *conninfo, size_t conns);

#endif
