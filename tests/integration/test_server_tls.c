/* test_server_tls.c - the server's own TLS (veld_server_options version 3)
 * and its rule for plain HTTP, in-process on 127.0.0.1, with a test CA
 * and certificates that tests/tls/make_certs.sh makes fresh in a temporary
 * directory (openssl). Spoken to with libcurl, which verifies as a device
 * does. Run as test_server_tls_pg, the server keeps its state in
 * PostgreSQL (pgdb.h): a start refused must not touch that database
 * either. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "pgdb.h"
#include "veld_server.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct fx {
	char dir[64];     /* the certificates */
	char data[128];   /* the server's data directory (absent until a start) */
	char db[512];     /* its PostgreSQL database in a _pg run, else "" */
	char *cert, *key, *other_key;
	veld_server *srv;
};

static char *slurp(const char *dir, const char *name)
{
	char path[256];
	FILE *f;
	char *b;
	long n;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = calloc(1, (size_t)n + 1);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return b;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	char cmd[256];
	assert_non_null(f);
	snprintf(f->dir, sizeof f->dir, "/tmp/veld-tls-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(cmd, sizeof cmd, "'%s' '%s'", VELD_MAKE_CERTS, f->dir);
	assert_int_equal(system(cmd), 0);
	snprintf(f->data, sizeof f->data, "%s/data", f->dir);
	if (veld_test_pg())
		veld_test_pg_db(f->data, f->db, sizeof f->db);
	f->cert = slurp(f->dir, "server.pem");
	f->key = slurp(f->dir, "server.key");
	f->other_key = slurp(f->dir, "server2.key");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];
	veld_server_stop(f->srv);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	veld_test_pg_drop_under(f->dir);
	free(f->cert);
	free(f->key);
	free(f->other_key);
	free(f);
	return 0;
}

static void options(struct fx *f, veld_server_options *o, const char *listen)
{
	veld_server_options_init(o);
	o->listen = listen;
	o->data_dir = f->data;
	o->threads = 2;
	o->database = f->db[0] ? f->db : NULL;
}

static int data_dir_exists(const struct fx *f)
{
	struct stat st;
	return stat(f->data, &st) == 0;
}

/* Tables in the server's PostgreSQL database; 0 on SQLite, whose database
 * lives in the data directory. */
static long long db_tables(const struct fx *f)
{
	if (!f->db[0])
		return 0;
	return veld_test_pg_int(f->db, "SELECT count(*) FROM pg_tables"
	                               " WHERE schemaname = current_schema()");
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

/* GET /v1/health with libcurl; the status, or -(CURLcode) when no answer
 * came. `ca` is a file of the certificate directory, or NULL. */
static long health(const struct fx *f, const char *scheme, const char *ca)
{
	char url[96], path[256];
	CURL *c = curl_easy_init();
	long status = 0;
	CURLcode cc;
	assert_non_null(c);
	snprintf(url, sizeof url, "%s://127.0.0.1:%u/v1/health", scheme,
	         (unsigned)veld_server_port(f->srv));
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	if (ca != NULL) {
		snprintf(path, sizeof path, "%s/%s", f->dir, ca);
		curl_easy_setopt(c, CURLOPT_CAINFO, path);
		curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
	}
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	return cc == CURLE_OK ? status : -(long)cc;
}

static void test_server_tls__https_verified_by_the_test_ca(void **state)
{
	struct fx *f = *state;
	veld_server_options o;
	options(f, &o, "127.0.0.1:0");
	o.tls_cert_pem = f->cert;
	o.tls_key_pem = f->key;
	if (veld_server_start(&f->srv, &o) != VELD_OK)
		fail_msg("veld_server_start: %s", veld_error_last());
	assert_int_equal(health(f, "https", "ca.pem"), 200);
	/* Another CA does not vouch for it; plain HTTP gets no answer. */
	assert_int_equal(health(f, "https", "other-ca.pem"), -(long)CURLE_PEER_FAILED_VERIFICATION);
	assert_true(health(f, "http", NULL) < 0);
}

static void test_server_tls__plain_http_off_loopback_refused(void **state)
{
	struct fx *f = *state;
	static const char *const addrs[] = {"0.0.0.0:0", "[::]:0", "192.0.2.1:0"};
	veld_server_options o;
	for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
		options(f, &o, addrs[i]);
		assert_int_equal(veld_server_start(&f->srv, &o), VELD_EINVAL);
		assert_non_null(strstr(veld_error_last(), "not a loopback address"));
		/* A caller of version 2 has no way around it. */
		o.version = 2;
		o.insecure_http = 1;
		assert_int_equal(veld_server_start(&f->srv, &o), VELD_EINVAL);
	}
	assert_null(f->srv);
	assert_false(data_dir_exists(f));
	assert_int_equal(db_tables(f), 0);
	/* Loopback stays allowed: all of 127.0.0.0/8. */
	options(f, &o, "127.0.0.2:0");
	assert_int_equal(veld_server_start(&f->srv, &o), VELD_OK);
	veld_server_stop(f->srv);
	options(f, &o, "127.0.0.1:0");
	assert_int_equal(veld_server_start(&f->srv, &o), VELD_OK);
	assert_int_equal(health(f, "http", NULL), 200);
	if (f->db[0]) /* (so db_tables sees a start that wrote) */
		assert_true(db_tables(f) > 0);
}

static void test_server_tls__bad_pair_refused_before_anything_is_written(void **state)
{
	struct fx *f = *state;
	veld_server_options o;
	options(f, &o, "127.0.0.1:0");
	o.tls_cert_pem = f->cert;
	o.tls_key_pem = f->other_key;
	assert_int_equal(veld_server_start(&f->srv, &o), VELD_EINVAL);
	assert_non_null(strstr(veld_error_last(), "do not match"));
	o.tls_key_pem = "not a key";
	assert_int_equal(veld_server_start(&f->srv, &o), VELD_EINVAL);
	assert_non_null(strstr(veld_error_last(), "TLS: the certificate and key do not load"));
	o.tls_key_pem = NULL;
	assert_int_equal(veld_server_start(&f->srv, &o), VELD_EINVAL);
	assert_non_null(strstr(veld_error_last(), "both a certificate and its key"));
	assert_null(f->srv);
	/* No data directory, so no setup code used up by a start that failed. */
	assert_false(data_dir_exists(f));
	assert_int_equal(db_tables(f), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_server_tls__https_verified_by_the_test_ca, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_server_tls__plain_http_off_loopback_refused, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(
			test_server_tls__bad_pair_refused_before_anything_is_written, setup, teardown),
	};
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
