/* test_e2e_malicious.c - a server that lies.
 *
 * A tampering proxy (proxy.c) sits between every store and the real `veld
 * serve`: it forwards each request and, for the case at hand, rewrites the
 * answer a device gets (forged signatures, made-up authors, swapped keys,
 * items left out or replaced by stubs, cursors moved, old pages replayed, a
 * server rolled back). A device whose software the test writes (rogue.c)
 * plays a certified phone that sends what veld's writer never would.
 *
 * Every case starts from the same world: an office, anna and bram of team
 * noord, zoe of team zuid, records written and synced honestly. For each
 * case the device under attack must either refuse the page with
 * VELD_EPROTO and a message naming the rule (never a value), or keep the
 * item aside (pending, quarantined) and say so; nothing forged may enter
 * its state; what was there stays; the others keep syncing; and once the
 * tampering stops every device syncs on and the team converges. */
#include "e2e.h"
#include "proxy.h"
#include "rogue.h"

#include "auth.h"
#include "syncstate.h"
#include "trust.h"
#include "wire.h"

#include <jansson.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- the world ------------------------------------------------------------------ */

struct world {
	char *tmp;
	struct e2e_server srv; /* the real server */
	struct e2e_server via; /* the same, reached through the proxy */
	struct tproxy *px;
	veld_store *office, *anna, *bram, *zoe;
	char office_id[33], anna_id[33], bram_id[33], zoe_id[33];
	char *x;    /* anna's client; bram holds its key */
	char *note; /* bram's note on it */
	uint64_t room; /* make_room: cursors up to this one are free */
};

static void store_id(veld_store *s, char hex[33])
{
	veld__hex(hex, veld__store_device(s), VELD_ID_BYTES);
}

/* Everyone syncs until everyone holds everything and the office's latest
 * checkpoint. */
static void settle(struct world *w)
{
	e2e_sync(w->anna);
	e2e_sync(w->bram);
	e2e_sync(w->zoe);
	e2e_sync(w->office);
	e2e_sync(w->anna);
	e2e_sync(w->bram);
	e2e_sync(w->zoe);
}

static int world_setup(void **state)
{
	struct world *w = calloc(1, sizeof *w);
	char data[512], b[300];
	assert_non_null(w);
	w->tmp = e2e_tmpdir();
	snprintf(data, sizeof data, "%s/server", w->tmp);
	e2e_server_start(&w->srv, data, 0);
	w->px = tproxy_start(w->srv.url);
	assert_non_null(w->px);
	/* Every store enrolls through the proxy, so it is the server they know. */
	w->via = w->srv;
	snprintf(w->via.url, sizeof w->via.url, "%s", tproxy_url(w->px));
	w->office = e2e_office(&w->via, w->tmp);
	w->anna = e2e_device(&w->via, w->office, w->tmp, "anna", "noord");
	w->bram = e2e_device(&w->via, w->office, w->tmp, "bram", "noord");
	w->zoe = e2e_device(&w->via, w->office, w->tmp, "zoe", "zuid");
	store_id(w->office, w->office_id);
	store_id(w->anna, w->anna_id);
	store_id(w->bram, w->bram_id);
	store_id(w->zoe, w->zoe_id);
	w->x = e2e_create(w->anna, "client", "{\"name\":\"Honest Client\",\"address\":\"Kerkstraat 1\","
	                                     "\"phone\":\"0612345678\"}");
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"kind\":\"home_visit\",\"scores\":{\"financien\":3}}",
	         w->x);
	free(e2e_create(w->anna, "visit", b));
	e2e_sync(w->anna);
	e2e_sync(w->bram);
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"text\":\"bram was here\"}", w->x);
	w->note = e2e_create(w->bram, "note", b);
	free(e2e_create(w->zoe, "client", "{\"name\":\"Zuid Client\"}"));
	settle(w);
	*state = w;
	return 0;
}

static int world_teardown(void **state)
{
	struct world *w = *state;
	tproxy_set_hook(w->px, NULL, NULL);
	veld_store_free(w->anna);
	veld_store_free(w->bram);
	veld_store_free(w->zoe);
	veld_store_free(w->office);
	tproxy_stop(w->px);
	e2e_server_stop(&w->srv, SIGTERM);
	e2e_rm_rf(w->tmp);
	free(w->tmp);
	free(w->x);
	free(w->note);
	free(w);
	return 0;
}

/* ---- what a store says -------------------------------------------------------------- */

static json_int_t info_num(veld_store *s, const char *key)
{
	char *out = NULL;
	json_t *j;
	json_int_t v;
	ok(veld_store_info(s, &out));
	j = json_loads(out, 0, NULL);
	veld_free(out);
	assert_non_null(j);
	v = json_integer_value(json_object_get(j, key));
	json_decref(j);
	return v;
}

/* The quarantine as JSON text (caller frees). */
static char *quarantine_of(veld_store *s)
{
	char *out = NULL, *copy;
	ok(veld_quarantine_list(s, &out));
	copy = strdup(out);
	veld_free(out);
	return copy;
}

/* How many quarantine entries have this reason (a substring). */
static size_t quarantined_for(veld_store *s, const char *reason)
{
	char *out = NULL;
	json_t *j, *e;
	size_t i, n = 0;
	ok(veld_quarantine_list(s, &out));
	j = json_loads(out, 0, NULL);
	veld_free(out);
	json_array_foreach(j, i, e) {
		const char *r = json_string_value(json_object_get(e, "reason"));
		if (r && strstr(r, reason))
			n++;
	}
	json_decref(j);
	return n;
}

/* The values the test writes: none may appear in a message. */
static const char *const values[] = {"Honest", "Kerkstraat", "0612345678", "Forged", "bram was",
                                     NULL};

/* A sync the device must refuse: VELD_EPROTO, the message naming `rule`
 * and holding no value. */
static void refused(veld_store *s, const char *rule)
{
	char *out = NULL;
	const char *msg;
	int rc = veld_sync(s, NULL, &out);
	msg = veld_error_last();
	if (rc != VELD_EPROTO)
		fail_msg("sync returned %d (%s); wanted VELD_EPROTO saying '%s'", rc, msg, rule);
	if (!strstr(msg, rule))
		fail_msg("sync refused with '%s'; wanted a message saying '%s'", msg, rule);
	for (int i = 0; values[i]; i++)
		if (strstr(msg, values[i]))
			fail_msg("a value in the message: %s", msg);
	assert_null(out);
}

/* Bram's sync is refused while the tampering goes on; anna, zoe and the
 * office, whose pulls the proxy leaves alone, sync on meanwhile. */
static void refused_meanwhile(struct world *w, const char *rule)
{
	refused(w->bram, rule);
	e2e_sync(w->anna);
	e2e_sync(w->zoe);
	e2e_sync(w->office);
}

/* A sync that succeeds; its summary (caller frees). */
static json_t *synced(veld_store *s, const veld_sync_options *o)
{
	char *out = NULL;
	json_t *j;
	int rc = veld_sync(s, o, &out);
	if (rc != VELD_OK)
		fail_msg("sync: %d %s", rc, veld_error_last());
	j = json_loads(out, 0, NULL);
	veld_free(out);
	assert_non_null(j);
	return j;
}

/* Does the sync summary warn with this text? */
static int warns(const json_t *summary, const char *text)
{
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(summary, "warnings"), i, e)
		if (strstr(json_string_value(e), text))
			return 1;
	return 0;
}

static void assert_state(veld_store *s, const char *want)
{
	char *now = e2e_state(s);
	assert_string_equal(now, want);
	free(now);
}

/* A state without the records' "updated" stamps. */
static char *without_updated(char *state)
{
	json_t *j = json_loads(state, 0, NULL), *list, *rec;
	const char *kind;
	size_t i;
	char *out;
	assert_non_null(j);
	json_object_foreach(j, kind, list)
		json_array_foreach(list, i, rec)
			json_object_del(rec, "updated");
	out = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	free(state);
	return out;
}

/* Anna and bram hold the same state, and the office the same of client x.
 * `stamps` 0: but for the records' "updated": a field the team's policy
 * keeps at the office leaves the author's own operation in place without
 * its value (docs/protocol.md, field policy), so its stamp still counts on
 * the author's device only. */
static void converged_as(struct world *w, int stamps)
{
	char *a = e2e_state(w->anna), *b = e2e_state(w->bram), *oa = NULL, *ob = NULL;
	if (!stamps) {
		a = without_updated(a);
		b = without_updated(b);
	}
	assert_string_equal(a, b);
	ok(veld_record_get(w->anna, "client", w->x, NULL, &oa));
	ok(veld_record_get(w->office, "client", w->x, NULL, &ob));
	{
		json_t *ja = json_loads(oa, 0, NULL), *jb = json_loads(ob, 0, NULL);
		assert_string_equal(json_string_value(json_object_get(ja, "name")),
		                    json_string_value(json_object_get(jb, "name")));
		json_decref(ja);
		json_decref(jb);
	}
	veld_free(oa);
	veld_free(ob);
	free(a);
	free(b);
}

static void converged(struct world *w)
{
	converged_as(w, 1);
}

/* A field of a record as this store shows it (caller frees; NULL if absent). */
static char *field_of(veld_store *s, const char *kind, const char *id, const char *field)
{
	char *out = NULL, *v = NULL;
	json_t *j, *f;
	ok(veld_record_get(s, kind, id, NULL, &out));
	j = json_loads(out, 0, NULL);
	veld_free(out);
	f = json_object_get(j, field);
	if (f)
		v = json_dumps(f, JSON_ENCODE_ANY | JSON_COMPACT);
	json_decref(j);
	return v;
}

/* ---- a store's keys at work (the test plays a device that is itself) -------------- */

static void store_sign(veld_store *s, uint8_t sig[64], const uint8_t *msg, size_t n)
{
	struct veld__step st;
	ok(veld__step_begin(s, &st, VELD_STEP_KEYS));
	veld__store_sign(s, sig, msg, n);
	ok(veld__step_end(s, &st, VELD_OK));
}

static void unhex16(uint8_t out[16], const char *hex)
{
	assert_int_equal(veld__unhex(out, 16, hex), 0);
}

/* ---- room for forged items ------------------------------------------------------------ */

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Room in the feeds for forged items: the server restarts, and a server
 * moves each feed's next cursor to at least its clock in milliseconds
 * times 1024 at every start (docs/protocol.md, GET /v1/pull). Cursors
 * between the highest handed out before and that are free for good: no
 * real item can ever get one, so a forged item there moves no device
 * past a real one. */
static void restart(struct world *w)
{
	char dir[sizeof w->srv.dir];
	snprintf(dir, sizeof dir, "%s", w->srv.dir);
	e2e_server_stop(&w->srv, SIGTERM);
	e2e_server_start(&w->srv, dir, w->srv.port);
}

static void make_room(struct world *w)
{
	w->room = now_ms() * 1024u;
	restart(w);
}

/* ---- a page plan: what a hook adds to or changes on a device's pulls ------------------ */

