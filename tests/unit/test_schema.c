/* test_schema.c - the record schema as data: the built-in document, what a
 * document must say, which new version may follow, and values checked
 * against the version in force. */
#include "helpers.h"
#include "kinds.h"
#include "store.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The built-in document changed by `edit` (a function on its JSON). */
static char *doc_edited(void (*edit)(json_t *doc))
{
	json_t *doc = json_loads(veld__default_schema, 0, NULL);
	char *text;
	assert_non_null(doc);
	edit(doc);
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return text;
}

static json_t *field(json_t *doc, const char *kind, const char *name)
{
	return json_object_get(json_object_get(json_object_get(json_object_get(doc, "kinds"), kind),
	                                       "fields"), name);
}

static void bump(json_t *doc)
{
	json_object_set_new(doc, "version", json_integer(2));
}

/* ---- documents ------------------------------------------------------------------ */

static void test_schema__builtin_reads_with_every_kind(void **state)
{
	struct veld__schema *sc;
	(void)state;
	ok(veld__schema_parse(veld__default_schema, strlen(veld__default_schema), &sc));
	assert_int_equal(sc->version, 1);
	assert_string_equal(sc->name, "beschermd-thuis");
	assert_int_equal(sc->nkinds, 20);
	assert_string_equal(sc->kinds[0].kind, "client"); /* the document's order */
	assert_string_equal(sc->kinds[0].fields[0].name, "name");
	assert_true(sc->kinds[0].fields[0].flags & VELD_F_REQ);
	veld__schema_free(sc);
}

static void unknown_type(json_t *d) { json_object_set_new(field(d, "tenancy", "form"), "type", json_string("money")); }
static void ref_nowhere(json_t *d) { json_object_set_new(field(d, "action", "meeting"), "ref", json_string("party")); }
static void list_nowhere(json_t *d) { json_object_set_new(field(d, "woonkompas", "themes"), "list", json_string("nope")); }
static void bad_kind_name(json_t *d) { json_object_set_new(json_object_get(d, "kinds"), "Bad-Kind", json_pack("{s:{s:{s:s}}}", "fields", "x", "type", "text")); }
static void long_kind_name(json_t *d) { json_object_set_new(json_object_get(d, "kinds"), "seventeen_chars_x", json_pack("{s:{s:{s:s}}}", "fields", "x", "type", "text")); }
static void twice(json_t *d) { json_array_append_new(json_object_get(field(d, "income", "benefit"), "values"), json_string("wajong")); }
static void bad_default(json_t *d) { json_object_set_new(field(d, "goal", "status"), "default", json_string("maybe")); }
static void range_default(json_t *d) { json_object_set_new(field(d, "time_out", "agreed_days"), "default", json_integer(400)); }
static void no_client(json_t *d) { json_object_del(json_object_get(d, "kinds"), "client"); }
static void stray_key(json_t *d) { json_object_set_new(field(d, "tenancy", "form"), "colour", json_string("red")); }
static void search_int(json_t *d) { json_object_set_new(field(d, "time_out", "agreed_days"), "search", json_true()); }
static void field_team(json_t *d) { json_object_set_new(json_object_get(json_object_get(json_object_get(d, "kinds"), "phase"), "fields"), "team", json_pack("{s:s}", "type", "text")); }
static void dup_code(json_t *d) { json_array_append_new(json_object_get(json_object_get(d, "lists"), "woonkompas_themes"), json_pack("{s:s}", "code", "netwerk")); }
static void bad_format(json_t *d) { json_object_set_new(d, "format", json_string("veld-schema-9")); }
/* Retiring what every new record gets would make the kind impossible to
 * create (review finding). */
static void retired_default(json_t *d) { json_object_set_new(field(d, "escalation", "status"), "retired", json_true()); }
static void retired_default_value(json_t *d) { json_object_set_new(field(d, "goal", "status"), "retired_values", json_pack("[s]", "open")); }
static void retired_filled(json_t *d) { json_object_set_new(field(d, "note", "author"), "retired", json_true()); }

