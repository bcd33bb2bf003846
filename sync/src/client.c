/* client.c - the device side of sync: enrollment, the push/pull sequence of
 * docs/protocol.md section 7, and the office's device management.
 *
 * This file drives HTTP and nothing else: every read or write of the store
 * goes through devsync.h, whose functions take the store's mutex for their
 * own short step. So no lock is ever held across a network request, and an
 * app can keep recording while a sync runs.
 *
 * Retry policy, in one place (call()): a request that got no answer, or an
 * answer 500/503, or 409 replay, is tried again up to max_retries times with
 * exponential backoff and jitter, re-signed each time (fresh time and nonce,
 * so a retry is never refused as a replay of itself). Any other refusal
 * stops the sync with the server's error code and message. */
#include "veld_sync.h"

#include "auth.h"
#include "devsync.h"
#include "error.h"
#include "http.h"
#include "policy.h"
#include "syncstate.h"
#include "wire.h"

#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define DEFAULT_TIMEOUT_MS 30000u
#define DEFAULT_MAX_RETRIES 5u
#define DEFAULT_TTL_S (72u * 3600u)
#define MAX_TTL_S (7u * 24u * 3600u)
#define LABEL_MAX 64

void veld_sync_options_init(veld_sync_options *opts)
{
	veld_sync_options d = VELD_SYNC_OPTIONS_INIT;
	if (opts != NULL)
		*opts = d;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- cancellation ------------------------------------------------------- */

/* The flag lives in the store handle (syncstate.h), so veld_sync_cancel(s)
 * reaches the calls running on s from any thread without global state. */
void veld_sync_cancel(veld_store *s)
{
	if (s != NULL)
		veld__store_cancel(s);
}

/* ---- one sync session --------------------------------------------------- */

struct session {
	veld_store *s;
	veld_sync_options o; /* with defaults filled in */
	struct veld__http http;
	atomic_int *cancel;
	char *kept_ca;              /* the TLS trust the store enrolled with */
	char kept_pin[VELD_PIN_MAX];
	char role[16];
	uint64_t t0;
	int open;
	int own_whole; /* the server takes no own=1 (older than own runs) */
};

void veld__sync_options_resolve(veld_sync_options *o, const veld_sync_options *in)
{
	veld_sync_options_init(o);
	if (in != NULL) {
		/* Later versions only add fields at the end: copy what the
		 * caller's version has. */
		o->insecure_http = in->insecure_http;
		o->ca_file = in->ca_file;
		o->timeout_ms = in->timeout_ms;
		o->max_retries = in->max_retries;
		o->push_batch = in->push_batch;
		o->pull_page = in->pull_page;
		o->progress = in->progress;
		o->payload = in->payload;
		if (in->version >= 2) {
			o->max_skew_s = in->max_skew_s;
			o->checkpoint_max_age_s = in->checkpoint_max_age_s;
		}
		if (in->version >= 3) {
			o->ca_pem = in->ca_pem;
			o->pinned_key = in->pinned_key;
		}
	}
	if (o->max_skew_s == 0)
		o->max_skew_s = 600;
	if (o->checkpoint_max_age_s == 0)
		o->checkpoint_max_age_s = 7u * 24u * 3600u;
	if (o->timeout_ms == 0)
		o->timeout_ms = DEFAULT_TIMEOUT_MS;
	if (o->max_retries == 0)
		o->max_retries = DEFAULT_MAX_RETRIES;
	else if (o->max_retries == (uint32_t)VELD_SYNC_RETRIES_NONE)
		o->max_retries = 0;
	if (o->push_batch == 0 || o->push_batch > VELD_WIRE_MAX_OPS)
		o->push_batch = VELD_WIRE_MAX_OPS;
	if (o->pull_page == 0)
		o->pull_page = VELD_WIRE_DEFAULT_PAGE;
	if (o->pull_page > VELD_WIRE_MAX_PAGE)
		o->pull_page = VELD_WIRE_MAX_PAGE;
}

/* What the session trusts of the server's certificate: the call's own CA
 * and pin, else those the store enrolled with (veld_sync.h, "TLS trust"). */
static int session_tls(struct session *x, struct veld__http_tls *tls)
{
	const veld_sync_options *o = &x->o;
	int rc;
	if (o->ca_pem != NULL && (rc = veld__ca_check(o->ca_pem)) != VELD_OK)
		return rc;
	if (o->pinned_key != NULL && (rc = veld__pin_check(o->pinned_key)) != VELD_OK)
		return rc;
	memset(tls, 0, sizeof *tls);
	if (o->ca_pem != NULL)
		tls->ca_pem = o->ca_pem;
	else if (o->ca_file != NULL && *o->ca_file)
		tls->ca_file = o->ca_file;
	else
		tls->ca_pem = x->kept_ca;
	tls->pin = o->pinned_key != NULL ? o->pinned_key : x->kept_pin[0] ? x->kept_pin : NULL;
	return VELD_OK;
}

/* Open a session with the server at `url`, or (url NULL) with the server
 * the store enrolled with. `need` is the role the call needs, or NULL. */
static int session_open(struct session *x, veld_store *s, const veld_sync_options *in,
                        const char *url, const char *need)
{
	char stored[VELD_URL_MAX], base[VELD_URL_MAX];
	struct veld__http_tls tls;
	int loopback = 0, rc;

	memset(x, 0, sizeof *x);
	x->s = s;
	x->t0 = mono_ms();
	veld__sync_options_resolve(&x->o, in);
	if (s == NULL)
		return veld__err(VELD_EINVAL, "no store given");
	if (in != NULL && (in->version < 1 || in->version > VELD_SYNC_OPTIONS_VERSION))
		return veld__err(VELD_EINVAL, "veld_sync_options version %u is not supported (this "
			"library knows version %u)", (unsigned)in->version, VELD_SYNC_OPTIONS_VERSION);
	if (url == NULL) {
		rc = veld__sync_server(s, stored, sizeof stored, x->role);
		if (rc == VELD_ENOTFOUND)
			return veld__err(VELD_ENOTFOUND, need != NULL && strcmp(need, "office") == 0
				? "this office store has not enrolled with a server yet: enroll it "
				  "first with the server's setup code (veld office enroll URL CODE)"
				: "this store has not enrolled with a server yet: enroll it first "
				  "with an invite code from the office (veld enroll URL CODE)");
		if (rc != VELD_OK)
			return rc;
		if (need != NULL && strcmp(x->role, need) != 0)
			return veld__err(VELD_EPERM, "only an office store can do this; this store "
				"enrolled as a %s device", x->role);
		if ((rc = veld__sync_tls(s, &x->kept_ca, x->kept_pin, sizeof x->kept_pin)) != VELD_OK)
			return rc;
		url = stored;
	}
	if ((rc = veld__url_check(url, x->o.insecure_http, base, &loopback)) != VELD_OK ||
	    (rc = session_tls(x, &tls)) != VELD_OK ||
	    (rc = veld__http_open(&x->http, base, loopback, x->o.timeout_ms, &tls, NULL)) != VELD_OK) {
		free(x->kept_ca);
		x->kept_ca = NULL;
		return rc;
	}
	x->cancel = veld__store_cancel_enter(s);
	x->http.cancel = x->cancel;
	x->open = 1;
	return VELD_OK;
}

static void session_close(struct session *x)
{
	if (!x->open)
		return;
	veld__http_close(&x->http);
	veld__store_cancel_leave(x->s);
	free(x->kept_ca);
	x->kept_ca = NULL;
	x->open = 0;
}

static int cancelled(struct session *x)
{
	return x->cancel != NULL && atomic_load(x->cancel);
}

/* ---- requests and errors ---------------------------------------------------- */

/* Copy server text for a message: printable ASCII only, so a hostile or
 * broken server cannot put terminal control sequences into our output. */
static void clean_copy(char *dst, size_t cap, const char *src)
{
	size_t i = 0;
	for (; src != NULL && src[i] != '\0' && i + 1 < cap; i++) {
		unsigned char ch = (unsigned char)src[i];
		dst[i] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
	}
	dst[i] = '\0';
}

/* Prefix the thread's current error message, keeping its code. */
static int err_prefix(int code, const char *prefix)
{
	char msg[512];
	clean_copy(msg, sizeof msg, veld_error_last());
	return veld__err(code, "%s: %s", prefix, msg);
}

/* Turn an error answer into a veld code with the server's error code and
 * message. `e` (may be NULL) gets the decoded answer. */
static int server_error(const char *method, const char *path, const struct veld__http_resp *r,
                        struct veld__error_resp *e_out)
{
	struct veld__wire w;
	struct veld__error_resp e;
	char code[40], msg[260];
	int decoded, rc;

	memset(&w, 0, sizeof w);
	memset(&e, 0, sizeof e);
	decoded = r->body != NULL &&
		veld__wire_error_decode(&w, r->body, r->len, &e) == VELD_OK;
	veld__wire_free(&w);
	if (e_out != NULL) {
		memset(e_out, 0, sizeof *e_out);
		if (decoded)
			*e_out = e;
	}
	if (!decoded) {
		if (r->status >= 300 && r->status < 400)
			return veld__err(VELD_EPROTO, "%s %s: the server answered with a redirect "
				"(HTTP %ld), which veld does not follow: check the server URL",
				method, path, r->status);
		rc = veld__http_error_code(r->status, NULL);
		if (r->status >= 200 && r->status < 300)
			rc = VELD_EPROTO;
		return veld__err(rc, "%s %s: the server answered HTTP %ld without a veld error "
			"(is this a veld server?)", method, path, r->status);
	}
	clean_copy(code, sizeof code, e.error);
	clean_copy(msg, sizeof msg, e.message);
	rc = veld__http_error_code(r->status, e.error);
	if (rc == VELD_EREVOKED)
		return veld__err(rc, "this device was revoked by the office (%ld %s: %s); its "
			"local store must be wiped", r->status, code, msg);
	if (strcmp(e.error, "stale") == 0)
		return veld__err(rc, "%s %s: refused: %ld %s: %s (this device's clock differs from "
			"the server's by more than 5 minutes: set the clock right)", method, path,
			r->status, code, msg);
	return veld__err(rc, "%s %s: refused: %ld %s: %s", method, path, r->status, code, msg);
}

/* The server says the office revoked this device (the error is set). That
 * answer carries no proof the office signed, so a server (or, over plain
 * HTTP, the network) could say it falsely: the store is to be wiped
 * (VELD_EREVOKED) only when the server holds all the device recorded.
 * While operations, key envelopes or access-log entries of its own wait to
 * be pushed, the answer is VELD_EPERM and the store stays. */
static int revoked(struct session *x)
{
	uint64_t ops = 0, envs = 0, log = 0;
	char why[160];
	int rc = veld__sync_pending(x->s, &ops, &envs);
	if (rc == VELD_OK)
		rc = veld__audit_pending(x->s, &log);
	if (rc == VELD_OK && ops + envs + log == 0)
		return veld__err(VELD_EREVOKED, "this device was revoked by the office; its local"
			" store must be wiped");
	if (rc != VELD_OK)
		snprintf(why, sizeof why, "what this store holds that the server does not could not"
			" be counted");
	else
		snprintf(why, sizeof why, "%llu operations, %llu key envelopes and %llu access-log"
			" entries of this store are not on the server", (unsigned long long)ops,
			(unsigned long long)envs, (unsigned long long)log);
	return veld__err(VELD_EPERM, "the server says the office revoked this device, but %s:"
		" the store is kept, not wiped; ask the office", why);
}

/* One request, signed, with the retries of docs/protocol.md 7. On VELD_OK
 * the answer was 200 and `r` holds it (free with veld__http_resp_free). On
 * a refusal `e` (may be NULL) gets the server's error answer. */
static int call(struct session *x, const char *method, const char *path, const uint8_t *body,
                size_t len, struct veld__http_resp *r, struct veld__error_resp *e)
{
	struct veld__auth_headers h;
	struct veld__error_resp er;
	int rc;

	memset(r, 0, sizeof *r);
	if (e != NULL)
		memset(e, 0, sizeof *e);
	for (uint32_t attempt = 0;; attempt++) {
		int retry;
		if (cancelled(x))
			return veld__err(VELD_ECANCELLED, "sync cancelled");
		/* Signed anew each attempt: a fresh time and nonce. */
		if ((rc = veld__sync_sign(x->s, &h, method, path, body, len)) != VELD_OK)
			return rc;
		rc = veld__http_request(&x->http, method, path, &h, body, len, r);
		sodium_memzero(&h, sizeof h);
		if (rc == VELD_OK && r->status == 200)
			return VELD_OK;
		if (rc == VELD_ENET) {
			retry = 1;
		} else if (rc != VELD_OK) {
			return rc; /* cancelled, too large, out of memory */
		} else {
			rc = server_error(method, path, r, &er);
			if (rc == VELD_EREVOKED)
				rc = revoked(x);
			retry = veld__http_retryable(r->status) ||
				(r->status == 409 && strcmp(er.error, "replay") == 0);
			if (e != NULL)
				*e = er;
			veld__http_resp_free(r);
		}
		if (!retry || attempt >= x->o.max_retries) {
			if (retry && attempt > 0) {
				char what[64];
				snprintf(what, sizeof what, "gave up after %u attempts", attempt + 1);
				return err_prefix(rc == VELD_EPROTO ? VELD_EPROTO : VELD_ENET, what);
			}
			return rc;
		}
		rc = veld__sleep_ms(veld__backoff_ms(attempt,
			randombytes_uniform(VELD_BACKOFF_DRAW_MAX + 1)), x->cancel);
		if (rc != VELD_OK)
			return veld__err(VELD_ECANCELLED, "sync cancelled");
	}
}

/* Encode with one of the wire encoders into a fresh buffer. */
#define ENCODE(sb, fn, msg) (msgpack_sbuffer_init(sb), fn(sb, msg))

/* POST a message whose answer is {"v":1}. */
static int post_ok(struct session *x, const char *path, msgpack_sbuffer *sb,
                   struct veld__error_resp *e)
{
	struct veld__http_resp r;
	struct veld__wire w;
	int rc = call(x, "POST", path, (const uint8_t *)sb->data, sb->size, &r, e);
	if (rc != VELD_OK)
		return rc;
	memset(&w, 0, sizeof w);
	rc = veld__wire_ok_decode(&w, r.body, r.len);
	veld__wire_free(&w);
	veld__http_resp_free(&r);
	return rc == VELD_OK ? VELD_OK : err_prefix(rc, "the server's answer did not decode");
}

/* POST an encoded push (operations or access log, `what` names it in an
 * error) whose answer is the server's `acked`; frees sb. */
static int post_acked(struct session *x, const char *path, msgpack_sbuffer *sb,
                      struct veld__push_resp *resp, struct veld__error_resp *e, const char *what)
{
	struct veld__http_resp r;
	struct veld__wire w;
	int rc = call(x, "POST", path, (const uint8_t *)sb->data, sb->size, &r, e);
	msgpack_sbuffer_destroy(sb);
	if (rc != VELD_OK)
		return rc;
	memset(&w, 0, sizeof w);
	rc = veld__wire_push_resp_decode(&w, r.body, r.len, resp);
	veld__wire_free(&w);
	veld__http_resp_free(&r);
	return rc == VELD_OK ? VELD_OK : err_prefix(rc, what);
}

/* ---- the sync sequence -------------------------------------------------- */

struct tally {
	uint64_t pushed, push_total, pulled, applied;
	uint64_t log_pushed, log_pulled; /* access-log entries */
	uint64_t quarantined;            /* put in quarantine by this sync */
	uint64_t forged;                 /* waited, then found not signed by their author */
	int log_waiting;                 /* the office: entries of uncertified devices */
	size_t uncertifiable;            /* the office: listed devices it cannot certify */
	struct veld__freshness fresh;    /* the office's latest checkpoint here */
	char kept[2048];                 /* warnings kept in the store since the last summary */
	struct veld__own_check own;      /* own operations the server claimed but did not send back */
	uint64_t forwarded;              /* the office: operations of moved clients forwarded */
};

static int report(struct session *x, const struct tally *t, uint32_t phase)
{
	veld_sync_progress p;
	if (x->o.progress == NULL)
		return VELD_OK;
	memset(&p, 0, sizeof p);
	p.version = VELD_SYNC_PROGRESS_VERSION;
	p.phase = phase;
	p.pushed = t->pushed;
	p.push_total = t->push_total > t->pushed ? t->push_total : t->pushed;
	p.pulled = t->pulled;
	p.applied = t->applied;
	p.elapsed_ms = mono_ms() - x->t0;
	if (x->o.progress(&p, x->o.payload) != 0)
		return veld__err(VELD_ECANCELLED, "sync cancelled by the progress callback");
	return VELD_OK;
}

/* Explain a 409 gap on a push: the store believes the server holds
 * operations the server does not have. */
static int gap_error(const struct veld__push_req *req, const struct veld__error_resp *e)
{
	unsigned long long first = req->nops ? (unsigned long long)req->ops[0].seq : 0;
	return veld__err(VELD_EPROTO, "the server does not hold this device's operations up to "
		"%llu: it expects operation %llu next, but this store recorded operations up to "
		"%llu as acknowledged (409 gap). The server may have been restored from an older "
		"backup; nothing was lost on this device, but sync cannot continue until the "
		"store can push again from %llu. Tell the office.",
		first ? first - 1 : 0, (unsigned long long)e->expected, first ? first - 1 : 0,
		(unsigned long long)e->expected);
}

/* An empty push: how far the server holds this device's operations. If it
 * holds more than this store recorded (the answer to a push was lost), they
 * count as acknowledged, so they are not sent again: a re-sent operation
 * must be byte for byte the one the server holds, and an erasure or purge
 * may have removed its value here since. If it holds fewer (restored from a
 * backup), rewind. *rewound tells whether that happened. */
static int probe_acked(struct session *x, int *rewound)
{
	struct veld__outbox none;
	struct veld__push_resp resp;
	msgpack_sbuffer sb;
	uint64_t mine = 0;
	int rc;

	memset(&none, 0, sizeof none);
	if ((rc = ENCODE(&sb, veld__wire_push_req_encode, &none.req)) != VELD_OK) {
		msgpack_sbuffer_destroy(&sb);
		return err_prefix(rc, "encoding a push");
	}
	if ((rc = post_acked(x, "/v1/push", &sb, &resp, NULL,
	                     "the server's answer to a push did not decode")) != VELD_OK)
		return rc;
	if ((rc = veld__sync_acked(x->s, &mine)) != VELD_OK)
		return rc;
	if (resp.acked < mine) {
		if ((rc = veld__sync_rewind(x->s, resp.acked + 1)) != VELD_OK)
			return err_prefix(rc, "resuming from the server's sequence");
		*rewound = 1;
	} else if (resp.acked > mine && (rc = veld__sync_pushed(x->s, &none, &resp)) != VELD_OK) {
		return err_prefix(rc, "recording what the server holds");
	}
	return VELD_OK;
}

/* State of one push sequence: the batch size (halved when a push is too
 * large, grown back after), whether it rewound already, and the pending
 * envelope count the last envelope-only push started from. */
struct pushing {
	size_t batch;
	int rewound;
	uint64_t pend_envs;
};

/* A push the server refused: halve a batch that was too large, rewind once
 * when the server lost operations; PUSH_AGAIN to go on, else an error. */
#define PUSH_AGAIN 1
static int push_refused(struct session *x, struct tally *t, struct pushing *p,
                        const struct veld__outbox *ob, const struct veld__error_resp *e, int rc)
{
	uint64_t pend_ops = 0;
	size_t nops = ob->req.nops;
	if (strcmp(e->error, "too_large") == 0 && nops > 1) {
		p->batch = nops / 2;
		return PUSH_AGAIN;
	}
	/* The server lost operations it had acknowledged (restored from a
	 * backup): this device still holds them, so push again from where the
	 * server is. Once per sync. */
	if (strcmp(e->error, "gap") == 0 && !p->rewound && e->expected > 0) {
		if ((rc = veld__sync_rewind(x->s, e->expected)) != VELD_OK)
			return err_prefix(rc, "resuming from the server's sequence");
		p->rewound = 1;
		if ((rc = veld__sync_pending(x->s, &pend_ops, &p->pend_envs)) != VELD_OK)
			return rc;
		t->push_total = pend_ops;
		return PUSH_AGAIN;
	}
	return strcmp(e->error, "gap") == 0 ? gap_error(&ob->req, e) : rc;
}

/* What the server's answer to an accepted push means here. */
static int push_accepted(struct session *x, struct tally *t, struct pushing *p,
                         const struct veld__outbox *ob, struct veld__http_resp *r)
{
	struct veld__push_resp resp;
	struct veld__wire w;
	size_t nops = ob->req.nops;
	uint64_t last = nops ? ob->req.ops[nops - 1].seq : 0, pend_ops = 0, envs_now = 0;
	int rc;
	memset(&w, 0, sizeof w);
	rc = veld__wire_push_resp_decode(&w, r->body, r->len, &resp);
	veld__wire_free(&w);
	if (rc != VELD_OK)
		return err_prefix(rc, "the server's answer to a push did not decode");
	if ((rc = veld__sync_pushed(x->s, ob, &resp)) != VELD_OK)
		return err_prefix(rc, "recording a push");
	/* Without this check a server that does not take a batch would have
	 * it sent again forever. */
	if (nops > 0 && resp.acked < last)
		return veld__err(VELD_EPROTO, "the server acknowledged operations up to %llu of "
			"a push that ended at %llu", (unsigned long long)resp.acked,
			(unsigned long long)last);
	if (nops == 0) {
		if ((rc = veld__sync_pending(x->s, &pend_ops, &envs_now)) != VELD_OK)
			return rc;
		if (envs_now >= p->pend_envs)
			return veld__err(VELD_EPROTO, "the key envelopes pushed are still waiting "
				"after the server took them");
		p->pend_envs = envs_now;
	}
	t->pushed += nops;
	if (p->batch < x->o.push_batch)
		p->batch = p->batch * 2 < x->o.push_batch ? p->batch * 2 : x->o.push_batch;
	return report(x, t, VELD_SYNC_PHASE_PUSH);
}

/* One push of what waits: VELD_OK when nothing waited (done), PUSH_AGAIN
 * when one went (or must be retried smaller), else an error. */
static int push_one(struct session *x, struct tally *t, struct pushing *p)
{
	struct veld__outbox ob;
	struct veld__error_resp e;
	struct veld__http_resp r;
	msgpack_sbuffer sb;
	int rc;

	if ((rc = veld__sync_next_push(x->s, p->batch, &ob)) != VELD_OK)
		return err_prefix(rc, "reading the operations to push");
	if (ob.req.nops == 0 && ob.req.nenvs == 0) {
		veld__outbox_free(&ob);
		return VELD_OK;
	}
	if ((rc = ENCODE(&sb, veld__wire_push_req_encode, &ob.req)) != VELD_OK) {
		rc = err_prefix(rc, "encoding a push");
	} else if (sb.size > VELD_WIRE_MAX_BODY && ob.req.nops > 1) {
		/* Large values can make 1000 operations exceed the server's body
		 * limit: halve the batch until it fits. */
		p->batch = ob.req.nops / 2;
		rc = PUSH_AGAIN;
	} else if ((rc = call(x, "POST", "/v1/push", (const uint8_t *)sb.data, sb.size, &r,
	                      &e)) != VELD_OK) {
		rc = push_refused(x, t, p, &ob, &e, rc);
	} else {
		rc = push_accepted(x, t, p, &ob, &r);
		veld__http_resp_free(&r);
		if (rc == VELD_OK)
			rc = PUSH_AGAIN;
	}
	msgpack_sbuffer_destroy(&sb);
	veld__outbox_free(&ob);
	return rc;
}

/* Push what waits (after the probe, or again after a pull showed that the
 * server did not hold what it claimed: no probe then, no rewind). */
static int push_waiting(struct session *x, struct tally *t, struct pushing *p)
{
	int rc;
	do {
		if (cancelled(x))
			return veld__err(VELD_ECANCELLED, "sync cancelled");
	} while ((rc = push_one(x, t, p)) == PUSH_AGAIN);
	/* What the server now holds of fields the team's policy keeps at the
	 * office leaves this device. */
	return rc == VELD_OK ? veld__sync_policy_enforce(x->s) : rc;
}

static int push_again(struct session *x, struct tally *t)
{
	struct pushing p = {x->o.push_batch, 1, 0};
	uint64_t pend_ops = 0;
	int rc = veld__sync_pending(x->s, &pend_ops, &p.pend_envs);
	if (rc != VELD_OK)
		return rc;
	t->push_total = t->pushed + pend_ops;
	return push_waiting(x, t, &p);
}

static int push_all(struct session *x, struct tally *t)
{
	struct pushing p = {x->o.push_batch, 0, 0};
	uint64_t pend_ops = 0;
	int rc;

	/* First learn how far the server holds this device's operations: also
	 * how a device with nothing new finds out the server was restored. */
	if ((rc = probe_acked(x, &p.rewound)) != VELD_OK ||
	    (rc = veld__sync_pending(x->s, &pend_ops, &p.pend_envs)) != VELD_OK)
		return rc;
	t->push_total = pend_ops;
	return push_waiting(x, t, &p);
}

/* One page: GET /v1/pull from the saved cursors, checked and applied
 * (apply.c). *done when nothing more waits. */
static int pull_page(struct session *x, struct tally *t, int *done)
{
	struct veld__pull_resp page;
	struct veld__apply_report rep;
	struct veld__apply_ctx c;
	struct veld__http_resp r;
	struct veld__error_resp e;
	struct veld__wire w;
	uint64_t now_after, whole = 0;
	char path[200];
	int rc, runs;

	memset(&c, 0, sizeof c);
	c.skew_ms = (uint64_t)x->o.max_skew_s * 1000u;
	if ((rc = veld__sync_cursors(x->s, &c.after, &c.env_after, &c.notice_after)) != VELD_OK ||
	    (rc = veld__sync_u64_step(x->s, VELD__OWN_WHOLE, &whole)) != VELD_OK)
		return rc;
	/* This device's own operations come back as runs of their hashes'
	 * digest (own=1), unless their values must come back with them. A
	 * server from before own runs refuses the parameter: then whole. */
	for (;;) {
		runs = !whole && !x->own_whole;
		snprintf(path, sizeof path, "/v1/pull?after=%llu&env_after=%llu&notice_after=%llu"
			"&limit=%u%s", (unsigned long long)c.after, (unsigned long long)c.env_after,
			(unsigned long long)c.notice_after, (unsigned)x->o.pull_page, runs ? "&own=1" : "");
		if ((rc = call(x, "GET", path, NULL, 0, &r, &e)) == VELD_OK)
			break;
		if (!runs || strcmp(e.error, "malformed") != 0)
			return rc;
		veld__err_clear();
		x->own_whole = 1;
	}
	memset(&w, 0, sizeof w);
	memset(&page, 0, sizeof page);
	if ((rc = veld__wire_pull_resp_decode(&w, r.body, r.len, &page)) != VELD_OK)
		rc = err_prefix(rc, "a pulled page did not decode");
	/* Runs where the operations were asked for whole (their values must
	 * come back) would count as come back without them. */
	else if (!runs && page.nown > 0)
		rc = veld__err(VELD_EPROTO, "a pulled page was refused, nothing of it applied: the"
			" server sent this device's own operations as runs where it asked for them whole");
	else if ((rc = veld__sync_apply_page(x->s, &page, &c, &rep)) != VELD_OK)
		rc = err_prefix(rc, "a pulled page was refused, nothing of it applied");
	/* The page points into w and r.body: applied before freeing. */
	veld__wire_free(&w);
	veld__http_resp_free(&r);
	if (rc != VELD_OK)
		return rc;
	t->pulled += page.nops;
	t->applied += rep.applied;
	t->quarantined += rep.quarantined;
	t->forged += rep.forged;
	if ((rc = report(x, t, VELD_SYNC_PHASE_PULL)) != VELD_OK)
		return rc;
	/* A widened field policy or a revocation starts the operations over
	 * (apply.c). */
	now_after = rep.repull ? 0 : page.next;
	*done = now_after >= page.next && !page.more;
	if (!*done && now_after >= page.next && page.next <= c.after &&
	    page.env_next <= c.env_after && page.notice_next <= c.notice_after)
		return veld__err(VELD_EPROTO, "the server said more operations wait but its "
			"cursors did not advance");
	return VELD_OK;
}

/* Pull until nothing waits; then, on a worker's device, hold what arrived
 * against the office's latest checkpoint of the team: what it counts must
 * be here, or the server withholds it. */
static int pull_all(struct session *x, struct tally *t)
{
	int rc, done = 0;
	while (!done) {
		if (cancelled(x))
			return veld__err(VELD_ECANCELLED, "sync cancelled");
		if ((rc = pull_page(x, t, &done)) != VELD_OK)
			return rc;
	}
	/* Every own operation the server acknowledged must have come back;
	 * those that did not are pushed again (sync_run). */
	if ((rc = veld__sync_own_check(x->s, &t->own)) != VELD_OK)
		return err_prefix(rc, "checking what came back of this device's operations");
	return veld__sync_checkpoint_check(x->s, (uint64_t)x->o.checkpoint_max_age_s * 1000u,
	                                   &t->fresh);
}

/* POST one access-log push; *resp gets the answer. */
static int audit_post(struct session *x, const struct veld__audit_push_req *req,
                      struct veld__push_resp *resp, struct veld__error_resp *e)
{
	msgpack_sbuffer sb;
	int rc;
	if ((rc = ENCODE(&sb, veld__wire_audit_push_req_encode, req)) != VELD_OK) {
		msgpack_sbuffer_destroy(&sb);
		return err_prefix(rc, "encoding the access log");
	}
	return post_acked(x, "/v1/audit", &sb, resp, e,
	                  "the server's answer to an access-log push did not decode");
}

/* Send the access-log entries the server does not hold yet (docs/protocol.md
 * 7, step 3). Entries at most 1000 a request; with none waiting, one empty
 * push learns the server's `acked`. If the server holds fewer than this
 * store recorded (restored from a backup), send again from there, once. */
static int audit_push_all(struct session *x, struct tally *t)
{
	int rc, rewound = 0;
	for (;;) {
		struct veld__audit_outbox ob;
		struct veld__push_resp resp;
		struct veld__error_resp e;
		uint64_t mine = 0, last;
		size_t n;

		if (cancelled(x))
			return veld__err(VELD_ECANCELLED, "sync cancelled");
		memset(&e, 0, sizeof e);
		if ((rc = veld__audit_acked(x->s, &mine)) != VELD_OK)
			return rc;
		memset(&ob, 0, sizeof ob);
		if ((rc = veld__audit_next_push(x->s, VELD_WIRE_MAX_AUDIT, &ob)) != VELD_OK)
			return err_prefix(rc, "reading the access log to send");
		n = ob.req.n;
		last = n ? ob.req.entries[n - 1].seq : mine;
		rc = audit_post(x, &ob.req, &resp, &e);
		veld__audit_outbox_free(&ob);
		if (rc != VELD_OK) {
			if (strcmp(e.error, "gap") == 0 && !rewound && e.expected > 0 &&
			    e.expected <= mine) {
				if ((rc = veld__audit_set_acked(x->s, e.expected - 1)) != VELD_OK)
					return err_prefix(rc, "resuming the access log from the server's point");
				rewound = 1;
				continue;
			}
			return rc;
		}
		if (n == 0 && resp.acked < mine && !rewound) {
			if ((rc = veld__audit_set_acked(x->s, resp.acked)) != VELD_OK)
				return err_prefix(rc, "resuming the access log from the server's point");
			rewound = 1;
			continue;
		}
		if (resp.acked < last)
			return veld__err(VELD_EPROTO, "the server acknowledged access-log entries up to "
				"%llu of a push that ended at %llu", (unsigned long long)resp.acked,
				(unsigned long long)last);
		if ((rc = veld__audit_set_acked(x->s, resp.acked)) != VELD_OK)
			return err_prefix(rc, "recording an access-log push");
		t->log_pushed += resp.stored;
		if (n < VELD_WIRE_MAX_AUDIT)
			return VELD_OK; /* all sent (or nothing was waiting) */
	}
}

/* The office: every device's access log, page by page. */
static int audit_pull_all(struct session *x, struct tally *t)
{
	int rc;
	for (;;) {
		struct veld__audit_pull_resp page;
		struct veld__http_resp r;
		struct veld__wire w;
		uint64_t after = 0, applied = 0;
		char path[96];

		if (cancelled(x))
			return veld__err(VELD_ECANCELLED, "sync cancelled");
		if ((rc = veld__audit_cursor(x->s, &after)) != VELD_OK)
			return rc;
		snprintf(path, sizeof path, "/v1/audit?after=%llu&limit=%u", (unsigned long long)after,
			(unsigned)x->o.pull_page);
		if ((rc = call(x, "GET", path, NULL, 0, &r, NULL)) != VELD_OK)
			return rc;
		memset(&w, 0, sizeof w);
		rc = veld__wire_audit_pull_resp_decode(&w, r.body, r.len, &page);
		if (rc == VELD_OK)
			rc = veld__audit_apply_page(x->s, &page, after, &applied, &t->log_waiting);
		else
			rc = err_prefix(rc, "a pulled access-log page did not decode");
		veld__wire_free(&w);
		veld__http_resp_free(&r);
		if (rc != VELD_OK)
			return err_prefix(rc, "a pulled access-log page was refused, nothing of it kept");
		t->log_pulled += applied;
		/* Entries of a device not certified yet wait for the next sync. */
		if (!page.more || t->log_waiting)
			return VELD_OK;
		if (page.next <= after)
			return veld__err(VELD_EPROTO, "the server said more access-log entries wait but "
				"its cursor did not advance");
	}
}

/* ---- what the office proves to devices at every sync ---------------------------- */

static int post_notices(struct session *x, int (*then)(struct session *x, void *arg), void *arg);

/* POST /v1/notice with what the server has not taken yet. */
static int publish_notices(struct session *x)
{
	int rc = post_notices(x, NULL, NULL);
	return rc == VELD_OK ? VELD_OK : err_prefix(rc, "publishing the office's notices");
}

/* GET /v1/devices; on VELD_OK *w and *r hold the decoded list (free both). */
static int get_devices(struct session *x, struct veld__wire *w, struct veld__http_resp *r,
                       struct veld__devices_resp *d)
{
	int rc = call(x, "GET", "/v1/devices", NULL, 0, r, NULL);
	if (rc != VELD_OK)
		return rc;
	memset(w, 0, sizeof *w);
	memset(d, 0, sizeof *d);
	if ((rc = veld__wire_devices_resp_decode(w, r->body, r->len, d)) != VELD_OK) {
		veld__wire_free(w);
		veld__http_resp_free(r);
		return err_prefix(rc, "the server's device list did not decode");
	}
	return VELD_OK;
}

/* A device certified after a rotation holds at most the version its invite
 * carried: every version the office holds of the team is sealed to the
 * team's certified devices again (POST /v1/team-keys takes a version it has
 * "to add devices"), oldest first, so a new device reads what was sealed to
 * any of them and has the current one. Until the server took them all, the
 * next sync tries again. */
static int share_team_keys(struct session *x)
{
	struct veld__team_list due;
	int rc = veld__office_keys_due(x->s, &due);
	for (size_t i = 0; rc == VELD_OK && i < due.n; i++) {
		const char *team = due.team[i];
		for (uint64_t tv = 1; rc == VELD_OK; tv++) {
			struct veld__team_keys_out tk;
			msgpack_sbuffer sb;
			if ((rc = veld__office_team_key_version(x->s, team, tv, &tk)) == VELD_ENOTFOUND) {
				veld__err_clear();
				rc = VELD_OK;
				break; /* every version held was sealed */
			}
			if (rc != VELD_OK)
				break;
			if ((rc = ENCODE(&sb, veld__wire_team_keys_req_encode, &tk.req)) == VELD_OK)
				rc = post_ok(x, "/v1/team-keys", &sb, NULL);
			msgpack_sbuffer_destroy(&sb);
			veld__team_keys_out_free(&tk);
		}
		if (rc == VELD_OK)
			rc = veld__office_keys_shared(x->s, team);
	}
	veld__team_list_free(&due);
	return rc == VELD_OK ? VELD_OK : err_prefix(rc, "sealing the team keys to new devices");
}

/* Certify the devices that enrolled with this office's invites since the
 * last sync, and publish the certificates (and any other notice waiting),
 * then the team keys for them. */
static int certify_devices(struct session *x, struct tally *t)
{
	struct veld__devices_resp d;
	struct veld__notice_out out;
	struct veld__http_resp r;
	struct veld__wire w;
	size_t refused = 0;
	int rc;
	if ((rc = get_devices(x, &w, &r, &d)) != VELD_OK)
		return rc;
	rc = veld__office_certify(x->s, &d, &out, &refused);
	veld__wire_free(&w);
	veld__http_resp_free(&r);
	veld__notice_out_free(&out); /* kept in the store; published below */
	t->uncertifiable = refused;
	/* A device whose access-log entries wait and that is still not
	 * certified now will not be: its entries are kept as unverified. */
	if (rc == VELD_OK) {
		size_t given_up = 0;
		rc = veld__audit_after_certify(x->s, &given_up);
	}
	if (rc != VELD_OK)
		return err_prefix(rc, "certifying devices");
	if ((rc = publish_notices(x)) != VELD_OK)
		return rc;
	return share_team_keys(x);
}

/* POST /v1/checkpoint: every team's dated checkpoint, after the pull. */
static int publish_checkpoints(struct session *x)
{
	struct veld__checkpoint_out out;
	msgpack_sbuffer sb;
	int rc = veld__office_checkpoints(x->s, &out);
	if (rc != VELD_OK || out.req.n == 0) {
		veld__checkpoint_out_free(&out);
		return rc;
	}
	if ((rc = ENCODE(&sb, veld__wire_checkpoint_req_encode, &out.req)) == VELD_OK)
		rc = post_ok(x, "/v1/checkpoint", &sb, NULL);
	msgpack_sbuffer_destroy(&sb);
	veld__checkpoint_out_free(&out);
	return rc == VELD_OK ? VELD_OK : err_prefix(rc, "publishing the office's checkpoints");
}

/* ---- the summary ----------------------------------------------------------------- */

/* The office: what its access-log pull could not check. */
static void audit_warnings(const struct session *x, json_t *w)
{
	struct veld__audit_status as;
	char line[320];
	if (veld__audit_status(x->s, &as) != VELD_OK) {
		veld__err_clear();
		return;
	}
	if (as.waiting > 0) {
		snprintf(line, sizeof line, "access-log entries of %llu devices the office has not"
		         " certified wait (%llu entries); they are taken in once it certifies them",
		         (unsigned long long)as.waiting, (unsigned long long)as.waiting_entries);
		json_array_append_new(w, json_string(line));
	}
	if (as.unverified > 0 || as.not_kept > 0) {
		snprintf(line, sizeof line, "%llu access-log entries are kept as unverified (of devices"
		         " the office will not certify, or signed after a revocation), %llu more were"
		         " not kept", (unsigned long long)as.unverified,
		         (unsigned long long)as.not_kept);
		json_array_append_new(w, json_string(line));
	}
	if (as.full)
		json_array_append_new(w, json_string("the office marks as many devices as it will"
		                                     " whose access logs it cannot check: entries of"
		                                     " one more are not pulled (the server may be"
		                                     " making devices up)"));
}

/* What a person should know after a sync, in words (never a value). */
static json_t *warnings_of(const struct session *x, const struct tally *t, json_int_t pending,
                           json_int_t quarantined)
{
	json_t *w = json_array();
	char line[320];
	if (!w)
		return NULL;
	if (strcmp(x->role, "office") != 0 && t->fresh.stale) {
		if (t->fresh.has)
			snprintf(line, sizeof line, "the office's latest checkpoint here is %llu days old:"
			         " the server may be withholding changes", (unsigned long long)
			         (t->fresh.age_ms / (24u * 3600u * 1000u)));
		else
			snprintf(line, sizeof line, "no checkpoint of the office has reached this device yet");
		json_array_append_new(w, json_string(line));
	}
	if (pending > 0) {
		snprintf(line, sizeof line, "%lld operations or key envelopes wait (for a device's"
		         " certificate, a key, or the clock)", (long long)pending);
		json_array_append_new(w, json_string(line));
	}
	if (quarantined > 0) {
		snprintf(line, sizeof line, "%lld operations or key envelopes are in quarantine"
		         " (veld quarantine lists them)", (long long)quarantined);
		json_array_append_new(w, json_string(line));
	}
	if (t->forged > 0) {
		snprintf(line, sizeof line, "the server sent %llu items that their author did not sign:"
		         " dropped", (unsigned long long)t->forged);
		json_array_append_new(w, json_string(line));
	}
	if (t->uncertifiable > 0) {
		snprintf(line, sizeof line, "%llu devices the server lists are not certified: no"
		         " invite of this office proves them, another device used the invite"
		         " already, or they enrolled after it expired (a device from veld 0.1:"
		         " confirm it with veld office certify)", (unsigned long long)t->uncertifiable);
		json_array_append_new(w, json_string(line));
	}
	if (strcmp(x->role, "office") == 0)
		audit_warnings(x, w);
	else if (t->log_waiting)
		json_array_append_new(w, json_string("access-log entries of a device not certified"
		                                     " yet wait for the next sync"));
	if (t->own.claimed > t->own.seen) {
		if (t->own.removed > 0)
			snprintf(line, sizeof line, "the server claims to hold this device's operations up"
			         " to %llu but sent back only up to %llu; %llu of them lost their value here"
			         " since and cannot be sent again", (unsigned long long)t->own.claimed,
			         (unsigned long long)t->own.seen, (unsigned long long)t->own.removed);
		else
			snprintf(line, sizeof line, "the server claims to hold this device's operations up"
			         " to %llu but sent back only up to %llu: they were pushed again",
			         (unsigned long long)t->own.claimed, (unsigned long long)t->own.seen);
		json_array_append_new(w, json_string(line));
	}
	/* Warnings kept since the last summary (a revocation, ...). */
	for (const char *p = t->kept; *p;) {
		size_t n = strcspn(p, "\n");
		json_array_append_new(w, json_stringn(p, n));
		p += n + (p[n] == '\n');
	}
	return w;
}

static int summary_of(const struct session *x, struct tally *t, char **json_out)
{
	struct veld__tallies n;
	char at[32];
	json_t *summary;
	json_int_t conflicts, pending, quarantined;
	int rc;
	if ((rc = veld__sync_warnings_take(x->s, t->kept, sizeof t->kept)) != VELD_OK ||
	    (rc = veld__store_tallies(x->s, &n)) != VELD_OK)
		return rc;
	conflicts = (json_int_t)n.conflicts;
	pending = (json_int_t)n.pending;
	quarantined = (json_int_t)n.quarantined;
	veld__iso8601(at, t->fresh.at);
	summary = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:o,s:I,s:I,s:I}",
		"pushed", (json_int_t)t->pushed, "pulled", (json_int_t)t->pulled,
		"applied", (json_int_t)t->applied, "conflicts", conflicts,
		"log_pushed", (json_int_t)t->log_pushed, "log_pulled", (json_int_t)t->log_pulled,
		"new_in_quarantine", (json_int_t)t->quarantined, "pending", pending,
		"quarantined", quarantined,
		"checkpoint", t->fresh.has ? json_pack("{s:s,s:I,s:b}", "at", at, "age_s",
		              (json_int_t)(t->fresh.age_ms / 1000u), "stale", t->fresh.stale)
		              : json_null(),
		"warnings", warnings_of(x, t, pending, quarantined),
		"duration_ms", (json_int_t)(mono_ms() - x->t0),
		"bytes_up", (json_int_t)x->http.bytes_up, "bytes_down", (json_int_t)x->http.bytes_down);
	if (summary && strcmp(x->role, "office") == 0)
		json_object_set_new(summary, "forwarded", json_integer((json_int_t)t->forwarded));
	rc = summary ? veld__json_answer(summary, json_out) : veld__err(VELD_ENOMEM, "out of memory");
	json_decref(summary);
	return rc;
}

