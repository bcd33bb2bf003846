/* retention.c - erasure (crypto-shredding), retention policy and purge, and
 * the store's self-check.
 *
 * Erasure destroys the client's data key, which makes every copy of the
 * client's ciphertext unreadable (on this device, the server, backups), and
 * removes the records here. The client id is remembered in `erased` so that
 * operations for it that arrive later are dropped. */
#include "records.h"
#include "error.h"
#include "hlc.h"
#include "op.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int shred(veld_store *s, const uint8_t client[VELD_ID_BYTES], int64_t *removed)
{
	sqlite3_stmt *st;
	int rc;
	static const char *const sql[] = {
		"DELETE FROM client_keys WHERE client = ?1",
		"INSERT OR IGNORE INTO erased(client, at) VALUES(?1, ?2)",
	};
	for (size_t i = 0; i < 2; i++) {
		if ((rc = sqlite3_prepare_v2(s->db, sql[i], -1, &st, NULL)) != SQLITE_OK)
			return veld__err_sqlite(rc, "erasing a client");
		sqlite3_bind_blob(st, 1, client, VELD_ID_BYTES, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)veld__hlc_now_ms());
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			return veld__err_sqlite(rc, "erasing a client");
	}
	veld__keycache_drop(s, client);
	return veld__remove_records(s, client, NULL, removed);
}

