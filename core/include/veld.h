/*
 * veld.h - the public API of veld's encrypted device store.
 *
 * One header is the whole store API.
 *
 * Conventions (see docs/architecture.md):
 *  - Every function returns an int: VELD_OK (0) or a negative VELD_E* code.
 *    Codes are never renumbered. A human-readable message for the last
 *    failure on the calling thread is in veld_error_last(); it never holds
 *    personal data.
 *  - Handles are opaque. A constructor takes the handle's address as its
 *    first argument (`veld_store **out`); the caller owns the result and
 *    releases it with the matching free function, which accepts NULL.
 *  - Strings are UTF-8, NUL-terminated. Records travel as JSON documents
 *    (schema in docs/data-model.md); every string the library returns is
 *    released with veld_free().
 *  - A failed call changes nothing: each write runs in one transaction.
 *  - Thread use: one veld_store may be used from several threads; calls on
 *    one handle are serialised by an internal mutex.
 */
#ifndef VELD_H
#define VELD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#  define VELD_EXTERN __declspec(dllexport)
#elif defined(__GNUC__)
#  define VELD_EXTERN __attribute__((visibility("default")))
#else
#  define VELD_EXTERN
#endif

#if defined(__GNUC__)
#  define VELD_WARN_UNUSED __attribute__((warn_unused_result))
#else
#  define VELD_WARN_UNUSED
#endif

/* Library version; same major = ABI compatible. */
#define VELD_VERSION_MAJOR 0
#define VELD_VERSION_MINOR 2
#define VELD_VERSION_PATCH 0
/* The same as a function, for bindings that cannot see macros. */
VELD_EXTERN uint32_t veld_version(void); /* (major << 16) | (minor << 8) | patch */

/* ---- Error codes (stable; never renumbered) ----------------------------
 * In veld_errors.h, which veld_bridge.h includes too, so the two headers
 * may be included in either order. */
#include "veld_errors.h"

/* Initialise the library (libsodium). Idempotent and thread-safe; every
 * constructor calls it, so calling it yourself is optional. */
VELD_EXTERN int veld_init(void);

/* Message of the last failure on this thread, or "" if none. The pointer
 * stays valid until the next veld call on this thread. */
VELD_EXTERN const char *veld_error_last(void);
/* Code of the last failure on this thread (VELD_OK if none). */
VELD_EXTERN int veld_error_code_last(void);
/* A fixed description of a code ("wrong passphrase or key"). */
VELD_EXTERN const char *veld_strerror(int code);

/* Release a string or buffer returned by veld. NULL is a no-op. */
VELD_EXTERN void veld_free(void *p);

/* ---- The store -------------------------------------------------------- */
typedef struct veld_store veld_store;

/* Options for creating/opening a store. Initialise with
 * VELD_STORE_OPTIONS_INIT or veld_store_options_init(); fields only grow. */
typedef struct veld_store_options {
	uint32_t version;        /* VELD_STORE_OPTIONS_VERSION */
	const char *user;        /* who acts (worker id), for the access log */
	const char *role;        /* the user's role, for the access log only: what
	                            a store may read is fixed when it is made
	                            (veld_office_create) */
	uint64_t kdf_opslimit;   /* Argon2id passes; 0 = default (3) */
	uint64_t kdf_memlimit;   /* Argon2id bytes; 0 = default (64 MiB) */
	const char *team;        /* team of a new store; NULL = "default" */
} veld_store_options;

#define VELD_STORE_OPTIONS_VERSION 1
#define VELD_STORE_OPTIONS_INIT {VELD_STORE_OPTIONS_VERSION, NULL, NULL, 0, 0, NULL}
/* Fill *opts with the defaults (VELD_STORE_OPTIONS_INIT); NULL is a no-op. */
VELD_EXTERN void veld_store_options_init(veld_store_options *opts);

