/* test_e2e_tls.c - devices and the office over HTTPS to the real `veld serve`
 * with its own certificate, made with a test CA by tests/tls/make_certs.sh
 * (openssl) in a temporary directory: what a store enrolls with (a CA, a
 * pin) it keeps and every later sync uses; a CA or a pin that does not fit
 * stops the call at once with a clear VELD_EPERM; `veld serve` refuses plain
 * HTTP off loopback and a key others can read. */
#define _XOPEN_SOURCE 700
#include "e2e.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *tmp;
static char certs[300];
static struct e2e_server srv;
static veld_store *office;

static void cert_path(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", certs, name);
}

static char *cert_text(const char *name)
{
	char path[400];
	size_t n;
	uint8_t *b;
	cert_path(path, sizeof path, name);
	b = e2e_slurp(path, &n);
	assert_non_null(b);
	return (char *)b;
}

/* `veld serve` with the certificate and key `name`.pem, `name`.key. */
static void serve_with(const char *name, uint16_t port)
{
	char cert[400], key[400], file[64];
	snprintf(file, sizeof file, "%s.pem", name);
	cert_path(cert, sizeof cert, file);
	snprintf(file, sizeof file, "%s.key", name);
	cert_path(key, sizeof key, file);
	const char *const extra[] = {"--tls-cert", cert, "--tls-key", key, NULL};
	char data[400];
	snprintf(data, sizeof data, "%s/server", tmp);
	e2e_server_start_with(&srv, data, port, extra);
	assert_memory_equal(srv.url, "https://", 8);
}

static int group_setup(void **state)
{
	char cmd[700];
	(void)state;
	tmp = e2e_tmpdir();
	snprintf(certs, sizeof certs, "%s/certs", tmp);
	snprintf(cmd, sizeof cmd, "'%s' '%s'", VELD_MAKE_CERTS, certs);
	assert_int_equal(system(cmd), 0);
	serve_with("server", 0);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	veld_store_free(office);
	e2e_server_stop(&srv, SIGTERM);
	e2e_rm_rf(tmp);
	free(tmp);
	return 0;
}

/* Options trusting the CA file `name`; `path` (400 bytes) holds its path. */
static veld_sync_options with_ca_file(const char *name, char *path)
{
	veld_sync_options o = VELD_SYNC_OPTIONS_INIT;
	cert_path(path, 400, name);
	o.ca_file = path;
	return o;
}

static void sync_fails(veld_store *s, const veld_sync_options *o, const char *why)
{
	int rc = veld_sync(s, o, NULL);
	if (rc != VELD_EPERM)
		fail_msg("sync -> %d (%s), expected VELD_EPERM", rc, veld_error_last());
	if (strstr(veld_error_last(), why) == NULL)
		fail_msg("message '%s' does not say '%s'", veld_error_last(), why);
	/* Refused at once: not as the end of retries. */
	assert_null(strstr(veld_error_last(), "gave up"));
}

static void test_e2e_tls__enrolled_with_a_ca_syncs_over_https(void **state)
{
	char code[64], *out = NULL, *invite = NULL, *pin = cert_text("server.pin"),
		*ca = cert_text("ca.pem");
	char path[400];
	veld_sync_options o = with_ca_file("ca.pem", path);
	(void)state;
	office = e2e_store(tmp, "office", NULL, 1);
	e2e_setup_code(&srv, code);
	ok(veld_enroll(office, srv.url, code, "office", &o, &out));
	veld_free(out);
	/* The office's later calls trust the kept CA, given nothing. */
	ok(veld_office_invite(office, "team-a", 3600, NULL, &invite));

	/* An app hands the CA and the pin in as text. */
	veld_store *dev = e2e_store(tmp, "anna", "team-a", 0);
	veld_sync_options d = VELD_SYNC_OPTIONS_INIT;
	d.ca_pem = ca;
	d.pinned_key = pin;
	ok(veld_enroll(dev, srv.url, invite, "anna", &d, &out));
	veld_free(out);
	e2e_sync(office); /* certifies anna */
	free(e2e_create(dev, "client", "{\"name\":\"Client One\",\"contact_person\":\"anna\"}"));
	e2e_sync(dev);
	e2e_sync(office);
	assert_int_equal(e2e_count(office, "client"), 1);
	veld_free(invite);
	veld_store_free(dev);
	free(pin);
	free(ca);
}

