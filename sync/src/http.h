/* http.h - the small HTTP client under sync (private).
 *
 * One connection handle per sync call (libcurl easy handle, so a keep-alive
 * connection is reused across the pushes and pages of one sync). Requests
 * carry the four Veld-* headers; responses are collected into a buffer that
 * grows up to VELD_HTTP_MAX_RESPONSE. Nothing here logs or prints a body.
 *
 * Also here, because they are pure functions the unit tests check without
 * a server: the URL policy, the retry backoff schedule and the mapping from
 * an HTTP status and the server's error code to a veld code. */
#ifndef VELD_HTTP_H
#define VELD_HTTP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct veld__auth_headers;

/* Largest response body accepted (a pull page of 5000 operations with
 * 64 KiB values would be larger; the client asks for 1000 by default). */
#define VELD_HTTP_MAX_RESPONSE (64u * 1024u * 1024u)
/* Longest server URL (scheme://host:port) accepted. */
#define VELD_URL_MAX 512
/* Backoff: the base delay of the first retry, and the cap on the base. */
#define VELD_BACKOFF_BASE_MS 500u
#define VELD_BACKOFF_MAX_MS (64u * 1000u)
/* A random draw for the jitter is uniform in [0, VELD_BACKOFF_DRAW_MAX]. */
#define VELD_BACKOFF_DRAW_MAX 1000u

/* ---- URL policy --------------------------------------------------------- */

/* Check a server URL against the transport rules (docs/protocol.md 1):
 * https always; http only to a loopback host (127.0.0.0/8, ::1, localhost)
 * unless insecure_http is set. The URL is scheme://host[:port] with an
 * optional trailing "/" and nothing else (no path, query, user or
 * fragment: request signatures cover the path the server sees).
 * On success `base` (VELD_URL_MAX bytes) gets the URL without a trailing
 * "/" and *loopback whether the host is a loopback address.
 * VELD_EINVAL with a message naming the rule otherwise. */
int veld__url_check(const char *url, int insecure_http, char base[VELD_URL_MAX], int *loopback);

/* Is `host` (as in a URL; IPv6 in brackets or not) a loopback address? */
int veld__host_is_loopback(const char *host);

/* ---- TLS trust ----------------------------------------------------------- */

/* Largest CA text a store keeps (a few certificates; a whole system bundle
 * is not what --ca-file is for), and longest pin list. */
#define VELD_CA_PEM_MAX (256u * 1024u)
#define VELD_PIN_MAX 512

/* What a request trusts of the server's certificate (docs/protocol.md 1).
 * A CA given (ca_pem, else ca_file) replaces the system's CAs; a pin must
 * match the server's public key as well. All borrowed; NULL = none. */
struct veld__http_tls {
	const char *ca_pem;  /* PEM text */
	const char *ca_file; /* a PEM file */
	const char *pin;     /* "sha256//BASE64[;sha256//BASE64...]" */
};

/* Is `pin` a pin list libcurl takes: one to eight "sha256//" followed by
 * the base64 (44 characters) of a SHA-256, separated by ";"? VELD_EINVAL
 * with a message saying the form otherwise. */
int veld__pin_check(const char *pin);

/* Does `pem` look like CA certificates in PEM (at most VELD_CA_PEM_MAX
 * bytes, with a "-----BEGIN CERTIFICATE-----" line)? libcurl says more when
 * it loads them. VELD_EINVAL otherwise. */
int veld__ca_check(const char *pem);

/* ---- retries ----------------------------------------------------------------- */

/* Delay before retry number `attempt` (0 = the first retry) in ms:
 * min(0.5 s * 2^attempt, 64 s) scaled by (0.5 + draw / 1000), where `draw`
 * is uniform in [0, 1000] (values above 1000 count as 1000). So a delay is
 * always within +-50 % of its base: 0.5 s, 1 s, 2 s, 4 s, 8 s, ... */
uint64_t veld__backoff_ms(uint32_t attempt, uint32_t draw);

/* Is this status worth a retry (500, 503)? */
int veld__http_retryable(long status);

/* The veld code for an error answer: 403 "revoked" -> VELD_EREVOKED, other
 * 401/403 -> VELD_EPERM, 400/404/409/413 and anything else unexpected ->
 * VELD_EPROTO, 500/503 (after the retries) -> VELD_ENET. `error` is the
 * server's error code or NULL when the body did not decode. */
int veld__http_error_code(long status, const char *error);

/* ---- requests ------------------------------------------------------------ */

struct veld__http {
	void *curl;                /* CURL * */
	char base[VELD_URL_MAX];
	int loopback;
	uint32_t timeout_ms;
	struct veld__http_tls tls;
	atomic_int *cancel;  /* checked during transfers; may be NULL */
	char errbuf[256];          /* CURLOPT_ERRORBUFFER */
	uint64_t bytes_up, bytes_down; /* headers and bodies sent and received
	                                  by the requests on this handle */
};

struct veld__http_resp {
	long status;
	uint8_t *body; /* malloc'd, len bytes (+ a NUL not counted) */
	size_t len, cap;
};

/* Open a connection handle for `url` (already checked by veld__url_check).
 * What `tls` (may be NULL) points to, and `cancel`, must outlive the
 * handle. */
int veld__http_open(struct veld__http *h, const char *base, int loopback, uint32_t timeout_ms,
                    const struct veld__http_tls *tls, atomic_int *cancel);
void veld__http_close(struct veld__http *h);

/* One request: METHOD base+path with the signed headers (NULL for none)
 * and a msgpack body (NULL/0 for none). VELD_OK when an HTTP answer came
 * (any status; r->status tells which), VELD_ENET when none did,
 * VELD_EPERM when the server's certificate was not trusted or its key did
 * not match the pin (never worth a retry), VELD_EINVAL when the CA
 * certificates given would not load,
 * VELD_ECANCELLED when *cancel was set during the transfer, VELD_EPROTO when
 * the answer was larger than VELD_HTTP_MAX_RESPONSE. `r` is reset first;
 * free it with veld__http_resp_free. */
int veld__http_request(struct veld__http *h, const char *method, const char *path,
                       const struct veld__auth_headers *auth, const uint8_t *body, size_t len,
                       struct veld__http_resp *r);
void veld__http_resp_free(struct veld__http_resp *r);

/* Sleep `ms` milliseconds in short slices, returning early with
 * VELD_ECANCELLED when *cancel becomes set (cancel may be NULL). */
int veld__sleep_ms(uint64_t ms, atomic_int *cancel);

#endif
