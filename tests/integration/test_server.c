/* test_server.c - the sync server on 127.0.0.1, started in-process with
 * veld_server_start and driven over HTTP with libcurl (and a raw socket
 * where curl is too polite), with requests built by the wire encoders and
 * signed with auth.c. Every refused request must leave the server's
 * database exactly as it was: each refusal test compares a digest of every
 * table before and after.
 *
 * Run as test_server_pg (VELD_TEST_DB=pg), every server keeps its state in
 * a PostgreSQL database of its own (pgdb.h) instead of SQLite in its data
 * directory, and the tests' looks into the database go there. A few tests
 * are about the SQLite file itself (an older schema, nonces an older veld
 * left in it): those skip on PostgreSQL, each saying why. The tests of
 * several servers on one database (test_server__cluster_*) run on
 * PostgreSQL only and skip on SQLite. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth.h"
#include "op.h"
#include "pgdb.h"
#include "policy.h"
#include "server_sql.h"
#include "veld_server.h"
#include "wire.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_LOG_LINES 512
#define MAX_KNOWN 64
#define NOTICE_AT 1795000000000ull /* a notice's `at`, as the office's clock says */

/* ---- fixture ------------------------------------------------------------ */

struct dev {
	uint8_t id[16];
	uint8_t sign_pk[32], sign_sk[64];
	uint8_t box_pk[32], box_sk[32];
	char team[65];
};

struct fx {
	char dir[256];
	char data[300];
	char db[512]; /* the server's PostgreSQL database in a _pg run, else "" */
	veld_server *srv;
	uint16_t port;
	CURL *curl;
	char code[VELD_CODE_TEXT_MAX];
	struct dev office;
	pthread_mutex_t log_mu;
	char *log[MAX_LOG_LINES];
	size_t nlog;
	/* Every device enrolled, whose key a device learns from the office's
	 * certificates: pulls carry no keys, so tests check them as a device
	 * does, with these. */
	const struct dev *known[MAX_KNOWN];
	size_t nknown;
	/* Each team's last notice number, as the office keeps it. */
	struct {
		char team[65];
		uint64_t n;
	} notices[16];
	size_t nnotice_teams;
};

struct resp {
	long status;
	uint8_t *body;
	size_t len;
	char ctype[128];
};

static void resp_free(struct resp *r)
{
	free(r->body);
	memset(r, 0, sizeof *r);
}

static void on_log(const char *line, void *payload)
{
	struct fx *f = payload;
	pthread_mutex_lock(&f->log_mu);
	if (f->nlog < MAX_LOG_LINES)
		f->log[f->nlog++] = strdup(line);
	pthread_mutex_unlock(&f->log_mu);
}

static void rm_rf(const char *dir)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

static void server_start_skew(struct fx *f, uint64_t max_body, uint32_t max_requests,
                              uint32_t max_skew_s)
{
	veld_server_options o;
	veld_server_options_init(&o);
	o.listen = "127.0.0.1:0";
	o.data_dir = f->data;
	o.threads = 4;
	o.max_body = max_body;
	o.max_requests = max_requests;
	o.log = on_log;
	o.log_payload = f;
	o.max_skew_s = max_skew_s;
	o.database = f->db[0] ? f->db : NULL;
	int rc = veld_server_start(&f->srv, &o);
	if (rc != VELD_OK)
		fail_msg("veld_server_start: %d %s", rc, veld_error_last());
	f->port = veld_server_port(f->srv);
	assert_true(f->port != 0);
}

static void server_start(struct fx *f, uint64_t max_body, uint32_t max_requests)
{
	server_start_skew(f, max_body, max_requests, 0);
}

