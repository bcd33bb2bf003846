/* move.c - moving a client to another team, the office's side (move.h).
 *
 * The copy reads each record as every reader does (veld__record_build: the
 * winning value of each field) and writes its fields onto a new record of
 * the new client with the office's own operations, so the new team's
 * devices receive an ordinary client: its key is new, sealed for the new
 * team and the office only, and nothing of it names the old client. What
 * arrives for the old client later is forwarded by (record, field): the
 * old record's current value, after every operation the pull brought, is
 * what the new record gets; it supersedes only what the office wrote there
 * (its copy or an earlier forward), so a value the new team wrote in the
 * meantime stays beside it as a visible conflict, never silently replaced.
 *
 * Tables (store format 9; empty on a worker's device):
 *   moved_clients(client, new_client, from_team, to_team, at)
 *   moves(entity, client, new_entity, kind)   old record -> new record
 *   move_fwd(device, seq)                     operations taken (copied or
 *                                             forwarded), each once
 * The status reads certs and office_audit, which trust.c and auditsync
 * fill; it only reads them. */
#include "move.h"
#include "error.h"
#include "kinds.h"
#include "op.h"
#include "recbuild.h"
#include "records.h"
#include "retention.h"
#include "syncstate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum move_stmt {
	MV_CLIENT_GET, MV_CLIENT_PUT, MV_ENTITIES, MV_MAP_GET, MV_MAP_PUT, MV_TAKE_ALL,
	MV_PENDING, MV_TAKE, MV_DEVICES, MV_HEADS_BARRED, MV_PRED, MV_FORGET_MAP, MV_FORGET_CLIENT,
};
/* The last own seq an author of the old team confirmed for a moved client:
 * the purpose of the first access-log entry in which it says it removed
 * the client (retention.h, VELD_MOVED_SEQ), 0 for one that names no seq,
 * NULL while it has not confirmed. ?10 is VELD_MOVED_PURPOSE, ?11 the same
 * with VELD_MOVED_SEQ and '%', ?12 where the seq starts (bind_bound). */
#define CONFIRMED_SEQ(dev, cl) \
	"(SELECT CASE WHEN a.purpose LIKE ?11 THEN CAST(substr(a.purpose, ?12) AS INTEGER)" \
	" ELSE 0 END FROM office_audit a WHERE a.device = " dev \
	" AND a.client = lower(hex(" cl ")) AND a.event = 'erase' AND a.outcome = 'success'" \
	" AND (a.purpose = ?10 OR a.purpose LIKE ?11) ORDER BY a.seq LIMIT 1)"
static const char *const move_sql[] = {
	[MV_CLIENT_GET] = "SELECT new_client, from_team, to_team, at FROM moved_clients"
	                  " WHERE client = ?1",
	[MV_CLIENT_PUT] = "INSERT INTO moved_clients(client, new_client, from_team, to_team, at)"
	                  " VALUES(?1, ?2, ?3, ?4, ?5)",
	[MV_ENTITIES] = "SELECT entity, kind FROM entities WHERE client = ?1 ORDER BY created, entity",
	[MV_MAP_GET] = "SELECT new_entity FROM moves WHERE entity = ?1",
	[MV_MAP_PUT] = "INSERT INTO moves(entity, client, new_entity, kind) VALUES(?1, ?2, ?3, ?4)",
	[MV_TAKE_ALL] = "INSERT OR IGNORE INTO move_fwd(device, seq) SELECT o.device, o.seq"
	                " FROM entities e JOIN ops o ON o.entity = e.entity WHERE e.client = ?1",
	/* Operations of moved clients not taken yet, through the records'
	 * index (entities_client), in the order they were stamped; whether the
	 * office (?1) wrote it, and its author's confirmed seq. */
	[MV_PENDING] = "SELECT o.device, o.seq, o.entity, e.kind, o.field, e.client, o.device = ?1,"
	               " " CONFIRMED_SEQ("o.device", "e.client")
	               " FROM moved_clients m JOIN entities e ON e.client = m.client"
	               " JOIN ops o ON o.entity = e.entity WHERE NOT EXISTS (SELECT 1 FROM move_fwd f"
	               " WHERE f.device = o.device AND f.seq = o.seq) ORDER BY o.hlc, o.device",
	[MV_TAKE] = "INSERT OR IGNORE INTO move_fwd(device, seq) VALUES(?1, ?2)",
	/* The old team's certified workers, not revoked, and whether the
	 * office holds their access-log entry of the removal. */
	[MV_DEVICES] = "SELECT c.device, EXISTS(SELECT 1 FROM office_audit a WHERE a.device = c.device"
	               " AND a.client = ?2 AND a.event = 'erase' AND (a.purpose = ?3"
	               " OR a.purpose LIKE ?4))"
	               " FROM certs c WHERE c.team = ?1 AND c.role = 'worker'"
	               " AND c.revoked_seq IS NULL ORDER BY c.device",
	/* Current values of record ?2 (a field ?3, or all: NULL) of moved
	 * client ?4 that an author wrote after it confirmed the move, or
	 * before it has (the office, ?1, excepted): not to be forwarded. */
	[MV_HEADS_BARRED] = "SELECT EXISTS(SELECT 1 FROM ops o WHERE o.entity = ?2"
	                    " AND (?3 IS NULL OR o.field = ?3) AND o.head = 1 AND o.device != ?1"
	                    " AND NOT o.seq <= coalesce(" CONFIRMED_SEQ("o.device", "?4") ", -1))",
	[MV_PRED] = "SELECT client, from_team FROM moved_clients WHERE new_client = ?1",
	[MV_FORGET_MAP] = "DELETE FROM moves WHERE client = ?1",
	[MV_FORGET_CLIENT] = "DELETE FROM moved_clients WHERE client = ?1 OR new_client = ?1",
};
static const struct veld__sqltab move_tab = VELD_SQLTAB(VELD_SQL_MOVE, move_sql);