static void test_e2e_tls__wrong_ca_refused_at_once(void **state)
{
	char *invite = NULL, *out = NULL;
	char bad_path[400], good_path[400];
	veld_sync_options bad = with_ca_file("other-ca.pem", bad_path);
	int rc;
	(void)state;
	bad.max_retries = 5;
	ok(veld_office_invite(office, "team-a", 3600, NULL, &invite));
	veld_store *dev = e2e_store(tmp, "bert", "team-a", 0);
	rc = veld_enroll(dev, srv.url, invite, "bert", &bad, &out);
	assert_int_equal(rc, VELD_EPERM);
	assert_non_null(strstr(veld_error_last(), "TLS certificate is not trusted"));
	assert_null(strstr(veld_error_last(), "gave up"));
	/* Nothing kept: not enrolled, and the code is not used up (the
	 * request never reached the server). */
	assert_int_equal(veld_sync(dev, NULL, NULL), VELD_ENOTFOUND);
	veld_sync_options good = with_ca_file("ca.pem", good_path);
	ok(veld_enroll(dev, srv.url, invite, "bert", &good, &out));
	veld_free(out);
	e2e_sync(dev);
	/* A call's own CA replaces the kept one, for that call. */
	sync_fails(office, &bad, "TLS certificate is not trusted");
	/* The system's CAs do not know the test CA either. */
	veld_store *none = e2e_store(tmp, "nobody", "team-a", 0);
	veld_free(invite);
	ok(veld_office_invite(office, "team-a", 3600, NULL, &invite));
	assert_int_equal(veld_enroll(none, srv.url, invite, "nobody", NULL, &out), VELD_EPERM);
	veld_free(invite);
	veld_store_free(none);
	veld_store_free(dev);
}

static void test_e2e_tls__wrong_pin_refused_right_pin_works(void **state)
{
	char *invite = NULL, *out = NULL, *pin = cert_text("server.pin"),
		*pin2 = cert_text("server2.pin"), both[200], path[400];
	veld_sync_options o = with_ca_file("ca.pem", path);
	(void)state;
	ok(veld_office_invite(office, "team-a", 3600, NULL, &invite));
	veld_store *dev = e2e_store(tmp, "cora", "team-a", 0);
	o.pinned_key = pin2;
	assert_int_equal(veld_enroll(dev, srv.url, invite, "cora", &o, &out), VELD_EPERM);
	assert_non_null(strstr(veld_error_last(), "does not match the key pinned"));
	assert_int_equal(veld_sync(dev, NULL, NULL), VELD_ENOTFOUND);
	o.pinned_key = "sha256//not-a-pin";
	assert_int_equal(veld_enroll(dev, srv.url, invite, "cora", &o, &out), VELD_EINVAL);
	o.pinned_key = pin;
	ok(veld_enroll(dev, srv.url, invite, "cora", &o, &out));
	veld_free(out);
	e2e_sync(dev);
	/* A call's own pin replaces the kept one; a list passes if one fits. */
	veld_sync_options p = VELD_SYNC_OPTIONS_INIT;
	p.pinned_key = pin2;
	sync_fails(dev, &p, "does not match the key pinned");
	snprintf(both, sizeof both, "%s;%s", pin2, pin);
	p.pinned_key = both;
	ok(veld_sync(dev, &p, NULL));
	veld_free(invite);
	veld_store_free(dev);
	free(pin);
	free(pin2);
}

/* The server comes back with another key (same CA): the kept CA still
 * trusts it, the kept pin does not; then with another CA's certificate. */
