/* test_auditsync.c - the access log's way to the office, without a server:
 * a worker's store seals and signs its entries (veld__audit_next_push), the
 * office checks and keeps them (veld__audit_apply_page) with the key it
 * certified for the entry's device (the page carries no keys). Each check of
 * the office side has its own test: an altered entry, entries signed with
 * another key than the certified one, a gap, a changed entry under a seq
 * already held, an entry its device signed but that does not open (kept as
 * "unreadable" so one faulty device cannot block the rest), and a page that
 * fails keeps nothing. Devices whose entries the office cannot check hold up
 * no one (finding 12 of the i9 review): one not certified yet waits apart
 * and comes again once certified; one it will not certify, and a revoked
 * one after its revocation, keep their place as "unverified"; and what it
 * keeps of them is bounded. */
#include "helpers.h"

#include "audit.h"
#include "auth.h"
#include "devsync.h"
#include "store.h"
#include "trust.h"
#include "wire.h"

#include <jansson.h>
#include <sqlite3.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fx {
	char *wdir, *odir;
	veld_store *worker, *office;
	struct veld__audit_outbox ob;
	struct veld__audit_pull_resp page;
};

/* The office certifies a device's signing key, as a cert notice it issued
 * would (officekeys.c). */
static void certify(veld_store *office, veld_store *device)
{
	struct veld__cert c;
	memset(&c, 0, sizeof c);
	memcpy(c.device, device->device, VELD_ID_BYTES);
	snprintf(c.team, sizeof c.team, "noord");
	snprintf(c.role, sizeof c.role, "worker");
	memcpy(c.sign_pk, device->sign_pk, 32);
	memcpy(c.box_pk, device->box_pk, 32);
	c.enrolled = 1;
	ok(veld__cert_put(office, &c));
}

/* A worker store that logged a few reads, its entries sealed to the office. */
static veld_store *worker_new(char **dir, const char *user, veld_store *office)
{
	veld_store *w = store_new(dir, user, "noord");
	char *id, *out = NULL;
	/* Enrollment pins the office's box key in the worker's store. */
	ok(veld__meta_put(w, "office_box_pk", office->box_pk, 32));
	id = create(w, "client", "{\"name\":\"Logged\"}");
	ok(veld_record_get(w, "client", id, "home visit prep", &out));
	veld_free(out);
	free(id);
	return w;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	veld_store_options o = fast_opts("anna", "noord");
	char sub[600];
	f->odir = tmpdir_new();
	snprintf(sub, sizeof sub, "%s/store", f->odir);
	o.user = "office1";
	o.role = "office";
	ok(veld_office_create(&f->office, sub, TEST_PASS, strlen(TEST_PASS), &o));
	f->worker = worker_new(&f->wdir, "anna", f->office);
	certify(f->office, f->worker);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	veld__audit_outbox_free(&f->ob);
	veld_store_free(f->worker);
	veld_store_free(f->office);
	rm_rf(f->wdir);
	rm_rf(f->odir);
	free(f->wdir);
	free(f->odir);
	free(f);
	return 0;
}

/* A worker's entries above its acked, with the cursors and device the
 * server would give them, from cursor `first` on. */
static void outbox_of(veld_store *w, struct veld__audit_outbox *ob, uint64_t first)
{
	veld__audit_outbox_free(ob);
	ok(veld__audit_next_push(w, 1000, ob));
	assert_true(ob->req.n >= 3);
	for (size_t i = 0; i < ob->req.n; i++) {
		ob->req.entries[i].cursor = first + i;
		memcpy(ob->req.entries[i].device, w->device, VELD_ID_BYTES);
	}
}

/* The worker's entries above its acked, as the server would page them. */
static void make_page(struct fx *f)
{
	outbox_of(f->worker, &f->ob, 10);
	memset(&f->page, 0, sizeof f->page);
	f->page.entries = f->ob.req.entries;
	f->page.n = f->ob.req.n;
	f->page.next = 10 + f->page.n - 1;
}

/* Apply a page that follows the cursor the office holds; a page of a
 * certified device never waits. */
