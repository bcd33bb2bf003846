/* wire.h - encoding and decoding of every sync message (private).
 *
 * docs/protocol.md is the specification; this is its one implementation.
 * Decoders are strict: one msgpack map, "v" = 1 first, known keys only,
 * every type, length and count checked against the limits before use, no
 * trailing bytes. They return VELD_OK or VELD_EPROTO with a message naming
 * the offending key (never a value). A decoded message's arrays live in one
 * block (w->alloc); an op's `value` and a batch's `hashes` point into
 * `body`: keep the body alive until veld__wire_free. */
#ifndef VELD_WIRE_H
#define VELD_WIRE_H

#include "op.h"

#include <msgpack.h>

#define VELD_WIRE_VERSION 1
#define VELD_WIRE_MAX_BODY (4u * 1024u * 1024u)
#define VELD_WIRE_MAX_OPS 1000
#define VELD_WIRE_MAX_ENVS 1000
#define VELD_WIRE_MAX_PAGE 5000
#define VELD_WIRE_DEFAULT_PAGE 5000
#define VELD_WIRE_MAX_DEVICES 100000
#define VELD_WIRE_MAX_AUDIT 1000      /* access-log entries in one push */
#define VELD_WIRE_MAX_NOTICES 1000    /* notices in one pull or one request */
#define VELD_NOTICE_BODY_MAX (128u * 1024u + 32u) /* a notice's body (a schema's) */
#define VELD_NOTICE_SMALL_MAX 512     /* the body of every other kind */
#define VELD_WIRE_NOTICE_BYTES (720u * 1024u) /* notice bodies in one pull page */
#define VELD_WIRE_MAX_HEADS 10000     /* authors in one checkpoint */
#define VELD_AUDIT_SEALED_MAX 2048    /* one sealed access-log entry */
#define VELD_TEAM_SEALED_BYTES 72  /* nonce 24 + 32 + tag 16 */
#define VELD_CONTENT_TYPE "application/vnd.veld.v1+msgpack"

/* A client data key sealed for a recipient, signed by the device that
 * sealed it (`from`; auth.h, veld__envelope_sig_*). */
struct veld__envelope {
	uint8_t client[VELD_ID_BYTES];
	uint64_t kv;
	char to[VELD_TEAM_MAX + 8]; /* "office" or "team:<team>" */
	uint64_t tv;
	uint8_t sealed[VELD_SEALED_KEY_BYTES];
	uint8_t from[VELD_ID_BYTES];
	uint8_t sig[64];
};

/* A batch of one device's operations first..last with its signature; `ver`
 * is the operations' format (a version 2 batch holds only version 2
 * operations and signs "veld-batch-v2"). */
struct veld__batch {
	uint8_t device[VELD_ID_BYTES];
	uint64_t first, last;
	uint8_t sig[64];
	const uint8_t *hashes; /* 32 * (last - first + 1) bytes */
	uint64_t ver;
};

/* An operation a device may not see, shown by the layer of its hash it may
 * see (core/src/op.h): `stubs` by team, client and kh (another team's, an
 * erased client's; for a version 1 operation kh is its whole hash), `held`
 * by team, client, kind, field and rh (a client field the team's policy
 * keeps at the office). */
struct veld__stub {
	uint8_t device[VELD_ID_BYTES];
	uint64_t seq;
	char team[VELD_TEAM_MAX + 1];
	uint8_t client[VELD_ID_BYTES];
	uint8_t kh[32];
};
/* A run of the puller's own operations, seqs from..to, shown by the
 * digest of their hashes (veld__own_run_digest) instead of themselves: a
 * pull with own=1. */
struct veld__own_run {
	uint64_t from, to;
	uint8_t d[32];
};
struct veld__held {
	uint8_t device[VELD_ID_BYTES];
	uint64_t seq;
	char team[VELD_TEAM_MAX + 1];
	uint8_t client[VELD_ID_BYTES];
	char kind[VELD_KIND_MAX + 1];
	char field[VELD_FIELD_MAX + 1];
	uint8_t rh[32];
};

/* A notice: a statement of the office to a team, numbered per team from 1
 * and signed by the office (auth.h, veld__notice_sig_*): a device's
 * certificate, a revocation, an erasure, the team's field policy. `body` is
 * the kind's canonical msgpack (docs/protocol.md) and points into the
 * message's body. */
struct veld__notice {
	char team[VELD_TEAM_MAX + 1];
	uint64_t n;
	char kind[16];
	uint64_t at;
	const uint8_t *body;
	size_t body_len;
	uint8_t sig[64];
};

