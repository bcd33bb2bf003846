/* policy.c - which identifying client fields reach a team's devices
 * (policy.h). */
#include "policy.h"
#include "error.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

const char *const veld__policy_fields[VELD_POLICY_NFIELDS] = {
	"initials", "birth_date", "address", "phone", "care_status", "care_decision", "housing"};
const uint32_t veld__policy_default = (1u << 2) | (1u << 3); /* address, phone */

uint32_t veld__policy_bit(const char *kind, const char *field)
{
	if (!kind || !field || strcmp(kind, "client") != 0)
		return 0;
	for (int i = 0; i < VELD_POLICY_NFIELDS; i++)
		if (strcmp(field, veld__policy_fields[i]) == 0)
			return 1u << i;
	return 0;
}

static void meta_key(char key[VELD_TEAM_MAX + 16], const char *team)
{
	snprintf(key, VELD_TEAM_MAX + 16, "field_policy:%s", team);
}

int veld__policy_get(veld_store *s, const char *team, uint64_t *at, uint32_t *mask,
                     uint8_t sig[64])
{
	char key[VELD_TEAM_MAX + 16];
	uint8_t v[8 + 4 + 64];
	size_t n = 0;
	int rc;
	*at = 0;
	*mask = veld__policy_default;
	meta_key(key, team);
	if ((rc = veld__meta_get(s, key, v, sizeof v, &n)) != VELD_OK)
		return rc;
	if (n != sizeof v)
		return veld__err(VELD_ECORRUPT, "the stored field policy of a team is damaged");
	*at = veld__be64_get(v);
	*mask = (uint32_t)v[8] << 24 | (uint32_t)v[9] << 16 | (uint32_t)v[10] << 8 | v[11];
	if (*mask & ~VELD_POLICY_ALL)
		return veld__err(VELD_ECORRUPT, "the stored field policy of a team is damaged");
	if (sig)
		memcpy(sig, v + 12, 64);
	return VELD_OK;
}

int veld__policy_put(veld_store *s, const char *team, uint64_t at, uint32_t mask,
                     const uint8_t sig[64])
{
	char key[VELD_TEAM_MAX + 16];
	uint8_t v[8 + 4 + 64];
	veld__be64_put(v, at);
	for (int i = 0; i < 4; i++)
		v[8 + i] = (uint8_t)(mask >> (24 - 8 * i));
	memcpy(v + 12, sig, 64);
	meta_key(key, team);
	s->policy_cached = 0;
	return veld__meta_put(s, key, v, sizeof v);
}

/* Only an enrolled worker device has a team policy to follow. */
static int follows_policy(veld_store *s)
{
	char role[16] = "";
	size_t n = 0;
	int yes = !s->office && veld__meta_get(s, "sync_role", role, sizeof role - 1, &n) == VELD_OK &&
	          n < sizeof role && (role[n] = 0, strcmp(role, "worker") == 0);
	veld__err_clear();
	return yes;
}

uint32_t veld__policy_mask(veld_store *s)
{
	uint64_t at;
	uint32_t mask = VELD_POLICY_ALL;
	if (s->policy_cached)
		return s->policy_mask;
	if (follows_policy(s) && veld__policy_get(s, s->team, &at, &mask, NULL) != VELD_OK)
		mask = veld__policy_default;
	veld__err_clear();
	s->policy_mask = mask;
	s->policy_cached = 1;
	return mask;
}

/* What removing a governed field's values takes, in order. Every
 * statement gets ?1 team, ?2 field, ?3 this device, ?4 acked (the highest
 * own seq a push confirmed the server holds), ?5 the own seq after which
 * an incremental run starts (own_range); one without a parameter ignores
 * it. */
enum policy_stmt {
	PS_CLIENTS, PS_KEEP_SUPERSEDED, PS_DROP_OTHERS, PS_CLEAR_OWN, PS_CONFLICTS, PS_RANGE_CLEAR
};
#define TEAM_CLIENTS "entity IN (SELECT entity FROM entities WHERE kind = 'client' AND team = ?1)"
/* Own operations in (?5, ?4]: their primary-key range. A record's
 * operations carry its kind and team (the merge keeps them), so these are
 * the operations of the team's clients. */
