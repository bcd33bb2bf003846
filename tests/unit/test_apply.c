/* test_apply.c - a pulled page as a malicious or broken server sends it,
 * against a worker's or the office's store, through veld__sync_apply_page
 * (the function every pulled page goes through): what an author the office
 * has not certified sends proves nothing until it is, what a server makes
 * up is dropped without blaming the author, what a certified device signs
 * wrongly is kept aside, and no page poisons the ones after it. */
#include "helpers.h"

#include "auth.h"
#include "crypto.h"
#include "devsync.h"
#include "hlc.h"
#include "op.h"
#include "policy.h"
#include "store.h"
#include "syncstate.h"
#include "trust.h"
#include "wire.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fx {
	char *odir, *wdir, *adir, *zdir;
	veld_store *office, *w, *a, *z;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	veld_store_options o = fast_opts("office1", "noord");
	char sub[600];
	f->odir = tmpdir_new();
	snprintf(sub, sizeof sub, "%s/store", f->odir);
	o.role = "office";
	ok(veld_office_create(&f->office, sub, TEST_PASS, strlen(TEST_PASS), &o));
	f->w = store_new(&f->wdir, "wim", "noord");
	f->a = store_new(&f->adir, "anna", "noord");
	f->z = store_new(&f->zdir, "zoe", "zuid");
	/* What enrollment pins in a worker: the office's device and key. */
	ok(veld__sync_set_bytes(f->w, "office_device", f->office->device, 16));
	ok(veld__sync_set_bytes(f->w, "office_sign_pk", f->office->sign_pk, 32));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	veld_store_free(f->office);
	veld_store_free(f->w);
	veld_store_free(f->a);
	veld_store_free(f->z);
	rm_rf(f->odir);
	rm_rf(f->wdir);
	rm_rf(f->adir);
	rm_rf(f->zdir);
	free(f->odir);
	free(f->wdir);
	free(f->adir);
	free(f->zdir);
	free(f);
	return 0;
}

/* ---- building pages ----------------------------------------------------------- */

struct page {
	struct veld__pull_resp p;
	uint64_t cur[64], scur[64], hcur[64], ecur[64], ncur[64];
	veld__op ops[64];
	struct veld__stub stubs[64];
	struct veld__batch batches[8];
	struct veld__envelope envs[8];
	struct veld__notice notices[8];
	uint8_t bodies[8][600];
	uint8_t hashes[8][64 * 32];
};

static void page_init(struct page *pg)
{
	memset(pg, 0, sizeof *pg);
}

/* Apply as the device would: cursors from the store, items numbered above them. */
static int apply(veld_store *s, struct page *pg, struct veld__apply_report *rep)
{
	struct veld__apply_ctx c;
	struct veld__pull_resp *p = &pg->p;
	memset(&c, 0, sizeof c);
	c.skew_ms = 600000;
	ok(veld__sync_cursors(s, &c.after, &c.env_after, &c.notice_after));
	p->ops = pg->ops;
	p->cursors = pg->cur;
	p->stubs = pg->stubs;
	p->stub_cursors = pg->scur;
	p->batches = pg->batches;
	p->envs = pg->envs;
	p->env_cursors = pg->ecur;
	p->notices = pg->notices;
	p->notice_cursors = pg->ncur;
	/* ops then stubs in one feed order */
	uint64_t k = c.after;
	for (size_t i = 0; i < p->nops; i++)
		pg->cur[i] = ++k;
	for (size_t i = 0; i < p->nstubs; i++)
		pg->scur[i] = ++k;
	p->next = k;
	k = c.env_after;
	for (size_t i = 0; i < p->nenvs; i++)
		pg->ecur[i] = ++k;
	p->env_next = k;
	k = c.notice_after;
	for (size_t i = 0; i < p->nnotices; i++)
		pg->ncur[i] = ++k;
	p->notice_next = k;
	return veld__sync_apply_page(s, p, &c, rep);
}

/* A device's own unpushed operations, as its push would carry them. */
static void own_ops(veld_store *d, struct veld__outbox *ob)
{
	ok(veld__sync_next_push(d, 1000, ob));
	assert_true(ob->req.nops > 0);
}

