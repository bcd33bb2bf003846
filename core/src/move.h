/* move.h - moving a client to another team, the office's side (private).
 *
 * An operation's team and client are signed metadata, so the records of a
 * client cannot change team. A move makes a new client in the new team and
 * copies the current value of every field of every record of the old one
 * into new records (references between them remapped), keeping the map old
 * record -> new record in `moves`. The old client stays in the office's
 * store: operations of it that still come (a device that was offline
 * during the move) are forwarded to the new client at the office's syncs
 * (veld__moves_forward), once each (`move_fwd`). Devices of the old team
 * remove the old client when the move notice reaches them (retention.h,
 * veld__client_moved_notice); the office sees which have not yet
 * (veld__move_status). Called in a step or a transaction of the caller. */
#ifndef VELD_MOVE_H
#define VELD_MOVE_H

#include "store.h"

#include <jansson.h>

/* May the office move `client_id` (a full id or unique prefix) to `team`?
 * A client this store holds, not erased, not moved already, of another
 * team than `team`, and `team` one the office holds a key of. Fills
 * client and its team. VELD_EINVAL, VELD_ENOTFOUND, VELD_ESHREDDED (erased)
 * or VELD_EEXISTS (moved already) with a message that names no value. */
int veld__move_check(veld_store *s, const char *client_id, const char *team,
                     uint8_t client[VELD_ID_BYTES], char from_team[VELD_TEAM_MAX + 1]);

/* Make the new client in `team` and copy the old one's records into it (in
 * the current transaction): new ids, references remapped, the winner of a
 * conflict copied; records deleted are not copied. Every operation of the
 * old client held now counts as forwarded. Logged in the access log on
 * both clients. *new_client gets the new id. */
int veld__move_copy(veld_store *s, const uint8_t client[VELD_ID_BYTES], const char *from_team,
                    const char *team, uint64_t at, uint8_t new_client[VELD_ID_BYTES]);

/* Forward to the new clients what came for moved clients since (in the
 * current transaction): for each record and field an operation not
 * forwarded yet touched, the old record's current value onto the mapped
 * record (a record not seen before is created, mapped), superseding only
 * the office's own values there; *forwarded counts the operations taken. */
int veld__moves_forward(veld_store *s, uint64_t *forwarded);

/* The move of `client_id` (full id or prefix of the old client) as JSON:
 * {"client", "new_client", "from", "to", "at", "holding": [device hex...],
 * "confirmed": [device hex...]}: the old team's certified, not revoked
 * workers whose access log (as the office received it) has not yet / has
 * the removal's entry. VELD_ENOTFOUND if it did not move. */
int veld__move_status(veld_store *s, const char *client_id, json_t **out);

/* The clients a chain of moves joins `client` to (one person under several
 * ids), first to last, each with the team it is (was) in. */
struct veld__move_chain {
	size_t n; /* 0: the client never moved and is no move's new client */
	uint8_t id[16][VELD_ID_BYTES];
	char team[16][VELD_TEAM_MAX + 1];
};
int veld__move_chain(veld_store *s, const uint8_t client[VELD_ID_BYTES],
                     struct veld__move_chain *out);

/* `client` is erased here: the move bookkeeping that names it (its rows in
 * moved_clients, as old or new client, and its records' map) goes. */
int veld__move_forget(veld_store *s, const uint8_t client[VELD_ID_BYTES]);

#endif
