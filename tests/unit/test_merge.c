/* test_merge.c - the merge rule: any order, any duplicates, same state;
 * concurrent edits stay visible as a conflict until resolved. */
#include "helpers.h"

#include "op.h"
#include "store.h"
#include "hlc.h"
#include "crypto.h"
#include "retention.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NDEV 3
#define NENT 3
#define NFIELD 3
#define MAXOPS 60

static const char *const fields[NFIELD] = {"kind", "actions", "planned"};

/* A simulated history: devices write with partial knowledge of each other,
 * so supersedes lists reflect real causality (and real concurrency). */
struct hist {
	veld__op ops[MAXOPS];
	veld__ref sups[MAXOPS][NDEV * 4];
	uint8_t val[MAXOPS][8];
	int n;
};

static uint64_t rng;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

static void make_history(struct hist *h, int nops)
{
	/* known[d][i]: device d knows op i */
	static uint8_t known[NDEV][MAXOPS];
	uint8_t dev[NDEV][VELD_ID_BYTES], ent[NENT][VELD_ID_BYTES], client[VELD_ID_BYTES];
	uint64_t seq[NDEV] = {0}, clock[NDEV] = {0};
	memset(known, 0, sizeof known);
	memset(h, 0, sizeof *h);
	for (int d = 0; d < NDEV; d++)
		for (int b = 0; b < VELD_ID_BYTES; b++)
			dev[d][b] = (uint8_t)rnd();
	for (int e = 0; e < NENT; e++)
		for (int b = 0; b < VELD_ID_BYTES; b++)
			ent[e][b] = (uint8_t)rnd();
	for (int b = 0; b < VELD_ID_BYTES; b++)
		client[b] = (uint8_t)rnd();

	while (h->n < nops) {
		int d = (int)(rnd() % NDEV);
		if (rnd() % 3 == 0) { /* sync: learn everything another device knows */
			int o = (int)(rnd() % NDEV);
			for (int i = 0; i < h->n; i++)
				if (known[o][i]) {
					known[d][i] = 1;
					if (h->ops[i].hlc > clock[d])
						clock[d] = h->ops[i].hlc;
				}
			continue;
		}
		veld__op *op = &h->ops[h->n];
		int e = (int)(rnd() % NENT), f = (int)(rnd() % NFIELD);
		op->version = VELD_OP_VERSION;
		memcpy(op->device, dev[d], VELD_ID_BYTES);
		op->seq = ++seq[d];
		/* Coarse clocks so equal stamps (ties broken by device) occur. */
		op->hlc = clock[d] = clock[d] + 1 + rnd() % 2;
		snprintf(op->kind, sizeof op->kind, "visit");
		memcpy(op->entity, ent[e], VELD_ID_BYTES);
		memcpy(op->client, client, VELD_ID_BYTES);
		snprintf(op->team, sizeof op->team, "t");
		op->kv = 1;
		snprintf(op->field, sizeof op->field, "%s", fields[f]);
		/* Supersede the heads this device knows for the field. */
		for (int i = 0; i < h->n; i++) {
			int superseded = 0;
			if (!known[d][i] || memcmp(h->ops[i].entity, op->entity, VELD_ID_BYTES) ||
			    strcmp(h->ops[i].field, op->field))
				continue;
			for (int j = 0; j < h->n && !superseded; j++) {
				if (!known[d][j])
					continue;
				for (size_t k = 0; k < h->ops[j].nsup; k++)
					if (!memcmp(h->ops[j].sup[k].device, h->ops[i].device, VELD_ID_BYTES) &&
					    h->ops[j].sup[k].seq == h->ops[i].seq)
						superseded = 1;
			}
			if (!superseded && op->nsup < NDEV * 4) {
				memcpy(h->sups[h->n][op->nsup].device, h->ops[i].device, VELD_ID_BYTES);
				h->sups[h->n][op->nsup++].seq = h->ops[i].seq;
			}
		}
		op->sup = h->sups[h->n];
		for (int b = 0; b < 8; b++)
			h->val[h->n][b] = (uint8_t)rnd();
		op->value = h->val[h->n];
		op->value_len = 8;
		veld__op_hash(op);
		known[d][h->n] = 1;
		h->n++;
	}
}

/* The state a replica shows: every head and its field's winner. */
static char *dump_state(veld_store *s)
{
	sqlite3_stmt *st;
	size_t cap = 1 << 16, len = 0;
	char *out = malloc(cap);
	out[0] = 0;
	sqlite3_prepare_v2(s->db, "SELECT hex(entity), field, hex(device), seq, hlc FROM ops"
	                   " WHERE head = 1 ORDER BY entity, field, hlc DESC, device DESC", -1, &st, NULL);
	while (sqlite3_step(st) == SQLITE_ROW)
		len += (size_t)snprintf(out + len, cap - len, "%s/%s/%s/%lld/%lld\n",
		                        sqlite3_column_text(st, 0), sqlite3_column_text(st, 1),
		                        sqlite3_column_text(st, 2), sqlite3_column_int64(st, 3),
		                        sqlite3_column_int64(st, 4));
	sqlite3_finalize(st);
	return out;
}