/* A batch of ops signed (sig given) as their author's push signed them. */
static void add_batch(struct page *pg, const uint8_t device[16], uint64_t first, uint64_t last,
                      const uint8_t sig[64], const uint8_t *hashes, uint64_t ver)
{
	size_t b = pg->p.nbatches++;
	struct veld__batch *bt = &pg->batches[b];
	memcpy(bt->device, device, 16);
	bt->first = first;
	bt->last = last;
	memcpy(bt->sig, sig, 64);
	memcpy(pg->hashes[b], hashes, (last - first + 1) * 32);
	bt->hashes = pg->hashes[b];
	bt->ver = ver;
}

static void add_push(struct page *pg, const struct veld__outbox *ob)
{
	uint8_t h[64 * 32];
	for (size_t i = 0; i < ob->req.nops; i++) {
		pg->ops[pg->p.nops++] = ob->req.ops[i];
		memcpy(h + 32 * i, ob->req.ops[i].hash, 32);
	}
	add_batch(pg, ob->req.ops[0].device, ob->req.ops[0].seq, ob->req.ops[ob->req.nops - 1].seq,
	          ob->req.sig, h, ob->req.ops[0].version);
}

/* The office's notice (signed with its key) to `team`. */
static void add_notice(struct page *pg, veld_store *office, const char *team, uint64_t n,
                       const struct veld__notice_body *b)
{
	size_t i = pg->p.nnotices++;
	struct veld__notice *x = &pg->notices[i];
	msgpack_sbuffer sb;
	uint8_t msg[VELD_NOTICE_SIG_MSG_MAX];
	msgpack_sbuffer_init(&sb);
	ok(veld__wire_notice_body_encode(&sb, b));
	memcpy(pg->bodies[i], sb.data, sb.size);
	snprintf(x->team, sizeof x->team, "%s", team);
	x->n = n;
	snprintf(x->kind, sizeof x->kind, "%s", veld__notice_kind_name(b->kind));
	x->at = veld__hlc_now_ms();
	x->body = pg->bodies[i];
	x->body_len = sb.size;
	veld__store_sign(office, x->sig, msg,
	                 veld__notice_sig_message(msg, x->team, x->n, x->kind, x->at, x->body,
	                                          x->body_len));
	msgpack_sbuffer_destroy(&sb);
}

static void cert_body(struct veld__notice_body *b, veld_store *d)
{
	memset(b, 0, sizeof *b);
	b->kind = VELD_NOTICE_CERT;
	memcpy(b->id, d->device, 16);
	memcpy(b->sign_pk, d->sign_pk, 32);
	memcpy(b->box_pk, d->box_pk, 32);
	snprintf(b->role, sizeof b->role, "worker");
	b->enrolled = 1;
}

/* The office's signed checkpoint of `team`: one head (device, seq), n notices. */
static void set_checkpoint(struct page *pg, veld_store *office, const char *team, uint64_t n,
                           const uint8_t device[16], uint64_t seq, uint8_t heads[24])
{
	uint8_t msg[VELD_CHECKPOINT_SIG_MSG_MAX];
	struct veld__checkpoint *cp = &pg->p.checkpoint;
	memcpy(heads, device, 16);
	veld__be64_put(heads + 16, seq);
	pg->p.has_checkpoint = 1;
	snprintf(cp->team, sizeof cp->team, "%s", team);
	cp->at = veld__hlc_now_ms();
	cp->n = n;
	cp->heads = heads;
	cp->heads_len = 24;
	veld__store_sign(office, cp->sig, msg,
	                 veld__checkpoint_sig_message(msg, cp->team, cp->at, cp->n, cp->heads, 24));
}

static long long count_records(veld_store *s, const char *kind)
{
	char *out = NULL;
	json_t *j;
	long long n;
	ok(veld_record_list(s, kind, NULL, NULL, &out));
	j = json_loads(out, 0, NULL);
	n = (long long)json_array_size(j);
	json_decref(j);
	veld_free(out);
	return n;
}

static void counts(veld_store *s, long long *pending, long long *quarantined)
{
	char *out = NULL;
	json_t *j;
	ok(veld_store_info(s, &out));
	j = json_loads(out, 0, NULL);
	*pending = json_integer_value(json_object_get(j, "pending"));
	*quarantined = json_integer_value(json_object_get(j, "quarantined"));
	json_decref(j);
	veld_free(out);
}

