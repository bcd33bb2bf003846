/*
 * command.c - `veld office console`: open the office store, serve the
 * console until SIGTERM or SIGINT, and print its one-time link.
 *
 * As `veld serve` does, the signals are blocked before libmicrohttpd's
 * thread starts (so it inherits the mask) and this thread waits for them
 * with sigwait. The store stays open for the console's life; closing it
 * wipes its keys.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "console.h"

int cmd_office_console(cli *c, const cli_line *l)
{
	veld_sync_options so;
	console_options o = {.listen = cli_opt(l, "listen") ? cli_opt(l, "listen")
	                                                     : "127.0.0.1:8421"};
	const char *cert_file = cli_opt(l, "tls-cert"), *key_file = cli_opt(l, "tls-key");
	char *cert = NULL, *key = NULL, *link = NULL;
	console *k = NULL;
	sigset_t set;
	int sig, ex;

	if ((cert_file == NULL) != (key_file == NULL))
		return cli_usage(c, "--tls-cert and --tls-key go together");
	if (cert_file != NULL && ((ex = cli_read_pem("certificate", cert_file, false, &cert)) != 0 ||
	                          (ex = cli_read_pem("key", key_file, true, &key)) != 0)) {
		sodium_free(cert);
		return ex;
	}
	cli_net_options(l, &so);
	o.tls_cert_pem = cert;
	o.tls_key_pem = key;
	o.c = c;
	o.so = &so;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	/* A listen address it may not serve on is refused before the
	 * passphrase is asked for. */
	if ((ex = console_check_listen(o.listen, cert != NULL)) == 0 &&
	    (ex = cli_open_store(c)) == 0 && pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		ex = cli_fail(CLI_EXIT_FAIL, "cannot block signals");
	if (ex == 0)
		ex = console_start(&k, &o, &link);
	if (ex == 0) {
		printf("veld office console: open %s (a one-time link; it works once, in one "
		       "browser)\n", link);
		fflush(stdout);
		sodium_memzero(link, strlen(link));
		free(link);
		while (sigwait(&set, &sig) != 0)
			;
		console_stop(k);
	}
	sodium_free(cert);
	sodium_free(key);
	return ex;
}
