/* test_move.c - moving a client to another team, without a server: the
 * office's copy (new ids, references remapped, the map kept, every
 * operation held counted as taken), its forwarding of what comes for the
 * old client later (once each), the refusals of veld__move_check, and a
 * worker's removal on the move notice, which keeps the values of its own
 * operations the server does not hold yet until a push confirms them. */
#include "helpers.h"

#include "crypto.h"
#include "move.h"
#include "retention.h"
#include "store.h"
#include "syncstate.h"

#include <jansson.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STEP(s, flags, body) do { struct veld__step st_; \
	ok(veld__step_begin((s), &st_, (flags))); \
	ok(veld__step_end((s), &st_, (body))); } while (0)

struct fx {
	char *odir, *wdir;
	veld_store *office, *w;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	veld_store_options o = fast_opts("office1", NULL);
	char sub[600];
	f->odir = tmpdir_new();
	snprintf(sub, sizeof sub, "%s/store", f->odir);
	o.role = "office";
	ok(veld_office_create(&f->office, sub, TEST_PASS, strlen(TEST_PASS), &o));
	f->w = store_new(&f->wdir, "wim", "noord");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	veld_store_free(f->office);
	veld_store_free(f->w);
	rm_rf(f->odir);
	rm_rf(f->wdir);
	free(f->odir);
	free(f->wdir);
	free(f);
	return 0;
}

/* The office holds a key of `team`. */
static void team_key(veld_store *s, const char *team)
{
	uint8_t pk[32], *sk = veld__secret_new(32);
	crypto_box_keypair(pk, sk);
	STEP(s, VELD_STEP_KEYS | VELD_STEP_WRITE, veld__team_key_put(s, team, 1, pk, sk));
	veld__secret_free(sk);
}

