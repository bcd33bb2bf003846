/*
 * bridge.c - the stable C ABI for phone apps (veld_bridge.h) over the store
 * (veld.h) and sync (veld_sync.h).
 *
 * The bridge is thin on purpose: requests are parsed and checked here
 * (UTF-8, lengths, known keys, each key's type and range), then handed to
 * the store, whose answer goes back as a veld_buf. Every JSON call is one
 * entry of a table (`calls`, near the end: its name, the keys its request
 * takes, the function that runs it) served by one dispatcher, so a public
 * entry point is a single line and a new call is a new row. What the
 * bridge adds is its own state, the lock state and the idle timer, and a
 * way to close a session that another thread is still syncing on.
 *
 * Locking order. A session has two mutexes of its own besides the store's:
 *  - `mu` guards the small fields (busy count, lock flag, idle timer,
 *    cancel state). It is only ever held for a few instructions and never
 *    across a call into the store, so the UI thread asking
 *    veld_session_is_locked never waits for a long list or a sync.
 *  - `lock_mu` serialises lock and unlock transitions, which do call into
 *    the store (and may wait for its mutex). Order: lock_mu, then the
 *    store's mutex; `mu` is taken inside either only briefly.
 * The store's mutex is never held while the bridge takes one of its own:
 * the sync progress callback runs outside it (veld_sync.h) and the
 * trampoline below touches only an atomic.
 */
#include "veld.h"
#include "veld_sync.h"
#include "veld_bridge.h"
#include "crypto.h"
#include "error.h"

#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The bridge promises the store's codes; a mismatch would be an ABI break. */
_Static_assert(VELD_BRIDGE_KEY_BYTES == VELD_KEY_BYTES, "key length differs from veld.h");
_Static_assert(VELD_PHASE_PUSH == VELD_SYNC_PHASE_PUSH, "phase differs from veld_sync.h");
_Static_assert(VELD_PHASE_PULL == VELD_SYNC_PHASE_PULL, "phase differs from veld_sync.h");

#define PROGRESS_VERSION 1

/* ---- versions and constants --------------------------------------------- */

uint32_t veld_bridge_abi_version(void)
{
	return (uint32_t)VELD_BRIDGE_ABI_VERSION;
}

int32_t veld_bridge_abi_check(uint32_t compiled)
{
	uint32_t have = veld_bridge_abi_version();
	veld__err_clear();
	if ((compiled >> 16) != (have >> 16) || ((compiled >> 8) & 0xff) > ((have >> 8) & 0xff))
		return veld__err(VELD_EINVAL, "the app was built for veld bridge ABI %u.%u; this "
			"library is %u.%u (same major and a minor at least as new are needed)",
			(unsigned)(compiled >> 16), (unsigned)((compiled >> 8) & 0xff),
			(unsigned)(have >> 16), (unsigned)((have >> 8) & 0xff));
	return VELD_OK;
}

/* A constant of veld_bridge.h by its name. NAMED writes the name from the
 * constant itself, so the two cannot differ. */
struct named {
	const char *name;
	int64_t value;
};
#define NAMED(c) {#c, c}

/* The error codes (veld_errors.h), also for veld_bridge_code_name. */
static const struct named codes[] = {
	NAMED(VELD_OK), NAMED(VELD_ERROR), NAMED(VELD_ENOMEM), NAMED(VELD_EINVAL),
	NAMED(VELD_ENOTFOUND), NAMED(VELD_EAUTH), NAMED(VELD_ECORRUPT), NAMED(VELD_EIO),
	NAMED(VELD_EEXISTS), NAMED(VELD_ESCHEMA), NAMED(VELD_ELOCKED), NAMED(VELD_ESHREDDED),
	NAMED(VELD_EPERM), NAMED(VELD_EBUSY), NAMED(VELD_ENET), NAMED(VELD_EPROTO),
	NAMED(VELD_EREVOKED), NAMED(VELD_ECANCELLED),
};

