/* kinds.h - the record schema: which kinds of record and which fields
 * exist, and how a value is checked (private).
 *
 * The schema is data, not code: a JSON document (docs/data-model.md, "The
 * record schema") that the office signs and publishes and every store keeps
 * by version. The built-in one is core/schema/beschermd-thuis.json, compiled
 * in. kinddoc.c reads a document into the structures below and decides
 * whether a new version is compatible with the one before; kinds.c checks
 * values against the schema in force (veld_schema_json hands it to apps). */
#ifndef VELD_KINDS_H
#define VELD_KINDS_H

#include "store.h"

#include <jansson.h>

/* The life-domain version a record is scored against unless it says. */
#define VELD_ZRM_DEFAULT "2017"
/* The largest schema document, its canonical JSON text. */
#define VELD_SCHEMA_DOC_MAX (128u * 1024u)

enum veld__ftype {
	F_TEXT, F_DATE, F_DATETIME, F_ENUM, F_BOOL, F_DOMAINS, F_DOMAIN, F_SCORES, F_REF, F_CARE,
	F_HOUSING, F_INT, F_OPTIONS, F_CODE, F_CODES
};

#define VELD_F_REQ 1u     /* required at creation */
#define VELD_F_SEARCH 2u  /* searched by a list query */
#define VELD_F_RETIRED 4u /* still read and merged, no longer written */

/* A field: its name and type, and the rest of its definition as the
 * document gives it (def: "values", "retired_values", "ref", "list", "min",
 * "max", "default"). Strings point into the document. */
struct veld__fdef {
	const char *name;
	enum veld__ftype type;
	unsigned flags;
	json_t *def;
	const char *ref; /* F_REF: the kind; F_CODE, F_CODES: the list */
	json_int_t min, max;
};

struct veld__kdef {
	const char *kind;
	int append_only; /* notes: never updated, deleted or resolved */
	size_t nfields;
	struct veld__fdef *fields;
};

/* One version of the schema, read from its document. */
struct veld__schema {
	uint64_t version;
	const char *name;
	size_t nkinds;
	struct veld__kdef *kinds;
	json_t *doc;  /* the document; every string above points into it */
	char *text;   /* its compact text: what is kept and signed */
	size_t text_len;
	/* The one in force before, when another process's newer version
	 * replaced it while the store was open (veld__schema_reload): kept,
	 * and freed with this one, for kinds a running call looked up. */
	struct veld__schema *older;
};

/* ---- kinddoc.c: the document ------------------------------------------------- */

/* The built-in schema's document (core/schema/beschermd-thuis.json). */
extern const char veld__default_schema[];

/* Read and check a schema document: VELD_OK with *out, or VELD_EINVAL
 * saying what is wrong with it (a path like kinds.tenancy.fields.form). */
int veld__schema_parse(const char *text, size_t len, struct veld__schema **out);
void veld__schema_free(struct veld__schema *sc);
/* May `next` follow `prev`? A higher version that keeps every kind, field,
 * type, option, list entry and range of `prev` and makes no field of an
 * existing kind required: so every record written under `prev` is valid
 * under `next`. VELD_OK or VELD_EINVAL naming the first change refused. */
int veld__schema_compatible(const struct veld__schema *prev, const struct veld__schema *next);

/* The schema in force in this store: the newest it keeps (table
 * `schemas`), else the built-in one. Loaded when the store opens. */
int veld__schema_load(veld_store *s);
/* Another process kept a newer version (store.c, at a transaction's
 * start): put it in force, the one before kept beside it. */
int veld__schema_reload(veld_store *s);
/* Keep a new version (checked compatible with the one in force) and make
 * it the one in force (`at`: when the office published it, ms). A rolled
 * back transaction restores the one before. */
int veld__schema_adopt(veld_store *s, const char *text, size_t len, uint64_t at);
/* Does this store keep version `version` with exactly this text (*same)? */
int veld__schema_held(veld_store *s, uint64_t version, const char *text, size_t len, int *same);

/* ---- kinds.c: checking values ----------------------------------------------------- */

/* The definition of `kind` in the schema in force, or VELD_EINVAL naming
 * the kinds there are. */
int veld__kind_get(veld_store *s, const char *kind, const struct veld__kdef **out);
/* Is `kind` one of the schema's kinds? */
int veld__kind_known(veld_store *s, const char *kind);
/* Is `kind` a well-formed kind name (1 to VELD_KIND_MAX of a-z, 0-9, _,
 * starting with a letter)? What the merge and the server accept: a kind
 * the office adds needs no new server. */
int veld__kind_name_ok(const char *kind);
/* Does kind k have a field `name`? */
int veld__field_known(const struct veld__kdef *k, const char *name);

/* The life-domain version in force for a write: the one the fields give,
 * else the existing record's (may be NULL), else VELD_ZRM_DEFAULT. */
const char *veld__zrm_of(json_t *fields, json_t *existing);

/* What a new record of kind k gets unless its fields say: each field's
 * "default" in the schema. */
int veld__fields_defaults(const struct veld__kdef *k, json_t *fields);

/* Check every field of `fields` against kind k: a known name the team's
 * field policy lets onto this device, a field and value not retired, and a
 * valid value (life-domain codes of version `zrm`). References are
 * resolved in place to full ids and must name a record of `client` (NULL
 * for a client record itself). With `creating`, the required fields must
 * be there. VELD_EINVAL (or VELD_EPERM for a field the policy keeps at the
 * office) naming the field, never its value. */
int veld__fields_check(veld_store *s, const struct veld__kdef *k, json_t *fields, const char *zrm,
                       const uint8_t *client, int creating);

/* A value another device wrote for (kind, field), as its writer checked
 * it: a field of the kind, a value of the field's type and range, life
 * domains of a version this store knows; retired fields and options still
 * pass. A reference need only be a full id. VELD_OK, VELD_ENOTFOUND for a
 * kind, field, option or list code this schema lacks, or VELD_EINVAL
 * naming the field (never the value). */
int veld__field_value_check(veld_store *s, const char *kind, const char *field, json_t *v);
/* An operation of another device whose value opens with `key`: opened and
 * checked as above. VELD_OK with *why NULL if it passes, VELD_OK with *why
 * saying what failed (it goes to quarantine), or a store failure. */
struct veld__op;
int veld__op_value_check(veld_store *s, const struct veld__op *op, const uint8_t key[32],
                         const char **why);
/* *why when the value names a kind, field, option or list code this
 * schema lacks: perhaps of a version whose notice has not come (compare
 * the pointer). It waits for a new schema rather than the quarantine. */
extern const char veld__newer_schema[];

/* Does record `rec` of kind k hold `query` in one of the fields a list
 * query searches (ASCII case-insensitive)? */
int veld__kind_search(const struct veld__kdef *k, json_t *rec, const char *query);

/* Days since 1970-01-01 (*day) of a date or the date part of a datetime, a
 * real calendar date of 1900-2200: 0, or -1 if it is not one; of a civil
 * date y-m-d (proleptic Gregorian). */
int veld__day_number(const char *date, int64_t *day);
int64_t veld__days_from_civil(int64_t y, unsigned m, unsigned d);
/* The date "YYYY-MM-DD" of a day number. */
void veld__date_of_day(char out[11], int64_t day);

#endif
