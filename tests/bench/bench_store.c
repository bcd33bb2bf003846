/* bench_store.c - how fast veld records visits, encrypted against plain,
 * and what SQLite alone costs for the same rows.
 *
 *   bench_store [--visits N] [--single M] [--budget S]
 *                  (defaults 100000 visits, 2000 single commits, 12 s)
 *
 * Two paths write the same visits, side by side in one run, and two floors:
 *
 *  encrypted  the real public API: veld_record_create(s, "visit", ...). Each
 *             visit carries five fields besides "client" (kind, planned,
 *             started, ended, actions); the API adds the defaults "worker" and
 *             "zrm_version", so a visit is 7 operations, each sealed with
 *             XChaCha20-Poly1305 under the client's data key, BLAKE2b-hashed,
 *             inserted into `ops` and merged; plus one hash-chained access-log
 *             entry per visit and one Ed25519 batch signature per commit.
 *  plain      the same SQLite schema and PRAGMAs in a second database file,
 *             the same rows per visit (7 `ops` rows holding the plaintext JSON
 *             value, the entities upsert, one audit row) through prepared
 *             statements. It parses the same JSON input and looks the client
 *             up by key, but does no sealing, hashing, signing or chaining.
 *
 *  floor      two more databases get the same rows with no veld code at all
 *             (see "floor paths" below): the per-field layout the encrypted
 *             path writes, and one row per visit, the layout a redesign would
 *             write. They show what SQLite alone costs on this machine, so a
 *             missed target can be told apart from slow veld code.
 *
 * Each path runs "bulk" (N visits in one transaction, timed as a whole) and
 * "single" (M visits, one commit each, every call timed). The program prints
 * the figures and whether the targets are met; it never fails on a miss: it
 * measures, it does not judge (it is not registered with ctest).
 *
 * Time budget: each encrypted phase stops early once it has run S seconds
 * (--budget 0: never), so a slow build cannot make the run take hours. A
 * bulk phase cut short still commits, and its rate is over the visits it
 * recorded; the other paths then record the same number, so all databases
 * stay the same size. The output says when this happened.
 *
 * Everything lives in a fresh directory under /tmp, removed at the end. The
 * store uses the key-derivation floor: key derivation is not what is measured.
 */
#include "veld.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PASS "bench passphrase, not a secret"
#define USER "bench-worker"
#define ROLE "worker"
#define TEAM "bench"
#define ID_BYTES 16

/* Targets from the issue (encrypted path, 2-core machine). */
#define TARGET_BULK_RATE 50000.0   /* visits/s, at least */
#define TARGET_SINGLE_MEDIAN 100.0 /* µs, at most */
#define TARGET_RATIO 0.5           /* encrypted/plain throughput, at least */

static const char *tmp_dir; /* removed by die() too */
static void rm_tree(const char *dir);

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "bench_store: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	if (tmp_dir)
		rm_tree(tmp_dir);
	exit(2);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- temp directory ------------------------------------------------------- */

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

static long long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

/* ---- input ------------------------------------------------------------------ */

static const char *const visit_kinds[] = {"home_visit", "phone", "outreach"};

/* A visit: exactly five fields besides "client". */
static char *visit_json(const char *client, long i)
{
	char buf[512];
	int day = 1 + (int)(i % 28), hour = 8 + (int)((i / 28) % 10);
	int n = snprintf(buf, sizeof buf,
		"{\"client\":\"%s\",\"kind\":\"%s\","
		"\"planned\":\"2026-11-%02dT%02d:00Z\",\"started\":\"2026-11-%02dT%02d:05Z\","
		"\"ended\":\"2026-11-%02dT%02d:50Z\","
		"\"actions\":\"Visit %ld: went through the post together, called the housing "
		"corporation about the rent arrears and agreed on a weekly budget plan.\"}",
		client, visit_kinds[i % 3], day, hour, day, hour, day, hour, i);
	char *s;
	if (n < 0 || (size_t)n >= sizeof buf || !(s = malloc((size_t)n + 1)))
		die("building the input", NULL);
	memcpy(s, buf, (size_t)n + 1);
	return s;
}

/* ---- statistics --------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static double pct(const double *v, size_t n, double p)
{
	size_t k;
	if (n == 0)
		return 0;
	k = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

struct result {
	long nbulk, nsingle; /* visits actually recorded (the budget may cut a phase) */
	double bulk_s, bulk_rate;
	double med, p90, p99, max;
};

