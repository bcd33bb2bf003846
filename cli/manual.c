/*
 * manual.c - the manual page and the bash completion, made from the
 * command table (commands.c) and the global help, so they say what
 * `--help` says and cannot drift from it.
 *
 *   veld help --man              veld(1) in roff (man -l, or installed)
 *   veld help --bash-completion  a bash completion script for veld
 *
 * The build runs both and installs the results (cli/CMakeLists.txt).
 *
 * A help text is lines of prose, option lines ("  --name ARG   what it
 * does", the description starting after two or more spaces), their
 * continuation lines (indented deeper) and blank lines between
 * paragraphs. The manual turns option lines into tagged paragraphs
 * (.TP) and keeps the rest as filled text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* ---- roff ---------------------------------------------------------------- */

/* Text as roff: backslashes, minus signs (every '-' of an option name
 * must be a minus, to be searchable and copyable), and a line that would
 * start with a control character. */
static void roff_text(FILE *f, const char *s, size_t n, bool line_start)
{
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (line_start && (ch == '.' || ch == '\''))
			fputs("\\&", f);
		line_start = false;
		if (ch == '\\')
			fputs("\\e", f);
		else if (ch == '-')
			fputs("\\-", f);
		else
			fputc(ch, f);
	}
}

static size_t spaces(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n && s[i] == ' ')
		i++;
	return i;
}

/* One help text (several lines) as roff. */
static void roff_help(FILE *f, const char *help)
{
	bool in_item = false; /* after a .TP: continuation lines join it */
	const char *p = help;
	while (*p != '\0') {
		size_t n = strcspn(p, "\n");
		size_t ind = spaces(p, n);
		if (ind == n) {
			fputs(".PP\n", f);
			in_item = false;
		} else if (ind == 2 && p[2] == '-') {
			/* "  --name ARG   description": the term ends at two spaces */
			const char *gap = strstr(p + 2, "  ");
			size_t term = (gap != NULL && gap < p + n) ? (size_t)(gap - p) : n;
			fputs(".TP\n.B ", f);
			roff_text(f, p + 2, term - 2, false);
			fputc('\n', f);
			size_t d = term + spaces(p + term, n - term);
			if (d < n) {
				roff_text(f, p + d, n - d, true);
				fputc('\n', f);
			}
			in_item = true;
		} else {
			/* prose, or a continuation of the item above */
			if (!in_item && ind > 0)
				fputs(".br\n", f);
			roff_text(f, p + ind, n - ind, true);
			fputc('\n', f);
		}
		p += n;
		if (*p == '\n')
			p++;
	}
}

static void roff_name(FILE *f, const cli_cmd *cmd)
{
	fputs("veld ", f);
	roff_text(f, cmd->noun, strlen(cmd->noun), false);
	if (cmd->verb != NULL) {
		fputc(' ', f);
		roff_text(f, cmd->verb, strlen(cmd->verb), false);
	}
}

