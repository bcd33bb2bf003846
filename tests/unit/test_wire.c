/* test_wire.c - the sync wire codec (docs/protocol.md): every message
 * survives a round trip field by field, an operation's bytes are canonical
 * and are its hash input, and the decoders refuse everything the protocol
 * refuses - each rule in its own test - without crashing or leaking on
 * truncated or mutated bodies. */
#include "helpers.h"

#include "op.h"
#include "store.h"
#include "wire.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a tiny msgpack writer for hand-made bodies ------------------------- */

static msgpack_sbuffer sb;
static msgpack_packer pk;

static void raw_begin(uint32_t nkeys)
{
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (nkeys != UINT32_MAX)
		msgpack_pack_map(&pk, nkeys);
}

static void raw_str(const char *s)
{
	msgpack_pack_str_with_body(&pk, s, strlen(s));
}

static void raw_v(void)
{
	raw_str("v");
	msgpack_pack_uint64(&pk, 1);
}

static void raw_bin(size_t n, uint8_t fill)
{
	uint8_t *b = malloc(n ? n : 1);
	memset(b, fill, n);
	msgpack_pack_bin_with_body(&pk, b, n);
	free(b);
}

static void raw_end(void)
{
	msgpack_sbuffer_destroy(&sb);
}

/* ---- decoding any message type ------------------------------------------ */

enum msg {
	M_PUSH,
	M_PUSH_RESP,
	M_PULL,
	M_ENROLL,
	M_ENROLL_RESP,
	M_INVITE,
	M_TEAM_KEYS,
	M_REVOKE,
	M_REVOKE_RESP,
	M_DEVICES,
	M_ERROR,
	M_OK,
	M_AUDIT_PUSH,
	M_AUDIT_PULL,
	M_ERASE,
	M_POLICY,
	M_COUNT
};

/* Decode with the decoder of type t, check a failure leaves *w zeroed and
 * freeable, free, and return the code. */
static int decode_any(enum msg t, const uint8_t *b, size_t n)
{
	union {
		struct veld__push_req push;
		struct veld__push_resp push_resp;
		struct veld__pull_resp pull;
		struct veld__enroll_req enroll;
		struct veld__enroll_resp enroll_resp;
		struct veld__invite_req invite;
		struct veld__team_keys_req team_keys;
		struct veld__revoke_req revoke;
		struct veld__revoke_resp revoke_resp;
		struct veld__devices_resp devices;
		struct veld__error_resp error;
		struct veld__audit_push_req audit_push;
		struct veld__audit_pull_resp audit_pull;
		struct veld__erase_req erase;
		struct veld__field_policy policy;
	} u;
	struct veld__wire w;
	int rc = VELD_ERROR;
	memset(&w, 0xa5, sizeof w); /* the decoder must not read what it is given */
	switch (t) {
	case M_PUSH: rc = veld__wire_push_req_decode(&w, b, n, &u.push); break;
	case M_PUSH_RESP: rc = veld__wire_push_resp_decode(&w, b, n, &u.push_resp); break;
	case M_PULL: rc = veld__wire_pull_resp_decode(&w, b, n, &u.pull); break;
	case M_ENROLL: rc = veld__wire_enroll_req_decode(&w, b, n, &u.enroll); break;
	case M_ENROLL_RESP: rc = veld__wire_enroll_resp_decode(&w, b, n, &u.enroll_resp); break;
	case M_INVITE: rc = veld__wire_invite_req_decode(&w, b, n, &u.invite); break;
	case M_TEAM_KEYS: rc = veld__wire_team_keys_req_decode(&w, b, n, &u.team_keys); break;
	case M_REVOKE: rc = veld__wire_revoke_req_decode(&w, b, n, &u.revoke); break;
	case M_REVOKE_RESP: rc = veld__wire_revoke_resp_decode(&w, b, n, &u.revoke_resp); break;
	case M_DEVICES: rc = veld__wire_devices_resp_decode(&w, b, n, &u.devices); break;
	case M_ERROR: rc = veld__wire_error_decode(&w, b, n, &u.error); break;
	case M_OK: rc = veld__wire_ok_decode(&w, b, n); break;
	case M_AUDIT_PUSH: rc = veld__wire_audit_push_req_decode(&w, b, n, &u.audit_push); break;
	case M_AUDIT_PULL: rc = veld__wire_audit_pull_resp_decode(&w, b, n, &u.audit_pull); break;
	case M_ERASE: rc = veld__wire_erase_req_decode(&w, b, n, &u.erase); break;
	case M_POLICY: rc = veld__wire_policy_req_decode(&w, b, n, &u.policy); break;
	case M_COUNT: break;
	}
	if (rc != VELD_OK) {
		assert_null(w.alloc);
		assert_null(w.u.zone);
	}
	veld__wire_free(&w);
	veld__wire_free(&w); /* freeing twice is harmless */
	return rc;
}

/* The body is refused with VELD_EPROTO and a message holding `needle`. */
static void assert_refused(enum msg t, const uint8_t *b, size_t n, const char *needle)
{
	int rc = decode_any(t, b, n);
	if (rc != VELD_EPROTO)
		fail_msg("expected VELD_EPROTO, got %d (%s)", rc, veld_error_last());
	if (needle && !strstr(veld_error_last(), needle))
		fail_msg("message \"%s\" does not mention \"%s\"", veld_error_last(), needle);
}

static void assert_refused_sb(enum msg t, const char *needle)
{
	assert_refused(t, (const uint8_t *)sb.data, sb.size, needle);
	raw_end();
}

/* ---- fixtures --------------------------------------------------------------- */

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 31u + i * 7u + 1u);
}

#define NOPS 4
static veld__op fx_ops[NOPS];
static veld__ref fx_sups[NOPS][3];
static uint8_t fx_vals[NOPS][300];
static uint64_t fx_cursors[NOPS];

/* Varied operations: a tombstone, several supersedes, extreme integers. */
static void make_ops(void)
{
	static const char *const kinds_[NOPS] = {"client", "visit", "note", "signal"};
	static const char *const fields_[NOPS] = {"name", "planned", VELD_TOMBSTONE_FIELD, "x"};
	static const uint64_t seqs[NOPS] = {1, 127, 65536, UINT64_MAX};
	memset(fx_ops, 0, sizeof fx_ops);
	for (int i = 0; i < NOPS; i++) {
		veld__op *op = &fx_ops[i];
		fill(op->device, VELD_ID_BYTES, 1);
		op->seq = seqs[i];
		op->hlc = ((uint64_t)1700000000000 << 16) + (uint64_t)i;
		snprintf(op->kind, sizeof op->kind, "%s", kinds_[i]);
		fill(op->entity, VELD_ID_BYTES, 10u + (unsigned)i);
		fill(op->client, VELD_ID_BYTES, 20);
		snprintf(op->team, sizeof op->team, "%s", i == 3 ? "Team.A_b@c-9" : "north");
		op->kv = i == 3 ? UINT64_MAX : (uint64_t)i + 1;
		snprintf(op->field, sizeof op->field, "%s", fields_[i]);
		if (i != 2) {
			size_t len = i == 1 ? 300 : 104;
			fill(fx_vals[i], len, 40u + (unsigned)i);
			op->value = fx_vals[i];
			op->value_len = len;
		}
		op->nsup = (size_t)i % 4;
		for (size_t k = 0; k < op->nsup; k++) {
			fill(fx_sups[i][k].device, VELD_ID_BYTES, 50u + (unsigned)k);
			fx_sups[i][k].seq = k == 2 ? UINT64_MAX : 10 + k;
		}
		op->sup = op->nsup ? fx_sups[i] : NULL;
		veld__op_hash(op);
		fx_cursors[i] = (uint64_t)i * 1000 + 7;
	}
}

static struct veld__envelope fx_envs[2];
static uint64_t fx_env_cursors[2] = {3, UINT64_MAX};

static void make_envs(void)
{
	memset(fx_envs, 0, sizeof fx_envs);
	for (int i = 0; i < 2; i++) {
		fill(fx_envs[i].client, VELD_ID_BYTES, 60u + (unsigned)i);
		fx_envs[i].kv = (uint64_t)i + 1;
		snprintf(fx_envs[i].to, sizeof fx_envs[i].to, "%s", i ? "team:north" : "office");
		fx_envs[i].tv = (uint64_t)i;
		fill(fx_envs[i].sealed, VELD_SEALED_KEY_BYTES, 70u + (unsigned)i);
	}
}

static struct veld__push_req fx_push(void)
{
	struct veld__push_req m;
	make_ops();
	make_envs();
	memset(&m, 0, sizeof m);
	m.ops = fx_ops;
	m.nops = NOPS;
	m.has_sig = 1;
	fill(m.sig, sizeof m.sig, 80);
	m.envs = fx_envs;
	m.nenvs = 2;
	return m;
}

static struct veld__batch fx_batches[2];
static uint8_t fx_hashes[2][3 * 32];
static struct veld__author fx_authors[2];
static struct veld__team_key fx_tks[2];

static struct veld__erasure fx_erased[2] = {{.cursor = 3, .at = 1700000000000ull},
                                            {.cursor = 9, .at = 5}};

static struct veld__pull_resp fx_pull(void)
{
	struct veld__pull_resp m;
	make_ops();
	make_envs();
	memset(&m, 0, sizeof m);
	memset(fx_batches, 0, sizeof fx_batches);
	memset(fx_tks, 0, sizeof fx_tks);
	for (int i = 0; i < 2; i++) {
		fill(fx_batches[i].device, VELD_ID_BYTES, 90u + (unsigned)i);
		fx_batches[i].first = i ? 5 : 1;
		fx_batches[i].last = i ? 7 : 1;
		fill(fx_batches[i].sig, 64, 95u + (unsigned)i);
		fill(fx_hashes[i], sizeof fx_hashes[i], 100u + (unsigned)i);
		fx_batches[i].hashes = fx_hashes[i];
		fill(fx_authors[i].device, VELD_ID_BYTES, 110u + (unsigned)i);
		fill(fx_authors[i].sign_pk, 32, 115u + (unsigned)i);
		snprintf(fx_tks[i].team, sizeof fx_tks[i].team, "%s", i ? "south" : "north");
		fx_tks[i].tv = (uint64_t)i + 1;
		fill(fx_tks[i].pk, 32, 120u + (unsigned)i);
		fill(fx_tks[i].sealed, VELD_SEALED_KEY_BYTES, 125u + (unsigned)i);
	}
	m.cursors = fx_cursors;
	m.ops = fx_ops;
	m.nops = NOPS;
	m.batches = fx_batches;
	m.nbatches = 2;
	m.authors = fx_authors;
	m.nauthors = 2;
	m.env_cursors = fx_env_cursors;
	m.envs = fx_envs;
	m.nenvs = 2;
	m.team_keys = fx_tks;
	m.nteam_keys = 2;
	fill(fx_erased[0].client, VELD_ID_BYTES, 130);
	fill(fx_erased[1].client, VELD_ID_BYTES, 131);
	fill(fx_erased[0].sig, 64, 132);
	fill(fx_erased[1].sig, 64, 133);
	m.erased = fx_erased;
	m.nerased = 2;
	m.next = 123456789012ull;
	m.env_next = 42;
	m.erase_next = 9;
	m.more = 1;
	return m;
}

