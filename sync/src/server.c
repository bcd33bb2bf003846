/* server.c - the veld sync server: HTTP (libmicrohttpd), request
 * authentication, routing, and the server's lifecycle (veld_server.h).
 *
 * A request goes through these steps, each of which may refuse it:
 *
 *   first call of the access handler (headers read, no body yet):
 *     concurrency limit (503 busy), route (404), Content-Length above the
 *     limit (413), the signed headers: present and well-formed (401
 *     unauthenticated), a known device (401 unknown_device), not revoked
 *     (403 revoked), Veld-Time within the window (401 stale);
 *   while the body arrives: 413 as soon as it passes the limit;
 *   with the whole body: the signature (401 bad_signature), the nonce (409
 *     replay), office-only endpoints (403 forbidden), decoding (400
 *     malformed), then the endpoint itself in one store transaction.
 *
 * That is docs/protocol.md section 4's order. Enroll differs where it must:
 * its key is in the body, so the body is decoded before the signature is
 * checked. Everything that needs no state (parsing, hashing, signatures,
 * encoding) happens here, outside the store's lock; server_store.c does
 * the rest.
 *
 * The raw request URI (path and query exactly as sent, which the request
 * signature covers) comes from MHD's URI log callback, before MHD decodes
 * it. Per-request state lives in a per-connection struct (requests on one
 * connection are sequential), so nothing leaks when MHD drops a request
 * before it reaches the access handler.
 *
 * Nothing here logs or stores a body, a value, a query or a code. */
#include "veld_server.h"
#include "auth.h"
#include "error.h"
#include "hlc.h"
#include "server_store.h"
#include "wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_THREADS 4
#define DEFAULT_MAX_REQUESTS 64
#define DEFAULT_TIMEOUT_S 30
#define DEFAULT_PER_ADDRESS 32
#define DEFAULT_HEADER_TIMEOUT_S 20
#define DEFAULT_BODY_TIMEOUT_S 20
#define DEFAULT_BODY_MIN_RATE 500          /* bytes per second */
#define WATCH_TICK_MS 100                  /* how often deadlines are checked */
#define MAX_THREADS 256
#define URI_MAX 2048                       /* as auth.c signs */
#define SETUP_CODE_TTL_MS (24ull * 3600 * 1000)
#define TLS_PEM_MAX (1024u * 1024u)           /* a certificate chain or key */
#define DRAIN_MS 5000                      /* stop waits this long for requests */
/* Soft bound on a pull page's operation feed (operations, stubs, held
 * entries and their batches). It may be passed by one item and its batch
 * (< 100 KiB); the rest of the page is bounded by counts: envelopes ~330 KB,
 * team keys ~280 KB, notices ~720 KB, a checkpoint ~240 KB. So the whole
 * answer stays under the 4 MiB every decoder accepts (VELD_WIRE_MAX_BODY). */
#define PULL_BUDGET (2u * 1024u * 1024u)
/* An access-log page is its entries alone. */
#define AUDIT_BUDGET (3u * 1024u * 1024u)
#define JSON_TYPE "application/json"

struct veld_server {
	struct MHD_Daemon *daemon;
	struct veld__sstore *store;
	char *data_dir;
	int lock_fd;
	int listen_fd; /* owned by MHD while it runs */
	uint16_t port;
	char *setup_code; /* sodium_malloc'd text, or NULL */
	char *tls_cert;   /* copies of the PEM texts (the key in sodium_malloc'd
	                     memory), kept while MHD runs; NULL = plain HTTP */
	char *tls_key;
	uint64_t max_body;
	uint32_t max_requests;
	atomic_uint inflight;
	veld_server_log_cb log;
	void *log_payload;

	/* Deadlines of slow clients (see "slow clients" below). */
	uint64_t header_ms, body_ms;
	uint32_t body_rate;
	pthread_mutex_t watch_mu;   /* guards the list and watch_stop */
	pthread_cond_t watch_cv;    /* wakes the watcher to stop */
	struct connection *watched; /* every open connection */
	pthread_t watcher;
	int watching;               /* the watcher thread runs */
	int watch_stop;
};

enum route {
	R_NONE, R_HEALTH, R_ENROLL, R_INVITE, R_TEAM_KEYS, R_REVOKE, R_PUSH, R_PULL,
	R_DEVICES, R_AUDIT_PUSH, R_AUDIT_PULL, R_NOTICE, R_CHECKPOINT
};

/* The endpoints and what the dispatcher does for each before the store:
 * office-only endpoints refuse any other device (403); an endpoint with a
 * query parses it (the operation feed's has cursors for envelopes and
 * notices too); one that takes no body refuses a body with `bodyless`. */
enum query { Q_NONE, Q_FEED, Q_AUDIT };

static const struct route_def {
	const char *method, *path;
	enum route route;
	int office;
	enum query query;
	const char *bodyless;
} routes[] = {
	{"GET", "/v1/health", R_HEALTH, 0, Q_NONE, NULL},
	{"POST", "/v1/enroll", R_ENROLL, 0, Q_NONE, NULL},
	{"POST", "/v1/invite", R_INVITE, 1, Q_NONE, NULL},
	{"POST", "/v1/team-keys", R_TEAM_KEYS, 1, Q_NONE, NULL},
	{"POST", "/v1/revoke", R_REVOKE, 1, Q_NONE, NULL},
	{"POST", "/v1/notice", R_NOTICE, 1, Q_NONE, NULL},
	{"POST", "/v1/checkpoint", R_CHECKPOINT, 1, Q_NONE, NULL},
	{"POST", "/v1/push", R_PUSH, 0, Q_NONE, NULL},
	{"GET", "/v1/pull", R_PULL, 0, Q_FEED, "a pull has no body"},
	{"GET", "/v1/devices", R_DEVICES, 1, Q_NONE, "a device list request has no body"},
	{"POST", "/v1/audit", R_AUDIT_PUSH, 0, Q_NONE, NULL},
	{"GET", "/v1/audit", R_AUDIT_PULL, 1, Q_AUDIT, "an access-log pull has no body"},
};

/* One request; lives inside its connection. */
struct request {
	veld_server *srv;
	int started;  /* the access handler has seen it */
	int counted;  /* counted in srv->inflight */
	int answered; /* a response is queued: drop any further upload */
	int too_large;    /* the body passed the limit */
	uint64_t discarded; /* bytes dropped since */
	char uri[URI_MAX + 1];
	int uri_too_long;
	const struct route_def *rd;
	char method[8];
	struct timespec t0;
	unsigned status;
	char devhex[9]; /* device id prefix for the log */
	char cause[64]; /* why it failed, for the log of a 500 */

	/* Authentication (steps 1-4 on the first call). */
	struct veld__srv_device dev;
	struct veld__srv_req sreq;
	char time_dec[21], nonce_hex[33];
	uint8_t sig[64];

	uint8_t *body;
	size_t len, cap;
};

struct connection {
	struct request req;

	/* For the watcher: the connection's socket (MHD's), the time by which
	 * what it waits for must have arrived (monotonic ms, 0 = none), and the
	 * body's progress. Only the deadline is read by another thread. */
	struct connection *prev, *next;
	int fd;
	int cut;
	atomic_uint_least64_t deadline_ms;
	uint64_t body_start_ms, body_bytes;
};

/* ---- time and logging ------------------------------------------------------ */

static double ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

static void access_log(struct request *r)
{
	char line[224];
	if (!r->srv->log)
		return;
	snprintf(line, sizeof line, "%s %s %03u %.1fms %s%s%s", r->method[0] ? r->method : "-",
	         r->rd ? r->rd->path : "-", r->status, ms_since(&r->t0),
	         r->devhex[0] ? r->devhex : "-", r->cause[0] ? " " : "", r->cause);
	r->srv->log(line, r->srv->log_payload);
}

/* SQLite's names of the result codes a server's store can meet; an
 * operator searches for these. */