/* The office's dated checkpoint of a team: the last notice number and, per
 * author, the highest seq the office held without a gap. `heads` is 24
 * bytes an author (device || BE64 seq), devices in increasing order; it
 * points into the message's body. */
struct veld__checkpoint {
	char team[VELD_TEAM_MAX + 1];
	uint64_t at, n;
	const uint8_t *heads;
	size_t heads_len;
	uint8_t sig[64];
};

/* A team key version sealed to this device; `sig` is the office's over
 * the team, version and public key (auth.h). */
struct veld__team_key {
	char team[VELD_TEAM_MAX + 1];
	uint64_t tv;
	uint8_t pk[32];
	uint8_t sealed[VELD_SEALED_KEY_BYTES];
	uint8_t sig[64];
};

struct veld__device_info {
	uint8_t device[VELD_ID_BYTES];
	char team[VELD_TEAM_MAX + 1];
	char role[16];
	char label[65];
	uint8_t sign_pk[32], box_pk[32];
	uint64_t enrolled, revoked; /* ms; revoked 0 = not revoked */
	/* The invite the device enrolled with (its auth) and the proof that
	 * whoever held the code made these keys (auth.h); nil for the office. */
	int has_auth;
	uint8_t auth[32], proof[32];
};

/* ---- messages ---------------------------------------------------------- */

struct veld__push_req {
	veld__op *ops;
	size_t nops;
	int has_sig;
	uint8_t sig[64];
	struct veld__envelope *envs;
	size_t nenvs;
};

struct veld__push_resp {
	uint64_t acked, stored;
};

/* A pull page. The operation feed carries, in cursor order, operations
 * (`ops`), `stubs` and `held`; `next` is the last cursor of the three (or
 * the request's `after`). Envelopes and notices are feeds of their own. */
struct veld__pull_resp {
	uint64_t *cursors; /* one per op */
	veld__op *ops;
	size_t nops;
	uint64_t *stub_cursors;
	struct veld__stub *stubs;
	size_t nstubs;
	uint64_t *held_cursors;
	struct veld__held *held;
	size_t nheld;
	struct veld__batch *batches;
	size_t nbatches;
	uint64_t *env_cursors;
	struct veld__envelope *envs;
	size_t nenvs;
	struct veld__team_key *team_keys;
	size_t nteam_keys;
	uint64_t *notice_cursors;
	struct veld__notice *notices;
	size_t nnotices;
	uint64_t next, env_next, notice_next;
	int more;
	int has_checkpoint; /* a worker's pull: its team's latest checkpoint */
	struct veld__checkpoint checkpoint;
	uint64_t *own_cursors; /* one per run: its last operation's cursor */
	struct veld__own_run *own; /* only when asked for (own=1); not sent when empty */
	size_t nown;
};

/* One access-log entry as it travels: sealed to the office, signed by its
 * device (docs/protocol.md, POST /v1/audit). `cursor` and `device` are set
 * in a pull only; `sealed` points into the body. */
struct veld__audit_entry {
	uint64_t cursor;
	uint8_t device[VELD_ID_BYTES];
	uint64_t seq;
	const uint8_t *sealed;
	size_t sealed_len;
	uint8_t sig[64];
};

/* The plaintext of a sealed access-log entry, after unpadding: the array
 * of 9 that core/src/audit.c packs (veld__audit_pack). */
struct veld__audit_plain {
	uint64_t seq, at;
	char event[33], outcome[33];
	char client[33]; /* 32 hex digits, or "" for none */
	char user[65], role[65];
	char device[33];
	char purpose[1001];
};
int veld__wire_audit_plain_decode(const uint8_t *p, size_t len, struct veld__audit_plain *out);

/* POST /v1/audit; the answer is a struct veld__push_resp. */
struct veld__audit_push_req {
	struct veld__audit_entry *entries;
	size_t n;
};

/* GET /v1/audit. The office checks each entry with the key it certified
 * for the entry's device (it has every certificate), so the page carries
 * no keys. */
struct veld__audit_pull_resp {
	struct veld__audit_entry *entries;
	size_t n;
	uint64_t next;
	int more;
};

struct veld__enroll_req {
	uint8_t auth[32];
	uint8_t device[VELD_ID_BYTES];
	uint8_t sign_pk[32], box_pk[32];
	char label[65];
	uint8_t proof[32]; /* auth.h, veld__enroll_proof */
};

