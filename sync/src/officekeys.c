/* officekeys.c - the office's duties in sync: what it proves to devices.
 *
 *  - Invites: the code, its auth for the server, the team key sealed with
 *    the code (bound to the office's own keys, so the code proves them
 *    too), and the code's proof key, kept to check who enrolled with it.
 *  - Certificates: every device that enrolled with one of the office's
 *    invites, and proves it (its enrollment proof opens with the invite's
 *    proof key), is certified as a notice to its team; a device the server
 *    lists without such a proof is not.
 *  - Notices, numbered per team and signed: certificates, revocations,
 *    erasures, field policies. The office keeps every notice it issued and
 *    sends what the server does not hold yet.
 *  - Team keys, signed, sealed only to certified devices; their rotation
 *    after a revocation, with new versions of the team's client keys.
 *  - Dated checkpoints of each team, at every sync.
 * Each function is one step on the office's store (syncstate.h); client.c
 * drives HTTP. */
#include "devsync.h"
#include "auth.h"
#include "error.h"
#include "hlc.h"
#include "kinds.h"
#include "move.h"
#include "policy.h"
#include "records.h"
#include "retention.h"
#include "syncstate.h"
#include "trust.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int need_office(veld_store *s)
{
	if (!veld__store_is_office(s))
		return veld__err(VELD_EPERM, "only the office store can do this");
	return VELD_OK;
}

/* A setting of the office about one device or invite, in meta:
 * "<what>:<hex of id>". */
static void id_key(char *key, size_t cap, const char *what, const uint8_t *id, size_t n)
{
	char hex[2 * 32 + 1];
	veld__hex(hex, id, n);
	snprintf(key, cap, "%s:%s", what, hex);
}

/* A team a worker device can belong to. */
static int team_name_ok(const char *team)
{
	return team && veld__team_valid(team) && strcmp(team, "office") != 0;
}

/* ---- notices -------------------------------------------------------------------- */

void veld__notice_out_free(struct veld__notice_out *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->req.n; i++)
		free((void *)o->req.notices[i].body);
	free(o->req.notices);
	memset(o, 0, sizeof *o);
}

/* Append a notice to `out` (its body copied). */
static int out_add(struct veld__notice_out *out, const struct veld__notice_row *r)
{
	struct veld__notice *n;
	uint8_t *body;
	if (out->req.n == out->cap) {
		size_t cap = out->cap ? 2 * out->cap : 8;
		struct veld__notice *g;
		if (!(g = realloc(out->req.notices, cap * sizeof *g)))
			return veld__err(VELD_ENOMEM, "out of memory");
		out->req.notices = g;
		out->cap = cap;
	}
	if (!(body = malloc(r->body_len ? r->body_len : 1)))
		return veld__err(VELD_ENOMEM, "out of memory");
	memcpy(body, r->body, r->body_len);
	n = &out->req.notices[out->req.n++];
	memset(n, 0, sizeof *n);
	snprintf(n->team, sizeof n->team, "%s", r->team);
	n->n = r->n;
	snprintf(n->kind, sizeof n->kind, "%s", r->kind);
	n->at = r->at;
	n->body = body;
	n->body_len = r->body_len;
	memcpy(n->sig, r->sig, 64);
	return VELD_OK;
}

/* Make, sign and keep the office's next notice to `team` saying `b`; it
 * goes into `out` for the server. */
