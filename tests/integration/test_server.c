/* test_server.c - the sync server on 127.0.0.1, started in-process with
 * veld_server_start and driven over HTTP with libcurl (and a raw socket
 * where curl is too polite), with requests built by the wire encoders and
 * signed with auth.c. Every refused request must leave the server's
 * database exactly as it was: each refusal test compares a digest of every
 * table before and after. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth.h"
#include "op.h"
#include "policy.h"
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
	veld_server *srv;
	uint16_t port;
	CURL *curl;
	char code[VELD_CODE_TEXT_MAX];
	struct dev office;
	pthread_mutex_t log_mu;
	char *log[MAX_LOG_LINES];
	size_t nlog;
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

static void server_start(struct fx *f, uint64_t max_body, uint32_t max_requests)
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
	int rc = veld_server_start(&f->srv, &o);
	if (rc != VELD_OK)
		fail_msg("veld_server_start: %d %s", rc, veld_error_last());
	f->port = veld_server_port(f->srv);
	assert_true(f->port != 0);
}

static struct fx *fx_new(uint64_t max_body, uint32_t max_requests)
{
	struct fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	pthread_mutex_init(&f->log_mu, NULL);
	snprintf(f->dir, sizeof f->dir, "/tmp/veld-itest-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->data, sizeof f->data, "%s/data", f->dir);
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
 * order-independent). */