struct plan {
	char device[33]; /* whose pulls */
	int fired;       /* pulls it tampered with */
	char err[256];   /* what the hook could not do */
	/* Forged items take free cursors at or below these (make_room); 0:
	 * any above the one asked for (a page that must be refused). */
	uint64_t top_op, top_env, top_notice;
	veld__op ops[8];
	size_t nops;
	struct veld__batch batches[4];
	size_t nbatches;
	struct veld__envelope envs[8];
	size_t nenvs;
	struct veld__notice notices[4];
	size_t nnotices;
	struct veld__team_key tkeys[4];
	size_t ntkeys;
	/* A change of the page after the additions: 0 to send it, non-zero
	 * to leave this page alone (it is not the one). */
	int (*edit)(struct veld__pull_resp *p, struct plan *pl, struct tproxy_msg *m);
	/* for edits */
	uint8_t dev[16];
	uint64_t seq, seq_to; /* an operation, or seq..seq_to */
	int mode;
};

static void plan_init(struct plan *pl, const char *device)
{
	memset(pl, 0, sizeof *pl);
	snprintf(pl->device, sizeof pl->device, "%s", device);
}

static void plan_room(struct world *w, struct plan *pl)
{
	assert_true(w->room > 0);
	pl->top_op = pl->top_env = pl->top_notice = w->room;
}

/* The k smallest cursors above `after`, at most `top`, that no list uses. */
static int free_cursors(uint64_t after, uint64_t top, const uint64_t *const used[4],
                        const size_t nused[4], size_t k, uint64_t *out)
{
	size_t got = 0;
	for (uint64_t x = after + 1; x <= top && got < k; x++) {
		int taken = 0;
		for (int l = 0; l < 4 && !taken; l++)
			for (size_t i = 0; i < nused[l] && !taken; i++)
				taken = used[l][i] == x;
		if (!taken)
			out[got++] = x;
	}
	return got == k ? 0 : -1;
}

/* Merge k items (of `size` bytes, cursors `cur`, increasing) into a list
 * in cursor order. */
static void merge_in(struct tproxy_msg *m, void **items, uint64_t **cursors, size_t *n, size_t size,
                     const void *add, const uint64_t *cur, size_t k)
{
	size_t total = *n + k, i = 0, j = 0, o = 0;
	uint8_t *it = tproxy_alloc(m, total * size);
	uint64_t *cs = tproxy_alloc(m, total * sizeof *cs);
	while (i < *n || j < k) {
		if (j == k || (i < *n && (*cursors)[i] < cur[j])) {
			memcpy(it + o * size, (uint8_t *)*items + i * size, size);
			cs[o++] = (*cursors)[i++];
		} else {
			memcpy(it + o * size, (const uint8_t *)add + j * size, size);
			cs[o++] = cur[j++];
		}
	}
	*items = it;
	*cursors = cs;
	*n = total;
}

static void *append(struct tproxy_msg *m, const void *old, size_t n, const void *add, size_t k,
                    size_t size)
{
	uint8_t *it = tproxy_alloc(m, (n + k) * size);
	if (n)
		memcpy(it, old, n * size);
	memcpy(it + n * size, add, k * size);
	return it;
}

static uint64_t max_of(uint64_t a, const uint64_t *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (c[i] > a)
			a = c[i];
	return a;
}

/* `next` as an honest server computes it: the last cursor given, or the
 * one asked for. */
static void honest_next(struct veld__pull_resp *p, const struct tproxy_msg *m)
{
	uint64_t after = tproxy_query_u64(m, "after");
	p->next = max_of(max_of(max_of(max_of(after, p->cursors, p->nops), p->stub_cursors,
	                                      p->nstubs), p->held_cursors, p->nheld),
	                 p->own_cursors, p->nown);
	p->env_next = max_of(tproxy_query_u64(m, "env_after"), p->env_cursors, p->nenvs);
	p->notice_next = max_of(tproxy_query_u64(m, "notice_after"), p->notice_cursors, p->nnotices);
}

/* What an edit of a decoded answer gets: the exchange, and the hook's
 * state (a plan, or the state of another hook). */
struct edit_ctx {
	struct tproxy_msg *m;
	void *state;
};

/* A plan without room (top 0) is for a page that must be refused: its
 * items may take any cursor above the one asked for. */
static uint64_t top_or_any(uint64_t top)
{
	return top ? top : UINT64_MAX;
}

/* k free cursors of a feed for a plan's items; 0, or -1 (pl->err says). */
static int room_in(struct plan *pl, const char *feed, uint64_t after, uint64_t top,
                   const uint64_t *const used[4], const size_t nused[4], size_t k, uint64_t *out)
{
	if (free_cursors(after, top_or_any(top), used, nused, k, out) == 0)
		return 0;
	snprintf(pl->err, sizeof pl->err, "no room in the %s feed", feed);
	return -1;
}

static int plan_apply(struct veld__pull_resp *p, void *arg)
{
	struct edit_ctx *c = arg;
	struct plan *pl = c->state;
	struct tproxy_msg *m = c->m;
	uint64_t cur[8];
	if (pl->nops) {
		const uint64_t *used[4] = {p->cursors, p->stub_cursors, p->held_cursors,
		                           p->own_cursors};
		const size_t nused[4] = {p->nops, p->nstubs, p->nheld, p->nown};
		if (room_in(pl, "operation", tproxy_query_u64(m, "after"), pl->top_op, used, nused,
		            pl->nops, cur))
			return 1;
		merge_in(m, (void **)&p->ops, &p->cursors, &p->nops, sizeof *p->ops, pl->ops, cur,
		         pl->nops);
		p->next = max_of(p->next, cur, pl->nops);
	}
	if (pl->nbatches) {
		p->batches = append(m, p->batches, p->nbatches, pl->batches, pl->nbatches,
		                    sizeof *p->batches);
		p->nbatches += pl->nbatches;
	}
	if (pl->nenvs) {
		const uint64_t *used[4] = {p->env_cursors, NULL, NULL, NULL};
		const size_t nused[4] = {p->nenvs, 0, 0, 0};
		if (room_in(pl, "envelope", tproxy_query_u64(m, "env_after"), pl->top_env, used, nused,
		            pl->nenvs, cur))
			return 1;
		merge_in(m, (void **)&p->envs, &p->env_cursors, &p->nenvs, sizeof *p->envs, pl->envs, cur,
		         pl->nenvs);
		p->env_next = max_of(p->env_next, cur, pl->nenvs);
	}
	if (pl->nnotices) {
		const uint64_t *used[4] = {p->notice_cursors, NULL, NULL, NULL};
		const size_t nused[4] = {p->nnotices, 0, 0, 0};
		if (room_in(pl, "notice", tproxy_query_u64(m, "notice_after"), pl->top_notice, used,
		            nused, pl->nnotices, cur))
			return 1;
		merge_in(m, (void **)&p->notices, &p->notice_cursors, &p->nnotices, sizeof *p->notices,
		         pl->notices, cur, pl->nnotices);
		p->notice_next = max_of(p->notice_next, cur, pl->nnotices);
	}
	if (pl->ntkeys) {
		p->team_keys = append(m, p->team_keys, p->nteam_keys, pl->tkeys, pl->ntkeys,
		                      sizeof *p->team_keys);
		p->nteam_keys += pl->ntkeys;
	}
	return pl->edit ? pl->edit(p, pl, m) : 0;
}

static void pull_hook(struct tproxy_msg *m, void *arg)
{
	struct plan *pl = arg;
	struct edit_ctx c = {m, pl};
	int r;
	if (!m->answered || !tproxy_is(m, "GET", "/v1/pull", pl->device))
		return;
	if ((r = tproxy_edit_pull(m, plan_apply, &c)) < 0 && !pl->err[0])
		snprintf(pl->err, sizeof pl->err, "a pulled page did not decode or encode");
	if (r == 0)
		pl->fired++;
}

/* Set the plan, run `body`, take the plan off; the hook must have fired
 * and found nothing it could not do. */
#define TAMPERED(w, pl, body)                                                       \
	do {                                                                            \
		tproxy_set_hook((w)->px, pull_hook, (pl));                                  \
		body;                                                                       \
		tproxy_set_hook((w)->px, NULL, NULL);                                       \
		if ((pl)->err[0])                                                           \
			fail_msg("the tampering hook: %s", (pl)->err);                          \
		if (!(pl)->fired)                                                           \
			fail_msg("the tampering hook never fired");                             \
	} while (0)

/* ---- forged items ---------------------------------------------------------------------- */

/* An envelope from `from` (hex), signed by `signer` (a store; NULL: 64
 * random bytes, which no key made). */
static void forged_envelope(struct veld__envelope *e, const char *client, uint64_t kv,
                            const char *to, uint64_t tv, const char *from, veld_store *signer)
{
	uint8_t msg[VELD_ENVELOPE_SIG_MSG_MAX];
	size_t n;
	memset(e, 0, sizeof *e);
	unhex16(e->client, client);
	e->kv = kv;
	snprintf(e->to, sizeof e->to, "%s", to);
	e->tv = tv;
	randombytes_buf(e->sealed, sizeof e->sealed);
	unhex16(e->from, from);
	n = veld__envelope_sig_message(msg, e->from, e->client, e->kv, e->to, e->tv, e->sealed);
	if (signer)
		store_sign(signer, e->sig, msg, n);
	else
		randombytes_buf(e->sig, sizeof e->sig);
}

/* ---- cases -------------------------------------------------------------------------------- */

/* Key envelopes the server made up or passed on from the wrong device: a
 * new version of a client's key and a replacement for the version held,
 * signed by nobody, by another key than their author's, or validly by a
 * device of another team (and a team device's own later version). */
static void test_malicious__forged_key_envelopes(void **state)
{
	struct world *w = *state;
	struct plan pl;
	char *before = e2e_state(w->bram), *q;
	json_int_t pending = info_num(w->bram, "pending"), quarantined = info_num(w->bram, "quarantined");

	/* A version 2 of x's key "from anna", signed by nobody. */
	plan_init(&pl, w->bram_id);
	forged_envelope(&pl.envs[pl.nenvs++], w->x, 2, "team:noord", 1, w->anna_id, NULL);
	TAMPERED(w, &pl, refused_meanwhile(w, "a key envelope does not carry its author's signature"));
	assert_state(w->bram, before);

	/* A replacement of version 1 "from anna", signed by zoe's key. */
	plan_init(&pl, w->bram_id);
	forged_envelope(&pl.envs[pl.nenvs++], w->x, 1, "team:noord", 1, w->anna_id, w->zoe);
	TAMPERED(w, &pl, refused_meanwhile(w, "a key envelope does not carry its author's signature"));
	assert_state(w->bram, before);
	assert_int_equal(info_num(w->bram, "pending"), pending);
	assert_int_equal(info_num(w->bram, "quarantined"), quarantined);

	/* Validly signed by zoe (team zuid, whom noord's devices do not know):
	 * a replacement of version 1 and a version 2; and a version 2 validly
	 * signed by anna, who may not make one (only the office does). */
	make_room(w);
	plan_init(&pl, w->bram_id);
	plan_room(w, &pl);
	forged_envelope(&pl.envs[pl.nenvs++], w->x, 1, "team:noord", 1, w->zoe_id, w->zoe);
	forged_envelope(&pl.envs[pl.nenvs++], w->x, 2, "team:noord", 1, w->zoe_id, w->zoe);
	forged_envelope(&pl.envs[pl.nenvs++], w->x, 2, "team:noord", 1, w->anna_id, w->anna);
	TAMPERED(w, &pl, json_decref(synced(w->bram, NULL)));
	assert_int_equal(info_num(w->bram, "pending"), pending + 2);
	assert_int_equal(info_num(w->bram, "quarantined"), quarantined + 1);
	assert_int_equal(quarantined_for(w->bram, "a later key version not from the office"), 1);
	assert_state(w->bram, before);

	/* The office knows zoe: hers for a noord client are refused outright. */
	plan_init(&pl, w->office_id);
	plan_room(w, &pl);
	forged_envelope(&pl.envs[pl.nenvs++], w->x, 1, "team:noord", 1, w->zoe_id, w->zoe);
	forged_envelope(&pl.envs[pl.nenvs++], w->x, 2, "team:noord", 1, w->zoe_id, w->zoe);
	TAMPERED(w, &pl, json_decref(synced(w->office, NULL)));
	assert_int_equal(quarantined_for(w->office, "sealed by a device of another team"), 2);
	q = quarantine_of(w->office);
	assert_non_null(strstr(q, w->zoe_id));
	free(q);

	/* The tampering stops: the team syncs on, with x's key as it was. */
	settle(w);
	assert_state(w->bram, before);
	converged(w);
	ok(veld_store_verify(w->bram, &q));
	veld_free(q);
	free(before);
}

