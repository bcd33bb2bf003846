/* retention.c - erasure (crypto-shredding), and the retention policy and
 * its purge.
 *
 * Erasure destroys the client's data key, which makes every copy of the
 * client's ciphertext unreadable (on this device, the server, backups), and
 * removes the records here. The client id is remembered in `erased` so that
 * operations for it that arrive later are dropped. Retention removes what
 * the policy no longer allows this store to keep, counted in days since the
 * client's case ended. */
#include "retention.h"
#include "error.h"
#include "hlc.h"
#include "kinds.h"
#include "recbuild.h"
#include "records.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The statements on a client take ?1 client, ?2 kind (NULL: every kind),
 * ?3 this device, ?4 now (ms); one without a parameter ignores it. */
enum retention_stmt {
	RT_KEYS_DELETE, RT_ERASED_ADD, RT_HELD,
	RT_DROP_OTHERS, RT_CLEAR_OWN, RT_DROP_SUPERSEDED, RT_DROP_CONFLICTS, RT_DROP_ENTITIES,
	RT_POLICY, RT_POLICY_SET, RT_CLIENTS, RT_HOLDS_KIND, RT_CLEAR_OWN_PUSHED, RT_MOVED_PUSHED,
};
#define OF_CLIENT "(SELECT entity FROM entities WHERE client = ?1 AND (?2 IS NULL OR kind = ?2))"
static const char *const retention_sql[] = {
	[RT_KEYS_DELETE] = "DELETE FROM client_keys WHERE client = ?1",
	[RT_ERASED_ADD] = "INSERT OR IGNORE INTO erased(client, at) VALUES(?1, ?4)",
	[RT_HELD] = "SELECT 1 FROM entities WHERE client = ?1 UNION ALL"
	            " SELECT 1 FROM client_keys WHERE client = ?1 LIMIT 1",
	/* Other devices' operations go entirely. */
	[RT_DROP_OTHERS] = "DELETE FROM ops WHERE device != ?3 AND entity IN " OF_CLIENT,
	/* Own operations keep their place in the sequence, not their value. */
	[RT_CLEAR_OWN] = "UPDATE ops SET value = NULL WHERE device = ?3 AND entity IN " OF_CLIENT,
	[RT_DROP_SUPERSEDED] = "DELETE FROM superseded WHERE entity IN " OF_CLIENT,
	[RT_DROP_CONFLICTS] = "DELETE FROM conflicts WHERE entity IN " OF_CLIENT,
	[RT_DROP_ENTITIES] = "DELETE FROM entities WHERE client = ?1 AND (?2 IS NULL OR kind = ?2)",
	[RT_POLICY] = "SELECT kind, days, basis FROM retention ORDER BY kind",
	[RT_POLICY_SET] = "INSERT INTO retention(kind, days, basis) VALUES(?1, ?2, ?3)"
	                  " ON CONFLICT(kind) DO UPDATE SET days = excluded.days,"
	                  " basis = excluded.basis",
	[RT_CLIENTS] = "SELECT entity FROM entities WHERE kind = 'client'",
	[RT_HOLDS_KIND] = "SELECT 1 FROM entities WHERE client = ?1 AND kind = ?2 LIMIT 1",
	/* A move: own operations the server holds (seq up to ?5) lose their
	 * value; those it does not hold yet keep it until a push (below). */
	[RT_CLEAR_OWN_PUSHED] = "UPDATE ops SET value = NULL WHERE device = ?3 AND seq <= ?5"
	                        " AND entity IN " OF_CLIENT,
	/* After a push confirmed own seqs ?5..?6: their values of clients gone
	 * from here (moved away) go too. */
	[RT_MOVED_PUSHED] = "UPDATE ops SET value = NULL WHERE device = ?3 AND seq BETWEEN ?5 AND ?6"
	                    " AND value IS NOT NULL AND client IN (SELECT client FROM erased)",
};
static const struct veld__sqltab retention_tab = VELD_SQLTAB(VELD_SQL_RETENTION, retention_sql);

/* ---- removal and erasure ---------------------------------------------------------- */

/* ?5 and ?6 are own seqs (a range), for the statements that take them. */
static int run_on_client_seqs(veld_store *s, enum retention_stmt which,
                              const uint8_t client[VELD_ID_BYTES], const char *kind,
                              uint64_t seq_lo, uint64_t seq_hi, const char *what)
{
	sqlite3_stmt *st;
	int rc = veld__sql(s, &retention_tab, which, &st);
	if (rc != VELD_OK)
		return rc;
	if (client)
		sqlite3_bind_blob(st, 1, client, VELD_ID_BYTES, SQLITE_STATIC);
	if (kind)
		sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, s->device, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)veld__hlc_now_ms());
	sqlite3_bind_int64(st, 5, (sqlite3_int64)seq_lo);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)seq_hi);
	return veld__sql_run(st, what);
}

