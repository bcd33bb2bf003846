/*
 * passphrase.c - getting the passphrase into a guarded buffer.
 *
 * Sources, in order: a file descriptor (--passphrase-fd), an environment
 * variable, a no-echo prompt on /dev/tty. Nothing here ever prints the
 * passphrase; the buffer is sodium_malloc'd (guard pages, no swap where the
 * platform allows) and wiped by cli_pass_free().
 *
 * While echo is off, a signal that ends the process must not leave the
 * terminal silent, so SIGINT and friends restore it before they proceed.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"

static volatile sig_atomic_t tty_saved_valid;
static int tty_saved_fd = -1;
static struct termios tty_saved;

static const int caught_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define N_CAUGHT (sizeof caught_signals / sizeof caught_signals[0])
static struct sigaction old_actions[N_CAUGHT];

static void restore_tty_on_signal(int sig)
{
	if (tty_saved_valid)
		tcsetattr(tty_saved_fd, TCSAFLUSH, &tty_saved);
	/* Re-raise with the default action so the exit status says "killed
	 * by SIGINT", as a shell expects. */
	signal(sig, SIG_DFL);
	raise(sig);
}

static void catch_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = restore_tty_on_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < N_CAUGHT; i++)
		sigaction(caught_signals[i], &sa, &old_actions[i]);
}

static void release_signals(void)
{
	for (size_t i = 0; i < N_CAUGHT; i++)
		sigaction(caught_signals[i], &old_actions[i], NULL);
}

/* Read one line from fd into buf (at most CLI_PASS_MAX bytes) without the
 * newline. One byte at a time, so that nothing after the newline is
 * consumed: two passphrases may share one descriptor, one a line.
 * Returns 0, 1 if the line is too long, -1 on a read error (errno set),
 * -2 if the descriptor was at end of file before any byte. */
static int read_line(int fd, char *buf, size_t *len_out)
{
	size_t len = 0;
	bool any = false, too_long = false;
	for (;;) {
		char ch;
		ssize_t n = read(fd, &ch, 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			sodium_memzero(&ch, sizeof ch);
			return -1;
		}
		if (n == 0)
			break;
		any = true;
		if (ch == '\n')
			break;
		if (len < CLI_PASS_MAX)
			buf[len++] = ch;
		else
			too_long = true;
		sodium_memzero(&ch, sizeof ch);
	}
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	*len_out = len;
	if (!any)
		return -2;
	return too_long ? 1 : 0;
}

/* Prompt on the terminal with echo off. Returns an exit code. */
static int prompt_tty(int tty, const char *prompt, char *buf, size_t *len)
{
	struct termios t;
	if (tcgetattr(tty, &t) != 0)
		return -1;
	tty_saved = t;
	tty_saved_fd = tty;
	tty_saved_valid = 1;
	catch_signals();
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK);
	t.c_lflag |= ICANON;
	if (write(tty, prompt, strlen(prompt)) < 0 || tcsetattr(tty, TCSAFLUSH, &t) != 0) {
		tty_saved_valid = 0;
		release_signals();
		return cli_fail(CLI_EXIT_FAIL, "cannot use the terminal: %s", strerror(errno));
	}
	int r = read_line(tty, buf, len);
	int saved_errno = errno;
	tcsetattr(tty, TCSAFLUSH, &tty_saved);
	tty_saved_valid = 0;
	release_signals();
	if (write(tty, "\n", 1) < 0) {
		/* nothing sensible to do; the passphrase was read */
	}
	if (r == -1)
		return cli_fail(CLI_EXIT_FAIL, "cannot read the passphrase: %s", strerror(saved_errno));
	if (r == -2)
		return cli_fail(CLI_EXIT_FAIL, "no passphrase given (end of input)");
	if (r == 1)
		return cli_fail(CLI_EXIT_USAGE, "passphrase too long (at most %d bytes)", CLI_PASS_MAX);
	return 0;
}

static int read_from_tty(cli_pass *p, const char *prompt, bool confirm)
{
	int tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	struct termios probe;
	if (tty < 0 || tcgetattr(tty, &probe) != 0) {
		if (tty >= 0)
			close(tty);
		return cli_fail(CLI_EXIT_USAGE,
			"no passphrase: there is no terminal to ask on; give it with "
			"--passphrase-fd N or the environment variable VELD_PASSPHRASE");
	}
	int ex = prompt_tty(tty, prompt, p->buf, &p->len);
	if (ex == 0 && confirm) {
		char *again = sodium_malloc(CLI_PASS_MAX + 1);
		size_t again_len = 0;
		if (again == NULL) {
			ex = cli_fail(CLI_EXIT_FAIL, "out of memory");
		} else {
			ex = prompt_tty(tty, "Repeat the passphrase: ", again, &again_len);
			if (ex == 0 && (again_len != p->len ||
					sodium_memcmp(again, p->buf, p->len) != 0))
				ex = cli_fail(CLI_EXIT_USAGE, "the passphrases do not match");
			sodium_memzero(again, CLI_PASS_MAX + 1);
			sodium_free(again);
		}
	}
	close(tty);
	return ex;
}

int cli_pass_read(cli_pass *p, int fd, const char *env, const char *prompt,
	bool confirm, size_t min_len)
{
	p->len = 0;
	p->buf = sodium_malloc(CLI_PASS_MAX + 1);
	if (p->buf == NULL)
		return cli_fail(CLI_EXIT_FAIL, "out of memory");
	p->buf[0] = '\0';

	int ex = 0;
	const char *value;
	if (fd >= 0) {
		int r = read_line(fd, p->buf, &p->len);
		if (r == -1)
			ex = cli_fail(CLI_EXIT_FAIL, "cannot read the passphrase from descriptor %d: %s",
				fd, strerror(errno));
		else if (r == -2)
			ex = cli_fail(CLI_EXIT_FAIL, "no passphrase on descriptor %d (end of input)", fd);
		else if (r == 1)
			ex = cli_fail(CLI_EXIT_USAGE, "passphrase too long (at most %d bytes)", CLI_PASS_MAX);
	} else if (env != NULL && (value = getenv(env)) != NULL) {
		size_t n = strlen(value);
		if (n > CLI_PASS_MAX) {
			ex = cli_fail(CLI_EXIT_USAGE, "passphrase in %s too long (at most %d bytes)",
				env, CLI_PASS_MAX);
		} else {
			memcpy(p->buf, value, n);
			p->buf[n] = '\0';
			p->len = n;
		}
	} else {
		ex = read_from_tty(p, prompt, confirm);
	}
	if (ex == 0 && min_len > 0 && p->len < min_len)
		ex = cli_fail(CLI_EXIT_USAGE, "passphrase too short: use at least %zu bytes", min_len);
	if (ex != 0)
		cli_pass_free(p);
	return ex;
}

void cli_pass_free(cli_pass *p)
{
	if (p->buf != NULL) {
		sodium_memzero(p->buf, CLI_PASS_MAX + 1);
		sodium_free(p->buf);
	}
	p->buf = NULL;
	p->len = 0;
}