/* Floors the store enforces (never below 19 MiB / 2 passes). */
#define VELD_KDF_OPSLIMIT_MIN 2
#define VELD_KDF_MEMLIMIT_MIN (19u * 1024u * 1024u)
#define VELD_KEY_BYTES 32

/* Create a new store in directory `dir` (created if missing; must not hold
 * a store yet), protected by a passphrase. */
VELD_EXTERN VELD_WARN_UNUSED int veld_store_create(veld_store **out, const char *dir,
	const char *passphrase, size_t passphrase_len, const veld_store_options *opts);
/* Open an existing store. VELD_EAUTH on a wrong passphrase. */
VELD_EXTERN VELD_WARN_UNUSED int veld_store_open(veld_store **out, const char *dir,
	const char *passphrase, size_t passphrase_len, const veld_store_options *opts);
/* The same with a raw 32-byte key from a platform keystore instead of a
 * passphrase (no Argon2id). */
VELD_EXTERN VELD_WARN_UNUSED int veld_store_create_with_key(veld_store **out, const char *dir,
	const uint8_t key[VELD_KEY_BYTES], const veld_store_options *opts);
VELD_EXTERN VELD_WARN_UNUSED int veld_store_open_with_key(veld_store **out, const char *dir,
	const uint8_t key[VELD_KEY_BYTES], const veld_store_options *opts);

/* Create the office's store: like veld_store_create, but the store reads
 * and writes every team's clients, manages team keys, invites and revokes
 * devices (veld_sync.h), and sets the retention policy. */
VELD_EXTERN VELD_WARN_UNUSED int veld_office_create(veld_store **out, const char *dir,
	const char *passphrase, size_t passphrase_len, const veld_store_options *opts);

/* Re-wrap the master key under a new passphrase. Only the wrapped key
 * changes; records are untouched. */
VELD_EXTERN VELD_WARN_UNUSED int veld_store_change_passphrase(veld_store *s,
	const char *old_pass, size_t old_len, const char *new_pass, size_t new_len);

/* Wipe every key from memory. Later calls fail with VELD_ELOCKED until
 * veld_store_unlock succeeds. Unlock on an unlocked store still checks the
 * secret (VELD_EAUTH if wrong) and changes nothing. */
VELD_EXTERN int veld_store_lock(veld_store *s);
VELD_EXTERN VELD_WARN_UNUSED int veld_store_unlock(veld_store *s,
	const char *passphrase, size_t passphrase_len);
VELD_EXTERN VELD_WARN_UNUSED int veld_store_unlock_with_key(veld_store *s,
	const uint8_t key[VELD_KEY_BYTES]);

/* Close the store and wipe its keys. NULL is a no-op. */
VELD_EXTERN void veld_store_free(veld_store *s);

/* Set who acts for the access log (user id and role). */
VELD_EXTERN int veld_store_set_actor(veld_store *s, const char *user, const char *role);

/* Describe the store as JSON: {"device":hex,"team":...,"schema":n,
 * "ops":n,"clients":n,...}. No personal data. */
VELD_EXTERN int veld_store_info(veld_store *s, char **json_out);

/* Group several writes into one transaction (bulk work). The transaction
 * belongs to the thread that began it: calls on the store from other threads
 * (a sync, another screen) wait until it is committed or rolled back, so
 * nothing of theirs lands in it or is rolled back with it; veld_store_lock
 * does not wait, it rolls the transaction back. A second veld_store_begin on
 * the same thread fails with VELD_EINVAL. A failed write inside a
 * transaction rolls back only itself and leaves the transaction open; the
 * caller decides to commit the rest or roll back. A failed commit rolls the
 * whole transaction back. */
VELD_EXTERN VELD_WARN_UNUSED int veld_store_begin(veld_store *s);
/* A failed commit has rolled everything back: the writes are lost. */
VELD_EXTERN VELD_WARN_UNUSED int veld_store_commit(veld_store *s);
VELD_EXTERN VELD_WARN_UNUSED int veld_store_rollback(veld_store *s);