static const char *sqlite_name(int rc)
{
	switch (rc) {
	case SQLITE_IOERR_READ: return "SQLITE_IOERR_READ";
	case SQLITE_IOERR_SHORT_READ: return "SQLITE_IOERR_SHORT_READ";
	case SQLITE_IOERR_WRITE: return "SQLITE_IOERR_WRITE";
	case SQLITE_IOERR_FSYNC: return "SQLITE_IOERR_FSYNC";
	case SQLITE_IOERR_DIR_FSYNC: return "SQLITE_IOERR_DIR_FSYNC";
	case SQLITE_IOERR_TRUNCATE: return "SQLITE_IOERR_TRUNCATE";
	case SQLITE_IOERR_FSTAT: return "SQLITE_IOERR_FSTAT";
	case SQLITE_IOERR_LOCK: return "SQLITE_IOERR_LOCK";
	case SQLITE_IOERR_SHMOPEN: return "SQLITE_IOERR_SHMOPEN";
	case SQLITE_IOERR_SHMSIZE: return "SQLITE_IOERR_SHMSIZE";
	case SQLITE_IOERR_SHMMAP: return "SQLITE_IOERR_SHMMAP";
	case SQLITE_BUSY_SNAPSHOT: return "SQLITE_BUSY_SNAPSHOT";
	case SQLITE_READONLY_DBMOVED: return "SQLITE_READONLY_DBMOVED";
	case SQLITE_CANTOPEN_NOTEMPDIR: return "SQLITE_CANTOPEN_NOTEMPDIR";
	default: break;
	}
	switch (rc & 0xff) {
	case SQLITE_ERROR: return "SQLITE_ERROR";
	case SQLITE_INTERNAL: return "SQLITE_INTERNAL";
	case SQLITE_PERM: return "SQLITE_PERM";
	case SQLITE_ABORT: return "SQLITE_ABORT";
	case SQLITE_BUSY: return "SQLITE_BUSY";
	case SQLITE_LOCKED: return "SQLITE_LOCKED";
	case SQLITE_NOMEM: return "SQLITE_NOMEM";
	case SQLITE_READONLY: return "SQLITE_READONLY";
	case SQLITE_INTERRUPT: return "SQLITE_INTERRUPT";
	case SQLITE_IOERR: return "SQLITE_IOERR";
	case SQLITE_CORRUPT: return "SQLITE_CORRUPT";
	case SQLITE_FULL: return "SQLITE_FULL";
	case SQLITE_CANTOPEN: return "SQLITE_CANTOPEN";
	case SQLITE_PROTOCOL: return "SQLITE_PROTOCOL";
	case SQLITE_SCHEMA: return "SQLITE_SCHEMA";
	case SQLITE_TOOBIG: return "SQLITE_TOOBIG";
	case SQLITE_CONSTRAINT: return "SQLITE_CONSTRAINT";
	case SQLITE_MISMATCH: return "SQLITE_MISMATCH";
	case SQLITE_MISUSE: return "SQLITE_MISUSE";
	case SQLITE_NOTADB: return "SQLITE_NOTADB";
	default: return "SQLITE_?";
	}
}

/* A PostgreSQL failure's class, by its SQLSTATE (five characters from a
 * fixed alphabet, checked again here: it goes into the log). */
static void pg_cause(char *out, size_t cap, const char *state)
{
	const char *what;
	for (const char *p = state; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'Z')))
			state = "?????";
	if (strncmp(state, "53", 2) == 0)
		what = strcmp(state, "53100") == 0 ? "disk full" : "out of resources";
	else if (strncmp(state, "08", 2) == 0 || strncmp(state, "57", 2) == 0)
		what = "database unreachable";
	else if (strncmp(state, "40", 2) == 0)
		what = "database busy";
	else if (strncmp(state, "XX", 2) == 0)
		what = "database damaged";
	else if (strncmp(state, "42", 2) == 0 || strncmp(state, "28", 2) == 0)
		what = "database not writable";
	else
		what = "database error";
	snprintf(out, cap, "store: %s (SQLSTATE %s)", what, state);
}

/* The cause of a 500 for the log, from the thread's last error (cleared
 * at the start of every call of the request handler, so it is this
 * request's). Only a fixed class and SQLite's code name: the error's
 * message names what was being done, and a message is free text that
 * someone could one day write with a value in it; the log never risks one. */
static void failure_cause(char *out, size_t cap)
{
	int sq = veld__err_sqlite_last();
	const char *what;
	if (sq) {
		switch (sq & 0xff) {
		case SQLITE_FULL: what = "disk full"; break;
		case SQLITE_IOERR: what = "I/O error"; break;
		case SQLITE_BUSY:
		case SQLITE_LOCKED: what = "database busy"; break;
		case SQLITE_READONLY:
		case SQLITE_PERM:
		case SQLITE_CANTOPEN: what = "database not writable"; break;
		case SQLITE_CORRUPT:
		case SQLITE_NOTADB: what = "database damaged"; break;
		case SQLITE_NOMEM: what = "out of memory"; break;
		default: what = "database error"; break;
		}
		snprintf(out, cap, "store: %s (%s)", what, sqlite_name(sq));
		return;
	}
	if (*veld__err_sqlstate_last()) {
		pg_cause(out, cap, veld__err_sqlstate_last());
		return;
	}
	switch (veld_error_code_last()) {
	case VELD_ECORRUPT: what = "store: damaged row"; break; /* only the store checks rows */
	case VELD_EIO: what = "I/O error"; break;
	case VELD_ENOMEM: what = "out of memory"; break;
	default: what = "internal error"; break;
	}
	snprintf(out, cap, "%s", what);
}

static void request_reset(struct request *r)
{
	veld_server *srv = r->srv;
	free(r->body);
	memset(r, 0, sizeof *r);
	r->srv = srv;
}

/* ---- responses -------------------------------------------------------------- */

/* Queue `data` (malloc'd, taken). */
static enum MHD_Result send_data(struct request *r, struct MHD_Connection *c, unsigned status,
                                 const char *type, char *data, size_t len)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(data);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	if (ret == MHD_YES) {
		r->status = status;
		r->answered = 1;
	}
	return ret;
}

static enum MHD_Result send_msgpack(struct request *r, struct MHD_Connection *c, unsigned status,
                                    msgpack_sbuffer *buf)
{
	size_t len = buf->size;
	char *data = msgpack_sbuffer_release(buf);
	return send_data(r, c, status, VELD_CONTENT_TYPE, data, len);
}

