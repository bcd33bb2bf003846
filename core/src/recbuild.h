/* recbuild.h - a record's JSON, built from the operation log (private).
 *
 * A record is a view over the log: each field's value is its winning head
 * (highest hlc, then device), opened with the client's data key. A field
 * with more than one head is a conflict, shown with every competing value.
 * The shape is docs/data-model.md#a-record-as-json. */
#ifndef VELD_RECBUILD_H
#define VELD_RECBUILD_H

#include "store.h"

#include <jansson.h>

/* Build the JSON of one record from its field heads (decrypting). *out is
 * NULL if the record is deleted. Conflicts list every competing value,
 * winner first. VELD_ENOTFOUND for an unknown record, VELD_ESHREDDED or
 * VELD_ENOTFOUND when its client's key is destroyed or not here. */
int veld__record_build(veld_store *s, const uint8_t entity[VELD_ID_BYTES], json_t **out);
/* The same with only the fields named in `fields` (NULL-terminated; NULL:
 * every field). The others are not opened, so a caller that needs a few
 * fields of many records decrypts only those; "updated" still counts them. */
int veld__record_build_fields(veld_store *s, const uint8_t entity[VELD_ID_BYTES],
                              const char *const *fields, json_t **out);

/* Notes are never rewritten; a correction is a new note that `amends` the
 * earlier one. Give each note of the array `notes` its "amended_by": the
 * ids of the notes in the same array that amend it. */
void veld__notes_amended_by(json_t *notes);
/* The same for one note (`rec`) of `client`, from the client's notes. */
int veld__note_amended_by(veld_store *s, const uint8_t client[VELD_ID_BYTES], json_t *rec);

#endif