static int audit_push_all(struct session *x, struct tally *t);

/* The office, after its pulls: what came for clients it moved to another
 * team goes on to their new clients, and to the server at once. After the
 * access log's pull, which brings the old team's confirmations that say
 * up to which seq each device wrote to the client (move.c). */
static int forward_moved(struct session *x, struct tally *t)
{
	uint64_t n = 0;
	int rc = veld__office_forward(x->s, &n);
	t->forwarded += n;
	if (rc == VELD_OK && n > 0 && (rc = push_all(x, t)) == VELD_OK)
		rc = audit_push_all(x, t);
	return rc;
}

static int sync_run(struct session *x, char **json_out)
{
	struct tally t;
	int office = strcmp(x->role, "office") == 0, rc;

	memset(&t, 0, sizeof t);
	/* The office publishes its notices before its operations, so a record
	 * schema reaches the server before any value written with it. It
	 * certifies new devices before it pulls, so their operations are
	 * checked on arrival; it dates a checkpoint of every team after, from
	 * what it then holds. */
	if ((office && (rc = publish_notices(x)) != VELD_OK) || (rc = push_all(x, &t)) != VELD_OK ||
	    (office && (rc = certify_devices(x, &t)) != VELD_OK) ||
	    (rc = pull_all(x, &t)) != VELD_OK ||
	    (t.own.lowered && (rc = push_again(x, &t)) != VELD_OK) ||
	    (rc = audit_push_all(x, &t)) != VELD_OK ||
	    (office && (rc = audit_pull_all(x, &t)) != VELD_OK) ||
	    (office && (rc = forward_moved(x, &t)) != VELD_OK) ||
	    (office && (rc = publish_checkpoints(x)) != VELD_OK))
		return rc;
	return json_out == NULL ? VELD_OK : summary_of(x, &t, json_out);
}

