/* officekeys.c - the office's duties in sync: invites and team keys, the
 * key rotation after a revocation, and the signed erasures and field
 * policies every device checks against the office's key. Each function is
 * one step on the office's store (syncstate.h); client.c drives HTTP. */
#include "devsync.h"
#include "auth.h"
#include "error.h"
#include "hlc.h"
#include "policy.h"
#include "records.h"
#include "syncstate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int need_office(veld_store *s)
{
	if (!veld__store_is_office(s))
		return veld__err(VELD_EPERM, "only the office store can do this");
	return VELD_OK;
}

/* A team a worker device can belong to. */
static int team_name_ok(const char *team)
{
	size_t n = team ? strlen(team) : 0;
	return n > 0 && n <= VELD_TEAM_MAX && strcmp(team, "office") != 0 &&
	       strspn(team, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-") == n;
}

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

int veld__office_erase_client(veld_store *s, const char *client_id,
                              struct veld__erase_req *req)
{
	struct veld__step step;
	uint8_t *client = req->client, msg[VELD_ERASE_SIG_MSG];
	uint8_t entity[VELD_ID_BYTES];
	int rc = veld__step_begin(s, &step, VELD_STEP_KEYS);
	if (rc)
		return rc;
	if (!veld__store_is_office(s)) {
		rc = veld__err(VELD_EPERM, "only the office erases a client everywhere; this device"
		               " can erase it from its own store (veld client erase)");
	} else if ((rc = veld__resolve(s, "client", client_id, entity, client, NULL, NULL)) ==
	           VELD_ESHREDDED || rc == VELD_ENOTFOUND) {
		/* Erased here already (an erasure the server did not confirm): a
		 * full id is enough to finish it. */
		if (client_id && veld__unhex(client, VELD_ID_BYTES, client_id) == 0 &&
		    veld__store_is_erased(s, client) == 1) {
			veld__err_clear();
			rc = VELD_OK;
		}
	}
	if (rc == VELD_OK) {
		req->at = veld__hlc_now_ms();
		veld__erase_sig_message(msg, client, req->at);
		veld__store_sign(s, req->sig, msg, sizeof msg);
	}
	return veld__step_end(s, &step, rc);
}

int veld__office_policy_sign(veld_store *s, const char *team, uint32_t mask,
                             struct veld__field_policy *out)
{
	struct veld__step step;
	uint8_t msg[VELD_POLICY_SIG_MSG_MAX];
	uint64_t at = 0;
	uint32_t old;
	int rc = veld__step_begin(s, &step, VELD_STEP_KEYS);
	if (rc)
		return rc;
	memset(out, 0, sizeof *out);
	if ((rc = need_office(s)) != VELD_OK)
		goto out;
	if (mask & ~VELD_POLICY_ALL) {
		rc = veld__err(VELD_EINVAL, "the policy names a field it does not govern");
		goto out;
	}
	if ((rc = veld__policy_get(s, team, &at, &old, NULL)) == VELD_ENOTFOUND) {
		veld__err_clear();
		rc = VELD_OK;
	}
	if (rc != VELD_OK)
		goto out;
	snprintf(out->team, sizeof out->team, "%s", team);
	out->at = veld__hlc_now_ms();
	if (out->at <= at) /* never back in time, also with a clock set back */
		out->at = at + 1;
	out->mask = mask;
	veld__store_sign(s, out->sig, msg, veld__policy_sig_message(msg, team, out->at, mask));
out:
	return veld__step_end(s, &step, rc);
}

int veld__office_policy_saved(veld_store *s, const struct veld__field_policy *p)
{
	struct veld__step step;
	char purpose[VELD_TEAM_MAX + 32];
	int rc = veld__step_begin(s, &step, VELD_STEP_KEYS | VELD_STEP_WRITE);
	if (rc)
		return rc;
	snprintf(purpose, sizeof purpose, "field policy of team %s", p->team);
	if ((rc = veld__policy_put(s, p->team, p->at, p->mask, p->sig)) == VELD_OK)
		rc = veld__audit(s, "policy-change", "success", NULL, purpose);
	return veld__step_end(s, &step, rc);
}

/* The invite's code, its auth, and the team's current key (made first,
 * version 1, for a new team) sealed with the code. */
static int invite_make(veld_store *s, const char *team, uint8_t *sk, char code_text[48],
                       struct veld__invite_req *req, int *new_team)
{
	uint8_t code[VELD_CODE_BYTES], ckey[32], pk[32], ad[VELD_INVITE_AD_MAX];
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
	snprintf(req->team, sizeof req->team, "%s", team);
	req->tv = tv;
	veld__seal(req->team_sealed, sk, 32, ad, veld__invite_ad(ad, team, tv), ckey);
	sodium_memzero(code, sizeof code);
	sodium_memzero(ckey, sizeof ckey);
	return veld__audit(s, "invite", "success", NULL, "device enrollment");
}

int veld__office_invite(veld_store *s, const char *team, uint64_t expires_ms,
                        char code_text[48], struct veld__invite_req *req, int *new_team)
{
	struct veld__step step;
	uint8_t *sk;
	int rc;
	*new_team = 0;
	memset(req, 0, sizeof *req);
	if (!(sk = veld__secret_new(32)))
		return veld__err(VELD_ENOMEM, "out of memory");
	if ((rc = veld__step_begin(s, &step, VELD_STEP_KEYS | VELD_STEP_WRITE)) == VELD_OK) {
		if ((rc = need_office(s)) == VELD_OK && !team_name_ok(team))
			rc = veld__err(VELD_EINVAL, "a team name is 1-64 letters, digits or ._@- (not"
			               " 'office')");
		if (rc == VELD_OK)
			rc = invite_make(s, team, sk, code_text, req, new_team);
		req->expires = expires_ms;
		rc = veld__step_end(s, &step, rc);
	}
	veld__secret_free(sk);
	return rc;
}

void veld__team_keys_out_free(struct veld__team_keys_out *o)
{
	if (!o)
		return;
	free(o->mem);
	memset(o, 0, sizeof *o);
}

/* The team key's secret half sealed to each device of the team that is not
 * revoked. */
static void seal_to_devices(const char *team, const uint8_t *sk,
                            const struct veld__devices_resp *devices, struct veld__team_keys_req *req)
{
	size_t n = 0;
	for (size_t i = 0; i < devices->ndevices; i++) {
		const struct veld__device_info *d = &devices->devices[i];
		if (d->revoked || strcmp(d->team, team) != 0 || strcmp(d->role, "worker") != 0)
			continue;
		memcpy(req->sealed[n].device, d->device, VELD_ID_BYTES);
		crypto_box_seal(req->sealed[n].sealed, sk, 32, d->box_pk);
		n++;
	}
	req->nsealed = n;
}

int veld__office_team_keys(veld_store *s, const char *team, int rotate,
                           const struct veld__devices_resp *devices, struct veld__team_keys_out *out)
{
	struct veld__step step;
	uint8_t *sk;
	uint64_t tv = 0;
	int rc;
	memset(out, 0, sizeof *out);
	if (!(sk = veld__secret_new(32)) ||
	    !(out->mem = calloc(devices->ndevices ? devices->ndevices : 1, sizeof(struct veld__sealed_for)))) {
		veld__secret_free(sk);
		return veld__err(VELD_ENOMEM, "out of memory");
	}
	out->req.sealed = out->mem;
	if ((rc = veld__step_begin(s, &step, VELD_STEP_KEYS | VELD_STEP_WRITE)) == VELD_OK) {
		rc = need_office(s);
		if (rc == VELD_OK && rotate) {
			/* New versions of every client key of the team too, so what
			 * is written from now on is sealed with keys a revoked device
			 * never held. */
			if ((rc = new_team_key(s, team, &tv, out->req.pk, sk)) == VELD_OK &&
			    (rc = veld__keys_rotate_team(s, team)) == VELD_OK)
				rc = veld__audit(s, "team-key-rotate", "success", NULL, "revocation");
		} else if (rc == VELD_OK) {
			rc = veld__team_key_get(s, team, &tv, out->req.pk, sk);
		}
		if (rc == VELD_OK) {
			seal_to_devices(team, sk, devices, &out->req);
			snprintf(out->req.team, sizeof out->req.team, "%s", team);
			out->req.tv = tv;
		}
		rc = veld__step_end(s, &step, rc);
	}
	veld__secret_free(sk);
	if (rc != VELD_OK)
		veld__team_keys_out_free(out);
	return rc;
}