static void single_stats(struct result *r, double *us, size_t n)
{
	qsort(us, n, sizeof *us, cmp_double);
	r->med = pct(us, n, 50);
	r->p90 = pct(us, n, 90);
	r->p99 = pct(us, n, 99);
	r->max = n ? us[n - 1] : 0;
}

/* ---- encrypted path: the public API ------------------------------------------ */

static void check(int rc, const char *what)
{
	if (rc != VELD_OK)
		die(what, veld_error_last());
}

static void run_encrypted(veld_store *s, char **bulk, long nbulk, char **single, long nsingle,
                          double budget, double *us, struct result *r)
{
	double t0, t1, stop;
	long i;
	fprintf(stderr, "  encrypted bulk   (%ld visits, one transaction)...\n", nbulk);
	t0 = now_s();
	stop = budget > 0 ? t0 + budget : 0;
	check(veld_store_begin(s), "veld_store_begin");
	for (i = 0; i < nbulk && !(stop && now_s() > stop); i++)
		check(veld_record_create(s, "visit", bulk[i], NULL, NULL), "recording a visit (bulk)");
	check(veld_store_commit(s), "veld_store_commit");
	t1 = now_s();
	r->nbulk = i;
	r->bulk_s = t1 - t0;
	r->bulk_rate = (double)i / r->bulk_s;

	fprintf(stderr, "  encrypted single (%ld visits, one commit each)...\n", nsingle);
	stop = budget > 0 ? now_s() + budget : 0;
	for (i = 0; i < nsingle && !(stop && now_s() > stop); i++) {
		t0 = now_s();
		check(veld_record_create(s, "visit", single[i], NULL, NULL), "recording a visit (single)");
		t1 = now_s();
		us[i] = (t1 - t0) * 1e6;
	}
	r->nsingle = i;
	single_stats(r, us, (size_t)i);
}

/* ---- plain path: the same schema, no cryptography ------------------------------ */

/* These statements mirror core/src/schema.c (version 1) for the tables the
 * write path touches: ops, entities and audit, with their indexes and the
 * access log's append-only trigger. Keep them in step with schema.c. */
static const char plain_schema[] =
	"CREATE TABLE ops("
	"  device BLOB NOT NULL, seq INTEGER NOT NULL, hlc INTEGER NOT NULL,"
	"  kind TEXT NOT NULL, entity BLOB NOT NULL, client BLOB NOT NULL, team TEXT NOT NULL,"
	"  field TEXT NOT NULL, value BLOB, sup BLOB, hash BLOB NOT NULL,"
	"  head INTEGER NOT NULL DEFAULT 1,"
	"  PRIMARY KEY(device, seq)) WITHOUT ROWID;"
	"CREATE INDEX ops_entity ON ops(entity, field);"
	"CREATE TABLE entities(entity BLOB PRIMARY KEY, kind TEXT NOT NULL,"
	"  client BLOB NOT NULL, team TEXT NOT NULL, created INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE INDEX entities_kind ON entities(kind, client);"
	"CREATE INDEX entities_client ON entities(client);"
	"CREATE TABLE audit(seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, event TEXT NOT NULL,"
	"  outcome TEXT NOT NULL, client TEXT, user TEXT NOT NULL, role TEXT NOT NULL,"
	"  device TEXT NOT NULL, purpose TEXT NOT NULL, hash BLOB NOT NULL);"
	"CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
	"  BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;";

/* The same PRAGMAs as open_db() in core/src/store.c. */
static const char plain_pragmas[] =
	"PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA secure_delete=ON;"
	"PRAGMA cell_size_check=ON; PRAGMA foreign_keys=OFF; PRAGMA temp_store=MEMORY;"
	"PRAGMA cache_size=-16384;";

struct plain {
	sqlite3 *db;
	sqlite3_stmt *client_get, *op_insert, *entity_upsert, *audit_insert;
	uint8_t device[ID_BYTES];
	char device_hex[2 * ID_BYTES + 1];
	uint64_t seq, audit_seq, hlc, rng;
};

/* Ids need not be unpredictable here: xorshift gives the same random key
 * order in the B-trees without calling the CSPRNG. */
static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void random_id(struct plain *p, uint8_t id[ID_BYTES])
{
	uint64_t a = xorshift(&p->rng), b = xorshift(&p->rng);
	memcpy(id, &a, 8);
	memcpy(id + 8, &b, 8);
}

static void to_hex(char *hex, const uint8_t *b, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		hex[2 * i] = digits[b[i] >> 4];
		hex[2 * i + 1] = digits[b[i] & 15];
	}
	hex[2 * n] = 0;
}

