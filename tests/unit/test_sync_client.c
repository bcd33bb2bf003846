/* test_sync_client.c - the device side of sync, without a real server: the
 * URL policy, the backoff schedule, the mapping of error answers to veld
 * codes, and the retry loop against a scripted fake server on loopback
 * (503s then a refusal; every attempt signed with a fresh nonce). */
#include "helpers.h"

#include "devsync.h"
#include "http.h"
#include "veld_sync.h"
#include "wire.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* A code in the right shape (20 bytes of base32), valid for no server. */
#define SOME_CODE "AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGG-HHHH"

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- URL policy --------------------------------------------------------- */

static void url_ok(const char *url, int insecure, const char *want_base, int want_loop)
{
	char base[VELD_URL_MAX];
	int loop = -1;
	int rc = veld__url_check(url, insecure, base, &loop);
	if (rc != VELD_OK)
		fail_msg("%s refused: %s", url, veld_error_last());
	assert_string_equal(base, want_base);
	assert_int_equal(loop, want_loop);
}

static void url_refused(const char *url, int insecure, const char *why)
{
	char base[VELD_URL_MAX];
	int loop = 0;
	assert_int_equal(veld__url_check(url, insecure, base, &loop), VELD_EINVAL);
	if (strstr(veld_error_last(), why) == NULL)
		fail_msg("%s: message \"%s\" does not say \"%s\"", url, veld_error_last(), why);
}

static void test_sync_client__http_to_other_host_refused(void **state)
{
	url_refused("http://example.com", 0, "refusing plain http://");
	url_refused("http://10.0.0.5:8080", 0, "--insecure-http");
	url_refused("http://192.168.1.10/", 0, "not this machine");
	/* Names that only look like loopback are not. */
	url_refused("http://localhost.example.com", 0, "refusing plain http://");
	url_refused("http://127.example.com", 0, "refusing plain http://");
	url_refused("http://[::2]:80", 0, "refusing plain http://");
}

/* ---- TLS trust ------------------------------------------------------------ */

static void test_sync_client__pins_in_curls_form_accepted(void **state)
{
	static const char one[] = "sha256//yiQ7COVmxbhKkYzrlVK65U3u56saAs2XI9yAcEFm9k0=";
	char list[9 * sizeof one + 8];
	(void)state;
	assert_int_equal(veld__pin_check(one), VELD_OK);
	snprintf(list, sizeof list, "%s;%s", one, one);
	assert_int_equal(veld__pin_check(list), VELD_OK);
	/* Eight at most. */
	list[0] = '\0';
	for (int i = 0; i < 9; i++)
		snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ";" : "", one);
	assert_int_equal(veld__pin_check(list), VELD_EINVAL);
}

static void test_sync_client__malformed_pins_refused(void **state)
{
	static const char *const bad[] = {
		"", "sha256//", "yiQ7COVmxbhKkYzrlVK65U3u56saAs2XI9yAcEFm9k0=",
		"sha1//yiQ7COVmxbhKkYzrlVK65U3u56saAs2XI9yAcEFm9k0=",
		"sha256//yiQ7COVmxbhKkYzrlVK65U3u56saAs2XI9yAcEFm9k0",    /* short */
		"sha256//yiQ7COVmxbhKkYzrlVK65U3u56saAs2XI9yAcEFm9k0=;",  /* empty second */
		"sha256//yiQ7COVmxbhKkYzrlVK65U3u56saAs2XI9yAcEFm9k!=",   /* not base64 */
		"sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",   /* 31 bytes */
		"/etc/ssl/server.pub", /* libcurl would read a file: not a pin here */
	};
	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (veld__pin_check(bad[i]) != VELD_EINVAL)
			fail_msg("pin \"%s\" accepted", bad[i]);
		assert_non_null(strstr(veld_error_last(), "sha256//"));
	}
}