static struct veld__enroll_resp fx_enroll_resp(int office)
{
	struct veld__enroll_resp m;
	memset(&m, 0, sizeof m);
	snprintf(m.role, sizeof m.role, "%s", office ? "office" : "worker");
	snprintf(m.team, sizeof m.team, "%s", office ? "*" : "north");
	m.tv = office ? 0 : 3;
	m.has_team_key = !office;
	m.has_office = !office;
	if (!office) {
		fill(m.team_pk, 32, 1);
		fill(m.team_sealed, VELD_TEAM_SEALED_BYTES, 2);
		fill(m.office_device, VELD_ID_BYTES, 3);
		fill(m.office_sign_pk, 32, 4);
		fill(m.office_box_pk, 32, 5);
	}
	return m;
}

static struct veld__device_info fx_devs[3];

static struct veld__devices_resp fx_devices(void)
{
	struct veld__devices_resp m;
	memset(fx_devs, 0, sizeof fx_devs);
	for (int i = 0; i < 3; i++) {
		struct veld__device_info *d = &fx_devs[i];
		fill(d->device, VELD_ID_BYTES, 130u + (unsigned)i);
		snprintf(d->team, sizeof d->team, "%s", i == 0 ? "*" : "north");
		snprintf(d->role, sizeof d->role, "%s", i == 0 ? "office" : "worker");
		snprintf(d->label, sizeof d->label, "%s", i == 2 ? "" : "anna-phone \xc3\xa9");
		fill(d->sign_pk, 32, 135u + (unsigned)i);
		fill(d->box_pk, 32, 140u + (unsigned)i);
		d->enrolled = 1700000000000ull + (uint64_t)i;
		d->revoked = i == 1 ? 1700000009999ull : 0;
	}
	m.devices = fx_devs;
	m.ndevices = 3;
	return m;
}

static struct veld__sealed_for fx_sealed[2];

static struct veld__team_keys_req fx_team_keys(void)
{
	struct veld__team_keys_req m;
	memset(&m, 0, sizeof m);
	snprintf(m.team, sizeof m.team, "%s", "north");
	m.tv = 2;
	fill(m.pk, 32, 150);
	for (int i = 0; i < 2; i++) {
		fill(fx_sealed[i].device, VELD_ID_BYTES, 151u + (unsigned)i);
		fill(fx_sealed[i].sealed, VELD_SEALED_KEY_BYTES, 153u + (unsigned)i);
	}
	m.sealed = fx_sealed;
	m.nsealed = 2;
	return m;
}

/* A valid body of type t, appended to *out (msgpack_sbuffer_init'ed). */
/* Three access-log entries, seq 7..9, of two devices (for a pull). */
static uint8_t fx_audit_bytes[3][100];
static struct veld__audit_entry fx_audit[3];
static struct veld__author fx_audit_authors[2];

static void fx_audit_init(void)
{
	for (int i = 0; i < 3; i++) {
		fill(fx_audit_bytes[i], sizeof fx_audit_bytes[i], 40u + (unsigned)i);
		memset(&fx_audit[i], 0, sizeof fx_audit[i]);
		fx_audit[i].cursor = 100u + (uint64_t)i;
		fill(fx_audit[i].device, VELD_ID_BYTES, i == 2 ? 51u : 50u);
		fx_audit[i].seq = 7u + (uint64_t)i;
		fx_audit[i].sealed = fx_audit_bytes[i];
		fx_audit[i].sealed_len = sizeof fx_audit_bytes[i] - (size_t)i; /* 100, 99, 98 */
		fill(fx_audit[i].sig, 64, 60u + (unsigned)i);
	}
	for (int a = 0; a < 2; a++) {
		fill(fx_audit_authors[a].device, VELD_ID_BYTES, 50u + (unsigned)a);
		fill(fx_audit_authors[a].sign_pk, 32, 70u + (unsigned)a);
	}
}

static struct veld__audit_pull_resp fx_audit_pull(void)
{
	struct veld__audit_pull_resp m;
	fx_audit_init();
	memset(&m, 0, sizeof m);
	m.entries = fx_audit;
	m.n = 3;
	m.authors = fx_audit_authors;
	m.nauthors = 2;
	m.next = 102;
	m.more = 1;
	return m;
}

static void encode_valid(enum msg t, msgpack_sbuffer *out)
{
	switch (t) {
	case M_PUSH: {
		struct veld__push_req m = fx_push();
		ok(veld__wire_push_req_encode(out, &m));
		break;
	}
	case M_PUSH_RESP: {
		struct veld__push_resp m = {.acked = 1000, .stored = 3};
		ok(veld__wire_push_resp_encode(out, &m));
		break;
	}
	case M_PULL: {
		struct veld__pull_resp m = fx_pull();
		ok(veld__wire_pull_resp_encode(out, &m));
		break;
	}
	case M_ENROLL: {
		struct veld__enroll_req m;
		memset(&m, 0, sizeof m);
		fill(m.auth, 32, 1);
		fill(m.device, VELD_ID_BYTES, 2);
		fill(m.sign_pk, 32, 3);
		fill(m.box_pk, 32, 4);
		snprintf(m.label, sizeof m.label, "anna-phone");
		ok(veld__wire_enroll_req_encode(out, &m));
		break;
	}
	case M_ENROLL_RESP: {
		struct veld__enroll_resp m = fx_enroll_resp(0);
		ok(veld__wire_enroll_resp_encode(out, &m));
		break;
	}
	case M_INVITE: {
		struct veld__invite_req m;
		memset(&m, 0, sizeof m);
		fill(m.auth, 32, 5);
		snprintf(m.team, sizeof m.team, "north");
		m.expires = 1700000000000ull;
		m.tv = 1;
		fill(m.team_sealed, VELD_TEAM_SEALED_BYTES, 6);
		ok(veld__wire_invite_req_encode(out, &m));
		break;
	}
	case M_TEAM_KEYS: {
		struct veld__team_keys_req m = fx_team_keys();
		ok(veld__wire_team_keys_req_encode(out, &m));
		break;
	}
	case M_REVOKE: {
		struct veld__revoke_req m;
		fill(m.device, VELD_ID_BYTES, 7);
		ok(veld__wire_revoke_req_encode(out, &m));
		break;
	}
	case M_REVOKE_RESP: {
		struct veld__revoke_resp m;
		memset(&m, 0, sizeof m);
		snprintf(m.team, sizeof m.team, "north");
		ok(veld__wire_revoke_resp_encode(out, &m));
		break;
	}
	case M_DEVICES: {
		struct veld__devices_resp m = fx_devices();
		ok(veld__wire_devices_resp_encode(out, &m));
		break;
	}
	case M_ERROR: {
		struct veld__error_resp m;
		memset(&m, 0, sizeof m);
		snprintf(m.error, sizeof m.error, "gap");
		snprintf(m.message, sizeof m.message, "push does not continue the sequence");
		m.expected = 17;
		ok(veld__wire_error_encode(out, &m));
		break;
	}
	case M_AUDIT_PUSH: {
		fx_audit_init();
		struct veld__audit_push_req m = {fx_audit, 3};
		ok(veld__wire_audit_push_req_encode(out, &m));
		break;
	}
	case M_AUDIT_PULL: {
		struct veld__audit_pull_resp m = fx_audit_pull();
		ok(veld__wire_audit_pull_resp_encode(out, &m));
		break;
	}
	case M_ERASE: {
		struct veld__erase_req m;
		fill(m.client, VELD_ID_BYTES, 8);
		m.at = 1700000000000ull;
		fill(m.sig, 64, 9);
		ok(veld__wire_erase_req_encode(out, &m));
		break;
	}
	case M_POLICY: {
		struct veld__field_policy m;
		memset(&m, 0, sizeof m);
		snprintf(m.team, sizeof m.team, "north");
		m.at = 1700000000000ull;
		m.mask = 0x45;
		fill(m.sig, 64, 10);
		ok(veld__wire_policy_req_encode(out, &m));
		break;
	}
	case M_OK:
	case M_COUNT:
		ok(veld__wire_ok_encode(out));
		break;
	}
}

/* ---- comparisons ------------------------------------------------------------- */

static void assert_op_equal(const veld__op *a, const veld__op *b)
{
	assert_memory_equal(a->device, b->device, VELD_ID_BYTES);
	assert_true(a->seq == b->seq);
	assert_true(a->hlc == b->hlc);
	assert_string_equal(a->kind, b->kind);
	assert_memory_equal(a->entity, b->entity, VELD_ID_BYTES);
	assert_memory_equal(a->client, b->client, VELD_ID_BYTES);
	assert_string_equal(a->team, b->team);
	assert_true(a->kv == b->kv);
	assert_string_equal(a->field, b->field);
	if (!a->value) {
		assert_null(b->value);
		assert_int_equal(b->value_len, 0);
	} else {
		assert_non_null(b->value);
		assert_int_equal(a->value_len, b->value_len);
		assert_memory_equal(a->value, b->value, a->value_len);
	}
	assert_int_equal(a->nsup, b->nsup);
	for (size_t i = 0; i < a->nsup; i++) {
		assert_memory_equal(a->sup[i].device, b->sup[i].device, VELD_ID_BYTES);
		assert_true(a->sup[i].seq == b->sup[i].seq);
	}
	if (!a->nsup)
		assert_null(b->sup);
	/* decoders hash what they decode */
	assert_memory_equal(a->hash, b->hash, VELD_HASH_BYTES);
}