/* Check the SQLite file, the access-log chain, every operation hash, that
 * this device's signatures cover all its operations, the merge state, and
 * that every sealed value opens. Writes a JSON report; VELD_ECORRUPT if
 * anything fails. */
VELD_EXTERN int veld_store_verify(veld_store *s, char **json_out);

/* ---- Records -----------------------------------------------------------
 * Kinds and fields come from the record schema in force (built in:
 * "beschermd-thuis", the office may publish a newer version); they are
 * listed in docs/data-model.md and by veld_schema_json().
 *
 * `purpose` is recorded in the access log (NEN 7513); NULL means "care".
 */

/* The record schema in force and the store's life-domain reference data
 * (ZRM versions), as JSON: {"format","name","version","kinds":{kind:
 * {"append_only":bool,"fields":{name:{"type","required",...}}}},"lists":
 * {name:[{"code","label"?,...}]},"domains":{version:[{"code","label"}...]}}
 * (docs/data-model.md, "The record schema"). */
VELD_EXTERN int veld_schema_json(veld_store *s, char **json_out);

/* Create a record from a JSON object of fields. Writes the created record
 * (with its new "id") to *json_out if json_out is not NULL. */
VELD_EXTERN VELD_WARN_UNUSED int veld_record_create(veld_store *s, const char *kind,
	const char *fields_json, const char *purpose, char **json_out);

/* Change fields of a record (JSON object; null removes a field). Notes are
 * append-only: VELD_EPERM; amend them with a new note {"amends": id}. */
VELD_EXTERN VELD_WARN_UNUSED int veld_record_update(veld_store *s, const char *kind,
	const char *id, const char *fields_json, const char *purpose, char **json_out);

/* Read one record. `id` may be a unique prefix of at least 4 hex digits. */
VELD_EXTERN VELD_WARN_UNUSED int veld_record_get(veld_store *s, const char *kind,
	const char *id, const char *purpose, char **json_out);

/* List records of a kind as a JSON array. `filter_json` may be NULL or an
 * object: {"client": id} restricts to one client, {"status": "open"} and
 * {"query": "text"} (a case-insensitive search in decrypted text fields,
 * logged as a search) filter further. */
VELD_EXTERN VELD_WARN_UNUSED int veld_record_list(veld_store *s, const char *kind,
	const char *filter_json, const char *purpose, char **json_out);

/* Delete a record with a tombstone operation (notes cannot be deleted). */
VELD_EXTERN VELD_WARN_UNUSED int veld_record_delete(veld_store *s, const char *kind,
	const char *id, const char *purpose);

/* A client's ZRM scores over time (for a chart), from the visits that have
 * scores. A visit's scores count at its "started" time, else "planned",
 * else when it was recorded ("created"); "at" is that time as the visit
 * holds it, and visits are ordered by it (a tie by visit id):
 * {"client": the full id, "zrm_version", "visits": [{"visit","at",
 *   "zrm_version"}...] oldest first, "domains": [{"code","label",
 *   "first": {"score","at","visit"}, "latest": {...}, "change": latest
 *   score - first score, "series": [{"at","score","visit"}...] oldest
 *   first}...]}.
 * Only domains scored at least once are listed, in the order of
 * "zrm_version" (the latest scored visit's version; "2017" without one).
 * `client_id` may be a unique prefix: VELD_ENOTFOUND for no such client,
 * VELD_EINVAL for a malformed or ambiguous id. The visits are read as
 * veld_record_list reads them, with the same access rules and access-log
 * entries. */
VELD_EXTERN VELD_WARN_UNUSED int veld_client_progress(veld_store *s, const char *client_id,
	const char *purpose, char **json_out);

/* ---- Conflicts ---------------------------------------------------------
 * A field edited concurrently on two devices keeps both values until a
 * person resolves it. The list is a JSON array of
 * {"type","id","client","field","winner":{...},"values":[{"value",
 *   "device","seq","at"}...]}; values are ordered winner first. */
