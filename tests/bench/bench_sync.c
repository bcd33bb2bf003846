/* bench_sync - sync throughput on loopback (a program, not a test).
 *
 * Starts `veld serve` as its own process on 127.0.0.1 (so the figures below
 * are the client's alone), makes an office and two devices of one team,
 * records N operations on the first device, then prints:
 *   push rate        ops/s for the first device's sync (push only: nothing to pull yet;
 *                    the sync also sends the device's access log, one entry per visit,
 *                    sealed to the office and signed, and the figure includes that)
 *   pull+apply rate  ops/s for the second device's first sync
 *   no-change sync   ms for a sync with nothing new (median of 21)
 *   client peak RSS  of this process (getrusage), which holds both devices
 *
 * usage: bench_sync [--veld PATH] [--ops N]   (defaults: ./build/veld, 100000)
 * Targets (issue): push >= 20,000 ops/s, pull+apply >= 50,000 ops/s,
 * no-change sync < 20 ms, client RSS < 64 MiB.
 *
 * With --history N the program measures instead what a sync costs against a
 * long history: a server holding about N operations, half written by worker
 * A (team noord, 40 clients), half by worker C (team zuid); worker B (noord)
 * and the office hold all they may see. Then, per round, A records 10
 * operations (a client's name, address and phone, one visit) and A, B and
 * the office each sync once; the program prints each sync's median time of
 * the rounds and its bytes up and down (headers and bodies):
 *   bench_sync --history N [--keep DIR] [--rounds R]   (default 21 rounds)
 * --keep DIR keeps the filled stores and server directory in DIR (and takes
 * them from there when DIR holds them already: the server then listens on
 * the port it had when DIR was filled). Target (issue 10): each of the
 * three syncs within 2x between N = 10,000 and N = 1,000,000.
 *
 * With --devices N, N devices of one team (and the office) sync at once:
 * each, in a thread of its own, records a visit (7 operations) and syncs,
 * R times (default 21); the program prints the operations pushed and
 * applied per second of the whole run, each sync's p50 and p99, the
 * server's time for each push, pull and access-log push (p50, p99, from
 * its log lines) and the server's peak RSS:
 *   bench_sync --devices N [--rounds R]
 *
 * --db CONNINFO (any mode) runs the server on that PostgreSQL database
 * instead of SQLite; it must be empty, or hold what --keep filled. With
 * --servers 2 (--devices only) two `veld serve` processes share it and the
 * devices are dealt between them, as a round-robin balancer would.
 * tests/bench/bench_pg.sh makes a throwaway cluster and runs them all.
 */
#define _XOPEN_SOURCE 700
#include "veld.h"
#include "veld_sync.h"

#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PASS "benchmark passphrase"

/* --db: the PostgreSQL database of every server started (NULL: SQLite). */
static const char *g_db;
/* The servers started, stopped by die() too. */
static pid_t g_servers[4];

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench_sync: %s failed (%d): %s\n", what, rc, veld_error_last());
	for (size_t i = 0; i < sizeof g_servers / sizeof g_servers[0]; i++)
		if (g_servers[i] > 0)
			kill(g_servers[i], SIGTERM);
	exit(1);
}
#define CHECK(call) do { int rc_ = (call); if (rc_ != VELD_OK) die(#call, rc_); } while (0)

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rm_one(const char *p, const struct stat *sb, int f, struct FTW *w)
{
	(void)sb; (void)f; (void)w;
	return remove(p);
}

static veld_store *mkstore(const char *tmp, const char *name, const char *team, int office)
{
	char dir[512];
	veld_store *s = NULL;
	veld_store_options o = VELD_STORE_OPTIONS_INIT;
	o.kdf_opslimit = VELD_KDF_OPSLIMIT_MIN;
	o.kdf_memlimit = VELD_KDF_MEMLIMIT_MIN;
	o.user = name;
	o.team = team;
	snprintf(dir, sizeof dir, "%s/%s", tmp, name);
	if (office)
		CHECK(veld_office_create(&s, dir, PASS, strlen(PASS), &o));
	else
		CHECK(veld_store_create(&s, dir, PASS, strlen(PASS), &o));
	return s;
}

