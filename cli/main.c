/*
 * main.c - the `veld` command: global options, dispatch, help, exit codes
 * and opening the store.
 *
 * The command line is `veld [global options] <noun> [<verb>] [options]`.
 * Global options may also follow the noun or the verb, so every level's
 * getopt_long table holds them; each command adds its own options to the
 * global ones through cli_opts_begin().
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"

enum {
	OPT_G_STORE = 0x1000,
	OPT_G_PASSFD,
	OPT_G_JSON,
	OPT_G_USER,
	OPT_G_ROLE,
	OPT_G_PURPOSE,
	OPT_G_VERSION
};

static const struct option global_options[] = {
	{"store", required_argument, NULL, OPT_G_STORE},
	{"passphrase-fd", required_argument, NULL, OPT_G_PASSFD},
	{"json", no_argument, NULL, OPT_G_JSON},
	{"user", required_argument, NULL, OPT_G_USER},
	{"role", required_argument, NULL, OPT_G_ROLE},
	{"purpose", required_argument, NULL, OPT_G_PURPOSE},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0}
};

const char cli_global_help[] =
	"Global options (before or after the command):\n"
	"  --store DIR          the store directory (env VELD_STORE; default\n"
	"                       $XDG_DATA_HOME/veld or ~/.local/share/veld)\n"
	"  --passphrase-fd N    read the passphrase from file descriptor N, up to\n"
	"                       a newline (else env VELD_PASSPHRASE, else a prompt\n"
	"                       on the terminal)\n"
	"  --json               machine-readable output (JSON)\n"
	"  --user U             who acts, for the access log (env VELD_USER;\n"
	"                       default $USER)\n"
	"  --role R             the actor's role for the access log (default worker)\n"
	"  --purpose P          purpose recorded in the access log (default care)\n"
	"  --help               show help\n";

const char cli_intro_help[] =
	"veld keeps a support worker's visits, notes, goals and signals in an\n"
	"encrypted store on this device.\n";

const char *const cli_exit_names[] = {"ok", "failure", "usage error", "not found",
	"wrong passphrase", "integrity failure", "not permitted", "store busy", NULL};

/* ---- errors ------------------------------------------------------------ */

int cli_exit_code(int rc)
{
	switch (rc) {
	case VELD_OK: return CLI_EXIT_OK;
	case VELD_EINVAL: return CLI_EXIT_USAGE;
	case VELD_ENOTFOUND: return CLI_EXIT_NOTFOUND;
	case VELD_EAUTH: return CLI_EXIT_AUTH;
	case VELD_ECORRUPT: return CLI_EXIT_CORRUPT;
	case VELD_EPERM:
	case VELD_ESHREDDED: return CLI_EXIT_PERM;
	case VELD_EBUSY: return CLI_EXIT_BUSY;
	default: return CLI_EXIT_FAIL;
	}
}

int cli_api_error(int rc)
{
	const char *msg = veld_error_last();
	if (msg == NULL || *msg == '\0')
		msg = veld_strerror(rc);
	fprintf(stderr, "veld: %s\n", msg && *msg ? msg : "unknown error");
	return cli_exit_code(rc);
}