void cli_print_man(FILE *f)
{
	fprintf(f, ".\\\" veld(1), made by `veld help --man` from the help texts.\n"
		   ".TH VELD 1 \"\" \"veld %d.%d.%d\" \"veld manual\"\n",
		VELD_VERSION_MAJOR, VELD_VERSION_MINOR, VELD_VERSION_PATCH);
	fputs(".SH NAME\n"
	      "veld \\- encrypted offline records for support workers, their office and "
	      "their sync server\n"
	      ".SH SYNOPSIS\n"
	      ".B veld\n[\\fIglobal options\\fR] \\fIcommand\\fR [\\fIoptions\\fR] "
	      "[\\fIarguments\\fR]\n"
	      ".br\n.B veld help\n[\\fIcommand\\fR]\n"
	      ".SH DESCRIPTION\n", f);
	roff_help(f, cli_intro_help);
	fputs(".PP\nEvery command is described below as its \\fB\\-\\-help\\fR "
	      "describes it.\n"
	      ".SH COMMANDS\n", f);
	for (size_t i = 0; i < cli_commands_count; i++) {
		const cli_cmd *cmd = &cli_commands[i];
		fputs(".SS \"", f);
		roff_name(f, cmd);
		fputs("\"\n.B ", f);
		roff_name(f, cmd);
		if (*cmd->synopsis != '\0') {
			fputc(' ', f);
			roff_text(f, cmd->synopsis, strlen(cmd->synopsis), false);
		}
		fputs("\n.PP\n", f);
		roff_help(f, cmd->help);
	}
	fputs(".SH GLOBAL OPTIONS\n", f);
	/* without its heading line, which the section title replaces */
	const char *opts = strchr(cli_global_help, '\n');
	roff_help(f, opts != NULL ? opts + 1 : cli_global_help);
	fputs(".TP\n.B \\-\\-version\nprint the version\n"
	      ".SH EXIT STATUS\n", f);
	for (size_t i = 0; cli_exit_names[i] != NULL; i++)
		fprintf(f, ".TP\n.B %zu\n%s\n", i, cli_exit_names[i]);
	fputs(".SH ENVIRONMENT\n"
	      ".TP\n.B VELD_STORE\nthe store directory (\\fB\\-\\-store\\fR)\n"
	      ".TP\n.B VELD_PASSPHRASE\nthe store's passphrase, when "
	      "\\fB\\-\\-passphrase\\-fd\\fR is not given\n"
	      ".TP\n.B VELD_NEW_PASSPHRASE\nthe new passphrase for \\fBveld passwd\\fR\n"
	      ".TP\n.B VELD_USER\nwho acts, for the access log (\\fB\\-\\-user\\fR)\n"
	      ".TP\n.B XDG_DATA_HOME\nthe default store is \\fI$XDG_DATA_HOME/veld\\fR, "
	      "else \\fI~/.local/share/veld\\fR\n"
	      ".SH SEE ALSO\n"
	      "The documents under \\fIdocs/\\fR of the veld sources: cli.md (this manual "
	      "with examples), sync.md, operations.md, protocol.md, security.md.\n", f);
}

/* ---- bash completion ------------------------------------------------------- */

/* Options whose value is a file or directory name. */
static bool takes_path(const char *name, size_t n)
{
	static const char *const paths[] = {"store", "data", "out", "ca-file", "ca",
		"tls-cert", "tls-key", NULL};
	for (size_t i = 0; paths[i] != NULL; i++)
		if (strlen(paths[i]) == n && memcmp(paths[i], name, n) == 0)
			return true;
	return false;
}

/* Each option name of the table's opts strings (or, for a command that
 * reads its own argv, of its synopsis) as "--name", each after `sep`:
 * `want` 'v' those taking a value, 'p' those taking a path, 'a' all. */
static void print_opts(FILE *f, const char *opts, bool raw, char want, const char *sep)
{
	const char *p = opts != NULL ? opts : "";
	while (*p != '\0') {
		p += raw ? strcspn(p, "-") : strspn(p, " ");
		if (raw && strncmp(p, "--", 2) != 0) {
			p += *p != '\0';
			continue;
		}
		if (raw)
			p += 2;
		size_t n = strcspn(p, raw ? " ]|" : "= ");
		bool valued = !raw && p[n] == '=';
		if (n > 0 && (want == 'a' || (want == 'v' && valued) ||
				     (want == 'p' && valued && takes_path(p, n))))
			fprintf(f, "%s--%.*s", sep, (int)n, p);
		p += n;
		p += strcspn(p, " ");
	}
}

/* The global options, from the global help's option lines, likewise. */
static void print_global_opts(FILE *f, char want, const char *sep)
{
	const char *p = cli_global_help;
	while ((p = strstr(p, "\n  --")) != NULL) {
		p += 5;
		size_t n = strcspn(p, " \n");
		bool valued = p[n] == ' ' && p[n + 1] != ' ';
		if (want == 'a' || (want == 'v' && valued) ||
			(want == 'p' && valued && takes_path(p, n)))
			fprintf(f, "%s--%.*s", sep, (int)n, p);
	}
}