static enum MHD_Result send_error(struct request *r, struct MHD_Connection *c, unsigned status,
                                  const char *code, uint64_t expected, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static enum MHD_Result send_error(struct request *r, struct MHD_Connection *c, unsigned status,
                                  const char *code, uint64_t expected, const char *fmt, ...)
{
	struct veld__error_resp e;
	msgpack_sbuffer buf;
	va_list ap;
	memset(&e, 0, sizeof e);
	snprintf(e.error, sizeof e.error, "%s", code);
	va_start(ap, fmt);
	vsnprintf(e.message, sizeof e.message, fmt, ap);
	va_end(ap);
	e.expected = expected;
	msgpack_sbuffer_init(&buf);
	if (veld__wire_error_encode(&buf, &e) != VELD_OK) {
		msgpack_sbuffer_destroy(&buf);
		return MHD_NO;
	}
	return send_msgpack(r, c, status, &buf);
}

static enum MHD_Result send_internal(struct request *r, struct MHD_Connection *c)
{
	failure_cause(r->cause, sizeof r->cause);
	return send_error(r, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", 0,
	                  "server failure; nothing was stored");
}

static const struct {
	unsigned status;
	const char *code;
} refusals[] = {
	[VELD_SRV_OK] = {200, ""},
	[VELD_SRV_MALFORMED] = {400, "malformed"},
	[VELD_SRV_UNKNOWN_DEVICE] = {401, "unknown_device"},
	[VELD_SRV_REVOKED] = {403, "revoked"},
	[VELD_SRV_FORBIDDEN] = {403, "forbidden"},
	[VELD_SRV_BAD_CODE] = {403, "bad_code"},
	[VELD_SRV_NOT_FOUND] = {404, "not_found"},
	[VELD_SRV_REPLAY] = {409, "replay"},
	[VELD_SRV_GAP] = {409, "gap"},
	[VELD_SRV_EQUIVOCATION] = {409, "equivocation"},
	[VELD_SRV_BAD_BATCH] = {409, "bad_batch"},
	[VELD_SRV_CLOCK] = {409, "clock"},
};

/* Answer a store call that did not succeed: a failure (rc < 0) or a
 * refusal. Returns 1 if it answered. */
static int answer_outcome(struct request *r, struct MHD_Connection *c, int rc,
                          const struct veld__srv_outcome *out, enum MHD_Result *ret)
{
	if (rc != VELD_OK) {
		*ret = send_internal(r, c);
		return 1;
	}
	if (out->refusal == VELD_SRV_OK)
		return 0;
	*ret = send_error(r, c, refusals[out->refusal].status, refusals[out->refusal].code,
	                  out->expected, "%s", out->message);
	return 1;
}

/* ---- authentication ----------------------------------------------------------- */

static const char *header(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

static uint64_t now_ms(void)
{
	return veld__hlc_now_ms();
}

/* Steps 1-4 of docs/protocol.md 4, on the headers alone. Returns 1 if it
 * answered (refused). For enroll the device is usually unknown: only a
 * revoked one is refused here. */
static int auth_headers(struct request *r, struct MHD_Connection *c, enum MHD_Result *ret)
{
	const char *dev = header(c, "Veld-Device"), *tm = header(c, "Veld-Time");
	const char *nonce = header(c, "Veld-Nonce"), *sig = header(c, "Veld-Signature");
	int enroll = r->rd->route == R_ENROLL, rc;
	uint64_t t, now = now_ms();

	if (veld__auth_parse(dev, tm, nonce, sig, r->sreq.device, &t, r->sreq.nonce, r->sig) != 0) {
		*ret = send_error(r, c, 401, "unauthenticated", 0,
		                  "missing or malformed Veld-* headers");
		return 1;
	}
	memcpy(r->devhex, dev, 8);
	r->devhex[8] = 0;
	snprintf(r->time_dec, sizeof r->time_dec, "%s", tm);
	snprintf(r->nonce_hex, sizeof r->nonce_hex, "%s", nonce);
	r->sreq.time_ms = t;
	r->sreq.now_ms = now;

	rc = r->srv->store->ops->device_get(r->srv->store, r->sreq.device, &r->dev);
	if (rc == VELD_ENOTFOUND && !enroll) {
		*ret = send_error(r, c, 401, "unknown_device", 0, "unknown device");
		return 1;
	}
	if (rc != VELD_OK && rc != VELD_ENOTFOUND) {
		*ret = send_internal(r, c);
		return 1;
	}
	if (rc == VELD_OK && r->dev.revoked) {
		*ret = send_error(r, c, 403, "revoked", 0, "this device was revoked; wipe its store");
		return 1;
	}
	if ((t > now ? t - now : now - t) > VELD_AUTH_WINDOW_MS) {
		*ret = send_error(r, c, 401, "stale", 0,
		                  "Veld-Time is more than 300 s from the server's clock");
		return 1;
	}
	return 0;
}

/* Steps 5 and 6, with the body. */
static int auth_body(struct request *r, struct MHD_Connection *c, const uint8_t sign_pk[32],
                     enum MHD_Result *ret)
{
	int seen, rc;
	if (veld__auth_verify(sign_pk, r->method, r->uri, r->time_dec, r->nonce_hex, r->sig, r->body,
	                      r->len) != 0) {
		*ret = send_error(r, c, 401, "bad_signature", 0, "the request signature does not verify");
		return 1;
	}
	rc = r->srv->store->ops->nonce_seen(r->srv->store, r->sreq.device, r->sreq.nonce, &seen);
	if (rc != VELD_OK) {
		*ret = send_internal(r, c);
		return 1;
	}
	if (seen) {
		*ret = send_error(r, c, 409, "replay", 0, "nonce already used");
		return 1;
	}
	return 0;
}

/* ---- endpoints -------------------------------------------------------------------- */

static enum MHD_Result malformed(struct request *r, struct MHD_Connection *c)
{
	const char *m = veld_error_last();
	return send_error(r, c, 400, "malformed", 0, "%s", m && *m ? m : "the body does not decode");
}

/* The version is the library's own (veld_version), so an operator sees
 * which build answers. */
static enum MHD_Result do_health(struct request *r, struct MHD_Connection *c)
{
	uint32_t v = veld_version();
	char *data = malloc(96);
	int n;
	if (!data)
		return MHD_NO;
	/* "own_runs": GET /v1/pull takes own=1 (docs/protocol.md). */
	n = snprintf(data, 96, "{\"status\":\"ok\",\"version\":\"%u.%u.%u\",\"own_runs\":true}",
	             (unsigned)(v >> 16), (unsigned)(v >> 8) & 0xffu, (unsigned)v & 0xffu);
	return send_data(r, c, MHD_HTTP_OK, JSON_TYPE, data, (size_t)n);
}

static void remove_setup_code(veld_server *srv)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/setup-code", srv->data_dir);
	unlink(path);
}

/* A decimal uint64 with no sign, no leading '+', at most 20 digits. */
static int parse_u64(const char *s, size_t n, uint64_t *v)
{
	uint64_t x = 0;
	if (n == 0 || n > 20)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (x > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	*v = x;
	return 0;
}

/* after=C&env_after=E&notice_after=X&limit=N, each at most once, in any
 * order, nothing else; without env_after and notice_after when `env` is 0
 * (the access-log pull). Returns NULL or the name of what is wrong. */
static const char *parse_pull_query(const char *q, int env, struct veld__srv_pull_args *a)
{
	int have_after = 0, have_env = 0, have_notice = 0, have_limit = 0, have_own = 0;
	uint64_t v;
	a->after = a->env_after = a->notice_after = 0;
	a->own_runs = 0;
	a->limit = VELD_WIRE_DEFAULT_PAGE;
	while (q && *q) {
		size_t n = strcspn(q, "&"), k = strcspn(q, "=");
		if (k >= n)
			return "query: a parameter without a value";
		if (parse_u64(q + k + 1, n - k - 1, &v))
			return "query: a value is not a decimal number";
		if (k == 5 && memcmp(q, "after", 5) == 0 && !have_after++)
			a->after = v;
		else if (env && k == 9 && memcmp(q, "env_after", 9) == 0 && !have_env++)
			a->env_after = v;
		else if (env && k == 12 && memcmp(q, "notice_after", 12) == 0 && !have_notice++)
			a->notice_after = v;
		else if (k == 5 && memcmp(q, "limit", 5) == 0 && !have_limit++) {
			if (v < 1 || v > VELD_WIRE_MAX_PAGE)
				return "limit: must be 1 to 5000";
			a->limit = (uint32_t)v;
		} else if (env && k == 3 && memcmp(q, "own", 3) == 0 && !have_own++) {
			if (v > 1)
				return "own: must be 0 or 1";
			a->own_runs = (int)v;
		} else
			return "query: unknown or repeated parameter";
		q += n;
		if (*q == '&' && *++q == 0)
			return "query: trailing '&'";
	}
	return NULL;
}

/* Is the batch signature over these ops (already hashed) by `sign_pk`? */
static int batch_sig_ok(const struct veld__push_req *m, const uint8_t sign_pk[32])
{
	uint8_t msg[77], *hashes;
	int ok;
	if (!m->has_sig || m->nops == 0)
		return 0;
	if (!(hashes = malloc(m->nops * VELD_HASH_BYTES)))
		return -1;
	for (size_t i = 0; i < m->nops; i++)
		memcpy(hashes + i * VELD_HASH_BYTES, m->ops[i].hash, VELD_HASH_BYTES);
	veld__batch_digest(msg, m->ops[0].version, m->ops[0].device, m->ops[0].seq,
	                   m->ops[m->nops - 1].seq, hashes, m->nops);
	free(hashes);
	ok = crypto_sign_verify_detached(m->sig, msg, sizeof msg, sign_pk) == 0;
	return ok;
}

/* One request's messages: the body as decoded (or the query), and what
 * the store answers. */
struct exchange {
	struct veld__wire w; /* what `in` points into */
	union {
		struct veld__enroll_req enroll;
		struct veld__invite_req invite;
		struct veld__team_keys_req team_keys;
		struct veld__revoke_req revoke;
		struct veld__notice_req notice;
		struct veld__checkpoint_req checkpoint;
		struct veld__push_req push;
		struct veld__audit_push_req audit;
		struct veld__srv_pull_args pull;
	} in;
	union {
		struct veld__enroll_resp enroll;
		struct veld__revoke_resp revoke;
		struct veld__push_resp push;
		struct veld__srv_page page;
		struct veld__srv_audit_page audit;
		struct veld__srv_devices devices;
	} out;
	struct veld__arena *mem; /* the arena `out` lives in, if it has one */
	struct veld__srv_outcome outcome;
	int sig_ok; /* push, access-log push: the signatures verified */
	struct veld__srv_notice *notices; /* notice: as checked (malloc'd) */
};

/* Release an exchange; the decoded body may hold an invite's secrets. */
static void exchange_end(struct exchange *x)
{
	veld__wire_free(&x->w);
	free(x->notices);
	if (x->mem)
		veld__arena_free(x->mem);
	sodium_memzero(&x->in, sizeof x->in);
}

/* The query and the body as the endpoint takes them. Returns 1 if it
 * answered (400). */
static int parse_request(struct request *r, struct MHD_Connection *c, struct exchange *x,
                         enum MHD_Result *ret)
{
	const struct route_def *rd = r->rd;
	const char *q = strchr(r->uri, '?'), *bad;
	const uint8_t *b = r->body;
	size_t n = r->len;
	int rc;

	/* A page's request carries its arguments in the query, and no body. */
	if (rd->query || rd->bodyless) {
		bad = rd->query ? parse_pull_query(q ? q + 1 : NULL, rd->query == Q_FEED, &x->in.pull)
		                : NULL;
		if (!bad && r->len != 0)
			bad = rd->bodyless;
		x->in.pull.max_bytes = rd->query == Q_FEED ? PULL_BUDGET : AUDIT_BUDGET;
		if (!bad)
			return 0;
		*ret = send_error(r, c, 400, "malformed", 0, "%s", bad);
		return 1;
	}
	veld__err_clear();
	switch (rd->route) {
	case R_ENROLL: rc = veld__wire_enroll_req_decode(&x->w, b, n, &x->in.enroll); break;
	case R_INVITE: rc = veld__wire_invite_req_decode(&x->w, b, n, &x->in.invite); break;
	case R_TEAM_KEYS: rc = veld__wire_team_keys_req_decode(&x->w, b, n, &x->in.team_keys); break;
	case R_REVOKE: rc = veld__wire_revoke_req_decode(&x->w, b, n, &x->in.revoke); break;
	case R_NOTICE: rc = veld__wire_notice_req_decode(&x->w, b, n, &x->in.notice); break;
	case R_CHECKPOINT:
		rc = veld__wire_checkpoint_req_decode(&x->w, b, n, &x->in.checkpoint);
		break;
	case R_PUSH: rc = veld__wire_push_req_decode(&x->w, b, n, &x->in.push); break;
	case R_AUDIT_PUSH: rc = veld__wire_audit_push_req_decode(&x->w, b, n, &x->in.audit); break;
	default: rc = veld__err(VELD_ERROR, "no decoder for this endpoint");
	}
	if (rc == VELD_OK)
		return 0;
	*ret = malformed(r, c);
	return 1;
}
/* Enroll: the device is the one in the body, and the body's key signs. */
static int check_enroll(struct request *r, struct MHD_Connection *c,
                        const struct veld__enroll_req *m, enum MHD_Result *ret)
{
	if (memcmp(m->device, r->sreq.device, VELD_ID_BYTES) == 0)
		return auth_body(r, c, m->sign_pk, ret);
	*ret = send_error(r, c, 400, "malformed", 0, "device: does not match Veld-Device");
	return 1;
}

/* Push: own operations, consecutive, of one format version (the batch
 * signs as that version), each hashed from its decoded fields (never taken
 * over as received), and the batch signature; every envelope sealed and
 * signed by the pushing device, because a device takes a key only from a
 * sealer it can check. All stateless, so checked here. */
static int check_push(struct request *r, struct MHD_Connection *c, struct exchange *x,
                      enum MHD_Result *ret)
{
	struct veld__push_req *m = &x->in.push;
	const char *what = NULL;
	size_t i;
	for (i = 0; i < m->nops && !what; i++) {
		if (memcmp(m->ops[i].device, r->sreq.device, VELD_ID_BYTES) != 0 ||
		    m->ops[i].seq != m->ops[0].seq + i)
			what = "not the device's own or not consecutive";
		else if (m->ops[i].version != m->ops[0].version)
			what = "a push's operations must all have one format version";
		else
			veld__op_hash(&m->ops[i]);
	}
	if (what) {
		*ret = send_error(r, c, 409, "bad_batch", 0, "ops[%zu]: %s", i - 1, what);
		return 1;
	}
	for (i = 0; i < m->nenvs && !what; i++) {
		const struct veld__envelope *e = &m->envs[i];
		if (memcmp(e->from, r->sreq.device, VELD_ID_BYTES) != 0)
			what = "not sealed by this device";
		else if (veld__envelope_sig_verify(r->dev.sign_pk, e->from, e->client, e->kv, e->to,
		                                   e->tv, e->sealed, e->sig) != 0)
			what = "the signature does not verify";
	}
	if (what) {
		*ret = send_error(r, c, 409, "bad_batch", 0, "envelopes[%zu]: %s", i - 1, what);
		return 1;
	}
	if ((x->sig_ok = batch_sig_ok(m, r->dev.sign_pk)) >= 0)
		return 0;
	*ret = send_internal(r, c);
	return 1;
}

/* Notices: each one's signature with the office's key (the requester's:
 * only the office gets here) and its body decoded for its kind, outside the
 * store's lock. The store reports a failure at its place in the order of
 * the rules. */
static int check_notices(struct request *r, struct MHD_Connection *c, struct exchange *x,
                         enum MHD_Result *ret)
{
	const struct veld__notice_req *m = &x->in.notice;
	if (!(x->notices = calloc(m->n ? m->n : 1, sizeof *x->notices))) {
		*ret = send_internal(r, c);
		return 1;
	}
	for (size_t i = 0; i < m->n; i++) {
		const struct veld__notice *n = &m->notices[i];
		struct veld__srv_notice *v = &x->notices[i];
		v->n = n;
		v->sig_ok = veld__notice_sig_verify(r->dev.sign_pk, n->team, n->n, n->kind, n->at,
		                                    n->body, n->body_len, n->sig) == 0;
		v->body_ok = veld__wire_notice_body_decode(n->kind, n->body, n->body_len, &v->body) ==
		             VELD_OK;
	}
	return 0;
}

/* Checkpoints: each signed by the office, its heads whole entries of
 * device (16) and seq (8), in order; nothing of them is state. */
static int check_checkpoints(struct request *r, struct MHD_Connection *c,
                             const struct veld__checkpoint_req *m, enum MHD_Result *ret)
{
	for (size_t i = 0; i < m->n; i++) {
		const struct veld__checkpoint *k = &m->checkpoints[i];
		if (veld__checkpoint_sig_verify(r->dev.sign_pk, k->team, k->at, k->n, k->heads,
		                                k->heads_len, k->sig) != 0) {
			*ret = send_error(r, c, 409, "bad_batch", 0,
			                  "checkpoints[%zu]: the office's signature does not verify", i);
			return 1;
		}
		if (k->heads_len % 24 != 0) {
			*ret = send_error(r, c, 400, "malformed", 0,
			                  "checkpoints[%zu]: heads must be whole 24-byte entries", i);
			return 1;
		}
	}
	return 0;
}

/* The stateless checks between decoding and the store. Returns 1 if it
 * answered. */
static int check_request(struct request *r, struct MHD_Connection *c, struct exchange *x,
                         enum MHD_Result *ret)
{
	const uint8_t *pk = r->dev.sign_pk;
	const struct veld__team_keys_req *tk = &x->in.team_keys;
	switch (r->rd->route) {
	case R_ENROLL:
		return check_enroll(r, c, &x->in.enroll, ret);
	case R_PUSH:
		return check_push(r, c, x, ret);
	case R_NOTICE:
		return check_notices(r, c, x, ret);
	case R_CHECKPOINT:
		return check_checkpoints(r, c, &x->in.checkpoint, ret);
	case R_TEAM_KEYS:
		/* Devices open a team key only with the office's signature over
		 * it, which they check against the key they pinned; the server
		 * keeps none that would fail there. The office is the requester. */
		if (veld__team_key_sig_verify(pk, tk->team, tk->tv, tk->pk, tk->sig) == 0)
			return 0;
		*ret = send_error(r, c, 409, "bad_batch", 0,
		                  "the team key's signature does not verify");
		return 1;
	case R_AUDIT_PUSH:
		/* Every entry's signature, with the authenticated device's key
		 * and id, outside the store's lock; the store reports a bad one
		 * at its place in the order of the rules (after a gap). */
		x->sig_ok = 1;
		for (size_t i = 0; i < x->in.audit.n && x->sig_ok; i++) {
			const struct veld__audit_entry *e = &x->in.audit.entries[i];
			x->sig_ok = veld__audit_sig_verify(pk, r->sreq.device, e->seq, e->sealed,
			                                   e->sealed_len, e->sig) == 0;
		}
		return 0;
	default:
		return 0;
	}
}

/* The endpoint in the store: one call, one transaction. */
static int store_call(struct request *r, struct exchange *x)
{
	struct veld__sstore *st = r->srv->store;
	const struct veld__srv_req *q = &r->sreq;
	struct veld__srv_outcome *o = &x->outcome;
	switch (r->rd->route) {
	case R_ENROLL: return st->ops->enroll(st, q, &x->in.enroll, &x->out.enroll, o);
	case R_INVITE: return st->ops->invite(st, q, &x->in.invite, o);
	case R_TEAM_KEYS: return st->ops->team_keys(st, q, &x->in.team_keys, o);
	case R_REVOKE: return st->ops->revoke(st, q, &x->in.revoke, &x->out.revoke, o);
	case R_NOTICE: return st->ops->notice(st, q, x->notices, x->in.notice.n, o);
	case R_CHECKPOINT: return st->ops->checkpoint(st, q, &x->in.checkpoint, o);
	case R_PUSH: return st->ops->push(st, q, &x->in.push, x->sig_ok, &x->out.push, o);
	case R_AUDIT_PUSH:
		return st->ops->audit_push(st, q, &x->in.audit, x->sig_ok, &x->out.push, o);
	case R_PULL:
		x->mem = &x->out.page.mem;
		return st->ops->pull(st, q, &x->in.pull, &x->out.page, o);
	case R_AUDIT_PULL:
		x->mem = &x->out.audit.mem;
		return st->ops->audit_pull(st, q, &x->in.pull, &x->out.audit, o);
	case R_DEVICES:
		x->mem = &x->out.devices.mem;
		return st->ops->devices(st, q, &x->out.devices, o);
	default:
		return veld__err(VELD_ERROR, "no store call for this endpoint");
	}
}

/* The store's answer on the wire. */
static int encode_answer(enum route route, msgpack_sbuffer *buf, const struct exchange *x)
{
	switch (route) {
	case R_ENROLL: return veld__wire_enroll_resp_encode(buf, &x->out.enroll);
	case R_REVOKE: return veld__wire_revoke_resp_encode(buf, &x->out.revoke);
	case R_PUSH:
	case R_AUDIT_PUSH: return veld__wire_push_resp_encode(buf, &x->out.push);
	case R_PULL: return veld__wire_pull_resp_encode(buf, &x->out.page.resp);
	case R_AUDIT_PULL: return veld__wire_audit_pull_resp_encode(buf, &x->out.audit.resp);
	case R_DEVICES: return veld__wire_devices_resp_encode(buf, &x->out.devices.resp);
	default: return veld__wire_ok_encode(buf);
	}
}

/* Decode, check, call the store, answer: every endpoint but health. */
static enum MHD_Result run_endpoint(struct request *r, struct MHD_Connection *c)
{
	struct exchange x;
	msgpack_sbuffer buf;
	enum MHD_Result ret;
	int rc;

	memset(&x, 0, sizeof x);
	msgpack_sbuffer_init(&buf);
	if (parse_request(r, c, &x, &ret) || check_request(r, c, &x, &ret)) {
		exchange_end(&x);
		return ret;
	}
	rc = store_call(r, &x);
	if (!answer_outcome(r, c, rc, &x.outcome, &ret)) {
		if (r->rd->route == R_ENROLL && strcmp(x.out.enroll.role, "office") == 0)
			remove_setup_code(r->srv); /* used up: no reason to keep it on disk */
		if (encode_answer(r->rd->route, &buf, &x) == VELD_OK)
			ret = send_msgpack(r, c, MHD_HTTP_OK, &buf);
		else
			ret = send_internal(r, c);
	}
	msgpack_sbuffer_destroy(&buf);
	exchange_end(&x);
	return ret;
}

/* The whole request is in: authenticate the body and run the endpoint. */
static enum MHD_Result dispatch(struct request *r, struct MHD_Connection *c)
{
	enum MHD_Result ret;
	const struct route_def *rd = r->rd;

	if (rd->route == R_HEALTH)
		return do_health(r, c);
	if (rd->route == R_ENROLL)
		return run_endpoint(r, c); /* its key is in the body: checked there */
	if (auth_body(r, c, r->dev.sign_pk, &ret))
		return ret;
	if (rd->office && strcmp(r->dev.role, "office") != 0)
		return send_error(r, c, 403, "forbidden", 0, "only the office may do this");
	if (!rd->query && strchr(r->uri, '?'))
		return send_error(r, c, 400, "malformed", 0, "query: this endpoint takes none");
	return run_endpoint(r, c);
}
/* ---- slow clients --------------------------------------------------------------- */

/* MHD's connection timeout (timeout_s) is an idle timeout: every byte that
 * arrives starts it again, so a client that sends its headers a byte every
 * few seconds holds a connection for ever, and a few hundred such clients
 * hold every connection the server has (slowloris). Two things stop that.
 * MHD's per-address limit caps what one address holds (max_per_address).
 * And since libmicrohttpd 0.9.75 has no deadline of its own, the server
 * keeps one per connection: a request's headers must be in within
 * header_ms of the connection opening (or of the previous answer on a
 * kept-alive connection), and its body within body_ms of the headers plus
 * a second for every body_rate bytes that arrived, so a phone on a slow
 * link keeps going and a trickle does not. From the whole request to its
 * answer there is no deadline (the store may be slow; the idle timeout
 * still holds).
 *
 * A watcher thread shuts down the socket of a connection past its
 * deadline; MHD then reads the end of the stream and closes the connection
 * the usual way, its callbacks and counts included. The watcher never
 * closes the descriptor: MHD owns it, and it takes the connection off the
 * watch list (under watch_mu, in on_connection) before it closes the
 * descriptor, so the watcher never shuts down a descriptor that was
 * reused for another connection. */

static uint64_t mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static struct connection *conn_of(struct request *r)
{
	return (struct connection *)(void *)((char *)r - offsetof(struct connection, req));
}

/* The connection waits for a request's headers. */
static void watch_headers(struct connection *conn)
{
	atomic_store(&conn->deadline_ms, mono_ms() + conn->req.srv->header_ms);
}

/* n more bytes of the body arrived (n = 0: the headers are in, the body's
 * time starts). */
static void watch_body(struct connection *conn, size_t n)
{
	veld_server *srv = conn->req.srv;
	if (n == 0) {
		conn->body_start_ms = mono_ms();
		conn->body_bytes = 0;
	}
	conn->body_bytes += n;
	atomic_store(&conn->deadline_ms,
	             conn->body_start_ms + srv->body_ms + conn->body_bytes * 1000 / srv->body_rate);
}

/* The whole request is in: no deadline until it is answered. */
static void watch_none(struct connection *conn)
{
	atomic_store(&conn->deadline_ms, 0);
}

static void watch_add(veld_server *srv, struct connection *conn, struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	conn->fd = ci ? ci->connect_fd : -1;
	watch_headers(conn);
	pthread_mutex_lock(&srv->watch_mu);
	conn->next = srv->watched;
	if (srv->watched)
		srv->watched->prev = conn;
	srv->watched = conn;
	pthread_mutex_unlock(&srv->watch_mu);
}

static void watch_remove(veld_server *srv, struct connection *conn)
{
	pthread_mutex_lock(&srv->watch_mu);
	if (conn->prev)
		conn->prev->next = conn->next;
	else
		srv->watched = conn->next;
	if (conn->next)
		conn->next->prev = conn->prev;
	pthread_mutex_unlock(&srv->watch_mu);
}

/* Every WATCH_TICK_MS, cut what is past its deadline; a stop wakes it at
 * once (a sleep would make every stop wait for the tick). */
static void *watch_run(void *arg)
{
	veld_server *srv = arg;
	pthread_mutex_lock(&srv->watch_mu);
	while (!srv->watch_stop) {
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += WATCH_TICK_MS * 1000L * 1000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&srv->watch_cv, &srv->watch_mu, &until);
		uint64_t now = mono_ms();
		for (struct connection *conn = srv->watched; conn && !srv->watch_stop; conn = conn->next) {
			uint64_t d = atomic_load(&conn->deadline_ms);
			if (d && now > d && !conn->cut && conn->fd >= 0) {
				conn->cut = 1; /* once: MHD closes it soon */
				shutdown(conn->fd, SHUT_RDWR);
			}
		}
	}
	pthread_mutex_unlock(&srv->watch_mu);
	return NULL;
}

/* The watcher's condition variable, on the monotonic clock (a change of
 * the wall clock must not stall or hurry it). */
static int watch_cv_init(pthread_cond_t *cv)
{
	pthread_condattr_t a;
	int ok;
	if (pthread_condattr_init(&a) != 0)
		return -1;
	ok = pthread_condattr_setclock(&a, CLOCK_MONOTONIC) == 0 && pthread_cond_init(cv, &a) == 0;
	pthread_condattr_destroy(&a);
	return ok ? 0 : -1;
}

/* ---- MHD callbacks ------------------------------------------------------------- */

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
	veld_server *srv = cls;
	struct connection *conn = *socket_context;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		conn = calloc(1, sizeof *conn);
		if (conn) {
			conn->req.srv = srv;
			watch_add(srv, conn, c);
		}
		*socket_context = conn;
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED && conn) {
		watch_remove(srv, conn);
		if (conn->req.counted)
			atomic_fetch_sub(&srv->inflight, 1);
		free(conn->req.body);
		free(conn);
		*socket_context = NULL;
	}
}

