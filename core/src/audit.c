/* audit.c - the NEN 7513 access log.
 *
 * Each entry records event, date-time, outcome, client, user, role, device
 * and purpose. Entries are append-only (a trigger refuses UPDATE) and
 * chained: hash_n = BLAKE2b-256 keyed with the store's audit key over
 * (hash_{n-1} || msgpack[seq, at, event, outcome, client, user, role,
 * device, purpose]). The head (seq, hash) is kept in meta at every commit
 * with a MAC under the same key, so removing, altering or truncating
 * entries breaks verification; a reader without the passphrase can neither
 * extend the chain nor move the head back to an earlier entry. What the
 * MAC cannot stop is replacing the whole file with an older copy: the
 * office's copy of the log is the anchor for that. */
#include "audit.h"
#include "error.h"
#include "hlc.h"

#include <jansson.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum audit_stmt {
	AS_INSERT, AS_HEAD, AS_ABOUT, AS_LIST_OWN, AS_LIST_OFFICE, AS_CHAIN, AS_MARKS, AS_MARK_DEL
};
/* The listings read rows of (device, seq, at, event, outcome, client,
 * user, role, purpose), as append_entries expects. */
static const char *const audit_sql[] = {
	[AS_INSERT] = "INSERT INTO audit(seq, at, event, outcome, client, user, role,"
	              " device, purpose, hash) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
	[AS_HEAD] = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
	/* Own entries come from `audit`, the office's copy of them is skipped. */
	[AS_ABOUT] =
		"SELECT device, seq, at, event, outcome, client, user, role, purpose FROM ("
		" SELECT device, seq, at, event, outcome, client, user, role, purpose FROM audit"
		"  WHERE client = ?1"
		" UNION ALL"
		" SELECT lower(hex(device)), seq, at, event, outcome, client, user, role, purpose"
		"  FROM office_audit WHERE client = ?1 AND device != ?2)"
		" ORDER BY at, device, seq",
	/* ?1 client prefix, ?2 device prefix (LIKE patterns), ?3 limit (-1: all). */
	[AS_LIST_OWN] =
		"SELECT device, seq, at, event, outcome, client, user, role, purpose FROM ("
		" SELECT * FROM audit WHERE (?1 = '%' OR client LIKE ?1) AND (?2 = '%' OR device LIKE ?2)"
		" ORDER BY seq DESC LIMIT ?3) ORDER BY seq",
	[AS_LIST_OFFICE] =
		"SELECT lower(hex(device)), seq, at, event, outcome, client, user, role, purpose"
		" FROM (SELECT * FROM office_audit WHERE (?1 = '%' OR client LIKE ?1)"
		" AND (?2 = '%' OR lower(hex(device)) LIKE ?2)"
		" ORDER BY at DESC, device DESC, seq DESC LIMIT ?3) ORDER BY at, device, seq",
	[AS_CHAIN] = "SELECT seq, at, event, outcome, client, user, role, device, purpose, hash"
	             " FROM audit ORDER BY seq",
	/* The office's marks (audit.h): every key from "audit_mark:" up to, not
	 * including, "audit_mark;" (':' + 1). */
	[AS_MARKS] = "SELECT substr(key, 12), value FROM meta WHERE key > 'audit_mark:'"
	             " AND key < 'audit_mark;' ORDER BY key",
	[AS_MARK_DEL] = "DELETE FROM meta WHERE key = ?1",
};
static const struct veld__sqltab audit_tab = VELD_SQLTAB(VELD_SQL_AUDIT, audit_sql);

void veld__iso8601(char buf[32], uint64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	char date[24];
	strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, 32, "%.19s.%03uZ", date, (unsigned)(ms % 1000));
}

static int hash_write(void *data, const char *buf, size_t len)
{
	crypto_generichash_update((crypto_generichash_state *)data, (const uint8_t *)buf, len);
	return 0;
}

static void pack_str(msgpack_packer *pk, const char *v)
{
	if (!v) {
		msgpack_pack_nil(pk);
		return;
	}
	msgpack_pack_str(pk, strlen(v));
	msgpack_pack_str_body(pk, v, strlen(v));
}

