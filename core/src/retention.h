/* retention.h - removing a client's records: erasure and retention
 * (private). */
#ifndef VELD_RETENTION_H
#define VELD_RETENTION_H

#include "store.h"

/* The office erased this client everywhere (a pull brought the notice): in
 * the current transaction, destroy its keys and records here if this store
 * holds any, remember it so later operations are dropped, and log it. A
 * client erased here already is left as it is. */
int veld__client_erased_notice(veld_store *s, const uint8_t client[VELD_ID_BYTES]);

/* Remove every record of `client` of `kind` (NULL: all kinds) from this
 * store: other devices' operations are deleted, own operations keep only
 * their metadata (sync needs the sequence) and lose their sealed value.
 * *removed (may be NULL) counts the records removed. */
int veld__remove_records(veld_store *s, const uint8_t client[VELD_ID_BYTES], const char *kind,
                         int64_t *removed);

#endif
