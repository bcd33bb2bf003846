/* test_e2e_move.c - the office moves a client to another team, end to end,
 * through a real `veld serve`: team noord (anna, and bert who is offline
 * during the move), team zuid (cora). Cora receives a new client with every
 * record and the references between them remapped; anna's next sync
 * removes the client (no record, no key); bert writes to it offline after
 * the move and then syncs: what he wrote is pushed and kept (nothing lost),
 * the client leaves his store, anna never receives it (neither her store
 * nor the server's feed to a noord device has it), and the office forwards
 * it to the new client, where cora sees it. The office's status names the
 * old team's devices that still hold the client until each has synced.
 * Bad moves (moved already, an unknown team, its own team, an erased
 * client) are refused and change nothing on the server. */
#include "e2e.h"
#include "rogue.h"

#include <jansson.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------------ */

/* A number a query gives on a device's store (read-only). */
static int64_t store_q(const char *tmp, const char *name, const char *sql)
{
	char path[700];
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t n = -1;
	snprintf(path, sizeof path, "%s/%s/veld.db", tmp, name);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	else
		fail_msg("query on %s's store did not run: %s", name, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static char *device_id(veld_store *s)
{
	char *out = NULL, *id;
	json_t *j;
	ok(veld_store_info(s, &out));
	j = json_loads(out, 0, NULL);
	veld_free(out);
	id = strdup(json_string_value(json_object_get(j, "device")));
	json_decref(j);
	return id;
}

/* Does the JSON array `arr` hold the string `s`? */
static int holds(const json_t *arr, const char *s)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
		if (strcmp(json_string_value(v), s) == 0)
			return 1;
	return 0;
}

static json_t *status_of(veld_store *office, const char *client)
{
	char *out = NULL;
	json_t *j;
	ok(veld_office_client_move_status(office, client, &out));
	j = json_loads(out, 0, NULL);
	veld_free(out);
	assert_non_null(j);
	return j;
}

/* The records of `kind` of client `c` in `s`, as a JSON array. */
static json_t *records(veld_store *s, const char *kind, const char *c)
{
	char filter[128], *out = NULL;
	json_t *j;
	snprintf(filter, sizeof filter, "{\"client\":\"%s\"}", c);
	ok(veld_record_list(s, kind, strcmp(kind, "client") == 0 ? NULL : filter, NULL, &out));
	j = json_loads(out, 0, NULL);
	veld_free(out);
	assert_non_null(j);
	return j;
}

static const char *field(json_t *rec, const char *name)
{
	return json_string_value(json_object_get(rec, name));
}

/* The one record of `kind` of client `c` in `s`. */
static json_t *only(veld_store *s, const char *kind, const char *c)
{
	json_t *a = records(s, kind, c), *r;
	if (json_array_size(a) != 1)
		fail_msg("%zu records of kind %s, expected 1", json_array_size(a), kind);
	r = json_incref(json_array_get(a, 0));
	json_decref(a);
	return r;
}

/* The schema in force with an entry in the list of contact persons, as
 * version 2 (a contact_person record names one of them). */
static char *schema_with_contact_person(veld_store *office)
{
	char *text = NULL;
	json_t *doc;
	ok(veld_schema_json(office, &text));
	doc = json_loads(text, 0, NULL);
	veld_free(text);
	json_object_del(doc, "domains");
	json_object_set_new(doc, "version", json_integer(2));
	json_array_append_new(json_object_get(json_object_get(doc, "lists"), "contact_persons"),
	                      json_pack("{s:s,s:s}", "code", "wt_noord_1", "label", "Wijkteam 1"));
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return text;
}

/* What the server's feed gives a noord device (a certified one whose
 * software the test writes): does it hold, as an operation, anything of
 * client `c`; and is each of `dev`'s seqs first..last on it as a stub? */
static void noord_feed(struct rogue *r, const char *c_hex, const char *dev_hex, uint64_t first,
                       uint64_t last, int *ops_of_c, int *stubs_found)
{
	uint8_t *body = NULL, c[VELD_ID_BYTES], dev[VELD_ID_BYTES];
	size_t blen = 0;
	uint64_t after = 0;
	int more = 1;
	*ops_of_c = 0;
	*stubs_found = 0;
	assert_int_equal(veld__unhex(c, VELD_ID_BYTES, c_hex), 0);
	assert_int_equal(veld__unhex(dev, VELD_ID_BYTES, dev_hex), 0);
	while (more) {
		struct veld__wire w;
		struct veld__pull_resp p;
		char path[128];
		snprintf(path, sizeof path, "/v1/pull?after=%llu&limit=5000", (unsigned long long)after);
		assert_int_equal(rogue_call(r, "GET", path, NULL, 0, &body, &blen), 200);
		ok(veld__wire_pull_resp_decode(&w, body, blen, &p));
		for (size_t i = 0; i < p.nops; i++)
			if (memcmp(p.ops[i].client, c, VELD_ID_BYTES) == 0)
				(*ops_of_c)++;
		for (size_t i = 0; i < p.nstubs; i++)
			if (memcmp(p.stubs[i].device, dev, VELD_ID_BYTES) == 0 &&
			    p.stubs[i].seq >= first && p.stubs[i].seq <= last &&
			    memcmp(p.stubs[i].client, c, VELD_ID_BYTES) == 0)
				(*stubs_found)++;
		more = p.more && p.next > after;
		after = p.next;
		veld__wire_free(&w);
		free(body);
		body = NULL;
	}
}

/* ---- the test ------------------------------------------------------------------- */

static void test_e2e_move__offline_device_loses_nothing_and_old_team_gets_nothing(void **state)
{
	char *tmp = e2e_tmpdir(), data[512], b[1024], sql[400], lit[80], *out = NULL, *v2;
	char *c, *v, *n1, *n2, *g, *t, *sg, *e, *es1, *es2, *cp, *x, *nc;
	char *anna_id, *bert_id, rogue_hex[33];
	struct e2e_server srv;
	struct rogue rogue;
	veld_store *office, *anna, *bert, *cora;
	json_t *st, *rec, *list;
	uint64_t bert_before, bert_after;
	int64_t notices, server_ops;
	int ops_of_c, stubs;
	(void)state;

	snprintf(data, sizeof data, "%s/server", tmp);
	e2e_server_start(&srv, data, 0);
	office = e2e_office(&srv, tmp);
	anna = e2e_device(&srv, office, tmp, "anna", "noord");
	bert = e2e_device(&srv, office, tmp, "bert", "noord");
	cora = e2e_device(&srv, office, tmp, "cora", "zuid");
	rogue_enroll(&rogue, office, srv.url, "noord");
	e2e_sync(office); /* certifies it */
	veld__hex(rogue_hex, rogue.id, VELD_ID_BYTES);
	anna_id = device_id(anna);
	bert_id = device_id(bert);
	v2 = schema_with_contact_person(office);
	ok(veld_office_schema_set(office, v2, NULL));
	free(v2);
	e2e_sync(anna);

	/* Anna's client, with records that refer to each other. */
	c = e2e_create(anna, "client", "{\"name\":\"Sanne\",\"contact_person\":\"Piet\"}");
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"kind\":\"home_visit\"}", c);
	v = e2e_create(anna, "visit", b);
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"text\":\"eerste\",\"visit\":\"%s\"}", c, v);
	n1 = e2e_create(anna, "note", b);
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"text\":\"correctie\",\"amends\":\"%s\"}", c, n1);
	n2 = e2e_create(anna, "note", b);
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"domain\":\"financien\",\"description\":\"schuld\"}",
	         c);
	g = e2e_create(anna, "goal", b);
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"form\":\"three_party\"}", c);
	t = e2e_create(anna, "tenancy", b);
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"kind\":\"rent_arrears\",\"severity\":\"high\"}", c);
	sg = e2e_create(anna, "signal", b);
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"about\":\"rent_arrears\",\"signal\":\"%s\"}", c, sg);
	e = e2e_create(anna, "escalation", b);
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"escalation\":\"%s\",\"step\":\"reminder\","
	         "\"date\":\"2026-11-01\"}", c, e);
	es1 = e2e_create(anna, "escalation_step", b);
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"escalation\":\"%s\",\"step\":\"payment_plan\","
	         "\"date\":\"2026-11-08\"}", c, e);
	es2 = e2e_create(anna, "escalation_step", b);
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"person\":\"wt_noord_1\",\"from\":\"2026-10-01\"}",
	         c);
	cp = e2e_create(anna, "contact_person", b);
	x = e2e_create(anna, "client", "{\"name\":\"Xander\"}"); /* to be erased */
	e2e_sync(anna);
	e2e_sync(bert);
	e2e_sync(office);
	assert_int_equal(e2e_count(bert, "escalation_step"), 2);

	/* Refused moves change nothing: not on the server, not in the office. */
	ok(veld_office_erase(office, x, "erasure", NULL));
	notices = e2e_server_int(&srv, "SELECT count(*) FROM notices");
	assert_int_equal(veld_office_client_move(office, x, "zuid", NULL, &out), VELD_ESHREDDED);
	assert_null(out);
	assert_int_equal(veld_office_client_move(office, c, "west", NULL, &out), VELD_ENOTFOUND);
	assert_int_equal(veld_office_client_move(office, c, "noord", NULL, &out), VELD_EINVAL);
	assert_int_equal(veld_office_client_move(office, c, "no team!", NULL, &out), VELD_EINVAL);
	assert_int_equal(veld_office_client_move(anna, c, "zuid", NULL, &out), VELD_EPERM);
	assert_int_equal(veld_office_client_move_status(office, c, &out), VELD_ENOTFOUND);
	assert_int_equal(e2e_server_int(&srv, "SELECT count(*) FROM notices"), notices);
	assert_int_equal(e2e_server_int(&srv, "SELECT count(*) FROM moves"), 0);

	/* The move. Bert is offline. */
	ok(veld_office_client_move(office, c, "zuid", NULL, &out));
	st = json_loads(out, 0, NULL);
	veld_free(out);
	assert_string_equal(field(st, "client"), c);
	assert_string_equal(field(st, "from"), "noord");
	assert_string_equal(field(st, "to"), "zuid");
	nc = strdup(field(st, "new_client"));
	assert_string_not_equal(nc, c);
	assert_true(holds(json_object_get(st, "holding"), anna_id));
	assert_true(holds(json_object_get(st, "holding"), bert_id));
	assert_int_equal(json_array_size(json_object_get(st, "confirmed")), 0);
	json_decref(st);
	assert_int_equal(e2e_server_int(&srv, "SELECT count(*) FROM moves"), 1);
	assert_int_equal(e2e_server_int(&srv, "SELECT count(*) FROM notices"), notices + 1);
	/* Moved already: refused. */
	assert_int_equal(veld_office_client_move(office, c, "zuid", NULL, &out), VELD_EEXISTS);
	assert_int_equal(e2e_server_int(&srv, "SELECT count(*) FROM notices"), notices + 1);

	/* Bert, offline, writes to the client after the move. */
	bert_before = e2e_info_u(bert, "own_ops");
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"text\":\"laat geschreven\"}", c);
	free(e2e_create(bert, "note", b));
	ok(veld_record_update(bert, "goal", g, "{\"status\":\"achieved\"}", NULL, NULL));
	bert_after = e2e_info_u(bert, "own_ops");
	assert_true(bert_after > bert_before);

	/* Cora receives the new client, every record, references remapped. */
	e2e_sync(cora);
	rec = only(cora, "client", nc);
	assert_string_equal(field(rec, "id"), nc);
	assert_string_equal(field(rec, "name"), "Sanne");
	assert_string_equal(field(rec, "contact_person"), "Piet");
	assert_string_equal(field(rec, "team"), "zuid");
	json_decref(rec);
	{
		json_t *cv = only(cora, "visit", nc), *ce = only(cora, "escalation", nc);
		json_t *cs = only(cora, "signal", nc), *notes = records(cora, "note", nc);
		json_t *steps = records(cora, "escalation_step", nc), *one;
		const char *n1new = NULL;
		size_t i;
		assert_string_not_equal(field(cv, "id"), v);
		assert_string_not_equal(field(ce, "id"), e);
		assert_string_equal(field(ce, "signal"), field(cs, "id"));
		assert_int_equal(json_array_size(steps), 2);
		json_array_foreach(steps, i, one) {
			assert_string_equal(field(one, "escalation"), field(ce, "id"));
			assert_string_not_equal(field(one, "id"), es1);
			assert_string_not_equal(field(one, "id"), es2);
		}
		assert_int_equal(json_array_size(notes), 2);
		json_array_foreach(notes, i, one)
			if (strcmp(field(one, "text"), "eerste") == 0)
				n1new = field(one, "id");
		assert_non_null(n1new);
		assert_string_not_equal(n1new, n1);
		json_array_foreach(notes, i, one) {
			if (strcmp(field(one, "text"), "eerste") == 0)
				assert_string_equal(field(one, "visit"), field(cv, "id"));
			else
				assert_string_equal(field(one, "amends"), n1new);
			assert_string_not_equal(field(one, "id"), n2);
		}
		rec = only(cora, "goal", nc);
		assert_string_equal(field(rec, "status"), "open");
		json_decref(rec);
		rec = only(cora, "tenancy", nc);
		assert_string_equal(field(rec, "form"), "three_party");
		assert_string_not_equal(field(rec, "id"), t);
		json_decref(rec);
		rec = only(cora, "contact_person", nc);
		assert_string_equal(field(rec, "person"), "wt_noord_1");
		assert_string_not_equal(field(rec, "id"), cp);
		json_decref(rec);
		json_decref(cv);
		json_decref(ce);
		json_decref(cs);
		json_decref(notes);
		json_decref(steps);
	}
	/* Cora never gets the old client. */
	assert_int_equal(veld_record_get(cora, "client", c, NULL, &out), VELD_ENOTFOUND);

	/* Anna's next sync removes it: no record, no key, no value. */
	e2e_sync(anna);
	assert_true(veld_record_get(anna, "client", c, NULL, &out) != VELD_OK);
	assert_int_equal(e2e_count(anna, "note"), 0);
	assert_int_equal(e2e_count(anna, "escalation_step"), 0);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM client_keys WHERE client = x'%s'", c);
	assert_int_equal(store_q(tmp, "anna", sql), 0);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM ops WHERE client = x'%s' AND value IS NOT NULL",
	         c);
	assert_int_equal(store_q(tmp, "anna", sql), 0);
	/* Her removal reaches the office with her access log. */
	e2e_sync(office);
	st = status_of(office, c);
	assert_true(holds(json_object_get(st, "confirmed"), anna_id));
	assert_false(holds(json_object_get(st, "holding"), anna_id));
	assert_true(holds(json_object_get(st, "holding"), bert_id));
	json_decref(st);

	/* Bert syncs: his writes are pushed and kept, the client leaves. */
	e2e_sync(bert);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM ops WHERE client = %s AND device = %s"
	         " AND seq > %llu", e2e_blob(lit, sizeof lit, c), e2e_blob(b, sizeof b, bert_id),
	         (unsigned long long)bert_before);
	server_ops = e2e_server_int(&srv, sql);
	assert_int_equal(server_ops, (int64_t)(bert_after - bert_before));
	assert_true(veld_record_get(bert, "client", c, NULL, &out) != VELD_OK);
	assert_int_equal(e2e_count(bert, "note"), 0);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM client_keys WHERE client = x'%s'", c);
	assert_int_equal(store_q(tmp, "bert", sql), 0);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM ops WHERE client = x'%s' AND value IS NOT NULL",
	         c);
	assert_int_equal(store_q(tmp, "bert", sql), 0);

	/* Anna never receives them: not in her store, and the server's feed
	 * to a noord device shows them only as stubs. */
	e2e_sync(anna);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM ops WHERE device = x'%s' AND seq > %llu",
	         bert_id, (unsigned long long)bert_before);
	assert_int_equal(store_q(tmp, "anna", sql), 0);
	noord_feed(&rogue, c, bert_id, bert_before + 1, bert_after, &ops_of_c, &stubs);
	assert_int_equal(ops_of_c, 0);
	assert_int_equal(stubs, (int)(bert_after - bert_before));

	/* The office forwards them; Cora sees them on the new client. */
	e2e_sync(office);
	e2e_sync(cora);
	list = records(cora, "note", nc);
	assert_int_equal(json_array_size(list), 3);
	json_decref(list);
	rec = only(cora, "goal", nc);
	assert_string_equal(field(rec, "status"), "achieved");
	assert_null(json_object_get(rec, "conflicts"));
	json_decref(rec);
	/* Each once: another office sync forwards nothing more. */
	{
		json_t *sum;
		ok(veld_sync(office, NULL, &out));
		sum = json_loads(out, 0, NULL);
		veld_free(out);
		assert_int_equal(json_integer_value(json_object_get(sum, "forwarded")), 0);
		json_decref(sum);
	}
	e2e_sync(cora);
	assert_int_equal(e2e_count(cora, "note"), 3);
	assert_int_equal(e2e_count(anna, "note"), 0);

	/* Now no device of noord holds it (the test's own noord device, which
	 * keeps no store, is revoked first). */
	ok(veld_office_revoke(office, rogue_hex, NULL));
	e2e_sync(office);
	st = status_of(office, c);
	assert_int_equal(json_array_size(json_object_get(st, "holding")), 0);
	assert_true(holds(json_object_get(st, "confirmed"), anna_id));
	assert_true(holds(json_object_get(st, "confirmed"), bert_id));
	json_decref(st);

	free(c), free(v), free(n1), free(n2), free(g), free(t), free(sg), free(e);
	free(es1), free(es2), free(cp), free(x), free(nc), free(anna_id), free(bert_id);
	veld_store_free(anna);
	veld_store_free(bert);
	veld_store_free(cora);
	veld_store_free(office);
	e2e_server_stop(&srv, SIGTERM);
	e2e_rm_rf(tmp);
	free(tmp);
}