struct veld__enroll_resp {
	char role[16];
	char team[VELD_TEAM_MAX + 1];
	uint64_t tv;
	int has_team_key;
	uint8_t team_pk[32];
	uint8_t team_sealed[VELD_TEAM_SEALED_BYTES];
	int has_office;
	uint8_t office_device[VELD_ID_BYTES], office_sign_pk[32], office_box_pk[32];
};

struct veld__invite_req {
	uint8_t auth[32];
	char team[VELD_TEAM_MAX + 1];
	uint64_t expires, tv;
	uint8_t team_sealed[VELD_TEAM_SEALED_BYTES];
};

struct veld__sealed_for {
	uint8_t device[VELD_ID_BYTES];
	uint8_t sealed[VELD_SEALED_KEY_BYTES];
};

struct veld__team_keys_req {
	char team[VELD_TEAM_MAX + 1];
	uint64_t tv;
	uint8_t pk[32];
	uint8_t sig[64]; /* the office's over team, tv, pk (auth.h) */
	struct veld__sealed_for *sealed;
	size_t nsealed;
};

struct veld__revoke_req {
	uint8_t device[VELD_ID_BYTES];
};

/* POST /v1/notice (office): notices to store and act on. */
struct veld__notice_req {
	struct veld__notice *notices;
	size_t n;
};

/* POST /v1/checkpoint (office): the latest checkpoint of each team. */
struct veld__checkpoint_req {
	struct veld__checkpoint *checkpoints;
	size_t n;
};

/* The answer to POST /v1/revoke: the device's team and the highest seq the
 * server holds of it (all lower ones held too). */
struct veld__revoke_resp {
	char team[VELD_TEAM_MAX + 1];
	uint64_t acked;
};

struct veld__devices_resp {
	struct veld__device_info *devices;
	size_t ndevices;
};

struct veld__error_resp {
	char error[32];
	char message[256];
	uint64_t expected; /* for "gap"; 0 otherwise */
};

/* ---- notice bodies ---------------------------------------------------------- */
/* What a notice says, by its kind (docs/protocol.md, POST /v1/notice):
 *   "cert"   [bin16 device, bin32 sign_pk, bin32 box_pk, str role, uint enrolled]
 *   "revoke" [bin16 device, uint last_seq]
 *   "erase"  [bin16 client]
 *   "policy" [uint mask]   (core/src/policy.h: bit i = governed field i)
 *   "schema" [uint version, bin doc]  (core/src/kinds.h: the record schema) */
enum veld__notice_kind {
	VELD_NOTICE_CERT = 1, VELD_NOTICE_REVOKE, VELD_NOTICE_ERASE, VELD_NOTICE_POLICY,
	VELD_NOTICE_SCHEMA, VELD_NOTICE_MOVE
};
struct veld__notice_body {
	int kind;              /* enum veld__notice_kind */
	uint8_t id[VELD_ID_BYTES]; /* cert, revoke: the device; erase, move: the client */
	uint8_t sign_pk[32], box_pk[32]; /* cert */
	char role[16];         /* cert: "worker" */
	uint64_t enrolled;     /* cert: ms */
	uint64_t last_seq;     /* revoke: the last seq accepted from the device */
	uint32_t mask;         /* policy */
	uint64_t version;      /* schema: its version */
	const uint8_t *doc;    /* schema: its document (points into the body) */
	size_t doc_len;
	char to_team[VELD_TEAM_MAX + 1]; /* move: the team the client moved to */
};
/* The kind of a notice by name (0 if unknown), and its name. */
int veld__notice_kind_of(const char *name);
const char *veld__notice_kind_name(int kind);
/* Append a body's canonical msgpack to `out` (VELD_EINVAL for a bad one). */
int veld__wire_notice_body_encode(msgpack_sbuffer *out, const struct veld__notice_body *b);
/* Decode the body of a notice of kind `kind` (by name): exactly its array,
 * nothing after it. VELD_EPROTO otherwise. */
int veld__wire_notice_body_decode(const char *kind, const uint8_t *p, size_t len,
                                  struct veld__notice_body *out);

/* A decoded message: the struct plus the memory it points into. */
struct veld__wire {
	msgpack_unpacked u;
	void *alloc; /* arrays the decoder allocated (one block) */
};
void veld__wire_free(struct veld__wire *w);

/* The protocol's team names: 1..64 bytes of [A-Za-z0-9._@-]. */
int veld__team_valid(const char *team);