static int apply(struct fx *f, uint64_t *applied)
{
	int waiting = -1, rc;
	uint64_t after = 0;
	ok(veld__audit_cursor(f->office, &after));
	rc = veld__audit_apply_page(f->office, &f->page, after, applied, &waiting);
	assert_int_equal(waiting, 0);
	return rc;
}

static long long office_rows(struct fx *f)
{
	char *out = NULL;
	json_t *j;
	long long n;
	ok(veld_office_log(f->office, NULL, &out));
	j = json_loads(out, 0, NULL);
	n = (long long)json_array_size(j);
	json_decref(j);
	veld_free(out);
	return n;
}

static uint64_t office_cursor(struct fx *f)
{
	uint64_t c = 0;
	ok(veld__audit_cursor(f->office, &c));
	return c;
}

/* Re-sign entry i as the worker, after a test changed its sealed bytes. */
static void resign(struct fx *f, size_t i)
{
	struct veld__audit_entry *e = &f->page.entries[i];
	uint8_t msg[VELD_AUDIT_SIG_MSG];
	veld__audit_sig_message(msg, e->device, e->seq, e->sealed, e->sealed_len);
	crypto_sign_detached(e->sig, NULL, msg, sizeof msg, f->worker->sign_sk);
}

static void test_auditsync__office_keeps_the_entries_as_the_device_wrote_them(void **state)
{
	struct fx *f = *state;
	char *mine = NULL, *theirs = NULL;
	json_t *a, *o;
	uint64_t applied = 0;
	make_page(f);
	ok(apply(f, &applied));
	assert_int_equal(applied, f->page.n);
	assert_true(office_cursor(f) == f->page.next);
	ok(veld_audit_list(f->worker, NULL, &mine));
	ok(veld_office_log(f->office, NULL, &theirs));
	a = json_loads(mine, 0, NULL);
	o = json_loads(theirs, 0, NULL);
	assert_int_equal(json_array_size(o), f->page.n);
	for (size_t i = 0; i < json_array_size(o); i++) {
		static const char *const keys[] = {"at", "event", "outcome", "client", "user", "role",
		                                   "device", "purpose"};
		json_t *x = json_array_get(a, i), *y = json_array_get(o, i);
		assert_true(json_equal(json_object_get(x, "seq"), json_object_get(y, "seq")));
		for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
			if (!json_equal(json_object_get(x, keys[k]), json_object_get(y, keys[k])))
				fail_msg("entry %zu differs in %s", i, keys[k]);
	}
	assert_non_null(strstr(theirs, "home visit prep"));
	json_decref(a);
	json_decref(o);
	veld_free(mine);
	veld_free(theirs);

	/* The same page again (a re-sent push, sealed anew): nothing new. */
	make_page(f);
	ok(apply(f, &applied));
	assert_int_equal(applied, 0);
	assert_int_equal(office_rows(f), f->page.n);
	/* A worker's store takes no page. */
	{
		int waiting = -1;
		assert_int_equal(veld__audit_apply_page(f->worker, &f->page, 0, &applied, &waiting),
		                 VELD_EPERM);
		assert_int_equal(waiting, 0);
	}
}

static void test_auditsync__altered_entry_refuses_the_page(void **state)
{
	struct fx *f = *state;
	uint64_t applied = 0;
	uint8_t *b;
	make_page(f);
	b = (uint8_t *)f->page.entries[1].sealed;
	b[40] ^= 1; /* not re-signed: the server (or the wire) changed it */
	assert_int_equal(apply(f, &applied), VELD_EPROTO);
	assert_non_null(strstr(veld_error_last(), "signature"));
	assert_int_equal(office_rows(f), 0);
	assert_true(office_cursor(f) == 0);
}

static void test_auditsync__forged_author_key_refuses_the_page(void **state)
{
	struct fx *f = *state;
	uint64_t applied = 0;
	uint8_t pk[32], sk[64];
	make_page(f);
	ok(apply(f, &applied)); /* the certified key verifies them */
	/* The page names no key any more: the server can only sign with one of
	 * its own, and the office checks with the key it certified. */
	crypto_sign_keypair(pk, sk);
	for (size_t i = 0; i < f->page.n; i++) {
		uint8_t msg[VELD_AUDIT_SIG_MSG];
		struct veld__audit_entry *e = &f->page.entries[i];
		veld__audit_sig_message(msg, e->device, e->seq, e->sealed, e->sealed_len);
		crypto_sign_detached(e->sig, NULL, msg, sizeof msg, sk);
	}
	assert_int_equal(apply(f, &applied), VELD_EPROTO);
	assert_non_null(strstr(veld_error_last(), "signature"));
	assert_int_equal(office_rows(f), f->page.n);
	assert_true(office_cursor(f) == f->page.next);
}

