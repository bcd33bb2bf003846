/* proxy.h - a tampering HTTP proxy for end-to-end tests.
 *
 * A libmicrohttpd daemon on 127.0.0.1 (a free port) in the test process
 * that forwards every request (method, path and query as sent, the Veld-*
 * headers, the body) with libcurl to the real server and hands back its
 * answer. A hook, set by the test, sees each exchange twice: before it is
 * forwarded (it may answer itself: the server then never sees the request)
 * and after (it may rewrite the answer, drop it, or replace it with one it
 * recorded earlier). The helpers below decode a pull, an access-log pull or
 * a device list, let the hook edit it, and encode it back with the wire
 * codecs, so a hook works on messages, not bytes.
 *
 * The hook runs on the proxy's thread with the proxy's lock held: it must
 * not call cmocka's assertions (they jump across threads). A hook records
 * what it did or what went wrong in its own state; the test reads that
 * after tproxy_set_hook(), which takes the lock. Requests are handled one
 * at a time. */
#ifndef VELD_E2E_PROXY_H
#define VELD_E2E_PROXY_H

#include <stddef.h>
#include <stdint.h>

struct tproxy;
struct veld__pull_resp;
struct veld__audit_pull_resp;
struct veld__devices_resp;

/* One exchange. */
struct tproxy_msg {
	const char *method;  /* "GET", "POST" */
	const char *uri;     /* path and query, exactly as the device sent them */
	const char *device;  /* the Veld-Device header (32 hex digits), "" if none */
	const uint8_t *req;  /* the request body */
	size_t req_len;
	int answered;        /* 0: before forwarding; 1: status and body hold the server's answer */
	long status;         /* the answer; a hook that sets it before forwarding answers itself */
	uint8_t *body;       /* malloc'd; a hook may free it and put another malloc'd body here */
	size_t len;
	/* Memory a hook allocates for an edited message (tproxy_alloc): freed
	 * after the answer is sent. */
	void **scratch;
	size_t nscratch;
};

typedef void (*tproxy_hook)(struct tproxy_msg *m, void *arg);

/* Start a proxy in front of `upstream` ("http://127.0.0.1:PORT"). */
struct tproxy *tproxy_start(const char *upstream);
/* "http://127.0.0.1:PORT" of the proxy. */
const char *tproxy_url(const struct tproxy *p);
/* Set (or with NULL, clear) the hook. Takes the proxy's lock, so once it
 * returns no hook call is running and whatever the old hook wrote is
 * visible to the caller. */
void tproxy_set_hook(struct tproxy *p, tproxy_hook hook, void *arg);
/* How many requests the proxy forwarded, of one path prefix (NULL: all). */
size_t tproxy_count(struct tproxy *p, const char *prefix);
void tproxy_stop(struct tproxy *p);

/* ---- for hooks ------------------------------------------------------------ */
/* Is this exchange `method` on a path starting with `prefix`, from `device`
 * (32 hex digits; NULL: any)? */
int tproxy_is(const struct tproxy_msg *m, const char *method, const char *prefix,
              const char *device);
/* A number in the query (`after`, `env_after`, ...); 0 if absent. */
uint64_t tproxy_query_u64(const struct tproxy_msg *m, const char *name);
/* Zeroed memory that lives until the answer is sent. */
void *tproxy_alloc(struct tproxy_msg *m, size_t n);
/* Replace the answer's body with a copy of `b`. */
void tproxy_set_body(struct tproxy_msg *m, long status, const uint8_t *b, size_t n);

/* Decode the answer (a 200 of its kind), let `fn` edit the message, encode
 * it back into the body. `fn` returns 0, or non-zero to leave the answer as
 * it was. Arrays it puts into the message must live until the call returns
 * (tproxy_alloc). Returns 0 if the answer was edited, -1 if it did not
 * decode or encode, 1 if fn declined. */
int tproxy_edit_pull(struct tproxy_msg *m, int (*fn)(struct veld__pull_resp *p, void *arg),
                     void *arg);
int tproxy_edit_audit(struct tproxy_msg *m,
                      int (*fn)(struct veld__audit_pull_resp *p, void *arg), void *arg);
int tproxy_edit_devices(struct tproxy_msg *m,
                        int (*fn)(struct veld__devices_resp *p, void *arg), void *arg);

#endif