static int notice_issue(veld_store *s, const char *team, const struct veld__notice_body *b,
                        struct veld__notice_out *out)
{
	struct veld__notice_row r;
	msgpack_sbuffer sb;
	uint8_t msg[VELD_NOTICE_SIG_MSG_MAX];
	uint64_t last = 0;
	int rc;
	msgpack_sbuffer_init(&sb);
	if ((rc = veld__notice_last(s, team, &last)) != VELD_OK ||
	    (rc = veld__wire_notice_body_encode(&sb, b)) != VELD_OK)
		goto out;
	memset(&r, 0, sizeof r);
	snprintf(r.team, sizeof r.team, "%s", team);
	r.n = last + 1;
	snprintf(r.kind, sizeof r.kind, "%s", veld__notice_kind_name(b->kind));
	r.at = veld__hlc_now_ms();
	r.body = (const uint8_t *)sb.data;
	r.body_len = sb.size;
	veld__store_sign(s, r.sig, msg, veld__notice_sig_message(msg, r.team, r.n, r.kind, r.at,
	                                                         r.body, r.body_len));
	if ((rc = veld__notice_put(s, &r)) == VELD_OK)
		rc = out_add(out, &r);
out:
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

/* The notices of one team above what the server took ("published:TEAM"
 * in meta: the highest n it took): the first team that has any. Rows come
 * by team, then n: each team's mark is read once. */
struct unpublished {
	veld_store *s;
	struct veld__notice_out *out;
	char team[VELD_TEAM_MAX + 1];    /* the team chosen */
	char of_team[VELD_TEAM_MAX + 1]; /* whose mark `published` is */
	uint64_t published;
	size_t bytes; /* of the bodies taken */
};

static int add_unpublished(const struct veld__notice_row *r, void *arg)
{
	struct unpublished *u = arg;
	char key[VELD_TEAM_MAX + 16];
	int rc;
	/* One team a request, within the count and (record schemas are large)
	 * about 2 MiB of bodies: the rest goes in the next request. */
	if ((u->team[0] && strcmp(u->team, r->team) != 0) || u->out->req.n == VELD_WIRE_MAX_NOTICES ||
	    (u->out->req.n > 0 && u->bytes + r->body_len > 2u * 1024u * 1024u))
		return VELD_OK;
	if (strcmp(u->of_team, r->team) != 0) {
		snprintf(key, sizeof key, "published:%s", r->team);
		if ((rc = veld__sync_u64(u->s, key, &u->published)) != VELD_OK)
			return rc;
		snprintf(u->of_team, sizeof u->of_team, "%s", r->team);
	}
	if (r->n <= u->published)
		return VELD_OK;
	snprintf(u->team, sizeof u->team, "%s", r->team);
	u->bytes += r->body_len;
	return out_add(u->out, r);
}

int veld__office_unpublished(veld_store *s, struct veld__notice_out *out)
{
	struct unpublished u;
	struct veld__step step;
	int rc;
	memset(out, 0, sizeof *out);
	memset(&u, 0, sizeof u);
	u.s = s;
	u.out = out;
	if ((rc = veld__step_begin(s, &step, VELD_STEP_KEYS)) != VELD_OK)
		return rc;
	if ((rc = need_office(s)) == VELD_OK)
		rc = veld__notices_each(s, add_unpublished, &u);
	rc = veld__step_end(s, &step, rc);
	if (rc != VELD_OK)
		veld__notice_out_free(out);
	return rc;
}

/* The server took these notices: remember how far, and erase here the
 * clients they erase (nothing is erased here before the server did). */
int veld__office_published(veld_store *s, const struct veld__notice_req *req)
{
	struct veld__step step;
	int rc = veld__step_begin(s, &step, VELD_STEP_KEYS | VELD_STEP_WRITE);
	if (rc)
		return rc;
	for (size_t i = 0; rc == VELD_OK && i < req->n; i++) {
		const struct veld__notice *n = &req->notices[i];
		struct veld__notice_body b;
		char key[VELD_TEAM_MAX + 16];
		uint64_t published = 0;
		snprintf(key, sizeof key, "published:%s", n->team);
		if ((rc = veld__sync_u64(s, key, &published)) == VELD_OK && n->n > published)
			rc = veld__sync_set_u64(s, key, n->n);
		if (rc == VELD_OK && veld__notice_kind_of(n->kind) == VELD_NOTICE_ERASE &&
		    (rc = veld__wire_notice_body_decode(n->kind, n->body, n->body_len, &b)) == VELD_OK) {
			if ((rc = veld__client_erased_notice(s, b.id)) == VELD_OK)
				rc = veld__move_forget(s, b.id);
			step.checkpoint = 1;
		}
	}
	return veld__step_end(s, &step, rc);
}

/* The server lost notices of `team` from n on (restored from a backup):
 * send them again. */
int veld__office_republish(veld_store *s, const char *team, uint64_t n)
{
	struct veld__step step;
	char key[VELD_TEAM_MAX + 16];
	int rc = veld__step_begin(s, &step, VELD_STEP_WRITE);
	if (rc)
		return rc;
	snprintf(key, sizeof key, "published:%s", team);
	rc = veld__sync_set_u64(s, key, n > 0 ? n - 1 : 0);
	return veld__step_end(s, &step, rc);
}

/* ---- erasure, policy, revocation ---------------------------------------------------- */

/* An erase notice for every other client of `client`'s chain of moves
 * that is not erased. */
static int erase_chain(veld_store *s, const uint8_t client[VELD_ID_BYTES],
                       struct veld__notice_out *out)
{
	struct veld__move_chain ch;
	int rc = veld__move_chain(s, client, &ch);
	for (size_t i = 0; rc == VELD_OK && i < ch.n; i++) {
		struct veld__notice_body b;
		int erased;
		if (memcmp(ch.id[i], client, VELD_ID_BYTES) == 0)
			continue;
		if ((erased = veld__store_is_erased(s, ch.id[i])) < 0)
			return erased;
		if (erased)
			continue;
		memset(&b, 0, sizeof b);
		b.kind = VELD_NOTICE_ERASE;
		memcpy(b.id, ch.id[i], VELD_ID_BYTES);
		rc = notice_issue(s, ch.team[i], &b, out);
	}
	return rc;
}

int veld__office_erase_notice(veld_store *s, const char *client_id, uint8_t client[VELD_ID_BYTES],
                              struct veld__notice_out *out)
{
	struct veld__notice_body b;
	struct veld__step step;
	uint8_t entity[VELD_ID_BYTES];
	char team[VELD_TEAM_MAX + 1] = "";
	int rc = veld__step_begin(s, &step, VELD_STEP_KEYS | VELD_STEP_WRITE);
	memset(out, 0, sizeof *out);
	if (rc)
		return rc;
	if (!veld__store_is_office(s)) {
		rc = veld__err(VELD_EPERM, "only the office erases a client everywhere; this device"
		               " can erase it from its own store (veld client erase)");
	} else if ((rc = veld__resolve(s, "client", client_id, entity, client, team, NULL)) ==
	           VELD_ESHREDDED || rc == VELD_ENOTFOUND) {
		/* Erased here already (the server took the notice, or will at the
		 * next sync): a full id is enough; nothing new to announce. */
		if (client_id && veld__unhex(client, VELD_ID_BYTES, client_id) == 0 &&
		    veld__store_is_erased(s, client) == 1) {
			veld__err_clear();
			rc = VELD_OK;
		}
	} else if (rc == VELD_OK) {
		memset(&b, 0, sizeof b);
		b.kind = VELD_NOTICE_ERASE;
		memcpy(b.id, client, VELD_ID_BYTES);
		rc = notice_issue(s, team, &b, out);
	}
	/* A moved client is one person under every id of its chain of moves:
	 * an erasure of any of them erases each one not erased yet, by a notice
	 * to the team it is (was) in. */
	if (rc == VELD_OK)
		rc = erase_chain(s, client, out);
	rc = veld__step_end(s, &step, rc);
	if (rc != VELD_OK)
		veld__notice_out_free(out);
	return rc;
}

int veld__office_move_notice(veld_store *s, const char *client_id, const char *team,
                             uint8_t client[VELD_ID_BYTES], uint8_t new_client[VELD_ID_BYTES],
                             struct veld__notice_out *out)
{
	struct veld__notice_body b;
	struct veld__step step;
	char from[VELD_TEAM_MAX + 1] = "";
	int rc = veld__step_begin(s, &step, VELD_STEP_KEYS | VELD_STEP_WRITE);
	memset(out, 0, sizeof *out);
	if (rc)
		return rc;
	/* The notice and the copy in one transaction: the office never holds
	 * a move it did not copy, nor a copy it did not announce. */
	if ((rc = need_office(s)) == VELD_OK && (!team || !veld__team_valid(team)))
		rc = veld__err(VELD_EINVAL, "a team name is 1 to 64 of A-Z, a-z, 0-9, . _ @ -");
	if (rc == VELD_OK && (rc = veld__move_check(s, client_id, team, client, from)) == VELD_OK) {
		memset(&b, 0, sizeof b);
		b.kind = VELD_NOTICE_MOVE;
		memcpy(b.id, client, VELD_ID_BYTES);
		snprintf(b.to_team, sizeof b.to_team, "%s", team);
		if ((rc = notice_issue(s, from, &b, out)) == VELD_OK)
			rc = veld__move_copy(s, client, from, team,
			                     out->req.notices[out->req.n - 1].at, new_client);
	}
	rc = veld__step_end(s, &step, rc);
	if (rc != VELD_OK)
		veld__notice_out_free(out);
	return rc;
}

int veld__office_forward(veld_store *s, uint64_t *forwarded)
{
	struct veld__step step;
	int rc = veld__step_begin(s, &step, VELD_STEP_KEYS | VELD_STEP_WRITE);
	*forwarded = 0;
	if (rc)
		return rc;
	rc = veld__moves_forward(s, forwarded);
	return veld__step_end(s, &step, rc);
}

int veld__office_move_status(veld_store *s, const char *client_id, char **json_out)
{
	struct veld__step step;
	json_t *st = NULL;
	int rc = veld__step_begin(s, &step, 0);
	if (rc)
		return rc;
	if ((rc = veld__move_status(s, client_id, &st)) == VELD_OK &&
	    !(*json_out = json_dumps(st, JSON_COMPACT)))
		rc = veld__err(VELD_ENOMEM, "out of memory");
	json_decref(st);
	return veld__step_end(s, &step, rc);
}

int veld__office_policy_notice(veld_store *s, const char *team, uint32_t mask,
                               struct veld__notice_out *out)
{
	struct veld__notice_body b;
	struct veld__step step;
	char purpose[VELD_TEAM_MAX + 32];
	int rc = veld__step_begin(s, &step, VELD_STEP_KEYS | VELD_STEP_WRITE);
	memset(out, 0, sizeof *out);
	if (rc)
		return rc;
	if ((rc = need_office(s)) == VELD_OK && (mask & ~VELD_POLICY_ALL))
		rc = veld__err(VELD_EINVAL, "the policy names a field it does not govern");
	if (rc == VELD_OK) {
		memset(&b, 0, sizeof b);
		b.kind = VELD_NOTICE_POLICY;
		b.mask = mask;
		rc = notice_issue(s, team, &b, out);
	}
	if (rc == VELD_OK) {
		const struct veld__notice *n = &out->req.notices[out->req.n - 1];
		snprintf(purpose, sizeof purpose, "field policy of team %s", team);
		if ((rc = veld__policy_put(s, team, n->at, mask, n->sig)) == VELD_OK)
			rc = veld__audit(s, "policy-change", "success", NULL, purpose);
	}
	rc = veld__step_end(s, &step, rc);
	if (rc != VELD_OK)
		veld__notice_out_free(out);
	return rc;
}

/* ---- the record schema -------------------------------------------------------------- */

/* The record schema in force here, to `team` unless the team has it
 * (meta "schema_sent:TEAM": the version it was sent last). The built-in
 * version every store has goes to nobody. */
static int schema_to_team(veld_store *s, const char *team, struct veld__notice_out *out)
{
	struct veld__notice_body b;
	char key[VELD_TEAM_MAX + 16];
	uint64_t sent = 0;
	int rc;
	snprintf(key, sizeof key, "schema_sent:%s", team);
	if ((rc = veld__sync_u64(s, key, &sent)) != VELD_OK || sent >= s->schema->version ||
	    s->schema->version <= 1)
		return rc;
	memset(&b, 0, sizeof b);
	b.kind = VELD_NOTICE_SCHEMA;
	b.version = s->schema->version;
	b.doc = (const uint8_t *)s->schema->text;
	b.doc_len = s->schema->text_len;
	if ((rc = notice_issue(s, team, &b, out)) != VELD_OK)
		return rc;
	return veld__sync_set_u64(s, key, s->schema->version);
}

/* The teams, collected before notices are added to a table they come from. */
static int team_collect(const char *team, void *arg)
{
	return json_array_append_new(arg, json_string(team)) == 0 ? VELD_OK
	       : veld__err(VELD_ENOMEM, "out of memory");
}

int veld__office_schema_notice(veld_store *s, const char *text, size_t len,
                               struct veld__notice_out *out)
{
	struct veld__step step;
	json_t *teams = json_array();
	char purpose[64];
	int rc = veld__step_begin(s, &step, VELD_STEP_KEYS | VELD_STEP_WRITE);
	memset(out, 0, sizeof *out);
	if (rc) {
		json_decref(teams);
		return rc;
	}
	if ((rc = need_office(s)) == VELD_OK &&
	    (rc = veld__schema_adopt(s, text, len, veld__hlc_now_ms())) == VELD_OK)
		rc = veld__teams_each(s, team_collect, teams);
	for (size_t i = 0; rc == VELD_OK && i < json_array_size(teams); i++)
		rc = schema_to_team(s, json_string_value(json_array_get(teams, i)), out);
	json_decref(teams);
	if (rc == VELD_OK) {
		snprintf(purpose, sizeof purpose, "record schema version %llu",
		         (unsigned long long)s->schema->version);
		rc = veld__audit(s, "policy-change", "success", NULL, purpose);
	}
	rc = veld__step_end(s, &step, rc);
	if (rc != VELD_OK)
		veld__notice_out_free(out);
	return rc;
}

int veld__office_revoke_begin(veld_store *s, const uint8_t device[VELD_ID_BYTES],
                              char team[VELD_TEAM_MAX + 1])
{
	struct veld__step step;
	struct veld__cert c;
	char key[80];
	int rc = veld__step_begin(s, &step, VELD_STEP_WRITE), none = 0;
	if (rc)
		return rc;
	if ((rc = need_office(s)) == VELD_OK && (rc = veld__cert_get(s, device, &c)) == VELD_OK) {
		snprintf(team, VELD_TEAM_MAX + 1, "%s", c.team);
	} else if (rc == VELD_ENOTFOUND) {
		/* Never certified: there is no team to tell, and it must not be
		 * certified later with the invite it may have used. */
		veld__err_clear();
		id_key(key, sizeof key, "never_certify", device, VELD_ID_BYTES);
		none = 1;
		rc = veld__sync_set_u64(s, key, 1);
	}
	rc = veld__step_end(s, &step, rc);
	return rc == VELD_OK && none ? VELD_ENOTFOUND : rc;
}

int veld__office_revoke_notice(veld_store *s, const uint8_t device[VELD_ID_BYTES],
                               const char *team, uint64_t acked, struct veld__notice_out *out)
{
	struct veld__notice_body b;
	struct veld__step step;
	struct veld__cert c;
	char hex[2 * VELD_ID_BYTES + 1], line[300];
	uint64_t seen = 0;
	int rc = veld__step_begin(s, &step, VELD_STEP_KEYS | VELD_STEP_WRITE);
	memset(out, 0, sizeof *out);
	if (rc)
		return rc;
	veld__hex(hex, device, VELD_ID_BYTES);
	/* The team is the office's own word, its certificate: never the one
	 * the server names, or the notice and the key rotation would go to
	 * another team and the device would stay trusted in its own. */
	if ((rc = need_office(s)) == VELD_OK && (rc = veld__cert_get(s, device, &c)) == VELD_ENOTFOUND)
		rc = veld__err(VELD_EPROTO, "device %s has no certificate of this office: a revocation"
		               " is announced only to the team the office certified the device for",
		               hex);
	else if (rc == VELD_OK && strcmp(c.team, team) != 0)
		rc = veld__err(VELD_EPROTO, "the server says device %s is of team %s, but the office"
		               " certified it for team %s: nothing was announced (a revocation goes only"
		               " to the team of the office's own certificate, never to one the server"
		               " names)", hex, team, c.team);
	if (rc != VELD_OK || c.revoked) /* revoked here already: announced then */
		goto done;
	/* The last seq is what the office itself received and verified of the
	 * device (it pulled first): every device then accepts the same
	 * operations of it and nothing after. A server that claims to hold
	 * more is not believed, but said. */
	if ((rc = veld__author_seen(s, device, &seen)) != VELD_OK)
		goto done;
	if (acked > seen) {
		snprintf(line, sizeof line, "the server claimed to hold operations up to %llu of revoked"
		         " device %s but delivered only up to %llu: the revocation accepts those up to"
		         " %llu, later ones are refused everywhere", (unsigned long long)acked, hex,
		         (unsigned long long)seen, (unsigned long long)seen);
		if ((rc = veld__sync_warn(s, line)) != VELD_OK)
			goto done;
	}
	memset(&b, 0, sizeof b);
	b.kind = VELD_NOTICE_REVOKE;
	memcpy(b.id, device, VELD_ID_BYTES);
	b.last_seq = seen;
	if ((rc = notice_issue(s, c.team, &b, out)) == VELD_OK)
		rc = veld__cert_revoke(s, device, seen, NULL);
done:
	rc = veld__step_end(s, &step, rc);
	if (rc != VELD_OK)
		veld__notice_out_free(out);
	return rc;
}

/* ---- certificates ------------------------------------------------------------------- */

/* The office holds its invites to what it made them for, whatever the
 * server enforces: one device per invite (the first the office certifies
 * with it, recorded as "invite_used:AUTH"), and enrolled no later than the
 * invite's expiry ("invite_expires:AUTH", kept when the office made it)
 * plus INVITE_SLACK_MS: the server stamps `enrolled` with its clock, which
 * may differ from the office's by up to the request window (a request
 * further off is refused as stale). 1 if usable by `d`, 0 if not. */
#define INVITE_SLACK_MS VELD_AUTH_WINDOW_MS

static int invite_usable(veld_store *s, const struct veld__device_info *d)
{
	uint8_t used[VELD_ID_BYTES];
	uint64_t expires = 0;
	char key[100];
	int rc;
	id_key(key, sizeof key, "invite_used", d->auth, 32);
	if ((rc = veld__sync_bytes(s, key, used, sizeof used)) == VELD_OK)
		return sodium_memcmp(used, d->device, VELD_ID_BYTES) == 0;
	if (rc != VELD_ENOTFOUND)
		return rc;
	veld__err_clear();
	id_key(key, sizeof key, "invite_expires", d->auth, 32);
	if ((rc = veld__sync_u64(s, key, &expires)) != VELD_OK)
		return rc;
	return expires > 0 && d->enrolled <= expires + INVITE_SLACK_MS;
}

/* The invite `d` enrolled with is used up: by `d`. */
static int invite_use(veld_store *s, const struct veld__device_info *d)
{
	char key[100];
	if (!d->has_auth)
		return VELD_OK;
	id_key(key, sizeof key, "invite_used", d->auth, 32);
	return veld__sync_set_bytes(s, key, d->device, VELD_ID_BYTES);
}

/* Devices enrolled before certificates existed (veld 0.1): the office
 * pinned only their signing key then ("peers"). Their box key, to which
 * team keys are sealed, and their team are the server's word, so the
 * operator confirms both (veld__office_legacy): "legacy_fp:DEVICE" keeps
 * the fingerprint of the keys confirmed, "legacy_team:DEVICE" the team. */
static int pinned_key(veld_store *s, const struct veld__device_info *d, int *same)
{
	uint8_t pinned[32];
	int rc = veld__peer_get(s, d->device, pinned);
	*same = rc == VELD_OK && sodium_memcmp(pinned, d->sign_pk, 32) == 0;
	if (rc == VELD_ENOTFOUND) {
		veld__err_clear();
		return VELD_ENOTFOUND;
	}
	return rc;
}

static int legacy_confirmed(veld_store *s, const struct veld__device_info *d,
                            char team[VELD_TEAM_MAX + 1])
{
	uint8_t fp[32], want[32];
	char key[80];
	int rc, same;
	if ((rc = pinned_key(s, d, &same)) == VELD_ENOTFOUND || (rc == VELD_OK && !same))
		return 0;
	if (rc != VELD_OK)
		return rc;
	id_key(key, sizeof key, "legacy_fp", d->device, VELD_ID_BYTES);
	if ((rc = veld__sync_bytes(s, key, want, sizeof want)) == VELD_ENOTFOUND) {
		veld__err_clear();
		return 0; /* the operator has not confirmed it */
	}
	if (rc != VELD_OK)
		return rc;
	id_key(key, sizeof key, "legacy_team", d->device, VELD_ID_BYTES);
	if ((rc = veld__sync_text(s, key, team, VELD_TEAM_MAX + 1)) != VELD_OK)
		return rc;
	veld__key_fingerprint(fp, d->device, d->sign_pk, d->box_pk);
	return sodium_memcmp(fp, want, 32) == 0 && strcmp(team, d->team) == 0 && team_name_ok(team);
}

int veld__office_legacy(veld_store *s, const struct veld__device_info *d, const char *team,
                        const char *fingerprint, char fp_text[VELD_FINGERPRINT_TEXT])
{
	struct veld__step step;
	struct veld__cert c;
	uint8_t fp[32];
	char hex[2 * VELD_ID_BYTES + 1], key[80];
	int rc = veld__step_begin(s, &step, VELD_STEP_KEYS | VELD_STEP_WRITE), same = 0;
	if (rc)
		return rc;
	veld__hex(hex, d->device, VELD_ID_BYTES);
	veld__key_fingerprint(fp, d->device, d->sign_pk, d->box_pk);
	veld__fingerprint_text(fp_text, fp);
	if ((rc = need_office(s)) != VELD_OK)
		goto done;
	if (d->has_auth) {
		rc = veld__err(VELD_EINVAL, "device %s enrolled with an invite: the office certifies it"
		               " at its next sync if its enrollment proof holds", hex);
		goto done;
	}
	if ((rc = veld__cert_get(s, d->device, &c)) == VELD_OK) {
		rc = veld__err(VELD_EEXISTS, "device %s is certified already (team %s)", hex, c.team);
		goto done;
	}
	if (rc != VELD_ENOTFOUND)
		goto done;
	veld__err_clear();
	if (d->revoked || strcmp(d->role, "worker") != 0) {
		rc = veld__err(VELD_EINVAL, "device %s is %s: it is not certified", hex,
		               d->revoked ? "revoked" : "not a worker device");
		goto done;
	}
	if ((rc = pinned_key(s, d, &same)) == VELD_ENOTFOUND) {
		rc = veld__err(VELD_EPROTO, "this office never saw device %s under veld 0.1, so it"
		               " holds no key of it: it cannot be certified this way (enroll it with an"
		               " invite)", hex);
		goto done;
	}
	if (rc == VELD_OK && !same)
		rc = veld__err(VELD_EPROTO, "the server lists another signing key for device %s than"
		               " the one this office pinned: do not certify it", hex);
	if (rc != VELD_OK || (!team && !fingerprint))
		goto done;
	if (!team || !fingerprint || !team_name_ok(team)) {
		rc = veld__err(VELD_EINVAL, "confirming a device needs its team and its fingerprint");
	} else if (strcmp(team, d->team) != 0) {
		rc = veld__err(VELD_EPROTO, "the server lists device %s for team %s, not %s: not"
		               " certified", hex, d->team, team);
	} else if (!veld__fingerprint_matches(fingerprint, fp)) {
		rc = veld__err(VELD_EPROTO, "the fingerprint given is not the one of the keys the"
		               " server lists for device %s (%s): do not certify it, the server may"
		               " have replaced its keys", hex, fp_text);
	} else {
		id_key(key, sizeof key, "legacy_fp", d->device, VELD_ID_BYTES);
		if ((rc = veld__sync_set_bytes(s, key, fp, sizeof fp)) == VELD_OK) {
			id_key(key, sizeof key, "legacy_team", d->device, VELD_ID_BYTES);
			rc = veld__sync_set_text(s, key, team);
		}
	}
done:
	return veld__step_end(s, &step, rc);
}

/* May the office certify this listed device, and for which team? An
 * invite of this office's whose proof key opens the device's proof; or,
 * for a device enrolled before certificates existed, the key this office
 * pinned for it then (`peers`) with the operator's confirmation of its
 * keys and team. 1 with *team set, 0 if not. */
static int certifiable(veld_store *s, const struct veld__device_info *d, char team[VELD_TEAM_MAX + 1])
{
	uint8_t key[32], proof[32];
	int rc;
	if (d->has_auth) {
		if ((rc = veld__invite_get(s, d->auth, team, key)) == VELD_ENOTFOUND)
			return 0;
		if (rc != VELD_OK)
			return rc;
		veld__enroll_proof(proof, key, d->device, d->sign_pk, d->box_pk);
		sodium_memzero(key, sizeof key);
		if (sodium_memcmp(proof, d->proof, 32) != 0 || strcmp(team, d->team) != 0)
			return 0;
		return invite_usable(s, d);
	}
	return legacy_confirmed(s, d, team);
}

/* A device certified for `team` gets every key version the office holds of
 * the team (veld__office_keys_due): marked here, cleared once the server
 * took them all. */
#define KEYS_DUE "keys_due:"

static int keys_due(veld_store *s, const char *team)
{
	char key[sizeof KEYS_DUE + VELD_TEAM_MAX];
	snprintf(key, sizeof key, KEYS_DUE "%s", team);
	return veld__sync_set_u64(s, key, 1);
}

static int certify_one(veld_store *s, const struct veld__device_info *d,
                       struct veld__notice_out *out, size_t *refused)
{
	struct veld__notice_body b;
	struct veld__cert c;
	char team[VELD_TEAM_MAX + 1], key[80];
	uint64_t never = 0;
	int rc, ok;
	if (d->revoked || strcmp(d->role, "worker") != 0)
		return VELD_OK;
	if ((rc = veld__cert_get(s, d->device, &c)) != VELD_ENOTFOUND)
		return rc; /* certified already (or a failure) */
	/* The office revoked it before it was ever certified. */
	id_key(key, sizeof key, "never_certify", d->device, VELD_ID_BYTES);
	if ((rc = veld__sync_u64(s, key, &never)) != VELD_OK || never)
		return rc;
	if ((ok = certifiable(s, d, team)) < 0)
		return ok;
	if (!ok) {
		(*refused)++;
		return VELD_OK;
	}
	memset(&b, 0, sizeof b);
	b.kind = VELD_NOTICE_CERT;
	memcpy(b.id, d->device, VELD_ID_BYTES);
	memcpy(b.sign_pk, d->sign_pk, 32);
	memcpy(b.box_pk, d->box_pk, 32);
	snprintf(b.role, sizeof b.role, "worker");
	b.enrolled = d->enrolled;
	memset(&c, 0, sizeof c);
	memcpy(c.device, d->device, VELD_ID_BYTES);
	snprintf(c.team, sizeof c.team, "%s", team);
	snprintf(c.role, sizeof c.role, "worker");
	memcpy(c.sign_pk, d->sign_pk, 32);
	memcpy(c.box_pk, d->box_pk, 32);
	c.enrolled = d->enrolled;
	/* A team's first device: the team gets the record schema too. */
	if ((rc = notice_issue(s, team, &b, out)) == VELD_OK &&
	    (rc = schema_to_team(s, team, out)) == VELD_OK &&
	    (rc = veld__cert_put(s, &c)) == VELD_OK && (rc = invite_use(s, d)) == VELD_OK &&
	    (rc = keys_due(s, team)) == VELD_OK)
		rc = veld__audit(s, "certify", "success", NULL, "device enrollment");
	return rc;
}

int veld__office_certify(veld_store *s, const struct veld__devices_resp *devices,
                         struct veld__notice_out *out, size_t *refused)
{
	struct veld__step step;
	int rc = veld__step_begin(s, &step, VELD_STEP_KEYS | VELD_STEP_WRITE);
	memset(out, 0, sizeof *out);
	*refused = 0;
	if (rc)
		return rc;
	rc = need_office(s);
	for (size_t i = 0; rc == VELD_OK && i < devices->ndevices; i++)
		rc = certify_one(s, &devices->devices[i], out, refused);
	rc = veld__step_end(s, &step, rc);
	if (rc != VELD_OK)
		veld__notice_out_free(out);
	return rc;
}

/* ---- checkpoints --------------------------------------------------------------------- */

void veld__checkpoint_out_free(struct veld__checkpoint_out *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->req.n; i++)
		free((void *)o->req.checkpoints[i].heads);
	free(o->req.checkpoints);
	memset(o, 0, sizeof *o);
}