static void test_auditsync__gap_refuses_the_page(void **state)
{
	struct fx *f = *state;
	uint64_t applied = 0;
	make_page(f);
	f->page.entries++; /* the server leaves out entry 1 */
	f->page.n--;
	assert_int_equal(apply(f, &applied), VELD_EPROTO);
	assert_non_null(strstr(veld_error_last(), "missing"));
	assert_int_equal(office_rows(f), 0);
	f->page.entries--;
	f->page.n++;
}

static void test_auditsync__changed_entry_under_a_held_seq_is_refused(void **state)
{
	struct fx *f = *state;
	uint64_t applied = 0;
	make_page(f);
	ok(apply(f, &applied));
	/* The device's log rewritten from entry 1 on (a rolled-back file, say):
	 * its new entry 1 is properly sealed and signed, but says otherwise. */
	{
		char sql[512], dhex[2 * VELD_ID_BYTES + 1];
		veld__hex(dhex, f->worker->device, VELD_ID_BYTES);
		snprintf(sql, sizeof sql, "DELETE FROM audit; INSERT INTO audit(seq, at, event, outcome,"
		         " client, user, role, device, purpose, hash) VALUES(1, 1, 'read', 'success',"
		         " NULL, 'anna', 'worker', '%s', 'rewritten', zeroblob(32))", dhex);
		assert_int_equal(sqlite3_exec(f->worker->db, sql, NULL, NULL, NULL), SQLITE_OK);
	}
	veld__audit_outbox_free(&f->ob);
	ok(veld__audit_next_push(f->worker, 1000, &f->ob));
	assert_int_equal(f->ob.req.n, 1);
	f->page.entries = f->ob.req.entries;
	f->page.n = 1;
	memcpy(f->page.entries[0].device, f->worker->device, VELD_ID_BYTES);
	f->page.entries[0].cursor = 99;
	f->page.next = 99;
	assert_int_equal(apply(f, &applied), VELD_EPROTO);
	assert_non_null(strstr(veld_error_last(), "two different"));
}

static void test_auditsync__signed_but_unreadable_entry_keeps_its_place(void **state)
{
	struct fx *f = *state;
	uint64_t applied = 0;
	char *out = NULL;
	uint8_t *b;
	make_page(f);
	b = (uint8_t *)f->page.entries[1].sealed;
	b[40] ^= 1;
	resign(f, 1); /* the device itself sent broken bytes */
	ok(apply(f, &applied));
	assert_int_equal(applied, f->page.n);
	ok(veld_office_log(f->office, NULL, &out));
	assert_non_null(strstr(out, "\"event\":\"unreadable\""));
	assert_non_null(strstr(out, "home visit prep")); /* the others arrived */
	veld_free(out);
}

/* A purpose with bytes that are not UTF-8, or terminal control codes, is
 * logged with '?' in their place, on the device and at the office; it does
 * not turn the entry unreadable at the office. */
static void test_auditsync__odd_purpose_bytes_are_logged_readably(void **state)
{
	struct fx *f = *state;
	char *out = NULL, *id;
	uint64_t applied = 0;
	id = create(f->worker, "client", "{\"name\":\"Odd\"}");
	ok(veld_record_get(f->worker, "client", id, "break-glass: crisis \xff\x1b[2J call", &out));
	veld_free(out);
	ok(veld_audit_list(f->worker, NULL, &out));
	assert_non_null(strstr(out, "break-glass: crisis ??[2J call"));
	veld_free(out);
	make_page(f);
	ok(apply(f, &applied));
	assert_int_equal(applied, f->page.n);
	ok(veld_office_log(f->office, NULL, &out));
	assert_non_null(strstr(out, "break-glass: crisis ??[2J call"));
	assert_null(strstr(out, "unreadable"));
	veld_free(out);
	free(id);
}

