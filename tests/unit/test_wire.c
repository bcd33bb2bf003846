/* test_wire.c - the sync wire codec (docs/protocol.md): every message
 * survives a round trip field by field, an operation's bytes are canonical
 * and are its hash input (version 1) or hash through its layers (version
 * 2), and the decoders refuse everything the protocol refuses - each rule in
 * its own test - without crashing or leaking on truncated or mutated
 * bodies. Also the bytes the wire's signatures and proofs cover (auth.h:
 * notices, checkpoints, key envelopes, team keys, the invite's associated
 * data, the enrollment proof): each is the documented message, and each
 * input byte is under it. */
#include "helpers.h"

#include "auth.h"
#include "op.h"
#include "policy.h"
#include "store.h"
#include "kinds.h"
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
	M_NOTICE,
	M_CHECKPOINT,
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
		struct veld__notice_req notice;
		struct veld__checkpoint_req checkpoint;
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
	case M_NOTICE: rc = veld__wire_notice_req_decode(&w, b, n, &u.notice); break;
	case M_CHECKPOINT: rc = veld__wire_checkpoint_req_decode(&w, b, n, &u.checkpoint); break;
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

/* The body decodes (and the message says why if not). */
static void assert_accepted_sb(enum msg t)
{
	int rc = decode_any(t, (const uint8_t *)sb.data, sb.size);
	if (rc != VELD_OK)
		fail_msg("expected VELD_OK, got %d (%s)", rc, veld_error_last());
	raw_end();
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

/* Varied operations: both formats (version 2, 1, 2, 1), a tombstone,
 * several supersedes, extreme integers. */
static void make_ops(void)
{
	static const char *const kinds_[NOPS] = {"client", "visit", "note", "signal"};
	static const char *const fields_[NOPS] = {"name", "planned", VELD_TOMBSTONE_FIELD, "x"};
	static const uint64_t seqs[NOPS] = {1, 127, 65536, UINT64_MAX};
	memset(fx_ops, 0, sizeof fx_ops);
	for (int i = 0; i < NOPS; i++) {
		veld__op *op = &fx_ops[i];
		op->version = i % 2 ? 1 : 2;
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
		fill(fx_envs[i].from, VELD_ID_BYTES, 72u + (unsigned)i);
		fill(fx_envs[i].sig, 64, 74u + (unsigned)i);
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
static struct veld__team_key fx_tks[2];
static struct veld__stub fx_stubs[2];
static uint64_t fx_stub_cursors[2] = {2, 4008};
static struct veld__held fx_held[2];
static uint64_t fx_held_cursors[2] = {5, UINT64_MAX};

/* Notices of three kinds, their bodies by the body codec. */
#define NNOTICES 3
static struct veld__notice fx_notices[NNOTICES];
static uint64_t fx_notice_cursors[NNOTICES] = {1, 2, 77};
static uint8_t fx_notice_bodies[NNOTICES][VELD_NOTICE_BODY_MAX];

static struct veld__notice_body fx_body(int kind)
{
	struct veld__notice_body b;
	memset(&b, 0, sizeof b);
	b.kind = kind;
	fill(b.id, VELD_ID_BYTES, 160u + (unsigned)kind);
	if (kind == VELD_NOTICE_CERT) {
		fill(b.sign_pk, 32, 165);
		fill(b.box_pk, 32, 166);
		snprintf(b.role, sizeof b.role, "worker");
		b.enrolled = 1700000000000ull;
	}
	if (kind == VELD_NOTICE_REVOKE)
		b.last_seq = UINT64_MAX;
	if (kind == VELD_NOTICE_POLICY)
		b.mask = VELD_POLICY_ALL & 0x45u;
	if (kind == VELD_NOTICE_SCHEMA) {
		memset(b.id, 0, sizeof b.id); /* a schema names no one */
		b.version = 3;
		b.doc = (const uint8_t *)"{\"format\":\"veld-schema-1\"}";
		b.doc_len = strlen((const char *)b.doc);
	}
	if (kind == VELD_NOTICE_MOVE)
		snprintf(b.to_team, sizeof b.to_team, "Team.Z_u@i-d");
	return b;
}

static void make_notices(void)
{
	static const int kinds_[NNOTICES] = {VELD_NOTICE_CERT, VELD_NOTICE_ERASE, VELD_NOTICE_POLICY};
	memset(fx_notices, 0, sizeof fx_notices);
	for (int i = 0; i < NNOTICES; i++) {
		struct veld__notice *nt = &fx_notices[i];
		struct veld__notice_body b = fx_body(kinds_[i]);
		msgpack_sbuffer body;
		msgpack_sbuffer_init(&body);
		ok(veld__wire_notice_body_encode(&body, &b));
		assert_true(body.size <= VELD_NOTICE_BODY_MAX);
		memcpy(fx_notice_bodies[i], body.data, body.size);
		snprintf(nt->team, sizeof nt->team, "%s", i == 2 ? "Team.A_b@c-9" : "north");
		nt->n = i == 2 ? UINT64_MAX : (uint64_t)i + 1;
		snprintf(nt->kind, sizeof nt->kind, "%s", veld__notice_kind_name(kinds_[i]));
		nt->at = 1700000000000ull + (uint64_t)i;
		nt->body = fx_notice_bodies[i];
		nt->body_len = body.size;
		fill(nt->sig, 64, 170u + (unsigned)i);
		msgpack_sbuffer_destroy(&body);
	}
}

/* A checkpoint with three authors (24 bytes each: device || BE64 seq). */
static uint8_t fx_heads[3 * 24];

static struct veld__checkpoint fx_checkpoint(void)
{
	struct veld__checkpoint c;
	memset(&c, 0, sizeof c);
	snprintf(c.team, sizeof c.team, "north");
	c.at = 1700000000123ull;
	c.n = 0; /* no notice yet */
	fill(fx_heads, sizeof fx_heads, 180);
	c.heads = fx_heads;
	c.heads_len = sizeof fx_heads;
	fill(c.sig, 64, 181);
	return c;
}

static struct veld__pull_resp fx_pull(void)
{
	struct veld__pull_resp m;
	make_ops();
	make_envs();
	make_notices();
	memset(&m, 0, sizeof m);
	memset(fx_batches, 0, sizeof fx_batches);
	memset(fx_tks, 0, sizeof fx_tks);
	memset(fx_stubs, 0, sizeof fx_stubs);
	memset(fx_held, 0, sizeof fx_held);
	for (int i = 0; i < 2; i++) {
		fill(fx_batches[i].device, VELD_ID_BYTES, 90u + (unsigned)i);
		fx_batches[i].first = i ? 5 : 1;
		fx_batches[i].last = i ? 7 : 1;
		fill(fx_batches[i].sig, 64, 95u + (unsigned)i);
		fill(fx_hashes[i], sizeof fx_hashes[i], 100u + (unsigned)i);
		fx_batches[i].hashes = fx_hashes[i];
		fx_batches[i].ver = (uint64_t)i + 1;
		snprintf(fx_tks[i].team, sizeof fx_tks[i].team, "%s", i ? "south" : "north");
		fx_tks[i].tv = (uint64_t)i + 1;
		fill(fx_tks[i].pk, 32, 120u + (unsigned)i);
		fill(fx_tks[i].sealed, VELD_SEALED_KEY_BYTES, 125u + (unsigned)i);
		fill(fx_tks[i].sig, 64, 127u + (unsigned)i);
		fill(fx_stubs[i].device, VELD_ID_BYTES, 130u + (unsigned)i);
		fx_stubs[i].seq = i ? UINT64_MAX : 1;
		snprintf(fx_stubs[i].team, sizeof fx_stubs[i].team, "%s", i ? "south" : "north");
		fill(fx_stubs[i].client, VELD_ID_BYTES, 132u + (unsigned)i);
		fill(fx_stubs[i].kh, 32, 134u + (unsigned)i);
		fill(fx_held[i].device, VELD_ID_BYTES, 140u + (unsigned)i);
		fx_held[i].seq = (uint64_t)i + 3;
		snprintf(fx_held[i].team, sizeof fx_held[i].team, "north");
		fill(fx_held[i].client, VELD_ID_BYTES, 142u + (unsigned)i);
		snprintf(fx_held[i].kind, sizeof fx_held[i].kind, "client");
		snprintf(fx_held[i].field, sizeof fx_held[i].field, "%s", i ? "phone" : "date_of_birth");
		fill(fx_held[i].rh, 32, 144u + (unsigned)i);
	}
	m.cursors = fx_cursors;
	m.ops = fx_ops;
	m.nops = NOPS;
	m.stub_cursors = fx_stub_cursors;
	m.stubs = fx_stubs;
	m.nstubs = 2;
	m.held_cursors = fx_held_cursors;
	m.held = fx_held;
	m.nheld = 2;
	m.batches = fx_batches;
	m.nbatches = 2;
	m.env_cursors = fx_env_cursors;
	m.envs = fx_envs;
	m.nenvs = 2;
	m.team_keys = fx_tks;
	m.nteam_keys = 2;
	m.notice_cursors = fx_notice_cursors;
	m.notices = fx_notices;
	m.nnotices = NNOTICES;
	m.next = 123456789012ull;
	m.env_next = 42;
	m.notice_next = 77;
	m.more = 1;
	m.has_checkpoint = 1;
	m.checkpoint = fx_checkpoint();
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
		/* the office enrolled with no invite: auth and proof nil */
		d->has_auth = i != 0;
		if (d->has_auth) {
			fill(d->auth, 32, 145u + (unsigned)i);
			fill(d->proof, 32, 147u + (unsigned)i);
		}
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
	fill(m.sig, 64, 155);
	for (int i = 0; i < 2; i++) {
		fill(fx_sealed[i].device, VELD_ID_BYTES, 151u + (unsigned)i);
		fill(fx_sealed[i].sealed, VELD_SEALED_KEY_BYTES, 153u + (unsigned)i);
	}
	m.sealed = fx_sealed;
	m.nsealed = 2;
	return m;
}

/* Three access-log entries, seq 7..9, of two devices (for a pull). */
static uint8_t fx_audit_bytes[3][100];
static struct veld__audit_entry fx_audit[3];

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
}

static struct veld__audit_pull_resp fx_audit_pull(void)
{
	struct veld__audit_pull_resp m;
	fx_audit_init();
	memset(&m, 0, sizeof m);
	m.entries = fx_audit;
	m.n = 3;
	m.next = 102;
	m.more = 1;
	return m;
}

static struct veld__notice_req fx_notice_req(void)
{
	struct veld__notice_req m;
	make_notices();
	m.notices = fx_notices;
	m.n = NNOTICES;
	return m;
}

static struct veld__checkpoint fx_cps[2];

static struct veld__checkpoint_req fx_checkpoint_req(void)
{
	struct veld__checkpoint_req m;
	fx_cps[0] = fx_checkpoint();
	fx_cps[1] = fx_checkpoint();
	snprintf(fx_cps[1].team, sizeof fx_cps[1].team, "south");
	fx_cps[1].n = UINT64_MAX;
	fx_cps[1].heads_len = 24;
	fill(fx_cps[1].sig, 64, 182);
	m.checkpoints = fx_cps;
	m.n = 2;
	return m;
}

/* A valid body of type t, appended to *out (msgpack_sbuffer_init'ed). */
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
		fill(m.proof, 32, 5);
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
		m.acked = 12;
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
	case M_NOTICE: {
		struct veld__notice_req m = fx_notice_req();
		ok(veld__wire_notice_req_encode(out, &m));
		break;
	}
	case M_CHECKPOINT: {
		struct veld__checkpoint_req m = fx_checkpoint_req();
		ok(veld__wire_checkpoint_req_encode(out, &m));
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
	assert_memory_equal(a->from, b->from, VELD_ID_BYTES);
	assert_memory_equal(a->sig, b->sig, 64);
}

static void assert_notice_equal(const struct veld__notice *a, const struct veld__notice *b)
{
	assert_string_equal(a->team, b->team);
	assert_true(a->n == b->n);
	assert_string_equal(a->kind, b->kind);
	assert_true(a->at == b->at);
	assert_int_equal(a->body_len, b->body_len);
	assert_memory_equal(a->body, b->body, a->body_len);
	assert_memory_equal(a->sig, b->sig, 64);
}

static void assert_checkpoint_equal(const struct veld__checkpoint *a,
                                    const struct veld__checkpoint *b)
{
	assert_string_equal(a->team, b->team);
	assert_true(a->at == b->at && a->n == b->n);
	assert_int_equal(a->heads_len, b->heads_len);
	assert_memory_equal(a->heads, b->heads, a->heads_len);
	assert_memory_equal(a->sig, b->sig, 64);
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
		assert_true(a->ver == b->ver);
	}
	assert_int_equal(out.nstubs, 2);
	for (size_t i = 0; i < 2; i++) {
		const struct veld__stub *a = &in.stubs[i], *b = &out.stubs[i];
		assert_true(out.stub_cursors[i] == in.stub_cursors[i]);
		assert_memory_equal(a->device, b->device, VELD_ID_BYTES);
		assert_true(a->seq == b->seq);
		assert_string_equal(a->team, b->team);
		assert_memory_equal(a->client, b->client, VELD_ID_BYTES);
		assert_memory_equal(a->kh, b->kh, 32);
	}
	assert_int_equal(out.nheld, 2);
	for (size_t i = 0; i < 2; i++) {
		const struct veld__held *a = &in.held[i], *b = &out.held[i];
		assert_true(out.held_cursors[i] == in.held_cursors[i]);
		assert_memory_equal(a->device, b->device, VELD_ID_BYTES);
		assert_true(a->seq == b->seq);
		assert_string_equal(a->team, b->team);
		assert_memory_equal(a->client, b->client, VELD_ID_BYTES);
		assert_string_equal(a->kind, b->kind);
		assert_string_equal(a->field, b->field);
		assert_memory_equal(a->rh, b->rh, 32);
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
		assert_memory_equal(in.team_keys[i].sig, out.team_keys[i].sig, 64);
	}
	assert_int_equal(out.nnotices, NNOTICES);
	for (size_t i = 0; i < NNOTICES; i++) {
		assert_true(out.notice_cursors[i] == in.notice_cursors[i]);
		assert_notice_equal(&in.notices[i], &out.notices[i]);
	}
	assert_true(out.next == in.next);
	assert_true(out.env_next == in.env_next);
	assert_true(out.notice_next == 77);
	assert_int_equal(out.more, 1);
	assert_int_equal(out.has_checkpoint, 1);
	assert_checkpoint_equal(&in.checkpoint, &out.checkpoint);
	/* bodies and heads point into the body, like values */
	assert_true(out.notices[0].body > (const uint8_t *)buf.data &&
	            out.notices[0].body < (const uint8_t *)buf.data + buf.size);
	assert_true(out.checkpoint.heads > (const uint8_t *)buf.data &&
	            out.checkpoint.heads < (const uint8_t *)buf.data + buf.size);
	veld__wire_free(&w);
	msgpack_sbuffer_destroy(&buf);
}

/* Own runs (own=1) travel under "own", a key left out when there are none,
 * so a page for a device that did not ask is what it always was. */
static int holds_key_own(const msgpack_sbuffer *b)
{
	for (size_t i = 0; i + 4 <= b->size; i++)
		if (memcmp(b->data + i, "\xa3own", 4) == 0)
			return 1;
	return 0;
}

static void test_wire__pull_own_runs_round_trip(void **state)
{
	struct veld__pull_resp in = fx_pull(), out;
	struct veld__own_run runs[2];
	uint64_t cursors[2] = {in.next + 1, in.next + 5};
	struct veld__wire w;
	msgpack_sbuffer buf;
	(void)state;
	msgpack_sbuffer_init(&buf);
	ok(veld__wire_pull_resp_encode(&buf, &in));
	assert_false(holds_key_own(&buf));
	msgpack_sbuffer_destroy(&buf);

	runs[0].from = 1;
	runs[0].to = 1;
	fill(runs[0].d, 32, 150);
	runs[1].from = 3;
	runs[1].to = 3 + VELD_WIRE_MAX_PAGE - 2; /* with runs[0], a whole page */
	fill(runs[1].d, 32, 151);
	in.own = runs;
	in.own_cursors = cursors;
	in.nown = 2;
	in.nops = in.nstubs = in.nheld = 0; /* the page size is shared */
	in.next = cursors[1];
	msgpack_sbuffer_init(&buf);
	ok(veld__wire_pull_resp_encode(&buf, &in));
	assert_true(holds_key_own(&buf));
	ok(veld__wire_pull_resp_decode(&w, (const uint8_t *)buf.data, buf.size, &out));
	assert_int_equal(out.nown, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_true(out.own_cursors[i] == cursors[i]);
		assert_true(out.own[i].from == runs[i].from && out.own[i].to == runs[i].to);
		assert_memory_equal(out.own[i].d, runs[i].d, 32);
	}
	veld__wire_free(&w);
	msgpack_sbuffer_destroy(&buf);
	/* A run that goes down, or spans more than a page, is no run. */
	runs[1].to = 2;
	msgpack_sbuffer_init(&buf);
	assert_int_equal(veld__wire_pull_resp_encode(&buf, &in), VELD_EINVAL);
	runs[1].to = 3 + VELD_WIRE_MAX_PAGE;
	assert_int_equal(veld__wire_pull_resp_encode(&buf, &in), VELD_EINVAL);
	/* Each run may stay under a page while together they pass it: every
	 * seq of a run counts towards the page, as every hash is checked. */
	runs[0].from = 1;
	runs[0].to = VELD_WIRE_MAX_PAGE / 2 + 1;
	runs[1].from = runs[0].to + 1;
	runs[1].to = runs[1].from + VELD_WIRE_MAX_PAGE / 2;
	assert_int_equal(veld__wire_pull_resp_encode(&buf, &in), VELD_EINVAL);
	runs[1].to = runs[1].from + VELD_WIRE_MAX_PAGE / 2 - 2;
	ok(veld__wire_pull_resp_encode(&buf, &in));
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
	assert_int_equal(out.nops + out.nstubs + out.nheld + out.nbatches + out.nenvs +
	                 out.nteam_keys + out.nnotices, 0);
	assert_null(out.ops);
	assert_null(out.stubs);
	assert_null(out.notices);
	assert_null(w.alloc);
	assert_true(out.next == 9 && out.more == 0);
	assert_int_equal(out.has_checkpoint, 0);
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
	fill(in.proof, 32, 5);
	msgpack_sbuffer_init(&buf);
	ok(veld__wire_enroll_req_encode(&buf, &in));
	ok(veld__wire_enroll_req_decode(&w, (const uint8_t *)buf.data, buf.size, &out));
	assert_memory_equal(in.auth, out.auth, 32);
	assert_memory_equal(in.device, out.device, VELD_ID_BYTES);
	assert_memory_equal(in.sign_pk, out.sign_pk, 32);
	assert_memory_equal(in.box_pk, out.box_pk, 32);
	assert_string_equal(in.label, out.label);
	assert_memory_equal(in.proof, out.proof, 32);
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
	assert_memory_equal(in.sig, out.sig, 64);
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
	rin.acked = UINT64_MAX;
	msgpack_sbuffer_init(&buf);
	ok(veld__wire_revoke_resp_encode(&buf, &rin));
	ok(veld__wire_revoke_resp_decode(&w, (const uint8_t *)buf.data, buf.size, &rout));
	assert_string_equal(rin.team, rout.team);
	assert_true(rout.acked == UINT64_MAX);
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
		assert_int_equal(a->has_auth, b->has_auth);
		assert_memory_equal(a->auth, b->auth, 32);
		assert_memory_equal(a->proof, b->proof, 32);
	}
	assert_int_equal(out.devices[0].has_auth, 0);
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

	/* pull: the operation feed's three lists, then the others; the
	 * checkpoint last, and only when there is one */
	{
		static const char *const pkeys[] = {"v", "ops", "stubs", "held", "batches",
		                                    "envelopes", "team_keys", "notices", "next",
		                                    "env_next", "notice_next", "more", "checkpoint"};
		struct veld__pull_resp pin = fx_pull();
		for (int with = 1; with >= 0; with--) {
			uint32_t nk = with ? 13 : 12;
			pin.has_checkpoint = with;
			msgpack_sbuffer_init(&buf);
			ok(veld__wire_pull_resp_encode(&buf, &pin));
			msgpack_unpacked_init(&u);
			assert_int_equal(msgpack_unpack_next(&u, buf.data, buf.size, NULL),
			                 MSGPACK_UNPACK_SUCCESS);
			assert_int_equal(u.data.via.map.size, nk);
			for (uint32_t i = 0; i < nk; i++)
				assert_true(u.data.via.map.ptr[i].key.via.str.size == strlen(pkeys[i]) &&
				            memcmp(u.data.via.map.ptr[i].key.via.str.ptr, pkeys[i],
				                   strlen(pkeys[i])) == 0);
			msgpack_unpacked_destroy(&u);
			msgpack_sbuffer_destroy(&buf);
		}
	}
}

