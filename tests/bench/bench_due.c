/* bench_due.c - how long `veld due` takes on a worker's whole caseload.
 *
 *   bench_due [--clients N] [--years Y] [--others M] [--runs R] [--keep]
 *             (defaults 40 clients, 5 years, 0 others, 7 runs)
 *   bench_due --store DIR [--runs R]
 *
 * Fills a store through the public API with a caseload like a worker's:
 * N clients whose contact person is the acting worker, each with Y years
 * of history: two visits a week (planned, started, ended, life domains,
 * scores and agreed actions; now and then a no-show), a note for each
 * visit, a goal every half year (the earlier ones achieved), a signal a
 * month (closed with a follow-up, the last two open), a few visits planned
 * in the coming weeks, a Woonkompas conversation every half year with two
 * agreed actions, a tenancy, a standing decision (waakvlam) every two years,
 * a time-out a year and a rent-arrears escalation with a step. Every eighth
 * client has not been seen for 40 days. --others M adds M clients of other
 * workers of the team with the same history, which veld_due passes over.
 *
 * Then it times veld_due({"today", "days": 14}): the first call, which
 * reads every record and keeps what the rules may still need (duekept.c),
 * then R calls, of which it prints the median, the fastest and the slowest
 * wall time, the median CPU time (on a machine others share, the wall time
 * says as much about them as about veld) and how many items it found, and
 * one call after a visit was recorded for one client. It measures; it
 * does not judge (not registered with ctest). Everything lives in a fresh
 * directory under /tmp, removed at the end; --keep leaves it and prints
 * where, and --store DIR times a store kept so without filling one again
 * (to compare two builds on the same records, or look with sqlite3). The
 * store uses the key-derivation floor.
 */
#include "veld.h"

#include <dirent.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PASS "bench passphrase, not a secret"
#define USER "bench-worker"
#define TEAM "bench"
#define TODAY "2026-12-01"

static char tmp_dir[64];

static void rm_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[1024];
	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
			rm_tree(path);
		else
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "bench_due: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	if (tmp_dir[0])
		rm_tree(tmp_dir);
	exit(2);
}

static void check(int rc, const char *what)
{
	if (rc != VELD_OK)
		die(what, veld_error_last());
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* ---- dates: days relative to TODAY ---------------------------------------- */

static time_t today_t;

/* "YYYY-MM-DD" of today + `days`. */
static const char *date_at(int days, char buf[16])
{
	time_t t = today_t + (time_t)days * 86400;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, 16, "%Y-%m-%d", &tm);
	return buf;
}

/* ---- records -------------------------------------------------------------------- */

static veld_store *store;

/* Create a record from a JSON object (taken); its id into id_out (33 bytes)
 * if not NULL. */
static void create(const char *kind, json_t *fields, char *id_out)
{
	char *text = json_dumps(fields, JSON_COMPACT), *out = NULL;
	json_decref(fields);
	if (!text)
		die("building a record", NULL);
	check(veld_record_create(store, kind, text, NULL, id_out ? &out : NULL), kind);
	if (id_out) {
		json_t *rec = json_loads(out, 0, NULL);
		snprintf(id_out, 33, "%s", json_string_value(json_object_get(rec, "id")));
		json_decref(rec);
		veld_free(out);
	}
	free(text);
}

static const char *const visit_kinds[] = {"home_visit", "phone", "outreach", "home_visit"};

/* Two visits a week from `first` (days before today) to `last`, each with a
 * note; every 25th a no-show. */
static void visits(const char *client, int first, int last)
{
	char d[16], planned[32], started[32], ended[32], vid[33];
	long n = 0;
	for (int day = first; day <= last; day += (n % 2) ? 4 : 3, n++) {
		date_at(day, d);
		snprintf(planned, sizeof planned, "%sT10:00", d);
		snprintf(started, sizeof started, "%sT10:05", d);
		snprintf(ended, sizeof ended, "%sT10:55", d);
		if (n % 25 == 24) {
			create("visit", json_pack("{s:s,s:s,s:s}", "client", client, "kind", "no_show",
			                          "planned", planned), NULL);
			continue;
		}
		create("visit", json_pack("{s:s,s:s,s:s,s:s,s:s,s:[s,s],s:{s:i,s:i},s:s}", "client",
			client, "kind", visit_kinds[n % 4], "planned", planned, "started", started,
			"ended", ended, "domains", "financien", "huisvesting", "scores", "financien",
			2 + (int)(n % 3), "huisvesting", 3, "actions",
			"Went through the post together and agreed on a weekly budget plan."), vid);
		create("note", json_pack("{s:s,s:s,s:s}", "client", client, "visit", vid, "text",
			"Rent for this month paid on time. Talked about the neighbours and the "
			"day centre; the client wants to try two mornings a week."), NULL);
	}
}

