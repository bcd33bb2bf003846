/* syncstate.h - what the device side of sync may use of the store (private).
 *
 * sync/src (outbox.c, apply.c, enroll.c, officekeys.c, auditsync.c) never
 * touches struct veld_store's fields or the store's SQL. It runs each of its
 * steps between veld__step_begin and veld__step_end, reads the store's
 * identity through the accessors below, lets the store use its secret keys
 * for it (sign, open), and reads and writes the store's tables through the
 * functions below, whose SQL is one named-statement table in syncstate.c.
 * Core owns its tables; sync owns the protocol.
 *
 * Unless said otherwise, every function here is called inside a step (the
 * store's mutex held) and returns VELD_OK or a negative VELD_E* code with a
 * message. */
#ifndef VELD_SYNCSTATE_H
#define VELD_SYNCSTATE_H

#include "store.h"
#include "op.h"

/* ---- a step ----------------------------------------------------------------- */

enum {
	VELD_STEP_KEYS = 1,  /* the store must be unlocked */
	VELD_STEP_WRITE = 2  /* the step writes: one transaction (a savepoint inside
	                        a caller's veld_store_begin) */
};
struct veld__step {
	int flags;
	int checkpoint; /* set by the step: after its commit, move the WAL into
	                   the database file (erased content leaves the WAL) */
	struct veld__tx tx;
};
/* Take the store's mutex (and check the keys, and begin the transaction, as
 * `flags` say). On failure nothing is held. */
int veld__step_begin(veld_store *s, struct veld__step *st, int flags);
/* Commit if rc is VELD_OK, else roll back keeping rc's message; release the
 * mutex. Returns the step's outcome. */
int veld__step_end(veld_store *s, struct veld__step *st, int rc);
/* veld__sync_u64 in a step of its own (a public call's entry and exit). */
int veld__sync_u64_step(veld_store *s, const char *key, uint64_t *v);

/* ---- cancelling sync calls (any thread, no step) -------------------------------- */
/* A sync call starts: the flag it polls is cleared when it is the only one
 * running on this handle (nested calls on one store, revoke running a sync,
 * share the flag). */
atomic_int *veld__store_cancel_enter(veld_store *s);
void veld__store_cancel_leave(veld_store *s);
/* Trip the flag of the calls running now; nothing if none runs. */
void veld__store_cancel(veld_store *s);

/* ---- the store's identity (valid while it is open) ---------------------------- */
const uint8_t *veld__store_device(const veld_store *s);
const uint8_t *veld__store_sign_pk(const veld_store *s);
const uint8_t *veld__store_box_pk(const veld_store *s);
const char *veld__store_team(const veld_store *s);
const char *veld__store_user(const veld_store *s);
int veld__store_is_office(const veld_store *s);
/* The highest own seq written, and the last access-log entry. */
uint64_t veld__store_last_seq(const veld_store *s);
uint64_t veld__store_audit_seq(const veld_store *s);
/* Enrollment: a fresh store takes the invite's team. */
int veld__store_set_team(veld_store *s, const char *team);

/* ---- the store's secret keys at work (unlocked store) --------------------------- */
/* Ed25519 signature by this device. */
void veld__store_sign(veld_store *s, uint8_t sig[64], const uint8_t *msg, size_t len);
/* Open something crypto_box_seal'ed to this device's box key: out gets
 * len - crypto_box_SEALBYTES bytes. -1 if it does not open. */
int veld__store_box_open(veld_store *s, uint8_t *out, const uint8_t *sealed, size_t len);
/* X25519 of this device's box secret key and `pk`. -1 if degenerate. */
int veld__store_box_dh(veld_store *s, uint8_t shared[32], const uint8_t pk[32]);

/* ---- clock, merge and erasure ----------------------------------------------------- */
/* A stamp received from another device: this device's clock moves past it. */
void veld__store_clock_seen(veld_store *s, uint64_t hlc);
/* Merge another device's operation (merge.h); *applied = 1 if it was new. */
int veld__store_merge(veld_store *s, const veld__op *op, int *applied);
/* 1 if the client is erased here, 0 if not, or a negative code. */
int veld__store_is_erased(veld_store *s, const uint8_t client[VELD_ID_BYTES]);
/* The team field policy held changed: forget the cached one. */
void veld__store_policy_changed(veld_store *s);

/* ---- sync's counters and settings (the meta table) ---------------------------------- */
/* A counter; one never written is 0. */
int veld__sync_u64(veld_store *s, const char *key, uint64_t *v);
int veld__sync_set_u64(veld_store *s, const char *key, uint64_t v);
/* A setting as text (NUL-terminated in cap bytes); VELD_ENOTFOUND if absent. */
int veld__sync_text(veld_store *s, const char *key, char *out, size_t cap);
int veld__sync_set_text(veld_store *s, const char *key, const char *v);
/* A setting as text of any length up to `max` bytes, in *out (malloc'd,
 * NUL-terminated; the caller frees it); VELD_ENOTFOUND if absent,
 * VELD_ECORRUPT if longer than max. */
int veld__sync_text_dup(veld_store *s, const char *key, size_t max, char **out);
/* A setting of exactly n bytes (keys); VELD_ENOTFOUND if absent. */
int veld__sync_bytes(veld_store *s, const char *key, uint8_t *out, size_t n);
int veld__sync_set_bytes(veld_store *s, const char *key, const uint8_t *v, size_t n);