/* ---- what the old team may still do ------------------------------------------------- */

/* The old team's device that ignores the move notice (it never removes the
 * client, never confirms) and writes on long after the move, even deleting
 * the client record: the office forwards none of it into the new team. */
static void test_e2e_move__old_team_device_cannot_write_into_new_team(void **state)
{
	char *tmp = e2e_tmpdir(), data[512], c_hex[33], *out = NULL;
	uint8_t c[VELD_ID_BYTES], key[32], note[VELD_ID_BYTES];
	struct e2e_server srv;
	struct rogue rita;
	veld_store *office, *cora;
	(void)state;
	snprintf(data, sizeof data, "%s/server", tmp);
	e2e_server_start(&srv, data, 0);
	office = e2e_office(&srv, tmp);
	cora = e2e_device(&srv, office, tmp, "cora", "zuid");
	rogue_enroll(&rita, office, srv.url, "noord");
	e2e_sync(office);
	rogue_client(c, key);
	veld__hex(c_hex, c, VELD_ID_BYTES);
	rogue_op(&rita, "client", c, c, "name", "\"Sanne\"", key);
	rogue_envelope(&rita, c, key, "team:noord");
	rogue_envelope(&rita, c, key, "office");
	assert_int_equal(rogue_push(&rita), 200);
	e2e_sync(office);

	ok(veld_office_client_move(office, c_hex, "zuid", NULL, &out));
	veld_free(out);
	e2e_sync(cora);
	assert_int_equal(e2e_count(cora, "client"), 1);
	e2e_sync(office);

	/* Long after the move, the old team's device writes on. */
	veld__random_id(note);
	rogue_op(&rita, "note", note, c, "text", "\"written by noord after the move\"", key);
	rogue_op(&rita, "client", c, c, "_deleted", NULL, key);
	assert_int_equal(rogue_push(&rita), 200);
	e2e_sync(office);
	e2e_sync(office);
	e2e_sync(cora);
	if (e2e_count(cora, "client") != 1 || e2e_count(cora, "note") != 0)
		fail_msg("team noord's device wrote into zuid's client after the move: zuid now has"
		         " %zu client(s) and %zu note(s)", e2e_count(cora, "client"), e2e_count(cora, "note"));

	veld_store_free(cora);
	veld_store_free(office);
	e2e_server_stop(&srv, SIGTERM);
	e2e_rm_rf(tmp);
	free(tmp);
}

