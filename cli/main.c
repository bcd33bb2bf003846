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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

static const char global_help[] =
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

int cli_fail(int code, const char *fmt, ...)
{
	va_list ap;
	fputs("veld: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

static void print_cmd_name(FILE *f, const cli_cmd *cmd)
{
	fprintf(f, "veld %s%s%s", cmd->noun, cmd->verb ? " " : "", cmd->verb ? cmd->verb : "");
}

int cli_usage(cli *c, const char *fmt, ...)
{
	va_list ap;
	fputs("veld: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
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
	printf(" %s\n\n%s\n%s", cmd->synopsis, cmd->help, global_help);
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
	fputs("usage: veld [global options] <command> [options]\n\n"
	      "veld keeps a support worker's visits, notes, goals and signals in an\n"
	      "encrypted store on this device.\n\nCommands:\n", f);
	const char *last = "";
	for (size_t i = 0; i < cli_commands_count; i++) {
		const cli_cmd *cmd = &cli_commands[i];
		if (cmd->verb == NULL) {
			/* the first sentence of its help says what it does */
			fprintf(f, "  veld %-10s ", cmd->noun);
			for (const char *p = cmd->help; *p != '\0'; p++) {
				fputc(*p == '\n' ? ' ' : *p, f);
				if (*p == '.' && (p[1] == ' ' || p[1] == '\n' || p[1] == '\0'))
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
	fputs(global_help, f);
	fputs("  --version            print the version\n"
	      "\nExit codes: 0 ok, 1 failure, 2 usage error, 3 not found, 4 wrong\n"
	      "passphrase, 5 integrity failure, 6 not permitted, 7 store busy.\n"
	      "Run `veld <command> --help` for a command's options.\n", f);
}

/* ---- option parsing ---------------------------------------------------- */

/* Handle one global option; returns 0, or an exit code after a usage
 * error. */
static int apply_global(cli *c, int opt, const char *arg)
{
	long long n;
	switch (opt) {
	case OPT_G_STORE:
		if (*arg == '\0')
			return cli_usage(c, "--store needs a directory");
		c->store_dir = arg;
		return 0;
	case OPT_G_PASSFD:
		if (!cli_parse_int(arg, 0, 1 << 20, &n))
			return cli_usage(c, "--passphrase-fd needs a file descriptor number");
		c->passphrase_fd = (int)n;
		return 0;
	case OPT_G_JSON:
		c->json = true;
		return 0;
	case OPT_G_USER:
		if (*arg == '\0')
			return cli_usage(c, "--user needs a value");
		c->user = arg;
		return 0;
	case OPT_G_ROLE:
		if (*arg == '\0')
			return cli_usage(c, "--role needs a value");
		c->role = arg;
		return 0;
	case OPT_G_PURPOSE:
		if (*arg == '\0')
			return cli_usage(c, "--purpose needs a value");
		c->purpose = arg;
		return 0;
	default:
		return -1;
	}
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

void cli_opts_begin(cli_opts *it, cli *c, int argc, char **argv,
	const struct option *cmd_opts)
{
	size_t n = 0;
	memset(it, 0, sizeof *it);
	it->c = c;
	it->argc = argc;
	it->argv = argv;
	/* "-": positionals come back in order as CLI_OPT_ARG, whatever
	 * POSIXLY_CORRECT says; ":": we print our own errors. */
	it->shortopts = "-:h";
	for (const struct option *o = cmd_opts; o != NULL && o->name != NULL; o++)
		if (n < sizeof it->all / sizeof it->all[0] - 8)
			it->all[n++] = *o;
	for (const struct option *o = global_options; o->name != NULL; o++)
		it->all[n++] = *o;
	memset(&it->all[n], 0, sizeof it->all[n]);
	optind = 0; /* glibc: restart scanning at argv[1] */
	opterr = 0;
}

/* The next option of the command (its value), CLI_OPT_ARG for a positional
 * argument, -1 at the end, CLI_OPT_HELP after printing help, CLI_OPT_ERROR
 * after printing a usage error. */
int cli_opts_next(cli_opts *it)
{
	cli *c = it->c;
	if (it->done) {
		/* Everything after "--" is positional. */
		if (optind < it->argc) {
			it->optarg = it->argv[optind++];
			return CLI_OPT_ARG;
		}
		return -1;
	}
	for (;;) {
		int o = getopt_long(it->argc, it->argv, it->shortopts, it->all, NULL);
		if (o == -1) {
			it->done = true;
			if (optind < it->argc) {
				it->optarg = it->argv[optind++];
				return CLI_OPT_ARG;
			}
			return -1;
		}
		if (o == 'h') {
			print_cmd_help(c->cmd);
			return CLI_OPT_HELP;
		}
		if (o == '?' || o == ':') {
			getopt_error(c, o, it->argv);
			return CLI_OPT_ERROR;
		}
		int r = apply_global(c, o, optarg);
		if (r == 0)
			continue;
		if (r > 0)
			return CLI_OPT_ERROR;
		it->optarg = optarg;
		return o;
	}
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

int cli_need_store_dir(cli *c)
{
	int ex = resolve_store_dir(c);
	if (ex != 0)
		return ex;
	/* No directory, no store: say so before asking for a passphrase. */
	struct stat st;
	if (stat(c->store_dir, &st) != 0 && errno == ENOENT)
		return cli_fail(CLI_EXIT_NOTFOUND, "no store in %s (create one with `veld init`)",
			c->store_dir);
	return 0;
}

int cli_open_store(cli *c)
{
	if (c->store != NULL)
		return 0;
	int ex = cli_need_store_dir(c);
	if (ex != 0)
		return ex;
	cli_pass pass;
	ex = cli_pass_read(&pass, c->passphrase_fd, "VELD_PASSPHRASE",
		"Passphrase for the veld store: ", false, 0);
	if (ex != 0)
		return ex;
	ex = cli_open_store_with(c, &pass);
	cli_pass_free(&pass);
	return ex;
}

int cli_open_store_with(cli *c, const cli_pass *pass)
{
	int ex = resolve_store_dir(c);
	if (ex != 0)
		return ex;
	veld_store_options o;
	store_options(c, &o);
	int rc = veld_store_open(&c->store, c->store_dir, pass->buf, pass->len, &o);
	if (rc != VELD_OK) {
		c->store = NULL;
		return cli_api_error(rc);
	}
	return 0;
}

int cli_create_store(cli *c, const char *team, uint64_t memlimit, uint64_t opslimit)
{
	int ex = resolve_store_dir(c);
	if (ex != 0)
		return ex;
	cli_pass pass;
	ex = cli_pass_read(&pass, c->passphrase_fd, "VELD_PASSPHRASE",
		"New passphrase for the veld store: ", true, CLI_PASS_MIN);
	if (ex != 0)
		return ex;
	veld_store_options o;
	store_options(c, &o);
	o.team = team;
	o.kdf_memlimit = memlimit;
	o.kdf_opslimit = opslimit;
	int rc = veld_store_create(&c->store, c->store_dir, pass.buf, pass.len, &o);
	cli_pass_free(&pass);
	if (rc != VELD_OK) {
		c->store = NULL;
		return cli_api_error(rc);
	}
	return 0;
}

/* ---- dispatch ------------------------------------------------------------ */

static const cli_cmd *find_cmd(const char *noun, const char *verb)
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
	const cli_cmd *cmd = find_cmd(noun, NULL);
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
	const cli_cmd *cmd = find_cmd(noun, verb);
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
	const cli_cmd *cmd = find_cmd(noun, NULL);
	if (cmd == NULL)
		return cli_fail(CLI_EXIT_USAGE, "unknown command '%s' (see `veld --help`)", noun);
	if (!noun_has_verbs(noun)) {
		c->cmd = cmd;
		return cmd->run(c, argc - i, argv + i);
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
	cmd = find_cmd(noun, verb);
	if (cmd == NULL)
		return cli_fail(CLI_EXIT_USAGE, "unknown command '%s %s' (see `veld %s --help`)",
			noun, verb, noun);
	c->cmd = cmd;
	return cmd->run(c, sub_argc - j, sub_argv + j);
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
