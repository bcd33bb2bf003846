/* listing.h - lists across records, for the calls built on them
 * (private).
 *
 * veld_record_list is this list in a call of its own; another call that
 * shows records of a kind (a client's progress over its visits) lists them
 * here, inside its own transaction, so it reads, refuses and logs exactly
 * as the list would. A call that reads several kinds of several clients
 * (what is due) lists each with veld__list_records and logs once per
 * client with veld__list_log, as one list would. */
#ifndef VELD_LISTING_H
#define VELD_LISTING_H

#include "kinds.h"
#include "store.h"

#include <jansson.h>

/* The records of kind k that `filter` selects ({"client", "status",
 * "query"}, each optional; NULL for every record), into *out (a new array
 * the caller releases; NULL on failure). Store entered with keys, inside
 * the caller's transaction: one access-log entry per client whose records
 * it shows, a refusal noted (VELD_EPERM) for another team's client asked
 * for by id without break-the-glass. */
int veld__record_list(veld_store *s, const struct veld__kdef *k, json_t *filter,
                      const char *purpose, json_t **out);

/* The live records of `kind` the actor may see onto arr, oldest first: of
 * one client (`client` not NULL; a client the actor may read, which the
 * caller checked), or of every client of the actor's team (every team's
 * in the office's store); with only the fields named in `fields`
 * (NULL-terminated; NULL: every field). Erased clients and records whose
 * key is not here are left out. Each record's client goes into `clients`
 * as {client id: event}; nothing is logged until veld__list_log. */
int veld__list_records(veld_store *s, const char *kind, const uint8_t *client,
                       const char *const *fields, json_t *arr, json_t *clients);

/* One access-log entry for each client of `clients` ({client id: event}),
 * with `purpose`, in the current transaction. */
int veld__list_log(veld_store *s, json_t *clients, const char *purpose);

#endif