static void test_sync_client__ca_text_without_a_certificate_refused(void **state)
{
	(void)state;
	assert_int_equal(veld__ca_check("-----BEGIN CERTIFICATE-----\nMIIB\n"
	                                "-----END CERTIFICATE-----\n"), VELD_OK);
	assert_int_equal(veld__ca_check("-----BEGIN PRIVATE KEY-----\n"), VELD_EINVAL);
	assert_int_equal(veld__ca_check(""), VELD_EINVAL);
}

static void test_sync_client__http_to_other_host_allowed_with_insecure(void **state)
{
	url_ok("http://example.com", 1, "http://example.com", 0);
	url_ok("http://10.0.0.5:8080/", 1, "http://10.0.0.5:8080", 0);
}

static void test_sync_client__http_to_loopback_allowed(void **state)
{
	url_ok("http://127.0.0.1:8080", 0, "http://127.0.0.1:8080", 1);
	url_ok("http://127.9.8.7", 0, "http://127.9.8.7", 1);
	url_ok("http://localhost:7000/", 0, "http://localhost:7000", 1);
	url_ok("http://LOCALHOST:7000", 0, "http://LOCALHOST:7000", 1);
	url_ok("http://[::1]:7000", 0, "http://[::1]:7000", 1);
}

static void test_sync_client__https_accepted(void **state)
{
	url_ok("https://veld.example.org", 0, "https://veld.example.org", 0);
	url_ok("https://veld.example.org:8443/", 0, "https://veld.example.org:8443", 0);
	url_ok("HTTPS://veld.example.org", 0, "https://veld.example.org", 0);
	url_ok("https://[2001:db8::1]:443", 0, "https://[2001:db8::1]:443", 0);
	url_ok("https://127.0.0.1:9443", 0, "https://127.0.0.1:9443", 1);
}

static void test_sync_client__url_shapes_refused(void **state)
{
	url_refused("", 0, "no server URL");
	url_refused("ftp://example.com", 0, "https://");
	url_refused("example.com", 0, "https://");
	url_refused("https://example.com/veld", 0, "scheme://host[:port]");
	url_refused("https://example.com/?a=b", 0, "scheme://host[:port]");
	url_refused("https://example.com/#x", 0, "scheme://host[:port]");
	url_refused("https://user:secret@example.com", 0, "user name or password");
	/* The password given is never repeated in the message. */
	assert_null(strstr(veld_error_last(), "secret"));
}

static void test_sync_client__loopback_hosts(void **state)
{
	assert_true(veld__host_is_loopback("127.0.0.1"));
	assert_true(veld__host_is_loopback("127.255.255.254"));
	assert_true(veld__host_is_loopback("::1"));
	assert_true(veld__host_is_loopback("[::1]"));
	assert_true(veld__host_is_loopback("[::ffff:127.0.0.1]"));
	assert_true(veld__host_is_loopback("localhost"));
	assert_false(veld__host_is_loopback("128.0.0.1"));
	assert_false(veld__host_is_loopback("10.127.0.1"));
	assert_false(veld__host_is_loopback("[::]"));
	assert_false(veld__host_is_loopback("localhost.localdomain.example"));
	assert_false(veld__host_is_loopback(""));
	assert_false(veld__host_is_loopback(NULL));
}

/* ---- backoff -------------------------------------------------------------- */

static void test_sync_client__backoff_within_half_of_base(void **state)
{
	for (uint32_t n = 0; n < 8; n++) {
		uint64_t base = 500u << n; /* 0.5 s * 2^n; below the 64 s cap here */
		/* The ends and the middle of the jitter range. */
		assert_int_equal(veld__backoff_ms(n, 0), base / 2);
		assert_int_equal(veld__backoff_ms(n, 500), base);
		assert_int_equal(veld__backoff_ms(n, 1000), base + base / 2);
		/* And random draws, as the client makes them. */
		for (int i = 0; i < 1000; i++) {
			uint64_t d = veld__backoff_ms(n, randombytes_uniform(VELD_BACKOFF_DRAW_MAX + 1));
			assert_true(d >= base / 2);
			assert_true(d <= base + base / 2);
		}
	}
}