static void test_schema__documents_that_do_not_read_are_refused(void **state)
{
	static struct { void (*edit)(json_t *); const char *says; } cases[] = {
		{unknown_type, "kinds.tenancy.fields.form has no type veld knows"},
		{ref_nowhere, "kinds.action.fields.meeting needs \"ref\""},
		{list_nowhere, "kinds.woonkompas.fields.themes needs \"list\""},
		{bad_kind_name, "kind name that is not"},
		{long_kind_name, "kind name that is not"},
		{twice, "lists a value twice"},
		{bad_default, "default that is not one of its values"},
		{range_default, "default outside its range"},
		{no_client, "must keep client"},
		{stray_key, "has a key it does not know"},
		{search_int, "searched but not text"},
		{field_team, "is not a field name"},
		{dup_code, "has a code twice"},
		{bad_format, "veld-schema-1"},
		{retired_default, "is retired but has a default"},
		{retired_default_value, "default that is not one of its values in use"},
		{retired_filled, "kinds.note.fields.author is filled by veld"},
	};
	struct veld__schema *sc;
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *text = doc_edited(cases[i].edit);
		assert_int_equal(veld__schema_parse(text, strlen(text), &sc), VELD_EINVAL);
		assert_null(sc);
		if (!strstr(veld_error_last(), cases[i].says))
			fail_msg("case %zu: '%s' does not say '%s'", i, veld_error_last(), cases[i].says);
		free(text);
	}
	assert_int_equal(veld__schema_parse("{\"format\":", 10, &sc), VELD_EINVAL);
}

/* ---- versions --------------------------------------------------------------------- */

static void add_things(json_t *d)
{
	bump(d);
	json_array_append_new(json_object_get(field(d, "income", "benefit"), "values"), json_string("bbz"));
	json_object_set_new(field(d, "income", "benefit"), "retired_values", json_pack("[s]", "wia"));
	json_object_set_new(json_object_get(json_object_get(json_object_get(d, "kinds"), "tenancy"), "fields"),
	                    "key_handover", json_pack("{s:s}", "type", "date"));
	json_object_set_new(json_object_get(d, "kinds"), "budget", json_pack("{s:{s:{s:s,s:b}}}",
	                    "fields", "amount", "type", "text", "required", 1));
	json_object_set_new(field(d, "time_out", "agreed_days"), "max", json_integer(730));
	json_object_set_new(field(d, "tenancy", "clause_version"), "retired", json_true());
	json_array_append_new(json_object_get(json_object_get(d, "lists"), "contact_persons"),
	                      json_pack("{s:s,s:s}", "code", "wijkteam_west_1", "label", "Wijkteam West"));
}
static void same_version(json_t *d) { (void)d; }
static void drop_kind(json_t *d) { bump(d); json_object_del(json_object_get(d, "kinds"), "consent"); }
static void drop_field(json_t *d) { bump(d); json_object_del(json_object_get(json_object_get(json_object_get(d, "kinds"), "income"), "fields"), "since"); }
static void retype(json_t *d) { bump(d); json_object_set_new(field(d, "income", "since"), "type", json_string("text")); }
static void now_required(json_t *d) { bump(d); json_object_set_new(field(d, "income", "since"), "required", json_true()); }
static void drop_value(json_t *d) { bump(d); json_array_remove(json_object_get(field(d, "income", "benefit"), "values"), 0); }
static void narrow(json_t *d) { bump(d); json_object_set_new(field(d, "time_out", "agreed_days"), "max", json_integer(100)); }
static void drop_entry(json_t *d) { bump(d); json_array_remove(json_object_get(json_object_get(d, "lists"), "woonkompas_themes"), 0); }
static void now_append_only(json_t *d) { bump(d); json_object_set_new(json_object_get(json_object_get(d, "kinds"), "meeting"), "append_only", json_true()); }