static int from_hex(uint8_t *b, size_t n, const char *hex)
{
	if (!hex || strlen(hex) != 2 * n)
		return -1;
	for (size_t i = 0; i < 2 * n; i++) {
		char c = hex[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
		      : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (v < 0)
			return -1;
		b[i / 2] = (uint8_t)(i % 2 ? (b[i / 2] << 4) | v : v);
	}
	return 0;
}

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void plain_sql(struct plain *p, int rc, const char *what)
{
	if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
		die(what, sqlite3_errmsg(p->db));
}

static void plain_exec(struct plain *p, const char *sql)
{
	plain_sql(p, sqlite3_exec(p->db, sql, NULL, NULL, NULL), sql);
}

static void plain_step(struct plain *p, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		die(what, sqlite3_errmsg(p->db));
}

static void plain_open(struct plain *p, const char *path, const uint8_t client[ID_BYTES])
{
	static const uint8_t zero[32];
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	memset(p, 0, sizeof *p);
	if (sqlite3_open_v2(path, &p->db, flags, NULL) != SQLITE_OK)
		die("opening the plain database", p->db ? sqlite3_errmsg(p->db) : NULL);
	plain_exec(p, plain_pragmas);
	plain_exec(p, plain_schema);
#define PREP(st, sql) \
	plain_sql(p, sqlite3_prepare_v3(p->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &p->st, NULL), sql)
	PREP(client_get, "SELECT team FROM entities WHERE entity = ?1 AND kind = 'client'");
	/* The same INSERT statements as store.c. */
	PREP(op_insert, "INSERT INTO ops(device, seq, hlc, kind, entity, client, team, field,"
	                " value, sup, hash, head) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)");
	PREP(entity_upsert, "INSERT INTO entities(entity, kind, client, team, created)"
	                    " VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(entity) DO UPDATE"
	                    " SET created = excluded.created WHERE excluded.created < created");
	PREP(audit_insert, "INSERT INTO audit(seq, at, event, outcome, client, user, role,"
	                   " device, purpose, hash) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)");
#undef PREP
	p->rng = 0x9e3779b97f4a7c15ull;
	random_id(p, p->device);
	to_hex(p->device_hex, p->device, ID_BYTES);
	p->seq = 1;

	/* The client the visits belong to, with the same id as in the store. */
	plain_exec(p, "BEGIN IMMEDIATE");
	sqlite3_bind_blob(p->entity_upsert, 1, client, ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_text(p->entity_upsert, 2, "client", -1, SQLITE_STATIC);
	sqlite3_bind_blob(p->entity_upsert, 3, client, ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_text(p->entity_upsert, 4, TEAM, -1, SQLITE_STATIC);
	sqlite3_bind_int64(p->entity_upsert, 5, (sqlite3_int64)(wall_ms() << 16));
	plain_step(p, p->entity_upsert, "writing the client");
	sqlite3_bind_blob(p->op_insert, 1, p->device, ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(p->op_insert, 2, (sqlite3_int64)p->seq++);
	sqlite3_bind_int64(p->op_insert, 3, (sqlite3_int64)(wall_ms() << 16));
	sqlite3_bind_text(p->op_insert, 4, "client", -1, SQLITE_STATIC);
	sqlite3_bind_blob(p->op_insert, 5, client, ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_blob(p->op_insert, 6, client, ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_text(p->op_insert, 7, TEAM, -1, SQLITE_STATIC);
	sqlite3_bind_text(p->op_insert, 8, "name", -1, SQLITE_STATIC);
	sqlite3_bind_blob(p->op_insert, 9, "\"Bench Client\"", 14, SQLITE_STATIC);
	sqlite3_bind_null(p->op_insert, 10);
	sqlite3_bind_blob(p->op_insert, 11, zero, 32, SQLITE_STATIC);
	sqlite3_bind_int(p->op_insert, 12, 1);
	plain_step(p, p->op_insert, "writing the client");
	plain_exec(p, "COMMIT");
}

static void plain_close(struct plain *p)
{
	sqlite3_finalize(p->client_get);
	sqlite3_finalize(p->op_insert);
	sqlite3_finalize(p->entity_upsert);
	sqlite3_finalize(p->audit_insert);
	sqlite3_close_v2(p->db);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* One visit, as the store writes it, minus the cryptography: parse, look the
 * client up, add the defaults, one ops row per field (in name order, like
 * records.c), the entities upsert and one access-log row. */
static void plain_visit(struct plain *p, const char *fields_json)
{
	static const uint8_t zero[32]; /* the NOT NULL hash columns: nothing computed */
	json_error_t e;
	json_t *fields = json_loads(fields_json, JSON_REJECT_DUPLICATES, &e), *v;
	uint8_t client[ID_BYTES], entity[ID_BYTES];
	char team[65], chex[2 * ID_BYTES + 1];
	const char *keys[32], *name;
	size_t n = 0;
	uint64_t hlc;
	int rc;

	if (!fields || !json_is_object(fields) ||
	    from_hex(client, ID_BYTES, json_string_value(json_object_get(fields, "client"))) != 0)
		die("plain path: bad visit input", e.text);
	sqlite3_bind_blob(p->client_get, 1, client, ID_BYTES, SQLITE_STATIC);
	rc = sqlite3_step(p->client_get);
	if (rc != SQLITE_ROW)
		die("plain path: no such client", sqlite3_errmsg(p->db));
	snprintf(team, sizeof team, "%s", (const char *)sqlite3_column_text(p->client_get, 0));
	sqlite3_reset(p->client_get);

	json_object_del(fields, "client");
	if (!json_object_get(fields, "worker"))
		json_object_set_new(fields, "worker", json_string(USER));
	if (!json_object_get(fields, "zrm_version"))
		json_object_set_new(fields, "zrm_version", json_string("2017"));
	json_object_foreach(fields, name, v)
		if (n < 32)
			keys[n++] = name;
	qsort(keys, n, sizeof *keys, cmp_str);

	random_id(p, entity);
	for (size_t i = 0; i < n; i++) {
		char *js = json_dumps(json_object_get(fields, keys[i]), JSON_COMPACT | JSON_ENCODE_ANY);
		sqlite3_stmt *st = p->op_insert;
		uint64_t w = wall_ms() << 16;
		if (!js)
			die("plain path: out of memory", NULL);
		p->hlc = hlc = w > p->hlc ? w : p->hlc + 1;
		sqlite3_bind_blob(st, 1, p->device, ID_BYTES, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)p->seq++);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)hlc);
		sqlite3_bind_text(st, 4, "visit", -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 5, entity, ID_BYTES, SQLITE_STATIC);
		sqlite3_bind_blob(st, 6, client, ID_BYTES, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, team, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 8, keys[i], -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 9, js, (int)strlen(js), SQLITE_STATIC);
		sqlite3_bind_null(st, 10);
		sqlite3_bind_blob(st, 11, zero, 32, SQLITE_STATIC);
		sqlite3_bind_int(st, 12, 1);
		plain_step(p, st, "plain path: writing an operation");
		free(js);
		if (i == 0) {
			st = p->entity_upsert;
			sqlite3_bind_blob(st, 1, entity, ID_BYTES, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, "visit", -1, SQLITE_STATIC);
			sqlite3_bind_blob(st, 3, client, ID_BYTES, SQLITE_STATIC);
			sqlite3_bind_text(st, 4, team, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 5, (sqlite3_int64)hlc);
			plain_step(p, st, "plain path: writing a record");
		}
	}
	json_decref(fields);

	{
		sqlite3_stmt *st = p->audit_insert;
		to_hex(chex, client, ID_BYTES);
		sqlite3_bind_int64(st, 1, (sqlite3_int64)++p->audit_seq);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)wall_ms());
		sqlite3_bind_text(st, 3, "create", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, "success", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, chex, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, USER, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, ROLE, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 8, p->device_hex, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 9, "care", -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 10, zero, 32, SQLITE_STATIC);
		plain_step(p, st, "plain path: writing the access log");
	}
}

static void run_plain(struct plain *p, char **bulk, long nbulk, char **single, long nsingle,
                      double *us, struct result *r)
{
	double t0, t1;
	fprintf(stderr, "  plain bulk       (%ld visits, one transaction)...\n", nbulk);
	t0 = now_s();
	plain_exec(p, "BEGIN IMMEDIATE");
	for (long i = 0; i < nbulk; i++)
		plain_visit(p, bulk[i]);
	plain_exec(p, "COMMIT");
	t1 = now_s();
	r->nbulk = nbulk;
	r->bulk_s = t1 - t0;
	r->bulk_rate = (double)nbulk / r->bulk_s;

	fprintf(stderr, "  plain single     (%ld visits, one commit each)...\n", nsingle);
	for (long i = 0; i < nsingle; i++) {
		t0 = now_s();
		plain_exec(p, "BEGIN IMMEDIATE");
		plain_visit(p, single[i]);
		plain_exec(p, "COMMIT");
		t1 = now_s();
		us[i] = (t1 - t0) * 1e6;
	}
	r->nsingle = nsingle;
	single_stats(r, us, (size_t)nsingle);
}

/* ---- floor paths: the rows alone ------------------------------------------------ */

/* What SQLite itself costs, with no veld code at all: the rows a visit needs,
 * their bytes made before timing (random values as long as the sealed ones,
 * random 32-byte hashes), written through prepared statements. Nothing is
 * parsed, looked up, sealed, hashed or signed. Two layouts:
 *
 *  per-field   the layout the encrypted path writes, because DESIGN.md makes
 *              an operation one field: 7 ops rows (and their ops_entity index
 *              entries), the entities row with its two indexes, one audit row.
 *  per-visit   what a redesign that stores one row per record write (all
 *              fields of the visit in one value) would write: 1 ops row, the
 *              entities row with its indexes, one audit row.
 *
 * No path that writes these rows can be faster than its floor; the encrypted
 * path adds its work on top of the per-field floor. */

#define FLOOR_FIELDS 7
static const char *const floor_names[FLOOR_FIELDS] = {
	"actions", "ended", "kind", "planned", "started", "worker", "zrm_version"};

struct floor {
	struct plain p;
	int per_visit;
	size_t len[FLOOR_FIELDS], total; /* sealed sizes of one visit's values */
	uint8_t value[FLOOR_FIELDS * 1024], hash[32];
};

/* A sealed value's size: 24-byte nonce, 16-byte tag, the JSON padded to the
 * next multiple of 64 (one padding byte at least), as op.c seals it. */
static size_t sealed_size(size_t json_len)
{
	return 24 + 16 + (json_len / 64 + 1) * 64;
}

/* The sizes of the visit's seven values, from the same input the other
 * paths record (the defaults as the API adds them). */
static void floor_sizes(struct floor *f, const char *fields_json)
{
	json_t *fields = json_loads(fields_json, 0, NULL);
	f->total = 0;
	for (int i = 0; i < FLOOR_FIELDS; i++) {
		json_t *v = fields ? json_object_get(fields, floor_names[i]) : NULL;
		char *js = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
		size_t n = js ? strlen(js) : strcmp(floor_names[i], "worker") == 0
		           ? strlen(USER) + 2 : strlen("\"2017\"");
		f->len[i] = sealed_size(n);
		f->total += f->len[i];
		free(js);
	}
	json_decref(fields);
	if (f->total > sizeof f->value)
		die("floor path: a visit's values are too long", NULL);
}

static void floor_open(struct floor *f, const char *path, const uint8_t client[ID_BYTES],
                       int per_visit, const char *visit)
{
	plain_open(&f->p, path, client);
	f->per_visit = per_visit;
	floor_sizes(f, visit);
	for (size_t i = 0; i < sizeof f->value; i += 8) {
		uint64_t r = xorshift(&f->p.rng);
		memcpy(f->value + i, &r, 8);
	}
	memcpy(f->hash, f->value, sizeof f->hash);
}

static void floor_visit(struct floor *f, const uint8_t client[ID_BYTES])
{
	struct plain *p = &f->p;
	uint8_t entity[ID_BYTES];
	uint64_t hlc = ++p->hlc;
	int nrows = f->per_visit ? 1 : FLOOR_FIELDS;
	size_t off = 0;

	random_id(p, entity);
	for (int i = 0; i < nrows; i++) {
		sqlite3_stmt *st = p->op_insert;
		size_t len = f->per_visit ? f->total : f->len[i];
		sqlite3_bind_blob(st, 1, p->device, ID_BYTES, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)p->seq++);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)hlc);
		sqlite3_bind_text(st, 4, "visit", -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 5, entity, ID_BYTES, SQLITE_STATIC);
		sqlite3_bind_blob(st, 6, client, ID_BYTES, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, TEAM, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 8, f->per_visit ? "*" : floor_names[i], -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 9, f->value + off, (int)len, SQLITE_STATIC);
		sqlite3_bind_null(st, 10);
		sqlite3_bind_blob(st, 11, f->hash, 32, SQLITE_STATIC);
		sqlite3_bind_int(st, 12, 1);
		plain_step(p, st, "floor path: writing an operation");
		off += len;
	}
	sqlite3_stmt *st = p->entity_upsert;
	sqlite3_bind_blob(st, 1, entity, ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, "visit", -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, client, ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, TEAM, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)hlc);
	plain_step(p, st, "floor path: writing a record");

	st = p->audit_insert;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)++p->audit_seq);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)hlc);
	sqlite3_bind_text(st, 3, "create", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, "success", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, "0123456789abcdef0123456789abcdef", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, USER, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, ROLE, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, p->device_hex, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, "care", -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 10, f->hash, 32, SQLITE_STATIC);
	plain_step(p, st, "floor path: writing the access log");
}