/* "veld: <message>" on stderr. */
static void vsay(const char *fmt, va_list ap)
{
	fputs("veld: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int cli_fail(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
	return code;
}

static void print_cmd_name(FILE *f, const cli_cmd *cmd)
{
	fprintf(f, "veld %s%s%s", cmd->noun, cmd->verb ? " " : "", cmd->verb ? cmd->verb : "");
}

int cli_usage(cli *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
	if (c != NULL && c->cmd != NULL) {
		fputs("usage: ", stderr);
		print_cmd_name(stderr, c->cmd);
		fprintf(stderr, " %s\n(see `", c->cmd->synopsis);
		print_cmd_name(stderr, c->cmd);
		fputs(" --help`)\n", stderr);
	} else {
		fputs("(see `veld --help`)\n", stderr);
	}
	return CLI_EXIT_USAGE;
}

/* ---- help -------------------------------------------------------------- */

static void print_cmd_help(const cli_cmd *cmd)
{
	fputs("usage: ", stdout);
	print_cmd_name(stdout, cmd);
	printf(" %s\n\n%s\n%s", cmd->synopsis, cmd->help, cli_global_help);
}

static void print_noun_help(FILE *f, const char *noun)
{
	fprintf(f, "usage: veld %s <command> [options]\n\nCommands:\n", noun);
	for (size_t i = 0; i < cli_commands_count; i++) {
		const cli_cmd *cmd = &cli_commands[i];
		if (strcmp(cmd->noun, noun) == 0 && cmd->verb != NULL)
			fprintf(f, "  veld %s %s %s\n", noun, cmd->verb, cmd->synopsis);
	}
	fprintf(f, "\nRun `veld %s <command> --help` for a command's options.\n", noun);
}

static void print_main_help(FILE *f)
{
	fprintf(f, "usage: veld [global options] <command> [options]\n\n%s\nCommands:\n",
		cli_intro_help);
	const char *last = "";
	for (size_t i = 0; i < cli_commands_count; i++) {
		const cli_cmd *cmd = &cli_commands[i];
		if (cmd->verb == NULL) {
			/* its help's first sentence (or clause) says what it does */
			fprintf(f, "  veld %-10s ", cmd->noun);
			for (const char *p = cmd->help; *p != '\0'; p++) {
				bool end = (*p == '.' || *p == ':') &&
				           (p[1] == ' ' || p[1] == '\n' || p[1] == '\0');
				if (end && *p == ':')
					break;
				fputc(*p == '\n' ? ' ' : *p, f);
				if (end)
					break;
			}
			fputc('\n', f);
		} else if (strcmp(cmd->noun, last) != 0) {
			fprintf(f, "  veld %-10s ", cmd->noun);
			const char *sep = "";
			for (size_t j = i; j < cli_commands_count; j++) {
				if (strcmp(cli_commands[j].noun, cmd->noun) != 0)
					break;
				fprintf(f, "%s%s", sep, cli_commands[j].verb);
				sep = " | ";
			}
			fputc('\n', f);
		}
		last = cmd->noun;
	}
	fputs("  veld help [<command>]\n\n", f);
	fputs(cli_global_help, f);
	fputs("  --version            print the version\n\nExit codes:", f);
	for (size_t i = 0; cli_exit_names[i] != NULL; i++)
		fprintf(f, "%s %zu %s", i == 0 ? "" : i == 4 ? ",\n" : ",", i, cli_exit_names[i]);
	fputs(".\nRun `veld <command> --help` for a command's options.\n", f);
}

/* ---- option parsing ---------------------------------------------------- */

/* The global options that take text, and the usage error for an empty one. */
static const struct {
	int opt;
	size_t member;
	const char *empty;
} text_globals[] = {
	{OPT_G_STORE, offsetof(cli, store_dir), "--store needs a directory"},
	{OPT_G_USER, offsetof(cli, user), "--user needs a value"},
	{OPT_G_ROLE, offsetof(cli, role), "--role needs a value"},
	{OPT_G_PURPOSE, offsetof(cli, purpose), "--purpose needs a value"},
};

/* Handle one global option; returns 0, -1 if it is not one, or an exit
 * code after a usage error. */
static int apply_global(cli *c, int opt, const char *arg)
{
	long long n;
	for (size_t i = 0; i < sizeof text_globals / sizeof text_globals[0]; i++) {
		if (text_globals[i].opt != opt)
			continue;
		if (*arg == '\0')
			return cli_usage(c, "%s", text_globals[i].empty);
		*(const char **)(void *)((char *)c + text_globals[i].member) = arg;
		return 0;
	}
	if (opt == OPT_G_JSON) {
		c->json = true;
		return 0;
	}
	if (opt != OPT_G_PASSFD)
		return -1;
	if (!cli_parse_int(arg, 0, 1 << 20, &n))
		return cli_usage(c, "--passphrase-fd needs a file descriptor number");
	c->passphrase_fd = (int)n;
	return 0;
}

/* Name the option that getopt_long just refused, without any value glued
 * to it with '=' (the value may be personal data). */
static void bad_option_name(char **argv, int ind, char *buf, size_t size)
{
	const char *a = (ind > 0) ? argv[ind - 1] : "";
	size_t n = strcspn(a, "=");
	if (n >= size)
		n = size - 1;
	memcpy(buf, a, n);
	buf[n] = '\0';
}

static int getopt_error(cli *c, int o, char **argv)
{
	char name[64];
	if (o == ':') {
		bad_option_name(argv, optind, name, sizeof name);
		return cli_usage(c, "option '%s' needs a value", name);
	}
	if (optopt != 0 && optopt < 0x100 && optopt != '?')
		return cli_usage(c, "unknown option '-%c'", optopt);
	bad_option_name(argv, optind, name, sizeof name);
	return cli_usage(c, "unknown option '%s'", name);
}

/* Returned by opts_next() after it printed the command's help (the
 * command stops and exits 0), after it printed a usage error, and for a
 * positional argument (getopt's "return in order"). */
#define OPT_HELP (-2)
#define OPT_ERROR (-3)
#define OPT_ARG 1

/* Iterator over a command's options. The global options (--store, --json,
 * ...) are accepted anywhere and handled inside; the command sees only its
 * own options and, as OPT_ARG, its positional arguments, in order. */
typedef struct opts {
	cli *c;
	int argc;
	char **argv;
	struct option all[CLI_MAX_OPTS + 16];
	const char *optarg; /* the current option's argument */
	bool done;
} opts;

static void opts_begin(opts *it, cli *c, int argc, char **argv, const struct option *cmd_opts)
{
	size_t n = 0;
	memset(it, 0, sizeof *it);
	it->c = c;
	it->argc = argc;
	it->argv = argv;
	for (const struct option *o = cmd_opts; o != NULL && o->name != NULL; o++)
		it->all[n++] = *o;
	for (const struct option *o = global_options; o->name != NULL; o++)
		it->all[n++] = *o;
	memset(&it->all[n], 0, sizeof it->all[n]);
	optind = 0; /* glibc: restart scanning at argv[1] */
	opterr = 0;
}

/* The next option of the command (its value), OPT_ARG for a positional
 * argument, -1 at the end, OPT_HELP after printing help, OPT_ERROR after
 * printing a usage error. */
static int opts_next(opts *it)
{
	cli *c = it->c;
	if (it->done) {
		/* Everything after "--" is positional. */
		if (optind < it->argc) {
			it->optarg = it->argv[optind++];
			return OPT_ARG;
		}
		return -1;
	}
	for (;;) {
		/* "-": positionals come back in order, whatever POSIXLY_CORRECT
		 * says; ":": we print our own errors. */
		int o = getopt_long(it->argc, it->argv, "-:h", it->all, NULL);
		if (o == -1) {
			it->done = true;
			if (optind < it->argc) {
				it->optarg = it->argv[optind++];
				return OPT_ARG;
			}
			return -1;
		}
		if (o == 'h') {
			print_cmd_help(c->cmd);
			return OPT_HELP;
		}
		if (o == '?' || o == ':') {
			getopt_error(c, o, it->argv);
			return OPT_ERROR;
		}
		int r = apply_global(c, o, optarg);
		if (r == 0)
			continue;
		if (r > 0)
			return OPT_ERROR;
		it->optarg = optarg;
		return o;
	}
}

/* ---- a command's command line ------------------------------------------- */

/* Rules an option's value keeps in every command that takes the option:
 * 'i' a whole number from min to max, 'l' text of min to max bytes, 'd' a
 * date as YYYY-MM-DD (its time, 00:00 UTC, in num), 'e' not empty (when
 * the command marks it "name=+"). The usage error is a format of min and
 * max. */
static const struct rule {
	const char *name;
	char kind;
	long long min, max;
	const char *usage;
} rules[] = {
	{"kdf-memory", 'i', VELD_KDF_MEMLIMIT_MIN / (1024 * 1024), 4096,
	 "--kdf-memory is in MiB, from %lld to %lld"},
	{"kdf-passes", 'i', VELD_KDF_OPSLIMIT_MIN, 64, "--kdf-passes must be from %lld to %lld"},
	{"new-passphrase-fd", 'i', 0, 1 << 20, "--new-passphrase-fd needs a file descriptor number"},
	{"limit", 'i', 1, 1000000000, "--limit needs a positive number"},
	{"ttl-hours", 'i', 1, 7 * 24, "--ttl-hours must be from %lld to %lld (7 days)"},
	{"threads", 'i', 1, 256, "--threads needs a number from %lld to %lld"},
	{"max-per-address", 'i', 1, 100000, "--max-per-address needs a number from %lld to %lld"},
	{"header-timeout", 'i', 1, 3600, "--header-timeout is in seconds, from %lld to %lld"},
	{"body-timeout", 'i', 1, 3600, "--body-timeout is in seconds, from %lld to %lld"},
	{"body-min-rate", 'i', 1, 1 << 30, "--body-min-rate is in bytes per second, from %lld to %lld"},
	{"max-skew", 'i', 1, 7 * 24 * 3600, "--max-skew is in seconds, from %lld to %lld"},
	{"label", 'l', 1, CLI_LABEL_MAX, "--label needs a name of %lld to %lld bytes"},
	{"now", 'd', 0, 0, "--now needs a date as YYYY-MM-DD"},
	{"today", 'd', 0, 0, "--today needs a date as YYYY-MM-DD"},
	{"days", 'i', 0, 366, "--days must be from %lld to %lld"},
	{"team", 'e', 0, 0, "--team needs a team id"},
};

/* A date as "today" for a policy: 00:00 UTC of that day. */
static long long day_start(const char *date)
{
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	tm.tm_year = atoi(date) - 1900;
	tm.tm_mon = atoi(date + 5) - 1;
	tm.tm_mday = atoi(date + 8);
	return (long long)timegm(&tm);
}

/* Check option i's value against its rule; 0 or a usage exit code. */
static int apply_rule(cli *c, cli_line *l, int i, char mark, const char *v)
{
	for (size_t k = 0; k < sizeof rules / sizeof rules[0]; k++) {
		const struct rule *r = &rules[k];
		bool ok = true;
		if (strcmp(r->name, l->name[i]) != 0 || (r->kind == 'e' && mark != '+'))
			continue;
		if (r->kind == 'i')
			ok = cli_parse_int(v, r->min, r->max, &l->num[i]);
		else if (r->kind == 'l')
			ok = strlen(v) >= (size_t)r->min && strlen(v) <= (size_t)r->max;
		else if (r->kind == 'e')
			ok = *v != '\0';
		else if ((ok = cli_valid_date(v)) && (l->num[i] = day_start(v)) <= 0)
			return cli_usage(c, "--%s must be after 1970-01-01", r->name);
		if (!ok)
			return cli_usage(c, r->usage, r->min, r->max);
	}
	return 0;
}

/* One option of the command, as the mark after its name says. */
static int take_option(cli *c, const cli_cmd *cmd, cli_line *l, int i, char mark, const char *v)
{
	if (mark == '!')
		return cli_usage(c, "%s", cmd->refuse);
	if (mark == '*') {
		if (l->nmany == CLI_MAX_MANY)
			return cli_usage(c, "too many --%s options", l->name[i]);
		l->many[l->nmany++] = v;
	}
	l->val[i] = v;
	return apply_rule(c, l, i, mark, v);
}

/* The command's options (cmd->opts) as getopt_long's table; marks[i] is
 * the mark after option i's '=' (or ' ' for a flag). */
static void line_options(const cli_cmd *cmd, cli_line *l, struct option *o, char *marks)
{
	const char *p = cmd->opts ? cmd->opts : "";
	size_t used = 0;
	while (*p && l->nopts < CLI_MAX_OPTS) {
		size_t n = strcspn(p, " "), k = strcspn(p, "= ");
		char *name = l->names + used;
		if (k >= sizeof l->names - used)
			break;
		memcpy(name, p, k);
		name[k] = '\0';
		used += k + 1;
		marks[l->nopts] = k < n ? (k + 1 < n ? p[k + 1] : '=') : ' ';
		o[l->nopts] = (struct option){name, k < n ? required_argument : no_argument, NULL,
		                              0x100 + l->nopts};
		l->name[l->nopts++] = name;
		p += n;
		p += strspn(p, " ");
	}
	memset(&o[l->nopts], 0, sizeof o[l->nopts]);
}

/* Parse argv for `cmd`: 0, -1 after --help, or a usage exit code. */
static int parse_line(cli *c, const cli_cmd *cmd, int argc, char **argv, cli_line *l)
{
	struct option o[CLI_MAX_OPTS + 1];
	char marks[CLI_MAX_OPTS];
	opts it;
	int k, ex;
	memset(l, 0, sizeof *l);
	l->argc = argc;
	l->argv = argv;
	l->cmd = cmd;
	line_options(cmd, l, o, marks);
	opts_begin(&it, c, argc, argv, o);
	while ((k = opts_next(&it)) != -1) {
		if (k == OPT_HELP)
			return -1;
		if (k == OPT_ERROR)
			return CLI_EXIT_USAGE;
		if (k == OPT_ARG && l->nargs == cmd->max_args)
			return cli_usage(c, "%s", cmd->extra ? cmd->extra : "unexpected argument");
		if (k == OPT_ARG)
			l->arg[l->nargs++] = it.optarg;
		else if ((ex = take_option(c, cmd, l, k - 0x100, marks[k - 0x100],
		                           it.optarg ? it.optarg : "")) != 0)
			return ex;
	}
	return l->nargs < cmd->min_args ? cli_usage(c, "%s", cmd->missing) : 0;
}

static int line_index(const cli_line *l, const char *name)
{
	for (int i = 0; i < l->nopts; i++)
		if (strcmp(l->name[i], name) == 0)
			return i;
	return -1;
}

const char *cli_opt(const cli_line *l, const char *name)
{
	int i = line_index(l, name);
	return i >= 0 ? l->val[i] : NULL;
}

bool cli_flag(const cli_line *l, const char *name)
{
	return cli_opt(l, name) != NULL;
}

long long cli_num(const cli_line *l, const char *name)
{
	int i = line_index(l, name);
	return i >= 0 && l->val[i] ? l->num[i] : 0;
}

int cli_first_arg(cli *c, int argc, char **argv, const char **arg)
{
	opts it;
	int k;
	*arg = NULL;
	opts_begin(&it, c, argc, argv, NULL);
	k = opts_next(&it);
	if (k == OPT_HELP)
		return -1;
	if (k == OPT_ERROR)
		return CLI_EXIT_USAGE;
	if (k == OPT_ARG)
		*arg = it.optarg;
	return 0;
}

/* The office acts as "office" in the access log unless --role was given. */
static void act_as_office(cli *c)
{
	if (c->role == NULL || strcmp(c->role, "worker") == 0)
		c->role = "office";
}

int cli_run(cli *c, const cli_cmd *cmd, int argc, char **argv)
{
	cli_line l;
	int ex;
	if (cmd->office)
		act_as_office(c);
	if (cmd->raw) {
		memset(&l, 0, sizeof l);
		l.argc = argc;
		l.argv = argv;
		l.cmd = cmd;
	} else if ((ex = parse_line(c, cmd, argc, argv, &l)) != 0) {
		return ex < 0 ? 0 : ex;
	}
	return cmd->run(c, &l);
}

/* ---- the store ----------------------------------------------------------- */

static int resolve_store_dir(cli *c)
{
	if (c->store_dir != NULL)
		return 0;
	const char *env = getenv("VELD_STORE");
	if (env != NULL && *env != '\0') {
		c->store_dir = env;
		return 0;
	}
	const char *xdg = getenv("XDG_DATA_HOME");
	const char *home = getenv("HOME");
	const char *base, *suffix;
	if (xdg != NULL && xdg[0] == '/') {
		base = xdg;
		suffix = "/veld";
	} else if (home != NULL && *home != '\0') {
		base = home;
		suffix = "/.local/share/veld";
	} else {
		return cli_fail(CLI_EXIT_USAGE, "no store directory: use --store DIR or set VELD_STORE");
	}
	size_t len = strlen(base) + strlen(suffix) + 1;
	c->store_dir_owned = malloc(len);
	if (c->store_dir_owned == NULL)
		return cli_fail(CLI_EXIT_FAIL, "out of memory");
	snprintf(c->store_dir_owned, len, "%s%s", base, suffix);
	c->store_dir = c->store_dir_owned;
	return 0;
}

int cli_store_dir(cli *c)
{
	return resolve_store_dir(c);
}

static void store_options(cli *c, veld_store_options *o)
{
	veld_store_options_init(o);
	o->user = c->user;
	o->role = c->role;
}

/* Open the store with a passphrase asked with `prompt`; it stays in *pass
 * (wipe it with cli_pass_free, also after a failure) for a caller that
 * needs it again. No directory, no store: that is said before asking. */
int cli_open_store_asking(cli *c, const char *prompt, cli_pass *pass)
{
	struct stat st;
	veld_store_options o;
	int ex = resolve_store_dir(c), rc;
	pass->buf = NULL;
	pass->len = 0;
	if (ex != 0)
		return ex;
	if (stat(c->store_dir, &st) != 0 && errno == ENOENT)
		return cli_fail(CLI_EXIT_NOTFOUND, "no store in %s (create one with `veld init`)",
			c->store_dir);
	ex = cli_pass_read(pass, c->passphrase_fd, "VELD_PASSPHRASE", prompt, false, 0);
	if (ex != 0)
		return ex;
	store_options(c, &o);
	rc = veld_store_open(&c->store, c->store_dir, pass->buf, pass->len, &o);
	if (rc != VELD_OK) {
		c->store = NULL;
		return cli_api_error(rc);
	}
	return 0;
}

int cli_open_store(cli *c)
{
	cli_pass pass;
	if (c->store != NULL)
		return 0;
	int ex = cli_open_store_asking(c, "Passphrase for the veld store: ", &pass);
	cli_pass_free(&pass);
	return ex;
}

void cli_kdf_options(const cli_line *l, veld_store_options *o)
{
	o->kdf_memlimit = (uint64_t)cli_num(l, "kdf-memory") * 1024u * 1024u;
	o->kdf_opslimit = (uint64_t)cli_num(l, "kdf-passes");
}

int cli_create_store(cli *c, const cli_line *l, const char *team, bool office)
{
	int ex = resolve_store_dir(c);
	if (ex != 0)
		return ex;
	cli_pass pass;
	ex = cli_pass_read(&pass, c->passphrase_fd, "VELD_PASSPHRASE", office
		? "New passphrase for the office store: " : "New passphrase for the veld store: ",
		true, CLI_PASS_MIN);
	if (ex != 0)
		return ex;
	veld_store_options o;
	store_options(c, &o);
	o.team = team;
	cli_kdf_options(l, &o);
	int rc = (office ? veld_office_create : veld_store_create)(&c->store, c->store_dir,
		pass.buf, pass.len, &o);
	cli_pass_free(&pass);
	if (rc != VELD_OK) {
		c->store = NULL;
		return cli_api_error(rc);
	}
	return 0;
}

/* ---- dispatch ------------------------------------------------------------ */

const cli_cmd *cli_find_cmd(const char *noun, const char *verb)
{
	for (size_t i = 0; i < cli_commands_count; i++) {
		const cli_cmd *cmd = &cli_commands[i];
		if (strcmp(cmd->noun, noun) != 0)
			continue;
		if (verb == NULL || cmd->verb == NULL || strcmp(cmd->verb, verb) == 0)
			return cmd;
	}
	return NULL;
}

static bool noun_has_verbs(const char *noun)
{
	const cli_cmd *cmd = cli_find_cmd(noun, NULL);
	return cmd != NULL && cmd->verb != NULL;
}

/* Parse global options up to the first word; returns the index of that
 * word (argc if none), or a negative value after printing help (-1, exit
 * 0) or an error (-2, exit 2). */
static int parse_leading_globals(cli *c, int argc, char **argv, bool top)
{
	static const struct option top_options[] = {
		{"version", no_argument, NULL, OPT_G_VERSION},
	};
	struct option all[16];
	size_t n = 0;
	if (top)
		all[n++] = top_options[0];
	for (const struct option *o = global_options; o->name != NULL; o++)
		all[n++] = *o;
	memset(&all[n], 0, sizeof all[n]);
	optind = 0;
	opterr = 0;
	for (;;) {
		int o = getopt_long(argc, argv, "+:h", all, NULL);
		if (o == -1)
			return optind;
		if (o == 'h')
			return -1;
		if (o == OPT_G_VERSION) {
			printf("veld %d.%d.%d\n", VELD_VERSION_MAJOR, VELD_VERSION_MINOR,
				VELD_VERSION_PATCH);
			return -3;
		}
		if (o == '?' || o == ':') {
			getopt_error(c, o, argv);
			return -2;
		}
		if (apply_global(c, o, optarg) != 0)
			return -2;
	}
}

static int cmd_help(int argc, char **argv)
{
	if (argc < 2) {
		print_main_help(stdout);
		return 0;
	}
	const char *noun = argv[1];
	const char *verb = argc > 2 ? argv[2] : NULL;
	/* the manual and the completion the build installs (manual.c) */
	if (argc == 2 && strcmp(noun, "--man") == 0) {
		cli_print_man(stdout);
		return 0;
	}
	if (argc == 2 && strcmp(noun, "--bash-completion") == 0) {
		cli_print_bash_completion(stdout);
		return 0;
	}
	const cli_cmd *cmd = cli_find_cmd(noun, verb);
	if (cmd == NULL || (verb != NULL && cmd->verb == NULL && argc > 2))
		return cli_fail(CLI_EXIT_USAGE, "no such command (see `veld --help`)");
	if (cmd->verb != NULL && verb == NULL) {
		print_noun_help(stdout, noun);
		return 0;
	}
	print_cmd_help(cmd);
	return 0;
}

static int run(cli *c, int argc, char **argv)
{
	int i = parse_leading_globals(c, argc, argv, true);
	if (i == -1) {
		print_main_help(stdout);
		return 0;
	}
	if (i == -3)
		return 0;
	if (i < 0)
		return CLI_EXIT_USAGE;
	if (i >= argc) {
		print_main_help(stderr);
		return CLI_EXIT_USAGE;
	}
	const char *noun = argv[i];
	if (strcmp(noun, "help") == 0)
		return cmd_help(argc - i, argv + i);
	const cli_cmd *cmd = cli_find_cmd(noun, NULL);
	if (cmd == NULL)
		return cli_fail(CLI_EXIT_USAGE, "unknown command '%s' (see `veld --help`)", noun);
	if (!noun_has_verbs(noun)) {
		c->cmd = cmd;
		return cli_run(c, cmd, argc - i, argv + i);
	}
	/* `veld <noun> [globals] <verb> ...` */
	int sub_argc = argc - i;
	char **sub_argv = argv + i;
	int j = parse_leading_globals(c, sub_argc, sub_argv, false);
	if (j == -1) {
		print_noun_help(stdout, noun);
		return 0;
	}
	if (j < 0)
		return CLI_EXIT_USAGE;
	if (j >= sub_argc) {
		fprintf(stderr, "veld: %s needs a command\n", noun);
		print_noun_help(stderr, noun);
		return CLI_EXIT_USAGE;
	}
	const char *verb = sub_argv[j];
	if (strcmp(verb, "help") == 0) {
		print_noun_help(stdout, noun);
		return 0;
	}
	cmd = cli_find_cmd(noun, verb);
	if (cmd == NULL)
		return cli_fail(CLI_EXIT_USAGE, "unknown command '%s %s' (see `veld %s --help`)",
			noun, verb, noun);
	c->cmd = cmd;
	return cli_run(c, cmd, sub_argc - j, sub_argv + j);
}

int main(int argc, char **argv)
{
	cli c;
	memset(&c, 0, sizeof c);
	c.passphrase_fd = -1;
	c.role = "worker";
	c.purpose = "care";
	const char *u = getenv("VELD_USER");
	if (u == NULL || *u == '\0')
		u = getenv("USER");
	c.user = (u != NULL && *u != '\0') ? u : "worker";

	/* Before anything allocates through jansson. */
	cli_wipe_json_memory();
	if (veld_init() != VELD_OK) {
		fprintf(stderr, "veld: cannot initialise the library\n");
		return CLI_EXIT_FAIL;
	}
	int ex = run(&c, argc, argv);
	veld_store_free(c.store);
	free(c.store_dir_owned);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "veld: cannot write output: %s\n", strerror(errno));
		if (ex == 0)
			ex = CLI_EXIT_FAIL;
	}
	return ex;
}
