/*
 * veld_bridge.h - the stable C ABI that phone apps build on.
 *
 * This header, with the error codes it includes (veld_errors.h), is
 * everything an Android (JNI) or iOS (Swift) app needs: open and unlock
 * the encrypted store, lock it (by hand or after an idle time), enroll
 * with the office's server, create and read records, see and resolve
 * conflicts, read the access log, and sync. docs/mobile.md is the full
 * contract, with the JSON of every request and response.
 *
 * The contract in short:
 *  - Names. Every symbol starts with veld_. Handles are opaque: veld_session
 *    (an open store) and veld_buf (a result).
 *  - Errors. Every call that can fail returns an int32_t: VELD_OK (0) or a
 *    negative VELD_E* code. Codes are never renumbered and are the store's
 *    own (veld_errors.h, included here and by veld.h). The message of the
 *    last failure on the calling thread is veld_bridge_error_message(); it
 *    names ids and fields, never a value, a passphrase or a code.
 *  - Strings in are UTF-8 with an explicit length (`const uint8_t *, size_t`);
 *    they need no terminating NUL. An embedded NUL or invalid UTF-8 is
 *    refused with VELD_EINVAL. Input is only read during the call.
 *  - Requests and results are JSON documents (UTF-8 objects). Secrets (a
 *    passphrase, a key) never travel in JSON: they are byte arguments of
 *    their own, so the bridge can wipe its copies.
 *  - Ownership. A result is a veld_buf the caller releases with
 *    veld_buf_free(); a session is released with veld_session_close(). Both
 *    accept NULL. A veld_buf does not depend on its session: buffers and
 *    sessions may be released in any order.
 *  - Threads. One session may be used from several threads at once; calls
 *    on it are serialised inside. Callbacks run on the thread that made the
 *    call. veld_session_cancel() may be called from any thread.
 *  - Versions. Same ABI major = compatible. Check at start-up with
 *    VELD_BRIDGE_ABI_CHECK() (or veld_bridge_abi_check) before other calls.
 *  - No variadic functions, no constant that exists only as a macro: every
 *    constant is also available from veld_bridge_constant().
 *
 * A C program may include veld.h as well, in either order: both take the
 * VELD_E* codes from veld_errors.h.
 */
#ifndef VELD_BRIDGE_H
#define VELD_BRIDGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#  define VELD_BRIDGE_API __declspec(dllexport)
#elif defined(__GNUC__)
#  define VELD_BRIDGE_API __attribute__((visibility("default")))
#else
#  define VELD_BRIDGE_API
#endif

/* ---- Versions ----------------------------------------------------------
 * The bridge's ABI version: (major << 16) | (minor << 8). A new minor only
 * adds functions, request keys and response keys; a new major may change
 * or remove them. */
#define VELD_BRIDGE_ABI_MAJOR 1
#define VELD_BRIDGE_ABI_MINOR 4
#define VELD_BRIDGE_ABI_VERSION ((VELD_BRIDGE_ABI_MAJOR << 16) | (VELD_BRIDGE_ABI_MINOR << 8))

/* The ABI version of the library the app runs with. */
VELD_BRIDGE_API uint32_t veld_bridge_abi_version(void);

/* VELD_OK if this library can serve an app compiled against the header of
 * ABI version `compiled` (same major, library minor >= compiled minor);
 * VELD_EINVAL with a message otherwise. */
VELD_BRIDGE_API int32_t veld_bridge_abi_check(uint32_t compiled);
#define VELD_BRIDGE_ABI_CHECK() veld_bridge_abi_check(VELD_BRIDGE_ABI_VERSION)

/* ---- Error codes (stable; never renumbered) -----------------------------
 * VELD_OK and the VELD_E* codes are in veld_errors.h, the one definition
 * that veld.h includes too. Ship it beside this header. */
#include "veld_errors.h"

/* Phases of a sync, in veld_progress.phase. */
#define VELD_PHASE_PUSH 1 /* sending this device's changes */
#define VELD_PHASE_PULL 2 /* receiving the team's changes */

/* Length of a keystore key in bytes. */
#define VELD_BRIDGE_KEY_BYTES 32

/* Any constant of this header by its name ("VELD_EAUTH", "VELD_PHASE_PULL",
 * "VELD_BRIDGE_ABI_VERSION", "VELD_BRIDGE_KEY_BYTES", ...) for bindings
 * that cannot see macros. VELD_OK and *value_out set, or VELD_ENOTFOUND. */