/* Called with the raw URI before MHD parses it; its result becomes the
 * request's context. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct connection *conn = ci ? ci->socket_context : NULL;
	struct request *r;
	size_t n;
	(void)cls;
	if (!conn)
		return NULL;
	r = &conn->req;
	if (r->counted)
		atomic_fetch_sub(&r->srv->inflight, 1);
	request_reset(r);
	clock_gettime(CLOCK_MONOTONIC, &r->t0);
	n = strlen(uri);
	if (n > URI_MAX)
		r->uri_too_long = 1;
	else
		memcpy(r->uri, uri, n + 1);
	return r;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct request *r = *con_cls;
	(void)cls;
	(void)c;
	(void)toe;
	if (!r)
		return;
	watch_headers(conn_of(r)); /* for the next request on this connection */
	if (r->started)
		access_log(r);
	if (r->counted) {
		atomic_fetch_sub(&r->srv->inflight, 1);
		r->counted = 0;
	}
	free(r->body);
	r->body = NULL;
	r->len = r->cap = 0;
}

static const struct route_def *route_find(const char *method, const char *uri)
{
	size_t n = strcspn(uri, "?");
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
		if (strlen(routes[i].path) == n && memcmp(routes[i].path, uri, n) == 0 &&
		    strcmp(routes[i].method, method) == 0)
			return &routes[i];
	return NULL;
}

