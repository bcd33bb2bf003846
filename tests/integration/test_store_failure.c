/* test_store_failure.c - when the server's store fails (a full disk), the
 * request is answered 500 and the access log says why, in a fixed class
 * that holds nothing of the request.
 *
 * The disk is made full honestly, without a hook in the server: the test
 * process (the server runs in it) gets a file size limit of 0 bytes
 * (RLIMIT_FSIZE) with SIGXFSZ ignored, so every write that would grow a file
 * fails with EFBIG, as writes fail with ENOSPC on a full disk. SQLite reports
 * EFBIG as an I/O error on write (SQLITE_IOERR_WRITE; ENOSPC would be
 * SQLITE_FULL, "disk full"). Reads go on working, as on a full disk. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth.h"
#include "veld_server.h"
#include "wire.h"

#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MAX_LOG_LINES 64
#define LABEL "tablet of Anna de Vries"

struct fx {
	char dir[256], data[300];
	veld_server *srv;
	uint16_t port;
	char code[VELD_CODE_TEXT_MAX];
	pthread_mutex_t log_mu;
	char *log[MAX_LOG_LINES];
	size_t nlog;
};

static void on_log(const char *line, void *payload)
{
	struct fx *f = payload;
	pthread_mutex_lock(&f->log_mu);
	if (f->nlog < MAX_LOG_LINES)
		f->log[f->nlog++] = strdup(line);
	pthread_mutex_unlock(&f->log_mu);
}

/* The first log line that starts with `prefix`, waiting up to 2 s (a line
 * is written once the answer has gone out, which may be after the client
 * read it); NULL if none. */
static const char *log_find(struct fx *f, const char *prefix)
{
	for (int i = 0; i < 200; i++) {
		const char *hit = NULL;
		pthread_mutex_lock(&f->log_mu);
		for (size_t k = 0; k < f->nlog && !hit; k++)
			if (strncmp(f->log[k], prefix, strlen(prefix)) == 0)
				hit = f->log[k];
		pthread_mutex_unlock(&f->log_mu);
		if (hit)
			return hit;
		usleep(10000);
	}
	return NULL;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	msgpack_sbuffer *b = ud;
	msgpack_sbuffer_write(b, p, size * n);
	return size * n;
}

/* POST a signed body; the status, and the answer in `resp`. */
static long post(struct fx *f, const char *path, const uint8_t id[16], const uint8_t sk[64],
                 const msgpack_sbuffer *body, msgpack_sbuffer *resp)
{
	struct veld__auth_headers h;
	struct curl_slist *hl = NULL;
	char url[128], hv[4][200];
	long status = 0;
	CURL *c = curl_easy_init();
	assert_non_null(c);
	veld__auth_sign(&h, id, sk, "POST", path, (const uint8_t *)body->data, body->size);
	snprintf(url, sizeof url, "http://127.0.0.1:%u%s", f->port, path);
	snprintf(hv[0], sizeof hv[0], "Veld-Device: %s", h.device);
	snprintf(hv[1], sizeof hv[1], "Veld-Time: %s", h.time);
	snprintf(hv[2], sizeof hv[2], "Veld-Nonce: %s", h.nonce);
	snprintf(hv[3], sizeof hv[3], "Veld-Signature: %s", h.signature);
	hl = curl_slist_append(hl, "Content-Type: " VELD_CONTENT_TYPE);
	hl = curl_slist_append(hl, "Expect:");
	for (int i = 0; i < 4; i++)
		hl = curl_slist_append(hl, hv[i]);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->data);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->size);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	return status;
}

/* The office's enrollment with the setup code: the simplest request that
 * writes to the store. */
