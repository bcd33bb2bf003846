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
#include "trust.h"
#include "veld_sync.h"
#include "wire.h"

/* The server URL and role this store enrolled with. VELD_ENOTFOUND if the
 * store has not enrolled. `role` gets "worker" or "office". */
int veld__sync_server(veld_store *s, char *url, size_t url_cap, char role[16]);
/* The TLS trust this store enrolled with: *ca_pem the CA certificates
 * (malloc'd; NULL if none), `pin` the pin list ("" if none). */
int veld__sync_tls(veld_store *s, char **ca_pem, char *pin, size_t pin_cap);

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
/* A server can claim to hold this device's operations (the `acked` of its
 * answer to the empty push) without having them: the device would never
 * push them. Only what comes back in the pulled feed is proven: an own
 * item (operation, stub or held) on a page whose batches verified is
 * signed by this device, and an own run (own=1) whose digest matches the
 * hashes this device kept (veld__own_runs_check). veld__own_returned, inside the step that applies
 * the page (apply.c, after its feed), moves "own_seen" over the own seqs of
 * the page that continue
 * it without a gap; `after` is the cursor the page was asked from (a store
 * from before own_seen was kept starts from acked_seq, or from 0 when the
 * pull starts over). veld__sync_own_returned is the same as a step of its
 * own. */
int veld__own_returned(veld_store *s, const struct veld__pull_resp *p, uint64_t after);
/* The page's own runs: each names seqs this device wrote, and its digest is
 * that of the hashes it kept for them; VELD_EPROTO otherwise. */
int veld__own_runs_check(veld_store *s, const struct veld__pull_resp *p);
/* Sync state: 1 while own operations must come back whole (a widened field
 * policy: their values come back with them), until a pull completes. */
#define VELD__OWN_WHOLE "pull_own_whole"
int veld__sync_own_returned(veld_store *s, const struct veld__pull_resp *p, uint64_t after);
/* After a complete pull: if acked_seq is above own_seen, the server claimed
 * operations it did not send back. Then acked_seq (and policy_seq) go down
 * to own_seen, so they are pushed again (*lowered), unless some of them
 * lost their value here since (field policy, erasure, retention): those
 * cannot be sent again as signed (*removed counts them, nothing changes). */
struct veld__own_check {
	uint64_t claimed, seen; /* claimed > seen: the server's claim was not borne out */
	uint64_t removed;
	int lowered;
};
int veld__sync_own_check(veld_store *s, struct veld__own_check *c);
/* Inside a step: how far the server holds this device's operations as far
 * as it proved it: the lower of acked_seq and own_seen (the office's own
 * head in its checkpoints). */
int veld__own_seen(veld_store *s, uint64_t *seen);
/* A warning for the next sync summary (inside a step): kept in the store
 * until a summary shows it (veld__sync_warnings_take: the lines kept,
 * separated by newlines, "" if none; they are cleared). */
int veld__sync_warn(veld_store *s, const char *line);
int veld__sync_warnings_take(veld_store *s, char *buf, size_t cap);
/* The highest own seq the server acknowledged, as this store recorded it. */
int veld__sync_acked(veld_store *s, uint64_t *acked);
/* How many own operations and envelopes still wait to be pushed. */
int veld__sync_pending(veld_store *s, uint64_t *ops, uint64_t *envelopes);

/* ---- pull (apply.c, pending.c) ---------------------------------------------- */
int veld__sync_cursors(veld_store *s, uint64_t *after, uint64_t *env_after,
                       uint64_t *notice_after);
/* What a page is checked against: the cursors it was asked for, and how far
 * ahead of this device's clock an operation may be stamped. */
struct veld__apply_ctx {
	uint64_t after, env_after, notice_after;
	uint64_t skew_ms;
};
/* What a page did: operations new here, and what it put aside to wait or
 * in quarantine. */
struct veld__apply_report {
	uint64_t applied, pending, quarantined;
	uint64_t keys;   /* client keys kept from envelopes */
	uint64_t forged; /* items that waited and turned out not signed by their author */
	int repull;      /* the operation feed starts over at the next page (cursor 0) */
};
/* The most items of one author the office has not certified that a device
 * keeps waiting; a server that sends more is refused. */