static const struct named others[] = {
	NAMED(VELD_PHASE_PUSH), NAMED(VELD_PHASE_PULL), NAMED(VELD_BRIDGE_KEY_BYTES),
	NAMED(VELD_BRIDGE_ABI_MAJOR), NAMED(VELD_BRIDGE_ABI_MINOR), NAMED(VELD_BRIDGE_ABI_VERSION),
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

int32_t veld_bridge_constant(const uint8_t *name, size_t name_len, int64_t *value_out)
{
	veld__err_clear();
	if (name == NULL || value_out == NULL)
		return veld__err(VELD_EINVAL, "veld_bridge_constant needs a name and value_out");
	for (size_t i = 0; i < COUNT(codes) + COUNT(others); i++) {
		const struct named *c = i < COUNT(codes) ? &codes[i] : &others[i - COUNT(codes)];
		if (strlen(c->name) == name_len && memcmp(c->name, name, name_len) == 0) {
			*value_out = c->value;
			return VELD_OK;
		}
	}
	return veld__err(VELD_ENOTFOUND, "no veld constant of that name");
}

/* ---- errors ---------------------------------------------------------------- */

int32_t veld_bridge_error_code(void)
{
	return (int32_t)veld_error_code_last();
}

const uint8_t *veld_bridge_error_message(size_t *len_out)
{
	const char *m = veld_error_last();
	if (len_out != NULL)
		*len_out = strlen(m);
	return (const uint8_t *)m;
}

const char *veld_bridge_code_name(int32_t code)
{
	for (size_t i = 0; i < COUNT(codes); i++)
		if (codes[i].value == code)
			return codes[i].name;
	return "VELD_EUNKNOWN";
}

const char *veld_bridge_code_description(int32_t code)
{
	return veld_strerror(code);
}

/* ---- buffers --------------------------------------------------------------- */

struct veld_buf {
	size_t len;
	uint8_t data[]; /* len bytes and a NUL */
};

const uint8_t *veld_buf_data(const veld_buf *buf)
{
	return buf != NULL ? buf->data : NULL;
}

size_t veld_buf_len(const veld_buf *buf)
{
	return buf != NULL ? buf->len : 0;
}

void veld_buf_free(veld_buf *buf)
{
	if (buf == NULL)
		return;
	sodium_memzero(buf->data, buf->len);
	free(buf);
}

/* Wipe and release a string made by the store or by jansson. */
static void str_free(char *p)
{
	if (p != NULL) {
		sodium_memzero(p, strlen(p));
		veld_free(p);
	}
}

/* Move a string into a new buffer (one allocation the app frees), wiping
 * and releasing the string either way. */
static int32_t buf_take(char *str, veld_buf **out)
{
	size_t n;
	veld_buf *b;
	if (str == NULL)
		return veld__err(VELD_ENOMEM, "out of memory");
	n = strlen(str);
	b = malloc(sizeof *b + n + 1);
	if (b == NULL) {
		str_free(str);
		return veld__err(VELD_ENOMEM, "out of memory");
	}
	b->len = n;
	memcpy(b->data, str, n + 1);
	str_free(str);
	*out = b;
	return VELD_OK;
}

/* Hand a result to the caller if it asked for one; always consumes `str`. */
static int32_t give(char *str, veld_buf **out)
{
	if (out == NULL) {
		str_free(str);
		return VELD_OK;
	}
	return buf_take(str, out);
}

/* ---- input ----------------------------------------------------------------- */

/* Strict UTF-8 with no NUL (strings here become C strings). */
static int utf8_valid(const uint8_t *p, size_t n)
{
	return (n == 0 || memchr(p, 0, n) == NULL) && veld__utf8_valid(p, n);
}

/* A NUL-terminated copy of a UTF-8 argument, for the store's C strings. */
static int32_t str_arg(const uint8_t *p, size_t n, const char *what, char **out)
{
	*out = NULL;
	if (p == NULL || n == 0)
		return veld__err(VELD_EINVAL, "%s is empty", what);
	if (!utf8_valid(p, n))
		return veld__err(VELD_EINVAL, "%s is not valid UTF-8 or holds a NUL character", what);
	if ((*out = malloc(n + 1)) == NULL)
		return veld__err(VELD_ENOMEM, "out of memory");
	memcpy(*out, p, n);
	(*out)[n] = '\0';
	return VELD_OK;
}

/* ---- requests: specs and their checks --------------------------------------
 * Every JSON request (and the options of open and create) is described by
 * a list of the keys it may hold: each key's type, whether it is required,
 * and for numbers the range and the default. One function checks a request
 * against its list, in the list's order, so the first problem found is the
 * one reported; the calls then read values that are known to be right.
 * Messages name the call and the key, never a value (a request may carry a
 * client's name). */

enum key_type {
	KEY_STRING, /* a non-empty string */
	KEY_INT,    /* a whole number from lo to hi */
	KEY_BOOL,   /* true or false; null is refused */
	KEY_OBJECT, /* a JSON object, handed to the store as compact JSON text */
	KEY_ANY     /* any JSON value, null included, as compact JSON text */
};

/* Flags of a key. An optional key may be absent, or null for a string,
 * number or object. */
#define KEY_OPTIONAL 0
#define KEY_REQUIRED 1
#define KEY_SECRET 2 /* wiped from the parsed request when the call ends */

/* A list of keys has MAX_KEYS entries; one with a NULL key ends it sooner. */
struct key_spec {
	const char *key;
	unsigned char type;    /* enum key_type */
	unsigned char flags;
	json_int_t lo, hi;     /* KEY_INT: the range */
	json_int_t fallback;   /* KEY_INT: the value when absent */
};

/* The entries of a key list, short so each list reads as one line: a
 * string, object or any value that is required (REQ) or optional (OPT); a
 * number or boolean, always optional; an invite code, required and wiped. */
#define STR_REQ(k) {k, KEY_STRING, KEY_REQUIRED, 0, 0, 0}
#define STR_OPT(k) {k, KEY_STRING, KEY_OPTIONAL, 0, 0, 0}
#define STR_SECRET(k) {k, KEY_STRING, KEY_REQUIRED | KEY_SECRET, 0, 0, 0}
#define OBJ_REQ(k) {k, KEY_OBJECT, KEY_REQUIRED, 0, 0, 0}
#define OBJ_OPT(k) {k, KEY_OBJECT, KEY_OPTIONAL, 0, 0, 0}
#define ANY_REQ(k) {k, KEY_ANY, KEY_REQUIRED, 0, 0, 0}
#define INT_OPT(k, lo, hi, fallback) {k, KEY_INT, KEY_OPTIONAL, lo, hi, fallback}
#define BOOL_OPT(k) {k, KEY_BOOL, KEY_OPTIONAL, 0, 0, 0}

#define MAX_KEYS 13 /* enroll: url, code, label and the ten network options */

/* How many keys a list holds. */
static size_t key_count(const struct key_spec *keys)
{
	size_t n = 0;
	while (n < MAX_KEYS && keys[n].key != NULL)
		n++;
	return n;
}

/* A request being served: the parsed JSON and what was made from it. */
struct request {
	const char *call;            /* for messages: "veld_session_record_get" */
	const struct key_spec *keys; /* what it may hold */
	json_t *json;
	char *text[MAX_KEYS];        /* KEY_OBJECT and KEY_ANY values, by index in keys */
	veld_progress_cb progress;   /* veld_session_sync only */
	void *payload;
};

/* Where a key is in the request's list; -1 if it is not. */
static int key_index(const struct request *r, const char *key)
{
	for (size_t i = 0; i < key_count(r->keys); i++)
		if (strcmp(r->keys[i].key, key) == 0)
			return (int)i;
	return -1;
}

/* Parse the request into r->json: a JSON object whose keys are all in
 * r->keys. NULL or an empty request is {}. */
static int32_t req_parse(struct request *r, const uint8_t *req, size_t len)
{
	json_error_t e;
	json_t *v;
	const char *key;

	if (req == NULL && len != 0)
		return veld__err(VELD_EINVAL, "%s: the request is NULL but its length is not 0",
			r->call);
	if (req == NULL || len == 0) {
		r->json = json_object();
		return r->json != NULL ? VELD_OK : veld__err(VELD_ENOMEM, "out of memory");
	}
	if (!utf8_valid(req, len))
		return veld__err(VELD_EINVAL, "%s: the request is not valid UTF-8 or holds a NUL "
			"character", r->call);
	r->json = json_loadb((const char *)req, len, JSON_REJECT_DUPLICATES, &e);
	if (r->json == NULL)
		return veld__err(VELD_EINVAL, "%s: the request is not valid JSON (line %d, "
			"column %d)", r->call, e.line, e.column);
	if (!json_is_object(r->json))
		return veld__err(VELD_EINVAL, "%s: the request must be a JSON object", r->call);
	json_object_foreach(r->json, key, v) {
		if (key_index(r, key) < 0) {
			/* The key is shown, but only its printable ASCII and not
			 * all of a long one: it is the app's text, not ours. */
			char shown[41];
			size_t i = 0;
			for (; key[i] != '\0' && i + 1 < sizeof shown; i++)
				shown[i] = (key[i] >= 0x20 && key[i] < 0x7f) ? key[i] : '?';
			shown[i] = '\0';
			return veld__err(VELD_EINVAL, "%s: unknown request key \"%s\"", r->call,
				shown);
		}
	}
	return VELD_OK;
}

/* Check the i-th key of the spec against the request; an object or any
 * value is kept as text for the store. */
static int32_t key_check(struct request *r, size_t i)
{
	const struct key_spec *a = &r->keys[i];
	json_t *v = json_object_get(r->json, a->key);
	int required = a->flags & KEY_REQUIRED;

	if (v == NULL)
		return required ? veld__err(VELD_EINVAL, "%s: \"%s\" is required", r->call, a->key)
		                : VELD_OK;
	if (json_is_null(v) && !required && a->type != KEY_BOOL && a->type != KEY_ANY)
		return VELD_OK;
	switch (a->type) {
	case KEY_STRING:
		if (!json_is_string(v) || json_string_length(v) == 0)
			return veld__err(VELD_EINVAL, "%s: \"%s\" must be a non-empty string",
				r->call, a->key);
		return VELD_OK;
	case KEY_INT:
		if (!json_is_integer(v) || json_integer_value(v) < a->lo ||
		    json_integer_value(v) > a->hi)
			return veld__err(VELD_EINVAL, "%s: \"%s\" must be a whole number from %lld "
				"to %lld", r->call, a->key, (long long)a->lo, (long long)a->hi);
		return VELD_OK;
	case KEY_BOOL:
		if (!json_is_boolean(v))
			return veld__err(VELD_EINVAL, "%s: \"%s\" must be true or false", r->call,
				a->key);
		return VELD_OK;
	case KEY_OBJECT:
		if (!json_is_object(v))
			return veld__err(VELD_EINVAL, "%s: \"%s\" must be a JSON object", r->call,
				a->key);
		break;
	case KEY_ANY:
		break;
	}
	r->text[i] = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	return r->text[i] != NULL ? VELD_OK : veld__err(VELD_ENOMEM, "out of memory");
}

/* Parse and check a request. Whatever the outcome, req_done releases it. */
static int32_t req_load(struct request *r, const uint8_t *req, size_t len)
{
	int32_t rc = req_parse(r, req, len);
	for (size_t i = 0; rc == VELD_OK && i < key_count(r->keys); i++)
		rc = key_check(r, i);
	return rc;
}

/* Release a request, wiping its secrets (an invite code) and the texts made
 * from it (a record's fields). */
static void req_done(struct request *r)
{
	for (size_t i = 0; i < key_count(r->keys); i++) {
		json_t *v = json_object_get(r->json, r->keys[i].key);
		if ((r->keys[i].flags & KEY_SECRET) && json_is_string(v))
			sodium_memzero((char *)json_string_value(v), json_string_length(v));
		str_free(r->text[i]);
		r->text[i] = NULL;
	}
	json_decref(r->json);
	r->json = NULL;
}

/* A checked value. A string is NULL when absent; a number is the spec's
 * fallback; a text is NULL when absent. The pointers live as long as the
 * request. */
static const char *req_str(const struct request *r, const char *key)
{
	return json_string_value(json_object_get(r->json, key));
}

static json_int_t req_int(const struct request *r, const char *key)
{
	json_t *v = json_object_get(r->json, key);
	int i = key_index(r, key);
	if (json_is_integer(v))
		return json_integer_value(v);
	return i >= 0 ? r->keys[i].fallback : 0;
}

static const char *req_text(const struct request *r, const char *key)
{
	int i = key_index(r, key);
	return i >= 0 ? r->text[i] : NULL;
}

/* ---- sessions -------------------------------------------------------------- */

struct veld_session {
	veld_store *store;
	pthread_mutex_t lock_mu; /* serialises lock and unlock (see the top) */
	pthread_mutex_t mu;      /* guards the fields below; held only briefly */
	pthread_cond_t idle;     /* busy dropped to 0 */
	unsigned busy;           /* calls in flight */
	unsigned syncing;        /* of those, syncs and enrolls */
	int closing;
	int locked;
	uint32_t autolock_s;     /* 0 = off */
	uint64_t last_use_ms;    /* now_ms() of the last call that used the keys */
	atomic_int cancel;       /* set by veld_session_cancel while syncing */
};

/* Milliseconds on a clock that keeps counting while the phone sleeps
 * (CLOCK_BOOTTIME on Linux and Android; CLOCK_MONOTONIC elsewhere, which on
 * Apple systems also counts sleep) and never jumps with the wall clock. */
static uint64_t now_ms(void)
{
	struct timespec ts;
#ifdef CLOCK_BOOTTIME
	if (clock_gettime(CLOCK_BOOTTIME, &ts) != 0)
#endif
		clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

enum { CALL_PLAIN = 0, CALL_KEYS = 1, CALL_SYNC = 3 /* uses keys, cancellable */ };

static void leave(veld_session *s, int kind);

/* Lock the store now if the session was idle past its limit. */
static void lock_if_idle(veld_session *s)
{
	int expired;
	pthread_mutex_lock(&s->lock_mu);
	pthread_mutex_lock(&s->mu);
	/* Checked again under lock_mu: an unlock may have come in between. */
	expired = !s->locked && s->autolock_s != 0 &&
	          now_ms() - s->last_use_ms >= (uint64_t)s->autolock_s * 1000u;
	pthread_mutex_unlock(&s->mu);
	if (expired) {
		(void)veld_store_lock(s->store);
		pthread_mutex_lock(&s->mu);
		s->locked = 1;
		pthread_mutex_unlock(&s->mu);
	}
	pthread_mutex_unlock(&s->lock_mu);
}

/* The idle check of every call: lock if the time has passed, then report
 * whether the session is locked. `use` marks the call as use of the keys,
 * restarting the idle time. */
static int32_t idle_check(veld_session *s, int use)
{
	int expired, locked;
	uint32_t limit;
	pthread_mutex_lock(&s->mu);
	locked = s->locked;
	limit = s->autolock_s;
	expired = !locked && s->autolock_s != 0 &&
	          now_ms() - s->last_use_ms >= (uint64_t)s->autolock_s * 1000u;
	if (!locked && !expired && use)
		s->last_use_ms = now_ms();
	pthread_mutex_unlock(&s->mu);
	if (locked)
		return veld__err(VELD_ELOCKED, "the session is locked: unlock it first");
	if (!expired)
		return VELD_OK;
	lock_if_idle(s);
	return veld__err(VELD_ELOCKED, "the session locked itself after %u s without use: "
		"unlock it", (unsigned)limit);
}

/* Start a call: refuse a closing session, count the call in flight (so
 * close can wait for it), and for calls that use the keys apply the idle
 * check. Every successful enter is paired with one leave. */
static int32_t enter(veld_session *s, int kind)
{
	int32_t rc;
	veld__err_clear();
	if (s == NULL)
		return veld__err(VELD_EINVAL, "no session given");
	pthread_mutex_lock(&s->mu);
	if (s->closing) {
		pthread_mutex_unlock(&s->mu);
		return veld__err(VELD_EINVAL, "the session is being closed");
	}
	s->busy++;
	/* A sync starting while none runs forgets an old cancel; done under mu
	 * together with the closing check so close's cancel is never lost. */
	if (kind == CALL_SYNC && s->syncing++ == 0)
		atomic_store(&s->cancel, 0);
	pthread_mutex_unlock(&s->mu);
	if ((kind & CALL_KEYS) && (rc = idle_check(s, 1)) != VELD_OK) {
		leave(s, kind);
		return rc;
	}
	return VELD_OK;
}

/* End a call, keeping the thread's error message (the store's). */
static void leave(veld_session *s, int kind)
{
	pthread_mutex_lock(&s->mu);
	if (kind == CALL_SYNC)
		s->syncing--;
	if (--s->busy == 0)
		pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->mu);
}

/* The options of open and create (veld_bridge.h). A cost of 0 leaves the
 * store's default. */
static const struct key_spec options_keys[MAX_KEYS] = {
	STR_OPT("user"), STR_OPT("role"), STR_OPT("team"),
	INT_OPT("kdf_memory_mib", VELD_KDF_MEMLIMIT_MIN >> 20, 4096, 0),
	INT_OPT("kdf_passes", VELD_KDF_OPSLIMIT_MIN, 64, 0),
	INT_OPT("autolock_seconds", 0, UINT32_MAX, 0),
};

/* Read the options into *so, whose strings point into r (req_done after the
 * store is open). */
static int32_t parse_options(struct request *r, const uint8_t *opts, size_t len,
                             veld_store_options *so, uint32_t *autolock)
{
	int32_t rc;
	veld_store_options_init(so);
	if ((rc = req_load(r, opts, len)) != VELD_OK)
		return rc;
	so->user = req_str(r, "user");
	so->role = req_str(r, "role");
	so->team = req_str(r, "team");
	so->kdf_memlimit = (uint64_t)req_int(r, "kdf_memory_mib") << 20;
	so->kdf_opslimit = (uint64_t)req_int(r, "kdf_passes");
	*autolock = (uint32_t)req_int(r, "autolock_seconds");
	return VELD_OK;
}

enum { BY_PASSPHRASE, BY_KEY };

/* A passphrase is not empty; a key has the keystore's length. */
static int32_t secret_check(const uint8_t *secret, size_t len, int by)
{
	if (by == BY_KEY && (secret == NULL || len != VELD_BRIDGE_KEY_BYTES))
		return veld__err(VELD_EINVAL, "a key is %d bytes", VELD_BRIDGE_KEY_BYTES);
	if (by == BY_PASSPHRASE && (secret == NULL || len == 0))
		return veld__err(VELD_EINVAL, "the passphrase is empty");
	return VELD_OK;
}

static int32_t session_make(veld_session **out, const uint8_t *dir, size_t dir_len,
                            const uint8_t *secret, size_t secret_len, int by, int create,
                            const uint8_t *opts, size_t opts_len)
{
	struct request r = {create ? "veld_session_create" : "veld_session_open", options_keys,
	                    NULL, {NULL}, NULL, NULL};
	veld_store_options so;
	veld_session *s = NULL;
	char *path = NULL;
	uint32_t autolock = 0;
	int32_t rc;

	veld__err_clear();
	if (out == NULL)
		return veld__err(VELD_EINVAL, "out is required");
	*out = NULL;
	if ((rc = str_arg(dir, dir_len, "the store directory", &path)) != VELD_OK)
		return rc;
	if ((rc = secret_check(secret, secret_len, by)) != VELD_OK ||
	    (rc = parse_options(&r, opts, opts_len, &so, &autolock)) != VELD_OK)
		goto done;
	if ((s = calloc(1, sizeof *s)) == NULL) {
		rc = veld__err(VELD_ENOMEM, "out of memory");
		goto done;
	}
	if (by == BY_KEY)
		rc = create ? veld_store_create_with_key(&s->store, path, secret, &so)
		            : veld_store_open_with_key(&s->store, path, secret, &so);
	else
		rc = create ? veld_store_create(&s->store, path, (const char *)secret, secret_len, &so)
		            : veld_store_open(&s->store, path, (const char *)secret, secret_len, &so);
	if (rc != VELD_OK) {
		free(s);
		goto done;
	}
	pthread_mutex_init(&s->lock_mu, NULL);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->idle, NULL);
	atomic_init(&s->cancel, 0);
	s->autolock_s = autolock;
	s->last_use_ms = now_ms();
	*out = s;
done:
	req_done(&r);
	free(path);
	return rc;
}