/* ---- the new client erased ----------------------------------------------------------- */

struct moved_erased {
	char *tmp, *client, *new_client;
	struct e2e_server srv;
	veld_store *office, *anna, *bert, *cora;
};

/* Anna's client, moved from noord to zuid while Bert (noord) is offline;
 * then the new client is erased at the client's request. */
static void moved_and_erased(struct moved_erased *m)
{
	char data[512], *out = NULL;
	json_t *st;
	m->tmp = e2e_tmpdir();
	snprintf(data, sizeof data, "%s/server", m->tmp);
	e2e_server_start(&m->srv, data, 0);
	m->office = e2e_office(&m->srv, m->tmp);
	m->anna = e2e_device(&m->srv, m->office, m->tmp, "anna", "noord");
	m->bert = e2e_device(&m->srv, m->office, m->tmp, "bert", "noord");
	m->cora = e2e_device(&m->srv, m->office, m->tmp, "cora", "zuid");
	m->client = e2e_create(m->anna, "client", "{\"name\":\"Sanne Jansen\"}");
	e2e_sync(m->anna);
	e2e_sync(m->bert);
	e2e_sync(m->office);

	ok(veld_office_client_move(m->office, m->client, "zuid", NULL, &out));
	st = json_loads(out, 0, NULL);
	veld_free(out);
	m->new_client = strdup(field(st, "new_client"));
	json_decref(st);
	e2e_sync(m->cora);
	e2e_sync(m->anna);

	/* The client asks to be erased: the office erases the client it now
	 * has, in zuid. */
	ok(veld_office_erase(m->office, m->new_client, "AVG art. 17", NULL));
	e2e_sync(m->cora);
	assert_int_equal(e2e_count(m->cora, "client"), 0);
}