/* The heads of one team: device || BE64(seq) per author, devices in
 * increasing order (certs_each gives that order). */
struct heads {
	veld_store *s;
	uint8_t *buf;
	size_t n, cap;
};

static int head_add(struct heads *h, const uint8_t device[VELD_ID_BYTES], uint64_t seq)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 16;
		uint8_t *g;
		if (cap > VELD_WIRE_MAX_HEADS)
			return veld__err(VELD_EINVAL, "a team with more than %d devices", VELD_WIRE_MAX_HEADS);
		if (!(g = realloc(h->buf, cap * 24)))
			return veld__err(VELD_ENOMEM, "out of memory");
		h->buf = g;
		h->cap = cap;
	}
	memcpy(h->buf + 24 * h->n, device, VELD_ID_BYTES);
	veld__be64_put(h->buf + 24 * h->n + VELD_ID_BYTES, seq);
	h->n++;
	return VELD_OK;
}

/* A revoked device's head is at most its revocation's last seq: what a
 * server hands out above it (it refuses such pushes; only a malicious one
 * has any) is quarantined everywhere and exists nowhere else, so counting it
 * would have every device's sync refused for good. */
static int head_of_cert(const struct veld__cert *c, void *arg)
{
	struct heads *h = arg;
	uint64_t seen = 0;
	int rc = veld__author_seen(h->s, c->device, &seen);
	if (c->revoked && seen > c->revoked_seq)
		seen = c->revoked_seq;
	return rc == VELD_OK && seen > 0 ? head_add(h, c->device, seen) : rc;
}