static long enroll_office(struct fx *f, const uint8_t id[16], const uint8_t pk[32],
                          const uint8_t sk[64], const uint8_t box_pk[32], char *error,
                          size_t cap)
{
	struct veld__enroll_req m;
	msgpack_sbuffer body, resp;
	uint8_t code[VELD_CODE_BYTES];
	long status;
	memset(&m, 0, sizeof m);
	assert_int_equal(veld__code_parse(f->code, code), 0);
	veld__code_auth(m.auth, code);
	memcpy(m.device, id, 16);
	memcpy(m.sign_pk, pk, 32);
	memcpy(m.box_pk, box_pk, 32);
	snprintf(m.label, sizeof m.label, "%s", LABEL);
	msgpack_sbuffer_init(&body);
	msgpack_sbuffer_init(&resp);
	assert_int_equal(veld__wire_enroll_req_encode(&body, &m), VELD_OK);
	status = post(f, "/v1/enroll", id, sk, &body, &resp);
	error[0] = 0;
	if (status != 200) {
		struct veld__error_resp e;
		struct veld__wire w;
		memset(&w, 0, sizeof w);
		if (veld__wire_error_decode(&w, (const uint8_t *)resp.data, resp.size, &e) == VELD_OK)
			snprintf(error, cap, "%s", e.error);
		veld__wire_free(&w);
	}
	msgpack_sbuffer_destroy(&body);
	msgpack_sbuffer_destroy(&resp);
	return status;
}

static void test_store_failure__full_disk_answers_500_and_logs_the_cause(void **state)
{
	struct fx f;
	veld_server_options o;
	struct rlimit old, none;
	uint8_t id[16], pk[32], sk[64], box_pk[32], box_sk[32];
	char error[64], hex[65], cmd[600];
	long status;
	const char *line;
	(void)state;

	memset(&f, 0, sizeof f);
	pthread_mutex_init(&f.log_mu, NULL);
	snprintf(f.dir, sizeof f.dir, "/tmp/veld-storefail-XXXXXX");
	assert_non_null(mkdtemp(f.dir));
	snprintf(f.data, sizeof f.data, "%s/data", f.dir);
	veld_server_options_init(&o);
	o.listen = "127.0.0.1:0";
	o.data_dir = f.data;
	o.log = on_log;
	o.log_payload = &f;
	if (veld_server_start(&f.srv, &o) != VELD_OK)
		fail_msg("veld_server_start: %s", veld_error_last());
	f.port = veld_server_port(f.srv);
	snprintf(f.code, sizeof f.code, "%s", veld_server_setup_code(f.srv));
	randombytes_buf(id, sizeof id);
	crypto_sign_keypair(pk, sk);
	crypto_box_keypair(box_pk, box_sk);

	/* The disk is full: no file may grow. */
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	none = old;
	none.rlim_cur = 0;
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &none), 0);
	status = enroll_office(&f, id, pk, sk, box_pk, error, sizeof error);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);

	assert_int_equal(status, 500);
	assert_string_equal(error, "internal");
	/* The log line: the endpoint, the status, the device's prefix, and the
	 * cause as its last field. */
	line = log_find(&f, "POST /v1/enroll 500 ");
	if (!line)
		fail_msg("no log line for the 500");
	printf("# %s\n", line);
	if (!strstr(line, " store: I/O error (SQLITE_IOERR") && !strstr(line, " store: disk full ("))
		fail_msg("the log line does not name the store's failure: %s", line);
	/* Nothing of the request or of the store's message: the code, the
	 * label, the keys, the whole device id, the step that failed. */
	sodium_bin2hex(hex, sizeof hex, id, sizeof id);
	assert_null(strstr(line, hex));
	hex[8] = 0;
	assert_non_null(strstr(line, hex)); /* its first 8 digits only */
	assert_null(strstr(line, f.code));
	assert_null(strstr(line, LABEL));
	assert_null(strstr(line, "Anna"));
	sodium_bin2hex(hex, sizeof hex, pk, sizeof pk);
	assert_null(strstr(line, hex));
	assert_null(strstr(line, "committing"));
	assert_null(strchr(line, '\n'));

	/* Space again: the same enrollment goes through, so the failed one
	 * stored nothing (the code was not used up) and the server stayed up. */
	status = enroll_office(&f, id, pk, sk, box_pk, error, sizeof error);
	assert_int_equal(status, 200);
	assert_non_null(log_find(&f, "POST /v1/enroll 200 "));

	veld_server_stop(f.srv);
	for (size_t i = 0; i < f.nlog; i++)
		free(f.log[i]);
	pthread_mutex_destroy(&f.log_mu);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", f.dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store_failure__full_disk_answers_500_and_logs_the_cause),
	};
	int rc;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
