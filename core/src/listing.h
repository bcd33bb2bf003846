/* listing.h - lists across records, for the calls built on them
 * (private).
 *
 * veld_record_list is this list in a call of its own; another call that
 * shows records of a kind (a client's progress over its visits) lists them
 * here, inside its own transaction, so it reads, refuses and logs exactly
 * as the list would. */
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

#endif
