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

/* The purpose of the access-log entry (event "erase") a device writes when
 * it removes a client the office moved to another team: the office reads
 * it as the device's confirmation (veld office move --status). The entry
 * goes on with VELD_MOVED_SEQ and the device's last own seq then, in
 * decimal ("moved to another team; last own seq 42"): whatever the device
 * signs for the client above that seq it wrote after it removed the client,
 * and the office forwards none of it (move.c). */
#define VELD_MOVED_PURPOSE "moved to another team"
#define VELD_MOVED_SEQ "; last own seq "

/* The office moved this client to another team (a pull brought the
 * notice): in the current transaction, as an erasure here (keys destroyed,
 * records removed, later operations dropped), except that own operations
 * above `pushed_seq` (the last own seq a push confirmed) keep their sealed
 * value so they are still pushed; logged as event "erase" with purpose
 * VELD_MOVED_PURPOSE and VELD_MOVED_SEQ whether the store held the client
 * or not. A client
 * erased (or removed so) here already is left as it is. */
int veld__client_moved_notice(veld_store *s, const uint8_t client[VELD_ID_BYTES],
                              uint64_t pushed_seq);
/* A push confirmed own seqs from_seq..to_seq: the values of those of
 * clients removed here (a move kept them until now) go. */
int veld__moved_values_pushed(veld_store *s, uint64_t from_seq, uint64_t to_seq);

/* Remove every record of `client` of `kind` (NULL: all kinds) from this
 * store: other devices' operations are deleted, own operations keep only
 * their metadata (sync needs the sequence) and lose their sealed value.
 * *removed (may be NULL) counts the records removed. */
int veld__remove_records(veld_store *s, const uint8_t client[VELD_ID_BYTES], const char *kind,
                         int64_t *removed);

#endif
