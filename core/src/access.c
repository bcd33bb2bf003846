/* access.c - who may touch a client's records, and how a record call ends
 * (access.h). */
#include "access.h"
#include "error.h"
#include "recbuild.h"
#include "records.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BREAK_GLASS "break-glass:"

void veld__access_note(veld_store *s, const char *event, const char *outcome,
                       const uint8_t *client, const char *purpose)
{
	snprintf(s->refusal.event, sizeof s->refusal.event, "%s", event);
	snprintf(s->refusal.outcome, sizeof s->refusal.outcome, "%s", outcome);
	s->refusal.has_client = client != NULL;
	if (client)
		memcpy(s->refusal.client, client, VELD_ID_BYTES);
	s->refusal.purpose = purpose;
	s->refusal.pending = 1;
}

void veld__access_failed(veld_store *s, int rc, const char *event,
                         const uint8_t client[VELD_ID_BYTES], const char *purpose)
{
	if (rc == VELD_OK || s->refusal.pending || rc == VELD_ENOTFOUND || rc == VELD_EINVAL)
		return;
	veld__access_note(s, event, "failure", sodium_is_zero(client, VELD_ID_BYTES) ? NULL : client,
	                  purpose);
}

const char *veld__access_event(veld_store *s, const char *team, const uint8_t *client,
                               const char *purpose, const char *event)
{
	if (strcmp(team, s->team) == 0 || s->office)
		return event;
	/* A reason must follow the prefix: an empty one is no reason. */
	if (purpose && strncmp(purpose, BREAK_GLASS, strlen(BREAK_GLASS)) == 0 &&
	    strlen(purpose) > strlen(BREAK_GLASS) + 3)
		return "break-glass";
	veld__access_note(s, event, "denied", client, purpose);
	veld__err(VELD_EPERM, "this client belongs to another team; to read it anyway give the "
	                      "purpose \"break-glass: <reason>\" (it is logged)");
	return NULL;
}

int veld__access_open(veld_store *s, const char *kind, const char *id, const char *purpose,
                      const char *event, struct veld__target *t)
{
	int rc = veld__resolve(s, kind, id, t->entity, t->client, t->team, NULL);
	if (rc != VELD_OK)
		return rc;
	if (!(t->event = veld__access_event(s, t->team, t->client, purpose, event)))
		return VELD_EPERM;
	if ((rc = veld__record_build(s, t->entity, &t->rec)) != VELD_OK)
		return rc;
	if (!t->rec)
		return veld__err(VELD_ENOTFOUND, "that %s was deleted", kind);
	return VELD_OK;
}

/* Log the noted refusal in a transaction of its own, when no caller's
 * transaction (veld_store_begin) is open: an entry written inside one
 * would be committed or rolled back with the caller's work. The caller
 * gets the call's own error either way; a refusal that cannot be logged is
 * not a second error to report. */
static void log_refusal(veld_store *s)
{
	struct veld__tx tx;
	if (!s->refusal.pending || s->tx_depth != 0 || veld__tx_begin(s, &tx) != VELD_OK)
		return;
	veld__tx_end(s, &tx, veld__audit(s, s->refusal.event, s->refusal.outcome,
	                                 s->refusal.has_client ? s->refusal.client : NULL,
	                                 s->refusal.purpose));
}

int veld__access_finish(veld_store *s, struct veld__tx *tx, int rc, char **json_out)
{
	char msg[512];
	if (rc == VELD_OK) {
		s->refusal.pending = 0;
		rc = veld__tx_commit(s, tx);
	} else {
		/* Logging the refusal may set messages of its own. */
		snprintf(msg, sizeof msg, "%s", veld_error_last());
		veld__tx_abort(s, tx);
		log_refusal(s);
		rc = veld__err(rc, "%s", msg);
	}
	s->refusal.pending = 0;
	if (rc != VELD_OK && json_out) {
		free(*json_out);
		*json_out = NULL;
	}
	return rc;
}
