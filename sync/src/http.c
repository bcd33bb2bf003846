/* http.c - the small HTTP client under sync: a libcurl easy handle, the
 * signed Veld-* headers, a capped response buffer, the URL policy, and the
 * retry schedule.
 *
 * Bodies are never logged or copied into a message: an error names the
 * method, path, status and what libcurl said about the connection. */
#include "http.h"
#include "auth.h"
#include "error.h"
#include "veld.h"
#include "wire.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- URL policy --------------------------------------------------------- */

int veld__host_is_loopback(const char *host)
{
	char buf[128];
	size_t n;
	struct in_addr a4;
	struct in6_addr a6;
	if (host == NULL || *host == '\0')
		return 0;
	if (strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	/* IPv6 as written in a URL: in brackets, perhaps with a zone id. */
	n = strlen(host);
	if (host[0] == '[' && n >= 2 && host[n - 1] == ']') {
		host++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof buf)
		return 0;
	memcpy(buf, host, n);
	buf[n] = '\0';
	buf[strcspn(buf, "%")] = '\0';
	if (inet_pton(AF_INET6, buf, &a6) != 1)
		return 0;
	if (IN6_IS_ADDR_LOOPBACK(&a6))
		return 1;
	/* ::ffff:127.x.y.z is IPv4 loopback too. */
	return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
}

/* One part of a parsed URL, or NULL if absent (caller curl_free()s). */
static char *url_part(CURLU *u, CURLUPart what)
{
	char *p = NULL;
	if (curl_url_get(u, what, &p, 0) != CURLUE_OK)
		return NULL;
	return p;
}

int veld__url_check(const char *url, int insecure_http, char base[VELD_URL_MAX], int *loopback)
{
	CURLU *u;
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL,
	     *frag = NULL, *user = NULL;
	int rc = VELD_OK, https, n;

	if (url == NULL || *url == '\0')
		return veld__err(VELD_EINVAL, "no server URL given");
	if (strlen(url) >= VELD_URL_MAX)
		return veld__err(VELD_EINVAL, "the server URL is longer than %d bytes", VELD_URL_MAX - 1);
	if (strncasecmp(url, "https://", 8) != 0 && strncasecmp(url, "http://", 7) != 0)
		return veld__err(VELD_EINVAL, "the server URL must start with https:// (or http:// "
			"for a server on this machine)");
	if ((u = curl_url()) == NULL)
		return veld__err(VELD_ENOMEM, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
		curl_url_cleanup(u);
		return veld__err(VELD_EINVAL, "the server URL is not a valid URL");
	}
	scheme = url_part(u, CURLUPART_SCHEME);
	host = url_part(u, CURLUPART_HOST);
	port = url_part(u, CURLUPART_PORT);
	path = url_part(u, CURLUPART_PATH);
	query = url_part(u, CURLUPART_QUERY);
	frag = url_part(u, CURLUPART_FRAGMENT);
	user = url_part(u, CURLUPART_USER);
	if (scheme == NULL || host == NULL || *host == '\0') {
		rc = veld__err(VELD_EINVAL, "the server URL has no host");
		goto out;
	}
	if ((path != NULL && strcmp(path, "/") != 0 && *path != '\0') || query != NULL ||
	    frag != NULL) {
		rc = veld__err(VELD_EINVAL, "the server URL must be only scheme://host[:port] "
			"(requests go to /v1/... on that host)");
		goto out;
	}
	if (user != NULL) {
		rc = veld__err(VELD_EINVAL, "the server URL must not carry a user name or password "
			"(devices authenticate with their keys)");
		goto out;
	}
	https = strcasecmp(scheme, "https") == 0;
	*loopback = veld__host_is_loopback(host);
	if (!https && !*loopback && !insecure_http) {
		rc = veld__err(VELD_EINVAL, "refusing plain http:// to %s: it is not this machine "
			"(127.0.0.0/8, ::1, localhost); use https://, or allow insecure http "
			"explicitly (--insecure-http) for a test network", host);
		goto out;
	}
	n = snprintf(base, VELD_URL_MAX, "%s://%s%s%s", https ? "https" : "http", host,
		port != NULL ? ":" : "", port != NULL ? port : "");
	if (n < 0 || n >= VELD_URL_MAX)
		rc = veld__err(VELD_EINVAL, "the server URL is too long");
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_free(query);
	curl_free(frag);
	curl_free(user);
	curl_url_cleanup(u);
	return rc;
}

/* ---- TLS trust ----------------------------------------------------------- */

int veld__pin_check(const char *pin)
{
	static const char form[] = "the pinned key must be sha256// followed by the base64 of the "
		"SHA-256 of the server's public key (44 characters), several separated by ';'";
	const char *p = pin;
	int n = 0;
	if (pin == NULL || strlen(pin) >= VELD_PIN_MAX)
		return veld__err(VELD_EINVAL, "%s, at most %d bytes in all", form, VELD_PIN_MAX - 1);
	for (;;) {
		unsigned char hash[32];
		size_t len = strcspn(p, ";"), bin = 0;
		if (len != 8 + 44 || strncmp(p, "sha256//", 8) != 0 ||
		    sodium_base642bin(hash, sizeof hash, p + 8, 44, NULL, &bin, NULL,
		                      sodium_base64_VARIANT_ORIGINAL) != 0 || bin != sizeof hash)
			return veld__err(VELD_EINVAL, "%s", form);
		if (++n > 8)
			return veld__err(VELD_EINVAL, "at most 8 pinned keys");
		if (p[len] == '\0')
			return VELD_OK;
		p += len + 1;
	}
}

int veld__ca_check(const char *pem)
{
	if (pem == NULL || strlen(pem) > VELD_CA_PEM_MAX)
		return veld__err(VELD_EINVAL, "the CA certificates are longer than %u KiB: give only "
			"the CA of the server", VELD_CA_PEM_MAX / 1024);
	if (strstr(pem, "-----BEGIN CERTIFICATE-----") == NULL)
		return veld__err(VELD_EINVAL, "the CA file holds no PEM certificate (-----BEGIN "
			"CERTIFICATE-----)");
	return VELD_OK;
}

/* ---- retries ----------------------------------------------------------------- */

uint64_t veld__backoff_ms(uint32_t attempt, uint32_t draw)
{
	uint64_t base = VELD_BACKOFF_BASE_MS;
	for (uint32_t i = 0; i < attempt && base < VELD_BACKOFF_MAX_MS; i++)
		base *= 2;
	if (base > VELD_BACKOFF_MAX_MS)
		base = VELD_BACKOFF_MAX_MS;
	if (draw > VELD_BACKOFF_DRAW_MAX)
		draw = VELD_BACKOFF_DRAW_MAX;
	/* base * (0.5 + draw/1000), in integers. */
	return base * (VELD_BACKOFF_DRAW_MAX / 2 + draw) / VELD_BACKOFF_DRAW_MAX;
}

int veld__http_retryable(long status)
{
	return status == 500 || status == 503;
}

int veld__http_error_code(long status, const char *error)
{
	if (status == 403 && error != NULL && strcmp(error, "revoked") == 0)
		return VELD_EREVOKED;
	if (status == 401 || status == 403)
		return VELD_EPERM;
	if (veld__http_retryable(status))
		return VELD_ENET;
	/* 400, 404, 409, 413 and anything the protocol does not name. */
	return VELD_EPROTO;
}

int veld__sleep_ms(uint64_t ms, atomic_int *cancel)
{
	while (ms > 0) {
		uint64_t slice = ms < 50 ? ms : 50;
		struct timespec ts = {(time_t)(slice / 1000), (long)(slice % 1000) * 1000000L};
		if (cancel != NULL && atomic_load(cancel))
			return VELD_ECANCELLED;
		nanosleep(&ts, NULL);
		ms -= slice;
	}
	return cancel != NULL && atomic_load(cancel) ? VELD_ECANCELLED : VELD_OK;
}

/* ---- requests ------------------------------------------------------------ */

/* libcurl's global init, once per process. It is not thread-safe, and an
 * easy handle made before it would run it from whichever thread came first;
 * core (veld_init) knows nothing of the network, so sync does it here. */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_init_rc;

static void curl_init_run(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int http_init(void)
{
	pthread_once(&curl_once, curl_init_run);
	return curl_init_rc == 0 ? VELD_OK : veld__err(VELD_ERROR, "libcurl failed to initialise");
}

int veld__http_open(struct veld__http *h, const char *base, int loopback, uint32_t timeout_ms,
                    const struct veld__http_tls *tls, atomic_int *cancel)
{
	int rc;
	memset(h, 0, sizeof *h);
	if ((rc = veld_init()) != VELD_OK || (rc = http_init()) != VELD_OK)
		return rc;
	if (strlen(base) >= sizeof h->base)
		return veld__err(VELD_EINVAL, "the server URL is too long");
	strcpy(h->base, base);
	h->loopback = loopback;
	h->timeout_ms = timeout_ms ? timeout_ms : 30000;
	if (tls != NULL)
		h->tls = *tls;
	h->cancel = cancel;
	if ((h->curl = curl_easy_init()) == NULL)
		return veld__err(VELD_ENOMEM, "cannot make an HTTP handle (out of memory)");
	return VELD_OK;
}

void veld__http_close(struct veld__http *h)
{
	if (h == NULL)
		return;
	if (h->curl != NULL)
		curl_easy_cleanup(h->curl);
	h->curl = NULL;
}

void veld__http_resp_free(struct veld__http_resp *r)
{
	if (r == NULL)
		return;
	free(r->body);
	r->body = NULL;
	r->len = r->cap = 0;
	r->status = 0;
}

/* The write callback: append to the response, refusing to grow past the
 * cap (returning less than given makes libcurl stop with a write error). */
struct sink {
	struct veld__http_resp *r;
	int too_large;
};

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud)
{
	struct sink *k = ud;
	struct veld__http_resp *r = k->r;
	size_t n = size * nmemb;
	if (n > VELD_HTTP_MAX_RESPONSE - r->len) {
		k->too_large = 1;
		return 0;
	}
	if (r->len + n + 1 > r->cap) {
		size_t cap = r->cap ? r->cap : 16384;
		uint8_t *nb;
		while (cap < r->len + n + 1)
			cap *= 2;
		if (cap > VELD_HTTP_MAX_RESPONSE + 1)
			cap = VELD_HTTP_MAX_RESPONSE + 1;
		if ((nb = realloc(r->body, cap)) == NULL)
			return 0;
		r->body = nb;
		r->cap = cap;
	}
	memcpy(r->body + r->len, p, n);
	r->len += n;
	r->body[r->len] = 0;
	return n;
}

/* Called by libcurl during a transfer (also while it waits): a set cancel
 * flag aborts the transfer. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
	atomic_int *cancel = ud;
	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return cancel != NULL && atomic_load(cancel) ? 1 : 0;
}

static struct curl_slist *add_header(struct curl_slist *l, const char *name, const char *value,
                                     int *failed)
{
	char line[256];
	struct curl_slist *n;
	/* "Name:" with nothing after the colon tells libcurl to send no such
	 * header at all (used to drop Expect: 100-continue). */
	if (*value)
		snprintf(line, sizeof line, "%s: %s", name, value);
	else
		snprintf(line, sizeof line, "%s:", name);
	if ((n = curl_slist_append(l, line)) == NULL)
		*failed = 1;
	return n ? n : l;
}