/* An operation signed by `d` as one batch: the compromised device crafts it. */
static void craft(veld_store *d, veld__op *op, struct page *pg)
{
	uint8_t msg[77];
	uint8_t sig[64];
	veld__op_hash(op);
	veld__batch_digest(msg, op->version, op->device, op->seq, op->seq, op->hash, 1);
	veld__store_sign(d, sig, msg, sizeof msg);
	pg->ops[pg->p.nops++] = *op;
	add_batch(pg, op->device, op->seq, op->seq, sig, op->hash, op->version);
}

static void certify_at(veld_store *office, veld_store *d, const char *team)
{
	struct veld__cert c;
	memset(&c, 0, sizeof c);
	memcpy(c.device, d->device, 16);
	snprintf(c.team, sizeof c.team, "%s", team);
	snprintf(c.role, sizeof c.role, "worker");
	memcpy(c.sign_pk, d->sign_pk, 32);
	memcpy(c.box_pk, d->box_pk, 32);
	c.enrolled = 1;
	ok(veld__cert_put(office, &c));
}


/* An op of device d on client `client`, field and value as given. */
static void op_init(veld__op *op, veld_store *d, uint64_t seq, const char *kind,
                    const uint8_t entity[16], const uint8_t client[16], const char *team,
                    const char *field)
{
	memset(op, 0, sizeof *op);
	op->version = 2;
	memcpy(op->device, d->device, 16);
	op->seq = seq;
	op->hlc = veld__hlc_now_ms() << 16;
	snprintf(op->kind, sizeof op->kind, "%s", kind);
	memcpy(op->entity, entity, 16);
	memcpy(op->client, client, 16);
	snprintf(op->team, sizeof op->team, "%s", team);
	op->kv = 1;
	snprintf(op->field, sizeof op->field, "%s", field);
}

/* ---- an author the office has not certified yet ------------------------------------- */

/* An envelope the server made up "from" a device not certified yet waits;
 * when the certificate comes it turns out unsigned and is dropped: the page
 * with the certificate goes in, and so do the pages after it. */
static void test_apply__made_up_envelope_that_waited_is_dropped(void **state)
{
	struct fx *f = *state;
	struct page pg;
	struct veld__apply_report rep;
	struct veld__notice_body b;
	struct veld__envelope *e;
	long long pend, quar;

	page_init(&pg);
	e = &pg.envs[pg.p.nenvs++];
	randombytes_buf(e->client, 16);
	e->kv = 1;
	snprintf(e->to, sizeof e->to, "team:noord");
	e->tv = 1;
	randombytes_buf(e->sealed, sizeof e->sealed);
	memcpy(e->from, f->a->device, 16);
	randombytes_buf(e->sig, 64);
	ok(apply(f->w, &pg, &rep));
	assert_int_equal(rep.pending, 1);

	page_init(&pg);
	cert_body(&b, f->a);
	add_notice(&pg, f->office, "noord", 1, &b);
	ok(apply(f->w, &pg, &rep));
	assert_int_equal(rep.forged, 1);
	counts(f->w, &pend, &quar);
	assert_int_equal(pend, 0);
	assert_int_equal(quar, 0); /* not blamed on the author */
	page_init(&pg);
	ok(apply(f->w, &pg, &rep));
}

/* Stubs of an author not certified yet, in a batch the server made up,
 * move nothing: when the certificate comes they do not verify, the author's
 * operations are still owed, and the office's checkpoint says so. */
