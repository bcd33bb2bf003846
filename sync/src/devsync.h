/* devsync.h - the device store's side of sync (private).
 *
 * client.c drives HTTP; these functions read and write the store, each as
 * one step on it (core/src/syncstate.h): the store's mutex taken for the
 * step alone, its writes in one transaction. By job:
 *   outbox.c     what to push, and what the server's answers mean for it
 *   apply.c      checking and applying a pulled page
 *   enroll.c     joining a server; the server the store is enrolled with;
 *                request signatures
 *   officekeys.c the office's duties: invites, team keys and rotation,
 *                signed erasures and field policies
 *   auditsync.c  the access log's way to the office */
#ifndef VELD_DEVSYNC_H
#define VELD_DEVSYNC_H

#include "store.h"
#include "veld_sync.h"
#include "wire.h"

/* The server URL and role this store enrolled with. VELD_ENOTFOUND if the
 * store has not enrolled. `role` gets "worker" or "office". */
int veld__sync_server(veld_store *s, char *url, size_t url_cap, char role[16]);

/* Sign a request as this device (docs/protocol.md 4). */
struct veld__auth_headers;
int veld__sync_sign(veld_store *s, struct veld__auth_headers *h, const char *method,
                    const char *path, const uint8_t *body, size_t len);

/* The options a sync call runs with (client.c): `in` (may be NULL) with every
 * 0 replaced by its default, VELD_SYNC_RETRIES_NONE by 0 retries. */
void veld__sync_options_resolve(veld_sync_options *o, const veld_sync_options *in);

/* ---- push ------------------------------------------------------------- */
/* The next push: own operations above the acknowledged seq (at most
 * max_ops), signed as one batch, and up to 1000 unsent key envelopes.
 * out->req.nops == 0 && out->req.nenvs == 0 means nothing to push. */
struct veld__opbuf;
struct veld__outbox_env;
struct veld__outbox {
	struct veld__push_req req;
	struct veld__opbuf *ops;      /* owns the operations req points to */
	struct veld__envelope *envs;  /* req.envs */
	struct veld__outbox_env *out; /* the same envelopes as the outbox holds them */
};
int veld__sync_next_push(veld_store *s, size_t max_ops, struct veld__outbox *out);
void veld__outbox_free(struct veld__outbox *o);
/* Record the server's answer: acked seq, and the envelopes it now holds. */
int veld__sync_pushed(veld_store *s, const struct veld__outbox *o, const struct veld__push_resp *r);
/* The server answered a push with 409 gap: it holds this device's
 * operations only up to expected - 1 (typically: it was restored from an
 * older backup). Push again from `expected`, queue every client key envelope
 * again (the server may have lost them too), and pull everything again from
 * the start (the merge drops what is known). VELD_EPROTO if `expected`
 * claims operations this device never wrote. */
int veld__sync_rewind(veld_store *s, uint64_t expected);
/* The highest own seq the server acknowledged, as this store recorded it. */
int veld__sync_acked(veld_store *s, uint64_t *acked);
/* How many own operations and envelopes still wait to be pushed. */
int veld__sync_pending(veld_store *s, uint64_t *ops, uint64_t *envelopes);

/* ---- pull ------------------------------------------------------------------ */
int veld__sync_cursors(veld_store *s, uint64_t *after, uint64_t *env_after,
                       uint64_t *erase_after);
/* Verify every operation of the page (hash in its batch, batch signature by
 * its author), erase the clients the office erased, open every envelope and
 * team key addressed to this store, apply, and save the page's cursors: all
 * in one transaction. A page that
 * fails a check changes nothing (VELD_EPROTO). *applied gets the number of
 * operations that were new here. */
int veld__sync_apply_page(veld_store *s, const struct veld__pull_resp *page, uint64_t *applied);
/* A worker device after a push: remove the values of fields its team's
 * policy keeps at the office that the server now holds (policy.h). */
int veld__sync_policy_enforce(veld_store *s);

/* ---- access log (auditsync.c) ------------------------------------------------ */
/* The next POST /v1/audit: own access-log entries above the acknowledged
 * seq (at most max), each sealed to the office and signed. req.n == 0 means
 * nothing waits. VELD_ENOTFOUND if the store has no office key yet. */
struct veld__audit_outbox {
	struct veld__audit_push_req req;
	void *mem; /* owns everything req points to */
};
int veld__audit_next_push(veld_store *s, size_t max, struct veld__audit_outbox *out);
void veld__audit_outbox_free(struct veld__audit_outbox *o);
/* The highest own entry the server holds, as recorded, and how many wait. */
int veld__audit_acked(veld_store *s, uint64_t *acked, uint64_t *pending);
/* Record the server's `acked`; lower than before after a server restore.
 * VELD_EPROTO if it claims entries this store never wrote. */
int veld__audit_set_acked(veld_store *s, uint64_t acked);
/* Office: the saved GET /v1/audit cursor. */
int veld__audit_cursor(veld_store *s, uint64_t *after);
/* Office: check every entry of a page (author key, signature, sealed to
 * this office, its own seq and device inside, each device's entries in
 * order without gaps, an entry held already unchanged), keep the new ones
 * and save the page's cursor: one transaction; a page that fails a check
 * changes nothing (VELD_EPROTO). *applied gets the number of new entries. */
int veld__audit_apply_page(veld_store *s, const struct veld__audit_pull_resp *page,
                           uint64_t *applied);

/* ---- enrollment ----------------------------------------------------------- */
/* Fill an enroll request from this store's identity and the code. */
int veld__sync_enroll_request(veld_store *s, const uint8_t code[20], const char *label,
                              struct veld__enroll_req *req);
/* Store the answer: server URL, role, team key (opened with the code),
 * office keys; seal every client key this store already has for the
 * team and the office (queued as envelopes). */
int veld__sync_enroll_finish(veld_store *s, const char *url, const uint8_t code[20],
                             const struct veld__enroll_resp *r);

/* ---- office ------------------------------------------------------------------ */
/* The erasure request for a client: an id or prefix of a client in this
 * store, or the full id of one already erased here (to finish an erasure
 * the server did not confirm); stamped now and signed with this office's
 * key, which every device checks. */
int veld__office_erase_client(veld_store *s, const char *client_id,
                              struct veld__erase_req *req);
/* A team's field policy `mask`, stamped now (later than the one this office
 * set before) and signed with this office's key, which every device checks. */
int veld__office_policy_sign(veld_store *s, const char *team, uint32_t mask,
                             struct veld__field_policy *out);
/* Keep a policy the server accepted as the team's, and log the change. */
int veld__office_policy_saved(veld_store *s, const struct veld__field_policy *p);
/* A new invite for `team`: makes the code (text for people), its auth, and
 * the team key sealed with it. Creates the team's first key (tv 1) if the
 * office has none yet; *new_team is then 1 and the caller must publish it
 * with veld__office_team_keys first. */
int veld__office_invite(veld_store *s, const char *team, uint64_t expires_ms,
                        char code_text[48], struct veld__invite_req *req, int *new_team);
/* The team-keys request for `team`'s current key, sealed to each listed
 * device of the team that is not revoked. With rotate, a new key version
 * is made first, and new versions of every client key of the team are
 * queued as envelopes (sealed to the new team key and to the office). */
struct veld__team_keys_out {
	struct veld__team_keys_req req;
	void *mem;
};
int veld__office_team_keys(veld_store *s, const char *team, int rotate,
                           const struct veld__devices_resp *devices, struct veld__team_keys_out *out);
void veld__team_keys_out_free(struct veld__team_keys_out *o);

#endif