/* The first call: everything that can be decided from the headers. */
static enum MHD_Result on_headers(struct request *r, struct MHD_Connection *c, const char *method)
{
	veld_server *srv = r->srv;
	const char *cl;
	enum MHD_Result ret;

	r->started = 1;
	snprintf(r->method, sizeof r->method, "%s", strlen(method) < sizeof r->method ? method : "?");
	r->rd = r->uri_too_long ? NULL : route_find(method, r->uri); /* also for the log */
	r->counted = 1;
	if (atomic_fetch_add(&srv->inflight, 1) >= srv->max_requests)
		return send_error(r, c, 503, "busy", 0, "too many requests in flight; retry later");
	if (r->uri_too_long)
		return send_error(r, c, 400, "malformed", 0, "the request URI is too long");
	if (!r->rd)
		return send_error(r, c, 404, "not_found", 0, "no such endpoint");
	if (r->rd->route == R_HEALTH)
		return MHD_YES; /* answered on the next call: MHD closes a
		                   connection answered on the first */
	cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl) {
		uint64_t n;
		if (parse_u64(cl, strlen(cl), &n) == 0 && n > srv->max_body)
			return send_error(r, c, 413, "too_large", 0, "the body is above %llu bytes",
			                  (unsigned long long)srv->max_body);
	}
	if (auth_headers(r, c, &ret))
		return ret;
	return MHD_YES;
}

