/* test_e2e_cluster.c - two `veld serve` processes on one PostgreSQL database
 * behind a load balancer (balancer.c: each connection to one of them, at
 * random). The office and three workers record and sync all along while a
 * thread kills a server now and then (SIGKILL, also in the middle of a
 * request) and the test starts it again. In the end every worker and the
 * office hold the same, nothing recorded is lost, the server holds each
 * operation once, and no request was answered 500. Then the same over
 * HTTPS, both servers with one certificate of a test CA the devices
 * enrolled with. And two servers starting at once on an empty database
 * make one office setup code between them.
 *
 * Runs only on PostgreSQL (ctest: the pg fixture). */
#define _XOPEN_SOURCE 700
#include "balancer.h"
#include "e2e.h"
#include "pgdb.h"

#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NDEV 3
#define STEPS 240

static uint64_t rng = 0x5EEDull;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* ---- the servers and the thread that kills them ------------------------------------ */

struct cluster {
	struct e2e_server srv[2];
	const char *extra[8];
	char conninfo[512];
	struct tbal *bal;
	int down[2];  /* killed, not started again yet (the killer sets it) */
	int stop;
	size_t kills;
	uint32_t seed;
	pthread_mutex_t mu;
};

/* Every 150-500 ms, while both servers run: kill one of them, at once
 * taken out of the balancer (a real one notices within seconds; until
 * then devices retry). The test thread starts it again. */
static void *killer(void *arg)
{
	struct cluster *c = arg;
	uint32_t r = c->seed;
	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		r = r * 1103515245u + 12345u;
		sleep_ms(150 + (long)((r >> 8) % 350));
		pthread_mutex_lock(&c->mu);
		if (!c->down[0] && !c->down[1]) {
			int k = (int)((r >> 20) & 1);
			tbal_set_up(c->bal, (size_t)k, 0);
			kill(c->srv[k].pid, SIGKILL);
			c->down[k] = 1;
			c->kills++;
		}
		pthread_mutex_unlock(&c->mu);
	}
	return NULL;
}

/* A killed server, started again on its port (test thread only). */
static void restart_killed(struct cluster *c)
{
	for (int k = 0; k < 2; k++) {
		int down;
		pthread_mutex_lock(&c->mu);
		down = c->down[k];
		pthread_mutex_unlock(&c->mu);
		if (!down)
			continue;
		waitpid(c->srv[k].pid, NULL, 0);
		c->srv[k].pid = 0;
		e2e_server_start_db(&c->srv[k], c->srv[k].dir, c->srv[k].port, c->conninfo, c->extra);
		pthread_mutex_lock(&c->mu);
		c->down[k] = 0;
		tbal_set_up(c->bal, (size_t)k, 1);
		pthread_mutex_unlock(&c->mu);
	}
}

/* Both servers on one database, the balancer in front. */
static void cluster_start(struct cluster *c, const char *tmp, const char *name,
                          const char *const *extra)
{
	char dir[600], key[600];
	uint16_t ports[2];
	memset(c, 0, sizeof *c);
	pthread_mutex_init(&c->mu, NULL);
	for (size_t i = 0; extra && extra[i] && i + 1 < sizeof c->extra / sizeof c->extra[0]; i++)
		c->extra[i] = extra[i];
	snprintf(key, sizeof key, "%s/%s", tmp, name);
	veld_test_pg_db(key, c->conninfo, sizeof c->conninfo);
	for (int k = 0; k < 2; k++) {
		snprintf(dir, sizeof dir, "%s/%s-server%d", tmp, name, k + 1);
		e2e_server_start_db(&c->srv[k], dir, 0, c->conninfo, c->extra);
		ports[k] = c->srv[k].port;
	}
	c->bal = tbal_start(ports, 2, 7);
	assert_non_null(c->bal);
}