int32_t veld_session_create(veld_session **out, const uint8_t *dir, size_t dir_len,
	const uint8_t *passphrase, size_t passphrase_len, const uint8_t *options, size_t options_len)
{
	return session_make(out, dir, dir_len, passphrase, passphrase_len, BY_PASSPHRASE, 1,
		options, options_len);
}

int32_t veld_session_open(veld_session **out, const uint8_t *dir, size_t dir_len,
	const uint8_t *passphrase, size_t passphrase_len, const uint8_t *options, size_t options_len)
{
	return session_make(out, dir, dir_len, passphrase, passphrase_len, BY_PASSPHRASE, 0,
		options, options_len);
}

int32_t veld_session_create_with_key(veld_session **out, const uint8_t *dir, size_t dir_len,
	const uint8_t *key, size_t key_len, const uint8_t *options, size_t options_len)
{
	return session_make(out, dir, dir_len, key, key_len, BY_KEY, 1, options, options_len);
}

int32_t veld_session_open_with_key(veld_session **out, const uint8_t *dir, size_t dir_len,
	const uint8_t *key, size_t key_len, const uint8_t *options, size_t options_len)
{
	return session_make(out, dir, dir_len, key, key_len, BY_KEY, 0, options, options_len);
}

void veld_session_close(veld_session *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	s->closing = 1;
	atomic_store(&s->cancel, 1);
	pthread_mutex_unlock(&s->mu);
	veld_sync_cancel(s->store);
	pthread_mutex_lock(&s->mu);
	while (s->busy > 0)
		pthread_cond_wait(&s->idle, &s->mu);
	pthread_mutex_unlock(&s->mu);
	veld_store_free(s->store);
	pthread_cond_destroy(&s->idle);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->lock_mu);
	sodium_memzero(s, sizeof *s);
	free(s);
}