/* ---- canonical operations ------------------------------------------------ */

/* An operation's hash by the letter of op.h, packed and hashed here rather
 * than by core: version 1, BLAKE2b-256 of the 12-element array; version 2,
 *   rh   = H(canonical [2, device, seq, hlc, entity, kv, H(value) or nil,
 *            supersedes])
 *   kh   = H(u8 len(kind) || kind || u8 len(field) || field || rh)
 *   hash = H("veld-op-v2" || u8 len(team) || team || client || kh) */
static void spec_pack_sup(msgpack_packer *p, const veld__op *op)
{
	msgpack_pack_array(p, op->nsup);
	for (size_t i = 0; i < op->nsup; i++) {
		msgpack_pack_array(p, 2);
		msgpack_pack_bin_with_body(p, op->sup[i].device, 16);
		msgpack_pack_uint64(p, op->sup[i].seq);
	}
}

static void spec_name(crypto_generichash_state *h, const char *s)
{
	uint8_t n = (uint8_t)strlen(s);
	crypto_generichash_update(h, &n, 1);
	crypto_generichash_update(h, (const uint8_t *)s, n);
}

static void spec_hash(const veld__op *op, uint8_t out[32])
{
	msgpack_sbuffer b;
	msgpack_packer p;
	crypto_generichash_state h;
	uint8_t vh[32], rh[32], kh[32];
	msgpack_sbuffer_init(&b);
	msgpack_packer_init(&p, &b, msgpack_sbuffer_write);
	if (op->version == 1) {
		msgpack_pack_array(&p, 12);
		msgpack_pack_uint64(&p, 1);
		msgpack_pack_bin_with_body(&p, op->device, 16);
		msgpack_pack_uint64(&p, op->seq);
		msgpack_pack_uint64(&p, op->hlc);
		msgpack_pack_str_with_body(&p, op->kind, strlen(op->kind));
		msgpack_pack_bin_with_body(&p, op->entity, 16);
		msgpack_pack_bin_with_body(&p, op->client, 16);
		msgpack_pack_str_with_body(&p, op->team, strlen(op->team));
		msgpack_pack_uint64(&p, op->kv);
		msgpack_pack_str_with_body(&p, op->field, strlen(op->field));
		if (op->value)
			msgpack_pack_bin_with_body(&p, op->value, op->value_len);
		else
			msgpack_pack_nil(&p);
		spec_pack_sup(&p, op);
		crypto_generichash(out, 32, (const uint8_t *)b.data, b.size, NULL, 0);
		msgpack_sbuffer_destroy(&b);
		return;
	}
	assert_int_equal(op->version, 2);
	msgpack_pack_array(&p, 8);
	msgpack_pack_uint64(&p, 2);
	msgpack_pack_bin_with_body(&p, op->device, 16);
	msgpack_pack_uint64(&p, op->seq);
	msgpack_pack_uint64(&p, op->hlc);
	msgpack_pack_bin_with_body(&p, op->entity, 16);
	msgpack_pack_uint64(&p, op->kv);
	if (op->value) {
		crypto_generichash(vh, 32, op->value, op->value_len, NULL, 0);
		msgpack_pack_bin_with_body(&p, vh, 32);
	} else {
		msgpack_pack_nil(&p);
	}
	spec_pack_sup(&p, op);
	crypto_generichash(rh, 32, (const uint8_t *)b.data, b.size, NULL, 0);
	msgpack_sbuffer_destroy(&b);
	crypto_generichash_init(&h, NULL, 0, 32);
	spec_name(&h, op->kind);
	spec_name(&h, op->field);
	crypto_generichash_update(&h, rh, 32);
	crypto_generichash_final(&h, kh, 32);
	crypto_generichash_init(&h, NULL, 0, 32);
	crypto_generichash_update(&h, (const uint8_t *)"veld-op-v2", 10);
	spec_name(&h, op->team);
	crypto_generichash_update(&h, op->client, 16);
	crypto_generichash_update(&h, kh, 32);
	crypto_generichash_final(&h, out, 32);
}

static int contains(const void *hay, size_t n, const void *needle, size_t k)
{
	for (size_t i = 0; k <= n && i <= n - k; i++)
		if (memcmp((const uint8_t *)hay + i, needle, k) == 0)
			return 1;
	return 0;
}

/* The small operation of docs/protocol.md section 2's example. */
static veld__op layout_op(uint32_t version)
{
	veld__op op;
	memset(&op, 0, sizeof op);
	op.version = version;
	memset(op.device, 0x11, 16);
	op.seq = 1;
	op.hlc = 2;
	strcpy(op.kind, "note");
	memset(op.entity, 0x22, 16);
	memset(op.client, 0x33, 16);
	strcpy(op.team, "t");
	op.kv = 3;
	strcpy(op.field, "f");
	return op;
}

static void test_wire__op_layout_is_the_12_element_array(void **state)
{
	(void)state;
	/* docs/protocol.md section 2, byte for byte; both formats travel as the
	 * same array, the version first */
	for (uint32_t version = 1; version <= 2; version++) {
		uint8_t expect[128];
		size_t n = 0;
		veld__op op = layout_op(version);
		msgpack_sbuffer buf;
		msgpack_packer p;

		expect[n++] = 0x9c; /* fixarray 12 */
		expect[n++] = (uint8_t)version;
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
		assert_int_equal(out.ops[i].version, in.ops[i].version);
		/* and, for a version 1 operation, they are the hash input; a
		 * version 2 one hashes its layers (test_wire__op_hash_v2_*) */
		spec_hash(&out.ops[i], h);
		if (in.ops[i].version == 1) {
			uint8_t direct[32];
			crypto_generichash(direct, 32, (const uint8_t *)again.data, again.size, NULL, 0);
			assert_memory_equal(h, direct, 32);
		}
		assert_memory_equal(h, in.ops[i].hash, 32);
		assert_memory_equal(h, out.ops[i].hash, 32);
		msgpack_sbuffer_destroy(&orig);
		msgpack_sbuffer_destroy(&again);
	}
	veld__wire_free(&w);
	msgpack_sbuffer_destroy(&body);
}

/* Write a fixture op with seq as a non-shortest uint16, as a sloppy peer
 * might. */
static void raw_op_long_seq(const veld__op *op)
{
	msgpack_pack_array(&pk, 12);
	msgpack_pack_uint64(&pk, op->version);
	msgpack_pack_bin_with_body(&pk, op->device, 16);
	msgpack_pack_fix_uint16(&pk, (uint16_t)op->seq);
	msgpack_pack_uint64(&pk, op->hlc);
	raw_str(op->kind);
	msgpack_pack_bin_with_body(&pk, op->entity, 16);
	msgpack_pack_bin_with_body(&pk, op->client, 16);
	raw_str(op->team);
	msgpack_pack_uint64(&pk, op->kv);
	raw_str(op->field);
	if (op->value)
		msgpack_pack_bin_with_body(&pk, op->value, op->value_len);
	else
		msgpack_pack_nil(&pk);
	msgpack_pack_array(&pk, op->nsup);
	for (size_t i = 0; i < op->nsup; i++) {
		msgpack_pack_array(&pk, 2);
		msgpack_pack_bin_with_body(&pk, op->sup[i].device, 16);
		msgpack_pack_uint64(&pk, op->sup[i].seq);
	}
}

