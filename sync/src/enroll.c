/* enroll.c - a store joins a server (docs/protocol.md, POST /v1/enroll):
 * the request from its identity and the code, and what it keeps of the
 * answer (the server, its role, its team's key opened with the code, the
 * office's keys). Also the two things every request needs: which server the
 * store enrolled with, and the request signature. */
#include "devsync.h"
#include "auth.h"
#include "error.h"
#include "http.h"
#include "syncstate.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int veld__sync_server(veld_store *s, char *url, size_t url_cap, char role[16])
{
	struct veld__step step;
	int rc = veld__step_begin(s, &step, 0);
	if (rc)
		return rc;
	rc = veld__sync_text(s, "server_url", url, url_cap);
	if (rc == VELD_OK)
		rc = veld__sync_text(s, "sync_role", role, 16);
	if (rc == VELD_ENOTFOUND)
		rc = veld__err(VELD_ENOTFOUND, "this store has not enrolled with a server yet "
		                               "(veld enroll URL CODE)");
	return veld__step_end(s, &step, rc);
}

int veld__sync_tls(veld_store *s, char **ca_pem, char *pin, size_t pin_cap)
{
	struct veld__step step;
	int rc = veld__step_begin(s, &step, 0);
	*ca_pem = NULL;
	pin[0] = '\0';
	if (rc)
		return rc;
	rc = veld__sync_text_dup(s, "tls_ca", VELD_CA_PEM_MAX, ca_pem);
	if (rc == VELD_ENOTFOUND)
		rc = VELD_OK;
	if (rc == VELD_OK && (rc = veld__sync_text(s, "tls_pin", pin, pin_cap)) == VELD_ENOTFOUND) {
		pin[0] = '\0';
		rc = VELD_OK;
	}
	if (rc == VELD_OK)
		veld__err_clear();
	else {
		free(*ca_pem);
		*ca_pem = NULL;
	}
	return veld__step_end(s, &step, rc);
}

int veld__sync_sign(veld_store *s, struct veld__auth_headers *h, const char *method,
                    const char *path, const uint8_t *body, size_t len)
{
	struct veld__step step;
	uint8_t msg[VELD_AUTH_MSG_MAX], sig[64];
	size_t n;
	int rc = veld__step_begin(s, &step, VELD_STEP_KEYS);
	if (rc)
		return rc;
	n = veld__auth_message(h, veld__store_device(s), method, path, body, len, msg);
	veld__store_sign(s, sig, msg, n);
	veld__auth_set_signature(h, sig);
	return veld__step_end(s, &step, VELD_OK);
}

int veld__sync_enroll_request(veld_store *s, const uint8_t code[20], const char *label,
                              struct veld__enroll_req *req)
{
	struct veld__step step;
	int rc = veld__step_begin(s, &step, VELD_STEP_KEYS);
	if (rc)
		return rc;
	memset(req, 0, sizeof *req);
	veld__code_auth(req->auth, code);
	memcpy(req->device, veld__store_device(s), VELD_ID_BYTES);
	memcpy(req->sign_pk, veld__store_sign_pk(s), 32);
	memcpy(req->box_pk, veld__store_box_pk(s), 32);
	{
		uint8_t key[32];
		veld__code_proof_key(key, code);
		veld__enroll_proof(req->proof, key, req->device, req->sign_pk, req->box_pk);
		sodium_memzero(key, sizeof key);
	}
	snprintf(req->label, sizeof req->label, "%s", label && *label ? label : veld__store_user(s));
	return veld__step_end(s, &step, VELD_OK);
}

/* A worker's answer: the team (a fresh store takes the invite's team; one
 * with records keeps its own), the team key opened with the code, and the
 * office's keys. */
static int take_worker(veld_store *s, const uint8_t code[20], const struct veld__enroll_resp *r)
{
	uint8_t *sk, ckey[32], ad[VELD_INVITE_AD_MAX];
	int rc;
	if (!r->has_team_key)
		return veld__err(VELD_EPROTO, "the server sent no team key");
	if (!r->has_office)
		return veld__err(VELD_EPROTO, "the server sent no office keys");
	if (strcmp(r->team, veld__store_team(s)) != 0) {
		if (veld__store_last_seq(s) > 0)
			return veld__err(VELD_EINVAL, "this store holds records of team %s; the invite is "
			                 "for team %s", veld__store_team(s), r->team);
		if ((rc = veld__store_set_team(s, r->team)) != VELD_OK)
			return rc;
	}
	if (!(sk = veld__secret_new(32)))
		return veld__err(VELD_ENOMEM, "out of memory");
	veld__code_key(ckey, code);
	/* The code binds the office's keys too: a server that hands out other
	 * ones than the office's makes this fail. */
	if (veld__open(sk, r->team_sealed, VELD_TEAM_SEALED_BYTES, ad,
	               veld__invite_ad(ad, r->team, r->tv, r->office_device, r->office_sign_pk,
	                               r->office_box_pk), ckey) != 0)
		rc = veld__err(VELD_EPROTO, "the team key in the enrollment answer does not open "
		               "with this code (or the office's keys in it are not the office's)");
	else
		rc = veld__team_key_put(s, r->team, r->tv, r->team_pk, sk);
	sodium_memzero(ckey, sizeof ckey);
	veld__secret_free(sk);
	if (rc == VELD_OK && (rc = veld__sync_set_bytes(s, "office_device", r->office_device,
	                                                VELD_ID_BYTES)) == VELD_OK &&
	    (rc = veld__sync_set_bytes(s, "office_sign_pk", r->office_sign_pk, 32)) == VELD_OK)
		rc = veld__sync_set_bytes(s, "office_box_pk", r->office_box_pk, 32);
	return rc;
}