static void goals_and_signals(const char *client, int first)
{
	char d[16];
	for (int day = first, i = 0; day < 0; day += 182, i++) {
		int latest = day + 182 >= 0;
		create("goal", json_pack("{s:s,s:s,s:s,s:s,s:s}", "client", client, "domain",
			"financien", "description", "Pays the rent on time without reminders",
			"status", latest ? "open" : "achieved", "review_date",
			date_at(latest ? 10 : day + 90, d)), NULL);
	}
	for (int day = first, i = 0; day < 0; day += 30, i++) {
		int open = day + 60 >= 0;
		json_t *f = json_pack("{s:s,s:s,s:s,s:s}", "client", client, "kind", "rent_arrears",
			"severity", "medium", "description", "Rent reminder from the corporation");
		if (!open) {
			json_object_set_new(f, "status", json_string("closed"));
			json_object_set_new(f, "follow_up", json_string("Payment plan agreed"));
		}
		create("signal", f, NULL);
	}
}

/* A Woonkompas conversation every half year, each with two agreed actions
 * (done, but for the latest conversation's). */
static void woonkompas(const char *client, int first)
{
	char d[16], d2[16], id[33];
	for (int day = first; day < 0; day += 182) {
		create("woonkompas", json_pack("{s:s,s:s,s:s,s:s}", "client", client, "date",
			date_at(day, d), "summary", "Talked about the rent and the neighbours",
			"next_review", date_at(day + 182, d2)), id);
		for (int k = 0; k < 2; k++) {
			json_t *a = json_pack("{s:s,s:s,s:s,s:s,s:s}", "client", client, "description",
				"Call the corporation about the repairs", "owner", k ? "client" : "worker",
				"due", date_at(day + 30, d), "woonkompas", id);
			if (day + 182 < 0)
				json_object_set_new(a, "done", json_string(date_at(day + 25, d2)));
			create("action", a, NULL);
		}
	}
}

/* The rest of the process: a tenancy, standing decisions, time-outs and
 * an escalation. */
static void process(const char *client, int first, int c)
{
	char d[16], d2[16], id[33];
	create("tenancy", json_pack("{s:s,s:s,s:s,s:s}", "client", client, "form", "three_party",
		"start", date_at(first, d), "own_name_planned", date_at(c % 3 ? 200 : 7, d2)), NULL);
	for (int day = first; day < 0; day += 730)
		create("waakvlam", json_pack("{s:s,s:s,s:s,s:s,s:s}", "client", client, "number",
			"WB-2021-001", "municipality", "Utrecht", "start", date_at(day, d), "end",
			date_at(day + 729, d2)), NULL);
	for (int day = first + 100; day < 0; day += 365) {
		json_t *t = json_pack("{s:s,s:s,s:i}", "client", client, "start", date_at(day, d),
			"agreed_days", 14);
		if (day + 365 < 0)
			json_object_set_new(t, "end", json_string(date_at(day + 12, d2)));
		create("time_out", t, NULL);
	}
	create("escalation", json_pack("{s:s,s:s,s:i}", "client", client, "about", "rent_arrears",
		"amount", 850), id);
	create("escalation_step", json_pack("{s:s,s:s,s:s,s:s,s:s}", "client", client, "escalation",
		id, "step", "reminder", "date", date_at(-20, d), "due", date_at(c % 2 ? 5 : -3, d2)),
		NULL);
}

/* One client with `years` of history; `own`: the acting worker's. */
static char first_client[33]; /* for the visit recorded between calls */

static void client_with_history(int c, int years, int own)
{
	char name[32], cid[33], d[16];
	int first = -365 * years, last = (c % 8 == 7) ? -40 : -1;
	snprintf(name, sizeof name, "Client %d", c);
	check(veld_store_begin(store), "veld_store_begin");
	create("client", json_pack("{s:s,s:s,s:s}", "name", name, "care_status", "beschermd_thuis",
		"contact_person", own ? USER : "colleague"), cid);
	if (c == 0)
		memcpy(first_client, cid, sizeof cid);
	visits(cid, first, last);
	for (int k = 0; k < 3; k++) {
		char planned[32];
		snprintf(planned, sizeof planned, "%sT14:00", date_at(2 + 5 * k, d));
		create("visit", json_pack("{s:s,s:s,s:s}", "client", cid, "kind", "home_visit",
			"planned", planned), NULL);
	}
	goals_and_signals(cid, first);
	woonkompas(cid, first);
	process(cid, first, c);
	check(veld_store_commit(store), "veld_store_commit");
}

/* ---- timing ------------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* CPU time of this process: on a machine others use too, the wall time
 * of a run says as much about them as about veld. */