/* ---- push: own operations and key envelopes waiting -------------------------------- */
/* Own operations read for a push, with everything they point to. */
struct veld__opbuf {
	veld__op *ops;
	size_t n;
	veld__ref *sups;
	uint8_t *values;
};
/* Own operations above seq `after`, at most max, in seq order, each hashed.
 * A value removed here (erasure, field policy) is read as nil. */
int veld__own_ops_read(veld_store *s, uint64_t after, size_t max, struct veld__opbuf *out);
void veld__opbuf_free(struct veld__opbuf *b);
/* How many own operations from seq `from` on have lost their value here
 * (field policy, retention): they cannot be sent again as signed. */
int veld__own_values_removed(veld_store *s, uint64_t from, uint64_t *n);
/* Take back the value of an own operation that the field policy removed,
 * when the server sends it again with the hash the store kept. */
int veld__own_value_restore(veld_store *s, const veld__op *op);
/* The hashes of this device's own operations from..to, in seq order, into
 * out (room for to - from + 1); VELD_ECORRUPT if one is missing. */
int veld__own_hashes(veld_store *s, uint64_t from, uint64_t to, uint8_t *out, size_t *n);

/* A client key envelope waiting in the outbox (keys.c makes them). */
struct veld__outbox_env {
	uint8_t client[VELD_ID_BYTES];
	uint64_t kv;
	char to[VELD_TEAM_MAX + 8]; /* "office" or "team:<team>" */
	uint64_t tv;
	uint8_t sealed[VELD_SEALED_KEY_BYTES];
};
/* Up to max waiting envelopes into envs; *n gets how many. */
int veld__outbox_read(veld_store *s, struct veld__outbox_env *envs, size_t max, size_t *n);
int veld__outbox_remove(veld_store *s, const struct veld__outbox_env *e);
int veld__outbox_count(veld_store *s, uint64_t *n);
/* Seal every client key this store holds to its team and to the office
 * again (after enrollment, or when the server lost them). */
int veld__keys_share_all(veld_store *s);
/* The office: new versions of every client key of `team`, shared with the
 * team's newest key and the office (after a revocation). */
int veld__keys_rotate_team(veld_store *s, const char *team);

/* ---- pull: what other devices signed ---------------------------------------------- */
/* Keep a pulled batch of an author not certified yet: its signature,
 * operation hashes and version (once per content). */
int veld__batch_keep(veld_store *s, const uint8_t device[VELD_ID_BYTES], uint64_t first,
                     uint64_t last, const uint8_t sig[64], const uint8_t *hashes, uint32_t ver);
/* Forget the kept batches of `device` that end at or before `upto`. */
int veld__batch_drop(veld_store *s, const uint8_t device[VELD_ID_BYTES], uint64_t upto);
/* The last kept batch veld__batch_check found signed, so that the items of
 * one batch cost one signature check (zeroed to start; veld__batch_cache_free
 * after). */
struct veld__batch_cache {
	uint8_t device[VELD_ID_BYTES];
	uint8_t pk[32];
	uint64_t first, last;
	uint8_t *hashes; /* last - first + 1 of them; NULL: none */
};
void veld__batch_cache_free(struct veld__batch_cache *c);
/* Does a kept batch of `device` signed with sign_pk hold `hash` at `seq`
 * (any of those kept that cover it)? 1 or 0, or a negative code. */
int veld__batch_check(veld_store *s, const uint8_t device[VELD_ID_BYTES], uint64_t seq,
                      const uint8_t hash[VELD_HASH_BYTES], const uint8_t sign_pk[32],
                      struct veld__batch_cache *cache);
/* Remember a device's signing key: replacing one held (replace), or only
 * if none is held yet. */
int veld__peer_set(veld_store *s, const uint8_t device[VELD_ID_BYTES], const uint8_t pk[32],
                   int replace);
/* The signing key remembered for a device: VELD_OK, VELD_ENOTFOUND. */
int veld__peer_get(veld_store *s, const uint8_t device[VELD_ID_BYTES], uint8_t pk[32]);

/* ---- the access log's way to the office ------------------------------------------- */
/* One access-log entry, as this store's `audit` table or the office's
 * `office_audit` table holds it. */
struct veld__audit_row {
	uint64_t seq, at;
	char event[33], outcome[33];
	char client[33]; /* 32 hex digits, or "" for none */
	char user[VELD_USER_MAX + 1], role[VELD_USER_MAX + 1];
	char device[33];
	char purpose[VELD_PURPOSE_MAX + 1];
};
/* This store's own entries above seq `after`, at most max, oldest first:
 * fn is called for each (a non-zero return stops and is returned). */
int veld__audit_rows(veld_store *s, uint64_t after, size_t max,
                     int (*fn)(const struct veld__audit_row *row, void *arg), void *arg);
/* The office's copy of device logs: the last seq held of a device (0 if
 * none), one entry (VELD_ENOTFOUND if not held), and a new entry. */
int veld__office_audit_last(veld_store *s, const uint8_t device[VELD_ID_BYTES], uint64_t *last);
int veld__office_audit_get(veld_store *s, const uint8_t device[VELD_ID_BYTES], uint64_t seq,
                           struct veld__audit_row *out);
int veld__office_audit_put(veld_store *s, const uint8_t device[VELD_ID_BYTES],
                           const struct veld__audit_row *row);

#endif
