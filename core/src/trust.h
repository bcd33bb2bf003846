/* trust.h - what a store trusts, and what it holds back (private).
 *
 * A device trusts no server (docs/security.md, "A malicious server"): the
 * keys, authors, cursors and clocks it accepts are proven by the office or by
 * their author. This module keeps the state those proofs leave in the store;
 * sync/src/apply.c decides with it, sync/src/officekeys.c fills it for the
 * office:
 *
 *   certs        the office's certificate of each device (its keys, team,
 *                role), and, once revoked, the last seq accepted from it
 *   notices      every notice of the office this store applied or (the
 *                office) issued, numbered per team
 *   authors      how far each author's operations arrived here without a gap
 *   pending_*    operations and key envelopes that arrived but wait: for
 *                their author's certificate, the key of their value, the
 *                clock, or the record that makes an envelope's author its
 *                creator
 *   quarantine   what failed the writer's checks, with its author, kept out of
 *                the store's state
 *   checkpoints  the office's latest dated checkpoint of the team
 *   invites      (the office) the invites it made, to certify who used them
 *
 * Every function runs inside a step or a public call (the store's mutex
 * held) and returns VELD_OK or a negative VELD_E* code with a message;
 * "not there" is VELD_ENOTFOUND without a message. */
#ifndef VELD_TRUST_H
#define VELD_TRUST_H

#include "store.h"
#include "op.h"

#include <jansson.h>

/* ---- certificates ---------------------------------------------------------- */
struct veld__cert {
	uint8_t device[VELD_ID_BYTES];
	char team[VELD_TEAM_MAX + 1];
	char role[16];
	uint8_t sign_pk[32], box_pk[32];
	uint64_t enrolled;    /* ms, the server's enrollment time as certified */
	int revoked;          /* a revocation notice arrived */
	uint64_t revoked_seq; /* then: the last seq accepted from the device */
};
int veld__cert_put(veld_store *s, const struct veld__cert *c);
int veld__cert_get(veld_store *s, const uint8_t device[VELD_ID_BYTES], struct veld__cert *out);
/* The device is revoked: what it signs above last_seq is refused. What of
 * that this store merged already (before the revocation reached it) is
 * taken out of the state into the quarantine; *removed (may be NULL) gets
 * how many operations went. Then the operations kept aside because they
 * contradicted what was held leave the quarantine: what they contradicted
 * may have been those, and the caller pulls the feed again from the start
 * (those that still contradict are kept aside again). */
int veld__cert_revoke(veld_store *s, const uint8_t device[VELD_ID_BYTES], uint64_t last_seq,
                      size_t *removed);
/* The quarantine's reason for a signed operation that contradicts what the
 * store holds (a record's kind, client or team; another operation of its
 * seq). */
#define VELD_CONTRADICTS_REASON "contradicts what is held here (a record's kind, client or" \
                                " team, or another operation of that seq)"
/* The quarantine's reason for an operation of a revoked device above its
 * last accepted seq. */
#define VELD_REVOKED_REASON "written by a revoked device after its revocation"
/* Every certificate of a team (team NULL: all), for the office's
 * checkpoint: fn per certificate, a non-zero return stops and is returned. */
int veld__certs_each(veld_store *s, const char *team,
                     int (*fn)(const struct veld__cert *c, void *arg), void *arg);

/* ---- notices ------------------------------------------------------------------ */
struct veld__notice_row {
	char team[VELD_TEAM_MAX + 1];
	uint64_t n, at;
	char kind[16];
	const uint8_t *body; /* valid until the next call on the store */
	size_t body_len;
	uint8_t sig[64];
};
int veld__notice_put(veld_store *s, const struct veld__notice_row *r);
/* The highest n held for a team (0 if none). */
int veld__notice_last(veld_store *s, const char *team, uint64_t *n);
/* Every notice held, in team and n order: fn per notice (the office sends
 * them again to a server that lost them). */