/* A page of the server's making from entries: cursors from `first` on. */
static void page_of(struct fx *f, struct veld__audit_entry *e, size_t n, uint64_t first, int more)
{
	memset(&f->page, 0, sizeof f->page);
	for (size_t i = 0; i < n; i++)
		e[i].cursor = first + i;
	f->page.entries = e;
	f->page.n = n;
	f->page.next = n ? first + n - 1 : first;
	f->page.more = more;
}

/* Entries of `device`, seqs from `seq` on, with sealed bytes no one can
 * open; signed with `sk`, or not signed at all (NULL). */
static uint8_t junk[100];
static void made_up(struct veld__audit_entry *e, size_t n, const uint8_t device[VELD_ID_BYTES],
                    uint64_t seq, const uint8_t *sk)
{
	randombytes_buf(junk, sizeof junk);
	for (size_t i = 0; i < n; i++) {
		uint8_t msg[VELD_AUDIT_SIG_MSG];
		memset(&e[i], 0, sizeof e[i]);
		memcpy(e[i].device, device, VELD_ID_BYTES);
		e[i].seq = seq + i;
		e[i].sealed = junk;
		e[i].sealed_len = sizeof junk;
		if (sk) {
			veld__audit_sig_message(msg, device, e[i].seq, junk, sizeof junk);
			crypto_sign_detached(e[i].sig, NULL, msg, sizeof msg, sk);
		}
	}
}

static int apply_any(struct fx *f, uint64_t *applied, int *waiting)
{
	uint64_t after = 0;
	ok(veld__audit_cursor(f->office, &after));
	return veld__audit_apply_page(f->office, &f->page, after, applied, waiting);
}

/* The office's rows of one device, as veld_office_log lists them. */
static json_t *rows_of(struct fx *f, const uint8_t device[VELD_ID_BYTES])
{
	char filter[128], hex[2 * VELD_ID_BYTES + 1], *out = NULL;
	json_t *j;
	veld__hex(hex, device, VELD_ID_BYTES);
	snprintf(filter, sizeof filter, "{\"device\":\"%s\"}", hex);
	ok(veld_office_log(f->office, filter, &out));
	j = json_loads(out, 0, NULL);
	veld_free(out);
	assert_non_null(j);
	return j;
}

/* A field of the row with seq `seq` (the listing is in time order, and an
 * entry kept without what it says has time 0). */
static const char *row_str(json_t *rows, size_t seq, const char *key)
{
	for (size_t i = 0; i < json_array_size(rows); i++) {
		json_t *r = json_array_get(rows, i);
		if ((size_t)json_integer_value(json_object_get(r, "seq")) == seq)
			return json_string_value(json_object_get(r, key));
	}
	fail_msg("no row with seq %zu", seq);
	return NULL;
}

static struct veld__audit_status status(struct fx *f)
{
	struct veld__audit_status st;
	ok(veld__audit_status(f->office, &st));
	return st;
}

/* Finding 12 of the i9 review. An entry of a device the office has not
 * certified (yet) cannot be checked. It is passed over and waits, marked,
 * while the cursor moves on: the entries of every other device after it are
 * taken on the same page. The pull says it waits only where it ends. Once
 * the office certifies the device, the next pull starts again just below
 * its first entry, and its entries are taken, checked; those of the others
 * that come again are compared, not taken twice. */