static int run_on_client(veld_store *s, enum retention_stmt which,
                         const uint8_t client[VELD_ID_BYTES], const char *kind, const char *what)
{
	return run_on_client_seqs(s, which, client, kind, 0, 0, what);
}

int veld__remove_records(veld_store *s, const uint8_t client[VELD_ID_BYTES], const char *kind,
                         int64_t *removed)
{
	/* The entities go last: the others find their rows through them. */
	for (int i = RT_DROP_OTHERS; i <= RT_DROP_ENTITIES; i++) {
		int rc = run_on_client(s, (enum retention_stmt)i, client, kind, "removing records");
		if (rc != VELD_OK)
			return rc;
	}
	if (removed)
		*removed = sqlite3_changes(s->db);
	veld__merge_forget(&s->m);
	return VELD_OK;
}

static int shred(veld_store *s, const uint8_t client[VELD_ID_BYTES], int64_t *removed)
{
	int rc;
	if ((rc = run_on_client(s, RT_KEYS_DELETE, client, NULL, "erasing a client")) != VELD_OK ||
	    (rc = run_on_client(s, RT_ERASED_ADD, client, NULL, "erasing a client")) != VELD_OK)
		return rc;
	veld__keycache_drop(s, client);
	return veld__remove_records(s, client, NULL, removed);
}

int veld__client_erased_notice(veld_store *s, const uint8_t client[VELD_ID_BYTES])
{
	sqlite3_stmt *st;
	int held, rc = veld__merge_is_erased(&s->m, client);
	if (rc != 0)
		return rc < 0 ? rc : VELD_OK;
	/* Logged only where there was something of the client to erase. */
	if ((rc = veld__sql(s, &retention_tab, RT_HELD, &st)) != VELD_OK)
		return rc;
	sqlite3_bind_blob(st, 1, client, VELD_ID_BYTES, SQLITE_STATIC);
	if ((held = veld__sql_exists(st, "reading a client")) < 0)
		return held;
	if ((rc = shred(s, client, NULL)) != VELD_OK)
		return rc;
	return held ? veld__audit(s, "erase", "success", client, "erased by the office") : VELD_OK;
}

int veld__client_moved_notice(veld_store *s, const uint8_t client[VELD_ID_BYTES],
                              uint64_t pushed_seq)
{
	char purpose[sizeof VELD_MOVED_PURPOSE VELD_MOVED_SEQ + 24];
	int rc = veld__merge_is_erased(&s->m, client);
	if (rc != 0)
		return rc < 0 ? rc : VELD_OK;
	/* As shred, but own operations the server may not hold yet keep their
	 * sealed value (unreadable here once the key is gone) until a push
	 * confirms them: what this device wrote offline is never lost. */
	if ((rc = run_on_client(s, RT_KEYS_DELETE, client, NULL, "moving a client")) != VELD_OK ||
	    (rc = run_on_client(s, RT_ERASED_ADD, client, NULL, "moving a client")) != VELD_OK ||
	    (rc = run_on_client_seqs(s, RT_CLEAR_OWN_PUSHED, client, NULL, pushed_seq, 0,
	                             "moving a client")) != VELD_OK)
		return rc;
	veld__keycache_drop(s, client);
	for (int i = RT_DROP_OTHERS; i <= RT_DROP_ENTITIES; i++) {
		if (i == RT_CLEAR_OWN)
			continue;
		if ((rc = run_on_client(s, (enum retention_stmt)i, client, NULL, "moving a client")) !=
		    VELD_OK)
			return rc;
	}
	veld__merge_forget(&s->m);
	/* Logged whether this store held the client or not: the entry is the
	 * device's signed word to the office that it holds nothing of it, and
	 * up to which own seq it wrote to it (it writes no more: the client is
	 * erased here). */
	snprintf(purpose, sizeof purpose, VELD_MOVED_PURPOSE VELD_MOVED_SEQ "%llu",
	         (unsigned long long)(s->next_seq - 1));
	return veld__audit(s, "erase", "success", client, purpose);
}

int veld__moved_values_pushed(veld_store *s, uint64_t from_seq, uint64_t to_seq)
{
	return run_on_client_seqs(s, RT_MOVED_PUSHED, NULL, NULL, from_seq, to_seq,
	                          "removing pushed values of a moved client");
}

