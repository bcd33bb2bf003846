/* rogue.c - a device the test writes (rogue.h). */
#include "rogue.h"

#include "auth.h"
#include "e2e.h"
#include "veld_sync.h"

#include <curl/curl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void rogue_new(struct rogue *r, const char *team)
{
	memset(r, 0, sizeof *r);
	randombytes_buf(r->id, sizeof r->id);
	crypto_sign_keypair(r->sign_pk, r->sign_sk);
	crypto_box_keypair(r->box_pk, r->box_sk);
	snprintf(r->team, sizeof r->team, "%s", team);
}

struct rbuf {
	uint8_t *b;
	size_t n;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct rbuf *b = ud;
	size_t len = size * n;
	uint8_t *g = realloc(b->b, b->n + len + 1);
	if (!g)
		return 0;
	memcpy(g + b->n, p, len);
	b->b = g;
	b->n += len;
	return len;
}

long rogue_call(struct rogue *r, const char *method, const char *path, const uint8_t *req,
                size_t len, uint8_t **body, size_t *blen)
{
	struct veld__auth_headers h;
	struct curl_slist *hl = NULL;
	struct rbuf out = {NULL, 0};
	char url[600], line[4][200];
	long status = 0;
	CURL *c = curl_easy_init();
	assert_non_null(c);
	veld__auth_sign(&h, r->id, r->sign_sk, method, path, req, len);
	snprintf(url, sizeof url, "%s%s", r->url, path);
	snprintf(line[0], sizeof line[0], "Veld-Device: %s", h.device);
	snprintf(line[1], sizeof line[1], "Veld-Time: %s", h.time);
	snprintf(line[2], sizeof line[2], "Veld-Nonce: %s", h.nonce);
	snprintf(line[3], sizeof line[3], "Veld-Signature: %s", h.signature);
	for (int i = 0; i < 4; i++)
		hl = curl_slist_append(hl, line[i]);
	hl = curl_slist_append(hl, "Content-Type: " VELD_CONTENT_TYPE);
	hl = curl_slist_append(hl, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
	if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, req ? (const char *)req : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	if (body) {
		*body = out.b;
		*blen = out.n;
	} else {
		free(out.b);
	}
	return status;
}

void rogue_enroll(struct rogue *r, veld_store *office, const char *url, const char *team)
{
	struct veld__enroll_req req;
	struct veld__enroll_resp resp;
	struct veld__wire w;
	msgpack_sbuffer sb;
	uint8_t code[VELD_CODE_BYTES], proof_key[32], *body = NULL;
	size_t blen = 0;
	char *text = NULL;
	long status;

	rogue_new(r, team);
	snprintf(r->url, sizeof r->url, "%s", url);
	ok(veld_office_invite(office, team, 3600, NULL, &text));
	assert_int_equal(veld__code_parse(text, code), 0);
	veld_free(text);
	memset(&req, 0, sizeof req);
	veld__code_auth(req.auth, code);
	memcpy(req.device, r->id, VELD_ID_BYTES);
	memcpy(req.sign_pk, r->sign_pk, 32);
	memcpy(req.box_pk, r->box_pk, 32);
	snprintf(req.label, sizeof req.label, "rogue");
	veld__code_proof_key(proof_key, code);
	veld__enroll_proof(req.proof, proof_key, r->id, r->sign_pk, r->box_pk);
	msgpack_sbuffer_init(&sb);
	assert_int_equal(veld__wire_enroll_req_encode(&sb, &req), VELD_OK);
	status = rogue_call(r, "POST", "/v1/enroll", (const uint8_t *)sb.data, sb.size, &body, &blen);
	msgpack_sbuffer_destroy(&sb);
	assert_int_equal(status, 200);
	memset(&w, 0, sizeof w);
	assert_int_equal(veld__wire_enroll_resp_decode(&w, body, blen, &resp), VELD_OK);
	assert_true(resp.has_team_key && resp.has_office);
	r->tv = resp.tv;
	memcpy(r->team_pk, resp.team_pk, 32);
	memcpy(r->office_box_pk, resp.office_box_pk, 32);
	veld__wire_free(&w);
	free(body);
}

void rogue_client(uint8_t client[VELD_ID_BYTES], uint8_t key[32])
{
	randombytes_buf(client, VELD_ID_BYTES);
	crypto_aead_xchacha20poly1305_ietf_keygen(key);
}

uint64_t rogue_hlc(int64_t ahead_ms)
{
	static uint16_t counter;
	struct timespec ts;
	uint64_t ms;
	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	return ((uint64_t)((int64_t)ms + ahead_ms) << 16) | ++counter;
}

static veld__op *next_op(struct rogue *r, const char *kind, const uint8_t entity[VELD_ID_BYTES],
                         const uint8_t client[VELD_ID_BYTES], const char *field)
{
	veld__op *op;
	assert_true(r->n < ROGUE_MAX_OPS);
	op = &r->ops[r->n];
	memset(op, 0, sizeof *op);
	op->version = VELD_OP_VERSION;
	memcpy(op->device, r->id, VELD_ID_BYTES);
	op->seq = r->acked + r->n + 1;
	op->hlc = rogue_hlc(0);
	snprintf(op->kind, sizeof op->kind, "%s", kind);
	memcpy(op->entity, entity, VELD_ID_BYTES);
	memcpy(op->client, client, VELD_ID_BYTES);
	snprintf(op->team, sizeof op->team, "%s", r->team);
	op->kv = 1;
	snprintf(op->field, sizeof op->field, "%s", field);
	r->n++;
	return op;
}

veld__op *rogue_op(struct rogue *r, const char *kind, const uint8_t entity[VELD_ID_BYTES],
                   const uint8_t client[VELD_ID_BYTES], const char *field, const char *json,
                   const uint8_t key[32])
{
	veld__op *op = next_op(r, kind, entity, client, field);
	size_t i = r->n - 1, len = 0;
	if (json) {
		r->values[i] = veld__seal_value(json, strlen(json), entity, field, r->id, op->seq, key, &len);
		assert_non_null(r->values[i]);
		op->value = r->values[i];
		op->value_len = len;
	}
	return op;
}

veld__op *rogue_op_plain(struct rogue *r, const char *kind, const uint8_t entity[VELD_ID_BYTES],
                         const uint8_t client[VELD_ID_BYTES], const char *field,
                         const uint8_t *plain, size_t n, const uint8_t key[32])
{
	veld__op *op = next_op(r, kind, entity, client, field);
	size_t i = r->n - 1;
	uint8_t ad[128];
	r->values[i] = malloc(n + VELD_SEAL_OVERHEAD);
	assert_non_null(r->values[i]);
	veld__seal(r->values[i], plain, n, ad, veld__value_ad(ad, entity, field, r->id, op->seq), key);
	op->value = r->values[i];
	op->value_len = n + VELD_SEAL_OVERHEAD;
	return op;
}

void rogue_envelope_sealed(struct rogue *r, const uint8_t client[VELD_ID_BYTES], uint64_t kv,
                           const char *to, uint64_t tv,
                           const uint8_t sealed[VELD_SEALED_KEY_BYTES])
{
	struct veld__envelope *e;
	uint8_t msg[VELD_ENVELOPE_SIG_MSG_MAX];
	size_t n;
	assert_true(r->nenvs < ROGUE_MAX_ENVS);
	e = &r->envs[r->nenvs++];
	memset(e, 0, sizeof *e);
	memcpy(e->client, client, VELD_ID_BYTES);
	e->kv = kv;
	snprintf(e->to, sizeof e->to, "%s", to);
	e->tv = tv;
	memcpy(e->sealed, sealed, VELD_SEALED_KEY_BYTES);
	memcpy(e->from, r->id, VELD_ID_BYTES);
	n = veld__envelope_sig_message(msg, e->from, e->client, e->kv, e->to, e->tv, e->sealed);
	crypto_sign_detached(e->sig, NULL, msg, n, r->sign_sk);
}

void rogue_envelope(struct rogue *r, const uint8_t client[VELD_ID_BYTES], const uint8_t key[32],
                    const char *to)
{
	uint8_t sealed[VELD_SEALED_KEY_BYTES];
	int office = strcmp(to, "office") == 0;
	crypto_box_seal(sealed, key, 32, office ? r->office_box_pk : r->team_pk);
	rogue_envelope_sealed(r, client, 1, to, office ? 0 : r->tv, sealed);
}

void rogue_sign(struct rogue *r)
{
	uint8_t msg[77];
	for (size_t i = 0; i < r->n; i++) {
		veld__op_hash(&r->ops[i]);
		memcpy(r->hashes + VELD_HASH_BYTES * i, r->ops[i].hash, VELD_HASH_BYTES);
	}
	if (r->n == 0)
		return;
	veld__batch_digest(msg, VELD_OP_VERSION, r->id, r->ops[0].seq, r->ops[r->n - 1].seq, r->hashes,
	                   r->n);
	crypto_sign_detached(r->sig, NULL, msg, sizeof msg, r->sign_sk);
}

struct veld__batch rogue_batch(const struct rogue *r)
{
	struct veld__batch b;
	memset(&b, 0, sizeof b);
	memcpy(b.device, r->id, VELD_ID_BYTES);
	b.first = r->ops[0].seq;
	b.last = r->ops[r->n - 1].seq;
	memcpy(b.sig, r->sig, 64);
	b.hashes = r->hashes;
	b.ver = VELD_OP_VERSION;
	return b;
}

void rogue_reset(struct rogue *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->values[i]);
	memset(r->values, 0, sizeof r->values);
	r->n = 0;
	r->nenvs = 0;
}