/* A piece of the body. Returns 0, or 1 when it is over the limit. */
static int on_upload(struct request *r, const char *data, size_t n)
{
	size_t need = r->len + n;
	if (n > r->srv->max_body || need > r->srv->max_body)
		return 1;
	if (need > r->cap) {
		size_t cap = r->cap ? r->cap : 16384;
		while (cap < need)
			cap *= 2;
		if (cap > r->srv->max_body)
			cap = (size_t)r->srv->max_body;
		uint8_t *b = realloc(r->body, cap);
		if (!b)
			return -1;
		r->body = b;
		r->cap = cap;
	}
	memcpy(r->body + r->len, data, n);
	r->len = need;
	return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
	struct request *r = *con_cls;
	(void)cls;
	(void)url;
	(void)version;
	if (!r)
		return MHD_NO; /* no memory for the connection: drop it */
	veld__err_clear(); /* a 500's cause in the log is this call's */
	if (!r->started) {
		watch_body(conn_of(r), 0);
		return on_headers(r, c, method);
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		watch_body(conn_of(r), n);
		if (r->answered)
			return MHD_YES; /* refused already: drop the rest */
		if (r->too_large) {
			/* Drain without buffering so the client gets its 413; a
			 * body that goes on past twice the limit loses the
			 * connection instead. */
			r->discarded += n;
			return r->discarded > r->srv->max_body ? MHD_NO : MHD_YES;
		}
		switch (on_upload(r, upload_data, n)) {
		case 0:
			return MHD_YES;
		case 1:
			/* Over the limit: free what came, buffer nothing more, and
			 * refuse. MHD before 1.0 can only answer once the upload
			 * has ended (queueing fails now); then the 413 goes out when
			 * it ends. */
			free(r->body);
			r->body = NULL;
			r->len = r->cap = 0;
			r->too_large = 1;
			r->discarded = n;
			send_error(r, c, 413, "too_large", 0, "the body is above %llu bytes",
			           (unsigned long long)r->srv->max_body);
			return MHD_YES;
		default:
			return MHD_NO;
		}
	}
	watch_none(conn_of(r));
	if (r->answered)
		return MHD_YES;
	if (r->too_large)
		return send_error(r, c, 413, "too_large", 0, "the body is above %llu bytes",
		                  (unsigned long long)r->srv->max_body);
	return dispatch(r, c);
}

/* ---- lifecycle ----------------------------------------------------------------- */

void veld_server_options_init(veld_server_options *opts)
{
	veld_server_options o = VELD_SERVER_OPTIONS_INIT;
	if (opts)
		*opts = o;
}

/* An IPv4 or IPv6 address and a port as the socket calls take them. */
static int socket_address(struct sockaddr_storage *ss, socklen_t *sl, int v6, const char *host,
                          uint16_t port)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	memset(ss, 0, sizeof *ss);
	ss->ss_family = v6 ? AF_INET6 : AF_INET;
	if (v6)
		s6->sin6_port = htons(port);
	else
		s4->sin_port = htons(port);
	*sl = v6 ? sizeof *s6 : sizeof *s4;
	if (inet_pton(ss->ss_family, host, v6 ? (void *)&s6->sin6_addr : (void *)&s4->sin_addr) != 1)
		return veld__err(VELD_EINVAL, "listen: not an %s address", v6 ? "IPv6" : "IPv4");
	return VELD_OK;
}

/* Is the address in `ss` loopback (127.0.0.0/8, ::1, ::ffff:127.x.y.z)? */
static int is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
	return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
}

/* "A.B.C.D:PORT" or "[v6]:PORT" into a bound, listening socket. With
 * `loopback_only` an address that is not loopback is refused before any
 * socket is made (plain HTTP must not leave the machine). */