/* The device list with a made-up device, and the plan on the office's
 * pulls. */
struct ghost_list {
	const struct rogue *ghost;
	struct plan *pl;
	int listed;
};

static int list_ghost(struct veld__devices_resp *d, void *arg)
{
	struct edit_ctx *c = arg;
	struct ghost_list *gl = c->state;
	struct veld__device_info *v = tproxy_alloc(c->m, (d->ndevices + 1) * sizeof *v);
	memcpy(v, d->devices, d->ndevices * sizeof *v);
	memset(&v[d->ndevices], 0, sizeof *v);
	memcpy(v[d->ndevices].device, gl->ghost->id, 16);
	snprintf(v[d->ndevices].team, sizeof v[d->ndevices].team, "noord");
	snprintf(v[d->ndevices].role, sizeof v[d->ndevices].role, "worker");
	snprintf(v[d->ndevices].label, sizeof v[d->ndevices].label, "ghost");
	memcpy(v[d->ndevices].sign_pk, gl->ghost->sign_pk, 32);
	memcpy(v[d->ndevices].box_pk, gl->ghost->box_pk, 32);
	v[d->ndevices].enrolled = 1700000000000ull;
	v[d->ndevices].has_auth = 1;
	randombytes_buf(v[d->ndevices].auth, 32);
	randombytes_buf(v[d->ndevices].proof, 32);
	d->devices = v;
	d->ndevices++;
	return 0;
}

static void ghost_hook(struct tproxy_msg *m, void *arg)
{
	struct ghost_list *gl = arg;
	struct edit_ctx c = {m, gl};
	if (m->answered && tproxy_is(m, "GET", "/v1/devices", NULL)) {
		if (tproxy_edit_devices(m, list_ghost, &c) == 0)
			gl->listed++;
		return;
	}
	pull_hook(m, gl->pl);
}

/* A device the office never certified: the server lists it, "certifies"
 * it with a notice it signed itself, and hands out a batch and operations
 * it signed with the made-up device's key. */
static void test_malicious__invented_author(void **state)
{
	struct world *w = *state;
	struct plan pl;
	struct rogue ghost;
	struct veld__notice_body cert;
	msgpack_sbuffer body;
	uint8_t x[16], key[32], visit[16];
	char *before = e2e_state(w->bram), *name;
	json_int_t pending = info_num(w->bram, "pending");
	json_t *sum;

	rogue_new(&ghost, "noord");
	unhex16(x, w->x);
	randombytes_buf(key, sizeof key); /* it cannot know x's key */
	randombytes_buf(visit, sizeof visit);

	/* A certificate of it, not signed by the office. */
	memset(&cert, 0, sizeof cert);
	cert.kind = VELD_NOTICE_CERT;
	memcpy(cert.id, ghost.id, 16);
	memcpy(cert.sign_pk, ghost.sign_pk, 32);
	memcpy(cert.box_pk, ghost.box_pk, 32);
	snprintf(cert.role, sizeof cert.role, "worker");
	cert.enrolled = 1700000000000ull;
	msgpack_sbuffer_init(&body);
	ok(veld__wire_notice_body_encode(&body, &cert));
	plan_init(&pl, w->bram_id);
	snprintf(pl.notices[0].team, sizeof pl.notices[0].team, "noord");
	pl.notices[0].n = 1000;
	snprintf(pl.notices[0].kind, sizeof pl.notices[0].kind, "cert");
	pl.notices[0].at = 1700000000000ull;
	pl.notices[0].body = (const uint8_t *)body.data;
	pl.notices[0].body_len = body.size;
	randombytes_buf(pl.notices[0].sig, 64);
	pl.nnotices = 1;
	TAMPERED(w, &pl, refused_meanwhile(w, "a pulled notice does not carry the office's signature"));
	assert_state(w->bram, before);

	/* Its batch: a new name for anna's client, and a visit. */
	rogue_op(&ghost, "client", x, x, "name", "\"Forged Name\"", key);
	rogue_op(&ghost, "visit", visit, x, "kind", "\"home_visit\"", key);
	rogue_sign(&ghost);
	make_room(w);
	plan_init(&pl, w->bram_id);
	plan_room(w, &pl);
	memcpy(pl.ops, ghost.ops, 2 * sizeof *pl.ops);
	pl.nops = 2;
	pl.batches[pl.nbatches++] = rogue_batch(&ghost);
	TAMPERED(w, &pl, json_decref(synced(w->bram, NULL)));
	/* They wait for a certificate that never comes, outside the state. */
	assert_int_equal(info_num(w->bram, "pending"), pending + 2);
	assert_state(w->bram, before);
	name = field_of(w->bram, "client", w->x, "name");
	assert_string_equal(name, "\"Honest Client\"");
	free(name);

	/* The office: the server lists the device with an invite's auth and a
	 * proof it made up; the office certifies nothing it cannot prove, and
	 * says so; the operations wait there too. */
	plan_init(&pl, w->office_id);
	plan_room(w, &pl);
	memcpy(pl.ops, ghost.ops, 2 * sizeof *pl.ops);
	pl.nops = 2;
	pl.batches[pl.nbatches++] = rogue_batch(&ghost);
	{
		struct ghost_list gl;
		memset(&gl, 0, sizeof gl);
		gl.ghost = &ghost;
		gl.pl = &pl;
		tproxy_set_hook(w->px, ghost_hook, &gl);
		sum = synced(w->office, NULL);
		tproxy_set_hook(w->px, NULL, NULL);
		assert_true(gl.listed > 0);
		assert_true(pl.fired > 0);
		assert_false(pl.err[0]);
	}
	assert_true(warns(sum, "are not certified: no invite of this office proves them"));
	json_decref(sum);
	assert_int_equal(info_num(w->office, "pending"), 2);

	/* The tampering stops: nothing of it is left but the waiting. */
	settle(w);
	converged(w);
	assert_state(w->bram, before);
	assert_int_equal(info_num(w->bram, "pending"), pending + 2);
	sum = synced(w->office, NULL);
	assert_false(warns(sum, "are not certified: no invite"));
	json_decref(sum);
	rogue_reset(&ghost);
	msgpack_sbuffer_destroy(&body);
	free(before);
}

/* A team key the office did not sign, or signed but sealed to another key,
 * or whose halves do not belong together, or another team's. */
static void forged_team_key(struct veld__team_key *tk, const char *team, uint64_t tv,
                            veld_store *signer, const uint8_t to[32], int mismatch)
{
	uint8_t sk[32], other[32], msg[VELD_TEAM_KEY_SIG_MSG_MAX];
	size_t n;
	memset(tk, 0, sizeof *tk);
	snprintf(tk->team, sizeof tk->team, "%s", team);
	tk->tv = tv;
	crypto_box_keypair(tk->pk, sk);
	if (mismatch)
		crypto_box_keypair(other, sk);
	crypto_box_seal(tk->sealed, sk, 32, to);
	n = veld__team_key_sig_message(msg, team, tv, tk->pk);
	if (signer)
		store_sign(signer, tk->sig, msg, n);
	else
		randombytes_buf(tk->sig, 64);
}

static void test_malicious__swapped_team_key(void **state)
{
	struct world *w = *state;
	struct plan pl;
	uint8_t nobody_pk[32], nobody_sk[32];
	const uint8_t *bram_box = veld__store_box_pk(w->bram);
	char *before = e2e_state(w->bram), *y, *name;
	static const struct {
		const char *team;
		int office_signed, to_bram, mismatch;
		const char *rule;
	} cases[] = {
		{"noord", 0, 1, 0, "a pulled team key does not carry the office's signature"},
		{"noord", 1, 0, 0, "a team key sealed for this device does not open"},
		{"noord", 1, 1, 1, "a team key's halves do not match"},
		{"zuid", 1, 1, 0, "the server sent a key of another team"},
	};
	crypto_box_keypair(nobody_pk, nobody_sk);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		plan_init(&pl, w->bram_id);
		forged_team_key(&pl.tkeys[pl.ntkeys++], cases[i].team, 2,
		                cases[i].office_signed ? w->office : NULL,
		                cases[i].to_bram ? bram_box : nobody_pk, cases[i].mismatch);
		TAMPERED(w, &pl, refused_meanwhile(w, cases[i].rule));
		assert_state(w->bram, before);
	}
	/* Anna and the office sync on meanwhile. */
	e2e_sync(w->anna);
	e2e_sync(w->office);

	/* The tampering stops: a client anna makes now reaches bram under the
	 * team's real key. */
	y = e2e_create(w->anna, "client", "{\"name\":\"After The Swap\"}");
	settle(w);
	name = field_of(w->bram, "client", y, "name");
	assert_string_equal(name, "\"After The Swap\"");
	free(name);
	converged(w);
	free(y);
	free(before);
}

static void write_note(veld_store *s, const char *x, const char *text);

/* Anna's batches re-signed with a key that is not hers. */
static int resign_batches(struct veld__pull_resp *p, struct plan *pl, struct tproxy_msg *m)
{
	uint8_t pk[32], sk[64], msg[77];
	int done = 0;
	(void)m;
	crypto_sign_keypair(pk, sk);
	for (size_t b = 0; b < p->nbatches; b++) {
		struct veld__batch *bt = &p->batches[b];
		if (memcmp(bt->device, pl->dev, 16) != 0)
			continue;
		assert_int_equal(veld__batch_digest(msg, (uint32_t)bt->ver, bt->device, bt->first,
		                                    bt->last, bt->hashes,
		                                    (size_t)(bt->last - bt->first + 1)),
		                 0);
		crypto_sign_detached(bt->sig, NULL, msg, sizeof msg, sk);
		done = 1;
	}
	return !done;
}

/* The device list with anna's keys swapped for the server's own. */
struct swapped_list {
	uint8_t anna[16];
	int listed;
};

