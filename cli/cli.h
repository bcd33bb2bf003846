/*
 * cli.h - private declarations shared by the files of the `veld` command.
 *
 * The command is a thin layer over the store API in veld.h: it parses the
 * command line, turns options into the JSON documents the API takes, and
 * turns the JSON the API returns into something a support worker can read
 * (or, with --json, prints it as it is).
 *
 * Two rules run through every file here:
 *  - The passphrase lives only in sodium_malloc'd buffers that are wiped
 *    and freed as soon as the store is open. It is never printed, never put
 *    in argv and never part of an error message.
 *  - Error messages name options, never the values given to them: a value
 *    may be a client's name or date of birth, and stderr ends up in logs.
 */
#ifndef VELD_CLI_H
#define VELD_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "veld.h"

/* Exit codes scripts can rely on (docs/cli.md). Never renumber. */
enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAIL = 1,
	CLI_EXIT_USAGE = 2,
	CLI_EXIT_NOTFOUND = 3,
	CLI_EXIT_AUTH = 4,
	CLI_EXIT_CORRUPT = 5,
	CLI_EXIT_PERM = 6,
	CLI_EXIT_BUSY = 7
};

/* Longest passphrase accepted, in bytes. */
#define CLI_PASS_MAX 1024
/* Shortest passphrase `init` and `passwd` accept for a new passphrase. */
#define CLI_PASS_MIN 8
/* The longest device label. */
#define CLI_LABEL_MAX 64
/* Most positional arguments a command takes. */
#define CLI_MAX_ARGS 8
/* Most kinds a record schema has, and the longest field name. */
#define CLI_KINDS_MAX 64
#define CLI_FIELD_MAX 64
/* Most options a command takes, and values of its option that may repeat. */
#define CLI_MAX_OPTS 16
#define CLI_MAX_MANY 64

struct cli_cmd;

/* Everything the global options decide, plus the open store. */
typedef struct cli {
	const char *store_dir;     /* --store / VELD_STORE / default */
	char *store_dir_owned;     /* the default path, when computed */
	int passphrase_fd;         /* --passphrase-fd; -1 = not given */
	bool json;                 /* --json */
	const char *user;          /* --user / VELD_USER / $USER / "worker" */
	const char *role;          /* --role */
	const char *purpose;       /* --purpose */
	const struct cli_cmd *cmd; /* the command being run (for its help) */
	veld_store *store;         /* open store, or NULL */
} cli;

/* A command's own part of the command line as the dispatcher parsed it
 * against the command's cli_cmd: its options by name (cli_opt, cli_flag,
 * cli_num) and its positional arguments. Every string is borrowed from
 * argv. */
typedef struct cli_line {
	int nopts;
	char names[256];                 /* the command's option names, NUL-separated */
	const char *name[CLI_MAX_OPTS];
	const char *val[CLI_MAX_OPTS];   /* the value given last ("" for a flag), or NULL */
	long long num[CLI_MAX_OPTS];     /* a whole-number option's value; a date's time */
	const char *many[CLI_MAX_MANY];  /* each value of the option that may repeat */
	size_t nmany;
	const char *arg[CLI_MAX_ARGS];
	int nargs;
	int argc;                        /* the command's argv, its word first */
	char **argv;
	const struct cli_cmd *cmd;       /* the command it was parsed for */
} cli_line;

/* One command: `veld <noun> <verb>` or a single-word `veld <noun>`. The
 * dispatcher parses its command line from the fields after `help`, so a
 * command's run sees only what it has to do. */
typedef struct cli_cmd {
	const char *noun;
	const char *verb;     /* NULL for a single-word command */
	int (*run)(cli *c, const cli_line *l);
	const char *synopsis; /* one line, after "veld noun verb " */
	const char *help;     /* the rest of --help: what it does, its options */
	/* Its options, separated by spaces: "name" is a flag, "name=" takes a
	 * value, "name=+" one that must not be empty, "name=*" one that may be
	 * given again, "name=!" one accepted only to be refused with `refuse`
	 * (another command has it). Whole numbers, dates and labels are checked
	 * by the option's name (main.c), the same in every command. */
	const char *opts;
	int min_args, max_args; /* positional arguments */
	const char *missing;    /* the usage error for fewer than min_args */
	const char *extra;      /* for more than max_args (NULL: "unexpected argument") */
	const char *refuse;
	const char *kind;       /* record commands: the record kind */
	const void *data;       /* what the run needs of it (a rec_spec, a rec_lister) */
	bool office;            /* acts as the office unless --role says otherwise */
	bool raw;               /* reads its own argv (cli_line's argc, argv) */
} cli_cmd;