/* The office's own operations: those the server acknowledged and sent back
 * (an `acked` a server inflated would make every device fail the
 * checkpoint, with the office's signature on a false statement). */
static int head_of_office(struct heads *h)
{
	uint64_t held = 0;
	int rc = veld__own_seen(h->s, &held);
	return rc == VELD_OK && held > 0 ? head_add(h, veld__store_device(h->s), held) : rc;
}

static int by_device(const void *a, const void *b)
{
	return memcmp(a, b, VELD_ID_BYTES);
}

/* Room for one more checkpoint in `out`. */
static int checkpoint_room(struct veld__checkpoint_out *out)
{
	size_t cap = out->cap ? 2 * out->cap : 8;
	struct veld__checkpoint *g;
	if (out->req.n < out->cap)
		return VELD_OK;
	if (cap > VELD_WIRE_MAX_NOTICES)
		return veld__err(VELD_EINVAL, "more than %d teams", VELD_WIRE_MAX_NOTICES);
	if (!(g = realloc(out->req.checkpoints, cap * sizeof *g)))
		return veld__err(VELD_ENOMEM, "out of memory");
	out->req.checkpoints = g;
	out->cap = cap;
	return VELD_OK;
}

static int checkpoint_team(const char *team, void *arg)
{
	struct veld__checkpoint_out *out = arg;
	struct heads h = {out->s, NULL, 0, 0};
	struct veld__checkpoint *cp;
	uint8_t msg[VELD_CHECKPOINT_SIG_MSG_MAX];
	uint64_t n = 0;
	int rc;
	if ((rc = veld__certs_each(h.s, team, head_of_cert, &h)) != VELD_OK ||
	    (rc = head_of_office(&h)) != VELD_OK || (rc = veld__notice_last(h.s, team, &n)) != VELD_OK ||
	    (rc = checkpoint_room(out)) != VELD_OK || (!h.buf && !(h.buf = malloc(1)))) {
		free(h.buf);
		return rc != VELD_OK ? rc : veld__err(VELD_ENOMEM, "out of memory");
	}
	qsort(h.buf, h.n, 24, by_device);
	cp = &out->req.checkpoints[out->req.n++];
	memset(cp, 0, sizeof *cp);
	snprintf(cp->team, sizeof cp->team, "%s", team);
	cp->at = veld__hlc_now_ms();
	cp->n = n;
	cp->heads = h.buf;
	cp->heads_len = 24 * h.n;
	veld__store_sign(h.s, cp->sig, msg, veld__checkpoint_sig_message(msg, cp->team, cp->at, cp->n,
	                                                                 cp->heads, cp->heads_len));
	return VELD_OK;
}

