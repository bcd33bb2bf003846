/* schema.c - the device store's SQL schema and its migrations.
 *
 * PRAGMA user_version holds the schema version. Each migration runs in its
 * own transaction, so a crash mid-way leaves the previous version intact.
 * Migrations only ever move forward; a store from a newer veld is refused. */
#include "store.h"
#include "error.h"
#include "merge.h"

#include <stdio.h>

/* Version 1: keys, the operation log and the state derived from it. The
 * operation log, its merge state and `erased` are veld__merge_schema
 * (merge.c), shared with the server; run first. */
static const char *const v1 =
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;"
	/* Client data keys, each version wrapped under the device master key. */
	"CREATE TABLE client_keys(client BLOB NOT NULL, kv INTEGER NOT NULL, team TEXT NOT NULL,"
	"  wrapped BLOB NOT NULL, PRIMARY KEY(client, kv)) WITHOUT ROWID;"
	/* Signatures over batches of operations: own ones (one per commit) and
	 * received ones, with the hashes of the whole batch for the latter. */
	"CREATE TABLE batches(device BLOB NOT NULL, first_seq INTEGER NOT NULL,"
	"  last_seq INTEGER NOT NULL, sig BLOB NOT NULL, hashes BLOB,"
	"  PRIMARY KEY(device, first_seq)) WITHOUT ROWID;"
	/* NEN 7513 access log: append-only, each hash chains the one before. */
	"CREATE TABLE audit(seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, event TEXT NOT NULL,"
	"  outcome TEXT NOT NULL, client TEXT, user TEXT NOT NULL, role TEXT NOT NULL,"
	"  device TEXT NOT NULL, purpose TEXT NOT NULL, hash BLOB NOT NULL);"
	"CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
	"  BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;";

/* Version 2: life domains as versioned reference data (ZRM 2017). */
static const char *const v2 =
	"CREATE TABLE zrm_domains(version TEXT NOT NULL, code TEXT NOT NULL,"
	"  ord INTEGER NOT NULL, label TEXT NOT NULL, PRIMARY KEY(version, code)) WITHOUT ROWID;"
	"INSERT INTO zrm_domains VALUES"
	" ('2017','financien',1,'Financien'),"
	" ('2017','werk_opleiding',2,'Werk & opleiding'),"
	" ('2017','tijdsbesteding',3,'Tijdsbesteding'),"
	" ('2017','huisvesting',4,'Huisvesting'),"
	" ('2017','huiselijke_relaties',5,'Huiselijke relaties'),"
	" ('2017','geestelijke_gezondheid',6,'Geestelijke gezondheid'),"
	" ('2017','lichamelijke_gezondheid',7,'Lichamelijke gezondheid'),"
	" ('2017','middelengebruik',8,'Middelengebruik'),"
	" ('2017','basale_adl',9,'Basale ADL'),"
	" ('2017','instrumentele_adl',10,'Instrumentele ADL'),"
	" ('2017','sociaal_netwerk',11,'Sociaal netwerk'),"
	" ('2017','maatschappelijke_participatie',12,'Maatschappelijke participatie'),"
	" ('2017','justitie',13,'Justitie');";

/* Version 3: retention policy per record kind. Device copies are kept only
 * while the case is active (days = 0 after the case ends). */
static const char *const v3 =
	"CREATE TABLE retention(kind TEXT PRIMARY KEY, days INTEGER NOT NULL,"
	"  basis TEXT NOT NULL) WITHOUT ROWID;"
	"INSERT INTO retention VALUES"
	" ('client',0,'device copy: only while the case is active'),"
	" ('visit',0,'device copy: only while the case is active'),"
	" ('note',0,'device copy: only while the case is active'),"
	" ('goal',0,'device copy: only while the case is active'),"
	" ('signal',0,'device copy: only while the case is active');";

/* Version 4: what sync needs. Team key pairs (the secret half wrapped
 * under the master key), client key envelopes waiting to be pushed, and the
 * signing keys of other devices whose operations arrived. */
static const char *const v4 =
	"CREATE TABLE team_keys(team TEXT NOT NULL, tv INTEGER NOT NULL, pk BLOB NOT NULL,"
	"  wrapped BLOB NOT NULL, PRIMARY KEY(team, tv)) WITHOUT ROWID;"
	"CREATE TABLE outbox(client BLOB NOT NULL, kv INTEGER NOT NULL, recipient TEXT NOT NULL,"
	"  tv INTEGER NOT NULL, sealed BLOB NOT NULL,"
	"  PRIMARY KEY(client, kv, recipient, tv)) WITHOUT ROWID;"
	"CREATE TABLE peers(device BLOB PRIMARY KEY, sign_pk BLOB NOT NULL) WITHOUT ROWID;";