static void test_apply__made_up_stubs_hide_nothing(void **state)
{
	struct fx *f = *state;
	struct page pg;
	struct veld__apply_report rep;
	struct veld__notice_body b;
	struct veld__outbox ob;
	struct veld__freshness fr;
	uint8_t hashes[64 * 32], sig[64], heads[24];
	long long pend, quar;
	char *id;
	uint64_t k;

	id = create(f->a, "client", "{\"name\":\"Jan\"}");
	free(id);
	own_ops(f->a, &ob);
	k = ob.req.ops[ob.req.nops - 1].seq;
	page_init(&pg);
	for (uint64_t s = 1; s <= k; s++) {
		struct veld__stub *x = &pg.stubs[pg.p.nstubs++];
		memcpy(x->device, f->a->device, 16);
		x->seq = s;
		snprintf(x->team, sizeof x->team, "zuid");
		randombytes_buf(x->client, 16);
		randombytes_buf(x->kh, 32);
		veld__op_hash2(x->team, x->client, x->kh, hashes + 32 * (s - 1));
	}
	randombytes_buf(sig, 64);
	add_batch(&pg, f->a->device, 1, k, sig, hashes, 2);
	ok(apply(f->w, &pg, &rep));
	assert_int_equal(rep.pending, k);

	page_init(&pg);
	cert_body(&b, f->a);
	add_notice(&pg, f->office, "noord", 1, &b);
	set_checkpoint(&pg, f->office, "noord", 1, f->a->device, k, heads);
	ok(apply(f->w, &pg, &rep));
	assert_int_equal(rep.forged, k);
	counts(f->w, &pend, &quar);
	assert_int_equal(pend, 0);
	assert_int_equal(quar, 0);
	assert_int_equal(veld__sync_checkpoint_check(f->w, 7ull * 24 * 3600 * 1000, &fr), VELD_EPROTO);
	assert_non_null(strstr(veld_error_last(), "withholds"));

	/* The author's real operations are still taken when they come (they
	 * wait for the client's key, which this page does not bring). */
	page_init(&pg);
	add_push(&pg, &ob);
	ok(apply(f->w, &pg, &rep));
	assert_int_equal(rep.pending, k);
	assert_int_equal(rep.quarantined, 0);
	ok(veld__sync_checkpoint_check(f->w, 7ull * 24 * 3600 * 1000, &fr));
	veld__outbox_free(&ob);
}

/* A batch no item of the page is in is refused; an operation the server
 * made up for a seq waits beside the one its author signed, and when the
 * certificate comes the signed one goes in and the made-up one is
 * dropped, without blaming the author. */
static void test_apply__made_up_batch_and_op_do_not_displace_the_signed_ones(void **state)
{
	struct fx *f = *state;
	struct page pg;
	struct veld__apply_report rep;
	struct veld__notice_body b;
	struct veld__outbox ob;
	struct veld__freshness fr;
	uint8_t h[32], sig[64], heads[24];
	long long pend, quar;
	veld__op fake;
	char *id;
	uint64_t k;

	id = create(f->a, "client", "{\"name\":\"Jan\"}");
	free(id);
	id = create(f->a, "client", "{\"name\":\"Piet\"}");
	free(id);
	own_ops(f->a, &ob);
	k = ob.req.ops[ob.req.nops - 1].seq;

	page_init(&pg);
	randombytes_buf(h, 32);
	randombytes_buf(sig, 64);
	add_batch(&pg, f->a->device, 1, 1, sig, h, 2);
	assert_int_equal(apply(f->w, &pg, &rep), VELD_EPROTO);
	assert_non_null(strstr(veld_error_last(), "no item of the page"));

	/* Seq 1 made up, in a batch made up to hold it. */
	fake = ob.req.ops[0];
	fake.hlc ^= 1;
	veld__op_hash(&fake);
	page_init(&pg);
	pg.ops[pg.p.nops++] = fake;
	randombytes_buf(sig, 64);
	add_batch(&pg, f->a->device, 1, 1, sig, fake.hash, 2);
	ok(apply(f->w, &pg, &rep));
	page_init(&pg);
	add_push(&pg, &ob);
	ok(apply(f->w, &pg, &rep));

	page_init(&pg);
	cert_body(&b, f->a);
	add_notice(&pg, f->office, "noord", 1, &b);
	set_checkpoint(&pg, f->office, "noord", 1, f->a->device, k, heads);
	ok(apply(f->w, &pg, &rep));
	assert_int_equal(rep.forged, 1);
	counts(f->w, &pend, &quar);
	assert_int_equal(quar, 0);
	ok(veld__sync_checkpoint_check(f->w, 7ull * 24 * 3600 * 1000, &fr));
	veld__outbox_free(&ob);
}

/* ---- what a certified device signs wrongly --------------------------------------------- */

/* A device certified for one team signs a deletion of another team's
 * client, claiming its own team: kept aside at the office. */