static void moved_erased_free(struct moved_erased *m)
{
	veld_store_free(m->anna);
	veld_store_free(m->bert);
	veld_store_free(m->cora);
	veld_store_free(m->office);
	e2e_server_stop(&m->srv, SIGTERM);
	e2e_rm_rf(m->tmp);
	free(m->tmp);
	free(m->client);
	free(m->new_client);
}

/* Bert, offline all along, writes to the client and syncs: the office's
 * syncs go on (what it cannot forward to an erased client is passed over). */
static void test_e2e_move__late_write_after_new_client_erased_does_not_wedge_the_office(
	void **state)
{
	struct moved_erased m;
	char b[256], *out = NULL;
	int rc;
	(void)state;
	moved_and_erased(&m);

	snprintf(b, sizeof b, "{\"client\":\"%s\",\"text\":\"laat\"}", m.client);
	free(e2e_create(m.bert, "note", b));
	e2e_sync(m.bert);

	for (int i = 0; i < 2; i++) {
		rc = veld_sync(m.office, NULL, &out);
		veld_free(out);
		out = NULL;
		if (rc != VELD_OK)
			fail_msg("the office's sync %d fails: %d %s", i + 1, rc, veld_error_last());
	}
	assert_int_equal(e2e_count(m.cora, "note"), 0);
	moved_erased_free(&m);
}