static int stmt(veld_store *s, enum move_stmt i, sqlite3_stmt **st)
{
	return veld__sql(s, &move_tab, i, st);
}

/* The parameters of CONFIRMED_SEQ. */
static void bind_bound(sqlite3_stmt *st)
{
	sqlite3_bind_text(st, 10, VELD_MOVED_PURPOSE, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 11, VELD_MOVED_PURPOSE VELD_MOVED_SEQ "%", -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 12, (int)sizeof VELD_MOVED_PURPOSE VELD_MOVED_SEQ);
}

/* ---- the moved client and its map ------------------------------------------------ */

struct moved {
	uint8_t new_client[VELD_ID_BYTES];
	char from[VELD_TEAM_MAX + 1], to[VELD_TEAM_MAX + 1];
	uint64_t at;
};

/* The move of `client`: VELD_OK, or VELD_ENOTFOUND (no message) if it did
 * not move. */
static int moved_get(veld_store *s, const uint8_t client[VELD_ID_BYTES], struct moved *m)
{
	sqlite3_stmt *st;
	int rc = stmt(s, MV_CLIENT_GET, &st);
	if (rc != VELD_OK)
		return rc;
	sqlite3_bind_blob(st, 1, client, VELD_ID_BYTES, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_bytes(st, 0) != VELD_ID_BYTES) {
			sqlite3_reset(st);
			return veld__err(VELD_ECORRUPT, "a moved client's row is damaged");
		}
		memcpy(m->new_client, sqlite3_column_blob(st, 0), VELD_ID_BYTES);
		veld__sql_text(st, 1, m->from, sizeof m->from);
		veld__sql_text(st, 2, m->to, sizeof m->to);
		m->at = (uint64_t)sqlite3_column_int64(st, 3);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return VELD_OK;
	return rc == SQLITE_DONE ? VELD_ENOTFOUND : veld__err_sqlite(rc, "reading moved clients");
}

/* The id statement `which` answers for `key` (its first column), and with
 * `team` its second column: VELD_OK, VELD_ENOTFOUND, or an error about
 * `what`. */
