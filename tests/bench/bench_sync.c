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
 */
#define _XOPEN_SOURCE 700
#include "veld.h"
#include "veld_sync.h"

#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PASS "benchmark passphrase"

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench_sync: %s failed (%d): %s\n", what, rc, veld_error_last());
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

int main(int argc, char **argv)
{
	const char *veld = "./build/veld";
	long nops = 100000;
	char tmpl[] = "/tmp/veld-bench-sync-XXXXXX", *tmp, data[600], outf[700], url[64] = "", code[64];
	pid_t server;
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
		else {
			fprintf(stderr, "usage: bench_sync [--veld PATH] [--ops N]\n");
			return 2;
		}
	}
	if (!(tmp = mkdtemp(tmpl)))
		return 1;
	snprintf(data, sizeof data, "%s/server", tmp);
	snprintf(outf, sizeof outf, "%s/server.out", tmp);
	server = fork();
	if (server == 0) {
		int fd = open(outf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(veld, veld, "serve", "--listen", "127.0.0.1:0", "--data", data, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200 && !url[0]; i++) {
		FILE *f = fopen(outf, "r");
		char line[512];
		while (f && fgets(line, sizeof line, f)) {
			char *p = strstr(line, "http://127.0.0.1:");
			if (p)
				snprintf(url, sizeof url, "%.*s", (int)strcspn(p, " \n("), p);
		}
		if (f)
			fclose(f);
		usleep(25000);
	}
	if (!url[0]) {
		fprintf(stderr, "bench_sync: %s serve did not start\n", veld);
		kill(server, SIGKILL);
		return 1;
	}
	{
		char path[700];
		FILE *f;
		snprintf(path, sizeof path, "%s/setup-code", data);
		f = fopen(path, "r");
		if (!f || !fgets(code, sizeof code, f))
			die("reading the setup code", -1);
		fclose(f);
		code[strcspn(code, "\r\n")] = 0;
	}

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
	kill(server, SIGTERM);
	waitpid(server, NULL, 0);
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