/* ---- operations ------------------------------------------------------------ */
/* Pack an op as the 12-element array (same bytes as the hash input). */
void veld__wire_pack_op(msgpack_packer *pk, const veld__op *op);

/* ---- encoders: append one message to `out` (msgpack_sbuffer_init'ed). ---- */
int veld__wire_push_req_encode(msgpack_sbuffer *out, const struct veld__push_req *m);
int veld__wire_push_resp_encode(msgpack_sbuffer *out, const struct veld__push_resp *m);
int veld__wire_pull_resp_encode(msgpack_sbuffer *out, const struct veld__pull_resp *m);
int veld__wire_enroll_req_encode(msgpack_sbuffer *out, const struct veld__enroll_req *m);
int veld__wire_enroll_resp_encode(msgpack_sbuffer *out, const struct veld__enroll_resp *m);
int veld__wire_invite_req_encode(msgpack_sbuffer *out, const struct veld__invite_req *m);
int veld__wire_team_keys_req_encode(msgpack_sbuffer *out, const struct veld__team_keys_req *m);
int veld__wire_revoke_req_encode(msgpack_sbuffer *out, const struct veld__revoke_req *m);
int veld__wire_notice_req_encode(msgpack_sbuffer *out, const struct veld__notice_req *m);
int veld__wire_checkpoint_req_encode(msgpack_sbuffer *out, const struct veld__checkpoint_req *m);
int veld__wire_revoke_resp_encode(msgpack_sbuffer *out, const struct veld__revoke_resp *m);
int veld__wire_devices_resp_encode(msgpack_sbuffer *out, const struct veld__devices_resp *m);
int veld__wire_error_encode(msgpack_sbuffer *out, const struct veld__error_resp *m);
int veld__wire_audit_push_req_encode(msgpack_sbuffer *out, const struct veld__audit_push_req *m);
int veld__wire_audit_pull_resp_encode(msgpack_sbuffer *out,
                                      const struct veld__audit_pull_resp *m);
/* {"v":1} */
int veld__wire_ok_encode(msgpack_sbuffer *out);

/* ---- decoders: body must stay alive until veld__wire_free(w). ----------- */
int veld__wire_push_req_decode(struct veld__wire *w, const uint8_t *body, size_t len,
                               struct veld__push_req *m);
int veld__wire_push_resp_decode(struct veld__wire *w, const uint8_t *body, size_t len,
                                struct veld__push_resp *m);
int veld__wire_pull_resp_decode(struct veld__wire *w, const uint8_t *body, size_t len,
                                struct veld__pull_resp *m);
int veld__wire_enroll_req_decode(struct veld__wire *w, const uint8_t *body, size_t len,
                                 struct veld__enroll_req *m);
int veld__wire_enroll_resp_decode(struct veld__wire *w, const uint8_t *body, size_t len,
                                  struct veld__enroll_resp *m);
int veld__wire_invite_req_decode(struct veld__wire *w, const uint8_t *body, size_t len,
                                 struct veld__invite_req *m);
int veld__wire_team_keys_req_decode(struct veld__wire *w, const uint8_t *body, size_t len,
                                    struct veld__team_keys_req *m);
int veld__wire_revoke_req_decode(struct veld__wire *w, const uint8_t *body, size_t len,
                                 struct veld__revoke_req *m);
int veld__wire_notice_req_decode(struct veld__wire *w, const uint8_t *body, size_t len,
                                 struct veld__notice_req *m);
int veld__wire_checkpoint_req_decode(struct veld__wire *w, const uint8_t *body, size_t len,
                                     struct veld__checkpoint_req *m);
int veld__wire_revoke_resp_decode(struct veld__wire *w, const uint8_t *body, size_t len,
                                  struct veld__revoke_resp *m);
int veld__wire_devices_resp_decode(struct veld__wire *w, const uint8_t *body, size_t len,
                                   struct veld__devices_resp *m);
int veld__wire_error_decode(struct veld__wire *w, const uint8_t *body, size_t len,
                            struct veld__error_resp *m);
int veld__wire_audit_push_req_decode(struct veld__wire *w, const uint8_t *body, size_t len,
                                     struct veld__audit_push_req *m);
int veld__wire_audit_pull_resp_decode(struct veld__wire *w, const uint8_t *body, size_t len,
                                      struct veld__audit_pull_resp *m);
/* {"v":1} */
int veld__wire_ok_decode(struct veld__wire *w, const uint8_t *body, size_t len);

#endif