static int id_of(veld_store *s, int which, const uint8_t key[VELD_ID_BYTES],
                 uint8_t out[VELD_ID_BYTES], char team[VELD_TEAM_MAX + 1], const char *what)
{
	sqlite3_stmt *st;
	int rc = stmt(s, which, &st);
	if (rc != VELD_OK)
		return rc;
	sqlite3_bind_blob(st, 1, key, VELD_ID_BYTES, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == VELD_ID_BYTES) {
		memcpy(out, sqlite3_column_blob(st, 0), VELD_ID_BYTES);
		if (team)
			veld__sql_text(st, 1, team, VELD_TEAM_MAX + 1);
	} else if (rc == SQLITE_ROW) {
		rc = SQLITE_CORRUPT;
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return VELD_OK;
	return rc == SQLITE_DONE ? VELD_ENOTFOUND : veld__err_sqlite(rc, what);
}

/* The new record of old record `entity` (one move): VELD_OK, or
 * VELD_ENOTFOUND (no message) if it has none yet. */
static int map_get1(veld_store *s, const uint8_t entity[VELD_ID_BYTES], uint8_t out[VELD_ID_BYTES])
{
	return id_of(s, MV_MAP_GET, entity, out, NULL, "reading the move's map");
}

/* The record `entity` became at the end of a chain of moves (a client moved
 * on from the team it moved to): as map_get1, followed while mapped. A
 * chain is at most as long as the office's moves; the bound guards a map
 * a damaged store made circular. */
static int map_get(veld_store *s, const uint8_t entity[VELD_ID_BYTES], uint8_t out[VELD_ID_BYTES])
{
	uint8_t next[VELD_ID_BYTES] = {0};
	int rc = map_get1(s, entity, out);
	for (int hop = 0; rc == VELD_OK && hop < 64; hop++) {
		if ((rc = map_get1(s, out, next)) == VELD_ENOTFOUND)
			return VELD_OK;
		if (rc == VELD_OK)
			memcpy(out, next, VELD_ID_BYTES);
	}
	return rc == VELD_OK ? veld__err(VELD_ECORRUPT, "the move's map goes round in circles") : rc;
}

/* Map old record `entity` of `client` (kind) to a new id, unless it is
 * mapped; the old client itself maps to the new client. */
static int map_ensure(veld_store *s, const uint8_t entity[VELD_ID_BYTES],
                      const uint8_t client[VELD_ID_BYTES], const char *kind,
                      const struct moved *m, uint8_t out[VELD_ID_BYTES])
{
	sqlite3_stmt *st;
	int rc = map_get1(s, entity, out);
	if (rc != VELD_ENOTFOUND)
		return rc;
	if (memcmp(entity, client, VELD_ID_BYTES) == 0)
		memcpy(out, m->new_client, VELD_ID_BYTES);
	else
		veld__random_id(out);
	if ((rc = stmt(s, MV_MAP_PUT, &st)) != VELD_OK)
		return rc;
	sqlite3_bind_blob(st, 1, entity, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, client, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, out, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, kind, -1, SQLITE_STATIC);
	return veld__sql_run(st, "writing the move's map");
}

/* ---- values ---------------------------------------------------------------------- */

/* A field's value as the new record gets it: a reference to a record of
 * the old client names its new record; one the map does not know (a record
 * deleted, or of another client) is left out (*keep = 0). The caller owns
 * *out. */
static int value_for_new(veld_store *s, const struct veld__fdef *f, json_t *v, json_t **out,
                         int *keep)
{
	uint8_t old[VELD_ID_BYTES], neu[VELD_ID_BYTES];
	char hex[2 * VELD_ID_BYTES + 1];
	int rc = VELD_OK;
	*out = NULL;
	*keep = 1;
	if (f->type != F_REF) {
		*out = json_incref(v);
		return VELD_OK;
	}
	if (!json_is_string(v) || veld__unhex(old, VELD_ID_BYTES, json_string_value(v)) != 0 ||
	    (rc = map_get(s, old, neu)) == VELD_ENOTFOUND) {
		*keep = 0;
		return VELD_OK;
	}
	if (rc != VELD_OK)
		return rc;
	veld__hex(hex, neu, VELD_ID_BYTES);
	return (*out = json_string(hex)) ? VELD_OK : veld__err(VELD_ENOMEM, "out of memory");
}

/* Write one field's value (JSON; NULL: a deletion of the record) on new
 * record `ne` of kind k, unless it holds that value already; superseding
 * only the office's own values there. *wrote tells whether it did. */
static int write_value(veld_store *s, const char *kind, const uint8_t ne[VELD_ID_BYTES],
                       const struct moved *m, const char *field, json_t *v, json_t *now,
                       int *wrote)
{
	char *js;
	int rc;
	*wrote = 0;
	if (!v) {
		if (!now)
			return VELD_OK; /* deleted on both sides */
		*wrote = 1;
		return veld__op_write_over(s, kind, ne, m->new_client, m->to, VELD_TOMBSTONE_FIELD,
		                           NULL, 0, s->device);
	}
	if (now && json_equal(json_object_get(now, field), v))
		return VELD_OK;
	if (!(js = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)))
		return veld__err(VELD_ENOMEM, "out of memory");
	rc = veld__op_write_over(s, kind, ne, m->new_client, m->to, field, js, strlen(js),
	                         s->device);
	sodium_memzero(js, strlen(js));
	free(js);
	*wrote = rc == VELD_OK;
	return rc;
}

/* Copy onto new record `ne` the current values of old record `e`: every
 * field of the kind (`field` NULL), or one field (a forward). A deleted
 * old record deletes the new one (nothing is written for a new one).
 * *wrote counts the operations written. */