static void run_floor(struct floor *f, const uint8_t client[ID_BYTES], long nbulk, long nsingle,
                      double *us, struct result *r)
{
	struct plain *p = &f->p;
	const char *name = f->per_visit ? "per-visit" : "per-field";
	double t0, t1;
	fprintf(stderr, "  floor %-9s bulk and single...\n", name);
	t0 = now_s();
	plain_exec(p, "BEGIN IMMEDIATE");
	for (long i = 0; i < nbulk; i++)
		floor_visit(f, client);
	plain_exec(p, "COMMIT");
	t1 = now_s();
	r->nbulk = nbulk;
	r->bulk_s = t1 - t0;
	r->bulk_rate = (double)nbulk / r->bulk_s;
	for (long i = 0; i < nsingle; i++) {
		t0 = now_s();
		plain_exec(p, "BEGIN IMMEDIATE");
		floor_visit(f, client);
		plain_exec(p, "COMMIT");
		t1 = now_s();
		us[i] = (t1 - t0) * 1e6;
	}
	r->nsingle = nsingle;
	single_stats(r, us, (size_t)nsingle);
}

/* ---- what was written ------------------------------------------------------- */

struct written {
	long long ops, audit, batches, db, wal;
};

static long long count_rows(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	long long n = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* File sizes while the database is open, as the run left it. */
static void measure_size(const char *path, struct written *w)
{
	char wal[1100];
	snprintf(wal, sizeof wal, "%s-wal", path);
	memset(w, 0, sizeof *w);
	w->db = file_size(path);
	w->wal = file_size(wal);
}

/* Rows counted straight from the file, after the store or connection closed. */
static void measure_rows(const char *path, struct written *w)
{
	sqlite3 *db;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
		w->ops = count_rows(db, "SELECT count(*) FROM ops");
		w->audit = count_rows(db, "SELECT count(*) FROM audit");
		w->batches = count_rows(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'batches'") > 0
		             ? count_rows(db, "SELECT count(*) FROM batches") : 0;
	}
	sqlite3_close_v2(db);
}

/* ---- main --------------------------------------------------------------------- */

static long parse_count(const char *opt, const char *v, long min)
{
	char *end;
	long n;
	errno = 0;
	n = v ? strtol(v, &end, 10) : 0;
	if (!v || errno || *end || n < min || n > 100000000)
		die(min ? "expected a positive whole number after" : "expected a whole number after", opt);
	return n;
}

static const char *verdict(int ok)
{
	return ok ? "PASS" : "MISS";
}

int main(int argc, char **argv)
{
	long nbulk = 100000, nsingle = 2000;
	double budget = 12;
	char tmpl[] = "/tmp/veld-bench-XXXXXX", sdir[512], spath[600], ppath[600], fpath[600], gpath[600], cid[2 * ID_BYTES + 1];
	char **bulk, **single, *out = NULL;
	double *us, t_start = now_s(), rb, rs;
	uint8_t client[ID_BYTES];
	veld_store_options o = VELD_STORE_OPTIONS_INIT;
	veld_store *s = NULL;
	struct plain p;
	static struct floor ff, fv; /* static: 7 KiB of values each */
	struct result enc, pl, rf, rv;
	struct written we, wp, wf, wv;
	json_t *j;
	const char *dir;
	long long nops = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--visits") == 0 && i + 1 < argc)
			nbulk = parse_count("--visits", argv[++i], 1);
		else if (strcmp(argv[i], "--single") == 0 && i + 1 < argc)
			nsingle = parse_count("--single", argv[++i], 1);
		else if (strcmp(argv[i], "--budget") == 0 && i + 1 < argc)
			budget = (double)parse_count("--budget", argv[++i], 0);
		else {
			fprintf(stderr, "usage: %s [--visits N] [--single M] [--budget S]\n"
			        "  defaults: 100000 bulk visits, 2000 single commits, %g s per encrypted"
			        " phase (0: no limit)\n", argv[0], budget);
			return strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0 ? 0 : 2;
		}
	}

	if (!(dir = mkdtemp(tmpl)))
		die("cannot create a temporary directory", strerror(errno));
	tmp_dir = dir;
	snprintf(sdir, sizeof sdir, "%s/store", dir);
	snprintf(spath, sizeof spath, "%s/veld.db", sdir);
	snprintf(ppath, sizeof ppath, "%s/plain.db", dir);
	snprintf(fpath, sizeof fpath, "%s/floor-field.db", dir);
	snprintf(gpath, sizeof gpath, "%s/floor-visit.db", dir);

	/* The store, with the key-derivation floor, and one client. */
	o.user = USER;
	o.role = ROLE;
	o.team = TEAM;
	o.kdf_opslimit = VELD_KDF_OPSLIMIT_MIN;
	o.kdf_memlimit = VELD_KDF_MEMLIMIT_MIN;
	check(veld_store_create(&s, sdir, PASS, strlen(PASS), &o), "creating the store");
	check(veld_record_create(s, "client", "{\"name\":\"Bench Client\"}", NULL, &out),
	      "creating the client");
	if (!(j = json_loads(out, 0, NULL)) || !json_string_value(json_object_get(j, "id")))
		die("creating the client", "no id in the result");
	snprintf(cid, sizeof cid, "%s", json_string_value(json_object_get(j, "id")));
	json_decref(j);
	veld_free(out);
	if (from_hex(client, ID_BYTES, cid) != 0)
		die("creating the client", "the id is not 32 hex digits");
	plain_open(&p, ppath, client);

	/* All input built before any timing. */
	bulk = malloc((size_t)nbulk * sizeof *bulk);
	single = malloc((size_t)nsingle * sizeof *single);
	us = malloc((size_t)nsingle * sizeof *us);
	if (!bulk || !single || !us)
		die("out of memory", NULL);
	for (long i = 0; i < nbulk; i++)
		bulk[i] = visit_json(cid, i);
	for (long i = 0; i < nsingle; i++)
		single[i] = visit_json(cid, nbulk + i);

	printf("veld bench_store: recording visits, encrypted (veld API) vs the same schema plain\n");
	printf("  visit = 5 fields (kind, planned, started, ended, actions) + the API's defaults\n"
	       "          worker and zrm_version = 7 operations, 1 access-log entry\n");
	printf("  bulk: %ld visits in one transaction; single: %ld visits, one commit each\n"
	       "  (single commits go into the store the bulk phase filled)\n", nbulk, nsingle);
	printf("  files in %s (deleted at exit); WAL, synchronous=NORMAL, secure_delete=ON\n\n", dir);
	fflush(stdout);

	run_encrypted(s, bulk, nbulk, single, nsingle, budget, us, &enc);
	/* The same visits, as many as the encrypted path recorded. */
	run_plain(&p, bulk, enc.nbulk, single, enc.nsingle, us, &pl);
	floor_open(&ff, fpath, client, 0, bulk[0]);
	run_floor(&ff, client, enc.nbulk, enc.nsingle, us, &rf);
	floor_open(&fv, gpath, client, 1, bulk[0]);
	run_floor(&fv, client, enc.nbulk, enc.nsingle, us, &rv);

	{
		char *info = NULL;
		if (veld_store_info(s, &info) == VELD_OK && (j = json_loads(info, 0, NULL)) != NULL) {
			nops = json_integer_value(json_object_get(j, "ops"));
			json_decref(j);
		}
		veld_free(info);
	}
	measure_size(spath, &we);
	measure_size(ppath, &wp);
	measure_size(fpath, &wf);
	measure_size(gpath, &wv);
	veld_store_free(s);
	plain_close(&p);
	plain_close(&ff.p);
	plain_close(&fv.p);
	measure_rows(spath, &we);
	measure_rows(ppath, &wp);
	measure_rows(fpath, &wf);
	measure_rows(gpath, &wv);

	rb = enc.bulk_rate / pl.bulk_rate;
	rs = pl.med / enc.med; /* throughput ratio: inverse of the latency ratio */

	printf("%-10s %14s %12s %10s %10s %10s %9s\n", "path", "bulk visit/s", "bulk s",
	       "p50 us", "p90 us", "p99 us", "max us");
	printf("%-10s %14.0f %12.3f %10.1f %10.1f %10.1f %9.0f\n", "encrypted", enc.bulk_rate,
	       enc.bulk_s, enc.med, enc.p90, enc.p99, enc.max);
	printf("%-10s %14.0f %12.3f %10.1f %10.1f %10.1f %9.0f\n", "plain", pl.bulk_rate, pl.bulk_s,
	       pl.med, pl.p90, pl.p99, pl.max);
	printf("%-10s %14.0f %12.3f %10.1f %10.1f %10.1f %9.0f\n", "floor/fld", rf.bulk_rate,
	       rf.bulk_s, rf.med, rf.p90, rf.p99, rf.max);
	printf("%-10s %14.0f %12.3f %10.1f %10.1f %10.1f %9.0f\n", "floor/vst", rv.bulk_rate,
	       rv.bulk_s, rv.med, rv.p90, rv.p99, rv.max);
	printf("(p50/p90/p99/max: one visit per commit, microseconds per call)\n"
	       "floor/fld: the encrypted path's rows alone (7 ops rows a visit, entities, audit),\n"
	       "           bytes made in advance, no veld code: no parsing, sealing, hashing, signing\n"
	       "floor/vst: the same with one ops row a visit holding all its values (a redesign)\n");
	if (enc.nbulk < nbulk)
		printf("NOTE: the time budget (%g s) stopped the bulk phase at %ld of %ld visits;"
		       " both paths' bulk\n      figures are over those %ld visits.\n",
		       budget, enc.nbulk, nbulk, enc.nbulk);
	if (enc.nsingle < nsingle)
		printf("NOTE: the time budget (%g s) stopped the single-commit phase at %ld of %ld"
		       " visits;\n      both paths' percentiles are over those %ld commits.\n",
		       budget, enc.nsingle, nsingle, enc.nsingle);
	printf("\n");
	printf("encrypted/plain throughput: bulk %.3f, single-commit %.3f (plain p50 / encrypted p50)\n"
	       "encrypted costs %.1f us more per visit in bulk, %.1f us more per single commit\n\n",
	       rb, rs, 1e6 / enc.bulk_rate - 1e6 / pl.bulk_rate, enc.med - pl.med);

	printf("targets (encrypted path, 2-core machine)\n");
	printf("  bulk rate        >= %6.0f visits/s   %10.0f       %s\n", TARGET_BULK_RATE,
	       enc.bulk_rate, verdict(enc.bulk_rate >= TARGET_BULK_RATE));
	printf("  single p50       <= %6.0f us         %10.1f       %s\n", TARGET_SINGLE_MEDIAN,
	       enc.med, verdict(enc.med <= TARGET_SINGLE_MEDIAN));
	printf("  encrypted/plain  >= %6.2f            bulk %.3f, single %.3f   %s\n", TARGET_RATIO,
	       rb, rs, verdict(rb >= TARGET_RATIO && rs >= TARGET_RATIO));
	if (rf.bulk_rate < TARGET_BULK_RATE || rf.med > TARGET_SINGLE_MEDIAN)
		printf("  the per-field floor itself: bulk %.0f visits/s (%s), single p50 %.1f us (%s):\n"
		       "  a target the floor misses cannot be met by any code that writes these rows\n",
		       rf.bulk_rate, verdict(rf.bulk_rate >= TARGET_BULK_RATE), rf.med,
		       verdict(rf.med <= TARGET_SINGLE_MEDIAN));
	printf("\n");

	printf("written      ops   audit  batch sigs     db MiB    wal MiB  (sizes before close)\n");
	printf("encrypted %7lld %7lld %11lld %10.1f %10.1f\n", we.ops, we.audit, we.batches,
	       we.db / 1048576.0, we.wal / 1048576.0);
	printf("plain     %7lld %7lld %11s %10.1f %10.1f\n", wp.ops, wp.audit, "-",
	       wp.db / 1048576.0, wp.wal / 1048576.0);
	printf("floor/fld %7lld %7lld %11s %10.1f %10.1f\n", wf.ops, wf.audit, "-",
	       wf.db / 1048576.0, wf.wal / 1048576.0);
	printf("floor/vst %7lld %7lld %11s %10.1f %10.1f\n", wv.ops, wv.audit, "-",
	       wv.db / 1048576.0, wv.wal / 1048576.0);
	printf("(ops include the client's 1 operation; veld_store_info reported %lld ops)\n", nops);
	printf("\ntotal run %.1f s\n", now_s() - t_start);

	for (long i = 0; i < nbulk; i++)
		free(bulk[i]);
	for (long i = 0; i < nsingle; i++)
		free(single[i]);
	free(bulk);
	free(single);
	free(us);
	rm_tree(dir);
	return 0;
}