static void test_e2e_tls__kept_trust_applies_after_the_server_changes(void **state)
{
	char *pin2 = cert_text("server2.pin");
	uint16_t port = srv.port;
	(void)state;
	veld_store *cora = e2e_reopen(tmp, "cora"), *anna = e2e_reopen(tmp, "anna");
	e2e_server_stop(&srv, SIGTERM);
	serve_with("server2", port);
	e2e_sync(office);
	sync_fails(cora, NULL, "does not match the key pinned");
	sync_fails(anna, NULL, "does not match the key pinned");
	veld_sync_options p = VELD_SYNC_OPTIONS_INIT;
	p.pinned_key = pin2;
	ok(veld_sync(cora, &p, NULL));

	e2e_server_stop(&srv, SIGTERM);
	serve_with("foreign", port);
	sync_fails(office, NULL, "TLS certificate is not trusted");
	e2e_server_stop(&srv, SIGTERM);
	serve_with("server", port);
	e2e_sync(office);
	e2e_sync(anna);
	veld_store_free(cora);
	veld_store_free(anna);
	free(pin2);
}

/* `veld serve` with `args`; its exit status (fails if it keeps running)
 * and its standard error in `err`. */
static int serve_exit(const char *const *args, char *err, size_t cap)
{
	char errfile[400];
	const char *argv[12] = {e2e_veld, "serve"};
	size_t n = 2;
	int status = 0;
	pid_t pid;
	for (size_t i = 0; args[i] != NULL && n < 11; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	snprintf(errfile, sizeof errfile, "%s/serve.err", tmp);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (freopen(errfile, "w", stderr) == NULL || freopen("/dev/null", "w", stdout) == NULL)
			_exit(126);
		execv(e2e_veld, (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < 400 && waitpid(pid, &status, WNOHANG) == 0; i++) {
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
		if (i == 399) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fail_msg("veld serve %s kept running", args[0]);
		}
	}
	size_t len;
	uint8_t *b = e2e_slurp(errfile, &len);
	snprintf(err, cap, "%s", b ? (char *)b : "");
	free(b);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_e2e_tls__serve_refuses_plain_http_off_loopback_and_an_open_key(void **state)
{
	char data[400], cert[400], key[400], open_key[400], err[1024];
	(void)state;
	snprintf(data, sizeof data, "%s/refused", tmp);
	cert_path(cert, sizeof cert, "server.pem");
	cert_path(key, sizeof key, "server.key");
	cert_path(open_key, sizeof open_key, "open.key");
	{
		char cmd[1300];
		snprintf(cmd, sizeof cmd, "cp '%s' '%s' && chmod 644 '%s'", key, open_key, open_key);
		assert_int_equal(system(cmd), 0);
	}
	const char *const plain[] = {"--listen", "0.0.0.0:0", "--data", data, NULL};
	assert_int_equal(serve_exit(plain, err, sizeof err), 2);
	assert_non_null(strstr(err, "refusing plain HTTP on 0.0.0.0"));
	const char *const open[] = {"--listen", "127.0.0.1:0", "--data", data, "--tls-cert", cert,
	                            "--tls-key", open_key, NULL};
	assert_int_equal(serve_exit(open, err, sizeof err), 2);
	assert_non_null(strstr(err, "readable by others"));
	const char *const half[] = {"--data", data, "--tls-cert", cert, NULL};
	assert_int_equal(serve_exit(half, err, sizeof err), 2);
	assert_non_null(strstr(err, "--tls-cert and --tls-key go together"));
	/* An empty --db (an unset variable) is no silent SQLite. */
	const char *const empty_db[] = {"--data", data, "--db", "", NULL};
	assert_int_equal(serve_exit(empty_db, err, sizeof err), 2);
	assert_non_null(strstr(err, "--db is empty"));
	/* None of them touched the data directory. */
	struct stat st;
	assert_int_not_equal(stat(data, &st), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_e2e_tls__enrolled_with_a_ca_syncs_over_https),
		cmocka_unit_test(test_e2e_tls__wrong_ca_refused_at_once),
		cmocka_unit_test(test_e2e_tls__wrong_pin_refused_right_pin_works),
		cmocka_unit_test(test_e2e_tls__kept_trust_applies_after_the_server_changes),
		cmocka_unit_test(test_e2e_tls__serve_refuses_plain_http_off_loopback_and_an_open_key),
	};
	if (argc < 2) {
		fprintf(stderr, "usage: %s PATH_TO_VELD\n", argv[0]);
		return 2;
	}
	e2e_veld = argv[1];
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