static int copy_record(veld_store *s, const uint8_t e[VELD_ID_BYTES], const char *kind,
                       const uint8_t ne[VELD_ID_BYTES], const struct moved *m, const char *field,
                       uint64_t *wrote)
{
	const struct veld__kdef *k;
	json_t *rec = NULL, *now = NULL;
	int rc, w, fresh;
	if ((rc = veld__kind_get(s, kind, &k)) != VELD_OK ||
	    (rc = veld__record_build(s, e, &rec)) != VELD_OK)
		return rc;
	rc = veld__record_build(s, ne, &now);
	fresh = rc == VELD_ENOTFOUND;
	if (fresh) {
		veld__err_clear();
		rc = VELD_OK;
	}
	if (rc == VELD_OK && !rec) {
		/* The client record itself is never deleted so: only the office
		 * erases a client (an erasure of either id erases both). */
		if (!fresh && memcmp(ne, m->new_client, VELD_ID_BYTES) != 0 &&
		    (rc = write_value(s, kind, ne, m, NULL, NULL, now, &w)) == VELD_OK)
			*wrote += (uint64_t)w;
		goto out;
	}
	for (size_t i = 0; rc == VELD_OK && i < k->nfields; i++) {
		const struct veld__fdef *f = &k->fields[i];
		json_t *v = json_object_get(rec, f->name), *nv = NULL;
		int keep;
		if (field && strcmp(field, f->name) != 0)
			continue;
		if (!v)
			continue; /* a field without a value: nothing to carry */
		if ((rc = value_for_new(s, f, v, &nv, &keep)) == VELD_OK && keep &&
		    (rc = write_value(s, kind, ne, m, f->name, nv, now, &w)) == VELD_OK)
			*wrote += (uint64_t)w;
		json_decref(nv);
	}
out:
	json_decref(rec);
	json_decref(now);
	return rc;
}

/* ---- the move ----------------------------------------------------------------------- */

int veld__move_check(veld_store *s, const char *client_id, const char *team,
                     uint8_t client[VELD_ID_BYTES], char from_team[VELD_TEAM_MAX + 1])
{
	uint8_t entity[VELD_ID_BYTES], pk[32];
	struct moved m;
	uint64_t tv = 0;
	int rc;
	if (!s->office)
		return veld__err(VELD_EPERM, "only the office moves a client to another team");
	if (!team || !*team)
		return veld__err(VELD_EINVAL, "a move needs the team the client moves to");
	if ((rc = veld__resolve(s, "client", client_id, entity, client, from_team, NULL)) ==
	    VELD_ESHREDDED)
		return veld__err(VELD_ESHREDDED, "the client is erased: there is nothing to move");
	if (rc != VELD_OK)
		return rc;
	if ((rc = moved_get(s, client, &m)) == VELD_OK)
		return veld__err(VELD_EEXISTS, "the client moved to team %s already (its new id is"
		                 " in veld office move --status)", m.to);
	if (rc != VELD_ENOTFOUND)
		return rc;
	if (strcmp(team, from_team) == 0)
		return veld__err(VELD_EINVAL, "the client is in team %s already", team);
	if ((rc = veld__team_key_get(s, team, &tv, pk, NULL)) == VELD_ENOTFOUND)
		return veld__err(VELD_ENOTFOUND, "the office knows no team %s (invite a device of"
		                 " it first)", team);
	return rc;
}

/* The records of `client`, the client record first (*ents, *kinds
 * malloc'd, *n of them). */
static int records_of(veld_store *s, const uint8_t client[VELD_ID_BYTES],
                      uint8_t (**ents)[VELD_ID_BYTES], char (**kinds)[VELD_KIND_MAX + 1],
                      size_t *n)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	int rc = stmt(s, MV_ENTITIES, &st);
	*ents = NULL;
	*kinds = NULL;
	*n = 0;
	if (rc != VELD_OK)
		return rc;
	sqlite3_bind_blob(st, 1, client, VELD_ID_BYTES, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		size_t at;
		if (sqlite3_column_bytes(st, 0) != VELD_ID_BYTES)
			continue;
		if (*n == cap) {
			size_t nc = cap ? cap * 2 : 32;
			void *a = realloc(*ents, nc * sizeof **ents), *b;
			if (a)
				*ents = a;
			if (!a || !(b = realloc(*kinds, nc * sizeof **kinds))) {
				sqlite3_reset(st);
				return veld__err(VELD_ENOMEM, "out of memory");
			}
			*kinds = b;
			cap = nc;
		}
		/* The client record goes first: references are remapped against
		 * it and every other record needs its client. */
		at = memcmp(sqlite3_column_blob(st, 0), client, VELD_ID_BYTES) == 0 ? 0 : *n;
		if (at == 0 && *n > 0) {
			memcpy((*ents)[*n], (*ents)[0], VELD_ID_BYTES);
			memcpy((*kinds)[*n], (*kinds)[0], sizeof **kinds);
		}
		memcpy((*ents)[at], sqlite3_column_blob(st, 0), VELD_ID_BYTES);
		veld__sql_text(st, 1, (*kinds)[at], sizeof **kinds);
		(*n)++;
	}
	if ((rc = veld__sql_done(st, rc, "reading the client's records")) != VELD_OK)
		return rc;
	if (*n == 0 || memcmp((*ents)[0], client, VELD_ID_BYTES) != 0)
		return veld__err(VELD_ENOTFOUND, "the client's own record is not here");
	return VELD_OK;
}

static int moved_put(veld_store *s, const uint8_t client[VELD_ID_BYTES], const char *from,
                     const struct moved *m)
{
	sqlite3_stmt *st;
	int rc = stmt(s, MV_CLIENT_PUT, &st);
	if (rc != VELD_OK)
		return rc;
	sqlite3_bind_blob(st, 1, client, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, m->new_client, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, from, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, m->to, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)m->at);
	return veld__sql_run(st, "recording the move");
}

