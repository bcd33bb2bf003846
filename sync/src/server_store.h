/* server_store.h - the server's central store, behind a narrow interface
 * (private).
 *
 * The HTTP side (server.c) does everything that needs no state: parsing
 * and checking the signed headers, decoding and encoding messages, hashing
 * operations and verifying signatures. Everything that reads or writes the
 * server's state goes through the table of functions below, one call per
 * request. So a second backend (PostgreSQL, when one box is not enough)
 * implements this table and nothing else; server_store.c is the SQLite one.
 *
 * The contract every backend keeps:
 *  - One request = one transaction. A request function re-checks the
 *    requesting device (enrolled, not revoked) and its nonce inside the
 *    transaction, makes every check of its endpoint before it writes, and
 *    records the nonce only when the request succeeds. A refused request
 *    changes nothing: not even the nonce table.
 *  - Functions return VELD_OK when the request was decided, with the
 *    decision in `out->refusal` (VELD_SRV_OK = done); a negative VELD_E*
 *    code only for a failure of the store itself (the answer is then 500
 *    internal and nothing was written).
 *  - Every stored operation goes through the merge rule (the SQLite backend
 *    runs core/src/merge.c, the code devices run) and gets the next cursor
 *    of one feed that orders all operations by arrival. Cursors become
 *    visible in increasing order: a reader never sees cursor n+1 before n
 *    (SQLite: one writer at a time; PostgreSQL would need the same, e.g. a
 *    table lock around the cursor allocation, because sequences are not
 *    committed in order). Stored access-log entries have a feed of their
 *    own with the same guarantee.
 *  - Access-log entries are stored exactly as they arrive: sealed to the
 *    office and signed by their device. The server never holds them in
 *    readable form.
 *  - An erased client (POST /v1/erase) keeps nothing on the server but the
 *    erasure's record (client, team, time, and the next cursor of a feed
 *    of erasures ordered by arrival, with the operation feed's
 *    guarantee): its operations, the merge state of its records and its
 *    key envelopes are gone, and operations and envelopes of it that
 *    arrive later are accepted (a device's sequence advances) but never
 *    stored. Only the hashes of its erased operations stay, because a
 *    batch signature covers them and the other operations of their
 *    batches must stay verifiable.
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
	VELD_SRV_BAD_BATCH       /* 409 bad_batch */
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
 * `max_bytes` bounds the page's size (at least one operation is sent).
 * `erase_after` is the erasure feed's cursor (query erase_after).
 * The access-log pull uses `after`, `limit` and `max_bytes` only. */
struct veld__srv_pull_args {
	uint64_t after, env_after, erase_after;
	uint32_t limit;
	size_t max_bytes;
};

struct veld__sstore;

struct veld__sstore_ops {
	const char *name;
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
	 * device is the new one (m->device). */
	int (*enroll)(struct veld__sstore *s, const struct veld__srv_req *req,
	              const struct veld__enroll_req *m, struct veld__enroll_resp *resp,
	              struct veld__srv_outcome *out);
	int (*invite)(struct veld__sstore *s, const struct veld__srv_req *req,
	              const struct veld__invite_req *m, struct veld__srv_outcome *out);
	int (*team_keys)(struct veld__sstore *s, const struct veld__srv_req *req,
	                 const struct veld__team_keys_req *m, struct veld__srv_outcome *out);
	int (*revoke)(struct veld__sstore *s, const struct veld__srv_req *req,
	              const struct veld__revoke_req *m, struct veld__revoke_resp *resp,
	              struct veld__srv_outcome *out);
	/* Push: every ops[i].hash is already the canonical hash, and sig_ok
	 * says whether the batch signature verified with the device's key (the
	 * store reports a bad one at its place in the order of the rules). The
	 * caller has checked that the ops are the device's own and contiguous. */
	int (*push)(struct veld__sstore *s, const struct veld__srv_req *req,
	            const struct veld__push_req *m, int sig_ok, struct veld__push_resp *resp,
	            struct veld__srv_outcome *out);
	/* Erase (POST /v1/erase, office only): in one transaction, record the
	 * erasure of m->client with the next cursor of the erasure feed and
	 * the client's team, and delete every operation of the client, the
	 * merge state of its records and every key envelope of it; from then
	 * on push drops its operations and envelopes (the sequence still
	 * advances) and pull lists the erasure. A client erased already is
	 * VELD_SRV_OK with no change but the nonce; a client the server holds
	 * no operation of (and never erased) VELD_SRV_NOT_FOUND; a worker
	 * VELD_SRV_FORBIDDEN. */
	int (*erase)(struct veld__sstore *s, const struct veld__srv_req *req,
	             const struct veld__erase_req *m, struct veld__srv_outcome *out);
	/* Field policy (POST /v1/policy, office only; the signature is
	 * checked): store m as its team's policy unless the team's is as new
	 * or newer (VELD_SRV_REPLAY; the same policy again is VELD_SRV_OK
	 * with no change but the nonce); a worker VELD_SRV_FORBIDDEN. */
	int (*policy)(struct veld__sstore *s, const struct veld__srv_req *req,
	              const struct veld__field_policy *m, struct veld__srv_outcome *out);
	/* Pull: operations above args->after the device may see (a worker:
	 * its team's; the office: all), envelopes above args->env_after
	 * addressed to it, erasures above args->erase_after (a worker: of its
	 * team's clients; the office: all; at most VELD_WIRE_MAX_ERASED,
	 * erase_next = the last cursor listed or erase_after), its sealed team
	 * keys; `more` when operations, envelopes or erasures wait. A worker
	 * never gets an operation on a client field its team's policy keeps at
	 * the office (without a policy: the default), and gets the policy
	 * itself if the office set one (resp.has_policy). Fills
	 * `page` (free with veld__arena_free(&page->mem), also on failure). */
	int (*pull)(struct veld__sstore *s, const struct veld__srv_req *req,
	            const struct veld__srv_pull_args *args, struct veld__srv_page *page,
	            struct veld__srv_outcome *out);
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
	 * before the page would pass args->max_bytes (at least one entry), and
	 * the signing key of every device on the page. Fills `page` (free with
	 * veld__arena_free(&page->mem), also on failure). */
	int (*audit_pull)(struct veld__sstore *s, const struct veld__srv_req *req,
	                  const struct veld__srv_pull_args *args, struct veld__srv_audit_page *page,
	                  struct veld__srv_outcome *out);
};

/* Every backend's handle starts with this. */
struct veld__sstore {
	const struct veld__sstore_ops *ops;
};

/* The SQLite backend: DIR/server.db (created mode 0600 if missing; WAL). */
int veld__sstore_sqlite_open(struct veld__sstore **out, const char *dir);

#endif