long rogue_push(struct rogue *r)
{
	struct veld__push_req m;
	msgpack_sbuffer sb;
	long status;
	rogue_sign(r);
	memset(&m, 0, sizeof m);
	m.ops = r->ops;
	m.nops = r->n;
	m.has_sig = r->n > 0;
	memcpy(m.sig, r->sig, 64);
	m.envs = r->envs;
	m.nenvs = r->nenvs;
	msgpack_sbuffer_init(&sb);
	assert_int_equal(veld__wire_push_req_encode(&sb, &m), VELD_OK);
	status = rogue_call(r, "POST", "/v1/push", (const uint8_t *)sb.data, sb.size, NULL, NULL);
	msgpack_sbuffer_destroy(&sb);
	if (status == 200)
		r->acked += r->n;
	rogue_reset(r);
	return status;
}

long rogue_push_unchecked(struct rogue *r)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	long status;
	rogue_sign(r);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 4);
	msgpack_pack_str_with_body(&pk, "v", 1);
	msgpack_pack_uint64(&pk, 1);
	msgpack_pack_str_with_body(&pk, "ops", 3);
	msgpack_pack_array(&pk, r->n);
	for (size_t i = 0; i < r->n; i++)
		veld__wire_pack_op(&pk, &r->ops[i]);
	msgpack_pack_str_with_body(&pk, "sig", 3);
	msgpack_pack_bin_with_body(&pk, r->sig, 64);
	msgpack_pack_str_with_body(&pk, "envelopes", 9);
	msgpack_pack_array(&pk, 0);
	status = rogue_call(r, "POST", "/v1/push", (const uint8_t *)sb.data, sb.size, NULL, NULL);
	msgpack_sbuffer_destroy(&sb);
	if (status == 200)
		r->acked += r->n;
	rogue_reset(r);
	return status;
}