static void test_auditsync__uncertified_device_waits_apart_and_the_others_go_on(void **state)
{
	struct fx *f = *state;
	struct veld__audit_outbox ob2;
	struct veld__audit_entry *mixed;
	struct veld__audit_mark m;
	char *dir2 = NULL, *mine = NULL, *theirs = NULL;
	veld_store *w2 = worker_new(&dir2, "bert", f->office);
	uint64_t applied = 99, after = 0;
	size_t n1, n2, k = 0;
	int waiting = -1;
	json_t *rows;

	memset(&ob2, 0, sizeof ob2);
	outbox_of(w2, &ob2, 0);
	n2 = ob2.req.n;
	outbox_of(f->worker, &f->ob, 0);
	n1 = f->ob.req.n;
	/* Two entries of the certified worker, then the uncertified device's,
	 * then the worker's others. */
	mixed = calloc(n1 + n2, sizeof *mixed);
	mixed[k++] = f->ob.req.entries[0];
	mixed[k++] = f->ob.req.entries[1];
	for (size_t i = 0; i < n2; i++)
		mixed[k++] = ob2.req.entries[i];
	for (size_t i = 2; i < n1; i++)
		mixed[k++] = f->ob.req.entries[i];

	/* A page that is not the last: the pull goes on, nothing said yet. */
	page_of(f, mixed, k, 10, 1);
	ok(apply_any(f, &applied, &waiting));
	assert_int_equal(waiting, 0);
	assert_int_equal(applied, n1); /* every entry of the worker, also those after bert's */
	assert_true(office_cursor(f) == f->page.next);
	assert_int_equal(office_rows(f), (long long)n1);
	ok(veld__audit_mark_get(f->office, w2->device, &m));
	assert_int_equal(m.state, VELD_AUDIT_WAITING);
	assert_true(m.resume == 11); /* just below bert's first entry, cursor 12 */
	assert_true(m.next == n2 + 1 && m.top == n2);
	assert_true(status(f).waiting == 1);

	/* The last page (nothing new on it): it says one device waits. */
	page_of(f, mixed + k, 0, f->page.next, 0);
	ok(apply_any(f, &applied, &waiting));
	assert_int_equal(waiting, 1);

	/* Certified: the cursor goes back to bert's first entry, and the
	 * server's page from there brings his entries, now checked. A page
	 * asked for before the cursor went back passes his later entries over
	 * still (they are not a gap: they come again). */
	certify(f->office, w2);
	page_of(f, mixed + 3, n2 - 1, 13, 0);
	ok(veld__audit_apply_page(f->office, &f->page, 12, &applied, &waiting));
	assert_int_equal(applied, 0);
	ok(veld__audit_cursor(f->office, &after));
	assert_true(after == 11);
	assert_int_equal(veld__audit_mark_get(f->office, w2->device, &m), VELD_ENOTFOUND);
	page_of(f, mixed + 2, k - 2, 12, 0);
	ok(apply_any(f, &applied, &waiting));
	assert_int_equal(waiting, 0);
	assert_int_equal(applied, n2);
	assert_true(office_cursor(f) == f->page.next);
	assert_int_equal(office_rows(f), (long long)k);
	ok(veld_audit_list(w2, NULL, &mine));
	rows = rows_of(f, w2->device);
	assert_int_equal(json_array_size(rows), n2);
	assert_string_equal(row_str(rows, 1, "event"), "store-create");
	json_decref(rows);
	ok(veld_office_log(f->office, NULL, &theirs));
	assert_null(strstr(theirs, "unverified"));
	veld_free(mine);
	veld_free(theirs);
	assert_true(status(f).waiting == 0);

	free(mixed);
	veld__audit_outbox_free(&ob2);
	veld_store_free(w2);
	rm_rf(dir2);
	free(dir2);
}

/* A device the office will not certify (after its certification step,
 * veld__audit_after_certify) has its entries that came kept in their place
 * as "unverified", with nothing of what they say; so are those that come
 * later, also once it is certified after all. A waiting device the office
 * did certify is not given up on: its entries come again. */