int veld_sync(veld_store *s, const veld_sync_options *opts, char **json_out)
{
	struct session x;
	int rc;
	veld__err_clear();
	if (json_out != NULL)
		*json_out = NULL;
	if ((rc = session_open(&x, s, opts, NULL, NULL)) == VELD_OK)
		rc = sync_run(&x, json_out);
	session_close(&x);
	return rc;
}

/* ---- enrollment ------------------------------------------------------------ */

/* The CA certificates an enrollment keeps: the options' text, else the
 * contents of their file (*out malloc'd, NULL if neither), checked. */
static int enroll_ca(const veld_sync_options *opts, char **out)
{
	const char *file = opts != NULL ? opts->ca_file : NULL;
	FILE *f;
	size_t n;
	*out = NULL;
	if (opts != NULL && opts->version >= 3 && opts->ca_pem != NULL) {
		if (veld__ca_check(opts->ca_pem) != VELD_OK)
			return VELD_EINVAL;
		return (*out = strdup(opts->ca_pem)) ? VELD_OK : veld__err(VELD_ENOMEM, "out of memory");
	}
	if (file == NULL || *file == '\0')
		return VELD_OK;
	if (!(f = fopen(file, "rb")))
		return veld__err(VELD_EINVAL, "cannot open the CA file: %s", strerror(errno));
	if (!(*out = malloc(VELD_CA_PEM_MAX + 2))) {
		fclose(f);
		return veld__err(VELD_ENOMEM, "out of memory");
	}
	n = fread(*out, 1, VELD_CA_PEM_MAX + 1, f);
	(*out)[n] = '\0';
	if (ferror(f) || memchr(*out, '\0', n) != NULL || veld__ca_check(*out) != VELD_OK) {
		int err = ferror(f);
		fclose(f);
		free(*out);
		*out = NULL;
		return err ? veld__err(VELD_EINVAL, "cannot read the CA file") : VELD_EINVAL;
	}
	fclose(f);
	return VELD_OK;
}