int veld__notices_each(veld_store *s, int (*fn)(const struct veld__notice_row *r, void *arg),
                       void *arg);

/* ---- authors ------------------------------------------------------------------- */
/* The highest seq of `device` that arrived here with every lower one (0 if
 * none). */
int veld__author_seen(veld_store *s, const uint8_t device[VELD_ID_BYTES], uint64_t *seen);
int veld__author_set(veld_store *s, const uint8_t device[VELD_ID_BYTES], uint64_t seen);
/* Did `device` write an operation on the client record `client` with an
 * empty supersedes list (it created the record), held or waiting? 1, 0, or
 * a negative code. */
int veld__client_creator(veld_store *s, const uint8_t client[VELD_ID_BYTES],
                         const uint8_t device[VELD_ID_BYTES]);

/* ---- what waits ------------------------------------------------------------------ */
/* What an item of the operation feed or a key envelope waits for. */
enum veld__wait {
	VELD_WAIT_CERT = 1,    /* its author's certificate (nothing of it is verified yet) */
	VELD_WAIT_TIME = 2,    /* this device's clock to reach its stamp */
	VELD_WAIT_KEY = 3,     /* the key of its value */
	VELD_WAIT_CREATOR = 4, /* (an envelope) its author seen creating the client */
	VELD_WAIT_TEAMKEY = 5, /* (an envelope) the team key version it is sealed to */
	VELD_WAIT_GAP = 6,     /* its certified author's earlier seqs, which did not come */
	VELD_WAIT_SCHEMA = 7,  /* a record schema naming its kind, field, option or code */
};
/* An item of the operation feed: an operation, or what a stub or held item
 * shows of one (op: device, seq, version of its batch, team, client, and
 * for a held item kind and field; hash: the operation's, computed from
 * what is shown). */
enum veld__item_what { VELD_ITEM_OP = 0, VELD_ITEM_STUB = 1, VELD_ITEM_HELD = 2 };
struct veld__feed_item {
	enum veld__item_what what;
	veld__op op;
	uint8_t layer[VELD_HASH_BYTES]; /* a stub's kh, a held item's rh */
};
/* An operation that arrived, checked against its author's signed batch as
 * far as this store could, held back until `wait`. */
int veld__pending_op_put(veld_store *s, const veld__op *op, enum veld__wait wait);
/* Any item, kept as it came (an author not certified yet: VELD_WAIT_CERT).
 * Items are keyed by (device, seq, hash): several may wait for one seq. */
int veld__pending_item_put(veld_store *s, const struct veld__feed_item *it, enum veld__wait wait);
/* Each waiting operation whose time has come (stamp at most `hlc_max`),
 * or (`keys` & 1) whose key is here, or (`keys` & 2: a new record schema
 * came) that waits for a schema; fn gets it (valid during the call) and what
 * it waited for; fn returning non-zero stops the walk with that code. What
 * still waits is not read: a page costs what is ready, not what waits. */
int veld__pending_ops_ready(veld_store *s, uint64_t hlc_max, int keys,
                            int (*fn)(const veld__op *op, enum veld__wait wait, void *arg),
                            void *arg);
int veld__pending_op_drop(veld_store *s, const veld__op *op);
/* Authors whose items wait for a certificate they have now. */
int veld__held_authors(veld_store *s, int (*fn)(const uint8_t device[VELD_ID_BYTES], void *arg),
                       void *arg);
/* Up to `limit` items of `device` that wait for its certificate or its
 * earlier seqs, above `after`, in seq order. */
int veld__held_items(veld_store *s, const uint8_t device[VELD_ID_BYTES], uint64_t after,
                     unsigned limit, int (*fn)(const struct veld__feed_item *it, void *arg),
                     void *arg);
/* Forget those items of `device` up to seq `upto`; mark the rest as
 * waiting for the earlier seqs (gap: its author is certified now). */