int veld__sync_enroll_finish(veld_store *s, const char *url, const char *ca_pem, const char *pin,
                             const uint8_t code[20], const struct veld__enroll_resp *r)
{
	struct veld__step step;
	char existing[512];
	int office = strcmp(r->role, "office") == 0;
	int rc = veld__step_begin(s, &step, VELD_STEP_KEYS | VELD_STEP_WRITE);
	if (rc)
		return rc;
	if (veld__sync_text(s, "server_url", existing, sizeof existing) == VELD_OK) {
		rc = veld__err(VELD_EEXISTS, "this store is already enrolled");
		goto done;
	}
	veld__err_clear();
	if (office != veld__store_is_office(s)) {
		rc = veld__err(VELD_EINVAL, office
			? "this is an office setup code: enroll the office store with it"
			: "an office store enrolls with the server's setup code, not a worker invite");
		goto done;
	}
	if (!office)
		rc = take_worker(s, code, r);
	else if ((rc = veld__sync_set_bytes(s, "office_device", veld__store_device(s),
	                                    VELD_ID_BYTES)) == VELD_OK &&
	         (rc = veld__sync_set_bytes(s, "office_sign_pk", veld__store_sign_pk(s), 32)) == VELD_OK)
		rc = veld__sync_set_bytes(s, "office_box_pk", veld__store_box_pk(s), 32);
	if (rc == VELD_OK && ca_pem != NULL)
		rc = veld__sync_set_text(s, "tls_ca", ca_pem);
	if (rc == VELD_OK && pin != NULL && *pin)
		rc = veld__sync_set_text(s, "tls_pin", pin);
	if (rc == VELD_OK && (rc = veld__sync_set_text(s, "server_url", url)) == VELD_OK &&
	    (rc = veld__sync_set_text(s, "sync_role", r->role)) == VELD_OK &&
	    (rc = veld__keys_share_all(s)) == VELD_OK)
		rc = veld__audit(s, "enroll", "success", NULL, "setup");
	/* A worker follows its team's field policy from now on. */
	veld__store_policy_changed(s);
done:
	return veld__step_end(s, &step, rc);
}

/* ---- fingerprints ------------------------------------------------------------------ */

void veld__key_fingerprint(uint8_t fp[32], const uint8_t device[VELD_ID_BYTES],
                           const uint8_t sign_pk[32], const uint8_t box_pk[32])
{
	uint8_t msg[19 + VELD_ID_BYTES + 64];
	memcpy(msg, "veld-fingerprint-v1", 19);
	memcpy(msg + 19, device, VELD_ID_BYTES);
	memcpy(msg + 19 + VELD_ID_BYTES, sign_pk, 32);
	memcpy(msg + 19 + VELD_ID_BYTES + 32, box_pk, 32);
	crypto_generichash(fp, 32, msg, sizeof msg, NULL, 0);
}

void veld__fingerprint_text(char text[VELD_FINGERPRINT_TEXT], const uint8_t fp[32])
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (size_t i = 0; i < VELD_FINGERPRINT_SHOWN; i++) {
		if (i > 0 && i % 2 == 0)
			text[o++] = '-';
		text[o++] = hex[fp[i] >> 4];
		text[o++] = hex[fp[i] & 15];
	}
	text[o] = 0;
}

int veld__fingerprint_matches(const char *typed, const uint8_t fp[32])
{
	char want[VELD_FINGERPRINT_TEXT];
	size_t n = 0;
	veld__fingerprint_text(want, fp);
	for (const char *p = want; *p; p++) {
		char c;
		if (*p == '-')
			continue;
		/* the typed text: hex digits in any case; '-' and spaces ignored */
		while (typed && (*typed == '-' || *typed == ' '))
			typed++;
		if (!typed || !*typed)
			return 0;
		c = *typed++;
		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (c != *p)
			return 0;
		n++;
	}
	while (typed && (*typed == '-' || *typed == ' '))
		typed++;
	return n == 2 * VELD_FINGERPRINT_SHOWN && typed && !*typed;
}

int veld__sync_fingerprint(veld_store *s, char text[VELD_FINGERPRINT_TEXT])
{
	struct veld__step step;
	uint8_t fp[32];
	int rc = veld__step_begin(s, &step, 0);
	if (rc)
		return rc;
	veld__key_fingerprint(fp, veld__store_device(s), veld__store_sign_pk(s), veld__store_box_pk(s));
	veld__fingerprint_text(text, fp);
	return veld__step_end(s, &step, VELD_OK);
}