VELD_BRIDGE_API int32_t veld_bridge_constant(const uint8_t *name, size_t name_len,
	int64_t *value_out);

/* ---- Errors --------------------------------------------------------------
 * Both read the calling thread's last failure; every bridge call clears it
 * when it starts. Valid until the next veld call on this thread. */

/* Code of the last failure on this thread (VELD_OK if the last call
 * succeeded). */
VELD_BRIDGE_API int32_t veld_bridge_error_code(void);
/* Its message: NUL-terminated UTF-8 ("" if none), at most 511 bytes; its
 * length goes to *len_out if len_out is not NULL. */
VELD_BRIDGE_API const uint8_t *veld_bridge_error_message(size_t *len_out);
/* The name of a code ("VELD_EAUTH") and a fixed description ("wrong
 * passphrase or key"): static NUL-terminated strings. */
VELD_BRIDGE_API const char *veld_bridge_code_name(int32_t code);
VELD_BRIDGE_API const char *veld_bridge_code_description(int32_t code);

/* ---- Results -------------------------------------------------------------
 * A veld_buf holds one JSON document (UTF-8, followed by a NUL that
 * veld_buf_len does not count). It may hold personal data: release it soon;
 * veld_buf_free wipes it. */
typedef struct veld_buf veld_buf;

VELD_BRIDGE_API const uint8_t *veld_buf_data(const veld_buf *buf);
VELD_BRIDGE_API size_t veld_buf_len(const veld_buf *buf);
/* Wipe and release. NULL is a no-op. */
VELD_BRIDGE_API void veld_buf_free(veld_buf *buf);

/* ---- Sessions ------------------------------------------------------------
 * A session is an open store (a directory, created with mode 0700) plus its
 * lock state. `options` is a JSON object (NULL or length 0: defaults):
 *   "user": who acts, for the access log (default "unknown": set it)
 *   "role": the user's role, for the access log only (default "worker")
 *   "team": the team of a new store (create only; default "default")
 *   "kdf_memory_mib", "kdf_passes": Argon2id cost of a new store
 *        (create only; default 64 MiB and 3 passes; at least 19 and 2)
 *   "autolock_seconds": as veld_session_set_autolock (default 0: off)
 * Unknown keys are refused (VELD_EINVAL), so a misspelt option is noticed.
 *
 * The passphrase is bytes (pass its UTF-8); a key is VELD_BRIDGE_KEY_BYTES
 * bytes from the platform keystore. A store made with a key opens only
 * with that key, one made with a passphrase only with the passphrase.
 * On failure *out is NULL. */
typedef struct veld_session veld_session;

VELD_BRIDGE_API int32_t veld_session_create(veld_session **out,
	const uint8_t *dir, size_t dir_len, const uint8_t *passphrase, size_t passphrase_len,
	const uint8_t *options, size_t options_len);
/* VELD_EAUTH on a wrong passphrase; VELD_ENOTFOUND if there is no store. */
VELD_BRIDGE_API int32_t veld_session_open(veld_session **out,
	const uint8_t *dir, size_t dir_len, const uint8_t *passphrase, size_t passphrase_len,
	const uint8_t *options, size_t options_len);
VELD_BRIDGE_API int32_t veld_session_create_with_key(veld_session **out,
	const uint8_t *dir, size_t dir_len, const uint8_t *key, size_t key_len,
	const uint8_t *options, size_t options_len);
VELD_BRIDGE_API int32_t veld_session_open_with_key(veld_session **out,
	const uint8_t *dir, size_t dir_len, const uint8_t *key, size_t key_len,
	const uint8_t *options, size_t options_len);

/* Close the store and wipe its keys. A sync running on another thread is
 * cancelled and waited for, and so is any other call in flight; calls that
 * start after close has begun are the caller's bug. NULL is a no-op. */
VELD_BRIDGE_API void veld_session_close(veld_session *s);

/* ---- Locking -------------------------------------------------------------
 * Locked means the keys are wiped from memory; every call that needs them
 * fails with VELD_ELOCKED until an unlock succeeds. */
VELD_BRIDGE_API int32_t veld_session_lock(veld_session *s);
/* Unlock with the passphrase or key. VELD_EAUTH if wrong (the session stays
 * locked). On a session that is not locked: VELD_OK without a check. */