static void cluster_stop(struct cluster *c)
{
	tbal_stop(c->bal);
	for (int k = 0; k < 2; k++)
		if (c->srv[k].pid > 0)
			e2e_server_stop(&c->srv[k], SIGTERM);
	pthread_mutex_destroy(&c->mu);
}

/* ---- what the devices do ----------------------------------------------------------- */

/* A random client id this store can see, or NULL. */
static char *pick(veld_store *s, const char *kind)
{
	char *out = NULL, *id = NULL;
	json_t *j;
	ok(veld_record_list(s, kind, NULL, NULL, &out));
	j = json_loads(out, 0, NULL);
	veld_free(out);
	if (json_array_size(j) > 0)
		id = strdup(json_string_value(json_object_get(
			json_array_get(j, rnd() % json_array_size(j)), "id")));
	json_decref(j);
	return id;
}

/* A sync that may meet a killed server: VELD_OK, or VELD_ENET once its
 * retries found no server (never anything else). */
static int sync_may_fail(veld_store *s)
{
	int rc = veld_sync(s, NULL, NULL);
	if (rc != VELD_OK && rc != VELD_ENET)
		fail_msg("sync -> %d: %s", rc, veld_error_last());
	return rc == VELD_OK;
}

static void random_step(veld_store *s, size_t *notes)
{
	char b[256], *c;
	switch (rnd() % 5) {
	case 0:
		if (e2e_count(s, "client") < 4) {
			snprintf(b, sizeof b, "{\"name\":\"Client %u\"}", rnd() % 1000);
			free(e2e_create(s, "client", b));
		}
		break;
	case 1:
		if (!(c = pick(s, "client")))
			break;
		snprintf(b, sizeof b, "{\"phone\":\"06%08u\"}", rnd() % 100000000);
		ok(veld_record_update(s, "client", c, b, NULL, NULL));
		free(c);
		break;
	case 2:
		if (!(c = pick(s, "client")))
			break;
		snprintf(b, sizeof b, "{\"client\":\"%s\",\"text\":\"note %u\"}", c, rnd());
		free(e2e_create(s, "note", b));
		(*notes)++;
		free(c);
		break;
	default:
		(void)sync_may_fail(s);
		break;
	}
}

/* ---- what the server holds ----------------------------------------------------------- */

/* No request was answered 500 by either server (their access logs). */
static void no_500(const struct cluster *c)
{
	for (int k = 0; k < 2; k++) {
		size_t n;
		uint8_t *log = e2e_slurp(c->srv[k].err, &n);
		if (log && e2e_contains(log, n, " 500 "))
			fail_msg("server %d answered 500 (see %s)", k + 1, c->srv[k].err);
		free(log);
	}
}

/* ---- the run ----------------------------------------------------------------------- */

/* The office and NDEV workers of one team through the balancer: record and
 * sync while servers die; then all converge. `ca` (or NULL) is the CA file
 * the stores enroll with. */