static struct fx *fx_new(uint64_t max_body, uint32_t max_requests)
{
	struct fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	pthread_mutex_init(&f->log_mu, NULL);
	snprintf(f->dir, sizeof f->dir, "/tmp/veld-itest-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->data, sizeof f->data, "%s/data", f->dir);
	if (veld_test_pg())
		veld_test_pg_db(f->data, f->db, sizeof f->db);
	server_start(f, max_body, max_requests);
	assert_non_null(veld_server_setup_code(f->srv));
	snprintf(f->code, sizeof f->code, "%s", veld_server_setup_code(f->srv));
	f->curl = curl_easy_init();
	assert_non_null(f->curl);
	return f;
}

static void fx_free(struct fx *f)
{
	if (!f)
		return;
	curl_easy_cleanup(f->curl);
	veld_server_stop(f->srv);
	rm_rf(f->dir);
	veld_test_pg_drop_under(f->dir);
	for (size_t i = 0; i < f->nlog; i++)
		free(f->log[i]);
	pthread_mutex_destroy(&f->log_mu);
	free(f);
}

static void dev_new(struct dev *d, const char *team)
{
	randombytes_buf(d->id, sizeof d->id);
	crypto_sign_keypair(d->sign_pk, d->sign_sk);
	crypto_box_keypair(d->box_pk, d->box_sk);
	snprintf(d->team, sizeof d->team, "%s", team);
}

/* An enrolled device, whose key the tests then check its signatures by. */
static void dev_known(struct fx *f, const struct dev *d)
{
	assert_true(f->nknown < MAX_KNOWN);
	f->known[f->nknown++] = d;
}

/* The signing key of a known device, or NULL. */
static const uint8_t *dev_key(const struct fx *f, const uint8_t id[16])
{
	for (size_t i = f->nknown; i-- > 0;)
		if (memcmp(f->known[i]->id, id, 16) == 0)
			return f->known[i]->sign_pk;
	return NULL;
}

/* ---- HTTP ------------------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct resp *r = ud;
	size_t len = size * n;
	uint8_t *b = realloc(r->body, r->len + len + 1);
	if (!b)
		return 0;
	memcpy(b + r->len, p, len);
	r->body = b;
	r->len += len;
	b[r->len] = 0;
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct resp *r = ud;
	size_t len = size * n;
	if (len > 14 && strncasecmp(p, "Content-Type: ", 14) == 0) {
		size_t k = len - 14;
		while (k && (p[14 + k - 1] == '\r' || p[14 + k - 1] == '\n'))
			k--;
		snprintf(r->ctype, sizeof r->ctype, "%.*s", (int)k, p + 14);
	}
	return len;
}

/* One request with the given (already signed, or NULL) headers. */
static CURLcode http_raw(struct fx *f, const char *method, const char *path, const uint8_t *body,
                         size_t len, const struct veld__auth_headers *h, struct resp *r)
{
	char url[2300], hv[4][200];
	struct curl_slist *hl = NULL;
	CURLcode cc;
	memset(r, 0, sizeof *r);
	snprintf(url, sizeof url, "http://127.0.0.1:%u%s", f->port, path);
	curl_easy_reset(f->curl);
	curl_easy_setopt(f->curl, CURLOPT_URL, url);
	curl_easy_setopt(f->curl, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(f->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(f->curl, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(f->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(f->curl, CURLOPT_HEADERDATA, r);
	hl = curl_slist_append(hl, "Content-Type: " VELD_CONTENT_TYPE);
	hl = curl_slist_append(hl, "Expect:");
	if (h) {
		snprintf(hv[0], sizeof hv[0], "Veld-Device: %s", h->device);
		snprintf(hv[1], sizeof hv[1], "Veld-Time: %s", h->time);
		snprintf(hv[2], sizeof hv[2], "Veld-Nonce: %s", h->nonce);
		snprintf(hv[3], sizeof hv[3], "Veld-Signature: %s", h->signature);
		for (int i = 0; i < 4; i++)
			hl = curl_slist_append(hl, hv[i]);
	}
	curl_easy_setopt(f->curl, CURLOPT_HTTPHEADER, hl);
	if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(f->curl, CURLOPT_POST, 1L);
		curl_easy_setopt(f->curl, CURLOPT_POSTFIELDS, body ? (const char *)body : "");
		curl_easy_setopt(f->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	} else {
		curl_easy_setopt(f->curl, CURLOPT_HTTPGET, 1L);
	}
	cc = curl_easy_perform(f->curl);
	curl_easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(hl);
	return cc;
}

static void http(struct fx *f, const char *method, const char *path, const uint8_t *body,
                 size_t len, const struct veld__auth_headers *h, struct resp *r)
{
	CURLcode cc = http_raw(f, method, path, body, len, h, r);
	if (cc != CURLE_OK)
		fail_msg("%s %s: %s", method, path, curl_easy_strerror(cc));
}

/* Signed as `d`. */
static void call(struct fx *f, const struct dev *d, const char *method, const char *path,
                 const uint8_t *body, size_t len, struct resp *r)
{
	struct veld__auth_headers h;
	veld__auth_sign(&h, d->id, d->sign_sk, method, path, body, len);
	http(f, method, path, body, len, &h, r);
}

/* Assert an error answer: status and code (and `expected` for gap). */
static void assert_error(const struct resp *r, long status, const char *code, uint64_t *expected)
{
	struct veld__error_resp e;
	struct veld__wire w;
	memset(&w, 0, sizeof w);
	if (r->status != status)
		fail_msg("status %ld, wanted %ld (%s)", r->status, status, code);
	assert_string_equal(r->ctype, VELD_CONTENT_TYPE);
	if (veld__wire_error_decode(&w, r->body, r->len, &e) != VELD_OK)
		fail_msg("error body does not decode: %s", veld_error_last());
	veld__wire_free(&w);
	if (strcmp(e.error, code) != 0)
		fail_msg("error '%s' (%s), wanted '%s'", e.error, e.message, code);
	if (expected)
		*expected = e.expected;
}

/* ---- the database, seen from outside ----------------------------------------- */

static int cmp32(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

/* A digest of every row of every table but `skip` (may be NULL;
 * order-independent). On PostgreSQL the request nonces are a table of the
 * same database, which every signed request that succeeds adds to, a read
 * too; on SQLite they are nonces.db, which the digest of server.db never
 * sees. So they do not count on PostgreSQL either. */
static void db_digest_except(struct fx *f, const char *skip, uint8_t out[32])
{
	char path[400];
	sqlite3 *db;
	sqlite3_stmt *tables, *rows;
	crypto_generichash_state all;
	if (f->db[0]) {
		const char *const skips[] = {"nonces", skip, NULL};
		veld_test_pg_digest(f->db, skips, out);
		return;
	}
	snprintf(path, sizeof path, "%s/server.db", f->data);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	crypto_generichash_init(&all, NULL, 0, 32);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table'"
	                                    " ORDER BY name", -1, &tables, NULL), SQLITE_OK);
	while (sqlite3_step(tables) == SQLITE_ROW) {
		char q[200];
		const char *name = (const char *)sqlite3_column_text(tables, 0);
		uint8_t *hs = NULL;
		size_t n = 0;
		if (skip && strcmp(name, skip) == 0)
			continue;
		snprintf(q, sizeof q, "SELECT * FROM \"%s\"", name);
		crypto_generichash_update(&all, (const uint8_t *)name, strlen(name) + 1);
		assert_int_equal(sqlite3_prepare_v2(db, q, -1, &rows, NULL), SQLITE_OK);
		while (sqlite3_step(rows) == SQLITE_ROW) {
			crypto_generichash_state h;
			crypto_generichash_init(&h, NULL, 0, 32);
			for (int c = 0; c < sqlite3_column_count(rows); c++) {
				uint8_t type = (uint8_t)sqlite3_column_type(rows, c);
				int len = sqlite3_column_bytes(rows, c);
				const void *v = sqlite3_column_blob(rows, c);
				crypto_generichash_update(&h, &type, 1);
				crypto_generichash_update(&h, (const uint8_t *)&len, sizeof len);
				if (v && len)
					crypto_generichash_update(&h, v, (size_t)len);
			}
			hs = realloc(hs, (n + 1) * 32);
			assert_non_null(hs);
			crypto_generichash_final(&h, hs + 32 * n++, 32);
		}
		sqlite3_finalize(rows);
		if (n)
			qsort(hs, n, 32, cmp32);
		crypto_generichash_update(&all, (const uint8_t *)&n, sizeof n);
		if (n)
			crypto_generichash_update(&all, hs, 32 * n);
		free(hs);
	}
	sqlite3_finalize(tables);
	sqlite3_close(db);
	crypto_generichash_final(&all, out, 32);
}

static void db_digest(struct fx *f, uint8_t out[32])
{
	db_digest_except(f, NULL, out);
}

static long long db_count(struct fx *f, const char *table)
{
	char path[400], q[200];
	sqlite3 *db;
	sqlite3_stmt *st;
	long long n = -1;
	if (f->db[0])
		return veld_test_pg_count(f->db, table);
	snprintf(path, sizeof path, "%s/server.db", f->data);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	snprintf(q, sizeof q, "SELECT count(*) FROM \"%s\"", table);
	if (sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* `n` bytes as a blob literal of the database's SQL (at most 64 bytes). */
static const char *db_blob(char out[140], const uint8_t *b, size_t n)
{
	char hex[129];
	assert_true(n <= 64);
	sodium_bin2hex(hex, sizeof hex, b, n);
	return veld_test_sql_blob(out, 140, hex);
}

#define SNAPSHOT(f, d) uint8_t d[32]; db_digest(f, d)
#define ASSERT_UNCHANGED(f, d) do { uint8_t now_[32]; db_digest(f, now_); \
	if (memcmp(now_, d, 32) != 0) fail_msg("a refused request changed the database"); } while (0)

/* ---- protocol steps ---------------------------------------------------------- */

static void enroll_body(msgpack_sbuffer *b, const struct dev *d, const char *code_text)
{
	struct veld__enroll_req m;
	uint8_t code[VELD_CODE_BYTES];
	memset(&m, 0, sizeof m);
	uint8_t proof_key[32];
	assert_int_equal(veld__code_parse(code_text, code), 0);
	veld__code_auth(m.auth, code);
	memcpy(m.device, d->id, 16);
	memcpy(m.sign_pk, d->sign_pk, 32);
	memcpy(m.box_pk, d->box_pk, 32);
	snprintf(m.label, sizeof m.label, "test-%.32s", d->team);
	veld__code_proof_key(proof_key, code);
	veld__enroll_proof(m.proof, proof_key, d->id, d->sign_pk, d->box_pk);
	msgpack_sbuffer_init(b);
	assert_int_equal(veld__wire_enroll_req_encode(b, &m), VELD_OK);
}

static void enroll(struct fx *f, const struct dev *d, const char *code_text, struct resp *r)
{
	msgpack_sbuffer b;
	enroll_body(&b, d, code_text);
	call(f, d, "POST", "/v1/enroll", (uint8_t *)b.data, b.size, r);
	msgpack_sbuffer_destroy(&b);
}

static void enroll_office(struct fx *f)
{
	struct veld__enroll_resp m;
	struct veld__wire w;
	struct resp r;
	dev_new(&f->office, "*");
	enroll(f, &f->office, f->code, &r);
	assert_int_equal(r.status, 200);
	memset(&w, 0, sizeof w);
	assert_int_equal(veld__wire_enroll_resp_decode(&w, r.body, r.len, &m), VELD_OK);
	veld__wire_free(&w);
	assert_string_equal(m.role, "office");
	assert_string_equal(m.team, "*");
	assert_false(m.has_team_key);
	assert_false(m.has_office);
	resp_free(&r);
	dev_known(f, &f->office);
}

/* The office's signature over a team key (the server keeps none without). */
static void team_key_sign(struct veld__team_keys_req *m, const struct dev *signer)
{
	uint8_t msg[VELD_TEAM_KEY_SIG_MSG_MAX];
	size_t n = veld__team_key_sig_message(msg, m->team, m->tv, m->pk);
	crypto_sign_detached(m->sig, NULL, msg, n, signer->sign_sk);
}

/* Publish the team's key version `tv` (office). */
static void team_keys(struct fx *f, const char *team, uint64_t tv, struct resp *r)
{
	struct veld__team_keys_req m;
	msgpack_sbuffer b;
	memset(&m, 0, sizeof m);
	snprintf(m.team, sizeof m.team, "%s", team);
	m.tv = tv;
	memset(m.pk, (int)tv, sizeof m.pk);
	team_key_sign(&m, &f->office);
	msgpack_sbuffer_init(&b);
	assert_int_equal(veld__wire_team_keys_req_encode(&b, &m), VELD_OK);
	call(f, &f->office, "POST", "/v1/team-keys", (uint8_t *)b.data, b.size, r);
	msgpack_sbuffer_destroy(&b);
}

/* The office invites a device to `team`, whose key version 1 it publishes
 * first (the first time; later an equal repeat): the code's text goes to
 * `text`, the team key the invite seals to `sealed`. */
static void invite(struct fx *f, const char *team, char text[VELD_CODE_TEXT_MAX],
                   uint8_t sealed[VELD_TEAM_SEALED_BYTES])
{
	struct veld__invite_req inv;
	msgpack_sbuffer b;
	uint8_t code[VELD_CODE_BYTES];
	struct resp r;

	team_keys(f, team, 1, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);

	memset(&inv, 0, sizeof inv);
	veld__code_new(code, text);
	veld__code_auth(inv.auth, code);
	snprintf(inv.team, sizeof inv.team, "%s", team);
	inv.expires = (uint64_t)time(NULL) * 1000 + 3600 * 1000;
	inv.tv = 1;
	randombytes_buf(inv.team_sealed, sizeof inv.team_sealed);
	memcpy(sealed, inv.team_sealed, sizeof inv.team_sealed);
	msgpack_sbuffer_init(&b);
	assert_int_equal(veld__wire_invite_req_encode(&b, &inv), VELD_OK);
	call(f, &f->office, "POST", "/v1/invite", (uint8_t *)b.data, b.size, &r);
	msgpack_sbuffer_destroy(&b);
	assert_int_equal(r.status, 200);
	resp_free(&r);
}

/* A worker of `team`, invited by the office and enrolled; `code_out`
 * (may be NULL) gets the invite's code. */
static void worker_code(struct fx *f, struct dev *d, const char *team, char *code_out)
{
	struct veld__enroll_resp er;
	struct veld__wire w;
	uint8_t sealed[VELD_TEAM_SEALED_BYTES];
	char text[VELD_CODE_TEXT_MAX];
	struct resp r;

	invite(f, team, text, sealed);
	dev_new(d, team);
	enroll(f, d, text, &r);
	assert_int_equal(r.status, 200);
	memset(&w, 0, sizeof w);
	assert_int_equal(veld__wire_enroll_resp_decode(&w, r.body, r.len, &er), VELD_OK);
	veld__wire_free(&w);
	assert_string_equal(er.role, "worker");
	assert_string_equal(er.team, team);
	assert_int_equal(er.tv, 1);
	assert_true(er.has_team_key);
	assert_memory_equal(er.team_sealed, sealed, sizeof sealed);
	assert_true(er.has_office);
	assert_memory_equal(er.office_device, f->office.id, 16);
	assert_memory_equal(er.office_sign_pk, f->office.sign_pk, 32);
	assert_memory_equal(er.office_box_pk, f->office.box_pk, 32);
	resp_free(&r);
	dev_known(f, d);
	if (code_out)
		memcpy(code_out, text, sizeof text);
}

static void worker(struct fx *f, struct dev *d, const char *team)
{
	worker_code(f, d, team, NULL);
}

/* Operations seq first..first+n-1 of `d`, each setting one field of one
 * client record of `team`; `salt` changes the values (for equivocation). */
struct batch {
	veld__op ops[16];
	uint8_t values[16][48];
	uint8_t sig[64];
	size_t n;
};

static void batch_make_v(struct batch *b, const struct dev *d, uint64_t first, size_t n,
                         const char *team, const uint8_t client[16], uint8_t salt,
                         uint32_t version)
{
	uint8_t hashes[16 * 32], msg[77];
	assert_true(n <= 16);
	memset(b, 0, sizeof *b);
	b->n = n;
	for (size_t i = 0; i < n; i++) {
		veld__op *op = &b->ops[i];
		op->version = version;
		memcpy(op->device, d->id, 16);
		op->seq = first + i;
		/* The same op whatever batch it is in; well in the past, as the
		 * server's clock rule wants. */
		op->hlc = (1700000000000ull << 16) | op->seq;
		snprintf(op->kind, sizeof op->kind, "client");
		memcpy(op->entity, client, 16);
		memcpy(op->client, client, 16);
		snprintf(op->team, sizeof op->team, "%s", team);
		op->kv = 1;
		snprintf(op->field, sizeof op->field, "f%zu", (size_t)(op->seq % 7));
		memset(b->values[i], salt, sizeof b->values[i]);
		memcpy(b->values[i], &op->seq, sizeof op->seq);
		op->value = b->values[i];
		op->value_len = sizeof b->values[i];
		veld__op_hash(op);
		memcpy(hashes + 32 * i, op->hash, 32);
	}
	veld__batch_digest(msg, version, d->id, first, first + n - 1, hashes, n);
	crypto_sign_detached(b->sig, NULL, msg, sizeof msg, d->sign_sk);
}

/* Operations of the format devices write now (version 2). */
static void batch_make(struct batch *b, const struct dev *d, uint64_t first, size_t n,
                       const char *team, const uint8_t client[16], uint8_t salt)
{
	batch_make_v(b, d, first, n, team, client, salt, VELD_OP_VERSION);
}

/* Re-hash and re-sign a batch after its ops were changed. */
static void batch_resign(struct batch *b, const struct dev *d)
{
	uint8_t hashes[16 * 32], msg[77];
	for (size_t i = 0; i < b->n; i++) {
		veld__op_hash(&b->ops[i]);
		memcpy(hashes + 32 * i, b->ops[i].hash, 32);
	}
	veld__batch_digest(msg, b->ops[0].version, d->id, b->ops[0].seq, b->ops[b->n - 1].seq, hashes,
	                   b->n);
	crypto_sign_detached(b->sig, NULL, msg, sizeof msg, d->sign_sk);
}

static void push_body(msgpack_sbuffer *out, const struct batch *b,
                      const struct veld__envelope *envs, size_t nenvs)
{
	struct veld__push_req m;
	memset(&m, 0, sizeof m);
	m.ops = (veld__op *)b->ops;
	m.nops = b->n;
	m.has_sig = b->n > 0;
	memcpy(m.sig, b->sig, 64);
	m.envs = (struct veld__envelope *)envs;
	m.nenvs = nenvs;
	msgpack_sbuffer_init(out);
	assert_int_equal(veld__wire_push_req_encode(out, &m), VELD_OK);
}

static void push(struct fx *f, const struct dev *d, const struct batch *b, struct resp *r)
{
	msgpack_sbuffer body;
	push_body(&body, b, NULL, 0);
	call(f, d, "POST", "/v1/push", (uint8_t *)body.data, body.size, r);
	msgpack_sbuffer_destroy(&body);
}

/* Sign an envelope as `d` sealed it. */
static void envelope_sign(struct veld__envelope *e, const struct dev *d)
{
	uint8_t msg[VELD_ENVELOPE_SIG_MSG_MAX];
	size_t n;
	memcpy(e->from, d->id, 16);
	n = veld__envelope_sig_message(msg, e->from, e->client, e->kv, e->to, e->tv, e->sealed);
	crypto_sign_detached(e->sig, NULL, msg, n, d->sign_sk);
}

/* A client key envelope sealed (random bytes: the server cannot tell) and
 * signed by `d`. */
static struct veld__envelope envelope(const struct dev *d, const uint8_t client[16],
                                      const char *to, uint64_t tv)
{
	struct veld__envelope e;
	memset(&e, 0, sizeof e);
	memcpy(e.client, client, 16);
	e.kv = 1;
	snprintf(e.to, sizeof e.to, "%s", to);
	e.tv = tv;
	randombytes_buf(e.sealed, sizeof e.sealed);
	envelope_sign(&e, d);
	return e;
}

/* Push envelopes only. */
static void push_envs(struct fx *f, const struct dev *d, const struct veld__envelope *envs,
                      size_t n, struct resp *r)
{
	struct batch none;
	msgpack_sbuffer body;
	uint8_t unused[16] = {0};
	batch_make(&none, d, 1, 0, "x", unused, 0);
	push_body(&body, &none, envs, n);
	call(f, d, "POST", "/v1/push", (uint8_t *)body.data, body.size, r);
	msgpack_sbuffer_destroy(&body);
}

static void assert_pushed(const struct resp *r, uint64_t acked, uint64_t stored)
{
	struct veld__push_resp m;
	struct veld__wire w;
	memset(&w, 0, sizeof w);
	if (r->status != 200)
		fail_msg("push answered %ld", r->status);
	assert_int_equal(veld__wire_push_resp_decode(&w, r->body, r->len, &m), VELD_OK);
	veld__wire_free(&w);
	assert_int_equal(m.acked, acked);
	assert_int_equal(m.stored, stored);
}

/* A raw TCP connection to the server (bounded waits). */
static int raw_connect(struct fx *f)
{
	struct sockaddr_in a;
	struct timeval tv = {10, 0};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons(f->port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	return fd;
}

static void raw_send(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
		if (k <= 0)
			fail_msg("send: %s", strerror(errno));
		c += k;
		n -= (size_t)k;
	}
}

/* Headers of a signed POST, with Content-Length `len`. */
static void raw_post_head(int fd, const struct dev *d, const char *path, const uint8_t *body,
                          size_t len)
{
	struct veld__auth_headers h;
	char head[1024];
	veld__auth_sign(&h, d->id, d->sign_sk, "POST", path, body, len);
	int n = snprintf(head, sizeof head,
	                 "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " VELD_CONTENT_TYPE
	                 "\r\nContent-Length: %zu\r\nVeld-Device: %s\r\nVeld-Time: %s\r\n"
	                 "Veld-Nonce: %s\r\nVeld-Signature: %s\r\n\r\n",
	                 path, len, h.device, h.time, h.nonce, h.signature);
	raw_send(fd, head, (size_t)n);
}

/* POST a chunked body of `total` bytes (cycling through `data`, n bytes)
 * on a raw socket; the status of the answer, or -1 if the server closed the
 * connection without one. */
static int chunked_upload(struct fx *f, const uint8_t *data, size_t n, size_t total)
{
	struct veld__auth_headers h;
	char head[1024], chunk[64], resp[512] = {0};
	size_t sent = 0, piece = 256 * 1024;
	int k, fd = raw_connect(f), status = -1;
	veld__auth_sign(&h, f->office.id, f->office.sign_sk, "POST", "/v1/push", data, n);
	k = snprintf(head, sizeof head,
	             "POST /v1/push HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
	             "Veld-Device: %s\r\nVeld-Time: %s\r\nVeld-Nonce: %s\r\n"
	             "Veld-Signature: %s\r\n\r\n", h.device, h.time, h.nonce, h.signature);
	raw_send(fd, head, (size_t)k);
	while (sent < total) {
		size_t m = total - sent < piece ? total - sent : piece;
		if (m > n)
			m = n;
		k = snprintf(chunk, sizeof chunk, "%zx\r\n", m);
		if (send(fd, chunk, (size_t)k, MSG_NOSIGNAL) != k ||
		    send(fd, data, m, MSG_NOSIGNAL) != (ssize_t)m ||
		    send(fd, "\r\n", 2, MSG_NOSIGNAL) != 2)
			break; /* the server closed the connection */
		sent += m;
	}
	if (sent == total)
		send(fd, "0\r\n\r\n", 5, MSG_NOSIGNAL);
	ssize_t got = recv(fd, resp, sizeof resp - 1, 0);
	if (got > 12 && strncmp(resp, "HTTP/1.1 ", 9) == 0)
		status = atoi(resp + 9);
	close(fd);
	return status;
}

static void wait_healthy(struct fx *f)
{
	struct resp r;
	for (int i = 0; i < 1000; i++) { /* 10 s: a loaded machine is slow */
		http(f, "GET", "/v1/health", NULL, 0, NULL, &r);
		long s = r.status;
		resp_free(&r);
		if (s == 200)
			return;
		usleep(10000);
	}
	fail_msg("the server did not become healthy again");
}

/* Sign with an explicit time (auth.c always uses now). */
static void sign_at(struct veld__auth_headers *h, const struct dev *d, uint64_t t_ms,
                    const char *method, const char *path, const uint8_t *body, size_t len)
{
	uint8_t bh[32], nonce[16], sig[64];
	char bhex[65], msg[4096];
	sodium_bin2hex(h->device, sizeof h->device, d->id, 16);
	snprintf(h->time, sizeof h->time, "%llu", (unsigned long long)t_ms);
	randombytes_buf(nonce, sizeof nonce);
	sodium_bin2hex(h->nonce, sizeof h->nonce, nonce, sizeof nonce);
	crypto_generichash(bh, 32, body, len, NULL, 0);
	sodium_bin2hex(bhex, sizeof bhex, bh, 32);
	int n = snprintf(msg, sizeof msg, "veld-req-v1\n%s\n%s\n%s\n%s\n%s", method, path, h->time,
	                 h->nonce, bhex);
	crypto_sign_detached(sig, NULL, (uint8_t *)msg, (size_t)n, d->sign_sk);
	sodium_bin2hex(h->signature, sizeof h->signature, sig, sizeof sig);
}

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- cmocka plumbing ----------------------------------------------------------- */

static int setup(void **state)
{
	struct fx *f = fx_new(0, 0);
	enroll_office(f);
	*state = f;
	return 0;
}

static int setup_fresh(void **state)
{
	*state = fx_new(0, 0);
	return 0;
}

static int teardown(void **state)
{
	fx_free(*state);
	return 0;
}

/* ---- tests ---------------------------------------------------------------------- */

static void test_server__health(void **state)
{
	struct fx *f = *state;
	struct resp r;
	http(f, "GET", "/v1/health", NULL, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.ctype, "application/json");
	assert_string_equal((char *)r.body, "{\"status\":\"ok\",\"version\":\"0.2.0\","
	                                    "\"own_runs\":true}");
	resp_free(&r);
}

/* The version health answers is the library's, not a copy of it. */
static void test_server__health_names_the_library_version(void **state)
{
	struct fx *f = *state;
	struct resp r;
	char want[64];
	snprintf(want, sizeof want, "{\"status\":\"ok\",\"version\":\"%d.%d.%d\",\"own_runs\":true}",
	         VELD_VERSION_MAJOR, VELD_VERSION_MINOR, VELD_VERSION_PATCH);
	http(f, "GET", "/v1/health", NULL, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal((char *)r.body, want);
	resp_free(&r);
}

static void test_server__unknown_endpoint_not_found(void **state)
{
	struct fx *f = *state;
	struct resp r;
	SNAPSHOT(f, before);
	http(f, "GET", "/v1/nope", NULL, 0, NULL, &r);
	assert_error(&r, 404, "not_found", NULL);
	resp_free(&r);
	call(f, &f->office, "POST", "/v1/health", (const uint8_t *)"", 0, &r);
	assert_error(&r, 404, "not_found", NULL);
	resp_free(&r);
	call(f, &f->office, "GET", "/v1/push", NULL, 0, &r);
	assert_error(&r, 404, "not_found", NULL);
	resp_free(&r);
	ASSERT_UNCHANGED(f, before);
}

static void test_server__setup_code_written_once(void **state)
{
	struct fx *f = *state;
	char path[400], buf[128];
	struct stat st;
	FILE *fp;
	snprintf(path, sizeof path, "%s/setup-code", f->data);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(path, sizeof path, "%s", f->data);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(path, sizeof path, "%s/setup-code", f->data);
	assert_non_null(fp = fopen(path, "r"));
	assert_non_null(fgets(buf, sizeof buf, fp));
	fclose(fp);
	buf[strcspn(buf, "\n")] = 0;
	assert_string_equal(buf, f->code);
	/* A restart before the office enrolls makes no new code. */
	veld_server_stop(f->srv);
	server_start(f, 0, 0);
	assert_null(veld_server_setup_code(f->srv));
	assert_int_equal(db_count(f, "invites"), 1);
	/* The database holds the code's auth only, never the code. */
	snprintf(path, sizeof path, "%s/server.db", f->data);
	enroll_office(f);
	snprintf(path, sizeof path, "%s/setup-code", f->data);
	assert_int_not_equal(stat(path, &st), 0); /* used up: removed */
}

static void test_server__enroll_code_reuse_refused(void **state)
{
	struct fx *f = *state;
	struct dev other;
	struct resp r;
	SNAPSHOT(f, before);
	dev_new(&other, "*");
	enroll(f, &other, f->code, &r); /* the setup code, used by setup() */
	assert_error(&r, 403, "bad_code", NULL);
	resp_free(&r);
	/* An unknown code too. */
	uint8_t code[VELD_CODE_BYTES];
	char text[VELD_CODE_TEXT_MAX];
	veld__code_new(code, text);
	enroll(f, &other, text, &r);
	assert_error(&r, 403, "bad_code", NULL);
	resp_free(&r);
	ASSERT_UNCHANGED(f, before);
	assert_int_equal(db_count(f, "devices"), 1);
}

static void test_server__worker_enroll_and_code_single_use(void **state)
{
	struct fx *f = *state;
	struct dev w1, w2;
	char code[VELD_CODE_TEXT_MAX];
	struct resp r;
	worker_code(f, &w1, "north", code);
	assert_int_equal(db_count(f, "devices"), 2);
	SNAPSHOT(f, before);
	/* The worker's code again, for another device. */
	dev_new(&w2, "north");
	enroll(f, &w2, code, &r);
	assert_error(&r, 403, "bad_code", NULL);
	resp_free(&r);
	/* An office-only call from a worker. */
	call(f, &w1, "GET", "/v1/devices", NULL, 0, &r);
	assert_error(&r, 403, "forbidden", NULL);
	resp_free(&r);
	ASSERT_UNCHANGED(f, before);
	/* The office lists both. */
	struct veld__devices_resp dl;
	struct veld__wire w;
	call(f, &f->office, "GET", "/v1/devices", NULL, 0, &r);
	assert_int_equal(r.status, 200);
	memset(&w, 0, sizeof w);
	assert_int_equal(veld__wire_devices_resp_decode(&w, r.body, r.len, &dl), VELD_OK);
	assert_int_equal(dl.ndevices, 2);
	veld__wire_free(&w);
	resp_free(&r);
}

static void test_server__malformed_body(void **state)
{
	struct fx *f = *state;
	struct resp r;
	static const uint8_t junk[] = "this is not msgpack";
	SNAPSHOT(f, before);
	call(f, &f->office, "POST", "/v1/push", junk, sizeof junk - 1, &r);
	assert_error(&r, 400, "malformed", NULL);
	resp_free(&r);
	/* A valid map with an unknown key. */
	msgpack_sbuffer b;
	msgpack_packer pk;
	msgpack_sbuffer_init(&b);
	msgpack_packer_init(&pk, &b, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	msgpack_pack_str_with_body(&pk, "v", 1);
	msgpack_pack_uint64(&pk, 1);
	msgpack_pack_str_with_body(&pk, "evil", 4);
	msgpack_pack_uint64(&pk, 1);
	call(f, &f->office, "POST", "/v1/revoke", (uint8_t *)b.data, b.size, &r);
	msgpack_sbuffer_destroy(&b);
	assert_error(&r, 400, "malformed", NULL);
	resp_free(&r);
	/* A bad query. */
	call(f, &f->office, "GET", "/v1/pull?after=1&after=2", NULL, 0, &r);
	assert_error(&r, 400, "malformed", NULL);
	resp_free(&r);
	call(f, &f->office, "GET", "/v1/pull?limit=0", NULL, 0, &r);
	assert_error(&r, 400, "malformed", NULL);
	resp_free(&r);
	ASSERT_UNCHANGED(f, before);
}

static void test_server__truncated_body(void **state)
{
	struct fx *f = *state;
	struct batch b;
	struct resp r;
	msgpack_sbuffer body;
	uint8_t client[16];
	SNAPSHOT(f, before);
	randombytes_buf(client, 16);
	batch_make(&b, &f->office, 1, 3, "north", client, 1);
	push_body(&body, &b, NULL, 0);
	/* Cut short but signed as it is: the decoder refuses it. */
	call(f, &f->office, "POST", "/v1/push", (uint8_t *)body.data, body.size - 5, &r);
	assert_error(&r, 400, "malformed", NULL);
	resp_free(&r);
	/* Cut short on the wire: Content-Length promises more than comes. */
	int fd = raw_connect(f);
	raw_post_head(fd, &f->office, "/v1/push", (uint8_t *)body.data, body.size);
	raw_send(fd, body.data, body.size / 2);
	shutdown(fd, SHUT_WR);
	char buf[256];
	while (recv(fd, buf, sizeof buf, 0) > 0)
		;
	close(fd);
	msgpack_sbuffer_destroy(&body);
	wait_healthy(f);
	ASSERT_UNCHANGED(f, before);
}

static void test_server__oversized_body(void **state)
{
	struct fx *f = *state;
	size_t n = VELD_WIRE_MAX_BODY + 1;
	uint8_t *big = malloc(n);
	struct resp r;
	assert_non_null(big);
	memset(big, 0x91, n);
	SNAPSHOT(f, before);
	/* Content-Length above the limit: refused before the upload. */
	call(f, &f->office, "POST", "/v1/push", big, n, &r);
	assert_error(&r, 413, "too_large", NULL);
	resp_free(&r);
	/* No Content-Length (chunked): refused once it passes the limit. */
	assert_int_equal(chunked_upload(f, big, n, n), 413);
	/* A chunked body that goes on and on loses its connection. */
	assert_int_equal(chunked_upload(f, big, n, 64u << 20), -1);
	free(big);
	wait_healthy(f);
	ASSERT_UNCHANGED(f, before);
}

static void test_server__unsigned_request(void **state)
{
	struct fx *f = *state;
	struct resp r;
	struct veld__auth_headers h;
	SNAPSHOT(f, before);
	http(f, "GET", "/v1/devices", NULL, 0, NULL, &r);
	assert_error(&r, 401, "unauthenticated", NULL);
	resp_free(&r);
	/* A malformed header (short signature). */
	veld__auth_sign(&h, f->office.id, f->office.sign_sk, "GET", "/v1/devices", NULL, 0);
	h.signature[100] = 0;
	http(f, "GET", "/v1/devices", NULL, 0, &h, &r);
	assert_error(&r, 401, "unauthenticated", NULL);
	resp_free(&r);
	ASSERT_UNCHANGED(f, before);
}

static void test_server__unknown_device(void **state)
{
	struct fx *f = *state;
	struct dev stranger;
	struct resp r;
	SNAPSHOT(f, before);
	dev_new(&stranger, "north");
	call(f, &stranger, "GET", "/v1/pull", NULL, 0, &r);
	assert_error(&r, 401, "unknown_device", NULL);
	resp_free(&r);
	ASSERT_UNCHANGED(f, before);
}

static void test_server__forged_signature(void **state)
{
	struct fx *f = *state;
	struct dev forger;
	struct veld__auth_headers h;
	struct resp r;
	SNAPSHOT(f, before);
	/* The office's id, another key. */
	dev_new(&forger, "*");
	memcpy(forger.id, f->office.id, 16);
	call(f, &forger, "GET", "/v1/devices", NULL, 0, &r);
	assert_error(&r, 401, "bad_signature", NULL);
	resp_free(&r);
	/* Signed for one body, sent with another. */
	static const uint8_t a[] = {0x81, 0xa1, 'v', 0x01}, b[] = {0x81, 0xa1, 'v', 0x02};
	veld__auth_sign(&h, f->office.id, f->office.sign_sk, "POST", "/v1/revoke", a, sizeof a);
	http(f, "POST", "/v1/revoke", b, sizeof b, &h, &r);
	assert_error(&r, 401, "bad_signature", NULL);
	resp_free(&r);
	/* Signed for one path, sent to another. */
	veld__auth_sign(&h, f->office.id, f->office.sign_sk, "GET", "/v1/pull?after=0", NULL, 0);
	http(f, "GET", "/v1/pull?after=9", NULL, 0, &h, &r);
	assert_error(&r, 401, "bad_signature", NULL);
	resp_free(&r);
	ASSERT_UNCHANGED(f, before);
}

static void test_server__stale_time(void **state)
{
	struct fx *f = *state;
	struct veld__auth_headers h;
	struct resp r;
	SNAPSHOT(f, before);
	sign_at(&h, &f->office, wall_ms() - 301 * 1000, "GET", "/v1/devices", NULL, 0);
	http(f, "GET", "/v1/devices", NULL, 0, &h, &r);
	assert_error(&r, 401, "stale", NULL);
	resp_free(&r);
	sign_at(&h, &f->office, wall_ms() + 301 * 1000, "GET", "/v1/devices", NULL, 0);
	http(f, "GET", "/v1/devices", NULL, 0, &h, &r);
	assert_error(&r, 401, "stale", NULL);
	resp_free(&r);
	ASSERT_UNCHANGED(f, before);
	/* Inside the window is fine. */
	sign_at(&h, &f->office, wall_ms() - 200 * 1000, "GET", "/v1/devices", NULL, 0);
	http(f, "GET", "/v1/devices", NULL, 0, &h, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
}

static void test_server__replayed_nonce(void **state)
{
	struct fx *f = *state;
	struct veld__auth_headers h;
	struct batch b;
	struct resp r;
	msgpack_sbuffer body;
	uint8_t client[16];
	randombytes_buf(client, 16);
	batch_make(&b, &f->office, 1, 2, "north", client, 1);
	push_body(&body, &b, NULL, 0);
	veld__auth_sign(&h, f->office.id, f->office.sign_sk, "POST", "/v1/push",
	                (uint8_t *)body.data, body.size);
	http(f, "POST", "/v1/push", (uint8_t *)body.data, body.size, &h, &r);
	assert_pushed(&r, 2, 2);
	resp_free(&r);
	SNAPSHOT(f, before);
	http(f, "POST", "/v1/push", (uint8_t *)body.data, body.size, &h, &r);
	assert_error(&r, 409, "replay", NULL);
	resp_free(&r);
	/* Same nonce on another request of the same device. */
	msgpack_sbuffer_destroy(&body);
	ASSERT_UNCHANGED(f, before);
}

static void test_server__revoked_device(void **state)
{
	struct fx *f = *state;
	struct dev w1;
	struct resp r;
	msgpack_sbuffer b;
	struct veld__revoke_req m;
	struct veld__revoke_resp rr;
	struct veld__wire w;
	worker(f, &w1, "north");
	memcpy(m.device, w1.id, 16);
	msgpack_sbuffer_init(&b);
	assert_int_equal(veld__wire_revoke_req_encode(&b, &m), VELD_OK);
	call(f, &f->office, "POST", "/v1/revoke", (uint8_t *)b.data, b.size, &r);
	msgpack_sbuffer_destroy(&b);
	assert_int_equal(r.status, 200);
	memset(&w, 0, sizeof w);
	assert_int_equal(veld__wire_revoke_resp_decode(&w, r.body, r.len, &rr), VELD_OK);
	veld__wire_free(&w);
	assert_string_equal(rr.team, "north");
	resp_free(&r);

	SNAPSHOT(f, before);
	call(f, &w1, "GET", "/v1/pull", NULL, 0, &r);
	assert_error(&r, 403, "revoked", NULL);
	resp_free(&r);
	struct batch bt;
	uint8_t client[16];
	randombytes_buf(client, 16);
	batch_make(&bt, &w1, 1, 1, "north", client, 1);
	push(f, &w1, &bt, &r);
	assert_error(&r, 403, "revoked", NULL);
	resp_free(&r);
	/* Even with a fresh enrollment code, the id stays revoked. */
	enroll(f, &w1, f->code, &r);
	assert_error(&r, 403, "revoked", NULL);
	resp_free(&r);
	ASSERT_UNCHANGED(f, before);
}

static void test_server__push_gap(void **state)
{
	struct fx *f = *state;
	struct dev w1;
	struct batch b;
	struct resp r;
	uint64_t expected = 0;
	uint8_t client[16];
	worker(f, &w1, "north");
	randombytes_buf(client, 16);
	SNAPSHOT(f, before);
	batch_make(&b, &w1, 3, 2, "north", client, 1);
	push(f, &w1, &b, &r);
	assert_error(&r, 409, "gap", &expected);
	assert_int_equal(expected, 1);
	resp_free(&r);
	ASSERT_UNCHANGED(f, before);
	batch_make(&b, &w1, 1, 2, "north", client, 1);
	push(f, &w1, &b, &r);
	assert_pushed(&r, 2, 0 + 2);
	resp_free(&r);
	batch_make(&b, &w1, 5, 1, "north", client, 1);
	push(f, &w1, &b, &r);
	assert_error(&r, 409, "gap", &expected);
	assert_int_equal(expected, 3);
	resp_free(&r);
}

static void test_server__equivocation(void **state)
{
	struct fx *f = *state;
	struct dev w1;
	struct batch b;
	struct resp r;
	uint8_t client[16];
	worker(f, &w1, "north");
	randombytes_buf(client, 16);
	batch_make(&b, &w1, 1, 3, "north", client, 1);
	push(f, &w1, &b, &r);
	assert_pushed(&r, 3, 3);
	resp_free(&r);
	SNAPSHOT(f, before);
	/* seq 2..4 where 2 and 3 differ from what is stored (validly signed). */
	batch_make(&b, &w1, 2, 3, "north", client, 2);
	push(f, &w1, &b, &r);
	assert_error(&r, 409, "equivocation", NULL);
	resp_free(&r);
	ASSERT_UNCHANGED(f, before);
}

static void test_server__bad_batch_signature(void **state)
{
	struct fx *f = *state;
	struct dev w1;
	struct batch b;
	struct resp r;
	uint8_t client[16];
	worker(f, &w1, "north");
	randombytes_buf(client, 16);
	SNAPSHOT(f, before);
	batch_make(&b, &w1, 1, 3, "north", client, 1);
	b.sig[0] ^= 1;
	push(f, &w1, &b, &r);
	assert_error(&r, 409, "bad_batch", NULL);
	resp_free(&r);
	/* A signature by another key. */
	struct dev other;
	dev_new(&other, "north");
	batch_make(&b, &other, 1, 3, "north", client, 1);
	for (size_t i = 0; i < b.n; i++) {
		memcpy(b.ops[i].device, w1.id, 16);
		veld__op_hash(&b.ops[i]);
	}
	push(f, &w1, &b, &r);
	assert_error(&r, 409, "bad_batch", NULL);
	resp_free(&r);
	/* An op changed after signing: its recomputed hash breaks the signature. */
	batch_make(&b, &w1, 1, 3, "north", client, 1);
	b.ops[1].hlc++;
	push(f, &w1, &b, &r);
	assert_error(&r, 409, "bad_batch", NULL);
	resp_free(&r);
	/* Ops of another device in my batch. */
	batch_make(&b, &other, 1, 2, "north", client, 1);
	push(f, &w1, &b, &r);
	assert_error(&r, 409, "bad_batch", NULL);
	resp_free(&r);
	ASSERT_UNCHANGED(f, before);
}

static void test_server__other_team_client_forbidden(void **state)
{
	struct fx *f = *state;
	struct dev north, south;
	struct batch b;
	struct resp r;
	uint8_t client_s[16];
	worker(f, &north, "north");
	worker(f, &south, "south");
	randombytes_buf(client_s, 16);
	batch_make(&b, &south, 1, 1, "south", client_s, 1);
	push(f, &south, &b, &r);
	assert_pushed(&r, 1, 1);
	resp_free(&r);

	SNAPSHOT(f, before);
	/* A north worker writing a south operation. */
	batch_make(&b, &north, 1, 1, "south", client_s, 1);
	push(f, &north, &b, &r);
	assert_error(&r, 403, "forbidden", NULL);
	resp_free(&r);
	/* ... or claiming the south client for north. */
	batch_make(&b, &north, 1, 1, "north", client_s, 1);
	push(f, &north, &b, &r);
	assert_error(&r, 403, "forbidden", NULL);
	resp_free(&r);
	/* ... or sending a key envelope to the south team (its own, signed). */
	uint8_t fresh[16];
	randombytes_buf(fresh, 16);
	struct veld__envelope env = envelope(&north, fresh, "team:south", 1);
	msgpack_sbuffer body;
	batch_make(&b, &north, 1, 0, "north", client_s, 1);
	push_body(&body, &b, &env, 1);
	call(f, &north, "POST", "/v1/push", (uint8_t *)body.data, body.size, &r);
	msgpack_sbuffer_destroy(&body);
	assert_error(&r, 403, "forbidden", NULL);
	resp_free(&r);
	/* Even the office cannot move a client to another team. */
	batch_make(&b, &f->office, 1, 1, "north", client_s, 1);
	push(f, &f->office, &b, &r);
	assert_error(&r, 403, "forbidden", NULL);
	resp_free(&r);
	ASSERT_UNCHANGED(f, before);
}

static void test_server__idempotent_repush(void **state)
{
	struct fx *f = *state;
	struct dev w1;
	struct batch b;
	struct resp r;
	uint8_t client[16];
	worker(f, &w1, "north");
	randombytes_buf(client, 16);
	batch_make(&b, &w1, 1, 3, "north", client, 1);
	push(f, &w1, &b, &r);
	assert_pushed(&r, 3, 3);
	resp_free(&r);
	long long feed = db_count(f, "feed"), batches = db_count(f, "batches");
	push(f, &w1, &b, &r); /* the same batch, a new request */
	assert_pushed(&r, 3, 0);
	resp_free(&r);
	assert_int_equal(db_count(f, "feed"), feed);
	assert_int_equal(db_count(f, "batches"), batches);
	/* Overlapping: 2..5 stores 4 and 5 only. */
	batch_make(&b, &w1, 2, 4, "north", client, 1);
	push(f, &w1, &b, &r);
	assert_pushed(&r, 5, 2);
	resp_free(&r);
	assert_int_equal(db_count(f, "feed"), feed + 2);
	/* Envelopes alone. */
	struct veld__envelope env = envelope(&w1, client, "team:north", 1);
	msgpack_sbuffer body;
	batch_make(&b, &w1, 1, 0, "north", client, 1);
	push_body(&body, &b, &env, 1);
	call(f, &w1, "POST", "/v1/push", (uint8_t *)body.data, body.size, &r);
	assert_pushed(&r, 5, 0);
	resp_free(&r);
	call(f, &w1, "POST", "/v1/push", (uint8_t *)body.data, body.size, &r);
	assert_pushed(&r, 5, 0);
	resp_free(&r);
	msgpack_sbuffer_destroy(&body);
	assert_int_equal(db_count(f, "envelopes"), 1);
}

/* The batch of a page that holds (device, seq); fails if there is none. */
static const struct veld__batch *batch_of(const struct veld__pull_resp *p, const uint8_t dev[16],
                                          uint64_t seq)
{
	for (size_t j = 0; j < p->nbatches; j++)
		if (memcmp(p->batches[j].device, dev, 16) == 0 && p->batches[j].first <= seq &&
		    seq <= p->batches[j].last)
			return &p->batches[j];
	fail_msg("an item of the page has no batch");
	return NULL;
}

static const uint8_t *batch_hash(const struct veld__batch *b, uint64_t seq)
{
	return b->hashes + 32 * (seq - b->first);
}

/* The hash a stub stands for: a version 2 operation's from its kh layer; a
 * version 1 operation's is its kh. */
static void stub_hash(const struct veld__stub *x, uint64_t ver, uint8_t out[32])
{
	if (ver >= 2)
		veld__op_hash2(x->team, x->client, x->kh, out);
	else
		memcpy(out, x->kh, 32);
}

/* The hash a held entry stands for, from its rh layer. */
static void held_hash(const struct veld__held *x, uint8_t out[32])
{
	uint8_t kh[32];
	veld__op_kind_hash(x->kind, x->field, x->rh, kh);
	veld__op_hash2(x->team, x->client, kh, out);
}

/* Check a pull page the way a device does: every op's hash, and the hash
 * every stub and held entry recomputes to, is in its batch; every batch
 * signature verifies, as its version signs, with the key the office
 * certified for its author (the page carries none); `next` is the last
 * cursor of the feed's items. */
static void verify_page(const struct fx *f, const struct veld__pull_resp *p)
{
	uint64_t last = 0;
	for (size_t i = 0; i < p->nops; i++) {
		veld__op op = p->ops[i];
		const struct veld__batch *b = batch_of(p, op.device, op.seq);
		veld__op_hash(&op);
		assert_int_equal(op.version, b->ver);
		assert_memory_equal(batch_hash(b, op.seq), op.hash, 32);
		last = p->cursors[i] > last ? p->cursors[i] : last;
	}
	for (size_t i = 0; i < p->nstubs; i++) {
		const struct veld__stub *x = &p->stubs[i];
		const struct veld__batch *b = batch_of(p, x->device, x->seq);
		uint8_t h[32];
		stub_hash(x, b->ver, h);
		assert_memory_equal(batch_hash(b, x->seq), h, 32);
		last = p->stub_cursors[i] > last ? p->stub_cursors[i] : last;
	}
	for (size_t i = 0; i < p->nheld; i++) {
		const struct veld__held *x = &p->held[i];
		const struct veld__batch *b = batch_of(p, x->device, x->seq);
		uint8_t h[32];
		assert_int_equal(b->ver, 2);
		held_hash(x, h);
		assert_memory_equal(batch_hash(b, x->seq), h, 32);
		last = p->held_cursors[i] > last ? p->held_cursors[i] : last;
	}
	for (size_t i = 0; i < p->nown; i++)
		last = p->own_cursors[i] > last ? p->own_cursors[i] : last;
	for (size_t j = 0; j < p->nbatches; j++) {
		const struct veld__batch *b = &p->batches[j];
		const uint8_t *pk = dev_key(f, b->device);
		uint8_t msg[77];
		assert_non_null(pk);
		veld__batch_digest(msg, (uint32_t)b->ver, b->device, b->first, b->last, b->hashes,
		                   b->last - b->first + 1);
		assert_int_equal(crypto_sign_verify_detached(b->sig, msg, sizeof msg, pk), 0);
	}
	if (p->nops + p->nstubs + p->nheld + p->nown)
		assert_int_equal(p->next, last);
}

/* The seqs of `d` a page shows, whole, as stubs or held: a bit each. */
static uint64_t page_seqs(const struct veld__pull_resp *p, const struct dev *d)
{
	uint64_t bits = 0;
	for (size_t i = 0; i < p->nops; i++)
		if (memcmp(p->ops[i].device, d->id, 16) == 0 && p->ops[i].seq < 64)
			bits |= 1ull << p->ops[i].seq;
	for (size_t i = 0; i < p->nstubs; i++)
		if (memcmp(p->stubs[i].device, d->id, 16) == 0 && p->stubs[i].seq < 64)
			bits |= 1ull << p->stubs[i].seq;
	for (size_t i = 0; i < p->nheld; i++)
		if (memcmp(p->held[i].device, d->id, 16) == 0 && p->held[i].seq < 64)
			bits |= 1ull << p->held[i].seq;
	return bits;
}

/* Seqs 1..n as page_seqs shows them. */
#define SEQS(n) ((((1ull << (n)) - 1)) << 1)

/* A pull page, checked as a device checks it. */
static void pull_page(struct fx *f, const struct dev *d, const char *path,
                      struct veld__wire *w, struct veld__pull_resp *p, struct resp *r)
{
	call(f, d, "GET", path, NULL, 0, r);
	if (r->status != 200)
		fail_msg("%s answered %ld", path, r->status);
	memset(w, 0, sizeof *w);
	if (veld__wire_pull_resp_decode(w, r->body, r->len, p) != VELD_OK)
		fail_msg("pull page does not decode: %s", veld_error_last());
	verify_page(f, p);
}

/* own=1: the puller's own operations come back as runs, each shown by the
 * digest of its hashes, without their batches; a run breaks only at a
 * page's end; others' operations come as before. */
static void test_server__pull_own_operations_as_runs(void **state)
{
	struct fx *f = *state;
	struct dev w1, w2;
	struct batch b1, b2, o;
	struct resp r;
	struct veld__pull_resp p;
	struct veld__wire w;
	uint8_t c1[16], c2[16], hashes[6 * 32], d[32];
	static const uint64_t runs[3][2] = {{1, 3}, {4, 4}, {5, 6}};
	uint64_t after = 0;
	char path[128];
	worker(f, &w1, "north");
	worker(f, &w2, "north");
	randombytes_buf(c1, 16);
	randombytes_buf(c2, 16);
	batch_make(&b1, &w1, 1, 4, "north", c1, 1);
	push(f, &w1, &b1, &r);
	resp_free(&r);
	batch_make(&o, &w2, 1, 2, "north", c2, 2); /* another author's between */
	push(f, &w2, &o, &r);
	resp_free(&r);
	batch_make(&b2, &w1, 5, 2, "north", c1, 3);
	push(f, &w1, &b2, &r);
	resp_free(&r);
	for (int i = 0; i < 6; i++)
		memcpy(hashes + 32 * i, i < 4 ? b1.ops[i].hash : b2.ops[i - 4].hash, 32);

	pull_page(f, &w1, "/v1/pull?after=0&own=1", &w, &p, &r);
	assert_int_equal(p.nown, 1);
	assert_int_equal(p.own[0].from, 1);
	assert_int_equal(p.own[0].to, 6);
	veld__own_run_digest(hashes, 6, d);
	assert_memory_equal(p.own[0].d, d, 32);
	assert_int_equal(p.nops, 2); /* w2's, with their batch only */
	assert_memory_equal(p.ops[0].device, w2.id, 16);
	assert_int_equal(p.nbatches, 1);
	assert_memory_equal(p.batches[0].device, w2.id, 16);
	assert_true(p.own_cursors[0] > p.cursors[1]);
	assert_int_equal(p.next, p.own_cursors[0]);
	veld__wire_free(&w);
	resp_free(&r);

	/* Three rows a page: the runs end with the pages. */
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof path, "/v1/pull?after=%llu&own=1&limit=3",
		         (unsigned long long)after);
		pull_page(f, &w1, path, &w, &p, &r);
		assert_int_equal(p.nown, 1);
		assert_int_equal(p.own[0].from, runs[i][0]);
		assert_int_equal(p.own[0].to, runs[i][1]);
		veld__own_run_digest(hashes + 32 * (runs[i][0] - 1),
		                     (size_t)(runs[i][1] - runs[i][0] + 1), d);
		assert_memory_equal(p.own[0].d, d, 32);
		assert_int_equal(p.more, i < 2);
		after = p.next;
		veld__wire_free(&w);
		resp_free(&r);
	}

	/* Another device sees them whole; without own=1, so does their author. */
	pull_page(f, &w2, "/v1/pull?after=0&own=1", &w, &p, &r);
	assert_int_equal(p.nops, 6);
	assert_int_equal(p.nown, 1);
	veld__wire_free(&w);
	resp_free(&r);
	pull_page(f, &w1, "/v1/pull?after=0", &w, &p, &r);
	assert_int_equal(p.nops, 8);
	assert_int_equal(p.nown, 0);
	veld__wire_free(&w);
	resp_free(&r);
	call(f, &w1, "GET", "/v1/pull?own=2", NULL, 0, &r);
	assert_error(&r, 400, "malformed", NULL);
	resp_free(&r);
	call(f, &w1, "GET", "/v1/pull?own=1&own=1", NULL, 0, &r);
	assert_error(&r, 400, "malformed", NULL);
	resp_free(&r);
}

static void test_server__pull_by_team(void **state)
{
	struct fx *f = *state;
	struct dev north, south;
	struct batch b;
	struct resp r;
	struct veld__pull_resp p;
	struct veld__wire w;
	uint8_t cn[16], cs[16];
	worker(f, &north, "north");
	worker(f, &south, "south");
	randombytes_buf(cn, 16);
	randombytes_buf(cs, 16);
	batch_make(&b, &north, 1, 4, "north", cn, 1);
	push(f, &north, &b, &r);
	assert_pushed(&r, 4, 4);
	resp_free(&r);
	batch_make(&b, &south, 1, 2, "south", cs, 1);
	push(f, &south, &b, &r);
	assert_pushed(&r, 2, 2);
	resp_free(&r);
	batch_make(&b, &f->office, 1, 2, "south", cs, 3);
	push(f, &f->office, &b, &r);
	assert_pushed(&r, 2, 2);
	resp_free(&r);

	/* south: its own two and the office's two, in arrival order. */
	call(f, &south, "GET", "/v1/pull?after=0&env_after=0&limit=3", NULL, 0, &r);
	assert_int_equal(r.status, 200);
	memset(&w, 0, sizeof w);
	assert_int_equal(veld__wire_pull_resp_decode(&w, r.body, r.len, &p), VELD_OK);
	assert_int_equal(p.nops, 3);
	assert_true(p.more);
	for (size_t i = 0; i < p.nops; i++)
		assert_string_equal(p.ops[i].team, "south");
	assert_true(p.cursors[0] < p.cursors[1] && p.cursors[1] < p.cursors[2]);
	assert_int_equal(p.nstubs + p.nheld, 0);
	verify_page(f, &p);
	uint64_t next = p.next;
	veld__wire_free(&w);
	resp_free(&r);
	char path[128];
	snprintf(path, sizeof path, "/v1/pull?after=%llu", (unsigned long long)next);
	call(f, &south, "GET", path, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(veld__wire_pull_resp_decode(&w, r.body, r.len, &p), VELD_OK);
	assert_int_equal(p.nops, 1);
	assert_false(p.more);
	verify_page(f, &p);
	veld__wire_free(&w);
	resp_free(&r);

	/* north: its own four; the office's two of south as stubs; nothing of
	 * the south worker, which shares no batch with it. */
	pull_page(f, &north, "/v1/pull", &w, &p, &r);
	assert_int_equal(p.nops, 4);
	assert_int_equal(p.nstubs, 2);
	assert_memory_equal(p.stubs[0].device, f->office.id, 16);
	assert_string_equal(p.stubs[0].team, "south");
	assert_int_equal(page_seqs(&p, &south), 0);
	veld__wire_free(&w);
	resp_free(&r);

	/* The office: everything. */
	call(f, &f->office, "GET", "/v1/pull", NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(veld__wire_pull_resp_decode(&w, r.body, r.len, &p), VELD_OK);
	assert_int_equal(p.nops, 8);
	assert_int_equal(p.nstubs + p.nheld, 0);
	assert_false(p.more);
	verify_page(f, &p);
	veld__wire_free(&w);
	resp_free(&r);
}

static void test_server__pull_envelopes_and_team_keys(void **state)
{
	struct fx *f = *state;
	struct dev north, south;
	struct veld__pull_resp p;
	struct veld__wire w;
	struct resp r;
	uint8_t cn[16];
	worker(f, &north, "north");
	worker(f, &south, "south");
	randombytes_buf(cn, 16);

	struct veld__envelope e[2] = {envelope(&north, cn, "team:north", 1),
	                              envelope(&north, cn, "office", 0)};
	push_envs(f, &north, e, 2, &r);
	assert_pushed(&r, 0, 0);
	resp_free(&r);

	/* The office seals team key version 2 to the north worker. */
	struct veld__team_keys_req tk;
	msgpack_sbuffer b;
	memset(&tk, 0, sizeof tk);
	snprintf(tk.team, sizeof tk.team, "north");
	tk.tv = 2;
	memset(tk.pk, 2, sizeof tk.pk);
	team_key_sign(&tk, &f->office);
	struct veld__sealed_for sf;
	memcpy(sf.device, north.id, 16);
	memset(sf.sealed, 0x5e, sizeof sf.sealed);
	tk.sealed = &sf;
	tk.nsealed = 1;
	msgpack_sbuffer_init(&b);
	assert_int_equal(veld__wire_team_keys_req_encode(&b, &tk), VELD_OK);
	call(f, &f->office, "POST", "/v1/team-keys", (uint8_t *)b.data, b.size, &r);
	msgpack_sbuffer_destroy(&b);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	/* Sealing it to a device of another team is refused. */
	SNAPSHOT(f, before);
	memcpy(sf.device, south.id, 16);
	msgpack_sbuffer_init(&b);
	assert_int_equal(veld__wire_team_keys_req_encode(&b, &tk), VELD_OK);
	call(f, &f->office, "POST", "/v1/team-keys", (uint8_t *)b.data, b.size, &r);
	msgpack_sbuffer_destroy(&b);
	assert_error(&r, 403, "forbidden", NULL);
	resp_free(&r);
	ASSERT_UNCHANGED(f, before);

	pull_page(f, &north, "/v1/pull", &w, &p, &r);
	assert_int_equal(p.nenvs, 1);
	assert_string_equal(p.envs[0].to, "team:north");
	assert_memory_equal(p.envs[0].sealed, e[0].sealed, sizeof e[0].sealed);
	assert_int_equal(p.env_next, p.env_cursors[0]);
	/* With its sealer and signature, as a device checks it. */
	assert_memory_equal(p.envs[0].from, north.id, 16);
	assert_int_equal(veld__envelope_sig_verify(north.sign_pk, p.envs[0].from, p.envs[0].client,
	                                           p.envs[0].kv, p.envs[0].to, p.envs[0].tv,
	                                           p.envs[0].sealed, p.envs[0].sig), 0);
	assert_int_equal(p.nteam_keys, 1);
	assert_string_equal(p.team_keys[0].team, "north");
	assert_int_equal(p.team_keys[0].tv, 2);
	/* With the office's signature, as a device checks it. */
	assert_int_equal(veld__team_key_sig_verify(f->office.sign_pk, "north", 2, p.team_keys[0].pk,
	                                           p.team_keys[0].sig), 0);
	uint64_t env_next = p.env_next;
	veld__wire_free(&w);
	resp_free(&r);
	char path[128];
	snprintf(path, sizeof path, "/v1/pull?env_after=%llu", (unsigned long long)env_next);
	pull_page(f, &north, path, &w, &p, &r);
	assert_int_equal(p.nenvs, 0);
	assert_int_equal(p.env_next, env_next);
	veld__wire_free(&w);
	resp_free(&r);

	pull_page(f, &south, "/v1/pull", &w, &p, &r);
	assert_int_equal(p.nenvs, 0);
	assert_int_equal(p.nteam_keys, 0);
	veld__wire_free(&w);
	resp_free(&r);

	pull_page(f, &f->office, "/v1/pull", &w, &p, &r);
	assert_int_equal(p.nenvs, 1);
	assert_string_equal(p.envs[0].to, "office");
	veld__wire_free(&w);
	resp_free(&r);
}

struct pusher {
	struct fx *f;
	struct dev d;
	int rounds, failures;
};

static void *pusher_run(void *arg)
{
	struct pusher *p = arg;
	struct fx mine = *p->f; /* its own curl handle; same server */
	uint8_t client[16];
	mine.curl = curl_easy_init();
	randombytes_buf(client, 16);
	for (int i = 0; i < p->rounds; i++) {
		struct batch b;
		struct resp r;
		batch_make(&b, &p->d, 1 + 3 * (uint64_t)i, 3, p->d.team, client, 1);
		msgpack_sbuffer body;
		push_body(&body, &b, NULL, 0);
		struct veld__auth_headers h;
		veld__auth_sign(&h, p->d.id, p->d.sign_sk, "POST", "/v1/push", (uint8_t *)body.data,
		                body.size);
		if (http_raw(&mine, "POST", "/v1/push", (uint8_t *)body.data, body.size, &h, &r) !=
		        CURLE_OK || r.status != 200)
			p->failures++;
		msgpack_sbuffer_destroy(&body);
		resp_free(&r);
	}
	curl_easy_cleanup(mine.curl);
	return NULL;
}

static void test_server__concurrent_pushes(void **state)
{
	struct fx *f = *state;
	enum { N = 6, ROUNDS = 15 };
	struct pusher ps[N];
	pthread_t th[N];
	static const char *const teams[] = {"north", "south", "east"};
	for (int i = 0; i < N; i++) {
		ps[i].f = f;
		ps[i].rounds = ROUNDS;
		ps[i].failures = 0;
		worker(f, &ps[i].d, teams[i % 3]);
	}
	for (int i = 0; i < N; i++)
		assert_int_equal(pthread_create(&th[i], NULL, pusher_run, &ps[i]), 0);
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(ps[i].failures, 0);
	}
	assert_int_equal(db_count(f, "feed"), N * ROUNDS * 3);
	assert_int_equal(db_count(f, "ops"), N * ROUNDS * 3);
	/* The office pages through everything in cursor order. */
	uint64_t after = 0, seen = 0, last = 0;
	for (int page = 0; page < 100; page++) {
		struct veld__pull_resp p;
		struct veld__wire w;
		struct resp r;
		char path[128];
		snprintf(path, sizeof path, "/v1/pull?after=%llu&limit=40", (unsigned long long)after);
		pull_page(f, &f->office, path, &w, &p, &r);
		for (size_t i = 0; i < p.nops; i++) {
			assert_true(p.cursors[i] > last);
			last = p.cursors[i];
		}
		seen += p.nops;
		after = p.next;
		int more = p.more;
		veld__wire_free(&w);
		resp_free(&r);
		if (!more)
			break;
	}
	assert_int_equal(seen, N * ROUNDS * 3);
}

static void *stop_run(void *arg)
{
	veld_server_stop(arg);
	return NULL;
}

static void test_server__stop_drains_in_flight(void **state)
{
	struct fx *f = *state;
	struct batch b;
	msgpack_sbuffer body;
	uint8_t client[16];
	pthread_t th;
	char resp[512] = {0};
	randombytes_buf(client, 16);
	batch_make(&b, &f->office, 1, 4, "north", client, 1);
	push_body(&body, &b, NULL, 0);
	/* A push whose body is half sent when the server is told to stop. */
	int fd = raw_connect(f);
	raw_post_head(fd, &f->office, "/v1/push", (uint8_t *)body.data, body.size);
	raw_send(fd, body.data, body.size / 2);
	usleep(100 * 1000);
	assert_int_equal(pthread_create(&th, NULL, stop_run, f->srv), 0);
	usleep(200 * 1000);
	raw_send(fd, body.data + body.size / 2, body.size - body.size / 2);
	ssize_t got = recv(fd, resp, sizeof resp - 1, 0);
	close(fd);
	pthread_join(th, NULL);
	f->srv = NULL;
	msgpack_sbuffer_destroy(&body);
	assert_true(got > 0);
	assert_non_null(strstr(resp, " 200 "));
	/* It was stored, and the database closed cleanly. */
	server_start(f, 0, 0);
	struct resp r;
	push(f, &f->office, &b, &r);
	assert_pushed(&r, 4, 0);
	resp_free(&r);
}

/* A pull reads a snapshot on a reader connection of its own: it neither
 * waits for nor fails on a write in progress (here another connection
 * holds server.db's write lock with an uncommitted change, as a long push
 * does), it does not see that change, and its nonce goes to nonces.db,
 * which the lock does not cover. The office's authentication reads there
 * too. Before readers, this pull waited out the busy timeout and failed.
 * On PostgreSQL the write in progress holds what a push of the driver
 * holds: its write lock (the advisory lock VELD__PG_LOCK_WRITE,
 * server_sql.h) and the rows it changed; a push sent meanwhile waits. */

static void test_server__pull_does_not_wait_for_a_write(void **state)
{
	struct fx *f = *state;
	struct batch b;
	struct resp r;
	struct veld__pull_resp p;
	struct veld__wire w;
	uint8_t client[16];
	char path[400], answer[512] = {0};
	sqlite3 *db = NULL;
	veld_test_pg_hold *hold = NULL;
	msgpack_sbuffer body;
	int fd = -1;
	randombytes_buf(client, 16);
	batch_make(&b, &f->office, 1, 3, "north", client, 1);
	push(f, &f->office, &b, &r);
	assert_pushed(&r, 3, 3);
	resp_free(&r);

	if (f->db[0]) {
		hold = veld_test_pg_begin(f->db, "SELECT pg_advisory_xact_lock(" VELD__PG_LOCK_WRITE ");"
		                                 " DELETE FROM feed");
		batch_make(&b, &f->office, 4, 1, "north", client, 1);
		push_body(&body, &b, NULL, 0);
		fd = raw_connect(f);
		raw_post_head(fd, &f->office, "/v1/push", (uint8_t *)body.data, body.size);
		raw_send(fd, body.data, body.size);
		msgpack_sbuffer_destroy(&body);
	} else {
		snprintf(path, sizeof path, "%s/server.db", f->data);
		assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE; DELETE FROM feed;", NULL, NULL,
		                              NULL), SQLITE_OK);
	}
	pull_page(f, &f->office, "/v1/pull?after=0&limit=100", &w, &p, &r);
	assert_int_equal(page_seqs(&p, &f->office), SEQS(3));
	veld__wire_free(&w);
	resp_free(&r);
	/* The access log's pull and the device list read the same way. */
	call(f, &f->office, "GET", "/v1/audit?after=0&limit=10", NULL, 0, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	call(f, &f->office, "GET", "/v1/devices", NULL, 0, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	if (hold) {
		usleep(100 * 1000);
		if (recv(fd, answer, sizeof answer - 1, MSG_DONTWAIT) >= 0)
			fail_msg("a push did not wait for the test's write lock (%s): %.40s",
			         VELD__PG_LOCK_WRITE, answer);
		veld_test_pg_release(hold);
		assert_true(recv(fd, answer, sizeof answer - 1, 0) > 0);
		close(fd);
		assert_non_null(strstr(answer, " 200 "));
		return;
	}
	assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* A read's nonce is kept like a write's: the same pull again is a replay,
 * two copies racing get one page and one 409 (never a 500), and a restart
 * forgets none of them. */
struct pull_race {
	struct fx *f;
	const char *path;
	const struct veld__auth_headers *h;
	long status;
	char code[32];
};

static void *pull_race_run(void *arg)
{
	struct pull_race *x = arg;
	struct resp r;
	/* http() uses the fixture's curl handle: this thread gets its own */
	struct fx *copy = malloc(sizeof *copy);
	assert_non_null(copy);
	memcpy(copy, x->f, sizeof *copy);
	copy->curl = curl_easy_init();
	http(copy, "GET", x->path, NULL, 0, x->h, &r);
	x->status = r.status;
	if (r.status == 409 && r.body && strstr((const char *)r.body, "replay"))
		snprintf(x->code, sizeof x->code, "replay");
	resp_free(&r);
	curl_easy_cleanup(copy->curl);
	free(copy);
	return NULL;
}

static void test_server__replayed_pull_refused_also_after_restart(void **state)
{
	struct fx *f = *state;
	struct veld__auth_headers h;
	struct resp r;
	const char *path = "/v1/pull?after=0&limit=10";
	veld__auth_sign(&h, f->office.id, f->office.sign_sk, "GET", path, NULL, 0);
	http(f, "GET", path, NULL, 0, &h, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	http(f, "GET", path, NULL, 0, &h, &r);
	assert_error(&r, 409, "replay", NULL);
	resp_free(&r);

	for (int round = 0; round < 10; round++) {
		struct veld__auth_headers hr;
		struct pull_race a = {f, path, &hr, 0, ""}, b = {f, path, &hr, 0, ""};
		pthread_t ta, tb;
		veld__auth_sign(&hr, f->office.id, f->office.sign_sk, "GET", path, NULL, 0);
		assert_int_equal(pthread_create(&ta, NULL, pull_race_run, &a), 0);
		assert_int_equal(pthread_create(&tb, NULL, pull_race_run, &b), 0);
		pthread_join(ta, NULL);
		pthread_join(tb, NULL);
		if (!((a.status == 200 && b.status == 409 && strcmp(b.code, "replay") == 0) ||
		      (b.status == 200 && a.status == 409 && strcmp(a.code, "replay") == 0)))
			fail_msg("round %d: a racing replay answered %ld and %ld", round, a.status,
			         b.status);
	}

	veld_server_stop(f->srv);
	f->srv = NULL;
	server_start(f, 0, 0);
	http(f, "GET", path, NULL, 0, &h, &r);
	assert_error(&r, 409, "replay", NULL);
	resp_free(&r);
}

/* An older veld kept nonces in server.db: those inside the window still
 * count after the upgrade. */
static void test_server__old_nonces_carried_over(void **state)
{
	struct fx *f = *state;
	struct veld__auth_headers h;
	struct resp r;
	uint8_t nonce[16];
	char path[400];
	sqlite3 *db;
	sqlite3_stmt *st;
	const char *uri = "/v1/pull?after=0&limit=10";
	if (f->db[0])
		skip(); /* server.db's table of an older veld: PostgreSQL never had one */
	veld__auth_sign(&h, f->office.id, f->office.sign_sk, "GET", uri, NULL, 0);
	assert_int_equal(sodium_hex2bin(nonce, sizeof nonce, h.nonce, strlen(h.nonce), NULL, NULL,
	                                NULL), 0);
	veld_server_stop(f->srv);
	f->srv = NULL;
	snprintf(path, sizeof path, "%s/server.db", f->data);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO nonces(device, nonce, time)"
	                                    " VALUES(?1, ?2, ?3)", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, f->office.id, 16, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, nonce, 16, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)wall_ms());
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
	server_start(f, 0, 0);
	http(f, "GET", uri, NULL, 0, &h, &r);
	assert_error(&r, 409, "replay", NULL);
	resp_free(&r);
	assert_int_equal(db_count(f, "nonces"), 0);
}

static void test_server__pull_office_other_team_as_stubs(void **state)
{
	struct fx *f = *state;
	struct dev north;
	struct batch b;
	struct resp r;
	struct veld__pull_resp p;
	struct veld__wire w;
	uint8_t cn[16], cs[16];
	worker(f, &north, "north");
	randombytes_buf(cn, 16);
	randombytes_buf(cs, 16);
	/* One office batch: two north operations, then two south ones. */
	batch_make(&b, &f->office, 1, 4, "north", cn, 1);
	for (size_t i = 2; i < 4; i++) {
		snprintf(b.ops[i].team, sizeof b.ops[i].team, "south");
		memcpy(b.ops[i].client, cs, 16);
		memcpy(b.ops[i].entity, cs, 16);
	}
	batch_resign(&b, &f->office);
	push(f, &f->office, &b, &r);
	assert_pushed(&r, 4, 4);
	resp_free(&r);
	/* North gets its two, and the south two as stubs (kh only), with the
	 * whole batch's hashes to check all four (verify_page): no seq of the
	 * office is missing. */
	pull_page(f, &north, "/v1/pull", &w, &p, &r);
	assert_int_equal(p.nops, 2);
	assert_int_equal(p.nstubs, 2);
	assert_int_equal(p.nheld, 0);
	for (size_t i = 0; i < 2; i++) {
		uint8_t rh[32], kh[32];
		assert_string_equal(p.ops[i].team, "north");
		assert_int_equal(p.stubs[i].seq, 3 + i);
		assert_string_equal(p.stubs[i].team, "south");
		assert_memory_equal(p.stubs[i].client, cs, 16);
		veld__op_layers(&b.ops[2 + i], rh, kh);
		assert_memory_equal(p.stubs[i].kh, kh, 32);
	}
	assert_true(p.stub_cursors[0] > p.cursors[1] && p.next == p.stub_cursors[1]);
	assert_int_equal(page_seqs(&p, &f->office), SEQS(4));
	assert_int_equal(p.nbatches, 1);
	assert_int_equal(p.batches[0].first, 1);
	assert_int_equal(p.batches[0].last, 4);
	assert_int_equal(p.batches[0].ver, 2);
	veld__wire_free(&w);
	resp_free(&r);
	/* The office reads them all. */
	pull_page(f, &f->office, "/v1/pull", &w, &p, &r);
	assert_int_equal(p.nops, 4);
	assert_int_equal(p.nstubs + p.nheld, 0);
	veld__wire_free(&w);
	resp_free(&r);
}

static void test_server__busy(void **state)
{
	struct fx *f = *state;
	struct resp r;
	/* A server that takes one request at a time. */
	veld_server_stop(f->srv);
	server_start(f, 0, 1);
	/* Hold the one slot: headers in, body never finished. */
	uint8_t hundred[100] = {0};
	int fd = raw_connect(f);
	raw_post_head(fd, &f->office, "/v1/push", hundred, sizeof hundred);
	raw_send(fd, hundred, 1);
	int busy = 0;
	/* (Up to 10 s for the server to take in the held request's headers:
	 * on a loaded machine that is not at once.) */
	for (int i = 0; i < 1000 && !busy; i++) {
		http(f, "GET", "/v1/health", NULL, 0, NULL, &r);
		if (r.status == 503) {
			assert_error(&r, 503, "busy", NULL);
			busy = 1;
		}
		resp_free(&r);
		if (!busy)
			usleep(10000);
	}
	assert_true(busy);
	close(fd);
	wait_healthy(f);
}

static void test_server__access_log_holds_no_secrets(void **state)
{
	struct fx *f = *state;
	struct dev w1;
	struct batch b;
	struct resp r;
	uint8_t client[16];
	char hex[65];
	worker(f, &w1, "north");
	randombytes_buf(client, 16);
	batch_make(&b, &w1, 1, 2, "north", client, 1);
	push(f, &w1, &b, &r);
	resp_free(&r);
	call(f, &w1, "GET", "/v1/pull?after=0&limit=10", NULL, 0, &r);
	resp_free(&r);
	veld_server_stop(f->srv); /* every request logged */
	f->srv = NULL;
	assert_true(f->nlog >= 6);
	sodium_bin2hex(hex, sizeof hex, client, 16);
	for (size_t i = 0; i < f->nlog; i++) {
		const char *l = f->log[i];
		assert_null(strstr(l, f->code));
		assert_null(strstr(l, hex));
		assert_null(strstr(l, "after="));
		assert_null(strchr(l, '\n'));
	}
	/* The format: method path status duration device-prefix. */
	char want[64];
	int found = 0;
	sodium_bin2hex(hex, sizeof hex, w1.id, 16);
	hex[8] = 0;
	for (size_t i = 0; i < f->nlog; i++) {
		unsigned status;
		double ms;
		char method[8], path[32], dev[16];
		if (sscanf(f->log[i], "%7s %31s %u %lfms %15s", method, path, &status, &ms, dev) != 5)
			fail_msg("log line in an unexpected format: %s", f->log[i]);
		memcpy(want, hex, 9);
		if (strcmp(method, "POST") == 0 && strcmp(path, "/v1/push") == 0 && status == 200 &&
		    strcmp(dev, want) == 0)
			found = 1;
	}
	assert_true(found);
	server_start(f, 0, 0);
}

static void test_server__restart_keeps_state(void **state)
{
	struct fx *f = *state;
	struct dev w1;
	struct batch b;
	struct resp r;
	uint8_t client[16];
	worker(f, &w1, "north");
	randombytes_buf(client, 16);
	batch_make(&b, &w1, 1, 3, "north", client, 1);
	push(f, &w1, &b, &r);
	assert_pushed(&r, 3, 3);
	resp_free(&r);
	veld_server_stop(f->srv);
	server_start(f, 0, 0);
	assert_null(veld_server_setup_code(f->srv));
	/* The same batch again: already held. */
	push(f, &w1, &b, &r);
	assert_pushed(&r, 3, 0);
	resp_free(&r);
	/* A second server on the same directory is refused. */
	veld_server *second = NULL;
	veld_server_options o;
	veld_server_options_init(&o);
	o.data_dir = f->data;
	o.database = f->db[0] ? f->db : NULL;
	assert_int_equal(veld_server_start(&second, &o), VELD_EBUSY);
	assert_null(second);
	/* An integrity check of the database file (SQLite's: PostgreSQL has
	 * no such check of a whole database). */
	if (f->db[0])
		return;
	char path[400];
	sqlite3 *db;
	sqlite3_stmt *st;
	snprintf(path, sizeof path, "%s/server.db", f->data);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void test_server__team_keys_and_invite_rules(void **state)
{
	struct fx *f = *state;
	struct resp r;
	uint64_t expected = 0;
	team_keys(f, "east", 2, &r); /* must start at 1 */
	assert_error(&r, 409, "gap", &expected);
	assert_int_equal(expected, 1);
	resp_free(&r);
	team_keys(f, "east", 1, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	team_keys(f, "east", 1, &r); /* the same again: adds devices, changes nothing else */
	assert_int_equal(r.status, 200);
	resp_free(&r);
	/* An older version the team has, with its key: sealed to more devices
	 * (a device certified after a rotation gets every version). */
	team_keys(f, "east", 2, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	team_keys(f, "east", 1, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	team_keys(f, "east", 4, &r); /* but never a version skipped */
	assert_error(&r, 409, "gap", &expected);
	assert_int_equal(expected, 3);
	resp_free(&r);
	SNAPSHOT(f, before);
	/* The same version with another key. */
	struct veld__team_keys_req m;
	msgpack_sbuffer b;
	memset(&m, 0, sizeof m);
	snprintf(m.team, sizeof m.team, "east");
	m.tv = 1;
	memset(m.pk, 0x77, sizeof m.pk);
	team_key_sign(&m, &f->office);
	msgpack_sbuffer_init(&b);
	assert_int_equal(veld__wire_team_keys_req_encode(&b, &m), VELD_OK);
	call(f, &f->office, "POST", "/v1/team-keys", (uint8_t *)b.data, b.size, &r);
	msgpack_sbuffer_destroy(&b);
	assert_error(&r, 409, "equivocation", NULL);
	resp_free(&r);
	/* An invite for a key version that is not current. */
	struct veld__invite_req inv;
	uint8_t code[VELD_CODE_BYTES];
	char text[VELD_CODE_TEXT_MAX];
	memset(&inv, 0, sizeof inv);
	veld__code_new(code, text);
	veld__code_auth(inv.auth, code);
	snprintf(inv.team, sizeof inv.team, "east");
	inv.expires = wall_ms() + 3600 * 1000;
	inv.tv = 1;
	msgpack_sbuffer_init(&b);
	assert_int_equal(veld__wire_invite_req_encode(&b, &inv), VELD_OK);
	call(f, &f->office, "POST", "/v1/invite", (uint8_t *)b.data, b.size, &r);
	msgpack_sbuffer_destroy(&b);
	assert_error(&r, 409, "gap", &expected);
	assert_int_equal(expected, 2);
	resp_free(&r);
	/* ... or expiring more than 7 days ahead. */
	inv.tv = 2;
	inv.expires = wall_ms() + 8ull * 24 * 3600 * 1000;
	msgpack_sbuffer_init(&b);
	assert_int_equal(veld__wire_invite_req_encode(&b, &inv), VELD_OK);
	call(f, &f->office, "POST", "/v1/invite", (uint8_t *)b.data, b.size, &r);
	msgpack_sbuffer_destroy(&b);
	assert_error(&r, 400, "malformed", NULL);
	resp_free(&r);
	ASSERT_UNCHANGED(f, before);
}

/* ---- access log: POST /v1/audit, GET /v1/audit ------------------------------------ */

/* Entries seq first..first+n-1 of a device. The server cannot open `sealed`
 * (it is sealed to the office), so any non-empty bytes do: `len` bytes of
 * `salt` with the seq in front. Each entry is signed as a device signs it. */
struct audit {
	struct veld__audit_entry *e;
	uint8_t *sealed;
	size_t n;
};

static void audit_sign(struct veld__audit_entry *e, const uint8_t device[16],
                       const uint8_t sign_sk[64])
{
	uint8_t msg[VELD_AUDIT_SIG_MSG];
	veld__audit_sig_message(msg, device, e->seq, e->sealed, e->sealed_len);
	crypto_sign_detached(e->sig, NULL, msg, sizeof msg, sign_sk);
}

static void audit_make(struct audit *a, const struct dev *d, uint64_t first, size_t n, size_t len,
                       uint8_t salt)
{
	assert_true(len >= 8);
	a->n = n;
	a->e = calloc(n ? n : 1, sizeof *a->e);
	a->sealed = malloc((n ? n : 1) * len);
	assert_non_null(a->e);
	assert_non_null(a->sealed);
	for (size_t i = 0; i < n; i++) {
		struct veld__audit_entry *e = &a->e[i];
		uint8_t *p = a->sealed + i * len;
		e->seq = first + i;
		memset(p, salt, len);
		memcpy(p, &e->seq, sizeof e->seq);
		e->sealed = p;
		e->sealed_len = len;
		audit_sign(e, d->id, d->sign_sk);
	}
}

static void audit_free(struct audit *a)
{
	free(a->e);
	free(a->sealed);
	memset(a, 0, sizeof *a);
}

static void audit_push(struct fx *f, const struct dev *d, const struct audit *a, struct resp *r)
{
	struct veld__audit_push_req m;
	msgpack_sbuffer body;
	m.entries = a->e;
	m.n = a->n;
	msgpack_sbuffer_init(&body);
	assert_int_equal(veld__wire_audit_push_req_encode(&body, &m), VELD_OK);
	call(f, d, "POST", "/v1/audit", (uint8_t *)body.data, body.size, r);
	msgpack_sbuffer_destroy(&body);
}

/* Push entries first..first+n-1 (sealed `len` bytes of `salt`) and expect
 * the answer acked/stored. */
static void audit_push_ok(struct fx *f, const struct dev *d, uint64_t first, size_t n,
                          uint8_t salt, uint64_t acked, uint64_t stored)
{
	struct audit a;
	struct resp r;
	audit_make(&a, d, first, n, 100, salt);
	audit_push(f, d, &a, &r);
	assert_pushed(&r, acked, stored);
	resp_free(&r);
	audit_free(&a);
}

/* A push body packed by hand, without the encoder's checks: entries as
 * given (any seq, any sealed size, a `siglen`-byte sig). */
static void audit_body_raw(msgpack_sbuffer *b, const struct veld__audit_entry *e, size_t n,
                           size_t siglen)
{
	msgpack_packer pk;
	msgpack_sbuffer_init(b);
	msgpack_packer_init(&pk, b, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	msgpack_pack_str_with_body(&pk, "v", 1);
	msgpack_pack_uint64(&pk, 1);
	msgpack_pack_str_with_body(&pk, "entries", 7);
	msgpack_pack_array(&pk, n);
	for (size_t i = 0; i < n; i++) {
		msgpack_pack_array(&pk, 3);
		msgpack_pack_uint64(&pk, e[i].seq);
		msgpack_pack_bin_with_body(&pk, e[i].sealed, e[i].sealed_len);
		msgpack_pack_bin_with_body(&pk, e[i].sig, siglen);
	}
}

/* Sealed bytes the server holds for (device, seq): length, or -1 if none. */
static int db_audit_sealed(struct fx *f, const uint8_t device[16], uint64_t seq, uint8_t *out,
                           size_t cap)
{
	char path[400];
	sqlite3 *db;
	sqlite3_stmt *st;
	int n = -1;
	if (f->db[0]) {
		char q[300], lit[140];
		snprintf(q, sizeof q, "SELECT sealed FROM audit_log WHERE device = %s AND seq = %llu",
		         db_blob(lit, device, 16), (unsigned long long)seq);
		return (int)veld_test_pg_blob(f->db, q, out, cap);
	}
	snprintf(path, sizeof path, "%s/server.db", f->data);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT sealed FROM audit_log WHERE device = ?1"
	                                    " AND seq = ?2", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, device, 16, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)seq);
	if (sqlite3_step(st) == SQLITE_ROW) {
		n = sqlite3_column_bytes(st, 0);
		assert_true((size_t)n <= cap);
		memcpy(out, sqlite3_column_blob(st, 0), (size_t)n);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* One integer from a query on the server's database (read-write: also
 * runs statements that change it, then answers 0). */
static long long db_int(struct fx *f, const char *q)
{
	char path[400];
	sqlite3 *db;
	sqlite3_stmt *st;
	long long v = 0;
	if (f->db[0])
		return veld_test_pg_int(f->db, q);
	snprintf(path, sizeof path, "%s/server.db", f->data);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_prepare_v2(db, q, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", q, sqlite3_errmsg(db));
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE)
		fail_msg("%s: %s", q, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* What the stored entry (device, seq) must hold: the bytes audit_make made. */
static void assert_audit_stored(struct fx *f, const struct dev *d, uint64_t seq, uint8_t salt)
{
	uint8_t got[VELD_AUDIT_SEALED_MAX], want[100];
	memset(want, salt, sizeof want);
	memcpy(want, &seq, sizeof seq);
	assert_int_equal(db_audit_sealed(f, d->id, seq, got, sizeof got), (int)sizeof want);
	assert_memory_equal(got, want, sizeof want);
}

/* Check an access-log page the way the office does before it keeps any of
 * it: every entry's signature verifies with the key the office certified
 * for its device (the page carries none); cursors rise; `next` is the last
 * cursor (or `after` on an empty page). */
static void verify_audit_page(const struct fx *f, const struct veld__audit_pull_resp *p,
                              uint64_t after)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct veld__audit_entry *e = &p->entries[i];
		const uint8_t *pk = dev_key(f, e->device);
		assert_non_null(pk);
		assert_int_equal(veld__audit_sig_verify(pk, e->device, e->seq, e->sealed, e->sealed_len,
		                                        e->sig), 0);
		assert_true(e->cursor > (i ? p->entries[i - 1].cursor : after));
	}
	assert_int_equal(p->next, p->n ? p->entries[p->n - 1].cursor : after);
}

static void audit_pull(struct fx *f, const struct dev *d, uint64_t after, uint32_t limit,
                       struct veld__wire *w, struct veld__audit_pull_resp *p, struct resp *r)
{
	char path[128];
	if (limit)
		snprintf(path, sizeof path, "/v1/audit?after=%llu&limit=%u", (unsigned long long)after,
		         limit);
	else
		snprintf(path, sizeof path, "/v1/audit?after=%llu", (unsigned long long)after);
	call(f, d, "GET", path, NULL, 0, r);
	if (r->status != 200)
		fail_msg("%s answered %ld", path, r->status);
	memset(w, 0, sizeof *w);
	if (veld__wire_audit_pull_resp_decode(w, r->body, r->len, p) != VELD_OK)
		fail_msg("access-log page does not decode: %s", veld_error_last());
	verify_audit_page(f, p, after);
}

static void revoke_device(struct fx *f, const struct dev *d)
{
	struct veld__revoke_req m;
	msgpack_sbuffer b;
	struct resp r;
	memcpy(m.device, d->id, 16);
	msgpack_sbuffer_init(&b);
	assert_int_equal(veld__wire_revoke_req_encode(&b, &m), VELD_OK);
	call(f, &f->office, "POST", "/v1/revoke", (uint8_t *)b.data, b.size, &r);
	msgpack_sbuffer_destroy(&b);
	assert_int_equal(r.status, 200);
	resp_free(&r);
}

static void test_server__audit_push_and_repush(void **state)
{
	struct fx *f = *state;
	struct dev w1, w2;
	struct audit a;
	struct resp r;
	worker(f, &w1, "north");
	worker(f, &w2, "south");
	uint64_t t0 = wall_ms();
	audit_push_ok(f, &w1, 1, 3, 1, 3, 3);
	uint64_t t1 = wall_ms();
	assert_int_equal(db_count(f, "audit_log"), 3);
	for (uint64_t seq = 1; seq <= 3; seq++)
		assert_audit_stored(f, &w1, seq, 1);
	/* Stored with the arrival time, by the authenticated device. */
	char q[200];
	snprintf(q, sizeof q, "SELECT count(*) FROM audit_log WHERE arrived BETWEEN %llu AND %llu",
	         (unsigned long long)t0, (unsigned long long)t1);
	assert_int_equal(db_int(f, q), 3);
	/* The same entries again (a new request): held, nothing stored. */
	audit_push_ok(f, &w1, 1, 3, 1, 3, 0);
	assert_int_equal(db_count(f, "audit_log"), 3);
	/* Sealed again (other bytes, validly signed): skipped without
	 * comparing; the first bytes stay. */
	audit_push_ok(f, &w1, 1, 3, 2, 3, 0);
	assert_audit_stored(f, &w1, 1, 1);
	assert_audit_stored(f, &w1, 3, 1);
	/* Overlapping: 2..5 stores 4 and 5 only. */
	audit_push_ok(f, &w1, 2, 4, 3, 5, 2);
	assert_int_equal(db_count(f, "audit_log"), 5);
	assert_audit_stored(f, &w1, 2, 1);
	assert_audit_stored(f, &w1, 4, 3);
	assert_audit_stored(f, &w1, 5, 3);
	/* Only held entries: acked is still the highest held, not the push's
	 * last. */
	audit_push_ok(f, &w1, 1, 2, 1, 5, 0);
	/* An empty push tells the acked. */
	audit_make(&a, &w1, 1, 0, 100, 0);
	audit_push(f, &w1, &a, &r);
	assert_pushed(&r, 5, 0);
	resp_free(&r);
	/* Sequences are per device: w2 holds nothing yet. */
	audit_push(f, &w2, &a, &r);
	assert_pushed(&r, 0, 0);
	resp_free(&r);
	audit_free(&a);
	audit_push_ok(f, &w2, 1, 1, 4, 1, 1);
	assert_audit_stored(f, &w2, 1, 4);
	assert_audit_stored(f, &w1, 1, 1);
	assert_int_equal(db_count(f, "audit_log"), 6);
	/* The operation log is another sequence: untouched. */
	assert_int_equal(db_count(f, "feed"), 0);
	assert_int_equal(db_int(f, "SELECT max(last_seq) FROM devices"), 0);
}

static void test_server__audit_gap(void **state)
{
	struct fx *f = *state;
	struct dev w1;
	struct audit a;
	struct resp r;
	uint64_t expected = 0;
	worker(f, &w1, "north");
	SNAPSHOT(f, before);
	audit_make(&a, &w1, 5, 2, 100, 1);
	audit_push(f, &w1, &a, &r);
	assert_error(&r, 409, "gap", &expected);
	assert_int_equal(expected, 1);
	resp_free(&r);
	ASSERT_UNCHANGED(f, before);
	audit_free(&a);

	audit_push_ok(f, &w1, 1, 3, 1, 3, 3);
	SNAPSHOT(f, held);
	audit_make(&a, &w1, 5, 3, 100, 1);
	audit_push(f, &w1, &a, &r);
	assert_error(&r, 409, "gap", &expected);
	assert_int_equal(expected, 4);
	resp_free(&r);
	/* The gap is reported before a bad signature. */
	a.e[1].sig[5] ^= 0x40;
	audit_push(f, &w1, &a, &r);
	assert_error(&r, 409, "gap", &expected);
	assert_int_equal(expected, 4);
	resp_free(&r);
	audit_free(&a);
	ASSERT_UNCHANGED(f, held);
	assert_int_equal(db_count(f, "audit_log"), 3);
	/* Pushing from `expected` continues. */
	audit_push_ok(f, &w1, 4, 1, 1, 4, 1);
}

static void test_server__audit_bad_signature(void **state)
{
	struct fx *f = *state;
	struct dev w1, other;
	struct audit a;
	struct resp r;
	worker(f, &w1, "north");
	dev_new(&other, "north");
	audit_push_ok(f, &w1, 1, 2, 1, 2, 2);
	SNAPSHOT(f, before);
	/* One flipped bit in one signature: nothing of the push is stored. */
	audit_make(&a, &w1, 3, 3, 100, 1);
	a.e[1].sig[0] ^= 1;
	audit_push(f, &w1, &a, &r);
	assert_error(&r, 409, "bad_batch", NULL);
	resp_free(&r);
	audit_free(&a);
	/* Signed by another key. */
	audit_make(&a, &other, 3, 3, 100, 1);
	audit_push(f, &w1, &a, &r);
	assert_error(&r, 409, "bad_batch", NULL);
	resp_free(&r);
	audit_free(&a);
	/* The right key over another device's id. */
	audit_make(&a, &w1, 3, 1, 100, 1);
	audit_sign(&a.e[0], other.id, w1.sign_sk);
	audit_push(f, &w1, &a, &r);
	assert_error(&r, 409, "bad_batch", NULL);
	resp_free(&r);
	audit_free(&a);
	/* The sealed bytes changed after signing. */
	audit_make(&a, &w1, 3, 2, 100, 1);
	a.sealed[150] ^= 0x80;
	audit_push(f, &w1, &a, &r);
	assert_error(&r, 409, "bad_batch", NULL);
	resp_free(&r);
	audit_free(&a);
	/* Every signature counts, an already held entry's too. */
	audit_make(&a, &w1, 1, 3, 100, 1);
	a.e[0].sig[63] ^= 1;
	audit_push(f, &w1, &a, &r);
	assert_error(&r, 409, "bad_batch", NULL);
	resp_free(&r);
	audit_free(&a);
	ASSERT_UNCHANGED(f, before);
	assert_int_equal(db_count(f, "audit_log"), 2);
}

static void test_server__audit_malformed(void **state)
{
	struct fx *f = *state;
	struct dev w1;
	struct audit a;
	struct resp r;
	msgpack_sbuffer b;
	uint8_t big[VELD_AUDIT_SEALED_MAX + 1];
	worker(f, &w1, "north");
	SNAPSHOT(f, before);
	/* seq 1, 2, 4: not consecutive (each validly signed). */
	audit_make(&a, &w1, 1, 3, 100, 1);
	a.e[2].seq = 4;
	audit_sign(&a.e[2], w1.id, w1.sign_sk);
	audit_body_raw(&b, a.e, a.n, 64);
	call(f, &w1, "POST", "/v1/audit", (uint8_t *)b.data, b.size, &r);
	msgpack_sbuffer_destroy(&b);
	assert_error(&r, 400, "malformed", NULL);
	resp_free(&r);
	/* Descending. */
	a.e[0].seq = 2;
	a.e[1].seq = 1;
	audit_sign(&a.e[0], w1.id, w1.sign_sk);
	audit_sign(&a.e[1], w1.id, w1.sign_sk);
	audit_body_raw(&b, a.e, 2, 64);
	call(f, &w1, "POST", "/v1/audit", (uint8_t *)b.data, b.size, &r);
	msgpack_sbuffer_destroy(&b);
	assert_error(&r, 400, "malformed", NULL);
	resp_free(&r);
	/* seq 0. */
	a.e[0].seq = 0;
	audit_sign(&a.e[0], w1.id, w1.sign_sk);
	audit_body_raw(&b, a.e, 1, 64);
	call(f, &w1, "POST", "/v1/audit", (uint8_t *)b.data, b.size, &r);
	msgpack_sbuffer_destroy(&b);
	assert_error(&r, 400, "malformed", NULL);
	resp_free(&r);
	/* A sealed entry one byte above the limit, and an empty one. */
	a.e[0].seq = 1;
	memset(big, 0x33, sizeof big);
	a.e[0].sealed = big;
	a.e[0].sealed_len = sizeof big;
	audit_sign(&a.e[0], w1.id, w1.sign_sk);
	audit_body_raw(&b, a.e, 1, 64);
	call(f, &w1, "POST", "/v1/audit", (uint8_t *)b.data, b.size, &r);
	msgpack_sbuffer_destroy(&b);
	assert_error(&r, 400, "malformed", NULL);
	resp_free(&r);
	a.e[0].sealed_len = 0;
	audit_sign(&a.e[0], w1.id, w1.sign_sk);
	audit_body_raw(&b, a.e, 1, 64);
	call(f, &w1, "POST", "/v1/audit", (uint8_t *)b.data, b.size, &r);
	msgpack_sbuffer_destroy(&b);
	assert_error(&r, 400, "malformed", NULL);
	resp_free(&r);
	/* A short signature. */
	a.e[0].sealed_len = 100;
	audit_sign(&a.e[0], w1.id, w1.sign_sk);
	audit_body_raw(&b, a.e, 1, 63);
	call(f, &w1, "POST", "/v1/audit", (uint8_t *)b.data, b.size, &r);
	msgpack_sbuffer_destroy(&b);
	assert_error(&r, 400, "malformed", NULL);
	resp_free(&r);
	audit_free(&a);
	/* 1001 entries. */
	audit_make(&a, &w1, 1, VELD_WIRE_MAX_AUDIT + 1, 8, 1);
	audit_body_raw(&b, a.e, a.n, 64);
	call(f, &w1, "POST", "/v1/audit", (uint8_t *)b.data, b.size, &r);
	msgpack_sbuffer_destroy(&b);
	assert_error(&r, 400, "malformed", NULL);
	resp_free(&r);
	/* The push takes no query. */
	msgpack_sbuffer_init(&b);
	struct veld__audit_push_req m = {a.e, 1};
	assert_int_equal(veld__wire_audit_push_req_encode(&b, &m), VELD_OK);
	call(f, &w1, "POST", "/v1/audit?after=0", (uint8_t *)b.data, b.size, &r);
	assert_error(&r, 400, "malformed", NULL);
	resp_free(&r);
	ASSERT_UNCHANGED(f, before);
	assert_int_equal(db_count(f, "audit_log"), 0);
	/* The same body without the query is fine. */
	call(f, &w1, "POST", "/v1/audit", (uint8_t *)b.data, b.size, &r);
	assert_pushed(&r, 1, 1);
	resp_free(&r);
	msgpack_sbuffer_destroy(&b);
	audit_free(&a);
	/* Exactly at the limits: 1000 entries, one of 2048 bytes. */
	audit_make(&a, &w1, 2, VELD_WIRE_MAX_AUDIT, 8, 1);
	big[0] = 2;
	a.e[0].sealed = big;
	a.e[0].sealed_len = VELD_AUDIT_SEALED_MAX;
	audit_sign(&a.e[0], w1.id, w1.sign_sk);
	audit_push(f, &w1, &a, &r);
	assert_pushed(&r, 1 + VELD_WIRE_MAX_AUDIT, VELD_WIRE_MAX_AUDIT);
	resp_free(&r);
	audit_free(&a);
	uint8_t got[VELD_AUDIT_SEALED_MAX];
	assert_int_equal(db_audit_sealed(f, w1.id, 2, got, sizeof got), VELD_AUDIT_SEALED_MAX);
	assert_memory_equal(got, big, VELD_AUDIT_SEALED_MAX);
	assert_int_equal(db_audit_sealed(f, w1.id, 1001, got, sizeof got), 8);
}

static void test_server__audit_pull_office_only(void **state)
{
	struct fx *f = *state;
	struct dev w1;
	struct resp r;
	worker(f, &w1, "north");
	audit_push_ok(f, &w1, 1, 2, 1, 2, 2);
	SNAPSHOT(f, before);
	call(f, &w1, "GET", "/v1/audit", NULL, 0, &r);
	assert_error(&r, 403, "forbidden", NULL);
	resp_free(&r);
	call(f, &w1, "GET", "/v1/audit?after=0&limit=10", NULL, 0, &r);
	assert_error(&r, 403, "forbidden", NULL);
	resp_free(&r);
	/* Refused as office-only before its query is looked at. */
	call(f, &w1, "GET", "/v1/audit?limit=0", NULL, 0, &r);
	assert_error(&r, 403, "forbidden", NULL);
	resp_free(&r);
	ASSERT_UNCHANGED(f, before);
}

/* Entries pushed by the pull test, in the order the office must get them. */
struct want {
	const struct dev *d;
	uint64_t seq;
	uint8_t salt;
};

static void assert_page_entries(const struct veld__audit_pull_resp *p, const struct want *want,
                                size_t from, size_t n)
{
	assert_int_equal(p->n, n);
	for (size_t i = 0; i < n; i++) {
		const struct want *x = &want[from + i];
		uint8_t sealed[100];
		memset(sealed, x->salt, sizeof sealed);
		memcpy(sealed, &x->seq, sizeof x->seq);
		assert_memory_equal(p->entries[i].device, x->d->id, 16);
		assert_int_equal(p->entries[i].seq, x->seq);
		assert_int_equal(p->entries[i].sealed_len, sizeof sealed);
		assert_memory_equal(p->entries[i].sealed, sealed, sizeof sealed);
	}
}

static void test_server__audit_pull_pages(void **state)
{
	struct fx *f = *state;
	struct dev north, south;
	struct veld__audit_pull_resp p;
	struct veld__wire w;
	struct resp r;
	worker(f, &north, "north");
	worker(f, &south, "south");
	audit_push_ok(f, &north, 1, 2, 1, 2, 2);
	audit_push_ok(f, &south, 1, 3, 2, 3, 3);
	audit_push_ok(f, &north, 3, 2, 3, 4, 2);
	audit_push_ok(f, &f->office, 1, 1, 4, 1, 1);
	const struct want want[] = {
		{&north, 1, 1}, {&north, 2, 1}, {&south, 1, 2}, {&south, 2, 2},
		{&south, 3, 2}, {&north, 3, 3}, {&north, 4, 3}, {&f->office, 1, 4},
	};

	/* All at once, in arrival order (audit_pull checks each with its
	 * device's key). */
	audit_pull(f, &f->office, 0, 0, &w, &p, &r);
	assert_page_entries(&p, want, 0, 8);
	assert_false(p.more);
	uint64_t end = p.next;
	veld__wire_free(&w);
	resp_free(&r);

	/* Pages of 3: the same entries. */
	static const size_t sizes[] = {3, 3, 2};
	uint64_t after = 0;
	size_t from = 0;
	for (size_t i = 0; i < 3; i++) {
		audit_pull(f, &f->office, after, 3, &w, &p, &r);
		assert_page_entries(&p, want, from, sizes[i]);
		assert_int_equal(p.more, i < 2);
		from += p.n;
		after = p.next;
		veld__wire_free(&w);
		resp_free(&r);
	}
	assert_int_equal(after, end);
	/* Past the end: empty, next stays. */
	audit_pull(f, &f->office, after, 3, &w, &p, &r);
	assert_int_equal(p.n, 0);
	assert_int_equal(p.next, after);
	assert_false(p.more);
	veld__wire_free(&w);
	resp_free(&r);
	/* A page of 2 holds north's only. */
	audit_pull(f, &f->office, 0, 2, &w, &p, &r);
	assert_page_entries(&p, want, 0, 2);
	assert_true(p.more);
	veld__wire_free(&w);
	resp_free(&r);
	/* New entries come after the ones already paged through. */
	audit_push_ok(f, &south, 4, 1, 5, 4, 1);
	audit_pull(f, &f->office, end, 5000, &w, &p, &r);
	assert_int_equal(p.n, 1);
	assert_memory_equal(p.entries[0].device, south.id, 16);
	assert_int_equal(p.entries[0].seq, 4);
	assert_false(p.more);
	veld__wire_free(&w);
	resp_free(&r);

	/* The query: after and limit, each at most once, nothing else. */
	SNAPSHOT(f, before);
	static const char *const bad[] = {
		"/v1/audit?after=1&after=2", "/v1/audit?limit=0", "/v1/audit?limit=5001",
		"/v1/audit?limit=1&limit=2", "/v1/audit?env_after=0", "/v1/audit?after=x",
		"/v1/audit?after", "/v1/audit?after=1&", "/v1/audit?foo=1", "/v1/audit?after=-1",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		call(f, &f->office, "GET", bad[i], NULL, 0, &r);
		if (r.status != 400)
			fail_msg("%s answered %ld", bad[i], r.status);
		assert_error(&r, 400, "malformed", NULL);
		resp_free(&r);
	}
	ASSERT_UNCHANGED(f, before);
	/* A pull uses up its nonce: the same signed request again is a
	 * replay. */
	struct veld__auth_headers h;
	veld__auth_sign(&h, f->office.id, f->office.sign_sk, "GET", "/v1/audit?limit=1", NULL, 0);
	http(f, "GET", "/v1/audit?limit=1", NULL, 0, &h, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	SNAPSHOT(f, used);
	http(f, "GET", "/v1/audit?limit=1", NULL, 0, &h, &r);
	assert_error(&r, 409, "replay", NULL);
	resp_free(&r);
	ASSERT_UNCHANGED(f, used);

	/* The access log names the endpoint, never a query or a value. */
	veld_server_stop(f->srv); /* every request logged */
	f->srv = NULL;
	int pushes = 0, pulls = 0;
	for (size_t i = 0; i < f->nlog; i++) {
		assert_null(strstr(f->log[i], "after="));
		assert_null(strstr(f->log[i], "limit="));
		pushes += strncmp(f->log[i], "POST /v1/audit 200 ", 19) == 0;
		pulls += strncmp(f->log[i], "GET /v1/audit 200 ", 18) == 0;
	}
	assert_int_equal(pushes, 5);
	assert_int_equal(pulls, 8);
	server_start(f, 0, 0);
}

static void test_server__audit_revoked_device(void **state)
{
	struct fx *f = *state;
	struct dev w1;
	struct veld__audit_pull_resp p;
	struct veld__wire w;
	struct audit a;
	struct resp r;
	worker(f, &w1, "north");
	audit_push_ok(f, &w1, 1, 2, 1, 2, 2);
	revoke_device(f, &w1);
	SNAPSHOT(f, before);
	audit_make(&a, &w1, 3, 1, 100, 1);
	audit_push(f, &w1, &a, &r);
	assert_error(&r, 403, "revoked", NULL);
	resp_free(&r);
	audit_free(&a);
	audit_make(&a, &w1, 1, 0, 100, 1);
	audit_push(f, &w1, &a, &r);
	assert_error(&r, 403, "revoked", NULL);
	resp_free(&r);
	audit_free(&a);
	ASSERT_UNCHANGED(f, before);
	/* What it pushed before stays, and verifies with its certified key. */
	audit_pull(f, &f->office, 0, 0, &w, &p, &r);
	assert_int_equal(p.n, 2);
	assert_memory_equal(p.entries[0].device, w1.id, 16);
	assert_memory_equal(p.entries[1].device, w1.id, 16);
	veld__wire_free(&w);
	resp_free(&r);
}

static void test_server__audit_pull_byte_budget(void **state)
{
	struct fx *f = *state;
	struct veld__audit_pull_resp p;
	struct veld__wire w;
	struct audit a;
	struct resp r;
	enum { N = 2 * VELD_WIRE_MAX_AUDIT };
	/* 2000 entries of the largest size: ~4.2 MB, more than one answer may
	 * carry. */
	for (uint64_t first = 1; first <= N; first += VELD_WIRE_MAX_AUDIT) {
		audit_make(&a, &f->office, first, VELD_WIRE_MAX_AUDIT, VELD_AUDIT_SEALED_MAX, 7);
		audit_push(f, &f->office, &a, &r);
		assert_pushed(&r, first + VELD_WIRE_MAX_AUDIT - 1, VELD_WIRE_MAX_AUDIT);
		resp_free(&r);
		audit_free(&a);
	}
	uint64_t after = 0, seq = 0;
	int pages = 0, more = 1;
	while (more) {
		assert_true(++pages <= 3);
		audit_pull(f, &f->office, after, 0, &w, &p, &r);
		/* Under the limit every decoder accepts, and not trivially small. */
		assert_true(r.len <= VELD_WIRE_MAX_BODY);
		assert_true(p.n >= 1);
		if (p.more)
			assert_true(p.n > N / 2 && p.n < N);
		for (size_t i = 0; i < p.n; i++) {
			assert_int_equal(p.entries[i].seq, ++seq);
			assert_int_equal(p.entries[i].sealed_len, VELD_AUDIT_SEALED_MAX);
		}
		after = p.next;
		more = p.more;
		veld__wire_free(&w);
		resp_free(&r);
	}
	assert_int_equal(pages, 2);
	assert_int_equal(seq, N);
}

/* ---- schema upgrades ---------------------------------------------------------------- */

/* Make the (stopped) server's database one of schema `version`, as the
 * server of that version wrote it: undo every later migration. */
static void db_downgrade(struct fx *f, int version)
{
	static const char *const v5[] = {
		"DROP TABLE notices", "DROP TABLE checkpoints", "DROP INDEX feed_device",
		"ALTER TABLE ops DROP COLUMN ver", "ALTER TABLE batches DROP COLUMN ver",
		"ALTER TABLE devices DROP COLUMN auth", "ALTER TABLE devices DROP COLUMN proof",
		"ALTER TABLE envelopes DROP COLUMN \"from\"", "ALTER TABLE envelopes DROP COLUMN sig",
		"ALTER TABLE team_keys DROP COLUMN sig", "ALTER TABLE erased_ops DROP COLUMN team",
		"ALTER TABLE erased_ops DROP COLUMN client", "ALTER TABLE erased_ops DROP COLUMN kh",
	};
	char q[64];
	if (version < 6)
		db_int(f, "DROP TABLE moves");
	for (size_t i = 0; version < 5 && i < sizeof v5 / sizeof v5[0]; i++)
		db_int(f, v5[i]);
	if (version < 4)
		db_int(f, "DROP TABLE field_policy");
	if (version < 3) {
		db_int(f, "DROP TABLE erasures");
		db_int(f, "DROP TABLE erased_ops");
	}
	if (version < 2)
		db_int(f, "DROP TABLE audit_log");
	snprintf(q, sizeof q, "PRAGMA user_version = %d", version);
	db_int(f, q);
}

/* A server database from before the access log (schema 1) opens and gains
 * the tables of every later schema; everything else stays. */
static void test_server__audit_schema_upgrade(void **state)
{
	struct fx *f = *state;
	struct dev w1;
	struct batch b;
	struct resp r;
	uint8_t client[16];
	if (f->db[0])
		skip(); /* SQLite's migrations: PostgreSQL's schema starts at its version 1 */
	worker(f, &w1, "north");
	randombytes_buf(client, 16);
	batch_make_v(&b, &w1, 1, 2, "north", client, 1, 1); /* what devices wrote then */
	push(f, &w1, &b, &r);
	assert_pushed(&r, 2, 2);
	resp_free(&r);
	assert_int_equal(db_int(f, "PRAGMA user_version"), 6);
	/* Make it a version-1 database, as the server before wrote it. */
	veld_server_stop(f->srv);
	f->srv = NULL;
	db_downgrade(f, 1);
	assert_int_equal(db_int(f, "SELECT count(*) FROM sqlite_master WHERE name = 'audit_log'"), 0);
	server_start(f, 0, 0);
	assert_int_equal(db_int(f, "PRAGMA user_version"), 6);
	assert_int_equal(db_count(f, "audit_log"), 0);
	assert_int_equal(db_count(f, "devices"), 2);
	push(f, &w1, &b, &r);
	assert_pushed(&r, 2, 0);
	resp_free(&r);
	audit_push_ok(f, &w1, 1, 2, 1, 2, 2);
	/* A restart does not migrate again. */
	veld_server_stop(f->srv);
	f->srv = NULL;
	server_start(f, 0, 0);
	assert_int_equal(db_count(f, "audit_log"), 2);
	audit_push_ok(f, &w1, 1, 3, 1, 3, 1);
}

/* ---- notices: POST /v1/notice ------------------------------------------------------- */

/* A notice, signed by `signer` (the office, for one that counts), with its
 * body encoded in `body`. */
struct notice {
	struct veld__notice n;
	msgpack_sbuffer body;
};

static void notice_sign(struct notice *x, const struct dev *signer)
{
	uint8_t msg[VELD_NOTICE_SIG_MSG_MAX];
	size_t len = veld__notice_sig_message(msg, x->n.team, x->n.n, x->n.kind, x->n.at, x->n.body,
	                                      x->n.body_len);
	crypto_sign_detached(x->n.sig, NULL, msg, len, signer->sign_sk);
}

static void notice_make(struct notice *x, const struct dev *signer, const char *team, uint64_t n,
                        const struct veld__notice_body *b)
{
	memset(&x->n, 0, sizeof x->n);
	msgpack_sbuffer_init(&x->body);
	assert_int_equal(veld__wire_notice_body_encode(&x->body, b), VELD_OK);
	snprintf(x->n.team, sizeof x->n.team, "%s", team);
	x->n.n = n;
	snprintf(x->n.kind, sizeof x->n.kind, "%s", veld__notice_kind_name(b->kind));
	x->n.at = NOTICE_AT + n;
	x->n.body = (const uint8_t *)x->body.data;
	x->n.body_len = x->body.size;
	notice_sign(x, signer);
}

static void notice_free(struct notice *x)
{
	msgpack_sbuffer_destroy(&x->body);
}

/* The body of a POST /v1/notice of `count` notices. */
static void notices_body(msgpack_sbuffer *b, const struct notice *xs, size_t count)
{
	struct veld__notice v[16];
	struct veld__notice_req m = {v, count};
	assert_true(count <= 16);
	for (size_t i = 0; i < count; i++)
		v[i] = xs[i].n;
	msgpack_sbuffer_init(b);
	assert_int_equal(veld__wire_notice_req_encode(b, &m), VELD_OK);
}

/* POST /v1/notice of `count` notices, by `sender`. */
static void notices_post(struct fx *f, const struct dev *sender, const struct notice *xs,
                         size_t count, struct resp *r)
{
	msgpack_sbuffer b;
	notices_body(&b, xs, count);
	call(f, sender, "POST", "/v1/notice", (uint8_t *)b.data, b.size, r);
	msgpack_sbuffer_destroy(&b);
}

/* One notice, as `sender` posts it. */
static void notice_post(struct fx *f, const struct dev *sender, const struct dev *signer,
                        const char *team, uint64_t n, const struct veld__notice_body *body,
                        struct resp *r)
{
	struct notice x;
	notice_make(&x, signer, team, n, body);
	notices_post(f, sender, &x, 1, r);
	notice_free(&x);
}

/* The office's last notice number of `team` (its slot is made). */
static uint64_t *notice_last(struct fx *f, const char *team)
{
	for (size_t i = 0; i < f->nnotice_teams; i++)
		if (strcmp(f->notices[i].team, team) == 0)
			return &f->notices[i].n;
	assert_true(f->nnotice_teams < sizeof f->notices / sizeof f->notices[0]);
	snprintf(f->notices[f->nnotice_teams].team, sizeof f->notices[0].team, "%s", team);
	f->notices[f->nnotice_teams].n = 0;
	return &f->notices[f->nnotice_teams++].n;
}

/* The office's next notice of `team`: 200 with {"v":1}. */
static void notice_ok(struct fx *f, const char *team, const struct veld__notice_body *body)
{
	uint64_t *last = notice_last(f, team);
	struct veld__wire w;
	struct resp r;
	notice_post(f, &f->office, &f->office, team, *last + 1, body, &r);
	if (r.status != 200)
		fail_msg("notice %llu of %s answered %ld", (unsigned long long)(*last + 1), team,
		         r.status);
	assert_string_equal(r.ctype, VELD_CONTENT_TYPE);
	memset(&w, 0, sizeof w);
	assert_int_equal(veld__wire_ok_decode(&w, r.body, r.len), VELD_OK);
	veld__wire_free(&w);
	resp_free(&r);
	(*last)++;
}

static struct veld__notice_body erase_body(const uint8_t client[16])
{
	struct veld__notice_body b;
	memset(&b, 0, sizeof b);
	b.kind = VELD_NOTICE_ERASE;
	memcpy(b.id, client, 16);
	return b;
}

static struct veld__notice_body policy_body(uint32_t mask)
{
	struct veld__notice_body b;
	memset(&b, 0, sizeof b);
	b.kind = VELD_NOTICE_POLICY;
	b.mask = mask;
	return b;
}

static struct veld__notice_body cert_body(const struct dev *d)
{
	struct veld__notice_body b;
	memset(&b, 0, sizeof b);
	b.kind = VELD_NOTICE_CERT;
	memcpy(b.id, d->id, 16);
	memcpy(b.sign_pk, d->sign_pk, 32);
	memcpy(b.box_pk, d->box_pk, 32);
	snprintf(b.role, sizeof b.role, "worker");
	b.enrolled = 1;
	return b;
}

static struct veld__notice_body revoke_body(const struct dev *d, uint64_t last_seq)
{
	struct veld__notice_body b;
	memset(&b, 0, sizeof b);
	b.kind = VELD_NOTICE_REVOKE;
	memcpy(b.id, d->id, 16);
	b.last_seq = last_seq;
	return b;
}

/* The office erases `client` of `team`. */
static void erase_ok(struct fx *f, const char *team, const uint8_t client[16])
{
	struct veld__notice_body b = erase_body(client);
	notice_ok(f, team, &b);
}

/* An error answer's message. */
static void error_message(const struct resp *r, char *out, size_t cap)
{
	struct veld__error_resp e;
	struct veld__wire w;
	memset(&w, 0, sizeof w);
	assert_int_equal(veld__wire_error_decode(&w, r->body, r->len, &e), VELD_OK);
	veld__wire_free(&w);
	snprintf(out, cap, "%s", e.message);
}

/* Notices of a team are numbered from 1 without a gap: a number past the
 * next is a gap (with the expected one), a held number with other bytes an
 * equivocation, the same notice again is skipped. */
static void test_server__notice_numbering(void **state)
{
	struct fx *f = *state;
	struct veld__notice_body p1 = policy_body(0x1), p2 = policy_body(0x2);
	struct notice xs[3];
	struct resp r;
	uint64_t expected = 0;
	uint8_t before[32], after[32];

	SNAPSHOT(f, empty);
	notice_post(f, &f->office, &f->office, "north", 2, &p1, &r);
	assert_error(&r, 409, "gap", &expected);
	assert_int_equal(expected, 1);
	resp_free(&r);
	ASSERT_UNCHANGED(f, empty);

	notice_post(f, &f->office, &f->office, "north", 1, &p1, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	assert_int_equal(db_count(f, "notices"), 1);
	/* The same notice again: skipped; only the nonce is used up. */
	db_digest_except(f, "nonces", before);
	notice_post(f, &f->office, &f->office, "north", 1, &p1, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	db_digest_except(f, "nonces", after);
	assert_memory_equal(before, after, 32);

	/* Number 1 with other bytes: another body, or the same body at
	 * another time. */
	SNAPSHOT(f, one);
	notice_post(f, &f->office, &f->office, "north", 1, &p2, &r);
	assert_error(&r, 409, "equivocation", NULL);
	resp_free(&r);
	notice_make(&xs[0], &f->office, "north", 1, &p1);
	xs[0].n.at++;
	notice_sign(&xs[0], &f->office);
	notices_post(f, &f->office, xs, 1, &r);
	assert_error(&r, 409, "equivocation", NULL);
	resp_free(&r);
	notice_free(&xs[0]);
	notice_post(f, &f->office, &f->office, "north", 3, &p2, &r);
	assert_error(&r, 409, "gap", &expected);
	assert_int_equal(expected, 2);
	resp_free(&r);
	/* One request is one transaction: 2 would do, 4 is a gap, so 2 is
	 * not stored either. */
	notice_make(&xs[0], &f->office, "north", 2, &p2);
	notice_make(&xs[1], &f->office, "north", 4, &p2);
	notices_post(f, &f->office, xs, 2, &r);
	assert_error(&r, 409, "gap", &expected);
	assert_int_equal(expected, 3);
	resp_free(&r);
	notice_free(&xs[0]);
	notice_free(&xs[1]);
	ASSERT_UNCHANGED(f, one);

	/* Each team counts on its own. */
	notice_post(f, &f->office, &f->office, "south", 1, &p2, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	/* A request may carry the team's next several, and resend held ones
	 * first (the answer to the last one was lost). */
	notice_make(&xs[0], &f->office, "north", 1, &p1);
	notice_make(&xs[1], &f->office, "north", 2, &p2);
	notice_make(&xs[2], &f->office, "north", 3, &p1);
	notices_post(f, &f->office, xs, 3, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	for (size_t i = 0; i < 3; i++)
		notice_free(&xs[i]);
	assert_int_equal(db_count(f, "notices"), 4);
	assert_int_equal(db_int(f, "SELECT max(n) FROM notices WHERE team = 'north'"), 3);
	/* The policy of the last one is the team's. */
	assert_int_equal(db_int(f, "SELECT mask FROM field_policy WHERE team = 'north'"), 0x1);
	assert_int_equal(db_int(f, "SELECT at FROM field_policy WHERE team = 'north'"),
	                 (long long)NOTICE_AT + 3);
}

/* Only the office's word counts: a notice signed by another key, or changed
 * after signing, is refused before anything else of it; a body that does
 * not decode for its kind is malformed; a worker may not post any. */
static void test_server__notice_bad_signature(void **state)
{
	struct fx *f = *state;
	struct dev north;
	struct veld__notice_body p1 = policy_body(0x1);
	struct notice x;
	struct resp r;
	uint8_t client[16];
	worker(f, &north, "north");
	randombytes_buf(client, 16);
	SNAPSHOT(f, before);
	/* Signed by a worker, sent by the office. */
	notice_post(f, &f->office, &north, "north", 1, &p1, &r);
	assert_error(&r, 409, "bad_batch", NULL);
	resp_free(&r);
	/* The signature is checked before the number: no gap is reported. */
	notice_post(f, &f->office, &north, "north", 7, &p1, &r);
	assert_error(&r, 409, "bad_batch", NULL);
	resp_free(&r);
	/* Changed after signing: another team, another kind's body. */
	notice_make(&x, &f->office, "north", 1, &p1);
	snprintf(x.n.team, sizeof x.n.team, "south");
	notices_post(f, &f->office, &x, 1, &r);
	assert_error(&r, 409, "bad_batch", NULL);
	resp_free(&r);
	notice_free(&x);
	/* Validly signed, but the body is not its kind's. */
	struct veld__notice_body eb = erase_body(client);
	notice_make(&x, &f->office, "north", 1, &eb);
	snprintf(x.n.kind, sizeof x.n.kind, "policy");
	notice_sign(&x, &f->office);
	notices_post(f, &f->office, &x, 1, &r);
	assert_error(&r, 400, "malformed", NULL);
	resp_free(&r);
	snprintf(x.n.kind, sizeof x.n.kind, "wipe");
	notice_sign(&x, &f->office);
	notices_post(f, &f->office, &x, 1, &r);
	assert_error(&r, 400, "malformed", NULL);
	resp_free(&r);
	notice_free(&x);
	/* A worker, even with the office's signature; refused before its body
	 * is looked at. */
	notice_post(f, &north, &f->office, "north", 1, &p1, &r);
	assert_error(&r, 403, "forbidden", NULL);
	resp_free(&r);
	static const uint8_t junk[] = "not a notice";
	call(f, &north, "POST", "/v1/notice", junk, sizeof junk - 1, &r);
	assert_error(&r, 403, "forbidden", NULL);
	resp_free(&r);
	/* The endpoints it replaced are gone. */
	call(f, &f->office, "POST", "/v1/erase", junk, sizeof junk - 1, &r);
	assert_error(&r, 404, "not_found", NULL);
	resp_free(&r);
	call(f, &f->office, "POST", "/v1/policy", junk, sizeof junk - 1, &r);
	assert_error(&r, 404, "not_found", NULL);
	resp_free(&r);
	ASSERT_UNCHANGED(f, before);
	assert_int_equal(db_count(f, "notices"), 0);
}

/* A certificate must describe the device the server enrolled: its keys,
 * its team, its role. */
static void test_server__notice_cert_must_match_device(void **state)
{
	struct fx *f = *state;
	struct dev north, south, stranger;
	struct veld__notice_body bad[6];
	struct resp r;
	worker(f, &north, "north");
	worker(f, &south, "south");
	dev_new(&stranger, "north");
	for (size_t i = 0; i < 6; i++)
		bad[i] = cert_body(&north);
	bad[0].sign_pk[0] ^= 1;                     /* another signing key */
	bad[1].box_pk[31] ^= 1;                     /* another box key */
	bad[2] = cert_body(&south);                 /* a device of another team */
	bad[3] = cert_body(&stranger);              /* never enrolled */
	bad[4] = cert_body(&f->office);             /* the office */
	snprintf(bad[5].role, sizeof bad[5].role, "office"); /* another role */
	SNAPSHOT(f, before);
	for (size_t i = 0; i < 6; i++) {
		char msg[256];
		notice_post(f, &f->office, &f->office, "north", 1, &bad[i], &r);
		if (r.status != 409)
			fail_msg("certificate %zu answered %ld", i, r.status);
		assert_error(&r, 409, "bad_batch", NULL);
		error_message(&r, msg, sizeof msg);
		assert_non_null(strstr(msg, "does not match the enrolled device"));
		resp_free(&r);
	}
	ASSERT_UNCHANGED(f, before);
	/* The true one is kept, and shown to the team. */
	struct veld__notice_body good = cert_body(&north);
	notice_ok(f, "north", &good);
	good = cert_body(&south);
	notice_ok(f, "south", &good);
	assert_int_equal(db_count(f, "notices"), 2);
}

/* A revocation revokes a device of its team, as POST /v1/revoke does. */
static void test_server__notice_revoke(void **state)
{
	struct fx *f = *state;
	struct dev north, north2, south;
	struct veld__notice_body b;
	struct resp r;
	worker(f, &north, "north");
	worker(f, &north2, "north");
	worker(f, &south, "south");
	SNAPSHOT(f, before);
	const struct dev *others[] = {&south, &f->office};
	for (size_t i = 0; i < 2; i++) {
		b = revoke_body(others[i], 0);
		notice_post(f, &f->office, &f->office, "north", 1, &b, &r);
		assert_error(&r, 409, "bad_batch", NULL);
		resp_free(&r);
	}
	ASSERT_UNCHANGED(f, before);
	b = revoke_body(&north, 0);
	notice_ok(f, "north", &b);
	call(f, &north, "GET", "/v1/pull", NULL, 0, &r);
	assert_error(&r, 403, "revoked", NULL);
	resp_free(&r);
	/* Revoked already: stored as the next notice, no other change. */
	notice_ok(f, "north", &b);
	call(f, &north2, "GET", "/v1/pull", NULL, 0, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	call(f, &south, "GET", "/v1/pull", NULL, 0, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
}

/* Rows of `table` whose column `col` holds `id`. */
static long long db_rows_with(struct fx *f, const char *table, const char *col,
                              const uint8_t id[16])
{
	char lit[140], q[256];
	snprintf(q, sizeof q, "SELECT count(*) FROM \"%s\" WHERE \"%s\" = %s", table, col,
	         db_blob(lit, id, 16));
	return db_int(f, q);
}

/* The server's last_seq of a device. */
static long long db_last_seq(struct fx *f, const struct dev *d)
{
	char lit[140], q[200];
	assert_int_equal(db_rows_with(f, "devices", "device", d->id), 1);
	snprintf(q, sizeof q, "SELECT last_seq FROM devices WHERE device = %s",
	         db_blob(lit, d->id, 16));
	return db_int(f, q);
}

/* What the server holds of `client` beyond what an erasure keeps (its
 * feed rows, and per operation the hash and the kh layer): operations,
 * records, its row in clients, keys. */
static long long db_client_traces(struct fx *f, const uint8_t client[16])
{
	char lit[140], q[800];
	db_blob(lit, client, 16);
	snprintf(q, sizeof q,
	         "SELECT (SELECT count(*) FROM ops WHERE client = %s)"
	         " + (SELECT count(*) FROM entities WHERE client = %s)"
	         " + (SELECT count(*) FROM clients WHERE client = %s)"
	         " + (SELECT count(*) FROM envelopes WHERE client = %s)",
	         lit, lit, lit, lit);
	return db_int(f, q);
}

/* Every stub of `client` on the page verifies as a device checks it: the
 * operation's hash recomputed from team, client and kh (veld__op_hash2) is
 * its batch's. Returns how many there are. */
static size_t assert_stubs_verify(const struct veld__pull_resp *p, const uint8_t client[16])
{
	size_t n = 0;
	for (size_t i = 0; i < p->nstubs; i++) {
		const struct veld__stub *x = &p->stubs[i];
		const struct veld__batch *b;
		uint8_t h[32];
		if (memcmp(x->client, client, 16) != 0)
			continue;
		b = batch_of(p, x->device, x->seq);
		assert_int_equal(b->ver, 2);
		veld__op_hash2(x->team, x->client, x->kh, h);
		assert_memory_equal(batch_hash(b, x->seq), h, 32);
		n++;
	}
	return n;
}

/* A north worker's batch mixing two clients and a second record of the
 * first one; the office writes both teams in one batch. Erasing one client
 * removes all of it and nothing of the others; its operations stay in the
 * feed as stubs whose kh recomputes to their batch's hash, so the batches
 * they shared verify and no seq of an author is missing. */
static void test_server__erase_client(void **state)
{
	struct fx *f = *state;
	struct dev north, south;
	struct batch b, ob, sb;
	struct veld__pull_resp p;
	struct veld__wire w;
	struct resp r;
	uint8_t cn[16], cm[16], cs[16], vn[16];
	char hex[33], lit[140], q[300];
	veld__ref ghost;
	worker(f, &north, "north");
	worker(f, &south, "south");
	randombytes_buf(cn, 16);
	randombytes_buf(cm, 16);
	randombytes_buf(cs, 16);
	randombytes_buf(vn, 16);

	/* north 1..6: 1, 2, 6 on client cn; 3, 4 on client cm; 5 creates visit
	 * vn of cn, superseding an operation the server does not hold. */
	batch_make(&b, &north, 1, 6, "north", cn, 1);
	for (size_t i = 2; i <= 3; i++) {
		memcpy(b.ops[i].entity, cm, 16);
		memcpy(b.ops[i].client, cm, 16);
	}
	snprintf(b.ops[4].kind, sizeof b.ops[4].kind, "visit");
	memcpy(b.ops[4].entity, vn, 16);
	randombytes_buf(ghost.device, 16);
	ghost.seq = 9;
	b.ops[4].sup = &ghost;
	b.ops[4].nsup = 1;
	batch_resign(&b, &north);
	push(f, &north, &b, &r);
	assert_pushed(&r, 6, 6);
	resp_free(&r);
	batch_make(&sb, &south, 1, 2, "south", cs, 1);
	push(f, &south, &sb, &r);
	assert_pushed(&r, 2, 2);
	resp_free(&r);
	/* The office: 1 on cn's field f1 (a conflict with north's 1), 2 on cs. */
	batch_make(&ob, &f->office, 1, 2, "north", cn, 3);
	memcpy(ob.ops[1].entity, cs, 16);
	memcpy(ob.ops[1].client, cs, 16);
	snprintf(ob.ops[1].team, sizeof ob.ops[1].team, "south");
	batch_resign(&ob, &f->office);
	push(f, &f->office, &ob, &r);
	assert_pushed(&r, 2, 2);
	resp_free(&r);
	struct veld__envelope e[3] = {envelope(&north, cn, "team:north", 1),
	                              envelope(&north, cn, "office", 0),
	                              envelope(&north, cm, "team:north", 1)};
	push_envs(f, &north, e, 3, &r);
	assert_pushed(&r, 6, 0);
	resp_free(&r);

	assert_int_equal(db_rows_with(f, "ops", "client", cn), 5);
	assert_int_equal(db_rows_with(f, "entities", "client", cn), 2);
	assert_int_equal(db_rows_with(f, "feed", "client", cn), 5);
	assert_int_equal(db_rows_with(f, "envelopes", "client", cn), 2);
	assert_int_equal(db_rows_with(f, "superseded", "entity", vn), 1);
	assert_int_equal(db_rows_with(f, "conflicts", "entity", cn), 1);
	assert_int_equal(db_count(f, "ops"), 10);
	assert_int_equal(db_count(f, "erasures"), 0);

	erase_ok(f, "north", cn);
	/* All of cn is gone: operations, records, merge state, keys. */
	assert_int_equal(db_client_traces(f, cn), 0);
	assert_int_equal(db_rows_with(f, "superseded", "entity", vn), 0);
	assert_int_equal(db_rows_with(f, "conflicts", "entity", cn), 0);
	assert_int_equal(db_rows_with(f, "ops", "entity", vn), 0);
	/* ... but recorded: once, with its team and the notice's time, in the
	 * merge's table too; its feed rows stay, and of each operation the
	 * hash and kh with its team and client. */
	assert_int_equal(db_count(f, "erasures"), 1);
	sodium_bin2hex(hex, sizeof hex, cn, 16);
	db_blob(lit, cn, 16);
	snprintf(q, sizeof q, "SELECT count(*) FROM erasures WHERE client = %s AND team = 'north'"
	         " AND at = %llu", lit, (unsigned long long)NOTICE_AT + 1);
	assert_int_equal(db_int(f, q), 1);
	assert_int_equal(db_rows_with(f, "erased", "client", cn), 1);
	snprintf(q, sizeof q, "SELECT count(*) FROM erased_ops WHERE client = %s AND team = 'north'"
	         " AND length(kh) = 32 AND length(hash) = 32", lit);
	assert_int_equal(db_int(f, q), 5);
	assert_int_equal(db_count(f, "erased_ops"), 5);
	assert_int_equal(db_rows_with(f, "feed", "client", cn), 5);
	/* The others are untouched. */
	assert_int_equal(db_count(f, "ops"), 5);
	assert_int_equal(db_rows_with(f, "ops", "client", cm), 2);
	assert_int_equal(db_rows_with(f, "ops", "client", cs), 3);
	assert_int_equal(db_rows_with(f, "feed", "client", cm), 2);
	assert_int_equal(db_rows_with(f, "entities", "client", cm), 1);
	assert_int_equal(db_rows_with(f, "entities", "client", cs), 1);
	assert_int_equal(db_rows_with(f, "clients", "client", cm), 1);
	assert_int_equal(db_rows_with(f, "envelopes", "client", cm), 1);
	assert_int_equal(db_last_seq(f, &north), 6);
	assert_int_equal(db_last_seq(f, &f->office), 2);

	/* The office: what is left, and cn's five as stubs. */
	pull_page(f, &f->office, "/v1/pull", &w, &p, &r);
	assert_int_equal(p.nops, 5);
	for (size_t i = 0; i < p.nops; i++)
		assert_memory_not_equal(p.ops[i].client, cn, 16);
	assert_int_equal(p.nstubs, 5);
	assert_int_equal(assert_stubs_verify(&p, cn), 5);
	assert_int_equal(page_seqs(&p, &north), SEQS(6));
	assert_int_equal(page_seqs(&p, &f->office), SEQS(2));
	veld__wire_free(&w);
	resp_free(&r);
	/* A north worker: cm's two, cn's five stubs (kh as the operation's
	 * own layer), and the office's south operation as a stub too. */
	pull_page(f, &north, "/v1/pull", &w, &p, &r);
	assert_int_equal(p.nops, 2);
	assert_memory_equal(p.ops[0].client, cm, 16);
	assert_memory_equal(p.ops[1].client, cm, 16);
	assert_int_equal(p.nstubs, 6);
	assert_int_equal(p.nheld, 0);
	assert_int_equal(assert_stubs_verify(&p, cn), 5);
	assert_int_equal(assert_stubs_verify(&p, cs), 1);
	for (size_t i = 0; i < p.nstubs; i++) {
		uint8_t rh[32], kh[32];
		const veld__op *op = NULL;
		for (size_t k = 0; k < b.n; k++)
			if (memcmp(p.stubs[i].device, north.id, 16) == 0 && b.ops[k].seq == p.stubs[i].seq)
				op = &b.ops[k];
		if (!op)
			continue;
		veld__op_layers(op, rh, kh);
		assert_memory_equal(p.stubs[i].kh, kh, 32);
		assert_string_equal(p.stubs[i].team, "north");
	}
	assert_int_equal(page_seqs(&p, &north), SEQS(6));
	assert_int_equal(page_seqs(&p, &f->office), SEQS(2));
	assert_int_equal(p.nbatches, 2);
	assert_int_equal(p.nenvs, 1);
	assert_memory_equal(p.envs[0].client, cm, 16);
	veld__wire_free(&w);
	resp_free(&r);
	/* Asked with own=1, north's own six come back as one run, the erased
	 * ones by the hash erased_ops kept. */
	pull_page(f, &north, "/v1/pull?own=1", &w, &p, &r);
	assert_int_equal(p.nown, 1);
	assert_int_equal(p.own[0].from, 1);
	assert_int_equal(p.own[0].to, 6);
	{
		uint8_t hs[6 * 32], d[32];
		for (size_t k = 0; k < 6; k++)
			memcpy(hs + 32 * k, b.ops[k].hash, 32);
		veld__own_run_digest(hs, 6, d);
		assert_memory_equal(p.own[0].d, d, 32);
	}
	assert_int_equal(page_seqs(&p, &north), 0);
	veld__wire_free(&w);
	resp_free(&r);
	/* South: its own two and the office's second; the office's first (cn,
	 * north) as a stub. */
	pull_page(f, &south, "/v1/pull", &w, &p, &r);
	assert_int_equal(p.nops, 3);
	assert_int_equal(p.nstubs, 1);
	assert_memory_equal(p.stubs[0].client, cn, 16);
	assert_int_equal(page_seqs(&p, &f->office), SEQS(2));
	assert_int_equal(p.nbatches, 2);
	veld__wire_free(&w);
	resp_free(&r);

	/* Erased again (a later notice): stored as a notice, nothing else. */
	erase_ok(f, "north", cn);
	assert_int_equal(db_count(f, "erasures"), 1);
	assert_int_equal(db_count(f, "erased_ops"), 5);
	assert_int_equal(db_count(f, "notices"), 2);

	/* No log line holds the client. */
	veld_server_stop(f->srv);
	f->srv = NULL;
	int logged = 0;
	for (size_t i = 0; i < f->nlog; i++) {
		assert_null(strstr(f->log[i], hex));
		logged |= strncmp(f->log[i], "POST /v1/notice 200 ", 20) == 0;
	}
	assert_true(logged);
}

/* An erasure names a client the server knows, of the notice's own team;
 * and like every notice it is all or nothing with the rest of its request. */
static void test_server__erase_notice_refusals(void **state)
{
	struct fx *f = *state;
	struct dev north;
	struct batch b;
	struct notice xs[2];
	struct resp r;
	uint8_t cn[16], ck[16], unknown[16];
	worker(f, &north, "north");
	randombytes_buf(cn, 16);
	randombytes_buf(ck, 16);
	randombytes_buf(unknown, 16);
	batch_make(&b, &north, 1, 2, "north", cn, 1);
	push(f, &north, &b, &r);
	assert_pushed(&r, 2, 2);
	resp_free(&r);
	/* ck: only a key envelope, no operation. */
	struct veld__envelope e = envelope(&north, ck, "team:north", 1);
	push_envs(f, &north, &e, 1, &r);
	assert_pushed(&r, 2, 0);
	resp_free(&r);

	SNAPSHOT(f, before);
	struct veld__notice_body bu = erase_body(unknown), bk = erase_body(ck), bn = erase_body(cn);
	notice_post(f, &f->office, &f->office, "north", 1, &bu, &r);
	assert_error(&r, 404, "not_found", NULL);
	resp_free(&r);
	notice_post(f, &f->office, &f->office, "north", 1, &bk, &r);
	assert_error(&r, 404, "not_found", NULL);
	resp_free(&r);
	/* Another team's notice: its devices would never see the erasure. */
	notice_post(f, &f->office, &f->office, "south", 1, &bn, &r);
	assert_error(&r, 403, "forbidden", NULL);
	resp_free(&r);
	/* A worker, even of the client's own team. */
	notice_post(f, &north, &f->office, "north", 1, &bn, &r);
	assert_error(&r, 403, "forbidden", NULL);
	resp_free(&r);
	/* Signed by a worker. */
	notice_post(f, &f->office, &north, "north", 1, &bn, &r);
	assert_error(&r, 409, "bad_batch", NULL);
	resp_free(&r);
	/* A good erasure and a refused one in one request: neither. */
	notice_make(&xs[0], &f->office, "north", 1, &bn);
	notice_make(&xs[1], &f->office, "north", 2, &bu);
	notices_post(f, &f->office, xs, 2, &r);
	assert_error(&r, 404, "not_found", NULL);
	resp_free(&r);
	/* A query. */
	{
		struct veld__notice_req m = {&xs[0].n, 1};
		msgpack_sbuffer mb;
		msgpack_sbuffer_init(&mb);
		assert_int_equal(veld__wire_notice_req_encode(&mb, &m), VELD_OK);
		call(f, &f->office, "POST", "/v1/notice?now=1", (uint8_t *)mb.data, mb.size, &r);
		assert_error(&r, 400, "malformed", NULL);
		resp_free(&r);
		msgpack_sbuffer_destroy(&mb);
	}
	notice_free(&xs[0]);
	notice_free(&xs[1]);
	ASSERT_UNCHANGED(f, before);
	assert_int_equal(db_count(f, "erasures"), 0);
	assert_int_equal(db_rows_with(f, "ops", "client", cn), 2);
	assert_int_equal(db_rows_with(f, "envelopes", "client", ck), 1);
	/* The office may. */
	erase_ok(f, "north", cn);
	assert_int_equal(db_count(f, "erasures"), 1);
	assert_int_equal(db_client_traces(f, cn), 0);
}

static void pull_notices(struct fx *f, const struct dev *d, uint64_t notice_after,
                         struct veld__wire *w, struct veld__pull_resp *p, struct resp *r)
{
	char path[128];
	snprintf(path, sizeof path, "/v1/pull?notice_after=%llu", (unsigned long long)notice_after);
	pull_page(f, d, path, w, p, r);
}

/* Assert a page's notices: `n` of them, each of `team` (NULL: any) and
 * signed by the office over its bytes, with a body of its kind, cursors
 * rising above `after`, notice_next the last (or `after`). */
static void assert_notices(const struct fx *f, const struct veld__pull_resp *p, uint64_t after,
                           const char *team, size_t n)
{
	assert_int_equal(p->nnotices, n);
	for (size_t i = 0; i < n; i++) {
		const struct veld__notice *x = &p->notices[i];
		struct veld__notice_body body;
		if (team)
			assert_string_equal(x->team, team);
		assert_int_equal(veld__notice_sig_verify(f->office.sign_pk, x->team, x->n, x->kind,
		                                         x->at, x->body, x->body_len, x->sig), 0);
		assert_int_equal(veld__wire_notice_body_decode(x->kind, x->body, x->body_len, &body),
		                 VELD_OK);
		assert_true(p->notice_cursors[i] > (i ? p->notice_cursors[i - 1] : after));
	}
	assert_int_equal(p->notice_next, n ? p->notice_cursors[n - 1] : after);
}

/* A worker's pull carries its team's notices above notice_after; the
 * office's all; a page holds at most 1000. */
static void test_server__notices_in_pulls(void **state)
{
	struct fx *f = *state;
	struct dev north, south;
	struct veld__pull_resp p;
	struct veld__wire w;
	struct resp r;
	worker(f, &north, "north");
	worker(f, &south, "south");
	/* Before: none, notice_next stays where it was. */
	pull_notices(f, &north, 7, &w, &p, &r);
	assert_notices(f, &p, 7, NULL, 0);
	veld__wire_free(&w);
	resp_free(&r);

	struct veld__notice_body cn = cert_body(&north), cs = cert_body(&south),
	                         pol = policy_body(VELD_POLICY_ALL);
	notice_ok(f, "north", &cn);
	notice_ok(f, "south", &cs);
	notice_ok(f, "north", &pol);
	pull_page(f, &north, "/v1/pull", &w, &p, &r);
	assert_notices(f, &p, 0, "north", 2);
	assert_int_equal(p.notices[0].n, 1);
	assert_string_equal(p.notices[0].kind, "cert");
	assert_int_equal(p.notices[1].n, 2);
	assert_string_equal(p.notices[1].kind, "policy");
	assert_false(p.more);
	uint64_t first = p.notice_cursors[0], next = p.notice_next;
	veld__wire_free(&w);
	resp_free(&r);
	pull_notices(f, &north, first, &w, &p, &r);
	assert_notices(f, &p, first, "north", 1);
	veld__wire_free(&w);
	resp_free(&r);
	pull_notices(f, &north, next, &w, &p, &r);
	assert_notices(f, &p, next, NULL, 0);
	veld__wire_free(&w);
	resp_free(&r);
	pull_page(f, &south, "/v1/pull", &w, &p, &r);
	assert_notices(f, &p, 0, "south", 1);
	veld__wire_free(&w);
	resp_free(&r);
	pull_page(f, &f->office, "/v1/pull?limit=10&notice_after=0&env_after=0&after=0", &w, &p, &r);
	assert_notices(f, &p, 0, NULL, 3);
	veld__wire_free(&w);
	resp_free(&r);

	/* The query: notice_after at most once, a decimal number; erase_after
	 * is gone; the access-log pull takes none. */
	SNAPSHOT(f, before);
	static const char *const bad[] = {
		"/v1/pull?notice_after=1&notice_after=2", "/v1/pull?notice_after=",
		"/v1/pull?notice_after=-1", "/v1/pull?notice_after=1x", "/v1/pull?erase_after=0",
		"/v1/pull?notice_after=99999999999999999999",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		call(f, &north, "GET", bad[i], NULL, 0, &r);
		assert_error(&r, 400, "malformed", NULL);
		resp_free(&r);
	}
	call(f, &f->office, "GET", "/v1/audit?notice_after=0", NULL, 0, &r);
	assert_error(&r, 400, "malformed", NULL);
	resp_free(&r);
	ASSERT_UNCHANGED(f, before);

	/* More than a page: 1001 more of north (as stored, signed or not: the
	 * page limit is the server's). On PostgreSQL their cursors come from
	 * the feed's counter row, as the driver takes them. */
	veld_server_stop(f->srv);
	f->srv = NULL;
	if (f->db[0])
		db_int(f, "WITH c AS (UPDATE cursors SET last = last + 1001 WHERE feed = 'notices'"
		          " RETURNING last)"
		          " INSERT INTO notices(cursor, team, n, kind, at, body, sig)"
		          " SELECT c.last - 1003 + i, 'north', i, 'policy', 1, '\\x9100'::bytea,"
		          " decode(repeat(md5(i::text), 4), 'hex') FROM c, generate_series(3, 1003) i");
	else
		db_int(f, "WITH RECURSIVE k(i) AS (SELECT 3 UNION ALL SELECT i + 1 FROM k WHERE i < 1003)"
		          " INSERT INTO notices(team, n, kind, at, body, sig)"
		          " SELECT 'north', i, 'policy', 1, x'9100', randomblob(64) FROM k");
	server_start(f, 0, 0);
	call(f, &north, "GET", "/v1/pull?notice_after=0", NULL, 0, &r);
	assert_int_equal(r.status, 200);
	memset(&w, 0, sizeof w);
	assert_int_equal(veld__wire_pull_resp_decode(&w, r.body, r.len, &p), VELD_OK);
	assert_int_equal(p.nnotices, 1000);
	assert_true(p.more);
	assert_int_equal(p.notice_next, p.notice_cursors[999]);
	next = p.notice_next;
	veld__wire_free(&w);
	resp_free(&r);
	char path[128];
	snprintf(path, sizeof path, "/v1/pull?notice_after=%llu", (unsigned long long)next);
	call(f, &north, "GET", path, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(veld__wire_pull_resp_decode(&w, r.body, r.len, &p), VELD_OK);
	assert_int_equal(p.nnotices, 3);
	assert_false(p.more);
	veld__wire_free(&w);
	resp_free(&r);
	pull_notices(f, &south, 0, &w, &p, &r);
	assert_notices(f, &p, 0, "south", 1);
	veld__wire_free(&w);
	resp_free(&r);
}

/* After an erasure, a device's operations and envelopes of the client are
 * accepted and dropped; its sequence advances and every seq gets a feed row
 * (a stub in pulls); every other rule holds. */
static void test_server__erase_then_push(void **state)
{
	struct fx *f = *state;
	struct dev north, north2, south;
	struct batch b, first;
	struct veld__pull_resp p;
	struct veld__wire w;
	struct resp r;
	uint64_t expected = 0;
	uint8_t cn[16], cm[16];
	worker(f, &north, "north");
	worker(f, &north2, "north");
	worker(f, &south, "south");
	randombytes_buf(cn, 16);
	randombytes_buf(cm, 16);
	batch_make(&first, &north, 1, 3, "north", cn, 1);
	push(f, &north, &first, &r);
	assert_pushed(&r, 3, 3);
	resp_free(&r);
	erase_ok(f, "north", cn);
	long long feed = db_count(f, "feed"), ops = db_count(f, "ops");
	assert_int_equal(ops, 0);
	assert_int_equal(feed, 3);

	/* New operations of the erased client: acked, not stored, but in the
	 * feed with their hash and kh. */
	batch_make(&b, &north, 4, 3, "north", cn, 1);
	push(f, &north, &b, &r);
	assert_pushed(&r, 6, 0);
	resp_free(&r);
	assert_int_equal(db_last_seq(f, &north), 6);
	assert_int_equal(db_client_traces(f, cn), 0);
	assert_int_equal(db_count(f, "feed"), feed + 3);
	assert_int_equal(db_rows_with(f, "erased_ops", "device", north.id), 6);
	assert_int_equal(db_rows_with(f, "erased_ops", "client", cn), 6);
	/* Sent again (held and erased): skipped, not refused. */
	push(f, &north, &first, &r);
	assert_pushed(&r, 6, 0);
	resp_free(&r);
	batch_make(&b, &north, 2, 7, "north", cn, 1);
	push(f, &north, &b, &r);
	assert_pushed(&r, 8, 0);
	resp_free(&r);
	assert_int_equal(db_count(f, "feed"), feed + 5);
	/* A different operation at an erased seq is refused like any other
	 * (its batch would be stored over hashes the pulls do not serve). */
	{
		SNAPSHOT(f, held);
		batch_make(&b, &north, 1, 2, "north", cn, 9);
		push(f, &north, &b, &r);
		assert_error(&r, 409, "equivocation", NULL);
		resp_free(&r);
		ASSERT_UNCHANGED(f, held);
	}
	assert_int_equal(db_client_traces(f, cn), 0);

	/* The other rules still hold. */
	SNAPSHOT(f, before);
	batch_make(&b, &north, 2, 1, "north", cm, 1); /* a live client at an erased seq */
	push(f, &north, &b, &r);
	assert_error(&r, 409, "equivocation", NULL);
	resp_free(&r);
	batch_make(&b, &north, 10, 1, "north", cn, 1);
	push(f, &north, &b, &r);
	assert_error(&r, 409, "gap", &expected);
	assert_int_equal(expected, 9);
	resp_free(&r);
	batch_make(&b, &north, 9, 2, "north", cn, 1);
	b.sig[5] ^= 1;
	push(f, &north, &b, &r);
	assert_error(&r, 409, "bad_batch", NULL);
	resp_free(&r);
	batch_make(&b, &south, 1, 1, "south", cn, 1); /* still north's client */
	push(f, &south, &b, &r);
	assert_error(&r, 403, "forbidden", NULL);
	resp_free(&r);
	batch_make(&b, &north, 9, 1, "south", cn, 1);
	push(f, &north, &b, &r);
	assert_error(&r, 403, "forbidden", NULL);
	resp_free(&r);
	struct veld__envelope es = envelope(&f->office, cn, "team:south", 1);
	push_envs(f, &f->office, &es, 1, &r);
	assert_error(&r, 403, "forbidden", NULL);
	resp_free(&r);
	ASSERT_UNCHANGED(f, before);

	/* Envelopes for it are dropped. */
	struct veld__envelope e[2] = {envelope(&north, cn, "team:north", 1),
	                              envelope(&north, cn, "office", 0)};
	push_envs(f, &north, e, 2, &r);
	assert_pushed(&r, 8, 0);
	resp_free(&r);
	assert_int_equal(db_rows_with(f, "envelopes", "client", cn), 0);

	/* One batch of both: the live operation is stored and verifies in a
	 * pull with the dropped one's hash; every seq of north shows. */
	batch_make(&b, &north, 9, 2, "north", cn, 1);
	memcpy(b.ops[1].entity, cm, 16);
	memcpy(b.ops[1].client, cm, 16);
	batch_resign(&b, &north);
	push(f, &north, &b, &r);
	assert_pushed(&r, 10, 1);
	resp_free(&r);
	assert_int_equal(db_count(f, "ops"), 1);
	assert_int_equal(db_client_traces(f, cn), 0);
	pull_page(f, &north2, "/v1/pull", &w, &p, &r);
	assert_int_equal(p.nops, 1);
	assert_int_equal(p.ops[0].seq, 10);
	assert_memory_equal(p.ops[0].client, cm, 16);
	assert_int_equal(assert_stubs_verify(&p, cn), 9);
	assert_int_equal(page_seqs(&p, &north), SEQS(10));
	veld__wire_free(&w);
	resp_free(&r);
	/* The office's operations of it are dropped too. */
	batch_make(&b, &f->office, 1, 2, "north", cn, 4);
	push(f, &f->office, &b, &r);
	assert_pushed(&r, 2, 0);
	resp_free(&r);
	assert_int_equal(db_rows_with(f, "ops", "client", cn), 0);
	/* A restart keeps it so. */
	veld_server_stop(f->srv);
	server_start(f, 0, 0);
	batch_make(&b, &north, 11, 1, "north", cn, 1);
	push(f, &north, &b, &r);
	assert_pushed(&r, 11, 0);
	resp_free(&r);
	assert_int_equal(db_rows_with(f, "ops", "client", cn), 0);
	pull_page(f, &f->office, "/v1/pull", &w, &p, &r);
	assert_int_equal(page_seqs(&p, &north), SEQS(11));
	assert_int_equal(page_seqs(&p, &f->office), SEQS(2));
	veld__wire_free(&w);
	resp_free(&r);
}

/* ---- field policy: policy notices, what workers' pulls carry ------------------------ */

/* Does `hay` hold the bytes of `needle`? */
static int contains(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m)
{
	for (size_t i = 0; m && i + m <= n; i++)
		if (memcmp(hay + i, needle, m) == 0)
			return 1;
	return 0;
}

/* The fields of the client operations a device pulls whole, and of those
 * held back ("a,b,..." in arrival order each). */
static void pulled_fields(struct fx *f, const struct dev *d, char *out, size_t cap, char *held,
                          size_t hcap)
{
	struct veld__wire w;
	struct veld__pull_resp p;
	struct resp r;
	out[0] = 0;
	held[0] = 0;
	pull_page(f, d, "/v1/pull?after=0", &w, &p, &r);
	for (size_t i = 0; i < p.nops; i++)
		snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? "," : "", p.ops[i].field);
	for (size_t i = 0; i < p.nheld; i++)
		snprintf(held + strlen(held), hcap - strlen(held), "%s%s", i ? "," : "", p.held[i].field);
	veld__wire_free(&w);
	resp_free(&r);
}

static void policy_ok(struct fx *f, const char *team, uint32_t mask)
{
	struct veld__notice_body b = policy_body(mask);
	notice_ok(f, team, &b);
}

/* A team's field policy, set by the office's policy notices, decides which
 * client fields its workers' pulls carry whole; the others come as held
 * entries (kind, field and the rh layer, no value) that recompute to their
 * batch's hash; the office's pulls carry every field. */
static void test_server__field_policy(void **state)
{
	struct fx *f = *state;
	struct dev w1, w2;
	struct batch b;
	struct veld__pull_resp p;
	struct veld__wire w;
	struct resp r;
	uint8_t client[16];
	char fields[128], held[128];
	/* birth_date = bit 1, initials = bit 0, address = bit 2 (policy.h). */
	const uint32_t initials_birth = 0x3;
	worker(f, &w1, "north");
	worker(f, &w2, "north");
	randombytes_buf(client, 16);
	batch_make(&b, &w1, 1, 4, "north", client, 1);
	snprintf(b.ops[0].field, sizeof b.ops[0].field, "name");
	snprintf(b.ops[1].field, sizeof b.ops[1].field, "birth_date");
	snprintf(b.ops[2].field, sizeof b.ops[2].field, "address");
	snprintf(b.ops[3].field, sizeof b.ops[3].field, "initials");
	batch_resign(&b, &w1);
	push(f, &w1, &b, &r);
	assert_pushed(&r, 4, 4);
	resp_free(&r);

	/* Without a policy: the default (address and phone, and the name). */
	pulled_fields(f, &w2, fields, sizeof fields, held, sizeof held);
	assert_string_equal(fields, "name,address");
	assert_string_equal(held, "birth_date,initials");
	pulled_fields(f, &f->office, fields, sizeof fields, held, sizeof held);
	assert_string_equal(fields, "name,birth_date,address,initials");
	assert_string_equal(held, "");
	/* A held entry: its rh with its kind and field recompute to the hash
	 * its batch signed, and its value is nowhere on the page. */
	pull_page(f, &w2, "/v1/pull", &w, &p, &r);
	assert_int_equal(p.nheld, 2);
	for (size_t i = 0; i < p.nheld; i++) {
		const struct veld__held *x = &p.held[i];
		const veld__op *op = &b.ops[x->seq - 1];
		const struct veld__batch *bt = batch_of(&p, x->device, x->seq);
		uint8_t kh[32], h[32], rh[32], okh[32];
		veld__op_kind_hash(x->kind, x->field, x->rh, kh);
		veld__op_hash2(x->team, x->client, kh, h);
		assert_memory_equal(batch_hash(bt, x->seq), h, 32);
		assert_memory_equal(h, op->hash, 32);
		veld__op_layers(op, rh, okh);
		assert_memory_equal(x->rh, rh, 32);
		assert_string_equal(x->kind, "client");
		assert_false(contains(r.body, r.len, op->value, op->value_len));
	}
	assert_int_equal(page_seqs(&p, &w1), SEQS(4));
	veld__wire_free(&w);
	resp_free(&r);

	/* A worker may not set one. */
	SNAPSHOT(f, before);
	struct veld__notice_body pb = policy_body(initials_birth);
	notice_post(f, &w1, &f->office, "north", 1, &pb, &r);
	assert_error(&r, 403, "forbidden", NULL);
	resp_free(&r);
	ASSERT_UNCHANGED(f, before);

	/* The office sets one: initials and date of birth reach the team, the
	 * address no longer does. */
	policy_ok(f, "north", initials_birth);
	pulled_fields(f, &w2, fields, sizeof fields, held, sizeof held);
	assert_string_equal(fields, "name,birth_date,initials");
	assert_string_equal(held, "address");
	pulled_fields(f, &f->office, fields, sizeof fields, held, sizeof held);
	assert_string_equal(fields, "name,birth_date,address,initials");
	/* Another team keeps the default. */
	assert_int_equal(db_count(f, "field_policy"), 1);
	/* The next replaces it. */
	policy_ok(f, "north", 0);
	pulled_fields(f, &w2, fields, sizeof fields, held, sizeof held);
	assert_string_equal(fields, "name");
	assert_string_equal(held, "birth_date,address,initials");
}

/* Every field policy.h governs is governed by the team feed: one
 * operation per governed field (and the name), then policies that let
 * none, all, and each one alone through. */
static void test_server__field_policy_governs_every_listed_field(void **state)
{
	struct fx *f = *state;
	struct dev w1, w2;
	struct batch b;
	struct resp r;
	uint8_t client[16];
	char fields[512], held[512], want[512];
	const size_t n = VELD_POLICY_NFIELDS + 1;
	worker(f, &w1, "north");
	worker(f, &w2, "north");
	randombytes_buf(client, 16);
	batch_make(&b, &w1, 1, n, "north", client, 1);
	snprintf(b.ops[0].field, sizeof b.ops[0].field, "name");
	snprintf(want, sizeof want, "name");
	for (size_t i = 1; i < n; i++) {
		snprintf(b.ops[i].field, sizeof b.ops[i].field, "%s", veld__policy_fields[i - 1]);
		snprintf(want + strlen(want), sizeof want - strlen(want), ",%s", b.ops[i].field);
	}
	batch_resign(&b, &w1);
	push(f, &w1, &b, &r);
	assert_pushed(&r, n, n);
	resp_free(&r);

	/* None reaches the team: only the name does. */
	policy_ok(f, "north", 0);
	pulled_fields(f, &w2, fields, sizeof fields, held, sizeof held);
	assert_string_equal(fields, "name");
	assert_string_equal(held, want + strlen("name,"));
	/* The office's pulls carry every field whatever the policy. */
	pulled_fields(f, &f->office, fields, sizeof fields, held, sizeof held);
	assert_string_equal(fields, want);

	/* All reach it. */
	policy_ok(f, "north", VELD_POLICY_ALL);
	pulled_fields(f, &w2, fields, sizeof fields, held, sizeof held);
	assert_string_equal(fields, want);
	assert_string_equal(held, "");

	/* Each alone: its own bit lets exactly that field through, the
	 * others are held. */
	for (int i = 0; i < VELD_POLICY_NFIELDS; i++) {
		char one[128], rest[512] = "";
		policy_ok(f, "north", 1u << i);
		pulled_fields(f, &w2, fields, sizeof fields, held, sizeof held);
		snprintf(one, sizeof one, "name,%s", veld__policy_fields[i]);
		assert_string_equal(fields, one);
		for (int k = 0; k < VELD_POLICY_NFIELDS; k++)
			if (k != i)
				snprintf(rest + strlen(rest), sizeof rest - strlen(rest), "%s%s",
				         rest[0] ? "," : "", veld__policy_fields[k]);
		assert_string_equal(held, rest);
	}
}

/* ---- checkpoints: POST /v1/checkpoint ----------------------------------------------- */

/* A checkpoint of `team` signed by `signer`; heads are `nheads` entries of
 * 24 bytes (any bytes: the server keeps them as signed). */
static void checkpoint_make(struct veld__checkpoint *c, uint8_t *heads, const struct dev *signer,
                            const char *team, uint64_t at, uint64_t n, size_t heads_len)
{
	uint8_t msg[VELD_CHECKPOINT_SIG_MSG_MAX];
	size_t len;
	memset(c, 0, sizeof *c);
	snprintf(c->team, sizeof c->team, "%s", team);
	c->at = at;
	c->n = n;
	randombytes_buf(heads, heads_len);
	c->heads = heads;
	c->heads_len = heads_len;
	len = veld__checkpoint_sig_message(msg, team, at, n, heads, heads_len);
	crypto_sign_detached(c->sig, NULL, msg, len, signer->sign_sk);
}

static void checkpoints_post(struct fx *f, const struct dev *sender,
                             const struct veld__checkpoint *cs, size_t n, struct resp *r)
{
	struct veld__checkpoint_req m = {(struct veld__checkpoint *)cs, n};
	msgpack_sbuffer b;
	msgpack_sbuffer_init(&b);
	assert_int_equal(veld__wire_checkpoint_req_encode(&b, &m), VELD_OK);
	call(f, sender, "POST", "/v1/checkpoint", (uint8_t *)b.data, b.size, r);
	msgpack_sbuffer_destroy(&b);
}

/* As checkpoints_post with one checkpoint whose 24 bytes of heads get a
 * 25th: bytes no encoder makes. */
static void checkpoint_post_heads25(struct fx *f, const struct dev *sender,
                                    const struct veld__checkpoint *c, struct resp *r)
{
	struct veld__checkpoint_req m = {(struct veld__checkpoint *)c, 1};
	static const uint8_t key[] = {0xa5, 'h', 'e', 'a', 'd', 's', 0xc4, 24};
	msgpack_sbuffer b;
	uint8_t *body, *at;
	assert_int_equal(c->heads_len, 24);
	msgpack_sbuffer_init(&b);
	assert_int_equal(veld__wire_checkpoint_req_encode(&b, &m), VELD_OK);
	at = NULL;
	for (size_t i = 0; !at && i + sizeof key <= b.size; i++)
		if (memcmp(b.data + i, key, sizeof key) == 0)
			at = (uint8_t *)b.data + i;
	assert_non_null(at);
	body = malloc(b.size + 1);
	size_t head = (size_t)(at - (uint8_t *)b.data) + sizeof key + 24;
	memcpy(body, b.data, head);
	body[head - 25] = 25;
	body[head] = 0x42;
	memcpy(body + head + 1, b.data + head, b.size - head);
	call(f, sender, "POST", "/v1/checkpoint", body, b.size + 1, r);
	free(body);
	msgpack_sbuffer_destroy(&b);
}

/* The checkpoint a device's pull carries: *has whether there is one. */
static void pulled_checkpoint(struct fx *f, const struct dev *d, int *has, uint64_t *at,
                              uint8_t *heads, size_t *heads_len)
{
	struct veld__wire w;
	struct veld__pull_resp p;
	struct resp r;
	pull_page(f, d, "/v1/pull", &w, &p, &r);
	*has = p.has_checkpoint;
	if (p.has_checkpoint) {
		assert_string_equal(p.checkpoint.team, d->team);
		assert_int_equal(veld__checkpoint_sig_verify(f->office.sign_pk, p.checkpoint.team,
		                                             p.checkpoint.at, p.checkpoint.n,
		                                             p.checkpoint.heads, p.checkpoint.heads_len,
		                                             p.checkpoint.sig), 0);
		*at = p.checkpoint.at;
		*heads_len = p.checkpoint.heads_len;
		memcpy(heads, p.checkpoint.heads, p.checkpoint.heads_len);
	}
	veld__wire_free(&w);
	resp_free(&r);
}

/* The office's latest checkpoint of a team is kept and carried in the
 * team's pulls; an older one is skipped; one the office did not sign, or
 * with heads that are no whole entries, is refused. */
static void test_server__checkpoint_stored_and_pulled(void **state)
{
	struct fx *f = *state;
	struct dev north, south;
	struct veld__checkpoint c[2];
	uint8_t h1[48], h2[72], h3[24], got[256];
	size_t got_len = 0;
	uint64_t at = 0;
	int has;
	struct resp r;
	worker(f, &north, "north");
	worker(f, &south, "south");
	checkpoint_make(&c[0], h1, &f->office, "north", NOTICE_AT, 2, sizeof h1);
	checkpoints_post(f, &f->office, c, 1, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	pulled_checkpoint(f, &north, &has, &at, got, &got_len);
	assert_true(has);
	assert_int_equal(at, NOTICE_AT);
	assert_int_equal(got_len, sizeof h1);
	assert_memory_equal(got, h1, sizeof h1);
	pulled_checkpoint(f, &south, &has, &at, got, &got_len);
	assert_false(has);
	pulled_checkpoint(f, &f->office, &has, &at, got, &got_len);
	assert_false(has);

	/* Older, or as old: skipped, not refused. */
	uint8_t before[32], after[32];
	db_digest_except(f, "nonces", before);
	checkpoint_make(&c[0], h2, &f->office, "north", NOTICE_AT - 1, 3, sizeof h2);
	checkpoint_make(&c[1], h3, &f->office, "north", NOTICE_AT, 3, sizeof h3);
	checkpoints_post(f, &f->office, c, 2, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	db_digest_except(f, "nonces", after);
	assert_memory_equal(before, after, 32);

	/* Refused, changing nothing: not the office's signature; heads that
	 * are no whole entries; a worker; a good one with a bad one. */
	SNAPSHOT(f, held);
	checkpoint_make(&c[0], h2, &north, "north", NOTICE_AT + 1, 3, sizeof h2);
	checkpoints_post(f, &f->office, c, 1, &r);
	assert_error(&r, 409, "bad_batch", NULL);
	resp_free(&r);
	checkpoint_make(&c[0], h2, &f->office, "north", NOTICE_AT + 1, 3, 24);
	checkpoint_post_heads25(f, &f->office, c, &r);
	assert_error(&r, 400, "malformed", NULL);
	resp_free(&r);
	checkpoint_make(&c[0], h2, &f->office, "north", NOTICE_AT + 1, 3, sizeof h2);
	checkpoints_post(f, &north, c, 1, &r);
	assert_error(&r, 403, "forbidden", NULL);
	resp_free(&r);
	checkpoint_make(&c[1], h3, &f->office, "south", NOTICE_AT + 1, 3, sizeof h3);
	c[1].sig[0] ^= 1;
	checkpoints_post(f, &f->office, c, 2, &r);
	assert_error(&r, 409, "bad_batch", NULL);
	resp_free(&r);
	ASSERT_UNCHANGED(f, held);

	/* Newer: it replaces the held one; each team has its own. */
	checkpoint_make(&c[0], h2, &f->office, "north", NOTICE_AT + 1, 3, sizeof h2);
	checkpoint_make(&c[1], h3, &f->office, "south", NOTICE_AT + 5, 1, sizeof h3);
	checkpoints_post(f, &f->office, c, 2, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	pulled_checkpoint(f, &north, &has, &at, got, &got_len);
	assert_true(has);
	assert_int_equal(at, NOTICE_AT + 1);
	assert_int_equal(got_len, sizeof h2);
	assert_memory_equal(got, h2, sizeof h2);
	pulled_checkpoint(f, &south, &has, &at, got, &got_len);
	assert_true(has);
	assert_int_equal(at, NOTICE_AT + 5);
	assert_memory_equal(got, h3, sizeof h3);
	assert_int_equal(db_count(f, "checkpoints"), 2);
}

/* ---- what the server takes on a device's word -------------------------------------- */

/* A key envelope is the pushing device's, signed by it: one with a bad
 * signature, or sealed by another device, refuses the whole push. */
static void test_server__envelope_signature_refused(void **state)
{
	struct fx *f = *state;
	struct dev north, north2;
	struct batch b;
	struct veld__envelope e;
	msgpack_sbuffer body;
	struct resp r;
	uint8_t client[16];
	worker(f, &north, "north");
	worker(f, &north2, "north");
	randombytes_buf(client, 16);
	SNAPSHOT(f, before);
	/* A bit flipped in the signature. */
	e = envelope(&north, client, "team:north", 1);
	e.sig[10] ^= 1;
	push_envs(f, &north, &e, 1, &r);
	assert_error(&r, 409, "bad_batch", NULL);
	resp_free(&r);
	/* Changed after signing. */
	e = envelope(&north, client, "team:north", 1);
	e.kv = 2;
	push_envs(f, &north, &e, 1, &r);
	assert_error(&r, 409, "bad_batch", NULL);
	resp_free(&r);
	/* Sealed and signed by another device, pushed by north. */
	e = envelope(&north2, client, "team:north", 1);
	push_envs(f, &north, &e, 1, &r);
	assert_error(&r, 409, "bad_batch", NULL);
	resp_free(&r);
	/* Naming north, signed by another key. */
	e = envelope(&north2, client, "team:north", 1);
	memcpy(e.from, north.id, 16);
	push_envs(f, &north, &e, 1, &r);
	assert_error(&r, 409, "bad_batch", NULL);
	resp_free(&r);
	/* With operations: none of them is stored either. */
	batch_make(&b, &north, 1, 2, "north", client, 1);
	e = envelope(&north, client, "team:north", 1);
	e.sig[0] ^= 1;
	push_body(&body, &b, &e, 1);
	call(f, &north, "POST", "/v1/push", (uint8_t *)body.data, body.size, &r);
	msgpack_sbuffer_destroy(&body);
	assert_error(&r, 409, "bad_batch", NULL);
	resp_free(&r);
	ASSERT_UNCHANGED(f, before);
	/* The true one is stored with its sealer and signature. */
	e = envelope(&north, client, "team:north", 1);
	push_body(&body, &b, &e, 1);
	call(f, &north, "POST", "/v1/push", (uint8_t *)body.data, body.size, &r);
	msgpack_sbuffer_destroy(&body);
	assert_pushed(&r, 2, 2);
	resp_free(&r);
	assert_int_equal(db_rows_with(f, "envelopes", "from", north.id), 1);
}

/* A team key is published only with the office's signature over it. */
static void test_server__team_key_signature_refused(void **state)
{
	struct fx *f = *state;
	struct dev north;
	struct veld__team_keys_req m;
	msgpack_sbuffer b;
	struct resp r;
	worker(f, &north, "north"); /* publishes north's tv 1 */
	memset(&m, 0, sizeof m);
	snprintf(m.team, sizeof m.team, "north");
	m.tv = 2;
	memset(m.pk, 0x42, sizeof m.pk);
	SNAPSHOT(f, before);
	for (int bad = 0; bad < 3; bad++) {
		team_key_sign(&m, bad == 0 ? &north : &f->office);
		if (bad == 1)
			m.sig[63] ^= 0x10;
		if (bad == 2)
			m.pk[0] ^= 1; /* signed over another key */
		msgpack_sbuffer_init(&b);
		assert_int_equal(veld__wire_team_keys_req_encode(&b, &m), VELD_OK);
		call(f, &f->office, "POST", "/v1/team-keys", (uint8_t *)b.data, b.size, &r);
		msgpack_sbuffer_destroy(&b);
		assert_error(&r, 409, "bad_batch", NULL);
		resp_free(&r);
		memset(m.pk, 0x42, sizeof m.pk);
	}
	ASSERT_UNCHANGED(f, before);
	team_key_sign(&m, &f->office);
	msgpack_sbuffer_init(&b);
	assert_int_equal(veld__wire_team_keys_req_encode(&b, &m), VELD_OK);
	call(f, &f->office, "POST", "/v1/team-keys", (uint8_t *)b.data, b.size, &r);
	msgpack_sbuffer_destroy(&b);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	assert_int_equal(db_int(f, "SELECT count(*) FROM team_keys WHERE length(sig) = 64"), 2);
}

/* Push one operation of `d`, seq 1, stamped `hlc`. */
static void push_stamped(struct fx *f, const struct dev *d, uint64_t hlc, struct resp *r)
{
	struct batch b;
	uint8_t client[16];
	randombytes_buf(client, 16);
	batch_make(&b, d, 1, 1, d->team, client, 1);
	b.ops[0].hlc = hlc;
	batch_resign(&b, d);
	push(f, d, &b, r);
}

/* An operation stamped more than the allowed skew ahead of the server's
 * clock (10 minutes unless configured), or past 2^63, refuses the push
 * with 409 clock, naming the operation and how far ahead it is. */
static void test_server__push_clock_ahead_refused(void **state)
{
	struct fx *f = *state;
	struct dev north;
	struct resp r;
	char msg[256];
	worker(f, &north, "north");
	SNAPSHOT(f, before);
	push_stamped(f, &north, (wall_ms() + 11 * 60 * 1000) << 16, &r);
	assert_error(&r, 409, "clock", NULL);
	error_message(&r, msg, sizeof msg);
	assert_non_null(strstr(msg, "operation 1 "));
	assert_true(strstr(msg, " 660 s ") || strstr(msg, " 659 s ") || strstr(msg, " 661 s "));
	assert_non_null(strstr(msg, "this device's clock is wrong"));
	resp_free(&r);
	push_stamped(f, &north, 1ull << 63, &r);
	assert_error(&r, 409, "clock", NULL);
	resp_free(&r);
	push_stamped(f, &north, UINT64_MAX, &r);
	assert_error(&r, 409, "clock", NULL);
	resp_free(&r);
	ASSERT_UNCHANGED(f, before);
	push_stamped(f, &north, (wall_ms() + 9 * 60 * 1000) << 16, &r);
	assert_pushed(&r, 1, 1);
	resp_free(&r);

	/* max_skew_s: one minute. */
	struct dev south;
	veld_server_stop(f->srv);
	server_start_skew(f, 0, 0, 60);
	worker(f, &south, "south");
	push_stamped(f, &south, (wall_ms() + 2 * 60 * 1000) << 16, &r);
	assert_error(&r, 409, "clock", NULL);
	resp_free(&r);
	push_stamped(f, &south, (wall_ms() + 30 * 1000) << 16, &r);
	assert_pushed(&r, 1, 1);
	resp_free(&r);
}

/* A push's operations have one format version, which its batch signs. */
static void test_server__push_mixing_versions_refused(void **state)
{
	struct fx *f = *state;
	struct dev north, north2;
	struct batch b;
	struct veld__pull_resp p;
	struct veld__wire w;
	struct resp r;
	uint8_t client[16], hashes[64], msg[77];
	worker(f, &north, "north");
	worker(f, &north2, "north");
	randombytes_buf(client, 16);
	SNAPSHOT(f, before);
	for (uint32_t v = 1; v <= 2; v++) {
		batch_make(&b, &north, 1, 2, "north", client, 1);
		b.ops[1].version = 1;
		veld__op_hash(&b.ops[1]);
		memcpy(hashes, b.ops[0].hash, 32);
		memcpy(hashes + 32, b.ops[1].hash, 32);
		veld__batch_digest(msg, v, north.id, 1, 2, hashes, 2); /* validly signed as v */
		crypto_sign_detached(b.sig, NULL, msg, sizeof msg, north.sign_sk);
		push(f, &north, &b, &r);
		assert_error(&r, 409, "bad_batch", NULL);
		resp_free(&r);
	}
	/* A version 1 batch signed as a version 2 one. */
	batch_make_v(&b, &north, 1, 2, "north", client, 1, 1);
	memcpy(hashes, b.ops[0].hash, 32);
	memcpy(hashes + 32, b.ops[1].hash, 32);
	veld__batch_digest(msg, 2, north.id, 1, 2, hashes, 2);
	crypto_sign_detached(b.sig, NULL, msg, sizeof msg, north.sign_sk);
	push(f, &north, &b, &r);
	assert_error(&r, 409, "bad_batch", NULL);
	resp_free(&r);
	ASSERT_UNCHANGED(f, before);
	/* One version a batch: a version 1 batch, then a version 2 one. */
	batch_make_v(&b, &north, 1, 2, "north", client, 1, 1);
	push(f, &north, &b, &r);
	assert_pushed(&r, 2, 2);
	resp_free(&r);
	batch_make(&b, &north, 3, 2, "north", client, 1);
	push(f, &north, &b, &r);
	assert_pushed(&r, 4, 2);
	resp_free(&r);
	pull_page(f, &north2, "/v1/pull", &w, &p, &r);
	assert_int_equal(p.nops, 4);
	assert_int_equal(p.nbatches, 2);
	assert_int_equal(p.batches[0].ver, 1);
	assert_int_equal(p.batches[1].ver, 2);
	assert_int_equal(p.ops[0].version, 1);
	assert_int_equal(p.ops[3].version, 2);
	veld__wire_free(&w);
	resp_free(&r);
}

/* A worker's invite auth and enroll proof are kept and listed, so the
 * office can certify it; the office has none. */
static void test_server__enroll_proof_stored_and_listed(void **state)
{
	struct fx *f = *state;
	struct dev w1;
	struct veld__devices_resp dl;
	struct veld__wire w;
	struct resp r;
	char text[VELD_CODE_TEXT_MAX];
	uint8_t code[VELD_CODE_BYTES], auth[32], key[32], proof[32];
	worker_code(f, &w1, "north", text);
	assert_int_equal(veld__code_parse(text, code), 0);
	veld__code_auth(auth, code);
	veld__code_proof_key(key, code);
	veld__enroll_proof(proof, key, w1.id, w1.sign_pk, w1.box_pk);
	call(f, &f->office, "GET", "/v1/devices", NULL, 0, &r);
	assert_int_equal(r.status, 200);
	memset(&w, 0, sizeof w);
	assert_int_equal(veld__wire_devices_resp_decode(&w, r.body, r.len, &dl), VELD_OK);
	assert_int_equal(dl.ndevices, 2);
	for (size_t i = 0; i < dl.ndevices; i++) {
		const struct veld__device_info *d = &dl.devices[i];
		if (memcmp(d->device, f->office.id, 16) == 0) {
			assert_false(d->has_auth);
			continue;
		}
		assert_memory_equal(d->device, w1.id, 16);
		assert_true(d->has_auth);
		assert_memory_equal(d->auth, auth, 32);
		assert_memory_equal(d->proof, proof, 32);
		assert_memory_equal(d->sign_pk, w1.sign_pk, 32);
	}
	veld__wire_free(&w);
	resp_free(&r);
}

static void revoke_acked(struct fx *f, const struct dev *d, uint64_t acked)
{
	struct veld__revoke_req m;
	struct veld__revoke_resp rr;
	struct veld__wire w;
	msgpack_sbuffer b;
	struct resp r;
	memcpy(m.device, d->id, 16);
	msgpack_sbuffer_init(&b);
	assert_int_equal(veld__wire_revoke_req_encode(&b, &m), VELD_OK);
	call(f, &f->office, "POST", "/v1/revoke", (uint8_t *)b.data, b.size, &r);
	msgpack_sbuffer_destroy(&b);
	assert_int_equal(r.status, 200);
	memset(&w, 0, sizeof w);
	assert_int_equal(veld__wire_revoke_resp_decode(&w, r.body, r.len, &rr), VELD_OK);
	veld__wire_free(&w);
	assert_string_equal(rr.team, d->team);
	assert_int_equal(rr.acked, acked);
	resp_free(&r);
}

/* A revocation answers how far the server holds the device's operations,
 * so the office's revoke notice can name where its word ends. */
static void test_server__revoke_answers_acked(void **state)
{
	struct fx *f = *state;
	struct dev w1, w2;
	struct batch b;
	struct resp r;
	uint8_t client[16];
	worker(f, &w1, "north");
	worker(f, &w2, "north");
	randombytes_buf(client, 16);
	batch_make(&b, &w1, 1, 3, "north", client, 1);
	push(f, &w1, &b, &r);
	assert_pushed(&r, 3, 3);
	resp_free(&r);
	revoke_acked(f, &w1, 3);
	revoke_acked(f, &w1, 3); /* again: the same */
	revoke_acked(f, &w2, 0);
}

/* A database of schema 4, with what devices wrote then (version 1
 * operations and batches, envelopes and team keys without signatures, no
 * enroll proofs), opens as schema 5 and serves all of it; version 1
 * operations then get stubs with their hash as kh, when erased or withheld. */
static void test_server__schema_upgrade_keeps_old_data(void **state)
{
	struct fx *f = *state;
	struct dev north, north2;
	struct batch b;
	struct veld__pull_resp p;
	struct veld__wire w;
	struct resp r;
	uint8_t cn[16], cm[16];
	if (f->db[0])
		skip(); /* SQLite's migrations: PostgreSQL's schema starts at its version 1 */
	worker(f, &north, "north");
	worker(f, &north2, "north");
	randombytes_buf(cn, 16);
	randombytes_buf(cm, 16);
	/* 1 on cn, 2 (birth_date: kept at the office by default) and 3 on cm. */
	batch_make_v(&b, &north, 1, 3, "north", cn, 1, 1);
	snprintf(b.ops[1].field, sizeof b.ops[1].field, "birth_date");
	for (size_t i = 1; i < 3; i++) {
		memcpy(b.ops[i].entity, cm, 16);
		memcpy(b.ops[i].client, cm, 16);
	}
	batch_resign(&b, &north);
	push(f, &north, &b, &r);
	assert_pushed(&r, 3, 3);
	resp_free(&r);
	struct veld__envelope e = envelope(&north, cm, "team:north", 1);
	push_envs(f, &north, &e, 1, &r);
	assert_pushed(&r, 3, 0);
	resp_free(&r);
	/* The team key of version 1, sealed to north2. */
	struct veld__team_keys_req tk;
	struct veld__sealed_for sf;
	msgpack_sbuffer mb;
	memset(&tk, 0, sizeof tk);
	snprintf(tk.team, sizeof tk.team, "north");
	tk.tv = 1;
	memset(tk.pk, 1, sizeof tk.pk); /* as team_keys() published it */
	team_key_sign(&tk, &f->office);
	memcpy(sf.device, north2.id, 16);
	randombytes_buf(sf.sealed, sizeof sf.sealed);
	tk.sealed = &sf;
	tk.nsealed = 1;
	msgpack_sbuffer_init(&mb);
	assert_int_equal(veld__wire_team_keys_req_encode(&mb, &tk), VELD_OK);
	call(f, &f->office, "POST", "/v1/team-keys", (uint8_t *)mb.data, mb.size, &r);
	msgpack_sbuffer_destroy(&mb);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	veld_server_stop(f->srv);
	f->srv = NULL;
	db_downgrade(f, 4);
	server_start(f, 0, 0);
	assert_int_equal(db_int(f, "PRAGMA user_version"), 6);
	assert_int_equal(db_count(f, "ops"), 3);

	/* The office reads them as version 1 (verify_page checks each against
	 * its version 1 batch); the envelope and team key come unsigned. */
	pull_page(f, &f->office, "/v1/pull", &w, &p, &r);
	assert_int_equal(p.nops, 3);
	assert_int_equal(p.ops[0].version, 1);
	assert_int_equal(p.batches[0].ver, 1);
	veld__wire_free(&w);
	resp_free(&r);
	pull_page(f, &north2, "/v1/pull", &w, &p, &r);
	assert_int_equal(p.nops, 2);
	assert_int_equal(p.nstubs, 1); /* birth_date: withheld, a stub with kh = hash */
	assert_int_equal(p.stubs[0].seq, 2);
	assert_memory_equal(p.stubs[0].kh, b.ops[1].hash, 32);
	assert_int_equal(p.nheld, 0);
	/* Signatures the server never had come as zeros: a device finds them
	 * unsigned. */
	uint8_t zero[64] = {0};
	assert_int_equal(p.nenvs, 1);
	assert_memory_equal(p.envs[0].sig, zero, 64);
	assert_memory_equal(p.envs[0].from, zero, 16);
	assert_memory_equal(p.envs[0].sealed, e.sealed, sizeof e.sealed);
	assert_int_equal(p.nteam_keys, 1);
	assert_memory_equal(p.team_keys[0].sig, zero, 64);
	assert_memory_equal(p.team_keys[0].sealed, sf.sealed, sizeof sf.sealed);
	veld__wire_free(&w);
	resp_free(&r);
	assert_int_equal(db_int(f, "SELECT count(*) FROM devices WHERE auth IS NULL"), 3);

	/* Erased: version 1 operations keep their hash as kh. */
	erase_ok(f, "north", cn);
	pull_page(f, &north2, "/v1/pull", &w, &p, &r);
	assert_int_equal(p.nops, 1);
	assert_int_equal(p.nstubs, 2);
	for (size_t i = 0; i < p.nstubs; i++)
		assert_memory_equal(p.stubs[i].kh, b.ops[p.stubs[i].seq - 1].hash, 32);
	assert_int_equal(page_seqs(&p, &north), SEQS(3));
	veld__wire_free(&w);
	resp_free(&r);
	/* New operations continue the sequence in format 2. */
	batch_make(&b, &north, 4, 1, "north", cm, 1);
	push(f, &north, &b, &r);
	assert_pushed(&r, 4, 1);
	resp_free(&r);
	pull_page(f, &f->office, "/v1/pull", &w, &p, &r);
	assert_int_equal(page_seqs(&p, &north), SEQS(4));
	veld__wire_free(&w);
	resp_free(&r);
	/* A restart does not migrate again. */
	veld_server_stop(f->srv);
	f->srv = NULL;
	server_start(f, 0, 0);
	assert_int_equal(db_count(f, "notices"), 1);
	push(f, &north, &b, &r);
	assert_pushed(&r, 4, 0);
	resp_free(&r);
}

/* ---- several servers on one database (PostgreSQL only) ----------------------------- */

/* docs/operations.md, "Several servers behind a load balancer": two servers,
 * A and B, started in-process on one PostgreSQL database (each with a data
 * directory of its own), and requests sent to both at once by threads that
 * a barrier lets go together, each race run many times over so that its
 * window is hit. What they check is seen only in the answers and in the
 * database. On SQLite they skip: one SQLite directory serves one process,
 * so there is no second server to race. */
struct cluster {
	struct fx *f;      /* server A: the fixture the helpers know (office, devices, log) */
	veld_server *b;    /* server B: a data directory of its own, f's database */
	char data_b[320];
	struct fx *via[2]; /* f aimed at A and at B, each with a curl handle of its own */
};

/* A server on `data` whose state is in the database `db`, logging to
 * `log_to`'s log (may be NULL). Returns veld_server_start's code; asserts
 * nothing, so a thread may call it. */
static int server_open(veld_server **out, const char *data, const char *db, struct fx *log_to)
{
	veld_server_options o;
	veld_server_options_init(&o);
	o.listen = "127.0.0.1:0";
	o.data_dir = data;
	o.threads = 4;
	o.log = log_to ? on_log : NULL;
	o.log_payload = log_to;
	o.database = db;
	return veld_server_start(out, &o);
}

/* A copy of the fixture aimed at the server on `port`, with a curl handle
 * of its own: one thread at a time may send through it. */
static struct fx *fx_via(const struct fx *f, uint16_t port)
{
	struct fx *v = malloc(sizeof *v);
	assert_non_null(v);
	memcpy(v, f, sizeof *v);
	v->port = port;
	v->curl = curl_easy_init();
	assert_non_null(v->curl);
	return v;
}

static void fx_via_free(struct fx *v)
{
	if (!v)
		return;
	curl_easy_cleanup(v->curl);
	free(v);
}

/* Servers A and B on one database, the office enrolled (through A); on
 * SQLite no state, and the test skips. */
static int cluster_setup(void **state)
{
	struct cluster *c;
	int rc;
	*state = NULL;
	if (!veld_test_pg())
		return 0;
	c = calloc(1, sizeof *c);
	assert_non_null(c);
	c->f = fx_new(0, 0);
	enroll_office(c->f);
	snprintf(c->data_b, sizeof c->data_b, "%s/data-b", c->f->dir);
	if ((rc = server_open(&c->b, c->data_b, c->f->db, c->f)) != VELD_OK)
		fail_msg("server B: veld_server_start: %d %s", rc, veld_error_last());
	assert_null(veld_server_setup_code(c->b)); /* the office is enrolled */
	c->via[0] = fx_via(c->f, c->f->port);
	c->via[1] = fx_via(c->f, veld_server_port(c->b));
	*state = c;
	return 0;
}

static int cluster_teardown(void **state)
{
	struct cluster *c = *state;
	if (!c)
		return 0;
	fx_via_free(c->via[0]);
	fx_via_free(c->via[1]);
	veld_server_stop(c->b);
	fx_free(c->f); /* drops the database, once both servers are stopped */
	free(c);
	return 0;
}

/* A request signed ahead, sent by a thread of its own when the barrier
 * lets it go. */
struct shot {
	struct fx *via;
	const char *method;
	char path[128];
	uint8_t *body;
	size_t len;
	struct veld__auth_headers h;
	pthread_barrier_t *go;
	CURLcode cc;
	struct resp r;
};

static void shot_make(struct shot *s, struct fx *via, const struct dev *d, const char *method,
                      const char *path, const void *body, size_t len)
{
	memset(s, 0, sizeof *s);
	s->via = via;
	s->method = method;
	snprintf(s->path, sizeof s->path, "%s", path);
	if (len) {
		s->body = malloc(len);
		assert_non_null(s->body);
		memcpy(s->body, body, len);
	}
	s->len = len;
	veld__auth_sign(&s->h, d->id, d->sign_sk, method, s->path, s->body, len);
}

/* The same signed bytes (its nonce too), to be sent through `via`. */
static void shot_copy(struct shot *to, const struct shot *from, struct fx *via)
{
	*to = *from;
	memset(&to->r, 0, sizeof to->r);
	to->via = via;
	if (from->len) {
		to->body = malloc(from->len);
		assert_non_null(to->body);
		memcpy(to->body, from->body, from->len);
	}
}

static void shot_free(struct shot *s)
{
	free(s->body);
	resp_free(&s->r);
}

static void *shot_run(void *arg)
{
	struct shot *s = arg;
	pthread_barrier_wait(s->go);
	s->cc = http_raw(s->via, s->method, s->path, s->body, s->len, &s->h, &s->r);
	return NULL;
}

/* Send `n` shots at once; every one must get an answer. */
static void race(struct shot *s, size_t n)
{
	pthread_barrier_t go;
	pthread_t th[4];
	assert_true(n <= 4);
	assert_int_equal(pthread_barrier_init(&go, NULL, (unsigned)n), 0);
	for (size_t i = 0; i < n; i++) {
		s[i].go = &go;
		assert_int_equal(pthread_create(&th[i], NULL, shot_run, &s[i]), 0);
	}
	for (size_t i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&go);
	for (size_t i = 0; i < n; i++)
		if (s[i].cc != CURLE_OK)
			fail_msg("%s %s: %s", s[i].method, s[i].path, curl_easy_strerror(s[i].cc));
}

/* An answer in a few words, to compare with the answers that may come:
 * "200 acked 5 stored 3" for a push, "200" for any other success,
 * "409 gap 7" (with `expected`), "409 replay", "500 internal"... Asserts
 * nothing, so a thread may call it. */
static void answer_text(const struct resp *r, int push, char *out, size_t cap)
{
	struct veld__wire w;
	memset(&w, 0, sizeof w);
	if (r->status == 200 && push) {
		struct veld__push_resp m;
		if (veld__wire_push_resp_decode(&w, r->body, r->len, &m) == VELD_OK)
			snprintf(out, cap, "200 acked %llu stored %llu", (unsigned long long)m.acked,
			         (unsigned long long)m.stored);
		else
			snprintf(out, cap, "200 undecodable");
	} else if (r->status == 200) {
		snprintf(out, cap, "200");
	} else {
		struct veld__error_resp e;
		if (veld__wire_error_decode(&w, r->body, r->len, &e) != VELD_OK)
			snprintf(out, cap, "%ld undecodable", r->status);
		else if (strcmp(e.error, "gap") == 0)
			snprintf(out, cap, "%ld gap %llu", r->status, (unsigned long long)e.expected);
		else
			snprintf(out, cap, "%ld %s", r->status, e.error);
	}
	veld__wire_free(&w);
}

/* Two racing requests' answers are those of one order or of the other:
 * (a1, b1) if a came first, (a2, b2) if b did. */
static void assert_either(int round, const char *what, const struct shot *a, const struct shot *b,
                          const char *a1, const char *b1, const char *a2, const char *b2)
{
	char ta[96], tb[96];
	answer_text(&a->r, strcmp(a->path, "/v1/push") == 0, ta, sizeof ta);
	answer_text(&b->r, strcmp(b->path, "/v1/push") == 0, tb, sizeof tb);
	if (!((strcmp(ta, a1) == 0 && strcmp(tb, b1) == 0) ||
	      (strcmp(ta, a2) == 0 && strcmp(tb, b2) == 0)))
		fail_msg("round %d, %s: answered [%s] and [%s]; wanted [%s] and [%s], or [%s] and [%s]",
		         round, what, ta, tb, a1, b1, a2, b2);
}

/* A push of `b` through `via`, signed as `d`, as a shot (envelopes may be
 * NULL). */
static void shot_push(struct shot *s, struct fx *via, const struct dev *d, const struct batch *b,
                      const struct veld__envelope *envs, size_t nenvs)
{
	msgpack_sbuffer body;
	push_body(&body, b, envs, nenvs);
	shot_make(s, via, d, "POST", "/v1/push", body.data, body.size);
	msgpack_sbuffer_destroy(&body);
}

/* 1. Cursors become visible in increasing order, across servers. Four
 * workers push batches through A and B in turn while two office pullers
 * page through the feed with `after`, each page from the other server than
 * the one before: a row committed below a cursor a puller has passed would
 * be missed for good, so each puller must end with every operation, once,
 * and see no cursor at or below one it passed. Meanwhile this thread looks
 * straight into the database: each look (one statement, one snapshot)
 * takes the feed's highest cursor and its number of rows; the next look
 * counts the rows up to the previous highest again, which must be the same
 * number. */
enum { FEED_PUSHERS = 4, FEED_PULLERS = 2, FEED_ROUNDS = 60, FEED_SEQS = 128 };

struct feed_pusher {
	struct fx *via[2];
	struct dev d;
	uint8_t client[16];
	int first; /* the server of its first push; then the other one, in turn */
	pthread_barrier_t *go;
	int *running; /* pushers not finished yet */
	uint64_t last;
	char err[300];
};

struct feed_puller {
	struct fx *via[2];
	const struct dev *office;
	const struct feed_pusher *ps;
	int first;
	pthread_barrier_t *go;
	const int *running;
	uint8_t seen[FEED_PUSHERS][FEED_SEQS + 1];
	unsigned pages;
	char err[200];
};

static void *feed_pusher_run(void *arg)
{
	struct feed_pusher *p = arg;
	pthread_barrier_wait(p->go);
	for (int i = 0; i < FEED_ROUNDS && !p->err[0]; i++) {
		struct batch b;
		struct shot s;
		char got[96], want[96];
		size_t n = 1 + (size_t)i % 3;
		batch_make(&b, &p->d, p->last + 1, n, p->d.team, p->client, 1);
		shot_push(&s, p->via[(p->first + i) % 2], &p->d, &b, NULL, 0);
		s.cc = http_raw(s.via, s.method, s.path, s.body, s.len, &s.h, &s.r);
		answer_text(&s.r, 1, got, sizeof got);
		snprintf(want, sizeof want, "200 acked %llu stored %zu",
		         (unsigned long long)(p->last + n), n);
		if (s.cc != CURLE_OK)
			snprintf(p->err, sizeof p->err, "push %d: %s", i, curl_easy_strerror(s.cc));
		else if (strcmp(got, want) != 0)
			snprintf(p->err, sizeof p->err, "push %d answered [%s], wanted [%s]", i, got, want);
		p->last += n;
		shot_free(&s);
	}
	__atomic_sub_fetch(p->running, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* One item of a page: the operation (device, seq) at `cursor`. */
static void feed_seen(struct feed_puller *p, uint64_t after, uint64_t next, uint64_t cursor,
                      const uint8_t device[16], uint64_t seq)
{
	int k = 0;
	while (k < FEED_PUSHERS && memcmp(p->ps[k].d.id, device, 16) != 0)
		k++;
	if (p->err[0])
		return;
	if (cursor <= after || cursor > next)
		snprintf(p->err, sizeof p->err, "page %u: cursor %llu outside (%llu, %llu]", p->pages,
		         (unsigned long long)cursor, (unsigned long long)after,
		         (unsigned long long)next);
	else if (k == FEED_PUSHERS || seq < 1 || seq > FEED_SEQS)
		snprintf(p->err, sizeof p->err, "page %u: an operation of no pusher", p->pages);
	else if (p->seen[k][seq]++)
		snprintf(p->err, sizeof p->err, "page %u: pusher %d's seq %llu twice", p->pages, k,
		         (unsigned long long)seq);
}

static void *feed_puller_run(void *arg)
{
	struct feed_puller *p = arg;
	uint64_t after = 0;
	pthread_barrier_wait(p->go);
	while (!p->err[0]) {
		/* Whether the pushers were done before this page was asked for:
		 * then a page without more is the end. */
		int done = __atomic_load_n(p->running, __ATOMIC_SEQ_CST) == 0;
		struct veld__pull_resp pr;
		struct veld__wire w;
		struct shot s;
		char path[96];
		snprintf(path, sizeof path, "/v1/pull?after=%llu&limit=50", (unsigned long long)after);
		shot_make(&s, p->via[(p->first + p->pages) % 2], p->office, "GET", path, NULL, 0);
		s.cc = http_raw(s.via, s.method, s.path, NULL, 0, &s.h, &s.r);
		memset(&w, 0, sizeof w);
		if (s.cc != CURLE_OK || s.r.status != 200) {
			snprintf(p->err, sizeof p->err, "page %u: %s, status %ld", p->pages,
			         curl_easy_strerror(s.cc), s.r.status);
		} else if (veld__wire_pull_resp_decode(&w, s.r.body, s.r.len, &pr) != VELD_OK) {
			snprintf(p->err, sizeof p->err, "page %u does not decode", p->pages);
		} else {
			for (size_t i = 0; i < pr.nops; i++)
				feed_seen(p, after, pr.next, pr.cursors[i], pr.ops[i].device, pr.ops[i].seq);
			for (size_t i = 0; i < pr.nstubs; i++)
				feed_seen(p, after, pr.next, pr.stub_cursors[i], pr.stubs[i].device,
				          pr.stubs[i].seq);
			for (size_t i = 0; i < pr.nheld; i++)
				feed_seen(p, after, pr.next, pr.held_cursors[i], pr.held[i].device,
				          pr.held[i].seq);
			if (pr.nops + pr.nstubs + pr.nheld)
				after = pr.next;
			p->pages++;
			if (!pr.more && done) {
				veld__wire_free(&w);
				shot_free(&s);
				break;
			}
		}
		veld__wire_free(&w);
		shot_free(&s);
	}
	return NULL;
}

static void test_server__cluster_cursors_visible_in_order(void **state)
{
	struct cluster *c = *state;
	struct fx *f;
	struct feed_pusher ps[FEED_PUSHERS];
	struct feed_puller *pl;
	pthread_t th[FEED_PUSHERS + FEED_PULLERS];
	pthread_barrier_t go;
	int running = FEED_PUSHERS;
	long long base, looks = 0, prev_max = -1, prev_n = 0;
	char q[300], broken[200] = "";
	if (!veld_test_pg())
		skip(); /* one SQLite directory serves one process: no second server */
	f = c->f;
	pl = calloc(FEED_PULLERS, sizeof *pl);
	assert_non_null(pl);
	assert_int_equal(pthread_barrier_init(&go, NULL, FEED_PUSHERS + FEED_PULLERS + 1), 0);
	for (int k = 0; k < FEED_PUSHERS; k++) {
		memset(&ps[k], 0, sizeof ps[k]);
		worker(f, &ps[k].d, k % 2 ? "south" : "north");
		randombytes_buf(ps[k].client, 16);
		ps[k].via[0] = fx_via(f, c->via[0]->port);
		ps[k].via[1] = fx_via(f, c->via[1]->port);
		ps[k].first = k % 2;
		ps[k].go = &go;
		ps[k].running = &running;
	}
	for (int k = 0; k < FEED_PULLERS; k++) {
		pl[k].via[0] = fx_via(f, c->via[0]->port);
		pl[k].via[1] = fx_via(f, c->via[1]->port);
		pl[k].office = &f->office;
		pl[k].ps = ps;
		pl[k].first = k % 2;
		pl[k].go = &go;
		pl[k].running = &running;
	}
	/* Cursors start past the servers' clocks: the looks count from here. */
	base = db_int(f, "SELECT last FROM cursors WHERE feed = 'feed'");
	for (int k = 0; k < FEED_PUSHERS; k++)
		assert_int_equal(pthread_create(&th[k], NULL, feed_pusher_run, &ps[k]), 0);
	for (int k = 0; k < FEED_PULLERS; k++)
		assert_int_equal(pthread_create(&th[FEED_PUSHERS + k], NULL, feed_puller_run, &pl[k]), 0);
	pthread_barrier_wait(&go);
	/* A failure here waits for the threads (they use the servers). */
	for (int last = 0; !last && !broken[0]; looks++) {
		long long v, max, n;
		last = __atomic_load_n(&running, __ATOMIC_SEQ_CST) == 0;
		if (prev_max >= 0) {
			snprintf(q, sizeof q, "SELECT count(*) FROM feed WHERE cursor > %lld"
			         " AND cursor <= %lld", base, base + prev_max);
			if ((n = db_int(f, q)) != prev_n)
				snprintf(broken, sizeof broken, "look %lld: %lld rows up to cursor base+%lld,"
				         " %lld before", looks, n, prev_max, prev_n);
		}
		/* The highest cursor (from base, < 2^40) and the rows, in one snapshot. */
		snprintf(q, sizeof q, "SELECT count(*) * 1099511627776 + coalesce(max(cursor) - %lld, 0)"
		         " FROM feed WHERE cursor > %lld", base, base);
		v = db_int(f, q);
		max = v % 1099511627776LL;
		n = v / 1099511627776LL;
		if (!broken[0] && (max < prev_max || n < prev_n))
			snprintf(broken, sizeof broken, "look %lld: the feed went back", looks);
		prev_max = max;
		prev_n = n;
	}
	for (int k = 0; k < FEED_PUSHERS + FEED_PULLERS; k++)
		pthread_join(th[k], NULL);
	pthread_barrier_destroy(&go);
	if (broken[0])
		fail_msg("%s", broken);
	for (int k = 0; k < FEED_PUSHERS; k++) {
		if (ps[k].err[0])
			fail_msg("pusher %d: %s", k, ps[k].err);
		assert_int_equal(ps[k].last, FEED_ROUNDS * 2); /* 1, 2, 3, 1, 2, 3 ... */
		assert_int_equal(db_last_seq(f, &ps[k].d), ps[k].last);
		fx_via_free(ps[k].via[0]);
		fx_via_free(ps[k].via[1]);
	}
	assert_int_equal(prev_n, FEED_PUSHERS * FEED_ROUNDS * 2);
	for (int k = 0; k < FEED_PULLERS; k++) {
		if (pl[k].err[0])
			fail_msg("puller %d: %s", k, pl[k].err);
		for (int d = 0; d < FEED_PUSHERS; d++)
			for (uint64_t seq = 1; seq <= ps[d].last; seq++)
				if (pl[k].seen[d][seq] != 1)
					fail_msg("puller %d (%u pages) saw pusher %d's seq %llu %d times", k,
					         pl[k].pages, d, (unsigned long long)seq, pl[k].seen[d][seq]);
		fx_via_free(pl[k].via[0]);
		fx_via_free(pl[k].via[1]);
	}
	free(pl);
}

/* One device's counts in the database: its feed rows, its distinct seqs
 * there and the highest, its operations; each must be `n`. */
static void assert_device_holds(struct fx *f, const struct dev *d, long long n)
{
	char lit[140], q[400];
	db_blob(lit, d->id, 16);
	assert_int_equal(db_last_seq(f, d), n);
	snprintf(q, sizeof q, "SELECT count(*) FROM feed WHERE device = %s", lit);
	assert_int_equal(db_int(f, q), n);
	snprintf(q, sizeof q, "SELECT count(DISTINCT seq) FROM feed WHERE device = %s", lit);
	assert_int_equal(db_int(f, q), n);
	snprintf(q, sizeof q, "SELECT max(seq) FROM feed WHERE device = %s", lit);
	assert_int_equal(db_int(f, q), n);
	snprintf(q, sizeof q, "SELECT count(*) FROM ops WHERE device = %s", lit);
	assert_int_equal(db_int(f, q), n);
}

/* 2. One device pushing twice at once, once through each server: the same
 * batch twice (both 200: one stores it, the other finds it held); two
 * overlapping batches that both continue the sequence (both 200, whichever
 * goes first); and two where the later one continues the sequence only
 * after the earlier (if it goes first: 409 gap, as docs/protocol.md says,
 * and it is pushed again). Each seq is stored once, in one feed row. */
static void test_server__cluster_one_device_pushes_twice_at_once(void **state)
{
	struct cluster *c = *state;
	struct fx *f;
	struct dev w;
	uint8_t client[16];
	uint64_t last = 0;
	if (!veld_test_pg())
		skip(); /* one SQLite directory serves one process: no second server */
	f = c->f;
	worker(f, &w, "north");
	randombytes_buf(client, 16);
	for (int round = 0; round < 36; round++) {
		struct fx *va = c->via[round % 2], *vb = c->via[1 - round % 2];
		struct batch ba, bb;
		struct shot s[2];
		char a1[96], b1[96], a2[96], b2[96];
		unsigned long long l = last;
		switch (round % 3) {
		case 0: /* the same batch, l+1..l+3 */
			batch_make(&ba, &w, last + 1, 3, "north", client, 1);
			shot_push(&s[0], va, &w, &ba, NULL, 0);
			shot_push(&s[1], vb, &w, &ba, NULL, 0);
			race(s, 2);
			snprintf(a1, sizeof a1, "200 acked %llu stored 3", l + 3);
			snprintf(b1, sizeof b1, "200 acked %llu stored 0", l + 3);
			assert_either(round, "the same batch", &s[0], &s[1], a1, b1, b1, a1);
			last += 3;
			break;
		case 1: /* l-1..l+3 and l+1..l+5 */
			batch_make(&ba, &w, last - 1, 5, "north", client, 1);
			batch_make(&bb, &w, last + 1, 5, "north", client, 1);
			shot_push(&s[0], va, &w, &ba, NULL, 0);
			shot_push(&s[1], vb, &w, &bb, NULL, 0);
			race(s, 2);
			snprintf(a1, sizeof a1, "200 acked %llu stored 3", l + 3);
			snprintf(b1, sizeof b1, "200 acked %llu stored 2", l + 5);
			snprintf(a2, sizeof a2, "200 acked %llu stored 0", l + 5);
			snprintf(b2, sizeof b2, "200 acked %llu stored 5", l + 5);
			assert_either(round, "overlapping batches", &s[0], &s[1], a1, b1, a2, b2);
			last += 5;
			break;
		default: /* l+1..l+4 and l+3..l+6 */
			batch_make(&ba, &w, last + 1, 4, "north", client, 1);
			batch_make(&bb, &w, last + 3, 4, "north", client, 1);
			shot_push(&s[0], va, &w, &ba, NULL, 0);
			shot_push(&s[1], vb, &w, &bb, NULL, 0);
			race(s, 2);
			snprintf(a1, sizeof a1, "200 acked %llu stored 4", l + 4);
			snprintf(b1, sizeof b1, "200 acked %llu stored 2", l + 6);
			snprintf(b2, sizeof b2, "409 gap %llu", l + 1);
			assert_either(round, "a batch that needs the other", &s[0], &s[1], a1, b1, a1,
			              b2);
			if (s[1].r.status == 409) {
				struct resp r;
				push(vb, &w, &bb, &r);
				assert_pushed(&r, last + 6, 2);
				resp_free(&r);
			}
			last += 6;
			break;
		}
		shot_free(&s[0]);
		shot_free(&s[1]);
	}
	assert_device_holds(f, &w, (long long)last);
}

/* 3. A request and its replay (the same signed bytes, the same nonce) sent
 * to A and B at once: one is answered, the other gets 409 replay, never
 * 500 and never two answers. A push, whose nonce is recorded inside its
 * write; */
static void test_server__cluster_replayed_push_races_its_original(void **state)
{
	struct cluster *c = *state;
	struct fx *f;
	struct dev w;
	uint8_t client[16];
	uint64_t last = 0;
	if (!veld_test_pg())
		skip(); /* one SQLite directory serves one process: no second server */
	f = c->f;
	worker(f, &w, "north");
	randombytes_buf(client, 16);
	for (int round = 0; round < 30; round++) {
		struct batch b;
		struct shot s[2];
		char ok[96];
		batch_make(&b, &w, last + 1, 2, "north", client, 1);
		shot_push(&s[0], c->via[round % 2], &w, &b, NULL, 0);
		shot_copy(&s[1], &s[0], c->via[1 - round % 2]);
		race(s, 2);
		snprintf(ok, sizeof ok, "200 acked %llu stored 2", (unsigned long long)last + 2);
		assert_either(round, "a push and its replay", &s[0], &s[1], ok, "409 replay",
		              "409 replay", ok);
		last += 2;
		shot_free(&s[0]);
		shot_free(&s[1]);
	}
	assert_device_holds(f, &w, (long long)last);
}

/* ... and a pull, whose nonce is recorded after its snapshot, if absent. */
static void test_server__cluster_replayed_pull_races_its_original(void **state)
{
	struct cluster *c = *state;
	struct fx *f;
	struct dev w;
	struct batch b;
	struct resp r;
	uint8_t client[16];
	if (!veld_test_pg())
		skip(); /* one SQLite directory serves one process: no second server */
	f = c->f;
	worker(f, &w, "north");
	randombytes_buf(client, 16);
	batch_make(&b, &w, 1, 3, "north", client, 1);
	push(f, &w, &b, &r);
	assert_pushed(&r, 3, 3);
	resp_free(&r);
	for (int round = 0; round < 40; round++) {
		struct shot s[2];
		shot_make(&s[0], c->via[round % 2], &w, "GET", "/v1/pull?after=0&limit=3", NULL, 0);
		shot_copy(&s[1], &s[0], c->via[1 - round % 2]);
		race(s, 2);
		assert_either(round, "a pull and its replay", &s[0], &s[1], "200", "409 replay",
		              "409 replay", "200");
		shot_free(&s[0]);
		shot_free(&s[1]);
	}
}

/* 4. Two devices enrolling with one invite's code at once, one through
 * each server: one is enrolled, the other gets 403 bad_code, and only the
 * one has a row in devices. */
static void test_server__cluster_enrolments_race_for_one_invite(void **state)
{
	struct cluster *c = *state;
	struct fx *f;
	long long devices;
	if (!veld_test_pg())
		skip(); /* one SQLite directory serves one process: no second server */
	f = c->f;
	devices = db_count(f, "devices");
	for (int round = 0; round < 30; round++) {
		struct dev d[2];
		struct shot s[2];
		uint8_t sealed[VELD_TEAM_SEALED_BYTES];
		char text[VELD_CODE_TEXT_MAX];
		invite(f, "north", text, sealed);
		for (int i = 0; i < 2; i++) {
			msgpack_sbuffer b;
			dev_new(&d[i], "north");
			enroll_body(&b, &d[i], text);
			shot_make(&s[i], c->via[(round + i) % 2], &d[i], "POST", "/v1/enroll", b.data,
			          b.size);
			msgpack_sbuffer_destroy(&b);
		}
		race(s, 2);
		assert_either(round, "two enrolments", &s[0], &s[1], "200", "403 bad_code",
		              "403 bad_code", "200");
		devices++;
		assert_int_equal(db_count(f, "devices"), devices);
		assert_int_equal(db_rows_with(f, "devices", "device", d[0].id),
		                 s[0].r.status == 200);
		assert_int_equal(db_rows_with(f, "devices", "device", d[1].id),
		                 s[1].r.status == 200);
		shot_free(&s[0]);
		shot_free(&s[1]);
	}
}

/* 5. The office's erasure of a client racing a push of that client's next
 * operations (with a key envelope for it), through the other server:
 * whichever comes first, nothing of the client's values is left (its
 * operations, records, client row and envelopes), while erased_ops keeps
 * every one of its operations' hashes and the feed a row for each. */
static void test_server__cluster_erasure_races_a_push(void **state)
{
	struct cluster *c = *state;
	struct fx *f;
	struct dev w;
	uint64_t last = 0;
	if (!veld_test_pg())
		skip(); /* one SQLite directory serves one process: no second server */
	f = c->f;
	worker(f, &w, "north");
	for (int round = 0; round < 30; round++) {
		struct fx *va = c->via[round % 2], *vb = c->via[1 - round % 2];
		struct veld__notice_body eb;
		struct veld__envelope env;
		struct notice x;
		msgpack_sbuffer body;
		struct batch b;
		struct shot s[2];
		struct resp r;
		uint8_t client[16];
		uint64_t *n = notice_last(f, "north");
		char before[96], after[96];
		long long traces;
		randombytes_buf(client, 16);
		batch_make(&b, &w, last + 1, 2, "north", client, 1);
		push(va, &w, &b, &r);
		assert_pushed(&r, last + 2, 2);
		resp_free(&r);

		eb = erase_body(client);
		notice_make(&x, &f->office, "north", *n + 1, &eb);
		notices_body(&body, &x, 1);
		shot_make(&s[0], va, &f->office, "POST", "/v1/notice", body.data, body.size);
		msgpack_sbuffer_destroy(&body);
		notice_free(&x);
		batch_make(&b, &w, last + 3, 3, "north", client, 1);
		env = envelope(&w, client, "team:north", 1);
		shot_push(&s[1], vb, &w, &b, &env, 1);
		race(s, 2);
		snprintf(before, sizeof before, "200 acked %llu stored 3", (unsigned long long)last + 5);
		snprintf(after, sizeof after, "200 acked %llu stored 0", (unsigned long long)last + 5);
		assert_either(round, "an erasure and a push", &s[0], &s[1], "200", before, "200",
		              after);
		(*n)++;
		last += 5;
		shot_free(&s[0]);
		shot_free(&s[1]);

		if ((traces = db_client_traces(f, client)) != 0)
			fail_msg("round %d: %lld rows of the erased client's values are left", round,
			         traces);
		assert_int_equal(db_rows_with(f, "erased_ops", "client", client), 5);
		assert_int_equal(db_rows_with(f, "feed", "client", client), 5);
		assert_int_equal(db_rows_with(f, "erasures", "client", client), 1);
	}
	assert_int_equal(db_last_seq(f, &w), last);
}

/* 6. Two servers started at once on an empty database: one of them makes
 * the office's setup code (DATA/setup-code, veld_server_setup_code), the
 * other none, the database holds one invite, and the code enrols the
 * office through the other server. Each round races on a new database
 * (the schema's migration races too), then once more on that database
 * emptied of its office and invite, the two starts lined up. */
struct starter {
	char data[256];
	const char *db;
	pthread_barrier_t *go;
	veld_server *srv;
	int rc;
	char err[200];
};

static void *starter_run(void *arg)
{
	struct starter *s = arg;
	pthread_barrier_wait(s->go);
	if ((s->rc = server_open(&s->srv, s->data, s->db, NULL)) != VELD_OK)
		snprintf(s->err, sizeof s->err, "%s", veld_error_last());
	return NULL;
}

/* Servers on DIR/TAG-a and DIR/TAG-b started at once on `db`. Threads
 * alone leave the two starts' checks some milliseconds apart; with
 * `align` the test keeps invites from being written (a SHARE lock, which
 * lets reads through) until two starts wait, each for it or for the other's
 * write lock: the two checks then overlap wherever the write lock does not
 * keep them apart. */
static void setup_code_race(int round, const char *dir, const char *tag, const char *db,
                            int align)
{
	struct starter s[2];
	pthread_t th[2];
	pthread_barrier_t go;
	veld_test_pg_hold *hold = NULL;
	struct fx *other;
	int made = -1;
	memset(s, 0, sizeof s);
	if (align)
		hold = veld_test_pg_begin(db, "LOCK TABLE invites IN SHARE MODE");
	assert_int_equal(pthread_barrier_init(&go, NULL, 2), 0);
	for (int i = 0; i < 2; i++) {
		snprintf(s[i].data, sizeof s[i].data, "%.100s/%s-%c", dir, tag, 'a' + i);
		s[i].db = db;
		s[i].go = &go;
		assert_int_equal(pthread_create(&th[i], NULL, starter_run, &s[i]), 0);
	}
	if (hold) {
		long long waiting = 0;
		for (int i = 0; i < 10000 && waiting < 2; i++) {
			usleep(1000);
			waiting = veld_test_pg_int(db, "SELECT count(*) FROM pg_locks WHERE NOT granted"
			                           " AND database = (SELECT oid FROM pg_database"
			                           " WHERE datname = current_database())");
		}
		veld_test_pg_release(hold);
		if (waiting < 2)
			fail_msg("round %d, %s: the servers' starts did not wait to write invites"
			         " (does a start no longer make its setup code there?)", round, tag);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&go);
	for (int i = 0; i < 2; i++) {
		char path[400];
		struct stat st;
		if (s[i].rc != VELD_OK)
			fail_msg("round %d, %s: server %d: veld_server_start: %d %s", round, tag, i,
			         s[i].rc, s[i].err);
		snprintf(path, sizeof path, "%.256s/setup-code", s[i].data);
		assert_int_equal(stat(path, &st) == 0, veld_server_setup_code(s[i].srv) != NULL);
		if (!veld_server_setup_code(s[i].srv))
			continue;
		if (made >= 0)
			fail_msg("round %d, %s: both servers made a setup code", round, tag);
		made = i;
	}
	if (made < 0)
		fail_msg("round %d, %s: neither server made a setup code", round, tag);
	assert_int_equal(veld_test_pg_count(db, "invites"), 1);
	/* The code is the database's: it enrols the office through the server
	 * that did not make it. */
	other = calloc(1, sizeof *other);
	assert_non_null(other);
	other->port = veld_server_port(s[1 - made].srv);
	other->curl = curl_easy_init();
	assert_non_null(other->curl);
	snprintf(other->code, sizeof other->code, "%s", veld_server_setup_code(s[made].srv));
	enroll_office(other);
	curl_easy_cleanup(other->curl);
	free(other);
	veld_server_stop(s[0].srv);
	veld_server_stop(s[1].srv);
}

static void test_server__cluster_setup_code_made_once(void **state)
{
	(void)state;
	if (!veld_test_pg())
		skip(); /* one SQLite directory serves one process: no second server */
	for (int round = 0; round < 10; round++) {
		char dir[64], key[128], db[512];
		snprintf(dir, sizeof dir, "/tmp/veld-itest-XXXXXX");
		assert_non_null(mkdtemp(dir));
		snprintf(key, sizeof key, "%s/db", dir);
		veld_test_pg_db(key, db, sizeof db);
		setup_code_race(round, dir, "new", db, 0);
		veld_test_pg_exec(db, "DELETE FROM devices; DELETE FROM invites");
		setup_code_race(round, dir, "emptied", db, 1);
		rm_rf(dir);
		veld_test_pg_drop_under(dir);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_server__health, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__health_names_the_library_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__unknown_endpoint_not_found, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__setup_code_written_once, setup_fresh, teardown),
		cmocka_unit_test_setup_teardown(test_server__enroll_code_reuse_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__worker_enroll_and_code_single_use, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__malformed_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__truncated_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__oversized_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__unsigned_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__unknown_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__forged_signature, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__stale_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__replayed_nonce, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__revoked_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__push_gap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__equivocation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__bad_batch_signature, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__other_team_client_forbidden, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__idempotent_repush, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__pull_by_team, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__team_keys_and_invite_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__pull_envelopes_and_team_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__concurrent_pushes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__pull_office_other_team_as_stubs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__pull_own_operations_as_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__stop_drains_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__access_log_holds_no_secrets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__restart_keeps_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__audit_push_and_repush, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__audit_gap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__audit_bad_signature, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__audit_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__audit_pull_office_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__audit_pull_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__audit_revoked_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__audit_pull_byte_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__audit_schema_upgrade, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__notice_numbering, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__notice_bad_signature, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__notice_cert_must_match_device, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_server__notice_revoke, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__erase_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__erase_notice_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__notices_in_pulls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__erase_then_push, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__field_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__field_policy_governs_every_listed_field, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_server__checkpoint_stored_and_pulled, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_server__envelope_signature_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__team_key_signature_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__push_clock_ahead_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__push_mixing_versions_refused, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_server__enroll_proof_stored_and_listed, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_server__revoke_answers_acked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__pull_does_not_wait_for_a_write, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_server__replayed_pull_refused_also_after_restart,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__old_nonces_carried_over, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__schema_upgrade_keeps_old_data, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_server__cluster_cursors_visible_in_order,
		                                cluster_setup, cluster_teardown),
		cmocka_unit_test_setup_teardown(test_server__cluster_one_device_pushes_twice_at_once,
		                                cluster_setup, cluster_teardown),
		cmocka_unit_test_setup_teardown(test_server__cluster_replayed_push_races_its_original,
		                                cluster_setup, cluster_teardown),
		cmocka_unit_test_setup_teardown(test_server__cluster_replayed_pull_races_its_original,
		                                cluster_setup, cluster_teardown),
		cmocka_unit_test_setup_teardown(test_server__cluster_enrolments_race_for_one_invite,
		                                cluster_setup, cluster_teardown),
		cmocka_unit_test_setup_teardown(test_server__cluster_erasure_races_a_push,
		                                cluster_setup, cluster_teardown),
		cmocka_unit_test(test_server__cluster_setup_code_made_once),
	};
	if (veld_init() != VELD_OK || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return failed;
}