int veld_enroll(veld_store *s, const char *url, const char *code, const char *label,
                const veld_sync_options *opts, char **json_out)
{
	struct session x;
	struct veld__enroll_req req;
	struct veld__enroll_resp resp;
	struct veld__http_resp r;
	struct veld__wire w;
	msgpack_sbuffer sb;
	uint8_t codeb[VELD_CODE_BYTES];
	char stored[VELD_URL_MAX], role[16], base[VELD_URL_MAX], dev[2 * VELD_ID_BYTES + 1];
	char *ca = NULL;
	int rc, loopback;

	veld__err_clear();
	if (json_out != NULL)
		*json_out = NULL;
	if (s == NULL || code == NULL)
		return veld__err(VELD_EINVAL, "veld_enroll needs a store and a code");
	if (label != NULL && strlen(label) > LABEL_MAX)
		return veld__err(VELD_EINVAL, "the device label is longer than %d bytes", LABEL_MAX);
	if ((rc = veld__url_check(url, opts != NULL && opts->insecure_http, base, &loopback)) != VELD_OK)
		return rc;
	if (opts != NULL && opts->version >= 3 && opts->pinned_key != NULL &&
	    (rc = veld__pin_check(opts->pinned_key)) != VELD_OK)
		return rc;
	/* Kept, a CA or pin would seem to protect a server it never applies to. */
	if (strncasecmp(base, "http://", 7) == 0 && opts != NULL &&
	    ((opts->ca_file != NULL && *opts->ca_file) ||
	     (opts->version >= 3 && (opts->ca_pem != NULL || opts->pinned_key != NULL))))
		return veld__err(VELD_EINVAL, "a CA or a pinned key applies only to an https://"
			" server; this URL is plain http");
	if (veld__code_parse(code, codeb) != 0)
		return veld__err(VELD_EINVAL, "the enrollment code is not valid: it is 32 letters "
			"and digits (A-Z, 2-7) in groups of four, as the office gave it");
	rc = veld__sync_server(s, stored, sizeof stored, role);
	if (rc == VELD_OK) {
		sodium_memzero(codeb, sizeof codeb);
		return veld__err(VELD_EEXISTS, "this store already enrolled with %s (as a %s "
			"device)", stored, role);
	}
	if (rc != VELD_ENOTFOUND) {
		sodium_memzero(codeb, sizeof codeb);
		return rc;
	}
	memset(&req, 0, sizeof req);
	if ((rc = enroll_ca(opts, &ca)) != VELD_OK)
		goto out_code;
	if ((rc = veld__sync_enroll_request(s, codeb, label != NULL ? label : "", &req)) != VELD_OK)
		goto out_code;
	if ((rc = ENCODE(&sb, veld__wire_enroll_req_encode, &req)) != VELD_OK) {
		msgpack_sbuffer_destroy(&sb);
		rc = err_prefix(rc, "encoding the enrollment");
		goto out_code;
	}
	if ((rc = session_open(&x, s, opts, base, NULL)) == VELD_OK) {
		rc = call(&x, "POST", "/v1/enroll", (const uint8_t *)sb.data, sb.size, &r, NULL);
		if (rc == VELD_OK) {
			memset(&w, 0, sizeof w);
			memset(&resp, 0, sizeof resp);
			rc = veld__wire_enroll_resp_decode(&w, r.body, r.len, &resp);
			veld__wire_free(&w);
			veld__http_resp_free(&r);
			if (rc != VELD_OK)
				rc = err_prefix(rc, "the server's answer to the enrollment did not decode");
			else if ((rc = veld__sync_enroll_finish(s, base, ca,
					opts != NULL && opts->version >= 3 ? opts->pinned_key : NULL, codeb,
					&resp)) != VELD_OK)
				rc = err_prefix(rc, "the server enrolled this device, but storing its "
					"answer failed");
		}
	}
	session_close(&x);
	msgpack_sbuffer_destroy(&sb);
	if (rc == VELD_OK && json_out != NULL) {
		json_t *j;
		sodium_bin2hex(dev, sizeof dev, req.device, VELD_ID_BYTES);
		j = json_pack("{s:s,s:s,s:s}", "role", resp.role, "team", resp.team, "device", dev);
		*json_out = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
		json_decref(j);
		if (*json_out == NULL)
			rc = veld__err(VELD_ENOMEM, "out of memory");
	}
out_code:
	free(ca);
	sodium_memzero(&req, sizeof req);
	sodium_memzero(codeb, sizeof codeb);
	return rc;
}