/* After the erasure of the new client the office holds nothing readable of
 * the person under either id, and the server nothing but stubs. */
static void test_e2e_move__erasure_of_moved_client_leaves_nothing_readable(void **state)
{
	struct moved_erased m;
	char *out = NULL, sql[200], lit[80];
	int rc;
	(void)state;
	moved_and_erased(&m);
	e2e_sync(m.office);

	rc = veld_record_get(m.office, "client", m.client, NULL, &out);
	if (rc == VELD_OK) {
		char copy[300];
		snprintf(copy, sizeof copy, "%s", out);
		veld_free(out);
		fail_msg("the office still reads the erased person under the old id: %s", copy);
	}
	snprintf(sql, sizeof sql, "SELECT count(*) FROM ops WHERE client = %s",
	         e2e_blob(lit, sizeof lit, m.client));
	assert_int_equal(e2e_server_int(&m.srv, sql), 0);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM ops WHERE client = %s",
	         e2e_blob(lit, sizeof lit, m.new_client));
	assert_int_equal(e2e_server_int(&m.srv, sql), 0);
	moved_erased_free(&m);
}

/* ---- a team the server lacks ------------------------------------------------------- */

/* An invite made while the server could not be reached leaves the new
 * team's key in the office's store only; a move to that team then must
 * not leave the office failing every sync (the server answering 404 to
 * the move notice). */