/* ---- main.c: command lines, store, errors ----------------------------- */

/* The texts of `veld --help` the manual reuses: what veld is, the global
 * options (a heading line, then option lines) and each exit code's name
 * (index = code, NULL-terminated). */
extern const char cli_intro_help[];
extern const char cli_global_help[];
extern const char *const cli_exit_names[];

/* An option of the command line: its value (NULL if not given), whether a
 * flag was given, a whole number's value (0 if not given). */
const char *cli_opt(const cli_line *l, const char *name);
bool cli_flag(const cli_line *l, const char *name);
long long cli_num(const cli_line *l, const char *name);

/* Parse argv (argv[0] is the command's word) for `cmd` and run it; usage
 * errors and --help speak of c->cmd. Returns an exit code. */
int cli_run(cli *c, const cli_cmd *cmd, int argc, char **argv);
const cli_cmd *cli_find_cmd(const char *noun, const char *verb);
/* The first positional argument of a command that takes no options of its
 * own (*arg NULL if none): 0, -1 after --help, or a usage exit code. */
int cli_first_arg(cli *c, int argc, char **argv, const char **arg);

/* Print "veld: <message>" to stderr; a usage error adds a pointer to
 * --help. Both return the exit code so callers can `return cli_usage(..)`. */
int cli_usage(cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Report the last veld error (veld_error_last) and map `rc` to an exit
 * code. */
int cli_api_error(int rc);
int cli_exit_code(int rc);

/* Open the store named by the global options, asking for the passphrase.
 * Returns an exit code; on success c->store is open. Does nothing if the
 * store is already open. */
int cli_open_store(cli *c);

/* ---- passphrase.c ----------------------------------------------------- */

/* A passphrase in a guarded buffer; cli_pass_free wipes it. */
typedef struct cli_pass {
	char *buf; /* sodium_malloc'd, CLI_PASS_MAX + 1 bytes */
	size_t len;
} cli_pass;

/* Open the store like cli_open_store, asking with `prompt`; the
 * passphrase stays in *pass, which the caller wipes with cli_pass_free
 * (also after a failure): `veld passwd` needs it twice. */
int cli_open_store_asking(cli *c, const char *prompt, cli_pass *pass);
/* Create the store for `veld init` (or, `office`, `veld office init`), at
 * the Argon2id cost the line asks for (cli_kdf_options). */
int cli_create_store(cli *c, const cli_line *l, const char *team, bool office);

/* Read a passphrase from `fd` (if >= 0), else from the environment
 * variable `env` (if set), else by a no-echo prompt on /dev/tty; with
 * `confirm` the prompt asks twice. `min_len` > 0 refuses shorter ones.
 * Returns an exit code (and prints the error). */
int cli_pass_read(cli_pass *p, int fd, const char *env, const char *prompt,
	bool confirm, size_t min_len);
void cli_pass_free(cli_pass *p);

/* ---- output.c --------------------------------------------------------- */

/* Release a string the API returned after wiping it: it may hold
 * decrypted record content. NULL is a no-op. */
void cli_free_text(char *text);
/* Make jansson wipe what it frees (decrypted values pass through it). */
void cli_wipe_json_memory(void);
/* Print a JSON text from the API pretty (indent 2) on stdout. */
int cli_print_json_text(const char *text);
void cli_print_json(const json_t *v);
/* Parse a JSON text returned by the API; NULL (and an error) on failure. */
json_t *cli_parse(const char *text);
/* The first 8 characters of an id, for tables. */
const char *cli_short_id(const char *id, char buf[16]);
/* A record's string field, or "" / NULL. */
const char *cli_str(const json_t *obj, const char *key);
/* The date part (YYYY-MM-DD) of the best timestamp a record has. */
const char *cli_record_date(const json_t *rec, const char *const *keys, char buf[32]);
/* Print text cut to `width` display characters (UTF-8 aware), newlines as
 * spaces, padding to `width` when `pad`. */
void cli_print_cut(const char *text, size_t width, bool pad);
/* Print a record as a labelled block; fields in conflict (the record's
 * "conflicts") are marked CONFLICT with every competing value. */
void cli_print_record(const char *kind, const json_t *rec);
/* Print a JSON value the way a person reads it (strings unquoted). */
void cli_print_value(const json_t *v);

/* What the API returned in *text (taken: wiped, freed, *text NULL): with
 * rc an error, the error; else the value parsed into *out (a new
 * reference; nothing when out is NULL). Returns an exit code. The text is
 * passed by its address so that a call may be an argument:
 * cli_take_json(veld_x(s, &text), &text, &v). */
int cli_take_json(int rc, char **text, json_t **out);
/* A command's answer: with --json `json` (taken, may be NULL when
 * building it failed), else the text of `fmt`. Returns 0. */
int cli_emit(cli *c, json_t *json, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* What the API returned (rc, *text taken as cli_take_json takes it): with
 * --json the text as it is (indented), else `show` prints the value parsed
 * from it (NULL when it did not parse) and returns the exit code. */
int cli_show(cli *c, int rc, char **text,
	int (*show)(cli *c, const json_t *v, const void *payload), const void *payload);
/* An integer member of an object, or 0. */
json_int_t cli_int(const json_t *obj, const char *key);
/* A list: with --json as it is; else `none` for an empty one (when not
 * NULL), or the `head` line and `row` for each entry. Takes `list`;
 * returns 0. */
int cli_table(cli *c, json_t *list, const char *none, const char *head,
	void (*row)(const json_t *e, const void *payload), const void *payload);

/* ---- validate.c ------------------------------------------------------- */

bool cli_valid_date(const char *s);
bool cli_valid_time(const char *s);
/* Today's date on this machine's calendar (local time), YYYY-MM-DD, in buf
 * (>= 11 bytes); returns buf. */
const char *cli_today(char *buf, size_t bufsize);
/* "now" becomes the current UTC time; other values must be valid times.
 * Writes to buf (>= 32 bytes) and returns it, or NULL if invalid. */
const char *cli_time_arg(const char *s, char *buf, size_t bufsize);
void cli_now_utc(char *buf, size_t bufsize);
/* yes/no/true/false; returns -1 if neither. */
int cli_yes_no(const char *s);
bool cli_in_list(const char *s, const char *const *list);
/* Join a NULL-terminated list with ", " into buf. */
const char *cli_join(const char *const *list, char *buf, size_t bufsize);
/* Split "a,b,c" into a JSON array of strings; empty items are refused
 * (returns NULL). */
json_t *cli_split_list(const char *s);
/* Parse a decimal integer in [min, max]; false if not one. */
bool cli_parse_int(const char *s, long long min, long long max, long long *out);

/* ---- record.c: what the record commands share ------------------------ */

/* Call the API with a fields (or filter) object; parse what it returns
 * into *out (new reference; out may be NULL for create/update). Each
 * returns an exit code, with the error printed. */
int rec_create(cli *c, const char *kind, const json_t *fields, json_t **out);
int rec_update(cli *c, const char *kind, const char *id, const json_t *fields, json_t **out);
int rec_get(cli *c, const char *kind, const char *id, json_t **out);
/* The full id of a record named by a unique prefix (a reading, so it is
 * in the access log): for the fields that take only full ids. */
int rec_resolve_id(cli *c, const char *kind, const char *prefix, char **full);
/* After a create or update: the record with --json, else one line. */
void rec_report(cli *c, const char *what, const char *kind, const json_t *rec,
	const char *fallback_id);
/* Open the store and list the command's kind (l->cmd->kind) as --client,
 * --query and --open filter it; *list is a new reference. rec_list lists
 * the kind named. */
int rec_list_kind(cli *c, const cli_line *l, json_t **list);
int rec_list(cli *c, const cli_line *l, const char *kind, json_t **list);
/* Value checks; 0 or a usage exit code (printed). */
int rec_check_domain(cli *c, const json_t *known, const char *opt, const char *d);

/* How an option becomes a field of a record. */
enum rec_check {
	REC_TEXT,   /* a string */
	REC_DATE,   /* YYYY-MM-DD */
	REC_TIME,   /* a time, or now (the time it is) */
	REC_YES_NO, /* a JSON true or false */
	REC_ENUM,   /* one of `allowed` */
	REC_DOMAIN, /* a life domain of the store's ZRM (checked after the others) */
	REC_LIST    /* comma-separated life domains, as a JSON array */
};
/* What a field asks of its option (rec_field.flags). */
enum {
	REC_GIVEN = 1,  /* an add gives it */
	REC_FILLED = 2, /* an add gives it, not empty */
	REC_KEEP = 4,   /* an edit cannot remove it ("" on an edit removes a field) */
	REC_STRICT = 8  /* "" is checked like any value, also on an edit */
};
typedef struct rec_field {
	const char *opt;            /* the option */
	const char *key;            /* the field: NULL for the option's name with '_' for '-';
	                             * "a.b" is b in the sub-object a, merged on an edit */
	enum rec_check check;
	const char *const *allowed; /* REC_ENUM */
	unsigned flags;
} rec_field;

/* The lines of a kind's table: a field named as its option, one of a
 * list, and a field in a sub-object. */
#define REC_FIELD(opt, check, flags) {opt, NULL, check, NULL, flags}
#define REC_ONE_OF(opt, allowed, flags) {opt, NULL, REC_ENUM, allowed, flags}
#define REC_IN(opt, key, check) {opt, key, check, NULL, 0}

/* A record kind's fields and the usage errors about them as a whole. */
typedef struct rec_spec {
	const rec_field *fields;
	size_t nfields;
	const char *added;    /* what an add reports it did ("added") */
	const char *required; /* an add lacks a required field */
	const char *kept;     /* an edit removes a field it must keep */
	const char *nothing;  /* an edit names no field */
	const char *status;   /* the status a new record gets unless one is given */
} rec_spec;

/* Check the record's options (0 or a usage exit code, printed); life
 * domains last, with the store's list (which opens the store). *known (may
 * be NULL) gets that list (a new reference) when `load` or a domain option
 * needed it. */
int rec_check_line(cli *c, const cli_line *l, const rec_spec *spec, bool edit, bool load,
	json_t **known);
/* The fields object of an add or (`edit`) an edit of `old` (its
 * sub-objects are merged; NULL unless rec_merges): a new reference. */
json_t *rec_build(const cli_line *l, const rec_spec *spec, const json_t *old, bool edit);
/* Does the line give any of the record's fields? */
bool rec_given(const cli_line *l, const rec_spec *spec);

/* How a list of a kind reads as a table (cmd_record_list). */
typedef struct rec_lister {
	const char *none;      /* an empty list */
	const char *none_open; /* an empty list of open ones (--open) */
	const char *head;      /* the table's first line */
	void (*row)(const json_t *r, const void *payload);
	/* Rows in this order (qsort over const json_t *), or as listed: NULL. */
	int (*order)(const void *a, const void *b);
	/* What row gets besides the record (a new reference), or NULL. */
	json_t *(*payload)(const json_t *list);
} rec_lister;

/* The record kinds' specs (client.c, visit.c, goal.c, signal.c, note.c). */
extern const rec_spec cli_client_spec, cli_goal_spec, cli_signal_spec;
extern const rec_lister cli_client_lister, cli_visit_lister, cli_note_lister,
	cli_goal_lister, cli_signal_lister;

/* ---- commands --------------------------------------------------------- */

extern const cli_cmd cli_commands[];
extern const size_t cli_commands_count;

/* ---- manual.c ----------------------------------------------------------- */

/* veld(1) in roff, and a bash completion script, both made from the
 * command table and the help texts (`veld help --man`,
 * `veld help --bash-completion`). */
void cli_print_man(FILE *f);
void cli_print_bash_completion(FILE *f);

/* schema.c: the record schema in force. cli_schema_load opens the store and
 * reads it (veld_schema_json; *schema a new reference); cli_schema_kind is
 * the definition of a kind of it (borrowed), or NULL after a usage error
 * that lists the kinds there are. */
int cmd_schema(cli *c, const cli_line *l);
int cli_schema_load(cli *c, json_t **schema);
const json_t *cli_schema_kind(cli *c, const json_t *schema, const char *kind);
bool cli_schema_append_only(const json_t *kind);

/* generic.c: `veld record ...`, any kind of the schema (its first
 * argument) */
int cmd_generic_add(cli *c, const cli_line *l);
int cmd_generic_list(cli *c, const cli_line *l);
int cmd_generic_show(cli *c, const cli_line *l);
int cmd_generic_edit(cli *c, const cli_line *l);
int cmd_generic_delete(cli *c, const cli_line *l);

/* record.c: any kind (the command's kind, and its data: a rec_spec for
 * add and edit, a rec_lister for list) */
int cmd_record_add(cli *c, const cli_line *l);
int cmd_record_edit(cli *c, const cli_line *l);
int cmd_record_list(cli *c, const cli_line *l);
int cmd_record_show(cli *c, const cli_line *l);

/* client.c, visit.c, note.c, signal.c: what a table does not say;
 * cmd_client_erase is also `veld office erase` (cli_cmd.office) */
int cmd_client_erase(cli *c, const cli_line *l);
int cmd_visit_add(cli *c, const cli_line *l);
int cmd_visit_edit(cli *c, const cli_line *l);
int cmd_note_add(cli *c, const cli_line *l);
int cmd_note_amend(cli *c, const cli_line *l);
int cmd_signal_close(cli *c, const cli_line *l);
/* progress.c: `veld client progress` */
int cmd_client_progress(cli *c, const cli_line *l);

/* admin.c */
int cmd_init(cli *c, const cli_line *l);
int cmd_passwd(cli *c, const cli_line *l);
int cmd_info(cli *c, const cli_line *l);
int cmd_verify(cli *c, const cli_line *l);
int cmd_domains(cli *c, const cli_line *l);
int cmd_conflicts(cli *c, const cli_line *l);
int cmd_resolve(cli *c, const cli_line *l);
int cmd_log_show(cli *c, const cli_line *l);
int cmd_quarantine(cli *c, const cli_line *l);
int cmd_log_verify(cli *c, const cli_line *l);
int cmd_policy_show(cli *c, const cli_line *l);
int cmd_policy_set(cli *c, const cli_line *l);
int cmd_purge(cli *c, const cli_line *l);

/* The life domain codes of the newest ZRM version the store knows
 * (veld_schema_json), as a JSON array of strings (new reference). Opens
 * the store if it is not open yet. Returns an exit code. */
int cli_zrm_domains(cli *c, json_t **domains);
/* The Argon2id cost from --kdf-memory (MiB) and --kdf-passes into `o`. */
void cli_kdf_options(const cli_line *l, veld_store_options *o);

/* ---- sync.c, office.c: talking to the server -------------------------- */

struct veld_sync_options;
/* --insecure-http, --ca-file and --pin into `so` (initialised here). */
void cli_net_options(const cli_line *l, struct veld_sync_options *so);
/* Report a sync error; on VELD_EREVOKED wipe the store (close it, delete
 * its database files) and return CLI_EXIT_PERM. */
int cli_sync_error(cli *c, int rc);
/* Resolve the store directory (--store, VELD_STORE, default); an exit code. */
int cli_store_dir(cli *c);

int cmd_enroll(cli *c, const cli_line *l);
int cmd_sync(cli *c, const cli_line *l);
int cmd_office_init(cli *c, const cli_line *l);
int cmd_office_invite(cli *c, const cli_line *l);
int cmd_office_revoke(cli *c, const cli_line *l);
int cmd_office_devices(cli *c, const cli_line *l);
int cmd_office_certify(cli *c, const cli_line *l);
int cmd_fingerprint(cli *c, const cli_line *l);
int cmd_office_list(cli *c, const cli_line *l);
int cmd_office_fields(cli *c, const cli_line *l);
int cmd_office_move(cli *c, const cli_line *l);
int cmd_office_schema(cli *c, const cli_line *l);
int cmd_woonkompas_print(cli *c, const cli_line *l);
int cmd_fields(cli *c, const cli_line *l);
int cmd_office_export(cli *c, const cli_line *l);

/* due.c: what is due (veld_due) */
int cmd_due(cli *c, const cli_line *l);
int cmd_office_due(cli *c, const cli_line *l);
int cmd_office_report(cli *c, const cli_line *l);

/* serve.c: the sync server */
int cmd_serve(cli *c, const cli_line *l);
/* A PEM file, whole, NUL-terminated, into *out (sodium_malloc'd: it may
 * be the private key; sodium_free wipes it). A key (`secret`) must be
 * readable by its owner alone: a key others can read is as good as
 * published, so no server starts with it. Returns an exit code. */
int cli_read_pem(const char *what, const char *path, bool secret, char **out);

/* console/command.c: the office's web console */
int cmd_office_console(cli *c, const cli_line *l);

#endif /* VELD_CLI_H */
