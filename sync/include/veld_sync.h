/*
 * veld_sync.h - syncing a veld store with the veld server, and the office's
 * device management.
 *
 * A store works fully offline; sync is how its operations reach the server
 * and other devices' operations reach it. docs/protocol.md is the wire
 * contract, docs/sync.md the user's view.
 *
 * Conventions are those of veld.h: every function returns VELD_OK or a
 * negative VELD_E* code with a message in veld_error_last() (the server's
 * error code and message when it refused a request; never a request body,
 * a code or a record value); strings returned through `char **` out
 * parameters are released with veld_free().
 *
 * Thread use: each call runs on the calling thread and blocks until done
 * (or cancelled). The store handle may be used by other threads meanwhile:
 * sync takes the store's mutex only for the short steps that read or write
 * the store, never across a network request. veld_sync_cancel() may be
 * called from any thread.
 *
 * Errors that matter to an app:
 *  - VELD_ENET: no answer from the server (after the retries), or it kept
 *    answering 500/503. Nothing is lost; sync again later.
 *  - VELD_EREVOKED: the office revoked this device, and the server holds all
 *    the device recorded. The app must wipe the store (close it, delete its
 *    files). A "revoked" answer while operations, key envelopes or access-log
 *    entries of this device wait to be pushed is VELD_EPERM instead: the
 *    answer is the server's word alone, and the store is kept.
 *  - VELD_EPERM: the server refused the device (unknown, bad signature,
 *    clock off by more than 5 minutes, not allowed), or this device did not
 *    trust the server: its TLS certificate was not trusted or its key did
 *    not match the pin (see "TLS trust" below).
 *  - VELD_EPROTO: the server and this store disagree about the protocol or
 *    the store's state (message says which).
 *  - VELD_ECANCELLED: veld_sync_cancel() or the progress callback.
 *  - VELD_ENOTFOUND: the store has not enrolled with a server yet.
 */
#ifndef VELD_SYNC_H
#define VELD_SYNC_H

#include "veld.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Phases reported in veld_sync_progress.phase. */
enum {
	VELD_SYNC_PHASE_PUSH = 1, /* sending this store's operations */
	VELD_SYNC_PHASE_PULL = 2  /* receiving other devices' operations */
};

/* Progress of a running sync, passed to the progress callback. Counts are
 * totals since the sync started. Fields only grow. */
typedef struct veld_sync_progress {
	uint32_t version;     /* VELD_SYNC_PROGRESS_VERSION */
	uint32_t phase;       /* VELD_SYNC_PHASE_PUSH or _PULL */
	uint64_t pushed;      /* own operations the server acknowledged */
	uint64_t push_total;  /* own operations waiting when the sync started */
	uint64_t pulled;      /* operations received */
	uint64_t applied;     /* of those, new to this store */
	uint64_t elapsed_ms;  /* since the sync started */
} veld_sync_progress;

#define VELD_SYNC_PROGRESS_VERSION 1

/* Called on the calling thread after each push and each pulled page.
 * Returning non-zero cancels the sync (VELD_ECANCELLED); what was pushed
 * or applied so far stays, and the next sync resumes from there. */
typedef int (*veld_sync_progress_cb)(const veld_sync_progress *progress, void *payload);

/* Options of the sync calls. Initialise with VELD_SYNC_OPTIONS_INIT or
 * veld_sync_options_init(); fields only grow. NULL options = defaults. */
typedef struct veld_sync_options {
	uint32_t version;      /* VELD_SYNC_OPTIONS_VERSION */
	int insecure_http;     /* allow plain http:// to a host that is not this
	                          machine (test networks only); https:// is
	                          always allowed, http:// to loopback too */
	const char *ca_file;   /* PEM file of CA certificates to trust instead
	                          of the system's; NULL = the CA the store
	                          enrolled with, or the system's (see
	                          "TLS trust" below) */
	uint32_t timeout_ms;   /* per request; 0 = default 30000 */
	uint32_t max_retries;  /* retries of a request after a network error,
	                          500 or 503; 0 = the default (5);
	                          VELD_SYNC_RETRIES_NONE = none */
	uint32_t push_batch;   /* operations per push, 1..1000; 0 = 1000 */
	uint32_t pull_page;    /* operations per pulled page, 1..5000; 0 = 5000 */
	veld_sync_progress_cb progress; /* may be NULL */
	void *payload;         /* passed to progress */
	/* Version 2: */
	uint32_t max_skew_s;   /* an operation stamped further ahead of this
	                          device's clock waits until the clock gets
	                          there; 0 = default 600 (10 minutes) */
	uint32_t checkpoint_max_age_s; /* the office's latest checkpoint of the
	                          team older than this: every sync says the
	                          server may be withholding changes; 0 = default
	                          604800 (7 days) */
	/* Version 3: TLS trust given as text (an app's bundled CA). */
	const char *ca_pem;    /* PEM text of CA certificates to trust instead of
	                          the system's; takes precedence over ca_file;
	                          NULL = none */
	const char *pinned_key; /* the server's public key must also be one of
	                          these: "sha256//BASE64" (the base64 of the
	                          SHA-256 of its DER SubjectPublicKeyInfo), up
	                          to 8 separated by ";"; NULL = no pin */
} veld_sync_options;