/* ---- locking ---------------------------------------------------------------- */

int32_t veld_session_lock(veld_session *s)
{
	int32_t rc = enter(s, CALL_PLAIN);
	if (rc != VELD_OK)
		return rc;
	pthread_mutex_lock(&s->lock_mu);
	rc = veld_store_lock(s->store);
	pthread_mutex_lock(&s->mu);
	s->locked = 1;
	pthread_mutex_unlock(&s->mu);
	pthread_mutex_unlock(&s->lock_mu);
	leave(s, CALL_PLAIN);
	return rc;
}

static int32_t unlock_with(veld_session *s, const uint8_t *secret, size_t len, int by)
{
	int32_t rc = enter(s, CALL_PLAIN);
	if (rc != VELD_OK)
		return rc;
	if ((rc = secret_check(secret, len, by)) == VELD_OK) {
		pthread_mutex_lock(&s->lock_mu);
		rc = by == BY_KEY ? veld_store_unlock_with_key(s->store, secret)
		                  : veld_store_unlock(s->store, (const char *)secret, len);
		if (rc == VELD_OK) {
			pthread_mutex_lock(&s->mu);
			s->locked = 0;
			s->last_use_ms = now_ms();
			pthread_mutex_unlock(&s->mu);
		}
		pthread_mutex_unlock(&s->lock_mu);
	}
	leave(s, CALL_PLAIN);
	return rc;
}