static void assert_env_equal(const struct veld__envelope *a, const struct veld__envelope *b)
{
	assert_memory_equal(a->client, b->client, VELD_ID_BYTES);
	assert_true(a->kv == b->kv);
	assert_string_equal(a->to, b->to);
	assert_true(a->tv == b->tv);
	assert_memory_equal(a->sealed, b->sealed, VELD_SEALED_KEY_BYTES);
}

/* ---- round trips ------------------------------------------------------------- */

static void test_wire__push_round_trip(void **state)
{
	struct veld__push_req in = fx_push(), out;
	struct veld__wire w;
	msgpack_sbuffer buf;
	(void)state;
	msgpack_sbuffer_init(&buf);
	ok(veld__wire_push_req_encode(&buf, &in));
	ok(veld__wire_push_req_decode(&w, (const uint8_t *)buf.data, buf.size, &out));
	assert_int_equal(out.nops, NOPS);
	for (size_t i = 0; i < NOPS; i++)
		assert_op_equal(&in.ops[i], &out.ops[i]);
	assert_int_equal(out.has_sig, 1);
	assert_memory_equal(out.sig, in.sig, 64);
	assert_int_equal(out.nenvs, 2);
	for (size_t i = 0; i < 2; i++)
		assert_env_equal(&in.envs[i], &out.envs[i]);
	/* values point into the body; arrays into the one block */
	assert_true(out.ops[0].value >= (const uint8_t *)buf.data &&
	            out.ops[0].value < (const uint8_t *)buf.data + buf.size);
	assert_non_null(w.alloc);
	veld__wire_free(&w);
	msgpack_sbuffer_destroy(&buf);
}

static void test_wire__push_envelopes_only_round_trip(void **state)
{
	struct veld__push_req in = fx_push(), out;
	struct veld__wire w;
	msgpack_sbuffer buf;
	(void)state;
	in.nops = 0;
	in.ops = NULL;
	in.has_sig = 0;
	msgpack_sbuffer_init(&buf);
	ok(veld__wire_push_req_encode(&buf, &in));
	ok(veld__wire_push_req_decode(&w, (const uint8_t *)buf.data, buf.size, &out));
	assert_int_equal(out.nops, 0);
	assert_null(out.ops);
	assert_int_equal(out.has_sig, 0);
	assert_int_equal(out.nenvs, 2);
	assert_env_equal(&in.envs[1], &out.envs[1]);
	veld__wire_free(&w);
	msgpack_sbuffer_destroy(&buf);
}

static void test_wire__push_resp_round_trip(void **state)
{
	struct veld__push_resp in = {.acked = UINT64_MAX, .stored = 0}, out;
	struct veld__wire w;
	msgpack_sbuffer buf;
	(void)state;
	msgpack_sbuffer_init(&buf);
	ok(veld__wire_push_resp_encode(&buf, &in));
	ok(veld__wire_push_resp_decode(&w, (const uint8_t *)buf.data, buf.size, &out));
	assert_true(out.acked == UINT64_MAX);
	assert_true(out.stored == 0);
	veld__wire_free(&w);
	msgpack_sbuffer_destroy(&buf);
}

static void test_wire__pull_round_trip(void **state)
{
	struct veld__pull_resp in = fx_pull(), out;
	struct veld__wire w;
	msgpack_sbuffer buf;
	(void)state;
	msgpack_sbuffer_init(&buf);
	ok(veld__wire_pull_resp_encode(&buf, &in));
	ok(veld__wire_pull_resp_decode(&w, (const uint8_t *)buf.data, buf.size, &out));
	assert_int_equal(out.nops, NOPS);
	for (size_t i = 0; i < NOPS; i++) {
		assert_true(out.cursors[i] == in.cursors[i]);
		assert_op_equal(&in.ops[i], &out.ops[i]);
	}
	assert_int_equal(out.nbatches, 2);
	for (size_t i = 0; i < 2; i++) {
		const struct veld__batch *a = &in.batches[i], *b = &out.batches[i];
		assert_memory_equal(a->device, b->device, VELD_ID_BYTES);
		assert_true(a->first == b->first && a->last == b->last);
		assert_memory_equal(a->sig, b->sig, 64);
		assert_memory_equal(a->hashes, b->hashes, 32 * (a->last - a->first + 1));
	}
	assert_int_equal(out.nauthors, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_memory_equal(in.authors[i].device, out.authors[i].device, VELD_ID_BYTES);
		assert_memory_equal(in.authors[i].sign_pk, out.authors[i].sign_pk, 32);
	}
	assert_int_equal(out.nenvs, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_true(out.env_cursors[i] == in.env_cursors[i]);
		assert_env_equal(&in.envs[i], &out.envs[i]);
	}
	assert_int_equal(out.nteam_keys, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_string_equal(in.team_keys[i].team, out.team_keys[i].team);
		assert_true(in.team_keys[i].tv == out.team_keys[i].tv);
		assert_memory_equal(in.team_keys[i].pk, out.team_keys[i].pk, 32);
		assert_memory_equal(in.team_keys[i].sealed, out.team_keys[i].sealed,
		                    VELD_SEALED_KEY_BYTES);
	}
	assert_true(out.next == in.next);
	assert_true(out.env_next == in.env_next);
	assert_true(out.erase_next == 9);
	assert_int_equal(out.nerased, 2);
	assert_true(out.erased[0].cursor == 3 && out.erased[1].cursor == 9);
	assert_memory_equal(out.erased[1].client, fx_erased[1].client, VELD_ID_BYTES);
	assert_true(out.erased[0].at == 1700000000000ull && out.erased[1].at == 5);
	assert_memory_equal(out.erased[1].sig, fx_erased[1].sig, 64);
	assert_int_equal(out.more, 1);
	veld__wire_free(&w);
	msgpack_sbuffer_destroy(&buf);
}

static void test_wire__pull_empty_page_round_trip(void **state)
{
	struct veld__pull_resp in, out;
	struct veld__wire w;
	msgpack_sbuffer buf;
	(void)state;
	memset(&in, 0, sizeof in);
	in.next = 9;
	msgpack_sbuffer_init(&buf);
	ok(veld__wire_pull_resp_encode(&buf, &in));
	ok(veld__wire_pull_resp_decode(&w, (const uint8_t *)buf.data, buf.size, &out));
	assert_int_equal(out.nops + out.nbatches + out.nauthors + out.nenvs + out.nteam_keys, 0);
	assert_null(out.ops);
	assert_null(w.alloc);
	assert_true(out.next == 9 && out.more == 0);
	veld__wire_free(&w);
	msgpack_sbuffer_destroy(&buf);
}

static void test_wire__enroll_round_trip(void **state)
{
	struct veld__enroll_req in, out;
	struct veld__wire w;
	msgpack_sbuffer buf;
	(void)state;
	memset(&in, 0, sizeof in);
	fill(in.auth, 32, 1);
	fill(in.device, VELD_ID_BYTES, 2);
	fill(in.sign_pk, 32, 3);
	fill(in.box_pk, 32, 4);
	memset(in.label, 'x', 64); /* the longest label */
	msgpack_sbuffer_init(&buf);
	ok(veld__wire_enroll_req_encode(&buf, &in));
	ok(veld__wire_enroll_req_decode(&w, (const uint8_t *)buf.data, buf.size, &out));
	assert_memory_equal(in.auth, out.auth, 32);
	assert_memory_equal(in.device, out.device, VELD_ID_BYTES);
	assert_memory_equal(in.sign_pk, out.sign_pk, 32);
	assert_memory_equal(in.box_pk, out.box_pk, 32);
	assert_string_equal(in.label, out.label);
	veld__wire_free(&w);
	msgpack_sbuffer_destroy(&buf);
}

static void test_wire__enroll_resp_round_trip(void **state)
{
	(void)state;
	for (int office = 0; office < 2; office++) {
		struct veld__enroll_resp in = fx_enroll_resp(office), out;
		struct veld__wire w;
		msgpack_sbuffer buf;
		msgpack_sbuffer_init(&buf);
		ok(veld__wire_enroll_resp_encode(&buf, &in));
		ok(veld__wire_enroll_resp_decode(&w, (const uint8_t *)buf.data, buf.size, &out));
		assert_string_equal(in.role, out.role);
		assert_string_equal(in.team, out.team);
		assert_true(in.tv == out.tv);
		assert_int_equal(in.has_team_key, out.has_team_key);
		assert_int_equal(in.has_office, out.has_office);
		assert_memory_equal(in.team_pk, out.team_pk, 32);
		assert_memory_equal(in.team_sealed, out.team_sealed, VELD_TEAM_SEALED_BYTES);
		assert_memory_equal(in.office_device, out.office_device, VELD_ID_BYTES);
		assert_memory_equal(in.office_sign_pk, out.office_sign_pk, 32);
		assert_memory_equal(in.office_box_pk, out.office_box_pk, 32);
		veld__wire_free(&w);
		msgpack_sbuffer_destroy(&buf);
	}
}

static void test_wire__invite_round_trip(void **state)
{
	struct veld__invite_req in, out;
	struct veld__wire w;
	msgpack_sbuffer buf;
	(void)state;
	memset(&in, 0, sizeof in);
	fill(in.auth, 32, 9);
	memset(in.team, 'z', 64); /* the longest team */
	in.expires = 1700000000000ull;
	in.tv = 4;
	fill(in.team_sealed, VELD_TEAM_SEALED_BYTES, 10);
	msgpack_sbuffer_init(&buf);
	ok(veld__wire_invite_req_encode(&buf, &in));
	ok(veld__wire_invite_req_decode(&w, (const uint8_t *)buf.data, buf.size, &out));
	assert_memory_equal(in.auth, out.auth, 32);
	assert_string_equal(in.team, out.team);
	assert_true(in.expires == out.expires && in.tv == out.tv);
	assert_memory_equal(in.team_sealed, out.team_sealed, VELD_TEAM_SEALED_BYTES);
	veld__wire_free(&w);
	msgpack_sbuffer_destroy(&buf);
}