static uint64_t json_u(const char *json, const char *key)
{
	json_t *j = json_loads(json, 0, NULL);
	uint64_t v = (uint64_t)json_integer_value(json_object_get(j, key));
	json_decref(j);
	return v;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* ---- --history: a sync's cost against a long history ----------------------------- */

struct server {
	pid_t pid;
	char url[64], code[64];
};

/* `veld serve --data data --listen listen`; its output goes to data.out. */
static void server_start(struct server *sv, const char *veld, const char *data, const char *listen)
{
	char outf[700];
	snprintf(outf, sizeof outf, "%s.out", data);
	sv->url[0] = 0;
	sv->pid = fork();
	if (sv->pid == 0) {
		int fd = open(outf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 1);
		dup2(fd, 2);
		/* Every device of the benchmark connects from 127.0.0.1, as
		 * behind a proxy (docs/operations.md, "Limits"). */
		if (g_db)
			execl(veld, veld, "serve", "--listen", listen, "--data", data,
			      "--max-per-address", "256", "--db", g_db, (char *)NULL);
		else
			execl(veld, veld, "serve", "--listen", listen, "--data", data,
			      "--max-per-address", "256", (char *)NULL);
		_exit(127);
	}
	for (size_t i = 0; i < sizeof g_servers / sizeof g_servers[0]; i++)
		if (g_servers[i] <= 0 && (g_servers[i] = sv->pid) > 0)
			break;
	for (int i = 0; i < 400 && !sv->url[0]; i++) {
		FILE *f = fopen(outf, "r");
		char line[512];
		while (f && fgets(line, sizeof line, f)) {
			char *p = strstr(line, "http://127.0.0.1:");
			if (p)
				snprintf(sv->url, sizeof sv->url, "%.*s", (int)strcspn(p, " \n("), p);
		}
		if (f)
			fclose(f);
		usleep(25000);
	}
	if (!sv->url[0]) {
		fprintf(stderr, "bench_sync: %s serve did not start (see %s)\n", veld, outf);
		kill(sv->pid, SIGKILL);
		exit(1);
	}
}

static void server_stop(struct server *sv)
{
	kill(sv->pid, SIGTERM);
	waitpid(sv->pid, NULL, 0);
}

static void read_line(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	if (!f || !fgets(buf, (int)cap, f))
		die(path, -1);
	fclose(f);
	buf[strcspn(buf, "\r\n")] = 0;
}

static void write_line(const char *path, const char *line)
{
	FILE *f = fopen(path, "w");
	if (!f || fprintf(f, "%s\n", line) < 0 || fclose(f) != 0)
		die(path, -1);
}

static veld_store *openstore(const char *tmp, const char *name)
{
	char dir[512];
	veld_store *s = NULL;
	snprintf(dir, sizeof dir, "%s/%s", tmp, name);
	CHECK(veld_store_open(&s, dir, PASS, strlen(PASS), NULL));
	return s;
}

static void sync_quiet(veld_store *s)
{
	char *out = NULL;
	CHECK(veld_sync(s, NULL, &out));
	veld_free(out);
}

static void enroll_worker(veld_store *office, veld_store *w, const char *url, const char *team,
                          const char *name)
{
	char *icode = NULL, *out = NULL;
	CHECK(veld_office_invite(office, team, 3600, NULL, &icode));
	CHECK(veld_enroll(w, url, icode, name, NULL, &out));
	veld_free(out);
	veld_free(icode);
}

#define NCLIENTS 40

/* 40 clients and then visits to them, about nops operations in all. */
static void record_history(veld_store *s, long nops, char ids[NCLIENTS][33])
{
	char fields[512], *out = NULL;
	long done = 0;
	CHECK(veld_store_begin(s));
	for (int i = 0; i < NCLIENTS; i++) {
		json_t *j;
		snprintf(fields, sizeof fields, "{\"name\":\"Client %d\",\"address\":\"Straat %d\","
		         "\"phone\":\"06-%08d\"}", i, i, i);
		CHECK(veld_record_create(s, "client", fields, NULL, &out));
		j = json_loads(out, 0, NULL);
		snprintf(ids[i], 33, "%s", json_string_value(json_object_get(j, "id")));
		json_decref(j);
		veld_free(out);
		done += 4; /* name, address, phone, contact_person */
	}
	for (long v = 0; done < nops; v++, done += 7) {
		snprintf(fields, sizeof fields,
		         "{\"client\":\"%s\",\"kind\":\"home_visit\",\"planned\":\"2026-11-22T09:00Z\","
		         "\"started\":\"2026-11-22T09:05Z\",\"ended\":\"2026-11-22T09:50Z\","
		         "\"actions\":\"x\"}", ids[v % NCLIENTS]);
		CHECK(veld_record_create(s, "visit", fields, NULL, NULL));
		if (v % 20000 == 19999) {
			CHECK(veld_store_commit(s));
			CHECK(veld_store_begin(s));
		}
	}
	CHECK(veld_store_commit(s));
}

/* Make the office, A and B (noord) and C (zuid) and the history on a
 * server started on 127.0.0.1:0; the port goes to tmp/port, A's client ids
 * to tmp/clients. Stores closed and the server stopped on return. */
static void fill_history(const char *veld, const char *tmp, long nhist)
{
	char data[600], path[700], port[16];
	char ids[NCLIENTS][33], zids[NCLIENTS][33];
	struct server sv;
	veld_store *office, *a, *b, *c;
	double t0 = now_s();
	FILE *f;

	snprintf(data, sizeof data, "%s/server", tmp);
	server_start(&sv, veld, data, "127.0.0.1:0");
	snprintf(path, sizeof path, "%s/setup-code", data);
	read_line(path, sv.code, sizeof sv.code);
	office = mkstore(tmp, "office", NULL, 1);
	{
		char *out = NULL;
		CHECK(veld_enroll(office, sv.url, sv.code, "office", NULL, &out));
		veld_free(out);
	}
	a = mkstore(tmp, "anna", "noord", 0);
	b = mkstore(tmp, "bram", "noord", 0);
	c = mkstore(tmp, "cas", "zuid", 0);
	enroll_worker(office, a, sv.url, "noord", "anna");
	enroll_worker(office, b, sv.url, "noord", "bram");
	enroll_worker(office, c, sv.url, "zuid", "cas");
	sync_quiet(office);
	record_history(a, nhist / 2, ids);
	record_history(c, nhist - nhist / 2, zids);
	printf("  recorded %ld operations on A and C in %.1f s\n", nhist, now_s() - t0);
	fflush(stdout);
	t0 = now_s();
	sync_quiet(a);
	sync_quiet(c);
	printf("  pushed them in %.1f s\n", now_s() - t0);
	fflush(stdout);
	t0 = now_s();
	sync_quiet(b);
	sync_quiet(office);
	sync_quiet(a);
	sync_quiet(b);
	printf("  B and the office pulled them in %.1f s\n", now_s() - t0);
	snprintf(port, sizeof port, "%s", strrchr(sv.url, ':') + 1);
	snprintf(path, sizeof path, "%s/port", tmp);
	write_line(path, port);
	snprintf(path, sizeof path, "%s/clients", tmp);
	if (!(f = fopen(path, "w")))
		die(path, -1);
	for (int i = 0; i < NCLIENTS; i++)
		fprintf(f, "%s\n", ids[i]);
	fclose(f);
	snprintf(path, sizeof path, "%s/history", tmp);
	snprintf(data, sizeof data, "%ld", nhist);
	write_line(path, data);
	veld_store_free(a);
	veld_store_free(b);
	veld_store_free(c);
	veld_store_free(office);
	server_stop(&sv);
}

struct one_sync {
	double ms[64];
	uint64_t up, down, pulled, pushed;
};

static void timed_sync(veld_store *s, struct one_sync *o, int round)
{
	char *out = NULL;
	double t0 = now_s();
	CHECK(veld_sync(s, NULL, &out));
	o->ms[round] = (now_s() - t0) * 1000.0;
	o->up = json_u(out, "bytes_up");
	o->down = json_u(out, "bytes_down");
	o->pulled = json_u(out, "pulled");
	o->pushed = json_u(out, "pushed");
	veld_free(out);
}

static int run_shell(const char *fmt, const char *x, const char *y)
{
	char cmd[2048];
	snprintf(cmd, sizeof cmd, fmt, x, y);
	return system(cmd);
}

static int history_main(const char *veld, long nhist, const char *keep, int rounds)
{
	char tmpl[] = "/tmp/veld-bench-hist-XXXXXX", *tmp, data[600], path[700], line[64],
	     listen[96], ids[NCLIENTS][33], fields[512];
	struct server sv;
	struct one_sync r[3];
	const char *who[3] = {"worker A (wrote them)", "worker B", "office"};
	veld_store *st[3];
	double t0 = now_s();
	FILE *f;

	if (!(tmp = mkdtemp(tmpl)))
		return 1;
	snprintf(path, sizeof path, "%s/history", keep ? keep : "");
	if (keep && access(path, R_OK) == 0) {
		read_line(path, line, sizeof line);
		if (atol(line) != nhist) {
			fprintf(stderr, "bench_sync: %s holds a history of %s operations, not %ld\n",
			        keep, line, nhist);
			return 2;
		}
		if (run_shell("cp -a '%s'/. '%s'/", keep, tmp) != 0)
			die("copying the kept history", -1);
		printf("veld bench_sync --history %ld: taken from %s\n", nhist, keep);
	} else {
		printf("veld bench_sync --history %ld: filling\n", nhist);
		fflush(stdout);
		fill_history(veld, tmp, nhist);
		printf("  filled in %.1f s\n", now_s() - t0);
		if (keep && (run_shell("mkdir -p '%s'%s", keep, "") != 0 ||
		             run_shell("cp -a '%s'/. '%s'/", tmp, keep) != 0))
			die("keeping the history", -1);
	}
	snprintf(path, sizeof path, "%s/port", tmp);
	read_line(path, line, sizeof line);
	snprintf(listen, sizeof listen, "127.0.0.1:%s", line);
	snprintf(path, sizeof path, "%s/clients", tmp);
	if (!(f = fopen(path, "r")))
		die(path, -1);
	for (int i = 0; i < NCLIENTS; i++) {
		if (!fgets(line, sizeof line, f) || strcspn(line, "\n") != 32)
			die("reading the client ids", -1);
		snprintf(ids[i], sizeof ids[i], "%.32s", line);
	}
	fclose(f);
	snprintf(data, sizeof data, "%s/server", tmp);
	server_start(&sv, veld, data, listen);
	st[0] = openstore(tmp, "anna");
	st[1] = openstore(tmp, "bram");
	st[2] = openstore(tmp, "office");

	memset(r, 0, sizeof r);
	if (rounds < 1 || rounds > 63)
		rounds = 21;
	/* Round 0 warms the caches and is not counted. */
	for (int round = 0; round <= rounds; round++) {
		snprintf(fields, sizeof fields, "{\"name\":\"Client %d\",\"address\":\"Laan %d\","
		         "\"phone\":\"06-1%07d\"}", round, round, round);
		CHECK(veld_record_update(st[0], "client", ids[round % NCLIENTS], fields, NULL, NULL));
		snprintf(fields, sizeof fields,
		         "{\"client\":\"%s\",\"kind\":\"home_visit\",\"planned\":\"2026-12-01T09:00Z\","
		         "\"started\":\"2026-12-01T09:05Z\",\"ended\":\"2026-12-01T09:50Z\","
		         "\"actions\":\"y\"}", ids[round % NCLIENTS]);
		CHECK(veld_record_create(st[0], "visit", fields, NULL, NULL));
		for (int i = 0; i < 3; i++)
			timed_sync(st[i], &r[i], round);
	}
	printf("incremental sync of 10 new operations (A writes them; A, B, the office sync),"
	       " median of %d rounds:\n", rounds);
	for (int i = 0; i < 3; i++) {
		qsort(r[i].ms + 1, (size_t)rounds, sizeof *r[i].ms, cmp_d);
		printf("  %-22s %8.2f ms  (min %.2f, max %.2f)  up %7llu B  down %7llu B"
		       "  pushed %llu, pulled %llu\n", who[i], r[i].ms[1 + rounds / 2], r[i].ms[1],
		       r[i].ms[rounds], (unsigned long long)r[i].up, (unsigned long long)r[i].down,
		       (unsigned long long)r[i].pushed, (unsigned long long)r[i].pulled);
	}
	for (int i = 0; i < 3; i++)
		veld_store_free(st[i]);
	server_stop(&sv);
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* ---- --devices: many devices syncing at once ------------------------------------- */

/* One device's part of the run: its store, the client it visits, and the
 * time of each of its syncs. */
struct worker {
	veld_store *s;
	char visit[512];
	int rounds;
	double *ms;
	uint64_t pushed, applied;
	pthread_barrier_t *go;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	char *out = NULL;
	pthread_barrier_wait(w->go);
	for (int r = 0; r < w->rounds; r++) {
		double t0;
		CHECK(veld_record_create(w->s, "visit", w->visit, NULL, NULL));
		t0 = now_s();
		CHECK(veld_sync(w->s, NULL, &out));
		w->ms[r] = (now_s() - t0) * 1000.0;
		w->pushed += json_u(out, "pushed");
		w->applied += json_u(out, "applied");
		veld_free(out);
	}
	return NULL;
}

/* The duration of each request of `route` the server logged after byte
 * `from` of its output (server.c: "METHOD PATH STATUS 1.2ms DEVICE"). */
static size_t logged_ms(const char *outf, long from, const char *route, double *ms, size_t cap)
{
	FILE *f = fopen(outf, "r");
	char line[512];
	size_t n = 0;
	if (!f || fseek(f, from, SEEK_SET) != 0)
		die(outf, -1);
	while (fgets(line, sizeof line, f) && n < cap) {
		double d;
		if (strncmp(line, route, strlen(route)) == 0 &&
		    sscanf(line + strlen(route), " %*d %lfms", &d) == 1)
			ms[n++] = d;
	}
	fclose(f);
	return n;
}

static double pct(const double *sorted, size_t n, double p)
{
	return n ? sorted[(size_t)(p * (double)(n - 1) + 0.5)] : 0;
}

static long vm_hwm_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

/* ndev devices of one team (each visits a client of its own) and the
 * office; then every device records a visit (7 operations) and syncs,
 * rounds times, all devices at once, each in its own thread. */
static int devices_main(const char *veld, int ndev, int rounds, int nserv)
{
	char tmpl[] = "/tmp/veld-bench-devs-XXXXXX", *tmp, data[2][600], path[700], outf[2][700];
	struct server sv[2];
	struct worker *w = calloc((size_t)ndev, sizeof *w);
	pthread_t *th = calloc((size_t)ndev, sizeof *th);
	double *all = calloc((size_t)ndev * (size_t)rounds, sizeof *all);
	size_t cap = (size_t)ndev * (size_t)rounds * 64, n;
	double *req = calloc(cap, sizeof *req), t0, wall;
	pthread_barrier_t go;
	uint64_t pushed = 0, applied = 0;
	veld_store *office;
	char *out = NULL, code[64];
	long from[2];
	FILE *f;

	if (!w || !th || !all || !req || !(tmp = mkdtemp(tmpl)))
		return 1;
	for (int k = 0; k < nserv; k++) {
		snprintf(data[k], sizeof data[k], "%s/server%d", tmp, k + 1);
		snprintf(outf[k], sizeof outf[k], "%s/server%d.out", tmp, k + 1);
		server_start(&sv[k], veld, data[k], "127.0.0.1:0");
	}
	/* (With two servers on one database the first made the setup code.) */
	snprintf(path, sizeof path, "%s/setup-code", data[0]);
	read_line(path, code, sizeof code);
	office = mkstore(tmp, "office", NULL, 1);
	CHECK(veld_enroll(office, sv[0].url, code, "office", NULL, &out));
	veld_free(out);
	for (int i = 0; i < ndev; i++) {
		char name[32];
		json_t *j;
		snprintf(name, sizeof name, "worker%02d", i);
		w[i].s = mkstore(tmp, name, "noord", 0);
		enroll_worker(office, w[i].s, sv[i % nserv].url, "noord", name);
		CHECK(veld_record_create(w[i].s, "client", "{\"name\":\"Bench client\"}", NULL, &out));
		j = json_loads(out, 0, NULL);
		snprintf(w[i].visit, sizeof w[i].visit,
		         "{\"client\":\"%s\",\"kind\":\"home_visit\",\"planned\":\"2026-11-22T09:00Z\","
		         "\"started\":\"2026-11-22T09:05Z\",\"ended\":\"2026-11-22T09:50Z\","
		         "\"actions\":\"x\"}", json_string_value(json_object_get(j, "id")));
		json_decref(j);
		veld_free(out);
		w[i].rounds = rounds;
		w[i].ms = all + (size_t)i * (size_t)rounds;
		w[i].go = &go;
	}
	/* The office certifies every device; each takes in the others' clients. */
	sync_quiet(office);
	for (int i = 0; i < ndev; i++)
		sync_quiet(w[i].s);

	for (int k = 0; k < nserv; k++) {
		f = fopen(outf[k], "r");
		if (!f || fseek(f, 0, SEEK_END) != 0)
			die(outf[k], -1);
		from[k] = ftell(f);
		fclose(f);
	}
	pthread_barrier_init(&go, NULL, (unsigned)ndev + 1);
	for (int i = 0; i < ndev; i++)
		pthread_create(&th[i], NULL, worker_run, &w[i]);
	pthread_barrier_wait(&go);
	t0 = now_s();
	for (int i = 0; i < ndev; i++)
		pthread_join(th[i], NULL);
	wall = now_s() - t0;
	for (int i = 0; i < ndev; i++) {
		pushed += w[i].pushed;
		applied += w[i].applied;
	}
	qsort(all, (size_t)ndev * (size_t)rounds, sizeof *all, cmp_d);

	printf("veld bench_sync --devices %d: %d rounds of a visit (7 operations) and a sync per"
	       " device, all devices at once; %s\n", ndev, rounds,
	       !g_db ? "SQLite server in its own process"
	       : nserv == 1 ? "PostgreSQL, one server process"
	                    : "PostgreSQL, two server processes, the devices dealt between them");
	printf("  %llu operations pushed and %llu applied in %.2f s: %.0f pushed/s, %.0f applied/s\n",
	       (unsigned long long)pushed, (unsigned long long)applied, wall, pushed / wall,
	       applied / wall);
	n = (size_t)ndev * (size_t)rounds;
	printf("  a device's sync:    p50 %7.1f ms   p99 %7.1f ms   (%zu syncs)\n", pct(all, n, .5),
	       pct(all, n, .99), n);
	static const char *const routes[] = {"POST /v1/push", "GET /v1/pull", "POST /v1/audit"};
	for (size_t r = 0; r < 3; r++) {
		n = 0;
		for (int k = 0; k < nserv; k++)
			n += logged_ms(outf[k], from[k], routes[r], req + n, cap - n);
		qsort(req, n, sizeof *req, cmp_d);
		printf("  %-15s     p50 %7.2f ms   p99 %7.2f ms   (%zu requests, time in the server)\n",
		       routes[r], pct(req, n, .5), pct(req, n, .99), n);
	}
	long hwm[2];
	for (int k = 0; k < nserv; k++)
		hwm[k] = vm_hwm_kib(sv[k].pid);
	for (int i = 0; i < ndev; i++)
		veld_store_free(w[i].s);
	veld_store_free(office);
	for (int k = 0; k < nserv; k++) {
		struct rusage sru;
		kill(sv[k].pid, SIGTERM);
		wait4(sv[k].pid, NULL, 0, &sru);
		/* The devices run in this process, on the same cores: a sync's
		 * time above is mostly theirs (sealing, opening, applying), the
		 * server's is its CPU time. (PostgreSQL's own processes are not
		 * counted: see bench_pg.sh.) */
		printf("  server %d peak RSS: %.1f MiB; its CPU time %.2f s of the %.2f s run (setup"
		       " included)\n", k + 1, hwm[k] / 1024.0,
		       (double)(sru.ru_utime.tv_sec + sru.ru_stime.tv_sec) +
		           (double)(sru.ru_utime.tv_usec + sru.ru_stime.tv_usec) / 1e6, wall);
	}
	pthread_barrier_destroy(&go);
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(w);
	free(th);
	free(all);
	free(req);
	return 0;
}

int main(int argc, char **argv)
{
	const char *veld = "./build/veld", *keep = NULL;
	long nops = 100000, nhist = 0;
	int rounds = 21, ndev = 0, nserv = 1;
	char tmpl[] = "/tmp/veld-bench-sync-XXXXXX", *tmp, data[600], path[700], url[64], code[64];
	struct server sv;
	veld_store *office, *a, *b;
	char *out = NULL, *client_id, *icode = NULL, fields[256];
	double t0, push_s, pull_s, nochange[21];
	uint64_t pushed, pulled, log_pushed;
	struct rusage ru;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--veld") && i + 1 < argc)
			veld = argv[++i];
		else if (!strcmp(argv[i], "--ops") && i + 1 < argc)
			nops = atol(argv[++i]);
		else if (!strcmp(argv[i], "--history") && i + 1 < argc)
			nhist = atol(argv[++i]);
		else if (!strcmp(argv[i], "--keep") && i + 1 < argc)
			keep = argv[++i];
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--db") && i + 1 < argc && argv[i + 1][0])
			g_db = argv[++i];
		else if (!strcmp(argv[i], "--servers") && i + 1 < argc)
			nserv = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--devices") && i + 1 < argc)
			ndev = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: bench_sync [--veld PATH] [--ops N]\n"
			        "       bench_sync [--veld PATH] --history N [--keep DIR] [--rounds R]\n"
			        "       bench_sync [--veld PATH] --devices N [--rounds R] [--servers 1|2]\n"
			        "       (each also with --db CONNINFO: PostgreSQL instead of SQLite)\n");
			return 2;
		}
	}
	if (nhist > 0)
		return history_main(veld, nhist, keep, rounds);
	if (nserv < 1 || nserv > 2 || (nserv == 2 && (!g_db || ndev < 1))) {
		fprintf(stderr, "bench_sync: --servers is 1, or 2 with --db and --devices\n");
		return 2;
	}
	if (ndev > 0)
		return devices_main(veld, ndev, rounds, nserv);
	if (!(tmp = mkdtemp(tmpl)))
		return 1;
	snprintf(data, sizeof data, "%s/server", tmp);
	server_start(&sv, veld, data, "127.0.0.1:0");
	snprintf(path, sizeof path, "%s/setup-code", data);
	read_line(path, code, sizeof code);
	snprintf(url, sizeof url, "%s", sv.url);

	office = mkstore(tmp, "office", NULL, 1);
	CHECK(veld_enroll(office, url, code, "office", NULL, &out));
	veld_free(out);
	a = mkstore(tmp, "anna", "noord", 0);
	b = mkstore(tmp, "bram", "noord", 0);
	CHECK(veld_office_invite(office, "noord", 3600, NULL, &icode));
	CHECK(veld_enroll(a, url, icode, "anna", NULL, &out));
	veld_free(out);
	veld_free(icode);
	CHECK(veld_office_invite(office, "noord", 3600, NULL, &icode));
	CHECK(veld_enroll(b, url, icode, "bram", NULL, &out));
	veld_free(out);
	veld_free(icode);
	/* The office certifies both devices (and gives them the team's key). */
	CHECK(veld_sync(office, NULL, &out));
	veld_free(out);

	/* Record nops operations on Anna's device: visits of 7 fields each. */
	CHECK(veld_record_create(a, "client", "{\"name\":\"Bench client\"}", NULL, &out));
	{
		json_t *j = json_loads(out, 0, NULL);
		client_id = strdup(json_string_value(json_object_get(j, "id")));
		json_decref(j);
	}
	veld_free(out);
	snprintf(fields, sizeof fields,
	         "{\"client\":\"%s\",\"kind\":\"home_visit\",\"planned\":\"2026-11-22T09:00Z\","
	         "\"started\":\"2026-11-22T09:05Z\",\"ended\":\"2026-11-22T09:50Z\",\"actions\":\"x\"}",
	         client_id);
	CHECK(veld_store_begin(a));
	for (long done = 1; done < nops; done += 7)
		CHECK(veld_record_create(a, "visit", fields, NULL, NULL));
	CHECK(veld_store_commit(a));

	t0 = now_s();
	CHECK(veld_sync(a, NULL, &out));
	push_s = now_s() - t0;
	pushed = json_u(out, "pushed");
	log_pushed = json_u(out, "log_pushed");
	veld_free(out);

	t0 = now_s();
	CHECK(veld_sync(b, NULL, &out));
	pull_s = now_s() - t0;
	pulled = json_u(out, "applied");
	veld_free(out);

	for (int i = 0; i < 21; i++) {
		t0 = now_s();
		CHECK(veld_sync(b, NULL, &out));
		nochange[i] = (now_s() - t0) * 1000.0;
		veld_free(out);
	}
	qsort(nochange, 21, sizeof *nochange, cmp_d);
	getrusage(RUSAGE_SELF, &ru);

	printf("veld bench_sync on loopback (%s), server in its own process\n", url);
	printf("  pushed %llu ops in %.3f s   -> push        %9.0f ops/s   (target >= 20000)  %s\n",
	       (unsigned long long)pushed, push_s, pushed / push_s,
	       pushed / push_s >= 20000 ? "PASS" : "MISS");
	printf("    (the same sync also sent %llu access-log entries, sealed and signed)\n",
	       (unsigned long long)log_pushed);
	printf("  applied %llu ops in %.3f s  -> pull+apply  %9.0f ops/s   (target >= 50000)  %s\n",
	       (unsigned long long)pulled, pull_s, pulled / pull_s,
	       pulled / pull_s >= 50000 ? "PASS" : "MISS");
	printf("  no-change sync: median %.2f ms, max %.2f ms of 21   (target < 20 ms)  %s\n",
	       nochange[10], nochange[20], nochange[10] < 20 ? "PASS" : "MISS");
	printf("  client peak RSS: %.1f MiB (both device stores in this process)   (target < 64 MiB)  %s\n",
	       ru.ru_maxrss / 1024.0, ru.ru_maxrss / 1024.0 < 64 ? "PASS" : "MISS");

	veld_store_free(a);
	veld_store_free(b);
	veld_store_free(office);
	free(client_id);
	server_stop(&sv);
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