static void test_auditsync__device_never_certified_is_kept_as_unverified(void **state)
{
	struct fx *f = *state;
	struct veld__audit_outbox ob2, ob3;
	struct veld__audit_entry *both;
	struct veld__audit_mark m;
	char *dir2 = NULL, *dir3 = NULL, *out = NULL, *id;
	veld_store *w2 = worker_new(&dir2, "bert", f->office);
	veld_store *w3 = worker_new(&dir3, "cato", f->office);
	uint64_t applied = 0, after = 0;
	size_t n2, n3, given_up = 9;
	int waiting = -1;
	json_t *rows;

	memset(&ob2, 0, sizeof ob2);
	memset(&ob3, 0, sizeof ob3);
	outbox_of(w2, &ob2, 0);
	outbox_of(w3, &ob3, 0);
	n2 = ob2.req.n;
	n3 = ob3.req.n;
	both = calloc(n2 + n3, sizeof *both);
	memcpy(both, ob2.req.entries, n2 * sizeof *both);
	memcpy(both + n2, ob3.req.entries, n3 * sizeof *both);
	page_of(f, both, n2 + n3, 20, 0);
	ok(apply_any(f, &applied, &waiting));
	assert_int_equal(waiting, 2);
	assert_int_equal(applied, 0);

	/* The office's certification: cato is certified, bert is not. */
	certify(f->office, w3);
	ok(veld__audit_after_certify(f->office, &given_up));
	assert_int_equal(given_up, 1);
	ok(veld__audit_mark_get(f->office, w2->device, &m));
	assert_int_equal(m.state, VELD_AUDIT_UNVERIFIABLE);
	rows = rows_of(f, w2->device);
	assert_int_equal(json_array_size(rows), n2);
	for (size_t i = 0; i < n2; i++) {
		assert_string_equal(row_str(rows, i + 1, "event"), "unverified");
		assert_string_equal(row_str(rows, i + 1, "outcome"), "failure");
		assert_non_null(strstr(row_str(rows, i + 1, "purpose"), "did not certify"));
		assert_true(json_is_null(json_object_get(json_array_get(rows, i), "client")));
	}
	json_decref(rows);
	ok(veld_office_log(f->office, NULL, &out));
	assert_null(strstr(out, "home visit prep")); /* nothing of what they say */
	veld_free(out);
	{
		struct veld__audit_status st = status(f);
		assert_true(st.waiting == 1 && st.unverifiable == 1 && st.unverified == n2);
		assert_true(st.not_kept == 0 && !st.full);
	}
	/* Asked again, nothing more to give up on. */
	ok(veld__audit_after_certify(f->office, &given_up));
	assert_int_equal(given_up, 0);

	/* The cursor goes back for cato only, to just below his first entry;
	 * the page from there brings his entries, taken checked. */
	ok(veld__audit_cursor(f->office, &after));
	assert_true(after == 20 + n2 - 1);
	page_of(f, both + n2, n3, 20 + n2, 0);
	ok(apply_any(f, &applied, &waiting));
	assert_int_equal(applied, n3);
	assert_int_equal(waiting, 0);
	rows = rows_of(f, w3->device);
	assert_string_equal(row_str(rows, 1, "event"), "store-create");
	json_decref(rows);

	/* Bert logs more, and is certified after all (a server that listed
	 * him late): given up on once, his entries stay unverified. */
	id = create(w2, "client", "{\"name\":\"Later\"}");
	ok(veld_record_get(w2, "client", id, "second look", &out));
	veld_free(out);
	free(id);
	certify(f->office, w2);
	veld__audit_outbox_free(&ob2);
	ok(veld__audit_next_push(w2, 1000, &ob2));
	for (size_t i = 0; i < ob2.req.n; i++)
		memcpy(ob2.req.entries[i].device, w2->device, VELD_ID_BYTES);
	page_of(f, ob2.req.entries, ob2.req.n, 100, 0);
	ok(apply_any(f, &applied, &waiting));
	rows = rows_of(f, w2->device);
	assert_int_equal(json_array_size(rows), ob2.req.n);
	assert_string_equal(row_str(rows, ob2.req.n, "event"), "unverified");
	json_decref(rows);
	ok(veld_office_log(f->office, NULL, &out));
	assert_null(strstr(out, "second look"));
	veld_free(out);

	free(both);
	veld__audit_outbox_free(&ob2);
	veld__audit_outbox_free(&ob3);
	veld_store_free(w2);
	veld_store_free(w3);
	rm_rf(dir2);
	rm_rf(dir3);
	free(dir2);
	free(dir3);
}

/* A device the office will not certify costs it one mark, and at most
 * VELD_AUDIT_UNVERIFIED_MAX entries kept as unverified: the rest, sent
 * again or after a gap, are passed over and counted as not kept. */
