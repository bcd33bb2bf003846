/* test_e2e_converge.c - three devices and the office, random offline edits
 * and syncs in random order: all converge, every note and acknowledged write
 * survives, concurrent edits show as a conflict everywhere until resolved. */
#include "e2e.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NDEV 3

static uint64_t rng;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

/* A random client id this store can see, or NULL. */
static char *pick(veld_store *s, const char *kind)
{
	char *out = NULL, *id = NULL;
	json_t *j;
	ok(veld_record_list(s, kind, NULL, NULL, &out));
	j = json_loads(out, 0, NULL);
	veld_free(out);
	if (json_array_size(j) > 0)
		id = strdup(json_string_value(json_object_get(
			json_array_get(j, rnd() % json_array_size(j)), "id")));
	json_decref(j);
	return id;
}

static void random_step(veld_store *s, int is_office, size_t *notes)
{
	char b[512], *c, *v;
	unsigned r = rnd() % 7;
	/* Few clients, many edits: concurrent edits of one field must happen. */
	if (r == 0 && e2e_count(s, "client") >= 3)
		r = 1;
	switch (r) {
	case 0:
		snprintf(b, sizeof b, "{\"name\":\"Client %u\",\"phone\":\"06%08u\"%s}", rnd() % 1000,
		         rnd() % 100000000, is_office ? ",\"team\":\"noord\"" : "");
		free(e2e_create(s, "client", b));
		break;
	case 1:
	case 2:
		if (!(c = pick(s, "client")))
			break;
		snprintf(b, sizeof b, "{\"%s\":\"v%u\"}", rnd() % 2 ? "phone" : "address", rnd() % 1000);
		ok(veld_record_update(s, "client", c, b, NULL, NULL));
		free(c);
		break;
	case 3:
		if (!(c = pick(s, "client")))
			break;
		snprintf(b, sizeof b, "{\"client\":\"%s\",\"text\":\"note %u\"}", c, rnd());
		free(e2e_create(s, "note", b));
		(*notes)++;
		free(c);
		break;
	case 4:
		if (!(c = pick(s, "client")))
			break;
		snprintf(b, sizeof b, "{\"client\":\"%s\",\"kind\":\"home_visit\",\"scores\":{\"financien\":%u}}",
		         c, 1 + rnd() % 5);
		free(e2e_create(s, "visit", b));
		free(c);
		break;
	case 5:
		if (!(v = pick(s, "visit")))
			break;
		snprintf(b, sizeof b, "{\"actions\":\"a%u\"}", rnd() % 100);
		ok(veld_record_update(s, "visit", v, b, NULL, NULL));
		free(v);
		break;
	default:
		e2e_sync(s);
		break;
	}
}