static void converge_through_kills(struct cluster *c, const char *tmp, const char *name,
                                   const char *ca)
{
	char parent[600], url[64], code[64], *out = NULL;
	veld_sync_options so = VELD_SYNC_OPTIONS_INIT;
	veld_store *dev[NDEV + 1];
	size_t notes = 0, synced = 0;
	pthread_t kt;
	char *want;
	snprintf(parent, sizeof parent, "%s/%s-stores", tmp, name);
	assert_int_equal(mkdir(parent, 0700), 0);
	snprintf(url, sizeof url, "%s://127.0.0.1:%u", ca ? "https" : "http", tbal_port(c->bal));
	so.ca_file = ca;
	/* The first server started first on the empty database: its code. */
	e2e_setup_code(&c->srv[0], code);
	dev[NDEV] = e2e_store(parent, "office", NULL, 1);
	ok(veld_enroll(dev[NDEV], url, code, "office", &so, &out));
	veld_free(out);
	for (int d = 0; d < NDEV; d++) {
		char n[16], *invite = NULL;
		snprintf(n, sizeof n, "worker%d", d);
		dev[d] = e2e_store(parent, n, "noord", 0);
		ok(veld_office_invite(dev[NDEV], "noord", 3600, NULL, &invite));
		ok(veld_enroll(dev[d], url, invite, n, &so, &out));
		veld_free(out);
		veld_free(invite);
	}
	e2e_sync(dev[NDEV]);

	c->seed = (uint32_t)rng;
	assert_int_equal(pthread_create(&kt, NULL, killer, c), 0);
	for (int step = 0; step < STEPS; step++) {
		int who = (int)(rnd() % (NDEV + 1));
		if (who == NDEV)
			synced += sync_may_fail(dev[NDEV]);
		else
			random_step(dev[who], &notes);
		if (step % 8 == 7)
			restart_killed(c);
	}
	__atomic_store_n(&c->stop, 1, __ATOMIC_RELEASE);
	pthread_join(kt, NULL);
	restart_killed(c);
	print_message("%s: %zu server kills, %zu notes, %zu office syncs through the kills;"
	              " connections dealt %zu / %zu\n", name, c->kills, notes, synced,
	              tbal_count(c->bal, 0), tbal_count(c->bal, 1));
	assert_true(c->kills >= 3);
	assert_true(tbal_count(c->bal, 0) > 0 && tbal_count(c->bal, 1) > 0);

	/* Both servers up: everyone syncs until nothing new can arrive. */
	for (int round = 0; round < 3; round++)
		for (int d = 0; d <= NDEV; d++)
			e2e_sync(dev[d]);
	want = e2e_state(dev[0]);
	for (int d = 1; d < NDEV; d++) {
		char *got = e2e_state(dev[d]);
		if (strcmp(want, got) != 0)
			fail_msg("%s: worker %d differs from worker 0", name, d);
		free(got);
	}
	free(want);
	assert_int_equal(e2e_count(dev[0], "note"), notes);
	assert_int_equal(e2e_count(dev[NDEV], "note"), notes);
	/* Each operation once on the server, and every one of each device. */
	assert_int_equal(veld_test_pg_int(c->conninfo, "SELECT count(*) - count(DISTINCT (device, seq))"
	                                        " FROM feed"), 0);
	assert_int_equal(veld_test_pg_int(c->conninfo, "SELECT count(*) FROM devices d WHERE d.last_seq"
	                                        " <> (SELECT count(*) FROM feed f"
	                                        " WHERE f.device = d.device)"), 0);
	no_500(c);
	for (int d = 0; d <= NDEV; d++) {
		ok(veld_store_verify(dev[d], &out));
		veld_free(out);
		veld_store_free(dev[d]);
	}
}

static void test_e2e_cluster__two_servers_killed_at_random_converge(void **state)
{
	char *tmp = e2e_tmpdir();
	struct cluster c;
	(void)state;
	cluster_start(&c, tmp, "http", NULL);
	converge_through_kills(&c, tmp, "http", NULL);
	cluster_stop(&c);
	e2e_rm_rf(tmp);
	free(tmp);
}