/* A number a query gives on the store in `dir` (its veld.db). */
static int64_t q(const char *dir, const char *sub, const char *sql)
{
	char path[700];
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t n = -1;
	snprintf(path, sizeof path, "%s%s/veld.db", dir, sub);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	else
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static json_t *list_of(veld_store *s, const char *kind, const char *client)
{
	char filter[128], *out = NULL;
	json_t *j;
	snprintf(filter, sizeof filter, "{\"client\":\"%s\"}", client);
	ok(veld_record_list(s, kind, filter, NULL, &out));
	j = json_loads(out, 0, NULL);
	veld_free(out);
	return j;
}

static const char *str(json_t *rec, const char *k)
{
	return json_string_value(json_object_get(rec, k));
}

static void test_move__copy_remaps_references_and_forwards_once(void **state)
{
	struct fx *f = *state;
	char b[512], *c, *sg, *e, *n1, *g, nhex[33];
	uint8_t client[16], nc[16];
	json_t *steps, *one, *esc, *sig, *notes, *goal;
	uint64_t fwd = 0;
	size_t i;
	team_key(f->office, "noord");
	team_key(f->office, "zuid");
	c = create(f->office, "client", "{\"name\":\"Sanne\",\"team\":\"noord\"}");
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"kind\":\"rent_arrears\",\"severity\":\"low\"}", c);
	sg = create(f->office, "signal", b);
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"about\":\"rent_arrears\",\"signal\":\"%s\"}", c, sg);
	e = create(f->office, "escalation", b);
	for (int k = 0; k < 2; k++) {
		snprintf(b, sizeof b, "{\"client\":\"%s\",\"escalation\":\"%s\",\"step\":\"reminder\","
		         "\"date\":\"2026-11-0%d\"}", c, e, k + 1);
		free(create(f->office, "escalation_step", b));
	}
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"text\":\"een\"}", c);
	n1 = create(f->office, "note", b);
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"text\":\"twee\",\"amends\":\"%s\"}", c, n1);
	free(create(f->office, "note", b));
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"domain\":\"financien\",\"description\":\"d\"}", c);
	g = create(f->office, "goal", b);
	ok(veld__unhex(client, 16, c));

	/* The copy: in one step, the new client in zuid. */
	STEP(f->office, VELD_STEP_KEYS | VELD_STEP_WRITE,
	     veld__move_copy(f->office, client, "noord", "zuid", 1, nc));
	veld__hex(nhex, nc, 16);
	assert_string_not_equal(nhex, c);
	steps = list_of(f->office, "escalation_step", nhex);
	esc = list_of(f->office, "escalation", nhex);
	sig = list_of(f->office, "signal", nhex);
	notes = list_of(f->office, "note", nhex);
	assert_int_equal(json_array_size(steps), 2);
	assert_int_equal(json_array_size(esc), 1);
	assert_int_equal(json_array_size(notes), 2);
	assert_string_not_equal(str(json_array_get(esc, 0), "id"), e);
	assert_string_equal(str(json_array_get(esc, 0), "team"), "zuid");
	assert_string_equal(str(json_array_get(esc, 0), "signal"), str(json_array_get(sig, 0), "id"));
	json_array_foreach(steps, i, one)
		assert_string_equal(str(one, "escalation"), str(json_array_get(esc, 0), "id"));
	{
		const char *n1new = NULL;
		json_array_foreach(notes, i, one)
			if (strcmp(str(one, "text"), "een") == 0)
				n1new = str(one, "id");
		assert_non_null(n1new);
		assert_string_not_equal(n1new, n1);
		json_array_foreach(notes, i, one)
			if (strcmp(str(one, "text"), "twee") == 0)
				assert_string_equal(str(one, "amends"), n1new);
	}
	/* The map: every record, the client to the new client. */
	assert_int_equal(q(f->odir, "/store", "SELECT count(*) FROM moves"), 8);
	assert_int_equal(q(f->odir, "/store", "SELECT count(*) FROM moved_clients"), 1);
	json_decref(steps), json_decref(esc), json_decref(sig), json_decref(notes);
	/* Everyone's lists (the office's lists, its console, the report) show
	 * the client once, under its new id; asked for by id, the old one
	 * still answers. */
	{
		char *out = NULL;
		ok(veld_record_list(f->office, "signal", NULL, NULL, &out));
		sig = json_loads(out, 0, NULL);
		veld_free(out);
		assert_int_equal(json_array_size(sig), 1);
		assert_string_equal(str(json_array_get(sig, 0), "client"), nhex);
		json_decref(sig);
		ok(veld_record_list(f->office, "client", NULL, NULL, &out));
		assert_null(strstr(out, c));
		assert_non_null(strstr(out, nhex));
		veld_free(out);
		sig = list_of(f->office, "signal", c);
		assert_int_equal(json_array_size(sig), 1);
		json_decref(sig);
	}

	/* Nothing new: nothing forwarded. */
	STEP(f->office, VELD_STEP_KEYS | VELD_STEP_WRITE, veld__moves_forward(f->office, &fwd));
	assert_int_equal(fwd, 0);
	/* A late write on the old client goes on to the new one, once. */
	ok(veld_record_update(f->office, "goal", g, "{\"status\":\"achieved\"}", NULL, NULL));
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"text\":\"laat\",\"amends\":\"%s\"}", c, n1);
	free(create(f->office, "note", b));
	STEP(f->office, VELD_STEP_KEYS | VELD_STEP_WRITE, veld__moves_forward(f->office, &fwd));
	assert_true(fwd >= 3);
	goal = list_of(f->office, "goal", nhex);
	assert_string_equal(str(json_array_get(goal, 0), "status"), "achieved");
	assert_null(json_object_get(json_array_get(goal, 0), "conflicts"));
	json_decref(goal);
	notes = list_of(f->office, "note", nhex);
	assert_int_equal(json_array_size(notes), 3);
	json_array_foreach(notes, i, one)
		if (strcmp(str(one, "text"), "laat") == 0)
			assert_string_not_equal(str(one, "amends"), n1); /* remapped */
	json_decref(notes);
	STEP(f->office, VELD_STEP_KEYS | VELD_STEP_WRITE, veld__moves_forward(f->office, &fwd));
	assert_int_equal(fwd, 0);
	free(c), free(sg), free(e), free(n1), free(g);
}