static int listen_on(const char *addr, int loopback_only, int *fd_out, uint16_t *port_out,
                     int *v6)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	char host[64];
	const char *colon;
	uint64_t port;
	int fd, rc, one = 1;

	if (addr[0] == '[') {
		const char *end = strchr(addr, ']');
		if (!end || end[1] != ':' || (size_t)(end - addr - 1) >= sizeof host)
			return veld__err(VELD_EINVAL, "listen: use A.B.C.D:PORT or [IPv6]:PORT");
		memcpy(host, addr + 1, (size_t)(end - addr - 1));
		host[end - addr - 1] = 0;
		colon = end + 1;
		*v6 = 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon || (size_t)(colon - addr) >= sizeof host)
			return veld__err(VELD_EINVAL, "listen: use A.B.C.D:PORT or [IPv6]:PORT");
		memcpy(host, addr, (size_t)(colon - addr));
		host[colon - addr] = 0;
		*v6 = 0;
	}
	if (parse_u64(colon + 1, strlen(colon + 1), &port) || port > 65535)
		return veld__err(VELD_EINVAL, "listen: the port must be 0 to 65535");
	if ((rc = socket_address(&ss, &sl, *v6, host, (uint16_t)port)) != VELD_OK)
		return rc;
	if (loopback_only && !is_loopback(&ss))
		return veld__err(VELD_EINVAL, "listen: refusing plain HTTP on %s: it is not a "
			"loopback address (127.0.0.0/8, ::1), so requests would cross the network "
			"unencrypted; give a TLS certificate and key, or allow plain HTTP "
			"explicitly (--insecure-http) when a TLS proxy or a test network covers it",
			host);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return veld__err(VELD_EIO, "listen: socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 128) != 0) {
		int e = errno;
		close(fd);
		return veld__err(VELD_EIO, "listen: cannot bind %s: %s", addr, strerror(e));
	}
	sl = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
		close(fd);
		return veld__err(VELD_EIO, "listen: %s", strerror(errno));
	}
	*port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
	                                           : ((struct sockaddr_in *)&ss)->sin_port);
	*fd_out = fd;
	return VELD_OK;
}

/* mkdir -p with mode 0700 for what it creates. */
static int make_dir(const char *dir)
{
	char path[4096];
	struct stat st;
	size_t n = strlen(dir);
	if (n == 0 || n >= sizeof path)
		return veld__err(VELD_EINVAL, "data directory: empty or too long");
	memcpy(path, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (path[i] != '/' && path[i] != 0)
			continue;
		char saved = path[i];
		path[i] = 0;
		if (mkdir(path, 0700) != 0 && errno != EEXIST)
			return veld__err(VELD_EIO, "cannot create the data directory: %s", strerror(errno));
		path[i] = saved;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return veld__err(VELD_EIO, "the data directory is not a directory");
	return VELD_OK;
}

static int lock_dir(veld_server *srv)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/server.lock", srv->data_dir);
	srv->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (srv->lock_fd < 0)
		return veld__err(VELD_EIO, "cannot open %s: %s", path, strerror(errno));
	if (flock(srv->lock_fd, LOCK_EX | LOCK_NB) != 0)
		return veld__err(VELD_EBUSY, "another veld server uses this data directory");
	return VELD_OK;
}

/* DATA/setup-code, mode 0600, replaced atomically. */
static int write_setup_code(const char *dir, const char *text)
{
	char path[4096], tmp[4096];
	size_t n = strlen(text);
	int fd, ok;
	snprintf(path, sizeof path, "%s/setup-code", dir);
	snprintf(tmp, sizeof tmp, "%s/setup-code.tmp", dir);
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return veld__err(VELD_EIO, "cannot write the setup code file: %s", strerror(errno));
	ok = fchmod(fd, 0600) == 0 && write(fd, text, n) == (ssize_t)n && write(fd, "\n", 1) == 1 &&
	     fsync(fd) == 0;
	ok = close(fd) == 0 && ok;
	if (!ok || rename(tmp, path) != 0) {
		unlink(tmp);
		return veld__err(VELD_EIO, "cannot write the setup code file");
	}
	return VELD_OK;
}

/* Make the office setup code when no office is enrolled and no unexpired
 * one exists: on the first start, and again if the last one expired
 * unused (else the server could never get an office). */
static int setup_office(veld_server *srv)
{
	struct veld__sstore *st = srv->store;
	uint8_t code[VELD_CODE_BYTES], auth[32];
	uint64_t now = now_ms();
	int needed, created, rc;

	if ((rc = st->ops->office_needed(st, now, &needed)) != VELD_OK || !needed)
		return rc;
	if (!(srv->setup_code = sodium_malloc(VELD_CODE_TEXT_MAX)))
		return veld__err(VELD_ENOMEM, "out of memory");
	veld__code_new(code, srv->setup_code);
	veld__code_auth(auth, code);
	sodium_memzero(code, sizeof code);
	/* The file first: a crash between the two leaves a file whose code
	 * is not stored, and the next start makes a new one. */
	if ((rc = write_setup_code(srv->data_dir, srv->setup_code)) == VELD_OK)
		rc = st->ops->office_invite(st, auth, now, now + SETUP_CODE_TTL_MS, &created);
	if (rc != VELD_OK || !created) {
		remove_setup_code(srv);
		sodium_free(srv->setup_code);
		srv->setup_code = NULL;
	}
	return rc;
}

/* The backend the options name: PostgreSQL (version 4's `database`) or
 * SQLite in the data directory. A connection or reader per thread lets
 * every thread work at once; PostgreSQL's pool has one more, so a write
 * never waits for a connection behind reads. */
static int store_open(veld_server *srv, const veld_server_options *opts, uint32_t threads)
{
	const char *db = opts->version >= 4 ? opts->database : NULL;
	/* An empty one is a mistake (an unset variable), not SQLite: that
	 * server would run apart from the others on a state of its own. */
	if (db && !*db)
		return veld__err(VELD_EINVAL, "options: database is empty");
	if (db)
		return veld__sstore_pg_open(&srv->store, db, threads + 1);
	return veld__sstore_sqlite_open(&srv->store, srv->data_dir, threads);
}

/* A server handle with its limits from the options (a version 1 struct
 * ends before the version 2 fields: their defaults). */
static int server_new(const veld_server_options *opts, veld_server **out)
{
	uint32_t header_s = 0, body_s = 0, body_rate = 0;
	veld_server *srv;
	if (opts->version >= 2) {
		header_s = opts->header_timeout_s;
		body_s = opts->body_timeout_s;
		body_rate = opts->body_min_rate;
	}
	if (!(srv = calloc(1, sizeof *srv)))
		return veld__err(VELD_ENOMEM, "out of memory");
	if (pthread_mutex_init(&srv->watch_mu, NULL) != 0) {
		free(srv);
		return veld__err(VELD_ENOMEM, "out of memory");
	}
	if (watch_cv_init(&srv->watch_cv) != 0) {
		pthread_mutex_destroy(&srv->watch_mu);
		free(srv);
		return veld__err(VELD_ENOMEM, "out of memory");
	}
	srv->header_ms = (uint64_t)(header_s ? header_s : DEFAULT_HEADER_TIMEOUT_S) * 1000;
	srv->body_ms = (uint64_t)(body_s ? body_s : DEFAULT_BODY_TIMEOUT_S) * 1000;
	srv->body_rate = body_rate ? body_rate : DEFAULT_BODY_MIN_RATE;
	srv->lock_fd = srv->listen_fd = -1;
	srv->max_body = opts->max_body ? opts->max_body : VELD_WIRE_MAX_BODY;
	srv->max_requests = opts->max_requests ? opts->max_requests : DEFAULT_MAX_REQUESTS;
	srv->log = opts->log;
	srv->log_payload = opts->log_payload;
	atomic_init(&srv->inflight, 0);
	*out = srv;
	return VELD_OK;
}

/* Load the pair with GnuTLS as libmicrohttpd will, to say what is wrong
 * with it (libmicrohttpd only fails to start). GnuTLS checks that the key
 * is the certificate's. */