static void test_sync_client__backoff_schedule_of_the_protocol(void **state)
{
	/* docs/protocol.md 7: 0.5 s, 1 s, 2 s, 4 s, 8 s before jitter. */
	static const uint64_t want[] = {500, 1000, 2000, 4000, 8000};
	for (uint32_t n = 0; n < 5; n++)
		assert_int_equal(veld__backoff_ms(n, 500), want[n]);
}

static void test_sync_client__backoff_capped_and_draw_clamped(void **state)
{
	assert_int_equal(veld__backoff_ms(7, 500), 64000);
	assert_int_equal(veld__backoff_ms(8, 500), 64000);
	assert_int_equal(veld__backoff_ms(4000000000u, 1000), 96000);
	assert_int_equal(veld__backoff_ms(0, 5000), 750);
}

/* ---- error mapping --------------------------------------------------------- */

static void test_sync_client__error_codes(void **state)
{
	assert_int_equal(veld__http_error_code(403, "revoked"), VELD_EREVOKED);
	assert_int_equal(veld__http_error_code(403, "forbidden"), VELD_EPERM);
	assert_int_equal(veld__http_error_code(403, "bad_code"), VELD_EPERM);
	assert_int_equal(veld__http_error_code(403, NULL), VELD_EPERM);
	assert_int_equal(veld__http_error_code(401, "unauthenticated"), VELD_EPERM);
	assert_int_equal(veld__http_error_code(401, "unknown_device"), VELD_EPERM);
	assert_int_equal(veld__http_error_code(401, "stale"), VELD_EPERM);
	assert_int_equal(veld__http_error_code(401, "bad_signature"), VELD_EPERM);
	/* "revoked" means wipe only with its own status. */
	assert_int_equal(veld__http_error_code(401, "revoked"), VELD_EPERM);
	assert_int_equal(veld__http_error_code(400, "malformed"), VELD_EPROTO);
	assert_int_equal(veld__http_error_code(409, "gap"), VELD_EPROTO);
	assert_int_equal(veld__http_error_code(409, "equivocation"), VELD_EPROTO);
	assert_int_equal(veld__http_error_code(409, "bad_batch"), VELD_EPROTO);
	assert_int_equal(veld__http_error_code(413, "too_large"), VELD_EPROTO);
	assert_int_equal(veld__http_error_code(404, "not_found"), VELD_EPROTO);
	assert_int_equal(veld__http_error_code(500, "internal"), VELD_ENET);
	assert_int_equal(veld__http_error_code(503, "busy"), VELD_ENET);
	assert_int_equal(veld__http_error_code(418, NULL), VELD_EPROTO);
}

static void test_sync_client__only_500_and_503_retried(void **state)
{
	assert_true(veld__http_retryable(500));
	assert_true(veld__http_retryable(503));
	assert_false(veld__http_retryable(502));
	assert_false(veld__http_retryable(400));
	assert_false(veld__http_retryable(403));
	assert_false(veld__http_retryable(409));
	assert_false(veld__http_retryable(200));
}

/* ---- calls on a store ------------------------------------------------------ */

static void test_sync_client__sync_before_enroll_is_enotfound(void **state)
{
	char *dir, *out = (char *)0x1;
	veld_store *s = store_new(&dir, "anna", "north");
	assert_int_equal(veld_sync(s, NULL, &out), VELD_ENOTFOUND);
	assert_null(out);
	assert_non_null(strstr(veld_error_last(), "not enrolled"));
	assert_non_null(strstr(veld_error_last(), "veld enroll"));
	/* The office calls say the same, pointing at the office's enrollment. */
	assert_int_equal(veld_office_devices(s, NULL, &out), VELD_ENOTFOUND);
	assert_non_null(strstr(veld_error_last(), "not enrolled"));
	assert_int_equal(veld_office_invite(s, "north", 0, NULL, &out), VELD_ENOTFOUND);
	assert_int_equal(veld_office_revoke(s, "00112233445566778899aabbccddeeff", NULL),
		VELD_ENOTFOUND);
	veld_store_free(s);
	rm_rf(dir);
	free(dir);
}