int32_t veld_session_unlock(veld_session *s, const uint8_t *passphrase, size_t passphrase_len)
{
	return unlock_with(s, passphrase, passphrase_len, BY_PASSPHRASE);
}

int32_t veld_session_unlock_with_key(veld_session *s, const uint8_t *key, size_t key_len)
{
	return unlock_with(s, key, key_len, BY_KEY);
}

int32_t veld_session_change_passphrase(veld_session *s, const uint8_t *old_passphrase,
	size_t old_len, const uint8_t *new_passphrase, size_t new_len)
{
	int32_t rc = enter(s, CALL_KEYS);
	if (rc != VELD_OK)
		return rc;
	if (old_passphrase == NULL || old_len == 0 || new_passphrase == NULL)
		rc = veld__err(VELD_EINVAL, "the old and new passphrase are required");
	else if (new_len < 8)
		rc = veld__err(VELD_EINVAL, "a new passphrase has at least 8 bytes");
	else
		rc = veld_store_change_passphrase(s->store, (const char *)old_passphrase, old_len,
			(const char *)new_passphrase, new_len);
	leave(s, CALL_KEYS);
	return rc;
}

int32_t veld_session_set_autolock(veld_session *s, uint32_t idle_seconds)
{
	int32_t rc = enter(s, CALL_PLAIN);
	if (rc != VELD_OK)
		return rc;
	pthread_mutex_lock(&s->mu);
	s->autolock_s = idle_seconds;
	s->last_use_ms = now_ms(); /* the new limit counts from now */
	pthread_mutex_unlock(&s->mu);
	leave(s, CALL_PLAIN);
	return VELD_OK;
}

int32_t veld_session_tick(veld_session *s)
{
	int32_t rc = enter(s, CALL_PLAIN);
	if (rc != VELD_OK)
		return rc;
	rc = idle_check(s, 0);
	leave(s, CALL_PLAIN);
	return rc;
}

int32_t veld_session_is_locked(veld_session *s)
{
	int32_t rc = veld_session_tick(s);
	if (rc == VELD_ELOCKED) {
		veld__err_clear(); /* being locked is the answer, not a failure */
		return 1;
	}
	return rc == VELD_OK ? 0 : rc;
}

/* ---- the JSON calls -------------------------------------------------------------
 * Each call is a function from a checked request to the store's answer:
 * a string for the caller (NULL on failure), which the dispatcher at the
 * end of this file hands back as a veld_buf. */

/* A result made here rather than by the store, as text (`j` is consumed). */
static int32_t json_text(json_t *j, char **res)
{
	*res = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	json_decref(j);
	return *res != NULL ? VELD_OK : veld__err(VELD_ENOMEM, "out of memory");
}

static int32_t run_record_create(veld_session *s, const struct request *r, char **res)
{
	return veld_record_create(s->store, req_str(r, "type"), req_text(r, "fields"),
		req_str(r, "purpose"), res);
}

static int32_t run_record_get(veld_session *s, const struct request *r, char **res)
{
	return veld_record_get(s->store, req_str(r, "type"), req_str(r, "id"),
		req_str(r, "purpose"), res);
}

static int32_t run_record_list(veld_session *s, const struct request *r, char **res)
{
	return veld_record_list(s->store, req_str(r, "type"), req_text(r, "filter"),
		req_str(r, "purpose"), res);
}

static int32_t run_record_update(veld_session *s, const struct request *r, char **res)
{
	return veld_record_update(s->store, req_str(r, "type"), req_str(r, "id"),
		req_text(r, "fields"), req_str(r, "purpose"), res);
}