void veld__audit_pack(struct msgpack_packer *pk, uint64_t seq, uint64_t at, const char *event,
                      const char *outcome, const char *client, const char *user,
                      const char *role, const char *device, const char *purpose)
{
	msgpack_pack_array(pk, 9);
	msgpack_pack_uint64(pk, seq);
	msgpack_pack_uint64(pk, at);
	pack_str(pk, event);
	pack_str(pk, outcome);
	pack_str(pk, client);
	pack_str(pk, user);
	pack_str(pk, role);
	pack_str(pk, device);
	pack_str(pk, purpose);
}

static void entry_hash(const veld_store *s, uint8_t out[32], const uint8_t prev[32], uint64_t seq,
                       uint64_t at, const char *event, const char *outcome, const char *client,
                       const char *user, const char *role, const char *device, const char *purpose)
{
	crypto_generichash_state h;
	msgpack_packer pk;
	crypto_generichash_init(&h, s->audit_key, 32, 32);
	crypto_generichash_update(&h, prev, 32);
	msgpack_packer_init(&pk, &h, hash_write);
	veld__audit_pack(&pk, seq, at, event, outcome, client, user, role, device, purpose);
	crypto_generichash_final(&h, out, 32);
}

/* The purpose as logged: at most VELD_PURPOSE_MAX bytes, cut between
 * characters; bytes that are not UTF-8, and control characters, become
 * '?', so the entry reads the same on every screen and passes the sync
 * protocol's text rules (the office would otherwise not take it). */
const char *veld__purpose_cut(char out[VELD_PURPOSE_MAX + 1], const char *purpose)
{
	const unsigned char *p;
	size_t n, i = 0, o = 0;
	if (!purpose || !*purpose)
		purpose = "care";
	p = (const unsigned char *)purpose;
	n = strlen(purpose);
	while (i < n) {
		size_t k = veld__utf8_char(p + i, n - i);
		if (k == 0 || (k == 1 && (p[i] < 0x20 || p[i] == 0x7F))) {
			if (o + 1 > VELD_PURPOSE_MAX)
				break;
			out[o++] = '?';
			i += k ? k : 1;
			continue;
		}
		if (o + k > VELD_PURPOSE_MAX)
			break;
		memcpy(out + o, p + i, k);
		o += k;
		i += k;
	}
	out[o] = 0;
	return out;
}

int veld__audit(veld_store *s, const char *event, const char *outcome, const uint8_t *client,
                const char *purpose)
{
	sqlite3_stmt *st;
	char chex[33], dhex[33], cut[VELD_PURPOSE_MAX + 1];
	uint8_t hash[32];
	uint64_t seq = s->audit_seq + 1, at = veld__hlc_now_ms();
	int rc = veld__sql(s, &audit_tab, AS_INSERT, &st);

	if (rc != VELD_OK)
		return rc;
	purpose = veld__purpose_cut(cut, purpose);
	if (client)
		veld__hex(chex, client, VELD_ID_BYTES);
	veld__hex(dhex, s->device, VELD_ID_BYTES);
	entry_hash(s, hash, s->audit_head, seq, at, event, outcome, client ? chex : NULL, s->user,
	           s->role, dhex, purpose);
	sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)at);
	sqlite3_bind_text(st, 3, event, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, outcome, -1, SQLITE_STATIC);
	if (client)
		sqlite3_bind_text(st, 5, chex, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 5);
	sqlite3_bind_text(st, 6, s->user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, s->role, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, dhex, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, purpose, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 10, hash, 32, SQLITE_STATIC);
	if ((rc = veld__sql_run(st, "writing the access log")) != VELD_OK)
		return rc;
	s->audit_seq = seq;
	memcpy(s->audit_head, hash, 32);
	return VELD_OK;
}

static void head_mac(const veld_store *s, uint8_t mac[32], const uint8_t head[40])
{
	crypto_generichash_state h;
	crypto_generichash_init(&h, s->audit_key, 32, 32);
	crypto_generichash_update(&h, (const uint8_t *)"veld-audit-head", 15);
	crypto_generichash_update(&h, head, 40);
	crypto_generichash_final(&h, mac, 32);
}