#define VELD_HELD_MAX 100000
/* Within a page: the operation feed is to be pulled again from the start
 * (a widened field policy lets fields through; a revocation took
 * operations out, and what they contradicted comes again), an erasure; an
 * author's seq the server left out (the feed is then pulled again from the
 * start at the next sync: what was left out may lie behind the cursor). */
struct veld__apply_state {
	int repull, erased;
	int op_gap;
	int schema; /* a new record schema came: what waits for one is tried again */
};
/* Check and apply a pulled page and save its cursors, in one transaction
 * (apply.c says what is checked, in which order). A page the server is to
 * blame for changes nothing (VELD_EPROTO); if it left out an author's seq,
 * the operation feed's cursor goes back to the start, so the next sync gets
 * what may have been skipped behind it. */
int veld__sync_apply_page(veld_store *s, const struct veld__pull_resp *page,
                          const struct veld__apply_ctx *c, struct veld__apply_report *r);
/* A worker device after a push: remove the values of fields its team's
 * policy keeps at the office that the server now holds (policy.h). */
int veld__sync_policy_enforce(veld_store *s);

/* How fresh the office's word is on this device, after a pull: the team's
 * checkpoint and its age. A checkpoint that names notices or operations
 * this device has not received is VELD_EPROTO: the server withholds them
 * (operations: the feed is pulled again from the start at the next sync). */
struct veld__freshness {
	int has;          /* a checkpoint arrived (the office never has one) */
	uint64_t at;      /* its date, ms */
	uint64_t age_ms;  /* now - at */
	int stale;        /* older than the allowed age, or none at all */
};
int veld__sync_checkpoint_check(veld_store *s, uint64_t max_age_ms, struct veld__freshness *f);

/* Inside a step: */
struct veld__cert;
struct veld__pending_env;
/* The office's signing key (pinned at enrollment; the office's own). */
int veld__office_sign_pk(veld_store *s, uint8_t pk[32]);
/* The key a device's signatures verify with: this device's, the office's,
 * or the one the office certified (*cert, may be NULL, gets the
 * certificate); VELD_ENOTFOUND for a device the office did not certify. */
int veld__trusted_key(veld_store *s, const uint8_t device[VELD_ID_BYTES], uint8_t pk[32],
                      struct veld__cert *cert);
/* An operation's author as this store trusts it, looked up once per
 * batch of a page: not certified; or the office's own device, this
 * device, or a certified one (cert). */
struct veld__author_trust {
	int uncertified;
	int office;
	uint8_t pk[32]; /* its signing key */
	struct veld__cert cert;
};
int veld__author_trust(veld_store *s, const uint8_t device[VELD_ID_BYTES],
                       struct veld__author_trust *t);
/* A key envelope by the rules of docs/security.md: its key kept, waiting
 * or quarantined. If its signature does not verify: VELD_EPROTO, or, one
 * that `waited` for its author's certificate, dropped (r->forged). */
int veld__apply_envelope(veld_store *s, const struct veld__pending_env *e, int waited,
                         struct veld__apply_report *r);
/* An item of the feed whose author is verified (its batch signed with the
 * key `who` holds) and whose seq comes next: an operation merged, waiting
 * or quarantined (who NULL: looked up; a field the team's policy keeps at
 * the office is not kept); a stub or held item whose reason must hold here
 * (VELD_EPROTO if not). */
int veld__take_item(veld_store *s, const struct veld__feed_item *it,
                    const struct veld__author_trust *who, uint64_t skew_ms,
                    struct veld__apply_report *r);
/* The items of `device` that waited for its certificate or its earlier
 * seqs, taken in seq order as far as they go without a gap, each checked
 * against a batch kept for it and signed with the certified key. */
int veld__release_held(veld_store *s, const uint8_t device[VELD_ID_BYTES],
                       const struct veld__apply_ctx *c, struct veld__apply_report *r);
