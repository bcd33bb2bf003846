/*
 * bridge.c - the stable C ABI for phone apps (veld_bridge.h) over the store
 * (veld.h) and sync (veld_sync.h).
 *
 * The bridge is thin on purpose: requests are parsed and checked here
 * (UTF-8, lengths, known keys), then handed to the store, whose answer goes
 * back as a veld_buf. What the bridge adds is its own state, the lock state
 * and the idle timer, and a way to close a session that another thread is
 * still syncing on.
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

struct named {
	const char *name;
	int64_t value;
	const char *description; /* codes only */
};

static const struct named codes[] = {
	{"VELD_OK", VELD_OK, NULL},
	{"VELD_ERROR", VELD_ERROR, NULL},
	{"VELD_ENOMEM", VELD_ENOMEM, NULL},
	{"VELD_EINVAL", VELD_EINVAL, NULL},
	{"VELD_ENOTFOUND", VELD_ENOTFOUND, NULL},
	{"VELD_EAUTH", VELD_EAUTH, NULL},
	{"VELD_ECORRUPT", VELD_ECORRUPT, NULL},
	{"VELD_EIO", VELD_EIO, NULL},
	{"VELD_EEXISTS", VELD_EEXISTS, NULL},
	{"VELD_ESCHEMA", VELD_ESCHEMA, NULL},
	{"VELD_ELOCKED", VELD_ELOCKED, NULL},
	{"VELD_ESHREDDED", VELD_ESHREDDED, NULL},
	{"VELD_EPERM", VELD_EPERM, NULL},
	{"VELD_EBUSY", VELD_EBUSY, NULL},
	{"VELD_ENET", VELD_ENET, NULL},
	{"VELD_EPROTO", VELD_EPROTO, NULL},
	{"VELD_EREVOKED", VELD_EREVOKED, NULL},
	{"VELD_ECANCELLED", VELD_ECANCELLED, NULL},
};

