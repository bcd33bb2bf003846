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

/* Returned by cli_opts_next() after it printed the command's help: the
 * command stops and exits 0. Distinct from every option value. */
#define CLI_OPT_HELP (-2)
/* Returned by cli_opts_next() after it printed a usage error. */
#define CLI_OPT_ERROR (-3)
/* Option value for a positional argument (getopt's "return in order"). */
#define CLI_OPT_ARG 1

/* Longest passphrase accepted, in bytes. */
#define CLI_PASS_MAX 1024
/* Shortest passphrase `init` and `passwd` accept for a new passphrase. */
#define CLI_PASS_MIN 8
/* Most positional arguments a command takes. */
#define CLI_MAX_ARGS 8

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

/* One command: `veld <noun> <verb>` or a single-word `veld <noun>`. */
typedef struct cli_cmd {
	const char *noun;
	const char *verb;     /* NULL for a single-word command */
	int (*run)(cli *c, int argc, char **argv);
	const char *synopsis; /* one line, after "veld noun verb " */
	const char *help;     /* the rest of --help: what it does, its options */
} cli_cmd;

/* ---- main.c: options, store, errors ----------------------------------- */

/* Iterator over a command's options. The global options (--store, --json,
 * ...) are accepted anywhere and handled inside; the command sees only its
 * own options and, as CLI_OPT_ARG, its positional arguments, in order. */
typedef struct cli_opts {
	cli *c;
	int argc;
	char **argv;
	struct option all[48];
	const char *shortopts;
	const char *optarg;        /* the current option's argument */
	bool done;
} cli_opts;

void cli_opts_begin(cli_opts *it, cli *c, int argc, char **argv,
	const struct option *cmd_opts);
int cli_opts_next(cli_opts *it);

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

/* Resolve the store directory and check it exists (exit 3 if not), before
 * a passphrase is asked for. Returns an exit code. */
int cli_need_store_dir(cli *c);
/* The same with a passphrase already read (`veld passwd` needs it twice). */
int cli_open_store_with(cli *c, const cli_pass *pass);
/* Create the store for `veld init` (memlimit in bytes; 0 = defaults). */
int cli_create_store(cli *c, const char *team, uint64_t memlimit, uint64_t opslimit);

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

/* ---- validate.c ------------------------------------------------------- */

bool cli_valid_date(const char *s);
bool cli_valid_time(const char *s);
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

/* Option values of the record commands (above any character). */
enum {
	O_NAME = 0x100, O_INITIALS, O_BIRTH, O_ADDRESS, O_PHONE, O_CARE_STATUS, O_CARE_ACTIVE,
	O_CARE_END, O_HOUSING_CORP, O_TENANCY, O_SUPPORT, O_CONTACT, O_TEAM, O_QUERY, O_YES,
	O_CLIENT, O_KIND, O_PLANNED, O_STARTED, O_ENDED, O_DOMAINS, O_SCORE, O_ACTIONS,
	O_VISIT, O_TEXT, O_TAGS, O_DOMAIN, O_DESCRIPTION, O_STATUS, O_REVIEW, O_SEVERITY,
	O_FOLLOW_UP, O_OPEN, O_DEVICE
};

/* Call the API with a fields (or filter) object; parse what it returns
 * into *out (new reference; out may be NULL for create/update). Each
 * returns an exit code, with the error printed. */
int rec_create(cli *c, const char *kind, const json_t *fields, json_t **out);
int rec_update(cli *c, const char *kind, const char *id, const json_t *fields, json_t **out);
int rec_get(cli *c, const char *kind, const char *id, json_t **out);
int rec_list(cli *c, const char *kind, const json_t *filter, json_t **out);
/* The full id of a record named by a unique prefix (a reading, so it is
 * in the access log): for the fields that take only full ids. */
int rec_resolve_id(cli *c, const char *kind, const char *prefix, char **full);
/* After a create or update: the record with --json, else one line. */
void rec_report(cli *c, const char *what, const char *kind, const json_t *rec,
	const char *fallback_id);
/* `<noun> show ID`: parse, open, read and print. */
int rec_one_id(cli *c, int argc, char **argv, const char **id);
int rec_show(cli *c, const char *kind, const char *id);
/* `<noun> list [--client ID] [--open]`; rec_list_kind opens the store. */
int rec_list_args(cli *c, int argc, char **argv, bool allow_open, const char **client,
	bool *open);
int rec_list_kind(cli *c, const char *kind, const char *client, bool open, json_t **list);

/* Fields from options: NULL leaves a field alone; "" on an edit removes
 * it, on an add is ignored. The merge_ forms work inside a sub-object. */
void rec_set_str(json_t *obj, const char *key, const char *val, bool edit);
void rec_merge_str(json_t *obj, const char *key, const char *val);
void rec_merge_bool(json_t *obj, const char *key, const char *val);
/* A copy of the object `key` of a record (or a new empty object). */
json_t *rec_sub_object(const json_t *rec, const char *key);