static int swap_keys(struct veld__devices_resp *d, void *arg)
{
	struct edit_ctx *c = arg;
	struct swapped_list *sl = c->state;
	uint8_t sk[64];
	for (size_t i = 0; i < d->ndevices; i++)
		if (memcmp(d->devices[i].device, sl->anna, 16) == 0) {
			struct veld__device_info *v = tproxy_alloc(c->m, d->ndevices * sizeof *v);
			memcpy(v, d->devices, d->ndevices * sizeof *v);
			crypto_sign_keypair(v[i].sign_pk, sk);
			crypto_box_keypair(v[i].box_pk, sk);
			d->devices = v;
			return 0;
		}
	return 1;
}

static void swap_hook(struct tproxy_msg *m, void *arg)
{
	struct swapped_list *sl = arg;
	struct edit_ctx c = {m, sl};
	if (m->answered && tproxy_is(m, "GET", "/v1/devices", NULL) &&
	    tproxy_edit_devices(m, swap_keys, &c) == 0)
		sl->listed++;
}

/* An author's key swapped by the server: her operations handed out under
 * a signature by another key are refused; the office, shown other keys for
 * her, keeps the ones it certified; what she writes after still reaches
 * the team under her own. */
static void test_malicious__swapped_author_key(void **state)
{
	struct world *w = *state;
	struct plan pl;
	struct swapped_list sl;
	struct veld__cert before_cert, after_cert;
	char *before, *text;
	json_t *sum;

	write_note(w->anna, w->x, "anna under her own key");
	e2e_sync(w->anna);
	before = e2e_state(w->bram);
	plan_init(&pl, w->bram_id);
	unhex16(pl.dev, w->anna_id);
	pl.edit = resign_batches;
	TAMPERED(w, &pl, refused_meanwhile(w, "a pulled batch does not carry its author's signature"));
	assert_state(w->bram, before);

	memset(&sl, 0, sizeof sl);
	unhex16(sl.anna, w->anna_id);
	ok(veld__cert_get(w->office, sl.anna, &before_cert));
	tproxy_set_hook(w->px, swap_hook, &sl);
	sum = synced(w->office, NULL);
	tproxy_set_hook(w->px, NULL, NULL);
	json_decref(sum);
	assert_true(sl.listed > 0);
	ok(veld__cert_get(w->office, sl.anna, &after_cert));
	assert_memory_equal(before_cert.sign_pk, after_cert.sign_pk, 32);
	assert_memory_equal(before_cert.box_pk, after_cert.box_pk, 32);

	/* The tampering stops: bram gets anna's note, and her next. */
	write_note(w->anna, w->x, "anna again");
	settle(w);
	text = e2e_state(w->bram);
	assert_non_null(strstr(text, "anna under her own key"));
	assert_non_null(strstr(text, "anna again"));
	free(text);
	converged(w);
	free(before);
}

/* The page's checkpoint forged: mode 1 dated now and signed by nobody,
 * mode 2 the one held with a head raised (its signature kept), mode 3
 * another team's. */
static int forge_checkpoint(struct veld__pull_resp *p, struct plan *pl, struct tproxy_msg *m)
{
	struct veld__checkpoint *cp = &p->checkpoint;
	uint8_t *heads;
	if (!p->has_checkpoint || cp->heads_len < 24)
		return 1;
	heads = tproxy_alloc(m, cp->heads_len);
	memcpy(heads, cp->heads, cp->heads_len);
	if (pl->mode == 1) {
		cp->at = now_ms();
		randombytes_buf(cp->sig, 64);
	} else if (pl->mode == 2) {
		heads[23] ^= 0x40; /* the first head's seq, low byte */
	} else {
		snprintf(cp->team, sizeof cp->team, "zuid");
	}
	cp->heads = heads;
	return 0;
}

/* The office's checkpoint forged (a newer one signed by nobody, the one
 * held with a head changed, another team's), and a team key of a version
 * the device holds with another public half: each refused, the one held
 * kept. */
static void test_malicious__forged_checkpoint(void **state)
{
	struct world *w = *state;
	struct plan pl;
	char *before = e2e_state(w->bram), *now;
	static const char *const rules[] = {
		NULL, "a pulled checkpoint does not carry the office's signature",
		"a pulled checkpoint does not carry the office's signature",
		"a pulled checkpoint does not carry the office's signature",
	};
	/* Mode 2 first: bram holds the office's latest checkpoint, so the
	 * page's is the one held but for the head (the office signs a new one
	 * at each of its syncs after). */
	for (int k = 0; k < 3; k++) {
		int mode = k == 0 ? 2 : k;
		plan_init(&pl, w->bram_id);
		pl.edit = forge_checkpoint;
		pl.mode = mode;
		TAMPERED(w, &pl, refused_meanwhile(w, rules[mode]));
		assert_state(w->bram, before);
	}
	plan_init(&pl, w->bram_id);
	forged_team_key(&pl.tkeys[pl.ntkeys++], "noord", 1, NULL, veld__store_box_pk(w->bram), 0);
	TAMPERED(w, &pl, refused_meanwhile(w, "a pulled team key does not carry the office's signature"));
	assert_state(w->bram, before);

	/* The tampering stops: the team syncs on under the office's word. */
	write_note(w->anna, w->x, "after the forged checkpoints");
	settle(w);
	now = e2e_state(w->bram);
	assert_non_null(strstr(now, "after the forged checkpoints"));
	free(now);
	converged(w);
	free(before);
}

/* ---- the office's access-log pull ------------------------------------------------------- */

struct audit_plan {
	struct veld__audit_entry e;
	uint8_t sealed[96];
	int fired;
};

static int audit_add(struct veld__audit_pull_resp *p, void *arg)
{
	struct edit_ctx *c = arg;
	struct audit_plan *ap = c->state;
	uint64_t after = tproxy_query_u64(c->m, "after");
	struct veld__audit_entry *e = tproxy_alloc(c->m, (p->n + 1) * sizeof *e);
	if (p->more)
		return 1; /* at the end of the feed */
	if (p->n)
		memcpy(e, p->entries, p->n * sizeof *e);
	e[p->n] = ap->e;
	e[p->n].cursor = (p->next > after ? p->next : after) + 1;
	p->next = e[p->n].cursor;
	p->entries = e;
	p->n++;
	return 0;
}

static void audit_hook(struct tproxy_msg *m, void *arg)
{
	struct audit_plan *ap = arg;
	struct edit_ctx c = {m, ap};
	if (m->answered && tproxy_is(m, "GET", "/v1/audit", NULL) &&
	    tproxy_edit_audit(m, audit_add, &c) == 0)
		ap->fired++;
}

static size_t office_log_count(struct world *w, const char *device)
{
	char *out = NULL, filter[96];
	json_t *j;
	size_t n;
	snprintf(filter, sizeof filter, "{\"device\":\"%s\"}", device);
	ok(veld_office_log(w->office, device ? filter : NULL, &out));
	j = json_loads(out, 0, NULL);
	veld_free(out);
	n = json_array_size(j);
	json_decref(j);
	return n;
}

/* Access-log entries the server made up: one "of anna" that her key did
 * not sign, one of a device the office never certified. */
static void test_malicious__injected_access_log_entry(void **state)
{
	struct world *w = *state;
	struct audit_plan ap;
	struct rogue ghost;
	uint8_t msg[VELD_AUDIT_SIG_MSG];
	char ghost_id[33], *out = NULL;
	size_t total, of_anna;
	json_t *sum;

	e2e_sync(w->office);
	total = office_log_count(w, NULL);
	assert_true(total > 0);

	/* "Anna's", not signed by her. */
	memset(&ap, 0, sizeof ap);
	unhex16(ap.e.device, w->anna_id);
	ap.e.seq = 100000;
	randombytes_buf(ap.sealed, sizeof ap.sealed);
	ap.e.sealed = ap.sealed;
	ap.e.sealed_len = sizeof ap.sealed;
	randombytes_buf(ap.e.sig, 64);
	tproxy_set_hook(w->px, audit_hook, &ap);
	refused(w->office, "access-log entry 100000 of a device does not carry its device's signature");
	tproxy_set_hook(w->px, NULL, NULL);
	assert_true(ap.fired > 0);
	assert_int_equal(office_log_count(w, NULL), total);

	/* A made-up device's, signed with its made-up key: it waits, forever;
	 * the entries before it are taken, and anna's new ones too. */
	rogue_new(&ghost, "noord");
	veld__hex(ghost_id, ghost.id, 16);
	memset(&ap, 0, sizeof ap);
	memcpy(ap.e.device, ghost.id, 16);
	ap.e.seq = 1;
	randombytes_buf(ap.sealed, sizeof ap.sealed);
	ap.e.sealed = ap.sealed;
	ap.e.sealed_len = sizeof ap.sealed;
	veld__audit_sig_message(msg, ghost.id, 1, ap.sealed, sizeof ap.sealed);
	crypto_sign_detached(ap.e.sig, NULL, msg, sizeof msg, ghost.sign_sk);
	ok(veld_record_get(w->anna, "client", w->x, "a read the office must hear of", &out));
	veld_free(out);
	e2e_sync(w->anna);
	tproxy_set_hook(w->px, audit_hook, &ap);
	sum = synced(w->office, NULL);
	tproxy_set_hook(w->px, NULL, NULL);
	assert_true(ap.fired > 0);
	assert_true(warns(sum, "devices the office has not certified wait"));
	json_decref(sum);
	assert_int_equal(office_log_count(w, ghost_id), 0);
	of_anna = office_log_count(w, w->anna_id);
	assert_true(office_log_count(w, NULL) > total);
	ok(veld_office_log(w->office, NULL, &out));
	assert_non_null(strstr(out, "a read the office must hear of"));
	veld_free(out);

	/* The tampering stops. The server does not list the ghost, so no
	 * certificate will come: its entry is kept at its place as
	 * `unverified`, with nothing of what it says, and the office says so. */
	sum = synced(w->office, NULL);
	assert_true(warns(sum, "1 access-log entries are kept as unverified"));
	assert_false(warns(sum, "have not certified wait"));
	json_decref(sum);
	assert_int_equal(office_log_count(w, ghost_id), 1);
	{
		char filter[96];
		snprintf(filter, sizeof filter, "{\"device\":\"%s\"}", ghost_id);
		ok(veld_office_log(w->office, filter, &out));
		assert_non_null(strstr(out, "\"unverified\""));
		veld_free(out);
	}
	assert_true(office_log_count(w, w->anna_id) >= of_anna);
	settle(w);
	converged(w);
}

/* ---- page edits ------------------------------------------------------------------------- */

/* The index of (pl->dev, pl->seq) among the page's operations, or -1. */
static long find_op(const struct veld__pull_resp *p, const struct plan *pl)
{
	for (size_t i = 0; i < p->nops; i++)
		if (memcmp(p->ops[i].device, pl->dev, 16) == 0 && p->ops[i].seq == pl->seq)
			return (long)i;
	return -1;
}