int veld__office_checkpoints(veld_store *s, struct veld__checkpoint_out *out)
{
	struct veld__step step;
	int rc = veld__step_begin(s, &step, VELD_STEP_KEYS);
	memset(out, 0, sizeof *out);
	out->s = s;
	if (rc)
		return rc;
	if ((rc = need_office(s)) == VELD_OK)
		rc = veld__teams_each(s, checkpoint_team, out);
	rc = veld__step_end(s, &step, rc);
	if (rc != VELD_OK)
		veld__checkpoint_out_free(out);
	return rc;
}

/* ---- invites and team keys ------------------------------------------------------------ */

/* A new team key version (tv = current + 1), stored; secret half in sk. */
static int new_team_key(veld_store *s, const char *team, uint64_t *tv, uint8_t pk[32], uint8_t *sk)
{
	uint64_t cur = 0;
	uint8_t oldpk[32];
	if (veld__team_key_get(s, team, &cur, oldpk, NULL) != VELD_OK) {
		veld__err_clear();
		cur = 0;
	}
	*tv = cur + 1;
	crypto_box_keypair(pk, sk);
	return veld__team_key_put(s, team, *tv, pk, sk);
}

/* The invite's code, its auth, the team's current key (made first, version
 * 1, for a new team) sealed with the code and bound to the office's keys,
 * and the code's proof key kept for certifying. */