/* What the last transfer sent and received, headers included. */
static void count_bytes(struct veld__http *h)
{
	curl_off_t up = 0, down = 0;
	long req_hdr = 0, resp_hdr = 0;
	curl_easy_getinfo(h->curl, CURLINFO_SIZE_UPLOAD_T, &up);
	curl_easy_getinfo(h->curl, CURLINFO_SIZE_DOWNLOAD_T, &down);
	curl_easy_getinfo(h->curl, CURLINFO_REQUEST_SIZE, &req_hdr);
	curl_easy_getinfo(h->curl, CURLINFO_HEADER_SIZE, &resp_hdr);
	h->bytes_up += (uint64_t)up + (uint64_t)req_hdr;
	h->bytes_down += (uint64_t)down + (uint64_t)resp_hdr;
}

/* How this device checks the server: TLS 1.2 at least, the peer and its
 * host name verified, against the CA it was given (which then replaces the
 * system's, bundle and directory both, so only that CA can vouch for the
 * server), and against the pinned key. */
static void set_tls(const struct veld__http *h, CURL *c)
{
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (h->tls.ca_pem != NULL) {
		struct curl_blob blob = {(void *)(uintptr_t)h->tls.ca_pem, strlen(h->tls.ca_pem),
		                         CURL_BLOB_COPY};
		curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob);
		curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
	} else if (h->tls.ca_file != NULL && *h->tls.ca_file != '\0') {
		curl_easy_setopt(c, CURLOPT_CAINFO, h->tls.ca_file);
		curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
	}
	if (h->tls.pin != NULL && *h->tls.pin != '\0')
		curl_easy_setopt(c, CURLOPT_PINNEDPUBLICKEY, h->tls.pin);
}