static void remove_op(struct veld__pull_resp *p, size_t i)
{
	memmove(&p->ops[i], &p->ops[i + 1], (p->nops - i - 1) * sizeof *p->ops);
	memmove(&p->cursors[i], &p->cursors[i + 1], (p->nops - i - 1) * sizeof *p->cursors);
	p->nops--;
}

/* Leave out the operations pl->seq..pl->seq_to of pl->dev; `next` as an
 * honest server would say for what is left. */
/* Whether an item of the page is in batch b. */
static int batch_used(const struct veld__pull_resp *p, size_t b)
{
	const struct veld__batch *bt = &p->batches[b];
#define IN_BATCH(x) (memcmp((x).device, bt->device, 16) == 0 && (x).seq >= bt->first && \
                     (x).seq <= bt->last)
	for (size_t i = 0; i < p->nops; i++)
		if (IN_BATCH(p->ops[i]))
			return 1;
	for (size_t i = 0; i < p->nstubs; i++)
		if (IN_BATCH(p->stubs[i]))
			return 1;
	for (size_t i = 0; i < p->nheld; i++)
		if (IN_BATCH(p->held[i]))
			return 1;
#undef IN_BATCH
	return 0;
}

/* A server that leaves items out leaves out the batches only they were in
 * (a device refuses a batch no item of the page is in). */
static void drop_unused_batches(struct veld__pull_resp *p)
{
	for (size_t b = 0; b < p->nbatches;) {
		if (batch_used(p, b)) {
			b++;
			continue;
		}
		memmove(&p->batches[b], &p->batches[b + 1], (p->nbatches - b - 1) * sizeof *p->batches);
		p->nbatches--;
	}
}

static int drop_ops(struct veld__pull_resp *p, struct plan *pl, struct tproxy_msg *m)
{
	size_t dropped = 0;
	for (size_t i = 0; i < p->nops;) {
		if (memcmp(p->ops[i].device, pl->dev, 16) == 0 && p->ops[i].seq >= pl->seq &&
		    p->ops[i].seq <= pl->seq_to) {
			remove_op(p, i);
			dropped++;
		} else {
			i++;
		}
	}
	if (!dropped)
		return 1;
	drop_unused_batches(p);
	honest_next(p, m);
	return 0;
}

/* Leave out the notice of kind pl->mode names ("erase", "revoke",
 * "policy"). */
static const char *const notice_kinds[] = {"", "erase", "revoke", "policy"};

static int drop_notice(struct veld__pull_resp *p, struct plan *pl, struct tproxy_msg *m)
{
	for (size_t i = 0; i < p->nnotices; i++)
		if (strcmp(p->notices[i].kind, notice_kinds[pl->mode]) == 0) {
			memmove(&p->notices[i], &p->notices[i + 1], (p->nnotices - i - 1) * sizeof *p->notices);
			memmove(&p->notice_cursors[i], &p->notice_cursors[i + 1],
			        (p->nnotices - i - 1) * sizeof *p->notice_cursors);
			p->nnotices--;
			honest_next(p, m);
			return 0;
		}
	return 1;
}

/* Show the operation (pl->dev, pl->seq) as a stub or a held item:
 *   mode 1: a stub of this team (no reason),
 *   mode 2: a stub that says another team (its hash then differs),
 *   mode 3: a held item of the field it is (the policy lets it through),
 *   mode 4: a held item that names a field the policy keeps (hash differs). */
static int withhold_op(struct veld__pull_resp *p, struct plan *pl, struct tproxy_msg *m)
{
	long i = find_op(p, pl);
	uint8_t rh[32], kh[32];
	uint64_t cursor;
	veld__op op;
	if (i < 0)
		return 1;
	op = p->ops[i];
	cursor = p->cursors[i];
	veld__op_layers(&op, rh, kh);
	remove_op(p, (size_t)i);
	if (pl->mode <= 2) {
		struct veld__stub x;
		memset(&x, 0, sizeof x);
		memcpy(x.device, op.device, 16);
		x.seq = op.seq;
		snprintf(x.team, sizeof x.team, "%s", pl->mode == 2 ? "zuid" : op.team);
		memcpy(x.client, op.client, 16);
		memcpy(x.kh, kh, 32);
		merge_in(m, (void **)&p->stubs, &p->stub_cursors, &p->nstubs, sizeof x, &x, &cursor, 1);
	} else {
		struct veld__held x;
		memset(&x, 0, sizeof x);
		memcpy(x.device, op.device, 16);
		x.seq = op.seq;
		snprintf(x.team, sizeof x.team, "%s", op.team);
		memcpy(x.client, op.client, 16);
		snprintf(x.kind, sizeof x.kind, "%s", op.kind);
		snprintf(x.field, sizeof x.field, "%s", pl->mode == 4 ? "birth_date" : op.field);
		memcpy(x.rh, rh, 32);
		merge_in(m, (void **)&p->held, &p->held_cursors, &p->nheld, sizeof x, &x, &cursor, 1);
	}
	return 0;
}

/* The last seq of a store's own operations. */
static uint64_t last_seq(veld_store *s)
{
	return veld__store_last_seq(s);
}

/* A note on client `x` by `s`. */
static void write_note(veld_store *s, const char *x, const char *text)
{
	char b[256];
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"text\":\"%s\"}", x, text);
	free(e2e_create(s, "note", b));
}

/* ---- withheld items ------------------------------------------------------------------------ */

/* An operation left out of the feed: in the middle of an author's
 * sequence (a gap), and at its end with another author's after it, so the
 * page looks whole and only the office's checkpoint can tell. */
/* Bram's own operations come back as runs (own=1): the digest of their
 * hashes. A run the server made up (its digest is not that of what bram
 * wrote) refuses the page; runs left out are operations the server claims
 * and did not show: pushed again, and the summary says so. */
static int lie_own_run(struct veld__pull_resp *p, struct plan *pl, struct tproxy_msg *m)
{
	(void)pl;
	(void)m;
	if (!p->nown)
		return 1;
	p->own[p->nown - 1].d[7] ^= 0x20;
	return 0;
}

static int drop_own_runs(struct veld__pull_resp *p, struct plan *pl, struct tproxy_msg *m)
{
	(void)pl;
	if (!p->nown)
		return 1;
	p->nown = 0;
	honest_next(p, m);
	return 0;
}

static void test_malicious__own_runs(void **state)
{
	struct world *w = *state;
	struct plan pl;
	char *before;
	json_t *j = NULL;

	write_note(w->bram, w->x, "bram two");
	before = e2e_state(w->bram);
	plan_init(&pl, w->bram_id);
	pl.edit = lie_own_run;
	TAMPERED(w, &pl, refused(w->bram, "digest of this device's operations"));
	assert_state(w->bram, before);
	free(before);

	write_note(w->bram, w->x, "bram three");
	plan_init(&pl, w->bram_id);
	pl.edit = drop_own_runs;
	TAMPERED(w, &pl, j = synced(w->bram, NULL));
	assert_true(warns(j, "they were pushed again"));
	json_decref(j);
	/* Honest again: the others get all of it. */
	settle(w);
	converged(w);
	assert_int_equal(e2e_count(w->anna, "note"), e2e_count(w->bram, "note"));
}

/* A server from before own runs: it refuses own=1 as a parameter it does
 * not know (400 malformed). The device pulls its own operations whole for
 * the rest of the sync, and they count as come back. */