static int32_t run_record_delete(veld_session *s, const struct request *r, char **res)
{
	const char *kind = req_str(r, "type"), *id = req_str(r, "id");
	int32_t rc = veld_record_delete(s->store, kind, id, req_str(r, "purpose"));
	if (rc != VELD_OK)
		return rc;
	return json_text(json_pack("{s:s,s:s,s:b}", "type", kind, "id", id, "deleted", 1), res);
}

/* ---- scores: a client's ZRM scores over its visits ------------------------- */

/* The store computes a client's scores over time once
 * (veld_client_progress): client_progress hands it on, scores
 * regroups it by visit. */
static int32_t run_client_progress(veld_session *s, const struct request *r, char **res)
{
	return veld_client_progress(s->store, req_str(r, "client"), req_str(r, "purpose"), res);
}

/* Each point of a domain's series into the scores of its visit's row
 * (rows: {visit id: history row}), and the domain's latest score. */
static void regroup_domain(json_t *domain, json_t *rows, json_t *latest)
{
	const char *code = json_string_value(json_object_get(domain, "code"));
	json_t *pt, *last = json_object_get(domain, "latest");
	size_t i;
	json_array_foreach(json_object_get(domain, "series"), i, pt) {
		json_t *row = json_object_get(rows, json_string_value(json_object_get(pt, "visit")));
		json_object_set(json_object_get(row, "scores"), code, json_object_get(pt, "score"));
	}
	json_object_set_new(latest, code, json_pack("{s:O,s:O,s:O}", "score",
		json_object_get(last, "score"), "visit", json_object_get(last, "visit"),
		"at", json_object_get(last, "at")));
}

/* {"client","history":[{"visit","at","zrm_version","scores"}...] oldest
 * first,"latest":{domain:{"score","visit","at"}}} from the progress. */
static json_t *scores_by_visit(json_t *progress)
{
	json_t *res, *history, *latest, *rows = json_object(), *v;
	size_t i;
	res = json_pack("{s:O,s:[],s:{}}", "client", json_object_get(progress, "client"),
		"history", "latest");
	if (res == NULL || rows == NULL) {
		json_decref(rows);
		json_decref(res);
		return NULL;
	}
	history = json_object_get(res, "history");
	latest = json_object_get(res, "latest");
	json_array_foreach(json_object_get(progress, "visits"), i, v) {
		json_t *row = json_pack("{s:O,s:O,s:O,s:{}}", "visit", json_object_get(v, "visit"),
			"at", json_object_get(v, "at"), "zrm_version", json_object_get(v, "zrm_version"),
			"scores");
		json_object_set(rows, json_string_value(json_object_get(v, "visit")), row);
		json_array_append_new(history, row);
	}
	json_array_foreach(json_object_get(progress, "domains"), i, v)
		regroup_domain(v, rows, latest);
	json_decref(rows);
	return res;
}

static int32_t run_scores(veld_session *s, const struct request *r, char **res)
{
	char *text = NULL;
	json_t *progress;
	int32_t rc = run_client_progress(s, r, &text);
	if (rc != VELD_OK)
		return rc;
	progress = json_loads(text, 0, NULL);
	str_free(text);
	if (progress == NULL)
		return veld__err(VELD_ERROR, "%s: the store returned malformed JSON", r->call);
	rc = json_text(scores_by_visit(progress), res);
	json_decref(progress);
	return rc;
}

/* ---- what is due ------------------------------------------------------------- */

/* The request without "purpose" and its nulls is veld_due's input: the keys
 * are checked here, their meaning is the store's. */
static int32_t run_due(veld_session *s, const struct request *r, char **res)
{
	json_t *in = json_object(), *v;
	const char *key;
	char *text = NULL;
	int32_t rc;
	json_object_foreach(r->json, key, v) {
		if (in != NULL && strcmp(key, "purpose") != 0 && !json_is_null(v))
			json_object_set(in, key, v);
	}
	if (in == NULL || (text = json_dumps(in, JSON_COMPACT)) == NULL)
		rc = veld__err(VELD_ENOMEM, "out of memory");
	else
		rc = veld_due(s->store, text, req_str(r, "purpose"), res);
	str_free(text);
	json_decref(in);
	return rc;
}

/* ---- conflicts, access log, info -------------------------------------------- */

static int32_t run_conflicts_list(veld_session *s, const struct request *r, char **res)
{
	return veld_conflicts_list(s->store, req_str(r, "purpose"), res);
}

static int32_t run_conflict_resolve(veld_session *s, const struct request *r, char **res)
{
	const char *kind = req_str(r, "type"), *id = req_str(r, "id"), *field = req_str(r, "field");
	int32_t rc = veld_conflict_resolve(s->store, kind, id, field, req_text(r, "value"),
		req_str(r, "purpose"));
	if (rc != VELD_OK)
		return rc;
	return json_text(json_pack("{s:s,s:s,s:s,s:b}", "type", kind, "id", id, "field", field,
		"resolved", 1), res);
}

/* The store's filter is the request without its nulls. */
static int32_t run_audit_list(veld_session *s, const struct request *r, char **res)
{
	const char *client = req_str(r, "client");
	json_int_t limit = req_int(r, "limit");
	json_t *f = json_object();
	char *filter = NULL;
	int32_t rc;

	if (f == NULL || (client != NULL && json_object_set_new(f, "client", json_string(client))) ||
	    (limit > 0 && json_object_set_new(f, "limit", json_integer(limit))) ||
	    (filter = json_dumps(f, JSON_COMPACT)) == NULL)
		rc = veld__err(VELD_ENOMEM, "out of memory");
	else
		rc = veld_audit_list(s->store, filter, res);
	str_free(filter);
	json_decref(f);
	return rc;
}

static int32_t run_audit_verify(veld_session *s, const struct request *r, char **res)
{
	uint64_t entries = 0;
	int32_t rc = veld_audit_verify(s->store, &entries);
	(void)r;
	if (rc != VELD_OK)
		return rc;
	return json_text(json_pack("{s:b,s:I}", "ok", 1, "entries", (json_int_t)entries), res);
}

/* info and schema: the store's JSON as it is. Neither holds personal data
 * nor needs the keys, so both answer while the session is locked (a lock
 * screen may show the team) and do not count as use (CALL_PLAIN). */
static int32_t run_info(veld_session *s, const struct request *r, char **res)
{
	(void)r;
	return veld_store_info(s->store, res);
}