static void test_sync_client__enroll_checks_before_the_network(void **state)
{
	char *dir, *out = NULL;
	veld_store *s = store_new(&dir, "anna", "north");
	veld_sync_options o = VELD_SYNC_OPTIONS_INIT;
	/* A malformed code: refused, and not repeated in the message. */
	assert_int_equal(veld_enroll(s, "https://127.0.0.1:1", "QQQQ-not-a-code-9999", NULL, &o,
		&out), VELD_EINVAL);
	assert_null(out);
	assert_non_null(strstr(veld_error_last(), "enrollment code is not valid"));
	assert_null(strstr(veld_error_last(), "QQQQ"));
	/* A URL the policy refuses. */
	assert_int_equal(veld_enroll(s, "http://example.com", SOME_CODE, NULL, &o, &out),
		VELD_EINVAL);
	/* A label too long. */
	char label[80];
	memset(label, 'x', sizeof label - 1);
	label[sizeof label - 1] = 0;
	assert_int_equal(veld_enroll(s, "https://127.0.0.1:1", SOME_CODE, label, &o, &out),
		VELD_EINVAL);
	/* Options of an unknown version. */
	o.version = 99;
	assert_int_equal(veld_enroll(s, "https://127.0.0.1:1", SOME_CODE, NULL, &o, &out),
		VELD_EINVAL);
	veld_store_free(s);
	rm_rf(dir);
	free(dir);
}

static void test_sync_client__no_server_is_enet_without_the_code(void **state)
{
	char *dir, *out = NULL;
	veld_store *s = store_new(&dir, "anna", "north");
	veld_sync_options o = VELD_SYNC_OPTIONS_INIT;
	o.max_retries = (uint32_t)VELD_SYNC_RETRIES_NONE;
	o.timeout_ms = 2000;
	/* Port 1 on loopback: nothing listens, the connection is refused. */
	assert_int_equal(veld_enroll(s, "http://127.0.0.1:1", SOME_CODE, "anna-phone", &o, &out),
		VELD_ENET);
	assert_null(out);
	assert_non_null(strstr(veld_error_last(), "/v1/enroll"));
	assert_null(strstr(veld_error_last(), "AAAA"));
	veld_store_free(s);
	rm_rf(dir);
	free(dir);
}

/* ---- a scripted fake server ------------------------------------------------ */

#define SCRIPT_MAX 8

struct fake {
	int fd;
	int port;
	pthread_t thread;
	/* The answers, in order; then the connection is refused. */
	struct { int status; const char *error, *message; } script[SCRIPT_MAX];
	int nscript;
	/* What came in. */
	int requests;
	char nonces[SCRIPT_MAX][33];
	char paths[SCRIPT_MAX][64];
	uint64_t at_ms[SCRIPT_MAX];
};

/* The value of header `name` in a request head, or "". */
static void header_value(const char *head, const char *name, char *out, size_t cap)
{
	size_t n = strlen(name);
	out[0] = 0;
	for (const char *p = head; p && *p; p = strstr(p, "\r\n") ? strstr(p, "\r\n") + 2 : NULL) {
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			const char *v = p + n + 1;
			size_t len;
			while (*v == ' ')
				v++;
			len = strcspn(v, "\r\n");
			if (len >= cap)
				len = cap - 1;
			memcpy(out, v, len);
			out[len] = 0;
			return;
		}
	}
}