VELD_EXTERN VELD_WARN_UNUSED int veld_conflicts_list(veld_store *s, const char *purpose,
	char **json_out);
/* Resolve by writing `value_json` (any JSON value valid for the field),
 * superseding every current value of the field. */
VELD_EXTERN VELD_WARN_UNUSED int veld_conflict_resolve(veld_store *s, const char *kind,
	const char *id, const char *field, const char *value_json, const char *purpose);

/* ---- Access log (NEN 7513) ---------------------------------------------
 * Every read, search, export and change is logged, refused attempts too: an
 * append-only log chained with a keyed hash, whose head is kept with a MAC
 * (see docs/security.md). veld_audit_list gives this store's log as a JSON
 * array, oldest first, of {"device","seq","at","event","outcome","client",
 * "user","role","purpose"}; filter_json (may be NULL): {"client": id or
 * prefix, "limit": n (the newest n)}. */
VELD_EXTERN VELD_WARN_UNUSED int veld_audit_list(veld_store *s, const char *filter_json,
	char **json_out);
/* VELD_OK if the chain and head signature are intact, else VELD_ECORRUPT
 * with the first bad entry in the message. */
VELD_EXTERN VELD_WARN_UNUSED int veld_audit_verify(veld_store *s, uint64_t *entries_out);
/* Office only: the access logs of every device, as sync brought them
 * (each entry checked against its device's signature on arrival). A JSON
 * array, oldest first, of {"device","seq","at","event","outcome","client",
 * "user","role","purpose"}. filter_json (may be NULL): {"client": id or
 * prefix, "device": id or prefix, "limit": n (the newest n)}. A worker's
 * store gets VELD_EINVAL. */
VELD_EXTERN VELD_WARN_UNUSED int veld_office_log(veld_store *s, const char *filter_json,
	char **json_out);

/* ---- A client's request for access (AVG art. 15) ------------------------ */
/* Everything this store holds about one client, readable, as one JSON
 * document: {"client": record, "records": {"visit": [...], "note": [...],
 * "goal": [...], "signal": [...]}, "access_log": [entries about the client,
 * oldest first: this store's own and, in the office's store, every
 * device's], "exported_at", "exported_by": {"user","role","device"}}. The
 * same access rules as reading the client apply; logged as "export". */
VELD_EXTERN VELD_WARN_UNUSED int veld_client_export(veld_store *s, const char *client_id,
	const char *purpose, char **json_out);

/* ---- Quarantine -------------------------------------------------------- */

/* What sync kept aside on this store instead of taking it in (docs/security.md,
 * "Quarantine, not poison"): operations and key envelopes another device
 * signed that fail a check its writer should have made (a value out of
 * range, bad padding, an envelope that does not open, a second key for a
 * version held, a revoked device writing after its revocation). None of it
 * is in the store's state. A JSON array, newest first, of {"what":
 * "operation"|"envelope", "device": the author's id, "seq", "client",
 * "kv", "kind", "field", "reason", "at"} (null where it does not apply;
 * never a value). In the office's store it names the devices the office
 * may want to revoke. */
VELD_EXTERN VELD_WARN_UNUSED int veld_quarantine_list(veld_store *s, char **json_out);

/* ---- Field policy ------------------------------------------------------ */

/* A team's field policy as this store holds it (team NULL: this store's
 * own team): {"team", "set": ISO time the office set it, or null for the
 * default, "fields": the governed client fields that reach the team's
 * devices, "office_only": those that stay at the office, "always": the
 * fields no policy holds back, "applies": whether this store follows it
 * (an enrolled worker device)}. See veld_office_field_policy. */
VELD_EXTERN VELD_WARN_UNUSED int veld_field_policy_get(veld_store *s, const char *team,
	char **json_out);

