/* access.h - who may touch a client's records, and how a record call ends
 * (private).
 *
 * A worker reads and writes only their own team's clients; the office
 * reads every team's. Anything else is "breaking the glass": allowed with
 * a purpose "break-glass: <reason>" and logged as such
 * (docs/security.md#access-control-on-the-device). A refused or failed
 * access is noted during the call and, because the call's transaction rolls
 * back, logged afterwards in a transaction of its own: NEN 7513 logs
 * attempts, not only successes. */
#ifndef VELD_ACCESS_H
#define VELD_ACCESS_H

#include "store.h"

#include <jansson.h>

/* The access-log event for touching `client` (may be NULL) of `team` as
 * `event`: `event` itself, "break-glass", or NULL when the access is
 * refused (then VELD_EPERM is set and the refusal noted). */
const char *veld__access_event(veld_store *s, const char *team, const uint8_t *client,
                               const char *purpose, const char *event);

/* Note an access to log once the call's transaction has rolled back. */
void veld__access_note(veld_store *s, const char *event, const char *outcome,
                       const uint8_t *client, const char *purpose);
/* Note a read or export that failed with rc for a reason other than a
 * wrong id (a damaged value, a missing key), unless a refusal is noted
 * already. `client` is all zeros when it was not found. */
void veld__access_failed(veld_store *s, int rc, const char *event,
                         const uint8_t client[VELD_ID_BYTES], const char *purpose);

/* The record a call acts on, as veld__access_open finds it. */
struct veld__target {
	uint8_t entity[VELD_ID_BYTES];
	uint8_t client[VELD_ID_BYTES]; /* all zeros until found */
	char team[VELD_TEAM_MAX + 1];
	const char *event; /* what the access log calls this access */
	json_t *rec;       /* the record's JSON; the caller releases it */
};

/* Resolve a live record of `kind` (id or unique prefix) that the actor may
 * touch as `event`, and build its JSON. VELD_ENOTFOUND for a deleted
 * record. t->rec may be set even on failure. */
int veld__access_open(veld_store *s, const char *kind, const char *id, const char *purpose,
                      const char *event, struct veld__target *t);

/* End a record call's transaction: commit if rc is VELD_OK; otherwise roll
 * back and log a noted refusal. On failure *json_out (if json_out is not
 * NULL) is released and set to NULL. Returns the call's result. */
int veld__access_finish(veld_store *s, struct veld__tx *tx, int rc, char **json_out);

#endif