/* Value checks; 0 or a usage exit code (printed). "" passes on an edit. */
int rec_check_enum(cli *c, const char *opt, const char *val, const char *const *allowed,
	bool edit);
int rec_check_date(cli *c, const char *opt, const char *val, bool edit);
int rec_check_yes_no(cli *c, const char *opt, const char *val, bool edit);
int rec_check_time(cli *c, const char *opt, const char *val, char *buf, size_t size,
	const char **out, bool edit);
int rec_check_domain(cli *c, const json_t *known, const char *opt, const char *d);

/* ---- commands --------------------------------------------------------- */

extern const cli_cmd cli_commands[];
extern const size_t cli_commands_count;

/* records.c */
int cmd_client_add(cli *c, int argc, char **argv);
int cmd_client_list(cli *c, int argc, char **argv);
int cmd_client_show(cli *c, int argc, char **argv);
int cmd_client_edit(cli *c, int argc, char **argv);
int cmd_client_erase(cli *c, int argc, char **argv);
int cmd_visit_add(cli *c, int argc, char **argv);
int cmd_visit_list(cli *c, int argc, char **argv);
int cmd_visit_show(cli *c, int argc, char **argv);
int cmd_visit_edit(cli *c, int argc, char **argv);
int cmd_note_add(cli *c, int argc, char **argv);
int cmd_note_amend(cli *c, int argc, char **argv);
int cmd_note_list(cli *c, int argc, char **argv);
int cmd_note_show(cli *c, int argc, char **argv);
int cmd_goal_set(cli *c, int argc, char **argv);
int cmd_goal_list(cli *c, int argc, char **argv);
int cmd_goal_show(cli *c, int argc, char **argv);
int cmd_goal_edit(cli *c, int argc, char **argv);
int cmd_signal_raise(cli *c, int argc, char **argv);
int cmd_signal_close(cli *c, int argc, char **argv);
int cmd_signal_list(cli *c, int argc, char **argv);
int cmd_signal_show(cli *c, int argc, char **argv);

/* admin.c */
int cmd_init(cli *c, int argc, char **argv);
int cmd_passwd(cli *c, int argc, char **argv);
int cmd_info(cli *c, int argc, char **argv);
int cmd_verify(cli *c, int argc, char **argv);
int cmd_domains(cli *c, int argc, char **argv);
int cmd_conflicts(cli *c, int argc, char **argv);
int cmd_resolve(cli *c, int argc, char **argv);
int cmd_log_show(cli *c, int argc, char **argv);
int cmd_log_verify(cli *c, int argc, char **argv);
int cmd_policy_show(cli *c, int argc, char **argv);
int cmd_policy_set(cli *c, int argc, char **argv);
int cmd_purge(cli *c, int argc, char **argv);

/* The life domain codes of the newest ZRM version the store knows
 * (veld_schema_json), as a JSON array of strings (new reference). Opens
 * the store if it is not open yet. Returns an exit code. */
int cli_zrm_domains(cli *c, json_t **domains);

/* ---- sync.c, office.c: talking to the server -------------------------- */

/* Options of the network commands (above the record and admin ones). */
enum { O_INSECURE_HTTP = 0x300, O_CA_FILE, O_LABEL };

struct veld_sync_options;
/* --insecure-http, --ca-file into `so`; false if `o` is neither. */
bool cli_net_option(int o, const char *arg, struct veld_sync_options *so);
/* Report a sync error; on VELD_EREVOKED wipe the store (close it, delete
 * its database files) and return CLI_EXIT_PERM. */
int cli_sync_error(cli *c, int rc);
/* Resolve the store directory (--store, VELD_STORE, default); an exit code. */
int cli_store_dir(cli *c);

int cmd_enroll(cli *c, int argc, char **argv);
int cmd_sync(cli *c, int argc, char **argv);
int cmd_office_init(cli *c, int argc, char **argv);
int cmd_office_enroll(cli *c, int argc, char **argv);
int cmd_office_invite(cli *c, int argc, char **argv);
int cmd_office_revoke(cli *c, int argc, char **argv);
int cmd_office_devices(cli *c, int argc, char **argv);
int cmd_office_sync(cli *c, int argc, char **argv);
int cmd_office_list(cli *c, int argc, char **argv);
int cmd_office_log(cli *c, int argc, char **argv);
int cmd_office_erase(cli *c, int argc, char **argv);
int cmd_office_fields(cli *c, int argc, char **argv);
int cmd_fields(cli *c, int argc, char **argv);
int cmd_office_export(cli *c, int argc, char **argv);

/* serve.c: the sync server */
int cmd_serve(cli *c, int argc, char **argv);

#endif /* VELD_CLI_H */