/* Version 5: the conflicts table (merge.c keeps it); filled from the log. */
static const char *const v5 =
	"CREATE TABLE IF NOT EXISTS conflicts(entity BLOB NOT NULL, field TEXT NOT NULL,"
	"  PRIMARY KEY(entity, field)) WITHOUT ROWID;"
	"INSERT OR IGNORE INTO conflicts SELECT entity, field FROM ops WHERE head = 1"
	"  GROUP BY entity, field HAVING count(*) > 1;";

/* Version 6: the office's copy of every device's access log (sync brings
 * it; docs/protocol.md, GET /v1/audit). Empty in a worker's store.
 * Append-only like the local log. */
static const char *const v6 =
	"CREATE TABLE office_audit(device BLOB NOT NULL, seq INTEGER NOT NULL, at INTEGER NOT NULL,"
	"  event TEXT NOT NULL, outcome TEXT NOT NULL, client TEXT, user TEXT NOT NULL,"
	"  role TEXT NOT NULL, purpose TEXT NOT NULL, PRIMARY KEY(device, seq)) WITHOUT ROWID;"
	"CREATE INDEX office_audit_client ON office_audit(client);"
	"CREATE TRIGGER office_audit_no_update BEFORE UPDATE ON office_audit"
	"  BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;";

/* Version 7: trust no server (docs/security.md). Operations and batches
 * carry their format version (1 from veld 0.1, 2 since); the office's
 * certificates of devices and every notice it signed that reached this
 * store; how far each author's operations arrived without a gap; what waits
 * (operations and key envelopes whose author, key or time is not there
 * yet); what failed the writer's checks (quarantine); the office's latest
 * dated checkpoint of the team; and, in the office's store, the invites it
 * made. The `peers` table of version 4 stays as the keys pinned before
 * certificates existed, which the office certifies as they are. */
static const char *const v7 =
	"ALTER TABLE ops ADD COLUMN ver INTEGER NOT NULL DEFAULT 1;"
	"ALTER TABLE batches ADD COLUMN ver INTEGER NOT NULL DEFAULT 1;"
	"CREATE TABLE certs(device BLOB PRIMARY KEY, team TEXT NOT NULL, role TEXT NOT NULL,"
	"  sign_pk BLOB NOT NULL, box_pk BLOB NOT NULL, enrolled INTEGER NOT NULL,"
	"  revoked_seq INTEGER) WITHOUT ROWID;"
	"CREATE TABLE notices(team TEXT NOT NULL, n INTEGER NOT NULL, kind TEXT NOT NULL,"
	"  at INTEGER NOT NULL, body BLOB NOT NULL, sig BLOB NOT NULL,"
	"  PRIMARY KEY(team, n)) WITHOUT ROWID;"
	"CREATE TABLE authors(device BLOB PRIMARY KEY, seen INTEGER NOT NULL) WITHOUT ROWID;"
	/* A store that synced before: what it holds of each author counts as
	 * arrived, so the next page continues from there. */
	"INSERT INTO authors(device, seen) SELECT device, max(seq) FROM ops GROUP BY device;"
	/* Items of the operation feed that wait: operations (what 0), and, of
	 * an author not certified yet, stubs (1) and held items (2) too, whose
	 * `layer` is the hash they show (kh, rh). Keyed by their hash as well:
	 * what a server made up cannot take the place of what the author
	 * signed. */
	"CREATE TABLE pending_ops(device BLOB NOT NULL, seq INTEGER NOT NULL, ver INTEGER NOT NULL,"
	"  hlc INTEGER NOT NULL, kind TEXT NOT NULL, entity BLOB NOT NULL, client BLOB NOT NULL,"
	"  team TEXT NOT NULL, kv INTEGER NOT NULL, field TEXT NOT NULL, value BLOB, sup BLOB,"
	"  hash BLOB NOT NULL, wait INTEGER NOT NULL, what INTEGER NOT NULL, layer BLOB,"
	"  PRIMARY KEY(device, seq, hash)) WITHOUT ROWID;"
	/* What waits is found by what it waits for (trust.h, enum veld__wait). */
	"CREATE INDEX pending_ops_time ON pending_ops(hlc) WHERE wait = 2;"
	"CREATE INDEX pending_ops_key ON pending_ops(client, kv) WHERE wait = 3;"
	/* The signed batches of authors not certified yet, each kept once by
	 * its content (id: a hash of it), checked when the certificate comes. */
	"CREATE TABLE held_batches(device BLOB NOT NULL, first_seq INTEGER NOT NULL,"
	"  last_seq INTEGER NOT NULL, id BLOB NOT NULL, sig BLOB NOT NULL, hashes BLOB NOT NULL,"
	"  ver INTEGER NOT NULL, PRIMARY KEY(device, first_seq, id)) WITHOUT ROWID;"
	"CREATE TABLE pending_envs(client BLOB NOT NULL, kv INTEGER NOT NULL,"
	"  recipient TEXT NOT NULL, tv INTEGER NOT NULL, sealed BLOB NOT NULL,"
	"  author BLOB NOT NULL, sig BLOB NOT NULL, wait INTEGER NOT NULL,"
	"  PRIMARY KEY(client, kv, recipient, tv, author, sig)) WITHOUT ROWID;"
	"CREATE TABLE quarantine(id INTEGER PRIMARY KEY, what TEXT NOT NULL, device BLOB NOT NULL,"
	"  seq INTEGER, client BLOB, kv INTEGER, kind TEXT, field TEXT, reason TEXT NOT NULL,"
	"  at INTEGER NOT NULL);"
	"CREATE UNIQUE INDEX quarantine_op ON quarantine(device, seq) WHERE what = 'operation';"
	"CREATE TABLE checkpoints(team TEXT PRIMARY KEY, at INTEGER NOT NULL, n INTEGER NOT NULL,"
	"  heads BLOB NOT NULL, sig BLOB NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE invites(auth BLOB PRIMARY KEY, team TEXT NOT NULL, proof_key BLOB NOT NULL,"
	"  expires INTEGER NOT NULL) WITHOUT ROWID;";