VELD_BRIDGE_API int32_t veld_session_unlock(veld_session *s,
	const uint8_t *passphrase, size_t passphrase_len);
VELD_BRIDGE_API int32_t veld_session_unlock_with_key(veld_session *s,
	const uint8_t *key, size_t key_len);
/* Re-wrap the store's key under a new passphrase (at least 8 bytes). */
VELD_BRIDGE_API int32_t veld_session_change_passphrase(veld_session *s,
	const uint8_t *old_passphrase, size_t old_len,
	const uint8_t *new_passphrase, size_t new_len);

/* Auto-lock: lock after `idle_seconds` without a call that uses the keys
 * (0 turns it off). There is no background thread: the idle time is
 * checked at the start of every call, which locks first and fails with
 * VELD_ELOCKED once it has passed, and by veld_session_tick and
 * veld_session_is_locked, which an app may call from a timer or when it
 * comes back to the foreground. Idle time counts while the phone sleeps. */
VELD_BRIDGE_API int32_t veld_session_set_autolock(veld_session *s, uint32_t idle_seconds);
/* Apply the idle check now. VELD_OK if the session is unlocked, VELD_ELOCKED
 * if it is locked (now or before). Does not count as use. */
VELD_BRIDGE_API int32_t veld_session_tick(veld_session *s);
/* 1 if locked, 0 if unlocked (after the idle check), negative on error. */
VELD_BRIDGE_API int32_t veld_session_is_locked(veld_session *s);

/* ---- Calls with a JSON request and a JSON result ------------------------
 * Every function below takes a request (a JSON object; NULL or length 0
 * means {}) and, if `out` is not NULL, sets *out to the result (NULL on
 * failure). The keys of each request and result are in docs/mobile.md;
 * records are shaped as in docs/data-model.md. Every request that touches
 * a client may carry "purpose" (default "care"), recorded in the access
 * log; "break-glass: <reason>" reads another team's client.
 *
 * record_create  {"type","fields"}         -> the record, with its "id"
 * record_get     {"type","id"}             -> the record
 * record_list    {"type","filter"?}        -> array of records
 * record_update  {"type","id","fields"}    -> the record
 * record_delete  {"type","id"}             -> {"type","id","deleted":true}
 * scores         {"client"}                -> the client's ZRM scores by visit
 * client_progress {"client"}               -> the same per life domain, for a
 *                chart: first, latest, change and every score  (ABI 1.3)
 * due            {"days"?,"today"?,"all"?,"team"?,"by_worker"?} -> what is
 *                due for the worker's clients, derived from their records
 *                each time: {"today","days","clients","items"}  (ABI 1.4)
 * conflicts_list {}                        -> array of conflicts
 * conflict_resolve {"type","id","field","value"} -> {"type","id","field","resolved":true}
 * audit_list     {"client"?,"limit"?}      -> array of access-log entries
 * audit_verify   {}                        -> {"ok":true,"entries":n}
 * info           {}                        -> the store's description
 * schema         {}                        -> kinds, fields and life domains
 *                (info and schema hold no personal data: they answer while
 *                locked and do not count as use for auto-lock)
 * enroll         {"url","code","label"?,...} -> {"role","team","device"}
 * "type" is "client", "visit", "note", "goal" or "signal". */
VELD_BRIDGE_API int32_t veld_session_record_create(veld_session *s,
	const uint8_t *request, size_t request_len, veld_buf **out);
VELD_BRIDGE_API int32_t veld_session_record_get(veld_session *s,
	const uint8_t *request, size_t request_len, veld_buf **out);
VELD_BRIDGE_API int32_t veld_session_record_list(veld_session *s,
	const uint8_t *request, size_t request_len, veld_buf **out);
VELD_BRIDGE_API int32_t veld_session_record_update(veld_session *s,
	const uint8_t *request, size_t request_len, veld_buf **out);
VELD_BRIDGE_API int32_t veld_session_record_delete(veld_session *s,
	const uint8_t *request, size_t request_len, veld_buf **out);
VELD_BRIDGE_API int32_t veld_session_scores(veld_session *s,
	const uint8_t *request, size_t request_len, veld_buf **out);
VELD_BRIDGE_API int32_t veld_session_client_progress(veld_session *s,
	const uint8_t *request, size_t request_len, veld_buf **out);
