/* kinds.h - the record schema: which kinds of record and which fields
 * exist, and how a value is checked (private).
 *
 * The table in kinds.c is the single place that says so; docs/data-model.md
 * mirrors it and veld_schema_json hands it to apps. */
#ifndef VELD_KINDS_H
#define VELD_KINDS_H

#include "store.h"

#include <jansson.h>

/* The life-domain version a record is scored against unless it says. */
#define VELD_ZRM_DEFAULT "2017"

struct veld__fdef; /* a field: its name, type and checks (kinds.c) */

struct veld__kdef {
	const char *kind;
	int append_only; /* notes: never updated, deleted or resolved */
	const struct veld__fdef *fields;
};

/* Every kind, ending with a NULL kind. */
extern const struct veld__kdef veld__kinds[];

/* The definition of `kind`, or VELD_EINVAL naming the kinds there are. */
int veld__kind_get(const char *kind, const struct veld__kdef **out);
/* Is `kind` one of the kinds (merge.c refuses operations of others)? */
int veld__kind_known(const char *kind);
/* Does kind k have a field `name`? */
int veld__field_known(const struct veld__kdef *k, const char *name);

/* The life-domain version in force for a write: the one the fields give,
 * else the existing record's (may be NULL), else VELD_ZRM_DEFAULT. */
const char *veld__zrm_of(json_t *fields, json_t *existing);

/* Check every field of `fields` against kind k: a known name the team's
 * field policy lets onto this device, and a valid value (life-domain codes
 * of version `zrm`). References are resolved in place to full ids. With
 * `creating`, the required fields must be there. VELD_EINVAL (or
 * VELD_EPERM for a field the policy keeps at the office) naming the field,
 * never its value. */
int veld__fields_check(veld_store *s, const struct veld__kdef *k, json_t *fields, const char *zrm,
                       int creating);

/* A value another device wrote for (kind, field), as its writer checked
 * it: a field of the kind, a value of the field's type and range, life
 * domains of a version this store knows. A reference need only be a full
 * id. VELD_OK, or VELD_EINVAL naming the field (never the value). */
int veld__field_value_check(veld_store *s, const char *kind, const char *field, json_t *v);
/* An operation of another device whose value opens with `key`: opened and
 * checked as above. VELD_OK with *why NULL if it passes, VELD_OK with *why
 * saying what failed (it goes to quarantine), or a store failure. */
struct veld__op;
int veld__op_value_check(veld_store *s, const struct veld__op *op, const uint8_t key[32],
                         const char **why);

/* Does record `rec` of kind k hold `query` in one of the fields a list
 * query searches (ASCII case-insensitive)? */
int veld__kind_search(const struct veld__kdef *k, json_t *rec, const char *query);

#endif