static void test_auditsync__unverified_entries_of_a_device_are_capped(void **state)
{
	struct fx *f = *state;
	const size_t n = VELD_AUDIT_UNVERIFIED_MAX + 50;
	struct veld__audit_entry *e = calloc(n + 1, sizeof *e);
	uint8_t dev[VELD_ID_BYTES];
	uint64_t applied = 0;
	size_t given_up = 0;
	int waiting = -1;
	json_t *rows;

	randombytes_buf(dev, sizeof dev);
	made_up(e, n - 10, dev, 1, NULL);
	page_of(f, e, n - 10, 1000, 0);
	ok(apply_any(f, &applied, &waiting));
	assert_int_equal(waiting, 1);
	ok(veld__audit_after_certify(f->office, &given_up));
	assert_int_equal(given_up, 1);
	assert_int_equal(office_rows(f), VELD_AUDIT_UNVERIFIED_MAX);
	/* The server sends them again, and more after a gap: none kept. */
	made_up(e, 11, dev, VELD_AUDIT_UNVERIFIED_MAX + 1, NULL);
	page_of(f, e, 11, 5000, 0);
	ok(apply_any(f, &applied, &waiting));
	assert_int_equal(applied, 0);
	assert_int_equal(waiting, 0);
	made_up(e, 1, dev, n + 1, NULL);
	page_of(f, e, 1, 6000, 0);
	ok(apply_any(f, &applied, &waiting));
	assert_int_equal(applied, 0);
	rows = rows_of(f, dev);
	assert_int_equal(json_array_size(rows), VELD_AUDIT_UNVERIFIED_MAX);
	json_decref(rows);
	{
		struct veld__audit_status st = status(f);
		assert_true(st.unverifiable == 1 && st.unverified == VELD_AUDIT_UNVERIFIED_MAX);
		assert_true(st.not_kept == n + 1 - VELD_AUDIT_UNVERIFIED_MAX);
	}
	free(e);
}

/* A server that makes devices up fills no disk: once
 * VELD_AUDIT_MARKS_MAX devices wait, the page stops before the entry of
 * one more (it says the pull ends), and goes on once the office has given
 * up on (or certified) those. */
static void test_auditsync__too_many_devices_waiting_stop_the_page(void **state)
{
	struct fx *f = *state;
	const size_t k = VELD_AUDIT_MARKS_MAX + 1;
	struct veld__audit_entry *e = calloc(k + 8, sizeof *e);
	uint64_t applied = 0, stop_at;
	size_t given_up = 0, n1;
	int waiting = -1;

	for (size_t i = 0; i < k; i++) {
		uint8_t dev[VELD_ID_BYTES];
		randombytes_buf(dev, sizeof dev);
		made_up(&e[i], 1, dev, 1, NULL);
	}
	outbox_of(f->worker, &f->ob, 0);
	n1 = f->ob.req.n;
	memcpy(e + k, f->ob.req.entries, n1 * sizeof *e);
	page_of(f, e, k + n1, 100, 1);
	ok(apply_any(f, &applied, &waiting));
	stop_at = 100 + VELD_AUDIT_MARKS_MAX - 1;
	assert_true(waiting >= 1); /* the pull ends here, though `more` */
	assert_int_equal(applied, 0);
	assert_true(office_cursor(f) == stop_at);
	assert_true(status(f).waiting == VELD_AUDIT_MARKS_MAX && status(f).full);

	/* The office's next certification gives up on them: the pull goes on. */
	ok(veld__audit_after_certify(f->office, &given_up));
	assert_int_equal(given_up, VELD_AUDIT_MARKS_MAX);
	page_of(f, e + VELD_AUDIT_MARKS_MAX, k + n1 - VELD_AUDIT_MARKS_MAX, stop_at + 1, 0);
	ok(apply_any(f, &applied, &waiting));
	assert_int_equal(applied, n1);
	assert_int_equal(waiting, 1);
	assert_int_equal(office_rows(f), (long long)(VELD_AUDIT_MARKS_MAX + n1));
	/* The unverifiable ones are at their most too: one more waits. */
	assert_true(status(f).full);
	ok(veld__audit_after_certify(f->office, &given_up));
	assert_int_equal(given_up, 0);
	assert_true(status(f).waiting == 1);
	free(e);
}

/* Minor observation of the i9 review: the office took entries that a
 * revoked device signed after its revocation. What the office held of the
 * device when it revoked it stays genuine and is compared as ever; an entry
 * new to the office after the revocation is kept as "unverified", with
 * nothing of what it says. Its signature is still checked: the server
 * cannot add one. Beyond VELD_AUDIT_UNVERIFIED_MAX of them, the rest are
 * passed over. */