/* The error of a transfer that did not complete. */
static int transfer_failed(const struct veld__http *h, CURLcode cc, int too_large,
                           const char *method, const char *path)
{
	const char *why = h->errbuf[0] ? h->errbuf : curl_easy_strerror(cc);
	if (cc == CURLE_ABORTED_BY_CALLBACK)
		return veld__err(VELD_ECANCELLED, "sync cancelled");
	if (cc == CURLE_WRITE_ERROR && too_large)
		return veld__err(VELD_EPROTO, "%s %s: the server's answer is larger than %u MiB",
			method, path, VELD_HTTP_MAX_RESPONSE / (1024u * 1024u));
	if (cc == CURLE_OUT_OF_MEMORY || cc == CURLE_WRITE_ERROR)
		return veld__err(VELD_ENOMEM, "%s %s: out of memory", method, path);
	/* Not the server this device trusts: a retry would meet the same
	 * certificate, so none is made. */
	if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_ISSUER_ERROR ||
	    cc == CURLE_SSL_INVALIDCERTSTATUS)
		return veld__err(VELD_EPERM, "%s %s: the server's TLS certificate is not "
			"trusted (%s): it is not signed by a CA this device trusts, or not for "
			"this host name; check the server URL, and the CA given at enrollment "
			"(--ca-file)", method, path, why);
	if (cc == CURLE_SSL_PINNEDPUBKEYNOTMATCH)
		return veld__err(VELD_EPERM, "%s %s: the server's public key does not match "
			"the key pinned for it: this is not the server the device enrolled with, "
			"or its key changed", method, path);
	if (cc == CURLE_SSL_CACERT_BADFILE)
		return veld__err(VELD_EINVAL, "%s %s: the CA certificates given for the server "
			"do not load (%s)", method, path, why);
	return veld__err(VELD_ENET, "%s %s: %s", method, path, why);
}