/* ---- the office ---------------------------------------------------------------- */

static int valid_team(const char *team)
{
	return team && veld__team_valid(team);
}

/* Publish `team`'s key (rotate: a new version first), signed, sealed to the
 * devices the office certified for the team: POST /v1/team-keys. */
static int publish_team_key(struct session *x, const char *team, int rotate)
{
	struct veld__team_keys_out tk;
	msgpack_sbuffer sb;
	int rc = veld__office_team_keys(x->s, team, rotate, &tk);
	if (rc != VELD_OK)
		return err_prefix(rc, rotate ? "making the team's new key" : "sealing the team's key");
	if ((rc = ENCODE(&sb, veld__wire_team_keys_req_encode, &tk.req)) == VELD_OK)
		rc = post_ok(x, "/v1/team-keys", &sb, NULL);
	else
		rc = err_prefix(rc, "encoding the team key");
	msgpack_sbuffer_destroy(&sb);
	veld__team_keys_out_free(&tk);
	return rc;
}

int veld_office_invite(veld_store *s, const char *team, uint32_t ttl_seconds,
                       const veld_sync_options *opts, char **code_out)
{
	struct session x;
	struct veld__invite_req req;
	struct veld__error_resp e;
	msgpack_sbuffer sb;
	char code[VELD_CODE_TEXT_MAX];
	int rc, new_team = 0;

	veld__err_clear();
	if (code_out == NULL)
		return veld__err(VELD_EINVAL, "code_out is required");
	*code_out = NULL;
	if (!valid_team(team))
		return veld__err(VELD_EINVAL, "a team is 1 to %d characters of A-Z a-z 0-9 . _ @ -",
			VELD_TEAM_MAX);
	if (ttl_seconds == 0)
		ttl_seconds = DEFAULT_TTL_S;
	if (ttl_seconds > MAX_TTL_S)
		return veld__err(VELD_EINVAL, "an invite is valid for at most 7 days");
	if ((rc = session_open(&x, s, opts, NULL, "office")) != VELD_OK) {
		session_close(&x);
		return rc;
	}
	memset(&req, 0, sizeof req);
	rc = veld__office_invite(s, team, wall_ms() + (uint64_t)ttl_seconds * 1000u, code, &req,
		&new_team);
	if (rc != VELD_OK) {
		rc = err_prefix(rc, "making the invite");
		goto out;
	}
	/* A new team's key must be on the server before an invite names it. */
	if (new_team && (rc = publish_team_key(&x, team, 0)) != VELD_OK) {
		rc = err_prefix(rc, "publishing the new team's key");
		goto out;
	}
	if ((rc = ENCODE(&sb, veld__wire_invite_req_encode, &req)) != VELD_OK) {
		msgpack_sbuffer_destroy(&sb);
		rc = err_prefix(rc, "encoding the invite");
		goto out;
	}
	rc = post_ok(&x, "/v1/invite", &sb, &e);
	/* 409 gap: the server's key version for the team is not ours, which
	 * happens when an earlier publication of the key (a new team, or a
	 * rotation after a revoke) did not reach the server. Publishing the
	 * current key again and retrying once repairs it. */
	if (rc == VELD_EPROTO && strcmp(e.error, "gap") == 0) {
		if ((rc = publish_team_key(&x, team, 0)) == VELD_OK)
			rc = post_ok(&x, "/v1/invite", &sb, NULL);
		else
			rc = err_prefix(rc, "publishing the team's current key");
	}
	msgpack_sbuffer_destroy(&sb);
	if (rc == VELD_OK && (*code_out = strdup(code)) == NULL)
		rc = veld__err(VELD_ENOMEM, "out of memory");
out:
	sodium_memzero(code, sizeof code);
	sodium_memzero(&req, sizeof req);
	session_close(&x);
	return rc;
}