/* Version 8: the record schema is data (kinds.h). Each version the office
 * published that reached this store, the newest in force (none: the
 * built-in one); and the retention of the kinds the built-in schema adds
 * (a kind without a row is kept as long as its client). */
static const char *const v8 =
	"CREATE TABLE schemas(version INTEGER PRIMARY KEY, doc TEXT NOT NULL, at INTEGER NOT NULL);"
	"INSERT OR IGNORE INTO retention VALUES"
	" ('phase',0,'device copy: only while the case is active'),"
	" ('readiness',0,'device copy: only while the case is active'),"
	" ('tenancy',0,'device copy: only while the case is active'),"
	" ('woonkompas',0,'device copy: only while the case is active'),"
	" ('income',0,'device copy: only while the case is active'),"
	" ('time_out',0,'device copy: only while the case is active'),"
	" ('day_activity',0,'device copy: only while the case is active'),"
	" ('escalation',0,'device copy: only while the case is active'),"
	" ('escalation_step',0,'device copy: only while the case is active'),"
	" ('waakvlam',0,'device copy: only while the case is active'),"
	" ('waakvlam_use',0,'device copy: only while the case is active'),"
	" ('contact_person',0,'device copy: only while the case is active'),"
	" ('action',0,'device copy: only while the case is active'),"
	" ('meeting',0,'device copy: only while the case is active'),"
	" ('consent',0,'device copy: only while the case is active');";

/* Version 9: the office's moves of clients to another team (move.h): each
 * moved client with its new id, the map of its old records to the new
 * ones, and the operations of old clients already copied or forwarded.
 * Empty on a worker's device. */
static const char *const v9 =
	"CREATE TABLE moved_clients(client BLOB PRIMARY KEY, new_client BLOB NOT NULL UNIQUE,"
	"  from_team TEXT NOT NULL, to_team TEXT NOT NULL, at INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE moves(entity BLOB PRIMARY KEY, client BLOB NOT NULL,"
	"  new_entity BLOB NOT NULL UNIQUE, kind TEXT NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE move_fwd(device BLOB NOT NULL, seq INTEGER NOT NULL,"
	"  PRIMARY KEY(device, seq)) WITHOUT ROWID;";

/* Version 10: per client, the records what is due may still need
 * (duekept.c), sealed under the client's key. Any change to an operation
 * of the client's records or to its keys, or its erasure, drops its row;
 * veld_due makes it again. */
static const char *const v10 =
	"CREATE TABLE due_kept(client BLOB PRIMARY KEY, kv INTEGER NOT NULL,"
	"  box BLOB NOT NULL) WITHOUT ROWID;"
	"CREATE TRIGGER due_kept_op_in AFTER INSERT ON ops"
	"  BEGIN DELETE FROM due_kept WHERE client = NEW.client; END;"
	"CREATE TRIGGER due_kept_op_up AFTER UPDATE ON ops"
	"  BEGIN DELETE FROM due_kept WHERE client = OLD.client; END;"
	"CREATE TRIGGER due_kept_op_del AFTER DELETE ON ops"
	"  BEGIN DELETE FROM due_kept WHERE client = OLD.client; END;"
	"CREATE TRIGGER due_kept_erased AFTER INSERT ON erased"
	"  BEGIN DELETE FROM due_kept WHERE client = NEW.client; END;"
	/* A key that comes after the operations it opens shows records that
	 * could not be read before. */
	"CREATE TRIGGER due_kept_key_in AFTER INSERT ON client_keys"
	"  BEGIN DELETE FROM due_kept WHERE client = NEW.client; END;"
	"CREATE TRIGGER due_kept_key_del AFTER DELETE ON client_keys"
	"  BEGIN DELETE FROM due_kept WHERE client = OLD.client; END;";

static const char *const migrations[VELD_SCHEMA_VERSION] = {v1, v2, v3, v4, v5, v6, v7, v8, v9,
                                                            v10};

int veld__schema_migrate(sqlite3 *db)
{
	return veld__merge_migrate(db, migrations, VELD_SCHEMA_VERSION, "the store");
}