static int invite_make(veld_store *s, const char *team, uint8_t *sk, char code_text[48],
                       struct veld__invite_req *req, int *new_team)
{
	uint8_t code[VELD_CODE_BYTES], ckey[32], pkey[32], pk[32], ad[VELD_INVITE_AD_MAX];
	uint64_t tv = 0;
	int rc;
	if (veld__team_key_get(s, team, &tv, pk, sk) != VELD_OK) {
		veld__err_clear();
		if ((rc = new_team_key(s, team, &tv, pk, sk)) != VELD_OK)
			return rc;
		*new_team = 1;
	}
	veld__code_new(code, code_text);
	veld__code_auth(req->auth, code);
	veld__code_key(ckey, code);
	veld__code_proof_key(pkey, code);
	snprintf(req->team, sizeof req->team, "%s", team);
	req->tv = tv;
	veld__seal(req->team_sealed, sk, 32, ad,
	           veld__invite_ad(ad, team, tv, veld__store_device(s), veld__store_sign_pk(s),
	                           veld__store_box_pk(s)), ckey);
	rc = veld__invite_put(s, req->auth, team, pkey, req->expires);
	/* Kept for certifying (invite_usable): trust.h's invites table keeps
	 * it too, but does not give it back. */
	if (rc == VELD_OK) {
		char key[100];
		id_key(key, sizeof key, "invite_expires", req->auth, 32);
		rc = veld__sync_set_u64(s, key, req->expires);
	}
	sodium_memzero(code, sizeof code);
	sodium_memzero(ckey, sizeof ckey);
	sodium_memzero(pkey, sizeof pkey);
	return rc == VELD_OK ? veld__audit(s, "invite", "success", NULL, "device enrollment") : rc;
}