#define OWN_RANGE "device = ?3 AND seq > ?5 AND seq <= ?4 AND kind = 'client' AND team = ?1" \
                  " AND field = ?2"
static const char *const policy_sql[] = {
	/* The clients that lose a value: other devices' operations, and own
	 * ones the server holds (and that still have their value). */
	[PS_CLIENTS] = "SELECT DISTINCT client FROM ops WHERE " TEAM_CLIENTS " AND field = ?2"
	               " AND (device != ?3 OR (seq <= ?4 AND value IS NOT NULL))",
	/* An operation that goes (or loses its value) but was superseded is
	 * remembered as such, so it is not taken for a head when the policy
	 * lets it through again and it, or its value, comes back before what
	 * superseded it (merge.c). */
	[PS_KEEP_SUPERSEDED] = "INSERT OR IGNORE INTO superseded(device, seq, entity, field)"
	                       " SELECT device, seq, entity, field FROM ops WHERE " TEAM_CLIENTS
	                       " AND field = ?2 AND head = 0",
	[PS_DROP_OTHERS] = "DELETE FROM ops WHERE " TEAM_CLIENTS " AND field = ?2 AND device != ?3",
	/* "+": the team's clients' operations by their index, not every own
	 * operation up to ?4 by the primary key. */
	[PS_CLEAR_OWN] = "UPDATE ops SET value = NULL WHERE " TEAM_CLIENTS " AND field = ?2"
	                 " AND +device = ?3 AND +seq <= ?4 AND value IS NOT NULL",
	[PS_CONFLICTS] = "DELETE FROM conflicts WHERE " TEAM_CLIENTS " AND field = ?2",
	/* Own operations keep their rows and head flags (a value the policy
	 * lets through again is put back in place: veld__own_value_restore),
	 * so none needs remembering as superseded. */
	[PS_RANGE_CLEAR] = "UPDATE ops SET value = NULL WHERE " OWN_RANGE " AND value IS NOT NULL"
	                   " RETURNING client",
};
static const struct veld__sqltab policy_tab = VELD_SQLTAB(VELD_SQL_POLICY, policy_sql);

/* Everything the team's policy keeps at the office, or only own operations
 * in a range of seqs. */
static const int full_run[] = {PS_CLIENTS, PS_KEEP_SUPERSEDED, PS_DROP_OTHERS, PS_CLEAR_OWN,
                               PS_CONFLICTS, -1};
static const int range_run[] = {PS_RANGE_CLEAR, -1};

/* Remove one governed field's values; the clients that lost one are added
 * to `clients` (hex: true), the values removed to *n. */
static int enforce_field(veld_store *s, const int *run, const char *team, const char *field,
                         uint64_t after, uint64_t acked, json_t *clients, int64_t *n)
{
	for (; *run >= 0; run++) {
		sqlite3_stmt *st;
		int rc = veld__sql(s, &policy_tab, *run, &st);
		if (rc != VELD_OK)
			return rc;
		sqlite3_bind_text(st, 1, team, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, field, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 3, s->device, VELD_ID_BYTES, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)acked);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)after);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			char hex[33];
			veld__hex(hex, sqlite3_column_blob(st, 0), VELD_ID_BYTES);
			json_object_set_new(clients, hex, json_true());
			if (*run == PS_RANGE_CLEAR)
				(*n)++;
		}
		if ((rc = veld__sql_done(st, rc, "applying the team's field policy")) != VELD_OK)
			return rc;
		if (*run == PS_DROP_OTHERS || *run == PS_CLEAR_OWN)
			*n += sqlite3_changes(s->db);
	}
	return VELD_OK;
}