static int32_t run_schema(veld_session *s, const struct request *r, char **res)
{
	(void)r;
	return veld_schema_json(s->store, res);
}

/* ---- sync ------------------------------------------------------------------- */

struct trampoline {
	veld_session *s;
	veld_progress_cb cb;
	void *payload;
};

/* Runs on the syncing thread, outside the store's mutex. A cancel that
 * came before the store registered the sync is caught here. */
static int progress_trampoline(const veld_sync_progress *p, void *payload)
{
	struct trampoline *t = payload;
	veld_progress q;
	if (atomic_load(&t->s->cancel))
		return 1;
	if (t->cb == NULL)
		return 0;
	memset(&q, 0, sizeof q);
	q.version = PROGRESS_VERSION;
	q.phase = p->phase;
	q.pushed = p->pushed;
	q.push_total = p->push_total;
	q.pulled = p->pulled;
	q.applied = p->applied;
	q.elapsed_ms = p->elapsed_ms;
	return t->cb(&q, t->payload) != 0;
}

/* The network options of enroll and sync (NET_KEYS), with the progress
 * going through the trampoline `t`. */
static void net_options(const struct request *r, struct trampoline *t, veld_sync_options *o)
{
	veld_sync_options_init(o);
	o->insecure_http = json_is_true(json_object_get(r->json, "insecure_http"));
	o->ca_file = req_str(r, "ca_file");
	o->ca_pem = req_str(r, "ca_pem");
	o->pinned_key = req_str(r, "pinned_key");
	o->timeout_ms = (uint32_t)req_int(r, "timeout_ms");
	/* JSON 0 asks for no retries; in the C options 0 is the default. */
	o->max_retries = req_int(r, "max_retries") == 0 ? (uint32_t)VELD_SYNC_RETRIES_NONE
	                                                : (uint32_t)req_int(r, "max_retries");
	o->push_batch = (uint32_t)req_int(r, "push_batch");
	o->pull_page = (uint32_t)req_int(r, "pull_page");
	o->max_skew_s = (uint32_t)req_int(r, "max_skew_s");
	o->checkpoint_max_age_s = (uint32_t)req_int(r, "checkpoint_max_age_s");
	o->progress = progress_trampoline;
	o->payload = t;
}

static int32_t run_enroll(veld_session *s, const struct request *r, char **res)
{
	struct trampoline t = {s, NULL, NULL};
	veld_sync_options o;
	net_options(r, &t, &o);
	if (atomic_load(&s->cancel))
		return veld__err(VELD_ECANCELLED, "enroll cancelled");
	return veld_enroll(s->store, req_str(r, "url"), req_str(r, "code"), req_str(r, "label"),
		&o, res);
}

static int32_t run_sync(veld_session *s, const struct request *r, char **res)
{
	struct trampoline t = {s, r->progress, r->payload};
	veld_sync_options o;
	net_options(r, &t, &o);
	if (atomic_load(&s->cancel))
		return veld__err(VELD_ECANCELLED, "sync cancelled");
	return veld_sync(s->store, &o, res);
}

/* ---- the table of calls and the dispatcher ------------------------------------ */

/* The keys of the network options (docs/mobile.md); 0 for push_batch,
 * pull_page, max_skew_s and checkpoint_max_age_s leaves sync's own default. */
#define NET_KEYS BOOL_OPT("insecure_http"), STR_OPT("ca_file"), STR_OPT("ca_pem"), \
	STR_OPT("pinned_key"), \
	INT_OPT("timeout_ms", 1, 600000, 30000), INT_OPT("max_retries", 0, 100, 5), \
	INT_OPT("push_batch", 1, 1000, 0), INT_OPT("pull_page", 1, 5000, 0), \
	INT_OPT("max_skew_s", 1, 604800, 0), INT_OPT("checkpoint_max_age_s", 1, 31536000, 0)

struct call_spec {
	const char *name;
	int kind; /* CALL_PLAIN, CALL_KEYS or CALL_SYNC: what enter checks */
	int32_t (*run)(veld_session *s, const struct request *r, char **res);
	struct key_spec keys[MAX_KEYS]; /* in the order they are checked */
};

enum {
	REQ_RECORD_CREATE, REQ_RECORD_GET, REQ_RECORD_LIST, REQ_RECORD_UPDATE, REQ_RECORD_DELETE,
	REQ_SCORES, REQ_CLIENT_PROGRESS, REQ_DUE, REQ_CONFLICTS_LIST, REQ_CONFLICT_RESOLVE,
	REQ_AUDIT_LIST, REQ_AUDIT_VERIFY, REQ_INFO, REQ_SCHEMA, REQ_ENROLL, REQ_SYNC
};

static const struct call_spec calls[] = {
	[REQ_RECORD_CREATE] = {"veld_session_record_create", CALL_KEYS, run_record_create,
		{STR_REQ("type"), STR_OPT("purpose"), OBJ_REQ("fields")}},
	[REQ_RECORD_GET] = {"veld_session_record_get", CALL_KEYS, run_record_get,
		{STR_REQ("type"), STR_REQ("id"), STR_OPT("purpose")}},
	[REQ_RECORD_LIST] = {"veld_session_record_list", CALL_KEYS, run_record_list,
		{STR_REQ("type"), STR_OPT("purpose"), OBJ_OPT("filter")}},
	[REQ_RECORD_UPDATE] = {"veld_session_record_update", CALL_KEYS, run_record_update,
		{STR_REQ("type"), STR_REQ("id"), STR_OPT("purpose"), OBJ_REQ("fields")}},
	[REQ_RECORD_DELETE] = {"veld_session_record_delete", CALL_KEYS, run_record_delete,
		{STR_REQ("type"), STR_REQ("id"), STR_OPT("purpose")}},
	[REQ_SCORES] = {"veld_session_scores", CALL_KEYS, run_scores,
		{STR_REQ("client"), STR_OPT("purpose")}},
	[REQ_CLIENT_PROGRESS] = {"veld_session_client_progress", CALL_KEYS, run_client_progress,
		{STR_REQ("client"), STR_OPT("purpose")}},
	[REQ_DUE] = {"veld_session_due", CALL_KEYS, run_due,
		{INT_OPT("days", 0, 366, 14), STR_OPT("today"), BOOL_OPT("all"), STR_OPT("team"),
		 BOOL_OPT("by_worker"), STR_OPT("purpose")}},
	[REQ_CONFLICTS_LIST] = {"veld_session_conflicts_list", CALL_KEYS, run_conflicts_list,
		{STR_OPT("purpose")}},
	[REQ_CONFLICT_RESOLVE] = {"veld_session_conflict_resolve", CALL_KEYS, run_conflict_resolve,
		{STR_REQ("type"), STR_REQ("id"), STR_REQ("field"), STR_OPT("purpose"),
		 ANY_REQ("value")}},
	[REQ_AUDIT_LIST] = {"veld_session_audit_list", CALL_KEYS, run_audit_list,
		{STR_OPT("client"), INT_OPT("limit", 1, INT32_MAX, 0)}},
	[REQ_AUDIT_VERIFY] = {"veld_session_audit_verify", CALL_KEYS, run_audit_verify, {{0}}},
	[REQ_INFO] = {"veld_session_info", CALL_PLAIN, run_info, {{0}}},
	[REQ_SCHEMA] = {"veld_session_schema", CALL_PLAIN, run_schema, {{0}}},
	[REQ_ENROLL] = {"veld_session_enroll", CALL_SYNC, run_enroll,
		{STR_REQ("url"), STR_SECRET("code"), STR_OPT("label"), NET_KEYS}},
	[REQ_SYNC] = {"veld_session_sync", CALL_SYNC, run_sync, {NET_KEYS}},
};