/* Push removed pages out of the WAL so erased ciphertext does not linger.
 * The removal is committed already; a checkpoint that cannot run now runs
 * with a later one. */
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
	if ((rc = shred(s, client, NULL)) == VELD_OK)
		rc = veld__audit(s, "erase", "success", client, purpose ? purpose : "erasure");
	if ((rc = veld__tx_end(s, &tx, rc)) == VELD_OK)
		checkpoint(s);
out:
	veld__leave(s);
	return rc;
}

/* ---- the policy ------------------------------------------------------------------- */

/* The policy as veld_retention_get shows it: [{"kind","days","basis"}]. */
static int read_policy(veld_store *s, json_t *arr)
{
	sqlite3_stmt *st;
	int rc = veld__sql(s, &retention_tab, RT_POLICY, &st);
	if (rc != VELD_OK)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(arr, json_pack("{s:s,s:I,s:s}",
			"kind", (const char *)sqlite3_column_text(st, 0),
			"days", (json_int_t)sqlite3_column_int64(st, 1),
			"basis", (const char *)sqlite3_column_text(st, 2)));
	return veld__sql_done(st, rc, "reading the retention policy");
}

int veld_retention_get(veld_store *s, char **json_out)
{
	json_t *arr = json_array();
	int rc = veld__enter_json(s, json_out, 0);
	if (rc == VELD_OK) {
		if ((rc = read_policy(s, arr)) == VELD_OK)
			rc = veld__json_answer(arr, json_out);
		veld__leave(s);
	}
	json_decref(arr);
	return rc;
}

static int write_policy(veld_store *s, const char *kind, int64_t days, const char *basis)
{
	sqlite3_stmt *st;
	int rc = veld__sql(s, &retention_tab, RT_POLICY_SET, &st);
	if (rc != VELD_OK)
		return rc;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, days);
	sqlite3_bind_text(st, 3, basis && *basis ? basis : "set by the office", -1, SQLITE_STATIC);
	if ((rc = veld__sql_run(st, "writing the retention policy")) != VELD_OK)
		return rc;
	return veld__audit(s, "policy-change", "success", NULL, "retention");
}

int veld_retention_set(veld_store *s, const char *kind, int64_t days, const char *basis)
{
	struct veld__tx tx;
	int rc = veld__enter(s);
	if (rc)
		return rc;
	if (!kind || !veld__kind_known(s, kind))
		rc = veld__err(VELD_EINVAL, "unknown record kind");
	else if (days < 0 || days > 365 * 100)
		rc = veld__err(VELD_EINVAL, "days must be between 0 and 36500");
	else if (!s->office)
		rc = veld__err(VELD_EPERM, "the retention policy is set by the office");
	else if ((rc = veld__need_keys(s)) == VELD_OK && (rc = veld__tx_begin(s, &tx)) == VELD_OK)
		rc = veld__tx_end(s, &tx, write_policy(s, kind, days, basis));
	veld__leave(s);
	return rc;
}

/* ---- purge -------------------------------------------------------------------- */

/* Days since the epoch of a date (kinds.c's rule), or -1 if there is none. */
static int64_t day_of(const char *date)
{
	int64_t day;
	return veld__day_number(date, &day) == 0 ? day : -1;
}

/* The day a client's case ended, or -1 while it is active. A care decision
 * marked inactive without an end date ended the day it was last changed. */
static int64_t case_end_day(json_t *client)
{
	json_t *cd = json_object_get(client, "care_decision");
	const char *end = json_string_value(json_object_get(cd, "end_date"));
	int64_t end_day = day_of(end);
	if (json_is_false(json_object_get(cd, "active")))
		return end_day >= 0 ? end_day : day_of(json_string_value(json_object_get(client, "updated")));
	return end_day; /* an end date alone ends the case on that day */
}

/* A purge in progress. */
struct purge {
	json_t *policy; /* as read_policy gives it */
	json_t *items;  /* the report: what was (or would be) removed */
	int64_t today;  /* days since the epoch */
	int dry_run;
	int removed_any; /* then the WAL is checkpointed */
};

/* The days the policy keeps `kind` after a case ends; 0 if it does not say. */
static int policy_days(const struct purge *p, const char *kind, int64_t *days)
{
	size_t i;
	json_t *row;
	json_array_foreach(p->policy, i, row) {
		if (strcmp(json_string_value(json_object_get(row, "kind")), kind) == 0) {
			*days = json_integer_value(json_object_get(row, "days"));
			return 1;
		}
	}
	*days = 0;
	return 0;
}

/* Every client id (hex) into ids: removing rows while stepping over them
 * is unsafe, so the purge collects them first. */