/* Every operation of `client` held now is taken: the copy carries its
 * effect. */
static int take_all(veld_store *s, const uint8_t client[VELD_ID_BYTES])
{
	sqlite3_stmt *st;
	int rc = stmt(s, MV_TAKE_ALL, &st);
	if (rc != VELD_OK)
		return rc;
	sqlite3_bind_blob(st, 1, client, VELD_ID_BYTES, SQLITE_STATIC);
	return veld__sql_run(st, "marking the client's operations copied");
}

int veld__move_copy(veld_store *s, const uint8_t client[VELD_ID_BYTES], const char *from_team,
                    const char *team, uint64_t at, uint8_t new_client[VELD_ID_BYTES])
{
	uint8_t (*ents)[VELD_ID_BYTES] = NULL;
	char (*kinds)[VELD_KIND_MAX + 1] = NULL;
	char purpose[VELD_TEAM_MAX + 32];
	const uint8_t *key;
	struct moved m;
	size_t n = 0;
	uint64_t wrote = 0;
	int rc;

	memset(&m, 0, sizeof m);
	veld__random_id(m.new_client);
	snprintf(m.from, sizeof m.from, "%s", from_team);
	snprintf(m.to, sizeof m.to, "%s", team);
	m.at = at;
	/* Recorded first: map_ensure maps the old client to the new one. The
	 * new client gets a new data key, sealed for the new team and the
	 * office only. */
	if ((rc = records_of(s, client, &ents, &kinds, &n)) != VELD_OK ||
	    (rc = moved_put(s, client, from_team, &m)) != VELD_OK ||
	    (rc = veld__client_key_new(s, m.new_client, team, &key)) != VELD_OK ||
	    (rc = veld__keys_share(s, m.new_client, 1, team, key)) != VELD_OK)
		goto out;
	/* Every record mapped first, so references find their new record. */
	for (size_t i = 0; rc == VELD_OK && i < n; i++) {
		uint8_t ne[VELD_ID_BYTES];
		rc = map_ensure(s, ents[i], client, kinds[i], &m, ne);
	}
	for (size_t i = 0; rc == VELD_OK && i < n; i++) {
		uint8_t ne[VELD_ID_BYTES];
		if ((rc = map_get(s, ents[i], ne)) == VELD_OK)
			rc = copy_record(s, ents[i], kinds[i], ne, &m, NULL, &wrote);
	}
	if (rc == VELD_OK)
		rc = take_all(s, client);
	if (rc == VELD_OK) {
		snprintf(purpose, sizeof purpose, "moved to team %s", team);
		rc = veld__audit(s, "move", "success", client, purpose);
	}
	if (rc == VELD_OK) {
		snprintf(purpose, sizeof purpose, "moved from team %s", from_team);
		rc = veld__audit(s, "create", "success", m.new_client, purpose);
	}
	if (rc == VELD_OK)
		memcpy(new_client, m.new_client, VELD_ID_BYTES);
out:
	free(ents);
	free(kinds);
	return rc;
}

/* ---- forwarding ----------------------------------------------------------------------- */

/* Who may still write to a moved client. A device of the old team learns of
 * the move at its next pull and removes the client; until then it may have
 * written to it (offline), and that must not be lost. Its access-log entry
 * of the removal, signed by it, names its last own seq then
 * (VELD_MOVED_SEQ). So an operation of the old client is
 *   - forwarded if the office wrote it, or its author confirmed the removal
 *     with a seq at or above the operation's;
 *   - refused (taken, never forwarded; it stays at the office under the old
 *     client) if its author confirmed with a lower seq: the device wrote it
 *     after it removed the client, which an honest device does not;
 *   - held (neither taken nor forwarded) while its author has not
 *     confirmed: a device that ignores the notice writes into nothing but
 *     the office's copy of the old client.
 * The deletion of the client record itself is never forwarded: only the
 * office ends a client, by an erasure. And a field is forwarded only if its
 * current value is one the rule lets through (MV_HEADS_BARRED), so a
 * refused or held value cannot ride on a forwarded one. */
enum verdict { FORWARD, REFUSE, HOLD };

static enum verdict verdict_of(sqlite3_stmt *st, uint64_t seq, const uint8_t entity[VELD_ID_BYTES],
                               const uint8_t client[VELD_ID_BYTES], const char *field)
{
	if (memcmp(entity, client, VELD_ID_BYTES) == 0 && strcmp(field, VELD_TOMBSTONE_FIELD) == 0)
		return REFUSE;
	if (sqlite3_column_int(st, 6))
		return FORWARD; /* the office's own */
	if (sqlite3_column_type(st, 7) == SQLITE_NULL)
		return HOLD;
	return seq <= (uint64_t)sqlite3_column_int64(st, 7) ? FORWARD : REFUSE;
}