static void test_schema__only_compatible_versions_follow(void **state)
{
	static struct { void (*edit)(json_t *); const char *says; } refused[] = {
		{same_version, "does not follow version 1"},
		{drop_kind, "kinds.consent is dropped"},
		{drop_field, "kinds.income.fields.since is dropped"},
		{retype, "changes its type"},
		{now_required, "becomes required"},
		{drop_value, "drops a value"},
		{narrow, "narrows its range"},
		{drop_entry, "drops an entry"},
		{now_append_only, "changes append_only"},
	};
	struct veld__schema *v1, *v2;
	char *text;
	(void)state;
	ok(veld__schema_parse(veld__default_schema, strlen(veld__default_schema), &v1));
	for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
		text = doc_edited(refused[i].edit);
		ok(veld__schema_parse(text, strlen(text), &v2));
		assert_int_equal(veld__schema_compatible(v1, v2), VELD_EINVAL);
		if (!strstr(veld_error_last(), refused[i].says))
			fail_msg("case %zu: '%s' does not say '%s'", i, veld_error_last(), refused[i].says);
		veld__schema_free(v2);
		free(text);
	}
	/* Added kinds, fields, options and list entries, a widened range and
	 * retired things are fine. */
	text = doc_edited(add_things);
	ok(veld__schema_parse(text, strlen(text), &v2));
	ok(veld__schema_compatible(v1, v2));
	veld__schema_free(v2);
	veld__schema_free(v1);
	free(text);
}

/* ---- values in a store ----------------------------------------------------------------- */

struct fx {
	char *dir, *client, *other;
	veld_store *s;
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	f->s = store_new(&f->dir, "anna", NULL);
	f->client = create(f->s, "client", "{\"name\":\"Een\"}");
	f->other = create(f->s, "client", "{\"name\":\"Twee\"}");
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	veld_store_free(f->s);
	rm_rf(f->dir);
	free(f->dir);
	free(f->client);
	free(f->other);
	free(f);
	return 0;
}

/* Create a record of `kind` for client `c` with the fields `rest` (JSON
 * object members): its return code. */
static int try_create(veld_store *s, const char *kind, const char *c, const char *rest, char **id)
{
	char b[1024], *out = NULL;
	int rc;
	snprintf(b, sizeof b, "{\"client\":\"%s\"%s%s}", c, *rest ? "," : "", rest);
	rc = veld_record_create(s, kind, b, NULL, id ? &out : NULL);
	if (id) {
		json_t *r = out ? json_loads(out, 0, NULL) : NULL;
		*id = r ? strdup(json_string_value(json_object_get(r, "id"))) : NULL;
		json_decref(r);
		veld_free(out);
	}
	return rc;
}

static void refused(veld_store *s, const char *kind, const char *c, const char *rest,
                    const char *says)
{
	assert_int_equal(try_create(s, kind, c, rest, NULL), VELD_EINVAL);
	if (!strstr(veld_error_last(), says))
		fail_msg("'%s' does not say '%s'", veld_error_last(), says);
}

static void test_schema__new_kinds_are_checked_on_write(void **state)
{
	struct fx *f = *state;
	char *esc = NULL, *step = NULL, *out = NULL;
	json_t *r;
	ok(try_create(f->s, "escalation", f->client, "\"about\":\"rent_arrears\",\"amount\":850", &esc));
	/* The schema's default. */
	ok(veld_record_get(f->s, "escalation", esc, NULL, &out));
	r = json_loads(out, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(r, "status")), "open");
	assert_int_equal(json_integer_value(json_object_get(r, "amount")), 850);
	json_decref(r);
	veld_free(out);
	/* Whole numbers in range; options; list codes; required fields. */
	refused(f->s, "escalation", f->client, "\"about\":\"rent_arrears\",\"amount\":-1", "from 0 to 1000000");
	refused(f->s, "escalation", f->client, "\"about\":\"rent_arrears\",\"amount\":\"850\"", "whole number");
	refused(f->s, "escalation", f->client, "\"amount\":5", "'about' is required");
	refused(f->s, "woonkompas", f->client, "\"date\":\"2026-10-01\",\"themes\":[\"gokken\"]", "list 'woonkompas_themes'");
	refused(f->s, "woonkompas", f->client, "\"date\":\"2026-10-01\",\"themes\":[\"netwerk\",\"netwerk\"]", "twice");
	refused(f->s, "woonkompas", f->client, "\"date\":\"2026-10-01\",\"participants\":[\"mayor\"]", "must be one of");
	refused(f->s, "contact_person", f->client, "\"person\":\"anyone\",\"from\":\"2026-10-01\"", "list 'contact_persons'");
	refused(f->s, "time_out", f->client, "\"start\":\"2026-02-30\"", "must be a date");
	refused(f->s, "invoice", f->client, "\"x\":1", "unknown record kind");
	/* A reference names a record of the same client. */
	{
		char b[256];
		snprintf(b, sizeof b, "\"escalation\":\"%s\",\"step\":\"reminder\",\"date\":\"2026-10-01\"", esc);
		refused(f->s, "escalation_step", f->other, b, "names a record of another client");
		ok(try_create(f->s, "escalation_step", f->client, b, &step));
	}
	/* ...also an update that sets one. */
	{
		char b[256], *esc2 = NULL;
		ok(try_create(f->s, "escalation", f->other, "\"about\":\"nuisance\"", &esc2));
		snprintf(b, sizeof b, "{\"escalation\":\"%s\"}", esc2);
		assert_int_equal(veld_record_update(f->s, "escalation_step", step, b, NULL, NULL), VELD_EINVAL);
		assert_non_null(strstr(veld_error_last(), "another client"));
		free(esc2);
	}
	/* A client's export (AVG art. 15) holds the new kinds like the rest. */
	ok(veld_client_export(f->s, f->client, NULL, &out));
	r = json_loads(out, 0, NULL);
	veld_free(out);
	assert_int_equal(json_array_size(json_object_get(json_object_get(r, "records"), "escalation")), 1);
	assert_int_equal(json_array_size(json_object_get(json_object_get(r, "records"), "escalation_step")), 1);
	assert_non_null(json_object_get(json_object_get(r, "records"), "waakvlam"));
	json_decref(r);
	free(esc);
	free(step);
}