static void *fake_run(void *arg)
{
	struct fake *f = arg;
	for (int i = 0; i < f->nscript; i++) {
		char req[65536], len_s[32];
		size_t got = 0, need;
		char *end;
		msgpack_sbuffer sb;
		struct veld__error_resp e;
		char head[256];
		int c = accept(f->fd, NULL, NULL);
		if (c < 0)
			break;
		/* Read the head, then the body its Content-Length announces. */
		for (;;) {
			ssize_t n = read(c, req + got, sizeof req - 1 - got);
			if (n <= 0)
				break;
			got += (size_t)n;
			req[got] = 0;
			if ((end = strstr(req, "\r\n\r\n")) != NULL) {
				header_value(req, "Content-Length", len_s, sizeof len_s);
				need = (size_t)(end + 4 - req) + (size_t)strtoul(len_s, NULL, 10);
				if (got >= need)
					break;
			}
		}
		f->at_ms[i] = now_ms();
		header_value(req, "Veld-Nonce", f->nonces[i], sizeof f->nonces[i]);
		sscanf(req, "%*s %63s", f->paths[i]);
		f->requests++;
		memset(&e, 0, sizeof e);
		snprintf(e.error, sizeof e.error, "%s", f->script[i].error);
		snprintf(e.message, sizeof e.message, "%s", f->script[i].message);
		msgpack_sbuffer_init(&sb);
		assert_int_equal(veld__wire_error_encode(&sb, &e), VELD_OK);
		snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu"
			"\r\nConnection: close\r\n\r\n", f->script[i].status, VELD_CONTENT_TYPE, sb.size);
		if (write(c, head, strlen(head)) < 0 || write(c, sb.data, sb.size) < 0) {
			/* the client went away; the test will say so */
		}
		msgpack_sbuffer_destroy(&sb);
		close(c);
	}
	return NULL;
}

static void fake_start(struct fake *f)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof a;
	int one = 1;
	f->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(f->fd >= 0);
	setsockopt(f->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(f->fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(f->fd, 8), 0);
	assert_int_equal(getsockname(f->fd, (struct sockaddr *)&a, &alen), 0);
	f->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_run, f), 0);
}

static void fake_stop(struct fake *f)
{
	shutdown(f->fd, SHUT_RDWR);
	close(f->fd);
	pthread_join(f->thread, NULL);
}

static void test_sync_client__503_retried_with_fresh_nonces_then_refusal_reported(void **state)
{
	char *dir, *out = NULL, url[64];
	veld_store *s = store_new(&dir, "anna", "north");
	veld_sync_options o = VELD_SYNC_OPTIONS_INIT;
	struct fake f;
	memset(&f, 0, sizeof f);
	f.script[0].status = 503; f.script[0].error = "busy"; f.script[0].message = "too many";
	f.script[1].status = 500; f.script[1].error = "internal"; f.script[1].message = "oops";
	f.script[2].status = 403; f.script[2].error = "bad_code";
	f.script[2].message = "the enrollment code is unknown, used or expired";
	f.nscript = 3;
	fake_start(&f);
	snprintf(url, sizeof url, "http://127.0.0.1:%d", f.port);
	o.timeout_ms = 5000;
	assert_int_equal(veld_enroll(s, url, SOME_CODE, "anna-phone", &o, &out), VELD_EPERM);
	fake_stop(&f);
	assert_null(out);
	assert_int_equal(f.requests, 3);
	/* Each attempt was signed anew. */
	assert_int_equal(strlen(f.nonces[0]), 32);
	assert_string_not_equal(f.nonces[0], f.nonces[1]);
	assert_string_not_equal(f.nonces[1], f.nonces[2]);
	assert_string_equal(f.paths[2], "/v1/enroll");
	/* Backed off between attempts: 0.25..0.75 s, then 0.5..1.5 s. */
	assert_true(f.at_ms[1] - f.at_ms[0] >= 240);
	assert_true(f.at_ms[2] - f.at_ms[1] >= 490);
	/* The server's error code and message reach the caller. */
	assert_non_null(strstr(veld_error_last(), "403 bad_code"));
	assert_non_null(strstr(veld_error_last(), "unknown, used or expired"));
	veld_store_free(s);
	rm_rf(dir);
	free(dir);
}