static void test_apply__other_teams_record_is_not_written(void **state)
{
	struct fx *f = *state;
	struct page pg;
	struct veld__apply_report rep;
	veld__op op;
	char *id, *out = NULL;
	uint8_t client[16];
	long long pend, quar;

	id = create(f->office, "client", "{\"name\":\"Jan\"}");
	ok(veld__unhex(client, 16, id));
	certify_at(f->office, f->z, "zuid");
	op_init(&op, f->z, 1, "client", client, client, "zuid", VELD_TOMBSTONE_FIELD);
	page_init(&pg);
	craft(f->z, &op, &pg);
	ok(apply(f->office, &pg, &rep));
	assert_int_equal(rep.applied, 0);
	counts(f->office, &pend, &quar);
	assert_int_equal(quar, 1);
	assert_int_equal(count_records(f->office, "client"), 1);
	ok(veld_record_get(f->office, "client", id, NULL, &out));
	assert_non_null(strstr(out, "Jan"));
	veld_free(out);

	/* Nor a new record of that client claiming the other team. */
	{
		uint8_t visit[16];
		randombytes_buf(visit, 16);
		op_init(&op, f->z, 2, "visit", visit, client, "zuid", VELD_TOMBSTONE_FIELD);
		page_init(&pg);
		craft(f->z, &op, &pg);
		ok(apply(f->office, &pg, &rep));
		counts(f->office, &pend, &quar);
		assert_int_equal(quar, 2);
	}
	free(id);
}

/* A field without a value, or a deletion with one: kept aside, and the
 * store still verifies. */
static void test_apply__field_without_value_is_kept_aside(void **state)
{
	struct fx *f = *state;
	struct page pg;
	struct veld__apply_report rep;
	struct veld__notice_body b;
	veld__op op;
	char *out = NULL;
	uint8_t ent[16];
	long long pend, quar;

	page_init(&pg);
	cert_body(&b, f->a);
	add_notice(&pg, f->office, "noord", 1, &b);
	randombytes_buf(ent, 16);
	op_init(&op, f->a, 1, "client", ent, ent, "noord", "name");
	craft(f->a, &op, &pg);
	ok(apply(f->w, &pg, &rep));
	assert_int_equal(rep.applied, 0);
	counts(f->w, &pend, &quar);
	assert_int_equal(quar, 1);
	ok(veld_store_verify(f->w, &out));
	veld_free(out);
}

/* Two signed operations of one record disagree on its kind; they waited
 * for the author's certificate. The second is kept aside; the page with the
 * certificate and the pages after it go in. */
static void test_apply__contradicting_waiting_op_does_not_poison(void **state)
{
	struct fx *f = *state;
	struct page pg;
	struct veld__apply_report rep;
	struct veld__notice_body b;
	veld__op op1, op2;
	uint8_t ent[16], cl[16], msg[77], sig[64], h[64];
	long long pend, quar;

	randombytes_buf(ent, 16);
	randombytes_buf(cl, 16);
	op_init(&op1, f->a, 1, "visit", ent, cl, "noord", VELD_TOMBSTONE_FIELD);
	op2 = op1;
	op2.seq = 2;
	snprintf(op2.kind, sizeof op2.kind, "goal");
	veld__op_hash(&op1);
	veld__op_hash(&op2);
	memcpy(h, op1.hash, 32);
	memcpy(h + 32, op2.hash, 32);
	veld__batch_digest(msg, 2, f->a->device, 1, 2, h, 2);
	veld__store_sign(f->a, sig, msg, sizeof msg);
	page_init(&pg);
	pg.ops[pg.p.nops++] = op1;
	pg.ops[pg.p.nops++] = op2;
	add_batch(&pg, f->a->device, 1, 2, sig, h, 2);
	ok(apply(f->w, &pg, &rep));
	assert_int_equal(rep.pending, 2);

	page_init(&pg);
	cert_body(&b, f->a);
	add_notice(&pg, f->office, "noord", 1, &b);
	ok(apply(f->w, &pg, &rep));
	counts(f->w, &pend, &quar);
	assert_int_equal(pend, 0);
	assert_int_equal(quar, 1);
	page_init(&pg);
	ok(apply(f->w, &pg, &rep));
}

/* The creator's envelope sealed to a team key version this device does
 * not hold waits for it (a device enrolled after a rotation), and the page
 * goes in. */