static void test_wire__team_keys_round_trip(void **state)
{
	struct veld__team_keys_req in = fx_team_keys(), out;
	struct veld__wire w;
	msgpack_sbuffer buf;
	(void)state;
	msgpack_sbuffer_init(&buf);
	ok(veld__wire_team_keys_req_encode(&buf, &in));
	ok(veld__wire_team_keys_req_decode(&w, (const uint8_t *)buf.data, buf.size, &out));
	assert_string_equal(in.team, out.team);
	assert_true(in.tv == out.tv);
	assert_memory_equal(in.pk, out.pk, 32);
	assert_int_equal(out.nsealed, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_memory_equal(in.sealed[i].device, out.sealed[i].device, VELD_ID_BYTES);
		assert_memory_equal(in.sealed[i].sealed, out.sealed[i].sealed, VELD_SEALED_KEY_BYTES);
	}
	veld__wire_free(&w);
	msgpack_sbuffer_destroy(&buf);
}

static void test_wire__revoke_round_trip(void **state)
{
	struct veld__revoke_req in, out;
	struct veld__revoke_resp rin, rout;
	struct veld__wire w;
	msgpack_sbuffer buf;
	(void)state;
	fill(in.device, VELD_ID_BYTES, 11);
	msgpack_sbuffer_init(&buf);
	ok(veld__wire_revoke_req_encode(&buf, &in));
	ok(veld__wire_revoke_req_decode(&w, (const uint8_t *)buf.data, buf.size, &out));
	assert_memory_equal(in.device, out.device, VELD_ID_BYTES);
	veld__wire_free(&w);
	msgpack_sbuffer_destroy(&buf);

	memset(&rin, 0, sizeof rin);
	snprintf(rin.team, sizeof rin.team, "north");
	msgpack_sbuffer_init(&buf);
	ok(veld__wire_revoke_resp_encode(&buf, &rin));
	ok(veld__wire_revoke_resp_decode(&w, (const uint8_t *)buf.data, buf.size, &rout));
	assert_string_equal(rin.team, rout.team);
	veld__wire_free(&w);
	msgpack_sbuffer_destroy(&buf);
}

static void test_wire__devices_round_trip(void **state)
{
	struct veld__devices_resp in = fx_devices(), out;
	struct veld__wire w;
	msgpack_sbuffer buf;
	(void)state;
	msgpack_sbuffer_init(&buf);
	ok(veld__wire_devices_resp_encode(&buf, &in));
	ok(veld__wire_devices_resp_decode(&w, (const uint8_t *)buf.data, buf.size, &out));
	assert_int_equal(out.ndevices, 3);
	for (size_t i = 0; i < 3; i++) {
		const struct veld__device_info *a = &in.devices[i], *b = &out.devices[i];
		assert_memory_equal(a->device, b->device, VELD_ID_BYTES);
		assert_string_equal(a->team, b->team);
		assert_string_equal(a->role, b->role);
		assert_string_equal(a->label, b->label);
		assert_memory_equal(a->sign_pk, b->sign_pk, 32);
		assert_memory_equal(a->box_pk, b->box_pk, 32);
		assert_true(a->enrolled == b->enrolled);
		assert_true(a->revoked == b->revoked);
	}
	veld__wire_free(&w);
	msgpack_sbuffer_destroy(&buf);
}

static void test_wire__error_round_trip(void **state)
{
	static const char *const codes[] = {"gap", "malformed"};
	(void)state;
	for (int i = 0; i < 2; i++) {
		struct veld__error_resp in, out;
		struct veld__wire w;
		msgpack_sbuffer buf;
		memset(&in, 0, sizeof in);
		snprintf(in.error, sizeof in.error, "%s", codes[i]);
		memset(in.message, 'm', 255);
		in.expected = i == 0 ? 42 : 0;
		msgpack_sbuffer_init(&buf);
		ok(veld__wire_error_encode(&buf, &in));
		/* "expected" is written only for gap: a 4- or 3-entry map */
		assert_int_equal((uint8_t)buf.data[0], i == 0 ? 0x84 : 0x83);
		ok(veld__wire_error_decode(&w, (const uint8_t *)buf.data, buf.size, &out));
		assert_string_equal(in.error, out.error);
		assert_string_equal(in.message, out.message);
		assert_true(in.expected == out.expected);
		veld__wire_free(&w);
		msgpack_sbuffer_destroy(&buf);
	}
}

static void test_wire__ok_round_trip(void **state)
{
	static const uint8_t expect[] = {0x81, 0xa1, 'v', 0x01};
	struct veld__wire w;
	msgpack_sbuffer buf;
	(void)state;
	msgpack_sbuffer_init(&buf);
	ok(veld__wire_ok_encode(&buf));
	assert_int_equal(buf.size, sizeof expect);
	assert_memory_equal(buf.data, expect, sizeof expect);
	ok(veld__wire_ok_decode(&w, (const uint8_t *)buf.data, buf.size));
	veld__wire_free(&w);
	msgpack_sbuffer_destroy(&buf);
}

static void test_wire__encoders_write_v_first_then_keys_in_spec_order(void **state)
{
	/* push: {"v":1,"ops":...,"sig":...,"envelopes":...} */
	struct veld__push_req in = fx_push();
	msgpack_sbuffer buf;
	msgpack_unpacked u;
	static const char *const keys[] = {"v", "ops", "sig", "envelopes"};
	(void)state;
	msgpack_sbuffer_init(&buf);
	ok(veld__wire_push_req_encode(&buf, &in));
	msgpack_unpacked_init(&u);
	assert_int_equal(msgpack_unpack_next(&u, buf.data, buf.size, NULL), MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(u.data.via.map.size, 4);
	for (int i = 0; i < 4; i++)
		assert_true(u.data.via.map.ptr[i].key.via.str.size == strlen(keys[i]) &&
		            memcmp(u.data.via.map.ptr[i].key.via.str.ptr, keys[i], strlen(keys[i])) == 0);
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&buf);
}

/* ---- canonical operations ------------------------------------------------ */

static int contains(const void *hay, size_t n, const void *needle, size_t k)
{
	for (size_t i = 0; k <= n && i <= n - k; i++)
		if (memcmp((const uint8_t *)hay + i, needle, k) == 0)
			return 1;
	return 0;
}

static void test_wire__op_layout_is_the_12_element_array(void **state)
{
	/* docs/protocol.md section 2, byte for byte */
	uint8_t expect[128];
	size_t n = 0;
	veld__op op;
	msgpack_sbuffer buf;
	msgpack_packer p;
	(void)state;
	memset(&op, 0, sizeof op);
	memset(op.device, 0x11, 16);
	op.seq = 1;
	op.hlc = 2;
	strcpy(op.kind, "note");
	memset(op.entity, 0x22, 16);
	memset(op.client, 0x33, 16);
	strcpy(op.team, "t");
	op.kv = 3;
	strcpy(op.field, "f");

	expect[n++] = 0x9c; /* fixarray 12 */
	expect[n++] = 0x01; /* version */
	expect[n++] = 0xc4, expect[n++] = 16;
	memset(expect + n, 0x11, 16), n += 16;
	expect[n++] = 0x01; /* seq */
	expect[n++] = 0x02; /* hlc */
	expect[n++] = 0xa4, memcpy(expect + n, "note", 4), n += 4;
	expect[n++] = 0xc4, expect[n++] = 16;
	memset(expect + n, 0x22, 16), n += 16;
	expect[n++] = 0xc4, expect[n++] = 16;
	memset(expect + n, 0x33, 16), n += 16;
	expect[n++] = 0xa1, expect[n++] = 't';
	expect[n++] = 0x03; /* kv */
	expect[n++] = 0xa1, expect[n++] = 'f';
	expect[n++] = 0xc0; /* value nil */
	expect[n++] = 0x90; /* no supersedes */

	msgpack_sbuffer_init(&buf);
	msgpack_packer_init(&p, &buf, msgpack_sbuffer_write);
	veld__wire_pack_op(&p, &op);
	assert_int_equal(buf.size, n);
	assert_memory_equal(buf.data, expect, n);
	msgpack_sbuffer_destroy(&buf);
}

static void test_wire__op_repacked_bytes_equal_original_and_hash_input(void **state)
{
	struct veld__push_req in = fx_push(), out;
	struct veld__wire w;
	msgpack_sbuffer body;
	(void)state;
	msgpack_sbuffer_init(&body);
	ok(veld__wire_push_req_encode(&body, &in));
	ok(veld__wire_push_req_decode(&w, (const uint8_t *)body.data, body.size, &out));
	for (size_t i = 0; i < out.nops; i++) {
		msgpack_sbuffer orig, again;
		msgpack_packer p;
		uint8_t h[32];
		msgpack_sbuffer_init(&orig);
		msgpack_packer_init(&p, &orig, msgpack_sbuffer_write);
		ok(veld__op_pack(&p, &in.ops[i]));
		msgpack_sbuffer_init(&again);
		msgpack_packer_init(&p, &again, msgpack_sbuffer_write);
		veld__wire_pack_op(&p, &out.ops[i]);
		/* the same bytes as core's encoding, and as those on the wire */
		assert_int_equal(orig.size, again.size);
		assert_memory_equal(orig.data, again.data, orig.size);
		assert_true(contains(body.data, body.size, again.data, again.size));
		/* and they are the hash input */
		crypto_generichash(h, 32, (const uint8_t *)again.data, again.size, NULL, 0);
		assert_memory_equal(h, in.ops[i].hash, 32);
		assert_memory_equal(h, out.ops[i].hash, 32);
		msgpack_sbuffer_destroy(&orig);
		msgpack_sbuffer_destroy(&again);
	}
	veld__wire_free(&w);
	msgpack_sbuffer_destroy(&body);
}

/* Write the fixture op 0 with seq as a non-shortest uint16, as a sloppy
 * peer might. */
static void raw_op_long_seq(const veld__op *op)
{
	msgpack_pack_array(&pk, 12);
	msgpack_pack_uint64(&pk, 1);
	msgpack_pack_bin_with_body(&pk, op->device, 16);
	msgpack_pack_fix_uint16(&pk, (uint16_t)op->seq);
	msgpack_pack_uint64(&pk, op->hlc);
	raw_str(op->kind);
	msgpack_pack_bin_with_body(&pk, op->entity, 16);
	msgpack_pack_bin_with_body(&pk, op->client, 16);
	raw_str(op->team);
	msgpack_pack_uint64(&pk, op->kv);
	raw_str(op->field);
	msgpack_pack_bin_with_body(&pk, op->value, op->value_len);
	msgpack_pack_array(&pk, 0);
}