static void test_wire__op_hash_is_over_canonical_bytes_not_received_ones(void **state)
{
	struct veld__push_req out;
	struct veld__wire w;
	(void)state;
	make_ops();
	for (int i = 0; i < 2; i++) { /* version 2, then version 1 */
		raw_begin(4);
		raw_v();
		raw_str("ops");
		msgpack_pack_array(&pk, 1);
		raw_op_long_seq(&fx_ops[i]);
		raw_str("sig");
		raw_bin(64, 1);
		raw_str("envelopes");
		msgpack_pack_array(&pk, 0);
		ok(veld__wire_push_req_decode(&w, (const uint8_t *)sb.data, sb.size, &out));
		assert_int_equal(out.ops[0].version, fx_ops[i].version);
		assert_op_equal(&fx_ops[i], &out.ops[0]); /* includes the hash */
		veld__wire_free(&w);
		raw_end();
	}
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
	msgpack_pack_map(&pk, 8);
	raw_str("client"), raw_bin(16, 1);
	raw_str("kv"), msgpack_pack_uint64(&pk, 1);
	raw_str("to"), raw_str("office");
	raw_str("tv"), msgpack_pack_uint64(&pk, 0);
	raw_str("sealed"), raw_bin(80, 2);
	raw_str("from"), raw_bin(16, 3);
	raw_str("sig"), raw_bin(64, 4);
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
		raw_begin(7);
		raw_v();
		raw_str("auth"), raw_bin(sizes[i], 1);
		raw_str("device"), raw_bin(16, 2);
		raw_str("sign_pk"), raw_bin(32, 3);
		raw_str("box_pk"), raw_bin(32, 4);
		raw_str("label"), raw_str("x");
		raw_str("proof"), raw_bin(32, 5);
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
	raw_begin(7);
	raw_v();
	raw_str("auth"), raw_bin(32, 1);
	raw_str("device"), raw_bin(16, 2);
	raw_str("sign_pk"), raw_bin(32, 3);
	raw_str("box_pk"), raw_bin(32, 4);
	raw_str("label");
	msgpack_pack_str_with_body(&pk, label, n);
	raw_str("proof"), raw_bin(32, 5);
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
	/* an operation's kind: a well-formed name (the office's schema may
	 * add kinds; a device checks them against it) */
	make_ops();
	op = fx_ops[0];
	strcpy(op.kind, "invoice");
	raw_push_of(1, &op);
	assert_accepted_sb(M_PUSH);
	strcpy(op.kind, "Invoice");
	raw_push_of(1, &op);
	assert_refused_sb(M_PUSH, "'kind' must be 1 to 16 of a-z, 0-9, _ (a letter first)");
	strcpy(op.kind, "9lives");
	raw_push_of(1, &op);
	assert_refused_sb(M_PUSH, "'kind' must be 1 to 16 of a-z, 0-9, _ (a letter first)");
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

/* A push of one envelope to `to`, its from and sig of the given sizes
 * (0: left out). */
static void raw_push_with_env(const char *to, size_t from_len, size_t sig_len)
{
	raw_begin(4);
	raw_v();
	raw_str("ops"), msgpack_pack_array(&pk, 0);
	raw_str("sig"), msgpack_pack_nil(&pk);
	raw_str("envelopes"), msgpack_pack_array(&pk, 1);
	msgpack_pack_map(&pk, 5 + (from_len > 0) + (sig_len > 0));
	raw_str("client"), raw_bin(16, 1);
	raw_str("kv"), msgpack_pack_uint64(&pk, 1);
	raw_str("to"), raw_str(to);
	raw_str("tv"), msgpack_pack_uint64(&pk, 0);
	raw_str("sealed"), raw_bin(80, 2);
	if (from_len)
		raw_str("from"), raw_bin(from_len, 3);
	if (sig_len)
		raw_str("sig"), raw_bin(sig_len, 4);
}

static void raw_push_with_to(const char *to)
{
	raw_push_with_env(to, 16, 64);
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

/* The keys of a pull after "v", in order, with their values but for
 * `skip` keys at the start, which the caller wrote. Lists are empty. */
static void raw_pull_rest(int skip)
{
	static const char *const lists[] = {"ops", "stubs", "held", "batches", "envelopes",
	                                    "team_keys", "notices"};
	for (int i = skip; i < 7; i++)
		raw_str(lists[i]), msgpack_pack_array(&pk, 0);
	raw_str("next"), msgpack_pack_uint64(&pk, 0);
	raw_str("env_next"), msgpack_pack_uint64(&pk, 0);
	raw_str("notice_next"), msgpack_pack_uint64(&pk, 0);
	raw_str("more"), msgpack_pack_false(&pk);
}

/* A pull with one batch of the given shape and nothing else. */
static void raw_pull_with_batch_ver(uint64_t first, uint64_t last, size_t hashes_len,
                                    uint64_t ver)
{
	raw_begin(12);
	raw_v();
	raw_str("ops"), msgpack_pack_array(&pk, 0);
	raw_str("stubs"), msgpack_pack_array(&pk, 0);
	raw_str("held"), msgpack_pack_array(&pk, 0);
	raw_str("batches"), msgpack_pack_array(&pk, 1);
	msgpack_pack_map(&pk, 6);
	raw_str("device"), raw_bin(16, 1);
	raw_str("first"), msgpack_pack_uint64(&pk, first);
	raw_str("last"), msgpack_pack_uint64(&pk, last);
	raw_str("sig"), raw_bin(64, 2);
	raw_str("hashes"), raw_bin(hashes_len, 3);
	raw_str("ver"), msgpack_pack_uint64(&pk, ver);
	raw_pull_rest(4);
}

static void raw_pull_with_batch(uint64_t first, uint64_t last, size_t hashes_len)
{
	raw_pull_with_batch_ver(first, last, hashes_len, 2);
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
	/* a notice of an unknown kind */
	{
		struct veld__notice_body b;
		static const uint8_t body[] = {0x91, 0x01};
		assert_int_equal(veld__wire_notice_body_decode("CANARYXYZ", body, sizeof body, &b),
		                 VELD_EPROTO);
		assert_null(strstr(veld_error_last(), canary));
	}
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

/* ---- notice bodies ---------------------------------------------------------------- */

static void assert_body_equal(const struct veld__notice_body *a, const struct veld__notice_body *b)
{
	assert_int_equal(a->kind, b->kind);
	if (a->kind != VELD_NOTICE_POLICY)
		assert_memory_equal(a->id, b->id, VELD_ID_BYTES);
	assert_true(a->version == b->version && a->doc_len == b->doc_len);
	if (a->doc_len)
		assert_memory_equal(a->doc, b->doc, a->doc_len);
	assert_memory_equal(a->sign_pk, b->sign_pk, 32);
	assert_memory_equal(a->box_pk, b->box_pk, 32);
	assert_string_equal(a->role, b->role);
	assert_string_equal(a->to_team, b->to_team);
	assert_true(a->enrolled == b->enrolled && a->last_seq == b->last_seq);
	assert_int_equal(a->mask, b->mask);
}

static void test_wire__notice_bodies_round_trip_by_kind(void **state)
{
	/* the array of each kind: cert 5, revoke 2, erase 1, policy 1, schema 2,
	 * move 2 */
	static const uint8_t heads[] = {0, 0x95, 0x92, 0x91, 0x91, 0x92, 0x92};
	(void)state;
	for (int k = VELD_NOTICE_CERT; k <= VELD_NOTICE_MOVE; k++) {
		struct veld__notice_body in = fx_body(k), out;
		const char *name = veld__notice_kind_name(k);
		msgpack_sbuffer buf;
		assert_non_null(name);
		assert_int_equal(veld__notice_kind_of(name), k);
		if (k == VELD_NOTICE_POLICY)
			memset(in.id, 0, sizeof in.id); /* a policy names no one */
		msgpack_sbuffer_init(&buf);
		ok(veld__wire_notice_body_encode(&buf, &in));
		assert_int_equal((uint8_t)buf.data[0], heads[k]);
		ok(veld__wire_notice_body_decode(name, (const uint8_t *)buf.data, buf.size, &out));
		assert_body_equal(&in, &out);
		/* read as another kind it is refused */
		for (int o = VELD_NOTICE_CERT; o <= VELD_NOTICE_MOVE; o++)
			if (o != k)
				assert_int_equal(veld__wire_notice_body_decode(veld__notice_kind_name(o),
				                 (const uint8_t *)buf.data, buf.size, &out), VELD_EPROTO);
		msgpack_sbuffer_destroy(&buf);
	}
	assert_string_equal(veld__notice_kind_name(VELD_NOTICE_CERT), "cert");
	assert_string_equal(veld__notice_kind_name(VELD_NOTICE_REVOKE), "revoke");
	assert_string_equal(veld__notice_kind_name(VELD_NOTICE_ERASE), "erase");
	assert_string_equal(veld__notice_kind_name(VELD_NOTICE_POLICY), "policy");
	assert_string_equal(veld__notice_kind_name(VELD_NOTICE_SCHEMA), "schema");
	assert_string_equal(veld__notice_kind_name(VELD_NOTICE_MOVE), "move");
	assert_null(veld__notice_kind_name(0));
	assert_null(veld__notice_kind_name(VELD_NOTICE_MOVE + 1));
}

/* A bit of a mask the policy does not govern. */
static uint64_t ungoverned_bit(void)
{
	uint64_t b = 1;
	while (b & VELD_POLICY_ALL)
		b <<= 1;
	return b;
}

static void body_refused(const char *kind, const char *needle)
{
	struct veld__notice_body out;
	int rc = veld__wire_notice_body_decode(kind, (const uint8_t *)sb.data, sb.size, &out);
	if (rc != VELD_EPROTO)
		fail_msg("expected VELD_EPROTO, got %d (%s)", rc, veld_error_last());
	if (needle && !strstr(veld_error_last(), needle))
		fail_msg("message \"%s\" does not mention \"%s\"", veld_error_last(), needle);
	assert_int_equal(out.kind, 0); /* zeroed */
	raw_end();
}

/* A cert body with element `bad` replaced by a string. */
static void raw_cert_body(int bad, uint32_t n)
{
	raw_begin(UINT32_MAX);
	msgpack_pack_array(&pk, n);
	for (uint32_t i = 0; i < n; i++) {
		if ((int)i == bad) {
			raw_str("x");
			continue;
		}
		switch (i) {
		case 0: raw_bin(16, 1); break;
		case 1: case 2: raw_bin(32, 2); break;
		case 3: raw_str("worker"); break;
		default: msgpack_pack_uint64(&pk, 5); break;
		}
	}
}

static void test_wire__notice_bodies_refuse_what_the_protocol_refuses(void **state)
{
	static const char *const keys[] = {"'device'", "'sign_pk'", "'box_pk'", "'role'",
	                                   "'enrolled'"};
	struct veld__notice_body b, out;
	msgpack_sbuffer buf;
	(void)state;
	raw_cert_body(-1, 5);
	ok(veld__wire_notice_body_decode("cert", (const uint8_t *)sb.data, sb.size, &out));
	raw_end();
	/* exactly its array: one element fewer or more */
	raw_cert_body(-1, 4);
	body_refused("cert", "exactly one array of 5 elements");
	raw_cert_body(-1, 6); /* more values than a cert holds: the scan refuses it */
	body_refused("cert", "notice body:");
	raw_begin(UINT32_MAX);
	msgpack_pack_array(&pk, 3), raw_bin(16, 1), msgpack_pack_uint64(&pk, 1),
		msgpack_pack_uint64(&pk, 1);
	body_refused("revoke", "notice body:");
	raw_begin(UINT32_MAX);
	msgpack_pack_array(&pk, 1), raw_bin(16, 1);
	body_refused("revoke", "exactly one array of 2 elements");
	raw_begin(UINT32_MAX);
	msgpack_pack_array(&pk, 0);
	body_refused("erase", "exactly one array of 1 elements");
	raw_begin(UINT32_MAX);
	msgpack_pack_array(&pk, 2), msgpack_pack_uint64(&pk, 1), msgpack_pack_uint64(&pk, 1);
	body_refused("policy", "notice body:");
	raw_begin(1); /* a map is not its array */
	raw_str("mask"), msgpack_pack_uint64(&pk, 1);
	body_refused("policy", "notice body:");
	raw_begin(UINT32_MAX); /* nor is a lone value */
	msgpack_pack_uint64(&pk, 1);
	body_refused("policy", "exactly one array of 1 elements");
	/* wrong types, each element of a cert */
	for (int i = 0; i < 5; i++) {
		raw_cert_body(i, 5);
		body_refused("cert", keys[i]);
	}
	raw_begin(UINT32_MAX);
	msgpack_pack_array(&pk, 5), raw_bin(16, 1), raw_bin(32, 2), raw_bin(32, 3),
		raw_str("admin"), msgpack_pack_uint64(&pk, 1);
	body_refused("cert", "'role' must be worker or office");
	raw_begin(UINT32_MAX);
	msgpack_pack_array(&pk, 2), raw_bin(16, 1), msgpack_pack_int64(&pk, -1);
	body_refused("revoke", "'last_seq' is negative");
	raw_begin(UINT32_MAX);
	msgpack_pack_array(&pk, 2), raw_bin(15, 1), msgpack_pack_uint64(&pk, 1);
	body_refused("revoke", "'device' must be a bin of 16 bytes");
	raw_begin(UINT32_MAX);
	msgpack_pack_array(&pk, 1), raw_bin(17, 1);
	body_refused("erase", "'client' must be a bin of 16 bytes");
	raw_begin(UINT32_MAX);
	msgpack_pack_array(&pk, 1), msgpack_pack_true(&pk);
	body_refused("policy", "'mask' must be an unsigned integer");
	/* a mask with a bit the policy does not govern, also above 32 bits */
	raw_begin(UINT32_MAX);
	msgpack_pack_array(&pk, 1), msgpack_pack_uint64(&pk, VELD_POLICY_ALL);
	ok(veld__wire_notice_body_decode("policy", (const uint8_t *)sb.data, sb.size, &out));
	assert_int_equal(out.mask, VELD_POLICY_ALL);
	raw_end();
	raw_begin(UINT32_MAX);
	msgpack_pack_array(&pk, 1), msgpack_pack_uint64(&pk, VELD_POLICY_ALL | ungoverned_bit());
	body_refused("policy", "'mask' names a field the policy does not govern");
	raw_begin(UINT32_MAX);
	msgpack_pack_array(&pk, 1), msgpack_pack_uint64(&pk, (1ull << 32) | 1u);
	body_refused("policy", "does not govern");
	/* nesting, trailing bytes, every cut */
	raw_begin(UINT32_MAX);
	msgpack_pack_array(&pk, 1), msgpack_pack_array(&pk, 1), raw_bin(16, 1);
	body_refused("erase", "nesting is deeper than 1");
	raw_cert_body(-1, 5);
	msgpack_pack_nil(&pk);
	body_refused("cert", "trailing");
	raw_cert_body(-1, 5);
	for (size_t cut = 0; cut < sb.size; cut++) {
		uint8_t *c = malloc(cut ? cut : 1);
		memcpy(c, sb.data, cut);
		assert_int_equal(veld__wire_notice_body_decode("cert", c, cut, &out), VELD_EPROTO);
		free(c);
	}
	raw_end();
	/* only a schema's body passes 512 bytes: an erase padded past it is
	 * refused before it is read; a schema needs a document */
	{
		uint8_t big[VELD_NOTICE_SMALL_MAX + 1];
		memset(big, 0xc0, sizeof big); /* nil, nil, ... */
		assert_int_equal(veld__wire_notice_body_decode("erase", big, sizeof big, &out), VELD_EPROTO);
		assert_non_null(strstr(veld_error_last(), "at most 512 bytes"));
	}
	raw_begin(UINT32_MAX);
	msgpack_pack_array(&pk, 2), msgpack_pack_uint64(&pk, 2), msgpack_pack_bin(&pk, 0);
	assert_int_equal(veld__wire_notice_body_decode("schema", (const uint8_t *)sb.data, sb.size, &out),
	                 VELD_EPROTO);
	assert_non_null(strstr(veld_error_last(), "'doc'"));
	raw_end();
	raw_begin(UINT32_MAX);
	msgpack_pack_array(&pk, 2), msgpack_pack_uint64(&pk, 0), raw_bin(4, 1);
	assert_int_equal(veld__wire_notice_body_decode("schema", (const uint8_t *)sb.data, sb.size, &out),
	                 VELD_EPROTO);
	raw_end();
	/* an unknown kind, whatever the body */
	raw_begin(UINT32_MAX);
	msgpack_pack_array(&pk, 1), raw_bin(16, 1);
	ok(veld__wire_notice_body_decode("erase", (const uint8_t *)sb.data, sb.size, &out));
	assert_int_equal(veld__wire_notice_body_decode("grant", (const uint8_t *)sb.data, sb.size,
	                                               &out), VELD_EPROTO);
	assert_non_null(strstr(veld_error_last(), "unknown kind"));
	assert_int_equal(veld__wire_notice_body_decode("Erase", (const uint8_t *)sb.data, sb.size,
	                                               &out), VELD_EPROTO);
	assert_int_equal(veld__wire_notice_body_decode("", (const uint8_t *)sb.data, sb.size, &out),
	                 VELD_EPROTO);
	assert_int_equal(veld__wire_notice_body_decode(NULL, (const uint8_t *)sb.data, sb.size,
	                                               &out), VELD_EPROTO);
	assert_int_equal(veld__notice_kind_of("grant"), 0);
	assert_int_equal(veld__notice_kind_of(NULL), 0);
	raw_end();

	/* The encoder keeps the same rules and leaves the buffer as it was. */
	msgpack_sbuffer_init(&buf);
	msgpack_sbuffer_write(&buf, "ab", 2);
	b = fx_body(VELD_NOTICE_POLICY);
	b.mask = VELD_POLICY_ALL | (uint32_t)ungoverned_bit();
	assert_int_equal(veld__wire_notice_body_encode(&buf, &b), VELD_EINVAL);
	b = fx_body(VELD_NOTICE_CERT);
	snprintf(b.role, sizeof b.role, "admin");
	assert_int_equal(veld__wire_notice_body_encode(&buf, &b), VELD_EINVAL);
	b.kind = 0;
	assert_int_equal(veld__wire_notice_body_encode(&buf, &b), VELD_EINVAL);
	b.kind = VELD_NOTICE_MOVE + 1;
	assert_int_equal(veld__wire_notice_body_encode(&buf, &b), VELD_EINVAL);
	/* a schema needs a version and a document of at most 128 KiB */
	b = fx_body(VELD_NOTICE_SCHEMA);
	b.version = 0;
	assert_int_equal(veld__wire_notice_body_encode(&buf, &b), VELD_EINVAL);
	b = fx_body(VELD_NOTICE_SCHEMA);
	b.doc_len = VELD_SCHEMA_DOC_MAX + 1;
	assert_int_equal(veld__wire_notice_body_encode(&buf, &b), VELD_EINVAL);
	assert_int_equal(buf.size, 2);
	msgpack_sbuffer_destroy(&buf);
}

/* A move's body: [bin16 client, str to_team], and nothing else. */
static void test_wire__move_notice_body_refuses_what_the_protocol_refuses(void **state)
{
	struct veld__notice_body b, out;
	msgpack_sbuffer buf;
	(void)state;
	raw_begin(UINT32_MAX);
	msgpack_pack_array(&pk, 2), raw_bin(16, 1), raw_str("zuid");
	ok(veld__wire_notice_body_decode("move", (const uint8_t *)sb.data, sb.size, &out));
	assert_string_equal(out.to_team, "zuid");
	raw_end();
	/* a team name outside [A-Za-z0-9._@-]{1,64}, never repeated in the error */
	raw_begin(UINT32_MAX);
	msgpack_pack_array(&pk, 2), raw_bin(16, 1), raw_str("CANARY zuid");
	body_refused("move", "'to_team' must be 1 to 64");
	assert_null(strstr(veld_error_last(), "CANARY"));
	raw_begin(UINT32_MAX);
	msgpack_pack_array(&pk, 2), raw_bin(16, 1), raw_str("");
	body_refused("move", "'to_team'");
	raw_begin(UINT32_MAX);
	msgpack_pack_array(&pk, 2), raw_bin(16, 1), raw_str("*");
	body_refused("move", "'to_team'");
	{
		char t[66];
		memset(t, 'a', 65);
		t[65] = 0;
		raw_begin(UINT32_MAX);
		msgpack_pack_array(&pk, 2), raw_bin(16, 1), raw_str(t);
		body_refused("move", "'to_team'");
	}
	/* the team as a bin, the client of another size, or missing */
	raw_begin(UINT32_MAX);
	msgpack_pack_array(&pk, 2), raw_bin(16, 1), raw_bin(4, 2);
	body_refused("move", "'to_team'");
	raw_begin(UINT32_MAX);
	msgpack_pack_array(&pk, 2), raw_bin(15, 1), raw_str("zuid");
	body_refused("move", "'client'");
	raw_begin(UINT32_MAX);
	msgpack_pack_array(&pk, 1), raw_bin(16, 1);
	body_refused("move", "exactly one array of 2 elements");
	raw_begin(UINT32_MAX);
	msgpack_pack_array(&pk, 3), raw_bin(16, 1), raw_str("zuid"), raw_str("x");
	body_refused("move", "notice body");
	/* an erasure's body is no move, a move's no erasure */
	raw_begin(UINT32_MAX);
	msgpack_pack_array(&pk, 1), raw_bin(16, 1);
	body_refused("move", "notice body");
	raw_begin(UINT32_MAX);
	msgpack_pack_array(&pk, 2), raw_bin(16, 1), raw_str("zuid");
	body_refused("erase", "notice body");
	/* the encoder refuses what the decoder would, leaving the buffer */
	msgpack_sbuffer_init(&buf);
	msgpack_sbuffer_write(&buf, "ab", 2);
	b = fx_body(VELD_NOTICE_MOVE);
	snprintf(b.to_team, sizeof b.to_team, "no team");
	assert_int_equal(veld__wire_notice_body_encode(&buf, &b), VELD_EINVAL);
	b.to_team[0] = 0;
	assert_int_equal(veld__wire_notice_body_encode(&buf, &b), VELD_EINVAL);
	assert_int_equal(buf.size, 2);
	msgpack_sbuffer_destroy(&buf);
}

/* ---- notices (POST /v1/notice, in pulls) ----------------------------------------- */

static void test_wire__notice_req_round_trip(void **state)
{
	struct veld__notice_req in = fx_notice_req(), out;
	struct veld__wire w;
	msgpack_sbuffer buf;
	(void)state;
	msgpack_sbuffer_init(&buf);
	ok(veld__wire_notice_req_encode(&buf, &in));
	ok(veld__wire_notice_req_decode(&w, (const uint8_t *)buf.data, buf.size, &out));
	assert_int_equal(out.n, NNOTICES);
	for (size_t i = 0; i < NNOTICES; i++) {
		struct veld__notice_body body;
		assert_notice_equal(&in.notices[i], &out.notices[i]);
		/* a body points into the message, and reads as its kind says */
		assert_true(out.notices[i].body > (const uint8_t *)buf.data &&
		            out.notices[i].body < (const uint8_t *)buf.data + buf.size);
		ok(veld__wire_notice_body_decode(out.notices[i].kind, out.notices[i].body,
		                                 out.notices[i].body_len, &body));
		assert_string_equal(veld__notice_kind_name(body.kind), in.notices[i].kind);
	}
	veld__wire_free(&w);
	msgpack_sbuffer_destroy(&buf);
	/* none at all is a message too */
	in.n = 0;
	msgpack_sbuffer_init(&buf);
	ok(veld__wire_notice_req_encode(&buf, &in));
	ok(veld__wire_notice_req_decode(&w, (const uint8_t *)buf.data, buf.size, &out));
	assert_int_equal(out.n, 0);
	veld__wire_free(&w);
	msgpack_sbuffer_destroy(&buf);
}

/* One notice as a map, with the given parts (body_len 0: no body key;
 * body_str: the body as a string). */
struct raw_notice {
	const char *team;
	uint64_t n;
	const char *kind;
	uint64_t at;
	size_t body_len;
	int body_str;
	size_t sig_len;
	const char *extra;
};

static const struct raw_notice good_notice = {"north", 1, "erase", 1, 18, 0, 64, NULL};

static void raw_notice_map(const struct raw_notice *r)
{
	msgpack_pack_map(&pk, 4 + (r->body_len > 0) + (r->sig_len > 0) + (r->extra != NULL));
	raw_str("team"), raw_str(r->team);
	raw_str("n"), msgpack_pack_uint64(&pk, r->n);
	raw_str("kind"), raw_str(r->kind);
	raw_str("at"), msgpack_pack_uint64(&pk, r->at);
	if (r->body_len && r->body_str)
		raw_str("body"), raw_str("a body as a string");
	else if (r->body_len)
		raw_str("body"), raw_bin(r->body_len == SIZE_MAX ? 0 : r->body_len, 6);
	if (r->sig_len)
		raw_str("sig"), raw_bin(r->sig_len, 7);
	if (r->extra)
		raw_str(r->extra), msgpack_pack_uint64(&pk, 1);
}

/* {"v":1,"notices":[...]}: `count` notices, or (r NULL) count nils. */
static void raw_notices(const struct raw_notice *r, size_t count)
{
	raw_begin(2);
	raw_v();
	raw_str("notices"), msgpack_pack_array(&pk, (uint32_t)count);
	for (size_t i = 0; i < count; i++)
		if (r)
			raw_notice_map(r);
		else
			msgpack_pack_nil(&pk);
}

static void test_wire__notice_req_refuses_what_the_protocol_refuses(void **state)
{
	struct raw_notice r;
	struct veld__notice_req m;
	msgpack_sbuffer buf;
	(void)state;
	raw_notices(&good_notice, 1);
	assert_accepted_sb(M_NOTICE);
	r = good_notice, r.n = 0;
	raw_notices(&r, 1);
	assert_refused_sb(M_NOTICE, "notice: 'n' must be at least 1");
	r = good_notice, r.at = 0;
	raw_notices(&r, 1);
	assert_refused_sb(M_NOTICE, "notice: 'at' must be at least 1");
	r = good_notice, r.body_len = SIZE_MAX; /* an empty bin */
	raw_notices(&r, 1);
	assert_refused_sb(M_NOTICE, "'body' must be a bin of 1 to 131104 bytes");
	r = good_notice, r.body_len = VELD_NOTICE_BODY_MAX;
	raw_notices(&r, 1);
	assert_accepted_sb(M_NOTICE);
	r = good_notice, r.body_len = VELD_NOTICE_BODY_MAX + 1;
	raw_notices(&r, 1);
	assert_refused_sb(M_NOTICE, "'body' must be a bin of 1 to 131104 bytes");
	r = good_notice, r.body_str = 1;
	raw_notices(&r, 1);
	assert_refused_sb(M_NOTICE, "'body'");
	r = good_notice, r.body_len = 0;
	raw_notices(&r, 1);
	assert_refused_sb(M_NOTICE, "missing 'body'");
	r = good_notice, r.kind = "a-kind-too-long!"; /* 16 bytes */
	raw_notices(&r, 1);
	assert_refused_sb(M_NOTICE, "'kind' is longer than 15 bytes");
	r = good_notice, r.team = "no rth";
	raw_notices(&r, 1);
	assert_refused_sb(M_NOTICE, "'team' must be 1 to 64");
	r = good_notice, r.team = "*";
	raw_notices(&r, 1);
	assert_refused_sb(M_NOTICE, "'team'");
	r = good_notice, r.sig_len = 63;
	raw_notices(&r, 1);
	assert_refused_sb(M_NOTICE, "'sig' must be a bin of 64 bytes");
	r = good_notice, r.sig_len = 0;
	raw_notices(&r, 1);
	assert_refused_sb(M_NOTICE, "missing 'sig'");
	r = good_notice, r.extra = "note";
	raw_notices(&r, 1);
	assert_refused_sb(M_NOTICE, "notice: unknown key");
	raw_notices(&good_notice, VELD_WIRE_MAX_NOTICES);
	assert_accepted_sb(M_NOTICE);
	/* 1001 notices hold more values than the largest message: the scan
	 * refuses them before the count, which 1001 small entries reach */
	raw_notices(&good_notice, VELD_WIRE_MAX_NOTICES + 1);
	assert_refused_sb(M_NOTICE, "notices:");
	raw_notices(NULL, VELD_WIRE_MAX_NOTICES + 1);
	assert_refused_sb(M_NOTICE, "'notices' has more than 1000 entries");

	/* the encoder keeps the same rules */
	msgpack_sbuffer_init(&buf);
	msgpack_sbuffer_write(&buf, "ab", 2);
	for (int c = 0; c < 5; c++) {
		m = fx_notice_req();
		switch (c) {
		case 0: fx_notices[1].n = 0; break;
		case 1: fx_notices[1].at = 0; break;
		case 2: fx_notices[1].body_len = 0; break;
		case 3: fx_notices[1].body = NULL; break;
		default: fx_notices[1].body_len = VELD_NOTICE_BODY_MAX + 1; break;
		}
		assert_int_equal(veld__wire_notice_req_encode(&buf, &m), VELD_EINVAL);
		assert_int_equal(buf.size, 2);
	}
	msgpack_sbuffer_destroy(&buf);
}

/* ---- checkpoints (POST /v1/checkpoint, in pulls) ------------------------------------- */

static void test_wire__checkpoint_req_round_trip(void **state)
{
	struct veld__checkpoint_req in = fx_checkpoint_req(), out;
	struct veld__wire w;
	msgpack_sbuffer buf;
	(void)state;
	msgpack_sbuffer_init(&buf);
	ok(veld__wire_checkpoint_req_encode(&buf, &in));
	ok(veld__wire_checkpoint_req_decode(&w, (const uint8_t *)buf.data, buf.size, &out));
	assert_int_equal(out.n, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_checkpoint_equal(&in.checkpoints[i], &out.checkpoints[i]);
		assert_true(out.checkpoints[i].heads > (const uint8_t *)buf.data &&
		            out.checkpoints[i].heads < (const uint8_t *)buf.data + buf.size);
	}
	assert_true(out.checkpoints[1].n == UINT64_MAX && out.checkpoints[0].n == 0);
	veld__wire_free(&w);
	msgpack_sbuffer_destroy(&buf);
}

struct raw_cp {
	const char *team;
	uint64_t at, n;
	size_t heads_len; /* 0: no heads key */
	int heads_str;
	size_t sig_len;
};

static const struct raw_cp good_cp = {"north", 1, 0, 24, 0, 64};

static void raw_cp_map(const struct raw_cp *r)
{
	msgpack_pack_map(&pk, 3 + (r->heads_len > 0) + (r->sig_len > 0));
	raw_str("team"), raw_str(r->team);
	raw_str("at"), msgpack_pack_uint64(&pk, r->at);
	raw_str("n"), msgpack_pack_uint64(&pk, r->n);
	if (r->heads_len && r->heads_str)
		raw_str("heads"), raw_str("heads");
	else if (r->heads_len)
		raw_str("heads"), raw_bin(r->heads_len == SIZE_MAX ? 0 : r->heads_len, 8);
	if (r->sig_len)
		raw_str("sig"), raw_bin(r->sig_len, 9);
}

/* {"v":1,"checkpoints":[...]}: `count` checkpoints, or (r NULL) count nils. */
static void raw_checkpoints(const struct raw_cp *r, size_t count)
{
	raw_begin(2);
	raw_v();
	raw_str("checkpoints"), msgpack_pack_array(&pk, (uint32_t)count);
	for (size_t i = 0; i < count; i++)
		if (r)
			raw_cp_map(r);
		else
			msgpack_pack_nil(&pk);
}

static void test_wire__checkpoint_req_refuses_what_the_protocol_refuses(void **state)
{
	struct raw_cp r;
	struct veld__checkpoint_req m;
	msgpack_sbuffer buf;
	(void)state;
	raw_checkpoints(&good_cp, 1); /* n 0: no notice yet */
	assert_accepted_sb(M_CHECKPOINT);
	r = good_cp, r.at = 0;
	raw_checkpoints(&r, 1);
	assert_refused_sb(M_CHECKPOINT, "checkpoint: 'at' must be at least 1");
	/* heads: at most VELD_WIRE_MAX_HEADS authors of 24 bytes */
	r = good_cp, r.heads_len = 24 * VELD_WIRE_MAX_HEADS;
	raw_checkpoints(&r, 1);
	assert_accepted_sb(M_CHECKPOINT);
	r = good_cp, r.heads_len = 24 * VELD_WIRE_MAX_HEADS + 1;
	raw_checkpoints(&r, 1);
	assert_refused_sb(M_CHECKPOINT, "'heads' must be a bin of 0 to 240000 bytes");
	/* A team without authors yet: no heads, the notices still count. */
	r = good_cp, r.heads_len = SIZE_MAX;
	raw_checkpoints(&r, 1);
	assert_accepted_sb(M_CHECKPOINT);
	r = good_cp, r.heads_len = 25;
	raw_checkpoints(&r, 1);
	assert_refused_sb(M_CHECKPOINT, "'heads'");
	r = good_cp, r.heads_str = 1;
	raw_checkpoints(&r, 1);
	assert_refused_sb(M_CHECKPOINT, "'heads'");
	r = good_cp, r.heads_len = 0;
	raw_checkpoints(&r, 1);
	assert_refused_sb(M_CHECKPOINT, "missing 'heads'");
	r = good_cp, r.team = "team:north";
	raw_checkpoints(&r, 1);
	assert_refused_sb(M_CHECKPOINT, "'team'");
	r = good_cp, r.sig_len = 65;
	raw_checkpoints(&r, 1);
	assert_refused_sb(M_CHECKPOINT, "'sig' must be a bin of 64 bytes");
	raw_checkpoints(&good_cp, VELD_WIRE_MAX_NOTICES);
	assert_accepted_sb(M_CHECKPOINT);
	raw_checkpoints(&good_cp, VELD_WIRE_MAX_NOTICES + 1);
	assert_refused_sb(M_CHECKPOINT, "checkpoints:");
	raw_checkpoints(NULL, VELD_WIRE_MAX_NOTICES + 1);
	assert_refused_sb(M_CHECKPOINT, "'checkpoints' has more than 1000 entries");

	/* the encoder keeps the same rules */
	msgpack_sbuffer_init(&buf);
	msgpack_sbuffer_write(&buf, "ab", 2);
	for (int c = 0; c < 3; c++) {
		m = fx_checkpoint_req();
		switch (c) {
		case 0: fx_cps[1].at = 0; break;
		case 1: fx_cps[1].heads_len = 24 * VELD_WIRE_MAX_HEADS + 1; break;
		default: snprintf(fx_cps[1].team, sizeof fx_cps[1].team, "a/b"); break;
		}
		assert_int_equal(veld__wire_checkpoint_req_encode(&buf, &m), VELD_EINVAL);
		assert_int_equal(buf.size, 2);
	}
	msgpack_sbuffer_destroy(&buf);
}

/* ---- pulls: stubs, held, notices, the checkpoint ------------------------------------ */

static void test_wire__pull_checkpoint_is_there_only_when_set(void **state)
{
	struct veld__pull_resp in = fx_pull(), out;
	struct veld__wire w;
	msgpack_sbuffer buf;
	(void)state;
	in.has_checkpoint = 0;
	msgpack_sbuffer_init(&buf);
	ok(veld__wire_pull_resp_encode(&buf, &in));
	assert_false(contains(buf.data, buf.size, "checkpoint", 10));
	ok(veld__wire_pull_resp_decode(&w, (const uint8_t *)buf.data, buf.size, &out));
	assert_int_equal(out.has_checkpoint, 0);
	veld__wire_free(&w);
	msgpack_sbuffer_destroy(&buf);
	/* a bad checkpoint in a pull is refused with the pull */
	raw_begin(13);
	raw_v();
	raw_pull_rest(0);
	raw_str("checkpoint");
	{
		struct raw_cp r = good_cp;
		r.at = 0;
		raw_cp_map(&r);
	}
	assert_refused_sb(M_PULL, "pull checkpoint: 'at' must be at least 1");
	raw_begin(13);
	raw_v();
	raw_pull_rest(0);
	raw_str("checkpoint"), raw_cp_map(&good_cp);
	ok(veld__wire_pull_resp_decode(&w, (const uint8_t *)sb.data, sb.size, &out));
	assert_int_equal(out.has_checkpoint, 1);
	assert_string_equal(out.checkpoint.team, "north");
	assert_int_equal(out.checkpoint.heads_len, 24);
	veld__wire_free(&w);
	raw_end();
}

/* [cursor, stub] with the given parts. */
static void raw_stub(uint64_t seq, const char *team, size_t kh_len)
{
	msgpack_pack_array(&pk, 2);
	msgpack_pack_uint64(&pk, 3);
	msgpack_pack_map(&pk, 5);
	raw_str("device"), raw_bin(16, 1);
	raw_str("seq"), msgpack_pack_uint64(&pk, seq);
	raw_str("team"), raw_str(team);
	raw_str("client"), raw_bin(16, 2);
	raw_str("kh"), raw_bin(kh_len, 3);
}

/* [cursor, held] with the given parts (field NULL: left out). */
static void raw_held(const char *kind, const char *field, size_t rh_len)
{
	msgpack_pack_array(&pk, 2);
	msgpack_pack_uint64(&pk, 4);
	msgpack_pack_map(&pk, field ? 7 : 6);
	raw_str("device"), raw_bin(16, 1);
	raw_str("seq"), msgpack_pack_uint64(&pk, 9);
	raw_str("team"), raw_str("north");
	raw_str("client"), raw_bin(16, 2);
	raw_str("kind"), raw_str(kind);
	if (field)
		raw_str("field"), raw_str(field);
	raw_str("rh"), raw_bin(rh_len, 3);
}

static void raw_pull_stub(uint64_t seq, const char *team, size_t kh_len)
{
	raw_begin(12);
	raw_v();
	raw_str("ops"), msgpack_pack_array(&pk, 0);
	raw_str("stubs"), msgpack_pack_array(&pk, 1);
	raw_stub(seq, team, kh_len);
	raw_pull_rest(2);
}

static void raw_pull_held(const char *kind, const char *field, size_t rh_len)
{
	raw_begin(12);
	raw_v();
	raw_str("ops"), msgpack_pack_array(&pk, 0);
	raw_str("stubs"), msgpack_pack_array(&pk, 0);
	raw_str("held"), msgpack_pack_array(&pk, 1);
	raw_held(kind, field, rh_len);
	raw_pull_rest(3);
}

static void test_wire__pull_refuses_bad_stubs_held_and_notices(void **state)
{
	char longfield[VELD_FIELD_MAX + 2];
	(void)state;
	raw_pull_stub(1, "north", 32);
	assert_accepted_sb(M_PULL);
	raw_pull_stub(0, "north", 32);
	assert_refused_sb(M_PULL, "pull stub: 'seq' must be at least 1");
	raw_pull_stub(1, "", 32);
	assert_refused_sb(M_PULL, "pull stub: 'team'");
	raw_pull_stub(1, "north", 31);
	assert_refused_sb(M_PULL, "pull stub: 'kh' must be a bin of 32 bytes");
	/* a stub without its cursor */
	raw_begin(12);
	raw_v();
	raw_str("ops"), msgpack_pack_array(&pk, 0);
	raw_str("stubs"), msgpack_pack_array(&pk, 1);
	msgpack_pack_map(&pk, 0);
	raw_pull_rest(2);
	assert_refused_sb(M_PULL, "'stubs' entries must be [cursor, value]");

	raw_pull_held("client", "phone", 32);
	assert_accepted_sb(M_PULL);
	raw_pull_held("in voice", "phone", 32);
	assert_refused_sb(M_PULL, "pull held: 'kind' must be 1 to 16 of a-z, 0-9, _ (a letter first)");
	memset(longfield, 'f', sizeof longfield);
	longfield[VELD_FIELD_MAX + 1] = 0;
	raw_pull_held("client", longfield, 32);
	assert_refused_sb(M_PULL, "pull held: 'field' is longer than 64 bytes");
	raw_pull_held("client", NULL, 32);
	assert_refused_sb(M_PULL, "pull held: missing 'field'");
	raw_pull_held("client", "phone", 33);
	assert_refused_sb(M_PULL, "pull held: 'rh' must be a bin of 32 bytes");

	/* a notice of a pull: a [cursor, notice] pair with the notice's rules */
	raw_begin(12);
	raw_v();
	{
		static const char *const lists[] = {"ops", "stubs", "held", "batches", "envelopes",
		                                    "team_keys"};
		struct raw_notice r = good_notice;
		for (int i = 0; i < 6; i++)
			raw_str(lists[i]), msgpack_pack_array(&pk, 0);
		raw_str("notices"), msgpack_pack_array(&pk, 1);
		msgpack_pack_array(&pk, 2), msgpack_pack_uint64(&pk, 5);
		r.n = 0;
		raw_notice_map(&r);
		raw_str("next"), msgpack_pack_uint64(&pk, 0);
		raw_str("env_next"), msgpack_pack_uint64(&pk, 0);
		raw_str("notice_next"), msgpack_pack_uint64(&pk, 5);
		raw_str("more"), msgpack_pack_false(&pk);
	}
	assert_refused_sb(M_PULL, "pull notice: 'n' must be at least 1");
}

/* A pull page of `nops` operations, `nstubs` stubs and `nheld` held. */
static void raw_pull_page(size_t nops, size_t nstubs, size_t nheld)
{
	raw_begin(12);
	raw_v();
	raw_str("ops"), msgpack_pack_array(&pk, (uint32_t)nops);
	for (size_t i = 0; i < nops; i++) {
		msgpack_pack_array(&pk, 2);
		msgpack_pack_uint64(&pk, 1 + i);
		veld__wire_pack_op(&pk, &fx_ops[2]);
	}
	raw_str("stubs"), msgpack_pack_array(&pk, (uint32_t)nstubs);
	for (size_t i = 0; i < nstubs; i++)
		raw_stub(1, "north", 32);
	raw_str("held"), msgpack_pack_array(&pk, (uint32_t)nheld);
	for (size_t i = 0; i < nheld; i++)
		raw_held("client", "phone", 32);
	raw_pull_rest(3);
}

static void test_wire__pull_refuses_more_than_a_page_of_ops_stubs_and_held(void **state)
{
	const size_t half = VELD_WIRE_MAX_PAGE / 2;
	struct veld__pull_resp m;
	msgpack_sbuffer buf;
	(void)state;
	make_ops();
	raw_pull_page(0, half, VELD_WIRE_MAX_PAGE - half);
	assert_accepted_sb(M_PULL);
	raw_pull_page(0, half, VELD_WIRE_MAX_PAGE - half + 1);
	assert_refused_sb(M_PULL, "pull: more than 5000 operations and stubs");
	raw_pull_page(1, half, VELD_WIRE_MAX_PAGE - half);
	assert_refused_sb(M_PULL, "pull: more than 5000 operations and stubs");
	raw_pull_page(2, 0, VELD_WIRE_MAX_PAGE - 1);
	assert_refused_sb(M_PULL, "more than 5000 operations and stubs");
	raw_pull_page(0, VELD_WIRE_MAX_PAGE + 1, 0);
	assert_refused_sb(M_PULL, "'stubs' has more than 5000 entries");

	/* the encoder too */
	m = fx_pull(); /* 4 ops, 2 stubs, 2 held */
	m.stubs = calloc(VELD_WIRE_MAX_PAGE, sizeof *m.stubs);
	m.stub_cursors = calloc(VELD_WIRE_MAX_PAGE, sizeof *m.stub_cursors);
	for (size_t i = 0; i < VELD_WIRE_MAX_PAGE; i++)
		m.stubs[i] = fx_stubs[0];
	m.nstubs = VELD_WIRE_MAX_PAGE - NOPS - 2;
	msgpack_sbuffer_init(&buf);
	ok(veld__wire_pull_resp_encode(&buf, &m));
	msgpack_sbuffer_destroy(&buf);
	m.nstubs++;
	msgpack_sbuffer_init(&buf);
	assert_int_equal(veld__wire_pull_resp_encode(&buf, &m), VELD_EINVAL);
	assert_non_null(strstr(veld_error_last(), "more than 5000 operations and stubs"));
	assert_int_equal(buf.size, 0);
	msgpack_sbuffer_destroy(&buf);
	free(m.stubs);
	free(m.stub_cursors);
}

/* ---- the new fields of the other messages ----------------------------------------- */

static void test_wire__envelopes_carry_from_and_sig(void **state)
{
	(void)state;
	raw_push_with_env("office", 16, 64);
	assert_accepted_sb(M_PUSH);
	raw_push_with_env("office", 15, 64);
	assert_refused_sb(M_PUSH, "push envelope: 'from' must be a bin of 16 bytes");
	raw_push_with_env("office", 16, 63);
	assert_refused_sb(M_PUSH, "push envelope: 'sig' must be a bin of 64 bytes");
	raw_push_with_env("office", 0, 64);
	assert_refused_sb(M_PUSH, "push envelope: missing 'from'");
	raw_push_with_env("office", 16, 0);
	assert_refused_sb(M_PUSH, "push envelope: missing 'sig'");
	/* the same envelope in a pull */
	raw_begin(12);
	raw_v();
	{
		static const char *const lists[] = {"ops", "stubs", "held", "batches"};
		for (int i = 0; i < 4; i++)
			raw_str(lists[i]), msgpack_pack_array(&pk, 0);
	}
	raw_str("envelopes"), msgpack_pack_array(&pk, 1);
	msgpack_pack_array(&pk, 2), msgpack_pack_uint64(&pk, 1);
	msgpack_pack_map(&pk, 6);
	raw_str("client"), raw_bin(16, 1);
	raw_str("kv"), msgpack_pack_uint64(&pk, 1);
	raw_str("to"), raw_str("office");
	raw_str("tv"), msgpack_pack_uint64(&pk, 0);
	raw_str("sealed"), raw_bin(80, 2);
	raw_str("from"), raw_bin(16, 3);
	raw_str("team_keys"), msgpack_pack_array(&pk, 0);
	raw_str("notices"), msgpack_pack_array(&pk, 0);
	raw_str("next"), msgpack_pack_uint64(&pk, 0);
	raw_str("env_next"), msgpack_pack_uint64(&pk, 1);
	raw_str("notice_next"), msgpack_pack_uint64(&pk, 0);
	raw_str("more"), msgpack_pack_false(&pk);
	assert_refused_sb(M_PULL, "pull envelope: missing 'sig'");
}

static void test_wire__team_keys_carry_the_office_sig(void **state)
{
	(void)state;
	/* POST /v1/team-keys */
	for (int c = 0; c < 2; c++) {
		raw_begin(c ? 6 : 5);
		raw_v();
		raw_str("team"), raw_str("north");
		raw_str("tv"), msgpack_pack_uint64(&pk, 1);
		raw_str("pk"), raw_bin(32, 1);
		if (c)
			raw_str("sig"), raw_bin(32, 2);
		raw_str("sealed"), msgpack_pack_array(&pk, 0);
		assert_refused_sb(M_TEAM_KEYS, c ? "team-keys: 'sig' must be a bin of 64 bytes"
		                                 : "team-keys: missing 'sig'");
	}
	/* in a pull */
	raw_begin(12);
	raw_v();
	{
		static const char *const lists[] = {"ops", "stubs", "held", "batches", "envelopes"};
		for (int i = 0; i < 5; i++)
			raw_str(lists[i]), msgpack_pack_array(&pk, 0);
	}
	raw_str("team_keys"), msgpack_pack_array(&pk, 1);
	msgpack_pack_map(&pk, 4);
	raw_str("team"), raw_str("north");
	raw_str("tv"), msgpack_pack_uint64(&pk, 1);
	raw_str("pk"), raw_bin(32, 1);
	raw_str("sealed"), raw_bin(80, 2);
	raw_str("notices"), msgpack_pack_array(&pk, 0);
	raw_str("next"), msgpack_pack_uint64(&pk, 0);
	raw_str("env_next"), msgpack_pack_uint64(&pk, 0);
	raw_str("notice_next"), msgpack_pack_uint64(&pk, 0);
	raw_str("more"), msgpack_pack_false(&pk);
	assert_refused_sb(M_PULL, "pull team key: missing 'sig'");
}

static void test_wire__batch_ver_is_at_least_1(void **state)
{
	struct veld__pull_resp m;
	msgpack_sbuffer buf;
	(void)state;
	for (uint64_t v = 1; v <= 2; v++) {
		raw_pull_with_batch_ver(5, 7, 96, v);
		assert_accepted_sb(M_PULL);
	}
	raw_pull_with_batch_ver(5, 7, 96, 0);
	assert_refused_sb(M_PULL, "pull batch: 'ver' must be at least 1");
	/* and it is not optional */
	raw_begin(12);
	raw_v();
	raw_str("ops"), msgpack_pack_array(&pk, 0);
	raw_str("stubs"), msgpack_pack_array(&pk, 0);
	raw_str("held"), msgpack_pack_array(&pk, 0);
	raw_str("batches"), msgpack_pack_array(&pk, 1);
	msgpack_pack_map(&pk, 5);
	raw_str("device"), raw_bin(16, 1);
	raw_str("first"), msgpack_pack_uint64(&pk, 1);
	raw_str("last"), msgpack_pack_uint64(&pk, 1);
	raw_str("sig"), raw_bin(64, 2);
	raw_str("hashes"), raw_bin(32, 3);
	raw_pull_rest(4);
	assert_refused_sb(M_PULL, "pull batch: missing 'ver'");
	/* the encoder */
	m = fx_pull();
	fx_batches[0].ver = 0;
	msgpack_sbuffer_init(&buf);
	assert_int_equal(veld__wire_pull_resp_encode(&buf, &m), VELD_EINVAL);
	assert_non_null(strstr(veld_error_last(), "'ver'"));
	assert_int_equal(buf.size, 0);
	msgpack_sbuffer_destroy(&buf);
}

static void test_wire__enroll_carries_the_proof(void **state)
{
	(void)state;
	for (int c = 0; c < 3; c++) {
		raw_begin(c == 0 ? 6 : 7);
		raw_v();
		raw_str("auth"), raw_bin(32, 1);
		raw_str("device"), raw_bin(16, 2);
		raw_str("sign_pk"), raw_bin(32, 3);
		raw_str("box_pk"), raw_bin(32, 4);
		raw_str("label"), raw_str("x");
		if (c == 1)
			raw_str("proof"), raw_bin(31, 5);
		if (c == 2)
			raw_str("proof"), msgpack_pack_nil(&pk);
		assert_refused_sb(M_ENROLL, c == 0 ? "enroll: missing 'proof'"
		                                   : "enroll: 'proof' must be a bin of 32 bytes");
	}
}

/* {"v":1,"devices":[one worker]} with auth and proof of the given sizes
 * (0: nil). */
static void raw_devices_auth(size_t auth_len, size_t proof_len)
{
	raw_begin(2);
	raw_v();
	raw_str("devices"), msgpack_pack_array(&pk, 1);
	msgpack_pack_map(&pk, 10);
	raw_str("device"), raw_bin(16, 1);
	raw_str("team"), raw_str("north");
	raw_str("role"), raw_str("worker");
	raw_str("label"), raw_str("anna");
	raw_str("sign_pk"), raw_bin(32, 2);
	raw_str("box_pk"), raw_bin(32, 3);
	raw_str("enrolled"), msgpack_pack_uint64(&pk, 1);
	raw_str("revoked"), msgpack_pack_nil(&pk);
	raw_str("auth");
	if (auth_len)
		raw_bin(auth_len, 4);
	else
		msgpack_pack_nil(&pk);
	raw_str("proof");
	if (proof_len)
		raw_bin(proof_len, 5);
	else
		msgpack_pack_nil(&pk);
}

static void test_wire__devices_auth_and_proof_are_both_nil_or_both_set(void **state)
{
	struct veld__devices_resp out;
	struct veld__wire w;
	uint8_t expect[32];
	(void)state;
	raw_devices_auth(0, 0);
	ok(veld__wire_devices_resp_decode(&w, (const uint8_t *)sb.data, sb.size, &out));
	assert_int_equal(out.devices[0].has_auth, 0);
	veld__wire_free(&w);
	raw_end();
	raw_devices_auth(32, 32);
	ok(veld__wire_devices_resp_decode(&w, (const uint8_t *)sb.data, sb.size, &out));
	assert_int_equal(out.devices[0].has_auth, 1);
	memset(expect, 4, 32);
	assert_memory_equal(out.devices[0].auth, expect, 32);
	memset(expect, 5, 32);
	assert_memory_equal(out.devices[0].proof, expect, 32);
	veld__wire_free(&w);
	raw_end();
	raw_devices_auth(32, 0);
	assert_refused_sb(M_DEVICES, "devices entry: 'proof' must be nil exactly when 'auth' is nil");
	raw_devices_auth(0, 32);
	assert_refused_sb(M_DEVICES, "devices entry: 'proof' must be nil exactly when 'auth' is nil");
	raw_devices_auth(31, 32);
	assert_refused_sb(M_DEVICES, "devices entry: 'auth' must be nil or a bin of 32 bytes");
	raw_devices_auth(32, 33);
	assert_refused_sb(M_DEVICES, "devices entry: 'proof' must be nil or a bin of 32 bytes");
}

static void test_wire__revoke_answer_carries_acked(void **state)
{
	(void)state;
	raw_begin(2);
	raw_v();
	raw_str("team"), raw_str("north");
	assert_refused_sb(M_REVOKE_RESP, "revoke response: missing 'acked'");
	raw_begin(3);
	raw_v();
	raw_str("team"), raw_str("north");
	raw_str("acked"), msgpack_pack_int64(&pk, -1);
	assert_refused_sb(M_REVOKE_RESP, "revoke response: 'acked' is negative");
	raw_begin(3);
	raw_v();
	raw_str("team"), raw_str("*");
	raw_str("acked"), msgpack_pack_uint64(&pk, 0); /* nothing held of it */
	assert_accepted_sb(M_REVOKE_RESP);
}

/* ---- operation formats 1 and 2 (core/src/op.h) ------------------------------- */

static void test_wire__op_version_1_and_2_accepted_3_refused(void **state)
{
	struct veld__push_req m, out;
	struct veld__wire w;
	msgpack_sbuffer buf;
	veld__op op;
	(void)state;
	make_ops();
	for (uint32_t v = 1; v <= 2; v++) {
		op = fx_ops[1];
		op.version = v;
		veld__op_hash(&op);
		raw_push_of(1, &op);
		ok(veld__wire_push_req_decode(&w, (const uint8_t *)sb.data, sb.size, &out));
		assert_int_equal(out.ops[0].version, v);
		assert_memory_equal(out.ops[0].hash, op.hash, 32); /* hashed by its version */
		veld__wire_free(&w);
		raw_end();
	}
	op = fx_ops[1];
	op.version = 3;
	raw_push_of(1, &op);
	assert_refused_sb(M_PUSH, "'version' must be 1 to 2");
	op.version = 0;
	raw_push_of(1, &op);
	assert_refused_sb(M_PUSH, "'version' must be 1 to 2");
	/* in a pull too */
	raw_begin(12);
	raw_v();
	raw_str("ops"), msgpack_pack_array(&pk, 1);
	msgpack_pack_array(&pk, 2);
	msgpack_pack_uint64(&pk, 1);
	op.version = 3;
	veld__wire_pack_op(&pk, &op);
	raw_pull_rest(1);
	assert_refused_sb(M_PULL, "pull operation: 'version' must be 1 to 2");

	/* The encoder keeps the rule, so a peer never gets an operation it
	 * would refuse (an op struct whose version was never set, say). */
	for (uint32_t v = 0; v <= 3; v += 3) {
		m = fx_push();
		fx_ops[2].version = v;
		msgpack_sbuffer_init(&buf);
		msgpack_sbuffer_write(&buf, "ab", 2);
		assert_int_equal(veld__wire_push_req_encode(&buf, &m), VELD_EINVAL);
		assert_non_null(strstr(veld_error_last(), "'version'"));
		assert_int_equal(buf.size, 2);
		msgpack_sbuffer_destroy(&buf);
	}
}

/* The hash of docs/protocol.md's example operation, computed apart from veld
 * (Python's hashlib over the bytes test_wire__op_layout_is_the_12_element_array
 * pins), so neither format can drift: version 1 is BLAKE2b-256 of the
 * 12-element array, as in veld 0.1. */
static void test_wire__op_hash_known_answers_for_both_formats(void **state)
{
	static const uint8_t v1[32] = {
		0xd8, 0x04, 0xd9, 0x2a, 0xcb, 0x6f, 0x80, 0x94, 0x4c, 0x58, 0xfe,
		0xe5, 0x8c, 0x91, 0x00, 0x8c, 0x96, 0xbf, 0xf2, 0x9d, 0xe8, 0x0c,
		0x1b, 0x9e, 0x4f, 0x67, 0x7b, 0x01, 0x98, 0x02, 0x22, 0x1a};
	static const uint8_t v2[32] = {
		0x3b, 0x55, 0xde, 0xad, 0x15, 0xa6, 0xa8, 0x56, 0x88, 0xf4, 0x70,
		0xbc, 0x26, 0x5e, 0xf7, 0xfc, 0x94, 0x2e, 0x59, 0xc6, 0xa1, 0xa1,
		0x6f, 0x78, 0x04, 0x07, 0xf8, 0xba, 0x1a, 0xe1, 0xe8, 0xac};
	veld__op a = layout_op(1), b = layout_op(2);
	(void)state;
	veld__op_hash(&a);
	veld__op_hash(&b);
	assert_memory_equal(a.hash, v1, 32);
	assert_memory_equal(b.hash, v2, 32);
}

static void test_wire__op_hash_v1_is_blake2b_of_the_12_element_array(void **state)
{
	(void)state;
	make_ops();
	for (int i = 1; i < NOPS; i += 2) {
		veld__op op = fx_ops[i];
		msgpack_sbuffer buf;
		msgpack_packer p;
		uint8_t h[32];
		assert_int_equal(op.version, 1);
		msgpack_sbuffer_init(&buf);
		msgpack_packer_init(&p, &buf, msgpack_sbuffer_write);
		ok(veld__op_pack(&p, &op));
		crypto_generichash(h, 32, (const uint8_t *)buf.data, buf.size, NULL, 0);
		assert_memory_equal(op.hash, h, 32);
		spec_hash(&op, h);
		assert_memory_equal(op.hash, h, 32);
		/* the same operation in format 2 has another hash */
		op.version = 2;
		veld__op_hash(&op);
		assert_memory_not_equal(op.hash, fx_ops[i].hash, 32);
		msgpack_sbuffer_destroy(&buf);
	}
}

static void test_wire__op_hash_v2_is_its_three_layers(void **state)
{
	(void)state;
	make_ops();
	for (int i = 0; i < NOPS; i += 2) { /* a value, then a tombstone */
		const veld__op *op = &fx_ops[i];
		uint8_t vh[32], rh[32], kh[32], h[32], lrh[32], lkh[32];
		assert_int_equal(op->version, 2);
		if (op->value)
			crypto_generichash(vh, 32, op->value, op->value_len, NULL, 0);
		veld__op_rest_hash(op, op->value ? vh : NULL, rh);
		veld__op_kind_hash(op->kind, op->field, rh, kh);
		veld__op_hash2(op->team, op->client, kh, h);
		assert_memory_equal(op->hash, h, 32);
		/* the layers a stub shows are those of the whole operation */
		veld__op_layers(op, lrh, lkh);
		assert_memory_equal(lrh, rh, 32);
		assert_memory_equal(lkh, kh, 32);
		/* and the format is the one op.h writes down */
		spec_hash(op, h);
		assert_memory_equal(op->hash, h, 32);
	}
	/* rest_hash does not read the value, only its hash */
	{
		veld__op op = fx_ops[0];
		uint8_t vh[32], a[32], b[32];
		crypto_generichash(vh, 32, op.value, op.value_len, NULL, 0);
		veld__op_rest_hash(&op, vh, a);
		op.value = NULL;
		op.value_len = 0;
		veld__op_rest_hash(&op, vh, b);
		assert_memory_equal(a, b, 32);
	}
}

/* Every part of a version 2 operation is under its hash; and each layer
 * holds only its own parts, so a stub (team, client, kh) or a held field
 * (team, client, kind, field, rh) still proves the rest. */
static void test_wire__op_hash_v2_changes_with_every_field(void **state)
{
	enum { TEAM, CLIENT, KIND, FIELD, DEVICE, ENTITY, KV, SEQ, HLC, VALUE, TOMB, SUP_DEV,
	       SUP_SEQ, SUP_DROP, NCHANGES };
	static const char *const names[NCHANGES] = {
		"team", "client", "kind", "field", "device", "entity", "kv", "seq", "hlc",
		"value byte", "value to tombstone", "supersedes device", "supersedes seq",
		"a supersedes entry"};
	veld__op base;
	uint8_t brh[32], bkh[32];
	(void)state;
	make_ops();
	base = fx_ops[0];
	base.nsup = 2;
	base.sup = fx_sups[1];
	for (size_t k = 0; k < 2; k++) {
		fill(fx_sups[1][k].device, VELD_ID_BYTES, 50u + (unsigned)k);
		fx_sups[1][k].seq = 10 + k;
	}
	veld__op_hash(&base);
	veld__op_layers(&base, brh, bkh);
	for (int c = 0; c < NCHANGES; c++) {
		veld__op op = base;
		veld__ref sup[2];
		uint8_t val[300], rh[32], kh[32];
		memcpy(sup, base.sup, sizeof sup);
		memcpy(val, base.value, base.value_len);
		op.sup = sup;
		op.value = val;
		switch (c) {
		case TEAM: op.team[0] ^= 0x20; break;
		case CLIENT: op.client[15] ^= 1; break;
		case KIND: strcpy(op.kind, "visit"); break;
		case FIELD: op.field[0] ^= 0x20; break;
		case DEVICE: op.device[0] ^= 1; break;
		case ENTITY: op.entity[7] ^= 1; break;
		case KV: op.kv ^= 1ull << 40; break;
		case SEQ: op.seq += 1; break;
		case HLC: op.hlc ^= 1; break;
		case VALUE: val[op.value_len - 1] ^= 0x80; break;
		case TOMB: op.value = NULL, op.value_len = 0; break;
		case SUP_DEV: sup[1].device[3] ^= 1; break;
		case SUP_SEQ: sup[0].seq += 1; break;
		default: op.nsup = 1; break;
		}
		veld__op_hash(&op);
		if (memcmp(op.hash, base.hash, 32) == 0)
			fail_msg("changing the %s leaves the hash as it was", names[c]);
		veld__op_layers(&op, rh, kh);
		/* team and client are in the outer layer only */
		if ((c == TEAM || c == CLIENT) && (memcmp(rh, brh, 32) || memcmp(kh, bkh, 32)))
			fail_msg("the %s reaches an inner layer", names[c]);
		/* kind and field in the middle one */
		if ((c == KIND || c == FIELD) && (memcmp(rh, brh, 32) || !memcmp(kh, bkh, 32)))
			fail_msg("the %s is not in kh alone", names[c]);
		/* everything else in rh */
		if (c >= DEVICE && !memcmp(rh, brh, 32))
			fail_msg("the %s is not in rh", names[c]);
	}
}

/* ---- signatures and proofs (auth.h) ------------------------------------------- */

/* Flip one bit of byte i of n bytes at p. */
static void flip(void *p, size_t i)
{
	((uint8_t *)p)[i] ^= 0x01;
}

struct notice_in {
	char team[VELD_TEAM_MAX + 1];
	uint64_t n;
	char kind[16];
	uint64_t at;
	uint8_t body[40];
};

static int notice_verify(const uint8_t signer[32], const struct notice_in *x, const uint8_t sig[64])
{
	return veld__notice_sig_verify(signer, x->team, x->n, x->kind, x->at, x->body, sizeof x->body,
	                               sig);
}

static void test_wire__notice_signature_binds_every_input(void **state)
{
	struct notice_in x, y;
	uint8_t signer[32], signer_sk[64], other[32], other_sk[64], msg[VELD_NOTICE_SIG_MSG_MAX], sig[64];
	uint8_t expect[VELD_NOTICE_SIG_MSG_MAX];
	size_t n, e = 0;
	(void)state;
	crypto_sign_keypair(signer, signer_sk);
	crypto_sign_keypair(other, other_sk);
	memset(&x, 0, sizeof x);
	snprintf(x.team, sizeof x.team, "north");
	x.n = 7;
	snprintf(x.kind, sizeof x.kind, "cert");
	x.at = 1700000000000ull;
	fill(x.body, sizeof x.body, 3);
	n = veld__notice_sig_message(msg, x.team, x.n, x.kind, x.at, x.body, sizeof x.body);
	/* "veld-notice-v1" || u8 len(team) || team || BE64(n) || u8 len(kind) ||
	 * kind || BE64(at) || H(body) */
	memcpy(expect, "veld-notice-v1", 14), e = 14;
	expect[e++] = 5, memcpy(expect + e, "north", 5), e += 5;
	veld__be64_put(expect + e, 7), e += 8;
	expect[e++] = 4, memcpy(expect + e, "cert", 4), e += 4;
	veld__be64_put(expect + e, x.at), e += 8;
	crypto_generichash(expect + e, 32, x.body, sizeof x.body, NULL, 0), e += 32;
	assert_int_equal(n, e);
	assert_memory_equal(msg, expect, e);
	crypto_sign_detached(sig, NULL, msg, n, signer_sk);
	assert_int_equal(notice_verify(signer, &x, sig), 0);
	assert_int_equal(notice_verify(other, &x, sig), -1); /* another key */
	for (size_t i = 0; i < strlen(x.team); i++)
		y = x, flip(y.team, i), assert_int_equal(notice_verify(signer, &y, sig), -1);
	for (size_t i = 0; i < 8; i++)
		y = x, y.n ^= 1ull << (8 * i), assert_int_equal(notice_verify(signer, &y, sig), -1);
	for (size_t i = 0; i < strlen(x.kind); i++)
		y = x, flip(y.kind, i), assert_int_equal(notice_verify(signer, &y, sig), -1);
	for (size_t i = 0; i < 8; i++)
		y = x, y.at ^= 1ull << (8 * i), assert_int_equal(notice_verify(signer, &y, sig), -1);
	for (size_t i = 0; i < sizeof x.body; i++)
		y = x, flip(y.body, i), assert_int_equal(notice_verify(signer, &y, sig), -1);
	for (size_t i = 0; i < 64; i++) {
		uint8_t s2[64];
		memcpy(s2, sig, 64);
		flip(s2, i);
		assert_int_equal(notice_verify(signer, &x, s2), -1);
	}
	/* the team's length is part of it: "north" + n is not "nort" + "h"... */
	y = x;
	snprintf(y.team, sizeof y.team, "nort");
	assert_int_equal(notice_verify(signer, &y, sig), -1);
}

struct checkpoint_in {
	char team[VELD_TEAM_MAX + 1];
	uint64_t at, n;
	uint8_t heads[48];
};

static int checkpoint_verify(const uint8_t signer[32], const struct checkpoint_in *x,
                             const uint8_t sig[64])
{
	return veld__checkpoint_sig_verify(signer, x->team, x->at, x->n, x->heads, sizeof x->heads, sig);
}

static void test_wire__checkpoint_signature_binds_every_input(void **state)
{
	struct checkpoint_in x, y;
	uint8_t signer[32], signer_sk[64], other[32], other_sk[64], msg[VELD_CHECKPOINT_SIG_MSG_MAX], sig[64];
	uint8_t expect[VELD_CHECKPOINT_SIG_MSG_MAX];
	size_t n, e;
	(void)state;
	crypto_sign_keypair(signer, signer_sk);
	crypto_sign_keypair(other, other_sk);
	memset(&x, 0, sizeof x);
	memset(x.team, 'z', VELD_TEAM_MAX); /* the longest team */
	x.at = 1700000000000ull;
	x.n = 12;
	fill(x.heads, sizeof x.heads, 4);
	n = veld__checkpoint_sig_message(msg, x.team, x.at, x.n, x.heads, sizeof x.heads);
	/* "veld-checkpoint-v1" || u8 len(team) || team || BE64(at) || BE64(n) ||
	 * H(heads) */
	memcpy(expect, "veld-checkpoint-v1", 18), e = 18;
	expect[e++] = 64, memset(expect + e, 'z', 64), e += 64;
	veld__be64_put(expect + e, x.at), e += 8;
	veld__be64_put(expect + e, x.n), e += 8;
	crypto_generichash(expect + e, 32, x.heads, sizeof x.heads, NULL, 0), e += 32;
	assert_int_equal(n, e);
	assert_true(n <= VELD_CHECKPOINT_SIG_MSG_MAX);
	assert_memory_equal(msg, expect, e);
	crypto_sign_detached(sig, NULL, msg, n, signer_sk);
	assert_int_equal(checkpoint_verify(signer, &x, sig), 0);
	assert_int_equal(checkpoint_verify(other, &x, sig), -1);
	for (size_t i = 0; i < VELD_TEAM_MAX; i++)
		y = x, flip(y.team, i), assert_int_equal(checkpoint_verify(signer, &y, sig), -1);
	for (size_t i = 0; i < 8; i++) {
		y = x, y.at ^= 1ull << (8 * i), assert_int_equal(checkpoint_verify(signer, &y, sig), -1);
		y = x, y.n ^= 1ull << (8 * i), assert_int_equal(checkpoint_verify(signer, &y, sig), -1);
	}
	for (size_t i = 0; i < sizeof x.heads; i++)
		y = x, flip(y.heads, i), assert_int_equal(checkpoint_verify(signer, &y, sig), -1);
	/* at and n do not trade places */
	y = x, y.at = x.n, y.n = x.at;
	assert_int_equal(checkpoint_verify(signer, &y, sig), -1);
	/* one author fewer */
	assert_int_equal(veld__checkpoint_sig_verify(signer, x.team, x.at, x.n, x.heads, 24, sig), -1);
}

struct env_in {
	uint8_t from[16], client[16];
	uint64_t kv;
	char to[VELD_TEAM_MAX + 8];
	uint64_t tv;
	uint8_t sealed[VELD_SEALED_KEY_BYTES];
};

static int env_verify(const uint8_t signer[32], const struct env_in *x, const uint8_t sig[64])
{
	return veld__envelope_sig_verify(signer, x->from, x->client, x->kv, x->to, x->tv, x->sealed, sig);
}

static void test_wire__envelope_signature_binds_every_input(void **state)
{
	struct env_in x, y;
	uint8_t signer[32], signer_sk[64], other[32], other_sk[64], msg[VELD_ENVELOPE_SIG_MSG_MAX], sig[64];
	uint8_t expect[VELD_ENVELOPE_SIG_MSG_MAX];
	size_t n, e, tl;
	(void)state;
	crypto_sign_keypair(signer, signer_sk);
	crypto_sign_keypair(other, other_sk);
	memset(&x, 0, sizeof x);
	fill(x.from, 16, 5);
	fill(x.client, 16, 6);
	x.kv = 3;
	memcpy(x.to, "team:", 5);
	memset(x.to + 5, 'q', VELD_TEAM_MAX); /* the longest recipient */
	tl = strlen(x.to);
	x.tv = 9;
	fill(x.sealed, sizeof x.sealed, 7);
	n = veld__envelope_sig_message(msg, x.from, x.client, x.kv, x.to, x.tv, x.sealed);
	/* "veld-env-v1" || from || client || BE64(kv) || u8 len(to) || to ||
	 * BE64(tv) || H(sealed) */
	memcpy(expect, "veld-env-v1", 11), e = 11;
	memcpy(expect + e, x.from, 16), e += 16;
	memcpy(expect + e, x.client, 16), e += 16;
	veld__be64_put(expect + e, x.kv), e += 8;
	expect[e++] = (uint8_t)tl, memcpy(expect + e, x.to, tl), e += tl;
	veld__be64_put(expect + e, x.tv), e += 8;
	crypto_generichash(expect + e, 32, x.sealed, sizeof x.sealed, NULL, 0), e += 32;
	assert_int_equal(n, e);
	assert_true(n <= VELD_ENVELOPE_SIG_MSG_MAX);
	assert_memory_equal(msg, expect, e);
	crypto_sign_detached(sig, NULL, msg, n, signer_sk);
	assert_int_equal(env_verify(signer, &x, sig), 0);
	assert_int_equal(env_verify(other, &x, sig), -1);
	for (size_t i = 0; i < 16; i++) {
		y = x, flip(y.from, i), assert_int_equal(env_verify(signer, &y, sig), -1);
		y = x, flip(y.client, i), assert_int_equal(env_verify(signer, &y, sig), -1);
	}
	for (size_t i = 0; i < 8; i++) {
		y = x, y.kv ^= 1ull << (8 * i), assert_int_equal(env_verify(signer, &y, sig), -1);
		y = x, y.tv ^= 1ull << (8 * i), assert_int_equal(env_verify(signer, &y, sig), -1);
	}
	for (size_t i = 0; i < tl; i++)
		y = x, flip(y.to, i), assert_int_equal(env_verify(signer, &y, sig), -1);
	for (size_t i = 0; i < sizeof x.sealed; i++)
		y = x, flip(y.sealed, i), assert_int_equal(env_verify(signer, &y, sig), -1);
	/* to the office instead of the team */
	y = x;
	snprintf(y.to, sizeof y.to, "office");
	assert_int_equal(env_verify(signer, &y, sig), -1);
}

static void test_wire__team_key_signature_binds_every_input(void **state)
{
	char team[VELD_TEAM_MAX + 1] = "north", t2[VELD_TEAM_MAX + 1];
	uint8_t other[32], other_sk[64], opk[32], osk[64], key[32], k2[32];
	uint8_t msg[VELD_TEAM_KEY_SIG_MSG_MAX], expect[VELD_TEAM_KEY_SIG_MSG_MAX], sig[64];
	uint64_t tv = 4;
	size_t n, e;
	(void)state;
	crypto_sign_keypair(opk, osk);
	crypto_sign_keypair(other, other_sk);
	fill(key, 32, 8);
	n = veld__team_key_sig_message(msg, team, tv, key);
	/* "veld-tkey-v1" || u8 len(team) || team || BE64(tv) || pk */
	memcpy(expect, "veld-tkey-v1", 12), e = 12;
	expect[e++] = 5, memcpy(expect + e, "north", 5), e += 5;
	veld__be64_put(expect + e, tv), e += 8;
	memcpy(expect + e, key, 32), e += 32;
	assert_int_equal(n, e);
	assert_memory_equal(msg, expect, e);
	crypto_sign_detached(sig, NULL, msg, n, osk);
	assert_int_equal(veld__team_key_sig_verify(opk, team, tv, key, sig), 0);
	assert_int_equal(veld__team_key_sig_verify(other, team, tv, key, sig), -1);
	for (size_t i = 0; i < strlen(team); i++) {
		memcpy(t2, team, sizeof t2);
		flip(t2, i);
		assert_int_equal(veld__team_key_sig_verify(opk, t2, tv, key, sig), -1);
	}
	for (size_t i = 0; i < 8; i++)
		assert_int_equal(veld__team_key_sig_verify(opk, team, tv ^ (1ull << (8 * i)), key, sig),
		                 -1);
	for (size_t i = 0; i < 32; i++) {
		memcpy(k2, key, 32);
		flip(k2, i);
		assert_int_equal(veld__team_key_sig_verify(opk, team, tv, k2, sig), -1);
	}
}

static void test_wire__invite_ad_binds_the_office_keys(void **state)
{
	uint8_t dev[16], spk[32], bpk[32], ad[VELD_INVITE_AD_MAX], ad2[VELD_INVITE_AD_MAX];
	uint8_t expect[VELD_INVITE_AD_MAX], code[VELD_CODE_BYTES], key[32], team_sk[32];
	uint8_t sealed[32 + VELD_SEAL_OVERHEAD], out[32];
	char text[VELD_CODE_TEXT_MAX], longteam[VELD_TEAM_MAX + 1];
	size_t n, n2, e;
	(void)state;
	fill(dev, 16, 1);
	fill(spk, 32, 2);
	fill(bpk, 32, 3);
	n = veld__invite_ad(ad, "north", 2, dev, spk, bpk);
	/* "veld-team-key-v2" || team || 0 || BE64(tv) || office device ||
	 * office sign_pk || office box_pk */
	memcpy(expect, "veld-team-key-v2", 16), e = 16;
	memcpy(expect + e, "north", 6), e += 6;
	veld__be64_put(expect + e, 2), e += 8;
	memcpy(expect + e, dev, 16), e += 16;
	memcpy(expect + e, spk, 32), e += 32;
	memcpy(expect + e, bpk, 32), e += 32;
	assert_int_equal(n, e);
	assert_memory_equal(ad, expect, e);
	/* the longest team fits */
	memset(longteam, 'a', VELD_TEAM_MAX);
	longteam[VELD_TEAM_MAX] = 0;
	assert_int_equal(veld__invite_ad(ad2, longteam, 1, dev, spk, bpk), VELD_INVITE_AD_MAX);
	/* each office key, the team and tv give another AD */
	for (int which = 0; which < 5; which++) {
		uint8_t d[16], s[32], b[32];
		memcpy(d, dev, 16), memcpy(s, spk, 32), memcpy(b, bpk, 32);
		if (which == 0)
			flip(d, 15);
		if (which == 1)
			flip(s, 0);
		if (which == 2)
			flip(b, 31);
		n2 = veld__invite_ad(ad2, which == 3 ? "nortH" : "north", which == 4 ? 3 : 2, d, s, b);
		assert_true(n2 == n && memcmp(ad, ad2, n) != 0);
	}
	/* So a team key sealed with the code opens only with the office keys
	 * the office put in the AD: a server that swaps one is found out. */
	veld__code_new(code, text);
	veld__code_key(key, code);
	fill(team_sk, 32, 9);
	veld__seal(sealed, team_sk, 32, ad, n, key);
	assert_int_equal(veld__open(out, sealed, sizeof sealed, ad, n, key), 0);
	assert_memory_equal(out, team_sk, 32);
	flip(bpk, 0);
	n2 = veld__invite_ad(ad2, "north", 2, dev, spk, bpk);
	assert_int_equal(veld__open(out, sealed, sizeof sealed, ad2, n2, key), -1);
}

static void test_wire__enroll_proof_binds_device_keys_and_code(void **state)
{
	uint8_t code[VELD_CODE_BYTES], code2[VELD_CODE_BYTES], pkey[32], pkey2[32], auth[32],
	        ckey[32];
	uint8_t dev[16], spk[32], bpk[32], proof[32], p2[32], expect[32], msg[100];
	char text[VELD_CODE_TEXT_MAX];
	(void)state;
	veld__code_new(code, text);
	veld__code_proof_key(pkey, code);
	/* proof_key = BLAKE2b-256 keyed with the code over "veld-invite-proof" */
	crypto_generichash(expect, 32, (const uint8_t *)"veld-invite-proof", 17, code,
	                   VELD_CODE_BYTES);
	assert_memory_equal(pkey, expect, 32);
	/* the server sees auth, never the proof key or the sealing key */
	veld__code_auth(auth, code);
	veld__code_key(ckey, code);
	assert_memory_not_equal(pkey, auth, 32);
	assert_memory_not_equal(pkey, ckey, 32);
	fill(dev, 16, 1);
	fill(spk, 32, 2);
	fill(bpk, 32, 3);
	veld__enroll_proof(proof, pkey, dev, spk, bpk);
	/* BLAKE2b-256 keyed with proof_key over "veld-enroll-proof-v1" ||
	 * device || sign_pk || box_pk */
	memcpy(msg, "veld-enroll-proof-v1", 20);
	memcpy(msg + 20, dev, 16);
	memcpy(msg + 36, spk, 32);
	memcpy(msg + 68, bpk, 32);
	crypto_generichash(expect, 32, msg, 100, pkey, 32);
	assert_memory_equal(proof, expect, 32);
	/* each input changes it */
	for (size_t i = 0; i < 16; i++) {
		flip(dev, i);
		veld__enroll_proof(p2, pkey, dev, spk, bpk);
		assert_memory_not_equal(p2, proof, 32);
		flip(dev, i);
	}
	for (size_t i = 0; i < 32; i++) {
		flip(spk, i);
		veld__enroll_proof(p2, pkey, dev, spk, bpk);
		assert_memory_not_equal(p2, proof, 32);
		flip(spk, i);
		flip(bpk, i);
		veld__enroll_proof(p2, pkey, dev, spk, bpk);
		assert_memory_not_equal(p2, proof, 32);
		flip(bpk, i);
	}
	/* sign_pk and box_pk do not trade places */
	veld__enroll_proof(p2, pkey, dev, bpk, spk);
	assert_memory_not_equal(p2, proof, 32);
	/* another code (one bit of it) */
	for (size_t i = 0; i < VELD_CODE_BYTES; i++) {
		memcpy(code2, code, sizeof code2);
		flip(code2, i);
		veld__code_proof_key(pkey2, code2);
		veld__enroll_proof(p2, pkey2, dev, spk, bpk);
		assert_memory_not_equal(p2, proof, 32);
	}
	veld__enroll_proof(p2, pkey, dev, spk, bpk);
	assert_memory_equal(p2, proof, 32); /* and it is a function of them alone */
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
		cmocka_unit_test(test_wire__audit_push_round_trip),
		cmocka_unit_test(test_wire__audit_pull_round_trip),
		cmocka_unit_test(test_wire__audit_push_refuses_what_the_protocol_refuses),
		cmocka_unit_test(test_wire__audit_plain_decodes_what_audit_packs),
		cmocka_unit_test(test_wire__push_envelopes_only_round_trip),
		cmocka_unit_test(test_wire__push_resp_round_trip),
		cmocka_unit_test(test_wire__pull_round_trip),
		cmocka_unit_test(test_wire__pull_own_runs_round_trip),
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
		cmocka_unit_test(test_wire__notice_bodies_round_trip_by_kind),
		cmocka_unit_test(test_wire__notice_bodies_refuse_what_the_protocol_refuses),
		cmocka_unit_test(test_wire__move_notice_body_refuses_what_the_protocol_refuses),
		cmocka_unit_test(test_wire__notice_req_round_trip),
		cmocka_unit_test(test_wire__notice_req_refuses_what_the_protocol_refuses),
		cmocka_unit_test(test_wire__checkpoint_req_round_trip),
		cmocka_unit_test(test_wire__checkpoint_req_refuses_what_the_protocol_refuses),
		cmocka_unit_test(test_wire__pull_checkpoint_is_there_only_when_set),
		cmocka_unit_test(test_wire__pull_refuses_bad_stubs_held_and_notices),
		cmocka_unit_test(test_wire__pull_refuses_more_than_a_page_of_ops_stubs_and_held),
		cmocka_unit_test(test_wire__envelopes_carry_from_and_sig),
		cmocka_unit_test(test_wire__team_keys_carry_the_office_sig),
		cmocka_unit_test(test_wire__batch_ver_is_at_least_1),
		cmocka_unit_test(test_wire__enroll_carries_the_proof),
		cmocka_unit_test(test_wire__devices_auth_and_proof_are_both_nil_or_both_set),
		cmocka_unit_test(test_wire__revoke_answer_carries_acked),
		cmocka_unit_test(test_wire__op_version_1_and_2_accepted_3_refused),
		cmocka_unit_test(test_wire__op_hash_known_answers_for_both_formats),
		cmocka_unit_test(test_wire__op_hash_v1_is_blake2b_of_the_12_element_array),
		cmocka_unit_test(test_wire__op_hash_v2_is_its_three_layers),
		cmocka_unit_test(test_wire__op_hash_v2_changes_with_every_field),
		cmocka_unit_test(test_wire__notice_signature_binds_every_input),
		cmocka_unit_test(test_wire__checkpoint_signature_binds_every_input),
		cmocka_unit_test(test_wire__envelope_signature_binds_every_input),
		cmocka_unit_test(test_wire__team_key_signature_binds_every_input),
		cmocka_unit_test(test_wire__invite_ad_binds_the_office_keys),
		cmocka_unit_test(test_wire__enroll_proof_binds_device_keys_and_code),
		cmocka_unit_test(test_wire__mutated_bodies_decode_or_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