static int enforce(veld_store *s, const int *run, const char *team, uint32_t mask, uint64_t after,
                   uint64_t acked, int64_t *removed)
{
	json_t *clients = json_object(), *v;
	const char *hex;
	int64_t n = 0;
	int rc = clients ? VELD_OK : veld__err(VELD_ENOMEM, "out of memory");

	for (int f = 0; f < VELD_POLICY_NFIELDS && rc == VELD_OK; f++)
		if (!(mask & (1u << f)))
			rc = enforce_field(s, run, team, veld__policy_fields[f], after, acked, clients, &n);
	/* The access log records why each client's values went (verify
	 * accepts a removed value only where a purge or erasure is logged). */
	json_object_foreach(clients, hex, v) {
		uint8_t client[VELD_ID_BYTES];
		if (rc != VELD_OK)
			break;
		if (veld__unhex(client, VELD_ID_BYTES, hex) == 0)
			rc = veld__audit(s, "purge", "success", client, "field policy: kept at the office");
	}
	json_decref(clients);
	if (rc == VELD_OK && n > 0)
		veld__merge_forget(&s->m);
	if (removed)
		*removed = n;
	return rc;
}

int veld__policy_enforce(veld_store *s, const char *team, uint32_t mask, uint64_t acked,
                         int64_t *removed)
{
	return enforce(s, full_run, team, mask, 0, acked, removed);
}

int veld__policy_enforce_own(veld_store *s, const char *team, uint32_t mask, uint64_t after,
                             uint64_t acked, int64_t *removed)
{
	if (acked <= after) {
		if (removed)
			*removed = 0;
		return VELD_OK;
	}
	return enforce(s, range_run, team, mask, after, acked, removed);
}

int veld__policy_parse(const char *list, uint32_t *mask)
{
	char name[VELD_FIELD_MAX + 1];
	const char *p = list;
	*mask = 0;
	if (!list)
		return veld__err(VELD_EINVAL, "no field list given");
	while (*p) {
		size_t n = strcspn(p, ",");
		uint32_t bit;
		if (n == 0 || n > VELD_FIELD_MAX)
			return veld__err(VELD_EINVAL, "the field list must be names separated by commas");
		memcpy(name, p, n);
		name[n] = 0;
		if (!(bit = veld__policy_bit("client", name))) {
			if (strcmp(name, "name") == 0 || strcmp(name, "contact_person") == 0)
				return veld__err(VELD_EINVAL, "'%s' always reaches the team; list only the"
				                 " fields the policy governs", name);
			return veld__err(VELD_EINVAL, "'%s' is not a client field the policy governs"
			                 " (initials, birth_date, address, phone, care_status,"
			                 " care_decision, housing)", name);
		}
		*mask |= bit;
		p += n;
		if (*p == ',')
			p++;
	}
	return VELD_OK;
}

int veld_field_policy_get(veld_store *s, const char *team, char **json_out)
{
	json_t *o = NULL, *in, *out;
	uint64_t at = 0;
	uint32_t mask;
	char when[32];
	int rc = veld__enter_json(s, json_out, 0);
	if (rc)
		return rc;
	if (!team)
		team = s->team;
	if (!team[0] || strlen(team) > VELD_TEAM_MAX) {
		rc = veld__err(VELD_EINVAL, "which team? this store has none");
		goto out;
	}
	if ((rc = veld__policy_get(s, team, &at, &mask, NULL)) == VELD_ENOTFOUND) {
		veld__err_clear();
		rc = VELD_OK;
	}
	if (rc != VELD_OK)
		goto out;
	in = json_array();
	out = json_array();
	for (int i = 0; i < VELD_POLICY_NFIELDS; i++)
		json_array_append_new(mask & (1u << i) ? in : out, json_string(veld__policy_fields[i]));
	if (at)
		veld__iso8601(when, at);
	o = json_pack("{s:s, s:o, s:o, s:o, s:[ss], s:b}", "team", team,
	              "set", at ? json_string(when) : json_null(), "fields", in, "office_only", out,
	              "always", "name", "contact_person",
	              "applies", strcmp(team, s->team) == 0 && follows_policy(s));
	rc = o ? veld__json_answer(o, json_out) : veld__err(VELD_ENOMEM, "out of memory");
out:
	json_decref(o);
	veld__leave(s);
	return rc;
}