/* max_retries that asks for no retries at all (as uint32_t: 0xFFFFFFFF).
 * Every other field's 0 means its default, so a zeroed veld_sync_options
 * with its version set behaves as VELD_SYNC_OPTIONS_INIT. */
enum { VELD_SYNC_RETRIES_NONE = -1 };

#define VELD_SYNC_OPTIONS_VERSION 3
#define VELD_SYNC_OPTIONS_INIT \
	{VELD_SYNC_OPTIONS_VERSION, 0, NULL, 30000, 5, 1000, 5000, NULL, NULL, 600, 604800, NULL, NULL}
VELD_EXTERN void veld_sync_options_init(veld_sync_options *opts);

/* TLS trust. A device verifies the server's certificate against the
 * system's CAs, or against the CA certificates it was given, and may also
 * pin the server's public key. What veld_enroll was given (ca_pem, else the
 * contents of ca_file; pinned_key) the store keeps, and every later call
 * on the store uses it. A call's own ca_pem or ca_file replaces the kept
 * CA, and its own pinned_key the kept pin, for that call only (a server
 * whose CA changed). A certificate not trusted or a key not matching the
 * pin fails the call at once, with no retry: VELD_EPERM, the message
 * saying which. Both apply to https:// only. */

/* ---- a device ---------------------------------------------------------- */

/* Enroll this store with the server at `url` (https://host[:port]) using
 * the one-time enrollment code from the office (or the server's setup code
 * for the office store). `label` names the device for people (at most 64
 * bytes; NULL = none). On success the store remembers the server, and
 * *json_out (if json_out is not NULL) gets {"role","team","device"}.
 * The store also keeps the TLS trust `opts` gives (see "TLS trust").
 * VELD_EEXISTS if the store already enrolled; VELD_EINVAL for a malformed
 * code, a URL the transport rules refuse, a CA file that cannot be read,
 * holds no PEM certificate or is larger than 256 KiB, or a malformed pin; VELD_EPERM (server
 * "bad_code") for an unknown, used or expired code. */
VELD_EXTERN VELD_WARN_UNUSED int veld_enroll(veld_store *s, const char *url, const char *code,
	const char *label, const veld_sync_options *opts, char **json_out);

/* Sync with the server the store enrolled with: push this store's
 * unacknowledged operations (and key envelopes) in batches, then pull
 * pages until the server has no more. Each page is applied and its cursor
 * saved in one transaction, so an interrupted sync resumes without loss or
 * duplicates. *json_out (if not NULL) gets
 * {"pushed","pulled","applied","conflicts","duration_ms"}, conflicts being
 * the fields in conflict in the store afterwards. */
VELD_EXTERN VELD_WARN_UNUSED int veld_sync(veld_store *s, const veld_sync_options *opts,
	char **json_out);

/* Ask a running veld_sync, veld_enroll or office call on `s` to stop, from
 * any thread. It stops at the next check (between requests, or within about
 * a second during a transfer) with VELD_ECANCELLED. No effect if no call is
 * running on `s`. */
VELD_EXTERN void veld_sync_cancel(veld_store *s);

/* ---- the office ------------------------------------------------------------
 * These need an office store (enrolled with the server's setup code);
 * VELD_EPERM otherwise. */

/* Make a single-use enrollment code for a new device of `team`, valid for
 * ttl_seconds (0 = 72 hours; at most 7 days). The first invite of a team
 * also makes and publishes the team's key. *code_out gets the code as
 * people type it ("K7QX-2MNB-..."); hand it to the worker out of band. */
VELD_EXTERN VELD_WARN_UNUSED int veld_office_invite(veld_store *s, const char *team,
	uint32_t ttl_seconds, const veld_sync_options *opts, char **code_out);

/* Set which identifying client fields reach `team`'s devices (DESIGN.md:
 * a per-team policy). `fields` lists, separated by commas, the governed
 * fields that do: any of initials, birth_date, address, phone, care_status,
 * care_decision, housing ("" for none of them). The name and the contact
 * person always do; the default, until the office sets a policy, is
 * "address,phone". The office signs the policy and the server keeps it;
 * from then on the server sends the team's devices no other governed
 * field, and each device removes the ones it holds at its next sync and
 * refuses to record them (VELD_EPERM). A field let through again reaches
 * the devices at their next sync. VELD_EINVAL names an unknown field. */
VELD_EXTERN VELD_WARN_UNUSED int veld_office_field_policy(veld_store *s, const char *team,
	const char *fields, const veld_sync_options *opts);