/* POST /v1/revoke: the server refuses the device from now on and says how
 * far it holds its operations. */
static int revoke_post(struct session *x, const uint8_t device[VELD_ID_BYTES],
                       struct veld__revoke_resp *resp)
{
	struct veld__revoke_req req;
	struct veld__http_resp r;
	struct veld__wire w;
	msgpack_sbuffer sb;
	int rc;
	memset(&req, 0, sizeof req);
	memcpy(req.device, device, VELD_ID_BYTES);
	if ((rc = ENCODE(&sb, veld__wire_revoke_req_encode, &req)) != VELD_OK) {
		rc = err_prefix(rc, "encoding the revocation");
	} else if ((rc = call(x, "POST", "/v1/revoke", (const uint8_t *)sb.data, sb.size, &r,
	                      NULL)) == VELD_OK) {
		memset(&w, 0, sizeof w);
		memset(resp, 0, sizeof *resp);
		rc = veld__wire_revoke_resp_decode(&w, r.body, r.len, resp);
		veld__wire_free(&w);
		veld__http_resp_free(&r);
		if (rc != VELD_OK)
			rc = err_prefix(rc, "the server's answer to the revocation did not decode");
	}
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

int veld_office_revoke(veld_store *s, const char *device_hex, const veld_sync_options *opts)
{
	struct session x;
	struct veld__revoke_resp resp;
	struct veld__notice_out out;
	struct tally t;
	uint8_t device[VELD_ID_BYTES];
	char team[VELD_TEAM_MAX + 1];
	int rc;

	veld__err_clear();
	memset(&t, 0, sizeof t);
	if (veld__unhex(device, VELD_ID_BYTES, device_hex) != 0)
		return veld__err(VELD_EINVAL, "a device id is 32 hex digits (see the device list)");
	if ((rc = session_open(&x, s, opts, NULL, "office")) != VELD_OK) {
		session_close(&x);
		return rc;
	}
	/* The team is the one the office certified the device for. A device it
	 * never certified has none: the server still refuses it from here on,
	 * and this office never certifies it, but no team is told. */
	if ((rc = veld__office_revoke_begin(s, device, team)) == VELD_ENOTFOUND) {
		veld__err_clear();
		rc = revoke_post(&x, device, &resp);
		goto out;
	}
	/* The server refuses the device from here on. Then the office takes in
	 * everything the server holds of it, and signs the revocation with the
	 * last seq it verified itself, so every device accepts the same
	 * operations of it and nothing after; then the key rotation makes sure
	 * the device can read nothing written from now on. The server's answer
	 * is only checked: its team must be the certificate's. */
	if (rc != VELD_OK || (rc = revoke_post(&x, device, &resp)) != VELD_OK ||
	    (rc = pull_all(&x, &t)) != VELD_OK || (rc = audit_pull_all(&x, &t)) != VELD_OK ||
	    (rc = veld__office_revoke_notice(s, device, resp.team, resp.acked, &out)) != VELD_OK)
		goto out;
	veld__notice_out_free(&out);
	if ((rc = publish_notices(&x)) != VELD_OK || (rc = publish_team_key(&x, team, 1)) != VELD_OK ||
	    (rc = sync_run(&x, NULL)) != VELD_OK)
		rc = err_prefix(rc, "the device is revoked, but announcing it and rotating its team's"
			" keys did not finish");
out:
	session_close(&x);
	return rc;
}

/* POST the notices the server has not taken, a team at a time; after each
 * success, first `then` (may be NULL), then record them as taken. A server
 * that lost notices of a team (restored from a backup) answers 409 gap with
 * the number it expects: those are sent again, once per team. */
/* The server answered 404 to notices `req`: the one it names (its message
 * says "notices[i]"), else the first. A move to a team whose key the
 * server lacks (an invite made while it could not be reached) is repaired
 * once: the team's key is published again and the notices sent again
 * (VELD_OK). Otherwise the error, naming the notice's kind. */
static int notice_not_found(struct session *x, const struct veld__notice_req *req,
                            const struct veld__error_resp *e, int *repaired)
{
	const struct veld__notice *n = &req->notices[0];
	struct veld__notice_body b;
	size_t i;
	int rc;
	if (sscanf(e->message, "notices[%zu]", &i) == 1 && i < req->n)
		n = &req->notices[i];
	switch (veld__notice_kind_of(n->kind)) {
	case VELD_NOTICE_ERASE:
		return veld__err(VELD_ENOTFOUND, "the server did not erase the client (404: it has"
		                 " no operation of it): nothing was erased");
	case VELD_NOTICE_MOVE:
		if ((rc = veld__wire_notice_body_decode(n->kind, n->body, n->body_len, &b)) != VELD_OK)
			return rc;
		if (!*repaired) {
			*repaired = 1;
			if ((rc = publish_team_key(x, b.to_team, 0)) == VELD_OK)
				return VELD_OK;
			return err_prefix(rc, "the server did not take the move notice (404); publishing"
			                  " the key of the team the client moves to");
		}
		return veld__err(VELD_ENOTFOUND, "the server did not take the move notice (404: it has"
		                 " no operation of the client, or no key of team %s)", b.to_team);
	default:
		return veld__err(VELD_ENOTFOUND, "the server did not take the %s notice (404)",
		                 n->kind);
	}
}

static int post_notices(struct session *x, int (*then)(struct session *x, void *arg), void *arg)
{
	char rewound[VELD_TEAM_MAX + 1] = "";
	int repaired = 0;
	for (;;) {
		struct veld__notice_out out;
		struct veld__error_resp e;
		msgpack_sbuffer sb;
		int rc = veld__office_unpublished(x->s, &out);
		if (rc != VELD_OK || out.req.n == 0) {
			veld__notice_out_free(&out);
			return rc;
		}
		memset(&e, 0, sizeof e);
		if ((rc = ENCODE(&sb, veld__wire_notice_req_encode, &out.req)) == VELD_OK &&
		    (rc = post_ok(x, "/v1/notice", &sb, &e)) == VELD_OK && then)
			rc = then(x, arg);
		if (rc == VELD_OK)
			rc = veld__office_published(x->s, &out.req);
		else if (strcmp(e.error, "gap") == 0 && e.expected > 0 &&
		         strcmp(rewound, out.req.notices[0].team) != 0) {
			snprintf(rewound, sizeof rewound, "%s", out.req.notices[0].team);
			rc = veld__office_republish(x->s, rewound, e.expected);
		} else if (strcmp(e.error, "not_found") == 0) {
			rc = notice_not_found(x, &out.req, &e, &repaired);
		}
		msgpack_sbuffer_destroy(&sb);
		veld__notice_out_free(&out);
		if (rc != VELD_OK)
			return rc;
	}
}

struct erasing {
	const char *hex, *purpose;
};

/* The server erased the client: now this store does, logged with the
 * purpose given. */
static int erase_here(struct session *x, void *arg)
{
	const struct erasing *e = arg;
	int rc = veld_client_erase(x->s, e->hex, e->purpose && *e->purpose ? e->purpose : "erasure");
	if (rc == VELD_ESHREDDED || rc == VELD_ENOTFOUND) { /* erased here already */
		veld__err_clear();
		rc = VELD_OK;
	}
	return rc;
}

int veld_office_erase(veld_store *s, const char *client_id, const char *purpose,
                      const veld_sync_options *opts)
{
	struct session x;
	struct veld__notice_out out;
	struct erasing e;
	struct tally t;
	uint8_t client[VELD_ID_BYTES];
	char hex[2 * VELD_ID_BYTES + 1];
	int rc;

	veld__err_clear();
	memset(&t, 0, sizeof t);
	if ((rc = session_open(&x, s, opts, NULL, "office")) != VELD_OK) {
		session_close(&x);
		return rc;
	}
	/* The erasure is numbered and kept; the office pushes, so the server
	 * holds every operation of the client this office wrote; the server
	 * erases when it takes the notice; then this store does. Nothing is
	 * erased here unless the server did, and devices hear of it only then;
	 * a notice the server did not take is sent again at the next sync. */
	if ((rc = veld__office_erase_notice(s, client_id, client, &out)) == VELD_OK &&
	    out.req.n == 0) {
		rc = publish_notices(&x); /* erased here: finish what the server lacks */
	} else if (rc == VELD_OK && (rc = push_all(&x, &t)) == VELD_OK) {
		veld__hex(hex, client, VELD_ID_BYTES);
		e.hex = hex;
		e.purpose = purpose;
		rc = post_notices(&x, erase_here, &e);
	}
	veld__notice_out_free(&out);
	session_close(&x);
	return rc;
}

/* The server refuses a move to a team it holds no key of, and the office
 * may hold a team key the server never took (an invite made while it could
 * not be reached): the key of the team the client moves to is published
 * (again) before the move is committed. A team the office holds no key of
 * is left to veld__move_check to refuse. */
static int move_team_key(struct session *x, const char *team)
{
	int rc;
	if (!valid_team(team))
		return VELD_OK;
	if ((rc = publish_team_key(x, team, 0)) == VELD_ENOTFOUND) {
		veld__err_clear();
		rc = VELD_OK;
	}
	return rc;
}

int veld_office_client_move(veld_store *office, const char *client_id, const char *team,
                            const veld_sync_options *opts, char **json_out)
{
	struct session x;
	struct veld__notice_out out;
	uint8_t client[VELD_ID_BYTES], new_client[VELD_ID_BYTES];
	int rc;

	veld__err_clear();
	if (json_out == NULL)
		return veld__err(VELD_EINVAL, "json_out is NULL");
	*json_out = NULL;
	memset(&out, 0, sizeof out);
	if ((rc = session_open(&x, office, opts, NULL, "office")) != VELD_OK) {
		session_close(&x);
		return rc;
	}
	/* The office first takes in all the server holds (and hands over what
	 * it wrote), so the copy carries every record and value of the client.
	 * Then, in one local transaction, the move notice is signed and kept
	 * and the new client made and copied. The new client reaches the
	 * server before the notice: the new team can receive the client before
	 * the old one removes it. What the server does not take now, the next
	 * office sync sends; operations of the old client that come after the
	 * copy are forwarded by every office sync. */
	if ((rc = sync_run(&x, NULL)) == VELD_OK && (rc = move_team_key(&x, team)) == VELD_OK &&
	    (rc = veld__office_move_notice(office, client_id, team, client, new_client, &out)) ==
	    VELD_OK) {
		struct tally t;
		char hex[2 * VELD_ID_BYTES + 1];
		memset(&t, 0, sizeof t);
		veld__hex(hex, client, VELD_ID_BYTES);
		if ((rc = push_all(&x, &t)) != VELD_OK || (rc = post_notices(&x, NULL, NULL)) != VELD_OK)
			rc = err_prefix(rc, "the client is moved in the office's store, but the server"
			                " has not taken it all yet (the next veld office sync sends the"
			                " rest)");
		else
			rc = veld__office_move_status(office, hex, json_out);
	}
	veld__notice_out_free(&out);
	session_close(&x);
	return rc;
}

int veld_office_client_move_status(veld_store *office, const char *client_id, char **json_out)
{
	veld__err_clear();
	if (json_out == NULL)
		return veld__err(VELD_EINVAL, "json_out is NULL");
	*json_out = NULL;
	return veld__office_move_status(office, client_id, json_out);
}

int veld_office_field_policy(veld_store *s, const char *team, const char *fields,
                             const veld_sync_options *opts)
{
	struct session x;
	struct veld__notice_out out;
	uint32_t mask = 0;
	int rc;

	veld__err_clear();
	if (!valid_team(team))
		return veld__err(VELD_EINVAL, "a team is 1 to %d characters of A-Z a-z 0-9 . _ @ -",
			VELD_TEAM_MAX);
	if ((rc = veld__policy_parse(fields, &mask)) != VELD_OK)
		return rc;
	if ((rc = session_open(&x, s, opts, NULL, "office")) != VELD_OK) {
		session_close(&x);
		return rc;
	}
	/* Kept here and numbered at once; devices hear of it once the server
	 * holds it (now, or at the next sync if the server cannot be reached). */
	if ((rc = veld__office_policy_notice(s, team, mask, &out)) == VELD_OK)
		rc = publish_notices(&x);
	veld__notice_out_free(&out);
	session_close(&x);
	return rc;
}

int veld_office_schema_set(veld_store *s, const char *doc_json, const veld_sync_options *opts)
{
	struct session x;
	struct veld__notice_out out;
	int rc;

	veld__err_clear();
	if (!doc_json)
		return veld__err(VELD_EINVAL, "the schema document is required");
	if ((rc = session_open(&x, s, opts, NULL, "office")) != VELD_OK) {
		session_close(&x);
		return rc;
	}
	/* In force here and numbered at once; devices hear of it once the
	 * server holds it (now, or at the next sync). */
	if ((rc = veld__office_schema_notice(s, doc_json, strlen(doc_json), &out)) == VELD_OK)
		rc = publish_notices(&x);
	veld__notice_out_free(&out);
	session_close(&x);
	return rc;
}

int veld_office_certify(veld_store *s, const char *device_hex, const char *team,
                        const char *fingerprint, const veld_sync_options *opts, char **json_out)
{
	struct session x;
	struct veld__devices_resp d;
	struct veld__http_resp r;
	struct veld__wire w;
	const struct veld__device_info *v = NULL;
	uint8_t device[VELD_ID_BYTES];
	char fp[VELD_FINGERPRINT_TEXT], listed[VELD_TEAM_MAX + 1] = "";
	int rc, confirm = team != NULL || fingerprint != NULL;
	json_t *j;

	veld__err_clear();
	if (json_out == NULL)
		return veld__err(VELD_EINVAL, "json_out is required");
	*json_out = NULL;
	if (veld__unhex(device, VELD_ID_BYTES, device_hex) != 0)
		return veld__err(VELD_EINVAL, "a device id is 32 hex digits (see the device list)");
	if ((rc = session_open(&x, s, opts, NULL, "office")) != VELD_OK ||
	    (rc = get_devices(&x, &w, &r, &d)) != VELD_OK) {
		session_close(&x);
		return rc;
	}
	for (size_t i = 0; !v && i < d.ndevices; i++)
		if (memcmp(d.devices[i].device, device, VELD_ID_BYTES) == 0)
			v = &d.devices[i];
	if (!v)
		rc = veld__err(VELD_ENOTFOUND, "the server lists no device %s", device_hex);
	else if ((rc = veld__office_legacy(s, v, team, fingerprint, fp)) == VELD_OK)
		snprintf(listed, sizeof listed, "%s", v->team);
	veld__wire_free(&w);
	veld__http_resp_free(&r);
	/* Confirmed: the next certification takes it; run it now (a sync). */
	if (rc == VELD_OK && confirm)
		rc = sync_run(&x, NULL);
	session_close(&x);
	if (rc != VELD_OK)
		return rc;
	j = json_pack("{s:s,s:s,s:s,s:b}", "device", device_hex, "team", listed, "fingerprint", fp,
	              "certified", confirm);
	rc = j ? veld__json_answer(j, json_out) : veld__err(VELD_ENOMEM, "out of memory");
	json_decref(j);
	return rc;
}

int veld_device_fingerprint(veld_store *s, char **json_out)
{
	char fp[VELD_FINGERPRINT_TEXT], dev[2 * VELD_ID_BYTES + 1];
	json_t *j;
	int rc;
	veld__err_clear();
	if (s == NULL || json_out == NULL)
		return veld__err(VELD_EINVAL, "a store and json_out are required");
	*json_out = NULL;
	if ((rc = veld__sync_fingerprint(s, fp)) != VELD_OK)
		return rc;
	veld__hex(dev, veld__store_device(s), VELD_ID_BYTES);
	j = json_pack("{s:s,s:s}", "device", dev, "fingerprint", fp);
	rc = j ? veld__json_answer(j, json_out) : veld__err(VELD_ENOMEM, "out of memory");
	json_decref(j);
	return rc;
}

int veld_office_devices(veld_store *s, const veld_sync_options *opts, char **json_out)
{
	struct session x;
	struct veld__devices_resp d;
	struct veld__http_resp r;
	struct veld__wire w;
	json_t *arr;
	int rc;

	veld__err_clear();
	if (json_out == NULL)
		return veld__err(VELD_EINVAL, "json_out is required");
	*json_out = NULL;
	if ((rc = session_open(&x, s, opts, NULL, "office")) != VELD_OK ||
	    (rc = get_devices(&x, &w, &r, &d)) != VELD_OK) {
		session_close(&x);
		return rc;
	}
	session_close(&x);
	arr = json_array();
	for (size_t i = 0; arr != NULL && i < d.ndevices; i++) {
		const struct veld__device_info *v = &d.devices[i];
		char hex[2 * VELD_ID_BYTES + 1], enrolled[32], revoked[32];
		json_t *o;
		sodium_bin2hex(hex, sizeof hex, v->device, VELD_ID_BYTES);
		veld__iso8601(enrolled, v->enrolled);
		if (v->revoked)
			veld__iso8601(revoked, v->revoked);
		o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o}", "device", hex, "team", v->team,
			"role", v->role, "label", v->label, "enrolled", enrolled,
			"revoked", v->revoked ? json_string(revoked) : json_null());
		if (o == NULL || json_array_append_new(arr, o) != 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	veld__wire_free(&w);
	veld__http_resp_free(&r);
	*json_out = arr != NULL ? json_dumps(arr, JSON_COMPACT) : NULL;
	json_decref(arr);
	return *json_out != NULL ? VELD_OK : veld__err(VELD_ENOMEM, "out of memory");
}