int veld__audit_save_head(veld_store *s)
{
	uint8_t head[72];
	veld__be64_put(head, s->audit_seq);
	memcpy(head + 8, s->audit_head, 32);
	head_mac(s, head + 40, head);
	return veld__meta_put(s, "audit_head", head, sizeof head);
}

int veld__audit_load_head(veld_store *s)
{
	sqlite3_stmt *st;
	int rc = veld__sql(s, &audit_tab, AS_HEAD, &st);
	if (rc != VELD_OK)
		return rc;
	s->audit_seq = 0;
	memset(s->audit_head, 0, 32);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW && sqlite3_column_bytes(st, 1) == 32) {
		s->audit_seq = (uint64_t)sqlite3_column_int64(st, 0);
		memcpy(s->audit_head, sqlite3_column_blob(st, 1), 32);
	}
	return veld__sql_done(st, rc == SQLITE_ROW ? SQLITE_DONE : rc, "reading the access log");
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

/* Rows of (device, seq, at, event, outcome, client, user, role, purpose)
 * as JSON objects onto arr; resets the statement. */
static int append_entries(sqlite3_stmt *st, json_t *arr)
{
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char at[32];
		veld__iso8601(at, (uint64_t)sqlite3_column_int64(st, 2));
		json_array_append_new(arr, json_pack("{s:s,s:I,s:s,s:s,s:s,s:s?,s:s,s:s,s:s}",
			"device", col_text(st, 0), "seq", (json_int_t)sqlite3_column_int64(st, 1),
			"at", at, "event", col_text(st, 3), "outcome", col_text(st, 4),
			"client", col_text(st, 5), "user", col_text(st, 6), "role", col_text(st, 7),
			"purpose", col_text(st, 8)));
	}
	return veld__sql_done(st, rc, "reading the access log");
}

int veld__audit_about(veld_store *s, const char *client, json_t *arr)
{
	sqlite3_stmt *st;
	int rc = veld__sql(s, &audit_tab, AS_ABOUT, &st);
	if (rc != VELD_OK)
		return rc;
	sqlite3_bind_text(st, 1, client, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, s->device, VELD_ID_BYTES, SQLITE_STATIC);
	return append_entries(st, arr);
}

static int hex_prefix_ok(const char *p)
{
	return strlen(p) <= 32 && strspn(p, "0123456789abcdef") == strlen(p);
}

/* A listing of the access log, this store's own (AS_LIST_OWN) or the
 * office's copy (AS_LIST_OFFICE), by the filter {"client", "device",
 * "limit"} of veld_audit_list / veld_office_log. */
static int list_entries(veld_store *s, const char *filter_json, enum audit_stmt which,
                        char **json_out)
{
	json_t *filter = NULL, *arr = NULL;
	const char *client = NULL, *device = NULL;
	json_int_t limit = -1;
	sqlite3_stmt *st;
	char clike[40], dlike[40];
	int rc = VELD_OK;
	if (filter_json && *filter_json) {
		if (!(filter = json_loads(filter_json, 0, NULL)) || !json_is_object(filter)) {
			rc = veld__err(VELD_EINVAL, "the filter is not a JSON object");
			goto out;
		}
		client = json_string_value(json_object_get(filter, "client"));
		device = json_string_value(json_object_get(filter, "device"));
		if (json_is_integer(json_object_get(filter, "limit")))
			limit = json_integer_value(json_object_get(filter, "limit"));
	}
	if ((client && !hex_prefix_ok(client)) || (device && !hex_prefix_ok(device))) {
		rc = veld__err(VELD_EINVAL, "a client or device id is lower-case hex");
		goto out;
	}
	snprintf(clike, sizeof clike, "%s%%", client ? client : "");
	snprintf(dlike, sizeof dlike, "%s%%", device ? device : "");
	if ((rc = veld__sql(s, &audit_tab, which, &st)) != VELD_OK)
		goto out;
	sqlite3_bind_text(st, 1, clike, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, dlike, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, limit);
	arr = json_array();
	if ((rc = append_entries(st, arr)) == VELD_OK)
		rc = veld__json_answer(arr, json_out);
out:
	json_decref(arr);
	json_decref(filter);
	return rc;
}