/* Every JSON call: start the call on the session, check the request
 * against the call's spec, run it, and hand its answer to the caller.
 * `progress` and `payload` are veld_session_sync's (NULL for the rest). */
static int32_t dispatch(int which, veld_session *s, const uint8_t *request, size_t request_len,
                        veld_progress_cb progress, void *payload, veld_buf **out)
{
	const struct call_spec *c = &calls[which];
	struct request r = {c->name, c->keys, NULL, {NULL}, progress, payload};
	char *res = NULL;
	int32_t rc;

	if (out != NULL)
		*out = NULL;
	if ((rc = enter(s, c->kind)) != VELD_OK)
		return rc;
	if ((rc = req_load(&r, request, request_len)) == VELD_OK &&
	    (rc = c->run(s, &r, &res)) == VELD_OK)
		rc = give(res, out);
	else
		str_free(res);
	req_done(&r);
	leave(s, c->kind);
	return rc;
}

/* ---- the public calls: one line each into the dispatcher ---------------------- */

int32_t veld_session_record_create(veld_session *s, const uint8_t *request, size_t request_len,
	veld_buf **out)
{
	return dispatch(REQ_RECORD_CREATE, s, request, request_len, NULL, NULL, out);
}

int32_t veld_session_record_get(veld_session *s, const uint8_t *request, size_t request_len,
	veld_buf **out)
{
	return dispatch(REQ_RECORD_GET, s, request, request_len, NULL, NULL, out);
}

int32_t veld_session_record_list(veld_session *s, const uint8_t *request, size_t request_len,
	veld_buf **out)
{
	return dispatch(REQ_RECORD_LIST, s, request, request_len, NULL, NULL, out);
}

int32_t veld_session_record_update(veld_session *s, const uint8_t *request, size_t request_len,
	veld_buf **out)
{
	return dispatch(REQ_RECORD_UPDATE, s, request, request_len, NULL, NULL, out);
}

int32_t veld_session_record_delete(veld_session *s, const uint8_t *request, size_t request_len,
	veld_buf **out)
{
	return dispatch(REQ_RECORD_DELETE, s, request, request_len, NULL, NULL, out);
}

int32_t veld_session_scores(veld_session *s, const uint8_t *request, size_t request_len,
	veld_buf **out)
{
	return dispatch(REQ_SCORES, s, request, request_len, NULL, NULL, out);
}

int32_t veld_session_client_progress(veld_session *s, const uint8_t *request,
	size_t request_len, veld_buf **out)
{
	return dispatch(REQ_CLIENT_PROGRESS, s, request, request_len, NULL, NULL, out);
}

int32_t veld_session_due(veld_session *s, const uint8_t *request, size_t request_len,
	veld_buf **out)
{
	return dispatch(REQ_DUE, s, request, request_len, NULL, NULL, out);
}

int32_t veld_session_conflicts_list(veld_session *s, const uint8_t *request, size_t request_len,
	veld_buf **out)
{
	return dispatch(REQ_CONFLICTS_LIST, s, request, request_len, NULL, NULL, out);
}

int32_t veld_session_conflict_resolve(veld_session *s, const uint8_t *request,
	size_t request_len, veld_buf **out)
{
	return dispatch(REQ_CONFLICT_RESOLVE, s, request, request_len, NULL, NULL, out);
}

int32_t veld_session_audit_list(veld_session *s, const uint8_t *request, size_t request_len,
	veld_buf **out)
{
	return dispatch(REQ_AUDIT_LIST, s, request, request_len, NULL, NULL, out);
}

int32_t veld_session_audit_verify(veld_session *s, const uint8_t *request, size_t request_len,
	veld_buf **out)
{
	return dispatch(REQ_AUDIT_VERIFY, s, request, request_len, NULL, NULL, out);
}

int32_t veld_session_info(veld_session *s, const uint8_t *request, size_t request_len,
	veld_buf **out)
{
	return dispatch(REQ_INFO, s, request, request_len, NULL, NULL, out);
}

int32_t veld_session_schema(veld_session *s, const uint8_t *request, size_t request_len,
	veld_buf **out)
{
	return dispatch(REQ_SCHEMA, s, request, request_len, NULL, NULL, out);
}

int32_t veld_session_enroll(veld_session *s, const uint8_t *request, size_t request_len,
	veld_buf **out)
{
	return dispatch(REQ_ENROLL, s, request, request_len, NULL, NULL, out);
}

int32_t veld_session_sync(veld_session *s, const uint8_t *request, size_t request_len,
	veld_progress_cb progress, veld_buf **out, void *payload)
{
	return dispatch(REQ_SYNC, s, request, request_len, progress, payload, out);
}

void veld_session_cancel(veld_session *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	if (s->syncing > 0)
		atomic_store(&s->cancel, 1);
	pthread_mutex_unlock(&s->mu);
	veld_sync_cancel(s->store);
}
