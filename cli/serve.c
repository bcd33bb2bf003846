/*
 * serve.c - `veld serve`: run the sync server until SIGTERM or SIGINT.
 *
 * The signals are blocked before the server starts (so its threads inherit
 * the mask and never take them) and this thread waits for them with
 * sigwait: no work happens in a signal handler.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "veld_server.h"

/* Access log lines go to stderr, one per request. */
static void log_stderr(const char *line, void *payload)
{
	(void)payload;
	fprintf(stderr, "%s\n", line);
}

#define PEM_FILE_MAX (1024 * 1024)

int cli_read_pem(const char *what, const char *path, bool secret, char **out)
{
	struct stat st;
	ssize_t got;
	size_t n = 0;
	int fd;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return cli_fail(CLI_EXIT_FAIL, "cannot open the TLS %s %s: %s", what, path,
		                strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > PEM_FILE_MAX) {
		close(fd);
		return cli_fail(CLI_EXIT_USAGE, "the TLS %s %s is not a file of at most 1 MiB", what,
		                path);
	}
	if (secret && (st.st_mode & 077) != 0) {
		close(fd);
		return cli_fail(CLI_EXIT_USAGE, "the TLS key %s is readable by others (mode %03o): "
		                "make it readable by its owner alone (chmod 600 %s)", path,
		                (unsigned)(st.st_mode & 0777), path);
	}
	if ((*out = sodium_malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		return cli_fail(CLI_EXIT_FAIL, "out of memory");
	}
	while (n < (size_t)st.st_size &&
	       ((got = read(fd, *out + n, (size_t)st.st_size - n)) > 0 || (got < 0 && errno == EINTR)))
		n += got > 0 ? (size_t)got : 0;
	close(fd);
	(*out)[n] = '\0';
	if (n != (size_t)st.st_size) {
		sodium_free(*out);
		*out = NULL;
		return cli_fail(CLI_EXIT_FAIL, "cannot read the TLS %s %s", what, path);
	}
	return 0;
}

int cmd_serve(cli *c, const cli_line *l)
{
	veld_server_options so;
	veld_server *srv = NULL;
	const char *listen = cli_opt(l, "listen") ? cli_opt(l, "listen") : "127.0.0.1:8420",
		*data = cli_opt(l, "data"), *cert_file = cli_opt(l, "tls-cert"),
		*key_file = cli_opt(l, "tls-key");
	char *cert = NULL, *key = NULL;
	sigset_t set;
	int sig, rc, ex;

	if (data == NULL || *data == '\0')
		return cli_usage(c, "--data DIR is required");
	if (cli_opt(l, "db") != NULL && *cli_opt(l, "db") == '\0')
		return cli_usage(c, "--db is empty: give the PostgreSQL database's URL, or leave "
		                 "--db out for SQLite in --data");
	if ((cert_file == NULL) != (key_file == NULL))
		return cli_usage(c, "--tls-cert and --tls-key go together");
	if (cert_file != NULL && cli_flag(l, "insecure-http"))
		return cli_usage(c, "--insecure-http is for plain HTTP; with --tls-cert the server "
		                 "speaks only HTTPS");
	if (cert_file != NULL && ((ex = cli_read_pem("certificate", cert_file, false, &cert)) != 0 ||
	                          (ex = cli_read_pem("key", key_file, true, &key)) != 0)) {
		sodium_free(cert);
		return ex;
	}

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) {
		sodium_free(cert);
		sodium_free(key);
		return cli_fail(CLI_EXIT_FAIL, "cannot block signals");
	}

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
	so.tls_cert_pem = cert;
	so.tls_key_pem = key;
	so.insecure_http = cli_flag(l, "insecure-http");
	so.database = cli_opt(l, "db");
	rc = veld_server_start(&srv, &so);
	/* The server keeps its own copies. */
	sodium_free(cert);
	sodium_free(key);
	if (rc != VELD_OK)
		return cli_api_error(rc);

	/* The listen address as bound (port 0 resolved). */
	char host[64];
	size_t hl = strcspn(listen, listen[0] == '[' ? "]" : ":");
	if (listen[0] == '[')
		hl++;
	snprintf(host, sizeof host, "%.*s", (int)(hl < sizeof host ? hl : sizeof host - 1), listen);
	/* (Never the --db text: a key=value string may hold a password.) */
	printf("veld server listening on %s://%s:%u (data %s, %s)\n", cert_file ? "https" : "http",
	       host, (unsigned)veld_server_port(srv), data, so.database ? "PostgreSQL" : "SQLite");
	if (veld_server_setup_code(srv) != NULL)
		printf("office setup code: %s\n", veld_server_setup_code(srv));
	fflush(stdout);

	do {
		rc = sigwait(&set, &sig);
	} while (rc != 0);
	veld_server_stop(srv);
	return CLI_EXIT_OK;
}