/* Answer the exchange, instead of the server, with a veld error. */
static void answer_error(struct tproxy_msg *m, long status, const char *code, const char *msg)
{
	struct veld__error_resp e;
	msgpack_sbuffer sb;
	memset(&e, 0, sizeof e);
	snprintf(e.error, sizeof e.error, "%s", code);
	snprintf(e.message, sizeof e.message, "%s", msg);
	msgpack_sbuffer_init(&sb);
	if (veld__wire_error_encode(&sb, &e) == VELD_OK)
		tproxy_set_body(m, status, (const uint8_t *)sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
}

struct old_server {
	const char *device;
	int refused, whole;
};

static void old_server_hook(struct tproxy_msg *m, void *arg)
{
	struct old_server *o = arg;
	if (m->answered || !tproxy_is(m, "GET", "/v1/pull", o->device))
		return;
	if (!strstr(m->uri, "own=1")) {
		o->whole++;
		return;
	}
	answer_error(m, 400, "malformed", "query: unknown or repeated parameter");
	o->refused++;
}

static void test_malicious__server_without_own_runs(void **state)
{
	struct world *w = *state;
	struct old_server o = {w->bram_id, 0, 0};
	json_t *j;
	write_note(w->bram, w->x, "bram to an old server");
	tproxy_set_hook(w->px, old_server_hook, &o);
	j = synced(w->bram, NULL);
	tproxy_set_hook(w->px, NULL, NULL);
	assert_int_equal(o.refused, 1);
	assert_true(o.whole >= 1);
	assert_false(warns(j, "sent back only"));
	json_decref(j);
	settle(w);
	converged(w);
}

/* A server that says "403 revoked" shows no revocation the office signed:
 * a device that holds something the server does not (here a note not yet
 * pushed) keeps its store (VELD_EPERM, not VELD_EREVOKED, on which the app
 * and the CLI wipe it), and syncs on when the server stops saying so. */
struct false_revoke {
	const char *device;
	int answered;
};

static void false_revoke_hook(struct tproxy_msg *m, void *arg)
{
	struct false_revoke *f = arg;
	if (m->answered || strcmp(m->device, f->device) != 0)
		return;
	answer_error(m, 403, "revoked", "this device was revoked; wipe its store");
	f->answered++;
}

static void test_malicious__false_revocation_keeps_unsent_work(void **state)
{
	struct world *w = *state;
	struct false_revoke f = {w->bram_id, 0};
	char *out = NULL, *got = NULL;
	write_note(w->bram, w->x, "bram was kept");
	tproxy_set_hook(w->px, false_revoke_hook, &f);
	int rc = veld_sync(w->bram, NULL, &out);
	tproxy_set_hook(w->px, NULL, NULL);
	assert_true(f.answered >= 1);
	if (rc != VELD_EPERM)
		fail_msg("sync returned %d (%s); wanted VELD_EPERM, the store kept", rc,
		         veld_error_last());
	assert_non_null(strstr(veld_error_last(), "the store is kept"));
	assert_null(out);
	/* The store is whole: its notes are there, and the next sync sends them. */
	assert_int_equal(veld_record_list(w->bram, "note", NULL, NULL, &got), VELD_OK);
	assert_non_null(strstr(got, "bram was kept"));
	veld_free(got);
	json_decref(synced(w->bram, NULL));
	settle(w);
	converged(w);
}

static void test_malicious__withheld_operation(void **state)
{
	struct world *w = *state;
	struct plan pl;
	char *before, *text;
	uint64_t s1, s2, s3;

	write_note(w->anna, w->x, "anna one");
	s1 = last_seq(w->anna);
	write_note(w->anna, w->x, "anna two");
	s2 = last_seq(w->anna);
	write_note(w->anna, w->x, "anna three");
	s3 = last_seq(w->anna);
	e2e_sync(w->anna);
	write_note(w->office, w->x, "office after anna");
	e2e_sync(w->office); /* its checkpoint counts anna's three */
	before = e2e_state(w->bram);

	/* A gap: anna's second note left out. */
	plan_init(&pl, w->bram_id);
	pl.edit = drop_ops;
	unhex16(pl.dev, w->anna_id);
	pl.seq = s1 + 1;
	pl.seq_to = s2;
	TAMPERED(w, &pl, refused_meanwhile(w, "the server left out operations"));
	assert_state(w->bram, before);

	/* Her last note left out, the office's after it delivered. */
	plan_init(&pl, w->bram_id);
	pl.edit = drop_ops;
	unhex16(pl.dev, w->anna_id);
	pl.seq = s2 + 1;
	pl.seq_to = s3;
	TAMPERED(w, &pl, refused_meanwhile(w, "the server withholds operations"));
	/* What came is in; what was left out is not. */
	text = e2e_state(w->bram);
	assert_non_null(strstr(text, "anna two"));
	assert_non_null(strstr(text, "office after anna"));
	assert_null(strstr(text, "anna three"));
	free(text);
	/* Anna and the office sync on meanwhile. */
	e2e_sync(w->anna);
	e2e_sync(w->office);

	/* The tampering stops: bram gets what was left out. */
	e2e_sync(w->bram);
	assert_int_equal(e2e_count(w->bram, "note"), 5);
	write_note(w->anna, w->x, "anna four");
	settle(w);
	converged(w);
	text = e2e_state(w->bram);
	assert_non_null(strstr(text, "anna three"));
	assert_non_null(strstr(text, "anna four"));
	free(text);

	/* Anna's next note left out, with only bram's own after it, before the
	 * office holds it: nothing can tell yet, and bram's cursor passes it. */
	s1 = last_seq(w->anna);
	write_note(w->anna, w->x, "anna five");
	s2 = last_seq(w->anna);
	e2e_sync(w->anna);
	write_note(w->bram, w->x, "bram again");
	plan_init(&pl, w->bram_id);
	pl.edit = drop_ops;
	unhex16(pl.dev, w->anna_id);
	pl.seq = s1 + 1;
	pl.seq_to = s2;
	TAMPERED(w, &pl, e2e_sync(w->bram));
	text = e2e_state(w->bram);
	assert_null(strstr(text, "anna five"));
	free(text);
	/* Her note after it shows the gap; the next sync gets both. */
	write_note(w->anna, w->x, "anna six");
	e2e_sync(w->anna);
	refused(w->bram, "the server left out operations");
	e2e_sync(w->bram);
	text = e2e_state(w->bram);
	assert_non_null(strstr(text, "anna five"));
	assert_non_null(strstr(text, "anna six"));
	free(text);
	settle(w);
	converged(w);
	free(before);
}

/* The office erases a client; the server keeps the erasure from bram. */
static void test_malicious__withheld_erasure(void **state)
{
	struct world *w = *state;
	struct plan pl;
	char *e = e2e_create(w->anna, "client", "{\"name\":\"Erase Me\"}"), *before, *out = NULL;
	settle(w);
	ok(veld_record_get(w->bram, "client", e, NULL, &out));
	veld_free(out);
	ok(veld_office_erase(w->office, e, "erasure request", NULL));
	e2e_sync(w->office); /* its checkpoint counts the erasure */
	e2e_sync(w->anna);
	assert_int_equal(veld_record_get(w->anna, "client", e, NULL, &out), VELD_ESHREDDED);
	before = e2e_state(w->bram);

	plan_init(&pl, w->bram_id);
	pl.edit = drop_notice;
	pl.mode = 1;
	TAMPERED(w, &pl, refused_meanwhile(w, "the server withholds notices"));
	/* Bram says so, and has not erased: nothing came that could. */
	assert_state(w->bram, before);
	ok(veld_record_get(w->bram, "client", e, NULL, &out));
	veld_free(out);

	/* The tampering stops: the erasure reaches bram. */
	e2e_sync(w->bram);
	assert_int_equal(veld_record_get(w->bram, "client", e, NULL, &out), VELD_ESHREDDED);
	settle(w);
	converged(w);
	free(before);
	free(e);
}

/* The office changes x's phone and narrows noord's field policy (phone
 * stays at the office); the server keeps the policy from bram but shows
 * him the new phone as a held item. */
static void test_malicious__withheld_policy(void **state)
{
	struct world *w = *state;
	struct plan pl;
	char *before, *phone;
	ok(veld_record_update(w->office, "client", w->x, "{\"phone\":\"0699999999\"}", NULL, NULL));
	ok(veld_office_field_policy(w->office, "noord", "address", NULL));
	e2e_sync(w->office);
	before = e2e_state(w->bram);

	plan_init(&pl, w->bram_id);
	pl.edit = drop_notice;
	pl.mode = 3;
	TAMPERED(w, &pl, refused_meanwhile(w, "that this team's policy lets through"));
	assert_state(w->bram, before);
	phone = field_of(w->bram, "client", w->x, "phone");
	assert_string_equal(phone, "\"0612345678\"");
	free(phone);
	/* Anna holds the policy and keeps the phone at the office. */
	e2e_sync(w->anna);
	assert_null(field_of(w->anna, "client", w->x, "phone"));

	/* The tampering stops: bram takes the policy and removes the phone. */
	e2e_sync(w->bram);
	assert_null(field_of(w->bram, "client", w->x, "phone"));
	settle(w);
	converged_as(w, 0);
	free(before);
}

/* Stubs and held items the server makes of operations bram may see:
 * without a reason, with a reason its signed hash denies. */
static void test_malicious__stubs_without_reason(void **state)
{
	struct world *w = *state;
	struct plan pl;
	char *before;
	static const struct {
		const char *field;
		int mode;
		const char *rule;
	} cases[] = {
		{"name", 1, "without a reason"},
		{"name", 2, "does not match its signed batch"},
		{"address", 3, "that this team's policy lets through"},
		{"address", 4, "does not match its signed batch"},
	};
	uint64_t s0 = last_seq(w->anna);
	ok(veld_record_update(w->anna, "client", w->x, "{\"name\":\"Honest Client Renamed\"}", NULL,
	                      NULL));
	ok(veld_record_update(w->anna, "client", w->x, "{\"address\":\"Kerkstraat 2\"}", NULL, NULL));
	e2e_sync(w->anna);
	before = e2e_state(w->bram);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		plan_init(&pl, w->bram_id);
		pl.edit = withhold_op;
		pl.mode = cases[i].mode;
		unhex16(pl.dev, w->anna_id);
		pl.seq = strcmp(cases[i].field, "name") == 0 ? s0 + 1 : s0 + 2;
		TAMPERED(w, &pl, refused_meanwhile(w, cases[i].rule));
		assert_state(w->bram, before);
	}
	settle(w);
	converged(w);
	free(before);
}

/* ---- cursor games -------------------------------------------------------------------------- */

static int move_next(struct veld__pull_resp *p, struct plan *pl, struct tproxy_msg *m)
{
	(void)m;
	if (p->nops < 2)
		return 1;
	switch (pl->mode) {
	case 1: p->next += 1; break;                /* past what was delivered */
	case 2: p->next = p->cursors[0]; break;     /* back */
	case 3: p->env_next += 1; break;            /* the envelopes' past theirs */
	case 4: {                                   /* two items swapped */
		uint64_t c = p->cursors[0];
		p->cursors[0] = p->cursors[1];
		p->cursors[1] = c;
		break;
	}
	default: return 1;
	}
	return 0;
}

/* The hook keeps the first page of bram's with operations, then hands it
 * out again in place of a later answer. */
struct replay {
	char device[33];
	uint8_t *page;
	size_t len;
	int replayed;
};

static void record_hook(struct tproxy_msg *m, void *arg)
{
	struct replay *r = arg;
	struct veld__wire w;
	struct veld__pull_resp p;
	if (!m->answered || r->page || !tproxy_is(m, "GET", "/v1/pull", r->device))
		return;
	memset(&w, 0, sizeof w);
	if (veld__wire_pull_resp_decode(&w, m->body, m->len, &p) == VELD_OK && p.nops > 0 &&
	    (r->page = malloc(m->len))) {
		memcpy(r->page, m->body, m->len);
		r->len = m->len;
	}
	veld__wire_free(&w);
}

static void replay_hook(struct tproxy_msg *m, void *arg)
{
	struct replay *r = arg;
	if (m->answered && tproxy_is(m, "GET", "/v1/pull", r->device)) {
		tproxy_set_body(m, 200, r->page, r->len);
		r->replayed++;
	}
}

static void test_malicious__cursor_games(void **state)
{
	struct world *w = *state;
	struct plan pl;
	struct replay rp;
	char *before, *y;
	static const struct {
		int mode;
		const char *rule;
	} cases[] = {
		{1, "moved the cursor of its operations"},
		{2, "moved the cursor of its operations"},
		{3, "moved the cursor of its key envelopes"},
		{4, "not in increasing cursor order"},
	};

	/* An honest page of bram's, kept. */
	memset(&rp, 0, sizeof rp);
	snprintf(rp.device, sizeof rp.device, "%s", w->bram_id);
	write_note(w->anna, w->x, "anna one");
	write_note(w->anna, w->x, "anna two");
	e2e_sync(w->anna);
	tproxy_set_hook(w->px, record_hook, &rp);
	e2e_sync(w->bram);
	tproxy_set_hook(w->px, NULL, NULL);
	assert_non_null(rp.page);

	y = e2e_create(w->anna, "client", "{\"name\":\"Cursor Client\"}");
	write_note(w->anna, y, "anna three");
	write_note(w->anna, y, "anna four");
	e2e_sync(w->anna);
	before = e2e_state(w->bram);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		plan_init(&pl, w->bram_id);
		pl.edit = move_next;
		pl.mode = cases[i].mode;
		TAMPERED(w, &pl, refused_meanwhile(w, cases[i].rule));
		assert_state(w->bram, before);
	}
	/* The old page again. */
	tproxy_set_hook(w->px, replay_hook, &rp);
	refused(w->bram, "a replayed or reordered page");
	tproxy_set_hook(w->px, NULL, NULL);
	assert_true(rp.replayed > 0);
	assert_state(w->bram, before);

	settle(w);
	converged(w);
	assert_int_equal(e2e_count(w->bram, "note"), e2e_count(w->anna, "note"));
	free(rp.page);
	free(before);
	free(y);
}

/* ---- a certified device that is buggy or malicious -------------------------------------- */

/* Rita, a device of noord whose software the test writes: enrolled with
 * an office invite, certified at the office's next sync. */
static void rita_enroll(struct world *w, struct rogue *r, char hex[33])
{
	rogue_enroll(r, w->office, w->via.url, "noord");
	veld__hex(hex, r->id, 16);
	e2e_sync(w->office);
}

/* A client of hers, with its key shared with the team and the office. */
static void rita_client(struct rogue *r, uint8_t client[16], uint8_t key[32], const char *name_json,
                        char hex[33])
{
	rogue_client(client, key);
	veld__hex(hex, client, 16);
	rogue_op(r, "client", client, client, "name", name_json, key);
	rogue_envelope(r, client, key, "team:noord");
	rogue_envelope(r, client, key, "office");
	assert_int_equal(rogue_push(r), 200);
}

/* The office revokes a device; the server keeps the revocation from bram.
 * Then the revoked device, its key in the wrong hands, writes on: the
 * server refuses it, but a malicious one hands it out. */
