/* merge.h - the merge rule (private).
 *
 * The same code merges on a device and on the server: both hold the tables
 * below and apply operations with veld__merge_apply. It never needs a key:
 * merging reads only ids, field names, stamps and supersedes lists.
 *
 *   ops(device, seq, hlc, kind, entity, client, team, kv, field, value, sup,
 *       hash, head)          - every known operation; head = 1 while current
 *   superseded(device, seq, entity, field)
 *                            - supersessions of operations not yet known
 *   entities(entity, kind, client, team, created)
 *   erased(client, at)       - clients whose operations are dropped
 *   conflicts(entity, field) - fields with more than one head, maintained
 *                              here so nobody has to scan for them
 *
 * The rule (merge.c) reads and writes them only through a small table of
 * storage primitives, so every backend runs the same rule: SQLite for
 * devices and the SQLite server (merge_sqlite.c, veld__merge_open), and any
 * other server backend with a table of its own (veld__merge_open_on).
 */
#ifndef VELD_MERGE_H
#define VELD_MERGE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

typedef struct veld__op veld__op;

/* The storage primitives, on the backend's connection `db`, inside the
 * caller's transaction. Each returns VELD_OK or a negative VELD_E* code
 * (with veld_error_last set). (device, seq) names an operation; entity
 * and field the value it writes. */
struct veld__merge_prims {
	/* The hash of a held operation; *found 0 if none is held. */
	int (*op_hash)(void *db, const uint8_t device[16], uint64_t seq, uint8_t hash[32],
	               int *found);
	/* Store a new operation with its head flag and its supersedes list as
	 * veld__sup_encode writes it (NULL when it has none); *inserted 0,
	 * and nothing written, if its (device, seq) is held already. */
	int (*op_insert)(void *db, const veld__op *op, int head, const uint8_t *sup,
	                 size_t sup_len, int *inserted);
	/* Clear the head flag of operation (device, seq) if it is held on
	 * entity/field: *changed 1 if it is held there, whether or not it was
	 * still a head (so its supersession need not be remembered). */
	int (*op_unhead)(void *db, const uint8_t device[16], uint64_t seq,
	                 const uint8_t entity[16], const char *field, int *changed);
	/* Does any held operation write to `entity`? */
	int (*op_any)(void *db, const uint8_t entity[16], int *any);
	/* Is (device, seq) on entity/field remembered as superseded? */
	int (*sup_check)(void *db, const uint8_t device[16], uint64_t seq,
	                 const uint8_t entity[16], const char *field, int *superseded);
	/* Remember that (device, seq) on entity/field is superseded (again is
	 * no change). */
	int (*sup_insert)(void *db, const uint8_t device[16], uint64_t seq,
	                  const uint8_t entity[16], const char *field);
	/* The record `entity`: *found, its kind, client and team. */
	int (*entity_get)(void *db, const uint8_t entity[16], char kind[17], uint8_t client[16],
	                  char team[65], int *found);
	/* Add op's record (entity, kind, client, team, created = op->hlc), or
	 * lower its `created` to op->hlc if that is lower. */
	int (*entity_upsert)(void *db, const veld__op *op);
	/* Is this client erased here? */
	int (*erased_check)(void *db, const uint8_t client[16], int *erased);
	/* How many held operations on entity/field have the head flag. */
	int (*head_count)(void *db, const uint8_t entity[16], const char *field, uint64_t *heads);
	/* Record that entity/field is in conflict (on) or not. */
	int (*conflict_set)(void *db, const uint8_t entity[16], const char *field, int on);
};

/* How many fields of a new record the merge remembers (merge.c). */
#define VELD_MERGE_FRESH 16

struct veld__merge {
	const struct veld__merge_prims *p;
	void *db;       /* the primitives' connection */
	sqlite3 *sqlite; /* the SQLite connection (veld__merge_open), for the
	                   device's own jobs (veld__merge_drop_after) */
	/* The last record checked: most writes hit one record, so its checks
	 * run once; later operations on it are compared with this. */
	uint8_t last_entity[16];
	uint8_t last_client[16];
	char last_kind[17];
	char last_team[65];
	uint64_t last_created; /* at least its `created` in the table */
	int last_entity_ok;
	/* The last record had no operation (and no row: a record removed by a
	 * retention rule keeps this device's operations) when this transaction
	 * first wrote it, and these are the fields written to it since: a field not among
	 * them has no operation yet, so its first one cannot be in conflict
	 * (its heads are not counted). Another connection cannot write during
	 * a write transaction; each starts without it (veld__merge_tx_begin). */
	int last_new;
	int nfresh;
	char fresh[VELD_MERGE_FRESH][65];
};

/* The tables, as SQL (CREATE TABLE IF NOT EXISTS ...). */
extern const char veld__merge_schema[];
/* Bring a database that holds the merge state to version `nsteps` (PRAGMA
 * user_version): step v (0-based) runs steps[v], step 0 after
 * veld__merge_schema, each in its own transaction, so a crash mid-way
 * leaves the previous version whole. `name` ("the store", "the server
 * database") is for messages; a newer version than nsteps is VELD_ESCHEMA. */
int veld__merge_migrate(sqlite3 *db, const char *const *steps, int nsteps, const char *name);

/* The rule on SQLite: prepare its statements on `db`, whose tables must
 * exist (merge_sqlite.c). veld__merge_close releases them. */
int veld__merge_open(struct veld__merge *m, sqlite3 *db);
void veld__merge_close(struct veld__merge *m);
/* The rule on another backend's primitives and connection. */
void veld__merge_open_on(struct veld__merge *m, const struct veld__merge_prims *p, void *db);
/* Forget cached checks (after rows were removed or a rollback). */
static inline void veld__merge_forget(struct veld__merge *m) { m->last_entity_ok = 0; }
/* A write transaction starts: what another connection wrote before it may
 * be in the table, so no record counts as new yet. */
static inline void veld__merge_tx_begin(struct veld__merge *m) { m->last_new = 0; }

/* Apply one operation inside the caller's transaction. *applied = 1 if it
 * was new, 0 if known already or its client is erased. VELD_ECORRUPT if a
 * different operation holds the same (device, seq), or the operation
 * changes an existing record's kind or client; VELD_EINVAL for an unknown
 * kind or too many supersedes. */
int veld__merge_apply(struct veld__merge *m, const struct veld__op *op, int *applied);

/* The insert half of veld__merge_apply, for an operation the caller knows
 * to be new, unsuperseded and on a new or already-checked record (a local
 * write to a record created in this transaction). supbuf holds 24 * 64.
 * An operation whose (device, seq) is held already is not written:
 * VELD_OK with *applied 0. */
int veld__merge_insert(struct veld__merge *m, const struct veld__op *op, int head,
                       uint8_t *supbuf, int *applied);

/* (SQLite only.) Take every operation of `device` above seq `last` out of the state (a
 * revocation's last seq: a server that withheld the revocation may have
 * handed out what the device signed after it). Each field they touched
 * gets its heads (and conflicts) again from the operations that remain; a
 * record left without operations goes. *removed gets how many went. */
int veld__merge_drop_after(struct veld__merge *m, const uint8_t device[16], uint64_t last,
                           size_t *removed);
/* Is this client erased here (its operations are dropped)? 1, 0, or a
 * negative VELD_E* code. */
int veld__merge_is_erased(struct veld__merge *m, const uint8_t client[16]);

#endif