int veld__http_request(struct veld__http *h, const char *method, const char *path,
                       const struct veld__auth_headers *auth, const uint8_t *body, size_t len,
                       struct veld__http_resp *r)
{
	CURL *c = h->curl;
	struct curl_slist *hdr = NULL;
	struct sink sink = {r, 0};
	char url[VELD_URL_MAX + 512];
	int failed = 0, post = strcmp(method, "POST") == 0;
	CURLcode cc;
	long status = 0;

	memset(r, 0, sizeof *r);
	if (c == NULL)
		return veld__err(VELD_ERROR, "HTTP handle is not open");
	if ((size_t)snprintf(url, sizeof url, "%s%s", h->base, path) >= sizeof url)
		return veld__err(VELD_EINVAL, "request path too long");

	/* Reset keeps the connection cache, so keep-alive still works. */
	curl_easy_reset(c);
	h->errbuf[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)h->timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(h->timeout_ms < 15000 ? h->timeout_ms : 15000));
	set_tls(h, c);
	/* A request to this machine never goes through a proxy from the
	 * environment (it would leave the machine in the clear). */
	if (h->loopback)
		curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_USERAGENT, "veld/0.1");
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)h->cancel);

	hdr = add_header(hdr, "Accept", VELD_CONTENT_TYPE, &failed);
	hdr = add_header(hdr, "Expect", "", &failed); /* no 100-continue round trip */
	if (post)
		hdr = add_header(hdr, "Content-Type", VELD_CONTENT_TYPE, &failed);
	if (auth != NULL) {
		hdr = add_header(hdr, "Veld-Device", auth->device, &failed);
		hdr = add_header(hdr, "Veld-Time", auth->time, &failed);
		hdr = add_header(hdr, "Veld-Nonce", auth->nonce, &failed);
		hdr = add_header(hdr, "Veld-Signature", auth->signature, &failed);
	}
	if (failed) {
		curl_slist_free_all(hdr);
		return veld__err(VELD_ENOMEM, "out of memory");
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	if (post) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body != NULL ? (const char *)body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	} else if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	}

	cc = curl_easy_perform(c);
	count_bytes(h);
	curl_slist_free_all(hdr);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	if (cc != CURLE_OK) {
		veld__http_resp_free(r);
		return transfer_failed(h, cc, sink.too_large, method, path);
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	r->status = status;
	return VELD_OK;
}