static void test_malicious__withheld_revocation(void **state)
{
	struct world *w = *state;
	struct rogue rita;
	struct plan pl;
	uint8_t r[16], key[32];
	char rita_id[33], r_id[33], *before, *name;

	rita_enroll(w, &rita, rita_id);
	rita_client(&rita, r, key, "\"Rita Client\"", r_id);
	settle(w);
	name = field_of(w->bram, "client", r_id, "name");
	assert_string_equal(name, "\"Rita Client\"");
	free(name);
	ok(veld_office_revoke(w->office, rita_id, NULL));
	e2e_sync(w->anna);
	before = e2e_state(w->bram);

	plan_init(&pl, w->bram_id);
	pl.edit = drop_notice;
	pl.mode = 2;
	TAMPERED(w, &pl, refused_meanwhile(w, "the server withholds notices"));
	assert_state(w->bram, before);

	/* Rita writes on; the server refuses her. */
	rogue_op(&rita, "client", r, r, "name", "\"Forged After Revocation\"", key);
	assert_int_equal(rogue_push(&rita), 403);
	/* A server that hands it out anyway, with the revocation (it withholds
	 * no longer): it stays out of the state. */
	rogue_op(&rita, "client", r, r, "name", "\"Forged After Revocation\"", key);
	rogue_sign(&rita);
	make_room(w);
	plan_init(&pl, w->bram_id);
	plan_room(w, &pl);
	pl.ops[pl.nops++] = rita.ops[0];
	pl.batches[pl.nbatches++] = rogue_batch(&rita);
	TAMPERED(w, &pl, json_decref(synced(w->bram, NULL)));
	assert_int_equal(quarantined_for(w->bram, "written by a revoked device after its revocation"), 1);
	assert_state(w->bram, before);
	/* The office the same. */
	plan_init(&pl, w->office_id);
	plan_room(w, &pl);
	pl.ops[pl.nops++] = rita.ops[0];
	pl.batches[pl.nbatches++] = rogue_batch(&rita);
	TAMPERED(w, &pl, json_decref(synced(w->office, NULL)));
	assert_int_equal(quarantined_for(w->office, "written by a revoked device after its revocation"),
	                 1);
	name = field_of(w->office, "client", r_id, "name");
	assert_string_equal(name, "\"Rita Client\"");
	free(name);

	settle(w);
	converged(w);
	name = field_of(w->anna, "client", r_id, "name");
	assert_string_equal(name, "\"Rita Client\"");
	free(name);
	rogue_reset(&rita);
	free(before);
}

/* Operations stamped ahead of the clock: one a few minutes ahead (a phone
 * whose clock runs fast; the server takes it) waits on a device that
 * allows less skew until its clock gets there, reported pending; one an
 * hour ahead the server refuses. */
static void test_malicious__future_stamp(void **state)
{
	struct world *w = *state;
	struct rogue rita;
	veld_sync_options strict = VELD_SYNC_OPTIONS_INIT;
	uint8_t r[16], key[32];
	char rita_id[33], r_id[33], *v;
	json_t *sum;

	rita_enroll(w, &rita, rita_id);
	rita_client(&rita, r, key, "\"Rita Client\"", r_id);
	rogue_op(&rita, "client", r, r, "contact_person", "\"An Hour Ahead\"", key)->hlc =
	    rogue_hlc(3600 * 1000);
	assert_int_equal(rogue_push(&rita), 409);
	rogue_op(&rita, "client", r, r, "contact_person", "\"Five Minutes Ahead\"", key)->hlc =
	    rogue_hlc(5 * 60 * 1000);
	assert_int_equal(rogue_push(&rita), 200);

	/* Bram allows a minute of skew: the operation waits, and says so. */
	strict.max_skew_s = 60;
	sum = synced(w->bram, &strict);
	assert_int_equal(json_integer_value(json_object_get(sum, "pending")), 1);
	assert_true(warns(sum, "wait (for a device's certificate, a key, or the clock)"));
	json_decref(sum);
	v = field_of(w->bram, "client", r_id, "name");
	assert_string_equal(v, "\"Rita Client\"");
	free(v);
	assert_null(field_of(w->bram, "client", r_id, "contact_person"));
	/* Still waiting at the next sync (the clock has not got there). */
	json_decref(synced(w->bram, &strict));
	assert_int_equal(info_num(w->bram, "pending"), 1);
	assert_null(field_of(w->bram, "client", r_id, "contact_person"));
	/* Anna allows the default ten minutes. */
	e2e_sync(w->anna);
	v = field_of(w->anna, "client", r_id, "contact_person");
	assert_string_equal(v, "\"Five Minutes Ahead\"");
	free(v);

	/* Bram's clock "gets there": the default skew takes it in. */
	e2e_sync(w->bram);
	assert_int_equal(info_num(w->bram, "pending"), 0);
	v = field_of(w->bram, "client", r_id, "contact_person");
	assert_string_equal(v, "\"Five Minutes Ahead\"");
	free(v);
	settle(w);
	converged(w);
	rogue_reset(&rita);
}

/* Values a buggy phone wrote and signed: out of range, an unknown field,
 * bad padding, a sealed value of a bad size, a value over the limit; and
 * one the wire does not even carry. Kept aside everywhere; its other
 * operations go on. */
static void test_malicious__buggy_device_values(void **state)
{
	struct world *w = *state;
	struct rogue rita;
	veld_store *who[3] = {w->anna, w->bram, w->office};
	uint8_t r[16], key[32], visit[16], plain[100], *big;
	char rita_id[33], r_id[33], v_id[33], *v;
	size_t big_n = VELD_SEALED_VALUE_MAX - VELD_SEAL_OVERHEAD;

	rita_enroll(w, &rita, rita_id);
	rita_client(&rita, r, key, "\"Rita Client\"", r_id);
	randombytes_buf(visit, sizeof visit);
	veld__hex(v_id, visit, 16);

	/* Over the sealed-value limit: the server refuses the push whole. */
	big = calloc(1, big_n + 64);
	assert_non_null(big);
	memset(big, 'a', big_n + 64);
	rogue_op_plain(&rita, "visit", visit, r, "actions", big, big_n + 64, key);
	assert_int_equal(rogue_push_unchecked(&rita), 400);

	rogue_op(&rita, "visit", visit, r, "kind", "\"home_visit\"", key);
	rogue_op(&rita, "visit", visit, r, "scores", "{\"financien\":9}", key);
	rogue_op(&rita, "visit", visit, r, "colour", "\"red\"", key);
	/* JSON and zeros, no 0x80: not ISO/IEC 7816-4 padding. */
	memset(plain, 0, sizeof plain);
	memcpy(plain, "\"no padding\"", 12);
	rogue_op_plain(&rita, "visit", visit, r, "actions", plain, 64, key);
	/* 100 bytes: no whole number of 64-byte blocks. */
	rogue_op_plain(&rita, "visit", visit, r, "actions", plain, 100, key);
	/* A whole block count within the limit, but 65,599 bytes of value. */
	memset(big, ' ', big_n);
	big[0] = '"';
	big[big_n - 2] = '"';
	big[big_n - 1] = 0x80;
	rogue_op_plain(&rita, "visit", visit, r, "actions", big, big_n, key);
	rogue_op(&rita, "visit", visit, r, "worker", "\"rita\"", key);
	assert_int_equal(rogue_push(&rita), 200);
	free(big);

	/* The office first: an unknown field may be of a record schema the
	 * phones lack until the office's checkpoint shows it held the value
	 * (and so every schema there is). */
	json_decref(synced(w->office, NULL));
	for (int i = 0; i < 3; i++) {
		char *q;
		json_decref(synced(who[i], NULL));
		assert_int_equal(info_num(who[i], "quarantined"), 5);
		assert_int_equal(quarantined_for(who[i], "a value its writer's checks refuse"), 2);
		assert_int_equal(quarantined_for(who[i], "has bad padding"), 2);
		assert_int_equal(quarantined_for(who[i], "has a sealed value of a bad size"), 1);
		q = quarantine_of(who[i]);
		assert_non_null(strstr(q, rita_id));
		assert_non_null(strstr(q, "\"colour\""));
		assert_non_null(strstr(q, "\"scores\""));
		assert_null(strstr(q, "financien"));
		free(q);
		/* The rest of hers is in. */
		v = field_of(who[i], "visit", v_id, "kind");
		assert_string_equal(v, "\"home_visit\"");
		free(v);
		v = field_of(who[i], "visit", v_id, "worker");
		assert_string_equal(v, "\"rita\"");
		free(v);
		assert_null(field_of(who[i], "visit", v_id, "scores"));
		assert_null(field_of(who[i], "visit", v_id, "actions"));
		assert_null(field_of(who[i], "visit", v_id, "colour"));
	}

	/* Her next, good operation comes through as ever. */
	rogue_op(&rita, "visit", visit, r, "actions", "\"fixed the app\"", key);
	assert_int_equal(rogue_push(&rita), 200);
	settle(w);
	for (int i = 0; i < 3; i++) {
		v = field_of(who[i], "visit", v_id, "actions");
		assert_string_equal(v, "\"fixed the app\"");
		free(v);
		assert_int_equal(info_num(who[i], "quarantined"), 5);
	}
	converged(w);
	ok(veld_store_verify(w->bram, &v));
	veld_free(v);
	rogue_reset(&rita);
}

/* A team device's key envelope that does not open: kept aside; the
 * client's operations wait for a key; a good envelope later lets them in. */
static void test_malicious__undecryptable_envelope(void **state)
{
	struct world *w = *state;
	struct rogue rita;
	uint8_t c[16], key[32], junk[VELD_SEALED_KEY_BYTES];
	char rita_id[33], c_id[33], *v = NULL;

	rita_enroll(w, &rita, rita_id);
	rogue_client(c, key);
	veld__hex(c_id, c, 16);
	rogue_op(&rita, "client", c, c, "name", "\"Sealed Shut\"", key);
	randombytes_buf(junk, sizeof junk);
	rogue_envelope_sealed(&rita, c, 1, "team:noord", rita.tv, junk);
	rogue_envelope(&rita, c, key, "office");
	assert_int_equal(rogue_push(&rita), 200);

	e2e_sync(w->anna);
	e2e_sync(w->bram);
	e2e_sync(w->office);
	for (int i = 0; i < 2; i++) {
		veld_store *s = i ? w->bram : w->anna;
		assert_int_equal(quarantined_for(s, "does not open"), 1);
		assert_int_equal(info_num(s, "pending"), 1);
		assert_int_equal(veld_record_get(s, "client", c_id, NULL, &v), VELD_ENOTFOUND);
	}
	v = field_of(w->office, "client", c_id, "name");
	assert_string_equal(v, "\"Sealed Shut\"");
	free(v);

	/* The app is fixed: a good envelope. */
	rogue_envelope(&rita, c, key, "team:noord");
	assert_int_equal(rogue_push(&rita), 200);
	settle(w);
	for (int i = 0; i < 2; i++) {
		veld_store *s = i ? w->bram : w->anna;
		v = field_of(s, "client", c_id, "name");
		assert_string_equal(v, "\"Sealed Shut\"");
		free(v);
		assert_int_equal(info_num(s, "pending"), 0);
		assert_int_equal(info_num(s, "quarantined"), 1);
	}
	converged(w);
	rogue_reset(&rita);
}