/* A bash case pattern of the options of every command ("--a|--b)"), each
 * once. */
static void print_case_pattern(FILE *f, char want)
{
	char *all = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&all, &len);
	if (m != NULL) {
		for (size_t i = 0; i < cli_commands_count; i++)
			print_opts(m, cli_commands[i].opts, false, want, "|");
		print_global_opts(m, want, "|");
		fclose(m);
	}
	fputs("        --@", f); /* matches nothing: the list is never empty */
	for (const char *p = all; p != NULL && *p == '|'; p += strcspn(p + 1, "|") + 1) {
		size_t n = strcspn(p + 1, "|") + 1; /* "|--name" */
		bool again = false;
		for (const char *q = all; q < p; q += strcspn(q + 1, "|") + 1)
			if (strncmp(q, p, n) == 0 && (q[n] == '|' || q[n] == '\0'))
				again = true;
		if (!again)
			fwrite(p, 1, n, f);
	}
	fputs(")", f);
	free(all);
}

/* The first word of every command, once each. */
static void print_nouns(FILE *f)
{
	for (size_t i = 0; i < cli_commands_count; i++)
		if (cli_find_cmd(cli_commands[i].noun, NULL) == &cli_commands[i])
			fprintf(f, " %s", cli_commands[i].noun);
}

void cli_print_bash_completion(FILE *f)
{
	fputs("# bash completion for veld, made by `veld help --bash-completion` from the\n"
	      "# command table: the commands, their options, and file names where an\n"
	      "# option takes a file.\n"
	      "_veld()\n{\n"
	      "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
	      "    COMPREPLY=()\n"
	      "    case $prev in\n", f);
	print_case_pattern(f, 'p');
	fputs("\n            COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n", f);
	print_case_pattern(f, 'v');
	fputs("\n            return ;;\n    esac\n"
	      "    # the command so far: its noun and verb, past options and their values\n"
	      "    local i w noun= verb=\n"
	      "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
	      "        w=${COMP_WORDS[i]}\n"
	      "        case $w in\n", f);
	print_case_pattern(f, 'v');
	fputs(" ((i++)) ;;\n"
	      "        -*) ;;\n"
	      "        *) if [[ -z $noun ]]; then noun=$w; elif [[ -z $verb ]]; then verb=$w; fi ;;\n"
	      "        esac\n"
	      "    done\n"
	      "    # words: what may come next; opts: the options of the command\n"
	      "    local words= opts=\n"
	      "    case \"$noun|$verb\" in\n"
	      "        \"|\") words=\"", f);
	print_nouns(f);
	fputs(" help\" opts=\"--version\" ;;\n        \"help|\"*) words=\"", f);
	print_nouns(f);
	fputs("\" ;;\n", f);
	for (size_t i = 0; i < cli_commands_count; i++) {
		const cli_cmd *cmd = &cli_commands[i];
		if (cmd->verb != NULL && cli_find_cmd(cmd->noun, NULL) == cmd) {
			fprintf(f, "        \"%s|\") words=\"", cmd->noun);
			for (size_t j = i; j < cli_commands_count; j++)
				if (strcmp(cli_commands[j].noun, cmd->noun) == 0)
					fprintf(f, " %s", cli_commands[j].verb);
			fputs("\" ;;\n", f);
		}
		/* a single-word command: what follows it are its arguments */
		fprintf(f, "        \"%s|%s\"%s) opts=\"", cmd->noun, cmd->verb ? cmd->verb : "",
			cmd->verb ? "" : "*");
		print_opts(f, cmd->raw ? cmd->synopsis : cmd->opts, cmd->raw, 'a', " ");
		fputs("\" ;;\n", f);
	}
	fputs("    esac\n"
	      "    if [[ $cur == -* ]]; then\n"
	      "        COMPREPLY=($(compgen -W \"$opts", f);
	print_global_opts(f, 'a', " ");
	fputs("\" -- \"$cur\"))\n"
	      "    else\n"
	      "        COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
	      "    fi\n"
	      "}\n"
	      "complete -F _veld veld\n", f);
}
