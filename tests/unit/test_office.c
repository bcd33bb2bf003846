/* test_office.c - the office's steps on its own store (officekeys.c) and
 * what a device makes of a server's `acked` (outbox.c), without a server:
 * what the office signs when it revokes, its checkpoint's own head, own
 * operations a server claims to hold but does not send back, and when it
 * certifies a device enrolled under veld 0.1. */
#include "helpers.h"

#include "auth.h"
#include "crypto.h"
#include "devsync.h"
#include "store.h"
#include "syncstate.h"
#include "trust.h"
#include "wire.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* A step of a test on a store's internals. */
#define STEP(s, flags, body) do { struct veld__step st_; \
	ok(veld__step_begin((s), &st_, (flags))); \
	ok(veld__step_end((s), &st_, (body))); } while (0)

static void certify_at(veld_store *office, veld_store *d, const char *team)
{
	struct veld__cert c;
	memset(&c, 0, sizeof c);
	memcpy(c.device, veld__store_device(d), 16);
	snprintf(c.team, sizeof c.team, "%s", team);
	snprintf(c.role, sizeof c.role, "worker");
	memcpy(c.sign_pk, veld__store_sign_pk(d), 32);
	memcpy(c.box_pk, veld__store_box_pk(d), 32);
	c.enrolled = 1;
	STEP(office, VELD_STEP_WRITE, veld__cert_put(office, &c));
}

static uint64_t meta_u64(veld_store *s, const char *key)
{
	uint64_t v = 0;
	STEP(s, 0, veld__sync_u64(s, key, &v));
	return v;
}

/* ---- revocation (review finding 5) --------------------------------------------------- */

static void test_office__revoke_signs_for_the_certificates_team_only(void **state)
{
	struct fx *f = *state;
	struct veld__notice_out out;
	struct veld__notice_body b;
	char warnings[2048];
	uint64_t n = 0;
	certify_at(f->office, f->w, "noord");
	/* The server names another team: nothing is signed. */
	assert_int_equal(veld__office_revoke_notice(f->office, veld__store_device(f->w), "zuid", 0,
	                                            &out), VELD_EPROTO);
	assert_non_null(strstr(veld_error_last(), "certified it for team noord"));
	assert_int_equal(out.req.n, 0);
	STEP(f->office, 0, veld__notice_last(f->office, "zuid", &n));
	assert_int_equal(n, 0);
	/* Its own team; the server claims 7 operations the office never got:
	 * the notice says what the office holds (none), and the next summary
	 * says the rest. */
	ok(veld__office_revoke_notice(f->office, veld__store_device(f->w), "noord", 7, &out));
	assert_int_equal(out.req.n, 1);
	assert_string_equal(out.req.notices[0].team, "noord");
	ok(veld__wire_notice_body_decode(out.req.notices[0].kind, out.req.notices[0].body,
	                                 out.req.notices[0].body_len, &b));
	assert_int_equal(b.kind, VELD_NOTICE_REVOKE);
	assert_int_equal(b.last_seq, 0);
	veld__notice_out_free(&out);
	ok(veld__sync_warnings_take(f->office, warnings, sizeof warnings));
	assert_non_null(strstr(warnings, "claimed to hold operations up to 7"));
	ok(veld__sync_warnings_take(f->office, warnings, sizeof warnings));
	assert_string_equal(warnings, "");
	/* Revoked already: no second notice. */
	ok(veld__office_revoke_notice(f->office, veld__store_device(f->w), "noord", 0, &out));
	assert_int_equal(out.req.n, 0);
	veld__notice_out_free(&out);
}

static void test_office__revoke_of_a_device_without_certificate(void **state)
{
	struct fx *f = *state;
	struct veld__notice_out out;
	char team[VELD_TEAM_MAX + 1];
	assert_int_equal(veld__office_revoke_begin(f->office, veld__store_device(f->w), team),
	                 VELD_ENOTFOUND);
	assert_int_equal(veld__office_revoke_notice(f->office, veld__store_device(f->w), "noord", 0,
	                                            &out), VELD_EPROTO);
	assert_non_null(strstr(veld_error_last(), "no certificate"));
	assert_int_equal(out.req.n, 0);
}

/* ---- the office's own head in its checkpoints (review finding 10) ----------------------- */

