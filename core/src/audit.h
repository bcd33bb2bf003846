/* audit.h - the office's marks on devices' access logs (private).
 *
 * The office keeps every device's access log in `office_audit` (store.h,
 * syncstate.h) once it has checked each entry with the key it certified for
 * the device (docs/protocol.md, GET /v1/audit). Some devices' entries it
 * cannot take as genuine, and for those it keeps a mark, one per device,
 * instead of the entries:
 *
 *   waiting       the office has not certified the device (yet). Its entries
 *                 are passed over and stay on the server; the mark says where
 *                 they start in the server's feed, so that once the office
 *                 certifies the device the pull goes back there and takes
 *                 them in, checked.
 *   unverifiable  the office will not certify the device (it looked at the
 *                 server's device list after the device's entries came, and
 *                 did not certify it: revoked before it was certified, no
 *                 invite of this office, made up by the server). Its entries
 *                 are kept at their place as `unverified`, with nothing of
 *                 what they say.
 *   revoked       the office revoked the device's certificate. The entries it
 *                 held of it then are genuine; the mark's `point` is the
 *                 last of them. Whatever comes later is kept as `unverified`.
 *
 * Nothing of an entry is stored for a mark, so a server that makes devices up
 * costs the office one mark each, and at most VELD_AUDIT_MARKS_MAX waiting and
 * as many unverifiable marks are kept; of a device without a certificate, or
 * after its revocation, at most VELD_AUDIT_UNVERIFIED_MAX entries are kept as
 * `unverified`. The marks live in `meta` under "audit_mark:" and the device's
 * hex id.
 *
 * Every function runs inside a step or a public call (the store's mutex
 * held) and returns VELD_OK or a negative VELD_E* code with a message; "not
 * there" is VELD_ENOTFOUND without a message. */
#ifndef VELD_AUDIT_H
#define VELD_AUDIT_H

#include "store.h"

/* At most this many devices waiting, and as many unverifiable: the entries
 * of a device beyond are not kept at all (a warning says so). */
#define VELD_AUDIT_MARKS_MAX 256
/* At most this many `unverified` entries of one device. */
#define VELD_AUDIT_UNVERIFIED_MAX 1000

enum veld__audit_mark_state {
	VELD_AUDIT_WAITING = 1,
	VELD_AUDIT_UNVERIFIABLE = 2,
	VELD_AUDIT_REVOKED = 3
};

struct veld__audit_mark {
	uint8_t device[VELD_ID_BYTES];
	int state;       /* enum veld__audit_mark_state */
	uint64_t resume; /* waiting: a server cursor just below its first entry passed over */
	uint64_t next;   /* waiting: its entries 1 .. next - 1 came, without a gap */
	uint64_t point;  /* revoked: the last of its entries taken as genuine */
	uint64_t top;    /* the highest seq of it that came */
};

int veld__audit_mark_get(veld_store *s, const uint8_t device[VELD_ID_BYTES],
                         struct veld__audit_mark *out);
int veld__audit_mark_put(veld_store *s, const struct veld__audit_mark *m);
int veld__audit_mark_del(veld_store *s, const uint8_t device[VELD_ID_BYTES]);
/* Every mark, in device order, into a new array (*n of them; free it). */
int veld__audit_marks_all(veld_store *s, struct veld__audit_mark **out, size_t *n);

#endif