/* Operations that wait and may go on now (their author certified, their
 * time come, with `keys` & 1 their key here, with `keys` & 2 a new record
 * schema to check them against), checked again: each under its
 * author's certificate (its kept batch verified with the certified key). */
/* Operations that wait for a record schema although the office's signed
 * checkpoint (its `heads`) shows it held them, and this device holds every
 * notice that checkpoint counts, so every schema their writer could have
 * had: no schema will explain them; they go to the quarantine. */
int veld__settle_schema_waits(veld_store *s, const uint8_t *heads, size_t heads_len);
int veld__retry_ops(veld_store *s, const struct veld__apply_ctx *c, int keys,
                    struct veld__apply_report *r);
/* Key envelopes that wait, checked again. */
int veld__retry_envs(veld_store *s, struct veld__apply_report *r);

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
/* The highest own entry the server holds, as recorded. */
int veld__audit_acked(veld_store *s, uint64_t *acked);
/* How many own access-log entries the server does not hold yet. */
int veld__audit_pending(veld_store *s, uint64_t *n);
/* Record the server's `acked`; lower than before after a server restore.
 * VELD_EPROTO if it claims entries this store never wrote. */
int veld__audit_set_acked(veld_store *s, uint64_t acked);
/* Office: the cursor to send as GET /v1/audit's `after`: the saved one, moved
 * back (and saved so) to just below the first entry passed over of every
 * device the office has certified since its entries began to wait, so that
 * they come again and are taken in, checked (core/src/audit.h). */
int veld__audit_cursor(veld_store *s, uint64_t *after);
/* Office: check every entry of a page (the key the office certified for
 * its device, the signature, sealed to this office, its own seq and device
 * inside, each device's entries in order without gaps, an entry held
 * already unchanged), keep the new ones and save the cursor: one
 * transaction; a page that fails a check changes nothing (VELD_EPROTO).
 * Entries the office cannot check as genuine do not hold up the others
 * (docs/protocol.md, GET /v1/audit): those of a device it has not
 * certified are passed over and wait, marked (core/src/audit.h); those of a
 * device it gave up on, or signed by a device after its revocation, keep
 * their place as "unverified". *applied gets the number of new entries
 * kept. *waiting is set only where the pull ends, on a page without `more`:
 * to the number of devices whose entries wait; or when the page stops early,
 * before an entry of one more device than VELD_AUDIT_MARKS_MAX waiting (at
 * least 1): pull again at the next sync. */
int veld__audit_apply_page(veld_store *s, const struct veld__audit_pull_resp *page,
                           uint64_t after, uint64_t *applied, int *waiting);
/* Office: call right after certifying the devices the server lists
 * (veld__office_certify). A device whose entries wait and that the office
 * has still not certified will not be (revoked before it was certified, no
 * invite of this office, made up by the server): its entries that came are
 * kept as "unverified", and so are the ones that come later, up to
 * VELD_AUDIT_UNVERIFIED_MAX. *given_up gets how many devices that was. */
int veld__audit_after_certify(veld_store *s, size_t *given_up);
/* Office: what its marks on access logs say, for the sync's warnings. */
struct veld__audit_status {
	uint64_t waiting;         /* devices whose entries wait for a certificate */
	uint64_t waiting_entries; /* how many of theirs came (the highest seq of each) */
	uint64_t unverifiable;    /* devices the office will not certify */
	uint64_t unverified;      /* entries kept as "unverified" (those and revoked devices') */
	uint64_t not_kept;        /* entries of those that came and are not kept (beyond a cap) */
	int full;                 /* VELD_AUDIT_MARKS_MAX devices wait, or are unverifiable */
};
int veld__audit_status(veld_store *s, struct veld__audit_status *st);

/* ---- enrollment ----------------------------------------------------------- */
/* Fill an enroll request from this store's identity and the code. */
int veld__sync_enroll_request(veld_store *s, const uint8_t code[20], const char *label,
                              struct veld__enroll_req *req);