static void test_apply__envelope_for_a_team_key_not_held_waits(void **state)
{
	struct fx *f = *state;
	struct page pg;
	struct veld__apply_report rep;
	struct veld__notice_body b;
	struct veld__outbox ob;
	uint8_t pk1[32], pk2[32], *sk1 = veld__secret_new(32), *sk2 = veld__secret_new(32);
	uint8_t key[32], client[16], msg[200];
	long long pend, quar;
	char *id;

	crypto_box_keypair(pk1, sk1);
	crypto_box_keypair(pk2, sk2);
	ok(veld__team_key_put(f->w, "noord", 2, pk2, sk2));
	id = create(f->a, "client", "{\"name\":\"Jan\"}");
	ok(veld__unhex(client, 16, id));
	own_ops(f->a, &ob);
	page_init(&pg);
	cert_body(&b, f->a);
	add_notice(&pg, f->office, "noord", 1, &b);
	add_push(&pg, &ob);
	{
		struct veld__envelope *e = &pg.envs[pg.p.nenvs++];
		crypto_aead_xchacha20poly1305_ietf_keygen(key);
		memcpy(e->client, client, 16);
		e->kv = 1;
		snprintf(e->to, sizeof e->to, "team:noord");
		e->tv = 1;
		crypto_box_seal(e->sealed, key, 32, pk1);
		memcpy(e->from, f->a->device, 16);
		veld__store_sign(f->a, e->sig, msg, veld__envelope_sig_message(msg, e->from, e->client,
		                 e->kv, e->to, e->tv, e->sealed));
	}
	ok(apply(f->w, &pg, &rep));
	counts(f->w, &pend, &quar);
	assert_true(pend >= 1);
	assert_int_equal(quar, 0);
	/* When the version comes, the envelope opens. */
	ok(veld__team_key_put(f->w, "noord", 1, pk1, sk1));
	page_init(&pg);
	ok(apply(f->w, &pg, &rep));
	assert_int_equal(rep.keys, 1);
	veld__outbox_free(&ob);
	veld__secret_free(sk1);
	veld__secret_free(sk2);
	free(id);
}

/* ---- the field policy after a push: only what is new ------------------------------------- */

/* A worker's own operations, audit and conflicts as text, the same for two
 * stores that recorded the same writes (own seqs and fields, whether each
 * value is still held, head flags; purges; conflicts). */