/* Publish a new version of the record schema (docs/data-model.md, "The
 * record schema"): `doc_json` is the whole document. It must follow the
 * version in force (a higher version that keeps every kind, field, type,
 * option and list entry; VELD_EINVAL says which change it refuses, or what
 * is wrong with the document). It is in force in the office's store at
 * once, and the office signs it to every team; devices take it at their
 * next sync (a notice), and teams that come later get it with their first
 * device. Published now if the server answers, else at the next sync. */
VELD_EXTERN VELD_WARN_UNUSED int veld_office_schema_set(veld_store *s, const char *doc_json,
	const veld_sync_options *opts);

/* Move a client to another team (docs/sync.md, "Moving a client"). The
 * office syncs first, so it holds all of the client; then, in one local
 * transaction, it makes a new client in `team` (a new id and a new data
 * key, sealed for that team and the office only), copies the current value
 * of every field of every record into new records (references between
 * them remapped; of a conflict, the winner), keeps the map old record ->
 * new record, and signs a `move` notice to the client's old team. It
 * pushes the new client and publishes the notice. The old team's devices
 * remove the client at their next sync; what they wrote before they heard
 * of it still reaches the server, which keeps it for the office only, and
 * every office sync forwards it to the new client. `client_id` is an id or
 * unique prefix; `team` a team the office knows (it holds its key), not the
 * client's own. VELD_ESHREDDED for an erased client, VELD_EEXISTS for one
 * moved already (veld office sync finishes a move the server did not take
 * whole). On success *json_out (free with veld_free) is the move's status
 * as veld_office_client_move_status gives it. */
VELD_EXTERN VELD_WARN_UNUSED int veld_office_client_move(veld_store *office,
	const char *client_id, const char *team, const veld_sync_options *opts, char **json_out);

/* A move's status, from the office's store (no network): {"client",
 * "new_client", "from", "to", "at", "holding": [device...], "confirmed":
 * [device...]}: the old team's certified devices (not revoked) whose access
 * log, as the office received it, does not yet / does hold their entry of
 * the removal (event "erase", purpose "moved to another team"). A device
 * still listed under "holding" may hold the old client. VELD_ENOTFOUND if
 * the client did not move. *json_out: free with veld_free. */
VELD_EXTERN VELD_WARN_UNUSED int veld_office_client_move_status(veld_store *office,
	const char *client_id, char **json_out);

/* Erase a client everywhere (AVG art. 17): the office pushes what it has,
 * the server deletes every operation and key envelope of the client and
 * tells every device of the client's team at its next sync to erase it, and
 * this store erases it (veld_client_erase). `client_id` is an id or unique
 * prefix, or the full id of a client erased here already (finishing an
 * erasure the server did not confirm). Irreversible. */
VELD_EXTERN VELD_WARN_UNUSED int veld_office_erase(veld_store *s, const char *client_id,
	const char *purpose, const veld_sync_options *opts);

/* Revoke a device (32 hex digits): the server refuses it from then on and
 * tells it to wipe. Then the device's team key is rotated, sealed to the
 * team's remaining devices, and the team's client keys get new versions,
 * which a sync pushes (this call runs that sync). */
VELD_EXTERN VELD_WARN_UNUSED int veld_office_revoke(veld_store *s, const char *device_hex,
	const veld_sync_options *opts);

/* Certify a device enrolled before certificates existed (veld 0.1). The
 * office pinned only its signing key then; its box key (to which the team's
 * keys are sealed) and its team are the server's word, so a person confirms
 * them: with `team` and `fingerprint` NULL, json_out gets {"device","team",
 * "fingerprint","certified":false}: the team and the fingerprint of the
 * keys the server lists, to compare with what the device shows
 * (veld_device_fingerprint, `veld fingerprint`). With both given, they must
 * be the team the server lists and the fingerprint of the keys it lists
 * (else VELD_EPROTO: the server may have replaced the keys; nothing is
 * certified), and the device is certified by a sync this call runs
 * ("certified":true). A device that enrolled with an invite is certified by
 * the office's sync itself (VELD_EINVAL here); VELD_EEXISTS if certified
 * already; VELD_EPROTO if the server lists another signing key than the
 * one pinned, or the office never pinned one. */
VELD_EXTERN VELD_WARN_UNUSED int veld_office_certify(veld_store *s, const char *device_hex,
	const char *team, const char *fingerprint, const veld_sync_options *opts, char **json_out);

/* This device's fingerprint, {"device","fingerprint"}: 32 hex digits in
 * groups of four, a hash of the device's id and public keys, for a person to
 * compare with what the office sees (veld_office_certify). */
VELD_EXTERN VELD_WARN_UNUSED int veld_device_fingerprint(veld_store *s, char **json_out);

/* The enrolled devices as a JSON array of {"device" (hex),"team","role",
 * "label","enrolled" (ISO 8601),"revoked" (ISO 8601 or null)}. */
VELD_EXTERN VELD_WARN_UNUSED int veld_office_devices(veld_store *s, const veld_sync_options *opts,
	char **json_out);

#ifdef __cplusplus
}
#endif
#endif /* VELD_SYNC_H */