static void test_auditsync__revoked_device_signs_nothing_genuine_after_revocation(void **state)
{
	struct fx *f = *state;
	struct veld__audit_entry *e;
	struct veld__audit_mark m;
	uint64_t applied = 0, held;
	char *out = NULL, *id;
	uint8_t pk[32], sk[64];
	json_t *rows;
	size_t n;

	make_page(f);
	ok(apply(f, &applied));
	held = applied;
	ok(veld__cert_revoke(f->office, f->worker->device, 0, NULL));

	/* The thief (with the server) logs on: the old entries again, and new. */
	id = create(f->worker, "client", "{\"name\":\"Stolen\"}");
	ok(veld_record_get(f->worker, "client", id, "looking around", &out));
	veld_free(out);
	free(id);
	outbox_of(f->worker, &f->ob, 50);
	n = f->ob.req.n;
	f->page.entries = f->ob.req.entries;
	f->page.n = n;
	f->page.next = 50 + n - 1;
	ok(apply(f, &applied));
	assert_int_equal(applied, n - held);
	rows = rows_of(f, f->worker->device);
	assert_int_equal(json_array_size(rows), n);
	assert_string_equal(row_str(rows, 1, "event"), "store-create");
	assert_string_equal(row_str(rows, n, "event"), "unverified");
	assert_non_null(strstr(row_str(rows, n, "purpose"), "after the office revoked"));
	json_decref(rows);
	ok(veld_office_log(f->office, NULL, &out));
	assert_null(strstr(out, "looking around"));
	assert_non_null(strstr(out, "home visit prep")); /* before: genuine */
	veld_free(out);
	ok(veld__audit_mark_get(f->office, f->worker->device, &m));
	assert_int_equal(m.state, VELD_AUDIT_REVOKED);
	assert_true(m.point == held);

	/* One the server made up for it: refused, as for any certified device. */
	crypto_sign_keypair(pk, sk);
	e = calloc(VELD_AUDIT_UNVERIFIED_MAX + 10, sizeof *e);
	made_up(e, 1, f->worker->device, n + 1, sk);
	page_of(f, e, 1, 500, 0);
	assert_int_equal(apply(f, &applied), VELD_EPROTO);
	assert_non_null(strstr(veld_error_last(), "signature"));

	/* Signed by it, far beyond the cap: kept up to it, then passed over,
	 * a gap included. */
	made_up(e, VELD_AUDIT_UNVERIFIED_MAX + 10, f->worker->device, n + 1, f->worker->sign_sk);
	page_of(f, e, VELD_AUDIT_UNVERIFIED_MAX + 10, 600, 0);
	ok(apply(f, &applied));
	assert_int_equal(applied, VELD_AUDIT_UNVERIFIED_MAX - (n - held));
	made_up(e, 1, f->worker->device, n + VELD_AUDIT_UNVERIFIED_MAX + 100, f->worker->sign_sk);
	page_of(f, e, 1, 5000, 0);
	ok(apply(f, &applied));
	assert_int_equal(applied, 0);
	assert_int_equal(office_rows(f), (long long)(held + VELD_AUDIT_UNVERIFIED_MAX));
	{
		struct veld__audit_status st = status(f);
		assert_true(st.unverified == VELD_AUDIT_UNVERIFIED_MAX);
		assert_true(st.not_kept == (n + VELD_AUDIT_UNVERIFIED_MAX + 100) -
		                           (held + VELD_AUDIT_UNVERIFIED_MAX));
	}
	free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_auditsync__office_keeps_the_entries_as_the_device_wrote_them, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auditsync__altered_entry_refuses_the_page, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_auditsync__forged_author_key_refuses_the_page, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_auditsync__gap_refuses_the_page, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auditsync__changed_entry_under_a_held_seq_is_refused,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_auditsync__signed_but_unreadable_entry_keeps_its_place,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_auditsync__odd_purpose_bytes_are_logged_readably,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_auditsync__uncertified_device_waits_apart_and_the_others_go_on, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_auditsync__device_never_certified_is_kept_as_unverified, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_auditsync__unverified_entries_of_a_device_are_capped, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_auditsync__too_many_devices_waiting_stop_the_page, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_auditsync__revoked_device_signs_nothing_genuine_after_revocation, setup,
			teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