static void test_e2e_move__move_to_team_server_lacks_does_not_wedge_the_office(void **state)
{
	char *tmp = e2e_tmpdir(), data[512], *client, *code = NULL, *out = NULL;
	struct e2e_server srv;
	veld_store *office, *anna;
	uint16_t port;
	int rc;
	(void)state;
	snprintf(data, sizeof data, "%s/server", tmp);
	e2e_server_start(&srv, data, 0);
	office = e2e_office(&srv, tmp);
	anna = e2e_device(&srv, office, tmp, "anna", "noord");
	client = e2e_create(anna, "client", "{\"name\":\"Sanne\"}");
	e2e_sync(anna);
	e2e_sync(office);

	port = srv.port;
	e2e_server_stop(&srv, SIGTERM);
	assert_int_not_equal(veld_office_invite(office, "west", 3600, NULL, &code), VELD_OK);
	veld_free(code);
	e2e_server_start(&srv, data, port);

	rc = veld_office_client_move(office, client, "west", NULL, &out);
	if (rc != VELD_OK)
		fail_msg("the move to west fails: %d %s", rc, veld_error_last());
	veld_free(out);
	out = NULL;
	for (int i = 0; i < 2; i++) {
		rc = veld_sync(office, NULL, &out);
		veld_free(out);
		out = NULL;
		if (rc != VELD_OK)
			fail_msg("office sync %d after the move fails: %d %s", i + 1, rc, veld_error_last());
	}
	assert_int_equal(e2e_server_int(&srv, "SELECT count(*) FROM moves"), 1);
	e2e_sync(anna);
	assert_true(veld_record_get(anna, "client", client, NULL, &out) != VELD_OK);
	veld_store_free(anna);
	veld_store_free(office);
	free(client);
	e2e_server_stop(&srv, SIGTERM);
	e2e_rm_rf(tmp);
	free(tmp);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_e2e_move__offline_device_loses_nothing_and_old_team_gets_nothing),
		cmocka_unit_test(test_e2e_move__old_team_device_cannot_write_into_new_team),
		cmocka_unit_test(test_e2e_move__late_write_after_new_client_erased_does_not_wedge_the_office),
		cmocka_unit_test(test_e2e_move__erasure_of_moved_client_leaves_nothing_readable),
		cmocka_unit_test(test_e2e_move__move_to_team_server_lacks_does_not_wedge_the_office),
	};
	if (argc > 1)
		e2e_veld = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