int veld__held_drop(veld_store *s, const uint8_t device[VELD_ID_BYTES], uint64_t upto);
int veld__held_gap(veld_store *s, const uint8_t device[VELD_ID_BYTES]);
/* How many items of `device` wait for its certificate or earlier seqs;
 * whether any waits for earlier seqs. */
int veld__held_count(veld_store *s, const uint8_t device[VELD_ID_BYTES], uint64_t *n,
                     int *gaps);

/* A key envelope that waits. */
struct veld__pending_env {
	uint8_t client[VELD_ID_BYTES];
	uint64_t kv;
	char to[VELD_TEAM_MAX + 8];
	uint64_t tv;
	uint8_t sealed[VELD_SEALED_KEY_BYTES];
	uint8_t author[VELD_ID_BYTES];
	uint8_t sig[64];
};
int veld__pending_env_put(veld_store *s, const struct veld__pending_env *e,
                          enum veld__wait wait);
/* Each waiting envelope that may go on now: its author certified, the team
 * key version it is sealed to here, or waiting for its author to be seen
 * creating the client. */
int veld__pending_envs_ready(veld_store *s, int (*fn)(const struct veld__pending_env *e,
                                                       void *arg), void *arg);
int veld__pending_env_drop(veld_store *s, const struct veld__pending_env *e);
/* How many operations and envelopes wait. */
int veld__pending_count(veld_store *s, uint64_t *ops, uint64_t *envs);

/* ---- quarantine ------------------------------------------------------------------- */
/* Keep aside an operation (what "operation") or a key envelope ("envelope")
 * of `device` that failed a check; `reason` names the check, never a
 * value. An operation is kept once, an envelope once per author, client,
 * key version and reason. */
int veld__quarantine_op(veld_store *s, const veld__op *op, const char *reason);
int veld__quarantine_env(veld_store *s, const uint8_t author[VELD_ID_BYTES],
                         const uint8_t client[VELD_ID_BYTES], uint64_t kv, const char *reason);
int veld__quarantine_count(veld_store *s, uint64_t *n);
/* The quarantine as a JSON array, newest first, at most `limit` (0: all):
 * {"what","device","seq","client","kv","kind","field","reason","at"}. */
int veld__quarantine_list(veld_store *s, size_t limit, json_t **out);

/* ---- the team's checkpoint ---------------------------------------------------------- */
/* The age beyond which the office's word on a device counts as stale (7
 * days, TUF's timestamp idea): a sync may set its own (veld_sync.h). */
#define VELD_CHECKPOINT_MAX_AGE_MS (7ull * 24 * 3600 * 1000)

struct veld__checkpoint_row {
	char team[VELD_TEAM_MAX + 1];
	uint64_t at, n;
	const uint8_t *heads; /* canonical msgpack of the heads array */
	size_t heads_len;
	uint8_t sig[64];
};
int veld__checkpoint_put(veld_store *s, const struct veld__checkpoint_row *c);
/* The held checkpoint of a team: VELD_ENOTFOUND if none. heads is copied
 * into buf (cap bytes). */
int veld__checkpoint_get(veld_store *s, const char *team, struct veld__checkpoint_row *out,
                         uint8_t *buf, size_t cap);

/* The date of the held checkpoint of a team: VELD_ENOTFOUND if none. */
int veld__checkpoint_date(veld_store *s, const char *team, uint64_t *at);

/* ---- the office's invites --------------------------------------------------------------- */
/* Keep an invite: the proof key is wrapped under the master key. */
int veld__invite_put(veld_store *s, const uint8_t auth[32], const char *team,
                     const uint8_t proof_key[32], uint64_t expires);
/* The team and proof key of the invite with this auth: VELD_ENOTFOUND if
 * this office never made it. */
int veld__invite_get(veld_store *s, const uint8_t auth[32], char team[VELD_TEAM_MAX + 1],
                     uint8_t proof_key[32]);

/* Every team this store knows (from certificates, team keys, notices). */
int veld__teams_each(veld_store *s, int (*fn)(const char *team, void *arg), void *arg);

#endif
