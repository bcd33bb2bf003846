/*
 * commands.c - the table of commands and their help texts.
 *
 * Commands of one noun are listed together; `veld --help` and
 * `veld <noun> --help` are generated from this table, and the dispatcher
 * parses each command's line from it (its options, its arguments and the
 * usage errors about them), so a command's function starts with what it
 * has to do.
 */
#include "cli.h"

#define ID_HELP \
	"IDs may be given as a unique prefix of at least 4 hex digits.\n"

#define CLIENT_FIELDS_HELP \
	"  --name N                 full name\n" \
	"  --initials I             initials\n" \
	"  --birth-date YYYY-MM-DD  date of birth\n" \
	"  --address A              home address\n" \
	"  --phone P                phone number\n" \
	"  --care-status S          beschermd_wonen, beschermd_thuis or time_out\n" \
	"  --care-active yes|no     the standing care decision is active\n" \
	"  --care-end YYYY-MM-DD    end date of the care decision\n" \
	"  --housing-corporation C  housing corporation\n" \
	"  --tenancy T              tenancy (contract) reference\n" \
	"  --support-clause yes|no  the tenancy has a support clause\n" \
	"  --contact-person W       the worker who owns the case\n" \
	"  --team T                 team id\n"

#define VISIT_FIELDS_HELP \
	"  --kind K                 home_visit, phone, no_show or outreach\n" \
	"  --planned T              planned time (ISO 8601, e.g. 2026-11-22T10:00, or now)\n" \
	"  --started T              start time (or now)\n" \
	"  --ended T                end time (or now)\n" \
	"  --domains a,b,...        life domains discussed (see `veld domains`)\n" \
	"  --score DOMAIN=N         ZRM score 1 (acute problem) .. 5 (fully\n" \
	"                           self-reliant); repeat for more domains\n" \
	"  --actions TEXT           agreed actions\n"

#define GOAL_FIELDS_HELP \
	"  --domain D               life domain (see `veld domains`)\n" \
	"  --description T          what the goal is\n" \
	"  --status S               open (default), achieved or stopped\n" \
	"  --review-date YYYY-MM-DD when the goal is reviewed\n"

#define RECORD_SET_HELP \
	"  --set FIELD=VALUE  a field of the kind (see `veld schema`); repeat for\n" \
	"                     more. VALUE as the field's type takes it: yes or no;\n" \
	"                     a whole number; a date YYYY-MM-DD or today; a time\n" \
	"                     (2026-11-22T10:00) or now; options, codes and life\n" \
	"                     domains separated by commas; scores as DOMAIN=N,...;\n" \
	"                     a care decision or housing as a JSON object; a\n" \
	"                     reference as a record id or a unique prefix; text as\n" \
	"                     it is\n" \
	"  --fields JSON      fields as one JSON object, as the API takes them\n"

#define NET_HELP \
	"  --insecure-http   allow plain http:// to a server that is not this machine\n" \
	"                    (test networks only; https:// is the rule)\n" \
	"  --ca-file FILE    trust the CA certificates in FILE (PEM) instead of the\n" \
	"                    system's (enroll keeps them for every later call)\n" \
	"  --pin sha256//B64 the server's public key must also match this pin\n" \
	"                    (several separated by ';'; enroll keeps it)\n"

/* Options of several commands (cli_cmd.opts). */
#define CLIENT_OPTS                                                                        \
	"name= initials= birth-date= address= phone= care-status= care-active= care-end= "     \
	"housing-corporation= tenancy= support-clause= contact-person= team="
#define VISIT_OPTS "kind= planned= started= ended= domains= score=* actions="
#define GOAL_OPTS "domain= description= status= review-date="
#define NET_OPTS "insecure-http ca-file= pin="

/* The usage errors of arguments several commands share. */
#define TOO_MANY "too many arguments"
/* Exactly n arguments, `missing` when there are fewer. */
#define ARGS(n, missing_) .min_args = (n), .max_args = (n), .missing = (missing_), .extra = TOO_MANY
/* The id of the record an edit changes: a second argument is unexpected. */
#define ID_ARG(missing_) .min_args = 1, .max_args = 1, .missing = (missing_)
#define ONE_RECORD ARGS(1, "which record? give its id (or a prefix of 4+ characters)")
#define WHICH_KIND "which kind of record? give one of the record schema (see `veld schema`)"
#define KIND_AND_ID "give the record kind and the record's id (or a prefix of 4+ characters)"

