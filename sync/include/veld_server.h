/*
 * veld_server.h - the public API of the veld sync server.
 *
 * The server receives signed batches of operations from enrolled devices,
 * merges them with the same merge code the devices run (core/src/merge.c)
 * and hands every device the operations and key envelopes of its team. It
 * stores ciphertext and the metadata merging needs; it never holds a key
 * that opens a value. The wire protocol is docs/protocol.md.
 *
 * Conventions are those of veld.h: functions return VELD_OK (0) or a
 * negative VELD_E* code with a message in veld_error_last(); the handle is
 * opaque, made by veld_server_start and released by veld_server_stop,
 * which accepts NULL.
 *
 * Thread use: veld_server_start and veld_server_stop must not run at the
 * same time on one handle; the getters may be called from any thread while
 * the server runs. Requests are served on the server's own threads.
 */
#ifndef VELD_SERVER_H
#define VELD_SERVER_H

#include "veld.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct veld_server veld_server;

/* Called once per finished request with one line of access log (no
 * newline): method, path without its query, status, duration and the first
 * 8 hex digits of the device id. A 500 (the server failed, most often its
 * store: a full disk, an I/O error) adds its cause as a last field, a fixed
 * text such as "store: disk full (SQLITE_FULL)" or "store: I/O error
 * (SQLITE_IOERR_WRITE)"; it names the class of failure only, never what the
 * request or the store held. The line never holds a body, a value, a query
 * or an enrollment code. Runs on one of the server's threads, possibly on
 * several at once: the callback must be thread-safe and quick. The line is
 * valid only during the call. */
typedef void (*veld_server_log_cb)(const char *line, void *payload);

/* Options for veld_server_start. Initialise with VELD_SERVER_OPTIONS_INIT
 * or veld_server_options_init(); fields are only ever added at the end. */
typedef struct veld_server_options {
	uint32_t version;          /* VELD_SERVER_OPTIONS_VERSION */
	const char *listen;        /* "127.0.0.1:PORT"; port 0 picks a free port.
	                              NULL = "127.0.0.1:0" */
	const char *data_dir;      /* the server's directory (created, mode 0700) */
	uint32_t threads;          /* worker threads; 0 = 4 */
	uint64_t max_body;         /* largest request body in bytes; 0 = 4 MiB */
	uint32_t max_requests;     /* requests in flight before 503 busy; 0 = 64 */
	uint32_t timeout_s;        /* idle connection timeout; 0 = 30 s */
	veld_server_log_cb log;    /* access log; NULL = none */
	void *log_payload;         /* passed to `log` */
	/* Version 2: clocks, and slow and greedy clients. timeout_s is an
	 * idle timeout, which every byte that arrives starts again; the last
	 * four bound what one address, and one slow request, can hold. A
	 * caller of version 1 gets the defaults. */
	uint32_t max_skew_s;       /* how far ahead of the server's clock a pushed
	                              operation may be stamped (409 clock
	                              beyond); 0 = 600 s */
	uint32_t max_per_address;  /* connections open at once from one IP
	                              address; more are closed as they arrive
	                              (a device retries). Behind a reverse
	                              proxy every connection comes from the
	                              proxy: raise it there. 0 = 32 */
	uint32_t header_timeout_s; /* a request's headers must all arrive within
	                              this long of the connection opening (or of
	                              the previous answer on a kept-alive
	                              connection), else it is closed; 0 = 20 s */
	uint32_t body_timeout_s;   /* a request's body must arrive within this
	                              long of its headers, plus one second for
	                              every body_min_rate bytes received so far,
	                              else the connection is closed; 0 = 20 s */
	uint32_t body_min_rate;    /* bytes per second, see body_timeout_s;
	                              0 = 500 */
	/* Version 3: TLS (docs/operations.md, "TLS"). With a certificate and
	 * its key the server speaks only HTTPS (TLS 1.2 and 1.3, through
	 * libmicrohttpd and GnuTLS); without, only plain HTTP, which it serves
	 * on a loopback address (127.0.0.0/8, ::1) only, unless insecure_http
	 * says otherwise (a TLS proxy on another machine, a test network). A
	 * caller of version 1 or 2 gets no TLS and the loopback rule, with no
	 * way around it. The server copies both texts; a new certificate needs
	 * a restart. */
	const char *tls_cert_pem;  /* the server's certificate, then any
	                              intermediate CA certificates (PEM text);
	                              NULL = plain HTTP */
	const char *tls_key_pem;   /* the certificate's private key (PEM text,
	                              unencrypted); required with tls_cert_pem */
	uint32_t insecure_http;    /* non-zero: serve plain HTTP on an address
	                              that is not loopback */
	/* Version 4: where the server's state lives. NULL: SQLite in
	 * data_dir (server.db, nonces.db), one process per directory. A
	 * PostgreSQL database ("postgresql://..." or "postgres://...", or a
	 * libpq key=value string with dbname=): several servers, each with a
	 * data_dir of its own (the lock and the setup code), may share it
	 * (docs/operations.md, "PostgreSQL"). */
	const char *database;
} veld_server_options;

#define VELD_SERVER_OPTIONS_VERSION 4
#define VELD_SERVER_OPTIONS_INIT {VELD_SERVER_OPTIONS_VERSION, NULL, NULL, 0, 0, 0, 0, NULL, NULL, \
	0, 0, 0, 0, 0, NULL, NULL, 0, NULL}
VELD_EXTERN void veld_server_options_init(veld_server_options *opts);

/* Open (or create) the data directory and its database, and start serving.
 * On a first start (no office enrolled and no valid office setup code) a
 * single-use office setup code is made: written to DATA/setup-code (mode
 * 0600) and returned by veld_server_setup_code. One data directory serves
 * one server process at a time (VELD_EBUSY otherwise). VELD_EINVAL for bad
 * options (among them plain HTTP on an address that is not loopback without
 * insecure_http, and a key without a certificate or the reverse), VELD_EIO
 * when the address cannot be bound, the directory not written, or the
 * certificate and key not loaded (not PEM, not a pair; the message says
 * what libmicrohttpd and GnuTLS said), VELD_ERROR when TLS is asked of a
 * libmicrohttpd built without it. */
VELD_EXTERN VELD_WARN_UNUSED int veld_server_start(veld_server **out,
	const veld_server_options *opts);

/* The TCP port the server listens on (the one picked for port 0). */
VELD_EXTERN uint16_t veld_server_port(const veld_server *srv);

/* The office setup code ("XXXX-XXXX-..."), if this start created it; else
 * NULL. Show it once to the operator. Valid until veld_server_stop. */
VELD_EXTERN const char *veld_server_setup_code(const veld_server *srv);

/* Stop accepting connections, let the requests in flight finish (at most a
 * few seconds), close the database cleanly and free the handle. NULL is a
 * no-op. */
VELD_EXTERN void veld_server_stop(veld_server *srv);

#ifdef __cplusplus
}
#endif
#endif /* VELD_SERVER_H */