static void test_sync_client__retries_exhausted_is_enet(void **state)
{
	char *dir, *out = NULL, url[64];
	veld_store *s = store_new(&dir, "anna", "north");
	veld_sync_options o = VELD_SYNC_OPTIONS_INIT;
	struct fake f;
	memset(&f, 0, sizeof f);
	for (int i = 0; i < 2; i++) {
		f.script[i].status = 503;
		f.script[i].error = "busy";
		f.script[i].message = "too many requests";
	}
	f.nscript = 2;
	fake_start(&f);
	snprintf(url, sizeof url, "http://127.0.0.1:%d", f.port);
	o.max_retries = 1;
	assert_int_equal(veld_enroll(s, url, SOME_CODE, NULL, &o, &out), VELD_ENET);
	fake_stop(&f);
	assert_int_equal(f.requests, 2);
	assert_non_null(strstr(veld_error_last(), "gave up after 2 attempts"));
	assert_non_null(strstr(veld_error_last(), "503 busy"));
	veld_store_free(s);
	rm_rf(dir);
	free(dir);
}

/* "403 revoked" is the server's word, with no revocation the office
 * signed: a store the server does not hold all of (here one not even
 * enrolled) is kept, VELD_EPERM; the order to wipe, VELD_EREVOKED, comes
 * only when nothing of the device waits to be pushed (test_e2e_privacy
 * revokes a device that has sent everything; test_e2e_malicious answers
 * one that has not). */
static void test_sync_client__revoked_answer_keeps_a_store_with_unsent_work(void **state)
{
	char *dir, *out = NULL, url[64];
	veld_store *s = store_new(&dir, "anna", "north");
	struct fake f;
	memset(&f, 0, sizeof f);
	f.script[0].status = 403;
	f.script[0].error = "revoked";
	f.script[0].message = "this device was revoked";
	f.nscript = 1;
	fake_start(&f);
	snprintf(url, sizeof url, "http://127.0.0.1:%d", f.port);
	assert_int_equal(veld_enroll(s, url, SOME_CODE, NULL, NULL, &out), VELD_EPERM);
	fake_stop(&f);
	assert_int_equal(f.requests, 1);
	assert_non_null(strstr(veld_error_last(), "the store is kept"));
	veld_store_free(s);
	rm_rf(dir);
	free(dir);
}

/* ---- cancel ----------------------------------------------------------------- */

struct canceller {
	veld_store *s;
	int delay_ms;
};

static void *cancel_later(void *arg)
{
	struct canceller *k = arg;
	struct timespec ts = {0, (long)k->delay_ms * 1000000L};
	nanosleep(&ts, NULL);
	veld_sync_cancel(k->s);
	return NULL;
}

static void test_sync_client__cancel_from_another_thread_stops_the_backoff(void **state)
{
	char *dir, *out = NULL;
	veld_store *s = store_new(&dir, "anna", "north");
	veld_sync_options o = VELD_SYNC_OPTIONS_INIT;
	struct canceller k = {s, 300};
	pthread_t t;
	uint64_t t0;
	/* Nothing listens on port 1: five retries would take 15 s or more. */
	o.max_retries = 5;
	assert_int_equal(pthread_create(&t, NULL, cancel_later, &k), 0);
	t0 = now_ms();
	assert_int_equal(veld_enroll(s, "http://127.0.0.1:1", SOME_CODE, NULL, &o, &out),
		VELD_ECANCELLED);
	assert_true(now_ms() - t0 < 3000);
	pthread_join(t, NULL);
	/* A cancel applies to the running call only: the next one runs. */
	o.max_retries = (uint32_t)VELD_SYNC_RETRIES_NONE;
	assert_int_equal(veld_enroll(s, "http://127.0.0.1:1", SOME_CODE, NULL, &o, &out),
		VELD_ENET);
	veld_store_free(s);
	rm_rf(dir);
	free(dir);
}