static int tls_check(const char *cert, const char *key)
{
	gnutls_certificate_credentials_t cred;
	gnutls_datum_t c = {(unsigned char *)(uintptr_t)cert, (unsigned)strlen(cert)},
		k = {(unsigned char *)(uintptr_t)key, (unsigned)strlen(key)};
	int g;
	if (gnutls_certificate_allocate_credentials(&cred) != GNUTLS_E_SUCCESS)
		return veld__err(VELD_ENOMEM, "out of memory");
	g = gnutls_certificate_set_x509_key_mem2(cred, &c, &k, GNUTLS_X509_FMT_PEM, NULL, 0);
	gnutls_certificate_free_credentials(cred);
	if (g < 0)
		return veld__err(VELD_EINVAL, "TLS: the certificate and key do not load: %s (give "
			"the certificate, then any intermediates, in PEM, and its unencrypted PEM "
			"private key)", gnutls_strerror(g));
	return VELD_OK;
}

/* Copy the PEM texts for TLS (the key into guarded memory), once this
 * libmicrohttpd can serve TLS and GnuTLS loaded them. */
static int tls_take(veld_server *srv, const veld_server_options *opts)
{
	const char *cert = opts->version >= 3 ? opts->tls_cert_pem : NULL,
		*key = opts->version >= 3 ? opts->tls_key_pem : NULL;
	size_t n;
	int rc;
	if (cert == NULL && key == NULL)
		return VELD_OK;
	if (cert == NULL || key == NULL || !*cert || !*key)
		return veld__err(VELD_EINVAL, "options: TLS needs both a certificate and its key");
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		return veld__err(VELD_ERROR, "this libmicrohttpd was built without TLS (GnuTLS): "
			"serve plain HTTP on loopback behind a TLS proxy instead");
	if (strlen(cert) > TLS_PEM_MAX || strlen(key) > TLS_PEM_MAX)
		return veld__err(VELD_EINVAL, "options: the TLS certificate or key is longer than "
			"%u KiB", TLS_PEM_MAX / 1024);
	if ((rc = tls_check(cert, key)) != VELD_OK)
		return rc;
	n = strlen(key);
	if (!(srv->tls_cert = strdup(cert)) || !(srv->tls_key = sodium_malloc(n + 1)))
		return veld__err(VELD_ENOMEM, "out of memory");
	memcpy(srv->tls_key, key, n + 1);
	return VELD_OK;
}

/* libmicrohttpd on the bound socket, and the deadline thread. */
static int serve(veld_server *srv, const veld_server_options *opts, uint32_t threads, int v6)
{
	uint32_t timeout = opts->timeout_s ? opts->timeout_s : DEFAULT_TIMEOUT_S;
	uint32_t per_address = opts->version >= 2 ? opts->max_per_address : 0;
	unsigned flags, conn_limit;
	/* poll(), not epoll (which MHD_USE_AUTO picks on Linux): with a thread
	 * pool, libmicrohttpd 0.9.75's MHD_quiesce_daemon races a busy worker
	 * that takes the listening socket out of its epoll set at the same
	 * moment, and aborts the process ("Failed to remove listen FD from
	 * epoll set") when a stop meets connections coming and going. With
	 * poll() quiesce only wakes the workers. A worker polls at most its
	 * share of the connection limit (64 of 256), where poll() costs
	 * nothing noticeable. */
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC |
	        (v6 ? MHD_USE_IPv6 : 0) | (srv->tls_cert ? MHD_USE_TLS : 0);
	conn_limit = srv->max_requests * 4 < 64 ? 64 : srv->max_requests * 4;
	/* The TLS options come last: without TLS they are the end. GnuTLS's
	 * "NORMAL" less every version before TLS 1.2. */
	srv->daemon = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, srv,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)srv->listen_fd,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
		MHD_OPTION_CONNECTION_LIMIT, conn_limit,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(unsigned)(per_address ? per_address : DEFAULT_PER_ADDRESS),
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)timeout,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
		srv->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, srv->tls_cert,
		MHD_OPTION_HTTPS_MEM_KEY, srv->tls_key,
		MHD_OPTION_HTTPS_PRIORITIES, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
		MHD_OPTION_END);
	if (!srv->daemon)
		return veld__err(VELD_EIO, "the %s server did not start", srv->tls_cert ? "HTTPS" : "HTTP");
	if (pthread_create(&srv->watcher, NULL, watch_run, srv) != 0)
		return veld__err(VELD_ERROR, "cannot start the server's deadline thread");
	srv->watching = 1;
	return VELD_OK;
}

int veld_server_start(veld_server **out, const veld_server_options *opts)
{
	veld_server *srv = NULL;
	uint32_t threads;
	int rc, v6 = 0;

	veld__err_clear();
	if (!out)
		return veld__err(VELD_EINVAL, "out is NULL");
	*out = NULL;
	if ((rc = veld_init()) != VELD_OK)
		return rc;
	if (!opts || opts->version < 1 || opts->version > VELD_SERVER_OPTIONS_VERSION)
		return veld__err(VELD_EINVAL, "options: missing or of an unknown version");
	if (!opts->data_dir || !*opts->data_dir)
		return veld__err(VELD_EINVAL, "options: data_dir is required");
	threads = opts->threads ? opts->threads : DEFAULT_THREADS;
	if (threads > MAX_THREADS)
		return veld__err(VELD_EINVAL, "options: at most %d threads", MAX_THREADS);
	if ((rc = server_new(opts, &srv)) != VELD_OK)
		return rc;
	if (!(srv->data_dir = strdup(opts->data_dir))) {
		rc = veld__err(VELD_ENOMEM, "out of memory");
		goto fail;
	}
	/* Bind first: a bad address or a busy port touches no file, and does
	 * not use up the start that shows a new setup code. */
	if ((rc = tls_take(srv, opts)) != VELD_OK)
		goto fail;
	if ((rc = listen_on(opts->listen ? opts->listen : "127.0.0.1:0",
	                    !srv->tls_cert && !(opts->version >= 3 && opts->insecure_http),
	                    &srv->listen_fd, &srv->port, &v6)) != VELD_OK)
		goto fail;
	if ((rc = make_dir(srv->data_dir)) != VELD_OK || (rc = lock_dir(srv)) != VELD_OK)
		goto fail;
	if ((rc = store_open(srv, opts, threads)) != VELD_OK)
		goto fail;
	/* The push's clock rule (server_store.h). max_skew_s came with options
	 * version 2: a version 1 struct ends before it. */
	if (opts->version >= 2 && opts->max_skew_s)
		srv->store->max_skew_ms = (uint64_t)opts->max_skew_s * 1000;
	if ((rc = setup_office(srv)) != VELD_OK || (rc = serve(srv, opts, threads, v6)) != VELD_OK)
		goto fail;
	*out = srv;
	return VELD_OK;
fail:
	veld_server_stop(srv);
	return rc;
}

uint16_t veld_server_port(const veld_server *srv)
{
	return srv ? srv->port : 0;
}

const char *veld_server_setup_code(const veld_server *srv)
{
	return srv ? srv->setup_code : NULL;
}

void veld_server_stop(veld_server *srv)
{
	if (!srv)
		return;
	if (srv->daemon) {
		/* Stop accepting, let what is in flight finish, then stop. */
		MHD_socket lfd = MHD_quiesce_daemon(srv->daemon);
		for (int i = 0; i < DRAIN_MS / 10 && atomic_load(&srv->inflight) > 0; i++) {
			struct timespec ts = {0, 10 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
		/* The watcher kept cutting slow requests while they drained;
		 * MHD_stop_daemon closes the rest. */
		if (srv->watching) {
			pthread_mutex_lock(&srv->watch_mu);
			srv->watch_stop = 1;
			pthread_cond_signal(&srv->watch_cv);
			pthread_mutex_unlock(&srv->watch_mu);
			pthread_join(srv->watcher, NULL);
		}
		MHD_stop_daemon(srv->daemon);
		if (lfd != MHD_INVALID_SOCKET)
			close(lfd);
	} else if (srv->listen_fd >= 0) {
		close(srv->listen_fd);
	}
	if (srv->store)
		srv->store->ops->close(srv->store);
	if (srv->setup_code)
		sodium_free(srv->setup_code);
	free(srv->tls_cert);
	if (srv->tls_key)
		sodium_free(srv->tls_key); /* wipes it */
	if (srv->lock_fd >= 0)
		close(srv->lock_fd); /* releases the flock */
	pthread_cond_destroy(&srv->watch_cv);
	pthread_mutex_destroy(&srv->watch_mu);
	free(srv->data_dir);
	free(srv);
}