/* Each record's creation stamp: the lowest of its operations', whatever
 * order they came in. */
static char *dump_created(veld_store *s)
{
	sqlite3_stmt *st;
	size_t cap = 1 << 14, len = 0;
	char *out = malloc(cap);
	out[0] = 0;
	sqlite3_prepare_v2(s->db, "SELECT hex(entity), created FROM entities ORDER BY entity", -1, &st,
	                   NULL);
	while (sqlite3_step(st) == SQLITE_ROW)
		len += (size_t)snprintf(out + len, cap - len, "%s %lld\n", sqlite3_column_text(st, 0),
		                        sqlite3_column_int64(st, 1));
	sqlite3_finalize(st);
	return out;
}

static void reset(veld_store *s)
{
	assert_int_equal(sqlite3_exec(s->db, "DELETE FROM ops; DELETE FROM superseded;"
	                              " DELETE FROM entities; DELETE FROM conflicts;", NULL, NULL,
	                              NULL), SQLITE_OK);
	veld__merge_forget(&s->m);
}

static void apply_in_order(veld_store *s, struct hist *h, const int *order, int n)
{
	struct veld__tx tx;
	int applied;
	ok(veld__tx_begin(s, &tx));
	for (int i = 0; i < n; i++)
		ok(veld__merge_apply(&s->m, &h->ops[order[i]], &applied));
	ok(veld__tx_commit(s, &tx));
}

/* Heads by definition: known ops that no known op supersedes (same entity
 * and field). Count them to cross-check the incremental merge. */
static int reference_heads(struct hist *h)
{
	int heads = 0;
	for (int i = 0; i < h->n; i++) {
		int sup = 0;
		for (int j = 0; j < h->n && !sup; j++)
			for (size_t k = 0; k < h->ops[j].nsup; k++)
				if (!memcmp(h->ops[j].sup[k].device, h->ops[i].device, VELD_ID_BYTES) &&
				    h->ops[j].sup[k].seq == h->ops[i].seq &&
				    !memcmp(h->ops[j].entity, h->ops[i].entity, VELD_ID_BYTES) &&
				    !strcmp(h->ops[j].field, h->ops[i].field))
					sup = 1;
		heads += !sup;
	}
	return heads;
}

/* Every operation of h once, a third of them again, in a random order;
 * returns how many (order holds 2 * MAXOPS). */