static int client_ids(veld_store *s, json_t *ids)
{
	sqlite3_stmt *st;
	int rc = veld__sql(s, &retention_tab, RT_CLIENTS, &st);
	if (rc != VELD_OK)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char hex[33];
		veld__hex(hex, sqlite3_column_blob(st, 0), VELD_ID_BYTES);
		json_array_append_new(ids, json_string(hex));
	}
	return veld__sql_done(st, rc, "purging");
}

/* Report one removal and, unless this is a dry run, make it and log it.
 * kind NULL: the client and all its records (an erasure). */
static int purge_item(veld_store *s, struct purge *p, const uint8_t client[VELD_ID_BYTES],
                      const char *hex, const char *kind, int64_t ago)
{
	int64_t removed = 0;
	int rc;
	json_array_append_new(p->items, json_pack("{s:s,s:s,s:I}", "client", hex,
	                      "removed", kind ? kind : "client and all records",
	                      "case_ended_days_ago", (json_int_t)ago));
	if (p->dry_run)
		return VELD_OK;
	rc = kind ? veld__remove_records(s, client, kind, &removed) : shred(s, client, &removed);
	if (rc == VELD_OK)
		rc = veld__audit(s, kind ? "purge" : "erase", "success", client, "retention");
	p->removed_any |= rc == VELD_OK;
	return rc;
}

/* 1 if this store holds a record of `kind` of the client, 0 if not (there
 * is nothing to purge or report), or an error. */
static int holds_kind(veld_store *s, const uint8_t client[VELD_ID_BYTES], const char *kind)
{
	sqlite3_stmt *st;
	int rc = veld__sql(s, &retention_tab, RT_HOLDS_KIND, &st);
	if (rc != VELD_OK)
		return rc;
	sqlite3_bind_blob(st, 1, client, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
	return veld__sql_exists(st, "reading a client's records");
}

/* One client whose case ended: all of it once the client policy has
 * passed, otherwise each kind whose policy has. */
static int purge_client(veld_store *s, struct purge *p, const char *hex)
{
	uint8_t client[VELD_ID_BYTES];
	json_t *rec = NULL;
	int64_t end, days;
	int rc;
	veld__unhex(client, VELD_ID_BYTES, hex);
	if ((rc = veld__record_build(s, client, &rec)) != VELD_OK)
		return rc == VELD_ESHREDDED || rc == VELD_ENOTFOUND ? VELD_OK : rc;
	end = rec ? case_end_day(rec) : -1;
	json_decref(rec);
	if (end < 0 || end > p->today)
		return VELD_OK;
	policy_days(p, "client", &days);
	if (p->today - end >= days)
		return purge_item(s, p, client, hex, NULL, p->today - end);
	for (size_t i = 0; i < s->schema->nkinds; i++) {
		const char *kind = s->schema->kinds[i].kind;
		if (strcmp(kind, "client") == 0 || !policy_days(p, kind, &days) ||
		    p->today - end < days)
			continue;
		if ((rc = holds_kind(s, client, kind)) < 0 ||
		    (rc > 0 && (rc = purge_item(s, p, client, hex, kind, p->today - end)) != VELD_OK))
			return rc;
	}
	return VELD_OK;
}

static int purge_all(veld_store *s, struct purge *p, char **json_out)
{
	json_t *ids = json_array(), *report = NULL;
	int rc;
	if ((rc = read_policy(s, p->policy)) == VELD_OK)
		rc = client_ids(s, ids);
	for (size_t i = 0; rc == VELD_OK && i < json_array_size(ids); i++)
		rc = purge_client(s, p, json_string_value(json_array_get(ids, i)));
	if (rc == VELD_OK && json_out) {
		report = json_pack("{s:b,s:O}", "dry_run", p->dry_run, "removed", p->items);
		rc = report ? veld__json_answer(report, json_out) : veld__err(VELD_ENOMEM, "out of memory");
	}
	json_decref(report);
	json_decref(ids);
	return rc;
}

int veld_retention_purge(veld_store *s, int64_t now_unix, int dry_run, char **json_out)
{
	struct purge p = {.today = (now_unix ? now_unix : (int64_t)time(NULL)) / 86400,
	                  .dry_run = dry_run};
	struct veld__tx tx;
	int rc = veld__enter(s);
	if (rc)
		return rc;
	if (json_out)
		*json_out = NULL;
	if ((rc = veld__need_keys(s)) || (rc = veld__tx_begin(s, &tx)))
		goto out;
	p.policy = json_array();
	p.items = json_array();
	if ((rc = veld__tx_end(s, &tx, purge_all(s, &p, json_out))) == VELD_OK && p.removed_any)
		checkpoint(s);
	if (rc != VELD_OK && json_out) {
		free(*json_out);
		*json_out = NULL;
	}
out:
	json_decref(p.policy);
	json_decref(p.items);
	veld__leave(s);
	return rc;
}