int veld__client_erased_notice(veld_store *s, const uint8_t client[VELD_ID_BYTES])
{
	sqlite3_stmt *st;
	int rc = veld__merge_is_erased(&s->m, client);
	if (rc != 0)
		return rc < 0 ? rc : VELD_OK;
	/* Logged only where there was something of the client to erase. */
	rc = sqlite3_prepare_v2(s->db, "SELECT 1 FROM entities WHERE client = ?1 UNION ALL"
	                        " SELECT 1 FROM client_keys WHERE client = ?1 LIMIT 1", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return veld__err_sqlite(rc, "reading a client");
	sqlite3_bind_blob(st, 1, client, VELD_ID_BYTES, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return veld__err_sqlite(rc, "reading a client");
	int held = rc == SQLITE_ROW;
	if ((rc = shred(s, client, NULL)) != VELD_OK)
		return rc;
	return held ? veld__audit(s, "erase", "success", client, "erased by the office") : VELD_OK;
}

/* Push removed pages out of the WAL so erased ciphertext does not linger. */
static void checkpoint(veld_store *s)
{
	sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
}

int veld_client_erase(veld_store *s, const char *client_id, const char *purpose)
{
	uint8_t entity[VELD_ID_BYTES], client[VELD_ID_BYTES];
	char team[VELD_TEAM_MAX + 1];
	struct veld__tx tx;
	int rc = veld__enter(s);
	if (rc)
		return rc;
	if ((rc = veld__need_keys(s)) != VELD_OK)
		goto out;
	if ((rc = veld__resolve(s, "client", client_id, entity, client, team, NULL)) != VELD_OK)
		goto out;
	if (strcmp(team, s->team) != 0 && !s->office) {
		rc = veld__err(VELD_EPERM, "this client belongs to another team");
		goto out;
	}
	if ((rc = veld__tx_begin(s, &tx)) != VELD_OK)
		goto out;
	if ((rc = shred(s, client, NULL)) != VELD_OK ||
	    (rc = veld__audit(s, "erase", "success", client, purpose ? purpose : "erasure")) != VELD_OK) {
		char msg[512];
		snprintf(msg, sizeof msg, "%s", veld_error_last());
		veld__tx_abort(s, &tx);
		rc = veld__err(rc, "%s", msg);
		goto out;
	}
	if ((rc = veld__tx_commit(s, &tx)) == VELD_OK)
		checkpoint(s);
out:
	veld__leave(s);
	return rc;
}

int veld_retention_get(veld_store *s, char **json_out)
{
	sqlite3_stmt *st = NULL;
	json_t *arr;
	int rc = veld__enter_json(s, json_out, 0);
	if (rc)
		return rc;
	arr = json_array();
	rc = sqlite3_prepare_v2(s->db, "SELECT kind, days, basis FROM retention ORDER BY kind", -1,
	                        &st, NULL);
	while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(arr, json_pack("{s:s,s:I,s:s}",
			"kind", (const char *)sqlite3_column_text(st, 0),
			"days", (json_int_t)sqlite3_column_int64(st, 1),
			"basis", (const char *)sqlite3_column_text(st, 2)));
	if (rc == SQLITE_OK)
		rc = sqlite3_reset(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_OK)
		rc = veld__err_sqlite(rc, "reading the retention policy");
	else if (!(*json_out = json_dumps(arr, JSON_COMPACT)))
		rc = veld__err(VELD_ENOMEM, "out of memory");
	else
		rc = VELD_OK;
	json_decref(arr);
	veld__leave(s);
	return rc;
}

int veld_retention_set(veld_store *s, const char *kind, int64_t days, const char *basis)
{
	sqlite3_stmt *st = NULL;
	struct veld__tx tx;
	int rc = veld__enter(s);
	if (rc)
		return rc;
	if (!kind || (strcmp(kind, "client") && strcmp(kind, "visit") && strcmp(kind, "note") &&
	              strcmp(kind, "goal") && strcmp(kind, "signal"))) {
		rc = veld__err(VELD_EINVAL, "unknown record kind");
		goto out;
	}
	if (days < 0 || days > 365 * 100) {
		rc = veld__err(VELD_EINVAL, "days must be between 0 and 36500");
		goto out;
	}
	if (!s->office) {
		rc = veld__err(VELD_EPERM, "the retention policy is set by the office");
		goto out;
	}
	if ((rc = veld__need_keys(s)) || (rc = veld__tx_begin(s, &tx)))
		goto out;
	rc = sqlite3_prepare_v2(s->db, "INSERT INTO retention(kind, days, basis) VALUES(?1, ?2, ?3)"
	                        " ON CONFLICT(kind) DO UPDATE SET days = excluded.days,"
	                        " basis = excluded.basis", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, days);
		sqlite3_bind_text(st, 3, basis && *basis ? basis : "set by the office", -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		rc = veld__err_sqlite(rc, "writing the retention policy");
		veld__tx_abort(s, &tx);
		goto out;
	}
	if ((rc = veld__audit(s, "policy-change", "success", NULL, "retention")) != VELD_OK) {
		veld__tx_abort(s, &tx);
		goto out;
	}
	rc = veld__tx_commit(s, &tx);
out:
	veld__leave(s);
	return rc;
}

/* Days since the epoch of a YYYY-MM-DD date. */
static int64_t day_number(const char *date)
{
	struct tm tm = {0};
	if (!date || sscanf(date, "%4d-%2d-%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) != 3)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm) / 86400;
}

/* The day a client's case ended, or -1 while it is active. A care decision
 * marked inactive without an end date ended the day it was last changed. */
static int64_t case_end_day(json_t *client)
{
	json_t *cd = json_object_get(client, "care_decision");
	const char *end = json_string_value(json_object_get(cd, "end_date"));
	int64_t end_day = day_number(end);
	if (json_is_false(json_object_get(cd, "active")))
		return end_day >= 0 ? end_day : day_number(json_string_value(json_object_get(client, "updated")));
	return end_day; /* an end date alone ends the case on that day */
}

int veld_retention_purge(veld_store *s, int64_t now_unix, int dry_run, char **json_out)
{
	static const char *const kinds[] = {"visit", "note", "goal", "signal", NULL};
	sqlite3_stmt *st = NULL;
	json_t *report = NULL, *items = NULL, *policy = NULL;
	int64_t today = (now_unix ? now_unix : (int64_t)time(NULL)) / 86400;
	struct veld__tx tx;
	int rc = veld__enter(s), erased_any = 0;
	if (rc)
		return rc;
	if (json_out)
		*json_out = NULL;
	if ((rc = veld__need_keys(s)) || (rc = veld__tx_begin(s, &tx)))
		goto out;
	policy = json_object();
	rc = sqlite3_prepare_v2(s->db, "SELECT kind, days FROM retention", -1, &st, NULL);
	while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		json_object_set_new(policy, (const char *)sqlite3_column_text(st, 0),
		                    json_integer(sqlite3_column_int64(st, 1)));
	if (rc == SQLITE_OK)
		rc = sqlite3_reset(st);
	sqlite3_finalize(st);
	st = NULL;
	if (rc != SQLITE_OK) {
		rc = veld__err_sqlite(rc, "reading the retention policy");
		goto done;
	}
	items = json_array();
	rc = sqlite3_prepare_v2(s->db, "SELECT entity FROM entities WHERE kind = 'client'", -1, &st, NULL);
	if (rc != SQLITE_OK) {
		rc = veld__err_sqlite(rc, "purging");
		goto done;
	}
	/* Collect first: removing rows while stepping over them is unsafe. */
	{
		json_t *ids = json_array();
		size_t i;
		json_t *idv;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			char hex[33];
			veld__hex(hex, sqlite3_column_blob(st, 0), VELD_ID_BYTES);
			json_array_append_new(ids, json_string(hex));
		}
		sqlite3_finalize(st);
		st = NULL;
		rc = VELD_OK;
		json_array_foreach(ids, i, idv) {
			uint8_t client[VELD_ID_BYTES];
			json_t *rec = NULL;
			int64_t end, removed = 0;
			veld__unhex(client, VELD_ID_BYTES, json_string_value(idv));
			if ((rc = veld__record_build(s, client, &rec)) != VELD_OK) {
				if (rc == VELD_ESHREDDED || rc == VELD_ENOTFOUND) {
					rc = VELD_OK;
					continue;
				}
				break;
			}
			end = rec ? case_end_day(rec) : -1;
			json_decref(rec);
			if (end < 0 || end > today)
				continue;
			if (today - end >= json_integer_value(json_object_get(policy, "client"))) {
				json_array_append_new(items, json_pack("{s:O,s:s,s:I}", "client", idv,
				                      "removed", "client and all records",
				                      "case_ended_days_ago", (json_int_t)(today - end)));
				if (!dry_run) {
					if ((rc = shred(s, client, &removed)) != VELD_OK ||
					    (rc = veld__audit(s, "erase", "success", client, "retention")) != VELD_OK)
						break;
					erased_any = 1;
				}
				continue;
			}
			for (int k = 0; kinds[k]; k++) {
				json_t *d = json_object_get(policy, kinds[k]);
				if (!d || today - end < json_integer_value(d))
					continue;
				json_array_append_new(items, json_pack("{s:O,s:s,s:I}", "client", idv,
				                      "removed", kinds[k],
				                      "case_ended_days_ago", (json_int_t)(today - end)));
				if (!dry_run) {
					if ((rc = veld__remove_records(s, client, kinds[k], &removed)) != VELD_OK ||
					    (rc = veld__audit(s, "purge", "success", client, "retention")) != VELD_OK)
						break;
					erased_any = 1;
				}
			}
			if (rc != VELD_OK)
				break;
		}
		json_decref(ids);
	}
	if (rc == VELD_OK) {
		report = json_pack("{s:b,s:O}", "dry_run", dry_run, "removed", items);
		if (json_out && !(*json_out = json_dumps(report, JSON_COMPACT)))
			rc = veld__err(VELD_ENOMEM, "out of memory");
	}
done:
	sqlite3_finalize(st);
	if (rc == VELD_OK) {
		rc = veld__tx_commit(s, &tx);
		if (rc == VELD_OK && erased_any)
			checkpoint(s);
	} else {
		char msg[512];
		snprintf(msg, sizeof msg, "%s", veld_error_last());
		veld__tx_abort(s, &tx);
		rc = veld__err(rc, "%s", msg);
	}
	if (rc != VELD_OK && json_out) {
		free(*json_out);
		*json_out = NULL;
	}
out:
	json_decref(report);
	json_decref(items);
	json_decref(policy);
	veld__leave(s);
	return rc;
}

/* ---- verify ------------------------------------------------------------------------ */

static int64_t scalar(veld_store *s, const char *sql, int bind_device)
{
	sqlite3_stmt *st;
	int64_t v = -1;
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (bind_device)
		sqlite3_bind_blob(st, 1, s->device, VELD_ID_BYTES, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Own signed batches must tile 1..last own seq with no gap or overlap, so an
 * operation added to the file without the signing key is caught. */
static int verify_coverage(veld_store *s)
{
	int64_t own = scalar(s, "SELECT count(*) FROM ops WHERE device = ?1", 1);
	int64_t covered = scalar(s, "SELECT coalesce(sum(last_seq - first_seq + 1), 0) FROM batches"
	                            " WHERE device = ?1", 1);
	int64_t maxseq = scalar(s, "SELECT coalesce(max(seq), 0) FROM ops WHERE device = ?1", 1);
	int64_t gaps = scalar(s, "SELECT count(*) FROM batches b WHERE b.device = ?1 AND b.first_seq > 1"
	                         " AND NOT EXISTS (SELECT 1 FROM batches p WHERE p.device = b.device"
	                         " AND p.last_seq = b.first_seq - 1)", 1);
	if (own < 0 || covered < 0 || maxseq < 0 || gaps < 0)
		return veld__err(VELD_ERROR, "verifying: cannot read the operation log");
	if (own != maxseq || covered != own || gaps != 0)
		return veld__err(VELD_ECORRUPT, "this device's operations are not all covered by its "
		                 "signatures (%lld operations, %lld signed)", (long long)own,
		                 (long long)covered);
	return VELD_OK;
}

/* Recompute every head flag from the supersedes lists. */
static int verify_heads(veld_store *s)
{
	sqlite3_stmt *ops = NULL, *ins = NULL;
	int64_t bad;
	int rc = sqlite3_exec(s->db, "CREATE TEMP TABLE IF NOT EXISTS vrefs(device BLOB, seq INTEGER,"
	                      " entity BLOB, field TEXT); DELETE FROM vrefs;"
	                      " INSERT INTO vrefs SELECT device, seq, entity, field FROM superseded;",
	                      NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(s->db, "SELECT entity, field, sup FROM ops WHERE sup IS NOT NULL",
		                        -1, &ops, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(s->db, "INSERT INTO vrefs VALUES(?1, ?2, ?3, ?4)", -1, &ins, NULL);
	while (rc == SQLITE_OK && sqlite3_step(ops) == SQLITE_ROW) {
		veld__ref sup[VELD_OP_MAX_SUPERSEDES];
		size_t n = 0;
		if (veld__sup_decode(sup, VELD_OP_MAX_SUPERSEDES, sqlite3_column_blob(ops, 2),
		                     (size_t)sqlite3_column_bytes(ops, 2), &n) != VELD_OK) {
			sqlite3_finalize(ops);
			sqlite3_finalize(ins);
			return VELD_ECORRUPT;
		}
		for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
			sqlite3_bind_blob(ins, 1, sup[i].device, VELD_ID_BYTES, SQLITE_TRANSIENT);
			sqlite3_bind_int64(ins, 2, (sqlite3_int64)sup[i].seq);
			sqlite3_bind_value(ins, 3, sqlite3_column_value(ops, 0));
			sqlite3_bind_value(ins, 4, sqlite3_column_value(ops, 1));
			rc = sqlite3_step(ins) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
			sqlite3_reset(ins);
		}
	}
	sqlite3_finalize(ops);
	sqlite3_finalize(ins);
	if (rc != SQLITE_OK)
		return veld__err_sqlite(rc, "verifying heads");
	/* A removed value's flag is not checked: the operations that
	 * superseded it may be gone with it (verify_removals checks why). */
	bad = scalar(s, "SELECT count(*) FROM ops o WHERE (o.value IS NOT NULL OR o.field = '"
	                VELD_TOMBSTONE_FIELD "') AND o.head != NOT EXISTS (SELECT 1 FROM vrefs r"
	                " WHERE r.device = o.device AND r.seq = o.seq AND r.entity = o.entity"
	                " AND r.field = o.field)", 0);
	sqlite3_exec(s->db, "DROP TABLE IF EXISTS temp.vrefs", NULL, NULL, NULL);
	if (bad != 0)
		return veld__err(VELD_ECORRUPT, "%lld field values are marked current or superseded "
		                 "against the operation log", (long long)bad);
	return VELD_OK;
}

/* A value may be missing only where the (keyed) access log records that its
 * client was erased or purged. */
static int verify_removals(veld_store *s)
{
	int64_t bad = scalar(s, "SELECT count(*) FROM ops WHERE value IS NULL AND field != '"
	                     VELD_TOMBSTONE_FIELD "' AND lower(hex(client)) NOT IN"
	                     " (SELECT client FROM audit WHERE event IN ('erase', 'purge')"
	                     " AND client IS NOT NULL)", 0);
	if (bad != 0)
		return veld__err(VELD_ECORRUPT, "%lld sealed values were removed without an erasure "
		                 "or purge on record", (long long)bad);
	return VELD_OK;
}

/* Check every own batch signature against the stored operation hashes, and
 * that each operation's stored hash matches its content. */
static int verify_ops(veld_store *s, json_t *report)
{
	sqlite3_stmt *st = NULL, *ops = NULL;
	int64_t nops = 0, nbatches = 0;
	int rc;
	rc = sqlite3_prepare_v2(s->db, "SELECT device, seq, hlc, kind, entity, client, team, field,"
	                        " value, sup, hash, kv FROM ops ORDER BY device, seq", -1, &ops, NULL);
	if (rc != SQLITE_OK)
		return veld__err_sqlite(rc, "verifying");
	while ((rc = sqlite3_step(ops)) == SQLITE_ROW) {
		veld__op op;
		veld__ref sup[VELD_OP_MAX_SUPERSEDES];
		size_t nsup = 0;
		uint8_t stored[32];
		memset(&op, 0, sizeof op);
		memcpy(op.device, sqlite3_column_blob(ops, 0), VELD_ID_BYTES);
		op.seq = (uint64_t)sqlite3_column_int64(ops, 1);
		op.hlc = (uint64_t)sqlite3_column_int64(ops, 2);
		snprintf(op.kind, sizeof op.kind, "%s", (const char *)sqlite3_column_text(ops, 3));
		memcpy(op.entity, sqlite3_column_blob(ops, 4), VELD_ID_BYTES);
		memcpy(op.client, sqlite3_column_blob(ops, 5), VELD_ID_BYTES);
		snprintf(op.team, sizeof op.team, "%s", (const char *)sqlite3_column_text(ops, 6));
		snprintf(op.field, sizeof op.field, "%s", (const char *)sqlite3_column_text(ops, 7));
		op.value = sqlite3_column_blob(ops, 8);
		op.value_len = (size_t)sqlite3_column_bytes(ops, 8);
		if ((rc = veld__sup_decode(sup, VELD_OP_MAX_SUPERSEDES, sqlite3_column_blob(ops, 9),
		                           (size_t)sqlite3_column_bytes(ops, 9), &nsup)) != VELD_OK)
			break;
		op.sup = sup;
		op.nsup = nsup;
		memcpy(stored, sqlite3_column_blob(ops, 10), 32);
		op.kv = (uint64_t)sqlite3_column_int64(ops, 11);
		nops++;
		/* A value removed by erasure or retention can no longer be hashed;
		 * its stored hash still counts for the batch signature. */
		if (!op.value && strcmp(op.field, VELD_TOMBSTONE_FIELD) != 0)
			continue;
		veld__op_hash(&op);
		if (memcmp(op.hash, stored, 32) != 0) {
			sqlite3_finalize(ops);
			return veld__err(VELD_ECORRUPT, "operation %llu does not match its hash",
			                 (unsigned long long)op.seq);
		}
	}
	sqlite3_finalize(ops);
	if (rc != SQLITE_DONE)
		return rc < 0 ? rc : veld__err_sqlite(rc, "verifying");

	rc = sqlite3_prepare_v2(s->db, "SELECT first_seq, last_seq, sig FROM batches WHERE device = ?1"
	                        " ORDER BY first_seq", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(s->db, "SELECT hash FROM ops WHERE device = ?1 AND seq BETWEEN ?2"
		                        " AND ?3 ORDER BY seq", -1, &ops, NULL);
	if (rc != SQLITE_OK) {
		sqlite3_finalize(st);
		return veld__err_sqlite(rc, "verifying");
	}
	sqlite3_bind_blob(st, 1, s->device, VELD_ID_BYTES, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t first = (uint64_t)sqlite3_column_int64(st, 0), last = (uint64_t)sqlite3_column_int64(st, 1);
		crypto_generichash_state h;
		uint8_t inner[32], msg[77];
		uint64_t n = 0;
		crypto_generichash_init(&h, NULL, 0, 32);
		sqlite3_bind_blob(ops, 1, s->device, VELD_ID_BYTES, SQLITE_STATIC);
		sqlite3_bind_int64(ops, 2, (sqlite3_int64)first);
		sqlite3_bind_int64(ops, 3, (sqlite3_int64)last);
		while (sqlite3_step(ops) == SQLITE_ROW) {
			crypto_generichash_update(&h, sqlite3_column_blob(ops, 0), 32);
			n++;
		}
		sqlite3_reset(ops);
		crypto_generichash_final(&h, inner, 32);
		veld__batch_message(msg, s->device, first, last, inner);
		if (n != last - first + 1 || sqlite3_column_bytes(st, 2) != crypto_sign_BYTES ||
		    crypto_sign_verify_detached(sqlite3_column_blob(st, 2), msg, sizeof msg, s->sign_pk) != 0) {
			rc = veld__err(VELD_ECORRUPT, "the signature over operations %llu-%llu does not verify",
			               (unsigned long long)first, (unsigned long long)last);
			break;
		}
		nbatches++;
	}
	sqlite3_finalize(st);
	sqlite3_finalize(ops);
	if (rc != SQLITE_DONE)
		return rc < 0 ? rc : veld__err_sqlite(rc, "verifying");
	if ((rc = verify_coverage(s)) != VELD_OK || (rc = verify_heads(s)) != VELD_OK ||
	    (rc = verify_removals(s)) != VELD_OK)
		return rc;
	json_object_set_new(report, "operations", json_integer(nops));
	json_object_set_new(report, "signed_batches", json_integer(nbatches));
	return VELD_OK;
}

int veld_store_verify(veld_store *s, char **json_out)
{
	sqlite3_stmt *st = NULL;
	json_t *report = json_object();
	int rc = veld__enter(s);
	if (rc) {
		json_decref(report);
		return rc;
	}
	if (json_out)
		*json_out = NULL;
	if ((rc = veld__need_keys(s)) != VELD_OK)
		goto out;
	rc = sqlite3_prepare_v2(s->db, "PRAGMA integrity_check", -1, &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *r = (const char *)sqlite3_column_text(st, 0);
		json_object_set_new(report, "integrity_check", json_string(r));
		rc = strcmp(r, "ok") == 0 ? VELD_OK
		     : veld__err(VELD_ECORRUPT, "the store file failed its integrity check");
	} else {
		rc = veld__err_sqlite(rc, "checking the store file");
	}
	sqlite3_finalize(st);
	if (rc == VELD_OK) {
		uint64_t entries = 0;
		if ((rc = veld__audit_verify(s, &entries)) == VELD_OK)
			json_object_set_new(report, "audit_entries", json_integer((json_int_t)entries));
	}
	if (rc == VELD_OK)
		rc = verify_ops(s, report);
	json_object_set_new(report, "ok", json_boolean(rc == VELD_OK));
	if (json_out)
		*json_out = json_dumps(report, JSON_COMPACT);
	if (rc == VELD_OK) {
		/* Every sealed value must open: read each record. */
		sqlite3_stmt *e;
		int64_t n = 0;
		if (sqlite3_prepare_v2(s->db, "SELECT entity FROM entities", -1, &e, NULL) == SQLITE_OK) {
			while (rc == VELD_OK && sqlite3_step(e) == SQLITE_ROW) {
				json_t *rec = NULL;
				rc = veld__record_build(s, sqlite3_column_blob(e, 0), &rec);
				if (rc == VELD_ESHREDDED || rc == VELD_ENOTFOUND)
					rc = VELD_OK;
				json_decref(rec);
				n++;
			}
			sqlite3_finalize(e);
		}
		json_object_set_new(report, "records", json_integer(n));
		json_object_set_new(report, "ok", json_boolean(rc == VELD_OK));
		if (json_out) {
			free(*json_out);
			*json_out = json_dumps(report, JSON_COMPACT);
		}
	}
out:
	json_decref(report);
	veld__leave(s);
	return rc;
}