static void test_office__checkpoint_names_own_operations_that_came_back(void **state)
{
	struct fx *f = *state;
	struct veld__invite_req req;
	struct veld__checkpoint_out out;
	char code[48];
	int new_team = 0;
	ok(veld__office_invite(f->office, "noord", 1, code, &req, &new_team)); /* the team */
	/* The server acknowledged 10 of the office's operations; 4 came back. */
	STEP(f->office, VELD_STEP_WRITE, veld__sync_set_u64(f->office, "acked_seq", 10));
	STEP(f->office, VELD_STEP_WRITE, veld__sync_set_u64(f->office, "own_seen", 4));
	ok(veld__office_checkpoints(f->office, &out));
	assert_int_equal(out.req.n, 1);
	assert_int_equal(out.req.checkpoints[0].heads_len, 24);
	assert_memory_equal(out.req.checkpoints[0].heads, veld__store_device(f->office), 16);
	assert_int_equal(veld__be64_get(out.req.checkpoints[0].heads + 16), 4);
	veld__checkpoint_out_free(&out);
}

/* ---- own operations the server claims (review finding 10) --------------------------------- */

/* A page that shows the device's own operations `from`..`to` as stubs. */
static void own_stubs(veld_store *s, struct veld__pull_resp *p, struct veld__stub *stubs,
                      uint64_t from, uint64_t to)
{
	memset(p, 0, sizeof *p);
	for (uint64_t q = from; q <= to; q++) {
		struct veld__stub *x = &stubs[p->nstubs++];
		memset(x, 0, sizeof *x);
		memcpy(x->device, veld__store_device(s), 16);
		x->seq = q;
	}
	p->stubs = stubs;
}

static void test_office__acked_above_what_came_back_is_pushed_again(void **state)
{
	struct fx *f = *state;
	struct veld__pull_resp p;
	struct veld__stub stubs[16];
	struct veld__own_check c;
	char *a = create(f->w, "client", "{\"name\":\"A\"}"), *b = create(f->w, "client", "{\"name\":\"B\"}");
	char *d = create(f->w, "client", "{\"name\":\"D\"}");
	uint64_t last = veld__store_last_seq(f->w);
	assert_true(last >= 3);
	/* The server claims all of them; the feed brought back 1 and 3 (not 2). */
	STEP(f->w, VELD_STEP_WRITE, veld__sync_set_u64(f->w, "acked_seq", last));
	STEP(f->w, VELD_STEP_WRITE, veld__sync_set_u64(f->w, "policy_seq", last));
	own_stubs(f->w, &p, stubs, 1, 1);
	ok(veld__sync_own_returned(f->w, &p, 0));
	own_stubs(f->w, &p, stubs, 3, 3);
	ok(veld__sync_own_returned(f->w, &p, 5));
	ok(veld__sync_own_check(f->w, &c));
	assert_int_equal(c.claimed, last);
	assert_int_equal(c.seen, 1);
	assert_true(c.lowered);
	assert_int_equal(meta_u64(f->w, "acked_seq"), 1);
	assert_int_equal(meta_u64(f->w, "policy_seq"), 1); /* nothing more removable */
	/* All came back: nothing to say. */
	own_stubs(f->w, &p, stubs, 2, last);
	ok(veld__sync_own_returned(f->w, &p, 9));
	STEP(f->w, VELD_STEP_WRITE, veld__sync_set_u64(f->w, "acked_seq", last));
	ok(veld__sync_own_check(f->w, &c));
	assert_int_equal(c.claimed, 0);
	assert_false(c.lowered);
	free(a);
	free(b);
	free(d);
}

/* Own operations that lost their value here cannot be sent again as they
 * were signed: the claim is reported, nothing is lowered. */
static void test_office__claimed_operations_without_value_are_not_sent_again(void **state)
{
	struct fx *f = *state;
	struct veld__pull_resp p;
	struct veld__stub stubs[4];
	struct veld__own_check c;
	char *a = create(f->w, "client", "{\"name\":\"A\"}");
	uint64_t last = veld__store_last_seq(f->w);
	ok(veld_client_erase(f->w, a, "test"));
	STEP(f->w, VELD_STEP_WRITE, veld__sync_set_u64(f->w, "acked_seq", last));
	own_stubs(f->w, &p, stubs, 1, 0); /* a page without own items, from the start */
	ok(veld__sync_own_returned(f->w, &p, 0));
	ok(veld__sync_own_check(f->w, &c));
	assert_int_equal(c.claimed, last);
	assert_int_equal(c.seen, 0);
	assert_true(c.removed > 0);
	assert_false(c.lowered);
	assert_int_equal(meta_u64(f->w, "acked_seq"), last);
	free(a);
}

/* ---- devices from veld 0.1 (review finding 11) --------------------------------------------- */

/* The server's listing of the worker as a veld 0.1 device (no invite). */
static struct veld__device_info listed(veld_store *w, const char *team)
{
	struct veld__device_info d;
	memset(&d, 0, sizeof d);
	memcpy(d.device, veld__store_device(w), 16);
	snprintf(d.team, sizeof d.team, "%s", team);
	snprintf(d.role, sizeof d.role, "worker");
	snprintf(d.label, sizeof d.label, "old phone");
	memcpy(d.sign_pk, veld__store_sign_pk(w), 32);
	memcpy(d.box_pk, veld__store_box_pk(w), 32);
	d.enrolled = 1;
	return d;
}