static void test_wire__op_hash_is_over_canonical_bytes_not_received_ones(void **state)
{
	struct veld__push_req out;
	struct veld__wire w;
	(void)state;
	make_ops();
	raw_begin(4);
	raw_v();
	raw_str("ops");
	msgpack_pack_array(&pk, 1);
	raw_op_long_seq(&fx_ops[0]);
	raw_str("sig");
	raw_bin(64, 1);
	raw_str("envelopes");
	msgpack_pack_array(&pk, 0);
	ok(veld__wire_push_req_decode(&w, (const uint8_t *)sb.data, sb.size, &out));
	assert_op_equal(&fx_ops[0], &out.ops[0]); /* includes the hash */
	veld__wire_free(&w);
	raw_end();
}

/* ---- strict refusals ------------------------------------------------------ */

static void test_wire__refuses_trailing_byte(void **state)
{
	(void)state;
	for (int t = 0; t < M_COUNT; t++) {
		msgpack_sbuffer buf;
		msgpack_sbuffer_init(&buf);
		encode_valid((enum msg)t, &buf);
		assert_int_equal(decode_any((enum msg)t, (const uint8_t *)buf.data, buf.size), VELD_OK);
		msgpack_sbuffer_write(&buf, "\xc0", 1);
		assert_refused((enum msg)t, (const uint8_t *)buf.data, buf.size, "trailing");
		msgpack_sbuffer_destroy(&buf);
	}
}

static void test_wire__refuses_unknown_key(void **state)
{
	(void)state;
	raw_begin(4);
	raw_v();
	raw_str("acked");
	msgpack_pack_uint64(&pk, 1);
	raw_str("stored");
	msgpack_pack_uint64(&pk, 1);
	raw_str("extra");
	msgpack_pack_uint64(&pk, 1);
	assert_refused_sb(M_PUSH_RESP, "unknown key");

	/* and in a nested map: an envelope */
	raw_begin(4);
	raw_v();
	raw_str("ops");
	msgpack_pack_array(&pk, 0);
	raw_str("sig");
	msgpack_pack_nil(&pk);
	raw_str("envelopes");
	msgpack_pack_array(&pk, 1);
	msgpack_pack_map(&pk, 6);
	raw_str("client"), raw_bin(16, 1);
	raw_str("kv"), msgpack_pack_uint64(&pk, 1);
	raw_str("to"), raw_str("office");
	raw_str("tv"), msgpack_pack_uint64(&pk, 0);
	raw_str("sealed"), raw_bin(80, 2);
	raw_str("note"), raw_str("hi");
	assert_refused_sb(M_PUSH, "push envelope: unknown key");
}

static void test_wire__refuses_repeated_key(void **state)
{
	(void)state;
	raw_begin(3);
	raw_v();
	raw_str("acked");
	msgpack_pack_uint64(&pk, 1);
	raw_str("acked");
	msgpack_pack_uint64(&pk, 2);
	assert_refused_sb(M_PUSH_RESP, "'acked' appears twice");
}

static void test_wire__refuses_missing_key(void **state)
{
	(void)state;
	raw_begin(2);
	raw_v();
	raw_str("acked");
	msgpack_pack_uint64(&pk, 1);
	assert_refused_sb(M_PUSH_RESP, "missing 'stored'");

	/* error "gap" needs "expected"; others must not have it */
	raw_begin(3);
	raw_v();
	raw_str("error"), raw_str("gap");
	raw_str("message"), raw_str("m");
	assert_refused_sb(M_ERROR, "missing 'expected'");
	raw_begin(4);
	raw_v();
	raw_str("error"), raw_str("busy");
	raw_str("message"), raw_str("m");
	raw_str("expected"), msgpack_pack_uint64(&pk, 3);
	assert_refused_sb(M_ERROR, "'expected'");
}

static void test_wire__refuses_wrong_v(void **state)
{
	(void)state;
	raw_begin(1);
	raw_str("v"), msgpack_pack_uint64(&pk, 2);
	assert_refused_sb(M_OK, "'v' must be 1");
	raw_begin(1);
	raw_str("v"), raw_str("1");
	assert_refused_sb(M_OK, "'v'");
	raw_begin(1);
	raw_str("v"), msgpack_pack_int64(&pk, -1);
	assert_refused_sb(M_OK, "'v'");
	raw_begin(0);
	assert_refused_sb(M_OK, "first key must be 'v'");
	/* "v" present but not first */
	raw_begin(3);
	raw_str("acked"), msgpack_pack_uint64(&pk, 1);
	raw_v();
	raw_str("stored"), msgpack_pack_uint64(&pk, 1);
	assert_refused_sb(M_PUSH_RESP, "first key must be 'v'");
	/* not a map at all */
	raw_begin(UINT32_MAX);
	msgpack_pack_array(&pk, 1);
	msgpack_pack_uint64(&pk, 1);
	assert_refused_sb(M_OK, "must be a map");
}

static void test_wire__refuses_wrong_bin_size(void **state)
{
	static const size_t sizes[] = {0, 31, 33};
	(void)state;
	for (int i = 0; i < 3; i++) {
		raw_begin(6);
		raw_v();
		raw_str("auth"), raw_bin(sizes[i], 1);
		raw_str("device"), raw_bin(16, 2);
		raw_str("sign_pk"), raw_bin(32, 3);
		raw_str("box_pk"), raw_bin(32, 4);
		raw_str("label"), raw_str("x");
		assert_refused_sb(M_ENROLL, "'auth' must be a bin of 32 bytes");
	}
	/* a str of the right length is not a bin */
	raw_begin(2);
	raw_v();
	raw_str("device"), raw_str("0123456789abcdef");
	assert_refused_sb(M_REVOKE, "'device' must be a bin of 16 bytes");
	/* bin80 of a sealed key, bin72 of a sealed team key */
	raw_begin(6);
	raw_v();
	raw_str("auth"), raw_bin(32, 1);
	raw_str("team"), raw_str("north");
	raw_str("expires"), msgpack_pack_uint64(&pk, 1);
	raw_str("tv"), msgpack_pack_uint64(&pk, 1);
	raw_str("team_sealed"), raw_bin(80, 1);
	assert_refused_sb(M_INVITE, "'team_sealed' must be a bin of 72 bytes");
}

/* A push of n copies of fixture op 0 (by its canonical bytes). */
static void raw_push_of(size_t n, const veld__op *op)
{
	raw_begin(4);
	raw_v();
	raw_str("ops");
	msgpack_pack_array(&pk, (uint32_t)n);
	for (size_t i = 0; i < n; i++)
		veld__wire_pack_op(&pk, op);
	raw_str("sig");
	raw_bin(64, 1);
	raw_str("envelopes");
	msgpack_pack_array(&pk, 0);
}

static void test_wire__refuses_1001_ops(void **state)
{
	struct veld__push_req m;
	msgpack_sbuffer buf;
	(void)state;
	make_ops();
	raw_push_of(1000, &fx_ops[1]);
	assert_int_equal(decode_any(M_PUSH, (const uint8_t *)sb.data, sb.size), VELD_OK);
	raw_end();
	raw_push_of(1001, &fx_ops[1]);
	assert_refused_sb(M_PUSH, "push: 'ops' has more than 1000 entries");

	/* the encoder refuses it too, and leaves the buffer as it was */
	m = fx_push();
	m.ops = calloc(1001, sizeof *m.ops);
	for (size_t i = 0; i < 1001; i++)
		m.ops[i] = fx_ops[0];
	m.nops = 1001;
	msgpack_sbuffer_init(&buf);
	msgpack_sbuffer_write(&buf, "ab", 2);
	assert_int_equal(veld__wire_push_req_encode(&buf, &m), VELD_EINVAL);
	assert_int_equal(buf.size, 2);
	free(m.ops);
	msgpack_sbuffer_destroy(&buf);
}

static void test_wire__refuses_negative_integer(void **state)
{
	veld__op op;
	(void)state;
	raw_begin(3);
	raw_v();
	raw_str("acked"), msgpack_pack_int64(&pk, -1);
	raw_str("stored"), msgpack_pack_uint64(&pk, 0);
	assert_refused_sb(M_PUSH_RESP, "'acked' is negative");
	/* and a float is not an integer */
	raw_begin(3);
	raw_v();
	raw_str("acked"), msgpack_pack_double(&pk, 1.0);
	raw_str("stored"), msgpack_pack_uint64(&pk, 0);
	assert_refused_sb(M_PUSH_RESP, "'acked' must be an unsigned integer");
	/* seq and kv start at 1 */
	make_ops();
	op = fx_ops[0];
	op.seq = 0;
	raw_push_of(1, &op);
	assert_refused_sb(M_PUSH, "'seq' must be at least 1");
	op = fx_ops[0];
	op.kv = 0;
	raw_push_of(1, &op);
	assert_refused_sb(M_PUSH, "'kv' must be at least 1");
}

static void raw_enroll_with_label(const char *label, size_t n)
{
	raw_begin(6);
	raw_v();
	raw_str("auth"), raw_bin(32, 1);
	raw_str("device"), raw_bin(16, 2);
	raw_str("sign_pk"), raw_bin(32, 3);
	raw_str("box_pk"), raw_bin(32, 4);
	raw_str("label");
	msgpack_pack_str_with_body(&pk, label, n);
}

static void test_wire__refuses_string_over_limit(void **state)
{
	char label[66];
	veld__op op;
	(void)state;
	memset(label, 'a', sizeof label);
	raw_enroll_with_label(label, 64);
	assert_int_equal(decode_any(M_ENROLL, (const uint8_t *)sb.data, sb.size), VELD_OK);
	raw_end();
	raw_enroll_with_label(label, 65);
	assert_refused_sb(M_ENROLL, "'label' is longer than 64 bytes");
	/* a NUL byte, and invalid UTF-8 */
	raw_enroll_with_label("ab\0cd", 5);
	assert_refused_sb(M_ENROLL, "'label' holds a NUL byte");
	raw_enroll_with_label("ab\xc0\xafz", 5); /* an overlong '/' */
	assert_refused_sb(M_ENROLL, "'label' is not valid UTF-8");
	raw_enroll_with_label("\xed\xa0\x80", 3); /* a surrogate */
	assert_refused_sb(M_ENROLL, "'label' is not valid UTF-8");
	/* an operation's kind: one of five */
	make_ops();
	op = fx_ops[0];
	strcpy(op.kind, "invoice");
	raw_push_of(1, &op);
	assert_refused_sb(M_PUSH, "'kind' must be client, visit, note, goal or signal");
}

