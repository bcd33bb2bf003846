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

enum { O_LISTEN = 0x300, O_DATA, O_THREADS };

/* Access log lines go to stderr, one per request. */
static void log_stderr(const char *line, void *payload)
{
	(void)payload;
	fprintf(stderr, "%s\n", line);
}

int cmd_serve(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"listen", required_argument, NULL, O_LISTEN},
		{"data", required_argument, NULL, O_DATA},
		{"threads", required_argument, NULL, O_THREADS},
		{NULL, 0, NULL, 0}
	};
	veld_server_options so;
	veld_server *srv = NULL;
	const char *listen = "127.0.0.1:8420", *data = NULL;
	long long threads = 0;
	sigset_t set;
	cli_opts it;
	int o, sig, rc;

	cli_opts_begin(&it, c, argc, argv, opts);
	while ((o = cli_opts_next(&it)) != -1) {
		switch (o) {
		case CLI_OPT_HELP:
			return CLI_EXIT_OK;
		case CLI_OPT_ERROR:
			return CLI_EXIT_USAGE;
		case O_LISTEN:
			listen = it.optarg;
			break;
		case O_DATA:
			data = it.optarg;
			break;
		case O_THREADS:
			if (!cli_parse_int(it.optarg, 1, 256, &threads))
				return cli_usage(c, "--threads needs a number from 1 to 256");
			break;
		default:
			return cli_usage(c, "serve takes no arguments");
		}
	}
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
	so.threads = (uint32_t)threads;
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