static int list_call(veld_store *s, const char *filter_json, enum audit_stmt which,
                     char **json_out)
{
	int rc = veld__enter_json(s, json_out, 0);
	if (rc)
		return rc;
	if (which == AS_LIST_OFFICE && !s->office)
		rc = veld__err(VELD_EINVAL, "only the office store holds the devices' access logs;"
		               " this device's own log is veld_audit_list");
	else
		rc = list_entries(s, filter_json, which, json_out);
	veld__leave(s);
	return rc;
}

int veld_audit_list(veld_store *s, const char *filter_json, char **json_out)
{
	return list_call(s, filter_json, AS_LIST_OWN, json_out);
}

int veld_office_log(veld_store *s, const char *filter_json, char **json_out)
{
	return list_call(s, filter_json, AS_LIST_OFFICE, json_out);
}

int veld_audit_verify(veld_store *s, uint64_t *entries_out)
{
	int rc = veld__enter(s);
	if (rc)
		return rc;
	if ((rc = veld__need_keys(s)) == VELD_OK)
		rc = veld__audit_verify(s, entries_out);
	veld__leave(s);
	return rc;
}

/* Walk the chain from its first entry: every seq present, every hash
 * right. *last gets the last entry's seq, head its hash. */
static int verify_chain(veld_store *s, uint64_t *last, uint8_t head[32])
{
	sqlite3_stmt *st;
	uint8_t h[32];
	int rc = veld__sql(s, &audit_tab, AS_CHAIN, &st);
	if (rc != VELD_OK)
		return rc;
	*last = 0;
	memset(head, 0, 32);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t seq = (uint64_t)sqlite3_column_int64(st, 0);
		if (seq != *last + 1) {
			sqlite3_reset(st);
			return veld__err(VELD_ECORRUPT, "access log entry %llu is missing",
			                 (unsigned long long)(*last + 1));
		}
		entry_hash(s, h, head, seq, (uint64_t)sqlite3_column_int64(st, 1), col_text(st, 2),
		           col_text(st, 3), col_text(st, 4), col_text(st, 5), col_text(st, 6),
		           col_text(st, 7), col_text(st, 8));
		if (sqlite3_column_bytes(st, 9) != 32 ||
		    sodium_memcmp(h, sqlite3_column_blob(st, 9), 32) != 0) {
			sqlite3_reset(st);
			return veld__err(VELD_ECORRUPT, "access log entry %llu was altered",
			                 (unsigned long long)seq);
		}
		memcpy(head, h, 32);
		*last = seq;
	}
	return veld__sql_done(st, rc, "reading the access log");
}

int veld__audit_verify(veld_store *s, uint64_t *entries_out)
{
	uint8_t head[32], meta_head[72], mac[32];
	uint64_t last, mseq;
	int rc;
	if ((rc = verify_chain(s, &last, head)) != VELD_OK)
		return rc;
	/* Every store logs its creation, so a log always has a head. */
	rc = veld__meta_get(s, "audit_head", meta_head, sizeof meta_head, NULL);
	if (rc == VELD_ENOTFOUND || rc == VELD_ECORRUPT)
		return veld__err(VELD_ECORRUPT, "the access log's recorded head is missing");
	if (rc != VELD_OK)
		return rc;
	mseq = veld__be64_get(meta_head);
	head_mac(s, mac, meta_head);
	if (sodium_memcmp(mac, meta_head + 40, 32) != 0)
		return veld__err(VELD_ECORRUPT, "the access log's recorded head was altered");
	if (mseq != last || sodium_memcmp(meta_head + 8, head, 32) != 0)
		return veld__err(VELD_ECORRUPT,
			"the access log ends at entry %llu but its recorded head is entry %llu",
			(unsigned long long)last, (unsigned long long)mseq);
	if (entries_out)
		*entries_out = last;
	return VELD_OK;
}

/* ---- the office's marks on devices' access logs (audit.h) -------------------- */

#define MARK_KEY "audit_mark:"
#define MARK_BYTES (1 + 4 * 8)