static void policy_state(veld_store *s, char *out, size_t cap)
{
	sqlite3_stmt *st;
	size_t n = 0;
	assert_int_equal(sqlite3_prepare_v2(s->db, "SELECT seq, field, value IS NULL, head FROM ops"
	                                    " WHERE device = ?1 ORDER BY seq", -1, &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_blob(st, 1, s->device, 16, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW && n + 64 < cap)
		n += (size_t)snprintf(out + n, cap - n, "%lld %s %d %d;",
		                      (long long)sqlite3_column_int64(st, 0),
		                      (const char *)sqlite3_column_text(st, 1),
		                      sqlite3_column_int(st, 2), sqlite3_column_int(st, 3));
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(s->db, "SELECT (SELECT count(*) FROM audit WHERE event ="
	                                    " 'purge'), (SELECT count(DISTINCT client) FROM audit"
	                                    " WHERE event = 'purge'), (SELECT count(*) FROM conflicts)",
	                                    -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	snprintf(out + n, cap - n, "| purges %d of %d clients, %d conflicts", sqlite3_column_int(st, 0),
	         sqlite3_column_int(st, 1), sqlite3_column_int(st, 2));
	sqlite3_finalize(st);
}

/* The server confirmed own operations up to `acked` (what a push's answer
 * records: push_accepted, veld__sync_pushed). */
static void confirmed(veld_store *s, uint64_t acked)
{
	ok(veld__sync_set_u64(s, "acked_seq", acked));
	ok(veld__sync_set_u64(s, "policy_seq", acked));
}

/* Random writes, pushes, lowered acks (a server that lost operations) and
 * policy notices, on two workers: after every push one enforces the policy
 * as a sync does (only the own operations confirmed since the last time),
 * the other over the whole store. They must end alike, each step. */
static void test_apply__policy_after_push_costs_the_new_operations_only(void **state)
{
	struct fx *f = *state;
	static const char *const fields[] = {"name", "initials", "birth_date", "address", "phone",
	                                     "care_status"};
	static const char *const values[] = {"\"N\"", "\"A.B.\"", "\"1970-01-02\"", "\"Straat 1\"",
	                                     "\"06-1\"", "\"beschermd_thuis\""};
	char *w2dir = NULL, *ids[2][6] = {{0}};
	veld_store *st[2] = {f->w, store_new(&w2dir, "wil", "noord")};
	static char a[1 << 16], b[1 << 16];
	uint64_t notices = 0, removed_seen = 0;
	unsigned seed = 20261206;

	ok(veld__sync_set_bytes(st[1], "office_device", f->office->device, 16));
	ok(veld__sync_set_bytes(st[1], "office_sign_pk", f->office->sign_pk, 32));
	for (int i = 0; i < 2; i++) {
		ok(veld__sync_set_text(st[i], "sync_role", "worker"));
		veld__store_policy_changed(st[i]);
	}
	for (int step = 0; step < 400; step++) {
		int what = rand_r(&seed) % 10;
		uint32_t mask = veld__policy_mask(st[0]);
		if (what < 5) { /* a write: a client created or updated, allowed fields only */
			int c = rand_r(&seed) % 6, nf = 0;
			char json[400];
			size_t n = (size_t)snprintf(json, sizeof json, "{");
			for (int k = ids[0][c] ? 1 : 0; k < 6; k++)
				if ((k == 0 || rand_r(&seed) % 2) &&
				    !(veld__policy_bit("client", fields[k]) & ~mask))
					n += (size_t)snprintf(json + n, sizeof json - n, "%s\"%s\":%s",
					                      nf++ ? "," : "", fields[k], values[k]);
			snprintf(json + n, sizeof json - n, "}");
			for (int i = 0; nf > 0 && i < 2; i++) {
				if (!ids[i][c])
					ids[i][c] = create(st[i], "client", json);
				else
					ok(veld_record_update(st[i], "client", ids[i][c], json, NULL, NULL));
			}
		} else if (what < 8) { /* a push the server confirmed, then the policy */
			uint64_t last = veld__store_last_seq(st[0]);
			assert_int_equal(veld__store_last_seq(st[1]), last);
			confirmed(st[0], last);
			confirmed(st[1], last);
			ok(veld__sync_policy_enforce(st[0]));
			ok(veld__policy_enforce(st[1], "noord", veld__policy_mask(st[1]), last, NULL));
		} else if (what == 8) { /* the server lost some: acked lowered */
			uint64_t acked = 0;
			ok(veld__sync_u64(st[0], "acked_seq", &acked));
			acked = acked ? (uint64_t)rand_r(&seed) % acked : 0;
			confirmed(st[0], acked);
			confirmed(st[1], acked);
		} else { /* a policy notice: governed fields in or out */
			struct veld__notice_body nb;
			struct page pg;
			struct veld__apply_report rep;
			memset(&nb, 0, sizeof nb);
			nb.kind = VELD_NOTICE_POLICY;
			nb.mask = (uint32_t)rand_r(&seed) & VELD_POLICY_ALL;
			notices++;
			for (int i = 0; i < 2; i++) {
				page_init(&pg);
				add_notice(&pg, f->office, "noord", notices, &nb);
				ok(apply(st[i], &pg, &rep));
			}
		}
		policy_state(st[0], a, sizeof a);
		policy_state(st[1], b, sizeof b);
		assert_string_equal(a, b);
		removed_seen += strstr(a, " 1 ") != NULL;
	}
	/* The run did remove values (else it proved nothing). */
	assert_true(removed_seen > 0);
	for (int i = 0; i < 2; i++)
		for (int c = 0; c < 6; c++)
			free(ids[i][c]);
	veld_store_free(st[1]);
	rm_rf(w2dir);
	free(w2dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_apply__made_up_envelope_that_waited_is_dropped,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_apply__made_up_stubs_hide_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_apply__made_up_batch_and_op_do_not_displace_the_signed_ones, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apply__other_teams_record_is_not_written, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_apply__field_without_value_is_kept_aside, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_apply__contradicting_waiting_op_does_not_poison,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_apply__envelope_for_a_team_key_not_held_waits, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_apply__policy_after_push_costs_the_new_operations_only,
		                                setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