/* Store the answer: server URL, the TLS trust (CA certificates and pin,
 * each NULL for none), role, team key (opened with the code),
 * office keys; seal every client key this store already has for the
 * team and the office (queued as envelopes). */
int veld__sync_enroll_finish(veld_store *s, const char *url, const char *ca_pem, const char *pin,
                             const uint8_t code[20],
                             const struct veld__enroll_resp *r);

/* A device's fingerprint, for people to compare (docs/security.md, veld
 * 0.1 devices): H("veld-fingerprint-v1" || device || sign_pk || box_pk),
 * shown as its first 16 bytes in hex, groups of four digits with '-'. A
 * typed one matches in either case, '-' and spaces ignored. */
#define VELD_FINGERPRINT_SHOWN 16
#define VELD_FINGERPRINT_TEXT (2 * VELD_FINGERPRINT_SHOWN + VELD_FINGERPRINT_SHOWN / 2)
void veld__key_fingerprint(uint8_t fp[32], const uint8_t device[VELD_ID_BYTES],
                           const uint8_t sign_pk[32], const uint8_t box_pk[32]);
void veld__fingerprint_text(char text[VELD_FINGERPRINT_TEXT], const uint8_t fp[32]);
int veld__fingerprint_matches(const char *typed, const uint8_t fp[32]);
/* This store's own fingerprint. */
int veld__sync_fingerprint(veld_store *s, char text[VELD_FINGERPRINT_TEXT]);

/* ---- office (officekeys.c) ---------------------------------------------------- */
/* Notices for the server: each the office's next of its team, signed and
 * kept in the office's store. */
struct veld__notice_out {
	struct veld__notice_req req;
	size_t cap;
};
void veld__notice_out_free(struct veld__notice_out *o);
/* An erasure of a client (an id or unique prefix), *client gets its id.
 * A client erased here already (its full id): VELD_OK with no notice. */
int veld__office_erase_notice(veld_store *s, const char *client_id, uint8_t client[VELD_ID_BYTES],
                              struct veld__notice_out *out);
/* A new version of the record schema (its JSON text): checked to follow
 * the one in force, in force here at once, and a notice to every team the
 * office knows (a team that comes later gets it with its first device's
 * certificate). VELD_EINVAL says what is wrong with the document. */
int veld__office_schema_notice(veld_store *s, const char *text, size_t len,
                               struct veld__notice_out *out);
/* A move of a client (an id or unique prefix) to `team` (move.h): checked
 * (veld__move_check), the notice to the client's team signed and kept and
 * the new client made and copied, in one transaction. *client and
 * *new_client get the ids. */
int veld__office_move_notice(veld_store *s, const char *client_id, const char *team,
                             uint8_t client[VELD_ID_BYTES], uint8_t new_client[VELD_ID_BYTES],
                             struct veld__notice_out *out);
/* What came for moved clients, forwarded to the new ones (veld__moves_forward). */
int veld__office_forward(veld_store *s, uint64_t *forwarded);
/* A move's status as JSON (veld__move_status), malloc'd in *json_out. */
int veld__office_move_status(veld_store *s, const char *client_id, char **json_out);
/* A team's field policy `mask`; kept and logged here at once. */
int veld__office_policy_notice(veld_store *s, const char *team, uint32_t mask,
                               struct veld__notice_out *out);
/* A revocation starts here: the team the office certified the device for
 * (its certificate). A device without a certificate is marked never to be
 * certified, and VELD_ENOTFOUND. */
int veld__office_revoke_begin(veld_store *s, const uint8_t device[VELD_ID_BYTES],
                              char team[VELD_TEAM_MAX + 1]);
/* The revocation notice, after the office pulled: to the team of the
 * office's certificate, with last_seq = the device's last seq the office
 * itself received and verified (its `authors` row). `team` and `acked` are
 * the server's answer to POST /v1/revoke, only checked: another team than
 * the certificate's, or no certificate, is VELD_EPROTO and nothing is
 * signed; an `acked` above what the office holds is a warning for the next
 * sync summary (veld__sync_warn). A device revoked here already: no new
 * notice (out->req.n == 0). */