static size_t certify(veld_store *office, struct veld__device_info *d)
{
	struct veld__devices_resp list = {d, 1};
	struct veld__notice_out out;
	size_t refused = 0;
	ok(veld__office_certify(office, &list, &out, &refused));
	veld__notice_out_free(&out);
	return refused;
}

static int certified(veld_store *office, veld_store *w, struct veld__cert *c)
{
	struct veld__cert tmp;
	struct veld__step st;
	int rc;
	ok(veld__step_begin(office, &st, 0));
	rc = veld__cert_get(office, veld__store_device(w), c ? c : &tmp);
	veld__step_end(office, &st, VELD_OK);
	return rc == VELD_OK;
}

static void test_office__legacy_device_needs_the_operators_confirmation(void **state)
{
	struct fx *f = *state;
	struct veld__device_info d = listed(f->w, "noord"), swapped;
	struct veld__cert c;
	char fp[VELD_FINGERPRINT_TEXT], own[VELD_FINGERPRINT_TEXT], lower[VELD_FINGERPRINT_TEXT];
	/* The office pinned its signing key under veld 0.1. */
	STEP(f->office, VELD_STEP_WRITE,
	     veld__peer_set(f->office, d.device, veld__store_sign_pk(f->w), 1));
	/* Not certified on the server's word alone. */
	assert_int_equal(certify(f->office, &d), 1);
	assert_false(certified(f->office, f->w, NULL));
	/* What the office shows is what the device shows. */
	ok(veld__office_legacy(f->office, &d, NULL, NULL, fp));
	ok(veld__sync_fingerprint(f->w, own));
	assert_string_equal(fp, own);
	/* The server put its own box key in the listing: the device's
	 * fingerprint does not match it. */
	swapped = d;
	randombytes_buf(swapped.box_pk, 32);
	assert_int_equal(veld__office_legacy(f->office, &swapped, "noord", own, fp), VELD_EPROTO);
	assert_int_equal(certify(f->office, &swapped), 1);
	/* Nor another team than the server lists. */
	assert_int_equal(veld__office_legacy(f->office, &d, "zuid", own, fp), VELD_EPROTO);
	/* Confirmed (typed in capitals, without dashes): certified as listed. */
	for (size_t i = 0, o = 0; own[i]; i++)
		if (own[i] != '-')
			lower[o++] = (char)(own[i] >= 'a' ? own[i] - 'a' + 'A' : own[i]), lower[o] = 0;
	ok(veld__office_legacy(f->office, &d, "noord", lower, fp));
	/* ... but not with keys the server swapped since. */
	assert_int_equal(certify(f->office, &swapped), 1);
	assert_false(certified(f->office, f->w, NULL));
	assert_int_equal(certify(f->office, &d), 0);
	assert_true(certified(f->office, f->w, &c));
	assert_string_equal(c.team, "noord");
	assert_memory_equal(c.box_pk, veld__store_box_pk(f->w), 32);
	/* Once is enough. */
	assert_int_equal(veld__office_legacy(f->office, &d, NULL, NULL, fp), VELD_EEXISTS);
}

static void test_office__legacy_device_needs_a_pinned_key(void **state)
{
	struct fx *f = *state;
	struct veld__device_info d = listed(f->w, "noord");
	char fp[VELD_FINGERPRINT_TEXT], own[VELD_FINGERPRINT_TEXT];
	uint8_t other[32];
	ok(veld__sync_fingerprint(f->w, own));
	assert_int_equal(veld__office_legacy(f->office, &d, "noord", own, fp), VELD_EPROTO);
	assert_non_null(strstr(veld_error_last(), "never saw device"));
	randombytes_buf(other, 32);
	STEP(f->office, VELD_STEP_WRITE, veld__peer_set(f->office, d.device, other, 1));
	assert_int_equal(veld__office_legacy(f->office, &d, "noord", own, fp), VELD_EPROTO);
	assert_non_null(strstr(veld_error_last(), "another signing key"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_office__revoke_signs_for_the_certificates_team_only,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_office__revoke_of_a_device_without_certificate,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_office__checkpoint_names_own_operations_that_came_back,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_office__acked_above_what_came_back_is_pushed_again,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_office__claimed_operations_without_value_are_not_sent_again, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_office__legacy_device_needs_the_operators_confirmation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_office__legacy_device_needs_a_pinned_key, setup,
		                                teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
