/* policy.h - which identifying client fields reach a team's devices
 * (private).
 *
 * DESIGN.md: "Which identifying fields reach a device is a per-team policy:
 * by default the name, address and phone a home visit needs; date of birth
 * and legal details stay at the office." The policy governs the client
 * fields listed in veld__policy_fields; every other field (the name, the
 * contact person, and every field of visits, notes, goals and signals)
 * always reaches the team. A policy is a bit mask over that list: bit i set
 * = field i reaches the team's devices.
 *
 * The office signs a team's policy and the server keeps it; the server
 * never sends a field the policy keeps at the office to a worker device,
 * and a worker device refuses to write one, drops one it is sent, and
 * removes the values it holds once the office has them (its own only after
 * the server acknowledged them). docs/security.md describes the guarantee. */
#ifndef VELD_POLICY_H
#define VELD_POLICY_H

#include "store.h"

#include <stdint.h>

/* The governed fields, in their canonical order (protocol.md). */
#define VELD_POLICY_NFIELDS 7
extern const char *const veld__policy_fields[VELD_POLICY_NFIELDS];
#define VELD_POLICY_ALL ((1u << VELD_POLICY_NFIELDS) - 1u)
/* The default: address and phone (and the ungoverned name). */
extern const uint32_t veld__policy_default;

/* The bit of a governed client field, or 0 for a field the policy does not
 * govern (it always reaches the team). */
uint32_t veld__policy_bit(const char *kind, const char *field);

/* The mask a store applies to its own writes and what it keeps: every
 * field for the office and for a store that never enrolled; for a worker
 * device its team's policy as last received, or the default. Cached in the
 * store; veld__policy_put clears the cache. */
uint32_t veld__policy_mask(veld_store *s);

/* A team's policy as this store holds it (meta "field_policy:TEAM":
 * BE64(at) || BE32(mask) || sig(64)). VELD_ENOTFOUND if none (then
 * *mask = the default, *at = 0). sig may be NULL. */
int veld__policy_get(veld_store *s, const char *team, uint64_t *at, uint32_t *mask,
                     uint8_t sig[64]);
int veld__policy_put(veld_store *s, const char *team, uint64_t at, uint32_t mask,
                     const uint8_t sig[64]);

/* Remove from this store the values of the team's client fields that `mask`
 * keeps at the office: other devices' operations go, own operations up to
 * `acked` (the highest seq a push confirmed the server holds) keep their
 * place but not their value. Each client that lost a value gets a "purge" entry in the access
 * log. Runs in the caller's transaction; *removed (may be NULL) counts the
 * values removed. */
int veld__policy_enforce(veld_store *s, const char *team, uint32_t mask, uint64_t acked,
                         int64_t *removed);
/* The same for own operations with seq in (after, acked] only: what a push
 * added to what the server holds, when everything up to `after` was
 * enforced under the same policy already. Costs those operations, not the
 * store's history (a range of the primary key). */
int veld__policy_enforce_own(veld_store *s, const char *team, uint32_t mask, uint64_t after,
                             uint64_t acked, int64_t *removed);

/* "a,b,c" (governed field names separated by commas, "" for none) into a
 * mask; VELD_EINVAL naming an unknown or ungoverned field. */
int veld__policy_parse(const char *list, uint32_t *mask);

#endif