static void retire(json_t *d)
{
	bump(d);
	json_object_set_new(field(d, "income", "benefit"), "retired_values", json_pack("[s]", "wia"));
	json_object_set_new(field(d, "tenancy", "clause_version"), "retired", json_true());
	json_array_append_new(json_object_get(field(d, "income", "benefit"), "values"), json_string("bbz"));
}

static void test_schema__a_new_version_is_adopted_and_old_records_read(void **state)
{
	struct fx *f = *state;
	char *income = NULL, *tenancy = NULL, *text = doc_edited(retire), *out = NULL;
	struct veld__tx tx;
	json_t *v;
	ok(try_create(f->s, "income", f->client, "\"benefit\":\"wia\"", &income));
	ok(try_create(f->s, "tenancy", f->client, "\"form\":\"three_party\",\"clause_version\":\"2024-1\"", &tenancy));
	refused(f->s, "income", f->client, "\"benefit\":\"bbz\"", "must be one of");

	/* A rolled-back adoption leaves version 1 in force. */
	ok(veld__tx_begin(f->s, &tx));
	ok(veld__schema_adopt(f->s, text, strlen(text), 1));
	assert_int_equal(f->s->schema->version, 2);
	veld__tx_abort(f->s, &tx);
	assert_int_equal(f->s->schema->version, 1);

	ok(veld__tx_begin(f->s, &tx));
	ok(veld__schema_adopt(f->s, text, strlen(text), 1));
	ok(veld__tx_commit(f->s, &tx));
	ok(try_create(f->s, "income", f->client, "\"benefit\":\"bbz\"", NULL));
	/* Retired: not written any more... */
	refused(f->s, "income", f->client, "\"benefit\":\"wia\"", "no longer in use");
	assert_int_equal(veld_record_update(f->s, "tenancy", tenancy, "{\"clause_version\":\"2025-1\"}", NULL, NULL),
	                 VELD_EINVAL);
	/* ...but what was written still reads, and still passes as a value
	 * another device wrote. */
	ok(veld_record_get(f->s, "income", income, NULL, &out));
	assert_non_null(strstr(out, "\"wia\""));
	veld_free(out);
	v = json_string("wia");
	ok(veld__field_value_check(f->s, "income", "benefit", v));
	json_decref(v);
	v = json_string("2024-1");
	ok(veld__field_value_check(f->s, "tenancy", "clause_version", v));
	json_decref(v);
	/* The same version again, or version 1, does not follow. */
	assert_int_equal(veld__schema_adopt(f->s, text, strlen(text), 2), VELD_EINVAL);
	assert_int_equal(veld__schema_adopt(f->s, veld__default_schema, strlen(veld__default_schema), 2),
	                 VELD_EINVAL);

	/* The store keeps it: reopened, version 2 is in force. */
	{
		char sub[512];
		snprintf(sub, sizeof sub, "%s/store", f->dir);
		veld_store_free(f->s);
		ok(veld_store_open(&f->s, sub, TEST_PASS, strlen(TEST_PASS), NULL));
		assert_int_equal(f->s->schema->version, 2);
		ok(veld_schema_json(f->s, &out));
		v = json_loads(out, 0, NULL);
		assert_int_equal(json_integer_value(json_object_get(v, "version")), 2);
		assert_non_null(json_object_get(json_object_get(v, "kinds"), "waakvlam"));
		assert_non_null(json_object_get(json_object_get(v, "domains"), "2017"));
		json_decref(v);
		veld_free(out);
	}
	free(text);
	free(income);
	free(tenancy);
}

