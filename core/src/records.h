/* records.h - records on top of the operation log: ids and writes
 * (private).
 *
 * A record is an entity in the operation log; each of its fields is a
 * multi-value register whose value is JSON sealed under the client's data
 * key. What a record is made of is kinds.h, how it reads recbuild.h. */
#ifndef VELD_RECORDS_H
#define VELD_RECORDS_H

#include "store.h"

#include <jansson.h>

/* Resolve a record id or unique hex prefix (>= 4 digits) of `kind` (NULL:
 * any kind). Fills entity, client, team and kind (each but entity may be
 * NULL). VELD_ESHREDDED for the full id of an erased client. */
int veld__resolve(veld_store *s, const char *kind, const char *id, uint8_t entity[VELD_ID_BYTES],
                  uint8_t client[VELD_ID_BYTES], char team[VELD_TEAM_MAX + 1],
                  char kind_out[VELD_KIND_MAX + 1]);

#endif