const cli_cmd cli_commands[] = {
	{"init", NULL, cmd_init, "[--team T] [--kdf-memory MiB] [--kdf-passes N]",
	 "Create a new encrypted store. On a terminal the passphrase is asked twice;\n"
	 "it must be at least 8 bytes.\n\n"
	 "  --team T          the team this device works for (default \"default\")\n"
	 "  --kdf-memory MiB  Argon2id memory (default 64, at least 19)\n"
	 "  --kdf-passes N    Argon2id passes (default 3, at least 2)\n",
	 .opts = "team=+ kdf-memory= kdf-passes="},
	{"passwd", NULL, cmd_passwd, "[--new-passphrase-fd N]",
	 "Change the store's passphrase. The current one comes as usual (see the\n"
	 "global options); the new one from --new-passphrase-fd, the environment\n"
	 "variable VELD_NEW_PASSPHRASE, or a prompt (asked twice). At least 8 bytes.\n\n"
	 "  --new-passphrase-fd N  read the new passphrase from descriptor N\n",
	 .opts = "new-passphrase-fd="},
	{"info", NULL, cmd_info, "",
	 "Describe the store. Device, team, schema version and counts; no personal\n"
	 "data.\n",
	 .extra = TOO_MANY},
	{"verify", NULL, cmd_verify, "",
	 "Check the store's integrity. It checks the database file, every sealed\n"
	 "value and every operation signature, and exits 5 if anything fails.\n",
	 .extra = TOO_MANY},
	{"domains", NULL, cmd_domains, "",
	 "List the life domains of the self-reliance matrix (ZRM).\n"
	 "Their codes are what --domains, --score, --tags and --domain take.\n"
	 "With --json, every ZRM version the store holds.\n",
	 .extra = TOO_MANY},
	{"schema", NULL, cmd_schema, "",
	 "Print the record schema in force: its name and version, each kind with its\n"
	 "fields (type, required, options, list, range, reference, retired), and the\n"
	 "lists with their codes and labels (Woonkompas themes, contact persons, the\n"
	 "social map's services). The office adds kinds, fields and entries with\n"
	 "`veld office schema`; the `veld record` commands take them as soon as they\n"
	 "reach this store. With --json, the schema as the API gives it.\n",
	 .extra = TOO_MANY},
	{"due", NULL, cmd_due, "[--days N] [--all] [--today YYYY-MM-DD]",
	 "What is due for your clients (those whose contact person you are, --user):\n"
	 "planned visits, goal and Woonkompas reviews, escalation steps and agreed\n"
	 "actions, standing decisions ending within 90 days, tenancies moving to the\n"
	 "client's own name, time-outs open longer than agreed, clients not seen for\n"
	 "30 days, open signals without a follow-up. Worked out from the records each\n"
	 "time; what is overdue comes first, then the rest by date.\n\n"
	 "  --days N            look N days ahead (default 14, at most 366)\n"
	 "  --all               every client in this store, not only yours\n"
	 "  --today YYYY-MM-DD  as if today were this date (default: today, UTC)\n",
	 .opts = "days= all today=", .extra = TOO_MANY},

	{"client", "add", cmd_record_add, "--name N [options]",
	 "Add a client.\n\n" CLIENT_FIELDS_HELP,
	 .opts = CLIENT_OPTS, .kind = "client", .data = &cli_client_spec},
	{"client", "list", cmd_record_list, "[--query Q]",
	 "List clients: id, name, care status, contact person.\n\n"
	 "  --query Q   only clients whose text fields contain Q (case-insensitive;\n"
	 "              logged as a search)\n",
	 .opts = "query=", .kind = "client", .data = &cli_client_lister},
	{"client", "show", cmd_record_show, "ID",
	 "Show one client. Fields edited on two devices at once are marked CONFLICT\n"
	 "with every competing value.\n" ID_HELP,
	 ONE_RECORD, .kind = "client"},
	{"woonkompas", "print", cmd_woonkompas_print, "ID [--html]",
	 "Print one Woonkompas conversation as the page client, support worker and\n"
	 "housing corporation go through for the temporary tenancy: who took part,\n"
	 "every theme of the schema's list with those gone through marked, the\n"
	 "agreements (the client's actions that name the conversation: what, who,\n"
	 "by when), the next review and room to sign. Logged as reads of the\n"
	 "conversation, its client and its actions.\n\n"
	 "  --html   one A4 page of HTML (print it, or save it as PDF, from a browser)\n"
	 ID_HELP,
	 .opts = "html", ARGS(1, "which conversation? give its id")},
	{"client", "progress", cmd_client_progress, "ID",
	 "Show a client's ZRM scores over time: per life domain the first and the\n"
	 "latest score, the change (+1, -2, 0) and a chart of the scores, oldest\n"
	 "first, one bar per visit that scored the domain (the last 24; a low bar is\n"
	 "1, a full one 5). A visit counts at its start time, else its planned time,\n"
	 "else when it was recorded; visits without scores are left out. With --json,\n"
	 "every score with its visit and time. Logged as a read of the client's visits.\n"
	 ID_HELP,
	 ARGS(1, "which client? give its id")},
	{"client", "edit", cmd_record_edit, "ID [options]",
	 "Change fields of a client; fields not named are kept, also inside the care\n"
	 "decision and housing. An empty value (--phone '') removes a field.\n\n"
	 CLIENT_FIELDS_HELP ID_HELP,
	 .opts = CLIENT_OPTS, ID_ARG("which client? give its id"), .kind = "client",
	 .data = &cli_client_spec},
	{"client", "erase", cmd_client_erase, "ID --yes",
	 "Erase a client from this store: its data key is destroyed (crypto-shredding)\n"
	 "and its records are removed. Irreversible, so --yes is required.\n" ID_HELP,
	 .opts = "yes", ARGS(1, "which client? give its id")},

	{"visit", "add", cmd_visit_add, "--client ID --kind K [options]",
	 "Record a visit.\n\n"
	 "  --client ID              the client visited\n" VISIT_FIELDS_HELP,
	 .opts = "client= " VISIT_OPTS, .kind = "visit"},
	{"visit", "list", cmd_record_list, "[--client ID]",
	 "List visits: id, date, kind, client, scores.\n\n"
	 "  --client ID   only this client's visits\n",
	 .opts = "client=", .kind = "visit", .data = &cli_visit_lister},
	{"visit", "show", cmd_record_show, "ID", "Show one visit.\n" ID_HELP,
	 ONE_RECORD, .kind = "visit"},
	{"visit", "edit", cmd_visit_edit, "ID [options]",
	 "Change a visit. --score merges: scores of other domains are kept\n"
	 "(DOMAIN= with no number removes one). An empty value removes a field.\n\n"
	 VISIT_FIELDS_HELP ID_HELP,
	 .opts = "client=! " VISIT_OPTS, ID_ARG("which visit? give its id"),
	 .refuse = "a visit cannot move to another client",
	 .kind = "visit"},

	{"note", "add", cmd_note_add, "--client ID [--visit ID] --text TEXT [--tags a,b]",
	 "Write a support note. Notes are never changed; correct one with\n"
	 "`veld note amend`.\n\n"
	 "  --client ID    the client\n"
	 "  --visit ID     the visit it belongs to\n"
	 "  --text TEXT    the note; --text - reads it from standard input\n"
	 "  --tags a,b     life-domain tags\n",
	 .opts = "client= visit= text= tags=", .kind = "note"},
	{"note", "amend", cmd_note_amend, "NOTE_ID --text TEXT [--tags a,b]",
	 "Correct a note: writes a new note that amends the earlier one (both stay).\n\n"
	 "  --text TEXT    the corrected text (--text - reads standard input)\n"
	 "  --tags a,b     life-domain tags\n" ID_HELP,
	 .opts = "client=! visit=! text= tags=",
	 ID_ARG("which note? give the id of the note to amend"),
	 .refuse = "an amendment belongs to the note it amends; --client and --visit do not apply",
	 .kind = "note"},
	{"note", "list", cmd_record_list, "[--client ID]",
	 "List notes: id, date, client and the first 60 characters. A note that a\n"
	 "later note corrects is marked [amended].\n\n"
	 "  --client ID   only this client's notes\n",
	 .opts = "client=", .kind = "note", .data = &cli_note_lister},
	{"note", "show", cmd_record_show, "ID", "Show one note in full.\n" ID_HELP,
	 ONE_RECORD, .kind = "note"},

	{"goal", "set", cmd_record_add, "--client ID --domain D --description T [options]",
	 "Add a support-plan goal.\n\n"
	 "  --client ID              the client\n" GOAL_FIELDS_HELP,
	 .opts = "client= " GOAL_OPTS, .kind = "goal", .data = &cli_goal_spec},
	{"goal", "list", cmd_record_list, "[--client ID]",
	 "List goals.\n\n  --client ID   only this client's goals\n",
	 .opts = "client=", .kind = "goal", .data = &cli_goal_lister},
	{"goal", "show", cmd_record_show, "ID", "Show one goal.\n" ID_HELP,
	 ONE_RECORD, .kind = "goal"},
	{"goal", "edit", cmd_record_edit, "ID [options]",
	 "Change a goal.\n\n" GOAL_FIELDS_HELP ID_HELP,
	 .opts = "client=! " GOAL_OPTS, ID_ARG("which goal? give its id"),
	 .refuse = "a goal cannot move to another client",
	 .kind = "goal", .data = &cli_goal_spec},

	{"signal", "raise", cmd_record_add,
	 "--client ID --kind K --severity S [--description T]",
	 "Raise an early-warning signal.\n\n"
	 "  --client ID        the client\n"
	 "  --kind K           rent_arrears, neighbour_complaints, relapse,\n"
	 "                     missed_visits, time_out or other\n"
	 "  --severity S       low, medium, high or critical\n"
	 "  --description T    what is going on\n",
	 .opts = "client= kind= severity= description=", .kind = "signal",
	 .data = &cli_signal_spec},
	{"signal", "close", cmd_signal_close, "ID [--follow-up T]",
	 "Close a signal (status closed, closed_at now).\n\n"
	 "  --follow-up T   what was done about it\n" ID_HELP,
	 .opts = "follow-up=", ARGS(1, "which signal? give its id"), .kind = "signal"},
	{"signal", "list", cmd_record_list, "[--client ID] [--open]",
	 "List signals, open ones first, then by severity.\n\n"
	 "  --client ID   only this client's signals\n"
	 "  --open        only open signals\n",
	 .opts = "client= open", .kind = "signal", .data = &cli_signal_lister},
	{"signal", "show", cmd_record_show, "ID", "Show one signal.\n" ID_HELP,
	 ONE_RECORD, .kind = "signal"},

	/* generic.c: every kind of the record schema, read at run time */
	{"record", "add", cmd_generic_add, "KIND --client ID [--set FIELD=VALUE]... [--fields JSON]",
	 "Add a record of any kind of the record schema (see `veld schema`), also one\n"
	 "the office added. A record belongs to a client; a client record is added\n"
	 "without --client.\n\n"
	 "  --client ID        the client it is about\n" RECORD_SET_HELP,
	 .opts = "client= set=* fields=", ARGS(1, WHICH_KIND)},
	{"record", "list", cmd_generic_list, "KIND [--client ID] [--query Q]",
	 "List records of a kind: id, client, date (the kind's first date, else when\n"
	 "the record was made) and the first fields that hold a value.\n\n"
	 "  --client ID   only this client's records\n"
	 "  --query Q     only records whose searched text fields contain Q\n"
	 "                (case-insensitive; logged as a search)\n",
	 .opts = "client= query=", ARGS(1, WHICH_KIND)},
	{"record", "show", cmd_generic_show, "KIND ID",
	 "Show one record, its fields in the schema's order. Fields edited on two\n"
	 "devices at once are marked CONFLICT with every competing value.\n" ID_HELP,
	 ARGS(2, KIND_AND_ID)},
	{"record", "edit", cmd_generic_edit, "KIND ID [--set FIELD=VALUE]... [--fields JSON]",
	 "Change fields of a record; fields not named are kept. An empty VALUE\n"
	 "(--set FIELD=) removes a field, as null does in --fields. Records of an\n"
	 "append-only kind are never changed (exit 6).\n\n" RECORD_SET_HELP ID_HELP,
	 .opts = "client=! set=* fields=", ARGS(2, KIND_AND_ID),
	 .refuse = "a record cannot move to another client"},
	{"record", "delete", cmd_generic_delete, "KIND ID --yes",
	 "Delete a record, here and, at their next sync, on every device. --yes is\n"
	 "required. Records of an append-only kind are never deleted, and a client is\n"
	 "erased, not deleted (`veld client erase`): both exit 6.\n" ID_HELP,
	 .opts = "yes", ARGS(2, KIND_AND_ID)},

	{"conflicts", NULL, cmd_conflicts, "",
	 "List fields in conflict. A field edited on two devices before they synced\n"
	 "keeps both values until a person resolves it with `veld resolve`.\n",
	 .extra = TOO_MANY},
	{"resolve", NULL, cmd_resolve, "KIND ID FIELD VALUE",
	 "Resolve a conflict. VALUE is written and supersedes every competing value.\n"
	 "VALUE is taken as JSON if it parses as JSON (3, true, {\"active\":true}),\n"
	 "else as a string.\n" ID_HELP,
	 ARGS(4, "missing arguments: KIND ID FIELD VALUE")},

	{"log", "show", cmd_log_show, "[--client ID] [--limit N]",
	 "Show this store's access log (NEN 7513): event, time, outcome, client, user,\n"
	 "role, device, purpose. Sync sends it to the office (`veld office log`).\n\n"
	 "  --client ID   only entries about this client (also an erased one)\n"
	 "  --limit N     at most N entries\n",
	 .opts = "client= limit= device=!",
	 .refuse = "--device is for `veld office log`"},
	{"log", "verify", cmd_log_verify, "",
	 "Check the access log's hash chain and signed head. Exits 5 if broken.\n",
	 .extra = TOO_MANY},
	{"quarantine", NULL, cmd_quarantine, "",
	 "Show what sync kept aside instead of taking it in: operations and key\n"
	 "envelopes another device signed that fail a check its writer should have\n"
	 "made (a value out of range, bad padding, an envelope that does not open, a\n"
	 "second key for a version held, a revoked device writing after its\n"
	 "revocation). Nothing of it is in the store. Columns: when, what, the device\n"
	 "that wrote it, its seq, the client, kind, field, and the check it failed.\n",
	 .extra = TOO_MANY},

	{"policy", "show", cmd_policy_show, "",
	 "Show the retention policy: per record kind, the days records are kept\n"
	 "after the client's case ended, and the legal basis.\n",
	 .extra = TOO_MANY},
	{"policy", "set", cmd_policy_set, "KIND DAYS [--basis TEXT]",
	 "Set the retention of a record kind (client, visit, note, goal, signal).\n"
	 "Only an office store may; a worker's device exits 6.\n\n"
	 "  --basis TEXT   the legal basis (e.g. \"WGBO 20 years\")\n",
	 .opts = "basis=", ARGS(2, "give the record kind and the number of days")},
	{"fields", NULL, cmd_fields, "[--team T]",
	 "Show the team's field policy: which identifying client fields reach the\n"
	 "team's devices and which stay at the office. A worker's device follows its\n"
	 "team's policy: it does not record, receive or keep the fields that stay at\n"
	 "the office. The office sets it with `veld office fields`.\n\n"
	 "  --team T   another team's (default: this store's team)\n",
	 .opts = "team="},
	{"purge", NULL, cmd_purge, "[--dry-run] [--now YYYY-MM-DD]",
	 "Remove records whose retention period has ended.\n\n"
	 "  --dry-run          report what would be removed, remove nothing\n"
	 "  --now YYYY-MM-DD   apply the policy as of this date (default today)\n",
	 .opts = "dry-run now="},
	{"enroll", NULL, cmd_enroll, "URL CODE [--label L]",
	 "Enroll this device with the server. CODE is the single-use invite the\n"
	 "office made for this device's team (`-` reads it from standard input).\n"
	 "Afterwards `veld sync` exchanges records with the server.\n\n"
	 "  --label L         a name for this device in the office's list (default:\n"
	 "                    the host name)\n" NET_HELP,
	 .opts = "label= " NET_OPTS, ARGS(2, "give the server URL and the enrollment code")},
	{"fingerprint", NULL, cmd_fingerprint, "",
	 "Show this device's fingerprint: a hash of its id and public keys, for the\n"
	 "office to compare when it certifies a device from veld 0.1 (`veld office\n"
	 "certify`). Read it to the office in person or by phone.\n",
	 .extra = TOO_MANY},
	{"sync", NULL, cmd_sync, "[--insecure-http] [--ca-file FILE] [--pin PIN]",
	 "Sync with the server. Sends this device's changes, then receives the\n"
	 "team's. On a terminal a progress line shows on stderr; afterwards one\n"
	 "summary line (--json: {\"pushed\",\"pulled\",\"applied\",\"conflicts\",\n"
	 "\"duration_ms\"}). Interrupted, the next sync resumes without loss.\n"
	 "A device the office revoked is wiped: its store is deleted (exit 6).\n\n"
	 NET_HELP,
	 .opts = NET_OPTS},

	{"office", "init", cmd_office_init, "[--kdf-memory MiB] [--kdf-passes N]",
	 "Create the office's store. It reads every team's clients and manages the\n"
	 "devices. Then enroll it with the server's setup code (`veld office enroll`).\n\n"
	 "  --kdf-memory MiB  Argon2id memory (default 64, at least 19)\n"
	 "  --kdf-passes N    Argon2id passes (default 3, at least 2)\n",
	 .opts = "kdf-memory= kdf-passes=", .office = true},
	{"office", "enroll", cmd_enroll, "URL SETUP_CODE [--label L]",
	 "Enroll the office store with the server, with the setup code the server\n"
	 "printed when it first started (also in its DATA/setup-code).\n\n"
	 "  --label L         a name for the office device\n" NET_HELP,
	 .opts = "label= " NET_OPTS, ARGS(2, "give the server URL and the enrollment code"),
	 .office = true},
	{"office", "invite", cmd_office_invite, "--team T [--ttl-hours H]",
	 "Make an enrollment code for a new device of team T. It is single use; give\n"
	 "it to the worker in person. The first invite of a team makes its key.\n\n"
	 "  --team T          the device's team\n"
	 "  --ttl-hours H     how long the code is valid (default 72, at most 168)\n"
	 NET_HELP,
	 .opts = "team=+ ttl-hours= " NET_OPTS, .office = true},
	{"office", "revoke", cmd_office_revoke, "DEVICE",
	 "Revoke a device. The server refuses it from then on and it wipes itself\n"
	 "at its next sync; its team's key is rotated and new client keys are\n"
	 "pushed, so it can read nothing written afterwards. DEVICE is an id from\n"
	 "`veld office devices` (a unique prefix of 4+ hex digits will do).\n\n"
	 NET_HELP,
	 .opts = NET_OPTS, ARGS(1, "missing the device to revoke (see `veld office devices`)"),
	 .office = true},
	{"office", "certify", cmd_office_certify, "DEVICE [--team T --fingerprint FP]",
	 "Certify a device enrolled under veld 0.1. The office pinned only its\n"
	 "signing key then, so a person confirms its team and keys. Without\n"
	 "options: show the team and the fingerprint of the keys the server lists\n"
	 "for it; compare the fingerprint with what `veld fingerprint` shows on the\n"
	 "device itself. With both: certify it, if they are still what the server\n"
	 "lists (exit 1 if not: the server may have replaced its keys). A device\n"
	 "that enrolled with an invite is certified by `veld office sync` itself.\n\n"
	 "  --team T          the team the device works for\n"
	 "  --fingerprint FP  the fingerprint the device showed\n" NET_HELP,
	 .opts = "team=+ fingerprint=+ " NET_OPTS,
	 ARGS(1, "which device? give its id (see `veld office devices`)"), .office = true},
	{"office", "devices", cmd_office_devices, "",
	 "List the enrolled devices: id, team, role, label, enrolled, revoked.\n\n"
	 NET_HELP,
	 .opts = NET_OPTS, .extra = TOO_MANY, .office = true},
	{"office", "sync", cmd_sync, "[--insecure-http] [--ca-file FILE] [--pin PIN]",
	 "Sync the office store. It sends the office's changes and receives every\n"
	 "team's; see `veld sync`.\n\n" NET_HELP,
	 .opts = NET_OPTS, .office = true},
	{"office", "export", cmd_office_export, "CLIENT [--out FILE]",
	 "Everything the office holds about a client, readable, as one JSON document\n"
	 "(AVG art. 15): the client, its visits, notes, goals and signals, and every\n"
	 "access-log entry about it from every device (who read or changed the file,\n"
	 "when and why). Logged as an export. CLIENT is an id or a unique prefix.\n\n"
	 "  --out FILE   write it to FILE (created with mode 0600; must not exist)\n",
	 .opts = "out=", ARGS(1, "which client? give its id"), .office = true},
	{"office", "erase", cmd_client_erase, "CLIENT --yes",
	 "Erase a client everywhere (AVG art. 17): the server deletes every record and\n"
	 "key of the client, every device of its team erases it at its next sync, and\n"
	 "this store erases it. Irreversible, so --yes is required. The access log\n"
	 "keeps who read the client's file. CLIENT is an id or a unique prefix.\n\n"
	 NET_HELP,
	 .opts = "yes " NET_OPTS, ARGS(1, "which client? give its id"), .office = true},
	{"office", "move", cmd_office_move, "CLIENT --team TEAM | CLIENT --status",
	 "Move a client to another team. The office syncs, then makes a new client in\n"
	 "TEAM (a new id and key) with a copy of every record of the old one (the\n"
	 "current values; references between the records follow), and tells the old\n"
	 "team: its devices remove the client at their next sync. What a device of\n"
	 "the old team wrote to it before it heard of the move still reaches the\n"
	 "server, and every office sync forwards it to the new client. Prints the\n"
	 "new client's id and the old team's devices that may still hold the client.\n"
	 "CLIENT is an id or a unique prefix of the old client.\n\n"
	 "  --team TEAM   the team it moves to (one the office has invited devices of)\n"
	 "  --status      show a move made before (no network): which devices of the\n"
	 "                old team have not yet confirmed they removed the client\n"
	 NET_HELP,
	 .opts = "team= status " NET_OPTS, ARGS(1, "which client? give its id"), .office = true},
	{"office", "fields", cmd_office_fields, "TEAM [--set LIST|none]",
	 "Show or set which identifying client fields reach TEAM's devices (the\n"
	 "team's field policy). The name and the contact person always do; of\n"
	 "initials, birth_date, address, phone, care_status, care_decision and\n"
	 "housing, only those the policy lists do (default: address, phone). The\n"
	 "server stops sending the others to the team's devices, and each device\n"
	 "removes them at its next sync (its own values once the server holds them).\n\n"
	 "  --set LIST   the governed fields that reach the devices, separated by\n"
	 "               commas, or none\n" NET_HELP,
	 .opts = "set= " NET_OPTS, ARGS(1, "which team? give its id"), .office = true},
	{"office", "schema", cmd_office_schema, "--set FILE",
	 "Publish a new version of the record schema (the kinds of record, their\n"
	 "fields and option lists, the Woonkompas themes, contact persons and the\n"
	 "social map; docs/data-model.md). FILE is the whole JSON document with a\n"
	 "higher version that keeps everything of the version in force: add kinds,\n"
	 "fields, options and list entries, retire what is no longer used. A change\n"
	 "that would make records written before invalid is refused, saying which.\n"
	 "The office uses it at once; every team's devices at their next sync.\n\n"
	 "  --set FILE   the document (- reads standard input)\n" NET_HELP,
	 .opts = "set=+ " NET_OPTS, .office = true},
	{"office", "log", cmd_log_show, "[--client ID] [--device ID] [--limit N]",
	 "Show every device's access log (NEN 7513) as the office received it with\n"
	 "`veld office sync`: each entry was checked against its device's signature.\n"
	 "Columns as in `veld log show`; oldest first.\n\n"
	 "  --client ID   only entries about this client (an id or a prefix)\n"
	 "  --device ID   only entries of this device (an id or a prefix)\n"
	 "  --limit N     the newest N entries\n",
	 .opts = "client= limit= device=", .office = true},
	{"office", "quarantine", cmd_quarantine, "",
	 "Show what the office's sync kept aside (see `veld quarantine`), with the\n"
	 "device that wrote each: a device that keeps sending what fails its checks\n"
	 "may be faulty or tampered with; `veld office revoke DEVICE` stops it.\n",
	 .extra = TOO_MANY, .office = true},
	{"office", "console", cmd_office_console,
	 "[--listen ADDR:PORT] [--tls-cert FILE --tls-key FILE]",
	 "Serve the office's web console from this store until SIGTERM or SIGINT\n"
	 "(docs/console.md): signals, due lists and caseloads, conflicts, one\n"
	 "client's records and progress, the access log, devices, access and\n"
	 "erasure requests. It prints one link with a one-time token; opening it\n"
	 "starts the only session (a cookie), and the link then opens nothing.\n"
	 "Every read and change is in the access log as through these commands.\n\n"
	 "  --listen ADDR:PORT   address to listen on (default 127.0.0.1:8421; port 0\n"
	 "                       picks a free port). An address that is not loopback\n"
	 "                       needs TLS\n"
	 "  --tls-cert FILE      serve HTTPS with this certificate (PEM)\n"
	 "  --tls-key FILE       its private key (PEM, mode 0600 or 0400)\n" NET_HELP,
	 .opts = "listen=+ tls-cert=+ tls-key=+ " NET_OPTS, .extra = TOO_MANY, .office = true},
	{"office", "due", cmd_office_due, "--team T [--days N] [--today YYYY-MM-DD]",
	 "What is due for a team's clients, per worker (the clients' contact\n"
	 "person): what `veld due` shows a worker, for the team lead.\n\n"
	 "  --team T            the team\n"
	 "  --days N            look N days ahead (default 14, at most 366)\n"
	 "  --today YYYY-MM-DD  as if today were this date (default: today, UTC)\n",
	 .opts = "team=+ days= today=", .extra = TOO_MANY, .office = true},
	{"office", "report", cmd_office_report,
	 "--period YYYYQn [--format json|csv|html] [--out FILE] [--lang nl|en]",
	 "The partners' report: what the five agreements ask to watch, for the quarter\n"
	 "and the three before it, side by side, computed in the office store.\n"
	 "Aggregates only: counts of 1-4 show as <5, a cell that would give one back\n"
	 "as x, a share needs a base of 10 (docs/report.md). Logged once in the access\n"
	 "log with purpose monitoring.\n\n"
	 "  --period YYYYQn   the quarter, for example 2026Q4 (it must have begun)\n"
	 "  --format F        json (default), csv (one row per indicator) or html (one\n"
	 "                    printable A4 page with charts; it loads nothing from outside)\n"
	 "  --out FILE        write it to FILE instead of standard output\n"
	 "  --lang L          nl (default) or en, for the labels of csv and html\n",
	 .opts = "period=+ format=+ out=+ lang=+", .extra = TOO_MANY, .office = true},
	{"office", "list", cmd_office_list,
	 "clients|visits|notes|goals|signals|conflicts [--client ID] [--open]",
	 "List records of every team in the office store. Columns as in `veld client\n"
	 "list` and the other list commands; --open for signals only.\n\n"
	 "  --client ID   only this client's records (not for clients, conflicts)\n"
	 "  --open        only open signals\n",
	 .office = true, .raw = true},

	/* serve.c: the sync server, for operators. */
	{"serve", NULL, cmd_serve, "--data DIR [--db URL] [--listen ADDR:PORT]"
	 " [--tls-cert FILE --tls-key FILE] [--threads N] [limits] [--max-skew S]",
	 "Run the sync server until SIGTERM or SIGINT. On the first start it prints\n"
	 "the office setup code once (also in DIR/setup-code, mode 0600). Access log\n"
	 "lines go to standard error.\n\n"
	 "  --data DIR           the server's data directory (created, mode 0700):\n"
	 "                       its lock and setup code, and without --db its\n"
	 "                       SQLite database\n"
	 "  --db URL             keep the state in PostgreSQL (postgresql://...; the\n"
	 "                       password from ~/.pgpass or PGPASSFILE); several\n"
	 "                       servers, each with its own --data, may share one\n"
	 "                       database (docs/operations.md, \"PostgreSQL\")\n"
	 "  --listen ADDR:PORT   address to listen on (default 127.0.0.1:8420;\n"
	 "                       port 0 picks a free port)\n"
	 "  --threads N          worker threads (default 4)\n\n"
	 "TLS (docs/operations.md, \"TLS\"):\n"
	 "  --tls-cert FILE      serve HTTPS with this certificate (PEM; the server's\n"
	 "                       certificate, then any intermediates)\n"
	 "  --tls-key FILE       its private key (PEM, unencrypted, mode 0600 or 0400)\n"
	 "  --insecure-http      serve plain HTTP on an address that is not loopback\n"
	 "                       (a TLS proxy on another machine, a test network);\n"
	 "                       without TLS the server refuses such an address\n"
	 "A new certificate takes a restart.\n\n"
	 "Limits on slow or greedy clients (docs/operations.md, \"Limits\"):\n"
	 "  --max-per-address N  connections open at once from one IP address\n"
	 "                       (default 32; behind a reverse proxy on this\n"
	 "                       machine every connection is the proxy's: use 256)\n"
	 "  --header-timeout S   seconds a request's headers may take (default 20)\n"
	 "  --body-timeout S     seconds a request's body may take, plus one for\n"
	 "                       every --body-min-rate bytes received (default 20)\n"
	 "  --body-min-rate B    bytes per second (default 500)\n\n"
	 "Clocks:\n"
	 "  --max-skew S         how far ahead of this machine's clock a pushed\n"
	 "                       operation may be stamped, in seconds (default 600;\n"
	 "                       keep it equal to the devices' max_skew_s)\n",
	 .opts = "listen= data= db= threads= max-per-address= header-timeout= body-timeout= "
	         "body-min-rate= max-skew= tls-cert= tls-key= insecure-http",
	 .extra = "serve takes no arguments"},
};

const size_t cli_commands_count = sizeof cli_commands / sizeof cli_commands[0];