int veld__office_invite(veld_store *s, const char *team, uint64_t expires_ms,
                        char code_text[48], struct veld__invite_req *req, int *new_team)
{
	struct veld__step step;
	uint8_t *sk;
	int rc;
	*new_team = 0;
	memset(req, 0, sizeof *req);
	req->expires = expires_ms;
	if (!(sk = veld__secret_new(32)))
		return veld__err(VELD_ENOMEM, "out of memory");
	if ((rc = veld__step_begin(s, &step, VELD_STEP_KEYS | VELD_STEP_WRITE)) == VELD_OK) {
		if ((rc = need_office(s)) == VELD_OK && !team_name_ok(team))
			rc = veld__err(VELD_EINVAL, "a team name is 1-64 letters, digits or ._@- (not"
			               " 'office')");
		if (rc == VELD_OK)
			rc = invite_make(s, team, sk, code_text, req, new_team);
		rc = veld__step_end(s, &step, rc);
	}
	veld__secret_free(sk);
	return rc;
}

void veld__team_keys_out_free(struct veld__team_keys_out *o)
{
	if (!o)
		return;
	free(o->req.sealed);
	memset(o, 0, sizeof *o);
}

/* The team key's secret half sealed to each device the office certified for
 * the team and did not revoke: never to one only the server lists. */