static void test_e2e_cluster__the_same_over_https(void **state)
{
	char *tmp = e2e_tmpdir(), certs[600], cmd[800], cert[700], key[700], ca[700];
	struct cluster c;
	(void)state;
	snprintf(certs, sizeof certs, "%s/certs", tmp);
	snprintf(cmd, sizeof cmd, "'%s' '%s'", VELD_MAKE_CERTS, certs);
	assert_int_equal(system(cmd), 0);
	snprintf(cert, sizeof cert, "%s/server.pem", certs);
	snprintf(key, sizeof key, "%s/server.key", certs);
	snprintf(ca, sizeof ca, "%s/ca.pem", certs);
	const char *const extra[] = {"--tls-cert", cert, "--tls-key", key, NULL};
	cluster_start(&c, tmp, "https", extra);
	assert_memory_equal(c.srv[0].url, "https://", 8);
	converge_through_kills(&c, tmp, "https", ca);
	{
		/* Through the balancer, a store that trusts another CA is
		 * refused at once, whichever server it meets. */
		char other[700], stores[700], *out = NULL, *invite = NULL, url[64];
		veld_sync_options so = VELD_SYNC_OPTIONS_INIT;
		veld_store *office, *s = e2e_store(tmp, "stranger", "noord", 0);
		snprintf(stores, sizeof stores, "%s/https-stores", tmp);
		office = e2e_reopen(stores, "office");
		ok(veld_office_invite(office, "noord", 3600, NULL, &invite));
		snprintf(other, sizeof other, "%s/other-ca.pem", certs);
		snprintf(url, sizeof url, "https://127.0.0.1:%u", tbal_port(c.bal));
		so.ca_file = other;
		for (int i = 0; i < 4; i++) {
			assert_int_equal(veld_enroll(s, url, invite, "x", &so, &out), VELD_EPERM);
			assert_non_null(strstr(veld_error_last(), "not trusted"));
		}
		veld_free(invite);
		veld_store_free(office);
		veld_store_free(s);
	}
	cluster_stop(&c);
	e2e_rm_rf(tmp);
	free(tmp);
}

/* `veld serve` started, not waited for; its output in DIR.out. */
static pid_t spawn_server(const char *dir, const char *conninfo)
{
	char outf[1300];
	pid_t pid;
	snprintf(outf, sizeof outf, "%s.out", dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(outf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* not left running by a failed test */
		dup2(fd, 1);
		dup2(fd, 2);
		execl(e2e_veld, e2e_veld, "serve", "--listen", "127.0.0.1:0", "--data", dir, "--db",
		      conninfo, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static int listening(const char *dir)
{
	char outf[1300];
	size_t n;
	uint8_t *b;
	int yes;
	snprintf(outf, sizeof outf, "%s.out", dir);
	b = e2e_slurp(outf, &n);
	yes = b && e2e_contains(b, n, "listening on");
	free(b);
	return yes;
}

static void test_e2e_cluster__servers_starting_at_once_make_one_setup_code(void **state)
{
	char *tmp = e2e_tmpdir(), conninfo[512], key[600], dir[2][600], path[1300];
	pid_t pid[2];
	int codes = 0;
	(void)state;
	for (int round = 0; round < 4; round++) {
		snprintf(key, sizeof key, "%s/race%d", tmp, round);
		veld_test_pg_db(key, conninfo, sizeof conninfo);
		for (int k = 0; k < 2; k++) {
			snprintf(dir[k], sizeof dir[k], "%s/race%d-server%d", tmp, round, k + 1);
			pid[k] = spawn_server(dir[k], conninfo);
		}
		for (int i = 0; i < 400 && !(listening(dir[0]) && listening(dir[1])); i++)
			sleep_ms(25);
		assert_true(listening(dir[0]) && listening(dir[1]));
		codes = 0;
		for (int k = 0; k < 2; k++) {
			snprintf(path, sizeof path, "%s/setup-code", dir[k]);
			codes += access(path, F_OK) == 0;
			kill(pid[k], SIGTERM);
			waitpid(pid[k], NULL, 0);
		}
		assert_int_equal(codes, 1);
		assert_int_equal(veld_test_pg_int(conninfo, "SELECT count(*) FROM invites"
		                                     " WHERE role = 'office'"), 1);
	}
	e2e_rm_rf(tmp);
	free(tmp);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_e2e_cluster__servers_starting_at_once_make_one_setup_code),
		cmocka_unit_test(test_e2e_cluster__two_servers_killed_at_random_converge),
		cmocka_unit_test(test_e2e_cluster__the_same_over_https),
	};
	if (argc < 2) {
		fprintf(stderr, "usage: %s PATH_TO_VELD\n", argv[0]);
		return 2;
	}
	e2e_veld = argv[1];
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
