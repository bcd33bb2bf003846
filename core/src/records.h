/* records.h - domain records on top of the operation log (private). */
#ifndef VELD_RECORDS_H
#define VELD_RECORDS_H

#include "store.h"
#include <jansson.h>

/* Resolve a record id or unique hex prefix (>= 4 digits) of `kind` (NULL:
 * any kind). Fills entity, client, team and kind (each may be NULL). */
int veld__resolve(veld_store *s, const char *kind, const char *id, uint8_t entity[VELD_ID_BYTES],
                  uint8_t client[VELD_ID_BYTES], char team[VELD_TEAM_MAX + 1],
                  char kind_out[VELD_KIND_MAX + 1]);

/* Build the JSON of one record from its field heads (decrypting). *out is
 * NULL if the record is deleted. Conflicts list every competing value. */
int veld__record_build(veld_store *s, const uint8_t entity[VELD_ID_BYTES], json_t **out);

/* Remove every record of `client` of `kind` (NULL: all kinds) from this
 * store: other devices' operations are deleted, own operations keep only
 * their metadata (sync needs the sequence) and lose their sealed value. */
/* The office erased this client everywhere (a pull brought the notice): in
 * the current transaction, destroy its keys and records here if this store
 * holds any, remember it so later operations are dropped, and log it. A
 * client erased here already is left as it is. */
int veld__client_erased_notice(veld_store *s, const uint8_t client[VELD_ID_BYTES]);
int veld__remove_records(veld_store *s, const uint8_t client[VELD_ID_BYTES], const char *kind,
                         int64_t *removed);

#endif