static int shuffled_with_duplicates(const struct hist *h, int *order)
{
	int n = 0;
	for (int i = 0; i < h->n; i++)
		order[n++] = i;
	for (int i = 0; i < h->n / 3; i++)
		order[n++] = (int)(rnd() % (uint32_t)h->n);
	for (int i = n - 1; i > 0; i--) {
		int j = (int)(rnd() % (uint32_t)(i + 1)), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	return n;
}

static void test_merge__any_order_with_duplicates_converges(void **state)
{
	char *dir;
	veld_store *s = store_new(&dir, "anna", NULL);
	static struct hist h;
	int order[MAXOPS * 2], conflicts_seen = 0;

	for (int seed = 1; seed <= 300; seed++) {
		char *want, *want_c;
		int n;
		rng = 0x9E3779B97F4A7C15ull * (uint64_t)seed;
		make_history(&h, 10 + seed % (MAXOPS - 10));
		/* Canonical order first. */
		for (int i = 0; i < h.n; i++)
			order[i] = i;
		reset(s);
		apply_in_order(s, &h, order, h.n);
		want = dump_state(s);
		want_c = dump_created(s);
		{
			int lines = 0;
			for (char *p = want; *p; p++)
				lines += *p == '\n';
			assert_int_equal(lines, reference_heads(&h));
			/* Count fields with more than one head: real concurrency. */
			conflicts_seen += lines > NENT * NFIELD ? 1 : 0;
		}
		for (int perm = 0; perm < 6; perm++) {
			char *got;
			n = shuffled_with_duplicates(&h, order);
			reset(s);
			apply_in_order(s, &h, order, n);
			/* Applying everything again changes nothing. */
			apply_in_order(s, &h, order, n);
			got = dump_state(s);
			if (strcmp(want, got) != 0)
				fail_msg("seed %d perm %d diverged:\n%s\nvs\n%s", seed, perm, want, got);
			free(got);
			got = dump_created(s);
			if (strcmp(want_c, got) != 0)
				fail_msg("seed %d perm %d: creation stamps differ:\n%s\nvs\n%s", seed, perm,
				         want_c, got);
			free(got);
		}
		free(want);
		free(want_c);
	}
	/* The generator must really produce concurrent heads, or the test
	 * proves little. */
	assert_true(conflicts_seen > 20);
	veld_store_free(s);
	rm_rf(dir);
	free(dir);
}

static char *dump_conflicts(veld_store *s)
{
	sqlite3_stmt *st;
	size_t cap = 1 << 14, len = 0;
	char *out = malloc(cap);
	out[0] = 0;
	sqlite3_prepare_v2(s->db, "SELECT hex(entity), field FROM conflicts ORDER BY 1, 2", -1, &st,
	                   NULL);
	while (sqlite3_step(st) == SQLITE_ROW)
		len += (size_t)snprintf(out + len, cap - len, "%s %s\n", sqlite3_column_text(st, 0),
		                        sqlite3_column_text(st, 1));
	sqlite3_finalize(st);
	return out;
}

/* ---- the rule on other storage ------------------------------------------------------
 * A second backend of the merge's storage primitives (merge.h), in memory,
 * written from their contract alone: the rule must leave it in the state
 * it leaves SQLite in, for any history in any order with duplicates. A
 * server backend (PostgreSQL) plugs its primitives in the same way. */
#define MEM_OPS (MAXOPS * 2)
struct mem {
	struct mem_op {
		uint8_t device[16], entity[16], hash[32];
		uint64_t seq, hlc;
		char field[65];
		int head;
	} ops[MEM_OPS];
	int nops;
	struct mem_ref {
		uint8_t device[16], entity[16];
		uint64_t seq;
		char field[65];
	} sup[MEM_OPS * NDEV * 4];
	int nsup;
	struct mem_ent {
		uint8_t entity[16], client[16];
		char kind[17], team[65];
		uint64_t created;
	} ent[NENT * 2];
	int nent;
	struct mem_ref conf[NENT * NFIELD];
	int nconf;
};

static struct mem_op *mem_op(struct mem *m, const uint8_t device[16], uint64_t seq)
{
	for (int i = 0; i < m->nops; i++)
		if (m->ops[i].seq == seq && !memcmp(m->ops[i].device, device, 16))
			return &m->ops[i];
	return NULL;
}

static int mem_op_hash(void *db, const uint8_t device[16], uint64_t seq, uint8_t hash[32],
                       int *found)
{
	struct mem_op *o = mem_op(db, device, seq);
	if ((*found = o != NULL))
		memcpy(hash, o->hash, 32);
	return VELD_OK;
}

static int mem_op_insert(void *db, const veld__op *op, int head, const uint8_t *sup,
                         size_t sup_len, int *inserted)
{
	struct mem *m = db;
	(void)sup;
	(void)sup_len;
	if ((*inserted = mem_op(m, op->device, op->seq) == NULL)) {
		struct mem_op *o = &m->ops[m->nops++];
		assert_true(m->nops <= MEM_OPS);
		memcpy(o->device, op->device, 16);
		memcpy(o->entity, op->entity, 16);
		memcpy(o->hash, op->hash, 32);
		o->seq = op->seq;
		o->hlc = op->hlc;
		snprintf(o->field, sizeof o->field, "%s", op->field);
		o->head = head;
	}
	return VELD_OK;
}

static int mem_op_unhead(void *db, const uint8_t device[16], uint64_t seq,
                         const uint8_t entity[16], const char *field, int *changed)
{
	struct mem_op *o = mem_op(db, device, seq);
	*changed = o && !memcmp(o->entity, entity, 16) && !strcmp(o->field, field);
	if (*changed)
		o->head = 0;
	return VELD_OK;
}

static int mem_op_any(void *db, const uint8_t entity[16], int *any)
{
	struct mem *m = db;
	*any = 0;
	for (int i = 0; i < m->nops; i++)
		*any |= !memcmp(m->ops[i].entity, entity, 16);
	return VELD_OK;
}

static int mem_ref_find(const struct mem_ref *r, int n, const uint8_t device[16], uint64_t seq,
                        const uint8_t entity[16], const char *field)
{
	for (int i = 0; i < n; i++)
		if ((!device || (r[i].seq == seq && !memcmp(r[i].device, device, 16))) &&
		    !memcmp(r[i].entity, entity, 16) && !strcmp(r[i].field, field))
			return i;
	return -1;
}

static int mem_sup_check(void *db, const uint8_t device[16], uint64_t seq,
                         const uint8_t entity[16], const char *field, int *superseded)
{
	struct mem *m = db;
	*superseded = mem_ref_find(m->sup, m->nsup, device, seq, entity, field) >= 0;
	return VELD_OK;
}

static int mem_sup_insert(void *db, const uint8_t device[16], uint64_t seq,
                          const uint8_t entity[16], const char *field)
{
	struct mem *m = db;
	if (mem_ref_find(m->sup, m->nsup, device, seq, entity, field) < 0) {
		struct mem_ref *r = &m->sup[m->nsup++];
		memcpy(r->device, device, 16);
		memcpy(r->entity, entity, 16);
		r->seq = seq;
		snprintf(r->field, sizeof r->field, "%s", field);
	}
	return VELD_OK;
}

static struct mem_ent *mem_ent(struct mem *m, const uint8_t entity[16])
{
	for (int i = 0; i < m->nent; i++)
		if (!memcmp(m->ent[i].entity, entity, 16))
			return &m->ent[i];
	return NULL;
}

static int mem_entity_get(void *db, const uint8_t entity[16], char kind[17], uint8_t client[16],
                          char team[65], int *found)
{
	struct mem_ent *e = mem_ent(db, entity);
	if ((*found = e != NULL)) {
		snprintf(kind, 17, "%s", e->kind);
		snprintf(team, 65, "%s", e->team);
		memcpy(client, e->client, 16);
	}
	return VELD_OK;
}

static int mem_entity_upsert(void *db, const veld__op *op)
{
	struct mem *m = db;
	struct mem_ent *e = mem_ent(m, op->entity);
	if (!e) {
		e = &m->ent[m->nent++];
		memcpy(e->entity, op->entity, 16);
		memcpy(e->client, op->client, 16);
		snprintf(e->kind, sizeof e->kind, "%s", op->kind);
		snprintf(e->team, sizeof e->team, "%s", op->team);
		e->created = op->hlc;
	} else if (op->hlc < e->created) {
		e->created = op->hlc;
	}
	return VELD_OK;
}

static int mem_erased_check(void *db, const uint8_t client[16], int *erased)
{
	(void)db;
	(void)client;
	*erased = 0;
	return VELD_OK;
}

static int mem_head_count(void *db, const uint8_t entity[16], const char *field, uint64_t *heads)
{
	struct mem *m = db;
	*heads = 0;
	for (int i = 0; i < m->nops; i++)
		*heads += m->ops[i].head && !memcmp(m->ops[i].entity, entity, 16) &&
		          !strcmp(m->ops[i].field, field);
	return VELD_OK;
}

static int mem_conflict_set(void *db, const uint8_t entity[16], const char *field, int on)
{
	struct mem *m = db;
	int i = mem_ref_find(m->conf, m->nconf, NULL, 0, entity, field);
	if (on && i < 0) {
		memcpy(m->conf[m->nconf].entity, entity, 16);
		snprintf(m->conf[m->nconf++].field, sizeof m->conf[0].field, "%s", field);
	} else if (!on && i >= 0) {
		m->conf[i] = m->conf[--m->nconf];
	}
	return VELD_OK;
}

static const struct veld__merge_prims mem_prims = {
	mem_op_hash, mem_op_insert, mem_op_unhead, mem_op_any, mem_sup_check, mem_sup_insert,
	mem_entity_get, mem_entity_upsert, mem_erased_check, mem_head_count, mem_conflict_set,
};

static void hex_upper(char *out, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02X", p[i]);
}

/* The heads as dump_state prints them (same order: entity, field, hlc
 * and device descending). */
static int head_cmp(const void *a, const void *b)
{
	const struct mem_op *x = *(const struct mem_op *const *)a, *y = *(const struct mem_op *const *)b;
	int c = memcmp(x->entity, y->entity, 16);
	if (!c)
		c = strcmp(x->field, y->field);
	if (!c)
		c = x->hlc < y->hlc ? 1 : x->hlc > y->hlc ? -1 : 0;
	if (!c)
		c = -memcmp(x->device, y->device, 16);
	return c;
}

static char *mem_dump_state(struct mem *m)
{
	const struct mem_op *heads[MEM_OPS];
	size_t cap = 1 << 16, len = 0, n = 0;
	char *out = malloc(cap), e[33], d[33];
	out[0] = 0;
	for (int i = 0; i < m->nops; i++)
		if (m->ops[i].head)
			heads[n++] = &m->ops[i];
	qsort(heads, n, sizeof heads[0], head_cmp);
	for (size_t i = 0; i < n; i++) {
		hex_upper(e, heads[i]->entity, 16);
		hex_upper(d, heads[i]->device, 16);
		len += (size_t)snprintf(out + len, cap - len, "%s/%s/%s/%lld/%lld\n", e, heads[i]->field,
		                        d, (long long)heads[i]->seq, (long long)heads[i]->hlc);
	}
	return out;
}

static int conf_cmp(const void *a, const void *b)
{
	const struct mem_ref *x = a, *y = b;
	int c = memcmp(x->entity, y->entity, 16);
	return c ? c : strcmp(x->field, y->field);
}

static char *mem_dump_conflicts(struct mem *m)
{
	size_t cap = 1 << 14, len = 0;
	char *out = malloc(cap), e[33];
	out[0] = 0;
	qsort(m->conf, (size_t)m->nconf, sizeof m->conf[0], conf_cmp);
	for (int i = 0; i < m->nconf; i++) {
		hex_upper(e, m->conf[i].entity, 16);
		len += (size_t)snprintf(out + len, cap - len, "%s %s\n", e, m->conf[i].field);
	}
	return out;
}

static void test_merge__same_state_on_other_storage(void **state)
{
	char *dir;
	veld_store *s = store_new(&dir, "anna", NULL);
	static struct hist h;
	static struct mem mem;
	struct veld__merge mm;
	int order[MAXOPS * 2], applied, conflicted = 0;
	for (int seed = 1; seed <= 200; seed++) {
		int n;
		rng = 0x2545F4914F6CDD1Dull * (uint64_t)seed;
		make_history(&h, 10 + seed % (MAXOPS - 10));
		n = shuffled_with_duplicates(&h, order);
		reset(s);
		apply_in_order(s, &h, order, n);
		memset(&mem, 0, sizeof mem);
		veld__merge_open_on(&mm, &mem_prims, &mem);
		for (int i = 0; i < n; i++)
			ok(veld__merge_apply(&mm, &h.ops[order[i]], &applied));
		char *a = dump_state(s), *b = mem_dump_state(&mem);
		char *ca = dump_conflicts(s), *cb = mem_dump_conflicts(&mem);
		if (strcmp(a, b) != 0)
			fail_msg("seed %d: heads differ between SQLite and memory:\n%s\nvs\n%s", seed, a, b);
		if (strcmp(ca, cb) != 0)
			fail_msg("seed %d: conflicts differ:\n%s\nvs\n%s", seed, ca, cb);
		conflicted += *ca != '\0';
		free(a);
		free(b);
		free(ca);
		free(cb);
	}
	assert_true(conflicted > 20);
	veld_store_free(s);
	rm_rf(dir);
	free(dir);
}

/* A revoked device's operations above its last accepted seq, taken out
 * after they were merged in any order (a server withheld the revocation),
 * leave the state of a replica that never merged them: heads, conflicts,
 * records and their creation stamps. */
static void test_merge__dropping_a_devices_later_operations(void **state)
{
	char *dir;
	veld_store *s = store_new(&dir, "anna", NULL);
	static struct hist h;
	int order[MAXOPS], dropped_some = 0;

	for (int seed = 1; seed <= 200; seed++) {
		char *want[3], *got[3];
		const veld__op *victim;
		uint64_t cut = 0, top = 0;
		struct veld__tx tx;
		size_t removed = 0, expect = 0;
		int n = 0;
		rng = 0xD1B54A32D192ED03ull * (uint64_t)seed;
		make_history(&h, 10 + seed % (MAXOPS - 10));
		victim = &h.ops[rnd() % (uint32_t)h.n];
		for (int i = 0; i < h.n; i++)
			if (!memcmp(h.ops[i].device, victim->device, VELD_ID_BYTES) && h.ops[i].seq > top)
				top = h.ops[i].seq;
		cut = rnd() % (top + 1);
		/* Never merged. */
		for (int i = 0; i < h.n; i++) {
			if (!memcmp(h.ops[i].device, victim->device, VELD_ID_BYTES) && h.ops[i].seq > cut)
				expect++;
			else
				order[n++] = i;
		}
		reset(s);
		apply_in_order(s, &h, order, n);
		want[0] = dump_state(s);
		want[1] = dump_created(s);
		want[2] = dump_conflicts(s);
		/* Merged in some order, then taken out. */
		for (int i = 0; i < h.n; i++)
			order[i] = i;
		for (int i = h.n - 1; i > 0; i--) {
			int j = (int)(rnd() % (uint32_t)(i + 1)), t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
		reset(s);
		apply_in_order(s, &h, order, h.n);
		ok(veld__tx_begin(s, &tx));
		ok(veld__merge_drop_after(&s->m, victim->device, cut, &removed));
		ok(veld__tx_commit(s, &tx));
		assert_int_equal(removed, expect);
		dropped_some += expect > 0;
		got[0] = dump_state(s);
		got[1] = dump_created(s);
		got[2] = dump_conflicts(s);
		for (int k = 0; k < 3; k++) {
			if (strcmp(want[k], got[k]) != 0)
				fail_msg("seed %d: %s differ after taking out:\n%s\nvs\n%s", seed,
				         k == 0 ? "heads" : k == 1 ? "records" : "conflicts", want[k], got[k]);
			free(want[k]);
			free(got[k]);
		}
		/* What is left merges on as ever. */
		apply_in_order(s, &h, order, h.n);
	}
	assert_true(dropped_some > 100);
	veld_store_free(s);
	rm_rf(dir);
	free(dir);
}

/* The conflicts table always equals the fields with more than one head:
 * the number of fields in one and not the other (-1 if it cannot tell). */
static int conflicts_consistent(veld_store *s)
{
	sqlite3_stmt *st;
	int bad = -1;
	sqlite3_prepare_v2(s->db,
		"SELECT (SELECT count(*) FROM (SELECT entity, field FROM ops WHERE head = 1"
		" GROUP BY entity, field HAVING count(*) > 1 EXCEPT SELECT entity, field FROM conflicts))"
		" + (SELECT count(*) FROM (SELECT entity, field FROM conflicts EXCEPT SELECT entity, field"
		" FROM ops WHERE head = 1 GROUP BY entity, field HAVING count(*) > 1))", -1, &st, NULL);
	if (sqlite3_step(st) == SQLITE_ROW)
		bad = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return bad;
}

/* Any history, any order, duplicates, transactions of any length and a
 * device's later operations dropped now and then: after every commit the
 * conflicts table is in step with the heads. */
static void test_merge__conflicts_table_in_step_any_order(void **state)
{
	char *dir;
	veld_store *s = store_new(&dir, "anna", NULL);
	static struct hist h;
	int order[MAXOPS * 2];
	(void)state;
	for (int seed = 1; seed <= 400; seed++) {
		rng = 0x9E3779B97F4A7C15ull * (uint64_t)seed + 7;
		make_history(&h, 10 + seed % (MAXOPS - 10));
		for (int perm = 0; perm < 6; perm++) {
			int n = h.n, applied, i = 0;
			for (int k = 0; k < h.n; k++)
				order[k] = k;
			for (int k = 0; k < h.n / 3; k++)
				order[n++] = (int)(rnd() % (uint32_t)h.n);
			for (int k = n - 1; k > 0; k--) {
				int j = (int)(rnd() % (uint32_t)(k + 1)), t = order[k];
				order[k] = order[j];
				order[j] = t;
			}
			reset(s);
			while (i < n) { /* random transaction boundaries, random drops */
				struct veld__tx tx;
				int len = 1 + (int)(rnd() % 12);
				ok(veld__tx_begin(s, &tx));
				for (int k = 0; k < len && i < n; k++, i++) {
					ok(veld__merge_apply(&s->m, &h.ops[order[i]], &applied));
					if (rnd() % 17 == 0) {
						size_t removed;
						ok(veld__merge_drop_after(&s->m, h.ops[order[i]].device,
						                          h.ops[order[i]].seq, &removed));
					}
				}
				ok(veld__tx_commit(s, &tx));
				if (conflicts_consistent(s) != 0)
					fail_msg("seed %d perm %d: conflicts table out of step", seed, perm);
			}
		}
	}
	veld_store_free(s);
	rm_rf(dir);
	free(dir);
}

/* A retention rule removes a client's visits: this device's own operations
 * keep their place (value NULL), the record's row goes. A colleague's
 * concurrent edit arriving after is not the first write of a new record:
 * the field has two heads and is listed as a conflict. */
static void test_merge__conflict_after_a_retention_removal(void **state)
{
	char *dir;
	veld_store *s = store_new(&dir, "anna", NULL);
	veld__op w, b;
	struct veld__tx tx;
	uint8_t v[8] = {1};
	int applied;
	(void)state;
	memset(&w, 0, sizeof w);
	w.version = VELD_OP_VERSION;
	memcpy(w.device, s->device, VELD_ID_BYTES);
	w.seq = 1;
	w.hlc = 100 << 16;
	snprintf(w.kind, sizeof w.kind, "visit");
	memset(w.entity, 0xE1, VELD_ID_BYTES);
	memset(w.client, 0xC1, VELD_ID_BYTES);
	snprintf(w.team, sizeof w.team, "t");
	w.kv = 1;
	snprintf(w.field, sizeof w.field, "actions");
	w.value = v;
	w.value_len = 8;
	veld__op_hash(&w);
	b = w;
	memset(b.device, 0xBB, VELD_ID_BYTES);
	b.hlc = 101 << 16; /* concurrent: supersedes nothing */
	veld__op_hash(&b);
	ok(veld__tx_begin(s, &tx));
	ok(veld__merge_apply(&s->m, &w, &applied));
	ok(veld__tx_commit(s, &tx));
	ok(veld__tx_begin(s, &tx));
	ok(veld__remove_records(s, w.client, "visit", NULL));
	ok(veld__tx_commit(s, &tx));
	ok(veld__tx_begin(s, &tx));
	ok(veld__merge_apply(&s->m, &b, &applied));
	ok(veld__tx_commit(s, &tx));
	assert_int_equal(applied, 1);
	assert_int_equal(conflicts_consistent(s), 0);
	veld_store_free(s);
	rm_rf(dir);
	free(dir);
}

static void test_merge__same_identity_different_content_refused(void **state)
{
	char *dir;
	veld_store *s = store_new(&dir, "anna", NULL);
	static struct hist h;
	veld__op evil;
	uint8_t v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	struct veld__tx tx;
	int applied, order[1] = {0};
	rng = 42;
	make_history(&h, 5);
	apply_in_order(s, &h, order, 1);
	evil = h.ops[0];
	evil.value = v;
	veld__op_hash(&evil);
	ok(veld__tx_begin(s, &tx));
	assert_int_equal(veld__merge_apply(&s->m, &evil, &applied), VELD_ECORRUPT);
	assert_non_null(strstr(veld_error_last(), "two different operations claim sequence"));
	assert_int_equal(applied, 0);
	/* The one held, again: nothing to do. */
	ok(veld__merge_apply(&s->m, &h.ops[0], &applied));
	assert_int_equal(applied, 0);
	veld__tx_abort(s, &tx);
	veld_store_free(s);
	rm_rf(dir);
	free(dir);
}

/* A second device's concurrent write, made by hand with the client's key,
 * shows as a conflict through the public API until resolve supersedes it. */
/* Apply, as another device would have written it, `value` (JSON text) for
 * the client's address: by the device whose id is 16 bytes `dev`, seq 1,
 * stamped `hlc`, superseding nothing. */
static void apply_address(veld_store *s, const char *client, uint8_t dev, uint64_t hlc,
                          const char *value)
{
	veld__op op;
	const uint8_t *key;
	uint8_t *sealed;
	size_t sealed_len;
	struct veld__tx tx;
	int applied;

	memset(&op, 0, sizeof op);
	op.version = VELD_OP_VERSION;
	memset(op.device, dev, VELD_ID_BYTES);
	op.seq = 1;
	op.hlc = hlc;
	snprintf(op.kind, sizeof op.kind, "client");
	veld__unhex(op.entity, VELD_ID_BYTES, client);
	memcpy(op.client, op.entity, VELD_ID_BYTES);
	snprintf(op.team, sizeof op.team, "default");
	snprintf(op.field, sizeof op.field, "address");
	op.kv = 1;
	ok(veld__client_key(s, op.client, 1, &key));
	sealed = veld__seal_value(value, strlen(value), op.entity, "address", op.device, 1, key,
	                          &sealed_len);
	op.value = sealed;
	op.value_len = sealed_len;
	veld__op_hash(&op);
	ok(veld__tx_begin(s, &tx));
	ok(veld__merge_apply(&s->m, &op, &applied));
	ok(veld__tx_commit(s, &tx));
	free(sealed);
}

/* Two devices stamp the same moment: the higher device id wins, and the
 * conflict lists every value winner first (stamp, then device, highest
 * first), whatever order they arrived in. */
static void test_merge__a_tie_on_the_stamp_goes_to_the_higher_device(void **state)
{
	static const char *const want[][2] = {
		{"High 2", "eeeeeeee"}, {"Low 1", "11111111"}, {"Main street 1", NULL},
	};
	char *dir, *client, *out = NULL;
	veld_store *s = store_new(&dir, "anna", NULL);
	(void)state;
	client = create(s, "client", "{\"name\":\"C\",\"address\":\"Main street 1\"}");
	uint64_t hlc = s->hlc + 1; /* later than every stamp of this store */
	apply_address(s, client, 0x11, hlc, "\"Low 1\"");
	apply_address(s, client, 0xEE, hlc, "\"High 2\"");
	ok(veld_record_get(s, "client", client, NULL, &out));
	json_t *rec = json_loads(out, 0, NULL);
	veld_free(out);
	assert_string_equal(json_string_value(json_object_get(rec, "address")), "High 2");
	json_t *values = json_object_get(json_array_get(json_object_get(rec, "conflicts"), 0),
	                                 "values");
	assert_int_equal(json_array_size(values), 3);
	for (size_t i = 0; i < 3; i++) {
		json_t *v = json_array_get(values, i);
		assert_string_equal(json_string_value(json_object_get(v, "value")), want[i][0]);
		if (want[i][1])
			assert_memory_equal(json_string_value(json_object_get(v, "device")), want[i][1], 8);
	}
	json_decref(rec);
	veld_store_free(s);
	rm_rf(dir);
	free(dir);
	free(client);
}

static void test_merge__concurrent_edits_both_kept(void **state)
{
	char *dir, *client, *out = NULL, json[] = "\"Other street 5\"";
	veld_store *s = store_new(&dir, "anna", NULL);
	json_t *rec, *c;
	veld__op op;
	const uint8_t *key;
	uint8_t *sealed;
	size_t sealed_len;
	struct veld__tx tx;
	int applied;

	client = create(s, "client", "{\"name\":\"C\",\"address\":\"Main street 1\"}");
	memset(&op, 0, sizeof op);
	op.version = VELD_OP_VERSION;
	memset(op.device, 0xEE, VELD_ID_BYTES); /* sorts after any device on a tie */
	op.seq = 1;
	op.hlc = s->hlc; /* concurrent: supersedes nothing */
	snprintf(op.kind, sizeof op.kind, "client");
	veld__unhex(op.entity, VELD_ID_BYTES, client);
	memcpy(op.client, op.entity, VELD_ID_BYTES);
	snprintf(op.team, sizeof op.team, "default");
	snprintf(op.field, sizeof op.field, "address");
	op.kv = 1;
	ok(veld__client_key(s, op.client, 1, &key));
	sealed = veld__seal_value(json, sizeof json - 1, op.entity, "address", op.device, 1, key,
	                          &sealed_len);
	op.value = sealed;
	op.value_len = sealed_len;
	veld__op_hash(&op);
	ok(veld__tx_begin(s, &tx));
	ok(veld__merge_apply(&s->m, &op, &applied));
	ok(veld__tx_commit(s, &tx));
	free(sealed);

	ok(veld_record_get(s, "client", client, NULL, &out));
	rec = json_loads(out, 0, NULL);
	veld_free(out);
	/* Deterministic winner: same hlc, higher device id. */
	assert_string_equal(json_string_value(json_object_get(rec, "address")), "Other street 5");
	c = json_array_get(json_object_get(rec, "conflicts"), 0);
	assert_string_equal(json_string_value(json_object_get(c, "field")), "address");
	assert_int_equal(json_array_size(json_object_get(c, "values")), 2);
	json_decref(rec);

	ok(veld_conflicts_list(s, NULL, &out));
	rec = json_loads(out, 0, NULL);
	veld_free(out);
	assert_int_equal(json_array_size(rec), 1);
	json_decref(rec);

	ok(veld_conflict_resolve(s, "client", client, "address", "\"Main street 1a\"", NULL));
	ok(veld_conflicts_list(s, NULL, &out));
	assert_string_equal(out, "[]");
	veld_free(out);
	ok(veld_record_get(s, "client", client, NULL, &out));
	assert_non_null(strstr(out, "Main street 1a"));
	assert_null(strstr(out, "conflicts"));
	veld_free(out);
	veld_store_free(s);
	free(client);
	rm_rf(dir);
	free(dir);
}

/* Two operations in a row on one record: the second may not move the record
 * to another client or kind, even though the first was just checked. */
static void test_merge__record_keeps_kind_and_client(void **state)
{
	char *dir;
	veld_store *s = store_new(&dir, "anna", NULL);
	static struct hist h;
	veld__op second;
	struct veld__tx tx;
	int applied, order[1] = {0};
	rng = 7;
	make_history(&h, 3);
	apply_in_order(s, &h, order, 1);
	second = h.ops[0];
	second.seq = 1000;
	second.nsup = 0;
	memset(second.client, 0x5A, VELD_ID_BYTES);
	veld__op_hash(&second);
	ok(veld__tx_begin(s, &tx));
	ok(veld__merge_apply(&s->m, &h.ops[0], &applied)); /* known: caches the record */
	assert_int_equal(veld__merge_apply(&s->m, &second, &applied), VELD_ECORRUPT);
	snprintf(second.kind, sizeof second.kind, "note");
	memcpy(second.client, h.ops[0].client, VELD_ID_BYTES);
	veld__op_hash(&second);
	assert_int_equal(veld__merge_apply(&s->m, &second, &applied), VELD_ECORRUPT);
	veld__tx_abort(s, &tx);
	veld_store_free(s);
	rm_rf(dir);
	free(dir);
}

static void test_merge__hlc_is_monotonic(void **state)
{
	uint64_t a = veld__hlc_tick(0, 1000);
	assert_true(veld__hlc_tick(a, 999) > a);      /* clock went back */
	assert_true(veld__hlc_tick(a, 1000) > a);     /* same millisecond */
	assert_int_equal(veld__hlc_ms(veld__hlc_tick(a, 2000)), 2000);
	assert_true(veld__hlc_recv(a, a + 500, 0) > a + 500);
}

/* One bound for writer, reader and wire: the largest JSON value a writer
 * accepts (VELD_VALUE_MAX bytes) seals within VELD_SEALED_VALUE_MAX and
 * opens again; one byte more, or a value sealed without the padding, is
 * refused with the check it failed. */
static void test_merge__largest_value_opens_and_bad_ones_do_not(void **state)
{
	uint8_t key[32], ent[VELD_ID_BYTES], dev[VELD_ID_BYTES], ad[128], raw[64 + 40];
	char *json = malloc(VELD_VALUE_MAX + 2);
	const char *why = NULL;
	uint8_t *sealed;
	size_t len = 0;
	json_t *v = NULL;
	randombytes_buf(key, sizeof key);
	randombytes_buf(ent, sizeof ent);
	randombytes_buf(dev, sizeof dev);
	json[0] = '"';
	memset(json + 1, 'a', VELD_VALUE_MAX - 2);
	json[VELD_VALUE_MAX - 1] = '"';
	sealed = veld__seal_value(json, VELD_VALUE_MAX, ent, "text", dev, 1, key, &len);
	assert_true(len <= VELD_SEALED_VALUE_MAX);
	assert_int_equal(veld__value_open(sealed, len, ent, "text", dev, 1, key, &v, &why), VELD_OK);
	assert_int_equal(json_string_length(v), VELD_VALUE_MAX - 2);
	json_decref(v);
	free(sealed);
	/* A writer that does not check: one byte over. */
	json[VELD_VALUE_MAX - 1] = 'a';
	json[VELD_VALUE_MAX] = '"';
	sealed = veld__seal_value(json, VELD_VALUE_MAX + 1, ent, "text", dev, 1, key, &len);
	assert_int_equal(veld__value_open(sealed, len, ent, "text", dev, 1, key, &v, &why),
	                 VELD_ECORRUPT);
	assert_non_null(why);
	assert_null(v);
	free(sealed);
	/* Sealed without the padding: 64 bytes that end in no 0x80 marker. */
	memset(raw, 'x', 64);
	raw[0] = '"';
	raw[63] = '"';
	veld__seal(sealed = malloc(sizeof raw), raw, 64, ad, veld__value_ad(ad, ent, "text", dev, 1),
	           key);
	assert_int_equal(veld__value_open(sealed, 64 + VELD_SEAL_OVERHEAD, ent, "text", dev, 1, key,
	                                  &v, &why), VELD_ECORRUPT);
	assert_string_equal(why, "has bad padding");
	free(sealed);
	free(json);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge__any_order_with_duplicates_converges),
		cmocka_unit_test(test_merge__dropping_a_devices_later_operations),
		cmocka_unit_test(test_merge__same_state_on_other_storage),
		cmocka_unit_test(test_merge__conflicts_table_in_step_any_order),
		cmocka_unit_test(test_merge__conflict_after_a_retention_removal),
		cmocka_unit_test(test_merge__same_identity_different_content_refused),
		cmocka_unit_test(test_merge__concurrent_edits_both_kept),
		cmocka_unit_test(test_merge__a_tie_on_the_stamp_goes_to_the_higher_device),
		cmocka_unit_test(test_merge__record_keeps_kind_and_client),
		cmocka_unit_test(test_merge__hlc_is_monotonic),
		cmocka_unit_test(test_merge__largest_value_opens_and_bad_ones_do_not),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