int veld__office_revoke_notice(veld_store *s, const uint8_t device[VELD_ID_BYTES],
                               const char *team, uint64_t acked, struct veld__notice_out *out);
/* Certificates for the listed devices that enrolled with an invite of this
 * office and prove it (one device per invite, not enrolled after its
 * expiry), or, enrolled before certificates existed (veld 0.1), whose
 * signing key it pinned then and whose keys and team the operator
 * confirmed (veld__office_legacy); *refused counts listed devices that
 * are none of these. */
int veld__office_certify(veld_store *s, const struct veld__devices_resp *devices,
                         struct veld__notice_out *out, size_t *refused);
/* A device enrolled before certificates existed (veld 0.1) is certified
 * only once the operator confirmed its team and the fingerprint of the keys
 * the server lists (`veld office certify`): its box key was never pinned.
 * `d` is the server's listing of it, which must carry the signing key this
 * office pinned for it. fp_text gets the fingerprint of the keys listed.
 * With team and fingerprint NULL, only that; with both, they must match
 * (the team the server lists, the fingerprint of what it lists: else
 * VELD_EPROTO) and the confirmation is kept for the next certification. A
 * device that enrolled with an invite is VELD_EINVAL, one certified
 * already VELD_EEXISTS. */
int veld__office_legacy(veld_store *s, const struct veld__device_info *d, const char *team,
                        const char *fingerprint, char fp_text[VELD_FINGERPRINT_TEXT]);
/* The notices of one team the server has not taken yet (the first team
 * that has any; none: out->req.n == 0); what it took (erasing here the
 * clients they erase); after a server restore, send a team's from n again. */
int veld__office_unpublished(veld_store *s, struct veld__notice_out *out);
int veld__office_published(veld_store *s, const struct veld__notice_req *req);
int veld__office_republish(veld_store *s, const char *team, uint64_t n);

/* The dated checkpoint of every team, signed. */
struct veld__checkpoint_out {
	struct veld__checkpoint_req req;
	size_t cap;
	veld_store *s;
};
int veld__office_checkpoints(veld_store *s, struct veld__checkpoint_out *out);
void veld__checkpoint_out_free(struct veld__checkpoint_out *o);

/* A new invite for `team`: makes the code (text for people), its auth, the
 * team key sealed with it (bound to this office's keys) and keeps the
 * code's proof key. Creates the team's first key (tv 1) if the office has
 * none yet; *new_team is then 1 and the caller must publish it with
 * veld__office_team_keys first. */
int veld__office_invite(veld_store *s, const char *team, uint64_t expires_ms,
                        char code_text[48], struct veld__invite_req *req, int *new_team);
/* The team-keys request for `team`'s current key, signed, sealed to each
 * device the office certified for the team and did not revoke. With rotate,
 * a new key version is made first, with new versions of every client key of
 * the team (queued as envelopes). */
struct veld__team_keys_out {
	struct veld__team_keys_req req;
};
int veld__office_team_keys(veld_store *s, const char *team, int rotate,
                           struct veld__team_keys_out *out);
void veld__team_keys_out_free(struct veld__team_keys_out *o);
/* Version tv (at least 1) of `team`'s key, signed, sealed to each device
 * the office certified for the team and did not revoke: how a device
 * certified after a rotation gets the versions before it. VELD_ENOTFOUND
 * if the office does not hold that version. */
int veld__office_team_key_version(veld_store *s, const char *team, uint64_t tv,
                                  struct veld__team_keys_out *out);
/* The teams with devices certified since their key versions were last
 * sealed to every certified device (veld__office_certify marks them);
 * veld__office_keys_shared once the server took every version. */
struct veld__team_list {
	char (*team)[VELD_TEAM_MAX + 1];
	size_t n, cap;
	veld_store *s;
};
int veld__office_keys_due(veld_store *s, struct veld__team_list *out);
int veld__office_keys_shared(veld_store *s, const char *team);
void veld__team_list_free(struct veld__team_list *l);

#endif