/* One (record, field) an operation not taken yet touched. */
struct touched {
	uint8_t entity[VELD_ID_BYTES], client[VELD_ID_BYTES];
	char kind[VELD_KIND_MAX + 1], field[VELD_FIELD_MAX + 1];
};

struct pending {
	struct touched *t;
	size_t nt, tcap;
	veld__ref *ops; /* to mark taken: forwarded or refused */
	size_t nops, ocap;
	uint64_t refused;
};

static int pending_add(struct pending *p, sqlite3_stmt *st)
{
	struct touched x;
	veld__ref r;
	enum verdict v;
	if (sqlite3_column_bytes(st, 0) != VELD_ID_BYTES || sqlite3_column_bytes(st, 2) != VELD_ID_BYTES ||
	    sqlite3_column_bytes(st, 5) != VELD_ID_BYTES)
		return veld__err(VELD_ECORRUPT, "an operation row is damaged");
	memcpy(r.device, sqlite3_column_blob(st, 0), VELD_ID_BYTES);
	r.seq = (uint64_t)sqlite3_column_int64(st, 1);
	memset(&x, 0, sizeof x);
	memcpy(x.entity, sqlite3_column_blob(st, 2), VELD_ID_BYTES);
	veld__sql_text(st, 3, x.kind, sizeof x.kind);
	veld__sql_text(st, 4, x.field, sizeof x.field);
	memcpy(x.client, sqlite3_column_blob(st, 5), VELD_ID_BYTES);
	if ((v = verdict_of(st, r.seq, x.entity, x.client, x.field)) == HOLD)
		return VELD_OK;
	if (p->nops == p->ocap) {
		size_t nc = p->ocap ? p->ocap * 2 : 16;
		veld__ref *a = realloc(p->ops, nc * sizeof *a);
		if (!a)
			return veld__err(VELD_ENOMEM, "out of memory");
		p->ops = a;
		p->ocap = nc;
	}
	p->ops[p->nops++] = r;
	if (v == REFUSE) {
		p->refused++;
		return VELD_OK;
	}
	for (size_t i = 0; i < p->nt; i++)
		if (memcmp(p->t[i].entity, x.entity, VELD_ID_BYTES) == 0 &&
		    strcmp(p->t[i].field, x.field) == 0)
			return VELD_OK;
	if (p->nt == p->tcap) {
		size_t nc = p->tcap ? p->tcap * 2 : 16;
		struct touched *a = realloc(p->t, nc * sizeof *a);
		if (!a)
			return veld__err(VELD_ENOMEM, "out of memory");
		p->t = a;
		p->tcap = nc;
	}
	p->t[p->nt++] = x;
	return VELD_OK;
}

static int pending_read(veld_store *s, struct pending *p)
{
	sqlite3_stmt *st;
	int rc = stmt(s, MV_PENDING, &st);
	if (rc != VELD_OK)
		return rc;
	sqlite3_bind_blob(st, 1, s->device, VELD_ID_BYTES, SQLITE_STATIC);
	bind_bound(st);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((rc = pending_add(p, st)) != VELD_OK) {
			sqlite3_reset(st);
			return rc;
		}
	return veld__sql_done(st, rc, "reading operations of moved clients");
}

/* Does (record, field) of x (every field: a record's deletion) hold a
 * current value the office may not forward? 1 yes, 0 no, <0 an error. */
static int heads_barred(veld_store *s, const struct touched *x)
{
	sqlite3_stmt *st;
	int rc = stmt(s, MV_HEADS_BARRED, &st);
	if (rc != VELD_OK)
		return rc;
	sqlite3_bind_blob(st, 1, s->device, VELD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, x->entity, VELD_ID_BYTES, SQLITE_STATIC);
	if (strcmp(x->field, VELD_TOMBSTONE_FIELD) != 0)
		sqlite3_bind_text(st, 3, x->field, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 3);
	sqlite3_bind_blob(st, 4, x->client, VELD_ID_BYTES, SQLITE_STATIC);
	bind_bound(st);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int barred = sqlite3_column_int(st, 0) != 0;
		sqlite3_reset(st);
		return barred;
	}
	sqlite3_reset(st);
	return veld__err_sqlite(rc, "reading the values of a moved client");
}

/* The client at the end of the chain of moves from x's client (*m its
 * last move) and the record that x's record is there (*ne), mapped at each
 * step. VELD_ESHREDDED (no message) if a client on the way is erased. */