static void db_digest_except(struct fx *f, const char *skip, uint8_t out[32])
{
	char path[400];
	sqlite3 *db;
	sqlite3_stmt *tables, *rows;
	crypto_generichash_state all;
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
	snprintf(path, sizeof path, "%s/server.db", f->data);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	snprintf(q, sizeof q, "SELECT count(*) FROM \"%s\"", table);
	if (sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
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
	assert_int_equal(veld__code_parse(code_text, code), 0);
	veld__code_auth(m.auth, code);
	memcpy(m.device, d->id, 16);
	memcpy(m.sign_pk, d->sign_pk, 32);
	memcpy(m.box_pk, d->box_pk, 32);
	snprintf(m.label, sizeof m.label, "test-%.32s", d->team);
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
	msgpack_sbuffer_init(&b);
	assert_int_equal(veld__wire_team_keys_req_encode(&b, &m), VELD_OK);
	call(f, &f->office, "POST", "/v1/team-keys", (uint8_t *)b.data, b.size, r);
	msgpack_sbuffer_destroy(&b);
}

/* A worker of `team`, invited by the office and enrolled; `code_out`
 * (may be NULL) gets the invite's code. */
static void worker_code(struct fx *f, struct dev *d, const char *team, char *code_out)
{
	struct veld__invite_req inv;
	struct veld__enroll_resp er;
	struct veld__wire w;
	msgpack_sbuffer b;
	uint8_t code[VELD_CODE_BYTES];
	char text[VELD_CODE_TEXT_MAX];
	struct resp r;

	team_keys(f, team, 1, &r); /* the first time publishes tv 1; later an equal repeat */
	assert_int_equal(r.status, 200);
	resp_free(&r);

	memset(&inv, 0, sizeof inv);
	veld__code_new(code, text);
	veld__code_auth(inv.auth, code);
	snprintf(inv.team, sizeof inv.team, "%s", team);
	inv.expires = (uint64_t)time(NULL) * 1000 + 3600 * 1000;
	inv.tv = 1;
	randombytes_buf(inv.team_sealed, sizeof inv.team_sealed);
	msgpack_sbuffer_init(&b);
	assert_int_equal(veld__wire_invite_req_encode(&b, &inv), VELD_OK);
	call(f, &f->office, "POST", "/v1/invite", (uint8_t *)b.data, b.size, &r);
	msgpack_sbuffer_destroy(&b);
	assert_int_equal(r.status, 200);
	resp_free(&r);

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
	assert_memory_equal(er.team_sealed, inv.team_sealed, sizeof inv.team_sealed);
	assert_true(er.has_office);
	assert_memory_equal(er.office_device, f->office.id, 16);
	assert_memory_equal(er.office_sign_pk, f->office.sign_pk, 32);
	assert_memory_equal(er.office_box_pk, f->office.box_pk, 32);
	resp_free(&r);
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

static void batch_make(struct batch *b, const struct dev *d, uint64_t first, size_t n,
                       const char *team, const uint8_t client[16], uint8_t salt)
{
	uint8_t hashes[16 * 32], msg[77];
	assert_true(n <= 16);
	memset(b, 0, sizeof *b);
	b->n = n;
	for (size_t i = 0; i < n; i++) {
		veld__op *op = &b->ops[i];
		memcpy(op->device, d->id, 16);
		op->seq = first + i;
		op->hlc = (1795000000000ull << 16) | op->seq; /* the same op whatever batch it is in */
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
	veld__batch_digest(msg, d->id, first, first + n - 1, hashes, n);
	crypto_sign_detached(b->sig, NULL, msg, sizeof msg, d->sign_sk);
}

/* Re-hash and re-sign a batch after its ops were changed. */
static void batch_resign(struct batch *b, const struct dev *d)
{
	uint8_t hashes[16 * 32], msg[77];
	for (size_t i = 0; i < b->n; i++) {
		veld__op_hash(&b->ops[i]);
		memcpy(hashes + 32 * i, b->ops[i].hash, 32);
	}
	veld__batch_digest(msg, d->id, b->ops[0].seq, b->ops[b->n - 1].seq, hashes, b->n);
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
	for (int i = 0; i < 200; i++) {
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
	assert_string_equal((char *)r.body, "{\"status\":\"ok\",\"version\":\"0.1.0\"}");
	resp_free(&r);
}

/* The version health answers is the library's, not a copy of it. */
static void test_server__health_names_the_library_version(void **state)
{
	struct fx *f = *state;
	struct resp r;
	char want[64];
	snprintf(want, sizeof want, "{\"status\":\"ok\",\"version\":\"%d.%d.%d\"}", VELD_VERSION_MAJOR,
	         VELD_VERSION_MINOR, VELD_VERSION_PATCH);
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
	/* ... or sending a key envelope to the south team. */
	struct veld__envelope env;
	msgpack_sbuffer body;
	memset(&env, 0, sizeof env);
	randombytes_buf(env.client, 16);
	env.kv = 1;
	snprintf(env.to, sizeof env.to, "team:south");
	env.tv = 1;
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
	struct veld__envelope env;
	msgpack_sbuffer body;
	memset(&env, 0, sizeof env);
	memcpy(env.client, client, 16);
	env.kv = 1;
	snprintf(env.to, sizeof env.to, "team:north");
	env.tv = 1;
	randombytes_buf(env.sealed, sizeof env.sealed);
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

/* Check a pull page the way a device does: every op's hash is in its
 * batch, every batch signature verifies with its author's key. */
static void verify_page(const struct veld__pull_resp *p)
{
	for (size_t i = 0; i < p->nops; i++) {
		veld__op op = p->ops[i];
		const struct veld__batch *b = NULL;
		veld__op_hash(&op);
		for (size_t j = 0; j < p->nbatches; j++)
			if (memcmp(p->batches[j].device, op.device, 16) == 0 &&
			    p->batches[j].first <= op.seq && op.seq <= p->batches[j].last)
				b = &p->batches[j];
		assert_non_null(b);
		assert_memory_equal(b->hashes + 32 * (op.seq - b->first), op.hash, 32);
	}
	for (size_t j = 0; j < p->nbatches; j++) {
		const struct veld__batch *b = &p->batches[j];
		const uint8_t *pk = NULL;
		uint8_t msg[77];
		for (size_t k = 0; k < p->nauthors; k++)
			if (memcmp(p->authors[k].device, b->device, 16) == 0)
				pk = p->authors[k].sign_pk;
		assert_non_null(pk);
		veld__batch_digest(msg, b->device, b->first, b->last, b->hashes, b->last - b->first + 1);
		assert_int_equal(crypto_sign_verify_detached(b->sig, msg, sizeof msg, pk), 0);
	}
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
	verify_page(&p);
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
	verify_page(&p);
	veld__wire_free(&w);
	resp_free(&r);

	/* The office: everything. */
	call(f, &f->office, "GET", "/v1/pull", NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(veld__wire_pull_resp_decode(&w, r.body, r.len, &p), VELD_OK);
	assert_int_equal(p.nops, 8);
	assert_false(p.more);
	assert_int_equal(p.nauthors, 3);
	verify_page(&p);
	veld__wire_free(&w);
	resp_free(&r);
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

static struct veld__envelope envelope(const uint8_t client[16], const char *to, uint64_t tv)
{
	struct veld__envelope e;
	memset(&e, 0, sizeof e);
	memcpy(e.client, client, 16);
	e.kv = 1;
	snprintf(e.to, sizeof e.to, "%s", to);
	e.tv = tv;
	randombytes_buf(e.sealed, sizeof e.sealed);
	return e;
}

static void pull_page(struct fx *f, const struct dev *d, const char *path,
                      struct veld__wire *w, struct veld__pull_resp *p, struct resp *r)
{
	call(f, d, "GET", path, NULL, 0, r);
	assert_int_equal(r->status, 200);
	memset(w, 0, sizeof *w);
	if (veld__wire_pull_resp_decode(w, r->body, r->len, p) != VELD_OK)
		fail_msg("pull page does not decode: %s", veld_error_last());
	verify_page(p);
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

	struct veld__envelope e[2] = {envelope(cn, "team:north", 1), envelope(cn, "office", 0)};
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
	assert_int_equal(p.nteam_keys, 1);
	assert_string_equal(p.team_keys[0].team, "north");
	assert_int_equal(p.team_keys[0].tv, 2);
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

static void test_server__pull_mixed_office_batch(void **state)
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
	/* North gets its two, with the whole batch's hashes to check them. */
	pull_page(f, &north, "/v1/pull", &w, &p, &r);
	assert_int_equal(p.nops, 2);
	assert_int_equal(p.nbatches, 1);
	assert_int_equal(p.batches[0].first, 1);
	assert_int_equal(p.batches[0].last, 4);
	assert_int_equal(p.nauthors, 1);
	assert_memory_equal(p.authors[0].device, f->office.id, 16);
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
	for (int i = 0; i < 100 && !busy; i++) {
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
	assert_int_equal(veld_server_start(&second, &o), VELD_EBUSY);
	assert_null(second);
	/* An integrity check of the database file. */
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
	SNAPSHOT(f, before);
	/* The same version with another key. */
	struct veld__team_keys_req m;
	msgpack_sbuffer b;
	memset(&m, 0, sizeof m);
	snprintf(m.team, sizeof m.team, "east");
	m.tv = 1;
	memset(m.pk, 0x77, sizeof m.pk);
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
	inv.tv = 2;
	msgpack_sbuffer_init(&b);
	assert_int_equal(veld__wire_invite_req_encode(&b, &inv), VELD_OK);
	call(f, &f->office, "POST", "/v1/invite", (uint8_t *)b.data, b.size, &r);
	msgpack_sbuffer_destroy(&b);
	assert_error(&r, 409, "gap", &expected);
	assert_int_equal(expected, 1);
	resp_free(&r);
	/* ... or expiring more than 7 days ahead. */
	inv.tv = 1;
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
 * it: every entry's signature verifies with its device's key from
 * `authors`; authors are exactly the page's devices, once each; cursors
 * rise; `next` is the last cursor (or `after` on an empty page). */
static void verify_audit_page(const struct veld__audit_pull_resp *p, uint64_t after)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct veld__audit_entry *e = &p->entries[i];
		const uint8_t *pk = NULL;
		for (size_t k = 0; k < p->nauthors; k++)
			if (memcmp(p->authors[k].device, e->device, 16) == 0)
				pk = p->authors[k].sign_pk;
		assert_non_null(pk);
		assert_int_equal(veld__audit_sig_verify(pk, e->device, e->seq, e->sealed, e->sealed_len,
		                                        e->sig), 0);
		assert_true(e->cursor > (i ? p->entries[i - 1].cursor : after));
	}
	for (size_t k = 0; k < p->nauthors; k++) {
		int on_page = 0;
		for (size_t i = 0; i < p->n; i++)
			on_page |= memcmp(p->entries[i].device, p->authors[k].device, 16) == 0;
		assert_true(on_page);
		for (size_t j = 0; j < k; j++)
			assert_memory_not_equal(p->authors[j].device, p->authors[k].device, 16);
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
	verify_audit_page(p, after);
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

static const uint8_t *author_key(const struct veld__audit_pull_resp *p, const struct dev *d)
{
	for (size_t k = 0; k < p->nauthors; k++)
		if (memcmp(p->authors[k].device, d->id, 16) == 0)
			return p->authors[k].sign_pk;
	return NULL;
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

	/* All at once, in arrival order, with every device's key. */
	audit_pull(f, &f->office, 0, 0, &w, &p, &r);
	assert_page_entries(&p, want, 0, 8);
	assert_false(p.more);
	assert_int_equal(p.nauthors, 3);
	assert_memory_equal(author_key(&p, &north), north.sign_pk, 32);
	assert_memory_equal(author_key(&p, &south), south.sign_pk, 32);
	assert_memory_equal(author_key(&p, &f->office), f->office.sign_pk, 32);
	uint64_t end = p.next;
	veld__wire_free(&w);
	resp_free(&r);

	/* Pages of 3: the same entries, each page with its own devices' keys. */
	static const size_t sizes[] = {3, 3, 2};
	static const size_t nauthors[] = {2, 2, 2};
	uint64_t after = 0;
	size_t from = 0;
	for (size_t i = 0; i < 3; i++) {
		audit_pull(f, &f->office, after, 3, &w, &p, &r);
		assert_page_entries(&p, want, from, sizes[i]);
		assert_int_equal(p.nauthors, nauthors[i]);
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
	assert_int_equal(p.nauthors, 0);
	assert_int_equal(p.next, after);
	assert_false(p.more);
	veld__wire_free(&w);
	resp_free(&r);
	/* A page of 2 holds north's only. */
	audit_pull(f, &f->office, 0, 2, &w, &p, &r);
	assert_page_entries(&p, want, 0, 2);
	assert_int_equal(p.nauthors, 1);
	assert_memory_equal(p.authors[0].sign_pk, north.sign_pk, 32);
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
	/* What it pushed before stays, with its key to check it by. */
	audit_pull(f, &f->office, 0, 0, &w, &p, &r);
	assert_int_equal(p.n, 2);
	assert_int_equal(p.nauthors, 1);
	assert_memory_equal(p.authors[0].device, w1.id, 16);
	assert_memory_equal(p.authors[0].sign_pk, w1.sign_pk, 32);
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

/* A server database from before the access log (schema 1) opens and gains
 * the table; everything else stays. */
static void test_server__audit_schema_upgrade(void **state)
{
	struct fx *f = *state;
	struct dev w1;
	struct batch b;
	struct resp r;
	uint8_t client[16];
	worker(f, &w1, "north");
	randombytes_buf(client, 16);
	batch_make(&b, &w1, 1, 2, "north", client, 1);
	push(f, &w1, &b, &r);
	assert_pushed(&r, 2, 2);
	resp_free(&r);
	assert_int_equal(db_int(f, "PRAGMA user_version"), 4);
	/* Make it a version-1 database, as the server before wrote it. */
	veld_server_stop(f->srv);
	f->srv = NULL;
	db_int(f, "DROP TABLE audit_log");
	db_int(f, "DROP TABLE erasures");
	db_int(f, "DROP TABLE erased_ops");
	db_int(f, "DROP TABLE field_policy");
	db_int(f, "PRAGMA user_version = 1");
	assert_int_equal(db_int(f, "SELECT count(*) FROM sqlite_master WHERE name = 'audit_log'"), 0);
	server_start(f, 0, 0);
	assert_int_equal(db_int(f, "PRAGMA user_version"), 4);
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

/* ---- erasure: POST /v1/erase, erasures in pulls ------------------------------------ */

/* An erasure request, signed by `d` (the office, for one that counts). */
static void erase_sign(struct veld__erase_req *m, const struct dev *d, const uint8_t client[16])
{
	uint8_t msg[VELD_ERASE_SIG_MSG];
	memset(m, 0, sizeof *m);
	memcpy(m->client, client, 16);
	m->at = 1763800000000ull;
	veld__erase_sig_message(msg, client, m->at);
	crypto_sign_detached(m->sig, NULL, msg, sizeof msg, d->sign_sk);
}

static void erase_call(struct fx *f, const struct dev *d, const uint8_t client[16], struct resp *r)
{
	struct veld__erase_req m;
	msgpack_sbuffer b;
	erase_sign(&m, d, client);
	msgpack_sbuffer_init(&b);
	assert_int_equal(veld__wire_erase_req_encode(&b, &m), VELD_OK);
	call(f, d, "POST", "/v1/erase", (uint8_t *)b.data, b.size, r);
	msgpack_sbuffer_destroy(&b);
}

/* The office erases `client`: 200 with {"v":1}. */
static void erase_ok(struct fx *f, const uint8_t client[16])
{
	struct veld__wire w;
	struct resp r;
	erase_call(f, &f->office, client, &r);
	if (r.status != 200)
		fail_msg("erase answered %ld", r.status);
	assert_string_equal(r.ctype, VELD_CONTENT_TYPE);
	memset(&w, 0, sizeof w);
	assert_int_equal(veld__wire_ok_decode(&w, r.body, r.len), VELD_OK);
	veld__wire_free(&w);
	resp_free(&r);
}

/* Rows of `table` whose column `col` holds `id`. */
static long long db_rows_with(struct fx *f, const char *table, const char *col,
                              const uint8_t id[16])
{
	char hex[33], q[256];
	sodium_bin2hex(hex, sizeof hex, id, 16);
	snprintf(q, sizeof q, "SELECT count(*) FROM \"%s\" WHERE \"%s\" = x'%s'", table, col, hex);
	return db_int(f, q);
}

/* The erasure feed's cursor of `client` (0 if not erased). */
static uint64_t db_erasure_cursor(struct fx *f, const uint8_t client[16])
{
	char hex[33], q[200];
	sodium_bin2hex(hex, sizeof hex, client, 16);
	snprintf(q, sizeof q, "SELECT cursor FROM erasures WHERE client = x'%s'", hex);
	return (uint64_t)db_int(f, q);
}

/* The server's last_seq of a device. */
static long long db_last_seq(struct fx *f, const struct dev *d)
{
	char hex[33], q[200];
	assert_int_equal(db_rows_with(f, "devices", "device", d->id), 1);
	sodium_bin2hex(hex, sizeof hex, d->id, 16);
	snprintf(q, sizeof q, "SELECT last_seq FROM devices WHERE device = x'%s'", hex);
	return db_int(f, q);
}

/* Everything the server holds of `client` in the tables that hold
 * operations, records, merge state and keys. */
static long long db_client_traces(struct fx *f, const uint8_t client[16])
{
	char hex[33], q[600];
	sodium_bin2hex(hex, sizeof hex, client, 16);
	snprintf(q, sizeof q,
	         "SELECT (SELECT count(*) FROM ops WHERE client = x'%s')"
	         " + (SELECT count(*) FROM entities WHERE client = x'%s')"
	         " + (SELECT count(*) FROM feed WHERE client = x'%s')"
	         " + (SELECT count(*) FROM clients WHERE client = x'%s')"
	         " + (SELECT count(*) FROM envelopes WHERE client = x'%s')",
	         hex, hex, hex, hex, hex);
	return db_int(f, q);
}

/* Assert a pull page's erasures: exactly the `n` clients at `want` (16
 * bytes each) in this order, with rising cursors above `after`, and
 * erase_next the last (or `after`). */
static void assert_erased(const struct veld__pull_resp *p, uint64_t after, const uint8_t *want,
                          size_t n)
{
	assert_int_equal(p->nerased, n);
	for (size_t i = 0; i < n; i++) {
		assert_memory_equal(p->erased[i].client, want + 16 * i, 16);
		assert_true(p->erased[i].cursor > (i ? p->erased[i - 1].cursor : after));
	}
	assert_int_equal(p->erase_next, n ? p->erased[n - 1].cursor : after);
}

/* A north worker's batch mixing two clients and a second record of the
 * first one; the office writes both teams in one batch. Erasing one client
 * removes all of it and nothing of the others, and the batches it shared
 * with them still verify in pulls. */
static void test_server__erase_client(void **state)
{
	struct fx *f = *state;
	struct dev north, south;
	struct batch b, ob, sb;
	struct veld__pull_resp p;
	struct veld__wire w;
	struct resp r;
	uint8_t cn[16], cm[16], cs[16], vn[16];
	char hex[33];
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
	struct veld__envelope e[3] = {envelope(cn, "team:north", 1), envelope(cn, "office", 0),
	                              envelope(cm, "team:north", 1)};
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

	erase_ok(f, cn);
	/* All of cn is gone: operations, records, merge state, feed, keys. */
	assert_int_equal(db_client_traces(f, cn), 0);
	assert_int_equal(db_rows_with(f, "superseded", "entity", vn), 0);
	assert_int_equal(db_rows_with(f, "conflicts", "entity", cn), 0);
	assert_int_equal(db_rows_with(f, "ops", "entity", vn), 0);
	/* ... but recorded: once, with its team, in the merge's table too. */
	assert_int_equal(db_count(f, "erasures"), 1);
	sodium_bin2hex(hex, sizeof hex, cn, 16);
	char q[200];
	snprintf(q, sizeof q, "SELECT count(*) FROM erasures WHERE client = x'%s' AND team = 'north'"
	         " AND at > 0", hex);
	assert_int_equal(db_int(f, q), 1);
	assert_int_equal(db_rows_with(f, "erased", "client", cn), 1);
	assert_int_equal(db_count(f, "erased_ops"), 5); /* the hashes only */
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

	/* Pulls serve what is left, and the shared batches still verify
	 * (verify_page: every hash of a batch, the erased ones included). */
	pull_page(f, &f->office, "/v1/pull", &w, &p, &r);
	assert_int_equal(p.nops, 5);
	for (size_t i = 0; i < p.nops; i++)
		assert_memory_not_equal(p.ops[i].client, cn, 16);
	veld__wire_free(&w);
	resp_free(&r);
	pull_page(f, &north, "/v1/pull", &w, &p, &r);
	assert_int_equal(p.nops, 2);
	assert_memory_equal(p.ops[0].client, cm, 16);
	assert_memory_equal(p.ops[1].client, cm, 16);
	assert_int_equal(p.nbatches, 1);
	assert_int_equal(p.batches[0].first, 1);
	assert_int_equal(p.batches[0].last, 6);
	assert_int_equal(p.nenvs, 1);
	assert_memory_equal(p.envs[0].client, cm, 16);
	veld__wire_free(&w);
	resp_free(&r);
	pull_page(f, &south, "/v1/pull", &w, &p, &r);
	assert_int_equal(p.nops, 3); /* its own two and the office's 2 */
	assert_int_equal(p.nbatches, 2);
	veld__wire_free(&w);
	resp_free(&r);

	/* Again: 200, and nothing changes but the nonce table. */
	long long nonces = db_count(f, "nonces");
	uint8_t before[32], after[32];
	db_digest_except(f, "nonces", before);
	erase_ok(f, cn);
	db_digest_except(f, "nonces", after);
	assert_memory_equal(before, after, 32);
	assert_int_equal(db_count(f, "nonces"), nonces + 1);

	/* No log line holds the client. */
	veld_server_stop(f->srv);
	f->srv = NULL;
	int erase_logged = 0;
	for (size_t i = 0; i < f->nlog; i++) {
		assert_null(strstr(f->log[i], hex));
		erase_logged |= strncmp(f->log[i], "POST /v1/erase 200 ", 19) == 0;
	}
	assert_true(erase_logged);
}

static void test_server__erase_refusals(void **state)
{
	struct fx *f = *state;
	struct dev north;
	struct batch b;
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
	struct veld__envelope e = envelope(ck, "team:north", 1);
	push_envs(f, &north, &e, 1, &r);
	assert_pushed(&r, 2, 0);
	resp_free(&r);

	SNAPSHOT(f, before);
	erase_call(f, &f->office, unknown, &r);
	assert_error(&r, 404, "not_found", NULL);
	resp_free(&r);
	erase_call(f, &f->office, ck, &r);
	assert_error(&r, 404, "not_found", NULL);
	resp_free(&r);
	/* A worker, even of the client's own team. */
	erase_call(f, &north, cn, &r);
	assert_error(&r, 403, "forbidden", NULL);
	resp_free(&r);
	/* An unknown key; a query; the wrong method. */
	msgpack_sbuffer mb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&mb);
	msgpack_packer_init(&pk, &mb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	msgpack_pack_str_with_body(&pk, "v", 1);
	msgpack_pack_uint64(&pk, 1);
	msgpack_pack_str_with_body(&pk, "client", 6);
	msgpack_pack_bin_with_body(&pk, cn, 16);
	msgpack_pack_str_with_body(&pk, "team", 4);
	msgpack_pack_str_with_body(&pk, "north", 5);
	call(f, &f->office, "POST", "/v1/erase", (uint8_t *)mb.data, mb.size, &r);
	assert_error(&r, 400, "malformed", NULL);
	resp_free(&r);
	msgpack_sbuffer_destroy(&mb);
	struct veld__erase_req m;
	erase_sign(&m, &f->office, cn);
	msgpack_sbuffer_init(&mb);
	assert_int_equal(veld__wire_erase_req_encode(&mb, &m), VELD_OK);
	call(f, &f->office, "POST", "/v1/erase?now=1", (uint8_t *)mb.data, mb.size, &r);
	assert_error(&r, 400, "malformed", NULL);
	resp_free(&r);
	msgpack_sbuffer_destroy(&mb);
	/* Signed by anyone but the office (here: a worker's key), or altered
	 * after signing: devices would not take it, so neither does the server. */
	erase_sign(&m, &north, cn);
	msgpack_sbuffer_init(&mb);
	assert_int_equal(veld__wire_erase_req_encode(&mb, &m), VELD_OK);
	call(f, &f->office, "POST", "/v1/erase", (uint8_t *)mb.data, mb.size, &r);
	assert_error(&r, 409, "bad_batch", NULL);
	resp_free(&r);
	msgpack_sbuffer_destroy(&mb);
	erase_sign(&m, &f->office, cn);
	m.at++;
	msgpack_sbuffer_init(&mb);
	assert_int_equal(veld__wire_erase_req_encode(&mb, &m), VELD_OK);
	call(f, &f->office, "POST", "/v1/erase", (uint8_t *)mb.data, mb.size, &r);
	assert_error(&r, 409, "bad_batch", NULL);
	resp_free(&r);
	msgpack_sbuffer_destroy(&mb);
	call(f, &f->office, "GET", "/v1/erase", NULL, 0, &r);
	assert_error(&r, 404, "not_found", NULL);
	resp_free(&r);
	ASSERT_UNCHANGED(f, before);
	assert_int_equal(db_count(f, "erasures"), 0);
	assert_int_equal(db_rows_with(f, "ops", "client", cn), 2);
	assert_int_equal(db_rows_with(f, "envelopes", "client", ck), 1);
	/* The office may. */
	erase_ok(f, cn);
	assert_int_equal(db_count(f, "erasures"), 1);
}

static void pull_at(struct fx *f, const struct dev *d, uint64_t erase_after, struct veld__wire *w,
                    struct veld__pull_resp *p, struct resp *r)
{
	char path[128];
	snprintf(path, sizeof path, "/v1/pull?erase_after=%llu", (unsigned long long)erase_after);
	pull_page(f, d, path, w, p, r);
}

static void test_server__erase_in_pulls(void **state)
{
	struct fx *f = *state;
	struct dev north, north2, south;
	struct batch b;
	struct veld__pull_resp p;
	struct veld__wire w;
	struct resp r;
	uint8_t c[2][16]; /* c[0] of north, c[1] of south */
	worker(f, &north, "north");
	worker(f, &north2, "north");
	worker(f, &south, "south");
	randombytes_buf(c, sizeof c);
	batch_make(&b, &north, 1, 3, "north", c[0], 1);
	push(f, &north, &b, &r);
	assert_pushed(&r, 3, 3);
	resp_free(&r);
	batch_make(&b, &south, 1, 1, "south", c[1], 1);
	push(f, &south, &b, &r);
	assert_pushed(&r, 1, 1);
	resp_free(&r);
	/* Before: no erasures, erase_next stays where it was. */
	pull_at(f, &north2, 7, &w, &p, &r);
	assert_erased(&p, 7, NULL, 0);
	assert_int_equal(p.nops, 3);
	veld__wire_free(&w);
	resp_free(&r);

	erase_ok(f, c[0]);
	erase_ok(f, c[1]);
	uint64_t c0 = db_erasure_cursor(f, c[0]), c1 = db_erasure_cursor(f, c[1]);
	assert_true(c0 > 0 && c1 > c0);

	/* A worker of the client's team gets it, at its cursor, and no
	 * operation of it. */
	pull_page(f, &north2, "/v1/pull", &w, &p, &r);
	assert_erased(&p, 0, c[0], 1);
	assert_int_equal(p.erased[0].cursor, c0);
	assert_int_equal(p.nops, 0);
	assert_false(p.more);
	veld__wire_free(&w);
	resp_free(&r);
	pull_at(f, &north2, c0, &w, &p, &r);
	assert_erased(&p, c0, NULL, 0);
	assert_false(p.more);
	veld__wire_free(&w);
	resp_free(&r);
	/* All four parameters, in any order. */
	char path[160];
	snprintf(path, sizeof path, "/v1/pull?limit=10&erase_after=0&env_after=0&after=0");
	pull_page(f, &north, path, &w, &p, &r);
	assert_erased(&p, 0, c[0], 1);
	veld__wire_free(&w);
	resp_free(&r);
	/* Another team's worker gets only its own team's. */
	pull_page(f, &south, "/v1/pull", &w, &p, &r);
	assert_erased(&p, 0, c[1], 1);
	assert_int_equal(p.erased[0].cursor, c1);
	assert_int_equal(p.nops, 0);
	veld__wire_free(&w);
	resp_free(&r);
	/* The office gets all. */
	pull_page(f, &f->office, "/v1/pull", &w, &p, &r);
	assert_erased(&p, 0, c[0], 2);
	assert_int_equal(p.erased[0].cursor, c0);
	assert_int_equal(p.erased[1].cursor, c1);
	assert_int_equal(p.nops, 0);
	veld__wire_free(&w);
	resp_free(&r);
	pull_at(f, &f->office, c0, &w, &p, &r);
	assert_erased(&p, c0, c[1], 1);
	veld__wire_free(&w);
	resp_free(&r);

	/* The query: erase_after at most once, a decimal number, and only on
	 * /v1/pull. */
	SNAPSHOT(f, before);
	const char *bad[] = {"/v1/pull?erase_after=1&erase_after=2", "/v1/pull?erase_after=",
	                     "/v1/pull?erase_after=-1", "/v1/pull?erase_after=1x",
	                     "/v1/pull?erase_after=99999999999999999999"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		call(f, &north, "GET", bad[i], NULL, 0, &r);
		assert_error(&r, 400, "malformed", NULL);
		resp_free(&r);
	}
	call(f, &f->office, "GET", "/v1/audit?erase_after=0", NULL, 0, &r);
	assert_error(&r, 400, "malformed", NULL);
	resp_free(&r);
	ASSERT_UNCHANGED(f, before);

	/* More than a page of erasures: 1001 more of north, 3 of south. */
	veld_server_stop(f->srv);
	f->srv = NULL;
	db_int(f, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1001)"
	          " INSERT INTO erasures(client, team, at, sig) SELECT randomblob(16), 'north', 1, randomblob(64) FROM n");
	db_int(f, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3)"
	          " INSERT INTO erasures(client, team, at, sig) SELECT randomblob(16), 'south', 1, randomblob(64) FROM n");
	server_start(f, 0, 0);
	pull_at(f, &north, c0, &w, &p, &r);
	assert_int_equal(p.nerased, 1000);
	assert_true(p.more);
	assert_int_equal(p.erase_next, p.erased[999].cursor);
	assert_true(p.erased[0].cursor > c1);
	for (size_t i = 1; i < p.nerased; i++)
		assert_true(p.erased[i].cursor > p.erased[i - 1].cursor);
	uint64_t next = p.erase_next;
	veld__wire_free(&w);
	resp_free(&r);
	pull_at(f, &north, next, &w, &p, &r);
	assert_int_equal(p.nerased, 1);
	assert_false(p.more);
	veld__wire_free(&w);
	resp_free(&r);
	pull_at(f, &south, c1, &w, &p, &r);
	assert_int_equal(p.nerased, 3);
	assert_false(p.more);
	veld__wire_free(&w);
	resp_free(&r);
	pull_at(f, &f->office, c1, &w, &p, &r);
	assert_int_equal(p.nerased, 1000);
	assert_true(p.more);
	next = p.erase_next;
	veld__wire_free(&w);
	resp_free(&r);
	pull_at(f, &f->office, next, &w, &p, &r);
	assert_int_equal(p.nerased, 4);
	assert_false(p.more);
	veld__wire_free(&w);
	resp_free(&r);
}

/* After an erasure, a device's operations and envelopes of the client are
 * accepted and dropped; its sequence advances; every other rule holds. */
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
	erase_ok(f, cn);
	long long feed = db_count(f, "feed"), ops = db_count(f, "ops");
	assert_int_equal(ops, 0);

	/* New operations of the erased client: acked, not stored. */
	batch_make(&b, &north, 4, 3, "north", cn, 1);
	push(f, &north, &b, &r);
	assert_pushed(&r, 6, 0);
	resp_free(&r);
	assert_int_equal(db_last_seq(f, &north), 6);
	assert_int_equal(db_client_traces(f, cn), 0);
	assert_int_equal(db_count(f, "feed"), feed);
	assert_int_equal(db_rows_with(f, "erased_ops", "device", north.id), 6);
	/* Sent again (held and erased): skipped, not refused. */
	push(f, &north, &first, &r);
	assert_pushed(&r, 6, 0);
	resp_free(&r);
	batch_make(&b, &north, 2, 7, "north", cn, 1);
	push(f, &north, &b, &r);
	assert_pushed(&r, 8, 0);
	resp_free(&r);
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
	struct veld__envelope es = envelope(cn, "team:south", 1);
	push_envs(f, &f->office, &es, 1, &r);
	assert_error(&r, 403, "forbidden", NULL);
	resp_free(&r);
	ASSERT_UNCHANGED(f, before);

	/* Envelopes for it are dropped. */
	struct veld__envelope e[2] = {envelope(cn, "team:north", 1), envelope(cn, "office", 0)};
	push_envs(f, &north, e, 2, &r);
	assert_pushed(&r, 8, 0);
	resp_free(&r);
	assert_int_equal(db_rows_with(f, "envelopes", "client", cn), 0);

	/* One batch of both: the live operation is stored and verifies in a
	 * pull with the dropped one's hash. */
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
	assert_int_equal(p.nbatches, 1);
	assert_int_equal(p.batches[0].first, 9);
	assert_erased(&p, 0, cn, 1);
	veld__wire_free(&w);
	resp_free(&r);
	/* The office's operations of it are dropped too. */
	batch_make(&b, &f->office, 1, 2, "north", cn, 4);
	push(f, &f->office, &b, &r);
	assert_pushed(&r, 2, 0);
	resp_free(&r);
	assert_int_equal(db_client_traces(f, cn), 0);
	/* A restart keeps it so. */
	veld_server_stop(f->srv);
	server_start(f, 0, 0);
	batch_make(&b, &north, 11, 1, "north", cn, 1);
	push(f, &north, &b, &r);
	assert_pushed(&r, 11, 0);
	resp_free(&r);
	assert_int_equal(db_client_traces(f, cn), 0);
}

/* A server database from before erasure (schema 2) opens and gains the
 * erasure tables; everything else stays. */
static void test_server__erase_schema_upgrade(void **state)
{
	struct fx *f = *state;
	struct dev north;
	struct batch b;
	struct veld__pull_resp p;
	struct veld__wire w;
	struct resp r;
	uint8_t cn[16], cm[16];
	worker(f, &north, "north");
	randombytes_buf(cn, 16);
	randombytes_buf(cm, 16);
	batch_make(&b, &north, 1, 2, "north", cn, 1);
	memcpy(b.ops[1].entity, cm, 16);
	memcpy(b.ops[1].client, cm, 16);
	batch_resign(&b, &north);
	push(f, &north, &b, &r);
	assert_pushed(&r, 2, 2);
	resp_free(&r);
	audit_push_ok(f, &north, 1, 2, 1, 2, 2);
	veld_server_stop(f->srv);
	f->srv = NULL;
	db_int(f, "DROP TABLE erasures");
	db_int(f, "DROP TABLE erased_ops");
	db_int(f, "DROP TABLE field_policy");
	db_int(f, "PRAGMA user_version = 2");
	assert_int_equal(db_int(f, "SELECT count(*) FROM sqlite_master WHERE name IN"
	                           " ('erasures', 'erased_ops')"), 0);
	server_start(f, 0, 0);
	assert_int_equal(db_int(f, "PRAGMA user_version"), 4);
	assert_int_equal(db_count(f, "erasures"), 0);
	assert_int_equal(db_count(f, "erased_ops"), 0);
	assert_int_equal(db_count(f, "ops"), 2);
	assert_int_equal(db_count(f, "audit_log"), 2);
	push(f, &north, &b, &r);
	assert_pushed(&r, 2, 0);
	resp_free(&r);
	erase_ok(f, cn);
	assert_int_equal(db_client_traces(f, cn), 0);
	pull_page(f, &f->office, "/v1/pull", &w, &p, &r);
	assert_int_equal(p.nops, 1);
	assert_memory_equal(p.ops[0].client, cm, 16);
	assert_erased(&p, 0, cn, 1);
	veld__wire_free(&w);
	resp_free(&r);
	/* A restart does not migrate again. */
	veld_server_stop(f->srv);
	f->srv = NULL;
	server_start(f, 0, 0);
	assert_int_equal(db_count(f, "erasures"), 1);
	push(f, &north, &b, &r);
	assert_pushed(&r, 2, 0);
	resp_free(&r);
}

/* ---- field policy: POST /v1/policy, what workers' pulls carry ----------------------- */

static void policy_call(struct fx *f, const struct dev *signer, const struct dev *sender,
                        const char *team, uint64_t at, uint32_t mask, struct resp *r)
{
	struct veld__field_policy m;
	uint8_t msg[VELD_POLICY_SIG_MSG_MAX];
	msgpack_sbuffer b;
	memset(&m, 0, sizeof m);
	snprintf(m.team, sizeof m.team, "%s", team);
	m.at = at;
	m.mask = mask;
	crypto_sign_detached(m.sig, NULL, msg, veld__policy_sig_message(msg, team, at, mask),
	                     signer->sign_sk);
	msgpack_sbuffer_init(&b);
	assert_int_equal(veld__wire_policy_req_encode(&b, &m), VELD_OK);
	call(f, sender, "POST", "/v1/policy", (uint8_t *)b.data, b.size, r);
	msgpack_sbuffer_destroy(&b);
}

/* The fields of the client operations a device pulls, as "a,b,..." in
 * arrival order; *has_policy whether the page carried the team's policy. */
static void pulled_fields(struct fx *f, const struct dev *d, char *out, size_t cap,
                          struct veld__field_policy *pol, int *has_policy)
{
	struct veld__wire w;
	struct veld__pull_resp p;
	struct resp r;
	out[0] = 0;
	pull_page(f, d, "/v1/pull?after=0", &w, &p, &r);
	for (size_t i = 0; i < p.nops; i++)
		snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? "," : "", p.ops[i].field);
	*has_policy = p.has_policy;
	if (pol)
		*pol = p.policy;
	veld__wire_free(&w);
	resp_free(&r);
}

/* A team's field policy, set by the office only and never back in time,
 * decides which client fields its workers' pulls carry; the office's
 * carry every field. */
static void test_server__field_policy(void **state)
{
	struct fx *f = *state;
	struct dev w1, w2;
	struct veld__field_policy pol;
	struct batch b;
	struct resp r;
	uint8_t client[16];
	char fields[128];
	int has;
	const uint64_t t0 = 1795000000000ull;
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
	pulled_fields(f, &w2, fields, sizeof fields, NULL, &has);
	assert_string_equal(fields, "name,address");
	assert_false(has);
	pulled_fields(f, &f->office, fields, sizeof fields, NULL, &has);
	assert_string_equal(fields, "name,birth_date,address,initials");
	assert_false(has);

	/* Refused, changing nothing: from a worker; signed by anyone but the
	 * office or altered after signing; a field the policy does not govern;
	 * fields out of their canonical order. */
	SNAPSHOT(f, before);
	policy_call(f, &w1, &w1, "north", t0, initials_birth, &r);
	assert_error(&r, 403, "forbidden", NULL);
	resp_free(&r);
	policy_call(f, &w1, &f->office, "north", t0, initials_birth, &r);
	assert_error(&r, 409, "bad_batch", NULL);
	resp_free(&r);
	{
		struct veld__field_policy m;
		uint8_t msg[VELD_POLICY_SIG_MSG_MAX];
		msgpack_sbuffer mb;
		memset(&m, 0, sizeof m);
		snprintf(m.team, sizeof m.team, "north");
		m.at = t0;
		m.mask = initials_birth;
		crypto_sign_detached(m.sig, NULL, msg, veld__policy_sig_message(msg, "north", t0, 0x1),
		                     f->office.sign_sk);
		msgpack_sbuffer_init(&mb);
		assert_int_equal(veld__wire_policy_req_encode(&mb, &m), VELD_OK);
		call(f, &f->office, "POST", "/v1/policy", (uint8_t *)mb.data, mb.size, &r);
		assert_error(&r, 409, "bad_batch", NULL);
		resp_free(&r);
		msgpack_sbuffer_destroy(&mb);
	}
	for (int bad = 0; bad < 2; bad++) {
		msgpack_sbuffer mb;
		msgpack_packer pk;
		uint8_t sig[64] = {0};
		msgpack_sbuffer_init(&mb);
		msgpack_packer_init(&pk, &mb, msgpack_sbuffer_write);
		msgpack_pack_map(&pk, 5);
		msgpack_pack_str_with_body(&pk, "v", 1);
		msgpack_pack_uint64(&pk, 1);
		msgpack_pack_str_with_body(&pk, "team", 4);
		msgpack_pack_str_with_body(&pk, "north", 5);
		msgpack_pack_str_with_body(&pk, "at", 2);
		msgpack_pack_uint64(&pk, t0);
		msgpack_pack_str_with_body(&pk, "fields", 6);
		msgpack_pack_array(&pk, 2);
		msgpack_pack_str_with_body(&pk, bad ? "phone" : "bsn", bad ? 5 : 3);
		msgpack_pack_str_with_body(&pk, "address", 7);
		msgpack_pack_str_with_body(&pk, "sig", 3);
		msgpack_pack_bin_with_body(&pk, sig, 64);
		call(f, &f->office, "POST", "/v1/policy", (uint8_t *)mb.data, mb.size, &r);
		assert_error(&r, 400, "malformed", NULL);
		resp_free(&r);
		msgpack_sbuffer_destroy(&mb);
	}
	ASSERT_UNCHANGED(f, before);

	/* The office sets one: initials and date of birth reach the team,
	 * the address no longer does. Sent again, nothing changes. */
	policy_call(f, &f->office, &f->office, "north", t0, initials_birth, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	policy_call(f, &f->office, &f->office, "north", t0, initials_birth, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	pulled_fields(f, &w2, fields, sizeof fields, &pol, &has);
	assert_string_equal(fields, "name,birth_date,initials");
	assert_true(has);
	assert_string_equal(pol.team, "north");
	assert_int_equal(pol.at, t0);
	assert_int_equal(pol.mask, initials_birth);
	assert_int_equal(veld__policy_sig_verify(f->office.sign_pk, "north", t0, initials_birth,
	                                         pol.sig), 0);
	pulled_fields(f, &f->office, fields, sizeof fields, NULL, &has);
	assert_string_equal(fields, "name,birth_date,address,initials");
	assert_false(has);

	/* Never back in time: an older policy, or another at the same time. */
	SNAPSHOT(f, set);
	policy_call(f, &f->office, &f->office, "north", t0 - 1, 0x7f, &r);
	assert_error(&r, 409, "replay", NULL);
	resp_free(&r);
	policy_call(f, &f->office, &f->office, "north", t0, 0x7f, &r);
	assert_error(&r, 409, "replay", NULL);
	resp_free(&r);
	ASSERT_UNCHANGED(f, set);
	/* A later one replaces it. */
	policy_call(f, &f->office, &f->office, "north", t0 + 1, 0, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	pulled_fields(f, &w2, fields, sizeof fields, NULL, &has);
	assert_string_equal(fields, "name");
}

/* Every field policy.h governs is governed by the team feed: one
 * operation per governed field (and the name), then policies that let
 * none, all, and each one alone through. A field added to policy.h's list
 * is covered here without a change; a feed that names the fields itself
 * and misses one fails. */
static void test_server__field_policy_governs_every_listed_field(void **state)
{
	struct fx *f = *state;
	struct dev w1, w2;
	struct batch b;
	struct resp r;
	uint8_t client[16];
	char fields[512], want[512];
	int has;
	const uint64_t t0 = 1795000000000ull;
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
	policy_call(f, &f->office, &f->office, "north", t0, 0, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	pulled_fields(f, &w2, fields, sizeof fields, NULL, &has);
	assert_string_equal(fields, "name");
	/* The office's pulls carry every field whatever the policy. */
	pulled_fields(f, &f->office, fields, sizeof fields, NULL, &has);
	assert_string_equal(fields, want);

	/* All reach it. */
	policy_call(f, &f->office, &f->office, "north", t0 + 1, VELD_POLICY_ALL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	pulled_fields(f, &w2, fields, sizeof fields, NULL, &has);
	assert_string_equal(fields, want);

	/* Each alone: its own bit lets exactly that field through. */
	for (int i = 0; i < VELD_POLICY_NFIELDS; i++) {
		policy_call(f, &f->office, &f->office, "north", t0 + 2 + (uint64_t)i, 1u << i, &r);
		assert_int_equal(r.status, 200);
		resp_free(&r);
		pulled_fields(f, &w2, fields, sizeof fields, NULL, &has);
		snprintf(want, sizeof want, "name,%s", veld__policy_fields[i]);
		assert_string_equal(fields, want);
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
		cmocka_unit_test_setup_teardown(test_server__pull_mixed_office_batch, setup, teardown),
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
		cmocka_unit_test_setup_teardown(test_server__erase_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__erase_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__erase_in_pulls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__erase_then_push, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__erase_schema_upgrade, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__field_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server__field_policy_governs_every_listed_field, setup,
		                                teardown),
	};
	if (veld_init() != VELD_OK || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return failed;
}