static void test_sync_client__options_init(void **state)
{
	veld_sync_options a = VELD_SYNC_OPTIONS_INIT, b;
	memset(&b, 0xff, sizeof b);
	veld_sync_options_init(&b);
	assert_int_equal(b.version, VELD_SYNC_OPTIONS_VERSION);
	assert_int_equal(b.timeout_ms, 30000);
	assert_int_equal(b.max_retries, 5);
	assert_int_equal(b.push_batch, 1000);
	assert_int_equal(b.pull_page, 5000);
	assert_int_equal(b.insecure_http, 0);
	assert_null(b.ca_file);
	assert_null(b.progress);
	assert_int_equal(a.timeout_ms, b.timeout_ms);
}

/* A zeroed options struct with its version set runs with the defaults, the
 * same as VELD_SYNC_OPTIONS_INIT; no retries at all is asked for by name. */
static void test_sync_client__zeroed_options_are_the_defaults(void **state)
{
	veld_sync_options init = VELD_SYNC_OPTIONS_INIT, zero, a, b;
	memset(&zero, 0, sizeof zero);
	zero.version = VELD_SYNC_OPTIONS_VERSION;
	veld__sync_options_resolve(&a, &init);
	veld__sync_options_resolve(&b, &zero);
	assert_int_equal(a.max_retries, 5);
	assert_int_equal(b.max_retries, a.max_retries);
	assert_int_equal(b.timeout_ms, a.timeout_ms);
	assert_int_equal(b.push_batch, a.push_batch);
	assert_int_equal(b.pull_page, a.pull_page);
	zero.max_retries = (uint32_t)VELD_SYNC_RETRIES_NONE;
	veld__sync_options_resolve(&b, &zero);
	assert_int_equal(b.max_retries, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sync_client__http_to_other_host_refused),
		cmocka_unit_test(test_sync_client__http_to_other_host_allowed_with_insecure),
		cmocka_unit_test(test_sync_client__http_to_loopback_allowed),
		cmocka_unit_test(test_sync_client__https_accepted),
		cmocka_unit_test(test_sync_client__url_shapes_refused),
		cmocka_unit_test(test_sync_client__pins_in_curls_form_accepted),
		cmocka_unit_test(test_sync_client__malformed_pins_refused),
		cmocka_unit_test(test_sync_client__ca_text_without_a_certificate_refused),
		cmocka_unit_test(test_sync_client__loopback_hosts),
		cmocka_unit_test(test_sync_client__backoff_within_half_of_base),
		cmocka_unit_test(test_sync_client__backoff_schedule_of_the_protocol),
		cmocka_unit_test(test_sync_client__backoff_capped_and_draw_clamped),
		cmocka_unit_test(test_sync_client__error_codes),
		cmocka_unit_test(test_sync_client__zeroed_options_are_the_defaults),
		cmocka_unit_test(test_sync_client__only_500_and_503_retried),
		cmocka_unit_test(test_sync_client__options_init),
		cmocka_unit_test(test_sync_client__sync_before_enroll_is_enotfound),
		cmocka_unit_test(test_sync_client__enroll_checks_before_the_network),
		cmocka_unit_test(test_sync_client__no_server_is_enet_without_the_code),
		cmocka_unit_test(test_sync_client__503_retried_with_fresh_nonces_then_refusal_reported),
		cmocka_unit_test(test_sync_client__retries_exhausted_is_enet),
		cmocka_unit_test(test_sync_client__revoked_answer_keeps_a_store_with_unsent_work),
		cmocka_unit_test(test_sync_client__cancel_from_another_thread_stops_the_backoff),
	};
	if (veld_init() != VELD_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
