/*
 * serve.c - `veld serve`: run the sync server until SIGTERM or SIGINT.
 *
 * The signals are blocked before the server starts (so its threads inherit
 * the mask and never take them) and this thread waits for them with
 * sigwait: no work happens in a signal handler.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "veld_server.h"

/* Access log lines go to stderr, one per request. */
static void log_stderr(const char *line, void *payload)
{
	(void)payload;
	fprintf(stderr, "%s\n", line);
}

int cmd_serve(cli *c, const cli_line *l)
{
	veld_server_options so;
	veld_server *srv = NULL;
	const char *listen = cli_opt(l, "listen") ? cli_opt(l, "listen") : "127.0.0.1:8420",
		*data = cli_opt(l, "data");
	sigset_t set;
	int sig, rc;

	if (data == NULL || *data == '\0')
		return cli_usage(c, "--data DIR is required");

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return cli_fail(CLI_EXIT_FAIL, "cannot block signals");

	veld_server_options_init(&so);
	so.listen = listen;
	so.data_dir = data;
	so.threads = (uint32_t)cli_num(l, "threads");
	so.max_per_address = (uint32_t)cli_num(l, "max-per-address");
	so.header_timeout_s = (uint32_t)cli_num(l, "header-timeout");
	so.body_timeout_s = (uint32_t)cli_num(l, "body-timeout");
	so.body_min_rate = (uint32_t)cli_num(l, "body-min-rate");
	so.max_skew_s = (uint32_t)cli_num(l, "max-skew");
	so.log = log_stderr;
	rc = veld_server_start(&srv, &so);
	if (rc != VELD_OK)
		return cli_api_error(rc);

	/* The listen address as bound (port 0 resolved). */
	char host[64];
	size_t hl = strcspn(listen, listen[0] == '[' ? "]" : ":");
	if (listen[0] == '[')
		hl++;
	snprintf(host, sizeof host, "%.*s", (int)(hl < sizeof host ? hl : sizeof host - 1), listen);
	printf("veld server listening on http://%s:%u (data %s)\n", host,
	       (unsigned)veld_server_port(srv), data);
	if (veld_server_setup_code(srv) != NULL)
		printf("office setup code: %s\n", veld_server_setup_code(srv));
	fflush(stdout);

	do {
		rc = sigwait(&set, &sig);
	} while (rc != 0);
	veld_server_stop(srv);
	return CLI_EXIT_OK;
}