static void test_e2e__random_offline_edits_converge(void **state)
{
	char *tmp = e2e_tmpdir(), data[512];
	struct e2e_server srv;
	int total_conflicts = 0;
	snprintf(data, sizeof data, "%s/server", tmp);
	e2e_server_start(&srv, data, 0);

	for (int seed = 1; seed <= 16; seed++) {
		char parent[600], name[16];
		veld_store *dev[NDEV], *office;
		char *want, *got;
		size_t notes = 0;
		int conflicts_seen = 0;
		snprintf(parent, sizeof parent, "%s/seed%d", tmp, seed);
		e2e_rm_rf(parent);
		assert_int_equal(mkdir(parent, 0700), 0);
		/* Each seed works in its own team on the same server. */
		office = seed == 1 ? e2e_office(&srv, parent) : NULL;
		if (!office) {
			/* The server has one office: reuse its store. */
			char first[600];
			snprintf(first, sizeof first, "%s/seed1", tmp);
			office = e2e_reopen(first, "office");
		}
		rng = 0xC0FFEEull * (uint64_t)seed + 1;
		for (int d = 0; d < NDEV; d++) {
			char team[16];
			snprintf(name, sizeof name, "dev%d", d);
			snprintf(team, sizeof team, "t%d", seed);
			dev[d] = e2e_device(&srv, office, parent, name, team);
		}
		{
			/* The office writes into this seed's team. */
			char *c;
			char b[64];
			snprintf(b, sizeof b, "{\"name\":\"Office client\",\"team\":\"t%d\"}", seed);
			c = e2e_create(office, "client", b);
			free(c);
		}
		for (int step = 0; step < 80; step++) {
			int who = (int)(rnd() % (NDEV + 1));
			if (who == NDEV) {
				if (rnd() % 3 == 0)
					e2e_sync(office);
				continue;
			}
			random_step(dev[who], 0, &notes);
		}
		/* Everyone syncs until nothing new can arrive. */
		for (int round = 0; round < 2; round++) {
			for (int d = 0; d < NDEV; d++)
				e2e_sync(dev[d]);
			e2e_sync(office);
		}
		want = e2e_state(dev[0]);
		for (int d = 1; d < NDEV; d++) {
			got = e2e_state(dev[d]);
			if (strcmp(want, got) != 0)
				fail_msg("seed %d: device %d differs from device 0", seed, d);
			free(got);
		}
		assert_int_equal(e2e_count(dev[0], "note"), notes);
		{
			/* The office sees the same records of this team. */
			char *out = NULL, filter[64];
			json_t *a, *b;
			char *c0 = NULL;
			ok(veld_record_list(dev[0], "note", NULL, NULL, &c0));
			a = json_loads(c0, 0, NULL);
			veld_free(c0);
			ok(veld_record_list(office, "note", NULL, NULL, &out));
			b = json_loads(out, 0, NULL);
			veld_free(out);
			size_t same = 0, i, j;
			json_t *x, *y;
			json_array_foreach(a, i, x)
				json_array_foreach(b, j, y)
					if (json_equal(x, y))
						same++;
			assert_int_equal(same, json_array_size(a));
			json_decref(a);
			json_decref(b);
			(void)filter;
		}
		/* Conflicts: shown on every replica; resolve them all on one. */
		{
			char *out = NULL;
			json_t *cs, *c;
			size_t i;
			ok(veld_conflicts_list(dev[0], NULL, &out));
			cs = json_loads(out, 0, NULL);
			veld_free(out);
			conflicts_seen = (int)json_array_size(cs);
			json_array_foreach(cs, i, c) {
				char *val = json_dumps(json_object_get(json_object_get(c, "winner"), "value"),
				                       JSON_ENCODE_ANY | JSON_COMPACT);
				ok(veld_conflict_resolve(dev[0], json_string_value(json_object_get(c, "type")),
				                         json_string_value(json_object_get(c, "id")),
				                         json_string_value(json_object_get(c, "field")), val, NULL));
				free(val);
			}
			json_decref(cs);
			for (int d = 0; d < NDEV; d++)
				e2e_sync(dev[d]);
			for (int d = 0; d < NDEV; d++) {
				ok(veld_conflicts_list(dev[d], NULL, &out));
				assert_string_equal(out, "[]");
				veld_free(out);
			}
		}
		print_message("seed %d: %zu notes, %d conflicts seen on every replica and resolved\n",
		              seed, notes, conflicts_seen);
		total_conflicts += conflicts_seen;
		free(want);
		for (int d = 0; d < NDEV; d++) {
			char *out = NULL;
			ok(veld_store_verify(dev[d], &out));
			veld_free(out);
			veld_store_free(dev[d]);
		}
		veld_store_free(office);
	}
	/* The histories must really be concurrent, or this proves little. */
	assert_true(total_conflicts >= 8);
	e2e_server_stop(&srv, SIGTERM);
	e2e_rm_rf(tmp);
	free(tmp);
}

/* Two workers edit one field offline: both values survive as a conflict on
 * both devices and at the office, one wins the same way everywhere. */