static double cpu_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static double one_due(size_t *items, double *cpu)
{
	char *out = NULL;
	double t0 = now_ms(), c0 = cpu_ms();
	check(veld_due(store, "{\"today\":\"" TODAY "\",\"days\":14}", NULL, &out), "veld_due");
	double t = now_ms() - t0;
	*cpu = cpu_ms() - c0;
	json_t *ans = json_loads(out, 0, NULL);
	*items = json_array_size(json_object_get(ans, "items"));
	json_decref(ans);
	veld_free(out);
	return t;
}

static const char *arg_str(int argc, char **argv, const char *name)
{
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	return NULL;
}

static int arg_flag(int argc, char **argv, const char *name)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return 1;
	return 0;
}

/* A new store in a fresh directory under /tmp, filled with the caseload. */
static void fill(veld_store_options *o, char *dir, size_t dir_size, int clients, int years,
                 int others)
{
	double t0;
	snprintf(tmp_dir, sizeof tmp_dir, "/tmp/veld-bench-due-XXXXXX");
	if (!mkdtemp(tmp_dir))
		die("cannot make a temporary directory", NULL);
	snprintf(dir, dir_size, "%s/store", tmp_dir);
	check(veld_store_create(&store, dir, PASS, strlen(PASS), o), "veld_store_create");
	fprintf(stderr, "bench_due: %d clients with %d years of history (+%d of colleagues)...\n",
	        clients, years, others);
	t0 = now_ms();
	for (int c = 0; c < clients + others; c++)
		client_with_history(c, years, c < clients);
	fprintf(stderr, "bench_due: filled in %.1f s\n", (now_ms() - t0) / 1e3);
}

static int arg_int(int argc, char **argv, const char *name, int fallback, int lo, int hi)
{
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0) {
			int v = atoi(argv[i + 1]);
			if (v < lo || v > hi)
				die("an option is out of range", name);
			return v;
		}
	return fallback;
}

int main(int argc, char **argv)
{
	int clients = arg_int(argc, argv, "--clients", 40, 1, 10000);
	int years = arg_int(argc, argv, "--years", 5, 1, 50);
	int others = arg_int(argc, argv, "--others", 0, 0, 10000);
	int runs = arg_int(argc, argv, "--runs", 7, 1, 1000);
	const char *reuse = arg_str(argc, argv, "--store");
	veld_store_options o = VELD_STORE_OPTIONS_INIT;
	char dir[128];
	struct tm tm = {.tm_year = 126, .tm_mon = 11, .tm_mday = 1};
	double *ms = calloc((size_t)runs, sizeof *ms), *cpu = calloc((size_t)runs, sizeof *cpu);
	size_t items = 0;

	today_t = timegm(&tm);
	if (!ms || !cpu)
		die("out of memory", NULL);
	o.user = USER;
	o.role = "worker";
	o.team = TEAM;
	o.kdf_opslimit = VELD_KDF_OPSLIMIT_MIN;
	o.kdf_memlimit = VELD_KDF_MEMLIMIT_MIN;
	if (reuse)
		check(veld_store_open(&store, reuse, PASS, strlen(PASS), &o), "veld_store_open");
	else
		fill(&o, dir, sizeof dir, clients, years, others);

	/* The first call reads every record of every client and keeps what the
	 * rules may still need (duekept.c); later ones open what was kept. */
	double first = one_due(&items, &cpu[0]), first_cpu = cpu[0];
	for (int r = 0; r < runs; r++)
		ms[r] = one_due(&items, &cpu[r]);
	qsort(ms, (size_t)runs, sizeof *ms, cmp_double);
	qsort(cpu, (size_t)runs, sizeof *cpu, cmp_double);
	if (reuse)
		printf("veld_due on %s: ", reuse);
	else
		printf("veld_due, %d clients x %d years (+%d others): ", clients, years, others);
	printf("median %.1f ms (min %.1f, max %.1f, %d runs; CPU median %.1f ms), %zu items\n",
	       ms[runs / 2], ms[0], ms[runs - 1], runs, cpu[runs / 2], items);
	printf("  first call, nothing kept yet: %.1f ms (CPU %.1f ms)\n", first, first_cpu);
	if (!reuse) {
		/* A day's work: one visit recorded, then the list again (the
		 * client's records are read once more, the others' kept). */
		char d[16], planned[32];
		double after, after_cpu;
		snprintf(planned, sizeof planned, "%sT09:00", date_at(0, d));
		create("visit", json_pack("{s:s,s:s,s:s,s:s}", "client", first_client, "kind",
		                          "home_visit", "planned", planned, "started", planned), NULL);
		after = one_due(&items, &after_cpu);
		printf("  after a visit recorded for one client: %.1f ms (CPU %.1f ms)\n", after,
		       after_cpu);
	}
	veld_store_free(store);
	free(ms);
	free(cpu);
	if (!reuse && arg_flag(argc, argv, "--keep"))
		fprintf(stderr, "bench_due: store kept in %s\n", dir);
	else if (!reuse)
		rm_tree(tmp_dir);
	return 0;
}