static void raw_invite_with_team(const char *team)
{
	raw_begin(6);
	raw_v();
	raw_str("auth"), raw_bin(32, 1);
	raw_str("team"), raw_str(team);
	raw_str("expires"), msgpack_pack_uint64(&pk, 1);
	raw_str("tv"), msgpack_pack_uint64(&pk, 1);
	raw_str("team_sealed"), raw_bin(72, 1);
}

static void test_wire__refuses_bad_team_characters(void **state)
{
	static const char *const bad_teams[] = {"a b", "north/east", "t\xc3\xa9" "am", "", "*",
	                                        "team:x", "a,b"};
	char long_team[66];
	(void)state;
	raw_invite_with_team("Team.A_b@c-9");
	assert_int_equal(decode_any(M_INVITE, (const uint8_t *)sb.data, sb.size), VELD_OK);
	raw_end();
	for (size_t i = 0; i < sizeof bad_teams / sizeof *bad_teams; i++) {
		raw_invite_with_team(bad_teams[i]);
		assert_refused_sb(M_INVITE, "'team'");
	}
	memset(long_team, 'a', 65);
	long_team[65] = '\0';
	raw_invite_with_team(long_team);
	assert_refused_sb(M_INVITE, "'team'");
}

static void raw_push_with_to(const char *to)
{
	raw_begin(4);
	raw_v();
	raw_str("ops"), msgpack_pack_array(&pk, 0);
	raw_str("sig"), msgpack_pack_nil(&pk);
	raw_str("envelopes"), msgpack_pack_array(&pk, 1);
	msgpack_pack_map(&pk, 5);
	raw_str("client"), raw_bin(16, 1);
	raw_str("kv"), msgpack_pack_uint64(&pk, 1);
	raw_str("to"), raw_str(to);
	raw_str("tv"), msgpack_pack_uint64(&pk, 0);
	raw_str("sealed"), raw_bin(80, 2);
}

static void test_wire__refuses_bad_to(void **state)
{
	static const char *const bad[] = {"Office", "offices", "team:", "team:a b", "teams:north",
	                                  "team", "team:*", ""};
	(void)state;
	raw_push_with_to("team:north");
	assert_int_equal(decode_any(M_PUSH, (const uint8_t *)sb.data, sb.size), VELD_OK);
	raw_end();
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		raw_push_with_to(bad[i]);
		assert_refused_sb(M_PUSH, "'to' must be office or team:<team>");
	}
}

/* A pull with one batch of the given shape and nothing else. */
static void raw_pull_with_batch(uint64_t first, uint64_t last, size_t hashes_len)
{
	raw_begin(11);
	raw_v();
	raw_str("ops"), msgpack_pack_array(&pk, 0);
	raw_str("batches"), msgpack_pack_array(&pk, 1);
	msgpack_pack_map(&pk, 5);
	raw_str("device"), raw_bin(16, 1);
	raw_str("first"), msgpack_pack_uint64(&pk, first);
	raw_str("last"), msgpack_pack_uint64(&pk, last);
	raw_str("sig"), raw_bin(64, 2);
	raw_str("hashes"), raw_bin(hashes_len, 3);
	raw_str("authors"), msgpack_pack_array(&pk, 0);
	raw_str("envelopes"), msgpack_pack_array(&pk, 0);
	raw_str("team_keys"), msgpack_pack_array(&pk, 0);
	raw_str("erased"), msgpack_pack_array(&pk, 0);
	raw_str("next"), msgpack_pack_uint64(&pk, 0);
	raw_str("env_next"), msgpack_pack_uint64(&pk, 0);
	raw_str("erase_next"), msgpack_pack_uint64(&pk, 0);
	raw_str("more"), msgpack_pack_false(&pk);
}

static void test_wire__refuses_hashes_length_mismatch(void **state)
{
	(void)state;
	raw_pull_with_batch(5, 7, 96);
	assert_int_equal(decode_any(M_PULL, (const uint8_t *)sb.data, sb.size), VELD_OK);
	raw_end();
	raw_pull_with_batch(5, 7, 64);
	assert_refused_sb(M_PULL, "'hashes' must be a bin of 32 x (last - first + 1) bytes");
	raw_pull_with_batch(5, 7, 97);
	assert_refused_sb(M_PULL, "'hashes'");
	raw_pull_with_batch(7, 5, 96);
	assert_refused_sb(M_PULL, "'last' is below 'first'");
	/* a span whose byte count would overflow */
	raw_pull_with_batch(0, UINT64_MAX, 32);
	assert_refused_sb(M_PULL, "pull batch");
}

static void test_wire__refuses_truncated_push_at_every_length(void **state)
{
	msgpack_sbuffer buf;
	(void)state;
	msgpack_sbuffer_init(&buf);
	encode_valid(M_PUSH, &buf);
	for (size_t n = 0; n < buf.size; n++) {
		/* a copy of exactly n bytes, so ASan sees any read past the end */
		uint8_t *b = malloc(n ? n : 1);
		memcpy(b, buf.data, n);
		assert_refused(M_PUSH, b, n, "push");
		free(b);
	}
	assert_int_equal(decode_any(M_PUSH, (const uint8_t *)buf.data, buf.size), VELD_OK);
	msgpack_sbuffer_destroy(&buf);
}

static void test_wire__refuses_body_over_4_mib(void **state)
{
	size_t n = VELD_WIRE_MAX_BODY + 1;
	uint8_t *b = calloc(1, n);
	msgpack_sbuffer buf;
	(void)state;
	msgpack_sbuffer_init(&buf);
	encode_valid(M_OK, &buf);
	memcpy(b, buf.data, buf.size);
	assert_refused(M_OK, b, n, "larger than 4 MiB");
	assert_refused(M_PUSH, b, n, "larger than 4 MiB");
	msgpack_sbuffer_destroy(&buf);
	free(b);
}

static void test_wire__accepts_largest_values_up_to_the_body_limit(void **state)
{
	/* The largest sealed value is 64 KiB of plaintext padded to 65,600 bytes
	 * plus nonce and tag: 65,640. 63 of them fit in 4 MiB; one byte more is
	 * refused. */
	uint8_t *val = calloc(1, 65641);
	veld__op op;
	(void)state;
	make_ops();
	op = fx_ops[0];
	op.value = val;
	op.value_len = 65640;
	raw_push_of(63, &op);
	assert_true(sb.size <= VELD_WIRE_MAX_BODY);
	assert_int_equal(decode_any(M_PUSH, (const uint8_t *)sb.data, sb.size), VELD_OK);
	raw_end();
	op.value_len = 65641;
	raw_push_of(1, &op);
	assert_refused_sb(M_PUSH, "'value' is larger than 65640 bytes");
	free(val);
}

static void test_wire__refuses_more_than_64_supersedes(void **state)
{
	veld__ref sup[65];
	veld__op op;
	(void)state;
	memset(sup, 0, sizeof sup);
	make_ops();
	op = fx_ops[0];
	op.sup = sup;
	op.nsup = 64;
	raw_push_of(1, &op);
	assert_int_equal(decode_any(M_PUSH, (const uint8_t *)sb.data, sb.size), VELD_OK);
	raw_end();
	op.nsup = 65;
	raw_push_of(1, &op);
	assert_refused_sb(M_PUSH, "'supersedes' has more than 64 entries");
}

static void test_wire__refuses_sig_that_does_not_match_ops(void **state)
{
	(void)state;
	make_ops();
	raw_begin(4);
	raw_v();
	raw_str("ops"), msgpack_pack_array(&pk, 1);
	veld__wire_pack_op(&pk, &fx_ops[0]);
	raw_str("sig"), msgpack_pack_nil(&pk);
	raw_str("envelopes"), msgpack_pack_array(&pk, 0);
	assert_refused_sb(M_PUSH, "'sig'");
	raw_begin(4);
	raw_v();
	raw_str("ops"), msgpack_pack_array(&pk, 1);
	veld__wire_pack_op(&pk, &fx_ops[0]);
	raw_str("sig"), raw_bin(63, 1);
	raw_str("envelopes"), msgpack_pack_array(&pk, 0);
	assert_refused_sb(M_PUSH, "'sig' must be nil or a bin of 64 bytes");
}

static void test_wire__refuses_nesting_deeper_than_the_shape(void **state)
{
	(void)state;
	/* a value nested where a uint belongs */
	raw_begin(3);
	raw_v();
	raw_str("acked"), msgpack_pack_array(&pk, 1), msgpack_pack_uint64(&pk, 1);
	raw_str("stored"), msgpack_pack_uint64(&pk, 0);
	assert_refused_sb(M_PUSH_RESP, "nesting is deeper than 1");
	/* 100 levels of arrays inside a push */
	raw_begin(4);
	raw_v();
	raw_str("ops");
	for (int i = 0; i < 100; i++)
		msgpack_pack_array(&pk, 1);
	msgpack_pack_nil(&pk);
	raw_str("sig"), msgpack_pack_nil(&pk);
	raw_str("envelopes"), msgpack_pack_array(&pk, 0);
	assert_refused_sb(M_PUSH, "nesting is deeper than 5");
}