static int chain_end(veld_store *s, const struct touched *x, struct moved *m,
                     uint8_t ne[VELD_ID_BYTES])
{
	uint8_t at[VELD_ID_BYTES];
	int rc = moved_get(s, x->client, m), hop;
	if (rc == VELD_ENOTFOUND)
		return veld__err(VELD_ECORRUPT, "a moved client's row is missing");
	if (rc != VELD_OK || (rc = map_ensure(s, x->entity, x->client, x->kind, m, ne)) != VELD_OK)
		return rc;
	for (hop = 0; hop < 64; hop++) {
		struct moved next;
		if ((rc = veld__store_is_erased(s, m->new_client)) != 0)
			return rc < 0 ? rc : VELD_ESHREDDED;
		if ((rc = moved_get(s, m->new_client, &next)) == VELD_ENOTFOUND)
			return VELD_OK;
		if (rc != VELD_OK)
			return rc;
		memcpy(at, ne, VELD_ID_BYTES);
		if ((rc = map_ensure(s, at, m->new_client, x->kind, &next, ne)) != VELD_OK)
			return rc;
		*m = next;
	}
	return veld__err(VELD_ECORRUPT, "the moves of a client go round in circles");
}

/* One touched (record, field): its current value onto the record it became
 * at the end of the chain of moves. Nothing is written to an erased client
 * (VELD_ESHREDDED, no message), nor a value the office may not forward. */
static int forward_one(veld_store *s, const struct touched *x, uint64_t *wrote)
{
	uint8_t ne[VELD_ID_BYTES];
	struct moved m;
	int rc = chain_end(s, x, &m, ne);
	if (rc != VELD_OK)
		return rc;
	if ((rc = heads_barred(s, x)) != 0)
		return rc < 0 ? rc : VELD_OK;
	/* A record the copy did not carry (deleted then) has nothing to say;
	 * a new record brings all its fields at once. */
	if (strcmp(x->field, VELD_TOMBSTONE_FIELD) == 0)
		return copy_record(s, x->entity, x->kind, ne, &m, NULL, wrote);
	return copy_record(s, x->entity, x->kind, ne, &m, x->field, wrote);
}

/* A forward that fails on what one record holds (a value the schema in
 * force refuses, a client erased on the way) is passed over: one record
 * must not stop the office's sync. The store's own failures stop it. */
static int record_failure(int rc)
{
	return rc == VELD_ESHREDDED || rc == VELD_EINVAL || rc == VELD_ENOTFOUND ||
	       rc == VELD_EPERM || rc == VELD_EEXISTS;
}

int veld__moves_forward(veld_store *s, uint64_t *forwarded)
{
	struct pending p;
	uint64_t wrote = 0;
	uint8_t *logged = NULL; /* per touched: its new client received something */
	int rc;
	*forwarded = 0;
	if (!s->office)
		return VELD_OK;
	memset(&p, 0, sizeof p);
	/* Records first (a reference may name a record that only now comes),
	 * then every touched field in stamp order. */
	if ((rc = pending_read(s, &p)) != VELD_OK || p.nops == 0)
		goto out;
	if (p.nt > 0 && !(logged = calloc(p.nt, 1))) {
		rc = veld__err(VELD_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; rc == VELD_OK && i < p.nt; i++) {
		struct moved m;
		uint8_t ne[VELD_ID_BYTES];
		if ((rc = chain_end(s, &p.t[i], &m, ne)) != VELD_OK && record_failure(rc)) {
			veld__err_clear();
			rc = VELD_OK;
		}
	}
	for (size_t i = 0; rc == VELD_OK && i < p.nt; i++) {
		uint64_t before = wrote;
		if ((rc = forward_one(s, &p.t[i], &wrote)) != VELD_OK && record_failure(rc)) {
			veld__err_clear();
			rc = VELD_OK;
		}
		logged[i] = wrote > before;
	}
	for (size_t i = 0; rc == VELD_OK && i < p.nops; i++) {
		sqlite3_stmt *st;
		if ((rc = stmt(s, MV_TAKE, &st)) != VELD_OK)
			break;
		sqlite3_bind_blob(st, 1, p.ops[i].device, VELD_ID_BYTES, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)p.ops[i].seq);
		rc = veld__sql_run(st, "marking an operation forwarded");
	}
	/* Logged once per new client that received something. */
	for (size_t i = 0; rc == VELD_OK && i < p.nt; i++) {
		struct moved m;
		uint8_t ne[VELD_ID_BYTES];
		int first = logged[i];
		for (size_t j = 0; j < i && first; j++)
			first = !logged[j] || memcmp(p.t[j].client, p.t[i].client, VELD_ID_BYTES) != 0;
		if (first && (rc = chain_end(s, &p.t[i], &m, ne)) == VELD_OK)
			rc = veld__audit(s, "update", "success", m.new_client,
			                 "forwarded from the client before its move");
	}
	if (rc == VELD_OK)
		*forwarded = p.nops - p.refused;
out:
	free(logged);
	free(p.t);
	free(p.ops);
	return rc;
}

/* ---- erasure --------------------------------------------------------------------------- */

/* The client `client` moved from (*team its old team): VELD_OK, or
 * VELD_ENOTFOUND (no message) if it is no move's new client. */