static void test_e2e__concurrent_edit_is_a_conflict_everywhere(void **state)
{
	char *tmp = e2e_tmpdir(), data[512], b[256], *c, *out = NULL;
	struct e2e_server srv;
	veld_store *office, *a, *bb;
	json_t *ja, *jb, *jo;
	snprintf(data, sizeof data, "%s/server", tmp);
	e2e_server_start(&srv, data, 0);
	office = e2e_office(&srv, tmp);
	a = e2e_device(&srv, office, tmp, "anna", "noord");
	bb = e2e_device(&srv, office, tmp, "bram", "noord");
	c = e2e_create(a, "client", "{\"name\":\"Jan\",\"phone\":\"0600000000\"}");
	e2e_sync(a);
	e2e_sync(bb);
	ok(veld_record_update(a, "client", c, "{\"phone\":\"0611111111\"}", NULL, NULL));
	ok(veld_record_update(bb, "client", c, "{\"phone\":\"0622222222\"}", NULL, NULL));
	e2e_sync(a);
	e2e_sync(bb);
	e2e_sync(a);
	e2e_sync(office);
	ok(veld_record_get(a, "client", c, NULL, &out));
	ja = json_loads(out, 0, NULL);
	veld_free(out);
	ok(veld_record_get(bb, "client", c, NULL, &out));
	jb = json_loads(out, 0, NULL);
	veld_free(out);
	ok(veld_record_get(office, "client", c, NULL, &out));
	jo = json_loads(out, 0, NULL);
	veld_free(out);
	assert_true(json_equal(json_object_get(ja, "phone"), json_object_get(jb, "phone")));
	assert_true(json_equal(json_object_get(ja, "phone"), json_object_get(jo, "phone")));
	assert_int_equal(json_array_size(json_object_get(json_array_get(json_object_get(ja, "conflicts"), 0), "values")), 2);
	assert_true(json_equal(json_object_get(ja, "conflicts"), json_object_get(jb, "conflicts")));
	assert_true(json_equal(json_object_get(ja, "conflicts"), json_object_get(jo, "conflicts")));
	json_decref(ja);
	json_decref(jb);
	/* The sync's summary counts it, as veld info does. */
	ok(veld_sync(a, NULL, &out));
	ja = json_loads(out, 0, NULL);
	veld_free(out);
	assert_int_equal(json_integer_value(json_object_get(ja, "conflicts")), 1);
	assert_int_equal(json_integer_value(json_object_get(ja, "pending")), 0);
	assert_int_equal(json_integer_value(json_object_get(ja, "quarantined")), 0);
	json_decref(ja);
	ok(veld_store_info(a, &out));
	ja = json_loads(out, 0, NULL);
	veld_free(out);
	assert_int_equal(json_integer_value(json_object_get(ja, "conflicts")), 1);
	json_decref(ja);
	json_decref(jo);
	snprintf(b, sizeof b, "\"0633333333\"");
	ok(veld_conflict_resolve(bb, "client", c, "phone", b, NULL));
	e2e_sync(bb);
	e2e_sync(a);
	e2e_sync(office);
	ok(veld_record_get(office, "client", c, NULL, &out));
	assert_non_null(strstr(out, "0633333333"));
	assert_null(strstr(out, "conflicts"));
	veld_free(out);
	veld_store_free(a);
	veld_store_free(bb);
	veld_store_free(office);
	free(c);
	e2e_server_stop(&srv, SIGTERM);
	e2e_rm_rf(tmp);
	free(tmp);
}

/* What a device the office has not certified yet writes waits on the
 * others (nothing of it in their state, counted as pending), and goes in
 * whole once the office certifies it: more than one round of what waits
 * (pending.c takes 512 at a time). */
static void test_e2e__uncertified_writes_wait_until_certified(void **state)
{
	char *tmp = e2e_tmpdir(), data[512], fields[256], *c, *before, *after;
	struct e2e_server srv;
	veld_store *office, *a, *bb;
	const int notes = 700;
	(void)state;
	snprintf(data, sizeof data, "%s/server", tmp);
	e2e_server_start(&srv, data, 0);
	office = e2e_office(&srv, tmp);
	a = e2e_device(&srv, office, tmp, "anna", "noord");
	c = e2e_create(a, "client", "{\"name\":\"Jan\"}");
	e2e_sync(a);
	bb = e2e_device_uncertified(&srv, office, tmp, "bram", "noord");
	e2e_sync(bb); /* Anna's client arrives: Anna is certified */
	assert_int_equal(e2e_count(bb, "client"), 1);
	snprintf(fields, sizeof fields, "{\"client\":\"%s\",\"text\":\"Gesprek\"}", c);
	ok(veld_store_begin(bb));
	for (int i = 0; i < notes; i++)
		free(e2e_create(bb, "note", fields));
	ok(veld_store_commit(bb));
	e2e_sync(bb);

	before = e2e_state(a);
	e2e_sync(a);
	after = e2e_state(a);
	assert_string_equal(before, after); /* nothing of Bram's entered */
	assert_int_equal(e2e_count(a, "note"), 0);
	assert_true(e2e_info_u(a, "pending") >= (uint64_t)notes);
	e2e_sync(a); /* waiting is not refusing: syncs go on */
	assert_int_equal(e2e_count(a, "note"), 0);
	free(before);
	free(after);

	e2e_sync(office); /* certifies Bram, takes in his notes */
	assert_int_equal(e2e_count(office, "note"), (size_t)notes);
	e2e_sync(bb);
	e2e_sync(a);
	assert_int_equal(e2e_count(a, "note"), (size_t)notes);
	assert_int_equal(e2e_info_u(a, "pending"), 0);
	assert_int_equal(e2e_info_u(a, "quarantined"), 0);
	before = e2e_state(a);
	after = e2e_state(bb);
	assert_string_equal(before, after);
	free(before);
	free(after);

	veld_store_free(a);
	veld_store_free(bb);
	veld_store_free(office);
	free(c);
	e2e_server_stop(&srv, SIGTERM);
	e2e_rm_rf(tmp);
	free(tmp);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_e2e__concurrent_edit_is_a_conflict_everywhere),
		cmocka_unit_test(test_e2e__random_offline_edits_converge),
		cmocka_unit_test(test_e2e__uncertified_writes_wait_until_certified),
	};
	if (argc < 2) {
		fprintf(stderr, "usage: %s PATH-TO-veld\n", argv[0]);
		return 2;
	}
	e2e_veld = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