VELD_BRIDGE_API int32_t veld_session_due(veld_session *s,
	const uint8_t *request, size_t request_len, veld_buf **out);
VELD_BRIDGE_API int32_t veld_session_conflicts_list(veld_session *s,
	const uint8_t *request, size_t request_len, veld_buf **out);
VELD_BRIDGE_API int32_t veld_session_conflict_resolve(veld_session *s,
	const uint8_t *request, size_t request_len, veld_buf **out);
VELD_BRIDGE_API int32_t veld_session_audit_list(veld_session *s,
	const uint8_t *request, size_t request_len, veld_buf **out);
VELD_BRIDGE_API int32_t veld_session_audit_verify(veld_session *s,
	const uint8_t *request, size_t request_len, veld_buf **out);
VELD_BRIDGE_API int32_t veld_session_info(veld_session *s,
	const uint8_t *request, size_t request_len, veld_buf **out);
VELD_BRIDGE_API int32_t veld_session_schema(veld_session *s,
	const uint8_t *request, size_t request_len, veld_buf **out);

/* ---- Sync ----------------------------------------------------------------
 * Network options, accepted by enroll and sync requests:
 *   "insecure_http": allow http:// to a host that is not this machine
 *       (test networks only; http:// to loopback is always allowed)
 *   "ca_file": PEM file of CA certificates to trust instead of the system's
 *   "ca_pem": the same as text (an app's bundled CA); wins over "ca_file"
 *   "pinned_key": "sha256//BASE64" of the server's public key (up to 8,
 *       separated by ";"); the server's key must match one  (ABI 1.2)
 *   What enroll is given of these three, the store keeps: every later sync
 *   uses it, unless its own request gives a CA or pin for that sync. A
 *   server certificate not trusted, or a key not matching the pin, fails
 *   at once (no retry) with VELD_EPERM.
 *   "timeout_ms": per request (default 30000)
 *   "max_retries": after a network error, 500 or 503 (default 5)
 *   "push_batch" (1..1000), "pull_page" (1..5000): operations per request
 *
 * Enroll this store with the server at "url" using the single-use invite
 * "code" from the office; "label" names the device for the office. */
VELD_BRIDGE_API int32_t veld_session_enroll(veld_session *s,
	const uint8_t *request, size_t request_len, veld_buf **out);

/* Progress of a running sync. Counts are totals since the sync started.
 * Fields are only ever added at the end; check `version`. */
typedef struct veld_progress {
	uint32_t version;     /* 1 */
	uint32_t phase;       /* VELD_PHASE_PUSH or VELD_PHASE_PULL */
	uint64_t pushed;      /* own operations the server acknowledged */
	uint64_t push_total;  /* own operations waiting when the sync started */
	uint64_t pulled;      /* operations received */
	uint64_t applied;     /* of those, new to this store */
	uint64_t elapsed_ms;  /* since the sync started */
} veld_progress;

/* Called on the thread that called veld_session_sync, after each pushed
 * batch and each pulled page; `progress` is valid during the call only.
 * Return 0 to go on, non-zero to cancel (the sync returns
 * VELD_ECANCELLED; what was pushed or applied so far stays). The callback
 * must not call veld_session_close on this session; other calls on the
 * session are allowed. A call that fails before it starts never calls it. */
typedef int32_t (*veld_progress_cb)(const veld_progress *progress, void *payload);

/* Push this device's changes, then pull the team's, until the server has
 * no more. `request` holds the network options. Result:
 * {"pushed","pulled","applied","conflicts","duration_ms"}. Blocks the
 * calling thread: never call it from an app's UI thread. `progress` may be
 * NULL. VELD_ENOTFOUND if the store has not enrolled; VELD_EREVOKED if the
 * office revoked this device (close the session and delete the store
 * directory); VELD_ENET when the server cannot be reached (nothing is lost;
 * sync later). */
VELD_BRIDGE_API int32_t veld_session_sync(veld_session *s,
	const uint8_t *request, size_t request_len,
	veld_progress_cb progress, veld_buf **out, void *payload);

/* Stop a veld_session_sync or veld_session_enroll running on `s`, from any
 * thread (a UI thread's cancel button): it returns VELD_ECANCELLED within
 * about a second. No effect when none is running. */
VELD_BRIDGE_API void veld_session_cancel(veld_session *s);

#ifdef __cplusplus
}
#endif
#endif /* VELD_BRIDGE_H */