/* ---- a server rolled back -------------------------------------------------------------------- */

/* Stop the server, copy its state (data directory, and database in a _pg
 * run) from `from` to `to` (NULL: its own), start it again. */
static void server_offline(struct world *w, const char *from, const char *to)
{
	char dir[sizeof w->srv.dir];
	snprintf(dir, sizeof dir, "%s", w->srv.dir);
	e2e_server_stop(&w->srv, SIGTERM);
	e2e_server_copy(from ? from : dir, to ? to : dir);
	e2e_server_start(&w->srv, dir, w->srv.port);
}

static int stop_after_a_page(const veld_sync_progress *p, void *payload)
{
	(void)payload;
	return p->phase == VELD_SYNC_PHASE_PULL;
}

/* The office's checkpoint as a store shows it (caller frees). */
static char *checkpoint_of(veld_store *s)
{
	char *out = NULL, *at;
	json_t *j;
	ok(veld_store_info(s, &out));
	j = json_loads(out, 0, NULL);
	veld_free(out);
	at = strdup(json_string_value(json_object_get(json_object_get(j, "checkpoint"), "at")));
	json_decref(j);
	return at;
}

static json_int_t checkpoint_age_s(veld_store *s)
{
	char *out = NULL;
	json_t *j;
	json_int_t age;
	ok(veld_store_info(s, &out));
	j = json_loads(out, 0, NULL);
	veld_free(out);
	age = json_integer_value(json_object_get(json_object_get(j, "checkpoint"), "age_s"));
	json_decref(j);
	return age;
}

/* The server is restarted from an old copy of its data directory, after
 * bram took the office's newer checkpoint (and only part of what it
 * counts). Bram keeps the newer checkpoint and says the server withholds
 * what it counts; anna and the office put back what the server lost; then
 * bram converges, and what was in quarantine is there once. A checkpoint
 * that grows old is a warning at every sync. */
static void test_malicious__server_rolled_back(void **state)
{
	struct world *w = *state;
	veld_sync_options part = VELD_SYNC_OPTIONS_INIT, fresh = VELD_SYNC_OPTIONS_INIT;
	struct rogue rita;
	uint8_t c[16], key[32], junk[VELD_SEALED_KEY_BYTES];
	char backup[600], rita_id[33], *cp, *cp_after, *out = NULL;
	json_t *sum;
	int rc;

	/* Something in quarantine first: an envelope of rita's that does not
	 * open (pulled again after the server lost anna's work, it is still
	 * one entry). */
	rita_enroll(w, &rita, rita_id);
	rogue_client(c, key);
	rogue_op(&rita, "client", c, c, "name", "\"Sealed Shut\"", key);
	randombytes_buf(junk, sizeof junk);
	rogue_envelope_sealed(&rita, c, 1, "team:noord", rita.tv, junk);
	assert_int_equal(rogue_push(&rita), 200);
	settle(w);
	assert_int_equal(info_num(w->anna, "quarantined"), 1);

	snprintf(backup, sizeof backup, "%s/backup", w->tmp);
	server_offline(w, NULL, backup);
	write_note(w->anna, w->x, "anna one");
	write_note(w->anna, w->x, "anna two");
	write_note(w->anna, w->x, "anna three");
	e2e_sync(w->anna);
	e2e_sync(w->office); /* its checkpoint counts anna's notes */
	/* Bram takes one page: the newest checkpoint, one operation. */
	part.pull_page = 1;
	part.progress = stop_after_a_page;
	rc = veld_sync(w->bram, &part, &out);
	assert_int_equal(rc, VELD_ECANCELLED);
	cp = checkpoint_of(w->bram);

	/* The server comes back from the old copy. */
	server_offline(w, backup, NULL);
	refused(w->bram, "the server withholds operations");
	cp_after = checkpoint_of(w->bram);
	assert_string_equal(cp_after, cp); /* the newer one stays */
	free(cp_after);
	refused(w->bram, "the server withholds operations");

	/* Anna finds the server lost her work and sends it again; the office
	 * syncs on. */
	e2e_sync(w->anna);
	e2e_sync(w->office);
	e2e_sync(w->bram);
	settle(w);
	converged(w);
	assert_int_equal(e2e_count(w->bram, "note"), 4);
	assert_int_equal(info_num(w->anna, "quarantined"), 1);
	assert_int_equal(info_num(w->bram, "quarantined"), 1);

	/* No fresh word from the office: once its checkpoint is older than
	 * the allowed age, every sync says so. */
	fresh.checkpoint_max_age_s = 1;
	for (int i = 0; i < 200 && checkpoint_age_s(w->bram) < 2; i++)
		usleep(50 * 1000);
	assert_true(checkpoint_age_s(w->bram) >= 2);
	sum = synced(w->bram, &fresh);
	assert_true(warns(sum, "the server may be withholding changes"));
	json_decref(sum);
	e2e_sync(w->office);
	sum = synced(w->bram, NULL);
	assert_false(warns(sum, "withholding"));
	json_decref(sum);
	free(cp);
}

/* The server withholds the revocation and hands out what the revoked
 * device (its key in the wrong hands) signs after it: bram cannot know yet
 * and takes it in, though the office's checkpoint on the page already says
 * something is withheld. When the revocation reaches him, what it signed
 * after its last accepted seq leaves his state for the quarantine. */
static void test_malicious__withheld_revocation_with_forged_writes(void **state)
{
	struct world *w = *state;
	struct rogue rita;
	struct plan pl;
	uint8_t r[16], key[32], visit[16], y[16];
	char rita_id[33], r_id[33], v_id[33], *name, *out = NULL, *y_id;
	veld__ref sup;
	veld__op *op;

	rita_enroll(w, &rita, rita_id);
	rita_client(&rita, r, key, "\"Rita Client\"", r_id);
	settle(w);
	ok(veld_office_revoke(w->office, rita_id, NULL));
	randombytes_buf(visit, sizeof visit);
	veld__hex(v_id, visit, 16);
	/* A new name that replaces her first (supersedes it), and a visit. */
	sup.seq = 1;
	memcpy(sup.device, rita.id, 16);
	op = rogue_op(&rita, "client", r, r, "name", "\"Forged After Revocation\"", key);
	op->sup = &sup;
	op->nsup = 1;
	rogue_op(&rita, "visit", visit, r, "kind", "\"home_visit\"", key);
	make_room(w);
	/* Anna's new client: the server, seeing its id, hands bram first a
	 * "visit" of rita's under that id, so anna's writes contradict it. */
	y_id = e2e_create(w->anna, "client", "{\"name\":\"Honest New Client\"}");
	e2e_sync(w->anna);
	unhex16(y, y_id);
	rogue_op(&rita, "visit", y, r, "kind", "\"home_visit\"", key);
	rogue_sign(&rita);
	plan_init(&pl, w->bram_id);
	plan_room(w, &pl);
	pl.ops[pl.nops++] = rita.ops[0];
	pl.ops[pl.nops++] = rita.ops[1];
	pl.ops[pl.nops++] = rita.ops[2];
	pl.batches[pl.nbatches++] = rogue_batch(&rita);
	pl.edit = drop_notice;
	pl.mode = 2;
	TAMPERED(w, &pl, refused_meanwhile(w, "the server withholds notices"));
	name = field_of(w->bram, "client", r_id, "name");
	assert_string_equal(name, "\"Forged After Revocation\"");
	free(name);
	ok(veld_record_get(w->bram, "visit", v_id, NULL, &out));
	veld_free(out);
	assert_true(quarantined_for(w->bram, "contradicts what is held here") > 0);
	assert_int_equal(veld_record_get(w->bram, "client", y_id, NULL, &out), VELD_ENOTFOUND);

	/* The revocation arrives: what rita signed after it goes, and anna's
	 * writes it kept aside come again and are taken. */
	e2e_sync(w->bram);
	name = field_of(w->bram, "client", r_id, "name");
	assert_string_equal(name, "\"Rita Client\"");
	free(name);
	assert_int_equal(veld_record_get(w->bram, "visit", v_id, NULL, &out), VELD_ENOTFOUND);
	assert_int_equal(quarantined_for(w->bram, "written by a revoked device after its revocation"), 3);
	settle(w);
	assert_int_equal(quarantined_for(w->bram, "contradicts what is held here"), 0);
	name = field_of(w->bram, "client", y_id, "name");
	assert_string_equal(name, "\"Honest New Client\"");
	free(name);
	ok(veld_store_verify(w->bram, &out));
	veld_free(out);
	converged(w);
	rogue_reset(&rita);
	free(y_id);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_malicious__forged_key_envelopes, world_setup,
		                                world_teardown),
		cmocka_unit_test_setup_teardown(test_malicious__invented_author, world_setup,
		                                world_teardown),
		cmocka_unit_test_setup_teardown(test_malicious__swapped_author_key, world_setup,
		                                world_teardown),
		cmocka_unit_test_setup_teardown(test_malicious__forged_checkpoint, world_setup,
		                                world_teardown),
		cmocka_unit_test_setup_teardown(test_malicious__swapped_team_key, world_setup,
		                                world_teardown),
		cmocka_unit_test_setup_teardown(test_malicious__injected_access_log_entry, world_setup,
		                                world_teardown),
		cmocka_unit_test_setup_teardown(test_malicious__withheld_operation, world_setup,
		                                world_teardown),
		cmocka_unit_test_setup_teardown(test_malicious__own_runs, world_setup, world_teardown),
		cmocka_unit_test_setup_teardown(test_malicious__server_without_own_runs, world_setup,
		                                world_teardown),
		cmocka_unit_test_setup_teardown(test_malicious__withheld_erasure, world_setup,
		                                world_teardown),
		cmocka_unit_test_setup_teardown(test_malicious__withheld_policy, world_setup,
		                                world_teardown),
		cmocka_unit_test_setup_teardown(test_malicious__stubs_without_reason, world_setup,
		                                world_teardown),
		cmocka_unit_test_setup_teardown(test_malicious__cursor_games, world_setup,
		                                world_teardown),
		cmocka_unit_test_setup_teardown(test_malicious__withheld_revocation, world_setup,
		                                world_teardown),
		cmocka_unit_test_setup_teardown(test_malicious__future_stamp, world_setup,
		                                world_teardown),
		cmocka_unit_test_setup_teardown(test_malicious__buggy_device_values, world_setup,
		                                world_teardown),
		cmocka_unit_test_setup_teardown(test_malicious__undecryptable_envelope, world_setup,
		                                world_teardown),
		cmocka_unit_test_setup_teardown(test_malicious__server_rolled_back, world_setup,
		                                world_teardown),
		cmocka_unit_test_setup_teardown(test_malicious__false_revocation_keeps_unsent_work,
		                                world_setup, world_teardown),
		cmocka_unit_test_setup_teardown(test_malicious__withheld_revocation_with_forged_writes,
		                                world_setup, world_teardown),
	};
	if (argc < 2)
		return 2;
	e2e_veld = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