static void test_move__check_refuses_what_cannot_move(void **state)
{
	struct fx *f = *state;
	uint8_t client[16];
	char team[65], *c, *w;
	team_key(f->office, "noord");
	c = create(f->office, "client", "{\"name\":\"Sanne\",\"team\":\"noord\"}");
	STEP(f->office, 0, veld__move_check(f->office, c, "zuid", client, team) == VELD_ENOTFOUND
	                       ? VELD_OK : VELD_ERROR);
	STEP(f->office, 0, veld__move_check(f->office, c, "noord", client, team) == VELD_EINVAL
	                       ? VELD_OK : VELD_ERROR);
	team_key(f->office, "zuid");
	STEP(f->office, 0, veld__move_check(f->office, c, "zuid", client, team));
	assert_string_equal(team, "noord");
	ok(veld_client_erase(f->office, c, "test"));
	STEP(f->office, 0, veld__move_check(f->office, c, "zuid", client, team) == VELD_ESHREDDED
	                       ? VELD_OK : VELD_ERROR);
	w = create(f->w, "client", "{\"name\":\"Wim\"}");
	STEP(f->w, 0, veld__move_check(f->w, w, "zuid", client, team) == VELD_EPERM ? VELD_OK
	                                                                              : VELD_ERROR);
	free(c), free(w);
}

static void test_move__worker_keeps_unpushed_own_values_until_pushed(void **state)
{
	struct fx *f = *state;
	char b[256], sql[200], *c;
	uint8_t client[16];
	uint64_t last;
	c = create(f->w, "client", "{\"name\":\"Wim\"}");
	ok(veld__unhex(client, 16, c));
	snprintf(b, sizeof b, "{\"client\":\"%s\",\"text\":\"een\"}", c);
	free(create(f->w, "note", b));
	/* The server confirmed seqs up to 1 (the client's name); the note
	 * (seqs 2..) it has not received. */
	STEP(f->w, VELD_STEP_WRITE, veld__sync_set_u64(f->w, "policy_seq", 1));
	last = veld__store_last_seq(f->w);
	STEP(f->w, VELD_STEP_KEYS | VELD_STEP_WRITE, veld__client_moved_notice(f->w, client, 1));
	/* Gone here: the record, the key; the note's values wait for a push. */
	assert_int_not_equal(veld_record_get(f->w, "client", c, NULL, NULL), VELD_OK);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM client_keys WHERE client = x'%s'", c);
	assert_int_equal(q(f->wdir, "/store", sql), 0);
	assert_int_equal(q(f->wdir, "/store", "SELECT count(*) FROM ops WHERE seq <= 1 AND value IS NOT NULL"),
	                 0);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM ops WHERE seq > 1 AND value IS NOT NULL");
	assert_int_equal(q(f->wdir, "/store", sql), (int64_t)(last - 1));
	/* Logged with the last own seq: what it signs above that, the office
	 * does not forward. */
	snprintf(sql, sizeof sql, "SELECT count(*) FROM audit WHERE event = 'erase'"
	         " AND purpose = 'moved to another team; last own seq %llu'", (unsigned long long)last);
	assert_int_equal(q(f->wdir, "/store", sql), 1);
	/* A push confirmed them: now they go. */
	STEP(f->w, VELD_STEP_WRITE, veld__moved_values_pushed(f->w, 2, last));
	assert_int_equal(q(f->wdir, "/store", "SELECT count(*) FROM ops WHERE value IS NOT NULL"), 0);
	/* A second notice changes nothing and logs nothing. */
	STEP(f->w, VELD_STEP_KEYS | VELD_STEP_WRITE, veld__client_moved_notice(f->w, client, 1));
	assert_int_equal(q(f->wdir, "/store", "SELECT count(*) FROM audit WHERE event = 'erase'"), 1);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_move__copy_remaps_references_and_forwards_once,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_move__check_refuses_what_cannot_move, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_move__worker_keeps_unpushed_own_values_until_pushed,
		                                setup, teardown),
	};
	ok(veld_init());
	return cmocka_run_group_tests(tests, NULL, NULL);
}