struct sealing {
	const uint8_t *sk;
	struct veld__team_keys_req *req;
	size_t cap;
};

static int seal_to_cert(const struct veld__cert *c, void *arg)
{
	struct sealing *x = arg;
	struct veld__sealed_for *f;
	if (c->revoked)
		return VELD_OK;
	if (x->req->nsealed == x->cap) {
		size_t cap = x->cap ? 2 * x->cap : 16;
		struct veld__sealed_for *g = realloc(x->req->sealed, cap * sizeof *g);
		if (!g)
			return veld__err(VELD_ENOMEM, "out of memory");
		x->req->sealed = g;
		x->cap = cap;
	}
	f = &x->req->sealed[x->req->nsealed++];
	memcpy(f->device, c->device, VELD_ID_BYTES);
	crypto_box_seal(f->sealed, x->sk, 32, c->box_pk);
	return VELD_OK;
}

/* With rotate, a new team key version first, and new versions of every
 * client key of the team (what is written from now on is sealed with keys
 * a revoked device never held), while every version held is shared again
 * with the new team key (a device of the team can still read what was
 * written before). */
static int team_key_for(veld_store *s, const char *team, int rotate, uint64_t *tv,
                        uint8_t pk[32], uint8_t *sk)
{
	int rc;
	if (!rotate)
		return veld__team_key_get(s, team, tv, pk, sk); /* *tv 0: the current one */
	if ((rc = new_team_key(s, team, tv, pk, sk)) != VELD_OK ||
	    (rc = veld__keys_rotate_team(s, team)) != VELD_OK)
		return rc;
	return veld__audit(s, "team-key-rotate", "success", NULL, "revocation");
}

/* The team-keys request of version tv (0: the current one; rotate: a new
 * one), sealed to the team's certified devices. */
static int team_keys_out(veld_store *s, const char *team, int rotate, uint64_t tv,
                         struct veld__team_keys_out *out);

int veld__office_team_keys(veld_store *s, const char *team, int rotate,
                           struct veld__team_keys_out *out)
{
	return team_keys_out(s, team, rotate, 0, out);
}

int veld__office_team_key_version(veld_store *s, const char *team, uint64_t tv,
                                  struct veld__team_keys_out *out)
{
	return team_keys_out(s, team, 0, tv, out);
}

static int due_team(const char *team, void *arg)
{
	struct veld__team_list *l = arg;
	char key[sizeof KEYS_DUE + VELD_TEAM_MAX];
	uint64_t due = 0;
	int rc;
	snprintf(key, sizeof key, KEYS_DUE "%s", team);
	if ((rc = veld__sync_u64(l->s, key, &due)) != VELD_OK || !due)
		return rc;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 4;
		char(*g)[VELD_TEAM_MAX + 1] = realloc(l->team, cap * sizeof *g);
		if (!g)
			return veld__err(VELD_ENOMEM, "out of memory");
		l->team = g;
		l->cap = cap;
	}
	snprintf(l->team[l->n++], VELD_TEAM_MAX + 1, "%s", team);
	return VELD_OK;
}

int veld__office_keys_due(veld_store *s, struct veld__team_list *out)
{
	struct veld__step step;
	int rc = veld__step_begin(s, &step, 0);
	memset(out, 0, sizeof *out);
	out->s = s;
	if (rc)
		return rc;
	if ((rc = need_office(s)) == VELD_OK)
		rc = veld__teams_each(s, due_team, out);
	rc = veld__step_end(s, &step, rc);
	if (rc != VELD_OK)
		veld__team_list_free(out);
	return rc;
}

int veld__office_keys_shared(veld_store *s, const char *team)
{
	struct veld__step step;
	char key[sizeof KEYS_DUE + VELD_TEAM_MAX];
	int rc = veld__step_begin(s, &step, VELD_STEP_WRITE);
	if (rc)
		return rc;
	snprintf(key, sizeof key, KEYS_DUE "%s", team);
	return veld__step_end(s, &step, veld__sync_set_u64(s, key, 0));
}

void veld__team_list_free(struct veld__team_list *l)
{
	if (!l)
		return;
	free(l->team);
	memset(l, 0, sizeof *l);
}

static int team_keys_out(veld_store *s, const char *team, int rotate, uint64_t want,
                         struct veld__team_keys_out *out)
{
	struct veld__step step;
	struct sealing x;
	uint8_t *sk, msg[VELD_TEAM_KEY_SIG_MSG_MAX];
	uint64_t tv = want;
	int rc;
	memset(out, 0, sizeof *out);
	if (!(sk = veld__secret_new(32)))
		return veld__err(VELD_ENOMEM, "out of memory");
	if ((rc = veld__step_begin(s, &step, VELD_STEP_KEYS | VELD_STEP_WRITE)) == VELD_OK) {
		if ((rc = need_office(s)) == VELD_OK &&
		    (rc = team_key_for(s, team, rotate, &tv, out->req.pk, sk)) == VELD_OK) {
			x.sk = sk;
			x.req = &out->req;
			x.cap = 0;
			rc = veld__certs_each(s, team, seal_to_cert, &x);
		}
		if (rc == VELD_OK) {
			snprintf(out->req.team, sizeof out->req.team, "%s", team);
			out->req.tv = tv;
			veld__store_sign(s, out->req.sig, msg,
			                 veld__team_key_sig_message(msg, team, tv, out->req.pk));
		}
		rc = veld__step_end(s, &step, rc);
	}
	veld__secret_free(sk);
	if (rc != VELD_OK)
		veld__team_keys_out_free(out);
	return rc;
}