static const struct named others[] = {
	{"VELD_PHASE_PUSH", VELD_PHASE_PUSH, NULL},
	{"VELD_PHASE_PULL", VELD_PHASE_PULL, NULL},
	{"VELD_BRIDGE_KEY_BYTES", VELD_BRIDGE_KEY_BYTES, NULL},
	{"VELD_BRIDGE_ABI_MAJOR", VELD_BRIDGE_ABI_MAJOR, NULL},
	{"VELD_BRIDGE_ABI_MINOR", VELD_BRIDGE_ABI_MINOR, NULL},
	{"VELD_BRIDGE_ABI_VERSION", VELD_BRIDGE_ABI_VERSION, NULL},
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

/* The same for a JSON value (consumed). */
static int32_t give_json(json_t *j, veld_buf **out)
{
	char *s;
	if (j == NULL)
		return veld__err(VELD_ENOMEM, "out of memory");
	if (out == NULL) {
		json_decref(j);
		return VELD_OK;
	}
	s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(j);
	return buf_take(s, out);
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

/* Parse a request: a JSON object whose keys are all in `allowed`. NULL or
 * an empty request is {}. Messages quote the position and unknown key
 * names, never a value (a request may carry a client's name). */
static int32_t req_parse(const uint8_t *req, size_t len, const char *call,
                         const char *const *allowed, json_t **out)
{
	json_error_t e;
	json_t *j, *v;
	const char *key;

	*out = NULL;
	if (req == NULL && len != 0)
		return veld__err(VELD_EINVAL, "%s: the request is NULL but its length is not 0", call);
	if (req == NULL || len == 0) {
		*out = json_object();
		return *out != NULL ? VELD_OK : veld__err(VELD_ENOMEM, "out of memory");
	}
	if (!utf8_valid(req, len))
		return veld__err(VELD_EINVAL, "%s: the request is not valid UTF-8 or holds a NUL "
			"character", call);
	j = json_loadb((const char *)req, len, JSON_REJECT_DUPLICATES, &e);
	if (j == NULL)
		return veld__err(VELD_EINVAL, "%s: the request is not valid JSON (line %d, "
			"column %d)", call, e.line, e.column);
	if (!json_is_object(j)) {
		json_decref(j);
		return veld__err(VELD_EINVAL, "%s: the request must be a JSON object", call);
	}
	json_object_foreach(j, key, v) {
		const char *const *a = allowed;
		while (*a != NULL && strcmp(*a, key) != 0)
			a++;
		if (*a == NULL) {
			char shown[41];
			size_t i = 0;
			for (; key[i] != '\0' && i + 1 < sizeof shown; i++)
				shown[i] = (key[i] >= 0x20 && key[i] < 0x7f) ? key[i] : '?';
			shown[i] = '\0';
			json_decref(j);
			return veld__err(VELD_EINVAL, "%s: unknown request key \"%s\"", call, shown);
		}
	}
	*out = j;
	return VELD_OK;
}

/* A string member: required or optional (NULL when absent). */
static int32_t req_str(json_t *j, const char *call, const char *key, int required,
                       const char **out)
{
	json_t *v = json_object_get(j, key);
	*out = NULL;
	if (v == NULL || (json_is_null(v) && !required)) {
		if (required)
			return veld__err(VELD_EINVAL, "%s: \"%s\" is required", call, key);
		return VELD_OK;
	}
	if (!json_is_string(v) || json_string_length(v) == 0)
		return veld__err(VELD_EINVAL, "%s: \"%s\" must be a non-empty string", call, key);
	*out = json_string_value(v);
	return VELD_OK;
}

/* An integer member in [lo, hi]; *out keeps its value when absent. */
static int32_t req_int(json_t *j, const char *call, const char *key, json_int_t lo,
                       json_int_t hi, json_int_t *out)
{
	json_t *v = json_object_get(j, key);
	if (v == NULL || json_is_null(v))
		return VELD_OK;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return veld__err(VELD_EINVAL, "%s: \"%s\" must be a whole number from %lld to %lld",
			call, key, (long long)lo, (long long)hi);
	*out = json_integer_value(v);
	return VELD_OK;
}

/* An object member as compact JSON text (wipe with str_free). */
static int32_t req_object_text(json_t *j, const char *call, const char *key, int required,
                               char **out)
{
	json_t *v = json_object_get(j, key);
	*out = NULL;
	if (v == NULL || (json_is_null(v) && !required)) {
		if (required)
			return veld__err(VELD_EINVAL, "%s: \"%s\" is required", call, key);
		return VELD_OK;
	}
	if (!json_is_object(v))
		return veld__err(VELD_EINVAL, "%s: \"%s\" must be a JSON object", call, key);
	*out = json_dumps(v, JSON_COMPACT);
	return *out != NULL ? VELD_OK : veld__err(VELD_ENOMEM, "out of memory");
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

static int32_t parse_options(const uint8_t *opts, size_t len, int create,
                             veld_store_options *so, uint32_t *autolock, json_t **keep)
{
	static const char *const allowed[] = {"user", "role", "team", "kdf_memory_mib",
		"kdf_passes", "autolock_seconds", NULL};
	const char *call = create ? "veld_session_create" : "veld_session_open";
	json_int_t mib = 0, passes = 0, idle = 0;
	json_t *j;
	int32_t rc;

	veld_store_options_init(so);
	if ((rc = req_parse(opts, len, call, allowed, &j)) != VELD_OK)
		return rc;
	if ((rc = req_str(j, call, "user", 0, &so->user)) != VELD_OK ||
	    (rc = req_str(j, call, "role", 0, &so->role)) != VELD_OK ||
	    (rc = req_str(j, call, "team", 0, &so->team)) != VELD_OK ||
	    (rc = req_int(j, call, "kdf_memory_mib", VELD_KDF_MEMLIMIT_MIN >> 20, 4096,
	                  &mib)) != VELD_OK ||
	    (rc = req_int(j, call, "kdf_passes", VELD_KDF_OPSLIMIT_MIN, 64, &passes)) != VELD_OK ||
	    (rc = req_int(j, call, "autolock_seconds", 0, UINT32_MAX, &idle)) != VELD_OK) {
		json_decref(j);
		return rc;
	}
	so->kdf_memlimit = (uint64_t)mib << 20;
	so->kdf_opslimit = (uint64_t)passes;
	*autolock = (uint32_t)idle;
	*keep = j; /* so->user etc. point into it */
	return VELD_OK;
}

enum { BY_PASSPHRASE, BY_KEY };

static int32_t session_make(veld_session **out, const uint8_t *dir, size_t dir_len,
                            const uint8_t *secret, size_t secret_len, int by, int create,
                            const uint8_t *opts, size_t opts_len)
{
	veld_store_options so;
	veld_session *s = NULL;
	json_t *keep = NULL;
	char *path = NULL;
	uint32_t autolock = 0;
	int32_t rc;

	veld__err_clear();
	if (out == NULL)
		return veld__err(VELD_EINVAL, "out is required");
	*out = NULL;
	if ((rc = str_arg(dir, dir_len, "the store directory", &path)) != VELD_OK)
		return rc;
	if (by == BY_KEY && (secret == NULL || secret_len != VELD_BRIDGE_KEY_BYTES)) {
		rc = veld__err(VELD_EINVAL, "a key is %d bytes", VELD_BRIDGE_KEY_BYTES);
		goto done;
	}
	if (by == BY_PASSPHRASE && (secret == NULL || secret_len == 0)) {
		rc = veld__err(VELD_EINVAL, "the passphrase is empty");
		goto done;
	}
	if ((rc = parse_options(opts, opts_len, create, &so, &autolock, &keep)) != VELD_OK)
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
	json_decref(keep);
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
	if (by == BY_KEY && (secret == NULL || len != VELD_BRIDGE_KEY_BYTES))
		rc = veld__err(VELD_EINVAL, "a key is %d bytes", VELD_BRIDGE_KEY_BYTES);
	else if (by == BY_PASSPHRASE && (secret == NULL || len == 0))
		rc = veld__err(VELD_EINVAL, "the passphrase is empty");
	if (rc == VELD_OK) {
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

/* ---- records ---------------------------------------------------------------- */

static const char *const with_type_id[] = {"type", "id", "purpose", NULL};

int32_t veld_session_record_create(veld_session *s, const uint8_t *request, size_t request_len,
	veld_buf **out)
{
	static const char *const allowed[] = {"type", "fields", "purpose", NULL};
	static const char call[] = "veld_session_record_create";
	const char *kind, *purpose;
	char *fields = NULL, *res = NULL;
	json_t *j = NULL;
	int32_t rc;

	if (out != NULL)
		*out = NULL;
	if ((rc = enter(s, CALL_KEYS)) != VELD_OK)
		return rc;
	if ((rc = req_parse(request, request_len, call, allowed, &j)) == VELD_OK &&
	    (rc = req_str(j, call, "type", 1, &kind)) == VELD_OK &&
	    (rc = req_str(j, call, "purpose", 0, &purpose)) == VELD_OK &&
	    (rc = req_object_text(j, call, "fields", 1, &fields)) == VELD_OK &&
	    (rc = veld_record_create(s->store, kind, fields, purpose, &res)) == VELD_OK)
		rc = give(res, out);
	str_free(fields);
	json_decref(j);
	leave(s, CALL_KEYS);
	return rc;
}

int32_t veld_session_record_update(veld_session *s, const uint8_t *request, size_t request_len,
	veld_buf **out)
{
	static const char *const allowed[] = {"type", "id", "fields", "purpose", NULL};
	static const char call[] = "veld_session_record_update";
	const char *kind, *id, *purpose;
	char *fields = NULL, *res = NULL;
	json_t *j = NULL;
	int32_t rc;

	if (out != NULL)
		*out = NULL;
	if ((rc = enter(s, CALL_KEYS)) != VELD_OK)
		return rc;
	if ((rc = req_parse(request, request_len, call, allowed, &j)) == VELD_OK &&
	    (rc = req_str(j, call, "type", 1, &kind)) == VELD_OK &&
	    (rc = req_str(j, call, "id", 1, &id)) == VELD_OK &&
	    (rc = req_str(j, call, "purpose", 0, &purpose)) == VELD_OK &&
	    (rc = req_object_text(j, call, "fields", 1, &fields)) == VELD_OK &&
	    (rc = veld_record_update(s->store, kind, id, fields, purpose, &res)) == VELD_OK)
		rc = give(res, out);
	str_free(fields);
	json_decref(j);
	leave(s, CALL_KEYS);
	return rc;
}

int32_t veld_session_record_get(veld_session *s, const uint8_t *request, size_t request_len,
	veld_buf **out)
{
	static const char call[] = "veld_session_record_get";
	const char *kind, *id, *purpose;
	char *res = NULL;
	json_t *j = NULL;
	int32_t rc;

	if (out != NULL)
		*out = NULL;
	if ((rc = enter(s, CALL_KEYS)) != VELD_OK)
		return rc;
	if ((rc = req_parse(request, request_len, call, with_type_id, &j)) == VELD_OK &&
	    (rc = req_str(j, call, "type", 1, &kind)) == VELD_OK &&
	    (rc = req_str(j, call, "id", 1, &id)) == VELD_OK &&
	    (rc = req_str(j, call, "purpose", 0, &purpose)) == VELD_OK &&
	    (rc = veld_record_get(s->store, kind, id, purpose, &res)) == VELD_OK)
		rc = give(res, out);
	json_decref(j);
	leave(s, CALL_KEYS);
	return rc;
}

int32_t veld_session_record_list(veld_session *s, const uint8_t *request, size_t request_len,
	veld_buf **out)
{
	static const char *const allowed[] = {"type", "filter", "purpose", NULL};
	static const char call[] = "veld_session_record_list";
	const char *kind, *purpose;
	char *filter = NULL, *res = NULL;
	json_t *j = NULL;
	int32_t rc;

	if (out != NULL)
		*out = NULL;
	if ((rc = enter(s, CALL_KEYS)) != VELD_OK)
		return rc;
	if ((rc = req_parse(request, request_len, call, allowed, &j)) == VELD_OK &&
	    (rc = req_str(j, call, "type", 1, &kind)) == VELD_OK &&
	    (rc = req_str(j, call, "purpose", 0, &purpose)) == VELD_OK &&
	    (rc = req_object_text(j, call, "filter", 0, &filter)) == VELD_OK &&
	    (rc = veld_record_list(s->store, kind, filter, purpose, &res)) == VELD_OK)
		rc = give(res, out);
	str_free(filter);
	json_decref(j);
	leave(s, CALL_KEYS);
	return rc;
}

int32_t veld_session_record_delete(veld_session *s, const uint8_t *request, size_t request_len,
	veld_buf **out)
{
	static const char call[] = "veld_session_record_delete";
	const char *kind, *id, *purpose;
	json_t *j = NULL;
	int32_t rc;

	if (out != NULL)
		*out = NULL;
	if ((rc = enter(s, CALL_KEYS)) != VELD_OK)
		return rc;
	if ((rc = req_parse(request, request_len, call, with_type_id, &j)) == VELD_OK &&
	    (rc = req_str(j, call, "type", 1, &kind)) == VELD_OK &&
	    (rc = req_str(j, call, "id", 1, &id)) == VELD_OK &&
	    (rc = req_str(j, call, "purpose", 0, &purpose)) == VELD_OK &&
	    (rc = veld_record_delete(s->store, kind, id, purpose)) == VELD_OK)
		rc = give_json(json_pack("{s:s,s:s,s:b}", "type", kind, "id", id, "deleted", 1), out);
	json_decref(j);
	leave(s, CALL_KEYS);
	return rc;
}

/* ---- scores: a client's ZRM scores over its visits ------------------------- */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const unsigned yoe = (unsigned)(y - era * 400);
	const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* Milliseconds since the epoch of a time the store accepted
 * (YYYY-MM-DDTHH:MM[:SS[.fff]][Z|+HH:MM|-HH:MM]; no zone is read as UTC),
 * or of a date. 0 if it does not parse: it then sorts first. */
static int64_t instant_ms(const char *t)
{
	int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0, n = 0;
	int64_t off = 0;
	const char *p;
	if (t == NULL || sscanf(t, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
		return 0;
	p = t + 10;
	if (*p == 'T' || *p == ' ') {
		if (sscanf(p + 1, "%2d:%2d%n", &h, &mi, &n) != 2)
			return 0;
		p += 1 + n;
		if (*p == ':' && sscanf(p + 1, "%2d%n", &sec, &n) == 1) {
			p += 1 + n;
			if (*p == '.') {
				int scale = 100;
				for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
					ms += scale > 0 ? (*p - '0') * scale : 0;
			}
		}
		if ((*p == '+' || *p == '-') && strlen(p) == 6) {
			off = ((int64_t)atoi(p + 1) * 60 + atoi(p + 4)) * 60000;
			if (*p == '+')
				off = -off;
		}
	}
	return ((days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec)
	        * 1000 + ms + off);
}

/* The time a visit's scores are for: started, else planned, else when it
 * was recorded. */
static const char *visit_time(json_t *v)
{
	static const char *const keys[] = {"started", "planned", "created"};
	for (size_t i = 0; i < COUNT(keys); i++) {
		const char *t = json_string_value(json_object_get(v, keys[i]));
		if (t != NULL)
			return t;
	}
	return "";
}

static int by_time(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int64_t tx = instant_ms(json_string_value(json_object_get(x, "at")));
	int64_t ty = instant_ms(json_string_value(json_object_get(y, "at")));
	if (tx != ty)
		return tx < ty ? -1 : 1;
	return strcmp(json_string_value(json_object_get(x, "visit")),
	              json_string_value(json_object_get(y, "visit")));
}

/* {"client","history":[{"visit","at","zrm_version","scores"}...] oldest
 * first,"latest":{domain:{"score","visit","at"}}} */
static json_t *scores_of(const char *client, json_t *visits)
{
	json_t *res, *hist, *latest, *v, **rows;
	size_t i, n = 0;

	if ((rows = calloc(json_array_size(visits) + 1, sizeof *rows)) == NULL)
		return NULL;
	json_array_foreach(visits, i, v) {
		json_t *sc = json_object_get(v, "scores");
		if (!json_is_object(sc) || json_object_size(sc) == 0)
			continue;
		rows[n] = json_pack("{s:O,s:s,s:O,s:O}", "visit", json_object_get(v, "id"),
			"at", visit_time(v), "zrm_version", json_object_get(v, "zrm_version") ?
			json_object_get(v, "zrm_version") : json_null(), "scores", sc);
		if (rows[n] == NULL)
			goto fail;
		n++;
	}
	qsort(rows, n, sizeof *rows, by_time);
	res = json_pack("{s:s,s:[],s:{}}", "client", client, "history", "latest");
	if (res == NULL)
		goto fail;
	hist = json_object_get(res, "history");
	latest = json_object_get(res, "latest");
	for (i = 0; i < n; i++) {
		const char *dom;
		json_t *score;
		json_object_foreach(json_object_get(rows[i], "scores"), dom, score)
			json_object_set_new(latest, dom, json_pack("{s:O,s:O,s:O}", "score", score,
				"visit", json_object_get(rows[i], "visit"),
				"at", json_object_get(rows[i], "at")));
		json_array_append_new(hist, rows[i]);
	}
	free(rows);
	return res;
fail:
	while (n > 0)
		json_decref(rows[--n]);
	free(rows);
	return NULL;
}

int32_t veld_session_scores(veld_session *s, const uint8_t *request, size_t request_len,
	veld_buf **out)
{
	static const char *const allowed[] = {"client", "purpose", NULL};
	static const char call[] = "veld_session_scores";
	const char *client, *purpose;
	char *filter = NULL, *res = NULL;
	json_t *j = NULL, *f = NULL, *visits = NULL;
	int32_t rc;

	if (out != NULL)
		*out = NULL;
	if ((rc = enter(s, CALL_KEYS)) != VELD_OK)
		return rc;
	if ((rc = req_parse(request, request_len, call, allowed, &j)) != VELD_OK ||
	    (rc = req_str(j, call, "client", 1, &client)) != VELD_OK ||
	    (rc = req_str(j, call, "purpose", 0, &purpose)) != VELD_OK)
		goto done;
	/* The client record is read first so an unknown or erased client is
	 * an error, not an empty history. */
	if ((rc = veld_record_get(s->store, "client", client, purpose, &res)) != VELD_OK)
		goto done;
	/* From here on the full id, not the prefix the app may have given. */
	f = json_loads(res, 0, NULL);
	str_free(res);
	res = NULL;
	if (!json_is_string(json_object_get(f, "id"))) {
		rc = veld__err(VELD_ERROR, "%s: the store returned a client without an id", call);
		goto done;
	}
	json_object_set_new(j, "client", json_copy(json_object_get(f, "id")));
	client = json_string_value(json_object_get(j, "client"));
	json_decref(f);
	f = json_pack("{s:s}", "client", client);
	if (f == NULL || (filter = json_dumps(f, JSON_COMPACT)) == NULL) {
		rc = veld__err(VELD_ENOMEM, "out of memory");
		goto done;
	}
	if ((rc = veld_record_list(s->store, "visit", filter, purpose, &res)) != VELD_OK)
		goto done;
	visits = json_loads(res, 0, NULL);
	if (!json_is_array(visits)) {
		rc = veld__err(VELD_ERROR, "%s: the store returned no list", call);
		goto done;
	}
	rc = give_json(scores_of(client, visits), out);
done:
	json_decref(f);
	json_decref(visits);
	str_free(res);
	str_free(filter);
	json_decref(j);
	leave(s, CALL_KEYS);
	return rc;
}

/* ---- conflicts, access log, info -------------------------------------------- */

int32_t veld_session_conflicts_list(veld_session *s, const uint8_t *request, size_t request_len,
	veld_buf **out)
{
	static const char *const allowed[] = {"purpose", NULL};
	static const char call[] = "veld_session_conflicts_list";
	const char *purpose;
	char *res = NULL;
	json_t *j = NULL;
	int32_t rc;

	if (out != NULL)
		*out = NULL;
	if ((rc = enter(s, CALL_KEYS)) != VELD_OK)
		return rc;
	if ((rc = req_parse(request, request_len, call, allowed, &j)) == VELD_OK &&
	    (rc = req_str(j, call, "purpose", 0, &purpose)) == VELD_OK &&
	    (rc = veld_conflicts_list(s->store, purpose, &res)) == VELD_OK)
		rc = give(res, out);
	json_decref(j);
	leave(s, CALL_KEYS);
	return rc;
}

int32_t veld_session_conflict_resolve(veld_session *s, const uint8_t *request,
	size_t request_len, veld_buf **out)
{
	static const char *const allowed[] = {"type", "id", "field", "value", "purpose", NULL};
	static const char call[] = "veld_session_conflict_resolve";
	const char *kind, *id, *field, *purpose;
	char *value = NULL;
	json_t *j = NULL;
	int32_t rc;

	if (out != NULL)
		*out = NULL;
	if ((rc = enter(s, CALL_KEYS)) != VELD_OK)
		return rc;
	if ((rc = req_parse(request, request_len, call, allowed, &j)) != VELD_OK ||
	    (rc = req_str(j, call, "type", 1, &kind)) != VELD_OK ||
	    (rc = req_str(j, call, "id", 1, &id)) != VELD_OK ||
	    (rc = req_str(j, call, "field", 1, &field)) != VELD_OK ||
	    (rc = req_str(j, call, "purpose", 0, &purpose)) != VELD_OK)
		goto done;
	if (json_object_get(j, "value") == NULL) {
		rc = veld__err(VELD_EINVAL, "%s: \"value\" is required", call);
		goto done;
	}
	if ((value = json_dumps(json_object_get(j, "value"), JSON_COMPACT | JSON_ENCODE_ANY)) == NULL) {
		rc = veld__err(VELD_ENOMEM, "out of memory");
		goto done;
	}
	if ((rc = veld_conflict_resolve(s->store, kind, id, field, value, purpose)) == VELD_OK)
		rc = give_json(json_pack("{s:s,s:s,s:s,s:b}", "type", kind, "id", id, "field", field,
			"resolved", 1), out);
done:
	str_free(value);
	json_decref(j);
	leave(s, CALL_KEYS);
	return rc;
}

int32_t veld_session_audit_list(veld_session *s, const uint8_t *request, size_t request_len,
	veld_buf **out)
{
	static const char *const allowed[] = {"client", "limit", NULL};
	static const char call[] = "veld_session_audit_list";
	const char *client;
	json_int_t limit = -1;
	char *filter = NULL, *res = NULL;
	json_t *j = NULL, *f = NULL;
	int32_t rc;

	if (out != NULL)
		*out = NULL;
	if ((rc = enter(s, CALL_KEYS)) != VELD_OK)
		return rc;
	if ((rc = req_parse(request, request_len, call, allowed, &j)) != VELD_OK ||
	    (rc = req_str(j, call, "client", 0, &client)) != VELD_OK ||
	    (rc = req_int(j, call, "limit", 1, INT32_MAX, &limit)) != VELD_OK)
		goto done;
	f = json_object();
	if (f == NULL || (client != NULL && json_object_set_new(f, "client", json_string(client))) ||
	    (limit > 0 && json_object_set_new(f, "limit", json_integer(limit))) ||
	    (filter = json_dumps(f, JSON_COMPACT)) == NULL) {
		rc = veld__err(VELD_ENOMEM, "out of memory");
		goto done;
	}
	if ((rc = veld_audit_list(s->store, filter, &res)) == VELD_OK)
		rc = give(res, out);
done:
	str_free(filter);
	json_decref(f);
	json_decref(j);
	leave(s, CALL_KEYS);
	return rc;
}

int32_t veld_session_audit_verify(veld_session *s, const uint8_t *request, size_t request_len,
	veld_buf **out)
{
	static const char *const allowed[] = {NULL};
	uint64_t entries = 0;
	json_t *j = NULL;
	int32_t rc;

	if (out != NULL)
		*out = NULL;
	if ((rc = enter(s, CALL_KEYS)) != VELD_OK)
		return rc;
	if ((rc = req_parse(request, request_len, "veld_session_audit_verify", allowed, &j)) ==
	        VELD_OK &&
	    (rc = veld_audit_verify(s->store, &entries)) == VELD_OK)
		rc = give_json(json_pack("{s:b,s:I}", "ok", 1, "entries", (json_int_t)entries), out);
	json_decref(j);
	leave(s, CALL_KEYS);
	return rc;
}

/* info and schema: no request keys, the store's JSON as it is. Neither
 * holds personal data nor needs the keys, so both answer while the session
 * is locked (a lock screen may show the team) and do not count as use. */
static int32_t plain_call(veld_session *s, const uint8_t *request, size_t request_len,
                          veld_buf **out, const char *call,
                          int (*fn)(veld_store *, char **))
{
	static const char *const allowed[] = {NULL};
	char *res = NULL;
	json_t *j = NULL;
	int32_t rc;

	if (out != NULL)
		*out = NULL;
	if ((rc = enter(s, CALL_PLAIN)) != VELD_OK)
		return rc;
	if ((rc = req_parse(request, request_len, call, allowed, &j)) == VELD_OK &&
	    (rc = fn(s->store, &res)) == VELD_OK)
		rc = give(res, out);
	json_decref(j);
	leave(s, CALL_PLAIN);
	return rc;
}

int32_t veld_session_info(veld_session *s, const uint8_t *request, size_t request_len,
	veld_buf **out)
{
	return plain_call(s, request, request_len, out, "veld_session_info", veld_store_info);
}

int32_t veld_session_schema(veld_session *s, const uint8_t *request, size_t request_len,
	veld_buf **out)
{
	return plain_call(s, request, request_len, out, "veld_session_schema", veld_schema_json);
}

/* ---- sync ------------------------------------------------------------------- */

#define NET_KEYS "insecure_http", "ca_file", "timeout_ms", "max_retries", "push_batch", \
	"pull_page"

static int32_t net_options(json_t *j, const char *call, veld_sync_options *o)
{
	json_int_t timeout = 30000, retries = 5, batch = 0, page = 0;
	json_t *insecure = json_object_get(j, "insecure_http");
	int32_t rc;

	veld_sync_options_init(o);
	if (insecure != NULL && !json_is_boolean(insecure))
		return veld__err(VELD_EINVAL, "%s: \"insecure_http\" must be true or false", call);
	if ((rc = req_str(j, call, "ca_file", 0, &o->ca_file)) != VELD_OK ||
	    (rc = req_int(j, call, "timeout_ms", 1, 600000, &timeout)) != VELD_OK ||
	    (rc = req_int(j, call, "max_retries", 0, 100, &retries)) != VELD_OK ||
	    (rc = req_int(j, call, "push_batch", 1, 1000, &batch)) != VELD_OK ||
	    (rc = req_int(j, call, "pull_page", 1, 5000, &page)) != VELD_OK)
		return rc;
	o->insecure_http = json_is_true(insecure);
	o->timeout_ms = (uint32_t)timeout;
	o->max_retries = (uint32_t)retries;
	o->push_batch = (uint32_t)batch;
	o->pull_page = (uint32_t)page;
	return VELD_OK;
}

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

int32_t veld_session_enroll(veld_session *s, const uint8_t *request, size_t request_len,
	veld_buf **out)
{
	static const char *const allowed[] = {"url", "code", "label", NET_KEYS, NULL};
	static const char call[] = "veld_session_enroll";
	struct trampoline t = {s, NULL, NULL};
	veld_sync_options o;
	const char *url, *code, *label;
	char *res = NULL;
	json_t *j = NULL;
	int32_t rc;

	if (out != NULL)
		*out = NULL;
	if ((rc = enter(s, CALL_SYNC)) != VELD_OK)
		return rc;
	if ((rc = req_parse(request, request_len, call, allowed, &j)) != VELD_OK ||
	    (rc = req_str(j, call, "url", 1, &url)) != VELD_OK ||
	    (rc = req_str(j, call, "code", 1, &code)) != VELD_OK ||
	    (rc = req_str(j, call, "label", 0, &label)) != VELD_OK ||
	    (rc = net_options(j, call, &o)) != VELD_OK)
		goto done;
	o.progress = progress_trampoline;
	o.payload = &t;
	if (atomic_load(&s->cancel))
		rc = veld__err(VELD_ECANCELLED, "enroll cancelled");
	else if ((rc = veld_enroll(s->store, url, code, label, &o, &res)) == VELD_OK)
		rc = give(res, out);
done:
	if (j != NULL && json_is_string(json_object_get(j, "code")))
		sodium_memzero((char *)json_string_value(json_object_get(j, "code")),
			json_string_length(json_object_get(j, "code")));
	json_decref(j);
	leave(s, CALL_SYNC);
	return rc;
}

int32_t veld_session_sync(veld_session *s, const uint8_t *request, size_t request_len,
	veld_progress_cb progress, veld_buf **out, void *payload)
{
	static const char *const allowed[] = {NET_KEYS, NULL};
	static const char call[] = "veld_session_sync";
	struct trampoline t = {s, progress, payload};
	veld_sync_options o;
	char *res = NULL;
	json_t *j = NULL;
	int32_t rc;

	if (out != NULL)
		*out = NULL;
	if ((rc = enter(s, CALL_SYNC)) != VELD_OK)
		return rc;
	if ((rc = req_parse(request, request_len, call, allowed, &j)) == VELD_OK &&
	    (rc = net_options(j, call, &o)) == VELD_OK) {
		o.progress = progress_trampoline;
		o.payload = &t;
		if (atomic_load(&s->cancel))
			rc = veld__err(VELD_ECANCELLED, "sync cancelled");
		else if ((rc = veld_sync(s->store, &o, &res)) == VELD_OK)
			rc = give(res, out);
	}
	json_decref(j);
	leave(s, CALL_SYNC);
	return rc;
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
