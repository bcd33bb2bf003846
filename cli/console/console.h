/*
 * console.h - `veld office console`: the office's web console (private).
 *
 * Three parts, one file each:
 *  - http.c: the server and its rules. It listens (loopback, or anywhere
 *    with TLS), exchanges the one-time token for a session cookie, refuses
 *    every request without that session, checks the CSRF token of every
 *    POST, bounds and parses bodies, serves the built-in assets, and puts
 *    the security headers on every answer (docs/console.md).
 *  - api.c: the JSON endpoints, a table of request specs. Each calls the
 *    store API as the CLI does, with the office's user, role and purpose,
 *    so every read and change is in the access log exactly as through the
 *    CLI.
 *  - qr.c: an invite as a QR code, in SVG (libqrencode).
 * command.c runs it all as a command.
 *
 * Thread use: libmicrohttpd calls every handler on its one polling thread,
 * so the session and the store are used from one thread at a time.
 */
#ifndef VELD_CONSOLE_H
#define VELD_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../cli.h"
#include "veld_sync.h"

/* Largest request body accepted: the biggest is a resolved value. */
#define CONSOLE_BODY_MAX (64u * 1024u)

typedef struct console console;

/* What an endpoint gets: the store, the command's global options, the
 * sync options for the calls that reach the server, and the request. */
typedef struct console_call {
	cli *c;
	const veld_sync_options *so;
	/* A query argument of a GET (NULL if absent); borrowed. */
	const char *(*arg)(const struct console_call *call, const char *name);
	void *conn;        /* the libmicrohttpd connection, for arg */
	const json_t *body; /* a POST's body: a JSON object; NULL for a GET */
} console_call;

/* An endpoint answers an HTTP status and, in *out, a JSON value (a new
 * reference) or NULL. An error answer's JSON is {"error": message}; a
 * message never carries a record value (console_error). */
typedef unsigned (*console_handler)(const console_call *call, json_t **out);

typedef struct console_route {
	const char *method; /* "GET" reads, "POST" changes */
	const char *path;
	console_handler run;
} console_route;

extern const console_route console_routes[];
extern const size_t console_routes_count;

/* {"error": message} and the status, for `return console_error(out, ...)`. */
unsigned console_error(json_t **out, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* An invite code as an SVG QR code (malloc'd), or NULL. */
char *console_qr_svg(const char *text);

/* The built-in assets (assets.c, generated): path, media type, content. */
typedef struct console_asset {
	const char *path, *type, *data;
} console_asset;
extern const console_asset console_assets[];
extern const size_t console_assets_count;

/* The server's settings. */
typedef struct console_options {
	const char *listen;  /* "A.B.C.D:PORT" or "[v6]:PORT" */
	const char *tls_cert_pem, *tls_key_pem; /* both or neither; borrowed */
	cli *c;              /* the open office store */
	const veld_sync_options *so;
} console_options;

/* Is `listen` an address the console may serve on (loopback, or any
 * with TLS)? 0 or an exit code (printed). console_start checks it again. */
int console_check_listen(const char *listen, bool tls);
/* Start serving (on a thread of libmicrohttpd's). Refuses a listen
 * address that is not loopback without TLS. On success *link (malloc'd)
 * is the one-time link to print. Returns an exit code (printed). */
int console_start(console **out, const console_options *o, char **link);
void console_stop(console *k);

#endif /* VELD_CONSOLE_H */