/* ---- Erasure and retention --------------------------------------------- */
/* Erase a client from this store: destroy its data key (crypto-shredding)
 * and remove its records. Irreversible. */
VELD_EXTERN VELD_WARN_UNUSED int veld_client_erase(veld_store *s, const char *client_id,
	const char *purpose);

/* Retention policy per record kind as a JSON array of
 * {"kind","days","basis"}: records are kept `days` after the client's case
 * ended (days 0: removed from this store as soon as the case is not active).
 * Only an office store may change the policy (VELD_EPERM otherwise). */
VELD_EXTERN VELD_WARN_UNUSED int veld_retention_get(veld_store *s, char **json_out);
VELD_EXTERN VELD_WARN_UNUSED int veld_retention_set(veld_store *s, const char *kind,
	int64_t days, const char *basis);
/* Apply the policy as of `now_unix` (0 = now). dry_run reports without
 * removing. Writes a JSON report of what was (or would be) removed. */
VELD_EXTERN VELD_WARN_UNUSED int veld_retention_purge(veld_store *s, int64_t now_unix,
	int dry_run, char **json_out);

/* ---- What is due -------------------------------------------------------
 * What a worker has to do for their clients, derived from the records at
 * the time asked and never stored (docs/data-model.md#what-is-due has the
 * rules): planned visits, goal and Woonkompas reviews, escalation steps and
 * agreed actions, standing decisions ending within 90 days, tenancies moving
 * to the client's own name, time-outs open longer than agreed, clients not
 * seen for 30 days, open signals without a follow-up.
 *
 * input_json (may be NULL) is an object: {"days": n (0..366, default 14:
 * the window is today .. today + n), "today": "YYYY-MM-DD" (default today in
 * UTC), "all": bool (default false: only the clients whose contact_person
 * is the acting user; true: every client the store shows), "team": id (only
 * that team's clients; a worker's store refuses another team with
 * VELD_EPERM), "by_worker": bool (also group the items by the clients'
 * contact person)}. Unknown keys are VELD_EINVAL.
 *
 * *json_out: {"today", "days", "clients": how many clients it looked at,
 * "items": [{"client", "kind" (the rule), "record", "type" (the record's
 * kind), "due": "YYYY-MM-DD", "overdue": bool, "days": due minus today}]
 * sorted by due date, then client; with by_worker also "by_worker":
 * [{"worker" ("" for clients without a contact person), "clients",
 * "items"}] by name}. Ids only: no value of a record. Each client looked at
 * is logged as a read with `purpose`, as veld_record_list logs one; only
 * the fields the rules need are opened. */
VELD_EXTERN VELD_WARN_UNUSED int veld_due(veld_store *s, const char *input_json,
	const char *purpose, char **json_out);

/* ---- The partners' report -----------------------------------------------
 * What the five agreements of the partners (municipality, housing
 * corporations, care provider) ask to watch, for `period` ("YYYYQn", for
 * example "2026Q4") and the three quarters before it, computed from the
 * records in the office's store (VELD_EPERM in a worker's store). A period
 * that is not a quarter, or has not begun, is VELD_EINVAL and nothing is
 * logged. Aggregates only: no name, id, date or text of a client; counts of
 * 1 to 4 are "<5", cells that would give a hidden count back are "x", a
 * share, mean or median needs a base of 10 (null otherwise). *json_out:
 * {"period", "quarters": [4, oldest first], "sections": [{"id", "title":
 * {"nl","en"}, "indicators": [{"id", "label": {"nl","en"}, "unit",
 * "group"?, "group_label"?: {"nl","en"}, "target"?, "values": [4 cells]}]}]}
 * (docs/report.md has every indicator). Logged once in the access log as
 * event "report" with purpose "monitoring", naming no client. */
VELD_EXTERN VELD_WARN_UNUSED int veld_office_report(veld_store *s, const char *period,
	char **json_out);

#ifdef __cplusplus
}
#endif
#endif /* VELD_H */