/* A savepoint nested in the transaction that adopted a version rolls back
 * (a failed write); the transaction commits: the new version stays in
 * force (review finding). */
static void add_budget_plan(json_t *d)
{
	bump(d);
	json_object_set_new(json_object_get(d, "kinds"), "budget_plan",
	                    json_pack("{s:{s:{s:s}}}", "fields", "agreed", "type", "date"));
}

static void test_schema__a_nested_rollback_keeps_the_adopted_version(void **state)
{
	struct fx *f = *state;
	char *v2 = doc_edited(add_budget_plan), *v3;
	json_t *doc = json_loads(veld__default_schema, 0, NULL);
	json_object_set_new(doc, "version", json_integer(3)); /* without budget_plan */
	v3 = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	ok(veld_store_begin(f->s));
	ok(veld__schema_adopt(f->s, v2, strlen(v2), 1));
	assert_int_equal(veld_record_create(f->s, "client", "{}", NULL, NULL), VELD_EINVAL);
	ok(veld_store_commit(f->s));
	assert_int_equal(f->s->schema->version, 2);
	assert_int_equal(veld__schema_adopt(f->s, v3, strlen(v3), 1), VELD_EINVAL);
	/* A rollback of the level that adopted it does restore the one before. */
	ok(veld_store_begin(f->s));
	{
		char *v4 = doc_edited(add_budget_plan);
		json_t *d4 = json_loads(v4, 0, NULL);
		char *t4;
		json_object_set_new(d4, "version", json_integer(4));
		t4 = json_dumps(d4, JSON_COMPACT);
		ok(veld__schema_adopt(f->s, t4, strlen(t4), 1));
		json_decref(d4);
		free(t4);
		free(v4);
	}
	assert_int_equal(veld_store_rollback(f->s), VELD_OK);
	assert_int_equal(f->s->schema->version, 2);
	free(v2);
	free(v3);
}

/* A second handle on the store (another process: `veld office schema
 * --set` while the console runs) adopts a version: this handle's next
 * write is checked against it, and the kind it adds is written. */
static void test_schema__a_version_another_handle_adopted_is_in_force(void **state)
{
	struct fx *f = *state;
	char *v2 = doc_edited(add_budget_plan), sub[512];
	veld_store *other;
	struct veld__tx tx;
	veld_store_options o = VELD_STORE_OPTIONS_INIT;
	o.user = "anna";
	snprintf(sub, sizeof sub, "%s/store", f->dir);
	ok(veld_store_open(&other, sub, TEST_PASS, strlen(TEST_PASS), &o));
	refused(f->s, "budget_plan", f->client, "\"agreed\":\"2026-12-01\"", "unknown record kind");
	ok(veld__tx_begin(other, &tx));
	ok(veld__schema_adopt(other, v2, strlen(v2), 1));
	ok(veld__tx_commit(other, &tx));
	ok(try_create(f->s, "budget_plan", f->client, "\"agreed\":\"2026-12-01\"", NULL));
	assert_int_equal(f->s->schema->version, 2);
	veld_store_free(other);
	free(v2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schema__builtin_reads_with_every_kind),
		cmocka_unit_test(test_schema__documents_that_do_not_read_are_refused),
		cmocka_unit_test(test_schema__only_compatible_versions_follow),
		cmocka_unit_test_setup_teardown(test_schema__new_kinds_are_checked_on_write, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_schema__a_version_another_handle_adopted_is_in_force,
		                                fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_schema__a_new_version_is_adopted_and_old_records_read,
		                                fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_schema__a_nested_rollback_keeps_the_adopted_version,
		                                fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