static void mark_key(char key[sizeof MARK_KEY + 2 * VELD_ID_BYTES], const uint8_t *device)
{
	memcpy(key, MARK_KEY, sizeof MARK_KEY - 1);
	veld__hex(key + sizeof MARK_KEY - 1, device, VELD_ID_BYTES);
}

static int mark_decode(struct veld__audit_mark *m, const uint8_t *v, size_t n)
{
	if (n != MARK_BYTES || v[0] < VELD_AUDIT_WAITING || v[0] > VELD_AUDIT_REVOKED)
		return veld__err(VELD_ECORRUPT, "the office's mark on a device's access log is damaged");
	m->state = v[0];
	m->resume = veld__be64_get(v + 1);
	m->next = veld__be64_get(v + 9);
	m->point = veld__be64_get(v + 17);
	m->top = veld__be64_get(v + 25);
	return VELD_OK;
}

int veld__audit_mark_get(veld_store *s, const uint8_t device[VELD_ID_BYTES],
                         struct veld__audit_mark *out)
{
	char key[sizeof MARK_KEY + 2 * VELD_ID_BYTES];
	uint8_t v[MARK_BYTES + 1];
	size_t n = 0;
	int rc;
	mark_key(key, device);
	memset(out, 0, sizeof *out);
	if ((rc = veld__meta_get(s, key, v, sizeof v, &n)) == VELD_ENOTFOUND) {
		veld__err_clear();
		return VELD_ENOTFOUND;
	}
	if (rc != VELD_OK)
		return rc;
	memcpy(out->device, device, VELD_ID_BYTES);
	return mark_decode(out, v, n);
}

int veld__audit_mark_put(veld_store *s, const struct veld__audit_mark *m)
{
	char key[sizeof MARK_KEY + 2 * VELD_ID_BYTES];
	uint8_t v[MARK_BYTES];
	mark_key(key, m->device);
	v[0] = (uint8_t)m->state;
	veld__be64_put(v + 1, m->resume);
	veld__be64_put(v + 9, m->next);
	veld__be64_put(v + 17, m->point);
	veld__be64_put(v + 25, m->top);
	return veld__meta_put(s, key, v, sizeof v);
}

int veld__audit_mark_del(veld_store *s, const uint8_t device[VELD_ID_BYTES])
{
	char key[sizeof MARK_KEY + 2 * VELD_ID_BYTES];
	sqlite3_stmt *st;
	int rc = veld__sql(s, &audit_tab, AS_MARK_DEL, &st);
	if (rc != VELD_OK)
		return rc;
	mark_key(key, device);
	sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
	return veld__sql_run(st, "removing the office's mark on a device's access log");
}

int veld__audit_marks_all(veld_store *s, struct veld__audit_mark **out, size_t *n)
{
	struct veld__audit_mark *all = NULL, *g;
	size_t cap = 0;
	sqlite3_stmt *st;
	int rc = veld__sql(s, &audit_tab, AS_MARKS, &st), src = SQLITE_DONE;
	*out = NULL;
	*n = 0;
	if (rc != VELD_OK)
		return rc;
	while (rc == VELD_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
		const char *hex = (const char *)sqlite3_column_text(st, 0);
		if (*n == cap) {
			cap = cap ? 2 * cap : 16;
			if (!(g = realloc(all, cap * sizeof *all))) {
				rc = veld__err(VELD_ENOMEM, "out of memory");
				break;
			}
			all = g;
		}
		memset(&all[*n], 0, sizeof all[*n]);
		if (!hex || strlen(hex) != 2 * VELD_ID_BYTES ||
		    veld__unhex(all[*n].device, VELD_ID_BYTES, hex) != 0)
			rc = veld__err(VELD_ECORRUPT, "the office's mark on a device's access log is"
			               " damaged");
		else
			rc = mark_decode(&all[*n], sqlite3_column_blob(st, 1),
			                 (size_t)sqlite3_column_bytes(st, 1));
		if (rc == VELD_OK)
			(*n)++;
	}
	if (rc == VELD_OK)
		rc = veld__sql_done(st, src, "reading the office's marks on access logs");
	else
		sqlite3_reset(st);
	if (rc != VELD_OK) {
		free(all);
		*n = 0;
		return rc;
	}
	*out = all;
	return VELD_OK;
}