static int pred_get(veld_store *s, const uint8_t client[VELD_ID_BYTES], uint8_t out[VELD_ID_BYTES],
                    char team[VELD_TEAM_MAX + 1])
{
	return id_of(s, MV_PRED, client, out, team, "reading moved clients");
}

int veld__move_chain(veld_store *s, const uint8_t client[VELD_ID_BYTES],
                     struct veld__move_chain *out)
{
	const size_t cap = sizeof out->id / sizeof out->id[0];
	uint8_t at[VELD_ID_BYTES], prev[VELD_ID_BYTES] = {0};
	char team[VELD_TEAM_MAX + 1];
	struct moved m;
	int rc;
	memset(out, 0, sizeof *out);
	/* Back to the first client, then forward along the moves. */
	memcpy(at, client, VELD_ID_BYTES);
	for (size_t hop = 0; (rc = pred_get(s, at, prev, team)) == VELD_OK; hop++) {
		if (hop == cap)
			return veld__err(VELD_ECORRUPT, "the moves of a client go round in circles");
		memcpy(at, prev, VELD_ID_BYTES);
	}
	if (rc != VELD_ENOTFOUND)
		return rc;
	if ((rc = moved_get(s, at, &m)) == VELD_ENOTFOUND)
		return VELD_OK; /* never moved */
	if (rc != VELD_OK)
		return rc;
	memcpy(out->id[0], at, VELD_ID_BYTES);
	snprintf(out->team[0], sizeof out->team[0], "%s", m.from);
	out->n = 1;
	for (;;) {
		if (out->n == cap)
			return veld__err(VELD_ECORRUPT, "the moves of a client go round in circles");
		memcpy(out->id[out->n], m.new_client, VELD_ID_BYTES);
		snprintf(out->team[out->n], sizeof out->team[0], "%s", m.to);
		out->n++;
		if ((rc = moved_get(s, out->id[out->n - 1], &m)) == VELD_ENOTFOUND)
			return VELD_OK;
		if (rc != VELD_OK)
			return rc;
	}
}

int veld__move_forget(veld_store *s, const uint8_t client[VELD_ID_BYTES])
{
	sqlite3_stmt *st;
	int rc = VELD_OK;
	for (int i = MV_FORGET_MAP; rc == VELD_OK && i <= MV_FORGET_CLIENT; i++)
		if ((rc = stmt(s, (enum move_stmt)i, &st)) == VELD_OK) {
			sqlite3_bind_blob(st, 1, client, VELD_ID_BYTES, SQLITE_STATIC);
			rc = veld__sql_run(st, "forgetting the move of an erased client");
		}
	return rc;
}

/* ---- status ----------------------------------------------------------------------------- */

int veld__move_status(veld_store *s, const char *client_id, json_t **out)
{
	uint8_t entity[VELD_ID_BYTES], client[VELD_ID_BYTES];
	char hex[2 * VELD_ID_BYTES + 1], nhex[2 * VELD_ID_BYTES + 1], at[32];
	json_t *holding, *confirmed;
	struct moved m;
	sqlite3_stmt *st;
	int rc;
	*out = NULL;
	if (!s->office)
		return veld__err(VELD_EPERM, "only the office moves clients");
	if ((rc = veld__resolve(s, "client", client_id, entity, client, NULL, NULL)) != VELD_OK)
		return rc;
	if ((rc = moved_get(s, client, &m)) == VELD_ENOTFOUND)
		return veld__err(VELD_ENOTFOUND, "the client did not move to another team");
	if (rc != VELD_OK || (rc = stmt(s, MV_DEVICES, &st)) != VELD_OK)
		return rc;
	veld__hex(hex, client, VELD_ID_BYTES);
	veld__hex(nhex, m.new_client, VELD_ID_BYTES);
	veld__iso8601(at, m.at);
	holding = json_array();
	confirmed = json_array();
	sqlite3_bind_text(st, 1, m.from, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, hex, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, VELD_MOVED_PURPOSE, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, VELD_MOVED_PURPOSE VELD_MOVED_SEQ "%", -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char dev[2 * VELD_ID_BYTES + 1];
		if (sqlite3_column_bytes(st, 0) != VELD_ID_BYTES)
			continue;
		veld__hex(dev, sqlite3_column_blob(st, 0), VELD_ID_BYTES);
		json_array_append_new(sqlite3_column_int(st, 1) ? confirmed : holding, json_string(dev));
	}
	if ((rc = veld__sql_done(st, rc, "reading the old team's devices")) == VELD_OK &&
	    !(*out = json_pack("{s:s,s:s,s:s,s:s,s:s,s:O,s:O}", "client", hex, "new_client", nhex,
	                       "from", m.from, "to", m.to, "at", at, "holding", holding,
	                       "confirmed", confirmed)))
		rc = veld__err(VELD_ENOMEM, "out of memory");
	json_decref(holding);
	json_decref(confirmed);
	return rc;
}