static void test_wire__refuses_huge_headers_without_allocating(void **state)
{
	/* array32 / map32 / bin32 announcing 4 billion entries in a tiny body */
	static const uint8_t a[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t m[] = {0xdf, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t b[] = {0x81, 0xa1, 'v', 0xc6, 0xff, 0xff, 0xff, 0xff, 0};
	static const uint8_t inner[] = {0x82, 0xa1, 'v', 0x01, 0xa3, 'o', 'p', 's',
	                                0xdd, 0x7f, 0xff, 0xff, 0xff};
	(void)state;
	for (int t = 0; t < M_COUNT; t++) {
		assert_refused((enum msg)t, a, sizeof a, NULL);
		assert_refused((enum msg)t, m, sizeof m, NULL);
		assert_refused((enum msg)t, b, sizeof b, NULL);
		assert_refused((enum msg)t, inner, sizeof inner, NULL);
	}
}

static void test_wire__refuses_mixed_nils_in_enroll_response(void **state)
{
	(void)state;
	raw_begin(9);
	raw_v();
	raw_str("role"), raw_str("worker");
	raw_str("team"), raw_str("north");
	raw_str("tv"), msgpack_pack_uint64(&pk, 1);
	raw_str("team_pk"), raw_bin(32, 1);
	raw_str("team_sealed"), msgpack_pack_nil(&pk);
	raw_str("office_device"), raw_bin(16, 1);
	raw_str("office_sign_pk"), raw_bin(32, 1);
	raw_str("office_box_pk"), raw_bin(32, 1);
	assert_refused_sb(M_ENROLL_RESP, "'team_sealed'");
	raw_begin(9);
	raw_v();
	raw_str("role"), raw_str("admin");
	raw_str("team"), raw_str("north");
	raw_str("tv"), msgpack_pack_uint64(&pk, 1);
	raw_str("team_pk"), msgpack_pack_nil(&pk);
	raw_str("team_sealed"), msgpack_pack_nil(&pk);
	raw_str("office_device"), msgpack_pack_nil(&pk);
	raw_str("office_sign_pk"), msgpack_pack_nil(&pk);
	raw_str("office_box_pk"), msgpack_pack_nil(&pk);
	assert_refused_sb(M_ENROLL_RESP, "'role' must be worker or office");
}

static void test_wire__messages_never_hold_a_value(void **state)
{
	static const char canary[] = "CANARYXYZ";
	char big[80];
	(void)state;
	/* over-long label, unknown key, bad team, bad kind, all carrying the canary */
	memset(big, 'q', sizeof big);
	memcpy(big, canary, strlen(canary));
	raw_enroll_with_label(big, sizeof big);
	assert_refused_sb(M_ENROLL, NULL);
	assert_null(strstr(veld_error_last(), canary));
	raw_begin(4);
	raw_v();
	raw_str("acked"), msgpack_pack_uint64(&pk, 1);
	raw_str("stored"), msgpack_pack_uint64(&pk, 1);
	raw_str(canary), msgpack_pack_uint64(&pk, 1);
	assert_refused_sb(M_PUSH_RESP, NULL);
	assert_null(strstr(veld_error_last(), canary));
	raw_invite_with_team("CANARYXYZ team");
	assert_refused_sb(M_INVITE, NULL);
	assert_null(strstr(veld_error_last(), canary));
}

static void test_wire__free_is_safe_on_a_zeroed_struct(void **state)
{
	struct veld__wire w;
	(void)state;
	memset(&w, 0, sizeof w);
	veld__wire_free(&w);
	veld__wire_free(&w);
	veld__wire_free(NULL);
}

/* ---- mutation fuzzing ----------------------------------------------------- */

static uint64_t rng = 0x5eed5eed12345678ull;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

/* ---- access log ---------------------------------------------------------------- */

static void assert_entry_equal(const struct veld__audit_entry *a, const struct veld__audit_entry *b,
                               int pull)
{
	assert_true(a->seq == b->seq);
	assert_int_equal(a->sealed_len, b->sealed_len);
	assert_memory_equal(a->sealed, b->sealed, a->sealed_len);
	assert_memory_equal(a->sig, b->sig, 64);
	if (pull) {
		assert_true(a->cursor == b->cursor);
		assert_memory_equal(a->device, b->device, VELD_ID_BYTES);
	}
}

static void test_wire__policy_round_trip(void **state)
{
	struct veld__field_policy in, out;
	struct veld__pull_resp pin, pout;
	struct veld__wire w;
	msgpack_sbuffer buf;
	(void)state;
	memset(&in, 0, sizeof in);
	snprintf(in.team, sizeof in.team, "team-a.b@c");
	in.at = 1763800000123ull;
	in.mask = 0x6c; /* address, phone, care_decision, housing */
	fill(in.sig, 64, 79);
	msgpack_sbuffer_init(&buf);
	ok(veld__wire_policy_req_encode(&buf, &in));
	ok(veld__wire_policy_req_decode(&w, (const uint8_t *)buf.data, buf.size, &out));
	assert_string_equal(out.team, in.team);
	assert_true(out.at == in.at);
	assert_int_equal(out.mask, in.mask);
	assert_memory_equal(out.sig, in.sig, 64);
	veld__wire_free(&w);
	msgpack_sbuffer_destroy(&buf);
	/* In a pull: present when set, absent (not nil) otherwise. */
	pin = fx_pull();
	pin.has_policy = 1;
	pin.policy = in;
	msgpack_sbuffer_init(&buf);
	ok(veld__wire_pull_resp_encode(&buf, &pin));
	ok(veld__wire_pull_resp_decode(&w, (const uint8_t *)buf.data, buf.size, &pout));
	assert_true(pout.has_policy);
	assert_string_equal(pout.policy.team, in.team);
	assert_int_equal(pout.policy.mask, in.mask);
	assert_memory_equal(pout.policy.sig, in.sig, 64);
	veld__wire_free(&w);
	msgpack_sbuffer_destroy(&buf);
	pin.has_policy = 0;
	msgpack_sbuffer_init(&buf);
	ok(veld__wire_pull_resp_encode(&buf, &pin));
	ok(veld__wire_pull_resp_decode(&w, (const uint8_t *)buf.data, buf.size, &pout));
	assert_false(pout.has_policy);
	veld__wire_free(&w);
	msgpack_sbuffer_destroy(&buf);
	/* An ungoverned field, one twice, out of order, a non-string. */
	static const char *const bad[][2] = {{"name", NULL}, {"phone", "phone"},
	                                     {"phone", "address"}};
	for (size_t i = 0; i < 4; i++) {
		raw_begin(5);
		raw_v();
		raw_str("team"), raw_str("north");
		raw_str("at"), msgpack_pack_uint64(&pk, 1);
		raw_str("fields");
		if (i == 3) {
			msgpack_pack_array(&pk, 1);
			msgpack_pack_uint64(&pk, 2);
		} else {
			msgpack_pack_array(&pk, bad[i][1] ? 2 : 1);
			raw_str(bad[i][0]);
			if (bad[i][1])
				raw_str(bad[i][1]);
		}
		raw_str("sig"), raw_bin(64, 2);
		assert_refused_sb(M_POLICY, i == 0 ? "does not govern" : i == 3 ? "must hold strings"
		                  : "canonical order");
	}
	/* A policy needs a time. */
	raw_begin(5);
	raw_v();
	raw_str("team"), raw_str("north");
	raw_str("at"), msgpack_pack_uint64(&pk, 0);
	raw_str("fields"), msgpack_pack_array(&pk, 0);
	raw_str("sig"), raw_bin(64, 2);
	assert_refused_sb(M_POLICY, "'at'");
}

static void test_wire__erase_round_trip(void **state)
{
	struct veld__erase_req in, out;
	struct veld__wire w;
	msgpack_sbuffer buf;
	(void)state;
	fill(in.client, VELD_ID_BYTES, 77);
	in.at = 1763800000123ull;
	fill(in.sig, 64, 78);
	msgpack_sbuffer_init(&buf);
	ok(veld__wire_erase_req_encode(&buf, &in));
	ok(veld__wire_erase_req_decode(&w, (const uint8_t *)buf.data, buf.size, &out));
	assert_memory_equal(in.client, out.client, VELD_ID_BYTES);
	assert_true(out.at == in.at);
	assert_memory_equal(in.sig, out.sig, 64);
	veld__wire_free(&w);
	msgpack_sbuffer_destroy(&buf);
	raw_begin(4);
	raw_v();
	raw_str("client"), raw_bin(15, 1);
	raw_str("at"), msgpack_pack_uint64(&pk, 1);
	raw_str("sig"), raw_bin(64, 2);
	assert_refused_sb(M_ERASE, "'client' must be a bin of 16 bytes");
	raw_begin(2);
	raw_v();
	raw_str("client"), raw_bin(16, 1);
	assert_refused_sb(M_ERASE, "missing 'at'");
}

static void test_wire__audit_push_round_trip(void **state)
{
	struct veld__audit_push_req in, out;
	struct veld__wire w;
	msgpack_sbuffer buf;
	(void)state;
	fx_audit_init();
	in.entries = fx_audit;
	in.n = 3;
	msgpack_sbuffer_init(&buf);
	ok(veld__wire_audit_push_req_encode(&buf, &in));
	ok(veld__wire_audit_push_req_decode(&w, (const uint8_t *)buf.data, buf.size, &out));
	assert_int_equal(out.n, 3);
	for (size_t i = 0; i < 3; i++)
		assert_entry_equal(&in.entries[i], &out.entries[i], 0);
	veld__wire_free(&w);
	msgpack_sbuffer_destroy(&buf);

	/* An empty push (it asks for `acked`) is a message too. */
	in.n = 0;
	msgpack_sbuffer_init(&buf);
	ok(veld__wire_audit_push_req_encode(&buf, &in));
	ok(veld__wire_audit_push_req_decode(&w, (const uint8_t *)buf.data, buf.size, &out));
	assert_int_equal(out.n, 0);
	veld__wire_free(&w);
	msgpack_sbuffer_destroy(&buf);
}

static void test_wire__audit_pull_round_trip(void **state)
{
	struct veld__audit_pull_resp in = fx_audit_pull(), out;
	struct veld__wire w;
	msgpack_sbuffer buf;
	(void)state;
	msgpack_sbuffer_init(&buf);
	ok(veld__wire_audit_pull_resp_encode(&buf, &in));
	ok(veld__wire_audit_pull_resp_decode(&w, (const uint8_t *)buf.data, buf.size, &out));
	assert_int_equal(out.n, 3);
	for (size_t i = 0; i < 3; i++)
		assert_entry_equal(&in.entries[i], &out.entries[i], 1);
	assert_int_equal(out.nauthors, 2);
	assert_memory_equal(out.authors[1].device, in.authors[1].device, VELD_ID_BYTES);
	assert_memory_equal(out.authors[1].sign_pk, in.authors[1].sign_pk, 32);
	assert_true(out.next == 102);
	assert_int_equal(out.more, 1);
	veld__wire_free(&w);
	msgpack_sbuffer_destroy(&buf);
}

/* {"v":1,"entries":[[seq, sealed(len), sig]...]} by hand. */
static void raw_audit_push(const uint64_t *seqs, const size_t *lens, size_t n)
{
	raw_begin(2);
	raw_v();
	raw_str("entries");
	msgpack_pack_array(&pk, n);
	for (size_t i = 0; i < n; i++) {
		msgpack_pack_array(&pk, 3);
		msgpack_pack_uint64(&pk, seqs[i]);
		raw_bin(lens[i], 9);
		raw_bin(64, 8);
	}
}

static void test_wire__audit_push_refuses_what_the_protocol_refuses(void **state)
{
	const uint64_t gap[2] = {1, 3}, zero[1] = {0}, ok_seq[2] = {4, 5};
	const size_t two[2] = {10, 10}, one[1] = {10}, big[2] = {10, VELD_AUDIT_SEALED_MAX + 1},
	             empty[2] = {10, 0};
	struct veld__audit_push_req m;
	msgpack_sbuffer buf;
	(void)state;
	raw_audit_push(ok_seq, two, 2);
	assert_int_equal(decode_any(M_AUDIT_PUSH, (const uint8_t *)sb.data, sb.size), VELD_OK);
	raw_end();
	raw_audit_push(gap, two, 2);
	assert_refused_sb(M_AUDIT_PUSH, "consecutive");
	raw_audit_push(zero, one, 1);
	assert_refused_sb(M_AUDIT_PUSH, "seq");
	raw_audit_push(ok_seq, big, 2);
	assert_refused_sb(M_AUDIT_PUSH, "sealed");
	raw_audit_push(ok_seq, empty, 2);
	assert_refused_sb(M_AUDIT_PUSH, "sealed");

	/* The encoder keeps the same rules. */
	fx_audit_init();
	fx_audit[1].seq = 9; /* 7, 9, 9 */
	m.entries = fx_audit;
	m.n = 3;
	msgpack_sbuffer_init(&buf);
	assert_int_equal(veld__wire_audit_push_req_encode(&buf, &m), VELD_EINVAL);
	assert_int_equal(buf.size, 0);
	msgpack_sbuffer_destroy(&buf);
}

/* The sealed plaintext: the array of 9 that audit.c packs and hashes. */
static size_t pack_plain(uint8_t *out, size_t cap, uint64_t seq, const char *client,
                         const char *device, const char *purpose)
{
	msgpack_sbuffer b;
	msgpack_packer p;
	size_t n;
	msgpack_sbuffer_init(&b);
	msgpack_packer_init(&p, &b, msgpack_sbuffer_write);
	veld__audit_pack(&p, seq, 1763800000123ull, "read", "success", client, "anna", "worker",
	                 device, purpose);
	n = b.size;
	assert_true(n <= cap);
	memcpy(out, b.data, n);
	msgpack_sbuffer_destroy(&b);
	return n;
}

static void test_wire__audit_plain_decodes_what_audit_packs(void **state)
{
	static const char dev[] = "00112233445566778899aabbccddeeff";
	static const char cl[] = "ffeeddccbbaa99887766554433221100";
	struct veld__audit_plain pl;
	char longp[1002];
	uint8_t buf[2048];
	size_t n;
	(void)state;
	n = pack_plain(buf, sizeof buf, 42, cl, dev, "break-glass: crisis call");
	ok(veld__wire_audit_plain_decode(buf, n, &pl));
	assert_true(pl.seq == 42 && pl.at == 1763800000123ull);
	assert_string_equal(pl.event, "read");
	assert_string_equal(pl.outcome, "success");
	assert_string_equal(pl.client, cl);
	assert_string_equal(pl.user, "anna");
	assert_string_equal(pl.role, "worker");
	assert_string_equal(pl.device, dev);
	assert_string_equal(pl.purpose, "break-glass: crisis call");

	n = pack_plain(buf, sizeof buf, 1, NULL, dev, "care"); /* no client: nil */
	ok(veld__wire_audit_plain_decode(buf, n, &pl));
	assert_string_equal(pl.client, "");

	n = pack_plain(buf, sizeof buf, 1, cl, "00112233445566778899AABBCCDDEEFF", "care");
	assert_int_equal(veld__wire_audit_plain_decode(buf, n, &pl), VELD_EPROTO);
	assert_non_null(strstr(veld_error_last(), "device"));
	n = pack_plain(buf, sizeof buf, 1, "ffee", dev, "care");
	assert_int_equal(veld__wire_audit_plain_decode(buf, n, &pl), VELD_EPROTO);
	memset(longp, 'x', 1001);
	longp[1001] = 0;
	n = pack_plain(buf, sizeof buf, 1, cl, dev, longp);
	assert_int_equal(veld__wire_audit_plain_decode(buf, n, &pl), VELD_EPROTO);
	assert_non_null(strstr(veld_error_last(), "purpose"));
	n = pack_plain(buf, sizeof buf, 0, cl, dev, "care");
	assert_int_equal(veld__wire_audit_plain_decode(buf, n, &pl), VELD_EPROTO);
	/* A trailing byte, or a cut, is refused too. */
	n = pack_plain(buf, sizeof buf, 5, cl, dev, "care");
	buf[n] = 0xc0;
	assert_int_equal(veld__wire_audit_plain_decode(buf, n + 1, &pl), VELD_EPROTO);
	for (size_t cut = 0; cut < n; cut++)
		assert_int_equal(veld__wire_audit_plain_decode(buf, cut, &pl), VELD_EPROTO);
}

static void test_wire__mutated_bodies_decode_or_are_refused(void **state)
{
	msgpack_sbuffer valid[M_COUNT];
	uint8_t *b;
	size_t cap = 0;
	int accepted = 0;
	(void)state;
	for (int t = 0; t < M_COUNT; t++) {
		msgpack_sbuffer_init(&valid[t]);
		encode_valid((enum msg)t, &valid[t]);
		if (valid[t].size > cap)
			cap = valid[t].size;
	}
	b = malloc(cap);
	for (int it = 0; it < 20000; it++) {
		enum msg t = (enum msg)(it % M_COUNT);
		size_t n = valid[t].size;
		int flips = 1 + (int)(rnd() % 4), rc;
		memcpy(b, valid[t].data, n);
		for (int f = 0; f < flips; f++) {
			size_t at = rnd() % n;
			switch (rnd() % 3) {
			case 0: b[at] ^= (uint8_t)(1u << (rnd() % 8)); break; /* a bit */
			case 1: b[at] = (uint8_t)rnd(); break;                /* a byte */
			default: b[at] = (uint8_t)(0xc4 + rnd() % 28); break; /* a type byte */
			}
		}
		if (rnd() % 8 == 0)
			n = rnd() % n; /* and sometimes cut short */
		rc = decode_any(t, b, n);
		if (rc != VELD_OK && rc != VELD_EPROTO)
			fail_msg("iteration %d: decode returned %d", it, rc);
		accepted += rc == VELD_OK;
		/* every other decoder sees the same bytes */
		rc = decode_any((enum msg)((t + 1 + rnd() % (M_COUNT - 1)) % M_COUNT), b, n);
		if (rc != VELD_OK && rc != VELD_EPROTO)
			fail_msg("iteration %d: decode returned %d", it, rc);
	}
	/* some mutations (inside bins) leave a valid message */
	assert_true(accepted > 0);
	free(b);
	for (int t = 0; t < M_COUNT; t++)
		msgpack_sbuffer_destroy(&valid[t]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wire__push_round_trip),
		cmocka_unit_test(test_wire__erase_round_trip),
		cmocka_unit_test(test_wire__policy_round_trip),
		cmocka_unit_test(test_wire__audit_push_round_trip),
		cmocka_unit_test(test_wire__audit_pull_round_trip),
		cmocka_unit_test(test_wire__audit_push_refuses_what_the_protocol_refuses),
		cmocka_unit_test(test_wire__audit_plain_decodes_what_audit_packs),
		cmocka_unit_test(test_wire__push_envelopes_only_round_trip),
		cmocka_unit_test(test_wire__push_resp_round_trip),
		cmocka_unit_test(test_wire__pull_round_trip),
		cmocka_unit_test(test_wire__pull_empty_page_round_trip),
		cmocka_unit_test(test_wire__enroll_round_trip),
		cmocka_unit_test(test_wire__enroll_resp_round_trip),
		cmocka_unit_test(test_wire__invite_round_trip),
		cmocka_unit_test(test_wire__team_keys_round_trip),
		cmocka_unit_test(test_wire__revoke_round_trip),
		cmocka_unit_test(test_wire__devices_round_trip),
		cmocka_unit_test(test_wire__error_round_trip),
		cmocka_unit_test(test_wire__ok_round_trip),
		cmocka_unit_test(test_wire__encoders_write_v_first_then_keys_in_spec_order),
		cmocka_unit_test(test_wire__op_layout_is_the_12_element_array),
		cmocka_unit_test(test_wire__op_repacked_bytes_equal_original_and_hash_input),
		cmocka_unit_test(test_wire__op_hash_is_over_canonical_bytes_not_received_ones),
		cmocka_unit_test(test_wire__refuses_trailing_byte),
		cmocka_unit_test(test_wire__refuses_unknown_key),
		cmocka_unit_test(test_wire__refuses_repeated_key),
		cmocka_unit_test(test_wire__refuses_missing_key),
		cmocka_unit_test(test_wire__refuses_wrong_v),
		cmocka_unit_test(test_wire__refuses_wrong_bin_size),
		cmocka_unit_test(test_wire__refuses_1001_ops),
		cmocka_unit_test(test_wire__refuses_negative_integer),
		cmocka_unit_test(test_wire__refuses_string_over_limit),
		cmocka_unit_test(test_wire__refuses_bad_team_characters),
		cmocka_unit_test(test_wire__refuses_bad_to),
		cmocka_unit_test(test_wire__refuses_hashes_length_mismatch),
		cmocka_unit_test(test_wire__refuses_truncated_push_at_every_length),
		cmocka_unit_test(test_wire__refuses_body_over_4_mib),
		cmocka_unit_test(test_wire__accepts_largest_values_up_to_the_body_limit),
		cmocka_unit_test(test_wire__refuses_more_than_64_supersedes),
		cmocka_unit_test(test_wire__refuses_sig_that_does_not_match_ops),
		cmocka_unit_test(test_wire__refuses_nesting_deeper_than_the_shape),
		cmocka_unit_test(test_wire__refuses_huge_headers_without_allocating),
		cmocka_unit_test(test_wire__refuses_mixed_nils_in_enroll_response),
		cmocka_unit_test(test_wire__messages_never_hold_a_value),
		cmocka_unit_test(test_wire__free_is_safe_on_a_zeroed_struct),
		cmocka_unit_test(test_wire__mutated_bodies_decode_or_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
